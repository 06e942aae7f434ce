/* How a lab shares itself between campaigns beyond the weighted turns of
 * lab_orch_schedule: devices a campaign holds exclusively while it is
 * active, and the queue of campaigns waiting for a place (the lab config's
 * lab.max_campaigns).
 *
 * A campaign is active from its start until its end is recorded; a queued
 * one has its row in the hub (status queued) and takes nothing until it
 * starts, first in, first out. Exclusivity comes from the campaign's config
 * (campaign.exclusive), so a restarted lab holds the same devices again.
 * Runs on the loop's thread. Not for: which campaign gets the next free slot
 * (orch.c), which step goes out (sched.c).
 */
#ifndef LAB_SHARE_H
#define LAB_SHARE_H

#include <stddef.h>

#include "common/err.h"
#include "orchestrator/campaign.h"
#include "orchestrator/config.h"
#include "orchestrator/orch.h"

/* A campaign about to be submitted: 0, or -1 with err set when it asks for
 * a device another campaign of the lab (active or queued) holds or will hold
 * exclusively. */
int lab_share_check_submit(lab_orch *o, const lab_campaign_cfg *cfg, lab_err *err);

/* Must a campaign submitted now wait in the queue (max_campaigns active)? */
int lab_share_must_queue(const lab_orch *o);

/* c became active (submitted with room, started from the queue, resumed):
 * it takes its exclusive devices. */
void lab_share_take(lab_orch *o, lab_camp *c);

/* c ended: its exclusive devices are shared again. */
void lab_share_release(lab_orch *o, lab_camp *c);

/* Start queued campaigns, oldest first, while there is room (and the lab is
 * not e-stopped). Returns how many started. */
int lab_share_start_queued(lab_orch *o);

/* Place of c in the queue (1: next to start); 0 when c is not queued. */
long lab_share_queue_position(const lab_orch *o, const lab_camp *c);

/* The device for a step of camp with capability cap (the free-slot index's
 * pick, leaving out devices other campaigns hold exclusively); -1: none now.
 * avoid as in lab_slots_pick. */
long lab_share_pick(lab_camp *camp, int cap, long avoid);

/* The campaign holding device i exclusively, or NULL. */
lab_camp *lab_share_holder(const lab_orch *o, size_t i);

void lab_share_free(lab_orch *o);

#endif
