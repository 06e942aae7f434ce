/* The review snapshot as one self-contained HTML page: provenance header,
 * summary, SVG plots drawn here (best so far, each parameter against the
 * first objective with failed experiments along the bottom, Pareto front,
 * device Gantt; every point marked by its origin), what the planner saw (a
 * refitted model's mean and deviation along each parameter, coverage by
 * origin, under-explored regions and categories), device utilisation,
 * failures and the experiment table with the planner's reasons in words.
 * Laid out for a 1,400 px page: plots two to a row, the table within it.
 *
 * For: `labloop report` (a file to keep and mail) and `labloop serve` (the
 * same page plus a small script that polls /api/summary). Not for: loading
 * data (review.c) or HTTP (cmd_serve.c). No network is needed to view the
 * page: inline CSS, inline SVG, no external scripts, fonts or images.
 * Every string from the hub goes through lab_review_html_escape().
 */
#include "orchestrator/review/review.h"
#include "orchestrator/review/review_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"

#include "common/banned.h"

#define S_PLOT_W 660 /* two to a row on a 1,400 px page */
#define S_PLOT_H 300
#define S_ML 62 /* margins: left, right, top, bottom */
#define S_MR 14
#define S_MT 30
#define S_MB 44

void lab_review_html_escape(FILE *out, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out); break;
        }
    }
}

static void s_esc(FILE *out, const char *s)
{
    lab_review_html_escape(out, s);
}

/* ---- SVG plots ---- */

typedef struct s_plot {
    FILE *out;
    double x0, x1, y0, y1;
    int logx;
    int intx;                    /* integer x axis: ticks on whole numbers only */
    const lab_review_param *cat; /* categorical x axis: tick labels */
} s_plot;

static double s_px(const s_plot *p, double x)
{
    if (p->logx)
        x = x > 0 ? log10(x) : p->x0;
    return S_ML + (x - p->x0) / (p->x1 - p->x0) * (S_PLOT_W - S_ML - S_MR);
}

static double s_py(const s_plot *p, double y)
{
    return S_PLOT_H - S_MB - (y - p->y0) / (p->y1 - p->y0) * (S_PLOT_H - S_MT - S_MB);
}

static void s_pad(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi - *lo <= 0) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
        *lo -= d;
        *hi += d;
    }
    double m = (*hi - *lo) * 0.05;
    *lo -= m;
    *hi += m;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about 5 ticks. */
static double s_step(double lo, double hi)
{
    double raw = (hi - lo) / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void s_tick_x(const s_plot *p, double px, const char *label)
{
    fprintf(p->out,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>"
            "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">",
            px, S_MT, px, S_PLOT_H - S_MB, px, S_PLOT_H - S_MB + 14);
    s_esc(p->out, label);
    fputs("</text>\n", p->out);
}

static void s_plot_begin(s_plot *p, FILE *out, const char *id, const char *title,
                         const char *xlabel, const char *ylabel)
{
    p->out = out;
    fprintf(out,
            "<figure><svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>",
            id, S_PLOT_W, S_PLOT_H, S_PLOT_W, S_PLOT_H);
    s_esc(out, title);
    fprintf(out, "</title>\n<text x=\"%d\" y=\"18\" class=\"ptitle\">", S_ML);
    s_esc(out, title);
    fputs("</text>\n", out);
    /* y ticks */
    double st = s_step(p->y0, p->y1);
    for (double v = ceil(p->y0 / st) * st; v <= p->y1 + st * 1e-9; v += st) {
        double py = s_py(p, v);
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
                "<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.4g</text>\n",
                S_ML, py, S_PLOT_W - S_MR, py, S_ML - 4, py + 4, fabs(v) < st * 1e-9 ? 0.0 : v);
    }
    /* x ticks */
    char buf[64];
    if (p->cat) {
        for (size_t k = 0; k < p->cat->n_choices; k++)
            s_tick_x(p, s_px(p, (double)k), p->cat->choices[k]);
    } else if (p->logx) {
        for (double e = floor(p->x0); e <= ceil(p->x1); e++)
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e);
                if (log10(v) < p->x0 || log10(v) > p->x1)
                    continue;
                snprintf(buf, sizeof buf, "%g", v);
                s_tick_x(p, s_px(p, v), buf);
            }
    } else {
        st = s_step(p->x0, p->x1);
        if (p->intx) /* no tick at 0.5 for a count or an integer parameter */
            st = fmax(1.0, round(st));
        for (double v = ceil(p->x0 / st) * st; v <= p->x1 + st * 1e-9; v += st) {
            snprintf(buf, sizeof buf, "%.4g", fabs(v) < st * 1e-9 ? 0.0 : v);
            s_tick_x(p, s_px(p, v), buf);
        }
    }
    fprintf(out,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>\n"
            "<text x=\"%d\" y=\"%d\" class=\"alabel\" text-anchor=\"middle\">",
            S_ML, S_MT, S_PLOT_W - S_ML - S_MR, S_PLOT_H - S_MT - S_MB,
            S_ML + (S_PLOT_W - S_ML - S_MR) / 2, S_PLOT_H - 8);
    s_esc(out, xlabel);
    fprintf(out, "</text><text transform=\"translate(14 %d) rotate(-90)\" class=\"alabel\" "
                 "text-anchor=\"middle\">",
            S_MT + (S_PLOT_H - S_MT - S_MB) / 2);
    s_esc(out, ylabel);
    fputs("</text>\n", out);
}

static void s_plot_end(s_plot *p)
{
    fputs("</svg></figure>\n", p->out);
}

/* The CSS class of an origin: o-initial, o-prior, o-planner, o-manual
 * (anything else o-other). Each has its own marker (see s_css). */
