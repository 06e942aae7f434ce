/* Unit tests of the data hub (orchestrator/hub/hub.c) and of `labloop log`
 * (orchestrator/review/cmd_log.c), on real SQLite files in a fresh temp directory.
 * Raw SQL here only inspects the documented schema (docs/DATA.md).
 * The grouped-insert figure printed at the end is a measurement, not a check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "common/clock.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/events.h"
#include "orchestrator/hub/hub.h"
#include "orchestrator/hub/hub_query.h"

#include "common/banned.h"

#define T0 1714553462113000LL /* 2024-05-01T08:51:02.113Z */

typedef struct fx {
    char dir[64];
    char path[128];
} fx;

static int s_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/labloop-hub-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/hub.db", f->dir);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx *f = *state;
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    char p[160];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/other.db", f->dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/notes.txt", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static lab_hub_campaign s_campaign(const char *name)
{
    lab_hub_campaign c = {
        .name = name, .config_path = "demo.yaml", .config_text = "name: demo\n",
        .config_sha256 = "ab12", .seed = 18446744073709551615ULL, .version = "0.1.0",
        .host = "bench1", .operator_name = "ada", .access = "shared", .export_control = 1,
        .planner = "gp", .created_us = T0,
    };
    return c;
}

static lab_hub *s_open(const char *path)
{
    lab_err err;
    lab_hub *h = lab_hub_open(path, &err);
    if (!h)
        fail_msg("lab_hub_open: %s", err.msg);
    return h;
}

/* First column of the first row of sql on a separate connection, as text. */
static char *s_query(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void s_expect(const char *path, const char *sql, const char *want)
{
    char *got = s_query(path, sql);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s\n  got:  %s\n  want: %s", sql, got ? got : "(null)", want);
    free(got);
}

static int s_sql_fails(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc != SQLITE_OK;
}

/* A small campaign: one device, two experiments, steps and events. */
static int64_t s_fill(lab_hub *h)
{
    int64_t c = 0;
    lab_hub_campaign cc = s_campaign("demo");
    assert_int_equal(lab_hub_record_campaign(h, &cc, &c), 0);
    assert_true(c > 0);
    assert_int_equal(lab_hub_record_device(h, c, "ot2", "sim.dispenser", "[\"liquid_handler\"]",
                                           1, "ready", T0 + 1000), 0);
    assert_int_equal(lab_hub_record_experiment(h, c, 1, "{\"cs_pb_ratio\":0.73}", "initial",
                                               "{\"planner\":\"sobol\"}", "proposed", T0 + 2000), 0);
    assert_int_equal(lab_hub_record_experiment(h, c, 2, "{\"cs_pb_ratio\":0.5}", "planner",
                                               NULL, NULL, T0 + 3000), 0);
    lab_hub_step s = { .attempt_id = "demo/1/dispense/1", .campaign = c, .experiment = 1,
                       .step = "dispense", .attempt = 1, .status = "queued",
                       .params_json = "{\"volume_ul\":120}", .queued_us = T0 + 4000 };
    assert_int_equal(lab_hub_record_step(h, &s), 0);
    return c;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    int64_t c = s_fill(h);
    char status[32];
    int64_t id = 0, n = -1;

    assert_int_equal(lab_hub_find_campaign(h, "demo", &id, status, sizeof status), 0);
    assert_int_equal(id, c);
    assert_string_equal(status, "created");
    assert_int_equal(lab_hub_find_campaign(h, "nope", &id, status, sizeof status), LAB_ENOTFOUND);
    assert_non_null(strstr(lab_hub_errmsg(h), "nope"));
    assert_int_equal(lab_hub_set_campaign_status(h, c, "running", T0 + 10), 0);
    assert_int_equal(lab_hub_find_campaign(h, "demo", &id, status, sizeof status), 0);
    assert_string_equal(status, "running");
    assert_int_equal(lab_hub_set_campaign_status(h, c + 99, "running", T0), LAB_ENOTFOUND);

    /* device upsert: first seen kept, last seen and status updated */
    assert_int_equal(lab_hub_record_device(h, c, "ot2", NULL, NULL, 2, "busy", T0 + 5000), 0);
    assert_int_equal(lab_hub_set_device_status(h, c, "ot2", "lost", T0 + 6000), 0);
    assert_int_equal(lab_hub_set_device_status(h, c, "ghost", "lost", T0), LAB_ENOTFOUND);

    assert_int_equal(lab_hub_set_experiment_status(h, c, 1, "measured", "{\"plqy\":0.614}",
                                                   NULL, T0 + 7000), 0);
    assert_int_equal(lab_hub_set_experiment_status(h, c, 2, "failed", NULL, "furnace jammed",
                                                   T0 + 8000), 0);
    assert_int_equal(lab_hub_set_experiment_status(h, c, 3, "failed", NULL, NULL, T0),
                     LAB_ENOTFOUND);
    assert_int_equal(lab_hub_count_experiments(h, c, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lab_hub_count_experiments(h, c, "measured", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(lab_hub_count_experiments(h, c, "running", &n), 0);
    assert_int_equal(n, 0);

    /* step: NULL / 0 keep what is there */
    assert_int_equal(lab_hub_set_step_status(h, "demo/1/dispense/1", "dispatched", "ot2",
                                             T0 + 4100, 0, NULL, NULL), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/1/dispense/1", "done", NULL, 0, T0 + 4400,
                                             "{\"volume_ul\":120}", NULL), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/9/x/1", "done", NULL, 0, 0, NULL, NULL),
                     LAB_ENOTFOUND);
    /* step of an experiment that is not there */
    lab_hub_step bad = { .attempt_id = "demo/7/x/1", .campaign = c, .experiment = 7, .step = "x",
                         .attempt = 1, .queued_us = T0 };
    assert_int_equal(lab_hub_record_step(h, &bad), LAB_ENOTFOUND);
    /* invalid JSON is refused */
    assert_int_equal(lab_hub_record_event(h, c, T0, "x", NULL, "{not json"), LAB_EINVAL);

    assert_int_equal(lab_hub_record_event(h, c, T0 + 1, "campaign.created", "demo",
                                          "{\"name\":\"demo\"}"), 0);
    assert_int_equal(lab_hub_record_event(h, 0, T0 + 2, "message.bad", NULL, NULL), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);

    const char *p = f->path;
    s_expect(p, "SELECT name||'|'||config_path||'|'||config_text||'|'||config_sha256||'|'||seed"
                "||'|'||version||'|'||host||'|'||operator||'|'||access||'|'||export_control"
                "||'|'||planner||'|'||status||'|'||created_us||'|'||updated_us FROM campaigns",
             "demo|demo.yaml|name: demo\n|ab12|-1|0.1.0|bench1|ada|shared|1|gp|running|"
             "1714553462113000|1714553462113010");
    s_expect(p, "SELECT driver||'|'||capabilities||'|'||capacity||'|'||status||'|'||"
                "first_seen_us||'|'||last_seen_us FROM devices",
             "sim.dispenser|[\"liquid_handler\"]|2|lost|1714553462114000|1714553462119000");
    s_expect(p, "SELECT params||'|'||origin||'|'||provenance||'|'||status||'|'||objectives||'|'||"
                "ifnull(error,'-')||'|'||proposed_us||'|'||finished_us FROM experiments WHERE seq=1",
             "{\"cs_pb_ratio\":0.73}|initial|{\"planner\":\"sobol\"}|measured|{\"plqy\":0.614}|-|"
             "1714553462115000|1714553462120000");
    s_expect(p, "SELECT status||'|'||error||'|'||ifnull(objectives,'-') FROM experiments "
                "WHERE seq=2", "failed|furnace jammed|-");
    s_expect(p, "SELECT experiment||'|'||step||'|'||attempt||'|'||device||'|'||status||'|'||"
                "params||'|'||result||'|'||queued_us||'|'||started_us||'|'||finished_us||'|'||"
                "ifnull(error,'-') FROM steps",
             "1|dispense|1|ot2|done|{\"volume_ul\":120}|{\"volume_ul\":120}|1714553462117000|"
             "1714553462117100|1714553462117400|-");
    s_expect(p, "SELECT count(*)||'|'||count(campaign) FROM events", "2|1");
    for (const char *t = "artifacts\0samples\0sample_locations\0audit\0"; *t; t += strlen(t) + 1) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
        s_expect(p, sql, "0");
    }
    /* append-only, enforced by the database */
    assert_true(s_sql_fails(p, "UPDATE events SET kind='x'"));
    assert_true(s_sql_fails(p, "DELETE FROM events"));
    assert_true(s_sql_fails(p, "INSERT INTO audit(t_us,actor,action) VALUES(1,'a','b');"
                               "DELETE FROM audit"));
    s_expect(p, "PRAGMA journal_mode", "wal");
    lab_hub_destroy(&h);
    assert_null(h);
    lab_hub_destroy(&h); /* idempotent */
}

/* What a resume reads back from the events: the extensions summed (the
 * latest deadline wins), and the last status's pause with its reason. */
static void test_lifecycle(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    int64_t c = s_fill(h);
    lab_hub_lifecycle lc;
    assert_int_equal(lab_hub_campaign_lifecycle(h, c, &lc), 0);
    assert_int_equal(lc.extensions, 0);
    assert_int_equal(lc.paused, 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 10, "campaign.status", "demo",
                                          "{\"status\":\"paused\",\"reason\":\"failure brake: 5 ...\","
                                          "\"by\":\"labloop\",\"cause\":\"step 'm': no value\",\"failures\":5}"), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 20, "campaign.extended", "demo",
                                          "{\"experiments\":10,\"hours\":0,\"budget\":30}"), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 30, "campaign.extended", "demo",
                                          "{\"experiments\":5,\"hours\":2,\"deadline_us\":9000000}"), 0);
    assert_int_equal(lab_hub_campaign_lifecycle(h, c, &lc), 0);
    assert_int_equal(lc.extensions, 2);
    assert_int_equal(lc.extra_experiments, 15);
    assert_int_equal(lc.deadline_us, 9000000);
    assert_int_equal(lc.paused, 1);
    assert_string_equal(lc.paused_by, "labloop");
    assert_string_equal(lc.brake_cause, "step 'm': no value");
    assert_int_equal(lc.brake_failures, 5);
    /* resumed: the last status is no longer a pause */
    assert_int_equal(lab_hub_record_event(h, c, T0 + 40, "campaign.status", "demo", "{\"status\":\"running\"}"), 0);
    assert_int_equal(lab_hub_campaign_lifecycle(h, c, &lc), 0);
    assert_int_equal(lc.paused, 0);
    assert_string_equal(lc.pause_reason, "");
    lab_err err;
    assert_int_equal(lab_hub_commit(h, &err), 0);
    lab_hub_destroy(&h);
}

