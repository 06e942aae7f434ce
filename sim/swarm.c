/* A swarm of simulated null devices in one process (see swarm.h). */
#include "sim/swarm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "protocols/envelope.h"
#include "common/banned.h"

/* Every socket is drained this often whatever epoll says (ZMQ_FD is
 * edge-triggered; a send can consume an edge), and heartbeats and slow
 * steps are looked at. */
#define S_SWEEP_MS 100
#define S_HELLO_AGAIN_US (3 * 1000000LL)
#define S_DEFAULT_HB_MS 1000
#define S_EVENTS 256

typedef struct s_pending {
    lab_env *req;                /* the StepRequest (owned) */
    int64_t started_us, due_us;  /* wall clock, monotonic */
    struct s_pending *next;
} s_pending;

typedef struct s_dev {
    char name[64];
    void *sock;
    int welcomed, ended, estopped;
    int hb_ms;
    int64_t last_tx_us, hello_us;   /* monotonic */
    uint64_t seq;
    s_pending *pending;
} s_dev;

typedef struct s_swarm {
    const lab_swarm_opts *o;
    s_dev *dev;
    size_t n_ended;
    const char *caps[1];
} s_swarm;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) { s_stop = sig; }

static void s_send(s_dev *d, lab_env *env)
{
    env->seq = ++d->seq;
    lab_err e = {0};
    if (lab_env_send(d->sock, NULL, env, &e) < 0 && e.code != LAB_EAGAIN)
        lab_warn("device '%s': send %s: %s", d->name, lab_env_kind(env), e.msg);
    d->last_tx_us = lab_clock_mono_us();
}

static void s_hello(s_swarm *w, s_dev *d)
{
    Labloop__Hello h = LABLOOP__HELLO__INIT;
    h.device = d->name;
    h.driver = (char *)"null";
    h.capabilities = (char **)w->caps;
    h.n_capabilities = 1;
    h.capacity = (uint32_t)w->o->capacity;
    h.software_version = (char *)LAB_VERSION_STRING;
    h.estopped = d->estopped;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    s_send(d, &env);
    d->hello_us = lab_clock_mono_us();
}

/* The step's result: DONE with its numeric parameters as values (as the
 * null driver answers), or status with why. */
static void s_answer(s_dev *d, const Labloop__StepRequest *req, int64_t started_us,
                     Labloop__StepResult__Status status, const char *why)
{
    Labloop__Param **vals = calloc(req->n_params + 1, sizeof *vals);
    size_t n = 0;
    for (size_t i = 0; vals && status == LABLOOP__STEP_RESULT__STATUS__DONE && i < req->n_params; i++) {
        double v;
        if (lab_param_to_double(req->params[i], &v) == 0 && (vals[n] = lab_param_number(req->params[i]->name, v, NULL)))
            n++;
    }
    Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
    r.attempt_id = req->attempt_id;
    r.status = status;
    r.values = vals;
    r.n_values = n;
    r.started_us = started_us;
    r.finished_us = lab_clock_wall_us();
    r.error = (char *)(why ? why : "");
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_RESULT;
    env.step_result = &r;
    s_send(d, &env);
    for (size_t i = 0; i < n; i++)
        lab_param_free(vals[i]);
    free(vals);
}

/* End pending steps (all, or the one attempt) as cancelled. */
static void s_cancel(s_dev *d, const char *attempt, const char *why)
{
    for (s_pending **pp = &d->pending; *pp;) {
        s_pending *p = *pp;
        if (attempt && strcmp(p->req->step_request->attempt_id, attempt) != 0) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        s_answer(d, p->req->step_request, p->started_us, LABLOOP__STEP_RESULT__STATUS__CANCELLED, why);
        lab_env_free(p->req);
        free(p);
    }
}

