/* `labloop worker --config instrument.yaml`: run one device worker for a
 * real instrument with the exec, gpio or null driver. Not for simulated
 * devices (`labloop sim`). */
#ifndef LAB_CMD_WORKER_H
#define LAB_CMD_WORKER_H
int lab_cmd_worker(int argc, char **argv);
#endif
