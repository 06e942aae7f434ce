/* The search space of a campaign: named dimensions (real on a linear or log
 * scale, integer, categorical) and linear inequality constraints.
 *
 * A point is an array of doubles, one per dimension, in native units: the
 * real value, the integer as a double, or the index of a categorical choice.
 * Planners work in the unit cube; lab_space_from_unit/to_unit convert.
 * Pure computation: no I/O. Not thread-safe while being built; read-only use
 * afterwards may be shared between threads.
 */
#ifndef LAB_SPACE_H
#define LAB_SPACE_H

#include <stddef.h>
#include "common/err.h"

typedef enum { LAB_DIM_REAL, LAB_DIM_INTEGER, LAB_DIM_CATEGORICAL } lab_dim_type;

typedef struct lab_dim {
    char *name;
    lab_dim_type type;
    double low, high;        /* real/integer: inclusive bounds; categorical: 0, n-1 */
    int log_scale;           /* real only: sample uniformly in log(value) */
    char *unit;              /* may be NULL */
    char **choices;          /* categorical only */
    size_t n_choices;
} lab_dim;

/* sum_i coef[i] * x[i] <= bound, x in native units (categoricals have coef 0). */
typedef struct lab_constraint {
    double *coef;            /* one per dimension */
    double bound;
    char *text;              /* as written, for messages */
} lab_constraint;

typedef struct lab_space lab_space;

lab_space *lab_space_new(void);
void lab_space_destroy(lab_space **s);

/* Add dimensions. Names must be unique identifiers ([A-Za-z_][A-Za-z0-9_]*).
 * Return 0 or a negative lab_errno with err set (e.g. low >= high, log scale
 * with low <= 0, duplicate name, fewer than 2 choices). Strings are copied. */
int lab_space_add_real(lab_space *s, const char *name, double low, double high,
                       int log_scale, const char *unit, lab_err *err);
int lab_space_add_integer(lab_space *s, const char *name, long low, long high,
                          const char *unit, lab_err *err);
int lab_space_add_categorical(lab_space *s, const char *name, const char *const *choices,
                              size_t n_choices, lab_err *err);

/* Parse and add a linear constraint such as
 *   "cs_pb_ratio + 0.002 * temperature <= 1.9"   or  "a + b >= 0.5"
 * Terms: [number [*]] name, joined by + or -; one of <=, >=, <; a number on
 * the right (names may appear on both sides). Categorical dims may not appear.
 * Errors name the offending token and its column (0-based offset in err). */
int lab_space_add_constraint(lab_space *s, const char *expr, lab_err *err);

size_t lab_space_dims(const lab_space *s);
const lab_dim *lab_space_dim(const lab_space *s, size_t i);
/* Index of the dimension called name, or -1. */
int lab_space_find(const lab_space *s, const char *name);
size_t lab_space_n_constraints(const lab_space *s);
const lab_constraint *lab_space_constraint(const lab_space *s, size_t i);

/* u in [0,1]^d -> native point (integers rounded, categoricals to an index,
 * log dims exponentiated). */
void lab_space_from_unit(const lab_space *s, const double *u, double *x);
/* native point -> [0,1]^d. */
void lab_space_to_unit(const lab_space *s, const double *x, double *u);
/* 1 when x (native) is within bounds and satisfies every constraint. */
int lab_space_feasible(const lab_space *s, const double *x);
/* Format x[i] for display/JSON: "0.734", "3", "oleylamine". Returns buf. */
const char *lab_space_format(const lab_space *s, size_t i, double v, char *buf, size_t n);

#endif