static void test_group_commit(void **state)
{
    fx *f = *state;
    lab_hub *w = s_open(f->path);
    lab_err err;
    lab_hub *r = lab_hub_open_readonly(f->path, &err);
    assert_non_null(r);
    assert_int_equal(lab_hub_dirty(w), 0);
    assert_int_equal(lab_hub_commit(w, NULL), 0); /* nothing to commit */

    int64_t c = s_fill(w);
    assert_int_equal(lab_hub_dirty(w), 1);
    int64_t n = -1;
    assert_int_equal(lab_hub_count_experiments(w, c, NULL, &n), 0);
    assert_int_equal(n, 2); /* the writer sees its own transaction */
    assert_int_equal(lab_hub_count_experiments(r, c, NULL, &n), 0);
    assert_int_equal(n, 0); /* the reader does not, yet */
    assert_int_equal(lab_hub_find_campaign(r, "demo", NULL, NULL, 0), LAB_ENOTFOUND);

    assert_int_equal(lab_hub_commit(w, &err), 0);
    assert_int_equal(lab_hub_dirty(w), 0);
    assert_int_equal(lab_hub_count_experiments(r, c, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lab_hub_find_campaign(r, "demo", NULL, NULL, 0), 0);

    /* a second group: again invisible until commit */
    assert_int_equal(lab_hub_record_experiment(w, c, 3, "{}", "manual", NULL, NULL, T0), 0);
    assert_int_equal(lab_hub_count_experiments(r, c, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lab_hub_commit(w, NULL), 0);
    assert_int_equal(lab_hub_count_experiments(r, c, NULL, &n), 0);
    assert_int_equal(n, 3);

    /* the read-only handle refuses writes */
    assert_int_equal(lab_hub_record_event(r, c, T0, "x", NULL, NULL), LAB_ESTATE);
    assert_non_null(strstr(lab_hub_errmsg(r), "read-only"));
    lab_hub_destroy(&r);
    lab_hub_destroy(&w);
}

static void *s_run_batch(void *arg)
{
    lab_hub_commit_run(arg);
    return NULL;
}

/* One commit of queued writes with the batch run on another thread, as the
 * orchestrator does on libuv's pool. */
static int s_commit_on_thread(lab_hub *h, lab_err *err)
{
    int ret = lab_hub_commit_begin(h, err);
    if (ret <= 0)
        return ret;
    pthread_t t;
    if (pthread_create(&t, NULL, s_run_batch, h) != 0)
        return -1;
    pthread_join(t, NULL);
    return lab_hub_commit_end(h, err);
}

/* Queued writes: nothing reaches the file before the commit; a batch runs
 * on another thread while the owner queues the next; a read waits for it. */
static void test_queued_writes(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_err err = {0};
    int64_t c = s_fill(h);
    assert_true(lab_hub_queue_writes(h, &err) < 0);           /* inside a transaction */
    assert_non_null(strstr(err.msg, "between transactions"));
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    assert_int_equal(lab_hub_queue_writes(h, &err), 0);
    assert_int_equal(lab_hub_dirty(h), 0);
    assert_int_equal(lab_hub_commit_begin(h, &err), 0);       /* nothing to commit */

    lab_hub_campaign other = s_campaign("other");
    assert_int_equal(lab_hub_record_campaign(h, &other, NULL), LAB_ESTATE);
    assert_non_null(strstr(lab_hub_errmsg(h), "queued"));

    assert_int_equal(lab_hub_set_campaign_status(h, c, "running", T0 + 10), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 11, "campaign.status", "demo", "{\"status\":\"running\"}"), 0);
    assert_int_equal(lab_hub_dirty(h), 1);
    s_expect(f->path, "SELECT status FROM campaigns", "created");  /* queued, not written */

    assert_int_equal(lab_hub_commit_begin(h, &err), 1);
    assert_int_equal(lab_hub_commit_begin(h, &err), LAB_ESTATE);  /* one batch out at a time */
    assert_int_equal(lab_hub_dirty(h), 0);
    /* while it is out: writes join the next batch, reads are refused */
    assert_int_equal(lab_hub_record_experiment(h, c, 3, "{\"cs_pb_ratio\":0.1}", "planner", NULL, NULL, T0 + 20), 0);
    assert_true(lab_hub_find_campaign(h, "demo", NULL, NULL, 0) < 0);
    assert_non_null(strstr(lab_hub_errmsg(h), "busy with a commit"));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_run_batch, h), 0);
    pthread_join(t, NULL);
    assert_int_equal(lab_hub_commit_end(h, &err), 0);
    s_expect(f->path, "SELECT status FROM campaigns", "running");
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind = 'campaign.status'", "1");
    s_expect(f->path, "SELECT count(*) FROM experiments", "2");
    assert_int_equal(lab_hub_dirty(h), 1);
    assert_int_equal(s_commit_on_thread(h, &err), 0);
    s_expect(f->path, "SELECT count(*) FROM experiments", "3");
    char status[32];
    assert_int_equal(lab_hub_find_campaign(h, "demo", NULL, status, sizeof status), 0);
    assert_string_equal(status, "running");

    /* artifacts keep their bytes through the batch */
    const unsigned char blob[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
    assert_int_equal(lab_hub_record_artifact(h, "demo/1/dispense/1", "raw.bin", "application/octet-stream",
                                             "cafe", 5, blob, sizeof blob, T0 + 30), 0);
    assert_int_equal(lab_hub_commit(h, &err), 0);
    s_expect(f->path, "SELECT hex(content) FROM artifacts WHERE name = 'raw.bin'", "00FF10007F");
    lab_hub_destroy(&h);
}

