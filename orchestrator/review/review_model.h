/* What the planner saw, for the report and the dashboard: a Gaussian-process
 * surrogate refitted on the campaign's stored history (the planner library's
 * own GP, so the same kernel and priors), its predicted mean and deviation
 * along each parameter through the best experiment and per category; how
 * often each region and category was tried, by origin, and which ones look
 * under-explored; and a readable sentence for why an experiment was chosen.
 *
 * For: review_html.c. Not for: choosing experiments (planners/), SQL.
 * Pure computation on a lab_review; deterministic (seeded by the campaign).
 */
#ifndef LAB_REVIEW_MODEL_H
#define LAB_REVIEW_MODEL_H
#include <stddef.h>
#include "orchestrator/review/review.h"

#define LAB_REVIEW_MODEL_GRID 41     /* points along a real parameter */
#define LAB_REVIEW_MODEL_BINS 5      /* equal parts of a numeric range, for coverage */

typedef struct lab_review_slice {
    size_t n;                        /* points along the parameter */
    double x[LAB_REVIEW_MODEL_GRID]; /* native value (categorical: choice index) */
    double mu[LAB_REVIEW_MODEL_GRID], sd[LAB_REVIEW_MODEL_GRID]; /* first objective, its units */
} lab_review_slice;

typedef struct lab_review_model {
    int ok;                          /* 1: fitted; else why not in note */
    char note[256];
    size_t n_fit;                    /* measured experiments it was fitted on */
    long through;                    /* index into r->exps of the best (the slices' anchor) */
    lab_review_slice *slices;        /* per parameter (n_params), when ok */
} lab_review_model;

/* Fit on r's measured experiments (first objective) and compute the slices.
 * Always fills m (m->ok 0 with a note when there is too little data or no
 * parsed config); release with lab_review_model_release. */
void lab_review_model_fit(const lab_review *r, lab_review_model *m);
void lab_review_model_release(lab_review_model *m);

/* Coverage of one parameter: experiments per category (categorical) or per
 * bin of its range, split by origin. */
typedef struct lab_review_cover {
    size_t n;                        /* categories or bins */
    long total[64], planner[64], initial[64];
    double lo[64], hi[64];           /* bins: native bounds */
} lab_review_cover;
void lab_review_coverage(const lab_review *r, size_t pi, lab_review_cover *c);

/* One line per under-explored category or region ("ligand dodecylamine:
 * tried 3 times, all in the initial design; the planner never chose it"),
 * written as <li> items by the caller's fn. Returns how many. */
typedef void (*lab_review_flag_fn)(const char *text, void *arg);
size_t lab_review_flags(const lab_review *r, const lab_review_model *m, lab_review_flag_fn fn, void *arg);

/* Why experiment e was chosen, in words, into buf: the planner's readable
 * reason when it stored one ("why" or "explanation"), else one made from
 * what it stored (initial design, acquisition value, prediction with the
 * objective's unit, how many experiments the model had seen). */
const char *lab_review_reason(const lab_review *r, const lab_review_exp *e, char *buf, size_t n);

#endif
