/* The orchestrator's event loop, device registry and scheduler (see orch.h).
 *
 * Flow: the planner proposes experiments (up to planner.batch in flight);
 * each experiment's workflow steps are dispatched, in dependency order, to
 * ready devices that have the capability and a free slot; each StepResult is
 * recorded, acknowledged after the commit, and moves its experiment on; a
 * finished experiment's objective values (or its failure) are told to the
 * planner. Devices that miss heartbeats are lost and their attempts retried
 * or failed per the step's retry policy.
 */
#include "orchestrator/orch.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "orchestrator/hub.h"
#include "planners/planner.h"
#include "protocols/envelope.h"
#include "protocols/zloop.h"
#include "common/banned.h"

#define S_TICK_MS 50
/* Extra time the orchestrator allows past a step's timeout before it stops
 * waiting for the worker to report it (the worker enforces the timeout). */
#define S_DEADLINE_GRACE_US (5 * 1000000LL)
#define S_WAITING_NOTE_US (10 * 1000000LL)
#define S_ID_MAX 256
#define S_NUDGE_US 500000

typedef enum { S_DEV_OFFLINE, S_DEV_READY, S_DEV_LOST } s_dev_state;

typedef struct s_device {
    const lab_cfg_device *cfg;
    s_dev_state state;
    char driver[64];
    int capacity;
    int welcomed;                   /* Welcome sent: steps may be dispatched */
    int running;                    /* attempts in flight */
    int64_t last_rx_us, last_hb_us; /* monotonic */
    int64_t last_nudge_us;          /* last NOT_REGISTERED sent */
    int64_t busy_since_us;
    double busy_s;                  /* device-seconds with at least one step */
} s_device;

typedef enum { S_STEP_PENDING, S_STEP_RUNNING, S_STEP_DONE, S_STEP_FAILED } s_step_state;

typedef struct s_attempt {
    char id[S_ID_MAX];
    int n;                          /* attempt number, 1-based */
    s_device *dev;
    int64_t dispatched_us;          /* monotonic */
    int64_t deadline_us;            /* monotonic; 0: none */
} s_attempt;

typedef enum { S_EXP_RUNNING, S_EXP_MEASURED, S_EXP_FAILED } s_exp_state;

typedef struct s_exp {
    long seq;
    char id[S_ID_MAX];
    double *x;                      /* native point */
    double *y;                      /* objective values when measured */
    s_exp_state state;
    s_step_state *step;             /* per configured step */
    s_attempt *cur;                 /* per step: the current attempt */
    json_t **values;                /* per step: result values (object) or NULL */
} s_exp;

typedef struct s_out {
    char id[LAB_ID_MAX];
    lab_env *env;                   /* heap copy of fields owned by this entry */
    Labloop__Welcome welcome;
    Labloop__Refuse refuse;
    Labloop__Ack ack;
    char **ack_ids;
    struct s_out *next;
} s_out;

struct lab_orch {
    const lab_campaign_cfg *cfg;
    lab_orch_opts opts;
    char db_path[1024];
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    lab_zloop *zl;
    void *zctx, *dev_sock;
    lab_hub *hub;
    int64_t campaign_id;
    lab_planner *planner;
    size_t dims;

    s_device *devices;
    s_exp **exps;                   /* by seq - 1 */
    long n_exps, cap_exps;
    long in_flight, measured, failed;
    long best;                      /* seq of the best measured, 0 none */

    s_out *out_head, *out_tail;     /* waiting for the next commit */
    int sent;                       /* messages sent since the last flush */
    uint64_t seq;

    int64_t start_mono_us, last_note_us;
    int stopping;
    const char *end_status;
    char end_reason[256];
    int fatal;
    lab_err fatal_err;
};

/* ------------------------------------------------------------ utilities */

static int64_t s_now(void) { return lab_clock_wall_us(); }

static void s_fatal(lab_orch *o, const char *what)
{
    if (o->fatal)
        return;
    o->fatal = 1;
    lab_err_set(&o->fatal_err, LAB_EDB, "%s: %s", what, lab_hub_errmsg(o->hub));
    lab_error("%s", o->fatal_err.msg);
    o->stopping = 1;
    uv_stop(&o->loop);
}

static void s_event(lab_orch *o, const char *kind, const char *subject, json_t *detail)
{
    char *js = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    if (lab_hub_record_event(o->hub, o->campaign_id, s_now(), kind, subject, js) < 0)
        s_fatal(o, "recording an event");
    free(js);
    json_decref(detail);
}

static char *s_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* The experiment's parameters as {name: value}, categoricals by name. */
static json_t *s_params_json(lab_orch *o, const double *x)
{
    const lab_space *sp = o->cfg->space;
    json_t *j = json_object();
    for (size_t i = 0; i < o->dims; i++) {
        const lab_dim *d = lab_space_dim(sp, i);
        if (d->type == LAB_DIM_CATEGORICAL)
            json_object_set_new(j, d->name, json_string(d->choices[(size_t)x[i]]));
        else if (d->type == LAB_DIM_INTEGER)
            json_object_set_new(j, d->name, json_integer((json_int_t)llround(x[i])));
        else
            json_object_set_new(j, d->name, json_real(x[i]));
    }
    return j;
}

static int s_better(const lab_orch *o, double a, double b)
{
    return o->cfg->objectives[0].maximize ? a > b : a < b;
}

/* ------------------------------------------------------------ sending */

static void s_send_now(lab_orch *o, const char *dev, lab_env *env)
{
    env->seq = ++o->seq;
    lab_err e = {0};
    if (lab_env_send(o->dev_sock, dev, env, &e) < 0)
        lab_debug("send %s to '%s' failed: %s", lab_env_kind(env), dev, e.msg);
    o->sent++;
}

static s_out *s_queue(lab_orch *o, const char *dev)
{
    s_out *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    snprintf(q->id, sizeof q->id, "%s", dev);
    q->env = calloc(1, sizeof *q->env);
    if (!q->env) {
        free(q);
        return NULL;
    }
    labloop__envelope__init(q->env);
    if (o->out_tail)
        o->out_tail->next = q;
    else
        o->out_head = q;
    o->out_tail = q;
    return q;
}

