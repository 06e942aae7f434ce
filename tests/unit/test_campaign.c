/* Unit tests of a campaign's scheduling (orchestrator/campaign.c) with fake
 * devices and no sockets, no hub and no lab: a campaign is made from a
 * config string, reaches its "lab" through the host interface below, and
 * every input (a commit on disk, a result, a failure, a lost device, a
 * restart) is checked by the actions it returns: which step goes to which
 * device, that a retry goes to another device, that 'within' holds a slot,
 * that nothing is dispatched before its experiment's row is durable, the
 * failure brake, the end of the budget.
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

#include "common/clock.h"
#include "common/log.h"
#include "orchestrator/campaign.h"

#include "common/banned.h"

/* ------------------------------------------------------------ fake lab */

#define MAX_DEV 4
#define MAX_LOG 512

struct lab_device {
    const char *name;
    const char *caps[4];
    int online, welcomed, capacity, running, reserved;
    long dispatched, failed;         /* attempts sent; failed ones that counted */
};

typedef struct logged {
    lab_action_kind kind;
    char device[64], attempt[128], status[32], text[512];
    long seq;
    int n;
} logged;

typedef struct fake_lab {
    struct lab_device dev[MAX_DEV];
    size_t n_dev;
    const char *caps[8];
    size_t n_caps;
    int stopping;
    int scheduling;
    int committed_pending;          /* rows written since the last commit began */
    logged log[MAX_LOG];
    size_t n_log;
    lab_camp *camp;
    lab_campaign_cfg *cfg;
} fake_lab;

static int s_offers(const struct lab_device *d, const char *cap)
{
    for (size_t k = 0; k < 4 && d->caps[k]; k++)
        if (!strcmp(d->caps[k], cap))
            return 1;
    return 0;
}

static int h_cap(void *ctx, const char *capability)
{
    fake_lab *l = ctx;
    for (size_t i = 0; i < l->n_caps; i++)
        if (!strcmp(l->caps[i], capability))
            return (int)i;
    return -1;
}

/* The lab's rule: online with a free slot; least loaded, then fewest
 * attempts, then first; avoid only when no other offering cap is online. */
static lab_device *h_pick(void *ctx, lab_camp *camp, int cap, const lab_device *avoid)
{
    fake_lab *l = ctx;
    assert_ptr_equal(camp, l->camp);
    const char *c = l->caps[cap];
    int others = 0;
    for (size_t i = 0; i < l->n_dev; i++)
        others |= &l->dev[i] != avoid && l->dev[i].online && l->dev[i].welcomed && s_offers(&l->dev[i], c);
    lab_device *best = NULL;
    for (size_t i = 0; i < l->n_dev; i++) {
        lab_device *d = &l->dev[i];
        if (!d->online || !d->welcomed || !s_offers(d, c) || d->running + d->reserved >= d->capacity)
            continue;
        if (d == avoid && others)
            continue;
        double load = (double)(d->running + d->reserved) / d->capacity;
        double bload = best ? (double)(best->running + best->reserved) / best->capacity : 0;
        if (!best || load < bload || (load == bload && d->dispatched < best->dispatched))
            best = d;
    }
    return best;
}

static int h_all_heard(void *ctx, int cap)
{
    (void)ctx;
    (void)cap;
    return 1;
}

static lab_device *h_find(void *ctx, const char *name)
{
    fake_lab *l = ctx;
    for (size_t i = 0; i < l->n_dev; i++)
        if (!strcmp(l->dev[i].name, name))
            return &l->dev[i];
    return NULL;
}

static const char *h_name(void *ctx, const lab_device *d)
{
    (void)ctx;
    return d->name;
}

static lab_dev_view h_view(void *ctx, const lab_device *d)
{
    (void)ctx;
    return (lab_dev_view){.name = d->name, .online = d->online, .welcomed = d->welcomed,
                          .free = d->capacity - d->running - d->reserved, .last_rx_us = 0};
}

static void h_failed(void *ctx, lab_device *d)
{
    (void)ctx;
    d->failed++;
}

