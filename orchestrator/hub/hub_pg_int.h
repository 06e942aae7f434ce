/* What hub_pg.c and hub_pg_read.c share: the libpq connection and its
 * errors. Not a public interface: the rest of labloop uses hub_pg.h. */
#ifndef LAB_HUB_PG_INT_H
#define LAB_HUB_PG_INT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"

/* Connect to url with labloop's timeouts. NULL with err set: LAB_EAGAIN
 * when the server could not be reached (try later), LAB_EINVAL for a URL
 * libpq cannot read. */
PGconn *lab_hub_pg_connect(const char *url, lab_err *err);
/* Run sql (no parameters, no rows wanted). Returns 0 or < 0 (LAB_EAGAIN
 * for a connection lost or a server going down, else LAB_EDB). */
int lab_hub_pg_exec(PGconn *c, const char *sql, const char *what, lab_err *err);
/* Set err from a failed result r (may be NULL: from the connection).
 * Returns the code. */
int lab_hub_pg_fail(PGconn *c, const PGresult *r, const char *what, lab_err *err);
/* The schema version in labloop.meta, 0 when there is no labloop schema. */
int lab_hub_pg_schema_version(PGconn *c, int64_t *v, lab_err *err);

#endif
