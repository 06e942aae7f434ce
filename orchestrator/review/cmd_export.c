/* `labloop export`: take a campaign's data elsewhere — a table as CSV
 * (RFC 4180) or JSON lines, or a JSON-LD metadata document (schema.org
 * Dataset with PROV-O terms) — under the campaign's access policy.
 *
 * For: notebooks, data platforms, archives. The access class is honoured:
 * a closed campaign refuses to export unless --force, and a forced export
 * is recorded in the hub's audit table before any data is written. The
 * export-control flag is carried into every export (a column, a field, a
 * property). Not for: reports (report) or reading rows (hub_query.c).
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "orchestrator/review/export_tidy.h"
#include "orchestrator/hub/hub.h"
#include "orchestrator/review/review.h"
#include "orchestrator/review/review_args.h"
#include "orchestrator/review/review_pg.h"
#include "orchestrator/hub/hub_pg.h"

#include "common/banned.h"

static const char s_usage[] =
    "usage: labloop export HUB.db --format csv|jsonl|jsonld|ro-crate [-o FILE|DIR]\n"
    "                      [--table experiments|steps|events|devices] [--raw]\n"
    "                      [--campaign NAME] [--force] [--help]\n"
    "\n"
    "Export a campaign's data.\n"
    "  csv       tidy CSV (RFC 4180) for analysis: experiments (default) one row\n"
    "            per experiment, one column per parameter and objective with its\n"
    "            unit in the header (\"temperature [degC]\"), ISO 8601 UTC times,\n"
    "            campaign, status, origin, failure cause, the planner's reason;\n"
    "            steps one row per attempt, one column per parameter and value.\n"
    "            events and devices, or --raw: the hub's columns as in docs/DATA.md.\n"
    "  jsonl     one JSON object per row of a table, the hub's columns\n"
    "  jsonld    metadata: the campaign as a schema.org Dataset with PROV-O terms\n"
    "  ro-crate  an RO-Crate 1.1 directory (-o DIR, new): ro-crate-metadata.json,\n"
    "            experiments.csv, steps.csv, campaign.yaml and the artifacts\n"
    "Every export carries the export-control flag.\n"
    "\n"
    "  --format F       csv, jsonl, jsonld or ro-crate\n"
    "  -o, --output F   write to F (default: standard output; ro-crate: required)\n"
    "  --table T        experiments (default), steps, events or devices\n"
    "  --raw            csv in the hub's own layout (JSON columns as JSON text)\n"
    "  --campaign NAME  this campaign (default: the latest in the hub)\n"
    "  --force          export a campaign whose access class is closed; this is\n"
    "                   recorded (who, from where, what) in the hub's audit table\n"
    "  --help           this text\n"
    "\n"
    "example:\n"
    "  labloop export build/demo/campaign.db --format csv -o experiments.csv\n"
    "  labloop export build/demo/campaign.db --format ro-crate -o demo-crate\n"
    "  labloop export build/demo/campaign.db --format jsonld -o dataset.jsonld\n";

static int s_usage_error(const char *msg, const char *arg) { return lab_review_usage_error("export", msg, arg); }

typedef struct s_out {
    FILE *f;
    int export_control;
    int header_done;
    int csv;
} s_out;

/* ---- CSV in the hub's layout (--raw; RFC 4180: CRLF, quoting) ---- */

static int s_csv_row(size_t n, const char *const *names, const lab_hub_query_value *v, void *arg)
{
    s_out *o = arg;
    if (!o->header_done) {
        for (size_t i = 0; i < n; i++) {
            lab_export_csv_field(o->f, names[i]);
            fputc(',', o->f);
        }
        fputs("export_control\r\n", o->f);
        o->header_done = 1;
    }
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        switch (v[i].type) {
        case LAB_HUB_QUERY_NULL:
            break; /* empty field */
        case LAB_HUB_QUERY_INT:
            fprintf(o->f, "%lld", (long long)v[i].i);
            break;
        case LAB_HUB_QUERY_REAL:
            snprintf(buf, sizeof buf, "%.17g", v[i].d);
            fputs(buf, o->f);
            break;
        default:
            lab_export_csv_field(o->f, v[i].s);
            break;
        }
        fputc(',', o->f);
    }
    fprintf(o->f, "%d\r\n", o->export_control);
    return ferror(o->f) ? LAB_EIO : 0;
}

