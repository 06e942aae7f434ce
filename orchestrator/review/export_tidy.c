/* Tidy CSV exports and the RO-Crate directory (see export_tidy.h).
 *
 * Tidy means what analysis tools expect: one row per observation, one
 * column per variable, plain values in cells (no JSON), the unit in the
 * column's header, times as ISO 8601 UTC. pandas reads the files with
 * read_csv and nothing else.
 */
#include "orchestrator/review/export_tidy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/banned.h"

void lab_export_csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

const char *lab_export_iso_ms(int64_t t_us, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (t_us <= 0)
        return buf;
    time_t sec = (time_t)(t_us / 1000000);
    struct tm tm;
    char date[32];
    if (gmtime_r(&sec, &tm) && strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) > 0)
        snprintf(buf, n, "%s.%03dZ", date, (int)((t_us % 1000000) / 1000));
    return buf;
}

/* "name [unit]" or "name" as a header field. */
static void s_head(FILE *f, const char *name, const char *unit)
{
    char buf[512];
    if (unit && *unit)
        snprintf(buf, sizeof buf, "%s [%s]", name, unit);
    else
        snprintf(buf, sizeof buf, "%s", name);
    lab_export_csv_field(f, buf);
}

/* A JSON value as one field: numbers exactly (17 digits), text as text,
 * anything else as compact JSON; NULL/absent empty. */
static void s_value(FILE *f, const json_t *v)
{
    char buf[64];
    if (!v || json_is_null(v))
        return;
    if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        fputs(buf, f);
    } else if (json_is_string(v)) {
        lab_export_csv_field(f, json_string_value(v));
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", f);
    } else {
        char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        lab_export_csv_field(f, js);
        free(js);
    }
}

static void s_real(FILE *f, double d)
{
    char buf[64];
    if (isfinite(d)) {
        snprintf(buf, sizeof buf, "%.17g", d);
        fputs(buf, f);
    }
}

int lab_export_tidy_experiments(const lab_review *r, FILE *f)
{
    fputs("campaign,campaign_status,experiment,status,origin,proposed_at,finished_at", f);
    for (size_t i = 0; i < r->n_params; i++) {
        fputc(',', f);
        s_head(f, r->params[i].name, r->params[i].unit);
    }
    for (size_t k = 0; k < r->n_objectives; k++) {
        fputc(',', f);
        s_head(f, r->objectives[k].name, r->objectives[k].unit);
    }
    fputs(",failure_cause,planner,planner_reason,acquisition_value,predicted_mean,predicted_sd", f);
    /* Each objective's prediction in its units, where the planner stored
     * one ("predicted": {name: {mean, sd}}). */
    for (size_t k = 0; k < r->n_objectives; k++) {
        char name[300];
        snprintf(name, sizeof name, "predicted %s", r->objectives[k].name);
        fputc(',', f);
        s_head(f, name, r->objectives[k].unit);
        snprintf(name, sizeof name, "predicted %s sd", r->objectives[k].name);
        fputc(',', f);
        s_head(f, name, r->objectives[k].unit);
    }
    fputs(",export_control\r\n", f);
    char t[40];
    for (size_t e = 0; e < r->n_exps; e++) {
        const lab_review_exp *x = &r->exps[e];
        lab_export_csv_field(f, r->c.name);
        fputc(',', f);
        lab_export_csv_field(f, r->c.status);
        fprintf(f, ",%lld,", (long long)x->seq);
        lab_export_csv_field(f, x->status);
        fputc(',', f);
        lab_export_csv_field(f, x->origin);
        fprintf(f, ",%s", lab_export_iso_ms(x->proposed_us, t, sizeof t));
        fprintf(f, ",%s", lab_export_iso_ms(x->finished_us, t, sizeof t));
        for (size_t i = 0; i < r->n_params; i++) {
            fputc(',', f);
            s_value(f, json_object_get(x->params, r->params[i].name));
        }
        for (size_t k = 0; k < r->n_objectives; k++) {
            fputc(',', f);
            s_real(f, x->y[k]);
        }
        fputc(',', f);
        lab_export_csv_field(f, x->error);
        const json_t *p = x->provenance;
        fputc(',', f);
        s_value(f, json_object_get(p, "planner"));
        fputc(',', f);
        s_value(f, json_object_get(p, "reason"));
        const char *num[] = {"acquisition", "predicted_mean", "predicted_sd"};
        for (size_t i = 0; i < 3; i++) {
            fputc(',', f);
            const json_t *v = json_object_get(p, num[i]);
            if (json_is_number(v))
                s_real(f, json_number_value(v));
        }
        for (size_t k = 0; k < r->n_objectives; k++) {
            const json_t *pk = json_object_get(json_object_get(p, "predicted"), r->objectives[k].name);
            fputc(',', f);
            if (json_is_number(json_object_get(pk, "mean")))
                s_real(f, json_number_value(json_object_get(pk, "mean")));
            fputc(',', f);
            if (json_is_number(json_object_get(pk, "sd")))
                s_real(f, json_number_value(json_object_get(pk, "sd")));
        }
        fprintf(f, ",%d\r\n", r->c.export_control);
    }
    return ferror(f) ? LAB_EIO : 0;
}

