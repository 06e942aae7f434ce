/* `labloop validate`: load a campaign config, report every problem as
 * file:line:col, or print a summary of what the campaign will do.
 * Not for: checking that devices are reachable (that is `labloop run`); the
 * checks themselves live in config.c.
 */
#include "orchestrator/cli/commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/config.h"
#include "orchestrator/notify.h"
#include "orchestrator/validate_returns.h"

#include "common/keys.h"
#include "common/banned.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop validate CAMPAIGN.yaml [--lab LAB.yaml] [--worker WORKER.yaml] [--quiet]\n"
            "       labloop validate --keys\n"
            "\n"
            "Check a campaign config: every key, type and bound, the workflow (no\n"
            "unknown steps, no cycles), objectives, devices for every capability and\n"
            "the \"${dimension}\" templates. Every problem is printed to stderr as\n"
            "file:line:col: message. On success a summary is printed.\n"
            "\n"
            "  --lab LAB.yaml        also check each objective's `from` against what the\n"
            "                        simulated lab's devices return (repeatable)\n"
            "  --worker WORKER.yaml  the same against a worker's exec.returns (repeatable)\n"
            "  --quiet   print nothing on success (problems are still printed)\n"
            "  --keys    print the reference of every key (markdown) and exit\n"
            "  --help    this help\n"
            "\n"
            "exit status: 0 valid, 1 invalid (or unreadable), 2 usage error\n"
            "\n"
            "example:\n"
            "  labloop validate examples/cspbbr3.yaml\n"
            "  campaign.yaml:14:7: space 'temperature': 'low' (400) must be below 'high' (100)\n");
}

static void s_print_summary(const lab_campaign_cfg *cfg, FILE *out)
{
    fprintf(out, "campaign   %s (%s)\n", cfg->name, cfg->path);
    fprintf(out, "           seed %llu, operator %s, access %s%s, sha256 %.16s...\n",
            (unsigned long long)cfg->seed, cfg->operator_name, cfg->access,
            cfg->export_control ? ", export-controlled" : "", cfg->sha256);
    fprintf(out, "budget     %ld experiments", cfg->budget_experiments);
    if (cfg->budget_hours > 0)
        fprintf(out, ", %g h", cfg->budget_hours);
    if (cfg->has_stop_when) {
        const lab_cfg_objective *o = &cfg->objectives[cfg->stop_objective];
        if (!isnan(cfg->stop_at_least))
            fprintf(out, "; stop when %s >= %g", o->name, cfg->stop_at_least);
        else
            fprintf(out, "; stop when %s <= %g", o->name, cfg->stop_at_most);
    }
    if (cfg->brake_after)
        fprintf(out, "; brake after %d failures in a row with one cause", cfg->brake_after);
    else
        fputs("; no failure brake", out);
    fputc('\n', out);

    size_t nd = lab_space_dims(cfg->space), nc = lab_space_n_constraints(cfg->space);
    fprintf(out, "space      %zu dimension%s, %zu constraint%s\n", nd, nd == 1 ? "" : "s", nc,
            nc == 1 ? "" : "s");
    for (size_t i = 0; i < nd; i++) {
        const lab_dim *d = lab_space_dim(cfg->space, i);
        if (d->type == LAB_DIM_CATEGORICAL) {
            fprintf(out, "  %-16s categorical  ", d->name);
            for (size_t j = 0; j < d->n_choices; j++)
                fprintf(out, "%s%s", j ? " | " : "", d->choices[j]);
        } else {
            fprintf(out, "  %-16s %-12s [%g, %g]", d->name,
                    d->type == LAB_DIM_REAL ? "real" : "integer", d->low, d->high);
            if (d->unit)
                fprintf(out, " %s", d->unit);
            if (d->log_scale)
                fprintf(out, ", log scale");
        }
        fputc('\n', out);
    }
    for (size_t i = 0; i < nc; i++)
        fprintf(out, "  constraint: %s\n", lab_space_constraint(cfg->space, i)->text);

    fprintf(out, "objectives\n");
    for (size_t i = 0; i < cfg->n_objectives; i++) {
        const lab_cfg_objective *o = &cfg->objectives[i];
        fprintf(out, "  %-16s %-9s from %s.%s%s%s\n", o->name, o->maximize ? "maximize" : "minimize",
                o->from_step, o->from_value, o->unit ? " in " : "", o->unit ? o->unit : "");
    }

    fprintf(out, "workflow   %zu step%s, in order\n", cfg->n_steps, cfg->n_steps == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_steps; i++) {
        const lab_cfg_step *st = &cfg->steps[i];
        fprintf(out, "  %zu. %-14s needs %s", i + 1, st->name, st->capability);
        for (size_t a = 0; a < st->n_after; a++)
            fprintf(out, "%s%s", a ? ", " : "; after ", st->after[a]);
        if (st->timeout_s > 0)
            fprintf(out, "; timeout %g s", st->timeout_s);
        if (st->within_s > 0)
            fprintf(out, "; within %g s", st->within_s);
        if (st->retries > 0)
            fprintf(out, "; retries %d", st->retries);
        fputc('\n', out);
        for (size_t j = 0; j < st->n_params; j++) {
            const lab_cfg_param *p = &st->params[j];
            if (p->dim >= 0)
                fprintf(out, "       %s = ${%s}\n", p->name, lab_space_dim(cfg->space, (size_t)p->dim)->name);
            else
                fprintf(out, "       %s = %s\n", p->name, p->literal);
        }
    }

    fprintf(out, "devices\n");
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const lab_cfg_device *d = &cfg->devices[i];
        fprintf(out, "  %-16s ", d->name);
        for (size_t j = 0; j < d->n_capabilities; j++)
            fprintf(out, "%s%s", j ? ", " : "", d->capabilities[j]);
        fprintf(out, " (capacity %d)\n", d->capacity);
    }

    fprintf(out, "planner    %s, batch %d%s", cfg->planner_kind, cfg->batch,
            cfg->whole_batches && cfg->batch > 1 ? " (whole batches)" : "");
    if (cfg->acquisition)
        fprintf(out, ", acquisition %s", cfg->acquisition);
    if (cfg->initial_kind)
        fprintf(out, ", initial %d from %s", cfg->initial_count, cfg->initial_kind);
    fputc('\n', out);
    fprintf(out, "endpoints  devices %s, control %s\n", cfg->endpoint_devices,
            cfg->endpoint_control);
    fprintf(out, "hub        %s\n", cfg->hub);
    fprintf(out, "heartbeat  every %d ms, lost after %d missed\n", cfg->heartbeat_ms,
            cfg->liveness);
    for (size_t i = 0; i < cfg->n_notify; i++) {
        const lab_cfg_notify *h = &cfg->notify[i];
        fprintf(out, "%s %s on", i ? "          " : "notify    ", h->url);
        for (int k = 0; k < LAB_NOTIFY_N_KINDS; k++)
            if (h->events & (1u << k))
                fprintf(out, " %s", lab_notify_kind_name(k));
        fprintf(out, "; timeout %g s, %d retries%s\n", h->timeout_s, h->retries, h->secret_path ? ", signed" : "");
    }
    fprintf(out, "OK: %s is valid\n", cfg->path);
}

