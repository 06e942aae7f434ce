/* The failure brake (see brake.h). */
#include "orchestrator/brake.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

void lab_brake_init(lab_brake *b, int after)
{
    memset(b, 0, sizeof *b);
    b->after = after;
}

void lab_brake_reset(lab_brake *b)
{
    b->count = 0;
    b->key[0] = b->cause[0] = '\0';
}

void lab_brake_measured(lab_brake *b)
{
    lab_brake_reset(b);
}

/* A number as a worker or labloop writes one: digits with an optional
 * sign, decimal point and exponent ("3", "-0.25", "1.5e-06"). A digit
 * inside a word ("furnace-2", "exp7") counts too: it is what tells two
 * experiments, attempts or devices of one kind apart. */
static size_t s_number_len(const char *s)
{
    size_t i = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    size_t digits = 0;
    while (isdigit((unsigned char)s[i]) || s[i] == '.') {
        digits += isdigit((unsigned char)s[i]) != 0;
        i++;
    }
    if (!digits)
        return 0;
    if ((s[i] == 'e' || s[i] == 'E') &&
        (isdigit((unsigned char)s[i + 1]) ||
         ((s[i + 1] == '-' || s[i + 1] == '+') && isdigit((unsigned char)s[i + 2])))) {
        i += 2;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    return i;
}

void lab_brake_cause_key(const char *error, char *out, size_t n)
{
    if (!n)
        return;
    const char *e = error ? error : "";
    /* "step 'x': ... (after 3 attempts)": retried and first-time failures
     * of one kind are one cause (as `show` groups them). */
    const char *tail = strstr(e, " (after ");
    size_t len = tail ? (size_t)(tail - e) : strlen(e);
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < n;) {
        size_t k = isdigit((unsigned char)e[i]) || ((e[i] == '-' || e[i] == '+' || e[i] == '.') &&
                                                    (i == 0 || !isalnum((unsigned char)e[i - 1])))
                       ? s_number_len(e + i)
                       : 0;
        if (k && i + k <= len) {
            out[j++] = '#';
            i += k;
        } else {
            out[j++] = e[i++];
        }
    }
    out[j] = '\0';
}

int lab_brake_failed(lab_brake *b, const char *error)
{
    char key[LAB_BRAKE_CAUSE_MAX];
    lab_brake_cause_key(error, key, sizeof key);
    if (b->count > 0 && !strcmp(key, b->key)) {
        b->count++;
    } else {
        b->count = 1;
        snprintf(b->key, sizeof b->key, "%s", key);
    }
    snprintf(b->cause, sizeof b->cause, "%s", error ? error : "");
    return b->after > 0 && b->count >= b->after;
}
