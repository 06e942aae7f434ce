/* The lab's internal state, shared by the lab's files: orch.c (loop,
 * sockets, devices, messages, its list of campaigns, carrying out the
 * campaigns' actions), control.c (the control endpoint), share.c (exclusive
 * devices, the queue of campaigns) and orch_prior.c (warm starts). Not a
 * public interface: nothing else includes it; the campaign module
 * (campaign.h, campaign.c, approve.c, workflow.c, actions.h) does not.
 */
#ifndef LAB_ORCH_INT_H
#define LAB_ORCH_INT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "common/jtext.h"
#include "orchestrator/auth.h"
#include "orchestrator/badmsg.h"
#include "orchestrator/campaign.h"
#include "orchestrator/config.h"
#include "orchestrator/events.h"
#include "orchestrator/hub/hub.h"
#include "orchestrator/hub/hub_replica.h"
#include "orchestrator/notify.h"
#include "orchestrator/orch.h"
#include "orchestrator/slots.h"
#include "planners/planner.h"
#include "protocols/envelope.h"
#include "protocols/zloop.h"

typedef enum { LAB_DEV_OFFLINE, LAB_DEV_READY, LAB_DEV_LOST } lab_dev_state;

struct lab_out;

struct lab_device {
    const lab_cfg_device *cfg;
    size_t idx;                     /* its place in the config and in slots */
    lab_slots *slots;               /* the orchestrator's free-slot index (kept current: lab_orch_device_sync) */
    lab_dev_state state;
    int welcomed;                   /* Welcome sent: steps may be dispatched */
    char driver[64];
    int capacity;
    int running;                    /* attempts in flight */
    int reserved;                   /* slots held for a 'within' successor */
    int64_t last_rx_us, last_hb_us; /* monotonic */
    int64_t last_nudge_us;          /* last NOT_REGISTERED sent */
    int64_t busy_since_us;
    double busy_s;                  /* step-seconds: each running attempt counts */
    long dispatched;                /* attempts sent to it in this run */
    int heard;                      /* a Hello from it was handled in this run (its lists are known) */
    char **acks;                    /* durable results not yet acknowledged to the device */
    size_t n_acks, cap_acks;
    int64_t acks_since_us;          /* monotonic: when the oldest of them became durable */
    int ack_listed;                 /* in the orchestrator's list of devices holding acks */
    struct lab_out *open_ack;       /* its Ack queued for the commit not yet begun, or NULL */
};


typedef struct lab_out {
    int control;                    /* 1: control socket (raw id + JSON) */
    int committed;                  /* queued before the last commit: sent once that is on disk */
    char id[LAB_ID_MAX];
    size_t id_len;
    lab_env *env;                   /* device socket: the envelope */
    Labloop__Welcome welcome;
    char run[24];                   /* welcome.run: the lab's run id */
    Labloop__Refuse refuse;
    Labloop__Ack ack;
    char **ack_ids;
    char *json;                     /* control socket: the reply */
    struct lab_out *next;
} lab_out;

struct lab_orch {
    const lab_campaign_cfg *cfg;    /* the lab's sections: devices, endpoints, security, hub, heartbeat */
    lab_camp *camps;                /* its campaigns, in the order they were added */
    size_t n_camps;
    json_t *past;                   /* campaigns that had ended before this start (from the hub): JSON list */
    int single;                     /* labloop run: the lab stops when its one campaign ends */
    int scheduling, schedule_again; /* inside lab_orch_schedule; asked again meanwhile */
    int started;                    /* endpoints bound, hub writes queued */
    struct lab_deferred *deferred;  /* submit requests waiting for no commit to be out (control.c) */
    int64_t run_id;                 /* Welcome.run: stable for the lab's hub, never reused */
    lab_orch_opts opts;
    char db_path[1024];
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    lab_zloop *zl;
    void *zctx, *dev_sock, *ctl_sock;
    lab_auth *auth;                 /* CURVE and who may connect (auth.h) */
    lab_hub *hub;
    lab_hub_replica *replica;    /* hub.replicate_to: pushing on its own thread */
    lab_notify *notify;             /* the config's webhooks (NULL: none), delivered on their own thread */

