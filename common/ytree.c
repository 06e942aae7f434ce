/* YAML tree on libyaml's document API, with positions for error messages. */
#include "common/ytree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/text.h"
#include "common/banned.h"

#define S_TOO_BIG "%s: the file is larger than %d bytes (1 MiB), the most a config may be"

struct lab_ydoc {
    char *path;
    yaml_document_t doc;
    size_t n_errors;       /* problems reported through lab_yerr */
    FILE *errs;            /* where the last of them was printed */
};

/* Walk the events once, only counting nesting: a file nested deeper than
 * LAB_YAML_MAX_DEPTH is refused at the first node too deep, before libyaml
 * builds a tree for it (building and walking 100,000 levels takes minutes).
 * Returns 0, or LAB_ECONFIG with err set (syntax errors are left to the
 * loader, which reports them with libyaml's words). */
static int s_check_depth(const char *path, const char *text, size_t len, lab_err *err)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > LAB_YAML_MAX_DEPTH) {
                rc = lab_err_set(err, LAB_ECONFIG, "%s:%zu:%zu: nested more than %d levels deep; "
                                 "a config is a few levels of mappings and lists",
                                 path, ev.start_mark.line + 1, ev.start_mark.column + 1,
                                 LAB_YAML_MAX_DEPTH);
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (rc || t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

lab_ydoc *lab_ydoc_parse(const char *path, const char *text, size_t len, lab_err *err)
{
    if (!path)
        path = "<config>";
    if (len > LAB_YAML_MAX_BYTES) {
        lab_err_set(err, LAB_ECONFIG, S_TOO_BIG, path, LAB_YAML_MAX_BYTES);
        return NULL;
    }
    if (s_check_depth(path, text, len, err) < 0)
        return NULL;
    lab_ydoc *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &d->doc)) {
        yaml_mark_t m = parser.problem_mark;
        lab_err_set(err, LAB_ECONFIG, "%s:%zu:%zu: YAML syntax error: %s%s%s", d->path,
                    m.line + 1, m.column + 1, parser.problem ? parser.problem : "unreadable",
                    parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        free(d->path);
        free(d);
        return NULL;
    }
    yaml_parser_delete(&parser);
    if (!yaml_document_get_root_node(&d->doc)) {
        lab_err_set(err, LAB_ECONFIG, "%s:1:1: the file is empty", d->path);
        lab_ydoc_destroy(&d);
        return NULL;
    }
    return d;
}

lab_ydoc *lab_ydoc_load(const char *path, char **text_out, size_t *len_out, lab_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lab_err_from_errno(err, errno, path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            lab_err_set(err, LAB_ENOMEM, "%s: out of memory", path);
            return NULL;
        }
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len > LAB_YAML_MAX_BYTES) {     /* no need to read the rest of a huge file */
            fclose(f);
            free(buf);
            lab_err_set(err, LAB_ECONFIG, S_TOO_BIG, path, LAB_YAML_MAX_BYTES);
            return NULL;
        }
        if (len < cap - 1)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        lab_err_set(err, LAB_EIO, "%s: read error", path);
        return NULL;
    }
    buf[len] = '\0';
    lab_ydoc *d = lab_ydoc_parse(path, buf, len, err);
    if (d && text_out) {
        *text_out = buf;
        if (len_out)
            *len_out = len;
    } else {
        free(buf);
    }
    return d;
}

void lab_ydoc_destroy(lab_ydoc **dp)
{
    if (!dp || !*dp)
        return;
    lab_yerr_more((*dp)->errs, (*dp)->path, LAB_YAML_MAX_ERRORS, (*dp)->n_errors);
    yaml_document_delete(&(*dp)->doc);
    free((*dp)->path);
    free(*dp);
    *dp = NULL;
}

const char *lab_ydoc_path(const lab_ydoc *d) { return d->path; }
yaml_node_t *lab_ydoc_root(lab_ydoc *d) { return yaml_document_get_root_node(&d->doc); }

size_t lab_ymap_len(const yaml_node_t *map)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return 0;
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

void lab_ymap_pair(lab_ydoc *d, yaml_node_t *map, size_t i, yaml_node_t **key, yaml_node_t **val)
{
    yaml_node_pair_t *p = map->data.mapping.pairs.start + i;
    *key = yaml_document_get_node(&d->doc, p->key);
    *val = yaml_document_get_node(&d->doc, p->value);
}

yaml_node_t *lab_ymap_get(lab_ydoc *d, yaml_node_t *map, const char *key)
{
    size_t n = lab_ymap_len(map);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *v;
        lab_ymap_pair(d, map, i, &k, &v);
        const char *s = lab_yscalar(k);
        if (s && strcmp(s, key) == 0)
            return v;
    }
    return NULL;
}

size_t lab_yseq_len(const yaml_node_t *seq)
{
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *lab_yseq_at(lab_ydoc *d, yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(&d->doc, seq->data.sequence.items.start[i]);
}

const char *lab_yscalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int lab_yis_map(const yaml_node_t *n) { return n && n->type == YAML_MAPPING_NODE; }
int lab_yis_seq(const yaml_node_t *n) { return n && n->type == YAML_SEQUENCE_NODE; }

int lab_yis_quoted(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE &&
           (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
            n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

const char *lab_ykind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_SCALAR_NODE: return "a scalar";
    default: return "nothing";
    }
}

int lab_yto_double(const yaml_node_t *n, double *v)
{
    const char *s = lab_yscalar(n);
    if (!s || !*s || lab_yis_quoted(n))
        return LAB_EINVAL;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(x))
        return LAB_EINVAL;
    *v = x;
    return 0;
}

int lab_yto_long(const yaml_node_t *n, long *v)
{
    const char *s = lab_yscalar(n);
    if (!s || !*s || lab_yis_quoted(n))
        return LAB_EINVAL;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end || errno == ERANGE)
        return LAB_EINVAL;
    *v = x;
    return 0;
}

int lab_yto_bool(const yaml_node_t *n, int *v)
{
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    const char *s = lab_yscalar(n);
    if (!s || lab_yis_quoted(n))
        return LAB_EINVAL;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *v = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *v = 0;
            return 0;
        }
    }
    return LAB_EINVAL;
}

int lab_yline(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }
int lab_ycol(const yaml_node_t *n) { return n ? (int)n->start_mark.column + 1 : 0; }

int lab_yerr(lab_ydoc *d, const yaml_node_t *n, FILE *out, lab_err *err, const char *fmt, ...)
{
    char msg[LAB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lab_text_clean(msg, sizeof msg, msg);   /* it may quote the file's bytes */
    lab_err tmp;
    lab_err_set(&tmp, LAB_ECONFIG, "%s:%d:%d: %s", d->path, lab_yline(n), lab_ycol(n), msg);
    if (out) {
        if (++d->n_errors <= LAB_YAML_MAX_ERRORS)
            fprintf(out, "%s\n", tmp.msg);
        d->errs = out;
    }
    if (err && err->code == 0)
        *err = tmp;
    return LAB_ECONFIG;
}

void lab_yerr_more(FILE *out, const char *path, size_t shown, size_t total)
{
    if (out && total > shown)
        fprintf(out, "%s: ... and %zu more problems (only the first %zu are shown)\n", path,
                total - shown, shown);
}
