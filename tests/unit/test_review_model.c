/* Unit tests of orchestrator/review/review_model.c: the reason in words (a planner's
 * readable reason as it is, a readable one made from what older hubs
 * stored), coverage counts by origin and the under-explored flags, and the
 * refitted model's view on a hand-made campaign whose optimum is known. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "orchestrator/review/review_model.h"
#include "common/banned.h"

/* A campaign of n experiments over x in [0, 10] (real) and c in {a, b, c}:
 * y = 1 - (x - 7)^2 / 49, plus 0.3 when c is "b"; c "c" never by the planner. */
static char *s_choices[] = {"a", "b", "c"};

static lab_review *s_review(size_t n)
{
    lab_review *r = calloc(1, sizeof *r);
    r->config_parsed = 1;
    r->c.seed = 5;
    r->n_params = 2;
    r->params = calloc(2, sizeof *r->params);
    r->params[0] = (lab_review_param){.name = "x", .unit = "degC", .low = 0, .high = 10};
    r->params[1] = (lab_review_param){.name = "c", .categorical = 1, .choices = s_choices, .n_choices = 3};
    r->n_objectives = 1;
    r->objectives = calloc(1, sizeof *r->objectives);
    r->objectives[0] = (lab_review_objective){.name = "yield", .unit = "%", .maximize = 1};
    r->exps = calloc(n, sizeof *r->exps);
    r->n_exps = n;
    r->best = -1;
    for (size_t i = 0; i < n; i++) {
        lab_review_exp *e = &r->exps[i];
        double x = fmod(3.7 * (double)i, 10.0);
        const char *c = i < 3 ? s_choices[i] : s_choices[i % 2];
        e->seq = (int64_t)i + 1;
        e->origin = i < 3 ? "initial" : "planner";
        e->status = "measured";
        e->params = json_pack("{s:f, s:s}", "x", x, "c", c);
        e->y = calloc(1, sizeof *e->y);
        e->y[0] = 1 - (x - 7) * (x - 7) / 49 + (strcmp(c, "b") == 0 ? 0.3 : 0);
        if (r->best < 0 || e->y[0] > r->exps[r->best].y[0])
            r->best = (long)i;
    }
    return r;
}

static void s_free(lab_review *r)
{
    for (size_t i = 0; i < r->n_exps; i++) {
        json_decref(r->exps[i].params);
        json_decref(r->exps[i].provenance);
        free(r->exps[i].y);
    }
    free(r->exps);
    free(r->params);
    free(r->objectives);
    free(r);
}

static void test_reason(void **state)
{
    (void)state;
    lab_review *r = s_review(4);
    char buf[512];
    /* A hub whose planner stores its raw summary apart: its reason as it is. */
    r->exps[3].provenance = json_pack("{s:s, s:s, s:s}", "planner", "gp", "reason",
                                      "expected improvement 0.12 over the best 0.75: predicted 0.80 ± 0.06",
                                      "model", "gp ei=0.12 on 3 measured matern52 ls=[0.5]");
    assert_string_equal(lab_review_reason(r, &r->exps[3], buf, sizeof buf),
                        "expected improvement 0.12 over the best 0.75: predicted 0.80 ± 0.06");
    /* An older hub: made from what it stored, with the objective's unit. */
    json_decref(r->exps[3].provenance);
    r->exps[3].provenance = json_pack("{s:s, s:s, s:f, s:f, s:f}", "planner", "gp", "reason",
                                      "gp ei=0.117 on 6 measured (parego) matern52 ls=[0.51] sf2=0.886",
                                      "acquisition", 0.117, "predicted_mean", 0.5, "predicted_sd", 0.25);
    lab_review_reason(r, &r->exps[3], buf, sizeof buf);
    assert_string_equal(buf, "gp: highest expected improvement (0.117); predicted yield 0.5 ± 0.25 %");
    assert_null(strstr(buf, "ls="));
    r->exps[0].provenance = json_pack("{s:s, s:s}", "planner", "gp", "reason", "sobol point 0 (scrambled, seed 5)");
    assert_string_equal(lab_review_reason(r, &r->exps[0], buf, sizeof buf),
                        "initial design: sobol point 0 (scrambled, seed 5)");
    s_free(r);
}

static void s_collect(const char *text, void *arg)
{
    char *all = arg;
    size_t used = strlen(all);
    snprintf(all + used, 4000 - used, "%s\n", text);
}

static void test_coverage_and_flags(void **state)
{
    (void)state;
    lab_review *r = s_review(12);
    lab_review_cover c;
    lab_review_coverage(r, 1, &c);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.total[0] + c.total[1] + c.total[2], 12);
    assert_int_equal(c.total[2], 1);      /* "c": once, in the initial design */
    assert_int_equal(c.initial[2], 1);
    assert_int_equal(c.planner[2], 0);
    lab_review_coverage(r, 0, &c);
    assert_int_equal(c.n, LAB_REVIEW_MODEL_BINS);
    long sum = 0;
    for (size_t b = 0; b < c.n; b++)
        sum += c.total[b];
    assert_int_equal(sum, 12);
    assert_true(fabs(c.lo[0] - 0) < 1e-12 && fabs(c.hi[c.n - 1] - 10) < 1e-12);
    char all[4000] = "";
    size_t n = lab_review_flags(r, NULL, s_collect, all);
    assert_true(n >= 1);
    assert_non_null(strstr(all, "c c: tried 1 time, all in the initial design; the planner never chose it"));
    s_free(r);
}

static void test_model_view(void **state)
{
    (void)state;
    lab_review *r = s_review(14);
    lab_review_model m;
    lab_review_model_fit(r, &m);
    assert_int_equal(m.ok, 1);
    assert_int_equal(m.n_fit, 14);
    /* Along x (real): the grid spans the range and the mean peaks near 7. */
    const lab_review_slice *sx = &m.slices[0];
    assert_int_equal(sx->n, LAB_REVIEW_MODEL_GRID);
    assert_true(fabs(sx->x[0]) < 1e-12 && fabs(sx->x[sx->n - 1] - 10) < 1e-12);
    size_t arg = 0;
    for (size_t k = 0; k < sx->n; k++) {
        assert_true(isfinite(sx->mu[k]) && sx->sd[k] >= 0);
        if (sx->mu[k] > sx->mu[arg])
            arg = k;
    }
    if (fabs(sx->x[arg] - 7) > 1.5)
        fail_msg("model peak at x = %g, the truth at 7", sx->x[arg]);
    /* Per category: "b" predicted highest (the truth adds 0.3 there). */
    const lab_review_slice *sc = &m.slices[1];
    assert_int_equal(sc->n, 3);
    assert_true(sc->mu[1] > sc->mu[0]);
    lab_review_model_release(&m);
    /* Too little data: no model, and it says why. */
    r->n_exps = 2;
    lab_review_model_fit(r, &m);
    assert_int_equal(m.ok, 0);
    assert_non_null(strstr(m.note, "2 measured"));
    lab_review_model_release(&m);
    r->n_exps = 14;
    s_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_coverage_and_flags),
        cmocka_unit_test(test_model_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
