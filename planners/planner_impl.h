/* The contract between the generic planner layer (planner.c) and one planner
 * kind (random.c, sobol.c, gp.c). Internal to planners/: the rest of
 * labloop uses planner.h only.
 *
 * The generic layer owns the history of tells, validates arguments, mixes the
 * initial design with the main kind, and decides the proposal numbers. A kind
 * only turns proposal numbers (and, if it models, the history) into points.
 */
#ifndef LAB_PLANNER_IMPL_H
#define LAB_PLANNER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"
#include "planners/planner.h"
#include "planners/space.h"

/* Everything told so far, in order. Row i: x + i*d (native units),
 * y + i*m (NAN for failed outcomes), outcome[i]. */
typedef struct lab_planner_history {
    size_t n, d, m;
    const double *x;
    const double *y;
    const lab_outcome *outcome;
} lab_planner_history;

/* What a kind sees on every call. Borrowed; valid for the call only. */
typedef struct lab_planner_ctx {
    const lab_space *space;
    uint64_t seed;
    size_t n_objectives;
    const int *maximize;
    lab_planner_history hist;
    /* options of model-based kinds, as given in lab_planner_opts */
    const char *acquisition;
    double ucb_beta;
    size_t gp_refit_every;
    const char *const *objective_names;   /* n_objectives names, for reasons */
} lab_planner_ctx;

typedef struct lab_planner_ops {
    const char *name;
    /* Private state, or NULL with err set. */
    void *(*new)(const lab_planner_ctx *ctx, lab_err *err);
    /* History row ctx->hist.n - 1 was just added. May be NULL. */
    int (*tell)(void *impl, const lab_planner_ctx *ctx, lab_err *err);
    /* Write k feasible points to out (k*d) that differ from the n_avoid
     * points in avoid and from each other. *index is the proposal number of
     * the first point on entry and the next unused number on return; a kind
     * may use up more than k numbers (sobol skips duplicates). info: k
     * entries or NULL; the kind fills reason (origin and the NAN fields are
     * set by the caller). */
    int (*ask)(void *impl, const lab_planner_ctx *ctx, size_t *index, size_t k,
               const double *avoid, size_t n_avoid, double *out, lab_ask_info *info,
               lab_err *err);
    void (*destroy)(void *impl);
    /* Whether ask fits a model to the history (and so may take long enough
     * that a caller should run it off its event loop). */
    bool fits_model;
} lab_planner_ops;

extern const lab_planner_ops lab_planner_random_ops;
extern const lab_planner_ops lab_planner_sobol_ops;
extern const lab_planner_ops lab_planner_gp_ops;

/* Most candidates a sampling kind draws for one point before giving up. */
#define LAB_PLANNER_MAX_TRIES 100000

/* 1 when the d-vector x equals one of the n rows of pts. */
int lab_planner_point_in(const double *x, const double *pts, size_t n, size_t d);

#endif