/* A write that fails when its batch runs fails the commit, and none of the
 * batch's writes are kept; the next batch is unaffected. */
static void test_queued_failure_rolls_back(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_err err = {0};
    int64_t c = s_fill(h);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    assert_int_equal(lab_hub_queue_writes(h, &err), 0);

    assert_int_equal(lab_hub_record_event(h, c, T0 + 40, "note", NULL, NULL), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/9/none/1", "done", NULL, 0, T0 + 41, NULL, NULL), 0);
    assert_int_equal(lab_hub_commit_begin(h, &err), 1);
    /* queued while the failing batch is out: dropped with it */
    assert_int_equal(lab_hub_record_event(h, c, T0 + 40, "meanwhile", NULL, NULL), 0);
    lab_hub_commit_run(h);
    assert_int_equal(lab_hub_commit_end(h, &err), LAB_ENOTFOUND);
    assert_non_null(strstr(err.msg, "demo/9/none/1"));
    assert_non_null(strstr(err.msg, "none of the writes"));
    assert_int_equal(lab_hub_dirty(h), 0);
    assert_int_equal(lab_hub_commit(h, &err), 0);
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind IN ('note', 'meanwhile')", "0");

    /* a batch that was never run is not reported as committed */
    assert_int_equal(lab_hub_record_event(h, c, T0 + 40, "never", NULL, NULL), 0);
    assert_int_equal(lab_hub_commit_begin(h, &err), 1);
    assert_int_equal(lab_hub_commit_end(h, &err), LAB_ESTATE);
    assert_non_null(strstr(err.msg, "did not run"));
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind = 'never'", "0");

    assert_int_equal(lab_hub_record_experiment(h, c, 2, "{}", "planner", NULL, NULL, T0 + 42), 0); /* seq 2 exists */
    assert_int_equal(lab_hub_commit(h, &err), LAB_ESTATE);
    assert_non_null(strstr(err.msg, "recording experiment 2"));
    assert_int_equal(lab_hub_record_event(h, c, T0 + 43, "campaign.json", NULL, "{not json"), 0);
    assert_int_equal(lab_hub_commit(h, &err), LAB_EINVAL);

    assert_int_equal(lab_hub_record_event(h, c, T0 + 44, "note", NULL, NULL), 0);
    assert_int_equal(lab_hub_commit(h, &err), 0);
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind = 'note'", "1");
    s_expect(f->path, "PRAGMA integrity_check", "ok");
    lab_hub_destroy(&h);
}

/* A batch's events go in several rows per statement after its other
 * writes: every one is kept, in the order it was queued, whatever the
 * count (37: chunks of 16, 16, 4 and 1), and the other writes around them
 * are kept too. A bad event fails the commit with that event named, and
 * none of the batch is kept. */
static void test_queued_events_in_order(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_err err = {0};
    int64_t c = s_fill(h);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    assert_int_equal(lab_hub_queue_writes(h, &err), 0);
    char kind[32], subject[32], detail[64];
    for (int i = 1; i <= 37; i++) {
        snprintf(kind, sizeof kind, "note.%02d", i);
        snprintf(subject, sizeof subject, "demo/%d", i);
        snprintf(detail, sizeof detail, "{\"n\":%d}", i);
        assert_int_equal(lab_hub_record_event(h, i % 5 ? c : 0, T0 + 100 - i, kind, subject,
                                              i % 3 ? detail : NULL), 0);
        if (i % 10 == 0)          /* other writes between them */
            assert_int_equal(lab_hub_record_experiment(h, c, 2 + i / 10, "{}", "planner", NULL, NULL, T0), 0);
    }
    assert_int_equal(s_commit_on_thread(h, &err), 0);
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind LIKE 'note.%'", "37");
    s_expect(f->path, "SELECT count(*) FROM experiments", "5");
    /* in queued order, each row with its own values */
    s_expect(f->path, "SELECT group_concat(ok, '') FROM (SELECT (kind = printf('note.%02d', rank)"
                      " AND subject = 'demo/' || rank AND t_us = 1714553462113100 - rank"
                      " AND coalesce(campaign, 0) = CASE rank % 5 WHEN 0 THEN 0 ELSE 1 END"
                      " AND coalesce(json_extract(detail, '$.n'), 0) = CASE rank % 3 WHEN 0 THEN 0 ELSE rank END) AS ok"
                      " FROM (SELECT *, row_number() OVER (ORDER BY id) AS rank FROM events WHERE kind LIKE 'note.%')"
                      " ORDER BY rank)",
             "1111111111111111111111111111111111111");

    /* the 13th of 20 is not JSON: named, and nothing of the batch kept */
    for (int i = 1; i <= 20; i++) {
        snprintf(kind, sizeof kind, "bad.%02d", i);
        assert_int_equal(lab_hub_record_event(h, c, T0 + 200, kind, "demo", i == 13 ? "{not json" : NULL), 0);
    }
    assert_int_equal(lab_hub_record_experiment(h, c, 9, "{}", "planner", NULL, NULL, T0), 0);
    assert_int_equal(s_commit_on_thread(h, &err), LAB_EINVAL);
    assert_non_null(strstr(err.msg, "recording event 'bad.13'"));
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind LIKE 'bad.%'", "0");
    s_expect(f->path, "SELECT count(*) FROM experiments WHERE seq = 9", "0");
    assert_int_equal(lab_hub_record_event(h, c, T0 + 300, "after", NULL, NULL), 0);
    assert_int_equal(s_commit_on_thread(h, &err), 0);
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind = 'after'", "1");

    /* a failure that ends the transaction itself (here a trigger's
     * ROLLBACK; an I/O error does the same): none of the batch's events
     * is kept either, not even one at a time */
    assert_int_equal(s_sql_fails(f->path, "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.kind = 'boom'"
                                          " BEGIN SELECT RAISE(ROLLBACK, 'injected'); END"), 0);
    for (int i = 1; i <= 20; i++)
        assert_int_equal(lab_hub_record_event(h, c, T0 + 400, i == 7 ? "boom" : "gone", "demo", NULL), 0);
    assert_int_equal(lab_hub_record_experiment(h, c, 10, "{}", "planner", NULL, NULL, T0), 0);
    assert_true(s_commit_on_thread(h, &err) < 0);
    assert_non_null(strstr(err.msg, "injected"));
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind IN ('gone', 'boom')", "0");
    s_expect(f->path, "SELECT count(*) FROM experiments WHERE seq = 10", "0");
    lab_hub_destroy(&h);
}

/* Durability: a child commits queued batches on a thread and dies without
 * closing; every commit that returned is in the hub. */
static void test_queued_durable(void **state)
{
    fx *f = *state;
    lab_hub *w = s_open(f->path);
    int64_t c = s_fill(w);
    assert_int_equal(lab_hub_commit(w, NULL), 0);
    lab_hub_destroy(&w);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lab_hub *h = lab_hub_open(f->path, NULL);
        int ok = h != NULL && lab_hub_queue_writes(h, NULL) == 0;
        for (int i = 3; ok && i < 53; i++) {
            ok = lab_hub_record_experiment(h, c, i, "{}", "manual", NULL, NULL, T0 + i) == 0 &&
                 lab_hub_record_event(h, c, T0 + i, "experiment.proposed", NULL, NULL) == 0 &&
                 s_commit_on_thread(h, NULL) == 0;
        }
        _exit(ok ? 0 : 1);                                   /* no close, no checkpoint */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s_expect(f->path, "SELECT count(*) FROM experiments", "52");
    s_expect(f->path, "SELECT count(*) FROM events WHERE kind = 'experiment.proposed'", "50");
    s_expect(f->path, "PRAGMA integrity_check", "ok");
}

static void test_destroy_without_commit(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_hub_campaign c1 = s_campaign("kept");
    assert_int_equal(lab_hub_record_campaign(h, &c1, NULL), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    lab_hub_campaign c2 = s_campaign("lost");
    assert_int_equal(lab_hub_record_campaign(h, &c2, NULL), 0);
    lab_hub_destroy(&h);

    h = s_open(f->path);
    assert_int_equal(lab_hub_find_campaign(h, "kept", NULL, NULL, 0), 0);
    assert_int_equal(lab_hub_find_campaign(h, "lost", NULL, NULL, 0), LAB_ENOTFOUND);
    lab_hub_destroy(&h);
}

static void test_duplicate_campaign(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_hub_campaign c = s_campaign("demo");
    int64_t id = 0, id2 = 0;
    assert_int_equal(lab_hub_record_campaign(h, &c, &id), 0);
    assert_int_equal(lab_hub_record_campaign(h, &c, &id2), LAB_ESTATE);
    assert_non_null(strstr(lab_hub_errmsg(h), "campaign 'demo' is already in hub"));
    assert_int_equal(id2, 0);
    /* the failed statement does not spoil the group */
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    assert_int_equal(lab_hub_record_campaign(h, &c, NULL), LAB_ESTATE);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    lab_hub_destroy(&h);
    s_expect(f->path, "SELECT count(*) FROM campaigns", "1");
}

static void test_reopen_keeps_data(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    int64_t c = s_fill(h);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    lab_hub_destroy(&h);
    s_expect(f->path, "PRAGMA user_version", "3");

    h = s_open(f->path);
    int64_t id = 0, n = 0;
    assert_int_equal(lab_hub_find_campaign(h, "demo", &id, NULL, 0), 0);
    assert_int_equal(id, c);
    assert_int_equal(lab_hub_count_experiments(h, c, NULL, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lab_hub_record_experiment(h, c, 3, "{}", NULL, NULL, NULL, T0), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    lab_hub_destroy(&h);
    s_expect(f->path, "PRAGMA user_version", "3");
    s_expect(f->path, "SELECT count(*) FROM experiments", "3");
}

static int s_count_step(const lab_hub_step_row *r, void *arg)
{
    int *n = arg;
    n[0]++;
    n[1] += r->counted;
    return 0;
}

/* A version 1 hub (no steps.counted) is migrated when opened for writing:
 * its rows stay and count; a read-only open reads it as it is. An attempt
 * marked uncounted reads back so. */
static void test_migrate_v1(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    s_fill(h);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    lab_hub_destroy(&h);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP VIEW event_log; ALTER TABLE steps DROP COLUMN counted;"
                                  " PRAGMA user_version = 1",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_true(s_sql_fails(f->path, "SELECT counted FROM steps"));

    lab_err err = {0};
    lab_hub *r = lab_hub_open_readonly(f->path, &err);   /* still readable as it is */
    if (!r)
        fail_msg("read-only open of a version 1 hub: %s", err.msg);
    assert_int_equal(lab_hub_find_campaign(r, "demo", NULL, NULL, 0), 0);
    lab_hub_destroy(&r);
    s_expect(f->path, "PRAGMA user_version", "1");            /* and not migrated by reading */
    h = s_open(f->path);
    int64_t c = 0;
    assert_int_equal(lab_hub_find_campaign(h, "demo", &c, NULL, 0), 0);
    s_expect(f->path, "PRAGMA user_version", "3");
    s_expect(f->path, "SELECT count(*) || '/' || sum(counted) FROM steps", "1/1");
    int n[2] = {0, 0};
    assert_int_equal(lab_hub_each_step(h, c, s_count_step, n), 0);
    assert_int_equal(n[0], 1);
    assert_int_equal(n[1], 1);

    assert_int_equal(lab_hub_set_step_counted(h, "demo/1/dispense/1", 0), 0);
    assert_int_equal(lab_hub_set_step_counted(h, "demo/1/nope/1", 0), LAB_ENOTFOUND);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    n[0] = n[1] = 0;
    assert_int_equal(lab_hub_each_step(h, c, s_count_step, n), 0);
    assert_int_equal(n[0], 1);
    assert_int_equal(n[1], 0);
    assert_int_equal(lab_hub_set_step_counted(h, "demo/1/dispense/1", 1), 0);   /* and back */
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    s_expect(f->path, "SELECT sum(counted) FROM steps", "1");
    lab_hub_destroy(&h);
}

/* An attempt recorded and updated within one queued batch is written once
 * with its last state; updates of attempts from earlier batches, and of
 * other attempts, still apply; the commit leaves what running each write
 * in turn would. */
static void test_queued_step_folding(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_err err = {0};
    int64_t c = 0;
    lab_hub_campaign camp = s_campaign("demo");
    assert_int_equal(lab_hub_record_campaign(h, &camp, &c), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    assert_int_equal(lab_hub_queue_writes(h, &err), 0);
    for (int seq = 1; seq <= 3; seq++)
        assert_int_equal(lab_hub_record_experiment(h, c, seq, "{\"x\":1}", NULL, NULL, "running", T0), 0);
    lab_hub_step s1 = {.attempt_id = "demo/1/a/1", .campaign = c, .experiment = 1, .step = "a",
                       .attempt = 1, .device = "d1", .status = "dispatched", .params_json = "{\"x\":1}",
                       .queued_us = T0};
    assert_int_equal(lab_hub_record_step(h, &s1), 0);
    assert_int_equal(lab_hub_commit(h, &err), 0);
    /* next batch: 2 is recorded, started, an artifact of it, done; 3 is
     * recorded and fails; 1 (from the last batch) is done */
    lab_hub_step s2 = s1, s3 = s1;
    s2.attempt_id = "demo/2/a/1";
    s2.experiment = 2;
    s3.attempt_id = "demo/3/a/1";
    s3.experiment = 3;
    s3.device = NULL;
    assert_int_equal(lab_hub_record_step(h, &s2), 0);
    assert_int_equal(lab_hub_record_step(h, &s3), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/2/a/1", "running", "d2", T0 + 10, 0, NULL, NULL), 0);
    assert_int_equal(lab_hub_record_artifact(h, "demo/2/a/1", "s.csv", "text/csv", "ab", 2, "hi", 2, T0), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/2/a/1", "done", NULL, 0, T0 + 20, "{\"v\":2}", NULL), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/3/a/1", "failed", "d3", 0, T0 + 30, NULL, "broke"), 0);
    assert_int_equal(lab_hub_set_step_counted(h, "demo/3/a/1", 0), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/1/a/1", "done", NULL, T0 + 5, T0 + 6, "{\"v\":1}", NULL), 0);
    assert_int_equal(lab_hub_commit(h, &err), 0);
    lab_hub_destroy(&h);
    s_expect(f->path, "SELECT group_concat(attempt_id || ' ' || status || ' ' || coalesce(device, '-') || ' '"
                      " || coalesce(started_us- 1714553462113000, '-') || ' '"
                      " || coalesce(finished_us- 1714553462113000, '-') || ' ' || coalesce(result, '-')"
                      " || ' ' || coalesce(error, '-') || ' ' || counted, '; ') FROM steps",
             "demo/1/a/1 done d1 5 6 {\"v\":1} - 1; demo/2/a/1 done d2 10 20 {\"v\":2} - 1; "
             "demo/3/a/1 failed d3 - 30 - broke 0");
    s_expect(f->path, "SELECT count(*) FROM artifacts WHERE attempt_id = 'demo/2/a/1'", "1");
}

static void test_newer_schema_refused(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    lab_err err;
    assert_null(lab_hub_open(f->path, &err));
    assert_int_equal(err.code, LAB_EVERSION);
    assert_non_null(strstr(err.msg, "schema version 99 is newer"));
    assert_non_null(strstr(err.msg, f->path));
    assert_null(lab_hub_open_readonly(f->path, &err));
    assert_int_equal(err.code, LAB_EVERSION);
    s_expect(f->path, "PRAGMA user_version", "99"); /* untouched */
}

static void test_not_a_hub(void **state)
{
    fx *f = *state;
    char p[160];
    lab_err err;

    snprintf(p, sizeof p, "%s/notes.txt", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++)
        fputs("this is a text file, not a database\n", fp);
    fclose(fp);
    assert_null(lab_hub_open(p, &err));
    assert_non_null(strstr(err.msg, "not an SQLite database"));
    assert_null(lab_hub_open_readonly(p, &err));
    assert_non_null(strstr(err.msg, "not an SQLite database"));

    snprintf(p, sizeof p, "%s/other.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(lab_hub_open(p, &err));
    assert_non_null(strstr(err.msg, "not a labloop hub"));
    assert_null(lab_hub_open_readonly(p, &err));
    assert_non_null(strstr(err.msg, "not a labloop hub"));

    snprintf(p, sizeof p, "%s/missing.db", f->dir);
    assert_null(lab_hub_open_readonly(p, &err));
    assert_non_null(strstr(err.msg, "cannot open hub"));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(access(p, F_OK), -1); /* read-only open creates nothing */
}

typedef struct s_seen {
    int n, stop_at;
    int64_t t[16];
    char kind[16][32];
    char detail[16][256];
} s_seen;

static int s_collect(const lab_hub_entry *e, void *arg)
{
    s_seen *s = arg;
    s->t[s->n] = e->t_us;
    snprintf(s->kind[s->n], sizeof s->kind[0], "%s", e->kind);
    snprintf(s->detail[s->n], sizeof s->detail[0], "%s", e->detail_json ? e->detail_json : "");
    s->n++;
    return s->n == s->stop_at ? 7 : 0;
}

static int s_collect_query(const lab_hub_query_event *e, void *arg)
{
    lab_hub_entry x = {.t_us = e->t_us, .kind = e->kind, .subject = e->subject, .detail_json = e->detail_json};
    return s_collect(&x, arg);
}

static void test_timeline(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    s_seen s = { 0 };
    lab_err err;
    assert_int_equal(lab_hub_timeline(h, 0, s_collect, &s, &err), LAB_ENOTFOUND);

    lab_hub_campaign a = s_campaign("old"), b = s_campaign("new");
    int64_t ca = 0, cb = 0;
    assert_int_equal(lab_hub_record_campaign(h, &a, &ca), 0);
    assert_int_equal(lab_hub_record_campaign(h, &b, &cb), 0);
    assert_int_equal(lab_hub_record_event(h, ca, T0 + 1, "old.event", NULL, NULL), 0);
    /* out of insertion order; equal times keep insertion order */
    assert_int_equal(lab_hub_record_event(h, cb, T0 + 30, "c", NULL, NULL), 0);
    assert_int_equal(lab_hub_record_event(h, cb, T0 + 10, "a", NULL, NULL), 0);
    assert_int_equal(lab_hub_record_event(h, cb, T0 + 20, "b1", NULL, NULL), 0);
    assert_int_equal(lab_hub_record_event(h, cb, T0 + 20, "b2", NULL, NULL), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);

    assert_int_equal(lab_hub_timeline(h, 0, s_collect, &s, &err), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.kind[0], "a");
    assert_string_equal(s.kind[1], "b1");
    assert_string_equal(s.kind[2], "b2");
    assert_string_equal(s.kind[3], "c");
    assert_true(s.t[0] < s.t[1] && s.t[2] < s.t[3]);

    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    assert_int_equal(lab_hub_timeline(h, cb, s_collect, &s, &err), 7);
    assert_int_equal(s.n, 2);

    memset(&s, 0, sizeof s);
    assert_int_equal(lab_hub_timeline(h, ca, s_collect, &s, &err), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.kind[0], "old.event");
    lab_hub_destroy(&h);
}

/* The per-step events are written without a detail; every reader gets the
 * detail built from the experiment's or the attempt's row, the same fields
 * the event used to carry. A stored detail (a proposal waiting for approval,
 * or any row of an older hub) is read as stored. */
static void test_event_detail_from_rows(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    int64_t c = s_fill(h);
    assert_int_equal(lab_hub_set_step_status(h, "demo/1/dispense/1", "dispatched", "ot2", 0, 0, NULL, NULL), 0);
    assert_int_equal(lab_hub_set_step_status(h, "demo/1/dispense/1", "done", NULL, T0 + 5000, T0 + 255000,
                                             "{\"volume_ul\":120.5}", NULL), 0);
    assert_int_equal(lab_hub_set_experiment_status(h, c, 1, "measured", "{\"plqy\":0.614}", NULL, T0 + 6000), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 1, LAB_EVN_EXPERIMENT_PROPOSED, "demo/1", NULL), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 2, LAB_EVN_STEP_DISPATCHED, "demo/1/dispense/1", NULL), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 3, LAB_EVN_STEP_DONE, "demo/1/dispense/1", NULL), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 4, LAB_EVN_EXPERIMENT_MEASURED, "demo/1", NULL), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 5, LAB_EVN_EXPERIMENT_PROPOSED, "demo/2",
                                          "{\"experiment\":2,\"approval\":\"waiting\"}"), 0);
    assert_int_equal(lab_hub_record_event(h, c, T0 + 6, "device.lost", "ot2", NULL), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    s_expect(f->path, "SELECT count(*) FROM events WHERE detail IS NULL", "5");

    s_seen s = {0};
    lab_err err;
    assert_int_equal(lab_hub_timeline(h, c, s_collect, &s, &err), 0);
    assert_int_equal(s.n, 6);
    const char *want[] = {
        "{\"experiment\":1,\"params\":{\"cs_pb_ratio\":0.73},\"origin\":\"initial\",\"planner\":\"sobol\","
        "\"reason\":null}",
        "{\"attempt\":\"demo/1/dispense/1\",\"experiment\":1,\"step\":\"dispense\",\"device\":\"ot2\","
        "\"attempt_no\":1}",
        "{\"attempt\":\"demo/1/dispense/1\",\"experiment\":1,\"step\":\"dispense\",\"device\":\"ot2\","
        "\"values\":{\"volume_ul\":120.5},\"seconds\":0.25}",
        "{\"experiment\":1,\"objectives\":{\"plqy\":0.614}}",
        "{\"experiment\":2,\"approval\":\"waiting\"}",
        "",
    };
    for (size_t i = 0; i < 6; i++)
        if (strcmp(s.detail[i], want[i]) != 0)
            fail_msg("event %zu (%s): detail\n  got:  %s\n  want: %s", i, s.kind[i], s.detail[i], want[i]);
    /* the hub's view for people with sqlite3 says the same */
    s_expect(f->path, "SELECT detail FROM event_log WHERE kind = 'step.done'", want[2]);
    lab_hub_destroy(&h);

    /* the events of experiment 1, with their details, though the subject
     * index holds only events with a stored detail */
    lab_hub_query *q = lab_hub_query_open(f->path, &err);
    assert_non_null(q);
    lab_hub_query_event_filter qf = {.campaign = c, .campaign_name = "demo", .experiment = 1};
    s_seen one = {0};
    assert_int_equal(lab_hub_query_events(q, &qf, s_collect_query, &one, &err), 0);
    assert_int_equal(one.n, 4);
    for (int i = 0; i < 4; i++)
        if (strcmp(one.detail[i], want[i]) != 0)
            fail_msg("experiment 1's event %d (%s): detail\n  got:  %s\n  want: %s", i, one.kind[i],
                     one.detail[i], want[i]);
    lab_hub_query_destroy(&q);
    s_expect(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'events_subject'"
                      " AND sql LIKE '%WHERE detail IS NOT NULL'", "1");
}

/* ---- labloop log ---- */

static void s_demo_events(lab_hub *h)
{
    int64_t c = s_fill(h);
    struct {
        int64_t dt;
        const char *kind, *subject, *detail;
    } ev[] = {
        { 0, "campaign.created", "demo",
          "{\"name\":\"demo\",\"seed\":42,\"planner\":\"gp\",\"budget\":30}" },
        { 1000, "device.ready", "ot2",
          "{\"device\":\"ot2\",\"driver\":\"sim.dispenser\",\"capabilities\":[\"liquid_handler\"],"
          "\"capacity\":1}" },
        { 27000, "experiment.proposed", "demo/1",
          "{\"experiment\":1,\"params\":{\"cs_pb_ratio\":0.73,\"temperature\":181.2},"
          "\"origin\":\"initial\",\"planner\":\"sobol\"}" },
        { 28000, "step.dispatched", "demo/1/dispense/1",
          "{\"attempt\":\"demo/1/dispense/1\",\"experiment\":1,\"step\":\"dispense\","
          "\"device\":\"ot2\",\"attempt_no\":1}" },
        { 287000, "step.done", "demo/1/dispense/1",
          "{\"attempt\":\"demo/1/dispense/1\",\"experiment\":1,\"step\":\"dispense\","
          "\"device\":\"ot2\",\"values\":{\"volume_ul\":120.0},\"seconds\":0.26}" },
        { 2887000, "experiment.measured", "demo/1",
          "{\"experiment\":1,\"objectives\":{\"plqy\":0.614,\"fwhm\":22.1}}" },
        { 3000000, "experiment.proposed", "demo/4", "{\"experiment\":4}" },
        { 3500000, "step.failed", "demo/4/heat/1",
          "{\"experiment\":4,\"step\":\"heat\",\"device\":\"furnace\",\"status\":\"timed_out\","
          "\"error\":\"no reply in 600 s\"}" },
        { 3600000, "step.retry", "demo/4/heat/2",
          "{\"experiment\":4,\"step\":\"heat\",\"attempt_no\":2,\"reason\":\"timed out\"}" },
        { 4887000, "experiment.failed", "demo/4",
          "{\"experiment\":4,\"error\":\"step heat: furnace door jammed\"}" },
        { 5000000, "device.lost", "furnace", "{\"device\":\"furnace\",\"reason\":\"no heartbeat\"}" },
        { 5100000, "message.bad", "ot2", "{\"device\":\"ot2\",\"error\":\"bad signature\"}" },
        { 5200000, "weird.kind", "thing", "{\"a\":1}" },
        { 27887000, "campaign.status", "demo", "{\"status\":\"completed\"}" },
    };
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++)
        assert_int_equal(lab_hub_record_event(h, c, T0 + ev[i].dt, ev[i].kind, ev[i].subject,
                                              ev[i].detail), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
}

static char *s_log(const char *path, const lab_log_filter *flt, int *ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    lab_err err;
    lab_err_clear(&err);
    *ret = lab_log_print(path, flt, out, &err);
    fclose(out);
    if (*ret < 0) {
        free(buf);
        return strdup(err.msg);
    }
    return buf;
}

static void s_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("expected\n  %s\nin\n%s", want, text);
}

static int s_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void test_log_text(void **state)
{
    fx *f = *state;
    setenv("TZ", "UTC", 1);
    tzset();
    lab_hub *h = s_open(f->path);
    s_demo_events(h);
    lab_hub_destroy(&h);

    int ret;
    char *t = s_log(f->path, NULL, &ret);
    assert_int_equal(ret, 0);
    s_has(t, "2024-05-01 08:51:02.113+0000  campaign demo created (seed 42, planner gp, budget 30)\n");
    s_has(t, "2024-05-01 08:51:02.114+0000  device ot2 ready (sim.dispenser, capabilities: liquid_handler, "
             "capacity 1)\n");
    s_has(t, "2024-05-01 08:51:02.140+0000  experiment 1 proposed by sobol (initial): cs_pb_ratio=0.73 "
             "temperature=181.2\n");
    s_has(t, "2024-05-01 08:51:02.141+0000  step dispense of experiment 1 -> ot2 (attempt demo/1/dispense/1)\n");
    s_has(t, "2024-05-01 08:51:02.400+0000  step dispense of experiment 1 done on ot2 in 0.26 s: volume_ul=120\n");
    s_has(t, "2024-05-01 08:51:05.000+0000  experiment 1 measured: plqy=0.614 fwhm=22.1\n");
    s_has(t, "step heat of experiment 4 failed (timed_out) on furnace: no reply in 600 s\n");
    s_has(t, "step heat of experiment 4 retried as attempt 2: timed out\n");
    s_has(t, "2024-05-01 08:51:07.000+0000  experiment 4 failed: step heat: furnace door jammed\n");
    s_has(t, "device furnace lost: no heartbeat\n");
    s_has(t, "bad message from ot2: bad signature\n");
    s_has(t, "weird.kind thing {\"a\":1}\n");
    s_has(t, "2024-05-01 08:51:30.000+0000  campaign demo completed: 2 experiments (1 measured, 1 failed)\n");
    assert_int_equal(s_lines(t), 14);
    free(t);

    lab_log_filter fl = { .experiment = 4 };
    t = s_log(f->path, &fl, &ret);
    assert_int_equal(ret, 0);
    assert_int_equal(s_lines(t), 4);
    assert_null(strstr(t, "experiment 1"));
    free(t);

    lab_log_filter fd = { .device = "ot2" };
    t = s_log(f->path, &fd, &ret);
    assert_int_equal(ret, 0);
    assert_int_equal(s_lines(t), 4); /* ready, dispatched, done, bad message */
    assert_null(strstr(t, "furnace"));
    free(t);

    /* A device or experiment the campaign does not have is an error. */
    lab_log_filter fu = { .device = "ot3" };
    t = s_log(f->path, &fu, &ret);
    assert_int_equal(ret, LAB_ENOTFOUND);
    free(t);
    lab_log_filter fe = { .experiment = 99 };
    t = s_log(f->path, &fe, &ret);
    assert_int_equal(ret, LAB_ENOTFOUND);
    free(t);
}

static void test_log_json(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    s_demo_events(h);
    lab_hub_destroy(&h);

    lab_log_filter fl = { .json = 1, .experiment = 1 };
    int ret;
    char *t = s_log(f->path, &fl, &ret);
    assert_int_equal(ret, 0);
    assert_int_equal(s_lines(t), 4);
    char *save = NULL;
    char *line = strtok_r(t, "\n", &save);
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o)
        fail_msg("not JSON: %s (%s)", line, je.text);
    assert_int_equal(json_integer_value(json_object_get(o, "t_us")), T0 + 27000);
    assert_string_equal(json_string_value(json_object_get(o, "time")),
                        "2024-05-01T08:51:02.140000Z");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "experiment.proposed");
    assert_string_equal(json_string_value(json_object_get(o, "subject")), "demo/1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "detail"),
                                                        "experiment")), 1);
    json_decref(o);
    free(t);
}

