/* One campaign held by the lab: its config, planner, experiments and their
 * step attempts, counters, lifecycle (pause, brake, budget) and how it ended.
 *
 * The lab (orch_int.h, orch.c) owns the loop, the sockets, the devices and
 * the hub; it holds a list of campaigns and hands each device message to the
 * campaign its attempt id names (ids are <campaign>/<experiment>/<step>/<n>).
 * The campaign decides and returns actions: its scheduling functions below
 * (campaign.c) run on the loop's thread, see devices only through the small
 * interface lab_camp_host, and put what is to be sent or written on their
 * list of actions (actions.h), which the lab carries out (lab_orch_act)
 * after each call, before its next commit. So campaign.c includes nothing of
 * the lab's and is unit-tested with fake devices (tests/unit/test_campaign.c).
 * Not for: sockets, the hub, device registration, the control endpoint
 * (orch.c, control.c).
 */
#ifndef LAB_CAMPAIGN_H
#define LAB_CAMPAIGN_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "common/jtext.h"
#include "orchestrator/actions.h"
#include "orchestrator/brake.h"
#include "orchestrator/config.h"
#include "orchestrator/hub/hub.h"
#include "orchestrator/workflow.h"
#include "planners/planner.h"
#include "protocols/envelope.h"

#define S_ID_MAX 256

/* A device of the lab. The campaign never looks inside one: it asks the
 * lab (lab_camp_host) what it needs to know and what it may change. */
typedef struct lab_device lab_device;
typedef struct lab_orch lab_orch;       /* the lab (orch.h): its own pointer, never read here */

/* A device as a campaign sees it. */
typedef struct lab_dev_view {
    const char *name;
    int online;                     /* registered and ready */
    int welcomed;                   /* its Welcome is out: steps may be sent to it */
    int free;                       /* slots neither running nor held */
    int64_t last_rx_us;             /* monotonic: when it was last heard from */
} lab_dev_view;

typedef struct lab_camp lab_camp;

/* What the campaign may ask of its lab, all on the loop's thread: its
 * devices (read through a view; their slots taken and given back at once,
 * so that the next pick in the same round sees them), and whether the lab
 * is stopping. Everything else goes through the campaign's actions
 * (actions.h). ctx is the lab's. */
#define LAB_HOST_STOPPING 1
#define LAB_HOST_FATAL 2
typedef struct lab_camp_host {
    /* The id of a capability in the lab's free-slot index, -1: no device offers it. */
    int (*cap)(void *ctx, const char *capability);
    /* A device to run a step of camp's of capability cap now (avoid only
     * when no other is online; none another campaign holds exclusively),
     * or NULL. */
    lab_device *(*pick)(void *ctx, lab_camp *camp, int cap, const lab_device *avoid);
    /* Has every device offering cap said Hello since the lab started? */
    int (*all_heard)(void *ctx, int cap);
    lab_device *(*find)(void *ctx, const char *name);
    const char *(*name)(void *ctx, const lab_device *d);
    lab_dev_view (*view)(void *ctx, const lab_device *d);
    /* delta slots of d run an attempt (+1) or stopped running one (-1);
     * dispatched: a new attempt was sent to it. */
    void (*busy)(void *ctx, lab_device *d, int delta, int dispatched);
    /* d's attempt failed by a fault of the step's (failed, timed out or
     * lost: counted against its retries), or its result lacked an
     * objective's value: where devices share work in turns, d hands its
     * turn on (slots.h). */
    void (*failed)(void *ctx, lab_device *d);
    /* A slot of d held (+1) or released (-1) for a 'within' successor. */
    void (*hold)(void *ctx, lab_device *d, int delta);
    /* LAB_HOST_STOPPING and/or LAB_HOST_FATAL, or 0. */
    int (*halted)(void *ctx);
    /* Monotonic: until when devices may still come back after a restart. */
    int64_t (*grace_until)(void *ctx);
    /* Something changed (a planner's answer, a commit on disk): carry out
     * camp's actions, then schedule every campaign. */
    void (*schedule)(void *ctx, lab_camp *camp);
} lab_camp_host;

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

/* PROPOSED: waiting for an operator (campaign.approve: each; approve.c);
 * REJECTED: an operator said no, it never ran. */
typedef enum { LAB_EXP_RUNNING, LAB_EXP_MEASURED, LAB_EXP_FAILED, LAB_EXP_CANCELLED, LAB_EXP_PROPOSED,
               LAB_EXP_REJECTED } lab_exp_state;

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
    json_t *prov;                   /* while waiting for approval: the planner's provenance (or NULL) */
} lab_exp;

