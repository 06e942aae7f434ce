/* libFuzzer harness: the campaign config loader (orchestrator/config.c),
 * as `labloop validate` and `run` use it and as a hub's stored copy is read
 * back (without the name-length limits). */
#include <stddef.h>
#include <stdint.h>

#include "orchestrator/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_err err = {0};
    lab_campaign_cfg *c = lab_config_load_string("fuzz.yaml", (const char *)data, size, NULL, &err);
    lab_config_destroy(&c);
    c = lab_config_load_stored("stored.yaml", (const char *)data, size, NULL, &err);
    lab_config_destroy(&c);
    return 0;
}
