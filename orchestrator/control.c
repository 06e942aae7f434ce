/* The control endpoint: operators steer a running campaign, or a lab
 * service's campaigns (submit, campaigns; the others name a campaign with
 * "campaign" when the lab runs more than one; e-stop is lab-wide).
 *
 * A ROUTER socket; clients (the CLI's status, pause, resume, extend,
 * approve and reject ("seqs": [N...]; approve.c), abort, estop, clear-estop;
 * the dashboard) send one JSON request per message, framed like
 * a REQ socket's: [routing id][empty][{"cmd": ..., "user": ..., "host": ...,
 * "reason": ...}]. The reply, {"ok": true, ...} or {"ok": false, "error":
 * ...}, is sent after the commit that recorded the action (persist before
 * acknowledge), except that an e-stop reaches the workers at once. Every
 * action lands in the hub's audit table. Not for: device traffic (orch.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "orchestrator/control_req.h"
#include "orchestrator/orch_int.h"
#include "common/banned.h"


static const char *s_dev_state(lab_dev_state s)
{
    return s == LAB_DEV_READY ? "ready" : s == LAB_DEV_LOST ? "lost" : "offline";
}

/* The budget as extended, and why the campaign is paused: {"budget_config",
 * "extensions", "hours_left" (absent: no time budget), "pause": {"reason",
 * "by", "cause", "failures"} (absent unless paused; cause and failures for
 * the failure brake only)}. */
static json_t *s_lifecycle_json(lab_camp *camp)
{
    json_t *l = json_pack("{s:I, s:I}", "budget_config", (json_int_t)camp->cfg->budget_experiments,
                          "extensions", (json_int_t)camp->extensions);
    if (camp->deadline_us)
        json_object_set_new(l, "hours_left", json_real((double)(camp->deadline_us - lab_orch_now()) / 3600e6));
    if (camp->state == LAB_CAMP_PAUSED && !camp->end_status) {
        json_t *p = json_pack("{s:s, s:s}", "reason", camp->pause_reason, "by", camp->paused_by);
        if (camp->brake_cause[0]) {
            json_object_set_new(p, "cause", json_string(camp->brake_cause));
            json_object_set_new(p, "failures", json_integer(camp->brake_failures));
        }
        json_object_set_new(l, "pause", p);
    }
    return l;
}

