/* The "gp" planner kind: Bayesian optimisation with a Gaussian process
 * (gp_model.h) and EI / log-EI / UCB (acquisition.h). Batch and asynchronous
 * proposals, failure-aware, multi-objective by random scalarisations.
 * Not for: the GP algebra (gp_model.c), the initial design (planner.c runs it
 * before this kind), I/O.
 *
 * Encoding. The GP sees "z": unit-cube coordinates for real (linear or log)
 * and integer dims, the choice index for categorical dims (Hamming distance in
 * the kernel). Acquisitions are optimised over the real and integer
 * coordinates relaxed in [0,1] with the categorical values of the start point
 * held fixed; the result is rounded through lab_space_from_unit (integers)
 * and re-scored at the rounded point. Categorical values are explored by the
 * candidate set (uniformly random choices, and mutations of the best points).
 *
 * One proposal:
 *  1. targets: the measured outcomes, minimised (maximised objectives are
 *     negated); 2-3 objectives are scalarised ParEGO-style, max_j w_j f_j +
 *     0.05 sum_j w_j f_j on objectives scaled to [0,1], with weights w drawn
 *     from the simplex seeded by (seed, proposal number);
 *  2. the model (standardised targets), see "Refits" below;
 *  3. pending points (and earlier points of the same batch) are added as
 *     kriging-believer fantasies: value = the model's mean there, so the
 *     posterior variance collapses around them and the next point goes
 *     elsewhere; the fantasies are dropped after the ask;
 *  4. failures: if any outcome failed, a second GP on labels +1 (measured) /
 *     -1 (failed), with its own hyperparameters (s_feas_model), gives
 *     p = Phi(mu / sqrt(0.01 + var)); the log acquisition gets
 *     s_feas_weight(log p) added (EI: multiplied by its exp): p^2 and a steep
 *     penalty below p = 0.8. Failed points are never dropped;
 *  5. 2000 candidates (70 % uniform, 30 % gaussian perturbations of the five
 *     best measured points at scales 0.002, 0.02, 0.1), rejection of infeasible
 *     ones; ranked by log-EI (or UCB) times p; L-BFGS (NLopt, bounded to the
 *     cube) from the 5 best; a local optimum that violates a linear
 *     constraint is pulled back by bisection towards its feasible start;
 *     the best point not equal to a pending, already chosen or told point
 *     wins. "ei" optimises EI itself, "log_ei" its logarithm (no flat
 *     regions far from the data), both rank candidates by log-EI.
 *     From d = S_TR_MIN_DIM (8) on, one objective, the uniform candidates and
 *     the local searches keep to a trust region (TuRBO-like, s_trust_region):
 *     a box around the best measured point, its side scaled per dimension by
 *     the length-scales and adapted to the run's successes and failures
 *     (styblinski8_s batch 4 33 -> 28, ellipsoid10_r batch 1 0.27 -> 0.21,
 *     bound share there 45 % -> 19 %; from d = 4 on it hurt michalewicz5 and
 *     nanocrystal_qy);
 *  6. exploitation (ei, log_ei): every S_EXPLOIT_EVERY-th proposal number
 *     first looks for the minimum of the posterior mean (same candidates and
 *     local searches, acquisition -mu, times p as for UCB). It is proposed
 *     when the model's sd there is at most S_EXPLOIT_MAX_SD (standardised
 *     units, i.e. 3 % of the spread of the outcomes): the model is sure of
 *     the point, which is then a refinement of a basin it already knows.
 *     Otherwise the EI point is proposed. EI alone keeps spreading its
 *     proposals over every basin that might hold the optimum (branin's three
 *     minima) and refines none to the last digits; a confident-mean step
 *     refines the best one (branin, budget 30, seeds 0-29: median regret
 *     3.8e-3 -> 2.3e-4). The sd guard keeps the step from chasing a minimum
 *     of the mean that the model only extrapolates (without it ackley5's
 *     median regret went from 3.2 to 5.2). It needs no budget and depends on
 *     the proposal number only, so it is deterministic and survives a resume.
 *     With pending points (or earlier points of the batch) the step is skipped
 *     when one of them correlates above S_EXPLOIT_MAX_CORR with the mean's
 *     minimum: fantasies do not move the mean, so two exploitation steps
 *     would land on top of each other.
 *     In a batch the exploitation slots (the batch's proposal numbers that
 *     are 2 mod 3) come first: an EI point chosen earlier in the batch
 *     usually lies in the basin of the mean's minimum and vetoed the step
 *     (hartmann6, batches of 4: 12 steps in 10 runs instead of 28). A batch
 *     of two or more without such a number (two points at numbers 0 and 1
 *     mod 3, e.g. the last batch of 50 in fours after 10 initial points)
 *     still gets one slot: paired over seeds 0-29 on the six functions where
 *     batch 4 trailed batch 1, the last batch's result was better in 72 runs
 *     and worse in 28 (mean log10 regret of hartmann6 -2.74 -> -2.84, branin
 *     -6.07 -> -6.16); seeds 0-9 of the other eight: never worse. When the
 *     step is taken, the next S_PROBE_N points of the batch are "probes":
 *     the minimum of mean - sqrt(S_PROBE_BETA) sd with the step (and earlier
 *     probes) as fantasies, i.e. points beside the refined minimum where the
 *     model is least sure, which is what the sequential steps learn one
 *     after the other. Without probes EI spent those points elsewhere;
 *     with them the suite's batch-4 regret is closer to batch 1's (geometric
 *     mean of the ratio over 15 functions 1.78 -> 1.23; beta 0.25-2 and 1-3
 *     probes tried).
 *     Below the trust-region dimension (d < S_TR_MIN_DIM), a batch's points
 *     1..S_PROBE_N are probes whether or not its first point was an
 *     exploitation step, with S_PROBE_BETA = 2; when it was not, they keep
 *     to a box of S_BATCH_BOX (0.5) length-scales either side of the best
 *     measured point (s_batch_box): one at a time, the EI points between
 *     two exploitation steps mostly refine the basin of the best point,
 *     each after the last was measured; a batch's kriging-believer EI
 *     points went to four different places instead. Batch 4, seeds 0-29,
 *     the twelve functions with d < 8: mean log10 regret better on 9
 *     (levy6_s 0.19 -> -0.01, nanocrystal_qy -2.55 -> -2.76, branin_c
 *     -6.18 -> -6.53), worse on sixhump_s (-4.69 -> -4.47), rosenbrock4_s
 *     and hartmann6_f (-2.83 -> -2.71). At d >= 8 it made styblinski8_s
 *     worse (28 -> 38, seeds 0-9): there the trust region already keeps the
 *     batch local and probes keep beta S_PROBE_BETA_TR = 0.5.
 *     One point asked with n_avoid > 0 points in flight (the orchestrator
 *     runs planner.batch: B asynchronously: B experiments in flight, each
 *     result told and one new point asked with the others pending) is a
 *     point of a batch of n_avoid + 1, d < S_TR_MIN_DIM, one objective:
 *     every (n_avoid + 1)-th proposal number leads (the mean's minimum when
 *     the model is sure of it, without the pending points' veto, otherwise
 *     EI), the others are probes in the S_BATCH_BOX box. Before, each such
 *     ask was an EI point among kriging-believer fantasies and its
 *     exploitation steps were vetoed by the probes in flight: with 4 in
 *     flight, seeds 0-29, mean log10 regret better on 8 of the 12
 *     functions with d < 8 (hartmann6 -2.00 -> -2.11, sixhump_s -2.72 ->
 *     -3.59, branin -6.02 -> -6.54), worse on hartmann6_f (-2.11 -> -1.94),
 *     branin_c, michalewicz5 and hartmann3 (see docs/PLANNERS.md).
 *
 * Refits (n = measured outcomes). Hyperparameters are fitted at "refit
 * points": every n <= 100, then every gp_refit_every (default 10) n. In
 * between, the hyperparameters of the last refit point are reused and the
 * new points are appended to the Cholesky factor (O(n^2) each, no refit, no
 * refactorisation), with the standardisation of that refit point. A refit
 * starts L-BFGS from the previous refit point's hyperparameters (warm start),
 * the prior's mode and one random draw; every 8th refit point is "cold"
 * (mode + 3 random starts, no warm start), which bounds the chain that a
 * rebuilt planner has to replay. Everything is a function of the seed and
 * the history, so a planner rebuilt by re-telling the history proposes the
 * same points (the replay costs at most 8 fits, once). Above 300 points the
 * likelihood is fitted on 300 of them (gp_model.c), the model uses all.
 * Multi-objective targets change with the weights on every ask: they are
 * refitted every ask (warm-started from the last fit of this object).
 *
 * Output transform: standardisation around a pessimistic mean (S_MEAN_SHIFT
 * deviations above the average: unexplored regions are expected to be
 * worse than average, which keeps EI out of the box's corners), after an
 * optional log warp w(y) = log(y - ymin + delta) (s_warp). At every refit
 * point both are fitted (s_fit_at) and the one with the larger evidence in
 * the objective's own units is kept: the MAP objective plus the log
 * Jacobian of the transform (s_nll_raw), so the two fits are compared on
 * the same data, less the log(1 / S_WARP_DELTA) nats the warp's anchor at
 * the minimum row gives it for nothing; the warp is not tried on fewer
 * than S_WARP_MIN_ROWS rows or when several rows share the minimum. The
 * warp wins where the outcomes span orders of magnitude (goldstein, branin, sixhump_s: batch 1, seeds 0-9, median regret 5.0 ->
 * 5.5e-5, 2.8e-7 -> 1.3e-6, 6.2e-4 -> 6.5e-7) and loses where they do not
 * (hartmann6 keeps the plain fit; warped always, it went 1.4e-5 -> 0.32).
 * The second fit doubles the fitting time (d = 6, n = 100: 20 -> 36 ms at
 * a refit point). S_WARP 0 (plain) and 1 (always warped) remain for
 * experiments; several objectives are never warped.
 * Threads: OpenBLAS is set to one thread when the gp planner is created,
 * unless OPENBLAS_NUM_THREADS is set (small matrices, see s_gp_new).
 *
 * NLopt's own random generator is never used (L-BFGS is deterministic); all
 * randomness comes from lab_rng streams seeded from (seed, n or proposal).
 */
