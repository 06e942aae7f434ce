/* The simulated lab's journal (see journal.h). */
#include "sim/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/banned.h"

struct lab_sim_journal {
    int fd;
    char *path;
    char device[128];
};

/* Tabs and newlines would break the line format; ids never have them, but a
 * field is copied with them made spaces rather than trusted. */
static void s_field(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i < n - 1; i++)
        dst[i] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    if (i == 0 && n > 1)
        dst[i++] = '-';
    dst[i] = '\0';
}

static int s_write(lab_sim_journal *j, const char *what, const char *attempt, const char *experiment,
                   const char *step, const char *status, lab_err *err)
{
    char a[512], e[128], s[128], st[32], line[1024];
    s_field(a, sizeof a, attempt);
    s_field(e, sizeof e, experiment);
    s_field(s, sizeof s, step);
    int n = snprintf(line, sizeof line, "%s\t%s\t%s\t%s\t%s\t%ld\t%lld", what, a, e, s, j->device,
                     (long)getpid(), (long long)lab_clock_wall_us());
    if (status) {
        s_field(st, sizeof st, status);
        n += snprintf(line + n, n < (int)sizeof line ? sizeof line - (size_t)n : 0, "\t%s", st);
    }
    if (n >= (int)sizeof line - 1)
        return lab_err_set(err, LAB_EINVAL, "%s: journal line too long", j->path);
    line[n++] = '\n';
    /* One write() of the whole line: O_APPEND keeps lines from the lab's
     * several worker processes whole. */
    ssize_t w = write(j->fd, line, (size_t)n);
    if (w != n)
        return lab_err_from_errno(err, w < 0 ? errno : EIO, j->path);
    if (fsync(j->fd) != 0)
        return lab_err_from_errno(err, errno, j->path);
    return 0;
}

lab_sim_journal *lab_sim_journal_open(const char *path, const char *device, lab_err *err)
{
    lab_sim_journal *j = calloc(1, sizeof *j);
    if (!j) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    j->path = strdup(path);
    if (j->fd < 0 || !j->path) {
        if (j->fd < 0)
            lab_err_from_errno(err, errno, path);
        else
            lab_err_set(err, LAB_ENOMEM, "out of memory");
        lab_sim_journal_close(&j);
        return NULL;
    }
    s_field(j->device, sizeof j->device, device);
    if (s_write(j, "boot", NULL, NULL, NULL, NULL, err) < 0) {
        lab_sim_journal_close(&j);
        return NULL;
    }
    return j;
}

int lab_sim_journal_note(lab_sim_journal *j, const char *what, const char *attempt,
                         const char *experiment, const char *step, const char *status,
                         lab_err *err)
{
    return s_write(j, what, attempt, experiment, step, status, err);
}

void lab_sim_journal_close(lab_sim_journal **jp)
{
    lab_sim_journal *j = jp ? *jp : NULL;
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j);
    *jp = NULL;
}
