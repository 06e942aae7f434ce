/* A limit on how many `message.bad` events one peer can write: a device (or
 * anything that connects to the device endpoint) sending garbage must not
 * fill the hub with a row per message. Each peer gets LAB_BADMSG_BURST rows
 * per LAB_BADMSG_WINDOW_US; beyond that its bad messages are only counted,
 * and one summary row per peer and window says how many were left out.
 * Plain memory owned by the caller (zeroed is empty); no I/O.
 * Not for: deciding what is a bad message (orch.c, campaign.c). */
#ifndef LAB_BADMSG_H
#define LAB_BADMSG_H

#include <stdint.h>

#include "protocols/envelope.h"

#define LAB_BADMSG_PEERS 64                  /* peers tracked at once (the least recent gives way) */
#define LAB_BADMSG_BURST 10                  /* rows per peer and window */
#define LAB_BADMSG_WINDOW_US (10 * 1000000LL)

typedef struct lab_badmsg_peer {
    char id[LAB_ID_MAX];
    int64_t window_us;                       /* start of the current window; 0: slot free */
    int64_t last_us;
    uint32_t recorded;                       /* rows in this window */
    uint64_t suppressed;                     /* bad messages not recorded in this window */
} lab_badmsg_peer;

typedef struct lab_badmsg {
    lab_badmsg_peer peers[LAB_BADMSG_PEERS];
} lab_badmsg;

/* Called with a peer's count of bad messages that were not recorded. */
typedef void (*lab_badmsg_fn)(const char *peer, uint64_t suppressed, void *arg);

/* A bad message from peer at now_us (monotonic): 1 when it may be
 * recorded, 0 when it is only counted. A window that ended with messages
 * left out, or a peer pushed out of the table, is summed up through fn
 * first. */
int lab_badmsg_allow(lab_badmsg *b, const char *peer, int64_t now_us, lab_badmsg_fn fn, void *arg);

/* 1 when peer's bad messages are being counted rather than recorded. */
int lab_badmsg_quiet(const lab_badmsg *b, const char *peer);

/* Sum up every window that has ended (all: every window, e.g. at shutdown)
 * through fn and start those peers afresh. Call it now and then. */
void lab_badmsg_flush(lab_badmsg *b, int64_t now_us, int all, lab_badmsg_fn fn, void *arg);

#endif
