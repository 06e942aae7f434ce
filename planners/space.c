/* The search space: dimensions, the linear-constraint parser, the mapping
 * between native units and the unit cube, feasibility and value formatting.
 *
 * Not here: sampling (random.c, sobol.c), any I/O, or config parsing (the
 * config layer calls lab_space_add_* with values it has already read).
 *
 * Constraint grammar (whitespace is free):
 *   constraint := side cmp side
 *   side       := [+|-] term { (+|-) term }
 *   term       := factor { [*] factor }     at most one factor is a name
 *   factor     := number | name
 *   cmp        := <= | >= | < | >
 * Everything is moved to the left and stored as sum coef*x <= bound. '<' and
 * '>' are stored like '<=' and '>=': for real dimensions the boundary has
 * measure zero, and lab_constraint has no field for strictness.
 */
#include "planners/space.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* Integers beyond 2^53 cannot be held exactly in a double. */
#define S_MAX_EXACT_INT 9007199254740992.0
/* Relative slack for constraint checks, so that points written by hand
 * (a + b <= 1 with 0.1 + 0.9) are not refused over rounding. */
#define S_FEAS_RTOL 1e-12

struct lab_space {
    lab_dim *dims;
    size_t n_dims, cap_dims;
    lab_constraint *cons;
    size_t n_cons, cap_cons;
};

static char *s_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

lab_space *lab_space_new(void)
{
    return calloc(1, sizeof(lab_space));
}

static void s_dim_release(lab_dim *d)
{
    free(d->name);
    free(d->unit);
    for (size_t i = 0; i < d->n_choices; i++)
        free(d->choices[i]);
    free(d->choices);
}

void lab_space_destroy(lab_space **ps)
{
    if (!ps || !*ps)
        return;
    lab_space *s = *ps;
    for (size_t i = 0; i < s->n_dims; i++)
        s_dim_release(&s->dims[i]);
    free(s->dims);
    for (size_t i = 0; i < s->n_cons; i++) {
        free(s->cons[i].coef);
        free(s->cons[i].text);
    }
    free(s->cons);
    free(s);
    *ps = NULL;
}

