/* The config schema engine (see schema.h): key tables checked against YAML
 * mappings, problems collected and reported in file order. */
#include "common/schema.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/banned.h"

/* ---- problems ------------------------------------------------------------ */

void lab_schema_init(lab_schema *s, lab_ydoc *d, const char *path)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->path = path;
}

void lab_schema_release(lab_schema *s)
{
    free(s->probs);
    s->probs = NULL;
    s->n_probs = s->cap_probs = 0;
}

void lab_schema_err(lab_schema *s, const yaml_node_t *n, const char *fmt, ...)
{
    if (s->n_probs >= LAB_SCHEMA_KEPT) {
        s->n_dropped++;
        return;
    }
    if (s->n_probs == s->cap_probs) {
        size_t cap = s->cap_probs ? s->cap_probs * 2 : 16;
        lab_schema_problem *p = realloc(s->probs, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->probs = p;
        s->cap_probs = cap;
    }
    char msg[LAB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lab_schema_problem *p = &s->probs[s->n_probs];
    p->line = lab_yline(n);
    p->col = lab_ycol(n);
    p->seq = s->n_probs++;
    lab_err tmp = {0};
    lab_yerr(s->d, n, NULL, &tmp, "%s", msg);
    snprintf(p->msg, sizeof p->msg, "%s", tmp.msg);
}

size_t lab_schema_n_problems(const lab_schema *s)
{
    return s->n_probs + s->n_dropped + (s->oom != 0);
}

static int s_cmp_problem(const void *a, const void *b)
{
    const lab_schema_problem *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

int lab_schema_report(lab_schema *s, FILE *errs, lab_err *err)
{
    if (s->n_probs > 1)
        qsort(s->probs, s->n_probs, sizeof *s->probs, s_cmp_problem);
    size_t shown = s->n_probs < LAB_YAML_MAX_ERRORS ? s->n_probs : LAB_YAML_MAX_ERRORS;
    for (size_t i = 0; errs && i < shown; i++)
        fprintf(errs, "%s\n", s->probs[i].msg);
    lab_yerr_more(errs, s->path, shown, s->n_probs + s->n_dropped);
    if (s->oom) {
        if (errs)
            fprintf(errs, "%s: out of memory\n", s->path);
        lab_err_set(err, LAB_ENOMEM, "%s: out of memory", s->path);
        return LAB_ENOMEM;
    }
    if (s->n_probs) {
        lab_err_set(err, LAB_ECONFIG, "%s", s->probs[0].msg);
        return LAB_ECONFIG;
    }
    return 0;
}

/* ---- words ---------------------------------------------------------------- */

static size_t s_edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN)
        return (size_t)-1;
    size_t prev[MAXLEN + 1], cur[MAXLEN + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *lab_schema_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t dist = s_edit_distance(word, cands[i]);
        if (dist < best_d) {
            best_d = dist;
            best = cands[i];
        }
    }
    size_t len = strlen(word);
    size_t limit = len <= 3 ? 1 : (len <= 6 ? 2 : 3);
    return best && best_d <= limit ? best : NULL;
}

const char *lab_schema_hint(char *buf, size_t n, const char *word, const char *const *cands, size_t n_cands)
{
    const char *s = lab_schema_suggest(word, cands, n_cands);
    if (s)
        snprintf(buf, n, " (did you mean '%s'?)", s);
    else
        buf[0] = '\0';
    return buf;
}

const char *lab_schema_got(char *buf, size_t n, const yaml_node_t *v)
{
    const char *s = lab_yscalar(v);
    if (s)
        snprintf(buf, n, "'%s'", s);
    else
        snprintf(buf, n, "%s", lab_ykind(v));
    return buf;
}

/* Index of s among choices ("a|b|c"), or -1. */
static int s_choice_index(const char *s, const char *choices)
{
    size_t len = strlen(s);
    const char *p = choices;
    for (int i = 0; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == len && strncmp(p, s, l) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

int lab_schema_in_choices(const char *s, const char *choices)
{
    return s_choice_index(s, choices) >= 0;
}

void lab_schema_bounds_text(char *buf, size_t n, const lab_schema_key *k, int integer)
{
    const char *f = integer ? "%.0f" : "%g";
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, f, k->min);
    snprintf(hi, sizeof hi, f, k->max);
    if (!isnan(k->min) && !isnan(k->max))
        snprintf(buf, n, "between %s and %s", lo, hi);
    else if (!isnan(k->min))
        snprintf(buf, n, "at least %s", lo);
    else
        snprintf(buf, n, "at most %s", hi);
}

static int s_out_of_bounds(const lab_schema_key *k, double v)
{
    return (!isnan(k->min) && v < k->min) || (!isnan(k->max) && v > k->max);
}

/* ---- checks --------------------------------------------------------------- */

int lab_schema_check_value(lab_schema *sc, const lab_schema_key *k, yaml_node_t *v, const char *pfx)
{
    char got[160], b[96];
    const char *s = lab_yscalar(v);
    switch (k->type) {
    case LAB_SK_ANY:
        return 1;
    case LAB_SK_STR:
        if (!s) {
            lab_schema_err(sc, v, "%s%s must be a string, got %s", pfx, k->name, lab_ykind(v));
            return 0;
        }
        if (!*s) {
            lab_schema_err(sc, v, "%s%s must not be empty", pfx, k->name);
            return 0;
        }
        return 1;
    case LAB_SK_INT: {
        long x;
        if (lab_yto_long(v, &x) != 0) {
            lab_schema_err(sc, v, "%s%s must be an integer, got %s", pfx, k->name, lab_schema_got(got, sizeof got, v));
            return 0;
        }
        if (s_out_of_bounds(k, (double)x)) {
            lab_schema_bounds_text(b, sizeof b, k, 1);
            lab_schema_err(sc, v, "%s%s must be %s, got %ld", pfx, k->name, b, x);
            return 0;
        }
        return 1;
    }
    case LAB_SK_NUM: {
        double x;
        if (lab_yto_double(v, &x) != 0) {
            lab_schema_err(sc, v, "%s%s must be a number, got %s", pfx, k->name, lab_schema_got(got, sizeof got, v));
            return 0;
        }
        if (s_out_of_bounds(k, x)) {
            lab_schema_bounds_text(b, sizeof b, k, 0);
            lab_schema_err(sc, v, "%s%s must be %s, got %g", pfx, k->name, b, x);
            return 0;
        }
        return 1;
    }
    case LAB_SK_BOOL: {
        int x;
        if (lab_yto_bool(v, &x) != 0) {
            lab_schema_err(sc, v, "%s%s must be true or false, got %s", pfx, k->name,
                           lab_schema_got(got, sizeof got, v));
            return 0;
        }
        return 1;
    }
    case LAB_SK_DUR:
    case LAB_SK_HOURS: {
        double x;
        int ok;
        if (k->type == LAB_SK_HOURS && lab_yto_double(v, &x) == 0)
            ok = x >= 0;
        else {
            ok = s && lab_duration_parse(s, &x) == 0;
            if (ok && k->type == LAB_SK_HOURS)
                x /= 3600.0;
        }
        if (!ok) {
            lab_schema_err(sc, v, "%s%s must be %s, got %s", pfx, k->name,
                           k->type == LAB_SK_HOURS ? "a number of hours or a duration such as 90m or 2h"
                                                   : "a duration such as 90s, 5m, 2h or 500ms",
                           lab_schema_got(got, sizeof got, v));
            return 0;
        }
        if (s_out_of_bounds(k, x)) {
            lab_schema_bounds_text(b, sizeof b, k, 0);
            lab_schema_err(sc, v, "%s%s must be %s %s, got %s", pfx, k->name, b,
                           k->type == LAB_SK_HOURS ? "hours" : "seconds", s);
            return 0;
        }
        return 1;
    }
    case LAB_SK_ENUM:
        if (!s || !lab_schema_in_choices(s, k->choices)) {
            lab_schema_err(sc, v, "%s%s must be one of %s, got %s", pfx, k->name, k->choices,
                           lab_schema_got(got, sizeof got, v));
            return 0;
        }
        return 1;
    case LAB_SK_STR_OR_MAP:
        if (lab_yis_map(v))
            return 1;
        if (!s || !*s) {
            lab_schema_err(sc, v, "%s%s must be a file name or a mapping, got %s", pfx, k->name,
                           lab_schema_got(got, sizeof got, v));
            return 0;
        }
        return 1;
    case LAB_SK_MAP:
        if (!lab_yis_map(v)) {
            lab_schema_err(sc, v, "%s%s must be a mapping, got %s", pfx, k->name, lab_schema_got(got, sizeof got, v));
            return 0;
        }
        return 1;
    case LAB_SK_LIST:
        if (!lab_yis_seq(v)) {
            lab_schema_err(sc, v, "%s%s must be a list, got %s", pfx, k->name, lab_schema_got(got, sizeof got, v));
            return 0;
        }
        return 1;
    case LAB_SK_STRLIST:
        if (s) {
            if (*s)
                return 1;
            lab_schema_err(sc, v, "%s%s must not be empty", pfx, k->name);
            return 0;
        }
        if (!lab_yis_seq(v)) {
            lab_schema_err(sc, v, "%s%s must be a list of strings, got %s", pfx, k->name, lab_ykind(v));
            return 0;
        }
        for (size_t i = 0; i < lab_yseq_len(v); i++) {
            yaml_node_t *it = lab_yseq_at(sc->d, v, i);
            const char *t = lab_yscalar(it);
            if (!t || !*t) {
                lab_schema_err(sc, it, "%s%s[%zu] must be a non-empty string, got %s", pfx, k->name, i,
                               lab_schema_got(got, sizeof got, it));
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

int lab_schema_check_map(lab_schema *sc, yaml_node_t *m, const lab_schema_key *keys, const char *sec,
                         yaml_node_t **slots)
{
    size_t nk = 0;
    while (keys[nk].name)
        nk++;
    assert(nk <= LAB_SCHEMA_MAXKEYS);
    for (size_t i = 0; i < nk; i++)
        slots[i] = NULL;
    const char *where = *sec ? sec : "the top level";
    /* "budget.experiments" for a plain section, "step 'heat': retries" for an item */
    char pfx[160];
    if (!*sec)
        pfx[0] = '\0';
    else if (strpbrk(sec, " '"))
        snprintf(pfx, sizeof pfx, "%s: ", sec);
    else
        snprintf(pfx, sizeof pfx, "%s.", sec);
    if (!lab_yis_map(m)) {
        char got[160];
        lab_schema_err(sc, m, "%s must be a mapping, got %s", where, lab_schema_got(got, sizeof got, m));
        return 0;
    }
    int seen[LAB_SCHEMA_MAXKEYS] = {0};
    const char *names[LAB_SCHEMA_MAXKEYS];
    for (size_t i = 0; i < nk; i++)
        names[i] = keys[i].name;
    for (size_t p = 0; p < lab_ymap_len(m); p++) {
        yaml_node_t *kn, *vn;
        lab_ymap_pair(sc->d, m, p, &kn, &vn);
        const char *name = lab_yscalar(kn);
        if (!name) {
            lab_schema_err(sc, kn, "keys must be plain names, got %s", lab_ykind(kn));
            continue;
        }
        size_t i = 0;
        while (i < nk && strcmp(keys[i].name, name) != 0)
            i++;
        if (i == nk) {
            char hint[128];
            lab_schema_err(sc, kn, "unknown key '%s' in %s%s", name, where,
                           lab_schema_hint(hint, sizeof hint, name, names, nk));
            continue;
        }
        if (seen[i]) {
            lab_schema_err(sc, kn, "duplicate key '%s' in %s", name, where);
            continue;
        }
        seen[i] = 1;
        if (lab_schema_check_value(sc, &keys[i], vn, pfx))
            slots[i] = vn;
    }
    for (size_t i = 0; i < nk; i++)
        if (keys[i].required && !seen[i])
            lab_schema_err(sc, m, "%s: missing required key '%s'", where, keys[i].name);
    return 1;
}

size_t lab_schema_index(const lab_schema_key *keys, const char *name)
{
    size_t i = 0;
    while (keys[i].name && strcmp(keys[i].name, name) != 0)
        i++;
    assert(keys[i].name);
    return i;
}

/* ---- values --------------------------------------------------------------- */

long lab_schema_long(const yaml_node_t *v, long def)
{
    long x;
    return v && lab_yto_long(v, &x) == 0 ? x : def;
}

double lab_schema_double(const yaml_node_t *v, double def)
{
    double x;
    return v && lab_yto_double(v, &x) == 0 ? x : def;
}

int lab_schema_bool(const yaml_node_t *v, int def)
{
    int x;
    return v && lab_yto_bool(v, &x) == 0 ? x : def;
}

double lab_schema_seconds(const yaml_node_t *v, double def)
{
    double x;
    const char *s = lab_yscalar(v);
    return s && lab_duration_parse(s, &x) == 0 ? x : def;
}

int lab_schema_choice(const yaml_node_t *v, const char *choices, int def)
{
    const char *s = lab_yscalar(v);
    int i = s ? s_choice_index(s, choices) : -1;
    return i >= 0 ? i : def;
}

/* ---- documentation -------------------------------------------------------- */

static const char *s_type_name(lab_schema_type t)
{
    switch (t) {
    case LAB_SK_STR: return "string";
    case LAB_SK_INT: return "integer";
    case LAB_SK_NUM: return "number";
    case LAB_SK_BOOL: return "boolean";
    case LAB_SK_DUR: return "duration";
    case LAB_SK_HOURS: return "hours";
    case LAB_SK_ENUM: return "choice";
    case LAB_SK_MAP: return "mapping";
    case LAB_SK_LIST: return "list";
    case LAB_SK_STRLIST: return "list of strings";
    case LAB_SK_STR_OR_MAP: return "string or mapping";
    case LAB_SK_ANY: return "any";
    }
    return "?";
}

void lab_schema_print(FILE *out, const char *section, const lab_schema_key *keys)
{
    fprintf(out, "\n### `%s`\n\n| key | type | required | bounds | default | meaning |\n"
                 "|---|---|---|---|---|---|\n", section);
    for (const lab_schema_key *k = keys; k->name; k++) {
        char b[96] = "";
        if (k->type == LAB_SK_ENUM) {
            /* "a|b" would split a markdown table cell */
            size_t j = 0;
            for (const char *p = k->choices; *p && j + 3 < sizeof b; p++) {
                if (*p == '|') {
                    b[j++] = ',';
                    b[j++] = ' ';
                } else {
                    b[j++] = *p;
                }
            }
            b[j] = '\0';
        } else if (!isnan(k->min) || !isnan(k->max)) {
            lab_schema_bounds_text(b, sizeof b, k, k->type == LAB_SK_INT);
        }
        fprintf(out, "| `%s` | %s | %s | %s | %s%s%s | %s |\n", k->name, s_type_name(k->type),
                k->required ? "yes" : "no", b, k->def ? "`" : "", k->def ? k->def : "", k->def ? "`" : "",
                k->help);
    }
}
