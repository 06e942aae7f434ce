/* The data hub on SQLite: schema, migrations and every SQL statement of
 * labloop (see hub.h for the contract and docs/DATA.md for the schema).
 *
 * For: one writer handle per campaign process (group commit, cached prepared
 * statements) and any number of read-only handles in other processes.
 * Not for: sharing a handle between threads (only a batch's run may happen
 * on another thread, see hub.h), deciding what to record (the orchestrator
 * does), or replication (a later PostgreSQL hub).
 *
 * Write path: every write is one cached statement and its arguments
 * (s_write). Direct: the first write after a commit runs BEGIN IMMEDIATE, each
 * write runs at once, lab_hub_commit() runs COMMIT, which is the only fsync;
 * if SQLite itself rolls the transaction back after an error (disk full, I/O
 * error), the handle remembers it and the next commit fails, so the caller
 * never acknowledges lost writes. Queued: writes are copied into a batch and
 * run together, BEGIN to COMMIT, when the commit runs (maybe on another
 * thread); any failure rolls the whole batch back and the commit says so.
 * The runner folds an attempt's updates into its insert when both are in
 * the batch (s_fold_steps).
 */
#include "orchestrator/hub/hub.h"
#include "orchestrator/hub/hub_vfs.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "orchestrator/events.h"

#include "common/banned.h"

#define S_BUSY_TIMEOUT_MS 5000
/* The oldest schema read-only opens accept: later versions only added what
 * readers do not need (2: steps.counted), so old hubs stay readable, also
 * on read-only storage, without a writer migrating them first. */
#define S_OLDEST_READABLE 1

/* ---- schema: migrations[v] takes a hub from version v-1 to v ---- */

static const char *const s_migrations[] = {
    /* 0: the empty file; nothing to do */
    NULL,
    /* 1: the first schema */
    "CREATE TABLE campaigns (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  name           TEXT NOT NULL UNIQUE,\n"
    "  config_path    TEXT,\n"
    "  config_text    TEXT,\n"
    "  config_sha256  TEXT,\n"
    "  seed           INTEGER NOT NULL DEFAULT 0,\n"
    "  version        TEXT,\n"
    "  host           TEXT,\n"
    "  operator       TEXT,\n"
    "  access         TEXT NOT NULL DEFAULT 'closed'\n"
    "                 CHECK (access IN ('open','shared','closed')),\n"
    "  export_control INTEGER NOT NULL DEFAULT 0,\n"
    "  planner        TEXT,\n"
    "  status         TEXT NOT NULL DEFAULT 'created',\n"
    "  created_us     INTEGER NOT NULL,\n"
    "  updated_us     INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE devices (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  campaign       INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  name           TEXT NOT NULL,\n"
    "  driver         TEXT,\n"
    "  capabilities   TEXT CHECK (capabilities IS NULL OR json_valid(capabilities)),\n"
    "  capacity       INTEGER NOT NULL DEFAULT 1,\n"
    "  status         TEXT NOT NULL,\n"
    "  first_seen_us  INTEGER NOT NULL,\n"
    "  last_seen_us   INTEGER NOT NULL,\n"
    "  UNIQUE (campaign, name)\n"
    ");\n"
    "CREATE TABLE experiments (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  campaign       INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  seq            INTEGER NOT NULL,\n"
    "  params         TEXT NOT NULL CHECK (json_valid(params)),\n"
    "  origin         TEXT,\n"
    "  provenance     TEXT CHECK (provenance IS NULL OR json_valid(provenance)),\n"
    "  status         TEXT NOT NULL,\n"
    "  objectives     TEXT CHECK (objectives IS NULL OR json_valid(objectives)),\n"
    "  error          TEXT,\n"
    "  proposed_us    INTEGER NOT NULL,\n"
    "  updated_us     INTEGER NOT NULL,\n"
    "  finished_us    INTEGER,\n"
    "  UNIQUE (campaign, seq)\n"
    ");\n"
    "CREATE INDEX experiments_status ON experiments(campaign, status);\n"
    "CREATE TABLE steps (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  attempt_id     TEXT NOT NULL UNIQUE,\n"
    "  campaign       INTEGER NOT NULL,\n"
    "  experiment     INTEGER NOT NULL,\n"
    "  step           TEXT NOT NULL,\n"
    "  attempt        INTEGER NOT NULL,\n"
    "  device         TEXT,\n"
    "  status         TEXT NOT NULL,\n"
    "  params         TEXT CHECK (params IS NULL OR json_valid(params)),\n"
    "  result         TEXT CHECK (result IS NULL OR json_valid(result)),\n"
    "  error          TEXT,\n"
    "  queued_us      INTEGER NOT NULL,\n"
    "  started_us     INTEGER,\n"
    "  finished_us    INTEGER,\n"
    "  FOREIGN KEY (campaign, experiment) REFERENCES experiments(campaign, seq)\n"
    ");\n"
    "CREATE INDEX steps_experiment ON steps(campaign, experiment);\n"
    "CREATE TABLE artifacts (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  sha256         TEXT NOT NULL,\n"
    "  size           INTEGER NOT NULL,\n"
    "  media_type     TEXT,\n"
    "  name           TEXT,\n"
    "  attempt_id     TEXT REFERENCES steps(attempt_id),\n"
    "  content        BLOB,\n"
    "  path           TEXT,\n"
    "  created_us     INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX artifacts_attempt ON artifacts(attempt_id);\n"
    "CREATE INDEX artifacts_sha256 ON artifacts(sha256);\n"
    "CREATE TABLE samples (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  campaign       INTEGER NOT NULL REFERENCES campaigns(id),\n"
    "  experiment     INTEGER,\n"
    "  label          TEXT NOT NULL,\n"
    "  parent         INTEGER REFERENCES samples(id),\n"
    "  location       TEXT,\n"
    "  created_us     INTEGER NOT NULL,\n"
    "  updated_us     INTEGER NOT NULL,\n"
    "  UNIQUE (campaign, label)\n"
    ");\n"
    "CREATE TABLE sample_locations (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  sample         INTEGER NOT NULL REFERENCES samples(id),\n"
    "  t_us           INTEGER NOT NULL,\n"
    "  location       TEXT NOT NULL,\n"
    "  attempt_id     TEXT\n"
    ");\n"
    "CREATE INDEX sample_locations_sample ON sample_locations(sample, t_us);\n"
    "CREATE TABLE events (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  campaign       INTEGER REFERENCES campaigns(id),\n"
    "  t_us           INTEGER NOT NULL,\n"
    "  kind           TEXT NOT NULL,\n"
    "  subject        TEXT,\n"
    "  detail         TEXT CHECK (detail IS NULL OR json_valid(detail))\n"
    ");\n"
    "CREATE INDEX events_campaign_t ON events(campaign, t_us);\n"
    "CREATE INDEX events_subject ON events(subject);\n"
    "CREATE TABLE audit (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  campaign       INTEGER REFERENCES campaigns(id),\n"
    "  t_us           INTEGER NOT NULL,\n"
    "  actor          TEXT NOT NULL,\n"
    "  origin         TEXT,\n"
    "  action         TEXT NOT NULL,\n"
    "  target         TEXT,\n"
    "  detail         TEXT CHECK (detail IS NULL OR json_valid(detail)),\n"
    "  outcome        TEXT\n"
    ");\n"
    "CREATE INDEX audit_campaign_t ON audit(campaign, t_us);\n"
    /* Append-only tables refuse UPDATE and DELETE in the database itself. */
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events\n"
    "  BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;\n"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events\n"
    "  BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;\n"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;\n"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;\n"
    "CREATE TRIGGER sample_locations_no_update BEFORE UPDATE ON sample_locations\n"
    "  BEGIN SELECT RAISE(ABORT, 'sample_locations is append-only'); END;\n"
    "CREATE TRIGGER sample_locations_no_delete BEFORE DELETE ON sample_locations\n"
    "  BEGIN SELECT RAISE(ABORT, 'sample_locations is append-only'); END;\n",
    /* 2: whether an ended attempt counts against its step's retries (an
     * e-stop's cancellations do not), so that a restart keeps the count */
    "ALTER TABLE steps ADD COLUMN counted INTEGER NOT NULL DEFAULT 1 CHECK (counted IN (0, 1));\n",
    /* 3: the per-step events (proposed, dispatched, done, measured) are
     * written without a detail from here on; the view shows every event
     * with its detail as labloop's readers build it, for people reading the
     * hub with sqlite3. Older labloop builds refuse the hub rather than
     * print those events without their values. The subject index keeps
     * only the events with a stored detail (look-ups of a device's or the
     * lab's events): the per-step ones were two thirds of its writes, and
     * `log --experiment` finds an experiment's events through the campaign
     * index. The index of experiments by status is gone: every status
     * change rewrote it, and what reads by status (counts for review) reads
     * one campaign's rows through (campaign, seq). */
    "CREATE VIEW event_log AS SELECT e.id, e.campaign, e.t_us, e.kind, e.subject, " LAB_EVENT_DETAIL_SQL
    " AS detail FROM events e;\n"
    "DROP INDEX IF EXISTS events_subject;\n"
    "CREATE INDEX events_subject ON events(subject) WHERE detail IS NOT NULL;\n"
    "DROP INDEX IF EXISTS experiments_status;\n",
};

