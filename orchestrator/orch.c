/* The orchestrator's event loop, sockets and device registry (see orch.h).
 *
 * One libuv loop owns everything. The device ROUTER and the control ROUTER
 * join it through zloop, whose pre-sleep hook drains them and calls
 * s_flush: commit the hub writes queued during the turn (on the loop after a
 * quiet turn, on libuv's thread pool after a busy one), then send what waited
 * for it (Welcome, Refuse, control replies; acks ride on the next message to
 * their device). Step requests, heartbeats and e-stops go out at once.
 * Devices register with Hello, stay ready while they are heard from, and are
 * lost after `liveness` silent heartbeats.
 * Not for: scheduling (campaign.c), operator commands (control.c), SQL (hub.c).
 */
#include "orchestrator/orch_int.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "common/banned.h"

#define S_TICK_MS 50
#define S_WAITING_NOTE_US (10 * 1000000LL)
#define S_NUDGE_US 500000
/* How long a busy device's durable acks wait for a step request to ride on
 * (well inside the worker's 3 s re-send). */
#define S_ACK_HOLD_US 50000
/* Device messages in a loop turn from which its commit runs on the thread
 * pool instead of on the loop. */
#define S_SYNC_ASYNC_MIN 4
/* How long the last acks of a run may take to leave when it ends. */
#define S_FINAL_LINGER_MS 500
/* After a restart, devices get this long (at least) to say hello again
 * before their attempts in flight count as lost. */
#define S_RESUME_GRACE_US (10 * 1000000LL)

/* ------------------------------------------------------------ helpers */

int64_t lab_orch_now(void) { return lab_clock_wall_us(); }

/* Stop the loop without acknowledging anything more: what was not
 * committed is not promised to anyone. */
static void s_stop_fatal(lab_orch *o, const lab_err *e)
{
    if (o->fatal)
        return;
    o->fatal = 1;
    o->fatal_err = *e;
    lab_error("%s; stopping without acknowledging", e->msg);
    o->stopping = 1;
    if (o->in_loop)               /* outside uv_run a stop would only skip the close callbacks */
        uv_stop(&o->loop);
}

void lab_orch_fatal(lab_orch *o, const char *what)
{
    lab_err e = {0};
    lab_err_set(&e, LAB_EDB, "%s: %s", what, lab_hub_errmsg(o->hub));
    s_stop_fatal(o, &e);
}

/* An event of campaign c, or of the lab (c NULL). */
static void s_event(lab_orch *o, lab_camp *c, lab_event_kind kind, const char *subject, json_t *detail)
{
    /* the hub copies the text into its batch */
    const char *js = detail ? lab_jtext_dump(&o->jt, detail, JSON_COMPACT) : NULL;
    int64_t now = lab_orch_now();
    if (lab_hub_record_event(o->hub, c ? c->campaign_id : 0, now, lab_event_name(kind), subject, js) < 0)
        lab_orch_fatal(o, "recording an event");
    /* only queues: never waits */
    lab_notify_campaign_event(o->notify, o->single ? NULL : c ? c->cfg->name : "", kind, subject, detail, now);
    json_decref(detail);
}

/* The campaign a lab event is recorded with: the only one of a lab that
 * runs one campaign (labloop run); none in a lab service. */
static lab_camp *s_lab_campaign(const lab_orch *o)
{
    return o->single ? o->camps : NULL;
}

/* One row for the bad messages of a peer that were only counted. */
static void s_bad_summary(const char *peer, uint64_t n, void *arg)
{
    lab_orch *o = arg;
    char msg[200];
    snprintf(msg, sizeof msg, "%llu more bad messages within %lld s were not recorded one by one",
             (unsigned long long)n, (long long)(LAB_BADMSG_WINDOW_US / 1000000));
    lab_warn("peer '%s': %s", peer, msg);
    s_event(o, s_lab_campaign(o), LAB_EV_MESSAGE_BAD, peer,
            json_pack("{s:s, s:I, s:s}", "device", peer, "suppressed", (json_int_t)n, "error", msg));
}

static void s_event_limited(lab_orch *o, lab_camp *c, lab_event_kind kind, const char *subject, json_t *detail)
{
    if (kind == LAB_EV_MESSAGE_BAD) {      /* at most a few rows per peer and window */
        const char *peer = json_string_value(json_object_get(detail, "device"));
        if (!lab_badmsg_allow(&o->badmsg, peer ? peer : subject, lab_clock_mono_us(), s_bad_summary, o)) {
            json_decref(detail);
            return;
        }
    }
    s_event(o, c, kind, subject, detail);
}

void lab_orch_event(lab_orch *o, lab_event_kind kind, const char *subject, json_t *detail)
{
    s_event_limited(o, s_lab_campaign(o), kind, subject, detail);
}

void lab_camp_event(lab_camp *c, lab_event_kind kind, const char *subject, json_t *detail)
{
    s_event_limited(c->lab, c, kind, subject, detail);
}

/* ------------------------------------------------------------ campaigns' actions */

static int s_host_cap(void *ctx, const char *capability)
{
    lab_orch *o = ctx;
    return lab_slots_cap(o->slots, capability);
}

static lab_device *s_host_pick(void *ctx, lab_camp *camp, int cap, const lab_device *avoid)
{
    lab_orch *o = ctx;
    long i = lab_share_pick(camp, cap, avoid ? (long)avoid->idx : -1);
    return i >= 0 ? &o->devices[i] : NULL;
}

static int s_host_all_heard(void *ctx, int cap)
{
    lab_orch *o = ctx;
    return lab_slots_all_heard(o->slots, cap);
}

static lab_device *s_host_find(void *ctx, const char *name)
{
    return lab_orch_device(ctx, name);
}

static const char *s_host_name(void *ctx, const lab_device *d)
{
    (void)ctx;
    return d->cfg->name;
}

static lab_dev_view s_host_view(void *ctx, const lab_device *d)
{
    (void)ctx;
    return (lab_dev_view){.name = d->cfg->name, .online = d->state == LAB_DEV_READY, .welcomed = d->welcomed,
                          .free = d->capacity - d->running - d->reserved, .last_rx_us = d->last_rx_us};
}

static void s_host_busy(void *ctx, lab_device *d, int delta, int dispatched)
{
    (void)ctx;
    if (dispatched)
        d->dispatched++;
    lab_orch_device_busy(d, delta);
}

static void s_host_failed(void *ctx, lab_device *d)
{
    (void)ctx;
    if (d->slots)
        lab_slots_end_turn(d->slots, d->idx);
}

static void s_host_hold(void *ctx, lab_device *d, int delta)
{
    (void)ctx;
    lab_orch_device_hold(d, delta);
}

static int s_host_halted(void *ctx)
{
    lab_orch *o = ctx;
    return (o->stopping ? LAB_HOST_STOPPING : 0) | (o->fatal ? LAB_HOST_FATAL : 0);
}

static int64_t s_host_grace_until(void *ctx)
{
    lab_orch *o = ctx;
    return o->resume_grace_until_us;
}

static void s_host_schedule(void *ctx, lab_camp *c)
{
    lab_orch *o = ctx;
    lab_orch_act(o, c);
    lab_orch_schedule(o);
}

static const lab_camp_host s_host = {
    .cap = s_host_cap, .pick = s_host_pick, .all_heard = s_host_all_heard, .find = s_host_find,
    .name = s_host_name, .view = s_host_view, .busy = s_host_busy, .failed = s_host_failed, .hold = s_host_hold,
    .halted = s_host_halted, .grace_until = s_host_grace_until, .schedule = s_host_schedule,
};

/* A done result's dispatch time; its round trip ends at the commit that
 * makes it durable (s_durable). */
static void s_note_done(lab_orch *o, int64_t dispatched_us)
{
    if (o->n_uncommitted == o->cap_uncommitted) {
        size_t cap = o->cap_uncommitted ? 2 * o->cap_uncommitted : 256;
        int64_t *p = realloc(o->uncommitted_us, cap * sizeof *p);
        if (!p)
            return;
        o->uncommitted_us = p;
        o->cap_uncommitted = cap;
    }
    o->uncommitted_us[o->n_uncommitted++] = dispatched_us;
}

static void s_act_one(lab_orch *o, lab_camp *c, lab_action *a)
{
    int rc = 0;
    const char *what = "recording a step";
    switch (a->kind) {
    case LAB_ACT_REQUEST: {
        Labloop__StepRequest req = LABLOOP__STEP_REQUEST__INIT;
        req.attempt_id = (char *)a->attempt;
        req.experiment_id = (char *)a->experiment;
        req.sample_id = (char *)a->experiment;
        req.step = (char *)a->step;
        req.capability = (char *)a->text;
        req.params = a->params;
        req.n_params = a->n_params;
        req.timeout_ms = a->timeout_ms;
        lab_env env = LABLOOP__ENVELOPE__INIT;
        env.body_case = LABLOOP__ENVELOPE__BODY_STEP_REQUEST;
        env.step_request = &req;
        if (a->n && !o->first_dispatch_us)
            o->first_dispatch_us = a->t0;
        lab_orch_send(o, a->device, &env);
        break;
    }
    case LAB_ACT_CANCEL:
        lab_orch_send_control(o, a->device, LABLOOP__CONTROL__ACTION__CANCEL, a->attempt, a->text);
        break;
    case LAB_ACT_ACK:
        lab_orch_queue_ack(o, a->device, a->attempt);
        break;
    case LAB_ACT_EXPERIMENT:
        what = "recording an experiment";
        rc = lab_hub_record_experiment(o->hub, c->campaign_id, a->seq, a->json, a->text, a->json2, a->status, a->t0);
        if (rc >= 0)
            rc = lab_hub_record_sample(o->hub, c->campaign_id, a->seq, a->experiment, "queue", a->t0);
        break;
    case LAB_ACT_EXPERIMENT_STATUS:
        what = "recording an experiment";
        rc = lab_hub_set_experiment_status(o->hub, c->campaign_id, a->seq, a->status, a->json, a->text, a->t0);
        break;
    case LAB_ACT_STEP: {
        lab_hub_step hs = {.attempt_id = a->attempt, .campaign = c->campaign_id, .experiment = a->seq,
                           .step = a->step, .attempt = a->n, .device = a->device,
                           .status = a->status, .params_json = a->json, .queued_us = a->t0};
        rc = lab_hub_record_step(o->hub, &hs);
        break;
    }
    case LAB_ACT_STEP_STATUS:
        rc = lab_hub_set_step_status(o->hub, a->attempt, a->status, NULL, a->t0, a->t1, a->json, a->text);
        break;
    case LAB_ACT_STEP_COUNTED:
        rc = lab_hub_set_step_counted(o->hub, a->attempt, a->n);
        break;
    case LAB_ACT_SAMPLE_AT:
        what = "recording where a sample is";
        rc = lab_hub_move_sample(o->hub, c->campaign_id, a->experiment, a->device, a->attempt, a->t0);
        break;
    case LAB_ACT_ARTIFACT:
        what = "recording an artifact";
        rc = lab_hub_record_artifact(o->hub, a->attempt, a->json2, a->text, a->json, a->t1, a->content,
                                     a->content_len, a->t0);
        break;
    case LAB_ACT_EVENT:
        lab_camp_event(c, a->event, a->json, a->detail);
        a->detail = NULL;
        break;
    case LAB_ACT_DONE:
        s_note_done(o, a->t0);
        break;
    case LAB_ACT_BRAKE:
        lab_control_brake(c);
        break;
    case LAB_ACT_ENDED:
        lab_orch_campaign_ended(o, c);
        break;
    }
    if (rc < 0)
        lab_orch_fatal(o, what);
}