#include <cblas.h>
#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/acquisition.h"
#include "planners/gp_model.h"
#include "planners/planner_impl.h"
#include "planners/rng.h"
#include "common/banned.h"

#define S_MIN_POINTS 2          /* measured outcomes needed for a model */
#define S_FULL_BELOW 100        /* refit at every n up to here */
#define S_DEFAULT_REFIT 10
#define S_ANCHOR_EVERY 8        /* every 8th refit point is a cold fit */
#define S_MAX_CHAIN 64
#define S_FIT_MAX_POINTS 300
#ifndef S_FIT_MAX_EVALS
#define S_FIT_MAX_EVALS 80
#endif
#ifndef S_N_CAND
#define S_N_CAND 2000
#endif
#ifndef S_N_LOCAL
#define S_N_LOCAL 5
#endif
#ifndef S_LOCAL_MAX_EVALS
#define S_LOCAL_MAX_EVALS 60
#endif
#define S_N_BEST 5
#ifndef S_EXPLOIT_EVERY
#define S_EXPLOIT_EVERY 3       /* proposal numbers 2, 5, 8, ... may exploit */
#endif
#ifndef S_EXPLOIT_MAX_SD
#define S_EXPLOIT_MAX_SD 0.03   /* model sd (standardised) at the mean's minimum */
#endif
#define S_EXPLOIT_MAX_CORR 0.9
#ifndef S_TR_MIN_DIM
#define S_TR_MIN_DIM 8          /* trust region from this dimension on (0: never) */
#endif
#define S_TR_INIT 0.8
#define S_TR_MAX 1.6
#define S_TR_MIN (1.0 / 128.0)
#define S_TR_SUCC 3
#ifndef S_PROBE_N
#define S_PROBE_N 3             /* probes after a batch's exploitation step */
#endif
#ifndef S_PROBE_BETA
#define S_PROBE_BETA 2.0        /* a probe minimises mean - sqrt(beta) sd */
#endif
#define S_PROBE_BETA_TR 0.5     /* the same with a trust region (d >= S_TR_MIN_DIM) */
#ifndef S_BATCH_BOX
#define S_BATCH_BOX 0.5         /* probes' box: length-scales either side of the best */
#endif
#ifndef S_MEAN_SHIFT
#define S_MEAN_SHIFT 2.0
#endif
#ifndef S_BATCH_SHIFT
#define S_BATCH_SHIFT 1.5       /* a synchronous batch's extra pessimism (standardised units) */
#endif
#define S_FEAS_S2 0.01
#ifndef S_FEAS_POW
#define S_FEAS_POW 2.0
#endif
#define S_FEAS_NOISE 0.01
#define S_FEAS_NOISE_MAX 0.02
#ifndef S_FEAS_LS_MIN
#define S_FEAS_LS_MIN 0.1
#endif
#ifndef S_FEAS_MIN_P
#define S_FEAS_MIN_P 0.8
#endif
#ifndef S_FEAS_HARD
#define S_FEAS_HARD 20.0
#endif
#define S_DEFAULT_BETA 4.0
#define S_PAREGO_RHO 0.05
#ifndef S_WARP
#define S_WARP 2                /* 0 plain, 1 log warp, 2 chosen by evidence per fit */
#endif
#define S_WARP_MIN_ROWS 5       /* rows before the warp is considered */
#ifndef S_WARP_DELTA
#define S_WARP_DELTA 1e-2
#endif
#define S_STREAM_FIT 0x66697400ULL
#define S_STREAM_CAND 0x63616e64ULL
#define S_STREAM_W 0x77656967ULL
#define S_STREAM_FEAS 0x66656173ULL
#define S_STREAM_OBJ 0x6f626a65ULL

typedef struct {
    double ymin, delta, mean, sd;
} s_tf;

typedef struct {
    size_t d, m, ncont;
    lab_acq_kind acq;
    double beta;
    size_t refit_every;
    double batch_shift;         /* S_BATCH_SHIFT while a batch's ask holds it, else 0 */
    unsigned char *cat;
    size_t *cont;            /* indices of the real/integer dims */
    size_t *n_choices;       /* per dim, categorical only */
    lab_gp gp, feas;
    lab_gp og;               /* several objectives: one objective's own model (provenance) */
    double *obj_theta;       /* m * (d + 2): last fit of each objective's model */
    int obj_have[LAB_PLANNER_MAX_OBJECTIVES];
    double feas_mean;        /* mean of the +1/-1 labels (the feasibility GP's prior mean) */
    double *feas_theta;      /* its hyperparameters, fitted at feas_fit_n told rows */
    size_t feas_fit_n;
    /* cached hyperparameters at refit point theta_n (with its standardisation) */
    int have_theta;
    size_t theta_n;
    double *theta;
    s_tf theta_tf;
    /* the model in gp: data = first model_n measured rows, theta of model_fit_n */
    int model_ok;
    size_t model_n, model_fit_n;
    s_tf tf;
    char fit_how[24];
    size_t fit_evals;
    double tr_len;           /* side of this ask's trust region (0: none) */
    /* measured rows of this ask */
    double *mz, *my;
    size_t mcap;
    /* candidates */
    double *cz, *cu, *cscore;
    size_t *corder;
    /* scratch */
    double *u, *x, *z, *u0, *grad_mu, *grad_var, *fgrad_mu, *fgrad_var, *w;
} s_gp;

static void s_gp_destroy(void *impl)
{
    s_gp *g = impl;
    if (!g)
        return;
    lab_gp_release(&g->gp);
    lab_gp_release(&g->feas);
    lab_gp_release(&g->og);
    free(g->obj_theta);
    free(g->cat);
    free(g->cont);
    free(g->n_choices);
    free(g->theta);
    free(g->feas_theta);
    free(g->mz);
    free(g->my);
    free(g->cz);
    free(g->cu);
    free(g->cscore);
    free(g->corder);
    free(g->u);
    free(g->x);
    free(g->z);
    free(g->u0);
    free(g->grad_mu);
    free(g->grad_var);
    free(g->fgrad_mu);
    free(g->fgrad_var);
    free(g->w);
    free(g);
}

static void *s_gp_new(const lab_planner_ctx *ctx, lab_err *err)
{
    int acq = lab_acq_parse(ctx->acquisition);
    if (acq < 0) {
        lab_err_set(err, LAB_ECONFIG,
                    "planner gp: unknown acquisition '%s' (known: ei, log_ei, ucb)",
                    ctx->acquisition);
        return NULL;
    }
    if (ctx->n_objectives > 3) {
        lab_err_set(err, LAB_ECONFIG,
                    "planner gp: %zu objectives given, it handles 1 to 3", ctx->n_objectives);
        return NULL;
    }
    /* OpenBLAS threads cost more than they save on the planner's matrices
     * (measured on 2 cores, d = 6: 116 ms vs 17 ms per proposal at n = 100;
     * at n = 1000 284 vs 470 ms): one thread unless the user chose. */
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
    s_gp *g = calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    size_t d = lab_space_dims(ctx->space);
    g->d = d;
    g->m = ctx->n_objectives;
    g->acq = (lab_acq_kind)acq;
    g->beta = ctx->ucb_beta > 0 ? ctx->ucb_beta : S_DEFAULT_BETA;
    g->refit_every = ctx->gp_refit_every ? ctx->gp_refit_every : S_DEFAULT_REFIT;
    g->cat = calloc(d, 1);
    g->cont = calloc(d, sizeof *g->cont);
    g->n_choices = calloc(d, sizeof *g->n_choices);
    g->theta = calloc(LAB_GP_THETA(d), sizeof *g->theta);
    g->feas_theta = calloc(LAB_GP_THETA(d), sizeof *g->feas_theta);
    g->obj_theta = calloc(g->m * LAB_GP_THETA(d), sizeof *g->obj_theta);
    g->cz = malloc(S_N_CAND * d * sizeof *g->cz);
    g->cu = malloc(S_N_CAND * d * sizeof *g->cu);
    g->cscore = malloc(S_N_CAND * sizeof *g->cscore);
    g->corder = malloc(S_N_CAND * sizeof *g->corder);
    g->u = calloc(d, sizeof *g->u);
    g->x = calloc(d, sizeof *g->x);
    g->z = calloc(d, sizeof *g->z);
    g->u0 = calloc(d, sizeof *g->u0);
    g->grad_mu = calloc(d, sizeof *g->grad_mu);
    g->grad_var = calloc(d, sizeof *g->grad_var);
    g->fgrad_mu = calloc(d, sizeof *g->fgrad_mu);
    g->fgrad_var = calloc(d, sizeof *g->fgrad_var);
    g->w = calloc(d, sizeof *g->w);
    if (!g->cat || !g->cont || !g->n_choices || !g->theta || !g->feas_theta || !g->obj_theta || !g->cz || !g->cu ||
        !g->cscore || !g->corder || !g->u || !g->x || !g->z || !g->u0 || !g->grad_mu ||
        !g->grad_var || !g->fgrad_mu || !g->fgrad_var || !g->w)
        goto nomem;
    for (size_t i = 0; i < d; i++) {
        const lab_dim *dim = lab_space_dim(ctx->space, i);
        if (dim->type == LAB_DIM_CATEGORICAL) {
            g->cat[i] = 1;
            g->n_choices[i] = dim->n_choices;
        } else {
            g->cont[g->ncont++] = i;
        }
    }
    if (lab_gp_init(&g->gp, d, g->cat, err) < 0 || lab_gp_init(&g->feas, d, g->cat, err) < 0 ||
        lab_gp_init(&g->og, d, g->cat, err) < 0)
        goto fail;
    /* the failure labels are exact: little noise, so that a failing region
     * is not explained away as noise around a flat p(success) */
    g->feas.prior.sn2_hi = log(S_FEAS_NOISE_MAX);
    g->feas.prior.sn2_mean = log(S_FEAS_NOISE);
    /* and no length-scale below S_FEAS_LS_MIN: the likelihood of a sharp
     * step in the labels favours very short scales, which left p(success)
     * back at the prior a few hundredths away from a failed point */
    g->feas.prior.ls_lo = log(S_FEAS_LS_MIN);
    return g;
nomem:
    lab_err_set(err, LAB_ENOMEM, "out of memory creating a gp planner");
fail:
    s_gp_destroy(g);
    return NULL;
}