_Static_assert(sizeof s_migrations / sizeof s_migrations[0] == LAB_HUB_SCHEMA_VERSION + 1,
               "every schema version needs its migration in s_migrations");

/* ---- cached statements ---- */

/* An event's insert, one row (S_INS_EVENT) or several (s_prepare_events). */
#define S_EVENTS_INTO "INSERT INTO events (campaign, t_us, kind, subject, detail) VALUES "
#define S_EVENT_ROW "(NULLIF(?%d, 0), ?%d, ?%d, ?%d, ?%d)"

#define S_STMT_MAP(X)                                                                    \
    X(BEGIN, "BEGIN IMMEDIATE")                                                          \
    X(COMMIT, "COMMIT")                                                                  \
    X(ROLLBACK, "ROLLBACK")                                                              \
    X(INS_CAMPAIGN,                                                                      \
      "INSERT INTO campaigns (name, config_path, config_text, config_sha256, seed,"      \
      " version, host, operator, access, export_control, planner, status, created_us,"   \
      " updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(?9, 'closed'), ?10," \
      " ?11, 'created', ?12, ?12)")                                                      \
    X(FIND_CAMPAIGN, "SELECT id, status FROM campaigns WHERE name = ?1")                 \
    X(SET_CAMPAIGN, "UPDATE campaigns SET status = ?2, updated_us = ?3 WHERE id = ?1")   \
    X(UPSERT_DEVICE,                                                                     \
      "INSERT INTO devices (campaign, name, driver, capabilities, capacity, status,"     \
      " first_seen_us, last_seen_us) VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, 'ready'),"  \
      " ?7, ?7) ON CONFLICT (campaign, name) DO UPDATE SET"                              \
      " driver = COALESCE(excluded.driver, driver),"                                     \
      " capabilities = COALESCE(excluded.capabilities, capabilities),"                   \
      " capacity = excluded.capacity, status = excluded.status,"                         \
      " last_seen_us = excluded.last_seen_us")                                           \
    X(SET_DEVICE,                                                                        \
      "UPDATE devices SET status = ?3, last_seen_us = ?4 WHERE campaign = ?1 AND name = ?2") \
    X(INS_EXPERIMENT,                                                                    \
      "INSERT INTO experiments (campaign, seq, params, origin, provenance, status,"      \
      " proposed_us, updated_us) VALUES (?1, ?2, COALESCE(?3, '{}'), ?4, ?5,"            \
      " COALESCE(?6, 'proposed'), ?7, ?7)")                                              \
    X(SET_EXPERIMENT,                                                                    \
      "UPDATE experiments SET status = ?3, objectives = COALESCE(?4, objectives),"       \
      " error = COALESCE(?5, error), updated_us = ?6,"                                   \
      " finished_us = CASE ?3 WHEN 'measured' THEN ?6 WHEN 'failed' THEN ?6"             \
      " WHEN 'cancelled' THEN ?6 WHEN 'rejected' THEN ?6 ELSE finished_us END"           \
      " WHERE campaign = ?1 AND seq = ?2")                                               \
    X(INS_STEP,                                                                          \
      "INSERT INTO steps (attempt_id, campaign, experiment, step, attempt, device,"      \
      " status, params, queued_us, started_us, finished_us, result, error)"             \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, 'queued'), ?8, ?9, NULLIF(?10, 0),"  \
      " NULLIF(?11, 0), ?12, ?13)")                                                      \
    X(SET_STEP,                                                                          \
      "UPDATE steps SET status = COALESCE(?2, status), device = COALESCE(?3, device),"   \
      " started_us = COALESCE(NULLIF(?4, 0), started_us),"                               \
      " finished_us = COALESCE(NULLIF(?5, 0), finished_us),"                             \
      " result = COALESCE(?6, result), error = COALESCE(?7, error)"                      \
      " WHERE attempt_id = ?1")                                                          \
    X(INS_EVENT, S_EVENTS_INTO "(NULLIF(?1, 0), ?2, ?3, ?4, ?5)")                       \
    X(COUNT_EXPERIMENTS,                                                                 \
      "SELECT count(*) FROM experiments WHERE campaign = ?1"                             \
      " AND (?2 IS NULL OR status = ?2)")                                                \
    X(LATEST_CAMPAIGN, "SELECT id, name FROM campaigns ORDER BY id DESC LIMIT 1")       \
    X(INS_AUDIT,                                                                         \
      "INSERT INTO audit (campaign, t_us, actor, origin, action, target, detail, outcome)" \
      " VALUES (NULLIF(?1, 0), ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                              \
    X(INS_SAMPLE,                                                                        \
      "INSERT INTO samples (campaign, experiment, label, location, created_us, updated_us)" \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?5)")                                                 \
    X(SET_SAMPLE,                                                                        \
      "UPDATE samples SET location = ?3, updated_us = ?4 WHERE campaign = ?1 AND label = ?2") \
    X(INS_SAMPLE_LOC,                                                                    \
      "INSERT INTO sample_locations (sample, t_us, location, attempt_id)"                \
      " SELECT id, ?3, ?4, ?5 FROM samples WHERE campaign = ?1 AND label = ?2")           \
    X(CAMPAIGN_ORIGIN, "SELECT config_sha256, created_us FROM campaigns WHERE id = ?1")  \
    X(INS_ARTIFACT,                                                                      \
      "INSERT INTO artifacts (sha256, size, media_type, name, attempt_id, content, created_us)" \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                             \
    X(EACH_EXPERIMENT,                                                                   \
      "SELECT seq, params, status, objectives, error, finished_us, provenance"           \
      " FROM experiments"                                                                \
      " WHERE campaign = ?1 ORDER BY seq")                                                \
    X(EACH_STEP,                                                                         \
      "SELECT attempt_id, experiment, step, attempt, device, status, result, counted"     \
      " FROM steps WHERE campaign = ?1 ORDER BY experiment, id")                          \
    X(SET_STEP_COUNTED, "UPDATE steps SET counted = ?2 WHERE attempt_id = ?1")           \
    X(LAB_RUN,                                                                           \
      "SELECT json_extract(detail, '$.run') FROM events WHERE kind = '" LAB_EVN_LAB_STARTED "'" \
      " AND subject = ?1 AND detail IS NOT NULL ORDER BY id LIMIT 1")                    \
    X(LAB_ESTOP,                                                                         \
      "SELECT action = 'estop' FROM audit WHERE campaign IS NULL AND target = ?1"                   \
      " AND action IN ('estop', 'clear-estop') AND outcome = 'ok' ORDER BY id DESC LIMIT 1") \
    X(EACH_LAB_CAMPAIGN,                                                                 \
      "SELECT c.id, c.name, c.config_path, c.config_text, c.status,"                     \
      " (SELECT json_extract(e.detail, '$.weight') FROM events e WHERE e.campaign = c.id" \
      "  AND e.kind = '" LAB_EVN_CAMPAIGN_SUBMITTED "' ORDER BY e.id DESC LIMIT 1),"      \
      " c.updated_us, (SELECT count(*) FROM experiments x WHERE x.campaign = c.id),"      \
      " (SELECT count(*) FROM experiments x WHERE x.campaign = c.id"                      \
      "  AND x.status = 'measured')"                                                      \
      " FROM campaigns c WHERE c.id IN (SELECT campaign FROM events"                     \
      "  WHERE kind = '" LAB_EVN_CAMPAIGN_SUBMITTED "' AND json_extract(detail, '$.lab') = ?1)" \
      " ORDER BY c.id")                                                                  \
    X(EXTENSIONS,                                                                        \
      "SELECT count(*), CAST(total(json_extract(detail, '$.experiments')) AS INTEGER),"  \
      " max(json_extract(detail, '$.deadline_us')) FROM events"                          \
      " WHERE campaign = ?1 AND kind = '" LAB_EVN_CAMPAIGN_EXTENDED "'")                   \
    X(LAST_STATUS,                                                                       \
      "SELECT json_extract(detail, '$.status'), json_extract(detail, '$.reason'),"       \
      " json_extract(detail, '$.by'), json_extract(detail, '$.cause'),"                  \
      " json_extract(detail, '$.failures') FROM events"                                  \
      " WHERE campaign = ?1 AND kind = '" LAB_EVN_CAMPAIGN_STATUS "' ORDER BY t_us DESC, id DESC LIMIT 1")

enum {
#define S_STMT_ENUM(name, sql) S_##name,
    S_STMT_MAP(S_STMT_ENUM)
#undef S_STMT_ENUM
    S_STMT_COUNT
};

static const char *const s_stmt_sql[S_STMT_COUNT] = {
#define S_STMT_SQL(name, sql) sql,
    S_STMT_MAP(S_STMT_SQL)
#undef S_STMT_SQL
};

/* Queued writes: each is encoded into a batch (statement, flags, arguments
 * with their bytes copied) and run later, all in one transaction. */
typedef struct s_batch {
    uint8_t *buf;
    size_t len, cap;
} s_batch;

/* A batch's events go in up to 2^S_EV_LOG2 rows per INSERT. */
#define S_EV_LOG2 4
#define S_EV_COLS 5

struct lab_hub {
    sqlite3 *db;
    char *path;
    int readonly;
    int in_tx;                   /* BEGIN ran, COMMIT not yet */
    int tx_lost;                 /* SQLite rolled the open transaction back */
    int queued;                  /* lab_hub_queue_writes: writes fill a batch */
    int running;                 /* a batch is out (commit_begin .. commit_end) */
    int run_ret;                 /* what running it returned */
    lab_err run_err;             /* and why it failed (written by the runner) */
    s_batch fill, run;           /* being filled / out to be run */
    struct s_op *ops;            /* the run batch decoded (the runner's) */
    size_t n_ops, cap_ops;
    uint32_t *fold;              /* attempt id -> its insert in ops (s_fold_steps) */
    size_t cap_fold;
    sqlite3_stmt *stmt[S_STMT_COUNT];
    sqlite3_stmt *ev_stmt[S_EV_LOG2 + 1];  /* 2^k events per INSERT, k ≥ 1 (s_run_events) */
    char errmsg[LAB_ERR_MSG_MAX];
};

/* ---- errors ---- */

static int s_fail(lab_hub *h, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_fail(lab_hub *h, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->errmsg, sizeof h->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* An SQLite failure of the statement that did `what`, described in e.
 * Constraint failures are the caller's mistake or a duplicate, so they get
 * their own codes. Touches nothing of the handle but its connection: the
 * batch runner uses it on its own thread. */
static int s_sql_err(sqlite3 *db, int rc, const char *what, lab_err *e)
{
    int ext = sqlite3_extended_errcode(db);
    const char *msg = sqlite3_errmsg(db);
    const char *w = what ? what : "", *sep = what ? ": " : "";
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return lab_err_set(e, LAB_ESTATE, "%s%salready in the hub (%s)", w, sep, msg);
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return lab_err_set(e, LAB_ENOTFOUND, "%s%srefers to a row that is not in the hub (%s)",
                               w, sep, msg);
        if (ext == SQLITE_CONSTRAINT_TRIGGER)
            return lab_err_set(e, LAB_ESTATE, "%s%s%s", w, sep, msg);
        return lab_err_set(e, LAB_EINVAL, "%s%sinvalid value (%s)", w, sep, msg);
    }
    return what ? lab_err_from_sqlite(e, rc, msg, what) : lab_err_set(e, LAB_EDB, "%s", msg);
}

/* Take a write's failure into the handle. Some errors (full disk, I/O, out
 * of memory) make SQLite roll back the whole transaction: every write since
 * the last commit is gone, and the next commit says so. */
static int s_fail_err(lab_hub *h, const lab_err *e)
{
    if (h->in_tx && sqlite3_get_autocommit(h->db)) {
        h->in_tx = 0;
        h->tx_lost = 1;
        return s_fail(h, e->code, "%s; the open transaction was rolled back", e->msg);
    }
    return s_fail(h, e->code, "%s", e->msg);
}

static int s_fail_sql(lab_hub *h, int rc, const char *what)
{
    lab_err e;
    lab_err_clear(&e);
    s_sql_err(h->db, rc, what, &e);
    return s_fail_err(h, &e);
}

static int s_to_err(const lab_hub *h, int code, lab_err *err)
{
    if (code < 0)
        lab_err_set(err, code, "%s", h->errmsg);
    return code;
}

/* ---- statements ---- */

/* The cached statement, prepared on first use; NULL with e set. */
static sqlite3_stmt *s_prepare(lab_hub *h, int which, lab_err *e)
{
    if (!h->stmt[which]) {
        int rc = sqlite3_prepare_v3(h->db, s_stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                    &h->stmt[which], NULL);
        if (rc != SQLITE_OK) {
            s_sql_err(h->db, rc, "preparing a hub statement", e);
            h->stmt[which] = NULL;
            return NULL;
        }
    }
    return h->stmt[which];
}

/* For the owner's thread: refused while a batch is out (the runner may be
 * using the connection). */
static sqlite3_stmt *s_stmt(lab_hub *h, int which)
{
    if (h->running) {
        s_fail(h, LAB_ESTATE, "hub '%s': busy with a commit; read after lab_hub_commit_end",
               h->path);
        return NULL;
    }
    lab_err e;
    lab_err_clear(&e);
    sqlite3_stmt *st = s_prepare(h, which, &e);
    if (!st)
        s_fail(h, e.code, "%s", e.msg);
    return st;
}

static void s_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Step a write statement to completion; returns 0 or a lab_errno. */
static int s_run(lab_hub *h, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = s_fail_sql(h, rc, what);
    sqlite3_reset(st);
    return ret;
}

static int s_exec(lab_hub *h, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        lab_err e;
        lab_err_from_sqlite(&e, rc, msg ? msg : sqlite3_errmsg(h->db), what);
        sqlite3_free(msg);
        return s_fail(h, e.code, "%s", e.msg);
    }
    return 0;
}

/* Join (or open) the group transaction before a write. */
static int s_write_begin(lab_hub *h, const char *what)
{
    const char *w = what ? what : "", *sep = what ? ": " : "";
    if (h->readonly)
        return s_fail(h, LAB_ESTATE, "%s%shub '%s' is open read-only", w, sep, h->path);
    if (h->tx_lost)
        return s_fail(h, LAB_EDB, "%s%san earlier write failed and rolled back the "
                      "transaction; commit to report it before writing again", w, sep);
    if (h->in_tx)
        return 0;
    sqlite3_stmt *st = s_stmt(h, S_BEGIN);
    if (!st)
        return LAB_EDB;
    int ret = s_run(h, st, "starting a hub transaction");
    if (ret == 0)
        h->in_tx = 1;
    return ret;
}

/* Prepared statement for a write, inside the group transaction. */
static sqlite3_stmt *s_write_stmt(lab_hub *h, int which, const char *what, int *ret)
{
    *ret = s_write_begin(h, what);
    if (*ret < 0)
        return NULL;
    sqlite3_stmt *st = s_stmt(h, which);
    if (!st)
        *ret = LAB_EDB;
    return st;
}

/* ---- open / close ---- */

/* Process-wide, before SQLite's first use: no memory statistics (they take
 * a global mutex on every allocation; labloop never reads them). */
static pthread_once_t s_setup_once = PTHREAD_ONCE_INIT;
static void s_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int s_pragma_int(lab_hub *h, const char *sql, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    int ret = 0;
    if (rc != SQLITE_OK) {
        int code = sqlite3_errcode(h->db);
        if (code == SQLITE_NOTADB)
            ret = s_fail(h, LAB_EDB, "cannot open hub '%s': not an SQLite database", h->path);
        else
            ret = s_fail(h, LAB_EDB, "cannot open hub '%s': %s", h->path,
                         sqlite3_errmsg(h->db));
    }
    sqlite3_finalize(st);
    return ret;
}

/* Refuse files that are not labloop hubs, and hubs newer than this labloop. */
static int s_check_version(lab_hub *h, int64_t *version)
{
    int ret = s_pragma_int(h, "PRAGMA user_version", version);
    if (ret < 0)
        return ret;
    if (*version > LAB_HUB_SCHEMA_VERSION)
        return s_fail(h, LAB_EVERSION,
                      "cannot open hub '%s': its schema version %lld is newer than this "
                      "labloop knows (%d); use a newer labloop",
                      h->path, (long long)*version, LAB_HUB_SCHEMA_VERSION);
    if (*version == 0) {
        int64_t tables = 0;
        ret = s_pragma_int(h, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                           &tables);
        if (ret < 0)
            return ret;
        if (tables > 0)
            return s_fail(h, LAB_EDB,
                          "cannot open hub '%s': an SQLite database but not a labloop hub "
                          "(it has other tables and no labloop schema version)", h->path);
    }
    return 0;
}

static int s_migrate(lab_hub *h)
{
    int ret = s_exec(h, "BEGIN IMMEDIATE", "migrating the hub schema");
    if (ret < 0)
        return ret;
    int64_t version = 0;
    /* Re-read under the write lock: another process may have migrated. */
    ret = s_check_version(h, &version);
    for (int64_t v = version + 1; ret == 0 && v <= LAB_HUB_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrating the hub schema to version %lld", (long long)v);
        ret = s_exec(h, s_migrations[v], what);
        if (ret == 0) {
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)v);
            ret = s_exec(h, sql, what);
        }
    }
    if (ret < 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return ret;
    }
    return s_exec(h, "COMMIT", "migrating the hub schema");
}

