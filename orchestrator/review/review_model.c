/* The model view and coverage of a reviewed campaign (see review_model.h).
 *
 * The surrogate is refitted here rather than read from the hub: the planner
 * stores its choice, not its model, and a refit on the whole history shows
 * what is known now (a planner's model at experiment k saw only k - 1). It
 * uses the planner library's GP (Matérn-5/2 ARD, MAP hyperparameters), on
 * the same inputs the planner uses: unit-cube coordinates for numeric
 * parameters (log scale where the config says so), the choice index for
 * categorical ones; targets standardised, predictions returned in the
 * objective's units.
 */
#include "orchestrator/review/review_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/gp_model.h"
#include "planners/rng.h"
#include "common/banned.h"

#define S_MIN_FIT 3               /* measured experiments needed for a model */

/* Parameter pa's value in e as a model input; 0 when missing. */
static int s_z(const lab_review_param *pa, const lab_review_exp *e, double *z)
{
    json_t *v = json_object_get(e->params, pa->name);
    if (pa->categorical) {
        for (size_t k = 0; json_is_string(v) && k < pa->n_choices; k++)
            if (!strcmp(pa->choices[k], json_string_value(v))) {
                *z = (double)k;
                return 1;
            }
        return 0;
    }
    if (!json_is_number(v) || !(pa->high > pa->low))
        return 0;
    double x = json_number_value(v);
    if (pa->log_scale && x > 0 && pa->low > 0)
        *z = (log(x) - log(pa->low)) / (log(pa->high) - log(pa->low));
    else if (pa->integer)
        *z = (x - pa->low + 0.5) / (pa->high - pa->low + 1.0);
    else
        *z = (x - pa->low) / (pa->high - pa->low);
    *z = fmin(1.0, fmax(0.0, *z));
    return 1;
}

/* Native value of unit coordinate t for a numeric parameter. */
static double s_native(const lab_review_param *pa, double t)
{
    if (pa->log_scale && pa->low > 0)
        return exp(log(pa->low) + t * (log(pa->high) - log(pa->low)));
    if (pa->integer)
        return pa->low + t * (pa->high - pa->low + 1.0) - 0.5;
    return pa->low + t * (pa->high - pa->low);
}

void lab_review_model_release(lab_review_model *m)
{
    free(m->slices);
    m->slices = NULL;
}

void lab_review_model_fit(const lab_review *r, lab_review_model *m)
{
    memset(m, 0, sizeof *m);
    m->through = r->best;
    size_t d = r->n_params;
    if (!r->config_parsed || d == 0 || r->n_objectives == 0) {
        snprintf(m->note, sizeof m->note, "no model view: the campaign's stored config does not give the space");
        return;
    }
    for (size_t i = 0; i < d; i++)
        if (!r->params[i].categorical && !(r->params[i].high > r->params[i].low)) {
            snprintf(m->note, sizeof m->note, "no model view: parameter %s has no range", r->params[i].name);
            return;
        }
    double *z = calloc(r->n_exps * d + d, sizeof *z), *y = calloc(r->n_exps + 1, sizeof *y);
    unsigned char *cat = calloc(d, 1);
    size_t n = 0;
    for (size_t i = 0; z && y && cat && i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!isfinite(e->y[0]))
            continue;
        int ok = 1;
        for (size_t j = 0; j < d && ok; j++)
            ok = s_z(&r->params[j], e, &z[n * d + j]);
        if (ok)
            y[n++] = e->y[0];
    }
    lab_gp gp = {0};
    lab_err err = {0};
    if (!z || !y || !cat) {
        snprintf(m->note, sizeof m->note, "no model view: out of memory");
        goto done;
    }
    if (n < S_MIN_FIT || r->best < 0) {
        snprintf(m->note, sizeof m->note, "no model view yet: %zu measured experiments (it needs %d)", n,
                 S_MIN_FIT);
        goto done;
    }
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        var += (y[i] - mean) * (y[i] - mean) / (double)n;
    double sdy = var > 0 ? sqrt(var) : 1.0;
    for (size_t i = 0; i < n; i++)
        y[i] = (y[i] - mean) / sdy;
    for (size_t j = 0; j < d; j++)
        cat[j] = (unsigned char)r->params[j].categorical;
    lab_rng rng;
    lab_rng_seed(&rng, r->c.seed, 0x7265766965770000ULL); /* "review": its own stream */
    lab_gp_fit_opts fo = {.n_starts = 3, .max_evals = 200};
    if (lab_gp_init(&gp, d, cat, &err) < 0 || lab_gp_set_data(&gp, n, z, y, &err) < 0 ||
        lab_gp_fit(&gp, &fo, &rng, &err) < 0) {
        snprintf(m->note, sizeof m->note, "no model view: fitting failed (%s)", err.msg);
        goto done;
    }
    m->slices = calloc(d, sizeof *m->slices);
    if (!m->slices) {
        snprintf(m->note, sizeof m->note, "no model view: out of memory");
        goto done;
    }
    /* Anchor: the best experiment's inputs. */
    double *anchor = z + n * d; /* the spare row */
    for (size_t j = 0; j < d; j++)
        if (!s_z(&r->params[j], &r->exps[r->best], &anchor[j]))
            anchor[j] = r->params[j].categorical ? 0 : 0.5;
    double q[64];
    for (size_t j = 0; j < d; j++) {
        const lab_review_param *pa = &r->params[j];
        lab_review_slice *s = &m->slices[j];
        size_t pts = pa->categorical ? pa->n_choices
                     : pa->integer   ? (size_t)(pa->high - pa->low + 1.0)
                                     : LAB_REVIEW_MODEL_GRID;
        if (pts > LAB_REVIEW_MODEL_GRID || d > sizeof q / sizeof q[0])
            pts = pa->categorical ? 0 : LAB_REVIEW_MODEL_GRID;
        memcpy(q, anchor, d * sizeof *q);
        for (size_t k = 0; k < pts; k++) {
            if (pa->categorical) {
                q[j] = (double)k;
                s->x[k] = (double)k;
            } else if (pa->integer && pts == (size_t)(pa->high - pa->low + 1.0)) {
                s->x[k] = pa->low + (double)k;
                q[j] = ((double)k + 0.5) / (double)pts;
            } else {
                q[j] = (double)k / (double)(pts - 1);
                s->x[k] = s_native(pa, q[j]);
            }
            double mu, v;
            lab_gp_predict(&gp, q, &mu, &v, NULL, NULL);
            s->mu[k] = mean + sdy * mu;
            s->sd[k] = sdy * sqrt(v > 0 ? v : 0);
        }
        s->n = pts;
    }
    m->ok = 1;
    m->n_fit = n;
    snprintf(m->note, sizeof m->note,
             "Gaussian process (Matérn 5/2, as the planner's) refitted on %zu measured experiments; "
             "each view varies one parameter through the best experiment (#%lld) and holds the others",
             n, (long long)r->exps[r->best].seq);
