/* Stripping control characters from device text (see text.h). A device's
 * error text or log line printed as it came could move the cursor, recolour
 * or retitle the operator's terminal, or hide earlier lines. */
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* Length of the escape sequence starting at s[0] == ESC (at least 1). */
static size_t s_escape_len(const unsigned char *s)
{
    size_t i = 1;
    if (s[i] == '[') {                        /* CSI: parameters, then a final byte */
        for (i = 2; s[i]; i++)
            if (s[i] >= 0x40 && s[i] <= 0x7e)
                return i + 1;
        return i;
    }
    if (s[i] == ']' || s[i] == 'P' || s[i] == '_' || s[i] == '^') {   /* OSC, DCS, APC, PM */
        for (i = 2; s[i]; i++) {
            if (s[i] == 0x07)
                return i + 1;
            if (s[i] == 0x1b && s[i + 1] == '\\')
                return i + 2;
        }
        return i;
    }
    return s[i] ? 2 : 1;                      /* ESC and one more byte */
}

size_t lab_text_clean(char *dst, size_t n, const char *src)
{
    if (n == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t k = 0;
    while (*s && k + 1 < n) {
        unsigned char c = *s;
        if (c == 0x1b) {
            s += s_escape_len(s);
        } else if (c == '\t' || c == '\n' || c == '\r') {
            dst[k++] = ' ';
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            s++;
        } else if (c == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) {
            s += 2;
        } else {
            dst[k++] = (char)c;
            s++;
        }
    }
    dst[k] = '\0';
    return k;
}

int lab_text_is_clean(const char *src)
{
    for (const unsigned char *s = (const unsigned char *)src; s && *s; s++)
        if (*s < 0x20 || *s == 0x7f || (*s == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f))
            return 0;
    return 1;
}

int lab_text_write_clean(FILE *out, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        char *line = malloc(n + 1);
        if (!line)
            return -1;
        memcpy(line, text + i, n);
        line[n] = '\0';
        lab_text_clean(line, n + 1, line);
        fputs(line, out);
        free(line);
        if (nl)
            fputc('\n', out);
        i += n + (nl ? 1 : 0);
    }
    return ferror(out) ? -1 : 0;
}
