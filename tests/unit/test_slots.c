/* Unit tests for orchestrator/slots.c: the fairness order (least loaded,
 * then fewest attempts, then config order), turns when more than 32 devices
 * offer a capability and a failure ending one, the device to avoid, devices
 * with several capabilities, heard counts, and a seeded random walk checked
 * against a plain scan of every device (the rule the index replaces), also
 * with devices refused (lab_slots_pick_if: held by another campaign). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/slots.h"
#include "planners/rng.h"
#include "common/banned.h"

static lab_slots *s_new(size_t n, const char *const *const *caps, const size_t *n_caps)
{
    lab_err err = {0};
    lab_slots *s = lab_slots_new(n, caps, n_caps, &err);
    assert_non_null(s);
    return s;
}

/* n devices offering "null", all online and free, none tried yet. */
static lab_slots *s_new_null(size_t n)
{
    static const char *const null_cap[] = {"null"};
    const char *const **caps = calloc(n, sizeof *caps);
    size_t *n_caps = calloc(n, sizeof *n_caps);
    assert_true(caps && n_caps);
    for (size_t i = 0; i < n; i++)
        caps[i] = null_cap, n_caps[i] = 1;
    lab_slots *s = s_new(n, caps, n_caps);
    for (size_t i = 0; i < n; i++)
        lab_slots_set(s, i, 1, 0, 1, 0);
    free(caps);
    free(n_caps);
    return s;
}

static void test_fairness_order(void **state)
{
    (void)state;
    static const char *const uv[] = {"uvvis"};
    const char *const *caps[] = {uv, uv, uv};
    size_t n_caps[] = {1, 1, 1};
    lab_slots *s = s_new(3, caps, n_caps);
    int cap = lab_slots_cap(s, "uvvis");
    assert_int_equal(cap, 0);
    assert_int_equal(lab_slots_cap(s, "xrd"), -1);
    assert_int_equal(lab_slots_pick(s, cap, -1), -1);          /* nobody online */
    for (size_t i = 0; i < 3; i++)
        lab_slots_set(s, i, 1, 0, 1, 0);
    assert_int_equal(lab_slots_pick(s, cap, -1), 0);           /* all equal: config order */
    lab_slots_set(s, 0, 1, 0, 1, 5);
    lab_slots_set(s, 1, 1, 0, 1, 2);
    lab_slots_set(s, 2, 1, 0, 1, 3);
    assert_int_equal(lab_slots_pick(s, cap, -1), 1);           /* fewest attempts */
    lab_slots_set(s, 1, 1, 1, 1, 3);                           /* busy: no free slot */
    assert_int_equal(lab_slots_pick(s, cap, -1), 2);
    lab_slots_set(s, 2, 1, 1, 1, 4);
    lab_slots_set(s, 0, 1, 1, 1, 6);
    assert_int_equal(lab_slots_pick(s, cap, -1), -1);          /* all busy */
    lab_slots_set(s, 2, 1, 0, 1, 4);
    assert_int_equal(lab_slots_pick(s, cap, -1), 2);
    assert_int_equal(lab_slots_online(s, cap), 3);
    lab_slots_destroy(&s);
    assert_null(s);
}

static void test_load_fraction(void **state)
{
    (void)state;
    static const char *const h[] = {"hotplate"};
    const char *const *caps[] = {h, h};
    size_t n_caps[] = {1, 1};
    lab_slots *s = s_new(2, caps, n_caps);
    /* 1 of 4 in use (25 %) before 1 of 2 (50 %), whatever the attempts. */
    lab_slots_set(s, 0, 1, 1, 2, 0);
    lab_slots_set(s, 1, 1, 1, 4, 100);
    assert_int_equal(lab_slots_pick(s, 0, -1), 1);
    lab_slots_set(s, 1, 1, 2, 4, 101);                          /* 50 % each: fewer attempts */
    assert_int_equal(lab_slots_pick(s, 0, -1), 0);
    lab_slots_destroy(&s);
}

static void test_avoid(void **state)
{
    (void)state;
    static const char *const p[] = {"pl"};
    const char *const *caps[] = {p, p, p};
    size_t n_caps[] = {1, 1, 1};
    lab_slots *s = s_new(3, caps, n_caps);
    lab_slots_set(s, 0, 1, 0, 1, 0);
    lab_slots_set(s, 1, 1, 0, 1, 1);
    lab_slots_set(s, 2, 1, 0, 1, 2);
    assert_int_equal(lab_slots_pick(s, 0, 0), 1);              /* the next best */
    lab_slots_set(s, 1, 1, 1, 1, 2);
    assert_int_equal(lab_slots_pick(s, 0, 0), 2);
    lab_slots_set(s, 2, 1, 1, 1, 3);
    /* Others are online (busy): wait for them rather than use the avoided one. */
    assert_int_equal(lab_slots_pick(s, 0, 0), -1);
    lab_slots_set(s, 1, 0, 0, 1, 2);
    lab_slots_set(s, 2, 0, 0, 1, 3);
    /* The only one online: it will do. */
    assert_int_equal(lab_slots_pick(s, 0, 0), 0);
    lab_slots_set(s, 0, 1, 1, 1, 1);                           /* ...but only with a free slot */
    assert_int_equal(lab_slots_pick(s, 0, 0), -1);
    lab_slots_destroy(&s);
}

