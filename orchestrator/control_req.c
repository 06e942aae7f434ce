/* Reading a control request (see control_req.h). */
#include "orchestrator/control_req.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "common/err.h"
#include "common/text.h"
#include "common/banned.h"

/* The string field key of o into out (size n), "" when absent. */
static int s_field(json_t *o, const char *key, char *out, size_t n, int required, char *why, size_t wn)
{
    out[0] = '\0';
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            snprintf(why, wn, "request has no \"%s\"", key);
        return required ? LAB_EPROTO : 0;
    }
    if (!json_is_string(v))
        return snprintf(why, wn, "\"%s\" must be a string", key), LAB_EPROTO;
    if (json_string_length(v) >= n)
        return snprintf(why, wn, "\"%s\" is longer than %zu bytes", key, n - 1), LAB_EPROTO;
    if (strlen(json_string_value(v)) != json_string_length(v))
        return snprintf(why, wn, "\"%s\" holds a NUL character", key), LAB_EPROTO;
    lab_text_clean(out, n, json_string_value(v));
    return 0;
}

/* The optional number field key of o: an integer into *l (integer 1) or a
 * number into *d, from 0 to max; absent leaves it 0. */
static int s_number(json_t *o, const char *key, int integer, double max, char *why, size_t wn, double *d,
                    long *l)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (integer ? !json_is_integer(v) : !json_is_number(v))
        return snprintf(why, wn, "\"%s\" must be %s", key, integer ? "an integer" : "a number"), LAB_EPROTO;
    double x = json_number_value(v);
    if (!isfinite(x) || x < 0 || x > max)
        return snprintf(why, wn, "\"%s\" must be from 0 to %.0f", key, max), LAB_EPROTO;
    if (integer)
        *l = (long)json_integer_value(v);
    else
        *d = x;
    return 0;
}

/* The optional "seqs" array: experiment numbers, each at least 1. */
static int s_seqs(json_t *o, lab_control_req *req, char *why, size_t wn)
{
    json_t *v = json_object_get(o, "seqs");
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > LAB_CONTROL_MAX_SEQS)
        return snprintf(why, wn, "\"seqs\" must be an array of at most %d experiment numbers", LAB_CONTROL_MAX_SEQS),
               LAB_EPROTO;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > LAB_CONTROL_MAX_EXPERIMENTS)
            return snprintf(why, wn, "\"seqs\" must hold experiment numbers (whole numbers from 1)"), LAB_EPROTO;
        req->seqs[req->n_seqs++] = (long)json_integer_value(e);
    }
    return 0;
}

int lab_control_req_parse(const char *body, size_t len, lab_control_req *req, char *why, size_t n)
{
    memset(req, 0, sizeof *req);
    if (len > LAB_CONTROL_REQ_MAX)
        return snprintf(why, n, "request is longer than %d bytes", LAB_CONTROL_REQ_MAX), LAB_EPROTO;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return snprintf(why, n, "request is not JSON"), LAB_EPROTO;
    int rc = 0;
    if (!json_is_object(o)) {
        snprintf(why, n, "request is not a JSON object");
        rc = LAB_EPROTO;
    } else if (s_field(o, "cmd", req->cmd, sizeof req->cmd, 1, why, n) < 0 ||
               s_field(o, "user", req->user, sizeof req->user, 0, why, n) < 0 ||
               s_field(o, "host", req->host, sizeof req->host, 0, why, n) < 0 ||
               s_field(o, "reason", req->reason, sizeof req->reason, 0, why, n) < 0 ||
               s_field(o, "campaign", req->campaign, sizeof req->campaign, 0, why, n) < 0) {
        rc = LAB_EPROTO;
    } else if (s_number(o, "experiments", 1, LAB_CONTROL_MAX_EXPERIMENTS, why, n, NULL, &req->experiments) < 0 ||
               s_number(o, "hours", 0, LAB_CONTROL_MAX_HOURS, why, n, &req->hours, NULL) < 0 ||
               s_seqs(o, req, why, n) < 0) {
        rc = LAB_EPROTO;
    } else if (!req->cmd[0]) {
        snprintf(why, n, "\"cmd\" is empty");
        rc = LAB_EPROTO;
    }
    json_decref(o);
    if (rc)
        memset(req, 0, sizeof *req);
    return rc;
}

int lab_control_submit_parse(const char *body, size_t len, lab_control_submit *sub, char *why, size_t n)
{
    memset(sub, 0, sizeof *sub);
    if (len > LAB_CONTROL_SUBMIT_MAX)
        return snprintf(why, n, "submit: the request is longer than %d bytes", LAB_CONTROL_SUBMIT_MAX), LAB_EPROTO;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return snprintf(why, n, "request is not JSON"), LAB_EPROTO;
    int rc = 0;
    char cmd[32];
    json_t *text = json_object_get(o, "config");
    json_t *w = json_object_get(o, "weight");
    if (!json_is_object(o)) {
        snprintf(why, n, "request is not a JSON object");
        rc = LAB_EPROTO;
    } else if (s_field(o, "cmd", cmd, sizeof cmd, 1, why, n) < 0 ||
               s_field(o, "user", sub->user, sizeof sub->user, 0, why, n) < 0 ||
               s_field(o, "host", sub->host, sizeof sub->host, 0, why, n) < 0 ||
               s_field(o, "path", sub->path, sizeof sub->path, 0, why, n) < 0) {
        rc = LAB_EPROTO;
    } else if (strcmp(cmd, "submit") != 0) {
        snprintf(why, n, "not a submit request");
        rc = LAB_EPROTO;
    } else if (!json_is_string(text) || json_string_length(text) == 0) {
        snprintf(why, n, "submit: \"config\" must be the campaign config's text");
        rc = LAB_EPROTO;
    } else if (w && (!json_is_number(w) || !(json_number_value(w) > 0) ||
                     json_number_value(w) > LAB_CONTROL_MAX_WEIGHT)) {
        snprintf(why, n, "submit: \"weight\" must be a number above 0 and at most %g", LAB_CONTROL_MAX_WEIGHT);
        rc = LAB_EPROTO;
    } else {
        sub->weight = w ? json_number_value(w) : 1.0;
        sub->len = json_string_length(text);
        sub->text = malloc(sub->len + 1);
        if (!sub->text) {
            snprintf(why, n, "out of memory");
            rc = LAB_ENOMEM;
        } else {
            memcpy(sub->text, json_string_value(text), sub->len + 1);
        }
    }
    if (!sub->path[0])
        snprintf(sub->path, sizeof sub->path, "submitted.yaml");
    json_decref(o);
    return rc;
}
