/* The worker's outbox on disk (see outbox.h). */
#include "devices/outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "protocols/envelope.h"
#include "common/banned.h"

#define S_SUFFIX ".result"
#define S_TMP ".tmp"
#define S_STALE "stale"
#define S_NAME_MAX 255       /* the longest file name ext4, xfs and btrfs take */
#define S_HASH_HEX 16        /* hex digits of SHA-256 that stand for a cut attempt id */

static int s_plain(unsigned char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           (c == '.' && !first);
}

/* Append the escaped form of s (at most max bytes of it) at path + *k. */
static int s_escape(const char *s, size_t max, char *path, size_t *k, size_t n)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        int w = s_plain(c, i == 0) ? snprintf(path + *k, n - *k, "%c", c)
                                   : snprintf(path + *k, n - *k, "%%%02X", c);
        if (w < 0 || (size_t)w >= n - *k)
            return -1;
        *k += (size_t)w;
    }
    return 0;
}

int lab_outbox_escape(const char *s, char *out, size_t n)
{
    size_t k = 0;
    if (n == 0)
        return -1;
    out[0] = '\0';
    return s_escape(s, (size_t)-1, out, &k, n);
}

/* Append the attempt's part of the name: its escaped form when that fits in
 * `room` bytes; else as much of that as leaves room for "~" and the first
 * S_HASH_HEX hex digits of the attempt id's SHA-256 (a '~' never appears in
 * an escaped form, so such a name cannot be taken for another id's). The
 * file still holds the whole id, and the loader checks it against the name. */
static int s_attempt_part(const char *attempt, size_t room, char *path, size_t *k, size_t n)
{
    size_t keep = room > S_HASH_HEX + 1 ? room - S_HASH_HEX - 1 : 0, len = 0, cut = 0;
    for (size_t i = 0; attempt[i]; i++) {      /* escaped length; the longest prefix that keeps */
        len += s_plain((unsigned char)attempt[i], i == 0) ? 1 : 3;
        if (len <= keep)
            cut = i + 1;
    }
    if (len <= room)
        return s_escape(attempt, (size_t)-1, path, k, n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (room < S_HASH_HEX + 2 || s_escape(attempt, cut, path, k, n) < 0 || *k + 1 + S_HASH_HEX >= n ||
        !EVP_Digest(attempt, strlen(attempt), md, &md_len, EVP_sha256(), NULL))
        return -1;
    path[(*k)++] = '~';
    for (int i = 0; i < S_HASH_HEX / 2; i++)
        *k += (size_t)snprintf(path + *k, n - *k, "%02x", md[i]);
    return 0;
}

int lab_outbox_path(const char *dir, const char *run, const char *attempt, const char *suffix, char *path,
                    size_t n)
{
    int w = snprintf(path, n, "%s/", dir);
    if (w < 0 || (size_t)w >= n)
        return -1;
    size_t k = (size_t)w, base = k;
    if (run && *run) {
        if (s_escape(run, LAB_OUTBOX_RUN_MAX, path, &k, n) < 0 || k + 1 >= n)
            return -1;
        path[k++] = '+';
        path[k] = '\0';
    }
    /* The same stem whatever the suffix: the longest one sets the room. */
    if (s_attempt_part(attempt, S_NAME_MAX - (sizeof S_SUFFIX - 1) - (k - base), path, &k, n) < 0)
        return -1;
    w = snprintf(path + k, n - k, "%s", suffix);
    return w < 0 || (size_t)w >= n - k ? -1 : 0;
}

static int s_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int s_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int lab_outbox_save(const char *dir, const char *run, const char *attempt, const uint8_t *buf, size_t len,
                    lab_err *err)
{
    char tmp[4096], path[4096];
    if (lab_outbox_path(dir, run, attempt, S_TMP, tmp, sizeof tmp) < 0 ||
        lab_outbox_path(dir, run, attempt, S_SUFFIX, path, sizeof path) < 0)
        return lab_err_set(err, LAB_EINVAL, "the file name for %s would be too long", attempt);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && s_write_all(fd, buf, len) == 0 && fsync(fd) == 0;
    int saved = ok ? 0 : errno;
    if (fd >= 0)
        close(fd);
    if (ok && (rename(tmp, path) < 0 || s_sync_dir(dir) < 0)) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        return lab_err_set(err, LAB_EIO, "%s: %s", path, strerror(saved));
    }
    return 0;
}

