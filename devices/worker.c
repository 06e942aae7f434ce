/* The device worker runtime (see worker.h): connection, registration,
 * heartbeats, reconnects, step execution through a driver, and the outbox.
 * Not for: what steps do; that is the driver's business. */
#include "devices/worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/version.h"
#include "devices/outbox.h"
#include "devices/started.h"
#include "protocols/envelope.h"
#include "protocols/zloop.h"
#include "protocols/request_check.h"
#include "common/banned.h"

#define S_TICK_MS 50
#define S_DEFAULT_HB_MS 1000
#define S_DEFAULT_LIVENESS 3
/* An unacknowledged result is sent again after this long. */
#define S_RESEND_US (3 * 1000000)
/* On the way out, how long drivers get to finish their cancelled steps. */
#define S_STOP_GRACE_US (2 * 1000000)
/* A worker's e-stop request is repeated this often until confirmed. */
#define S_ESTOP_RESEND_US (1 * 1000000)

struct lab_step {
    lab_worker *w;
    lab_env *env;                    /* owns req */
    Labloop__StepRequest *req;
    void *driver_data;
    Labloop__Param **values;
    size_t n_values, cap_values;
    Labloop__Artifact **artifacts;
    size_t n_artifacts, cap_artifacts;
    int64_t started_us;
    int stop_status;                 /* 0, or TIMED_OUT/CANCELLED decided by the worker */
    char stop_reason[128];
    int finished;                    /* lab_step_finish ran; freed later (s_step_release) */
    int timed;                       /* deadline is initialised (the step has a timeout) */
    uv_timer_t deadline;
    lab_step *next;
};

typedef struct s_outbox {
    char run[LAB_OUTBOX_RUN_MAX + 1];  /* Welcome.run when it was made ("" unknown) */
    char *attempt;
    uint8_t *buf;                    /* encoded Envelope{StepResult} */
    size_t len;
    int64_t sent_us;
    struct s_outbox *next;
} s_outbox;

typedef enum { S_CONNECTING, S_READY } s_state;

struct lab_worker {
    const lab_worker_opts *o;
    uv_loop_t loop;
    void *zctx;
    void *sock;
    lab_zloop *zl;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    s_state state;
    int estopped;
    int estop_pending;               /* our e-stop request not yet confirmed */
    char estop_reason[256];
    int64_t estop_sent_us;
    int last_state;                  /* lab_worker_state told to the driver, -1 none */
    uint32_t hb_ms, liveness;
    int64_t last_rx_us, last_hb_us, hello_us;
    int backoff_ms;
    uint64_t seq;
    lab_step *running;
    int n_running;
    lab_step *finished;              /* finished steps without a timer, freed on the next drain */
    s_outbox *outbox;
    char run[LAB_OUTBOX_RUN_MAX + 1];  /* the last Welcome's run */
    lab_started *started;            /* attempts started under that run (NULL before a Welcome) */
    char started_run[LAB_OUTBOX_RUN_MAX + 1];
    int stopping;
    int result;
    lab_err *err;
};

/* ---- sending ---- */

static void s_send(lab_worker *w, lab_env *env)
{
    if (!w->sock)
        return;
    env->seq = ++w->seq;
    lab_err e = {0};
    if (lab_env_send(w->sock, NULL, env, &e) < 0 && e.code != LAB_EAGAIN)
        lab_warn("send %s: %s", lab_env_kind(env), e.msg);
}

static void s_send_hello(lab_worker *w)
{
    Labloop__Hello h = LABLOOP__HELLO__INIT;
    h.device = (char *)w->o->name;
    h.driver = (char *)w->o->ops->name;
    h.capabilities = (char **)w->o->capabilities;
    h.n_capabilities = w->o->n_capabilities;
    h.capacity = (uint32_t)w->o->capacity;
    h.software_version = (char *)LAB_VERSION_STRING;
    h.estopped = w->estopped;
    size_t n_out = 0, n_run = 0;
    for (s_outbox *b = w->outbox; b; b = b->next)
        n_out++;
    for (lab_step *s = w->running; s; s = s->next)
        n_run++;
    char **unacked = calloc(n_out + 1, sizeof *unacked);
    char **running = calloc(n_run + 1, sizeof *running);
    size_t i = 0;
    for (s_outbox *b = w->outbox; b && unacked; b = b->next)
        unacked[i++] = b->attempt;
    i = 0;
    for (lab_step *s = w->running; s && running; s = s->next)
        running[i++] = s->req->attempt_id;
    h.unacked_attempts = unacked;
    h.n_unacked_attempts = unacked ? n_out : 0;
    h.running_attempts = running;
    h.n_running_attempts = running ? n_run : 0;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    s_send(w, &env);
    free(unacked);
    free(running);
    w->hello_us = lab_clock_mono_us();
}

static void s_send_update(lab_worker *w, const char *attempt, Labloop__StepUpdate__Kind kind,
                          double fraction, const char *text)
{
    Labloop__StepUpdate u = LABLOOP__STEP_UPDATE__INIT;
    u.attempt_id = (char *)attempt;
    u.kind = kind;
    u.fraction = fraction;
    u.text = (char *)(text ? text : "");
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_UPDATE;
    env.step_update = &u;
    s_send(w, &env);
}

