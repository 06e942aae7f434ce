/* CURVE key files: make them, read them, and say whether an endpoint stays
 * on this machine.
 *
 * A key pair is two text files in the ZeroMQ certificate format (what
 * CZMQ's zcert and pyzmq's zmq.auth.load_certificate read and write):
 * NAME.pub holds `public-key = "<40 Z85 characters>"`, NAME.key holds the
 * public and the secret key. Secret key files are created 0600 and refused
 * when group or others may read them. The orchestrator, the workers and the
 * CLI all read keys through this module.
 * Not for: authenticating peers (orchestrator/auth.c) or setting socket
 * options (lab_keys_apply_client does the client side's three).
 */
#ifndef LAB_KEYS_H
#define LAB_KEYS_H

#include "common/err.h"

/* A Z85 CURVE key: 40 characters and a NUL. */
#define LAB_KEY_Z85 41

/* Write DIR/NAME.key (0600) and DIR/NAME.pub (0644) with a new key pair.
 * Refuses (LAB_ESTATE) when either file exists, unless force. pub receives
 * the public key; DIR is made (0700) when missing. NAME: letters, digits, '.', '_', '-'. Returns 0 or < 0
 * with err naming the file. */
int lab_keys_generate(const char *dir, const char *name, int force, char pub[LAB_KEY_Z85], lab_err *err);

/* Read a public key from path: a .pub file or a .key file (its public
 * line). Returns 0 or < 0 with err naming the file. */
int lab_keys_read_public(const char *path, char pub[LAB_KEY_Z85], lab_err *err);

/* Read a secret key file. Refused (LAB_ECONFIG) when group or others can
 * read it. pub (may be NULL) receives the public key derived from the
 * secret one. Returns 0 or < 0 with err naming the file. */
int lab_keys_read_secret(const char *path, char sec[LAB_KEY_Z85], char pub[LAB_KEY_Z85], lab_err *err);

/* The public key that belongs with a secret key file: PATH with ".key"
 * replaced by ".pub" (or ".pub" appended). Writes into out (n bytes). */
void lab_keys_public_path(const char *secret_path, char *out, size_t n);

/* Make sock a CURVE client that talks only to the server whose public key
 * is server_pub, with its own pair (pub, sec). Before connect. Returns 0 or
 * LAB_EZMQ with err set. */
int lab_keys_apply_client(void *sock, const char *server_pub, const char *pub, const char *sec, lab_err *err);

/* 1 when endpoint stays on this machine: ipc://, inproc://, or tcp:// to
 * 127.0.0.0/8, ::1 or localhost (a connect endpoint's source part, as in
 * tcp://a;b, is ignored); 0 otherwise. */
int lab_keys_endpoint_is_local(const char *endpoint);

#endif
