/* ZeroMQ sockets joined to a libuv loop (see zloop.h for the rules). */
#include "protocols/zloop.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/banned.h"

typedef struct s_watch {
    uv_poll_t poll;
    lab_zloop *z;
    void *sock;
    lab_zloop_read_fn fn;
    void *arg;
    int active;
} s_watch;

struct lab_zloop {
    uv_loop_t *loop;
    uv_prepare_t prepare;
    lab_zloop_flush_fn flush;
    void *arg;
    s_watch watch[LAB_ZLOOP_MAX];
    int open_handles;
    int changed;                     /* a socket was added or removed during a round */
};

/* Drain every socket, flush, and again while anything came in or went out.
 * A drain ends with a receive that finds nothing (EAGAIN); like reading
 * ZMQ_EVENTS, that receive takes in the socket's pending ZeroMQ commands, so
 * once a round has received nothing and sent nothing after those receives,
 * the fds will wake us for whatever comes next. Reading ZMQ_EVENTS on top
 * would only cost system calls. With one socket, what its handlers sent went
 * out before its own closing EAGAIN, so only the flush's sends (or a socket
 * swapped during the round) call for another round: each round costs two
 * system calls per socket even when it finds nothing. */
static void s_cycle(lab_zloop *z)
{
    for (;;) {
        int got = 0, n_active = 0;
        z->changed = 0;
        for (int i = 0; i < LAB_ZLOOP_MAX; i++) {
            s_watch *w = &z->watch[i];
            if (w->active) {
                got += w->fn(w->sock, w->arg);
                n_active++;
            }
        }
        int sent = z->flush ? z->flush(z->arg) : 0;
        if (sent == 0 && (got == 0 || (n_active == 1 && !z->changed)))
            break;
    }
}

static void s_on_prepare(uv_prepare_t *h)
{
    s_cycle((lab_zloop *)h->data);
}

/* The fd only wakes the loop: the prepare hook, which runs before the loop
 * sleeps again, does the draining (once per turn, not once per socket). */
static void s_on_poll(uv_poll_t *h, int status, int events)
{
    (void)events;
    if (status < 0)
        lab_warn("socket poll error: %s", uv_strerror(status));
    (void)h;
}

lab_zloop *lab_zloop_new(uv_loop_t *loop, lab_zloop_flush_fn flush, void *arg, lab_err *err)
{
    lab_zloop *z = calloc(1, sizeof *z);
    if (!z) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    z->loop = loop;
    z->flush = flush;
    z->arg = arg;
    uv_prepare_init(loop, &z->prepare);
    z->prepare.data = z;
    z->open_handles = 1;
    uv_prepare_start(&z->prepare, s_on_prepare);
    return z;
}

int lab_zloop_add(lab_zloop *z, void *sock, lab_zloop_read_fn fn, void *arg, lab_err *err)
{
    for (int i = 0; i < LAB_ZLOOP_MAX; i++) {
        s_watch *w = &z->watch[i];
        if (w->active || w->poll.data)
            continue;
        int fd;
        size_t sz = sizeof fd;
        if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) != 0)
            return lab_err_from_zmq(err, "ZMQ_FD");
        int rc = uv_poll_init(z->loop, &w->poll, fd);
        if (rc < 0)
            return lab_err_set(err, LAB_EIO, "uv_poll_init: %s", uv_strerror(rc));
        w->poll.data = w;
        w->z = z;
        w->sock = sock;
        w->fn = fn;
        w->arg = arg;
        w->active = 1;
        z->open_handles++;
        z->changed = 1;
        uv_poll_start(&w->poll, UV_READABLE, s_on_poll);
        return 0;
    }
    return lab_err_set(err, LAB_EINVAL, "too many sockets in one loop");
}

static void s_on_close(uv_handle_t *h)
{
    lab_zloop *z;
    if (h->type == UV_PREPARE) {
        z = h->data;
    } else {
        s_watch *w = h->data;
        z = w->z;
        memset(w, 0, sizeof *w);
    }
    if (--z->open_handles == 0)
        free(z);
}

void lab_zloop_remove(lab_zloop *z, void *sock)
{
    for (int i = 0; i < LAB_ZLOOP_MAX; i++) {
        s_watch *w = &z->watch[i];
        if (w->active && w->sock == sock) {
            w->active = 0;
            z->changed = 1;
            uv_poll_stop(&w->poll);
            uv_close((uv_handle_t *)&w->poll, s_on_close);
        }
    }
}

void lab_zloop_kick(lab_zloop *z)
{
    s_cycle(z);
}

void lab_zloop_destroy(lab_zloop **zp)
{
    if (!zp || !*zp)
        return;
    lab_zloop *z = *zp;
    *zp = NULL;
    for (int i = 0; i < LAB_ZLOOP_MAX; i++)
        if (z->watch[i].active)
            lab_zloop_remove(z, z->watch[i].sock);
    uv_prepare_stop(&z->prepare);
    uv_close((uv_handle_t *)&z->prepare, s_on_close);
}
