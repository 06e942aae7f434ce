/* Unit tests of the simulated lab's loader (sim/lab.c): a full lab.yaml read
 * back value by value, the defaults, and broken files each checked for the
 * exact "file:line:col" of the problem and the words of the message.
 * Not for: what the simulated drivers do with these values (sim/drivers.c).
 */
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

#include "sim/lab.h"

#include "common/banned.h"

static char s_dir[64];

/* Write text to a new file in the test directory; returns its path (static
 * storage, valid until the next call). */
static const char *s_write(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* "path:line:col" of the nth (1-based) occurrence of needle in text. */
static void s_pos(char *out, size_t len, const char *path, const char *text, const char *needle,
                  int nth)
{
    const char *p = text;
    for (int i = 0; i < nth; i++) {
        p = strstr(i ? p + 1 : p, needle);
        assert_non_null(p);
    }
    int line = 1, col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, len, "%s:%d:%d: ", path, line, col);
}

static int s_starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* Load text as name; it must fail with the first problem at the nth needle and
 * a message containing words. Every line written to errs has a position. */
static void s_broken(const char *name, const char *text, const char *needle, int nth,
                     const char *words)
{
    const char *path = s_write(name, text);
    char where[256];
    s_pos(where, sizeof where, path, text, needle, nth);
    char *buf = NULL;
    size_t blen = 0;
    FILE *errs = open_memstream(&buf, &blen);
    assert_non_null(errs);
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load(path, errs, &err);
    fclose(errs);
    if (lab || err.code != LAB_ECONFIG || !s_starts(err.msg, where) || !strstr(err.msg, words))
        fail_msg("%s: wanted '%s...%s', got code %d '%s'", name, where, words, err.code, err.msg);
    /* the same problem was printed, and every printed line has a position */
    assert_non_null(strstr(buf, err.msg));
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(s_starts(line, path));
        int l = 0, c = 0;
        assert_int_equal(sscanf(line + strlen(path), ":%d:%d: ", &l, &c), 2);
        assert_true(l >= 1 && c >= 1);
        line = nl + 1;
    }
    free(buf);
}

/* Everything lab_sim_lab_load prints for path, which must not load (caller frees). */
static char *s_errors(const char *path)
{
    char *buf = NULL;
    size_t blen = 0;
    FILE *errs = open_memstream(&buf, &blen);
    assert_non_null(errs);
    lab_err err = {0};
    assert_null(lab_sim_lab_load(path, errs, &err));
    fclose(errs);
    return buf;
}

static int s_group_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_simlab.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    /* only the files this test wrote live there */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char s_full[] =
    "# a lab with every key\n"
    "lab:\n"
    "  name: test-lab\n"
    "  endpoint: tcp://127.0.0.1:5999\n"
    "  speed: 250\n"
    "  samples: /tmp/somewhere/samples\n"
    "  seed: 11\n"
    "model: {kind: nanocrystal_pl, noise: 0.05}\n"
    "devices:\n"
    "  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler, mixer], duration: 90s,\n"
    "     failure_rate: 0.25, failure: clogged tip}\n"
    "  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 4,\n"
    "     duration: \"${time}\", jitter: 0}\n"
    "  - name: pl-1\n"
    "    driver: sim.spectrometer\n"
    "    capabilities: [pl_spectrometer]\n"
    "    duration: 2m\n"
    "  - {name: furnace, driver: null, capabilities: [furnace], duration: 1.5h, capacity: 1000}\n"
    "  - {name: pipette, driver: null, capabilities: [tip], duration: 250ms}\n";

