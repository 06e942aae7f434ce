/* Built-in test functions for the planner benchmark and tests: branin,
 * hartmann3, hartmann6, ackley5 (minimised, known optimum), branin_c
 * (branin with a linear constraint and a region where experiments fail) and
 * zdt1 (two objectives, known maximal hypervolume for a reference point), and
 * a broader suite, d = 2-10, shifted or rotated so that no optimum sits at
 * the centre of the box, a corner or a point of symmetry (names ending in _s
 * or _r), one with a failing region (hartmann6_f) and two-objective ones
 * (zdt1_s, zdt2_s).
 *
 * Planner-side on purpose: planners must not depend on sim/. Pure, static
 * data. Not for: simulating labs (sim/model.h has noise, devices, failures
 * with reasons).
 */
#ifndef LAB_TESTFUNCS_H
#define LAB_TESTFUNCS_H

#include <stddef.h>
#include "common/err.h"
#include "planners/space.h"

#define LAB_TESTFUNC_MAX_DIM 10

typedef struct lab_testfunc {
    const char *name;
    size_t d, m;                          /* inputs, objectives (all minimised) */
    double low[LAB_TESTFUNC_MAX_DIM], high[LAB_TESTFUNC_MAX_DIM];
    const char *constraint;               /* linear constraint text or NULL */
    double optimum;                       /* m = 1: minimum; m > 1: maximal hypervolume */
    double ref[3];                        /* m > 1: reference point of the hypervolume */
    /* y: m values. Returns 0, or 1 when the experiment fails at x (y NAN). */
    int (*eval)(const double *x, double *y);
    const char *about;
} lab_testfunc;

/* NULL-terminated names. */
const char *const *lab_testfunc_names(void);
/* The function called name, or NULL. */
const lab_testfunc *lab_testfunc_find(const char *name);
/* A new space x0..x{d-1} with the function's bounds and constraint; caller
 * destroys it. NULL with err set on failure. */
lab_space *lab_testfunc_space(const lab_testfunc *f, lab_err *err);

#endif
