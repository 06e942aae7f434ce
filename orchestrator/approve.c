/* The approval gate (campaign.approve: each): every proposal of the planner
 * waits as an experiment in state `proposed` until an operator approves it
 * (it joins the experiments in flight and its steps go out) or rejects it
 * (it ends `rejected`, is told to the planner as a failed outcome so a
 * model-based planner does not propose that point again, and uses no
 * budget: the planner is asked again and the queue refills). At most
 * planner.batch proposals wait at once (sched.c asks for no more).
 *
 * The hub holds a waiting proposal as an experiments row with status
 * 'proposed', so a restart puts it back on the waiting list without asking
 * the planner again (sched.c, resume).
 * Not for: the control request itself, roles and audit (control.c), the
 * CLI (cmd_control.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "orchestrator/orch_int.h"
#include "common/banned.h"

long lab_approve_used(const lab_camp *camp)
{
    return camp->n_exps - camp->rejected;
}

/* Room for one more in a list of experiments (*arr, n used of *cap). */
static int s_room(lab_exp ***arr, long n, long *cap)
{
    if (n < *cap)
        return 0;
    long c = *cap ? 2 * *cap : 8;
    lab_exp **a = realloc(*arr, (size_t)c * sizeof *a);
    if (!a)
        return -1;
    *arr = a;
    *cap = c;
    return 0;
}

int lab_approve_hold(lab_camp *camp, lab_exp *x)
{
    if (s_room(&camp->waiting, camp->n_waiting, &camp->cap_waiting) < 0)
        return -1;
    camp->waiting[camp->n_waiting++] = x;
    return 0;
}

static void s_unhold(lab_camp *camp, long i)
{
    lab_exp *x = camp->waiting[i];
    json_decref(x->prov);
    x->prov = NULL;
    memmove(&camp->waiting[i], &camp->waiting[i + 1], (size_t)(camp->n_waiting - i - 1) * sizeof *camp->waiting);
    camp->n_waiting--;
}

void lab_approve_cancel_waiting(lab_camp *camp, const char *reason)
{
    while (camp->n_waiting > 0) {
        lab_exp *x = camp->waiting[camp->n_waiting - 1];
        s_unhold(camp, camp->n_waiting - 1);
        x->state = LAB_EXP_CANCELLED;
        camp->cancelled++;
        if (lab_hub_set_experiment_status(camp->lab->hub, camp->campaign_id, x->seq, "cancelled", NULL, reason,
                                          lab_orch_now()) < 0)
            lab_orch_fatal(camp->lab, "recording an experiment");
        lab_camp_event(camp, "experiment.cancelled", x->id,
                       json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "reason", reason));
    }
}

static long s_find(const lab_camp *camp, long seq)
{
    for (long i = 0; i < camp->n_waiting; i++)
        if (camp->waiting[i]->seq == seq)
            return i;
    return -1;
}

static void s_approve(lab_camp *camp, long i, const char *by)
{
    lab_exp *x = camp->waiting[i];
    s_unhold(camp, i);
    x->state = LAB_EXP_RUNNING;
    /* Its steps go out once the commit holding 'running' is on disk. */
    x->committed = x->durable = 0;
    camp->active[camp->n_active++] = x;
    if (lab_hub_set_experiment_status(camp->lab->hub, camp->campaign_id, x->seq, "running", NULL, NULL,
                                      lab_orch_now()) < 0)
        lab_orch_fatal(camp->lab, "recording an experiment");
    lab_camp_event(camp, "experiment.approved", x->id,
                   json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "by", by));
}