/* ---- JSON lines ---- */

static int s_jsonl_row(size_t n, const char *const *names, const lab_hub_query_value *v,
                       void *arg)
{
    s_out *o = arg;
    json_t *row = json_object();
    if (!row)
        return LAB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *j = NULL;
        switch (v[i].type) {
        case LAB_HUB_QUERY_NULL: j = json_null(); break;
        case LAB_HUB_QUERY_INT: j = json_integer((json_int_t)v[i].i); break;
        case LAB_HUB_QUERY_REAL: j = json_real(v[i].d); break;
        case LAB_HUB_QUERY_JSON:
            j = json_loads(v[i].s, JSON_DECODE_ANY, NULL);
            if (!j) /* the hub checks json_valid; keep odd text as text */
                j = json_string(v[i].s);
            break;
        default: j = json_string(v[i].s); break;
        }
        json_object_set_new(row, names[i], j ? j : json_null());
    }
    json_object_set_new(row, "export_control", json_boolean(o->export_control));
    int ret = json_dumpf(row, o->f, JSON_COMPACT | JSON_REAL_PRECISION(17)) == 0 ? 0 : LAB_EIO;
    json_decref(row);
    fputc('\n', o->f);
    return ret == 0 && !ferror(o->f) ? 0 : LAB_EIO;
}

/* ---- JSON-LD ---- */

static json_t *s_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* What a device is, in words: its driver says what stands behind it. */
static const char *s_device_description(const lab_review_device *d, char *buf, size_t n)
{
    const char *drv = d->driver && *d->driver ? d->driver : NULL;
    if (!drv)
        snprintf(buf, n, "lab device %s (its driver was not recorded)", d->name);
    else if (!strcmp(drv, "null"))
        snprintf(buf, n, "lab device %s with no instrument behind it (the null driver finishes each step "
                         "at once and echoes its numeric parameters as values)", d->name);
    else if (!strncmp(drv, "sim.", 4))
        snprintf(buf, n, "simulated lab device %s (driver %s: values come from a model, not a measurement)",
                 d->name, drv);
    else
        snprintf(buf, n, "lab device %s (driver %s), capacity %d", d->name, drv, d->capacity);
    return buf;
}