void lab_orch_act(lab_orch *o, lab_camp *c)
{
    lab_actions *l = &c->acts;
    if (c->acting)
        return;                      /* the outer call carries on with what was added */
    c->acting = 1;
    /* Actions added while these are carried out join the end of the list. */
    for (size_t i = 0; i < l->n; i++)
        s_act_one(o, c, &l->a[i]);
    if (l->oom)
        lab_orch_fatal(o, "keeping what a campaign decided (out of memory)");
    lab_actions_clear(l);
    c->acting = 0;
}

/* ------------------------------------------------------------ campaigns */

lab_camp *lab_orch_campaign_of(lab_orch *o, const char *attempt_id)
{
    for (lab_camp *c = o->camps; c; c = c->next)
        if (lab_sched_owns(c, attempt_id))
            return c;
    return NULL;
}

lab_camp *lab_orch_campaign(lab_orch *o, const char *name)
{
    if (!name || !*name)
        return o->n_camps == 1 ? o->camps : NULL;
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!strcmp(c->cfg->name, name))
            return c;
    return NULL;
}

/* Free slots go one at a time to the campaign furthest below its weighted
 * share (attempts dispatched since it became active, over its weight) among
 * those that can use one now; a campaign with nothing ready that finds a
 * device sits out the rest of the round. Slots held for 'within'
 * successors are a campaign's own and go out with its turn. */
static void s_share(lab_orch *o)
{
    for (;;) {
        lab_camp *best = NULL, *second = NULL;
        double best_v = 0, second_v = 0;
        for (lab_camp *c = o->camps; c; c = c->next) {
            if (c->finished || c->queued || c->share_blocked)
                continue;
            double v = c->dispatched / c->weight;
            if (!best || v < best_v) {
                second = best;
                second_v = best_v;
                best = c;
                best_v = v;
            } else if (!second || v < second_v) {
                second = c;
                second_v = v;
            }
        }
        if (!best)
            break;
        /* It may take slots until it passes the next one's share (all it
         * can when it is the only one left): fewer turns, the same order. */
        long max = -1;
        if (second) {
            double gap = (second_v - best_v) * best->weight;
            max = gap >= 1 ? (long)gap + 1 : 1;
        }
        long n = lab_sched_dispatch(best, max);
        lab_orch_act(o, best);
        if (max < 0 || n < max)
            best->share_blocked = 1;
    }
    for (lab_camp *c = o->camps; c; c = c->next)
        c->share_blocked = 0;
}

void lab_orch_schedule(lab_orch *o)
{
    if (o->scheduling) {         /* asked again from inside: one more round */
        o->schedule_again = 1;
        return;
    }
    o->scheduling = 1;
    do {
        o->schedule_again = 0;
        if (o->stopping || o->fatal)
            break;
        lab_share_start_queued(o);
        for (lab_camp *c = o->camps; c; c = c->next)
            if (!c->queued) {
                lab_sched_prepare(c);
                lab_orch_act(o, c);
            }
        if (o->single && o->camps) {
            lab_sched_dispatch(o->camps, -1);
            lab_orch_act(o, o->camps);
        } else {
            s_share(o);
        }
        for (lab_camp *c = o->camps; c; c = c->next) {
            lab_sched_check_end(c);
            lab_orch_act(o, c);
        }
    } while (o->schedule_again);
    o->scheduling = 0;
}

void lab_orch_campaign_activated(lab_orch *o, lab_camp *c)
{
    double least = -1;
    for (lab_camp *k = o->camps; k; k = k->next)
        if (k != c && !k->finished && !k->queued && k->state == LAB_CAMP_RUNNING && (least < 0 || k->dispatched / k->weight < least))
            least = k->dispatched / k->weight;
    c->dispatched = least > 0 ? least * c->weight : 0;
}

void lab_orch_campaign_ended(lab_orch *o, lab_camp *c)
{
    if (o->single) {             /* labloop run: the lab ends with its campaign */
        o->stopping = 1;
        uv_stop(&o->loop);
        return;
    }
    /* A lab goes on: the campaign's end is recorded now, and its devices
     * are not told anything (they serve the lab's other campaigns). */
    if (c->finished)
        return;
    c->finished = 1;
    c->ended_us = lab_orch_now();
    lab_share_release(o, c);
    o->schedule_again = 1;       /* its place may go to a queued campaign */
    const char *status = c->end_status;
    double secs = (double)(lab_orch_now() - c->created_us) / 1e6;
    if (lab_hub_set_campaign_status(o->hub, c->campaign_id, status, lab_orch_now()) < 0)
        lab_orch_fatal(o, "recording the campaign status");
    lab_camp_event(c, LAB_EV_CAMPAIGN_STATUS, c->cfg->name,
                   json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}", "status", status, "reason", c->end_reason,
                             "experiments", (json_int_t)c->n_exps, "measured", (json_int_t)c->measured,
                             "failed", (json_int_t)c->failed, "seconds", secs));
    if (o->opts.until_done) {
        int all = 1;
        for (lab_camp *k = o->camps; k; k = k->next)
            all &= k->finished;
        if (all) {
            o->stopping = 1;
            uv_stop(&o->loop);
        }
    }
    lab_info("campaign '%s' %s: %ld experiments (%ld measured, %ld failed)%s%s", c->cfg->name, status, c->n_exps,
             c->measured, c->failed, c->end_reason[0] ? " — " : "", c->end_reason);
    if (o->opts.progress) {
        fprintf(o->opts.progress, "campaign %s %s: %ld experiments (%ld measured, %ld failed)%s%s\n", c->cfg->name,
                status, c->n_exps, c->measured, c->failed, c->end_reason[0] ? " — " : "", c->end_reason);
        fflush(o->opts.progress);
    }
}

/* A device's durable acks ride on the next message to it; one that stays
 * busy gets them on their own after S_ACK_HOLD_US (s_send_held_acks), an
 * idle one at the end of the loop turn. Holding them saves a message each
 * way per step when steps follow each other quickly. */
static void s_free_acks(lab_device *d)
{
    for (size_t i = 0; i < d->n_acks; i++)
        free(d->acks[i]);
    d->n_acks = 0;
}

static void s_hold_acks(lab_orch *o, lab_out *q)
{
    lab_device *d = lab_orch_device(o, q->id);
    if (!d)
        return;
    if (d->open_ack == q)
        d->open_ack = NULL;
    if (d->n_acks + q->ack.n_attempt_ids > d->cap_acks) {
        size_t cap = (d->n_acks + q->ack.n_attempt_ids) * 2;
        char **a = realloc(d->acks, cap * sizeof *a);
        if (!a)
            return;          /* not acked now: the worker sends the result again */
        d->acks = a;
        d->cap_acks = cap;
    }
    if (!d->ack_listed) {
        /* ack_devs has room for every device (lab_orch_new) */
        o->ack_devs[o->n_ack_devs++] = d;
        d->ack_listed = 1;
    }
    if (!d->n_acks)
        d->acks_since_us = lab_clock_mono_us();
    for (size_t i = 0; i < q->ack.n_attempt_ids; i++) {
        d->acks[d->n_acks++] = q->ack_ids[i];
        q->ack_ids[i] = NULL;
    }
    q->ack.n_attempt_ids = 0;
}

void lab_orch_send(lab_orch *o, const char *dev, lab_env *env)
{
    lab_device *d = lab_orch_device(o, dev);
    if (d && d->n_acks && env->body_case != LABLOOP__ENVELOPE__BODY_ACK) {
        env->acks = d->acks;
        env->n_acks = d->n_acks;
    }
    env->seq = ++o->seq;
    lab_err e = {0};
    if (lab_env_send(o->dev_sock, dev, env, &e) < 0) {
        if (d && d->state == LAB_DEV_READY)
            lab_warn("send %s to '%s' failed: %s", lab_env_kind(env), dev, e.msg);
        else
            lab_debug("send %s to '%s' (not connected) failed: %s", lab_env_kind(env), dev, e.msg);
    } else if (env->n_acks) {
        s_free_acks(d);
    }
    env->acks = NULL;
    env->n_acks = 0;
    o->sent++;
}

/* Acks that found no message to ride on: to idle devices now, to busy ones
 * once they have waited S_ACK_HOLD_US (the tick's flush sends those).
 * Only the devices holding acks are looked at (this runs every loop turn). */
static void s_send_held_acks(lab_orch *o)
{
    int64_t now = lab_clock_mono_us();
    size_t keep = 0;
    for (size_t i = 0; i < o->n_ack_devs; i++) {
        lab_device *d = o->ack_devs[i];
        if (!d->n_acks) {
            d->ack_listed = 0;       /* they rode on another message */
            continue;
        }
        if (d->running > 0 && !o->stopping && now - d->acks_since_us < S_ACK_HOLD_US) {
            o->ack_devs[keep++] = d;
            continue;
        }
        d->ack_listed = 0;
        Labloop__Ack ack = LABLOOP__ACK__INIT;
        ack.attempt_ids = d->acks;
        ack.n_attempt_ids = d->n_acks;
        lab_env env = LABLOOP__ENVELOPE__INIT;
        env.body_case = LABLOOP__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        lab_orch_send(o, d->cfg->name, &env);
        s_free_acks(d);      /* sent or not: an unreachable worker sends its results again */
    }
    o->n_ack_devs = keep;
}