static lab_hub *s_open(const char *path, int readonly, lab_err *err)
{
    if (!path || !*path) {
        lab_err_set(err, LAB_EINVAL, "cannot open hub: no path given");
        return NULL;
    }
    lab_hub *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        lab_err_set(err, LAB_ENOMEM, "cannot open hub '%s': out of memory", path);
        return NULL;
    }
    h->readonly = readonly;
    int ret = 0;
    struct stat sb;
    if (readonly && stat(path, &sb) != 0) {
        ret = s_fail(h, LAB_ENOTFOUND, "cannot open hub '%s': %s", path, strerror(errno));
        goto fail;
    }
    pthread_once(&s_setup_once, s_setup);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, lab_hub_vfs_name());
    if (rc != SQLITE_OK) {
        int sys = h->db ? sqlite3_system_errno(h->db) : 0;
        ret = s_fail(h, LAB_EDB, "cannot open hub '%s': %s", path,
                     sys ? strerror(sys) : h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(h->db, 1);
    sqlite3_busy_timeout(h->db, S_BUSY_TIMEOUT_MS);

    int64_t version = 0;
    if ((ret = s_check_version(h, &version)) < 0)
        goto fail;
    if (readonly) {
        if (version == 0) {
            ret = s_fail(h, LAB_EDB, "cannot open hub '%s': not a labloop hub (no labloop "
                         "schema in it)", path);
            goto fail;
        }
        if (version < S_OLDEST_READABLE) {
            ret = s_fail(h, LAB_EVERSION, "cannot open hub '%s': schema version %lld is older "
                         "than %d; open it once with a writing labloop command to migrate",
                         path, (long long)version, S_OLDEST_READABLE);
            goto fail;
        }
        return h;
    }

    /* WAL lets readers in other processes read while this handle writes;
     * synchronous=FULL makes a COMMIT durable before we acknowledge. */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(h->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            ret = s_fail(h, LAB_EDB, "cannot open hub '%s': the file system does not support "
                         "WAL mode (journal_mode is '%s')", path, mode ? mode : "?");
    } else {
        ret = s_fail(h, LAB_EDB, "cannot open hub '%s': setting WAL mode: %s", path,
                     sqlite3_errmsg(h->db));
    }
    sqlite3_finalize(st);
    if (ret < 0)
        goto fail;
    if ((ret = s_exec(h, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
                      "configuring the hub")) < 0)
        goto fail;
    if (version < LAB_HUB_SCHEMA_VERSION && (ret = s_migrate(h)) < 0)
        goto fail;
    return h;

fail:
    lab_err_set(err, ret, "%s", h->errmsg);
    lab_hub_destroy(&h);
    return NULL;
}

lab_hub *lab_hub_open(const char *path, lab_err *err)
{
    return s_open(path, 0, err);
}

lab_hub *lab_hub_open_readonly(const char *path, lab_err *err)
{
    return s_open(path, 1, err);
}

void lab_hub_destroy(lab_hub **hp)
{
    if (!hp || !*hp)
        return;
    lab_hub *h = *hp;
    assert(!h->running);          /* a batch still out: lab_hub_commit_end first */
    if (h->db && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < S_STMT_COUNT; i++)
        sqlite3_finalize(h->stmt[i]);
    for (int k = 0; k <= S_EV_LOG2; k++)
        sqlite3_finalize(h->ev_stmt[k]);
    sqlite3_close(h->db);
    free(h->fill.buf);
    free(h->run.buf);
    free(h->ops);
    free(h->fold);
    free(h->path);
    free(h);
    *hp = NULL;
}

/* ---- write operations: run at once, or queued into a batch ---- */

enum { S_ARG_NULL, S_ARG_INT, S_ARG_TEXT, S_ARG_BLOB };
typedef struct s_arg {
    int type;
    int64_t i;
    const void *p;
    size_t n;                    /* blob length */
} s_arg;
#define S_INT(v) ((s_arg){.type = S_ARG_INT, .i = (int64_t)(v)})
#define S_TEXT(s) ((s_arg){.type = (s) ? S_ARG_TEXT : S_ARG_NULL, .p = (s)})
#define S_BLOB(b, len) ((s_arg){.type = (b) ? S_ARG_BLOB : S_ARG_NULL, .p = (b), .n = (len)})
#define S_MAX_ARGS 16

/* A write of a batch, decoded: its arguments point into the batch. */
typedef struct s_op {
    int which, flags, n;
    int folded;                  /* merged into an earlier write of the batch: skip */
    s_arg a[S_MAX_ARGS];
} s_op;

/* The write must change a row; none changed means its key is not there. */
#define S_OP_CHANGES 1

/* What a failed write was doing, for its message: words, and which
 * argument names the row (formatted only on failure). */
static const struct {
    const char *what;
    int key;
} s_op_ctx[S_STMT_COUNT] = {
    [S_SET_CAMPAIGN] = {"setting the status of campaign", 1},
    [S_UPSERT_DEVICE] = {"recording device", 2},
    [S_SET_DEVICE] = {"setting the status of device", 2},
    [S_INS_EXPERIMENT] = {"recording experiment", 2},
    [S_SET_EXPERIMENT] = {"setting the status of experiment", 2},
    [S_INS_STEP] = {"recording step attempt", 1},
    [S_SET_STEP] = {"updating step attempt", 1},
    [S_SET_STEP_COUNTED] = {"updating step attempt", 1},
    [S_INS_EVENT] = {"recording event", 3},
    [S_INS_AUDIT] = {"recording audit entry", 5},
    [S_INS_SAMPLE] = {"recording sample", 3},
    [S_SET_SAMPLE] = {"moving sample", 2},
    [S_INS_SAMPLE_LOC] = {"moving sample", 2},
    [S_INS_ARTIFACT] = {"recording an artifact of attempt", 5},
};

static void s_op_what(int which, const s_arg *a, int n, char *buf, size_t size)
{
    const char *what = s_op_ctx[which].what ? s_op_ctx[which].what : "writing to the hub";
    int k = s_op_ctx[which].key - 1;
    if (k >= 0 && k < n && a[k].type == S_ARG_TEXT)
        snprintf(buf, size, "%s '%s'", what, (const char *)a[k].p);
    else if (k >= 0 && k < n && a[k].type == S_ARG_INT)
        snprintf(buf, size, "%s %lld", what, (long long)a[k].i);
    else
        snprintf(buf, size, "%s", what);
}

/* Bind a write's arguments from parameter first + 1 on. */
static void s_bind_args(sqlite3_stmt *st, int first, const s_arg *a, int n)
{
    for (int i = 0; i < n; i++) {
        switch (a[i].type) {
        case S_ARG_INT:
            sqlite3_bind_int64(st, first + i + 1, a[i].i);
            break;
        case S_ARG_TEXT:
            sqlite3_bind_text(st, first + i + 1, a[i].p, -1, SQLITE_STATIC);
            break;
        case S_ARG_BLOB:
            sqlite3_bind_blob64(st, first + i + 1, a[i].p, a[i].n, SQLITE_STATIC);
            break;
        default:
            sqlite3_bind_null(st, first + i + 1);
        }
    }
}

/* Run one write on the connection: 0, or < 0 with e saying why. Uses only
 * the connection and its statements, so the batch runner may call it on
 * another thread. */
static int s_step_op(lab_hub *h, int which, int flags, const s_arg *a, int n, lab_err *e)
{
    sqlite3_stmt *st = s_prepare(h, which, e);
    if (!st)
        return e->code;
    s_bind_args(st, 0, a, n);
    int rc = sqlite3_step(st), ret = 0;
    char what[256];
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        s_op_what(which, a, n, what, sizeof what);
        ret = s_sql_err(h->db, rc, what, e);
    } else if ((flags & S_OP_CHANGES) && sqlite3_changes(h->db) == 0) {
        s_op_what(which, a, n, what, sizeof what);
        ret = lab_err_set(e, LAB_ENOTFOUND, "%s: no such row in the hub", what);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);  /* no pointer into a batch outlives it */
    return ret;
}

