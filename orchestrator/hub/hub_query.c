/* Read views of the data hub on SQLite (see hub_query.h for the contract and
 * docs/DATA.md for the schema).
 *
 * For: the SQL of log, show, report, export and serve, each statement behind
 * a function named for what it reads. Not for: writes (hub.c) or anything
 * about presentation.
 *
 * Each handle is its own read-only connection. Every read runs in its own
 * short implicit transaction (one statement), so a long report never holds
 * back the writer's checkpoints. The hub is validated by lab_hub's own
 * read-only open first, so "missing", "not a labloop hub" and "schema too
 * new/old" read the same in every command.
 */
#include "orchestrator/hub/hub_query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "orchestrator/events.h"
#include "orchestrator/hub/hub.h"

#include "common/banned.h"

#define S_BUSY_TIMEOUT_MS 5000
#define S_SQL_MAX 4096
/* how far outside its proposed and finished times an experiment's
 * per-step events are looked for (1 s, in µs): they are stamped by the same
 * wall clock as those times, in the same loop turn or later */
#define S_EXP_SLACK_US "1000000"

struct lab_hub_query {
    sqlite3 *db;
    char *path;
    /* lab_hub_query_set_event_span; span_campaign 0: none */
    int64_t span_campaign, span_events, span_first_us, span_last_us;
};

/* ---- helpers ---- */

static int s_sql_err(lab_hub_query *q, lab_err *err, int rc, const char *what)
{
    return lab_err_from_sqlite(err, rc, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc), what);
}

static int s_prepare(lab_hub_query *q, const char *sql, sqlite3_stmt **st, lab_err *err,
                     const char *what)
{
    int rc = sqlite3_prepare_v2(q->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return s_sql_err(q, err, rc, what);
    }
    return 0;
}

static const char *s_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static char *s_dup(sqlite3_stmt *st, int i)
{
    const char *s = s_text(st, i);
    return s ? strdup(s) : NULL;
}

/* Step st through its rows, calling row(st, arg) for each; finalizes st. */
static int s_walk(lab_hub_query *q, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *),
                  void *arg, lab_err *err, const char *what)
{
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((ret = row(st, arg)) != 0)
            break;
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_sql_err(q, err, rc, what);
    sqlite3_finalize(st);
    return ret;
}

/* ---- open / close ---- */

lab_hub_query *lab_hub_query_open(const char *path, lab_err *err)
{
    /* The writer's module knows what a valid hub is; ask it. */
    lab_hub *h = lab_hub_open_readonly(path, err);
    if (!h)
        return NULL;
    lab_hub_destroy(&h);

    lab_hub_query *q = calloc(1, sizeof *q);
    if (!q || !(q->path = strdup(path))) {
        free(q);
        lab_err_set(err, LAB_ENOMEM, "cannot open hub '%s': out of memory", path);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        lab_err_set(err, LAB_EDB, "cannot open hub '%s': %s", path,
                    q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        lab_hub_query_destroy(&q);
        return NULL;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, S_BUSY_TIMEOUT_MS);
    return q;
}

void lab_hub_query_set_event_span(lab_hub_query *q, int64_t campaign, int64_t events,
                                  int64_t first_us, int64_t last_us)
{
    q->span_campaign = campaign;
    q->span_events = events;
    q->span_first_us = first_us;
    q->span_last_us = last_us;
}

void lab_hub_query_destroy(lab_hub_query **qp)
{
    if (!qp || !*qp)
        return;
    sqlite3_close((*qp)->db);
    free((*qp)->path);
    free(*qp);
    *qp = NULL;
}

/* ---- a consistent copy ---- */

int lab_hub_query_backup(lab_hub_query *q, const char *dest, int64_t *pages, lab_err *err)
{
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int ret = lab_err_set(err, LAB_EIO, "cannot create '%s': %s", dest,
                              dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        sqlite3_close(dst);
        return ret;
    }
    /* One step over every page: the whole copy is read inside one read
     * transaction, i.e. from one snapshot of the WAL, however much a running
     * campaign commits meanwhile. */
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", q->db, "main");
    if (!b) {
        int ret = lab_err_set(err, LAB_EDB, "copying hub '%s': %s", q->path, sqlite3_errmsg(dst));
        sqlite3_close(dst);
        return ret;
    }
    do
        rc = sqlite3_backup_step(b, -1);
    while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    if (pages)
        *pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = lab_err_set(err, LAB_EDB, "copying hub '%s' to '%s': %s", q->path, dest, sqlite3_errstr(rc));
    else if ((rc = sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL)) != SQLITE_OK)
        ret = lab_err_set(err, LAB_EDB, "finishing the copy '%s': %s", dest, sqlite3_errmsg(dst));
    if (sqlite3_close(dst) != SQLITE_OK && ret == 0)
        ret = lab_err_set(err, LAB_EIO, "closing the copy '%s'", dest);
    return ret;
}

