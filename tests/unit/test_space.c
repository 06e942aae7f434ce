/* Unit tests for planners/space.c: dimensions, unit-cube mapping, the
 * constraint parser and feasibility. Not for sampling (test_planner.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/space.h"
#include "common/banned.h"

static lab_space *s_mixed(void)
{
    lab_space *s = lab_space_new();
    lab_err err = {0};
    static const char *const solvents[] = {"toluene", "hexane", "oleylamine"};
    assert_non_null(s);
    assert_int_equal(lab_space_add_real(s, "cs_pb_ratio", 0.5, 2.0, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "temperature", 100, 200, 0, "C", &err), 0);
    assert_int_equal(lab_space_add_real(s, "conc", 1e-3, 1e1, 1, "mol/L", &err), 0);
    assert_int_equal(lab_space_add_integer(s, "n_cycles", 1, 5, NULL, &err), 0);
    assert_int_equal(lab_space_add_categorical(s, "solvent", solvents, 3, &err), 0);
    return s;
}

static void test_add_dims(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    lab_err err = {0};
    assert_int_equal(lab_space_dims(s), 5);
    assert_int_equal(lab_space_find(s, "conc"), 2);
    assert_int_equal(lab_space_find(s, "nope"), -1);
    const lab_dim *d = lab_space_dim(s, 4);
    assert_int_equal(d->type, LAB_DIM_CATEGORICAL);
    assert_int_equal(d->n_choices, 3);
    assert_true(d->low == 0 && d->high == 2);
    assert_string_equal(lab_space_dim(s, 1)->unit, "C");
    assert_null(lab_space_dim(s, 5));

    assert_int_equal(lab_space_add_real(s, "temperature", 0, 1, 0, NULL, &err), LAB_ECONFIG);
    assert_non_null(strstr(err.msg, "temperature"));
    assert_true(lab_space_add_real(s, "1x", 0, 1, 0, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "1x"));
    assert_true(lab_space_add_real(s, "a-b", 0, 1, 0, NULL, &err) < 0);
    assert_true(lab_space_add_real(s, "lo", 400, 100, 0, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "400"));
    assert_true(lab_space_add_real(s, "eq", 1, 1, 0, NULL, &err) < 0);
    assert_true(lab_space_add_real(s, "lg", 0, 1, 1, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "log"));
    assert_true(lab_space_add_real(s, "nan", NAN, 1, 0, NULL, &err) < 0);
    assert_true(lab_space_add_integer(s, "i", 3, 3, NULL, &err) < 0);
    static const char *const one[] = {"only"};
    static const char *const twice[] = {"a", "b", "a"};
    assert_true(lab_space_add_categorical(s, "c1", one, 1, &err) < 0);
    assert_true(lab_space_add_categorical(s, "c2", twice, 3, &err) < 0);
    assert_non_null(strstr(err.msg, "'a'"));
    assert_int_equal(lab_space_dims(s), 5);
    lab_space_destroy(&s);
    assert_null(s);
    lab_space_destroy(&s); /* idempotent */
}

static void test_unit_round_trip_real(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    double u[5], x[5], u2[5];
    for (int k = 0; k <= 100; k++) {
        for (int i = 0; i < 5; i++)
            u[i] = k / 100.0;
        lab_space_from_unit(s, u, x);
        assert_true(lab_space_feasible(s, x));
        lab_space_to_unit(s, x, u2);
        /* reals round-trip exactly up to rounding */
        assert_float_equal(u2[0], u[0], 1e-12);
        assert_float_equal(u2[1], u[1], 1e-12);
        assert_float_equal(u2[2], u[2], 1e-12);
    }
    /* log scale: the middle of the cube is the geometric mean */
    u[2] = 0.5;
    lab_space_from_unit(s, u, x);
    assert_float_equal(x[2], sqrt(1e-3 * 1e1), 1e-12);
    u[2] = 0.25;
    lab_space_from_unit(s, u, x);
    assert_float_equal(x[2], 1e-2, 1e-12);
    /* linear scale */
    u[1] = 0.25;
    lab_space_from_unit(s, u, x);
    assert_float_equal(x[1], 125.0, 1e-12);
    /* out-of-cube input is clamped */
    u[0] = -3;
    u[1] = 7;
    u[2] = NAN;
    lab_space_from_unit(s, u, x);
    assert_true(x[0] == 0.5 && x[1] == 200 && x[2] == 1e-3);
    lab_space_destroy(&s);
}