static json_t *s_jsonld(const lab_review *r)
{
    char t0[32], t1[32], tc[32], id[256], act[272];
    snprintf(id, sizeof id, "urn:labloop:campaign:%s:%s", r->c.name,
             r->c.config_sha256 ? r->c.config_sha256 : "unknown");
    snprintf(act, sizeof act, "%s:run", id);
    lab_review_iso_time(r->span_start_us, t0, sizeof t0);
    lab_review_iso_time(r->span_end_us, t1, sizeof t1);
    lab_review_iso_time(r->c.created_us, tc, sizeof tc);
    json_t *ctx = json_pack("{s:s, s:s, s:s, s:s}", "@vocab", "https://schema.org/", "schema",
                            "https://schema.org/", "prov", "http://www.w3.org/ns/prov#", "labloop",
                            "urn:labloop:terms#");
    json_t *creator = json_pack("{s:[s,s], s:o}", "@type", "Person", "prov:Agent", "name",
                                s_str(r->c.operator_name ? r->c.operator_name : "unknown"));
    json_t *vars = json_array();
    for (size_t i = 0; i < r->n_params; i++) {
        const lab_review_param *p = &r->params[i];
        json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "@type", "PropertyValue", "name", p->name,
                              "propertyID", "labloop:parameter", "description",
                              p->categorical ? "experiment parameter (categorical)"
                                             : "experiment parameter");
        if (p->unit)
            json_object_set_new(v, "unitText", json_string(p->unit));
        if (p->categorical) {
            json_t *ch = json_array();
            for (size_t k = 0; k < p->n_choices; k++)
                json_array_append_new(ch, json_string(p->choices[k]));
            json_object_set_new(v, "labloop:choices", ch);
        }
        json_array_append_new(vars, v);
    }
    for (size_t k = 0; k < r->n_objectives; k++) {
        const lab_review_objective *o = &r->objectives[k];
        json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "@type", "PropertyValue", "name", o->name,
                              "propertyID", "labloop:objective", "description",
                              o->maximize ? "measured objective (maximize)"
                                          : "measured objective (minimize)");
        if (o->unit)
            json_object_set_new(v, "unitText", json_string(o->unit));
        json_array_append_new(vars, v);
    }
    json_t *instruments = json_array();
    char desc_buf[256];
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        json_array_append_new(instruments,
                              json_pack("{s:[s,s], s:s, s:s, s:o, s:i}", "@type", "Thing", "prov:Entity",
                                        "name", d->name, "description", s_device_description(d, desc_buf,
                                                                                             sizeof desc_buf),
                                        "labloop:driver", s_str(d->driver), "labloop:capacity", d->capacity));
    }
    json_t *activity = json_pack(
        "{s:s, s:[s,s], s:s, s:s, s:s, s:o, s:o, s:{s:[s,s], s:s, s:o}, s:o, s:I, s:o}",
        "@id", act, "@type", "prov:Activity", "Action", "name", "labloop campaign",
        "prov:startedAtTime", t0, "prov:endedAtTime", t1, "actionStatus",
        json_string(strcmp(r->c.status, "completed") == 0 ? "CompletedActionStatus"
                    : strcmp(r->c.status, "running") == 0 ? "ActiveActionStatus"
                                                            : "FailedActionStatus"),
        "labloop:status", json_string(r->c.status), "prov:wasAssociatedWith", "@type",
        "SoftwareApplication", "prov:SoftwareAgent", "name", "labloop", "softwareVersion",
        s_str(r->c.version), "instrument", instruments, "labloop:seed", (json_int_t)r->c.seed,
        "labloop:configSha256", s_str(r->c.config_sha256));
    json_object_set_new(activity, "labloop:planner", s_str(r->c.planner));
    json_object_set_new(activity, "prov:used",
                        json_pack("{s:s, s:s, s:o, s:o}", "@type", "prov:Entity", "name",
                                  "campaign config", "labloop:path", s_str(r->c.config_path),
                                  "labloop:sha256", s_str(r->c.config_sha256)));
    const char *access = r->c.access;
    json_t *licence = strcmp(access, "open") == 0
                          ? json_string("https://creativecommons.org/licenses/by/4.0/")
                          : json_pack("{s:s, s:s}", "@type", "CreativeWork", "name",
                                      lab_review_licence(access));
    char desc[512];
    snprintf(desc, sizeof desc,
             "Closed-loop experiment campaign '%s' run by labloop: %lld experiments "
             "(%lld measured, %lld failed).",
             r->c.name, (long long)r->n.experiments, (long long)r->n.measured,
             (long long)r->n.failed);
    json_t *doc = json_pack(
        "{s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:s, s:b, s:o, s:s, s:b, s:s}",
        "@context", ctx, "@type", "Dataset", "@id", id, "name", r->c.name, "identifier", id,
        "description", desc, "creator", creator, "dateCreated", tc, "temporalCoverage", "",
        "variableMeasured", vars, "license", licence, "conditionsOfAccess",
        lab_review_licence(access), "isAccessibleForFree", strcmp(access, "open") == 0,
        "prov:wasGeneratedBy", activity, "labloop:accessClass", access,
        "labloop:exportControlled", r->c.export_control, "version", t1);
    if (!doc)
        return NULL;
    /* The data themselves: the tidy CSVs `labloop export --format csv` (and
     * the RO-Crate) write under these names. */
    json_t *dist = json_array();
    const char *files[][2] = {{"experiments.csv", "one row per experiment, units in the headers"},
                              {"steps.csv", "one row per step attempt"}};
    for (size_t i = 0; i < 2; i++) {
        char how[160];
        snprintf(how, sizeof how, "%s: %s (labloop export HUB --format csv%s)", files[i][0], files[i][1],
                 i ? " --table steps" : "");
        json_array_append_new(dist, json_pack("{s:s, s:s, s:s, s:s}", "@type", "DataDownload", "contentUrl",
                                              files[i][0], "encodingFormat", "text/csv", "description", how));
    }
    json_object_set_new(doc, "distribution", dist);
    char span[80];
    snprintf(span, sizeof span, "%s/%s", t0, t1);
    json_object_set_new(doc, "temporalCoverage", json_string(span));
    json_object_set_new(doc, "prov:wasAttributedTo", json_deep_copy(creator));
    json_object_set_new(doc, "size",
                        json_pack("{s:s, s:I, s:s}", "@type", "QuantitativeValue", "value",
                                  (json_int_t)r->n.experiments, "unitText", "experiments"));
    if (r->c.export_control)
        json_object_set_new(doc, "usageInfo",
                            json_string("export-controlled data: check export regulations "
                                        "before sharing outside the organisation"));
    return doc;
}

