/* Unit tests of the bounds on what labloop reads: configs capped in size and
 * nesting (refused at once, with one line), problems printed at most 50
 * times plus a count, durations without NaN, infinity or overflowing casts
 * (the worker config's kill_grace: 1e300 was undefined behaviour), numbers
 * in the campaign, lab and worker configs within their limits, and device
 * text stripped of control characters before a terminal sees it; control
 * requests read without side effects.
 * Not for: the loaders' ordinary messages (test_config.c, test_simlab.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/text.h"
#include "common/ytree.h"
#include "devices/worker_config.h"
#include "orchestrator/config.h"
#include "orchestrator/control_req.h"
#include "sim/lab.h"
#include "common/banned.h"

static char s_dir[64];

static const char *s_write(const char *name, const char *text, size_t len)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

/* The lines a loader printed, in a memory stream. */
typedef struct s_out {
    char *text;
    size_t len;
    FILE *f;
} s_out;

static void s_out_open(s_out *o)
{
    memset(o, 0, sizeof *o);
    o->f = open_memstream(&o->text, &o->len);
    assert_non_null(o->f);
}

static size_t s_out_close(s_out *o)
{
    fclose(o->f);
    size_t lines = 0;
    for (size_t i = 0; i < o->len; i++)
        lines += o->text[i] == '\n';
    return lines;
}

/* ---- durations ---- */

static void test_duration(void **state)
{
    (void)state;
    double s;
    assert_int_equal(lab_duration_parse("1.5h", &s), 0);
    assert_true(s == 5400);
    assert_int_equal(lab_duration_parse("2d", &s), 0);
    assert_true(s == 172800);
    const char *bad[] = {"nan", "inf", "-1", "+5", " 5", "1e400", "5 s", "5x", "", "0x10", "1e308d", NULL};
    for (const char **b = bad; *b; b++)
        if (lab_duration_parse(*b, &s) == 0)
            fail_msg("'%s' read as a duration (%g s)", *b, s);
}

/* ---- the worker config (the loader behind `labloop worker --config`) ---- */

static void s_worker_refused(const char *grace, const char *want)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "name: w1\nendpoint: tcp://127.0.0.1:5560\ndriver: exec\n"
                     "exec: {commands: {c: [true]}, kill_grace: %s}\n", grace);
    const char *path = s_write("worker.yaml", text, (size_t)n);
    s_out o;
    s_out_open(&o);
    lab_err err = {0};
    lab_worker_config *c = lab_worker_config_load(path, o.f, &err);
    size_t lines = s_out_close(&o);
    if (c)
        fail_msg("kill_grace: %s accepted as %d ms", grace, c->exec.kill_grace_ms);
    assert_int_equal(lines, 1);
    if (!strstr(o.text, want) || !strstr(o.text, ":4:"))
        fail_msg("kill_grace: %s: unclear message: %s", grace, o.text);
    free(o.text);
}

static void test_worker_config_durations(void **state)
{
    (void)state;
    /* a double far beyond a long was cast to long: undefined behaviour */
    s_worker_refused("1e300", "exec.kill_grace must be");
    s_worker_refused("1e300h", "exec.kill_grace must be");
    s_worker_refused("nan", "exec.kill_grace must be");   /* was 0 ms */
    s_worker_refused("inf", "exec.kill_grace must be");
    s_worker_refused("11m", "between 0 and 600 seconds");
    const char ok[] = "name: w1\nendpoint: tcp://127.0.0.1:5560\ndriver: exec\n"
                      "reconnect: {min: 100ms, max: 2m}\n"
                      "exec: {commands: {c: [true]}, kill_grace: 1.5s}\n";
    lab_err err = {0};
    lab_worker_config *c = lab_worker_config_load(s_write("ok.yaml", ok, sizeof ok - 1), NULL, &err);
    if (!c)
        fail_msg("%s", err.msg);
    assert_int_equal(c->exec.kill_grace_ms, 1500);
    assert_int_equal(c->reconnect_min_ms, 100);
    assert_int_equal(c->reconnect_max_ms, 120000);
    lab_worker_config_destroy(&c);
}

/* ---- the simulated lab ---- */

