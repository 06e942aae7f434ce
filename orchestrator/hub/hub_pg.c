/* Pushing a lab's SQLite hub into the shared PostgreSQL hub (see hub_pg.h
 * for the contract, docs/DATA.md for the PostgreSQL schema).
 *
 * For: the PostgreSQL schema and its migrations, and one push pass: for
 * each table, one transaction that locks the lab's mark for that table,
 * reads what is new in the SQLite hub (read-only), streams it with COPY and
 * moves the mark. Not for: reading back (hub_pg_read.c), the CLI or the
 * orchestrator's replication thread.
 *
 * Why the marks are what they are: append-only tables (events, audit,
 * sample_locations, artifacts) are read by rowid, which the lab's single
 * writer hands out in commit order, so "id > mark" is exactly what was not
 * pushed yet. Tables whose rows change carry no change counter, only times
 * (updated_us, last_seen_us, a step's latest time); their mark is the
 * largest time pushed, and a pass re-sends rows from S_CHANGE_MARGIN_US
 * before it, plus every row that has not finished, because a row written
 * just before a commit can reach the reader after a later one. Upserts make
 * the overlap harmless.
 */
#include "orchestrator/hub/hub_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/clock.h"
#include "common/log.h"
#include "orchestrator/events.h"
#include "orchestrator/hub/hub.h"
#include "orchestrator/hub/hub_pg_int.h"

#include "common/banned.h"

/* the oldest hub schema a push reads (steps.counted came in 2) */
#define S_OLDEST_PUSHED 2

#define S_CHANGE_MARGIN_US (60LL * 1000000)
#define S_CHUNK_DEFAULT 20000
#define S_COPY_FLUSH (1 << 20)
#define S_BACKOFF_FIRST_MS 200
#define S_BACKOFF_MAX_MS 5000
/* Any fixed number: every labloop serialises its schema changes on it. */
#define S_MIGRATE_LOCK 0x6c61626c6f6f70LL

/* ---- the PostgreSQL schema: s_pg_migrations[v] takes it from v-1 to v ---- */

/* The columns every table starts with: whose row it is and who may read it. */
#define S_TAGS                                                                           \
    "  lab            text NOT NULL,\n"                                                  \
    "  access         text NOT NULL CHECK (access IN ('open','shared','closed')),\n"   \
    "  share_group    text,\n"                                                           \
    "  export_control integer NOT NULL DEFAULT 0,\n"

#define S_POLICY(t)                                                                      \
    "ALTER TABLE labloop." t " ENABLE ROW LEVEL SECURITY;\n"                             \
    "CREATE POLICY " t "_read ON labloop." t " FOR SELECT"                               \
    " USING (labloop.may_read(access, share_group));\n"                                  \
    "GRANT SELECT ON labloop." t " TO PUBLIC;\n"