static const char *s_origin_class(const char *origin)
{
    static const char *const known[] = {"initial", "prior", "planner", "manual"};
    static const char *const cls[] = {"o-initial", "o-prior", "o-planner", "o-manual"};
    for (size_t i = 0; origin && i < 4; i++)
        if (!strcmp(origin, known[i]))
            return cls[i];
    return "o-other";
}

/* A measured experiment: its origin's marker, larger when it is the best. */
static void s_point_exp(s_plot *p, double x, double y, const lab_review_exp *e, int best)
{
    fprintf(p->out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" class=\"pt %s%s\" data-seq=\"%lld\">"
                    "<title>experiment %lld (%s): %.6g, %.6g</title></circle>\n",
            s_px(p, x), s_py(p, y), best ? "5" : "3.5", s_origin_class(e->origin), best ? " pt-best" : "",
            (long long)e->seq, (long long)e->seq, e->origin ? e->origin : "?", x, y);
}

/* A failed experiment: a cross on the bottom edge at its x. */
static void s_point_failed(s_plot *p, double x, const lab_review_exp *e)
{
    double px = s_px(p, x), py = S_PLOT_H - S_MB - 5;
    fprintf(p->out, "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" class=\"pt-failed %s\" data-seq=\"%lld\">"
                    "<title>experiment %lld (%s) failed: ",
            px - 4, py - 4, s_origin_class(e->origin), (long long)e->seq, (long long)e->seq,
            e->origin ? e->origin : "?");
    s_esc(p->out, e->error);
    fputs("</title></path>\n", p->out);
}

/* "name (unit)" or "name". */
static void s_label(char *buf, size_t n, const char *name, const char *unit)
{
    if (unit && *unit)
        snprintf(buf, n, "%s (%s)", name, unit);
    else
        snprintf(buf, n, "%s", name);
}

static void s_plot_best(const lab_review *r, FILE *out)
{
    const lab_review_objective *o = &r->objectives[0];
    s_plot p = {.x0 = 0, .x1 = 1, .y0 = INFINITY, .y1 = -INFINITY, .intx = 1};
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (e->seq > p.x1)
            p.x1 = (double)e->seq;
        if (isfinite(e->y[0])) {
            p.y0 = fmin(p.y0, e->y[0]);
            p.y1 = fmax(p.y1, e->y[0]);
        }
    }
    p.x0 = 0;
    p.x1 += 1;
    s_pad(&p.y0, &p.y1);
    char title[192], yl[160];
    s_label(yl, sizeof yl, o->name, o->unit);
    snprintf(title, sizeof title, "best %s so far (%s)", o->name,
             o->maximize ? "maximize" : "minimize");
    s_plot_begin(&p, out, "plot-best", title, "experiment", yl);
    for (size_t i = 0; i < r->n_exps; i++) {
        if (isfinite(r->exps[i].y[0]))
            s_point_exp(&p, (double)r->exps[i].seq, r->exps[i].y[0], &r->exps[i], (long)i == r->best);
        else if (!strcmp(r->exps[i].status, "failed"))
            s_point_failed(&p, (double)r->exps[i].seq, &r->exps[i]);
    }
    fputs("<polyline class=\"best\" points=\"", out);
    double prev = NAN;
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!isfinite(e->best_so_far))
            continue;
        if (isfinite(prev)) /* a step: flat until it improves */
            fprintf(out, "%.1f,%.1f ", s_px(&p, (double)e->seq), s_py(&p, prev));
        fprintf(out, "%.1f,%.1f ", s_px(&p, (double)e->seq), s_py(&p, e->best_so_far));
        prev = e->best_so_far;
    }
    fputs("\"/>\n", out);
    s_plot_end(&p);
}

/* The value of parameter pi in experiment e as a number for plotting. */
static int s_param_x(const lab_review_param *pa, const lab_review_exp *e, double *x)
{
    json_t *v = json_object_get(e->params, pa->name);
    if (json_is_number(v)) {
        *x = json_number_value(v);
        return 1;
    }
    if (json_is_string(v) && pa->categorical) {
        for (size_t k = 0; k < pa->n_choices; k++)
            if (strcmp(pa->choices[k], json_string_value(v)) == 0) {
                *x = (double)k;
                return 1;
            }
    }
    return 0;
}

static void s_plot_param(const lab_review *r, size_t pi, FILE *out)
{
    const lab_review_param *pa = &r->params[pi];
    const lab_review_objective *o = &r->objectives[0];
    s_plot p = {.x0 = INFINITY, .x1 = -INFINITY, .y0 = INFINITY, .y1 = -INFINITY};
    p.cat = pa->categorical ? pa : NULL;
    p.logx = pa->log_scale;
    p.intx = pa->integer;
    double x;
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!s_param_x(pa, e, &x) || (p.logx && x <= 0))
            continue;
        double xx = p.logx ? log10(x) : x;
        p.x0 = fmin(p.x0, xx);
        p.x1 = fmax(p.x1, xx);
        if (isfinite(e->y[0])) {
            p.y0 = fmin(p.y0, e->y[0]);
            p.y1 = fmax(p.y1, e->y[0]);
        }
    }
    if (p.cat && pa->n_choices > 0) {
        p.x0 = -0.5;
        p.x1 = (double)pa->n_choices - 0.5;
    } else {
        s_pad(&p.x0, &p.x1);
    }
    s_pad(&p.y0, &p.y1);
    char title[256], xl[160], yl[160], id[96];
    s_label(xl, sizeof xl, pa->name, pa->unit);
    s_label(yl, sizeof yl, o->name, o->unit);
    snprintf(title, sizeof title, "%s against %s", o->name, pa->name);
    snprintf(id, sizeof id, "plot-param-%zu", pi);
    s_plot_begin(&p, out, id, title, xl, yl);
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!s_param_x(pa, e, &x) || (p.logx && x <= 0))
            continue;
        if (isfinite(e->y[0]))
            s_point_exp(&p, x, e->y[0], e, (long)i == r->best);
        else if (!strcmp(e->status, "failed"))
            s_point_failed(&p, x, e);
    }
    s_plot_end(&p);
}