/* ---- encodings ---------------------------------------------------------- */

static void s_z_of_x(const s_gp *g, const lab_space *s, const double *x, double *z)
{
    lab_space_to_unit(s, x, z);
    for (size_t i = 0; i < g->d; i++)
        if (g->cat[i])
            z[i] = x[i];
}

static void s_u_of_z(const s_gp *g, const double *z, double *u)
{
    for (size_t i = 0; i < g->d; i++)
        u[i] = g->cat[i] ? (z[i] + 0.5) / (double)g->n_choices[i] : z[i];
}

static double s_gauss(lab_rng *r)
{
    double u1 = lab_rng_uniform(r), u2 = lab_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.28318530717958647692 * u2);
}

/* ---- targets ------------------------------------------------------------ */

/* Measured rows into g->mz / g->my (scalar, minimised). Returns their number
 * or < 0. w: ParEGO weights (m > 1) or NULL. */
static long s_collect(s_gp *g, const lab_planner_ctx *ctx, const double *w, lab_err *err)
{
    const lab_planner_history *h = &ctx->hist;
    if (h->n > g->mcap) {
        size_t cap = h->n + h->n / 2 + 16;
        double *mz = realloc(g->mz, cap * g->d * sizeof *mz);
        if (mz)
            g->mz = mz;
        double *my = realloc(g->my, cap * sizeof *my);
        if (my)
            g->my = my;
        if (!mz || !my)
            return lab_err_set(err, LAB_ENOMEM, "out of memory (%zu outcomes)", h->n);
        g->mcap = cap;
    }
    double lo[LAB_PLANNER_MAX_OBJECTIVES], hi[LAB_PLANNER_MAX_OBJECTIVES];
    for (size_t j = 0; j < g->m; j++)
        lo[j] = INFINITY, hi[j] = -INFINITY;
    for (size_t r = 0; r < h->n; r++) {
        if (h->outcome[r] != LAB_OUTCOME_MEASURED)
            continue;
        for (size_t j = 0; j < g->m; j++) {
            double v = h->y[r * h->m + j] * (ctx->maximize[j] ? -1.0 : 1.0);
            lo[j] = v < lo[j] ? v : lo[j];
            hi[j] = v > hi[j] ? v : hi[j];
        }
    }
    size_t n = 0;
    for (size_t r = 0; r < h->n; r++) {
        if (h->outcome[r] != LAB_OUTCOME_MEASURED)
            continue;
        s_z_of_x(g, ctx->space, h->x + r * h->d, g->mz + n * g->d);
        if (g->m == 1) {
            g->my[n] = h->y[r * h->m] * (ctx->maximize[0] ? -1.0 : 1.0);
        } else {
            double mx = -INFINITY, sum = 0.0;
            for (size_t j = 0; j < g->m; j++) {
                double v = h->y[r * h->m + j] * (ctx->maximize[j] ? -1.0 : 1.0);
                double range = hi[j] - lo[j];
                double t = range > 0 ? (v - lo[j]) / range : 0.0;
                mx = w[j] * t > mx ? w[j] * t : mx;
                sum += w[j] * t;
            }
            g->my[n] = mx + S_PAREGO_RHO * sum;
        }
        n++;
    }
    return (long)n;
}

/* Output transform fitted on the rows of a refit point: a log warp
 * w(y) = log(y - ymin + delta), delta = 1e-2 (median - ymin) (linear below
 * ymin, so later, better points stay finite), then standardisation. The warp
 * spreads the values near the minimum, where the search refines, and
 * squeezes the far worse ones that otherwise set the length-scales. */
static double s_warp(const s_tf *t, double y)
{
    if (t->delta <= 0.0)
        return y;
    double v = y - t->ymin;
    return v >= 0 ? log(v + t->delta) : log(t->delta) + v / t->delta;
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_tf_apply(const s_tf *t, double y)
{
    return (s_warp(t, y) - t->mean) / t->sd;
}

/* standardised model value -> objective units (mean, and sd by the delta method) */
static void s_tf_back(const s_tf *t, double mu, double sd, double *mo, double *so)
{
    double w = t->mean + t->sd * mu, ws = t->sd * sd;
    if (t->delta <= 0.0) {
        *mo = w, *so = ws;
    } else if (w >= log(t->delta)) {
        *mo = exp(w) - t->delta + t->ymin, *so = exp(w) * ws;
    } else {
        *mo = t->ymin + (w - log(t->delta)) * t->delta, *so = t->delta * ws;
    }
}

static int s_tf_fit(s_tf *t, const double *y, size_t n, int warp)
{
    double *s = malloc(n * sizeof *s);
    if (!s)
        return LAB_ENOMEM;
    memcpy(s, y, n * sizeof *s);
    qsort(s, n, sizeof *s, s_cmp_d);
    t->ymin = s[0];
    double med = s[n / 2], range = s[n - 1] - s[0];
    free(s);
    t->delta = warp && range > 0 ? S_WARP_DELTA * (med - t->ymin) : 0.0;
    if (warp && range > 0 && t->delta < 1e-6 * range)
        t->delta = 1e-6 * range;
    t->mean = 0.0, t->sd = 1.0;
    double m = 0.0, v = 0.0;
    for (size_t i = 0; i < n; i++)
        m += s_warp(t, y[i]);
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (s_warp(t, y[i]) - m) * (s_warp(t, y[i]) - m);
    v = n > 1 ? sqrt(v / (double)(n - 1)) : 0.0;
    t->sd = v > 1e-12 * (fabs(m) + 1.0) ? v : 1.0;
    /* the model's prior mean (0 after the transform) sits S_MEAN_SHIFT
     * deviations above the average outcome: where there is no data the
     * model expects a worse than average result */
    t->mean = m + S_MEAN_SHIFT * t->sd;
    return 0;
}

/* Loads the first n measured rows, transformed by t, into gp. */
static int s_load(s_gp *g, size_t n, const s_tf *t, lab_err *err)
{
    int rc = lab_gp_set_data(&g->gp, n, g->mz, g->my, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        g->gp.y[i] = s_tf_apply(t, g->gp.y[i]);
    return 0;
}

/* ---- refit schedule ----------------------------------------------------- */

static int s_is_refit_point(const s_gp *g, size_t n)
{
    return n <= S_FULL_BELOW || n % g->refit_every == 0;
}

static size_t s_refit_floor(const s_gp *g, size_t n)
{
    while (n > S_MIN_POINTS && !s_is_refit_point(g, n))
        n--;
    return n;
}

static int s_is_anchor(const s_gp *g, size_t n)
{
    if (n <= S_MIN_POINTS)
        return 1;
    size_t ordinal = n <= S_FULL_BELOW ? n : S_FULL_BELOW + n / g->refit_every;
    return ordinal % S_ANCHOR_EVERY == 0;
}

/* The negative log evidence of the fitted model in the objective's own
 * units: the model's MAP objective on the transformed values plus the log
 * Jacobian of the transform, so that a warped and an unwarped fit of the
 * same rows can be compared. The warp is anchored at the rows' minimum,
 * where its slope is 1 / delta: that row alone would give it log(1 /
 * S_WARP_DELTA) (4.6) nats it did not earn from the data, so they are
 * charged back. */
static double s_nll_raw(s_gp *g, const s_tf *t, size_t n)
{
    double nll = lab_gp_nll(&g->gp, g->gp.theta, NULL) + (double)n * log(t->sd);
    if (t->delta > 0.0) {
        for (size_t i = 0; i < n; i++)
            nll += log(g->my[i] - t->ymin + t->delta);
        nll -= log(S_WARP_DELTA);
    }
    return isnan(nll) ? INFINITY : nll;
}

/* Whether the log warp is worth fitting on the first n rows: a few rows,
 * or a minimum shared by several rows (outcomes clipped at a floor), would
 * let the anchor's steep slope, not the data, win the comparison. */
static int s_warp_candidate(const s_gp *g, size_t n)
{
    if (n < S_WARP_MIN_ROWS)
        return 0;
    double lo = INFINITY;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        lo = g->my[i] < lo ? g->my[i] : lo;
    for (size_t i = 0; i < n; i++)
        at += g->my[i] == lo;
    return at == 1;
}

/* Fits theta on the first n measured rows. warm may be NULL (cold fit).
 * With S_WARP 2 (the default) both the plain standardisation and the log
 * warp are fitted and the one with the larger evidence (s_nll_raw) is kept;
 * a failed warped fit leaves the plain one. */
static int s_fit_at(s_gp *g, const lab_planner_ctx *ctx, size_t n, const double *warm,
                    lab_err *err)
{
    size_t nt = LAB_GP_THETA(g->d);
    double w0[nt], best_theta[nt], best_nll = INFINITY;
    if (warm)
        memcpy(w0, warm, nt * sizeof *w0);
    s_tf best_tf = {0};
    int have_best = 0;
    int first = S_WARP == 1, last = S_WARP == 1 || (S_WARP == 2 && s_warp_candidate(g, n));
    for (int warp = first; warp <= last; warp++) {
        s_tf tf;
        int rc = s_tf_fit(&tf, g->my, n, warp);
        if (rc < 0)
            return lab_err_set(err, rc, "out of memory fitting a GP");
        if (warp && tf.delta <= 0.0 && have_best)
            continue;               /* all outcomes equal: nothing to warp */
        if ((rc = s_load(g, n, &tf, err)) < 0)
            return rc;
        if (warm)
            memcpy(g->gp.theta, w0, nt * sizeof *w0);
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed ^ S_STREAM_FIT, (uint64_t)n);
        lab_gp_fit_opts o = {.n_starts = warm ? 1 : 3, .max_evals = S_FIT_MAX_EVALS,
                             .warm = warm ? w0 : NULL, .max_points = S_FIT_MAX_POINTS};
        if ((rc = lab_gp_fit(&g->gp, &o, &rng, err)) < 0) {
            if (warp && have_best)
                continue;
            return rc;
        }
        g->fit_evals += g->gp.n_evals;
        double nll = first == last ? 0.0 : s_nll_raw(g, &tf, n);
        if (!have_best || nll < best_nll) {
            have_best = 1;
            best_nll = nll;
            best_tf = tf;
            memcpy(best_theta, g->gp.theta, nt * sizeof *best_theta);
        }
    }
    memcpy(g->theta, best_theta, nt * sizeof *g->theta);
    g->theta_n = n;
    g->theta_tf = best_tf;
    g->have_theta = 1;
    return 0;
}

/* Hyperparameters at refit point nf: replays the warm-start chain back to
 * the last cached point or cold anchor. */
static int s_theta_at(s_gp *g, const lab_planner_ctx *ctx, size_t nf, lab_err *err)
{
    if (g->have_theta && g->theta_n == nf)
        return 0;
    size_t chain[S_MAX_CHAIN], len = 0, n = nf;
    int from_cache = 0;
    for (;;) {
        chain[len++] = n;
        if (s_is_anchor(g, n) || len == S_MAX_CHAIN)
            break;
        size_t p = s_refit_floor(g, n - 1);
        if (g->have_theta && g->theta_n == p) {
            from_cache = 1;
            break;
        }
        n = p;
    }
    g->fit_evals = 0;
    for (size_t i = len; i-- > 0;) {
        int cold = (i == len - 1 && !from_cache);
        int rc = s_fit_at(g, ctx, chain[i], cold ? NULL : g->theta, err);
        if (rc < 0)
            return rc;
    }
    snprintf(g->fit_how, sizeof g->fit_how, "%s fit@%zu", s_is_anchor(g, nf) ? "cold" : "warm",
             nf);
    return 0;
}

/* Makes g->gp the model of the first n measured rows (no fantasies). */
static int s_model(s_gp *g, const lab_planner_ctx *ctx, size_t n, const double *w,
                   lab_err *err)
{
    int rc;
    if (g->m > 1) {
        /* targets change with the weights: refit every ask */
        s_tf tf;
        if ((rc = s_tf_fit(&tf, g->my, n, S_WARP == 1)) < 0)
            return lab_err_set(err, rc, "out of memory fitting a GP");
        if ((rc = s_load(g, n, &tf, err)) < 0)
            return rc;
        if (g->have_theta)
            memcpy(g->gp.theta, g->theta, LAB_GP_THETA(g->d) * sizeof *g->theta);
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed ^ S_STREAM_FIT, (uint64_t)n);
        lab_gp_fit_opts o = {.n_starts = 2, .max_evals = S_FIT_MAX_EVALS,
                             .warm = g->have_theta ? g->theta : NULL,
                             .max_points = S_FIT_MAX_POINTS};
        if ((rc = lab_gp_fit(&g->gp, &o, &rng, err)) < 0)
            return rc;
        (void)w;
        memcpy(g->theta, g->gp.theta, LAB_GP_THETA(g->d) * sizeof *g->theta);
        g->have_theta = 1;
        g->tf = tf;
        g->model_ok = 0;
        snprintf(g->fit_how, sizeof g->fit_how, "parego fit@%zu", n);
        return 0;
    }
    size_t nf = s_refit_floor(g, n);
    if (!(g->model_ok && g->model_fit_n == nf && g->model_n <= n)) {
        if ((rc = s_theta_at(g, ctx, nf, err)) < 0)
            return rc;
        g->tf = g->theta_tf;
        if ((rc = s_load(g, nf, &g->tf, err)) < 0)
            return rc;
        memcpy(g->gp.theta, g->theta, LAB_GP_THETA(g->d) * sizeof *g->theta);
        if ((rc = lab_gp_factor(&g->gp, err)) < 0)
            return rc;
        g->model_ok = 1;
        g->model_fit_n = nf;
        g->model_n = nf;
    } else {
        lab_gp_truncate(&g->gp, g->model_n);
        if (nf != n)
            snprintf(g->fit_how, sizeof g->fit_how, "append, fit@%zu", nf);
    }
    for (size_t i = g->model_n; i < n; i++) {
        if ((rc = lab_gp_append(&g->gp, g->mz + i * g->d, s_tf_apply(&g->tf, g->my[i]),
                                err)) < 0)
            return rc;
    }
    g->model_n = n;
    return 0;
}

