/* `labloop validate CAMPAIGN.yaml --lab LAB.yaml --worker W.yaml`: each
 * objective's `from: STEP.VALUE` against what the lab's devices say they
 * return for the step's capability — a simulated lab's devices by their
 * driver and model (a sim.spectrometer returns the model's outputs), an
 * exec worker by its `exec.returns: {capability: [names]}`. The campaign's
 * own `devices[].returns` are checked by the config loader.
 * Not for: loading either file's other keys (sim/lab.c, worker_config.c).
 */
#include "orchestrator/validate_returns.h"

#include <stdio.h>
#include <string.h>

#include "common/ytree.h"
#include "sim/lab.h"
#include "common/banned.h"

#define S_MAX_NAMES 64

typedef struct s_seen {
    const char *names[S_MAX_NAMES];
    char owned[S_MAX_NAMES][64];  /* copies of names read from a worker file */
    size_t n;
    int declared;
    char where[512];              /* the files that declared them */
} s_seen;

static void s_add(s_seen *s, const char *name, int copy)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name))
            return;
    if (s->n == S_MAX_NAMES)
        return;
    if (copy) {
        snprintf(s->owned[s->n], sizeof s->owned[s->n], "%s", name);
        name = s->owned[s->n];
    }
    s->names[s->n++] = name;
}

static void s_where(s_seen *s, const char *file)
{
    if (strstr(s->where, file))
        return;
    size_t used = strlen(s->where);
    snprintf(s->where + used, sizeof s->where - used, "%s%s", used ? ", " : "", file);
}

static int s_has_cap(char **caps, size_t n, const char *cap)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(caps[i], cap))
            return 1;
    return 0;
}

static void s_from_lab(const lab_sim_lab *lab, const char *cap, s_seen *s)
{
    for (size_t i = 0; i < lab->n_devices; i++) {
        const lab_sim_device *d = &lab->devices[i];
        if (!s_has_cap(d->capabilities, d->n_capabilities, cap))
            continue;
        const char *names[S_MAX_NAMES];
        long n = lab_sim_device_returns(lab, d, names, S_MAX_NAMES);
        if (n < 0)
            continue; /* depends on the step: nothing to check against */
        s->declared = 1;
        s_where(s, lab->path);
        for (long k = 0; k < n; k++)
            s_add(s, names[k], 0);
    }
}

/* A worker file: its top-level capabilities and exec.returns. */
static int s_from_worker(const char *path, const char *cap, s_seen *s, FILE *errs)
{
    lab_err err = {0};
    lab_ydoc *d = lab_ydoc_load(path, NULL, NULL, &err);
    if (!d) {
        fprintf(errs, "%s\n", err.msg);
        return -1;
    }
    yaml_node_t *root = lab_ydoc_root(d);
    yaml_node_t *caps = lab_yis_map(root) ? lab_ymap_get(d, root, "capabilities") : NULL;
    int has = 0;
    for (size_t i = 0; caps && lab_yis_seq(caps) && i < lab_yseq_len(caps); i++) {
        const char *c = lab_yscalar(lab_yseq_at(d, caps, i));
        has |= c && !strcmp(c, cap);
    }
    yaml_node_t *exec = has ? lab_ymap_get(d, root, "exec") : NULL;
    yaml_node_t *ret = exec && lab_yis_map(exec) ? lab_ymap_get(d, exec, "returns") : NULL;
    int rc = 0;
    if (ret && !lab_yis_map(ret)) {
        lab_yerr(d, ret, errs, &err, "exec.returns must be a mapping {capability: [value names]}");
        rc = -1;
    }
    yaml_node_t *list = ret && lab_yis_map(ret) ? lab_ymap_get(d, ret, cap) : NULL;
    if (list && !lab_yis_seq(list)) {
        lab_yerr(d, list, errs, &err, "exec.returns.%s must be a list of value names", cap);
        rc = -1;
    } else if (list) {
        s->declared = 1;
        s_where(s, path);
        for (size_t i = 0; i < lab_yseq_len(list); i++) {
            const char *name = lab_yscalar(lab_yseq_at(d, list, i));
            if (name && *name)
                s_add(s, name, 1);
        }
    }
    lab_ydoc_destroy(&d);
    return rc;
}

int lab_validate_returns(const lab_campaign_cfg *cfg, const char *const *labs, size_t n_labs,
                         const char *const *workers, size_t n_workers, FILE *errs)
{
    lab_sim_lab *loaded[16] = {0};
    int bad = 0;
    for (size_t i = 0; i < n_labs && i < 16; i++) {
        lab_err err = {0};
        if (!(loaded[i] = lab_sim_lab_load(labs[i], errs, &err)))
            bad = 1;
    }
    for (size_t o = 0; !bad && o < cfg->n_objectives; o++) {
        const lab_cfg_objective *ob = &cfg->objectives[o];
        int si = ob->from_step ? lab_config_step(cfg, ob->from_step) : -1;
        if (si < 0)
            continue;
        const char *cap = cfg->steps[si].capability;
        s_seen s = {0};
        for (size_t i = 0; i < n_labs && i < 16; i++)
            s_from_lab(loaded[i], cap, &s);
        for (size_t i = 0; i < n_workers; i++)
            if (s_from_worker(workers[i], cap, &s, errs) < 0)
                bad = 1;
        int found = 0;
        for (size_t k = 0; k < s.n; k++)
            found |= !strcmp(s.names[k], ob->from_value);
        if (!s.declared || found)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (size_t k = 0; k < s.n && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", s.names[k]);
        fprintf(errs, "%s:%d:%d: objective '%s': step '%s' (capability %s) returns %s in %s, not '%s'\n",
                cfg->path, ob->from_line, ob->from_col, ob->name, ob->from_step, cap, s.n ? list : "no values",
                s.where, ob->from_value);
        bad = 1;
    }
    for (size_t i = 0; i < n_labs && i < 16; i++)
        lab_sim_lab_destroy(&loaded[i]);
    return bad ? -1 : 0;
}
