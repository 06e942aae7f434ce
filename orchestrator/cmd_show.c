/* `labloop show`: a campaign at a glance, from its hub — status, counts,
 * best result with its parameters, Pareto front, device utilisation and
 * failures by cause.
 *
 * For: a quick look in a terminal (or --json for scripts), also while the
 * campaign runs. Not for: the timeline (log), plots (report) or raw rows
 * (export). Reads through review.h; writes nothing.
 */
#include "orchestrator/commands.h"

#include <math.h>
#include <string.h>

#include <jansson.h>

#include "orchestrator/review.h"
#include "orchestrator/review_args.h"
#include "orchestrator/review_pg.h"

#include "common/text.h"
#include "common/banned.h"

static const char s_usage[] =
    "usage: labloop show HUB.db [--campaign NAME] [--lab LAB] [--json] [--help]\n"
    "\n"
    "The campaign at a glance: status, counts, the best result and its parameters,\n"
    "the Pareto front (several objectives), device utilisation (busy time of\n"
    "step attempts over the campaign's span, per unit of capacity) and failures\n"
    "grouped by cause.\n"
    "\n"
    "  --campaign NAME  this campaign (default: the latest in the hub)\n"
    "  --json           the same as one JSON object\n"
    "  --help           this text\n"
    "\n"
    "example:\n"
    "  labloop show build/demo/campaign.db\n"
    "  labloop show build/demo/campaign.db --json | jq .best\n";

static void s_objectives_line(FILE *out, const lab_review *r, const lab_review_exp *e)
{
    for (size_t k = 0; k < r->n_objectives; k++) {
        fprintf(out, " %s=", r->objectives[k].name);
        if (isfinite(e->y[k]))
            fprintf(out, "%.6g", e->y[k]);
        else
            fputs("-", out);
    }
}

static void s_params_line(FILE *out, const lab_review *r, const lab_review_exp *e)
{
    for (size_t p = 0; p < r->n_params; p++) {
        json_t *v = json_object_get(e->params, r->params[p].name);
        fprintf(out, " %s=", r->params[p].name);
        if (json_is_number(v))
            fprintf(out, "%.6g", json_number_value(v));
        else if (json_is_string(v))
            fputs(json_string_value(v), out);
        else
            fputs("-", out);
        if (r->params[p].unit)
            fprintf(out, " %s", r->params[p].unit);
    }
}

