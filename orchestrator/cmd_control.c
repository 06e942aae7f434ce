/* The operator's commands to a running campaign, over its control endpoint:
 * `labloop status [--watch] [--json]`, `pause`, `resume`, `extend`,
 * `approve N...`, `reject N...`, `abort`, `estop`, `clear-estop`. Each sends one JSON request and prints the reply.
 * The endpoint comes from --endpoint, from a campaign config, or the
 * default. `extend` of a campaign that has ended is written to its hub
 * instead (extend.c): no orchestrator runs it any more.
 * Not for: carrying the actions out (orchestrator/control.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orchestrator/commands.h"
#include "orchestrator/config.h"
#include "orchestrator/control_client.h"
#include "orchestrator/control_req.h"
#include "orchestrator/extend.h"
#include "orchestrator/hub_query.h"
#include "orchestrator/review.h"
#include "common/duration.h"
#include "common/text.h"
#include "common/banned.h"

#define S_DEFAULT_ENDPOINT LAB_CONTROL_DEFAULT_ENDPOINT
#define S_REPLY_TIMEOUT_MS 5000
#define S_WATCH_MS 1000
/* Without --all, status prints at most this many device rows and running
 * steps (a shared lab may have thousands); counts cover the rest. */
#define S_SHOWN_MAX 20

