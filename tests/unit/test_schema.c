/* Unit tests of the config schema engine (common/schema.c): type and bound
 * checks, unknown keys with a hint, duplicates, required keys, problems in
 * file order with their positions, and at most 50 printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"

#include "common/banned.h"

#define N NAN
static const lab_schema_key s_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "a name"},
    {"count", LAB_SK_INT, 0, 1, 10, NULL, "1", "how many"},
    {"ratio", LAB_SK_NUM, 0, 0, 1, NULL, "0.5", "a share"},
    {"on", LAB_SK_BOOL, 0, N, N, NULL, "false", "a switch"},
    {"wait", LAB_SK_DUR, 0, 0, 60, NULL, "1s", "a duration"},
    {"hours", LAB_SK_HOURS, 0, 0, 48, NULL, "none", "hours"},
    {"mode", LAB_SK_ENUM, 0, N, N, "fast|slow", "fast", "a choice"},
    {"tags", LAB_SK_STRLIST, 0, N, N, NULL, "none", "some words"},
    {"sub", LAB_SK_MAP, 0, N, N, NULL, "none", "a mapping"},
    {"items", LAB_SK_LIST, 0, N, N, NULL, "none", "a list"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};
#undef N

typedef struct s_run {
    char *out;            /* what was printed */
    lab_err err;
    size_t problems;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
} s_run;

/* Check text's top-level mapping against s_keys; the slots are only
 * valid inside (the document is gone after). */
static void s_check(const char *text, s_run *r, void (*look)(s_run *r))
{
    memset(r, 0, sizeof *r);
    lab_err perr = {0};
    lab_ydoc *d = lab_ydoc_parse("t.yaml", text, strlen(text), &perr);
    if (!d)
        fail_msg("parse: %s", perr.msg);
    lab_schema sc;
    lab_schema_init(&sc, d, "t.yaml");
    lab_schema_check_map(&sc, lab_ydoc_root(d), s_keys, "", r->v);
    if (look)
        look(r);
    size_t len = 0;
    FILE *f = open_memstream(&r->out, &len);
    assert_non_null(f);
    r->problems = lab_schema_n_problems(&sc);
    lab_schema_report(&sc, f, &r->err);
    fclose(f);
    lab_schema_release(&sc);
    lab_ydoc_destroy(&d);
}

static void s_wants(const char *text, const char *first)
{
    s_run r;
    s_check(text, &r, NULL);
    if (r.err.code != LAB_ECONFIG || strcmp(r.err.msg, first) != 0)
        fail_msg("%s: got %d '%s', wanted '%s'", text, r.err.code, r.err.msg, first);
    free(r.out);
}

static void s_values(s_run *r)
{
    const lab_schema_key *K = s_keys;
    assert_string_equal(lab_yscalar(LAB_SCHEMA_SLOT(r->v, K, "name")), "a");
    assert_int_equal(lab_schema_long(LAB_SCHEMA_SLOT(r->v, K, "count"), 1), 3);
    assert_true(lab_schema_double(LAB_SCHEMA_SLOT(r->v, K, "ratio"), 0.5) == 0.25);
    assert_int_equal(lab_schema_bool(LAB_SCHEMA_SLOT(r->v, K, "on"), 0), 1);
    assert_true(lab_schema_seconds(LAB_SCHEMA_SLOT(r->v, K, "wait"), 1) == 0.5);
    assert_int_equal(lab_schema_choice(LAB_SCHEMA_SLOT(r->v, K, "mode"), "fast|slow", 0), 1);
    assert_int_equal(lab_schema_choice(NULL, "fast|slow", 0), 0);
    assert_null(LAB_SCHEMA_SLOT(r->v, K, "sub"));
}

static void test_good_values(void **state)
{
    (void)state;
    s_run r;
    s_check("name: a\ncount: 3\nratio: 0.25\non: yes\nwait: 500ms\nhours: 90m\nmode: slow\ntags: x\n", &r,
            s_values);
    assert_int_equal(r.problems, 0);
    assert_int_equal(r.err.code, 0);
    assert_string_equal(r.out, "");
    free(r.out);
}

