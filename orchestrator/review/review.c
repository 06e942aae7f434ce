/* The review snapshot: load a campaign from the hub and compute the views
 * (best, best so far, Pareto front, utilisation) and the JSON summary.
 * See review.h. Not for: SQL (hub_query.c) or HTML (review_html.c).
 */
#include "orchestrator/review/review.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orchestrator/config.h"

#include "common/banned.h"

/* ---- small helpers ---- */

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int s_grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * size);
    if (!q)
        return LAB_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

const char *lab_review_iso_time(int64_t t_us, char *buf, size_t n)
{
    time_t sec = (time_t)(t_us / 1000000);
    struct tm tm;
    if (n == 0)
        return buf;
    if (t_us <= 0 || !gmtime_r(&sec, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "-");
    return buf;
}

const char *lab_review_licence(const char *access)
{
    if (access && strcmp(access, "open") == 0)
        return "open data: CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/); cite the "
               "campaign and its operator";
    if (access && strcmp(access, "shared") == 0)
        return "shared data: for the members of the sharing agreement only; no redistribution "
               "without the data owner's consent";
    return "closed data: confidential to the data owner; no redistribution";
}

/* Units by name from the campaign's stored config: parameters, objectives
 * and the step values objectives are taken from. NULL when it has none or
 * no longer parses (the timeline then shows bare numbers). */
json_t *lab_review_units(const lab_hub_query_campaign *c)
{
    if (!c->config_text)
        return NULL;
    lab_err e;
    lab_campaign_cfg *cfg = lab_config_load_stored(c->config_path ? c->config_path : "<config>",
                                                   c->config_text, strlen(c->config_text), NULL, &e);
    if (!cfg)
        return NULL;
    json_t *u = json_object();
    for (size_t i = 0; u && i < lab_space_dims(cfg->space); i++) {
        const lab_dim *d = lab_space_dim(cfg->space, i);
        if (d->unit && *d->unit)
            json_object_set_new(u, d->name, json_string(d->unit));
    }
    for (size_t i = 0; u && i < cfg->n_objectives; i++) {
        const lab_cfg_objective *ob = &cfg->objectives[i];
        if (ob->unit && *ob->unit) {
            json_object_set_new(u, ob->name, json_string(ob->unit));
            if (ob->from_value && !json_object_get(u, ob->from_value))
                json_object_set_new(u, ob->from_value, json_string(ob->unit));
        }
    }
    lab_config_destroy(&cfg);
    return u;
}

/* ---- the campaign's config: parameters and objectives ---- */

static int s_from_config(lab_review *r)
{
    if (!r->c.config_text)
        return 0;
    lab_err e;
    lab_campaign_cfg *cfg = lab_config_load_stored(r->c.config_path ? r->c.config_path : "<config>",
                                                   r->c.config_text, strlen(r->c.config_text),
                                                   NULL, &e);
    if (!cfg)
        return 0;
    r->budget_experiments = cfg->budget_experiments;
    r->budget_hours = cfg->budget_hours;
    size_t nd = lab_space_dims(cfg->space);
    r->params = calloc(nd ? nd : 1, sizeof *r->params);
    r->objectives = calloc(cfg->n_objectives ? cfg->n_objectives : 1, sizeof *r->objectives);
    int ret = (!r->params || !r->objectives) ? LAB_ENOMEM : 0;
    for (size_t i = 0; ret == 0 && i < nd; i++) {
        const lab_dim *d = lab_space_dim(cfg->space, i);
        lab_review_param *p = &r->params[r->n_params++];
        p->name = s_dup(d->name);
        p->unit = s_dup(d->unit);
        p->categorical = d->type == LAB_DIM_CATEGORICAL;
        p->integer = d->type == LAB_DIM_INTEGER;
        p->log_scale = d->log_scale;
        if (!p->categorical) {
            p->low = d->low;
            p->high = d->high;
        }
        if (p->categorical && d->n_choices) {
            p->choices = calloc(d->n_choices, sizeof *p->choices);
            if (!p->choices) {
                ret = LAB_ENOMEM;
                break;
            }
            for (size_t k = 0; k < d->n_choices; k++)
                p->choices[p->n_choices++] = s_dup(d->choices[k]);
        }
    }
    for (size_t i = 0; ret == 0 && i < cfg->n_objectives; i++) {
        lab_review_objective *o = &r->objectives[r->n_objectives++];
        o->name = s_dup(cfg->objectives[i].name);
        o->unit = s_dup(cfg->objectives[i].unit);
        o->maximize = cfg->objectives[i].maximize;
        o->goal_known = 1;
    }
    lab_config_destroy(&cfg);
    if (ret == 0)
        r->config_parsed = 1;
    return ret;
}

/* Without a config: names from the experiments' rows, in first-seen order. */
static int s_names_from(char ***names, size_t *n, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i;
        for (i = 0; i < *n && strcmp((*names)[i], k) != 0; i++)
            ;
        if (i < *n)
            continue;
        char **p = realloc(*names, (*n + 1) * sizeof **names);
        if (!p)
            return LAB_ENOMEM;
        *names = p;
        if (!(p[*n] = strdup(k)))
            return LAB_ENOMEM;
        (*n)++;
    }
    return 0;
}

