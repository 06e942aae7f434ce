/* CURVE key files (see keys.h). */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/banned.h"

/* A key file is small; anything much bigger is not one. */
#define S_FILE_MAX 4096

static int s_valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 128 || s[0] == '.')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* 1 when s is 40 Z85 characters that decode to a 32-byte key. */
static int s_valid_z85(const char *s)
{
    uint8_t raw[32];
    return strlen(s) == 40 && zmq_z85_decode(raw, s) != NULL;
}

static int s_write_file(const char *path, const char *text, mode_t mode, int force, lab_err *err)
{
    int flags = O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return lab_err_set(err, LAB_ESTATE, "%s exists; keep it, or pass --force to replace it", path);
        return lab_err_from_errno(err, errno, path);
    }
    /* An old file kept its mode through O_TRUNC: set ours before writing. */
    size_t len = strlen(text);
    if (fchmod(fd, mode) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return lab_err_from_errno(err, e, path);
    }
    if (close(fd) != 0)
        return lab_err_from_errno(err, errno, path);
    return 0;
}

int lab_keys_generate(const char *dir, const char *name, int force, char pub[LAB_KEY_Z85], lab_err *err)
{
    if (!s_valid_name(name))
        return lab_err_set(err, LAB_EINVAL,
                           "key name '%s': use letters, digits, '.', '_' and '-' (not first), at most 128", name);
    char sec[LAB_KEY_Z85], kpath[1024], ppath[1024], stamp[64] = "";
    if (zmq_curve_keypair(pub, sec) != 0)
        return lab_err_from_zmq(err, "making a CURVE key pair (is libzmq built with CURVE?)");
    /* A folder made here is private: it is about to hold a secret key. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return lab_err_from_errno(err, errno, dir);
    snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name);
    snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name);
    if (!force) {
        if (access(kpath, F_OK) == 0)
            return lab_err_set(err, LAB_ESTATE, "%s exists; keep it, or pass --force to replace it", kpath);
        if (access(ppath, F_OK) == 0)
            return lab_err_set(err, LAB_ESTATE, "%s exists; keep it, or pass --force to replace it", ppath);
    }
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char text[1024];
    snprintf(text, sizeof text,
             "#   **** Made by labloop keygen on %s ****\n"
             "#   ZeroMQ CURVE **Secret** Certificate of '%s'\n"
             "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
             "metadata\n    name = \"%s\"\ncurve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             stamp, name, name, pub, sec);
    int rc = s_write_file(kpath, text, 0600, force, err);
    explicit_bzero(text, sizeof text);
    explicit_bzero(sec, sizeof sec);
    if (rc < 0)
        return rc;
    snprintf(text, sizeof text,
             "#   **** Made by labloop keygen on %s ****\n"
             "#   ZeroMQ CURVE Public Certificate of '%s'\n"
             "#   Give it to the lab that should accept '%s'; check it came unaltered.\n\n"
             "metadata\n    name = \"%s\"\ncurve\n    public-key = \"%s\"\n",
             stamp, name, name, name, pub);
    return s_write_file(ppath, text, 0644, force, err);
}

/* Read the value of `field = "..."` (or, for a bare key file, the first
 * line of 40 characters) from path into out. Returns 0, LAB_ENOTFOUND when
 * the file has no such line, or another error. */
static int s_read_field(const char *path, const char *field, int must_be_private, char out[LAB_KEY_Z85],
                        lab_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lab_err_from_errno(err, errno, path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lab_err_from_errno(err, e, path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lab_err_set(err, LAB_ECONFIG, "%s: not a regular file", path);
    }
    if (must_be_private && (st.st_mode & 077)) {
        close(fd);
        return lab_err_set(err, LAB_ECONFIG,
                           "%s: secret key file is readable by %s (mode %04o); run chmod 600 %s", path,
                           (st.st_mode & 070) ? "its group" : "others", (unsigned)(st.st_mode & 07777), path);
    }
    char buf[S_FILE_MAX + 1];
    ssize_t n = read(fd, buf, S_FILE_MAX);
    close(fd);
    if (n < 0)
        return lab_err_from_errno(err, errno, path);
    buf[n] = '\0';
    int rc = LAB_ENOTFOUND;
    size_t flen = strlen(field);
    int bare_ok = !strcmp(field, "public-key");
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        const char *v = NULL;
        if (!strncmp(line, field, flen)) {
            const char *p = line + flen;
            while (*p == ' ')
                p++;
            if (*p++ != '=')
                continue;
            while (*p == ' ')
                p++;
            v = *p == '"' ? p + 1 : p;
            if (strlen(v) != 40 + (*p == '"') || (*p == '"' && v[40] != '"'))
                continue;
        } else if (len == 40 && !bare_ok) {
            continue;
        } else if (len == 40 && line[0] != '#') {
            v = line;                      /* a file holding only the key */
        } else {
            continue;
        }
        char key[LAB_KEY_Z85];
        snprintf(key, sizeof key, "%.40s", v);
        if (s_valid_z85(key)) {
            memcpy(out, key, LAB_KEY_Z85);
            rc = 0;
        }
        explicit_bzero(key, sizeof key);
        if (!rc)
            break;
    }
    explicit_bzero(buf, sizeof buf);
    if (rc == LAB_ENOTFOUND)
        lab_err_set(err, LAB_ECONFIG, "%s: no %s (40 Z85 characters) in it; make key files with labloop keygen",
                    path, field);
    return rc == LAB_ENOTFOUND ? LAB_ECONFIG : rc;
}

int lab_keys_read_public(const char *path, char pub[LAB_KEY_Z85], lab_err *err)
{
    return s_read_field(path, "public-key", 0, pub, err);
}

int lab_keys_read_secret(const char *path, char sec[LAB_KEY_Z85], char pub[LAB_KEY_Z85], lab_err *err)
{
    int rc = s_read_field(path, "secret-key", 1, sec, err);
    if (rc < 0)
        return rc;
    char derived[LAB_KEY_Z85];
    if (zmq_curve_public(derived, sec) != 0) {
        explicit_bzero(sec, LAB_KEY_Z85);
        return lab_err_set(err, LAB_ECONFIG, "%s: the secret key is not a CURVE key", path);
    }
    if (pub)
        memcpy(pub, derived, LAB_KEY_Z85);
    return 0;
}

void lab_keys_public_path(const char *secret_path, char *out, size_t n)
{
    size_t len = strlen(secret_path);
    if (len > 4 && !strcmp(secret_path + len - 4, ".key"))
        snprintf(out, n, "%.*s.pub", (int)(len - 4), secret_path);
    else
        snprintf(out, n, "%s.pub", secret_path);
}

int lab_keys_apply_client(void *sock, const char *server_pub, const char *pub, const char *sec, lab_err *err)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 40) != 0)
        return lab_err_from_zmq(err, "setting CURVE keys");
    return 0;
}

int lab_keys_endpoint_is_local(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6;
    const char *semi = strchr(host, ';');
    if (semi)
        host = semi + 1;
    char h[256];
    const char *colon = strrchr(host, ':');
    if (!colon)
        return 0;
    snprintf(h, sizeof h, "%.*s", (int)(colon - host), host);
    if (!strcmp(h, "localhost") || !strcmp(h, "[::1]") || !strcmp(h, "::1"))
        return 1;
    /* 127.0.0.0/8, written as four decimal numbers */
    unsigned a, b, c, d;
    char extra;
    return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b < 256 && c < 256 && d < 256;
}
