/* The JSON text of a jansson value, written into a buffer that is kept and
 * reused: for the hot path, where a value is dumped only for its text to be
 * copied elsewhere at once (the hub's batch copies what it is given).
 * jansson writes the text (json_dumpb); this only keeps the buffer, so that
 * a dump costs no allocation once the buffer is large enough.
 * Not for: text that must outlive the next dump into the same buffer (use
 * json_dumps), or sharing one buffer between threads. */
#ifndef LAB_JTEXT_H
#define LAB_JTEXT_H

#include <stddef.h>

#include <jansson.h>

typedef struct lab_jtext {
    char *buf;
    size_t cap;
} lab_jtext;

/* The text of j as json_dumps(j, flags) would give it, NUL-terminated, in
 * t's buffer (valid until the next dump into t or lab_jtext_free); NULL when
 * j cannot be dumped or memory runs out. */
const char *lab_jtext_dump(lab_jtext *t, const json_t *j, size_t flags);

void lab_jtext_free(lab_jtext *t);

#endif
