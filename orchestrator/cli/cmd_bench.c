/* `labloop bench`: benchmarks that print figures (they assert nothing about
 * time). One table of bench kinds: `planner` (optimisation quality on the
 * built-in test functions, time per proposal, and a --timing mode for one
 * proposal at n = 100, 300, 1000 observations in d = 6), `dispatch` (steps
 * through the whole path: planner, ZeroMQ, real worker processes, the hub
 * commit) and `utilisation` (makespan of a lab with one bottleneck
 * instrument against its lower bound); `echo` (the bare ceiling dispatch is
 * compared with) lives in bench_echo.c.
 * Not for: tests (tests/unit), the planners themselves (planners/).
 */
#include "orchestrator/cli/commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/log.h"
#include "orchestrator/config.h"
#include "orchestrator/orch.h"
#include "planners/pareto.h"
#include "planners/planner.h"
#include "planners/rng.h"
#include "planners/testfuncs.h"
#include "sim/model.h"
#include "sim/swarm.h"
#include "common/keys.h"
#include "common/banned.h"

typedef struct s_bench_kind {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} s_bench_kind;

static int s_bench_planner(int argc, char **argv);
static int s_bench_dispatch(int argc, char **argv);
static int s_bench_utilisation(int argc, char **argv);
static int s_bench_swarm(int argc, char **argv);

static const s_bench_kind s_kinds[] = {
    {"planner", s_bench_planner, "planner quality (regret) and time per proposal"},
    {"dispatch", s_bench_dispatch, "step round trips and throughput through the whole path"},
    {"utilisation", s_bench_utilisation, "makespan of a lab with a bottleneck instrument vs its bound"},
    {"echo", lab_bench_echo, "the bare ZeroMQ round-trip ceiling that dispatch is measured against"},
    {"swarm", s_bench_swarm, "many simulated null devices in one process (a lab of 1,000 devices)"},
};
#define S_N_KINDS (sizeof s_kinds / sizeof s_kinds[0])

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *v, size_t n)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, s_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void s_planner_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop bench planner --func NAME --budget N --seeds S\n"
            "                             [--planner gp|random|sobol] [--batch B [--refill]] [--json]\n"
            "                             [--initial N] [--acquisition ei|log_ei|ucb] [--noise SD]\n"
            "                             [--trace]\n"
            "       labloop bench planner --timing [--repeat R] [--json]\n"
            "       labloop bench planner --describe FUNC | --eval FUNC\n"
            "\n"
            "Minimise a built-in test function with a planner, seeds 0..S-1, and print\n"
            "the simple regret after N evaluations (best found minus the known optimum;\n"
            "for two objectives the hypervolume gap) and the median time per ask.\n"
            "With --json one line per seed:\n"
            "  {\"func\",\"planner\",\"seed\",\"budget\",\"best\",\"regret\",\"ask_ms_median\",\n"
            "   \"batch\",\"n_model\",\"n_bound\",\"fail_first\",\"fail_second\",\"refill\",\"asks\",\n"
            "   \"noise\"}\n"
            "  (n_model: points the model chose, n_bound: those with a coordinate on a\n"
            "  bound; fail_first/fail_second: failed experiments in each half; asks:\n"
            "  calls of the planner's ask)\n"
            "without it one line per seed and a median summary line.\n"
            "  --batch B     ask B points, evaluate all B, tell all B, ask the next B\n"
            "                (a campaign's planner: {batch: B, refill: false})\n"
            "  --refill      with --batch B: B experiments in flight, as the orchestrator\n"
            "                runs planner.batch: B by default; the oldest finishes and\n"
            "                is told, then one new point is asked with the B-1 in\n"
            "                flight as pending\n"
            "  --initial N   Sobol points before a model-based planner (default max(10, 2(d+1)))\n"
            "  --noise SD    tell the planner each value plus Gaussian noise of this sd\n"
            "                (seeded by the run's seed); the regret counts the true\n"
            "                values of the points it chose\n"
            "  --trace       one line per experiment on stderr as it is told: seed, number,\n"
            "                x, its regret and the best before it (or its values; true\n"
            "                values, with --noise also what was told), and\n"
            "                the planner's origin, reason and model summary\n"
            "  --timing      time one gp proposal at n = 100, 300, 1000 observations of\n"
            "                hartmann6 (d = 6): a refit point, the incremental path\n"
            "                (one more observation, Cholesky append) and a rebuilt planner;\n"
            "                each figure the median of R runs (--repeat, default 3), the\n"
            "                refit's range in brackets\n"
            "  --describe F  the function's dimensions, bounds and optimum as JSON\n"
            "  --eval F      evaluate F at the points on stdin (d numbers a line); prints\n"
            "                the values, \"fail\" or \"infeasible\" per line\n"
            "\n"
            "functions:");
    for (const char *const *n = lab_testfunc_names(); *n; n++)
        fprintf(out, " %s", *n);
    fprintf(out, " nanocrystal_qy (the simulated lab's emulator)");
    fprintf(out, "\n\nexamples:\n  labloop bench planner --func branin --budget 30 --seeds 10 "
                 "--planner gp --json\n"
                 "  labloop bench planner --func hartmann6 --budget 50 --seeds 10 --batch 4 "
                 "--refill --json\n"
                 "  labloop bench planner --func hartmann6 --budget 50 --seeds 1 --batch 4 "
                 "--trace\n");
}

typedef struct {
    double best, regret, ask_ms;
    size_t n_model, n_bound;        /* model-chosen points, those with a coordinate on a bound */
    size_t fail_first, fail_second; /* failed experiments in the first and second half */
    size_t asks;                    /* calls of lab_planner_ask */
    int trace;                      /* in: one line per experiment on stderr */
    uint64_t seed;                  /* in */
    double noise;                   /* in: sd of the noise added to what the planner is told */
    lab_rng noise_rng;              /* its stream, seeded from the run's seed */
} s_run_result;

/* A standard normal draw (Box-Muller). */
static double s_normal(lab_rng *r)
{
    double u = 1.0 - lab_rng_uniform(r), v = lab_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* --trace: one line per experiment on stderr, as it is told: the seed, the
 * experiment's number, its value(s), the best value before it (minimised
 * objective; true values, also with --noise, which adds what the planner
 * was told), why the planner proposed it and its raw model summary. "best
 * before" counts every experiment told before this one, in a synchronous
 * batch also the batch's earlier points, which the planner had not seen
 * when it proposed this one. */
static void s_trace(const lab_testfunc *f, uint64_t seed, size_t number, const double *x,
                    const double *y, const double *told, double best, const lab_ask_info *in)
{
    fprintf(stderr, "trace seed %llu exp %zu x", (unsigned long long)seed, number);
    for (size_t i = 0; i < f->d; i++)
        fprintf(stderr, " %.6g", x[i]);
    if (!y) {
        fprintf(stderr, " failed");
    } else if (f->m == 1) {
        fprintf(stderr, " regret %.4g (best before ", y[0] - f->optimum);
        if (isfinite(best))
            fprintf(stderr, "%.4g)", best - f->optimum);
        else
            fprintf(stderr, "none)");
    } else {
        for (size_t j = 0; j < f->m; j++)
            fprintf(stderr, " y%zu %.6g", j, y[j]);
    }
    if (y && told != y) /* --noise: what the planner was told */
        for (size_t j = 0; j < f->m; j++)
            f->m > 1 ? fprintf(stderr, " told%zu %.6g", j, told[j])
                     : fprintf(stderr, " told %.6g", told[j]);
    fprintf(stderr, " [%s] %s%s%s\n", in->origin, in->reason, in->model[0] ? " | " : "",
            in->model);
}

