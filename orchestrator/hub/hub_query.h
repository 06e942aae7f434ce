/* Read views of the data hub for the review commands (log, show, report,
 * export, serve).
 *
 * For: every SQL statement those commands run, behind functions named for
 * what they read, so that a later PostgreSQL hub replaces this module and
 * nothing above it. A lab_hub_query is its own SQLite connection to an
 * existing hub, read-only: it reads beside a running campaign (WAL) and
 * never migrates. Not for: writes, even audit rows (hub.h), deciding
 * what to show (review.h) or formatting (the cmd_*.c files).
 *
 * Rows are handed to callbacks; their strings are valid only during the
 * callback. A nonzero return from a callback stops the walk and is
 * returned. One thread uses a handle.
 */
#ifndef LAB_HUB_QUERY_H
#define LAB_HUB_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

typedef struct lab_hub_query lab_hub_query;

/* Open the hub at path for reading. Fails with an actionable message on a missing file, a file that is not a
 * labloop hub, or a schema this labloop does not read. NULL on error. */
lab_hub_query *lab_hub_query_open(const char *path, lab_err *err);
void lab_hub_query_destroy(lab_hub_query **q);

/* For a hub that holds only some of a campaign's events (a partial copy of
 * a PostgreSQL hub): the campaign's event count and first and last event
 * time, used by lab_hub_query_campaign_get and _counts_get in place of
 * what the hub's own events would give. */
void lab_hub_query_set_event_span(lab_hub_query *q, int64_t campaign, int64_t events,
                                  int64_t first_us, int64_t last_us);

/* ---- a consistent copy ---- */
/* Copy the whole hub to dest (a new file) with SQLite's online backup, as
 * one snapshot even while a campaign writes. pages (may be NULL) gets the
 * page count copied. */
int lab_hub_query_backup(lab_hub_query *q, const char *dest, int64_t *pages, lab_err *err);

/* ---- the campaign ---- */

/* One row of campaigns. Strings are owned by the struct: release it. */
typedef struct lab_hub_query_campaign {
    int64_t id;
    char *name, *config_path, *config_text, *config_sha256, *version, *host, *operator_name,
        *access, *planner, *status;
    uint64_t seed;
    int export_control;
    int64_t created_us, updated_us;
    int64_t first_us, last_us;   /* span of its events (0 when none) */
} lab_hub_query_campaign;

/* The campaign called name, or the latest one when name is NULL.
 * LAB_ENOTFOUND when there is none. */
int lab_hub_query_campaign_get(lab_hub_query *q, const char *name, lab_hub_query_campaign *c,
                               lab_err *err);
void lab_hub_query_campaign_release(lab_hub_query_campaign *c);
/* Current status of campaign id copied into status (n bytes). */
int lab_hub_query_campaign_status(lab_hub_query *q, int64_t id, char *status, size_t n,
                                  lab_err *err);

/* What a campaign's events say about its lifecycle: its budget extensions
 * (campaign.extended) and, when its last campaign.status event is a pause,
 * why (reason, by; cause and failures when the failure brake paused it). */
typedef struct lab_hub_query_lifecycle {
    int64_t extensions;          /* campaign.extended events */
    int64_t extra_experiments;   /* their experiments, summed */
    double extra_hours;          /* their hours, summed */
    int paused;                  /* the last status event is a pause */
    int64_t paused_us;
    char pause_reason[1024], paused_by[128];
    char brake_cause[512];       /* "" unless the failure brake paused it */
    int64_t brake_failures;
} lab_hub_query_lifecycle;
int lab_hub_query_lifecycle_get(lab_hub_query *q, int64_t campaign, lab_hub_query_lifecycle *l,
                                lab_err *err);

