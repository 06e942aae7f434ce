/* Unit tests of a campaign's workflow (orchestrator/workflow.c): the step
 * DAG read from a config into predecessor and successor indices, a
 * topological order, 'within' links, objectives' steps, and the refusal of
 * a circle or an unknown predecessor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "orchestrator/config.h"
#include "orchestrator/workflow.h"

#include "common/banned.h"

/* A diamond listed out of order: mix first, then two branches of it, then
 * a measure after both; 'quench' must start within 30 s of 'heat'. */
static const char s_diamond[] =
    "campaign: {name: wf, budget: {experiments: 4}}\n"
    "space:\n"
    "  - {name: x, type: real, low: 0, high: 1}\n"
    "objectives:\n"
    "  - {name: y, goal: maximize, from: measure.y}\n"
    "  - {name: z, goal: minimize, from: heat.t}\n"
    "planner: {kind: random}\n"
    "workflow:\n"
    "  - {step: measure, capability: meter, after: [quench, wash]}\n"
    "  - {step: mix, capability: mixer, params: {x: \"${x}\"}}\n"
    "  - {step: heat, capability: oven, after: [mix]}\n"
    "  - {step: quench, capability: bath, after: [heat], within: 30s}\n"
    "  - {step: wash, capability: washer, after: [mix]}\n"
    "devices:\n"
    "  - {name: m, capabilities: [meter, mixer, oven, bath, washer]}\n";

static lab_campaign_cfg *s_load(const char *text)
{
    lab_err err = {0};
    lab_campaign_cfg *c = lab_config_load_string("wf.yaml", text, strlen(text), stderr, &err);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

static int s_pos(const lab_workflow *wf, size_t step)
{
    for (size_t k = 0; k < wf->n_steps; k++)
        if (wf->order[k] == step)
            return (int)k;
    return -1;
}

static void test_diamond(void **state)
{
    (void)state;
    lab_campaign_cfg *c = s_load(s_diamond);
    lab_err err = {0};
    lab_workflow *wf = lab_workflow_new(c, &err);
    assert_non_null(wf);
    assert_int_equal(wf->n_steps, 5);
    /* the loader keeps steps in a dependency order of its own: indices by name */
    size_t MEASURE = (size_t)lab_config_step(c, "measure"), MIX = (size_t)lab_config_step(c, "mix"),
           HEAT = (size_t)lab_config_step(c, "heat"), QUENCH = (size_t)lab_config_step(c, "quench"),
           WASH = (size_t)lab_config_step(c, "wash");
    assert_true(MEASURE < 5 && MIX < 5 && HEAT < 5 && QUENCH < 5 && WASH < 5);
    /* predecessors, in the order the config names them */
    assert_int_equal(wf->steps[MEASURE].n_pred, 2);
    assert_int_equal(wf->steps[MEASURE].pred[0], QUENCH);
    assert_int_equal(wf->steps[MEASURE].pred[1], WASH);
    for (size_t s = 0; s < wf->n_steps; s++)
        assert_string_equal(wf->steps[s].name, c->steps[s].name);
    assert_int_equal(wf->steps[MIX].n_pred, 0);
    assert_int_equal(wf->steps[HEAT].n_pred, 1);
    assert_int_equal(wf->steps[HEAT].pred[0], MIX);
    /* successors */
    assert_int_equal(wf->steps[MIX].n_succ, 2);
    assert_true((wf->steps[MIX].succ[0] == HEAT && wf->steps[MIX].succ[1] == WASH) ||
                (wf->steps[MIX].succ[0] == WASH && wf->steps[MIX].succ[1] == HEAT));
    assert_int_equal(wf->steps[HEAT].n_succ, 1);
    assert_int_equal(wf->steps[HEAT].succ[0], QUENCH);
    assert_int_equal(wf->steps[MEASURE].n_succ, 0);
    /* within */
    assert_true(wf->steps[QUENCH].within_s == 30.0);
    assert_true(wf->steps[HEAT].within_s == 0.0);
    /* order: each step after all its predecessors; mix (no predecessor) first */
    assert_int_equal(wf->order[0], MIX);
    for (size_t s = 0; s < wf->n_steps; s++) {
        assert_true(s_pos(wf, s) >= 0);
        for (size_t k = 0; k < wf->steps[s].n_pred; k++)
            if (s_pos(wf, wf->steps[s].pred[k]) >= s_pos(wf, s))
                fail_msg("step %s placed before its predecessor %s", wf->steps[s].name,
                         wf->steps[wf->steps[s].pred[k]].name);
    }
    assert_int_equal(wf->order[4], MEASURE);
    /* follows: direct predecessors only */
    assert_true(lab_workflow_follows(wf, QUENCH, HEAT));
    assert_false(lab_workflow_follows(wf, HEAT, QUENCH));
    assert_false(lab_workflow_follows(wf, MEASURE, MIX));
    /* find: by length and bytes (an attempt id's middle part) */
    const char *id = "wf/3/quench/1";
    assert_int_equal(lab_workflow_find(wf, id + 5, 6), QUENCH);
    assert_int_equal(lab_workflow_find(wf, "quenc", 5), -1);
    assert_int_equal(lab_workflow_find(wf, "quenchx", 7), -1);
    assert_int_equal(lab_workflow_find(wf, "", 0), -1);
    /* objectives' steps */
    assert_int_equal(wf->n_objectives, 2);
    assert_int_equal(wf->objective_step[0], MEASURE);
    assert_int_equal(wf->objective_step[1], HEAT);
    lab_workflow_destroy(&wf);
    assert_null(wf);
    lab_workflow_destroy(&wf);
    lab_config_destroy(&c);
}

/* Configs the loader would refuse, built by hand: a circle, and a
 * predecessor that is not a step. */
static void test_refused(void **state)
{
    (void)state;
    char *after_b[] = {"b"}, *after_a[] = {"a"}, *after_z[] = {"z"};
    lab_cfg_step steps[3] = {{.name = "a", .capability = "c", .after = after_b, .n_after = 1},
                             {.name = "b", .capability = "c", .after = after_a, .n_after = 1},
                             {.name = "c", .capability = "c"}};
    lab_campaign_cfg c = {.steps = steps, .n_steps = 3};
    lab_err err = {0};
    lab_workflow *wf = lab_workflow_new(&c, &err);
    assert_null(wf);
    assert_int_equal(err.code, LAB_ECONFIG);
    assert_non_null(strstr(err.msg, "circle"));

    steps[0].after = after_z;
    steps[1].n_after = 0;
    err = (lab_err){0};
    wf = lab_workflow_new(&c, &err);
    assert_null(wf);
    assert_non_null(strstr(err.msg, "step 'a' follows 'z', which is not a step"));

    /* a step named twice in 'after' is one predecessor */
    char *twice[] = {"c", "c"};
    steps[0].after = twice;
    steps[0].n_after = 2;
    wf = lab_workflow_new(&c, &err);
    assert_non_null(wf);
    assert_int_equal(wf->steps[0].n_pred, 1);
    assert_int_equal(wf->steps[2].n_succ, 1);
    assert_int_equal(wf->order[0], 1);   /* b and c have no predecessor; b comes first in the config */
    assert_int_equal(wf->order[1], 2);
    assert_int_equal(wf->order[2], 0);
    lab_workflow_destroy(&wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