static int s_valid_name(const char *name)
{
    if (!name || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return 0;
    return 1;
}

/* Checks the name and makes room for one more dimension (also in every
 * constraint's coefficient array, so dimensions may follow constraints). */
static int s_prepare_dim(lab_space *s, const char *name, lab_err *err)
{
    if (!s)
        return lab_err_set(err, LAB_EINVAL, "space is NULL");
    if (!s_valid_name(name))
        return lab_err_set(err, LAB_ECONFIG,
                           "dimension name '%s' is not an identifier "
                           "(letters, digits and '_', not starting with a digit)",
                           name ? name : "(null)");
    if (lab_space_find(s, name) >= 0)
        return lab_err_set(err, LAB_ECONFIG, "dimension '%s' is defined twice", name);
    if (s->n_dims == s->cap_dims) {
        size_t cap = s->cap_dims ? 2 * s->cap_dims : 8;
        lab_dim *d = realloc(s->dims, cap * sizeof *d);
        if (!d)
            return lab_err_set(err, LAB_ENOMEM, "out of memory adding dimension '%s'", name);
        s->dims = d;
        s->cap_dims = cap;
    }
    for (size_t i = 0; i < s->n_cons; i++) {
        double *c = realloc(s->cons[i].coef, (s->n_dims + 1) * sizeof *c);
        if (!c)
            return lab_err_set(err, LAB_ENOMEM, "out of memory adding dimension '%s'", name);
        c[s->n_dims] = 0.0;
        s->cons[i].coef = c;
    }
    return 0;
}

int lab_space_add_real(lab_space *s, const char *name, double low, double high,
                       int log_scale, const char *unit, lab_err *err)
{
    int rc = s_prepare_dim(s, name, err);
    if (rc < 0)
        return rc;
    if (!isfinite(low) || !isfinite(high))
        return lab_err_set(err, LAB_ECONFIG, "dimension '%s': bounds must be finite numbers",
                           name);
    if (!(low < high))
        return lab_err_set(err, LAB_ECONFIG, "dimension '%s': 'low' (%g) must be below 'high' (%g)",
                           name, low, high);
    if (log_scale && low <= 0)
        return lab_err_set(err, LAB_ECONFIG,
                           "dimension '%s': a log scale needs 'low' > 0 (got %g)", name, low);
    lab_dim d = {0};
    d.name = s_strdup(name);
    d.unit = unit ? s_strdup(unit) : NULL;
    if (!d.name || (unit && !d.unit)) {
        s_dim_release(&d);
        return lab_err_set(err, LAB_ENOMEM, "out of memory adding dimension '%s'", name);
    }
    d.type = LAB_DIM_REAL;
    d.low = low;
    d.high = high;
    d.log_scale = log_scale ? 1 : 0;
    s->dims[s->n_dims++] = d;
    return 0;
}

int lab_space_add_integer(lab_space *s, const char *name, long low, long high,
                          const char *unit, lab_err *err)
{
    int rc = s_prepare_dim(s, name, err);
    if (rc < 0)
        return rc;
    if (!(low < high))
        return lab_err_set(err, LAB_ECONFIG,
                           "dimension '%s': 'low' (%ld) must be below 'high' (%ld)", name, low,
                           high);
    if (fabs((double)low) > S_MAX_EXACT_INT || fabs((double)high) > S_MAX_EXACT_INT)
        return lab_err_set(err, LAB_ECONFIG,
                           "dimension '%s': integer bounds must lie within +-2^53", name);
    lab_dim d = {0};
    d.name = s_strdup(name);
    d.unit = unit ? s_strdup(unit) : NULL;
    if (!d.name || (unit && !d.unit)) {
        s_dim_release(&d);
        return lab_err_set(err, LAB_ENOMEM, "out of memory adding dimension '%s'", name);
    }
    d.type = LAB_DIM_INTEGER;
    d.low = (double)low;
    d.high = (double)high;
    s->dims[s->n_dims++] = d;
    return 0;
}

int lab_space_add_categorical(lab_space *s, const char *name, const char *const *choices,
                              size_t n_choices, lab_err *err)
{
    int rc = s_prepare_dim(s, name, err);
    if (rc < 0)
        return rc;
    if (!choices || n_choices < 2)
        return lab_err_set(err, LAB_ECONFIG,
                           "dimension '%s': a categorical needs at least 2 choices (got %zu)",
                           name, choices ? n_choices : (size_t)0);
    for (size_t i = 0; i < n_choices; i++) {
        if (!choices[i] || !choices[i][0])
            return lab_err_set(err, LAB_ECONFIG, "dimension '%s': choice %zu is empty", name, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(choices[i], choices[j]) == 0)
                return lab_err_set(err, LAB_ECONFIG,
                                   "dimension '%s': choice '%s' is listed twice", name,
                                   choices[i]);
    }
    lab_dim d = {0};
    d.type = LAB_DIM_CATEGORICAL;
    d.name = s_strdup(name);
    d.choices = calloc(n_choices, sizeof *d.choices);
    if (!d.name || !d.choices)
        goto nomem;
    d.n_choices = n_choices;
    for (size_t i = 0; i < n_choices; i++)
        if (!(d.choices[i] = s_strdup(choices[i])))
            goto nomem;
    d.low = 0;
    d.high = (double)(n_choices - 1);
    s->dims[s->n_dims++] = d;
    return 0;
nomem:
    s_dim_release(&d);
    return lab_err_set(err, LAB_ENOMEM, "out of memory adding dimension '%s'", name);
}

/* ---- constraint parser ------------------------------------------------ */

typedef enum { S_TOK_END, S_TOK_NUM, S_TOK_NAME, S_TOK_PLUS, S_TOK_MINUS, S_TOK_STAR,
               S_TOK_CMP } s_tok_kind;

typedef struct {
    s_tok_kind kind;
    size_t pos, len;
    double num;
    int cmp_ge;            /* S_TOK_CMP: 1 for >= / >, 0 for <= / < */
} s_tok;

typedef struct {
    const lab_space *s;
    const char *expr;
    size_t pos;
    s_tok tok;             /* current token */
    lab_err *err;
} s_parser;

static int s_fail(s_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(s_parser *p, const char *fmt, ...)
{
    char msg[LAB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lab_err_set(p->err, LAB_ECONFIG, "constraint '%s': %s", p->expr, msg);
}

/* Reads the next token into p->tok. */
static int s_next(s_parser *p)
{
    const char *e = p->expr;
    while (e[p->pos] && isspace((unsigned char)e[p->pos]))
        p->pos++;
    s_tok *t = &p->tok;
    memset(t, 0, sizeof *t);
    t->pos = p->pos;
    char c = e[p->pos];
    if (!c) {
        t->kind = S_TOK_END;
        return 0;
    }
    /* Only call strtod on something that starts like a decimal number, so
     * names such as "inf_rate" or "nanoparticles" stay names. */
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)e[p->pos + 1]))) {
        char *end = NULL;
        double v = strtod(e + p->pos, &end);
        t->kind = S_TOK_NUM;
        t->len = (size_t)(end - (e + p->pos));
        t->num = v;
        p->pos += t->len;
        if (!isfinite(v))
            return s_fail(p, "number '%.*s' at column %zu is out of range", (int)t->len,
                          e + t->pos, t->pos);
        return 0;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t n = 0;
        while (isalnum((unsigned char)e[p->pos + n]) || e[p->pos + n] == '_')
            n++;
        t->kind = S_TOK_NAME;
        t->len = n;
        p->pos += n;
        return 0;
    }
    t->len = 1;
    switch (c) {
    case '+': t->kind = S_TOK_PLUS; break;
    case '-': t->kind = S_TOK_MINUS; break;
    case '*':
        if (e[p->pos + 1] == '*')
            return s_fail(p, "'**' at column %zu: powers are not linear", t->pos);
        t->kind = S_TOK_STAR;
        break;
    case '<':
    case '>':
        t->kind = S_TOK_CMP;
        t->cmp_ge = c == '>';
        if (e[p->pos + 1] == '=')
            t->len = 2;
        break;
    case '=':
        if (e[p->pos + 1] == '<' || e[p->pos + 1] == '>')
            return s_fail(p, "'=%c' at column %zu is not a comparison: write '%c='", e[p->pos + 1], t->pos,
                          e[p->pos + 1]);
        return s_fail(p, "'%s' at column %zu: equality constraints are not supported; "
                         "write two inequalities (<= and >=)",
                      e[p->pos + 1] == '=' ? "==" : "=", t->pos);
    case '/':
        return s_fail(p, "'/' at column %zu is not supported: write the coefficient as a "
                         "number (e.g. 0.5 * x)", t->pos);
    default:
        return s_fail(p, "unexpected character '%c' at column %zu (a constraint is a linear "
                         "inequality such as 'a + 0.5 * b <= 1')", c, t->pos);
    }
    p->pos += t->len;
    return 0;
}