/* 1 when a coordinate of x lies on (within 1e-9 of the range from) its bound. */
static int s_on_bound(const lab_testfunc *f, const double *x)
{
    for (size_t i = 0; i < f->d; i++) {
        double tol = 1e-9 * (f->high[i] - f->low[i]);
        if (x[i] <= f->low[i] + tol || x[i] >= f->high[i] - tol)
            return 1;
    }
    return 0;
}

/* One proposal evaluated and told; counts it into res and the values ys. */
static void s_eval_tell(const lab_testfunc *f, lab_planner *p, const char *kind, const double *x,
                        const lab_ask_info *in, size_t number, size_t budget, double *ys, size_t *n_y,
                        double *best, s_run_result *res)
{
    size_t m = f->m;
    double y[3];
    int failed = f->eval(x, y);
    if (!strcmp(in->origin, "planner") && !strcmp(kind, "gp")) {
        res->n_model++;
        res->n_bound += (size_t)s_on_bound(f, x);
    }
    if (failed)
        *(number < budget / 2 ? &res->fail_first : &res->fail_second) += 1;
    /* with --noise the planner is told a measurement, the regret counts the
     * true values of the points it chose */
    double told[3];
    for (size_t j = 0; j < m && !failed; j++)
        told[j] = y[j] + (res->noise > 0.0 ? res->noise * s_normal(&res->noise_rng) : 0.0);
    if (res->trace)
        s_trace(f, res->seed, number, x, failed ? NULL : y, res->noise > 0.0 ? told : y, *best,
                in);
    lab_planner_tell(p, x, failed ? NULL : told,
                     failed ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED);
    if (!failed) {
        memcpy(ys + *n_y * m, y, m * sizeof *y);
        (*n_y)++;
        if (m == 1 && y[0] < *best)
            *best = y[0];
    }
}

/* Runs a planner for budget evaluations of f. Synchronous batches (ask
 * batch, evaluate all, tell all), or with refill what the orchestrator does
 * with `batch` experiments in flight: the oldest finishes, is told, and one
 * new proposal is asked with the others still in flight as pending points. */
static int s_run(const lab_testfunc *f, const lab_space *space, const char *kind, uint64_t seed,
                 size_t budget, size_t batch, size_t initial, const char *acq, int refill,
                 s_run_result *res)
{
    lab_err err = {0};
    lab_planner_opts o = {.kind = kind, .seed = seed, .n_objectives = f->m,
                          .acquisition = acq};
    if (strcmp(kind, "random") && strcmp(kind, "sobol")) {
        o.initial_kind = "sobol";
        o.initial_count = initial;
    }
    lab_planner *p = lab_planner_new(space, &o, &err);
    if (!p) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
        return -1;
    }
    size_t d = f->d, m = f->m;
    double *x = malloc(batch * d * sizeof *x), *ys = malloc(budget * m * sizeof *ys);
    double *times = malloc((budget + 1) * sizeof *times);
    lab_ask_info *info = calloc(batch, sizeof *info);
    size_t n_times = 0, n_y = 0;
    int trace = res->trace;
    double noise = res->noise;
    memset(res, 0, sizeof *res);
    res->trace = trace;
    res->seed = seed;
    res->noise = noise;
    lab_rng_seed(&res->noise_rng, seed, 0x6e6f697365ULL); /* "noise" */
    int rc = 0;
    if (!x || !ys || !times || !info) {
        fprintf(stderr, "labloop bench: out of memory\n");
        rc = -1;
        goto out;
    }
    double best = INFINITY;
    size_t asked = 0, done = 0, in_flight = 0;
    while (done < budget) {
        /* synchronous: a whole batch when none is in flight; refill: the
         * first batch, then one at a time with the others pending */
        size_t room = batch - in_flight, k = budget - asked < room ? budget - asked : room;
        if (k && (in_flight == 0 || refill)) {
            double t0 = s_now_ms();
            if (lab_planner_ask(p, k, in_flight ? x : NULL, in_flight, x + in_flight * d,
                                info + in_flight) < 0) {
                fprintf(stderr, "labloop bench: seed %llu: %s\n", (unsigned long long)seed,
                        lab_planner_last_error(p)->msg);
                rc = -1;
                goto out;
            }
            times[n_times++] = s_now_ms() - t0;
            res->asks++;
            in_flight += k;
            asked += k;
        }
        if (refill) {
            /* the oldest experiment finishes */
            s_eval_tell(f, p, kind, x, &info[0], done++, budget, ys, &n_y, &best, res);
            in_flight--;
            memmove(x, x + d, in_flight * d * sizeof *x);
            memmove(info, info + 1, in_flight * sizeof *info);
        } else {
            for (size_t i = 0; i < in_flight; i++)
                s_eval_tell(f, p, kind, x + i * d, &info[i], done++, budget, ys, &n_y, &best,
                            res);
            in_flight = 0;
        }
    }
    if (m == 1) {
        res->best = best;
        res->regret = best - f->optimum;
    } else {
        res->best = lab_pareto_hypervolume(n_y, m, ys, f->ref);
        res->regret = f->optimum - res->best;
    }
    res->ask_ms = s_median(times, n_times);
out:
    free(x);
    free(ys);
    free(times);
    free(info);
    lab_planner_destroy(&p);
    return rc;
}

/* One timing of each kind at n observations of hartmann6: the refit ask at
 * n (warm-started from a fit at n - 1, as in a campaign), the incremental
 * ask at n + 1 and a planner rebuilt from the n observations. */
static int s_timing_once(const lab_testfunc *f, const lab_space *space, size_t n, double ms[3],
                         char *how_refit, size_t how_len)
{
    lab_err err = {0};
    lab_planner_opts o = {.kind = "gp", .seed = 1, .n_objectives = 1};
    lab_planner *p = lab_planner_new(space, &o, &err);
    lab_planner *q = lab_planner_new(space, &o, &err);
    if (!p || !q) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
        lab_planner_destroy(&p);
        lab_planner_destroy(&q);
        return -1;
    }
    lab_rng rng;
    lab_rng_seed(&rng, 12345, n);
    double x[6], y[1], out[6];
    lab_ask_info info = {0};
    lab_planner *failed = NULL;
    int rc = 0;
    for (size_t i = 0; i < n + 1; i++) {
        for (size_t j = 0; j < 6; j++)
            x[j] = lab_rng_uniform(&rng);
        f->eval(x, y);
        if (i == n - 1 && lab_planner_ask(p, 1, NULL, 0, out, NULL) < 0) {
            failed = p; /* warm-up: the model at n - 1 */
            break;
        }
        lab_planner_tell(p, x, y, LAB_OUTCOME_MEASURED);
        if (i < n)
            lab_planner_tell(q, x, y, LAB_OUTCOME_MEASURED);
        double t0 = s_now_ms();
        if (i == n - 1) {
            if (lab_planner_ask(p, 1, NULL, 0, out, &info) < 0) {
                failed = p;
                break;
            }
            ms[0] = s_now_ms() - t0;
            const char *h = strstr(info.model, "(");
            snprintf(how_refit, how_len, "%.*s", h ? (int)strcspn(h + 1, ")") : 0,
                     h ? h + 1 : "");
            t0 = s_now_ms();
            if (lab_planner_ask(q, 1, NULL, 0, out, NULL) < 0) {
                failed = q;
                break;
            }
            ms[2] = s_now_ms() - t0;
        } else if (i == n) {
            if (lab_planner_ask(p, 1, NULL, 0, out, NULL) < 0) {
                failed = p;
                break;
            }
            ms[1] = s_now_ms() - t0;
        }
    }
    if (failed) {
        fprintf(stderr, "labloop bench: %s\n", lab_planner_last_error(failed)->msg);
        rc = -1;
    }
    lab_planner_destroy(&p);
    lab_planner_destroy(&q);
    return rc ? -1 : 0;
}