static void h_busy(void *ctx, lab_device *d, int delta, int dispatched)
{
    (void)ctx;
    d->running += delta;
    d->dispatched += dispatched;
    if (d->running < 0 || d->running > d->capacity)
        fail_msg("device %s runs %d attempts (capacity %d)", d->name, d->running, d->capacity);
}

static void h_hold(void *ctx, lab_device *d, int delta)
{
    (void)ctx;
    d->reserved += delta;
    if (d->reserved < 0)
        fail_msg("device %s: more holds released than taken", d->name);
}

static int h_halted(void *ctx)
{
    fake_lab *l = ctx;
    return l->stopping ? LAB_HOST_STOPPING : 0;
}

static int64_t h_grace_until(void *ctx)
{
    (void)ctx;
    return 0;
}

static void s_take(fake_lab *l);
static void s_schedule(fake_lab *l);

static void h_schedule(void *ctx, lab_camp *camp)
{
    fake_lab *l = ctx;
    assert_ptr_equal(camp, l->camp);
    s_take(l);
    s_schedule(l);
}

static const lab_camp_host s_host = {
    .cap = h_cap, .pick = h_pick, .all_heard = h_all_heard, .find = h_find, .name = h_name, .view = h_view,
    .busy = h_busy, .failed = h_failed, .hold = h_hold, .halted = h_halted, .grace_until = h_grace_until,
    .schedule = h_schedule,
};

/* The lab carrying out the campaign's actions: here, writing them down. */
static void s_take(fake_lab *l)
{
    lab_actions *acts = &l->camp->acts;
    assert_false(acts->oom);
    for (size_t i = 0; i < acts->n; i++) {
        const lab_action *a = &acts->a[i];
        assert_true(l->n_log < MAX_LOG);
        logged *g = &l->log[l->n_log++];
        memset(g, 0, sizeof *g);
        g->kind = a->kind;
        snprintf(g->device, sizeof g->device, "%s", a->device ? a->device : "");
        snprintf(g->attempt, sizeof g->attempt, "%s", a->attempt ? a->attempt : "");
        snprintf(g->status, sizeof g->status, "%s", a->status ? a->status : "");
        snprintf(g->text, sizeof g->text, "%s", a->text ? a->text : "");
        g->seq = (long)a->seq;
        g->n = a->n;
        if (a->kind == LAB_ACT_EXPERIMENT || a->kind == LAB_ACT_EXPERIMENT_STATUS || a->kind == LAB_ACT_STEP ||
            a->kind == LAB_ACT_STEP_STATUS || a->kind == LAB_ACT_STEP_COUNTED || a->kind == LAB_ACT_SAMPLE_AT)
            l->committed_pending = 1;
        /* A request only for an experiment whose row is on disk. */
        if (a->kind == LAB_ACT_REQUEST) {
            long seq = 0;
            const char *p = strchr(a->attempt, '/');
            if (p)
                seq = strtol(p + 1, NULL, 10);
            assert_true(seq >= 1 && seq <= l->camp->n_exps);
            if (!l->camp->exps[seq - 1]->durable)
                fail_msg("%s dispatched before experiment %ld is durable", a->attempt, seq);
        }
        if (a->kind == LAB_ACT_BRAKE)
            lab_warn("(test) the brake tripped");
    }
    lab_actions_clear(acts);
}

/* lab_orch_schedule, for one campaign. */
static void s_schedule(fake_lab *l)
{
    if (l->scheduling)
        return;
    l->scheduling = 1;
    lab_sched_prepare(l->camp);
    s_take(l);
    lab_sched_dispatch(l->camp, -1);
    s_take(l);
    lab_sched_check_end(l->camp);
    s_take(l);
    l->scheduling = 0;
}

/* A group commit: begun, then on disk. */
static void s_commit(fake_lab *l)
{
    s_take(l);
    lab_sched_mark_committed(l->camp);
    l->committed_pending = 0;
    lab_sched_mark_durable(l->camp, 0);
    s_take(l);
}

static size_t s_count(const fake_lab *l, size_t from, lab_action_kind kind)
{
    size_t n = 0;
    for (size_t i = from; i < l->n_log; i++)
        n += l->log[i].kind == kind;
    return n;
}