static lab_out *s_queue(lab_orch *o, const char *dev)
{
    lab_out *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    snprintf(q->id, sizeof q->id, "%s", dev);
    q->id_len = strlen(q->id);
    q->env = calloc(1, sizeof *q->env);
    if (!q->env) {
        free(q);
        return NULL;
    }
    labloop__envelope__init(q->env);
    if (o->out_tail)
        o->out_tail->next = q;
    else
        o->out_head = q;
    o->out_tail = q;
    return q;
}

lab_out *lab_orch_queue_control_reply(lab_orch *o, const char *id, size_t id_len, char *json)
{
    lab_out *q = calloc(1, sizeof *q);
    if (!q) {
        free(json);
        return NULL;
    }
    q->control = 1;
    q->id_len = id_len < sizeof q->id ? id_len : sizeof q->id;
    memcpy(q->id, id, q->id_len);
    q->json = json;
    if (o->out_tail)
        o->out_tail->next = q;
    else
        o->out_head = q;
    o->out_tail = q;
    return q;
}

static void s_out_free(lab_out *q)
{
    if (q->ack_ids) {
        for (size_t i = 0; i < q->ack.n_attempt_ids; i++)
            free(q->ack_ids[i]);
        free(q->ack_ids);
    }
    free(q->refuse.detail);
    free(q->json);
    free(q->env);
    free(q);
}

void lab_orch_queue_ack(lab_orch *o, const char *dev, const char *attempt)
{
    /* Merge into the device's Ack still waiting for its commit (never into
     * one whose commit has begun: these ids are not durable yet). */
    lab_device *d = lab_orch_device(o, dev);
    lab_out *q = d && d->open_ack && !d->open_ack->committed ? d->open_ack : NULL;
    if (!q) {
        q = s_queue(o, dev);
        if (!q)
            return;
        labloop__ack__init(&q->ack);
        q->env->body_case = LABLOOP__ENVELOPE__BODY_ACK;
        q->env->ack = &q->ack;
        if (d)
            d->open_ack = q;
    }
    char **ids = realloc(q->ack_ids, (q->ack.n_attempt_ids + 1) * sizeof *ids);
    if (!ids)
        return;
    q->ack_ids = ids;
    ids[q->ack.n_attempt_ids++] = strdup(attempt);
    q->ack.attempt_ids = ids;
}

static void s_send_control_reply(lab_orch *o, lab_out *q)
{
    if (zmq_send(o->ctl_sock, q->id, q->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(o->ctl_sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(o->ctl_sock, q->json, strlen(q->json), ZMQ_DONTWAIT) < 0)
        lab_warn("control reply not sent: %s", zmq_strerror(zmq_errno()));
}

/* What was queued before the last commit (all: everything queued) is on
 * disk: acks wait on their devices for a message to ride on, the rest goes
 * out, and the experiments in that commit may be dispatched. */
static void s_record_latency(lab_orch *o, int64_t us)
{
    if (o->n_lat == o->cap_lat) {
        size_t cap = o->cap_lat ? 2 * o->cap_lat : 1024;
        double *p = realloc(o->lat_us, cap * sizeof *p);
        if (!p)
            return;
        o->lat_us = p;
        o->cap_lat = cap;
    }
    o->lat_us[o->n_lat++] = (double)us;
}

static void s_durable(lab_orch *o, int all)
{
    for (lab_out *q = o->out_head; q && (all || q->committed); q = q->next) {
        q->committed = 1;
        if (!q->control && q->env->body_case == LABLOOP__ENVELOPE__BODY_ACK)
            s_hold_acks(o, q);
    }
    size_t n = all ? o->n_uncommitted : o->n_committed_lat;
    if (n) {
        int64_t now = lab_clock_mono_us();
        for (size_t i = 0; i < n; i++)
            s_record_latency(o, now - o->uncommitted_us[i]);
        memmove(o->uncommitted_us, o->uncommitted_us + n, (o->n_uncommitted - n) * sizeof *o->uncommitted_us);
        o->n_uncommitted -= n;
        o->last_done_us = now;
    }
    o->n_committed_lat = 0;
    for (lab_camp *c = o->camps; c; c = c->next) {
        lab_sched_mark_durable(c, all);
        lab_orch_act(o, c);
    }
    int welcomed = 0;
    while (o->out_head && o->out_head->committed) {   /* later ones wait for the next commit */
        lab_out *q = o->out_head;
        o->out_head = q->next;
        if (!o->out_head)
            o->out_tail = NULL;
        if (q->control) {
            s_send_control_reply(o, q);
            o->sent++;
        } else if (q->env->body_case == LABLOOP__ENVELOPE__BODY_ACK) {
            /* its ids are held by the device (s_hold_acks) */
        } else {
            lab_orch_send(o, q->id, q->env);
            if (q->env->body_case == LABLOOP__ENVELOPE__BODY_WELCOME) {
                lab_device *d = lab_orch_device(o, q->id);
                if (d && d->state == LAB_DEV_READY) {
                    d->welcomed = welcomed = 1;
                    lab_orch_device_sync(d);
                    for (lab_camp *c = o->camps; c; c = c->next) {
                        lab_sched_device_welcomed(c, d);
                        lab_orch_act(o, c);
                    }
                }
            }
        }
        s_out_free(q);
    }
    if (welcomed)
        lab_orch_schedule(o);
}

static void s_commit_work(uv_work_t *req)
{
    lab_orch *o = req->data;
    lab_hub_commit_run(o->hub);
}

/* status < 0: the batch never ran (the work was cancelled); commit_end
 * then reports it as not committed. */
static void s_commit_done(uv_work_t *req, int status)
{
    lab_orch *o = req->data;
    o->syncing = 0;
    lab_err e = {0};
    int ret = lab_hub_commit_end(o->hub, &e);
    if (o->fatal)
        return;
    if (ret < 0 || status < 0) {
        if (ret >= 0)
            lab_err_set(&e, LAB_EDB, "the hub's commit did not run: %s", uv_strerror(status));
        s_stop_fatal(o, &e);
        return;
    }
    s_durable(o, 0);
}

/* Commit, then send what waited for it. Called by zloop before sleeping.
 * The hub's writes of this turn are queued, not yet run. After a busy turn
 * they run and commit on libuv's thread pool while the loop goes on
 * receiving and dispatching; what waited for them goes out when that is done
 * (s_commit_done), and writes made meanwhile join the next commit, which
 * starts then. */
static int s_flush(void *arg)
{
    lab_orch *o = arg;
    /* Whatever a campaign decided is carried out before its commit (each
     * input's actions are, as it is handled: this only makes sure). */
    for (lab_camp *c = o->camps; c; c = c->next)
        lab_orch_act(o, c);
    if (!o->fatal && !o->syncing)
        lab_control_run_deferred(o);     /* submissions: they read and write the hub at once */
    if (!o->fatal && !o->syncing) {
        if (!lab_hub_dirty(o->hub)) {
            s_durable(o, 1);          /* nothing written since the last commit */
        } else {
            lab_err e = {0};
            if (lab_hub_commit_begin(o->hub, &e) < 0) {
                s_stop_fatal(o, &e);
                return 0;
            }
            o->commits++;
            for (lab_out *q = o->out_head; q; q = q->next)
                q->committed = 1;
            o->n_committed_lat = o->n_uncommitted;
            for (lab_camp *c = o->camps; c; c = c->next)
                lab_sched_mark_committed(c);
            /* A quiet turn commits here: a thread-pool round trip would
             * only add to the latency when nothing else is waiting. */
            if (o->received >= S_SYNC_ASYNC_MIN) {
                int rc = uv_queue_work(&o->loop, &o->commit_req, s_commit_work, s_commit_done);
                if (rc < 0) {
                    lab_hub_commit_run(o->hub);
                    s_commit_done(&o->commit_req, 0);
                } else {
                    o->syncing = 1;
                }
            } else {
                lab_hub_commit_run(o->hub);
                s_commit_done(&o->commit_req, 0);
            }
        }
    }
    if (o->fatal)
        return 0;
    s_send_held_acks(o);
    o->received = 0;
    int n = o->sent;
    o->sent = 0;
    return n;
}

/* ------------------------------------------------------------ devices */

/* FNV-1a: device names are short and chosen by the lab, not by peers
 * (a peer's unknown name only costs a probe or two). */
static uint32_t s_name_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The name index: a power-of-two table at most half full. */
static int s_index_devices(lab_orch *o)
{
    size_t n = 16;
    while (n < 2 * o->cfg->n_devices)
        n *= 2;
    o->dev_hash = calloc(n, sizeof *o->dev_hash);
    if (!o->dev_hash)
        return -1;
    o->dev_hash_mask = n - 1;
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        size_t k = s_name_hash(o->devices[i].cfg->name) & o->dev_hash_mask;
        while (o->dev_hash[k])
            k = (k + 1) & o->dev_hash_mask;
        o->dev_hash[k] = (uint32_t)i + 1;
    }
    return 0;
}

/* Every message in and out looks its device up by name: O(1), whatever
 * the size of the lab. */
lab_device *lab_orch_device(lab_orch *o, const char *name)
{
    if (!o->dev_hash)
        return NULL;
    for (size_t k = s_name_hash(name) & o->dev_hash_mask; o->dev_hash[k]; k = (k + 1) & o->dev_hash_mask) {
        lab_device *d = &o->devices[o->dev_hash[k] - 1];
        if (!strcmp(d->cfg->name, name))
            return d;
    }
    return NULL;
}

void lab_orch_device_sync(lab_device *d)
{
    if (d->slots)
        lab_slots_set(d->slots, d->idx, d->state == LAB_DEV_READY && d->welcomed, d->running + d->reserved,
                      d->capacity, d->dispatched);
}

void lab_orch_device_hold(lab_device *d, int delta)
{
    d->reserved += delta;
    lab_orch_device_sync(d);
}

/* Busy time counts step-seconds: each running attempt adds its own time,
 * so a capacity-2 device running two steps for 10 s is busy 20 s and its
 * utilisation is busy / (elapsed * capacity) — the definition the review
 * commands use on the hub's rows (docs/REVIEW.md). */
void lab_orch_device_busy(lab_device *d, int delta)
{
    int64_t now = lab_clock_mono_us();
    if (d->running > 0)
        d->busy_s += (double)d->running * (double)(now - d->busy_since_us) / 1e6;
    d->busy_since_us = now;
    d->running += delta;
    lab_orch_device_sync(d);
}

void lab_orch_send_control(lab_orch *o, const char *dev, Labloop__Control__Action action,
                           const char *attempt, const char *reason)
{
    Labloop__Control c = LABLOOP__CONTROL__INIT;
    c.action = action;
    c.attempt_id = (char *)(attempt ? attempt : "");
    c.reason = (char *)(reason ? reason : "");
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_CONTROL;
    env.control = &c;
    lab_orch_send(o, dev, &env);
}

/* To every configured device, whatever we think of its state: a device we
 * hold as lost or offline may still be connected and working (an e-stop
 * must reach it). Sends to peers that are not connected fail quietly. */
void lab_orch_broadcast_control(lab_orch *o, Labloop__Control__Action action, const char *reason)
{
    for (size_t i = 0; i < o->cfg->n_devices; i++)
        lab_orch_send_control(o, o->devices[i].cfg->name, action, NULL, reason);
}

static void s_refuse(lab_orch *o, const char *id, Labloop__Refuse__Reason reason, const char *detail)
{
    lab_out *q = s_queue(o, id);
    if (!q)
        return;
    labloop__refuse__init(&q->refuse);
    q->refuse.reason = reason;
    q->refuse.detail = strdup(detail);
    q->env->body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    q->env->refuse = &q->refuse;
    lab_orch_event(o, LAB_EV_DEVICE_REFUSED, id, json_pack("{s:s, s:s}", "device", id, "reason", detail));
    lab_warn("device '%s' refused: %s", id, detail);
}

/* A peer of another protocol version checks the signature against its own
 * version: the refusal goes out at once under the peer's version byte (a
 * Refuse keeps its field numbers in every version), so it can read why. */
static void s_refuse_version(lab_orch *o, const char *id, const lab_err *e)
{
    int v = lab_env_err_version(e);
    Labloop__Refuse r = LABLOOP__REFUSE__INIT;
    r.reason = LABLOOP__REFUSE__REASON__BAD_VERSION;
    r.detail = (char *)e->msg;
    lab_env env = LABLOOP__ENVELOPE__INIT;
    env.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    env.refuse = &r;
    env.seq = ++o->seq;
    lab_err se = {0};
    if (lab_env_send_as(o->dev_sock, id, &env, v >= 0 ? (uint8_t)v : LAB_PROTO_VERSION, &se) < 0)
        lab_debug("refusal of '%s' (version %d) not sent: %s", id, v, se.msg);
    o->sent++;
    lab_orch_event(o, LAB_EV_DEVICE_REFUSED, id, json_pack("{s:s, s:s}", "device", id, "reason", e->msg));
    lab_warn("device '%s' refused: %s", id, e->msg);
}

static void s_device_lost(lab_orch *o, lab_device *d, const char *why)
{
    if (d->state != LAB_DEV_READY)
        return;
    d->state = LAB_DEV_LOST;
    d->welcomed = 0;
    o->n_ready_devs--;
    lab_orch_device_sync(d);
    lab_warn("device '%s' lost: %s", d->cfg->name, why);
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!c->finished && lab_hub_set_device_status(o->hub, c->campaign_id, d->cfg->name, "lost", lab_orch_now()) < 0)
            lab_orch_fatal(o, "recording a device");
    lab_orch_event(o, LAB_EV_DEVICE_LOST, d->cfg->name, json_pack("{s:s, s:s}", "device", d->cfg->name, "reason", why));
    for (lab_camp *c = o->camps; c; c = c->next) {
        lab_sched_device_lost(c, d, why);
        lab_orch_act(o, c);
    }
}

