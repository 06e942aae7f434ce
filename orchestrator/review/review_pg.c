/* Opening a hub for the review commands: a lab's SQLite file, or one
 * campaign of the shared PostgreSQL hub copied into a scratch SQLite hub
 * (see review_pg.h). Not for: the copy itself (hub_pg_read.c). */
#include "orchestrator/review/review_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "orchestrator/hub/hub_pg.h"

#include "common/banned.h"

lab_hub_query *lab_review_open(const char *hub, const char *lab, const char *campaign,
                               lab_err *err)
{
    return lab_review_open_for(hub, lab, campaign, NULL, err);
}

lab_hub_query *lab_review_open_for(const char *hub, const char *lab, const char *campaign,
                                   const lab_review_need *need, lab_err *err)
{
    if (!lab_hub_pg_is_url(hub)) {
        if (lab) {
            lab_err_set(err, LAB_EINVAL, "--lab is for a postgresql:// hub; '%s' is a file",
                        hub ? hub : "");
            return NULL;
        }
        return lab_hub_query_open(hub, err);
    }
    /* In memory when there is a tmpfs: the scratch hub is never kept, so
     * its writes need not reach a disk (TMPDIR wins when set). */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/labloop-review.XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        lab_err_from_errno(err, errno, "making a scratch directory");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/hub.db", dir);
    lab_hub_pg_scope scope = {0};
    if (need) {
        scope.summary = need->summary || need->experiment > 0;
        scope.events_span = need->summary;
        scope.experiment = need->summary ? 0 : need->experiment;
    }
    lab_hub_pg_span span;
    lab_hub_query *q = NULL;
    if (lab_hub_pg_fetch_scoped(hub, lab, campaign, path, &scope, &span, err) == 0)
        q = lab_hub_query_open(path, err);
    if (q && span.campaign)
        lab_hub_query_set_event_span(q, span.campaign, span.events, span.first_us, span.last_us);
    /* The open connection keeps the file; nothing is left behind. */
    unlink(path);
    rmdir(dir);
    return q;
}
