/* The exec driver (see exec.h): one process per step, JSON in and out,
 * artifacts from a per-attempt directory, process-group kill at cancel.
 * Not for: parsing instrument data (the command does that). */
#include "devices/drivers/exec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "protocols/envelope.h"
#include "common/banned.h"

extern char **environ;

/* stderr lines kept for the error text of a failed step */
#define S_TAIL_LINES 8
#define S_LINE_MAX 512
/* at most this many stderr lines are forwarded as LOG updates per attempt */
#define S_LOG_LINES_MAX 1000
/* room left in an envelope for everything but inline artifact content */
#define S_ENVELOPE_RESERVE (64u * 1024)
#define S_PATH_MAX 4096

typedef struct s_cmd {
    char *capability;
    char **argv;
    char *cwd;
} s_cmd;

typedef struct s_exec {
    char *device;
    s_cmd *cmds;
    size_t n_cmds;
    char *root;
    int grace_ms;
    size_t stdout_max;
    int keep;
} s_exec;

typedef struct s_job {
    s_exec *x;
    lab_step *step;                   /* NULL once finished */
    const s_cmd *cmd;
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t kill_timer;
    uv_write_t wreq;
    uv_buf_t wbuf;
    int open_handles;                 /* handles whose close callback has not run */
    int spawned, exited, out_done, err_done, killing, overflow;
    int64_t exit_status;
    int term_signal;
    char *out_buf;
    size_t out_len, out_cap;
    char line[S_LINE_MAX];            /* stderr line being assembled */
    size_t line_len;
    char tail[S_TAIL_LINES][S_LINE_MAX];
    size_t tail_next, tail_n;
    size_t log_lines;
    char dir[S_PATH_MAX];
} s_job;

/* ---- helpers ---- */

static int s_mkdir_p(const char *path, lab_err *err)
{
    char buf[S_PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return lab_err_set(err, LAB_EINVAL, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0775) != 0 && errno != EEXIST)
            return lab_err_from_errno(err, errno, buf);
        *p = '/';
    }
    if (mkdir(buf, 0775) != 0 && errno != EEXIST)
        return lab_err_from_errno(err, errno, buf);
    return 0;
}

/* Remove the regular files of dir (a per-attempt directory), then dir when
 * rmdir_too. Subdirectories are left alone (and so is dir then). dir is
 * opened without following a symbolic link and its entries are removed
 * relative to that handle, so a link planted where the directory should be
 * cannot point the cleaning at files elsewhere. */
static void s_clean_dir(const char *dir, int rmdir_too)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
    if (rmdir_too)
        rmdir(dir);
}

