/* libFuzzer harness: the control request parser (orchestrator/control_req.c)
 * that reads what operators' clients send to the control endpoint. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orchestrator/control_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_control_req req;
    char why[160];
    if (lab_control_req_parse((const char *)data, size, &req, why, sizeof why) == 0) {
        /* what the parser promises: terminated, bounded strings */
        if (!req.cmd[0] || strlen(req.user) >= sizeof req.user || strlen(req.reason) >= sizeof req.reason)
            __builtin_trap();
    } else if (!why[0]) {
        __builtin_trap();                 /* a refusal always says why */
    }
    return 0;
}