int lab_outbox_remove(const char *dir, const char *run, const char *attempt, lab_err *err)
{
    char path[4096];
    if (lab_outbox_path(dir, run, attempt, S_SUFFIX, path, sizeof path) < 0)
        return 0;                    /* never saved */
    if (unlink(path) < 0 && errno != ENOENT)
        return lab_err_set(err, LAB_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

int lab_outbox_set_aside(const char *dir, const char *run, const char *attempt, lab_err *err)
{
    char path[4096], stale[4096], to[4096];
    if (lab_outbox_path(dir, run, attempt, S_SUFFIX, path, sizeof path) < 0)
        return 0;
    snprintf(stale, sizeof stale, "%s/" S_STALE, dir);
    const char *base = path + strlen(dir) + 1;
    if (snprintf(to, sizeof to, "%s/%s", stale, base) >= (int)sizeof to)
        return lab_err_set(err, LAB_EINVAL, "%s: the stale name would be too long", path);
    if ((mkdir(stale, 0700) < 0 && errno != EEXIST) || rename(path, to) < 0 || s_sync_dir(dir) < 0)
        return lab_err_set(err, LAB_EIO, "%s: cannot move it to %s: %s", path, stale, strerror(errno));
    return 0;
}

static int s_unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The run in a file name "<run>+...": unescaped into run (n bytes). */
static int s_name_run(const char *name, char *run, size_t n)
{
    const char *plus = strchr(name, '+');
    size_t k = 0;
    for (const char *c = name; plus && c < plus; c++) {
        int v = *c;
        if (*c == '%') {
            int hi = s_unhex(c[1]), lo = hi < 0 ? -1 : s_unhex(c[2]);
            if (lo < 0)
                return -1;
            v = hi * 16 + lo;
            c += 2;
        }
        if (k + 1 >= n)
            return -1;
        run[k++] = (char)v;
    }
    run[k] = '\0';
    return 0;
}

/* One saved result: 1 when it was handed to fn, 0 when it is not one. */
static int s_load_file(const char *dir, const char *name, lab_outbox_fn fn, void *arg)
{
    char path[4096], expect[4096], run[LAB_OUTBOX_RUN_MAX + 1];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(LAB_MSG_MAX + 1);
    size_t len = f && buf ? fread(buf, 1, LAB_MSG_MAX + 1, f) : 0;
    if (f)
        fclose(f);
    lab_err e = {0};
    lab_env *env = buf && len <= LAB_MSG_MAX ? lab_env_decode(buf, len, LAB_MSG_MAX, &e) : NULL;
    const char *attempt = env && env->body_case == LABLOOP__ENVELOPE__BODY_STEP_RESULT &&
                                  env->step_result->attempt_id && *env->step_result->attempt_id
                              ? env->step_result->attempt_id : NULL;
    int ok = attempt && s_name_run(name, run, sizeof run) == 0 &&
             lab_outbox_path(dir, run, attempt, S_SUFFIX, expect, sizeof expect) == 0 && !strcmp(expect, path);
    if (ok) {
        fn(run, attempt, buf, len, arg);
        buf = NULL;
    } else {
        lab_warn("%s in the outbox is not a saved result (%s); left as it is", path,
                 e.code ? e.msg : !f ? strerror(errno) : "not a step result of its own name");
    }
    lab_env_free(env);
    free(buf);
    return ok;
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t l = strlen(s), sl = strlen(suffix);
    return l > sl && !strcmp(s + l - sl, suffix);
}

int lab_outbox_load(const char *dir, lab_outbox_fn fn, void *arg, lab_err *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return lab_err_set(err, LAB_EIO, "outbox %s: cannot make the directory: %s", dir, strerror(errno));
    if (access(dir, W_OK | X_OK) < 0)
        return lab_err_set(err, LAB_EIO, "outbox %s: cannot write there: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return lab_err_set(err, LAB_EIO, "outbox %s: cannot read the directory: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (s_ends_with(e->d_name, S_TMP)) {       /* a save a crash cut short: never sent */
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        } else if (s_ends_with(e->d_name, S_SUFFIX)) {
            n += s_load_file(dir, e->d_name, fn, arg);
        }
    }
    closedir(d);
    return n;
}