/* Feasibility model on every told row; returns 1 when built, 0 without
 * failures. A GP on labels +1 (measured) / -1 (failed), centred on their
 * mean (far from the data the prior is the campaign's success rate), with its
 * own hyperparameters fitted by marginal likelihood: a failing region has
 * its own extent, unrelated to how fast the objective varies (reusing the
 * objective's length-scales gave p(success) 0.83-0.99 at points that then
 * failed). Refitted when the number of told rows changes, warm-started from
 * the last fit. */
static int s_feas_model(s_gp *g, const lab_planner_ctx *ctx, lab_err *err)
{
    const lab_planner_history *h = &ctx->hist;
    size_t n_fail = 0;
    for (size_t r = 0; r < h->n; r++)
        n_fail += h->outcome[r] == LAB_OUTCOME_FAILED;
    if (!n_fail)
        return 0;
    lab_gp *f = &g->feas;
    double *z = malloc(h->n * g->d * sizeof *z), *lab = malloc(h->n * sizeof *lab);
    if (!z || !lab) {
        free(z);
        free(lab);
        return lab_err_set(err, LAB_ENOMEM, "out of memory in the feasibility model");
    }
    double mean = 0.0;
    for (size_t r = 0; r < h->n; r++) {
        s_z_of_x(g, ctx->space, h->x + r * h->d, z + r * g->d);
        lab[r] = h->outcome[r] == LAB_OUTCOME_FAILED ? -1.0 : 1.0;
        mean += lab[r];
    }
    mean /= (double)h->n;
    for (size_t r = 0; r < h->n; r++)
        lab[r] -= mean;
    int rc = lab_gp_set_data(f, h->n, z, lab, err);
    free(z);
    free(lab);
    if (rc < 0)
        return rc;
    g->feas_mean = mean;
    if (g->feas_fit_n != h->n) {
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed ^ S_STREAM_FEAS, (uint64_t)h->n);
        /* starts: the objective's length-scales (often the right directions:
         * failures tend to follow what drives the outcome), the last fit,
         * the prior's mode and one random draw */
        double start[LAB_GP_THETA(g->d)];
        memcpy(start, g->gp.theta, g->d * sizeof *start);
        start[g->d] = 0.0;
        start[g->d + 1] = log(S_FEAS_NOISE);
        lab_gp_fit_opts o = {.n_starts = 1, .max_evals = S_FIT_MAX_EVALS, .warm = start,
                             .max_points = S_FIT_MAX_POINTS};
        if ((rc = lab_gp_fit(f, &o, &rng, err)) < 0)
            return rc;
        if (g->feas_fit_n) {
            double nll = lab_gp_nll(f, f->theta, NULL);
            memcpy(start, f->theta, sizeof start);
            if (lab_gp_nll(f, g->feas_theta, NULL) < nll)
                memcpy(f->theta, g->feas_theta, sizeof start);
            if ((rc = lab_gp_factor(f, err)) < 0)
                return rc;
        }
        memcpy(g->feas_theta, f->theta, LAB_GP_THETA(g->d) * sizeof *f->theta);
        g->feas_fit_n = h->n;
        return 1;
    }
    memcpy(f->theta, g->feas_theta, LAB_GP_THETA(g->d) * sizeof *f->theta);
    if ((rc = lab_gp_factor(f, err)) < 0)
        return rc;
    return 1;
}

/* log Phi(a) and d log Phi / da, stable for very negative a. */
static double s_log_Phi(double a, double *dlog)
{
    if (a > -5.0) {
        double P = lab_acq_Phi(a);
        *dlog = lab_acq_phi(a) / P;
        return log(P);
    }
    double t = -a;
    /* Mills ratio by its continued fraction's leading terms: R ~ 1/(t + 1/(t + 2/(t + 3/t))) */
    double R = 1.0 / (t + 1.0 / (t + 2.0 / (t + 3.0 / (t + 4.0 / t))));
    *dlog = 1.0 / R;
    return -0.5 * a * a - 0.91893853320467274178 + log(R);
}

/* Expected improvement in the objective's own units, for the reason a
 * scientist reads: EI on the model's scale (best_std, the best measured
 * outcome there) times the transform's slope. Without the warp the
 * transform is linear. With it an improvement means an outcome below the
 * best, which is at or below the fit's ymin, where the warp is linear too
 * (w = log delta + (y - ymin) / delta): the slope is then sd * delta. */
static double s_ei_units(const s_tf *t, double pm, double psd, double best_std)
{
    double slope = t->delta > 0.0 ? t->sd * t->delta : t->sd;
    return lab_acq_ei(pm, psd > 1e-300 ? psd : 1e-300, best_std, NULL, NULL) * slope;
}

/* ---- acquisition -------------------------------------------------------- */

/* What log p(success) adds to the log acquisition (and its derivative dl in
 * place): p^S_FEAS_POW, and below p = S_FEAS_MIN_P a steep extra penalty,
 * so the search treats p >= S_FEAS_MIN_P almost as a constraint (EI times p
 * alone still chose points with p = 0.3 when the unexplored failing region
 * promised a large improvement). */
static double s_feas_weight(double lp, double *dl)
{
    double lmin = log(S_FEAS_MIN_P), w = lp * S_FEAS_POW, dw = *dl * S_FEAS_POW;
    if (lp < lmin) {
        w += S_FEAS_HARD * (lp - lmin);
        dw += S_FEAS_HARD * *dl;
    }
    *dl = dw;
    return w;
}