static void test_full(void **state)
{
    (void)state;
    const char *path = s_write("full.yaml", s_full);
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load(path, stderr, &err);
    if (!lab)
        fail_msg("%s", err.msg);
    assert_int_equal(err.code, 0);
    assert_string_equal(lab->path, path);
    assert_string_equal(lab->name, "test-lab");
    assert_string_equal(lab->endpoint, "tcp://127.0.0.1:5999");
    assert_true(lab->speed == 250);
    assert_string_equal(lab->samples_dir, "/tmp/somewhere/samples");
    assert_int_equal(lab->seed, 11);
    assert_string_equal(lab->model_kind, "nanocrystal_pl");
    assert_true(fabs(lab->model_noise - 0.05) < 1e-12);
    assert_int_equal(lab->n_devices, 5);

    const lab_sim_device *d = lab_sim_lab_device(lab, "ot2");
    assert_ptr_equal(d, &lab->devices[0]);
    assert_string_equal(d->driver, "sim.dispenser");
    assert_int_equal(d->n_capabilities, 2);
    assert_string_equal(d->capabilities[0], "liquid_handler");
    assert_string_equal(d->capabilities[1], "mixer");
    assert_int_equal(d->capacity, 1);
    assert_true(d->duration_s == 90);
    assert_null(d->duration_param);
    assert_true(fabs(d->jitter - 0.1) < 1e-12);           /* default */
    assert_true(fabs(d->failure_rate - 0.25) < 1e-12);
    assert_string_equal(d->failure_text, "clogged tip");

    d = lab_sim_lab_device(lab, "hotplate");
    assert_non_null(d);
    assert_string_equal(d->driver, "sim.heater");
    assert_int_equal(d->capacity, 4);
    assert_string_equal(d->duration_param, "time");
    assert_true(d->duration_s == 0);
    assert_true(d->jitter == 0);
    assert_true(d->failure_rate == 0);
    assert_null(d->failure_text);

    d = lab_sim_lab_device(lab, "pl-1");
    assert_non_null(d);
    assert_string_equal(d->driver, "sim.spectrometer");
    assert_string_equal(d->capabilities[0], "pl_spectrometer");
    assert_true(d->duration_s == 120);

    d = lab_sim_lab_device(lab, "furnace");
    assert_non_null(d);
    assert_string_equal(d->driver, "null");
    assert_true(d->duration_s == 5400);
    assert_int_equal(d->capacity, 1000);

    d = lab_sim_lab_device(lab, "pipette");
    assert_non_null(d);
    assert_true(fabs(d->duration_s - 0.25) < 1e-12);

    assert_null(lab_sim_lab_device(lab, "no-such-device"));
    lab_sim_lab_destroy(&lab);
    assert_null(lab);
    lab_sim_lab_destroy(&lab);   /* idempotent */
}

static void test_defaults(void **state)
{
    (void)state;
    const char *path = s_write("min.yaml",
                               "lab: {name: tiny}\n"
                               "devices:\n"
                               "  - {name: d1, driver: sim.dispenser, capabilities: [x]}\n");
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load(path, stderr, &err);
    if (!lab)
        fail_msg("%s", err.msg);
    assert_string_equal(lab->name, "tiny");
    assert_true(lab->speed == 1);
    assert_int_equal(lab->seed, 1);
    assert_null(lab->model_kind);
    assert_non_null(lab->endpoint);
    assert_non_null(strstr(lab->samples_dir, "tiny"));
    assert_int_equal(lab->n_devices, 1);
    assert_int_equal(lab->devices[0].capacity, 1);
    assert_true(lab->devices[0].duration_s == 0);
    assert_null(lab->devices[0].duration_param);
    lab_sim_lab_destroy(&lab);
}

static void test_demo_lab(void **state)
{
    (void)state;
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load("examples/demo-lab.yaml", stderr, &err);
    if (!lab) {
        if (access("examples/demo-lab.yaml", R_OK) != 0)
            skip();   /* run from outside the repository */
        fail_msg("%s", err.msg);
    }
    assert_int_equal(lab->n_devices, 3);
    assert_string_equal(lab_sim_lab_device(lab, "hotplate")->duration_param, "time");
    lab_sim_lab_destroy(&lab);
}

#define S_HEAD "lab: {name: broken}\nmodel: {kind: branin}\ndevices:\n"

static void test_unknown_key(void **state)
{
    (void)state;
    s_broken("key-device.yaml",
             S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c], colour: red}\n",
             "colour", 1, "unknown key 'colour'");
    s_broken("key-top.yaml", S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c]}\nextras: 1\n",
             "extras", 1, "unknown key 'extras'");
    s_broken("key-lab.yaml",
             "lab: {name: broken, sped: 3}\ndevices:\n  - {name: a, driver: null, capabilities: [c]}\n",
             "sped", 1, "unknown key 'sped'");
}

static void test_unknown_driver(void **state)
{
    (void)state;
    s_broken("driver.yaml", S_HEAD "  - {name: a, driver: sim.furnace, capabilities: [c]}\n",
             "sim.furnace", 1,
             "driver must be one of sim.dispenser|sim.heater|sim.spectrometer|null, got 'sim.furnace'");
    s_broken("nodriver.yaml", S_HEAD "  - {name: a, capabilities: [c]}\n", "{name: a", 1,
             "missing required key 'driver'");
}

static void test_bad_duration(void **state)
{
    (void)state;
    static const char *const bad[] = {"5 parsecs", "-3s", "\"${}\"", "fast", "10 s", "\"\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256], name[32];
        snprintf(text, sizeof text,
                 S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c],\n"
                        "     duration: %s}\n", bad[i]);
        snprintf(name, sizeof name, "duration-%zu.yaml", i);
        s_broken(name, text, bad[i], 1, "duration must be a duration");
    }
}