/* --timing: each figure is the median of `repeats` runs of the same
 * computation (the same observations, the same seed), with the refit's
 * range: on a shared machine one run can take half as long again as the
 * next, and one run alone says little. */
static int s_timing(int json, size_t repeats)
{
    const lab_testfunc *f = lab_testfunc_find("hartmann6");
    lab_err err = {0};
    lab_space *space = lab_testfunc_space(f, &err);
    if (!space) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
        return 1;
    }
    static const size_t ns[] = {100, 300, 1000};
    double *ms = malloc(3 * repeats * sizeof *ms);
    int rc = ms ? 0 : -1;
    for (size_t t = 0; t < sizeof ns / sizeof ns[0] && !rc; t++) {
        size_t n = ns[t];
        char how_refit[64] = "";
        double *refit = ms, *inc = ms + repeats, *rebuild = ms + 2 * repeats;
        for (size_t r = 0; r < repeats && !rc; r++) {
            double one[3] = {0};
            rc = s_timing_once(f, space, n, one, how_refit, sizeof how_refit);
            refit[r] = one[0], inc[r] = one[1], rebuild[r] = one[2];
        }
        if (rc)
            break;
        double lo = refit[0], hi = refit[0];
        for (size_t r = 1; r < repeats; r++) {
            lo = refit[r] < lo ? refit[r] : lo;
            hi = refit[r] > hi ? refit[r] : hi;
        }
        double m_refit = s_median(refit, repeats), m_inc = s_median(inc, repeats),
               m_rebuild = s_median(rebuild, repeats);
        if (json)
            printf("{\"timing\":\"gp\",\"func\":\"hartmann6\",\"d\":6,\"n\":%zu,"
                   "\"refit_ms\":%.1f,\"refit_ms_min\":%.1f,\"refit_ms_max\":%.1f,"
                   "\"refit\":\"%s\",\"incremental_ms\":%.1f,\"rebuild_ms\":%.1f,"
                   "\"repeats\":%zu}\n",
                   n, m_refit, lo, hi, how_refit, m_inc, m_rebuild, repeats);
        else
            printf("gp d=6 n=%-5zu refit %8.1f ms [%.1f-%.1f] (%s)   incremental (n+1, append) "
                   "%8.1f ms   rebuilt planner %8.1f ms\n",
                   n, m_refit, lo, hi, how_refit, m_inc, m_rebuild);
        fflush(stdout);
    }
    if (!ms)
        fprintf(stderr, "labloop bench: out of memory\n");
    free(ms);
    lab_space_destroy(&space);
    return rc ? 1 : 0;
}

/* The simulated lab's materials emulator (sim/model.h, nanocrystal_pl) as a
 * benchmark function, "nanocrystal_qy": maximise the quantum yield (minimise
 * its negative) over Cs:Pb ratio, temperature, log10 of the time in
 * seconds, the ligand and the number of washes, noise-free. Every planner
 * sees a 5-D box: the ligand's coordinate in [0, 3) is floored to its
 * choice index and the washes' in [0, 4) to a count, so the categorical and
 * integer inputs are steps of the function, the same for labloop and its
 * peers. Synthesis fails in two regions (lead-rich hot long runs, Cs-rich
 * cold ones): those experiments fail. The optimum is the model's own
 * (found numerically over every ligand and wash count). The model lives as
 * long as the command (created on the first lookup). */
static lab_model *s_nc_model;
static lab_testfunc s_nc_func = {"nanocrystal_qy", 5, 1, {0.2, 120.0, 0.0, 0.0, 0.0},
                                 {1.5, 220.0, 0.0, 3.0, 4.0}, NULL, 0.0, {0}, NULL,
                                 "the simulated lab's nanocrystal emulator: -quantum yield; "
                                 "ligand and washes floored; fails in two regions"};

static int s_nc_eval(const double *x, double *y)
{
    double xm[5] = {x[0], x[1], pow(10.0, x[2]), fmin(floor(x[3]), 2.0), fmin(floor(x[4]), 3.0)};
    double out[2];
    if (xm[2] < 5.0) /* pow rounding at the ends of the box */
        xm[2] = 5.0;
    if (xm[2] > 600.0)
        xm[2] = 600.0;
    if (lab_model_truth(s_nc_model, xm, out) != 0) {
        y[0] = NAN;
        return 1;
    }
    y[0] = -out[0];
    return 0;
}

/* A built-in test function (planners/testfuncs.h) or the emulator above. */
static const lab_testfunc *s_func_find(const char *name)
{
    const lab_testfunc *f = lab_testfunc_find(name);
    if (f || !name || strcmp(name, s_nc_func.name))
        return f;
    if (!s_nc_model) {
        lab_err err = {0};
        s_nc_model = lab_model_new("nanocrystal_pl", 0.0, 0, &err);
        if (!s_nc_model) {
            fprintf(stderr, "labloop bench: %s\n", err.msg);
            return NULL;
        }
        double xo[5], y0;
        lab_model_optimum(s_nc_model, xo, &y0);
        s_nc_func.optimum = -y0;
        s_nc_func.low[2] = log10(5.0);
        s_nc_func.high[2] = log10(600.0);
        s_nc_func.eval = s_nc_eval;
    }
    return &s_nc_func;
}

/* --describe FUNC: the function as one JSON line, for the peer script
 * (tests/planner_peers/peers.py). */
static int s_describe(const lab_testfunc *f)
{
    printf("{\"func\":\"%s\",\"d\":%zu,\"m\":%zu,\"low\":[", f->name, f->d, f->m);
    for (size_t i = 0; i < f->d; i++)
        printf("%s%.17g", i ? "," : "", f->low[i]);
    printf("],\"high\":[");
    for (size_t i = 0; i < f->d; i++)
        printf("%s%.17g", i ? "," : "", f->high[i]);
    printf("],\"constrained\":%s,\"optimum\":%.17g,\"ref\":[%.17g,%.17g]}\n",
           f->constraint ? "true" : "false", f->optimum, f->ref[0], f->ref[1]);
    return 0;
}

/* --eval FUNC: one point per stdin line (d numbers), one answer per line:
 * the m values, "fail" (the experiment fails there) or "infeasible" (outside
 * the box or the constraint). The peers evaluate through this, so both sides
 * compute the same function. */