typedef enum { LAB_CAMP_RUNNING, LAB_CAMP_PAUSED, LAB_CAMP_HALTED } lab_camp_state;

typedef struct lab_tell {
    lab_exp *x;
    lab_outcome outcome;
} lab_tell;

struct lab_camp {
    lab_orch *lab;                  /* the lab that runs it (the lab's own use: campaign.c never reads it) */
    const lab_camp_host *host;      /* how it reaches the lab's devices */
    void *host_ctx;
    lab_actions acts;               /* what it asks the lab to do, in order (actions.h) */
    lab_jtext jt;                   /* JSON text dumped only to be copied into acts */
    int acting;                     /* the lab is carrying them out */
    FILE *progress;                 /* progress lines (NULL: none) */
    int64_t start_mono_us;          /* the lab's start: progress lines' times */
    int64_t liveness_us;            /* a device silent this long is lost */
    uv_loop_t *loop;                /* model-based planners ask on its thread pool (NULL: inline) */
    lab_camp *next;                 /* the lab's list of campaigns */
    const lab_campaign_cfg *cfg;    /* its steps, planner, budget (the lab's own sections are the lab's) */
    lab_campaign_cfg *owned_cfg;    /* cfg when the campaign owns it (submitted to a lab); else NULL */
    int64_t campaign_id;            /* its row in the hub */
    char prefix[S_ID_MAX];          /* "<name>/": how its attempt ids begin */
    size_t prefix_len;
    double weight;                  /* its share of the lab's devices (default 1) */
    lab_planner *planner;
    size_t dims;
    lab_workflow *wf;               /* its steps' DAG (workflow.h) */
    int *step_cap;                  /* per configured step: its capability's id in the lab's slots (-1: no device) */

    lab_exp **exps;                 /* by seq - 1 */
    long n_exps, cap_exps;
    lab_exp **active;               /* experiments in flight */
    long n_active, cap_active;
    long measured, failed, cancelled;
    lab_exp **waiting;              /* proposals waiting for approval, in seq order (approve.c) */
    long n_waiting, cap_waiting;
    long rejected;                  /* rejected by an operator: they use no budget */
    long best;                      /* seq of the best measured, 0 none */
    int resumed;

    lab_camp_state state;
    int64_t created_us;             /* wall clock: when the campaign was created (time budget) */
    long budget_experiments;        /* the config's budget plus its extensions */
    int64_t deadline_us;            /* wall clock: when the time budget is spent; 0: none */
    long extensions;                /* budget extensions so far (labloop extend) */
    char pause_reason[1024];        /* while paused: the reason given ("" none) */
    char paused_by[128];            /* while paused: who paused it ("labloop" for the brake) */
    char brake_cause[LAB_BRAKE_CAUSE_MAX]; /* while braked: the failures' cause ("" not braked) */
    long brake_failures;            /* while braked: how many failed in a row */
    lab_brake brake;                /* consecutive failures with one cause (brake.h) */
    const char *end_status;         /* completed | exhausted | aborted once decided */
    char end_reason[256];
    int finished;                   /* its end is recorded: it takes no more devices */
    int64_t ended_us;               /* wall clock: when that end was recorded */
    double dispatched;              /* attempts dispatched since it became active, plus its start (its share) */
    int share_blocked;              /* in this round of sharing: nothing more of it can go out */
    int queued;                     /* waiting for a place in the lab (max_campaigns; share.c) */
    int holds;                      /* its exclusive devices are taken (share.c) */

    int planner_async;              /* asks run in uv_queue_work (model-based planners) */
    int lookahead;                  /* experiments proposed beyond the batch, ready for a free device */
    int asking;                     /* an ask is running on the thread pool */
    lab_tell *deferred;             /* outcomes that arrived during that ask */
    size_t n_deferred, cap_deferred;
};

/* The campaign's state as the hub and operators name it: running, paused,
 * halted, or the end it is heading for (completed, exhausted, aborted). */
const char *lab_camp_state_name(const lab_camp *c);

/* campaign.c: the campaign's scheduling. The lab schedules all of its
 * campaigns at once (lab_orch_schedule): each prepares (cancels what an end
 * leaves unstarted, asks its planner), then the lab hands out free device
 * slots by dispatching from the campaigns in turn, then each checks whether
 * it has ended. lab_sched_schedule(camp) is lab_orch_schedule(camp->lab). */
void lab_sched_schedule(lab_camp *camp);
void lab_sched_prepare(lab_camp *camp);
/* Dispatch up to max ready steps (max < 0: all that find a device);
 * returns how many went out. */
