/* The client side of the control endpoint: one JSON request, one JSON reply.
 * Used by the CLI (status, pause, ...) and the dashboard (labloop serve).
 * Not for: carrying actions out (control.c). */
#ifndef LAB_CONTROL_CLIENT_H
#define LAB_CONTROL_CLIENT_H

#include <jansson.h>
#include "common/err.h"
#include "common/keys.h"

#define LAB_CONTROL_DEFAULT_ENDPOINT "tcp://127.0.0.1:5561"

/* A request {"cmd": cmd, "user": the OS user, "host": this host} plus
 * reason when not NULL. Caller decrefs. */
json_t *lab_control_request(const char *cmd, const char *reason);
/* Send req to endpoint and wait up to timeout_ms for the reply. Returns the
 * reply (caller decrefs) or NULL with err set (nobody answered, unreadable
 * reply). Blocks the calling thread; opens and closes its own socket. */
json_t *lab_control_call(const char *endpoint, json_t *req, int timeout_ms, lab_err *err);

/* CURVE keys of a control client: the orchestrator's public key (pinned)
 * and the client's own pair, Z85. */
typedef struct lab_control_keys {
    char server[LAB_KEY_Z85], pub[LAB_KEY_Z85], sec[LAB_KEY_Z85];
} lab_control_keys;

/* Read keys from the client's secret key file and the orchestrator's public
 * key file. Returns 0 or < 0 with err naming the file. */
int lab_control_keys_load(lab_control_keys *k, const char *secret_file, const char *server_file, lab_err *err);
/* lab_control_call over CURVE with keys (NULL: plain). */
json_t *lab_control_call_keys(const char *endpoint, const lab_control_keys *keys, json_t *req, int timeout_ms,
                              lab_err *err);

#endif