static void test_simlab_numbers(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"lab: {speed: nan}\n", "lab.speed must be"},
        {"lab: {speed: .inf}\n", "lab.speed must be"},
        {"lab: {speed: 1e9}\n", "lab.speed must be"},
        {"lab: {speed: 10}\nmodel: {kind: branin, noise: 1e300}\n", "model.noise must be"},
        {"lab: {speed: 10}\nmodel: {kind: branin, noise: nan}\n", "model.noise must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        int n = snprintf(text, sizeof text, "%sdevices:\n  - {name: d, driver: null, capabilities: [c]}\n",
                         cases[i][0]);
        s_out o;
        s_out_open(&o);
        lab_err err = {0};
        lab_sim_lab *lab = lab_sim_lab_load(s_write("lab.yaml", text, (size_t)n), o.f, &err);
        s_out_close(&o);
        if (lab)
            fail_msg("accepted: %s", cases[i][0]);
        if (!strstr(o.text, cases[i][1]))
            fail_msg("%s: unclear message: %s", cases[i][0], o.text);
        free(o.text);
    }
    const char *durations[] = {"nan", "inf", "1e400", "8d", "-5s"};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        char text[512];
        int n = snprintf(text, sizeof text, "lab: {speed: 10}\ndevices:\n  - {name: d, driver: null, "
                         "capabilities: [c], duration: %s}\n", durations[i]);
        lab_err err = {0};
        lab_sim_lab *lab = lab_sim_lab_load(s_write("lab.yaml", text, (size_t)n), NULL, &err);
        if (lab)
            fail_msg("duration %s accepted as %g s", durations[i], lab->devices[0].duration_s);
        assert_non_null(strstr(err.msg, "duration must be a duration"));
    }
}

/* ---- the campaign ---- */

static const char s_campaign[] =
    "campaign: {name: %s, budget: {experiments: 5, hours: %s}}\n"
    "space: [{name: x, type: real, low: 0, high: %s}]\n"
    "objectives: [{name: y, goal: maximize, from: m.y}]\n"
    "workflow: [{step: m, capability: c, timeout: %s}]\n"
    "devices: [{name: d, capabilities: [c]}]\n";

static void s_campaign_refused(const char *name, const char *hours, const char *high, const char *timeout,
                               const char *want)
{
    char text[1024];
    int n = snprintf(text, sizeof text, s_campaign, name, hours, high, timeout);
    s_out o;
    s_out_open(&o);
    lab_err err = {0};
    lab_campaign_cfg *c = lab_config_load_string("c.yaml", text, (size_t)n, o.f, &err);
    size_t lines = s_out_close(&o);
    if (c)
        fail_msg("accepted: %s", text);
    assert_int_equal(lines, 1);
    if (!strstr(o.text, want))
        fail_msg("unclear message: %s (wanted '%s')", o.text, want);
    free(o.text);
}

static void test_campaign_bounds(void **state)
{
    (void)state;
    char text[1024];
    int n = snprintf(text, sizeof text, s_campaign, "t", "48", "1", "7d");
    lab_err err = {0};
    lab_campaign_cfg *c = lab_config_load_string("c.yaml", text, (size_t)n, NULL, &err);
    if (!c)
        fail_msg("the good campaign: %s", err.msg);
    lab_config_destroy(&c);
    s_campaign_refused("t", "48", "1", "1e13", "timeout must be between 0 and 604800 seconds");
    s_campaign_refused("t", "48", "1", "8d", "timeout must be between 0 and 604800 seconds");
    s_campaign_refused("t", "3e9", "1", "5m", "budget.hours must be between 0 and 8760 hours");
    s_campaign_refused("t", "nan", "1", "5m", "budget.hours must be a number of hours");
    s_campaign_refused("t", "48", ".nan", "5m", "high must be a number");
    s_campaign_refused("t", "48", "1e999", "5m", "high must be a number");
    s_campaign_refused("..", "48", "1", "5m", "must not be '.' or '..'");
}

/* ---- size, nesting and the number of problems printed ---- */

