/* A campaign's workflow: its steps as a DAG of indices, built once from the
 * config, so that scheduling never looks a step up by name.
 *
 * Steps keep their config index (0 .. n_steps - 1). For each step: the
 * indices of the steps it follows (pred) and of the steps that follow it
 * (succ); whether it must start 'within' a time of its predecessors; and a
 * topological order of all steps. Objectives name the step whose value they
 * read: that index too. An attempt id names its step, so reading one back
 * needs a name look-up: lab_workflow_find, by length and bytes.
 * Pure data: no clock, no I/O.
 * Not for: what state an experiment's steps are in (campaign.c).
 */
#ifndef LAB_WORKFLOW_H
#define LAB_WORKFLOW_H

#include <stddef.h>
#include "common/err.h"
#include "orchestrator/config.h"

typedef struct lab_workflow_step {
    const char *name;
    size_t name_len;
    size_t *pred, n_pred;           /* steps it follows (its 'after'), in config order */
    size_t *succ, n_succ;           /* steps that follow it, in config order */
    double within_s;                /* must start within this of its predecessors (0: no limit) */
} lab_workflow_step;

typedef struct lab_workflow {
    lab_workflow_step *steps;       /* by config index */
    size_t n_steps;
    size_t *order;                  /* a topological order: every step after its predecessors */
    int *objective_step;            /* per objective: the step its value comes from (-1: none) */
    size_t n_objectives;
} lab_workflow;

/* The workflow of cfg's steps and objectives. NULL with err set when a
 * step follows one that does not exist, the steps form a cycle, or out of
 * memory (a loaded config has neither of the first two). */
lab_workflow *lab_workflow_new(const lab_campaign_cfg *cfg, lab_err *err);
void lab_workflow_destroy(lab_workflow **wf);

/* The index of the step named by the len bytes at name, or -1. */
int lab_workflow_find(const lab_workflow *wf, const char *name, size_t len);

/* Does step b follow step s directly (s is one of b's predecessors)? */
int lab_workflow_follows(const lab_workflow *wf, size_t b, size_t s);

#endif
