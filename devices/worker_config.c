/* Loading instrument.yaml for `labloop worker` (see worker_config.h): the
 * key tables below, checked by the config schema engine (common/schema.c),
 * then the values and the cross-field checks. */
#include "devices/worker_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "common/ytree.h"
#include "common/banned.h"

/* ---- the key tables ---- */

#define N NAN
#define LINE_HELP "a line offset like 17 or a line name like \"ESTOP\""
#define CHIP_HELP "a chip name like gpiochip0; default: the gpio section's chip"

static const lab_schema_key s_top_keys[] = {
    {"name", LAB_SK_STR, 1, N, N, NULL, NULL, "the device name, as in the campaign's devices (at most 63 bytes)"},
    {"endpoint", LAB_SK_STR, 1, N, N, NULL, NULL, "the orchestrator's device endpoint, e.g. tcp://10.0.0.5:5560"},
    {"capabilities", LAB_SK_STRLIST, 0, N, N, NULL, "what the driver serves",
     "capabilities offered, each once"},
    {"capacity", LAB_SK_INT, 0, 1, 1000, NULL, "1", "steps it can run at once"},
    {"driver", LAB_SK_ENUM, 1, N, N, "exec|gpio|null", NULL, "how steps are run"},
    {"reconnect", LAB_SK_MAP, 0, N, N, NULL, "{min: 500ms, max: 5s}", "wait before reconnecting, doubling"},
    {"outbox", LAB_SK_STR, 0, N, N, NULL, "none", "a directory for results not yet acknowledged"},
    {"exec", LAB_SK_MAP, 0, N, N, NULL, NULL, "the exec driver's commands (driver exec)"},
    {"gpio", LAB_SK_MAP, 0, N, N, NULL, NULL, "the gpio driver's lines (driver gpio)"},
    {"keys", LAB_SK_MAP, 0, N, N, NULL, "none (plain)",
     "{key: DEVICE.key, orchestrator: LAB.pub}; required when the endpoint is not loopback or ipc"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_reconnect_keys[] = {
    {"min", LAB_SK_DUR, 0, 0, 60, NULL, "500ms", "first wait"},
    {"max", LAB_SK_DUR, 0, 0, 600, NULL, "5s", "longest wait, not below min"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_keys_keys[] = {
    {"key", LAB_SK_STR, 1, N, N, NULL, NULL, "this device's secret key file (labloop keygen NAME)"},
    {"orchestrator", LAB_SK_STR, 1, N, N, NULL, NULL, "the orchestrator's public key file (its .pub)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_exec_keys[] = {
    {"commands", LAB_SK_MAP, 1, N, N, NULL, NULL,
     "each capability's command: an argv list, a shell string or {argv|shell, cwd}"},
    {"artifacts", LAB_SK_STR, 0, N, N, NULL, "none", "a directory for the commands' artifacts"},
    {"kill_grace", LAB_SK_DUR, 0, 0, 600, NULL, "2s", "SIGTERM to SIGKILL on a cancel"},
    {"stdout_max", LAB_SK_INT, 0, 1024, 64L * 1024 * 1024, NULL, "1 MiB", "bytes of a command's output read"},
    {"keep_artifacts", LAB_SK_BOOL, 0, N, N, NULL, "false", "keep artifact files once sent"},
    {"returns", LAB_SK_ANY, 0, N, N, NULL, "not declared", "values returned per capability (for validate)"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_cmd_keys[] = {
    {"argv", LAB_SK_LIST, 0, N, N, NULL, NULL, "the program and its arguments (exactly one of argv, shell)"},
    {"shell", LAB_SK_STR, 0, N, N, NULL, NULL, "a shell command line"},
    {"cwd", LAB_SK_STR, 0, N, N, NULL, "the worker's", "a directory to run it in"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_gpio_keys[] = {
    {"backend", LAB_SK_ENUM, 0, N, N, "libgpiod|sim", "libgpiod", "the GPIO library, or sim to test"},
    {"chip", LAB_SK_STR, 0, N, N, NULL, NULL, "default chip of every line, like gpiochip0"},
    {"sim", LAB_SK_MAP, 0, N, N, NULL, NULL, "{fifo: PATH, log: PATH} for the sim backend"},
    {"inputs", LAB_SK_LIST, 0, N, N, NULL, "none", "e-stop and door inputs"},
    {"outputs", LAB_SK_LIST, 0, N, N, NULL, "none", "outputs serving capabilities"},
    {"status_light", LAB_SK_MAP, 0, N, N, NULL, "none", "a light showing the worker's state"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_sim_keys[] = {
    {"fifo", LAB_SK_STR, 0, N, N, NULL, NULL, "a path levels are injected through"},
    {"log", LAB_SK_STR, 0, N, N, NULL, NULL, "a path output levels are written to"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_in_keys[] = {
    {"name", LAB_SK_STR, 0, N, N, NULL, "the line", "a name for the e-stop reason"},
    {"chip", LAB_SK_STR, 0, N, N, NULL, NULL, CHIP_HELP},
    {"line", LAB_SK_STR, 1, N, N, NULL, NULL, LINE_HELP},
    {"role", LAB_SK_ENUM, 1, N, N, "estop|door", NULL, "what the input means"},
    {"edge", LAB_SK_ENUM, 0, N, N, "rising|falling", "falling", "the edge that trips it"},
    {"debounce", LAB_SK_DUR, 0, 0, 10, NULL, "20ms", "how long a level must hold"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_out_keys[] = {
    {"capability", LAB_SK_STR, 1, N, N, NULL, NULL, "the capability this output serves"},
    {"chip", LAB_SK_STR, 0, N, N, NULL, NULL, CHIP_HELP},
    {"line", LAB_SK_STR, 1, N, N, NULL, NULL, LINE_HELP},
    {"active", LAB_SK_ENUM, 0, N, N, "high|low", "high", "the level that means on"},
    {"action", LAB_SK_ENUM, 0, N, N, "on|off|pulse", "on", "what a step does to it"},
    {"seconds", LAB_SK_ANY, 0, N, N, NULL, NULL,
     "a pulse's length: a number from 0 to 86400 or a step parameter like \"${seconds}\""},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

static const lab_schema_key s_light_keys[] = {
    {"chip", LAB_SK_STR, 0, N, N, NULL, NULL, CHIP_HELP},
    {"line", LAB_SK_STR, 1, N, N, NULL, NULL, LINE_HELP},
    {"active", LAB_SK_ENUM, 0, N, N, "high|low", "high", "the level that means on"},
    {"ready", LAB_SK_ENUM, 0, N, N, "off|on|blink", "on", "the light when ready"},
    {"busy", LAB_SK_ENUM, 0, N, N, "off|on|blink", "blink", "the light when running a step"},
    {"estopped", LAB_SK_ENUM, 0, N, N, "off|on|blink", "off", "the light when e-stopped"},
    {"offline", LAB_SK_ENUM, 0, N, N, "off|on|blink", "off", "the light when not connected"},
    {"blink", LAB_SK_DUR, 0, 0, 60, NULL, "500ms", "blink period"},
    {NULL, 0, 0, N, N, NULL, NULL, NULL},
};

#undef N

static const struct {
    const char *section;
    const lab_schema_key *keys;
} s_sections[] = {
    {"worker: (top level)", s_top_keys},  {"worker: reconnect", s_reconnect_keys},
    {"worker: keys", s_keys_keys},        {"worker: exec", s_exec_keys},
    {"worker: exec.commands.*", s_cmd_keys}, {"worker: gpio", s_gpio_keys},
    {"worker: gpio.sim", s_sim_keys},     {"worker: gpio.inputs[]", s_in_keys},
    {"worker: gpio.outputs[]", s_out_keys}, {"worker: gpio.status_light", s_light_keys},
};

#define SLOT(v, K, name) LAB_SCHEMA_SLOT(v, K, name)

typedef struct s_ctx {
    lab_schema sc;
    lab_ydoc *d;
    lab_worker_config *c;
} s_ctx;

#define S_ERR(x, node, ...) lab_schema_err(&(x)->sc, (node), __VA_ARGS__)

/* ---- ownership: everything the opts point into is kept here ---- */

static char *s_str(lab_worker_config *c, const char *s)
{
    if (!s)
        return NULL;
    char **v = realloc(c->strings, (c->n_strings + 1) * sizeof *v);
    if (!v)
        return NULL;
    c->strings = v;
    return c->strings[c->n_strings++] = strdup(s);
}

static void *s_block(lab_worker_config *c, size_t n, size_t size)
{
    void **v = realloc(c->blocks, (c->n_blocks + 1) * sizeof *v);
    if (!v)
        return NULL;
    c->blocks = v;
    return c->blocks[c->n_blocks++] = calloc(n ? n : 1, size);
}

/* ---- values of checked slots ---- */

static const char *s_text(s_ctx *x, yaml_node_t *v)
{
    return v ? s_str(x->c, lab_yscalar(v)) : NULL;
}

static int s_ms(yaml_node_t *v, int dflt)
{
    return v ? (int)llround(lab_schema_seconds(v, 0) * 1000.0) : dflt;
}

static const char *s_chip(s_ctx *x, yaml_node_t *map, yaml_node_t *v, const char *dflt)
{
    if (v)
        return s_text(x, v);
    if (!dflt) {
        S_ERR(x, map, "no 'chip' here and no default 'chip' in the gpio section");
        return "";
    }
    return dflt;
}

/* "gpio.outputs[2]" into buf */
static const char *s_item(char *buf, size_t n, const char *list, size_t i)
{
    snprintf(buf, n, "%s[%zu]", list, i);
    return buf;
}

/* ---- sections ---- */

static void s_load_command(s_ctx *x, lab_exec_command *cmd, yaml_node_t *cv)
{
    lab_worker_config *c = x->c;
    yaml_node_t *av = NULL;
    char sec[160];
    snprintf(sec, sizeof sec, "command '%s'", cmd->capability);
    if (lab_yis_map(cv)) {
        yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
        const lab_schema_key *K = s_cmd_keys;
        lab_schema_check_map(&x->sc, cv, K, sec, v);
        cmd->cwd = s_text(x, SLOT(v, K, "cwd"));
        cmd->shell = s_text(x, SLOT(v, K, "shell"));
        av = SLOT(v, K, "argv");
        if (!lab_ymap_get(x->d, cv, "argv") == !lab_ymap_get(x->d, cv, "shell"))
            S_ERR(x, cv, "command for '%s' needs exactly one of 'argv' (a list) or 'shell' (a string)",
                  cmd->capability);
    } else if (lab_yis_seq(cv)) {
        av = cv;
    } else if (lab_yscalar(cv) && *lab_yscalar(cv)) {
        cmd->shell = s_str(c, lab_yscalar(cv));
    } else {
        S_ERR(x, cv, "command for '%s' must be an argv list, a shell string or a mapping", cmd->capability);
    }
    if (!av)
        return;
    size_t na = lab_yseq_len(av);
    if (na == 0) {
        S_ERR(x, av, "'argv' of '%s' must be a non-empty list", cmd->capability);
        return;
    }
    const char **argv = s_block(c, na + 1, sizeof *argv);
    if (!argv)
        return;
    for (size_t a = 0; a < na; a++) {
        const char *s = lab_yscalar(lab_yseq_at(x->d, av, a));
        if (!s)
            S_ERR(x, lab_yseq_at(x->d, av, a), "argv items must be strings");
        argv[a] = s_str(c, s ? s : "");
    }
    cmd->argv = argv;
}

static void s_load_exec(s_ctx *x, yaml_node_t *sec)
{
    lab_worker_config *c = x->c;
    const lab_schema_key *K = s_exec_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&x->sc, sec, K, "exec", v))
        return;
    c->exec.artifacts_dir = s_text(x, SLOT(v, K, "artifacts"));
    c->exec.kill_grace_ms = s_ms(SLOT(v, K, "kill_grace"), LAB_EXEC_KILL_GRACE_MS);
    if (SLOT(v, K, "stdout_max"))
        c->exec.stdout_max = (size_t)lab_schema_long(SLOT(v, K, "stdout_max"), 0);
    c->exec.keep_artifacts = lab_schema_bool(SLOT(v, K, "keep_artifacts"), c->exec.keep_artifacts);
    yaml_node_t *cmds = SLOT(v, K, "commands");
    if (!cmds || lab_ymap_len(cmds) == 0) {
        if (lab_ymap_get(x->d, sec, "commands") && !cmds)
            return;   /* not a mapping: reported */
        S_ERR(x, cmds ? cmds : sec, "'commands' must map each capability to a command, e.g. "
              "commands: {uvvis: [python3, /opt/uvvis/measure.py]}");
        return;
    }
    size_t n = lab_ymap_len(cmds);
    lab_exec_command *list = s_block(c, n, sizeof *list);
    if (!list)
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *cv;
        lab_ymap_pair(x->d, cmds, i, &k, &cv);
        lab_exec_command *cmd = &list[c->exec.n_commands++];
        cmd->capability = s_str(c, lab_yscalar(k) ? lab_yscalar(k) : "");
        s_load_command(x, cmd, cv);
    }
    c->exec.commands = list;
}

static void s_load_input(s_ctx *x, yaml_node_t *m, size_t i, const char *chip, lab_gpio_input *in)
{
    const lab_schema_key *K = s_in_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    char sec[64];
    if (!lab_schema_check_map(&x->sc, m, K, s_item(sec, sizeof sec, "gpio.inputs", i), v))
        return;
    in->chip = s_chip(x, m, SLOT(v, K, "chip"), chip);
    in->line = s_text(x, SLOT(v, K, "line"));
    in->name = s_text(x, SLOT(v, K, "name"));
    in->role = (lab_gpio_role)lab_schema_choice(SLOT(v, K, "role"), "estop|door", 0);
    in->active_low = lab_schema_choice(SLOT(v, K, "edge"), "rising|falling", 1);   /* default: falling */
    in->debounce_ms = s_ms(SLOT(v, K, "debounce"), 20);
}

static void s_load_output(s_ctx *x, yaml_node_t *m, size_t i, const char *chip, lab_gpio_output *o)
{
    const lab_schema_key *K = s_out_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    char sec[64];
    if (!lab_schema_check_map(&x->sc, m, K, s_item(sec, sizeof sec, "gpio.outputs", i), v))
        return;
    o->capability = s_text(x, SLOT(v, K, "capability"));
    o->chip = s_chip(x, m, SLOT(v, K, "chip"), chip);
    o->line = s_text(x, SLOT(v, K, "line"));
    o->active_low = lab_schema_choice(SLOT(v, K, "active"), "high|low", 0);
    o->action = (lab_gpio_action)lab_schema_choice(SLOT(v, K, "action"), "on|off|pulse", 0);
    yaml_node_t *sv = SLOT(v, K, "seconds");
    const char *s = sv ? lab_yscalar(sv) : NULL;
    size_t len = s ? strlen(s) : 0;
    if (o->action != LAB_GPIO_PULSE) {
        if (sv)
            S_ERR(x, sv, "%s: seconds only applies to action: pulse", sec);
    } else if (!sv) {
        S_ERR(x, m, "%s: a pulse needs 'seconds': a number or a step parameter like \"${seconds}\"", sec);
    } else if (s && len > 3 && !strncmp(s, "${", 2) && s[len - 1] == '}') {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len - 3), s + 2);
        o->seconds_param = s_str(x->c, name);
    } else if (lab_yto_double(sv, &o->seconds) || o->seconds < 0 || o->seconds > 86400) {
        S_ERR(x, sv, "%s: seconds must be a number from 0 to 86400 or a step parameter like \"${seconds}\"", sec);
    }
}

static void s_load_light(s_ctx *x, yaml_node_t *m, const char *chip)
{
    const lab_schema_key *K = s_light_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&x->sc, m, K, "gpio.status_light", v))
        return;
    lab_gpio_status_light *l = &x->c->light;
    const char *lights = "off|on|blink";
    l->chip = s_chip(x, m, SLOT(v, K, "chip"), chip);
    l->line = s_text(x, SLOT(v, K, "line"));
    l->active_low = lab_schema_choice(SLOT(v, K, "active"), "high|low", 0);
    l->ready = (lab_gpio_light)lab_schema_choice(SLOT(v, K, "ready"), lights, LAB_GPIO_LIGHT_ON);
    l->busy = (lab_gpio_light)lab_schema_choice(SLOT(v, K, "busy"), lights, LAB_GPIO_LIGHT_BLINK);
    l->estopped = (lab_gpio_light)lab_schema_choice(SLOT(v, K, "estopped"), lights, LAB_GPIO_LIGHT_OFF);
    l->offline = (lab_gpio_light)lab_schema_choice(SLOT(v, K, "offline"), lights, LAB_GPIO_LIGHT_OFF);
    l->blink_ms = s_ms(SLOT(v, K, "blink"), LAB_GPIO_BLINK_MS);
    x->c->gpio.light = l;
}

static void s_load_gpio(s_ctx *x, yaml_node_t *sec)
{
    lab_worker_config *c = x->c;
    const lab_schema_key *K = s_gpio_keys;
    yaml_node_t *v[LAB_SCHEMA_MAXKEYS], *sv[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&x->sc, sec, K, "gpio", v))
        return;
    c->gpio.backend = lab_schema_choice(SLOT(v, K, "backend"), "libgpiod|sim", 0) ? "sim" : "libgpiod";
    const char *chip = s_text(x, SLOT(v, K, "chip"));
    yaml_node_t *sim = SLOT(v, K, "sim");
    if (sim && lab_schema_check_map(&x->sc, sim, s_sim_keys, "gpio.sim", sv)) {
        c->gpio.sim_fifo = s_text(x, SLOT(sv, s_sim_keys, "fifo"));
        c->gpio.sim_log = s_text(x, SLOT(sv, s_sim_keys, "log"));
    }
    if (!strcmp(c->gpio.backend, "sim") && !c->gpio.sim_fifo)
        S_ERR(x, sec, "the sim backend needs 'sim: {fifo: PATH}' to inject levels through");
    yaml_node_t *list = SLOT(v, K, "inputs");
    if (list) {
        size_t n = lab_yseq_len(list);
        lab_gpio_input *ins = s_block(c, n, sizeof *ins);
        for (size_t i = 0; ins && i < n; i++)
            s_load_input(x, lab_yseq_at(x->d, list, i), i, chip, &ins[c->gpio.n_inputs++]);
        c->gpio.inputs = ins;
    }
    if ((list = SLOT(v, K, "outputs"))) {
        size_t n = lab_yseq_len(list);
        lab_gpio_output *outs = s_block(c, n, sizeof *outs);
        for (size_t i = 0; outs && i < n; i++)
            s_load_output(x, lab_yseq_at(x->d, list, i), i, chip, &outs[c->gpio.n_outputs++]);
        c->gpio.outputs = outs;
    }
    if (SLOT(v, K, "status_light"))
        s_load_light(x, SLOT(v, K, "status_light"), chip);
    if (!c->gpio.n_inputs && !c->gpio.n_outputs && !c->gpio.light && !SLOT(v, K, "status_light"))
        S_ERR(x, sec, "the gpio section has no inputs, outputs or status_light: nothing to do");
}

static int s_has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (s && !strcmp(list[i], s))
            return 1;
    return 0;
}

/* Cross-field checks, after the whole file: capabilities against the
 * driver's commands or outputs. */
static void s_check_capabilities(s_ctx *x, yaml_node_t *root)
{
    lab_worker_config *c = x->c;
    yaml_node_t *capn = lab_ymap_get(x->d, root, "capabilities");
    const char *served[256];
    size_t n_served = 0;
    if (!strcmp(c->driver, "exec"))
        for (size_t i = 0; i < c->exec.n_commands && n_served < 256; i++)
            served[n_served++] = c->exec.commands[i].capability;
    else if (!strcmp(c->driver, "gpio"))
        for (size_t i = 0; i < c->gpio.n_outputs && n_served < 256; i++)
            served[n_served++] = c->gpio.outputs[i].capability;
    if (!c->n_capabilities && strcmp(c->driver, "null")) {
        /* default: what the driver serves */
        c->capabilities = s_block(c, n_served, sizeof(char *));
        for (size_t i = 0; c->capabilities && i < n_served; i++)
            if (served[i])
                c->capabilities[c->n_capabilities++] = (char *)served[i];
    }
    if (!c->n_capabilities && strcmp(c->driver, "gpio")) {
        S_ERR(x, capn ? capn : root, "the worker needs 'capabilities' (a list of names)");
        return;
    }
    if (!strcmp(c->driver, "null"))
        return;
    for (size_t i = 0; i < c->n_capabilities; i++) {
        int ok = 0;
        for (size_t j = 0; j < n_served; j++)
            ok |= served[j] && !strcmp(served[j], c->capabilities[i]);
        if (!ok)
            S_ERR(x, capn ? capn : root, "capability '%s' has no %s", c->capabilities[i],
                  !strcmp(c->driver, "exec") ? "command in exec.commands" : "output in gpio.outputs");
    }
    for (size_t j = 0; j < n_served; j++)
        if (served[j] && !s_has(c->capabilities, c->n_capabilities, served[j]))
            S_ERR(x, capn ? capn : root, "%s '%s' is not in 'capabilities'",
                  !strcmp(c->driver, "exec") ? "command" : "output", served[j]);
}

/* keys: {key: DEVICE.key, orchestrator: LAB.pub}. Without them the
 * endpoint must stay on this machine (plain mode). */
static void s_load_keys(s_ctx *x, yaml_node_t *root, yaml_node_t *v)
{
    lab_worker_config *c = x->c;
    if (!v) {
        if (c->endpoint && !lab_keys_endpoint_is_local(c->endpoint) && !lab_ymap_get(x->d, root, "keys"))
            S_ERR(x, lab_ymap_get(x->d, root, "endpoint"),
                  "endpoint '%s' is reachable from other machines: add 'keys: {key: DEVICE.key, orchestrator: "
                  "LAB.pub}' (labloop keygen) or use a loopback or ipc endpoint", c->endpoint);
        return;
    }
    const lab_schema_key *K = s_keys_keys;
    yaml_node_t *kv[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&x->sc, v, K, "keys", kv))
        return;
    const char *sec = lab_yscalar(SLOT(kv, K, "key")), *srv = lab_yscalar(SLOT(kv, K, "orchestrator"));
    lab_err e = {0};
    if (sec && lab_keys_read_secret(sec, c->secret_key, c->public_key, &e) < 0)
        S_ERR(x, SLOT(kv, K, "key"), "keys.key: %s", e.msg);
    else if (srv && lab_keys_read_public(srv, c->server_key, &e) < 0)
        S_ERR(x, SLOT(kv, K, "orchestrator"), "keys.orchestrator: %s", e.msg);
    else if (sec && srv)
        c->has_keys = 1;
}

lab_worker_config *lab_worker_config_load(const char *path, FILE *errs, lab_err *err)
{
    lab_ydoc *d = lab_ydoc_load(path, NULL, NULL, err);
    if (!d) {
        if (errs)
            fprintf(errs, "%s\n", err->msg);
        return NULL;
    }
    lab_worker_config *c = calloc(1, sizeof *c);
    if (!c) {
        lab_ydoc_destroy(&d);
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    s_ctx x = {.d = d, .c = c};
    lab_schema_init(&x.sc, d, path);
    c->path = s_str(c, path);
    c->capacity = 1;
    c->driver = s_str(c, "null");
    const lab_schema_key *K = s_top_keys;
    yaml_node_t *root = lab_ydoc_root(d), *v[LAB_SCHEMA_MAXKEYS];
    if (!lab_schema_check_map(&x.sc, root, K, "", v))
        goto done;
    c->name = (char *)s_text(&x, SLOT(v, K, "name"));
    if (c->name && strlen(c->name) > 63)
        S_ERR(&x, SLOT(v, K, "name"), "'name' is longer than 63 bytes");
    c->endpoint = (char *)s_text(&x, SLOT(v, K, "endpoint"));
    if (SLOT(v, K, "driver"))
        c->driver = s_str(c, lab_yscalar(SLOT(v, K, "driver")));
    yaml_node_t *caps = SLOT(v, K, "capabilities");
    if (caps && lab_yis_seq(caps) && lab_yseq_len(caps) == 0) {
        S_ERR(&x, caps, "'capabilities' must be a non-empty list");
    } else if (caps) {
        size_t n = lab_yscalar(caps) ? 1 : lab_yseq_len(caps);
        c->capabilities = s_block(c, n, sizeof(char *));
        for (size_t i = 0; c->capabilities && i < n; i++) {
            yaml_node_t *it = lab_yscalar(caps) ? caps : lab_yseq_at(d, caps, i);
            const char *s = lab_yscalar(it);
            if (s_has(c->capabilities, c->n_capabilities, s))
                S_ERR(&x, it, "capability '%s' is listed twice", s);
            else
                c->capabilities[c->n_capabilities++] = s_str(c, s);
        }
    }
    c->capacity = (int)lab_schema_long(SLOT(v, K, "capacity"), 1);
    yaml_node_t *rc = SLOT(v, K, "reconnect"), *rv[LAB_SCHEMA_MAXKEYS];
    c->reconnect_min_ms = 500;
    c->reconnect_max_ms = 5000;
    if (rc && lab_schema_check_map(&x.sc, rc, s_reconnect_keys, "reconnect", rv)) {
        c->reconnect_min_ms = s_ms(SLOT(rv, s_reconnect_keys, "min"), 500);
        c->reconnect_max_ms = s_ms(SLOT(rv, s_reconnect_keys, "max"), 5000);
        if (c->reconnect_max_ms < c->reconnect_min_ms)
            S_ERR(&x, rc, "reconnect 'max' (%d ms) must not be below 'min' (%d ms)", c->reconnect_max_ms,
                  c->reconnect_min_ms);
    }
    c->outbox = (char *)s_text(&x, SLOT(v, K, "outbox"));
    s_load_keys(&x, root, SLOT(v, K, "keys"));
    yaml_node_t *ex = SLOT(v, K, "exec"), *gp = SLOT(v, K, "gpio");
    int driver_ok = SLOT(v, K, "driver") != NULL;
    if (!strcmp(c->driver, "exec")) {
        if (!lab_ymap_get(d, root, "exec"))
            S_ERR(&x, root, "driver exec needs an 'exec' section with 'commands'");
        else if (ex)
            s_load_exec(&x, ex);
    } else if (ex && driver_ok) {
        S_ERR(&x, ex, "an 'exec' section, but the driver is %s", c->driver);
    }
    if (!strcmp(c->driver, "gpio")) {
        if (!lab_ymap_get(d, root, "gpio"))
            S_ERR(&x, root, "driver gpio needs a 'gpio' section");
        else if (gp)
            s_load_gpio(&x, gp);
    } else if (gp && driver_ok) {
        S_ERR(&x, gp, "a 'gpio' section, but the driver is %s", c->driver);
    }
    if (driver_ok && lab_schema_n_problems(&x.sc) == 0)
        s_check_capabilities(&x, root);
    c->exec.device = c->gpio.device = c->name;
done:
    lab_schema_report(&x.sc, errs, err);
    int bad = lab_schema_n_problems(&x.sc) > 0;
    lab_schema_release(&x.sc);
    lab_ydoc_destroy(&d);
    if (bad) {
        lab_worker_config_destroy(&c);
        return NULL;
    }
    return c;
}

void lab_worker_config_print_keys(FILE *out)
{
    for (size_t s = 0; s < sizeof s_sections / sizeof s_sections[0]; s++)
        lab_schema_print(out, s_sections[s].section, s_sections[s].keys);
}

void lab_worker_config_destroy(lab_worker_config **cp)
{
    if (!cp || !*cp)
        return;
    lab_worker_config *c = *cp;
    for (size_t i = 0; i < c->n_strings; i++)
        free(c->strings[i]);
    free(c->strings);
    for (size_t i = 0; i < c->n_blocks; i++)
        free(c->blocks[i]);
    free(c->blocks);
    free(c);
    *cp = NULL;
}