static json_t *s_status(lab_camp *camp)
{
    int64_t now = lab_clock_mono_us();
    double elapsed = (double)(now - camp->lab->start_mono_us) / 1e6;
    json_t *j = json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "ok", 1, "campaign",
                          camp->cfg->name, "status", lab_camp_state_name(camp), "budget",
                          (json_int_t)camp->budget_experiments, "proposed", (json_int_t)camp->n_exps,
                          "measured", (json_int_t)camp->measured, "failed", (json_int_t)camp->failed,
                          "in_flight", (json_int_t)camp->n_active, "elapsed_s", elapsed);
    if (j && camp->queued)
        json_object_set_new(j, "queue_position", json_integer(lab_share_queue_position(camp->lab, camp)));
    if (camp->best) {
        lab_exp *b = camp->exps[camp->best - 1];
        json_object_set_new(j, "best", json_pack("{s:I, s:s, s:f, s:o}", "experiment", (json_int_t)b->seq,
                                                 "objective", camp->cfg->objectives[0].name, "value", b->y[0],
                                                 "params", lab_sched_params_json(camp, b->x)));
    }
    json_object_set_new(j, "lifecycle", s_lifecycle_json(camp));
    if (camp->cfg->approve_each) {
        json_object_set_new(j, "waiting_approval", json_integer(camp->n_waiting));
        json_object_set_new(j, "rejected", json_integer(camp->rejected));
        json_object_set_new(j, "approval_queue", lab_approve_queue_json(camp));
    }
    json_t *devs = json_array();
    for (size_t i = 0; i < camp->lab->cfg->n_devices; i++) {
        lab_device *d = &camp->lab->devices[i];
        double busy = d->busy_s + (double)d->running * (double)(now - d->busy_since_us) / 1e6;
        json_array_append_new(devs, json_pack("{s:s, s:s, s:s, s:i, s:i, s:f}", "name", d->cfg->name,
                                              "state", s_dev_state(d->state), "driver", d->driver,
                                              "running", d->running, "capacity", d->capacity,
                                              "utilisation", elapsed > 0 && d->capacity > 0 ? busy / (elapsed * d->capacity) : 0.0));
    }
    json_object_set_new(j, "devices", devs);
    json_t *run = json_array();
    for (long i = 0; i < camp->n_active; i++) {
        lab_exp *x = camp->active[i];
        for (size_t s = 0; s < camp->cfg->n_steps; s++)
            if (x->step[s] == LAB_STEP_RUNNING)
                json_array_append_new(run, json_pack("{s:s, s:s, s:s, s:f}", "attempt", x->cur[s].id, "step",
                                                     camp->cfg->steps[s].name, "device",
                                                     x->cur[s].dev ? x->cur[s].dev->cfg->name : "",
                                                     "seconds", (double)(now - x->cur[s].dispatched_us) / 1e6));
    }
    json_object_set_new(j, "running", run);
    /* Where the campaign is recorded, so `status --watch` can show its final
     * state from the hub once the orchestrator has gone. */
    char *abs = realpath(camp->lab->db_path, NULL);
    json_object_set_new(j, "hub", json_string(abs ? abs : camp->lab->db_path));
    free(abs);
    json_object_set_new(j, "security", lab_auth_status(camp->lab->auth));
    if (camp->lab->notify)
        json_object_set_new(j, "notifications", lab_notify_status(camp->lab->notify));
    return j;
}

static void s_set_status(lab_camp *camp, const char *status)
{
    if (lab_hub_set_campaign_status(camp->lab->hub, camp->campaign_id, status, lab_orch_now()) < 0)
        lab_orch_fatal(camp->lab, "recording the campaign status");
    lab_camp_event(camp, LAB_EV_CAMPAIGN_STATUS, camp->cfg->name, json_pack("{s:s}", "status", status));
}

/* Pause: no new experiment and no new step (held 'within' successors
 * excepted); running steps finish and are recorded. The campaign.status
 * event says why and who ({status, reason, by}, and for the failure brake
 * {cause, failures}); so does the status reply until it resumes. */
static void s_pause(lab_camp *camp, const char *by, const char *reason, const char *cause, long failures)
{
    camp->state = LAB_CAMP_PAUSED;
    snprintf(camp->pause_reason, sizeof camp->pause_reason, "%s", reason ? reason : "");
    snprintf(camp->paused_by, sizeof camp->paused_by, "%s", by);
    snprintf(camp->brake_cause, sizeof camp->brake_cause, "%s", cause ? cause : "");
    camp->brake_failures = cause ? failures : 0;
    if (lab_hub_set_campaign_status(camp->lab->hub, camp->campaign_id, "paused", lab_orch_now()) < 0)
        lab_orch_fatal(camp->lab, "recording the campaign status");
    json_t *d = json_pack("{s:s, s:s, s:s}", "status", "paused", "reason", camp->pause_reason, "by", by);
    if (cause) {
        json_object_set_new(d, "cause", json_string(cause));
        json_object_set_new(d, "failures", json_integer(failures));
    }
    lab_camp_event(camp, LAB_EV_CAMPAIGN_STATUS, camp->cfg->name, d);
}

static void s_unpause(lab_camp *camp)
{
    camp->pause_reason[0] = camp->paused_by[0] = camp->brake_cause[0] = '\0';
    camp->brake_failures = 0;
    lab_brake_reset(&camp->brake);          /* the operator gets `after` more tries */
}

