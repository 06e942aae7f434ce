/* The gpio driver: safety interlocks, relays and a status light on GPIO.
 *
 * Inputs (e-stop buttons, door switches) are watched for edges and
 * debounced: when one becomes active and stays so for its debounce time the
 * worker latches e-stop and sends Control{ESTOP, "gpio: <name> tripped"} to
 * the orchestrator (lab_worker_estop). Outputs are step actions: a capability
 * switches a line on, off, or on for N seconds (pulse; N fixed or a step
 * parameter). A status light line follows the worker's state (ready, busy,
 * e-stopped, offline: each on, off or blink). On e-stop every output goes
 * inactive. After Control CLEAR an input that is still active trips again.
 * Lines go through a backend (devices/gpio_backend.h): libgpiod or sim.
 * Not for: analogue I/O, PWM, or protocols on GPIO (I2C, SPI).
 */
#ifndef LAB_GPIO_DRIVER_H
#define LAB_GPIO_DRIVER_H

#include <stddef.h>
#include "common/err.h"
#include "devices/driver.h"

typedef enum { LAB_GPIO_ROLE_ESTOP, LAB_GPIO_ROLE_DOOR } lab_gpio_role;
typedef enum { LAB_GPIO_ON, LAB_GPIO_OFF, LAB_GPIO_PULSE } lab_gpio_action;
typedef enum { LAB_GPIO_LIGHT_OFF, LAB_GPIO_LIGHT_ON, LAB_GPIO_LIGHT_BLINK } lab_gpio_light;

#define LAB_GPIO_BLINK_MS 500

typedef struct lab_gpio_input {
    const char *name;                 /* in the e-stop reason; default: the line */
    const char *chip;
    const char *line;                 /* offset ("17") or line name */
    lab_gpio_role role;
    int active_low;                   /* 1: trips on a falling edge (pull-up wiring) */
    int debounce_ms;                  /* level must hold this long; 0: trip at once */
} lab_gpio_input;

typedef struct lab_gpio_output {
    const char *capability;
    const char *chip;
    const char *line;
    int active_low;
    lab_gpio_action action;
    double seconds;                   /* pulse length when seconds_param is NULL or absent */
    const char *seconds_param;        /* pulse length from this step parameter */
} lab_gpio_output;

typedef struct lab_gpio_status_light {
    const char *chip;
    const char *line;
    int active_low;
    lab_gpio_light ready, busy, estopped, offline;
    int blink_ms;                     /* 0: LAB_GPIO_BLINK_MS */
} lab_gpio_status_light;

typedef struct lab_gpio_opts {
    const char *device;               /* device name: messages and libgpiod consumer */
    const char *backend;              /* "libgpiod" (default) or "sim" */
    const char *sim_fifo;             /* sim: FIFO the levels are injected through */
    const char *sim_log;              /* sim: file output changes are logged to */
    const lab_gpio_input *inputs;
    size_t n_inputs;
    const lab_gpio_output *outputs;
    size_t n_outputs;
    const lab_gpio_status_light *light; /* NULL: none */
} lab_gpio_opts;

/* A new gpio driver for lab_worker_run (ops: lab_gpio_driver_ops); copies
 * opts. Lines are requested when the worker starts (attach): a missing chip
 * or line then stops the worker with an error naming both. */
void *lab_gpio_driver_new(const lab_gpio_opts *opts, lab_err *err);
extern const lab_driver_ops lab_gpio_driver_ops;

#endif
