/* The table of hub event kinds and the sentences `labloop log` prints for
 * them (see events.h). Every detail field is optional: a sentence prints
 * what is there and a placeholder for a missing name. */
#include "orchestrator/events.h"

#include <inttypes.h>
#include <string.h>

#include "common/banned.h"

/* ---- fields of a detail ---- */

const char *lab_event_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int lab_event_int(const json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);
    if (json_is_integer(j)) {
        *v = json_integer_value(j);
        return 1;
    }
    if (json_is_real(j)) {
        *v = (int64_t)json_real_value(j);
        return 1;
    }
    return 0;
}

static void s_value(FILE *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(out, "%g", json_real_value(v));
        break;
    case JSON_STRING:
        fputs(json_string_value(v), out);
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    case JSON_NULL:
        fputs("null", out);
        break;
    default:
        json_dumpf(v, out, JSON_COMPACT);
        break;
    }
}

/* "k=v k=v" for an object, in its order, each number followed by its unit
 * from units (may be NULL); anything else as a value. */
static void s_pairs(FILE *out, const json_t *o, const json_t *units)
{
    if (!json_is_object(o)) {
        s_value(out, o);
        return;
    }
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)o, k, v) {
        fprintf(out, "%s%s=", first ? "" : " ", k);
        s_value(out, v);
        const char *unit = json_string_value(json_object_get(units, k));
        if (unit && json_is_number(v))
            fprintf(out, " %s", unit);
        first = 0;
    }
}

/* ": k=v ..." when the object has members. */
static void s_colon_pairs(FILE *out, const json_t *o, const json_t *units)
{
    if (o && !(json_is_object(o) && json_object_size(o) == 0)) {
        fputs(": ", out);
        s_pairs(out, o, units);
    }
}

static void s_colon_str(FILE *out, const char *s)
{
    if (s && *s)
        fprintf(out, ": %s", s);
}

static const char *s_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* "experiment 4" or "experiment ?" */
static void s_experiment(FILE *out, const json_t *d)
{
    int64_t n;
    if (lab_event_int(d, "experiment", &n))
        fprintf(out, "experiment %" PRId64, n);
    else
        fputs("experiment ?", out);
}

/* "step heat of experiment 4" */
static void s_step(FILE *out, const json_t *d)
{
    fprintf(out, "step %s of ", s_or(lab_event_str(d, "step"), "?"));
    s_experiment(out, d);
}

/* ---- one sentence per kind ---- */

typedef struct s_ev {
    FILE *out;
    const lab_event_view *v;
    const char *kind, *subject;
    const json_t *d;
} s_ev;

/* The campaign an event is about: its subject, else the timeline's. */
static const char *s_campaign(const s_ev *e)
{
    return s_or(e->subject, s_or(e->v->campaign, "?"));
}

static const char *s_device(const s_ev *e)
{
    return s_or(lab_event_str(e->d, "device"), e->subject);
}

static void s_lab_started(const s_ev *e)
{
    int64_t n;
    fprintf(e->out, "lab %s started", s_or(lab_event_str(e->d, "lab"), s_or(e->subject, "?")));
    if (lab_event_int(e->d, "devices", &n))
        fprintf(e->out, " (%" PRId64 " devices)", n);
}

static void s_campaign_created(const s_ev *e)
{
    FILE *out = e->out;
    int64_t n;
    const char *name = s_or(lab_event_str(e->d, "name"), s_or(e->subject, e->v->campaign));
    fprintf(out, "campaign %s created", s_or(name, "?"));
    const char *sep = " (";
    if (lab_event_int(e->d, "seed", &n)) {
        fprintf(out, "%sseed %" PRId64, sep, n);
        sep = ", ";
    }
    if (lab_event_str(e->d, "planner")) {
        fprintf(out, "%splanner %s", sep, lab_event_str(e->d, "planner"));
        sep = ", ";
    }
    if (lab_event_int(e->d, "budget", &n)) {
        fprintf(out, "%sbudget %" PRId64, sep, n);
        sep = ", ";
    }
    if (sep[0] == ',')
        fputc(')', out);
}

