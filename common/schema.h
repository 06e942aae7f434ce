/* The config schema engine: key tables and the checks every config loader
 * shares (campaign and lab configs, worker configs, the simulated lab).
 *
 * A loader describes each mapping of its file as a table of keys (name, type,
 * required, bounds, choices, default, help). lab_schema_check_map checks a
 * mapping against its table: unknown keys (with a "did you mean" hint),
 * duplicates, missing required keys, types and bounds; the loader then reads
 * the values it was handed and makes its own cross-field checks. Problems are
 * collected with their positions and reported together, sorted by position,
 * as "file:line:col: message": at most LAB_YAML_MAX_ERRORS of them, then
 * "... and N more". Durations are read by common/duration.c.
 * Not for: reading YAML (common/ytree.c) or building a loader's values.
 */
#ifndef LAB_SCHEMA_H
#define LAB_SCHEMA_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "common/ytree.h"

typedef enum {
    LAB_SK_STR,        /* non-empty scalar */
    LAB_SK_INT,        /* integer, bounds min..max */
    LAB_SK_NUM,        /* number, bounds min..max */
    LAB_SK_BOOL,       /* true/false/yes/no/on/off */
    LAB_SK_DUR,        /* duration (lab_duration_parse), bounds in seconds */
    LAB_SK_HOURS,      /* a number of hours, or a duration with a unit; bounds in hours */
    LAB_SK_ENUM,       /* one of choices ("a|b|c") */
    LAB_SK_MAP,        /* a mapping */
    LAB_SK_LIST,       /* a list */
    LAB_SK_STRLIST,    /* a list of non-empty scalars (a single scalar counts as one) */
    LAB_SK_STR_OR_MAP, /* a non-empty scalar, or a mapping with its own keys */
    LAB_SK_ANY,        /* anything; the loader checks it */
} lab_schema_type;

/* One key of a table. Tables end with an entry whose name is NULL. */
typedef struct lab_schema_key {
    const char *name;
    lab_schema_type type;
    int required;
    double min, max;         /* NAN: no bound */
    const char *choices;     /* LAB_SK_ENUM only */
    const char *def;         /* default as documented; NULL: none */
    const char *help;
} lab_schema_key;

/* Most keys one table may hold (the slots a loader passes have this many). */
#define LAB_SCHEMA_MAXKEYS 24
/* Problems kept for sorting; more are only counted (a file of a million
 * unknown keys must not cost a message each). */
#define LAB_SCHEMA_KEPT 1000

typedef struct lab_schema_problem {
    int line, col;
    size_t seq;
    char msg[LAB_ERR_MSG_MAX];
} lab_schema_problem;

/* The problems of one file being loaded; embedded in a loader's context. */
typedef struct lab_schema {
    lab_ydoc *d;
    const char *path;
    lab_schema_problem *probs;
    size_t n_probs, cap_probs;
    size_t n_dropped;            /* problems beyond LAB_SCHEMA_KEPT */
    int oom;                     /* set by the loader too when an allocation failed */
} lab_schema;

void lab_schema_init(lab_schema *s, lab_ydoc *d, const char *path);
void lab_schema_release(lab_schema *s);

/* Record a problem at node n ("path:line:col: message"). */
void lab_schema_err(lab_schema *s, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Problems recorded so far (an out-of-memory counts as one). */
size_t lab_schema_n_problems(const lab_schema *s);

/* Print the problems sorted by position to errs (may be NULL): the first
 * LAB_YAML_MAX_ERRORS, then "... and N more". Sets err to the first of them
 * (LAB_ECONFIG), or LAB_ENOMEM. Returns 0 when there were none, else the
 * error code. */
int lab_schema_report(lab_schema *s, FILE *errs, lab_err *err);

/* Check mapping m against keys. slots[i] (LAB_SCHEMA_MAXKEYS of them): the
 * value of keys[i] when present and valid, else NULL. sec names the mapping
 * in messages: "" the top level, "budget" (messages say "budget.hours ..."),
 * "step 'heat'" (messages say "step 'heat': retries ..."). Returns 0 when m is
 * not a mapping (reported; slots all NULL), else 1. */
int lab_schema_check_map(lab_schema *s, yaml_node_t *m, const lab_schema_key *keys, const char *sec,
                         yaml_node_t **slots);
/* Check one value against its key; pfx starts the message ("budget.").
 * 1 when usable, else 0 (reported). */
int lab_schema_check_value(lab_schema *s, const lab_schema_key *k, yaml_node_t *v, const char *pfx);

/* Index of name in keys (a programmer error, asserted, when absent). */
size_t lab_schema_index(const lab_schema_key *keys, const char *name);
#define LAB_SCHEMA_SLOT(slots, keys, name) ((slots)[lab_schema_index((keys), (name))])

/* Values of slots a check accepted (def when v is NULL). */
long lab_schema_long(const yaml_node_t *v, long def);
double lab_schema_double(const yaml_node_t *v, double def);
int lab_schema_bool(const yaml_node_t *v, int def);
double lab_schema_seconds(const yaml_node_t *v, double def);
/* Index of v's text among choices ("a|b|c"), or def when v is NULL. */
int lab_schema_choice(const yaml_node_t *v, const char *choices, int def);

/* The closest of cands (NULL entries skipped) to word when close enough to
 * be a likely typo, else NULL. */
const char *lab_schema_suggest(const char *word, const char *const *cands, size_t n);
/* " (did you mean 'x'?)" or "" into buf; returns buf. */
const char *lab_schema_hint(char *buf, size_t n, const char *word, const char *const *cands, size_t n_cands);
/* "'many'" for a scalar, "a mapping" or "a list" otherwise; returns buf. */
const char *lab_schema_got(char *buf, size_t n, const yaml_node_t *v);
/* 1 when s is one of choices ("a|b|c"). */
int lab_schema_in_choices(const char *s, const char *choices);
/* "between 1 and 10", "at least 0" or "at most 5" for k's bounds into buf. */
void lab_schema_bounds_text(char *buf, size_t n, const lab_schema_key *k, int integer);

/* A markdown table of keys under "### `section`" (docs/CONFIG.md). */
void lab_schema_print(FILE *out, const char *section, const lab_schema_key *keys);

#endif
