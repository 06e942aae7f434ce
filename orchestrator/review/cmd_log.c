/* `labloop log`: a campaign's timeline, read from the hub's events table,
 * as one readable sentence per event (or one JSON object per line).
 *
 * For: people and scripts looking at what happened, also while a campaign
 * runs (the hub is opened read-only; WAL lets it read beside the writer),
 * and following it live (--follow polls for events with larger ids).
 * Not for: writing anything, or reports and exports (other commands). The
 * sentences are for reading; scripts should use --json or SQL (docs/DATA.md).
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/clock.h"
#include "orchestrator/events.h"
#include "orchestrator/review/review.h"
#include "orchestrator/hub/hub.h" /* lab_hub_entry: one line of the timeline */
#include "orchestrator/hub/hub_query.h"
#include "orchestrator/review/review_args.h"
#include "orchestrator/review/review_pg.h"
#include "orchestrator/hub/hub_pg.h"

#include "common/text.h"
#include "common/banned.h"

static const char s_usage[] =
    "usage: labloop log HUB.db [--follow] [--experiment N] [--device D] [--since T]\n"
    "                   [--campaign NAME] [--lab LAB] [--json] [--help]\n"
    "       labloop log --kinds\n"
    "\n"
    "Print the timeline of the latest campaign in a hub, one event a line.\n"
    "HUB.db may also be a shared PostgreSQL hub, postgresql://USER@HOST/DB.\n"
    "\n"
    "  --campaign NAME  this campaign (default: the latest in the hub)\n"
    "  --lab LAB        (PostgreSQL hub) the campaign's lab, when labs share names\n"
    "  --follow, -f     then keep printing new events as the campaign writes them\n"
    "                   (polls every 200 ms) until it completes, is aborted or\n"
    "                   exhausted, or Ctrl-C; waits for a campaign if there is none\n"
    "  --experiment N   only events about experiment N\n"
    "  --device D       only events about device D\n"
    "  --since T        only events at or after T: an ISO time (2025-05-01T12:00:00Z,\n"
    "                   2025-05-01 12:00 in local time, 2025-05-01) or a time ago\n"
    "                   (90s, 10m, 2h, 1d)\n"
    "  --json           one JSON object per line: {t_us, time, kind, subject, detail}\n"
    "                   (time is ISO-8601 UTC; t_us microseconds since the epoch)\n"
    "  --kinds          print every event kind and its detail fields (markdown)\n"
    "  --help           this text\n"
    "\n"
    "Text lines start with the local time (HH:MM:SS.mmm). The hub may be read\n"
    "while a campaign is writing it.\n"
    "\n"
    "example:\n"
    "  labloop log runs/demo.db --experiment 4\n"
    "  labloop log runs/demo.db --follow --since 10m\n"
    "  labloop log runs/demo.db --json | jq -c 'select(.kind == \"step.failed\")'\n";

typedef struct s_walk {
    const lab_log_filter *f;
    FILE *out;
    char campaign[128];          /* name, from campaign.created */
    char lab[128];               /* a lab service's name, from lab.started */
    int lab_wide;                /* the event being printed is the lab's own (no campaign) */
    int64_t proposed, measured, failed;
    int64_t last_id;             /* largest event id seen (following) */
    json_t *units;               /* name -> unit of parameters, objectives and their step values */
} s_walk;

static const char *s_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* ---- the walk ---- */

static int s_keep(const lab_log_filter *f, const lab_hub_entry *e, const json_t *d)
{
    if (!f)
        return 1;
    if (f->experiment > 0) {
        int64_t n;
        if (!lab_event_int(d, "experiment", &n) || n != f->experiment)
            return 0;
    }
    if (f->device) {
        const char *dev = lab_event_str(d, "device");
        if (!(dev && strcmp(dev, f->device) == 0) &&
            !(e->subject && strcmp(e->subject, f->device) == 0))
            return 0;
    }
    if (f->since_us > 0 && e->t_us < f->since_us)
        return 0;
    return 1;
}

static void s_tally(s_walk *w, const lab_hub_entry *e, const json_t *d)
{
    if (!e->kind)
        return;
    switch (lab_event_parse(e->kind)) {
    case LAB_EV_CAMPAIGN_CREATED: {
        const char *name = s_or(lab_event_str(d, "name"), e->subject);
        if (name)
            snprintf(w->campaign, sizeof w->campaign, "%s", name);
        break;
    }
    case LAB_EV_EXPERIMENT_PROPOSED:
        w->proposed++;
        break;
    case LAB_EV_EXPERIMENT_MEASURED:
        w->measured++;
        break;
    case LAB_EV_EXPERIMENT_FAILED:
        w->failed++;
        break;
    default:
        break;
    }
}