lab_worker_state lab_worker_get_state(const lab_worker *w)
{
    if (w->estopped)
        return LAB_WSTATE_ESTOPPED;
    if (w->state != S_READY)
        return LAB_WSTATE_OFFLINE;
    return w->n_running > 0 ? LAB_WSTATE_BUSY : LAB_WSTATE_READY;
}

const char *lab_worker_name(const lab_worker *w) { return w->o->name; }

/* Tell the driver when the state it shows (status light) changes. */
static void s_notify_state(lab_worker *w)
{
    lab_worker_state st = lab_worker_get_state(w);
    if ((int)st == w->last_state)
        return;
    w->last_state = (int)st;
    if (w->o->ops->state)
        w->o->ops->state(w->o->driver, st);
}

/* Worker -> orchestrator Control{ESTOP}: only to an orchestrator that knows
 * us (READY); a CONNECTING worker sends it right after the Welcome. */
static void s_send_estop_request(lab_worker *w)
{
    if (!w->estop_pending || w->state != S_READY || !w->sock)
        return;
    Labloop__Control c = LABLOOP__CONTROL__INIT;
    c.action = LABLOOP__CONTROL__ACTION__ESTOP;
    c.attempt_id = (char *)"";
    c.reason = w->estop_reason;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    s_send(w, &env);
    w->estop_sent_us = lab_clock_mono_us();
}

static void s_send_outbox(lab_worker *w, s_outbox *b)
{
    if (w->state != S_READY || !w->sock)
        return;
    lab_err e = {0};
    if (lab_env_send_raw(w->sock, NULL, b->buf, b->len, &e) < 0 && e.code != LAB_EAGAIN)
        lab_warn("send result %s: %s", b->attempt, e.msg);
    b->sent_us = lab_clock_mono_us();
}

/* ---- the outbox ---- */

static s_outbox *s_outbox_add(lab_worker *w, const char *run, const char *attempt, uint8_t *buf, size_t len)
{
    s_outbox *b = calloc(1, sizeof *b);
    char *a = strdup(attempt);
    if (!b || !a) {
        free(b);
        free(a);
        return NULL;
    }
    snprintf(b->run, sizeof b->run, "%s", run);
    b->attempt = a;
    b->buf = buf;
    b->len = len;
    b->next = w->outbox;
    w->outbox = b;
    return b;
}

static void s_outbox_free(s_outbox *b)
{
    free(b->attempt);
    free(b->buf);
    free(b);
}

/* A result saved by an earlier life of this worker (lab_outbox_load). */
static void s_outbox_loaded(const char *run, const char *attempt, uint8_t *buf, size_t len, void *arg)
{
    lab_worker *w = arg;
    if (!s_outbox_add(w, run, attempt, buf, len))
        free(buf);
}

/* A Welcome named the run it belongs to: results kept from another run are
 * not this one's (the same attempt id may mean another experiment now), so
 * they are set aside unsent. Results of an unknown run stay. */
static void s_outbox_adopt_run(lab_worker *w, const char *run)
{
    if (!run || !*run)
        return;
    snprintf(w->run, sizeof w->run, "%s", run);
    for (s_outbox **pp = &w->outbox; *pp;) {
        s_outbox *b = *pp;
        if (!b->run[0] || !strcmp(b->run, w->run)) {
            pp = &b->next;
            continue;
        }
        *pp = b->next;
        lab_err e = {0};
        if (w->o->outbox_dir && lab_outbox_set_aside(w->o->outbox_dir, b->run, b->attempt, &e) < 0)
            lab_warn("device '%s': %s", w->o->name, e.msg);
        lab_warn("device '%s': the result of %s is from another run of the campaign (%s, now %s): "
                 "set aside%s, not sent", w->o->name, b->attempt, b->run, w->run,
                 w->o->outbox_dir ? " in the outbox's stale/" : "");
        s_outbox_free(b);
    }
}

/* The record of started attempts follows the Welcome's run: an attempt id
 * of another run names another attempt. */
static void s_started_adopt_run(lab_worker *w, const char *run)
{
    char cut[LAB_OUTBOX_RUN_MAX + 1];
    snprintf(cut, sizeof cut, "%s", run ? run : "");
    if (w->started && !strcmp(cut, w->started_run))
        return;
    lab_started_destroy(&w->started);
    lab_err e = {0};
    w->started = lab_started_open(w->o->outbox_dir, cut, &e);
    if (!w->started) {
        /* Memory only: an attempt is still run at most once by this process. */
        lab_error("device '%s': the record of started attempts cannot be kept on disk: %s; "
                  "after a restart of this worker an attempt could run again", w->o->name, e.msg);
        w->started = lab_started_open(NULL, cut, NULL);
    }
    snprintf(w->started_run, sizeof w->started_run, "%s", cut);
    size_t n = lab_started_count(w->started);
    if (n)
        lab_info("device '%s': %zu attempt(s) of run %s already started here; they are not run again",
                 w->o->name, n, cut[0] ? cut : "(unknown)");
}