void lab_control_brake(lab_camp *camp)
{
    const lab_brake *b = &camp->brake;
    char reason[LAB_BRAKE_CAUSE_MAX + 128];
    snprintf(reason, sizeof reason, "failure brake: %d experiments in a row failed with the same cause: %s",
             b->count, b->cause);
    lab_warn("campaign '%s' paused by the %s; running steps finish; `labloop resume` once it is fixed",
             camp->cfg->name, reason);
    if (camp->lab->opts.progress) {
        fprintf(camp->lab->opts.progress, "campaign %s paused: %s\n(labloop resume %s once it is fixed)\n", camp->cfg->name,
                reason, camp->lab->cfg->path);
        fflush(camp->lab->opts.progress);
    }
    lab_camp_event(camp, LAB_EV_CAMPAIGN_BRAKED, camp->cfg->name,
                   json_pack("{s:s, s:i, s:i}", "cause", b->cause, "failures", b->count, "after", b->after));
    s_pause(camp, "labloop", reason, b->cause, b->count);
}

/* An audit row whose detail is extra (may be NULL; reference taken) plus reason. */
static void s_audit_detail(lab_orch *o, lab_camp *camp, const char *actor, const char *origin, const char *action,
                           const char *reason, json_t *extra, const char *outcome)
{
    json_t *d = extra;
    if (reason && *reason) {
        if (!d)
            d = json_object();
        json_object_set_new(d, "reason", json_string(reason));
    }
    char *js = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (lab_hub_record_audit(o->hub, camp ? camp->campaign_id : 0, lab_orch_now(), actor, origin, action,
                             camp ? camp->cfg->name : o->cfg->name, js, outcome) < 0)
        lab_orch_fatal(o, "recording an audit entry");
    free(js);
}

static void s_audit(lab_orch *o, lab_camp *camp, const char *actor, const char *origin, const char *action,
                    const char *reason, const char *outcome)
{
    s_audit_detail(o, camp, actor, origin, action, reason, NULL, outcome);
}

/* An e-stop halts the whole lab: every campaign of it that has not ended. */
static int s_lab_halted(const lab_orch *o)
{
    return lab_share_estopped(o);
}

void lab_control_estop(lab_orch *o, const char *actor, const char *origin, const char *reason)
{
    /* A device repeats its request until it hears the e-stop back; while
     * halted, answer it alone and record nothing new. */
    lab_device *dev = !strcmp(origin, "device") ? lab_orch_device(o, actor) : NULL;
    if (dev && s_lab_halted(o)) {
        lab_orch_send_control(o, actor, LABLOOP__CONTROL__ACTION__ESTOP, NULL,
                              o->single ? "campaign is halted by an e-stop" : "lab is halted by an e-stop");
        return;
    }
    o->estopped = 1;
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!c->finished) {
            lab_sched_estop_hit(c);
            lab_orch_act(o, c);
        }
    /* Safety first: the workers hear of it before anything is written. */
    lab_orch_broadcast_control(o, LABLOOP__CONTROL__ACTION__ESTOP, reason);
    lab_warn("E-STOP by %s: %s", actor, reason);
    s_audit(o, o->single ? o->camps : NULL, actor, origin, "estop", reason, "ok");
    for (lab_camp *c = o->camps; c; c = c->next) {
        if (c->finished || c->queued)           /* a queued one starts only once the e-stop is cleared */
            continue;
        if (c->state != LAB_CAMP_HALTED) {      /* also while ending: nothing more is dispatched */
            c->state = LAB_CAMP_HALTED;
            s_set_status(c, "halted");
        }
        lab_camp_event(c, LAB_EV_CAMPAIGN_ESTOP, c->cfg->name, json_pack("{s:s, s:s}", "by", actor, "reason", reason));
    }
}

/* The devices a broadcast may not reach now: they are not ready. One
 * that missed a clear-estop and comes back still latched halts the campaign
 * again (orch.c, on its hello), so the operator is told which ones. */
static json_t *s_not_reached(lab_orch *o)
{
    json_t *names = json_array();
    for (size_t i = 0; i < o->cfg->n_devices; i++)
        if (o->devices[i].state != LAB_DEV_READY)
            json_array_append_new(names, json_string(o->devices[i].cfg->name));
    return names;
}

