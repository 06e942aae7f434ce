/* hubgen: write a large synthetic hub through the real writer (lab_hub),
 * for benchmarks of the read side (`labloop log --experiment N` on a hub
 * with 1,000,000 events).
 *
 * For: scripts/bench.sh and tests. Not for: realistic science — the
 * parameters and values are made up; the shape of the events (kinds,
 * subjects, detail fields) is the orchestrator's.
 *
 * usage: hubgen OUT.db EVENTS        (OUT.db must not exist)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "orchestrator/hub.h"

#include "common/banned.h"

#define S_COMMIT_EVERY 20000
#define S_STEPS 3

static int s_fail(const char *what, lab_hub *h)
{
    fprintf(stderr, "hubgen: %s: %s\n", what, h ? lab_hub_errmsg(h) : "?");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hubgen OUT.db EVENTS\n");
        return 2;
    }
    struct stat sb;
    if (stat(argv[1], &sb) == 0) {
        fprintf(stderr, "hubgen: %s exists; remove it first\n", argv[1]);
        return 2;
    }
    long long want = atoll(argv[2]);
    if (want < 10) {
        fprintf(stderr, "hubgen: EVENTS must be at least 10\n");
        return 2;
    }
    lab_err err;
    lab_hub *h = lab_hub_open(argv[1], &err);
    if (!h) {
        fprintf(stderr, "hubgen: %s\n", err.msg);
        return 1;
    }
    static const char *const steps[S_STEPS] = {"dispense", "heat", "measure_pl"};
    static const char *const devs[S_STEPS] = {"ot2", "hotplate", "pl-1"};
    const char *cfg = "campaign: {name: big, seed: 1, budget: {experiments: 1000000}}\n";
    lab_hub_campaign c = {.name = "big", .config_path = "big.yaml", .config_text = cfg,
                          .config_sha256 = "0", .seed = 1, .version = "bench", .host = "bench",
                          .operator_name = "bench", .access = "open", .planner = "sobol",
                          .created_us = 1700000000000000LL};
    int64_t camp = 0;
    if (lab_hub_record_campaign(h, &c, &camp) < 0)
        return s_fail("campaign", h);
    int64_t t = c.created_us;
    long long n = 0;
    char subj[96], detail[256];
    if (lab_hub_record_event(h, camp, t, "campaign.created", "big", "{\"name\":\"big\"}") < 0)
        return s_fail("event", h);
    n++;
    for (int64_t seq = 1; n < want; seq++) {
        snprintf(subj, sizeof subj, "big/%" PRId64, seq);
        snprintf(detail, sizeof detail, "{\"x\":%.6f,\"y\":%" PRId64 "}", (double)(seq % 997) / 997,
                 seq % 7);
        if (lab_hub_record_experiment(h, camp, seq, detail, "planner", NULL, "running", t) < 0)
            return s_fail("experiment", h);
        snprintf(detail, sizeof detail,
                 "{\"experiment\":%" PRId64 ",\"params\":{\"x\":%.6f},\"origin\":\"planner\"}", seq,
                 (double)(seq % 997) / 997);
        if (lab_hub_record_event(h, camp, t += 1000, "experiment.proposed", subj, detail) < 0)
            return s_fail("event", h);
        n++;
        for (int s = 0; s < S_STEPS && n < want; s++) {
            snprintf(subj, sizeof subj, "big/%" PRId64 "/%s/1", seq, steps[s]);
            snprintf(detail, sizeof detail,
                     "{\"attempt\":\"%s\",\"experiment\":%" PRId64 ",\"step\":\"%s\",\"device\":\"%s\"}",
                     subj, seq, steps[s], devs[s]);
            if (lab_hub_record_event(h, camp, t += 1000, "step.dispatched", subj, detail) < 0 ||
                lab_hub_record_event(h, camp, t += 1000, "step.done", subj, detail) < 0)
                return s_fail("event", h);
            n += 2;
        }
        snprintf(subj, sizeof subj, "big/%" PRId64, seq);
        snprintf(detail, sizeof detail, "{\"experiment\":%" PRId64 ",\"objectives\":{\"y\":%.4f}}",
                 seq, (double)(seq % 101) / 101);
        if (lab_hub_record_event(h, camp, t += 1000, "experiment.measured", subj, detail) < 0 ||
            lab_hub_set_experiment_status(h, camp, seq, "measured", "{\"y\":0.5}", NULL, t) < 0)
            return s_fail("event", h);
        n++;
        if (seq % (S_COMMIT_EVERY / 8) == 0 && lab_hub_commit(h, &err) < 0) {
            fprintf(stderr, "hubgen: %s\n", err.msg);
            return 1;
        }
    }
    if (lab_hub_set_campaign_status(h, camp, "completed", t) < 0 ||
        lab_hub_record_event(h, camp, t, "campaign.status", "big", "{\"status\":\"completed\"}") < 0)
        return s_fail("status", h);
    n++;
    if (lab_hub_commit(h, &err) < 0) {
        fprintf(stderr, "hubgen: %s\n", err.msg);
        return 1;
    }
    lab_hub_destroy(&h);
    printf("%lld events\n", n);
    return 0;
}
