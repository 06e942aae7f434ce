/* Unit tests for common/jsontext.c: the compact text is byte for byte
 * json_dumps(j, JSON_COMPACT), on chosen values (reals that print as whole
 * numbers, exponents, escapes, UTF-8, nesting) and on seeded random trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsontext.h"
#include "planners/rng.h"
#include "common/banned.h"

static void s_same(const json_t *j)
{
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY), *got = lab_json_compact(j);
    assert_non_null(want);
    assert_non_null(got);
    if (strcmp(want, got) != 0)
        fail_msg("jansson wrote %s, lab_json_compact %s", want, got);
    free(want);
    free(got);
}

static void test_reals(void **state)
{
    (void)state;
    static const double v[] = {0.0, -0.0, 1.0, -1.0, 0.1, 1e5, 1e-5, 1e21, 1e22, 1e100, -1e-300, 123456789.0,
                               1.0 / 3.0, 2.5e-7, 0.92, 600.0, DBL_MAX, DBL_MIN, 4.9e-324, 1e15, 1e16, 1e17,
                               12345678901234567890.0, 0.000123};
    /* twice: the second time from the texts kept by value */
    for (size_t i = 0; i < 2 * (sizeof v / sizeof v[0]); i++) {
        json_t *r = json_real(v[i % (sizeof v / sizeof v[0])]);
        s_same(r);
        json_t *o = json_pack("{s:o}", "x", r);
        s_same(o);
        json_decref(o);
    }
}

static void test_strings_and_scalars(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:n, s:I, s:I, s:I, s:[], s:{}}",
                          "plain", "measure_pl", "quotes", "say \"hi\" \\ back/slash",
                          "ctl", "a\tb\nc\rd\be\ff\x01g\x1fh\x7fi", "t", 1, "f", 0, "nil",
                          "big", (json_int_t)INT64_MAX, "small", (json_int_t)INT64_MIN, "zero", (json_int_t)0,
                          "empty_array", "empty_object");
    assert_non_null(o);
    json_object_set_new(o, "utf8", json_string("µs → Å, 日本"));
    json_object_set_new(o, "nul", json_stringn("a\0b", 3));
    json_object_set_new(o, "key \"quoted\"\n", json_integer(1));
    s_same(o);
    json_t *a = json_pack("[i, f, s, [i, [i, {s:f}]]]", 1, 2.5, "x", 3, 4, "y", 1e-9);
    s_same(a);
    json_decref(a);
    json_decref(o);
}

static json_t *s_random(lab_rng *r, int depth)
{
    double u = lab_rng_uniform(r);
    if (depth > 3 || u < 0.4) {
        double k = lab_rng_uniform(r);
        if (k < 0.3) {
            double e = (lab_rng_uniform(r) - 0.5) * 80;
            return json_real((lab_rng_uniform(r) - 0.5) * pow(10.0, e));
        }
        if (k < 0.4)
            return json_real(floor((lab_rng_uniform(r) - 0.5) * 1e6));
        if (k < 0.6)
            return json_integer((json_int_t)((lab_rng_uniform(r) - 0.5) * 9e18));
        if (k < 0.9) {
            char s[24];
            size_t n = (size_t)(lab_rng_uniform(r) * 20);
            for (size_t i = 0; i < n; i++)
                s[i] = (char)(1 + (int)(lab_rng_uniform(r) * 126));
            return json_stringn(s, n);
        }
        return lab_rng_uniform(r) < 0.5 ? json_true() : json_null();
    }
    size_t n = (size_t)(lab_rng_uniform(r) * 5);
    if (u < 0.7) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, s_random(r, depth + 1));
        return a;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%zu\"%d", i, depth);
        json_object_set_new(o, k, s_random(r, depth + 1));
    }
    return o;
}

static void test_random_trees(void **state)
{
    (void)state;
    uint64_t seed = 20261206;
    const char *env = getenv("LABLOOP_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    lab_rng r;
    lab_rng_seed(&r, seed, 1);
    for (int i = 0; i < 3000; i++) {
        json_t *j = s_random(&r, 0);
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY), *got = lab_json_compact(j);
        if (!want || !got || strcmp(want, got) != 0)
            fail_msg("seed %llu, tree %d: jansson wrote %s, lab_json_compact %s (LABLOOP_TEST_SEED=%llu)",
                     (unsigned long long)seed, i, want ? want : "NULL", got ? got : "NULL",
                     (unsigned long long)seed);
        free(want);
        free(got);
        json_decref(j);
    }
    assert_null(lab_json_compact(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_strings_and_scalars),
        cmocka_unit_test(test_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
