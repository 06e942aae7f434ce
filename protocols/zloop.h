/* ZeroMQ sockets inside a libuv loop: the one place that knows how.
 *
 * ZMQ_FD is edge-triggered. uv_poll on it only wakes the loop; a uv_prepare
 * hook, which runs before every sleep, repeats "drain every socket (receive
 * until EAGAIN), then flush" until a round receives nothing and the flush
 * sends nothing. flush is where the owner commits its hub transaction and
 * sends what waited for that commit (persist before acknowledge). A receive
 * that ends in EAGAIN takes in ZeroMQ's pending commands and so resets the
 * edge; without the repeat the loop could sleep on messages already queued
 * (a send can consume the edge too). With one socket a round is repeated
 * only when the flush sent something, so its read function must receive
 * until EAGAIN (or until it stops reading for good).
 * Single-threaded: everything runs on the loop's thread.
 */
#ifndef LAB_ZLOOP_H
#define LAB_ZLOOP_H

#include <uv.h>
#include "common/err.h"

typedef struct lab_zloop lab_zloop;

/* Drain the socket: receive until LAB_EAGAIN. Returns messages handled. */
typedef int (*lab_zloop_read_fn)(void *sock, void *arg);
/* Commit and send what is queued. Returns the number of messages sent. */
typedef int (*lab_zloop_flush_fn)(void *arg);

lab_zloop *lab_zloop_new(uv_loop_t *loop, lab_zloop_flush_fn flush, void *arg, lab_err *err);
/* Watch sock (not owned). At most LAB_ZLOOP_MAX sockets. */
#define LAB_ZLOOP_MAX 8
int lab_zloop_add(lab_zloop *z, void *sock, lab_zloop_read_fn fn, void *arg, lab_err *err);
/* Stop watching sock (before closing it). */
void lab_zloop_remove(lab_zloop *z, void *sock);
/* Run the drain/flush cycle now (e.g. after a timer queued sends). */
void lab_zloop_kick(lab_zloop *z);
/* Close the loop handles; the object is freed in the last close callback.
 * The caller's pointer is cleared. */
void lab_zloop_destroy(lab_zloop **z);

#endif
