/* Loading lab.yaml for the simulated lab (see lab.h). */
#include "sim/lab.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "common/duration.h"
#include "common/keys.h"
#include "common/schema.h"
#include "common/ytree.h"
#include "protocols/envelope.h"
#include "sim/model.h"
#include "common/banned.h"

/* Sane limits: a simulated step lasts at most a week of lab time; the speed
 * factor is at most a million (a week in under a second) and the noise at
 * most 100 times the model's scale. */
#define S_DURATION_MAX_S (7 * 86400.0)
#define S_SPEED_MAX 1e6
#define S_NOISE_MAX 100.0
#define N NAN

static const lab_schema_key s_top_keys[] = {
    {"lab", LAB_SK_MAP, 1, N, N, NULL, NULL, "name, endpoint, speed, samples, seed, journal, keys"},
    {"model", LAB_SK_MAP, 0, N, N, NULL, "none", "the ground truth the measuring devices observe"},
    {"devices", LAB_SK_LIST, 1, N, N, NULL, NULL, "the simulated devices (at least one)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_lab_keys[] = {
    {"name", LAB_SK_STR, 0, N, N, NULL, "lab", "the lab's name"},
    {"endpoint", LAB_SK_STR, 0, N, N, NULL, "tcp://127.0.0.1:5560", "the orchestrator's device endpoint"},
    {"speed", LAB_SK_NUM, 0, 0, S_SPEED_MAX, NULL, "1", "simulated seconds per real second (above 0)"},
    {"samples", LAB_SK_STR, 0, N, N, NULL, "/tmp/labloop-sim-<name>-samples", "where simulated samples are kept"},
    {"seed", LAB_SK_INT, 0, 0, N, NULL, "1", "seed of the simulation's random generator"},
    {"journal", LAB_SK_STR, 0, N, N, NULL, "none", "file every device notes each step in"},
    {"keys", LAB_SK_STR, 0, N, N, NULL, "none (plain)",
     "directory of CURVE keys (made when missing); required when the endpoint is not loopback or ipc"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_model_keys[] = {
    {"kind", LAB_SK_STR, 1, N, N, NULL, NULL, "branin, hartmann3, hartmann6 or nanocrystal_pl"},
    {"noise", LAB_SK_NUM, 0, 0, S_NOISE_MAX, NULL, "0", "measurement noise, relative to the model's scale"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_device_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "device name, unique, at most 63 characters"},
    {"driver", LAB_SK_ENUM, 1, N, N, "sim.dispenser|sim.heater|sim.spectrometer|null", NULL, "simulated driver"},
    {"capabilities", LAB_SK_STRLIST, 1, N, N, NULL, NULL, "capabilities offered (at least one)"},
    {"capacity", LAB_SK_INT, 0, 1, 1000, NULL, "1", "steps it can run at once"},
    {"duration", LAB_SK_ANY, 0, N, N, NULL, "0",
     "how long a step takes in lab time: a duration (at most 7d) or a step parameter like ${time}"},
    {"jitter", LAB_SK_NUM, 0, 0, 1, NULL, "0.1", "relative spread of the duration, below 1"},
    {"failure_rate", LAB_SK_NUM, 0, 0, 1, NULL, "0", "chance that a step fails for an instrument reason"},
    {"failure", LAB_SK_STR, 0, N, N, NULL, "per driver", "what such a failure says"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

#undef N

#define SLOT(v, K, name) LAB_SCHEMA_SLOT(v, K, name)

static char *s_dup(const char *s) { return s ? strdup(s) : NULL; }

static void s_load_device(lab_schema *sc, yaml_node_t *n, size_t idx, lab_sim_device *dev)
{
    const lab_schema_key *K = s_device_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    char sec[96];
    const char *nm = lab_yscalar(lab_ymap_get(sc->d, n, "name"));
    if (nm)
        snprintf(sec, sizeof sec, "device '%s'", nm);
    else
        snprintf(sec, sizeof sec, "devices[%zu]", idx);
    dev->capacity = 1;
    dev->jitter = 0.1;
    if (!lab_schema_check_map(sc, n, K, sec, v))
        return;
    if ((n = SLOT(v, K, "name"))) {
        if (strlen(lab_yscalar(n)) > LAB_ID_MAX - 1)   /* its worker's routing id */
            lab_schema_err(sc, n, "device name is %zu characters long; at most %d", strlen(lab_yscalar(n)),
                           LAB_ID_MAX - 1);
        else
            dev->name = s_dup(lab_yscalar(n));
    }
    dev->driver = s_dup(lab_yscalar(SLOT(v, K, "driver")));
    yaml_node_t *caps = SLOT(v, K, "capabilities");
    if (caps && lab_yis_seq(caps) && lab_yseq_len(caps) == 0)
        lab_schema_err(sc, caps, "%s: capabilities must be a non-empty list", sec);
    else if (caps) {
        dev->n_capabilities = lab_yscalar(caps) ? 1 : lab_yseq_len(caps);
        dev->capabilities = calloc(dev->n_capabilities, sizeof(char *));
        for (size_t i = 0; dev->capabilities && i < dev->n_capabilities; i++)
            dev->capabilities[i] = s_dup(lab_yscalar(lab_yscalar(caps) ? caps : lab_yseq_at(sc->d, caps, i)));
    }
    dev->capacity = (int)lab_schema_long(SLOT(v, K, "capacity"), 1);
    yaml_node_t *dn = SLOT(v, K, "duration");
    char got[160];
    if (dn) {
        const char *s = lab_yscalar(dn);
        size_t len = s ? strlen(s) : 0;
        if (s && len > 3 && !strncmp(s, "${", 2) && s[len - 1] == '}')
            dev->duration_param = strndup(s + 2, len - 3);
        else if (!s || lab_duration_parse(s, &dev->duration_s) < 0 || dev->duration_s > S_DURATION_MAX_S)
            lab_schema_err(sc, dn, "%s: duration must be a duration like 90s, 5m, 2h (at most 7d) or a step "
                           "parameter like ${time}, got %s", sec, lab_schema_got(got, sizeof got, dn));
    }
    yaml_node_t *jn = SLOT(v, K, "jitter");
    dev->jitter = lab_schema_double(jn, 0.1);
    if (jn && dev->jitter >= 1)
        lab_schema_err(sc, jn, "%s: jitter must be below 1, got %g", sec, dev->jitter);
    dev->failure_rate = lab_schema_double(SLOT(v, K, "failure_rate"), 0);
    dev->failure_text = s_dup(lab_yscalar(SLOT(v, K, "failure")));
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

static void s_load_lab(lab_schema *sc, lab_sim_lab *lab, yaml_node_t *sec)
{
    const lab_schema_key *K = s_lab_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(sc, sec, K, "lab", v))
        return;
    lab->name = s_dup(lab_yscalar(SLOT(v, K, "name")));
    lab->endpoint = s_dup(lab_yscalar(SLOT(v, K, "endpoint")));
    lab->samples_dir = s_dup(lab_yscalar(SLOT(v, K, "samples")));
    lab->journal = s_dup(lab_yscalar(SLOT(v, K, "journal")));
    lab->keys_dir = s_dup(lab_yscalar(SLOT(v, K, "keys")));
    yaml_node_t *sp = SLOT(v, K, "speed");
    lab->speed = lab_schema_double(sp, 1);
    if (sp && lab->speed <= 0)
        lab_schema_err(sc, sp, "lab.speed must be above 0, got %g", lab->speed);
    lab->seed = (uint64_t)lab_schema_long(SLOT(v, K, "seed"), 1);
}

static void s_load_model(lab_schema *sc, lab_sim_lab *lab, yaml_node_t *sec)
{
    const lab_schema_key *K = s_model_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(sc, sec, K, "model", v))
        return;
    yaml_node_t *kn = SLOT(v, K, "kind");
    const char *const *kinds = lab_model_kinds();
    size_t nk = 0;
    while (kinds[nk])
        nk++;
    const char *k = lab_yscalar(kn);
    int known = 0;
    for (size_t i = 0; k && i < nk; i++)
        known |= !strcmp(kinds[i], k);
    if (k && !known) {
        char hint[128];
        lab_schema_err(sc, kn, "unknown model kind '%s' (known: branin, hartmann3, hartmann6, nanocrystal_pl)%s", k,
                       lab_schema_hint(hint, sizeof hint, k, kinds, nk));
        k = NULL;
    }
    lab->model_kind = s_dup(k);
    lab->model_noise = lab_schema_double(SLOT(v, K, "noise"), 0);
}

lab_sim_lab *lab_sim_lab_load(const char *path, FILE *errs, lab_err *err)
{
    lab_ydoc *d = lab_ydoc_load(path, NULL, NULL, err);
    if (!d) {
        if (errs)
            fprintf(errs, "%s\n", err->msg);
        return NULL;
    }
    lab_schema sc;
    lab_schema_init(&sc, d, path);
    lab_sim_lab *lab = calloc(1, sizeof *lab);
    if (!lab) {
        sc.oom = 1;
        goto done;
    }
    lab->path = strdup(path);
    lab->speed = 1;
    lab->seed = 1;
    const lab_schema_key *K = s_top_keys;
    yaml_node_t *root = lab_ydoc_root(d), *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&sc, root, K, "", v))
        goto done;
    yaml_node_t *sec = SLOT(v, K, "lab");
    if (sec)
        s_load_lab(&sc, lab, sec);
    if (!lab->name)
        lab->name = strdup("lab");
    if (!lab->endpoint)
        lab->endpoint = strdup("tcp://127.0.0.1:5560");
    if (!lab->keys_dir && !lab_keys_endpoint_is_local(lab->endpoint))
        lab_schema_err(&sc, sec ? sec : root,
                       "endpoint '%s' is reachable from other machines: add 'keys: DIR' (CURVE keys, made there "
                       "when missing) or use a loopback or ipc endpoint", lab->endpoint);
    if (!lab->samples_dir) {
        char buf[512];
        snprintf(buf, sizeof buf, "/tmp/labloop-sim-%s-samples", lab->name);
        lab->samples_dir = strdup(buf);
    }
    if (SLOT(v, K, "model"))
        s_load_model(&sc, lab, SLOT(v, K, "model"));
    sec = SLOT(v, K, "devices");
    if (sec && lab_yseq_len(sec) == 0) {
        lab_schema_err(&sc, sec, "'devices' must be a non-empty list");
    } else if (sec) {
        lab->n_devices = lab_yseq_len(sec);
        lab->devices = calloc(lab->n_devices, sizeof *lab->devices);
        for (size_t i = 0; lab->devices && i < lab->n_devices; i++) {
            yaml_node_t *n = lab_yseq_at(d, sec, i);
            s_load_device(&sc, n, i, &lab->devices[i]);
            for (size_t j = 0; j < i && lab->devices[i].name; j++)
                if (lab->devices[j].name && !strcmp(lab->devices[j].name, lab->devices[i].name))
                    lab_schema_err(&sc, n, "device '%s' is named twice", lab->devices[i].name);
            /* only when there is no model section at all: a bad one was reported above */
            if (lab->devices[i].driver && !strcmp(lab->devices[i].driver, "sim.spectrometer") &&
                !lab_ymap_get(d, root, "model"))
                lab_schema_err(&sc, n, "device '%s' measures, so the lab needs a 'model'",
                               lab->devices[i].name ? lab->devices[i].name : "?");
        }
    }
done:
    lab_schema_report(&sc, errs, err);
    int bad = lab_schema_n_problems(&sc) > 0;
    lab_schema_release(&sc);
    lab_ydoc_destroy(&d);
    if (bad) {
        lab_sim_lab_destroy(&lab);
        return NULL;
    }
    return lab;
}

void lab_sim_lab_print_keys(FILE *out)
{
    lab_schema_print(out, "sim lab: (top level)", s_top_keys);
    lab_schema_print(out, "sim lab: lab", s_lab_keys);
    lab_schema_print(out, "sim lab: model", s_model_keys);
    lab_schema_print(out, "sim lab: devices[]", s_device_keys);
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
    free(lab->journal);
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