/* Extend the budget in flight: req->experiments more experiments, and
 * req->hours more on the time budget (from now when it is already past).
 * Recorded as a campaign.extended event, which a restart reads back, and
 * in the audit table. NULL or why not. */
static const char *s_extend(lab_camp *camp, const lab_control_req *req, const char *user, const char *host,
                            char *why, size_t n)
{
    if (req->experiments <= 0 && req->hours <= 0) {
        snprintf(why, n, "extend: give --experiments N (more experiments) and/or --hours H (more time)");
        return why;
    }
    if (camp->budget_experiments + req->experiments > LAB_CONTROL_MAX_EXPERIMENTS) {
        snprintf(why, n, "extend: the budget would be %ld experiments; at most %ld",
                 camp->budget_experiments + req->experiments, LAB_CONTROL_MAX_EXPERIMENTS);
        return why;
    }
    if (req->hours > 0 && !camp->deadline_us) {
        snprintf(why, n, "extend: campaign '%s' has no time budget (campaign.budget.hours) to extend", camp->cfg->name);
        return why;
    }
    int64_t now = lab_orch_now();
    camp->budget_experiments += req->experiments;
    camp->extensions++;
    json_t *d = json_pack("{s:I, s:f, s:I, s:s}", "experiments", (json_int_t)req->experiments, "hours", req->hours,
                          "budget", (json_int_t)camp->budget_experiments, "by", user);
    if (req->hours > 0) {
        camp->deadline_us = (camp->deadline_us > now ? camp->deadline_us : now) + (int64_t)(req->hours * 3600e6);
        json_object_set_new(d, "deadline_us", json_integer(camp->deadline_us));
    }
    if (req->reason[0])
        json_object_set_new(d, "reason", json_string(req->reason));
    lab_camp_event(camp, LAB_EV_CAMPAIGN_EXTENDED, camp->cfg->name, json_incref(d));
    json_object_del(d, "by");
    json_object_del(d, "reason");
    s_audit_detail(camp->lab, camp, user, host, "extend", req->reason, d, "ok");
    lab_info("extend by %s@%s: budget now %ld experiments%s", user, host, camp->budget_experiments,
             req->hours > 0 ? ", time budget moved on" : "");
    return NULL;
}

