/* Unit tests for sim/model: known optima of the analytic benchmarks, that no
 * sampled point beats them, and the nanocrystal emulator's optimum,
 * infeasible region, noise and determinism. Not a test of the simulated
 * devices that wrap the models. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/model.h"

#include "common/banned.h"

#define TEST_SEED 0x5eed1abULL
#define N_BEAT 20000
#define N_FEAS 10000

/* The test's own PRNG (splitmix64), independent of the model's. */
static uint64_t s_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double s_unif(uint64_t *st)
{
    return (double)(s_next(st) >> 11) * 0x1.0p-53;
}

/* A uniform random point of m's input box; categorical inputs and
 * nanocrystal's washes as whole numbers. */
static void s_random_x(const lab_model *m, uint64_t *st, double *x)
{
    for (size_t i = 0; i < lab_model_n_inputs(m); i++) {
        const lab_model_input *in = lab_model_input_at(m, i);
        int integral = in->categorical || strcmp(in->name, "washes") == 0;
        if (integral)
            x[i] = (double)(s_next(st) % (uint64_t)(in->high - in->low + 1.0)) + in->low;
        else
            x[i] = in->low + s_unif(st) * (in->high - in->low);
    }
}

static lab_model *s_new(const char *kind, double noise, uint64_t seed)
{
    lab_err err = {0};
    lab_model *m = lab_model_new(kind, noise, seed, &err);
    if (!m)
        fail_msg("lab_model_new(%s): %s", kind, err.msg);
    return m;
}

static void test_kinds(void **state)
{
    (void)state;
    const char *const *k = lab_model_kinds();
    size_t n = 0;
    for (; k[n]; n++) {
        lab_model *m = s_new(k[n], 0.0, 1);
        assert_true(lab_model_n_inputs(m) >= 2);
        assert_true(lab_model_n_outputs(m) >= 1);
        assert_non_null(lab_model_output_name(m, 0));
        assert_null(lab_model_input_at(m, lab_model_n_inputs(m)));
        lab_model_destroy(&m);
        assert_null(m);
        lab_model_destroy(&m);   /* idempotent */
    }
    assert_int_equal(n, 4);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    lab_err err = {0};
    lab_model *m = lab_model_new("rosenbrock", 0.0, 1, &err);
    assert_null(m);
    assert_int_equal(err.code, LAB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "rosenbrock"));
    for (const char *const *k = lab_model_kinds(); *k; k++)
        assert_non_null(strstr(err.msg, *k));

    lab_err_clear(&err);
    assert_null(lab_model_new("branin", -0.1, 1, &err));
    assert_int_equal(err.code, LAB_EINVAL);
    assert_null(lab_model_new("branin", NAN, 1, NULL));
}

typedef struct known {
    const char *kind;
    double y0;
    double x[6];
} known;

static const known s_known[] = {
    {"branin", 0.397887, {M_PI, 2.275}},
    {"hartmann3", -3.86278, {0.114614, 0.555649, 0.852547}},
    {"hartmann6", -3.32237, {0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}},
};

static void test_known_optima(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof s_known / sizeof s_known[0]; k++) {
        lab_model *m = s_new(s_known[k].kind, 0.0, 1);
        double x[6], y0, y[2];
        assert_int_equal(lab_model_optimum(m, x, &y0), 0);
        assert_false(lab_model_output_maximize(m, 0));
        assert_string_equal(lab_model_output_name(m, 0), "value");
        assert_float_equal(y0, s_known[k].y0, 1e-5);
        for (size_t i = 0; i < lab_model_n_inputs(m); i++)
            assert_float_equal(x[i], s_known[k].x[i], 1e-9);
        assert_int_equal(lab_model_truth(m, s_known[k].x, y), 0);
        assert_float_equal(y[0], s_known[k].y0, 1e-5);
        lab_model_destroy(&m);
    }
    /* Branin's other two minima. */
    lab_model *m = s_new("branin", 0.0, 1);
    double y[1], a[2] = {-M_PI, 12.275}, b[2] = {9.42478, 2.475};
    assert_int_equal(lab_model_truth(m, a, y), 0);
    assert_float_equal(y[0], 0.397887, 1e-5);
    assert_int_equal(lab_model_truth(m, b, y), 0);
    assert_float_equal(y[0], 0.397887, 1e-5);
    lab_model_destroy(&m);
}

/* No point of a seeded random sample does better than the stated optimum. */
static void s_check_not_beaten(const char *kind, uint64_t seed)
{
    lab_model *m = s_new(kind, 0.0, 1);
    int maximize = lab_model_output_maximize(m, 0);
    double xo[6], y0, x[6], y[2];
    lab_model_optimum(m, xo, &y0);
    uint64_t st = seed;
    for (int i = 0; i < N_BEAT; i++) {
        s_random_x(m, &st, x);
        if (lab_model_truth(m, x, y) != 0)
            continue;
        int beats = maximize ? y[0] > y0 + 1e-12 : y[0] < y0 - 1e-12;
        if (beats) {
            print_error("%s: sample %d (seed 0x%llx) gives %.9g, better than optimum %.9g\n",
                        kind, i, (unsigned long long)seed, y[0], y0);
            lab_model_destroy(&m);
            fail();
        }
    }
    lab_model_destroy(&m);
}