    lab_device *devices;
    lab_slots *slots;               /* free device slots by capability */
    lab_camp **excl_owner;          /* per device: the campaign holding it exclusively, or NULL (share.c) */
    size_t *excl_devs;              /* the devices held exclusively now */
    size_t n_excl;
    uint32_t *dev_hash;             /* device name -> index + 1 (open addressing; 0: empty) */
    size_t dev_hash_mask;
    lab_device **ack_devs;          /* devices holding durable acks not yet sent */
    size_t n_ack_devs;
    size_t n_ready_devs;            /* devices in state ready */

    lab_out *out_head, *out_tail;   /* waiting for the next commit */
    int sent;                       /* messages sent since the last flush */
    uint64_t seq;

    int64_t start_mono_us, last_note_us, resume_grace_until_us;
    int stopping;
    int estopped;                   /* an e-stop came and was not cleared since: no queued campaign starts */
    int fatal;
    lab_err fatal_err;

    double *lat_us;                 /* dispatch -> result committed, per done attempt */
    int64_t *uncommitted_us;        /* dispatch times of results waiting for the commit */
    size_t n_uncommitted, cap_uncommitted;
    size_t n_committed_lat;         /* the first ones of those are in the commit being run */
    int syncing;                    /* a commit runs on the thread pool */
    int in_loop;                    /* inside the main uv_run (uv_stop means something) */
    int received;                   /* device messages since the last flush */
    uv_work_t commit_req;
    int64_t first_dispatch_us, last_done_us;   /* monotonic, for throughput */
    int64_t all_ready_us;           /* when every device was first registered at once (0: not yet) */
    size_t n_lat_all_ready;         /* steps done by then */
    long commits;                   /* group commits in this run */
    size_t n_lat, cap_lat;
    lab_badmsg badmsg;              /* message.bad rows per peer, rate-limited */
    lab_jtext jt;                   /* an event's detail as text, for the hub to copy */
};

/* orch.c */
int64_t lab_orch_now(void);
/* A lab event, recorded with the lab's campaign when it has only one. */
void lab_orch_event(lab_orch *o, lab_event_kind kind, const char *subject, json_t *detail);
/* A campaign's event, recorded with that campaign. */
void lab_camp_event(lab_camp *c, lab_event_kind kind, const char *subject, json_t *detail);
void lab_orch_fatal(lab_orch *o, const char *what);
void lab_orch_send(lab_orch *o, const char *dev, lab_env *env);
void lab_orch_queue_ack(lab_orch *o, const char *dev, const char *attempt);
lab_out *lab_orch_queue_control_reply(lab_orch *o, const char *id, size_t id_len, char *json);
lab_device *lab_orch_device(lab_orch *o, const char *name);
void lab_orch_device_busy(lab_device *d, int delta);
/* A slot of d held (delta +1) or released (-1) for a 'within' successor. */
void lab_orch_device_hold(lab_device *d, int delta);
/* Tell the free-slot index what d is now (after changing its state,
 * welcomed, running, reserved, capacity or dispatched). */
void lab_orch_device_sync(lab_device *d);
void lab_orch_broadcast_control(lab_orch *o, Labloop__Control__Action action, const char *reason);
void lab_orch_send_control(lab_orch *o, const char *dev, Labloop__Control__Action action,
                           const char *attempt, const char *reason);
/* The campaign whose attempt id this is, or NULL. */
lab_camp *lab_orch_campaign_of(lab_orch *o, const char *attempt_id);
/* The campaign named name (NULL: the only one, when there is one), or NULL. */
lab_camp *lab_orch_campaign(lab_orch *o, const char *name);
/* A campaign was added or resumed: it starts level with the campaigns
 * already running (its share counts from now). */