static void test_several_capabilities(void **state)
{
    (void)state;
    static const char *const both[] = {"mix", "heat", "mix"};  /* named twice: counted once */
    static const char *const mix[] = {"mix"}, *const heat[] = {"heat"};
    const char *const *caps[] = {both, mix, heat};
    size_t n_caps[] = {3, 1, 1};
    lab_slots *s = s_new(3, caps, n_caps);
    int m = lab_slots_cap(s, "mix"), h = lab_slots_cap(s, "heat");
    assert_true(m >= 0 && h >= 0 && m != h);
    assert_false(lab_slots_all_heard(s, m));
    lab_slots_heard(s, 0);
    lab_slots_heard(s, 2);
    lab_slots_heard(s, 2);
    assert_false(lab_slots_all_heard(s, m));
    assert_true(lab_slots_all_heard(s, h));
    lab_slots_heard(s, 1);
    assert_true(lab_slots_all_heard(s, m));
    for (size_t i = 0; i < 3; i++)
        lab_slots_set(s, i, 1, 0, 1, 0);
    assert_int_equal(lab_slots_pick(s, m, -1), 0);
    assert_int_equal(lab_slots_pick(s, h, -1), 0);
    lab_slots_set(s, 0, 1, 1, 1, 1);                           /* busy for both */
    assert_int_equal(lab_slots_pick(s, m, -1), 1);
    assert_int_equal(lab_slots_pick(s, h, -1), 2);
    assert_int_equal(lab_slots_online(s, m), 2);
    lab_slots_set(s, 0, 0, 0, 1, 1);
    assert_int_equal(lab_slots_online(s, m), 1);
    assert_int_equal(lab_slots_online(s, h), 1);
    lab_slots_destroy(&s);
}

/* 100 devices offer "null": the work goes in turns of 4 attempts (100 / 32
 * rounded up). With 3 steps in flight, 3 devices carry them until each has
 * had its turn, then the next 3; every device's attempts stay within a turn
 * of the others' once all have had one. */
static void test_turns(void **state)
{
    (void)state;
    enum { N = 100, IN_FLIGHT = 3, STEPS = 1200 };
    long dispatched[N] = {0};
    lab_slots *s = s_new_null(N);
    int cap = lab_slots_cap(s, "null");
    long busy[IN_FLIGHT];
    for (int k = 0; k < IN_FLIGHT; k++) {
        busy[k] = lab_slots_pick(s, cap, -1);
        assert_int_equal(busy[k], k);                           /* config order to start */
        lab_slots_set(s, (size_t)busy[k], 1, 1, 1, ++dispatched[busy[k]]);
    }
    size_t distinct_first = 0;
    for (int step = 0; step < STEPS; step++) {
        int k = step % IN_FLIGHT;                               /* the oldest step ends */
        lab_slots_set(s, (size_t)busy[k], 1, 0, 1, dispatched[busy[k]]);
        long dev = lab_slots_pick(s, cap, -1);
        assert_true(dev >= 0);
        if (step < 3 * IN_FLIGHT)                               /* the first turn: the same three */
            assert_int_equal(dev, busy[k]);
        if (dispatched[dev] == 0)
            distinct_first++;
        busy[k] = dev;
        lab_slots_set(s, (size_t)dev, 1, 1, 1, ++dispatched[dev]);
    }
    long lo = dispatched[0], hi = dispatched[0];
    for (size_t i = 0; i < N; i++) {
        lo = dispatched[i] < lo ? dispatched[i] : lo;
        hi = dispatched[i] > hi ? dispatched[i] : hi;
    }
    /* 1203 attempts over 100 devices: every device had some, all within a turn of each other */
    assert_int_equal(distinct_first, N - IN_FLIGHT);
    assert_true(lo >= 8);
    assert_true(hi - lo <= 4);
    lab_slots_destroy(&s);
}

/* 100 devices offer "null" (turns of 4), one step in flight; device 0
 * fails every attempt. A failure ends its turn: it never gets two steps in
 * a row (which would fail two experiments in a row and bring the failure
 * brake nearer), and it gets fewer than the others, not none. */
