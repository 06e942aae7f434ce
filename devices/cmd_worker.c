/* `labloop worker` (see cmd_worker.h): load instrument.yaml, build the
 * driver, run lab_worker_run until SIGINT/SIGTERM or a refusal.
 * Exit codes: 0 stopped by a signal, 1 error, 2 usage or config, 3 refused. */
#include "devices/cmd_worker.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "devices/drivers/exec.h"
#include "devices/drivers/gpio.h"
#include "devices/drivers/null.h"
#include "devices/worker.h"
#include "devices/worker_config.h"
#include "common/banned.h"

#define S_EXIT_ERROR 1
#define S_EXIT_USAGE 2
#define S_EXIT_REFUSED 3

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop worker --config INSTRUMENT.yaml [--check] [--verbose]\n"
            "       labloop worker --keys\n"
            "\n"
            "Run one device worker for a real instrument: it connects to the orchestrator's\n"
            "device endpoint, registers under its name and runs the steps it is sent through\n"
            "its driver until stopped with Ctrl-C / SIGTERM.\n"
            "\n"
            "drivers:\n"
            "  exec   each capability runs a command: parameters as JSON on stdin and as\n"
            "         LABLOOP_PARAM_* variables, results as one JSON object on stdout, files\n"
            "         written into $LABLOOP_ARTIFACTS sent as artifacts\n"
            "  gpio   e-stop / door interlock inputs, outputs as step actions (on, off,\n"
            "         pulse N s), a status light (libgpiod, or a simulated backend)\n"
            "  null   finishes every step at once (for wiring tests)\n"
            "\n"
            "  --config FILE   the worker config (reference: docs/DEVICES.md)\n"
            "  --check         load and check the config, print a summary, exit\n"
            "  --verbose       log every step and every stderr line of commands\n"
            "  --keys          print the reference of every config key (markdown) and exit\n"
            "\n"
            "example (examples/instrument-exec.yaml):\n"
            "  name: uvvis-1\n"
            "  endpoint: tcp://127.0.0.1:5560\n"
            "  driver: exec\n"
            "  exec:\n"
            "    commands:\n"
            "      uvvis: [python3, /opt/uvvis/measure.py]\n"
            "\n"
            "  labloop worker --config examples/instrument-exec.yaml\n"
            "\n"
            "exit codes: 0 stopped by a signal, 1 error, 2 usage or config error, 3 refused\n"
            "by the orchestrator (wrong name, capabilities or version)\n");
}

static void s_summary(const lab_worker_config *c)
{
    printf("%s: device '%s', driver %s, endpoint %s, capacity %d\n", c->path, c->name, c->driver,
           c->endpoint, c->capacity);
    printf("  outbox %s\n", c->outbox ? c->outbox : "in memory only (no 'outbox' directory)");
    for (size_t i = 0; i < c->n_capabilities; i++)
        printf("  capability %s\n", c->capabilities[i]);
    for (size_t i = 0; i < c->exec.n_commands; i++) {
        const lab_exec_command *cmd = &c->exec.commands[i];
        printf("  command %s: %s%s\n", cmd->capability, cmd->shell ? "sh -c " : "",
               cmd->shell ? cmd->shell : cmd->argv[0]);
    }
    for (size_t i = 0; i < c->gpio.n_inputs; i++)
        printf("  input %s: %s line %s (%s, debounce %d ms)\n",
               c->gpio.inputs[i].name ? c->gpio.inputs[i].name : c->gpio.inputs[i].line,
               c->gpio.inputs[i].chip, c->gpio.inputs[i].line,
               c->gpio.inputs[i].role == LAB_GPIO_ROLE_ESTOP ? "e-stop" : "door interlock",
               c->gpio.inputs[i].debounce_ms);
    for (size_t i = 0; i < c->gpio.n_outputs; i++)
        printf("  output %s: %s line %s\n", c->gpio.outputs[i].capability, c->gpio.outputs[i].chip,
               c->gpio.outputs[i].line);
}

int lab_cmd_worker(int argc, char **argv)
{
    const char *path = NULL;
    int verbose = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "--keys")) {
            lab_worker_config_print_keys(stdout);
            return 0;
        } else {
            fprintf(stderr, "labloop worker: unexpected argument '%s'\n\n", argv[i]);
            s_usage(stderr);
            return S_EXIT_USAGE;
        }
    }
    if (!path) {
        fprintf(stderr, "labloop worker: --config INSTRUMENT.yaml is required\n\n");
        s_usage(stderr);
        return S_EXIT_USAGE;
    }
    lab_err err = {0};
    lab_worker_config *c = lab_worker_config_load(path, stderr, &err);
    if (!c)
        return S_EXIT_USAGE;
    if (check) {
        s_summary(c);
        lab_worker_config_destroy(&c);
        return 0;
    }
    char role[80];
    snprintf(role, sizeof role, "worker[%s]", c->name);
    lab_log_setup(role, verbose ? LAB_LOG_DEBUG : lab_log_get_level());

    const lab_driver_ops *ops = &lab_null_driver_ops;
    void *drv = NULL;
    if (!strcmp(c->driver, "exec")) {
        ops = &lab_exec_driver_ops;
        drv = lab_exec_driver_new(&c->exec, &err);
    } else if (!strcmp(c->driver, "gpio")) {
        ops = &lab_gpio_driver_ops;
        drv = lab_gpio_driver_new(&c->gpio, &err);
    }
    if (!drv && ops != &lab_null_driver_ops) {
        fprintf(stderr, "labloop worker: %s\n", err.msg);
        lab_worker_config_destroy(&c);
        return S_EXIT_ERROR;
    }
    lab_worker_opts o = {
        .name = c->name,
        .endpoint = c->endpoint,
        .capabilities = (const char *const *)c->capabilities,
        .n_capabilities = c->n_capabilities,
        .capacity = c->capacity,
        .ops = ops,
        .driver = drv,
        .reconnect_min_ms = c->reconnect_min_ms,
        .outbox_dir = c->outbox,
        .server_key = c->has_keys ? c->server_key : NULL,
        .public_key = c->public_key,
        .secret_key = c->secret_key,
        .reconnect_max_ms = c->reconnect_max_ms,
    };
    lab_info("device '%s' (%s driver) connecting to %s", c->name, c->driver, c->endpoint);
    int rc = lab_worker_run(&o, &err);
    if (rc < 0 && rc != LAB_EREFUSED)
        fprintf(stderr, "labloop worker: %s\n", err.msg);
    lab_worker_config_destroy(&c);
    return rc == 0 || rc == LAB_WORKER_ENDED ? 0 : rc == LAB_EREFUSED ? S_EXIT_REFUSED : S_EXIT_ERROR;
}
