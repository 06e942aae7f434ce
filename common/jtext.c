/* A reused buffer for jansson's JSON text (see jtext.h). */
#include "common/jtext.h"

#include <stdlib.h>

#include "common/banned.h"

#define S_FIRST_CAP 1024

const char *lab_jtext_dump(lab_jtext *t, const json_t *j, size_t flags)
{
    if (!j)
        return NULL;
    for (int pass = 0; pass < 2; pass++) {
        /* json_dumpb writes at most the size given and returns the full
         * length (0 on failure); one byte is kept for the NUL */
        size_t n = json_dumpb(j, t->buf, t->cap ? t->cap - 1 : 0, flags);
        if (n == 0)
            return NULL;
        if (n < t->cap) {
            t->buf[n] = '\0';
            return t->buf;
        }
        size_t cap = t->cap ? t->cap : S_FIRST_CAP;
        while (cap <= n)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return NULL;
        t->buf = b;
        t->cap = cap;
    }
    return NULL;
}

void lab_jtext_free(lab_jtext *t)
{
    free(t->buf);
    t->buf = NULL;
    t->cap = 0;
}
