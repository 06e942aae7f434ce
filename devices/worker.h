/* The device worker runtime: connect a driver to an orchestrator.
 *
 * Connects a DEALER (routing id = device name), says Hello, waits for
 * Welcome (or stops on Refuse), exchanges heartbeats, reconnects with backoff
 * when the orchestrator goes silent, runs StepRequests through the driver
 * (up to capacity at once, each with its deadline), and keeps every result in
 * an outbox until the orchestrator Acks it, re-sending after a reconnect.
 * Answers a repeated StepRequest with the attempt's state or stored result
 * instead of running it twice. Not for: what a step does (the driver's job).
 */
#ifndef LAB_WORKER_H
#define LAB_WORKER_H

#include <stddef.h>
#include "common/err.h"
#include "devices/driver.h"

typedef struct lab_worker_opts {
    const char *name;                 /* device name; routing id */
    const char *endpoint;             /* orchestrator's device endpoint */
    const char *const *capabilities;
    size_t n_capabilities;
    int capacity;                     /* steps at once, >= 1 */
    const lab_driver_ops *ops;
    void *driver;                     /* the driver's state; ops->destroy frees it */
    int reconnect_min_ms;             /* first wait for Welcome before reconnecting (default 500) */
    int reconnect_max_ms;             /* default 5000 */
    const char *outbox_dir;           /* NULL: the outbox is in memory only; else each result
                                       * is also a file here until acked, and survives a
                                       * worker restart (made if missing) */
    /* CURVE (all three or none): the orchestrator's public key, pinned so
     * that the worker talks only to its own lab, and the worker's own key
     * pair, which the lab's allowlist binds to its name. Z85 text. */
    const char *server_key;
    const char *public_key;
    const char *secret_key;
} lab_worker_opts;

/* lab_worker_run's answer when the orchestrator said its campaign ended
 * (Refuse CAMPAIGN_ENDED): a normal end, not an error. */
#define LAB_WORKER_ENDED 1

/* Run the worker until SIGINT/SIGTERM (returns 0), the campaign's end
 * (returns LAB_WORKER_ENDED) or a Refuse (returns LAB_EREFUSED with the
 * reason in err). Blocks the calling thread. */
int lab_worker_run(const lab_worker_opts *opts, lab_err *err);

#endif