static void test_yaml_limits(void **state)
{
    (void)state;
    /* 100,000 levels: refused at level 65, before a tree is built */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 2);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\n';
    const char *path = s_write("deep.yaml", deep, 2 * depth + 1);
    s_out o;
    s_out_open(&o);
    lab_err err = {0};
    assert_null(lab_config_load(path, o.f, &err));
    assert_int_equal(s_out_close(&o), 1);
    assert_non_null(strstr(o.text, "deep.yaml:1:65: nested more than 64 levels deep"));
    free(o.text);
    assert_null(lab_worker_config_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "nested more than 64"));
    assert_null(lab_sim_lab_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "nested more than 64"));
    /* 64 levels are fine for the parser (the loader then says what is wrong) */
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    lab_ydoc *d = lab_ydoc_parse("ok.yaml", deep, 128, &err);
    assert_non_null(d);
    lab_ydoc_destroy(&d);
    free(deep);

    /* more than 1 MiB: refused before it is read whole */
    size_t big = (size_t)LAB_YAML_MAX_BYTES + 4096;
    char *text = malloc(big);
    assert_non_null(text);
    size_t k = 0;
    for (unsigned i = 0; k + 32 < big; i++)
        k += (size_t)snprintf(text + k, big - k, "key%u: 1\n", i);
    path = s_write("big.yaml", text, k);
    s_out_open(&o);
    assert_null(lab_config_load(path, o.f, &err));
    assert_int_equal(s_out_close(&o), 1);
    assert_non_null(strstr(o.text, "larger than 1048576 bytes"));
    free(o.text);
    assert_null(lab_worker_config_load(path, NULL, &err));
    assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));

    /* under the cap, thousands of unknown keys: 50 lines and a count */
    size_t under = 300000;
    while (under > 0 && text[under - 1] != '\n')
        under--;
    size_t keys = 0;
    for (size_t i = 0; i < under; i++)
        keys += text[i] == '\n';
    path = s_write("keys.yaml", text, under);
    s_out_open(&o);
    assert_null(lab_config_load(path, o.f, &err));
    size_t lines = s_out_close(&o);
    assert_int_equal(lines, LAB_YAML_MAX_ERRORS + 1);
    char want[128];
    /* every key is unknown, and the five required keys are missing */
    snprintf(want, sizeof want, "... and %zu more problems (only the first 50 are shown)",
             keys + 5 - LAB_YAML_MAX_ERRORS);
    if (!strstr(o.text, want))
        fail_msg("wanted '%s' in the last line: %s", want, o.text + o.len - (o.len > 200 ? 200 : o.len));
    free(o.text);
    s_out_open(&o);
    assert_null(lab_worker_config_load(path, o.f, &err));
    lines = s_out_close(&o);
    assert_true(lines <= LAB_YAML_MAX_ERRORS + 1);
    assert_non_null(strstr(o.text, "more problems (only the first 50 are shown)"));
    free(o.text);
    free(text);
}

/* ---- device text on a terminal ---- */

static void test_text_clean(void **state)
{
    (void)state;
    char out[256];
    lab_text_clean(out, sizeof out, "lamp \x1b[31mfailure\x1b[0m: bulb\t2\r\nnext\x07 \x1b]0;pwned\x07ok");
    assert_string_equal(out, "lamp failure: bulb 2  next ok");
    lab_text_clean(out, sizeof out, "a\x1b" "cb\x7f" "c\xc2\x9b" "2Jd \xc3\xa9");   /* ESC c, DEL, C1 CSI */
    assert_string_equal(out, "abc2Jd \xc3\xa9");
    lab_text_clean(out, sizeof out, "cut \x1b[");           /* an unfinished sequence */
    assert_string_equal(out, "cut ");
    char same[] = "in\x1b[2Jplace";
    lab_text_clean(same, sizeof same, same);
    assert_string_equal(same, "inplace");
    lab_text_clean(out, 5, "abcdefgh");
    assert_string_equal(out, "abcd");
    assert_true(lab_text_is_clean("plain text é"));
    assert_false(lab_text_is_clean("bell\x07"));
    s_out o;
    s_out_open(&o);
    const char lines[] = "one \x1b[1mbold\x1b[0m\ntwo\x1b[2J\n";
    assert_int_equal(lab_text_write_clean(o.f, lines, sizeof lines - 1), 0);
    assert_int_equal(s_out_close(&o), 2);
    assert_string_equal(o.text, "one bold\ntwo\n");
    free(o.text);
}

/* ---- the control request parser (found by fuzz_control: an empty cmd) ---- */

