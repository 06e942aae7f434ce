/* libFuzzer harness: the simulated lab's config loader (sim/lab.c). */
#include <stddef.h>
#include <stdint.h>

#include "sim/lab.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_err err = {0};
    lab_sim_lab *lab = lab_sim_lab_load(fuzz_file(data, size), NULL, &err);
    lab_sim_lab_destroy(&lab);
    return 0;
}
