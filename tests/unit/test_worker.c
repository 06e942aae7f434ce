/* Unit tests of the device worker runtime (devices/worker.c).
 *
 * The test plays the orchestrator: a real ZeroMQ ROUTER bound on loopback,
 * speaking the envelope codec, while lab_worker_run runs in a forked child
 * process with a test driver defined here. Every wait is a poll with a
 * deadline; the child is stopped with SIGTERM and must exit with code 0.
 * Not for: the orchestrator's side of the protocol (integration tests).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "devices/worker.h"
#include "protocols/envelope.h"
#include "tests/unit/test_router.h"

#include "common/banned.h"

/* The child's exit code when lab_worker_run returns LAB_EREFUSED. */
#define S_EXIT_REFUSED 3
#define S_EXIT_OTHER 4
#define S_EXIT_ENDED 5

static uint64_t s_seed;
static uint64_t s_rng;

static uint64_t s_rand(void)
{
    /* xorshift64*, seeded once per run (the seed is printed at start) */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}

/* A number with a few decimals that survives a double round trip. */
static double s_rand_value(void) { return (double)(s_rand() % 100000) / 16.0 - 1000.0; }

/* ---- the test driver (runs in the child) ----
 *
 * Params: "ms" (finish after this long, default 20), "echo" (copied into the
 * result as value "echo"), "hang" (1: never finish unless cancelled).
 * Every result carries "runs": how many steps this process has started, so
 * the test can tell whether a repeated request ran the step again.
 * cancel() finishes the step asynchronously (on a 0 ms timer), as a real
 * instrument would after it has stopped. */

typedef struct s_job {
    uv_timer_t timer;
    lab_step *step;
    int cancelled;
} s_job;

static int s_runs;

static void s_job_free(uv_handle_t *h) { free(h->data); }

static void s_job_fire(uv_timer_t *t)
{
    s_job *j = t->data;
    lab_step *step = j->step;
    lab_step_add_number(step, "echo", lab_step_param_number(step, "echo", 0), "au");
    lab_step_add_number(step, "runs", s_runs, NULL);
    uv_close((uv_handle_t *)&j->timer, s_job_free);
    if (j->cancelled)
        lab_step_finish(step, LAB_STEP_FAILED, "stopped");
    else
        lab_step_finish(step, LAB_STEP_DONE, NULL);
}

static int s_drv_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    (void)drv;
    s_job *j = calloc(1, sizeof *j);
    if (!j)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    s_runs++;
    j->step = step;
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    lab_step_set_driver_data(step, j);
    if (lab_step_param_number(step, "hang", 0) == 0)
        uv_timer_start(&j->timer, s_job_fire, (uint64_t)lab_step_param_number(step, "ms", 20), 0);
    return 0;
}

static void s_drv_cancel(void *drv, lab_step *step)
{
    (void)drv;
    s_job *j = lab_step_driver_data(step);
    j->cancelled = 1;
    uv_timer_stop(&j->timer);
    uv_timer_start(&j->timer, s_job_fire, 0, 0);
}

static const lab_driver_ops s_test_ops = {"test.echo", s_drv_start, s_drv_cancel, NULL};

/* ---- the orchestrator's side: tests/unit/test_router.h ---- */

typedef tr T;

static int s_setup(void **state)
{
    *state = tr_new(s_seed);
    return 0;
}

static int s_teardown(void **state)
{
    tr_destroy(*state);
    return 0;
}

typedef struct {
    int capacity;
    const char *const *caps;
    size_t n_caps;
} s_wopts;

/* The worker's process: `test_worker --worker NAME ENDPOINT CAPACITY CAP...`.
 * The test execs itself rather than running the worker in a plain fork: a
 * fork of a process with ZeroMQ threads may inherit a lock held by one of
 * them (ASan's allocator does this), and a real worker is a fresh process. */
