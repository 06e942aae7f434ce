/* Who may talk to the orchestrator: CURVE on both endpoints, a ZAP handler
 * that lets in only the keys the campaign config names, and the counters
 * and rate-limited log lines of what was refused.
 *
 * With a `security` section the device and control ROUTERs are CURVE
 * servers with the orchestrator's secret key. libzmq asks the ZAP handler
 * (a REP socket on inproc://zeromq.zap.01, served on the orchestrator's
 * loop) about every new connection; it accepts a device key as that
 * device's name and a client key as that client's name, which libzmq then
 * attaches to every message of the connection as its User-Id. orch.c and
 * control.c compare that name with what each message claims. A socket
 * monitor counts connections that fail the handshake before ZAP is asked
 * (no keys, or keys for another lab's orchestrator).
 * Without a `security` section (plain mode, loopback or ipc only) nothing
 * is checked and everyone on the control endpoint is an operator.
 * Not for: reading key files (common/keys.c) or the config (config.c).
 */
#ifndef LAB_AUTH_H
#define LAB_AUTH_H

#include <jansson.h>
#include "common/err.h"
#include "orchestrator/config.h"
#include "protocols/zloop.h"

typedef struct lab_auth lab_auth;

typedef enum {
    LAB_AUTH_DEVICES,        /* the device endpoint */
    LAB_AUTH_CONTROL,        /* the control endpoint */
} lab_auth_endpoint;

typedef enum {
    LAB_REFUSED_CONNECTION,  /* a handshake failed or ZAP said no */
    LAB_REFUSED_MESSAGE,     /* a device message under another device's name */
    LAB_REFUSED_COMMAND,     /* a control command the client's role does not allow */
    LAB_REFUSED_KINDS_
} lab_refused_kind;

/* "connection", "message" or "command". */
const char *lab_auth_kind_name(lab_refused_kind kind);

/* Called for a refusal the rate limiter lets through (at most a few per
 * kind every 10 s; a later line says how many were not shown). */
typedef void (*lab_auth_report_fn)(void *arg, lab_refused_kind kind, const char *what);

/* Read the secret key (secure mode) and start the ZAP handler on zctx.
 * cfg is borrowed and must outlive the object. Plain mode: no key, no
 * handler, and a warning that says so. NULL with err set when the secret
 * key cannot be used or the handler cannot bind. */
lab_auth *lab_auth_new(void *zctx, const lab_campaign_cfg *cfg, lab_auth_report_fn report, void *arg,
                       lab_err *err);
/* Make sock (a ROUTER, before bind) a CURVE server for endpoint ep and
 * watch its handshakes. Nothing in plain mode. Returns 0 or < 0. */
int lab_auth_server(lab_auth *a, void *sock, lab_auth_endpoint ep, lab_err *err);
/* Serve ZAP requests and handshake events on zl's loop. Returns 0 or < 0. */
int lab_auth_watch(lab_auth *a, lab_zloop *zl, lab_err *err);

/* 1 with CURVE, 0 in plain mode. */
int lab_auth_secure(const lab_auth *a);
/* The client named by a control message's User-Id, or NULL (plain mode, or
 * an unknown name). The pointer is into the config. */
const lab_cfg_client *lab_auth_client(const lab_auth *a, const char *user_id);
/* Count a refusal and report it when the rate limiter allows. */
void lab_auth_refused(lab_auth *a, lab_refused_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"mode": "curve"|"plain", "refused_connections": n, "refused_messages": n,
 *  "refused_commands": n}; caller decrefs. */
json_t *lab_auth_status(const lab_auth *a);

/* Closes its sockets; call before the context is terminated. */
void lab_auth_destroy(lab_auth **a);

#endif
