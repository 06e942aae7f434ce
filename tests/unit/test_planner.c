/* Unit tests for the planner layer and the random and sobol kinds:
 * feasibility, coverage, determinism, resume after re-telling history,
 * Sobol balance, pending points and error reporting. Not for the GP. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/planner.h"
#include "common/banned.h"

/* Fails the test with the seed printed, so a failure can be replayed. */
#define CHECK_SEED(cond, seed)                                                   \
    do {                                                                         \
        if (!(cond)) {                                                           \
            print_message("%s:%d: check '%s' failed (seed %llu)\n", __FILE__,    \
                          __LINE__, #cond, (unsigned long long)(seed));         \
            fail();                                                              \
        }                                                                        \
    } while (0)

static const char *const s_kinds[] = {"random", "sobol"};

static lab_space *s_mixed(void)
{
    lab_space *s = lab_space_new();
    lab_err err = {0};
    static const char *const solvents[] = {"toluene", "hexane", "oleylamine"};
    assert_int_equal(lab_space_add_real(s, "cs_pb_ratio", 0.5, 2.0, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "temperature", 100, 200, 0, "C", &err), 0);
    assert_int_equal(lab_space_add_real(s, "conc", 1e-3, 1e1, 1, NULL, &err), 0);
    assert_int_equal(lab_space_add_integer(s, "n_cycles", 1, 5, NULL, &err), 0);
    assert_int_equal(lab_space_add_categorical(s, "solvent", solvents, 3, &err), 0);
    assert_int_equal(lab_space_add_constraint(s, "cs_pb_ratio + 0.002 * temperature <= 1.9",
                                              &err), 0);
    return s;
}

static lab_planner_opts s_opts(const char *kind, uint64_t seed)
{
    lab_planner_opts o = {.kind = kind, .seed = seed, .n_objectives = 1};
    return o;
}

static lab_planner *s_new(const lab_space *s, const lab_planner_opts *o)
{
    lab_err err = {0};
    lab_planner *p = lab_planner_new(s, o, &err);
    if (!p)
        print_message("lab_planner_new(%s): %s\n", o->kind, err.msg);
    assert_non_null(p);
    return p;
}

static int s_ask(lab_planner *p, size_t k, const double *pend, size_t np, double *out,
                 lab_ask_info *info)
{
    int rc = lab_planner_ask(p, k, pend, np, out, info);
    if (rc < 0)
        print_message("ask failed: %s\n", lab_planner_last_error(p)->msg);
    return rc;
}

/* A fake objective so tells carry numbers. */
static double s_obj(const double *x)
{
    return x[0] * x[0] + 0.01 * x[1];
}

static void test_kinds_and_errors(void **state)
{
    (void)state;
    const char *const *k = lab_planner_kinds();
    assert_string_equal(k[0], "random");
    assert_string_equal(k[1], "sobol");
    assert_string_equal(k[2], "gp");
    assert_null(k[3]);

    lab_space *s = s_mixed();
    /* Only a kind that fits a model is run off the orchestrator's loop. */
    for (size_t i = 0; k[i]; i++) {
        lab_planner_opts ko = s_opts(k[i], 1);
        lab_planner *kp = s_new(s, &ko);
        assert_int_equal(lab_planner_fits_model(kp), strcmp(k[i], "gp") == 0);
        lab_planner_destroy(&kp);
    }
    assert_false(lab_planner_fits_model(NULL));
    lab_err err = {0};
    lab_planner_opts o = s_opts("bayes-magic", 1);
    assert_null(lab_planner_new(s, &o, &err));
    assert_int_equal(err.code, LAB_ECONFIG);
    assert_non_null(strstr(err.msg, "'bayes-magic'"));
    assert_non_null(strstr(err.msg, "sobol"));

    o = s_opts("random", 1);
    o.initial_kind = "latin";
    o.initial_count = 4;
    assert_null(lab_planner_new(s, &o, &err));
    assert_non_null(strstr(err.msg, "'latin'"));

    o = s_opts("random", 1);
    o.n_objectives = 0;
    assert_null(lab_planner_new(s, &o, &err));
    assert_non_null(strstr(err.msg, "objectives"));

    lab_space *empty = lab_space_new();
    o = s_opts("sobol", 1);
    assert_null(lab_planner_new(empty, &o, &err));
    lab_space_destroy(&empty);

    lab_planner *p = s_new(s, &o);
    assert_string_equal(lab_planner_name(p), "sobol");
    double x[5] = {1, 150, 0.1, 2, 0};
    assert_int_equal(lab_planner_tell(p, x, NULL, LAB_OUTCOME_MEASURED), LAB_EINVAL);
    assert_non_null(strstr(lab_planner_last_error(p)->msg, "objective"));
    double y = NAN;
    assert_true(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED) < 0);
    assert_int_equal(lab_planner_tell(p, x, NULL, LAB_OUTCOME_FAILED), 0);
    assert_int_equal(lab_planner_n_told(p), 1);
    assert_int_equal(lab_planner_last_error(p)->code, 0);
    assert_int_equal(lab_planner_ask(p, 0, NULL, 0, NULL, NULL), 0);
    assert_int_equal(lab_planner_ask(p, 1, NULL, 0, NULL, NULL), LAB_EINVAL);
    lab_planner_destroy(&p);
    assert_null(p);
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

/* Every proposal is feasible; every integer and every choice appears. */
static void test_feasible_and_coverage(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    enum { N = 300 };
    static double out[N * 5];
    lab_ask_info info[N];
    for (size_t kind = 0; kind < 2; kind++) {
        uint64_t seed = 12345 + kind;
        lab_planner_opts o = s_opts(s_kinds[kind], seed);
        lab_planner *p = s_new(s, &o);
        assert_int_equal(s_ask(p, N, NULL, 0, out, info), 0);
        int seen_int[6] = {0}, seen_cat[3] = {0};
        double lo = 1e9, hi = -1e9;
        for (size_t i = 0; i < N; i++) {
            const double *x = out + i * 5;
            CHECK_SEED(lab_space_feasible(s, x), seed);
            seen_int[(int)x[3]]++;
            seen_cat[(int)x[4]]++;
            lo = fmin(lo, x[2]);
            hi = fmax(hi, x[2]);
            CHECK_SEED(strcmp(info[i].origin, "planner") == 0, seed);
            CHECK_SEED(strstr(info[i].reason, s_kinds[kind]) != NULL, seed);
            CHECK_SEED(isnan(info[i].acquisition) && isnan(info[i].predicted_mean) &&
                           isnan(info[i].predicted_sd), seed);
        }
        for (int v = 1; v <= 5; v++)
            CHECK_SEED(seen_int[v] > 0, seed);
        for (int c = 0; c < 3; c++)
            CHECK_SEED(seen_cat[c] > 0, seed);
        /* log scale: about a quarter of the points below 1e-2 */
        CHECK_SEED(lo < 2e-3 && hi > 5, seed);
        int below = 0;
        for (size_t i = 0; i < N; i++)
            below += out[i * 5 + 2] < 1e-2;
        CHECK_SEED(below > N / 8 && below < N / 2, seed);
        lab_planner_destroy(&p);
    }
    lab_space_destroy(&s);
}

/* Runs a short campaign: asks in batches, tells all but the last point of
 * each batch, which stays pending into the next ask. Returns all proposals. */
static void s_campaign(const lab_space *s, const lab_planner_opts *o, double *all, size_t rounds)
{
    lab_planner *p = s_new(s, o);
    size_t d = lab_space_dims(s), n = 0;
    double pending[5];
    size_t np = 0;
    for (size_t r = 0; r < rounds; r++) {
        assert_int_equal(s_ask(p, 3, pending, np, all + n * d, NULL), 0);
        if (np) {
            double y = s_obj(pending);
            assert_int_equal(lab_planner_tell(p, pending, &y, LAB_OUTCOME_MEASURED), 0);
        }
        for (size_t i = 0; i < 2; i++) {
            const double *x = all + (n + i) * d;
            double y = s_obj(x);
            lab_outcome oc = (n + i) % 5 == 4 ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED;
            assert_int_equal(lab_planner_tell(p, x, &y, oc), 0);
        }
        memcpy(pending, all + (n + 2) * d, d * sizeof *pending);
        np = 1;
        n += 3;
    }
    lab_planner_destroy(&p);
}

static void test_determinism(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    enum { R = 10, N = 3 * R };
    double a[N * 5], b[N * 5], c[N * 5];
    for (size_t kind = 0; kind < 2; kind++) {
        uint64_t seed = 42;
        lab_planner_opts o = s_opts(s_kinds[kind], seed);
        s_campaign(s, &o, a, R);
        s_campaign(s, &o, b, R);
        CHECK_SEED(memcmp(a, b, sizeof a) == 0, seed);
        o.seed = 43;
        s_campaign(s, &o, c, R);
        CHECK_SEED(memcmp(a, c, sizeof a) != 0, o.seed);
        /* no proposal repeats an earlier one */
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < i; j++)
                CHECK_SEED(memcmp(a + i * 5, a + j * 5, 5 * sizeof *a) != 0, seed);
    }
    lab_space_destroy(&s);
}

