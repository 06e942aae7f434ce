/* The worker's outbox on disk: results not yet acknowledged, one file each,
 * so that they survive a crash or restart of the worker.
 *
 * A result is the file "<run>+<attempt>.result" in the outbox directory
 * (both parts %-escaped: ASCII letters, digits, '-', '_' and a '.' that is
 * not first are kept, every other byte is %XX; "<attempt>.result" when the
 * run is unknown; an attempt whose escaped form would make the name longer
 * than 255 bytes is cut and ends in "~" and 16 hex digits of its SHA-256),
 * holding its encoded Envelope (StepResult). It is written
 * to a temporary file, fsync'd, renamed into place and the directory
 * fsync'd. The run is the orchestrator's Welcome.run (PROTOCOL.md §3):
 * results of another run are moved to "stale/" rather than sent.
 * The Python client (devices/python/labloop_worker.py) reads and writes the
 * same files. Not for: the in-memory outbox and re-sends (worker.c).
 */
#ifndef LAB_OUTBOX_H
#define LAB_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LAB_OUTBOX_RUN_MAX 64        /* longer runs are cut to this (both sides alike) */

/* s in the escaped form used in file names (and in the started journal,
 * started.h), uncut; -1 when it does not fit in n. */
int lab_outbox_escape(const char *s, char *out, size_t n);

/* The path of a result's file; -1 when it does not fit in n. */
int lab_outbox_path(const char *dir, const char *run, const char *attempt, const char *suffix, char *path,
                    size_t n);

/* Write buf as the result of attempt under run, durably. */
int lab_outbox_save(const char *dir, const char *run, const char *attempt, const uint8_t *buf, size_t len,
                    lab_err *err);

/* The result was acknowledged: remove its file (a missing one is fine). */
int lab_outbox_remove(const char *dir, const char *run, const char *attempt, lab_err *err);

/* The result belongs to another run: move its file into DIR/stale/. */
int lab_outbox_set_aside(const char *dir, const char *run, const char *attempt, lab_err *err);

/* Called for each saved result; takes buf (free it). run is "" when unknown. */
typedef void (*lab_outbox_fn)(const char *run, const char *attempt, uint8_t *buf, size_t len, void *arg);

/* At start: make dir if missing (its parent must exist), check that it can
 * be written, remove temporary files left by a crash, and call fn for each
 * saved result. Files that are not saved results are logged and left as
 * they are. Returns the number of results, or an error. */
int lab_outbox_load(const char *dir, lab_outbox_fn fn, void *arg, lab_err *err);

#endif
