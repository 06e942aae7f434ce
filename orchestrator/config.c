/* The campaign config loader: campaign.yaml -> lab_campaign_cfg.
 *
 * Every key of every section lives in one table below (name, type, bounds,
 * default, help); the config schema engine (common/schema.c) checks
 * presence, types and bounds of each mapping against its table, section
 * code then builds the values, and the cross-field checks (workflow order
 * and cycles, objectives' steps, devices for every capability, template
 * variables, stop_when) run once the whole file is read. Problems are
 * collected, sorted by position and reported all together as
 * "file:line:col: message".
 * Not for: the simulated lab description (sim/) or worker configs; not a
 * YAML writer. docs/CONFIG.md mirrors the tables (lab_config_print_keys).
 */
#include "orchestrator/config.h"
#include "orchestrator/brake.h"
#include "common/duration.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/schema.h"
#include "common/ytree.h"
#include "protocols/envelope.h"
#include "planners/planner.h"

#include "orchestrator/notify_kind.h"
#include "planners/acquisition.h"
#include "common/banned.h"

/* ---- the key tables ----------------------------------------------------- */

typedef lab_schema_key s_key;

#define N NAN
/* Names go into attempt ids ("campaign/7/step/2", held in 256 bytes and
 * used as file names by workers' outboxes), the hub's file name and
 * ZeroMQ routing ids (a worker's name: at most 63 bytes, LAB_ID_MAX). */
#define S_CAMPAIGN_NAME_MAX 64
#define S_STEP_NAME_MAX 64
#define S_DEVICE_NAME_MAX (LAB_ID_MAX - 1)