/* ---- steps: rows kept in memory, then written with the union of keys ---- */

typedef struct s_steps {
    json_t *rows;                /* array of objects: the hub's columns */
    json_t *param_keys, *value_keys; /* arrays of names, first-seen order */
} s_steps;

static void s_add_keys(json_t *keys, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i;
        json_t *have;
        int found = 0;
        json_array_foreach(keys, i, have)
            found |= !strcmp(json_string_value(have), k);
        if (!found)
            json_array_append_new(keys, json_string(k));
    }
}

static int s_on_step_row(size_t n, const char *const *names, const lab_hub_query_value *v, void *arg)
{
    s_steps *s = arg;
    json_t *row = json_object();
    if (!row)
        return LAB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *j = NULL;
        switch (v[i].type) {
        case LAB_HUB_QUERY_INT: j = json_integer((json_int_t)v[i].i); break;
        case LAB_HUB_QUERY_REAL: j = json_real(v[i].d); break;
        case LAB_HUB_QUERY_JSON: j = json_loads(v[i].s, JSON_DECODE_ANY, NULL); break;
        case LAB_HUB_QUERY_TEXT: j = json_string(v[i].s); break;
        default: break;
        }
        if (j)
            json_object_set_new(row, names[i], j);
    }
    if (json_is_object(json_object_get(row, "params")))
        s_add_keys(s->param_keys, json_object_get(row, "params"));
    if (json_is_object(json_object_get(row, "result")))
        s_add_keys(s->value_keys, json_object_get(row, "result"));
    return json_array_append_new(s->rows, row) == 0 ? 0 : LAB_ENOMEM;
}

static int64_t s_int(const json_t *row, const char *k)
{
    return json_integer_value(json_object_get(row, k));
}

/* The fixed columns; a parameter or value of the same name gets a prefix. */
static const char *const s_step_cols[] = {"campaign", "experiment", "step", "attempt", "attempt_id", "device",
                                          "status", "queued_at", "started_at", "finished_at", "duration",
                                          "error"};

static int s_is_fixed(const char *k)
{
    for (size_t i = 0; i < sizeof s_step_cols / sizeof s_step_cols[0]; i++)
        if (!strcmp(s_step_cols[i], k))
            return 1;
    return 0;
}