static void s_print(const lab_review *r, FILE *out)
{
    char t0[32], t1[32];
    const lab_hub_query_counts *n = &r->n;
    double span = (double)(r->span_end_us - r->span_start_us) / 1e6;
    fprintf(out, "campaign %s: %s\n", r->c.name, r->c.status);
    if (lab_review_paused(r)) {
        char pause[1700];
        fprintf(out, "  %s\n", lab_review_pause_text(r, pause, sizeof pause));
    }
    if (r->budget_experiments) {
        fprintf(out, "  budget %lld experiments", (long long)(r->budget_experiments + r->life.extra_experiments));
        if (r->life.extensions)
            fprintf(out, " (%ld in the config, %lld more by %lld extension%s)", r->budget_experiments,
                    (long long)r->life.extra_experiments, (long long)r->life.extensions,
                    r->life.extensions == 1 ? "" : "s");
        if (r->budget_hours > 0)
            fprintf(out, "; time budget %.4g h", r->budget_hours);
        if (r->life.extra_hours > 0)
            fprintf(out, " (%.4g h more by extensions)", r->life.extra_hours);
        fputc('\n', out);
    }
    fprintf(out, "  config sha256 %s, labloop %s, seed %llu, planner %s\n",
            r->c.config_sha256 ? r->c.config_sha256 : "-", r->c.version ? r->c.version : "-",
            (unsigned long long)r->c.seed, r->c.planner ? r->c.planner : "-");
    fprintf(out, "  operator %s on %s; access %s; export control %s\n",
            r->c.operator_name ? r->c.operator_name : "-", r->c.host ? r->c.host : "-",
            r->c.access, r->c.export_control ? "YES" : "no");
    fprintf(out, "  span %s - %s (%.1f s)\n", lab_review_iso_time(r->span_start_us, t0, sizeof t0),
            lab_review_iso_time(r->span_end_us, t1, sizeof t1), span);
    fprintf(out, "experiments: %lld (%lld measured, %lld failed, %lld running, %lld cancelled)\n",
            (long long)n->experiments, (long long)n->measured, (long long)n->failed,
            (long long)(n->running + n->queued), (long long)n->cancelled);
    if (n->proposed || n->rejected)
        fprintf(out, "  approval: %lld waiting (labloop approve|reject CAMPAIGN.yaml N), %lld rejected\n",
                (long long)n->proposed, (long long)n->rejected);
    if (n->prior)
        fprintf(out, "  of which %lld from the prior (earlier work told to the planner first, "
                     "numbered %lld to 0)\n", (long long)n->prior, (long long)(1 - n->prior));
    fprintf(out, "steps: %lld attempts (%lld done, %lld failed, %lld retries); events: %lld\n",
            (long long)n->steps, (long long)n->steps_done, (long long)n->steps_failed,
            (long long)n->retries, (long long)n->events);
    if (r->best >= 0) {
        const lab_review_exp *e = &r->exps[r->best];
        const lab_review_objective *o = &r->objectives[0];
        fprintf(out, "best %s: %.6g%s%s (%s) at experiment %lld:", o->name, e->y[0],
                o->unit ? " " : "", o->unit ? o->unit : "", o->maximize ? "maximize" : "minimize",
                (long long)e->seq);
        s_params_line(out, r, e);
        fputc('\n', out);
    } else {
        fputs("best: no measured experiment yet\n", out);
    }
    if (r->n_objectives >= 2) {
        fprintf(out, "pareto front: %zu experiments (", r->n_pareto);
        for (size_t k = 0; k < r->n_objectives; k++)
            fprintf(out, "%s%s %s", k ? ", " : "", r->objectives[k].name,
                    r->objectives[k].maximize ? "max" : "min");
        fputs(")\n", out);
        for (size_t i = 0; i < r->n_exps; i++)
            if (r->exps[i].pareto) {
                fprintf(out, "  #%-4lld", (long long)r->exps[i].seq);
                s_objectives_line(out, r, &r->exps[i]);
                fputs("  |", out);
                s_params_line(out, r, &r->exps[i]);
                fputc('\n', out);
            }
    }
    fprintf(out, "devices (busy: the step-seconds of its attempts; %% of span %.1f s x capacity):\n", span);
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        fprintf(out, "  %-12s %-18s capacity %d  %4lld steps  busy %9.3f s  %5.1f %%  %s\n",
                d->name, d->driver ? d->driver : "-", d->capacity, (long long)d->steps,
                (double)d->busy_us / 1e6, d->utilisation * 100, d->status ? d->status : "-");
    }
    if (r->n_failures == 0) {
        fputs("failures: none\n", out);
    } else {
        fputs("failures by cause:\n", out);
        for (size_t i = 0; i < r->n_failures; i++) {
            const lab_review_failure *f = &r->failures[i];
            fprintf(out, "  %-10s %4lld  %s", f->scope, (long long)f->count, f->cause);
            if (f->where)
                fprintf(out, " [%s]", f->where);
            fprintf(out, " (first: experiment %lld)\n", (long long)f->first_experiment);
        }
    }
    if (!r->config_parsed)
        fputs("note: the stored config did not parse with this labloop; objective goals "
              "are taken as maximize\n", out);
}

int lab_cmd_show(int argc, char **argv)
{
    const char *db = NULL, *campaign = NULL, *lab = NULL;
    int json = 0;
    const lab_review_opt opts[] = {
        {.name = "--json", .flag = &json},
        {.name = "--campaign", .value = &campaign, .needs = "a campaign name"},
        {.name = "--lab", .value = &lab, .needs = "a lab's id"},
        {0},
    };
    int rc = lab_review_args("show", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    lab_err err;
    lab_err_clear(&err);
    /* From a PostgreSQL hub only what show reads is copied. */
    const lab_review_need need = {.summary = 1};
    lab_hub_query *q = lab_review_open_for(db, lab, campaign, &need, &err);
    lab_review *r = q ? lab_review_load(q, campaign, &err) : NULL;
    lab_hub_query_destroy(&q);
    if (!r) {
        fprintf(stderr, "labloop show: %s\n", err.msg);
        return 1;
    }
    if (json) {
        json_t *j = lab_review_summary_json(r);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
            fputc('\n', stdout);
        }
        json_decref(j);
    } else {
        /* The report holds text from devices (failure causes, values):
         * written without control characters. */
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (m) {
            s_print(r, m);
            fclose(m);
            lab_text_write_clean(stdout, text, len);
            free(text);
        } else {
            fprintf(stderr, "labloop show: out of memory\n");
        }
    }
    lab_review_destroy(&r);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "labloop show: writing the output failed\n");
        return 1;
    }
    return 0;
}