/* An e-stop halts every campaign of the lab: one halted means the lab is. */
static int s_halted(const lab_orch *o)
{
    for (const lab_camp *c = o->camps; c; c = c->next)
        if (c->state == LAB_CAMP_HALTED && !c->finished)
            return 1;
    return 0;
}

static void s_on_hello(lab_orch *o, const char *id, Labloop__Hello *h)
{
    if (!h->device || strcmp(h->device, id) != 0) {
        s_refuse(o, id, LABLOOP__REFUSE__REASON__MALFORMED,
                 "hello names a different device than the connection's routing id");
        return;
    }
    lab_device *d = lab_orch_device(o, id);
    if (!d) {
        char msg[512];
        snprintf(msg, sizeof msg, "device '%s' is not in %s '%s' (expected devices are listed under 'devices:' in %s)",
                 id, o->single ? "campaign" : "lab", o->cfg->name, o->cfg->path);
        s_refuse(o, id, LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE, msg);
        return;
    }
    for (size_t i = 0; i < d->cfg->n_capabilities; i++) {
        int has = 0;
        for (size_t j = 0; j < h->n_capabilities; j++)
            has |= !strcmp(h->capabilities[j], d->cfg->capabilities[i]);
        if (!has) {
            char msg[512];
            snprintf(msg, sizeof msg, "device '%s' does not offer capability '%s' that the campaign expects of it",
                     id, d->cfg->capabilities[i]);
            s_refuse(o, id, LABLOOP__REFUSE__REASON__NOT_ALLOWED, msg);
            return;
        }
    }
    d->heard = 1;
    for (lab_camp *c = o->camps; c; c = c->next) {
        lab_sched_device_hello(c, d, h);
        lab_orch_act(o, c);
    }
    lab_slots_heard(o->slots, d->idx);
    if (d->state != LAB_DEV_READY)
        o->n_ready_devs++;
    d->state = LAB_DEV_READY;
    d->welcomed = 0;
    d->last_rx_us = lab_clock_mono_us();
    if (!o->all_ready_us && o->n_ready_devs == o->cfg->n_devices) {
        o->all_ready_us = d->last_rx_us;
        o->n_lat_all_ready = o->n_lat;
    }
    snprintf(d->driver, sizeof d->driver, "%s", h->driver ? h->driver : "");
    d->capacity = h->capacity ? (int)h->capacity : 1;
    if (d->capacity > d->cfg->capacity)
        d->capacity = d->cfg->capacity;
    lab_orch_device_sync(d);
    json_t *caps = json_array();
    for (size_t j = 0; j < h->n_capabilities; j++)
        json_array_append_new(caps, json_string(h->capabilities[j]));
    char *caps_js = json_dumps(caps, JSON_COMPACT);
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!c->finished &&
            lab_hub_record_device(o->hub, c->campaign_id, id, d->driver, caps_js, d->capacity, "ready", lab_orch_now()) < 0)
            lab_orch_fatal(o, "recording a device");
    free(caps_js);
    lab_orch_event(o, LAB_EV_DEVICE_READY, id,
                   json_pack("{s:s, s:s, s:o, s:i, s:s}", "device", id, "driver", d->driver,
                             "capabilities", caps, "capacity", d->capacity, "version",
                             h->software_version ? h->software_version : ""));
    lab_info("device '%s' ready (%s, capacity %d)", id, d->driver, d->capacity);
    lab_out *q = s_queue(o, id);
    if (q) {
        labloop__welcome__init(&q->welcome);
        q->welcome.heartbeat_ms = (uint32_t)o->cfg->heartbeat_ms;
        q->welcome.liveness = (uint32_t)o->cfg->liveness;
        q->welcome.campaign = o->cfg->name;
        q->welcome.max_message_bytes = LAB_MSG_MAX;
        snprintf(q->run, sizeof q->run, "%lld", (long long)o->run_id);
        q->welcome.run = q->run;
        q->env->body_case = LABLOOP__ENVELOPE__BODY_WELCOME;
        q->env->welcome = &q->welcome;
    }
    /* A halted campaign keeps every device stopped, also one that rejoins.
     * A device still latched in e-stop (it missed the clear, or tripped while
     * away) halts the campaign: only an operator's clear-estop ends it. */
    if (s_halted(o))
        lab_orch_send_control(o, id, LABLOOP__CONTROL__ACTION__ESTOP, NULL,
                              o->single ? "campaign is halted by an e-stop" : "lab is halted by an e-stop");
    else if (h->estopped)
        lab_control_estop(o, id, "device", "the device is latched in e-stop (clear it with labloop clear-estop)");
}

/* The campaign is over: every device is told so (after its last acks), so
 * that its worker stops instead of reconnecting to nobody for ever. */
static void s_tell_ended(lab_orch *o, const char *status)
{
    char detail[400];
    snprintf(detail, sizeof detail, "campaign '%s' ended (%s)", o->camps->cfg->name, status);
    Labloop__Refuse r = LABLOOP__REFUSE__INIT;
    r.reason = LABLOOP__REFUSE__REASON__CAMPAIGN_ENDED;
    r.detail = detail;
    lab_env e = LABLOOP__ENVELOPE__INIT;
    e.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    e.refuse = &r;
    for (size_t i = 0; i < o->cfg->n_devices; i++)
        lab_orch_send(o, o->devices[i].cfg->name, &e);
}

static void s_nudge(lab_orch *o, lab_device *d, const char *id)
{
    int64_t now = lab_clock_mono_us();
    if (now - d->last_nudge_us <= S_NUDGE_US)
        return;
    d->last_nudge_us = now;
    Labloop__Refuse r = LABLOOP__REFUSE__INIT;
    r.reason = LABLOOP__REFUSE__REASON__NOT_REGISTERED;
    r.detail = (char *)"not registered: say hello again";
    lab_env e = LABLOOP__ENVELOPE__INIT;
    e.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
    e.refuse = &r;
    lab_orch_send(o, id, &e);
}

/* A result goes to the campaign its attempt id names; one that no
 * campaign of the lab dispatched is acknowledged (the worker may drop it)
 * and noted. */
static void s_on_result(lab_orch *o, lab_device *d, Labloop__StepResult *r)
{
    const char *id = r->attempt_id ? r->attempt_id : "";
    lab_camp *c = lab_orch_campaign_of(o, id);
    if (!c && o->single)
        c = o->camps;            /* it says so in the campaign's own words */
    if (c) {
        lab_sched_on_result(c, d, r);
        lab_orch_act(o, c);
        return;
    }
    lab_orch_queue_ack(o, d->cfg->name, id);
    lab_orch_event(o, LAB_EV_MESSAGE_BAD, id,
                   json_pack("{s:s, s:s}", "device", d->cfg->name, "error",
                             "result for an attempt no campaign of this lab dispatched"));
}

