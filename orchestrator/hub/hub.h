/* The data hub: the campaign's source of truth in one SQLite file.
 *
 * Every SQL statement of labloop lives in hub.c, behind functions named for
 * what they record, so that a later PostgreSQL hub needs no rewrite elsewhere.
 * The schema is a public interface, documented in docs/DATA.md; its version
 * is PRAGMA user_version, with forward migrations.
 *
 * Writes: WAL mode, synchronous=FULL, group commit. The first write after a
 * commit opens a transaction; lab_hub_commit() ends it. With queued writes
 * (lab_hub_queue_writes) writes are copied into a batch that a commit runs,
 * possibly on another thread, so the event loop never waits on SQLite; it
 * sends acknowledgements only once the batch is committed (persist before
 * acknowledge). One thread owns a lab_hub; readers in other processes
 * (labloop log) open their own read-only handle and read while it writes.
 * Times are wall-clock microseconds since the Unix epoch.
 */
#ifndef LAB_HUB_H
#define LAB_HUB_H

#include <stdint.h>
#include <stddef.h>
#include "common/err.h"

typedef struct lab_hub lab_hub;

#define LAB_HUB_SCHEMA_VERSION 3

/* Open (creating and migrating as needed) the hub at path. NULL on error. */
lab_hub *lab_hub_open(const char *path, lab_err *err);
/* Open an existing hub read-only (log, show, tests). Fails on a missing file
 * or on a schema newer than this labloop knows. */
lab_hub *lab_hub_open_readonly(const char *path, lab_err *err);
/* Close. An open transaction is rolled back: commit first to keep it. */
void lab_hub_destroy(lab_hub **h);

/* Commit the open transaction, if any. Returns 0 (also when there was
 * nothing to commit) or < 0 with err set; on failure the transaction's writes
 * are lost and the caller must not acknowledge them. */
int lab_hub_commit(lab_hub *h, lab_err *err);
/* Queued writes, for an owner that must not run SQL on its own thread.
 * From lab_hub_queue_writes() on (call between transactions), each write
 * only checks its arguments and copies them into a batch; nothing reaches
 * SQLite, and a write's SQL errors (a missing row, a constraint) are told by
 * the commit that runs it. A commit in three parts:
 *   lab_hub_commit_begin   owner thread: the batch so far is sealed and out;
 *                          returns 1, or 0 when there was nothing to commit;
 *                          writes made from now on join the next batch;
 *   lab_hub_commit_run     any thread, once: runs the batch in one
 *                          transaction and commits it durably (fsync);
 *   lab_hub_commit_end     owner thread, after run returned (or when it
 *                          could not be run at all): 0 when every write of
 *                          the batch is on disk, or < 0 with err set when
 *                          none of them is (the batch is rolled back, and the
 *                          writes queued meanwhile are dropped too).
 * While a batch is out the owner may queue writes but not read. With queued
 * writes lab_hub_commit() does the three parts at once. lab_hub_record_campaign
 * (whose id is needed at once) must come before. Destroy the handle only
 * with no batch out. Returns 0 or < 0. */
int lab_hub_queue_writes(lab_hub *h, lab_err *err);
int lab_hub_commit_begin(lab_hub *h, lab_err *err);
void lab_hub_commit_run(lab_hub *h);
int lab_hub_commit_end(lab_hub *h, lab_err *err);
/* 1 when writes are waiting for a commit. */
int lab_hub_dirty(const lab_hub *h);
/* Last error message of this handle (for writes, which return only a code). */
const char *lab_hub_errmsg(const lab_hub *h);

/* ---- writes (each joins the open transaction; returns 0 or < 0) ---- */

typedef struct lab_hub_campaign {
    const char *name;
    const char *config_path;
    const char *config_text;     /* the YAML as read */
    const char *config_sha256;   /* hex */
    uint64_t seed;
    const char *version;         /* labloop version */
    const char *host;
    const char *operator_name;
    const char *access;          /* open | shared | closed */
    int export_control;
    const char *planner;         /* planner kind */
    int64_t created_us;
} lab_hub_campaign;

/* Insert a campaign in status 'created'; *id receives its row id. Fails
 * (LAB_ESTATE) when a campaign of that name is already in the hub. */
int lab_hub_record_campaign(lab_hub *h, const lab_hub_campaign *c, int64_t *id);
/* The same with queued writes (a lab service adding a campaign while it
 * runs): the row is inserted and committed at once in a transaction of its
 * own; the batch being filled is untouched. Only on the owner thread with
 * no batch out (LAB_EAGAIN otherwise). Returns 0 or < 0 with err set. */