/* ---- batches ---- */

static int s_reserve(s_batch *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb)
            return LAB_ENOMEM;
        b->buf = nb;
        b->cap = cap;
    }
    return 0;
}

/* An op is: statement, flags, argument count (a byte each), then per
 * argument its type byte and an int64, or a u64 length and the bytes (text
 * with its NUL, so it binds in place). Sized first, then written in one go. */
static int s_enqueue(lab_hub *h, int which, int flags, const s_arg *a, int n)
{
    s_batch *b = &h->fill;
    size_t lens[S_MAX_ARGS];
    size_t need = 3;
    for (int i = 0; i < n; i++) {
        need += 1;
        if (a[i].type == S_ARG_INT) {
            need += sizeof a[i].i;
        } else if (a[i].type != S_ARG_NULL) {
            lens[i] = a[i].type == S_ARG_TEXT ? strlen(a[i].p) + 1 : a[i].n;
            need += sizeof(uint64_t) + lens[i];
        }
    }
    if (s_reserve(b, need) < 0) {
        char what[256];
        s_op_what(which, a, n, what, sizeof what);
        return s_fail(h, LAB_ENOMEM, "%s: out of memory queueing the write", what);
    }
    uint8_t *p = b->buf + b->len;
    *p++ = (uint8_t)which;
    *p++ = (uint8_t)flags;
    *p++ = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        *p++ = (uint8_t)a[i].type;
        if (a[i].type == S_ARG_INT) {
            memcpy(p, &a[i].i, sizeof a[i].i);
            p += sizeof a[i].i;
        } else if (a[i].type != S_ARG_NULL) {
            uint64_t len = lens[i];
            memcpy(p, &len, sizeof len);
            p += sizeof len;
            memcpy(p, a[i].p, lens[i]);
            p += lens[i];
        }
    }
    b->len += need;
    return 0;
}

