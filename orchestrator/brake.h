/* The failure brake: a campaign whose experiments keep failing the same
 * way pauses itself instead of burning its budget and its materials.
 *
 * The brake counts consecutive failed experiments with the same cause; a
 * measured experiment starts the count again, and so does a failure with
 * another cause. Two failures have the same cause when their errors match
 * once the " (after N attempts)" tail is cut and every number is replaced
 * by '#': "step 'measure' returned no numeric 'y' ...; it returned a=0.31"
 * and "...; it returned a=0.77" are the same cause; a timeout and a
 * missing value, or the same error from another step, are not. The error
 * already names the step and its kind (a worker's error text, a timeout, a
 * lost device, a missing objective), so the cut text is the whole key.
 * Plain memory owned by the caller; no I/O. Not for: pausing the campaign
 * (campaign.c does, when lab_brake_failed says so).
 */
#ifndef LAB_BRAKE_H
#define LAB_BRAKE_H

#include <stddef.h>

#define LAB_BRAKE_DEFAULT_AFTER 5
#define LAB_BRAKE_MAX_AFTER 1000000
#define LAB_BRAKE_CAUSE_MAX 512

typedef struct lab_brake {
    int after;                          /* failures in a row that trip it; 0: off */
    int count;                          /* consecutive failures with cause */
    char key[LAB_BRAKE_CAUSE_MAX];      /* their cause, numbers replaced */
    char cause[LAB_BRAKE_CAUSE_MAX];    /* the latest of them, as it was */
} lab_brake;

/* A brake that trips after `after` failures in a row (0: never). */
void lab_brake_init(lab_brake *b, int after);
/* An experiment failed with error: 1 when the brake is tripped (this
 * failure makes `after` or more in a row with one cause), else 0. */
int lab_brake_failed(lab_brake *b, const char *error);
/* An experiment was measured: the count starts again. */
void lab_brake_measured(lab_brake *b);
/* Start counting again (after an operator resumed the campaign). */
void lab_brake_reset(lab_brake *b);
/* The key two errors are compared by (see above) into out (n bytes). */
void lab_brake_cause_key(const char *error, char *out, size_t n);

#endif
