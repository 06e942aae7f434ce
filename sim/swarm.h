/* A swarm of simulated null devices in one process, for scale tests and
 * benchmarks: a lab of a thousand devices without a thousand worker
 * processes.
 *
 * Each device is its own DEALER socket (routing id = its name, e.g. w0 ..
 * w999) and speaks the device protocol like a worker with the null driver:
 * Hello, heartbeats at the interval its Welcome gives, and every
 * StepRequest answered DONE with its numeric parameters echoed as values,
 * after step_ms (0: at once). A CANCEL or an e-stop ends pending steps as
 * cancelled; NOT_REGISTERED makes a device say Hello again. Results are
 * kept in memory only (no outbox): not crash-safe, which the benches and
 * scale tests do not need. One thread, epoll over the sockets' ZMQ_FD.
 * Not for: realistic devices (sim/lab.c and the worker runtime are).
 */
#ifndef LAB_SWARM_H
#define LAB_SWARM_H

#include <stddef.h>
#include "common/err.h"

typedef struct lab_swarm_opts {
    const char *endpoint;        /* the orchestrator's device endpoint */
    const char *prefix;          /* device names are PREFIX0 .. PREFIX(n-1) */
    size_t n_devices;
    const char *capability;      /* each device's one capability */
    int capacity;                /* steps at once per device (>= 1) */
    int step_ms;                 /* how long each step takes (0: answered at once) */
} lab_swarm_opts;

/* Run the swarm until SIGINT/SIGTERM (returns 0) or until every device has
 * been told that the campaign ended (returns 0). < 0 with err set when it
 * cannot start (sockets, file descriptors). Blocks the calling thread. */
int lab_swarm_run(const lab_swarm_opts *opts, lab_err *err);

#endif