static void s_out_free(s_out *q)
{
    if (q->ack_ids) {
        for (size_t i = 0; i < q->ack.n_attempt_ids; i++)
            free(q->ack_ids[i]);
        free(q->ack_ids);
    }
    free(q->refuse.detail);
    free(q->env);
    free(q);
}

/* Queue an Ack of attempt to dev, merged with one already queued for dev. */
static void s_queue_ack(lab_orch *o, const char *dev, const char *attempt)
{
    s_out *q = NULL;
    for (s_out *p = o->out_head; p; p = p->next)
        if (p->env->body_case == LABLOOP__ENVELOPE__BODY_ACK && !strcmp(p->id, dev))
            q = p;
    if (!q) {
        q = s_queue(o, dev);
        if (!q)
            return;
        labloop__ack__init(&q->ack);
        q->env->body_case = LABLOOP__ENVELOPE__BODY_ACK;
        q->env->ack = &q->ack;
    }
    char **ids = realloc(q->ack_ids, (q->ack.n_attempt_ids + 1) * sizeof *ids);
    if (!ids)
        return;
    q->ack_ids = ids;
    ids[q->ack.n_attempt_ids++] = strdup(attempt);
    q->ack.attempt_ids = ids;
}

static void s_schedule(lab_orch *o);
static s_device *s_device_find(lab_orch *o, const char *name);

/* Commit, then send what waited for it. Called by zloop before sleeping. */
static int s_flush(void *arg)
{
    lab_orch *o = arg;
    lab_err e = {0};
    if (lab_hub_dirty(o->hub) && lab_hub_commit(o->hub, &e) < 0) {
        if (!o->fatal) {
            o->fatal = 1;
            o->fatal_err = e;
            lab_error("hub commit failed, stopping without acknowledging: %s", e.msg);
            o->stopping = 1;
            uv_stop(&o->loop);
        }
        return 0;
    }
    if (o->fatal)
        return 0;
    int welcomed = 0;
    while (o->out_head) {
        s_out *q = o->out_head;
        o->out_head = q->next;
        if (!o->out_head)
            o->out_tail = NULL;
        s_send_now(o, q->id, q->env);
        if (q->env->body_case == LABLOOP__ENVELOPE__BODY_WELCOME) {
            s_device *d = s_device_find(o, q->id);
            if (d && d->state == S_DEV_READY)
                d->welcomed = welcomed = 1;
        }
        s_out_free(q);
    }
    if (welcomed)
        s_schedule(o);
    int n = o->sent;
    o->sent = 0;
    return n;
}

/* ------------------------------------------------------------ devices */

static s_device *s_device_find(lab_orch *o, const char *name)
{
    for (size_t i = 0; i < o->cfg->n_devices; i++)
        if (!strcmp(o->devices[i].cfg->name, name))
            return &o->devices[i];
    return NULL;
}

static int s_device_has(const s_device *d, const char *cap)
{
    for (size_t i = 0; i < d->cfg->n_capabilities; i++)
        if (!strcmp(d->cfg->capabilities[i], cap))
            return 1;
    return 0;
}

static void s_device_busy(s_device *d, int delta)
{
    int64_t now = lab_clock_mono_us();
    if (d->running == 0 && delta > 0)
        d->busy_since_us = now;
    d->running += delta;
    if (d->running == 0 && delta < 0)
        d->busy_s += (double)(now - d->busy_since_us) / 1e6;
}

static void s_refuse(lab_orch *o, const char *id, Labloop__Refuse__Reason reason, const char *detail)
{
    s_out *q = s_queue(o, id);
    if (!q)
        return;
    labloop__refuse__init(&q->refuse);
    q->refuse.reason = reason;
    q->refuse.detail = strdup(detail);
    q->env->body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    q->env->refuse = &q->refuse;
    json_t *d = json_pack("{s:s, s:s}", "device", id, "reason", detail);
    s_event(o, "device.refused", id, d);
    lab_warn("device '%s' refused: %s", id, detail);
}

static void s_attempt_ended(lab_orch *o, s_exp *x, size_t step, const char *status,
                            const char *error);

static void s_device_lost(lab_orch *o, s_device *d, const char *why)
{
    if (d->state != S_DEV_READY)
        return;
    d->state = S_DEV_LOST;
    lab_warn("device '%s' lost: %s", d->cfg->name, why);
    if (lab_hub_set_device_status(o->hub, o->campaign_id, d->cfg->name, "lost", s_now()) < 0)
        s_fatal(o, "recording a device");
    s_event(o, "device.lost", d->cfg->name, json_pack("{s:s, s:s}", "device", d->cfg->name, "reason", why));
    for (long i = 0; i < o->n_exps; i++) {
        s_exp *x = o->exps[i];
        if (x->state != S_EXP_RUNNING)
            continue;
        for (size_t s = 0; s < o->cfg->n_steps; s++)
            if (x->step[s] == S_STEP_RUNNING && x->cur[s].dev == d) {
                char msg[512];
                snprintf(msg, sizeof msg, "device '%s' lost during step '%s': %s", d->cfg->name,
                         o->cfg->steps[s].name, why);
                s_attempt_ended(o, x, s, "lost", msg);
            }
    }
}

