/* Unit tests for orchestrator/review/review_args.c: the review commands' command
 * line (flags, values in both forms, aliases, and each usage error). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "orchestrator/review/review_args.h"
#include "common/banned.h"

typedef struct s_parsed {
    const char *hub, *campaign, *out;
    int json;
} s_parsed;

/* Parse the NULL-ended words after "labloop test". */
static int s_parse(s_parsed *p, ...)
{
    char *argv[16] = {"test"};
    int argc = 1;
    va_list ap;
    va_start(ap, p);
    for (char *a; argc < 15 && (a = va_arg(ap, char *)); )
        argv[argc++] = a;
    va_end(ap);
    memset(p, 0, sizeof *p);
    const lab_review_opt opts[] = {
        {.name = "--json", .flag = &p->json},
        {.name = "--campaign", .value = &p->campaign, .needs = "a campaign name"},
        {.name = "--output", .alias = "-o", .value = &p->out, .needs = "a file name"},
        {0},
    };
    return lab_review_args("test", "usage: labloop test HUB.db\n", argc, argv, opts, &p->hub);
}

static void test_options(void **state)
{
    (void)state;
    s_parsed p;
    assert_int_equal(s_parse(&p, "hub.db", "--json", "--campaign", "c1", "-o", "-", NULL), 0);
    assert_string_equal(p.hub, "hub.db");
    assert_int_equal(p.json, 1);
    assert_string_equal(p.campaign, "c1");
    assert_string_equal(p.out, "-");                 /* "-" is a value, not an option */

    assert_int_equal(s_parse(&p, "--campaign=c2", "--output=r.html", "hub.db", NULL), 0);
    assert_string_equal(p.campaign, "c2");
    assert_string_equal(p.out, "r.html");
    assert_string_equal(p.hub, "hub.db");
    assert_int_equal(p.json, 0);
}

static void test_errors(void **state)
{
    (void)state;
    s_parsed p;
    assert_int_equal(s_parse(&p, NULL), 2);                                   /* no hub */
    assert_int_equal(s_parse(&p, "a.db", "b.db", NULL), 2);                   /* two hubs */
    assert_int_equal(s_parse(&p, "a.db", "--bogus", NULL), 2);
    assert_int_equal(s_parse(&p, "a.db", "--campaign", NULL), 2);             /* value missing */
    assert_int_equal(s_parse(&p, "a.db", "--campaign=", NULL), 2);            /* value empty */
    assert_int_equal(s_parse(&p, "a.db", "--json=1", NULL), 2);               /* a flag takes none */
    assert_int_equal(s_parse(&p, "a.db", "--campaignx", NULL), 2);
    assert_int_equal(s_parse(&p, "a.db", "--help", NULL), 1);
    assert_int_equal(s_parse(&p, "-h", NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
