/* Unit tests of the exec driver (devices/drivers/exec.c) inside a real
 * worker against a real ROUTER (tests/unit/test_router.h): commands that
 * succeed (params from stdin and env, values, an artifact whose hash must
 * match sha256sum, stderr as LOG), fail with exit 3, hang past the deadline
 * (process group killed: both pids gone), are cancelled, print garbage,
 * print too much, or do not exist; requests with hostile attempt ids (dropped,
 * nothing outside the attempt's own directory touched) and parameters
 * beyond the limits (FAILED).
 * Not for: the worker runtime's own protocol (test_worker.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "common/log.h"
#include "devices/drivers/exec.h"
#include "devices/worker.h"
#include "protocols/request_check.h"
#include "tests/unit/test_router.h"
#include "common/banned.h"

static uint64_t s_seed;
static char s_dir[256];

/* ---- the worker's process: `test_exec --worker NAME ENDPOINT DIR` ---- */

static int s_worker_main(int argc, char **argv)
{
    if (argc < 5)
        return 4;
    lab_log_setup("worker", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_WARN);
    const char *dir = argv[4];
    char root[512], hang[1024];
    snprintf(root, sizeof root, "%s/art", dir);
    /* ignores SIGTERM (and so does its child, which inherits that), so only
     * the SIGKILL after the grace period stops them */
    snprintf(hang, sizeof hang,
             "trap '' TERM; echo $$ > %s/hang.pid; sleep 300 & echo $! > %s/child.pid; wait", dir,
             dir);
    static const char *const nope[] = {"/nonexistent/labloop-test-cmd", NULL};
    lab_exec_command cmds[] = {
        {.capability = "measure",
         .shell = "IN=$(cat); printf '%s' \"$IN\" > \"$LABLOOP_ARTIFACTS/params.json\"; "
                  "head -c 5000 /dev/urandom > \"$LABLOOP_ARTIFACTS/spectrum.bin\"; "
                  "echo \"measuring $LABLOOP_STEP of $LABLOOP_SAMPLE\" >&2; "
                  "printf '{\"x_env\": %s, \"solvent\": \"%s\", \"attempt\": \"%s\", \"ok\": true, "
                  "\"experiment\": \"%s\"}\\n' \"$LABLOOP_PARAM_X\" \"$LABLOOP_PARAM_SOLVENT\" "
                  "\"$LABLOOP_ATTEMPT\" \"$LABLOOP_EXPERIMENT\""},
        {.capability = "fail3", .shell = "echo 'warming up' >&2; echo 'lamp failure: bulb 2' >&2; exit 3"},
        {.capability = "hang", .shell = hang},
        {.capability = "garbage", .shell = "echo 'this is not json {'"},
        {.capability = "big", .shell = "head -c 2000000 /dev/zero | tr '\\0' 'a'"},
        {.capability = "nested", .shell = "echo '{\"a\": [1, 2]}'"},
        {.capability = "nope", .argv = nope},
        {.capability = "touch", .shell = "echo made > \"$LABLOOP_ARTIFACTS/made.txt\"; echo '{}'"},
    };
    lab_exec_opts eo = {.device = argv[2], .commands = cmds, .n_commands = sizeof cmds / sizeof cmds[0],
                        .artifacts_dir = root, .kill_grace_ms = 300, .keep_artifacts = 1};
    lab_err err = {0};
    void *drv = lab_exec_driver_new(&eo, &err);
    if (!drv) {
        fprintf(stderr, "worker: %s\n", err.msg);
        return 4;
    }
    const char *caps[sizeof cmds / sizeof cmds[0]];
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        caps[i] = cmds[i].capability;
    lab_worker_opts o = {.name = argv[2], .endpoint = argv[3], .capabilities = caps,
                         .n_capabilities = sizeof caps / sizeof caps[0], .capacity = 2,
                         .ops = &lab_exec_driver_ops, .driver = drv};
    int rc = lab_worker_run(&o, &err);
    if (rc != 0)
        fprintf(stderr, "worker: %s\n", err.msg);
    return rc == 0 ? 0 : 4;
}

