/* Loading instrument.yaml for `labloop worker` (see worker_config.h). */
#include "devices/worker_config.h"

#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/ytree.h"
#include "common/banned.h"

typedef struct s_ctx {
    lab_ydoc *d;
    FILE *errs;
    lab_err *err;
    lab_worker_config *c;
    int bad;
} s_ctx;

#define S_ERR(x, node, ...) ((x)->bad = 1, lab_yerr((x)->d, (node), (x)->errs, (x)->err, __VA_ARGS__))

static const char *const s_top_keys[] = {"name", "endpoint", "capabilities", "capacity", "driver",
                                         "reconnect", "outbox", "exec", "gpio", "keys", NULL};
static const char *const s_exec_keys[] = {"commands", "artifacts", "kill_grace", "stdout_max",
                                          "keep_artifacts", "returns", NULL};
static const char *const s_cmd_keys[] = {"argv", "shell", "cwd", NULL};
static const char *const s_gpio_keys[] = {"backend", "chip", "sim", "inputs", "outputs",
                                          "status_light", NULL};
static const char *const s_sim_keys[] = {"fifo", "log", NULL};
static const char *const s_in_keys[] = {"name", "chip", "line", "role", "edge", "debounce", NULL};
static const char *const s_out_keys[] = {"capability", "chip", "line", "active", "action",
                                         "seconds", NULL};
static const char *const s_light_keys[] = {"chip", "line", "active", "ready", "busy", "estopped",
                                           "offline", "blink", NULL};
static const char *const s_reconnect_keys[] = {"min", "max", NULL};
static const char *const s_keys_keys[] = {"key", "orchestrator", NULL};

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

/* ---- keys ---- */

static size_t s_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    size_t row[32];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

static void s_check_keys(s_ctx *x, yaml_node_t *map, const char *const *keys, const char *where)
{
    for (size_t i = 0; i < lab_ymap_len(map); i++) {
        yaml_node_t *k, *v;
        lab_ymap_pair(x->d, map, i, &k, &v);
        const char *name = lab_yscalar(k);
        int known = 0;
        const char *best = NULL;
        size_t best_d = 3;
        for (const char *const *p = keys; *p; p++) {
            if (name && !strcmp(*p, name))
                known = 1;
            size_t dist = name ? s_distance(name, *p) : 99;
            if (dist < best_d) {
                best_d = dist;
                best = *p;
            }
        }
        if (known)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *p = keys; *p && used + 1 < sizeof list; p++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *p);
            used += n > 0 ? (size_t)n : 0;
        }
        if (best)
            S_ERR(x, k, "unknown key '%s' in %s; did you mean '%s'? (known: %s)", name ? name : "?",
                  where, best, list);
        else
            S_ERR(x, k, "unknown key '%s' in %s (known: %s)", name ? name : "?", where, list);
    }
}

/* ---- scalars ---- */

static const char *s_text(s_ctx *x, yaml_node_t *map, const char *key, int required,
                          const char *what)
{
    yaml_node_t *v = lab_ymap_get(x->d, map, key);
    if (!v) {
        if (required)
            S_ERR(x, map, "missing '%s' (%s)", key, what);
        return NULL;
    }
    const char *s = lab_yscalar(v);
    if (!s || !*s) {
        S_ERR(x, v, "'%s' must be %s, got %s", key, what, s ? "an empty string" : lab_ykind(v));
        return NULL;
    }
    return s_str(x->c, s);
}

static int s_duration(s_ctx *x, yaml_node_t *map, const char *key, long dflt, long max_ms)
{
    yaml_node_t *v = lab_ymap_get(x->d, map, key);
    if (!v)
        return (int)dflt;
    long ms;
    if (!lab_yscalar(v) || lab_duration_parse_ms(lab_yscalar(v), max_ms, &ms) < 0) {
        S_ERR(x, v, "'%s' must be a duration like 250ms, 2s or 1m (at most %ld s)", key,
              max_ms / 1000);
        return (int)dflt;
    }
    return (int)ms;
}