static s_outbox *s_outbox_find(lab_worker *w, const char *attempt)
{
    for (s_outbox *b = w->outbox; b; b = b->next)
        if (strcmp(b->attempt, attempt) == 0)
            return b;
    return NULL;
}

static lab_step *s_running_find(lab_worker *w, const char *attempt)
{
    for (lab_step *s = w->running; s; s = s->next)
        if (strcmp(s->req->attempt_id, attempt) == 0)
            return s;
    return NULL;
}

/* ---- connection ---- */

static int s_on_readable(void *sock, void *arg);

static void s_disconnect(lab_worker *w)
{
    if (!w->sock)
        return;
    lab_zloop_remove(w->zl, w->sock);
    zmq_close(w->sock);
    w->sock = NULL;
}

static int s_connect(lab_worker *w)
{
    s_disconnect(w);
    w->sock = zmq_socket(w->zctx, ZMQ_DEALER);
    if (!w->sock)
        return lab_err_from_zmq(w->err, "zmq_socket");
    int linger = 0;
    int64_t maxsz = 4 * (int64_t)LAB_MSG_MAX;
    zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(w->sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof maxsz);
    zmq_setsockopt(w->sock, ZMQ_ROUTING_ID, w->o->name, strlen(w->o->name));
    if (w->o->server_key && lab_keys_apply_client(w->sock, w->o->server_key, w->o->public_key,
                                                  w->o->secret_key, w->err) < 0) {
        zmq_close(w->sock);
        w->sock = NULL;
        return w->err->code;
    }
    if (zmq_connect(w->sock, w->o->endpoint) != 0) {
        int rc = lab_err_from_zmq(w->err, "connect");
        lab_err_prefix(w->err, "device '%s': cannot connect to %s: ", w->o->name, w->o->endpoint);
        zmq_close(w->sock);
        w->sock = NULL;
        return rc;
    }
    lab_err e = {0};
    if (lab_zloop_add(w->zl, w->sock, s_on_readable, w, &e) < 0) {
        lab_error("%s", e.msg);
        return e.code;
    }
    w->state = S_CONNECTING;
    s_send_hello(w);
    s_notify_state(w);
    return 0;
}

static void s_reconnect(lab_worker *w, const char *why)
{
    lab_warn("device '%s': %s; reconnecting to %s (next try in %d ms if no answer)", w->o->name,
             why, w->o->endpoint, w->backoff_ms);
    s_connect(w);
}

/* ---- steps ---- */

static void s_step_free(lab_step *s)
{
    for (size_t i = 0; i < s->n_values; i++)
        lab_param_free(s->values[i]);
    free(s->values);
    for (size_t i = 0; i < s->n_artifacts; i++) {
        free(s->artifacts[i]->name);
        free(s->artifacts[i]->media_type);
        free(s->artifacts[i]->sha256.data);
        free(s->artifacts[i]->content.data);
        free(s->artifacts[i]);
    }
    free(s->artifacts);
    lab_env_free(s->env);
    free(s);
}

static void s_step_free_cb(uv_handle_t *h)
{
    s_step_free(h->data);
}

/* A finished step stays valid until the current callback returns (its
 * driver or s_on_step_request may still look at it): one with a deadline is
 * freed in the timer's close callback; the others wait on w->finished for
 * the next drain. Most steps have no timeout, and a timer handle per step
 * costs the loop an extra turn. */
static void s_step_release(lab_worker *w, lab_step *s)
{
    if (s->timed) {
        uv_timer_stop(&s->deadline);
        uv_close((uv_handle_t *)&s->deadline, s_step_free_cb);
    } else {
        s->next = w->finished;
        w->finished = s;
    }
}

static void s_free_finished(lab_worker *w)
{
    while (w->finished) {
        lab_step *s = w->finished;
        w->finished = s->next;
        s_step_free(s);
    }
}

static void s_on_deadline(uv_timer_t *t)
{
    lab_step *s = t->data;
    lab_worker *w = s->w;
    if (s->stop_status)
        return;
    s->stop_status = LAB_STEP_TIMED_OUT;
    snprintf(s->stop_reason, sizeof s->stop_reason,
             "device '%s': step '%s' timed out after %.1f s", w->o->name, s->req->step,
             (double)s->req->timeout_ms / 1000.0);
    lab_warn("%s (attempt %s)", s->stop_reason, s->req->attempt_id);
    if (w->o->ops->cancel)
        w->o->ops->cancel(w->o->driver, s);
}

static void s_cancel_step(lab_worker *w, lab_step *s, const char *reason)
{
    if (s->stop_status)
        return;
    s->stop_status = LAB_STEP_CANCELLED;
    snprintf(s->stop_reason, sizeof s->stop_reason, "%s", reason);
    if (w->o->ops->cancel)
        w->o->ops->cancel(w->o->driver, s);
}