static void s_req_refused(const char *body, const char *want)
{
    lab_control_req req;
    char why[160] = "";
    if (lab_control_req_parse(body, strlen(body), &req, why, sizeof why) == 0)
        fail_msg("accepted: %s", body);
    if (!strstr(why, want))
        fail_msg("%s: '%s', wanted '%s'", body, why, want);
}

static void test_control_req(void **state)
{
    (void)state;
    lab_control_req req;
    char why[160];
    const char ok[] = "{\"cmd\": \"abort\", \"user\": \"op\\u001b[2J\", \"reason\": \"smoke\\n\"}";
    assert_int_equal(lab_control_req_parse(ok, sizeof ok - 1, &req, why, sizeof why), 0);
    assert_string_equal(req.cmd, "abort");
    assert_string_equal(req.user, "op");          /* control characters removed */
    assert_string_equal(req.reason, "smoke ");
    assert_string_equal(req.host, "");
    s_req_refused("{\"cmd\": \"\", \"host\": \"x\"}", "\"cmd\" is empty");
    s_req_refused("not json", "request is not JSON");
    s_req_refused("[1]", "not a JSON object");
    s_req_refused("{\"user\": \"x\"}", "request has no \"cmd\"");
    s_req_refused("{\"cmd\": 5}", "\"cmd\" must be a string");
    s_req_refused("{\"cmd\": \"pause\", \"user\": \"a\\u0000b\"}", "not JSON");   /* jansson refuses \\u0000 */
    s_req_refused("{\"cmd\": \"pause\", \"cmd\": \"resume\"}", "not JSON");
    char big[300];
    int n = snprintf(big, sizeof big, "{\"cmd\": \"pause\", \"user\": \"%0200d\"}", 0);
    assert_true(n > 0);
    s_req_refused(big, "\"user\" is longer than 127 bytes");
    /* extend's numbers */
    const char ext[] = "{\"cmd\": \"extend\", \"experiments\": 20, \"hours\": 1.5}";
    assert_int_equal(lab_control_req_parse(ext, sizeof ext - 1, &req, why, sizeof why), 0);
    assert_int_equal(req.experiments, 20);
    assert_true(req.hours == 1.5);
    s_req_refused("{\"cmd\": \"extend\", \"experiments\": 2.5}", "\"experiments\" must be an integer");
    s_req_refused("{\"cmd\": \"extend\", \"experiments\": -1}", "\"experiments\" must be from 0 to 10000000");
    s_req_refused("{\"cmd\": \"extend\", \"experiments\": 99999999999}", "must be from 0 to");
    s_req_refused("{\"cmd\": \"extend\", \"hours\": \"2\"}", "\"hours\" must be a number");
    s_req_refused("{\"cmd\": \"extend\", \"hours\": 9000}", "\"hours\" must be from 0 to 8760");
    /* approve's and reject's experiment numbers */
    const char ap[] = "{\"cmd\": \"approve\", \"seqs\": [3, 4]}";
    assert_int_equal(lab_control_req_parse(ap, sizeof ap - 1, &req, why, sizeof why), 0);
    assert_int_equal(req.n_seqs, 2);
    assert_int_equal(req.seqs[0], 3);
    assert_int_equal(req.seqs[1], 4);
    s_req_refused("{\"cmd\": \"approve\", \"seqs\": 3}", "\"seqs\" must be an array");
    s_req_refused("{\"cmd\": \"approve\", \"seqs\": [0]}", "experiment numbers");
    s_req_refused("{\"cmd\": \"reject\", \"seqs\": [\"1\"]}", "experiment numbers");
    char many[4096];
    size_t m = (size_t)snprintf(many, sizeof many, "{\"cmd\": \"approve\", \"seqs\": [1");
    for (int i = 0; i < LAB_CONTROL_MAX_SEQS; i++)
        m += (size_t)snprintf(many + m, sizeof many - m, ",1");
    snprintf(many + m, sizeof many - m, "]}");
    s_req_refused(many, "at most 256");
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/labloop-test-bounds.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_worker_config_durations),
        cmocka_unit_test(test_simlab_numbers),
        cmocka_unit_test(test_campaign_bounds),
        cmocka_unit_test(test_yaml_limits),
        cmocka_unit_test(test_text_clean),
        cmocka_unit_test(test_control_req),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    return rc;
}
