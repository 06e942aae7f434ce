/* The dashboard's lab view and approval queue (labloop serve).
 *
 * Lab view: a lab service's hub holds several campaigns; the front page
 * lists them (state, progress against the budget, proposals waiting for
 * approval, weight) and the lab's devices with the campaign and step each
 * serves now, each campaign linking to its own view. Live figures come
 * from the lab's control endpoint when it answers (the caller asks it:
 * lab_review_lab_json's live argument), else from the hub.
 * Approval queue: on a campaign's page, the experiments waiting for an
 * operator (campaign.approve: each) with their parameters and the planner's
 * reasons, Approve / Reject buttons (they POST to the dashboard, which
 * needs its --token and forwards to the control endpoint) and the command
 * to do the same from a shell.
 * Not for: HTTP (cmd_serve.c), SQL (hub_query.c), the per-campaign views
 * (review_html.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "orchestrator/config.h"
#include "orchestrator/review.h"
#include "common/version.h"
#include "common/banned.h"

/* ---- the approval queue on a campaign's page ---- */

static void s_params_text(FILE *out, json_t *params)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(params, k, v) {
        fputs(first ? "" : ", ", out);
        first = 0;
        lab_review_html_escape(out, k);
        fputc('=', out);
        if (json_is_string(v))
            lab_review_html_escape(out, json_string_value(v));
        else
            fprintf(out, "%.4g", json_number_value(v));
    }
}

void lab_review_queue_html(const lab_review *r, const lab_review_html_opts *o, FILE *out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_exps; i++)
        n += r->exps[i].status && !strcmp(r->exps[i].status, "proposed");
    if (n == 0 && !(o && o->live))
        return;
    fprintf(out, "<section id=\"approval\" data-campaign=\"");
    lab_review_html_escape(out, r->c.name);
    fprintf(out, "\"><h2>Approval queue (<span id=\"n-waiting\">%zu</span> waiting)</h2>\n", n);
    if (n == 0) {
        fputs("<p class=\"note\">No proposal waits for approval (campaign.approve: each makes them wait).</p>"
              "</section>\n", out);
        return;
    }
    fputs("<table id=\"approval-table\"><tr><th>#</th><th>parameters</th><th>predicted</th><th>planner's reason</th>",
          out);
    if (o && o->live)
        fputs("<th>decide</th>", out);
    fputs("</tr>\n", out);
    for (size_t i = 0; i < r->n_exps; i++) {
        const lab_review_exp *e = &r->exps[i];
        if (!e->status || strcmp(e->status, "proposed") != 0)
            continue;
        fprintf(out, "<tr data-seq=\"%lld\"><td>%lld</td><td>", (long long)e->seq, (long long)e->seq);
        s_params_text(out, e->params);
        fputs("</td><td>", out);
        json_t *pm = json_object_get(e->provenance, "predicted_mean");
        if (json_is_number(pm))
            fprintf(out, "%.4g &plusmn; %.3g", json_number_value(pm),
                    json_number_value(json_object_get(e->provenance, "predicted_sd")));
        else
            fputs("-", out);
        fputs("</td><td class=\"reason\">", out);
        lab_review_html_escape(out, json_string_value(json_object_get(e->provenance, "reason")));
        fputs("</td>", out);
        if (o && o->live)
            fprintf(out, "<td><button data-approve=\"%lld\">Approve</button> "
                         "<button data-reject=\"%lld\">Reject</button></td>", (long long)e->seq, (long long)e->seq);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<p class=\"note\">From a shell (an operator key under CURVE): <code>labloop approve ", out);
    if (o && o->control) {
        fputs("--endpoint ", out);
        lab_review_html_escape(out, o->control);
        fputc(' ', out);
    }
    fputs("--campaign ", out);
    lab_review_html_escape(out, r->c.name);
    fputs(" N</code> or <code>labloop reject &hellip; N --reason TEXT</code>.", out);
    if (o && o->live)
        fputs(" The buttons need the dashboard's token (the Control section below); a rejection takes the "
              "reason typed here: <input id=\"reject-reason\" placeholder=\"reason for a rejection\">"
              " <span id=\"approval-result\"></span>", out);
    fputs("</p></section>\n", out);
    if (!(o && o->live))
        return;
    fputs("<script>\n(function(){\n"
          "  var sec=document.getElementById('approval');if(!sec)return;\n"
          "  function go(action,seq){\n"
          "    var t=document.getElementById('token');t=t?t.value:'';\n"
          "    var q='?experiment='+seq+'&campaign='+encodeURIComponent(sec.dataset.campaign);\n"
          "    if(action==='reject'){var r=document.getElementById('reject-reason').value;"
          "if(r)q+='&reason='+encodeURIComponent(r);}\n"
          "    fetch('/api/control/'+action+q,{method:'POST',headers:{'Authorization':'Bearer '+t}})\n"
          "      .then(function(r){return r.text().then(function(x){"
          "document.getElementById('approval-result').textContent=r.status+': '+x;"
          "if(r.ok){var row=sec.querySelector('tr[data-seq=\"'+seq+'\"]');if(row)row.remove();}});});\n"
          "  }\n"
          "  sec.querySelectorAll('button[data-approve]').forEach(function(b){"
          "b.addEventListener('click',function(){go('approve',b.dataset.approve);});});\n"
          "  sec.querySelectorAll('button[data-reject]').forEach(function(b){"
          "b.addEventListener('click',function(){go('reject',b.dataset.reject);});});\n"
          "})();\n</script>\n", out);
}