static const char *const s_pg_migrations[] = {
    NULL,
    /* 1: the first schema */
    "CREATE TABLE labloop.watermarks (\n"
    "  lab text NOT NULL, tbl text NOT NULL,\n"
    "  last_id bigint NOT NULL DEFAULT 0, last_us bigint NOT NULL DEFAULT 0,\n"
    "  pushed_us bigint, PRIMARY KEY (lab, tbl));\n"
    "ALTER TABLE labloop.watermarks ENABLE ROW LEVEL SECURITY;\n"
    "ALTER TABLE labloop.meta ENABLE ROW LEVEL SECURITY;\n"
    "CREATE POLICY meta_read ON labloop.meta FOR SELECT USING (true);\n"
    "GRANT USAGE ON SCHEMA labloop TO PUBLIC;\n"
    "GRANT SELECT ON labloop.meta TO PUBLIC;\n"
    "CREATE FUNCTION labloop.may_read(access text, grp text) RETURNS boolean\n"
    "  LANGUAGE sql STABLE AS $$\n"
    "  SELECT access = 'open' OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r\n"
    "    WHERE r.rolname = grp AND pg_catalog.pg_has_role(r.oid, 'MEMBER')) $$;\n"
    "CREATE TABLE labloop.campaigns (\n" S_TAGS
    "  id bigint NOT NULL, name text NOT NULL, config_path text, config_text text,\n"
    "  config_sha256 text, seed bigint NOT NULL DEFAULT 0, version text, host text,\n"
    "  operator text, planner text, status text NOT NULL,\n"
    "  created_us bigint NOT NULL, updated_us bigint NOT NULL,\n"
    "  PRIMARY KEY (lab, id), UNIQUE (lab, name));\n"
    "CREATE TABLE labloop.devices (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint NOT NULL, name text NOT NULL, driver text,\n"
    "  capabilities json, capacity integer NOT NULL DEFAULT 1, status text NOT NULL,\n"
    "  first_seen_us bigint NOT NULL, last_seen_us bigint NOT NULL,\n"
    "  PRIMARY KEY (lab, id));\n"
    "CREATE INDEX devices_campaign ON labloop.devices (lab, campaign);\n"
    "CREATE TABLE labloop.experiments (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint NOT NULL, seq bigint NOT NULL,\n"
    "  params json NOT NULL, origin text, provenance json, status text NOT NULL,\n"
    "  objectives json, error text, proposed_us bigint NOT NULL,\n"
    "  updated_us bigint NOT NULL, finished_us bigint,\n"
    "  PRIMARY KEY (lab, id));\n"
    "CREATE INDEX experiments_campaign ON labloop.experiments (lab, campaign, seq);\n"
    "CREATE TABLE labloop.steps (\n" S_TAGS
    "  id bigint NOT NULL, attempt_id text NOT NULL, campaign bigint NOT NULL,\n"
    "  experiment bigint NOT NULL, step text NOT NULL, attempt integer NOT NULL,\n"
    "  device text, status text NOT NULL, params json, result json, error text,\n"
    "  queued_us bigint NOT NULL, started_us bigint, finished_us bigint,\n"
    "  counted integer NOT NULL DEFAULT 1, PRIMARY KEY (lab, id));\n"
    "CREATE INDEX steps_campaign ON labloop.steps (lab, campaign);\n"
    "CREATE TABLE labloop.samples (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint NOT NULL, experiment bigint, label text NOT NULL,\n"
    "  parent bigint, location text, created_us bigint NOT NULL, updated_us bigint NOT NULL,\n"
    "  PRIMARY KEY (lab, id));\n"
    "CREATE INDEX samples_campaign ON labloop.samples (lab, campaign);\n"
    "CREATE TABLE labloop.artifacts (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint, sha256 text NOT NULL, size bigint NOT NULL,\n"
    "  media_type text, name text, attempt_id text, in_lab_hub integer NOT NULL,\n"
    "  path text, created_us bigint NOT NULL, PRIMARY KEY (lab, id));\n"
    "CREATE INDEX artifacts_campaign ON labloop.artifacts (lab, campaign);\n"
    "CREATE TABLE labloop.sample_locations (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint, sample bigint NOT NULL, t_us bigint NOT NULL,\n"
    "  location text NOT NULL, attempt_id text, PRIMARY KEY (lab, id));\n"
    "CREATE INDEX sample_locations_campaign ON labloop.sample_locations (lab, campaign);\n"
    "CREATE TABLE labloop.events (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint, t_us bigint NOT NULL, kind text NOT NULL,\n"
    "  subject text, detail json, PRIMARY KEY (lab, id));\n"
    "CREATE INDEX events_campaign ON labloop.events (lab, campaign, t_us);\n"
    "CREATE TABLE labloop.audit (\n" S_TAGS
    "  id bigint NOT NULL, campaign bigint, t_us bigint NOT NULL, actor text NOT NULL,\n"
    "  origin text, action text NOT NULL, target text, detail json, outcome text,\n"
    "  PRIMARY KEY (lab, id));\n"
    "CREATE INDEX audit_campaign ON labloop.audit (lab, campaign, t_us);\n"
    S_POLICY("campaigns") S_POLICY("devices") S_POLICY("experiments") S_POLICY("steps")
    S_POLICY("samples") S_POLICY("artifacts") S_POLICY("sample_locations")
    S_POLICY("events") S_POLICY("audit"),
};

_Static_assert(sizeof s_pg_migrations / sizeof s_pg_migrations[0] ==
                   LAB_HUB_PG_SCHEMA_VERSION + 1,
               "every PostgreSQL schema version needs its migration");

/* ---- what is pushed from each table ---- */

typedef enum { S_CHANGING, S_APPEND_ONLY } s_kind;

/* The SQLite select returns id, campaign (NULL: none), mark (change time;
 * NULL for append-only), then the PostgreSQL columns `cols` in order. ?1 is
 * the mark to start from, ?2 (append-only) the chunk size. */
typedef struct s_table {
    const char *name;
    s_kind kind;
    const char *cols;
    const char *select;
} s_table;

