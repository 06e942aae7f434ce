/* `labloop hub`: the shared PostgreSQL hub from the command line —
 * `hub push` copies a lab's SQLite hub into it (once, or following the lab
 * while it runs), `hub search` finds experiments across labs by parameter
 * and objective ranges.
 *
 * For: argument parsing, signals and printing. Not for: SQL or the push
 * itself (hub_pg.c, hub_pg_read.c).
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "orchestrator/hub/hub_pg.h"

#include "common/banned.h"

#define S_MAX_WHERE 16

static const char s_usage[] =
    "usage: labloop hub push HUB.db --to URL [--lab NAME] [--group ROLE] [--allow-closed]\n"
    "                        [--follow] [--poll MS] [--retry-for SECONDS] [--chunk ROWS]\n"
    "       labloop hub search URL --where 'NAME OP NUMBER' ... [--lab NAME] [--limit N] [--json]\n"
    "\n"
    "push: copy a lab's hub (campaigns, devices, experiments, steps, samples, artifacts'\n"
    "metadata, events, audit) into a shared PostgreSQL hub. Every row carries the lab's\n"
    "id; rows already pushed are not sent again (the marks are kept in PostgreSQL, in the\n"
    "same transaction as the rows), so a push can be stopped and started at any time.\n"
    "The hub file is only read. Campaigns of access 'closed' stay in the lab unless\n"
    "--allow-closed; 'shared' and 'closed' rows are readable at the hub only by members\n"
    "of the sharing group (a PostgreSQL role; row-level security).\n"
    "\n"
    "  --to URL         postgresql://USER@HOST:PORT/DB (libpq URL; its role creates and\n"
    "                   owns the labloop schema on first push)\n"
    "  --lab NAME       the lab's id on every row (default: this host's name)\n"
    "  --group ROLE     sharing group of shared and closed rows (default: the lab's id)\n"
    "  --allow-closed   push closed campaigns too\n"
    "  --follow         keep pushing every --poll MS (default 1000) until SIGINT/SIGTERM\n"
    "  --retry-for S    give up after S seconds without reaching PostgreSQL\n"
    "                   (default 60; 0: never; with --follow: never)\n"
    "  --chunk ROWS     rows per transaction of the append-only tables (default 20000)\n"
    "\n"
    "search: experiments of every lab whose parameters or objectives meet every --where\n"
    "(NAME one of < <= > >= = != NUMBER), as the URL's role may read them.\n"
    "\n"
    "examples:\n"
    "  labloop hub push lab.db --to postgresql://labloop@hub.example.org/core --lab lab-a\n"
    "  labloop hub search postgresql://alice@hub.example.org/core \\\n"
    "      --where 'temperature > 150' --where 'plqy >= 0.8'\n";

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_usage_error(const char *fmt, const char *arg)
{
    fputs("labloop hub: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(labloop hub --help for usage)\n", stderr);
    return 2;
}

/* A whole number in [lo, hi] from s, or -1 with a usage error printed. */
static long s_number(const char *opt, const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "labloop hub: %s wants a whole number from %ld to %ld, not '%s'\n", opt,
                lo, hi, s);
        return -1;
    }
    return v;
}