/* Decode the op at *pos; the arguments point into the batch. */
static void s_dequeue(const s_batch *b, size_t *pos, int *which, int *flags, s_arg *a, int *n)
{
    const uint8_t *p = b->buf + *pos;
    *which = p[0];
    *flags = p[1];
    *n = p[2];
    p += 3;
    for (int i = 0; i < *n; i++) {
        a[i] = (s_arg){.type = *p++};
        if (a[i].type == S_ARG_INT) {
            memcpy(&a[i].i, p, sizeof a[i].i);
            p += sizeof a[i].i;
        } else if (a[i].type != S_ARG_NULL) {
            uint64_t len;
            memcpy(&len, p, sizeof len);
            p += sizeof len;
            a[i].p = p;
            a[i].n = (size_t)len;
            p += len;
        }
    }
    *pos = (size_t)(p - b->buf);
}

/* One write: queued when the handle queues, else run in the group
 * transaction at once. */
static int s_write(lab_hub *h, int which, int flags, const s_arg *a, int n)
{
    assert(n <= S_MAX_ARGS);      /* the batch runner decodes into S_MAX_ARGS */
    if (h->queued)
        return s_enqueue(h, which, flags, a, n);
    int ret = s_write_begin(h, NULL);
    if (ret < 0) {             /* read-only, an earlier lost transaction, BEGIN failed */
        char what[256], msg[LAB_ERR_MSG_MAX];
        s_op_what(which, a, n, what, sizeof what);
        snprintf(msg, sizeof msg, "%s", h->errmsg);
        return s_fail(h, ret, "%s: %s", what, msg);
    }
    lab_err e;
    lab_err_clear(&e);
    if ((ret = s_step_op(h, which, flags, a, n, &e)) == 0)
        return 0;
    return s_fail_err(h, &e);
}

/* ---- transactions ---- */

int lab_hub_queue_writes(lab_hub *h, lab_err *err)
{
    if (h->queued)
        return 0;
    if (h->readonly || h->in_tx || h->tx_lost)
        return lab_err_set(err, LAB_EINVAL, "hub '%s': queued writes need the writing handle "
                           "between transactions", h->path);
    for (int i = 0; i < S_STMT_COUNT; i++)
        if (!s_stmt(h, i))
            return s_to_err(h, LAB_EDB, err);
    h->queued = 1;
    return 0;
}

int lab_hub_commit_begin(lab_hub *h, lab_err *err)
{
    if (!h->queued || h->running)
        return lab_err_set(err, LAB_ESTATE, "hub '%s': %s", h->path,
                           h->running ? "a commit is already out" : "writes are not queued");
    if (h->fill.len == 0)
        return 0;
    s_batch t = h->run;
    h->run = h->fill;
    h->fill = t;
    h->fill.len = 0;
    h->running = 1;
    h->run_ret = lab_err_set(&h->run_err, LAB_ESTATE, "the commit did not run");
    return 1;
}

/* Leave the connection outside any transaction after a failure. */
static void s_rollback(lab_hub *h)
{
    if (!sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

static uint32_t s_hash_text(const char *p)
{
    uint32_t x = 2166136261u;     /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        x = (x ^ *c) * 16777619u;
    return x;
}

/* Decode the batch to be run into h->ops; 0 or LAB_ENOMEM. */
static int s_decode_run(lab_hub *h)
{
    const s_batch *b = &h->run;
    h->n_ops = 0;
    for (size_t pos = 0; pos < b->len;) {
        if (h->n_ops == h->cap_ops) {
            size_t cap = h->cap_ops ? 2 * h->cap_ops : 256;
            s_op *o = realloc(h->ops, cap * sizeof *o);
            if (!o)
                return LAB_ENOMEM;
            h->ops = o;
            h->cap_ops = cap;
        }
        s_op *o = &h->ops[h->n_ops++];
        s_dequeue(b, &pos, &o->which, &o->flags, o->a, &o->n);
        o->folded = 0;
    }
    return 0;
}

/* An attempt dispatched and finished within one commit's time has its
 * insert and its updates in the same batch: the updates are folded into
 * the insert (the row is written once, with its last state) and skipped.
 * Nothing between them reads the row (artifacts only need it to exist,
 * and their insert comes after the step's), and the batch is one
 * transaction, so what the commit leaves is the same. */
static void s_fold_steps(lab_hub *h)
{
    size_t n_ins = 0;
    for (size_t i = 0; i < h->n_ops; i++)
        n_ins += h->ops[i].which == S_INS_STEP;
    if (!n_ins)
        return;
    size_t size = 16;
    while (size < 2 * n_ins)
        size *= 2;
    if (size > h->cap_fold) {
        uint32_t *t = realloc(h->fold, size * sizeof *t);
        if (!t)
            return;               /* not folded: run as written */
        h->fold = t;
        h->cap_fold = size;
    }
    memset(h->fold, 0xff, size * sizeof *h->fold);
    for (size_t i = 0; i < h->n_ops; i++) {
        s_op *o = &h->ops[i];
        if ((o->which != S_INS_STEP && o->which != S_SET_STEP) || o->a[0].type != S_ARG_TEXT)
            continue;
        const char *id = o->a[0].p;
        size_t k = s_hash_text(id) & (size - 1);
        while (h->fold[k] != UINT32_MAX && strcmp(h->ops[h->fold[k]].a[0].p, id) != 0)
            k = (k + 1) & (size - 1);
        if (o->which == S_INS_STEP) {
            if (h->fold[k] == UINT32_MAX && o->n == 13)
                h->fold[k] = (uint32_t)i;
            continue;
        }
        if (h->fold[k] == UINT32_MAX || o->n != 7)
            continue;
        /* SET_STEP's COALESCE, applied to the insert's arguments */
        s_arg *ins = h->ops[h->fold[k]].a;
        const s_arg *up = o->a;
        if (up[1].type != S_ARG_NULL)
            ins[6] = up[1];       /* status */
        if (up[2].type != S_ARG_NULL)
            ins[5] = up[2];       /* device */
        if (up[3].type == S_ARG_INT && up[3].i != 0)
            ins[9] = up[3];       /* started_us */
        if (up[4].type == S_ARG_INT && up[4].i != 0)
            ins[10] = up[4];      /* finished_us */
        if (up[5].type != S_ARG_NULL)
            ins[11] = up[5];      /* result */
        if (up[6].type != S_ARG_NULL)
            ins[12] = up[6];      /* error */
        o->folded = 1;
    }
}

/* An event of the batch, written with the others at its end. */
static int s_deferred_event(const s_op *o)
{
    return o->which == S_INS_EVENT && !o->folded && o->n == S_EV_COLS;
}

/* The INSERT of 2^k events (S_INS_EVENT's row, repeated), prepared on
 * first use; NULL with e set. */
static sqlite3_stmt *s_prepare_events(lab_hub *h, int k, lab_err *e)
{
    if (k == 0)
        return s_prepare(h, S_INS_EVENT, e);
    if (h->ev_stmt[k])
        return h->ev_stmt[k];
    char sql[96 + (1 << S_EV_LOG2) * 48];
    size_t len = (size_t)snprintf(sql, sizeof sql, "%s", S_EVENTS_INTO);
    for (int r = 0; r < 1 << k; r++) {
        int p = r * S_EV_COLS;
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s" S_EVENT_ROW, r ? ", " : "", p + 1, p + 2,
                                p + 3, p + 4, p + 5);
    }
    int rc = sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &h->ev_stmt[k], NULL);
    if (rc != SQLITE_OK) {
        s_sql_err(h->db, rc, "preparing a hub statement", e);
        h->ev_stmt[k] = NULL;
    }
    return h->ev_stmt[k];
}