static const s_table s_tables[] = {
    {"campaigns", S_CHANGING,
     "id, name, config_path, config_text, config_sha256, seed, version, host, operator,"
     " planner, status, created_us, updated_us",
     "SELECT id, id, updated_us, id, name, config_path, config_text, config_sha256, seed,"
     " version, host, operator, planner, status, created_us, updated_us FROM campaigns"
     " WHERE updated_us >= ?1 OR status IN ('created','queued','running','paused','halted') ORDER BY id"},
    {"devices", S_CHANGING,
     "id, campaign, name, driver, capabilities, capacity, status, first_seen_us, last_seen_us",
     "SELECT id, campaign, last_seen_us, id, campaign, name, driver, capabilities, capacity,"
     " status, first_seen_us, last_seen_us FROM devices WHERE last_seen_us >= ?1 ORDER BY id"},
    {"experiments", S_CHANGING,
     "id, campaign, seq, params, origin, provenance, status, objectives, error, proposed_us,"
     " updated_us, finished_us",
     "SELECT id, campaign, updated_us, id, campaign, seq, params, origin, provenance, status,"
     " objectives, error, proposed_us, updated_us, finished_us FROM experiments"
     " WHERE updated_us >= ?1 OR finished_us IS NULL ORDER BY id"},
    {"steps", S_CHANGING,
     "id, attempt_id, campaign, experiment, step, attempt, device, status, params, result,"
     " error, queued_us, started_us, finished_us, counted",
     "SELECT id, campaign, max(queued_us, coalesce(started_us, 0), coalesce(finished_us, 0))"
     " AS m, id, attempt_id, campaign, experiment, step, attempt, device, status, params,"
     " result, error, queued_us, started_us, finished_us, counted FROM steps"
     " WHERE finished_us IS NULL OR m >= ?1 ORDER BY id"},
    {"samples", S_CHANGING,
     "id, campaign, experiment, label, parent, location, created_us, updated_us",
     "SELECT id, campaign, updated_us, id, campaign, experiment, label, parent, location,"
     " created_us, updated_us FROM samples WHERE updated_us >= ?1 ORDER BY id"},
    {"artifacts", S_APPEND_ONLY,
     "id, campaign, sha256, size, media_type, name, attempt_id, in_lab_hub, path, created_us",
     "SELECT a.id, s.campaign, NULL, a.id, s.campaign, a.sha256, a.size, a.media_type, a.name,"
     " a.attempt_id, a.content IS NOT NULL, a.path, a.created_us FROM artifacts a"
     " LEFT JOIN steps s ON s.attempt_id = a.attempt_id WHERE a.id > ?1 ORDER BY a.id LIMIT ?2"},
    {"sample_locations", S_APPEND_ONLY, "id, campaign, sample, t_us, location, attempt_id",
     "SELECT l.id, s.campaign, NULL, l.id, s.campaign, l.sample, l.t_us, l.location,"
     " l.attempt_id FROM sample_locations l LEFT JOIN samples s ON s.id = l.sample"
     " WHERE l.id > ?1 ORDER BY l.id LIMIT ?2"},
    {"events", S_APPEND_ONLY, "id, campaign, t_us, kind, subject, detail",
     "SELECT e.id, e.campaign, NULL, e.id, e.campaign, e.t_us, e.kind, e.subject, "
     LAB_EVENT_DETAIL_SQL " FROM events e WHERE e.id > ?1 ORDER BY e.id LIMIT ?2"},
    {"audit", S_APPEND_ONLY,
     "id, campaign, t_us, actor, origin, action, target, detail, outcome",
     "SELECT id, campaign, NULL, id, campaign, t_us, actor, origin, action, target, detail,"
     " outcome FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2"},
};
#define S_N_TABLES (sizeof s_tables / sizeof s_tables[0])
#define S_META_COLS 3            /* id, campaign, mark before the columns */

/* What the pusher knows of each campaign of the SQLite hub. */
typedef struct s_camp {
    int64_t id;
    char access[8];
    int export_control;
    int pushed;                  /* 0: closed and not allowed out */
} s_camp;

struct lab_hub_pg_pusher {
    char *db, *url, *lab, *group;
    int allow_closed, chunk_rows;
    sqlite3 *src;
    PGconn *pg;
    s_camp *camps;
    size_t n_camps;
    int staged;                  /* the staging tables exist on this connection */
    int64_t counts[S_N_TABLES];
    char *buf;                   /* COPY data being built */
    size_t len, cap;
    int nomem;
};

/* ---- shared with hub_pg_read.c ---- */

int lab_hub_pg_is_url(const char *s)
{
    return s && (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11));
}

/* SQLSTATEs after which the same work may succeed on a new connection or a
 * later try: connection failures (08), the server shutting down or starting
 * (57P01-3), too many connections, serialisation failures and deadlocks. */
static int s_retryable(PGconn *c, const PGresult *r)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return 1;
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!st)
        return r == NULL;
    return !strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
           !strcmp(st, "57P03") || !strcmp(st, "53300") || !strcmp(st, "40001") ||
           !strcmp(st, "40P01");
}

int lab_hub_pg_fail(PGconn *c, const PGresult *r, const char *what, lab_err *err)
{
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return lab_err_set(err, s_retryable(c, r) ? LAB_EAGAIN : LAB_EDB, "PostgreSQL hub: %s: %.*s",
                       what, (int)n, msg);
}

/* Server notices ("schema already exists, skipping") are for debugging. */
static void s_on_notice(void *arg, const char *msg)
{
    (void)arg;
    lab_debug("PostgreSQL: %s", msg);
}

