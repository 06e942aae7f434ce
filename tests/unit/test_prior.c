/* Unit tests for the warm start (orchestrator/prior.c and the planner side):
 * a CSV prior is read against the campaign's space and objectives (units in
 * the header, choices, a status column), a prior that does not fit is refused
 * with its file and line, and a gp planner told earlier experiments first
 * reaches a target in fewer experiments than a cold one.
 * Not for: the orchestrator's hub records (tests/integration/test_prior.sh).
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
#include <unistd.h>

#include "orchestrator/config.h"
#include "orchestrator/prior.h"
#include "planners/planner.h"
#include "planners/testfuncs.h"
#include "common/banned.h"

static const char s_campaign[] =
    "campaign: {name: warm, budget: {experiments: 3}}\n"
    "space:\n"
    "  - {name: temp, type: real, low: 100, high: 200, unit: degC}\n"
    "  - {name: ligand, type: categorical, values: [oam, dda]}\n"
    "objectives:\n"
    "  - {name: qy, goal: maximize, from: m.qy, unit: \"%\"}\n"
    "workflow:\n"
    "  - {step: m, capability: meter, params: {t: \"${temp}\"}}\n"
    "devices:\n"
    "  - {name: meter-1, capabilities: [meter]}\n"
    "prior: {csv: prior.csv}\n";

static char s_dir[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/labloop-prior.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/prior.csv", s_dir);
    remove(p);
    rmdir(s_dir);
    return 0;
}

/* Writes csv as the prior and loads it; returns the load's code. */
static int s_load(const char *csv, lab_prior *p, lab_err *err)
{
    char path[128], cfgpath[128];
    snprintf(path, sizeof path, "%s/prior.csv", s_dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/campaign.yaml", s_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(csv, f);
    fclose(f);
    lab_err cerr = {0};
    lab_campaign_cfg *cfg = lab_config_load_string(cfgpath, s_campaign, strlen(s_campaign), NULL,
                                                   &cerr);
    if (!cfg)
        print_message("config: %s\n", cerr.msg);
    assert_non_null(cfg);
    assert_string_equal(cfg->prior_csv, path);
    int rc = lab_prior_load(cfg, p, err);
    if (rc < 0)
        print_message("prior refused: %s\n", err->msg);
    lab_config_destroy(&cfg);
    return rc;
}

static void test_csv_read(void **state)
{
    (void)state;
    lab_prior p;
    lab_err err = {0};
    assert_int_equal(s_load("ligand, temp [degC], qy [%], status, note\n"
                            "dda,150.5,41.5,measured,first\n"
                            "\n"
                            "\"oam\",199,,failed,clogged\n",
                            &p, &err),
                     0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.d, 2);
    assert_true(p.x[0] == 150.5 && p.x[1] == 1.0 && p.y[0] == 41.5 && !p.failed[0]);
    assert_true(p.x[2] == 199.0 && p.x[3] == 0.0 && isnan(p.y[1]) && p.failed[1]);
    lab_prior_release(&p);
}

static void test_csv_refused(void **state)
{
    (void)state;
    static const struct {
        const char *csv, *msg;
    } bad[] = {
        {"temp,qy\n150,3\n", "no column for parameter 'ligand'"},
        {"temp,ligand\n150,oam\n", "no column for objective 'qy'"},
        {"temp [K],ligand,qy\n420,oam,3\n", "'temp' is in K there but in degC"},
        {"temp,ligand,qy [%]\n150,oam,3\n250,oam,4\n", "prior.csv:3: temp = 250 is outside [100, 200]"},
        {"temp,ligand,qy\n150,ole,3\n", ":2: 'ole' is not one of the choices of 'ligand'"},
        {"temp,ligand,qy\n150,oam,\n", "objective 'qy' is '', not a number"},
        {"temp,ligand,qy\n150,oam\n", ":2: 2 cells, the header has 3"},
        {"temp,ligand,qy,status\n150,oam,3,lost\n", "status 'lost' (measured or failed)"},
        {"", "empty file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lab_prior p;
        lab_err err = {0};
        assert_true(s_load(bad[i].csv, &p, &err) < 0);
        if (!strstr(err.msg, bad[i].msg)) {
            print_message("case %zu: '%s' does not say '%s'\n", i, err.msg, bad[i].msg);
            fail();
        }
        assert_int_equal(p.n, 0);
        assert_null(p.x);
    }
}

/* hartmann3: a planner told 20 earlier experiments (a Sobol design of
 * another seed) reaches regret 0.01 in fewer of its own experiments than a
 * cold one, on at least 4 of seeds 0-4 and in total. */
static void test_warm_start_fewer_experiments(void **state)
{
    (void)state;
    const lab_testfunc *f = lab_testfunc_find("hartmann3");
    lab_err err = {0};
    lab_space *s = lab_testfunc_space(f, &err);
    int warm_better = 0;
    size_t tot_cold = 0, tot_warm = 0;
    for (uint64_t seed = 0; seed < 5; seed++) {
        size_t need[2];
        for (int warm = 0; warm < 2; warm++) {
            lab_planner_opts o = {.kind = "gp", .seed = seed, .n_objectives = 1};
            lab_planner *p = lab_planner_new(s, &o, &err);
            assert_non_null(p);
            if (warm) {
                lab_planner_opts os = {.kind = "sobol", .seed = seed + 100, .n_objectives = 1};
                lab_planner *q = lab_planner_new(s, &os, &err);
                for (int i = 0; i < 20; i++) {
                    double x[3], y;
                    assert_int_equal(lab_planner_ask(q, 1, NULL, 0, x, NULL), 0);
                    f->eval(x, &y);
                    lab_planner_tell(q, x, &y, LAB_OUTCOME_MEASURED);
                    assert_int_equal(lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED), 0);
                }
                lab_planner_destroy(&q);
            }
            need[warm] = 61;
            for (size_t i = 0; i < 60; i++) {
                double x[3], y;
                assert_int_equal(lab_planner_ask(p, 1, NULL, 0, x, NULL), 0);
                f->eval(x, &y);
                lab_planner_tell(p, x, &y, LAB_OUTCOME_MEASURED);
                if (y - f->optimum <= 0.01) {
                    need[warm] = i + 1;
                    break;
                }
            }
            lab_planner_destroy(&p);
        }
        print_message("seed %llu: regret 0.01 after %zu experiments cold, %zu warm\n",
                      (unsigned long long)seed, need[0], need[1]);
        warm_better += need[1] < need[0];
        tot_cold += need[0];
        tot_warm += need[1];
    }
    assert_true(warm_better >= 4);
    assert_true(tot_warm < tot_cold);
    lab_space_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_read),
        cmocka_unit_test(test_csv_refused),
        cmocka_unit_test(test_warm_start_fewer_experiments),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