static int s_cmp_x(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void s_plot_pareto(const lab_review *r, FILE *out)
{
    const lab_review_objective *a = &r->objectives[0], *b = &r->objectives[1];
    s_plot p = {.x0 = INFINITY, .x1 = -INFINITY, .y0 = INFINITY, .y1 = -INFINITY};
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (isfinite(e->y[0]) && isfinite(e->y[1])) {
            p.x0 = fmin(p.x0, e->y[0]);
            p.x1 = fmax(p.x1, e->y[0]);
            p.y0 = fmin(p.y0, e->y[1]);
            p.y1 = fmax(p.y1, e->y[1]);
        }
    }
    s_pad(&p.x0, &p.x1);
    s_pad(&p.y0, &p.y1);
    char title[256], xl[160], yl[160];
    s_label(xl, sizeof xl, a->name, a->unit);
    s_label(yl, sizeof yl, b->name, b->unit);
    snprintf(title, sizeof title, "Pareto front: %s (%s) and %s (%s)", a->name,
             a->maximize ? "max" : "min", b->name, b->maximize ? "max" : "min");
    s_plot_begin(&p, out, "plot-pareto", title, xl, yl);
    double *front = calloc(r->n_pareto ? r->n_pareto * 2 : 2, sizeof *front);
    size_t nf = 0;
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!isfinite(e->y[0]) || !isfinite(e->y[1]))
            continue;
        s_point_exp(&p, e->y[0], e->y[1], e, e->pareto);
        if (e->pareto && front && nf < r->n_pareto) {
            front[2 * nf] = e->y[0];
            front[2 * nf + 1] = e->y[1];
            nf++;
        }
    }
    if (front && nf > 1) {
        qsort(front, nf, 2 * sizeof *front, s_cmp_x);
        fputs("<polyline class=\"front\" points=\"", out);
        for (size_t i = 0; i < nf; i++)
            fprintf(out, "%.1f,%.1f ", s_px(&p, front[2 * i]), s_py(&p, front[2 * i + 1]));
        fputs("\"/>\n", out);
    }
    free(front);
    s_plot_end(&p);
}

/* ---- what the planner saw ---- */

/* The model's mean (line) and mean ± deviation (band) of the first
 * objective along parameter pi, the others held at the best experiment;
 * per category a point with a bar. The measured experiments are drawn over
 * it with their origins (they are not all on the slice: the view shows
 * where the model stands, the points what was measured). */
static void s_plot_model(const lab_review *r, const lab_review_model *m, size_t pi, FILE *out)
{
    const lab_review_param *pa = &r->params[pi];
    const lab_review_objective *o = &r->objectives[0];
    const lab_review_slice *sl = &m->slices[pi];
    if (sl->n == 0)
        return;
    s_plot p = {.x0 = INFINITY, .x1 = -INFINITY, .y0 = INFINITY, .y1 = -INFINITY};
    p.cat = pa->categorical ? pa : NULL;
    p.logx = pa->log_scale;
    p.intx = pa->integer;
    for (size_t k = 0; k < sl->n; k++) {
        double xx = p.logx ? log10(sl->x[k]) : sl->x[k];
        p.x0 = fmin(p.x0, xx);
        p.x1 = fmax(p.x1, xx);
        p.y0 = fmin(p.y0, sl->mu[k] - sl->sd[k]);
        p.y1 = fmax(p.y1, sl->mu[k] + sl->sd[k]);
    }
    double x;
    for (size_t i = 0; i < r->n_exps; i++)
        if (isfinite(r->exps[i].y[0]) && s_param_x(pa, &r->exps[i], &x)) {
            p.y0 = fmin(p.y0, r->exps[i].y[0]);
            p.y1 = fmax(p.y1, r->exps[i].y[0]);
        }
    if (p.cat) {
        p.x0 = -0.5;
        p.x1 = (double)pa->n_choices - 0.5;
    } else {
        s_pad(&p.x0, &p.x1);
    }
    s_pad(&p.y0, &p.y1);
    char title[256], xl[160], yl[160], id[96];
    s_label(xl, sizeof xl, pa->name, pa->unit);
    s_label(yl, sizeof yl, o->name, o->unit);
    snprintf(title, sizeof title, "model: %s along %s (mean \xc2\xb1 1 sd; others at #%lld)", o->name, pa->name,
             (long long)r->exps[m->through].seq);
    snprintf(id, sizeof id, "plot-model-%zu", pi);
    s_plot_begin(&p, out, id, title, xl, yl);
    if (p.cat) {
        for (size_t k = 0; k < sl->n; k++) {
            double px = s_px(&p, sl->x[k]);
            fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"sdbar\"/>"
                         "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"3\" class=\"mu\" data-x=\"%.17g\" "
                         "data-mu=\"%.17g\" data-sd=\"%.17g\"><title>",
                    px, s_py(&p, sl->mu[k] + sl->sd[k]), px, s_py(&p, sl->mu[k] - sl->sd[k]), px - 5,
                    s_py(&p, sl->mu[k]) - 1.5, sl->x[k], sl->mu[k], sl->sd[k]);
            s_esc(out, pa->choices[k]);
            fprintf(out, ": predicted %.4g \xc2\xb1 %.3g</title></rect>\n", sl->mu[k], sl->sd[k]);
        }
    } else {
        fputs("<polygon class=\"band\" points=\"", out);
        for (size_t k = 0; k < sl->n; k++)
            fprintf(out, "%.1f,%.1f ", s_px(&p, sl->x[k]), s_py(&p, sl->mu[k] + sl->sd[k]));
        for (size_t k = sl->n; k-- > 0;)
            fprintf(out, "%.1f,%.1f ", s_px(&p, sl->x[k]), s_py(&p, sl->mu[k] - sl->sd[k]));
        fputs("\"/>\n<polyline class=\"mean\" points=\"", out);
        for (size_t k = 0; k < sl->n; k++)
            fprintf(out, "%.1f,%.1f ", s_px(&p, sl->x[k]), s_py(&p, sl->mu[k]));
        fputs("\"/>\n", out);
        for (size_t k = 0; k < sl->n; k++) /* the numbers, for tools and tests */
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1\" class=\"mu\" data-x=\"%.17g\" "
                         "data-mu=\"%.17g\" data-sd=\"%.17g\"/>\n",
                    s_px(&p, sl->x[k]), s_py(&p, sl->mu[k]), sl->x[k], sl->mu[k], sl->sd[k]);
    }
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (s_param_x(pa, e, &x) && isfinite(e->y[0]) && !(p.logx && x <= 0))
            s_point_exp(&p, x, e->y[0], e, (long)i == r->best);
    }
    s_plot_end(&p);
}

