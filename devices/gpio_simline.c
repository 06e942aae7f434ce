/* The simulated GPIO backend (see gpio_backend.h): lines in memory, levels
 * injected through a FIFO by another process, output changes logged to a
 * file. For tests and demos on machines without GPIO chips.
 * Not for: real hardware (gpio_libgpiod.c). */
#include "devices/gpio_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/banned.h"

#define S_NAME_MAX 64
#define S_CMD_MAX 256

struct lab_gpio_line {
    char chip[S_NAME_MAX], line[S_NAME_MAX];
    int level;                       /* physical */
    int active_low;
    int input, requested;
    lab_gpio_edge_fn fn;
    void *arg;
    lab_gpio_line *next;
};

typedef struct s_sim {
    uv_loop_t *loop;
    int fd;
    uv_poll_t poll;
    int polling;
    int log_fd;
    char buf[S_CMD_MAX];
    size_t len;
    lab_gpio_line *lines;
} s_sim;

static lab_gpio_line *s_line(s_sim *s, const char *chip, const char *line, int create)
{
    for (lab_gpio_line *l = s->lines; l; l = l->next)
        if (!strcmp(l->chip, chip) && !strcmp(l->line, line))
            return l;
    if (!create)
        return NULL;
    lab_gpio_line *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->chip, sizeof l->chip, "%s", chip);
    snprintf(l->line, sizeof l->line, "%s", line);
    l->level = -1;                   /* never set */
    l->next = s->lines;
    s->lines = l;
    return l;
}

static void s_command(s_sim *s, char *cmd)
{
    char chip[S_NAME_MAX], line[S_NAME_MAX];
    int level;
    if (sscanf(cmd, "%63s %63s %d", chip, line, &level) != 3 || (level != 0 && level != 1)) {
        lab_warn("gpio sim: ignoring '%s' (want: CHIP LINE 0|1)", cmd);
        return;
    }
    lab_gpio_line *l = s_line(s, chip, line, 1);
    if (!l)
        return;
    int changed = l->level != level;
    l->level = level;
    if (changed && l->input && l->requested && l->fn)
        l->fn(l->arg);
}

static void s_on_readable(uv_poll_t *p, int status, int events)
{
    s_sim *s = p->data;
    (void)events;
    if (status < 0)
        return;
    char chunk[512];
    ssize_t n;
    while ((n = read(s->fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                s->buf[s->len] = '\0';
                if (s->len)
                    s_command(s, s->buf);
                s->len = 0;
            } else if (s->len + 1 < sizeof s->buf) {
                s->buf[s->len++] = chunk[i];
            }
        }
    }
}

static int s_request(s_sim *s, const char *chip, const char *line, int active_low, int input,
                     lab_gpio_line **out, lab_err *err)
{
    if (strlen(chip) >= S_NAME_MAX || strlen(line) >= S_NAME_MAX)
        return lab_err_set(err, LAB_EINVAL, "gpio sim: chip '%s' line '%s': name too long", chip,
                           line);
    lab_gpio_line *l = s_line(s, chip, line, 1);
    if (!l)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    if (l->requested)
        return lab_err_set(err, LAB_EIO, "gpio chip '%s' line %s is requested twice", chip, line);
    l->requested = 1;
    l->input = input;
    l->active_low = active_low;
    if (l->level < 0)
        l->level = active_low ? 1 : 0;   /* starts inactive */
    *out = l;
    return 0;
}

static int s_request_input(void *be, const char *chip, const char *line, int active_low,
                           lab_gpio_edge_fn fn, void *arg, lab_gpio_line **out, lab_err *err)
{
    int rc = s_request(be, chip, line, active_low, 1, out, err);
    if (rc == 0) {
        (*out)->fn = fn;
        (*out)->arg = arg;
    }
    return rc;
}

static int s_set(void *be, lab_gpio_line *l, int value, lab_err *err);

static int s_request_output(void *be, const char *chip, const char *line, int active_low, int value,
                            lab_gpio_line **out, lab_err *err)
{
    int rc = s_request(be, chip, line, active_low, 0, out, err);
    return rc ? rc : s_set(be, *out, value, err);
}

static int s_get(void *be, lab_gpio_line *l, int *value, lab_err *err)
{
    (void)be;
    (void)err;
    *value = (l->level ? 1 : 0) ^ (l->active_low ? 1 : 0);
    return 0;
}

static int s_set(void *be, lab_gpio_line *l, int value, lab_err *err)
{
    s_sim *s = be;
    (void)err;
    value = value ? 1 : 0;
    l->level = value ^ (l->active_low ? 1 : 0);
    if (s->log_fd >= 0) {
        char rec[256];
        int n = snprintf(rec, sizeof rec, "%lld %s %s %d\n", (long long)lab_clock_mono_us(),
                         l->chip, l->line, value);
        if (n > 0 && write(s->log_fd, rec, (size_t)n) != n)
            lab_warn("gpio sim: cannot write the output log: %s", strerror(errno));
    }
    return 0;
}

static void s_close(void *be)
{
    s_sim *s = be;
    if (s->polling && !uv_is_closing((uv_handle_t *)&s->poll))
        uv_close((uv_handle_t *)&s->poll, NULL);
}

static void s_destroy(void *be)
{
    s_sim *s = be;
    if (!s)
        return;
    while (s->lines) {
        lab_gpio_line *l = s->lines;
        s->lines = l->next;
        free(l);
    }
    if (s->fd >= 0)
        close(s->fd);
    if (s->log_fd >= 0)
        close(s->log_fd);
    free(s);
}

static const lab_gpio_backend_ops s_ops = {"sim", s_request_input, s_request_output, s_get, s_set,
                                           s_close, s_destroy};

int lab_gpio_simline_new(uv_loop_t *loop, const char *fifo, const char *log, lab_gpio_backend *out,
                         lab_err *err)
{
    s_sim *s = calloc(1, sizeof *s);
    if (!s)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    s->loop = loop;
    s->fd = s->log_fd = -1;
    if (log) {
        s->log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->log_fd < 0) {
            lab_err_from_errno(err, errno, log);
            s_destroy(s);
            return lab_err_prefix(err, "gpio sim: cannot open the output log: ");
        }
    }
    if (fifo) {
        if (mkfifo(fifo, 0660) != 0 && errno != EEXIST) {
            lab_err_from_errno(err, errno, fifo);
            s_destroy(s);
            return lab_err_prefix(err, "gpio sim: cannot create the FIFO: ");
        }
        /* O_RDWR: the FIFO never reports EOF when a writer closes it */
        s->fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (s->fd < 0) {
            lab_err_from_errno(err, errno, fifo);
            s_destroy(s);
            return lab_err_prefix(err, "gpio sim: cannot open the FIFO: ");
        }
        uv_poll_init(loop, &s->poll, s->fd);
        s->poll.data = s;
        s->polling = 1;
        uv_poll_start(&s->poll, UV_READABLE, s_on_readable);
    }
    out->ops = &s_ops;
    out->be = s;
    return 0;
}