static void s_print_json(s_walk *w, const lab_hub_entry *e, json_t *d)
{
    time_t sec = (time_t)(e->t_us / 1000000);
    int64_t us = e->t_us % 1000000;
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    struct tm tm;
    char date[32] = "?", iso[48];
    if (gmtime_r(&sec, &tm))
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso, sizeof iso, "%s.%06" PRId64 "Z", date, us);

    json_t *o = json_object();
    json_object_set_new(o, "t_us", json_integer(e->t_us));
    json_object_set_new(o, "time", json_string(iso));
    json_object_set_new(o, "kind", e->kind ? json_string(e->kind) : json_null());
    json_object_set_new(o, "subject", e->subject ? json_string(e->subject) : json_null());
    if (w->lab_wide)             /* the lab's own event (no campaign) */
        json_object_set_new(o, "lab", json_string(w->lab));
    if (d)
        json_object_set(o, "detail", d);
    else if (e->detail_json) /* not JSON after all: keep it as text */
        json_object_set_new(o, "detail", json_string(e->detail_json));
    else
        json_object_set_new(o, "detail", json_null());
    json_dumpf(o, w->out, JSON_COMPACT);
    fputc('\n', w->out);
    json_decref(o);
}

static void s_print_text(s_walk *w, const lab_hub_entry *e, const json_t *d)
{
    time_t sec = (time_t)(e->t_us / 1000000);
    int64_t us = e->t_us % 1000000;
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    struct tm tm;
    char when[40] = "(no time)", zone[8] = "";
    if (localtime_r(&sec, &tm)) {
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        strftime(zone, sizeof zone, "%z", &tm);
    }
    /* Date, local time and its UTC offset: lines stay unambiguous when a
     * campaign runs past midnight or is read in another time zone. */
    fprintf(w->out, "%s.%03" PRId64 "%s  ", when, us / 1000, zone);
    if (w->lab_wide)             /* a lab service's own event, in every campaign's timeline */
        fprintf(w->out, w->lab[0] ? "[lab %s] " : "[lab%s] ", w->lab);
    /* The sentence holds text from devices (errors, values): it is written
     * to the terminal only without control characters. */
    char *text = NULL;
    size_t len = 0;
    FILE *out = w->out, *m = open_memstream(&text, &len);
    if (!m) {
        fputs("(out of memory)\n", out);
        return;
    }
    lab_event_view v = {w->campaign[0] ? w->campaign : NULL, w->proposed, w->measured, w->failed, w->units};
    lab_event_sentence(m, &v, e->kind, e->subject, d, e->detail_json);
    fclose(m);
    lab_text_clean(text, len + 1, text);
    fputs(text, out);
    free(text);
    fputc('\n', out);
}

static int s_on_event(const lab_hub_query_event *qe, void *arg)
{
    s_walk *w = arg;
    if (qe->id > w->last_id)
        w->last_id = qe->id;
    const lab_hub_entry ent = {qe->t_us, qe->kind, qe->subject, qe->detail_json};
    const lab_hub_entry *e = &ent;
    json_t *d = NULL;
    if (e->detail_json)
        d = json_loads(e->detail_json, JSON_DECODE_ANY, NULL);
    w->lab_wide = qe->lab_wide;
    if (qe->lab_wide && lab_event_parse(e->kind) == LAB_EV_LAB_STARTED && e->subject)
        snprintf(w->lab, sizeof w->lab, "%s", e->subject);
    s_tally(w, e, d);
    if (s_keep(w->f, e, d)) {
        if (w->f && w->f->json)
            s_print_json(w, e, d);
        else
            s_print_text(w, e, d);
    }
    json_decref(d);
    return ferror(w->out) ? LAB_EIO : 0;
}

/* Wait up to ms for SIGINT/SIGTERM (blocked by the caller): 1 if one came. */
static int s_wait_signal(const sigset_t *set, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    int sig;
    do
        sig = sigtimedwait(set, NULL, &ts);
    while (sig < 0 && errno == EINTR);
    return sig > 0;
}

static int s_ended(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "aborted") == 0 ||
           strcmp(status, "exhausted") == 0;
}

