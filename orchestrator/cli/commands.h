/* The labloop subcommands: one entry point each, int lab_cmd_NAME(argc, argv)
 * with argv[0] the command's name. They return the process exit code:
 * 0 success, 1 error (message on stderr), 2 usage error.
 * Not for: the subcommand table (main.c) or shared logic (the modules).
 */
#ifndef LAB_COMMANDS_H
#define LAB_COMMANDS_H

#include <stdint.h>
#include <stdio.h>
#include "common/err.h"

/* labloop bench KIND ...: benchmarks (planner quality and speed), see cmd_bench.c */
int lab_cmd_bench(int argc, char **argv);
/* labloop bench echo [--workers W] [--round-trips N] [--rows R] [--json]: see bench_echo.c */
int lab_bench_echo(int argc, char **argv);
/* labloop log HUB.db [--follow] [--experiment N] [--device D] [--since T] [--json] [--help] */
int lab_cmd_log(int argc, char **argv);
/* labloop run CAMPAIGN.yaml [--db FILE] [--quiet] */
int lab_cmd_run(int argc, char **argv);
/* labloop lab LAB.yaml [--db FILE] [--quiet]: a lab service (cmd_lab.c) */
int lab_cmd_lab(int argc, char **argv);
/* labloop submit CAMPAIGN.yaml --endpoint EP [--weight W]: a campaign for a lab service */
int lab_cmd_submit(int argc, char **argv);
/* labloop status|campaigns|pause|resume|extend|abort|estop|clear-estop [CAMPAIGN.yaml | --endpoint EP]
 * [--campaign NAME] */
int lab_cmd_control(int argc, char **argv);
/* labloop validate CAMPAIGN.yaml [--quiet] [--keys] [--help] */
int lab_cmd_validate(int argc, char **argv);
/* labloop keygen NAME [--dir DIR] [--force] */
int lab_cmd_keygen(int argc, char **argv);
/* labloop show HUB.db [--campaign NAME] [--json] */
int lab_cmd_show(int argc, char **argv);
/* labloop report HUB.db -o REPORT.html [--campaign NAME] */
int lab_cmd_report(int argc, char **argv);
/* labloop export HUB.db --format csv|jsonl|jsonld [-o FILE] [--table T] [--force] */
int lab_cmd_export(int argc, char **argv);
/* labloop archive HUB.db -o COPY.db: a consistent copy (SQLite online backup) */
int lab_cmd_archive(int argc, char **argv);
/* labloop hub push|search ...: the shared PostgreSQL hub, see cmd_hub.c */
int lab_cmd_hub(int argc, char **argv);
/* labloop serve HUB.db --http ADDR:PORT [--token T] */
int lab_cmd_serve(int argc, char **argv);

/* What `labloop log` keeps and how it prints it. */
typedef struct lab_log_filter {
    int json;                    /* 1: one JSON object per line */
    int64_t experiment;          /* > 0: only events whose detail.experiment is this */
    const char *device;          /* non-NULL: only events whose detail.device or subject is this */
    int64_t since_us;            /* > 0: only events at or after this time */
    int follow;                  /* 1: keep printing new events until the campaign ends */
    int follow_poll_ms;          /* how often to look for new events (0: 200) */
    const char *campaign;        /* non-NULL: this campaign, not the latest */
    const char *lab;             /* a postgresql:// hub: the campaign's lab */
} lab_log_filter;

/* Print the latest campaign's timeline of the hub at db to out (f may be
 * NULL: everything, as text). Times are local (text) or UTC (JSON).
 * With f->follow it then polls for new events until the campaign completes,
 * is aborted or exhausted, or SIGINT/SIGTERM arrives (the caller's thread
 * blocks those signals while it waits). Returns 0 or < 0 with err set. */
int lab_log_print(const char *db, const lab_log_filter *f, FILE *out, lab_err *err);

/* labloop sim (cmd_sim.c): the simulated lab's launcher. */
int lab_cmd_sim_main(int argc, char **argv);

#endif