long lab_sched_dispatch(lab_camp *camp, long max);
void lab_sched_on_result(lab_camp *camp, lab_device *d, Labloop__StepResult *r);
void lab_sched_attempt_ended(lab_camp *camp, lab_exp *x, size_t step, const char *status,
                             const char *error, int counts);
void lab_sched_device_lost(lab_camp *camp, lab_device *d, const char *why);
void lab_sched_device_hello(lab_camp *camp, lab_device *d, const Labloop__Hello *h);
void lab_sched_device_welcomed(lab_camp *camp, lab_device *d);
void lab_sched_on_update(lab_camp *camp, lab_device *d, const Labloop__StepUpdate *u);
void lab_sched_check_deadlines(lab_camp *camp, int64_t now);
void lab_sched_cancel_all(lab_camp *camp, const char *reason);
void lab_sched_estop_hit(lab_camp *camp);
void lab_sched_mark_committed(lab_camp *camp);
void lab_sched_mark_durable(lab_camp *camp, int all);
/* Resume from the hub: the lab reads the campaign's experiments, then its
 * step attempts, in the hub's order, and hands each row to the campaign
 * (callbacks for lab_hub_each_experiment and lab_hub_each_step, with the
 * lab_camp_resume as their argument); then ends it with how the reading
 * went (rc < 0: failed; err set when the campaign knows why). Returns 0,
 * or rc / an error code. */
typedef struct lab_camp_resume lab_camp_resume;
lab_camp_resume *lab_camp_resume_begin(lab_camp *camp, lab_err *err);
int lab_camp_resume_experiment(const lab_hub_experiment_row *r, void *rs);
int lab_camp_resume_step(const lab_hub_step_row *r, void *rs);
int lab_camp_resume_end(lab_camp_resume *rs, int rc);

/* A campaign of cfg (not owned), reaching the lab through host (ctx: its
 * argument): its workflow, its steps' capabilities, its planner. Nothing
 * is recorded: the lab creates or reads back its hub row. NULL with err set
 * on failure. */
lab_camp *lab_camp_new(const lab_campaign_cfg *cfg, const lab_camp_host *host, void *ctx, lab_err *err);
/* Free it (and owned_cfg); *cp becomes NULL. */
void lab_camp_destroy(lab_camp **cp);
json_t *lab_sched_params_json(lab_camp *camp, const double *x);
void lab_sched_check_end(lab_camp *camp);
/* Does the campaign own this attempt id (it begins with "<name>/")? */
int lab_sched_owns(const lab_camp *camp, const char *attempt_id);

/* Tell the planner one outcome (deferred while it thinks on the thread pool). */
void lab_sched_tell(lab_camp *camp, lab_exp *x, lab_outcome outcome);

/* For the campaign module's own files (approve.c): what the lab is to
 * record, as actions. Experiment x is now status (objectives, error: NULL
 * when none); an event of the campaign (kind: a string constant; detail
 * taken). */
void lab_camp_exp_status(lab_camp *camp, const lab_exp *x, const char *status, const char *objectives,
                         const char *error);
void lab_camp_emit(lab_camp *camp, lab_event_kind kind, const char *subject, json_t *detail);

/* approve.c: the approval gate (campaign.approve: each). Proposals wait in
 * camp->waiting, dispatched nothing, until an operator approves them (they
 * join the experiments in flight) or rejects them (told to the planner as
 * failed; they use no budget, so the planner is asked again). */
/* Experiments that use the budget: all proposed so far but the rejected. */
long lab_approve_used(const lab_camp *camp);
/* Put x (state PROPOSED) on the waiting list. 0, or -1 out of memory. */
int lab_approve_hold(lab_camp *camp, lab_exp *x);
/* The campaign is ending: every waiting proposal ends cancelled with reason. */
void lab_approve_cancel_waiting(lab_camp *camp, const char *reason);
/* approve (1) or reject (0) the experiments seqs[0..n-1] on behalf of by
 * (reject: with reason). All or nothing: NULL when done, else why not in
 * why (nothing changed). Records experiment.approved / .rejected events and
 * the experiments' new status (actions: the caller carries them out, and
 * audits). */
const char *lab_approve_act(lab_camp *camp, int approve, const long *seqs, size_t n, const char *by,
                            const char *reason, char *why, size_t nwhy);
/* The waiting proposals for status replies: [{experiment, params, origin,
 * reason, predicted...}] (the provenance as recorded). */
json_t *lab_approve_queue_json(lab_camp *camp);
void lab_approve_free(lab_camp *camp);
/* An experiment's state as the hub names it: running, proposed, rejected... */
const char *lab_approve_state_name(lab_exp_state s);

#endif