static int s_eval_stdin(const lab_testfunc *f, const lab_space *space)
{
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        double x[LAB_TESTFUNC_MAX_DIM], y[3];
        char *p = line, *end;
        size_t n = 0;
        while (n < f->d) {
            x[n] = strtod(p, &end);
            if (end == p)
                break;
            p = end, n++;
        }
        if (n != f->d) {
            fprintf(stderr, "labloop bench planner --eval: a line needs %zu numbers\n", f->d);
            return 2;
        }
        int inside = lab_space_feasible(space, x);
        for (size_t i = 0; i < f->d; i++)
            inside &= x[i] >= f->low[i] && x[i] <= f->high[i];
        if (!inside) {
            puts("infeasible");
        } else if (f->eval(x, y)) {
            puts("fail");
        } else {
            for (size_t j = 0; j < f->m; j++)
                printf("%s%.17g", j ? " " : "", y[j]);
            putchar('\n');
        }
        fflush(stdout);
    }
    return 0;
}

static int s_parse_size(const char *opt, const char *v, size_t *out)
{
    char *end;
    if (!v) {
        fprintf(stderr, "labloop bench planner: %s needs a value\n", opt);
        return -1;
    }
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || end == v || v[0] == '-') {
        fprintf(stderr, "labloop bench planner: %s '%s' is not a count\n", opt, v);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

static int s_bench_planner(int argc, char **argv)
{
    const char *func = NULL, *kind = "gp", *acq = NULL;
    size_t budget = 0, seeds = 0, batch = 1, initial = 0, repeats = 3;
    int json = 0, timing = 0, have_initial = 0, have_repeat = 0, eval = 0, describe = 0, refill = 0, trace = 0;
    double noise = 0.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_planner_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--refill")) {
            refill = 1;
        } else if (!strcmp(a, "--trace")) {
            trace = 1;
        } else if (!strcmp(a, "--noise")) {
            char *end = NULL;
            if (!v) {
                fprintf(stderr, "labloop bench planner: --noise needs a value (a standard "
                                "deviation >= 0)\n");
                return 2;
            }
            noise = strtod(v, &end);
            if (end == v || *end || !isfinite(noise) || noise < 0.0) {
                fprintf(stderr, "labloop bench planner: --noise needs a standard deviation "
                                ">= 0 (got '%s')\n", v);
                return 2;
            }
            noise += 0.0; /* -0 is 0 */
            i++;
        } else if (!strcmp(a, "--timing")) {
            timing = 1;
        } else if (!strcmp(a, "--repeat")) {
            if (s_parse_size(a, v, &repeats) < 0)
                return 2;
            have_repeat = 1;
            if (repeats < 1 || repeats > 100) {
                fprintf(stderr, "labloop bench planner: --repeat needs 1 to 100 (got %zu)\n",
                        repeats);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--func") && v) {
            func = v, i++;
        } else if (!strcmp(a, "--eval") && v) {
            func = v, eval = 1, i++;
        } else if (!strcmp(a, "--describe") && v) {
            func = v, describe = 1, i++;
        } else if (!strcmp(a, "--planner") && v) {
            kind = v, i++;
        } else if (!strcmp(a, "--acquisition") && v) {
            acq = v, i++;
        } else if (!strcmp(a, "--budget")) {
            if (s_parse_size(a, v, &budget) < 0)
                return 2;
            i++;
        } else if (!strcmp(a, "--seeds")) {
            if (s_parse_size(a, v, &seeds) < 0)
                return 2;
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (s_parse_size(a, v, &batch) < 0)
                return 2;
            i++;
        } else if (!strcmp(a, "--initial")) {
            if (s_parse_size(a, v, &initial) < 0)
                return 2;
            have_initial = 1, i++;
        } else {
            fprintf(stderr, "labloop bench planner: unknown or incomplete option '%s'\n\n", a);
            s_planner_usage(stderr);
            return 2;
        }
    }
    if (have_repeat && !timing) {
        fprintf(stderr, "labloop bench planner: --repeat is for --timing\n");
        return 2;
    }
    if (timing)
        return s_timing(json, repeats);
    const lab_testfunc *f = s_func_find(func);
    if (f && describe)
        return s_describe(f);
    if (f && eval) {
        lab_err e0 = {0};
        lab_space *sp = lab_testfunc_space(f, &e0);
        if (!sp) {
            fprintf(stderr, "labloop bench: %s\n", e0.msg);
            return 1;
        }
        int erc = s_eval_stdin(f, sp);
        lab_space_destroy(&sp);
        return erc;
    }
    if (!f || !budget || !seeds || !batch) {
        if (func && !f)
            fprintf(stderr, "labloop bench planner: no function '%s'\n\n", func);
        else
            fprintf(stderr, "labloop bench planner: --func, --budget and --seeds are needed "
                            "(budget, seeds and batch > 0)\n\n");
        s_planner_usage(stderr);
        return 2;
    }
    if (!have_initial)
        initial = lab_planner_default_initial(f->d);
    lab_err err = {0};
    lab_space *space = lab_testfunc_space(f, &err);
    if (!space) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
        return 1;
    }
    double *regrets = calloc(seeds, sizeof *regrets), *ms = calloc(seeds, sizeof *ms);
    int rc = 0;
    if (!regrets || !ms) {
        fprintf(stderr, "labloop bench: out of memory\n");
        rc = 1;
        goto out;
    }
    for (size_t s = 0; s < seeds; s++) {
        s_run_result r = {.trace = trace, .noise = noise};
        if (s_run(f, space, kind, (uint64_t)s, budget, batch, initial, acq, refill, &r) < 0) {
            rc = 1;
            goto out;
        }
        regrets[s] = r.regret;
        ms[s] = r.ask_ms;
        if (json)
            printf("{\"func\":\"%s\",\"planner\":\"%s\",\"seed\":%zu,\"budget\":%zu,"
                   "\"best\":%.10g,\"regret\":%.6g,\"ask_ms_median\":%.3f,\"batch\":%zu,"
                   "\"n_model\":%zu,\"n_bound\":%zu,\"fail_first\":%zu,\"fail_second\":%zu,"
                   "\"refill\":%s,\"asks\":%zu,\"noise\":%.15g}\n",
                   f->name, kind, s, budget, r.best, r.regret, r.ask_ms, batch, r.n_model,
                   r.n_bound, r.fail_first, r.fail_second, refill ? "true" : "false", r.asks,
                   noise);
        else
            printf("%-10s %-6s seed %-3zu budget %-4zu best %-14.8g %s %-12.4g ask %.2f ms\n",
                   f->name, kind, s, budget, r.best, f->m > 1 ? "hv gap" : "regret", r.regret,
                   r.ask_ms);
        fflush(stdout);
    }
    if (!json)
        printf("%-10s %-6s median over %zu seeds: %s %.4g, ask %.2f ms (batch %zu%s)\n", f->name,
               kind, seeds, f->m > 1 ? "hv gap" : "regret", s_median(regrets, seeds),
               s_median(ms, seeds), batch, refill ? ", refilled one at a time" : "");
out:
    free(regrets);
    free(ms);
    lab_space_destroy(&space);
    return rc;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: labloop bench KIND [ARGS]   (labloop bench KIND --help)\n\nkinds:\n");
    for (size_t i = 0; i < S_N_KINDS; i++)
        fprintf(out, "  %-10s %s\n", s_kinds[i].name, s_kinds[i].help);
    fprintf(out, "\nexample:\n  labloop bench planner --func branin --budget 30 --seeds 10\n");
}

int lab_cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < S_N_KINDS; i++)
        if (!strcmp(argv[1], s_kinds[i].name))
            return s_kinds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "labloop bench: no bench kind '%s'\n\n", argv[1]);
    s_usage(stderr);
    return 2;
}

/* ------------------------------------------------------------ lab benches */