static void s_usage(FILE *out, const char *cmd)
{
    if (!strcmp(cmd, "approve") || !strcmp(cmd, "reject")) {
        fprintf(out,
                "usage: labloop %s [CAMPAIGN.yaml | --endpoint EP] [--campaign NAME] N... [--reason TEXT]\n"
                "                       [--key YOU.key] [--server-key LAB.pub]\n\n"
                "%s\n\n"
                "Only for a campaign with campaign.approve: each, whose proposals wait as\n"
                "'proposed' (labloop status lists them with their parameters). N are their\n"
                "experiment numbers; all of them must be waiting, or nothing is changed.\n"
                "An operator key under CURVE; audited with your key's name and recorded as\n"
                "experiment.%s events.\n\n"
                "examples:\n"
                "  labloop status campaign.yaml              # the proposals waiting\n"
                "  labloop %s campaign.yaml 3 4%s\n"
                "  labloop %s --endpoint tcp://127.0.0.1:5561 --campaign alloys 7\n",
                cmd,
                !strcmp(cmd, "approve")
                    ? "Approve proposals: each becomes running and its steps go out as usual."
                    : "Reject proposals: each ends 'rejected' with your --reason, never runs, and is\n"
                      "told to the planner as a failed outcome. A rejection uses no budget: the\n"
                      "planner is asked for another proposal.",
                !strcmp(cmd, "approve") ? "approved" : "rejected", cmd,
                !strcmp(cmd, "approve") ? "" : " --reason \"too hot for the furnace\"", cmd);
        return;
    }
    if (!strcmp(cmd, "extend")) {
        fprintf(out,
                "usage: labloop extend CAMPAIGN.yaml --experiments N [--hours H] [--reason TEXT]\n"
                "                      [--db FILE] [--endpoint EP] [--key YOU.key] [--server-key LAB.pub]\n\n"
                "Give a campaign more budget: N more experiments and/or H more hours on its\n"
                "time budget (H may also be a duration such as 90m; from now when the time\n"
                "budget is already spent). The campaign config is not edited.\n\n"
                "  running or paused  the orchestrator raises the budget at once (a control\n"
                "                     request: an operator key under CURVE, audited)\n"
                "  completed or       the extension is recorded in the campaign's hub (--db,\n"
                "  exhausted          default the config's hub) with your user name, audited;\n"
                "                     `labloop run CAMPAIGN.yaml` then resumes the campaign, the\n"
                "                     planner taking up from its history\n"
                "An aborted campaign cannot be extended. `labloop status` and `labloop show`\n"
                "show the budget with its extensions.\n\n"
                "examples:\n"
                "  labloop extend examples/demo-campaign.yaml --experiments 20\n"
                "  labloop extend campaign.yaml --experiments 50 --hours 12 --reason \"promising region\"\n"
                "  labloop run campaign.yaml      # after extending a campaign that had ended\n");
        return;
    }
    if (!strcmp(cmd, "campaigns")) {
        fprintf(out, "usage: labloop campaigns --endpoint EP [--json]\n\n"
                     "List a lab service's campaigns (labloop lab): each one's state, progress\n"
                     "(measured, failed and the budget), experiments in flight, its weight, the\n"
                     "steps it has been given since it became active (its share) and the best\n"
                     "so far. A campaign waiting for a place (lab.max_campaigns) shows as\n"
                     "'queued #N', N its place in the queue; campaigns that had ended before the\n"
                     "lab last started are listed from its hub with their end. A campaign run by\n"
                     "labloop run shows as the only one.\n\n"
                     "example:\n  labloop campaigns --endpoint tcp://127.0.0.1:5561\n");
        return;
    }
    if (!strcmp(cmd, "status"))
        fprintf(out, "usage: labloop status [CAMPAIGN.yaml | --endpoint EP] [--campaign NAME] [--watch] [--all]\n"
                     "                      [--json]\n\n"
                     "Show a running campaign: state, progress, best so far, each device's state\n"
                     "and utilisation, and the steps running now. --watch refreshes every second\n"
                     "until the campaign ends, then shows its final state (read from the hub when\n"
                     "the orchestrator has already gone).\n\n"
                     "With more than %d devices or running steps, the devices are counted by\n"
                     "state and only %d rows of each are printed (devices not ready first, then\n"
                     "busy ones); --all prints every one. --json prints the whole reply.\n",
                S_SHOWN_MAX, S_SHOWN_MAX);
    else
        fprintf(out, "usage: labloop %s [CAMPAIGN.yaml | --endpoint EP] [--campaign NAME] [--reason TEXT]\n\n%s\n", cmd,
                !strcmp(cmd, "pause") ? "Stop dispatching new steps; running steps finish. Who paused it and\n"
                                        "the --reason are shown by status, show, log and the dashboard until\n"
                                        "it resumes."
                : !strcmp(cmd, "resume") ? "Dispatch again after a pause, the failure brake (campaign.brake),\n"
                                           "or clear-estop."
                : !strcmp(cmd, "abort") ? "Cancel running steps and end the campaign as aborted."
                : !strcmp(cmd, "estop") ? "E-stop: every worker stops at once; the campaign is halted until\n"
                                          "clear-estop and resume. On a lab service every campaign is halted\n"
                                          "(--campaign is not needed)."
                                        : "Clear an e-stop; the campaign stays paused until resume. On a lab\n"
                                          "service every halted campaign is cleared, each to be resumed.");
    fprintf(out, "\nThe control endpoint is taken from CAMPAIGN.yaml (endpoints.control), from\n"
                 "--endpoint, or is %s. Every action is written to the hub's audit table\n"
                 "with your key's name (or, without keys, your user name).\n\n"
                 "A campaign with a security section needs your key: --key YOU.key (or the\n"
                 "environment variable LABLOOP_KEY) and the orchestrator's public key:\n"
                 "--server-key LAB.pub (or LABLOOP_SERVER_KEY; default: the .pub beside the\n"
                 "campaign's security.key). Viewer keys may only ask for status.\n\n"
                 "A lab service (labloop lab) runs many campaigns on one endpoint: name the\n"
                 "one meant with --campaign NAME (a lab with one campaign takes it without).\n\n"
                 "example:\n  labloop %s examples/demo-campaign.yaml\n",
            S_DEFAULT_ENDPOINT, cmd);
}

