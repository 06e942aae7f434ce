/* labloop's entry point: the table of subcommands, `help` and `--version`.
 * Each subcommand lives in its own module; this file only dispatches. */
#include <printf.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/version.h"
#include "devices/cmd_worker.h"
#include "orchestrator/cli/commands.h"
#include "sim/launcher.h"
#include "common/banned.h"

typedef struct s_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} s_cmd;

static const s_cmd s_cmds[] = {
    {"run", lab_cmd_run, "run a campaign closed-loop on the lab's device workers"},
    {"lab", lab_cmd_lab, "run a lab service: one lab's devices and hub for many campaigns"},
    {"submit", lab_cmd_submit, "hand a campaign to a lab service (--weight for its share)"},
    {"campaigns", lab_cmd_control, "list a lab service's campaigns: state, progress, weight, best"},
    {"status", lab_cmd_control, "show a running campaign (--watch to follow; --campaign NAME in a lab)"},
    {"pause", lab_cmd_control, "stop dispatching new steps; running steps finish"},
    {"resume", lab_cmd_control, "dispatch again after a pause"},
    {"extend", lab_cmd_control, "give a running or finished campaign more experiments or hours"},
    {"approve", lab_cmd_control, "let proposals waiting for approval run (campaign.approve: each)"},
    {"reject", lab_cmd_control, "turn down proposals waiting for approval; the planner proposes others"},
    {"abort", lab_cmd_control, "cancel running steps and end the campaign"},
    {"estop", lab_cmd_control, "e-stop every device now; the campaign (every campaign of a lab) is halted"},
    {"clear-estop", lab_cmd_control, "clear an e-stop (then resume)"},
    {"keygen", lab_cmd_keygen, "make a CURVE key pair (NAME.key secret, NAME.pub public)"},
    {"validate", lab_cmd_validate, "check a campaign config; errors name file:line:column"},
    {"sim", lab_cmd_sim_main, "start a simulated lab (one worker process per device)"},
    {"worker", lab_cmd_worker, "run a device worker for a real instrument (exec or gpio driver)"},
    {"log", lab_cmd_log, "print a campaign's timeline from its hub (--json for machines)"},
    {"show", lab_cmd_show, "a campaign at a glance: counts, best, Pareto front, devices, failures"},
    {"report", lab_cmd_report, "write one self-contained HTML report with plots"},
    {"export", lab_cmd_export, "export tables (csv, jsonl) or JSON-LD metadata, honouring access"},
    {"archive", lab_cmd_archive, "copy a hub consistently, even while a campaign runs"},
    {"hub", lab_cmd_hub, "push a lab's hub into a shared PostgreSQL hub; search across labs"},
    {"serve", lab_cmd_serve, "serve a live read-only dashboard over HTTP"},
    {"bench", lab_cmd_bench, "benchmarks: planner quality and speed, dispatch, utilisation"},
};
#define S_N_CMDS (sizeof s_cmds / sizeof s_cmds[0])

static void s_usage(FILE *out)
{
    fprintf(out, "usage: labloop COMMAND [ARGS]   (labloop help COMMAND for details)\n\n"
                 "labloop %s: a closed-loop orchestrator for autonomous materials labs\n\ncommands:\n",
            LAB_VERSION_STRING);
    for (size_t i = 0; i < S_N_CMDS; i++)
        fprintf(out, "  %-12s %s\n", s_cmds[i].name, s_cmds[i].help);
    fprintf(out, "\nexample, a simulated campaign:\n"
                 "  labloop sim examples/demo-lab.yaml &\n"
                 "  labloop run examples/demo-campaign.yaml --db build/demo/campaign.db\n"
                 "  labloop log build/demo/campaign.db\n");
}

static const s_cmd *s_find(const char *name)
{
    for (size_t i = 0; i < S_N_CMDS; i++)
        if (!strcmp(s_cmds[i].name, name))
            return &s_cmds[i];
    return NULL;
}

int main(int argc, char **argv)
{
    lab_log_setup("labloop", LAB_LOG_INFO);
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("labloop %s\n", LAB_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            s_usage(stdout);
            return 0;
        }
        const s_cmd *c = s_find(argv[2]);
        if (!c) {
            fprintf(stderr, "labloop: no command '%s'\n", argv[2]);
            return 2;
        }
        char *args[] = {argv[2], (char *)"--help", NULL};
        return c->fn(2, args);
    }
    const s_cmd *c = s_find(argv[1]);
    if (!c) {
        fprintf(stderr, "labloop: '%s' is not a command\n\n", argv[1]);
        s_usage(stderr);
        return 2;
    }
    char role[32];
    snprintf(role, sizeof role, "%s", c->name);
    lab_log_setup(role, LAB_LOG_INFO);
    return c->fn(argc - 1, argv + 1);
}

/* libquadmath, which LAPACK's Fortran runtime loads, registers printf
 * handlers for __float128 as it loads. While any handler is registered,
 * glibc formats every printf-family call on its slow general path, and
 * labloop formats text on every step (ids, JSON numbers through jansson,
 * log lines): an attempt id took 147 ns instead of 84. labloop never
 * prints a __float128 with printf, so its executable refuses the
 * registrations: these definitions come before glibc's for every library
 * the program loads, and the handlers' tables stay empty. */
int register_printf_specifier(int spec, printf_function fn, printf_arginfo_size_function arginfo)
{
    (void)spec, (void)fn, (void)arginfo;
    return -1;
}

int register_printf_modifier(const wchar_t *str)
{
    (void)str;
    return -1;
}

int register_printf_type(printf_va_arg_function fn)
{
    (void)fn;
    return -1;
}