int lab_export_tidy_steps(lab_hub_query *q, const lab_review *r, FILE *f, lab_err *err)
{
    s_steps s = {json_array(), json_array(), json_array()};
    if (!s.rows || !s.param_keys || !s.value_keys) {
        json_decref(s.rows);
        json_decref(s.param_keys);
        json_decref(s.value_keys);
        return lab_err_set(err, LAB_ENOMEM, "exporting steps: out of memory");
    }
    int ret = lab_hub_query_table(q, r->c.id, "steps", s_on_step_row, &s, err);
    json_t *units = lab_review_units(&r->c);
    if (ret == 0) {
        fputs("campaign,experiment,step,attempt,attempt_id,device,status,queued_at,started_at,finished_at,"
              "duration [s],error", f);
        size_t i;
        json_t *k;
        json_array_foreach(s.param_keys, i, k) {
            const char *name = json_string_value(k);
            char buf[300];
            snprintf(buf, sizeof buf, "%s%s", s_is_fixed(name) ? "param." : "", name);
            fputc(',', f);
            s_head(f, buf, json_string_value(json_object_get(units, name)));
        }
        json_array_foreach(s.value_keys, i, k) {
            const char *name = json_string_value(k);
            int clash = s_is_fixed(name);
            size_t j;
            json_t *pk;
            json_array_foreach(s.param_keys, j, pk)
                clash |= !strcmp(json_string_value(pk), name);
            char buf[300];
            snprintf(buf, sizeof buf, "%s%s", clash ? "value." : "", name);
            fputc(',', f);
            s_head(f, buf, json_string_value(json_object_get(units, name)));
        }
        fputs("\r\n", f);
        json_t *row;
        char t[40];
        json_array_foreach(s.rows, i, row) {
            lab_export_csv_field(f, r->c.name);
            fprintf(f, ",%lld,", (long long)s_int(row, "experiment"));
            lab_export_csv_field(f, json_string_value(json_object_get(row, "step")));
            fprintf(f, ",%lld,", (long long)s_int(row, "attempt"));
            lab_export_csv_field(f, json_string_value(json_object_get(row, "attempt_id")));
            fputc(',', f);
            lab_export_csv_field(f, json_string_value(json_object_get(row, "device")));
            fputc(',', f);
            lab_export_csv_field(f, json_string_value(json_object_get(row, "status")));
            int64_t qu = s_int(row, "queued_us"), st = s_int(row, "started_us"), fi = s_int(row, "finished_us");
            fprintf(f, ",%s", lab_export_iso_ms(qu, t, sizeof t));
            fprintf(f, ",%s", lab_export_iso_ms(st, t, sizeof t));
            fprintf(f, ",%s,", lab_export_iso_ms(fi, t, sizeof t));
            if (st > 0 && fi >= st)
                s_real(f, (double)(fi - st) / 1e6);
            fputc(',', f);
            lab_export_csv_field(f, json_string_value(json_object_get(row, "error")));
            size_t j;
            json_array_foreach(s.param_keys, j, k) {
                fputc(',', f);
                s_value(f, json_object_get(json_object_get(row, "params"), json_string_value(k)));
            }
            json_array_foreach(s.value_keys, j, k) {
                fputc(',', f);
                s_value(f, json_object_get(json_object_get(row, "result"), json_string_value(k)));
            }
            fputs("\r\n", f);
        }
        if (ferror(f))
            ret = lab_err_set(err, LAB_EIO, "writing the steps export failed");
    }
    json_decref(units);
    json_decref(s.rows);
    json_decref(s.param_keys);
    json_decref(s.value_keys);
    return ret;
}

/* ---- RO-Crate 1.1 ---- */

typedef struct s_crate {
    const char *dir;
    json_t *graph;               /* the @graph array */
    json_t *parts;               /* root dataset's hasPart: [{"@id": ...}] */
    json_t *results;             /* the run's result: the same */
    json_t *seen;                /* file ids already written (a name given twice) */
    lab_err *err;
} s_crate;

static json_t *s_ref(const char *id)
{
    return json_pack("{s:s}", "@id", id);
}

