/* Unit tests of the gpio driver (devices/drivers/gpio.c) on the simulated
 * line backend, inside a real worker against a real ROUTER
 * (tests/unit/test_router.h): a debounced e-stop edge sends Control{ESTOP}
 * to the orchestrator (the edge → Control latency is measured and printed),
 * cancels the running step and drives outputs off; CLEAR with the button
 * still pressed trips again; a door interlock trips; output pulses; and the
 * libgpiod backend's errors for a chip that does not exist.
 * Not for: real GPIO hardware (none on the test machines).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>

#include "common/log.h"
#include "devices/drivers/gpio.h"
#include "devices/gpio_backend.h"
#include "devices/worker.h"
#include "tests/unit/test_router.h"
#include "common/banned.h"

#define S_DEBOUNCE_MS 10

static uint64_t s_seed;
static char s_dir[256];

/* ---- the worker's process: `test_gpio --worker NAME ENDPOINT DIR` ---- */

static int s_worker_main(int argc, char **argv)
{
    if (argc < 5)
        return 4;
    lab_log_setup("worker", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_QUIET);
    char fifo[512], log[512];
    snprintf(fifo, sizeof fifo, "%s/gpio.fifo", argv[4]);
    snprintf(log, sizeof log, "%s/gpio.log", argv[4]);
    lab_gpio_input ins[] = {
        {.name = "estop-button", .chip = "gpiochip0", .line = "ESTOP", .role = LAB_GPIO_ROLE_ESTOP,
         .active_low = 1, .debounce_ms = S_DEBOUNCE_MS},
        {.name = "door", .chip = "gpiochip0", .line = "DOOR", .role = LAB_GPIO_ROLE_DOOR,
         .active_low = 0, .debounce_ms = S_DEBOUNCE_MS},
    };
    lab_gpio_output outs[] = {
        {.capability = "open_valve", .chip = "gpiochip0", .line = "VALVE", .action = LAB_GPIO_PULSE,
         .seconds = 5, .seconds_param = "seconds"},
        {.capability = "heater_on", .chip = "gpiochip0", .line = "HEATER", .action = LAB_GPIO_ON},
    };
    lab_gpio_status_light light = {.chip = "gpiochip0", .line = "LIGHT", .ready = LAB_GPIO_LIGHT_ON,
                                   .busy = LAB_GPIO_LIGHT_BLINK, .estopped = LAB_GPIO_LIGHT_OFF,
                                   .offline = LAB_GPIO_LIGHT_OFF, .blink_ms = 50};
    lab_gpio_opts go = {.device = argv[2], .backend = "sim", .sim_fifo = fifo, .sim_log = log,
                        .inputs = ins, .n_inputs = 2, .outputs = outs, .n_outputs = 2,
                        .light = &light};
    lab_err err = {0};
    void *drv = lab_gpio_driver_new(&go, &err);
    if (!drv) {
        fprintf(stderr, "worker: %s\n", err.msg);
        return 4;
    }
    static const char *const caps[] = {"open_valve", "heater_on"};
    lab_worker_opts o = {.name = argv[2], .endpoint = argv[3], .capabilities = caps,
                         .n_capabilities = 2, .capacity = 2, .ops = &lab_gpio_driver_ops,
                         .driver = drv};
    int rc = lab_worker_run(&o, &err);
    if (rc != 0)
        fprintf(stderr, "worker: %s\n", err.msg);
    return rc == 0 ? 0 : 4;
}

/* ---- helpers ---- */

static int s_setup(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/gpio.log", s_dir);
    unlink(path);
    *state = tr_new(s_seed);
    return 0;
}

static int s_teardown(void **state)
{
    tr_destroy(*state);
    return 0;
}

static tr *s_connect(void **state, const char *name)
{
    tr *t = *state;
    const char *extra[] = {s_dir, NULL};
    lab_env_free(tr_connect(t, name, extra));
    return t;
}

