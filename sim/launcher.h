/* `labloop sim LAB.yaml`: start a simulated lab, one worker process per
 * device, supervised (a worker that dies is started again). Also
 * `--device NAME` (run one simulated worker in this process) and `--truth`
 * (print the ground-truth model's optimum). */
#ifndef LAB_SIM_LAUNCHER_H
#define LAB_SIM_LAUNCHER_H
int lab_cmd_sim(int argc, char **argv);
#endif