/* ---- loading rows ---- */

typedef struct s_load {
    lab_review *r;
    size_t cap;
    json_t **objs;               /* per experiment, until y[] is known */
    size_t cap_objs;
} s_load;

static int s_on_exp(const lab_hub_query_experiment *x, void *arg)
{
    s_load *l = arg;
    lab_review *r = l->r;
    if (s_grow((void **)&r->exps, &l->cap, r->n_exps, sizeof *r->exps) < 0 ||
        s_grow((void **)&l->objs, &l->cap_objs, r->n_exps, sizeof *l->objs) < 0)
        return LAB_ENOMEM;
    lab_review_exp *e = &r->exps[r->n_exps];
    memset(e, 0, sizeof *e);
    l->objs[r->n_exps] = NULL;
    r->n_exps++;
    e->seq = x->seq;
    e->status = s_dup(x->status ? x->status : "?");
    e->origin = s_dup(x->origin);
    e->error = s_dup(x->error);
    e->params = x->params_json ? json_loads(x->params_json, 0, NULL) : NULL;
    if (!json_is_object(e->params)) {
        json_decref(e->params);
        e->params = json_object();
    }
    e->provenance = x->provenance_json ? json_loads(x->provenance_json, 0, NULL) : NULL;
    l->objs[r->n_exps - 1] = x->objectives_json ? json_loads(x->objectives_json, 0, NULL) : NULL;
    e->proposed_us = x->proposed_us;
    e->finished_us = x->finished_us;
    e->best_so_far = NAN;
    return e->status && e->params ? 0 : LAB_ENOMEM;
}

static int s_on_step(const lab_hub_query_step *s, void *arg)
{
    s_load *l = arg;
    lab_review *r = l->r;
    if (s_grow((void **)&r->steps, &l->cap, r->n_steps, sizeof *r->steps) < 0)
        return LAB_ENOMEM;
    lab_review_step *t = &r->steps[r->n_steps++];
    memset(t, 0, sizeof *t);
    t->attempt_id = s_dup(s->attempt_id);
    t->step = s_dup(s->step);
    t->device = s_dup(s->device);
    t->status = s_dup(s->status);
    t->error = s_dup(s->error);
    t->experiment = s->experiment;
    t->attempt = s->attempt;
    t->queued_us = s->queued_us;
    t->started_us = s->started_us;
    t->finished_us = s->finished_us;
    return t->attempt_id && t->status ? 0 : LAB_ENOMEM;
}

static int s_on_device(const lab_hub_query_device *d, void *arg)
{
    s_load *l = arg;
    lab_review *r = l->r;
    if (s_grow((void **)&r->devices, &l->cap, r->n_devices, sizeof *r->devices) < 0)
        return LAB_ENOMEM;
    lab_review_device *v = &r->devices[r->n_devices++];
    memset(v, 0, sizeof *v);
    v->name = s_dup(d->name);
    v->driver = s_dup(d->driver);
    v->status = s_dup(d->status);
    v->capacity = d->capacity > 0 ? d->capacity : 1;
    v->steps = d->steps;
    v->busy_us = d->busy_us;
    return v->name ? 0 : LAB_ENOMEM;
}

static int s_on_failure(const lab_hub_query_failure *f, void *arg)
{
    s_load *l = arg;
    lab_review *r = l->r;
    if (s_grow((void **)&r->failures, &l->cap, r->n_failures, sizeof *r->failures) < 0)
        return LAB_ENOMEM;
    lab_review_failure *v = &r->failures[r->n_failures++];
    memset(v, 0, sizeof *v);
    v->scope = s_dup(f->scope);
    v->cause = s_dup(f->cause);
    v->where = s_dup(f->where);
    v->count = f->count;
    v->first_experiment = f->first_experiment;
    return v->scope && v->cause ? 0 : LAB_ENOMEM;
}

/* ---- views ---- */

