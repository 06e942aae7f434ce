/* Reading durations (see duration.h). */
#include "common/duration.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/banned.h"

int lab_duration_parse(const char *s, double *seconds)
{
    if (!s || !(isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))))
        return LAB_EINVAL;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno == ERANGE || !isfinite(x) || x < 0)
        return LAB_EINVAL;
    for (const char *p = s; p < end; p++)     /* decimal only: strtod also reads 0x10 */
        if (!isdigit((unsigned char)*p) && !strchr(".eE+-", *p))
            return LAB_EINVAL;
    static const struct {
        const char *unit;
        double scale;
    } units[] = {{"", 1}, {"s", 1}, {"ms", 0.001}, {"m", 60}, {"min", 60}, {"h", 3600}, {"d", 86400}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double v = x * units[i].scale;
            if (!isfinite(v))
                return LAB_EINVAL;
            *seconds = v;
            return 0;
        }
    }
    return LAB_EINVAL;
}
