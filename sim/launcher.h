/* `labloop sim LAB.yaml`: start a simulated lab, one worker process per
 * device, supervised (a worker that dies is started again). Also
 * `--device NAME` (run one simulated worker in this process) and `--truth`
 * (print the ground-truth model's optimum). */
#ifndef LAB_SIM_LAUNCHER_H
#define LAB_SIM_LAUNCHER_H
#include <stddef.h>

/* How `--truth --campaign C.yaml` names the optimum as that campaign does:
 * the caller (the command line, which knows campaign configs) fills name
 * and unit with the campaign's objective fed by model output `out`.
 * Returns 0 when found, 1 when the campaign has no such objective, -1 when
 * the campaign config could not be read (the reason already printed). */
typedef int (*lab_sim_objective_fn)(const char *campaign_path, const char *out, char *name, size_t name_size,
                                    char *unit, size_t unit_size);

int lab_cmd_sim(int argc, char **argv, lab_sim_objective_fn objective);
#endif
