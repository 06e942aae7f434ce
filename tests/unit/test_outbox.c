/* Unit tests for devices/outbox.c: file names (escaping, the run prefix,
 * names too long, attempt ids cut to fit a file name), a durable save read back, removal, setting aside,
 * temporary files and foreign files at load, unusable directories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/outbox.h"
#include "protocols/envelope.h"
#include "common/banned.h"

typedef struct fx {
    char dir[64];
} fx;

static int s_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/labloop-outbox-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* An encoded Envelope{StepResult} for attempt. */
static uint8_t *s_result(const char *attempt, size_t *len)
{
    Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
    r.attempt_id = (char *)attempt;
    r.status = LABLOOP__STEP_RESULT__STATUS__DONE;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_STEP_RESULT;
    env.step_result = &r;
    uint8_t *buf = NULL;
    assert_int_equal(lab_env_encode(&env, &buf, len, NULL), 0);
    return buf;
}

typedef struct s_seen {
    int n;
    char run[8][80];
    char attempt[8][128];
    size_t len[8];
} s_seen;

static void s_collect(const char *run, const char *attempt, uint8_t *buf, size_t len, void *arg)
{
    s_seen *s = arg;
    if (s->n < 8) {
        snprintf(s->run[s->n], sizeof s->run[0], "%s", run);
        snprintf(s->attempt[s->n], sizeof s->attempt[0], "%s", attempt);
        s->len[s->n++] = len;
    }
    free(buf);
}

static void test_names(void **state)
{
    (void)state;
    char p[256];
    assert_int_equal(lab_outbox_path("/o", "1763", "demo/7/anneal/2", ".result", p, sizeof p), 0);
    assert_string_equal(p, "/o/1763+demo%2F7%2Fanneal%2F2.result");
    assert_int_equal(lab_outbox_path("/o", "", "a.b_c-d", ".result", p, sizeof p), 0);
    assert_string_equal(p, "/o/a.b_c-d.result");                      /* no run: no prefix */
    assert_int_equal(lab_outbox_path("/o", NULL, ".x+y é", ".tmp", p, sizeof p), 0);
    assert_string_equal(p, "/o/%2Ex%2By%20%C3%A9.tmp");               /* leading dot, '+', space, UTF-8 */
    char small[20];
    assert_int_equal(lab_outbox_path("/o", "1", "demo/7/anneal/2", ".result", small, sizeof small), -1);
    char longrun[200];
    memset(longrun, '9', sizeof longrun - 1);
    longrun[sizeof longrun - 1] = '\0';
    assert_int_equal(lab_outbox_path("/o", longrun, "a", "", p, sizeof p), 0);
    assert_int_equal(strlen(p), strlen("/o/") + LAB_OUTBOX_RUN_MAX + strlen("+a"));   /* run cut */
}

/* An attempt id too long for a file name (a long campaign name) is cut,
 * never inside an escape, and ends in '~' and 16 hex digits of its SHA-256:
 * the names are the Python client's (devices/python/labloop_worker.py), and
 * such a result saves, loads back whole, is removed and set aside. */
