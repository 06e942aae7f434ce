/* Error codes and the error record every labloop module reports through.
 *
 * One enum, built from an X-macro so code, name and message stay together.
 * 0 is success, errors are negative. A lab_err carries a code plus a message
 * a person can act on ("campaign.yaml:14:7: 'low' (400) must be below 'high'").
 * Conversions from errno, zmq_errno() and SQLite codes live in err.c only.
 */
#ifndef LAB_ERR_H
#define LAB_ERR_H

#include <stddef.h>

#define LAB_ERRNO_MAP(X)                                   \
    X(OK, 0, "success")                                     \
    X(EINVAL, -1, "invalid argument")                       \
    X(ENOMEM, -2, "out of memory")                          \
    X(EIO, -3, "input/output error")                        \
    X(ECONFIG, -4, "invalid configuration")                 \
    X(EPROTO, -5, "malformed message")                      \
    X(EVERSION, -6, "unsupported protocol version")         \
    X(ETOOBIG, -7, "message too large")                     \
    X(EDB, -8, "data hub error")                            \
    X(EZMQ, -9, "messaging error")                          \
    X(ENOTFOUND, -10, "not found")                          \
    X(ESTATE, -11, "not allowed in this state")             \
    X(ETIMEDOUT, -12, "timed out")                          \
    X(EAGAIN, -13, "try again")                             \
    X(EREFUSED, -14, "refused")                             \
    X(EDRIVER, -15, "device driver error")

typedef enum {
#define LAB_ERR_ENUM(code, val, msg) LAB_##code = val,
    LAB_ERRNO_MAP(LAB_ERR_ENUM)
#undef LAB_ERR_ENUM
} lab_errno;

#define LAB_ERR_MSG_MAX 512

typedef struct lab_err {
    int code;                     /* lab_errno; 0 when no error */
    char msg[LAB_ERR_MSG_MAX];    /* human-readable, with context */
} lab_err;

/* Short message for a code ("invalid configuration"). Never NULL. */
const char *lab_strerror(int code);
/* Name of a code ("ECONFIG"). Never NULL. */
const char *lab_err_name(int code);

/* Records code and a printf-style message into err (err may be NULL).
 * Returns code, so callers can `return lab_err_set(err, LAB_EIO, ...)`. */
int lab_err_set(lab_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like lab_err_set, but prefixes the existing message: used to add context
 * while an error travels up ("device 'ot2': " + "step timed out"). */
int lab_err_prefix(lab_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lab_err_clear(lab_err *err);

/* Conversions from the environment's error channels, in one place. */
int lab_err_from_errno(lab_err *err, int errnum, const char *what);
int lab_err_from_zmq(lab_err *err, const char *what);
int lab_err_from_sqlite(lab_err *err, int rc, const char *sqlmsg, const char *what);

#endif
