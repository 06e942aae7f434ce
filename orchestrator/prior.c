/* Warm start: reading earlier experiments from a CSV file or another hub's
 * campaign (see prior.h). Every value is checked against the campaign's
 * space: a prior that does not fit is refused whole, with the file and line.
 * Not for: telling the planner, the hub writes (orch.c).
 */
#include "orchestrator/prior.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/hub/hub_query.h"
#include "planners/planner.h"
#include "planners/space.h"
#include "common/banned.h"

#define S_LINE_MAX 8192
#define S_MAX_COLS 256

void lab_prior_release(lab_prior *p)
{
    if (!p)
        return;
    free(p->x);
    free(p->y);
    free(p->failed);
    memset(p, 0, sizeof *p);
}

/* Room for one more row. */
static int s_grow(lab_prior *p, size_t *cap, lab_err *err)
{
    if (p->n < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : 64;
    double *x = realloc(p->x, nc * p->d * sizeof *x);
    if (x)
        p->x = x;
    double *y = realloc(p->y, nc * (p->m ? p->m : 1) * sizeof *y);
    if (y)
        p->y = y;
    unsigned char *f = realloc(p->failed, nc);
    if (f)
        p->failed = f;
    if (!x || !y || !f)
        return lab_err_set(err, LAB_ENOMEM, "out of memory reading the prior %s", p->source);
    *cap = nc;
    return 0;
}

/* One parameter value (text of a cell, or a JSON value) into native units. */
static int s_param(const lab_dim *dim, const char *text, double *out, const char *where,
                   lab_err *err)
{
    if (dim->type == LAB_DIM_CATEGORICAL) {
        for (size_t c = 0; c < dim->n_choices; c++)
            if (!strcmp(dim->choices[c], text)) {
                *out = (double)c;
                return 0;
            }
        return lab_err_set(err, LAB_ECONFIG, "%s: '%s' is not one of the choices of '%s'", where,
                           text, dim->name);
    }
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v))
        return lab_err_set(err, LAB_ECONFIG, "%s: '%s' is not a number (parameter '%s')", where,
                           text, dim->name);
    if (v < dim->low || v > dim->high)
        return lab_err_set(err, LAB_ECONFIG, "%s: %s = %g is outside [%g, %g]", where, dim->name, v,
                           dim->low, dim->high);
    if (dim->type == LAB_DIM_INTEGER && v != floor(v))
        return lab_err_set(err, LAB_ECONFIG, "%s: %s = %g is not an integer", where, dim->name, v);
    *out = v;
    return 0;
}

/* Trims spaces and one pair of double quotes, in place. */
static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Splits line at commas into at most S_MAX_COLS trimmed cells. */
static size_t s_split(char *line, char **cells)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *c = line; n < S_MAX_COLS;) {
        char *comma = strchr(c, ',');
        if (comma)
            *comma = '\0';
        cells[n++] = s_trim(c);
        if (!comma)
            break;
        c = comma + 1;
    }
    return n;
}

/* Header cell "name" or "name [unit]": name into cell, the unit (or NULL). */
static const char *s_header_unit(char *cell)
{
    char *open = strchr(cell, '[');
    if (!open)
        return NULL;
    char *close = strchr(open, ']');
    if (close)
        *close = '\0';
    *open = '\0';
    s_trim(cell);
    size_t n = strlen(cell);
    while (n && isspace((unsigned char)cell[n - 1]))
        cell[--n] = '\0';
    return s_trim(open + 1);
}

static int s_unit_check(const char *what, const char *name, const char *cfg_unit,
                        const char *csv_unit, const char *file, lab_err *err)
{
    if (!csv_unit || !*csv_unit || !cfg_unit)
        return 0;
    if (strcmp(cfg_unit, csv_unit))
        return lab_err_set(err, LAB_ECONFIG,
                           "prior %s: %s '%s' is in %s there but in %s in this campaign", file,
                           what, name, csv_unit, cfg_unit);
    return 0;
}