static void s_flag_li(const char *text, void *arg)
{
    FILE *out = arg;
    fputs("<li>", out);
    s_esc(out, text);
    fputs("</li>\n", out);
}

/* Origins at a glance, the model views, coverage and what looks
 * under-explored. */
static void s_planner_section(const lab_review *r, FILE *out)
{
    fputs("<section id=\"planner\"><h2>What the planner did</h2>\n<p id=\"origins\">", out);
    static const char *const origins[] = {"initial", "prior", "planner", "manual"};
    const char *sep = "";
    for (size_t k = 0; k < 4; k++) {
        long n = 0, nf = 0;
        for (size_t i = 0; i < r->n_exps; i++)
            if (r->exps[i].origin && !strcmp(r->exps[i].origin, origins[k])) {
                n++;
                nf += !strcmp(r->exps[i].status, "failed");
            }
        if (n == 0)
            continue;
        fprintf(out, "%s<span class=\"origin\" data-origin=\"%s\" data-count=\"%ld\">"
                     "<svg width=\"12\" height=\"12\"><circle cx=\"6\" cy=\"6\" r=\"4\" class=\"pt %s\"/></svg> "
                     "%s: %ld experiment%s (%ld failed)</span>",
                sep, origins[k], n, s_origin_class(origins[k]), origins[k], n, n == 1 ? "" : "s", nf);
        sep = " &middot; ";
    }
    fputs("</p>\n", out);
    lab_review_model m;
    lab_review_model_fit(r, &m);
    fprintf(out, "<p class=\"note\" id=\"model-note\" data-fitted=\"%zu\">", m.n_fit);
    s_esc(out, m.note);
    fputs("</p>\n", out);
    if (m.ok)
        for (size_t i = 0; i < r->n_params; i++)
            s_plot_model(r, &m, i, out);
    fputs("<h3>Where experiments were tried</h3>\n<div class=\"scroll\"><table id=\"coverage\"><thead><tr>"
          "<th>parameter</th><th>region or category</th><th>tried</th><th>initial design</th>"
          "<th>planner</th></tr></thead><tbody>\n",
          out);
    for (size_t pi = 0; pi < r->n_params; pi++) {
        const lab_review_param *pa = &r->params[pi];
        lab_review_cover c;
        lab_review_coverage(r, pi, &c);
        for (size_t b = 0; b < c.n; b++) {
            fprintf(out, "<tr data-param=\"%zu\"%s><td>", pi, c.total[b] == 0 || c.planner[b] == 0 ? " class=\"thin\"" : "");
            s_esc(out, pa->name);
            fputs("</td><td>", out);
            if (pa->categorical)
                s_esc(out, pa->choices[b]);
            else if (c.lo[b] == c.hi[b])
                fprintf(out, "%.4g", c.lo[b]);
            else
                fprintf(out, "%.4g to %.4g", c.lo[b], c.hi[b]);
            if (!pa->categorical && pa->unit) {
                fputc(' ', out);
                s_esc(out, pa->unit);
            }
            fprintf(out, "</td><td class=\"num\">%ld</td><td class=\"num\">%ld</td><td class=\"num\">%ld</td></tr>\n",
                    c.total[b], c.initial[b], c.planner[b]);
        }
    }
    fputs("</tbody></table></div>\n<h3>Under-explored</h3>\n<ul id=\"flags\">\n", out);
    size_t nflags = lab_review_flags(r, &m, s_flag_li, out);
    fputs("</ul>\n", out);
    if (nflags == 0)
        fputs("<p>Nothing flagged: every category and every fifth of each range was tried, by the planner too.</p>\n", out);
    fputs("</section>\n", out);
    lab_review_model_release(&m);
}

/* The markers, once above the plots. */
static void s_legend(FILE *out)
{
    fputs("<p class=\"legend\">markers: ", out);
    static const char *const names[] = {"initial", "prior", "planner", "manual"};
    for (size_t k = 0; k < 4; k++)
        fprintf(out, "<svg width=\"12\" height=\"12\"><circle cx=\"6\" cy=\"6\" r=\"4\" class=\"pt %s\"/></svg> %s "
                     "&nbsp; ",
                s_origin_class(names[k]), names[k]);
    fputs("<svg width=\"12\" height=\"12\"><circle cx=\"6\" cy=\"6\" r=\"5\" class=\"pt o-planner pt-best\"/></svg> best "
          "&nbsp; <svg width=\"12\" height=\"12\"><path d=\"M2 2l8 8m0 -8l-8 8\" class=\"pt-failed\"/></svg> "
          "failed (on the bottom edge, at its parameter value)</p>\n",
          out);
}