static int s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Remove the bench's temporary directory and everything in it. */
static void s_remove_tree(const char *dir)
{
    if (nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "labloop bench: could not remove %s: %s\n", dir, strerror(errno));
}

/* A free TCP port on loopback (bound, read back, released). */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "labloop bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

/* Start `labloop sim LAB` as a child process, its output into log; or,
 * with swarm (the device endpoint and count), `labloop bench swarm`. */
static pid_t s_start_lab(const char *lab, const char *log, const char *swarm_ep, const char *swarm_n)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* The orchestrator's path is measured: the workers keep no journal
         * on disk (their fsyncs would dominate; see `labloop sim --help`). */
        char *args[] = {(char *)"labloop", (char *)"sim", (char *)lab, (char *)"--no-outbox", NULL};
        char *swarm[] = {(char *)"labloop", (char *)"bench", (char *)"swarm", (char *)"--endpoint", (char *)swarm_ep,
                         (char *)"--devices", (char *)swarm_n, (char *)"--capability", (char *)"null_op", NULL};
        execv(self, swarm_ep ? swarm : args);
        _exit(127);
    }
    return pid;
}

static void s_stop_lab(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

typedef struct s_lab_run {
    lab_orch_summary sum;
    double *lat_us;             /* copy, caller frees */
    size_t n_lat;
    char dev_name[8][32];
    double dev_busy[8];
    int dev_cap[8];
    size_t n_dev;
    const char *swarm_ep;       /* set: the devices are `bench swarm` with swarm_n devices */
    char swarm_n[24];
} s_lab_run;

/* Run the campaign in this process against the lab's worker processes. */
static int s_run_lab(const char *dir, const char *campaign, const char *lab, s_lab_run *out)
{
    char cpath[1024], lpath[1024], log[1024];
    snprintf(cpath, sizeof cpath, "%s/campaign.yaml", dir);
    snprintf(lpath, sizeof lpath, "%s/lab.yaml", dir);
    snprintf(log, sizeof log, "%s/lab.log", dir);
    if (s_write(cpath, campaign) < 0 || s_write(lpath, lab) < 0)
        return -1;
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load(cpath, stderr, &err);
    if (!cfg)
        return -1;
    pid_t lab_pid = s_start_lab(lpath, log, out->swarm_ep, out->swarm_n);
    lab_orch_opts opts = {.db_path = NULL, .progress = NULL};
    lab_orch *o = lab_orch_new(cfg, &opts, &err);
    int rc = -1;
    if (!o) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
    } else if (lab_orch_run(o, &out->sum, &err) < 0) {
        fprintf(stderr, "labloop bench: %s\n", err.msg);
    } else {
        const double *lat;
        out->n_lat = lab_orch_latencies(o, &lat);
        out->lat_us = malloc((out->n_lat + 1) * sizeof *lat);
        if (out->lat_us)
            memcpy(out->lat_us, lat, out->n_lat * sizeof *lat);
        for (out->n_dev = 0; out->n_dev < 8; out->n_dev++) {
            const char *name;
            if (lab_orch_device_stats(o, out->n_dev, &name, &out->dev_busy[out->n_dev],
                                      &out->dev_cap[out->n_dev]) < 0)
                break;
            snprintf(out->dev_name[out->n_dev], sizeof out->dev_name[0], "%s", name);
        }
        rc = 0;
    }
    lab_orch_destroy(&o);
    s_stop_lab(lab_pid);
    lab_config_destroy(&cfg);
    return rc;
}

/* Two campaigns, bench-a and bench-b (campaign with its name changed, half
 * the experiments each, weight 1 each), submitted to a lab service in this
 * process that runs on the same devices and endpoints, until both end. */
static int s_run_lab_two(const char *dir, const char *campaign, const char *lab, s_lab_run *out)
{
    char spath[1024], lpath[1024], log[1024];
    snprintf(spath, sizeof spath, "%s/service.yaml", dir);
    snprintf(lpath, sizeof lpath, "%s/lab.yaml", dir);
    snprintf(log, sizeof log, "%s/lab.log", dir);
    const char *lab_part = strstr(campaign, "endpoints:"), *name = strstr(campaign, "name: bench,");
    if (!lab_part || !name)
        return -1;
    size_t n = strlen(campaign) + 64;
    char *svc = malloc(n), *ca = malloc(n), *cb = malloc(n);
    int rc = -1;
    lab_campaign_cfg *cfg = NULL;
    lab_orch *o = NULL;
    pid_t lab_pid = -1;
    if (!svc || !ca || !cb)
        goto done;
    /* the lab: the campaign's own sections (endpoints, heartbeat, hub, devices) */
    snprintf(svc, n, "lab: {name: bench-two}\n%s", lab_part);
    char *hub = strstr(svc, "hub: bench-");
    if (hub)
        memcpy(hub, "hub: benc2-", 11);        /* a hub of its own */
    if (s_write(spath, svc) < 0 || s_write(lpath, lab) < 0)
        goto done;
    lab_err err = {0};
    cfg = lab_config_load_lab(spath, stderr, &err);
    if (!cfg)
        goto done;
    for (int k = 0; k < 2; k++) {
        char *c = k ? cb : ca;
        snprintf(c, n, "%.*sname: bench-%c,%s", (int)(name - campaign), campaign, 'a' + k,
                 name + strlen("name: bench,"));
        /* half the experiments each: the same steps in all as one campaign's */
        char *b = strstr(c, "experiments: ");
        if (b) {
            long e = atol(b + strlen("experiments: "));
            char *end = strchr(b, '}');
            if (end) {
                char tail[4096];
                snprintf(tail, sizeof tail, "%s", end);
                snprintf(b, n - (size_t)(b - c), "experiments: %ld%s", (e + 1) / 2, tail);
            }
        }
    }
    lab_pid = s_start_lab(lpath, log, NULL, NULL);
    lab_orch_opts opts = {.db_path = NULL, .progress = NULL, .until_done = 1};
    o = lab_orch_new_lab(cfg, &opts, &err);
    if (!o || lab_orch_submit_local(o, "bench-a.yaml", ca, strlen(ca), 1, &err) < 0 ||
        lab_orch_submit_local(o, "bench-b.yaml", cb, strlen(cb), 1, &err) < 0 ||
        lab_orch_run(o, &out->sum, &err) < 0) {
        fprintf(stderr, "labloop bench: two campaigns: %s\n", err.msg);
        goto done;
    }
    rc = 0;
done:
    lab_orch_destroy(&o);
    s_stop_lab(lab_pid);
    lab_config_destroy(&cfg);
    free(svc);
    free(ca);
    free(cb);
    return rc;
}