/* ---- the campaign ---- */

int lab_hub_query_campaign_get(lab_hub_query *q, const char *name, lab_hub_query_campaign *c,
                               lab_err *err)
{
    memset(c, 0, sizeof *c);
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT id, name, config_path, config_text, config_sha256, seed, version,"
                        " host, operator, access, export_control, planner, status, created_us,"
                        " updated_us,"
                        " (SELECT min(t_us) FROM events e WHERE e.campaign = c.id),"
                        " (SELECT max(t_us) FROM events e WHERE e.campaign = c.id)"
                        " FROM campaigns c"
                        " WHERE (?1 IS NULL AND id = (SELECT max(id) FROM campaigns)) OR name = ?1",
                        &st, err, "reading the campaign");
    if (ret < 0)
        return ret;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->id = sqlite3_column_int64(st, 0);
        c->name = s_dup(st, 1);
        c->config_path = s_dup(st, 2);
        c->config_text = s_dup(st, 3);
        c->config_sha256 = s_dup(st, 4);
        c->seed = (uint64_t)sqlite3_column_int64(st, 5);
        c->version = s_dup(st, 6);
        c->host = s_dup(st, 7);
        c->operator_name = s_dup(st, 8);
        c->access = s_dup(st, 9);
        c->export_control = sqlite3_column_int(st, 10);
        c->planner = s_dup(st, 11);
        c->status = s_dup(st, 12);
        c->created_us = sqlite3_column_int64(st, 13);
        c->updated_us = sqlite3_column_int64(st, 14);
        c->first_us = sqlite3_column_int64(st, 15);
        c->last_us = sqlite3_column_int64(st, 16);
        if (q->span_campaign && c->id == q->span_campaign) {
            c->first_us = q->span_first_us;
            c->last_us = q->span_last_us;
        }
        if (!c->name || !c->status || !c->access) {
            lab_hub_query_campaign_release(c);
            ret = lab_err_set(err, LAB_ENOMEM, "reading the campaign: out of memory");
        }
    } else if (rc == SQLITE_DONE) {
        ret = name ? lab_err_set(err, LAB_ENOTFOUND, "campaign '%s' is not in hub '%s'", name,
                                 q->path)
                   : lab_err_set(err, LAB_ENOTFOUND, "hub '%s' has no campaign yet", q->path);
    } else {
        ret = s_sql_err(q, err, rc, "reading the campaign");
    }
    sqlite3_finalize(st);
    return ret;
}

void lab_hub_query_campaign_release(lab_hub_query_campaign *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->config_path);
    free(c->config_text);
    free(c->config_sha256);
    free(c->version);
    free(c->host);
    free(c->operator_name);
    free(c->access);
    free(c->planner);
    free(c->status);
    memset(c, 0, sizeof *c);
}