/* Devices as rows, step attempts as bars; a device that runs several steps
 * at once gets a lane per concurrent step. */
static void s_plot_gantt(const lab_review *r, FILE *out)
{
    const double lane_h = 12, label_w = 110, w = 860, axis_h = 42;
    double span_s = (double)(r->span_end_us - r->span_start_us) / 1e6;
    if (span_s <= 0)
        span_s = 1;
    size_t nd = r->n_devices;
    int *lane = calloc(r->n_steps ? r->n_steps : 1, sizeof *lane);
    int *lanes = calloc(nd ? nd : 1, sizeof *lanes);
    double *ends = calloc(r->n_steps ? r->n_steps : 1, sizeof *ends);
    if (!lane || !lanes || !ends) {
        free(lane);
        free(lanes);
        free(ends);
        return;
    }
    /* Greedy lanes per device, steps in queued order (starts nearly sorted). */
    for (size_t d = 0; d < nd; d++) {
        int n = 0;
        for (size_t i = 0; i < r->n_steps; i++) {
            const lab_review_step *s = &r->steps[i];
            if (!s->device || strcmp(s->device, r->devices[d].name) != 0 || !s->started_us)
                continue;
            double st = (double)s->started_us, en = s->finished_us ? (double)s->finished_us : st;
            int l;
            for (l = 0; l < n && ends[l] > st; l++)
                ;
            if (l == n)
                n++;
            ends[l] = en;
            lane[i] = l;
        }
        lanes[d] = n > 0 ? n : 1;
    }
    double h = axis_h + 10;
    for (size_t d = 0; d < nd; d++)
        h += lanes[d] * lane_h + 8;
    double sx = (w - label_w - 10) / span_s;
    fprintf(out,
            "<figure class=\"wide\"><svg id=\"plot-gantt\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">"
            "<title>device timeline</title>\n"
            "<text x=\"4\" y=\"14\" class=\"ptitle\">device timeline (seconds since start)</text>\n",
            w, h, w, h);
    double st = s_step(0, span_s);
    for (double v = 0; v <= span_s + st * 1e-9; v += st) {
        double x = label_w + v * sx;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" class=\"grid\"/>"
                     "<text x=\"%.1f\" y=\"%.0f\" class=\"tick\" text-anchor=\"middle\">%.4g</text>\n",
                x, axis_h - 8, x, h - 4, x, axis_h - 12, v);
    }
    double y = axis_h;
    for (size_t d = 0; d < nd; d++) {
        const lab_review_device *dv = &r->devices[d];
        fprintf(out, "<text x=\"4\" y=\"%.1f\" class=\"tick\">", y + lanes[d] * lane_h / 2 + 4);
        s_esc(out, dv->name);
        fputs("</text>\n", out);
        for (size_t i = 0; i < r->n_steps; i++) {
            const lab_review_step *s = &r->steps[i];
            if (!s->device || strcmp(s->device, dv->name) != 0 || !s->started_us)
                continue;
            double x0 = label_w + (double)(s->started_us - r->span_start_us) / 1e6 * sx;
            double x1 = label_w + (double)((s->finished_us ? s->finished_us : s->started_us) -
                                           r->span_start_us) / 1e6 * sx;
            const char *cls = strcmp(s->status, "done") == 0      ? "bar-done"
                              : strcmp(s->status, "running") == 0 ||
                                        strcmp(s->status, "dispatched") == 0
                                  ? "bar-run"
                                  : "bar-fail";
            fprintf(out, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" class=\"%s\">"
                         "<title>",
                    x0, y + lane[i] * lane_h, fmax(x1 - x0, 1.0), lane_h - 2, cls);
            s_esc(out, s->attempt_id);
            fprintf(out, " %s, %.3f s", s->status,
                    (double)((s->finished_us ? s->finished_us : s->started_us) - s->started_us) / 1e6);
            fputs("</title></rect>\n", out);
        }
        y += lanes[d] * lane_h + 8;
    }
    fputs("</svg></figure>\n", out);
    free(lane);
    free(lanes);
    free(ends);
}

/* ---- tables ---- */

static void s_num_cell(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "<td class=\"num\" data-v=\"%.17g\">%.4g</td>", v, v);
    else
        fputs("<td class=\"num\"></td>", out);
}

static void s_json_cell(FILE *out, const json_t *v)
{
    fputs("<td>", out);
    if (json_is_string(v)) {
        s_esc(out, json_string_value(v));
    } else if (json_is_integer(v)) {
        fprintf(out, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(out, "%.6g", json_real_value(v));
    } else if (v) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        s_esc(out, s);
        free(s);
    }
    fputs("</td>", out);
}

static const json_t *s_prov(const lab_review_exp *e, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(e->provenance, *keys);
        if (v)
            return v;
    }
    return NULL;
}

static void s_prov_num_cell(FILE *out, const lab_review_exp *e, const char *const *keys)
{
    const json_t *v = s_prov(e, keys);
    if (json_is_number(v))
        s_num_cell(out, json_number_value(v));
    else
        s_json_cell(out, v);
}

