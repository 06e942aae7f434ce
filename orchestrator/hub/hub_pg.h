/* The shared PostgreSQL hub (libpq): where many labs' SQLite hubs are
 * replicated to, and what the review commands can read back.
 *
 * For: creating and migrating the PostgreSQL schema (`labloop` schema,
 * version in labloop.meta, documented in docs/DATA.md), pushing one lab's
 * SQLite hub into it (hub_pg.c), reading one campaign back into a scratch
 * SQLite hub for the review commands and searching experiments across labs
 * (hub_pg_read.c). Every SQL statement that talks to PostgreSQL lives in
 * these two files. Not for: the lab's own writes (hub.h) or the CLI
 * (cmd_hub.c).
 *
 * Push: every row carries its lab's id and its campaign's access class,
 * sharing group and export-control flag. Append-only rows (events, audit,
 * sample_locations, artifacts) are copied exactly once: a high-water mark
 * per (lab, table) is read FOR UPDATE and moved in the same PostgreSQL
 * transaction as the rows. Rows that change (campaigns, devices,
 * experiments, steps, samples) are upserted on (lab, id). The SQLite hub is
 * only ever opened read-only, so the lab's writer never waits for a push.
 * Access is enforced by PostgreSQL itself: row-level security on every
 * table lets a role read `open` rows and the `shared`/`closed` rows whose
 * sharing group it is a member of; the role that owns the schema (the one
 * that pushes) reads and writes everything.
 *
 * Threads: a handle belongs to one thread at a time.
 */
#ifndef LAB_HUB_PG_H
#define LAB_HUB_PG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LAB_HUB_PG_SCHEMA_VERSION 1

/* 1 when s names a PostgreSQL hub (postgresql:// or postgres://). */
int lab_hub_pg_is_url(const char *s);

/* ---- push ---- */

typedef struct lab_hub_pg_push_opts {
    const char *lab;             /* the lab's id on every row (required) */
    const char *group;           /* sharing group (a PostgreSQL role) of shared and
                                  * closed rows; NULL: the lab's id */
    int allow_closed;            /* 1: push closed campaigns too (else they stay in the lab) */
    int chunk_rows;              /* rows per transaction of append-only tables (0: 20000) */
} lab_hub_pg_push_opts;

typedef struct lab_hub_pg_pusher lab_hub_pg_pusher;

/* A pusher of the SQLite hub at db (opened read-only, on first use) into
 * the PostgreSQL hub at url (connected, and its schema created or migrated,
 * on first use). Copies the strings it needs. NULL with err set on bad
 * options. Nothing is connected yet. */
lab_hub_pg_pusher *lab_hub_pg_pusher_new(const char *db, const char *url,
                                         const lab_hub_pg_push_opts *o, lab_err *err);
void lab_hub_pg_pusher_destroy(lab_hub_pg_pusher **p);

/* One pass: everything new or changed in the SQLite hub since the last
 * pass (in any process: the marks are in PostgreSQL) is copied. *rows
 * (may be NULL) receives the number of rows written. Returns 0, LAB_EAGAIN
 * when PostgreSQL could not be reached or went away (the connection is
 * dropped; committed transactions stay, nothing is half-written: call again
 * later), or another < 0 code for an error that retrying will not mend. */
int lab_hub_pg_push_pass(lab_hub_pg_pusher *p, int64_t *rows, lab_err *err);

/* Rows written per table since the pusher was made, for figures: table
 * name and count, i from 0 while it returns 1. */
int lab_hub_pg_push_count(const lab_hub_pg_pusher *p, size_t i, const char **table, int64_t *n);

/* Passes until caught up (follow 0) or until *stop becomes nonzero (follow
 * 1, a pass every poll_ms, then one last pass, so that what was committed
 * before the stop is pushed too); a pass that failed with LAB_EAGAIN is
 * retried with backoff (0.2 s doubling to 5 s), for at most retry_ms in a
 * row (0: forever), but not after a stop. Returns 0 or < 0 with err set
 * (LAB_EAGAIN: PostgreSQL could not be reached in time; what is not pushed
 * yet goes with the next push). Logs each retry. */