static int s_follow(lab_hub_query *q, const char *db, lab_hub_query_campaign *c, s_walk *w,
                    lab_hub_query_event_filter *qf, lab_err *err)
{
    const lab_log_filter *f = w->f;
    int ms = f->follow_poll_ms > 0 ? f->follow_poll_ms : 200;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int ret = 0;
    /* A hub with no campaign yet: wait for one. */
    while (c->id == 0 && ret == 0) {
        if (s_wait_signal(&set, ms))
            goto done;
        ret = lab_hub_query_campaign_get(q, NULL, c, err);
        if (ret == LAB_ENOTFOUND) {
            lab_err_clear(err);
            ret = 0;
        }
    }
    qf->campaign = c->id;
    qf->campaign_name = c->name;
    if (ret == 0 && w->last_id == 0) /* first walk of a new campaign */
        ret = lab_hub_query_events(q, qf, s_on_event, w, err);
    while (ret == 0) {
        char status[32] = "";
        if ((ret = lab_hub_query_campaign_status(q, c->id, status, sizeof status, err)) < 0)
            break;
        /* Read the status first: events committed with the final status are
         * then picked up by this last walk. */
        qf->after_id = w->last_id;
        if ((ret = lab_hub_query_events(q, qf, s_on_event, w, err)) != 0)
            break;
        if (fflush(w->out) != 0) {
            ret = lab_err_from_errno(err, errno, "writing the timeline");
            break;
        }
        if (s_ended(status) || s_wait_signal(&set, ms))
            break;
    }
done:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)db;
    return ret;
}

/* A filter that names no device or experiment of the campaign is a
 * mistake (a typo, the wrong hub), not an empty timeline: say which. A
 * followed campaign may still get them, so following skips this. */
static int s_check_filters(lab_hub_query *q, const lab_hub_query_campaign *c, const lab_log_filter *f,
                           lab_err *err)
{
    if (!f)
        return 0;
    if (f->device) {
        int known = 0;
        int ret = lab_hub_query_device_known(q, c->id, f->device, &known, err);
        if (ret < 0)
            return ret;
        if (!known)
            return lab_err_set(err, LAB_ENOTFOUND, "campaign %s has no device '%s' (labloop show lists its devices)",
                               c->name, f->device);
    }
    if (f->experiment > 0) {
        int64_t first = 0, last = 0;
        int known = 0;
        int ret = lab_hub_query_experiment_known(q, c->id, c->name, f->experiment, &known, &first, &last, err);
        if (ret < 0)
            return ret;
        if (!known && last == 0)
            return lab_err_set(err, LAB_ENOTFOUND, "campaign %s has no experiment %lld (it has none yet)",
                               c->name, (long long)f->experiment);
        if (!known)
            return lab_err_set(err, LAB_ENOTFOUND, "campaign %s has no experiment %lld (it has %lld to %lld)",
                               c->name, (long long)f->experiment, (long long)first, (long long)last);
    }
    return 0;
}

int lab_log_print(const char *db, const lab_log_filter *f, FILE *out, lab_err *err)
{
    /* One experiment's timeline, not followed and not narrowed to a device
     * (whose check reads all events): from a PostgreSQL hub only that
     * experiment's events are copied. */
    lab_review_need need = {0};
    if (f && f->experiment > 0 && !f->device && !f->follow)
        need.experiment = f->experiment;
    lab_hub_query *q = lab_review_open_for(db, f ? f->lab : NULL, f ? f->campaign : NULL, &need,
                                           err);
    if (!q)
        return err ? err->code : LAB_EDB;
    s_walk w = { .f = f, .out = out };
    lab_hub_query_campaign c;
    int ret = lab_hub_query_campaign_get(q, f ? f->campaign : NULL, &c, err);
    int follow = f && f->follow;
    lab_hub_query_event_filter qf = {
        .campaign = c.id,
        .campaign_name = c.name,
        /* Narrow in SQL only where it pays (experiment: the campaign index);
         * the other filters run in s_keep so the end-of-campaign tally still
         * counts every event. */
        .experiment = f ? f->experiment : 0,
        .id_order = follow,
    };
    if (ret == 0)
        w.units = lab_review_units(&c);
    if (ret == 0 && !follow)
        ret = s_check_filters(q, &c, f, err);
    if (ret == LAB_ENOTFOUND && follow) {
        lab_err_clear(err);
        ret = 0;
    } else if (ret == 0) {
        ret = lab_hub_query_events(q, &qf, s_on_event, &w, err);
    }
    if (ret == 0 && follow)
        ret = s_follow(q, db, &c, &w, &qf, err);
    if (ret == LAB_EIO)
        lab_err_set(err, LAB_EIO, "writing the timeline failed");
    else if (ret == LAB_ENOTFOUND && !strstr(err->msg, " has no "))
        lab_err_prefix(err, "nothing to show: ");
    json_decref(w.units);
    lab_hub_query_campaign_release(&c);
    lab_hub_query_destroy(&q);
    if (ret == 0 && fflush(out) != 0)
        ret = lab_err_from_errno(err, errno, "writing the timeline");
    return ret;
}