/* Carry out req->cmd; returns NULL on success or why it was refused. */
static const char *s_act(lab_orch *o, lab_camp *camp, const lab_control_req *req, const char *user, const char *host,
                         char *why, size_t n)
{
    const char *cmd = req->cmd, *reason = req->reason;
    if (!strcmp(cmd, "estop")) {
        char r[300];
        snprintf(r, sizeof r, "operator %s%s%s", user, reason && *reason ? ": " : "", reason ? reason : "");
        lab_control_estop(o, user, host, r);
        return NULL;                           /* audited there */
    }
    if (!strcmp(cmd, "clear-estop")) {
        /* lab-wide: every halted campaign is cleared, to paused */
        int any = o->estopped;
        for (lab_camp *c = o->camps; c; c = c->next)
            any |= !c->finished && c->state == LAB_CAMP_HALTED;
        if (!any) {
            snprintf(why, n, "%s '%s' is not halted", o->single ? "campaign" : "lab",
                     o->single && o->camps ? o->camps->cfg->name : o->cfg->name);
            return why;
        }
        o->estopped = 0;
        lab_orch_broadcast_control(o, LABLOOP__CONTROL__ACTION__CLEAR, "e-stop cleared");
        char r[300];
        snprintf(r, sizeof r, "e-stop cleared by %s%s%s; resume to go on", user, *reason ? ": " : "", reason);
        for (lab_camp *c = o->camps; c; c = c->next)
            if (!c->finished && c->state == LAB_CAMP_HALTED)
                s_pause(c, user, r, NULL, 0);
        s_audit(o, o->single ? o->camps : NULL, user, host, cmd, reason, "ok");
        lab_info("%s by %s@%s", cmd, user, host);
        return NULL;
    }
    if (camp->end_status) {
        snprintf(why, n, "campaign '%s' is ending (%s)", camp->cfg->name, camp->end_status);
        return why;
    }
    if (camp->queued && strcmp(cmd, "abort") && strcmp(cmd, "extend")) {
        snprintf(why, n, "campaign '%s' is queued (place %ld): it starts when lab '%s' has room (lab.max_campaigns) "
                 "and no e-stop holds it; abort takes it out of the queue", camp->cfg->name,
                 lab_share_queue_position(o, camp), o->cfg->name);
        return why;
    }
    if (!strcmp(cmd, "pause")) {
        if (camp->state != LAB_CAMP_RUNNING) {
            snprintf(why, n, "campaign '%s' is %s, not running", camp->cfg->name, lab_camp_state_name(camp));
            return why;
        }
        s_pause(camp, user, reason, NULL, 0);
    } else if (!strcmp(cmd, "resume")) {
        if (camp->state == LAB_CAMP_HALTED) {
            snprintf(why, n, "campaign '%s' is halted by an e-stop: clear it first (labloop clear-estop)", camp->cfg->name);
            return why;
        }
        if (camp->state != LAB_CAMP_PAUSED) {
            snprintf(why, n, "campaign '%s' is not paused", camp->cfg->name);
            return why;
        }
        camp->state = LAB_CAMP_RUNNING;
        s_unpause(camp);
        s_set_status(camp, "running");
        lab_orch_campaign_activated(o, camp);
    } else if (!strcmp(cmd, "extend")) {
        return s_extend(camp, req, user, host, why, n);
    } else if (!strcmp(cmd, "approve") || !strcmp(cmd, "reject")) {
        int approve = !strcmp(cmd, "approve");
        const char *refused = lab_approve_act(camp, approve, req->seqs, req->n_seqs, user, reason, why, n);
        lab_orch_act(o, camp);
        if (refused)
            return refused;
        json_t *seqs = json_array();
        for (size_t k = 0; k < req->n_seqs; k++)
            json_array_append_new(seqs, json_integer(req->seqs[k]));
        s_audit_detail(o, camp, user, host, cmd, reason, json_pack("{s:o}", "experiments", seqs), "ok");
        return NULL;
    } else if (!strcmp(cmd, "abort")) {
        char r[300];
        snprintf(r, sizeof r, "aborted by %s%s%s", user, reason && *reason ? ": " : "", reason ? reason : "");
        lab_sched_cancel_all(camp, r);
        lab_orch_act(camp->lab, camp);
        camp->end_status = "aborted";
        snprintf(camp->end_reason, sizeof camp->end_reason, "%s", r);
    } else {
        snprintf(why, n, "unknown command '%s' (status, campaigns, submit, pause, resume, extend, approve, reject, abort, estop, "
                 "clear-estop)", cmd);
        return why;
    }
    s_audit(o, camp, user, host, cmd, reason, "ok");
    lab_info("%s by %s@%s", cmd, user, host);
    return NULL;
}

/* Who sent a request, and may they? With CURVE the actor is the name the
 * config gives the client's key (whatever user the request claims, which
 * is kept as the origin); a viewer may ask for status only. Plain mode:
 * the claimed user, and everyone may act. Returns NULL or why not. */
static const char *s_who(lab_orch *o, const char *peer, const char *cmd, const char *claimed_user,
                         const char *claimed_host, char *actor, size_t na, char *origin, size_t no, char *why,
                         size_t nw)
{
    if (!lab_auth_secure(o->auth)) {
        snprintf(actor, na, "%s", claimed_user);
        snprintf(origin, no, "%s", claimed_host);
        return NULL;
    }
    const lab_cfg_client *c = lab_auth_client(o->auth, peer);
    snprintf(actor, na, "%s", c ? c->name : "unauthenticated");
    snprintf(origin, no, "%s@%s", claimed_user, claimed_host);
    if (c && (c->operator_role || !strcmp(cmd, "status")))
        return NULL;
    snprintf(why, nw, "%s: key '%s' has the %s role; %s needs an operator key (security.clients in %s)", cmd,
             c ? c->name : "?", c ? "viewer" : "no", cmd, o->cfg->path);
    return why;
}