static double s_percentile(double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, s_cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static double s_cpu_us(const struct rusage *r)
{
    return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 + (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec);
}

/* The null-step campaign and lab for `bench dispatch`. curve: both sides
 * use keys made in DIR/keys (CURVE with the ZAP handler, as a secured lab
 * runs). devices > 0: the campaign names that many devices of capacity 1
 * instead (a swarm's, w0 ..), still with workers * depth steps in flight;
 * ep (not NULL) gets the device endpoint. 0 on success. */
static int s_dispatch_files_n(const char *dir, const char *phase, int workers, int depth, long steps, int curve,
                              int devices, char *ep, size_t epn, char *campaign, size_t cn, char *lab, size_t ln)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    for (int w = curve ? -1 : workers; w < workers; w++) {
        char name[16], path[1100], pub[LAB_KEY_Z85];
        snprintf(name, sizeof name, w < 0 ? "lab" : "w%d", w);
        snprintf(path, sizeof path, "%s/%s.key", keys, name);
        lab_err err = {0};
        if (access(path, F_OK) != 0 && lab_keys_generate(keys, name, 0, pub, &err) < 0) {
            fprintf(stderr, "labloop bench: %s\n", err.msg);
            return -1;
        }
    }
    int port = s_free_port(), cport = s_free_port();
    if (ep)
        snprintf(ep, epn, "tcp://127.0.0.1:%d", port);
    size_t c = (size_t)snprintf(campaign, cn,
        "campaign: {name: bench, seed: 1, budget: {experiments: %ld}}\n"
        "space: [{name: x, type: real, low: 0, high: 1}]\n"
        "objectives: [{name: v, goal: minimize, from: op.x}]\n"
        "planner: {kind: random, batch: %d}\n"
        "workflow: [{step: op, capability: null_op, params: {x: \"${x}\"}}]\n"
        "endpoints: {devices: \"tcp://127.0.0.1:%d\", control: \"tcp://127.0.0.1:%d\"}\n"
        "heartbeat: {interval: 1s, liveness: 10}\n"
        "hub: bench-%s%s.db\n%s"
        "devices:\n", steps, workers * depth, port, cport, phase, curve ? "-curve" : "",
        curve ? "security: {key: keys/lab.key}\n" : "");
    size_t l = (size_t)snprintf(lab, ln,
        "lab: {name: bench-lab, endpoint: \"tcp://127.0.0.1:%d\", samples: \"%s/samples\"%s%s%s}\n"
        "devices:\n", port, dir, curve ? ", keys: \"" : "", curve ? keys : "", curve ? "\"" : "");
    for (int w = 0; w < workers && c < cn && l < ln; w++) {
        char key[48] = "";
        if (curve)
            snprintf(key, sizeof key, ", key: keys/w%d.pub", w);
        c += (size_t)snprintf(campaign + c, cn - c, "  - {name: w%d, capabilities: [null_op], capacity: %d%s}\n", w,
                              depth, key);
        l += (size_t)snprintf(lab + l, ln - l, "  - {name: w%d, driver: null, capabilities: [null_op], capacity: %d}\n", w, depth);
    }
    for (int w = workers; w < devices && c < cn; w++)
        c += (size_t)snprintf(campaign + c, cn - c, "  - {name: w%d, capabilities: [null_op]}\n", w);
    return c < cn && l < ln ? 0 : -1;
}

static int s_dispatch_files(const char *dir, const char *phase, int workers, int depth, long steps, int curve,
                            char *campaign, size_t cn, char *lab, size_t ln)
{
    return s_dispatch_files_n(dir, phase, workers, depth, steps, curve, 0, NULL, 0, campaign, cn, lab, ln);
}

/* Throughput with all W workers at work: from when the last of them
 * registered (the others had started dispatching by then) to the last
 * result; a worker process takes tens of ms to start. window says which. */
static double s_rate(const s_lab_run *r, int workers, char *window, size_t n, long *steps_out, double *secs_out)
{
    long steps = r->sum.steps_done;
    double secs = r->sum.active_s;
    snprintf(window, n, "from the first dispatch");
    if (r->sum.all_ready_s > 0 && r->sum.all_ready_steps >= steps / 2) {
        steps = r->sum.all_ready_steps;
        secs = r->sum.all_ready_s;
        snprintf(window, n, "once all %d had registered", workers);
    }
    *steps_out = steps;
    *secs_out = secs;
    return secs > 0 ? (double)steps / secs : 0;
}

/* One throughput run against a swarm of n devices; steps/s (the window
 * once all had registered) and the orchestrator's CPU per step. */
static int s_swarm_run(const char *dir, int workers, int depth, int n, long steps, char *campaign, size_t cn,
                       char *lab, size_t ln, double *rate, double *cpu_us)
{
    char ep[64], phase[32], window[64];
    snprintf(phase, sizeof phase, "swarm%d", n);
    s_lab_run run = {0};
    run.swarm_ep = ep;
    snprintf(run.swarm_n, sizeof run.swarm_n, "%d", n);
    if (s_dispatch_files_n(dir, phase, workers * depth, 1, steps, 0, n, ep, sizeof ep,
                           campaign, cn, lab, ln) < 0)
        return -1;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int rc = s_run_lab(dir, campaign, lab, &run);
    getrusage(RUSAGE_SELF, &r1);
    if (rc == 0) {
        long st;
        double secs;
        *rate = s_rate(&run, n, window, sizeof window, &st, &secs);
        *cpu_us = (s_cpu_us(&r1) - s_cpu_us(&r0)) / (run.sum.steps_done > 0 ? (double)run.sum.steps_done : 1);
    }
    free(run.lat_us);
    return rc;
}

/* --devices N: the same steps in flight on W x D devices and on N, both
 * simulated by one swarm process, so that only the device count differs. */
static int s_scale_phases(const char *dir, int workers, int depth, int devices, long steps, int json,
                          char *campaign, size_t cn, char *lab, size_t ln)
{
    int few = workers * depth;
    double r_few = 0, c_few = 0, r_many = 0, c_many = 0;
    steps *= 2;                     /* the swarm is quick: a longer window steadies the ratio */
    fprintf(stderr, "bench dispatch: %d steps in flight on %d swarm devices, %ld steps...\n", few, few, steps);
    if (s_swarm_run(dir, workers, depth, few, steps, campaign, cn, lab, ln, &r_few, &c_few) < 0)
        return -1;
    fprintf(stderr, "bench dispatch: %d steps in flight on %d swarm devices, %ld steps...\n", few, devices, steps);
    if (s_swarm_run(dir, workers, depth, devices, steps, campaign, cn, lab, ln, &r_many, &c_many) < 0)
        return -1;
    printf("dispatch with %d devices against %d (one swarm process, %d steps in flight): %.0f steps/s against %.0f"
           " (%.0f %%; goal within 20 %%), orchestrator CPU per step %.0f us against %.0f us\n",
           devices, few, few, r_many, r_few, r_few > 0 ? 100.0 * r_many / r_few : 0, c_many, c_few);
    if (json)
        printf("{\"devices\":%d,\"steps_per_s\":%.0f,\"few_devices\":%d,\"few_steps_per_s\":%.0f,"
               "\"cpu_us_per_step\":%.1f,\"few_cpu_us_per_step\":%.1f}\n",
               devices, r_many, few, r_few, c_many, c_few);
    return 0;
}

