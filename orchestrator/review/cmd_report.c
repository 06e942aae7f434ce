/* `labloop report`: one self-contained HTML file about a campaign — the
 * provenance header, SVG plots, device timeline, failures and the table of
 * experiments with the planner's reasons.
 *
 * For: keeping and sending a campaign's story; it opens in any browser
 * without a network. Not for: live views (serve) or data (export). The page
 * itself is drawn by review_html.c; this file is the command line and the
 * atomic write (temp file + rename, so a reader never sees half a report).
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "orchestrator/review/review.h"
#include "orchestrator/review/review_args.h"
#include "orchestrator/review/review_pg.h"

#include "common/banned.h"

static const char s_usage[] =
    "usage: labloop report HUB.db -o REPORT.html [--campaign NAME] [--lab LAB] [--help]\n"
    "\n"
    "Write one self-contained HTML report (inline CSS and SVG, no network needed\n"
    "to view it): provenance (config sha256, labloop version, seed, operator,\n"
    "host, time span, access class, export control), best so far against the\n"
    "experiment number, each parameter against the first objective, the Pareto\n"
    "front (two or more objectives), a Gantt timeline of the devices, device\n"
    "utilisation, failures by cause, and every experiment with the planner's\n"
    "reason, acquisition value and prediction.\n"
    "\n"
    "  -o, --output FILE  where to write it (- for standard output)\n"
    "  --campaign NAME    this campaign (default: the latest in the hub)\n"
    "  --help             this text\n"
    "\n"
    "example:\n"
    "  labloop report build/demo/campaign.db -o build/demo/report.html\n";

/* Write the page to path through a temporary file beside it. */
static int s_write(const lab_review *r, const char *path, lab_err *err)
{
    lab_review_html_opts o = {.live = 0, .generated_us = lab_clock_wall_us()};
    if (strcmp(path, "-") == 0) {
        int ret = lab_review_html(r, &o, stdout);
        if (ret == 0 && fflush(stdout) != 0)
            ret = LAB_EIO;
        return ret < 0 ? lab_err_set(err, ret, "writing the report to standard output failed")
                       : 0;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return lab_err_set(err, LAB_ENOMEM, "writing '%s': out of memory", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int ret = lab_err_from_errno(err, errno, path);
        free(tmp);
        return ret;
    }
    int ret = lab_review_html(r, &o, f);
    int e = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (ret == 0 && !e && rename(tmp, path) != 0)
        e = errno;
    if (ret < 0 || e) {
        unlink(tmp);
        ret = lab_err_from_errno(err, e ? e : EIO, path);
    }
    free(tmp);
    return ret;
}

int lab_cmd_report(int argc, char **argv)
{
    const char *db = NULL, *campaign = NULL, *lab = NULL, *out = NULL;
    const lab_review_opt opts[] = {
        {.name = "--output", .alias = "-o", .value = &out, .needs = "a file name"},
        {.name = "--campaign", .value = &campaign, .needs = "a campaign name"},
        {.name = "--lab", .value = &lab, .needs = "a lab's id"},
        {0},
    };
    int rc = lab_review_args("report", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out)
        return lab_review_usage_error("report", "%s", "where to? give -o REPORT.html (or -o - for standard output)");
    lab_err err;
    lab_err_clear(&err);
    lab_hub_query *q = lab_review_open(db, lab, campaign, &err);
    lab_review *r = q ? lab_review_load(q, campaign, &err) : NULL;
    lab_hub_query_destroy(&q);
    int ret = r ? s_write(r, out, &err) : -1;
    if (ret == 0 && strcmp(out, "-") != 0)
        fprintf(stderr, "report: %s (%zu experiments)\n", out, r->n_exps);
    lab_review_destroy(&r);
    if (ret < 0) {
        fprintf(stderr, "labloop report: %s\n", err.msg);
        return 1;
    }
    return 0;
}
