/* Acquisition functions of the "gp" planner, on a posterior N(mu, sd^2) of a
 * quantity to be MINIMISED (the planner flips maximised objectives): expected
 * improvement, its logarithm computed stably far in the tail (Ament et al.,
 * "Unexpected improvements to expected improvement", 2023) and the lower
 * confidence bound written as a quantity to maximise (-(mu - sqrt(beta) sd)).
 * Each returns the value and, when the pointers are not NULL, its partial
 * derivatives with respect to mu and sd.
 *
 * Pure functions, internal to planners/. Not for: optimising them (gp.c).
 */
#ifndef LAB_ACQUISITION_H
#define LAB_ACQUISITION_H

typedef enum { LAB_ACQ_EI, LAB_ACQ_LOG_EI, LAB_ACQ_UCB } lab_acq_kind;

/* "ei", "log_ei" (also "logei", "log-ei"), "ucb" -> kind; -1 when unknown. */
int lab_acq_parse(const char *name);
/* Canonical name of a kind. */
const char *lab_acq_name(lab_acq_kind k);

/* EI = E[max(best - f, 0)], f ~ N(mu, sd^2), sd > 0. */
double lab_acq_ei(double mu, double sd, double best, double *dmu, double *dsd);
/* log EI, finite for any u = (best - mu)/sd (about -u^2/2 far in the tail). */
double lab_acq_log_ei(double mu, double sd, double best, double *dmu, double *dsd);
/* -(mu - sqrt(beta) sd). */
double lab_acq_ucb(double mu, double sd, double beta, double *dmu, double *dsd);

/* Standard normal density, distribution and log distribution (stable tails). */
double lab_acq_phi(double u);
double lab_acq_Phi(double u);

#endif
