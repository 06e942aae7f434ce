/* Gaussian-process regression for the "gp" planner: Matérn-5/2 kernel with
 * one length-scale per dimension (ARD), signal variance and a noise term;
 * hyperparameters by maximum a-posteriori marginal likelihood (analytic
 * gradients, L-BFGS from several starts via NLopt); Cholesky factor and solves
 * through LAPACK/BLAS, with jitter on near-singular matrices; rank-1 Cholesky
 * append for new points at fixed hyperparameters (incremental path and
 * kriging-believer fantasies).
 *
 * Inputs are "z" vectors: unit-cube coordinates for real and integer
 * dimensions, the choice index for categorical ones. A categorical dimension
 * contributes [a != b] / l^2 to the squared distance (a scaled one-hot
 * embedding, so the kernel stays positive definite). Targets are whatever
 * the caller gives (the planner standardises them first).
 *
 * Internal to planners/ (and its unit tests). Not for: choosing points
 * (acquisition.h, gp.c), spaces, I/O. One thread per lab_gp. Pure computation
 * apart from OpenBLAS's own thread pool.
 */
#ifndef LAB_GP_MODEL_H
#define LAB_GP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "planners/rng.h"

/* Hyperparameter vector theta (length d + 2), all logs:
 * theta[0..d-1] = log length-scales, theta[d] = log signal variance,
 * theta[d+1] = log noise variance. */
#define LAB_GP_THETA(d) ((d) + 2)

/* Bounds and log-normal priors of the hyperparameters (in log space). */
typedef struct lab_gp_prior {
    double ls_lo, ls_hi, ls_mean, ls_sd;       /* log length-scale */
    double sf2_lo, sf2_hi, sf2_mean, sf2_sd;   /* log signal variance */
    double sn2_lo, sn2_hi, sn2_mean, sn2_sd;   /* log noise variance */
} lab_gp_prior;

/* The defaults used by the planner (see gp_model.c for the reasoning). */
lab_gp_prior lab_gp_prior_default(void);

typedef struct lab_gp {
    size_t d, n, cap;
    unsigned char *cat;     /* d flags: 1 = categorical */
    double *z;              /* cap * d, row i at z + i*d */
    double *y;              /* cap targets */
    double *theta;          /* d + 2 */
    double *L;              /* cap * cap, column-major lower Cholesky of K, ld = cap */
    double *alpha;          /* cap: K^-1 y */
    double jitter;          /* added to the diagonal by the last factorisation */
    int factored;           /* L and alpha match z, y, theta */
    lab_gp_prior prior;
    /* scratch */
    double *w1, *w2;        /* cap each */
    double *work;           /* cap * cap (likelihood) */
    double *ework;          /* cap * cap (likelihood gradient factors) */
    size_t n_evals;         /* likelihood evaluations by the last fit */
} lab_gp;

/* d dimensions, cat: d flags (NULL: all continuous). Returns 0 or LAB_ENOMEM. */
int lab_gp_init(lab_gp *gp, size_t d, const unsigned char *cat, lab_err *err);
void lab_gp_release(lab_gp *gp);

/* Replace the data by n points (z: n*d, y: n). Keeps theta. 0 or LAB_ENOMEM. */
int lab_gp_set_data(lab_gp *gp, size_t n, const double *z, const double *y, lab_err *err);

/* k(a, b) under theta (signal variance included, no noise). */
double lab_gp_kernel(const lab_gp *gp, const double *theta, const double *a, const double *b);
/* Gradient of k(a, b) with respect to theta (d + 2 entries; the noise entry
 * is 0) into dtheta, and with respect to a (d entries, 0 for categorical
 * dims) into da; either may be NULL. Returns k(a, b). */
double lab_gp_kernel_grad(const lab_gp *gp, const double *theta, const double *a,
                          const double *b, double *dtheta, double *da);

/* Negative log marginal likelihood minus log prior of the current data at
 * theta, and its gradient (d + 2, may be NULL). +INFINITY when K cannot be
 * factored even with jitter. */
double lab_gp_nll(lab_gp *gp, const double *theta, double *grad);

/* Cholesky of the symmetric n x n matrix A (column-major, lda; both
 * triangles filled). On failure retries with jitter growing from 1e-10 to
 * 1e-2 times the mean diagonal (restoring A from its upper triangle each
 * time). On success the lower triangle holds L, *jitter the amount added.
 * Returns 0 or -1 when even the largest jitter fails (A's lower part is then
 * garbage). */
int lab_gp_chol(size_t n, double *A, size_t lda, double *jitter);

/* Fitting options. */
typedef struct lab_gp_fit_opts {
    size_t n_starts;        /* random starts drawn from the prior, besides warm/default */
    size_t max_evals;       /* per start */
    const double *warm;     /* previous theta or NULL */
    size_t max_points;      /* fit on at most this many points (0: all); see gp_model.c */
} lab_gp_fit_opts;

/* Fit theta (MAP) on the current data, then factor. rng: seeded by the
 * caller, used for the random starts and the subset. Returns 0 or < 0. */
int lab_gp_fit(lab_gp *gp, const lab_gp_fit_opts *o, lab_rng *rng, lab_err *err);

/* Factor K with the current theta and data (L, alpha). 0 or < 0. */
int lab_gp_factor(lab_gp *gp, lab_err *err);

/* Add one point at fixed theta: rank-1 Cholesky append, O(n^2). Requires a
 * factored model. 0 or < 0. */
int lab_gp_append(lab_gp *gp, const double *z, double y, lab_err *err);

/* Drop points n.. (undoing appends): the leading block of L is unchanged, so
 * only alpha is recomputed. */
void lab_gp_truncate(lab_gp *gp, size_t n);

/* Recompute alpha = K^-1 y from L (after changing y in place). */
void lab_gp_resolve(lab_gp *gp);

/* Posterior mean and variance (latent, without noise) at z; with gradients
 * with respect to z into dmu, dvar (d entries each) when not NULL. */
void lab_gp_predict(lab_gp *gp, const double *z, double *mu, double *var, double *dmu,
                    double *dvar);

/* Posterior mean and variance at m points (z: m*d). Uses BLAS-3 blocks. */
int lab_gp_predict_many(lab_gp *gp, size_t m, const double *z, double *mu, double *var);

#endif
