/* Reading the shared PostgreSQL hub (see hub_pg.h): one campaign copied
 * into a scratch SQLite hub for the review commands, and the search of
 * experiments across labs.
 *
 * Why a scratch SQLite hub: show, log, report and export already read a
 * hub through hub_query.c; giving them a file with the same schema reuses
 * all of that unchanged, and one campaign is small (thousands of rows), so
 * the copy costs tens of milliseconds. Every read runs as the URL's role,
 * so row-level security decides what is copied or found, not labloop.
 */
#include "orchestrator/hub/hub_pg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "orchestrator/hub/hub.h"
#include "orchestrator/hub/hub_pg_int.h"

#include "common/banned.h"

/* ---- one campaign into a scratch SQLite hub ---- */

/* The columns of each table as the SQLite hub has them (docs/DATA.md),
 * read from the PostgreSQL table of the same name; $1 lab, $2 campaign. */
typedef struct s_copy {
    const char *table, *cols, *where;
    int summary; /* read by `show` (lab_hub_pg_scope.summary) */
} s_copy;

static const s_copy s_copies[] = {
    {"campaigns",
     "id, name, config_path, config_text, config_sha256, seed, version, host, operator, access,"
     " export_control, planner, status, created_us, updated_us",
     "lab = $1 AND id = $2", 1},
    {"devices", "id, campaign, name, driver, capabilities, capacity, status, first_seen_us,"
                " last_seen_us",
     "lab = $1 AND campaign = $2", 1},
    {"experiments", "id, campaign, seq, params, origin, provenance, status, objectives, error,"
                    " proposed_us, updated_us, finished_us",
     "lab = $1 AND campaign = $2", 1},
    {"steps", "id, attempt_id, campaign, experiment, step, attempt, device, status, params,"
              " result, error, queued_us, started_us, finished_us, counted",
     "lab = $1 AND campaign = $2", 1},
    {"samples", "id, campaign, experiment, label, parent, location, created_us, updated_us",
     "lab = $1 AND campaign = $2"},
    {"artifacts", "id, sha256, size, media_type, name, attempt_id, path, created_us",
     "lab = $1 AND campaign = $2"},
    {"sample_locations", "id, sample, t_us, location, attempt_id", "lab = $1 AND campaign = $2"},
    {"events", "id, campaign, t_us, kind, subject, detail",
     "lab = $1 AND (campaign = $2 OR campaign IS NULL)", 1},
    {"audit", "id, campaign, t_us, actor, origin, action, target, detail, outcome",
     "lab = $1 AND (campaign = $2 OR campaign IS NULL)"},
};

static int s_sqlite_err(sqlite3 *db, int rc, const char *what, lab_err *err)
{
    return lab_err_from_sqlite(err, rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), what);
}

/* Copy the rows of t that match its where clause and more (more: extra
 * SQL, "" for none, with parameters $3... in v[2...]; v[0] the lab, v[1] the
 * campaign's id). */