static void s_experiments(const lab_review *r, FILE *out)
{
    static const char *const k_reason[] = {"reason", "why", NULL};
    static const char *const k_acq[] = {"acquisition", "acquisition_value", NULL};
    static const char *const k_mean[] = {"predicted_mean", "mean", NULL};
    static const char *const k_sd[] = {"predicted_sd", "sd", NULL};
    fputs("<section id=\"experiments\"><h2>Experiments</h2>\n"
          "<div class=\"scroll\"><table id=\"experiments-table\"><thead><tr><th>#</th>"
          "<th>status</th><th>origin</th>",
          out);
    for (size_t i = 0; i < r->n_params; i++) {
        fputs("<th>", out);
        s_esc(out, r->params[i].name);
        fputs("</th>", out);
    }
    for (size_t k = 0; k < r->n_objectives; k++) {
        fputs("<th class=\"obj\">", out);
        s_esc(out, r->objectives[k].name);
        fputs("</th>", out);
    }
    fputs("<th>planner's reason</th><th>acquisition</th><th>predicted mean</th>"
          "<th>predicted sd</th><th>error</th></tr></thead>\n<tbody>\n",
          out);
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        fprintf(out, "<tr data-seq=\"%lld\" class=\"st-", (long long)e->seq);
        s_esc(out, e->status);
        fprintf(out, "%s\"><td class=\"num\">%lld</td><td>", e->pareto ? " pareto" : "",
                (long long)e->seq);
        s_esc(out, e->status);
        fputs("</td><td>", out);
        s_esc(out, e->origin);
        fputs("</td>", out);
        for (size_t p = 0; p < r->n_params; p++) {
            json_t *v = json_object_get(e->params, r->params[p].name);
            if (json_is_number(v))
                s_num_cell(out, json_number_value(v));
            else
                s_json_cell(out, v);
        }
        for (size_t k = 0; k < r->n_objectives; k++)
            s_num_cell(out, e->y[k]);
        {
            /* The reason in words; what the planner stored in full on hover. */
            char why[512];
            const json_t *raw = s_prov(e, k_reason);
            fputs("<td class=\"reason\"", out);
            if (json_is_string(raw)) {
                fputs(" title=\"", out);
                s_esc(out, json_string_value(raw));
                fputc('"', out);
            }
            fputc('>', out);
            s_esc(out, lab_review_reason(r, e, why, sizeof why));
            fputs("</td>", out);
        }
        s_prov_num_cell(out, e, k_acq);
        /* Newer hubs store each objective's prediction in its units under
         * "predicted"; the first objective's goes in these columns. */
        const json_t *pred = r->n_objectives ? json_object_get(json_object_get(e->provenance, "predicted"),
                                                               r->objectives[0].name)
                                             : NULL;
        if (json_is_object(pred)) {
            s_num_cell(out, json_number_value(json_object_get(pred, "mean")));
            s_num_cell(out, json_number_value(json_object_get(pred, "sd")));
        } else {
            s_prov_num_cell(out, e, k_mean);
            s_prov_num_cell(out, e, k_sd);
        }
        fputs("<td class=\"err\"", out);
        if (e->error) {
            fputs(" title=\"", out);
            s_esc(out, e->error);
            fputc('"', out);
        }
        fputc('>', out);
        s_esc(out, e->error);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table></div></section>\n", out);
}

static void s_provenance(const lab_review *r, FILE *out)
{
    char t0[32], t1[32];
    fputs("<table class=\"prov\" id=\"provenance\">\n", out);
    struct {
        const char *k, *v;
    } rows[] = {
        {"config sha256", r->c.config_sha256}, {"config file", r->c.config_path},
        {"labloop version", r->c.version},     {"operator", r->c.operator_name},
        {"host", r->c.host},                   {"planner", r->c.planner},
        {"access class", r->c.access},         {"licence", lab_review_licence(r->c.access)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fprintf(out, "<tr><th>%s</th><td class=\"%s\">", rows[i].k,
                i == 0 ? "mono" : "");
        s_esc(out, rows[i].v ? rows[i].v : "-");
        fputs("</td></tr>\n", out);
    }
    fprintf(out, "<tr><th>seed</th><td>%llu</td></tr>\n", (unsigned long long)r->c.seed);
    fprintf(out, "<tr><th>time span</th><td>%s &ndash; %s (%.1f s)</td></tr>\n",
            lab_review_iso_time(r->span_start_us, t0, sizeof t0),
            lab_review_iso_time(r->span_end_us, t1, sizeof t1),
            (double)(r->span_end_us - r->span_start_us) / 1e6);
    fprintf(out, "<tr><th>export control</th><td id=\"export-control\">%s</td></tr>\n",
            r->c.export_control ? "<strong>yes: export-controlled data</strong>" : "no");
    fputs("</table>\n", out);
}

static void s_summary(const lab_review *r, FILE *out)
{
    const lab_hub_query_counts *n = &r->n;
    fputs("<section id=\"summary\"><h2>Summary</h2><p class=\"counts\">status <b id=\"status\">",
          out);
    s_esc(out, r->c.status);
    fprintf(out,
            "</b> &middot; <b id=\"n-experiments\">%lld</b> experiments: "
            "<b id=\"n-measured\">%lld</b> measured, <b id=\"n-failed\">%lld</b> failed, "
            "<b id=\"n-running\">%lld</b> running &middot; %lld step attempts "
            "(%lld retries) &middot; %lld events</p>\n",
            (long long)n->experiments, (long long)n->measured, (long long)n->failed,
            (long long)(n->running + n->queued), (long long)n->steps,
            (long long)n->retries, (long long)n->events);
    /* Why it is paused (the dashboard shows and hides it as it polls). */
    char pause[1700];
    fprintf(out, "<p id=\"pause\" class=\"warn\"%s>", lab_review_paused(r) ? "" : " hidden");
    if (lab_review_paused(r))
        s_esc(out, lab_review_pause_text(r, pause, sizeof pause));
    fputs("</p>\n", out);
    if (r->budget_experiments) {
        fprintf(out, "<p id=\"budget-line\">budget <b id=\"budget\">%lld</b> experiments",
                (long long)(r->budget_experiments + r->life.extra_experiments));
        if (r->life.extensions)
            fprintf(out, " (%ld in the config, %lld more by %lld extension%s)", r->budget_experiments,
                    (long long)r->life.extra_experiments, (long long)r->life.extensions,
                    r->life.extensions == 1 ? "" : "s");
        fputs("</p>\n", out);
    }
    if (r->best >= 0) {
        const lab_review_exp *e = &r->exps[r->best];
        const lab_review_objective *o = &r->objectives[0];
        fputs("<p id=\"best\">best ", out);
        s_esc(out, o->name);
        fprintf(out, ": <b class=\"num\" data-v=\"%.17g\">%.6g</b>", e->y[0], e->y[0]);
        if (o->unit) {
            fputs(" ", out);
            s_esc(out, o->unit);
        }
        fprintf(out, " (%s", o->maximize ? "maximize" : "minimize");
        fprintf(out, ") at experiment <b id=\"best-seq\">%lld</b>:", (long long)e->seq);
        for (size_t p = 0; p < r->n_params; p++) {
            json_t *v = json_object_get(e->params, r->params[p].name);
            fputs(" ", out);
            s_esc(out, r->params[p].name);
            fputs("=", out);
            if (json_is_number(v)) {
                fprintf(out, "%.6g", json_number_value(v));
            } else if (json_is_string(v)) {
                s_esc(out, json_string_value(v));
            }
            if (r->params[p].unit) {
                fputs(" ", out);
                s_esc(out, r->params[p].unit);
            }
        }
        fputs("</p>\n", out);
    } else {
        fputs("<p id=\"best\">no measured experiment yet</p>\n", out);
    }
    if (!r->config_parsed)
        fputs("<p class=\"warn\">The stored config did not parse with this labloop: objective "
              "goals are taken as maximize and units are unknown.</p>\n",
              out);
    fputs("</section>\n", out);
}

static void s_devices(const lab_review *r, FILE *out)
{
    fputs("<section id=\"devices\"><h2>Devices</h2><table id=\"devices-table\"><thead><tr>"
          "<th>device</th><th>driver</th><th>capacity</th><th>status</th><th>steps</th>"
          "<th>busy (s)</th><th>utilisation</th></tr></thead><tbody>\n",
          out);
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        fputs("<tr><td>", out);
        s_esc(out, d->name);
        fputs("</td><td>", out);
        s_esc(out, d->driver);
        fprintf(out, "</td><td class=\"num\">%d</td><td>", d->capacity);
        s_esc(out, d->status);
        fprintf(out, "</td><td class=\"num\">%lld</td>", (long long)d->steps);
        s_num_cell(out, (double)d->busy_us / 1e6);
        fprintf(out, "<td class=\"num\">%.1f %%</td></tr>\n", d->utilisation * 100);
    }
    fputs("</tbody></table></section>\n", out);
}

