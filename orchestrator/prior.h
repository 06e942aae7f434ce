/* Warm start: earlier experiments a campaign's planner is told before its
 * first ask (config `prior: {csv: FILE}` or `prior: {hub: FILE, campaign:
 * NAME}`). They are read in full and checked against the campaign's space
 * and objectives (names, units, bounds, choices) before anything runs; the
 * orchestrator tells them to the planner on every start and records them in
 * the hub with origin "prior" (seq 0, -1, ... so they never count against the
 * budget or the campaign's own numbering).
 * Not for: telling the planner or writing the hub (orch.c does both).
 */
#ifndef LAB_PRIOR_H
#define LAB_PRIOR_H

#include <stddef.h>

#include "common/err.h"
#include "orchestrator/config.h"

typedef struct lab_prior {
    size_t n, d, m;
    double *x;               /* n * d, native units (categorical: choice index) */
    double *y;               /* n * m, NAN where failed */
    unsigned char *failed;   /* n */
    char source[600];        /* "FILE" or "FILE campaign NAME", for messages and provenance */
} lab_prior;

/* Reads the prior named by cfg into p (zeroed first). Returns 0 with p->n = 0
 * when cfg names none; < 0 with err set (file, line and what is wrong) on a
 * missing file, an unknown or missing column, a unit that differs from the
 * config's, a value outside the space or a measured row without every
 * objective. Release p with lab_prior_release. */
int lab_prior_load(const lab_campaign_cfg *cfg, lab_prior *p, lab_err *err);
void lab_prior_release(lab_prior *p);

#endif