/* The lab's campaigns: name, state, progress, weight, share, best. */
static json_t *s_campaigns(lab_orch *o)
{
    json_t *list = json_array();
    size_t k;
    json_t *p;
    json_array_foreach(o->past, k, p)          /* ended before this start: from the hub */
        json_array_append(list, p);
    for (lab_camp *c = o->camps; c; c = c->next) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "name", c->cfg->name, "status",
                              lab_camp_state_name(c), "budget", (json_int_t)c->budget_experiments, "proposed",
                              (json_int_t)c->n_exps, "measured", (json_int_t)c->measured, "failed",
                              (json_int_t)c->failed, "in_flight", (json_int_t)c->n_active, "weight", c->weight,
                              "dispatched", c->dispatched);
        if (c->cfg->approve_each) {
            json_object_set_new(j, "waiting_approval", json_integer(c->n_waiting));
            json_object_set_new(j, "rejected", json_integer(c->rejected));
        }
        if (c->best) {
            lab_exp *b = c->exps[c->best - 1];
            json_object_set_new(j, "best", json_pack("{s:I, s:s, s:f}", "experiment", (json_int_t)b->seq,
                                                     "objective", c->cfg->objectives[0].name, "value", b->y[0]));
        }
        if (c->queued)
            json_object_set_new(j, "queue_position", json_integer(lab_share_queue_position(o, c)));
        if (c->finished)
            json_object_set_new(j, "ended_us", json_integer(c->ended_us));
        if (c->cfg->n_exclusive) {
            json_t *ex = json_array();
            for (size_t i = 0; i < c->cfg->n_exclusive; i++)
                json_array_append_new(ex, json_string(c->cfg->exclusive[i]));
            json_object_set_new(j, "exclusive", ex);
        }
        json_array_append_new(list, j);
    }
    return json_pack("{s:b, s:s, s:b, s:o}", "ok", 1, "lab", o->cfg->name, "service", !o->single, "campaigns", list);
}

/* Which campaign a request is for: the one it names, or the only one.
 * NULL with why when there is none to pick. */
static lab_camp *s_pick(lab_orch *o, const char *name, char *why, size_t n)
{
    lab_camp *c = lab_orch_campaign(o, name);
    if (c)
        return c;
    char names[600] = "";
    size_t len = 0;
    for (lab_camp *k = o->camps; k && len < sizeof names; k = k->next)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", k->cfg->name);
    if (name && *name)
        snprintf(why, n, "no campaign '%s' in lab '%s'%s%s%s", name, o->cfg->name, len ? " (campaigns: " : "",
                 names, len ? ")" : "");
    else if (!o->camps)
        snprintf(why, n, "lab '%s' has no campaigns yet (labloop submit CAMPAIGN.yaml)", o->cfg->name);
    else
        snprintf(why, n, "lab '%s' runs %zu campaigns: name one with --campaign NAME (%s)", o->cfg->name,
                 o->n_camps, names);
    return NULL;
}

/* labloop submit: an operator's campaign for this lab. The reply waits
 * for the commit that recorded it. */