/* 1 when a is at least as good as b in every objective and better in one. */
static int s_dominates(const lab_review *r, const double *a, const double *b)
{
    int better = 0;
    for (size_t k = 0; k < r->n_objectives; k++) {
        double da = r->objectives[k].maximize ? a[k] : -a[k];
        double db = r->objectives[k].maximize ? b[k] : -b[k];
        if (da < db)
            return 0;
        if (da > db)
            better = 1;
    }
    return better;
}

static int s_complete(const lab_review *r, const lab_review_exp *e)
{
    if (strcmp(e->status, "measured") != 0)
        return 0;
    for (size_t k = 0; k < r->n_objectives; k++)
        if (!isfinite(e->y[k]))
            return 0;
    return 1;
}

static void s_views(lab_review *r)
{
    r->best = -1;
    double best = NAN;
    int maximize = r->n_objectives ? r->objectives[0].maximize : 1;
    for (size_t i = 0; i < r->n_exps; i++) {
        lab_review_exp *e = &r->exps[i];
        double y = r->n_objectives ? e->y[0] : NAN;
        if (strcmp(e->status, "measured") == 0 && isfinite(y) &&
            (!isfinite(best) || (maximize ? y > best : y < best))) {
            best = y;
            r->best = (long)i;
        }
        e->best_so_far = best;
    }
    if (r->n_objectives >= 2) {
        for (size_t i = 0; i < r->n_exps; i++) {
            lab_review_exp *e = &r->exps[i];
            if (!s_complete(r, e))
                continue;
            e->pareto = 1;
            for (size_t j = 0; j < r->n_exps && e->pareto; j++)
                if (j != i && s_complete(r, &r->exps[j]) && s_dominates(r, r->exps[j].y, e->y))
                    e->pareto = 0;
            r->n_pareto += (size_t)e->pareto;
        }
    }
    /* The span: first to last event, else the rows' own times. */
    r->span_start_us = r->c.first_us ? r->c.first_us : r->c.created_us;
    r->span_end_us = r->c.last_us ? r->c.last_us : r->c.updated_us;
    for (size_t i = 0; i < r->n_steps; i++) {
        const lab_review_step *s = &r->steps[i];
        if (s->started_us && s->started_us < r->span_start_us)
            r->span_start_us = s->started_us;
        if (s->finished_us > r->span_end_us)
            r->span_end_us = s->finished_us;
    }
    double span = (double)(r->span_end_us - r->span_start_us);
    for (size_t i = 0; i < r->n_devices; i++) {
        lab_review_device *d = &r->devices[i];
        d->utilisation = span > 0 ? (double)d->busy_us / (span * d->capacity) : 0;
    }
}