typedef struct {
    s_gp *g;
    int have_feas;
    double best;
    int use_log;          /* 1: log-EI / additive log p; 0: EI * p */
    lab_acq_kind acq;     /* this point's acquisition */
    double beta;
    size_t evals;
} s_acq_ctx;

/* Acquisition at z (maximised). grad: d entries w.r.t. z or NULL. Also the
 * model's mean/sd and p_feasible through the out pointers when not NULL. */
static double s_acq_at(s_acq_ctx *c, const double *z, double *grad, double *out_mu,
                       double *out_sd, double *out_p, double *out_plain)
{
    s_gp *g = c->g;
    size_t d = g->d;
    double mu, var;
    lab_gp_predict(&g->gp, z, &mu, &var, grad ? g->grad_mu : NULL, grad ? g->grad_var : NULL);
    double sd = sqrt(var), amu, asd, a;
    if (c->acq == LAB_ACQ_UCB)
        a = lab_acq_ucb(mu, sd, c->beta, &amu, &asd);
    else if (c->use_log)
        a = lab_acq_log_ei(mu, sd, c->best, &amu, &asd);
    else
        a = lab_acq_ei(mu, sd, c->best, &amu, &asd);
    if (out_plain)
        *out_plain = a;
    if (grad)
        for (size_t i = 0; i < d; i++)
            grad[i] = amu * g->grad_mu[i] + asd * g->grad_var[i] / (2.0 * sd);
    double p = 1.0;
    if (c->have_feas) {
        double fm, fv;
        lab_gp_predict(&g->feas, z, &fm, &fv, grad ? g->fgrad_mu : NULL,
                       grad ? g->fgrad_var : NULL);
        fm += g->feas_mean;
        double s = sqrt(S_FEAS_S2 + fv), t = fm / s, dl;
        double lp = s_log_Phi(t, &dl);
        p = exp(lp);
        lp = s_feas_weight(lp, &dl);
        double pk = exp(lp);
        if (c->use_log || c->acq == LAB_ACQ_UCB) {
            if (grad)
                for (size_t i = 0; i < d; i++)
                    grad[i] += dl * (g->fgrad_mu[i] / s - fm * g->fgrad_var[i] / (2.0 * s * s * s));
            a += lp;
        } else {
            if (grad)
                for (size_t i = 0; i < d; i++)
                    grad[i] = grad[i] * pk + a * pk * dl *
                              (g->fgrad_mu[i] / s - fm * g->fgrad_var[i] / (2.0 * s * s * s));
            a *= pk;
        }
    }
    if (out_mu)
        *out_mu = mu;
    if (out_sd)
        *out_sd = sd;
    if (out_p)
        *out_p = p;
    return a;
}

typedef struct {
    s_acq_ctx *c;
    double *zfull;        /* d: categorical values fixed, continuous ones replaced */
    double *gfull;        /* d */
} s_local;

static double s_local_obj(unsigned nc, const double *xc, double *grad, void *data)
{
    s_local *l = data;
    s_gp *g = l->c->g;
    for (unsigned i = 0; i < nc; i++)
        l->zfull[g->cont[i]] = xc[i];
    l->c->evals++;
    double a = s_acq_at(l->c, l->zfull, grad ? l->gfull : NULL, NULL, NULL, NULL, NULL);
    if (grad)
        for (unsigned i = 0; i < nc; i++)
            grad[i] = l->gfull[g->cont[i]];
    if (!isfinite(a))
        a = -1e300;
    return a;
}

/* Candidate scores: log-EI (or UCB) plus log p, vectorised over the model. */
static int s_score_candidates(s_acq_ctx *c, size_t nc, double *mu, double *var)
{
    s_gp *g = c->g;
    if (lab_gp_predict_many(&g->gp, nc, g->cz, mu, var) < 0)
        return LAB_ENOMEM;
    for (size_t j = 0; j < nc; j++) {
        double sd = sqrt(var[j]);
        g->cscore[j] = c->acq == LAB_ACQ_UCB ? lab_acq_ucb(mu[j], sd, c->beta, NULL, NULL)
                                             : lab_acq_log_ei(mu[j], sd, c->best, NULL, NULL);
    }
    if (c->have_feas) {
        if (lab_gp_predict_many(&g->feas, nc, g->cz, mu, var) < 0)
            return LAB_ENOMEM;
        for (size_t j = 0; j < nc; j++) {
            double dl;
            g->cscore[j] += s_feas_weight(
                s_log_Phi((mu[j] + g->feas_mean) / sqrt(S_FEAS_S2 + var[j]), &dl), &dl);
        }
    }
    return 0;
}

typedef struct {
    double s;
    size_t i;
} s_ranked;