/* ---- access policy and audit ---- */

static void s_actor(char *buf, size_t n)
{
    const char *u = getenv("USER");
    struct passwd *pw = getpwuid(getuid());
    snprintf(buf, n, "%s", pw && pw->pw_name ? pw->pw_name : u ? u : "unknown");
}

/* Record the forced export in the hub's audit table and commit it; the
 * export goes ahead only when the record is durable. */
static int s_audit_forced(const char *db, const lab_review *r, const char *format,
                          const char *table, const char *out, lab_err *err)
{
    char actor[128], host[128] = "unknown", origin[192];
    s_actor(actor, sizeof actor);
    gethostname(host, sizeof host - 1);
    snprintf(origin, sizeof origin, "cli on %s", host);
    json_t *d = json_pack("{s:s, s:o, s:o, s:s, s:b}", "format", format, "table",
                          table ? json_string(table) : json_null(), "output",
                          json_string(out ? out : "-"), "access", r->c.access, "export_control",
                          r->c.export_control);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    lab_hub *h = lab_hub_open(db, err);
    int ret = h ? 0 : (err && err->code ? err->code : LAB_EDB);
    if (h) {
        ret = lab_hub_record_audit(h, r->c.id, lab_clock_wall_us(), actor, origin, "export",
                                   r->c.name, detail, "ok: forced export of a closed campaign");
        if (ret < 0)
            lab_err_set(err, ret, "%s", lab_hub_errmsg(h));
        else
            ret = lab_hub_commit(h, err);
        lab_hub_destroy(&h);
    }
    free(detail);
    if (ret < 0)
        lab_err_prefix(err, "cannot record the forced export in the audit table, so not "
                            "exporting: ");
    return ret;
}

/* ---- the command ---- */

static int s_export(lab_hub_query *q, const lab_review *r, const char *format, const char *table, int raw,
                    FILE *f, lab_err *err)
{
    s_out o = {.f = f, .export_control = r->c.export_control, .csv = strcmp(format, "csv") == 0};
    if (o.csv && !raw && (!table || !strcmp(table, "experiments"))) {
        int ret = lab_export_tidy_experiments(r, f);
        return ret < 0 ? lab_err_set(err, ret, "writing the export failed") : 0;
    }
    if (o.csv && !raw && !strcmp(table, "steps"))
        return lab_export_tidy_steps(q, r, f, err);
    if (strcmp(format, "jsonld") == 0) {
        json_t *doc = s_jsonld(r);
        if (!doc)
            return lab_err_set(err, LAB_ENOMEM, "building the JSON-LD document: out of memory");
        int ret = json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) == 0 ? 0 : LAB_EIO;
        json_decref(doc);
        fputc('\n', f);
        return ret < 0 ? lab_err_set(err, ret, "writing the JSON-LD document failed") : 0;
    }
    int ret = lab_hub_query_table(q, r->c.id, table ? table : "experiments",
                                  o.csv ? s_csv_row : s_jsonl_row, &o, err);
    if (ret == LAB_EIO)
        lab_err_set(err, ret, "writing the export failed");
    else if (ret == LAB_ENOMEM)
        lab_err_set(err, ret, "exporting: out of memory");
    return ret;
}

