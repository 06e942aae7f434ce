/* Loading lab.yaml for the simulated lab (see lab.h). */
#include "sim/lab.h"

#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/keys.h"
#include "common/ytree.h"
#include "protocols/envelope.h"
#include "sim/model.h"
#include "common/banned.h"

static const char *const s_drivers[] = {"sim.dispenser", "sim.heater", "sim.spectrometer", "null", NULL};

/* Sane limits: a simulated step lasts at most a week of lab time; the speed
 * factor is at most a million (a week in under a second) and the noise at
 * most 100 times the model's scale. */
#define S_DURATION_MAX_S (7 * 86400.0)
#define S_SPEED_MAX 1e6
#define S_NOISE_MAX 100.0

static char *s_dup(const char *s) { return s ? strdup(s) : NULL; }

static int s_known(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return 1;
    return 0;
}

static int s_check_keys(lab_ydoc *d, yaml_node_t *map, const char *const *keys, FILE *errs,
                        lab_err *err)
{
    int bad = 0;
    for (size_t i = 0; i < lab_ymap_len(map); i++) {
        yaml_node_t *k, *v;
        lab_ymap_pair(d, map, i, &k, &v);
        const char *name = lab_yscalar(k);
        if (!name || !s_known(keys, name)) {
            lab_yerr(d, k, errs, err, "unknown key '%s'", name ? name : "?");
            bad = 1;
        }
    }
    return bad;
}

static int s_load_device(lab_ydoc *d, yaml_node_t *n, lab_sim_device *dev, FILE *errs, lab_err *err)
{
    static const char *const keys[] = {"name", "driver", "capabilities", "capacity", "duration",
                                       "jitter", "failure_rate", "failure", NULL};
    if (!lab_yis_map(n))
        return lab_yerr(d, n, errs, err, "a device must be a mapping, got %s", lab_ykind(n));
    int bad = s_check_keys(d, n, keys, errs, err);
    yaml_node_t *v;
    dev->capacity = 1;
    dev->jitter = 0.1;
    if (!(v = lab_ymap_get(d, n, "name")) || !lab_yscalar(v) || !*lab_yscalar(v))
        bad |= lab_yerr(d, v ? v : n, errs, err, "device needs a 'name'") != 0;
    else if (strlen(lab_yscalar(v)) > LAB_ID_MAX - 1)   /* its worker's routing id */
        bad |= lab_yerr(d, v, errs, err, "device name is %zu characters long; at most %d", strlen(lab_yscalar(v)),
                        LAB_ID_MAX - 1) != 0;
    else
        dev->name = s_dup(lab_yscalar(v));
    if (!(v = lab_ymap_get(d, n, "driver")) || !lab_yscalar(v))
        bad |= lab_yerr(d, v ? v : n, errs, err, "device needs a 'driver' (sim.dispenser, sim.heater, sim.spectrometer or null)") != 0;
    else if (!s_known(s_drivers, lab_yscalar(v)))
        bad |= lab_yerr(d, v, errs, err, "unknown driver '%s' (known: sim.dispenser, sim.heater, sim.spectrometer, null)", lab_yscalar(v)) != 0;
    else
        dev->driver = s_dup(lab_yscalar(v));
    if ((v = lab_ymap_get(d, n, "capabilities"))) {
        if (!lab_yis_seq(v) || lab_yseq_len(v) == 0) {
            bad |= lab_yerr(d, v, errs, err, "'capabilities' must be a non-empty list") != 0;
        } else {
            dev->n_capabilities = lab_yseq_len(v);
            dev->capabilities = calloc(dev->n_capabilities, sizeof(char *));
            for (size_t i = 0; i < dev->n_capabilities; i++) {
                const char *c = lab_yscalar(lab_yseq_at(d, v, i));
                if (!c)
                    bad |= lab_yerr(d, lab_yseq_at(d, v, i), errs, err, "a capability must be a name") != 0;
                dev->capabilities[i] = s_dup(c ? c : "");
            }
        }
    } else {
        bad |= lab_yerr(d, n, errs, err, "device needs 'capabilities'") != 0;
    }
    long l;
    if ((v = lab_ymap_get(d, n, "capacity"))) {
        if (lab_yto_long(v, &l) || l < 1 || l > 1000)
            bad |= lab_yerr(d, v, errs, err, "'capacity' must be an integer from 1 to 1000") != 0;
        else
            dev->capacity = (int)l;
    }
    if ((v = lab_ymap_get(d, n, "duration"))) {
        const char *s = lab_yscalar(v);
        size_t len = s ? strlen(s) : 0;
        if (s && len > 3 && !strncmp(s, "${", 2) && s[len - 1] == '}')
            dev->duration_param = strndup(s + 2, len - 3);
        else if (!s || lab_duration_parse(s, &dev->duration_s) < 0 || dev->duration_s > S_DURATION_MAX_S)
            bad |= lab_yerr(d, v, errs, err, "'duration' must be a duration like 90s, 5m, 2h (at most 7d) or a step "
                            "parameter like ${time}") != 0;
    }
    double x;
    if ((v = lab_ymap_get(d, n, "jitter"))) {
        if (lab_yto_double(v, &x) || x < 0 || x >= 1)
            bad |= lab_yerr(d, v, errs, err, "'jitter' must be a number from 0 to below 1") != 0;
        else
            dev->jitter = x;
    }
    if ((v = lab_ymap_get(d, n, "failure_rate"))) {
        if (lab_yto_double(v, &x) || x < 0 || x > 1)
            bad |= lab_yerr(d, v, errs, err, "'failure_rate' must be a number from 0 to 1") != 0;
        else
            dev->failure_rate = x;
    }
    if ((v = lab_ymap_get(d, n, "failure")))
        dev->failure_text = s_dup(lab_yscalar(v));
    return bad ? LAB_ECONFIG : 0;
}