PGconn *lab_hub_pg_connect(const char *url, lab_err *err)
{
    /* Ours first, so that the same keys in the URL win; a server that stops
     * answering is noticed within seconds rather than after TCP's minutes. */
    const char *keys[] = {"connect_timeout", "application_name", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                          "gssencmode", "dbname", NULL};
    /* gssencmode: libpq would first look for Kerberos credentials on every
     * connect (tens of ms); a URL that wants GSS encryption says so. */
    const char *vals[] = {"10", "labloop", "10", "5", "3", "30000", "disable", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        lab_err_set(err, LAB_ENOMEM, "PostgreSQL hub: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        /* A URL libpq cannot parse will not parse next time either. */
        PQconninfoOption *parsed = PQconninfoParse(url, NULL);
        int bad = parsed == NULL;
        PQconninfoFree(parsed);
        lab_hub_pg_fail(c, NULL, "cannot connect", err);
        if (bad)
            err->code = LAB_EINVAL;
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, s_on_notice, NULL);
    return c;
}

int lab_hub_pg_exec(PGconn *c, const char *sql, const char *what, lab_err *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int ret = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        ret = lab_hub_pg_fail(c, r, what, err);
    PQclear(r);
    return ret;
}

int lab_hub_pg_schema_version(PGconn *c, int64_t *v, lab_err *err)
{
    *v = 0;
    PGresult *r = PQexec(c, "SELECT value FROM labloop.meta WHERE key = 'schema_version'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        int missing = st && (!strcmp(st, "42P01") || !strcmp(st, "3F000"));
        int ret = missing ? 0 : lab_hub_pg_fail(c, r, "reading the schema version", err);
        PQclear(r);
        return ret;
    }
    if (PQntuples(r) == 1)
        *v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* Create or migrate the schema, one labloop at a time (an advisory lock:
 * two labs pushing for the first time at once must not both create it). */
static int s_migrate(PGconn *c, lab_err *err)
{
    int64_t v = 0;
    int ret = lab_hub_pg_schema_version(c, &v, err);
    if (ret < 0 || v == LAB_HUB_PG_SCHEMA_VERSION)
        return ret;
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", S_MIGRATE_LOCK);
    if ((ret = lab_hub_pg_exec(c, sql, "locking the schema", err)) < 0 ||
        (ret = lab_hub_pg_exec(c,
                               "CREATE SCHEMA IF NOT EXISTS labloop;"
                               " CREATE TABLE IF NOT EXISTS labloop.meta"
                               " (key text PRIMARY KEY, value text NOT NULL)",
                               "creating the labloop schema", err)) < 0 ||
        (ret = lab_hub_pg_schema_version(c, &v, err)) < 0)
        goto fail;
    if (v > LAB_HUB_PG_SCHEMA_VERSION) {
        ret = lab_err_set(err, LAB_EVERSION, "PostgreSQL hub: its schema version %lld is newer "
                          "than this labloop knows (%d); upgrade labloop", (long long)v,
                          LAB_HUB_PG_SCHEMA_VERSION);
        goto fail;
    }
    for (int64_t k = v + 1; k <= LAB_HUB_PG_SCHEMA_VERSION; k++) {
        char what[64];
        snprintf(what, sizeof what, "migrating the schema to version %lld", (long long)k);
        if ((ret = lab_hub_pg_exec(c, s_pg_migrations[k], what, err)) < 0)
            goto fail;
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO labloop.meta VALUES ('schema_version', '%d') ON CONFLICT (key)"
             " DO UPDATE SET value = EXCLUDED.value; COMMIT",
             LAB_HUB_PG_SCHEMA_VERSION);
    if ((ret = lab_hub_pg_exec(c, sql, "recording the schema version", err)) < 0)
        goto fail;
    if (v == 0)
        lab_info("created the labloop schema (version %d) in the PostgreSQL hub",
                 LAB_HUB_PG_SCHEMA_VERSION);
    return 0;
fail:
    lab_hub_pg_exec(c, "ROLLBACK", "rolling back", NULL);
    return ret;
}

/* ---- the pusher ---- */

static char *s_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

lab_hub_pg_pusher *lab_hub_pg_pusher_new(const char *db, const char *url,
                                         const lab_hub_pg_push_opts *o, lab_err *err)
{
    if (!db || !*db || !lab_hub_pg_is_url(url)) {
        lab_err_set(err, LAB_EINVAL, "push: need a hub file and a postgresql:// URL");
        return NULL;
    }
    if (!o || !o->lab || !*o->lab) {
        lab_err_set(err, LAB_EINVAL, "push: the lab's id is required");
        return NULL;
    }
    lab_hub_pg_pusher *p = calloc(1, sizeof *p);
    if (!p || !(p->db = strdup(db)) || !(p->url = strdup(url)) || !(p->lab = strdup(o->lab)) ||
        !(p->group = s_strdup0(o->group ? o->group : o->lab))) {
        lab_hub_pg_pusher_destroy(&p);
        lab_err_set(err, LAB_ENOMEM, "push: out of memory");
        return NULL;
    }
    p->allow_closed = o->allow_closed;
    p->chunk_rows = o->chunk_rows > 0 ? o->chunk_rows : S_CHUNK_DEFAULT;
    return p;
}

static void s_disconnect(lab_hub_pg_pusher *p)
{
    PQfinish(p->pg);
    p->pg = NULL;
    p->staged = 0;
}

void lab_hub_pg_pusher_destroy(lab_hub_pg_pusher **pp)
{
    if (!pp || !*pp)
        return;
    lab_hub_pg_pusher *p = *pp;
    s_disconnect(p);
    sqlite3_close(p->src);
    free(p->db);
    free(p->url);
    free(p->lab);
    free(p->group);
    free(p->camps);
    free(p->buf);
    free(p);
    *pp = NULL;
}

int lab_hub_pg_push_count(const lab_hub_pg_pusher *p, size_t i, const char **table, int64_t *n)
{
    if (i >= S_N_TABLES)
        return 0;
    *table = s_tables[i].name;
    *n = p->counts[i];
    return 1;
}

static int s_src_err(lab_hub_pg_pusher *p, int rc, const char *what, lab_err *err)
{
    return lab_err_from_sqlite(err, rc, p->src ? sqlite3_errmsg(p->src) : sqlite3_errstr(rc),
                               what);
}

/* The SQLite hub, read-only and never migrated: a push must not change the
 * lab's file or wait on its writer longer than one read. */
static int s_open_source(lab_hub_pg_pusher *p, lab_err *err)
{
    if (p->src)
        return 0;
    lab_hub *h = lab_hub_open_readonly(p->db, err);
    if (!h)
        return err->code;
    lab_hub_destroy(&h);
    int rc = sqlite3_open_v2(p->db, &p->src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return s_src_err(p, rc, "opening the lab's hub", err);
    sqlite3_busy_timeout(p->src, 5000);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(p->src, "PRAGMA user_version", -1, &st, NULL);
    int64_t v = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    /* version 2 on: the steps' `counted` is pushed; the per-step events'
     * details are built from their rows when not stored (version 3) */
    if (v < S_OLDEST_PUSHED)
        return lab_err_set(err, LAB_EVERSION, "hub '%s' has schema version %lld; open it once "
                           "with a writing labloop command (run) to migrate it to %d before "
                           "pushing", p->db, (long long)v, LAB_HUB_SCHEMA_VERSION);
    return 0;
}

static int s_connect(lab_hub_pg_pusher *p, lab_err *err)
{
    if (p->pg && PQstatus(p->pg) == CONNECTION_OK)
        return 0;
    s_disconnect(p);
    p->pg = lab_hub_pg_connect(p->url, err);
    if (!p->pg)
        return err->code;
    int ret = s_migrate(p->pg, err);
    if (ret < 0)
        s_disconnect(p);
    return ret;
}

/* Read the campaigns' access classes (again: a campaign may have been
 * created since, or its class may have changed). */
static int s_load_campaigns(lab_hub_pg_pusher *p, lab_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(p->src, "SELECT id, access, export_control FROM campaigns"
                                " ORDER BY id", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return s_src_err(p, rc, "reading the lab's campaigns", err);
    p->n_camps = 0;
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (p->n_camps == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            s_camp *n = realloc(p->camps, ncap * sizeof *n);
            if (!n) {
                sqlite3_finalize(st);
                return lab_err_set(err, LAB_ENOMEM, "push: out of memory");
            }
            p->camps = n;
            cap = ncap;
        }
        s_camp *c = &p->camps[p->n_camps++];
        c->id = sqlite3_column_int64(st, 0);
        const char *a = (const char *)sqlite3_column_text(st, 1);
        snprintf(c->access, sizeof c->access, "%s", a ? a : "closed");
        c->export_control = sqlite3_column_int(st, 2) != 0;
        c->pushed = strcmp(c->access, "closed") != 0 || p->allow_closed;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : s_src_err(p, rc, "reading the lab's campaigns", err);
}

static const s_camp *s_find_camp(const lab_hub_pg_pusher *p, int64_t id)
{
    for (size_t i = 0; i < p->n_camps; i++)
        if (p->camps[i].id == id)
            return &p->camps[i];
    return NULL;
}

/* ---- COPY text format ---- */

static void s_put(lab_hub_pg_pusher *p, const char *s, size_t n)
{
    if (p->len + n > p->cap) {
        size_t ncap = p->cap ? p->cap : 1 << 16;
        while (ncap < p->len + n)
            ncap *= 2;
        char *b = realloc(p->buf, ncap);
        if (!b) {
            p->nomem = 1;
            return;
        }
        p->buf = b;
        p->cap = ncap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
}

/* One text field: backslash, tab, newline and carriage return escaped as
 * COPY's text format wants them. */
static void s_put_text(lab_hub_pg_pusher *p, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: break;
        }
        if (esc) {
            s_put(p, s + run, i - run);
            s_put(p, esc, 2);
            run = i + 1;
        }
    }
    s_put(p, s + run, n - run);
}

static void s_put_value(lab_hub_pg_pusher *p, sqlite3_stmt *st, int i)
{
    char num[40];
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        s_put(p, "\\N", 2);
        break;
    case SQLITE_INTEGER:
        s_put(p, num, (size_t)snprintf(num, sizeof num, "%lld",
                                       (long long)sqlite3_column_int64(st, i)));
        break;
    case SQLITE_FLOAT:
        s_put(p, num, (size_t)snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, i)));
        break;
    default: {
        const char *s = (const char *)sqlite3_column_text(st, i);
        s_put_text(p, s ? s : "", (size_t)sqlite3_column_bytes(st, i));
        break;
    }
    }
}

