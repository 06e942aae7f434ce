/* GPIO line backends: the small ops table the gpio driver talks through.
 *
 * Two backends: libgpiod (v1.6 API, real /dev/gpiochipN character devices;
 * edge events through the line's event fd watched with uv_poll) and a
 * simulated one for tests and demos (lines in memory; levels injected by
 * writing "CHIP LINE LEVEL" lines into a FIFO, so another process can trip
 * an input; every output change is appended to a log file).
 * Values passed in and out are logical (1 = active); active_low inverts the
 * physical level, as libgpiod's ACTIVE_LOW flag does.
 * Not for: what lines mean (e-stop, valves, lights: drivers/gpio.c).
 * All calls on the loop's thread.
 */
#ifndef LAB_GPIO_BACKEND_H
#define LAB_GPIO_BACKEND_H

#include <uv.h>
#include "common/err.h"

typedef struct lab_gpio_line lab_gpio_line;   /* owned by the backend */

/* An input line may have changed: called on the loop after an edge. The
 * callee re-reads the value (after its debounce). */
typedef void (*lab_gpio_edge_fn)(void *arg);

typedef struct lab_gpio_backend_ops {
    const char *name;
    /* Request line (an offset like "17" or a line name) of chip (a name like
     * "gpiochip0", a path or a label) as an input watched for both edges.
     * A missing chip or line is LAB_ENOTFOUND with both named in err. */
    int (*request_input)(void *be, const char *chip, const char *line, int active_low,
                         lab_gpio_edge_fn fn, void *arg, lab_gpio_line **out, lab_err *err);
    /* Request line as an output driven to value (logical). */
    int (*request_output)(void *be, const char *chip, const char *line, int active_low, int value,
                          lab_gpio_line **out, lab_err *err);
    int (*get)(void *be, lab_gpio_line *l, int *value, lab_err *err);
    int (*set)(void *be, lab_gpio_line *l, int value, lab_err *err);
    /* Release every line and start closing the backend's loop handles. */
    void (*close)(void *be);
    /* Free the backend; after close() and after the loop ran the closes. */
    void (*destroy)(void *be);
} lab_gpio_backend_ops;

typedef struct lab_gpio_backend {
    const lab_gpio_backend_ops *ops;
    void *be;
} lab_gpio_backend;

/* libgpiod on real chips. consumer: the label shown by gpioinfo. */
int lab_gpio_libgpiod_new(uv_loop_t *loop, const char *consumer, lab_gpio_backend *out,
                          lab_err *err);
/* The simulated backend. fifo: created (mkfifo) when missing; each line
 * written to it, "CHIP LINE LEVEL" with LEVEL the physical 0 or 1, sets that
 * line and fires its edge. log (optional): each output change is appended
 * as "MONO_US CHIP LINE VALUE" (logical value, CLOCK_MONOTONIC µs).
 * Unset input lines start inactive. */
int lab_gpio_simline_new(uv_loop_t *loop, const char *fifo, const char *log, lab_gpio_backend *out,
                         lab_err *err);

#endif