static void test_failing_device_hands_over(void **state)
{
    (void)state;
    enum { N = 100, STEPS = 2000 };
    long dispatched[N] = {0};
    lab_slots *s = s_new_null(N);
    int cap = lab_slots_cap(s, "null");
    long prev = -1, run = 0, longest = 0, others_max = 0;
    for (int step = 0; step < STEPS; step++) {
        long dev = lab_slots_pick(s, cap, -1);
        assert_true(dev >= 0);
        run = dev == 0 && prev == 0 ? run + 1 : dev == 0;
        longest = run > longest ? run : longest;
        prev = dev;
        lab_slots_set(s, (size_t)dev, 1, 1, 1, ++dispatched[dev]);
        lab_slots_set(s, (size_t)dev, 1, 0, 1, dispatched[dev]);
        if (dev == 0)
            lab_slots_end_turn(s, 0);
    }
    for (size_t i = 1; i < N; i++)
        others_max = dispatched[i] > others_max ? dispatched[i] : others_max;
    assert_int_equal(longest, 1);
    assert_true(dispatched[0] >= 1 && dispatched[0] < others_max);
    /* the others keep their turns: device 0's ends at its first step (it
     * failed), then device 1 takes a whole turn of four */
    lab_slots_destroy(&s);
    s = s_new_null(N);
    long seen[6];
    long att[N] = {0};
    for (int k = 0; k < 6; k++) {
        seen[k] = lab_slots_pick(s, cap, -1);
        lab_slots_set(s, (size_t)seen[k], 1, 0, 1, ++att[seen[k]]);
        if (seen[k] == 0)
            lab_slots_end_turn(s, 0);
    }
    assert_int_equal(seen[0], 0);
    for (int k = 1; k < 5; k++)
        assert_int_equal(seen[k], 1);
    assert_int_equal(seen[5], 2);
    lab_slots_destroy(&s);

    /* a failure on the last attempt of a turn skips nothing: device 0 is
     * back after one round of the others' turns, not two */
    s = s_new_null(N);
    memset(att, 0, sizeof att);
    long failed_at = -1, back_after = -1;
    for (long k = 0; k < 3 * 4 * N && back_after < 0; k++) {
        long dev = lab_slots_pick(s, cap, -1);
        assert_true(dev >= 0);
        if (dev == 0 && failed_at >= 0)
            back_after = k - failed_at - 1;
        lab_slots_set(s, (size_t)dev, 1, 0, 1, ++att[dev]);
        if (dev == 0 && att[0] == 4) {                          /* the turn's last attempt fails */
            lab_slots_end_turn(s, 0);
            failed_at = k;
        }
    }
    assert_int_equal(failed_at, 3);
    assert_int_equal(back_after, 4 * (N - 1));
    lab_slots_destroy(&s);
}

/* The rule as a plain scan of every device. */
typedef struct {
    int online, used, capacity;
    long dispatched;
    long skipped[3];                 /* per capability: turns ended early */
    int has[3];
} s_ref;

/* Device k's attempts as capability cap's turns of turn count them. */
static long s_ref_counted(const s_ref *d, size_t k, int cap, long turn)
{
    return d[k].dispatched + (turn > 1 ? d[k].skipped[cap] : 0);
}

/* Device k's attempt failed: in each capability with turns, it has used up
 * its turn. */
static void s_ref_end_turn(s_ref *d, size_t n, size_t k)
{
    for (int c = 0; c < 3; c++) {
        long offering = 0;
        for (size_t i = 0; i < n; i++)
            offering += d[i].has[c];
        long turn = (offering + 31) / 32;
        if (!d[k].has[c] || turn == 1)
            continue;
        long counted = s_ref_counted(d, k, c, turn);
        long rounded_up = (counted + turn - 1) / turn * turn;     /* the next turn starts there */
        d[k].skipped[c] += rounded_up - counted;
    }
}

/* refused (NULL: none): devices the pick may not use (held by another
 * campaign). */
static long s_ref_pick(const s_ref *d, size_t n, int cap, long avoid, const int *refused)
{
    long best = -1, offering = 0;
    int others = 0;
    for (size_t i = 0; i < n; i++)
        offering += d[i].has[cap];
    long turn = (offering + 31) / 32;    /* devices share work in turns past 32 */
    if (refused && avoid >= 0 && refused[avoid])
        avoid = -1, others = 1;      /* refused: never the fallback */
    for (size_t i = 0; i < n; i++) {
        if (!d[i].online || !d[i].has[cap] || (refused && refused[i]))
            continue;
        if ((long)i != avoid)
            others = 1;
        if (d[i].used >= d[i].capacity || (long)i == avoid)
            continue;
        if (best < 0) {
            best = (long)i;
            continue;
        }
        long long load = (long long)d[i].used * d[best].capacity, bl = (long long)d[best].used * d[i].capacity;
        long ci = s_ref_counted(d, i, cap, turn), cb = s_ref_counted(d, (size_t)best, cap, turn);
        if (load < bl || (load == bl && (ci / turn < cb / turn || (ci / turn == cb / turn && ci > cb))))
            best = (long)i;
    }
    if (best < 0 && avoid >= 0 && !others && d[avoid].online && d[avoid].has[cap] &&
        d[avoid].used < d[avoid].capacity)
        best = avoid;
    return best;
}