static void test_unit_integer_categorical(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    int seen_int[6] = {0}, seen_cat[3] = {0};
    const int steps = 1000;
    double u[5] = {0.5, 0.5, 0.5, 0, 0}, x[5], u2[5], x2[5];
    for (int k = 0; k <= steps; k++) {
        u[3] = u[4] = (double)k / steps;
        lab_space_from_unit(s, u, x);
        assert_true(x[3] >= 1 && x[3] <= 5 && x[3] == floor(x[3]));
        assert_true(x[4] >= 0 && x[4] <= 2 && x[4] == floor(x[4]));
        seen_int[(int)x[3]]++;
        seen_cat[(int)x[4]]++;
        lab_space_to_unit(s, x, u2);
        lab_space_from_unit(s, u2, x2);
        assert_true(x2[3] == x[3] && x2[4] == x[4]);
    }
    /* every value appears, in (almost) equal shares, ends included */
    for (int v = 1; v <= 5; v++)
        assert_in_range(seen_int[v], steps / 5 - 2, steps / 5 + 2);
    for (int c = 0; c < 3; c++)
        assert_in_range(seen_cat[c], steps / 3 - 2, steps / 3 + 2);
    u[3] = 0.0;
    lab_space_from_unit(s, u, x);
    assert_true(x[3] == 1);
    u[3] = 1.0;
    lab_space_from_unit(s, u, x);
    assert_true(x[3] == 5);
    lab_space_destroy(&s);
}

static const lab_constraint *s_add_ok(lab_space *s, const char *expr)
{
    lab_err err = {0};
    int rc = lab_space_add_constraint(s, expr, &err);
    if (rc != 0)
        print_message("constraint '%s' refused: %s\n", expr, err.msg);
    assert_int_equal(rc, 0);
    return lab_space_constraint(s, lab_space_n_constraints(s) - 1);
}