/* Handle env; returns 1 when it was kept (a pending step owns it). */
static int s_handle(s_swarm *w, s_dev *d, lab_env *env)
{
    switch (env->body_case) {
    case LABLOOP__ENVELOPE__BODY_WELCOME:
        d->welcomed = 1;
        d->hb_ms = env->welcome->heartbeat_ms ? (int)env->welcome->heartbeat_ms : S_DEFAULT_HB_MS;
        break;
    case LABLOOP__ENVELOPE__BODY_REFUSE:
        if (env->refuse->reason == LABLOOP__REFUSE__REASON__NOT_REGISTERED) {
            d->welcomed = 0;
            s_hello(w, d);
        } else if (!d->ended) {
            if (env->refuse->reason != LABLOOP__REFUSE__REASON__CAMPAIGN_ENDED)
                lab_warn("device '%s' refused: %s", d->name, env->refuse->detail ? env->refuse->detail : "");
            d->ended = 1;
            w->n_ended++;
        }
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_REQUEST: {
        Labloop__StepRequest *req = env->step_request;
        if (!req->attempt_id)
            break;
        if (d->estopped) {
            s_answer(d, req, lab_clock_wall_us(), LABLOOP__STEP_RESULT__STATUS__FAILED, "device is e-stopped");
            break;
        }
        for (s_pending *p = d->pending; p; p = p->next)
            if (!strcmp(p->req->step_request->attempt_id, req->attempt_id))
                return 0;            /* asked again while it runs: it runs on */
        if (w->o->step_ms <= 0) {
            s_answer(d, req, lab_clock_wall_us(), LABLOOP__STEP_RESULT__STATUS__DONE, NULL);
            break;
        }
        s_pending *p = calloc(1, sizeof *p);
        if (!p) {
            s_answer(d, req, lab_clock_wall_us(), LABLOOP__STEP_RESULT__STATUS__FAILED, "out of memory");
            break;
        }
        p->req = env;
        p->started_us = lab_clock_wall_us();
        p->due_us = lab_clock_mono_us() + (int64_t)w->o->step_ms * 1000;
        p->next = d->pending;
        d->pending = p;
        return 1;
    }
    case LABLOOP__ENVELOPE__BODY_CONTROL:
        if (env->control->action == LABLOOP__CONTROL__ACTION__CANCEL && env->control->attempt_id) {
            s_cancel(d, env->control->attempt_id, "cancelled");
        } else if (env->control->action == LABLOOP__CONTROL__ACTION__ESTOP) {
            d->estopped = 1;
            s_cancel(d, NULL, "e-stop");
        } else if (env->control->action == LABLOOP__CONTROL__ACTION__CLEAR) {
            d->estopped = 0;
        }
        break;
    default:
        break;                       /* heartbeats, acks: nothing to do */
    }
    return 0;
}

static void s_drain(s_swarm *w, s_dev *d)
{
    while (!d->ended) {
        lab_env *env = NULL;
        lab_err e = {0};
        int rc = lab_env_recv(d->sock, NULL, 0, &env, &e);
        if (rc == LAB_EAGAIN)
            break;
        if (rc < 0) {
            lab_warn("device '%s': bad message: %s", d->name, e.msg);
            continue;
        }
        if (!s_handle(w, d, env))
            lab_env_free(env);
    }
}

/* Heartbeats, steps whose time is up, Hellos nobody answered. */
static void s_sweep(s_swarm *w, s_dev *d, int64_t now)
{
    if (d->ended)
        return;
    for (s_pending **pp = &d->pending; *pp;) {
        s_pending *p = *pp;
        if (now < p->due_us) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        s_answer(d, p->req->step_request, p->started_us, LABLOOP__STEP_RESULT__STATUS__DONE, NULL);
        lab_env_free(p->req);
        free(p);
    }
    if (d->welcomed && now - d->last_tx_us >= (int64_t)d->hb_ms * 1000) {
        Labloop__Heartbeat h = LABLOOP__HEARTBEAT__INIT;
        h.time_us = lab_clock_wall_us();
        lab_env env = LABLOOP__ENVELOPE__INIT;
        env.body_case = LABLOOP__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &h;
        s_send(d, &env);
    }
    if (!d->welcomed && now - d->hello_us > S_HELLO_AGAIN_US)
        s_hello(w, d);
    s_drain(w, d);
}

/* Two descriptors a device (its socket's and its connection), and some. */
static int s_raise_fd_limit(size_t n, lab_err *err)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)(3 * n + 64);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur >= want)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        return lab_err_set(err, LAB_EINVAL, "%zu devices need about %llu open files; the limit is %llu (ulimit -n)",
                           n, (unsigned long long)want, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    return 0;
}