static void s_campaign_submitted(const s_ev *e)
{
    fprintf(e->out, "campaign %s submitted to lab %s", s_campaign(e), s_or(lab_event_str(e->d, "lab"), "?"));
    if (lab_event_str(e->d, "by"))
        fprintf(e->out, " by %s", lab_event_str(e->d, "by"));
    json_t *w = json_object_get(e->d, "weight");
    if (json_is_number(w))
        fprintf(e->out, " (weight %g)", json_number_value(w));
}

static void s_campaign_status(const s_ev *e)
{
    FILE *out = e->out;
    const lab_event_view *v = e->v;
    const char *name = s_or(lab_event_str(e->d, "name"), s_or(e->subject, v->campaign));
    const char *status = s_or(lab_event_str(e->d, "status"), "changed status");
    fprintf(out, "campaign %s %s", s_or(name, "?"), status);
    if (lab_event_str(e->d, "by") && *lab_event_str(e->d, "by"))
        fprintf(out, " by %s", lab_event_str(e->d, "by"));
    /* Terminal states get the tally of the events seen so far. */
    int terminal = strcmp(status, "completed") == 0 || strcmp(status, "aborted") == 0 ||
                   strcmp(status, "exhausted") == 0 || strcmp(status, "halted") == 0;
    if (terminal)
        fprintf(out, ": %" PRId64 " experiments (%" PRId64 " measured, %" PRId64 " failed)", v->proposed,
                v->measured, v->failed);
    const char *reason = lab_event_str(e->d, "reason");
    if (reason && *reason)
        fprintf(out, "%s%s", terminal ? "; " : ": ", reason);
}

static void s_campaign_resumed(const s_ev *e)
{
    int64_t n;
    fprintf(e->out, "campaign %s resumed", s_campaign(e));
    if (lab_event_str(e->d, "status"))
        fprintf(e->out, " %s", lab_event_str(e->d, "status"));
    if (lab_event_int(e->d, "experiments", &n)) {
        fprintf(e->out, " after %" PRId64 " experiments", n);
        if (lab_event_int(e->d, "measured", &n))
            fprintf(e->out, " (%" PRId64 " measured)", n);
    }
    if (lab_event_int(e->d, "in_flight", &n) && n > 0)
        fprintf(e->out, ", %" PRId64 " in flight", n);
}

static void s_campaign_interrupted(const s_ev *e)
{
    int64_t n;
    fprintf(e->out, "campaign %s interrupted", s_campaign(e));
    if (lab_event_int(e->d, "signal", &n))
        fprintf(e->out, " by signal %" PRId64, n);
}

static void s_campaign_prior(const s_ev *e)
{
    int64_t n;
    fprintf(e->out, "campaign %s told", s_campaign(e));
    if (lab_event_int(e->d, "experiments", &n))
        fprintf(e->out, " %" PRId64, n);
    fputs(" earlier experiments", e->out);
    if (lab_event_int(e->d, "failed", &n) && n > 0)
        fprintf(e->out, " (%" PRId64 " failed)", n);
    if (lab_event_str(e->d, "source"))
        fprintf(e->out, " from %s", lab_event_str(e->d, "source"));
}

static void s_campaign_braked(const s_ev *e)
{
    int64_t n;
    fprintf(e->out, "campaign %s braked", s_campaign(e));
    if (lab_event_int(e->d, "failures", &n))
        fprintf(e->out, ": %" PRId64 " experiments in a row failed with the same cause", n);
    s_colon_str(e->out, lab_event_str(e->d, "cause"));
}

