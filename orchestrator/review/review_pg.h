/* The entry point through which the review commands (show, log, report,
 * export) open a hub: a SQLite file, or one campaign of a shared
 * PostgreSQL hub (postgresql://...), copied first into a scratch SQLite hub
 * that is removed as soon as it is open. Not for: what is read (hub_query.h).
 */
#ifndef LAB_REVIEW_PG_H
#define LAB_REVIEW_PG_H

#include "common/err.h"
#include "orchestrator/hub/hub_query.h"

/* Open hub for reading. A file: as lab_hub_query_open (lab must be NULL).
 * A postgresql:// URL: the campaign named (NULL: the latest) of lab (may be
 * NULL when the name is unique across labs), as the URL's role may read it.
 * NULL with err set on error. Caller destroys. */
lab_hub_query *lab_review_open(const char *hub, const char *lab, const char *campaign,
                               lab_err *err);

/* What a review command reads of the campaign: for a postgresql:// hub,
 * only that is copied (a file is opened whole). Zeroed: everything. */
typedef struct lab_review_need {
    /* show: the campaign, its devices, experiments and steps, and of its
     * events only their count and time span. */
    int summary;
    /* > 0: of the events only those about this experiment (log
     * --experiment N without --device or --follow); the campaign's event
     * count and span still cover all its events. */
    int64_t experiment;
} lab_review_need;

/* As lab_review_open, copying only what need names (NULL: everything). */
lab_hub_query *lab_review_open_for(const char *hub, const char *lab, const char *campaign,
                                   const lab_review_need *need, lab_err *err);

#endif
