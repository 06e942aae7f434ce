/* A campaign as researchers review it: one in-memory snapshot read from the
 * hub (through hub_query), with what show, report, export and the dashboard
 * compute from it — objectives with their goals, best result, best so far,
 * Pareto front, device utilisation, failures by cause — and its renderings
 * (HTML with inline SVG, a JSON summary).
 *
 * For: read-only review of a finished or running campaign. Not for: SQL
 * (hub_query.c), the CLI (cmd_*.c) or anything the orchestrator decides.
 * Parameter units and objective goals come from the campaign's stored
 * config; when it no longer parses, names come from the rows and goals are
 * taken as "maximize" (goal_known 0) so the views still work.
 */
#ifndef LAB_REVIEW_H
#define LAB_REVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/err.h"
#include "orchestrator/hub_query.h"

typedef struct lab_review_param {
    char *name;
    char *unit;                  /* may be NULL */
    int categorical;
    int integer;                 /* integer dimension: integer axis ticks */
    int log_scale;
    double low, high;            /* real and integer: the config's bounds (0, 0 when unknown) */
    char **choices;              /* categorical: in config order */
    size_t n_choices;
} lab_review_param;

typedef struct lab_review_objective {
    char *name;
    char *unit;                  /* may be NULL */
    int maximize;
    int goal_known;              /* 0: not in the config; maximize assumed */
} lab_review_objective;

typedef struct lab_review_exp {
    int64_t seq;
    char *status, *origin, *error; /* error may be NULL */
    json_t *params;              /* object (owned) */
    json_t *provenance;          /* object or NULL (owned) */
    double *y;                   /* per objective; NAN when not measured */
    double best_so_far;          /* first objective, over seq <= this; NAN before any */
    int pareto;                  /* 1: on the Pareto front (measured, every objective) */
    int64_t proposed_us, finished_us;
} lab_review_exp;

typedef struct lab_review_step {
    char *attempt_id, *step, *device, *status, *error;
    int64_t experiment;
    int attempt;
    int64_t queued_us, started_us, finished_us;
} lab_review_step;

typedef struct lab_review_device {
    char *name, *driver, *status;
    int capacity;
    int64_t steps, busy_us;
    double utilisation;          /* busy / (span * capacity), 0..1 */
} lab_review_device;

typedef struct lab_review_failure {
    char *scope, *cause, *where;
    int64_t count, first_experiment;
} lab_review_failure;

typedef struct lab_review {
    lab_hub_query_campaign c;
    lab_hub_query_counts n;
    lab_review_param *params;
    size_t n_params;
    lab_review_objective *objectives;
    size_t n_objectives;
    lab_review_exp *exps;
    size_t n_exps;
    lab_review_step *steps;
    size_t n_steps;
    lab_review_device *devices;
    size_t n_devices;
    lab_review_failure *failures;
    size_t n_failures;
    long best;                   /* index into exps of the best measured; -1 none */
    size_t n_pareto;
    int64_t span_start_us, span_end_us; /* campaign span (events, else rows) */
    int config_parsed;           /* 0: the stored config did not parse (see above) */
    long budget_experiments;     /* the config's budget (0: config did not parse) */
    double budget_hours;         /* the config's time budget (0: none) */
    lab_hub_query_lifecycle life; /* budget extensions; why it is paused (when life.paused) */
} lab_review;

/* Read campaign (NULL: the latest) from the open hub q into a snapshot.
 * Caller destroys. NULL with err set on error. */
lab_review *lab_review_load(lab_hub_query *q, const char *campaign, lab_err *err);
void lab_review_destroy(lab_review **r);

/* 1 when r is paused and its last pause's reason is known (r->life). */
int lab_review_paused(const lab_review *r);
/* The pause as one line of text into buf ("paused by alice: refill" or
 * "braked: 5 experiments in a row failed ..."); returns buf. */
const char *lab_review_pause_text(const lab_review *r, char *buf, size_t n);

/* The licence or sharing statement for an access class (open, shared,
 * closed). Never NULL. */
const char *lab_review_licence(const char *access);
/* Units by name from the campaign's stored config: parameters, objectives
 * and the step values objectives are taken from ({"temperature": "degC",
 * "fwhm": "nm", "fwhm_nm": "nm"}). NULL when none or the config no longer
 * parses. Caller decrefs. */
json_t *lab_review_units(const lab_hub_query_campaign *c);
/* "2025-05-01T12:00:00Z" (UTC, seconds) into buf; returns buf. */
const char *lab_review_iso_time(int64_t t_us, char *buf, size_t n);

/* The at-a-glance summary as JSON (what show prints and the dashboard
 * polls): campaign, status, counts, best with its parameters, Pareto size,
 * devices, failures; "budget" {experiments (with extensions; null when the
 * config did not parse), config, extensions, extra_experiments,
 * extra_hours} and "pause" (null unless paused: {reason, by, since, and
 * cause and failures when the failure brake paused it}). Caller decrefs.
 * NULL when out of memory. */
json_t *lab_review_summary_json(const lab_review *r);

/* Options for the HTML rendering. */
typedef struct lab_review_html_opts {
    int live;                    /* 1: dashboard (polls /api/summary, control form) */
    int64_t generated_us;        /* shown in the footer */
    const char *control;         /* the dashboard's control endpoint (the approve command shown), or NULL */
} lab_review_html_opts;
/* Write one self-contained HTML page (inline CSS and SVG; no network) to
 * out. Every text from the hub is HTML-escaped. Returns 0 or LAB_EIO. */
int lab_review_html(const lab_review *r, const lab_review_html_opts *o, FILE *out);

/* review_lab.c. The approval queue of r's campaign: the experiments
 * proposed and waiting for an operator; with o->live, Approve / Reject
 * buttons. Nothing when none waits and not live. */
void lab_review_queue_html(const lab_review *r, const lab_review_html_opts *o, FILE *out);
/* The lab view of a hub with several campaigns: {"campaigns": [{name,
 * status, experiments, measured, failed, budget, waiting_approval,
 * rejected, weight, source}], "devices": [{name, state, campaign, step,
 * attempt}], "source": "lab"|"hub", "lab"}. live: the lab service's
 * campaigns reply with "running" ([{campaign, attempt, step, device}])
 * added, or NULL when it does not answer (then all from the hub). Caller
 * owns the result; NULL with err set. */
json_t *lab_review_lab_json(lab_hub_query *q, const json_t *live, lab_err *err);
/* That as a page (reloading every 5 s), each campaign linking to
 * /?campaign=NAME. Returns 0 or LAB_EIO. */
int lab_review_lab_html(const json_t *lab, const char *hub, int64_t generated_us, FILE *out);

/* HTML-escape s (& < > " ') to out. NULL prints nothing. */
void lab_review_html_escape(FILE *out, const char *s);

#endif
