/* Extending a campaign that has ended (see extend.h). */
#include "orchestrator/extend.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orchestrator/events.h"

#include "common/clock.h"
#include "orchestrator/control_req.h"
#include "orchestrator/hub/hub.h"
#include "common/banned.h"

/* The campaign's status in the hub, read-only: 0 and status filled, or 0
 * with status "" when the hub or the campaign is not there. */
static int s_status(const char *path, const char *name, char *status, size_t n, lab_err *err)
{
    status[0] = '\0';
    if (access(path, F_OK) != 0)
        return 0;
    lab_hub *h = lab_hub_open_readonly(path, err);
    if (!h)
        return err->code;
    int64_t id;
    int rc = lab_hub_find_campaign(h, name, &id, status, n);
    if (rc == LAB_ENOTFOUND) {
        status[0] = '\0';
        rc = 0;
    } else if (rc < 0) {
        lab_err_set(err, LAB_EDB, "reading %s: %s", path, lab_hub_errmsg(h));
    }
    lab_hub_destroy(&h);
    return rc;
}

static int s_record(lab_hub *h, const lab_campaign_cfg *cfg, const char *path, long experiments, double hours,
                    const char *reason, const char *user, const char *host, FILE *out, lab_err *err)
{
    int64_t id, created_us, now = lab_clock_wall_us();
    char status[32], sha[80];
    if (lab_hub_find_campaign(h, cfg->name, &id, status, sizeof status) < 0 ||
        lab_hub_campaign_origin(h, id, sha, sizeof sha, &created_us) < 0)
        return lab_err_set(err, LAB_EDB, "reading campaign '%s' from %s: %s", cfg->name, path, lab_hub_errmsg(h));
    if (strcmp(status, "completed") != 0 && strcmp(status, "exhausted") != 0)
        return 0;                          /* started again meanwhile: its orchestrator decides */
    if (strcmp(sha, cfg->sha256) != 0)
        return lab_err_set(err, LAB_ESTATE,
                           "campaign '%s' in %s was started from a different config (sha256 %.12s..., this file "
                           "%.12s...); extend it with the config it ran with", cfg->name, path, sha, cfg->sha256);
    lab_hub_lifecycle lc;
    if (lab_hub_campaign_lifecycle(h, id, &lc) < 0)
        return lab_err_set(err, LAB_EDB, "reading campaign '%s' from %s: %s", cfg->name, path, lab_hub_errmsg(h));
    long budget = cfg->budget_experiments + (long)lc.extra_experiments + experiments;
    if (budget > LAB_CONTROL_MAX_EXPERIMENTS)
        return lab_err_set(err, LAB_EINVAL, "the budget would be %ld experiments; at most %ld", budget,
                           LAB_CONTROL_MAX_EXPERIMENTS);
    int64_t deadline = cfg->budget_hours > 0 ? created_us + (int64_t)(cfg->budget_hours * 3600e6) : 0;
    if (lc.deadline_us > deadline)
        deadline = lc.deadline_us;
    if (hours > 0 && !deadline)
        return lab_err_set(err, LAB_EINVAL, "campaign '%s' has no time budget (campaign.budget.hours) to extend",
                           cfg->name);
    if (hours <= 0 && deadline && now >= deadline)
        return lab_err_set(err, LAB_EINVAL,
                           "campaign '%s' has spent its time budget too: give --hours H as well", cfg->name);
    json_t *d = json_pack("{s:I, s:f, s:I, s:s, s:s}", "experiments", (json_int_t)experiments, "hours", hours,
                          "budget", (json_int_t)budget, "by", user, "ended", status);
    if (hours > 0) {
        deadline = (deadline > now ? deadline : now) + (int64_t)(hours * 3600e6);
        json_object_set_new(d, "deadline_us", json_integer(deadline));
    }
    if (reason && *reason)
        json_object_set_new(d, "reason", json_string(reason));
    char *ev = json_dumps(d, JSON_COMPACT);
    json_object_del(d, "by");
    json_object_del(d, "budget");
    json_object_del(d, "ended");
    char *au = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    int rc = ev && au ? 0 : lab_err_set(err, LAB_ENOMEM, "out of memory");
    if (rc == 0 && (lab_hub_record_event(h, id, now, lab_event_name(LAB_EV_CAMPAIGN_EXTENDED), cfg->name, ev) < 0 ||
                    lab_hub_record_audit(h, id, now, user, host, "extend", cfg->name, au, "ok") < 0))
        rc = lab_err_set(err, LAB_EDB, "recording the extension in %s: %s", path, lab_hub_errmsg(h));
    if (rc == 0)
        rc = lab_hub_commit(h, err);
    free(ev);
    free(au);
    if (rc < 0)
        return rc;
    fprintf(out, "extend: done; campaign %s (%s) now has a budget of %ld experiments", cfg->name, status, budget);
    char left[32];
    if (hours > 0)
        fprintf(out, " and %s of time left", lab_extend_time_text((double)(deadline - now) / 1e6, left, sizeof left));
    fprintf(out, ".\nlabloop run %s resumes it.\n", cfg->path);
    return 1;
}

const char *lab_extend_time_text(double seconds, char *buf, size_t n)
{
    if (!(seconds > 0))
        seconds = 0;
    if (seconds < 120)
        snprintf(buf, n, "%.0f s", seconds);
    else if (seconds < 7200)
        snprintf(buf, n, "%.0f min", seconds / 60);
    else
        snprintf(buf, n, "%.1f h", seconds / 3600);
    return buf;
}

int lab_extend_ended(const lab_campaign_cfg *cfg, const char *hub_path, long experiments, double hours,
                     const char *reason, const char *user, const char *host, FILE *out, lab_err *err)
{
    char status[32];
    if (s_status(hub_path, cfg->name, status, sizeof status, err) < 0)
        return err->code;
    if (!strcmp(status, "aborted"))
        return lab_err_set(err, LAB_ESTATE, "campaign '%s' in %s was aborted; an aborted campaign cannot be extended",
                           cfg->name, hub_path);
    if (strcmp(status, "completed") != 0 && strcmp(status, "exhausted") != 0)
        return 0;
    lab_hub *h = lab_hub_open(hub_path, err);
    if (!h)
        return err->code;
    int rc = s_record(h, cfg, hub_path, experiments, hours, reason, user ? user : "unknown", host ? host : "unknown",
                      out, err);
    lab_hub_destroy(&h);
    return rc;
}