static void test_long_names(void **state)
{
    fx *f = *state;
    char attempt[400], other[400], p[1024], q[1024];
    memset(attempt, 'c', 300);
    snprintf(attempt + 300, sizeof attempt - 300, "/1/measure/1");
    snprintf(other, sizeof other, "%s", attempt);
    other[strlen(other) - 1] = '2';                                   /* differs only at the end */
    assert_int_equal(lab_outbox_path("/o", "1763", attempt, ".result", p, sizeof p), 0);
    assert_int_equal(strlen(p) - strlen("/o/"), 255);
    assert_non_null(strstr(p, "ccc~f98f42ca23b06789.result"));
    assert_int_equal(lab_outbox_path("/o", "1763", other, ".result", q, sizeof q), 0);
    assert_string_not_equal(p, q);
    assert_int_equal(lab_outbox_path("/o", "1763", attempt, ".tmp", q, sizeof q), 0);
    assert_int_equal(strncmp(p, q, strlen(q) - strlen(".tmp")), 0);   /* one stem for both */

    char utf[320];                                                    /* every byte escaped */
    size_t u = 0;
    for (int i = 0; i < 100; i++)
        u += (size_t)snprintf(utf + u, sizeof utf - u, "\xc3\xa9/");
    snprintf(utf + u, sizeof utf - u, "x");
    assert_int_equal(lab_outbox_path("/o", "", utf, "", p, sizeof p), 0);
    char *tilde = strchr(p, '~');
    assert_non_null(tilde);
    assert_int_equal((tilde - (p + 3)) % 3, 0);                       /* whole %XX escapes only */
    assert_string_equal(tilde, "~69f83417cf747118");

    size_t len;
    uint8_t *r = s_result(attempt, &len);
    lab_err err = {0};
    assert_int_equal(lab_outbox_save(f->dir, "1763", attempt, r, len, &err), 0);
    s_seen seen = {0};
    assert_int_equal(lab_outbox_load(f->dir, s_collect, &seen, &err), 1);
    assert_int_equal(strncmp(seen.attempt[0], attempt, sizeof seen.attempt[0] - 1), 0);
    assert_string_equal(seen.run[0], "1763");
    assert_int_equal(lab_outbox_set_aside(f->dir, "1763", attempt, &err), 0);
    assert_int_equal(lab_outbox_save(f->dir, "1763", attempt, r, len, &err), 0);
    assert_int_equal(lab_outbox_remove(f->dir, "1763", attempt, &err), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(lab_outbox_load(f->dir, s_collect, &seen, &err), 0);
    free(r);
}

static void test_save_load_remove(void **state)
{
    fx *f = *state;
    size_t l1, l2;
    uint8_t *r1 = s_result("demo/1/measure/1", &l1), *r2 = s_result("demo/2/measure/1", &l2);
    lab_err err = {0};
    assert_int_equal(lab_outbox_save(f->dir, "111", "demo/1/measure/1", r1, l1, &err), 0);
    assert_int_equal(lab_outbox_save(f->dir, "", "demo/2/measure/1", r2, l2, &err), 0);

    char p[512];
    FILE *junk;
    snprintf(p, sizeof p, "%s/junk.result", f->dir);             /* not an envelope */
    assert_non_null(junk = fopen(p, "w"));
    fputs("not a result", junk);
    fclose(junk);
    snprintf(p, sizeof p, "%s/111+demo%%2F9%%2Fmeasure%%2F1.result", f->dir);   /* a result under another name */
    assert_non_null(junk = fopen(p, "wb"));
    assert_int_equal(fwrite(r1, 1, l1, junk), l1);
    fclose(junk);
    snprintf(p, sizeof p, "%s/222+demo%%2F3%%2Fmeasure%%2F1.tmp", f->dir);     /* a save cut short */
    assert_non_null(junk = fopen(p, "w"));
    fclose(junk);

    s_seen seen = {0};
    assert_int_equal(lab_outbox_load(f->dir, s_collect, &seen, &err), 2);
    assert_int_equal(seen.n, 2);
    int a = strcmp(seen.attempt[0], "demo/1/measure/1") == 0 ? 0 : 1;
    assert_string_equal(seen.attempt[a], "demo/1/measure/1");
    assert_string_equal(seen.run[a], "111");
    assert_int_equal(seen.len[a], l1);
    assert_string_equal(seen.attempt[1 - a], "demo/2/measure/1");
    assert_string_equal(seen.run[1 - a], "");
    assert_int_equal(access(p, F_OK), -1);                          /* the .tmp is gone */
    snprintf(p, sizeof p, "%s/junk.result", f->dir);
    assert_int_equal(access(p, F_OK), 0);                           /* foreign files stay */

    assert_int_equal(lab_outbox_remove(f->dir, "111", "demo/1/measure/1", &err), 0);
    assert_int_equal(lab_outbox_remove(f->dir, "111", "demo/1/measure/1", &err), 0);   /* twice is fine */
    assert_int_equal(lab_outbox_set_aside(f->dir, "", "demo/2/measure/1", &err), 0);
    snprintf(p, sizeof p, "%s/stale/demo%%2F2%%2Fmeasure%%2F1.result", f->dir);
    assert_int_equal(access(p, F_OK), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(lab_outbox_load(f->dir, s_collect, &seen, &err), 0);   /* stale/ is not read */
    free(r1);
    free(r2);
}

static void test_unusable(void **state)
{
    fx *f = *state;
    lab_err err = {0};
    s_seen seen = {0};
    char p[512];
    snprintf(p, sizeof p, "%s/no/such", f->dir);
    assert_true(lab_outbox_load(p, s_collect, &seen, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot make the directory"));
    snprintf(p, sizeof p, "%s/file", f->dir);
    FILE *x = fopen(p, "w");
    assert_non_null(x);
    fclose(x);
    lab_err_clear(&err);
    assert_true(lab_outbox_load(p, s_collect, &seen, &err) < 0);     /* a file, not a directory */
    if (geteuid() != 0) {                                             /* root may write anywhere */
        snprintf(p, sizeof p, "%s/ro", f->dir);
        assert_int_equal(mkdir(p, 0500), 0);
        lab_err_clear(&err);
        assert_true(lab_outbox_load(p, s_collect, &seen, &err) < 0);
        assert_non_null(strstr(err.msg, "cannot write there"));
    }
    uint8_t b[1] = {0};
    lab_err_clear(&err);
    assert_true(lab_outbox_save("/nonexistent-dir-labloop", "1", "a", b, 1, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent-dir-labloop/1+a.result"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_save_load_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_long_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unusable, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