int lab_cmd_validate(int argc, char **argv)
{
    const char *path = NULL;
    const char *labs[16], *workers[16];
    size_t n_labs = 0, n_workers = 0;
    int quiet = 0, keys = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--lab") || !strcmp(a, "--worker")) && i + 1 < argc) {
            int lab = !strcmp(a, "--lab");
            if ((lab ? n_labs : n_workers) == 16) {
                fprintf(stderr, "labloop validate: at most 16 %s files\n", a + 2);
                return 2;
            }
            if (lab)
                labs[n_labs++] = argv[++i];
            else
                workers[n_workers++] = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s_usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--keys") == 0) {
            keys = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "labloop validate: unknown option '%s'\n", a);
            s_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "labloop validate: one config file at a time ('%s' and '%s')\n",
                    path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (keys) {
        lab_config_print_keys(stdout);
        return 0;
    }
    if (!path) {
        fprintf(stderr, "labloop validate: which campaign config? (labloop validate --help)\n");
        s_usage(stderr);
        return 2;
    }
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load(path, stderr, &err);
    if (!cfg)
        return 1;
    if ((n_labs || n_workers) && lab_validate_returns(cfg, labs, n_labs, workers, n_workers, stderr) < 0) {
        lab_config_destroy(&cfg);
        return 1;
    }
    /* The secret key is read when the campaign starts; check now that it
     * will be usable (present, a key, not readable by others). */
    char sec[LAB_KEY_Z85];
    if (cfg->secret_key_path && lab_keys_read_secret(cfg->secret_key_path, sec, NULL, &err) < 0) {
        fprintf(stderr, "%s: security.key: %s\n", path, err.msg);
        lab_config_destroy(&cfg);
        return 1;
    }
    explicit_bzero(sec, sizeof sec);
    for (size_t i = 0; i < cfg->n_notify; i++)
        if (cfg->notify[i].secret_path && lab_notify_check_secret(cfg->notify[i].secret_path, &err) < 0) {
            fprintf(stderr, "%s: notify[%zu]: %s\n", path, i, err.msg);
            lab_config_destroy(&cfg);
            return 1;
        }
    if (!quiet)
        s_print_summary(cfg, stdout);
    lab_config_destroy(&cfg);
    return 0;
}
