/* The replication thread of a running campaign (see hub_replica.h). */
#include "orchestrator/hub/hub_replica.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "common/log.h"

#include "common/banned.h"

#define S_POLL_MS 1000

struct lab_hub_replica {
    lab_hub_pg_pusher *pusher;
    pthread_t thread;
    volatile sig_atomic_t stop;
};

static void *s_main(void *arg)
{
    lab_hub_replica *r = arg;
    lab_err err;
    lab_err_clear(&err);
    /* Retry forever: the lab may be offline for days and catch up later. */
    if (lab_hub_pg_push_run(r->pusher, 1, S_POLL_MS, 0, &r->stop, &err) < 0)
        lab_error("replication to the PostgreSQL hub stopped: %s", err.msg);
    return NULL;
}

lab_hub_replica *lab_hub_replica_start(const char *db, const char *url,
                                       const lab_hub_pg_push_opts *o, lab_err *err)
{
    lab_hub_replica *r = calloc(1, sizeof *r);
    if (!r) {
        lab_err_set(err, LAB_ENOMEM, "replication: out of memory");
        return NULL;
    }
    r->pusher = lab_hub_pg_pusher_new(db, url, o, err);
    if (!r->pusher) {
        free(r);
        return NULL;
    }
    /* The loop thread's signals (SIGINT, SIGTERM) must not land here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, s_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        lab_err_from_errno(err, rc, "starting the replication thread");
        lab_hub_pg_pusher_destroy(&r->pusher);
        free(r);
        return NULL;
    }
    return r;
}

void lab_hub_replica_stop(lab_hub_replica **rp)
{
    if (!rp || !*rp)
        return;
    lab_hub_replica *r = *rp;
    r->stop = 1;
    pthread_join(r->thread, NULL);
    lab_hub_pg_pusher_destroy(&r->pusher);
    free(r);
    *rp = NULL;
}