/* Row counts of one campaign. */
typedef struct lab_hub_query_counts {
    int64_t experiments, proposed, queued, running, measured, failed, cancelled;
    int64_t steps, steps_done, steps_failed, retries;
    int64_t events, devices;
    int64_t prior;           /* experiments told from a prior (origin 'prior', seq <= 0) */
    int64_t rejected;        /* rejected by an operator (approval gate); 'proposed' ones wait for one */
} lab_hub_query_counts;
int lab_hub_query_counts_get(lab_hub_query *q, int64_t campaign, lab_hub_query_counts *n,
                             lab_err *err);

/* Whether a device name appears in a campaign (registered, ran a step, or
 * is the subject of an event): known 1 or 0. */
int lab_hub_query_device_known(lab_hub_query *q, int64_t campaign, const char *name, int *known,
                               lab_err *err);
/* Whether experiment seq of a campaign has a row or an event about it
 * (known 1 or 0), and the campaign's smallest and largest experiment
 * number (0 and 0 when it has none). */
int lab_hub_query_experiment_known(lab_hub_query *q, int64_t campaign, const char *campaign_name,
                                   int64_t seq, int *known, int64_t *first, int64_t *last, lab_err *err);

/* ---- rows ---- */

typedef struct lab_hub_query_experiment {
    int64_t seq;
    const char *params_json, *origin, *provenance_json, *status, *objectives_json, *error;
    int64_t proposed_us, updated_us, finished_us; /* finished 0: not yet */
} lab_hub_query_experiment;
typedef int (*lab_hub_query_experiment_fn)(const lab_hub_query_experiment *x, void *arg);
/* Experiments of a campaign in seq order. */
int lab_hub_query_experiments(lab_hub_query *q, int64_t campaign, lab_hub_query_experiment_fn fn,
                              void *arg, lab_err *err);

typedef struct lab_hub_query_step {
    const char *attempt_id, *step, *device, *status, *error;
    int64_t experiment;
    int attempt;
    int64_t queued_us, started_us, finished_us; /* 0: not yet */
} lab_hub_query_step;
typedef int (*lab_hub_query_step_fn)(const lab_hub_query_step *s, void *arg);
/* Step attempts of a campaign in the order they were queued. */
int lab_hub_query_steps(lab_hub_query *q, int64_t campaign, lab_hub_query_step_fn fn, void *arg,
                        lab_err *err);

/* Per device: its row plus the time its step attempts held it. */
typedef struct lab_hub_query_device {
    const char *name, *driver, *capabilities_json, *status;
    int capacity;
    int64_t first_seen_us, last_seen_us;
    int64_t steps;               /* attempts that started on it */
    int64_t busy_us;             /* sum of finished - started over those attempts */
} lab_hub_query_device;
typedef int (*lab_hub_query_device_fn)(const lab_hub_query_device *d, void *arg);
/* Devices of a campaign by name, with their busy time. */
int lab_hub_query_devices(lab_hub_query *q, int64_t campaign, lab_hub_query_device_fn fn,
                          void *arg, lab_err *err);

/* Failures grouped by cause: scope "experiment" (experiments.error with the
 * "(after N attempts)" tail cut) or "step" (status and error of failed,
 * timed-out and lost attempts). Most frequent first. */
typedef struct lab_hub_query_failure {
    const char *scope, *cause;
    const char *where;           /* devices (steps) or step names involved, comma-separated */
    int64_t count;
    int64_t first_experiment;    /* an example */
} lab_hub_query_failure;
typedef int (*lab_hub_query_failure_fn)(const lab_hub_query_failure *f, void *arg);
int lab_hub_query_failures(lab_hub_query *q, int64_t campaign, lab_hub_query_failure_fn fn,
                           void *arg, lab_err *err);

/* Artifacts of a campaign's step attempts, in row order. content is NULL
 * when only the hash and size were recorded. */
typedef struct lab_hub_query_artifact {
    const char *sha256, *media_type, *name, *attempt_id, *path;
    int64_t size, experiment;
    const void *content;
    size_t content_len;
} lab_hub_query_artifact;
typedef int (*lab_hub_query_artifact_fn)(const lab_hub_query_artifact *a, void *arg);
int lab_hub_query_artifacts(lab_hub_query *q, int64_t campaign, lab_hub_query_artifact_fn fn,
                            void *arg, lab_err *err);