static int s_not_refused(long dev, void *arg)
{
    return !((const int *)arg)[dev];
}

static void test_random_against_scan(void **state)
{
    (void)state;
    enum { N = 200, STEPS = 20000 };
    static const char *const names[] = {"a", "b", "c"};
    uint64_t seed = 20261206;
    const char *env = getenv("LABLOOP_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    lab_rng rng;
    lab_rng_seed(&rng, seed, 0);
    s_ref *ref = calloc(N, sizeof *ref);
    const char *(*cap_lists)[3] = calloc(N, sizeof *cap_lists);
    const char *const **caps = calloc(N, sizeof *caps);
    size_t *n_caps = calloc(N, sizeof *n_caps);
    int *refused = calloc(N, sizeof *refused);
    assert_true(ref && cap_lists && caps && n_caps && refused);
    for (size_t i = 0; i < N; i++) {
        for (int c = 0; c < 3; c++)
            if (lab_rng_uniform(&rng) < 0.5 || (c == 2 && n_caps[i] == 0)) {
                ref[i].has[c] = 1;
                cap_lists[i][n_caps[i]++] = names[c];
            }
        caps[i] = cap_lists[i];
        ref[i].capacity = 1;
    }
    lab_slots *s = s_new(N, caps, n_caps);
    int ids[3];
    for (int c = 0; c < 3; c++)
        ids[c] = lab_slots_cap(s, names[c]);
    for (int step = 0; step < STEPS; step++) {
        size_t i = (size_t)(lab_rng_uniform(&rng) * N) % N;
        s_ref *d = &ref[i];
        double r = lab_rng_uniform(&rng);
        if (r < 0.1)
            d->online = !d->online;
        else if (r < 0.2)
            d->capacity = 1 + (int)(lab_rng_uniform(&rng) * 4);
        else if (r < 0.6 && d->used < d->capacity)
            d->used++, d->dispatched++;
        else if (d->used > 0)
            d->used--;
        lab_slots_set(s, i, d->online, d->used, d->capacity, d->dispatched);
        if (r >= 0.6 && lab_rng_uniform(&rng) < 0.1) {     /* that attempt failed */
            s_ref_end_turn(ref, N, i);
            lab_slots_end_turn(s, i);
        }
        int c = (int)(lab_rng_uniform(&rng) * 3) % 3;
        long avoid = lab_rng_uniform(&rng) < 0.3 ? (long)((size_t)(lab_rng_uniform(&rng) * N) % N) : -1;
        long want = s_ref_pick(ref, N, c, avoid, NULL), got = lab_slots_pick(s, ids[c], avoid);
        if (want != got)
            fail_msg("seed %llu, step %d: capability %s avoiding %ld: the index picked %ld, a scan %ld "
                     "(rerun with LABLOOP_TEST_SEED=%llu)", (unsigned long long)seed, step, names[c], avoid, got,
                     want, (unsigned long long)seed);
        /* the same pick with some devices refused (held by another campaign) */
        if (step % 50 == 0)
            for (size_t k = 0; k < N; k++)
                refused[k] = lab_rng_uniform(&rng) < 0.2;
        size_t refused_online = 0;
        for (size_t k = 0; k < N; k++)
            refused_online += refused[k] && ref[k].online && ref[k].has[c];
        want = s_ref_pick(ref, N, c, avoid, refused);
        got = lab_slots_pick_if(s, ids[c], avoid, refused_online, s_not_refused, refused);
        if (want != got)
            fail_msg("seed %llu, step %d: capability %s avoiding %ld, some refused: the index picked %ld, a scan "
                     "%ld (rerun with LABLOOP_TEST_SEED=%llu)", (unsigned long long)seed, step, names[c], avoid,
                     got, want, (unsigned long long)seed);
    }
    lab_slots_destroy(&s);
    free(ref);
    free(cap_lists);
    free(caps);
    free(n_caps);
    free(refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fairness_order),
        cmocka_unit_test(test_load_fraction),
        cmocka_unit_test(test_avoid),
        cmocka_unit_test(test_several_capabilities),
        cmocka_unit_test(test_turns),
        cmocka_unit_test(test_failing_device_hands_over),
        cmocka_unit_test(test_random_against_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