static void s_on_hello(lab_orch *o, const char *id, Labloop__Hello *h)
{
    if (!h->device || strcmp(h->device, id) != 0) {
        s_refuse(o, id, LABLOOP__REFUSE__REASON__MALFORMED,
                 "hello names a different device than the connection's routing id");
        return;
    }
    s_device *d = s_device_find(o, id);
    if (!d) {
        char msg[512];
        snprintf(msg, sizeof msg, "device '%s' is not in campaign '%s' (expected devices are listed under 'devices:' in %s)",
                 id, o->cfg->name, o->cfg->path);
        s_refuse(o, id, LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE, msg);
        return;
    }
    for (size_t i = 0; i < d->cfg->n_capabilities; i++) {
        int has = 0;
        for (size_t j = 0; j < h->n_capabilities; j++)
            has |= !strcmp(h->capabilities[j], d->cfg->capabilities[i]);
        if (!has) {
            char msg[512];
            snprintf(msg, sizeof msg, "device '%s' does not offer capability '%s' that the campaign expects of it",
                     id, d->cfg->capabilities[i]);
            s_refuse(o, id, LABLOOP__REFUSE__REASON__NOT_ALLOWED, msg);
            return;
        }
    }
    /* A worker that says hello again has restarted or reconnected: attempts
     * we think it runs, but it neither runs nor has finished, are lost. */
    if (d->state == S_DEV_READY) {
        for (long i = 0; i < o->n_exps; i++) {
            s_exp *x = o->exps[i];
            for (size_t s = 0; x->state == S_EXP_RUNNING && s < o->cfg->n_steps; s++) {
                if (x->step[s] != S_STEP_RUNNING || x->cur[s].dev != d)
                    continue;
                int known = 0;
                for (size_t k = 0; k < h->n_running_attempts; k++)
                    known |= !strcmp(h->running_attempts[k], x->cur[s].id);
                for (size_t k = 0; k < h->n_unacked_attempts; k++)
                    known |= !strcmp(h->unacked_attempts[k], x->cur[s].id);
                if (!known)
                    s_attempt_ended(o, x, s, "lost", "device restarted during the step");
            }
        }
    }
    d->state = S_DEV_READY;
    d->welcomed = 0;
    snprintf(d->driver, sizeof d->driver, "%s", h->driver ? h->driver : "");
    d->capacity = h->capacity ? (int)h->capacity : 1;
    if (d->capacity > d->cfg->capacity)
        d->capacity = d->cfg->capacity;
    json_t *caps = json_array();
    for (size_t j = 0; j < h->n_capabilities; j++)
        json_array_append_new(caps, json_string(h->capabilities[j]));
    char *caps_js = json_dumps(caps, JSON_COMPACT);
    if (lab_hub_record_device(o->hub, o->campaign_id, id, d->driver, caps_js, d->capacity, "ready", s_now()) < 0)
        s_fatal(o, "recording a device");
    free(caps_js);
    s_event(o, "device.ready", id,
            json_pack("{s:s, s:s, s:o, s:i, s:s}", "device", id, "driver", d->driver,
                      "capabilities", caps, "capacity", d->capacity, "version",
                      h->software_version ? h->software_version : ""));
    lab_info("device '%s' ready (%s, capacity %d)", id, d->driver, d->capacity);
    s_out *q = s_queue(o, id);
    if (q) {
        labloop__welcome__init(&q->welcome);
        q->welcome.heartbeat_ms = (uint32_t)o->cfg->heartbeat_ms;
        q->welcome.liveness = (uint32_t)o->cfg->liveness;
        q->welcome.campaign = o->cfg->name;
        q->welcome.max_message_bytes = LAB_MSG_MAX;
        q->env->body_case = LABLOOP__ENVELOPE__BODY_WELCOME;
        q->env->welcome = &q->welcome;
    }
}

/* ------------------------------------------------------------ experiments */

static void s_exp_free(s_exp *x, size_t n_steps)
{
    if (!x)
        return;
    for (size_t s = 0; s < n_steps; s++)
        json_decref(x->values ? x->values[s] : NULL);
    free(x->values);
    free(x->cur);
    free(x->step);
    free(x->x);
    free(x->y);
    free(x);
}

static void s_tell(lab_orch *o, s_exp *x, lab_outcome outcome)
{
    if (lab_planner_tell(o->planner, x->x, outcome == LAB_OUTCOME_MEASURED ? x->y : NULL, outcome) < 0)
        lab_warn("planner refused the outcome of experiment %ld: %s", x->seq,
                 lab_planner_last_error(o->planner)->msg);
}

static void s_progress(lab_orch *o, const s_exp *x, const char *what)
{
    if (!o->opts.progress)
        return;
    double t = (double)(lab_clock_mono_us() - o->start_mono_us) / 1e6;
    const lab_cfg_objective *obj = &o->cfg->objectives[0];
    char best[128] = "none yet";
    if (o->best)
        snprintf(best, sizeof best, "%s %.4g (experiment %ld)", obj->name, o->exps[o->best - 1]->y[0], o->best);
    fprintf(o->opts.progress, "[%3ld/%ld] experiment %ld %s | best %s | %.1f s\n",
            o->measured + o->failed, o->cfg->budget_experiments, x->seq, what, best, t);
    fflush(o->opts.progress);
}

static void s_exp_failed(lab_orch *o, s_exp *x, const char *error)
{
    x->state = S_EXP_FAILED;
    o->in_flight--;
    o->failed++;
    if (lab_hub_set_experiment_status(o->hub, o->campaign_id, x->seq, "failed", NULL, error, s_now()) < 0)
        s_fatal(o, "recording an experiment");
    s_event(o, "experiment.failed", x->id, json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "error", error));
    s_tell(o, x, LAB_OUTCOME_FAILED);
    char what[600];
    snprintf(what, sizeof what, "failed: %s", error);
    s_progress(o, x, what);
}

static void s_exp_finished(lab_orch *o, s_exp *x)
{
    const lab_campaign_cfg *c = o->cfg;
    json_t *objs = json_object();
    for (size_t k = 0; k < c->n_objectives; k++) {
        const lab_cfg_objective *ob = &c->objectives[k];
        int s = lab_config_step(c, ob->from_step);
        json_t *v = s >= 0 && x->values[s] ? json_object_get(x->values[s], ob->from_value) : NULL;
        if (!v || !json_is_number(v)) {
            char msg[512];
            snprintf(msg, sizeof msg, "step '%s' returned no numeric '%s' for objective '%s'",
                     ob->from_step, ob->from_value, ob->name);
            json_decref(objs);
            s_exp_failed(o, x, msg);
            return;
        }
        x->y[k] = json_number_value(v);
        json_object_set_new(objs, ob->name, json_real(x->y[k]));
    }
    x->state = S_EXP_MEASURED;
    o->in_flight--;
    o->measured++;
    if (!o->best || s_better(o, x->y[0], o->exps[o->best - 1]->y[0]))
        o->best = x->seq;
    char *js = json_dumps(objs, JSON_COMPACT);
    if (lab_hub_set_experiment_status(o->hub, o->campaign_id, x->seq, "measured", js, NULL, s_now()) < 0)
        s_fatal(o, "recording an experiment");
    free(js);
    s_event(o, "experiment.measured", x->id, json_pack("{s:I, s:o}", "experiment", (json_int_t)x->seq, "objectives", objs));
    s_tell(o, x, LAB_OUTCOME_MEASURED);
    char what[256];
    snprintf(what, sizeof what, "measured: %s = %.4g", c->objectives[0].name, x->y[0]);
    s_progress(o, x, what);
    if (c->has_stop_when) {
        double v = x->y[c->stop_objective];
        int hit = (!isnan(c->stop_at_least) && v >= c->stop_at_least) ||
                  (!isnan(c->stop_at_most) && v <= c->stop_at_most);
        if (hit && !o->end_status) {
            o->end_status = "completed";
            snprintf(o->end_reason, sizeof o->end_reason, "target reached: %s = %.4g at experiment %ld",
                     c->objectives[c->stop_objective].name, v, x->seq);
        }
    }
}