static void s_handle(lab_orch *o, const char *id, lab_env *env)
{
    lab_device *d = lab_orch_device(o, id);
    if (env->body_case == LABLOOP__ENVELOPE__BODY_HELLO) {
        s_on_hello(o, id, env->hello);
        return;
    }
    if (!d) {
        s_refuse(o, id, LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE, "unknown device: say hello first");
        return;
    }
    if (env->body_case == LABLOOP__ENVELOPE__BODY_CONTROL &&
        env->control->action == LABLOOP__CONTROL__ACTION__ESTOP) {
        /* An e-stop is heard from any lab device, registered or not. */
        char reason[300];
        snprintf(reason, sizeof reason, "device '%s': %s", id,
                 env->control->reason && *env->control->reason ? env->control->reason : "e-stop");
        lab_control_estop(o, id, "device", reason);
        if (d->state != LAB_DEV_READY)
            s_nudge(o, d, id);
        return;
    }
    if (d->state != LAB_DEV_READY) {
        /* A lab device we hold as offline or lost: ask it to say hello
         * again, so its results get through. */
        s_nudge(o, d, id);
        return;
    }
    d->last_rx_us = lab_clock_mono_us();
    switch (env->body_case) {
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT:
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_UPDATE:
        if (env->step_update->attempt_id) {
            lab_camp *c = lab_orch_campaign_of(o, env->step_update->attempt_id);
            if (c) {
                lab_sched_on_update(c, d, env->step_update);
                lab_orch_act(o, c);
            }
        }
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_RESULT:
        s_on_result(o, d, env->step_result);
        break;
    case LABLOOP__ENVELOPE__BODY_CONTROL:      /* ESTOP was handled above */
        lab_orch_event(o, LAB_EV_MESSAGE_BAD, id,
                       json_pack("{s:s, s:s}", "device", id, "error", "a device may only send an e-stop control"));
        break;
    default:
        lab_orch_event(o, LAB_EV_MESSAGE_BAD, id,
                       json_pack("{s:s, s:s}", "device", id, "error",
                                 "a worker sent a message only the orchestrator may send"));
        break;
    }
}

/* With CURVE every message must come from the key of the device whose
 * routing id it carries (the ZAP handler named the connection after its
 * key): a valid key of one device cannot speak for another. Refused
 * messages are not processed; the sender is told once in a while. */
static int s_key_mismatch(lab_orch *o, const char *id, const char *peer)
{
    if (!lab_auth_secure(o->auth) || !strcmp(id, peer))
        return 0;
    lab_auth_refused(o->auth, LAB_REFUSED_MESSAGE,
                     "a message as device '%s' came over a connection authenticated as '%s'; refused", id, peer);
    lab_device *d = lab_orch_device(o, id);
    int64_t now = lab_clock_mono_us();
    if (!d || now - d->last_nudge_us > S_NUDGE_US) {
        if (d)
            d->last_nudge_us = now;
        char detail[200];
        snprintf(detail, sizeof detail, "this connection's key belongs to '%s', not to '%s'", peer, id);
        Labloop__Refuse r = LABLOOP__REFUSE__INIT;
        r.reason = LABLOOP__REFUSE__REASON__NOT_ALLOWED;
        r.detail = detail;
        lab_env e = LABLOOP__ENVELOPE__INIT;
        e.body_case = LABLOOP__ENVELOPE__BODY_REFUSE;
        e.refuse = &r;
        lab_orch_send(o, id, &e);
    }
    return 1;
}

static void s_on_refused(void *arg, lab_refused_kind kind, const char *what)
{
    lab_orch *o = arg;
    const char *k = lab_auth_kind_name(kind);
    lab_warn("refused %s: %s", k, what);
    lab_orch_event(o, LAB_EV_SECURITY_REFUSED, k, json_pack("{s:s, s:s}", "kind", k, "detail", what));
}

static int s_on_readable(void *sock, void *arg)
{
    lab_orch *o = arg;
    int n = 0;
    while (!o->fatal) {
        char id[LAB_ID_MAX], peer[LAB_ID_MAX];
        lab_env *env = NULL;
        lab_err e = {0};
        int rc = lab_env_recv_peer(sock, id, sizeof id, peer, sizeof peer, &env, &e);
        if (rc == LAB_EAGAIN)
            break;
        n++;
        o->received++;
        if (s_key_mismatch(o, id, peer)) {
            lab_env_free(env);
            continue;
        }
        if (rc < 0) {
            lab_orch_event(o, LAB_EV_MESSAGE_BAD, id, json_pack("{s:s, s:s}", "device", id, "error", e.msg));
            if (!lab_badmsg_quiet(&o->badmsg, id))   /* the log is limited like the rows */
                lab_warn("bad message from '%s': %s", id, e.msg);
            if (rc == LAB_EVERSION)
                s_refuse_version(o, id, &e);
            continue;
        }
        s_handle(o, id, env);
        lab_env_free(env);
    }
    if (n)
        lab_orch_schedule(o);
    return n;
}

/* ------------------------------------------------------------ timers */

static void s_note_waiting(lab_orch *o)
{
    char names[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < o->cfg->n_devices && len < sizeof names; i++) {
        if (o->devices[i].state == LAB_DEV_READY)
            continue;
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                o->devices[i].cfg->name);
    }
    if (names[0] && o->opts.progress) {
        fprintf(o->opts.progress, "waiting for devices: %s (listening on %s)\n", names,
                o->cfg->endpoint_devices);
        fflush(o->opts.progress);
    }
}

static void s_on_tick(uv_timer_t *t)
{
    lab_orch *o = t->data;
    int64_t now = lab_clock_mono_us();
    lab_badmsg_flush(&o->badmsg, now, 0, s_bad_summary, o);
    int64_t hb = (int64_t)o->cfg->heartbeat_ms * 1000;
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        lab_device *d = &o->devices[i];
        if (d->state != LAB_DEV_READY)
            continue;
        if (now - d->last_rx_us > hb * o->cfg->liveness) {
            char why[128];
            snprintf(why, sizeof why, "no message for %.1f s (%d heartbeats missed)",
                     (double)(now - d->last_rx_us) / 1e6, o->cfg->liveness);
            s_device_lost(o, d, why);
            continue;
        }
        if (now - d->last_hb_us >= hb) {
            Labloop__Heartbeat h = LABLOOP__HEARTBEAT__INIT;
            h.time_us = lab_orch_now();
            lab_env env = LABLOOP__ENVELOPE__INIT;
            env.body_case = LABLOOP__ENVELOPE__BODY_HEARTBEAT;
            env.heartbeat = &h;
            lab_orch_send(o, d->cfg->name, &env);
            d->last_hb_us = now;
        }
    }
    for (lab_camp *c = o->camps; c; c = c->next) {
        if (c->finished)
            continue;
        lab_sched_check_deadlines(c, now);
        lab_orch_act(o, c);
        /* The time budget counts from the campaign's creation, across
         * restarts (an extension moves the deadline on). */
        if (c->deadline_us && !c->end_status && lab_orch_now() > c->deadline_us) {
            c->end_status = "exhausted";
            snprintf(c->end_reason, sizeof c->end_reason, "time budget of %g h spent",
                     (double)(c->deadline_us - c->created_us) / 3600e6);
        }
    }
    if (now - o->last_note_us > S_WAITING_NOTE_US) {
        o->last_note_us = now;
        s_note_waiting(o);
    }
    lab_orch_schedule(o);
}

static void s_on_signal(uv_signal_t *h, int signum)
{
    lab_orch *o = h->data;
    if (o->single)
        lab_warn("signal %d: stopping; `labloop run` with the same hub resumes the campaign (%s)", signum, o->db_path);
    else
        lab_warn("signal %d: stopping; `labloop lab` with the same hub resumes its campaigns (%s)", signum, o->db_path);
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!c->finished)
            lab_camp_event(c, LAB_EV_CAMPAIGN_INTERRUPTED, c->cfg->name, json_pack("{s:i}", "signal", signum));
    o->stopping = 1;
    uv_stop(&o->loop);
}

/* ------------------------------------------------------------ lifecycle */

const char *lab_camp_state_name(const lab_camp *o)
{
    if (o->end_status)
        return o->end_status;
    if (o->queued)
        return "queued";
    return o->state == LAB_CAMP_PAUSED ? "paused" : o->state == LAB_CAMP_HALTED ? "halted" : "running";
}

/* What the hub says about a campaign being resumed: its budget with the
 * extensions it was given, and why it is paused. */
static void s_apply_lifecycle(lab_camp *o, const lab_hub_lifecycle *lc)
{
    o->budget_experiments = o->cfg->budget_experiments + (long)lc->extra_experiments;
    o->extensions = (long)lc->extensions;
    o->deadline_us = o->cfg->budget_hours > 0 ? o->created_us + (int64_t)(o->cfg->budget_hours * 3600e6) : 0;
    if (lc->deadline_us > o->deadline_us)
        o->deadline_us = lc->deadline_us;
    if (lc->paused) {
        snprintf(o->pause_reason, sizeof o->pause_reason, "%s", lc->pause_reason);
        snprintf(o->paused_by, sizeof o->paused_by, "%s", lc->paused_by);
        snprintf(o->brake_cause, sizeof o->brake_cause, "%s", lc->brake_cause);
        o->brake_failures = (long)lc->brake_failures;
    }
}

/* The hub's folder is made when missing (like `mkdir -p`), so a config's
 * `hub: results/run-7.db` works on a fresh checkout. */
