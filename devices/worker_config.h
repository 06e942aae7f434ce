/* The worker config file (instrument.yaml) for `labloop worker`.
 *
 * Loads and checks name, endpoint, capabilities, capacity, reconnect
 * timing, the driver (exec | gpio | null) and that driver's settings.
 * Every problem is reported as "file:line:col: message"; unknown keys get a
 * "did you mean" hint; cross-field checks (every capability has a command
 * or an output) run after the whole file is read. `keys:` names the
 * device's own secret key file and the orchestrator's public key file.
 * docs/DEVICES.md is the reference. Not for: running the worker
 * (cmd_worker.c) or campaign configs.
 */
#ifndef LAB_WORKER_CONFIG_H
#define LAB_WORKER_CONFIG_H

#include <stdio.h>
#include "common/err.h"
#include "common/keys.h"
#include "devices/drivers/exec.h"
#include "devices/drivers/gpio.h"

typedef struct lab_worker_config {
    char *path;
    char *name;
    char *endpoint;
    char **capabilities;
    size_t n_capabilities;
    int capacity;
    int reconnect_min_ms, reconnect_max_ms;
    char *outbox;                     /* directory of the on-disk outbox, or NULL */
    int has_keys;                     /* keys: CURVE to the orchestrator */
    char server_key[LAB_KEY_Z85];     /* keys.orchestrator: the lab's public key, pinned */
    char public_key[LAB_KEY_Z85];     /* keys.key: this device's pair */
    char secret_key[LAB_KEY_Z85];
    char *driver;                     /* "exec", "gpio" or "null" */
    lab_exec_opts exec;               /* when driver is exec; strings owned by the config */
    lab_gpio_opts gpio;               /* when driver is gpio */
    lab_gpio_status_light light;      /* gpio.light points here when set */
    char **strings;                   /* every string and argv the opts point into */
    size_t n_strings;
    void **blocks;                    /* every array the opts point into */
    size_t n_blocks;
} lab_worker_config;

/* Load path. Every problem is printed to errs (when not NULL) and the last
 * one is in err; returns NULL then. Caller destroys. */
lab_worker_config *lab_worker_config_load(const char *path, FILE *errs, lab_err *err);
void lab_worker_config_destroy(lab_worker_config **c);
/* The key tables of a worker config as markdown (docs/DEVICES.md). */
void lab_worker_config_print_keys(FILE *out);

#endif