int lab_hub_record_campaign_now(lab_hub *h, const lab_hub_campaign *c, int64_t *id, lab_err *err);
/* Find a campaign by name: *id and status (copied into status, n bytes).
 * Returns LAB_ENOTFOUND when absent. */
int lab_hub_find_campaign(lab_hub *h, const char *name, int64_t *id, char *status, size_t n);
int lab_hub_set_campaign_status(lab_hub *h, int64_t campaign, const char *status, int64_t t_us);

/* Insert or update a device's row (first_seen kept, last_seen updated). */
int lab_hub_record_device(lab_hub *h, int64_t campaign, const char *name, const char *driver,
                          const char *capabilities_json, int capacity, const char *status,
                          int64_t t_us);
int lab_hub_set_device_status(lab_hub *h, int64_t campaign, const char *name,
                              const char *status, int64_t t_us);

/* Experiment seq is 1, 2, ... within a campaign. params_json is an object
 * {name: value}; provenance_json what the planner said (may be NULL). */
int lab_hub_record_experiment(lab_hub *h, int64_t campaign, int64_t seq, const char *params_json,
                              const char *origin, const char *provenance_json,
                              const char *status, int64_t t_us);
/* Status change; objectives_json ({name: value}) and error may be NULL. */
int lab_hub_set_experiment_status(lab_hub *h, int64_t campaign, int64_t seq, const char *status,
                                  const char *objectives_json, const char *error, int64_t t_us);

typedef struct lab_hub_step {
    const char *attempt_id;      /* <campaign>/<experiment>/<step>/<n> */
    int64_t campaign;
    int64_t experiment;          /* seq */
    const char *step;
    int attempt;                 /* 1, 2, ... */
    const char *device;          /* may be NULL until dispatched */
    const char *status;          /* queued | dispatched | running | done | failed | timed_out | lost | cancelled */
    const char *params_json;
    int64_t queued_us;
} lab_hub_step;
int lab_hub_record_step(lab_hub *h, const lab_hub_step *s);
/* Update an attempt. device NULL keeps it; started/finished 0 keep them;
 * values_json and error may be NULL (kept). */
int lab_hub_set_step_status(lab_hub *h, const char *attempt_id, const char *status,
                            const char *device, int64_t started_us, int64_t finished_us,
                            const char *values_json, const char *error);

/* counted 0: the attempt was hit by an e-stop, so its end is no fault of
 * its step and does not count against the step's retries, also after a
 * restart (1: it counts, the default). */
int lab_hub_set_step_counted(lab_hub *h, const char *attempt_id, int counted);

/* Append to the event log. subject: device, attempt or experiment id (may
 * be NULL); detail_json may be NULL. */
int lab_hub_record_event(lab_hub *h, int64_t campaign, int64_t t_us, const char *kind,
                         const char *subject, const char *detail_json);

/* ---- reads ---- */

/* Count rows of experiments in a campaign with the given status (NULL: all). */
int lab_hub_count_experiments(lab_hub *h, int64_t campaign, const char *status, int64_t *n);

/* One line of a campaign's timeline, in time order. Strings are valid only
 * during the callback. */
typedef struct lab_hub_entry {
    int64_t t_us;
    const char *kind;            /* event kind, e.g. experiment.proposed, step.done */
    const char *subject;
    const char *detail_json;
} lab_hub_entry;
typedef int (*lab_hub_entry_fn)(const lab_hub_entry *e, void *arg);
/* Walk the events of a campaign (campaign 0: the only/latest one). A nonzero
 * return from fn stops the walk and is returned. */
int lab_hub_timeline(lab_hub *h, int64_t campaign, lab_hub_entry_fn fn, void *arg, lab_err *err);

/* ---- operator actions, samples, resume (issue: scheduling and restart) ---- */

/* Append to the audit log: who (actor: OS user or device), from where
 * (origin: host or endpoint), did what (action: pause, resume, abort, estop,
 * clear-estop, export, ...) to what (target), with what outcome (ok / the
 * refusal). detail_json may be NULL. */
int lab_hub_record_audit(lab_hub *h, int64_t campaign, int64_t t_us, const char *actor,
                         const char *origin, const char *action, const char *target,
                         const char *detail_json, const char *outcome);