static const s_key s_top_keys[] = {
    {"campaign", LAB_SK_MAP, 1, N, N, NULL, NULL, "name, seed, operator, access, budget, stop rule"},
    {"space", LAB_SK_LIST, 1, N, N, NULL, NULL, "the dimensions searched (at least one)"},
    {"constraints", LAB_SK_STRLIST, 0, N, N, NULL, "none", "linear inequalities over real/integer dimensions"},
    {"objectives", LAB_SK_LIST, 1, N, N, NULL, NULL, "what is optimised (1 to 4)"},
    {"planner", LAB_SK_MAP, 0, N, N, NULL, "{kind: sobol}", "how the next experiments are chosen"},
    {"workflow", LAB_SK_LIST, 1, N, N, NULL, NULL, "the steps of one experiment (a DAG)"},
    {"devices", LAB_SK_LIST, 1, N, N, NULL, NULL, "the devices the lab must have"},
    {"endpoints", LAB_SK_MAP, 0, N, N, NULL, "see endpoints", "ZeroMQ endpoints the orchestrator binds"},
    {"hub", LAB_SK_STR_OR_MAP, 0, N, N, NULL, "<campaign.name>.db",
     "SQLite data hub file (relative to the config file's directory; missing folders are made), "
     "or a mapping: file, replicate_to, lab, group, replicate_closed"},
    {"heartbeat", LAB_SK_MAP, 0, N, N, NULL, "{interval: 1s, liveness: 3}", "device liveness checking"},
    {"security", LAB_SK_MAP, 0, N, N, NULL, "none (plain mode)",
     "CURVE keys for both endpoints; required when an endpoint is not loopback or ipc"},
    {"prior", LAB_SK_MAP, 0, N, N, NULL, "none", "earlier experiments told to the planner before its first ask"},
    {"notify", LAB_SK_LIST, 0, N, N, NULL, "none",
     "webhooks told of brakes, pauses, e-stops, lost devices and the campaign's end"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

/* A lab config (labloop lab): the lab's own sections, named as in a
 * campaign config. */
static const s_key s_lab_top_keys[] = {
    {"lab", LAB_SK_MAP, 1, N, N, NULL, NULL, "the lab's name"},
    {"devices", LAB_SK_LIST, 1, N, N, NULL, NULL, "the lab's devices, shared by its campaigns"},
    {"endpoints", LAB_SK_MAP, 0, N, N, NULL, "see endpoints", "ZeroMQ endpoints the lab binds"},
    {"hub", LAB_SK_STR_OR_MAP, 0, N, N, NULL, "<lab.name>.db",
     "SQLite data hub file holding every campaign of the lab (relative to this file), or a mapping as in a "
     "campaign config"},
    {"heartbeat", LAB_SK_MAP, 0, N, N, NULL, "{interval: 1s, liveness: 3}", "device liveness checking"},
    {"security", LAB_SK_MAP, 0, N, N, NULL, "none (plain mode)",
     "CURVE keys for both endpoints; required when an endpoint is not loopback or ipc"},
    {"notify", LAB_SK_LIST, 0, N, N, NULL, "none",
     "webhooks told of brakes, pauses, e-stops, lost devices and campaigns' ends"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_lab_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "lab name, at most 64 characters: letters, digits, '.', '_', '-'"},
    {"max_campaigns", LAB_SK_INT, 0, 1, 10000, NULL, "unlimited",
     "campaigns active at once; a campaign submitted beyond it waits as queued (first in, first out)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_notify_keys[] = {
    {"url", LAB_SK_STR, 1, N, N, NULL, NULL, "where the JSON body is POSTed: an http:// or https:// URL"},
    {"events", LAB_SK_STRLIST, 0, N, N, NULL, "all five",
     "what it is told: brake, pause, estop, device.lost, end"},
    {"timeout", LAB_SK_DUR, 0, 0.1, 300, NULL, "5s",
     "longest one attempt may take, connecting included (duration); also the longest wait at exit"},
    {"retries", LAB_SK_INT, 0, 0, 100, NULL, "5", "extra attempts after a failure (no answer, an error, a status other than 2xx)"},
    {"backoff", LAB_SK_DUR, 0, 0.01, 600, NULL, "1s", "wait before a retry; doubles with each attempt (capped at 5 min)"},
    {"queue", LAB_SK_INT, 0, 1, 100000, NULL, "1000", "notifications waiting for it at most; when full the oldest is dropped"},
    {"secret", LAB_SK_STR, 0, N, N, NULL, "none",
     "file (mode 0600, relative to this file) whose contents sign each body: X-Labloop-Signature: sha256=HMAC"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_prior_keys[] = {
    {"csv", LAB_SK_STR, 0, N, N, NULL, NULL,
     "CSV file: a header naming every parameter and objective (optionally 'name [unit]'), "
     "one experiment a line, optional 'status' column (measured or failed); relative to the config"},
    {"hub", LAB_SK_STR, 0, N, N, NULL, NULL, "another hub (SQLite file, relative to the config)"},
    {"campaign", LAB_SK_STR, 0, N, N, NULL, NULL, "the campaign in that hub whose experiments are told"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_hub_keys[] = {
    {"file", LAB_SK_STR, 0, N, N, NULL, "<campaign.name>.db", "the SQLite data hub, as the plain form"},
    {"replicate_to", LAB_SK_STR, 0, N, N, NULL, "none",
     "postgresql:// URL of a shared hub the orchestrator pushes the hub to while it runs"},
    {"lab", LAB_SK_STR, 0, N, N, NULL, "the host name", "the lab's id on every replicated row"},
    {"group", LAB_SK_STR, 0, N, N, NULL, "the lab's id",
     "PostgreSQL role whose members may read the shared and closed rows"},
    {"replicate_closed", LAB_SK_BOOL, 0, N, N, NULL, "false",
     "replicate a campaign of access closed too (else it stays in the lab)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_campaign_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "campaign name, at most 64 characters: letters, digits, '.', '_', '-'"},
    {"seed", LAB_SK_INT, 0, 0, N, NULL, "1", "seed of the planner's random generator"},
    {"operator", LAB_SK_STR, 0, N, N, NULL, "the OS user", "who runs the campaign"},
    {"access", LAB_SK_ENUM, 0, N, N, "open|shared|closed", "shared", "data access class"},
    {"export_control", LAB_SK_BOOL, 0, N, N, NULL, "false", "the data fall under export control"},
    {"budget", LAB_SK_MAP, 1, N, N, NULL, NULL, "when to stop at the latest"},
    {"stop_when", LAB_SK_MAP, 0, N, N, NULL, "none", "stop early when an objective reaches a target"},
    {"brake", LAB_SK_STR_OR_MAP, 0, N, N, NULL, "{after: 5}",
     "failure brake: pause after N consecutive failed experiments with the same cause; off: never"},
    {"exclusive", LAB_SK_STRLIST, 0, N, N, NULL, "none",
     "devices (by name) no other campaign of the lab may use while this one is active"},
    {"approve", LAB_SK_ENUM, 0, N, N, "none|each", "none",
     "each: every proposal waits as 'proposed' until an operator approves or rejects it (labloop approve)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_brake_keys[] = {
    {"after", LAB_SK_INT, 1, 1, LAB_BRAKE_MAX_AFTER, NULL, "5",
     "consecutive failed experiments with the same cause that pause the campaign"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_budget_keys[] = {
    {"experiments", LAB_SK_INT, 1, 1, 10000000, NULL, NULL, "maximum number of experiments"},
    {"hours", LAB_SK_HOURS, 0, 0, 8760, NULL, "none",
     "maximum wall-clock time: a number of hours (48) or a duration (90m)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_stop_keys[] = {
    {"objective", LAB_SK_STR, 1, N, N, NULL, NULL, "name of an objective"},
    {"at_least", LAB_SK_NUM, 0, N, N, NULL, NULL, "stop when the objective is >= this (exactly one of at_least/at_most)"},
    {"at_most", LAB_SK_NUM, 0, N, N, NULL, NULL, "stop when the objective is <= this"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_dim_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "identifier ([A-Za-z_][A-Za-z0-9_]*), unique"},
    {"type", LAB_SK_ENUM, 1, N, N, "real|integer|categorical", NULL, "kind of dimension"},
    {"low", LAB_SK_NUM, 0, N, N, NULL, NULL, "lower bound, inclusive (real, integer: required)"},
    {"high", LAB_SK_NUM, 0, N, N, NULL, NULL, "upper bound, inclusive, above low (real, integer: required)"},
    {"unit", LAB_SK_STR, 0, N, N, NULL, "none", "unit, for display (real, integer)"},
    {"scale", LAB_SK_ENUM, 0, N, N, "linear|log", "linear", "log: sample uniformly in log(value); real only, low > 0"},
    {"values", LAB_SK_STRLIST, 0, N, N, NULL, NULL, "the choices (categorical: required, at least 2, unique)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_objective_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "objective name, unique"},
    {"goal", LAB_SK_ENUM, 1, N, N, "maximize|minimize", NULL, "direction"},
    {"from", LAB_SK_STR, 1, N, N, NULL, NULL, "STEP.VALUE: the result value of a workflow step"},
    {"unit", LAB_SK_STR, 0, N, N, NULL, "none", "unit, for display"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_planner_keys[] = {
    {"kind", LAB_SK_STR, 0, N, N, NULL, "sobol", "planner; one of the available kinds (labloop validate lists them)"},
    {"acquisition", LAB_SK_STR, 0, N, N, NULL, "the planner's own", "acquisition function (model-based planners)"},
    {"batch", LAB_SK_INT, 0, 1, 1024, NULL, "1", "experiments in flight at once"},
    {"refill", LAB_SK_BOOL, 0, N, N, NULL, "true",
     "true: a finished experiment's place is filled at once; false: whole batches, the next "
     "asked when every experiment of the last has ended"},
    {"initial", LAB_SK_MAP, 0, N, N, NULL, "none", "initial design before the planner's model"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_initial_keys[] = {
    {"kind", LAB_SK_ENUM, 1, N, N, "random|sobol", NULL, "initial design"},
    {"count", LAB_SK_INT, 1, 0, 100000, NULL, NULL, "points from the initial design"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_step_keys[] = {
    {"step", LAB_SK_STR, 1, N, N, NULL, NULL, "step name, unique, at most 64 characters: letters, digits, '_', '-'"},
    {"capability", LAB_SK_STR, 1, N, N, NULL, NULL, "what a device must offer to run it"},
    {"after", LAB_SK_STRLIST, 0, N, N, NULL, "none", "steps that must finish first (no cycles)"},
    {"params", LAB_SK_MAP, 0, N, N, NULL, "none",
     "parameters: literals, or exactly \"${dim}\" for a space dimension's value"},
    {"timeout", LAB_SK_DUR, 0, 0, 604800, NULL, "none", "longest an attempt may run (duration; at most 7d)"},
    {"retries", LAB_SK_INT, 0, 0, 10, NULL, "0", "extra attempts after a failure"},
    {"backoff", LAB_SK_DUR, 0, 0, 600, NULL, "1s", "wait before a retry; doubles with each attempt (capped at 10 min)"},
    {"within", LAB_SK_DUR, 0, 0, 604800, NULL, "none", "must start within this after its predecessors (at most 7d)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_device_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "device name, unique, at most 63 characters: letters, digits, '.', '_', '-'"},
    {"capabilities", LAB_SK_STRLIST, 1, N, N, NULL, NULL, "capabilities offered (at least one)"},
    {"capacity", LAB_SK_INT, 0, 1, 1000, NULL, "1", "steps it can run at once"},
    {"returns", LAB_SK_MAP, 0, N, N, NULL, "not declared", "values it returns per capability, {capability: [names]}; validate checks objectives' from against them"},
    {"key", LAB_SK_STR, 0, N, N, NULL, NULL,
     "the device's public key file (labloop keygen); required with security, relative to this file"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_endpoint_keys[] = {
    {"devices", LAB_SK_STR, 0, N, N, NULL, "tcp://127.0.0.1:5560", "ROUTER endpoint for device workers"},
    {"control", LAB_SK_STR, 0, N, N, NULL, "tcp://127.0.0.1:5561", "ROUTER endpoint for control clients"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_heartbeat_keys[] = {
    {"interval", LAB_SK_DUR, 0, 0.01, 3600, NULL, "1s", "heartbeat period (duration)"},
    {"liveness", LAB_SK_INT, 0, 1, 100, NULL, "3", "missed heartbeats before a device is lost"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_security_keys[] = {
    {"key", LAB_SK_STR, 1, N, N, NULL, NULL,
     "the orchestrator's secret key file (labloop keygen; mode 0600); its .pub goes to workers and clients"},
    {"clients", LAB_SK_LIST, 0, N, N, NULL, "none", "control clients allowed in, each {name, key, role}"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const s_key s_client_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "who holds the key; the audit table records it"},
    {"key", LAB_SK_STR, 1, N, N, NULL, NULL, "the client's public key file, relative to this file"},
    {"role", LAB_SK_ENUM, 0, N, N, "viewer|operator", "viewer",
     "viewer: status; operator: also pause, resume, abort, estop, clear-estop"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

#undef N

static const struct {
    const char *section;
    const s_key *keys;
} s_sections[] = {
    {"(top level)", s_top_keys},
    {"campaign", s_campaign_keys},
    {"campaign.budget", s_budget_keys},
    {"campaign.stop_when", s_stop_keys},
    {"campaign.brake", s_brake_keys},
    {"space[]", s_dim_keys},
    {"objectives[]", s_objective_keys},
    {"planner", s_planner_keys},
    {"planner.initial", s_initial_keys},
    {"workflow[]", s_step_keys},
    {"devices[]", s_device_keys},
    {"endpoints", s_endpoint_keys},
    {"heartbeat", s_heartbeat_keys},
    {"hub", s_hub_keys},
    {"security", s_security_keys},
    {"security.clients[]", s_client_keys},
    {"prior", s_prior_keys},
    {"notify[]", s_notify_keys},
    {"lab config: (top level)", s_lab_top_keys},
    {"lab config: lab", s_lab_keys},
};

/* ---- problems, collected then reported in file order --------------------- */

typedef struct s_ctx {
    lab_schema sc;               /* the problems found */
    lab_ydoc *d;
    const char *path;
    lab_campaign_cfg *cfg;
    /* every dimension name written, even of dimensions that failed, so a
     * template naming a broken dimension does not add a second error */
    const char **dim_names;
    yaml_node_t **dim_nodes;
    size_t n_dim_names;
    int space_ok;
    yaml_node_t **step_nodes;    /* per step, in file order */
    yaml_node_t **step_name_nodes;
    yaml_node_t **objective_from_nodes;
    yaml_node_t *exclusive_node; /* campaign.exclusive, checked against the devices */
    int stored;                  /* a hub's copy of a config that once ran: no length limits */
    const lab_campaign_cfg *lab; /* a campaign submitted to this lab: its devices are the lab's */
    char *notes;                 /* what of a submitted campaign was ignored ("" none) */
    size_t n_notes;
} s_ctx;

static char *s_dup(s_ctx *c, const char *s)
{
    if (!s)
        return NULL;
    char *r = strdup(s);
    if (!r)
        c->sc.oom = 1;
    return r;
}

static void *s_calloc(s_ctx *c, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        c->sc.oom = 1;
    return p;
}

/* ---- helpers -------------------------------------------------------------- */

static int s_is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* Names used as file names or routing ids: letters, digits and extra. */
static int s_is_name(const char *s, const char *extra)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

/* How messages name item i of a list: "device 'ot2'" when it has a name
 * (its key field), else "devices[3]". */
static const char *s_item_label(s_ctx *c, yaml_node_t *item, const char *key, const char *kind,
                                const char *list, size_t i, char *buf, size_t n)
{
    const char *nm = lab_yscalar(lab_ymap_get(c->d, item, key));
    if (nm)
        snprintf(buf, n, "%s '%s'", kind, nm);
    else
        snprintf(buf, n, "%s[%zu]", list, i);
    return buf;
}

/* A string list (or one scalar) into a new array of copies. */
static char **s_strlist(s_ctx *c, yaml_node_t *v, size_t *n)
{
    *n = 0;
    if (!v)
        return NULL;
    if (lab_yscalar(v)) {
        char **r = s_calloc(c, 1, sizeof *r);
        if (r) {
            r[0] = s_dup(c, lab_yscalar(v));
            *n = 1;
        }
        return r;
    }
    size_t len = lab_yseq_len(v);
    char **r = s_calloc(c, len, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < len; i++)
        r[i] = s_dup(c, lab_yscalar(lab_yseq_at(c->d, v, i)));
    *n = len;
    return r;
}

static yaml_node_t *s_strlist_node(s_ctx *c, yaml_node_t *v, size_t i)
{
    return lab_yscalar(v) ? v : lab_yseq_at(c->d, v, i);
}

static void s_free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- sections ------------------------------------------------------------- */

static void s_load_campaign(s_ctx *c, yaml_node_t *m, yaml_node_t **stop_node)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_campaign_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    *stop_node = NULL;
    if (!lab_schema_check_map(&c->sc, m, K, "campaign", v))
        return;
    yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "name");
    if (name) {
        if (!s_is_name(lab_yscalar(name), "._-"))
            lab_schema_err(&c->sc, name, "campaign.name '%s' may hold only letters, digits, '.', '_' and '-' "
                  "(it names the data hub file)", lab_yscalar(name));
        else if (!strcmp(lab_yscalar(name), ".") || !strcmp(lab_yscalar(name), ".."))
            lab_schema_err(&c->sc, name, "campaign.name must not be '.' or '..' (it begins every attempt id, and "
                  "workers refuse an id with such a segment)");
        else if (!c->stored && strlen(lab_yscalar(name)) > S_CAMPAIGN_NAME_MAX)
            lab_schema_err(&c->sc, name, "campaign.name is %zu characters long; at most %d (it names the data hub "
                  "file and every attempt)", strlen(lab_yscalar(name)), S_CAMPAIGN_NAME_MAX);
        else
            cfg->name = s_dup(c, lab_yscalar(name));
    }
    cfg->seed = (uint64_t)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "seed"), 1);
    if (LAB_SCHEMA_SLOT(v, K, "operator"))
        cfg->operator_name = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "operator")));
    if (LAB_SCHEMA_SLOT(v, K, "access"))
        cfg->access = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "access")));
    if (LAB_SCHEMA_SLOT(v, K, "export_control"))
        lab_yto_bool(LAB_SCHEMA_SLOT(v, K, "export_control"), &cfg->export_control);
    if (LAB_SCHEMA_SLOT(v, K, "approve"))
        cfg->approve_each = !strcmp(lab_yscalar(LAB_SCHEMA_SLOT(v, K, "approve")), "each");

    yaml_node_t *bv[LAB_SCHEMA_MAXKEYS];
    yaml_node_t *budget = LAB_SCHEMA_SLOT(v, K, "budget");
    if (budget && lab_schema_check_map(&c->sc, budget, s_budget_keys, "budget", bv)) {
        cfg->budget_experiments = lab_schema_long(LAB_SCHEMA_SLOT(bv, s_budget_keys, "experiments"), 0);
        yaml_node_t *h = LAB_SCHEMA_SLOT(bv, s_budget_keys, "hours");
        if (h && lab_yto_double(h, &cfg->budget_hours) != 0)
            cfg->budget_hours = lab_schema_seconds(h, 0) / 3600.0;
    }
    *stop_node = LAB_SCHEMA_SLOT(v, K, "stop_when");

    cfg->brake_after = LAB_BRAKE_DEFAULT_AFTER;
    yaml_node_t *brake = LAB_SCHEMA_SLOT(v, K, "brake");
    if (brake && lab_yscalar(brake)) {
        int on;
        if (lab_yto_bool(brake, &on) == 0 && !on)
            cfg->brake_after = 0;
        else
            lab_schema_err(&c->sc, brake, "campaign.brake must be off or a mapping such as {after: 5}, got '%s'",
                  lab_yscalar(brake));
    } else if (brake) {
        yaml_node_t *kv[LAB_SCHEMA_MAXKEYS];
        if (lab_schema_check_map(&c->sc, brake, s_brake_keys, "brake", kv))
            cfg->brake_after = (int)lab_schema_long(LAB_SCHEMA_SLOT(kv, s_brake_keys, "after"), LAB_BRAKE_DEFAULT_AFTER);
    }
    c->exclusive_node = LAB_SCHEMA_SLOT(v, K, "exclusive");
    cfg->exclusive = s_strlist(c, c->exclusive_node, &cfg->n_exclusive);
}

/* After the objectives are known. */
static void s_load_stop(s_ctx *c, yaml_node_t *m)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_stop_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!m || !lab_schema_check_map(&c->sc, m, K, "stop_when", v))
        return;
    yaml_node_t *obj = LAB_SCHEMA_SLOT(v, K, "objective"), *lo = LAB_SCHEMA_SLOT(v, K, "at_least"),
                *hi = LAB_SCHEMA_SLOT(v, K, "at_most");
    int ok = 1;
    /* presence, not validity: a bad value already has its own error */
    int has_lo = lab_ymap_get(c->d, m, "at_least") != NULL;
    int has_hi = lab_ymap_get(c->d, m, "at_most") != NULL;
    if (has_lo == has_hi) {
        lab_schema_err(&c->sc, m, "stop_when needs exactly one of 'at_least' and 'at_most'");
        ok = 0;
    }
    if (obj) {
        const char *on = lab_yscalar(obj);
        int idx = -1;
        const char *names[LAB_PLANNER_MAX_OBJECTIVES + 1] = {0};
        for (size_t i = 0; i < cfg->n_objectives; i++) {
            names[i < LAB_PLANNER_MAX_OBJECTIVES ? i : LAB_PLANNER_MAX_OBJECTIVES] =
                cfg->objectives[i].name;
            if (cfg->objectives[i].name && strcmp(cfg->objectives[i].name, on) == 0)
                idx = (int)i;
        }
        if (idx < 0) {
            char hint[128];
            size_t nn = cfg->n_objectives < LAB_PLANNER_MAX_OBJECTIVES ? cfg->n_objectives
                                                                      : LAB_PLANNER_MAX_OBJECTIVES;
            lab_schema_err(&c->sc, obj, "stop_when.objective '%s' is not an objective%s", on,
                  lab_schema_hint(hint, sizeof hint, on, names, nn));
            ok = 0;
        }
        cfg->stop_objective = idx;
    } else {
        ok = 0;
    }
    if (ok && (lo || hi)) {
        cfg->has_stop_when = 1;
        cfg->stop_at_least = lo ? lab_schema_double(lo, NAN) : NAN;
        cfg->stop_at_most = hi ? lab_schema_double(hi, NAN) : NAN;
    }
}

static int s_dim_seen(s_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_dim_names; i++)
        if (strcmp(c->dim_names[i], name) == 0)
            return (int)i;
    return -1;
}

static void s_load_dim(s_ctx *c, yaml_node_t *item, size_t idx)
{
    const s_key *K = s_dim_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    char sec[128];
    s_item_label(c, item, "name", "space", "space", idx, sec, sizeof sec);
    if (!lab_schema_check_map(&c->sc, item, K, sec, v)) {
        c->space_ok = 0;
        return;
    }
    yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "name"), *type = LAB_SCHEMA_SLOT(v, K, "type"), *low = LAB_SCHEMA_SLOT(v, K, "low"),
                *high = LAB_SCHEMA_SLOT(v, K, "high"), *unit = LAB_SCHEMA_SLOT(v, K, "unit"),
                *scale = LAB_SCHEMA_SLOT(v, K, "scale"), *values = LAB_SCHEMA_SLOT(v, K, "values");
    int ok = name && type;
    if (name) {
        const char *n = lab_yscalar(name);
        int prev = s_dim_seen(c, n);
        if (!s_is_ident(n)) {
            lab_schema_err(&c->sc, name, "%s: name must be an identifier (letters, digits, '_'; not starting "
                  "with a digit)", sec);
            ok = 0;
        } else if (prev >= 0) {
            lab_schema_err(&c->sc, name, "duplicate dimension name '%s' (first at line %d)", n,
                  lab_yline(c->dim_nodes[prev]));
            ok = 0;
        } else {
            c->dim_names[c->n_dim_names] = n;
            c->dim_nodes[c->n_dim_names++] = name;
        }
    }
    if (!type) {
        c->space_ok = 0;
        return;
    }
    const char *t = lab_yscalar(type);
    int categorical = strcmp(t, "categorical") == 0, integer = strcmp(t, "integer") == 0;
    int has_low = lab_ymap_get(c->d, item, "low") != NULL;
    int has_high = lab_ymap_get(c->d, item, "high") != NULL;
    int log_scale = scale && strcmp(lab_yscalar(scale), "log") == 0;
    lab_err e = {0};
    if (categorical) {
        if (has_low || has_high) {
            lab_schema_err(&c->sc, item, "%s: a categorical dimension takes 'values', not 'low'/'high'", sec);
            ok = 0;
        }
        if (scale || unit) {
            lab_schema_err(&c->sc, scale ? scale : unit, "%s: '%s' is not for categorical dimensions", sec,
                  scale ? "scale" : "unit");
            ok = 0;
        }
        if (!lab_ymap_get(c->d, item, "values")) {
            lab_schema_err(&c->sc, item, "%s: a categorical dimension needs 'values' (a list of choices)", sec);
            ok = 0;
        } else if (values) {
            size_t n;
            char **ch = s_strlist(c, values, &n);
            if (n < 2) {
                lab_schema_err(&c->sc, values, "%s: values needs at least 2 choices, got %zu", sec, n);
                ok = 0;
            }
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < i; j++)
                    if (ch[i] && ch[j] && strcmp(ch[i], ch[j]) == 0) {
                        lab_schema_err(&c->sc, s_strlist_node(c, values, i), "%s: duplicate choice '%s'", sec,
                              ch[i]);
                        ok = 0;
                    }
            if (ok && lab_space_add_categorical(c->cfg->space, lab_yscalar(name),
                                                (const char *const *)ch, n, &e) != 0) {
                lab_schema_err(&c->sc, item, "%s: %s", sec, e.msg);
                ok = 0;
            }
            s_free_strv(ch, n);
        } else {
            ok = 0;
        }
    } else {
        if (values) {
            lab_schema_err(&c->sc, values, "%s: 'values' is only for categorical dimensions", sec);
            ok = 0;
        }
        if (!has_low || !has_high) {
            lab_schema_err(&c->sc, item, "%s: a %s dimension needs 'low' and 'high'", sec, t);
            ok = 0;
        }
        double lo = lab_schema_double(low, NAN), hi = lab_schema_double(high, NAN);
        long llo = 0, lhi = 0;
        if (integer) {
            if (scale && log_scale) {
                lab_schema_err(&c->sc, scale, "%s: scale: log is only for real dimensions", sec);
                ok = 0;
            }
            if (low && lab_yto_long(low, &llo) != 0) {
                lab_schema_err(&c->sc, low, "%s: low must be an integer, got '%s'", sec, lab_yscalar(low));
                ok = 0;
                lo = NAN;
            }
            if (high && lab_yto_long(high, &lhi) != 0) {
                lab_schema_err(&c->sc, high, "%s: high must be an integer, got '%s'", sec, lab_yscalar(high));
                ok = 0;
                hi = NAN;
            }
        }
        if (!isnan(lo) && !isnan(hi) && lo >= hi) {
            lab_schema_err(&c->sc, low, "%s: 'low' (%s) must be below 'high' (%s)", sec, lab_yscalar(low),
                  lab_yscalar(high));
            ok = 0;
        } else if (log_scale && !isnan(lo) && lo <= 0) {
            lab_schema_err(&c->sc, low, "%s: 'low' (%s) must be above 0 on a log scale", sec, lab_yscalar(low));
            ok = 0;
        }
        if (!low || !high)
            ok = 0;
        if (ok) {
            int rc = integer ? lab_space_add_integer(c->cfg->space, lab_yscalar(name), llo, lhi,
                                                     unit ? lab_yscalar(unit) : NULL, &e)
                             : lab_space_add_real(c->cfg->space, lab_yscalar(name), lo, hi,
                                                  log_scale, unit ? lab_yscalar(unit) : NULL, &e);
            if (rc != 0) {
                lab_schema_err(&c->sc, item, "%s: %s", sec, e.msg);
                ok = 0;
            }
        }
    }
    if (!ok)
        c->space_ok = 0;
}

static void s_load_space(s_ctx *c, yaml_node_t *seq, yaml_node_t *constraints)
{
    c->space_ok = 1;
    if (!seq) {
        c->space_ok = 0;
        return;
    }
    size_t n = lab_yseq_len(seq);
    if (n == 0) {
        lab_schema_err(&c->sc, seq, "space needs at least one dimension");
        c->space_ok = 0;
    }
    c->dim_names = s_calloc(c, n, sizeof *c->dim_names);
    c->dim_nodes = s_calloc(c, n, sizeof *c->dim_nodes);
    if (!c->dim_names || !c->dim_nodes)
        return;
    for (size_t i = 0; i < n; i++)
        s_load_dim(c, lab_yseq_at(c->d, seq, i), i);
    /* A constraint naming a dimension that failed would only repeat that
     * error, so constraints are checked against a complete space only. */
    if (!constraints || !c->space_ok)
        return;
    size_t nc = lab_yscalar(constraints) ? 1 : lab_yseq_len(constraints);
    for (size_t i = 0; i < nc; i++) {
        yaml_node_t *cn = s_strlist_node(c, constraints, i);
        lab_err e = {0};
        if (lab_space_add_constraint(c->cfg->space, lab_yscalar(cn), &e) != 0) {
            /* the space's message may already quote the constraint */
            if (strstr(e.msg, lab_yscalar(cn)))
                lab_schema_err(&c->sc, cn, "%s", e.msg);
            else
                lab_schema_err(&c->sc, cn, "constraint '%s': %s", lab_yscalar(cn), e.msg);
        }
    }
}

static void s_load_objectives(s_ctx *c, yaml_node_t *seq)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_objective_keys;
    if (!seq)
        return;
    size_t n = lab_yseq_len(seq);
    if (n == 0)
        lab_schema_err(&c->sc, seq, "objectives needs at least one objective");
    if (n > LAB_PLANNER_MAX_OBJECTIVES)
        lab_schema_err(&c->sc, seq, "at most %d objectives are supported, got %zu", LAB_PLANNER_MAX_OBJECTIVES, n);
    cfg->objectives = s_calloc(c, n, sizeof *cfg->objectives);
    c->objective_from_nodes = s_calloc(c, n, sizeof *c->objective_from_nodes);
    yaml_node_t **name_nodes = s_calloc(c, n, sizeof *name_nodes);
    if (!cfg->objectives || !c->objective_from_nodes || !name_nodes) {
        free(name_nodes);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = lab_yseq_at(c->d, seq, i), *v[LAB_SCHEMA_MAXKEYS];
        char sec[128];
        s_item_label(c, item, "name", "objective", "objectives", i, sec, sizeof sec);
        lab_cfg_objective *o = &cfg->objectives[cfg->n_objectives++];
        if (!lab_schema_check_map(&c->sc, item, K, sec, v))
            continue;
        yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "name"), *goal = LAB_SCHEMA_SLOT(v, K, "goal"),
                    *from = LAB_SCHEMA_SLOT(v, K, "from"), *unit = LAB_SCHEMA_SLOT(v, K, "unit");
        if (name) {
            for (size_t j = 0; j < i; j++)
                if (name_nodes[j] && strcmp(lab_yscalar(name_nodes[j]), lab_yscalar(name)) == 0) {
                    lab_schema_err(&c->sc, name, "duplicate objective name '%s' (first at line %d)",
                          lab_yscalar(name), lab_yline(name_nodes[j]));
                    name = NULL;
                    break;
                }
        }
        if (name) {
            name_nodes[i] = name;
            o->name = s_dup(c, lab_yscalar(name));
        }
        o->maximize = goal && strcmp(lab_yscalar(goal), "maximize") == 0;
        if (unit)
            o->unit = s_dup(c, lab_yscalar(unit));
        if (from) {
            const char *f = lab_yscalar(from), *dot = strchr(f, '.');
            if (!dot || dot == f || !dot[1]) {
                lab_schema_err(&c->sc, from, "%s: from must be STEP.VALUE (e.g. measure_pl.quantum_yield), got '%s'",
                      sec, f);
            } else {
                o->from_step = strndup(f, (size_t)(dot - f));
                o->from_value = s_dup(c, dot + 1);
                if (!o->from_step)
                    c->sc.oom = 1;
                c->objective_from_nodes[i] = from;
                o->from_line = lab_yline(from);
                o->from_col = lab_ycol(from);
            }
        }
    }
    free(name_nodes);
}

static void s_load_planner(s_ctx *c, yaml_node_t *m)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_planner_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    cfg->batch = 1;
    if (!m || !lab_schema_check_map(&c->sc, m, K, "planner", v)) {
        cfg->planner_kind = s_dup(c, "sobol");
        return;
    }
    yaml_node_t *kind = LAB_SCHEMA_SLOT(v, K, "kind");
    if (kind) {
        const char *k = lab_yscalar(kind);
        const char *const *kinds = lab_planner_kinds();
        size_t nk = 0;
        int found = 0;
        char list[256] = "";
        size_t used = 0;
        for (; kinds && kinds[nk]; nk++) {
            if (strcmp(kinds[nk], k) == 0)
                found = 1;
            int w = snprintf(list + used, sizeof list - used, "%s%s", nk ? ", " : "", kinds[nk]);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        if (!found) {
            char hint[128];
            lab_schema_err(&c->sc, kind, "planner.kind '%s' is not available; available kinds: %s%s", k, list,
                  lab_schema_hint(hint, sizeof hint, k, kinds, nk));
        } else {
            cfg->planner_kind = s_dup(c, k);
        }
    } else {
        cfg->planner_kind = s_dup(c, "sobol");
    }
    if (LAB_SCHEMA_SLOT(v, K, "acquisition"))
        cfg->acquisition = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "acquisition")));
    cfg->batch = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "batch"), 1);
    int refill = 1;
    if (LAB_SCHEMA_SLOT(v, K, "refill") && lab_yto_bool(LAB_SCHEMA_SLOT(v, K, "refill"), &refill) == 0)
        cfg->whole_batches = !refill;
    yaml_node_t *init = LAB_SCHEMA_SLOT(v, K, "initial"), *iv[LAB_SCHEMA_MAXKEYS];
    if (init && lab_schema_check_map(&c->sc, init, s_initial_keys, "planner.initial", iv)) {
        yaml_node_t *ik = LAB_SCHEMA_SLOT(iv, s_initial_keys, "kind");
        if (ik)
            cfg->initial_kind = s_dup(c, lab_yscalar(ik));
        cfg->initial_count = (int)lab_schema_long(LAB_SCHEMA_SLOT(iv, s_initial_keys, "count"), 0);
    }
}

/* "${name}" -> name (into buf); 1 when s is exactly one template. */
static int s_template(const char *s, char *buf, size_t n)
{
    size_t len = strlen(s);
    if (len < 4 || strncmp(s, "${", 2) != 0 || s[len - 1] != '}')
        return 0;
    if (memchr(s + 2, '}', len - 3) || strstr(s + 2, "${"))
        return 0;
    snprintf(buf, n, "%.*s", (int)(len - 3), s + 2);
    return 1;
}

static void s_load_params(s_ctx *c, lab_cfg_step *st, yaml_node_t *m, const char *sec)
{
    size_t n = lab_ymap_len(m);
    st->params = s_calloc(c, n, sizeof *st->params);
    if (!st->params)
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *kn, *vn;
        lab_ymap_pair(c->d, m, i, &kn, &vn);
        const char *key = lab_yscalar(kn), *val = lab_yscalar(vn);
        if (!key || !*key) {
            lab_schema_err(&c->sc, kn, "%s: parameter names must be plain names", sec);
            continue;
        }
        for (size_t j = 0; j < st->n_params; j++)
            if (strcmp(st->params[j].name, key) == 0) {
                lab_schema_err(&c->sc, kn, "%s: duplicate parameter '%s'", sec, key);
                key = NULL;
                break;
            }
        if (!key)
            continue;
        if (!val) {
            lab_schema_err(&c->sc, vn, "%s: params.%s must be a scalar (a literal or \"${dimension}\"), got %s",
                  sec, key, lab_ykind(vn));
            continue;
        }
        char dim[128];
        lab_cfg_param *p = &st->params[st->n_params];
        p->dim = -1;
        if (s_template(val, dim, sizeof dim)) {
            int idx = lab_space_find(c->cfg->space, dim);
            if (idx < 0 && s_dim_seen(c, dim) < 0) {
                char hint[128];
                lab_schema_err(&c->sc, vn, "%s: params.%s refers to unknown dimension '%s'%s", sec, key, dim,
                      lab_schema_hint(hint, sizeof hint, dim, c->dim_names, c->n_dim_names));
                continue;
            }
            p->dim = idx;
        } else if (strstr(val, "${")) {
            lab_schema_err(&c->sc, vn, "%s: params.%s: '%s' is not a whole template; write exactly "
                  "\"${dimension}\" or a literal without \"${\"", sec, key, val);
            continue;
        } else {
            p->literal = s_dup(c, val);
        }
        p->name = s_dup(c, key);
        st->n_params++;
    }
}

static void s_load_workflow(s_ctx *c, yaml_node_t *seq, lab_cfg_step **steps_out, size_t *n_out)
{
    const s_key *K = s_step_keys;
    *steps_out = NULL;
    *n_out = 0;
    if (!seq)
        return;
    size_t n = lab_yseq_len(seq);
    if (n == 0)
        lab_schema_err(&c->sc, seq, "workflow needs at least one step");
    lab_cfg_step *steps = s_calloc(c, n, sizeof *steps);
    c->step_nodes = s_calloc(c, n, sizeof *c->step_nodes);
    c->step_name_nodes = s_calloc(c, n, sizeof *c->step_name_nodes);
    if (!steps || !c->step_nodes || !c->step_name_nodes) {
        free(steps);
        return;
    }
    *steps_out = steps;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = lab_yseq_at(c->d, seq, i), *v[LAB_SCHEMA_MAXKEYS];
        lab_cfg_step *st = &steps[i];
        c->step_nodes[i] = item;
        char sec[128];
        s_item_label(c, item, "step", "step", "workflow", i, sec, sizeof sec);
        if (!lab_schema_check_map(&c->sc, item, K, sec, v))
            continue;
        yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "step");
        if (name) {
            const char *s = lab_yscalar(name);
            if (!s_is_name(s, "_-")) {
                lab_schema_err(&c->sc, name, "%s: step names may hold only letters, digits, '_' and '-'", sec);
                name = NULL;
            } else if (!c->stored && strlen(s) > S_STEP_NAME_MAX) {
                lab_schema_err(&c->sc, name, "%s: the name is %zu characters long; at most %d", sec, strlen(s),
                      S_STEP_NAME_MAX);
                name = NULL;
            }
            for (size_t j = 0; name && j < i; j++)
                if (c->step_name_nodes[j] && strcmp(lab_yscalar(c->step_name_nodes[j]), s) == 0) {
                    lab_schema_err(&c->sc, name, "duplicate step name '%s' (first at line %d)", s,
                          lab_yline(c->step_name_nodes[j]));
                    name = NULL;
                }
        }
        if (name) {
            c->step_name_nodes[i] = name;
            st->name = s_dup(c, lab_yscalar(name));
        }
        if (LAB_SCHEMA_SLOT(v, K, "capability"))
            st->capability = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "capability")));
        st->after = s_strlist(c, LAB_SCHEMA_SLOT(v, K, "after"), &st->n_after);
        if (LAB_SCHEMA_SLOT(v, K, "params"))
            s_load_params(c, st, LAB_SCHEMA_SLOT(v, K, "params"), sec);
        st->timeout_s = lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "timeout"), 0);
        st->within_s = lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "within"), 0);
        st->retries = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "retries"), 0);
        st->backoff_s = lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "backoff"), 1.0);
    }
}