/* Write "gpiochip0 LINE LEVEL" into the worker's FIFO (which it created). */
static int64_t s_inject(const char *line, int level)
{
    char path[512], cmd[128];
    snprintf(path, sizeof path, "%s/gpio.fifo", s_dir);
    int64_t until = lab_clock_mono_us() + 3000000;
    int fd;
    while ((fd = open(path, O_WRONLY | O_NONBLOCK)) < 0) {
        if (lab_clock_mono_us() > until)
            fail_msg("cannot open %s: %s (seed %" PRIu64 ")", path, strerror(errno), s_seed);
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    int n = snprintf(cmd, sizeof cmd, "gpiochip0 %s %d\n", line, level);
    int64_t t0 = lab_clock_mono_us();
    assert_int_equal(write(fd, cmd, (size_t)n), n);
    close(fd);
    return t0;
}

/* Last logged value of an output line and when it was set (-1: never). */
static int s_output(const char *line, int64_t *when)
{
    char path[512], buf[256], chip[64], name[64];
    snprintf(path, sizeof path, "%s/gpio.log", s_dir);
    FILE *f = fopen(path, "r");
    int v = -1;
    if (!f)
        return -1;
    while (fgets(buf, sizeof buf, f)) {
        long long t;
        int val;
        if (sscanf(buf, "%lld %63s %63s %d", &t, chip, name, &val) == 4 && !strcmp(name, line)) {
            v = val;
            if (when)
                *when = t;
        }
    }
    fclose(f);
    return v;
}

static void s_wait_output(const char *line, int value, int timeout_ms)
{
    int64_t until = lab_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (s_output(line, NULL) != value) {
        if (lab_clock_mono_us() > until)
            fail_msg("output %s is not %d after %d ms (seed %" PRIu64 ")", line, value, timeout_ms,
                     s_seed);
        struct timespec ts = {0, 2 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static lab_env *s_expect_estop(tr *t, const char *reason, int timeout_ms)
{
    lab_env *c = tr_expect(t, LABLOOP__ENVELOPE__BODY_CONTROL, timeout_ms, 1);
    assert_int_equal(c->control->action, LABLOOP__CONTROL__ACTION__ESTOP);
    if (strcmp(c->control->reason, reason) != 0)
        fail_msg("e-stop reason '%s', wanted '%s'", c->control->reason, reason);
    return c;
}

/* ---- cases ---- */

static void test_estop_edge(void **state)
{
    tr *t = s_connect(state, "gpio-estop");
    s_wait_output("LIGHT", 1, 2000);              /* ready: on */
    Labloop__Param *p = lab_param_number("seconds", 10, "s");
    tr_request(t, "v/1", "open_valve", &p, 1, 0);
    lab_param_free(p);
    s_wait_output("VALVE", 1, 2000);

    /* a glitch shorter than the debounce time does not trip */
    s_inject("ESTOP", 0);
    s_inject("ESTOP", 1);
    lab_env *m = tr_recv(t, 8 * S_DEBOUNCE_MS, 1);
    if (m)
        fail_msg("a %d ms-debounced input tripped on a glitch: got %s", S_DEBOUNCE_MS, lab_env_kind(m));

    /* pressed (active low) and held: Control ESTOP at the orchestrator */
    int64_t t0 = s_inject("ESTOP", 0);
    lab_env *c = NULL, *r = NULL;
    int64_t t_ctl = 0;
    while (!c || !r) {
        lab_env *x = tr_recv(t, 2000, 1);
        if (!x)
            fail_msg("no %s within 2 s of the edge (seed %" PRIu64 ")", c ? "cancelled result" : "Control ESTOP", s_seed);
        if (x->body_case == LABLOOP__ENVELOPE__BODY_CONTROL && !c) {
            t_ctl = lab_clock_mono_us();
            c = x;
        } else if (x->body_case == LABLOOP__ENVELOPE__BODY_STEP_RESULT && !r) {
            r = x;
        } else {
            lab_env_free(x);
        }
    }
    double latency_ms = (double)(t_ctl - t0) / 1000.0;
    fprintf(stderr, "  gpio edge -> Control ESTOP at the orchestrator: %.2f ms (debounce %d ms, "
                    "so %.2f ms beyond it)\n", latency_ms, S_DEBOUNCE_MS, latency_ms - S_DEBOUNCE_MS);
    assert_int_equal(c->control->action, LABLOOP__CONTROL__ACTION__ESTOP);
    assert_string_equal(c->control->reason, "gpio: estop-button tripped");
    assert_true(latency_ms >= S_DEBOUNCE_MS * 0.5);
    lab_env_free(c);
    assert_string_equal(r->step_result->attempt_id, "v/1");
    assert_int_equal(r->step_result->status, LABLOOP__STEP_RESULT__STATUS__CANCELLED);
    assert_non_null(strstr(r->step_result->error, "gpio: estop-button tripped"));
    lab_env_free(r);
    tr_ack(t, "v/1");
    s_wait_output("VALVE", 0, 1000);
    s_wait_output("LIGHT", 0, 1000);              /* e-stopped: off */

    /* not confirmed yet: the request comes again (about every second) */
    lab_env_free(s_expect_estop(t, "gpio: estop-button tripped", 2500));
    /* the orchestrator's broadcast confirms it: no more repeats */
    tr_control(t, LABLOOP__CONTROL__ACTION__ESTOP, NULL, "gpio: estop-button tripped");
    m = tr_recv(t, 1300, 1);
    if (m)
        fail_msg("after the orchestrator's ESTOP the worker still sent %s", lab_env_kind(m));
    /* refused while e-stopped: cancelled, not the step's fault */
    tr_request(t, "v/2", "heater_on", NULL, 0, 0);
    r = tr_result(t, "v/2", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 1000);
    assert_non_null(strstr(r->step_result->error, "e-stopped"));
    lab_env_free(r);
    tr_ack(t, "v/2");

    /* CLEAR while the button is still pressed: trips again at once */
    tr_control(t, LABLOOP__CONTROL__ACTION__CLEAR, NULL, NULL);
    lab_env_free(s_expect_estop(t, "gpio: estop-button tripped", 1000));
    tr_control(t, LABLOOP__CONTROL__ACTION__ESTOP, NULL, "confirmed");

    /* released, then cleared: works again */
    /* The release travels through the FIFO, CLEAR through the socket: until
     * the worker has seen the release, a CLEAR trips again. Repeat with a
     * deadline until a CLEAR holds. */
    s_inject("ESTOP", 1);
    int64_t until = lab_clock_mono_us() + 3000000;
    for (;;) {
        tr_control(t, LABLOOP__CONTROL__ACTION__CLEAR, NULL, NULL);
        m = tr_recv(t, 4 * S_DEBOUNCE_MS, 1);
        if (!m)
            break;
        assert_int_equal(m->body_case, LABLOOP__ENVELOPE__BODY_CONTROL);
        lab_env_free(m);
        tr_control(t, LABLOOP__CONTROL__ACTION__ESTOP, NULL, "confirmed");
        if (lab_clock_mono_us() > until)
            fail_msg("released button still trips after 3 s (seed %" PRIu64 ")", s_seed);
    }
    tr_request(t, "v/3", "heater_on", NULL, 0, 0);
    r = tr_result(t, "v/3", LABLOOP__STEP_RESULT__STATUS__DONE, 1000);
    assert_true(tr_value(r->step_result, "on")->value->flag);
    lab_env_free(r);
    tr_ack(t, "v/3");
    s_wait_output("HEATER", 1, 1000);
    s_wait_output("LIGHT", 1, 1000);
    tr_stop(t);
}

static void test_door(void **state)
{
    tr *t = s_connect(state, "gpio-door");
    s_wait_output("LIGHT", 1, 2000);
    int64_t t0 = s_inject("DOOR", 1);             /* door opened (active high) */
    lab_env_free(s_expect_estop(t, "gpio: door tripped", 2000));
    fprintf(stderr, "  door interlock -> Control ESTOP: %.2f ms\n",
            (double)(lab_clock_mono_us() - t0) / 1000.0);
    tr_stop(t);
}

static void test_pulse(void **state)
{
    tr *t = s_connect(state, "gpio-pulse");
    double secs = 0.15 + (double)(s_seed % 5) * 0.01;
    Labloop__Param *p = lab_param_number("seconds", secs, "s");
    tr_request(t, "p/1", "open_valve", &p, 1, 0);
    lab_param_free(p);
    lab_env *r = tr_result(t, "p/1", LABLOOP__STEP_RESULT__STATUS__DONE, 3000);
    double v = 0;
    assert_int_equal(lab_param_to_double(tr_value(r->step_result, "seconds"), &v), 0);
    assert_true(v == secs);
    lab_env_free(r);
    tr_ack(t, "p/1");
    /* the log holds VALVE 0 (init), 1, 0: the pulse lasted about secs */
    char path[512], buf[256], chip[64], name[64];
    snprintf(path, sizeof path, "%s/gpio.log", s_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long long on_us = -1, off_us = -1, tt;
    int val;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "%lld %63s %63s %d", &tt, chip, name, &val) == 4 && !strcmp(name, "VALVE")) {
            if (val == 1)
                on_us = tt;
            else if (on_us >= 0 && off_us < 0)
                off_us = tt;
        }
    fclose(f);
    assert_true(on_us > 0 && off_us > on_us);
    double ms = (double)(off_us - on_us) / 1000.0;
    fprintf(stderr, "  pulse of %.0f ms lasted %.1f ms\n", secs * 1000, ms);
    assert_true(ms >= secs * 1000 - 5);
    /* a missing pulse-length parameter is a clear step error */
    tr_request(t, "p/2", "open_valve", NULL, 0, 0);
    r = tr_result(t, "p/2", LABLOOP__STEP_RESULT__STATUS__FAILED, 1000);
    assert_non_null(strstr(r->step_result->error, "'seconds'"));
    lab_env_free(r);
    tr_stop(t);
}

/* No GPIO chip exists on the test machines: the libgpiod backend must say
 * which chip and line it could not find, directly and through the driver. */
static void test_libgpiod_missing_chip(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lab_gpio_backend be;
    lab_err err = {0};
    assert_int_equal(lab_gpio_libgpiod_new(&loop, "test", &be, &err), 0);
    lab_gpio_line *l = NULL;
    int rc = be.ops->request_input(be.be, "gpiochip9", "17", 1, NULL, NULL, &l, &err);
    assert_true(rc < 0);
    fprintf(stderr, "  libgpiod: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "gpiochip9"));
    assert_non_null(strstr(err.msg, "17"));
    lab_err_clear(&err);
    rc = be.ops->request_output(be.be, "gpiochip9", "VALVE", 0, 0, &l, &err);
    assert_true(rc < 0);
    assert_non_null(strstr(err.msg, "gpiochip9"));
    assert_non_null(strstr(err.msg, "VALVE"));
    be.ops->close(be.be);
    be.ops->destroy(be.be);

    lab_gpio_input in = {.name = "estop", .chip = "gpiochip9", .line = "4", .active_low = 1};
    lab_gpio_opts go = {.device = "bench", .backend = "libgpiod", .inputs = &in, .n_inputs = 1};
    void *drv = lab_gpio_driver_new(&go, &err);
    assert_non_null(drv);
    lab_err_clear(&err);
    rc = lab_gpio_driver_ops.attach(drv, NULL, &loop, &err);
    assert_true(rc < 0);
    fprintf(stderr, "  driver: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "device 'bench'"));
    assert_non_null(strstr(err.msg, "gpiochip9"));
    assert_non_null(strstr(err.msg, "line 4"));
    lab_gpio_driver_ops.detach(drv);
    uv_run(&loop, UV_RUN_DEFAULT);
    lab_gpio_driver_ops.destroy(drv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--worker"))
        return s_worker_main(argc, argv);
    const char *seed = getenv("TEST_SEED");
    s_seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "test_gpio: seed %" PRIu64 " (TEST_SEED=%" PRIu64 " repeats it)\n", s_seed, s_seed);
    lab_log_setup("test", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_QUIET);
    snprintf(s_dir, sizeof s_dir, "/tmp/labloop-test-gpio.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_estop_edge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_door, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pulse, s_setup, s_teardown),
        cmocka_unit_test(test_libgpiod_missing_chip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (rc == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return rc;
}
