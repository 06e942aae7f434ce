/* Error codes, messages and the conversions from errno, ZeroMQ and SQLite. */
#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

const char *lab_strerror(int code)
{
    switch (code) {
#define LAB_ERR_MSG(c, val, msg) case val: return msg;
        LAB_ERRNO_MAP(LAB_ERR_MSG)
#undef LAB_ERR_MSG
    }
    return "unknown error";
}

const char *lab_err_name(int code)
{
    switch (code) {
#define LAB_ERR_NAME(c, val, msg) case val: return #c;
        LAB_ERRNO_MAP(LAB_ERR_NAME)
#undef LAB_ERR_NAME
    }
    return "EUNKNOWN";
}

int lab_err_set(lab_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int lab_err_prefix(lab_err *err, const char *fmt, ...)
{
    if (!err)
        return LAB_EINVAL;
    char prefix[LAB_ERR_MSG_MAX];
    char old[LAB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
    return err->code;
}

void lab_err_clear(lab_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

int lab_err_from_errno(lab_err *err, int errnum, const char *what)
{
    int code = errnum == ENOMEM ? LAB_ENOMEM
             : errnum == ENOENT ? LAB_ENOTFOUND
             : errnum == ETIMEDOUT ? LAB_ETIMEDOUT
             : errnum == EAGAIN ? LAB_EAGAIN
             : errnum == EINVAL ? LAB_EINVAL : LAB_EIO;
    return lab_err_set(err, code, "%s: %s", what, strerror(errnum));
}

int lab_err_from_zmq(lab_err *err, const char *what)
{
    int e = zmq_errno();
    int code = e == EAGAIN ? LAB_EAGAIN : e == ENOMEM ? LAB_ENOMEM : LAB_EZMQ;
    return lab_err_set(err, code, "%s: %s", what, zmq_strerror(e));
}

int lab_err_from_sqlite(lab_err *err, int rc, const char *sqlmsg, const char *what)
{
    (void)rc;
    return lab_err_set(err, LAB_EDB, "%s: %s", what, sqlmsg ? sqlmsg : "sqlite error");
}
