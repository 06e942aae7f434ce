/* `labloop run CAMPAIGN.yaml [--db FILE]`: run a campaign to its end;
 * `labloop lab LAB.yaml [--db FILE]`: run a lab service until SIGINT/SIGTERM. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "orchestrator/cli/commands.h"
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

/* The arguments of run and lab: FILE [--db FILE] [--quiet] [--verbose].
 * Returns -1 to go on, or the exit code (0 after --help, 2 usage error). */
static int s_args(int argc, char **argv, void (*usage)(FILE *), const char **path, const char **db, int *quiet)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            *db = argv[++i];
        } else if (!strcmp(argv[i], "--quiet")) {
            *quiet = 1;
        } else if (!strcmp(argv[i], "--verbose")) {
            lab_log_setup(NULL, LAB_LOG_DEBUG);
        } else if (argv[i][0] != '-' && !*path) {
            *path = argv[i];
        } else {
            fprintf(stderr, "labloop %s: unexpected argument '%s'\n\n", argv[0], argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!*path) {
        usage(stderr);
        return 2;
    }
    return -1;
}

int lab_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *db = NULL;
    int quiet = 0, rc0 = s_args(argc, argv, s_usage, &path, &db, &quiet);
    if (rc0 >= 0)
        return rc0;
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

static void s_lab_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop lab LAB.yaml [--db FILE] [--quiet] [--verbose]\n"
            "\n"
            "Run a lab service until SIGINT/SIGTERM: it binds the lab's device and\n"
            "control endpoints, owns one hub (SQLite) for all of the lab's campaigns,\n"
            "and runs every campaign submitted to it (labloop submit) on its devices,\n"
            "sharing them by weight. Started again on the same hub, it resumes every\n"
            "campaign that had not ended. LAB.yaml has the lab's name and the devices,\n"
            "endpoints, hub, heartbeat, security and notify sections of a campaign\n"
            "config (docs/CONFIG.md).\n"
            "\n"
            "  --db FILE    the hub file (default: the config's 'hub', or <lab name>.db)\n"
            "  --quiet      no progress lines, only errors\n"
            "  --verbose    log every message\n"
            "\n"
            "example:\n"
            "  labloop sim examples/demo-lab.yaml &\n"
            "  labloop lab examples/lab-service.yaml &\n"
            "  labloop submit examples/demo-campaign.yaml --endpoint tcp://127.0.0.1:5561 --weight 2 \\\n"
            "      --key build/demo/keys/demo-operator.key --server-key build/demo/keys/lab.pub\n"
            "  labloop campaigns --endpoint tcp://127.0.0.1:5561 \\\n"
            "      --key build/demo/keys/demo-operator.key --server-key build/demo/keys/lab.pub\n");
}

int lab_cmd_lab(int argc, char **argv)
{
    const char *path = NULL, *db = NULL;
    int quiet = 0, rc0 = s_args(argc, argv, s_lab_usage, &path, &db, &quiet);
    if (rc0 >= 0)
        return rc0;
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load_lab(path, stderr, &err);
    if (!cfg) {
        fprintf(stderr, "labloop lab: %s is not a valid lab config (see the lines above)\n", path);
        return 1;
    }
    if (quiet)
        lab_log_setup(NULL, LAB_LOG_WARN);
    lab_orch_opts opts = {.db_path = db, .progress = quiet ? NULL : stdout};
    lab_orch *o = lab_orch_new_lab(cfg, &opts, &err);
    if (!o) {
        fprintf(stderr, "labloop lab: %s\n", err.msg);
        lab_config_destroy(&cfg);
        return 1;
    }
    int rc = lab_orch_run(o, NULL, &err);
    lab_orch_destroy(&o);
    lab_config_destroy(&cfg);
    if (rc < 0) {
        fprintf(stderr, "labloop lab: %s\n", err.msg);
        return 1;
    }
    return 0;
}