int lab_hub_pg_push_run(lab_hub_pg_pusher *p, int follow, int poll_ms, int64_t retry_ms,
                        volatile sig_atomic_t *stop, lab_err *err);

/* ---- read (hub_pg_read.c) ---- */

/* Copy one campaign of the PostgreSQL hub (lab may be NULL when only one
 * lab has a campaign of that name; campaign NULL: the latest of lab or of
 * the hub) into a new SQLite hub at path (which must not exist), with the
 * schema of hub.h, so that the review code reads it as any hub. Reads as the
 * URL's role: rows row-level security hides are not copied, a campaign the
 * role may not see is "not found". Returns 0 or < 0 with err set. */
int lab_hub_pg_fetch_campaign(const char *url, const char *lab, const char *campaign,
                              const char *path, lab_err *err);

/* What of the campaign a review command reads, so that only that crosses
 * the network and is written to the scratch hub. Zeroed: everything. */
typedef struct lab_hub_pg_scope {
    /* Copy only campaigns, devices, experiments and steps (what `show`
     * reads): no samples, artifacts, sample locations or audit. */
    int summary;
    /* events_span: copy no events at all. experiment > 0: copy only the
     * events about that experiment (subject "<campaign>/N..."). Either way
     * the campaign's event count and first and last event time are read in
     * PostgreSQL and returned in span, for the review to use in place of
     * the scratch hub's. */
    int events_span;
    int64_t experiment;
} lab_hub_pg_scope;

/* Of the campaign's events (campaign column set) as the role sees them. */
typedef struct lab_hub_pg_span {
    int64_t campaign; /* the campaign's id; 0 when span was not read */
    int64_t events, first_us, last_us;
} lab_hub_pg_span;

/* As lab_hub_pg_fetch_campaign, copying only what scope names (NULL: all);
 * span (may be NULL) gets the event summary when events are not all
 * copied, else campaign 0. */
int lab_hub_pg_fetch_scoped(const char *url, const char *lab, const char *campaign,
                            const char *path, const lab_hub_pg_scope *scope,
                            lab_hub_pg_span *span, lab_err *err);

/* One condition of a search: NAME OP NUMBER, NAME a parameter or an
 * objective. */
typedef enum { LAB_HUB_PG_LT, LAB_HUB_PG_LE, LAB_HUB_PG_GT, LAB_HUB_PG_GE, LAB_HUB_PG_EQ,
               LAB_HUB_PG_NE } lab_hub_pg_op;
typedef struct lab_hub_pg_where {
    char name[64];
    lab_hub_pg_op op;
    double value;
} lab_hub_pg_where;

/* Parse "temperature > 150" strictly: a name of letters, digits, '_', '-'
 * or '.', starting with a letter or '_'; one of < <= > >= = != ; a finite
 * number; spaces between are optional. Returns 0 or LAB_EINVAL with err
 * saying what was wrong. */
int lab_hub_pg_where_parse(const char *text, lab_hub_pg_where *w, lab_err *err);

typedef struct lab_hub_pg_hit {
    const char *lab, *campaign, *access, *status, *params_json, *objectives_json;
    int64_t seq;
    int export_control;
} lab_hub_pg_hit;
typedef int (*lab_hub_pg_hit_fn)(const lab_hub_pg_hit *h, void *arg);
/* Experiments of every lab (lab NULL) or one, that meet all conditions
 * (a name matches a parameter or an objective of that value; an experiment
 * without it does not match), as the URL's role may read them, by lab,
 * campaign, seq; at most limit (0: 1000). The values are sent as query
 * parameters, never as SQL text. Returns 0 or < 0 with err set; a nonzero
 * return of fn stops and is returned. */
int lab_hub_pg_search(const char *url, const char *lab, const lab_hub_pg_where *w, size_t n,
                      long limit, lab_hub_pg_hit_fn fn, void *arg, lab_err *err);

#endif