/* The first action of kind logged at or after from, or NULL. */
static const logged *s_find(const fake_lab *l, size_t from, lab_action_kind kind)
{
    for (size_t i = from; i < l->n_log; i++)
        if (l->log[i].kind == kind)
            return &l->log[i];
    return NULL;
}

/* The first STEP_STATUS with status at or after from, or NULL. */
static const logged *s_find_status(const fake_lab *l, size_t from, const char *status)
{
    for (size_t i = from; i < l->n_log; i++)
        if (l->log[i].kind == LAB_ACT_STEP_STATUS && !strcmp(l->log[i].status, status))
            return &l->log[i];
    return NULL;
}

static void s_dump(const fake_lab *l)
{
    for (size_t i = 0; i < l->n_log; i++)
        fprintf(stderr, "  %3zu %-18s dev=%s attempt=%s seq=%ld status=%s n=%d %s\n", i,
                lab_action_name(l->log[i].kind), l->log[i].device, l->log[i].attempt, l->log[i].seq,
                l->log[i].status, l->log[i].n, l->log[i].text);
}

#define EXPECT(cond)                                     \
    do {                                                 \
        if (!(cond)) {                                   \
            s_dump(l);                                   \
            fail_msg("%s", #cond);                       \
        }                                                \
    } while (0)

static fake_lab *s_lab(const char *yaml)
{
    fake_lab *l = calloc(1, sizeof *l);
    assert_non_null(l);
    lab_err err = {0};
    l->cfg = lab_config_load_string("campaign.yaml", yaml, strlen(yaml), stderr, &err);
    if (!l->cfg)
        fail_msg("config: %s", err.msg);
    for (size_t i = 0; i < l->cfg->n_devices && i < MAX_DEV; i++) {
        lab_device *d = &l->dev[l->n_dev++];
        d->name = l->cfg->devices[i].name;
        d->capacity = l->cfg->devices[i].capacity;
        d->online = d->welcomed = 1;
        for (size_t k = 0; k < l->cfg->devices[i].n_capabilities && k < 4; k++) {
            d->caps[k] = l->cfg->devices[i].capabilities[k];
            if (h_cap(l, d->caps[k]) < 0)
                l->caps[l->n_caps++] = d->caps[k];
        }
    }
    l->camp = lab_camp_new(l->cfg, &s_host, l, &err);
    if (!l->camp)
        fail_msg("campaign: %s", err.msg);
    l->camp->liveness_us = 3000000;
    return l;
}

static void s_lab_free(fake_lab *l)
{
    lab_camp_destroy(&l->camp);
    lab_config_destroy(&l->cfg);
    free(l);
}

/* A StepResult from d for attempt (status DONE with y = value, or FAILED with error). */
static void s_result(fake_lab *l, lab_device *d, const char *attempt, int done, double value, const char *error)
{
    Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
    r.attempt_id = (char *)attempt;
    r.status = done ? LABLOOP__STEP_RESULT__STATUS__DONE : LABLOOP__STEP_RESULT__STATUS__FAILED;
    r.error = (char *)(error ? error : "");
    Labloop__Param *p = lab_param_number("y", value, NULL);
    Labloop__Param *vals[1] = {p};
    if (done) {
        r.values = vals;
        r.n_values = 1;
    }
    r.started_us = 1000;
    r.finished_us = 2000;
    lab_sched_on_result(l->camp, d, &r);
    s_take(l);
    lab_param_free(p);
}

static lab_device *s_dev(fake_lab *l, const char *name)
{
    lab_device *d = h_find(l, name);
    assert_non_null(d);
    return d;
}

/* ------------------------------------------------------------ tests */

static const char s_one_step[] =
    "campaign: {name: t, seed: 3, budget: {experiments: 3}, brake: off}\n"
    "space:\n"
    "  - {name: x, type: real, low: 0, high: 1}\n"
    "objectives:\n"
    "  - {name: y, goal: maximize, from: measure.y}\n"
    "planner: {kind: random, batch: 1}\n"
    "workflow:\n"
    "  - {step: measure, capability: meter, params: {x: \"${x}\"}, retries: 1, backoff: 0s}\n"
    "devices:\n"
    "  - {name: m1, capabilities: [meter]}\n"
    "  - {name: m2, capabilities: [meter]}\n";

/* Proposals are written first; their steps go out only once the commit
 * holding their rows is on disk, and in the order request, step row,
 * sample, event. A commit begun while rows were still in the list does not
 * make them durable. */
static void test_durable_before_dispatch(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    s_schedule(l);
    /* batch 1 plus one ahead (random proposes ahead) */
    EXPECT(s_count(l, 0, LAB_ACT_EXPERIMENT) == 2);
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 0);
    EXPECT(l->camp->n_exps == 2 && !l->camp->exps[0]->durable);

    /* on disk without having been in the commit: still not durable */
    lab_sched_mark_durable(l->camp, 0);
    s_take(l);
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 0);

    /* a commit begun with rows still in the list marks nothing */
    lab_camp *c = l->camp;
    lab_action *a = lab_actions_add(&c->acts, LAB_ACT_EVENT);
    assert_non_null(a);
    a->text = "test.pending";
    lab_sched_mark_committed(c);
    EXPECT(!c->exps[0]->committed);
    lab_actions_clear(&c->acts);

    size_t mark = l->n_log;
    s_commit(l);
    EXPECT(c->exps[0]->durable && c->exps[1]->durable);
    /* both experiments go out, one to each meter */
    EXPECT(s_count(l, mark, LAB_ACT_REQUEST) == 2);
    const logged *r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(!strcmp(r->attempt, "t/1/measure/1") && !strcmp(r->device, "m1") && r->n == 1);
    EXPECT(l->log[r - l->log + 1].kind == LAB_ACT_STEP && !strcmp(l->log[r - l->log + 1].status, "dispatched"));
    EXPECT(l->log[r - l->log + 2].kind == LAB_ACT_SAMPLE_AT);
    EXPECT(l->log[r - l->log + 3].kind == LAB_ACT_EVENT && !strcmp(l->log[r - l->log + 3].text, "step.dispatched"));
    const logged *r2 = s_find(l, (size_t)(r - l->log) + 1, LAB_ACT_REQUEST);
    EXPECT(!strcmp(r2->attempt, "t/2/measure/1") && !strcmp(r2->device, "m2"));
    EXPECT(s_dev(l, "m1")->running == 1 && s_dev(l, "m2")->running == 1);
    s_lab_free(l);
}

