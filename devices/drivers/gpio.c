/* The gpio driver (see gpio.h): interlock inputs → worker e-stop, outputs
 * as step actions, a status light following the worker's state.
 * Not for: talking to chips (devices/gpio_backend.h does). */
#include "devices/drivers/gpio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "devices/gpio_backend.h"
#include "common/banned.h"

typedef struct s_gpio s_gpio;

typedef struct s_in {
    lab_gpio_input cfg;
    s_gpio *g;
    lab_gpio_line *line;
    uv_timer_t debounce;
    int tripped;                      /* active after debounce, not yet seen inactive */
} s_in;

typedef struct s_out {
    lab_gpio_output cfg;
    s_gpio *g;
    lab_gpio_line *line;
    uv_timer_t pulse;
    lab_step *step;                   /* the running pulse, or NULL */
    double seconds;
} s_out;

struct s_gpio {
    char *device, *backend, *sim_fifo, *sim_log;
    s_in *ins;
    size_t n_ins;
    s_out *outs;
    size_t n_outs;
    int has_light;
    lab_gpio_status_light light;
    lab_gpio_line *light_line;
    uv_timer_t blink;
    int blink_on;
    lab_gpio_backend be;
    int be_open;
    int timers_init;
    lab_worker *w;
    lab_worker_state st;
    char **strings;                   /* every copied string, freed at destroy */
    size_t n_strings;
};

static const char *s_keep(s_gpio *g, const char *s)
{
    if (!s)
        return NULL;
    char **v = realloc(g->strings, (g->n_strings + 1) * sizeof *v);
    if (!v)
        return NULL;
    g->strings = v;
    return g->strings[g->n_strings++] = strdup(s);
}

/* ---- inputs ---- */

static void s_evaluate(s_in *in)
{
    s_gpio *g = in->g;
    int v = 0;
    lab_err e = {0};
    if (g->be.ops->get(g->be.be, in->line, &v, &e) < 0) {
        lab_error("device '%s': %s", g->device, e.msg);
        return;
    }
    if (v && !in->tripped) {
        in->tripped = 1;
        char reason[256];
        snprintf(reason, sizeof reason, "gpio: %s tripped", in->cfg.name);
        lab_worker_estop(g->w, reason);
    } else if (!v && in->tripped) {
        in->tripped = 0;
        lab_info("device '%s': gpio input '%s' is inactive again (e-stop stays latched until "
                 "cleared)", g->device, in->cfg.name);
    }
}

static void s_on_debounced(uv_timer_t *t) { s_evaluate(t->data); }

static void s_on_edge(void *arg)
{
    s_in *in = arg;
    if (in->cfg.debounce_ms <= 0)
        s_evaluate(in);
    else /* the level must hold for debounce_ms: every edge restarts the wait */
        uv_timer_start(&in->debounce, s_on_debounced, (uint64_t)in->cfg.debounce_ms, 0);
}

/* ---- outputs ---- */

static int s_drive(s_gpio *g, lab_gpio_line *l, int v)
{
    lab_err e = {0};
    if (g->be.ops->set(g->be.be, l, v, &e) < 0) {
        lab_error("device '%s': %s", g->device, e.msg);
        return e.code;
    }
    return 0;
}

static void s_pulse_done(s_out *o, int cancelled)
{
    lab_step *step = o->step;
    o->step = NULL;
    uv_timer_stop(&o->pulse);
    int rc = s_drive(o->g, o->line, 0);
    if (!step)
        return;
    if (rc < 0)
        lab_step_finish(step, LAB_STEP_FAILED, "device '%s': cannot switch line %s off after the "
                        "pulse", o->g->device, o->cfg.line);
    else if (cancelled)
        lab_step_finish(step, LAB_STEP_CANCELLED, "pulse stopped early");
    else {
        lab_step_add_number(step, "seconds", o->seconds, "s");
        lab_step_finish(step, LAB_STEP_DONE, NULL);
    }
}

static void s_on_pulse_end(uv_timer_t *t) { s_pulse_done(t->data, 0); }

static s_out *s_find_out(s_gpio *g, const char *cap)
{
    for (size_t i = 0; i < g->n_outs; i++)
        if (cap && !strcmp(g->outs[i].cfg.capability, cap))
            return &g->outs[i];
    return NULL;
}