static int s_make_parent_dirs(const char *path, lab_err *err)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0775) != 0 && errno != EEXIST)
                return lab_err_from_errno(err, errno, dir);
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static void *s_bind(lab_orch *o, const char *endpoint, const char *what, lab_auth_endpoint ep, lab_err *err)
{
    void *s = zmq_socket(o->zctx, ZMQ_ROUTER);
    if (!s) {
        lab_err_from_zmq(err, "creating a socket");
        return NULL;
    }
    int one = 1, zero = 0;
    int64_t maxsz = 4 * (int64_t)LAB_MSG_MAX;
    zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsz, sizeof maxsz);
    if (lab_auth_server(o->auth, s, ep, err) < 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) != 0) {
        lab_err_from_zmq(err, "bind");
        lab_err_prefix(err, "cannot listen for %s on %s (is another campaign running?): ", what, endpoint);
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* hub.replicate_to: push the hub to the shared PostgreSQL hub from a
 * thread of its own, so the campaign never waits for PostgreSQL. */
static int s_start_replica(lab_orch *o, lab_err *err)
{
    char host[256] = "unknown";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    lab_hub_pg_push_opts po = {.lab = o->cfg->hub_lab ? o->cfg->hub_lab : host,
                               .group = o->cfg->hub_group,
                               .allow_closed = o->cfg->hub_replicate_closed};
    o->replica = lab_hub_replica_start(o->db_path, o->cfg->hub_replicate_to, &po, err);
    return o->replica ? 0 : err->code;
}

/* Each connected device holds a descriptor (its TCP connection): a lab of
 * a thousand devices needs more than the usual soft limit of 1024. Raised
 * up to the hard limit; past it, the connections beyond are refused by the
 * system and the log says why. */
static void s_raise_fd_limit(size_t n_devices)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)(n_devices + 256);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        lab_warn("%zu devices need about %llu open files; the limit is %llu (ulimit -n): some may not connect",
                 n_devices, (unsigned long long)want, (unsigned long long)rl.rlim_max);
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* The free-slot index over the campaign's devices, each step's capability
 * in it, and room to list every device holding acks. */
static int s_index_slots(lab_orch *o, lab_err *err)
{
    const lab_campaign_cfg *cfg = o->cfg;
    size_t n = cfg->n_devices;
    const char *const **caps = calloc(n ? n : 1, sizeof *caps);
    size_t *n_caps = calloc(n ? n : 1, sizeof *n_caps);
    o->ack_devs = calloc(n ? n : 1, sizeof *o->ack_devs);
    if (caps && n_caps && o->ack_devs) {
        for (size_t i = 0; i < n; i++) {
            caps[i] = (const char *const *)cfg->devices[i].capabilities;
            n_caps[i] = cfg->devices[i].n_capabilities;
        }
        o->slots = lab_slots_new(n, caps, n_caps, err);
    }
    free(caps);
    free(n_caps);
    if (!o->slots)
        return -1;
    for (size_t i = 0; i < n; i++)
        o->devices[i].slots = o->slots;
    return 0;
}

/* A campaign's end notification's summary: progress and the best so far. */
static json_t *s_camp_summary(lab_orch *lab, lab_camp *o)
{
    double elapsed = lab->single ? (double)(lab_clock_mono_us() - lab->start_mono_us) / 1e6
                                 : (double)(lab_orch_now() - o->created_us) / 1e6;
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "budget", (json_int_t)o->budget_experiments,
                          "experiments", (json_int_t)o->n_exps, "measured", (json_int_t)o->measured, "failed",
                          (json_int_t)o->failed, "cancelled", (json_int_t)o->cancelled, "elapsed_s", elapsed);
    if (j && !lab->single)
        json_object_set_new(j, "weight", json_real(o->weight));
    if (j && o->best) {
        lab_exp *b = o->exps[o->best - 1];
        json_object_set_new(j, "best", json_pack("{s:I, s:s, s:f, s:o}", "experiment", (json_int_t)b->seq,
                                                 "objective", o->cfg->objectives[0].name, "value", b->y[0],
                                                 "params", lab_sched_params_json(o, b->x)));
    }
    return j;
}

static json_t *s_notify_summary(void *arg)
{
    lab_orch *lab = arg;
    if (!lab->camps || !lab->single)
        return json_pack("{s:s, s:I}", "lab", lab->cfg->name, "campaigns", (json_int_t)lab->n_camps);
    return s_camp_summary(lab, lab->camps);
}

static json_t *s_notify_campaign_summary(void *arg, const char *campaign)
{
    lab_orch *lab = arg;
    lab_camp *c = lab_orch_campaign(lab, campaign);
    return c ? s_camp_summary(lab, c) : NULL;
}

static int s_start_notify(lab_orch *o, lab_err *err)
{
    char host[256] = "unknown";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    o->notify = lab_notify_new(o->cfg, o->cfg->hub_lab ? o->cfg->hub_lab : host, s_notify_summary, o, err);
    lab_notify_set_campaign_summary(o->notify, s_notify_campaign_summary);
    return o->notify ? 0 : err->code;
}

static void s_camp_destroy(lab_camp **cp)
{
    lab_camp_destroy(cp);
}

/* A campaign of o from cfg: its planner, then its row in the hub (created,
 * or read back and resumed). On failure NULL with err set; what it wrote
 * into the hub's open transaction is the caller's to roll back or not
 * commit. */
static lab_camp *s_camp_open(lab_orch *o, const lab_campaign_cfg *cfg, int queued, lab_err *err)
{
    lab_camp *c = lab_camp_new(cfg, &s_host, o, err);
    if (!c)
        return NULL;
    c->lab = o;
    c->progress = o->opts.progress;
    c->start_mono_us = o->start_mono_us;
    c->liveness_us = (int64_t)o->cfg->heartbeat_ms * 1000 * o->cfg->liveness;
    c->loop = &o->loop;

    if (lab_orch_prior_tell(c, err) < 0)
        goto fail;
    char status[32];
    int64_t now = lab_orch_now();
    if (lab_hub_find_campaign(o->hub, cfg->name, &c->campaign_id, status, sizeof status) == 0) {
        char sha[80] = "";
        /* A finished campaign runs again only when it was given more budget
         * since (labloop extend); an aborted one never. */
        int ended = !strcmp(status, "completed") || !strcmp(status, "exhausted");
        lab_hub_lifecycle lc;
        if (lab_hub_campaign_lifecycle(o->hub, c->campaign_id, &lc) < 0) {
            lab_err_set(err, LAB_EDB, "reading campaign '%s' from %s: %s", cfg->name, o->db_path,
                        lab_hub_errmsg(o->hub));
            goto fail;
        }
        if (!strcmp(status, "aborted") || (ended && !lc.extensions)) {
            lab_err_set(err, LAB_ESTATE, "campaign '%s' in %s already ended (%s); use another --db or campaign name%s",
                        cfg->name, o->db_path, status,
                        ended ? ", or give it more budget first (labloop extend CAMPAIGN.yaml --experiments N)" : "");
            goto fail;
        }
        if (lab_hub_campaign_origin(o->hub, c->campaign_id, sha, sizeof sha, &c->created_us) < 0) {
            lab_err_set(err, LAB_EDB, "reading campaign '%s' from %s: %s", cfg->name, o->db_path,
                        lab_hub_errmsg(o->hub));
            goto fail;
        }
        if (strcmp(sha, cfg->sha256) != 0) {
            lab_err_set(err, LAB_ESTATE,
                        "campaign '%s' in %s was started from a different config (sha256 %.12s..., this file %.12s...); "
                        "resume it with the config it started with",
                        cfg->name, o->db_path, sha, cfg->sha256);
            goto fail;
        }
        s_apply_lifecycle(c, &lc);
        c->queued = queued || !strcmp(status, "queued");   /* resubmitted beyond the cap: it waits too */
        c->state = !strcmp(status, "paused") ? LAB_CAMP_PAUSED : !strcmp(status, "halted") ? LAB_CAMP_HALTED
                                                                                          : LAB_CAMP_RUNNING;
        lab_camp_resume *rs = lab_camp_resume_begin(c, err);
        if (!rs)
            goto fail;
        int rc = lab_hub_each_experiment(o->hub, c->campaign_id, lab_camp_resume_experiment, rs);
        if (rc == 0)
            rc = lab_hub_each_step(o->hub, c->campaign_id, lab_camp_resume_step, rs);
        if (rc < 0 && !err->code)
            lab_err_set(err, LAB_EDB, "reading the campaign back from the hub: %s", lab_hub_errmsg(o->hub));
        if (lab_camp_resume_end(rs, rc) < 0)
            goto fail;
        if (ended && (lab_approve_used(c) >= c->budget_experiments || (c->deadline_us && now >= c->deadline_us))) {
            lab_err_set(err, LAB_ESTATE,
                        "campaign '%s' in %s already ended (%s) and has spent its extended budget too "
                        "(%ld experiments%s); give it more with labloop extend CAMPAIGN.yaml --experiments N%s",
                        cfg->name, o->db_path, status, c->budget_experiments,
                        c->deadline_us && now >= c->deadline_us ? ", time budget spent" : "",
                        c->deadline_us && now >= c->deadline_us ? " --hours H" : "");
            goto fail;
        }
        if (ended)
            lab_info("campaign '%s' ended %s; resuming it with its extended budget of %ld experiments", cfg->name,
                     status, c->budget_experiments);
        lab_camp_event(c, LAB_EV_CAMPAIGN_RESUMED, cfg->name,
                       json_pack("{s:s, s:I, s:I, s:I}", "status", lab_camp_state_name(c),
                                 "experiments", (json_int_t)c->n_exps, "measured", (json_int_t)c->measured,
                                 "in_flight", (json_int_t)c->n_active));
        if (lab_hub_set_campaign_status(o->hub, c->campaign_id, lab_camp_state_name(c), now) < 0) {
            lab_err_set(err, LAB_EDB, "recording the campaign in %s: %s", o->db_path, lab_hub_errmsg(o->hub));
            goto fail;
        }
        if (o->opts.progress)
            fprintf(o->opts.progress, "resuming campaign %s (%s): %ld experiments so far, %ld in flight%s\n",
                    cfg->name, lab_camp_state_name(c), c->n_exps, c->n_active,
                    c->n_waiting ? ", some waiting for approval (labloop status lists them)" : "");
    } else {
        char host[256] = "unknown";
        gethostname(host, sizeof host);
        host[sizeof host - 1] = '\0';
        c->created_us = now;
        c->deadline_us = cfg->budget_hours > 0 ? now + (int64_t)(cfg->budget_hours * 3600e6) : 0;
        lab_hub_campaign hc = {.name = cfg->name, .config_path = cfg->path, .config_text = cfg->text,
                               .config_sha256 = cfg->sha256, .seed = cfg->seed, .version = LAB_VERSION_STRING,
                               .host = host, .operator_name = cfg->operator_name, .access = cfg->access,
                               .export_control = cfg->export_control, .planner = cfg->planner_kind,
                               .created_us = now};
        if (o->started) {    /* queued writes: the row (and its id) at once */
            if (lab_hub_record_campaign_now(o->hub, &hc, &c->campaign_id, err) < 0)
                goto fail;
        } else if (lab_hub_record_campaign(o->hub, &hc, &c->campaign_id) < 0) {
            lab_err_set(err, LAB_EDB, "recording the campaign in %s: %s", o->db_path, lab_hub_errmsg(o->hub));
            goto fail;
        }
        c->queued = queued;
        if (lab_hub_set_campaign_status(o->hub, c->campaign_id, lab_camp_state_name(c), now) < 0) {
            lab_err_set(err, LAB_EDB, "recording the campaign in %s: %s", o->db_path, lab_hub_errmsg(o->hub));
            goto fail;
        }
        lab_camp_event(c, LAB_EV_CAMPAIGN_CREATED, cfg->name,
                       json_pack("{s:s, s:I, s:s, s:I, s:s}", "name", cfg->name, "seed", (json_int_t)cfg->seed,
                                 "planner", cfg->planner_kind, "budget", (json_int_t)cfg->budget_experiments,
                                 "config_sha256", cfg->sha256));
        lab_camp_event(c, LAB_EV_CAMPAIGN_STATUS, cfg->name, json_pack("{s:s}", "status", lab_camp_state_name(c)));
        if (lab_orch_prior_record(c, now, err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < o->cfg->n_devices; i++)
        if (lab_hub_record_device(o->hub, c->campaign_id, o->cfg->devices[i].name, NULL, NULL,
                                  o->devices[i].capacity,
                                  o->devices[i].state == LAB_DEV_READY ? "ready" : "offline", now) < 0) {
            lab_err_set(err, LAB_EDB, "recording devices: %s", lab_hub_errmsg(o->hub));
            goto fail;
        }
    return c;
fail:
    s_camp_destroy(&c);
    return NULL;
}

/* Append c to o's campaigns. */
static void s_camp_add(lab_orch *o, lab_camp *c)
{
    lab_camp **p = &o->camps;
    while (*p)
        p = &(*p)->next;
    *p = c;
    o->n_camps++;
}

/* The lab without campaigns: devices and their indexes, keys, webhooks,
 * the hub. Nothing is bound yet. */
static lab_orch *s_lab_new(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err)
{
    lab_orch *o = calloc(1, sizeof *o);
    if (!o) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->opts = *opts;
    snprintf(o->db_path, sizeof o->db_path, "%s", opts->db_path ? opts->db_path : cfg->hub);
    o->devices = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof *o->devices);
    if (!o->devices) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_devices; i++) {
        o->devices[i].cfg = &cfg->devices[i];
        o->devices[i].idx = i;
        o->devices[i].capacity = cfg->devices[i].capacity;
    }
    s_raise_fd_limit(cfg->n_devices);
    if (s_index_devices(o) < 0 || s_index_slots(o, err) < 0) {
        if (!err->code)
            lab_err_set(err, LAB_ENOMEM, "out of memory");
        goto fail;
    }

    /* Keys first: a lab whose secret key cannot be used leaves no hub behind. */
    o->zctx = zmq_ctx_new();
    if (!o->zctx) {
        lab_err_from_zmq(err, "creating the messaging context");
        goto fail;
    }
    o->auth = lab_auth_new(o->zctx, cfg, s_on_refused, o, err);
    if (!o->auth)
        goto fail;
    /* Webhooks' secrets likewise; started before the first event. */
    if (cfg->n_notify && s_start_notify(o, err) < 0)
        goto fail;
    if (s_make_parent_dirs(o->db_path, err) < 0)
        goto fail;
    o->hub = lab_hub_open(o->db_path, err);
    if (!o->hub)
        goto fail;
    o->commit_req.data = o;
    return o;
fail:
    lab_orch_destroy(&o);
    return NULL;
}