/* A failed attempt is retried on another device (here the one the lab's
 * fairness alone would not pick), and its result is acknowledged. */
static void test_retry_goes_elsewhere(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    l->camp->budget_experiments = 1;
    s_dev(l, "m2")->dispatched = 10;          /* m1 is the fairer pick */
    s_schedule(l);
    s_commit(l);
    const logged *r = s_find(l, 0, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->device, "m1"));

    size_t mark = l->n_log;
    s_result(l, s_dev(l, "m1"), "t/1/measure/1", 0, 0, "pump stalled");
    EXPECT(s_find(l, mark, LAB_ACT_ACK) && !strcmp(s_find(l, mark, LAB_ACT_ACK)->attempt, "t/1/measure/1"));
    const logged *st = s_find_status(l, mark, "failed");
    EXPECT(st && !strcmp(st->text, "pump stalled"));
    EXPECT(s_dev(l, "m1")->running == 0);
    EXPECT(s_dev(l, "m1")->failed == 1);      /* told to the lab: m1 hands its turn on */
    mark = l->n_log;
    s_schedule(l);
    r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "t/1/measure/2") && !strcmp(r->device, "m2"));

    /* the result of the first attempt again: acknowledged, nothing else */
    mark = l->n_log;
    s_result(l, s_dev(l, "m1"), "t/1/measure/1", 1, 0.5, NULL);
    EXPECT(s_count(l, mark, LAB_ACT_ACK) == 1 && l->n_log == mark + 1);
    /* the retry's result measures the experiment, and the budget is spent */
    mark = l->n_log;
    s_result(l, s_dev(l, "m2"), "t/1/measure/2", 1, 0.75, NULL);
    EXPECT(s_count(l, mark, LAB_ACT_DONE) == 1);
    EXPECT(s_dev(l, "m2")->failed == 0 && s_dev(l, "m2")->dispatched == 11);
    const logged *es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es && es->seq == 1 && !strcmp(es->status, "measured"));
    EXPECT(l->camp->measured == 1);
    s_schedule(l);
    EXPECT(s_count(l, mark, LAB_ACT_ENDED) == 1);
    EXPECT(!strcmp(l->camp->end_status, "completed"));
    s_lab_free(l);
}

