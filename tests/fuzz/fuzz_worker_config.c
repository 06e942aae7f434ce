/* libFuzzer harness: the worker config loader behind `labloop worker
 * --config` (devices/worker_config.c). It found the double-to-long cast of
 * a huge duration (tests/unit/test_bounds.c keeps that case). */
#include <stddef.h>
#include <stdint.h>

#include "devices/worker_config.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_err err = {0};
    lab_worker_config *c = lab_worker_config_load(fuzz_file(data, size), NULL, &err);
    lab_worker_config_destroy(&c);
    return 0;
}
