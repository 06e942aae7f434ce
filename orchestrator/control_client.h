/* The client side of the control endpoint: one JSON request, one JSON reply.
 * Used by the CLI (status, pause, ...) and the dashboard (labloop serve).
 * Not for: carrying actions out (control.c). */
#ifndef LAB_CONTROL_CLIENT_H
#define LAB_CONTROL_CLIENT_H

#include <jansson.h>
#include "common/err.h"

#define LAB_CONTROL_DEFAULT_ENDPOINT "tcp://127.0.0.1:5561"

/* A request {"cmd": cmd, "user": the OS user, "host": this host} plus
 * reason when not NULL. Caller decrefs. */
json_t *lab_control_request(const char *cmd, const char *reason);
/* Send req to endpoint and wait up to timeout_ms for the reply. Returns the
 * reply (caller decrefs) or NULL with err set (nobody answered, unreadable
 * reply). Blocks the calling thread; opens and closes its own socket. */
json_t *lab_control_call(const char *endpoint, json_t *req, int timeout_ms, lab_err *err);

#endif