/* --since: an ISO-8601 time (UTC with Z or an offset, else local) or a
 * duration ago ("90s", "10m", "2h", "1d"). */
static int s_parse_since(const char *v, int64_t now_us, int64_t *t_us)
{
    char *end = NULL;
    double n = strtod(v, &end);
    if (end != v && isfinite(n) && n >= 0 && end[0] && !end[1] && strchr("smhd", end[0]) &&
        !strchr(v, '-') && !strchr(v, ':')) {
        double mul = end[0] == 's' ? 1 : end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : 86400;
        *t_us = now_us - (int64_t)(n * mul * 1e6);
        return 0;
    }
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, consumed = 0;
    double sec = 0;
    if (sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3)
        return LAB_EINVAL;
    const char *p = v + consumed;
    if (*p == 'T' || *p == ' ') {
        int c2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &c2) != 2)
            return LAB_EINVAL;
        p += 1 + c2;
        if (*p == ':') {
            char *e2;
            sec = strtod(p + 1, &e2);
            if (e2 == p + 1)
                return LAB_EINVAL;
            p = e2;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
        return LAB_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = 0;
    time_t t;
    if (*p == 'Z' && !p[1]) {
        t = timegm(&tm);
    } else if ((*p == '+' || *p == '-') && strlen(p) >= 3) {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1 && sscanf(p + 1, "%2d%2d", &oh, &om) < 1)
            return LAB_EINVAL;
        t = timegm(&tm) - (*p == '+' ? 1 : -1) * (time_t)(oh * 3600 + om * 60);
    } else if (!*p) {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    } else {
        return LAB_EINVAL;
    }
    if (t == (time_t)-1)
        return LAB_EINVAL;
    *t_us = (int64_t)t * 1000000 + (int64_t)(sec * 1e6);
    return 0;
}

static int s_usage_error(const char *fmt, const char *arg) { return lab_review_usage_error("log", fmt, arg); }

int lab_cmd_log(int argc, char **argv)
{
    lab_log_filter f = { 0 };
    const char *db = NULL, *since = NULL, *experiment = NULL;
    if (argc == 2 && strcmp(argv[1], "--kinds") == 0) {
        lab_event_print_kinds(stdout);
        return 0;
    }
    const lab_review_opt opts[] = {
        {.name = "--json", .flag = &f.json},
        {.name = "--follow", .alias = "-f", .flag = &f.follow},
        {.name = "--since", .value = &since, .needs = "a time (2025-05-01T12:00:00Z) or an age (10m)"},
        {.name = "--experiment", .value = &experiment, .needs = "an experiment number"},
        {.name = "--device", .value = &f.device, .needs = "a device name"},
        {.name = "--campaign", .value = &f.campaign, .needs = "a campaign name"},
        {.name = "--lab", .value = &f.lab, .needs = "a lab's id"},
        {0},
    };
    int rc = lab_review_args("log", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (f.follow && lab_hub_pg_is_url(db))
        return s_usage_error("--follow reads a lab's own hub file; '%s' is a PostgreSQL hub", db);
    if (since && s_parse_since(since, lab_clock_wall_us(), &f.since_us) < 0)
        return s_usage_error("--since wants an ISO time such as 2025-05-01T12:00:00Z or "
                             "an age such as 90s, 10m, 2h, 1d; not '%s'", since);
    if (experiment) {
        char *end = NULL;
        long long n = strtoll(experiment, &end, 10);
        if (*end || n <= 0)
            return s_usage_error("--experiment wants a number 1, 2, ..., not '%s'", experiment);
        f.experiment = n;
    }
    lab_err err;
    lab_err_clear(&err);
    if (lab_log_print(db, &f, stdout, &err) < 0) {
        fprintf(stderr, "labloop log: %s\n", err.msg);
        return 1;
    }
    return 0;
}