long lab_sim_device_returns(const lab_sim_lab *lab, const lab_sim_device *d, const char **names, size_t max)
{
    if (!strcmp(d->driver, "null"))
        return -1;
    if (!strcmp(d->driver, "sim.dispenser")) {
        if (max > 0)
            names[0] = "volume_ul";
        return max > 0 ? 1 : 0;
    }
    if (strcmp(d->driver, "sim.spectrometer") != 0 || !lab->model_kind)
        return 0;
    lab_err err = {0};
    lab_model *m = lab_model_new(lab->model_kind, 0, 0, &err);
    if (!m)
        return 0;
    size_t n = 0;
    for (; n < lab_model_n_outputs(m) && n < max; n++)
        names[n] = lab_model_output_name(m, n); /* static strings of the model library */
    lab_model_destroy(&m);
    return (long)n;
}

lab_sim_lab *lab_sim_lab_load(const char *path, FILE *errs, lab_err *err)
{
    static const char *const top[] = {"lab", "model", "devices", NULL};
    static const char *const labkeys[] = {"name", "endpoint", "speed", "samples", "seed", "keys", NULL};
    static const char *const modelkeys[] = {"kind", "noise", NULL};
    lab_ydoc *d = lab_ydoc_load(path, NULL, NULL, err);
    if (!d) {
        if (errs)
            fprintf(errs, "%s\n", err->msg);
        return NULL;
    }
    lab_sim_lab *lab = calloc(1, sizeof *lab);
    lab->path = strdup(path);
    lab->speed = 1;
    lab->seed = 1;
    int bad = 0;
    yaml_node_t *root = lab_ydoc_root(d), *sec, *v;
    if (!lab_yis_map(root)) {
        bad = lab_yerr(d, root, errs, err, "a lab file must be a mapping with lab, model and devices");
        goto done;
    }
    bad |= s_check_keys(d, root, top, errs, err);
    if ((sec = lab_ymap_get(d, root, "lab")) && lab_yis_map(sec)) {
        bad |= s_check_keys(d, sec, labkeys, errs, err);
        lab->name = s_dup(lab_yscalar(lab_ymap_get(d, sec, "name")));
        lab->endpoint = s_dup(lab_yscalar(lab_ymap_get(d, sec, "endpoint")));
        lab->samples_dir = s_dup(lab_yscalar(lab_ymap_get(d, sec, "samples")));
        lab->keys_dir = s_dup(lab_yscalar(lab_ymap_get(d, sec, "keys")));
        if ((v = lab_ymap_get(d, sec, "speed")) &&
            (lab_yto_double(v, &lab->speed) || lab->speed <= 0 || lab->speed > S_SPEED_MAX))
            bad |= lab_yerr(d, v, errs, err, "'speed' must be a positive number, at most %g", S_SPEED_MAX) != 0;
        long seed;
        if ((v = lab_ymap_get(d, sec, "seed"))) {
            if (lab_yto_long(v, &seed) || seed < 0)
                bad |= lab_yerr(d, v, errs, err, "'seed' must be a non-negative integer") != 0;
            else
                lab->seed = (uint64_t)seed;
        }
    } else {
        bad |= lab_yerr(d, sec ? sec : root, errs, err, "missing 'lab' section (name, endpoint, speed, samples)") != 0;
    }
    if (!lab->name)
        lab->name = strdup("lab");
    if (!lab->endpoint)
        lab->endpoint = strdup("tcp://127.0.0.1:5560");
    if (!lab->keys_dir && !lab_keys_endpoint_is_local(lab->endpoint))
        bad |= lab_yerr(d, sec ? sec : root, errs, err,
                        "endpoint '%s' is reachable from other machines: add 'keys: DIR' (CURVE keys, made there "
                        "when missing) or use a loopback or ipc endpoint", lab->endpoint) != 0;
    if (!lab->samples_dir) {
        char buf[512];
        snprintf(buf, sizeof buf, "/tmp/labloop-sim-%s-samples", lab->name);
        lab->samples_dir = strdup(buf);
    }
    if ((sec = lab_ymap_get(d, root, "model"))) {
        if (!lab_yis_map(sec)) {
            bad |= lab_yerr(d, sec, errs, err, "'model' must be a mapping like {kind: nanocrystal_pl, noise: 0.02}") != 0;
        } else {
            bad |= s_check_keys(d, sec, modelkeys, errs, err);
            v = lab_ymap_get(d, sec, "kind");
            const char *k = lab_yscalar(v);
            if (!k || !s_known(lab_model_kinds(), k))
                bad |= lab_yerr(d, v ? v : sec, errs, err, "unknown model kind '%s' (known: branin, hartmann3, hartmann6, nanocrystal_pl)", k ? k : "") != 0;
            else
                lab->model_kind = strdup(k);
            if ((v = lab_ymap_get(d, sec, "noise")) &&
                (lab_yto_double(v, &lab->model_noise) || lab->model_noise < 0 || lab->model_noise > S_NOISE_MAX))
                bad |= lab_yerr(d, v, errs, err, "'noise' must be a number from 0 to %g", S_NOISE_MAX) != 0;
        }
    }
    sec = lab_ymap_get(d, root, "devices");
    if (!sec || !lab_yis_seq(sec) || lab_yseq_len(sec) == 0) {
        bad |= lab_yerr(d, sec ? sec : root, errs, err, "'devices' must be a non-empty list") != 0;
    } else {
        lab->n_devices = lab_yseq_len(sec);
        lab->devices = calloc(lab->n_devices, sizeof *lab->devices);
        for (size_t i = 0; i < lab->n_devices; i++) {
            yaml_node_t *n = lab_yseq_at(d, sec, i);
            if (s_load_device(d, n, &lab->devices[i], errs, err))
                bad = 1;
            for (size_t j = 0; j < i && lab->devices[i].name; j++)
                if (lab->devices[j].name && !strcmp(lab->devices[j].name, lab->devices[i].name))
                    bad |= lab_yerr(d, n, errs, err, "device '%s' is named twice", lab->devices[i].name) != 0;
            /* only when there is no model section at all: a bad one was reported above */
            if (lab->devices[i].driver && !strcmp(lab->devices[i].driver, "sim.spectrometer") &&
                !lab_ymap_get(d, root, "model"))
                bad |= lab_yerr(d, n, errs, err, "device '%s' measures, so the lab needs a 'model'",
                               lab->devices[i].name ? lab->devices[i].name : "?") != 0;
        }
    }
done:
    lab_ydoc_destroy(&d);
    if (bad) {
        lab_sim_lab_destroy(&lab);
        return NULL;
    }
    return lab;
}

void lab_sim_lab_destroy(lab_sim_lab **lp)
{
    if (!lp || !*lp)
        return;
    lab_sim_lab *lab = *lp;
    for (size_t i = 0; i < lab->n_devices; i++) {
        lab_sim_device *dev = &lab->devices[i];
        free(dev->name);
        free(dev->driver);
        for (size_t j = 0; j < dev->n_capabilities; j++)
            free(dev->capabilities[j]);
        free(dev->capabilities);
        free(dev->duration_param);
        free(dev->failure_text);
    }
    free(lab->devices);
    free(lab->path);
    free(lab->name);
    free(lab->endpoint);
    free(lab->samples_dir);
    free(lab->keys_dir);
    free(lab->model_kind);
    free(lab);
    *lp = NULL;
}

const lab_sim_device *lab_sim_lab_device(const lab_sim_lab *lab, const char *name)
{
    for (size_t i = 0; i < lab->n_devices; i++)
        if (lab->devices[i].name && !strcmp(lab->devices[i].name, name))
            return &lab->devices[i];
    return NULL;
}
