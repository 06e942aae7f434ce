/* Unit tests of the table of hub event kinds (orchestrator/events.c): every
 * kind has a unique name, its fields and a sentence; names read back to the
 * same kind; a kind this build does not know still prints something useful.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "orchestrator/events.h"

#include "common/banned.h"

/* The sentence for kind with detail (JSON text, may be NULL); caller frees. */
static char *s_sentence(const lab_event_view *v, const char *kind, const char *subject, const char *detail)
{
    json_t *d = detail ? json_loads(detail, JSON_DECODE_ANY, NULL) : NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    lab_event_sentence(f, v, kind, subject, d, detail);
    fclose(f);
    json_decref(d);
    return text;
}

static void test_names_unique_and_round_trip(void **state)
{
    (void)state;
    for (int k = LAB_EV_UNKNOWN + 1; k < LAB_EV_N; k++) {
        const char *name = lab_event_name((lab_event_kind)k);
        if (!name || !strcmp(name, "unknown") || !strchr(name, '.'))
            fail_msg("kind %d has no proper name (%s)", k, name ? name : "NULL");
        assert_int_equal(lab_event_parse(name), k);
        if (!*lab_event_fields((lab_event_kind)k))
            fail_msg("kind %s has no fields documented", name);
        for (int j = LAB_EV_UNKNOWN + 1; j < k; j++)
            if (!strcmp(name, lab_event_name((lab_event_kind)j)))
                fail_msg("kinds %d and %d are both named %s", j, k, name);
    }
    assert_int_equal(lab_event_parse("no.such"), LAB_EV_UNKNOWN);
    assert_int_equal(lab_event_parse(NULL), LAB_EV_UNKNOWN);
    assert_int_equal(lab_event_parse("step.don"), LAB_EV_UNKNOWN);
    assert_string_equal(lab_event_name(LAB_EV_UNKNOWN), "unknown");
    assert_string_equal(lab_event_name(LAB_EV_N), "unknown");
}

/* Every kind has a sentence of its own: with no detail at all it still
 * does not fall back to printing the kind's name. */
static void test_every_kind_has_a_sentence(void **state)
{
    (void)state;
    for (int k = LAB_EV_UNKNOWN + 1; k < LAB_EV_N; k++) {
        const char *name = lab_event_name((lab_event_kind)k);
        char *s = s_sentence(NULL, name, "subj", NULL);
        if (!*s || !strncmp(s, name, strlen(name)))
            fail_msg("kind %s prints '%s': no sentence of its own", name, s);
        free(s);
        s = s_sentence(NULL, name, NULL, "{}");
        assert_true(*s);
        free(s);
    }
}

static void test_sentences(void **state)
{
    (void)state;
    json_t *units = json_pack("{s:s}", "temp", "C");
    lab_event_view v = {"demo", 3, 2, 1, units};
    char *s = s_sentence(&v, "step.done", "demo/1/heat/1",
                         "{\"experiment\":1,\"step\":\"heat\",\"device\":\"hp\",\"seconds\":1.5,"
                         "\"values\":{\"temp\":80}}");
    assert_string_equal(s, "step heat of experiment 1 done on hp in 1.50 s: temp=80 C");
    free(s);
    s = s_sentence(&v, "campaign.status", NULL, "{\"status\":\"completed\",\"reason\":\"budget spent\"}");
    assert_string_equal(s, "campaign demo completed: 3 experiments (2 measured, 1 failed); budget spent");
    free(s);
    s = s_sentence(&v, "device.lost", "ot2", "{\"reason\":\"no heartbeat\"}");
    assert_string_equal(s, "device ot2 lost: no heartbeat");
    free(s);
    s = s_sentence(&v, "experiment.cancelled", "demo/4", "{\"experiment\":4,\"reason\":\"aborted\"}");
    assert_string_equal(s, "experiment 4 cancelled: aborted");
    free(s);
    json_decref(units);
}

/* A hub written by another labloop may hold kinds this one does not know. */
static void test_unknown_kind_from_an_old_hub(void **state)
{
    (void)state;
    char *s = s_sentence(NULL, "experiment.frobnicated", "demo/7", "{\"by\":\"alice\"}");
    assert_string_equal(s, "experiment.frobnicated demo/7 {\"by\":\"alice\"}");
    free(s);
    s = s_sentence(NULL, "planner.refit", NULL, "not json");
    assert_string_equal(s, "planner.refit not json");
    free(s);
    s = s_sentence(NULL, NULL, NULL, NULL);
    assert_string_equal(s, "?");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_unique_and_round_trip),
        cmocka_unit_test(test_every_kind_has_a_sentence),
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_unknown_kind_from_an_old_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