static int s_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    s_gpio *g = drv;
    (void)loop;
    s_out *o = s_find_out(g, lab_step_capability(step));
    if (!o)
        return lab_err_set(err, LAB_EINVAL, "no gpio output for capability '%s'",
                           lab_step_capability(step));
    if (o->step)
        return lab_err_set(err, LAB_ESTATE, "line %s is already pulsing for attempt %s",
                           o->cfg.line, lab_step_attempt(o->step));
    switch (o->cfg.action) {
    case LAB_GPIO_ON:
    case LAB_GPIO_OFF:
        if (s_drive(g, o->line, o->cfg.action == LAB_GPIO_ON) < 0)
            return lab_err_set(err, LAB_EDRIVER, "cannot set gpio line %s of %s", o->cfg.line,
                               o->cfg.chip);
        lab_step_add_flag(step, "on", o->cfg.action == LAB_GPIO_ON);
        lab_step_finish(step, LAB_STEP_DONE, NULL);
        return 0;
    case LAB_GPIO_PULSE: {
        double secs = o->cfg.seconds;
        if (o->cfg.seconds_param) {
            secs = lab_step_param_number(step, o->cfg.seconds_param, -1);
            if (secs < 0)
                return lab_err_set(err, LAB_EINVAL, "step parameter '%s' (the pulse length in "
                                   "seconds) is missing or not a non-negative number",
                                   o->cfg.seconds_param);
        }
        if (s_drive(g, o->line, 1) < 0)
            return lab_err_set(err, LAB_EDRIVER, "cannot set gpio line %s of %s", o->cfg.line,
                               o->cfg.chip);
        o->step = step;
        o->seconds = secs;
        lab_step_set_driver_data(step, o);
        uv_timer_start(&o->pulse, s_on_pulse_end, (uint64_t)(secs * 1000.0 + 0.5), 0);
        return 0;
    }
    }
    return lab_err_set(err, LAB_EINVAL, "unknown gpio action");
}

static void s_cancel(void *drv, lab_step *step)
{
    (void)drv;
    s_out *o = lab_step_driver_data(step);
    if (o && o->step == step)
        s_pulse_done(o, 1);
}

/* ---- status light ---- */

static void s_on_blink(uv_timer_t *t)
{
    s_gpio *g = t->data;
    g->blink_on = !g->blink_on;
    s_drive(g, g->light_line, g->blink_on);
}

static void s_show(s_gpio *g, lab_worker_state st)
{
    if (!g->has_light || !g->light_line)
        return;
    lab_gpio_light l = st == LAB_WSTATE_READY ? g->light.ready
                     : st == LAB_WSTATE_BUSY ? g->light.busy
                     : st == LAB_WSTATE_ESTOPPED ? g->light.estopped : g->light.offline;
    uv_timer_stop(&g->blink);
    if (l == LAB_GPIO_LIGHT_BLINK) {
        g->blink_on = 1;
        s_drive(g, g->light_line, 1);
        uint64_t ms = (uint64_t)(g->light.blink_ms > 0 ? g->light.blink_ms : LAB_GPIO_BLINK_MS);
        uv_timer_start(&g->blink, s_on_blink, ms, ms);
    } else {
        s_drive(g, g->light_line, l == LAB_GPIO_LIGHT_ON);
    }
}

static void s_state(void *drv, lab_worker_state st)
{
    s_gpio *g = drv;
    lab_worker_state old = g->st;
    g->st = st;
    if (!g->be_open)
        return;
    s_show(g, st);
    if (st == LAB_WSTATE_ESTOPPED) {
        /* safe state: nothing driven (the worker cancels the running pulses) */
        for (size_t i = 0; i < g->n_outs; i++)
            s_drive(g, g->outs[i].line, 0);
    } else if (old == LAB_WSTATE_ESTOPPED) {
        /* cleared: an interlock that is still open latches e-stop again */
        for (size_t i = 0; i < g->n_ins; i++) {
            g->ins[i].tripped = 0;
            s_evaluate(&g->ins[i]);
        }
    }
}

/* ---- life ---- */

static int s_attach(void *drv, lab_worker *w, uv_loop_t *loop, lab_err *err)
{
    s_gpio *g = drv;
    g->w = w;
    int rc = !strcmp(g->backend, "sim")
                 ? lab_gpio_simline_new(loop, g->sim_fifo, g->sim_log, &g->be, err)
                 : lab_gpio_libgpiod_new(loop, g->device, &g->be, err);
    if (rc < 0)
        return lab_err_prefix(err, "device '%s': ", g->device);
    g->be_open = 1;
    uv_timer_init(loop, &g->blink);
    g->blink.data = g;
    for (size_t i = 0; i < g->n_ins; i++) {
        uv_timer_init(loop, &g->ins[i].debounce);
        g->ins[i].debounce.data = &g->ins[i];
    }
    for (size_t i = 0; i < g->n_outs; i++) {
        uv_timer_init(loop, &g->outs[i].pulse);
        g->outs[i].pulse.data = &g->outs[i];
    }
    g->timers_init = 1;
    for (size_t i = 0; i < g->n_outs; i++) {
        s_out *o = &g->outs[i];
        for (size_t k = 0; k < i && !o->line; k++)   /* on/off of one relay: one request */
            if (!strcmp(g->outs[k].cfg.chip, o->cfg.chip) && !strcmp(g->outs[k].cfg.line, o->cfg.line))
                o->line = g->outs[k].line;
        if (!o->line && g->be.ops->request_output(g->be.be, o->cfg.chip, o->cfg.line, o->cfg.active_low, 0,
                                      &o->line, err) < 0)
            return lab_err_prefix(err, "device '%s': output for '%s': ", g->device,
                                  o->cfg.capability);
    }
    if (g->has_light &&
        g->be.ops->request_output(g->be.be, g->light.chip, g->light.line, g->light.active_low, 0,
                                  &g->light_line, err) < 0)
        return lab_err_prefix(err, "device '%s': status light: ", g->device);
    for (size_t i = 0; i < g->n_ins; i++) {
        s_in *in = &g->ins[i];
        if (g->be.ops->request_input(g->be.be, in->cfg.chip, in->cfg.line, in->cfg.active_low,
                                     s_on_edge, in, &in->line, err) < 0)
            return lab_err_prefix(err, "device '%s': input '%s': ", g->device, in->cfg.name);
    }
    lab_info("device '%s': gpio (%s): %zu interlock input(s), %zu output(s)%s", g->device,
             g->be.ops->name, g->n_ins, g->n_outs, g->has_light ? ", a status light" : "");
    /* an interlock already open at start-up trips at once */
    for (size_t i = 0; i < g->n_ins; i++)
        s_evaluate(&g->ins[i]);
    return 0;
}