static void s_failures(const lab_review *r, FILE *out)
{
    fputs("<section id=\"failures\"><h2>Failures by cause</h2>", out);
    if (r->n_failures == 0) {
        fputs("<p>none</p></section>\n", out);
        return;
    }
    fputs("<table id=\"failures-table\"><thead><tr><th>scope</th><th>cause</th><th>count</th>"
          "<th>devices</th><th>first experiment</th></tr></thead><tbody>\n",
          out);
    for (size_t i = 0; i < r->n_failures; i++) {
        const lab_review_failure *f = &r->failures[i];
        fputs("<tr><td>", out);
        s_esc(out, f->scope);
        fputs("</td><td>", out);
        s_esc(out, f->cause);
        fprintf(out, "</td><td class=\"num\">%lld</td><td>", (long long)f->count);
        s_esc(out, f->where);
        fprintf(out, "</td><td class=\"num\">%lld</td></tr>\n", (long long)f->first_experiment);
    }
    fputs("</tbody></table></section>\n", out);
}

static const char s_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}"
    "h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.2em 0 .4em;"
    "border-bottom:1px solid #ddd}table{border-collapse:collapse}"
    "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}.mono{font-family:monospace}"
    "table.prov th{color:#555;font-weight:normal}.scroll{overflow-x:auto}"
    "figure.wide{display:block}"
    "svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#999}svg .tick{font-size:10px;fill:#555}"
    "svg .alabel{font-size:11px;fill:#333}svg .ptitle{font-size:12px;font-weight:600}"
    "svg .pt{fill:#4a7ab5;fill-opacity:.7;stroke:#4a7ab5}svg .o-initial{fill:#fff;stroke:#4a7ab5;stroke-width:1.5}"
    "svg .o-prior{fill:#2f9e44;stroke:#2f9e44}svg .o-manual{fill:#9c36b5;stroke:#9c36b5}svg .o-other{fill:#888}"
    "svg .pt-best{stroke:#d9480f;stroke-width:2.5}svg .pt-failed{stroke:#c92a2a;stroke-width:2;fill:none}"
    "svg .band{fill:#4a7ab5;fill-opacity:.18;stroke:none}svg .mean{fill:none;stroke:#1c4f8c;stroke-width:2}"
    "svg rect.mu{fill:#1c4f8c}svg circle.mu{fill:#1c4f8c}svg .sdbar{stroke:#4a7ab5;stroke-width:6;stroke-opacity:.35}"
    "figure{display:inline-block;margin:4px;vertical-align:top}h3{font-size:1em;margin:1em 0 .3em}"
    "#experiments-table{font-size:12px}#experiments-table td{padding:2px 5px;white-space:nowrap}"
    "#experiments-table td.reason{white-space:normal;min-width:22em;max-width:30em}"
    "#experiments-table td.err{overflow:hidden;text-overflow:ellipsis;max-width:10em}"
    "#experiments-table th{white-space:normal}.note{color:#555}tr.thin td{color:#b02a00}"
    ".legend svg,#origins svg{vertical-align:middle}"
    "svg .best{fill:none;stroke:#d9480f;stroke-width:2}"
    "svg .front{fill:none;stroke:#d9480f;stroke-dasharray:4 3}"
    "svg .bar-done{fill:#4a7ab5}svg .bar-fail{fill:#d9480f}svg .bar-run{fill:#f2b01e}"
    "tr.st-failed td{color:#b02a00}tr.pareto td:first-child{font-weight:bold}"
    ".warn{color:#b02a00}.counts b{font-size:1.1em}#control{margin-top:1em;padding:.5em;"
    "border:1px solid #ddd;display:inline-block}footer{margin-top:2em;color:#777;font-size:12px}";