lab_review *lab_review_load(lab_hub_query *q, const char *campaign, lab_err *err)
{
    lab_review *r = calloc(1, sizeof *r);
    if (!r) {
        lab_err_set(err, LAB_ENOMEM, "reading the campaign: out of memory");
        return NULL;
    }
    s_load l = {.r = r};
    int ret = lab_hub_query_campaign_get(q, campaign, &r->c, err);
    if (ret == 0)
        ret = lab_hub_query_counts_get(q, r->c.id, &r->n, err);
    if (ret == 0)
        ret = lab_hub_query_lifecycle_get(q, r->c.id, &r->life, err);
    if (ret == 0 && (ret = s_from_config(r)) < 0)
        lab_err_set(err, ret, "reading the campaign's config: out of memory");
    if (ret == 0)
        ret = lab_hub_query_experiments(q, r->c.id, s_on_exp, &l, err);
    if (ret == 0 && !r->config_parsed) {
        /* Names from the rows; objectives' goals unknown. */
        char **pn = NULL, **on = NULL;
        size_t npn = 0, non = 0;
        for (size_t i = 0; ret == 0 && i < r->n_exps; i++) {
            ret = s_names_from(&pn, &npn, r->exps[i].params);
            if (ret == 0 && json_is_object(l.objs[i]))
                ret = s_names_from(&on, &non, l.objs[i]);
        }
        r->params = calloc(npn ? npn : 1, sizeof *r->params);
        r->objectives = calloc(non ? non : 1, sizeof *r->objectives);
        if (!r->params || !r->objectives)
            ret = LAB_ENOMEM;
        for (size_t i = 0; i < npn; i++) {
            if (r->params)
                r->params[r->n_params++].name = pn[i];
            else
                free(pn[i]);
        }
        for (size_t i = 0; i < non; i++) {
            if (r->objectives) {
                r->objectives[r->n_objectives].maximize = 1;
                r->objectives[r->n_objectives++].name = on[i];
            } else {
                free(on[i]);
            }
        }
        free(pn);
        free(on);
        if (ret < 0)
            lab_err_set(err, ret, "reading the campaign: out of memory");
    }
    for (size_t i = 0; ret == 0 && i < r->n_exps; i++) {
        lab_review_exp *e = &r->exps[i];
        e->y = calloc(r->n_objectives ? r->n_objectives : 1, sizeof *e->y);
        if (!e->y) {
            ret = lab_err_set(err, LAB_ENOMEM, "reading the campaign: out of memory");
            break;
        }
        for (size_t k = 0; k < r->n_objectives; k++) {
            json_t *v = json_object_get(l.objs[i], r->objectives[k].name);
            e->y[k] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    }
    l.cap = 0;
    if (ret == 0)
        ret = lab_hub_query_steps(q, r->c.id, s_on_step, &l, err);
    l.cap = 0;
    if (ret == 0)
        ret = lab_hub_query_devices(q, r->c.id, s_on_device, &l, err);
    l.cap = 0;
    if (ret == 0)
        ret = lab_hub_query_failures(q, r->c.id, s_on_failure, &l, err);
    if (ret == LAB_ENOMEM && err && err->code == 0)
        lab_err_set(err, ret, "reading the campaign: out of memory");
    for (size_t i = 0; i < r->n_exps && l.objs; i++)
        json_decref(l.objs[i]);
    free(l.objs);
    if (ret < 0) {
        lab_review_destroy(&r);
        return NULL;
    }
    s_views(r);
    return r;
}

void lab_review_destroy(lab_review **rp)
{
    if (!rp || !*rp)
        return;
    lab_review *r = *rp;
    lab_hub_query_campaign_release(&r->c);
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].name);
        free(r->params[i].unit);
        for (size_t k = 0; k < r->params[i].n_choices; k++)
            free(r->params[i].choices[k]);
        free(r->params[i].choices);
    }
    free(r->params);
    for (size_t i = 0; i < r->n_objectives; i++) {
        free(r->objectives[i].name);
        free(r->objectives[i].unit);
    }
    free(r->objectives);
    for (size_t i = 0; i < r->n_exps; i++) {
        lab_review_exp *e = &r->exps[i];
        free(e->status);
        free(e->origin);
        free(e->error);
        json_decref(e->params);
        json_decref(e->provenance);
        free(e->y);
    }
    free(r->exps);
    for (size_t i = 0; i < r->n_steps; i++) {
        lab_review_step *s = &r->steps[i];
        free(s->attempt_id);
        free(s->step);
        free(s->device);
        free(s->status);
        free(s->error);
    }
    free(r->steps);
    for (size_t i = 0; i < r->n_devices; i++) {
        free(r->devices[i].name);
        free(r->devices[i].driver);
        free(r->devices[i].status);
    }
    free(r->devices);
    for (size_t i = 0; i < r->n_failures; i++) {
        free(r->failures[i].scope);
        free(r->failures[i].cause);
        free(r->failures[i].where);
    }
    free(r->failures);
    free(r);
    *rp = NULL;
}

/* ---- the JSON summary ---- */

static json_t *s_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *s_objectives(const lab_review *r, const lab_review_exp *e)
{
    json_t *o = json_object();
    for (size_t k = 0; k < r->n_objectives; k++)
        json_object_set_new(o, r->objectives[k].name,
                            isfinite(e->y[k]) ? json_real(e->y[k]) : json_null());
    return o;
}

int lab_review_paused(const lab_review *r)
{
    return r->c.status && !strcmp(r->c.status, "paused") && r->life.paused;
}

const char *lab_review_pause_text(const lab_review *r, char *buf, size_t n)
{
    const lab_hub_query_lifecycle *l = &r->life;
    if (!lab_review_paused(r))
        snprintf(buf, n, "%s", r->c.status ? r->c.status : "");
    else if (l->brake_cause[0])
        snprintf(buf, n, "braked: %s", l->pause_reason);
    else
        snprintf(buf, n, "paused by %s%s%s", l->paused_by[0] ? l->paused_by : "?", l->pause_reason[0] ? ": " : "",
                 l->pause_reason);
    return buf;
}

/* {experiments, config, extensions, extra_experiments, extra_hours} */
static json_t *s_budget_json(const lab_review *r)
{
    const lab_hub_query_lifecycle *l = &r->life;
    return json_pack("{s:o, s:o, s:I, s:I, s:f}", "experiments",
                     r->budget_experiments ? json_integer(r->budget_experiments + l->extra_experiments) : json_null(),
                     "config", r->budget_experiments ? json_integer(r->budget_experiments) : json_null(),
                     "extensions", (json_int_t)l->extensions, "extra_experiments", (json_int_t)l->extra_experiments,
                     "extra_hours", l->extra_hours);
}