/* A campaigns reply: one line a campaign. */
static void s_print_campaigns(json_t *r)
{
    json_t *list = json_object_get(r, "campaigns");
    printf("lab %s: %zu campaign%s\n", json_string_value(json_object_get(r, "lab")), json_array_size(list),
           json_array_size(list) == 1 ? "" : "s");
    if (!json_array_size(list))
        return;
    printf("%-24s %-10s %8s %7s %7s %9s %6s %9s  %s\n", "campaign", "state", "measured", "failed", "budget",
           "in flight", "weight", "share", "best");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        char best[160] = "-", state[32];
        json_t *b = json_object_get(c, "best");
        snprintf(state, sizeof state, "%s", json_string_value(json_object_get(c, "status")));
        if (json_integer_value(json_object_get(c, "queue_position")) > 0)
            snprintf(state, sizeof state, "queued #%lld", json_integer_value(json_object_get(c, "queue_position")));
        if (json_is_integer(json_object_get(c, "ended_us"))) {
            time_t t = (time_t)(json_integer_value(json_object_get(c, "ended_us")) / 1000000);
            struct tm tm;
            char when[32];
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
            snprintf(best, sizeof best, "ended %s", when);
        }
        if (b)
            snprintf(best, sizeof best, "%s = %.4g (experiment %lld)",
                     json_string_value(json_object_get(b, "objective")),
                     json_number_value(json_object_get(b, "value")),
                     json_integer_value(json_object_get(b, "experiment")));
        json_t *wa = json_object_get(c, "waiting_approval");
        if (json_is_integer(wa)) {
            size_t l = strlen(best);
            snprintf(best + l, sizeof best - l, "; %lld waiting for approval", json_integer_value(wa));
        }
        printf("%-24s %-10s %8lld %7lld %7lld %9lld %6g %9.0f  %s\n", json_string_value(json_object_get(c, "name")),
               state, json_integer_value(json_object_get(c, "measured")),
               json_integer_value(json_object_get(c, "failed")), json_integer_value(json_object_get(c, "budget")),
               json_integer_value(json_object_get(c, "in_flight")), json_number_value(json_object_get(c, "weight")),
               json_number_value(json_object_get(c, "dispatched")), best);
    }
}

/* The budget's extensions and the pause's reason, from a status reply. */
static void s_print_lifecycle(json_t *r)
{
    json_t *l = json_object_get(r, "lifecycle");
    json_int_t ext = json_integer_value(json_object_get(l, "extensions"));
    if (ext > 0)
        printf("budget: %lld experiments (%lld in the config, %lld more by %lld extension%s)\n",
               json_integer_value(json_object_get(r, "budget")),
               json_integer_value(json_object_get(l, "budget_config")),
               json_integer_value(json_object_get(r, "budget")) - json_integer_value(json_object_get(l, "budget_config")),
               ext, ext == 1 ? "" : "s");
    json_t *h = json_object_get(l, "hours_left");
    char left[32];
    if (json_is_number(h))
        printf("time budget: %s left\n", lab_extend_time_text(json_number_value(h) * 3600, left, sizeof left));
    json_t *p = json_object_get(l, "pause");
    if (!p)
        return;
    char reason[1100], by[160];
    lab_text_clean(reason, sizeof reason, json_string_value(json_object_get(p, "reason")));
    lab_text_clean(by, sizeof by, json_string_value(json_object_get(p, "by")));
    if (json_is_string(json_object_get(p, "cause")))
        printf("BRAKED: %s\n  running steps finish; fix the cause, then labloop resume\n", reason);
    else
        printf("paused by %s%s%s\n", *by ? by : "?", *reason ? ": " : "", reason);
}

/* Parameters {name: value} as " name=value ...". */
static void s_print_params(json_t *params)
{
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) {
        if (json_is_string(v)) {
            char clean[200];
            lab_text_clean(clean, sizeof clean, json_string_value(v));
            printf(" %s=%s", k, clean);
        } else {
            printf(" %s=%.4g", k, json_number_value(v));
        }
    }
}

