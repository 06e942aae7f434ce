/* The campaign config (campaign.yaml): load, check and hold it.
 *
 * Loading reads the YAML with libyaml, checks every key against one table
 * (name, type, bounds, default, help; unknown keys get a "did you mean"),
 * then runs the cross-field checks (workflow references, objectives' steps,
 * devices for every capability, template variables). Every error names
 * file:line:column. All problems are reported, not only the first.
 * Not for: the lab description used by `labloop sim` (sim/lab.h).
 */
#ifndef LAB_CONFIG_H
#define LAB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "common/err.h"
#include "common/keys.h"
#include "planners/space.h"

/* A step parameter: a literal ("0.5", "oleylamine") or a template that
 * names one space dimension ("${temperature}"). */
typedef struct lab_cfg_param {
    char *name;
    char *literal;           /* set when not a template */
    int dim;                 /* index into the space when a template, else -1 */
} lab_cfg_param;

typedef struct lab_cfg_step {
    char *name;
    char *capability;
    char **after;            /* names of steps this one follows */
    size_t n_after;
    lab_cfg_param *params;
    size_t n_params;
    double timeout_s;        /* 0: none */
    int retries;             /* extra attempts after the first (default 0) */
    double backoff_s;        /* wait before retry n: backoff_s * 2^(n-1), capped (default 1 s) */
    double within_s;         /* must start within this after its predecessors (0: no limit) */
} lab_cfg_step;

typedef struct lab_cfg_objective {
    char *name;
    int maximize;
    char *from_step;         /* "measure_pl" of "measure_pl.quantum_yield" */
    char *from_value;        /* "quantum_yield" */
    char *unit;              /* may be NULL */
    int from_line, from_col; /* where `from` is in the file (validate's messages), 0 unknown */
} lab_cfg_objective;

typedef struct lab_cfg_device {
    char *name;
    char **capabilities;
    size_t n_capabilities;
    int capacity;            /* default 1 */
    char *key_path;          /* its public key file (security), or NULL */
    char key[LAB_KEY_Z85];   /* that key, Z85; "" when none or not read (stored configs) */
} lab_cfg_device;

/* A control client allowed in by security.clients. */
typedef struct lab_cfg_client {
    char *name;              /* recorded in the audit table as the actor */
    char *key_path;
    char key[LAB_KEY_Z85];
    int operator_role;       /* 1: operator (may steer); 0: viewer (status only) */
} lab_cfg_client;

/* A webhook of the notify section: what it is told (notify.h). */
typedef struct lab_cfg_notify {
    char *url;               /* http:// or https:// */
    unsigned events;         /* bit set of lab_notify_kind (notify_kind.h); default: all */
    double timeout_s;        /* one delivery attempt, connection included (default 5 s) */
    int retries;             /* extra attempts after a failure (default 5) */
    double backoff_s;        /* wait before retry n: backoff_s * 2^(n-1), capped (default 1 s) */
    int queue;               /* notifications waiting for it at most; the oldest are dropped (default 1000) */
    char *secret_path;       /* file whose contents sign the body (HMAC-SHA256), or NULL */
} lab_cfg_notify;

