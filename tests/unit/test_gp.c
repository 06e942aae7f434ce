/* Unit tests for the "gp" planner and its parts: kernel and likelihood
 * gradients against finite differences, Cholesky with jitter, acquisition
 * values on known posteriors, constraints and categorical dims, determinism
 * and resume, batches with pending points, failure-awareness, Pareto front
 * and hypervolume, and a fixed-seed quality bound on branin.
 * Not for: timing (labloop bench planner --timing reports it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/acquisition.h"
#include "planners/gp_model.h"
#include "planners/pareto.h"
#include "planners/planner.h"
#include "planners/rng.h"
#include "planners/testfuncs.h"
#include "common/banned.h"

#define CHECK_SEED(cond, seed)                                                   \
    do {                                                                         \
        if (!(cond)) {                                                           \
            print_message("%s:%d: check '%s' failed (seed %llu)\n", __FILE__,    \
                          __LINE__, #cond, (unsigned long long)(seed));         \
            fail();                                                              \
        }                                                                        \
    } while (0)

static void s_close(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol * (1.0 + fabs(a) + fabs(b)))) {
        print_message("%s: %.12g vs %.12g\n", what, a, b);
        fail();
    }
}

static void test_kernel_grad(void **state)
{
    (void)state;
    unsigned char cat[3] = {0, 0, 1};
    lab_gp gp;
    assert_int_equal(lab_gp_init(&gp, 3, cat, NULL), 0);
    double th[5] = {log(0.3), log(0.7), log(0.5), log(1.7), log(1e-3)};
    double a[3] = {0.2, 0.9, 1}, b[3] = {0.5, 0.4, 2}, dt[5], da[3];
    lab_gp_kernel_grad(&gp, th, a, b, dt, da);
    const double h = 1e-6;
    for (int i = 0; i < 5; i++) {
        double tp[5], tm[5];
        memcpy(tp, th, sizeof tp);
        memcpy(tm, th, sizeof tm);
        tp[i] += h, tm[i] -= h;
        double fd = (lab_gp_kernel(&gp, tp, a, b) - lab_gp_kernel(&gp, tm, a, b)) / (2 * h);
        s_close(dt[i], fd, 1e-6, "dk/dtheta");
    }
    for (int i = 0; i < 2; i++) {
        double ap[3], am[3];
        memcpy(ap, a, sizeof ap);
        memcpy(am, a, sizeof am);
        ap[i] += h, am[i] -= h;
        double fd = (lab_gp_kernel(&gp, th, ap, b) - lab_gp_kernel(&gp, th, am, b)) / (2 * h);
        s_close(da[i], fd, 1e-6, "dk/da");
    }
    assert_true(da[2] == 0.0);
    /* k(a, a) = signal variance */
    s_close(lab_gp_kernel(&gp, th, a, a), 1.7, 1e-12, "k(a,a)");
    lab_gp_release(&gp);
}

/* The likelihood's gradient against finite differences on data large enough
 * that K^-1 is formed block by block (above 32 rows, uneven halves), with
 * real dimensions only (the gradient loop's fast path); and with no data or
 * one row, where only the priors (and one point) remain. */
static void test_nll_grad_large(void **state)
{
    (void)state;
    static const size_t ns[] = {0, 1, 33, 90, 131};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        size_t n = ns[t];
        unsigned char cat[4] = {0};
        lab_gp gp;
        assert_int_equal(lab_gp_init(&gp, 4, cat, NULL), 0);
        lab_rng r;
        lab_rng_seed(&r, 23, n);
        double z[131 * 4], y[131];
        for (size_t i = 0; i < n; i++) {
            for (int j = 0; j < 4; j++)
                z[i * 4 + j] = lab_rng_uniform(&r);
            y[i] = sin(5 * z[i * 4]) + cos(3 * z[i * 4 + 1]) * z[i * 4 + 2] + z[i * 4 + 3];
        }
        assert_int_equal(lab_gp_set_data(&gp, n, z, y, NULL), 0);
        double th[6] = {log(0.5), log(0.7), log(0.9), log(1.4), log(1.1), log(1e-3)}, g[6];
        double f = lab_gp_nll(&gp, th, g);
        assert_true(isfinite(f));
        const double h = 1e-5;
        for (int i = 0; i < 6; i++) {
            double tp[6], tm[6];
            memcpy(tp, th, sizeof tp);
            memcpy(tm, th, sizeof tm);
            tp[i] += h, tm[i] -= h;
            double fd = (lab_gp_nll(&gp, tp, NULL) - lab_gp_nll(&gp, tm, NULL)) / (2 * h);
            if (!(fabs(g[i] - fd) <= 1e-5 * (1.0 + fabs(g[i]) + fabs(fd))))
                print_message("n = %zu, theta %d:\n", n, i);
            s_close(g[i], fd, 1e-5, "dnll/dtheta");
        }
        lab_gp_release(&gp);
    }
}

static void test_nll_grad(void **state)
{
    (void)state;
    unsigned char cat[3] = {0, 0, 1};
    lab_gp gp;
    assert_int_equal(lab_gp_init(&gp, 3, cat, NULL), 0);
    lab_rng r;
    lab_rng_seed(&r, 11, 0);
    double z[20 * 3], y[20];
    for (int i = 0; i < 20; i++) {
        z[i * 3] = lab_rng_uniform(&r);
        z[i * 3 + 1] = lab_rng_uniform(&r);
        z[i * 3 + 2] = (double)(i % 3);
        y[i] = sin(6 * z[i * 3]) + z[i * 3 + 1] * z[i * 3 + 1] + 0.3 * z[i * 3 + 2];
    }
    assert_int_equal(lab_gp_set_data(&gp, 20, z, y, NULL), 0);
    double th[5] = {log(0.4), log(0.8), log(1.2), log(0.9), log(1e-2)}, g[5];
    double f = lab_gp_nll(&gp, th, g);
    assert_true(isfinite(f));
    const double h = 1e-5;
    for (int i = 0; i < 5; i++) {
        double tp[5], tm[5];
        memcpy(tp, th, sizeof tp);
        memcpy(tm, th, sizeof tm);
        tp[i] += h, tm[i] -= h;
        double fd = (lab_gp_nll(&gp, tp, NULL) - lab_gp_nll(&gp, tm, NULL)) / (2 * h);
        s_close(g[i], fd, 1e-5, "dnll/dtheta");
    }
    /* fitting lowers the objective below the starting point's */
    lab_gp_fit_opts o = {.n_starts = 2, .max_evals = 100};
    memcpy(gp.theta, th, sizeof th);
    assert_int_equal(lab_gp_fit(&gp, &o, &r, NULL), 0);
    assert_true(lab_gp_nll(&gp, gp.theta, NULL) <= f);
    /* the posterior interpolates a training point closely */
    double mu, var;
    lab_gp_predict(&gp, z, &mu, &var, NULL, NULL);
    s_close(mu, y[0], 0.05, "posterior mean at a training point");
    /* predict gradient against finite differences */
    double zq[3] = {0.3, 0.6, 1}, dmu[3], dvar[3];
    lab_gp_predict(&gp, zq, &mu, &var, dmu, dvar);
    for (int i = 0; i < 2; i++) {
        double zp[3], zm[3], mp, vp, mm, vm;
        memcpy(zp, zq, sizeof zp);
        memcpy(zm, zq, sizeof zm);
        zp[i] += h, zm[i] -= h;
        lab_gp_predict(&gp, zp, &mp, &vp, NULL, NULL);
        lab_gp_predict(&gp, zm, &mm, &vm, NULL, NULL);
        s_close(dmu[i], (mp - mm) / (2 * h), 1e-4, "dmu/dz");
        s_close(dvar[i], (vp - vm) / (2 * h), 1e-4, "dvar/dz");
    }
    /* predict_many agrees with predict; append agrees with a full factor */
    double m2, v2;
    assert_int_equal(lab_gp_predict_many(&gp, 1, zq, &m2, &v2), 0);
    s_close(m2, mu, 1e-10, "predict_many mean");
    s_close(v2, var, 1e-8, "predict_many var");
    double znew[3] = {0.55, 0.15, 0};
    assert_int_equal(lab_gp_append(&gp, znew, 0.7, NULL), 0);
    lab_gp_predict(&gp, zq, &m2, &v2, NULL, NULL);
    assert_int_equal(lab_gp_factor(&gp, NULL), 0);
    lab_gp_predict(&gp, zq, &mu, &var, NULL, NULL);
    s_close(m2, mu, 1e-8, "append vs factor mean");
    s_close(v2, var, 1e-8, "append vs factor var");
    lab_gp_release(&gp);
}