/* The approval gate, from a status reply: how many wait, and each one. */
static void s_print_queue(json_t *r, int all)
{
    json_t *n = json_object_get(r, "waiting_approval");
    if (!json_is_integer(n))
        return;
    json_t *q = json_object_get(r, "approval_queue");
    printf("waiting for approval: %lld (rejected so far: %lld)%s\n", json_integer_value(n),
           json_integer_value(json_object_get(r, "rejected")),
           json_integer_value(n) ? "; labloop approve|reject ... N" : "");
    size_t i;
    json_t *e;
    json_array_foreach(q, i, e) {
        if (!all && i == S_SHOWN_MAX) {
            printf("  ... and %zu more (--all)\n", json_array_size(q) - i);
            break;
        }
        printf("  experiment %lld:", json_integer_value(json_object_get(e, "experiment")));
        s_print_params(json_object_get(e, "params"));
        json_t *p = json_object_get(e, "provenance");
        json_t *pm = json_object_get(p, "predicted_mean");
        if (json_is_number(pm))
            printf(" | predicted %.4g +- %.3g", json_number_value(pm),
                   json_number_value(json_object_get(p, "predicted_sd")));
        const char *why = json_string_value(json_object_get(p, "reason"));
        if (why && *why) {
            char clean[300];
            lab_text_clean(clean, sizeof clean, why);
            printf(" | %s", clean);
        }
        printf("\n");
    }
}

static void s_print_device(json_t *d)
{
    char driver[64];                 /* as the device said in its Hello */
    lab_text_clean(driver, sizeof driver, json_string_value(json_object_get(d, "driver")));
    printf("%-14s %-8s %-18s %5lld/%-3lld %5.0f%%\n", json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "state")), driver,
           json_integer_value(json_object_get(d, "running")), json_integer_value(json_object_get(d, "capacity")),
           100.0 * json_number_value(json_object_get(d, "utilisation")));
}

static int s_state_is(json_t *d, const char *state)
{
    const char *s = json_string_value(json_object_get(d, "state"));
    return s && !strcmp(s, state);
}

/* The device table. Up to S_SHOWN_MAX rows unless all: a count by state,
 * then the devices an operator looks for first (not ready, then busy). */
static void s_print_devices(json_t *devs, int all)
{
    size_t n = json_array_size(devs), i, shown = 0;
    json_t *d;
    if (all || n <= S_SHOWN_MAX) {
        printf("%-14s %-8s %-18s %9s %6s\n", "device", "state", "driver", "running", "busy");
        json_array_foreach(devs, i, d)
            s_print_device(d);
        return;
    }
    size_t ready = 0, lost = 0, busy = 0;
    json_array_foreach(devs, i, d) {
        ready += (size_t)s_state_is(d, "ready");
        lost += (size_t)s_state_is(d, "lost");
        busy += json_integer_value(json_object_get(d, "running")) > 0;
    }
    printf("devices: %zu (%zu ready, %zu lost, %zu offline; %zu busy)\n", n, ready, lost,
           n - ready - lost, busy);
    printf("%-14s %-8s %-18s %9s %6s\n", "device", "state", "driver", "running", "busy");
    for (int pass = 0; pass < 2 && shown < S_SHOWN_MAX; pass++)
        json_array_foreach(devs, i, d) {
            int pick = pass == 0 ? !s_state_is(d, "ready")
                                 : s_state_is(d, "ready") && json_integer_value(json_object_get(d, "running")) > 0;
            if (!pick)
                continue;
            if (shown == S_SHOWN_MAX)
                break;
            s_print_device(d);
            shown++;
        }
    if (shown < n)
        printf("... and %zu more devices (labloop status --all lists every one)\n", n - shown);
}