int lab_swarm_run(const lab_swarm_opts *o, lab_err *err)
{
    if (!o->endpoint || !o->prefix || !o->capability || o->n_devices == 0 || o->capacity < 1)
        return lab_err_set(err, LAB_EINVAL, "swarm: an endpoint, a name prefix, a capability, at least one "
                           "device and a capacity of at least 1 are needed");
    if (s_raise_fd_limit(o->n_devices, err) < 0)
        return err->code;
    s_swarm w = {.o = o, .caps = {o->capability}};
    w.dev = calloc(o->n_devices, sizeof *w.dev);
    void *ctx = zmq_ctx_new();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = 0;
    if (!w.dev || !ctx || ep < 0) {
        rc = lab_err_set(err, LAB_ENOMEM, "swarm: cannot start (out of memory or descriptors)");
        goto done;
    }
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, (int)o->n_devices + 16);
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (size_t i = 0; i < o->n_devices; i++) {
        s_dev *d = &w.dev[i];
        snprintf(d->name, sizeof d->name, "%s%zu", o->prefix, i);
        d->hb_ms = S_DEFAULT_HB_MS;
        d->sock = zmq_socket(ctx, ZMQ_DEALER);
        if (!d->sock) {
            rc = lab_err_from_zmq(err, "swarm: zmq_socket");
            goto done;
        }
        int linger = 0, fd = -1;
        size_t fdlen = sizeof fd;
        int64_t maxsz = 4 * (int64_t)LAB_MSG_MAX;
        zmq_setsockopt(d->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(d->sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof maxsz);
        zmq_setsockopt(d->sock, ZMQ_ROUTING_ID, d->name, strlen(d->name));
        if (zmq_connect(d->sock, o->endpoint) != 0) {
            rc = lab_err_from_zmq(err, "swarm: connect");
            lab_err_prefix(err, "%s: ", o->endpoint);
            goto done;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (zmq_getsockopt(d->sock, ZMQ_FD, &fd, &fdlen) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            rc = lab_err_set(err, LAB_EIO, "swarm: watching device %zu: %s", i, strerror(errno));
            goto done;
        }
        s_hello(&w, d);
    }
    lab_info("swarm: %zu devices (%s0 .. %s%zu) connecting to %s", o->n_devices, o->prefix, o->prefix,
             o->n_devices - 1, o->endpoint);
    int sweep_ms = o->step_ms > 0 && o->step_ms / 4 < S_SWEEP_MS ? (o->step_ms / 4 > 0 ? o->step_ms / 4 : 1)
                                                                  : S_SWEEP_MS;
    int64_t next_sweep = lab_clock_mono_us() + (int64_t)sweep_ms * 1000;
    while (!s_stop && w.n_ended < o->n_devices) {
        struct epoll_event evs[S_EVENTS];
        int64_t now = lab_clock_mono_us();
        int timeout = now >= next_sweep ? 0 : (int)((next_sweep - now) / 1000) + 1;
        int n = epoll_wait(ep, evs, S_EVENTS, timeout);
        for (int k = 0; k < n; k++) {
            s_dev *d = &w.dev[evs[k].data.u64];
            /* Reading ZMQ_EVENTS takes in the socket's pending commands
             * (and clears its fd); then drain what is queued. */
            int events = 0;
            size_t elen = sizeof events;
            zmq_getsockopt(d->sock, ZMQ_EVENTS, &events, &elen);
            s_drain(&w, d);
        }
        now = lab_clock_mono_us();
        if (now >= next_sweep) {
            for (size_t i = 0; i < o->n_devices; i++)
                s_sweep(&w, &w.dev[i], now);
            next_sweep = now + (int64_t)sweep_ms * 1000;
        }
    }
done:
    for (size_t i = 0; w.dev && i < o->n_devices; i++) {
        s_dev *d = &w.dev[i];
        while (d->pending) {
            s_pending *p = d->pending;
            d->pending = p->next;
            lab_env_free(p->req);
            free(p);
        }
        if (d->sock)
            zmq_close(d->sock);
    }
    free(w.dev);
    if (ep >= 0)
        close(ep);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
