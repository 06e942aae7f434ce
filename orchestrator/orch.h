/* The orchestrator: runs one campaign on the lab's device workers.
 *
 * Owns the libuv loop, the device endpoint (ZeroMQ ROUTER), the device
 * registry, the experiments in flight and their step attempts, the planner
 * and the hub. Everything runs on the loop's thread. State changes are
 * written into the hub's open transaction, committed once per loop turn,
 * and only then acknowledged (Ack, Welcome). See protocols/PROTOCOL.md and docs/DATA.md.
 * Not for: parsing configs (config.c), SQL (hub.c), planning (planners/).
 */
#ifndef LAB_ORCH_H
#define LAB_ORCH_H

#include <stdio.h>
#include "common/err.h"
#include "orchestrator/config.h"

typedef struct lab_orch lab_orch;

typedef struct lab_orch_opts {
    const char *db_path;     /* hub file; NULL: the config's hub */
    FILE *progress;          /* progress lines and the summary; NULL: none */
    int until_done;          /* lab service: stop once every campaign has ended (benchmarks) */
} lab_orch_opts;

/* How a run ended. */
typedef struct lab_orch_summary {
    char status[16];         /* completed | exhausted | aborted | running (interrupted) */
    long proposed, measured, failed;
    double elapsed_s;
    long best_experiment;    /* 0: none measured */
    double best_value;       /* first objective */
    long steps_done;         /* attempts that finished done */
    long commits;            /* hub group commits */
    double active_s;         /* first dispatch to last result */
    double all_ready_s;      /* from when every device had registered to the last result (0: never) */
    long all_ready_steps;    /* steps done in that time */
} lab_orch_summary;

/* Prepare a campaign run: open (create) the hub, record the campaign, bind
 * the device endpoint, make the planner. cfg is borrowed and must outlive the
 * orchestrator. NULL with err set on failure (nothing is left bound). */
lab_orch *lab_orch_new(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err);
/* A lab service (labloop lab): cfg is a lab config (lab_config_load_lab),
 * borrowed. Opens the lab's hub, resumes the campaigns submitted to it that
 * have not ended, binds both endpoints; campaigns are submitted over the
 * control endpoint. lab_orch_run then runs until SIGINT/SIGTERM (or a hub
 * failure). NULL with err set on failure. */
lab_orch *lab_orch_new_lab(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err);
/* A campaign handed to a lab service from within its own process, as
 * `labloop submit` does over the control endpoint (the dispatch benchmark):
 * 0, or < 0 with err set. Before lab_orch_run or from the loop's thread. */
int lab_orch_submit_local(lab_orch *o, const char *path, const char *text, size_t len, double weight,
                          lab_err *err);
/* Run until the campaign ends or SIGINT/SIGTERM. Returns 0 (summary filled)
 * or < 0 with err set (e.g. the hub could not commit). */
int lab_orch_run(lab_orch *o, lab_orch_summary *summary, lab_err *err);
void lab_orch_destroy(lab_orch **o);

/* Round-trip times (µs) from dispatching each attempt to the commit that
 * made its result durable, for every attempt that finished done in the last
 * run; for the dispatch benchmark. The array belongs to o. */
size_t lab_orch_latencies(const lab_orch *o, const double **us);

/* Device i of the campaign (i < the config's device count): its name,
 * seconds with at least one step running in the last run, and capacity.
 * Returns 0, or LAB_EINVAL past the last device. */
int lab_orch_device_stats(const lab_orch *o, size_t i, const char **name, double *busy_s, int *capacity);

#endif