/* ---- the lab view ---- */

typedef struct s_walk {
    lab_hub_query *q;
    json_t *camps, *devs;
    const json_t *live;          /* the lab's campaigns reply, or NULL */
} s_walk;

static json_t *s_live_campaign(const json_t *live, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(live, "campaigns"), i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && name && !strcmp(n, name))
            return c;
    }
    return NULL;
}

static int s_campaign(const lab_hub_query_lab_campaign *c, void *arg)
{
    s_walk *w = arg;
    long long budget = 0;
    if (c->config_text) {
        lab_err e = {0};
        lab_campaign_cfg *cfg = lab_config_load_stored(c->config_path ? c->config_path : "<config>", c->config_text,
                                                       strlen(c->config_text), NULL, &e);
        if (cfg)
            budget = cfg->budget_experiments;
        lab_config_destroy(&cfg);
        lab_hub_query_lifecycle l;
        lab_err le = {0};
        if (lab_hub_query_lifecycle_get(w->q, c->id, &l, &le) == 0)
            budget += l.extra_experiments;
    }
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "name", c->name ? c->name : "?",
                          "status", c->status ? c->status : "?", "experiments", (json_int_t)c->experiments,
                          "measured", (json_int_t)c->measured, "failed", (json_int_t)c->failed, "waiting_approval",
                          (json_int_t)c->waiting, "rejected", (json_int_t)c->rejected, "budget",
                          (json_int_t)budget, "source", "hub");
    if (!j)
        return LAB_ENOMEM;
    json_object_set_new(j, "weight", isfinite(c->weight) ? json_real(c->weight) : json_null());
    json_t *lv = s_live_campaign(w->live, c->name);
    if (lv) {                        /* the lab's own figures are newer than the hub's last commit */
        const char *keys[] = {"status", "measured", "failed", "budget", "weight", "waiting_approval", "in_flight"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (json_object_get(lv, keys[k]))
                json_object_set(j, keys[k], json_object_get(lv, keys[k]));
        json_object_set_new(j, "source", json_string("lab"));
    }
    json_array_append_new(w->camps, j);
    return 0;
}

static int s_device(const lab_hub_query_lab_device *d, void *arg)
{
    s_walk *w = arg;
    json_t *j = json_pack("{s:s, s:s}", "name", d->name ? d->name : "?", "state", d->status ? d->status : "?");
    if (!j)
        return LAB_ENOMEM;
    if (!w->live && d->campaign) {
        json_object_set_new(j, "campaign", json_string(d->campaign));
        json_object_set_new(j, "step", json_string(d->step ? d->step : "?"));
        json_object_set_new(j, "attempt", json_string(d->attempt_id ? d->attempt_id : "?"));
    }
    json_array_append_new(w->devs, j);
    return 0;
}

/* The live lab's running steps ({"running": [{campaign, attempt, step,
 * device}]}) onto the devices they run on. */
static void s_live_running(json_t *devs, const json_t *live)
{
    size_t i, k;
    json_t *r, *d;
    json_array_foreach(json_object_get(live, "running"), i, r) {
        const char *dev = json_string_value(json_object_get(r, "device"));
        json_t *slot = NULL;
        json_array_foreach(devs, k, d) {
            const char *n = json_string_value(json_object_get(d, "name"));
            if (dev && n && !strcmp(n, dev)) {
                slot = d;
                break;
            }
        }
        if (!slot)
            continue;
        if (json_object_get(slot, "campaign")) {   /* capacity > 1: one row per attempt */
            slot = json_deep_copy(slot);
            json_array_append_new(devs, slot);
        }
        json_object_set(slot, "campaign", json_object_get(r, "campaign"));
        json_object_set(slot, "step", json_object_get(r, "step"));
        json_object_set(slot, "attempt", json_object_get(r, "attempt"));
    }
}

