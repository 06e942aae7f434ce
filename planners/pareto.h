/* Pareto fronts and hypervolumes for 2 or 3 objectives, all MINIMISED (flip
 * the sign of maximised objectives first). Used by the "gp" planner's report,
 * the benchmark (hypervolume gap) and tests.
 *
 * Pure functions, no allocation visible to the caller. Not for: more than 3
 * objectives (hypervolume), or choosing points.
 */
#ifndef LAB_PARETO_H
#define LAB_PARETO_H

#include <stddef.h>

/* Marks in front[i] (n entries) 1 when row i of y (n rows of m values) is not
 * dominated by any other row (ties: the first of equal rows is kept, later
 * copies get 0), else 0. Returns the number of non-dominated rows. */
size_t lab_pareto_front(size_t n, size_t m, const double *y, unsigned char *front);

/* Hypervolume dominated by the n points of y (m = 2 or 3) and bounded by the
 * reference point ref (m values); points not strictly better than ref in
 * every objective contribute nothing. Returns the volume, or -1 for m outside
 * 2..3 or out of memory. O(n log n) for m = 2, O(n^2 log n) for m = 3. */
double lab_pareto_hypervolume(size_t n, size_t m, const double *y, const double *ref);

#endif