/* The sample an experiment makes: created once (label unique in the
 * campaign), then moved as steps act on it; every move is appended to
 * sample_locations. */
int lab_hub_record_sample(lab_hub *h, int64_t campaign, int64_t experiment, const char *label,
                          const char *location, int64_t t_us);
int lab_hub_move_sample(lab_hub *h, int64_t campaign, const char *label, const char *location,
                        const char *attempt_id, int64_t t_us);

/* A file a step produced: its sha256 (hex), size, media type and name as
 * the worker reported them, and its bytes when they came inline (content
 * may be NULL: then only the hash and size are known). */
int lab_hub_record_artifact(lab_hub *h, const char *attempt_id, const char *name,
                            const char *media_type, const char *sha256_hex, int64_t size,
                            const void *content, size_t content_len, int64_t t_us);

/* What a campaign was started from: its config hash (hex, copied into sha,
 * n bytes) and when it was created. */
int lab_hub_campaign_origin(lab_hub *h, int64_t campaign, char *sha, size_t n, int64_t *created_us);

/* What a campaign's events say about its lifecycle (resume, extend):
 * its budget extensions (campaign.extended events) and, when its last
 * campaign.status event is a pause, that pause's reason, who paused it and,
 * for the failure brake, the cause and the count of failures. */
typedef struct lab_hub_lifecycle {
    int64_t extensions;          /* campaign.extended events */
    int64_t extra_experiments;   /* their experiments, summed */
    int64_t deadline_us;         /* the latest time budget an extension set (wall clock); 0: none */
    int paused;                  /* the last status event is a pause */
    char pause_reason[1024];     /* "" when none was given */
    char paused_by[128];
    char brake_cause[512];       /* "" unless the failure brake paused it */
    int64_t brake_failures;
} lab_hub_lifecycle;
int lab_hub_campaign_lifecycle(lab_hub *h, int64_t campaign, lab_hub_lifecycle *out);

/* Walk a campaign's experiments in seq order (resume). Strings are valid
 * during the callback only; objectives_json and error may be NULL. */
typedef struct lab_hub_experiment_row {
    int64_t seq;
    const char *params_json;
    const char *status;
    const char *objectives_json;
    const char *error;
    int64_t finished_us;         /* 0 while not finished */
    const char *provenance_json; /* what the planner said (may be NULL) */
} lab_hub_experiment_row;
typedef int (*lab_hub_experiment_fn)(const lab_hub_experiment_row *r, void *arg);
int lab_hub_each_experiment(lab_hub *h, int64_t campaign, lab_hub_experiment_fn fn, void *arg);

/* Walk a campaign's step attempts in (experiment, id) order (resume). */
typedef struct lab_hub_step_row {
    const char *attempt_id;
    int64_t experiment;
    const char *step;
    int attempt;
    const char *device;          /* may be NULL */
    const char *status;
    const char *result_json;     /* may be NULL */
    int counted;                 /* 0: ended without counting against retries */
} lab_hub_step_row;
typedef int (*lab_hub_step_fn)(const lab_hub_step_row *r, void *arg);
int lab_hub_each_step(lab_hub *h, int64_t campaign, lab_hub_step_fn fn, void *arg);

/* A lab service's runs (labloop lab): the run id its workers are given is
 * the "run" of the first lab.started event of that lab in this hub (its
 * first start time; 0 when there is none yet), the same across restarts. */
int lab_hub_lab_run(lab_hub *h, const char *lab, int64_t *run_us);

/* Is lab e-stopped: its last lab-wide e-stop in the audit table (campaign
 * NULL, target the lab's name) was not followed by a clear-estop. */
int lab_hub_lab_estopped(lab_hub *h, const char *lab, int *estopped);

/* The campaigns submitted to a lab (a campaign.submitted event naming it),
 * in the order they were created, with their stored config, the weight
 * they were last given, when their status was set and their experiments. Strings are valid only during the call. */
typedef struct lab_hub_lab_campaign_row {
    int64_t id;
    const char *name, *config_path, *config_text, *status;
    size_t config_len;
    double weight;
    int64_t updated_us;          /* its status's time (a finished one: its end) */
    int64_t experiments, measured;
} lab_hub_lab_campaign_row;
typedef int (*lab_hub_lab_campaign_fn)(const lab_hub_lab_campaign_row *r, void *arg);
int lab_hub_each_lab_campaign(lab_hub *h, const char *lab, lab_hub_lab_campaign_fn fn, void *arg);

#endif