static int s_bench_dispatch(int argc, char **argv)
{
    int workers = 32, json = 0, depth = 1, curve = 0, devices = 0, campaigns = 0;
    long steps = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            workers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
            depth = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--curve")) {
            curve = 1;
        } else if (!strcmp(argv[i], "--devices") && i + 1 < argc) {
            devices = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--campaigns") && i + 1 < argc) {
            campaigns = atoi(argv[++i]);
            if (campaigns != 1 && campaigns != 2) {
                fprintf(stderr, "labloop bench dispatch: --campaigns must be 1 or 2, got '%s'\n", argv[i]);
                return 2;
            }
            campaigns = campaigns == 2;
        } else {
            fprintf(i == 1 && !strcmp(argv[i], "--help") ? stdout : stderr,
                    "usage: labloop bench dispatch [--workers W] [--steps N] [--depth D] [--curve] [--devices N]\n"
                    "                              [--campaigns 2] [--json]\n\n"
                    "Zero-duration steps through the whole path: planner, ZeroMQ, W worker\n"
                    "processes with the null driver, and the hub commit of every result.\n"
                    "Phase 1, latency: one worker, one step in flight (round trip p50/p99).\n"
                    "Phase 2, throughput: W workers, each kept busy (steps per second) with D\n"
                    "steps in flight each (default 1, as in a raw one-request echo test).\n"
                    "--curve: phase 2 again with CURVE on the device endpoint (keys, ZAP\n"
                    "handler, per-message checks), and the ratio of the two throughputs.\n"
                    "--devices N: the device count's effect: W x D steps in flight on W devices,\n"
                    "then on N devices (capacity 1 each), all simulated by one `bench swarm`\n"
                    "process, twice --steps each; steps/s and orchestrator CPU per step of both,\n"
                    "and their ratio.\n"
                    "--campaigns 2: phase 2 again as two campaigns (half the steps each, weight\n"
                    "1 each) in one lab service sharing the W workers: combined steps/s beside\n"
                    "the one campaign's of phase 2.\n\n"
                    "example:\n  labloop bench dispatch --workers 32 --steps 20000 --json\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (workers < 1 || workers > 256 || steps < 10 || depth < 1 || depth > 64 || devices < 0 ||
        devices > 100000 || (devices && devices < workers * depth)) {
        fprintf(stderr, "labloop bench dispatch: --workers must be 1..256, --depth 1..64, --steps at least 10 and "
                        "--devices at least W x D (up to 100000)\n");
        return 2;
    }
    lab_log_setup("bench", LAB_LOG_WARN);
    char dir[] = "/tmp/labloop-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "labloop bench: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    size_t cap = 4096 + (size_t)(workers > devices ? workers : devices) * 128;
    char *campaign = malloc(cap), *lab = malloc(cap);
    s_lab_run lat_run = {0}, thr_run = {0}, curve_run = {0};
    int rc = 1;
    long lat_steps = steps < 3000 ? steps : 3000;
    if (!campaign || !lab)
        goto done;
    fprintf(stderr, "bench dispatch: latency phase, 1 worker, %ld steps...\n", lat_steps);
    if (s_dispatch_files(dir, "latency", 1, 1, lat_steps, 0, campaign, cap, lab, cap) < 0 ||
        s_run_lab(dir, campaign, lab, &lat_run) < 0)
        goto done;
    fprintf(stderr, "bench dispatch: throughput phase, %d workers, %ld steps...\n", workers, steps);
    if (s_dispatch_files(dir, "throughput", workers, depth, steps, 0, campaign, cap, lab, cap) < 0)
        goto done;
    /* CPU of this process (the orchestrator) and of the lab it starts and
     * reaps (the worker processes), start-up and shutdown included. */
    struct rusage self0, kids0, self1, kids1;
    getrusage(RUSAGE_SELF, &self0);
    getrusage(RUSAGE_CHILDREN, &kids0);
    if (s_run_lab(dir, campaign, lab, &thr_run) < 0)
        goto done;
    getrusage(RUSAGE_SELF, &self1);
    getrusage(RUSAGE_CHILDREN, &kids1);
    double n_done = thr_run.sum.steps_done > 0 ? (double)thr_run.sum.steps_done : 1;
    double orch_cpu = (s_cpu_us(&self1) - s_cpu_us(&self0)) / n_done;
    double lab_cpu = (s_cpu_us(&kids1) - s_cpu_us(&kids0)) / n_done;
    double p50 = s_percentile(lat_run.lat_us, lat_run.n_lat, 0.50);
    double p99 = s_percentile(lat_run.lat_us, lat_run.n_lat, 0.99);
    char window[64];
    long thr_steps;
    double thr_s;
    double rate = s_rate(&thr_run, workers, window, sizeof window, &thr_steps, &thr_s);
    printf("dispatch latency: 1 worker, 1 step in flight: p50 %.0f us, p99 %.0f us (%zu steps, %.0f steps/s)\n",
           p50, p99, lat_run.n_lat, lat_run.sum.active_s > 0 ? (double)lat_run.sum.steps_done / lat_run.sum.active_s : 0);
    printf("dispatch throughput: %d worker processes, %d in flight each: %.0f steps/s (%ld steps in %.2f s %s,"
           " every result committed; %ld group commits, %.1f results each)\n", workers, depth, rate, thr_steps, thr_s, window,
           thr_run.sum.commits, thr_run.sum.commits ? (double)thr_run.sum.steps_done / (double)thr_run.sum.commits : 0);
    printf("dispatch CPU per step (throughput phase): orchestrator %.0f us, the %d worker processes %.0f us"
           " (user + system time, their start and stop included)\n", orch_cpu, workers, lab_cpu);
    if (json)
        printf("{\"workers\":%d,\"depth\":%d,\"steps\":%ld,\"steps_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f}\n", workers, depth,
               thr_run.sum.steps_done, rate, p50, p99);
    if (curve) {
        fprintf(stderr, "bench dispatch: throughput phase with CURVE, %d workers, %ld steps...\n", workers, steps);
        if (s_dispatch_files(dir, "throughput", workers, depth, steps, 1, campaign, cap, lab, cap) < 0 ||
            s_run_lab(dir, campaign, lab, &curve_run) < 0)
            goto done;
        double crate = s_rate(&curve_run, workers, window, sizeof window, &thr_steps, &thr_s);
        printf("dispatch throughput with CURVE: %d worker processes, %d in flight each: %.0f steps/s (%ld steps in"
               " %.2f s %s); %.0f %% of the plain run just measured (%.0f steps/s), CURVE costs %.0f %%\n",
               workers, depth, crate, thr_steps, thr_s, window, rate > 0 ? 100 * crate / rate : 0, rate,
               rate > 0 ? 100 * (1 - crate / rate) : 0);
        if (json)
            printf("{\"workers\":%d,\"depth\":%d,\"curve\":true,\"steps_per_s\":%.0f,\"plain_steps_per_s\":%.0f}\n",
                   workers, depth, crate, rate);
    }
    if (campaigns) {
        fprintf(stderr, "bench dispatch: two campaigns sharing the %d workers, %ld steps in all...\n", workers, steps);
        s_lab_run two_run = {0};
        if (s_dispatch_files(dir, "throughput", workers, depth, steps, 0, campaign, cap, lab, cap) < 0)
            goto done;
        getrusage(RUSAGE_SELF, &self0);
        if (s_run_lab_two(dir, campaign, lab, &two_run) < 0)
            goto done;
        getrusage(RUSAGE_SELF, &self1);
        double two_cpu = (s_cpu_us(&self1) - s_cpu_us(&self0)) /
                         (two_run.sum.steps_done > 0 ? (double)two_run.sum.steps_done : 1);
        double trate = s_rate(&two_run, workers, window, sizeof window, &thr_steps, &thr_s);
        printf("dispatch throughput, two campaigns sharing the %d workers (one lab service): %.0f steps/s combined"
               " (%ld steps in %.2f s %s) against one campaign's %.0f steps/s on the same devices just measured"
               " (%.0f %%; goal at least 100 %%); orchestrator CPU per step %.0f us against %.0f us\n", workers,
               trate, thr_steps, thr_s, window, rate, rate > 0 ? 100 * trate / rate : 0, two_cpu, orch_cpu);
        if (json)
            printf("{\"workers\":%d,\"depth\":%d,\"campaigns\":2,\"steps_per_s\":%.0f,\"one_campaign_steps_per_s\":%.0f,"
                   "\"cpu_us_per_step\":%.1f,\"one_campaign_cpu_us_per_step\":%.1f}\n",
                   workers, depth, trate, rate, two_cpu, orch_cpu);
    }
    if (devices && s_scale_phases(dir, workers, depth, devices, steps, json, campaign, cap, lab, cap) < 0)
        goto done;
    rc = 0;
done:
    free(lat_run.lat_us);
    free(thr_run.lat_us);
    free(curve_run.lat_us);
    free(campaign);
    free(lab);
    s_remove_tree(dir);
    return rc;
}

