/* Free device slots indexed by capability: which device a step of a given
 * capability goes to, without looking at every device of the lab.
 *
 * Each capability keeps a binary heap of the devices that offer it and can
 * take a step now (online: ready and welcomed; a slot free: running plus
 * held below capacity), ordered by the lab's fairness rule: the least
 * loaded (slots in use over capacity) first; among equally loaded ones the
 * one that has had the fewest attempts; then the first in the config.
 * Past 32 devices, a capability's devices take the work in turns of
 * ceil(n / 32) attempts: attempts are compared in whole turns, and within a
 * turn the device that has had more keeps the work. The steps in flight
 * then stay on a few devices at a time instead of one step each on every
 * connection (with 1,000 devices that spreading cost about a quarter of
 * the dispatch rate in kernel work), and attempts still stay within about
 * a turn of each other. A device whose attempt fails ends its turn
 * (lab_slots_end_turn). The
 * owner reports each device's state with lab_slots_set whenever it changes
 * (a dispatch, a result, a hold, a Hello, a loss, an e-stop); a pick is
 * O(1) and an update O(k log n) for a device with k capabilities.
 * Pure bookkeeping: no sockets, no clock, one thread (the loop's).
 * Not for: deciding which step runs next (campaign.c).
 */
#ifndef LAB_SLOTS_H
#define LAB_SLOTS_H

#include <stddef.h>
#include "common/err.h"

typedef struct lab_slots lab_slots;

/* An index of n_devices devices (0 .. n_devices - 1); device i offers the
 * n_caps[i] capabilities caps[i][0..] (names copied). Every device starts
 * offline, not heard. NULL with err set when out of memory. */
lab_slots *lab_slots_new(size_t n_devices, const char *const *const *caps, const size_t *n_caps, lab_err *err);
void lab_slots_destroy(lab_slots **s);

/* The id of capability name (>= 0), or -1 when no device offers it. */
int lab_slots_cap(const lab_slots *s, const char *name);

/* Device dev as it is now: online (may be given steps), slots in use
 * (running + held for successors), its capacity and the attempts it has
 * had (the tie-breaker). */
void lab_slots_set(lab_slots *s, size_t dev, int online, int used, int capacity, long dispatched);

/* An attempt of device dev failed: in each of its capabilities whose
 * devices share work in turns, its turn ends now (its attempts count up to
 * the turn's end; nothing is skipped when that attempt was the turn's
 * last), so a device that fails every step does not fail a whole turn of
 * steps in a row. Nothing changes where turns are of one attempt. */
void lab_slots_end_turn(lab_slots *s, size_t dev);

/* The device for a step of capability cap: online with a free slot, first
 * by the fairness rule. avoid (-1: none) is used only when no other device
 * offering cap is online at all (busy or not); then only if it has a free
 * slot. Returns the device, or -1 when none may take the step now. */
long lab_slots_pick(const lab_slots *s, int cap, long avoid);

/* As lab_slots_pick, among the devices for which ok(dev, arg) is true
 * (devices another campaign holds exclusively are refused). refused_online:
 * how many devices offering cap are online and refused by ok (avoid is
 * used only when no other device it may use is online). */
long lab_slots_pick_if(const lab_slots *s, int cap, long avoid, size_t refused_online,
                       int (*ok)(long dev, void *arg), void *arg);

/* Does device dev offer capability cap? */
int lab_slots_offers(const lab_slots *s, size_t dev, int cap);

/* Devices online that offer cap (whether or not a slot is free). */
size_t lab_slots_online(const lab_slots *s, int cap);

/* Device dev has said Hello since the start; lab_slots_all_heard: every
 * device offering cap has. */
void lab_slots_heard(lab_slots *s, size_t dev);
int lab_slots_all_heard(const lab_slots *s, int cap);

#endif