static const char *s_media_type(const char *name)
{
    static const char *const map[][2] = {
        {".json", "application/json"}, {".csv", "text/csv"},   {".tsv", "text/tab-separated-values"},
        {".txt", "text/plain"},        {".log", "text/plain"}, {".xy", "text/plain"},
        {".dat", "text/plain"},        {".xml", "application/xml"}, {".yaml", "application/yaml"},
        {".yml", "application/yaml"},  {".png", "image/png"},  {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},       {".tif", "image/tiff"}, {".tiff", "image/tiff"},
        {".svg", "image/svg+xml"},     {".pdf", "application/pdf"},
        {".h5", "application/x-hdf5"}, {".hdf5", "application/x-hdf5"},
        {".zip", "application/zip"},   {".gz", "application/gzip"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcasecmp(dot, map[i][0]))
                return map[i][1];
    return "application/octet-stream";
}

/* Read a whole file (at most max bytes kept in *data, NULL when larger) and
 * hash it. Returns 0 or < 0 with err. */
static int s_hash_file(const char *path, uint8_t sha[32], uint64_t *size, uint8_t **data,
                       size_t max, lab_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lab_err_from_errno(err, errno, path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        fclose(f);
        EVP_MD_CTX_free(md);
        return lab_err_set(err, LAB_ENOMEM, "sha256: cannot initialise");
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int keep = 1;
    uint8_t chunk[65536];
    size_t n;
    *size = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        EVP_DigestUpdate(md, chunk, n);
        *size += n;
        if (keep && len + n > max) {
            keep = 0;
            free(buf);
            buf = NULL;
        }
        if (keep) {
            if (len + n > cap) {
                size_t ncap = cap ? cap * 2 : 65536;
                while (ncap < len + n)
                    ncap *= 2;
                uint8_t *nb = realloc(buf, ncap);
                if (!nb) {
                    keep = 0;
                    free(buf);
                    buf = NULL;
                    continue;
                }
                buf = nb;
                cap = ncap;
            }
            memcpy(buf + len, chunk, n);
            len += n;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(md, sha, &mdlen);
    EVP_MD_CTX_free(md);
    if (rerr) {
        free(buf);
        return lab_err_set(err, LAB_EIO, "%s: read error", path);
    }
    *data = keep ? buf : NULL;
    if (keep && !buf)            /* empty file */
        *data = malloc(1);
    return 0;
}

/* Send every regular file of the attempt's directory as an artifact.
 * Returns 1 when some file could not be sent inline (keep the directory). */
static int s_collect_artifacts(s_job *j)
{
    struct dirent **names = NULL;
    int n = scandir(j->dir, &names, NULL, alphasort);
    if (n < 0)
        return 0;
    size_t budget = LAB_MSG_MAX - S_ENVELOPE_RESERVE - j->out_len;
    int kept = 0;
    char path[S_PATH_MAX], note[S_PATH_MAX + 256];
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        snprintf(path, sizeof path, "%s/%s", j->dir, name);
        struct stat st;
        if (name[0] == '.' || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(names[i]);
            continue;
        }
        uint8_t sha[32];
        uint64_t size = 0;
        uint8_t *data = NULL;
        lab_err e = {0};
        if (s_hash_file(path, sha, &size, &data, budget, &e) < 0) {
            snprintf(note, sizeof note, "artifact '%s' not sent: %s", name, e.msg);
            lab_step_progress(j->step, 0, note);
            kept = 1;
            free(names[i]);
            continue;
        }
        if (!data) {
            snprintf(note, sizeof note,
                     "artifact '%s' (%llu bytes) is too large to send inline (limit %u bytes per "
                     "result message); its sha256 and size are sent without content and the file "
                     "stays in %s (chunked transfer is planned)",
                     name, (unsigned long long)size, LAB_MSG_MAX, j->dir);
            lab_warn("device '%s': %s", j->x->device, note);
            lab_step_progress(j->step, 0, note);
            kept = 1;
        } else {
            budget -= (size_t)size;
        }
        lab_step_add_artifact(j->step, name, s_media_type(name), sha, size, data,
                              data ? (size_t)size : 0);
        free(data);
        free(names[i]);
    }
    free(names);
    return kept;
}

/* ---- the environment and stdin of the command ---- */

static void s_env_name(char *out, size_t len, const char *param)
{
    int n = snprintf(out, len, "LABLOOP_PARAM_");
    size_t i = (size_t)n;
    for (const char *p = param; *p && i + 1 < len; p++)
        out[i++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    out[i] = '\0';
}

static void s_value_text(const Labloop__Value *v, char *out, size_t len)
{
    if (!v) {
        snprintf(out, len, "%s", "");
        return;
    }
    switch (v->kind_case) {
    case LABLOOP__VALUE__KIND_NUMBER: snprintf(out, len, "%.15g", v->number); break;
    case LABLOOP__VALUE__KIND_INTEGER: snprintf(out, len, "%lld", (long long)v->integer); break;
    case LABLOOP__VALUE__KIND_FLAG: snprintf(out, len, "%s", v->flag ? "true" : "false"); break;
    case LABLOOP__VALUE__KIND_TEXT: snprintf(out, len, "%s", v->text ? v->text : ""); break;
    default: snprintf(out, len, "%s", ""); break;
    }
}

static char *s_strjoin(const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s=%s", name, value);
    return s;
}

static void s_env_free(char **env)
{
    if (!env)
        return;
    for (char **p = env; *p; p++)
        free(*p);
    free(env);
}

/* The worker's environment without LABLOOP_* plus the step's variables. */
static char **s_build_env(s_job *j)
{
    lab_step *s = j->step;
    size_t n_env = 0;
    for (char **p = environ; p && *p; p++)
        n_env++;
    size_t np = lab_step_n_params(s);
    char **env = calloc(n_env + np + 16, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **p = environ; p && *p; p++)
        if (strncmp(*p, "LABLOOP_", 8) != 0)
            env[k++] = strdup(*p);
    char name[256], value[4096];
    for (size_t i = 0; i < np; i++) {
        const Labloop__Param *pa = lab_step_param_at(s, i);
        if (!pa->name || !*pa->name)
            continue;
        s_env_name(name, sizeof name, pa->name);
        s_value_text(pa->value, value, sizeof value);
        env[k++] = s_strjoin(name, value);
    }
    env[k++] = s_strjoin("LABLOOP_ATTEMPT", lab_step_attempt(s));
    env[k++] = s_strjoin("LABLOOP_EXPERIMENT", lab_step_experiment(s) ? lab_step_experiment(s) : "");
    env[k++] = s_strjoin("LABLOOP_SAMPLE", lab_step_sample(s) ? lab_step_sample(s) : "");
    env[k++] = s_strjoin("LABLOOP_STEP", lab_step_name(s) ? lab_step_name(s) : "");
    env[k++] = s_strjoin("LABLOOP_CAPABILITY", lab_step_capability(s));
    env[k++] = s_strjoin("LABLOOP_DEVICE", j->x->device);
    env[k++] = s_strjoin("LABLOOP_ARTIFACTS", j->dir);
    env[k] = NULL;
    for (size_t i = 0; i < k; i++)
        if (!env[i]) {
            s_env_free(env);
            return NULL;
        }
    return env;
}

static char *s_params_json(lab_step *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < lab_step_n_params(s); i++) {
        const Labloop__Param *p = lab_step_param_at(s, i);
        const Labloop__Value *v = p->value;
        json_t *jv = NULL;
        if (!p->name || !v)
            continue;
        switch (v->kind_case) {
        case LABLOOP__VALUE__KIND_NUMBER: jv = json_real(v->number); break;
        case LABLOOP__VALUE__KIND_INTEGER: jv = json_integer((json_int_t)v->integer); break;
        case LABLOOP__VALUE__KIND_FLAG: jv = json_boolean(v->flag); break;
        case LABLOOP__VALUE__KIND_TEXT: jv = json_string(v->text ? v->text : ""); break;
        default: jv = json_null(); break;
        }
        json_object_set_new(o, p->name, jv);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* ---- the job's life ---- */

static void s_job_closed(uv_handle_t *h)
{
    s_job *j = h->data;
    if (--j->open_handles > 0)
        return;
    free(j->out_buf);
    free(j->wbuf.base);
    free(j);
}

static void s_close(s_job *j, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = j;
        uv_close(h, s_job_closed);
    }
}

static void s_kill_group(s_job *j, int sig)
{
    if (j->spawned && j->proc.pid > 0)
        kill(-j->proc.pid, sig);    /* pid == pgid: the command leads its own group */
}

static void s_on_kill_timer(uv_timer_t *t)
{
    s_job *j = t->data;
    lab_warn("device '%s': command for '%s' ignored SIGTERM for %d ms; sending SIGKILL to its "
             "process group", j->x->device, j->cmd->capability, j->x->grace_ms);
    s_kill_group(j, SIGKILL);
}

static void s_stop(s_job *j)
{
    if (j->killing || j->exited)
        return;
    j->killing = 1;
    s_kill_group(j, SIGTERM);
    uv_timer_start(&j->kill_timer, s_on_kill_timer, (uint64_t)j->x->grace_ms, 0);
}

static void s_tail_text(s_job *j, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    size_t start = (j->tail_next + S_TAIL_LINES - j->tail_n) % S_TAIL_LINES;
    for (size_t i = 0; i < j->tail_n && used + 1 < len; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? " | " : "",
                         j->tail[(start + i) % S_TAIL_LINES]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* A printable, bounded copy of the first bytes of stdout. */
static void s_first_bytes(const char *buf, size_t len, char *out, size_t out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && i < 60 && k + 5 < out_len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f) {
            out[k++] = (char)c;
        } else {
            int n = snprintf(out + k, out_len - k, "\\x%02x", c);
            k += (size_t)n;
        }
    }
    out[k] = '\0';
    if (len > 60 && k + 4 < out_len)
        snprintf(out + k, out_len - k, "...");
}

/* Turn stdout into step values. 0, or < 0 with msg set. */
static int s_parse_results(s_job *j, char *msg, size_t len)
{
    size_t i = 0;
    while (i < j->out_len && isspace((unsigned char)j->out_buf[i]))
        i++;
    if (i == j->out_len)
        return 0;                    /* nothing printed: no values */
    json_error_t je;
    json_t *root = json_loadb(j->out_buf, j->out_len, 0, &je);
    if (!root) {
        char first[400];
        s_first_bytes(j->out_buf, j->out_len, first, sizeof first);
        snprintf(msg, len, "command printed invalid JSON on stdout: %s (first bytes: %s)", je.text,
                 first);
        return LAB_EPROTO;
    }
    if (!json_is_object(root)) {
        snprintf(msg, len, "command printed JSON that is not an object on stdout; print one object "
                           "of results such as {\"absorbance\": 0.42}");
        json_decref(root);
        return LAB_EPROTO;
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (json_is_integer(v))
            lab_step_add_number(j->step, key, (double)json_integer_value(v), NULL);
        else if (json_is_real(v))
            lab_step_add_number(j->step, key, json_real_value(v), NULL);
        else if (json_is_string(v))
            lab_step_add_text(j->step, key, json_string_value(v));
        else if (json_is_boolean(v))
            lab_step_add_flag(j->step, key, json_is_true(v));
        else {
            snprintf(msg, len, "result '%s' on stdout is %s; only numbers, strings and booleans are "
                               "allowed (put larger data in a file in $LABLOOP_ARTIFACTS)", key,
                     json_is_null(v) ? "null" : json_is_array(v) ? "an array" : "an object");
            rc = LAB_EPROTO;
            break;
        }
    }
    json_decref(root);
    return rc;
}

static void s_maybe_finish(s_job *j)
{
    if (!j->step || !j->exited || !j->out_done || !j->err_done)
        return;
    lab_step *step = j->step;
    if (j->line_len) {               /* a last stderr line without newline */
        j->line[j->line_len] = '\0';
        snprintf(j->tail[j->tail_next], S_LINE_MAX, "%s", j->line);
        j->tail_next = (j->tail_next + 1) % S_TAIL_LINES;
        if (j->tail_n < S_TAIL_LINES)
            j->tail_n++;
        lab_step_progress(step, 0, j->line);
        j->line_len = 0;
    }
    char msg[1024] = "", tail[2048];
    s_tail_text(j, tail, sizeof tail);
    lab_step_status status = LAB_STEP_DONE;
    if (j->overflow) {
        status = LAB_STEP_FAILED;
        snprintf(msg, sizeof msg, "command printed more than %zu bytes on stdout (the limit); print "
                 "only the results object and put large data in files in $LABLOOP_ARTIFACTS",
                 j->x->stdout_max);
    } else if (j->term_signal) {
        status = LAB_STEP_FAILED;
        snprintf(msg, sizeof msg, "command was killed by signal %d%s%s", j->term_signal,
                 *tail ? "; stderr: " : "", tail);
    } else if (j->exit_status != 0) {
        status = LAB_STEP_FAILED;
        snprintf(msg, sizeof msg, "command exited with code %lld%s%s", (long long)j->exit_status,
                 *tail ? "; stderr: " : "; stderr was empty", tail);
    } else if (s_parse_results(j, msg, sizeof msg) < 0) {
        status = LAB_STEP_FAILED;
    }
    int kept = s_collect_artifacts(j);
    if (!j->x->keep && !kept)
        s_clean_dir(j->dir, 1);
    j->step = NULL;
    if (status == LAB_STEP_DONE)
        lab_step_finish(step, LAB_STEP_DONE, NULL);
    else
        lab_step_finish(step, status, "device '%s': step '%s' (%s): %s", j->x->device,
                        lab_step_name(step) ? lab_step_name(step) : "", j->cmd->capability, msg);
    uv_timer_stop(&j->kill_timer);
    s_close(j, (uv_handle_t *)&j->kill_timer);
    s_close(j, (uv_handle_t *)&j->proc);
    s_close(j, (uv_handle_t *)&j->in);
    s_close(j, (uv_handle_t *)&j->out);
    s_close(j, (uv_handle_t *)&j->err);
}

static void s_on_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    s_job *j = p->data;
    j->exited = 1;
    j->exit_status = exit_status;
    j->term_signal = term_signal;
    /* Nothing of a step outlives it: children left in its group (which may
     * also hold stdout open) go with the leader. */
    s_kill_group(j, SIGKILL);
    uv_timer_stop(&j->kill_timer);
    s_maybe_finish(j);
}

static void s_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void s_on_stdout(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    s_job *j = st->data;
    if (n > 0 && !j->overflow) {
        if (j->out_len + (size_t)n > j->x->stdout_max) {
            j->overflow = 1;
            lab_warn("device '%s': command for '%s' printed more than %zu bytes on stdout; stopping "
                     "it", j->x->device, j->cmd->capability, j->x->stdout_max);
            uv_read_stop(st);
            j->out_done = 1;
            s_stop(j);
        } else {
            if (j->out_len + (size_t)n + 1 > j->out_cap) {
                size_t cap = j->out_cap ? j->out_cap : 4096;
                while (cap < j->out_len + (size_t)n + 1)
                    cap *= 2;
                char *nb = realloc(j->out_buf, cap);
                if (nb) {
                    j->out_buf = nb;
                    j->out_cap = cap;
                }
            }
            if (j->out_len + (size_t)n + 1 <= j->out_cap) {
                memcpy(j->out_buf + j->out_len, buf->base, (size_t)n);
                j->out_len += (size_t)n;
            }
        }
    } else if (n < 0) {
        uv_read_stop(st);
        j->out_done = 1;
    }
    free(buf->base);
    s_maybe_finish(j);
}

static void s_stderr_line(s_job *j)
{
    j->line[j->line_len] = '\0';
    snprintf(j->tail[j->tail_next], S_LINE_MAX, "%s", j->line);
    j->tail_next = (j->tail_next + 1) % S_TAIL_LINES;
    if (j->tail_n < S_TAIL_LINES)
        j->tail_n++;
    if (j->step && j->log_lines < S_LOG_LINES_MAX)
        lab_step_progress(j->step, 0, j->line);
    else if (j->step && j->log_lines == S_LOG_LINES_MAX)
        lab_step_progress(j->step, 0, "(more stderr lines not forwarded)");
    j->log_lines++;
    lab_debug("device '%s' [%s] stderr: %s", j->x->device, j->cmd->capability, j->line);
    j->line_len = 0;
}

static void s_on_stderr(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    s_job *j = st->data;
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            s_stderr_line(j);
        } else if (j->line_len + 1 < S_LINE_MAX) {
            j->line[j->line_len++] = c;
        } else {
            s_stderr_line(j);     /* a very long line is split */
            j->line[j->line_len++] = c;
        }
    }
    if (n < 0) {
        uv_read_stop(st);
        j->err_done = 1;
    }
    free(buf->base);
    s_maybe_finish(j);
}

