/* The worker's record of the attempts it has started, so that it runs an
 * attempt id at most once, also across its own restarts.
 *
 * Before a worker starts a driver on an attempt, it adds the attempt id
 * here; with an outbox directory the id is appended to the file
 * "started-<run>.log" there ("started.log" when the run is unknown) and the
 * file is fsync'd before the driver starts. <run> is the orchestrator's
 * Welcome.run, %-escaped as in result file names (outbox.h). The file holds
 * one %-escaped attempt id per line, each ended by '\n'; a last line
 * without its '\n' is a write a crash cut short (the driver never started):
 * it is ignored and cut off when the file is opened again. Journals of
 * other runs are moved to the outbox's "stale/" when a run is adopted. The
 * Python client (devices/python/labloop_worker.py) reads and writes the same
 * files. Without a directory the record is kept in memory only and does not
 * survive a restart of the worker.
 * Not for: results (outbox.h) or what a request is answered with (worker.c).
 */
#ifndef LAB_STARTED_H
#define LAB_STARTED_H

#include "common/err.h"

typedef struct lab_started lab_started;

/* Open the record of run ("" unknown) in dir (NULL: memory only), reading
 * the ids already in it. Journals of other runs in dir are set aside. */
lab_started *lab_started_open(const char *dir, const char *run, lab_err *err);

/* 1 when attempt was started under this run (by this process or an earlier
 * one), else 0. */
int lab_started_has(const lab_started *s, const char *attempt);

/* Record attempt as started, durably when there is a directory. */
int lab_started_add(lab_started *s, const char *attempt, lab_err *err);

/* How many ids the record holds. */
size_t lab_started_count(const lab_started *s);

void lab_started_destroy(lab_started **sp);

#endif