/* planner.refill: false: the planner is asked for a whole batch, and for
 * the next only when every experiment of the last one has ended (nothing
 * proposed ahead either); by default a finished experiment's place is
 * filled at once (and the random design proposes a batch ahead). */
static void test_whole_batches(void **state)
{
    (void)state;
    char cfg[sizeof s_one_step + 64];
    const char *at = strstr(s_one_step, "batch: 1}");
    assert_non_null(at);
    snprintf(cfg, sizeof cfg, "%.*sbatch: 2, refill: false}%s", (int)(at - s_one_step), s_one_step,
             at + strlen("batch: 1}"));
    fake_lab *l = s_lab(cfg);
    EXPECT(l->cfg->whole_batches == 1 && l->cfg->batch == 2);
    l->camp->budget_experiments = 4;
    s_schedule(l);
    EXPECT(l->camp->n_exps == 2);                     /* one batch, none ahead */
    s_commit(l);
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 2);
    s_result(l, s_dev(l, "m1"), "t/1/measure/1", 1, 0.5, NULL);
    s_schedule(l);
    EXPECT(l->camp->n_exps == 2);                     /* experiment 2 still runs */
    s_result(l, s_dev(l, "m2"), "t/2/measure/1", 0, 0, "lamp out");
    s_schedule(l);
    EXPECT(l->camp->n_exps == 2);                     /* a failed attempt is retried: still running */
    s_commit(l);
    s_result(l, s_dev(l, "m1"), "t/2/measure/2", 1, 0.25, NULL);
    s_schedule(l);
    EXPECT(l->camp->n_exps == 4);                     /* the batch ended: the next one */
    s_lab_free(l);

    /* the default refills: batch 2 plus 2 ahead, and a place refilled at once */
    snprintf(cfg, sizeof cfg, "%.*sbatch: 2}%s", (int)(at - s_one_step), s_one_step,
             at + strlen("batch: 1}"));
    l = s_lab(cfg);
    EXPECT(l->cfg->whole_batches == 0);
    l->camp->budget_experiments = 6;
    s_schedule(l);
    EXPECT(l->camp->n_exps == 4);
    s_commit(l);
    s_result(l, s_dev(l, "m1"), "t/1/measure/1", 1, 0.5, NULL);
    s_schedule(l);
    EXPECT(l->camp->n_exps == 5);
    s_lab_free(l);
}

static const char s_within[] =
    "campaign: {name: w, seed: 1, budget: {experiments: 1}}\n"
    "space:\n"
    "  - {name: x, type: real, low: 0, high: 1}\n"
    "objectives:\n"
    "  - {name: y, goal: maximize, from: measure.y}\n"
    "planner: {kind: random, batch: 1}\n"
    "workflow:\n"
    "  - {step: heat, capability: oven}\n"
    "  - {step: measure, capability: meter, after: [heat], within: 1m}\n"
    "devices:\n"
    "  - {name: oven1, capabilities: [oven]}\n"
    "  - {name: meter1, capabilities: [meter]}\n";

/* A step that must start 'within' a time of its predecessor holds a slot
 * on a device while the predecessor runs; with no such slot the
 * predecessor does not start. */
static void test_within_holds_slot(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_within);
    lab_device *oven = s_dev(l, "oven1"), *meter = s_dev(l, "meter1");
    meter->online = 0;                        /* nowhere to hold a slot */
    s_schedule(l);
    s_commit(l);
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 0 && oven->running == 0);

    meter->online = 1;
    size_t mark = l->n_log;
    s_schedule(l);
    const logged *r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "w/1/heat/1") && !strcmp(r->device, "oven1"));
    EXPECT(meter->reserved == 1 && meter->running == 0);
    EXPECT(h_pick(l, l->camp, h_cap(l, "meter"), NULL) == NULL);   /* held: no one else gets it */

    mark = l->n_log;
    s_result(l, oven, "w/1/heat/1", 1, 1.0, NULL);
    s_schedule(l);
    r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "w/1/measure/1") && !strcmp(r->device, "meter1"));
    EXPECT(meter->reserved == 0 && meter->running == 1);
    s_lab_free(l);
}

