/* The orchestrator's internal state, shared by its modules: orch.c (loop,
 * sockets, devices, messages), sched.c (experiments, attempts, scheduling,
 * resume) and control.c (the control endpoint). Not a public interface:
 * nothing outside orch*.c, sched.c and control.c includes it.
 */
#ifndef LAB_ORCH_INT_H
#define LAB_ORCH_INT_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "orchestrator/auth.h"
#include "orchestrator/badmsg.h"
#include "orchestrator/brake.h"
#include "orchestrator/config.h"
#include "orchestrator/hub.h"
#include "orchestrator/hub_replica.h"
#include "orchestrator/notify.h"
#include "orchestrator/orch.h"
#include "orchestrator/slots.h"
#include "planners/planner.h"
#include "protocols/envelope.h"
#include "protocols/zloop.h"

#define S_ID_MAX 256

typedef enum { LAB_DEV_OFFLINE, LAB_DEV_READY, LAB_DEV_LOST } lab_dev_state;

struct lab_out;

typedef struct lab_device {
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
} lab_device;

typedef enum { LAB_STEP_PENDING, LAB_STEP_RUNNING, LAB_STEP_DONE_, LAB_STEP_FAILED_ } lab_step_state;

typedef struct lab_attempt {
    char id[S_ID_MAX];
    int n;                          /* attempt number, 1-based */
    int uncounted;                  /* attempts stopped by e-stops: not held against retries */
    lab_device *dev;
    int64_t dispatched_us;          /* monotonic */
    int64_t deadline_us;            /* monotonic; 0: none */
    int resumed;                    /* in flight when the orchestrator restarted */
    int estop_hit;                  /* running when an e-stop came: not held against retries */
    int64_t unconfirmed_us;         /* monotonic: its request was sent again (a Hello left it out)
                                     * and the worker has not answered yet; 0: none */
    int64_t lost_us;                /* monotonic: when its device was lost; 0: not lost */
    int64_t cancel_us;              /* monotonic: when a CANCEL for its overrun deadline was last sent */
} lab_attempt;

typedef enum { LAB_EXP_RUNNING, LAB_EXP_MEASURED, LAB_EXP_FAILED, LAB_EXP_CANCELLED } lab_exp_state;

typedef struct lab_exp {
    long seq;
    char id[S_ID_MAX];
    double *x;                      /* native point */
    double *y;                      /* objective values when measured */
    lab_exp_state state;
    int committed;                  /* its row is in a commit (maybe not yet on disk) */
    int durable;                    /* its row is on disk: steps may be dispatched */
    lab_step_state *step;           /* per configured step */
    lab_attempt *cur;               /* per step: the current (latest) attempt */
    json_t **values;                /* per step: result values or NULL */
    int64_t *not_before_us;         /* per step: retry backoff (monotonic) */
    lab_device **avoid;             /* per step: the device the last attempt failed on */
    lab_device **reserved;          /* per step: a slot held for it ('within') */
    int64_t *ready_us;              /* per step: when its predecessors were all done */
    lab_device **hint;              /* per step: a device holding an attempt of it the hub does not know */
    int *hint_n;                    /* per step: that attempt's number */
    int *unsure;                    /* per step: pending at a restart, maybe dispatched unrecorded */
} lab_exp;

typedef enum { LAB_CAMP_RUNNING, LAB_CAMP_PAUSED, LAB_CAMP_HALTED } lab_camp_state;

typedef struct lab_tell {
    lab_exp *x;
    lab_outcome outcome;
} lab_tell;

typedef struct lab_out {
    int control;                    /* 1: control socket (raw id + JSON) */
    int committed;                  /* queued before the last commit: sent once that is on disk */
    char id[LAB_ID_MAX];
    size_t id_len;
    lab_env *env;                   /* device socket: the envelope */
    Labloop__Welcome welcome;
    char run[24];                   /* welcome.run: the campaign row's created_us */
    Labloop__Refuse refuse;
    Labloop__Ack ack;
    char **ack_ids;
    char *json;                     /* control socket: the reply */
    struct lab_out *next;
} lab_out;

struct lab_orch {
    const lab_campaign_cfg *cfg;
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
    int64_t campaign_id;
    lab_planner *planner;
    size_t dims;