static void s_campaign_estop(const s_ev *e)
{
    fprintf(e->out, "campaign %s e-stopped", s_campaign(e));
    if (lab_event_str(e->d, "by") && *lab_event_str(e->d, "by"))
        fprintf(e->out, " by %s", lab_event_str(e->d, "by"));
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

static void s_campaign_extended(const s_ev *e)
{
    FILE *out = e->out;
    int64_t n;
    fprintf(out, "campaign %s extended", s_campaign(e));
    const char *sep = " by ";
    if (lab_event_int(e->d, "experiments", &n) && n > 0) {
        fprintf(out, "%s%" PRId64 " experiments", sep, n);
        sep = " and ";
    }
    json_t *h = json_object_get(e->d, "hours");
    if (json_is_number(h) && json_number_value(h) > 0)
        fprintf(out, "%s%g h", sep, json_number_value(h));
    if (lab_event_int(e->d, "budget", &n))
        fprintf(out, " (budget %" PRId64 ")", n);
    if (lab_event_str(e->d, "by"))
        fprintf(out, ", by %s", lab_event_str(e->d, "by"));
    s_colon_str(out, lab_event_str(e->d, "reason"));
}

static void s_device_ready(const s_ev *e)
{
    FILE *out = e->out;
    int64_t n;
    fprintf(out, "device %s ready", s_or(s_device(e), "?"));
    const char *sep = " (";
    if (lab_event_str(e->d, "driver")) {
        fprintf(out, "%s%s", sep, lab_event_str(e->d, "driver"));
        sep = ", ";
    }
    json_t *caps = json_object_get(e->d, "capabilities");
    if (json_is_array(caps) && json_array_size(caps) > 0) {
        fprintf(out, "%scapabilities: ", sep);
        size_t i;
        json_t *c;
        json_array_foreach(caps, i, c) {
            if (i > 0)
                fputs(", ", out);
            s_value(out, c);
        }
        sep = ", ";
    }
    if (lab_event_int(e->d, "capacity", &n)) {
        fprintf(out, "%scapacity %" PRId64, sep, n);
        sep = ", ";
    }
    if (sep[0] == ',')
        fputc(')', out);
}

static void s_device_lost(const s_ev *e)
{
    fprintf(e->out, "device %s lost", s_or(s_device(e), "?"));
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

static void s_device_refused(const s_ev *e)
{
    fprintf(e->out, "device %s refused", s_or(s_device(e), "?"));
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

static void s_device_exclusive(const s_ev *e)
{
    const char *camp = s_or(lab_event_str(e->d, "campaign"), "?");
    if (json_is_true(json_object_get(e->d, "held")))
        fprintf(e->out, "device %s held exclusively by campaign %s", s_or(s_device(e), "?"), camp);
    else
        fprintf(e->out, "device %s shared again (campaign %s ended)", s_or(s_device(e), "?"), camp);
}

static void s_security_refused(const s_ev *e)
{
    fprintf(e->out, "refused a %s", s_or(lab_event_str(e->d, "kind"), s_or(e->subject, "peer")));
    s_colon_str(e->out, lab_event_str(e->d, "detail"));
}

static void s_message_bad(const s_ev *e)
{
    fprintf(e->out, "bad message from %s", s_or(s_device(e), "unknown peer"));
    s_colon_str(e->out, lab_event_str(e->d, "error"));
}

static void s_experiment_proposed(const s_ev *e)
{
    s_experiment(e->out, e->d);
    fputs(" proposed", e->out);
    if (lab_event_str(e->d, "planner"))
        fprintf(e->out, " by %s", lab_event_str(e->d, "planner"));
    if (lab_event_str(e->d, "origin"))
        fprintf(e->out, " (%s)", lab_event_str(e->d, "origin"));
    s_colon_pairs(e->out, json_object_get(e->d, "params"), e->v->units);
    const char *reason = lab_event_str(e->d, "reason");
    if (reason && *reason)
        fprintf(e->out, " -- %s", reason);
    if (lab_event_str(e->d, "approval"))
        fputs("; waiting for approval", e->out);
}

/* "experiment 4 approved by alice", "experiment 5 rejected by bob: too hot" */
static void s_experiment_decided(const s_ev *e, const char *what)
{
    s_experiment(e->out, e->d);
    fprintf(e->out, " %s", what);
    if (lab_event_str(e->d, "by"))
        fprintf(e->out, " by %s", lab_event_str(e->d, "by"));
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

static void s_experiment_approved(const s_ev *e) { s_experiment_decided(e, "approved"); }
static void s_experiment_rejected(const s_ev *e) { s_experiment_decided(e, "rejected"); }

static void s_experiment_measured(const s_ev *e)
{
    s_experiment(e->out, e->d);
    fputs(" measured", e->out);
    s_colon_pairs(e->out, json_object_get(e->d, "objectives"), e->v->units);
}

static void s_experiment_failed(const s_ev *e)
{
    s_experiment(e->out, e->d);
    fputs(" failed", e->out);
    s_colon_str(e->out, lab_event_str(e->d, "error"));
}

static void s_experiment_cancelled(const s_ev *e)
{
    s_experiment(e->out, e->d);
    fputs(" cancelled", e->out);
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

static void s_step_dispatched(const s_ev *e)
{
    int64_t n;
    s_step(e->out, e->d);
    fprintf(e->out, " -> %s", s_or(lab_event_str(e->d, "device"), "?"));
    if (lab_event_str(e->d, "attempt"))
        fprintf(e->out, " (attempt %s)", lab_event_str(e->d, "attempt"));
    else if (lab_event_int(e->d, "attempt_no", &n))
        fprintf(e->out, " (attempt %" PRId64 ")", n);
}

static void s_step_done(const s_ev *e)
{
    s_step(e->out, e->d);
    fputs(" done", e->out);
    if (lab_event_str(e->d, "device"))
        fprintf(e->out, " on %s", lab_event_str(e->d, "device"));
    json_t *sec = json_object_get(e->d, "seconds");
    if (json_is_number(sec)) {
        double s = json_number_value(sec);
        fprintf(e->out, s < 10 ? " in %.2f s" : " in %.1f s", s);
    }
    s_colon_pairs(e->out, json_object_get(e->d, "values"), e->v->units);
}

static void s_step_failed(const s_ev *e)
{
    s_step(e->out, e->d);
    const char *status = lab_event_str(e->d, "status");
    fputs(" failed", e->out);
    if (status && strcmp(status, "failed") != 0)
        fprintf(e->out, " (%s)", status);
    if (lab_event_str(e->d, "device"))
        fprintf(e->out, " on %s", lab_event_str(e->d, "device"));
    s_colon_str(e->out, lab_event_str(e->d, "error"));
}

static void s_step_retry(const s_ev *e)
{
    int64_t n;
    s_step(e->out, e->d);
    fputs(" retried", e->out);
    if (lab_event_int(e->d, "attempt_no", &n))
        fprintf(e->out, " as attempt %" PRId64, n);
    s_colon_str(e->out, lab_event_str(e->d, "reason"));
}

/* ---- the table ---- */

static const struct {
    const char *name;
    const char *fields;
    void (*sentence)(const s_ev *e);
} s_kinds[LAB_EV_N] = {
    [LAB_EV_LAB_STARTED] = {LAB_EVN_LAB_STARTED,
                            "`lab`, `devices`, `run` (a lab service started; recorded with no campaign, as are its "
                            "devices' `device.*` events and refused peers: `labloop log` shows them in every "
                            "campaign's timeline, marked `[lab NAME]`)",
                            s_lab_started},
    [LAB_EV_CAMPAIGN_CREATED] = {"campaign.created", "`name`, `seed`, `planner`, `budget`, `config_sha256`",
                                 s_campaign_created},
    [LAB_EV_CAMPAIGN_SUBMITTED] = {LAB_EVN_CAMPAIGN_SUBMITTED, "`lab`, `weight`, `by`, `path` (handed to a lab service by `labloop submit`)",
                                   s_campaign_submitted},
    [LAB_EV_CAMPAIGN_STATUS] = {LAB_EVN_CAMPAIGN_STATUS,
                                "`status` (new campaign status), `reason`; a pause also `by` (who paused it: the "
                                "actor, or `labloop` for the failure brake) and, from the brake, `cause` and "
                                "`failures`; an end also `experiments`, `measured`, `failed`, `seconds`. `show`, "
                                "`status` and the dashboard take the reason of a paused campaign from its last such "
                                "event",
                                s_campaign_status},
    [LAB_EV_CAMPAIGN_RESUMED] = {"campaign.resumed",
                                 "`status`, `experiments`, `measured`, `in_flight` (a restart read the campaign back "
                                 "from the hub)",
                                 s_campaign_resumed},
    [LAB_EV_CAMPAIGN_INTERRUPTED] = {"campaign.interrupted",
                                     "`signal` (the orchestrator stopped on SIGINT/SIGTERM; the campaign stays "
                                     "resumable)",
                                     s_campaign_interrupted},
    [LAB_EV_CAMPAIGN_PRIOR] = {"campaign.prior", "`source`, `experiments`, `failed` (earlier experiments told to "
                                                 "the planner before its first ask)",
                               s_campaign_prior},
    [LAB_EV_CAMPAIGN_BRAKED] = {"campaign.braked",
                                "`cause` (the last failure's error), `failures` (in a row, same cause), `after` (the "
                                "config's `campaign.brake.after`); a `campaign.status` pause follows",
                                s_campaign_braked},
    [LAB_EV_CAMPAIGN_ESTOP] = {"campaign.estop", "`by` (OS user or device), `reason`", s_campaign_estop},
    [LAB_EV_CAMPAIGN_EXTENDED] = {LAB_EVN_CAMPAIGN_EXTENDED,
                                  "`experiments` (added), `hours` (added), `budget` (experiments, all told), `by`, "
                                  "`reason`, `deadline_us` (the new end of the time budget, when `hours` moved it), "
                                  "`ended` (the status, when the campaign had ended). The orchestrator adds these up "
                                  "when it resumes the campaign: they are its budget beyond the config's",
                                  s_campaign_extended},
    [LAB_EV_DEVICE_READY] = {"device.ready", "`device`, `driver`, `capabilities` (array), `capacity`, `version`",
                             s_device_ready},
    [LAB_EV_DEVICE_LOST] = {"device.lost", "`device`, `reason`", s_device_lost},
    [LAB_EV_DEVICE_REFUSED] = {"device.refused", "`device`, `reason`", s_device_refused},
    [LAB_EV_DEVICE_EXCLUSIVE] = {"device.exclusive",
                                 "`device`, `campaign`, `held` (true: the campaign took the device to itself as it "
                                 "became active, `campaign.exclusive`; false: shared again at its end)",
                                 s_device_exclusive},
    [LAB_EV_SECURITY_REFUSED] = {"security.refused",
                                 "`kind` (`connection`, `message` or `command`), `detail`; the subject is the kind. "
                                 "Only the refusals that were logged: a few per kind every 10 s, then one saying how "
                                 "many were not",
                                 s_security_refused},
    [LAB_EV_MESSAGE_BAD] = {"message.bad",
                            "`device` (if known), `error`; at most 10 rows per peer in 10 s, then one row with "
                            "`suppressed` (how many more were only counted)",
                            s_message_bad},
    [LAB_EV_EXPERIMENT_PROPOSED] = {LAB_EVN_EXPERIMENT_PROPOSED,
                                    "`experiment` (seq), `params` (object), `origin`, `planner`, `reason`; "
                                    "`approval: \"waiting\"` when it waits for an operator (`campaign.approve: each`)",
                                    s_experiment_proposed},
    [LAB_EV_EXPERIMENT_APPROVED] = {"experiment.approved",
                                    "`experiment`, `by` (the operator's key name, or OS user in plain mode); the "
                                    "experiment is `running` from here",
                                    s_experiment_approved},
    [LAB_EV_EXPERIMENT_REJECTED] = {"experiment.rejected",
                                    "`experiment`, `by`, `reason`; the experiment ends `rejected` and is told to the "
                                    "planner as a failed outcome",
                                    s_experiment_rejected},
    [LAB_EV_EXPERIMENT_MEASURED] = {LAB_EVN_EXPERIMENT_MEASURED, "`experiment`, `objectives` (object)",
                                    s_experiment_measured},
    [LAB_EV_EXPERIMENT_FAILED] = {"experiment.failed", "`experiment`, `error`", s_experiment_failed},
    [LAB_EV_EXPERIMENT_CANCELLED] = {"experiment.cancelled", "`experiment`, `reason` (abort; or the campaign ended while it waited for approval)",
                                     s_experiment_cancelled},
    [LAB_EV_STEP_DISPATCHED] = {LAB_EVN_STEP_DISPATCHED, "`attempt` (attempt id), `experiment`, `step`, `device`, "
                                                   "`attempt_no`",
                                s_step_dispatched},
    [LAB_EV_STEP_DONE] = {LAB_EVN_STEP_DONE, "`attempt`, `experiment`, `step`, `device`, `values` (object), `seconds`",
                          s_step_done},
    [LAB_EV_STEP_FAILED] = {"step.failed",
                            "`attempt`, `experiment`, `step`, `device`, `status` (`failed`, `timed_out`, `lost`), "
                            "`error`",
                            s_step_failed},
    [LAB_EV_STEP_RETRY] = {"step.retry",
                           "`attempt` (the new attempt id), `experiment`, `step`, `attempt_no`, `reason`, `after_s`",
                           s_step_retry},
};

const char *lab_event_name(lab_event_kind k)
{
    return k > LAB_EV_UNKNOWN && k < LAB_EV_N && s_kinds[k].name ? s_kinds[k].name : "unknown";
}

const char *lab_event_fields(lab_event_kind k)
{
    return k > LAB_EV_UNKNOWN && k < LAB_EV_N && s_kinds[k].fields ? s_kinds[k].fields : "";
}

lab_event_kind lab_event_parse(const char *name)
{
    if (!name)
        return LAB_EV_UNKNOWN;
    for (int k = LAB_EV_UNKNOWN + 1; k < LAB_EV_N; k++)
        if (s_kinds[k].name && strcmp(s_kinds[k].name, name) == 0)
            return (lab_event_kind)k;
    return LAB_EV_UNKNOWN;
}

void lab_event_sentence(FILE *out, const lab_event_view *v, const char *kind, const char *subject,
                        const json_t *detail, const char *detail_text)
{
    static const lab_event_view none = {0};
    s_ev e = {out, v ? v : &none, kind ? kind : "?", subject, detail};
    lab_event_kind k = lab_event_parse(kind);
    if (k != LAB_EV_UNKNOWN && s_kinds[k].sentence) {
        s_kinds[k].sentence(&e);
        return;
    }
    /* A kind this build does not know: all there is, as it is. */
    fputs(e.kind, out);
    if (subject)
        fprintf(out, " %s", subject);
    if (detail) {
        fputc(' ', out);
        json_dumpf(detail, out, JSON_COMPACT);
    } else if (detail_text) {
        fprintf(out, " %s", detail_text);
    }
}

void lab_event_print_kinds(FILE *out)
{
    fputs("| kind | detail |\n|---|---|\n", out);
    for (int k = LAB_EV_UNKNOWN + 1; k < LAB_EV_N; k++)
        fprintf(out, "| `%s` | %s |\n", s_kinds[k].name, s_kinds[k].fields);
}