/* One step on one meter, after the campaign line given. */
#define ONE_METER(campaign)                                  \
    campaign "\n"                                            \
    "space:\n"                                               \
    "  - {name: x, type: real, low: 0, high: 1}\n"           \
    "objectives:\n"                                          \
    "  - {name: y, goal: maximize, from: measure.y}\n"       \
    "planner: {kind: random, batch: 1}\n"                    \
    "workflow:\n"                                            \
    "  - {step: measure, capability: meter}\n"               \
    "devices:\n"                                             \
    "  - {name: m1, capabilities: [meter]}\n"

static const char s_brake[] = ONE_METER("campaign: {name: b, seed: 1, budget: {experiments: 20}, brake: {after: 3}}");

/* Three experiments in a row failing with the same cause pause the
 * campaign (the brake action), and nothing more is dispatched. */
static void test_brake(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_brake);
    lab_device *m = s_dev(l, "m1");
    s_schedule(l);
    s_commit(l);
    for (int i = 1; i <= 3; i++) {
        char id[64], err[64];
        snprintf(id, sizeof id, "b/%d/measure/1", i);
        snprintf(err, sizeof err, "sensor %d saturated", 40 + i);   /* same cause, other numbers */
        const logged *r = s_find(l, 0, LAB_ACT_REQUEST);
        EXPECT(r);
        EXPECT(s_count(l, 0, LAB_ACT_BRAKE) == 0);
        s_result(l, m, id, 0, 0, err);
        s_schedule(l);
        s_commit(l);
    }
    EXPECT(s_count(l, 0, LAB_ACT_BRAKE) == 1);
    EXPECT(l->camp->state == LAB_CAMP_PAUSED && l->camp->failed == 3);
    EXPECT(m->failed == 3);                   /* each told to the lab */
    size_t mark = l->n_log;
    s_schedule(l);
    s_commit(l);
    EXPECT(s_count(l, mark, LAB_ACT_REQUEST) == 0);
    s_lab_free(l);
}

/* Which failures are told to the lab as the device's (where devices share
 * work in turns, it then hands its turn on): a result without the
 * objective's value is; an attempt that failed under an e-stop is not. */
static void test_failures_told_to_the_lab(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    l->camp->budget_experiments = 1;
    s_schedule(l);
    s_commit(l);
    const logged *r = s_find(l, 0, LAB_ACT_REQUEST);
    EXPECT(r);
    lab_device *d = s_dev(l, r->device);
    s_result(l, d, r->attempt, 1, NAN, NULL);     /* done, but y is not a number */
    EXPECT(l->camp->failed == 1 && d->failed == 1 && d->running == 0);
    s_lab_free(l);

    l = s_lab(s_one_step);
    l->camp->budget_experiments = 1;
    s_schedule(l);
    s_commit(l);
    r = s_find(l, 0, LAB_ACT_REQUEST);
    EXPECT(r);
    d = s_dev(l, r->device);
    lab_sched_estop_hit(l->camp);
    s_result(l, d, r->attempt, 0, 0, "stopped by e-stop");
    EXPECT(d->failed == 0 && d->running == 0);
    s_lab_free(l);
}

/* A device lost with an attempt on it: the attempt ends only when the
 * device stays away past its liveness window; then it is retried elsewhere. */
static void test_device_lost(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    l->camp->budget_experiments = 1;
    l->camp->liveness_us = 20000;
    s_schedule(l);
    s_commit(l);
    lab_device *m1 = s_dev(l, "m1");
    EXPECT(m1->running == 1);
    m1->online = 0;
    size_t mark = l->n_log;
    lab_sched_device_lost(l->camp, m1, "silent");
    lab_sched_check_deadlines(l->camp, lab_clock_mono_us());
    s_take(l);
    EXPECT(s_count(l, mark, LAB_ACT_STEP_STATUS) == 0);
    usleep(50000);
    lab_sched_check_deadlines(l->camp, lab_clock_mono_us());
    s_take(l);
    const logged *st = s_find_status(l, mark, "lost");
    EXPECT(st && !strcmp(st->attempt, "t/1/measure/1"));
    EXPECT(m1->running == 0);
    EXPECT(m1->failed == 1);
    mark = l->n_log;
    s_schedule(l);
    const logged *r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "t/1/measure/2") && !strcmp(r->device, "m2"));
    s_lab_free(l);
}