static int s_bench_swarm(int argc, char **argv)
{
    lab_swarm_opts o = {.prefix = "w", .capability = "null_op", .capacity = 1};
    long n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--endpoint") && v) {
            o.endpoint = v, i++;
        } else if (!strcmp(a, "--devices") && v) {
            n = strtol(v, &end, 10), i++;
        } else if (!strcmp(a, "--prefix") && v) {
            o.prefix = v, i++;
        } else if (!strcmp(a, "--capability") && v) {
            o.capability = v, i++;
        } else if (!strcmp(a, "--capacity") && v) {
            o.capacity = (int)strtol(v, &end, 10), i++;
        } else if (!strcmp(a, "--step-ms") && v) {
            o.step_ms = (int)strtol(v, &end, 10), i++;
        } else {
            fprintf(!strcmp(a, "--help") ? stdout : stderr,
                    "usage: labloop bench swarm --endpoint EP --devices N [--prefix P] [--capability C]\n"
                    "                           [--capacity K] [--step-ms MS]\n\n"
                    "Simulate N null devices in this one process, named P0 .. P(N-1) (default w0 ..),\n"
                    "each with capability C (default null_op) and K slots (default 1), connecting to\n"
                    "the orchestrator's device endpoint EP. Each step is answered done after MS ms\n"
                    "(default 0: at once) with its numeric parameters as values, like the null\n"
                    "driver. Results are kept in memory only (not crash-safe). For scale tests and\n"
                    "benchmarks: a lab of a thousand devices without a thousand processes. Runs\n"
                    "until Ctrl-C or until the campaign has ended.\n\n"
                    "example:\n  labloop bench swarm --endpoint tcp://127.0.0.1:5560 --devices 1000\n");
            return strcmp(a, "--help") ? 2 : 0;
        }
        if (end && *end) {
            fprintf(stderr, "labloop bench swarm: %s '%s' is not a number\n", a, v);
            return 2;
        }
    }
    if (!o.endpoint || n < 1 || n > 100000 || o.capacity < 1 || o.step_ms < 0) {
        fprintf(stderr, "labloop bench swarm: --endpoint and --devices (1..100000) are needed; --capacity at "
                        "least 1, --step-ms at least 0\n");
        return 2;
    }
    o.n_devices = (size_t)n;
    lab_err err = {0};
    if (lab_swarm_run(&o, &err) < 0) {
        fprintf(stderr, "labloop bench swarm: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int s_bench_utilisation(int argc, char **argv)
{
    long n = 40;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--experiments") && i + 1 < argc) {
            n = atol(argv[++i]);
        } else {
            fprintf(!strcmp(argv[i], "--help") ? stdout : stderr,
                    "usage: labloop bench utilisation [--experiments N]\n\n"
                    "A simulated lab with one bottleneck instrument (an XRD, 120 s a sample) behind\n"
                    "a dispenser (10 s) and a 4-slot furnace (60 s), at speed x1000. Prints each\n"
                    "device's utilisation and the campaign's makespan against the lower bound\n"
                    "(the bottleneck's total work divided by its capacity).\n\n"
                    "example:\n  labloop bench utilisation --experiments 40\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (n < 4) {
        fprintf(stderr, "labloop bench utilisation: --experiments must be at least 4\n");
        return 2;
    }
    lab_log_setup("bench", LAB_LOG_WARN);
    char dir[] = "/tmp/labloop-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "labloop bench: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    int port = s_free_port(), cport = s_free_port();
    char campaign[4096], lab[4096];
    snprintf(campaign, sizeof campaign,
             "campaign: {name: util, seed: 3, budget: {experiments: %ld}}\n"
             "space:\n"
             "  - {name: cs_pb_ratio, type: real, low: 0.6, high: 1.0}\n"
             "  - {name: temperature, type: real, low: 150, high: 190}\n"
             "  - {name: time, type: real, low: 20, high: 200, scale: log}\n"
             "  - {name: ligand, type: categorical, values: [oleylamine, octylamine, dodecylamine]}\n"
             "  - {name: washes, type: integer, low: 0, high: 2}\n"
             "objectives: [{name: plqy, goal: maximize, from: xrd.quantum_yield}]\n"
             "planner: {kind: sobol, batch: 8}\n"
             "workflow:\n"
             "  - {step: dispense, capability: liquid_handler, params: {cs_pb_ratio: \"${cs_pb_ratio}\", ligand: \"${ligand}\", washes: \"${washes}\"}}\n"
             "  - {step: anneal, capability: furnace, after: [dispense], params: {temperature: \"${temperature}\", time: \"${time}\"}}\n"
             "  - {step: xrd, capability: xrd, after: [anneal]}\n"
             "devices:\n"
             "  - {name: ot2, capabilities: [liquid_handler]}\n"
             "  - {name: furnace, capabilities: [furnace], capacity: 4}\n"
             "  - {name: xrd, capabilities: [xrd]}\n"
             "endpoints: {devices: \"tcp://127.0.0.1:%d\", control: \"tcp://127.0.0.1:%d\"}\n"
             "hub: util.db\n", n, port, cport);
    snprintf(lab, sizeof lab,
             "lab: {name: util-lab, endpoint: \"tcp://127.0.0.1:%d\", speed: 1000, samples: \"%s/samples\", seed: 4}\n"
             "model: {kind: nanocrystal_pl, noise: 0.01}\n"
             "devices:\n"
             "  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], duration: 10s}\n"
             "  - {name: furnace, driver: sim.heater, capabilities: [furnace], capacity: 4, duration: 60s}\n"
             "  - {name: xrd, driver: sim.spectrometer, capabilities: [xrd], duration: 120s}\n", port, dir);
    s_lab_run run = {0};
    int rc = s_run_lab(dir, campaign, lab, &run);
    if (rc == 0) {
        double bound = 0, makespan = run.sum.active_s;
        for (size_t i = 0; i < run.n_dev; i++) {
            printf("utilisation: %-8s busy %6.2f s of %.2f s (%5.1f %%), capacity %d\n", run.dev_name[i],
                   run.dev_busy[i], makespan, makespan > 0 ? 100.0 * run.dev_busy[i] / (makespan * run.dev_cap[i]) : 0.0,
                   run.dev_cap[i]);
            if (!strcmp(run.dev_name[i], "xrd"))
                bound = run.dev_busy[i] / run.dev_cap[i];
        }
        printf("utilisation: makespan %.2f s, lower bound %.2f s (xrd's work / capacity): %.1f %% above the bound\n",
               makespan, bound, bound > 0 ? 100.0 * (makespan / bound - 1.0) : 0.0);
    }
    free(run.lat_us);
    s_remove_tree(dir);
    return rc == 0 ? 0 : 1;
}
