/* Text that came from a device (error messages, log lines, result values)
 * made safe to print on an operator's terminal.
 * Not for: escaping for HTML, JSON or SQL (their writers do that). */
#ifndef LAB_TEXT_H
#define LAB_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* Copy src into dst (n bytes, always NUL-terminated when n > 0) without
 * control characters: ANSI/VT escape sequences (ESC [ ... final byte,
 * ESC ] ... BEL or ESC \, and any other ESC x) are dropped whole; tab,
 * newline and carriage return become a space; every other C0 byte, DEL and
 * the C1 controls (U+0080..U+009F written in UTF-8) are dropped. Other
 * bytes, including the rest of UTF-8, are kept. dst may be src (the text
 * only shrinks). Returns the length written. */
size_t lab_text_clean(char *dst, size_t n, const char *src);

/* Write text (len bytes) to out, each line cleaned as by lab_text_clean
 * but the newlines between lines kept. Returns 0 or -1 when out fails or
 * memory runs out. */
int lab_text_write_clean(FILE *out, const char *text, size_t len);

/* 1 when s has nothing lab_text_clean would change. */
int lab_text_is_clean(const char *s);

#endif