int lab_hub_query_campaign_status(lab_hub_query *q, int64_t id, char *status, size_t n,
                                  lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q, "SELECT status FROM campaigns WHERE id = ?1", &st, err,
                        "reading the campaign's status");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *s = s_text(st, 0);
        snprintf(status, n, "%s", s ? s : "");
    } else if (rc == SQLITE_DONE) {
        ret = lab_err_set(err, LAB_ENOTFOUND, "campaign %lld is not in hub '%s'", (long long)id,
                          q->path);
    } else {
        ret = s_sql_err(q, err, rc, "reading the campaign's status");
    }
    sqlite3_finalize(st);
    return ret;
}

static void s_copy(char *out, size_t n, const char *s)
{
    snprintf(out, n, "%s", s ? s : "");
}

int lab_hub_query_lifecycle_get(lab_hub_query *q, int64_t campaign, lab_hub_query_lifecycle *l,
                                lab_err *err)
{
    memset(l, 0, sizeof *l);
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT count(*), CAST(total(json_extract(detail, '$.experiments')) AS INTEGER),"
                        " total(json_extract(detail, '$.hours')) FROM events"
                        " WHERE campaign = ?1 AND kind = ?2",
                        &st, err, "reading the campaign's extensions");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_text(st, 2, lab_event_name(LAB_EV_CAMPAIGN_EXTENDED), -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        l->extensions = sqlite3_column_int64(st, 0);
        l->extra_experiments = sqlite3_column_int64(st, 1);
        l->extra_hours = sqlite3_column_double(st, 2);
    } else {
        ret = s_sql_err(q, err, rc, "reading the campaign's extensions");
    }
    sqlite3_finalize(st);
    if (ret < 0)
        return ret;
    ret = s_prepare(q,
                    "SELECT t_us, json_extract(detail, '$.reason'), json_extract(detail, '$.by'),"
                    " json_extract(detail, '$.cause'), json_extract(detail, '$.failures'),"
                    " json_extract(detail, '$.status') FROM events"
                    " WHERE campaign = ?1 AND kind = ?2"
                    " ORDER BY t_us DESC, id DESC LIMIT 1",
                    &st, err, "reading the campaign's last pause");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_text(st, 2, lab_event_name(LAB_EV_CAMPAIGN_STATUS), -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && s_text(st, 5) && !strcmp(s_text(st, 5), "paused")) {
        l->paused = 1;
        l->paused_us = sqlite3_column_int64(st, 0);
        s_copy(l->pause_reason, sizeof l->pause_reason, s_text(st, 1));
        s_copy(l->paused_by, sizeof l->paused_by, s_text(st, 2));
        s_copy(l->brake_cause, sizeof l->brake_cause, s_text(st, 3));
        l->brake_failures = sqlite3_column_int64(st, 4);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = s_sql_err(q, err, rc, "reading the campaign's last pause");
    }
    sqlite3_finalize(st);
    return ret;
}

/* One integer from a statement with ?1 = campaign and ?2 = text. */
static int s_scalar(lab_hub_query *q, const char *sql, int64_t campaign, const char *text, int64_t *v,
                    lab_err *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q, sql, &st, err, what);
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else
        ret = s_sql_err(q, err, rc, what);
    sqlite3_finalize(st);
    return ret;
}

int lab_hub_query_device_known(lab_hub_query *q, int64_t campaign, const char *name, int *known,
                               lab_err *err)
{
    int64_t v = 0;
    int ret = s_scalar(q,
                       "SELECT EXISTS(SELECT 1 FROM devices WHERE campaign = ?1 AND name = ?2)"
                       " OR EXISTS(SELECT 1 FROM steps WHERE campaign = ?1 AND device = ?2)"
                       " OR EXISTS(SELECT 1 FROM events WHERE subject = ?2 AND detail IS NOT NULL)",
                       campaign, name, &v, err, "looking the device up");
    *known = v != 0;
    return ret;
}