/* An attempt of step s of x has ended without success (or was lost): retry
 * it when its policy allows, otherwise fail the experiment. */
static void s_attempt_ended(lab_orch *o, s_exp *x, size_t s, const char *status, const char *error)
{
    s_attempt *a = &x->cur[s];
    const lab_cfg_step *st = &o->cfg->steps[s];
    if (a->dev)
        s_device_busy(a->dev, -1);
    if (lab_hub_set_step_status(o->hub, a->id, status, NULL, 0, s_now(), NULL, error) < 0)
        s_fatal(o, "recording a step");
    s_event(o, "step.failed", a->id,
            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "attempt", a->id, "experiment", (json_int_t)x->seq,
                      "step", st->name, "device", a->dev ? a->dev->cfg->name : "", "status", status,
                      "error", error));
    if (a->n <= st->retries) {
        x->step[s] = S_STEP_PENDING;
        s_event(o, "step.retry", a->id,
                json_pack("{s:s, s:I, s:s, s:i, s:s}", "attempt", a->id, "experiment", (json_int_t)x->seq,
                          "step", st->name, "attempt_no", a->n + 1, "reason", error));
        lab_info("experiment %ld: retrying step '%s' (attempt %d of %d): %s", x->seq, st->name,
                 a->n + 1, st->retries + 1, error);
        return;
    }
    x->step[s] = S_STEP_FAILED;
    char msg[512];
    if (st->retries > 0)
        snprintf(msg, sizeof msg, "step '%s': %s (after %d attempts)", st->name, error, a->n);
    else
        snprintf(msg, sizeof msg, "step '%s': %s", st->name, error);
    s_exp_failed(o, x, msg);
}

static int s_parse_attempt(lab_orch *o, const char *id, s_exp **xp, int *step, int *n)
{
    /* <campaign>/<seq>/<step>/<n>, read from the right: names have no '/'
     * except possibly the campaign's. */
    const char *p3 = strrchr(id, '/');
    if (!p3)
        return -1;
    const char *p2 = p3 - 1;
    while (p2 > id && *p2 != '/')
        p2--;
    const char *p1 = p2 - 1;
    while (p1 > id && *p1 != '/')
        p1--;
    if (p1 <= id || *p1 != '/' || *p2 != '/')
        return -1;
    size_t clen = (size_t)(p1 - id);
    if (clen != strlen(o->cfg->name) || strncmp(id, o->cfg->name, clen) != 0)
        return -1;
    char *end;
    long seq = strtol(p1 + 1, &end, 10);
    if (end != p2 || seq < 1 || seq > o->n_exps)
        return -1;
    char sname[128];
    size_t slen = (size_t)(p3 - p2 - 1);
    if (slen == 0 || slen >= sizeof sname)
        return -1;
    memcpy(sname, p2 + 1, slen);
    sname[slen] = '\0';
    int s = lab_config_step(o->cfg, sname);
    long num = strtol(p3 + 1, &end, 10);
    if (s < 0 || *end || num < 1)
        return -1;
    *xp = o->exps[seq - 1];
    *step = s;
    *n = (int)num;
    return 0;
}

static json_t *s_values_json(const Labloop__StepResult *r)
{
    json_t *j = json_object();
    for (size_t i = 0; i < r->n_values; i++) {
        const Labloop__Param *p = r->values[i];
        if (!p->name || !p->value)
            continue;
        switch (p->value->kind_case) {
        case LABLOOP__VALUE__KIND_NUMBER: json_object_set_new(j, p->name, json_real(p->value->number)); break;
        case LABLOOP__VALUE__KIND_INTEGER: json_object_set_new(j, p->name, json_integer(p->value->integer)); break;
        case LABLOOP__VALUE__KIND_FLAG: json_object_set_new(j, p->name, json_boolean(p->value->flag)); break;
        case LABLOOP__VALUE__KIND_TEXT: json_object_set_new(j, p->name, json_string(p->value->text)); break;
        default: break;
        }
    }
    return j;
}

static void s_on_result(lab_orch *o, s_device *d, Labloop__StepResult *r)
{
    const char *id = r->attempt_id ? r->attempt_id : "";
    s_exp *x;
    int s, n;
    /* Whatever it is, the worker may drop it once this turn is committed. */
    s_queue_ack(o, d->cfg->name, id);
    if (s_parse_attempt(o, id, &x, &s, &n) < 0) {
        s_event(o, "message.bad", id, json_pack("{s:s, s:s}", "device", d->cfg->name, "error",
                                                 "result for an attempt this campaign never dispatched"));
        return;
    }
    s_attempt *a = &x->cur[s];
    if (x->state != S_EXP_RUNNING || x->step[s] != S_STEP_RUNNING || a->n != n || a->dev != d)
        return;                                     /* duplicate or superseded: acked only */
    const lab_cfg_step *st = &o->cfg->steps[s];
    if (r->status == LABLOOP__STEP_RESULT__STATUS__DONE) {
        json_t *vals = s_values_json(r);
        char *vjs = json_dumps(vals, JSON_COMPACT);
        s_device_busy(d, -1);
        if (lab_hub_set_step_status(o->hub, id, "done", NULL, r->started_us, r->finished_us, vjs, NULL) < 0)
            s_fatal(o, "recording a step");
        free(vjs);
        double secs = (double)(r->finished_us - r->started_us) / 1e6;
        s_event(o, "step.done", id,
                json_pack("{s:s, s:I, s:s, s:s, s:O, s:f}", "attempt", id, "experiment", (json_int_t)x->seq,
                          "step", st->name, "device", d->cfg->name, "values", vals, "seconds", secs));
        x->values[s] = vals;
        x->step[s] = S_STEP_DONE;
        for (size_t k = 0; k < o->cfg->n_steps; k++)
            if (x->step[k] != S_STEP_DONE)
                return;
        s_exp_finished(o, x);
        return;
    }
    const char *status = r->status == LABLOOP__STEP_RESULT__STATUS__TIMED_OUT ? "timed_out"
                       : r->status == LABLOOP__STEP_RESULT__STATUS__CANCELLED ? "cancelled"
                                                                              : "failed";
    if (lab_hub_set_step_status(o->hub, id, status, NULL, r->started_us, 0, NULL, NULL) < 0)
        s_fatal(o, "recording a step");
    char err[512];
    snprintf(err, sizeof err, "%s", r->error && *r->error ? r->error : status);
    s_attempt_ended(o, x, (size_t)s, status, err);
}