static void test_log_errors(void **state)
{
    fx *f = *state;
    char p[160];
    int ret;
    snprintf(p, sizeof p, "%s/missing.db", f->dir);
    char *t = s_log(p, NULL, &ret);
    assert_true(ret < 0);
    s_has(t, "cannot open hub '");
    s_has(t, "No such file or directory");
    free(t);

    /* an empty hub: nothing to show, said so */
    lab_hub *h = s_open(f->path);
    lab_hub_destroy(&h);
    t = s_log(f->path, NULL, &ret);
    assert_int_equal(ret, LAB_ENOTFOUND);
    s_has(t, "no campaign");
    free(t);

    /* exit codes; stderr noise is expected here */
    char *a1[] = { "log", "--bogus", f->path };
    assert_int_equal(lab_cmd_log(3, a1), 2);
    char *a2[] = { "log", f->path, "--experiment", "x" };
    assert_int_equal(lab_cmd_log(4, a2), 2);
    char *a3[] = { "log" };
    assert_int_equal(lab_cmd_log(1, a3), 2);
    char *a4[] = { "log", p };
    assert_int_equal(lab_cmd_log(2, a4), 1);
}

/* Measurement: small rows/s through grouped commits. Prints, asserts only
 * that the rows landed. */
static void test_bench_grouped_inserts(void **state)
{
    fx *f = *state;
    lab_hub *h = s_open(f->path);
    lab_hub_campaign cc = s_campaign("bench");
    int64_t c = 0;
    assert_int_equal(lab_hub_record_campaign(h, &cc, &c), 0);
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    const int rows = 100000, group = 1000;
    int64_t t0 = lab_clock_mono_us();
    for (int i = 0; i < rows; i++) {
        assert_int_equal(lab_hub_record_event(h, c, T0 + i, "step.done", "demo/1/dispense/1",
                                              "{\"experiment\":1,\"seconds\":0.26}"), 0);
        if ((i + 1) % group == 0)
            assert_int_equal(lab_hub_commit(h, NULL), 0);
    }
    assert_int_equal(lab_hub_commit(h, NULL), 0);
    double s = (double)(lab_clock_mono_us() - t0) / 1e6;
    printf("[ bench    ] %d events in groups of %d: %.2f s, %.0f rows/s\n", rows, group, s,
           rows / s);
    lab_hub_destroy(&h);
    s_expect(f->path, "SELECT count(*) FROM events", "100000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_without_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queued_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queued_failure_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queued_events_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queued_durable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_campaign, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v1, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queued_step_folding, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_hub, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_timeline, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_event_detail_from_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_log_text, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_log_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_log_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bench_grouped_inserts, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