/* Record a finished attempt in the outbox and send it. */
static void s_store_result(lab_worker *w, const char *attempt, Labloop__StepResult *r)
{
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_RESULT;
    env.step_result = r;
    env.seq = ++w->seq;
    uint8_t *buf = NULL;
    size_t len = 0;
    lab_err e = {0};
    if (lab_env_encode(&env, &buf, &len, &e) < 0) {
        /* A result too big to send is replaced by a failure that says so. */
        lab_error("attempt %s: result not sendable: %s", attempt, e.msg);
        Labloop__StepResult f = LABLOOP__STEP_RESULT__INIT;
        f.attempt_id = r->attempt_id;
        f.status = LABLOOP__STEP_RESULT__STATUS__FAILED;
        f.started_us = r->started_us;
        f.finished_us = r->finished_us;
        f.error = e.msg;
        env.step_result = &f;
        if (lab_env_encode(&env, &buf, &len, NULL) < 0)
            return;
    }
    s_outbox *b = s_outbox_add(w, w->run, attempt, buf, len);
    if (!b) {
        lab_error("attempt %s: result dropped: out of memory", attempt);
        free(buf);
        return;
    }
    if (w->o->outbox_dir && lab_outbox_save(w->o->outbox_dir, b->run, attempt, buf, len, &e) < 0)
        lab_error("device '%s': result of %s not saved in the outbox: %s (it is kept in memory only)",
                  w->o->name, attempt, e.msg);
    s_send_outbox(w, b);
}