static void test_chol_jitter(void **state)
{
    (void)state;
    enum { N = 6 };
    double A[N * N], B[N * N], v[N] = {1, 2, 3, 4, 5, 6}, jit = -1;
    /* rank one: positive semi-definite, singular */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i + j * N] = B[i + j * N] = v[i] * v[j];
    assert_int_equal(lab_gp_chol(N, A, N, &jit), 0);
    assert_true(jit > 0.0);
    assert_true(jit < 1e-1);
    /* L L^T = B + jitter I */
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int k = 0; k <= j; k++)
                s += A[i + k * N] * A[j + k * N];
            s_close(s, B[i + j * N] + (i == j ? jit : 0.0), 1e-9, "L L^T");
        }
    /* a regular matrix gets no jitter */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i + j * N] = (i == j) ? 2.0 : 0.5;
    assert_int_equal(lab_gp_chol(N, A, N, &jit), 0);
    assert_true(jit == 0.0);
}

static void test_acquisitions(void **state)
{
    (void)state;
    /* EI(mu = best, sd = 1) = phi(0) */
    s_close(lab_acq_ei(0.0, 1.0, 0.0, NULL, NULL), 0.3989422804014327, 1e-12, "EI at u=0");
    /* u = (0.5 - 1)/2 = -0.25: EI = 2 (phi(-0.25) - 0.25 Phi(-0.25)) */
    double phi = 0.3866681168028493, Phi = 0.4012936743170763;
    s_close(lab_acq_ei(1.0, 2.0, 0.5, NULL, NULL), 2 * (phi - 0.25 * Phi), 1e-12, "EI");
    s_close(lab_acq_log_ei(1.0, 2.0, 0.5, NULL, NULL), log(2 * (phi - 0.25 * Phi)), 1e-12,
            "logEI");
    /* log-EI in the tail: where EI underflows it stays finite and ordered */
    assert_true(lab_acq_ei(50.0, 1.0, 0.0, NULL, NULL) == 0.0);
    double l50 = lab_acq_log_ei(50.0, 1.0, 0.0, NULL, NULL);
    double l40 = lab_acq_log_ei(40.0, 1.0, 0.0, NULL, NULL);
    assert_true(isfinite(l50) && l40 > l50);
    s_close(l50, -0.5 * 2500 - 0.5 * log(2 * M_PI) - 2 * log(50), 1e-3, "logEI asymptote");
    /* continuity across the u = -1 switch */
    s_close(lab_acq_log_ei(1.0 - 1e-9, 1.0, 0.0, NULL, NULL),
            lab_acq_log_ei(1.0 + 1e-9, 1.0, 0.0, NULL, NULL), 1e-7, "logEI switch");
    /* derivatives against finite differences */
    const double h = 1e-6;
    double mus[3] = {0.3, 2.0, 9.0};
    for (int i = 0; i < 3; i++) {
        double dmu, dsd;
        lab_acq_log_ei(mus[i], 0.7, 0.0, &dmu, &dsd);
        s_close(dmu, (lab_acq_log_ei(mus[i] + h, 0.7, 0, NULL, NULL) -
                      lab_acq_log_ei(mus[i] - h, 0.7, 0, NULL, NULL)) / (2 * h), 1e-5, "dlogEI/dmu");
        s_close(dsd, (lab_acq_log_ei(mus[i], 0.7 + h, 0, NULL, NULL) -
                      lab_acq_log_ei(mus[i], 0.7 - h, 0, NULL, NULL)) / (2 * h), 1e-5, "dlogEI/dsd");
        lab_acq_ei(mus[i], 0.7, 0.0, &dmu, &dsd);
        s_close(dmu, (lab_acq_ei(mus[i] + h, 0.7, 0, NULL, NULL) -
                      lab_acq_ei(mus[i] - h, 0.7, 0, NULL, NULL)) / (2 * h), 1e-5, "dEI/dmu");
    }
    /* UCB: -(mu - sqrt(beta) sd) */
    s_close(lab_acq_ucb(1.0, 0.5, 4.0, NULL, NULL), -(1.0 - 2.0 * 0.5), 1e-15, "UCB");
    assert_int_equal(lab_acq_parse("log-ei"), LAB_ACQ_LOG_EI);
    assert_int_equal(lab_acq_parse("pi"), -1);
}

static lab_space *s_mixed(void)
{
    lab_space *s = lab_space_new();
    lab_err err = {0};
    static const char *const solvents[] = {"toluene", "hexane", "oleylamine"};
    assert_int_equal(lab_space_add_real(s, "ratio", 0.5, 2.0, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "temperature", 100, 200, 0, "C", &err), 0);
    assert_int_equal(lab_space_add_real(s, "conc", 1e-3, 1e1, 1, NULL, &err), 0);
    assert_int_equal(lab_space_add_integer(s, "cycles", 1, 5, NULL, &err), 0);
    assert_int_equal(lab_space_add_categorical(s, "solvent", solvents, 3, &err), 0);
    assert_int_equal(lab_space_add_constraint(s, "ratio + 0.01 * temperature <= 3.2", &err), 0);
    return s;
}

/* optimum near the constraint boundary, oleylamine best */
static double s_mixed_f(const double *x)
{
    double c = log10(x[2]);
    return (x[0] - 1.8) * (x[0] - 1.8) + 1e-4 * (x[1] - 150) * (x[1] - 150) + 0.1 * c * c +
           0.05 * (x[3] - 3) * (x[3] - 3) + (x[4] == 2 ? 0.0 : 0.5);
}

static lab_planner_opts s_opts(uint64_t seed, size_t initial)
{
    lab_planner_opts o = {.kind = "gp", .seed = seed, .n_objectives = 1,
                          .initial_kind = "sobol", .initial_count = initial};
    return o;
}

