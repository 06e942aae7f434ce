/* Ground-truth models of the simulated lab.
 *
 * A lab_model maps a point of an experiment's input space to the outputs an
 * instrument would measure there: the analytic optimisation benchmarks
 * (Branin, Hartmann-3, Hartmann-6) and "nanocrystal_pl", a smooth,
 * materials-flavoured emulator of CsPbBr3 nanocrystal synthesis with an
 * infeasible region where synthesis fails. Measurements carry seeded gaussian
 * noise; the noise-free truth and the known optimum are available for tests
 * and for the demo's "true optimum" line.
 *
 * This is pure computation: no I/O, no clocks, no global mutable state. It is
 * not a device simulator (step durations, faults and sockets live elsewhere in
 * sim/) and not a planner. A model is not thread-safe (eval advances its own
 * PRNG); use one model per thread, or lab_model_truth, which is read-only.
 */
#ifndef LAB_SIM_MODEL_H
#define LAB_SIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct lab_model lab_model;

/* One input dimension. Continuous inputs take values in [low, high].
 * Categorical inputs take the index (0 .. n_choices-1) of one of choices, and
 * low/high are 0 and n_choices-1. Integer-valued inputs (nanocrystal_pl's
 * "washes") are continuous here with integer bounds; eval rounds them to the
 * nearest integer. All strings are static and owned by the model library. */
typedef struct lab_model_input {
    const char *name;
    int categorical;                /* 1 for categorical, else 0 */
    double low, high;
    const char *const *choices;     /* categorical only, else NULL */
    size_t n_choices;               /* categorical only, else 0 */
    const char *unit;               /* "" when dimensionless */
} lab_model_input;

/* NULL-terminated list of the model kinds:
 * "branin", "hartmann3", "hartmann6", "nanocrystal_pl". Static; never NULL. */
const char *const *lab_model_kinds(void);

/* Creates a model of the given kind. noise is the relative standard deviation
 * of measurement noise (0 = exact): each output gets gaussian noise with
 * sd = noise * scale, where scale is the output's characteristic size
 * (branin 10, hartmann 1, quantum_yield 1, fwhm_nm 20 nm). seed fixes the
 * model's PRNG, so two models with equal kind, noise and seed measure the same
 * sequence. Returns the model (caller destroys it) or NULL with err set:
 * LAB_ENOTFOUND for an unknown kind (the message lists the kinds), LAB_EINVAL
 * for negative or non-finite noise, LAB_ENOMEM. */
lab_model *lab_model_new(const char *kind, double noise, uint64_t seed, lab_err *err);

/* Frees *m and sets *m to NULL. NULL-safe and idempotent. */
void lab_model_destroy(lab_model **m);

/* Number of inputs, and input i (i < n_inputs); the pointer lives as long as
 * the library (static data). */
size_t lab_model_n_inputs(const lab_model *m);
const lab_model_input *lab_model_input_at(const lab_model *m, size_t i);

/* Number of outputs, the name of output i ("value", "quantum_yield",
 * "fwhm_nm"; static string) and whether it is to be maximised (1) or
 * minimised (0). */
size_t lab_model_n_outputs(const lab_model *m);
const char *lab_model_output_name(const lab_model *m, size_t i);
int lab_model_output_maximize(const lab_model *m, size_t i);

/* Measures the model at x (n_inputs values, categorical as index) into y
 * (n_outputs values), with noise drawn from the model's own PRNG;
 * quantum_yield is clipped to [0, 1] and fwhm_nm to >= 0.
 * Returns 0; LAB_EDRIVER when the synthesis fails at x (y is set to NAN and
 * why, if why_len > 0, gets a short physical reason such as
 * "precursor precipitated: no nanocrystals formed"); LAB_EINVAL when x is
 * outside the input box, not finite, or names no choice (why says which).
 * On success why is set to "". Does not draw noise on failure. */
int lab_model_eval(lab_model *m, const double *x, double *y, char *why, size_t why_len);

/* The noise-free value at x, with no randomness and no change to m.
 * Returns 0, LAB_EDRIVER at an infeasible x (y set to NAN) or LAB_EINVAL
 * for an x outside the box. */
int lab_model_truth(const lab_model *m, const double *x, double *y);

/* The known optimum of output 0 (minimum for the analytic functions, maximum
 * quantum_yield for nanocrystal_pl) into *y0 and a point achieving it into x
 * (n_inputs values). For nanocrystal_pl it is computed numerically once, in
 * lab_model_new, and cached. Returns 0. */
int lab_model_optimum(const lab_model *m, double *x, double *y0);

#endif
