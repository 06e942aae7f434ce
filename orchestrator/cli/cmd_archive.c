/* `labloop archive HUB.db -o COPY.db`: a consistent copy of a hub, taken
 * with SQLite's online backup, so it may run while a campaign writes. A
 * plain `cp` of the file misses what still sits in the WAL; this copy holds
 * every committed row as of one moment and is a complete hub of its own.
 * Not for: exports in other formats (cmd_export.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orchestrator/cli/commands.h"
#include "orchestrator/hub/hub_query.h"
#include "orchestrator/review/review_args.h"
#include "common/banned.h"

static const char s_usage[] =
    "usage: labloop archive HUB.db -o COPY.db [--campaign NAME]\n\n"
    "Copy a hub into a new file with SQLite's online backup: one consistent\n"
    "snapshot of every committed row, even while a campaign is running (a\n"
    "plain copy of the file can miss what is still in its write-ahead log).\n"
    "COPY.db must not exist. The copy is written beside it under a temporary\n"
    "name and renamed when complete; labloop show, log, report and export read\n"
    "it like the original. --campaign names the campaign to summarise at the end.\n\n"
    "example:\n"
    "  labloop archive build/demo/campaign.db -o /backup/demo-$(date +%F).db\n";

int lab_cmd_archive(int argc, char **argv)
{
    const char *db = NULL, *out = NULL, *campaign = NULL;
    const lab_review_opt opts[] = {
        {.name = "--output", .alias = "-o", .value = &out, .needs = "the copy's file name"},
        {.name = "--campaign", .value = &campaign, .needs = "a campaign name"},
        {0},
    };
    int rc = lab_review_args("archive", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out)
        return lab_review_usage_error("archive", "%s", "-o COPY.db is required");
    if (access(out, F_OK) == 0) {
        fprintf(stderr, "labloop archive: '%s' exists; choose a new name (an archive never overwrites)\n", out);
        return 1;
    }
    lab_err err = {0};
    lab_hub_query *q = lab_hub_query_open(db, &err);
    if (!q) {
        fprintf(stderr, "labloop archive: %s\n", err.msg);
        return 1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.part-%ld", out, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "labloop archive: output name too long\n");
        lab_hub_query_destroy(&q);
        return 1;
    }
    int64_t pages = 0;
    int ret = lab_hub_query_backup(q, tmp, &pages, &err);
    lab_hub_query_destroy(&q);
    if (ret == 0 && rename(tmp, out) != 0)
        ret = lab_err_from_errno(&err, errno, "renaming the finished copy");
    if (ret < 0) {
        unlink(tmp);
        fprintf(stderr, "labloop archive: %s\n", err.msg);
        return 1;
    }
    /* Read the copy back as a hub: it is only an archive if it opens as one. */
    lab_hub_query_campaign c = {0};
    lab_hub_query_counts n = {0};
    q = lab_hub_query_open(out, &err);
    ret = q ? lab_hub_query_campaign_get(q, campaign, &c, &err) : -1;
    if (ret == 0)
        ret = lab_hub_query_counts_get(q, c.id, &n, &err);
    if (ret == 0)
        printf("archived %s to %s (%lld pages): campaign %s %s, %lld experiments, %lld step attempts, "
               "%lld events\n",
               db, out, (long long)pages, c.name, c.status, (long long)n.experiments, (long long)n.steps,
               (long long)n.events);
    else if (ret == LAB_ENOTFOUND)
        printf("archived %s to %s (%lld pages; no campaign in it yet)\n", db, out, (long long)pages);
    else
        fprintf(stderr, "labloop archive: the copy %s does not read back: %s\n", out, err.msg);
    lab_hub_query_campaign_release(&c);
    lab_hub_query_destroy(&q);
    return ret == 0 || ret == LAB_ENOTFOUND ? 0 : 1;
}