static void s_print_status(json_t *r, int all)
{
    printf("campaign %s: %s — %lld/%lld experiments done (%lld measured, %lld failed), %lld in flight, %.0f s\n",
           json_string_value(json_object_get(r, "campaign")), json_string_value(json_object_get(r, "status")),
           json_integer_value(json_object_get(r, "measured")) + json_integer_value(json_object_get(r, "failed")),
           json_integer_value(json_object_get(r, "budget")), json_integer_value(json_object_get(r, "measured")),
           json_integer_value(json_object_get(r, "failed")), json_integer_value(json_object_get(r, "in_flight")),
           json_number_value(json_object_get(r, "elapsed_s")));
    if (json_integer_value(json_object_get(r, "queue_position")) > 0)
        printf("queued: place %lld; it starts when the lab has room (lab.max_campaigns)\n",
               json_integer_value(json_object_get(r, "queue_position")));
    s_print_lifecycle(r);
    s_print_queue(r, all);
    json_t *best = json_object_get(r, "best");
    if (best) {
        printf("best: %s = %.4g at experiment %lld:", json_string_value(json_object_get(best, "objective")),
               json_number_value(json_object_get(best, "value")), json_integer_value(json_object_get(best, "experiment")));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(best, "params"), k, v) {
            if (json_is_string(v))
                printf(" %s=%s", k, json_string_value(v));
            else
                printf(" %s=%.4g", k, json_number_value(v));
        }
        printf("\n");
    }
    s_print_devices(json_object_get(r, "devices"), all);
    json_t *sec = json_object_get(r, "security");
    if (sec)
        printf("security: %s; refused: %lld connections, %lld device messages, %lld commands\n",
               json_string_value(json_object_get(sec, "mode")),
               json_integer_value(json_object_get(sec, "refused_connections")),
               json_integer_value(json_object_get(sec, "refused_messages")),
               json_integer_value(json_object_get(sec, "refused_commands")));
    json_t *nt = json_object_get(r, "notifications");
    if (nt) {
        char last[256];
        lab_text_clean(last, sizeof last, json_string_value(json_object_get(nt, "last_error")));
        printf("webhooks: %lld sent, %lld waiting, %lld failed, %lld retried, %lld dropped%s%s\n",
               json_integer_value(json_object_get(nt, "sent")), json_integer_value(json_object_get(nt, "pending")),
               json_integer_value(json_object_get(nt, "failed")), json_integer_value(json_object_get(nt, "retried")),
               json_integer_value(json_object_get(nt, "dropped")), last[0] ? "; last error: " : "", last);
    }
    json_t *run = json_object_get(r, "running");
    size_t n_run = json_array_size(run), i;
    json_t *d;
    if (n_run)
        printf("running steps:\n");
    json_array_foreach(run, i, d) {
        if (!all && i == S_SHOWN_MAX) {
            printf("  ... and %zu more (labloop status --all lists every one)\n", n_run - i);
            break;
        }
        printf("  %-36s on %-12s %6.1f s\n", json_string_value(json_object_get(d, "attempt")),
               json_string_value(json_object_get(d, "device")), json_number_value(json_object_get(d, "seconds")));
    }
}

static int s_ended(const char *status)
{
    return status && (!strcmp(status, "completed") || !strcmp(status, "aborted") ||
                      !strcmp(status, "exhausted") || !strcmp(status, "failed"));
}

/* The final state of a watched campaign whose orchestrator has gone, read
 * from its hub: the same lines as a status reply, with busy time and
 * utilisation as `show` computes them. 0 when printed. */