/* The batch's events, in their order, after its other writes: up to
 * 2^S_EV_LOG2 rows per statement, which opens the table and its indexes
 * once for all of them (a third less work per event than one INSERT
 * each). Nothing in a batch reads events, and it is one transaction, so
 * the hub ends up the same. */
static int s_run_events(lab_hub *h, size_t n_ev, lab_err *e)
{
    size_t i = 0;
    while (n_ev > 0) {
        int k = S_EV_LOG2;
        while ((size_t)1 << k > n_ev)
            k--;
        sqlite3_stmt *st = s_prepare_events(h, k, e);
        if (!st)
            return e->code;
        size_t first = i;
        for (int r = 0; r < 1 << k; i++) {
            const s_op *o = &h->ops[i];
            if (!s_deferred_event(o))
                continue;
            s_bind_args(st, r * S_EV_COLS, o->a, o->n);
            r++;
        }
        int rc = sqlite3_step(st), ret = 0;
        if (rc != SQLITE_DONE)
            ret = s_sql_err(h->db, rc, "recording events", e);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (ret < 0) {
            /* Say which event it was: its rows one at a time (SQLite undid
             * the failed statement; the caller rolls the batch back). Not
             * when the failure ended the transaction (an I/O error, a
             * trigger's ROLLBACK): each row would be a commit of its own. */
            for (size_t j = first; j < i && !sqlite3_get_autocommit(h->db); j++) {
                const s_op *o = &h->ops[j];
                if (s_deferred_event(o) && s_step_op(h, o->which, o->flags, o->a, o->n, e) < 0)
                    return e->code;
            }
            return ret;
        }
        n_ev -= (size_t)1 << k;
    }
    return 0;
}

void lab_hub_commit_run(lab_hub *h)
{
    lab_err *e = &h->run_err;
    int ret = s_decode_run(h);
    if (ret < 0)
        lab_err_set(e, ret, "running the hub's batch: out of memory");
    else
        s_fold_steps(h);
    if (ret == 0)
        ret = s_step_op(h, S_BEGIN, 0, NULL, 0, e);
    size_t n_ev = 0;
    for (size_t i = 0; ret == 0 && i < h->n_ops; i++) {
        const s_op *o = &h->ops[i];
        if (s_deferred_event(o))
            n_ev++;
        else if (!o->folded)
            ret = s_step_op(h, o->which, o->flags, o->a, o->n, e);
    }
    if (ret == 0)
        ret = s_run_events(h, n_ev, e);
    if (ret == 0 && (ret = s_step_op(h, S_COMMIT, 0, NULL, 0, e)) < 0)
        lab_err_prefix(e, "committing to the hub: ");
    if (ret < 0)
        s_rollback(h);
    h->run_ret = ret;
}

int lab_hub_commit_end(lab_hub *h, lab_err *err)
{
    if (!h->running)
        return 0;
    h->running = 0;
    h->run.len = 0;
    if (h->run_ret < 0) {
        /* Writes queued while the batch ran may build on its rows: they go
         * too, so that the hub never holds half of a history. */
        h->fill.len = 0;
        s_fail(h, h->run_ret, "%s; none of the writes since the last successful commit "
               "were kept", h->run_err.msg);
        return s_to_err(h, h->run_ret, err);
    }
    return 0;
}

int lab_hub_commit(lab_hub *h, lab_err *err)
{
    if (h->queued) {
        int ret = lab_hub_commit_begin(h, err);
        if (ret <= 0)
            return ret;
        lab_hub_commit_run(h);
        return lab_hub_commit_end(h, err);
    }
    if (h->tx_lost) {
        h->tx_lost = 0;
        s_fail(h, LAB_EDB, "hub '%s': the transaction was rolled back by an earlier write "
               "error; its writes are lost", h->path);
        return s_to_err(h, LAB_EDB, err);
    }
    if (!h->in_tx)
        return 0;
    sqlite3_stmt *st = s_stmt(h, S_COMMIT);
    int ret = st ? s_run(h, st, "committing to the hub") : LAB_EDB;
    if (ret < 0) {
        /* COMMIT may leave the transaction open (e.g. busy): the contract is
         * that the writes are lost, so end it here. */
        s_rollback(h);
        h->tx_lost = 0;
    }
    h->in_tx = 0;
    return s_to_err(h, ret, err);
}

int lab_hub_dirty(const lab_hub *h)
{
    return h->queued ? h->fill.len > 0 : h->in_tx || h->tx_lost;
}

const char *lab_hub_errmsg(const lab_hub *h)
{
    return h ? h->errmsg : "no hub";
}

/* ---- writes ---- */

int lab_hub_record_campaign_now(lab_hub *h, const lab_hub_campaign *c, int64_t *id, lab_err *err)
{
    if (h->running)
        return lab_err_set(err, LAB_EAGAIN, "hub '%s': a commit is running", h->path);
    int queued = h->queued;
    h->queued = 0;           /* its own transaction, ahead of the batch being filled */
    int ret = lab_hub_record_campaign(h, c, id);
    if (ret < 0) {
        s_to_err(h, ret, err);
        s_rollback(h);
        h->in_tx = 0;
        h->tx_lost = 0;
    } else {
        ret = lab_hub_commit(h, err);
    }
    h->queued = queued;
    return ret;
}

int lab_hub_record_campaign(lab_hub *h, const lab_hub_campaign *c, int64_t *id)
{
    if (!c || !c->name || !*c->name)
        return s_fail(h, LAB_EINVAL, "recording a campaign: no name");
    if (h->queued)           /* its id is needed at once */
        return s_fail(h, LAB_ESTATE, "recording campaign '%s': not with queued writes", c->name);
    int ret;
    char what[160];
    snprintf(what, sizeof what, "recording campaign '%s'", c->name);
    sqlite3_stmt *st = s_write_stmt(h, S_INS_CAMPAIGN, what, &ret);
    if (!st)
        return ret;
    s_bind_text(st, 1, c->name);
    s_bind_text(st, 2, c->config_path);
    s_bind_text(st, 3, c->config_text);
    s_bind_text(st, 4, c->config_sha256);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)c->seed); /* two's complement: cast back */
    s_bind_text(st, 6, c->version);
    s_bind_text(st, 7, c->host);
    s_bind_text(st, 8, c->operator_name);
    s_bind_text(st, 9, c->access);
    sqlite3_bind_int(st, 10, c->export_control ? 1 : 0);
    s_bind_text(st, 11, c->planner);
    sqlite3_bind_int64(st, 12, c->created_us);
    ret = s_run(h, st, what);
    if (ret == LAB_ESTATE)
        return s_fail(h, LAB_ESTATE, "campaign '%s' is already in hub '%s'; choose another "
                      "name or resume it", c->name, h->path);
    if (ret == 0 && id)
        *id = sqlite3_last_insert_rowid(h->db);
    return ret;
}