int lab_hub_query_experiment_known(lab_hub_query *q, int64_t campaign, const char *campaign_name,
                                   int64_t seq, int *known, int64_t *first, int64_t *last, lab_err *err)
{
    char subject[320];
    snprintf(subject, sizeof subject, "%s/%lld", campaign_name ? campaign_name : "", (long long)seq);
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT EXISTS(SELECT 1 FROM experiments WHERE campaign = ?1 AND seq = ?2)"
                        " OR EXISTS(SELECT 1 FROM events WHERE subject = ?3 AND detail IS NOT NULL),"
                        " (SELECT coalesce(min(seq), 0) FROM experiments WHERE campaign = ?1),"
                        " (SELECT coalesce(max(seq), 0) FROM experiments WHERE campaign = ?1)",
                        &st, err, "looking the experiment up");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *known = sqlite3_column_int(st, 0) != 0;
        *first = sqlite3_column_int64(st, 1);
        *last = sqlite3_column_int64(st, 2);
    } else {
        ret = s_sql_err(q, err, rc, "looking the experiment up");
    }
    sqlite3_finalize(st);
    return ret;
}

int lab_hub_query_counts_get(lab_hub_query *q, int64_t campaign, lab_hub_query_counts *n,
                             lab_err *err)
{
    memset(n, 0, sizeof *n);
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(
        q,
        "SELECT count(*), total(status = 'proposed'), total(status = 'queued'),"
        " total(status = 'running'), total(status = 'measured'), total(status = 'failed'),"
        " total(status = 'cancelled'),"
        " (SELECT count(*) FROM steps WHERE campaign = ?1),"
        " (SELECT total(status = 'done') FROM steps WHERE campaign = ?1),"
        " (SELECT total(status IN ('failed', 'timed_out', 'lost')) FROM steps WHERE campaign = ?1),"
        " (SELECT total(attempt > 1) FROM steps WHERE campaign = ?1),"
        " (SELECT count(*) FROM events WHERE campaign = ?1),"
        " (SELECT count(*) FROM devices WHERE campaign = ?1),"
        " total(origin = 'prior'), total(status = 'rejected')"
        " FROM experiments WHERE campaign = ?1",
        &st, err, "counting the campaign's rows");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t *f[] = {&n->experiments, &n->proposed, &n->queued, &n->running, &n->measured,
                        &n->failed, &n->cancelled, &n->steps, &n->steps_done, &n->steps_failed,
                        &n->retries, &n->events, &n->devices, &n->prior, &n->rejected};
        for (int i = 0; i < (int)(sizeof f / sizeof f[0]); i++)
            *f[i] = sqlite3_column_int64(st, i);
        if (q->span_campaign && campaign == q->span_campaign)
            n->events = q->span_events;
    } else {
        ret = s_sql_err(q, err, rc, "counting the campaign's rows");
    }
    sqlite3_finalize(st);
    return ret;
}

/* ---- rows ---- */

typedef struct s_cb {
    void *fn;
    void *arg;
} s_cb;

static int s_experiment_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_experiment x = {
        .seq = sqlite3_column_int64(st, 0),
        .params_json = s_text(st, 1),
        .origin = s_text(st, 2),
        .provenance_json = s_text(st, 3),
        .status = s_text(st, 4),
        .objectives_json = s_text(st, 5),
        .error = s_text(st, 6),
        .proposed_us = sqlite3_column_int64(st, 7),
        .updated_us = sqlite3_column_int64(st, 8),
        .finished_us = sqlite3_column_int64(st, 9),
    };
    return ((lab_hub_query_experiment_fn)cb->fn)(&x, cb->arg);
}

int lab_hub_query_experiments(lab_hub_query *q, int64_t campaign, lab_hub_query_experiment_fn fn,
                              void *arg, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT seq, params, origin, provenance, status, objectives, error,"
                        " proposed_us, updated_us, finished_us FROM experiments"
                        " WHERE campaign = ?1 ORDER BY seq",
                        &st, err, "reading experiments");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_experiment_row, &cb, err, "reading experiments");
}

static int s_step_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_step s = {
        .attempt_id = s_text(st, 0),
        .experiment = sqlite3_column_int64(st, 1),
        .step = s_text(st, 2),
        .attempt = sqlite3_column_int(st, 3),
        .device = s_text(st, 4),
        .status = s_text(st, 5),
        .error = s_text(st, 6),
        .queued_us = sqlite3_column_int64(st, 7),
        .started_us = sqlite3_column_int64(st, 8),
        .finished_us = sqlite3_column_int64(st, 9),
    };
    return ((lab_hub_query_step_fn)cb->fn)(&s, cb->arg);
}

