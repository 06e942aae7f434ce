/* libFuzzer harness: the envelope decoder (protocols/envelope.c) on any
 * bytes, then what a worker and the orchestrator do first with a decoded
 * message: its kind, the checks on a StepRequest, and encoding it again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "protocols/envelope.h"
#include "protocols/request_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_err err = {0};
    lab_env_check_sig(data, size < LAB_SIG_LEN ? size : LAB_SIG_LEN, &err);
    lab_env *env = lab_env_decode(data, size, LAB_MSG_MAX, &err);
    if (!env)
        return 0;
    (void)lab_env_kind(env);
    if (env->body_case == LABLOOP__ENVELOPE__BODY_STEP_REQUEST) {
        char why[256];
        if (lab_attempt_id_check(env->step_request->attempt_id, why, sizeof why) == 0)
            lab_step_request_check(env->step_request, why, sizeof why);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lab_env_encode(env, &buf, &len, &err) == 0)
        free(buf);
    lab_env_free(env);
    return 0;
}