/* A path named in the config: relative ones are relative to the config
 * file's directory. Caller frees. */
static char *s_rel_path(s_ctx *c, const char *file)
{
    const char *slash = strrchr(c->path, '/');
    if (file[0] == '/' || !slash)
        return s_dup(c, file);
    size_t dl = (size_t)(slash - c->path) + 1;
    size_t len = dl + strlen(file) + 1;
    char *p = malloc(len);
    if (!p) {
        c->sc.oom = 1;
        return NULL;
    }
    snprintf(p, len, "%.*s%s", (int)dl, c->path, file);
    return p;
}

/* prior: {csv: FILE} or {hub: FILE, campaign: NAME}. */
static void s_load_prior(s_ctx *c, yaml_node_t *node)
{
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!node || !lab_schema_check_map(&c->sc, node, s_prior_keys, "prior", v))
        return;
    yaml_node_t *csv = LAB_SCHEMA_SLOT(v, s_prior_keys, "csv"), *hub = LAB_SCHEMA_SLOT(v, s_prior_keys, "hub"),
                *camp = LAB_SCHEMA_SLOT(v, s_prior_keys, "campaign");
    if (!!csv == !!hub) {
        lab_schema_err(&c->sc, node, "prior needs exactly one of csv or hub");
        return;
    }
    if (hub && !camp) {
        lab_schema_err(&c->sc, node, "prior: hub needs campaign (the campaign whose experiments are told)");
        return;
    }
    if (csv && camp) {
        lab_schema_err(&c->sc, camp, "prior: campaign goes with hub, not csv");
        return;
    }
    if (csv)
        c->cfg->prior_csv = s_rel_path(c, lab_yscalar(csv));
    else {
        c->cfg->prior_hub = s_rel_path(c, lab_yscalar(hub));
        c->cfg->prior_campaign = s_dup(c, lab_yscalar(camp));
    }
}

