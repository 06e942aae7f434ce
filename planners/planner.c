/* The generic planner layer: picks a kind from a table, keeps the history of
 * tells, runs the initial design before the main kind, and numbers proposals
 * so that a rebuilt planner continues where the old one stopped.
 *
 * Not here: how points are chosen (random.c, sobol.c, gp.c), I/O, or
 * persistence (the orchestrator re-tells history from the hub on restart).
 *
 * Resume rule. Every proposal has a number 0, 1, 2, ... and the sampling
 * kinds map numbers to points deterministically (given seed and space). Before
 * an ask, the next number is
 *     max(numbers used by this object, n_told + n_pending)
 * so a planner re-created with the same seed, re-told its n outcomes and asked
 * with the same pending points proposes exactly what the old one would have.
 * This holds when every proposal ends up either told (measured or failed) or
 * pending; a proposal dropped without a tell shifts the rebuilt planner back
 * by one. The initial design uses numbers 0 .. initial_count-1, the main kind
 * continues with the same numbering (so sobol after sobol does not repeat).
 */
#include "planners/planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planners/planner_impl.h"
#include "common/banned.h"

static const lab_planner_ops *const s_ops[] = {
    &lab_planner_random_ops,
    &lab_planner_sobol_ops,
    &lab_planner_gp_ops,
};
#define S_N_OPS (sizeof s_ops / sizeof s_ops[0])

static const char *const s_kind_names[] = {"random", "sobol", "gp", NULL};

struct lab_planner {
    const lab_space *space;
    size_t d, m;
    uint64_t seed;
    int maximize[LAB_PLANNER_MAX_OBJECTIVES];
    const lab_planner_ops *main_ops, *init_ops;
    void *main_impl, *init_impl;
    size_t initial_count;
    /* history */
    double *hx, *hy;
    lab_outcome *hout;
    size_t n_hist, cap_hist;
    /* proposal numbers used so far by this object */
    size_t next_index;
    /* scratch: pending + points already chosen in this ask */
    double *avoid;
    size_t cap_avoid;
    char acquisition[16];
    double ucb_beta;
    size_t gp_refit_every;
    char obj_names[LAB_PLANNER_MAX_OBJECTIVES][48];
    const char *obj_name_ptr[LAB_PLANNER_MAX_OBJECTIVES];
    lab_err err;
};

const char *const *lab_planner_kinds(void)
{
    return s_kind_names;
}

static const lab_planner_ops *s_find_ops(const char *kind)
{
    for (size_t i = 0; i < S_N_OPS; i++)
        if (strcmp(s_ops[i]->name, kind) == 0)
            return s_ops[i];
    return NULL;
}