static const char *s_tok_desc(const s_parser *p, char *buf, size_t n)
{
    if (p->tok.kind == S_TOK_END)
        snprintf(buf, n, "the end of the expression");
    else
        snprintf(buf, n, "'%.*s'", (int)p->tok.len, p->expr + p->tok.pos);
    return buf;
}

/* The names a constraint may use, for "unknown dimension" messages. */
static void s_known_names(const lab_space *s, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_dims && used < n; i++) {
        if (s->dims[i].type == LAB_DIM_CATEGORICAL)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", s->dims[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, n, "none: the space has no real or integer dimensions");
}

/* Parses one term and adds sign*term to coef (or to *constant). */
static int s_parse_term(s_parser *p, double sign, double *coef, double *constant)
{
    double value = sign;
    int dim = -1;
    int need_factor = 1;
    char what[96];
    for (;;) {
        if (p->tok.kind == S_TOK_NUM) {
            value *= p->tok.num;
        } else if (p->tok.kind == S_TOK_NAME) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)p->tok.len, p->expr + p->tok.pos);
            int i = lab_space_find(p->s, name);
            if (i < 0) {
                char known[256];
                s_known_names(p->s, known, sizeof known);
                return s_fail(p, "unknown dimension '%s' at column %zu (known: %s)", name,
                              p->tok.pos, known);
            }
            if (p->s->dims[i].type == LAB_DIM_CATEGORICAL)
                return s_fail(p, "dimension '%s' at column %zu is categorical and cannot "
                                 "appear in a linear constraint", name, p->tok.pos);
            if (dim >= 0)
                return s_fail(p, "non-linear term at column %zu: '%s' multiplied by '%s'; "
                                 "only linear constraints are supported",
                              p->tok.pos, p->s->dims[dim].name, name);
            dim = i;
        } else if (need_factor) {
            return s_fail(p, "expected a number or a dimension name at column %zu, found %s",
                          p->tok.pos, s_tok_desc(p, what, sizeof what));
        } else {
            break;
        }
        int rc = s_next(p);
        if (rc < 0)
            return rc;
        need_factor = 0;
        if (p->tok.kind == S_TOK_STAR) {
            if ((rc = s_next(p)) < 0)
                return rc;
            need_factor = 1;
        } else if (p->tok.kind != S_TOK_NUM && p->tok.kind != S_TOK_NAME) {
            break;
        }
        /* a number or name right after a factor: implicit product ("2 x", "2x") */
    }
    if (dim >= 0)
        coef[dim] += value;
    else
        *constant += value;
    return 0;
}