/* A public key file named at node n into path/key. A hub's stored copy of
 * a config does not read files (they may be gone; the run is over). */
static void s_public_key(s_ctx *c, yaml_node_t *n, const char *what, char **path, char key[LAB_KEY_Z85])
{
    *path = s_rel_path(c, lab_yscalar(n));
    if (!*path || c->stored)
        return;
    lab_err e = {0};
    if (lab_keys_read_public(*path, key, &e) < 0)
        lab_schema_err(&c->sc, n, "%s: %s", what, e.msg);
}

static void s_load_devices(s_ctx *c, yaml_node_t *seq)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_device_keys;
    if (!seq)
        return;
    size_t n = lab_yseq_len(seq);
    if (n == 0)
        lab_schema_err(&c->sc, seq, "devices needs at least one device");
    cfg->devices = s_calloc(c, n, sizeof *cfg->devices);
    yaml_node_t **name_nodes = s_calloc(c, n, sizeof *name_nodes);
    if (!cfg->devices || !name_nodes) {
        free(name_nodes);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = lab_yseq_at(c->d, seq, i), *v[LAB_SCHEMA_MAXKEYS];
        char sec[128];
        s_item_label(c, item, "name", "device", "devices", i, sec, sizeof sec);
        lab_cfg_device *dv = &cfg->devices[cfg->n_devices++];
        dv->capacity = 1;
        if (!lab_schema_check_map(&c->sc, item, K, sec, v))
            continue;
        yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "name");
        if (name) {
            const char *s = lab_yscalar(name);
            if (!s_is_name(s, "._-")) {
                lab_schema_err(&c->sc, name, "%s: device names may hold only letters, digits, '.', '_' and '-'",
                      sec);
                name = NULL;
            } else if (!c->stored && strlen(s) > S_DEVICE_NAME_MAX) {
                lab_schema_err(&c->sc, name, "%s: the name is %zu characters long; at most %d (a worker's name)",
                      sec, strlen(s), S_DEVICE_NAME_MAX);
                name = NULL;
            }
            for (size_t j = 0; name && j < i; j++)
                if (name_nodes[j] && strcmp(lab_yscalar(name_nodes[j]), s) == 0) {
                    lab_schema_err(&c->sc, name, "duplicate device name '%s' (first at line %d)", s,
                          lab_yline(name_nodes[j]));
                    name = NULL;
                }
        }
        if (name) {
            name_nodes[i] = name;
            dv->name = s_dup(c, lab_yscalar(name));
        }
        yaml_node_t *caps = LAB_SCHEMA_SLOT(v, K, "capabilities");
        if (caps && !lab_yscalar(caps) && lab_yseq_len(caps) == 0)
            lab_schema_err(&c->sc, caps, "%s: capabilities needs at least one capability", sec);
        dv->capabilities = s_strlist(c, caps, &dv->n_capabilities);
        dv->capacity = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "capacity"), 1);
        if (LAB_SCHEMA_SLOT(v, K, "key"))
            s_public_key(c, LAB_SCHEMA_SLOT(v, K, "key"), sec, &dv->key_path, dv->key);
    }
    free(name_nodes);
}