void lab_step_finish(lab_step *s, lab_step_status status, const char *fmt, ...)
{
    if (s->finished)      /* a driver that finishes twice: the first one counts */
        return;
    lab_worker *w = s->w;
    char error[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(error, sizeof error, fmt, ap);
        va_end(ap);
    }
    s->finished = 1;
    if (s->stop_status) {
        status = (lab_step_status)s->stop_status;
        snprintf(error, sizeof error, "%s", s->stop_reason);
    }
    /* unlink */
    for (lab_step **pp = &w->running; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    w->n_running--;

    Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
    r.attempt_id = s->req->attempt_id;
    r.status = (Labloop__StepResult__Status)status;
    r.values = s->values;
    r.n_values = s->n_values;
    r.artifacts = s->artifacts;
    r.n_artifacts = s->n_artifacts;
    r.started_us = s->started_us;
    r.finished_us = lab_clock_wall_us();
    r.error = error;
    lab_debug("attempt %s finished: status %d %s", s->req->attempt_id, status, error);
    s_store_result(w, s->req->attempt_id, &r);

    s_step_release(w, s);
    s_notify_state(w);
}

/* Answer for an attempt that is not run now: a result with status and why. */
static void s_answer(lab_worker *w, const char *attempt, Labloop__StepResult__Status status, const char *why)
{
    Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
    r.attempt_id = (char *)attempt;
    r.status = status;
    r.started_us = r.finished_us = lab_clock_wall_us();
    r.error = (char *)why;
    s_store_result(w, attempt, &r);
}

static void s_fail_request(lab_worker *w, Labloop__StepRequest *req, const char *why)
{
    s_answer(w, req->attempt_id, LABLOOP__STEP_RESULT__STATUS__FAILED, why);
}

/* An attempt this worker started once (maybe in an earlier life) whose result
 * it no longer holds: it is never run again. */
static void s_answer_started(lab_worker *w, const char *attempt)
{
    char why[512];
    snprintf(why, sizeof why, "device '%s' already started attempt %s and holds no result for it "
             "(the worker restarted while it ran, or its result was acknowledged); not run again",
             w->o->name, attempt);
    lab_warn("%s", why);
    s_answer(w, attempt, LABLOOP__STEP_RESULT__STATUS__FAILED, why);
}

static void s_on_step_request(lab_worker *w, lab_env *env)
{
    Labloop__StepRequest *req = env->step_request;
    char why[256];
    /* An id that is not an attempt id is not answered: an answer would
     * carry it back, and it would name a file in the outbox. */
    if (lab_attempt_id_check(req->attempt_id, why, sizeof why) < 0) {
        lab_warn("device '%s': step request dropped: %s", w->o->name, why);
        lab_env_free(env);
        return;
    }
    if (s_running_find(w, req->attempt_id)) {   /* repeated dispatch: still running */
        s_send_update(w, req->attempt_id, LABLOOP__STEP_UPDATE__KIND__ACCEPTED, 0, "already running");
        lab_env_free(env);
        return;
    }
    s_outbox *b = s_outbox_find(w, req->attempt_id);
    if (b) {                                    /* repeated dispatch: finished */
        s_send_outbox(w, b);
        lab_env_free(env);
        return;
    }
    char bad[200];
    if (lab_step_request_check(req, bad, sizeof bad) < 0) {
        snprintf(why, sizeof why, "device '%s' refused the request: %s", w->o->name, bad);
        lab_warn("%s (attempt %s)", why, req->attempt_id);
        s_fail_request(w, req, why);
        lab_env_free(env);
        return;
    }
    if (lab_started_has(w->started, req->attempt_id)) {   /* started before, result gone */
        s_answer_started(w, req->attempt_id);
        lab_env_free(env);
        return;
    }
    if (w->estopped) {
        /* CANCELLED, as for the steps the e-stop stopped: not the step's fault */
        snprintf(why, sizeof why, "device '%s' is e-stopped", w->o->name);
        s_answer(w, req->attempt_id, LABLOOP__STEP_RESULT__STATUS__CANCELLED, why);
        lab_env_free(env);
        return;
    }
    if (w->n_running >= w->o->capacity) {
        snprintf(why, sizeof why, "device '%s' is busy: all %d slots in use", w->o->name,
                 w->o->capacity);
        s_fail_request(w, req, why);
        lab_env_free(env);
        return;
    }
    lab_step *s = calloc(1, sizeof *s);
    if (!s) {
        s_fail_request(w, req, "worker out of memory");
        lab_env_free(env);
        return;
    }
    /* Recorded (on disk: fsync'd) before the driver starts: whatever
     * happens next, this attempt id is never run again. */
    lab_err je = {0};
    if (lab_started_add(w->started, req->attempt_id, &je) < 0) {
        snprintf(why, sizeof why, "device '%s': cannot record the attempt as started: %s", w->o->name, je.msg);
        free(s);
        s_fail_request(w, req, why);
        lab_env_free(env);
        return;
    }
    s->w = w;
    s->env = env;
    s->req = req;
    s->started_us = lab_clock_wall_us();
    s->next = w->running;
    w->running = s;
    w->n_running++;
    s_notify_state(w);
    if (req->timeout_ms) {
        uv_timer_init(&w->loop, &s->deadline);
        s->deadline.data = s;
        s->timed = 1;
        uv_update_time(&w->loop);   /* the loop's cached time may be stale in a drain */
        uv_timer_start(&s->deadline, s_on_deadline, req->timeout_ms, 0);
    }
    lab_err e = {0};
    if (w->o->ops->start(w->o->driver, &w->loop, s, &e) < 0)
        lab_step_finish(s, LAB_STEP_FAILED, "device '%s': %s", w->o->name,
                        e.msg[0] ? e.msg : "driver could not start the step");
    /* A step that finished inside start() has sent its result already; its
     * memory lives until the next drain or its timer's close callback, so s
     * is still valid. */
    else if (!s->finished)
        s_send_update(w, req->attempt_id, LABLOOP__STEP_UPDATE__KIND__ACCEPTED, 0, NULL);
}

static void s_on_control(lab_worker *w, Labloop__Control *c)
{
    switch (c->action) {
    case LABLOOP__CONTROL__ACTION__CANCEL: {
        /* Every cancel gets an answer, so the orchestrator knows the
         * attempt is not running: the running one ends CANCELLED; a finished
         * one's result is sent again; one never started here is recorded as
         * started (a late request for it does not run it) and answered
         * CANCELLED. Before the first Welcome there is no record yet, and an
         * id a request would be refused for is not one: no answer. */
        const char *id = c->attempt_id ? c->attempt_id : "";
        const char *why = c->reason && *c->reason ? c->reason : "cancelled by the orchestrator";
        lab_step *s = s_running_find(w, id);
        s_outbox *b = s ? NULL : s_outbox_find(w, id);
        if (s) {
            s_cancel_step(w, s, why);
        } else if (b) {
            s_send_outbox(w, b);
        } else if (w->started && lab_attempt_id_check(id, NULL, 0) == 0) {
            if (lab_started_has(w->started, id)) {
                s_answer_started(w, id);
            } else {
                lab_err e = {0};
                if (lab_started_add(w->started, id, &e) < 0)
                    lab_warn("device '%s': %s", w->o->name, e.msg);
                char msg[512];
                snprintf(msg, sizeof msg, "cancelled before it started on device '%s': %s", w->o->name, why);
                s_answer(w, id, LABLOOP__STEP_RESULT__STATUS__CANCELLED, msg);
            }
        }
        break;
    }
    case LABLOOP__CONTROL__ACTION__ESTOP:
        lab_warn("device '%s': E-STOP: %s", w->o->name, c->reason ? c->reason : "");
        w->estop_pending = 0;        /* the orchestrator has it: our request is confirmed */
        w->estopped = 1;
        for (lab_step *s = w->running, *n; s; s = n) {
            n = s->next;
            s_cancel_step(w, s, "e-stop");
        }
        s_notify_state(w);
        break;
    case LABLOOP__CONTROL__ACTION__CLEAR:
        lab_info("device '%s': e-stop cleared", w->o->name);
        w->estopped = 0;
        w->estop_pending = 0;
        /* a driver whose interlock is still open latches it again here */
        s_notify_state(w);
        break;
    default:
        break;
    }
}

/* Results the orchestrator holds durably leave the outbox. */
static void s_drop_acked(lab_worker *w, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (s_outbox **pp = &w->outbox; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->attempt, ids[i]) == 0) {
                s_outbox *b = *pp;
                *pp = b->next;
                lab_err e = {0};
                if (w->o->outbox_dir && lab_outbox_remove(w->o->outbox_dir, b->run, b->attempt, &e) < 0)
                    lab_warn("device '%s': cannot remove an acknowledged result from the outbox: %s",
                             w->o->name, e.msg);
                s_outbox_free(b);
                break;
            }
        }
    }
}