/* Parses one side up to a comparison or the end. side_sign: +1 left, -1 right. */
static int s_parse_side(s_parser *p, double side_sign, double *coef, double *constant)
{
    char what[96];
    double sign = 1.0;
    if (p->tok.kind == S_TOK_PLUS || p->tok.kind == S_TOK_MINUS) {
        sign = p->tok.kind == S_TOK_MINUS ? -1.0 : 1.0;
        int rc = s_next(p);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        int rc = s_parse_term(p, side_sign * sign, coef, constant);
        if (rc < 0)
            return rc;
        if (p->tok.kind == S_TOK_PLUS || p->tok.kind == S_TOK_MINUS) {
            sign = p->tok.kind == S_TOK_MINUS ? -1.0 : 1.0;
            if ((rc = s_next(p)) < 0)
                return rc;
            continue;
        }
        if (p->tok.kind == S_TOK_CMP || p->tok.kind == S_TOK_END)
            return 0;
        return s_fail(p, "expected '+', '-' or a comparison at column %zu, found %s",
                      p->tok.pos, s_tok_desc(p, what, sizeof what));
    }
}

int lab_space_add_constraint(lab_space *s, const char *expr, lab_err *err)
{
    if (!s || !expr)
        return lab_err_set(err, LAB_EINVAL, "lab_space_add_constraint: NULL argument");
    size_t d = s->n_dims;
    double *coef = calloc(d ? d : 1, sizeof *coef);
    char *text = s_strdup(expr);
    if (!coef || !text) {
        free(coef);
        free(text);
        return lab_err_set(err, LAB_ENOMEM, "out of memory parsing constraint '%s'", expr);
    }
    s_parser p = {.s = s, .expr = expr, .err = err};
    double constant = 0.0; /* of (left - right) */
    char what[96];
    int rc = s_next(&p);
    if (rc < 0)
        goto fail;
    if (p.tok.kind == S_TOK_END) {
        rc = s_fail(&p, "empty constraint");
        goto fail;
    }
    if ((rc = s_parse_side(&p, 1.0, coef, &constant)) < 0)
        goto fail;
    if (p.tok.kind != S_TOK_CMP) {
        rc = s_fail(&p, "missing comparison: expected '<=', '>=' or '<' "
                        "(e.g. 'a + 0.5 * b <= 1')");
        goto fail;
    }
    int ge = p.tok.cmp_ge;
    if ((rc = s_next(&p)) < 0)
        goto fail;
    if ((rc = s_parse_side(&p, -1.0, coef, &constant)) < 0)
        goto fail;
    if (p.tok.kind != S_TOK_END) {
        rc = s_fail(&p, "second comparison %s at column %zu: write one inequality per "
                        "constraint", s_tok_desc(&p, what, sizeof what), p.tok.pos);
        goto fail;
    }
    /* left - right <= 0  ->  sum coef*x <= -constant */
    double bound = -constant;
    if (ge) {
        for (size_t i = 0; i < d; i++)
            coef[i] = -coef[i];
        bound = -bound;
    }
    int any = 0;
    double lo = 0.0; /* smallest possible left side inside the box */
    for (size_t i = 0; i < d; i++) {
        if (coef[i] != 0.0)
            any = 1;
        if (coef[i] == 0.0)
            continue;
        double a = coef[i] * s->dims[i].low, b = coef[i] * s->dims[i].high;
        lo += a < b ? a : b;
    }
    if (!any) {
        rc = s_fail(&p, "no dimension has a nonzero coefficient (the terms cancel or there "
                        "are none)");
        goto fail;
    }
    if (lo > bound + S_FEAS_RTOL * (fabs(lo) + fabs(bound) + 1.0)) {
        /* Say it the way it was written: a '>=' was negated above. */
        if (ge)
            rc = s_fail(&p, "can never be satisfied within the dimension bounds "
                            "(left side minus right side is at most %g, never 0 or more)", bound - lo);
        else
            rc = s_fail(&p, "can never be satisfied within the dimension bounds "
                            "(left side minus right side is at least %g, never 0 or less)", lo - bound);
        goto fail;
    }
    if (s->n_cons == s->cap_cons) {
        size_t cap = s->cap_cons ? 2 * s->cap_cons : 4;
        lab_constraint *c = realloc(s->cons, cap * sizeof *c);
        if (!c) {
            rc = lab_err_set(err, LAB_ENOMEM, "out of memory adding constraint '%s'", expr);
            goto fail;
        }
        s->cons = c;
        s->cap_cons = cap;
    }
    s->cons[s->n_cons++] = (lab_constraint){.coef = coef, .bound = bound, .text = text};
    return 0;
fail:
    free(coef);
    free(text);
    return rc;
}

