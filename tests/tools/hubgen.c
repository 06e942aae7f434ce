/* hubgen: write a large synthetic hub through the real writer (lab_hub),
 * for benchmarks of the read side (`labloop log --experiment N` on a hub
 * with 1,000,000 events).
 *
 * For: scripts/bench.sh and tests. Not for: realistic science — the
 * parameters and values are made up; the shape of the events (kinds,
 * subjects, detail fields) is the orchestrator's.
 *
 * usage: hubgen OUT.db EVENTS [--campaigns N] [--name NAME] [--access A]
 *               [--export-control] [--rows]      (OUT.db must not exist)
 *   --campaigns N     spread the events over N campaigns NAME-1 .. NAME-N
 *                     (default one campaign, NAME)
 *   --name NAME       campaign name (default big)
 *   --access A        open, shared or closed (default open)
 *   --export-control  mark the campaigns export-controlled
 *   --rows            also write each experiment's sample and the sample's
 *                     moves, as the orchestrator does (its step attempts are
 *                     always written: they hold what the step events say)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "orchestrator/hub/hub.h"

#include "common/banned.h"

#define S_COMMIT_EVERY 20000
#define S_STEPS 3

static int s_fail(const char *what, lab_hub *h)
{
    fprintf(stderr, "hubgen: %s: %s\n", what, h ? lab_hub_errmsg(h) : "?");
    return 1;
}

typedef struct s_opts {
    const char *name, *access;
    int export_control, rows;
} s_opts;

/* One campaign called name with about want events; *n counts them. */
static int s_campaign(lab_hub *h, const s_opts *o, const char *name, int64_t t0, long long want,
                      long long *n)
{
    static const char *const steps[S_STEPS] = {"dispense", "heat", "measure_pl"};
    static const char *const devs[S_STEPS] = {"ot2", "hotplate", "pl-1"};
    lab_err err;
    char cfg[256];
    snprintf(cfg, sizeof cfg, "campaign: {name: %s, seed: 1, budget: {experiments: 1000000}}\n",
             name);
    lab_hub_campaign c = {.name = name, .config_path = "big.yaml", .config_text = cfg,
                          .config_sha256 = "0", .seed = 1, .version = "bench", .host = "bench",
                          .operator_name = "bench", .access = o->access,
                          .export_control = o->export_control, .planner = "sobol",
                          .created_us = t0};
    int64_t camp = 0;
    if (lab_hub_record_campaign(h, &c, &camp) < 0)
        return s_fail("campaign", h);
    int64_t t = c.created_us;
    long long mine = 0;
    char subj[160], detail[384], label[160];
    snprintf(detail, sizeof detail, "{\"name\":\"%s\"}", name);
    if (lab_hub_record_event(h, camp, t, "campaign.created", name, detail) < 0)
        return s_fail("event", h);
    mine++;
    for (int64_t seq = 1; mine < want; seq++) {
        snprintf(subj, sizeof subj, "%s/%" PRId64, name, seq);
        snprintf(detail, sizeof detail, "{\"x\":%.6f,\"y\":%" PRId64 "}", (double)(seq % 997) / 997,
                 seq % 7);
        if (lab_hub_record_experiment(h, camp, seq, detail, "planner", NULL, "running", t) < 0)
            return s_fail("experiment", h);
        if (o->rows && lab_hub_record_sample(h, camp, seq, subj, "queue", t) < 0)
            return s_fail("sample", h);
        snprintf(label, sizeof label, "%s", subj);
        /* the four per-step events have no detail: their rows say it */
        if (lab_hub_record_event(h, camp, t += 1000, "experiment.proposed", subj, NULL) < 0)
            return s_fail("event", h);
        mine++;
        for (int s = 0; s < S_STEPS && mine < want; s++) {
            snprintf(subj, sizeof subj, "%s/%" PRId64 "/%s/1", name, seq, steps[s]);
            lab_hub_step st = {.attempt_id = subj, .campaign = camp, .experiment = seq,
                               .step = steps[s], .attempt = 1, .device = devs[s],
                               .status = "dispatched", .params_json = "{}", .queued_us = t};
            if (lab_hub_record_step(h, &st) < 0 ||
                (o->rows && lab_hub_move_sample(h, camp, label, devs[s], subj, t) < 0) ||
                lab_hub_set_step_status(h, subj, "done", NULL, t, t + 1000, "{\"v\":1}", NULL) < 0)
                return s_fail("step", h);
            if (lab_hub_record_event(h, camp, t += 1000, "step.dispatched", subj, NULL) < 0 ||
                lab_hub_record_event(h, camp, t += 1000, "step.done", subj, NULL) < 0)
                return s_fail("event", h);
            mine += 2;
        }
        snprintf(subj, sizeof subj, "%s/%" PRId64, name, seq);
        char obj[64];
        snprintf(obj, sizeof obj, "{\"plqy\":%.4f}", (double)(seq % 101) / 101);
        if (lab_hub_record_event(h, camp, t += 1000, "experiment.measured", subj, NULL) < 0 ||
            lab_hub_set_experiment_status(h, camp, seq, "measured",
                                          o->rows ? obj : "{\"y\":0.5}", NULL, t) < 0)
            return s_fail("event", h);
        mine++;
        if (seq % (S_COMMIT_EVERY / 8) == 0 && lab_hub_commit(h, &err) < 0) {
            fprintf(stderr, "hubgen: %s\n", err.msg);
            return 1;
        }
    }
    snprintf(detail, sizeof detail, "{\"status\":\"completed\"}");
    if (lab_hub_set_campaign_status(h, camp, "completed", t) < 0 ||
        lab_hub_record_event(h, camp, t, "campaign.status", name, detail) < 0)
        return s_fail("status", h);
    mine++;
    *n += mine;
    return 0;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: hubgen OUT.db EVENTS [--campaigns N] [--name NAME] [--access A]"
                        " [--export-control] [--rows]\n";
    if (argc < 3) {
        fputs(usage, stderr);
        return 2;
    }
    s_opts o = {.name = "big", .access = "open"};
    long campaigns = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--export-control"))
            o.export_control = 1;
        else if (!strcmp(argv[i], "--rows"))
            o.rows = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--campaigns"))
            campaigns = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--name"))
            o.name = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--access"))
            o.access = argv[++i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    struct stat sb;
    if (stat(argv[1], &sb) == 0) {
        fprintf(stderr, "hubgen: %s exists; remove it first\n", argv[1]);
        return 2;
    }
    long long want = atoll(argv[2]);
    if (want < 10 || (campaigns && want / campaigns < 10)) {
        fprintf(stderr, "hubgen: EVENTS must be at least 10 per campaign\n");
        return 2;
    }
    lab_err err;
    lab_hub *h = lab_hub_open(argv[1], &err);
    if (!h) {
        fprintf(stderr, "hubgen: %s\n", err.msg);
        return 1;
    }
    long long n = 0;
    int64_t t0 = 1700000000000000LL;
    if (!campaigns) {
        if (s_campaign(h, &o, o.name, t0, want, &n))
            return 1;
    } else {
        for (long k = 1; k <= campaigns; k++) {
            char name[128];
            snprintf(name, sizeof name, "%s-%ld", o.name, k);
            long long share = want / campaigns + (k <= want % campaigns ? 1 : 0);
            if (s_campaign(h, &o, name, t0 + (int64_t)k * 86400000000LL, share, &n))
                return 1;
        }
    }
    if (lab_hub_commit(h, &err) < 0) {
        fprintf(stderr, "hubgen: %s\n", err.msg);
        return 1;
    }
    lab_hub_destroy(&h);
    printf("%lld events\n", n);
    return 0;
}