/* ---- events ---- */

typedef struct lab_hub_query_event_filter {
    int64_t campaign;            /* required: events of it (and those with no campaign) */
    const char *campaign_name;   /* required with experiment */
    int64_t experiment;          /* > 0: only events about experiment seq (by subject,
                                  * `<campaign>/<seq>` or an attempt id under it, read
                                  * through the campaign index) */
    const char *device;          /* non-NULL: subject or detail.device is it */
    int64_t since_us;            /* > 0: t_us >= since_us */
    int64_t after_id;            /* > 0: only id > after_id */
    int id_order;                /* 1: in id (commit) order, for following; else (t_us, id) */
} lab_hub_query_event_filter;

typedef struct lab_hub_query_event {
    int64_t id, t_us;
    const char *kind, *subject, *detail_json;
    int lab_wide;                /* recorded with no campaign: the lab's own (a lab service's devices) */
} lab_hub_query_event;
typedef int (*lab_hub_query_event_fn)(const lab_hub_query_event *e, void *arg);
/* Events that pass f, in (t_us, id) order or, with f->id_order, id order. */
int lab_hub_query_events(lab_hub_query *q, const lab_hub_query_event_filter *f,
                         lab_hub_query_event_fn fn, void *arg, lab_err *err);
/* Largest event id in the hub (0 when empty): where following starts. */
int lab_hub_query_last_event_id(lab_hub_query *q, int64_t *id, lab_err *err);

/* ---- whole tables, for export ---- */

typedef enum {
    LAB_HUB_QUERY_NULL,
    LAB_HUB_QUERY_INT,
    LAB_HUB_QUERY_REAL,
    LAB_HUB_QUERY_TEXT,
    LAB_HUB_QUERY_JSON,          /* text of a JSON column (params, detail, ...) */
} lab_hub_query_type;

typedef struct lab_hub_query_value {
    lab_hub_query_type type;
    int64_t i;
    double d;
    const char *s;
} lab_hub_query_value;

typedef int (*lab_hub_query_row_fn)(size_t ncols, const char *const *names,
                                    const lab_hub_query_value *values, void *arg);
/* Every row of table (experiments, steps, events, devices) of a campaign, in
 * row order, all columns as in docs/DATA.md. LAB_EINVAL for another table. */
int lab_hub_query_table(lab_hub_query *q, int64_t campaign, const char *table,
                        lab_hub_query_row_fn fn, void *arg, lab_err *err);

/* ---- a lab's hub (labloop lab): every campaign and device at once ---- */

/* One campaign of the hub, for the dashboard's lab view. Strings valid
 * during the callback only. */
typedef struct lab_hub_query_lab_campaign {
    int64_t id;
    const char *name, *status, *config_path, *config_text;
    int64_t experiments, measured, failed, waiting, rejected;
    double weight;               /* from campaign.submitted; NAN when run alone (labloop run) */
} lab_hub_query_lab_campaign;
typedef int (*lab_hub_query_lab_campaign_fn)(const lab_hub_query_lab_campaign *c, void *arg);
/* Every campaign in the hub, oldest first. 0, a callback's non-zero
 * return, or < 0 with err set. */
int lab_hub_query_lab_campaigns(lab_hub_query *q, lab_hub_query_lab_campaign_fn fn, void *arg, lab_err *err);

/* One device of the hub and what it runs now as the hub has it: campaign,
 * step and attempt are NULL when no attempt on it is dispatched or running
 * (a busy device comes once per attempt). */
typedef struct lab_hub_query_lab_device {
    const char *name, *status, *campaign, *step, *attempt_id;
} lab_hub_query_lab_device;
typedef int (*lab_hub_query_lab_device_fn)(const lab_hub_query_lab_device *d, void *arg);
int lab_hub_query_lab_devices(lab_hub_query *q, lab_hub_query_lab_device_fn fn, void *arg, lab_err *err);

#endif