static int s_ranked_cmp(const void *a, const void *b)
{
    const s_ranked *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Trust region (d >= S_TR_MIN_DIM): a box around the best measured point,
 * side S_TR_INIT in the unit cube scaled per dimension by the length-scales
 * (relative to their geometric mean), doubled after S_TR_SUCC improvements
 * in a row and halved after max(4, d) proposals without one; below
 * S_TR_MIN it starts again at S_TR_INIT. The size is replayed from the
 * measured outcomes in order, so it is a function of the history (a
 * rebuilt planner has the same). tlo/thi: d entries (categorical dims keep
 * the whole range). Returns 0 when there is no trust region. */
static int s_trust_region(s_gp *g, size_t n_meas, size_t n_init, double *tlo, double *thi)
{
    size_t d = g->d;
    g->tr_len = 0.0;
    if (S_TR_MIN_DIM == 0 || d < S_TR_MIN_DIM || n_meas < n_init || g->m > 1)
        return 0;
    double best = INFINITY, len = S_TR_INIT;
    size_t succ = 0, fail = 0, ib = 0, fail_tol = d > 4 ? d : 4;
    for (size_t i = 0; i < n_meas; i++) {
        double y = g->my[i];
        if (i >= n_init) {
            if (y < best - 1e-3 * fabs(best))
                succ++, fail = 0;
            else
                fail++, succ = 0;
            if (succ >= S_TR_SUCC)
                len = fmin(2.0 * len, S_TR_MAX), succ = 0;
            if (fail >= fail_tol)
                len /= 2.0, fail = 0;
            if (len < S_TR_MIN)
                len = S_TR_INIT;
        }
        if (y < best)
            best = y, ib = i;
    }
    double lsum = 0.0;
    for (size_t i = 0; i < g->ncont; i++)
        lsum += g->gp.theta[g->cont[i]];
    double lmean = g->ncont ? lsum / (double)g->ncont : 0.0;
    const double *zb = g->mz + ib * d;
    for (size_t i = 0; i < d; i++) {
        if (g->cat[i]) {
            tlo[i] = 0.0, thi[i] = 1.0;
            continue;
        }
        double w = exp(g->gp.theta[i] - lmean);
        w = w < 0.25 ? 0.25 : w > 4.0 ? 4.0 : w;
        double h = 0.5 * len * w;
        tlo[i] = zb[i] - h < 0.0 ? 0.0 : zb[i] - h;
        thi[i] = zb[i] + h > 1.0 ? 1.0 : zb[i] + h;
    }
    g->tr_len = len;
    return 1;
}

/* The box of a batch's probes: S_BATCH_BOX length-scales either side of the
 * best measured point (at least 0.02, at most 0.5 of the unit cube), the
 * whole range of categorical dims. tlo/thi: d entries. */
static void s_batch_box(const s_gp *g, size_t n_meas, double *tlo, double *thi)
{
    size_t d = g->d, ib = 0;
    for (size_t i = 1; i < n_meas; i++)
        ib = g->my[i] < g->my[ib] ? i : ib;
    const double *zb = g->mz + ib * d;
    for (size_t i = 0; i < d; i++) {
        if (g->cat[i]) {
            tlo[i] = 0.0, thi[i] = 1.0;
            continue;
        }
        double h = S_BATCH_BOX * exp(g->gp.theta[i]);
        h = h < 0.02 ? 0.02 : h > 0.5 ? 0.5 : h;
        tlo[i] = zb[i] - h < 0.0 ? 0.0 : zb[i] - h;
        thi[i] = zb[i] + h > 1.0 ? 1.0 : zb[i] + h;
    }
}

/* The local searches' bounds: the box tlo/thi (d entries), or the unit cube
 * when tlo is NULL. */
static void s_set_bounds(const s_gp *g, nlopt_opt opt, const double *tlo, const double *thi)
{
    if (!opt)
        return;
    double lo[g->ncont], hi[g->ncont];
    for (size_t i = 0; i < g->ncont; i++) {
        lo[i] = tlo ? tlo[g->cont[i]] : 0.0;
        hi[i] = tlo ? thi[g->cont[i]] : 1.0;
    }
    nlopt_set_lower_bounds(opt, lo);
    nlopt_set_upper_bounds(opt, hi);
}

/* Draws up to S_N_CAND feasible candidates (native points are not kept: cz
 * holds their z, cu their u). Returns the number drawn. */
static size_t s_candidates(s_gp *g, const lab_planner_ctx *ctx, size_t index, size_t n_meas,
                           const double *tlo, const double *thi)
{
    size_t d = g->d, nc = 0;
    lab_rng rng;
    lab_rng_seed(&rng, ctx->seed ^ S_STREAM_CAND, (uint64_t)index);
    /* the best measured rows */
    size_t best[S_N_BEST], nb = 0;
    for (size_t i = 0; i < n_meas; i++) {
        size_t pos = nb < S_N_BEST ? nb++ : S_N_BEST;
        while (pos > 0 && g->my[best[pos - 1]] > g->my[i]) {
            if (pos < S_N_BEST)
                best[pos] = best[pos - 1];
            pos--;
        }
        if (pos < S_N_BEST)
            best[pos] = i;
    }
    static const double scales[3] = {0.002, 0.02, 0.1};
    size_t tries = 0, n_local = nb ? S_N_CAND * 3 / 10 : 0;
    while (nc < S_N_CAND && tries < 20 * (size_t)S_N_CAND) {
        double *u = g->cu + nc * d;
        if (nc < n_local) {
            const double *zb = g->mz + best[tries % nb] * d;
            double sc = scales[(tries / nb) % 3];
            s_u_of_z(g, zb, u);
            for (size_t i = 0; i < d; i++) {
                if (g->cat[i]) {
                    if (lab_rng_uniform(&rng) < 0.2)
                        u[i] = lab_rng_uniform(&rng);
                } else {
                    u[i] += sc * s_gauss(&rng);
                    /* reflected, not clipped: clipping piled candidates
                     * (and so local-search starts) onto the bounds */
                    u[i] = u[i] < 0 ? -u[i] : u[i];
                    u[i] = u[i] > 1 ? 2.0 - u[i] : u[i];
                    u[i] = u[i] < 0 ? 0 : u[i];
                }
            }
        } else {
            for (size_t i = 0; i < d; i++) {
                u[i] = lab_rng_uniform(&rng);
                if (tlo && !g->cat[i])
                    u[i] = tlo[i] + (thi[i] - tlo[i]) * u[i];
            }
        }
        tries++;
        lab_space_from_unit(ctx->space, u, g->x);
        if (!lab_space_feasible(ctx->space, g->x))
            continue;
        s_z_of_x(g, ctx->space, g->x, g->cz + nc * d);
        nc++;
    }
    return nc;
}

/* 1 when native x duplicates a row of avoid, of out (first i rows) or of the history. */
static int s_duplicate(const lab_planner_ctx *ctx, const double *x, const double *avoid,
                       size_t n_avoid, const double *out, size_t i)
{
    size_t d = ctx->hist.d;
    return lab_planner_point_in(x, avoid, n_avoid, d) || lab_planner_point_in(x, out, i, d) ||
           lab_planner_point_in(x, ctx->hist.x, ctx->hist.n, d);
}

/* Local search from candidate z0 (u0 its unit point); result native point in
 * x_out, its z in z_out. */
static void s_local_search(s_gp *g, const lab_planner_ctx *ctx, s_acq_ctx *c, nlopt_opt opt,
                           const double *z0, double *x_out, double *z_out)
{
    size_t d = g->d, nc = g->ncont;
    double xc[nc ? nc : 1], zfull[d], gfull[d], u0[d], u1[d], ut[d];
    memcpy(zfull, z0, d * sizeof *zfull);
    for (size_t i = 0; i < nc; i++)
        xc[i] = z0[g->cont[i]];
    if (nc && opt) {
        s_local l = {.c = c, .zfull = zfull, .gfull = gfull};
        nlopt_set_max_objective(opt, s_local_obj, &l);
        double f;
        nlopt_optimize(opt, xc, &f);
        for (size_t i = 0; i < nc; i++)
            zfull[g->cont[i]] = xc[i] < 0 ? 0 : xc[i] > 1 ? 1 : xc[i];
    }
    s_u_of_z(g, zfull, u1);
    lab_space_from_unit(ctx->space, u1, x_out);
    if (!lab_space_feasible(ctx->space, x_out)) {
        /* bisection towards the (feasible) start */
        s_u_of_z(g, z0, u0);
        double lo = 0.0, hi = 1.0;
        for (int it = 0; it < 40; it++) {
            double t = 0.5 * (lo + hi);
            for (size_t i = 0; i < d; i++)
                ut[i] = u0[i] + t * (u1[i] - u0[i]);
            lab_space_from_unit(ctx->space, ut, x_out);
            if (lab_space_feasible(ctx->space, x_out))
                lo = t;
            else
                hi = t;
        }
        for (size_t i = 0; i < d; i++)
            ut[i] = u0[i] + lo * (u1[i] - u0[i]);
        lab_space_from_unit(ctx->space, ut, x_out);
    }
    s_z_of_x(g, ctx->space, x_out, z_out);
}

/* Buffers and inputs of s_choose. */
typedef struct {
    size_t nc, b, n_avoid;
    s_ranked *rk;
    double *mu, *var;
    const double *avoid;
    const double *out;
    double *xbest, *zbest, *xt, *zt;
    nlopt_opt opt;
} s_choice;

/* Ranks the candidates by c's acquisition and runs the local searches from
 * the best usable ones; the winner goes to ch->xbest / ch->zbest. Returns 1
 * when a point was found, 0 when every candidate duplicates a pending, told
 * or already chosen point, < 0 on error. */
static int s_choose(s_gp *g, const lab_planner_ctx *ctx, s_acq_ctx *c, s_choice *ch)
{
    size_t d = g->d;
    int rc = s_score_candidates(c, ch->nc, ch->mu, ch->var);
    if (rc < 0)
        return rc;
    for (size_t j = 0; j < ch->nc; j++)
        ch->rk[j] = (s_ranked){isfinite(g->cscore[j]) ? g->cscore[j] : -1e300, j};
    qsort(ch->rk, ch->nc, sizeof *ch->rk, s_ranked_cmp);
    double best_a = -INFINITY;
    int found = 0;
    size_t starts = 0;
    for (size_t r = 0; r < ch->nc && starts < S_N_LOCAL; r++) {
        const double *z0 = g->cz + ch->rk[r].i * d;
        /* the start itself must be usable */
        s_u_of_z(g, z0, g->u);
        lab_space_from_unit(ctx->space, g->u, ch->xt);
        if (s_duplicate(ctx, ch->xt, ch->avoid, ch->n_avoid, ch->out, ch->b))
            continue;
        starts++;
        double a0 = s_acq_at(c, z0, NULL, NULL, NULL, NULL, NULL);
        if (a0 > best_a || !found) {
            best_a = a0, found = 1;
            memcpy(ch->xbest, ch->xt, d * sizeof *ch->xt);
            s_z_of_x(g, ctx->space, ch->xt, ch->zbest);
        }
        s_local_search(g, ctx, c, ch->opt, z0, ch->xt, ch->zt);
        double a1 = s_acq_at(c, ch->zt, NULL, NULL, NULL, NULL, NULL);
        if (a1 > best_a && !s_duplicate(ctx, ch->xt, ch->avoid, ch->n_avoid, ch->out, ch->b)) {
            best_a = a1;
            memcpy(ch->xbest, ch->xt, d * sizeof *ch->xt);
            memcpy(ch->zbest, ch->zt, d * sizeof *ch->zt);
        }
    }
    return found;
}

static void s_reason(const s_gp *g, char *buf, size_t n, const char *acq_name, double acq,
                     size_t n_meas, size_t n_fant, double p, size_t b, size_t k, int exploit)
{
    size_t d = g->d, used = 0;
    char shift[32] = "";
    if (g->batch_shift > 0.0)
        snprintf(shift, sizeof shift, ", batch prior +%.2g", g->batch_shift);
    int w = snprintf(buf, n, "gp %s=%.3g on %zu measured (%s%s%s%s) matern52 ls=[", acq_name, acq,
                     n_meas, g->fit_how, g->tf.delta > 0.0 ? ", log warp" : "",
                     n_fant ? ", kriging believer" : "", shift);
    used = w > 0 ? (size_t)w : 0;
    const double *th = g->gp.theta;
    if (d <= 6) {
        for (size_t i = 0; i < d && used < n; i++) {
            w = snprintf(buf + used, n - used, "%s%.2g", i ? " " : "", exp(th[i]));
            used += w > 0 ? (size_t)w : 0;
        }
    } else {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < d; i++)
            lo = fmin(lo, exp(th[i])), hi = fmax(hi, exp(th[i]));
        w = snprintf(buf + used, n - used, "%.2g..%.2g", lo, hi);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < n) {
        w = g->tr_len > 0 ? snprintf(buf + used, n - used, "] trust region %.3g", g->tr_len)
                          : snprintf(buf + used, n - used, "]");
        used += w > 0 ? (size_t)w : 0;
    }
    if (used < n)
        snprintf(buf + used, n - used, " sf2=%.3g sn2=%.2g%s p_ok=%.2f batch %zu/%zu%s",
                 exp(th[d]), exp(th[d + 1]), g->m > 1 ? " parego" : "", p, b + 1, k,
                 exploit == 2   ? " probe: min of mean - sd beside the best"
                 : exploit ? " exploit: min of the mean"
                           : "");
}

/* Several objectives: each objective's own GP (fitted on its measured
 * values, warm-started from its last fit) predicts it at the k chosen
 * points, in its units, so the provenance shows what the model expects of
 * every objective rather than of the ParEGO scalarisation that chose the
 * point. n: measured rows (their z in g->mz). */
static int s_objective_predictions(s_gp *g, const lab_planner_ctx *ctx, size_t n, size_t k,
                                   const double *xs, lab_ask_info *info, lab_err *err)
{
    const lab_planner_history *h = &ctx->hist;
    size_t d = g->d, nt = LAB_GP_THETA(d);
    double *y = malloc((n ? n : 1) * sizeof *y);
    if (!y)
        return lab_err_set(err, LAB_ENOMEM, "out of memory predicting the objectives");
    int rc = 0;
    for (size_t j = 0; j < g->m && rc == 0; j++) {
        double sgn = ctx->maximize[j] ? -1.0 : 1.0, mean = 0.0, var = 0.0;
        size_t i = 0;
        for (size_t r = 0; r < h->n && i < n; r++)
            if (h->outcome[r] == LAB_OUTCOME_MEASURED)
                y[i++] = sgn * h->y[r * h->m + j];
        for (i = 0; i < n; i++)
            mean += y[i] / (double)n;
        for (i = 0; i < n; i++)
            var += (y[i] - mean) * (y[i] - mean) / (double)(n > 1 ? n - 1 : 1);
        double sd = var > 0 ? sqrt(var) : 1.0;
        for (i = 0; i < n; i++)
            y[i] = (y[i] - mean) / sd;
        if ((rc = lab_gp_set_data(&g->og, n, g->mz, y, err)) < 0)
            break;
        double *th = g->obj_theta + j * nt;
        if (g->obj_have[j])
            memcpy(g->og.theta, th, nt * sizeof *th);
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed ^ S_STREAM_OBJ, (uint64_t)(n * LAB_PLANNER_MAX_OBJECTIVES + j));
        lab_gp_fit_opts o = {.n_starts = g->obj_have[j] ? 0 : 1, .max_evals = S_FIT_MAX_EVALS,
                             .warm = g->obj_have[j] ? th : NULL, .max_points = S_FIT_MAX_POINTS};
        if ((rc = lab_gp_fit(&g->og, &o, &rng, err)) < 0)
            break;
        memcpy(th, g->og.theta, nt * sizeof *th);
        g->obj_have[j] = 1;
        for (size_t b = 0; b < k; b++) {
            double mu, v;
            s_z_of_x(g, ctx->space, xs + b * d, g->z);
            lab_gp_predict(&g->og, g->z, &mu, &v, NULL, NULL);
            info[b].objective_mean[j] = sgn * (mean + sd * mu);
            info[b].objective_sd[j] = sd * sqrt(v > 0 ? v : 0.0);
        }
    }
    free(y);
    return rc;
}