static int s_unknown_kind(lab_err *err, const char *what, const char *kind)
{
    char known[128] = "";
    size_t used = 0;
    for (size_t i = 0; i < S_N_OPS && used < sizeof known; i++) {
        int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                         s_ops[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return lab_err_set(err, LAB_ECONFIG, "unknown %s '%s' (known: %s)", what, kind, known);
}

static lab_planner_ctx s_ctx(const lab_planner *p)
{
    lab_planner_ctx c = {
        .space = p->space,
        .seed = p->seed,
        .n_objectives = p->m,
        .maximize = p->maximize,
        .hist = {.n = p->n_hist, .d = p->d, .m = p->m, .x = p->hx, .y = p->hy,
                 .outcome = p->hout},
        .acquisition = p->acquisition[0] ? p->acquisition : NULL,
        .ucb_beta = p->ucb_beta,
        .gp_refit_every = p->gp_refit_every,
        .objective_names = p->obj_name_ptr,
    };
    return c;
}

lab_planner *lab_planner_new(const lab_space *space, const lab_planner_opts *opts,
                             lab_err *err)
{
    if (!space || !opts) {
        lab_err_set(err, LAB_EINVAL, "lab_planner_new: space and opts must not be NULL");
        return NULL;
    }
    if (!opts->kind) {
        lab_err_set(err, LAB_ECONFIG, "planner kind is not set (known: random, sobol, gp)");
        return NULL;
    }
    const lab_planner_ops *main_ops = s_find_ops(opts->kind);
    if (!main_ops) {
        s_unknown_kind(err, "planner kind", opts->kind);
        return NULL;
    }
    const lab_planner_ops *init_ops = NULL;
    const char *init_kind = opts->initial_kind;
    size_t init_count = opts->initial_count;
    if (!init_kind && main_ops == &lab_planner_gp_ops) {
        /* a model-based kind without an initial design starts from a
         * space-filling one (an explicit count of 0 turns it off) */
        init_kind = "sobol";
        init_count = lab_planner_default_initial(lab_space_dims(space));
    }
    if (init_kind && init_count > 0) {
        init_ops = s_find_ops(init_kind);
        if (!init_ops) {
            s_unknown_kind(err, "initial design kind", init_kind);
            return NULL;
        }
    }
    if (opts->n_objectives < 1 || opts->n_objectives > LAB_PLANNER_MAX_OBJECTIVES) {
        lab_err_set(err, LAB_ECONFIG, "planner: %zu objectives given, must be 1 to %d",
                    opts->n_objectives, LAB_PLANNER_MAX_OBJECTIVES);
        return NULL;
    }
    if (lab_space_dims(space) == 0) {
        lab_err_set(err, LAB_ECONFIG, "planner: the search space has no dimensions");
        return NULL;
    }
    lab_planner *p = calloc(1, sizeof *p);
    if (!p) {
        lab_err_set(err, LAB_ENOMEM, "out of memory creating planner '%s'", opts->kind);
        return NULL;
    }
    p->space = space;
    p->d = lab_space_dims(space);
    p->m = opts->n_objectives;
    p->seed = opts->seed;
    for (size_t i = 0; i < p->m; i++) {
        p->maximize[i] = opts->maximize[i] ? 1 : 0;
        if (opts->objective_names[i])
            snprintf(p->obj_names[i], sizeof p->obj_names[i], "%s", opts->objective_names[i]);
        else
            snprintf(p->obj_names[i], sizeof p->obj_names[i], "objective %zu", i + 1);
        p->obj_name_ptr[i] = p->obj_names[i];
    }
    p->main_ops = main_ops;
    p->init_ops = init_ops;
    p->initial_count = init_ops ? init_count : 0;
    if (opts->acquisition &&
        snprintf(p->acquisition, sizeof p->acquisition, "%s", opts->acquisition) >=
            (int)sizeof p->acquisition) {
        lab_err_set(err, LAB_ECONFIG, "planner: acquisition '%s' is too long (ei, log_ei, ucb)",
                    opts->acquisition);
        goto fail;
    }
    p->ucb_beta = opts->ucb_beta;
    p->gp_refit_every = opts->gp_refit_every;
    lab_planner_ctx ctx = s_ctx(p);
    if (!(p->main_impl = main_ops->new(&ctx, err)))
        goto fail;
    if (init_ops && !(p->init_impl = init_ops->new(&ctx, err)))
        goto fail;
    return p;
fail:
    lab_planner_destroy(&p);
    return NULL;
}

size_t lab_planner_default_initial(size_t d)
{
    return 2 * (d + 1) > 10 ? 2 * (d + 1) : 10;
}

void lab_planner_destroy(lab_planner **pp)
{
    if (!pp || !*pp)
        return;
    lab_planner *p = *pp;
    if (p->init_impl)
        p->init_ops->destroy(p->init_impl);
    if (p->main_impl)
        p->main_ops->destroy(p->main_impl);
    free(p->hx);
    free(p->hy);
    free(p->hout);
    free(p->avoid);
    free(p);
    *pp = NULL;
}

const char *lab_planner_name(const lab_planner *p)
{
    return p ? p->main_ops->name : "(null)";
}

bool lab_planner_fits_model(const lab_planner *p)
{
    return p && p->main_ops->fits_model;
}

const lab_err *lab_planner_last_error(const lab_planner *p)
{
    return p ? &p->err : NULL;
}

size_t lab_planner_n_told(const lab_planner *p)
{
    return p ? p->n_hist : 0;
}

int lab_planner_point_in(const double *x, const double *pts, size_t n, size_t d)
{
    for (size_t j = 0; j < n; j++) {
        const double *q = pts + j * d;
        size_t i = 0;
        while (i < d && q[i] == x[i])
            i++;
        if (i == d)
            return 1;
    }
    return 0;
}

int lab_planner_tell(lab_planner *p, const double *x, const double *y, lab_outcome outcome)
{
    if (!p)
        return LAB_EINVAL;
    lab_err_clear(&p->err);
    if (!x)
        return lab_err_set(&p->err, LAB_EINVAL, "planner tell: x is NULL");
    if (outcome != LAB_OUTCOME_MEASURED && outcome != LAB_OUTCOME_FAILED)
        return lab_err_set(&p->err, LAB_EINVAL, "planner tell: unknown outcome %d",
                           (int)outcome);
    for (size_t i = 0; i < p->d; i++)
        if (!isfinite(x[i]))
            return lab_err_set(&p->err, LAB_EINVAL,
                               "planner tell: coordinate '%s' is not a finite number",
                               lab_space_dim(p->space, i)->name);
    if (outcome == LAB_OUTCOME_MEASURED) {
        if (!y)
            return lab_err_set(&p->err, LAB_EINVAL,
                               "planner tell: a measured outcome needs %zu objective value(s)",
                               p->m);
        for (size_t j = 0; j < p->m; j++)
            if (!isfinite(y[j]))
                return lab_err_set(&p->err, LAB_EINVAL,
                                   "planner tell: objective %zu is not a finite number "
                                   "(tell a failed outcome instead)", j);
    }
    if (p->n_hist == p->cap_hist) {
        size_t cap = p->cap_hist ? 2 * p->cap_hist : 16;
        double *hx = realloc(p->hx, cap * p->d * sizeof *hx);
        if (hx)
            p->hx = hx;
        double *hy = realloc(p->hy, cap * p->m * sizeof *hy);
        if (hy)
            p->hy = hy;
        lab_outcome *ho = realloc(p->hout, cap * sizeof *ho);
        if (ho)
            p->hout = ho;
        if (!hx || !hy || !ho)
            return lab_err_set(&p->err, LAB_ENOMEM, "planner tell: out of memory (%zu told)",
                               p->n_hist);
        p->cap_hist = cap;
    }
    memcpy(p->hx + p->n_hist * p->d, x, p->d * sizeof *x);
    for (size_t j = 0; j < p->m; j++)
        p->hy[p->n_hist * p->m + j] = outcome == LAB_OUTCOME_MEASURED ? y[j] : NAN;
    p->hout[p->n_hist] = outcome;
    p->n_hist++;
    lab_planner_ctx ctx = s_ctx(p);
    int rc = 0;
    if (p->main_ops->tell && (rc = p->main_ops->tell(p->main_impl, &ctx, &p->err)) < 0)
        return rc;
    if (p->init_ops && p->init_ops->tell &&
        (rc = p->init_ops->tell(p->init_impl, &ctx, &p->err)) < 0)
        return rc;
    return 0;
}

int lab_planner_ask(lab_planner *p, size_t k, const double *pending, size_t n_pending,
                    double *out, lab_ask_info *info)
{
    if (!p)
        return LAB_EINVAL;
    lab_err_clear(&p->err);
    if (k == 0)
        return 0;
    if (!out)
        return lab_err_set(&p->err, LAB_EINVAL, "planner ask: out is NULL");
    if (n_pending > 0 && !pending)
        return lab_err_set(&p->err, LAB_EINVAL, "planner ask: %zu pending points but NULL",
                           n_pending);
    size_t need = (n_pending + k) * p->d;
    if (need > p->cap_avoid) {
        double *a = realloc(p->avoid, need * sizeof *a);
        if (!a)
            return lab_err_set(&p->err, LAB_ENOMEM, "planner ask: out of memory");
        p->avoid = a;
        p->cap_avoid = need;
    }
    if (n_pending)
        memcpy(p->avoid, pending, n_pending * p->d * sizeof *pending);

    size_t index = p->next_index;
    if (p->n_hist + n_pending > index)
        index = p->n_hist + n_pending;

    lab_planner_ctx ctx = s_ctx(p);
    size_t done = 0;
    while (done < k) {
        int initial = p->init_ops && index < p->initial_count;
        const lab_planner_ops *ops = initial ? p->init_ops : p->main_ops;
        void *impl = initial ? p->init_impl : p->main_impl;
        size_t chunk = k - done;
        if (initial && chunk > p->initial_count - index)
            chunk = p->initial_count - index;
        lab_ask_info *ci = info ? info + done : NULL;
        for (size_t j = 0; ci && j < chunk; j++) {
            memset(&ci[j], 0, sizeof ci[j]);
            snprintf(ci[j].origin, sizeof ci[j].origin, "%s", initial ? "initial" : "planner");
            ci[j].acquisition = ci[j].predicted_mean = ci[j].predicted_sd = NAN;
            ci[j].p_success = NAN;
            for (size_t o = 0; o < LAB_PLANNER_MAX_OBJECTIVES; o++)
                ci[j].objective_mean[o] = ci[j].objective_sd[o] = NAN;
        }
        double *co = out + done * p->d;
        int rc = ops->ask(impl, &ctx, &index, chunk, p->avoid, n_pending + done, co, ci,
                          &p->err);
        if (rc < 0) {
            lab_err_prefix(&p->err, "planner '%s'%s: ", ops->name,
                           initial ? " (initial design)" : "");
            return rc;
        }
        memcpy(p->avoid + (n_pending + done) * p->d, co, chunk * p->d * sizeof *co);
        done += chunk;
    }
    p->next_index = index;
    return 0;
}
