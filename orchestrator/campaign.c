/* The scheduler: experiments, their step attempts, and the planner.
 *
 * The planner proposes experiments while fewer than planner.batch are in
 * flight and the budget allows. An experiment's steps are dispatched in
 * dependency order, once its row is committed (so an attempt id always
 * names a durable experiment), to a ready device that has the capability and
 * a free slot. Results move experiments on; failures are retried after a
 * backoff, preferring another capable device; exhausted retries fail the
 * experiment, which is told to the planner as a failure. A step with
 * 'within' holds a slot on a device for itself while its predecessor runs,
 * so it can start the moment the predecessor is done.
 * Not for: sockets and devices' registration (orch.c), operator commands
 * (control.c).
 */
#include <assert.h>
#include <math.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "orchestrator/actions.h"
#include "orchestrator/campaign.h"
#include "orchestrator/workflow.h"
#include "common/text.h"
#include "common/banned.h"

#define S_BACKOFF_MAX_S 600.0
/* A request or cancel the worker has not answered is sent again this often. */
#define S_ASK_AGAIN_US (3 * 1000000LL)
/* How many attempts past the last recorded one a failed commit can hide. */
#define S_UNRECORDED_MAX 2

static void s_release_successors(lab_camp *camp, lab_exp *x, size_t s);
static void s_tell(lab_camp *camp, lab_exp *x, lab_outcome outcome);

/* Make room for one more element in *arr (n used of *cap, elem bytes each),
 * doubling from first. Returns 0, or -1 (array untouched) out of memory. */
static int s_grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : first;
    void *p = realloc(*(void **)arr, c * elem);
    if (!p)
        return -1;
    *(void **)arr = p;
    *cap = c;
    return 0;
}

/* ------------------------------------------------------------ the lab */

/* An action for the lab (actions.h), or NULL out of memory (the list
 * notes it; the lab stops: what the campaign decided must not be lost). */
static lab_action *s_act(lab_camp *camp, lab_action_kind kind)
{
    return lab_actions_add(&camp->acts, kind);
}

static const char *s_str(lab_camp *camp, const char *s)
{
    return lab_actions_str(&camp->acts, s);
}

/* detail: taken. */
static void s_event(lab_camp *camp, lab_event_kind kind, const char *subject, json_t *detail)
{
    lab_action *a = s_act(camp, LAB_ACT_EVENT);
    if (!a) {
        json_decref(detail);
        return;
    }
    a->event = kind;
    a->text = lab_event_name(kind);     /* static: for people reading the actions */
    a->json = s_str(camp, subject);
    a->detail = detail;
}

void lab_camp_emit(lab_camp *camp, lab_event_kind kind, const char *subject, json_t *detail)
{
    s_event(camp, kind, subject, detail);
}

static void s_cancel(lab_camp *camp, const lab_device *d, const char *attempt, const char *reason)
{
    lab_action *a = s_act(camp, LAB_ACT_CANCEL);
    if (!a)
        return;
    a->device = s_str(camp, camp->host->name(camp->host_ctx, d));
    a->attempt = s_str(camp, attempt);
    a->text = s_str(camp, reason);
}

static void s_exp_status(lab_camp *camp, const lab_exp *x, const char *status, const char *objectives,
                         const char *error)
{
    lab_action *a = s_act(camp, LAB_ACT_EXPERIMENT_STATUS);
    if (!a)
        return;
    a->seq = x->seq;
    a->status = status;
    a->json = s_str(camp, objectives);
    a->text = s_str(camp, error);
    a->t0 = lab_clock_wall_us();
}

void lab_camp_exp_status(lab_camp *camp, const lab_exp *x, const char *status, const char *objectives,
                         const char *error)
{
    s_exp_status(camp, x, status, objectives, error);
}

/* started, finished: 0 keeps them; status, values, error: NULL keeps them. */
static void s_step_status(lab_camp *camp, const char *attempt, const char *status, int64_t started,
                          int64_t finished, const char *values, const char *error)
{
    lab_action *a = s_act(camp, LAB_ACT_STEP_STATUS);
    if (!a)
        return;
    a->attempt = s_str(camp, attempt);
    a->status = status;
    a->t0 = started;
    a->t1 = finished;
    a->json = s_str(camp, values);
    a->text = s_str(camp, error);
}

static void s_step_counted(lab_camp *camp, const char *attempt, int counted)
{
    lab_action *a = s_act(camp, LAB_ACT_STEP_COUNTED);
    if (!a)
        return;
    a->attempt = s_str(camp, attempt);
    a->n = counted;
}

static const char *s_dev_name(const lab_camp *camp, const lab_device *d)
{
    return camp->host->name(camp->host_ctx, d);
}

static lab_dev_view s_dev(const lab_camp *camp, const lab_device *d)
{
    return camp->host->view(camp->host_ctx, d);
}

static void s_busy(lab_camp *camp, lab_device *d, int delta, int dispatched)
{
    camp->host->busy(camp->host_ctx, d, delta, dispatched);
}

static void s_hold(lab_camp *camp, lab_device *d, int delta)
{
    camp->host->hold(camp->host_ctx, d, delta);
}

static int s_halted(const lab_camp *camp, int what)
{
    return camp->host->halted(camp->host_ctx) & what;
}

static int s_better(const lab_camp *camp, double a, double b)
{
    return camp->cfg->objectives[0].maximize ? a > b : a < b;
}

json_t *lab_sched_params_json(lab_camp *camp, const double *x)
{
    const lab_space *sp = camp->cfg->space;
    json_t *j = json_object();
    for (size_t i = 0; i < camp->dims; i++) {
        const lab_dim *d = lab_space_dim(sp, i);
        if (d->type == LAB_DIM_CATEGORICAL)
            json_object_set_new(j, d->name, json_string(d->choices[(size_t)x[i]]));
        else if (d->type == LAB_DIM_INTEGER)
            json_object_set_new(j, d->name, json_integer((json_int_t)llround(x[i])));
        else
            json_object_set_new(j, d->name, json_real(x[i]));
    }
    return j;
}

/* ------------------------------------------------------------ bookkeeping */

static void s_exp_free(lab_exp *x, size_t n_steps)
{
    if (!x)
        return;
    for (size_t s = 0; x->values && s < n_steps; s++)
        json_decref(x->values[s]);
    free(x);                      /* its arrays are in the same block (s_exp_new) */
}

/* n items of size bytes from the block at *p, aligned for any type. */
#define S_ALIGNED(n) (((n) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))
static void *s_carve(char **p, size_t n, size_t size)
{
    void *r = *p;
    *p += S_ALIGNED(n * size);
    return r;
}

lab_camp *lab_camp_new(const lab_campaign_cfg *cfg, const lab_camp_host *host, void *ctx, lab_err *err)
{
    lab_camp *c = calloc(1, sizeof *c);
    if (!c) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->host = host;
    c->host_ctx = ctx;
    c->weight = 1;
    c->budget_experiments = cfg->budget_experiments;
    lab_brake_init(&c->brake, cfg->brake_after);
    c->dims = lab_space_dims(cfg->space);
    c->prefix_len = (size_t)snprintf(c->prefix, sizeof c->prefix, "%s/", cfg->name);
    if (c->prefix_len >= sizeof c->prefix)
        c->prefix_len = sizeof c->prefix - 1;
    c->step_cap = calloc(cfg->n_steps ? cfg->n_steps : 1, sizeof *c->step_cap);
    if (!c->step_cap) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t s = 0; s < cfg->n_steps; s++)
        c->step_cap[s] = host->cap(ctx, cfg->steps[s].capability);
    c->wf = lab_workflow_new(cfg, err);
    if (!c->wf)
        goto fail;

    lab_planner_opts po = {.kind = cfg->planner_kind, .seed = cfg->seed,
                           .n_objectives = cfg->n_objectives,
                           .initial_kind = cfg->initial_kind,
                           .initial_count = (size_t)cfg->initial_count};
    po.acquisition = cfg->acquisition;
    for (size_t k = 0; k < cfg->n_objectives && k < LAB_PLANNER_MAX_OBJECTIVES; k++) {
        po.maximize[k] = cfg->objectives[k].maximize;
        po.objective_names[k] = cfg->objectives[k].name;
    }
    c->planner = lab_planner_new(cfg->space, &po, err);
    if (!c->planner)
        goto fail;
    /* Model-based planners fit on the thread pool; the cheap ones answer inline. */
    c->planner_async = lab_planner_fits_model(c->planner);
    /* Designs that do not learn from results propose one batch ahead: the
     * next experiment is then already durable when a device frees up, and
     * its first step goes out at once instead of after the next commit. */
    c->lookahead = c->planner_async || cfg->whole_batches ? 0 : cfg->batch;
    return c;
fail:
    lab_camp_destroy(&c);
    return NULL;
}

void lab_camp_destroy(lab_camp **cp)
{
    if (!cp || !*cp)
        return;
    lab_camp *camp = *cp;
    *cp = NULL;
    lab_approve_free(camp);
    for (long i = 0; i < camp->n_exps; i++)
        s_exp_free(camp->exps[i], camp->cfg->n_steps);
    free(camp->exps);
    free(camp->active);
    free(camp->deferred);
    lab_actions_free(&camp->acts);
    lab_jtext_free(&camp->jt);
    free(camp->step_cap);
    lab_workflow_destroy(&camp->wf);
    lab_planner_destroy(&camp->planner);
    lab_config_destroy(&camp->owned_cfg);
    free(camp);
}