/* The reason a scientist reads: what the acquisition expects, in the
 * objectives' units. best_o: the best measured value (one objective). */
static void s_readable(const s_gp *g, const lab_planner_ctx *ctx, lab_ask_info *in, int exploit,
                       double ei_o, double best_o, size_t n_pend, const double *w)
{
    char pred[200] = "";
    size_t used = 0;
    for (size_t j = 0; j < g->m && used < sizeof pred; j++) {
        int k = g->m == 1
                    ? snprintf(pred + used, sizeof pred - used, "predicted %.4g ± %.2g",
                               in->objective_mean[j], in->objective_sd[j])
                    : snprintf(pred + used, sizeof pred - used, "%s%s %.4g ± %.2g",
                               j ? ", " : "predicted ", ctx->objective_names[j],
                               in->objective_mean[j], in->objective_sd[j]);
        used += k > 0 ? (size_t)k : 0;
    }
    char tail[32] = "";
    /* A sure success says nothing a scientist needs in one line (the JSON
     * keeps p_success); a doubtful one is the reason's point. */
    if (isfinite(in->p_success) && in->p_success < 0.995)
        snprintf(tail, sizeof tail, "; p(success) %.2f", in->p_success);
    (void)n_pend; /* the model summary says "kriging believer": the reason stays short */
    const char *dir = ctx->maximize[0] ? "maximum" : "minimum";
    if (g->m > 1) {
        char ws[64] = "";
        size_t wu = 0;
        for (size_t j = 0; j < g->m && wu < sizeof ws; j++) {
            int k = snprintf(ws + wu, sizeof ws - wu, "%s%.2f", j ? ", " : "", w[j]);
            wu += k > 0 ? (size_t)k : 0;
        }
        snprintf(in->reason, sizeof in->reason,
                 "%s, trade-off weights %s: %s%s",
                 g->acq == LAB_ACQ_UCB ? "confidence bound" : "expected improvement", ws, pred,
                 tail);
    } else if (exploit == 2) {           /* short: a report shows it on two lines */
        snprintf(in->reason, sizeof in->reason, "probes beside the best so far (%.4g): %s%s", best_o, pred,
                 tail);
    } else if (exploit) {
        snprintf(in->reason, sizeof in->reason, "refines the predicted %s (best so far %.4g): %s%s", dir,
                 best_o, pred, tail);
    } else if (g->acq == LAB_ACQ_UCB) {
        snprintf(in->reason, sizeof in->reason,
                 "optimistic bound %.4g (best so far %.4g): %s%s", in->acquisition, best_o, pred,
                 tail);
    } else {
        snprintf(in->reason, sizeof in->reason, "expected improvement %.2g over the best %.4g: %s%s",
                 ei_o, best_o, pred, tail);
    }
}

static int s_random_fallback(s_gp *g, const lab_planner_ctx *ctx, size_t *index, size_t k,
                             const double *avoid, size_t n_avoid, double *out,
                             lab_ask_info *info, size_t n_meas, lab_err *err)
{
    size_t d = g->d;
    for (size_t i = 0; i < k; i++) {
        lab_rng rng;
        lab_rng_seed(&rng, ctx->seed ^ S_STREAM_CAND, (uint64_t)*index);
        size_t tries;
        double *x = out + i * d;
        for (tries = 0; tries < LAB_PLANNER_MAX_TRIES; tries++) {
            for (size_t c = 0; c < d; c++)
                g->u[c] = lab_rng_uniform(&rng);
            lab_space_from_unit(ctx->space, g->u, x);
            if (lab_space_feasible(ctx->space, x) &&
                !s_duplicate(ctx, x, avoid, n_avoid, out, i))
                break;
        }
        if (tries == LAB_PLANNER_MAX_TRIES)
            return lab_err_set(err, LAB_EAGAIN,
                               "no feasible point that is not already pending or told after %d "
                               "draws (proposal %zu)", LAB_PLANNER_MAX_TRIES, *index);
        if (info)
            snprintf(info[i].reason, sizeof info[i].reason,
                     "gp: %zu measured outcome%s, a model needs %d: random point %zu", n_meas,
                     n_meas == 1 ? "" : "s", S_MIN_POINTS, *index);
        (*index)++;
    }
    return 0;
}