int lab_cmd_export(int argc, char **argv)
{
    const char *db = NULL, *format = NULL, *out = NULL, *table = NULL, *campaign = NULL;
    const char *lab = NULL;
    int force = 0, raw = 0;
    const lab_review_opt opts[] = {
        {.name = "--force", .flag = &force},
        {.name = "--raw", .flag = &raw},
        {.name = "--format", .value = &format, .needs = "csv, jsonl, jsonld or ro-crate"},
        {.name = "--output", .alias = "-o", .value = &out, .needs = "a file name"},
        {.name = "--table", .value = &table, .needs = "experiments, steps, events or devices"},
        {.name = "--campaign", .value = &campaign, .needs = "a campaign name"},
        {.name = "--lab", .value = &lab, .needs = "a lab's id"},
        {0},
    };
    int rc = lab_review_args("export", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!format)
        return s_usage_error("%s", "which format? --format csv, jsonl, jsonld or ro-crate");
    int crate = strcmp(format, "ro-crate") == 0;
    if (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0 &&
        strcmp(format, "jsonld") != 0 && !crate)
        return s_usage_error("unknown format '%s': choose csv, jsonl, jsonld or ro-crate", format);
    if (crate && (!out || !strcmp(out, "-")))
        return s_usage_error("%s", "--format ro-crate writes a directory: give it with -o DIR");
    if (crate && table)
        return s_usage_error("%s", "--table goes with csv or jsonl; an RO-Crate holds the experiments and steps");
    if (raw && strcmp(format, "csv") != 0)
        return s_usage_error("%s", "--raw goes with --format csv");
    if (table && strcmp(table, "experiments") != 0 && strcmp(table, "steps") != 0 &&
        strcmp(table, "events") != 0 && strcmp(table, "devices") != 0)
        return s_usage_error("unknown table '%s': choose experiments, steps, events or devices",
                             table);
    if (table && strcmp(format, "jsonld") == 0)
        return s_usage_error("%s", "--table goes with csv or jsonl; jsonld describes the campaign");

    lab_err err;
    lab_err_clear(&err);
    lab_hub_query *q = lab_review_open(db, lab, campaign, &err);
    lab_review *r = q ? lab_review_load(q, campaign, &err) : NULL;
    int ret = r ? 0 : -1;
    if (ret == 0 && strcmp(r->c.access, "closed") == 0) {
        /* A forced export is recorded in the lab's own hub, not the shared one. */
        if (!force || lab_hub_pg_is_url(db)) {
            fprintf(stderr,
                    "labloop export: campaign '%s' is closed (access: closed): its data may not "
                    "leave the hub. If you are entitled to it, --force exports anyway and "
                    "records who did it in the hub's audit table%s.\n",
                    r->c.name, lab_hub_pg_is_url(db) ? " (run it on the lab's own hub file)" : "");
            lab_review_destroy(&r);
            lab_hub_query_destroy(&q);
            return 1;
        }
        ret = s_audit_forced(db, r, format, table, out, &err);
        if (ret == 0)
            fprintf(stderr, "labloop export: campaign '%s' is closed; forced export recorded "
                            "in the audit table\n", r->c.name);
    }
    if (crate) {
        if (ret == 0 && (ret = lab_export_rocrate(q, r, out, &err)) == 0)
            fprintf(stderr, "labloop export: RO-Crate written to %s/ (ro-crate-metadata.json describes every file)\n",
                    out);
        lab_review_destroy(&r);
        lab_hub_query_destroy(&q);
        if (ret < 0) {
            fprintf(stderr, "labloop export: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    FILE *f = stdout;
    char *tmp = NULL;
    if (ret == 0 && out && strcmp(out, "-") != 0) {
        size_t n = strlen(out) + 24;
        tmp = malloc(n);
        if (tmp)
            snprintf(tmp, n, "%s.tmp%ld", out, (long)getpid());
        f = tmp ? fopen(tmp, "w") : NULL;
        if (!f)
            ret = lab_err_from_errno(&err, tmp ? errno : ENOMEM, out);
    }
    if (ret == 0)
        ret = s_export(q, r, format, table, raw, f, &err);
    if (f && f != stdout) {
        if (fclose(f) != 0 && ret == 0)
            ret = lab_err_from_errno(&err, errno, out);
        if (ret == 0 && rename(tmp, out) != 0)
            ret = lab_err_from_errno(&err, errno, out);
        if (ret < 0)
            unlink(tmp);
    } else if (ret == 0 && fflush(stdout) != 0) {
        ret = lab_err_set(&err, LAB_EIO, "writing the export to standard output failed");
    }
    free(tmp);
    lab_review_destroy(&r);
    lab_hub_query_destroy(&q);
    if (ret < 0) {
        fprintf(stderr, "labloop export: %s\n", err.msg);
        return 1;
    }
    return 0;
}
