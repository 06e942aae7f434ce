/* The one table of hub event kinds: each kind's name as written in the
 * hub's events table, the fields of its detail, and the sentence
 * `labloop log` prints for it.
 *
 * Emitters name a kind by its enum value (lab_event_name gives the text
 * written to the hub); readers turn the text read back into the enum with
 * lab_event_parse and print it with lab_event_sentence. A kind this build
 * does not know (written by a newer labloop, or an old one's kind since
 * dropped) parses as LAB_EV_UNKNOWN and still prints: its name, subject and
 * detail. docs/DATA.md lists the same kinds (labloop log --kinds prints them).
 * Not for: writing the hub (hub.c) or choosing what a notification says
 * (notify.c maps kinds to its own).
 */
#ifndef LAB_EVENTS_H
#define LAB_EVENTS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

typedef enum {
    LAB_EV_UNKNOWN = 0,          /* read from a hub, not in this table */
    LAB_EV_LAB_STARTED,
    LAB_EV_CAMPAIGN_CREATED,
    LAB_EV_CAMPAIGN_SUBMITTED,
    LAB_EV_CAMPAIGN_STATUS,
    LAB_EV_CAMPAIGN_RESUMED,
    LAB_EV_CAMPAIGN_INTERRUPTED,
    LAB_EV_CAMPAIGN_PRIOR,
    LAB_EV_CAMPAIGN_BRAKED,
    LAB_EV_CAMPAIGN_ESTOP,
    LAB_EV_CAMPAIGN_EXTENDED,
    LAB_EV_DEVICE_READY,
    LAB_EV_DEVICE_LOST,
    LAB_EV_DEVICE_REFUSED,
    LAB_EV_DEVICE_EXCLUSIVE,
    LAB_EV_SECURITY_REFUSED,
    LAB_EV_MESSAGE_BAD,
    LAB_EV_EXPERIMENT_PROPOSED,
    LAB_EV_EXPERIMENT_APPROVED,
    LAB_EV_EXPERIMENT_REJECTED,
    LAB_EV_EXPERIMENT_MEASURED,
    LAB_EV_EXPERIMENT_FAILED,
    LAB_EV_EXPERIMENT_CANCELLED,
    LAB_EV_STEP_DISPATCHED,
    LAB_EV_STEP_DONE,
    LAB_EV_STEP_FAILED,
    LAB_EV_STEP_RETRY,
    LAB_EV_N                     /* count; not a kind */
} lab_event_kind;

/* The names SQL text selects by, as string literals ("kind = '"
 * LAB_EVN_CAMPAIGN_STATUS "'"); the table uses the same. */
#define LAB_EVN_LAB_STARTED "lab.started"
#define LAB_EVN_CAMPAIGN_SUBMITTED "campaign.submitted"
#define LAB_EVN_CAMPAIGN_STATUS "campaign.status"
#define LAB_EVN_CAMPAIGN_EXTENDED "campaign.extended"
#define LAB_EVN_EXPERIMENT_PROPOSED "experiment.proposed"
#define LAB_EVN_EXPERIMENT_MEASURED "experiment.measured"
#define LAB_EVN_STEP_DISPATCHED "step.dispatched"
#define LAB_EVN_STEP_DONE "step.done"

/* The four events of every experiment's way (proposed, each step
 * dispatched and done, measured) are written without a detail: what it
 * would say is in the experiment's or the attempt's row, written in the
 * same commit, and writing it twice cost a third of the orchestrator's
 * instructions per step. Readers select an event's detail with this
 * expression over `events e`: the stored detail when there is one (every
 * other kind, a proposal waiting for approval, and all rows of hubs written
 * before schema version 3), else the same JSON object built from the row.
 * It names the tables steps, experiments and events (as e) of the hub's
 * main schema. Hubs keep it in their view event_log as it was when they
 * were migrated: a change to it needs a migration that drops and creates
 * that view again. It uses no SQL newer than SQLite 3.9 (no ->>), so that
 * an older SQLite can still read the hub's schema. */
#define LAB_EVENT_DETAIL_SQL                                                                      \
    "(CASE WHEN e.detail IS NOT NULL THEN e.detail"                                               \
    " WHEN e.kind IN ('" LAB_EVN_STEP_DISPATCHED "', '" LAB_EVN_STEP_DONE "') THEN"               \
    " (SELECT CASE e.kind WHEN '" LAB_EVN_STEP_DISPATCHED "' THEN"                                \
    " json_object('attempt', s.attempt_id, 'experiment', s.experiment, 'step', s.step,"           \
    " 'device', s.device, 'attempt_no', s.attempt)"                                               \
    " ELSE json_object('attempt', s.attempt_id, 'experiment', s.experiment, 'step', s.step,"      \
    " 'device', s.device, 'values', json(s.result),"                                              \
    " 'seconds', (s.finished_us - s.started_us) / 1e6) END"                                       \
    " FROM steps s WHERE s.attempt_id = e.subject)"                                               \
    " WHEN e.kind IN ('" LAB_EVN_EXPERIMENT_PROPOSED "', '" LAB_EVN_EXPERIMENT_MEASURED "') THEN" \
    " (SELECT CASE e.kind WHEN '" LAB_EVN_EXPERIMENT_PROPOSED "' THEN"                            \
    " json_object('experiment', x.seq, 'params', json(x.params), 'origin', x.origin,"             \
    " 'planner', json_extract(x.provenance, '$.planner'),"                                        \
    " 'reason', json_extract(x.provenance, '$.reason'))"                                          \
    " ELSE json_object('experiment', x.seq, 'objectives', json(x.objectives)) END"                \
    " FROM experiments x WHERE x.campaign = e.campaign"                                           \
    " AND x.seq = CAST(substr(e.subject, instr(e.subject, '/') + 1) AS INTEGER))"                 \
    " END)"

/* The kind's name ("step.done"); "unknown" for LAB_EV_UNKNOWN or out of range. */
const char *lab_event_name(lab_event_kind k);
/* The kind named name, or LAB_EV_UNKNOWN (also for NULL). */
lab_event_kind lab_event_parse(const char *name);
/* The detail fields of k as documented ("device, reason"); "" for unknown. */
const char *lab_event_fields(lab_event_kind k);

/* A field of a detail, every one optional: the string at key, or NULL; an
 * integer (a real is cut) into *v, 1 when there is one, else 0. */
const char *lab_event_str(const json_t *detail, const char *key);
int lab_event_int(const json_t *detail, const char *key, int64_t *v);

/* What a sentence may use beside the event itself: the timeline so far. */
typedef struct lab_event_view {
    const char *campaign;          /* the campaign's name, or NULL */
    int64_t proposed, measured, failed; /* experiments seen so far (a terminal status prints them) */
    const json_t *units;           /* name -> unit of parameters, objectives and values; may be NULL */
} lab_event_view;

/* Print the sentence for one event (no time, no newline) to out. kind is
 * the text read from the hub (may be NULL or unknown); detail its parsed
 * JSON (may be NULL), detail_text the raw text (printed when it did not
 * parse). The sentence may hold text from devices: clean it before a
 * terminal (lab_text_clean). */
void lab_event_sentence(FILE *out, const lab_event_view *v, const char *kind, const char *subject,
                        const json_t *detail, const char *detail_text);

/* The table as markdown: kind, fields (docs/DATA.md). */
void lab_event_print_kinds(FILE *out);

#endif
