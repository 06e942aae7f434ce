/* Checks on a StepRequest before a worker acts on it (see request_check.h).
 * An attempt id becomes a directory name (exec driver) and a file name (the
 * outbox): an id such as ".." must never reach them. */
#include "protocols/request_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/text.h"
#include "common/banned.h"

static int s_id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
}

int lab_attempt_id_check(const char *id, char *why, size_t n)
{
    if (!id || !*id)
        return snprintf(why, n, "the attempt id is empty"), LAB_EINVAL;
    size_t len = strnlen(id, LAB_ATTEMPT_ID_MAX + 1);
    if (len > LAB_ATTEMPT_ID_MAX)
        return snprintf(why, n, "the attempt id is longer than %d bytes", LAB_ATTEMPT_ID_MAX), LAB_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!s_id_char((unsigned char)id[i]))
            return snprintf(why, n, "the attempt id holds byte 0x%02x at offset %zu; only letters, digits, "
                            "'.', '_', '-' and '/' are allowed", (unsigned char)id[i], i), LAB_EINVAL;
    for (const char *seg = id;;) {
        const char *end = strchr(seg, '/');
        size_t sl = end ? (size_t)(end - seg) : strlen(seg);
        if (sl == 0)
            return snprintf(why, n, "the attempt id has an empty segment (a leading, trailing or double '/')"),
                   LAB_EINVAL;
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return snprintf(why, n, "the attempt id has a '%.*s' segment", (int)sl, seg), LAB_EINVAL;
        if (!end)
            break;
        seg = end + 1;
    }
    return 0;
}

/* A short text field: at most LAB_STEP_NAME_MAX bytes, no control bytes. */
static int s_short_text(const char *what, const char *s, char *why, size_t n)
{
    if (!s)
        return 0;
    if (strnlen(s, LAB_STEP_NAME_MAX + 1) > LAB_STEP_NAME_MAX)
        return snprintf(why, n, "the %s is longer than %d bytes", what, LAB_STEP_NAME_MAX), LAB_EINVAL;
    if (!lab_text_is_clean(s))
        return snprintf(why, n, "the %s holds control characters", what), LAB_EINVAL;
    return 0;
}

int lab_step_request_check(const Labloop__StepRequest *req, char *why, size_t n)
{
    if (s_short_text("step name", req->step, why, n) || s_short_text("capability", req->capability, why, n) ||
        s_short_text("experiment id", req->experiment_id, why, n) ||
        s_short_text("sample id", req->sample_id, why, n))
        return LAB_EINVAL;
    if (req->n_params > LAB_STEP_PARAMS_MAX)
        return snprintf(why, n, "the request has %zu parameters; at most %d are accepted", req->n_params,
                        LAB_STEP_PARAMS_MAX), LAB_EINVAL;
    for (size_t i = 0; i < req->n_params; i++) {
        const Labloop__Param *p = req->params[i];
        if (!p || !p->name || !*p->name)
            return snprintf(why, n, "parameter %zu has no name", i + 1), LAB_EINVAL;
        char name[48];
        lab_text_clean(name, sizeof name, p->name);
        if (s_short_text("parameter name", p->name, why, n) || s_short_text("unit of a parameter", p->unit, why, n))
            return LAB_EINVAL;
        const Labloop__Value *v = p->value;
        if (v && v->kind_case == LABLOOP__VALUE__KIND_NUMBER && !isfinite(v->number))
            return snprintf(why, n, "parameter '%s' is not a finite number", name), LAB_EINVAL;
        if (v && v->kind_case == LABLOOP__VALUE__KIND_TEXT && v->text &&
            strnlen(v->text, LAB_STEP_TEXT_MAX + 1) > LAB_STEP_TEXT_MAX)
            return snprintf(why, n, "parameter '%s' is longer than %d bytes", name, LAB_STEP_TEXT_MAX),
                   LAB_EINVAL;
    }
    return 0;
}