static void s_on_written(uv_write_t *req, int status)
{
    s_job *j = req->data;
    (void)status;                 /* a command that does not read stdin is fine */
    s_close(j, (uv_handle_t *)&j->in);
}

static const s_cmd *s_find(const s_exec *x, const char *cap)
{
    for (size_t i = 0; i < x->n_cmds; i++)
        if (cap && !strcmp(x->cmds[i].capability, cap))
            return &x->cmds[i];
    return NULL;
}

/* root/<attempt id with every byte but letters, digits, '-' and '.' as '_'>,
 * and a leading '.' as '_' too: one new name directly under root whatever
 * the id ("..", "../x" and "" cannot name root's parent or root itself). */
static int s_attempt_dir(const s_exec *x, const char *attempt, char *out, size_t len, lab_err *err)
{
    if (!attempt || !*attempt)
        return lab_err_set(err, LAB_EINVAL, "the attempt id is empty");
    int n = snprintf(out, len, "%s/", x->root);
    if (n < 0 || (size_t)n + strlen(attempt) + 1 > len)
        return lab_err_set(err, LAB_EINVAL, "the attempt's directory name would be too long");
    size_t k = (size_t)n;
    for (const char *p = attempt; *p; p++)
        out[k++] = isalnum((unsigned char)*p) || *p == '-' || (*p == '.' && p != attempt) ? *p : '_';
    out[k] = '\0';
    return 0;
}