static void test_constraints_categorical(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    lab_err err = {0};
    lab_planner_opts o = s_opts(5, 6);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    double x[2 * 5], best = INFINITY;
    lab_ask_info info[2];
    for (int it = 0; it < 14; it++) {
        assert_int_equal(lab_planner_ask(p, 2, NULL, 0, x, info), 0);
        for (int b = 0; b < 2; b++) {
            double *xb = x + b * 5;
            CHECK_SEED(lab_space_feasible(s, xb), 5);
            CHECK_SEED(xb[4] == 0 || xb[4] == 1 || xb[4] == 2, 5);
            CHECK_SEED(xb[3] == floor(xb[3]), 5);
            double y = s_mixed_f(xb);
            best = y < best ? y : best;
            assert_int_equal(lab_planner_tell(p, xb, &y, LAB_OUTCOME_MEASURED), 0);
        }
    }
    assert_non_null(strstr(info[1].model, "gp"));
    assert_true(isfinite(info[0].predicted_mean) && info[0].predicted_sd >= 0);
    assert_true(best < 0.3);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);

    /* unknown acquisition */
    s = s_mixed();
    o.acquisition = "pi";
    assert_null(lab_planner_new(s, &o, &err));
    assert_int_equal(err.code, LAB_ECONFIG);
    assert_non_null(strstr(err.msg, "'pi'"));
    lab_space_destroy(&s);
}

/* Runs n tell/ask rounds on branin; proposals into out (n * 2). */
static void s_branin_run(lab_planner *p, const lab_testfunc *f, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        double y;
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, out + 2 * i, NULL), 0);
        f->eval(out + 2 * i, &y);
        assert_int_equal(lab_planner_tell(p, out + 2 * i, &y, LAB_OUTCOME_MEASURED), 0);
    }
}

static void test_determinism_resume(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(3, 5);
    lab_planner *a = lab_planner_new(s, &o, &err), *b = lab_planner_new(s, &o, &err);
    enum { N = 20 };
    double xa[2 * N], xb[2 * N];
    s_branin_run(a, f, N, xa);
    s_branin_run(b, f, N, xb);
    assert_memory_equal(xa, xb, sizeof xa);
    /* a planner rebuilt by re-telling the history proposes what a proposes */
    lab_planner *c = lab_planner_new(s, &o, &err);
    for (size_t i = 0; i < N; i++) {
        double y;
        f->eval(xa + 2 * i, &y);
        lab_planner_tell(c, xa + 2 * i, &y, LAB_OUTCOME_MEASURED);
    }
    double na[2], nc[2];
    assert_int_equal(lab_planner_ask(a, 1, NULL, 0, na, NULL), 0);
    assert_int_equal(lab_planner_ask(c, 1, NULL, 0, nc, NULL), 0);
    assert_memory_equal(na, nc, sizeof na);
    lab_planner_destroy(&a);
    lab_planner_destroy(&b);
    lab_planner_destroy(&c);
    lab_space_destroy(&s);
}

