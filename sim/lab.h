/* The simulated lab's description (lab.yaml) for `labloop sim`.
 *
 * Names the devices a campaign expects, each with a simulated driver,
 * capabilities, capacity, step duration (real-lab seconds, divided by the
 * lab's speed factor), failure rate, and the ground-truth model that the
 * measuring instruments observe. Not for: the campaign config (orchestrator).
 */
#ifndef LAB_SIM_LAB_H
#define LAB_SIM_LAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "common/err.h"

typedef struct lab_sim_device {
    char *name;
    char *driver;              /* sim.dispenser | sim.heater | sim.spectrometer | null */
    char **capabilities;
    size_t n_capabilities;
    int capacity;              /* default 1 */
    double duration_s;         /* fixed duration in lab seconds ... */
    char *duration_param;      /* ... or the step parameter that holds it ("${time}") */
    double jitter;             /* relative +- spread of the duration (default 0.1) */
    double failure_rate;       /* chance that a step fails for an instrument reason */
    char *failure_text;        /* what such a failure says (default per driver) */
} lab_sim_device;

typedef struct lab_sim_lab {
    char *path;
    char *name;
    char *endpoint;            /* orchestrator's device endpoint */
    double speed;              /* simulated seconds per real second (default 1) */
    char *samples_dir;         /* where simulated samples are kept */
    char *journal;             /* NULL, or the file every device notes each step in (journal.h) */
    char *keys_dir;            /* CURVE: DEVICE.key per device and lab.pub (the orchestrator's); NULL: plain */
    uint64_t seed;
    char *model_kind;          /* NULL: no measuring model */
    double model_noise;
    lab_sim_device *devices;
    size_t n_devices;
} lab_sim_lab;

/* Load path; every problem is written to errs as "file:line:col: ...";
 * NULL with err set to the first problem. */
lab_sim_lab *lab_sim_lab_load(const char *path, FILE *errs, lab_err *err);
void lab_sim_lab_destroy(lab_sim_lab **lab);
/* The key tables of lab.yaml as markdown (docs/CONFIG.md). */
void lab_sim_lab_print_keys(FILE *out);
const lab_sim_device *lab_sim_lab_device(const lab_sim_lab *lab, const char *name);

/* The value names device d returns for its steps: a sim.spectrometer the
 * lab model's outputs, a sim.dispenser volume_ul, a sim.heater none. Up to
 * max names into names (static strings). Returns how many, or -1 when it
 * depends on the step (the null driver echoes its parameters). */
long lab_sim_device_returns(const lab_sim_lab *lab, const lab_sim_device *d, const char **names, size_t max);

#endif