int lab_hub_query_steps(lab_hub_query *q, int64_t campaign, lab_hub_query_step_fn fn, void *arg,
                        lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT attempt_id, experiment, step, attempt, device, status, error,"
                        " queued_us, started_us, finished_us FROM steps"
                        " WHERE campaign = ?1 ORDER BY queued_us, id",
                        &st, err, "reading steps");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_step_row, &cb, err, "reading steps");
}

static int s_device_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_device d = {
        .name = s_text(st, 0),
        .driver = s_text(st, 1),
        .capabilities_json = s_text(st, 2),
        .status = s_text(st, 3),
        .capacity = sqlite3_column_int(st, 4),
        .first_seen_us = sqlite3_column_int64(st, 5),
        .last_seen_us = sqlite3_column_int64(st, 6),
        .steps = sqlite3_column_int64(st, 7),
        .busy_us = sqlite3_column_int64(st, 8),
    };
    return ((lab_hub_query_device_fn)cb->fn)(&d, cb->arg);
}

int lab_hub_query_devices(lab_hub_query *q, int64_t campaign, lab_hub_query_device_fn fn,
                          void *arg, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT d.name, d.driver, d.capabilities, d.status, d.capacity,"
                        " d.first_seen_us, d.last_seen_us, count(s.id),"
                        " CAST(total(s.finished_us - s.started_us) AS INTEGER)"
                        " FROM devices d LEFT JOIN steps s ON s.campaign = d.campaign"
                        "  AND s.device = d.name AND s.started_us IS NOT NULL"
                        "  AND s.finished_us IS NOT NULL AND s.finished_us >= s.started_us"
                        " WHERE d.campaign = ?1 GROUP BY d.id ORDER BY d.name",
                        &st, err, "reading devices");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_device_row, &cb, err, "reading devices");
}

static int s_failure_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_failure f = {
        .scope = s_text(st, 0),
        .cause = s_text(st, 1),
        .where = s_text(st, 2),
        .count = sqlite3_column_int64(st, 3),
        .first_experiment = sqlite3_column_int64(st, 4),
    };
    return ((lab_hub_query_failure_fn)cb->fn)(&f, cb->arg);
}

int lab_hub_query_failures(lab_hub_query *q, int64_t campaign, lab_hub_query_failure_fn fn,
                           void *arg, lab_err *err)
{
    /* An experiment's error ends in " (after N attempts)": the cause is what
     * comes before, so retried and first-time failures group together. */
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(
        q,
        "SELECT 'experiment' AS scope,"
        " coalesce(CASE WHEN instr(error, ' (after ') > 0"
        "  THEN substr(error, 1, instr(error, ' (after ') - 1) ELSE error END,"
        "  '(no reason recorded)') AS cause,"
        " NULL AS place, count(*) AS n, min(seq) AS first"
        " FROM experiments WHERE campaign = ?1 AND status = 'failed' GROUP BY cause"
        " UNION ALL "
        "SELECT 'step', status || ': ' || coalesce(error, '(no error text)'),"
        " group_concat(DISTINCT device), count(*), min(experiment)"
        " FROM steps WHERE campaign = ?1 AND status IN ('failed', 'timed_out', 'lost')"
        " GROUP BY status, error"
        " ORDER BY 1, 4 DESC, 2",
        &st, err, "reading failures");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_failure_row, &cb, err, "reading failures");
}

static int s_artifact_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_artifact a = {
        .sha256 = s_text(st, 0),
        .size = sqlite3_column_int64(st, 1),
        .media_type = s_text(st, 2),
        .name = s_text(st, 3),
        .attempt_id = s_text(st, 4),
        .content = sqlite3_column_blob(st, 5),
        .content_len = (size_t)sqlite3_column_bytes(st, 5),
        .path = s_text(st, 6),
        .experiment = sqlite3_column_int64(st, 7),
    };
    return ((lab_hub_query_artifact_fn)cb->fn)(&a, cb->arg);
}