static void test_batch_pending(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("hartmann3");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(9, 8);
    lab_planner *p = lab_planner_new(s, &o, &err);
    double x[3 * 12];
    s_branin_run(p, f, 0, x);
    for (int i = 0; i < 12; i++) {
        double y;
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), 0);
        f->eval(x, &y);
        lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED);
    }
    double pending[2 * 3];
    assert_int_equal(lab_planner_ask(p, 2, NULL, 0, pending, NULL), 0);
    double out[4 * 3];
    lab_ask_info info[4];
    assert_int_equal(lab_planner_ask(p, 4, pending, 2, out, info), 0);
    double all[6 * 3];
    memcpy(all, pending, sizeof pending);
    memcpy(all + 6, out, sizeof out);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < i; j++) {
            double d2 = 0;
            for (int k = 0; k < 3; k++)
                d2 += (all[i * 3 + k] - all[j * 3 + k]) * (all[i * 3 + k] - all[j * 3 + k]);
            CHECK_SEED(d2 > 1e-6, 9); /* distinct, and not on top of each other */
        }
    assert_non_null(strstr(info[3].model, "kriging believer"));
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* A kriging-believer fantasy (a point appended to the Cholesky factor with
 * the model's mean as its value) gives the same posterior as refactorising
 * the whole matrix with that point, leaves the mean unchanged, collapses the
 * variance at the point, and is dropped again by truncation. */
static void test_fantasy_update(void **state)
{
    (void)state;
    enum { D = 3, N = 15, T = 20 };
    const uint64_t seed = 17;
    lab_rng rng;
    lab_rng_seed(&rng, seed, 0);
    double z[(N + 1) * D], y[N + 1], th[D + 2] = {log(0.3), log(0.5), log(0.8), log(1.3),
                                                  log(1e-4)};
    for (int i = 0; i < (N + 1) * D; i++)
        z[i] = lab_rng_uniform(&rng);
    for (int i = 0; i < N; i++)
        y[i] = sin(5 * z[i * D]) + z[i * D + 1] * z[i * D + 2];
    lab_gp a, b;
    assert_int_equal(lab_gp_init(&a, D, NULL, NULL), 0);
    assert_int_equal(lab_gp_init(&b, D, NULL, NULL), 0);
    assert_int_equal(lab_gp_set_data(&a, N, z, y, NULL), 0);
    memcpy(a.theta, th, sizeof th);
    assert_int_equal(lab_gp_factor(&a, NULL), 0);
    double zt[T * D], mu0[T], var0[T];
    for (int i = 0; i < T * D; i++)
        zt[i] = lab_rng_uniform(&rng);
    for (int t = 0; t < T; t++)
        lab_gp_predict(&a, zt + t * D, &mu0[t], &var0[t], NULL, NULL);
    /* the fantasy */
    double fm, fv;
    const double *zf = z + N * D;
    lab_gp_predict(&a, zf, &fm, &fv, NULL, NULL);
    CHECK_SEED(fv > 1e-3, seed);
    y[N] = fm;
    assert_int_equal(lab_gp_append(&a, zf, fm, NULL), 0);
    /* the full refit (same hyperparameters, all N + 1 points factorised) */
    assert_int_equal(lab_gp_set_data(&b, N + 1, z, y, NULL), 0);
    memcpy(b.theta, th, sizeof th);
    assert_int_equal(lab_gp_factor(&b, NULL), 0);
    for (int t = 0; t < T; t++) {
        double ma, va, mb, vb;
        lab_gp_predict(&a, zt + t * D, &ma, &va, NULL, NULL);
        lab_gp_predict(&b, zt + t * D, &mb, &vb, NULL, NULL);
        s_close(ma, mb, 1e-9, "fantasy mean vs refit");
        s_close(va, vb, 1e-9, "fantasy variance vs refit");
        s_close(ma, mu0[t], 1e-9, "a believer fantasy leaves the mean unchanged");
        CHECK_SEED(va <= var0[t] + 1e-12, seed);
    }
    double ma, va;
    lab_gp_predict(&a, zf, &ma, &va, NULL, NULL);
    s_close(ma, fm, 1e-9, "mean at the fantasy");
    /* at an observed point the latent variance is at most the noise's */
    print_message("variance at the fantasy: %.3g before, %.3g after (noise %.3g)\n", fv, va,
                  exp(th[D + 1]));
    CHECK_SEED(va <= exp(th[D + 1]) && va < 0.05 * fv, seed);
    /* truncation drops it: the old posterior again */
    lab_gp_truncate(&a, N);
    for (int t = 0; t < T; t++) {
        double m, v;
        lab_gp_predict(&a, zt + t * D, &m, &v, NULL, NULL);
        s_close(m, mu0[t], 1e-9, "mean after truncation");
        s_close(v, var0[t], 1e-9, "variance after truncation");
    }
    lab_gp_release(&a);
    lab_gp_release(&b);
}

/* Checks that the 6-D point x lies in the box of half a length-scale either
 * side of xb (at least 0.02, at most 0.5), the length-scales read from the
 * model summary (printed to two digits, hence the 6 % slack). */
static void s_check_in_box(const char *model, const double *x, const double *xb, uint64_t seed)
{
    const char *ls = strstr(model, "ls=[");
    double l[6];
    CHECK_SEED(ls && sscanf(ls, "ls=[%lf %lf %lf %lf %lf %lf", &l[0], &l[1], &l[2], &l[3], &l[4],
                            &l[5]) == 6, seed);
    for (int c = 0; c < 6; c++) {
        double h = fmin(0.5, fmax(0.02, 0.5 * l[c] * 1.06));
        CHECK_SEED(fabs(x[c] - xb[c]) <= h + 1e-9, seed);
    }
}

/* Four in flight, refilled one at a time (the orchestrator's planner.batch:
 * 4): each ask is for one point with the three in flight pending. The four
 * form a batch: a model point whose proposal number is a multiple of 4 leads
 * (an exploitation step or EI, never a probe), the others are probes inside
 * the box of half a length-scale either side of the best measured point.
 * Over 40 experiments on hartmann6 at least one lead is an exploitation
 * step, although the probes around the mean's minimum are in flight. */
static void test_async_in_flight(void **state)
{
    (void)state;
    const uint64_t seed = 4;
    const lab_testfunc *f = lab_testfunc_find("hartmann6");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(seed, 10);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    enum { K = 4, D = 6, N = 40 };
    double fl[K * D], best = INFINITY, xb[D] = {0};
    lab_ask_info info;
    assert_int_equal(lab_planner_ask(p, K, NULL, 0, fl, NULL), 0);
    int leads = 0, lead_exploits = 0, probes = 0;
    for (int number = K; number < N; number++) {
        double y;
        f->eval(fl, &y);
        assert_int_equal(lab_planner_tell(p, fl, &y, LAB_OUTCOME_MEASURED), 0);
        if (y < best) {
            best = y;
            memcpy(xb, fl, sizeof xb);
        }
        memmove(fl, fl + D, (K - 1) * D * sizeof *fl);
        memset(&info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, 1, fl, K - 1, fl + (K - 1) * D, &info), 0);
        if (strcmp(info.origin, "planner"))
            continue;
        CHECK_SEED(strstr(info.model, "kriging believer") != NULL, seed);
        if (number % K == 0) {
            CHECK_SEED(strstr(info.model, "probe") == NULL, seed);
            leads++;
            lead_exploits += strstr(info.model, "exploit") != NULL;
            continue;
        }
        CHECK_SEED(strstr(info.model, "probe") != NULL, seed);
        CHECK_SEED(strstr(info.reason, "probes beside") != NULL, seed);
        s_check_in_box(info.model, fl + (K - 1) * D, xb, seed);
        probes++;
    }
    print_message("hartmann6, 4 in flight: %d leads (%d exploitation steps), %d probes\n", leads,
                  lead_exploits, probes);
    CHECK_SEED(leads >= 5 && probes >= 15 && lead_exploits >= 1, seed);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* Four in flight: the planner that asked every point (its model cache,
 * refit chain and Cholesky factor having seen the pending points'
 * fantasies) proposes exactly what a planner rebuilt from the told history
 * proposes, before the refits thin out (every told outcome up to 100) and
 * after (every 10th, the outcomes in between appended to the factor).
 * Fantasies left in the model after an ask, or a refit counted per ask
 * instead of per told outcome, would tell them apart. */
static void test_async_rebuilt(void **state)
{
    (void)state;
    const uint64_t seed = 7;
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(seed, 6);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    enum { K = 4, D = 2, N = 118 };
    double fl[K * D], told[N * D], ty[N], x[D];
    assert_int_equal(lab_planner_ask(p, K, NULL, 0, fl, NULL), 0);
    for (int number = K; number < N; number++) {
        int i = number - K;
        f->eval(fl, &ty[i]);
        memcpy(told + i * D, fl, sizeof x);
        assert_int_equal(lab_planner_tell(p, fl, &ty[i], LAB_OUTCOME_MEASURED), 0);
        memmove(fl, fl + D, (K - 1) * D * sizeof *fl);
        int check = i < 12 || i > 96;
        if (check) {
            lab_planner *q = lab_planner_new(s, &o, &err);
            assert_non_null(q);
            for (int j = 0; j <= i; j++)
                assert_int_equal(
                    lab_planner_tell(q, told + j * D, &ty[j], LAB_OUTCOME_MEASURED), 0);
            assert_int_equal(lab_planner_ask(q, 1, fl, K - 1, x, NULL), 0);
            lab_planner_destroy(&q);
        }
        assert_int_equal(lab_planner_ask(p, 1, fl, K - 1, fl + (K - 1) * D, NULL), 0);
        if (check && memcmp(x, fl + (K - 1) * D, sizeof x))
            fail_msg("seed %llu: ask %d with 3 in flight differs from a rebuilt planner's",
                     (unsigned long long)seed, number);
    }
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* A batch asked at once (d < 8, one objective, plain fit, no failures) is
 * chosen with the prior mean a further S_BATCH_SHIFT deviations above the
 * data, which the model summary says; the shift is undone after the ask:
 * the planner's next batch is bit for bit the one a planner rebuilt from
 * the same told history proposes, and a batch asked right after another
 * (no refit) is the one asked after four single points. A point asked alone, or a batch once an
 * experiment has failed, is chosen without it. */
static void test_batch_prior_shift(void **state)
{
    (void)state;
    const uint64_t seed = 3;
    const lab_testfunc *f = lab_testfunc_find("hartmann6");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(seed, 12);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    enum { K = 4, D = 6, ROUNDS = 9 };
    double told[K * ROUNDS * D], ty[K * ROUNDS], x[K * D], xq[K * D];
    size_t n = 0;
    int shifted = 0;
    for (int round = 0; round < ROUNDS; round++) {
        lab_ask_info info[K];
        memset(info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, info), 0);
        if (round >= 4) {       /* a rebuilt planner proposes the same batch */
            lab_planner *q = lab_planner_new(s, &o, &err);
            assert_non_null(q);
            for (size_t j = 0; j < n; j++)
                assert_int_equal(lab_planner_tell(q, told + j * D, &ty[j], LAB_OUTCOME_MEASURED), 0);
            assert_int_equal(lab_planner_ask(q, K, NULL, 0, xq, NULL), 0);
            lab_planner_destroy(&q);
            if (memcmp(x, xq, sizeof x))
                fail_msg("seed %llu: batch %d differs from a rebuilt planner's",
                         (unsigned long long)seed, round);
        }
        for (int i = 0; i < K; i++) {
            int model = !strcmp(info[i].origin, "planner");
            CHECK_SEED(!model || strstr(info[i].model, "batch prior +1.5") != NULL, seed);
            CHECK_SEED(!model || (isfinite(info[i].predicted_mean) && info[i].predicted_mean > -4.0 &&
                                  info[i].predicted_mean < 1.0), seed);
            shifted += model;
            memcpy(told + n * D, x + i * D, D * sizeof *x);
            f->eval(x + i * D, &ty[n]);
            assert_int_equal(lab_planner_tell(p, x + i * D, &ty[n], LAB_OUTCOME_MEASURED), 0);
            n++;
        }
    }
    CHECK_SEED(shifted >= 12, seed);
    /* asked again with nothing told in between (no refit, the model kept):
     * the second batch is the one a planner that asked four single points
     * instead of the first batch (no shift) proposes */
    assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, NULL), 0);
    assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, NULL), 0);
    lab_planner *q = lab_planner_new(s, &o, &err);
    assert_non_null(q);
    for (size_t j = 0; j < n; j++)
        assert_int_equal(lab_planner_tell(q, told + j * D, &ty[j], LAB_OUTCOME_MEASURED), 0);
    for (int i = 0; i < K; i++)
        assert_int_equal(lab_planner_ask(q, 1, NULL, 0, xq, NULL), 0);
    assert_int_equal(lab_planner_ask(q, K, NULL, 0, xq, NULL), 0);
    lab_planner_destroy(&q);
    if (memcmp(x, xq, sizeof x))
        fail_msg("seed %llu: a batch after a batch differs from one after single points",
                 (unsigned long long)seed);
    lab_ask_info one;
    memset(&one, 0, sizeof one);
    assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &one), 0);
    CHECK_SEED(strstr(one.model, "gp ") && !strstr(one.model, "batch prior"), seed);
    /* a failed experiment: the next batch has no shift */
    assert_int_equal(lab_planner_tell(p, x, NULL, LAB_OUTCOME_FAILED), 0);
    lab_ask_info info[K];
    memset(info, 0, sizeof info);
    assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, info), 0);
    for (int i = 0; i < K; i++)
        CHECK_SEED(strstr(info[i].model, "gp ") && !strstr(info[i].model, "batch prior"), seed);
    print_message("hartmann6, batches of 4: %d model points chosen with the batch's prior shift\n",
                  shifted);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* A batch of 4 on hartmann6 in the modelling phase: four distinct points,
 * the second not where the first is (the fantasy of the first pushes it
 * away; 1e-3 apart at least, 1e-4 once the model knows the first point's
 * value to 1e-3), at most one exploitation step per batch, and that step first in
 * its batch (an EI point chosen before it used to veto it, so batches
 * almost never refined). The later points of a model batch are probes
 * (d < 8); after an EI first point they keep to the box of half a
 * length-scale either side of the best measured point (the model summary
 * prints the length-scales to two digits). Over ten batches at least one
 * exploits and at least one probes in the box. */
