/* The envelope codec: how a labloop message looks on a ZeroMQ socket.
 *
 * A message is [routing id, ROUTER side only] + a signature frame "LAB" plus
 * one version byte + one protobuf Envelope frame. This module encodes,
 * decodes, checks signature, version and size, and sends/receives whole
 * messages without blocking. It knows nothing about what the messages mean.
 */
#ifndef LAB_ENVELOPE_H
#define LAB_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include "common/err.h"
#include "labloop.pb-c.h"

#define LAB_PROTO_VERSION 1
#define LAB_SIG_LEN 4
/* Largest Envelope accepted or sent, in bytes. Bigger artifacts are chunked. */
#define LAB_MSG_MAX (1u << 20)
/* Longest routing id (device name) accepted. */
#define LAB_ID_MAX 64

typedef Labloop__Envelope lab_env;

/* Check a signature frame. LAB_EPROTO when it is not "LAB"+byte,
 * LAB_EVERSION (err names both versions) when the version differs. */
int lab_env_check_sig(const void *data, size_t len, lab_err *err);

/* Decode an Envelope frame of len bytes. NULL with err set when len > max,
 * the bytes are not a valid Envelope, or it has no body. Caller frees with
 * lab_env_free. */
lab_env *lab_env_decode(const void *data, size_t len, size_t max, lab_err *err);
void lab_env_free(lab_env *env);

/* Encode env into a new buffer (caller frees). LAB_ETOOBIG over LAB_MSG_MAX. */
int lab_env_encode(const lab_env *env, uint8_t **buf, size_t *len, lab_err *err);

/* Send env as one message, non-blocking. id: the peer's routing id on a
 * ROUTER socket, NULL on a DEALER. LAB_EAGAIN when the socket cannot take it
 * now; LAB_EZMQ otherwise (e.g. unknown peer with ROUTER_MANDATORY). */
int lab_env_send(void *sock, const char *id, const lab_env *env, lab_err *err);
/* Send already-encoded envelope bytes (outbox re-sends). */
int lab_env_send_raw(void *sock, const char *id, const uint8_t *buf, size_t len, lab_err *err);
/* Send env under another version byte: a Refuse BAD_VERSION to a peer of
 * that version, which checks the signature against its own version. */
int lab_env_send_as(void *sock, const char *id, const lab_env *env, uint8_t version, lab_err *err);
/* The peer's version named by a LAB_EVERSION error from this module, or -1. */
int lab_env_err_version(const lab_err *e);

/* Receive one whole message, non-blocking. On a ROUTER pass id/id_len to
 * receive the routing id as a NUL-terminated string (NULL on a DEALER).
 * Returns 0 and *out (caller frees), LAB_EAGAIN when nothing is waiting, or
 * another error when a message arrived but was bad; then every frame of it
 * has been consumed, *out is NULL, id is still filled in, and err says why. */
int lab_env_recv(void *sock, char *id, size_t id_len, lab_env **out, lab_err *err);

/* The same, and peer (peer_len bytes) receives the User-Id the ZAP handler
 * gave the sender's connection ("" when none: plain mode). */
int lab_env_recv_peer(void *sock, char *id, size_t id_len, char *peer, size_t peer_len, lab_env **out,
                      lab_err *err);

/* Name of the body, for logs ("hello", "step_result", ...). */
const char *lab_env_kind(const lab_env *env);

/* Build typed values for Param lists (caller owns; free with lab_param_free). */
Labloop__Param *lab_param_number(const char *name, double v, const char *unit);
Labloop__Param *lab_param_text(const char *name, const char *v);
Labloop__Param *lab_param_copy(const Labloop__Param *p);
void lab_param_free(Labloop__Param *p);
/* Value as a double: number, integer or flag; text parsed when numeric.
 * Returns 0 or LAB_EINVAL. */
int lab_param_to_double(const Labloop__Param *p, double *v);

#endif