static json_t *s_submit(lab_orch *o, const char *peer, const char *body, size_t len)
{
    lab_control_submit sub;
    char why[300], actor[128], origin[300];
    if (lab_control_submit_parse(body, len, &sub, why, sizeof why) < 0) {
        free(sub.text);
        return json_pack("{s:b, s:s}", "ok", 0, "error", why);
    }
    const char *denied = s_who(o, peer, "submit", *sub.user ? sub.user : "unknown", *sub.host ? sub.host : "unknown",
                               actor, sizeof actor, origin, sizeof origin, why, sizeof why);
    json_t *reply;
    if (denied) {
        lab_auth_refused(o->auth, LAB_REFUSED_COMMAND, "%s (from %s)", denied, origin);
        s_audit(o, NULL, actor, origin, "submit", sub.path, denied);
        reply = json_pack("{s:b, s:s}", "ok", 0, "error", denied);
    } else if (o->single) {
        snprintf(why, sizeof why, "this endpoint runs the single campaign '%s' (labloop run); submit campaigns to a "
                 "lab service (labloop lab LAB.yaml)", o->camps ? o->camps->cfg->name : "?");
        reply = json_pack("{s:b, s:s}", "ok", 0, "error", why);
    } else {
        char notes[600];
        lab_err e = {0};
        lab_camp *c = lab_orch_submit(o, sub.path, sub.text, sub.len, sub.weight, actor, notes, sizeof notes, &e);
        if (!c) {
            s_audit(o, NULL, actor, origin, "submit", sub.path, e.msg);
            reply = json_pack("{s:b, s:s}", "ok", 0, "error", e.msg);
        } else {
            s_audit(o, c, actor, origin, "submit", sub.path, "ok");
            reply = json_pack("{s:b, s:s, s:s, s:f, s:I, s:s}", "ok", 1, "campaign", c->cfg->name, "status",
                              lab_camp_state_name(c), "weight", c->weight, "budget",
                              (json_int_t)c->budget_experiments, "lab", o->cfg->name);
            if (notes[0])
                json_object_set_new(reply, "notes", json_string(notes));
        }
    }
    free(sub.text);
    return reply;
}

struct lab_deferred {
    char peer[LAB_ID_MAX], id[LAB_ID_MAX];
    size_t id_len, len;
    char *body;
    struct lab_deferred *next;
};

static void s_defer(lab_orch *o, const char *peer, const char *id, size_t id_len, const char *body, size_t len)
{
    struct lab_deferred *d = calloc(1, sizeof *d);
    char *copy = malloc(len ? len : 1);
    if (!d || !copy) {
        free(d);
        free(copy);
        char *js = strdup("{\"ok\":false,\"error\":\"out of memory\"}");
        if (js)
            lab_orch_queue_control_reply(o, id, id_len, js);
        return;
    }
    snprintf(d->peer, sizeof d->peer, "%s", peer);
    d->id_len = id_len < sizeof d->id ? id_len : sizeof d->id;
    memcpy(d->id, id, d->id_len);
    memcpy(copy, body, len);
    d->body = copy;
    d->len = len;
    struct lab_deferred **p = &o->deferred;
    while (*p)
        p = &(*p)->next;
    *p = d;
}

void lab_control_run_deferred(lab_orch *o)
{
    while (o->deferred && !o->fatal) {
        struct lab_deferred *d = o->deferred;
        o->deferred = d->next;
        json_t *reply = s_submit(o, d->peer, d->body, d->len);
        char *js = json_dumps(reply, JSON_COMPACT);
        json_decref(reply);
        if (js)
            lab_orch_queue_control_reply(o, d->id, d->id_len, js);
        free(d->body);
        free(d);
    }
}

void lab_control_drop_deferred(lab_orch *o)
{
    while (o->deferred) {
        struct lab_deferred *d = o->deferred;
        o->deferred = d->next;
        free(d->body);
        free(d);
    }
}