static void test_batch_fantasies(void **state)
{
    (void)state;
    const uint64_t seed = 4;
    const lab_testfunc *f = lab_testfunc_find("hartmann6");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(seed, 10);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    enum { K = 4, D = 6 };
    int exploit_batches = 0, n_probes = 0, n_boxed = 0;
    double best = INFINITY, xb[D] = {0};
    for (int round = 0; round < 13; round++) {
        double x[K * D];
        lab_ask_info info[K];
        memset(info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, info), 0);
        int n_exploit = 0;
        for (int i = 0; i < K; i++) {
            int ex = strstr(info[i].model, "exploit") != NULL;
            n_exploit += ex;
            if (ex)
                CHECK_SEED(i == 0, seed);
            /* a model batch's later points are probes, the first never */
            int model = !strcmp(info[i].origin, "planner");
            int first_model = i == 0 || strcmp(info[i - 1].origin, "planner");
            CHECK_SEED(!strstr(info[i].model, "probe") || (model && !first_model), seed);
            if (model && !first_model) {
                CHECK_SEED(strstr(info[i].model, "probe") != NULL, seed);
                CHECK_SEED(strstr(info[i].reason, "probes beside") != NULL, seed);
                n_probes++;
            }
            int fm = i;
            while (fm > 0 && !strcmp(info[fm - 1].origin, "planner"))
                fm--;
            if (model && !first_model && !strstr(info[fm].model, "exploit")) {
                s_check_in_box(info[i].model, x + i * D, xb, seed);
                n_boxed++;
            }
            for (int j = 0; j < i; j++) {
                double dist = 0;
                for (int c = 0; c < D; c++)
                    dist = fmax(dist, fabs(x[i * D + c] - x[j * D + c]));
                /* distinct; the 2nd (and later) away from the 1st */
                /* once the model knows the first point to 1e-3 (the last
                 * batches refine at the scale of the optimum's precision)
                 * the second still keeps its distance, at that scale */
                double away = !(info[0].predicted_sd <= 1e-3) ? 1e-3 : 1e-4;
                CHECK_SEED(dist > (j == 0 && i == 1 ? away : 1e-9), seed);
            }
        }
        CHECK_SEED(n_exploit <= 1, seed);
        exploit_batches += n_exploit;
        if (round >= 3) /* past the initial design: the model's batch */
            CHECK_SEED(strstr(info[K - 1].model, "kriging believer") != NULL, seed);
        for (int i = 0; i < K; i++) /* d = 6: no trust region */
            CHECK_SEED(strstr(info[i].model, "trust region") == NULL, seed);
        for (int i = 0; i < K; i++) {
            double y;
            f->eval(x + i * D, &y);
            assert_int_equal(lab_planner_tell(p, x + i * D, &y, LAB_OUTCOME_MEASURED), 0);
            if (y < best) {
                best = y;
                memcpy(xb, x + i * D, sizeof xb);
            }
        }
    }
    print_message("hartmann6, batches of 4: %d of 10 model batches began with an exploitation "
                  "step, %d probes, %d in the box around the best\n", exploit_batches, n_probes,
                  n_boxed);
    CHECK_SEED(exploit_batches >= 1 && n_probes >= 1 && n_boxed >= 1, seed);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* Batches of 2 on branin: a batch whose proposal numbers are 0 and 1 mod 3
 * holds none of the numbers that may exploit (2, 5, 8, ...), yet it gets an
 * exploitation step too once the model is sure of its minimum (without
 * that rule such a batch is two EI points, and the last batch of a
 * campaign of 50 in batches of 4 after a 10-point start is one). The step
 * is first in its batch, at most one per batch. */
