/* The driver interface: what a device worker calls to run a step.
 *
 * A driver is an ops table plus its own state. The worker runtime owns the
 * connection, heartbeats, deadlines and the outbox; a driver only runs steps.
 * Steps run asynchronously on the worker's libuv loop: start() begins the
 * work and returns; the driver later calls lab_step_finish() exactly once.
 * cancel() asks a running step to stop; the driver then finishes it (with any
 * status: the worker records cancelled or timed_out itself).
 * All calls happen on the worker's loop thread.
 */
#ifndef LAB_DRIVER_H
#define LAB_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "common/err.h"
#include "labloop.pb-c.h"

typedef struct lab_step lab_step;
typedef struct lab_worker lab_worker;

/* What the worker is doing, as a driver with a status light sees it. */
typedef enum {
    LAB_WSTATE_OFFLINE,               /* not registered with an orchestrator */
    LAB_WSTATE_READY,                 /* registered, no step running */
    LAB_WSTATE_BUSY,                  /* registered, at least one step running */
    LAB_WSTATE_ESTOPPED,              /* e-stop latched (until Control CLEAR) */
} lab_worker_state;

typedef enum {
    LAB_STEP_DONE = LABLOOP__STEP_RESULT__STATUS__DONE,
    LAB_STEP_FAILED = LABLOOP__STEP_RESULT__STATUS__FAILED,
    LAB_STEP_TIMED_OUT = LABLOOP__STEP_RESULT__STATUS__TIMED_OUT,
    LAB_STEP_CANCELLED = LABLOOP__STEP_RESULT__STATUS__CANCELLED,
} lab_step_status;

typedef struct lab_driver_ops {
    const char *name;                 /* "sim.furnace", "null", "exec", ... */
    /* Begin the step. Return 0, or < 0 with err set to fail it at once. */
    int (*start)(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err);
    /* Stop a running step soon; it must still be finished by the driver. */
    void (*cancel)(void *drv, lab_step *step);
    /* Free the driver's state (after every step has finished). */
    void (*destroy)(void *drv);
    /* Optional: called once when the worker's loop exists, before it
     * connects. A driver with inputs of its own (GPIO interlocks) starts its
     * handles here and keeps w to call lab_worker_estop(). < 0 with err set
     * stops the worker before it starts. */
    int (*attach)(void *drv, lab_worker *w, uv_loop_t *loop, lab_err *err);
    /* Optional: the worker's state changed (status lights). */
    void (*state)(void *drv, lab_worker_state st);
    /* Optional: close the driver's own loop handles; called once on the way
     * out, after every step has finished and before destroy(). The worker
     * runs the loop until the handles' close callbacks have run. */
    void (*detach)(void *drv);
} lab_driver_ops;

/* ---- what a driver may ask of a step ---- */
const char *lab_step_attempt(const lab_step *s);
const char *lab_step_name(const lab_step *s);
const char *lab_step_capability(const lab_step *s);
const char *lab_step_experiment(const lab_step *s);
const char *lab_step_sample(const lab_step *s);
size_t lab_step_n_params(const lab_step *s);
const Labloop__Param *lab_step_param_at(const lab_step *s, size_t i);
/* The parameter called name, or NULL. */
const Labloop__Param *lab_step_param(const lab_step *s, const char *name);
/* Numeric parameter, or dflt when absent or not numeric. */
double lab_step_param_number(const lab_step *s, const char *name, double dflt);
/* Slot for the driver's per-step state. */
void *lab_step_driver_data(const lab_step *s);
void lab_step_set_driver_data(lab_step *s, void *data);

/* Add a result value (copied). Returns 0 or LAB_ENOMEM. */
int lab_step_add_number(lab_step *s, const char *name, double v, const char *unit);
int lab_step_add_text(lab_step *s, const char *name, const char *v);
int lab_step_add_flag(lab_step *s, const char *name, int v);
/* Add an artifact to the result: name, media type, sha256 (32 bytes), size
 * and content (content_len bytes copied; content may be NULL with
 * content_len 0 when it is not sent inline). Returns 0 or LAB_ENOMEM. */
int lab_step_add_artifact(lab_step *s, const char *name, const char *media_type,
                          const uint8_t sha256[32], uint64_t size, const void *content,
                          size_t content_len);
/* Send a progress note to the orchestrator (best effort). */
void lab_step_progress(lab_step *s, double fraction, const char *text);
/* End the step. error: NULL on success, else a printf-style reason. After
 * this the step object is gone; the driver must not touch it again. */
void lab_step_finish(lab_step *s, lab_step_status status, const char *error_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- what a driver may ask of the worker ---- */

/* A safety input tripped on this device: latch the worker's e-stop (cancel
 * every running step, refuse new ones until Control CLEAR) and send
 * Control{ESTOP, reason} to the orchestrator, which halts the campaign and
 * stops every worker. The request is re-sent every second (and after each
 * Welcome) until the orchestrator answers with its own Control ESTOP.
 * Loop thread only. */
void lab_worker_estop(lab_worker *w, const char *reason);
/* The worker's device name. */
const char *lab_worker_name(const lab_worker *w);
lab_worker_state lab_worker_get_state(const lab_worker *w);

#endif
