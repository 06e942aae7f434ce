/* Compact JSON text of a jansson value (see jsontext.h). */
#include "common/jsontext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* Deeper than any value labloop writes; jansson refuses cycles the same way. */
#define S_MAX_DEPTH 2048

typedef struct s_buf {
    char *p;
    size_t len, cap;
    int oom;
} s_buf;

static int s_room(s_buf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void s_put(s_buf *b, const char *s, size_t n)
{
    if (s_room(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void s_putc(s_buf *b, char c)
{
    if (s_room(b, 1) < 0)
        return;
    b->p[b->len++] = c;
}

/* As jansson's dump_string without flags: '"', '\\' and control
 * characters escaped (named ones by name, the rest as \u00XX), the rest
 * (UTF-8 included) as it is. */
static void s_string(s_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    s_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put(b, s + run, i - run);
        run = i + 1;
        char e[7] = {'\\', 0};
        size_t en = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
            en = 6;
        }
        s_put(b, e, en);
    }
    s_put(b, s + run, n - run);
    s_putc(b, '"');
}

/* Formatting a double exactly ("%.17g") is the dearest part of a text,
 * and the same value is written several times over (an experiment's
 * parameter goes into its row, its events, its step's request record and
 * its result): the last texts are kept, per thread, by the value's bits. */
#define S_REAL_CACHE 64
typedef struct s_real_text {
    uint64_t bits;
    unsigned char len;           /* 0: empty */
    char text[40];
} s_real_text;
static __thread s_real_text s_reals[S_REAL_CACHE];

/* As jansson's jsonp_dtostr with precision 17. */
static void s_real(s_buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    s_real_text *c = &s_reals[(bits * 0x9E3779B97F4A7C15ull) >> 58];
    if (c->len && c->bits == bits) {
        s_put(b, c->text, c->len);
        return;
    }
    char t[64];
    int n = snprintf(t, sizeof t - 3, "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof t - 3) {
        b->oom = 1;
        return;
    }
    size_t len = (size_t)n;
    if (!memchr(t, '.', len) && !memchr(t, 'e', len)) {
        t[len++] = '.';
        t[len++] = '0';
        t[len] = '\0';
    }
    char *start = memchr(t, 'e', len);
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - t) + 1);
            len -= (size_t)(end - start);
        }
    }
    if (len < sizeof c->text) {
        c->bits = bits;
        c->len = (unsigned char)len;
        memcpy(c->text, t, len);
    }
    s_put(b, t, len);
}

static void s_value(s_buf *b, const json_t *j, int depth)
{
    if (depth > S_MAX_DEPTH) {
        b->oom = 1;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        int first = 1;
        s_putc(b, '{');
        json_object_foreach((json_t *)j, k, v) {
            if (!first)
                s_putc(b, ',');
            first = 0;
            s_string(b, k, strlen(k));
            s_putc(b, ':');
            s_value(b, v, depth + 1);
        }
        s_putc(b, '}');
        break;
    }
    case JSON_ARRAY: {
        s_putc(b, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                s_putc(b, ',');
            s_value(b, json_array_get(j, i), depth + 1);
        }
        s_putc(b, ']');
        break;
    }
    case JSON_STRING:
        s_string(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER: {
        char t[32];
        int n = snprintf(t, sizeof t, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        s_put(b, t, n > 0 ? (size_t)n : 0);
        break;
    }
    case JSON_REAL:
        s_real(b, json_real_value(j));
        break;
    case JSON_TRUE:
        s_put(b, "true", 4);
        break;
    case JSON_FALSE:
        s_put(b, "false", 5);
        break;
    default:
        s_put(b, "null", 4);
        break;
    }
}

char *lab_json_compact(const json_t *j)
{
    if (!j)
        return NULL;
    s_buf b = {0};
    s_value(&b, j, 0);
    if (!b.oom && s_room(&b, 0) == 0) {
        b.p[b.len] = '\0';
        return b.p;
    }
    free(b.p);
    return NULL;
}