static void test_capacity(void **state)
{
    (void)state;
    s_broken("cap0.yaml", S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c], capacity: 0}\n",
             "0}", 1, "capacity must be between 1 and 1000, got 0");
    s_broken("capx.yaml", S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c], capacity: two}\n",
             "two", 1, "capacity must be an integer, got 'two'");
    s_broken("capbig.yaml", S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c], capacity: 1001}\n",
             "1001", 1, "capacity must be between 1 and 1000, got 1001");
}

/* A device name longer than a worker's routing id can hold is refused. */
static void test_long_device_name(void **state)
{
    (void)state;
    char text[512], name[80];
    memset(name, 'w', 64);
    name[64] = '\0';
    snprintf(text, sizeof text, S_HEAD "  - {name: %s, driver: null, capabilities: [c]}\n", name);
    s_broken("longname.yaml", text, name, 1, "device name is 64 characters long; at most 63");
}

static void test_duplicate_device(void **state)
{
    (void)state;
    s_broken("dup.yaml",
             S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c]}\n"
                    "  - {name: b, driver: sim.heater, capabilities: [c]}\n"
                    "  - {name: a, driver: sim.dispenser, capabilities: [d]}\n",
             "{name: a", 2, "device 'a' is named twice");
}

static void test_spectrometer_without_model(void **state)
{
    (void)state;
    s_broken("nomodel.yaml",
             "lab: {name: broken}\n"
             "devices:\n"
             "  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler]}\n"
             "  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl]}\n",
             "{name: pl-1", 1, "device 'pl-1' measures, so the lab needs a 'model'");
    /* reported even when the file has other problems too */
    s_broken("nomodel2.yaml",
             "lab: {name: broken, colour: red}\n"
             "devices:\n"
             "  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl]}\n",
             "colour", 1, "unknown key 'colour'");
    char path[128];
    snprintf(path, sizeof path, "%s/nomodel2.yaml", s_dir);
    char *buf = s_errors(path);
    assert_non_null(strstr(buf, "nomodel2.yaml:3:5: device 'pl-1' measures, so the lab needs a 'model'"));
    free(buf);
    /* an unknown model kind is one problem, not two */
    s_broken("badmodel.yaml",
             "lab: {name: broken}\nmodel: {kind: rosenbrock}\n"
             "devices:\n  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl]}\n",
             "rosenbrock", 1, "unknown model kind 'rosenbrock'");
    snprintf(path, sizeof path, "%s/badmodel.yaml", s_dir);
    buf = s_errors(path);
    assert_null(strstr(buf, "needs a 'model'"));
    free(buf);
}

static void test_missing_devices(void **state)
{
    (void)state;
    s_broken("nodevices.yaml", "lab: {name: broken}\nmodel: {kind: branin}\n", "lab", 1,
             "missing required key 'devices'");
    s_broken("emptydevices.yaml", "lab: {name: broken}\ndevices: []\n", "[]", 1,
             "'devices' must be a non-empty list");
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    /* the unclosed flow list: libyaml notices at the start of line 3 */
    s_broken("syntax.yaml", "lab: {name: broken}\ndevices: [a, b\nmodel: x\n", ": x", 1,
             "YAML syntax error");
    s_broken("empty.yaml", "", "", 1, "empty");
}

/* Every problem is reported, in file order; err holds the first. */
static void test_many_problems(void **state)
{
    (void)state;
    const char *text = S_HEAD "  - {name: a, driver: sim.heater, capabilities: [c], capacity: 0}\n"
                              "  - {name: b, driver: nope, capabilities: [c], duration: soon}\n";
    const char *path = s_write("many.yaml", text);
    lab_err err = {0};
    assert_null(lab_sim_lab_load(path, NULL, &err));
    char *buf = s_errors(path);
    assert_non_null(strstr(err.msg, "capacity must"));
    int lines = 0;
    for (const char *p = buf; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 3);
    assert_non_null(strstr(buf, "driver must be one of"));
    assert_non_null(strstr(buf, "duration must be a duration"));
    free(buf);
}

static void test_missing_file(void **state)
{
    (void)state;
    lab_err err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/no-such-file.yaml", s_dir);
    assert_null(lab_sim_lab_load(path, NULL, &err));
    assert_int_not_equal(err.code, 0);
    assert_non_null(strstr(err.msg, "no-such-file.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_demo_lab),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_unknown_driver),
        cmocka_unit_test(test_bad_duration),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_duplicate_device),
        cmocka_unit_test(test_long_device_name),
        cmocka_unit_test(test_spectrometer_without_model),
        cmocka_unit_test(test_missing_devices),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_many_problems),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