static void test_constraint_parse_good(void **state)
{
    (void)state;
    lab_space *s = lab_space_new();
    lab_err err = {0};
    assert_int_equal(lab_space_add_real(s, "cs_pb_ratio", 0.5, 2.0, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "temperature", 100, 200, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "a", 0, 1, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_real(s, "b", 0, 1, 0, NULL, &err), 0);
    assert_int_equal(lab_space_add_integer(s, "x", 0, 10, NULL, &err), 0);
    assert_int_equal(lab_space_add_integer(s, "y", 0, 10, NULL, &err), 0);

    const lab_constraint *c = s_add_ok(s, "cs_pb_ratio + 0.002 * temperature <= 1.9");
    assert_float_equal(c->coef[0], 1.0, 0);
    assert_float_equal(c->coef[1], 0.002, 1e-15);
    assert_float_equal(c->coef[2], 0.0, 0);
    assert_float_equal(c->bound, 1.9, 1e-15);
    assert_string_equal(c->text, "cs_pb_ratio + 0.002 * temperature <= 1.9");

    c = s_add_ok(s, "a + b >= 0.5"); /* -a - b <= -0.5 */
    assert_true(c->coef[2] == -1 && c->coef[3] == -1 && c->bound == -0.5);
    c = s_add_ok(s, "2*x - y < 3");
    assert_true(c->coef[4] == 2 && c->coef[5] == -1 && c->bound == 3);
    c = s_add_ok(s, "-0.5 * x + y <= 1");
    assert_true(c->coef[4] == -0.5 && c->coef[5] == 1 && c->bound == 1);
    /* terms on both sides, constants on the left, implicit product, x * 2 */
    c = s_add_ok(s, "a + 1 <= 2b - 0.25 + b*2");
    assert_true(c->coef[2] == 1 && c->coef[3] == -4 && c->bound == -1.25);
    c = s_add_ok(s, "1.5 >= a"); /* a <= 1.5 */
    assert_true(c->coef[2] == 1 && c->bound == 1.5);
    c = s_add_ok(s, "  a+b<=1e0  ");
    assert_true(c->coef[2] == 1 && c->coef[3] == 1 && c->bound == 1);
    c = s_add_ok(s, "a - a + b <= 0.5"); /* a cancels */
    assert_true(c->coef[2] == 0 && c->coef[3] == 1);
    assert_int_equal(lab_space_n_constraints(s), 8);

    /* a dimension added after constraints gets coefficient 0 in them */
    assert_int_equal(lab_space_add_real(s, "late", 0, 1, 0, NULL, &err), 0);
    assert_true(lab_space_constraint(s, 0)->coef[6] == 0.0);
    lab_space_destroy(&s);
}

static void s_add_bad(lab_space *s, const char *expr, const char *needle)
{
    lab_err err = {0};
    size_t before = lab_space_n_constraints(s);
    int rc = lab_space_add_constraint(s, expr, &err);
    if (rc >= 0 || !strstr(err.msg, needle))
        print_message("constraint '%s': rc %d, message '%s' should mention '%s'\n", expr, rc,
                      err.msg, needle);
    assert_true(rc < 0);
    assert_int_equal(err.code, rc);
    assert_non_null(strstr(err.msg, needle));
    assert_int_equal(lab_space_n_constraints(s), before);
}

static void test_constraint_parse_bad(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    s_add_bad(s, "cs_pb_ratio + tempurature <= 1", "'tempurature'");
    s_add_bad(s, "cs_pb_ratio + tempurature <= 1", "column 14");
    s_add_bad(s, "cs_pb_ratio + solvent <= 1", "'solvent'");
    s_add_bad(s, "cs_pb_ratio + solvent <= 1", "categorical");
    s_add_bad(s, "cs_pb_ratio * temperature <= 100", "'temperature'");
    s_add_bad(s, "cs_pb_ratio * temperature <= 100", "non-linear");
    s_add_bad(s, "cs_pb_ratio + temperature", "missing comparison");
    s_add_bad(s, "cs_pb_ratio + temperature <=", "end of the expression");
    s_add_bad(s, "cs_pb_ratio + <= 1", "'<='");
    s_add_bad(s, "cs_pb_ratio = 1", "equality");
    s_add_bad(s, "cs_pb_ratio / 2 <= 1", "'/'");
    s_add_bad(s, "cs_pb_ratio ** 2 <= 1", "'**'");
    s_add_bad(s, "cs_pb_ratio^2 <= 1", "'^'");
    s_add_bad(s, "0 <= cs_pb_ratio <= 1", "second comparison");
    s_add_bad(s, "cs_pb_ratio <= 1)", "')'");
    s_add_bad(s, "1 <= 2", "nonzero coefficient");
    s_add_bad(s, "", "empty");
    s_add_bad(s, "cs_pb_ratio + 1e999 * temperature <= 1", "'1e999'");
    /* within bounds cs_pb_ratio >= 0.5, so this can never hold */
    s_add_bad(s, "cs_pb_ratio <= 0.1", "never be satisfied");
    s_add_bad(s, "cs_pb_ratio <= 0.1", "at least 0.4,");
    /* '=<' is a misspelt '<=', not an equality */
    s_add_bad(s, "cs_pb_ratio =< 1", "'=<' at column 12 is not a comparison: write '<='");
    s_add_bad(s, "cs_pb_ratio => 1", "write '>='");
    /* a '>=' is reported as written, not negated: at most 2 + 200 - 400 */
    s_add_bad(s, "cs_pb_ratio + temperature >= 400", "at most -198,");
    lab_err err = {0};
    assert_int_equal(lab_space_add_constraint(NULL, "a <= 1", &err), LAB_EINVAL);
    lab_space_destroy(&s);
}

static void test_feasible(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    s_add_ok(s, "cs_pb_ratio + 0.002 * temperature <= 1.9");
    double x[5] = {1.0, 150, 0.1, 3, 1};
    assert_true(lab_space_feasible(s, x)); /* 1.3 <= 1.9 */
    x[0] = 1.6;                            /* 1.9: on the boundary */
    assert_true(lab_space_feasible(s, x));
    x[0] = 1.61;
    assert_false(lab_space_feasible(s, x));
    x[0] = 1.0;
    x[1] = 99; /* out of bounds */
    assert_false(lab_space_feasible(s, x));
    x[1] = 150;
    x[3] = 2.5; /* not an integer */
    assert_false(lab_space_feasible(s, x));
    x[3] = 6;
    assert_false(lab_space_feasible(s, x));
    x[3] = 3;
    x[4] = 3; /* no such choice */
    assert_false(lab_space_feasible(s, x));
    x[4] = 2;
    x[2] = NAN;
    assert_false(lab_space_feasible(s, x));
    x[2] = 0.1;
    assert_true(lab_space_feasible(s, x));
    lab_space_destroy(&s);
}

static void test_format(void **state)
{
    (void)state;
    lab_space *s = s_mixed();
    char buf[64];
    assert_string_equal(lab_space_format(s, 0, 0.734, buf, sizeof buf), "0.734");
    assert_string_equal(lab_space_format(s, 3, 3.0, buf, sizeof buf), "3");
    assert_string_equal(lab_space_format(s, 4, 2.0, buf, sizeof buf), "oleylamine");
    assert_non_null(strstr(lab_space_format(s, 4, 7.0, buf, sizeof buf), "invalid"));
    /* reals read back exactly */
    double v = 0.1 + 0.2;
    lab_space_format(s, 0, v, buf, sizeof buf);
    assert_true(strtod(buf, NULL) == v);
    lab_space_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_dims),
        cmocka_unit_test(test_unit_round_trip_real),
        cmocka_unit_test(test_unit_integer_categorical),
        cmocka_unit_test(test_constraint_parse_good),
        cmocka_unit_test(test_constraint_parse_bad),
        cmocka_unit_test(test_feasible),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