done:
    lab_gp_release(&gp);
    free(z);
    free(y);
    free(cat);
}

void lab_review_coverage(const lab_review *r, size_t pi, lab_review_cover *c)
{
    memset(c, 0, sizeof *c);
    const lab_review_param *pa = &r->params[pi];
    if (pa->categorical) {
        c->n = pa->n_choices < 64 ? pa->n_choices : 64;
    } else {
        c->n = LAB_REVIEW_MODEL_BINS;
        if (pa->integer && pa->high - pa->low + 1 <= LAB_REVIEW_MODEL_BINS)
            c->n = (size_t)(pa->high - pa->low + 1);
        for (size_t b = 0; b < c->n; b++) {
            if (pa->integer && c->n == (size_t)(pa->high - pa->low + 1)) {
                c->lo[b] = c->hi[b] = pa->low + (double)b;
            } else {
                c->lo[b] = s_native(pa, (double)b / (double)c->n);
                c->hi[b] = s_native(pa, (double)(b + 1) / (double)c->n);
            }
        }
    }
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        double z;
        if (!s_z(pa, e, &z))
            continue;
        size_t b = pa->categorical ? (size_t)z : (size_t)fmin((double)c->n - 1, floor(z * (double)c->n));
        if (b >= c->n)
            continue;
        c->total[b]++;
        if (e->origin && !strcmp(e->origin, "planner"))
            c->planner[b]++;
        else if (e->origin && !strcmp(e->origin, "initial"))
            c->initial[b]++;
    }
}

/* "120–140 degC" or "2" into buf. */
static void s_range(const lab_review_param *pa, const lab_review_cover *c, size_t b, char *buf, size_t n)
{
    const char *u = pa->unit && *pa->unit ? pa->unit : "";
    if (pa->categorical)
        snprintf(buf, n, "%s", pa->choices[b]);
    else if (c->lo[b] == c->hi[b])
        snprintf(buf, n, "%.4g%s%s", c->lo[b], *u ? " " : "", u);
    else
        snprintf(buf, n, "%.4g to %.4g%s%s", c->lo[b], c->hi[b], *u ? " " : "", u);
}