    lab_device *devices;
    lab_slots *slots;               /* free device slots by capability */
    int *step_cap;                  /* per configured step: its capability's id in slots (-1: no device) */
    uint32_t *dev_hash;             /* device name -> index + 1 (open addressing; 0: empty) */
    size_t dev_hash_mask;
    lab_device **ack_devs;          /* devices holding durable acks not yet sent */
    size_t n_ack_devs;
    size_t n_ready_devs;            /* devices in state ready */
    lab_exp **exps;                 /* by seq - 1 */
    long n_exps, cap_exps;
    lab_exp **active;               /* experiments in flight */
    long n_active, cap_active;
    long measured, failed, cancelled;
    long best;                      /* seq of the best measured, 0 none */
    int resumed;

    lab_camp_state state;
    lab_out *out_head, *out_tail;   /* waiting for the next commit */
    int sent;                       /* messages sent since the last flush */
    uint64_t seq;

    int64_t start_mono_us, last_note_us, resume_grace_until_us;
    int64_t created_us;             /* wall clock: when the campaign was created (time budget) */
    long budget_experiments;        /* the config's budget plus its extensions */
    int64_t deadline_us;            /* wall clock: when the time budget is spent; 0: none */
    long extensions;                /* budget extensions so far (labloop extend) */
    char pause_reason[1024];        /* while paused: the reason given ("" none) */
    char paused_by[128];            /* while paused: who paused it ("labloop" for the brake) */
    char brake_cause[LAB_BRAKE_CAUSE_MAX]; /* while braked: the failures' cause ("" not braked) */
    long brake_failures;            /* while braked: how many failed in a row */
    lab_brake brake;                /* consecutive failures with one cause (brake.h) */
    int stopping;
    const char *end_status;         /* completed | exhausted | aborted once decided */
    char end_reason[256];
    int fatal;
    lab_err fatal_err;

    int planner_async;              /* asks run in uv_queue_work (model-based planners) */
    int lookahead;                  /* experiments proposed beyond the batch, ready for a free device */
    int asking;                     /* an ask is running on the thread pool */
    struct lab_tell *deferred;      /* outcomes that arrived during that ask */
    size_t n_deferred, cap_deferred;

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
};

/* orch.c */
int64_t lab_orch_now(void);
/* The campaign's state as the hub and operators name it: running, paused,
 * halted, or the end it is heading for (completed, exhausted, aborted). */
const char *lab_orch_state_name(const lab_orch *o);
void lab_orch_event(lab_orch *o, const char *kind, const char *subject, json_t *detail);
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

/* sched.c */
void lab_sched_schedule(lab_orch *o);
void lab_sched_on_result(lab_orch *o, lab_device *d, Labloop__StepResult *r);
void lab_sched_attempt_ended(lab_orch *o, lab_exp *x, size_t step, const char *status,
                             const char *error, int counts);
void lab_sched_device_lost(lab_orch *o, lab_device *d, const char *why);
void lab_sched_device_hello(lab_orch *o, lab_device *d, const Labloop__Hello *h);
void lab_sched_device_welcomed(lab_orch *o, lab_device *d);
void lab_sched_on_update(lab_orch *o, lab_device *d, const Labloop__StepUpdate *u);
void lab_sched_check_deadlines(lab_orch *o, int64_t now);
void lab_sched_cancel_all(lab_orch *o, const char *reason);
void lab_sched_estop_hit(lab_orch *o);
void lab_sched_mark_committed(lab_orch *o);
void lab_sched_mark_durable(lab_orch *o, int all);
int lab_sched_resume(lab_orch *o, lab_err *err);
void lab_sched_free(lab_orch *o);
json_t *lab_sched_params_json(lab_orch *o, const double *x);
/* Warm start (orch_prior.c): tell the config's prior to the planner (every
 * start, before the history); record it in the hub (a new campaign). */
int lab_orch_prior_tell(lab_orch *o, lab_err *err);
int lab_orch_prior_record(lab_orch *o, int64_t now, lab_err *err);
void lab_sched_check_end(lab_orch *o);

/* control.c */
int lab_control_on_readable(void *sock, void *arg);
void lab_control_estop(lab_orch *o, const char *actor, const char *origin, const char *reason);
/* The failure brake tripped (o->brake): pause the campaign with its cause
 * (campaign.braked and campaign.status events); running steps finish. */
void lab_control_brake(lab_orch *o);

#endif