static void test_batch_of_two_exploits(void **state)
{
    (void)state;
    const uint64_t seed = 3;
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(seed, 10);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    enum { K = 2, D = 2 };
    int slotless_exploits = 0, slotless_batches = 0;
    for (size_t told = 0; told < 50; told += K) {
        double x[K * D];
        lab_ask_info info[K];
        memset(info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, K, NULL, 0, x, info), 0);
        CHECK_SEED(strstr(info[1].model, "exploit") == NULL, seed);
        /* numbers told, told + 1: neither is 2 mod 3 */
        if (told >= 10 && told % 3 == 0) {
            slotless_batches++;
            slotless_exploits += strstr(info[0].model, "exploit") != NULL;
        }
        for (int i = 0; i < K; i++) {
            double y;
            f->eval(x + i * D, &y);
            assert_int_equal(lab_planner_tell(p, x + i * D, &y, LAB_OUTCOME_MEASURED), 0);
        }
    }
    print_message("branin, batches of 2: %d of %d batches at numbers 0, 1 mod 3 began with "
                  "an exploitation step\n", slotless_exploits, slotless_batches);
    CHECK_SEED(slotless_exploits >= 1, seed);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* d = 8: the model's points come from a trust region around the best
 * measured point (named with its side in the model summary), each
 * coordinate within the region's largest half-width (side x 4 / 2 in the
 * unit cube) of that point; the side adapts (halved after d proposals
 * without an improvement). Below d = 8 there is none. */
static void test_trust_region(void **state)
{
    (void)state;
    const uint64_t seed = 3;
    const lab_testfunc *f = lab_testfunc_find("styblinski8_s");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    size_t n_init = lab_planner_default_initial(8);
    lab_planner_opts o = s_opts(seed, n_init);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    double best = INFINITY, xb[8] = {0}, side_min = INFINITY, side_max = 0;
    for (size_t i = 0; i < n_init + 30; i++) {
        double x[8], y;
        lab_ask_info info;
        memset(&info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
        const char *tr = strstr(info.model, "trust region ");
        if (i >= n_init) {
            double side = 0;
            CHECK_SEED(tr != NULL && sscanf(tr, "trust region %lf", &side) == 1, seed);
            CHECK_SEED(side > 0 && side <= 1.6, seed);
            side_min = fmin(side_min, side), side_max = fmax(side_max, side);
            for (int c = 0; c < 8; c++)
                CHECK_SEED(fabs(x[c] - xb[c]) / 10.0 <= side * 2.0 + 1e-9, seed);
        } else {
            CHECK_SEED(tr == NULL, seed);
        }
        f->eval(x, &y);
        if (y < best) {
            best = y;
            memcpy(xb, x, sizeof xb);
        }
        assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
    }
    print_message("styblinski8_s: trust region side %.3g to %.3g\n", side_min, side_max);
    CHECK_SEED(side_min < side_max, seed);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* Two objectives, a batch of 3: every point has its own trade-off weights
 * (as when asked one at a time), and the points are distinct. */
static void test_multiobjective_batch(void **state)
{
    (void)state;
    const uint64_t seed = 6;
    const lab_testfunc *f = lab_testfunc_find("zdt1");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = {.kind = "gp", .seed = seed, .n_objectives = 2,
                          .initial_kind = "sobol", .initial_count = 8};
    lab_planner *p = lab_planner_new(s, &o, &err);
    for (int i = 0; i < 8; i++) {
        double x[3], y[2];
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), 0);
        f->eval(x, y);
        assert_int_equal(lab_planner_tell(p, x, y, LAB_OUTCOME_MEASURED), 0);
    }
    double x[3 * 3];
    lab_ask_info info[3];
    memset(info, 0, sizeof info);
    assert_int_equal(lab_planner_ask(p, 3, NULL, 0, x, info), 0);
    for (int i = 0; i < 3; i++) {
        const char *w = strstr(info[i].reason, "trade-off weights");
        CHECK_SEED(w != NULL, seed);
        char place[16];
        snprintf(place, sizeof place, "batch %d/3", i + 1);
        CHECK_SEED(strstr(info[i].model, place) != NULL, seed);
        for (int j = 0; j < i; j++) {
            const char *v = strstr(info[j].reason, "trade-off weights");
            CHECK_SEED(strncmp(w, v, 30) != 0, seed);
            CHECK_SEED(memcmp(x + 3 * i, x + 3 * j, 3 * sizeof *x) != 0, seed);
        }
    }
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* The optimum (0.9, 0.5) lies where experiments fail (x0 > 0.6): the
 * constrained optimum is on the boundary x0 = 0.6, which the search should
 * hug, while proposals deep in the failed region (x0 > 0.7) become rare. */
static void test_failures_avoided(void **state)
{
    (void)state;
    lab_space *s = lab_space_new();
    lab_err err = {0};
    lab_space_add_real(s, "a", 0, 1, 0, NULL, &err);
    lab_space_add_real(s, "b", 0, 1, 0, NULL, &err);
    /* the objective's minimum (0.9, 0.5) lies inside the failing region
     * a > 0.6: the planner should settle on its edge, not keep entering */
    size_t in_bad = 0, n_late = 0;
    for (uint64_t seed = 4; seed < 7; seed++) {
        lab_planner_opts o = s_opts(seed, 8);
        lab_planner *p = lab_planner_new(s, &o, &err);
        for (int i = 0; i < 30; i++) {
            double x[2], y;
            assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), 0);
            int bad = x[0] > 0.6;
            if (i >= 15) {
                n_late++;
                in_bad += (size_t)(x[0] > 0.7);
            }
            y = (x[0] - 0.9) * (x[0] - 0.9) + (x[1] - 0.5) * (x[1] - 0.5);
            assert_int_equal(lab_planner_tell(p, x, bad ? NULL : &y,
                                              bad ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED), 0);
        }
        lab_planner_destroy(&p);
    }
    print_message("deep in the failure region: %zu of the last %zu proposals (seeds 4-6)\n",
                  in_bad, n_late);
    CHECK_SEED(in_bad * 100 <= 20 * n_late, 4);
    lab_space_destroy(&s);
}

/* The feasibility model learns a failing region that the objective knows
 * nothing about (hartmann6_f: experiments fail where x0 > 0.8, the optimum
 * has x0 = 0.2): failed experiments in the second half of the campaign are
 * at most a third of those in the first (which holds the initial design),
 * and p(success) is reported only once there are failures. */
static void test_feasibility_learns_region(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("hartmann6_f");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    size_t first = 0, second = 0;
    for (uint64_t seed = 0; seed < 4; seed++) {
        lab_planner_opts o = {.kind = "gp", .seed = seed, .n_objectives = 1};
        lab_planner *p = lab_planner_new(s, &o, &err);
        assert_non_null(p);
        int seen_fail = 0;
        for (int i = 0; i < 40; i++) {
            double x[6], y;
            lab_ask_info info;
            assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
            if (!strcmp(info.origin, "planner"))
                CHECK_SEED(isfinite(info.p_success) == seen_fail, seed);
            int bad = f->eval(x, &y);
            seen_fail |= bad;
            *(i < 20 ? &first : &second) += (size_t)bad;
            assert_int_equal(lab_planner_tell(p, x, bad ? NULL : &y,
                                              bad ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED), 0);
        }
        lab_planner_destroy(&p);
    }
    print_message("hartmann6_f, seeds 0-3, budget 40: %zu failures in the first halves, %zu in "
                  "the second\n", first, second);
    assert_true(first > 0);
    assert_true(second * 3 <= first);
    lab_space_destroy(&s);
}

/* {kind: gp} without an initial design starts with a Sobol design of
 * max(10, 2(d + 1)) points (origin "initial"); an explicit count of 0
 * turns it off. */