static void test_optimum_not_beaten(void **state)
{
    (void)state;
    for (const char *const *k = lab_model_kinds(); *k; k++)
        s_check_not_beaten(*k, TEST_SEED);
}

static void test_nanocrystal_shape(void **state)
{
    (void)state;
    lab_model *m = s_new("nanocrystal_pl", 0.0, 1);
    static const char *const names[] = {"cs_pb_ratio", "temperature", "time", "ligand",
                                        "washes"};
    assert_int_equal(lab_model_n_inputs(m), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(lab_model_input_at(m, i)->name, names[i]);
    const lab_model_input *lig = lab_model_input_at(m, 3);
    assert_true(lig->categorical);
    assert_int_equal(lig->n_choices, 3);
    assert_string_equal(lig->choices[0], "oleylamine");
    assert_int_equal(lab_model_n_outputs(m), 2);
    assert_string_equal(lab_model_output_name(m, 0), "quantum_yield");
    assert_string_equal(lab_model_output_name(m, 1), "fwhm_nm");
    assert_true(lab_model_output_maximize(m, 0));
    assert_false(lab_model_output_maximize(m, 1));

    /* Out of the box is an input error, not a failed synthesis. */
    double x[5] = {0.8, 170.0, 700.0, 0, 1}, y[2];
    char why[128];
    assert_int_equal(lab_model_eval(m, x, y, why, sizeof why), LAB_EINVAL);
    assert_non_null(strstr(why, "time"));
    x[2] = 60.0;
    x[3] = 3;
    assert_int_equal(lab_model_truth(m, x, y), LAB_EINVAL);
    lab_model_destroy(&m);
}

static void test_nanocrystal_optimum(void **state)
{
    (void)state;
    lab_model *m = s_new("nanocrystal_pl", 0.0, 1);
    double xo[5], y0, y[2];
    char why[128] = "x";
    assert_int_equal(lab_model_optimum(m, xo, &y0), 0);
    print_message("nanocrystal_pl optimum: ratio %.4f, %.2f degC, %.2f s, %s, %g washes"
                  " -> quantum_yield %.6f\n", xo[0], xo[1], xo[2],
                  lab_model_input_at(m, 3)->choices[(int)xo[3]], xo[4], y0);
    /* Feasible, interior and where the emulator was designed to peak. */
    assert_int_equal(lab_model_eval(m, xo, y, why, sizeof why), 0);
    assert_string_equal(why, "");
    assert_float_equal(y[0], y0, 1e-12);
    assert_true(y0 > 0.85 && y0 <= 1.0);
    assert_float_equal(xo[0], 0.8, 0.05);
    assert_float_equal(xo[1], 170.0, 5.0);
    assert_float_equal(xo[2], 60.0, 10.0);
    assert_float_equal(xo[3], 0.0, 0.0);
    assert_float_equal(xo[4], 1.0, 0.0);
    /* Narrow emission near the yield optimum, plausible for CsPbBr3. */
    assert_true(y[1] > 12.0 && y[1] < 25.0);
    /* Each ligand's and wash count's best is below the global one. */
    for (int lig = 0; lig < 3; lig++)
        for (int w = 0; w <= 3; w++) {
            double x[5] = {xo[0], xo[1], xo[2], lig, w};
            if (lab_model_truth(m, x, y) == 0 && !(lig == 0 && w == 1))
                assert_true(y[0] < y0);
        }
    lab_model_destroy(&m);
}

static void test_nanocrystal_infeasible(void **state)
{
    (void)state;
    lab_model *m = s_new("nanocrystal_pl", 0.0, 1);
    uint64_t st = TEST_SEED;
    int n_bad = 0, n_decomp = 0, n_precip = 0;
    double x[5], y[2];
    char why[128];
    for (int i = 0; i < N_FEAS; i++) {
        s_random_x(m, &st, x);
        int rc = lab_model_eval(m, x, y, why, sizeof why);
        if (rc == 0)
            continue;
        assert_int_equal(rc, LAB_EDRIVER);
        assert_true(isnan(y[0]) && isnan(y[1]));
        n_bad++;
        n_decomp += strstr(why, "decomposed") != NULL;
        n_precip += strstr(why, "precipitated") != NULL;
    }
    double frac = (double)n_bad / N_FEAS;
    print_message("nanocrystal_pl infeasible fraction %.4f (decomposed %d, precipitated %d,"
                  " seed 0x%llx)\n", frac, n_decomp, n_precip,
                  (unsigned long long)TEST_SEED);
    if (!(frac >= 0.05 && frac <= 0.30))
        fail_msg("infeasible fraction %.4f outside [0.05, 0.30] (seed 0x%llx)", frac,
                 (unsigned long long)TEST_SEED);
    assert_true(n_decomp > 0 && n_precip > 0);
    assert_int_equal(n_decomp + n_precip, n_bad);

    /* The two documented failure modes. */
    double hot_lead_rich[5] = {0.25, 215.0, 500.0, 0, 1};
    assert_int_equal(lab_model_eval(m, hot_lead_rich, y, why, sizeof why), LAB_EDRIVER);
    assert_non_null(strstr(why, "lead-rich precursor decomposed"));
    double cold_cs_rich[5] = {1.45, 125.0, 60.0, 2, 0};
    assert_int_equal(lab_model_eval(m, cold_cs_rich, y, why, sizeof why), LAB_EDRIVER);
    assert_non_null(strstr(why, "precursor precipitated"));
    assert_int_equal(lab_model_truth(m, cold_cs_rich, y), LAB_EDRIVER);
    lab_model_destroy(&m);
}

static void test_noise(void **state)
{
    (void)state;
    const uint64_t seed = 42;
    double xo[5], y0;
    lab_model *a = s_new("nanocrystal_pl", 0.05, seed);
    lab_model *b = s_new("nanocrystal_pl", 0.05, seed);
    lab_model *c = s_new("nanocrystal_pl", 0.05, seed + 1);
    lab_model *exact = s_new("nanocrystal_pl", 0.0, seed);
    lab_model_optimum(exact, xo, &y0);
    uint64_t st = TEST_SEED;
    int n_diff_c = 0, n_diff_truth = 0, n_ok = 0;
    double sum_sq = 0.0;
    for (int i = 0; i < 2000; i++) {
        double x[5], ya[2], yb[2], yc[2], ye[2], yt[2];
        s_random_x(a, &st, x);
        int ra = lab_model_eval(a, x, ya, NULL, 0);
        int rb = lab_model_eval(b, x, yb, NULL, 0);
        int rc = lab_model_eval(c, x, yc, NULL, 0);
        int re = lab_model_eval(exact, x, ye, NULL, 0);
        int rt = lab_model_truth(exact, x, yt);
        assert_int_equal(ra, rb);
        assert_int_equal(ra, rc);
        assert_int_equal(ra, re);
        assert_int_equal(ra, rt);
        if (ra != 0)
            continue;
        n_ok++;
        /* Same seed: bit-identical measurements. */
        assert_memory_equal(ya, yb, sizeof ya);
        /* Noise 0: exactly the truth. */
        assert_memory_equal(ye, yt, sizeof ye);
        n_diff_c += ya[0] != yc[0];
        n_diff_truth += ya[0] != yt[0];
        assert_true(ya[0] >= 0.0 && ya[0] <= 1.0);
        assert_true(ya[1] >= 0.0);
        sum_sq += (ya[1] - yt[1]) * (ya[1] - yt[1]);
    }
    assert_true(n_ok > 1000);
    assert_true(n_diff_c > n_ok / 2);
    assert_true(n_diff_truth > n_ok / 2);
    /* fwhm noise sd = 0.05 * 20 nm = 1 nm (never clipped at these widths). */
    double sd = sqrt(sum_sq / n_ok);
    if (!(sd > 0.9 && sd < 1.1))
        fail_msg("fwhm noise sd %.4f, expected ~1 (seed %llu)", sd, (unsigned long long)seed);
    lab_model_destroy(&a);
    lab_model_destroy(&b);
    lab_model_destroy(&c);
    lab_model_destroy(&exact);

    /* Analytic kinds too: noise 0 eval == truth, noisy eval reproducible. */
    lab_model *h = s_new("hartmann6", 0.0, 7), *h1 = s_new("hartmann6", 0.1, 7),
              *h2 = s_new("hartmann6", 0.1, 7);
    double x[6] = {0.2, 0.15, 0.48, 0.28, 0.31, 0.66}, ye[1], yt[1], y1[1], y2[1];
    assert_int_equal(lab_model_eval(h, x, ye, NULL, 0), 0);
    assert_int_equal(lab_model_truth(h, x, yt), 0);
    assert_true(ye[0] == yt[0]);
    for (int i = 0; i < 5; i++) {
        lab_model_eval(h1, x, y1, NULL, 0);
        lab_model_eval(h2, x, y2, NULL, 0);
        assert_true(y1[0] == y2[0]);
        assert_true(y1[0] != yt[0]);
    }
    lab_model_destroy(&h);
    lab_model_destroy(&h1);
    lab_model_destroy(&h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_known_optima),
        cmocka_unit_test(test_optimum_not_beaten),
        cmocka_unit_test(test_nanocrystal_shape),
        cmocka_unit_test(test_nanocrystal_optimum),
        cmocka_unit_test(test_nanocrystal_infeasible),
        cmocka_unit_test(test_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