/* sha256 hex of a buffer. */
static void s_sha256(const void *p, size_t n, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    hex[0] = '\0';
    if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Write bytes to dir/rel and describe the file in the crate. */
static int s_file(s_crate *c, const char *rel, const void *data, size_t n, const char *media,
                  const char *name, const char *desc, json_t *extra)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, rel);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        if (f)
            fclose(f);
        json_decref(extra);
        return lab_err_from_errno(c->err, errno ? errno : EIO, path);
    }
    char hex[65];
    s_sha256(data, n, hex);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@id", rel, "@type", "File", "name", name,
                          "description", desc, "encodingFormat", media, "sha256", hex);
    char size[32];
    snprintf(size, sizeof size, "%zu", n);
    json_object_set_new(e, "contentSize", json_string(size));
    if (extra)
        json_object_update(e, extra);
    json_decref(extra);
    json_array_append_new(c->graph, e);
    json_array_append_new(c->parts, s_ref(rel));
    return 0;
}

/* A CSV made by fn into memory, then into the crate. */
static int s_csv_file(s_crate *c, const char *rel, const char *name, const char *desc,
                      int (*fn)(lab_hub_query *, const lab_review *, FILE *, lab_err *), lab_hub_query *q,
                      const lab_review *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return lab_err_set(c->err, LAB_ENOMEM, "out of memory");
    int ret = fn(q, r, m, c->err);
    if (fclose(m) != 0 && ret == 0)
        ret = lab_err_set(c->err, LAB_ENOMEM, "out of memory");
    if (ret == 0) {
        ret = s_file(c, rel, buf, len, "text/csv", name, desc, json_pack("{s:s}", "conformsTo", "RFC 4180"));
        if (ret == 0)
            json_array_append_new(c->results, s_ref(rel));
    }
    free(buf);
    return ret;
}

static int s_exps_csv(lab_hub_query *q, const lab_review *r, FILE *f, lab_err *err)
{
    (void)q;
    int ret = lab_export_tidy_experiments(r, f);
    return ret < 0 ? lab_err_set(err, ret, "writing experiments.csv failed") : 0;
}

/* A file name safe in a directory: letters, digits, '.', '_', '-'. */
static void s_safe_name(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; s && *s && j + 1 < n; s++)
        out[j++] = (isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-') ? *s : '_';
    out[j] = '\0';
    if (j == 0 || out[0] == '.')
        snprintf(out, n, "artifact");
}

static int s_on_artifact(const lab_hub_query_artifact *a, void *arg)
{
    s_crate *c = arg;
    char safe[128], rel[256], dir[4096], name[160];
    s_safe_name(a->name, safe, sizeof safe);
    snprintf(dir, sizeof dir, "%s/artifacts/%lld", c->dir, (long long)a->experiment);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return lab_err_from_errno(c->err, errno, dir);
    snprintf(rel, sizeof rel, "artifacts/%lld/%.12s-%s", (long long)a->experiment, a->sha256 ? a->sha256 : "x",
             safe);
    if (json_object_get(c->seen, rel))
        return 0;
    json_object_set_new(c->seen, rel, json_true());
    snprintf(name, sizeof name, "%s", a->name ? a->name : safe);
    char desc[512];
    if (!a->content) {
        /* Only the hash was recorded: describe it, write nothing. */
        snprintf(desc, sizeof desc, "file of attempt %s, not stored in the hub (only its sha256 and size)",
                 a->attempt_id ? a->attempt_id : "?");
        char size[32];
        snprintf(size, sizeof size, "%lld", (long long)a->size);
        char id[300];
        snprintf(id, sizeof id, "#missing-%s", a->sha256 ? a->sha256 : "x");
        json_array_append_new(c->graph,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@id", id, "@type", "CreativeWork",
                                        "name", name, "description", desc, "sha256", a->sha256 ? a->sha256 : "",
                                        "contentSize", size));
        return 0;
    }
    snprintf(desc, sizeof desc, "file produced by step attempt %s (experiment %lld)",
             a->attempt_id ? a->attempt_id : "?", (long long)a->experiment);
    return s_file(c, rel, a->content, a->content_len, a->media_type ? a->media_type : "application/octet-stream",
                  name, desc, json_pack("{s:s}", "labloop:attempt", a->attempt_id ? a->attempt_id : ""));
}

/* Units as schema.org PropertyValues: every parameter and objective, each
 * with unitText (and the column it is in). */
