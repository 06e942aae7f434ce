/* The libgpiod (v1.6) GPIO backend (see gpio_backend.h): real chips, line
 * requests, edge events through the line's event fd watched with uv_poll.
 * Not for: simulated lines (gpio_simline.c). */
#include "devices/gpio_backend.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <gpiod.h>

#include "common/banned.h"

#define S_MAX_CHIPS 8

struct lab_gpio_line {
    struct gpiod_line *line;
    uv_poll_t poll;
    int watching;
    lab_gpio_edge_fn fn;
    void *arg;
    lab_gpio_line *next;
};

typedef struct s_chip {
    char *name;
    struct gpiod_chip *chip;
} s_chip;

typedef struct s_be {
    uv_loop_t *loop;
    char *consumer;
    s_chip chips[S_MAX_CHIPS];
    size_t n_chips;
    lab_gpio_line *lines;
} s_be;

static int s_is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static struct gpiod_chip *s_chip_open(s_be *b, const char *name, const char *line, lab_err *err)
{
    for (size_t i = 0; i < b->n_chips; i++)
        if (!strcmp(b->chips[i].name, name))
            return b->chips[i].chip;
    if (b->n_chips == S_MAX_CHIPS) {
        lab_err_set(err, LAB_EINVAL, "gpio: more than %d chips in use", S_MAX_CHIPS);
        return NULL;
    }
    errno = 0;
    struct gpiod_chip *c = gpiod_chip_open_lookup(name);
    if (!c) {
        int e = errno ? errno : ENOENT;
        lab_err_set(err, e == ENOENT ? LAB_ENOTFOUND : LAB_EIO,
                    "gpio chip '%s' (for line %s) cannot be opened: %s (is there a /dev/%s? "
                    "`gpiodetect` lists the chips of this machine)",
                    name, line, strerror(e), name);
        return NULL;
    }
    b->chips[b->n_chips].name = strdup(name);
    b->chips[b->n_chips].chip = c;
    b->n_chips++;
    return c;
}

static struct gpiod_line *s_line_get(s_be *b, const char *chip, const char *line, lab_err *err)
{
    struct gpiod_chip *c = s_chip_open(b, chip, line, err);
    if (!c)
        return NULL;
    struct gpiod_line *l;
    if (s_is_number(line)) {
        l = gpiod_chip_get_line(c, (unsigned)strtoul(line, NULL, 10));
        if (!l)
            lab_err_set(err, LAB_ENOTFOUND, "gpio chip '%s' has no line %s (it has %u lines; "
                        "`gpioinfo %s` lists them)", chip, line, gpiod_chip_num_lines(c), chip);
    } else {
        l = gpiod_chip_find_line(c, line);
        if (!l)
            lab_err_set(err, LAB_ENOTFOUND, "gpio chip '%s' has no line named '%s' (`gpioinfo %s` "
                        "lists the names)", chip, line, chip);
    }
    return l;
}

static lab_gpio_line *s_track(s_be *b, struct gpiod_line *l)
{
    lab_gpio_line *gl = calloc(1, sizeof *gl);
    if (!gl)
        return NULL;
    gl->line = l;
    gl->next = b->lines;
    b->lines = gl;
    return gl;
}

static void s_on_event(uv_poll_t *p, int status, int events)
{
    lab_gpio_line *gl = p->data;
    (void)events;
    if (status < 0)
        return;
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(gl->line, &ev) != 0)
        return;
    gl->fn(gl->arg);
}

static int s_request_input(void *be, const char *chip, const char *line, int active_low,
                           lab_gpio_edge_fn fn, void *arg, lab_gpio_line **out, lab_err *err)
{
    s_be *b = be;
    struct gpiod_line *l = s_line_get(b, chip, line, err);
    if (!l)
        return err->code;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_both_edges_events_flags(l, b->consumer, flags) != 0)
        return lab_err_set(err, LAB_EIO, "gpio chip '%s' line %s: cannot watch its edges: %s "
                           "(used by '%s'?)", chip, line, strerror(errno),
                           gpiod_line_consumer(l) ? gpiod_line_consumer(l) : "nobody");
    lab_gpio_line *gl = s_track(b, l);
    if (!gl)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    gl->fn = fn;
    gl->arg = arg;
    int fd = gpiod_line_event_get_fd(l);
    if (fd < 0 || uv_poll_init(b->loop, &gl->poll, fd) != 0)
        return lab_err_set(err, LAB_EIO, "gpio chip '%s' line %s: no event fd", chip, line);
    gl->poll.data = gl;
    gl->watching = 1;
    uv_poll_start(&gl->poll, UV_READABLE, s_on_event);
    *out = gl;
    return 0;
}

static int s_request_output(void *be, const char *chip, const char *line, int active_low, int value,
                            lab_gpio_line **out, lab_err *err)
{
    s_be *b = be;
    struct gpiod_line *l = s_line_get(b, chip, line, err);
    if (!l)
        return err->code;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_output_flags(l, b->consumer, flags, value) != 0)
        return lab_err_set(err, LAB_EIO, "gpio chip '%s' line %s: cannot drive it as an output: "
                           "%s", chip, line, strerror(errno));
    lab_gpio_line *gl = s_track(b, l);
    if (!gl)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    *out = gl;
    return 0;
}

static int s_get(void *be, lab_gpio_line *l, int *value, lab_err *err)
{
    (void)be;
    int v = gpiod_line_get_value(l->line);
    if (v < 0)
        return lab_err_set(err, LAB_EIO, "gpio line '%s': cannot read it: %s",
                           gpiod_line_name(l->line) ? gpiod_line_name(l->line) : "?",
                           strerror(errno));
    *value = v;
    return 0;
}

static int s_set(void *be, lab_gpio_line *l, int value, lab_err *err)
{
    (void)be;
    if (gpiod_line_set_value(l->line, value ? 1 : 0) != 0)
        return lab_err_set(err, LAB_EIO, "gpio line '%s': cannot set it: %s",
                           gpiod_line_name(l->line) ? gpiod_line_name(l->line) : "?",
                           strerror(errno));
    return 0;
}

static void s_close(void *be)
{
    s_be *b = be;
    for (lab_gpio_line *l = b->lines; l; l = l->next)
        if (l->watching && !uv_is_closing((uv_handle_t *)&l->poll))
            uv_close((uv_handle_t *)&l->poll, NULL);
}

static void s_destroy(void *be)
{
    s_be *b = be;
    if (!b)
        return;
    while (b->lines) {
        lab_gpio_line *l = b->lines;
        b->lines = l->next;
        gpiod_line_release(l->line);
        free(l);
    }
    for (size_t i = 0; i < b->n_chips; i++) {
        gpiod_chip_close(b->chips[i].chip);
        free(b->chips[i].name);
    }
    free(b->consumer);
    free(b);
}

static const lab_gpio_backend_ops s_ops = {"libgpiod", s_request_input, s_request_output, s_get,
                                           s_set, s_close, s_destroy};

int lab_gpio_libgpiod_new(uv_loop_t *loop, const char *consumer, lab_gpio_backend *out,
                          lab_err *err)
{
    s_be *b = calloc(1, sizeof *b);
    if (!b || !(b->consumer = strdup(consumer ? consumer : "labloop"))) {
        free(b);
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    }
    b->loop = loop;
    out->ops = &s_ops;
    out->be = b;
    return 0;
}
