/* The kinds of webhook notification and the checks of a `notify` section
 * that the config loader needs (names, URLs), apart from the delivery
 * (notify.c), so that reading a config does not depend on sending one.
 * Not for: delivering notifications (notify.h).
 */
#ifndef LAB_NOTIFY_KIND_H
#define LAB_NOTIFY_KIND_H

#include <stddef.h>

/* The kinds of notification, as a config's `events` names them. */
typedef enum {
    LAB_NOTIFY_BRAKE,        /* brake: the failure brake paused the campaign */
    LAB_NOTIFY_PAUSE,        /* pause: the campaign was paused (not a clear-estop's pause) */
    LAB_NOTIFY_ESTOP,        /* estop */
    LAB_NOTIFY_DEVICE_LOST,  /* device.lost */
    LAB_NOTIFY_END,          /* end: completed, exhausted or aborted */
    LAB_NOTIFY_N_KINDS
} lab_notify_kind;

#define LAB_NOTIFY_ALL ((1u << LAB_NOTIFY_N_KINDS) - 1)

/* The name of a kind ("device.lost"), or NULL past the last. */
const char *lab_notify_kind_name(int kind);
/* The kind a name stands for, or -1. */
int lab_notify_kind_parse(const char *name);
/* 0 when url is one a webhook may have (http:// or https://, a host, no
 * spaces or control characters), else LAB_EINVAL with why set. */
int lab_notify_url_check(const char *url, char *why, size_t n);

#endif
