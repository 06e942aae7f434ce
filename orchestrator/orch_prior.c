/* Warm start in the orchestrator: the prior's experiments (prior.h) are told
 * to the planner before its first ask, on every start, before the campaign's
 * own history, so a rebuilt planner sees the same sequence; a new campaign
 * also records them in its hub with origin "prior" and seq 0, -1, -2, ...
 * (they never count against the budget, and resume skips them: they are told
 * from the prior itself).
 * Not for: reading CSV files or other hubs (prior.c).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/orch_int.h"
#include "orchestrator/prior.h"
#include "common/banned.h"

int lab_orch_prior_tell(lab_camp *camp, lab_err *err)
{
    lab_prior p;
    int rc = lab_prior_load(camp->cfg, &p, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < p.n && rc == 0; i++) {
        rc = lab_planner_tell(camp->planner, p.x + i * p.d, p.failed[i] ? NULL : p.y + i * p.m,
                              p.failed[i] ? LAB_OUTCOME_FAILED : LAB_OUTCOME_MEASURED);
        if (rc < 0)
            lab_err_set(err, rc, "telling the prior's experiment %zu to the planner: %s", i + 1,
                        lab_planner_last_error(camp->planner)->msg);
    }
    if (rc == 0 && p.n && camp->lab->opts.progress)
        fprintf(camp->lab->opts.progress, "prior: %zu earlier experiments told to the planner (%s)\n", p.n,
                p.source);
    lab_prior_release(&p);
    return rc;
}

int lab_orch_prior_record(lab_camp *camp, int64_t now, lab_err *err)
{
    lab_prior p;
    int rc = lab_prior_load(camp->cfg, &p, err);
    if (rc < 0 || p.n == 0)
        return rc;
    size_t n_failed = 0;
    for (size_t i = 0; i < p.n && rc == 0; i++) {
        int64_t seq = (int64_t)i - (int64_t)p.n + 1;
        json_t *params = lab_sched_params_json(camp, p.x + i * p.d);
        json_t *prov = json_pack("{s:s, s:s, s:I}", "planner", "prior", "source", p.source, "row",
                                 (json_int_t)(i + 1));
        json_t *objs = json_object();
        for (size_t k = 0; !p.failed[i] && k < p.m; k++)
            json_object_set_new(objs, camp->cfg->objectives[k].name, json_real(p.y[i * p.m + k]));
        char *pjs = json_dumps(params, JSON_COMPACT), *vjs = json_dumps(prov, JSON_COMPACT);
        char *ojs = json_dumps(objs, JSON_COMPACT);
        n_failed += p.failed[i];
        if (!pjs || !vjs || !ojs ||
            lab_hub_record_experiment(camp->lab->hub, camp->campaign_id, seq, pjs, "prior", vjs,
                                      "proposed", now) < 0 ||
            lab_hub_set_experiment_status(camp->lab->hub, camp->campaign_id, seq,
                                          p.failed[i] ? "failed" : "measured",
                                          p.failed[i] ? NULL : ojs,
                                          p.failed[i] ? "failed in the prior" : NULL, now) < 0)
            rc = lab_err_set(err, LAB_EDB, "recording the prior in %s: %s", camp->lab->db_path,
                             lab_hub_errmsg(camp->lab->hub));
        free(pjs);
        free(vjs);
        free(ojs);
        json_decref(params);
        json_decref(prov);
        json_decref(objs);
    }
    if (rc == 0)
        lab_camp_event(camp, LAB_EV_CAMPAIGN_PRIOR, camp->cfg->name,
                       json_pack("{s:s, s:I, s:I}", "source", p.source, "experiments",
                                 (json_int_t)p.n, "failed", (json_int_t)n_failed));
    lab_prior_release(&p);
    return rc;
}