static void s_handle(lab_worker *w, lab_env *env)
{
    s_drop_acked(w, env->acks, env->n_acks);   /* acks may ride on any message */
    switch (env->body_case) {
    case LABLOOP__ENVELOPE__BODY_WELCOME:
        if (w->state != S_READY)
            lab_info("device '%s' registered with %s (heartbeat %u ms)", w->o->name,
                     w->o->endpoint, env->welcome->heartbeat_ms);
        w->state = S_READY;
        w->hb_ms = env->welcome->heartbeat_ms ? env->welcome->heartbeat_ms : S_DEFAULT_HB_MS;
        w->liveness = env->welcome->liveness ? env->welcome->liveness : S_DEFAULT_LIVENESS;
        /* the campaign config's own bounds (10 ms..1 h, 1..100): a Welcome
         * outside them must not make the worker spin or never notice loss */
        w->hb_ms = w->hb_ms < 10 ? 10 : w->hb_ms > 3600000 ? 3600000 : w->hb_ms;
        w->liveness = w->liveness > 100 ? 100 : w->liveness;
        w->backoff_ms = w->o->reconnect_min_ms;
        s_outbox_adopt_run(w, env->welcome->run);
        s_started_adopt_run(w, env->welcome->run);
        for (s_outbox *b = w->outbox; b; b = b->next)
            s_send_outbox(w, b);
        s_send_estop_request(w);
        s_notify_state(w);
        break;
    case LABLOOP__ENVELOPE__BODY_REFUSE:
        if (env->refuse->reason == LABLOOP__REFUSE__REASON__NOT_REGISTERED) {
            lab_warn("device '%s': the orchestrator does not know us as registered; saying hello again",
                     w->o->name);
            w->state = S_CONNECTING;
            s_send_hello(w);
            s_notify_state(w);
            break;
        }
        if (env->refuse->reason == LABLOOP__REFUSE__REASON__CAMPAIGN_ENDED) {
            lab_info("device '%s': %s; stopping", w->o->name,
                     env->refuse->detail && *env->refuse->detail ? env->refuse->detail : "the campaign ended");
            w->result = LAB_WORKER_ENDED;
            w->stopping = 1;
            uv_stop(&w->loop);
            break;
        }
        lab_err_set(w->err, LAB_EREFUSED, "device '%s' refused by the orchestrator: %s",
                    w->o->name, env->refuse->detail);
        lab_error("%s", w->err->msg);
        w->result = LAB_EREFUSED;
        w->stopping = 1;
        uv_stop(&w->loop);
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_REQUEST:
        if (w->state == S_READY) {
            s_on_step_request(w, env);
            return;                              /* env now owned by the step */
        }
        lab_warn("device '%s': step request %s before Welcome ignored", w->o->name,
                 env->step_request->attempt_id);
        break;
    case LABLOOP__ENVELOPE__BODY_ACK:
        s_drop_acked(w, env->ack->attempt_ids, env->ack->n_attempt_ids);
        break;
    case LABLOOP__ENVELOPE__BODY_CONTROL:
        s_on_control(w, env->control);
        break;
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT:
    default:
        break;
    }
    lab_env_free(env);
}

static int s_on_readable(void *sock, void *arg)
{
    lab_worker *w = arg;
    int n = 0;
    s_free_finished(w);
    for (;;) {
        if (sock != w->sock || w->stopping)   /* reconnected inside a handler; or leaving */
            return n;
        lab_env *env = NULL;
        lab_err e = {0};
        int rc = lab_env_recv(sock, NULL, 0, &env, &e);
        if (rc == LAB_EAGAIN)
            return n;
        n++;
        if (rc < 0) {
            /* not a sign of life: a peer that sends only garbage is silent */
            lab_warn("device '%s': bad message from the orchestrator: %s", w->o->name, e.msg);
            continue;
        }
        w->last_rx_us = lab_clock_mono_us();
        s_handle(w, env);
        if (w->stopping)
            return n;
    }
}

/* ---- timers and signals ---- */

