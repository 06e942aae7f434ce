/* The orchestrator's replication of its hub into a shared PostgreSQL hub
 * (a campaign config's `hub: {replicate_to: URL}`): a thread of its own,
 * with its own read-only SQLite connection, pushing every second (hub_pg.h).
 *
 * For: keeping the shared hub current while a campaign runs, without the
 * campaign ever waiting for PostgreSQL: the loop thread only starts and
 * stops the thread; a PostgreSQL that is down or slow is retried with
 * backoff on the replica's thread and logged there. Not for: the push
 * itself (hub_pg.c).
 */
#ifndef LAB_HUB_REPLICA_H
#define LAB_HUB_REPLICA_H

#include "common/err.h"
#include "orchestrator/hub/hub_pg.h"

typedef struct lab_hub_replica lab_hub_replica;

/* Start pushing the SQLite hub at db to url with o (copied). NULL with err
 * set when the thread could not be made. Call from the owner's thread. */
lab_hub_replica *lab_hub_replica_start(const char *db, const char *url,
                                       const lab_hub_pg_push_opts *o, lab_err *err);
/* Ask the thread to stop, let it make one last pass (what was committed
 * before the call arrives at the hub, if PostgreSQL can be reached), join
 * it and free. NULL-safe. */
void lab_hub_replica_stop(lab_hub_replica **r);

#endif