static json_t *s_variables(const lab_review *r, json_t *graph)
{
    json_t *refs = json_array();
    for (size_t i = 0; i < r->n_params + r->n_objectives; i++) {
        int is_param = i < r->n_params;
        const char *name = is_param ? r->params[i].name : r->objectives[i - r->n_params].name;
        const char *unit = is_param ? r->params[i].unit : r->objectives[i - r->n_params].unit;
        char id[300], col[300];
        snprintf(id, sizeof id, "#variable-%s", name);
        if (unit && *unit)
            snprintf(col, sizeof col, "%s [%s]", name, unit);
        else
            snprintf(col, sizeof col, "%s", name);
        json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "@id", id, "@type", "PropertyValue", "name", name,
                              "propertyID", is_param ? "parameter" : "objective", "description",
                              is_param ? "experiment parameter (a column of experiments.csv)"
                                       : "measured objective (a column of experiments.csv)");
        json_object_set_new(v, "labloop:column", json_string(col));
        json_object_set_new(v, "unitText", json_string(unit && *unit ? unit : "dimensionless"));
        json_array_append_new(graph, v);
        json_array_append_new(refs, s_ref(id));
    }
    return refs;
}

int lab_export_rocrate(lab_hub_query *q, const lab_review *r, const char *dir, lab_err *err)
{
    char path[4096];
    if (mkdir(dir, 0755) != 0)
        return lab_err_from_errno(err, errno, dir);
    snprintf(path, sizeof path, "%s/artifacts", dir);
    if (mkdir(path, 0755) != 0)
        return lab_err_from_errno(err, errno, path);
    s_crate c = {.dir = dir, .graph = json_array(), .parts = json_array(), .results = json_array(),
                 .seen = json_object(), .err = err};
    int ret = (c.graph && c.parts && c.results && c.seen) ? 0 : lab_err_set(err, LAB_ENOMEM, "out of memory");
    if (ret == 0)
        ret = s_csv_file(&c, "experiments.csv", "experiments",
                         "one row per experiment: parameters and objectives (unit in each header), "
                         "status, origin, failure cause, the planner's reason", s_exps_csv, q, r);
    if (ret == 0)
        ret = s_csv_file(&c, "steps.csv", "step attempts",
                         "one row per step attempt: device, status, times, parameters sent and values returned",
                         lab_export_tidy_steps, q, r);
    if (ret == 0 && r->c.config_text)
        ret = s_file(&c, "campaign.yaml", r->c.config_text, strlen(r->c.config_text), "application/yaml",
                     "campaign config", "the campaign's config as it ran (labloop validate explains every key)",
                     json_pack("{s:s}", "labloop:originalPath", r->c.config_path ? r->c.config_path : ""));
    if (ret == 0)
        ret = lab_hub_query_artifacts(q, r->c.id, s_on_artifact, &c, err);
    if (ret < 0) {
        json_decref(c.graph);
        json_decref(c.parts);
        json_decref(c.results);
        json_decref(c.seen);
        return ret;
    }
    char t0[40], t1[40], tc[40];
    lab_review_iso_time(r->span_start_us, t0, sizeof t0);
    lab_review_iso_time(r->span_end_us, t1, sizeof t1);
    lab_review_iso_time(r->c.created_us, tc, sizeof tc);
    const char *op = r->c.operator_name ? r->c.operator_name : "unknown";
    json_array_append_new(c.graph, json_pack("{s:s, s:s, s:s}", "@id", "#operator", "@type", "Person", "name", op));
    json_t *instruments = json_array();
    for (size_t i = 0; i < r->n_devices; i++) {
        const lab_review_device *d = &r->devices[i];
        char id[300], desc[300];
        snprintf(id, sizeof id, "#device-%s", d->name);
        snprintf(desc, sizeof desc, "lab device %s (driver %s), capacity %d", d->name,
                 d->driver && *d->driver ? d->driver : "unknown", d->capacity);
        json_array_append_new(c.graph, json_pack("{s:s, s:s, s:s, s:s}", "@id", id, "@type", "IndividualProduct",
                                                 "name", d->name, "description", desc));
        json_array_append_new(instruments, s_ref(id));
    }
    json_array_append_new(c.graph, json_pack("{s:s, s:s, s:s, s:o}", "@id", "#labloop", "@type",
                                             "SoftwareApplication", "name", "labloop", "softwareVersion",
                                             r->c.version ? json_string(r->c.version) : json_null()));
    json_t *vars = s_variables(r, c.graph);
    json_t *object = json_array();
    if (r->c.config_text)
        json_array_append_new(object, s_ref("campaign.yaml"));
    json_array_append_new(c.graph,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "@id", "#run", "@type",
                                    "CreateAction", "name", "labloop campaign run", "startTime", t0, "endTime", t1,
                                    "agent", s_ref("#operator"), "instrument", instruments, "object", object,
                                    "result", c.results, "actionStatus", s_ref(
                                        !strcmp(r->c.status, "completed") ? "http://schema.org/CompletedActionStatus"
                                        : !strcmp(r->c.status, "running") ? "http://schema.org/ActiveActionStatus"
                                                                          : "http://schema.org/FailedActionStatus"),
                                    "description", r->c.status));
    json_t *licence = !strcmp(r->c.access, "open")
                          ? s_ref("https://creativecommons.org/licenses/by/4.0/")
                          : s_ref("#licence");
    if (strcmp(r->c.access, "open") != 0)
        json_array_append_new(c.graph, json_pack("{s:s, s:s, s:s, s:s}", "@id", "#licence", "@type", "CreativeWork",
                                                 "name", "access conditions", "description",
                                                 lab_review_licence(r->c.access)));
    else
        json_array_append_new(c.graph, json_pack("{s:s, s:s, s:s}", "@id",
                                                 "https://creativecommons.org/licenses/by/4.0/", "@type",
                                                 "CreativeWork", "name", "CC BY 4.0"));
    char desc[512], span[96];
    snprintf(desc, sizeof desc,
             "Closed-loop experiment campaign '%s' run by labloop: %lld experiments (%lld measured, %lld "
             "failed), status %s.",
             r->c.name, (long long)r->n.experiments, (long long)r->n.measured, (long long)r->n.failed, r->c.status);
    snprintf(span, sizeof span, "%s/%s", t0, t1);
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:b}", "@id", "./",
                             "@type", "Dataset", "name", r->c.name, "description", desc, "datePublished", tc,
                             "temporalCoverage", span, "creator", s_ref("#operator"), "license", licence,
                             "hasPart", c.parts, "variableMeasured", vars, "mentions", s_ref("#run"),
                             "conditionsOfAccess", lab_review_licence(r->c.access), "labloop:accessClass",
                             r->c.access, "labloop:exportControlled", r->c.export_control);
    /* The dataset's version is the moment of its last recorded event: a
     * running campaign's data grow, and each export says which state it is. */
    json_object_set_new(root, "version", json_string(t1));
    json_t *meta = json_pack("{s:s, s:s, s:o, s:o}", "@id", "ro-crate-metadata.json", "@type", "CreativeWork",
                             "conformsTo", s_ref("https://w3id.org/ro/crate/1.1"), "about", s_ref("./"));
    json_array_insert_new(c.graph, 0, root);
    json_array_insert_new(c.graph, 0, meta);
    json_t *doc = json_pack("{s:[s,{s:s}], s:o}", "@context", "https://w3id.org/ro/crate/1.1/context", "labloop",
                            "urn:labloop:terms#", "@graph", c.graph);
    snprintf(path, sizeof path, "%s/ro-crate-metadata.json", dir);
    ret = doc && json_dump_file(doc, path, JSON_INDENT(2)) == 0
              ? 0
              : lab_err_set(err, LAB_EIO, "writing %s failed", path);
    json_decref(doc);
    json_decref(c.seen);
    return ret;
}