static json_t *s_pause_json(const lab_review *r)
{
    if (!lab_review_paused(r))
        return json_null();
    const lab_hub_query_lifecycle *l = &r->life;
    char t[32];
    json_t *p = json_pack("{s:s, s:s, s:s}", "reason", l->pause_reason, "by", l->paused_by, "since",
                          lab_review_iso_time(l->paused_us, t, sizeof t));
    if (p && l->brake_cause[0]) {
        json_object_set_new(p, "cause", json_string(l->brake_cause));
        json_object_set_new(p, "failures", json_integer(l->brake_failures));
    }
    return p ? p : json_null();
}

json_t *lab_review_summary_json(const lab_review *r)
{
    char t0[32], t1[32];
    const lab_hub_query_counts *n = &r->n;
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:o, s:I, s:s, s:b, s:o, s:s, s:s, s:o, s:o, s:o}",
        "campaign", r->c.name, "status", r->c.status,
        "config_sha256", s_str_or_null(r->c.config_sha256),
        "version", s_str_or_null(r->c.version), "seed", (json_int_t)r->c.seed,
        "access", r->c.access, "export_control", r->c.export_control,
        "operator", s_str_or_null(r->c.operator_name),
        "start", lab_review_iso_time(r->span_start_us, t0, sizeof t0),
        "end", lab_review_iso_time(r->span_end_us, t1, sizeof t1),
        "counts",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "experiments", (json_int_t)n->experiments, "proposed", (json_int_t)n->proposed,
                  "queued", (json_int_t)n->queued, "running", (json_int_t)n->running,
                  "measured", (json_int_t)n->measured, "failed", (json_int_t)n->failed,
                  "cancelled", (json_int_t)n->cancelled, "steps", (json_int_t)n->steps,
                  "steps_done", (json_int_t)n->steps_done,
                  "steps_failed", (json_int_t)n->steps_failed, "retries", (json_int_t)n->retries,
                  "events", (json_int_t)n->events, "devices", (json_int_t)n->devices),
        "best", json_null(), "pareto", json_array());
    if (!j)
        return NULL;
    json_object_set_new(j, "budget", s_budget_json(r));
    json_object_set_new(j, "pause", s_pause_json(r));
    json_t *objs = json_array();
    for (size_t k = 0; k < r->n_objectives; k++)
        json_array_append_new(objs, json_pack("{s:s, s:s, s:o}", "name", r->objectives[k].name,
                                              "goal", r->objectives[k].maximize ? "maximize" : "minimize",
                                              "unit", s_str_or_null(r->objectives[k].unit)));
    json_object_set_new(j, "objectives", objs);
    if (r->best >= 0) {
        const lab_review_exp *e = &r->exps[r->best];
        json_object_set_new(j, "best", json_pack("{s:I, s:O, s:o}", "experiment", (json_int_t)e->seq,
                                                 "params", e->params, "objectives",
                                                 s_objectives(r, e)));
    }
    json_t *front = json_object_get(j, "pareto");
    for (size_t i = 0; i < r->n_exps; i++)
        if (r->exps[i].pareto)
            json_array_append_new(front, json_pack("{s:I, s:O, s:o}", "experiment",
                                                   (json_int_t)r->exps[i].seq, "params",
                                                   r->exps[i].params, "objectives",
                                                   s_objectives(r, &r->exps[i])));
    json_t *devs = json_array();
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        json_array_append_new(devs, json_pack("{s:s, s:o, s:o, s:i, s:I, s:f, s:f}", "name", d->name,
                                              "driver", s_str_or_null(d->driver),
                                              "status", s_str_or_null(d->status),
                                              "capacity", d->capacity, "steps", (json_int_t)d->steps,
                                              "busy_s", (double)d->busy_us / 1e6,
                                              "utilisation", d->utilisation));
    }
    json_object_set_new(j, "devices", devs);
    json_t *fails = json_array();
    for (size_t i = 0; i < r->n_failures; i++) {
        const lab_review_failure *f = &r->failures[i];
        json_array_append_new(fails, json_pack("{s:s, s:s, s:o, s:I, s:I}", "scope", f->scope,
                                               "cause", f->cause, "where", s_str_or_null(f->where),
                                               "count", (json_int_t)f->count,
                                               "first_experiment",
                                               (json_int_t)f->first_experiment));
    }
    json_object_set_new(j, "failures", fails);
    return j;
}