static void s_load_endpoints(s_ctx *c, yaml_node_t *m)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_endpoint_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (m && lab_schema_check_map(&c->sc, m, K, "endpoints", v)) {
        for (size_t i = 0; K[i].name; i++)
            if (v[i] && !strstr(lab_yscalar(v[i]), "://")) {
                lab_schema_err(&c->sc, v[i], "endpoints.%s must be a ZeroMQ endpoint such as "
                      "tcp://127.0.0.1:5560, got '%s'", K[i].name, lab_yscalar(v[i]));
                v[i] = NULL;
            }
        if (LAB_SCHEMA_SLOT(v, K, "devices"))
            cfg->endpoint_devices = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "devices")));
        if (LAB_SCHEMA_SLOT(v, K, "control"))
            cfg->endpoint_control = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "control")));
    }
    if (!cfg->endpoint_devices)
        cfg->endpoint_devices = s_dup(c, "tcp://127.0.0.1:5560");
    if (!cfg->endpoint_control)
        cfg->endpoint_control = s_dup(c, "tcp://127.0.0.1:5561");
}

static void s_load_heartbeat(s_ctx *c, yaml_node_t *m)
{
    const s_key *K = s_heartbeat_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    c->cfg->heartbeat_ms = 1000;
    c->cfg->liveness = 3;
    if (!m || !lab_schema_check_map(&c->sc, m, K, "heartbeat", v))
        return;
    c->cfg->heartbeat_ms = (int)lround(lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "interval"), 1.0) * 1000.0);
    c->cfg->liveness = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "liveness"), 3);
}

/* hub: {file, replicate_to, ...}: the replication settings; returns the
 * file's node (NULL: the default file name). */
static yaml_node_t *s_load_hub_map(s_ctx *c, yaml_node_t *m)
{
    const s_key *K = s_hub_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    lab_campaign_cfg *cfg = c->cfg;
    if (!lab_schema_check_map(&c->sc, m, K, "hub", v))
        return NULL;
    yaml_node_t *url = LAB_SCHEMA_SLOT(v, K, "replicate_to");
    if (url) {
        const char *u = lab_yscalar(url);
        if (strncmp(u, "postgresql://", 13) != 0 && strncmp(u, "postgres://", 11) != 0)
            lab_schema_err(&c->sc, url, "hub.replicate_to must be a postgresql:// URL, got '%s'", u);
        else
            cfg->hub_replicate_to = s_dup(c, u);
    }
    if (LAB_SCHEMA_SLOT(v, K, "lab"))
        cfg->hub_lab = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "lab")));
    if (LAB_SCHEMA_SLOT(v, K, "group"))
        cfg->hub_group = s_dup(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "group")));
    if (LAB_SCHEMA_SLOT(v, K, "replicate_closed"))
        lab_yto_bool(LAB_SCHEMA_SLOT(v, K, "replicate_closed"), &cfg->hub_replicate_closed);
    if (!url)
        for (const char *const *k = (const char *const[]){"lab", "group", "replicate_closed", NULL};
             *k; k++)
            if (LAB_SCHEMA_SLOT(v, K, *k))
                lab_schema_err(&c->sc, LAB_SCHEMA_SLOT(v, K, *k), "hub.%s goes with hub.replicate_to", *k);
    return LAB_SCHEMA_SLOT(v, K, "file");
}

/* The hub path: relative ones are relative to the config file's directory. */
static void s_set_hub(s_ctx *c, yaml_node_t *hub)
{
    lab_campaign_cfg *cfg = c->cfg;
    char file[512];
    if (hub && lab_yis_map(hub))
        hub = s_load_hub_map(c, hub);
    if (hub)
        snprintf(file, sizeof file, "%s", lab_yscalar(hub));
    else if (cfg->name)
        snprintf(file, sizeof file, "%s.db", cfg->name);
    else
        return;
    cfg->hub = s_rel_path(c, file);
}

/* security: the orchestrator's secret key file and the control clients.
 * The devices' keys are read with the devices. Each public key may belong
 * to one device or client only: the key is what names the peer. */
static void s_load_security(s_ctx *c, yaml_node_t *m)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_security_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!m || !lab_schema_check_map(&c->sc, m, K, "security", v))
        return;
    if (LAB_SCHEMA_SLOT(v, K, "key"))
        cfg->secret_key_path = s_rel_path(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "key")));
    yaml_node_t *seq = LAB_SCHEMA_SLOT(v, K, "clients");
    size_t n = seq ? lab_yseq_len(seq) : 0;
    if (!n)
        return;
    cfg->clients = s_calloc(c, n, sizeof *cfg->clients);
    for (size_t i = 0; cfg->clients && i < n; i++) {
        yaml_node_t *item = lab_yseq_at(c->d, seq, i), *cv[LAB_SCHEMA_MAXKEYS];
        char sec[128];
        s_item_label(c, item, "name", "client", "security.clients", i, sec, sizeof sec);
        if (!lab_schema_check_map(&c->sc, item, s_client_keys, sec, cv))
            continue;
        lab_cfg_client *cl = &cfg->clients[cfg->n_clients++];
        yaml_node_t *name = LAB_SCHEMA_SLOT(cv, s_client_keys, "name");
        if (name && !s_is_name(lab_yscalar(name), "._-@")) {
            lab_schema_err(&c->sc, name, "%s: client names may hold only letters, digits, '.', '_', '-' and '@'", sec);
            name = NULL;
        }
        cl->name = name ? s_dup(c, lab_yscalar(name)) : NULL;
        if (LAB_SCHEMA_SLOT(cv, s_client_keys, "key"))
            s_public_key(c, LAB_SCHEMA_SLOT(cv, s_client_keys, "key"), sec, &cl->key_path, cl->key);
        yaml_node_t *role = LAB_SCHEMA_SLOT(cv, s_client_keys, "role");
        cl->operator_role = role && !strcmp(lab_yscalar(role), "operator");
    }
}

/* notify: a list of webhooks, each {url, events, timeout, retries, backoff,
 * queue, secret}. */
