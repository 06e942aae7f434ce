/* The "sobol" planner kind: a scrambled Sobol' sequence in the unit cube,
 * mapped to the space, skipping infeasible points.
 *
 * Direction numbers: Joe & Kuo, new-joe-kuo-6.21201 (dimensions 2..35 below;
 * dimension 1 is van der Corput). Points are 32-bit, generated in Gray-code
 * order: point n = XOR of v_k over the bits k of n ^ (n >> 1).
 * Scrambling: a random linear matrix scramble (lower-triangular binary matrix
 * with unit diagonal per dimension, Matousek 1998) followed by a random
 * digital shift, both drawn from the seed. This keeps the (t,m,s)-net
 * property: any 2^m consecutive points starting at a multiple of 2^m are as
 * evenly spread as the unscrambled ones.
 * Point 0 is NOT skipped: after scrambling it is a uniformly random point,
 * and dropping it would spoil the balance of the first 2^m points (Owen,
 * "On dropping the first Sobol' point", 2022).
 *
 * Proposal j is the j-th feasible point of the sequence (a pure function of
 * seed, space and j); a proposal that equals a pending point is passed over
 * and uses up its number. Not a model: the history of tells is ignored.
 */
#include <stdio.h>
#include <stdlib.h>

#include "planners/planner_impl.h"
#include "planners/rng.h"
#include "common/banned.h"

#define S_BITS 32
#define S_MAX_DIM 35
#define S_MAX_DEGREE 7

/* Joe-Kuo rows for d = 2..35: degree s, polynomial bits a, initial m_1..m_s. */
static const struct {
    unsigned s, a;
    unsigned m[S_MAX_DEGREE];
} s_jk[S_MAX_DIM - 1] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},
    {7, 50, {1, 3, 1, 3, 5, 53, 69}},
    {7, 55, {1, 1, 5, 5, 23, 33, 13}},
    {7, 56, {1, 1, 7, 7, 1, 61, 123}},
};

typedef struct {
    size_t d;
    uint32_t (*v)[S_BITS]; /* scrambled direction numbers, d rows */
    uint32_t *shift;       /* digital shift per dimension */
    double *u;             /* scratch */
    /* cache of the proposal-number -> sequence-index walk */
    size_t next_j;         /* proposal number of the next feasible point */
    uint64_t next_n;       /* sequence index to start looking at for it */
} s_sobol;

static void s_directions(size_t dim, uint32_t v[S_BITS])
{
    if (dim == 0) {
        for (unsigned k = 0; k < S_BITS; k++)
            v[k] = 1u << (S_BITS - 1 - k);
        return;
    }
    unsigned s = s_jk[dim - 1].s, a = s_jk[dim - 1].a;
    for (unsigned k = 0; k < s && k < S_MAX_DEGREE; k++)
        v[k] = s_jk[dim - 1].m[k] << (S_BITS - 1 - k);
    for (unsigned k = s; k < S_BITS; k++) {
        v[k] = v[k - s] ^ (v[k - s] >> s);
        for (unsigned i = 1; i < s; i++)
            if ((a >> (s - 1 - i)) & 1u)
                v[k] ^= v[k - i];
    }
}

static uint32_t s_parity(uint32_t x)
{
    return (uint32_t)__builtin_parity(x);
}

/* Output digit p (bit 31-p) depends on input digits 0..p only. */
static void s_scramble(uint32_t v[S_BITS], lab_rng *rng)
{
    uint32_t row[S_BITS];
    for (unsigned p = 0; p < S_BITS; p++) {
        uint32_t mask = ~0u << (S_BITS - 1 - p);
        row[p] = ((uint32_t)lab_rng_next(rng) & mask) | (1u << (S_BITS - 1 - p));
    }
    for (unsigned k = 0; k < S_BITS; k++) {
        uint32_t in = v[k], outv = 0;
        for (unsigned p = 0; p < S_BITS; p++)
            outv |= s_parity(row[p] & in) << (S_BITS - 1 - p);
        v[k] = outv;
    }
}