static int s_load_csv(const lab_campaign_cfg *cfg, lab_prior *p, lab_err *err)
{
    const char *file = cfg->prior_csv;
    FILE *f = fopen(file, "r");
    if (!f)
        return lab_err_set(err, LAB_EIO, "prior: cannot open %s: %s", file, strerror(errno));
    char line[S_LINE_MAX], *cells[S_MAX_COLS];
    long *col_x = calloc(p->d, sizeof *col_x), col_y[LAB_PLANNER_MAX_OBJECTIVES],
         col_status = -1;
    size_t cap = 0, lineno = 1;
    int rc = 0;
    if (!col_x) {
        rc = lab_err_set(err, LAB_ENOMEM, "out of memory reading the prior %s", file);
        goto out;
    }
    if (!fgets(line, sizeof line, f)) {
        rc = lab_err_set(err, LAB_ECONFIG, "prior %s: empty file (a header line is needed)", file);
        goto out;
    }
    size_t nh = s_split(line, cells);
    const char *units[S_MAX_COLS];
    for (size_t c = 0; c < nh; c++)
        units[c] = s_header_unit(cells[c]);
    for (size_t i = 0; i < p->d; i++) {
        const lab_dim *dim = lab_space_dim(cfg->space, i);
        col_x[i] = -1;
        for (size_t c = 0; c < nh; c++)
            if (!strcmp(cells[c], dim->name))
                col_x[i] = (long)c;
        if (col_x[i] < 0) {
            rc = lab_err_set(err, LAB_ECONFIG, "prior %s: no column for parameter '%s'", file,
                             dim->name);
            goto out;
        }
        if ((rc = s_unit_check("parameter", dim->name, dim->unit, units[col_x[i]], file, err)) < 0)
            goto out;
    }
    for (size_t k = 0; k < p->m; k++) {
        col_y[k] = -1;
        for (size_t c = 0; c < nh; c++)
            if (!strcmp(cells[c], cfg->objectives[k].name))
                col_y[k] = (long)c;
        if (col_y[k] < 0) {
            rc = lab_err_set(err, LAB_ECONFIG, "prior %s: no column for objective '%s'", file,
                             cfg->objectives[k].name);
            goto out;
        }
        if ((rc = s_unit_check("objective", cfg->objectives[k].name, cfg->objectives[k].unit,
                               units[col_y[k]], file, err)) < 0)
            goto out;
    }
    for (size_t c = 0; c < nh; c++)
        if (!strcmp(cells[c], "status"))
            col_status = (long)c;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char where[700];
        snprintf(where, sizeof where, "prior %s:%zu", file, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            rc = lab_err_set(err, LAB_ECONFIG, "%s: line longer than %d bytes", where, S_LINE_MAX);
            goto out;
        }
        size_t nc = s_split(line, cells);
        if (nc == 1 && !cells[0][0])
            continue; /* blank line */
        if (nc != nh) {
            rc = lab_err_set(err, LAB_ECONFIG, "%s: %zu cells, the header has %zu", where, nc, nh);
            goto out;
        }
        if ((rc = s_grow(p, &cap, err)) < 0)
            goto out;
        int failed = 0;
        if (col_status >= 0) {
            const char *st = cells[col_status];
            if (!strcmp(st, "failed"))
                failed = 1;
            else if (strcmp(st, "measured")) {
                rc = lab_err_set(err, LAB_ECONFIG, "%s: status '%s' (measured or failed)", where,
                                 st);
                goto out;
            }
        }
        for (size_t i = 0; i < p->d; i++)
            if ((rc = s_param(lab_space_dim(cfg->space, i), cells[col_x[i]],
                              p->x + p->n * p->d + i, where, err)) < 0)
                goto out;
        for (size_t k = 0; k < p->m; k++) {
            double *yk = p->y + p->n * p->m + k;
            *yk = NAN;
            if (failed)
                continue;
            char *end;
            *yk = strtod(cells[col_y[k]], &end);
            if (end == cells[col_y[k]] || *end || !isfinite(*yk)) {
                rc = lab_err_set(err, LAB_ECONFIG,
                                 "%s: objective '%s' is '%s', not a number (mark failed "
                                 "experiments with a status column)",
                                 where, cfg->objectives[k].name, cells[col_y[k]]);
                goto out;
            }
        }
        p->failed[p->n++] = (unsigned char)failed;
    }