/* A planner rebuilt from the told history (and the same pending points)
 * continues exactly like the one that ran all along. */
static void s_check_resume(const lab_space *s, const lab_planner_opts *o)
{
    size_t d = lab_space_dims(s);
    enum { N = 12, K = 4 };
    double x[N * 5], y[N];
    double cont_a[K * 5], cont_b[K * 5];
    lab_ask_info ia[K], ib[K];

    lab_planner *a = s_new(s, o);
    /* batches of 3, then 2, then 1s; tell in order except the last 2 */
    assert_int_equal(s_ask(a, 3, NULL, 0, x, NULL), 0);
    for (size_t i = 0; i < 3; i++) {
        y[i] = s_obj(x + i * d);
        assert_int_equal(lab_planner_tell(a, x + i * d, y + i, LAB_OUTCOME_MEASURED), 0);
    }
    assert_int_equal(s_ask(a, 2, NULL, 0, x + 3 * d, NULL), 0);
    for (size_t i = 5; i < N; i++)
        assert_int_equal(s_ask(a, 1, x + 3 * d, i - 3, x + i * d, NULL), 0);
    /* points 3..N-3 finish; the last two stay pending */
    for (size_t i = 3; i < N - 2; i++) {
        y[i] = s_obj(x + i * d);
        lab_outcome oc = i == 6 ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED;
        assert_int_equal(lab_planner_tell(a, x + i * d, y + i, oc), 0);
    }
    const double *pend = x + (N - 2) * d;
    assert_int_equal(s_ask(a, K, pend, 2, cont_a, ia), 0);

    lab_planner *b = s_new(s, o);
    for (size_t i = 0; i < N - 2; i++) {
        lab_outcome oc = i == 6 ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED;
        assert_int_equal(lab_planner_tell(b, x + i * d, y + i, oc), 0);
    }
    assert_int_equal(s_ask(b, K, pend, 2, cont_b, ib), 0);
    CHECK_SEED(memcmp(cont_a, cont_b, sizeof cont_a) == 0, o->seed);
    for (size_t i = 0; i < K; i++) {
        CHECK_SEED(strcmp(ia[i].reason, ib[i].reason) == 0, o->seed);
        CHECK_SEED(strcmp(ia[i].origin, ib[i].origin) == 0, o->seed);
    }
    /* and the continuation is new: not a repeat of anything proposed */
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < N; j++)
            CHECK_SEED(memcmp(cont_a + i * d, x + j * d, d * sizeof *x) != 0, o->seed);
    lab_planner_destroy(&a);
    lab_planner_destroy(&b);
}

