/* The "random" planner kind: points uniform in the unit cube, mapped to the
 * space, with rejection of infeasible points and of duplicates of pending
 * points.
 *
 * Proposal number j draws from its own xoshiro256** stream seeded from
 * (seed, j), so any proposal can be produced without replaying the ones
 * before it: resuming after a restart is exact (see planner.c). Not a model:
 * the history of tells is ignored.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "planners/planner_impl.h"
#include "planners/rng.h"
#include "common/banned.h"

typedef struct {
    size_t d;
    double *u; /* scratch: one point in the unit cube */
} s_random;

static void *s_random_new(const lab_planner_ctx *ctx, lab_err *err)
{
    s_random *r = calloc(1, sizeof *r);
    if (r) {
        r->d = lab_space_dims(ctx->space);
        r->u = calloc(r->d, sizeof *r->u);
    }
    if (!r || !r->u) {
        free(r);
        lab_err_set(err, LAB_ENOMEM, "out of memory creating a random planner");
        return NULL;
    }
    return r;
}

static void s_random_destroy(void *impl)
{
    s_random *r = impl;
    free(r->u);
    free(r);
}

static int s_random_ask(void *impl, const lab_planner_ctx *ctx, size_t *index, size_t k,
                        const double *avoid, size_t n_avoid, double *out, lab_ask_info *info,
                        lab_err *err)
{
    s_random *r = impl;
    size_t d = r->d;
    for (size_t i = 0; i < k; i++) {
        size_t j = *index;
        double *x = out + i * d;
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed, (uint64_t)j);
        size_t infeasible = 0, dup = 0, tries;
        for (tries = 0; tries < LAB_PLANNER_MAX_TRIES; tries++) {
            for (size_t c = 0; c < d; c++)
                r->u[c] = lab_rng_uniform(&rng);
            lab_space_from_unit(ctx->space, r->u, x);
            if (!lab_space_feasible(ctx->space, x)) {
                infeasible++;
                continue;
            }
            /* earlier points of this batch are the rows before x in out */
            if (lab_planner_point_in(x, avoid, n_avoid, d) ||
                lab_planner_point_in(x, out, i, d)) {
                dup++;
                continue;
            }
            break;
        }
        if (tries == LAB_PLANNER_MAX_TRIES)
            /* only pending duplicates: try again once something finishes */
            return lab_err_set(err, dup ? LAB_EAGAIN : LAB_ECONFIG,
                               "no usable point for proposal %zu after %d draws "
                               "(%zu violated the constraints, %zu duplicated pending points): "
                               "the constraints leave (almost) no room, or every point of a "
                               "small discrete space is already pending",
                               j, LAB_PLANNER_MAX_TRIES, infeasible, dup);
        if (info)
            snprintf(info[i].reason, sizeof info[i].reason,
                     "random point %zu (seed %llu, %zu draw%s)", j,
                     (unsigned long long)ctx->seed, tries + 1, tries ? "s" : "");
        (*index)++;
    }
    return 0;
}

const lab_planner_ops lab_planner_random_ops = {
    .name = "random",
    .new = s_random_new,
    .tell = NULL,
    .ask = s_random_ask,
    .destroy = s_random_destroy,
};
