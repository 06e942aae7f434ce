/* Extending a campaign that has ended: its hub records the extension, and
 * the next `labloop run` of the same config resumes the campaign with the
 * larger budget (orch.c reads the campaign.extended events back).
 * A running campaign is extended by its orchestrator instead (control.c).
 * Not for: the CLI's arguments (cmd_control.c).
 */
#ifndef LAB_EXTEND_H
#define LAB_EXTEND_H

#include <stdio.h>

#include "common/err.h"
#include "orchestrator/config.h"

/* If campaign cfg->name in the hub at hub_path has ended (completed or
 * exhausted), give it `experiments` more experiments and `hours` more on
 * its time budget (from now when that is spent): one campaign.extended
 * event {experiments, hours, budget, by, deadline_us, reason} and one audit
 * row (actor user, origin host), in one transaction, and a line to out.
 * Returns 1 when recorded; 0 when the campaign has not ended, or the hub or
 * the campaign is not there (ask its orchestrator); < 0 with err set when
 * it cannot be extended (aborted, another config, no time budget for
 * hours, a hub error) and nothing was written. */
int lab_extend_ended(const lab_campaign_cfg *cfg, const char *hub_path, long experiments, double hours,
                     const char *reason, const char *user, const char *host, FILE *out, lab_err *err);

/* A time budget left, for people: "40 s", "25 min", "3.5 h" (0 when
 * spent) into buf; returns buf. */
const char *lab_extend_time_text(double seconds, char *buf, size_t n);

#endif