static void test_resume(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    for (size_t kind = 0; kind < 2; kind++) {
        lab_planner_opts o = s_opts(s_kinds[kind], 7 + kind);
        s_check_resume(s, &o);
        /* initial design straddling the resume point */
        o.initial_kind = s_kinds[1 - kind];
        o.initial_count = 13;
        s_check_resume(s, &o);
    }
    lab_space_destroy(&s);
}

static void test_initial_design(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    lab_planner_opts o = s_opts("random", 99);
    o.initial_kind = "sobol";
    o.initial_count = 5;
    lab_planner *p = s_new(s, &o);
    double x[8 * 5];
    lab_ask_info info[8];
    assert_int_equal(s_ask(p, 3, NULL, 0, x, info), 0);
    assert_int_equal(s_ask(p, 5, x, 3, x + 3 * 5, info + 3), 0);
    for (size_t i = 0; i < 8; i++) {
        const char *want_origin = i < 5 ? "initial" : "planner";
        const char *want_reason = i < 5 ? "sobol point" : "random point";
        if (strcmp(info[i].origin, want_origin) || !strstr(info[i].reason, want_reason))
            print_message("proposal %zu: origin '%s' reason '%s'\n", i, info[i].origin,
                          info[i].reason);
        assert_string_equal(info[i].origin, want_origin);
        assert_non_null(strstr(info[i].reason, want_reason));
        assert_true(lab_space_feasible(s, x + i * 5));
    }
    assert_non_null(strstr(info[0].reason, "seed 99"));
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
}