/* Propose new experiments while the batch has room and the budget allows. */
static void s_propose(lab_orch *o)
{
    const lab_campaign_cfg *c = o->cfg;
    while (!o->end_status && o->in_flight < c->batch && o->n_exps < c->budget_experiments) {
        size_t n_pending = 0;
        double *pending = calloc((size_t)o->in_flight + 1, o->dims * sizeof(double));
        double *pt = calloc(o->dims, sizeof(double));
        if (!pending || !pt) {
            free(pending);
            free(pt);
            return;
        }
        for (long i = 0; i < o->n_exps; i++)
            if (o->exps[i]->state == S_EXP_RUNNING)
                memcpy(pending + o->dims * n_pending++, o->exps[i]->x, o->dims * sizeof(double));
        lab_ask_info info;
        memset(&info, 0, sizeof info);
        int rc = lab_planner_ask(o->planner, 1, pending, n_pending, pt, &info);
        free(pending);
        if (rc < 0) {
            free(pt);
            o->end_status = "exhausted";
            snprintf(o->end_reason, sizeof o->end_reason, "the planner has nothing more to propose: %s",
                     lab_planner_last_error(o->planner)->msg);
            return;
        }
        if (o->n_exps == o->cap_exps) {
            long cap = o->cap_exps ? 2 * o->cap_exps : 64;
            s_exp **e = realloc(o->exps, (size_t)cap * sizeof *e);
            if (!e) {
                free(pt);
                return;
            }
            o->exps = e;
            o->cap_exps = cap;
        }
        s_exp *x = calloc(1, sizeof *x);
        if (x) {
            x->step = calloc(c->n_steps, sizeof *x->step);
            x->cur = calloc(c->n_steps, sizeof *x->cur);
            x->values = calloc(c->n_steps, sizeof *x->values);
            x->y = calloc(c->n_objectives, sizeof *x->y);
        }
        if (!x || !x->step || !x->cur || !x->values || !x->y) {
            s_exp_free(x, 0);
            free(pt);
            return;
        }
        x->x = pt;
        x->seq = o->n_exps + 1;
        snprintf(x->id, sizeof x->id, "%s/%ld", c->name, x->seq);
        o->exps[o->n_exps++] = x;
        o->in_flight++;
        json_t *params = s_params_json(o, pt);
        json_t *prov = json_pack("{s:s, s:s, s:I}", "planner", lab_planner_name(o->planner),
                                 "reason", info.reason, "seed", (json_int_t)c->seed);
        if (!isnan(info.acquisition) && info.acquisition != 0)
            json_object_set_new(prov, "acquisition", json_real(info.acquisition));
        char *pjs = json_dumps(params, JSON_COMPACT), *vjs = json_dumps(prov, JSON_COMPACT);
        if (lab_hub_record_experiment(o->hub, o->campaign_id, x->seq, pjs, info.origin, vjs, "running", s_now()) < 0)
            s_fatal(o, "recording an experiment");
        free(pjs);
        free(vjs);
        json_decref(prov);
        s_event(o, "experiment.proposed", x->id,
                json_pack("{s:I, s:o, s:s, s:s, s:s}", "experiment", (json_int_t)x->seq, "params", params,
                          "origin", info.origin, "planner", lab_planner_name(o->planner), "reason", info.reason));
    }
}

static Labloop__Param *s_step_param(lab_orch *o, const s_exp *x, const lab_cfg_param *p)
{
    if (p->dim < 0) {
        char *end;
        double v = strtod(p->literal, &end);
        return *p->literal && !*end ? lab_param_number(p->name, v, NULL) : lab_param_text(p->name, p->literal);
    }
    const lab_dim *d = lab_space_dim(o->cfg->space, (size_t)p->dim);
    double v = x->x[p->dim];
    if (d->type == LAB_DIM_CATEGORICAL)
        return lab_param_text(p->name, d->choices[(size_t)v]);
    return lab_param_number(p->name, v, d->unit);
}

static void s_dispatch(lab_orch *o, s_exp *x, size_t s, s_device *d)
{
    const lab_cfg_step *st = &o->cfg->steps[s];
    s_attempt *a = &x->cur[s];
    a->n++;
    a->dev = d;
    snprintf(a->id, sizeof a->id, "%s/%ld/%s/%d", o->cfg->name, x->seq, st->name, a->n);
    a->dispatched_us = lab_clock_mono_us();
    a->deadline_us = st->timeout_s > 0 ? a->dispatched_us + (int64_t)(st->timeout_s * 1e6) + S_DEADLINE_GRACE_US : 0;
    x->step[s] = S_STEP_RUNNING;
    s_device_busy(d, +1);

    Labloop__Param **params = calloc(st->n_params + 1, sizeof *params);
    json_t *pj = json_object();
    for (size_t i = 0; params && i < st->n_params; i++) {
        params[i] = s_step_param(o, x, &st->params[i]);
        if (params[i] && params[i]->value) {
            if (params[i]->value->kind_case == LABLOOP__VALUE__KIND_TEXT)
                json_object_set_new(pj, params[i]->name, json_string(params[i]->value->text));
            else
                json_object_set_new(pj, params[i]->name, json_real(params[i]->value->number));
        }
    }
    char *pjs = s_json(pj);
    lab_hub_step hs = {.attempt_id = a->id, .campaign = o->campaign_id, .experiment = x->seq,
                       .step = st->name, .attempt = a->n, .device = d->cfg->name,
                       .status = "dispatched", .params_json = pjs, .queued_us = s_now()};
    if (lab_hub_record_step(o->hub, &hs) < 0)
        s_fatal(o, "recording a step");
    free(pjs);
    s_event(o, "step.dispatched", a->id,
            json_pack("{s:s, s:I, s:s, s:s, s:i}", "attempt", a->id, "experiment", (json_int_t)x->seq,
                      "step", st->name, "device", d->cfg->name, "attempt_no", a->n));

    /* Attempt ids come from durable facts, and workers answer a repeated
     * request idempotently, so the request need not wait for the commit. */
    Labloop__StepRequest req = LABLOOP__STEP_REQUEST__INIT;
    req.attempt_id = a->id;
    req.experiment_id = x->id;
    req.sample_id = x->id;
    req.step = st->name;
    req.capability = st->capability;
    req.params = params;
    req.n_params = params ? st->n_params : 0;
    req.timeout_ms = (uint64_t)(st->timeout_s * 1000.0);
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_REQUEST;
    env.step_request = &req;
    s_send_now(o, d->cfg->name, &env);
    for (size_t i = 0; params && i < st->n_params; i++)
        lab_param_free(params[i]);
    free(params);
}