static lab_exp *s_exp_new(lab_camp *camp, long seq)
{
    const lab_campaign_cfg *c = camp->cfg;
    if (camp->n_exps == camp->cap_exps) {
        long cap = camp->cap_exps ? 2 * camp->cap_exps : 64;
        lab_exp **e = realloc(camp->exps, (size_t)cap * sizeof *e);
        if (!e)
            return NULL;
        camp->exps = e;
        camp->cap_exps = cap;
    }
    if (camp->n_active == camp->cap_active) {
        long cap = camp->cap_active ? 2 * camp->cap_active : 16;
        lab_exp **a = realloc(camp->active, (size_t)cap * sizeof *a);
        if (!a)
            return NULL;
        camp->active = a;
        camp->cap_active = cap;
    }
    /* The experiment and its arrays in one zeroed block: one allocation per
     * experiment, not thirteen. */
    size_t ns = c->n_steps, no = c->n_objectives, nd = camp->dims ? camp->dims : 1;
    lab_exp *t = NULL;            /* for the element sizes only */
    size_t size = S_ALIGNED(sizeof *t) + S_ALIGNED(ns * sizeof *t->step) + S_ALIGNED(ns * sizeof *t->cur) +
                  S_ALIGNED(ns * sizeof *t->values) + S_ALIGNED(ns * sizeof *t->not_before_us) +
                  S_ALIGNED(ns * sizeof *t->avoid) + S_ALIGNED(ns * sizeof *t->reserved) +
                  S_ALIGNED(ns * sizeof *t->ready_us) + S_ALIGNED(ns * sizeof *t->hint) +
                  S_ALIGNED(ns * sizeof *t->hint_n) + S_ALIGNED(ns * sizeof *t->unsure) +
                  S_ALIGNED(no * sizeof *t->y) + S_ALIGNED(nd * sizeof *t->x);
    lab_exp *x = calloc(1, size);
    if (!x)
        return NULL;
    char *p = (char *)x + S_ALIGNED(sizeof *x);
    x->step = s_carve(&p, ns, sizeof *x->step);
    x->cur = s_carve(&p, ns, sizeof *x->cur);
    x->values = s_carve(&p, ns, sizeof *x->values);
    x->not_before_us = s_carve(&p, ns, sizeof *x->not_before_us);
    x->avoid = s_carve(&p, ns, sizeof *x->avoid);
    x->reserved = s_carve(&p, ns, sizeof *x->reserved);
    x->ready_us = s_carve(&p, ns, sizeof *x->ready_us);
    x->hint = s_carve(&p, ns, sizeof *x->hint);
    x->hint_n = s_carve(&p, ns, sizeof *x->hint_n);
    x->unsure = s_carve(&p, ns, sizeof *x->unsure);
    x->y = s_carve(&p, no, sizeof *x->y);
    x->x = s_carve(&p, nd, sizeof *x->x);
    assert((size_t)(p - (char *)x) == size);
    x->seq = seq;
    snprintf(x->id, sizeof x->id, "%s/%ld", c->name, seq);
    return x;
}

/* Add x (seq = n_exps + 1) to the table and, while running, to the active list. */
static void s_exp_add(lab_camp *camp, lab_exp *x)
{
    camp->exps[camp->n_exps++] = x;
    if (x->state == LAB_EXP_RUNNING)
        camp->active[camp->n_active++] = x;
    else if (x->state == LAB_EXP_PROPOSED && lab_approve_hold(camp, x) < 0)
        camp->acts.oom = 1;              /* the lab stops (lab_orch_act): a proposal it cannot hold is lost */
}

static void s_deactivate(lab_camp *camp, lab_exp *x)
{
    for (long i = 0; i < camp->n_active; i++)
        if (camp->active[i] == x) {
            memmove(&camp->active[i], &camp->active[i + 1], (size_t)(camp->n_active - i - 1) * sizeof *camp->active);
            camp->n_active--;
            return;
        }
}

static void s_release_reservations(lab_camp *camp, lab_exp *x)
{
    for (size_t s = 0; s < camp->cfg->n_steps; s++)
        if (x->reserved[s]) {
            s_hold(camp, x->reserved[s], -1);
            x->reserved[s] = NULL;
        }
}

void lab_sched_tell(lab_camp *camp, lab_exp *x, lab_outcome outcome)
{
    s_tell(camp, x, outcome);
}

static void s_tell(lab_camp *camp, lab_exp *x, lab_outcome outcome)
{
    if (camp->asking) {              /* the planner is busy on the thread pool: later */
        if (s_grow(&camp->deferred, camp->n_deferred, &camp->cap_deferred, sizeof *camp->deferred, 16) < 0) {
            lab_error("out of memory: outcome of experiment %ld not told to the planner", x->seq);
            return;
        }
        camp->deferred[camp->n_deferred++] = (lab_tell){x, outcome};
        return;
    }
    if (lab_planner_tell(camp->planner, x->x, outcome == LAB_OUTCOME_MEASURED ? x->y : NULL, outcome) < 0)
        lab_warn("planner refused the outcome of experiment %ld: %s", x->seq,
                 lab_planner_last_error(camp->planner)->msg);
}

static void s_progress(lab_camp *camp, const lab_exp *x, const char *what)
{
    if (!camp->progress)
        return;
    double t = (double)(lab_clock_mono_us() - camp->start_mono_us) / 1e6;
    char best[128] = "none yet";
    if (camp->best)
        snprintf(best, sizeof best, "%s %.4g (experiment %ld)", camp->cfg->objectives[0].name,
                 camp->exps[camp->best - 1]->y[0], camp->best);
    char clean[600];                  /* what may quote a device's error text */
    lab_text_clean(clean, sizeof clean, what);
    fprintf(camp->progress, "[%3ld/%ld] experiment %ld %s | best %s | %.1f s\n",
            camp->measured + camp->failed + camp->cancelled, camp->budget_experiments, x->seq, clean, best, t);
    fflush(camp->progress);
}

static void s_sample_at(lab_camp *camp, lab_exp *x, const char *where, const char *attempt)
{
    lab_action *a = s_act(camp, LAB_ACT_SAMPLE_AT);
    if (!a)
        return;
    a->experiment = s_str(camp, x->id);
    a->device = s_str(camp, where);
    a->attempt = s_str(camp, attempt);
    a->t0 = lab_clock_wall_us();
}

/* ------------------------------------------------------------ outcomes */

static void s_exp_failed(lab_camp *camp, lab_exp *x, const char *error)
{
    x->state = LAB_EXP_FAILED;
    s_deactivate(camp, x);
    s_release_reservations(camp, x);
    camp->failed++;
    s_exp_status(camp, x, "failed", NULL, error);
    s_event(camp, LAB_EV_EXPERIMENT_FAILED, x->id,
            json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "error", error));
    s_tell(camp, x, LAB_OUTCOME_FAILED);
    char what[600];
    snprintf(what, sizeof what, "failed: %s", error);
    s_progress(camp, x, what);
    /* The failure brake: a campaign failing the same way again and again
     * pauses itself; what is in flight still finishes and is recorded. */
    if (lab_brake_failed(&camp->brake, error) && camp->state == LAB_CAMP_RUNNING && !camp->end_status &&
        !s_halted(camp, LAB_HOST_STOPPING)) {
        camp->state = LAB_CAMP_PAUSED;      /* the lab records why (lab_control_brake) */
        s_act(camp, LAB_ACT_BRAKE);
    }
}

/* "; it returned a=1, b (text)" or "; it returned no values": what the step
 * did return, so a misspelt `from` or a changed instrument shows at once.
 * With got (the named value, not a finite number), what it was instead. */
static void s_append_returned(char *msg, size_t n, int len, const json_t *values, const json_t *got)
{
    if (len < 0 || (size_t)len >= n)
        return;
    size_t used = (size_t)len;
    if (got) {
        char *js = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        int w = snprintf(msg + used, n - used, " (it is %s)", js ? js : "?");
        free(js);
        if (w > 0 && (size_t)w < n - used)
            used += (size_t)w;
    }
    if (!json_is_object(values) || json_object_size(values) == 0) {
        snprintf(msg + used, n - used, "; it returned no values");
        return;
    }
    const char *k;
    json_t *v;
    const char *sep = "; it returned ";
    json_object_foreach((json_t *)values, k, v) {
        int w = json_is_number(v) ? snprintf(msg + used, n - used, "%s%s=%g", sep, k, json_number_value(v))
                                  : snprintf(msg + used, n - used, "%s%s (%s)", sep, k,
                                             json_is_string(v) ? "text" : "not a number");
        if (w < 0 || (size_t)w >= n - used) {
            if (n - used > 4)
                snprintf(msg + n - 5, 5, "...");
            return;
        }
        used += (size_t)w;
        sep = ", ";
    }
}