static void s_load_notify(s_ctx *c, yaml_node_t *seq)
{
    lab_campaign_cfg *cfg = c->cfg;
    const s_key *K = s_notify_keys;
    size_t n = seq ? lab_yseq_len(seq) : 0;
    if (!n)
        return;
    cfg->notify = s_calloc(c, n, sizeof *cfg->notify);
    for (size_t i = 0; cfg->notify && i < n; i++) {
        yaml_node_t *item = lab_yseq_at(c->d, seq, i), *v[LAB_SCHEMA_MAXKEYS];
        char sec[48], why[160];
        snprintf(sec, sizeof sec, "notify[%zu]", i);
        if (!lab_schema_check_map(&c->sc, item, K, sec, v))
            continue;
        lab_cfg_notify *h = &cfg->notify[cfg->n_notify++];
        yaml_node_t *url = LAB_SCHEMA_SLOT(v, K, "url");
        if (url && lab_notify_url_check(lab_yscalar(url), why, sizeof why) < 0)
            lab_schema_err(&c->sc, url, "%s: url '%s' %s", sec, lab_yscalar(url), why);
        else if (url)
            h->url = s_dup(c, lab_yscalar(url));
        h->events = LAB_SCHEMA_SLOT(v, K, "events") ? 0 : LAB_NOTIFY_ALL;
        yaml_node_t *ev = LAB_SCHEMA_SLOT(v, K, "events");
        size_t ne = !ev ? 0 : lab_yscalar(ev) ? 1 : lab_yseq_len(ev);
        if (ev && ne == 0)
            lab_schema_err(&c->sc, ev, "%s: events needs at least one of brake, pause, estop, device.lost, end", sec);
        for (size_t j = 0; j < ne; j++) {
            yaml_node_t *en = s_strlist_node(c, ev, j);
            const char *name = lab_yscalar(en);
            int k = lab_notify_kind_parse(name);
            if (k < 0) {
                const char *names[LAB_NOTIFY_N_KINDS];
                char hint[128];
                for (int x = 0; x < LAB_NOTIFY_N_KINDS; x++)
                    names[x] = lab_notify_kind_name(x);
                lab_schema_err(&c->sc, en, "%s: unknown event '%s'; one of brake, pause, estop, device.lost, end%s", sec, name,
                      lab_schema_hint(hint, sizeof hint, name, names, LAB_NOTIFY_N_KINDS));
            } else if (h->events & (1u << k)) {
                lab_schema_err(&c->sc, en, "%s: event '%s' is listed twice", sec, name);
            } else {
                h->events |= 1u << k;
            }
        }
        h->timeout_s = lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "timeout"), 5.0);
        h->retries = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "retries"), 5);
        h->backoff_s = lab_schema_seconds(LAB_SCHEMA_SLOT(v, K, "backoff"), 1.0);
        h->queue = (int)lab_schema_long(LAB_SCHEMA_SLOT(v, K, "queue"), 1000);
        if (LAB_SCHEMA_SLOT(v, K, "secret"))
            h->secret_path = s_rel_path(c, lab_yscalar(LAB_SCHEMA_SLOT(v, K, "secret")));
    }
}

/* Cross checks of security against the devices and endpoints. */
static void s_check_security(s_ctx *c, yaml_node_t *root, yaml_node_t *devices, yaml_node_t *endpoints)
{
    lab_campaign_cfg *cfg = c->cfg;
    for (size_t i = 0; i < cfg->n_devices; i++) {
        yaml_node_t *item = devices ? lab_yseq_at(c->d, devices, i) : root;
        yaml_node_t *key = item ? lab_ymap_get(c->d, item, "key") : NULL;
        if (cfg->secret_key_path && !cfg->devices[i].key_path && cfg->devices[i].name)
            lab_schema_err(&c->sc, item, "device '%s' has no 'key': with a security section every device needs its "
                  "public key file (labloop keygen %s)", cfg->devices[i].name, cfg->devices[i].name);
        if (!cfg->secret_key_path && key)
            lab_schema_err(&c->sc, key, "device keys need a security section with the orchestrator's 'key'");
        for (size_t j = 0; key && *cfg->devices[i].key && j < i; j++)
            if (!strcmp(cfg->devices[i].key, cfg->devices[j].key))
                lab_schema_err(&c->sc, key, "device '%s' has the same public key as device '%s': give each device its own key",
                      cfg->devices[i].name, cfg->devices[j].name);
    }
    for (size_t i = 0; i < cfg->n_clients; i++)
        for (size_t j = 0; *cfg->clients[i].key && j < cfg->n_devices + i; j++) {
            const char *other = j < cfg->n_devices ? cfg->devices[j].key : cfg->clients[j - cfg->n_devices].key;
            if (!strcmp(cfg->clients[i].key, other))
                lab_schema_err(&c->sc, root, "client '%s' has the same public key as %s '%s': each key names one peer",
                      cfg->clients[i].name ? cfg->clients[i].name : "?", j < cfg->n_devices ? "device" : "client",
                      j < cfg->n_devices ? cfg->devices[j].name : cfg->clients[j - cfg->n_devices].name);
        }
    if (cfg->secret_key_path || c->stored)
        return;
    const char *eps[2] = {cfg->endpoint_devices, cfg->endpoint_control};
    const char *names[2] = {"devices", "control"};
    for (int k = 0; k < 2; k++)
        if (eps[k] && !lab_keys_endpoint_is_local(eps[k])) {
            yaml_node_t *n = endpoints ? lab_ymap_get(c->d, endpoints, names[k]) : NULL;
            lab_schema_err(&c->sc, n ? n : root,
                  "endpoints.%s '%s' is reachable from other machines: add a 'security' section (CURVE "
                  "keys, see docs/OPERATIONS.md) or use a loopback or ipc endpoint", names[k], eps[k]);
        }
}

static void s_default_operator(s_ctx *c)
{
    if (c->cfg->operator_name)
        return;
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name &&
        *res->pw_name) {
        c->cfg->operator_name = s_dup(c, res->pw_name);
        return;
    }
    const char *l = getlogin();
    c->cfg->operator_name = s_dup(c, l && *l ? l : "unknown");
}

/* ---- cross-field checks ---------------------------------------------------- */