static int s_print_final_from_hub(const char *hub, const char *campaign, json_int_t budget)
{
    lab_err err = {0};
    lab_hub_query *q = lab_hub_query_open(hub, &err);
    lab_review *r = q ? lab_review_load(q, campaign, &err) : NULL;
    if (!r) {
        fprintf(stderr, "labloop status: reading the final state from %s: %s\n", hub, err.msg);
        lab_hub_query_destroy(&q);
        return -1;
    }
    printf("campaign %s: %s — %lld/%lld experiments done (%lld measured, %lld failed), final state from %s\n",
           r->c.name, r->c.status, (long long)(r->n.measured + r->n.failed), (long long)budget,
           (long long)r->n.measured, (long long)r->n.failed, hub);
    if (r->best >= 0 && r->n_objectives > 0) {
        const lab_review_exp *b = &r->exps[r->best];
        const lab_review_objective *ob = &r->objectives[0];
        printf("best: %s = %.4g%s%s at experiment %lld\n", ob->name, b->y[0], ob->unit ? " " : "",
               ob->unit ? ob->unit : "", (long long)b->seq);
    }
    printf("%-14s %-8s %-18s %9s %6s\n", "device", "state", "driver", "capacity", "busy");
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        printf("%-14s %-8s %-18s %9d %5.0f%%\n", d->name, d->status ? d->status : "-",
               d->driver ? d->driver : "-", d->capacity, 100.0 * d->utilisation);
    }
    lab_review_destroy(&r);
    lab_hub_query_destroy(&q);
    return 0;
}

/* clear-estop: devices that were not connected may not have got the clear. */
static void s_print_not_reached(json_t *names)
{
    if (!json_array_size(names))
        return;
    fprintf(stderr, "warning: not connected, so maybe not cleared:");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
        fprintf(stderr, " %s", json_string_value(n) ? json_string_value(n) : "?");
    fprintf(stderr, "\nA device that comes back still latched in e-stop halts the campaign again;\n"
                    "run clear-estop once it is connected (labloop status shows it ready).\n");
}