static int s_start(void *drv, uv_loop_t *loop, lab_step *step, lab_err *err)
{
    s_exec *x = drv;
    const s_cmd *cmd = s_find(x, lab_step_capability(step));
    if (!cmd)
        return lab_err_set(err, LAB_EINVAL, "no command configured for capability '%s'",
                           lab_step_capability(step));
    s_job *j = calloc(1, sizeof *j);
    if (!j)
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    j->x = x;
    j->step = step;
    j->cmd = cmd;
    if (s_attempt_dir(x, lab_step_attempt(step), j->dir, sizeof j->dir, err) < 0) {
        free(j);
        return err->code;
    }
    if (s_mkdir_p(j->dir, err) < 0) {
        free(j);
        return lab_err_prefix(err, "cannot create the artifacts directory: ");
    }
    struct stat st;
    if (lstat(j->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {   /* e.g. a symbolic link left there */
        lab_err_set(err, LAB_EDRIVER, "the artifacts directory %s is not a directory of its own", j->dir);
        free(j);
        return err->code;
    }
    s_clean_dir(j->dir, 0);            /* files of an earlier run of this attempt id */
    char **env = s_build_env(j);
    char *json = s_params_json(step);
    if (!env || !json) {
        s_env_free(env);
        free(json);
        free(j);
        return lab_err_set(err, LAB_ENOMEM, "out of memory");
    }
    uv_pipe_init(loop, &j->in, 0);
    uv_pipe_init(loop, &j->out, 0);
    uv_pipe_init(loop, &j->err, 0);
    uv_timer_init(loop, &j->kill_timer);
    j->in.data = j->out.data = j->err.data = j->kill_timer.data = j->proc.data = j;
    j->open_handles = 5;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&j->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&j->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&j->err;
    uv_process_options_t po = {0};
    po.exit_cb = s_on_exit;
    po.file = cmd->argv[0];
    po.args = cmd->argv;
    po.env = env;
    po.cwd = cmd->cwd;
    po.flags = UV_PROCESS_DETACHED;    /* setsid: its own session and process group */
    po.stdio_count = 3;
    po.stdio = stdio;
    int rc = uv_spawn(loop, &j->proc, &po);
    s_env_free(env);
    if (rc != 0) {
        free(json);
        lab_err_set(err, LAB_EDRIVER, "cannot run '%s' for '%s': %s", cmd->argv[0],
                    cmd->capability, uv_strerror(rc));
        j->step = NULL;
        s_close(j, (uv_handle_t *)&j->kill_timer);
        s_close(j, (uv_handle_t *)&j->proc);
        s_close(j, (uv_handle_t *)&j->in);
        s_close(j, (uv_handle_t *)&j->out);
        s_close(j, (uv_handle_t *)&j->err);
        return err->code;
    }
    j->spawned = 1;
    lab_step_set_driver_data(step, j);
    lab_debug("device '%s': started '%s' (pid %d) for attempt %s", x->device, cmd->argv[0],
              j->proc.pid, lab_step_attempt(step));
    j->wbuf = uv_buf_init(json, (unsigned int)strlen(json));
    j->wreq.data = j;
    if (uv_write(&j->wreq, (uv_stream_t *)&j->in, &j->wbuf, 1, s_on_written) != 0)
        s_close(j, (uv_handle_t *)&j->in);
    uv_read_start((uv_stream_t *)&j->out, s_alloc, s_on_stdout);
    uv_read_start((uv_stream_t *)&j->err, s_alloc, s_on_stderr);
    return 0;
}

static void s_cancel(void *drv, lab_step *step)
{
    (void)drv;
    s_job *j = lab_step_driver_data(step);
    if (j)
        s_stop(j);
}

static int s_attach(void *drv, lab_worker *w, uv_loop_t *loop, lab_err *err)
{
    (void)drv;
    (void)w;
    (void)loop;
    (void)err;
    /* A command that exits without reading its stdin must not kill the
     * worker with SIGPIPE when the parameters are written to it. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void s_destroy(void *drv)
{
    s_exec *x = drv;
    if (!x)
        return;
    for (size_t i = 0; i < x->n_cmds; i++) {
        free(x->cmds[i].capability);
        for (char **a = x->cmds[i].argv; a && *a; a++)
            free(*a);
        free(x->cmds[i].argv);
        free(x->cmds[i].cwd);
    }
    free(x->cmds);
    free(x->root);
    free(x->device);
    free(x);
}

void *lab_exec_driver_new(const lab_exec_opts *o, lab_err *err)
{
    s_exec *x = calloc(1, sizeof *x);
    if (!x) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    x->device = strdup(o->device ? o->device : "exec");
    x->grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : LAB_EXEC_KILL_GRACE_MS;
    x->stdout_max = o->stdout_max ? o->stdout_max : LAB_EXEC_STDOUT_MAX;
    x->keep = o->keep_artifacts;
    if (o->artifacts_dir) {
        x->root = strdup(o->artifacts_dir);
    } else {
        char buf[S_PATH_MAX];
        const char *tmp = getenv("TMPDIR");
        snprintf(buf, sizeof buf, "%s/labloop-%s-artifacts", tmp && *tmp ? tmp : "/tmp", x->device);
        x->root = strdup(buf);
    }
    x->cmds = calloc(o->n_commands ? o->n_commands : 1, sizeof *x->cmds);
    if (!x->device || !x->root || !x->cmds)
        goto nomem;
    for (size_t i = 0; i < o->n_commands; i++) {
        const lab_exec_command *c = &o->commands[i];
        s_cmd *d = &x->cmds[x->n_cmds++];
        d->capability = strdup(c->capability);
        d->cwd = c->cwd ? strdup(c->cwd) : NULL;
        size_t n = 0;
        if (c->argv)
            while (c->argv[n])
                n++;
        if ((!c->shell && n == 0) || (c->shell && !*c->shell)) {
            lab_err_set(err, LAB_ECONFIG, "device '%s': capability '%s' has an empty command",
                        x->device, c->capability);
            s_destroy(x);
            return NULL;
        }
        d->argv = calloc((c->shell ? 3 : n) + 1, sizeof *d->argv);
        if (!d->capability || !d->argv)
            goto nomem;
        if (c->shell) {
            d->argv[0] = strdup("/bin/sh");
            d->argv[1] = strdup("-c");
            d->argv[2] = strdup(c->shell);
        } else {
            for (size_t k = 0; k < n; k++)
                d->argv[k] = strdup(c->argv[k]);
        }
    }
    if (s_mkdir_p(x->root, err) < 0) {
        lab_err_prefix(err, "device '%s': cannot create the artifacts directory: ", x->device);
        s_destroy(x);
        return NULL;
    }
    return x;
nomem:
    s_destroy(x);
    lab_err_set(err, LAB_ENOMEM, "out of memory");
    return NULL;
}

const lab_driver_ops lab_exec_driver_ops = {
    .name = "exec",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
    .attach = s_attach,
};
