/* What a worker checks in a StepRequest before it acts on it (PROTOCOL.md
 * §6.5): the attempt id's characters, segments and length, and bounds on
 * the parameters and the other texts. The C runtime (devices/worker.c) and
 * the Python client apply the same rules.
 * Not for: checking results (the orchestrator's side, orch.c). */
#ifndef LAB_REQUEST_CHECK_H
#define LAB_REQUEST_CHECK_H

#include <stddef.h>

#include "protocols/envelope.h"

#define LAB_ATTEMPT_ID_MAX 255      /* bytes */
#define LAB_STEP_PARAMS_MAX 256     /* parameters in one request */
#define LAB_STEP_NAME_MAX 128       /* bytes of a parameter name, step, capability, experiment or sample id */
#define LAB_STEP_TEXT_MAX 16384     /* bytes of one text parameter */

/* 0 when id is an attempt id a worker acts on: 1 to LAB_ATTEMPT_ID_MAX
 * bytes of ASCII letters, digits, '.', '_', '-' and '/', where '/'
 * separates non-empty segments none of which is "." or "..". Else
 * LAB_EINVAL with a reason in why (n bytes; the id itself is not quoted in
 * it, as it may hold control bytes). */
int lab_attempt_id_check(const char *id, char *why, size_t n);

/* 0 when the rest of req is within bounds: at most LAB_STEP_PARAMS_MAX
 * parameters, each named (1 to LAB_STEP_NAME_MAX bytes, no control
 * characters), numbers finite, texts at most LAB_STEP_TEXT_MAX bytes; step,
 * capability, experiment and sample ids at most LAB_STEP_NAME_MAX bytes
 * without control characters. Else LAB_EINVAL with a reason in why.
 * The attempt id is checked by lab_attempt_id_check. */
int lab_step_request_check(const Labloop__StepRequest *req, char *why, size_t n);

#endif