static lab_space *s_unit_square(size_t d)
{
    lab_space *s = lab_space_new();
    lab_err err = {0};
    for (size_t i = 0; i < d; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%zu", i);
        assert_int_equal(lab_space_add_real(s, name, 0, 1, 0, NULL, &err), 0);
    }
    return s;
}

/* The first 64 scrambled Sobol points in 2-D form a (0,6,2)-net: every
 * elementary box of area 1/64 (2^a by 2^b cells, a + b = 6) holds exactly
 * one point. Fails if the direction numbers or the scramble are wrong, or if
 * a point is dropped from the block. */
static void test_sobol_net(void **state)
{
    (void)state;
    lab_space *s = s_unit_square(2);
    uint64_t seeds[] = {0, 1, 42, 0xDEADBEEFULL};
    double x[64 * 2];
    for (size_t si = 0; si < 4; si++) {
        lab_planner_opts o = s_opts("sobol", seeds[si]);
        lab_planner *p = s_new(s, &o);
        assert_int_equal(s_ask(p, 64, NULL, 0, x, NULL), 0);
        for (int a = 0; a <= 6; a++) {
            int nx = 1 << a, ny = 1 << (6 - a);
            int count[64] = {0};
            for (size_t i = 0; i < 64; i++) {
                int cx = (int)(x[2 * i] * nx), cy = (int)(x[2 * i + 1] * ny);
                count[cx * ny + cy]++;
            }
            for (int c = 0; c < 64; c++)
                CHECK_SEED(count[c] == 1, seeds[si]);
        }
        /* the next 64 are a net too */
        assert_int_equal(s_ask(p, 64, NULL, 0, x, NULL), 0);
        int count[64] = {0};
        for (size_t i = 0; i < 64; i++)
            count[(int)(x[2 * i] * 8) * 8 + (int)(x[2 * i + 1] * 8)]++;
        for (int c = 0; c < 64; c++)
            CHECK_SEED(count[c] == 1, seeds[si]);
        lab_planner_destroy(&p);
    }
    lab_space_destroy(&s);
}

/* In 21 dimensions, each one-dimensional projection of the first 256 points
 * puts exactly one point in each of 256 equal strata; and every pair of the
 * first few dimensions covers all 16 cells of a 4x4 grid. */
static void test_sobol_high_dim(void **state)
{
    (void)state;
    enum { D = 21, N = 256 };
    lab_space *s = s_unit_square(D);
    uint64_t seed = 2024;
    lab_planner_opts o = s_opts("sobol", seed);
    lab_planner *p = s_new(s, &o);
    static double x[N * D];
    assert_int_equal(s_ask(p, N, NULL, 0, x, NULL), 0);
    for (size_t j = 0; j < D; j++) {
        int count[N] = {0};
        for (size_t i = 0; i < N; i++)
            count[(int)(x[i * D + j] * N)]++;
        for (size_t c = 0; c < N; c++)
            CHECK_SEED(count[c] == 1, seed);
    }
    for (size_t j = 0; j < 6; j++)
        for (size_t k = j + 1; k < 6; k++) {
            int count[16] = {0};
            for (size_t i = 0; i < N; i++)
                count[(int)(x[i * D + j] * 4) * 4 + (int)(x[i * D + k] * 4)]++;
            for (size_t c = 0; c < 16; c++)
                CHECK_SEED(count[c] > 0, seed);
        }
    lab_planner_destroy(&p);
    lab_space_destroy(&s);
    /* too many dimensions for the table: a clear error */
    s = s_unit_square(40);
    lab_err err = {0};
    assert_null(lab_planner_new(s, &o, &err));
    assert_non_null(strstr(err.msg, "dimensions"));
    lab_space_destroy(&s);
}