static int s_step_index(const lab_cfg_step *steps, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (steps[i].name && strcmp(steps[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Check `after` references and order the steps; on a cycle, report it and
 * keep file order. */
static void s_order_steps(s_ctx *c, lab_cfg_step *steps, size_t n)
{
    lab_campaign_cfg *cfg = c->cfg;
    const char **names = s_calloc(c, n, sizeof *names);
    int *indeg = s_calloc(c, n, sizeof *indeg);
    int *done = s_calloc(c, n, sizeof *done);
    size_t *order = s_calloc(c, n, sizeof *order);
    if (!names || !indeg || !done || !order)
        goto out;
    for (size_t i = 0; i < n; i++)
        names[i] = steps[i].name;
    /* Drop references that name no step (after reporting them). */
    for (size_t i = 0; i < n; i++) {
        lab_cfg_step *st = &steps[i];
        yaml_node_t *after = lab_ymap_get(c->d, c->step_nodes[i], "after");
        size_t kept = 0;
        for (size_t a = 0; a < st->n_after; a++) {
            int j = s_step_index(steps, n, st->after[a]);
            if (j < 0) {
                /* A step whose name was rejected already has its error. */
                int broken = 0;
                for (size_t k = 0; k < n; k++) {
                    const char *raw = lab_yscalar(lab_ymap_get(c->d, c->step_nodes[k], "step"));
                    if (!steps[k].name && raw && strcmp(raw, st->after[a]) == 0)
                        broken = 1;
                }
                if (!broken) {
                    char hint[128];
                    lab_schema_err(&c->sc, s_strlist_node(c, after, a), "step '%s': after names unknown step "
                          "'%s'%s", st->name ? st->name : "?", st->after[a],
                          lab_schema_hint(hint, sizeof hint, st->after[a], names, n));
                }
                free(st->after[a]);
                continue;
            }
            if ((size_t)j == i) {
                lab_schema_err(&c->sc, s_strlist_node(c, after, a), "step '%s' cannot come after itself",
                      st->name);
                free(st->after[a]);
                continue;
            }
            st->after[kept++] = st->after[a];
            indeg[i]++;
        }
        st->n_after = kept;
    }
    /* Kahn's algorithm, taking the earliest step in file order each time so
     * that the order is stable and obvious. */
    size_t n_done = 0;
    for (;;) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++)
            if (!done[i] && indeg[i] == 0)
                pick = i;
        if (pick == n)
            break;
        done[pick] = 1;
        order[n_done++] = pick;
        for (size_t i = 0; i < n; i++)
            for (size_t a = 0; a < steps[i].n_after; a++)
                if (!done[i] && steps[pick].name && strcmp(steps[i].after[a], steps[pick].name) == 0)
                    indeg[i]--;
    }
    if (n_done < n) {
        /* Every step left has a predecessor left: walk predecessors until
         * one repeats; the walk from there is a cycle. */
        size_t cur = 0;
        while (done[cur])
            cur++;
        int *visit = indeg; /* reuse: visit order + 1, 0 when unvisited */
        memset(visit, 0, n * sizeof *visit);
        size_t *path = order; /* reuse */
        size_t len = 0;
        while (!visit[cur]) {
            visit[cur] = (int)len + 1;
            path[len++] = cur;
            size_t next = n;
            for (size_t a = 0; a < steps[cur].n_after && next == n; a++) {
                int j = s_step_index(steps, n, steps[cur].after[a]);
                if (j >= 0 && !done[j])
                    next = (size_t)j;
            }
            cur = next;
        }
        /* path[first .. len-1] follows "after" links backwards; print it
         * forwards (each step runs after the one before it), starting from
         * the step written first in the file. */
        size_t first = (size_t)visit[cur] - 1, m = len - 1, cyc = len - first;
        for (size_t k = first; k < len; k++)
            if (path[k] < path[m])
                m = k;
        char text[LAB_ERR_MSG_MAX / 2] = "";
        size_t used = 0;
        for (size_t t = 0; t <= cyc; t++) {
            size_t k = first + (m - first + cyc - t % cyc) % cyc;
            int w = snprintf(text + used, sizeof text - used, "%s%s", t ? " -> " : "",
                             steps[path[k]].name);
            if (w > 0 && (size_t)w < sizeof text - used)
                used += (size_t)w;
        }
        lab_schema_err(&c->sc, c->step_nodes[path[m]], "workflow has a cycle: %s", text);
        cfg->steps = steps;
        cfg->n_steps = n;
        goto out;
    }
    cfg->steps = s_calloc(c, n, sizeof *cfg->steps);
    if (!cfg->steps) {
        cfg->steps = steps;
        cfg->n_steps = n;
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        cfg->steps[k] = steps[order[k]];
    cfg->n_steps = n;
    free(steps);
out:
    free(names);
    free(indeg);
    free(done);
    free(order);
}

/* campaign.exclusive names devices of the campaign (or of its lab), each
 * once. */
static void s_check_exclusive(s_ctx *c)
{
    lab_campaign_cfg *cfg = c->cfg;
    if (!cfg->n_exclusive || !c->exclusive_node)
        return;
    const char **names = s_calloc(c, cfg->n_devices ? cfg->n_devices : 1, sizeof *names);
    for (size_t i = 0; names && i < cfg->n_devices; i++)
        names[i] = cfg->devices[i].name;
    for (size_t i = 0; names && i < cfg->n_exclusive; i++) {
        yaml_node_t *at = lab_yscalar(c->exclusive_node) ? c->exclusive_node
                                                          : lab_yseq_at(c->d, c->exclusive_node, i);
        const char *e = cfg->exclusive[i];
        int found = 0;
        for (size_t j = 0; e && j < cfg->n_devices && !found; j++)
            found = names[j] && !strcmp(names[j], e);
        if (!e || !found) {
            char hint[128];
            lab_schema_err(&c->sc, at, "campaign.exclusive: no device named '%s' in the %s%s", e ? e : "?",
                  c->lab ? "lab" : "config", e ? lab_schema_hint(hint, sizeof hint, e, names, cfg->n_devices) : "");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (cfg->exclusive[j] && !strcmp(cfg->exclusive[j], e))
                lab_schema_err(&c->sc, at, "campaign.exclusive names device '%s' twice", e);
    }
    free(names);
}

static void s_check_cross(s_ctx *c, lab_cfg_step *steps_file_order, size_t n_steps)
{
    lab_campaign_cfg *cfg = c->cfg;
    /* objectives' steps (before reordering: step nodes are in file order) */
    const char **snames = s_calloc(c, n_steps, sizeof *snames);
    for (size_t i = 0; snames && i < n_steps; i++)
        snames[i] = steps_file_order[i].name;
    for (size_t i = 0; i < cfg->n_objectives; i++) {
        lab_cfg_objective *o = &cfg->objectives[i];
        if (!o->from_step || !c->objective_from_nodes[i])
            continue;
        if (s_step_index(steps_file_order, n_steps, o->from_step) < 0) {
            char hint[128];
            lab_schema_err(&c->sc, c->objective_from_nodes[i], "objective '%s': from names unknown step '%s'%s",
                  o->name ? o->name : "?", o->from_step,
                  snames ? lab_schema_hint(hint, sizeof hint, o->from_step, snames, n_steps) : "");
        }
    }
    free(snames);
    /* every capability has a device */
    size_t n_caps = 0;
    for (size_t i = 0; i < cfg->n_devices; i++)
        n_caps += cfg->devices[i].n_capabilities;
    const char **caps = s_calloc(c, n_caps, sizeof *caps);
    size_t k = 0;
    for (size_t i = 0; caps && i < cfg->n_devices; i++)
        for (size_t j = 0; j < cfg->devices[i].n_capabilities; j++)
            caps[k++] = cfg->devices[i].capabilities[j];
    if (cfg->n_devices > 0) {
        for (size_t i = 0; caps && i < n_steps; i++) {
            const char *cap = steps_file_order[i].capability;
            if (!cap)
                continue;
            int found = 0;
            for (size_t j = 0; j < n_caps && !found; j++)
                found = caps[j] && strcmp(caps[j], cap) == 0;
            if (!found) {
                char hint[128];
                lab_schema_err(&c->sc, lab_ymap_get(c->d, c->step_nodes[i], "capability"),
                      "step '%s': no device provides capability '%s'%s",
                      steps_file_order[i].name ? steps_file_order[i].name : "?", cap,
                      lab_schema_hint(hint, sizeof hint, cap, caps, n_caps));
            }
        }
    }
    free(caps);
    s_check_exclusive(c);
    s_order_steps(c, steps_file_order, n_steps);
}

/* ---- declared return values ---------------------------------------------- */

/* A device's `returns: {capability: [names]}`: a mapping of its own
 * capabilities to lists of value names. Problems are reported at the node. */
static void s_check_returns_shape(s_ctx *c, yaml_node_t *dev, yaml_node_t *ret)
{
    if (!lab_yis_map(ret)) {
        lab_schema_err(&c->sc, ret, "returns must be a mapping {capability: [value names]}, got %s", lab_ykind(ret));
        return;
    }
    yaml_node_t *caps = lab_ymap_get(c->d, dev, "capabilities");
    for (size_t i = 0; i < lab_ymap_len(ret); i++) {
        yaml_node_t *k, *v;
        lab_ymap_pair(c->d, ret, i, &k, &v);
        const char *cap = lab_yscalar(k);
        int has = 0;
        for (size_t j = 0; cap && caps && lab_yis_seq(caps) && j < lab_yseq_len(caps) && !has; j++) {
            const char *cj = lab_yscalar(lab_yseq_at(c->d, caps, j));
            has = cj && strcmp(cj, cap) == 0;
        }
        if (cap && caps && lab_yscalar(caps))
            has = strcmp(lab_yscalar(caps), cap) == 0;
        if (!has)
            lab_schema_err(&c->sc, k, "returns: '%s' is not one of this device's capabilities", cap ? cap : "?");
        if (!lab_yis_seq(v)) {
            lab_schema_err(&c->sc, v, "returns.%s must be a list of value names, got %s", cap ? cap : "?", lab_ykind(v));
            continue;
        }
        for (size_t j = 0; j < lab_yseq_len(v); j++) {
            const char *name = lab_yscalar(lab_yseq_at(c->d, v, j));
            if (!name || !*name)
                lab_schema_err(&c->sc, lab_yseq_at(c->d, v, j), "returns.%s[%zu] must be a value name", cap ? cap : "?", j);
        }
    }
}

/* Each objective's `from: STEP.VALUE` against what the devices able to run
 * STEP declare they return for its capability. Devices that declare nothing
 * for it are not checked (a worker's values are only known when it runs). */
static void s_check_returns(s_ctx *c, yaml_node_t *devices, const lab_cfg_step *steps, size_t n_steps)
{
    if (!devices || !lab_yis_seq(devices))
        return;
    for (size_t i = 0; i < lab_yseq_len(devices); i++) {
        yaml_node_t *dev = lab_yseq_at(c->d, devices, i);
        yaml_node_t *ret = lab_yis_map(dev) ? lab_ymap_get(c->d, dev, "returns") : NULL;
        if (ret)
            s_check_returns_shape(c, dev, ret);
    }
    for (size_t o = 0; o < c->cfg->n_objectives; o++) {
        const lab_cfg_objective *ob = &c->cfg->objectives[o];
        int si = ob->from_step ? s_step_index(steps, n_steps, ob->from_step) : -1;
        if (si < 0 || !steps[si].capability || !c->objective_from_nodes[o])
            continue;
        const char *cap = steps[si].capability;
        const char *names[64];
        size_t n_names = 0;
        int declared = 0, found = 0;
        for (size_t i = 0; i < lab_yseq_len(devices); i++) {
            yaml_node_t *dev = lab_yseq_at(c->d, devices, i);
            yaml_node_t *ret = lab_yis_map(dev) ? lab_ymap_get(c->d, dev, "returns") : NULL;
            yaml_node_t *list = ret && lab_yis_map(ret) ? lab_ymap_get(c->d, ret, cap) : NULL;
            if (!list || !lab_yis_seq(list))
                continue;
            declared = 1;
            for (size_t j = 0; j < lab_yseq_len(list); j++) {
                const char *name = lab_yscalar(lab_yseq_at(c->d, list, j));
                if (!name)
                    continue;
                found |= strcmp(name, ob->from_value) == 0;
                int dup = 0;
                for (size_t k = 0; k < n_names && !dup; k++)
                    dup = strcmp(names[k], name) == 0;
                if (!dup && n_names < sizeof names / sizeof names[0])
                    names[n_names++] = name;
            }
        }
        if (!declared || found)
            continue;
        char list[512] = "", hint[128];
        size_t used = 0;
        for (size_t k = 0; k < n_names; k++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", names[k]);
            if (w < 0 || (size_t)w >= sizeof list - used)
                break;
            used += (size_t)w;
        }
        lab_schema_err(&c->sc, c->objective_from_nodes[o],
              "objective '%s': step '%s' (capability %s) returns %s, not '%s'%s", ob->name ? ob->name : "?",
              ob->from_step, cap, n_names ? list : "no values", ob->from_value,
              lab_schema_hint(hint, sizeof hint, ob->from_value, names, n_names));
    }
}

/* `acquisition` must be one the planner library knows (its own parser). A
 * model-free kind (sobol, random) ignores it. */
static void s_check_acquisition(s_ctx *c, yaml_node_t *planner)
{
    yaml_node_t *acq = planner && lab_yis_map(planner) ? lab_ymap_get(c->d, planner, "acquisition") : NULL;
    const char *a = acq ? lab_yscalar(acq) : NULL;
    static const char *const known[] = {"ei", "log_ei", "ucb"};
    if (a && lab_acq_parse(a) < 0) {
        char hint[128];
        lab_schema_err(&c->sc, acq, "planner.acquisition '%s' is not available; available: ei, log_ei, ucb%s", a,
              lab_schema_hint(hint, sizeof hint, a, known, 3));
    }
}

/* ---- load ----------------------------------------------------------------- */

static void s_load_lab_name(s_ctx *c, yaml_node_t *m)
{
    const s_key *K = s_lab_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!m || !lab_schema_check_map(&c->sc, m, K, "lab", v))
        return;
    yaml_node_t *name = LAB_SCHEMA_SLOT(v, K, "name");
    if (!name)
        return;
    const char *n = lab_yscalar(name);
    if (!s_is_name(n, "._-") || !strcmp(n, ".") || !strcmp(n, ".."))
        lab_schema_err(&c->sc, name, "lab.name '%s' may hold only letters, digits, '.', '_' and '-' (it names the data hub file)", n);
    else if (strlen(n) > S_CAMPAIGN_NAME_MAX)
        lab_schema_err(&c->sc, name, "lab.name is %zu characters long; at most %d", strlen(n), S_CAMPAIGN_NAME_MAX);
    else
        c->cfg->name = s_dup(c, n);
    c->cfg->max_campaigns = lab_schema_long(LAB_SCHEMA_SLOT(v, K, "max_campaigns"), 0);
}

/* A submitted campaign runs on the lab's devices: a copy of them, so that
 * the cross checks (a device for every step's capability) judge the
 * campaign against the lab. */
static void s_copy_lab_devices(s_ctx *c)
{
    const lab_campaign_cfg *lab = c->lab;
    lab_campaign_cfg *cfg = c->cfg;
    cfg->devices = s_calloc(c, lab->n_devices ? lab->n_devices : 1, sizeof *cfg->devices);
    if (!cfg->devices)
        return;
    for (size_t i = 0; i < lab->n_devices; i++) {
        const lab_cfg_device *from = &lab->devices[i];
        lab_cfg_device *dv = &cfg->devices[cfg->n_devices++];
        dv->name = s_dup(c, from->name);
        dv->capacity = from->capacity;
        dv->capabilities = s_calloc(c, from->n_capabilities ? from->n_capabilities : 1, sizeof *dv->capabilities);
        for (size_t j = 0; dv->capabilities && j < from->n_capabilities; j++)
            dv->capabilities[dv->n_capabilities++] = s_dup(c, from->capabilities[j]);
    }
    cfg->heartbeat_ms = lab->heartbeat_ms;
    cfg->liveness = lab->liveness;
}

static void s_note(s_ctx *c, const char *fmt, const char *what)
{
    if (!c->notes || !c->n_notes)
        return;
    size_t len = strlen(c->notes);
    if (len + 1 < c->n_notes)
        snprintf(c->notes + len, c->n_notes - len, fmt, len ? "; " : "", what);
}

static lab_campaign_cfg *s_load(const char *path, char *text, size_t len, int stored, const lab_campaign_cfg *lab,
                                int lab_config, char *notes, size_t n_notes, FILE *errs, lab_err *err)
{
    lab_err_clear(err);
    lab_err perr = {0};
    lab_ydoc *d = lab_ydoc_parse(path, text, len, &perr);
    if (!d) {
        if (errs)
            fprintf(errs, "%s\n", perr.msg);
        if (err)
            *err = perr;
        free(text);
        return NULL;
    }
    lab_campaign_cfg *cfg = calloc(1, sizeof *cfg);
    s_ctx c = {.sc = {.d = d, .path = path}, .d = d, .path = path, .cfg = cfg, .stored = stored, .lab = lab, .notes = notes, .n_notes = n_notes};
    if (notes && n_notes)
        notes[0] = '\0';
    lab_cfg_step *steps = NULL;
    size_t n_steps = 0;
    if (!cfg) {
        c.sc.oom = 1;
        goto done;
    }
    cfg->text = text;
    text = NULL;
    cfg->path = s_dup(&c, path);
    cfg->stop_objective = -1;
    cfg->stop_at_least = cfg->stop_at_most = NAN;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(cfg->text, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        lab_err_set(err, LAB_EIO, "%s: cannot compute sha256", path);
        c.sc.oom = 1;
        goto done;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(cfg->sha256 + 2 * i, 3, "%02x", md[i]);
    cfg->space = lab_space_new();
    if (!cfg->space) {
        c.sc.oom = 1;
        goto done;
    }

    yaml_node_t *root = lab_ydoc_root(d), *v[LAB_SCHEMA_MAXKEYS];
    if (lab_config) {
        const s_key *K = s_lab_top_keys;
        if (lab_schema_check_map(&c.sc, root, K, "", v)) {
            s_load_lab_name(&c, LAB_SCHEMA_SLOT(v, K, "lab"));
            s_load_devices(&c, LAB_SCHEMA_SLOT(v, K, "devices"));
            s_load_endpoints(&c, LAB_SCHEMA_SLOT(v, K, "endpoints"));
            s_load_heartbeat(&c, LAB_SCHEMA_SLOT(v, K, "heartbeat"));
            s_set_hub(&c, LAB_SCHEMA_SLOT(v, K, "hub"));
            s_load_security(&c, LAB_SCHEMA_SLOT(v, K, "security"));
            s_load_notify(&c, LAB_SCHEMA_SLOT(v, K, "notify"));
            s_check_security(&c, root, LAB_SCHEMA_SLOT(v, K, "devices"), LAB_SCHEMA_SLOT(v, K, "endpoints"));
        }
        goto defaults;
    }
    /* A campaign submitted to a lab may leave out its devices: the lab's
     * are used, and its own lab sections, if any, are ignored. */
    s_key top[sizeof s_top_keys / sizeof s_top_keys[0]];
    memcpy(top, s_top_keys, sizeof top);
    if (lab)
        top[lab_schema_index(top, "devices")].required = 0;
    const s_key *K = top;
    if (lab_schema_check_map(&c.sc, root, K, "", v)) {
        yaml_node_t *stop = NULL;
        if (LAB_SCHEMA_SLOT(v, K, "campaign"))
            s_load_campaign(&c, LAB_SCHEMA_SLOT(v, K, "campaign"), &stop);
        s_load_space(&c, LAB_SCHEMA_SLOT(v, K, "space"), LAB_SCHEMA_SLOT(v, K, "constraints"));
        if (LAB_SCHEMA_SLOT(v, K, "constraints") && !LAB_SCHEMA_SLOT(v, K, "space"))
            lab_schema_err(&c.sc, LAB_SCHEMA_SLOT(v, K, "constraints"), "constraints need a space");
        s_load_objectives(&c, LAB_SCHEMA_SLOT(v, K, "objectives"));
        s_load_stop(&c, stop);
        s_load_planner(&c, LAB_SCHEMA_SLOT(v, K, "planner"));
        s_load_workflow(&c, LAB_SCHEMA_SLOT(v, K, "workflow"), &steps, &n_steps);
        if (lab) {
            for (const char *const *k = (const char *const[]){"devices", "endpoints", "heartbeat", "hub", "security",
                                                               "notify", NULL}; *k; k++)
                if (LAB_SCHEMA_SLOT(v, K, *k))
                    s_note(&c, "%sits '%s' section is ignored: the lab's own applies", *k);
            s_copy_lab_devices(&c);
        } else {
            s_load_devices(&c, LAB_SCHEMA_SLOT(v, K, "devices"));
            s_load_endpoints(&c, LAB_SCHEMA_SLOT(v, K, "endpoints"));
            s_load_heartbeat(&c, LAB_SCHEMA_SLOT(v, K, "heartbeat"));
            s_set_hub(&c, LAB_SCHEMA_SLOT(v, K, "hub"));
        }
        if (!stored) { /* a config that once ran is read as it was */
            s_check_acquisition(&c, LAB_SCHEMA_SLOT(v, K, "planner"));
            if (!lab)
                s_check_returns(&c, LAB_SCHEMA_SLOT(v, K, "devices"), steps, n_steps);
        }
        if (!lab) {
            s_load_security(&c, LAB_SCHEMA_SLOT(v, K, "security"));
            s_load_notify(&c, LAB_SCHEMA_SLOT(v, K, "notify"));
        }
        s_load_prior(&c, LAB_SCHEMA_SLOT(v, K, "prior"));
        if (!lab)
            s_check_security(&c, root, LAB_SCHEMA_SLOT(v, K, "devices"), LAB_SCHEMA_SLOT(v, K, "endpoints"));
        s_check_cross(&c, steps, n_steps);
        steps = NULL; /* now owned by cfg */
    }
defaults:
    if (!cfg->access)
        cfg->access = s_dup(&c, "shared");
    s_default_operator(&c);

done:
    lab_schema_report(&c.sc, errs, err);
    int failed = lab_schema_n_problems(&c.sc) > 0;
    lab_schema_release(&c.sc);
    free(c.dim_names);
    free(c.dim_nodes);
    free(c.step_nodes);
    free(c.step_name_nodes);
    free(c.objective_from_nodes);
    free(text);
    lab_ydoc_destroy(&d);
    if (failed)
        lab_config_destroy(&cfg);
    return cfg;
}

static lab_campaign_cfg *s_load_file(const char *path, int lab_config, FILE *errs, lab_err *err)
{
    char *text = NULL;
    size_t len = 0;
    lab_err e = {0};
    lab_ydoc *d = lab_ydoc_load(path, &text, &len, &e);
    if (!d) {
        if (errs)
            fprintf(errs, "%s\n", e.msg);
        if (err)
            *err = e;
        return NULL;
    }
    /* Parsed again by s_load: simpler than sharing the document, and a
     * config is small. */
    lab_ydoc_destroy(&d);
    return s_load(path, text, len, 0, NULL, lab_config, NULL, 0, errs, err);
}

lab_campaign_cfg *lab_config_load(const char *path, FILE *errs, lab_err *err)
{
    return s_load_file(path, 0, errs, err);
}

lab_campaign_cfg *lab_config_load_lab(const char *path, FILE *errs, lab_err *err)
{
    return s_load_file(path, 1, errs, err);
}

static lab_campaign_cfg *s_load_copy(const char *path, const char *text, size_t len, int stored,
                                     const lab_campaign_cfg *lab, char *notes, size_t n_notes, FILE *errs,
                                     lab_err *err)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        lab_err_set(err, LAB_ENOMEM, "%s: out of memory", path ? path : "<config>");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    return s_load(path ? path : "<config>", copy, len, stored, lab, 0, notes, n_notes, errs, err);
}

lab_campaign_cfg *lab_config_load_string(const char *path, const char *text, size_t len,
                                         FILE *errs, lab_err *err)
{
    return s_load_copy(path, text, len, 0, NULL, NULL, 0, errs, err);
}

lab_campaign_cfg *lab_config_load_stored(const char *path, const char *text, size_t len,
                                         FILE *errs, lab_err *err)
{
    return s_load_copy(path, text, len, 1, NULL, NULL, 0, errs, err);
}

lab_campaign_cfg *lab_config_load_submitted(const char *path, const char *text, size_t len,
                                            const lab_campaign_cfg *lab, int stored, char *notes, size_t n_notes,
                                            FILE *errs, lab_err *err)
{
    return s_load_copy(path, text, len, stored, lab, notes, n_notes, errs, err);
}

void lab_config_destroy(lab_campaign_cfg **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    lab_campaign_cfg *cfg = *cfgp;
    free(cfg->path);
    free(cfg->text);
    free(cfg->name);
    free(cfg->operator_name);
    free(cfg->access);
    lab_space_destroy(&cfg->space);
    for (size_t i = 0; cfg->objectives && i < cfg->n_objectives; i++) {
        free(cfg->objectives[i].name);
        free(cfg->objectives[i].from_step);
        free(cfg->objectives[i].from_value);
        free(cfg->objectives[i].unit);
    }
    free(cfg->objectives);
    free(cfg->planner_kind);
    free(cfg->acquisition);
    free(cfg->initial_kind);
    free(cfg->prior_csv);
    free(cfg->prior_hub);
    free(cfg->prior_campaign);
    s_free_strv(cfg->exclusive, cfg->n_exclusive);
    for (size_t i = 0; cfg->steps && i < cfg->n_steps; i++) {
        lab_cfg_step *st = &cfg->steps[i];
        free(st->name);
        free(st->capability);
        s_free_strv(st->after, st->n_after);
        for (size_t j = 0; j < st->n_params; j++) {
            free(st->params[j].name);
            free(st->params[j].literal);
        }
        free(st->params);
    }
    free(cfg->steps);
    for (size_t i = 0; cfg->devices && i < cfg->n_devices; i++) {
        free(cfg->devices[i].name);
        s_free_strv(cfg->devices[i].capabilities, cfg->devices[i].n_capabilities);
        free(cfg->devices[i].key_path);
    }
    free(cfg->devices);
    for (size_t i = 0; cfg->clients && i < cfg->n_clients; i++) {
        free(cfg->clients[i].name);
        free(cfg->clients[i].key_path);
    }
    free(cfg->clients);
    free(cfg->secret_key_path);
    for (size_t i = 0; cfg->notify && i < cfg->n_notify; i++) {
        free(cfg->notify[i].url);
        free(cfg->notify[i].secret_path);
    }
    free(cfg->notify);
    free(cfg->endpoint_devices);
    free(cfg->endpoint_control);
    free(cfg->hub);
    free(cfg->hub_replicate_to);
    free(cfg->hub_lab);
    free(cfg->hub_group);
    free(cfg);
    *cfgp = NULL;
}

int lab_config_step(const lab_campaign_cfg *cfg, const char *name)
{
    if (!cfg || !name)
        return -1;
    return s_step_index(cfg->steps, cfg->n_steps, name);
}

void lab_config_print_keys(FILE *out)
{
    for (size_t s = 0; s < sizeof s_sections / sizeof s_sections[0]; s++)
        lab_schema_print(out, s_sections[s].section, s_sections[s].keys);
}
