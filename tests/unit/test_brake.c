/* Unit tests of the failure brake (orchestrator/brake.c): what counts as
 * the same cause, when it trips, and what starts the count again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "orchestrator/brake.h"

#include "common/banned.h"

static void s_key_is(const char *error, const char *want)
{
    char key[LAB_BRAKE_CAUSE_MAX];
    lab_brake_cause_key(error, key, sizeof key);
    if (strcmp(key, want) != 0)
        fail_msg("key of '%s' is '%s', wanted '%s'", error, key, want);
}

static void test_cause_key(void **state)
{
    (void)state;
    s_key_is("step 'measure' returned no numeric 'a' for objective 'a'; it returned b=0.31, c=-2.5e-06",
             "step 'measure' returned no numeric 'a' for objective 'a'; it returned b=#, c=#");
    s_key_is("step 'heat': timed out after 600 s (after 3 attempts)", "step 'heat': timed out after # s");
    s_key_is("step 'heat': device 'furnace-2' lost", "step 'heat': device 'furnace-#' lost");
    s_key_is("step 'x': exit 1.2.3, pid 4242", "step 'x': exit #, pid #");
    s_key_is("no digits at all.", "no digits at all.");
    s_key_is("", "");
    s_key_is(NULL, "");
    char small[8];
    lab_brake_cause_key("abcdefghijkl 123", small, sizeof small);
    assert_string_equal(small, "abcdefg");
}

static void test_trips_after_n_same(void **state)
{
    (void)state;
    lab_brake b;
    lab_brake_init(&b, 3);
    assert_int_equal(lab_brake_failed(&b, "step 's': no value; it returned v=1"), 0);
    assert_int_equal(lab_brake_failed(&b, "step 's': no value; it returned v=2 (after 2 attempts)"), 0);
    assert_int_equal(lab_brake_failed(&b, "step 's': no value; it returned v=3"), 1);
    assert_int_equal(b.count, 3);
    /* the latest failure, as it was, is the cause shown */
    assert_string_equal(b.cause, "step 's': no value; it returned v=3");
    /* still tripped past the count (paused: nothing more happens) */
    assert_int_equal(lab_brake_failed(&b, "step 's': no value; it returned v=4"), 1);
}

static void test_other_cause_or_measured_restarts(void **state)
{
    (void)state;
    lab_brake b;
    lab_brake_init(&b, 2);
    assert_int_equal(lab_brake_failed(&b, "step 'a': timed out after 5 s"), 0);
    assert_int_equal(lab_brake_failed(&b, "step 'b': timed out after 5 s"), 0);    /* another step */
    assert_int_equal(b.count, 1);
    lab_brake_measured(&b);
    assert_int_equal(lab_brake_failed(&b, "step 'b': timed out after 7 s"), 0);
    assert_int_equal(lab_brake_failed(&b, "step 'b': timed out after 9 s"), 1);
    lab_brake_reset(&b);                   /* an operator resumed */
    assert_int_equal(b.count, 0);
    assert_int_equal(lab_brake_failed(&b, "step 'b': timed out after 9 s"), 0);
}

static void test_off(void **state)
{
    (void)state;
    lab_brake b;
    lab_brake_init(&b, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(lab_brake_failed(&b, "same"), 0);
    assert_int_equal(b.count, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cause_key),
        cmocka_unit_test(test_trips_after_n_same),
        cmocka_unit_test(test_other_cause_or_measured_restarts),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