/* ---- queries and conversions ------------------------------------------ */

size_t lab_space_dims(const lab_space *s)
{
    return s ? s->n_dims : 0;
}

const lab_dim *lab_space_dim(const lab_space *s, size_t i)
{
    return s && i < s->n_dims ? &s->dims[i] : NULL;
}

int lab_space_find(const lab_space *s, const char *name)
{
    if (!s || !name)
        return -1;
    for (size_t i = 0; i < s->n_dims; i++)
        if (strcmp(s->dims[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t lab_space_n_constraints(const lab_space *s)
{
    return s ? s->n_cons : 0;
}

const lab_constraint *lab_space_constraint(const lab_space *s, size_t i)
{
    return s && i < s->n_cons ? &s->cons[i] : NULL;
}

static double s_clamp01(double u)
{
    if (!(u > 0.0)) /* also NaN */
        return 0.0;
    return u < 1.0 ? u : 1.0;
}

/* Integers and categoricals: [0,1] is cut into n equal cells, one per value;
 * u = 1 belongs to the last cell. */
void lab_space_from_unit(const lab_space *s, const double *u, double *x)
{
    for (size_t i = 0; i < s->n_dims; i++) {
        const lab_dim *d = &s->dims[i];
        double t = s_clamp01(u[i]);
        double v;
        if (d->type == LAB_DIM_REAL) {
            if (t == 0.0)
                v = d->low; /* exact ends: exp(log(low)) may differ from low */
            else if (t == 1.0)
                v = d->high;
            else if (d->log_scale)
                v = exp(log(d->low) + t * (log(d->high) - log(d->low)));
            else
                v = d->low + t * (d->high - d->low);
            if (v < d->low)
                v = d->low;
            if (v > d->high)
                v = d->high;
        } else {
            double n = d->high - d->low + 1.0;
            v = floor(d->low + t * n);
            if (v > d->high)
                v = d->high;
            if (v < d->low)
                v = d->low;
        }
        x[i] = v;
    }
}

/* Integers and categoricals map to the centre of their cell, so
 * from_unit(to_unit(x)) == x. */
void lab_space_to_unit(const lab_space *s, const double *x, double *u)
{
    for (size_t i = 0; i < s->n_dims; i++) {
        const lab_dim *d = &s->dims[i];
        double t;
        if (d->type == LAB_DIM_REAL) {
            if (d->log_scale)
                t = x[i] > 0 ? (log(x[i]) - log(d->low)) / (log(d->high) - log(d->low)) : 0.0;
            else
                t = (x[i] - d->low) / (d->high - d->low);
        } else {
            t = (x[i] - d->low + 0.5) / (d->high - d->low + 1.0);
        }
        u[i] = s_clamp01(t);
    }
}

int lab_space_feasible(const lab_space *s, const double *x)
{
    for (size_t i = 0; i < s->n_dims; i++) {
        const lab_dim *d = &s->dims[i];
        if (!isfinite(x[i]) || x[i] < d->low || x[i] > d->high)
            return 0;
        if (d->type != LAB_DIM_REAL && x[i] != floor(x[i]))
            return 0;
    }
    for (size_t c = 0; c < s->n_cons; c++) {
        const lab_constraint *k = &s->cons[c];
        double lhs = 0.0, scale = fabs(k->bound);
        for (size_t i = 0; i < s->n_dims; i++) {
            lhs += k->coef[i] * x[i];
            scale += fabs(k->coef[i] * x[i]);
        }
        if (lhs > k->bound + S_FEAS_RTOL * (scale + 1.0))
            return 0;
    }
    return 1;
}

/* Reals: the shortest of %.15g / %.17g that reads back as the same double,
 * so the text is both readable and exact for JSON. */
const char *lab_space_format(const lab_space *s, size_t i, double v, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    const lab_dim *d = lab_space_dim(s, i);
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
    } else if (d && d->type == LAB_DIM_CATEGORICAL) {
        if (v >= 0 && v < (double)d->n_choices && v == floor(v))
            snprintf(buf, n, "%s", d->choices[(size_t)v]);
        else
            snprintf(buf, n, "<invalid choice %g>", v);
    } else if (d && d->type == LAB_DIM_INTEGER) {
        snprintf(buf, n, "%.0f", v);
    } else {
        snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, n, "%.17g", v);
    }
    return buf;
}