static void s_exp_finished(lab_camp *camp, lab_exp *x)
{
    const lab_campaign_cfg *c = camp->cfg;
    json_t *objs = json_object();
    for (size_t k = 0; k < c->n_objectives; k++) {
        const lab_cfg_objective *ob = &c->objectives[k];
        int s = camp->wf->objective_step[k];
        json_t *v = s >= 0 && x->values[s] ? json_object_get(x->values[s], ob->from_value) : NULL;
        if (!v || !json_is_number(v) || !isfinite(json_number_value(v))) {
            char msg[768];
            int len = snprintf(msg, sizeof msg, "step '%s' returned no numeric '%s' for objective '%s'",
                               ob->from_step, ob->from_value, ob->name);
            s_append_returned(msg, sizeof msg, len, s >= 0 ? x->values[s] : NULL, v);
            json_decref(objs);
            if (s >= 0 && x->cur[s].dev)     /* the device that ran it hands its turn on */
                camp->host->failed(camp->host_ctx, x->cur[s].dev);
            s_exp_failed(camp, x, msg);
            return;
        }
        x->y[k] = json_number_value(v);
        json_object_set_new(objs, ob->name, json_real(x->y[k]));
    }
    x->state = LAB_EXP_MEASURED;
    s_deactivate(camp, x);
    camp->measured++;
    lab_brake_measured(&camp->brake);
    if (!camp->best || s_better(camp, x->y[0], camp->exps[camp->best - 1]->y[0]))
        camp->best = x->seq;
    s_exp_status(camp, x, "measured", lab_jtext_dump(&camp->jt, objs, JSON_COMPACT), NULL);
    /* no detail: the experiment's row says it (LAB_EVENT_DETAIL_SQL) */
    json_decref(objs);
    s_event(camp, LAB_EV_EXPERIMENT_MEASURED, x->id, NULL);
    s_tell(camp, x, LAB_OUTCOME_MEASURED);
    if (camp->progress) {             /* the line is only formatted when someone reads it */
        char what[256];
        snprintf(what, sizeof what, "measured: %s = %.4g", c->objectives[0].name, x->y[0]);
        s_progress(camp, x, what);
    }
    if (c->has_stop_when && !camp->end_status) {
        double v = x->y[c->stop_objective];
        if ((!isnan(c->stop_at_least) && v >= c->stop_at_least) ||
            (!isnan(c->stop_at_most) && v <= c->stop_at_most)) {
            camp->end_status = "completed";
            snprintf(camp->end_reason, sizeof camp->end_reason, "target reached: %s = %.4g at experiment %ld",
                     c->objectives[c->stop_objective].name, v, x->seq);
        }
    }
}

void lab_sched_attempt_ended(lab_camp *camp, lab_exp *x, size_t s, const char *status,
                             const char *error, int counts)
{
    lab_attempt *a = &x->cur[s];
    const lab_cfg_step *st = &camp->cfg->steps[s];
    if (x->step[s] != LAB_STEP_RUNNING)
        return;
    /* Attempts stopped by an e-stop are not the step's fault: they do not
     * use up its retries, also after a restart (the hub has marked them
     * since the e-stop: lab_sched_estop_hit). */
    if (a->estop_hit)
        counts = 0;
    if (a->dev) {
        s_busy(camp, a->dev, -1, 0);
        if (counts)
            camp->host->failed(camp->host_ctx, a->dev);
    }
    a->unconfirmed_us = a->lost_us = a->cancel_us = 0;
    s_step_status(camp, a->id, status, 0, lab_clock_wall_us(), NULL, error);
    s_event(camp, LAB_EV_STEP_FAILED, a->id,
            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "attempt", a->id, "experiment",
                      (json_int_t)x->seq, "step", st->name, "device",
                      a->dev ? s_dev_name(camp, a->dev) : "", "status", status, "error", error));
    if (!counts) {
        a->uncounted++;
        if (!a->estop_hit)
            s_step_counted(camp, a->id, 0);
    }
    if (a->n - a->uncounted <= st->retries) {
        x->step[s] = LAB_STEP_PENDING;
        s_release_successors(camp, x, s);
        x->avoid[s] = counts ? a->dev : NULL;
        /* A step its device stopped on its own (an e-stop whose request has
         * not arrived yet) waits a moment, so that the e-stop halts it first. */
        double wait = counts ? st->backoff_s * pow(2.0, a->n - 1) : a->estop_hit ? 0 : 1.0;
        if (wait > S_BACKOFF_MAX_S)
            wait = S_BACKOFF_MAX_S;
        x->not_before_us[s] = lab_clock_mono_us() + (int64_t)(wait * 1e6);
        if (counts) {
            s_event(camp, LAB_EV_STEP_RETRY, a->id,
                    json_pack("{s:s, s:I, s:s, s:i, s:s, s:f}", "attempt", a->id, "experiment",
                              (json_int_t)x->seq, "step", st->name, "attempt_no", a->n + 1,
                              "reason", error, "after_s", wait));
            lab_info("experiment %ld: retrying step '%s' in %.1f s (attempt %d of %d): %s", x->seq,
                     st->name, wait, a->n - a->uncounted + 1, st->retries + 1, error);
        }
        return;
    }
    x->step[s] = LAB_STEP_FAILED_;
    char msg[512];
    if (st->retries > 0)
        snprintf(msg, sizeof msg, "step '%s': %s (after %d attempts)", st->name, error, a->n - a->uncounted);
    else
        snprintf(msg, sizeof msg, "step '%s': %s", st->name, error);
    s_exp_failed(camp, x, msg);
}

int lab_sched_owns(const lab_camp *camp, const char *attempt_id)
{
    return !strncmp(attempt_id, camp->prefix, camp->prefix_len);
}

static int s_parse_attempt(lab_camp *camp, const char *id, lab_exp **xp, int *step, int *n)
{
    /* <campaign>/<seq>/<step>/<n>, read from the right. */
    const char *p3 = strrchr(id, '/');
    if (!p3 || p3 == id)
        return -1;
    const char *p2 = p3 - 1;
    while (p2 > id && *p2 != '/')
        p2--;
    if (p2 == id)
        return -1;
    const char *p1 = p2 - 1;
    while (p1 > id && *p1 != '/')
        p1--;
    if (*p1 != '/' || *p2 != '/')
        return -1;
    size_t clen = (size_t)(p1 - id);
    if (clen != strlen(camp->cfg->name) || strncmp(id, camp->cfg->name, clen) != 0)
        return -1;
    char *end;
    long seq = strtol(p1 + 1, &end, 10);
    if (end != p2 || seq < 1 || seq > camp->n_exps)
        return -1;
    int s = lab_workflow_find(camp->wf, p2 + 1, (size_t)(p3 - p2 - 1));
    long num = strtol(p3 + 1, &end, 10);
    if (s < 0 || *end || num < 1)
        return -1;
    *xp = camp->exps[seq - 1];
    *step = s;
    *n = (int)num;
    return 0;
}

static json_t *s_values_json(const Labloop__StepResult *r)
{
    json_t *j = json_object();
    for (size_t i = 0; i < r->n_values; i++) {
        const Labloop__Param *p = r->values[i];
        if (!p->name || !p->value)
            continue;
        switch (p->value->kind_case) {
        case LABLOOP__VALUE__KIND_NUMBER:
            /* JSON has no NaN or infinity: such a value is recorded as null */
            json_object_set_new(j, p->name, isfinite(p->value->number) ? json_real(p->value->number) : json_null());
            break;
        case LABLOOP__VALUE__KIND_INTEGER: json_object_set_new(j, p->name, json_integer(p->value->integer)); break;
        case LABLOOP__VALUE__KIND_FLAG: json_object_set_new(j, p->name, json_boolean(p->value->flag)); break;
        case LABLOOP__VALUE__KIND_TEXT: json_object_set_new(j, p->name, json_string(p->value->text)); break;
        default: break;
        }
    }
    return j;
}

/* A done result's dispatch time; its round trip ends at the commit that
 * makes it durable (lab_sched_committed). */
static void s_note_done(lab_camp *camp, int64_t dispatched_us)
{
    lab_action *a = s_act(camp, LAB_ACT_DONE);
    if (a)
        a->t0 = dispatched_us;
}

/* Record the files an attempt produced. A hash that is not 32 bytes, or
 * inline content whose hash or size differs from what the worker claims,
 * is recorded without content and noted as a bad message: the hub never
 * holds bytes under a wrong hash. */