/* ---- helpers ---- */

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

static tr *s_connect(void **state, const char *name)
{
    tr *t = *state;
    const char *extra[] = {s_dir, NULL};
    lab_env_free(tr_connect(t, name, extra));
    return t;
}

static pid_t s_read_pid(const char *file, int timeout_ms)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_dir, file);
    int64_t until = lab_clock_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0)
            return (pid_t)pid;
        if (lab_clock_mono_us() > until)
            fail_msg("%s not written in %d ms (seed %" PRIu64 ")", path, timeout_ms, s_seed);
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Gone: no such process, or a zombie waiting for a reaper that is not us
 * (an orphan re-parented to init counts as dead once it is a zombie). */
static int s_gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 1;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

static void s_wait_gone(pid_t pid, int timeout_ms)
{
    int64_t until = lab_clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (!s_gone(pid)) {
        if (lab_clock_mono_us() > until)
            fail_msg("process %d still alive %d ms after the step ended (seed %" PRIu64 ")",
                     (int)pid, timeout_ms, s_seed);
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- cases ---- */

/* Runs the measure step as attempt id and returns its result; *saw_log
 * says whether the stderr line came as a LOG update before it, and seen
 * lists what came (shown when it did not). */
static lab_env *s_measure(tr *t, const char *id, Labloop__Param **p, int *saw_log, char *seen,
                          size_t seen_cap)
{
    tr_request(t, id, "measure", p, 2, 10000);
    /* ACCEPTED, then the stderr line as LOG, then the result */
    *saw_log = 0;
    seen[0] = '\0';
    size_t seen_len = 0;
    lab_env *r = NULL;
    while (!r) {
        lab_env *m = tr_recv(t, 5000, 0);
        if (!m)
            fail_msg("no result for %s (seed %" PRIu64 ")", id, s_seed);
        if (seen_len < seen_cap)
            seen_len += (size_t)snprintf(seen + seen_len, seen_cap - seen_len, "%s%s",
                                         seen_len ? "; " : "", lab_env_kind(m));
        if (m->body_case == LABLOOP__ENVELOPE__BODY_STEP_UPDATE) {
            if (seen_len < seen_cap)
                seen_len += (size_t)snprintf(seen + seen_len, seen_cap - seen_len, " kind %d '%s'",
                                             (int)m->step_update->kind, m->step_update->text);
            if (m->step_update->kind == LABLOOP__STEP_UPDATE__KIND__LOG &&
                strstr(m->step_update->text, "measuring measure of S-7"))
                *saw_log = 1;
            lab_env_free(m);
        } else {
            r = m;
        }
    }
    return r;
}

static void test_success(void **state)
{
    tr *t = s_connect(state, "exec-ok");
    double x = (double)(s_seed % 10000) / 8.0 + 0.5;
    Labloop__Param *p[2] = {lab_param_number("x", x, "mm"), lab_param_text("solvent", "toluene")};
    int saw_log = 0;
    char seen[1024];
    lab_env *r = s_measure(t, "c/7/measure/1", p, &saw_log, seen, sizeof seen);
    assert_int_equal(r->body_case, LABLOOP__ENVELOPE__BODY_STEP_RESULT);
    Labloop__StepResult *res = r->step_result;
    if (res->status != LABLOOP__STEP_RESULT__STATUS__DONE)
        fail_msg("status %d: %s (seed %" PRIu64 ")", res->status, res->error, s_seed);
    double v = 0;
    assert_int_equal(lab_param_to_double(tr_value(res, "x_env"), &v), 0);
    assert_true(v == x);
    assert_string_equal(tr_value(res, "solvent")->value->text, "toluene");
    assert_string_equal(tr_value(res, "attempt")->value->text, "c/7/measure/1");
    assert_string_equal(tr_value(res, "experiment")->value->text, "c/7");
    assert_int_equal(tr_value(res, "ok")->value->kind_case, LABLOOP__VALUE__KIND_FLAG);
    assert_true(tr_value(res, "ok")->value->flag);

    assert_int_equal(res->n_artifacts, 2);       /* sorted by name */
    Labloop__Artifact *pj = res->artifacts[0], *sp = res->artifacts[1];
    assert_string_equal(pj->name, "params.json");
    assert_string_equal(pj->media_type, "application/json");
    json_error_t je;
    json_t *o = json_loadb((const char *)pj->content.data, pj->content.len, 0, &je);
    assert_non_null(o);
    assert_true(json_real_value(json_object_get(o, "x")) == x);
    assert_string_equal(json_string_value(json_object_get(o, "solvent")), "toluene");
    json_decref(o);
    assert_string_equal(sp->name, "spectrum.bin");
    assert_string_equal(sp->media_type, "application/octet-stream");
    assert_int_equal(sp->size, 5000);
    assert_int_equal(sp->content.len, 5000);
    assert_int_equal(sp->sha256.len, 32);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sp->sha256.data[i]);
    char cmd[600], line[256] = "";
    snprintf(cmd, sizeof cmd, "sha256sum %s/art/c_7_measure_1/spectrum.bin", s_dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    pclose(f);
    if (strncmp(line, hex, 64) != 0)
        fail_msg("sha256 %s, sha256sum says %.64s (seed %" PRIu64 ")", hex, line, s_seed);
    tr_ack(t, "c/7/measure/1");
    lab_env_free(r);
    /* Updates are best effort (a send that would block is dropped), so a
     * lost line is tolerated once, said, and the step run again: the line
     * must come then. */
    if (!saw_log) {
        print_message("the stderr line of c/7/measure/1 did not come as a LOG update before the "
                      "result (came: %s; seed %" PRIu64 "); running the step again\n", seen, s_seed);
        r = s_measure(t, "c/7/measure/2", p, &saw_log, seen, sizeof seen);
        if (r->body_case != LABLOOP__ENVELOPE__BODY_STEP_RESULT ||
            r->step_result->status != LABLOOP__STEP_RESULT__STATUS__DONE)
            fail_msg("the second measure did not end DONE (seed %" PRIu64 ")", s_seed);
        if (!saw_log)
            fail_msg("the stderr line did not come as a LOG update before the result, twice; came: "
                     "%s (seed %" PRIu64 ")", seen, s_seed);
        tr_ack(t, "c/7/measure/2");
        lab_env_free(r);
    }
    for (int i = 0; i < 2; i++)
        lab_param_free(p[i]);
    tr_stop(t);
}

static void test_exit_code(void **state)
{
    tr *t = s_connect(state, "exec-fail");
    tr_request(t, "f/1", "fail3", NULL, 0, 10000);
    lab_env *r = tr_result(t, "f/1", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    const char *e = r->step_result->error;
    if (!strstr(e, "exited with code 3") || !strstr(e, "lamp failure: bulb 2") ||
        !strstr(e, "warming up") || !strstr(e, "exec-fail"))
        fail_msg("unclear error: %s", e);
    lab_env_free(r);
    tr_ack(t, "f/1");
    tr_stop(t);
}

static void test_deadline_kills_group(void **state)
{
    tr *t = s_connect(state, "exec-hang");
    int64_t t0 = lab_clock_mono_us();
    tr_request(t, "h/1", "hang", NULL, 0, 300);
    pid_t sh = s_read_pid("hang.pid", 3000), child = s_read_pid("child.pid", 3000);
    lab_env *r = tr_result(t, "h/1", LABLOOP__STEP_RESULT__STATUS__TIMED_OUT, 5000);
    int64_t ms = (lab_clock_mono_us() - t0) / 1000;
    fprintf(stderr, "  hang: TIMED_OUT after %lld ms (deadline 300 ms + kill grace 300 ms)\n",
            (long long)ms);
    assert_non_null(strstr(r->step_result->error, "timed out"));
    assert_true(ms >= 500);                      /* SIGTERM ignored: SIGKILL after the grace */
    lab_env_free(r);
    s_wait_gone(sh, 1000);
    s_wait_gone(child, 1000);
    tr_ack(t, "h/1");
    tr_stop(t);
}

static void test_cancel(void **state)
{
    tr *t = s_connect(state, "exec-cancel");
    char path[512];
    snprintf(path, sizeof path, "%s/hang.pid", s_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/child.pid", s_dir);
    unlink(path);
    tr_request(t, "k/1", "hang", NULL, 0, 0);
    pid_t sh = s_read_pid("hang.pid", 3000), child = s_read_pid("child.pid", 3000);
    tr_control(t, LABLOOP__CONTROL__ACTION__CANCEL, "k/1", "operator pressed stop");
    lab_env *r = tr_result(t, "k/1", LABLOOP__STEP_RESULT__STATUS__CANCELLED, 5000);
    assert_non_null(strstr(r->step_result->error, "operator pressed stop"));
    lab_env_free(r);
    s_wait_gone(sh, 1000);
    s_wait_gone(child, 1000);
    tr_ack(t, "k/1");
    tr_stop(t);
}

static void test_garbage(void **state)
{
    tr *t = s_connect(state, "exec-garbage");
    tr_request(t, "g/1", "garbage", NULL, 0, 10000);
    lab_env *r = tr_result(t, "g/1", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    const char *e = r->step_result->error;
    if (!strstr(e, "command printed invalid JSON on stdout: ") ||
        !strstr(e, "(first bytes: this is not json {"))
        fail_msg("unclear error: %s", e);
    lab_env_free(r);
    tr_request(t, "g/2", "nested", NULL, 0, 10000);
    r = tr_result(t, "g/2", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "result 'a' on stdout is an array"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_request(t, "g/3", "big", NULL, 0, 10000);
    r = tr_result(t, "g/3", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "more than 1048576 bytes on stdout"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_request(t, "g/4", "nope", NULL, 0, 10000);
    r = tr_result(t, "g/4", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "cannot run '/nonexistent/labloop-test-cmd'"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_stop(t);
}

static int s_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* An orchestrator that sends attempt ids that are not ids (a parent
 * directory, path segments, control bytes, far too long): the worker drops
 * each request with a logged reason, answers none of them, runs nothing,
 * and the files beside and inside its artifacts directory are untouched. */
static void test_hostile_attempt_ids(void **state)
{
    tr *t = s_connect(state, "exec-hostile");
    char canary[512], inner[512];
    snprintf(canary, sizeof canary, "%s/canary.txt", s_dir);   /* the parent of art/ */
    snprintf(inner, sizeof inner, "%s/art/inner.txt", s_dir);
    FILE *f = fopen(canary, "w");
    assert_non_null(f);
    fclose(f);
    assert_non_null(f = fopen(inner, "w"));
    fclose(f);
    char longid[400];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    const char *bad[] = {"..", ".", "../x", "c/1/../../touch/1", "c/1/./1", "c//1", "/c/1",
                         "c/1/touch/1/", "c/1\x1b[2Jx/1", "c/1\ttab/1", "c/1 sp/1", "c\\1", longid};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        tr_request(t, bad[i], "touch", NULL, 0, 10000);
    /* the worker handles messages in order: a good request's result comes
     * after any answer to the bad ones */
    tr_request(t, "c/1/touch/1", "touch", NULL, 0, 10000);
    lab_env *r = tr_result(t, "c/1/touch/1", LABLOOP__STEP_RESULT__STATUS__DONE, 5000);
    lab_env_free(r);
    if (!s_exists(canary) || !s_exists(inner))
        fail_msg("a file next to the attempt directories was deleted (seed %" PRIu64 ")", s_seed);
    char made[512];
    snprintf(made, sizeof made, "%s/made.txt", s_dir);
    assert_false(s_exists(made));
    tr_ack(t, "c/1/touch/1");

    /* a good id that starts with '.' gets a visible directory of its own */
    tr_request(t, ".c/1/touch/3", "touch", NULL, 0, 10000);
    r = tr_result(t, ".c/1/touch/3", LABLOOP__STEP_RESULT__STATUS__DONE, 5000);
    lab_env_free(r);
    snprintf(made, sizeof made, "%s/art/_c_1_touch_3/made.txt", s_dir);
    if (!s_exists(made))
        fail_msg("%s missing (seed %" PRIu64 ")", made, s_seed);
    tr_ack(t, ".c/1/touch/3");

    /* a symbolic link where an attempt's directory goes (left by an earlier
     * command) is refused, not followed: the files it points at stay */
    char victim[512], link[512], vfile[600];
    snprintf(victim, sizeof victim, "%s/victim", s_dir);
    snprintf(vfile, sizeof vfile, "%s/keep.txt", victim);
    snprintf(link, sizeof link, "%s/art/c_1_touch_2", s_dir);
    assert_int_equal(mkdir(victim, 0700), 0);
    assert_non_null(f = fopen(vfile, "w"));
    fclose(f);
    assert_int_equal(symlink(victim, link), 0);
    tr_request(t, "c/1/touch/2", "touch", NULL, 0, 10000);
    r = tr_result(t, "c/1/touch/2", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "not a directory of its own"))
        fail_msg("unclear error: %s (seed %" PRIu64 ")", r->step_result->error, s_seed);
    lab_env_free(r);
    assert_true(s_exists(vfile));
    tr_ack(t, "c/1/touch/2");
    tr_stop(t);
}

/* Parameters beyond the limits (too many, a name or text too long, a number
 * that is not finite) get a FAILED result that says which limit. */
static void test_param_bounds(void **state)
{
    tr *t = s_connect(state, "exec-params");
    enum { MANY = LAB_STEP_PARAMS_MAX + 1 };
    Labloop__Param *many[MANY];
    char name[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "p%d", i);
        many[i] = lab_param_number(name, i, NULL);
    }
    tr_request(t, "p/1/touch/1", "touch", many, MANY, 10000);
    lab_env *r = tr_result(t, "p/1/touch/1", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "parameters"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_ack(t, "p/1/touch/1");
    for (int i = 0; i < MANY; i++)
        lab_param_free(many[i]);

    char *big = malloc(LAB_STEP_TEXT_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', LAB_STEP_TEXT_MAX + 1);
    big[LAB_STEP_TEXT_MAX + 1] = '\0';
    Labloop__Param *p[1] = {lab_param_text("notes", big)};
    tr_request(t, "p/1/touch/2", "touch", p, 1, 10000);
    r = tr_result(t, "p/1/touch/2", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "'notes'"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_ack(t, "p/1/touch/2");
    lab_param_free(p[0]);
    free(big);

    p[0] = lab_param_number("x", NAN, NULL);
    tr_request(t, "p/1/touch/3", "touch", p, 1, 10000);
    r = tr_result(t, "p/1/touch/3", LABLOOP__STEP_RESULT__STATUS__FAILED, 5000);
    if (!strstr(r->step_result->error, "'x'") || !strstr(r->step_result->error, "finite"))
        fail_msg("unclear error: %s", r->step_result->error);
    lab_env_free(r);
    tr_ack(t, "p/1/touch/3");
    lab_param_free(p[0]);
    tr_stop(t);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--worker"))
        return s_worker_main(argc, argv);
    const char *seed = getenv("TEST_SEED");
    s_seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    fprintf(stderr, "test_exec: seed %" PRIu64 " (TEST_SEED=%" PRIu64 " repeats it)\n", s_seed, s_seed);
    lab_log_setup("test", getenv("TEST_VERBOSE") ? LAB_LOG_DEBUG : LAB_LOG_QUIET);
    snprintf(s_dir, sizeof s_dir, "/tmp/labloop-test-exec.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_exit_code, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_kills_group, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_garbage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_attempt_ids, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_param_bounds, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (rc == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return rc;
}
