/* Unit tests of the reused JSON text buffer (common/jtext.c): the same text
 * as json_dumps, for small values and for ones that make the buffer grow,
 * and NULL for what cannot be dumped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jtext.h"

#include "common/banned.h"

static void s_same_as_dumps(lab_jtext *t, json_t *j, size_t flags)
{
    char *want = json_dumps(j, flags);
    assert_non_null(want);
    const char *got = lab_jtext_dump(t, j, flags);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_true(t->cap > strlen(want));
    free(want);
}

static void test_same_text(void **state)
{
    (void)state;
    lab_jtext t = {0};
    json_t *small = json_pack("{s:I, s:f, s:s, s:[i, i]}", "experiment", (json_int_t)12, "x", 0.1234567890123,
                              "device", "w\"1\"", "l", 1, 2);
    s_same_as_dumps(&t, small, JSON_COMPACT);
    char *prev = t.buf;
    s_same_as_dumps(&t, small, JSON_COMPACT);        /* fits: the same buffer, no allocation */
    assert_ptr_equal(t.buf, prev);
    s_same_as_dumps(&t, small, JSON_INDENT(2));
    /* larger than the first buffer: it grows, the text stays whole */
    json_t *big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, json_real(i / 7.0));
    s_same_as_dumps(&t, big, JSON_COMPACT);
    s_same_as_dumps(&t, small, JSON_COMPACT);        /* and a small one after it */
    json_t *scalar = json_integer(42);
    assert_null(lab_jtext_dump(&t, scalar, JSON_COMPACT));   /* not an object or array */
    s_same_as_dumps(&t, scalar, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_null(lab_jtext_dump(&t, NULL, JSON_COMPACT));
    json_decref(small);
    json_decref(big);
    json_decref(scalar);
    lab_jtext_free(&t);
    assert_null(t.buf);
    assert_int_equal(t.cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
