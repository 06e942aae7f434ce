/* Simulated drivers (see drivers.h). Each step is a libuv timer that fires
 * after the step's simulated duration; then the driver acts on the sample. */
#include "sim/drivers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "devices/drivers/null.h"
#include "protocols/envelope.h"
#include "sim/model.h"
#include "common/banned.h"

typedef enum { S_DISPENSER, S_HEATER, S_SPECTROMETER } s_kind;

typedef struct s_sim {
    const lab_sim_lab *lab;
    const lab_sim_device *dev;
    s_kind kind;
    lab_model *model;
    uint64_t rng;
} s_sim;

typedef struct s_job {
    uv_timer_t timer;
    lab_step *step;
    s_sim *sim;
} s_job;

static uint64_t s_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double s_uniform(uint64_t *x) { return (double)(s_next(x) >> 11) * 0x1.0p-53; }

/* The sample's file: the id with anything but [A-Za-z0-9._-] made '_'. */
static void s_sample_path(const s_sim *sim, const char *sample, char *buf, size_t n)
{
    char name[256];
    size_t i = 0;
    for (; sample && sample[i] && i < sizeof name - 1; i++) {
        char c = sample[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        name[i] = ok && !(i == 0 && c == '.') ? c : '_';
    }
    name[i] = '\0';
    snprintf(buf, n, "%s/%s.sample", sim->lab->samples_dir, i ? name : "unnamed");
}

static int s_record(s_sim *sim, lab_step *step, lab_err *err)
{
    char path[1024];
    s_sample_path(sim, lab_step_sample(step), path, sizeof path);
    FILE *f = fopen(path, "a");
    if (!f)
        return lab_err_from_errno(err, errno, path);
    fprintf(f, "# %s by %s (%s)\n", lab_step_name(step), sim->dev->name, lab_step_attempt(step));
    for (size_t i = 0; i < lab_step_n_params(step); i++) {
        const Labloop__Param *p = lab_step_param_at(step, i);
        double v;
        if (p->value && p->value->kind_case == LABLOOP__VALUE__KIND_TEXT)
            fprintf(f, "%s=%s\n", p->name, p->value->text);
        else if (lab_param_to_double(p, &v) == 0)
            fprintf(f, "%s=%.17g\n", p->name, v);
    }
    int bad = fclose(f) != 0;
    return bad ? lab_err_from_errno(err, errno, path) : 0;
}

/* Look up input name in the sample file (the last value written wins). */
static int s_sample_value(const char *path, const char *name, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return LAB_ENOTFOUND;
    char line[512];
    size_t len = strlen(name);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, len) == 0 && line[len] == '=') {
            snprintf(out, n, "%s", line + len + 1);
            out[strcspn(out, "\r\n")] = '\0';
            found = 1;
        }
    }
    fclose(f);
    return found ? 0 : LAB_ENOTFOUND;
}

static void s_measure(s_sim *sim, lab_step *step)
{
    char path[1024];
    s_sample_path(sim, lab_step_sample(step), path, sizeof path);
    size_t n_in = lab_model_n_inputs(sim->model);
    double x[16];
    for (size_t i = 0; i < n_in && i < 16; i++) {
        const lab_model_input *in = lab_model_input_at(sim->model, i);
        char val[256];
        if (s_sample_value(path, in->name, val, sizeof val) != 0) {
            lab_step_finish(step, LAB_STEP_FAILED,
                            "sample '%s' has no record of '%s': nothing to measure",
                            lab_step_sample(step), in->name);
            return;
        }
        if (in->categorical) {
            size_t k = 0;
            while (k < in->n_choices && strcmp(in->choices[k], val) != 0)
                k++;
            if (k == in->n_choices) {
                lab_step_finish(step, LAB_STEP_FAILED, "sample '%s': unknown %s '%s'",
                                lab_step_sample(step), in->name, val);
                return;
            }
            x[i] = (double)k;
        } else {
            char *end;
            x[i] = strtod(val, &end);
            if (end == val) {
                lab_step_finish(step, LAB_STEP_FAILED, "sample '%s': %s '%s' is not a number",
                                lab_step_sample(step), in->name, val);
                return;
            }
        }
    }
    double y[8];
    char why[256];
    int rc = lab_model_eval(sim->model, x, y, why, sizeof why);
    if (rc < 0) {
        lab_step_finish(step, LAB_STEP_FAILED, "%s", why);
        return;
    }
    for (size_t j = 0; j < lab_model_n_outputs(sim->model) && j < 8; j++)
        lab_step_add_number(step, lab_model_output_name(sim->model, j), y[j], NULL);
    lab_step_finish(step, LAB_STEP_DONE, NULL);
}

static void s_job_free(uv_handle_t *h) { free(h->data); }