int lab_hub_query_artifacts(lab_hub_query *q, int64_t campaign, lab_hub_query_artifact_fn fn,
                            void *arg, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q,
                        "SELECT a.sha256, a.size, a.media_type, a.name, a.attempt_id, a.content, a.path,"
                        " s.experiment FROM artifacts a JOIN steps s ON s.attempt_id = a.attempt_id"
                        " WHERE s.campaign = ?1 ORDER BY a.id",
                        &st, err, "reading artifacts");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_artifact_row, &cb, err, "reading artifacts");
}

/* ---- events ---- */

static int s_event_row(sqlite3_stmt *st, void *arg)
{
    s_cb *cb = arg;
    lab_hub_query_event e = {
        .id = sqlite3_column_int64(st, 0),
        .t_us = sqlite3_column_int64(st, 1),
        .kind = s_text(st, 2),
        .subject = s_text(st, 3),
        .detail_json = s_text(st, 4),
        .lab_wide = sqlite3_column_int(st, 5),
    };
    return ((lab_hub_query_event_fn)cb->fn)(&e, cb->arg);
}

int lab_hub_query_events(lab_hub_query *q, const lab_hub_query_event_filter *f,
                         lab_hub_query_event_fn fn, void *arg, lab_err *err)
{
    char lo[256] = "", hi[256] = "";
    if (f->experiment > 0) {
        if (!f->campaign_name)
            return lab_err_set(err, LAB_EINVAL, "reading events of an experiment: no campaign name");
        /* Subjects about experiment N are "<campaign>/N" and attempt ids
         * "<campaign>/N/<step>/<n>": the range ["<c>/N", "<c>/N0") holds
         * them all ('0' follows '/'). */
        snprintf(lo, sizeof lo, "%s/%lld", f->campaign_name, (long long)f->experiment);
        snprintf(hi, sizeof hi, "%s/%lld0", f->campaign_name, (long long)f->experiment);
    }
    /* An experiment's events: those with a stored detail through the
     * subject index, which holds only those; the per-step ones (no detail)
     * through the campaign index, from S_EXP_SLACK_US before the
     * experiment was proposed to as long after it finished (or to the end,
     * while it runs). */
    const char *from = f->experiment > 0
        ? "(SELECT * FROM events WHERE subject >= ?2 AND subject < ?3 AND detail IS NOT NULL"
          " UNION ALL SELECT * FROM events WHERE campaign = ?1 AND detail IS NULL"
          " AND subject >= ?2 AND subject < ?3"
          " AND t_us >= (SELECT proposed_us - " S_EXP_SLACK_US " FROM experiments WHERE campaign = ?1 AND seq = ?4)"
          " AND t_us <= coalesce((SELECT finished_us + " S_EXP_SLACK_US " FROM experiments"
          " WHERE campaign = ?1 AND seq = ?4), 9223372036854775807))"
        : "events";
    /* Fixed clauses, all values bound. "+campaign" keeps the planner off the
     * campaign index when a sharper one (subject, rowid) applies. */
    char sql[S_SQL_MAX];
    int len = snprintf(sql, sizeof sql,
             "SELECT id, t_us, kind, subject, detail, campaign IS NULL FROM"
             " (SELECT e.id, e.campaign, e.t_us, e.kind, e.subject, " LAB_EVENT_DETAIL_SQL
             " AS detail FROM %s e)"
             " WHERE (+campaign = ?1 OR campaign IS NULL)%s%s%s%s ORDER BY %s",
             from,
             f->experiment > 0 ? " AND detail->>'experiment' = ?4" : "",
             f->device ? " AND (subject = ?5 OR detail->>'device' = ?5)" : "",
             f->since_us > 0 ? " AND t_us >= ?6" : "",
             f->after_id > 0 ? " AND id > ?7" : "",
             f->id_order ? "id" : "t_us, id");
    if (len < 0 || (size_t)len >= sizeof sql)
        return lab_err_set(err, LAB_EINVAL, "reading events: the query is longer than %d bytes", S_SQL_MAX);
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q, sql, &st, err, "reading events");
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, f->campaign);
    if (f->experiment > 0) {
        sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, f->experiment);
    }
    if (f->device)
        sqlite3_bind_text(st, 5, f->device, -1, SQLITE_STATIC);
    if (f->since_us > 0)
        sqlite3_bind_int64(st, 6, f->since_us);
    if (f->after_id > 0)
        sqlite3_bind_int64(st, 7, f->after_id);
    s_cb cb = {(void *)fn, arg};
    return s_walk(q, st, s_event_row, &cb, err, "reading events");
}