/* ---- one table ---- */

static int s_copy_start(lab_hub_pg_pusher *p, const char *target, const s_table *t, lab_err *err)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "COPY %s (lab, access, share_group, export_control, %s) FROM STDIN", target, t->cols);
    PGresult *r = PQexec(p->pg, sql);
    int ret = PQresultStatus(r) == PGRES_COPY_IN ? 0 : lab_hub_pg_fail(p->pg, r, sql, err);
    PQclear(r);
    return ret;
}

static int s_copy_flush(lab_hub_pg_pusher *p, lab_err *err)
{
    if (p->nomem)
        return lab_err_set(err, LAB_ENOMEM, "push: out of memory");
    if (p->len && PQputCopyData(p->pg, p->buf, (int)p->len) != 1)
        return lab_hub_pg_fail(p->pg, NULL, "sending rows", err);
    p->len = 0;
    return 0;
}

static int s_copy_end(lab_hub_pg_pusher *p, const char *what, lab_err *err)
{
    int ret = s_copy_flush(p, err);
    if (PQputCopyEnd(p->pg, ret < 0 ? "labloop stopped sending" : NULL) != 1 && ret == 0)
        ret = lab_hub_pg_fail(p->pg, NULL, what, err);
    PGresult *r;
    while ((r = PQgetResult(p->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && ret == 0)
            ret = lab_hub_pg_fail(p->pg, r, what, err);
        PQclear(r);
    }
    return ret;
}

/* Lock this lab's mark of table t (creating it at 0) and read it. */
static int s_mark_get(lab_hub_pg_pusher *p, const s_table *t, int64_t *id, int64_t *us,
                      lab_err *err)
{
    const char *v[2] = {p->lab, t->name};
    PGresult *r = PQexecParams(p->pg,
                               "INSERT INTO labloop.watermarks (lab, tbl) VALUES ($1, $2)"
                               " ON CONFLICT DO NOTHING",
                               2, NULL, v, NULL, NULL, 0);
    int ret = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : lab_hub_pg_fail(p->pg, r, "mark", err);
    PQclear(r);
    if (ret < 0)
        return ret;
    r = PQexecParams(p->pg,
                     "SELECT last_id, last_us FROM labloop.watermarks WHERE lab = $1 AND tbl = $2"
                     " FOR UPDATE",
                     2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        ret = lab_hub_pg_fail(p->pg, r, "reading the push mark", err);
    } else {
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *us = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    return ret;
}

static int s_mark_set(lab_hub_pg_pusher *p, const s_table *t, int64_t id, int64_t us,
                      lab_err *err)
{
    char sid[24], sus[24], snow[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    snprintf(sus, sizeof sus, "%lld", (long long)us);
    snprintf(snow, sizeof snow, "%lld", (long long)lab_clock_wall_us());
    const char *v[5] = {p->lab, t->name, sid, sus, snow};
    PGresult *r = PQexecParams(p->pg,
                               "UPDATE labloop.watermarks SET last_id = $3, last_us = $4,"
                               " pushed_us = $5 WHERE lab = $1 AND tbl = $2",
                               5, NULL, v, NULL, NULL, 0);
    int ret = PQresultStatus(r) == PGRES_COMMAND_OK ? 0
                                                    : lab_hub_pg_fail(p->pg, r, "moving the mark", err);
    PQclear(r);
    return ret;
}

/* The staging tables of the changing tables, once per connection: rows are
 * COPYed there, then upserted into the real table in one statement. */
static int s_stage(lab_hub_pg_pusher *p, lab_err *err)
{
    if (p->staged)
        return 0;
    for (size_t i = 0; i < S_N_TABLES; i++) {
        if (s_tables[i].kind != S_CHANGING)
            continue;
        char sql[256];
        snprintf(sql, sizeof sql,
                 "CREATE TEMP TABLE IF NOT EXISTS stage_%s (LIKE labloop.%s) ON COMMIT DELETE ROWS",
                 s_tables[i].name, s_tables[i].name);
        int ret = lab_hub_pg_exec(p->pg, sql, "creating a staging table", err);
        if (ret < 0)
            return ret;
    }
    p->staged = 1;
    return 0;
}

/* "INSERT INTO labloop.t (cols) SELECT cols FROM stage_t ON CONFLICT (lab,
 * id) DO UPDATE SET c = EXCLUDED.c, ..." for every column but the key. */
static int s_upsert_sql(const s_table *t, char *sql, size_t n)
{
    char all[512];
    snprintf(all, sizeof all, "access, share_group, export_control, %s", t->cols);
    size_t len = (size_t)snprintf(sql, n,
                                  "INSERT INTO labloop.%s (lab, %s) SELECT lab, %s FROM stage_%s"
                                  " ON CONFLICT (lab, id) DO UPDATE SET ",
                                  t->name, all, all, t->name);
    const char *s = all;
    int first = 1;
    while (*s && len < n) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t w = strcspn(s, ",");
        if (!(w == 2 && !strncmp(s, "id", 2)))
            len += (size_t)snprintf(sql + len, n - len, "%s%.*s = EXCLUDED.%.*s",
                                    first ? "" : ", ", (int)w, s, (int)w, s),
                first = 0;
        s += w;
    }
    return len < n ? 0 : -1;
}

/* Rows of one SQLite statement (already bound) into the COPY started: the
 * tags from the row's campaign, then its columns. Rows of campaigns not
 * pushed are skipped (*skipped counts them); with only_closed, every row but
 * those of closed campaigns is. max_id > 0: stop after that id. *n rows
 * read, *sent sent, *last_id and *max_mark of those read. */
typedef struct s_tally {
    int64_t n, sent, skipped, last_id, max_mark;
} s_tally;

static int s_copy_rows(lab_hub_pg_pusher *p, sqlite3_stmt *st, int only_closed, int64_t max_id,
                       s_tally *k, lab_err *err)
{
    int rc, ncols = sqlite3_column_count(st), reloaded = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (max_id > 0 && id > max_id)
            break;
        k->n++;
        k->last_id = id;
        if (sqlite3_column_type(st, 2) != SQLITE_NULL && sqlite3_column_int64(st, 2) > k->max_mark)
            k->max_mark = sqlite3_column_int64(st, 2);
        const char *access = "closed";
        int export_control = 0;
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            int64_t cid = sqlite3_column_int64(st, 1);
            const s_camp *c = s_find_camp(p, cid);
            if (!c && !reloaded) {
                /* A campaign newer than this pass's list: read it again. */
                int ret = s_load_campaigns(p, err);
                if (ret < 0)
                    return ret;
                reloaded = 1;
                c = s_find_camp(p, cid);
            }
            if (!c || !c->pushed) {
                k->skipped++;
                continue;
            }
            if (only_closed && strcmp(c->access, "closed") != 0)
                continue;
            access = c->access;
            export_control = c->export_control;
        } else if (only_closed) {
            continue;
        }
        s_put_text(p, p->lab, strlen(p->lab));
        s_put(p, "\t", 1);
        s_put(p, access, strlen(access));
        s_put(p, "\t", 1);
        s_put_text(p, p->group, strlen(p->group));
        s_put(p, export_control ? "\t1" : "\t0", 2);
        for (int i = S_META_COLS; i < ncols; i++) {
            s_put(p, "\t", 1);
            s_put_value(p, st, i);
        }
        s_put(p, "\n", 1);
        k->sent++;
        if (p->len >= S_COPY_FLUSH) {
            int ret = s_copy_flush(p, err);
            if (ret < 0)
                return ret;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return s_src_err(p, rc, "reading the lab's hub", err);
    return p->nomem ? lab_err_set(err, LAB_ENOMEM, "push: out of memory") : 0;
}

/* Within the open transaction: the rows of table ti that st (bound) reads
 * go to PostgreSQL, appended (append-only tables) or upserted. */
static int s_copy_table(lab_hub_pg_pusher *p, size_t ti, sqlite3_stmt *st, int only_closed,
                        int64_t max_id, s_tally *k, lab_err *err)
{
    const s_table *t = &s_tables[ti];
    char target[64], what[64];
    int ret;
    p->len = 0;
    p->nomem = 0;
    snprintf(target, sizeof target, t->kind == S_APPEND_ONLY ? "labloop.%s" : "stage_%s", t->name);
    snprintf(what, sizeof what, "copying %s", t->name);
    if (t->kind == S_CHANGING && (ret = s_stage(p, err)) < 0)
        return ret;
    if ((ret = s_copy_start(p, target, t, err)) < 0)
        return ret;
    ret = s_copy_rows(p, st, only_closed, max_id, k, err);
    int end = s_copy_end(p, what, ret < 0 ? NULL : err);
    if (ret == 0)
        ret = end;
    if (ret < 0 || t->kind != S_CHANGING || k->sent == 0)
        return ret;
    char sql[2048];
    if (s_upsert_sql(t, sql, sizeof sql) < 0)
        return lab_err_set(err, LAB_EINVAL, "push: upsert of %s too long", t->name);
    return lab_hub_pg_exec(p->pg, sql, what, err);
}

static int s_prepare_src(lab_hub_pg_pusher *p, const s_table *t, sqlite3_stmt **st, lab_err *err)
{
    int rc = sqlite3_prepare_v2(p->src, t->select, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : s_src_err(p, rc, "reading the lab's hub", err);
}

/* The note "rows of closed campaigns were skipped" of this lab (the
 * watermarks row of that name, last_id 1): set when a push leaves such rows
 * behind its marks, so that a later push that may send them goes back. */
static const s_table s_skipped_mark = {"(closed rows skipped)", S_CHANGING, NULL, NULL};

static int s_fail_tx(lab_hub_pg_pusher *p, sqlite3_stmt *st, int ret)
{
    sqlite3_finalize(st);
    if (p->pg && PQstatus(p->pg) == CONNECTION_OK)
        lab_hub_pg_exec(p->pg, "ROLLBACK", "rolling back", NULL);
    if (ret == LAB_EAGAIN)
        s_disconnect(p);
    return ret;
}

/* One transaction of table t: lock the mark, copy what is new, move the
 * mark, commit. *more is set when an append-only table has more to copy. */
static int s_push_chunk(lab_hub_pg_pusher *p, size_t ti, int *more, lab_err *err)
{
    const s_table *t = &s_tables[ti];
    sqlite3_stmt *st = NULL;
    int64_t mark_id = 0, mark_us = 0, ignored;
    int ret;
    *more = 0;
    if ((ret = lab_hub_pg_exec(p->pg, "BEGIN", "starting a transaction", err)) < 0 ||
        (ret = s_mark_get(p, t, &mark_id, &mark_us, err)) < 0 ||
        (ret = s_prepare_src(p, t, &st, err)) < 0)
        return s_fail_tx(p, st, ret);
    if (t->kind == S_APPEND_ONLY) {
        sqlite3_bind_int64(st, 1, mark_id);
        sqlite3_bind_int(st, 2, p->chunk_rows);
    } else {
        sqlite3_bind_int64(st, 1, mark_us > S_CHANGE_MARGIN_US ? mark_us - S_CHANGE_MARGIN_US : 0);
    }
    s_tally k = {.last_id = mark_id, .max_mark = mark_us};
    ret = s_copy_table(p, ti, st, 0, 0, &k, err);
    sqlite3_finalize(st);
    st = NULL;
    if (ret < 0)
        return s_fail_tx(p, st, ret);
    if (k.n == 0) {
        /* Nothing new: leave the mark's row unchanged (no write, no WAL). */
        return lab_hub_pg_exec(p->pg, "ROLLBACK", "ending a transaction", err);
    }
    if ((ret = s_mark_set(p, t, t->kind == S_APPEND_ONLY ? k.last_id : 0,
                          t->kind == S_APPEND_ONLY ? 0 : k.max_mark, err)) < 0 ||
        (k.skipped && t->kind == S_APPEND_ONLY &&
         ((ret = s_mark_get(p, &s_skipped_mark, &ignored, &ignored, err)) < 0 ||
          (ret = s_mark_set(p, &s_skipped_mark, 1, 0, err)) < 0)) ||
        (ret = lab_hub_pg_exec(p->pg, "COMMIT", "committing", err)) < 0)
        return s_fail_tx(p, st, ret);
    p->counts[ti] += k.sent;
    *more = t->kind == S_APPEND_ONLY && k.n >= p->chunk_rows;
    return (int)(k.sent > INT32_MAX ? INT32_MAX : k.sent);
}

/* Closed campaigns allowed now, but an earlier push left some of their
 * append-only rows behind its marks: send those (and every changing row of
 * closed campaigns) in one transaction that also clears the note, so they
 * too arrive exactly once. */
static int s_backfill_closed(lab_hub_pg_pusher *p, lab_err *err)
{
    int any = 0;
    for (size_t i = 0; i < p->n_camps; i++)
        any |= !strcmp(p->camps[i].access, "closed");
    if (!p->allow_closed || !any)
        return 0;
    sqlite3_stmt *st = NULL;
    int64_t skipped = 0, ignored;
    int ret;
    if ((ret = lab_hub_pg_exec(p->pg, "BEGIN", "starting a transaction", err)) < 0 ||
        (ret = s_mark_get(p, &s_skipped_mark, &skipped, &ignored, err)) < 0)
        return s_fail_tx(p, st, ret);
    if (skipped == 0)
        return lab_hub_pg_exec(p->pg, "ROLLBACK", "ending a transaction", err);
    for (size_t ti = 0; ti < S_N_TABLES; ti++) {
        const s_table *t = &s_tables[ti];
        int64_t mark_id = 0;
        if (t->kind == S_APPEND_ONLY &&
            ((ret = s_mark_get(p, t, &mark_id, &ignored, err)) < 0 || mark_id == 0)) {
            if (ret < 0)
                return s_fail_tx(p, st, ret);
            continue;
        }
        if ((ret = s_prepare_src(p, t, &st, err)) < 0)
            return s_fail_tx(p, st, ret);
        sqlite3_bind_int64(st, 1, 0);
        if (t->kind == S_APPEND_ONLY)
            sqlite3_bind_int(st, 2, -1); /* no LIMIT: up to the mark */
        s_tally k = {0};
        ret = s_copy_table(p, ti, st, 1, t->kind == S_APPEND_ONLY ? mark_id : 0, &k, err);
        sqlite3_finalize(st);
        st = NULL;
        if (ret < 0)
            return s_fail_tx(p, st, ret);
        p->counts[ti] += k.sent;
    }
    if ((ret = s_mark_set(p, &s_skipped_mark, 0, 0, err)) < 0 ||
        (ret = lab_hub_pg_exec(p->pg, "COMMIT", "committing", err)) < 0)
        return s_fail_tx(p, st, ret);
    lab_info("sent the rows of closed campaigns that earlier pushes left in the lab");
    return 0;
}

int lab_hub_pg_push_pass(lab_hub_pg_pusher *p, int64_t *rows, lab_err *err)
{
    int64_t total = 0;
    int ret;
    if (rows)
        *rows = 0;
    if ((ret = s_open_source(p, err)) < 0 || (ret = s_connect(p, err)) < 0 ||
        (ret = s_load_campaigns(p, err)) < 0 || (ret = s_backfill_closed(p, err)) < 0)
        return ret;
    for (size_t i = 0; i < S_N_TABLES; i++) {
        int more = 1;
        while (more) {
            ret = s_push_chunk(p, i, &more, err);
            if (ret < 0)
                return ret;
            total += ret;
            if (rows)
                *rows = total;
        }
    }
    return 0;
}

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Sleep ms in short slices, so that a stop request is seen soon. */
static void s_wait(int64_t ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !(stop && *stop)) {
        int64_t slice = ms < 100 ? ms : 100;
        s_sleep_ms(slice);
        ms -= slice;
    }
}

int lab_hub_pg_push_run(lab_hub_pg_pusher *p, int follow, int poll_ms, int64_t retry_ms,
                        volatile sig_atomic_t *stop, lab_err *err)
{
    int64_t backoff = S_BACKOFF_FIRST_MS, failing_since = 0;
    if (poll_ms <= 0)
        poll_ms = 1000;
    for (;;) {
        /* Decided before the pass: a pass that was already running when the
         * stop came may have missed the last commit, so one more follows. */
        int final = stop && *stop;
        int64_t rows = 0;
        int ret = lab_hub_pg_push_pass(p, &rows, err);
        if (ret == 0) {
            if (failing_since)
                lab_info("push to the PostgreSQL hub resumed");
            failing_since = 0;
            backoff = S_BACKOFF_FIRST_MS;
            if (!follow || final)
                return 0;
            s_wait(poll_ms, stop);
            continue;
        }
        /* After a stop, no waiting for PostgreSQL: what is left goes with
         * the next push. */
        if (ret != LAB_EAGAIN || final)
            return ret;
        int64_t now = lab_clock_mono_us() / 1000;
        if (!failing_since)
            failing_since = now;
        if (retry_ms > 0 && now - failing_since >= retry_ms)
            return lab_err_prefix(err, "gave up after %lld s: ", (long long)(retry_ms / 1000));
        lab_warn("%s; retrying in %lld ms", err->msg, (long long)backoff);
        s_wait(backoff, stop);
        backoff = backoff * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : backoff * 2;
    }
}