static s_device *s_pick_device(lab_orch *o, const char *cap)
{
    s_device *best = NULL;
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        s_device *d = &o->devices[i];
        if (d->state != S_DEV_READY || !d->welcomed || d->running >= d->capacity ||
            !s_device_has(d, cap))
            continue;
        /* least loaded first: spreads work over equal devices */
        if (!best || d->running * best->capacity < best->running * d->capacity)
            best = d;
    }
    return best;
}

static int s_step_ready(const lab_orch *o, const s_exp *x, size_t s)
{
    const lab_cfg_step *st = &o->cfg->steps[s];
    if (x->step[s] != S_STEP_PENDING)
        return 0;
    for (size_t k = 0; k < st->n_after; k++) {
        int p = lab_config_step(o->cfg, st->after[k]);
        if (p >= 0 && x->step[p] != S_STEP_DONE)
            return 0;
    }
    return 1;
}

static void s_check_end(lab_orch *o)
{
    if (o->stopping)
        return;
    if (!o->end_status && o->n_exps >= o->cfg->budget_experiments && o->in_flight == 0) {
        o->end_status = "completed";
        snprintf(o->end_reason, sizeof o->end_reason, "experiment budget of %ld spent",
                 o->cfg->budget_experiments);
    }
    if (o->end_status && o->in_flight == 0) {
        o->stopping = 1;
        uv_stop(&o->loop);
    }
}

static void s_schedule(lab_orch *o)
{
    if (o->stopping || o->fatal)
        return;
    s_propose(o);
    for (long i = 0; i < o->n_exps; i++) {
        s_exp *x = o->exps[i];
        if (x->state != S_EXP_RUNNING)
            continue;
        for (size_t s = 0; s < o->cfg->n_steps; s++) {
            if (!s_step_ready(o, x, s))
                continue;
            s_device *d = s_pick_device(o, o->cfg->steps[s].capability);
            if (d)
                s_dispatch(o, x, s, d);
        }
    }
    s_check_end(o);
}

/* ------------------------------------------------------------ messages */

static void s_handle(lab_orch *o, const char *id, lab_env *env)
{
    s_device *d = s_device_find(o, id);
    if (d && d->state == S_DEV_READY)
        d->last_rx_us = lab_clock_mono_us();
    switch (env->body_case) {
    case LABLOOP__ENVELOPE__BODY_HELLO:
        s_on_hello(o, id, env->hello);
        if (d)
            d->last_rx_us = lab_clock_mono_us();
        break;
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT:
    case LABLOOP__ENVELOPE__BODY_STEP_UPDATE:
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_RESULT:
        if (d && d->state == S_DEV_READY)
            s_on_result(o, d, env->step_result);
        break;
    default:
        s_event(o, "message.bad", id, json_pack("{s:s, s:s}", "device", id, "error",
                                                 "a worker sent a message only the orchestrator may send"));
        break;
    }
    /* A message from a device we do not know as ready gets a refusal, so a
     * worker that outlived an orchestrator restart says hello again. */
    if (env->body_case != LABLOOP__ENVELOPE__BODY_HELLO && (!d || d->state != S_DEV_READY)) {
        if (!d) {
            s_refuse(o, id, LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE, "unknown device: say hello first");
        } else {
            /* A lab device we think offline or lost: ask it to say hello
             * again (at most twice a second), so its results get through. */
            int64_t now = lab_clock_mono_us();
            if (now - d->last_nudge_us > S_NUDGE_US) {
                d->last_nudge_us = now;
                Labloop__Refuse r = LABLOOP__REFUSE__INIT;
                r.reason = LABLOOP__REFUSE__REASON__NOT_REGISTERED;
                r.detail = (char *)"not registered: say hello again";
                lab_env e = LABLOOP__ENVELOPE__INIT;
                e.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
                e.refuse = &r;
                s_send_now(o, id, &e);
            }
        }
    }
}

static int s_on_readable(void *sock, void *arg)
{
    lab_orch *o = arg;
    int n = 0;
    while (!o->fatal) {
        char id[LAB_ID_MAX];
        lab_env *env = NULL;
        lab_err e = {0};
        int rc = lab_env_recv(sock, id, sizeof id, &env, &e);
        if (rc == LAB_EAGAIN)
            break;
        n++;
        if (rc < 0) {
            lab_warn("bad message from '%s': %s", id, e.msg);
            s_event(o, "message.bad", id, json_pack("{s:s, s:s}", "device", id, "error", e.msg));
            if (rc == LAB_EVERSION)
                s_refuse(o, id, LABLOOP__REFUSE__REASON__BAD_VERSION, e.msg);
            continue;
        }
        s_handle(o, id, env);
        lab_env_free(env);
    }
    if (n)
        s_schedule(o);
    return n;
}

/* ------------------------------------------------------------ timers */

static void s_note_waiting(lab_orch *o)
{
    char names[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        if (o->devices[i].state == S_DEV_READY)
            continue;
        len += (size_t)snprintf(names + len, len < sizeof names ? sizeof names - len : 0, "%s%s",
                                len ? ", " : "", o->devices[i].cfg->name);
        if (len >= sizeof names)
            break;
    }
    if (names[0] && o->opts.progress) {
        fprintf(o->opts.progress, "waiting for devices: %s (listening on %s)\n", names,
                o->cfg->endpoint_devices);
        fflush(o->opts.progress);
    }
}

