/* The planner interface: ask/tell, never a callback that runs experiments.
 *
 * A planner proposes points of a lab_space (native units, see space.h) and is
 * told outcomes. Deterministic given seed and the sequence of tells, so the
 * orchestrator rebuilds a planner on restart by re-telling history.
 * One thread at a time may use a planner. Pure computation: no I/O.
 */
#ifndef LAB_PLANNER_H
#define LAB_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"
#include "planners/space.h"

typedef enum { LAB_OUTCOME_MEASURED, LAB_OUTCOME_FAILED } lab_outcome;

#define LAB_PLANNER_MAX_OBJECTIVES 4

typedef struct lab_planner_opts {
    const char *kind;          /* "random", "sobol", "gp" */
    uint64_t seed;
    size_t n_objectives;       /* >= 1 */
    int maximize[LAB_PLANNER_MAX_OBJECTIVES]; /* 1 maximise, 0 minimise */
    const char *initial_kind;  /* initial design: "random", "sobol" or NULL; NULL with
                                * kind "gp": Sobol, lab_planner_default_initial(d) points */
    size_t initial_count;      /* points from the initial design before the model
                                * (0 with a kind given: none) */
    /* Model-based kinds ("gp"); zero/NULL means the default. */
    const char *acquisition;   /* "ei" (default), "log_ei", "ucb" */
    double ucb_beta;           /* ucb: mean - sqrt(beta) * sd on standardised data; 0: 4 */
    size_t gp_refit_every;     /* gp: above 100 measured points refit the hyperparameters
                                * every this many (0: 10); see planners/gp.c */
    /* Names of the objectives for the readable reason (NULL: "objective 1", ...).
     * Copied by lab_planner_new (at most 47 characters each). */
    const char *objective_names[LAB_PLANNER_MAX_OBJECTIVES];
} lab_planner_opts;

/* What the hub stores about why a point was chosen. */
typedef struct lab_ask_info {
    char origin[32];           /* "initial", "planner" */
    char reason[256];          /* one line for people, e.g. "sobol point 7 (scrambled,
                                * seed 42)" or "expected improvement 0.12 over the best
                                * 0.75: predicted 0.80 ± 0.06" */
    char model[256];           /* the raw model summary ("" when there is none), e.g.
                                * "gp ei=0.0785 on 12 measured (warm fit@12) matern52 ..." */
    double acquisition;        /* NAN when not applicable */
    double predicted_mean;     /* one objective: its predicted value in its units; NAN
                                * when not applicable (also with several objectives) */
    double predicted_sd;       /* NAN when not applicable */
    /* every objective's predicted value and deviation in its own units, NAN
     * when not applicable (n_objectives entries) */
    double objective_mean[LAB_PLANNER_MAX_OBJECTIVES];
    double objective_sd[LAB_PLANNER_MAX_OBJECTIVES];
    double p_success;          /* the failure model's p(success) there, NAN without one */
} lab_ask_info;

/* Points of the default initial design of a model-based planner in d
 * dimensions: max(10, 2(d + 1)). */
size_t lab_planner_default_initial(size_t d);

/* Names of the available kinds, NULL-terminated, for config checks/help. */
const char *const *lab_planner_kinds(void);

/* New planner over space (borrowed: must outlive the planner). NULL with err
 * set on an unknown kind or bad options. */
typedef struct lab_planner lab_planner;
lab_planner *lab_planner_new(const lab_space *space, const lab_planner_opts *opts,
                             lab_err *err);

/* Tell one outcome. x: native point (d values); y: n_objectives values
 * (ignored, may be NULL, when outcome is FAILED). Returns 0 or < 0. */
int lab_planner_tell(lab_planner *p, const double *x, const double *y, lab_outcome outcome);

/* Propose k points into out (k*d doubles, native units), each feasible.
 * pending: n_pending points still running (n_pending*d doubles) so proposals
 * differ from them. info: k entries, or NULL. Returns 0 or < 0: LAB_EAGAIN
 * when every candidate duplicates a pending point (ask again after a tell),
 * LAB_ECONFIG when the constraints leave no feasible point; details in
 * lab_planner_last_error(). */
int lab_planner_ask(lab_planner *p, size_t k, const double *pending, size_t n_pending,
                    double *out, lab_ask_info *info);

const char *lab_planner_name(const lab_planner *p);

/* Whether the planner's kind fits a model to what it was told, so that an
 * ask may take long enough to belong off an event loop. The initial design
 * that runs first does not change the answer. */
bool lab_planner_fits_model(const lab_planner *p);
void lab_planner_destroy(lab_planner **p);

/* The error behind the last failed tell/ask (code 0 when the last call
 * succeeded): tell and ask return only a code, this says why. Borrowed; valid
 * until the next call on p. */
const lab_err *lab_planner_last_error(const lab_planner *p);

/* Number of outcomes told so far. */
size_t lab_planner_n_told(const lab_planner *p);

#endif