/* A restart: the hub's rows read back (one experiment measured, one with
 * its attempt in flight on m2); the attempt holds its slot, its result is
 * taken, and the budget's last experiment is proposed, not the first again. */
static void test_restart(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    lab_err err = {0};
    lab_camp_resume *rs = lab_camp_resume_begin(l->camp, &err);
    assert_non_null(rs);
    lab_hub_experiment_row e1 = {.seq = 1, .params_json = "{\"x\": 0.25}", .status = "measured",
                                 .objectives_json = "{\"y\": 0.5}", .finished_us = 10};
    lab_hub_experiment_row e2 = {.seq = 2, .params_json = "{\"x\": 0.75}", .status = "running"};
    lab_hub_step_row s1 = {.attempt_id = "t/1/measure/1", .experiment = 1, .step = "measure", .attempt = 1,
                           .device = "m1", .status = "done", .result_json = "{\"y\": 0.5}", .counted = 1};
    lab_hub_step_row s2 = {.attempt_id = "t/2/measure/1", .experiment = 2, .step = "measure", .attempt = 1,
                           .device = "m2", .status = "dispatched", .counted = 1};
    assert_int_equal(lab_camp_resume_experiment(&e1, rs), 0);
    assert_int_equal(lab_camp_resume_experiment(&e2, rs), 0);
    assert_int_equal(lab_camp_resume_step(&s1, rs), 0);
    assert_int_equal(lab_camp_resume_step(&s2, rs), 0);
    assert_int_equal(lab_camp_resume_end(rs, 0), 0);
    EXPECT(l->camp->n_exps == 2 && l->camp->measured == 1 && l->camp->n_active == 1);
    EXPECT(s_dev(l, "m2")->running == 1 && s_dev(l, "m1")->running == 0);

    s_schedule(l);
    s_commit(l);
    /* the third (last) experiment is proposed and goes to the free meter */
    const logged *x = s_find(l, 0, LAB_ACT_EXPERIMENT);
    EXPECT(x && x->seq == 3 && s_count(l, 0, LAB_ACT_EXPERIMENT) == 1);
    const logged *r = s_find(l, 0, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "t/3/measure/1") && !strcmp(r->device, "m1"));
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 1);       /* the one in flight is not sent again */

    size_t mark = l->n_log;
    s_result(l, s_dev(l, "m2"), "t/2/measure/1", 1, 0.9, NULL);
    const logged *es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es && es->seq == 2 && !strcmp(es->status, "measured"));
    EXPECT(l->camp->best == 2);
    s_lab_free(l);
}

/* A result for an attempt the hub does not know (its record was in a
 * commit that failed) is held, not acknowledged, and that attempt's id goes
 * to the device holding it, which answers with the result it kept instead
 * of running the step again. */
static void test_unrecorded_attempt(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    l->camp->budget_experiments = 1;
    lab_err err = {0};
    lab_camp_resume *rs = lab_camp_resume_begin(l->camp, &err);
    assert_non_null(rs);
    lab_hub_experiment_row e1 = {.seq = 1, .params_json = "{\"x\": 0.5}", .status = "running"};
    lab_hub_step_row s1 = {.attempt_id = "t/1/measure/1", .experiment = 1, .step = "measure", .attempt = 1,
                           .device = "m1", .status = "failed", .counted = 0};
    assert_int_equal(lab_camp_resume_experiment(&e1, rs), 0);
    assert_int_equal(lab_camp_resume_step(&s1, rs), 0);
    assert_int_equal(lab_camp_resume_end(rs, 0), 0);
    s_dev(l, "m2")->dispatched = 10;          /* m1 is the fairer pick */

    s_result(l, s_dev(l, "m2"), "t/1/measure/2", 1, 0.5, NULL);
    EXPECT(l->n_log == 0);                    /* held: no ack, nothing recorded */
    /* an attempt number never dispatched (too far ahead): acked, dropped */
    s_result(l, s_dev(l, "m2"), "t/1/measure/9", 1, 0.5, NULL);
    EXPECT(s_count(l, 0, LAB_ACT_ACK) == 1 && s_count(l, 0, LAB_ACT_STEP_STATUS) == 0);

    size_t mark = l->n_log;
    s_schedule(l);
    s_commit(l);
    const logged *r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "t/1/measure/2") && !strcmp(r->device, "m2"));
    mark = l->n_log;
    s_result(l, s_dev(l, "m2"), "t/1/measure/2", 1, 0.5, NULL);
    EXPECT(s_count(l, mark, LAB_ACT_ACK) == 1);
    const logged *es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es && es->seq == 1 && !strcmp(es->status, "measured"));
    s_lab_free(l);
}