static int s_choice(s_ctx *x, yaml_node_t *map, const char *key, const char *const *names,
                    int dflt)
{
    yaml_node_t *v = lab_ymap_get(x->d, map, key);
    if (!v)
        return dflt;
    const char *s = lab_yscalar(v);
    for (int i = 0; s && names[i]; i++)
        if (!strcmp(names[i], s))
            return i;
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; names[i]; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    S_ERR(x, v, "'%s' must be one of %s, got '%s'", key, list, s ? s : lab_ykind(v));
    return dflt;
}

/* A line: an offset or a name, written as a scalar. */
static const char *s_line(s_ctx *x, yaml_node_t *map)
{
    return s_text(x, map, "line", 1, "a line offset like 17 or a line name like \"ESTOP\"");
}

static const char *s_chip(s_ctx *x, yaml_node_t *map, const char *dflt)
{
    const char *c = s_text(x, map, "chip", 0, "a chip name like gpiochip0");
    if (!c && !dflt) {
        S_ERR(x, map, "no 'chip' here and no default 'chip' in the gpio section");
        return "";
    }
    return c ? c : dflt;
}

/* ---- sections ---- */

static void s_load_exec(s_ctx *x, yaml_node_t *sec)
{
    lab_worker_config *c = x->c;
    if (!lab_yis_map(sec)) {
        S_ERR(x, sec, "'exec' must be a mapping with 'commands'");
        return;
    }
    s_check_keys(x, sec, s_exec_keys, "the exec section");
    c->exec.artifacts_dir = s_text(x, sec, "artifacts", 0, "a directory");
    c->exec.kill_grace_ms = s_duration(x, sec, "kill_grace", LAB_EXEC_KILL_GRACE_MS, 600000);
    yaml_node_t *v;
    long l;
    if ((v = lab_ymap_get(x->d, sec, "stdout_max"))) {
        if (lab_yto_long(v, &l) || l < 1024 || l > 64L * 1024 * 1024)
            S_ERR(x, v, "'stdout_max' must be a number of bytes from 1024 to 67108864");
        else
            c->exec.stdout_max = (size_t)l;
    }
    int b;
    if ((v = lab_ymap_get(x->d, sec, "keep_artifacts"))) {
        if (lab_yto_bool(v, &b))
            S_ERR(x, v, "'keep_artifacts' must be true or false");
        else
            c->exec.keep_artifacts = b;
    }
    yaml_node_t *cmds = lab_ymap_get(x->d, sec, "commands");
    if (!cmds || !lab_yis_map(cmds) || lab_ymap_len(cmds) == 0) {
        S_ERR(x, cmds ? cmds : sec, "'commands' must map each capability to a command, e.g. "
              "commands: {uvvis: [python3, /opt/uvvis/measure.py]}");
        return;
    }
    size_t n = lab_ymap_len(cmds);
    lab_exec_command *list = s_block(c, n, sizeof *list);
    if (!list)
        return;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *cv, *av = NULL;
        lab_ymap_pair(x->d, cmds, i, &k, &cv);
        lab_exec_command *cmd = &list[c->exec.n_commands++];
        cmd->capability = s_str(c, lab_yscalar(k) ? lab_yscalar(k) : "");
        if (lab_yis_map(cv)) {
            s_check_keys(x, cv, s_cmd_keys, "a command");
            cmd->cwd = s_text(x, cv, "cwd", 0, "a directory");
            cmd->shell = s_text(x, cv, "shell", 0, "a shell command line");
            av = lab_ymap_get(x->d, cv, "argv");
            if (!!av == !!cmd->shell)
                S_ERR(x, cv, "command for '%s' needs exactly one of 'argv' (a list) or 'shell' (a "
                      "string)", cmd->capability);
        } else if (lab_yis_seq(cv)) {
            av = cv;
        } else if (lab_yscalar(cv) && *lab_yscalar(cv)) {
            cmd->shell = s_str(c, lab_yscalar(cv));
        } else {
            S_ERR(x, cv, "command for '%s' must be an argv list, a shell string or a mapping",
                  cmd->capability);
        }
        if (av) {
            if (!lab_yis_seq(av) || lab_yseq_len(av) == 0) {
                S_ERR(x, av, "'argv' of '%s' must be a non-empty list", cmd->capability);
                continue;
            }
            size_t na = lab_yseq_len(av);
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
    }
    c->exec.commands = list;
}