static void s_on_tick(uv_timer_t *t)
{
    lab_worker *w = t->data;
    int64_t now = lab_clock_mono_us();
    if (w->stopping)
        return;
    if (w->state == S_CONNECTING) {
        if (now - w->hello_us > (int64_t)w->backoff_ms * 1000) {
            w->backoff_ms = w->backoff_ms * 2 > w->o->reconnect_max_ms ? w->o->reconnect_max_ms
                                                                         : w->backoff_ms * 2;
            /* With CURVE, silence is also what an orchestrator holding
             * another key than the pinned one looks like. */
            s_reconnect(w, w->o->server_key ? "no answer to hello (with CURVE: is the orchestrator there the one "
                                              "whose public key this worker pins, and does it list this device's key?)"
                                            : "no answer to hello");
        }
        return;
    }
    if (now - w->last_rx_us > (int64_t)w->hb_ms * w->liveness * 1000) {
        s_reconnect(w, "orchestrator silent");
        return;
    }
    if (now - w->last_hb_us >= (int64_t)w->hb_ms * 1000) {
        Labloop__Heartbeat hb = LABLOOP__HEARTBEAT__INIT;
        hb.time_us = lab_clock_wall_us();
        lab_env env = LABLOOP__ENVELOPE__INIT;
        env.body_case = LABLOOP__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        s_send(w, &env);
        w->last_hb_us = now;
    }
    for (s_outbox *b = w->outbox; b; b = b->next)
        if (now - b->sent_us > S_RESEND_US)
            s_send_outbox(w, b);
    if (w->estop_pending && now - w->estop_sent_us >= S_ESTOP_RESEND_US)
        s_send_estop_request(w);
}

void lab_worker_estop(lab_worker *w, const char *reason)
{
    snprintf(w->estop_reason, sizeof w->estop_reason, "%s", reason ? reason : "e-stop");
    lab_error("device '%s': E-STOP requested: %s", w->o->name, w->estop_reason);
    /* The request goes out first: the orchestrator must hear of the e-stop
     * before the cancelled steps' results, so they are not held against
     * their steps' retries. */
    w->estop_pending = 1;
    s_send_estop_request(w);
    if (!w->estopped) {
        w->estopped = 1;
        for (lab_step *s = w->running, *n; s; s = n) {
            n = s->next;
            s_cancel_step(w, s, w->estop_reason);
        }
    }
    if (w->state != S_READY)
        lab_warn("device '%s': not registered; the e-stop request goes out after the Welcome",
                 w->o->name);
    s_notify_state(w);
}

static void s_on_signal(uv_signal_t *h, int signum)
{
    lab_worker *w = h->data;
    lab_info("device '%s': signal %d, stopping", w->o->name, signum);
    w->stopping = 1;
    uv_stop(&w->loop);
}

static void s_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int lab_worker_run(const lab_worker_opts *opts, lab_err *err)
{
    lab_worker_opts o = *opts;
    if (o.capacity < 1)
        o.capacity = 1;
    if (!o.reconnect_min_ms)
        o.reconnect_min_ms = 500;
    if (!o.reconnect_max_ms)
        o.reconnect_max_ms = 5000;
    lab_err local_err = {0};
    lab_worker w = {0};
    w.o = &o;
    w.err = err ? err : &local_err;
    w.backoff_ms = o.reconnect_min_ms;
    w.hb_ms = S_DEFAULT_HB_MS;
    w.liveness = S_DEFAULT_LIVENESS;
    w.last_state = -1;
    uv_loop_init(&w.loop);
    w.zctx = zmq_ctx_new();
    w.zl = lab_zloop_new(&w.loop, NULL, &w, err);
    int rc = w.zl && w.zctx ? 0 : LAB_ENOMEM;
    int attached = 0;
    if (rc == 0 && o.ops->attach) {
        rc = o.ops->attach(o.driver, &w, &w.loop, w.err);
        attached = rc == 0;
    }
    if (rc == 0 && !o.outbox_dir)
        lab_warn("device '%s': no outbox directory: results not yet acknowledged and the record of "
                 "started attempts are kept in memory only; after a restart of this worker, an attempt "
                 "that was running may be run again (set 'outbox' to make it crash-safe)", o.name);
    if (rc == 0 && o.outbox_dir) {
        int n = lab_outbox_load(o.outbox_dir, s_outbox_loaded, &w, w.err);
        rc = n < 0 ? n : 0;
        if (n > 0)
            lab_info("device '%s': %d result(s) not yet acknowledged read back from the outbox %s; "
                     "they are sent again once registered", o.name, n, o.outbox_dir);
    }
    if (rc == 0)
        rc = s_connect(&w);
    if (rc == 0) {
        uv_timer_init(&w.loop, &w.tick);
        w.tick.data = &w;
        uv_timer_start(&w.tick, s_on_tick, S_TICK_MS, S_TICK_MS);
        uv_signal_init(&w.loop, &w.sigint);
        uv_signal_init(&w.loop, &w.sigterm);
        w.sigint.data = w.sigterm.data = &w;
        uv_signal_start(&w.sigint, s_on_signal, SIGINT);
        uv_signal_start(&w.sigterm, s_on_signal, SIGTERM);
        uv_run(&w.loop, UV_RUN_DEFAULT);
        rc = w.result;
        /* Stop running steps; their drivers finish them on the way out. A
         * driver may finish a cancelled step later, from its own handle, so
         * run the loop until it has (bounded): closing every handle first
         * would strand those steps, their memory and their results. */
        for (lab_step *s = w.running, *n; s; s = n) {
            n = s->next;
            s_cancel_step(&w, s, "worker stopping");
        }
        int64_t until = lab_clock_mono_us() + S_STOP_GRACE_US;
        while (w.running && lab_clock_mono_us() < until)
            uv_run(&w.loop, UV_RUN_ONCE);
        if (w.running)
            lab_warn("device '%s': %d step(s) not finished by the driver at exit", o.name,
                     w.n_running);
    }
    if (attached && o.ops->detach)
        o.ops->detach(o.driver);
    s_disconnect(&w);
    lab_zloop_destroy(&w.zl);
    uv_walk(&w.loop, s_close_walk, NULL);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    s_free_finished(&w);
    if (o.ops->destroy)
        o.ops->destroy(o.driver);
    lab_started_destroy(&w.started);
    while (w.outbox) {
        s_outbox *b = w.outbox;
        w.outbox = b->next;
        s_outbox_free(b);
    }
    if (w.zctx)
        zmq_ctx_term(w.zctx);
    if (uv_loop_close(&w.loop) != 0)
        lab_warn("device '%s': loop closed with handles still open", o.name);
    return rc;
}