static void s_record_artifacts(lab_camp *camp, lab_device *d, const char *attempt, const Labloop__StepResult *r)
{
    for (size_t i = 0; i < r->n_artifacts; i++) {
        const Labloop__Artifact *a = r->artifacts[i];
        if (a->sha256.len != 32) {
            s_event(camp, LAB_EV_MESSAGE_BAD, attempt,
                    json_pack("{s:s, s:s}", "device", s_dev_name(camp, d), "error", "artifact without a sha256"));
            continue;
        }
        char hex[65];
        for (size_t k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", a->sha256.data[k]);
        const void *content = NULL;
        size_t len = 0;
        if (a->content.len > 0) {
            unsigned char md[32];
            unsigned int mdlen = 0;
            if (a->content.len == a->size &&
                EVP_Digest(a->content.data, a->content.len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
                mdlen == 32 && memcmp(md, a->sha256.data, 32) == 0) {
                content = a->content.data;
                len = a->content.len;
            } else {
                s_event(camp, LAB_EV_MESSAGE_BAD, attempt,
                        json_pack("{s:s, s:s, s:s}", "device", s_dev_name(camp, d), "artifact", a->name ? a->name : "",
                                  "error", "artifact content does not match its sha256 or size: stored without it"));
            }
        }
        lab_action *act = s_act(camp, LAB_ACT_ARTIFACT);
        if (!act)
            return;
        act->attempt = s_str(camp, attempt);
        act->json2 = s_str(camp, a->name);
        act->text = s_str(camp, a->media_type);
        act->json = s_str(camp, hex);
        act->t1 = (int64_t)a->size;
        act->content = content;
        act->content_len = len;
        act->t0 = lab_clock_wall_us();
    }
}

/* Attempt n of step s is one the hub does not know but may have been sent
 * (a commit lost its record): the next one or two after the last recorded.
 * Higher numbers were never dispatched by this campaign. */
static int s_unrecorded(const lab_exp *x, int s, int n)
{
    return x->state == LAB_EXP_RUNNING && n > x->cur[s].n && n <= x->cur[s].n + S_UNRECORDED_MAX &&
           x->step[s] != LAB_STEP_DONE_ && x->step[s] != LAB_STEP_FAILED_;
}

/* Device d holds attempt n of step s (a result or a running attempt) that
 * the hub does not know: that attempt's id is dispatched next, to d. */
static void s_note_hint(lab_camp *camp, lab_exp *x, int s, int n, lab_device *d, const char *what)
{
    if (x->hint[s] == d && x->hint_n[s] == n)
        return;
    x->hint[s] = d;
    x->hint_n[s] = n;
    lab_info("device '%s' holds a %s for %s/%s/%d that the hub does not know; held, and that attempt goes "
             "to it again", s_dev_name(camp, d), what, x->id, camp->cfg->steps[s].name, n);
}

void lab_sched_on_update(lab_camp *camp, lab_device *d, const Labloop__StepUpdate *u)
{
    lab_exp *x;
    int s, n;
    if (u->kind != LABLOOP__STEP_UPDATE__KIND__ACCEPTED || !u->attempt_id ||
        s_parse_attempt(camp, u->attempt_id, &x, &s, &n) < 0)
        return;
    lab_attempt *a = &x->cur[s];
    if (x->step[s] == LAB_STEP_RUNNING && a->dev == d && !strcmp(a->id, u->attempt_id))
        a->unconfirmed_us = 0;       /* it runs there: nothing is lost */
    else if (s_unrecorded(x, s, n) && x->step[s] == LAB_STEP_PENDING)
        s_note_hint(camp, x, s, n, d, "running attempt");
}

void lab_sched_on_result(lab_camp *camp, lab_device *d, Labloop__StepResult *r)
{
    const char *id = r->attempt_id ? r->attempt_id : "";
    lab_exp *x;
    int s, n;
    int parsed = s_parse_attempt(camp, id, &x, &s, &n) == 0;
    /* A result for an attempt of a step in progress that the hub does not
     * know (it was dispatched before a commit that then failed) is held:
     * not acknowledged, so the worker keeps it, and the step's next
     * dispatch goes to that device under that id, which it answers with
     * this result instead of running the step again. */
    if (parsed && s_unrecorded(x, s, n)) {
        s_note_hint(camp, x, s, n, d, "result");
        return;
    }
    /* Whatever else it is, the worker may drop it once this turn is committed. */
    lab_action *ack = s_act(camp, LAB_ACT_ACK);
    if (ack) {
        ack->device = s_str(camp, s_dev_name(camp, d));
        ack->attempt = s_str(camp, id);
    }
    if (!parsed) {
        s_event(camp, LAB_EV_MESSAGE_BAD, id,
                json_pack("{s:s, s:s}", "device", s_dev_name(camp, d), "error",
                          "result for an attempt this campaign never dispatched"));
        return;
    }
    lab_attempt *a = &x->cur[s];
    /* Only the exact id of the device's current attempt counts ("/01" is not
     * "/1"): anything else is a duplicate, superseded or foreign: acked only. */
    if (x->state != LAB_EXP_RUNNING || x->step[s] != LAB_STEP_RUNNING || a->n != n || a->dev != d ||
        strcmp(id, a->id) != 0)
        return;
    s_record_artifacts(camp, d, id, r);
    if (r->status == LABLOOP__STEP_RESULT__STATUS__DONE) {
        s_note_done(camp, a->dispatched_us);
        json_t *vals = s_values_json(r);
        s_busy(camp, d, -1, 0);
        s_step_status(camp, id, "done", r->started_us, r->finished_us,
                      lab_jtext_dump(&camp->jt, vals, JSON_COMPACT), NULL);
        if (a->estop_hit)
            s_step_counted(camp, id, 1);     /* it finished all the same */
        s_event(camp, LAB_EV_STEP_DONE, id, NULL);   /* the attempt's row says it */
        x->values[s] = vals;
        x->step[s] = LAB_STEP_DONE_;
        for (size_t k = 0; k < camp->cfg->n_steps; k++)
            if (x->step[k] != LAB_STEP_DONE_)
                return;
        s_exp_finished(camp, x);
        return;
    }
    const char *status = r->status == LABLOOP__STEP_RESULT__STATUS__TIMED_OUT ? "timed_out"
                       : r->status == LABLOOP__STEP_RESULT__STATUS__CANCELLED ? "cancelled"
                                                                              : "failed";
    if (r->started_us)
        s_step_status(camp, id, NULL, r->started_us, 0, NULL, NULL);
    char err[512];
    snprintf(err, sizeof err, "%s", r->error && *r->error ? r->error : status);
    /* A step stopped by an e-stop is run again after the clear, free
     * (attempts hit by one are not counted in any case: attempt_ended).
     * A worker cancels an attempt on its own only for an e-stop (its
     * deadline is TIMED_OUT), and it may report that before its e-stop
     * request arrives: a CANCELLED nobody here asked for is not counted
     * either, whatever the order. One answering our overrun CANCEL is
     * the timeout it is. */
    int counts = 1;
    if (r->status == LABLOOP__STEP_RESULT__STATUS__CANCELLED) {
        if (a->cancel_us)
            status = "timed_out";
        else
            counts = 0;
    }
    lab_sched_attempt_ended(camp, x, (size_t)s, status, err, counts);
}

/* ------------------------------------------------------------ proposing */

/* One ask of the planner: inline, or on the thread pool for planners that
 * fit a model (the loop must not block on them). */
typedef struct s_ask {
    uv_work_t req;
    lab_camp *camp;
    size_t want, n_pending;
    double *pending, *pts;
    lab_ask_info *info;
    int rc;
    lab_err err;
} s_ask;

static void s_ask_free(s_ask *a)
{
    free(a->pending);
    free(a->pts);
    free(a->info);
    free(a);
}

static void s_ask_run(s_ask *a)
{
    a->rc = lab_planner_ask(a->camp->planner, a->want, a->pending, a->n_pending, a->pts, a->info);
    if (a->rc < 0)
        a->err = *lab_planner_last_error(a->camp->planner);
}

static void s_create(lab_camp *camp, size_t want, const double *pts, const lab_ask_info *info);

/* How many more experiments the planner may propose now: the batch (and
 * lookahead) less those in flight and those waiting for approval; with the
 * approval gate, at most a batch of proposals waits at once. With whole
 * batches, a full batch once nothing is in flight or waiting, else none:
 * every point of a batch is then chosen with all earlier results in. */
static long s_room(const lab_camp *camp)
{
    if (camp->cfg->whole_batches)   /* planner.refill: false */
        return camp->n_active == 0 && camp->n_waiting == 0 ? camp->cfg->batch : 0;
    long room = camp->cfg->batch + camp->lookahead - camp->n_active - camp->n_waiting;
    if (camp->cfg->approve_each && room > camp->cfg->batch - camp->n_waiting)
        room = camp->cfg->batch - camp->n_waiting;
    return room;
}

/* The ask's answer, on the loop thread. */
static void s_ask_finish(s_ask *a)
{
    lab_camp *camp = a->camp;
    if (a->rc < 0) {
        /* EAGAIN: ask again after a result, or an operator's decision */
        if (!(a->err.code == LAB_EAGAIN && (camp->n_active > 0 || camp->n_waiting > 0))) {
            camp->end_status = "exhausted";
            snprintf(camp->end_reason, sizeof camp->end_reason, "the planner has nothing more to propose: %s", a->err.msg);
        }
    } else if (!s_halted(camp, LAB_HOST_STOPPING) && !camp->end_status && camp->state == LAB_CAMP_RUNNING) {
        /* The campaign may have moved on while the planner thought. */
        long room = s_room(camp), left = camp->budget_experiments - lab_approve_used(camp);
        long want = (long)a->want < room ? (long)a->want : room;
        if (want > left)
            want = left;
        if (want > 0)
            s_create(camp, (size_t)want, a->pts, a->info);
    }
}

static void s_ask_work(uv_work_t *req) { s_ask_run(req->data); }

static void s_ask_done(uv_work_t *req, int status)
{
    s_ask *a = req->data;
    lab_camp *camp = a->camp;
    camp->asking = 0;
    for (size_t i = 0; i < camp->n_deferred; i++)
        s_tell(camp, camp->deferred[i].x, camp->deferred[i].outcome);
    camp->n_deferred = 0;
    if (status == 0)
        s_ask_finish(a);
    s_ask_free(a);
    lab_sched_schedule(camp);
}

static void s_propose(lab_camp *camp)
{
    size_t want = 0;
    if (camp->asking)
        return;
    if (!camp->end_status && camp->state == LAB_CAMP_RUNNING && s_room(camp) > 0)
        want = (size_t)s_room(camp);
    if ((long)want > camp->budget_experiments - lab_approve_used(camp))
        want = (size_t)(camp->budget_experiments - lab_approve_used(camp));
    if (want == 0)
        return;
    s_ask *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->camp = camp;
    a->want = want;
    a->n_pending = (size_t)(camp->n_active + camp->n_waiting);
    a->pending = calloc(a->n_pending + 1, camp->dims * sizeof(double));
    a->pts = calloc(want, camp->dims * sizeof(double));
    a->info = calloc(want, sizeof *a->info);
    if (!a->pending || !a->pts || !a->info) {
        s_ask_free(a);
        return;
    }
    for (long i = 0; i < camp->n_active; i++)
        memcpy(a->pending + camp->dims * (size_t)i, camp->active[i]->x, camp->dims * sizeof(double));
    for (long i = 0; i < camp->n_waiting; i++)      /* proposals waiting for approval are pending too */
        memcpy(a->pending + camp->dims * (size_t)(camp->n_active + i), camp->waiting[i]->x, camp->dims * sizeof(double));
    if (camp->planner_async) {
        a->req.data = a;
        camp->asking = 1;
        if (camp->loop && uv_queue_work(camp->loop, &a->req, s_ask_work, s_ask_done) == 0)
            return;
        camp->asking = 0;
    }
    s_ask_run(a);
    s_ask_finish(a);
    s_ask_free(a);
}

/* The model's side of the provenance: the raw summary ("model"), each
 * objective's predicted mean and deviation in its units ("predicted":
 * {name: {mean, sd}}) and p(success) where failures are modelled. */
static void s_prov_model(json_t *prov, const lab_campaign_cfg *c, const lab_ask_info *in)
{
    if (in->model[0])
        json_object_set_new(prov, "model", json_string(in->model));
    json_t *pred = json_object();
    for (size_t j = 0; pred && j < c->n_objectives && j < LAB_PLANNER_MAX_OBJECTIVES; j++)
        if (isfinite(in->objective_mean[j]))
            json_object_set_new(pred, c->objectives[j].name,
                                json_pack("{s:f, s:f}", "mean", in->objective_mean[j], "sd",
                                          isfinite(in->objective_sd[j]) ? in->objective_sd[j] : 0.0));
    if (pred && json_object_size(pred))
        json_object_set_new(prov, "predicted", pred);
    else
        json_decref(pred);
    if (isfinite(in->p_success))
        json_object_set_new(prov, "p_success", json_real(in->p_success));
}

static void s_create(lab_camp *camp, size_t want, const double *pts, const lab_ask_info *info)
{
    const lab_campaign_cfg *c = camp->cfg;
    for (size_t k = 0; k < want; k++) {
        lab_exp *x = s_exp_new(camp, camp->n_exps + 1);
        if (!x)
            break;
        memcpy(x->x, pts + k * camp->dims, camp->dims * sizeof(double));
        if (c->approve_each)
            x->state = LAB_EXP_PROPOSED;      /* waits for an operator (approve.c) */
        s_exp_add(camp, x);
        json_t *params = lab_sched_params_json(camp, x->x);
        json_t *prov = json_pack("{s:s, s:s, s:I}", "planner", lab_planner_name(camp->planner),
                                 "reason", info[k].reason, "seed", (json_int_t)c->seed);
        if (isfinite(info[k].acquisition))
            json_object_set_new(prov, "acquisition", json_real(info[k].acquisition));
        if (isfinite(info[k].predicted_mean))
            json_object_set_new(prov, "predicted_mean", json_real(info[k].predicted_mean));
        if (isfinite(info[k].predicted_sd))
            json_object_set_new(prov, "predicted_sd", json_real(info[k].predicted_sd));
        s_prov_model(prov, c, &info[k]);
        lab_action *act = s_act(camp, LAB_ACT_EXPERIMENT);
        if (act) {
            act->seq = x->seq;
            act->experiment = s_str(camp, x->id);
            act->json = s_str(camp, lab_jtext_dump(&camp->jt, params, JSON_COMPACT));
            act->text = s_str(camp, info[k].origin);
            act->json2 = s_str(camp, lab_jtext_dump(&camp->jt, prov, JSON_COMPACT));
            act->status = c->approve_each ? "proposed" : "running";
            act->t0 = lab_clock_wall_us();
        }
        /* Without approval the experiment's row says it all, and the event
         * has no detail (LAB_EVENT_DETAIL_SQL); a proposal that waits says
         * so in its own. */
        json_t *ev = NULL;
        if (c->approve_each) {
            ev = json_pack("{s:I, s:o, s:s, s:s, s:s, s:s}", "experiment", (json_int_t)x->seq, "params", params,
                           "origin", info[k].origin, "planner", lab_planner_name(camp->planner), "reason",
                           info[k].reason, "approval", "waiting");
            x->prov = prov;                     /* shown by status while it waits */
        } else {
            json_decref(params);
            json_decref(prov);
        }
        s_event(camp, LAB_EV_EXPERIMENT_PROPOSED, x->id, ev);
    }
}

/* At a commit: what memory holds now is in the batch being committed (on
 * disk once that commit returns). */
void lab_sched_mark_committed(lab_camp *camp)
{
    /* Rows still in the action list are in no commit yet (the lab carries
     * actions out before it commits: this only makes sure). */
    if (camp->acts.n)
        return;
    for (long i = 0; i < camp->n_active; i++)
        camp->active[i]->committed = 1;
}

/* The last commit is on disk (all: and nothing was written since): its
 * results count as done and its experiments may be dispatched. */
void lab_sched_mark_durable(lab_camp *camp, int all)
{
    int any = 0;
    if (camp->acts.n)
        all = 0;                     /* as above: not in this commit */
    for (long i = 0; i < camp->n_active; i++) {
        lab_exp *x = camp->active[i];
        if (!x->durable && (all || x->committed))
            x->durable = any = 1;
    }
    if (any)
        lab_sched_schedule(camp);
}

/* ------------------------------------------------------------ dispatching */

static Labloop__Param *s_step_param(lab_camp *camp, const lab_exp *x, const lab_cfg_param *p)
{
    if (p->dim < 0) {
        char *end;
        double v = strtod(p->literal, &end);
        return *p->literal && !*end ? lab_param_number(p->name, v, NULL) : lab_param_text(p->name, p->literal);
    }
    const lab_dim *d = lab_space_dim(camp->cfg->space, (size_t)p->dim);
    double v = x->x[p->dim];
    if (d->type == LAB_DIM_CATEGORICAL)
        return lab_param_text(p->name, d->choices[(size_t)v]);
    return lab_param_number(p->name, v, d->unit);
}

static void s_params_free(const lab_cfg_step *st, Labloop__Param **params)
{
    for (size_t i = 0; params && i < st->n_params; i++)
        lab_param_free(params[i]);
    free(params);
}

/* The parameters of step s's request (NULL out of memory). */
static Labloop__Param **s_request_params(lab_camp *camp, const lab_exp *x, size_t s)
{
    const lab_cfg_step *st = &camp->cfg->steps[s];
    Labloop__Param **params = calloc(st->n_params + 1, sizeof *params);
    for (size_t i = 0; params && i < st->n_params; i++)
        params[i] = s_step_param(camp, x, &st->params[i]);
    return params;
}

/* Send the StepRequest of step s's current attempt to its device (first:
 * its first send). The experiment is durable and the attempt id comes
 * from it, and workers answer a repeated request idempotently, so the
 * request need not wait for this turn's commit; it goes out before the
 * attempt's rows are written, which join the same commit. params: taken. */
static void s_send_request(lab_camp *camp, lab_exp *x, size_t s, Labloop__Param **params, int first)
{
    const lab_cfg_step *st = &camp->cfg->steps[s];
    lab_attempt *a = &x->cur[s];
    lab_action *act = s_act(camp, LAB_ACT_REQUEST);
    if (!act) {
        s_params_free(st, params);
        return;
    }
    act->device = s_str(camp, s_dev_name(camp, a->dev));
    act->attempt = s_str(camp, a->id);
    act->experiment = s_str(camp, x->id);
    act->step = st->name;
    act->text = st->capability;
    act->params = params;
    act->n_params = params ? st->n_params : 0;
    act->timeout_ms = (uint64_t)(st->timeout_s * 1000.0);
    act->n = first;
    act->t0 = a->dispatched_us;
}

/* Ask a's device again about a: dispatch is idempotent, and only the
 * worker's answer (accepted, a result, or "started before, not run again")
 * tells whether a still runs. */
static void s_resend_request(lab_camp *camp, lab_exp *x, size_t s)
{
    lab_attempt *a = &x->cur[s];
    a->unconfirmed_us = lab_clock_mono_us();
    s_send_request(camp, x, s, s_request_params(camp, x, s), 0);
}

static void s_dispatch(lab_camp *camp, lab_exp *x, size_t s, lab_device *d)
{
    const lab_cfg_step *st = &camp->cfg->steps[s];
    lab_attempt *a = &x->cur[s];
    if (x->hint[s] == d && x->hint_n[s] > a->n + 1)
        a->n = x->hint_n[s] - 1;      /* the id the device holds */
    x->hint[s] = NULL;
    x->unsure[s] = 0;
    a->n++;
    a->dev = d;
    a->resumed = 0;
    a->estop_hit = 0;
    a->unconfirmed_us = a->lost_us = a->cancel_us = 0;
    snprintf(a->id, sizeof a->id, "%s/%ld/%s/%d", camp->cfg->name, x->seq, st->name, a->n);
    a->dispatched_us = lab_clock_mono_us();
    a->deadline_us = st->timeout_s > 0 ? a->dispatched_us + (int64_t)(st->timeout_s * 1e6) + 5000000 : 0;
    x->step[s] = LAB_STEP_RUNNING;
    camp->dispatched += 1.0;
    s_busy(camp, d, +1, 1);

    int64_t now = lab_clock_wall_us();
    Labloop__Param **params = s_request_params(camp, x, s);
    json_t *pj = json_object();
    for (size_t i = 0; params && i < st->n_params; i++) {
        if (!params[i] || !params[i]->value)
            continue;
        const lab_cfg_param *cp = &st->params[i];
        if (params[i]->value->kind_case == LABLOOP__VALUE__KIND_TEXT)
            json_object_set_new(pj, params[i]->name, json_string(params[i]->value->text));
        else if (cp->dim >= 0 && lab_space_dim(camp->cfg->space, (size_t)cp->dim)->type == LAB_DIM_INTEGER)
            json_object_set_new(pj, params[i]->name, json_integer((json_int_t)llround(params[i]->value->number)));
        else
            json_object_set_new(pj, params[i]->name, json_real(params[i]->value->number));
    }
    const char *dev = s_dev_name(camp, d);
    s_send_request(camp, x, s, params, 1);
    lab_action *act = s_act(camp, LAB_ACT_STEP);
    if (act) {
        act->attempt = s_str(camp, a->id);
        act->seq = x->seq;
        act->step = st->name;
        act->n = a->n;
        act->device = s_str(camp, dev);
        act->status = "dispatched";
        act->json = s_str(camp, lab_jtext_dump(&camp->jt, pj, JSON_COMPACT));
        act->t0 = now;
    }
    json_decref(pj);
    s_sample_at(camp, x, dev, a->id);
    s_event(camp, LAB_EV_STEP_DISPATCHED, a->id, NULL);  /* the attempt's row says it */
}

/* A ready device with a free slot for step s's capability, least loaded
 * first; among equally loaded ones the one that has had the fewest
 * attempts, so that identical instruments share the work (and the wear)
 * instead of the first in the config taking most of it (past 32 devices
 * of a capability, in turns: slots.h). A device that just
 * failed this step is used only when no other capable device is ready at
 * all. The free-slot index (slots.h) answers without looking at every
 * device. */
static lab_device *s_pick_device(lab_camp *camp, size_t s, const lab_device *avoid)
{
    return camp->step_cap[s] < 0 ? NULL : camp->host->pick(camp->host_ctx, camp, camp->step_cap[s], avoid);
}

static int s_preds_done(const lab_camp *camp, const lab_exp *x, size_t s, int except)
{
    const lab_workflow_step *st = &camp->wf->steps[s];
    for (size_t k = 0; k < st->n_pred; k++) {
        size_t p = st->pred[k];
        if ((int)p != except && x->step[p] != LAB_STEP_DONE_)
            return 0;
    }
    return 1;
}

static void s_release_successors(lab_camp *camp, lab_exp *x, size_t s)
{
    const lab_workflow_step *st = &camp->wf->steps[s];
    for (size_t k = 0; k < st->n_succ; k++) {
        size_t b = st->succ[k];
        if (x->reserved[b] && x->step[b] == LAB_STEP_PENDING) {
            s_hold(camp, x->reserved[b], -1);
            x->reserved[b] = NULL;
        }
    }
}

/* Before starting step s, hold a slot for each successor that must start
 * 'within' a time of it and waits only on s. Returns 0 when every such
 * successor has a slot (or none needs one), -1 when a slot is missing (the
 * holds already taken are released). */
static int s_reserve_successors(lab_camp *camp, lab_exp *x, size_t s)
{
    const lab_workflow_step *st = &camp->wf->steps[s];
    for (size_t k = 0; k < st->n_succ; k++) {
        size_t b = st->succ[k];
        if (camp->wf->steps[b].within_s <= 0 || x->reserved[b] || x->step[b] != LAB_STEP_PENDING)
            continue;
        if (!s_preds_done(camp, x, b, (int)s))
            continue;
        lab_device *d = s_pick_device(camp, b, NULL);
        if (!d) {
            s_release_successors(camp, x, s);
            return -1;
        }
        s_hold(camp, d, +1);
        x->reserved[b] = d;
    }
    return 0;
}

static long s_dispatch_ready(lab_camp *camp, int64_t now, long max)
{
    const lab_campaign_cfg *c = camp->cfg;
    long n = 0;
    /* Oldest experiments first, so work in progress finishes before new work starts. */
    for (long i = 0; i < camp->n_active; i++) {
        lab_exp *x = camp->active[i];
        if (!x->durable || x->state != LAB_EXP_RUNNING)
            continue;
        for (size_t s = 0; s < c->n_steps && x->state == LAB_EXP_RUNNING; s++) {
            if (x->step[s] != LAB_STEP_PENDING || !s_preds_done(camp, x, s, -1))
                continue;
            if (!x->ready_us[s])
                x->ready_us[s] = now;
            if (lab_clock_mono_us() < x->not_before_us[s])
                continue;
            lab_device *d;
            if (x->hint[s]) {
                /* Only the device that holds the attempt may have it (at any
                 * load: it answers from what it holds). */
                d = x->hint[s];
                lab_dev_view v = s_dev(camp, d);
                int64_t window = camp->liveness_us;
                if (!v.online && lab_clock_mono_us() - v.last_rx_us > 2 * window &&
                    lab_clock_mono_us() > camp->host->grace_until(camp->host_ctx)) {
                    /* gone past its liveness: what it held cannot run any more */
                    lab_warn("device '%s' held an attempt of %s step '%s' and did not come back; "
                             "dispatching it anew", v.name, x->id, c->steps[s].name);
                    x->hint[s] = NULL;
                    continue;
                }
                if (camp->state != LAB_CAMP_RUNNING || !v.online || !v.welcomed)
                    continue;
                s_dispatch(camp, x, s, d);
                if (++n == max)
                    return n;
                continue;
            }
            if (x->unsure[s] && !camp->host->all_heard(camp->host_ctx, camp->step_cap[s])) {
                /* Pending at a restart: it may have been dispatched with its
                 * record lost. Every capable device says what it holds in its
                 * Hello first, or stays away past the restart's grace. */
                if (lab_clock_mono_us() <= camp->host->grace_until(camp->host_ctx))
                    continue;
                x->unsure[s] = 0;
            }
            if (x->reserved[s]) {
                d = x->reserved[s];
                lab_dev_view v = s_dev(camp, d);
                if (!v.online || !v.welcomed)
                    continue;
                s_hold(camp, d, -1);
                x->reserved[s] = NULL;
            } else {
                if (camp->state != LAB_CAMP_RUNNING)
                    continue;
                d = s_pick_device(camp, s, x->avoid[s]);
                if (!d)
                    continue;
                if (s_reserve_successors(camp, x, s) < 0)
                    continue;
                if (s_dev(camp, d).free <= 0) {
                    /* a successor's hold took d's last slot: wait for room for both */
                    s_release_successors(camp, x, s);
                    continue;
                }
            }
            s_dispatch(camp, x, s, d);
            if (++n == max)
                return n;
        }
    }
    return n;
}

/* Once the campaign is ending, experiments that have not started a step
 * are not started: they end cancelled. */
static void s_cancel_unstarted(lab_camp *camp)
{
    lab_approve_cancel_waiting(camp, "the campaign ended before it was approved");
    for (long i = camp->n_active - 1; i >= 0; i--) {
        lab_exp *x = camp->active[i];
        int started = 0;
        for (size_t s = 0; s < camp->cfg->n_steps; s++)
            started |= x->cur[s].n > 0 || x->step[s] != LAB_STEP_PENDING;
        if (started)
            continue;
        s_release_reservations(camp, x);
        x->state = LAB_EXP_CANCELLED;
        s_deactivate(camp, x);
        camp->cancelled++;
        s_exp_status(camp, x, "cancelled", NULL, "the campaign ended before it started");
        s_event(camp, LAB_EV_EXPERIMENT_CANCELLED, x->id,
                json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "reason",
                          "the campaign ended before it started"));
    }
}

void lab_sched_check_end(lab_camp *camp)
{
    if (s_halted(camp, LAB_HOST_STOPPING) || camp->finished)
        return;
    if (camp->end_status && !camp->asking)
        s_cancel_unstarted(camp);
    if (!camp->end_status && lab_approve_used(camp) >= camp->budget_experiments && camp->n_active == 0 &&
        camp->n_waiting == 0) {
        camp->end_status = "completed";
        snprintf(camp->end_reason, sizeof camp->end_reason, "experiment budget of %ld spent",
                 camp->budget_experiments);
    }
    if (camp->end_status && camp->n_active == 0 && camp->n_waiting == 0)
        s_act(camp, LAB_ACT_ENDED);
}

void lab_sched_prepare(lab_camp *camp)
{
    if (s_halted(camp, LAB_HOST_STOPPING | LAB_HOST_FATAL) || camp->finished)
        return;
    if (camp->end_status && !camp->asking)
        s_cancel_unstarted(camp);        /* before anything else can start them */
    if (camp->state != LAB_CAMP_HALTED)
        s_propose(camp);
}

long lab_sched_dispatch(lab_camp *camp, long max)
{
    if (s_halted(camp, LAB_HOST_STOPPING | LAB_HOST_FATAL) || camp->finished || camp->state == LAB_CAMP_HALTED)
        return 0;
    return s_dispatch_ready(camp, lab_clock_mono_us(), max);
}

void lab_sched_schedule(lab_camp *camp)
{
    camp->host->schedule(camp->host_ctx, camp);
}

/* ------------------------------------------------------------ devices */

void lab_sched_device_lost(lab_camp *camp, lab_device *d, const char *why)
{
    (void)why;
    for (long i = camp->n_active - 1; i >= 0; i--) {
        if (i >= camp->n_active)
            continue;
        lab_exp *x = camp->active[i];
        for (size_t s = 0; s < camp->cfg->n_steps && x->state == LAB_EXP_RUNNING; s++) {
            if (x->reserved[s] == d) {
                s_hold(camp, d, -1);
                x->reserved[s] = NULL;
            }
            /* It may still be running there (a frozen host, a broken
             * link): ended only if the device stays away for another
             * liveness window (lab_sched_check_deadlines), or by what
             * the device says when it is back. */
            if (x->step[s] == LAB_STEP_RUNNING && x->cur[s].dev == d && !x->cur[s].lost_us)
                x->cur[s].lost_us = lab_clock_mono_us();
        }
    }
}

/* Attempts of steps in progress that d lists but the hub does not know
 * (dispatched before a commit that failed): their ids go to d again. */
static void s_hello_hints(lab_camp *camp, lab_device *d, char **ids, size_t n_ids, const char *what)
{
    for (size_t k = 0; k < n_ids; k++) {
        lab_exp *x;
        int s, n;
        if (s_parse_attempt(camp, ids[k], &x, &s, &n) == 0 && s_unrecorded(x, s, n) &&
            x->step[s] == LAB_STEP_PENDING)
            s_note_hint(camp, x, s, n, d, what);
    }
}

void lab_sched_device_hello(lab_camp *camp, lab_device *d, const Labloop__Hello *h)
{
    /* A Hello may be late (sent before a request it crossed), so an
     * attempt it leaves out is not ended here: its request is sent again
     * once d is welcomed (lab_sched_device_welcomed), and the worker's
     * answer settles it. Attempts it lists run on. */
    s_hello_hints(camp, d, h->running_attempts, h->n_running_attempts, "running attempt");
    s_hello_hints(camp, d, h->unacked_attempts, h->n_unacked_attempts, "result");
    for (long i = camp->n_active - 1; i >= 0; i--) {
        if (i >= camp->n_active)
            continue;
        lab_exp *x = camp->active[i];
        for (size_t s = 0; s < camp->cfg->n_steps && x->state == LAB_EXP_RUNNING; s++) {
            lab_attempt *a = &x->cur[s];
            if (x->step[s] != LAB_STEP_RUNNING || a->dev != d)
                continue;
            int known = 0;
            for (size_t k = 0; k < h->n_running_attempts; k++)
                known |= !strcmp(h->running_attempts[k], a->id);
            for (size_t k = 0; k < h->n_unacked_attempts; k++)
                known |= !strcmp(h->unacked_attempts[k], a->id);
            a->resumed = 0;
            a->lost_us = 0;
            if (!known && !a->unconfirmed_us)
                a->unconfirmed_us = -1;     /* ask once the Welcome is out */
        }
    }
}

void lab_sched_device_welcomed(lab_camp *camp, lab_device *d)
{
    for (long i = 0; i < camp->n_active; i++) {
        lab_exp *x = camp->active[i];
        for (size_t s = 0; s < camp->cfg->n_steps; s++)
            if (x->step[s] == LAB_STEP_RUNNING && x->cur[s].dev == d && x->cur[s].unconfirmed_us)
                s_resend_request(camp, x, s);
    }
}

void lab_sched_check_deadlines(lab_camp *camp, int64_t now)
{
    for (long i = camp->n_active - 1; i >= 0; i--) {
        if (i >= camp->n_active)
            continue;
        lab_exp *x = camp->active[i];
        for (size_t s = 0; s < camp->cfg->n_steps && x->state == LAB_EXP_RUNNING; s++) {
            const lab_cfg_step *st = &camp->cfg->steps[s];
            lab_attempt *a = &x->cur[s];
            if (x->step[s] != LAB_STEP_RUNNING && !(x->step[s] == LAB_STEP_PENDING && st->within_s > 0))
                continue;
            lab_dev_view v = x->step[s] == LAB_STEP_RUNNING ? s_dev(camp, a->dev) : (lab_dev_view){0};
            if (x->step[s] == LAB_STEP_RUNNING && a->resumed && now > camp->host->grace_until(camp->host_ctx) &&
                !v.online) {
                lab_sched_attempt_ended(camp, x, s, "lost", "its device did not come back after the orchestrator restarted", 1);
                continue;
            }
            int64_t window = camp->liveness_us;
            if (x->step[s] == LAB_STEP_RUNNING && a->lost_us && !v.online &&
                now - a->lost_us > window) {
                char msg[512];
                snprintf(msg, sizeof msg, "device '%s' lost during step '%s' and not back within %.1f s",
                         v.name, st->name, (double)window / 1e6);
                lab_sched_attempt_ended(camp, x, s, "lost", msg, 1);
                continue;
            }
            int ready = x->step[s] == LAB_STEP_RUNNING && v.online && v.welcomed;
            /* A request sent again is asked again until the worker answers. */
            if (ready && a->unconfirmed_us > 0 && now - a->unconfirmed_us > S_ASK_AGAIN_US)
                s_resend_request(camp, x, s);
            /* Past its deadline (the worker enforces it and should have
             * reported by now): cancel it, and go on asking until the
             * worker confirms; its answer ends the attempt. */
            if (ready && a->deadline_us && now > a->deadline_us &&
                (!a->cancel_us || now - a->cancel_us > S_ASK_AGAIN_US)) {
                char msg[256];
                snprintf(msg, sizeof msg, "device '%s': step '%s' timed out after %.0f s (attempt %d of %d)",
                         v.name, st->name, st->timeout_s, a->n, st->retries + 1);
                if (!a->cancel_us)
                    lab_warn("%s: cancelling it", msg);
                s_cancel(camp, a->dev, a->id, msg);
                a->cancel_us = now;
                continue;
            }
            /* A 'within' step that could not start in time fails its experiment. */
            if (x->step[s] == LAB_STEP_PENDING && st->within_s > 0 && x->ready_us[s] &&
                camp->state == LAB_CAMP_RUNNING && now - x->ready_us[s] > (int64_t)(st->within_s * 1e6) &&
                x->cur[s].n == 0) {
                char msg[256];
                snprintf(msg, sizeof msg, "step '%s' could not start within %.0f s of its predecessors",
                         st->name, st->within_s);
                x->step[s] = LAB_STEP_FAILED_;
                s_exp_failed(camp, x, msg);
            }
        }
    }
}

/* An e-stop: the attempts running now end through no fault of their steps,
 * however long their devices take to report them stopped. The hub marks
 * them at once, so that holds across a restart too. */
void lab_sched_estop_hit(lab_camp *camp)
{
    for (long i = 0; i < camp->n_active; i++)
        for (size_t s = 0; s < camp->cfg->n_steps; s++) {
            lab_attempt *a = &camp->active[i]->cur[s];
            if (camp->active[i]->step[s] != LAB_STEP_RUNNING || a->estop_hit)
                continue;
            a->estop_hit = 1;
            s_step_counted(camp, a->id, 0);
        }
}

/* Abort: cancel every running attempt and every experiment in flight. */
void lab_sched_cancel_all(lab_camp *camp, const char *reason)
{
    lab_approve_cancel_waiting(camp, reason);
    while (camp->n_active > 0) {
        lab_exp *x = camp->active[camp->n_active - 1];
        for (size_t s = 0; s < camp->cfg->n_steps; s++) {
            lab_attempt *a = &x->cur[s];
            if (x->step[s] != LAB_STEP_RUNNING)
                continue;
            s_cancel(camp, a->dev, a->id, reason);
            s_busy(camp, a->dev, -1, 0);
            s_step_status(camp, a->id, "cancelled", 0, lab_clock_wall_us(), NULL, reason);
            x->step[s] = LAB_STEP_FAILED_;
        }
        s_release_reservations(camp, x);
        x->state = LAB_EXP_CANCELLED;
        camp->n_active--;
        camp->cancelled++;
        s_exp_status(camp, x, "cancelled", NULL, reason);
        s_event(camp, LAB_EV_EXPERIMENT_CANCELLED, x->id,
                json_pack("{s:I, s:s}", "experiment", (json_int_t)x->seq, "reason", reason));
    }
}

/* ------------------------------------------------------------ resume */

struct lab_camp_resume {
    lab_camp *camp;
    lab_exp **told;                 /* finished, to re-tell in finishing order */
    int64_t *told_at;
    size_t n_told;
    int bad;
    lab_err *err;
};
typedef lab_camp_resume s_resume;

static int s_point_from_json(lab_camp *camp, const char *js, double *x, lab_err *err)
{
    json_error_t je;
    json_t *j = json_loads(js ? js : "", 0, &je);
    if (!j)
        return lab_err_set(err, LAB_EDB, "unreadable parameters in the hub: %s", je.text);
    int rc = 0;
    for (size_t i = 0; i < camp->dims && rc == 0; i++) {
        const lab_dim *d = lab_space_dim(camp->cfg->space, i);
        json_t *v = json_object_get(j, d->name);
        if (d->type == LAB_DIM_CATEGORICAL) {
            const char *s = json_string_value(v);
            size_t k = 0;
            while (s && k < d->n_choices && strcmp(d->choices[k], s) != 0)
                k++;
            if (!s || k == d->n_choices)
                rc = lab_err_set(err, LAB_EDB, "parameter '%s' in the hub is not one of its choices", d->name);
            x[i] = (double)k;
        } else if (json_is_number(v)) {
            x[i] = json_number_value(v);
        } else {
            rc = lab_err_set(err, LAB_EDB, "parameter '%s' missing in the hub", d->name);
        }
    }
    json_decref(j);
    return rc;
}

int lab_camp_resume_experiment(const lab_hub_experiment_row *r, void *arg)
{
    s_resume *rs = arg;
    lab_camp *camp = rs->camp;
    if (r->seq <= 0)
        return 0; /* the prior's experiments: told from the prior (orch_prior.c) */
    if (r->seq != camp->n_exps + 1)
        return lab_err_set(rs->err, LAB_EDB, "experiment numbers in the hub are not contiguous (at %lld)",
                           (long long)r->seq);
    lab_exp *x = s_exp_new(camp, (long)r->seq);
    if (!x)
        return lab_err_set(rs->err, LAB_ENOMEM, "out of memory");
    if (s_point_from_json(camp, r->params_json, x->x, rs->err) < 0) {
        s_exp_free(x, camp->cfg->n_steps);
        return LAB_EDB;
    }
    x->durable = 1;
    const char *st = r->status ? r->status : "";
    if (!strcmp(st, "measured")) {
        x->state = LAB_EXP_MEASURED;
        json_t *j = json_loads(r->objectives_json ? r->objectives_json : "{}", 0, NULL);
        for (size_t k = 0; k < camp->cfg->n_objectives; k++) {
            json_t *v = j ? json_object_get(j, camp->cfg->objectives[k].name) : NULL;
            x->y[k] = json_is_number(v) ? json_number_value(v) : NAN;
        }
        json_decref(j);
        camp->measured++;
        if (!camp->best || s_better(camp, x->y[0], camp->exps[camp->best - 1]->y[0]))
            camp->best = x->seq;
    } else if (!strcmp(st, "failed")) {
        x->state = LAB_EXP_FAILED;
        camp->failed++;
    } else if (!strcmp(st, "cancelled")) {
        x->state = LAB_EXP_CANCELLED;
        camp->cancelled++;
    } else if (!strcmp(st, "proposed")) {
        x->state = LAB_EXP_PROPOSED;      /* still waiting for an operator: not asked again */
        x->prov = r->provenance_json ? json_loads(r->provenance_json, 0, NULL) : NULL;
    } else if (!strcmp(st, "rejected")) {
        x->state = LAB_EXP_REJECTED;
        camp->rejected++;
    } else {
        x->state = LAB_EXP_RUNNING;
    }
    s_exp_add(camp, x);
    if (x->state == LAB_EXP_MEASURED || x->state == LAB_EXP_FAILED || x->state == LAB_EXP_REJECTED) {
        lab_exp **t = realloc(rs->told, (rs->n_told + 1) * sizeof *t);
        int64_t *ta = realloc(rs->told_at, (rs->n_told + 1) * sizeof *ta);
        if (t)
            rs->told = t;
        if (ta)
            rs->told_at = ta;
        if (!t || !ta)
            return lab_err_set(rs->err, LAB_ENOMEM, "out of memory");
        rs->told[rs->n_told] = x;
        rs->told_at[rs->n_told++] = r->finished_us;
    }
    return 0;
}

int lab_camp_resume_step(const lab_hub_step_row *r, void *arg)
{
    s_resume *rs = arg;
    lab_camp *camp = rs->camp;
    if (r->experiment < 1 || r->experiment > camp->n_exps)
        return 0;
    lab_exp *x = camp->exps[r->experiment - 1];
    int s = r->step ? lab_workflow_find(camp->wf, r->step, strlen(r->step)) : -1;
    if (s < 0)
        return 0;
    lab_attempt *a = &x->cur[s];
    const char *st = r->status ? r->status : "";
    int in_flight = !strcmp(st, "dispatched") || !strcmp(st, "running");
    if (!r->counted && !in_flight)       /* an e-stopped attempt still running ends uncounted later */
        a->uncounted++;
    if (r->attempt < a->n)
        return 0;
    a->n = r->attempt;
    snprintf(a->id, sizeof a->id, "%s", r->attempt_id ? r->attempt_id : "");
    a->dev = r->device ? camp->host->find(camp->host_ctx, r->device) : NULL;
    a->estop_hit = in_flight && !r->counted;
    if (!strcmp(st, "done")) {
        x->step[s] = LAB_STEP_DONE_;
        json_decref(x->values[s]);
        x->values[s] = json_loads(r->result_json ? r->result_json : "{}", 0, NULL);
    } else if (in_flight) {
        if (x->state == LAB_EXP_RUNNING && a->dev) {
            x->step[s] = LAB_STEP_RUNNING;
            a->resumed = 1;
            a->dispatched_us = lab_clock_mono_us();
            const lab_cfg_step *cs = &camp->cfg->steps[s];
            a->deadline_us = cs->timeout_s > 0 ? a->dispatched_us + (int64_t)(cs->timeout_s * 1e6) + 5000000 : 0;
            s_busy(camp, a->dev, +1, 0);
        } else {
            x->step[s] = LAB_STEP_PENDING;
            if (a->estop_hit)            /* abandoned: it will not end, so it must not count */
                a->uncounted++;
        }
    } else {
        x->step[s] = LAB_STEP_PENDING;   /* ended: the next attempt follows */
    }
    return 0;
}

lab_camp_resume *lab_camp_resume_begin(lab_camp *camp, lab_err *err)
{
    lab_camp_resume *rs = calloc(1, sizeof *rs);
    if (!rs) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    rs->camp = camp;
    rs->err = err;
    return rs;
}

int lab_camp_resume_end(lab_camp_resume *rsp, int rc)
{
    lab_camp *camp = rsp->camp;
    s_resume rs = *rsp;
    free(rsp);
    if (rc < 0) {
        free(rs.told);
        free(rs.told_at);
        return rc;
    }
    /* Re-tell history in the order it happened (insertion sort: resume is rare). */
    for (size_t i = 1; i < rs.n_told; i++)
        for (size_t j = i; j > 0 && (rs.told_at[j - 1] > rs.told_at[j] ||
                                     (rs.told_at[j - 1] == rs.told_at[j] && rs.told[j - 1]->seq > rs.told[j]->seq)); j--) {
            lab_exp *t = rs.told[j]; rs.told[j] = rs.told[j - 1]; rs.told[j - 1] = t;
            int64_t u = rs.told_at[j]; rs.told_at[j] = rs.told_at[j - 1]; rs.told_at[j - 1] = u;
        }
    for (size_t i = 0; i < rs.n_told; i++)
        s_tell(camp, rs.told[i], rs.told[i]->state == LAB_EXP_MEASURED ? LAB_OUTCOME_MEASURED : LAB_OUTCOME_FAILED);
    free(rs.told);
    free(rs.told_at);
    for (long i = 0; i < camp->n_active; i++)
        for (size_t s = 0; s < camp->cfg->n_steps; s++)
            camp->active[i]->unsure[s] = camp->active[i]->step[s] == LAB_STEP_PENDING;
    camp->resumed = 1;
    return 0;
}
