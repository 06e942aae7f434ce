/* The worker's record of started attempts (see started.h). */
#include "devices/started.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/outbox.h"
#include "common/banned.h"

#define S_PREFIX "started"
#define S_SUFFIX ".log"
#define S_LINE_MAX 4096

struct lab_started {
    char **slot;                     /* open addressing, NULL empty */
    size_t n, cap;
    int fd;                          /* the journal, -1 memory only */
    char path[4096];
};

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int s_insert(lab_started *s, char *id)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t j = s_hash(s->slot[i]) & (cap - 1);
                while (slot[j])
                    j = (j + 1) & (cap - 1);
                slot[j] = s->slot[i];
            }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t j = s_hash(id) & (s->cap - 1);
    while (s->slot[j]) {
        if (!strcmp(s->slot[j], id)) {
            free(id);
            return 0;
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = id;
    s->n++;
    return 0;
}

int lab_started_has(const lab_started *s, const char *attempt)
{
    if (!s || !s->cap)
        return 0;
    for (size_t j = s_hash(attempt) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(s->slot[j], attempt))
            return 1;
    return 0;
}

size_t lab_started_count(const lab_started *s) { return s ? s->n : 0; }

static int s_unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One journal line (without its '\n') back to the attempt id. */
static char *s_unescape(const char *line, size_t len)
{
    char *id = malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; id && i < len; i++) {
        int v = (unsigned char)line[i];
        if (line[i] == '%') {
            int hi = i + 2 < len ? s_unhex(line[i + 1]) : -1, lo = hi < 0 ? -1 : s_unhex(line[i + 2]);
            if (lo < 0) {
                free(id);
                return NULL;
            }
            v = hi * 16 + lo;
            i += 2;
        }
        id[k++] = (char)v;
    }
    if (id)
        id[k] = '\0';
    return id;
}

/* Read the journal's complete lines; cut off a torn last one. */
static int s_read(lab_started *s, lab_err *err)
{
    FILE *f = fopen(s->path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : lab_err_set(err, LAB_EIO, "%s: %s", s->path, strerror(errno));
    char line[S_LINE_MAX];
    size_t len = 0;
    long good = 0, pos = 0;
    int c, rc = 0;
    while ((c = getc(f)) != EOF && rc == 0) {
        pos++;
        if (c != '\n') {
            if (len < sizeof line)
                line[len] = (char)c;
            len++;
            continue;
        }
        char *id = len && len <= sizeof line ? s_unescape(line, len) : NULL;
        if (id && s_insert(s, id) < 0) {
            free(id);
            rc = lab_err_set(err, LAB_ENOMEM, "out of memory");
        }
        len = 0;
        good = pos;
    }
    fclose(f);
    if (rc == 0 && pos != good && truncate(s->path, good) < 0)
        rc = lab_err_set(err, LAB_EIO, "%s: cannot cut off a torn last line: %s", s->path, strerror(errno));
    return rc;
}

/* Journals of runs other than ours ("started*.log" but not our name) go to stale/. */
static void s_set_aside_others(const char *dir, const char *mine)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, S_PREFIX, sizeof S_PREFIX - 1) != 0 || l < sizeof S_SUFFIX ||
            strcmp(e->d_name + l - (sizeof S_SUFFIX - 1), S_SUFFIX) != 0 || !strcmp(e->d_name, mine))
            continue;
        char from[4096], stale[4096], to[8192];
        snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
        snprintf(stale, sizeof stale, "%s/stale", dir);
        snprintf(to, sizeof to, "%s/%s", stale, e->d_name);
        if ((mkdir(stale, 0700) == 0 || errno == EEXIST) && rename(from, to) == 0)
            continue;
    }
    closedir(d);
}

lab_started *lab_started_open(const char *dir, const char *run, lab_err *err)
{
    lab_started *s = calloc(1, sizeof *s);
    if (!s) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    s->fd = -1;
    if (!dir)
        return s;
    char esc[3 * LAB_OUTBOX_RUN_MAX + 1] = "", name[512];
    char cut[LAB_OUTBOX_RUN_MAX + 1];
    snprintf(cut, sizeof cut, "%s", run ? run : "");
    if (cut[0] && lab_outbox_escape(cut, esc, sizeof esc) < 0) {
        lab_err_set(err, LAB_EINVAL, "run '%s' cannot be escaped", cut);
        goto fail;
    }
    snprintf(name, sizeof name, S_PREFIX "%s%s" S_SUFFIX, esc[0] ? "-" : "", esc);
    if (snprintf(s->path, sizeof s->path, "%s/%s", dir, name) >= (int)sizeof s->path) {
        lab_err_set(err, LAB_EINVAL, "%s: the journal's path is too long", dir);
        goto fail;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        lab_err_set(err, LAB_EIO, "%s: cannot make the directory: %s", dir, strerror(errno));
        goto fail;
    }
    s_set_aside_others(dir, name);
    if (s_read(s, err) < 0)
        goto fail;
    s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        lab_err_set(err, LAB_EIO, "%s: %s", s->path, strerror(errno));
        goto fail;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* the new file's name, durably */
    if (dfd < 0 || fsync(dfd) < 0) {
        lab_err_set(err, LAB_EIO, "%s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        goto fail;
    }
    close(dfd);
    return s;
fail:
    lab_started_destroy(&s);
    return NULL;
}

int lab_started_add(lab_started *s, const char *attempt, lab_err *err)
{
    if (!s)
        return lab_err_set(err, LAB_ENOMEM, "no record of started attempts (out of memory)");
    if (lab_started_has(s, attempt))
        return 0;
    char *id = strdup(attempt);
    if (!id)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    if (s->fd >= 0) {
        char line[S_LINE_MAX];
        size_t len;
        if (lab_outbox_escape(attempt, line, sizeof line - 1) < 0) {
            free(id);
            return lab_err_set(err, LAB_EINVAL, "attempt id too long for the journal");
        }
        len = strlen(line);
        line[len++] = '\n';
        struct stat st;
        off_t was = fstat(s->fd, &st) == 0 ? st.st_size : -1;
        const char *p = line;
        int ok = was >= 0;
        while (ok && len > 0) {
            ssize_t w = write(s->fd, p, len);
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            p += ok ? w : 0;
            len -= ok ? (size_t)w : 0;
        }
        if (!ok || fdatasync(s->fd) < 0) {
            int e = errno;
            if (was >= 0 && ftruncate(s->fd, was) < 0)   /* no half line for the next one to join */
                e = errno;
            free(id);
            return lab_err_set(err, LAB_EIO, "%s: %s", s->path, strerror(e));
        }
    }
    if (s_insert(s, id) < 0) {
        free(id);
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    }
    return 0;
}

void lab_started_destroy(lab_started **sp)
{
    if (!sp || !*sp)
        return;
    lab_started *s = *sp;
    *sp = NULL;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