static void test_default_initial_design(void **state)
{
    (void)state;
    lab_err err = {0};
    for (size_t d = 2; d <= 8; d += 3) {
        lab_space *s = lab_space_new();
        for (size_t i = 0; i < d; i++) {
            char name[8];
            snprintf(name, sizeof name, "x%zu", i);
            assert_int_equal(lab_space_add_real(s, name, -1, 2, 0, NULL, &err), 0);
        }
        size_t want = lab_planner_default_initial(d);
        assert_int_equal(want, 2 * (d + 1) > 10 ? 2 * (d + 1) : 10);
        lab_planner_opts o = {.kind = "gp", .seed = 3, .n_objectives = 1};
        lab_planner *p = lab_planner_new(s, &o, &err);
        lab_planner_opts os = {.kind = "sobol", .seed = 3, .n_objectives = 1};
        lab_planner *q = lab_planner_new(s, &os, &err);
        assert_non_null(p);
        assert_non_null(q);
        double x[8], xs[8], y;
        lab_ask_info info;
        for (size_t i = 0; i < want + 1; i++) {
            assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
            if (i < want) {
                /* the same points as a plain Sobol planner */
                assert_string_equal(info.origin, "initial");
                assert_int_equal(lab_planner_ask(q, 1, NULL, 0, xs, NULL), 0);
                assert_memory_equal(x, xs, d * sizeof *x);
            } else {
                assert_string_equal(info.origin, "planner");
                assert_non_null(strstr(info.model, "gp"));
            }
            y = 0.0;
            for (size_t j = 0; j < d; j++)
                y += (x[j] - 0.3) * (x[j] - 0.3);
            assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
            lab_planner_tell(q, x, &y, LAB_OUTCOME_MEASURED);
        }
        lab_planner_destroy(&p);
        lab_planner_destroy(&q);
        /* explicit count 0: the model starts as soon as it can */
        lab_planner_opts o0 = {.kind = "gp", .seed = 3, .n_objectives = 1,
                               .initial_kind = "sobol", .initial_count = 0};
        p = lab_planner_new(s, &o0, &err);
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
        assert_string_equal(info.origin, "planner");
        lab_planner_destroy(&p);
        lab_space_destroy(&s);
    }
}

/* Provenance with two objectives: each objective's predicted mean and sd in
 * its own units (maximised ones not negated), and a readable reason that
 * names the objectives; the model summary is kept apart. */
static void test_provenance_objectives(void **state)
{
    (void)state;
    lab_space *s = lab_space_new();
    lab_err err = {0};
    lab_space_add_real(s, "t", 0, 1, 0, NULL, &err);
    lab_space_add_real(s, "c", 0, 1, 0, NULL, &err);
    lab_planner_opts o = {.kind = "gp", .seed = 1, .n_objectives = 2, .maximize = {1, 0},
                          .objective_names = {"yield", "width_nm"}};
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    for (int i = 0; i < 16; i++) {
        double x[2], y[2];
        lab_ask_info info;
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
        /* yield in [0.5, 0.9], width 20-60 nm */
        y[0] = 0.9 - 0.4 * (x[0] - 0.6) * (x[0] - 0.6);
        y[1] = 20.0 + 40.0 * x[1] * x[1];
        if (i >= 12) {
            assert_string_equal(info.origin, "planner");
            print_message("reason: %s\nmodel: %s\n", info.reason, info.model);
            assert_non_null(strstr(info.reason, "yield"));
            assert_non_null(strstr(info.reason, "width_nm"));
            assert_non_null(strstr(info.model, "parego"));
            assert_true(isnan(info.predicted_mean));
            /* in units, near the true values at the chosen point */
            double t0 = 0.9 - 0.4 * (x[0] - 0.6) * (x[0] - 0.6), t1 = 20.0 + 40.0 * x[1] * x[1];
            assert_true(fabs(info.objective_mean[0] - t0) < 0.1);
            assert_true(fabs(info.objective_mean[1] - t1) < 8.0);
            assert_true(info.objective_sd[0] >= 0 && info.objective_sd[1] >= 0);
        }
        assert_int_equal(lab_planner_tell(p, x, y, LAB_OUTCOME_MEASURED), 0);
    }
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

static void test_pareto(void **state)
{
    (void)state;
    double y[5 * 2] = {1, 4, 2, 2, 4, 1, 3, 3, 2, 2};
    unsigned char front[5];
    assert_int_equal(lab_pareto_front(5, 2, y, front), 3);
    assert_int_equal(front[0], 1);
    assert_int_equal(front[3], 0); /* (3,3) dominated by (2,2) */
    assert_int_equal(front[4], 0); /* duplicate of (2,2) */
    double ref[3] = {5, 5, 5};
    /* staircase: (1,4),(2,2),(4,1) in [.,5]^2: 4*1 + 3*2 + 1*1 = 11 */
    s_close(lab_pareto_hypervolume(5, 2, y, ref), 11.0, 1e-12, "hv2");
    double y3[2 * 3] = {1, 1, 1, 2, 2, 0};
    /* box [1,5]^3 = 64 plus box [2,5]^2 x [0,5] = 45 minus overlap [2,5]^2 x [1,5] = 36 */
    s_close(lab_pareto_hypervolume(2, 3, y3, ref), 64 + 45 - 36, 1e-12, "hv3");
    assert_true(lab_pareto_hypervolume(1, 4, y3, ref) < 0);
    /* zdt1: the known front samples reach close to the known maximum */
    const lab_testfunc *z = lab_testfunc_find("zdt1");
    enum { M = 2001 };
    static double fy[M * 2];
    for (int i = 0; i < M; i++) {
        double x[3] = {(double)i / (M - 1), 0, 0};
        z->eval(x, fy + 2 * i);
    }
    double hv = lab_pareto_hypervolume(M, 2, fy, z->ref);
    assert_true(hv <= z->optimum && hv > z->optimum - 1e-3);
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_regret(const char *kind, uint64_t seed, size_t budget)
{
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = {.kind = kind, .seed = seed, .n_objectives = 1};
    if (!strcmp(kind, "gp"))
        o.initial_kind = "sobol", o.initial_count = 10;
    lab_planner *p = lab_planner_new(s, &o, &err);
    double best = INFINITY;
    for (size_t i = 0; i < budget; i++) {
        double x[2], y;
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), 0);
        f->eval(x, &y);
        best = y < best ? y : best;
        lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED);
    }
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
    return best - f->optimum;
}

static void test_beats_random(void **state)
{
    (void)state;
    double g = s_regret("gp", 1, 30), r = s_regret("random", 1, 30);
    print_message("branin budget 30 seed 1: gp regret %.3g, random %.3g\n", g, r);
    CHECK_SEED(g < 0.05, 1);
    CHECK_SEED(r > 20 * g, 1);
}

/* The end-game: branin has three minima, and EI alone spreads a budget of 30
 * over all of them without refining one (median regret over seeds 0-4 was
 * 1.2e-3). The confident posterior-mean steps (gp.c) refine the best basin:
 * the median must reach the goal, 5e-4, and some proposals must say
 * they exploited. A quality bound, not a timing. */