static void s_on_tick(uv_timer_t *t)
{
    lab_orch *o = t->data;
    int64_t now = lab_clock_mono_us();
    int64_t hb = (int64_t)o->cfg->heartbeat_ms * 1000;
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        s_device *d = &o->devices[i];
        if (d->state != S_DEV_READY)
            continue;
        if (now - d->last_rx_us > hb * o->cfg->liveness) {
            char why[128];
            snprintf(why, sizeof why, "no message for %.1f s (%d heartbeats missed)",
                     (double)(now - d->last_rx_us) / 1e6, o->cfg->liveness);
            s_device_lost(o, d, why);
            continue;
        }
        if (now - d->last_hb_us >= hb) {
            Labloop__Heartbeat h = LABLOOP__HEARTBEAT__INIT;
            h.time_us = s_now();
            lab_env env = LABLOOP__ENVELOPE__INIT;
            env.body_case = LABLOOP__ENVELOPE__BODY_HEARTBEAT;
            env.heartbeat = &h;
            s_send_now(o, d->cfg->name, &env);
            d->last_hb_us = now;
        }
    }
    for (long i = 0; i < o->n_exps; i++) {
        s_exp *x = o->exps[i];
        for (size_t s = 0; x->state == S_EXP_RUNNING && s < o->cfg->n_steps; s++) {
            if (x->step[s] == S_STEP_RUNNING && x->cur[s].deadline_us && now > x->cur[s].deadline_us) {
                char msg[256];
                snprintf(msg, sizeof msg, "device '%s': step '%s' timed out after %.0f s (attempt %d of %d)",
                         x->cur[s].dev->cfg->name, o->cfg->steps[s].name, o->cfg->steps[s].timeout_s,
                         x->cur[s].n, o->cfg->steps[s].retries + 1);
                Labloop__Control c = LABLOOP__CONTROL__INIT;
                c.action = LABLOOP__CONTROL__ACTION__CANCEL;
                c.attempt_id = x->cur[s].id;
                c.reason = msg;
                lab_env env = LABLOOP__ENVELOPE__INIT;
                env.body_case = LABLOOP__ENVELOPE__BODY_CONTROL;
                env.control = &c;
                s_send_now(o, x->cur[s].dev->cfg->name, &env);
                s_attempt_ended(o, x, s, "timed_out", msg);
            }
        }
    }
    if (o->cfg->budget_hours > 0 && !o->end_status &&
        now - o->start_mono_us > (int64_t)(o->cfg->budget_hours * 3600e6)) {
        o->end_status = "exhausted";
        snprintf(o->end_reason, sizeof o->end_reason, "time budget of %g h spent", o->cfg->budget_hours);
        /* Experiments still running are left to finish: nothing new starts. */
    }
    if (now - o->last_note_us > S_WAITING_NOTE_US) {
        o->last_note_us = now;
        s_note_waiting(o);
    }
    s_schedule(o);
}

static void s_on_signal(uv_signal_t *h, int signum)
{
    lab_orch *o = h->data;
    lab_warn("signal %d: stopping; the campaign stays resumable in %s", signum, o->db_path);
    s_event(o, "campaign.interrupted", o->cfg->name, json_pack("{s:i}", "signal", signum));
    o->stopping = 1;
    uv_stop(&o->loop);
}

/* ------------------------------------------------------------ lifecycle */