typedef struct lab_campaign_cfg {
    char *path;              /* as given */
    char *text;              /* the file's bytes, NUL-terminated */
    char sha256[65];         /* hex of text */

    char *name;
    uint64_t seed;
    char *operator_name;     /* default: the OS user */
    char *access;            /* open | shared | closed (default shared) */
    int export_control;
    int approve_each;        /* campaign.approve: each: proposals wait for an operator (approve.c) */
    long budget_experiments; /* required, >= 1 */
    double budget_hours;     /* 0: none */
    int has_stop_when;
    int stop_objective;      /* index into objectives */
    double stop_at_least;    /* NAN unless set */
    double stop_at_most;     /* NAN unless set */
    int brake_after;         /* failure brake: consecutive failures with one cause; 0: off (default 5) */
    char **exclusive;        /* campaign.exclusive: device names only this campaign uses while active */
    size_t n_exclusive;
    long max_campaigns;      /* lab config: campaigns active at once (0: no limit) */

    lab_space *space;        /* owned */

    lab_cfg_objective *objectives;
    size_t n_objectives;

    char *planner_kind;      /* default "sobol" */
    char *acquisition;       /* may be NULL */
    int batch;               /* experiments in flight (default 1) */
    int whole_batches;       /* planner.refill: false: the next batch once the last has ended */
    char *initial_kind;      /* may be NULL */
    int initial_count;

    lab_cfg_step *steps;     /* in a topological order (checked acyclic) */
    size_t n_steps;

    lab_cfg_device *devices;
    size_t n_devices;

    char *endpoint_devices;  /* default tcp://127.0.0.1:5560 */
    char *endpoint_control;  /* default tcp://127.0.0.1:5561 */
    char *hub;               /* default "<name>.db" beside the config file */
    char *hub_replicate_to;  /* hub.replicate_to: postgresql:// URL, or NULL */
    char *hub_lab;           /* hub.lab (NULL: the host name) */
    char *hub_group;         /* hub.group (NULL: the lab's id) */
    int hub_replicate_closed; /* hub.replicate_closed */
    /* prior: earlier experiments told to the planner first (all NULL: none) */
    char *prior_csv;         /* a CSV file (path resolved against the config's directory) */
    char *prior_hub;         /* or another hub ... */
    char *prior_campaign;    /* ... and its campaign */
    int heartbeat_ms;        /* default 1000 */
    int liveness;            /* default 3 */

    /* security: CURVE on both endpoints when secret_key_path is set (the
     * secret key itself is read when the orchestrator starts); without it,
     * plain mode, allowed only on loopback and ipc endpoints. */
    char *secret_key_path;
    lab_cfg_client *clients;
    size_t n_clients;

    lab_cfg_notify *notify;  /* webhooks told of brakes, pauses, e-stops, lost devices, the end */
    size_t n_notify;
} lab_campaign_cfg;

/* Load and check path. On success returns the config (caller destroys).
 * On failure returns NULL, writes every problem as one line
 * "file:line:col: message" to errs (may be NULL), and sets err to the first.
 */
lab_campaign_cfg *lab_config_load(const char *path, FILE *errs, lab_err *err);
/* The same from a string (tests); path is used in messages only. */
lab_campaign_cfg *lab_config_load_string(const char *path, const char *text, size_t len,
                                         FILE *errs, lab_err *err);
/* The same for the copy of a config that a hub keeps (review): the config
 * once ran, so limits added since (name lengths) do not apply. */
lab_campaign_cfg *lab_config_load_stored(const char *path, const char *text, size_t len,
                                         FILE *errs, lab_err *err);
void lab_config_destroy(lab_campaign_cfg **cfg);

/* A lab config (labloop lab LAB.yaml): lab.name, devices, endpoints, hub,
 * heartbeat, security and notify, read by the same parsers and with the
 * same key names as those sections of a campaign config. The result has
 * no space, objectives or workflow. NULL on failure, as lab_config_load. */
lab_campaign_cfg *lab_config_load_lab(const char *path, FILE *errs, lab_err *err);
/* A campaign submitted to a lab (text, len bytes; path names it in
 * messages): checked like a campaign config, except that it runs on lab's
 * devices (copied into it: every step's capability must be offered by a
 * lab device) and its own devices, endpoints, heartbeat, hub, security and
 * notify sections are ignored, each said in notes (n bytes, "" when none;
 * may be NULL). stored: the hub's copy of one that once ran. */
lab_campaign_cfg *lab_config_load_submitted(const char *path, const char *text, size_t len,
                                            const lab_campaign_cfg *lab, int stored, char *notes, size_t n_notes,
                                            FILE *errs, lab_err *err);

/* Index of a step by name, or -1. */
int lab_config_step(const lab_campaign_cfg *cfg, const char *name);

/* Print the reference of every config key (one markdown table per section,
 * from the loader's key tables) to out: the source of docs/CONFIG.md. */
void lab_config_print_keys(FILE *out);

#endif