static int s_push(int argc, char **argv)
{
    const char *db = NULL, *url = NULL, *lab = NULL, *group = NULL;
    int allow_closed = 0, follow = 0;
    long poll = 1000, retry = -1, chunk = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--allow-closed")) {
            allow_closed = 1;
        } else if (!strcmp(a, "--follow")) {
            follow = 1;
        } else if (!strcmp(a, "--to") || !strcmp(a, "--lab") || !strcmp(a, "--group") ||
                   !strcmp(a, "--poll") || !strcmp(a, "--retry-for") || !strcmp(a, "--chunk")) {
            if (!val)
                return s_usage_error("%s needs a value", a);
            i++;
            if (!strcmp(a, "--to"))
                url = val;
            else if (!strcmp(a, "--lab"))
                lab = val;
            else if (!strcmp(a, "--group"))
                group = val;
            else if (!strcmp(a, "--poll") && (poll = s_number(a, val, 10, 3600000)) < 0)
                return 2;
            else if (!strcmp(a, "--retry-for") && (retry = s_number(a, val, 0, 86400 * 365)) < 0)
                return 2;
            else if (!strcmp(a, "--chunk") && (chunk = s_number(a, val, 1, 10000000)) < 0)
                return 2;
        } else if (a[0] == '-') {
            return s_usage_error("unknown option '%s'", a);
        } else if (db) {
            return s_usage_error("one hub file only ('%s' is a second)", a);
        } else {
            db = a;
        }
    }
    if (!db)
        return s_usage_error("%s", "push needs the lab's hub file");
    if (!url)
        return s_usage_error("%s", "push needs --to postgresql://...");
    if (!lab_hub_pg_is_url(url))
        return s_usage_error("--to wants a postgresql:// URL, not '%s'", url);
    char host[256];
    if (!lab) {
        if (gethostname(host, sizeof host) != 0)
            return s_usage_error("%s", "cannot tell this host's name; give --lab");
        host[sizeof host - 1] = '\0';
        lab = host;
    }
    if (!*lab || (group && !*group))
        return s_usage_error("%s", "--lab and --group must not be empty");

    lab_err err;
    lab_err_clear(&err);
    lab_hub_pg_push_opts o = {.lab = lab, .group = group, .allow_closed = allow_closed,
                              .chunk_rows = (int)chunk};
    lab_hub_pg_pusher *p = lab_hub_pg_pusher_new(db, url, &o, &err);
    if (!p) {
        fprintf(stderr, "labloop hub push: %s\n", err.msg);
        return 1;
    }
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int64_t retry_ms = follow ? 0 : (retry < 0 ? 60 : retry) * 1000LL;
    if (follow && retry > 0)
        retry_ms = retry * 1000LL;
    int ret = lab_hub_pg_push_run(p, follow, (int)poll, retry_ms, &s_stop, &err);
    int64_t total = 0, n;
    const char *table;
    for (size_t i = 0; lab_hub_pg_push_count(p, i, &table, &n); i++)
        total += n;
    printf("pushed %lld rows of lab '%s' from %s", (long long)total, lab, db);
    const char *sep = " (";
    for (size_t i = 0; lab_hub_pg_push_count(p, i, &table, &n); i++)
        if (n) {
            printf("%s%s %lld", sep, table, (long long)n);
            sep = ", ";
        }
    puts(*sep == ',' ? ")" : "");
    lab_hub_pg_pusher_destroy(&p);
    if (ret < 0) {
        fprintf(stderr, "labloop hub push: %s\n", err.msg);
        return 1;
    }
    return 0;
}

typedef struct s_search_out {
    int json;
    long n;
} s_search_out;

static int s_print_hit(const lab_hub_pg_hit *h, void *arg)
{
    s_search_out *o = arg;
    o->n++;
    if (o->json) {
        json_error_t je;
        json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:o, s:o}", "lab", h->lab,
                              "campaign", h->campaign, "seq", (json_int_t)h->seq, "status",
                              h->status, "access", h->access, "export_control",
                              h->export_control, "params",
                              h->params_json ? json_loads(h->params_json, 0, &je) : json_null(),
                              "objectives",
                              h->objectives_json ? json_loads(h->objectives_json, 0, &je)
                                                 : json_null());
        if (j) {
            json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
            fputc('\n', stdout);
        }
        json_decref(j);
        return 0;
    }
    printf("%-12s %-16s #%-5lld %-9s %-7s%s %s %s\n", h->lab, h->campaign, (long long)h->seq,
           h->status, h->access, h->export_control ? " EXPORT-CONTROLLED" : "",
           h->params_json ? h->params_json : "{}", h->objectives_json ? h->objectives_json : "{}");
    return 0;
}

static int s_search(int argc, char **argv)
{
    const char *url = NULL, *lab = NULL;
    lab_hub_pg_where w[S_MAX_WHERE];
    size_t nw = 0;
    long limit = 0;
    int json = 0;
    lab_err err;
    lab_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--where") || !strcmp(a, "--lab") || !strcmp(a, "--limit")) {
            if (!val)
                return s_usage_error("%s needs a value", a);
            i++;
            if (!strcmp(a, "--lab")) {
                lab = val;
            } else if (!strcmp(a, "--limit")) {
                if ((limit = s_number(a, val, 1, 1000000)) < 0)
                    return 2;
            } else {
                if (nw == S_MAX_WHERE)
                    return s_usage_error("%s", "at most 16 --where conditions");
                if (lab_hub_pg_where_parse(val, &w[nw++], &err) < 0)
                    return s_usage_error("%s", err.msg);
            }
        } else if (a[0] == '-') {
            return s_usage_error("unknown option '%s'", a);
        } else if (url) {
            return s_usage_error("one hub URL only ('%s' is a second)", a);
        } else {
            url = a;
        }
    }
    if (!url || !lab_hub_pg_is_url(url))
        return s_usage_error("%s", "search needs the hub's postgresql:// URL");
    s_search_out o = {.json = json};
    if (lab_hub_pg_search(url, lab, w, nw, limit, s_print_hit, &o, &err) < 0) {
        fprintf(stderr, "labloop hub search: %s\n", err.msg);
        return 1;
    }
    if (!json)
        fprintf(stderr, "%ld experiments\n", o.n);
    return fflush(stdout) == 0 ? 0 : 1;
}

int lab_cmd_hub(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(s_usage, stdout);
            return 0;
        }
    if (!strcmp(argv[1], "push"))
        return s_push(argc - 1, argv + 1);
    if (!strcmp(argv[1], "search"))
        return s_search(argc - 1, argv + 1);
    return s_usage_error("'%s' is not a hub command (push, search)", argv[1]);
}