json_t *lab_review_lab_json(lab_hub_query *q, const json_t *live, lab_err *err)
{
    s_walk w = {.q = q, .camps = json_array(), .devs = json_array(), .live = live};
    if (!w.camps || !w.devs) {
        json_decref(w.camps);
        json_decref(w.devs);
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    if (lab_hub_query_lab_campaigns(q, s_campaign, &w, err) != 0 ||
        lab_hub_query_lab_devices(q, s_device, &w, err) != 0) {
        json_decref(w.camps);
        json_decref(w.devs);
        if (!err->code)
            lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    if (live)
        s_live_running(w.devs, live);
    json_t *lab = json_object_get(live, "lab");
    return json_pack("{s:o, s:o, s:s, s:O}", "campaigns", w.camps, "devices", w.devs, "source",
                     live ? "lab" : "hub", "lab", lab ? lab : json_null());
}

/* <a href="/?campaign=NAME">NAME</a>, NAME percent-encoded in the link and
 * HTML-escaped in the text. */
static void s_campaign_link(FILE *out, const char *name)
{
    fputs("<a href=\"/?campaign=", out);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.')
            fputc(*p, out);
        else
            fprintf(out, "%%%02X", *p);
    }
    fputs("\">", out);
    lab_review_html_escape(out, name);
    fputs("</a>", out);
}

static const char *s_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int lab_review_lab_html(const json_t *lab, const char *hub, int64_t generated_us, FILE *out)
{
    char gen[32];
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\">"
          "<meta http-equiv=\"refresh\" content=\"5\">\n<title>labloop: lab</title>\n"
          "<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
          "text-align:left}th{background:#f4f4f4}.note{color:#555}.wait{color:#b02a00;font-weight:600}"
          "footer{margin-top:2em;color:#777;font-size:12px}</style></head>\n<body>\n<header><h1>Lab ", out);
    const char *name = s_str(lab, "lab");
    lab_review_html_escape(out, *name ? name : hub);
    fputs(" &mdash; live dashboard</h1>\n<p class=\"note\">", out);
    fputs(!strcmp(s_str(lab, "source"), "lab") ? "Live figures from the lab service; "
                                                : "The lab service does not answer: figures from the hub "
                                                  "(as of its last commit); ",
          out);
    fputs("this page reloads every 5 s.</p></header>\n", out);
    json_t *camps = json_object_get(lab, "campaigns");
    fprintf(out, "<section id=\"campaigns\"><h2>Campaigns (%zu)</h2>\n<table id=\"campaigns-table\"><tr>"
                 "<th>campaign</th><th>state</th><th>measured</th><th>failed</th><th>budget</th>"
                 "<th>waiting for approval</th><th>weight</th></tr>\n", json_array_size(camps));
    size_t i;
    json_t *c;
    json_array_foreach(camps, i, c) {
        fputs("<tr><td>", out);
        s_campaign_link(out, s_str(c, "name"));
        fputs("</td><td>", out);
        lab_review_html_escape(out, s_str(c, "status"));
        long long wait = json_integer_value(json_object_get(c, "waiting_approval"));
        fprintf(out, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td%s>%lld</td><td>",
                json_integer_value(json_object_get(c, "measured")), json_integer_value(json_object_get(c, "failed")),
                json_integer_value(json_object_get(c, "budget")), wait ? " class=\"wait\"" : "", wait);
        json_t *wt = json_object_get(c, "weight");
        if (json_is_number(wt))
            fprintf(out, "%g", json_number_value(wt));
        else
            fputs("-", out);
        fputs("</td></tr>\n", out);
    }
    fputs("</table></section>\n", out);
    json_t *devs = json_object_get(lab, "devices");
    fputs("<section id=\"devices\"><h2>Devices</h2>\n<table id=\"devices-table\"><tr><th>device</th><th>state</th>"
          "<th>campaign</th><th>step</th><th>attempt</th></tr>\n", out);
    json_t *d;
    json_array_foreach(devs, i, d) {
        fputs("<tr><td>", out);
        lab_review_html_escape(out, s_str(d, "name"));
        fputs("</td><td>", out);
        lab_review_html_escape(out, s_str(d, "state"));
        fputs("</td><td>", out);
        if (json_is_string(json_object_get(d, "campaign"))) {
            s_campaign_link(out, s_str(d, "campaign"));
            fputs("</td><td>", out);
            lab_review_html_escape(out, s_str(d, "step"));
            fputs("</td><td>", out);
            lab_review_html_escape(out, s_str(d, "attempt"));
        } else {
            fputs("idle</td><td></td><td>", out);
        }
        fputs("</td></tr>\n", out);
    }
    fprintf(out, "</table></section>\n<footer>labloop %s &middot; generated %s &middot; /api/lab has this as JSON"
                 "</footer>\n</body></html>\n",
            LAB_VERSION_STRING, lab_review_iso_time(generated_us, gen, sizeof gen));
    return ferror(out) ? LAB_EIO : 0;
}