static void s_on_timer(uv_timer_t *t)
{
    s_job *job = t->data;
    s_sim *sim = job->sim;
    lab_step *step = job->step;
    job->step = NULL;
    lab_step_set_driver_data(step, NULL);
    uv_close((uv_handle_t *)&job->timer, s_job_free);
    if (sim->dev->failure_rate > 0 && s_uniform(&sim->rng) < sim->dev->failure_rate) {
        const char *dflt = sim->kind == S_DISPENSER ? "dispense failed: clogged tip"
                         : sim->kind == S_HEATER ? "heater fault: temperature overshoot"
                                                 : "spectrum fit failed: signal too weak";
        lab_step_finish(step, LAB_STEP_FAILED, "device '%s': %s", sim->dev->name,
                        sim->dev->failure_text ? sim->dev->failure_text : dflt);
        return;
    }
    if (sim->kind == S_SPECTROMETER) {
        s_measure(sim, step);
        return;
    }
    lab_err e = {0};
    if (s_record(sim, step, &e) < 0) {
        lab_step_finish(step, LAB_STEP_FAILED, "device '%s': cannot record the sample: %s",
                        sim->dev->name, e.msg);
        return;
    }
    if (sim->kind == S_DISPENSER)
        lab_step_add_number(step, "volume_ul", 100.0 + 50.0 * s_uniform(&sim->rng), "uL");
    lab_step_finish(step, LAB_STEP_DONE, NULL);
}

static int s_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    s_sim *sim = drv;
    double secs = sim->dev->duration_s;
    if (sim->dev->duration_param) {
        secs = lab_step_param_number(step, sim->dev->duration_param, NAN);
        if (isnan(secs))
            return lab_err_set(err, LAB_EINVAL, "step '%s' has no numeric parameter '%s' for its duration",
                               lab_step_name(step), sim->dev->duration_param);
        if (!(secs >= 0 && secs <= 7 * 86400.0))   /* infinity, or beyond what a timer holds */
            return lab_err_set(err, LAB_EINVAL, "step '%s': duration parameter '%s' is %g s; it must be "
                               "from 0 to 604800 (7 days)", lab_step_name(step), sim->dev->duration_param, secs);
    }
    secs *= 1.0 + sim->dev->jitter * (2.0 * s_uniform(&sim->rng) - 1.0);
    double ms = secs * 1000.0 / sim->lab->speed;
    s_job *job = calloc(1, sizeof *job);
    if (!job)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    job->step = step;
    job->sim = sim;
    uv_timer_init(loop, &job->timer);
    job->timer.data = job;
    lab_step_set_driver_data(step, job);
    uv_timer_start(&job->timer, s_on_timer, (uint64_t)(ms < 0 ? 0 : ms), 0);
    return 0;
}

static void s_cancel(void *drv, lab_step *step)
{
    (void)drv;
    s_job *job = lab_step_driver_data(step);
    if (!job)
        return;
    lab_step_set_driver_data(step, NULL);
    job->step = NULL;
    uv_timer_stop(&job->timer);
    uv_close((uv_handle_t *)&job->timer, s_job_free);
    lab_step_finish(step, LAB_STEP_CANCELLED, "cancelled");
}

static void s_destroy(void *drv)
{
    s_sim *sim = drv;
    if (!sim)
        return;
    lab_model_destroy(&sim->model);
    free(sim);
}

static const lab_driver_ops s_dispenser_ops = {"sim.dispenser", s_start, s_cancel, s_destroy};
static const lab_driver_ops s_heater_ops = {"sim.heater", s_start, s_cancel, s_destroy};
static const lab_driver_ops s_spectrometer_ops = {"sim.spectrometer", s_start, s_cancel, s_destroy};

int lab_sim_driver_new(const lab_sim_lab *lab, const lab_sim_device *dev,
                       const lab_driver_ops **ops, void **drv, lab_err *err)
{
    if (!strcmp(dev->driver, "null")) {
        *ops = &lab_null_driver_ops;
        *drv = NULL;
        return 0;
    }
    s_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    sim->lab = lab;
    sim->dev = dev;
    sim->rng = lab->seed;
    for (const char *c = dev->name; *c; c++)
        sim->rng = sim->rng * 31 + (unsigned char)*c;
    if (!strcmp(dev->driver, "sim.dispenser")) {
        sim->kind = S_DISPENSER;
        *ops = &s_dispenser_ops;
    } else if (!strcmp(dev->driver, "sim.heater")) {
        sim->kind = S_HEATER;
        *ops = &s_heater_ops;
    } else {
        sim->kind = S_SPECTROMETER;
        *ops = &s_spectrometer_ops;
        sim->model = lab_model_new(lab->model_kind, lab->model_noise, sim->rng, err);
        if (!sim->model) {
            free(sim);
            return err ? err->code : LAB_EINVAL;
        }
    }
    if (mkdir(lab->samples_dir, 0775) != 0 && errno != EEXIST) {
        int rc = lab_err_from_errno(err, errno, lab->samples_dir);
        s_destroy(sim);
        return rc;
    }
    *drv = sim;
    return 0;
}
