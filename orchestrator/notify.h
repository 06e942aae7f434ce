/* Webhooks: a campaign tells HTTP endpoints of its brakes, pauses,
 * e-stops, lost devices and its end (the config's `notify` section).
 *
 * The loop thread hands each orchestrator event to lab_notify_event, which
 * maps it (one table in notify.c) to a notification, builds its JSON body
 * and queues it for every webhook that asked for that kind; that is all the
 * loop ever does, so a slow or failing webhook never delays dispatch.
 * Deliveries run on a thread of their own with libcurl (several at once,
 * each with its timeout), are retried with doubling backoff, and are
 * logged when they fail. Each webhook's queue is bounded: when it is full
 * the oldest notification waiting is dropped, with a log line.
 * Not for: the hub's event rows (orch.c records them), reading the config
 * (config.c checks the section with lab_notify_kind_parse and
 * lab_notify_url_check).
 */
#ifndef LAB_NOTIFY_H
#define LAB_NOTIFY_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "orchestrator/config.h"

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

/* 0 when path is a usable secret file (readable, mode 0600 or stricter,
 * not empty, at most 4096 bytes), else < 0 with err set. For validate. */
int lab_notify_check_secret(const char *path, lab_err *err);

typedef struct lab_notify lab_notify;

/* Called on the loop thread while an end notification is built: the
 * campaign's progress and best so far (a new object, or NULL). */
typedef json_t *(*lab_notify_summary_fn)(void *arg);

/* Start delivering for cfg's webhooks (cfg->n_notify > 0; cfg borrowed, it
 * must outlive the notifier). lab names the lab in every body. Reads the
 * webhooks' secret files. NULL with err set when a secret cannot be read
 * or the delivery thread cannot start. Call from the loop thread. */
lab_notify *lab_notify_new(const lab_campaign_cfg *cfg, const char *lab, lab_notify_summary_fn summary,
                           void *summary_arg, lab_err *err);
/* One orchestrator event (kind as recorded in the hub, its detail
 * borrowed): queue its notification, if it maps to one, for each webhook
 * that asked for it. time_us: the event's wall-clock time. Never blocks on
 * the network. Loop thread only. */
void lab_notify_event(lab_notify *n, const char *kind, const char *subject, const json_t *detail,
                      int64_t time_us);
/* The same for an event of one campaign of a lab (campaign NULL: of the
 * config's campaign, as lab_notify_event): the body's "campaign" names it,
 * and an end notification's summary is that campaign's (the function given
 * to lab_notify_set_campaign_summary, called with the summary_arg); "" for
 * an event of the lab itself (a device's), whose body names no campaign. */
void lab_notify_campaign_event(lab_notify *n, const char *campaign, const char *kind, const char *subject,
                               const json_t *detail, int64_t time_us);
typedef json_t *(*lab_notify_campaign_summary_fn)(void *arg, const char *campaign);
void lab_notify_set_campaign_summary(lab_notify *n, lab_notify_campaign_summary_fn fn);
/* The counts so far for `status`: {"webhooks", "sent", "failed",
 * "retried", "dropped", "pending", "last_error"?}. A new object. */
json_t *lab_notify_status(lab_notify *n);
/* Deliver what is still queued, waiting at most the longest webhook
 * timeout (retries included while that time lasts), log what is given up,
 * stop the thread and free. NULL-safe; clears *n. */
void lab_notify_destroy(lab_notify **n);

#endif