size_t lab_review_flags(const lab_review *r, const lab_review_model *m, lab_review_flag_fn fn, void *arg)
{
    size_t nflags = 0, planner_total = 0;
    for (size_t i = 0; i < r->n_exps; i++)
        planner_total += r->exps[i].origin && !strcmp(r->exps[i].origin, "planner");
    char text[512], what[160];
    for (size_t pi = 0; pi < r->n_params; pi++) {
        const lab_review_param *pa = &r->params[pi];
        lab_review_cover c;
        lab_review_coverage(r, pi, &c);
        for (size_t b = 0; b < c.n; b++) {
            s_range(pa, &c, b, what, sizeof what);
            /* The model's prediction there, when it has one: a high mean with a
             * wide band is where a look would pay. */
            char pred[160] = "";
            if (m && m->ok && pa->categorical && b < m->slices[pi].n) {
                const char *u = r->objectives[0].unit;
                snprintf(pred, sizeof pred, "; the model predicts %s %.3g ± %.2g%s%s there", r->objectives[0].name,
                         m->slices[pi].mu[b], m->slices[pi].sd[b], u ? " " : "", u ? u : "");
            }
            if (c.total[b] == 0)
                snprintf(text, sizeof text, "%s %s: never tried%s", pa->name, what, pred);
            else if (planner_total >= 4 && c.planner[b] == 0)
                snprintf(text, sizeof text, "%s %s: tried %ld time%s, %s; the planner never chose it%s", pa->name,
                         what, c.total[b], c.total[b] == 1 ? "" : "s",
                         c.initial[b] == c.total[b] ? "all in the initial design" : "none by the planner", pred);
            else
                continue;
            fn(text, arg);
            nflags++;
        }
    }
    return nflags;
}

const char *lab_review_reason(const lab_review *r, const lab_review_exp *e, char *buf, size_t n)
{
    const json_t *p = e->provenance;
    static const char *const readable[] = {"why", "explanation", "reason_text", NULL};
    for (size_t i = 0; readable[i]; i++)
        if (json_is_string(json_object_get(p, readable[i]))) {
            snprintf(buf, n, "%s", json_string_value(json_object_get(p, readable[i])));
            return buf;
        }
    const char *reason = json_string_value(json_object_get(p, "reason"));
    const char *origin = e->origin ? e->origin : "";
    /* Hubs whose planner keeps its raw model summary apart ("model") store a
     * reason written for people: show it as it is. */
    if (reason && json_object_get(p, "model")) {
        snprintf(buf, n, "%s%s", !strcmp(origin, "initial") ? "initial design: " : "", reason);
        return buf;
    }
    if (!strcmp(origin, "initial")) {
        snprintf(buf, n, "initial design%s%s", reason ? ": " : "", reason ? reason : "");
        return buf;
    }
    if (strcmp(origin, "planner") != 0) {
        snprintf(buf, n, "%s%s%s", *origin ? origin : "chosen", reason ? ": " : "", reason ? reason : "");
        return buf;
    }
    /* Made from what the planner stored: the acquisition and its value, the
     * prediction in the objective's unit, how much data the model had. */
    const char *planner = json_string_value(json_object_get(p, "planner"));
    char acq[16] = "";
    int seen = 0;
    if (reason && sscanf(reason, "%*s %15[a-z_]=", acq) != 1)
        acq[0] = '\0';
    const char *on = reason ? strstr(reason, " on ") : NULL;
    if (on && sscanf(on, " on %d measured", &seen) != 1)
        seen = 0;
    const json_t *av = json_object_get(p, "acquisition"), *mu = json_object_get(p, "predicted_mean"),
                 *sd = json_object_get(p, "predicted_sd");
    const char *what = !strcmp(acq, "ei") ? "expected improvement"
                       : !strcmp(acq, "log_ei") ? "log expected improvement"
                       : !strcmp(acq, "ucb") ? "upper confidence bound"
                                             : "acquisition";
    size_t used = json_is_number(av)
                      ? (size_t)snprintf(buf, n, "%s: highest %s (%.3g)", planner ? planner : "planner", what,
                                         json_number_value(av))
                      : (size_t)snprintf(buf, n, "chosen by %s", planner ? planner : "the planner");
    if (used < n && json_is_number(mu) && r->n_objectives > 0) {
        const char *u = r->objectives[0].unit;
        used += (size_t)snprintf(buf + used, n - used, "; predicted %s %.3g", r->objectives[0].name,
                                 json_number_value(mu));
        if (used < n && json_is_number(sd))
            used += (size_t)snprintf(buf + used, n - used, " ± %.2g", json_number_value(sd));
        if (used < n && u)
            used += (size_t)snprintf(buf + used, n - used, " %s", u);
    }
    if (used < n && seen > 0 && !json_is_number(mu))
        snprintf(buf + used, n - used, "; model of %d measured", seen);
    return buf;
}