static const char s_approve[] = ONE_METER("campaign: {name: t, seed: 3, budget: {experiments: 3}, approve: each}");

/* With the approval gate a proposal is recorded 'proposed' and nothing of
 * it goes out; once approved, its steps go out after the commit holding
 * its new status is on disk; a rejected one uses no budget. */
static void test_approval(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_approve);
    s_schedule(l);
    s_commit(l);
    const logged *x = s_find(l, 0, LAB_ACT_EXPERIMENT);
    EXPECT(x && x->seq == 1 && !strcmp(x->status, "proposed"));
    EXPECT(s_count(l, 0, LAB_ACT_EXPERIMENT) == 1);      /* at most a batch waits */
    EXPECT(s_count(l, 0, LAB_ACT_REQUEST) == 0 && l->camp->n_waiting == 1);

    char why[256];
    long seq = 1;
    size_t mark = l->n_log;
    EXPECT(lab_approve_act(l->camp, 1, &seq, 1, "ana", "", why, sizeof why) == NULL);
    const logged *es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es == NULL);                       /* not yet carried out: still in the list */
    EXPECT(l->camp->acts.n > 0);
    s_take(l);
    es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es && es->seq == 1 && !strcmp(es->status, "running"));
    s_schedule(l);
    EXPECT(s_count(l, mark, LAB_ACT_REQUEST) == 0);       /* its row is not on disk yet */
    s_commit(l);
    const logged *r = s_find(l, mark, LAB_ACT_REQUEST);
    EXPECT(r && !strcmp(r->attempt, "t/1/measure/1"));

    /* the next proposal is rejected: it uses no budget, another is proposed */
    const logged *x2 = s_find(l, mark, LAB_ACT_EXPERIMENT);
    EXPECT(x2 && x2->seq == 2 && !strcmp(x2->status, "proposed"));
    seq = 2;
    mark = l->n_log;
    EXPECT(lab_approve_act(l->camp, 0, &seq, 1, "ana", "too hot", why, sizeof why) == NULL);
    s_take(l);
    es = s_find(l, mark, LAB_ACT_EXPERIMENT_STATUS);
    EXPECT(es && es->seq == 2 && !strcmp(es->status, "rejected"));
    s_schedule(l);
    s_commit(l);
    const logged *x3 = s_find(l, mark, LAB_ACT_EXPERIMENT);
    EXPECT(x3 && x3->seq == 3 && !strcmp(x3->status, "proposed"));
    EXPECT(lab_approve_used(l->camp) == 2);
    s_lab_free(l);
}

/* Nothing is dispatched or proposed once the lab is stopping. */
static void test_stopping(void **state)
{
    (void)state;
    fake_lab *l = s_lab(s_one_step);
    l->stopping = 1;
    s_schedule(l);
    s_commit(l);
    EXPECT(l->n_log == 0);
    s_lab_free(l);
}

int main(void)
{
    lab_log_setup("test", LAB_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_before_dispatch),
        cmocka_unit_test(test_retry_goes_elsewhere),
        cmocka_unit_test(test_whole_batches),
        cmocka_unit_test(test_within_holds_slot),
        cmocka_unit_test(test_failures_told_to_the_lab),
        cmocka_unit_test(test_brake),
        cmocka_unit_test(test_device_lost),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_unrecorded_attempt),
        cmocka_unit_test(test_approval),
        cmocka_unit_test(test_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
