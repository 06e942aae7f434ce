/* Logging to stderr. One line per call, written with a single fputs so lines
 * from the orchestrator and its workers do not interleave mid-line. */
#include "common/log.h"
#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char s_role[32] = "labloop";
static lab_log_level s_level = LAB_LOG_INFO;

void lab_log_setup(const char *role, lab_log_level level)
{
    if (role)
        snprintf(s_role, sizeof s_role, "%s", role);
    s_level = level;
}

lab_log_level lab_log_get_level(void) { return s_level; }

void lab_log(lab_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < s_level || level >= LAB_LOG_QUIET)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_role, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) {
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        /* messages quote devices' text: one line, no terminal controls */
        lab_text_clean(line + n, sizeof line - (size_t)n, line + n);
    }
    va_end(ap);
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}
