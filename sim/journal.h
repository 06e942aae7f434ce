/* The simulated lab's own record of what it physically did.
 *
 * When a lab file names a journal (lab: {journal: PATH}), every simulated
 * device appends one line to it, durably (O_APPEND, then fsync) and before
 * the action starts: a "start" line per step it executes, an "end" line when
 * the step stops, and a "boot" line when its worker process starts. A worker
 * killed mid-step leaves its "start" line behind, so the journal is the
 * ground truth that the torture suite (tests/torture) checks the hub and the
 * orchestrator's exactly-once promise against. Off unless configured.
 *
 * Line format, tab-separated:
 *   start  ATTEMPT  EXPERIMENT  STEP  DEVICE  PID  WALL_US
 *   end    ATTEMPT  EXPERIMENT  STEP  DEVICE  PID  WALL_US  STATUS
 *   boot   -        -           -     DEVICE  PID  WALL_US
 * Not for: the hub's record of attempts (orchestrator/hub/hub.c).
 */
#ifndef LAB_SIM_JOURNAL_H
#define LAB_SIM_JOURNAL_H

#include "common/err.h"

typedef struct lab_sim_journal lab_sim_journal;

/* Open path for appending (created 0644 if missing) for device; writes its
 * "boot" line. NULL with err set when it cannot be opened or written. */
lab_sim_journal *lab_sim_journal_open(const char *path, const char *device, lab_err *err);

/* Append one line ("start" or "end") and fsync it before returning; status
 * is NULL for "start". Returns 0 or < 0 with err set. */
int lab_sim_journal_note(lab_sim_journal *j, const char *what, const char *attempt,
                         const char *experiment, const char *step, const char *status,
                         lab_err *err);

void lab_sim_journal_close(lab_sim_journal **j);

#endif
