/* A campaign's workflow: the step DAG as index arrays (workflow.h). */
#include <stdlib.h>
#include <string.h>

#include "orchestrator/workflow.h"
#include "common/banned.h"

void lab_workflow_destroy(lab_workflow **wfp)
{
    if (!wfp || !*wfp)
        return;
    lab_workflow *wf = *wfp;
    *wfp = NULL;
    for (size_t s = 0; wf->steps && s < wf->n_steps; s++) {
        free(wf->steps[s].pred);
        free(wf->steps[s].succ);
    }
    free(wf->steps);
    free(wf->order);
    free(wf->objective_step);
    free(wf);
}

int lab_workflow_find(const lab_workflow *wf, const char *name, size_t len)
{
    for (size_t s = 0; s < wf->n_steps; s++)
        if (wf->steps[s].name_len == len && memcmp(wf->steps[s].name, name, len) == 0)
            return (int)s;
    return -1;
}

int lab_workflow_follows(const lab_workflow *wf, size_t b, size_t s)
{
    const lab_workflow_step *st = &wf->steps[b];
    for (size_t k = 0; k < st->n_pred; k++)
        if (st->pred[k] == s)
            return 1;
    return 0;
}

/* Kahn's algorithm, taking the lowest config index among the ready steps
 * each time (the order is then the config's wherever the DAG allows). */
static int s_order(lab_workflow *wf, lab_err *err)
{
    size_t n = wf->n_steps;
    size_t *left = calloc(n ? n : 1, sizeof *left);
    if (!left)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    for (size_t s = 0; s < n; s++)
        left[s] = wf->steps[s].n_pred;
    for (size_t k = 0; k < n; k++) {
        size_t pick = n;
        for (size_t s = 0; s < n && pick == n; s++)
            if (left[s] == 0)
                pick = s;
        if (pick == n) {
            free(left);
            return lab_err_set(err, LAB_ECONFIG, "the workflow's steps follow each other in a circle");
        }
        wf->order[k] = pick;
        left[pick] = (size_t)-1;             /* placed */
        for (size_t j = 0; j < wf->steps[pick].n_succ; j++)
            left[wf->steps[pick].succ[j]]--;
    }
    free(left);
    return 0;
}

lab_workflow *lab_workflow_new(const lab_campaign_cfg *cfg, lab_err *err)
{
    lab_workflow *wf = calloc(1, sizeof *wf);
    size_t n = cfg->n_steps;
    if (!wf)
        goto oom;
    wf->n_steps = n;
    wf->n_objectives = cfg->n_objectives;
    wf->steps = calloc(n ? n : 1, sizeof *wf->steps);
    wf->order = calloc(n ? n : 1, sizeof *wf->order);
    wf->objective_step = calloc(cfg->n_objectives ? cfg->n_objectives : 1, sizeof *wf->objective_step);
    if (!wf->steps || !wf->order || !wf->objective_step)
        goto oom;
    for (size_t s = 0; s < n; s++) {
        lab_workflow_step *st = &wf->steps[s];
        st->name = cfg->steps[s].name;
        st->name_len = strlen(st->name);
        st->within_s = cfg->steps[s].within_s;
        st->pred = calloc(cfg->steps[s].n_after ? cfg->steps[s].n_after : 1, sizeof *st->pred);
        st->succ = calloc(n, sizeof *st->succ);
        if (!st->pred || !st->succ)
            goto oom;
    }
    for (size_t s = 0; s < n; s++) {
        const lab_cfg_step *cs = &cfg->steps[s];
        for (size_t k = 0; k < cs->n_after; k++) {
            int p = lab_workflow_find(wf, cs->after[k], strlen(cs->after[k]));
            if (p < 0) {
                lab_err_set(err, LAB_ECONFIG, "step '%s' follows '%s', which is not a step", cs->name, cs->after[k]);
                goto fail;
            }
            if (lab_workflow_follows(wf, s, (size_t)p))
                continue;                    /* named twice */
            wf->steps[s].pred[wf->steps[s].n_pred++] = (size_t)p;
        }
    }
    for (size_t b = 0; b < n; b++)           /* successors in config order */
        for (size_t k = 0; k < wf->steps[b].n_pred; k++) {
            lab_workflow_step *p = &wf->steps[wf->steps[b].pred[k]];
            p->succ[p->n_succ++] = b;
        }
    for (size_t k = 0; k < cfg->n_objectives; k++) {
        const char *from = cfg->objectives[k].from_step;
        wf->objective_step[k] = from ? lab_workflow_find(wf, from, strlen(from)) : -1;
    }
    if (s_order(wf, err) < 0)
        goto fail;
    return wf;
oom:
    lab_err_set(err, LAB_ENOMEM, "out of memory");
fail:
    lab_workflow_destroy(&wf);
    return NULL;
}