static const char *const s_roles[] = {"estop", "door", NULL};
static const char *const s_edges[] = {"rising", "falling", NULL};
static const char *const s_actives[] = {"high", "low", NULL};
static const char *const s_actions[] = {"on", "off", "pulse", NULL};
static const char *const s_lights[] = {"off", "on", "blink", NULL};

static void s_load_gpio(s_ctx *x, yaml_node_t *sec)
{
    lab_worker_config *c = x->c;
    if (!lab_yis_map(sec)) {
        S_ERR(x, sec, "'gpio' must be a mapping with inputs, outputs and status_light");
        return;
    }
    s_check_keys(x, sec, s_gpio_keys, "the gpio section");
    static const char *const backends[] = {"libgpiod", "sim", NULL};
    c->gpio.backend = backends[s_choice(x, sec, "backend", backends, 0)];
    const char *chip = s_text(x, sec, "chip", 0, "a chip name like gpiochip0");
    yaml_node_t *v = lab_ymap_get(x->d, sec, "sim");
    if (v) {
        if (!lab_yis_map(v)) {
            S_ERR(x, v, "'sim' must be a mapping {fifo: PATH, log: PATH}");
        } else {
            s_check_keys(x, v, s_sim_keys, "gpio.sim");
            c->gpio.sim_fifo = s_text(x, v, "fifo", 0, "a path");
            c->gpio.sim_log = s_text(x, v, "log", 0, "a path");
        }
    }
    if (!strcmp(c->gpio.backend, "sim") && !c->gpio.sim_fifo)
        S_ERR(x, sec, "the sim backend needs 'sim: {fifo: PATH}' to inject levels through");
    if ((v = lab_ymap_get(x->d, sec, "inputs"))) {
        if (!lab_yis_seq(v)) {
            S_ERR(x, v, "'inputs' must be a list");
        } else {
            size_t n = lab_yseq_len(v);
            lab_gpio_input *ins = s_block(c, n, sizeof *ins);
            for (size_t i = 0; ins && i < n; i++) {
                yaml_node_t *m = lab_yseq_at(x->d, v, i);
                if (!lab_yis_map(m)) {
                    S_ERR(x, m, "an input must be a mapping {line: 17, role: estop, edge: falling, "
                          "debounce: 20ms}");
                    continue;
                }
                s_check_keys(x, m, s_in_keys, "a gpio input");
                lab_gpio_input *in = &ins[c->gpio.n_inputs++];
                in->chip = s_chip(x, m, chip);
                in->line = s_line(x, m);
                in->name = s_text(x, m, "name", 0, "a name");
                in->role = (lab_gpio_role)s_choice(x, m, "role", s_roles, 0);
                in->active_low = s_choice(x, m, "edge", s_edges, 1);   /* default: falling */
                in->debounce_ms = s_duration(x, m, "debounce", 20, 10000);
                if (!lab_ymap_get(x->d, m, "role"))
                    S_ERR(x, m, "an input needs a 'role': estop or door");
            }
            c->gpio.inputs = ins;
        }
    }
    if ((v = lab_ymap_get(x->d, sec, "outputs"))) {
        if (!lab_yis_seq(v)) {
            S_ERR(x, v, "'outputs' must be a list");
        } else {
            size_t n = lab_yseq_len(v);
            lab_gpio_output *outs = s_block(c, n, sizeof *outs);
            for (size_t i = 0; outs && i < n; i++) {
                yaml_node_t *m = lab_yseq_at(x->d, v, i);
                if (!lab_yis_map(m)) {
                    S_ERR(x, m, "an output must be a mapping {capability: open_valve, line: 22, "
                          "action: pulse, seconds: 5}");
                    continue;
                }
                s_check_keys(x, m, s_out_keys, "a gpio output");
                lab_gpio_output *o = &outs[c->gpio.n_outputs++];
                o->capability = s_text(x, m, "capability", 1, "the capability this output serves");
                o->chip = s_chip(x, m, chip);
                o->line = s_line(x, m);
                o->active_low = s_choice(x, m, "active", s_actives, 0);
                o->action = (lab_gpio_action)s_choice(x, m, "action", s_actions, 0);
                yaml_node_t *sv = lab_ymap_get(x->d, m, "seconds");
                const char *s = sv ? lab_yscalar(sv) : NULL;
                size_t len = s ? strlen(s) : 0;
                if (o->action != LAB_GPIO_PULSE) {
                    if (sv)
                        S_ERR(x, sv, "'seconds' only applies to action: pulse");
                } else if (!sv) {
                    S_ERR(x, m, "a pulse needs 'seconds': a number or a step parameter like "
                          "\"${seconds}\"");
                } else if (s && len > 3 && !strncmp(s, "${", 2) && s[len - 1] == '}') {
                    char name[128];
                    snprintf(name, sizeof name, "%.*s", (int)(len - 3), s + 2);
                    o->seconds_param = s_str(c, name);
                } else if (lab_yto_double(sv, &o->seconds) || o->seconds < 0 ||
                           o->seconds > 86400) {
                    S_ERR(x, sv, "'seconds' must be a number from 0 to 86400 or a step parameter "
                          "like \"${seconds}\"");
                }
            }
            c->gpio.outputs = outs;
        }
    }
    if ((v = lab_ymap_get(x->d, sec, "status_light"))) {
        if (!lab_yis_map(v)) {
            S_ERR(x, v, "'status_light' must be a mapping {line: 23, ready: on, busy: blink}");
        } else {
            s_check_keys(x, v, s_light_keys, "gpio.status_light");
            lab_gpio_status_light *l = &c->light;
            l->chip = s_chip(x, v, chip);
            l->line = s_line(x, v);
            l->active_low = s_choice(x, v, "active", s_actives, 0);
            l->ready = (lab_gpio_light)s_choice(x, v, "ready", s_lights, LAB_GPIO_LIGHT_ON);
            l->busy = (lab_gpio_light)s_choice(x, v, "busy", s_lights, LAB_GPIO_LIGHT_BLINK);
            l->estopped = (lab_gpio_light)s_choice(x, v, "estopped", s_lights, LAB_GPIO_LIGHT_OFF);
            l->offline = (lab_gpio_light)s_choice(x, v, "offline", s_lights, LAB_GPIO_LIGHT_OFF);
            l->blink_ms = s_duration(x, v, "blink", LAB_GPIO_BLINK_MS, 60000);
            c->gpio.light = l;
        }
    }
    if (!c->gpio.n_inputs && !c->gpio.n_outputs && !c->gpio.light)
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
        if (c->endpoint && !lab_keys_endpoint_is_local(c->endpoint))
            S_ERR(x, lab_ymap_get(x->d, root, "endpoint"),
                  "endpoint '%s' is reachable from other machines: add 'keys: {key: DEVICE.key, orchestrator: "
                  "LAB.pub}' (labloop keygen) or use a loopback or ipc endpoint", c->endpoint);
        return;
    }
    if (!lab_yis_map(v)) {
        S_ERR(x, v, "'keys' must be a mapping {key: DEVICE.key, orchestrator: LAB.pub}");
        return;
    }
    s_check_keys(x, v, s_keys_keys, "keys");
    const char *sec = s_text(x, v, "key", 1, "this device's secret key file (labloop keygen NAME)");
    const char *srv = s_text(x, v, "orchestrator", 1, "the orchestrator's public key file (its .pub)");
    lab_err e = {0};
    if (sec && lab_keys_read_secret(sec, c->secret_key, c->public_key, &e) < 0)
        S_ERR(x, lab_ymap_get(x->d, v, "key"), "keys.key: %s", e.msg);
    else if (srv && lab_keys_read_public(srv, c->server_key, &e) < 0)
        S_ERR(x, lab_ymap_get(x->d, v, "orchestrator"), "keys.orchestrator: %s", e.msg);
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
    s_ctx x = {d, errs, err, c, 0};
    c->path = s_str(c, path);
    c->capacity = 1;
    yaml_node_t *root = lab_ydoc_root(d), *v;
    if (!lab_yis_map(root)) {
        S_ERR(&x, root, "a worker config must be a mapping with name, endpoint, driver, ...");
        goto done;
    }
    s_check_keys(&x, root, s_top_keys, "the worker config");
    c->name = (char *)s_text(&x, root, "name", 1, "the device name, as in the campaign's devices");
    if (c->name && strlen(c->name) > 63)
        S_ERR(&x, lab_ymap_get(d, root, "name"), "'name' is longer than 63 bytes");
    c->endpoint = (char *)s_text(&x, root, "endpoint", 1,
                                 "the orchestrator's device endpoint, e.g. tcp://10.0.0.5:5560");
    static const char *const drivers[] = {"exec", "gpio", "null", NULL};
    if (!lab_ymap_get(d, root, "driver"))
        S_ERR(&x, root, "missing 'driver' (exec, gpio or null)");
    c->driver = s_str(c, drivers[s_choice(&x, root, "driver", drivers, 2)]);
    if ((v = lab_ymap_get(d, root, "capabilities"))) {
        if (!lab_yis_seq(v) || lab_yseq_len(v) == 0) {
            S_ERR(&x, v, "'capabilities' must be a non-empty list");
        } else {
            size_t n = lab_yseq_len(v);
            c->capabilities = s_block(c, n, sizeof(char *));
            for (size_t i = 0; c->capabilities && i < n; i++) {
                const char *s = lab_yscalar(lab_yseq_at(d, v, i));
                if (!s || !*s)
                    S_ERR(&x, lab_yseq_at(d, v, i), "a capability must be a name");
                else if (s_has(c->capabilities, c->n_capabilities, s))
                    S_ERR(&x, lab_yseq_at(d, v, i), "capability '%s' is listed twice", s);
                else
                    c->capabilities[c->n_capabilities++] = s_str(c, s);
            }
        }
    }
    long l;
    if ((v = lab_ymap_get(d, root, "capacity"))) {
        if (lab_yto_long(v, &l) || l < 1 || l > 1000)
            S_ERR(&x, v, "'capacity' must be an integer from 1 to 1000");
        else
            c->capacity = (int)l;
    }
    if ((v = lab_ymap_get(d, root, "reconnect"))) {
        if (!lab_yis_map(v)) {
            S_ERR(&x, v, "'reconnect' must be a mapping {min: 500ms, max: 5s}");
        } else {
            s_check_keys(&x, v, s_reconnect_keys, "reconnect");
            c->reconnect_min_ms = s_duration(&x, v, "min", 500, 60000);
            c->reconnect_max_ms = s_duration(&x, v, "max", 5000, 600000);
            if (c->reconnect_max_ms < c->reconnect_min_ms)
                S_ERR(&x, v, "reconnect 'max' (%d ms) must not be below 'min' (%d ms)",
                      c->reconnect_max_ms, c->reconnect_min_ms);
        }
    }
    c->outbox = (char *)s_text(&x, root, "outbox", 0, "a directory for results not yet acknowledged");
    s_load_keys(&x, root, lab_ymap_get(d, root, "keys"));
    yaml_node_t *ex = lab_ymap_get(d, root, "exec"), *gp = lab_ymap_get(d, root, "gpio");
    if (!strcmp(c->driver, "exec")) {
        if (!ex)
            S_ERR(&x, root, "driver exec needs an 'exec' section with 'commands'");
        else
            s_load_exec(&x, ex);
    } else if (ex) {
        S_ERR(&x, ex, "an 'exec' section, but the driver is %s", c->driver);
    }
    if (!strcmp(c->driver, "gpio")) {
        if (!gp)
            S_ERR(&x, root, "driver gpio needs a 'gpio' section");
        else
            s_load_gpio(&x, gp);
    } else if (gp) {
        S_ERR(&x, gp, "a 'gpio' section, but the driver is %s", c->driver);
    }
    if (!x.bad)
        s_check_capabilities(&x, root);
    c->exec.device = c->gpio.device = c->name;
done:
    lab_ydoc_destroy(&d);
    if (x.bad) {
        if (!err->code)
            lab_err_set(err, LAB_ECONFIG, "%s: invalid worker config", path);
        lab_worker_config_destroy(&c);
        return NULL;
    }
    return c;
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