/* Bind both endpoints, commit what opening wrote, start the replica. */
static int s_lab_start(lab_orch *o, lab_err *err)
{
    o->dev_sock = s_bind(o, o->cfg->endpoint_devices, "devices", LAB_AUTH_DEVICES, err);
    if (!o->dev_sock)
        return err->code;
    o->ctl_sock = s_bind(o, o->cfg->endpoint_control, "control commands", LAB_AUTH_CONTROL, err);
    if (!o->ctl_sock)
        return err->code;
    if (lab_hub_commit(o->hub, err) < 0 || lab_hub_queue_writes(o->hub, err) < 0)
        return err->code;
    o->started = 1;
    if (o->cfg->hub_replicate_to && s_start_replica(o, err) < 0)
        return err->code;
    return 0;
}

lab_camp *lab_orch_submit(lab_orch *o, const char *path, const char *text, size_t len, double weight,
                          const char *by, char *notes, size_t n_notes, lab_err *err)
{
    char *msgs = NULL;
    size_t msgs_len = 0;
    FILE *errs = open_memstream(&msgs, &msgs_len);
    lab_campaign_cfg *cfg = lab_config_load_submitted(path, text, len, o->cfg, 0, notes, n_notes, errs, err);
    if (errs)
        fclose(errs);
    if (!cfg) {
        /* every problem, one a line, file:line:col first */
        if (msgs && *msgs) {
            size_t k = strlen(msgs);
            while (k && msgs[k - 1] == '\n')
                msgs[--k] = '\0';
            lab_err_set(err, LAB_EINVAL, "%s", msgs);
        }
        free(msgs);
        return NULL;
    }
    free(msgs);
    lab_camp *same = lab_orch_campaign(o, cfg->name);
    if (same) {
        lab_err_set(err, LAB_ESTATE, "campaign '%s' is already in lab '%s' (%s)", cfg->name, o->cfg->name,
                    lab_camp_state_name(same));
        lab_config_destroy(&cfg);
        return NULL;
    }
    if (lab_share_check_submit(o, cfg, err) < 0) {
        lab_config_destroy(&cfg);
        return NULL;
    }
    lab_camp *c = s_camp_open(o, cfg, lab_share_must_queue(o), err);
    if (!c) {
        lab_config_destroy(&cfg);
        return NULL;
    }
    c->owned_cfg = cfg;
    c->weight = weight > 0 ? weight : 1;
    lab_camp_event(c, LAB_EV_CAMPAIGN_SUBMITTED, cfg->name,
                   json_pack("{s:s, s:f, s:s, s:s}", "lab", o->cfg->name, "weight", c->weight, "by", by, "path",
                             path));
    s_camp_add(o, c);
    if (!c->queued) {
        lab_orch_campaign_activated(o, c);
        lab_share_take(o, c);
    }
    lab_info("campaign '%s' submitted by %s (weight %g): %ld experiments%s", cfg->name, by, c->weight,
             c->budget_experiments, c->queued ? (lab_share_estopped(o) ? "; queued until the e-stop is cleared"
                                                      : "; queued (lab.max_campaigns active)") : "");
    return c;
}

int lab_orch_submit_local(lab_orch *o, const char *path, const char *text, size_t len, double weight,
                          lab_err *err)
{
    char notes[600];
    return lab_orch_submit(o, path, text, len, weight, "local", notes, sizeof notes, err) ? 0 : err->code ? err->code
                                                                                                       : LAB_EINVAL;
}

/* At a lab's start: its unfinished campaigns from its hub, each resumed
 * (lab_camp_resume_begin) with the config it was submitted with. */
static int s_resume_lab_campaign(const lab_hub_lab_campaign_row *r, void *arg)
{
    lab_orch *o = arg;
    if (r->status && r->name && (!strcmp(r->status, "completed") || !strcmp(r->status, "exhausted") ||
                                 !strcmp(r->status, "aborted"))) {
        if (!o->past)
            o->past = json_array();
        json_array_append_new(o->past, json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:b}", "name", r->name, "status",
                                                 r->status, "ended_us", (json_int_t)r->updated_us, "proposed",
                                                 (json_int_t)r->experiments, "measured", (json_int_t)r->measured,
                                                 "weight", r->weight, "loaded", 0));
        return 0;
    }
    if (!r->status || !r->config_text)
        return 0;
    lab_err e = {0};
    lab_campaign_cfg *cfg = lab_config_load_submitted(r->config_path ? r->config_path : r->name, r->config_text,
                                                      r->config_len, o->cfg, 1, NULL, 0, NULL, &e);
    lab_camp *c = cfg ? s_camp_open(o, cfg, 0, &e) : NULL;
    if (!c) {
        lab_warn("campaign '%s' in %s is not resumed: %s", r->name, o->db_path, e.msg);
        lab_config_destroy(&cfg);
        return 0;
    }
    c->owned_cfg = cfg;
    c->weight = r->weight > 0 ? r->weight : 1;
    s_camp_add(o, c);
    return 0;
}

lab_orch *lab_orch_new_lab(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err)
{
    lab_orch *o = s_lab_new(cfg, opts, err);
    if (!o)
        return NULL;
    int64_t now = lab_orch_now();
    if (lab_hub_lab_run(o->hub, cfg->name, &o->run_id) < 0) {
        lab_err_set(err, LAB_EDB, "reading lab '%s' from %s: %s", cfg->name, o->db_path, lab_hub_errmsg(o->hub));
        goto fail;
    }
    if (!o->run_id)
        o->run_id = now;
    /* An e-stop given while no campaign was active holds across a restart. */
    if (lab_hub_lab_estopped(o->hub, cfg->name, &o->estopped) < 0) {
        lab_err_set(err, LAB_EDB, "reading lab '%s' from %s: %s", cfg->name, o->db_path, lab_hub_errmsg(o->hub));
        goto fail;
    }
    if (o->estopped)
        lab_warn("lab %s is e-stopped since before its restart: nothing starts until clear-estop", cfg->name);
    lab_orch_event(o, LAB_EV_LAB_STARTED, cfg->name,
                   json_pack("{s:s, s:I, s:I}", "lab", cfg->name, "devices", (json_int_t)cfg->n_devices,
                             "run", (json_int_t)o->run_id));
    if (lab_hub_each_lab_campaign(o->hub, cfg->name, s_resume_lab_campaign, o) < 0) {
        lab_err_set(err, LAB_EDB, "reading lab '%s' from %s: %s", cfg->name, o->db_path, lab_hub_errmsg(o->hub));
        goto fail;
    }
    for (lab_camp *c = o->camps; c; c = c->next)
        if (!c->queued) {
            lab_orch_campaign_activated(o, c);
            lab_share_take(o, c);
        }
    if (s_lab_start(o, err) < 0)
        goto fail;
    if (o->opts.progress) {
        fprintf(o->opts.progress, "lab %s: %zu devices, %zu campaigns resumed; devices on %s, control on %s\n",
                cfg->name, cfg->n_devices, o->n_camps, cfg->endpoint_devices, cfg->endpoint_control);
        fflush(o->opts.progress);
    }
    return o;
fail:
    lab_orch_destroy(&o);
    return NULL;
}