lab_orch *lab_orch_new(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err)
{
    lab_orch *o = calloc(1, sizeof *o);
    if (!o) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->opts = *opts;
    snprintf(o->db_path, sizeof o->db_path, "%s", opts->db_path ? opts->db_path : cfg->hub);
    o->dims = lab_space_dims(cfg->space);
    o->devices = calloc(cfg->n_devices, sizeof *o->devices);
    if (!o->devices) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_devices; i++) {
        o->devices[i].cfg = &cfg->devices[i];
        o->devices[i].capacity = cfg->devices[i].capacity;
    }

    lab_planner_opts po = {.kind = cfg->planner_kind, .seed = cfg->seed,
                           .n_objectives = cfg->n_objectives,
                           .initial_kind = cfg->initial_kind,
                           .initial_count = (size_t)cfg->initial_count};
    for (size_t k = 0; k < cfg->n_objectives && k < LAB_PLANNER_MAX_OBJECTIVES; k++)
        po.maximize[k] = cfg->objectives[k].maximize;
    o->planner = lab_planner_new(cfg->space, &po, err);
    if (!o->planner)
        goto fail;

    o->hub = lab_hub_open(o->db_path, err);
    if (!o->hub)
        goto fail;
    char status[32];
    int64_t existing;
    if (lab_hub_find_campaign(o->hub, cfg->name, &existing, status, sizeof status) == 0) {
        lab_err_set(err, LAB_ESTATE,
                    "hub %s already holds campaign '%s' (status %s); resuming a campaign is not "
                    "supported yet: use another --db or campaign name",
                    o->db_path, cfg->name, status);
        goto fail;
    }
    char host[256] = "unknown";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    lab_hub_campaign hc = {.name = cfg->name, .config_path = cfg->path, .config_text = cfg->text,
                           .config_sha256 = cfg->sha256, .seed = cfg->seed, .version = LAB_VERSION_STRING,
                           .host = host, .operator_name = cfg->operator_name, .access = cfg->access,
                           .export_control = cfg->export_control, .planner = cfg->planner_kind,
                           .created_us = s_now()};
    if (lab_hub_record_campaign(o->hub, &hc, &o->campaign_id) < 0 ||
        lab_hub_set_campaign_status(o->hub, o->campaign_id, "running", s_now()) < 0) {
        lab_err_set(err, LAB_EDB, "recording the campaign in %s: %s", o->db_path, lab_hub_errmsg(o->hub));
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (lab_hub_record_device(o->hub, o->campaign_id, cfg->devices[i].name, "", "[]",
                                  cfg->devices[i].capacity, "offline", s_now()) < 0) {
            lab_err_set(err, LAB_EDB, "recording devices: %s", lab_hub_errmsg(o->hub));
            goto fail;
        }
    s_event(o, "campaign.created", cfg->name,
            json_pack("{s:s, s:I, s:s, s:I, s:s}", "name", cfg->name, "seed", (json_int_t)cfg->seed,
                      "planner", cfg->planner_kind, "budget", (json_int_t)cfg->budget_experiments,
                      "config_sha256", cfg->sha256));
    s_event(o, "campaign.status", cfg->name, json_pack("{s:s}", "status", "running"));

    o->zctx = zmq_ctx_new();
    o->dev_sock = o->zctx ? zmq_socket(o->zctx, ZMQ_ROUTER) : NULL;
    if (!o->dev_sock) {
        lab_err_from_zmq(err, "creating the device socket");
        goto fail;
    }
    int one = 1, zero = 0;
    int64_t maxsz = 4 * (int64_t)LAB_MSG_MAX;
    zmq_setsockopt(o->dev_sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(o->dev_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(o->dev_sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(o->dev_sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof maxsz);
    if (zmq_bind(o->dev_sock, cfg->endpoint_devices) != 0) {
        lab_err_from_zmq(err, "bind");
        lab_err_prefix(err, "cannot listen for devices on %s (is another campaign running?): ",
                       cfg->endpoint_devices);
        goto fail;
    }
    if (lab_hub_commit(o->hub, err) < 0)
        goto fail;
    return o;
fail:
    lab_orch_destroy(&o);
    return NULL;
}

static void s_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int lab_orch_run(lab_orch *o, lab_orch_summary *sum, lab_err *err)
{
    uv_loop_init(&o->loop);
    o->zl = lab_zloop_new(&o->loop, s_flush, o, err);
    if (!o->zl || lab_zloop_add(o->zl, o->dev_sock, s_on_readable, o, err) < 0)
        return err->code;
    uv_timer_init(&o->loop, &o->tick);
    o->tick.data = o;
    uv_timer_start(&o->tick, s_on_tick, S_TICK_MS, S_TICK_MS);
    uv_signal_init(&o->loop, &o->sigint);
    uv_signal_init(&o->loop, &o->sigterm);
    o->sigint.data = o->sigterm.data = o;
    uv_signal_start(&o->sigint, s_on_signal, SIGINT);
    uv_signal_start(&o->sigterm, s_on_signal, SIGTERM);
    o->start_mono_us = o->last_note_us = lab_clock_mono_us();
    s_note_waiting(o);
    s_schedule(o);
    uv_run(&o->loop, UV_RUN_DEFAULT);

    const char *status = o->end_status && !o->fatal && o->in_flight == 0 ? o->end_status : "running";
    double elapsed = (double)(lab_clock_mono_us() - o->start_mono_us) / 1e6;
    if (!o->fatal) {
        if (strcmp(status, "running") != 0) {
            if (lab_hub_set_campaign_status(o->hub, o->campaign_id, status, s_now()) < 0)
                s_fatal(o, "recording the campaign status");
            s_event(o, "campaign.status", o->cfg->name,
                    json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}", "status", status, "reason", o->end_reason,
                              "experiments", (json_int_t)o->n_exps, "measured", (json_int_t)o->measured,
                              "failed", (json_int_t)o->failed, "seconds", elapsed));
        }
        for (size_t i = 0; i < o->cfg->n_devices; i++) {
            s_device *d = &o->devices[i];
            if (d->running > 0)
                s_device_busy(d, -d->running);
            if (d->state != S_DEV_OFFLINE)
                lab_info("device '%s': busy %.1f s of %.1f s (%.0f %%)", d->cfg->name, d->busy_s, elapsed,
                         elapsed > 0 ? 100.0 * d->busy_s / elapsed : 0.0);
        }
        s_flush(o);          /* commit, then the last acks */
    }
    if (sum) {
        memset(sum, 0, sizeof *sum);
        snprintf(sum->status, sizeof sum->status, "%s", status);
        sum->proposed = o->n_exps;
        sum->measured = o->measured;
        sum->failed = o->failed;
        sum->elapsed_s = elapsed;
        sum->best_experiment = o->best;
        sum->best_value = o->best ? o->exps[o->best - 1]->y[0] : NAN;
    }
    if (o->opts.progress && !o->fatal) {
        FILE *f = o->opts.progress;
        fprintf(f, "\ncampaign %s %s: %ld experiments (%ld measured, %ld failed) in %.1f s%s%s%s\n",
                o->cfg->name, status, o->n_exps, o->measured, o->failed, elapsed,
                o->end_reason[0] ? " — " : "", o->end_reason, "");
        if (o->best) {
            s_exp *b = o->exps[o->best - 1];
            fprintf(f, "best %s = %.4g at experiment %ld:", o->cfg->objectives[0].name, b->y[0], b->seq);
            for (size_t i = 0; i < o->dims; i++) {
                const lab_dim *d = lab_space_dim(o->cfg->space, i);
                char buf[64];
                if (d->type == LAB_DIM_REAL)
                    fprintf(f, " %s=%.4g%s%s", d->name, b->x[i], d->unit ? " " : "", d->unit ? d->unit : "");
                else
                    fprintf(f, " %s=%s", d->name, lab_space_format(o->cfg->space, i, b->x[i], buf, sizeof buf));
            }
            fprintf(f, "\n");
        }
        fprintf(f, "hub: %s\n", o->db_path);
        fflush(f);
    }
    lab_zloop_destroy(&o->zl);
    uv_walk(&o->loop, s_close_walk, NULL);
    uv_run(&o->loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&o->loop);
    if (lc != 0)
        lab_warn("event loop closed with handles open: %s", uv_strerror(lc));
    if (o->fatal) {
        if (err)
            *err = o->fatal_err;
        return o->fatal_err.code;
    }
    return 0;
}

void lab_orch_destroy(lab_orch **op)
{
    if (!op || !*op)
        return;
    lab_orch *o = *op;
    *op = NULL;
    while (o->out_head) {
        s_out *q = o->out_head;
        o->out_head = q->next;
        s_out_free(q);
    }
    for (long i = 0; i < o->n_exps; i++)
        s_exp_free(o->exps[i], o->cfg->n_steps);
    free(o->exps);
    free(o->devices);
    if (o->dev_sock)
        zmq_close(o->dev_sock);
    if (o->zctx)
        zmq_ctx_term(o->zctx);
    lab_hub_destroy(&o->hub);
    lab_planner_destroy(&o->planner);
    free(o);
}