/* ---- accessors for drivers ---- */

const char *lab_step_attempt(const lab_step *s) { return s->req->attempt_id; }
const char *lab_step_name(const lab_step *s) { return s->req->step; }
const char *lab_step_capability(const lab_step *s) { return s->req->capability; }
const char *lab_step_experiment(const lab_step *s) { return s->req->experiment_id; }
const char *lab_step_sample(const lab_step *s) { return s->req->sample_id; }
size_t lab_step_n_params(const lab_step *s) { return s->req->n_params; }
const Labloop__Param *lab_step_param_at(const lab_step *s, size_t i) { return s->req->params[i]; }
void *lab_step_driver_data(const lab_step *s) { return s->driver_data; }
void lab_step_set_driver_data(lab_step *s, void *data) { s->driver_data = data; }

const Labloop__Param *lab_step_param(const lab_step *s, const char *name)
{
    for (size_t i = 0; i < s->req->n_params; i++)
        if (s->req->params[i]->name && strcmp(s->req->params[i]->name, name) == 0)
            return s->req->params[i];
    return NULL;
}

double lab_step_param_number(const lab_step *s, const char *name, double dflt)
{
    double v;
    return lab_param_to_double(lab_step_param(s, name), &v) == 0 ? v : dflt;
}

static int s_add_value(lab_step *s, Labloop__Param *p)
{
    if (!p)
        return LAB_ENOMEM;
    if (s->n_values == s->cap_values) {
        size_t cap = s->cap_values ? 2 * s->cap_values : 8;
        Labloop__Param **v = realloc(s->values, cap * sizeof *v);
        if (!v) {
            lab_param_free(p);
            return LAB_ENOMEM;
        }
        s->values = v;
        s->cap_values = cap;
    }
    s->values[s->n_values++] = p;
    return 0;
}

int lab_step_add_number(lab_step *s, const char *name, double v, const char *unit)
{
    return s_add_value(s, lab_param_number(name, v, unit));
}

int lab_step_add_text(lab_step *s, const char *name, const char *v)
{
    return s_add_value(s, lab_param_text(name, v));
}

int lab_step_add_flag(lab_step *s, const char *name, int v)
{
    Labloop__Param *p = lab_param_number(name, 0, NULL);
    if (!p)
        return LAB_ENOMEM;
    p->value->kind_case = LABLOOP__VALUE__KIND_FLAG;
    p->value->flag = v ? 1 : 0;
    return s_add_value(s, p);
}

int lab_step_add_artifact(lab_step *s, const char *name, const char *media_type,
                          const uint8_t sha256[32], uint64_t size, const void *content,
                          size_t content_len)
{
    if (s->n_artifacts == s->cap_artifacts) {
        size_t cap = s->cap_artifacts ? 2 * s->cap_artifacts : 4;
        Labloop__Artifact **v = realloc(s->artifacts, cap * sizeof *v);
        if (!v)
            return LAB_ENOMEM;
        s->artifacts = v;
        s->cap_artifacts = cap;
    }
    Labloop__Artifact *a = malloc(sizeof *a);
    if (!a)
        return LAB_ENOMEM;
    labloop__artifact__init(a);
    a->name = strdup(name);
    a->media_type = strdup(media_type ? media_type : "application/octet-stream");
    a->sha256.data = malloc(32);
    a->sha256.len = 32;
    a->size = size;
    a->content.data = content_len ? malloc(content_len) : NULL;
    a->content.len = content_len;
    if (!a->name || !a->media_type || !a->sha256.data || (content_len && !a->content.data)) {
        free(a->name);
        free(a->media_type);
        free(a->sha256.data);
        free(a->content.data);
        free(a);
        return LAB_ENOMEM;
    }
    memcpy(a->sha256.data, sha256, 32);
    if (content_len)
        memcpy(a->content.data, content, content_len);
    s->artifacts[s->n_artifacts++] = a;
    return 0;
}

void lab_step_progress(lab_step *s, double fraction, const char *text)
{
    s_send_update(s->w, s->req->attempt_id,
                  text ? LABLOOP__STEP_UPDATE__KIND__LOG : LABLOOP__STEP_UPDATE__KIND__PROGRESS,
                  fraction, text);
}