static void test_refines_minimum(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    double reg[5];
    size_t n_exploit = 0;
    for (uint64_t seed = 0; seed < 5; seed++) {
        lab_planner_opts o = s_opts(seed, 10);
        lab_planner *p = lab_planner_new(s, &o, &err);
        assert_non_null(p);
        double best = INFINITY;
        for (int i = 0; i < 30; i++) {
            double x[2], y;
            lab_ask_info info;
            assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
            n_exploit += strstr(info.model, "exploit") != NULL;
            f->eval(x, &y);
            best = y < best ? y : best;
            assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
        }
        reg[seed] = best - f->optimum;
        lab_planner_destroy(&p);
    }
    qsort(reg, 5, sizeof *reg, s_cmp_double);
    print_message("branin budget 30 seeds 0-4: median regret %.3g, %zu exploitation steps\n",
                  reg[2], n_exploit);
    assert_true(reg[2] <= 5e-4);
    assert_true(n_exploit > 0);
    lab_space_destroy(&s);
}

/* The expected improvement a reason states is in the objective's units
 * (under the log warp too): at least half the distance from the best to the
 * predicted median when that is below the best (the outcome falls below
 * the median half the time). Before, a warped model's EI was stated on the
 * warp's log scale. */
static void s_check_ei_units(const lab_ask_info *in, uint64_t seed)
{
    double ei, b, m;
    if (sscanf(in->reason, "expected improvement %lf over the best %lf: predicted %lf", &ei, &b,
               &m) != 3)
        return;
    CHECK_SEED(isfinite(ei) && ei >= 0.0, seed);
    if (m < b && !(ei >= 0.45 * (b - m))) {
        print_message("reason '%s' (%s): improvement below half of best - median\n", in->reason,
                      in->model);
        CHECK_SEED(0, seed);
    }
}

/* The output transform is chosen by evidence at every fit: goldstein's
 * outcomes span five orders of magnitude and its log is smooth, so the
 * log warp must be chosen there, and it must find the minimum (median
 * regret over seeds 0-2 at budget 40 was 5.0 without the warp); hartmann6's
 * outcomes are not heavy-tailed and the plain standardisation must stay. */
static void test_output_warp(void **state)
{
    (void)state;
    const char *names[2] = {"goldstein", "hartmann6"};
    for (int fi = 0; fi < 2; fi++) {
        const lab_testfunc *f = lab_testfunc_find(names[fi]);
        lab_err err = {0};
        lab_space *s = lab_testfunc_space(f, &err);
        double reg[3];
        size_t n_model = 0, n_warp = 0;
        for (uint64_t seed = 0; seed < 3; seed++) {
            lab_planner_opts o = s_opts(seed, 2 * (f->d + 1) > 10 ? 2 * (f->d + 1) : 10);
            lab_planner *p = lab_planner_new(s, &o, &err);
            assert_non_null(p);
            double best = INFINITY;
            for (int i = 0; i < 40; i++) {
                double x[6], y;
                lab_ask_info info;
                memset(&info, 0, sizeof info);
                assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
                if (!strcmp(info.origin, "planner")) {
                    n_model++;
                    n_warp += strstr(info.model, "log warp") != NULL;
                    s_check_ei_units(&info, seed);
                }
                f->eval(x, &y);
                best = y < best ? y : best;
                assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
            }
            reg[seed] = best - f->optimum;
            lab_planner_destroy(&p);
        }
        qsort(reg, 3, sizeof *reg, s_cmp_double);
        print_message("%s budget 40 seeds 0-2: median regret %.3g, log warp on %zu of %zu "
                      "model proposals\n", names[fi], reg[1], n_warp, n_model);
        if (fi == 0) {
            assert_true(n_warp * 4 >= n_model * 3);
            assert_true(reg[1] <= 0.1);
        } else {
            assert_true(n_warp * 4 <= n_model);
        }
        lab_space_destroy(&s);
    }
}

/* Outcomes clipped at a floor (here branin minus 20, at least 0): the
 * minimum is shared by many rows, where the warp's anchor would have a
 * slope of 1e6 per unit and win the evidence by hundreds of nats whatever
 * the data; it must not be chosen then. */
static void test_output_warp_ties(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("branin");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = s_opts(1, 10);
    lab_planner *p = lab_planner_new(s, &o, &err);
    assert_non_null(p);
    size_t n_zero = 0, n_warp = 0, n_model = 0;
    for (int i = 0; i < 30; i++) {
        double x[2], y;
        lab_ask_info info;
        memset(&info, 0, sizeof info);
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
        if (!strcmp(info.origin, "planner")) {
            n_model++;
            n_warp += strstr(info.model, "log warp") != NULL;
        }
        f->eval(x, &y);
        y = y > 20.0 ? y - 20.0 : 0.0;
        n_zero += y == 0.0;
        assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
    }
    print_message("branin clipped at 20: %zu of 30 outcomes at the floor, log warp on %zu of %zu "
                  "model proposals\n", n_zero, n_warp, n_model);
    assert_true(n_zero >= 2);
    assert_int_equal(n_warp, 0);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

static void test_multiobjective(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("zdt1");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    lab_planner_opts o = {.kind = "gp", .seed = 2, .n_objectives = 2,
                          .initial_kind = "sobol", .initial_count = 8};
    lab_planner *p = lab_planner_new(s, &o, &err);
    double ys[25 * 2];
    for (int i = 0; i < 25; i++) {
        double x[3];
        lab_ask_info info;
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, &info), 0);
        f->eval(x, ys + 2 * i);
        lab_planner_tell(p, x, ys + 2 * i, LAB_OUTCOME_MEASURED);
        if (i >= 8)
            assert_non_null(strstr(info.model, "parego"));
    }
    double hv = lab_pareto_hypervolume(25, 2, ys, f->ref);
    print_message("zdt1 budget 25: hypervolume %.4f of %.4f\n", hv, f->optimum);
    assert_true(hv > 0.6);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_grad),
        cmocka_unit_test(test_nll_grad),
        cmocka_unit_test(test_nll_grad_large),
        cmocka_unit_test(test_chol_jitter),
        cmocka_unit_test(test_acquisitions),
        cmocka_unit_test(test_constraints_categorical),
        cmocka_unit_test(test_determinism_resume),
        cmocka_unit_test(test_batch_pending),
        cmocka_unit_test(test_async_rebuilt),
        cmocka_unit_test(test_batch_prior_shift),
        cmocka_unit_test(test_async_in_flight),
        cmocka_unit_test(test_fantasy_update),
        cmocka_unit_test(test_batch_fantasies),
        cmocka_unit_test(test_batch_of_two_exploits),
        cmocka_unit_test(test_multiobjective_batch),
        cmocka_unit_test(test_trust_region),
        cmocka_unit_test(test_failures_avoided),
        cmocka_unit_test(test_feasibility_learns_region),
        cmocka_unit_test(test_default_initial_design),
        cmocka_unit_test(test_provenance_objectives),
        cmocka_unit_test(test_output_warp),
        cmocka_unit_test(test_output_warp_ties),
        cmocka_unit_test(test_pareto),
        cmocka_unit_test(test_beats_random),
        cmocka_unit_test(test_refines_minimum),
        cmocka_unit_test(test_multiobjective),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