int lab_hub_find_campaign(lab_hub *h, const char *name, int64_t *id, char *status, size_t n)
{
    if (!name)
        return s_fail(h, LAB_EINVAL, "finding a campaign: no name");
    sqlite3_stmt *st = s_stmt(h, S_FIND_CAMPAIGN);
    if (!st)
        return LAB_EDB;
    s_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        if (status && n > 0) {
            const char *s = (const char *)sqlite3_column_text(st, 1);
            snprintf(status, n, "%s", s ? s : "");
        }
    } else if (rc == SQLITE_DONE) {
        ret = s_fail(h, LAB_ENOTFOUND, "campaign '%s' is not in hub '%s'", name, h->path);
    } else {
        ret = s_fail_sql(h, rc, "finding a campaign");
    }
    sqlite3_reset(st);
    return ret;
}

int lab_hub_set_campaign_status(lab_hub *h, int64_t campaign, const char *status, int64_t t_us)
{
    if (!status)
        return s_fail(h, LAB_EINVAL, "setting a campaign's status: no status");
    s_arg a[] = {S_INT(campaign), S_TEXT(status), S_INT(t_us)};
    return s_write(h, S_SET_CAMPAIGN, S_OP_CHANGES, a, 3);
}

int lab_hub_record_device(lab_hub *h, int64_t campaign, const char *name, const char *driver,
                          const char *capabilities_json, int capacity, const char *status,
                          int64_t t_us)
{
    if (!name)
        return s_fail(h, LAB_EINVAL, "recording a device: no name");
    s_arg a[] = {S_INT(campaign), S_TEXT(name), S_TEXT(driver), S_TEXT(capabilities_json),
                 S_INT(capacity), S_TEXT(status), S_INT(t_us)};
    return s_write(h, S_UPSERT_DEVICE, 0, a, 7);
}

int lab_hub_set_device_status(lab_hub *h, int64_t campaign, const char *name,
                              const char *status, int64_t t_us)
{
    if (!name || !status)
        return s_fail(h, LAB_EINVAL, "setting a device's status: no name or status");
    s_arg a[] = {S_INT(campaign), S_TEXT(name), S_TEXT(status), S_INT(t_us)};
    return s_write(h, S_SET_DEVICE, S_OP_CHANGES, a, 4);
}

int lab_hub_record_experiment(lab_hub *h, int64_t campaign, int64_t seq, const char *params_json,
                              const char *origin, const char *provenance_json,
                              const char *status, int64_t t_us)
{
    s_arg a[] = {S_INT(campaign), S_INT(seq), S_TEXT(params_json), S_TEXT(origin),
                 S_TEXT(provenance_json), S_TEXT(status), S_INT(t_us)};
    return s_write(h, S_INS_EXPERIMENT, 0, a, 7);
}

int lab_hub_set_experiment_status(lab_hub *h, int64_t campaign, int64_t seq, const char *status,
                                  const char *objectives_json, const char *error, int64_t t_us)
{
    if (!status)
        return s_fail(h, LAB_EINVAL, "setting an experiment's status: no status");
    s_arg a[] = {S_INT(campaign), S_INT(seq), S_TEXT(status), S_TEXT(objectives_json),
                 S_TEXT(error), S_INT(t_us)};
    return s_write(h, S_SET_EXPERIMENT, S_OP_CHANGES, a, 6);
}

int lab_hub_record_step(lab_hub *h, const lab_hub_step *s)
{
    if (!s || !s->attempt_id || !s->step)
        return s_fail(h, LAB_EINVAL, "recording a step: no attempt id or step name");
    /* started, finished, result and error: filled in when a batch folds the
     * attempt's later updates into this insert (s_fold_steps) */
    s_arg a[] = {S_TEXT(s->attempt_id), S_INT(s->campaign), S_INT(s->experiment), S_TEXT(s->step),
                 S_INT(s->attempt), S_TEXT(s->device), S_TEXT(s->status), S_TEXT(s->params_json),
                 S_INT(s->queued_us), S_INT(0), S_INT(0), S_TEXT(NULL), S_TEXT(NULL)};
    return s_write(h, S_INS_STEP, 0, a, 13);
}

int lab_hub_set_step_status(lab_hub *h, const char *attempt_id, const char *status,
                            const char *device, int64_t started_us, int64_t finished_us,
                            const char *values_json, const char *error)
{
    if (!attempt_id)
        return s_fail(h, LAB_EINVAL, "updating a step: no attempt id");
    s_arg a[] = {S_TEXT(attempt_id), S_TEXT(status), S_TEXT(device), S_INT(started_us),
                 S_INT(finished_us), S_TEXT(values_json), S_TEXT(error)};
    return s_write(h, S_SET_STEP, S_OP_CHANGES, a, 7);
}

int lab_hub_set_step_counted(lab_hub *h, const char *attempt_id, int counted)
{
    if (!attempt_id)
        return s_fail(h, LAB_EINVAL, "updating a step: no attempt id");
    s_arg a[] = {S_TEXT(attempt_id), S_INT(counted ? 1 : 0)};
    return s_write(h, S_SET_STEP_COUNTED, S_OP_CHANGES, a, 2);
}

int lab_hub_record_event(lab_hub *h, int64_t campaign, int64_t t_us, const char *kind,
                         const char *subject, const char *detail_json)
{
    if (!kind)
        return s_fail(h, LAB_EINVAL, "recording an event: no kind");
    s_arg a[] = {S_INT(campaign), S_INT(t_us), S_TEXT(kind), S_TEXT(subject), S_TEXT(detail_json)};
    return s_write(h, S_INS_EVENT, 0, a, 5);
}

/* ---- reads ---- */

int lab_hub_count_experiments(lab_hub *h, int64_t campaign, const char *status, int64_t *n)
{
    sqlite3_stmt *st = s_stmt(h, S_COUNT_EXPERIMENTS);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    s_bind_text(st, 2, status);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (n)
            *n = sqlite3_column_int64(st, 0);
    } else {
        ret = s_fail_sql(h, rc, "counting experiments");
    }
    sqlite3_reset(st);
    return ret;
}

static int s_latest_campaign(lab_hub *h, int64_t *id, char *name, size_t n, lab_err *err)
{
    sqlite3_stmt *st = s_stmt(h, S_LATEST_CAMPAIGN);
    if (!st)
        return s_to_err(h, LAB_EDB, err);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(st, 0);
        if (name && n > 0) {
            const char *s = (const char *)sqlite3_column_text(st, 1);
            snprintf(name, n, "%s", s ? s : "");
        }
    } else if (rc == SQLITE_DONE) {
        ret = s_fail(h, LAB_ENOTFOUND, "hub '%s' has no campaign yet", h->path);
    } else {
        ret = s_fail_sql(h, rc, "finding the latest campaign");
    }
    sqlite3_reset(st);
    return s_to_err(h, ret, err);
}