static void s_request(lab_orch *o, const char *peer, const char *id, size_t id_len, const char *body, size_t len)
{
    lab_control_req req;
    char bad[160];
    json_t *reply;
    int parsed = lab_control_req_parse(body, len, &req, bad, sizeof bad) == 0;
    if ((parsed && !strcmp(req.cmd, "submit")) || (!parsed && len > LAB_CONTROL_REQ_MAX)) {
        s_defer(o, peer, id, id_len, body, len);
        return;
    }
    const char *cmd = parsed ? req.cmd : NULL;
    char actor[128], origin[300], why[300];
    const char *denied = NULL;
    lab_camp *camp = NULL;
    if (cmd)
        denied = s_who(o, peer, cmd, *req.user ? req.user : "unknown", *req.host ? req.host : "unknown", actor,
                       sizeof actor, origin, sizeof origin, why, sizeof why);
    int lab_wide = cmd && (!strcmp(cmd, "estop") || !strcmp(cmd, "clear-estop") || !strcmp(cmd, "campaigns"));
    if (cmd && !denied && !lab_wide) {
        camp = s_pick(o, req.campaign, why, sizeof why);
        if (!camp) {
            reply = json_pack("{s:b, s:s}", "ok", 0, "error", why);
            goto send;
        }
    } else if (cmd && lab_wide && req.campaign[0]) {
        camp = lab_orch_campaign(o, req.campaign);
    }
    if (!camp && o->single)
        camp = o->camps;
    const char *state = camp ? lab_camp_state_name(camp) : "lab";
    if (!cmd) {
        reply = json_pack("{s:b, s:s}", "ok", 0, "error", bad);
    } else if (denied) {
        lab_auth_refused(o->auth, LAB_REFUSED_COMMAND, "%s (from %s)", denied, origin);
        s_audit(o, camp, actor, origin, cmd, req.reason, denied);
        reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", denied, "status", state);
    } else if (!strcmp(cmd, "status")) {
        reply = s_status(camp);
    } else if (!strcmp(cmd, "campaigns")) {
        reply = s_campaigns(o);
    } else {
        const char *user = actor, *host = origin;
        const char *reason = req.reason;
        const char *refused = s_act(o, camp, &req, user, host, why, sizeof why);
        if (camp)
            state = lab_camp_state_name(camp);
        if (refused) {
            s_audit(o, camp, user, host, cmd, reason, refused);
            reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", refused, "status", state);
        } else {
            reply = json_pack("{s:b, s:s}", "ok", 1, "status", state);
            if (!strcmp(cmd, "approve") || !strcmp(cmd, "reject")) {
                json_object_set_new(reply, "campaign", json_string(camp->cfg->name));
                json_object_set_new(reply, "waiting_approval", json_integer(camp->n_waiting));
            }
            if (!strcmp(cmd, "extend")) {
                json_object_set_new(reply, "campaign", json_string(camp->cfg->name));
                json_object_set_new(reply, "budget", json_integer(camp->budget_experiments));
                json_object_set_new(reply, "lifecycle", s_lifecycle_json(camp));
            }
            if (!strcmp(cmd, "clear-estop")) {
                json_t *missed = s_not_reached(o);
                size_t k;
                json_t *name;
                json_array_foreach(missed, k, name)
                    lab_warn("clear-estop: device '%s' is not ready and may not have got the clear",
                             json_string_value(name));
                json_object_set_new(reply, "not_reached", missed);
            }
        }
    }
send:;
    char *js = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    if (js)
        lab_orch_queue_control_reply(o, id, id_len, js);
}

static void s_skip_rest(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int rc = zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
        if (rc < 0)
            break;
    }
}

int lab_control_on_readable(void *sock, void *arg)
{
    lab_orch *o = arg;
    int n = 0;
    for (;;) {
        char id[LAB_ID_MAX];
        int idn = zmq_recv(sock, id, sizeof id, ZMQ_DONTWAIT);
        if (idn < 0)
            break;
        n++;
        if (idn > (int)sizeof id) {          /* an id we cannot answer: drop the message */
            s_skip_rest(sock);
            continue;
        }
        zmq_msg_t delim, body;
        zmq_msg_init(&delim);
        zmq_msg_init(&body);
        int ok = zmq_msg_recv(&delim, sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&delim) == 0 &&
                 zmq_msg_more(&delim) && zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) >= 0 &&
                 !zmq_msg_more(&body);   /* its size is judged by the parsers (a reply says why) */
        if (ok) {
            /* The name the ZAP handler gave this connection's key. */
            const char *peer = zmq_msg_gets(&body, "User-Id");
            s_request(o, peer ? peer : "", id, (size_t)idn, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        else
            s_skip_rest(sock);
        zmq_msg_close(&delim);
        zmq_msg_close(&body);
    }
    if (n)
        lab_orch_schedule(o);
    return n;
}
