/* The exec driver: run an instrument's vendor script or CLI as a step.
 *
 * Each capability maps to a command (an argv list, or a shell string run by
 * /bin/sh -c). One step = one process, started with uv_spawn in its own
 * session and process group. Contract with the command (docs/DEVICES.md):
 *   stdin   the step's parameters as one JSON object {"name": value, ...}
 *   env     LABLOOP_PARAM_<NAME> per parameter, LABLOOP_ATTEMPT,
 *           LABLOOP_EXPERIMENT, LABLOOP_SAMPLE, LABLOOP_STEP,
 *           LABLOOP_CAPABILITY, LABLOOP_DEVICE, LABLOOP_ARTIFACTS (a fresh
 *           per-attempt directory)
 *   stdout  one JSON object of results (numbers, strings, booleans), capped
 *   stderr  kept: each line is sent as a StepUpdate LOG, the last lines go
 *           into the error of a failed step
 *   exit    0 → DONE, anything else → FAILED with the code and stderr tail
 *   files   written into $LABLOOP_ARTIFACTS are sent as artifacts (sha256,
 *           size, media type by extension, content inline within
 *           LAB_MSG_MAX; larger ones are sent without content and kept)
 * At cancel or deadline the whole process group gets SIGTERM, then SIGKILL
 * after the grace period. Not for: long-lived instrument sessions (write a
 * driver or use the Python client); the worker protocol itself.
 */
#ifndef LAB_EXEC_DRIVER_H
#define LAB_EXEC_DRIVER_H

#include <stddef.h>
#include "common/err.h"
#include "devices/driver.h"

/* Default limits. */
#define LAB_EXEC_STDOUT_MAX (1u << 20)
#define LAB_EXEC_KILL_GRACE_MS 2000

typedef struct lab_exec_command {
    const char *capability;
    const char *const *argv;          /* NULL-terminated; argv[0] is looked up in PATH */
    const char *shell;                /* alternative to argv: run with /bin/sh -c */
    const char *cwd;                  /* NULL: the worker's working directory */
} lab_exec_command;

typedef struct lab_exec_opts {
    const char *device;               /* device name, for messages */
    const lab_exec_command *commands;
    size_t n_commands;
    const char *artifacts_dir;        /* root of the per-attempt directories (created) */
    int kill_grace_ms;                /* SIGTERM → SIGKILL; 0: LAB_EXEC_KILL_GRACE_MS */
    size_t stdout_max;                /* 0: LAB_EXEC_STDOUT_MAX */
    int keep_artifacts;               /* 1: leave the per-attempt directories on disk */
} lab_exec_opts;

/* A new exec driver for lab_worker_run (ops: lab_exec_driver_ops). Copies
 * everything in opts. NULL with err set when a command is empty or the
 * artifacts directory cannot be created. ops->destroy frees it. */
void *lab_exec_driver_new(const lab_exec_opts *opts, lab_err *err);
extern const lab_driver_ops lab_exec_driver_ops;

#endif