int lab_hub_query_last_event_id(lab_hub_query *q, int64_t *id, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = s_prepare(q, "SELECT coalesce(max(id), 0) FROM events", &st, err,
                        "reading the last event");
    if (ret < 0)
        return ret;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        ret = s_sql_err(q, err, rc, "reading the last event");
    sqlite3_finalize(st);
    return ret;
}

/* ---- whole tables ---- */

typedef struct s_table {
    const char *name;
    const char *sql;
} s_table;

static const s_table s_tables[] = {
    {"experiments", "SELECT * FROM experiments WHERE campaign = ?1 ORDER BY seq"},
    {"steps", "SELECT * FROM steps WHERE campaign = ?1 ORDER BY id"},
    {"events", "SELECT e.id, e.campaign, e.t_us, e.kind, e.subject, " LAB_EVENT_DETAIL_SQL
               " AS detail FROM events e WHERE e.campaign = ?1 OR e.campaign IS NULL ORDER BY e.id"},
    {"devices", "SELECT * FROM devices WHERE campaign = ?1 ORDER BY id"},
};

/* Columns that hold JSON text (docs/DATA.md). */
static int s_json_column(const char *name)
{
    static const char *const cols[] = {"params", "provenance", "objectives", "capabilities",
                                       "result", "detail"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (strcmp(name, cols[i]) == 0)
            return 1;
    return 0;
}

int lab_hub_query_table(lab_hub_query *q, int64_t campaign, const char *table,
                        lab_hub_query_row_fn fn, void *arg, lab_err *err)
{
    const s_table *t = NULL;
    for (size_t i = 0; i < sizeof s_tables / sizeof s_tables[0]; i++)
        if (table && strcmp(table, s_tables[i].name) == 0)
            t = &s_tables[i];
    if (!t)
        return lab_err_set(err, LAB_EINVAL, "no table '%s' to export; choose experiments, steps, "
                           "events or devices", table ? table : "(none)");
    sqlite3_stmt *st = NULL;
    char what[64];
    snprintf(what, sizeof what, "reading table %s", t->name);
    int ret = s_prepare(q, t->sql, &st, err, what);
    if (ret < 0)
        return ret;
    sqlite3_bind_int64(st, 1, campaign);
    size_t n = (size_t)sqlite3_column_count(st);
    const char **names = calloc(n ? n : 1, sizeof *names);
    lab_hub_query_value *v = calloc(n ? n : 1, sizeof *v);
    if (!names || !v) {
        free(names);
        free(v);
        sqlite3_finalize(st);
        return lab_err_set(err, LAB_ENOMEM, "%s: out of memory", what);
    }
    for (size_t i = 0; i < n; i++)
        names[i] = sqlite3_column_name(st, (int)i);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < n; i++) {
            lab_hub_query_value *x = &v[i];
            memset(x, 0, sizeof *x);
            switch (sqlite3_column_type(st, (int)i)) {
            case SQLITE_INTEGER:
                x->type = LAB_HUB_QUERY_INT;
                x->i = sqlite3_column_int64(st, (int)i);
                break;
            case SQLITE_FLOAT:
                x->type = LAB_HUB_QUERY_REAL;
                x->d = sqlite3_column_double(st, (int)i);
                break;
            case SQLITE_NULL:
                x->type = LAB_HUB_QUERY_NULL;
                break;
            default: /* text; a blob (none in these tables) reads as text */
                x->s = s_text(st, (int)i);
                x->type = s_json_column(names[i]) ? LAB_HUB_QUERY_JSON : LAB_HUB_QUERY_TEXT;
                break;
            }
        }
        if ((ret = fn(n, names, v, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_sql_err(q, err, rc, what);
    free(names);
    free(v);
    sqlite3_finalize(st);
    return ret;
}

/* ---- a lab's hub ---- */

int lab_hub_query_lab_campaigns(lab_hub_query *q, lab_hub_query_lab_campaign_fn fn, void *arg, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *what = "listing the hub's campaigns";
    int ret = s_prepare(q,
                        /* the counts in one pass over each campaign's experiments */
                        "SELECT c.id, c.name, c.status, c.config_path, c.config_text,"
                        " coalesce(n.all_, 0), coalesce(n.measured, 0), coalesce(n.failed, 0),"
                        " coalesce(n.waiting, 0), coalesce(n.rejected, 0),"
                        " (SELECT json_extract(detail, '$.weight') FROM events v WHERE v.campaign = c.id"
                        "   AND v.kind = '" LAB_EVN_CAMPAIGN_SUBMITTED "' ORDER BY v.id DESC LIMIT 1)"
                        " FROM campaigns c LEFT JOIN"
                        " (SELECT campaign, sum(seq > 0) AS all_, sum(seq > 0 AND status = 'measured') AS measured,"
                        "   sum(status = 'failed') AS failed, sum(status = 'proposed') AS waiting,"
                        "   sum(status = 'rejected') AS rejected FROM experiments GROUP BY campaign) n"
                        " ON n.campaign = c.id ORDER BY c.id",
                        &st, err, what);
    if (ret < 0)
        return ret;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_query_lab_campaign c = {
            .id = sqlite3_column_int64(st, 0),
            .name = s_text(st, 1),
            .status = s_text(st, 2),
            .config_path = s_text(st, 3),
            .config_text = s_text(st, 4),
            .experiments = sqlite3_column_int64(st, 5),
            .measured = sqlite3_column_int64(st, 6),
            .failed = sqlite3_column_int64(st, 7),
            .waiting = sqlite3_column_int64(st, 8),
            .rejected = sqlite3_column_int64(st, 9),
            .weight = sqlite3_column_type(st, 10) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 10),
        };
        if ((ret = fn(&c, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_sql_err(q, err, rc, what);
    sqlite3_finalize(st);
    return ret;
}

int lab_hub_query_lab_devices(lab_hub_query *q, lab_hub_query_lab_device_fn fn, void *arg, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    const char *what = "listing the hub's devices";
    /* A device's latest row (each campaign records the lab's devices), and
     * the attempts on it the hub has as dispatched or running. */
    int ret = s_prepare(q,
                        "WITH d AS (SELECT name, status FROM devices x WHERE last_seen_us ="
                        "   (SELECT max(last_seen_us) FROM devices y WHERE y.name = x.name) GROUP BY name),"
                        " busy AS (SELECT s.device, c.name AS campaign, s.step, s.attempt_id FROM steps s"
                        "   JOIN campaigns c ON c.id = s.campaign WHERE s.status IN ('dispatched', 'running'))"
                        " SELECT d.name, d.status, b.campaign, b.step, b.attempt_id FROM d"
                        " LEFT JOIN busy b ON b.device = d.name ORDER BY d.name, b.attempt_id",
                        &st, err, what);
    if (ret < 0)
        return ret;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lab_hub_query_lab_device d = {s_text(st, 0), s_text(st, 1), s_text(st, 2), s_text(st, 3), s_text(st, 4)};
        if ((ret = fn(&d, arg)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = s_sql_err(q, err, rc, what);
    sqlite3_finalize(st);
    return ret;
}