static void s_reject(lab_camp *camp, long i, const char *by, const char *reason)
{
    lab_exp *x = camp->waiting[i];
    s_unhold(camp, i);
    x->state = LAB_EXP_REJECTED;
    camp->rejected++;
    char error[1200];
    snprintf(error, sizeof error, "rejected by %s%s%s", by, *reason ? ": " : "", reason);
    if (lab_hub_set_experiment_status(camp->lab->hub, camp->campaign_id, x->seq, "rejected", NULL, error,
                                      lab_orch_now()) < 0)
        lab_orch_fatal(camp->lab, "recording an experiment");
    lab_camp_event(camp, "experiment.rejected", x->id,
                   json_pack("{s:I, s:s, s:s}", "experiment", (json_int_t)x->seq, "by", by, "reason", reason));
    /* The planner hears of it as a failure at that point: a model of
     * feasibility steers away from it, and no planner counts it pending. */
    lab_sched_tell(camp, x, LAB_OUTCOME_FAILED);
}

const char *lab_approve_act(lab_camp *camp, int approve, const long *seqs, size_t n, const char *by,
                            const char *reason, char *why, size_t nwhy)
{
    const char *cmd = approve ? "approve" : "reject";
    if (!camp->cfg->approve_each) {
        snprintf(why, nwhy, "%s: campaign '%s' has no approval gate (campaign.approve: each in its config); its "
                 "proposals run without one", cmd, camp->cfg->name);
        return why;
    }
    if (n == 0) {
        snprintf(why, nwhy, "%s: name the experiments by number (labloop status lists those waiting)", cmd);
        return why;
    }
    /* Check every one first: all or nothing. */
    for (size_t k = 0; k < n; k++) {
        for (size_t j = 0; j < k; j++)
            if (seqs[j] == seqs[k]) {
                snprintf(why, nwhy, "%s: experiment %ld is named twice", cmd, seqs[k]);
                return why;
            }
        if (s_find(camp, seqs[k]) >= 0)
            continue;
        if (seqs[k] < 1 || seqs[k] > camp->n_exps)
            snprintf(why, nwhy, "%s: campaign '%s' has no experiment %ld (it has %ld); nothing was changed", cmd,
                     camp->cfg->name, seqs[k], camp->n_exps);
        else
            snprintf(why, nwhy, "%s: experiment %ld of campaign '%s' is not waiting for approval (it is %s); "
                     "nothing was changed", cmd, seqs[k], camp->cfg->name,
                     lab_approve_state_name(camp->exps[seqs[k] - 1]->state));
        return why;
    }
    if (approve)
        for (size_t k = 0; k < n; k++)
            if (s_room(&camp->active, camp->n_active + (long)k, &camp->cap_active) < 0) {
                snprintf(why, nwhy, "%s: out of memory", cmd);
                return why;
            }
    for (size_t k = 0; k < n; k++) {
        long i = s_find(camp, seqs[k]);
        if (approve)
            s_approve(camp, i, by);
        else
            s_reject(camp, i, by, reason ? reason : "");
    }
    lab_info("%s by %s: %zu experiment%s of campaign '%s'", cmd, by, n, n == 1 ? "" : "s", camp->cfg->name);
    return NULL;
}

const char *lab_approve_state_name(lab_exp_state s)
{
    switch (s) {
    case LAB_EXP_RUNNING: return "running";
    case LAB_EXP_MEASURED: return "measured";
    case LAB_EXP_FAILED: return "failed";
    case LAB_EXP_CANCELLED: return "cancelled";
    case LAB_EXP_PROPOSED: return "proposed";
    case LAB_EXP_REJECTED: return "rejected";
    }
    return "?";
}

json_t *lab_approve_queue_json(lab_camp *camp)
{
    json_t *q = json_array();
    for (long i = 0; q && i < camp->n_waiting; i++) {
        lab_exp *x = camp->waiting[i];
        json_t *e = json_pack("{s:I, s:o}", "experiment", (json_int_t)x->seq, "params",
                              lab_sched_params_json(camp, x->x));
        if (e && x->prov)
            json_object_set(e, "provenance", x->prov);
        json_array_append_new(q, e);
    }
    return q;
}

void lab_approve_free(lab_camp *camp)
{
    for (long i = 0; i < camp->n_waiting; i++) {
        json_decref(camp->waiting[i]->prov);
        camp->waiting[i]->prov = NULL;
    }
    free(camp->waiting);
    camp->waiting = NULL;
    camp->n_waiting = camp->cap_waiting = 0;
}