static void *s_sobol_new(const lab_planner_ctx *ctx, lab_err *err)
{
    size_t d = lab_space_dims(ctx->space);
    if (d > S_MAX_DIM) {
        lab_err_set(err, LAB_ECONFIG,
                    "planner 'sobol' supports at most %d dimensions, the space has %zu "
                    "(use 'random')", S_MAX_DIM, d);
        return NULL;
    }
    s_sobol *q = calloc(1, sizeof *q);
    if (!q)
        goto nomem;
    q->d = d;
    q->v = calloc(d, sizeof *q->v);
    q->shift = calloc(d, sizeof *q->shift);
    q->u = calloc(d, sizeof *q->u);
    if (!q->v || !q->shift || !q->u)
        goto nomem;
    lab_rng rng;
    lab_rng_seed(&rng, ctx->seed, 0x50B01ULL);
    for (size_t i = 0; i < d; i++) {
        s_directions(i, q->v[i]);
        s_scramble(q->v[i], &rng);
        q->shift[i] = (uint32_t)(lab_rng_next(&rng) >> 32);
    }
    return q;
nomem:
    if (q) {
        free(q->v);
        free(q->shift);
        free(q->u);
        free(q);
    }
    lab_err_set(err, LAB_ENOMEM, "out of memory creating a sobol planner");
    return NULL;
}

static void s_sobol_destroy(void *impl)
{
    s_sobol *q = impl;
    free(q->v);
    free(q->shift);
    free(q->u);
    free(q);
}

/* Sequence point n (scrambled) in native units. */
static void s_point(const s_sobol *q, const lab_space *space, uint64_t n, double *x)
{
    uint32_t g = (uint32_t)(n ^ (n >> 1));
    for (size_t i = 0; i < q->d; i++) {
        uint32_t bits = q->shift[i];
        for (unsigned k = 0; k < S_BITS && (g >> k); k++)
            if ((g >> k) & 1u)
                bits ^= q->v[i][k];
        /* centre of the 2^-32 cell: never exactly 0 or 1 */
        q->u[i] = ((double)bits + 0.5) * 0x1.0p-32;
    }
    lab_space_from_unit(space, q->u, x);
}

/* Finds the next feasible sequence point at or after q->next_n, writes it to
 * x and its index to *n, and advances the cache by one proposal number. */
static int s_next_feasible(s_sobol *q, const lab_space *space, double *x, uint64_t *n,
                           lab_err *err)
{
    for (size_t tries = 0; tries < LAB_PLANNER_MAX_TRIES; tries++) {
        if (q->next_n > 0xFFFFFFFFULL)
            return lab_err_set(err, LAB_ESTATE, "the sequence is exhausted (2^32 points)");
        uint64_t cur = q->next_n++;
        s_point(q, space, cur, x);
        if (lab_space_feasible(space, x)) {
            *n = cur;
            q->next_j++;
            return 0;
        }
    }
    return lab_err_set(err, LAB_ECONFIG,
                       "no feasible point among %d consecutive sequence points after point "
                       "%llu: the constraints leave (almost) no room",
                       LAB_PLANNER_MAX_TRIES,
                       (unsigned long long)(q->next_n - LAB_PLANNER_MAX_TRIES));
}

static int s_sobol_ask(void *impl, const lab_planner_ctx *ctx, size_t *index, size_t k,
                       const double *avoid, size_t n_avoid, double *out, lab_ask_info *info,
                       lab_err *err)
{
    s_sobol *q = impl;
    size_t d = q->d;
    uint64_t n = 0;
    int rc;
    if (*index < q->next_j) {
        q->next_j = 0;
        q->next_n = 0;
    }
    /* walk forward to proposal *index (after a restart or told history) */
    while (q->next_j < *index)
        if ((rc = s_next_feasible(q, ctx->space, out, &n, err)) < 0)
            return rc;
    for (size_t i = 0; i < k; i++) {
        double *x = out + i * d;
        size_t dup = 0;
        for (;;) {
            if ((rc = s_next_feasible(q, ctx->space, x, &n, err)) < 0)
                return rc;
            if (!lab_planner_point_in(x, avoid, n_avoid, d) &&
                !lab_planner_point_in(x, out, i, d))
                break;
            if (++dup >= LAB_PLANNER_MAX_TRIES)
                return lab_err_set(err, LAB_EAGAIN,
                                   "%d consecutive feasible points all duplicate pending "
                                   "points: every point of this small discrete space may "
                                   "already be pending", LAB_PLANNER_MAX_TRIES);
        }
        if (info)
            snprintf(info[i].reason, sizeof info[i].reason,
                     "sobol point %llu (scrambled, seed %llu)", (unsigned long long)n,
                     (unsigned long long)ctx->seed);
    }
    *index = q->next_j;
    return 0;
}

const lab_planner_ops lab_planner_sobol_ops = {
    .name = "sobol",
    .new = s_sobol_new,
    .tell = NULL,
    .ask = s_sobol_ask,
    .destroy = s_sobol_destroy,
};
