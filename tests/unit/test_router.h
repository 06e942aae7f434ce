/* A test orchestrator for worker tests: a real ZeroMQ ROUTER on loopback
 * that speaks the envelope codec, starts the worker under test as a child
 * process (the test binary re-executed with --worker ...), and waits for
 * its messages with deadlines. Shared by test_worker.c, test_exec.c and
 * test_gpio.c; the functions are static so each test binary gets its own
 * copy, and not every binary uses every one of them.
 * Not for: the orchestrator's protocol logic (integration tests).
 * Include after <cmocka.h>.
 */
#ifndef LAB_TEST_ROUTER_H
#define LAB_TEST_ROUTER_H

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "protocols/envelope.h"

/* static, and not every test binary uses every helper */
#define TR_FN static __attribute__((unused))

typedef struct tr {
    void *ctx, *router;
    char endpoint[128];
    pid_t pid;
    char name[LAB_ID_MAX];
    uint64_t seq;
    uint32_t hb_ms;
    int64_t last_hb_us;
    uint64_t seed;
} tr;

TR_FN tr *tr_new(uint64_t seed)
{
    tr *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->seed = seed;
    t->ctx = zmq_ctx_new();
    t->router = zmq_socket(t->ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    zmq_setsockopt(t->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(t->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(t->router, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(t->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof t->endpoint;
    assert_int_equal(zmq_getsockopt(t->router, ZMQ_LAST_ENDPOINT, t->endpoint, &len), 0);
    return t;
}

TR_FN void tr_destroy(tr *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
    }
    zmq_close(t->router);
    zmq_ctx_term(t->ctx);
    free(t);
}

/* Start `/proc/self/exe --worker NAME ENDPOINT extra...` (extra NULL-terminated). */
TR_FN void tr_start(tr *t, const char *name, const char *const *extra)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    char *argv[32] = {"test", "--worker", (char *)name, t->endpoint};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    t->pid = pid;
}

TR_FN int tr_wait_exit(tr *t, int timeout_ms)
{
    int64_t until = lab_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int status;
        pid_t r = waitpid(t->pid, &status, WNOHANG);
        if (r == t->pid) {
            t->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            fprintf(stderr, "worker died by signal %d (seed %" PRIu64 ")\n",
                    WIFSIGNALED(status) ? WTERMSIG(status) : -1, t->seed);
            return -1;
        }
        if (lab_clock_mono_us() > until)
            return -1;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

TR_FN void tr_stop(tr *t)
{
    assert_int_equal(kill(t->pid, SIGTERM), 0);
    assert_int_equal(tr_wait_exit(t, 5000), 0);
}

TR_FN void tr_send(tr *t, lab_env *env)
{
    env->seq = ++t->seq;
    lab_err e = {0};
    if (lab_env_send(t->router, t->name, env, &e) < 0)
        fail_msg("send %s to '%s': %s (seed %" PRIu64 ")", lab_env_kind(env), t->name, e.msg, t->seed);
}

/* Next message that is not a Heartbeat (nor, with skip_updates, a
 * StepUpdate), or NULL after timeout_ms; heartbeats keep the worker alive. */
TR_FN lab_env *tr_recv(tr *t, int timeout_ms, int skip_updates)
{
    int64_t until = lab_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t now = lab_clock_mono_us();
        if (t->hb_ms && now - t->last_hb_us >= (int64_t)t->hb_ms * 500) {
            Labloop__Heartbeat hb = LABLOOP__HEARTBEAT__INIT;
            hb.time_us = lab_clock_wall_us();
            lab_env env = LABLOOP__ENVELOPE__INIT;
            env.body_case = LABLOOP__ENVELOPE__BODY_HEARTBEAT;
            env.heartbeat = &hb;
            tr_send(t, &env);
            t->last_hb_us = now;
        }
        char id[LAB_ID_MAX + 1];
        lab_env *env = NULL;
        lab_err e = {0};
        int rc = lab_env_recv(t->router, id, sizeof id, &env, &e);
        if (rc == 0) {
            if (strcmp(id, t->name) != 0)
                fail_msg("message from '%s', expected '%s' (seed %" PRIu64 ")", id, t->name, t->seed);
            if (env->body_case == LABLOOP__ENVELOPE__BODY_HEARTBEAT ||
                (skip_updates && env->body_case == LABLOOP__ENVELOPE__BODY_STEP_UPDATE)) {
                lab_env_free(env);
                continue;
            }
            return env;
        }
        if (rc != LAB_EAGAIN)
            fail_msg("bad message from the worker: %s (seed %" PRIu64 ")", e.msg, t->seed);
        if (now >= until)
            return NULL;
        long wait_ms = (long)((until - now) / 1000) + 1;
        if (t->hb_ms && wait_ms > (long)t->hb_ms / 2)
            wait_ms = (long)t->hb_ms / 2;
        zmq_pollitem_t it = {t->router, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, wait_ms);
    }
}

TR_FN lab_env *tr_expect(tr *t, Labloop__Envelope__BodyCase kind, int timeout_ms, int skip_updates)
{
    lab_env *env = tr_recv(t, timeout_ms, skip_updates);
    if (!env)
        fail_msg("no message from the worker in %d ms (wanted body %d; seed %" PRIu64 ")",
                 timeout_ms, (int)kind, t->seed);
    if (env->body_case != kind) {
        int got = (int)env->body_case;
        const char *k = lab_env_kind(env);
        fail_msg("got %s (body %d), wanted body %d (seed %" PRIu64 ")", k, got, (int)kind, t->seed);
    }
    return env;
}

/* No message other than heartbeats for ms milliseconds. */
TR_FN void tr_expect_nothing(tr *t, int ms)
{
    lab_env *env = tr_recv(t, ms, 0);
    if (env) {
        const char *k = lab_env_kind(env);
        fail_msg("unexpected %s from the worker (seed %" PRIu64 ")", k, t->seed);
    }
}

/* Welcome the worker with these timings; the test then heartbeats every hb_ms / 2. */
TR_FN void tr_welcome_with(tr *t, uint32_t hb_ms, uint32_t liveness)
{
    Labloop__Welcome wm = LABLOOP__WELCOME__INIT;
    wm.heartbeat_ms = hb_ms;
    wm.liveness = liveness;
    wm.campaign = "test";
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_WELCOME;
    env.welcome = &wm;
    tr_send(t, &env);
    t->hb_ms = hb_ms;
    t->last_hb_us = lab_clock_mono_us();
}

TR_FN void tr_welcome(tr *t) { tr_welcome_with(t, 1000, 10); }

/* Start the worker, take its Hello, welcome it. Returns the Hello. */
TR_FN lab_env *tr_connect(tr *t, const char *name, const char *const *extra)
{
    tr_start(t, name, extra);
    lab_env *h = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0);
    tr_welcome(t);
    return h;
}

TR_FN void tr_request(tr *t, const char *attempt, const char *capability, Labloop__Param **params,
                       size_t n, uint64_t timeout_ms)
{
    Labloop__StepRequest req = LABLOOP__STEP_REQUEST__INIT;
    req.attempt_id = (char *)attempt;
    req.experiment_id = "c/7";
    req.step = "measure";
    req.capability = (char *)capability;
    req.sample_id = "S-7";
    req.params = params;
    req.n_params = n;
    req.timeout_ms = timeout_ms;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_REQUEST;
    env.step_request = &req;
    tr_send(t, &env);
}

TR_FN void tr_ack(tr *t, const char *attempt)
{
    Labloop__Ack a = LABLOOP__ACK__INIT;
    char *ids[1] = {(char *)attempt};
    a.attempt_ids = ids;
    a.n_attempt_ids = 1;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_ACK;
    env.ack = &a;
    tr_send(t, &env);
}

TR_FN void tr_control(tr *t, Labloop__Control__Action action, const char *attempt, const char *reason)
{
    Labloop__Control c = LABLOOP__CONTROL__INIT;
    c.action = action;
    c.attempt_id = (char *)(attempt ? attempt : "");
    c.reason = (char *)(reason ? reason : "");
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    tr_send(t, &env);
}

/* The result of attempt (updates skipped); status must match. */
TR_FN lab_env *tr_expect_result(tr *t, const char *attempt, Labloop__StepResult__Status status, int timeout_ms,
                                int skip_updates)
{
    lab_env *env = tr_expect(t, LABLOOP__ENVELOPE__BODY_STEP_RESULT, timeout_ms, skip_updates);
    assert_string_equal(env->step_result->attempt_id, attempt);
    if (env->step_result->status != status)
        fail_msg("attempt %s: status %d, wanted %d (error '%s'; seed %" PRIu64 ")", attempt,
                 (int)env->step_result->status, (int)status, env->step_result->error, t->seed);
    return env;
}

TR_FN lab_env *tr_result(tr *t, const char *attempt, Labloop__StepResult__Status status, int timeout_ms)
{
    return tr_expect_result(t, attempt, status, timeout_ms, 1);
}

TR_FN const Labloop__Param *tr_value(const Labloop__StepResult *r, const char *name)
{
    for (size_t i = 0; i < r->n_values; i++)
        if (!strcmp(r->values[i]->name, name))
            return r->values[i];
    fail_msg("result %s has no value '%s'", r->attempt_id, name);
    return NULL;
}

#endif