int lab_hub_timeline(lab_hub *h, int64_t campaign, lab_hub_entry_fn fn, void *arg, lab_err *err)
{
    int ret;
    if (h->running)
        return lab_err_set(err, LAB_ESTATE, "hub '%s': busy with a commit; read after "
                           "lab_hub_commit_end", h->path);
    if (campaign == 0 && (ret = s_latest_campaign(h, &campaign, NULL, 0, err)) < 0)
        return ret;
    /* A statement of its own (not cached): the callback may use the handle,
     * even walk another timeline. Events recorded before the campaign
     * existed (campaign NULL) belong to every timeline. */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT e.t_us, e.kind, e.subject, " LAB_EVENT_DETAIL_SQL " FROM events e"
                                " WHERE e.campaign = ?1 OR e.campaign IS NULL ORDER BY e.t_us, e.id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return s_to_err(h, s_fail_sql(h, rc, "reading the timeline"), err);
    sqlite3_bind_int64(st, 1, campaign);
    ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_entry e = {
            .t_us = sqlite3_column_int64(st, 0),
            .kind = (const char *)sqlite3_column_text(st, 1),
            .subject = (const char *)sqlite3_column_text(st, 2),
            .detail_json = (const char *)sqlite3_column_text(st, 3),
        };
        if ((ret = fn(&e, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_to_err(h, s_fail_sql(h, rc, "reading the timeline"), err);
    sqlite3_finalize(st);
    return ret;
}

/* ---- operator actions, samples, resume ---- */

int lab_hub_record_audit(lab_hub *h, int64_t campaign, int64_t t_us, const char *actor,
                         const char *origin, const char *action, const char *target,
                         const char *detail_json, const char *outcome)
{
    if (!actor || !action)
        return s_fail(h, LAB_EINVAL, "recording an audit entry: no actor or action");
    s_arg a[] = {S_INT(campaign), S_INT(t_us), S_TEXT(actor), S_TEXT(origin), S_TEXT(action),
                 S_TEXT(target), S_TEXT(detail_json), S_TEXT(outcome)};
    return s_write(h, S_INS_AUDIT, 0, a, 8);
}

int lab_hub_record_sample(lab_hub *h, int64_t campaign, int64_t experiment, const char *label,
                          const char *location, int64_t t_us)
{
    if (!label)
        return s_fail(h, LAB_EINVAL, "recording a sample: no label");
    s_arg a[] = {S_INT(campaign), S_INT(experiment), S_TEXT(label), S_TEXT(location), S_INT(t_us)};
    return s_write(h, S_INS_SAMPLE, 0, a, 5);
}

int lab_hub_move_sample(lab_hub *h, int64_t campaign, const char *label, const char *location,
                        const char *attempt_id, int64_t t_us)
{
    if (!label || !location)
        return s_fail(h, LAB_EINVAL, "moving a sample: no label or location");
    s_arg a[] = {S_INT(campaign), S_TEXT(label), S_TEXT(location), S_INT(t_us)};
    int ret = s_write(h, S_SET_SAMPLE, S_OP_CHANGES, a, 4);
    if (ret < 0)
        return ret;
    s_arg b[] = {S_INT(campaign), S_TEXT(label), S_INT(t_us), S_TEXT(location), S_TEXT(attempt_id)};
    return s_write(h, S_INS_SAMPLE_LOC, 0, b, 5);
}

int lab_hub_record_artifact(lab_hub *h, const char *attempt_id, const char *name,
                            const char *media_type, const char *sha256_hex, int64_t size,
                            const void *content, size_t content_len, int64_t t_us)
{
    if (!sha256_hex || !attempt_id)
        return s_fail(h, LAB_EINVAL, "recording an artifact: no hash or attempt id");
    s_arg a[] = {S_TEXT(sha256_hex), S_INT(size), S_TEXT(media_type), S_TEXT(name),
                 S_TEXT(attempt_id), S_BLOB(content, content_len), S_INT(t_us)};
    return s_write(h, S_INS_ARTIFACT, 0, a, 7);
}

int lab_hub_campaign_origin(lab_hub *h, int64_t campaign, char *sha, size_t n, int64_t *created_us)
{
    sqlite3_stmt *st = s_stmt(h, S_CAMPAIGN_ORIGIN);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        snprintf(sha, n, "%s", s ? s : "");
        *created_us = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        ret = s_fail(h, LAB_ENOTFOUND, "no campaign %lld in the hub", (long long)campaign);
    } else {
        ret = s_fail_sql(h, rc, "reading where a campaign came from");
    }
    sqlite3_reset(st);
    return ret;
}

/* The first row's integer of statement which bound to lab (0 when there
 * is no row or it is NULL). */
static int s_lab_int(lab_hub *h, int which, const char *lab, const char *what, int64_t *v)
{
    sqlite3_stmt *st = s_stmt(h, which);
    if (!st)
        return LAB_EDB;
    s_bind_text(st, 1, lab);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *v = 0;
    else
        ret = s_fail_sql(h, rc, what);
    sqlite3_reset(st);
    return ret;
}

int lab_hub_lab_run(lab_hub *h, const char *lab, int64_t *run_us)
{
    return s_lab_int(h, S_LAB_RUN, lab, "reading the lab's run", run_us);
}

int lab_hub_lab_estopped(lab_hub *h, const char *lab, int *estopped)
{
    int64_t v = 0;
    int rc = s_lab_int(h, S_LAB_ESTOP, lab, "reading the lab's e-stop", &v);
    *estopped = v != 0;
    return rc;
}

int lab_hub_each_lab_campaign(lab_hub *h, const char *lab, lab_hub_lab_campaign_fn fn, void *arg)
{
    sqlite3_stmt *st = s_stmt(h, S_EACH_LAB_CAMPAIGN);
    if (!st)
        return LAB_EDB;
    s_bind_text(st, 1, lab);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_lab_campaign_row r = {
            .id = sqlite3_column_int64(st, 0),
            .name = (const char *)sqlite3_column_text(st, 1),
            .config_path = (const char *)sqlite3_column_text(st, 2),
            .config_text = (const char *)sqlite3_column_text(st, 3),
            .config_len = (size_t)sqlite3_column_bytes(st, 3),
            .status = (const char *)sqlite3_column_text(st, 4),
            .weight = sqlite3_column_type(st, 5) == SQLITE_NULL ? 1.0 : sqlite3_column_double(st, 5),
            .updated_us = sqlite3_column_int64(st, 6),
            .experiments = sqlite3_column_int64(st, 7),
            .measured = sqlite3_column_int64(st, 8),
        };
        if ((ret = fn(&r, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_fail_sql(h, rc, "reading the lab's campaigns");
    sqlite3_reset(st);
    return ret;
}

static void s_copy_col(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(out, n, "%s", s ? s : "");
}

int lab_hub_campaign_lifecycle(lab_hub *h, int64_t campaign, lab_hub_lifecycle *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = s_stmt(h, S_EXTENSIONS);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->extensions = sqlite3_column_int64(st, 0);
        out->extra_experiments = sqlite3_column_int64(st, 1);
        out->deadline_us = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return s_fail_sql(h, rc, "reading a campaign's extensions");
    st = s_stmt(h, S_LAST_STATUS);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        if (status && !strcmp(status, "paused")) {
            out->paused = 1;
            s_copy_col(st, 1, out->pause_reason, sizeof out->pause_reason);
            s_copy_col(st, 2, out->paused_by, sizeof out->paused_by);
            s_copy_col(st, 3, out->brake_cause, sizeof out->brake_cause);
            out->brake_failures = sqlite3_column_int64(st, 4);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return s_fail_sql(h, rc, "reading a campaign's last status");
    return 0;
}

int lab_hub_each_experiment(lab_hub *h, int64_t campaign, lab_hub_experiment_fn fn, void *arg)
{
    sqlite3_stmt *st = s_stmt(h, S_EACH_EXPERIMENT);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_experiment_row r = {
            .seq = sqlite3_column_int64(st, 0),
            .params_json = (const char *)sqlite3_column_text(st, 1),
            .status = (const char *)sqlite3_column_text(st, 2),
            .objectives_json = (const char *)sqlite3_column_text(st, 3),
            .error = (const char *)sqlite3_column_text(st, 4),
            .finished_us = sqlite3_column_int64(st, 5),
            .provenance_json = (const char *)sqlite3_column_text(st, 6),
        };
        if ((ret = fn(&r, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_fail_sql(h, rc, "reading experiments");
    sqlite3_reset(st);
    return ret;
}

int lab_hub_each_step(lab_hub *h, int64_t campaign, lab_hub_step_fn fn, void *arg)
{
    sqlite3_stmt *st = s_stmt(h, S_EACH_STEP);
    if (!st)
        return LAB_EDB;
    sqlite3_bind_int64(st, 1, campaign);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_step_row r = {
            .attempt_id = (const char *)sqlite3_column_text(st, 0),
            .experiment = sqlite3_column_int64(st, 1),
            .step = (const char *)sqlite3_column_text(st, 2),
            .attempt = sqlite3_column_int(st, 3),
            .device = (const char *)sqlite3_column_text(st, 4),
            .status = (const char *)sqlite3_column_text(st, 5),
            .result_json = (const char *)sqlite3_column_text(st, 6),
            .counted = sqlite3_column_int(st, 7),
        };
        if ((ret = fn(&r, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_fail_sql(h, rc, "reading steps");
    sqlite3_reset(st);
    return ret;
}