static int s_gp_ask(void *impl, const lab_planner_ctx *ctx, size_t *index, size_t k,
                    const double *avoid, size_t n_avoid, double *out, lab_ask_info *info,
                    lab_err *err)
{
    s_gp *g = impl;
    size_t d = g->d;
    double w[LAB_PLANNER_MAX_OBJECTIVES] = {1.0};
    if (g->m > 1 && k > 1) {
        /* several objectives: every point of the batch gets its own
         * trade-off weights (its proposal number's), as it would one at a
         * time; the earlier points of the batch are pending for the later */
        double *av = malloc((n_avoid + k) * d * sizeof *av);
        if (!av)
            return lab_err_set(err, LAB_ENOMEM, "out of memory in a gp ask");
        if (n_avoid)
            memcpy(av, avoid, n_avoid * d * sizeof *av);
        int rc = 0;
        for (size_t b = 0; b < k && rc == 0; b++) {
            rc = s_gp_ask(impl, ctx, index, 1, av, n_avoid + b, out + b * d,
                          info ? info + b : NULL, err);
            memcpy(av + (n_avoid + b) * d, out + b * d, d * sizeof *av);
            /* the model summary names the point's place in the whole batch */
            char *at = info && rc == 0 ? strstr(info[b].model, " batch 1/1") : NULL;
            if (at) {
                char tail[sizeof info[b].model];
                snprintf(tail, sizeof tail, "%s", at + strlen(" batch 1/1"));
                snprintf(at, sizeof info[b].model - (size_t)(at - info[b].model),
                         " batch %zu/%zu%s", b + 1, k, tail);
            }
        }
        free(av);
        return rc;
    }
    if (g->m > 1) {
        lab_rng wr;
        lab_rng_seed(&wr, ctx->seed ^ S_STREAM_W, (uint64_t)*index);
        double s = 0.0;
        for (size_t j = 0; j < g->m; j++) {
            double u = lab_rng_uniform(&wr);
            w[j] = -log(u > 1e-300 ? u : 1e-300);
            s += w[j];
        }
        for (size_t j = 0; j < g->m; j++)
            w[j] /= s;
    }
    long nm = s_collect(g, ctx, w, err);
    if (nm < 0)
        return (int)nm;
    size_t n_meas = (size_t)nm;
    if (n_meas < S_MIN_POINTS)
        return s_random_fallback(g, ctx, index, k, avoid, n_avoid, out, info, n_meas, err);
    int rc = s_model(g, ctx, n_meas, w, err);
    if (rc < 0)
        return rc;
    int have_feas = s_feas_model(g, ctx, err);
    if (have_feas < 0)
        return have_feas;
    /* A synchronous batch (k > 1) below the trust-region dimension, one
     * objective, plain (unwarped) fit, no failures: its model's prior mean
     * sits S_BATCH_SHIFT deviations further above the data than one point
     * at a time (S_MEAN_SHIFT + S_BATCH_SHIFT), so the batch's points keep
     * closer to what was measured. The hyperparameters are those of the fit
     * (the targets are shifted after it), so one at a time is unchanged. */
    double bshift = 0.0;
    if (k > 1 && g->m == 1 && !have_feas && g->gp.n == n_meas && g->tf.delta <= 0.0 &&
        (S_TR_MIN_DIM == 0 || d < S_TR_MIN_DIM) && g->acq != LAB_ACQ_UCB)
        bshift = S_BATCH_SHIFT;
    int shifted = 0;

    double *mu = malloc(S_N_CAND * sizeof *mu), *var = malloc(S_N_CAND * sizeof *var);
    s_ranked *rk = malloc(S_N_CAND * sizeof *rk);
    nlopt_opt opt = g->ncont ? nlopt_create(NLOPT_LD_LBFGS, (unsigned)g->ncont) : NULL;
    double *xbest = malloc(d * sizeof *xbest), *zbest = malloc(d * sizeof *zbest);
    double *xt = malloc(d * sizeof *xt), *zt = malloc(d * sizeof *zt);
    double *tlo = malloc(2 * d * sizeof *tlo), *thi = tlo ? tlo + d : NULL;
    double *ysave = bshift > 0.0 ? malloc(n_meas * sizeof *ysave) : NULL;
    if (!mu || !var || !rk || (g->ncont && !opt) || !xbest || !zbest || !xt || !zt || !tlo ||
        (bshift > 0.0 && !ysave)) {
        rc = lab_err_set(err, LAB_ENOMEM, "out of memory in a gp ask");
        goto out;
    }
    int have_tr = s_trust_region(g, n_meas, lab_planner_default_initial(d), tlo, thi);
    if (opt) {
        s_set_bounds(g, opt, have_tr ? tlo : NULL, have_tr ? thi : NULL);
        nlopt_set_maxeval(opt, S_LOCAL_MAX_EVALS);
        nlopt_set_ftol_rel(opt, 1e-10);
        nlopt_set_xtol_rel(opt, 1e-8);
    }

    /* kriging believer: pending points (and earlier chunks) as fantasies */
    size_t n_fant = 0;
    for (size_t j = 0; j < n_avoid; j++) {
        s_z_of_x(g, ctx->space, avoid + j * d, zt);
        double fm, fv;
        lab_gp_predict(&g->gp, zt, &fm, &fv, NULL, NULL);
        if ((rc = lab_gp_append(&g->gp, zt, fm, err)) < 0)
            goto out;
        n_fant++;
    }
    size_t nc = s_candidates(g, ctx, *index, n_meas, have_tr ? tlo : NULL, have_tr ? thi : NULL);
    s_choice ch = {.nc = nc, .rk = rk, .mu = mu, .var = var, .avoid = avoid,
                   .n_avoid = n_avoid, .out = out, .xbest = xbest, .zbest = zbest, .xt = xt,
                   .zt = zt, .opt = opt};
    /* the batch's exploitation slots (proposal numbers 2, 5, 8, ... among
     * its numbers) come first: an EI point chosen earlier in the batch
     * usually lies in the basin of the mean's minimum and would veto the step */
    size_t n_exploit_slots = 0;
    for (size_t b = 0; b < k; b++)
        n_exploit_slots += (*index + b) % S_EXPLOIT_EVERY == S_EXPLOIT_EVERY - 1;
    /* a batch of two without such a number (k = 2 at numbers 0, 1 mod 3)
     * still gets one: otherwise it is two EI points in a row late in a
     * campaign where one at a time would have refined in between */
    if (k > 1 && n_exploit_slots == 0)
        n_exploit_slots = 1;
    int exploited_in_batch = 0, boxed = 0;
    int low_dim = S_TR_MIN_DIM == 0 || d < S_TR_MIN_DIM;
    int batch_local = k > 1 && low_dim && g->m == 1 && g->acq != LAB_ACQ_UCB;
    /* One point asked with points in flight (the orchestrator's
     * planner.batch: B refills one at a time, asking with the others
     * pending): the in-flight points and this one form a batch of
     * n_avoid + 1; every (n_avoid + 1)-th proposal number leads it (the mean's minimum when the model is sure of it, no
     * veto by the pending points, otherwise EI), the others are probes in
     * the box around the best measured point. See the file comment. */
    int async = k == 1 && n_avoid > 0 && low_dim && g->m == 1 && g->acq != LAB_ACQ_UCB;
    for (size_t b = 0; b < k; b++) {
        /* Below the trust-region dimension (one objective, EI/log-EI), a
         * batch's points 1..S_PROBE_N are probes even without an
         * exploitation step, and when the first point was not one they keep
         * to a box of S_BATCH_BOX length-scales either side of the best
         * measured point: what one at a time would spend on refining the
         * basin it knows between its EI points. See the file comment. */
        int a_lead = async && (*index) % (n_avoid + k) == 0, a_probe = async && !a_lead;
        if (async && a_probe != boxed) {
            if (a_probe)
                s_batch_box(g, n_meas, tlo, thi);
            ch.nc = nc = s_candidates(g, ctx, *index, n_meas, a_probe ? tlo : NULL,
                                      a_probe ? thi : NULL);
            s_set_bounds(g, opt, a_probe ? tlo : NULL, a_probe ? thi : NULL);
            boxed = a_probe;
        } else if (batch_local && b == 1 && !exploited_in_batch) {
            s_batch_box(g, n_meas, tlo, thi);
            ch.nc = nc = s_candidates(g, ctx, *index, n_meas, tlo, thi);
            s_set_bounds(g, opt, tlo, thi);
            boxed = 1;
        } else if (boxed && b == S_PROBE_N + 1) {
            ch.nc = nc = s_candidates(g, ctx, *index, n_meas, NULL, NULL);
            s_set_bounds(g, opt, NULL, NULL);
            boxed = 0;
        }
        if (bshift > 0.0 && !shifted) {
            memcpy(ysave, g->gp.y, n_meas * sizeof *ysave);
            for (size_t i = 0; i < g->gp.n; i++)
                g->gp.y[i] -= bshift;
            lab_gp_resolve(&g->gp);
            shifted = 1;
            g->batch_shift = bshift;
        }
        s_acq_ctx c = {.g = g, .have_feas = have_feas, .best = INFINITY,
                       .use_log = g->acq != LAB_ACQ_EI, .acq = g->acq, .beta = g->beta};
        for (size_t i = 0; i < g->gp.n; i++)
            c.best = g->gp.y[i] < c.best ? g->gp.y[i] : c.best;
        ch.b = b;
        /* every S_EXPLOIT_EVERY-th proposal (EI, log-EI): the minimum of the
         * posterior mean, when the model is sure of it; see the file comment */
        int probe = (g->acq != LAB_ACQ_UCB && S_PROBE_BETA > 0 && b >= 1 && b <= S_PROBE_N &&
                     (exploited_in_batch || batch_local)) || a_probe;
        int exploit = probe || a_lead || (!async && g->acq != LAB_ACQ_UCB && b < n_exploit_slots);
        int found = 0;
        if (exploit) {
            s_acq_ctx ce = c;
            ce.acq = LAB_ACQ_UCB;
            ce.beta = probe ? (low_dim ? S_PROBE_BETA : S_PROBE_BETA_TR) : 0.0;
            if ((rc = s_choose(g, ctx, &ce, &ch)) < 0) {
                lab_err_set(err, rc, "out of memory scoring candidates");
                goto out;
            }
            found = rc;
            if (found && !probe) {
                double pm, pv;
                lab_gp_predict(&g->gp, zbest, &pm, &pv, NULL, NULL);
                found = sqrt(pv) <= S_EXPLOIT_MAX_SD;
                /* a pending point (or one chosen earlier in this batch) near
                 * it already refines that basin: the fantasies leave the mean
                 * unchanged, so the same minimum would be proposed again */
                double sf2 = exp(g->gp.theta[d]);
                for (size_t i = n_meas; found && !a_lead && i < g->gp.n; i++)
                    found = lab_gp_kernel(&g->gp, g->gp.theta, zbest, g->gp.z + i * d) <=
                            S_EXPLOIT_MAX_CORR * sf2;
            }
            exploit = found ? (probe ? 2 : 1) : 0;
            exploited_in_batch |= found;
        }
        if (!found) {
            if ((rc = s_choose(g, ctx, &c, &ch)) < 0) {
                lab_err_set(err, rc, "out of memory scoring candidates");
                goto out;
            }
            found = rc;
        }
        if (!found) {
            rc = lab_err_set(err, LAB_EAGAIN,
                             "all %zu candidates duplicate pending or told points (proposal %zu); "
                             "ask again after a tell", nc, *index);
            goto out;
        }
        memcpy(out + b * d, xbest, d * sizeof *xbest);
        double pm, psd, pp, plain;
        double a = s_acq_at(&c, zbest, NULL, &pm, &psd, &pp, &plain);
        if (info) {
            double sgn = (g->m == 1 && ctx->maximize[0]) ? -1.0 : 1.0;
            double mean_o, sd_o, acq_o, lcb_o, lcb_sd;
            double pmr = shifted ? pm + bshift : pm;   /* the fit's own scale */
            s_tf_back(&g->tf, pmr, psd, &mean_o, &sd_o);
            s_tf_back(&g->tf, pmr - sqrt(g->beta) * psd, 0.0, &lcb_o, &lcb_sd);
            /* EI is reported on the model's (warped, standardised) scale */
            if (g->acq == LAB_ACQ_UCB)
                acq_o = sgn * lcb_o;
            else
                acq_o = a;
            info[b].acquisition = acq_o;
            if (c.have_feas)
                info[b].p_success = pp;
            if (g->m == 1) {
                info[b].predicted_mean = info[b].objective_mean[0] = sgn * mean_o;
                info[b].predicted_sd = info[b].objective_sd[0] = sd_o;
            }
            s_reason(g, info[b].model, sizeof info[b].model, lab_acq_name(g->acq), acq_o,
                     n_meas, n_fant + b, pp, b, k, exploit);
            double best_raw = INFINITY;
            for (size_t i = 0; i < n_meas; i++)
                best_raw = g->my[i] < best_raw ? g->my[i] : best_raw;
            double ei_o = s_ei_units(&g->tf, pmr, psd, shifted ? c.best + bshift : c.best);
            if (g->m == 1)
                s_readable(g, ctx, &info[b], exploit, ei_o, sgn * best_raw, n_fant + b, w);
        }
        (void)plain;
        if (b + 1 < k) {
            if ((rc = lab_gp_append(&g->gp, zbest, pm, err)) < 0)
                goto out;
        }
        (*index)++;
    }
    rc = 0;
    if (info && g->m > 1) {
        if ((rc = s_objective_predictions(g, ctx, n_meas, k, out, info, err)) < 0)
            goto out;
        for (size_t b = 0; b < k; b++)
            s_readable(g, ctx, &info[b], 0, NAN, NAN, n_fant + b, w);
    }
out:
    if (shifted) {
        g->batch_shift = 0.0;
        memcpy(g->gp.y, ysave, n_meas * sizeof *ysave);   /* exactly, not y - s + s */
        if (g->gp.n > n_meas)
            lab_gp_truncate(&g->gp, n_meas);
        else
            lab_gp_resolve(&g->gp);
    }
    lab_gp_truncate(&g->gp, g->model_ok ? g->model_n : n_meas);
    if (g->m > 1)
        g->model_ok = 0;
    if (opt)
        nlopt_destroy(opt);
    free(mu);
    free(var);
    free(rk);
    free(xbest);
    free(zbest);
    free(xt);
    free(zt);
    free(tlo);
    free(ysave);
    return rc;
}

const lab_planner_ops lab_planner_gp_ops = {
    .name = "gp",
    .new = s_gp_new,
    .tell = NULL,
    .ask = s_gp_ask,
    .destroy = s_gp_destroy,
    .fits_model = true,
};