/* Proposals never repeat a pending point; with every value pending, ask
 * fails with a message instead of looping or duplicating. */
static void test_pending_discrete(void **state)
{
    (void)state;
    lab_space *s = lab_space_new();
    lab_err err = {0};
    assert_int_equal(lab_space_add_integer(s, "n", 0, 3, NULL, &err), 0);
    for (size_t kind = 0; kind < 2; kind++) {
        uint64_t seed = 5;
        lab_planner_opts o = s_opts(s_kinds[kind], seed);
        lab_planner *p = s_new(s, &o);
        double pend[3] = {0, 1, 2}, x[4];
        assert_int_equal(s_ask(p, 1, pend, 3, x, NULL), 0);
        CHECK_SEED(x[0] == 3, seed);
        /* a batch of 4 from an empty pending list covers all 4 values */
        lab_planner_destroy(&p);
        p = s_new(s, &o);
        assert_int_equal(s_ask(p, 4, NULL, 0, x, NULL), 0);
        int seen[4] = {0};
        for (int i = 0; i < 4; i++)
            seen[(int)x[i]]++;
        for (int v = 0; v < 4; v++)
            CHECK_SEED(seen[v] == 1, seed);
        double all[4] = {0, 1, 2, 3};
        assert_int_equal(lab_planner_ask(p, 1, all, 4, x, NULL), LAB_EAGAIN);
        const char *msg = lab_planner_last_error(p)->msg;
        CHECK_SEED(strstr(msg, s_kinds[kind]) && strstr(msg, "pending"), seed);
        lab_planner_destroy(&p);
    }
    lab_space_destroy(&s);
}

/* Constraints that leave no room together: a clear error, not a hang. */
static void test_infeasible_space(void **state)
{
    (void)state;
    lab_space *s = s_unit_square(2);
    lab_err err = {0};
    assert_int_equal(lab_space_add_constraint(s, "x0 + x1 >= 1.5", &err), 0);
    assert_int_equal(lab_space_add_constraint(s, "x0 + x1 <= 0.5", &err), 0);
    for (size_t kind = 0; kind < 2; kind++) {
        lab_planner_opts o = s_opts(s_kinds[kind], 3);
        lab_planner *p = s_new(s, &o);
        double x[2];
        assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), LAB_ECONFIG);
        const char *msg = lab_planner_last_error(p)->msg;
        assert_non_null(strstr(msg, s_kinds[kind]));
        assert_non_null(strstr(msg, "constraints"));
        lab_planner_destroy(&p);
    }
    lab_space_destroy(&s);
}

/* A tight constraint: rejection still finds points, all feasible. */
static void test_tight_constraint(void **state)
{
    (void)state;
    lab_space *s = s_unit_square(3);
    lab_err err = {0};
    assert_int_equal(lab_space_add_constraint(s, "x0 + x1 + x2 <= 0.3", &err), 0);
    for (size_t kind = 0; kind < 2; kind++) {
        uint64_t seed = 11;
        lab_planner_opts o = s_opts(s_kinds[kind], seed);
        lab_planner *p = s_new(s, &o);
        double x[50 * 3];
        assert_int_equal(s_ask(p, 50, NULL, 0, x, NULL), 0);
        for (size_t i = 0; i < 50; i++)
            CHECK_SEED(lab_space_feasible(s, x + 3 * i), seed);
        lab_planner_destroy(&p);
    }
    lab_space_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_errors),
        cmocka_unit_test(test_feasible_and_coverage),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_initial_design),
        cmocka_unit_test(test_sobol_net),
        cmocka_unit_test(test_sobol_high_dim),
        cmocka_unit_test(test_pending_discrete),
        cmocka_unit_test(test_infeasible_space),
        cmocka_unit_test(test_tight_constraint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
