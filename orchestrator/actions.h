/* What a campaign asks its lab to do: a list of actions.
 *
 * The campaign (campaign.c) decides; it never touches a socket or the hub.
 * Each of its inputs (a result, a device free or lost, a restart, a timer,
 * a commit on disk) appends actions to its list: send a step request to a
 * device, cancel an attempt, acknowledge a result, write a hub row, record
 * an event, apply the failure brake, end the campaign. The lab (orch.c)
 * carries them out in order, on its sockets and in its hub, before it
 * returns to its loop, so they join the same group commit as they did when
 * the campaign called the lab directly (lab_orch_act). A campaign's
 * experiment is dispatched only once its row is durable (campaign.h,
 * lab_sched_mark_durable): the list does not change that order.
 *
 * Strings are copied into the list's own memory (valid until
 * lab_actions_clear); event details and request parameters belong to the
 * list; an artifact's content is borrowed from the message being handled
 * (the lab carries the actions out before it frees that message).
 * Not for: deciding anything (campaign.c); carrying it out (orch.c).
 */
#ifndef LAB_ACTIONS_H
#define LAB_ACTIONS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/envelope.h"

typedef enum {
    LAB_ACT_REQUEST,          /* send the StepRequest of an attempt to device (again: resend) */
    LAB_ACT_CANCEL,           /* send Control CANCEL of attempt to device, with reason */
    LAB_ACT_ACK,              /* acknowledge attempt's result to device once this turn is on disk */
    LAB_ACT_EXPERIMENT,       /* hub: a new experiment (seq, params, origin, provenance) and its sample in the queue */
    LAB_ACT_EXPERIMENT_STATUS,/* hub: experiment seq is now status (objectives or error) */
    LAB_ACT_STEP,             /* hub: attempt n of step dispatched to device, with its params */
    LAB_ACT_STEP_STATUS,      /* hub: attempt's status, started/finished, values or error */
    LAB_ACT_STEP_COUNTED,     /* hub: whether attempt counts against its step's retries */
    LAB_ACT_SAMPLE_AT,        /* hub: experiment's sample is at device for attempt */
    LAB_ACT_ARTIFACT,         /* hub: a file attempt produced */
    LAB_ACT_EVENT,            /* an event of the campaign: kind, subject, detail */
    LAB_ACT_DONE,             /* a step is done: its round trip ends at the commit (since dispatched_us) */
    LAB_ACT_BRAKE,            /* the failure brake tripped: pause the campaign with its cause */
    LAB_ACT_ENDED,            /* the campaign decided its end and has nothing in flight */
} lab_action_kind;

typedef struct lab_action {
    lab_action_kind kind;
    const char *device;       /* REQUEST, CANCEL, ACK, STEP, SAMPLE_AT */
    const char *attempt;      /* attempt id: REQUEST, CANCEL, ACK, STEP*, SAMPLE_AT, ARTIFACT */
    const char *experiment;   /* experiment id (its sample's label too): REQUEST, EXPERIMENT, SAMPLE_AT */
    int64_t seq;              /* experiment number: EXPERIMENT*, STEP */
    const char *step;         /* step name: REQUEST, STEP */
    const char *status;       /* EXPERIMENT*, STEP_STATUS (NULL: kept) */
    const char *text;         /* error (EXPERIMENT_STATUS, STEP_STATUS), reason (CANCEL), origin (EXPERIMENT),
                               * capability (REQUEST), event kind (EVENT), media type (ARTIFACT) */
    const char *json;         /* params (EXPERIMENT, STEP), objectives (EXPERIMENT_STATUS), values (STEP_STATUS),
                               * subject (EVENT), sha256 hex (ARTIFACT) */
    const char *json2;        /* provenance (EXPERIMENT), name (ARTIFACT) */
    int64_t t0, t1;           /* started/finished (STEP_STATUS; 0: kept), dispatched (DONE, REQUEST), size (ARTIFACT) */
    int n;                    /* attempt number (STEP, REQUEST), counted (STEP_COUNTED), 1: a first send (REQUEST) */
    uint64_t timeout_ms;      /* REQUEST */
    Labloop__Param **params;  /* REQUEST: owned */
    size_t n_params;
    json_t *detail;           /* EVENT: owned */
    const void *content;      /* ARTIFACT: borrowed */
    size_t content_len;
} lab_action;

typedef struct lab_arena_block lab_arena_block;

typedef struct lab_actions {
    lab_action *a;
    size_t n, cap;
    lab_arena_block *blocks;  /* string memory, reused after a clear */
    int oom;                  /* an action was lost for want of memory since the last clear */
} lab_actions;

/* A new action of kind at the end of l (zeroed but for its kind), or NULL
 * out of memory (l->oom set). Pointers to earlier actions may move. */
lab_action *lab_actions_add(lab_actions *l, lab_action_kind kind);
/* A copy of s in l's memory (NULL for NULL, or out of memory: l->oom). */
const char *lab_actions_str(lab_actions *l, const char *s);
/* Forget every action (freeing what they own); keep the memory for the next ones. */
void lab_actions_clear(lab_actions *l);
void lab_actions_free(lab_actions *l);
const char *lab_action_name(lab_action_kind kind);

#endif