lab_orch *lab_orch_new(const lab_campaign_cfg *cfg, const lab_orch_opts *opts, lab_err *err)
{
    lab_orch *o = s_lab_new(cfg, opts, err);
    if (!o)
        return NULL;
    o->single = 1;
    lab_camp *c = s_camp_open(o, cfg, 0, err);
    if (!c)
        goto fail;
    s_camp_add(o, c);
    /* The workers' run id is the campaign's creation time, as it always was
     * for labloop run (a worker's started-journal is keyed by it). */
    o->run_id = c->created_us;
    if (s_lab_start(o, err) < 0)
        goto fail;
    return o;
fail:
    lab_orch_destroy(&o);
    return NULL;
}

/* Let a commit still running end (and what waited for it go out). */
static void s_settle(lab_orch *o)
{
    while (o->syncing)
        uv_run(&o->loop, UV_RUN_ONCE);
}

static void s_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void s_print_summary(lab_camp *o, const char *status, double elapsed)
{
    lab_orch *lab = o->lab;
    FILE *f = lab->opts.progress;
    fprintf(f, "\ncampaign %s %s: %ld experiments (%ld measured, %ld failed%s) in %.1f s%s%s\n",
            o->cfg->name, status, o->n_exps, o->measured, o->failed, o->cancelled ? ", some cancelled" : "",
            elapsed, o->end_reason[0] ? " — " : "", o->end_reason);
    if (o->best) {
        lab_exp *b = o->exps[o->best - 1];
        const char *unit = o->cfg->objectives[0].unit;
        fprintf(f, "best %s = %.4g%s%s at experiment %ld:", o->cfg->objectives[0].name, b->y[0], unit ? " " : "",
                unit ? unit : "", b->seq);
        for (size_t i = 0; i < o->dims; i++) {
            const lab_dim *d = lab_space_dim(o->cfg->space, i);
            char buf[64];
            if (d->type == LAB_DIM_REAL)
                fprintf(f, " %s=%.4g%s%s", d->name, b->x[i], d->unit ? " " : "", d->unit ? d->unit : "");
            else
                fprintf(f, " %s=%s", d->name, lab_space_format(o->cfg->space, i, b->x[i], buf, sizeof buf));
        }
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < lab->cfg->n_devices; i++) {
        lab_device *d = &lab->devices[i];
        fprintf(f, "device %-12s busy %6.1f s of %.1f s x capacity %d (%3.0f %%)\n", d->cfg->name, d->busy_s,
                elapsed, d->capacity, elapsed > 0 && d->capacity > 0 ? 100.0 * d->busy_s / (elapsed * d->capacity) : 0.0);
    }
    fprintf(f, "hub: %s\n", lab->db_path);
    fflush(f);
}

int lab_orch_run(lab_orch *o, lab_orch_summary *sum, lab_err *err)
{
    uv_loop_init(&o->loop);
    o->zl = lab_zloop_new(&o->loop, s_flush, o, err);
    if (!o->zl || lab_zloop_add(o->zl, o->dev_sock, s_on_readable, o, err) < 0 ||
        lab_zloop_add(o->zl, o->ctl_sock, lab_control_on_readable, o, err) < 0 ||
        lab_auth_watch(o->auth, o->zl, err) < 0)
        return err->code;
    uv_timer_init(&o->loop, &o->tick);
    o->tick.data = o;
    uv_timer_start(&o->tick, s_on_tick, S_TICK_MS, S_TICK_MS);
    uv_signal_init(&o->loop, &o->sigint);
    uv_signal_init(&o->loop, &o->sigterm);
    o->sigint.data = o->sigterm.data = o;
    uv_signal_start(&o->sigint, s_on_signal, SIGINT);
    uv_signal_start(&o->sigterm, s_on_signal, SIGTERM);
    o->start_mono_us = o->last_note_us = lab_clock_mono_us();
    for (lab_camp *c = o->camps; c; c = c->next)
        c->start_mono_us = o->start_mono_us;
    int64_t grace = 3LL * o->cfg->heartbeat_ms * 1000 * o->cfg->liveness;
    o->resume_grace_until_us = o->start_mono_us + (grace > S_RESUME_GRACE_US ? grace : S_RESUME_GRACE_US);
    s_note_waiting(o);
    lab_orch_schedule(o);
    o->in_loop = 1;
    uv_run(&o->loop, UV_RUN_DEFAULT);
    o->in_loop = 0;
    s_settle(o);

    /* Close busy periods still open so utilisation covers the whole run. */
    for (size_t i = 0; i < o->cfg->n_devices; i++) {
        lab_device *d = &o->devices[i];
        if (d->running > 0) {
            int r = d->running;
            lab_orch_device_busy(d, -r);
            d->running = r;
        }
    }
    lab_camp *c = o->single ? o->camps : NULL;   /* a lab service records each end as it comes */
    const char *status = c && c->end_status && !o->fatal && c->n_active == 0 ? c->end_status : "running";
    double elapsed = (double)(lab_clock_mono_us() - o->start_mono_us) / 1e6;
    if (!o->fatal) {
        lab_badmsg_flush(&o->badmsg, lab_clock_mono_us(), 1, s_bad_summary, o);
        if (c && strcmp(status, "running") != 0) {
            if (lab_hub_set_campaign_status(o->hub, c->campaign_id, status, lab_orch_now()) < 0)
                lab_orch_fatal(o, "recording the campaign status");
            lab_camp_event(c, LAB_EV_CAMPAIGN_STATUS, c->cfg->name,
                           json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}", "status", status, "reason", c->end_reason,
                                     "experiments", (json_int_t)c->n_exps, "measured", (json_int_t)c->measured,
                                     "failed", (json_int_t)c->failed, "seconds", elapsed));
        }
        s_flush(o);          /* commit, then the last acks and replies */
        s_settle(o);
        if (strcmp(status, "running") != 0 && !o->fatal)
            s_tell_ended(o, status);
        /* Let those last acks leave before the socket closes (linger is 0
         * while running): a worker would otherwise keep the results in its
         * outbox, to be set aside by the next run. */
        int linger = S_FINAL_LINGER_MS;
        zmq_setsockopt(o->dev_sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    if (sum) {
        memset(sum, 0, sizeof *sum);
        snprintf(sum->status, sizeof sum->status, "%s", status);
        if (c) {
            sum->proposed = c->n_exps;
            sum->measured = c->measured;
            sum->failed = c->failed;
            sum->best_experiment = c->best;
            sum->best_value = c->best ? c->exps[c->best - 1]->y[0] : NAN;
        }
        sum->elapsed_s = elapsed;
        sum->steps_done = (long)o->n_lat;
        sum->commits = o->commits;
        sum->active_s = o->last_done_us > o->first_dispatch_us
                      ? (double)(o->last_done_us - o->first_dispatch_us) / 1e6 : 0;
        if (o->all_ready_us && o->last_done_us > o->all_ready_us) {
            sum->all_ready_s = (double)(o->last_done_us - o->all_ready_us) / 1e6;
            sum->all_ready_steps = (long)(o->n_lat - o->n_lat_all_ready);
        }
    }
    if (o->opts.progress && !o->fatal && c && o->single)
        s_print_summary(c, status, elapsed);
    lab_zloop_destroy(&o->zl);
    uv_walk(&o->loop, s_close_walk, NULL);
    uv_run(&o->loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&o->loop);
    if (lc != 0)
        lab_warn("event loop closed with handles open: %s", uv_strerror(lc));
    if (o->fatal) {
        if (err)
            *err = o->fatal_err;
        return o->fatal_err.code;
    }
    return 0;
}

size_t lab_orch_latencies(const lab_orch *o, const double **us)
{
    *us = o->lat_us;
    return o->n_lat;
}

int lab_orch_device_stats(const lab_orch *o, size_t i, const char **name, double *busy_s, int *capacity)
{
    if (i >= o->cfg->n_devices)
        return LAB_EINVAL;
    *name = o->devices[i].cfg->name;
    *busy_s = o->devices[i].busy_s;
    *capacity = o->devices[i].capacity;
    return 0;
}

void lab_orch_destroy(lab_orch **op)
{
    if (!op || !*op)
        return;
    lab_orch *o = *op;
    *op = NULL;
    /* The end notification (and whatever else is queued) goes out, within
     * the webhooks' timeout, before the process may exit. */
    lab_notify_destroy(&o->notify);
    /* Last: what the campaign committed reaches the shared hub too. */
    lab_hub_replica_stop(&o->replica);
    lab_control_drop_deferred(o);
    while (o->out_head) {
        lab_out *q = o->out_head;
        o->out_head = q->next;
        s_out_free(q);
    }
    while (o->camps) {
        lab_camp *c = o->camps;
        o->camps = c->next;
        s_camp_destroy(&c);
    }
    free(o->lat_us);
    lab_jtext_free(&o->jt);
    free(o->uncommitted_us);
    for (size_t i = 0; o->devices && i < o->cfg->n_devices; i++) {
        s_free_acks(&o->devices[i]);
        free(o->devices[i].acks);
    }
    free(o->devices);
    json_decref(o->past);
    lab_share_free(o);
    lab_slots_destroy(&o->slots);
    free(o->dev_hash);
    free(o->ack_devs);
    if (o->dev_sock)
        zmq_close(o->dev_sock);
    if (o->ctl_sock)
        zmq_close(o->ctl_sock);
    lab_auth_destroy(&o->auth);
    if (o->zctx)
        zmq_ctx_term(o->zctx);
    lab_hub_destroy(&o->hub);
    free(o);
}
