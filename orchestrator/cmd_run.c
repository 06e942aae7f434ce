/* `labloop run CAMPAIGN.yaml [--db FILE]`: run a campaign to its end. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "orchestrator/commands.h"
#include "orchestrator/config.h"
#include "orchestrator/orch.h"
#include "common/banned.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop run CAMPAIGN.yaml [--db FILE] [--quiet] [--verbose]\n"
            "\n"
            "Run a campaign closed-loop: the planner proposes experiments, their\n"
            "workflow steps run on the device workers that connect to the campaign's\n"
            "device endpoint, and everything is recorded in the hub (SQLite).\n"
            "Shows progress while it runs and a summary at the end.\n"
            "\n"
            "  --db FILE    the hub file (default: the config's 'hub', or <name>.db)\n"
            "  --quiet      no progress lines, only the summary and errors\n"
            "  --verbose    log every message\n"
            "\n"
            "example:\n"
            "  labloop sim examples/demo-lab.yaml &\n"
            "  labloop run examples/demo-campaign.yaml --db build/demo/campaign.db\n");
}

int lab_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *db = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--verbose")) {
            lab_log_setup(NULL, LAB_LOG_DEBUG);
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "labloop run: unexpected argument '%s'\n\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    if (!path) {
        s_usage(stderr);
        return 2;
    }
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load(path, stderr, &err);
    if (!cfg) {
        fprintf(stderr, "labloop run: %s is not a valid campaign (see the lines above)\n", path);
        return 1;
    }
    if (quiet)
        lab_log_setup(NULL, LAB_LOG_WARN);
    lab_orch_opts opts = {.db_path = db, .progress = quiet ? NULL : stdout};
    lab_orch *o = lab_orch_new(cfg, &opts, &err);
    if (!o) {
        fprintf(stderr, "labloop run: %s\n", err.msg);
        lab_config_destroy(&cfg);
        return 1;
    }
    lab_orch_summary sum;
    int rc = lab_orch_run(o, &sum, &err);
    lab_orch_destroy(&o);
    lab_config_destroy(&cfg);
    if (rc < 0) {
        fprintf(stderr, "labloop run: %s\n", err.msg);
        return 1;
    }
    if (quiet)
        printf("campaign %s: %ld experiments (%ld measured, %ld failed) in %.1f s\n", sum.status,
               sum.proposed, sum.measured, sum.failed, sum.elapsed_s);
    return strcmp(sum.status, "running") == 0 ? 130 : 0;
}