static int s_worker_main(int argc, char **argv)
{
    if (argc < 6)
        return S_EXIT_OTHER;
    lab_log_setup("worker", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_QUIET);
    lab_worker_opts o = {0};
    o.name = argv[2];
    o.endpoint = argv[3];
    o.capacity = atoi(argv[4]);
    o.capabilities = (const char *const *)&argv[5];
    o.n_capabilities = (size_t)(argc - 5);
    o.ops = &s_test_ops;
    o.reconnect_min_ms = 100;
    o.reconnect_max_ms = 400;
    o.outbox_dir = getenv("TEST_OUTBOX");
    lab_err err = {0};
    int rc = lab_worker_run(&o, &err);
    if (rc < 0 && rc != LAB_EREFUSED)
        fprintf(stderr, "worker: %s\n", err.msg);
    return rc == 0 ? 0 : rc == LAB_EREFUSED ? S_EXIT_REFUSED : rc == LAB_WORKER_ENDED ? S_EXIT_ENDED : S_EXIT_OTHER;
}

static void s_start_worker(T *t, const char *name, const s_wopts *wo)
{
    char capacity[16];
    snprintf(capacity, sizeof capacity, "%d", wo && wo->capacity ? wo->capacity : 1);
    const char *extra[16] = {capacity};
    size_t n = 1;
    if (wo && wo->caps)
        for (size_t i = 0; i < wo->n_caps && n < 15; i++)
            extra[n++] = wo->caps[i];
    else
        extra[n++] = "echo";
    extra[n] = NULL;
    tr_start(t, name, extra);
}

static lab_env *s_expect_update(T *t, const char *attempt, Labloop__StepUpdate__Kind kind)
{
    lab_env *env = tr_expect(t, LABLOOP__ENVELOPE__BODY_STEP_UPDATE, 2000, 0);
    assert_string_equal(env->step_update->attempt_id, attempt);
    assert_int_equal(env->step_update->kind, kind);
    return env;
}

/* The next message is the result of attempt, with this status. */
static lab_env *s_expect_result(T *t, const char *attempt, Labloop__StepResult__Status status, int timeout_ms)
{
    return tr_expect_result(t, attempt, status, timeout_ms, 0);
}

static double s_value(const Labloop__StepResult *r, const char *name)
{
    double v = 0;
    assert_int_equal(lab_param_to_double(tr_value(r, name), &v), 0);
    return v;
}

static int s_has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

/* Start a worker, take its Hello, welcome it (heartbeat 1 s, liveness 10). */
static void s_connect_worker(T *t, const char *name, const s_wopts *wo)
{
    s_start_worker(t, name, wo);
    lab_env *h = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0);
    lab_env_free(h);
    tr_welcome_with(t, 1000, 10);
}

/* Send a StepRequest. echo: value the test driver copies back; ms < 0: hang. */
static void s_request(T *t, const char *attempt, double echo, int ms, uint64_t timeout_ms)
{
    Labloop__Param *params[3];
    size_t n = 0;
    params[n++] = lab_param_number("echo", echo, "au");
    if (ms < 0)
        params[n++] = lab_param_number("hang", 1, NULL);
    else
        params[n++] = lab_param_number("ms", ms, "ms");
    Labloop__StepRequest req = LABLOOP__STEP_REQUEST__INIT;
    req.attempt_id = (char *)attempt;
    req.experiment_id = "exp-1";
    req.step = "mix";
    req.capability = "echo";
    req.sample_id = "S-1";
    req.params = params;
    req.n_params = n;
    req.timeout_ms = timeout_ms;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_REQUEST;
    env.step_request = &req;
    tr_send(t, &env);
    for (size_t i = 0; i < n; i++)
        lab_param_free(params[i]);
}

