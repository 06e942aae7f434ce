/* One campaign held by the lab: its config, planner, experiments and their
 * step attempts, counters, lifecycle (pause, brake, budget) and how it ended.
 *
 * The lab (orch_int.h, orch.c) owns the loop, the sockets, the devices and
 * the hub; it holds a list of campaigns and hands each device message to the
 * campaign its attempt id names (ids are <campaign>/<experiment>/<step>/<n>).
 * The scheduling functions below (sched.c) run on the loop's thread and reach
 * the lab only through its functions in orch_int.h.
 * Not for: sockets, device registration, the control endpoint (orch.c,
 * control.c).
 */
#ifndef LAB_CAMPAIGN_H
#define LAB_CAMPAIGN_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "orchestrator/brake.h"
#include "orchestrator/config.h"
#include "orchestrator/orch.h"
#include "planners/planner.h"
#include "protocols/envelope.h"

#define S_ID_MAX 256

typedef struct lab_device lab_device;   /* a lab device (orch_int.h) */

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

typedef struct lab_camp lab_camp;

struct lab_camp {
    lab_orch *lab;                  /* the lab that runs it */
    lab_camp *next;                 /* the lab's list of campaigns */
    const lab_campaign_cfg *cfg;    /* its steps, planner, budget (the lab's own sections are the lab's) */
    lab_campaign_cfg *owned_cfg;    /* cfg when the campaign owns it (submitted to a lab); else NULL */
    int64_t campaign_id;            /* its row in the hub */
    char prefix[S_ID_MAX];          /* "<name>/": how its attempt ids begin */
    size_t prefix_len;
    double weight;                  /* its share of the lab's devices (default 1) */
    lab_planner *planner;
    size_t dims;
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

/* sched.c: the campaign's scheduling. The lab schedules all of its
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
int lab_sched_resume(lab_camp *camp, lab_err *err);
void lab_sched_free(lab_camp *camp);
json_t *lab_sched_params_json(lab_camp *camp, const double *x);
void lab_sched_check_end(lab_camp *camp);
/* Does the campaign own this attempt id (it begins with "<name>/")? */
int lab_sched_owns(const lab_camp *camp, const char *attempt_id);

/* Tell the planner one outcome (deferred while it thinks on the thread pool). */
void lab_sched_tell(lab_camp *camp, lab_exp *x, lab_outcome outcome);

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
 * the experiments' new status; the caller audits. */
const char *lab_approve_act(lab_camp *camp, int approve, const long *seqs, size_t n, const char *by,
                            const char *reason, char *why, size_t nwhy);
/* The waiting proposals for status replies: [{experiment, params, origin,
 * reason, predicted...}] (the provenance as recorded). */
json_t *lab_approve_queue_json(lab_camp *camp);
void lab_approve_free(lab_camp *camp);
/* An experiment's state as the hub names it: running, proposed, rejected... */
const char *lab_approve_state_name(lab_exp_state s);

/* Warm start (orch_prior.c): tell the config's prior to the planner (every
 * start, before the history); record it in the hub (a new campaign). */
int lab_orch_prior_tell(lab_camp *camp, lab_err *err);
int lab_orch_prior_record(lab_camp *camp, int64_t now, lab_err *err);

#endif