void lab_orch_campaign_activated(lab_orch *o, lab_camp *c);
/* A campaign submitted to the lab (text, len bytes, YAML; path names it in
 * messages and resolves its relative paths): checked against the lab's
 * devices, recorded in the hub (campaign.submitted: lab, weight, by) and
 * started. What of it was ignored goes to notes. NULL with err set (every
 * problem of the config, one a line) on failure. */
lab_camp *lab_orch_submit(lab_orch *o, const char *path, const char *text, size_t len, double weight,
                          const char *by, char *notes, size_t n_notes, lab_err *err);
/* A campaign decided its end and has nothing in flight. */
void lab_orch_campaign_ended(lab_orch *o, lab_camp *c);
/* Carry out what campaign c decided (its actions, actions.h), in order.
 * Called after every input handed to a campaign, before the loop goes on. */
void lab_orch_act(lab_orch *o, lab_camp *c);
/* Every campaign schedules (after messages, results and timers). */
void lab_orch_schedule(lab_orch *o);

/* Warm start (orch_prior.c): tell the config's prior to the planner (every
 * start, before the history); record it in the hub (a new campaign). */
int lab_orch_prior_tell(lab_camp *camp, lab_err *err);
int lab_orch_prior_record(lab_camp *camp, int64_t now, lab_err *err);

/* share.c: how a lab shares itself between campaigns beyond the weighted turns of
 * lab_orch_schedule: devices a campaign holds exclusively while it is
 * active, and the queue of campaigns waiting for a place (the lab config's
 * lab.max_campaigns).
 *
 * A campaign is active from its start until its end is recorded; a queued
 * one has its row in the hub (status queued) and takes nothing until it
 * starts, first in, first out. Exclusivity comes from the campaign's config
 * (campaign.exclusive), so a restarted lab holds the same devices again.
 * Runs on the loop's thread. Not for: which campaign gets the next free slot
 * (orch.c), which step goes out (campaign.c).
 */
/* A campaign about to be submitted: 0, or -1 with err set when it asks for
 * a device another campaign of the lab (active or queued) holds or will hold
 * exclusively. */
int lab_share_check_submit(lab_orch *o, const lab_campaign_cfg *cfg, lab_err *err);

/* Must a campaign submitted now wait in the queue (max_campaigns active,
 * or the lab e-stopped)? */
int lab_share_must_queue(const lab_orch *o);

/* Is the lab e-stopped: an e-stop came and was not cleared (o->estopped),
 * or a campaign was read back halted at a restart? Nothing starts then. */
int lab_share_estopped(const lab_orch *o);

/* c became active (submitted with room, started from the queue, resumed):
 * it takes its exclusive devices. */
void lab_share_take(lab_orch *o, lab_camp *c);

/* c ended: its exclusive devices are shared again. */
void lab_share_release(lab_orch *o, lab_camp *c);

/* Start queued campaigns, oldest first, while there is room (and the lab is
 * not e-stopped). Returns how many started. */
int lab_share_start_queued(lab_orch *o);

/* Place of c in the queue (1: next to start); 0 when c is not queued. */
long lab_share_queue_position(const lab_orch *o, const lab_camp *c);

/* The device for a step of camp with capability cap (the free-slot index's
 * pick, leaving out devices other campaigns hold exclusively); -1: none now.
 * avoid as in lab_slots_pick. */
long lab_share_pick(lab_camp *camp, int cap, long avoid);

/* The campaign holding device i exclusively, or NULL. */
lab_camp *lab_share_holder(const lab_orch *o, size_t i);

void lab_share_free(lab_orch *o);

/* control.c */
int lab_control_on_readable(void *sock, void *arg);
/* Submit requests wait for a moment with no commit out (they read the
 * hub and insert the campaign's row at once): run them (from the pre-sleep
 * flush, before its commit), or drop them (shutdown). */
void lab_control_run_deferred(lab_orch *o);
void lab_control_drop_deferred(lab_orch *o);
void lab_control_estop(lab_orch *o, const char *actor, const char *origin, const char *reason);
/* The failure brake tripped (c->brake): pause the campaign with its cause
 * (campaign.braked and campaign.status events); running steps finish. */
void lab_control_brake(lab_camp *c);

#endif