static int s_copy_table(PGconn *pg, sqlite3 *db, const s_copy *t, const char *more,
                        const char *const *v, int nv, lab_err *err)
{
    char sql[1024];
    /* No ORDER BY: the rows keep their ids, so SQLite needs no order. */
    snprintf(sql, sizeof sql, "SELECT %s FROM labloop.%s WHERE %s%s", t->cols, t->table,
             t->where, more);
    PGresult *r = PQexecParams(pg, sql, nv, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int ret = lab_hub_pg_fail(pg, r, t->table, err);
        PQclear(r);
        return ret;
    }
    int nf = PQnfields(r), nt = PQntuples(r);
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (", t->table, t->cols);
    for (int i = 0; i < nf && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s?", i ? ", " : "");
    if (len < sizeof sql)
        snprintf(sql + len, sizeof sql - len, ")");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    int ret = rc == SQLITE_OK ? 0 : s_sqlite_err(db, rc, "preparing the scratch hub", err);
    for (int row = 0; ret == 0 && row < nt; row++) {
        for (int i = 0; i < nf; i++) {
            if (PQgetisnull(r, row, i))
                sqlite3_bind_null(st, i + 1);
            else
                sqlite3_bind_text(st, i + 1, PQgetvalue(r, row, i), PQgetlength(r, row, i),
                                  SQLITE_STATIC);
        }
        if ((rc = sqlite3_step(st)) != SQLITE_DONE)
            ret = s_sqlite_err(db, rc, "writing the scratch hub", err);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    PQclear(r);
    return ret;
}

/* Which (lab, id) the review is about. */
static int s_find_campaign(PGconn *pg, const char *lab, const char *campaign, char *lab_out,
                           size_t nlab, char *id_out, size_t nid, char *name_out, size_t nname,
                           lab_err *err)
{
    const char *v[2] = {lab, campaign};
    PGresult *r = PQexecParams(pg,
                               "SELECT lab, id, name FROM labloop.campaigns"
                               " WHERE ($1::text IS NULL OR lab = $1)"
                               " AND ($2::text IS NULL OR name = $2)"
                               " ORDER BY created_us DESC, lab LIMIT 2",
                               2, NULL, v, NULL, NULL, 0);
    int ret = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        ret = lab_hub_pg_fail(pg, r, "finding the campaign", err);
    } else if (PQntuples(r) == 0) {
        ret = lab_err_set(err, LAB_ENOTFOUND, "PostgreSQL hub: no campaign%s%s%s%s%s that this "
                          "role may read", campaign ? " '" : "", campaign ? campaign : "",
                          campaign ? "'" : "", lab ? " of lab " : "", lab ? lab : "");
    } else if (campaign && !lab && PQntuples(r) == 2) {
        ret = lab_err_set(err, LAB_EINVAL, "PostgreSQL hub: labs '%s' and '%s' both have a "
                          "campaign '%s'; say which with --lab", PQgetvalue(r, 0, 0),
                          PQgetvalue(r, 1, 0), campaign);
    } else {
        snprintf(lab_out, nlab, "%s", PQgetvalue(r, 0, 0));
        snprintf(id_out, nid, "%s", PQgetvalue(r, 0, 1));
        snprintf(name_out, nname, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return ret;
}

/* The campaign's event count and time span, as hub_query.c computes them
 * from a full copy (min and max of no rows: 0). */
static int s_read_span(PGconn *pg, const char *lab, const char *id, lab_hub_pg_span *span,
                       lab_err *err)
{
    const char *v[2] = {lab, id};
    PGresult *r = PQexecParams(pg,
                               "SELECT count(*), coalesce(min(t_us), 0), coalesce(max(t_us), 0)"
                               " FROM labloop.events WHERE lab = $1 AND campaign = $2",
                               2, NULL, v, NULL, NULL, 0);
    int ret = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        ret = lab_hub_pg_fail(pg, r, "counting the campaign's events", err);
    } else {
        span->campaign = strtoll(id, NULL, 10);
        span->events = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        span->first_us = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        span->last_us = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    }
    PQclear(r);
    return ret;
}

/* Copy the tables scope asks for. */
static int s_copy_scoped(PGconn *pg, sqlite3 *db, const lab_hub_pg_scope *scope,
                         const char *lab, const char *id, const char *name, lab_err *err)
{
    const char *v[4] = {lab, id, NULL, NULL};
    char lo[300], hi[300];
    int ret = 0;
    for (size_t i = 0; ret == 0 && i < sizeof s_copies / sizeof s_copies[0]; i++) {
        const s_copy *t = &s_copies[i];
        int events = strcmp(t->table, "events") == 0;
        if (scope->summary && !t->summary)
            continue;
        if (events && scope->events_span) {
            /* The summary counts events from the span; it reads only the
             * campaign's own lifecycle events (pause reason, extensions). */
            ret = s_copy_table(pg, db, t, " AND kind LIKE 'campaign.%'", v, 2, err);
            continue;
        }
        if (events && scope->experiment > 0) {
            /* The subject range hub_query.c reads for one experiment
             * ["<c>/N", "<c>/N0"), compared byte by byte as SQLite does
             * (COLLATE "C"), whatever the database's collation. */
            snprintf(lo, sizeof lo, "%s/%lld", name, (long long)scope->experiment);
            snprintf(hi, sizeof hi, "%s/%lld0", name, (long long)scope->experiment);
            v[2] = lo;
            v[3] = hi;
            ret = s_copy_table(pg, db, t,
                               " AND subject COLLATE \"C\" >= $3"
                               " AND subject COLLATE \"C\" < $4",
                               v, 4, err);
            continue;
        }
        ret = s_copy_table(pg, db, t, "", v, 2, err);
    }
    return ret;
}

int lab_hub_pg_fetch_campaign(const char *url, const char *lab, const char *campaign,
                              const char *path, lab_err *err)
{
    return lab_hub_pg_fetch_scoped(url, lab, campaign, path, NULL, NULL, err);
}

int lab_hub_pg_fetch_scoped(const char *url, const char *lab, const char *campaign,
                            const char *path, const lab_hub_pg_scope *scope,
                            lab_hub_pg_span *span, lab_err *err)
{
    static const lab_hub_pg_scope all = {0};
    if (!scope)
        scope = &all;
    if (span)
        memset(span, 0, sizeof *span);
    if (access(path, F_OK) == 0)
        return lab_err_set(err, LAB_ESTATE, "'%s' exists already", path);
    PGconn *pg = lab_hub_pg_connect(url, err);
    if (!pg)
        return err->code;
    sqlite3 *db = NULL;
    int64_t version = 0;
    char the_lab[256], id[32], name[256];
    int ret = lab_hub_pg_schema_version(pg, &version, err);
    if (ret == 0 && version == 0)
        ret = lab_err_set(err, LAB_ENOTFOUND, "PostgreSQL hub: no labloop schema in this "
                          "database (nothing was pushed to it)");
    if (ret == 0 && version > LAB_HUB_PG_SCHEMA_VERSION)
        ret = lab_err_set(err, LAB_EVERSION, "PostgreSQL hub: schema version %lld is newer than "
                          "this labloop reads (%d)", (long long)version, LAB_HUB_PG_SCHEMA_VERSION);
    /* One snapshot for all tables: the campaign may be being pushed. */
    if (ret == 0)
        ret = lab_hub_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                              "starting a read", err);
    if (ret == 0)
        ret = s_find_campaign(pg, lab, campaign, the_lab, sizeof the_lab, id, sizeof id, name,
                              sizeof name, err);
    if (ret == 0 && span && (scope->events_span || scope->experiment > 0))
        ret = s_read_span(pg, the_lab, id, span, err);
    if (ret < 0)
        goto done;
    /* The schema comes from the SQLite hub's own writer. */
    lab_hub *h = lab_hub_open(path, err);
    if (!h) {
        ret = err->code;
        goto done;
    }
    lab_hub_destroy(&h);
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK ||
        (rc = sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; BEGIN",
                           NULL, NULL, NULL)) != SQLITE_OK) {
        ret = s_sqlite_err(db, rc, "opening the scratch hub", err);
        goto done;
    }
    ret = s_copy_scoped(pg, db, scope, the_lab, id, name, err);
    if (ret == 0 && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        ret = s_sqlite_err(db, rc, "writing the scratch hub", err);
done:
    sqlite3_close(db);
    PQfinish(pg);
    if (ret < 0)
        unlink(path);
    return ret;
}

/* ---- search ---- */

static const struct {
    const char *text;
    lab_hub_pg_op op;
    const char *sql;
} s_ops[] = {
    /* two-character operators first, so "<=" is not read as "<" */
    {"<=", LAB_HUB_PG_LE, "<="}, {">=", LAB_HUB_PG_GE, ">="}, {"!=", LAB_HUB_PG_NE, "<>"},
    {"<", LAB_HUB_PG_LT, "<"},   {">", LAB_HUB_PG_GT, ">"},   {"=", LAB_HUB_PG_EQ, "="},
};
#define S_N_OPS (sizeof s_ops / sizeof s_ops[0])

int lab_hub_pg_where_parse(const char *text, lab_hub_pg_where *w, lab_err *err)
{
    const char *s = text;
    memset(w, 0, sizeof *w);
    while (isspace((unsigned char)*s))
        s++;
    const char *name = s;
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return lab_err_set(err, LAB_EINVAL, "--where '%s': want NAME OP NUMBER, e.g. "
                           "'temperature > 150' (NAME starts with a letter or '_')", text);
    while (isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')
        s++;
    size_t n = (size_t)(s - name);
    if (n >= sizeof w->name)
        return lab_err_set(err, LAB_EINVAL, "--where '%s': the name is longer than %zu characters",
                           text, sizeof w->name - 1);
    memcpy(w->name, name, n);
    w->name[n] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    size_t k;
    for (k = 0; k < S_N_OPS; k++)
        if (!strncmp(s, s_ops[k].text, strlen(s_ops[k].text)))
            break;
    if (k == S_N_OPS)
        return lab_err_set(err, LAB_EINVAL, "--where '%s': after '%s' want one of < <= > >= = !=",
                           text, w->name);
    w->op = s_ops[k].op;
    s += strlen(s_ops[k].text);
    while (isspace((unsigned char)*s))
        s++;
    char *end = NULL;
    errno = 0;
    w->value = strtod(s, &end);
    if (end == s || errno || !isfinite(w->value))
        return lab_err_set(err, LAB_EINVAL, "--where '%s': want a finite number after the "
                           "operator", text);
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return lab_err_set(err, LAB_EINVAL, "--where '%s': unexpected '%s' after the number",
                           text, end);
    return 0;
}

static const char *s_op_sql(lab_hub_pg_op op)
{
    for (size_t k = 0; k < S_N_OPS; k++)
        if (s_ops[k].op == op)
            return s_ops[k].sql;
    return NULL;
}

#define S_SEARCH_MAX 16

int lab_hub_pg_search(const char *url, const char *lab, const lab_hub_pg_where *w, size_t n,
                      long limit, lab_hub_pg_hit_fn fn, void *arg, lab_err *err)
{
    if (n > S_SEARCH_MAX)
        return lab_err_set(err, LAB_EINVAL, "search: at most %d conditions", S_SEARCH_MAX);
    /* The SQL holds only fixed text and $n placeholders; the names and
     * numbers travel as parameters. */
    char sql[8192];
    size_t len = (size_t)snprintf(
        sql, sizeof sql,
        "SELECT e.lab, c.name, e.seq, e.status, e.access, e.export_control, e.params::text,"
        " e.objectives::text FROM labloop.experiments e JOIN labloop.campaigns c"
        " ON c.lab = e.lab AND c.id = e.campaign WHERE ($1::text IS NULL OR e.lab = $1)");
    const char *vals[2 + 2 * S_SEARCH_MAX];
    char nums[S_SEARCH_MAX][40], lim[24];
    snprintf(lim, sizeof lim, "%ld", limit > 0 ? limit : 1000);
    vals[0] = lab;
    vals[1] = lim;
    for (size_t i = 0; i < n; i++) {
        const char *op = s_op_sql(w[i].op);
        if (!op)
            return lab_err_set(err, LAB_EINVAL, "search: bad operator");
        int pn = 3 + 2 * (int)i, pv = pn + 1;
        len += (size_t)snprintf(
            sql + len, len < sizeof sql ? sizeof sql - len : 0,
            " AND (CASE WHEN json_typeof(e.params -> $%d::text) = 'number'"
            " THEN (e.params ->> $%d::text)::float8"
            " WHEN json_typeof(e.objectives -> $%d::text) = 'number'"
            " THEN (e.objectives ->> $%d::text)::float8 END) %s $%d::float8",
            pn, pn, pn, pn, op, pv);
        snprintf(nums[i], sizeof nums[i], "%.17g", w[i].value);
        vals[pn - 1] = w[i].name;
        vals[pv - 1] = nums[i];
    }
    if (len >= sizeof sql)
        return lab_err_set(err, LAB_EINVAL, "search: too many conditions");
    snprintf(sql + len, sizeof sql - len, " ORDER BY e.lab, c.name, e.seq LIMIT $2::bigint");

    PGconn *pg = lab_hub_pg_connect(url, err);
    if (!pg)
        return err->code;
    int64_t version = 0;
    int ret = lab_hub_pg_schema_version(pg, &version, err);
    if (ret == 0 && version == 0)
        ret = lab_err_set(err, LAB_ENOTFOUND, "PostgreSQL hub: no labloop schema in this "
                          "database (nothing was pushed to it)");
    PGresult *r = NULL;
    if (ret == 0) {
        r = PQexecParams(pg, sql, 2 + 2 * (int)n, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            ret = lab_hub_pg_fail(pg, r, "searching", err);
    }
    for (int row = 0; ret == 0 && row < PQntuples(r); row++) {
        lab_hub_pg_hit h = {
            .lab = PQgetvalue(r, row, 0),
            .campaign = PQgetvalue(r, row, 1),
            .seq = strtoll(PQgetvalue(r, row, 2), NULL, 10),
            .status = PQgetvalue(r, row, 3),
            .access = PQgetvalue(r, row, 4),
            .export_control = atoi(PQgetvalue(r, row, 5)) != 0,
            .params_json = PQgetisnull(r, row, 6) ? NULL : PQgetvalue(r, row, 6),
            .objectives_json = PQgetisnull(r, row, 7) ? NULL : PQgetvalue(r, row, 7),
        };
        ret = fn(&h, arg);
    }
    PQclear(r);
    PQfinish(pg);
    return ret;
}