int lab_cmd_control(int argc, char **argv)
{
    const char *cmd = argv[0], *endpoint = NULL, *config = NULL, *reason = NULL, *db = NULL;
    const char *key = getenv("LABLOOP_KEY"), *server_key = getenv("LABLOOP_SERVER_KEY");
    const char *campaign = NULL;
    int watch = 0, json = 0, all = 0, extend = !strcmp(cmd, "extend"), list = !strcmp(cmd, "campaigns");
    int gate = !strcmp(cmd, "approve") || !strcmp(cmd, "reject");
    long seqs[LAB_CONTROL_MAX_SEQS];
    size_t n_seqs = 0;
    long more = 0;
    double hours = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout, cmd);
            return 0;
        } else if (!strcmp(argv[i], "--endpoint") && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
            key = argv[++i];
        } else if (!strcmp(argv[i], "--campaign") && i + 1 < argc && !list) {
            campaign = argv[++i];
        } else if (!strcmp(argv[i], "--server-key") && i + 1 < argc) {
            server_key = argv[++i];
        } else if (!strcmp(argv[i], "--reason") && i + 1 < argc && strcmp(cmd, "status") != 0) {
            reason = argv[++i];
        } else if (!strcmp(argv[i], "--experiments") && i + 1 < argc && extend) {
            char *end;
            more = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || more < 1 || more > LAB_CONTROL_MAX_EXPERIMENTS) {
                fprintf(stderr, "labloop extend: --experiments must be a whole number from 1 to %ld, got '%s'\n",
                        LAB_CONTROL_MAX_EXPERIMENTS, argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--hours") && i + 1 < argc && extend) {
            char *end;
            double sec;
            hours = strtod(argv[++i], &end);
            if (*end || end == argv[i]) {      /* not a plain number: a duration such as 90m */
                hours = lab_duration_parse(argv[i], &sec) == 0 ? sec / 3600.0 : -1;
            }
            if (!(hours > 0 && hours <= LAB_CONTROL_MAX_HOURS)) {
                fprintf(stderr, "labloop extend: --hours must be a number of hours above 0 and at most %.0f, "
                                "or a duration such as 90m, got '%s'\n", LAB_CONTROL_MAX_HOURS, argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc && extend) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--watch") && !strcmp(cmd, "status")) {
            watch = 1;
        } else if (!strcmp(argv[i], "--json") && (!strcmp(cmd, "status") || list)) {
            json = 1;
        } else if (!strcmp(argv[i], "--all") && !strcmp(cmd, "status")) {
            all = 1;
        } else if (gate && argv[i][0] >= '0' && argv[i][0] <= '9') {
            char *end;
            long v = strtol(argv[i], &end, 10);
            if (*end || v < 1 || v > LAB_CONTROL_MAX_EXPERIMENTS) {
                fprintf(stderr, "labloop %s: experiment numbers are whole numbers from 1, got '%s'\n", cmd, argv[i]);
                return 2;
            }
            if (n_seqs == LAB_CONTROL_MAX_SEQS) {
                fprintf(stderr, "labloop %s: at most %d experiments at once\n", cmd, LAB_CONTROL_MAX_SEQS);
                return 2;
            }
            seqs[n_seqs++] = v;
        } else if (argv[i][0] != '-' && !config) {
            config = argv[i];
        } else {
            fprintf(stderr, "labloop %s: unexpected argument '%s'\n\n", cmd, argv[i]);
            s_usage(stderr, cmd);
            return 2;
        }
    }
    if (extend && !more && hours <= 0) {
        fprintf(stderr, "labloop extend: give --experiments N (more experiments) and/or --hours H (more time)\n\n");
        s_usage(stderr, cmd);
        return 2;
    }
    if (gate && n_seqs == 0) {
        fprintf(stderr, "labloop %s: name the experiments by number (labloop status lists those waiting)\n\n", cmd);
        s_usage(stderr, cmd);
        return 2;
    }
    if (extend && !config && !endpoint) {
        fprintf(stderr, "labloop extend: name the campaign's config (CAMPAIGN.yaml), or the --endpoint of a "
                        "running campaign\n\n");
        s_usage(stderr, cmd);
        return 2;
    }
    lab_campaign_cfg *cfg = NULL;
    if (config) {
        lab_err err = {0};
        cfg = lab_config_load(config, stderr, &err);
        if (!cfg)
            return 1;
        if (!endpoint)
            endpoint = cfg->endpoint_control;
    }
    if (extend && cfg) {
        /* A campaign that has ended has no orchestrator to ask: its hub
         * records the extension, and `labloop run` picks it up. */
        json_t *who = lab_control_request(cmd, reason);
        lab_err err = {0};
        int done = lab_extend_ended(cfg, db ? db : cfg->hub, more, hours, reason,
                                    json_string_value(json_object_get(who, "user")),
                                    json_string_value(json_object_get(who, "host")), stdout, &err);
        json_decref(who);
        if (done != 0) {
            if (done < 0)
                fprintf(stderr, "labloop extend: %s\n", err.msg);
            lab_config_destroy(&cfg);
            return done < 0 ? 1 : 0;
        }
    }
    if (!endpoint)
        endpoint = S_DEFAULT_ENDPOINT;
    char server_pub[1024];
    if (!server_key && cfg && cfg->secret_key_path) {
        lab_keys_public_path(cfg->secret_key_path, server_pub, sizeof server_pub);
        server_key = server_pub;
    }
    lab_control_keys keys;
    const lab_control_keys *kp = NULL;
    if (key || server_key) {
        lab_err err = {0};
        if (!key || !server_key) {
            fprintf(stderr, "labloop %s: %s\n", cmd,
                    key ? "the orchestrator's public key is needed too: --server-key LAB.pub"
                        : "this campaign's control endpoint uses CURVE: give your key with --key YOU.key "
                          "(or LABLOOP_KEY)");
            lab_config_destroy(&cfg);
            return 1;
        }
        if (lab_control_keys_load(&keys, key, server_key, &err) < 0) {
            fprintf(stderr, "labloop %s: %s\n", cmd, err.msg);
            lab_config_destroy(&cfg);
            return 1;
        }
        kp = &keys;
    }
    json_t *req = lab_control_request(cmd, reason);
    if (!campaign && cfg && !list)
        campaign = cfg->name;    /* a lab service: the campaign this config is */
    if (campaign)
        json_object_set_new(req, "campaign", json_string(campaign));
    if (gate) {
        json_t *a = json_array();
        for (size_t k = 0; k < n_seqs; k++)
            json_array_append_new(a, json_integer(seqs[k]));
        json_object_set_new(req, "seqs", a);
    }
    if (extend) {
        json_object_set_new(req, "experiments", json_integer(more));
        json_object_set_new(req, "hours", json_real(hours));
    }
    int rc = 0;
    /* --watch: what the last answer said, to finish from the hub. */
    char *seen_hub = NULL, *seen_campaign = NULL;
    json_int_t seen_budget = 0;
    if (cfg && cfg->hub)
        seen_hub = strdup(cfg->hub);
    for (;;) {
        lab_err err = {0};
        json_t *reply = lab_control_call_keys(endpoint, kp, req, S_REPLY_TIMEOUT_MS, &err);
        if (!reply && watch && seen_campaign && seen_hub) {
            /* The campaign ended between two polls and its orchestrator left. */
            printf("\033[H\033[2J");
            rc = s_print_final_from_hub(seen_hub, seen_campaign, seen_budget) < 0 ? 1 : 0;
            break;
        }
        if (!reply) {
            fprintf(stderr, "labloop %s: %s\n", cmd, err.msg);
            if (extend)
                fprintf(stderr, "A campaign is extended through its orchestrator while it runs, or in its hub once it\n"
                                "has ended (completed or exhausted). One that stopped half-way (Ctrl-C, a crash)\n"
                                "is started again with labloop run first, then extended.\n");
            rc = 1;
            break;
        }
        if (!json_is_true(json_object_get(reply, "ok"))) {
            fprintf(stderr, "labloop %s: %s\n", cmd, json_string_value(json_object_get(reply, "error")));
            json_decref(reply);
            rc = 1;
            break;
        }
        if (extend) {
            printf("extend: done; campaign %s is %s with a budget of %lld experiments\n",
                   json_string_value(json_object_get(reply, "campaign")),
                   json_string_value(json_object_get(reply, "status")),
                   json_integer_value(json_object_get(reply, "budget")));
        } else if (list && !json) {
            s_print_campaigns(reply);
        } else if (gate) {
            printf("%s: done; %zu experiment%s of campaign %s %s; %lld waiting for approval\n", cmd, n_seqs,
                   n_seqs == 1 ? "" : "s", json_string_value(json_object_get(reply, "campaign")),
                   !strcmp(cmd, "approve") ? "approved" : "rejected",
                   json_integer_value(json_object_get(reply, "waiting_approval")));
        } else if (strcmp(cmd, "status") != 0 && !list) {
            printf("%s: done; campaign is now %s\n", cmd, json_string_value(json_object_get(reply, "status")));
            s_print_not_reached(json_object_get(reply, "not_reached"));
        } else if (json) {
            char *js = json_dumps(reply, JSON_COMPACT);
            printf("%s\n", js);
            free(js);
        } else {
            if (watch)
                printf("\033[H\033[2J");     /* redraw in place */
            s_print_status(reply, all);
        }
        fflush(stdout);
        int ended = s_ended(json_string_value(json_object_get(reply, "status")));
        if (watch && json_is_string(json_object_get(reply, "hub")) &&
            json_is_string(json_object_get(reply, "campaign"))) {
            free(seen_hub);
            free(seen_campaign);
            seen_hub = strdup(json_string_value(json_object_get(reply, "hub")));
            seen_campaign = strdup(json_string_value(json_object_get(reply, "campaign")));
            seen_budget = json_integer_value(json_object_get(reply, "budget"));
        }
        json_decref(reply);
        if (!watch || ended)
            break;
        usleep(S_WATCH_MS * 1000);
    }
    json_decref(req);
    free(seen_hub);
    free(seen_campaign);
    if (kp)
        explicit_bzero(&keys, sizeof keys);
    lab_config_destroy(&cfg);
    return rc;
}
