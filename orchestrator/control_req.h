/* A control request's body, read and checked without side effects: the
 * JSON object {"cmd": ..., "user": ..., "host": ..., "reason": ...} (extend:
 * also "experiments" and "hours") that
 * control clients send (orchestrator/control.c carries it out). Pure, so it
 * can be fuzzed on its own (tests/fuzz/fuzz_control.c).
 * Not for: deciding whether the command is allowed now (control.c). */
#ifndef LAB_CONTROL_REQ_H
#define LAB_CONTROL_REQ_H

#include <stddef.h>

#define LAB_CONTROL_REQ_MAX 4096     /* bytes of one request */
#define LAB_CONTROL_MAX_SEQS 256     /* experiments named by one approve or reject */

typedef struct lab_control_req {
    char cmd[32];
    char user[128];                  /* "" when not given */
    char host[256];
    char reason[1024];
    long experiments;                /* extend: experiments added (0: none) */
    double hours;                    /* extend: hours added to the time budget (0: none) */
    char campaign[128];              /* which of a lab's campaigns ("": the only one) */
    long seqs[LAB_CONTROL_MAX_SEQS]; /* approve, reject: experiment numbers ("seqs": [N, ...]) */
    size_t n_seqs;
} lab_control_req;

/* A submit request (labloop submit): {"cmd": "submit", "config": TEXT,
 * "path": ..., "weight": W, "user": ..., "host": ...}; bigger than the
 * others, so read on its own. text is the caller's to free. */
#define LAB_CONTROL_SUBMIT_MAX (1 << 20)   /* bytes of one submit request */
#define LAB_CONTROL_MAX_WEIGHT 1000.0
typedef struct lab_control_submit {
    char user[128], host[256];
    char path[1024];                 /* the config's path on the submitting host (messages) */
    double weight;                   /* default 1 */
    char *text;                      /* the campaign config's YAML */
    size_t len;
} lab_control_submit;

#define LAB_CONTROL_MAX_EXPERIMENTS 10000000L   /* as campaign.budget.experiments */
#define LAB_CONTROL_MAX_HOURS 8760.0            /* as campaign.budget.hours */

/* Parse body (len bytes, not NUL-terminated). 0 and *req filled, or
 * LAB_EPROTO with why (n bytes) saying what is wrong: not JSON, not an
 * object, no "cmd" or an empty one, a field that is not a string or is too long,
 * "experiments" that is not an integer from 0 to LAB_CONTROL_MAX_EXPERIMENTS or
 * "hours" that is not a number from 0 to LAB_CONTROL_MAX_HOURS, "seqs" that is
 * not an array of at most LAB_CONTROL_MAX_SEQS integers from 1. Control
 * characters in user, host and reason are removed (they reach logs and the
 * audit table). The command itself is not judged here. */
int lab_control_req_parse(const char *body, size_t len, lab_control_req *req, char *why, size_t n);
/* Parse a submit request. 0 and *sub filled (free sub->text), or an error
 * code with why: not JSON, cmd not "submit", no config text, a weight not
 * in (0, LAB_CONTROL_MAX_WEIGHT], longer than LAB_CONTROL_SUBMIT_MAX. */
int lab_control_submit_parse(const char *body, size_t len, lab_control_submit *sub, char *why, size_t n);

#endif