/* The dashboard's script: poll the summary, update the counters; control
 * actions POST with the token the operator typed (never stored). */
static const char s_js[] =
    "<script>\n"
    "(function(){\n"
    "  function set(id,v){var e=document.getElementById(id);if(e&&e.textContent!==String(v))"
    "e.textContent=String(v);}\n"
    "  var shown=null;\n"
    "  function poll(){\n"
    "    fetch('/api/summary'+location.search,{cache:'no-store'}).then(function(r){return r.json();})"
    ".then(function(s){\n"
    "      var c=s.counts;set('n-experiments',c.experiments);set('n-measured',c.measured);\n"
    "      set('n-failed',c.failed);set('n-running',c.running+c.queued);set('n-waiting',c.proposed);"
    "set('status',s.status);\n"
    "      var p=document.getElementById('pause');\n"
    "      if(p){p.hidden=!s.pause;if(s.pause)set('pause',s.pause.cause?'braked: '+s.pause.reason:"
    "'paused by '+s.pause.by+(s.pause.reason?': '+s.pause.reason:''));}\n"
    "      if(s.budget&&s.budget.experiments!==null)set('budget',s.budget.experiments);\n"
    "      if(shown===null)shown=c.experiments;\n"
    "      var st=document.getElementById('stale');\n"
    "      if(st)st.hidden=(c.experiments===shown);\n"
    "      set('live','live: updated '+new Date().toLocaleTimeString());\n"
    "    }).catch(function(){set('live','live: hub not reachable, retrying');});\n"
    "  }\n"
    "  poll();setInterval(poll,1000);\n"
    "  document.querySelectorAll('#control button').forEach(function(b){\n"
    "    b.addEventListener('click',function(){\n"
    "      var t=document.getElementById('token').value;\n"
    "      fetch('/api/control/'+b.dataset.action+location.search,{method:'POST',"
    "headers:{'Authorization':'Bearer '+t}})\n"
    "        .then(function(r){return r.text().then(function(x){"
    "set('control-result',r.status+': '+x);});});\n"
    "    });\n"
    "  });\n"
    "})();\n"
    "</script>\n";

int lab_review_html(const lab_review *r, const lab_review_html_opts *o, FILE *out)
{
    char gen[32];
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>labloop: ",
          out);
    s_esc(out, r->c.name);
    fprintf(out, "</title>\n<style>%s</style></head>\n<body>\n<header><h1>Campaign ", s_css);
    s_esc(out, r->c.name);
    fputs(o && o->live ? " &mdash; live dashboard" : " &mdash; report", out);
    fputs("</h1>\n", out);
    if (o && o->live)
        fputs("<p><span id=\"live\">live</span> <span id=\"stale\" hidden>&middot; new "
              "experiments since this page was drawn: <a href=\"/\">reload for the plots</a>"
              "</span></p>\n",
              out);
    s_provenance(r, out);
    fputs("</header>\n", out);
    s_summary(r, out);
    lab_review_queue_html(r, o, out);
    fputs("<section id=\"plots\"><h2>Plots</h2>\n", out);
    s_legend(out);
    if (r->n_objectives > 0) {
        s_plot_best(r, out);
        for (size_t i = 0; i < r->n_params; i++)
            s_plot_param(r, i, out);
        if (r->n_objectives >= 2)
            s_plot_pareto(r, out);
    }
    s_plot_gantt(r, out);
    fputs("</section>\n", out);
    if (r->n_objectives > 0 && r->n_params > 0)
        s_planner_section(r, out);
    if (r->n_objectives >= 2) {
        fprintf(out, "<section id=\"pareto\"><h2>Pareto front (%zu experiments)</h2><p>",
                r->n_pareto);
        for (size_t i = 0; i < r->n_exps; i++)
            if (r->exps[i].pareto)
                fprintf(out, "<span class=\"pf\">#%lld</span> ", (long long)r->exps[i].seq);
        fputs("</p></section>\n", out);
    }
    s_devices(r, out);
    s_failures(r, out);
    s_experiments(r, out);
    if (o && o->live)
        fputs("<section id=\"control\"><h2>Control</h2><p>Pause, resume or abort the campaign "
              "(needs the dashboard's token).</p><input id=\"token\" type=\"password\" "
              "placeholder=\"token\" autocomplete=\"off\"> "
              "<button data-action=\"pause\">pause</button> "
              "<button data-action=\"resume\">resume</button> "
              "<button data-action=\"abort\">abort</button> <span id=\"control-result\"></span>"
              "</section>\n",
              out);
    fprintf(out, "<footer>labloop %s &middot; generated %s &middot; hub schema: docs/DATA.md"
                 "</footer>\n",
            LAB_VERSION_STRING,
            lab_review_iso_time(o && o->generated_us ? o->generated_us : r->span_end_us, gen,
                                sizeof gen));
    if (o && o->live)
        fputs(s_js, out);
    fputs("</body></html>\n", out);
    return ferror(out) ? LAB_EIO : 0;
}