/* Request attempt, expect ACCEPTED then DONE; returns the result (caller frees). */
static lab_env *s_run_step(T *t, const char *attempt, double echo, int ms)
{
    s_request(t, attempt, echo, ms, 0);
    lab_env_free(s_expect_update(t, attempt, LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    lab_env *r = s_expect_result(t, attempt, LABLOOP__STEP_RESULT__STATUS__DONE, ms + 2000);
    assert_true(s_value(r->step_result, "echo") == echo);
    return r;
}

/* ---- cases ---- */

static void test_hello(void **state)
{
    T *t = *state;
    static const char *const caps[] = {"liquid_handler", "mixer"};
    s_wopts wo = {3, caps, 2};
    s_start_worker(t, "ot2-test", &wo);
    lab_env *env = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0);
    Labloop__Hello *h = env->hello;
    assert_string_equal(h->device, "ot2-test");
    assert_string_equal(h->driver, "test.echo");
    assert_int_equal(h->n_capabilities, 2);
    assert_string_equal(h->capabilities[0], "liquid_handler");
    assert_string_equal(h->capabilities[1], "mixer");
    assert_int_equal(h->capacity, 3);
    assert_true(h->software_version && *h->software_version);
    assert_int_equal(h->n_unacked_attempts, 0);
    assert_int_equal(h->n_running_attempts, 0);
    assert_true(env->seq >= 1);
    lab_env_free(env);
    tr_stop(t);
}

static void test_step_done(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-done", NULL);
    double echo = s_rand_value();
    int64_t t0 = lab_clock_wall_us();
    lab_env *r = s_run_step(t, "c/e1/mix/1", echo, 30);
    Labloop__StepResult *res = r->step_result;
    assert_true(s_value(res, "runs") == 1);
    assert_true(res->started_us >= t0 - 1000000);
    /* not "+ 30 ms": libuv times the driver's timer from the loop's cached clock */
    assert_true(res->finished_us >= res->started_us);
    assert_true(!res->error || !*res->error);
    lab_env_free(r);
    tr_ack(t, "c/e1/mix/1");
    tr_stop(t);
}

/* An unacknowledged result is re-sent after ~3 s; an acknowledged one is not.
 * a1 finishes before a2, so a1's re-send (if any) would come before a2's. */
static void test_resend_until_ack(void **state)
{
    T *t = *state;
    s_wopts wo = {2, NULL, 0};
    s_connect_worker(t, "dev-resend", &wo);
    s_request(t, "a1", 1, 10, 0);
    lab_env_free(s_expect_update(t, "a1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    s_request(t, "a2", 2, 80, 0);
    lab_env_free(s_expect_update(t, "a2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    lab_env_free(s_expect_result(t, "a1", LABLOOP__STEP_RESULT__STATUS__DONE, 2000));
    tr_ack(t, "a1");
    lab_env_free(s_expect_result(t, "a2", LABLOOP__STEP_RESULT__STATUS__DONE, 2000));
    int64_t first = lab_clock_mono_us();
    /* not acked: the same result again, after about 3 s */
    lab_env *again = s_expect_result(t, "a2", LABLOOP__STEP_RESULT__STATUS__DONE, 4500);
    int64_t gap_ms = (lab_clock_mono_us() - first) / 1000;
    assert_true(gap_ms >= 2500);
    assert_true(s_value(again->step_result, "echo") == 2);
    assert_true(s_value(again->step_result, "runs") == 2);
    lab_env_free(again);
    tr_ack(t, "a2");
    tr_expect_nothing(t, 600);          /* a1 was acked before: never re-sent */
    tr_stop(t);
}

/* A repeated StepRequest is answered from the outbox (finished) or with
 * ACCEPTED (still running), never run twice. */
static void test_repeated_request(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-repeat", NULL);
    double echo = s_rand_value();
    lab_env *r = s_run_step(t, "x/1", echo, 10);
    assert_true(s_value(r->step_result, "runs") == 1);
    int64_t finished = r->step_result->finished_us;
    lab_env_free(r);

    s_request(t, "x/1", echo, 10, 0);  /* finished, not acked: the stored result */
    r = s_expect_result(t, "x/1", LABLOOP__STEP_RESULT__STATUS__DONE, 1000);
    assert_true(s_value(r->step_result, "runs") == 1);
    assert_true(s_value(r->step_result, "echo") == echo);
    assert_true(r->step_result->finished_us == finished);
    lab_env_free(r);

    s_request(t, "x/2", echo + 1, 300, 0);
    lab_env_free(s_expect_update(t, "x/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    s_request(t, "x/2", echo + 1, 300, 0);  /* still running */
    lab_env_free(s_expect_update(t, "x/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    r = s_expect_result(t, "x/2", LABLOOP__STEP_RESULT__STATUS__DONE, 2000);
    assert_true(s_value(r->step_result, "runs") == 2);
    lab_env_free(r);
    tr_ack(t, "x/1");
    tr_ack(t, "x/2");
    tr_expect_nothing(t, 100);
    tr_stop(t);
}

static void test_busy(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-busy", NULL);    /* capacity 1 */
    s_request(t, "b/1", 1, -1, 0);
    lab_env_free(s_expect_update(t, "b/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    s_request(t, "b/2", 2, 10, 0);
    lab_env *r = s_expect_result(t, "b/2", LABLOOP__STEP_RESULT__STATUS__FAILED, 1000);
    assert_non_null(strstr(r->step_result->error, "busy"));
    assert_non_null(strstr(r->step_result->error, "dev-busy"));
    lab_env_free(r);
    tr_ack(t, "b/2");
    tr_control(t, LABLOOP__CONTROL__ACTION__CANCEL, "b/1", "test over");
    lab_env_free(s_expect_result(t, "b/1", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000));
    tr_ack(t, "b/1");
    /* the slot is free again */
    lab_env_free(s_run_step(t, "b/3", 3, 5));
    tr_ack(t, "b/3");
    tr_stop(t);
}

static void test_timeout(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-timeout", NULL);
    int64_t t0 = lab_clock_mono_us();
    s_request(t, "t/1", 1, -1, 150);
    lab_env_free(s_expect_update(t, "t/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    lab_env *r = s_expect_result(t, "t/1", LABLOOP__STEP_RESULT__STATUS__TIMED_OUT, 2000);
    assert_true(lab_clock_mono_us() - t0 >= 100 * 1000);   /* 150 ms, give or take the loop's cached clock */
    assert_non_null(strstr(r->step_result->error, "timed out"));
    assert_non_null(strstr(r->step_result->error, "dev-timeout"));
    lab_env_free(r);
    tr_ack(t, "t/1");
    /* a step that ends before its deadline is DONE */
    s_request(t, "t/2", 2, 10, 1000);
    lab_env_free(s_expect_update(t, "t/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    lab_env_free(s_expect_result(t, "t/2", LABLOOP__STEP_RESULT__STATUS__DONE, 2000));
    tr_ack(t, "t/2");
    tr_stop(t);
}

static void test_cancel(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-cancel", NULL);
    s_request(t, "k/1", 1, -1, 0);
    lab_env_free(s_expect_update(t, "k/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    /* A cancel of an attempt it never started is answered too, so the
     * orchestrator knows it is not running; and it is then never started. */
    tr_control(t, LABLOOP__CONTROL__ACTION__CANCEL, "no/such/attempt", "not wanted");
    lab_env *r = s_expect_result(t, "no/such/attempt", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000);
    assert_non_null(strstr(r->step_result->error, "before it started"));
    lab_env_free(r);
    tr_ack(t, "no/such/attempt");
    tr_control(t, LABLOOP__CONTROL__ACTION__CANCEL, "k/1", "operator said so");
    r = s_expect_result(t, "k/1", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000);
    assert_non_null(strstr(r->step_result->error, "operator said so"));
    lab_env_free(r);
    tr_ack(t, "k/1");
    tr_expect_nothing(t, 100);
    s_request(t, "no/such/attempt", 1, 5, 0);   /* a late request for it: not run */
    r = s_expect_result(t, "no/such/attempt", LABLOOP__STEP_RESULT__STATUS__FAILED, 1000);
    assert_non_null(strstr(r->step_result->error, "already started"));
    lab_env_free(r);
    tr_ack(t, "no/such/attempt");
    tr_stop(t);
}

static void test_estop(void **state)
{
    T *t = *state;
    s_wopts wo = {2, NULL, 0};
    s_connect_worker(t, "dev-estop", &wo);
    s_request(t, "s/1", 1, -1, 0);
    lab_env_free(s_expect_update(t, "s/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    s_request(t, "s/2", 2, -1, 0);
    lab_env_free(s_expect_update(t, "s/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    tr_control(t, LABLOOP__CONTROL__ACTION__ESTOP, NULL, "smoke");
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        lab_env *r = tr_expect(t, LABLOOP__ENVELOPE__BODY_STEP_RESULT, 1000, 0);
        assert_int_equal(r->step_result->status, LABLOOP__STEP_RESULT__STATUS__CANCELLED);
        assert_non_null(strstr(r->step_result->error, "e-stop"));
        seen |= !strcmp(r->step_result->attempt_id, "s/1") ? 1 : 2;
        tr_ack(t, r->step_result->attempt_id);
        lab_env_free(r);
    }
    assert_int_equal(seen, 3);
    s_request(t, "s/3", 3, 5, 0);       /* refused while e-stopped: cancelled, not the step's fault */
    lab_env *r = s_expect_result(t, "s/3", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000);
    assert_non_null(strstr(r->step_result->error, "e-stopped"));
    lab_env_free(r);
    tr_ack(t, "s/3");
    tr_control(t, LABLOOP__CONTROL__ACTION__CLEAR, NULL, NULL);
    lab_env_free(s_run_step(t, "s/4", 4, 5));
    tr_ack(t, "s/4");
    tr_stop(t);
}

static void test_refuse(void **state)
{
    T *t = *state;
    s_start_worker(t, "dev-refused", NULL);
    lab_env_free(tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0));
    Labloop__Refuse rf = LABLOOP__REFUSE__INIT;
    rf.reason = LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE;
    rf.detail = "no device 'dev-refused' in this campaign";
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    env.refuse = &rf;
    tr_send(t, &env);
    assert_int_equal(tr_wait_exit(t, 5000), S_EXIT_REFUSED);
}

/* The orchestrator goes silent: the worker reconnects and says Hello again,
 * listing its unacknowledged and running attempts; after Welcome it re-sends
 * the unacknowledged result at once. */
/* NOT_REGISTERED is not final: the worker says hello again (listing its
 * unacked result) and goes on working instead of exiting. */
static void test_not_registered(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-nudged", NULL);
    lab_env_free(s_run_step(t, "n/1", 3, 5));     /* not acked */
    Labloop__Refuse rf = LABLOOP__REFUSE__INIT;
    rf.reason = LABLOOP__REFUSE__REASON__NOT_REGISTERED;
    rf.detail = "not registered: say hello again";
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    env.refuse = &rf;
    tr_send(t, &env);
    lab_env *h = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 2000, 0);
    assert_true(s_has(h->hello->unacked_attempts, h->hello->n_unacked_attempts, "n/1"));
    lab_env_free(h);
    tr_welcome_with(t, 1000, 10);
    lab_env_free(s_expect_result(t, "n/1", LABLOOP__STEP_RESULT__STATUS__DONE, 1000));
    tr_ack(t, "n/1");
    lab_env *r = s_run_step(t, "n/2", 4, 5);
    assert_true(s_value(r->step_result, "echo") == 4);
    lab_env_free(r);
    tr_ack(t, "n/2");
    tr_stop(t);
}

/* Acks may ride on any message (Envelope.acks): a result acked that way is
 * dropped from the outbox and never sent again. */
static void test_ack_rides_along(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-piggy", NULL);
    lab_env_free(s_run_step(t, "p/1", 5, 5));      /* result p/1 not acked yet */
    Labloop__Param *params[1] = {lab_param_number("ms", 5, "ms")};
    Labloop__StepRequest req = LABLOOP__STEP_REQUEST__INIT;
    req.attempt_id = "p/2";
    req.step = "mix";
    req.capability = "echo";
    req.params = params;
    req.n_params = 1;
    char *acks[] = {"p/1"};
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_REQUEST;
    env.step_request = &req;
    env.acks = acks;
    env.n_acks = 1;
    tr_send(t, &env);
    lab_param_free(params[0]);
    lab_env_free(s_expect_update(t, "p/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    lab_env_free(s_expect_result(t, "p/2", LABLOOP__STEP_RESULT__STATUS__DONE, 2000));
    tr_ack(t, "p/2");
    tr_expect_nothing(t, 4000);         /* p/1 would be re-sent after ~3 s if not acked */
    tr_stop(t);
}

static void test_reconnect(void **state)
{
    T *t = *state;
    s_wopts wo = {2, NULL, 0};
    s_start_worker(t, "dev-silent", &wo);
    lab_env_free(tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0));
    tr_welcome_with(t, 100, 2);
    lab_env *r = s_run_step(t, "r/1", 7, 5);    /* not acked */
    lab_env_free(r);
    s_request(t, "r/2", 8, -1, 0);
    lab_env_free(s_expect_update(t, "r/2", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));

    t->hb_ms = 0;                                /* silence */
    int64_t t0 = lab_clock_mono_us();
    lab_env *h = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 2000, 0);
    assert_true(lab_clock_mono_us() - t0 >= 150 * 1000);   /* 2 x 100 ms missed */
    assert_string_equal(h->hello->device, "dev-silent");
    assert_int_equal(h->hello->n_unacked_attempts, 1);
    assert_string_equal(h->hello->unacked_attempts[0], "r/1");
    assert_true(s_has(h->hello->running_attempts, h->hello->n_running_attempts, "r/2"));
    lab_env_free(h);

    tr_welcome_with(t, 1000, 10);
    r = s_expect_result(t, "r/1", LABLOOP__STEP_RESULT__STATUS__DONE, 1000);
    assert_true(s_value(r->step_result, "echo") == 7);
    lab_env_free(r);
    tr_ack(t, "r/1");
    /* the running step survived the reconnect */
    tr_control(t, LABLOOP__CONTROL__ACTION__CANCEL, "r/2", "done testing");
    lab_env_free(s_expect_result(t, "r/2", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000));
    tr_ack(t, "r/2");
    tr_stop(t);
}

/* Welcome with a run, as the orchestrator does. */
static void s_welcome_run(T *t, const char *run)
{
    Labloop__Welcome wm = LABLOOP__WELCOME__INIT;
    wm.heartbeat_ms = 1000;
    wm.liveness = 10;
    wm.campaign = "test";
    wm.run = (char *)run;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_WELCOME;
    env.welcome = &wm;
    tr_send(t, &env);
    t->hb_ms = 1000;
    t->last_hb_us = lab_clock_mono_us();
}

static void s_read_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = '\0';
    fclose(f);
}

/* An attempt started before the worker was killed is never run again by
 * its next life, under the same run: a request for it is answered "already
 * started"; the journal on disk holds it, one escaped id a line, and a torn
 * last line is cut off. Under another run the same id is a new attempt. */
static void test_started_survives_restart(void **state)
{
    T *t = *state;
    char dir[] = "/tmp/labloop-test-started.XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("TEST_OUTBOX", dir, 1);
    s_start_worker(t, "dev-journal", NULL);
    lab_env_free(tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0));
    s_welcome_run(t, "777");
    s_request(t, "j/1", 1, -1, 0);
    lab_env_free(s_expect_update(t, "j/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    assert_int_equal(kill(t->pid, SIGKILL), 0);
    assert_int_equal(tr_wait_exit(t, 5000), -1);
    char path[256], text[512];
    snprintf(path, sizeof path, "%s/started-777.log", dir);
    s_read_file(path, text, sizeof text);
    assert_string_equal(text, "j%2F1\n");
    FILE *f = fopen(path, "ab");                 /* a write the crash cut short */
    assert_non_null(f);
    fputs("j%2F9", f);
    fclose(f);

    s_start_worker(t, "dev-journal", NULL);
    lab_env *h = tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0);
    assert_int_equal(h->hello->n_running_attempts, 0);
    lab_env_free(h);
    s_welcome_run(t, "777");
    s_request(t, "j/1", 1, 5, 0);
    lab_env *r = s_expect_result(t, "j/1", LABLOOP__STEP_RESULT__STATUS__FAILED, 2000);
    assert_non_null(strstr(r->step_result->error, "already started"));
    lab_env_free(r);
    tr_ack(t, "j/1");
    lab_env *d = s_run_step(t, "j/9", 9, 5);     /* the torn one never started */
    assert_true(s_value(d->step_result, "runs") == 1);
    lab_env_free(d);
    tr_ack(t, "j/9");
    s_read_file(path, text, sizeof text);
    assert_string_equal(text, "j%2F1\nj%2F9\n");
    s_welcome_run(t, "778");                     /* another run: its own attempts */
    d = s_run_step(t, "j/1", 2, 5);
    assert_true(s_value(d->step_result, "runs") == 2);
    lab_env_free(d);
    tr_ack(t, "j/1");
    tr_stop(t);
    snprintf(path, sizeof path, "%s/stale/started-777.log", dir);
    assert_int_equal(access(path, F_OK), 0);     /* the other run's journal set aside */
    unsetenv("TEST_OUTBOX");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Malformed messages are no sign of life: a peer that sends only garbage
 * is silent, and the worker reconnects (a new Hello). */
static void test_garbage_is_silence(void **state)
{
    T *t = *state;
    s_start_worker(t, "dev-garbage", NULL);
    lab_env_free(tr_expect(t, LABLOOP__ENVELOPE__BODY_HELLO, 5000, 0));
    tr_welcome_with(t, 100, 3);
    t->hb_ms = 0;                                 /* no heartbeats from us from now on */
    int64_t until = lab_clock_mono_us() + 3000000;
    int hello = 0;
    while (!hello && lab_clock_mono_us() < until) {
        zmq_send(t->router, t->name, strlen(t->name), ZMQ_SNDMORE);
        zmq_send(t->router, "XXXX", 4, ZMQ_SNDMORE);
        zmq_send(t->router, "junk", 4, 0);
        lab_env *env = tr_recv(t, 30, 1);
        hello = env && env->body_case == LABLOOP__ENVELOPE__BODY_HELLO;
        lab_env_free(env);
    }
    assert_true(hello);
    tr_stop(t);
}

/* Told that the campaign ended, the worker stops on its own (no reconnects). */
static void test_campaign_ended(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-ended", NULL);
    Labloop__Refuse rf = LABLOOP__REFUSE__INIT;
    rf.reason = LABLOOP__REFUSE__REASON__CAMPAIGN_ENDED;
    rf.detail = "campaign 'test' ended (completed)";
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    env.refuse = &rf;
    tr_send(t, &env);
    assert_int_equal(tr_wait_exit(t, 3000), S_EXIT_ENDED);
}

/* SIGTERM while a step runs: the worker cancels it and still exits with 0. */
static void test_sigterm_while_running(void **state)
{
    T *t = *state;
    s_connect_worker(t, "dev-term", NULL);
    s_request(t, "q/1", 1, -1, 0);
    lab_env_free(s_expect_update(t, "q/1", LABLOOP__STEP_UPDATE__KIND__ACCEPTED));
    tr_stop(t);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--worker"))
        return s_worker_main(argc, argv);
    const char *seed = getenv("TEST_SEED");
    s_seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    s_rng = s_seed ? s_seed : 1;
    fprintf(stderr, "test_worker: seed %" PRIu64 " (TEST_SEED=%" PRIu64 " repeats it)\n", s_seed,
            s_seed);
    lab_log_setup("test", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_QUIET);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_step_done, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_resend_until_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_busy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_estop, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refuse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_registered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack_rides_along, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_while_running, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_started_survives_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_silence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_campaign_ended, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