static void test_types_and_bounds(void **state)
{
    (void)state;
    s_wants("count: 3\n", "t.yaml:1:1: the top level: missing required key 'name'");
    s_wants("name: a\ncount: 11\n", "t.yaml:2:8: count must be between 1 and 10, got 11");
    s_wants("name: a\ncount: many\n", "t.yaml:2:8: count must be an integer, got 'many'");
    s_wants("name: a\nratio: 2\n", "t.yaml:2:8: ratio must be between 0 and 1, got 2");
    s_wants("name: a\non: maybe\n", "t.yaml:2:5: on must be true or false, got 'maybe'");
    s_wants("name: a\nwait: soon\n", "t.yaml:2:7: wait must be a duration such as 90s, 5m, 2h or 500ms, got 'soon'");
    s_wants("name: a\nwait: 2m\n", "t.yaml:2:7: wait must be between 0 and 60 seconds, got 2m");
    s_wants("name: a\nhours: 3d\n", "t.yaml:2:8: hours must be between 0 and 48 hours, got 3d");
    s_wants("name: a\nmode: quick\n", "t.yaml:2:7: mode must be one of fast|slow, got 'quick'");
    s_wants("name: a\ntags: [x, \"\"]\n", "t.yaml:2:11: tags[1] must be a non-empty string, got ''");
    s_wants("name: a\nsub: 3\n", "t.yaml:2:6: sub must be a mapping, got '3'");
    s_wants("name: a\nitems: {x: 1}\n", "t.yaml:2:8: items must be a list, got a mapping");
    s_wants("name: \"\"\n", "t.yaml:1:7: name must not be empty");
    s_wants("[1, 2]\n", "t.yaml:1:1: the top level must be a mapping, got a list");
}

static void test_unknown_and_duplicate_keys(void **state)
{
    (void)state;
    s_wants("name: a\ncuont: 3\n", "t.yaml:2:1: unknown key 'cuont' in the top level (did you mean 'count'?)");
    s_wants("name: a\nzebra: 3\n", "t.yaml:2:1: unknown key 'zebra' in the top level");
    s_wants("name: a\nname: b\n", "t.yaml:2:1: duplicate key 'name' in the top level");
    assert_string_equal(lab_schema_suggest("colour", (const char *const[]){"color", "count"}, 2), "color");
    assert_null(lab_schema_suggest("x", (const char *const[]){"color", NULL}, 2));
}

/* Problems come out in file order whatever order they were found in, and
 * only the first 50 are printed, then how many more. */
static void test_order_and_limit(void **state)
{
    (void)state;
    s_run r;
    s_check("count: 0\nname: a\nmode: x\nratio: -1\n", &r, NULL);
    assert_int_equal(r.problems, 3);
    const char *a = strstr(r.out, ":1:8: count"), *b = strstr(r.out, ":3:7: mode"), *c = strstr(r.out, ":4:8: ratio");
    assert_true(a && b && c && a < b && b < c);
    free(r.out);

    size_t n = 120, cap = 32 * n, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "name: a\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "k%zu: 1\n", i);
    s_check(text, &r, NULL);
    assert_int_equal(r.problems, n);
    size_t lines = 0;
    for (const char *p = r.out; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, LAB_YAML_MAX_ERRORS + 1);
    assert_non_null(strstr(r.out, "t.yaml: ... and 70 more problems (only the first 50 are shown)"));
    assert_non_null(strstr(r.err.msg, "t.yaml:2:1: unknown key 'k0'"));
    free(r.out);
    free(text);
}

static void test_print(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    lab_schema_print(f, "demo", s_keys);
    fclose(f);
    assert_non_null(strstr(text, "### `demo`"));
    assert_non_null(strstr(text, "| `count` | integer | no | between 1 and 10 | `1` | how many |"));
    assert_non_null(strstr(text, "| `mode` | choice | no | fast, slow | `fast` | a choice |"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_values),
        cmocka_unit_test(test_types_and_bounds),
        cmocka_unit_test(test_unknown_and_duplicate_keys),
        cmocka_unit_test(test_order_and_limit),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