static void s_close_timer(uv_timer_t *t)
{
    if (!uv_is_closing((uv_handle_t *)t))
        uv_close((uv_handle_t *)t, NULL);
}

static void s_detach(void *drv)
{
    s_gpio *g = drv;
    if (g->be_open) {
        for (size_t i = 0; i < g->n_outs; i++)
            if (g->outs[i].line)
                s_drive(g, g->outs[i].line, 0);
        if (g->light_line)
            s_drive(g, g->light_line, 0);
        g->be.ops->close(g->be.be);
    }
    if (g->timers_init) {
        s_close_timer(&g->blink);
        for (size_t i = 0; i < g->n_ins; i++)
            s_close_timer(&g->ins[i].debounce);
        for (size_t i = 0; i < g->n_outs; i++)
            s_close_timer(&g->outs[i].pulse);
    }
}

static void s_destroy(void *drv)
{
    s_gpio *g = drv;
    if (!g)
        return;
    if (g->be_open)
        g->be.ops->destroy(g->be.be);
    for (size_t i = 0; i < g->n_strings; i++)
        free(g->strings[i]);
    free(g->strings);
    free(g->ins);
    free(g->outs);
    free(g);
}

void *lab_gpio_driver_new(const lab_gpio_opts *o, lab_err *err)
{
    s_gpio *g = calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    g->device = (char *)s_keep(g, o->device ? o->device : "gpio");
    g->backend = (char *)s_keep(g, o->backend ? o->backend : "libgpiod");
    g->sim_fifo = (char *)s_keep(g, o->sim_fifo);
    g->sim_log = (char *)s_keep(g, o->sim_log);
    if (!g->device || !g->backend)
        goto nomem;
    if (strcmp(g->backend, "sim") && strcmp(g->backend, "libgpiod")) {
        lab_err_set(err, LAB_ECONFIG, "device '%s': unknown gpio backend '%s' (libgpiod or sim)",
                    g->device, g->backend);
        s_destroy(g);
        return NULL;
    }
    g->ins = calloc(o->n_inputs + 1, sizeof *g->ins);
    g->outs = calloc(o->n_outputs + 1, sizeof *g->outs);
    if (!g->ins || !g->outs)
        goto nomem;
    for (size_t i = 0; i < o->n_inputs; i++) {
        s_in *in = &g->ins[g->n_ins++];
        in->cfg = o->inputs[i];
        in->g = g;
        in->cfg.chip = s_keep(g, in->cfg.chip);
        in->cfg.line = s_keep(g, in->cfg.line);
        in->cfg.name = s_keep(g, in->cfg.name ? in->cfg.name : in->cfg.line);
    }
    for (size_t i = 0; i < o->n_outputs; i++) {
        s_out *out = &g->outs[g->n_outs++];
        out->cfg = o->outputs[i];
        out->g = g;
        out->cfg.capability = s_keep(g, out->cfg.capability);
        out->cfg.chip = s_keep(g, out->cfg.chip);
        out->cfg.line = s_keep(g, out->cfg.line);
        out->cfg.seconds_param = s_keep(g, out->cfg.seconds_param);
    }
    if (o->light) {
        g->has_light = 1;
        g->light = *o->light;
        g->light.chip = s_keep(g, g->light.chip);
        g->light.line = s_keep(g, g->light.line);
    }
    g->st = LAB_WSTATE_OFFLINE;
    return g;
nomem:
    s_destroy(g);
    lab_err_set(err, LAB_ENOMEM, "out of memory");
    return NULL;
}

const lab_driver_ops lab_gpio_driver_ops = {
    .name = "gpio",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
    .attach = s_attach,
    .state = s_state,
    .detach = s_detach,
};