out:
    free(col_x);
    fclose(f);
    return rc;
}

typedef struct {
    const lab_campaign_cfg *cfg;
    lab_prior *p;
    size_t cap;
    lab_err *err;
} s_hub_rows;

static int s_hub_row(const lab_hub_query_experiment *x, void *arg)
{
    s_hub_rows *h = arg;
    lab_prior *p = h->p;
    const char *st = x->status ? x->status : "";
    int failed = !strcmp(st, "failed");
    if (!failed && strcmp(st, "measured"))
        return 0; /* cancelled, running, ...: nothing was learnt */
    char where[700];
    snprintf(where, sizeof where, "prior %s, experiment %lld", p->source, (long long)x->seq);
    int rc = s_grow(p, &h->cap, h->err);
    if (rc < 0)
        return rc;
    json_t *params = json_loads(x->params_json ? x->params_json : "", 0, NULL);
    json_t *objs = json_loads(x->objectives_json ? x->objectives_json : "{}", 0, NULL);
    for (size_t i = 0; i < p->d && rc == 0; i++) {
        const lab_dim *dim = lab_space_dim(h->cfg->space, i);
        json_t *v = params ? json_object_get(params, dim->name) : NULL;
        char buf[64];
        const char *text = NULL;
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_number(v))
            snprintf(buf, sizeof buf, "%.17g", json_number_value(v)), text = buf;
        if (!text)
            rc = lab_err_set(h->err, LAB_ECONFIG, "%s: no parameter '%s'", where, dim->name);
        else
            rc = s_param(dim, text, p->x + p->n * p->d + i, where, h->err);
    }
    for (size_t k = 0; k < p->m && rc == 0; k++) {
        json_t *v = objs ? json_object_get(objs, h->cfg->objectives[k].name) : NULL;
        p->y[p->n * p->m + k] = failed ? NAN : json_is_number(v) ? json_number_value(v) : NAN;
        if (!failed && !json_is_number(v))
            rc = lab_err_set(h->err, LAB_ECONFIG, "%s: measured but without objective '%s'", where,
                             h->cfg->objectives[k].name);
    }
    json_decref(params);
    json_decref(objs);
    if (rc == 0)
        p->failed[p->n++] = (unsigned char)failed;
    return rc;
}

static int s_load_hub(const lab_campaign_cfg *cfg, lab_prior *p, lab_err *err)
{
    lab_hub_query *q = lab_hub_query_open(cfg->prior_hub, err);
    if (!q)
        return err && err->code ? err->code : LAB_EDB;
    lab_hub_query_campaign c = {0};
    int rc = lab_hub_query_campaign_get(q, cfg->prior_campaign, &c, err);
    if (rc == 0) {
        s_hub_rows h = {.cfg = cfg, .p = p, .err = err};
        rc = lab_hub_query_experiments(q, c.id, s_hub_row, &h, err);
        lab_hub_query_campaign_release(&c);
    }
    lab_hub_query_destroy(&q);
    return rc;
}

int lab_prior_load(const lab_campaign_cfg *cfg, lab_prior *p, lab_err *err)
{
    memset(p, 0, sizeof *p);
    if (!cfg->prior_csv && !cfg->prior_hub)
        return 0;
    p->d = lab_space_dims(cfg->space);
    p->m = cfg->n_objectives;
    if (cfg->prior_csv)
        snprintf(p->source, sizeof p->source, "%s", cfg->prior_csv);
    else
        snprintf(p->source, sizeof p->source, "%s campaign %s", cfg->prior_hub,
                 cfg->prior_campaign);
    int rc = cfg->prior_csv ? s_load_csv(cfg, p, err) : s_load_hub(cfg, p, err);
    if (rc < 0)
        lab_prior_release(p);
    return rc;
}
