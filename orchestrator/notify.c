/* Webhooks (see notify.h).
 *
 * Each webhook has a FIFO of notifications (JSON bodies built on the loop
 * thread). The delivery thread sends the head of each FIFO with libcurl's
 * multi interface, so webhooks are served side by side and one that hangs
 * holds up only its own queue; one at a time per webhook keeps a
 * receiver's notifications in order. A failed attempt (no answer within the
 * timeout, a connection error, a status other than 2xx) is tried again
 * after backoff * 2^(n-1), up to the webhook's retries, then given up.
 * The mutex guards the queues and counters; the loop thread holds it only
 * to link a body in or to read the counters. Easy handles belong to the
 * delivery thread alone.
 */
#include "orchestrator/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "common/banned.h"

/* Longest wait between two attempts, however many there were. */
#define S_BACKOFF_MAX_S 300.0
/* The delivery thread looks at its queues at least this often. */
#define S_POLL_MS 1000
/* A secret file holds a short key, not a document. */
#define S_SECRET_MAX 4096
/* Overflow lines logged for one event at most (one per webhook, bounded). */
#define LAB_NOTIFY_MAX_LOG 8

static const char *const s_kind_names[LAB_NOTIFY_N_KINDS] = {
    [LAB_NOTIFY_BRAKE] = "brake",
    [LAB_NOTIFY_PAUSE] = "pause",
    [LAB_NOTIFY_ESTOP] = "estop",
    [LAB_NOTIFY_DEVICE_LOST] = "device.lost",
    [LAB_NOTIFY_END] = "end",
};

/* Which orchestrator events make which notification: the one place that
 * knows the event kinds' names. status: for campaign.status, the status it
 * must name (NULL: every event of the kind). The failure brake records
 * campaign.braked {cause, failures}; a pause by an operator (or the brake)
 * records campaign.status {status: paused}. */
static const struct {
    const char *kind;
    const char *status;
    lab_notify_kind notify;
} s_map[] = {
    {"campaign.braked", NULL, LAB_NOTIFY_BRAKE},
    {"campaign.status", "paused", LAB_NOTIFY_PAUSE},
    {"campaign.estop", NULL, LAB_NOTIFY_ESTOP},
    {"device.lost", NULL, LAB_NOTIFY_DEVICE_LOST},
    {"campaign.status", "completed", LAB_NOTIFY_END},
    {"campaign.status", "exhausted", LAB_NOTIFY_END},
    {"campaign.status", "aborted", LAB_NOTIFY_END},
};

struct s_hook;

typedef struct s_item {
    struct s_item *next, *prev;       /* the webhook's queue, oldest first */
    struct s_hook *hook;
    char *body;                       /* the JSON sent */
    lab_notify_kind kind;
    char id[64];                      /* X-Labloop-Delivery: the same on every attempt */
    int attempts;                     /* attempts made */
    int64_t next_us;                  /* monotonic: not sent before */
    CURL *easy;                       /* in flight (delivery thread only) */
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
} s_item;

typedef struct s_hook {
    const lab_cfg_notify *cfg;
    size_t index;
    unsigned char *secret;            /* HMAC key, or NULL */
    size_t secret_len;
    s_item *head, *tail;
    size_t n;
    long sent, failed, retried, dropped;
} s_hook;

struct lab_notify {
    const lab_campaign_cfg *cfg;
    char lab[128];
    lab_notify_summary_fn summary;
    void *summary_arg;
    s_hook *hooks;
    size_t n_hooks;
    double max_timeout_s;
    long seq;
    json_t *last_status;              /* per campaign: the last campaign.status seen (loop thread) */
    lab_notify_campaign_summary_fn campaign_summary;

    pthread_mutex_t mu;
    int mu_ready;
    pthread_t thread;
    int started;
    CURLM *multi;
    int stopping;                     /* destroy: deliver what is left, then stop */
    int64_t drain_until_us;           /* monotonic */
    char last_error[256];
};

/* ------------------------------------------------------------ names and checks */

const char *lab_notify_kind_name(int kind)
{
    return kind >= 0 && kind < LAB_NOTIFY_N_KINDS ? s_kind_names[kind] : NULL;
}

int lab_notify_kind_parse(const char *name)
{
    for (int k = 0; name && k < LAB_NOTIFY_N_KINDS; k++)
        if (!strcmp(s_kind_names[k], name))
            return k;
    return -1;
}

int lab_notify_url_check(const char *url, char *why, size_t n)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(why, n, "must not contain spaces or control characters");
            return LAB_EINVAL;
        }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(why, n, "must start with http:// or https://");
        return LAB_EINVAL;
    }
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, n, "out of memory");
        return LAB_EINVAL;
    }
    char *host = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    int ok = rc == CURLUE_OK && host && *host;
    if (!ok)
        snprintf(why, n, "is not a usable URL (%s)", rc != CURLUE_OK ? curl_url_strerror(rc) : "no host");
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : LAB_EINVAL;
}

/* ------------------------------------------------------------ queues (mutex held) */

static void s_unlink(s_hook *h, s_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        h->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        h->tail = it->prev;
    h->n--;
}

static void s_free_item(s_item *it)
{
    if (!it)
        return;
    if (it->easy)
        curl_easy_cleanup(it->easy);
    curl_slist_free_all(it->headers);
    free(it->body);
    free(it);
}

static size_t s_pending(const lab_notify *n)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_hooks; i++)
        k += n->hooks[i].n;
    return k;
}

/* ------------------------------------------------------------ bodies (loop thread) */

static void s_iso_time(int64_t us, char *buf, size_t n)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", t, (int)((us / 1000) % 1000));
}

/* The notification an event makes, or -1. */
static int s_map_event(lab_notify *n, const char *campaign, const char *kind, const json_t *detail)
{
    const char *status = NULL;
    if (!strcmp(kind, "campaign.status") || !strcmp(kind, "campaign.resumed")) {
        status = json_string_value(json_object_get(detail, "status"));
        char prev[24] = "";
        if (!n->last_status)
            n->last_status = json_object();
        const char *was = json_string_value(json_object_get(n->last_status, campaign));
        snprintf(prev, sizeof prev, "%s", was ? was : "");
        json_object_set_new(n->last_status, campaign, json_string(status ? status : ""));
        if (strcmp(kind, "campaign.status") != 0)
            return -1;
        /* clear-estop leaves a halted campaign paused: the e-stop was told,
         * and nobody paused anything. */
        if (status && !strcmp(status, "paused") && !strcmp(prev, "halted"))
            return -1;
    }
    for (size_t i = 0; i < sizeof s_map / sizeof s_map[0]; i++)
        if (!strcmp(s_map[i].kind, kind) && (!s_map[i].status || (status && !strcmp(s_map[i].status, status))))
            return (int)s_map[i].notify;
    return -1;
}

void lab_notify_event(lab_notify *n, const char *kind, const char *subject, const json_t *detail,
                      int64_t time_us)
{
    lab_notify_campaign_event(n, NULL, kind, subject, detail, time_us);
}

void lab_notify_set_campaign_summary(lab_notify *n, lab_notify_campaign_summary_fn fn)
{
    if (n)
        n->campaign_summary = fn;
}

void lab_notify_campaign_event(lab_notify *n, const char *campaign, const char *kind, const char *subject,
                               const json_t *detail, int64_t time_us)
{
    if (!n || !kind)
        return;
    int lab_wide = !campaign;
    if (!campaign)
        campaign = n->cfg->name;
    int k = s_map_event(n, campaign, kind, detail);
    if (k < 0)
        return;
    size_t want = 0;
    for (size_t i = 0; i < n->n_hooks; i++)
        want += (n->hooks[i].cfg->events >> k) & 1u;
    if (!want)
        return;
    char when[40], id[64];
    s_iso_time(time_us, when, sizeof when);
    snprintf(id, sizeof id, "%lld-%ld", (long long)time_us, ++n->seq);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "lab", n->lab, "campaign", campaign, "event",
                          s_kind_names[k], "kind", kind, "time", when, "id", id);
    if (!b)
        return;
    if (!*campaign)              /* a lab's own event (a device's): no campaign */
        json_object_del(b, "campaign");
    if (subject && !json_object_get(detail, "subject"))
        json_object_set_new(b, "subject", json_string(subject));
    /* The event's own fields (reason, cause, device, by, status ...)
     * beside ours; ours win a clash. */
    if (json_is_object(detail))
        json_object_update_missing(b, (json_t *)detail);
    if (k == LAB_NOTIFY_END && (n->summary || n->campaign_summary)) {
        json_t *s = n->campaign_summary && !lab_wide ? n->campaign_summary(n->summary_arg, campaign)
                                                     : n->summary ? n->summary(n->summary_arg) : NULL;
        if (s)
            json_object_set_new(b, "summary", s);
    }
    char *js = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (!js)
        return;
    char dropped[LAB_NOTIFY_MAX_LOG][200];
    size_t n_dropped = 0;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->n_hooks; i++) {
        s_hook *h = &n->hooks[i];
        if (!((h->cfg->events >> k) & 1u))
            continue;
        s_item *it = calloc(1, sizeof *it);
        char *body = it ? strdup(js) : NULL;
        if (!body) {
            free(it);
            h->dropped++;
            continue;
        }
        it->body = body;
        it->hook = h;
        it->kind = (lab_notify_kind)k;
        snprintf(it->id, sizeof it->id, "%s", id);
        it->next_us = lab_clock_mono_us();
        if (h->n >= (size_t)h->cfg->queue) {
            /* Full: the oldest one waiting goes (the one in flight stays). */
            s_item *old = h->head;
            while (old && old->easy)
                old = old->next;
            if (old)
                s_unlink(h, old);
            h->dropped++;
            if (n_dropped < LAB_NOTIFY_MAX_LOG)
                snprintf(dropped[n_dropped++], sizeof dropped[0],
                         "webhook %zu (%s): queue full (%d waiting): dropped %s %s %s", h->index + 1,
                         h->cfg->url, h->cfg->queue, old ? "the oldest," : "this new one,",
                         old ? s_kind_names[old->kind] : s_kind_names[k], old ? old->id : id);
            s_free_item(old);
            if (!old) {
                s_free_item(it);
                continue;
            }
        }
        it->prev = h->tail;
        if (h->tail)
            h->tail->next = it;
        else
            h->head = it;
        h->tail = it;
        h->n++;
    }
    pthread_mutex_unlock(&n->mu);
    free(js);
    curl_multi_wakeup(n->multi);
    for (size_t i = 0; i < n_dropped; i++)
        lab_warn("notify: %s", dropped[i]);
}

json_t *lab_notify_status(lab_notify *n)
{
    long sent = 0, failed = 0, retried = 0, dropped = 0;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->n_hooks; i++) {
        sent += n->hooks[i].sent;
        failed += n->hooks[i].failed;
        retried += n->hooks[i].retried;
        dropped += n->hooks[i].dropped;
    }
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "webhooks", (json_int_t)n->n_hooks, "sent",
                          (json_int_t)sent, "failed", (json_int_t)failed, "retried", (json_int_t)retried,
                          "dropped", (json_int_t)dropped, "pending", (json_int_t)s_pending(n));
    if (j && n->last_error[0])
        json_object_set_new(j, "last_error", json_string(n->last_error));
    pthread_mutex_unlock(&n->mu);
    return j;
}

/* ------------------------------------------------------------ delivery (its thread) */

static size_t s_discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

static void s_sign(const s_hook *h, const char *body, char *out, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (!HMAC(EVP_sha256(), h->secret, (int)h->secret_len, (const unsigned char *)body, strlen(body), md, &len))
        return;
    size_t k = (size_t)snprintf(out, n, "X-Labloop-Signature: sha256=");
    for (unsigned int i = 0; i < len && k + 3 <= n; i++)
        k += (size_t)snprintf(out + k, n - k, "%02x", md[i]);
}

/* Put it on the wire. 0, or -1 when curl could not even be set up (the
 * attempt then counts as failed). */
static int s_start(lab_notify *n, s_hook *h, s_item *it)
{
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    char hdr[160];
    struct curl_slist *l = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < 2; i++)
        if ((t = curl_slist_append(l, fixed[i])))
            l = t;
    snprintf(hdr, sizeof hdr, "X-Labloop-Event: %s", s_kind_names[it->kind]);
    if ((t = curl_slist_append(l, hdr)))
        l = t;
    snprintf(hdr, sizeof hdr, "X-Labloop-Delivery: %s", it->id);
    if ((t = curl_slist_append(l, hdr)))
        l = t;
    if (h->secret) {
        s_sign(h, it->body, hdr, sizeof hdr);
        if (hdr[0] && (t = curl_slist_append(l, hdr)))
            l = t;
    }
    long ms = (long)(h->cfg->timeout_s * 1000.0 + 0.5);
    it->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, h->cfg->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(it->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "labloop/" LAB_VERSION_STRING);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    if (curl_multi_add_handle(n->multi, e) != CURLM_OK) {
        curl_slist_free_all(l);
        curl_easy_cleanup(e);
        return -1;
    }
    it->easy = e;
    it->headers = l;
    it->attempts++;
    return 0;
}

/* An attempt ended: delivered (ok), or failed for what. Logs nothing
 * (the mutex is held): msg gets the line to log, or "". */
static void s_finished(lab_notify *n, s_hook *h, s_item *it, int ok, const char *what, char *msg, size_t msz)
{
    msg[0] = '\0';
    curl_multi_remove_handle(n->multi, it->easy);
    curl_easy_cleanup(it->easy);
    it->easy = NULL;
    curl_slist_free_all(it->headers);
    it->headers = NULL;
    if (ok) {
        h->sent++;
        s_unlink(h, it);
        s_free_item(it);
        return;
    }
    snprintf(n->last_error, sizeof n->last_error, "webhook %zu (%s): %s", h->index + 1, h->cfg->url, what);
    if (it->attempts > h->cfg->retries) {
        h->failed++;
        snprintf(msg, msz, "webhook %zu (%s): %s %s failed: %s; gave up after %d attempt%s", h->index + 1,
                 h->cfg->url, s_kind_names[it->kind], it->id, what, it->attempts, it->attempts == 1 ? "" : "s");
        s_unlink(h, it);
        s_free_item(it);
        return;
    }
    h->retried++;
    double wait = h->cfg->backoff_s;
    for (int i = 1; i < it->attempts && wait < S_BACKOFF_MAX_S; i++)
        wait *= 2;
    if (wait > S_BACKOFF_MAX_S)
        wait = S_BACKOFF_MAX_S;
    it->next_us = lab_clock_mono_us() + (int64_t)(wait * 1e6);
    snprintf(msg, msz, "webhook %zu (%s): %s %s: attempt %d of %d failed: %s; again in %.1f s", h->index + 1,
             h->cfg->url, s_kind_names[it->kind], it->id, it->attempts, h->cfg->retries + 1, what, wait);
}

/* Collect the attempts curl has finished. */
static void s_reap(lab_notify *n)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(n->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        s_item *it = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        char what[CURL_ERROR_SIZE + 64], msg[LAB_ERR_MSG_MAX];
        int ok = rc == CURLE_OK && status >= 200 && status < 300;
        if (rc != CURLE_OK)
            snprintf(what, sizeof what, "%s", it && it->errbuf[0] ? it->errbuf : curl_easy_strerror(rc));
        else
            snprintf(what, sizeof what, "HTTP %ld", status);
        pthread_mutex_lock(&n->mu);
        /* In flight, so still queued: overflow never drops it. */
        s_hook *h = it ? it->hook : NULL;
        if (h)
            s_finished(n, h, it, ok, what, msg, sizeof msg);
        else
            msg[0] = '\0';
        pthread_mutex_unlock(&n->mu);
        if (!h) {                                /* not ours: cannot happen */
            curl_multi_remove_handle(n->multi, e);
            curl_easy_cleanup(e);
        }
        if (msg[0])
            lab_warn("notify: %s", msg);
    }
}

/* Send what is due; the wait until the next thing is due (ms). */
static long s_start_due(lab_notify *n, int64_t now)
{
    long wait_ms = S_POLL_MS;
    for (size_t i = 0; i < n->n_hooks; i++) {
        s_hook *h = &n->hooks[i];
        s_item *it;
        /* One at a time per webhook, so a receiver hears them in order. */
        while ((it = h->head) && !it->easy) {
            if (it->next_us > now) {
                long ms = (long)((it->next_us - now) / 1000) + 1;
                if (ms < wait_ms)
                    wait_ms = ms;
                break;
            }
            if (s_start(n, h, it) == 0)
                break;
            h->failed++;                         /* out of memory: the next one may do */
            snprintf(n->last_error, sizeof n->last_error, "webhook %zu: could not set up a request", h->index + 1);
            s_unlink(h, it);
            s_free_item(it);
        }
    }
    return wait_ms;
}

/* Stopping and out of time: give up on everything left. */
static size_t s_give_up(lab_notify *n)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_hooks; i++) {
        s_hook *h = &n->hooks[i];
        while (h->head) {
            s_item *it = h->head;
            if (it->easy)
                curl_multi_remove_handle(n->multi, it->easy);
            s_unlink(h, it);
            s_free_item(it);
            h->failed++;
            k++;
        }
    }
    return k;
}

static void *s_main(void *arg)
{
    lab_notify *n = arg;
    for (;;) {
        int64_t now = lab_clock_mono_us();
        pthread_mutex_lock(&n->mu);
        if (n->stopping && (!s_pending(n) || now >= n->drain_until_us)) {
            size_t k = s_give_up(n);
            pthread_mutex_unlock(&n->mu);
            if (k)
                lab_warn("notify: %zu notification%s not delivered when the campaign stopped", k, k == 1 ? "" : "s");
            break;
        }
        long wait_ms = s_start_due(n, now);
        if (n->stopping) {
            long left = (long)((n->drain_until_us - now) / 1000) + 1;
            if (left < wait_ms)
                wait_ms = left;
        }
        pthread_mutex_unlock(&n->mu);
        int running = 0;
        curl_multi_perform(n->multi, &running);
        s_reap(n);
        curl_multi_poll(n->multi, NULL, 0, (int)wait_ms, NULL);
        curl_multi_perform(n->multi, &running);
        s_reap(n);
    }
    return NULL;
}

/* ------------------------------------------------------------ life */

/* Read a secret file into *key (caller frees), refusing one that others
 * may read, an empty one and one past S_SECRET_MAX. */
static int s_read_secret(const char *path, unsigned char **key, size_t *key_len, lab_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lab_err_from_errno(err, errno, path);
        return lab_err_prefix(err, "secret ");
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lab_err_set(err, LAB_ECONFIG, "secret %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return lab_err_set(err, LAB_ECONFIG, "secret %s may be read by others: chmod 600 it", path);
    }
    unsigned char *buf = malloc(S_SECRET_MAX + 1);
    ssize_t len = buf ? read(fd, buf, S_SECRET_MAX + 1) : -1;
    close(fd);
    if (len < 0 || len > S_SECRET_MAX) {
        free(buf);
        return lab_err_set(err, LAB_ECONFIG, "secret %s: %s", path,
                           len < 0 ? "cannot be read" : "longer than 4096 bytes");
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        free(buf);
        return lab_err_set(err, LAB_ECONFIG, "secret %s is empty", path);
    }
    *key = buf;
    *key_len = (size_t)len;
    return 0;
}

int lab_notify_check_secret(const char *path, lab_err *err)
{
    unsigned char *key = NULL;
    size_t len = 0;
    if (s_read_secret(path, &key, &len, err) < 0)
        return err ? err->code : LAB_ECONFIG;
    OPENSSL_cleanse(key, len);
    free(key);
    return 0;
}

static void s_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

lab_notify *lab_notify_new(const lab_campaign_cfg *cfg, const char *lab, lab_notify_summary_fn summary,
                           void *summary_arg, lab_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    lab_notify *n = calloc(1, sizeof *n);
    if (!n || !(n->hooks = calloc(cfg->n_notify ? cfg->n_notify : 1, sizeof *n->hooks))) {
        free(n);
        lab_err_set(err, LAB_ENOMEM, "notify: out of memory");
        return NULL;
    }
    n->cfg = cfg;
    snprintf(n->lab, sizeof n->lab, "%s", lab ? lab : "");
    n->summary = summary;
    n->summary_arg = summary_arg;
    n->n_hooks = cfg->n_notify;
    for (size_t i = 0; i < n->n_hooks; i++) {
        n->hooks[i].cfg = &cfg->notify[i];
        n->hooks[i].index = i;
        if (cfg->notify[i].timeout_s > n->max_timeout_s)
            n->max_timeout_s = cfg->notify[i].timeout_s;
        if (cfg->notify[i].secret_path &&
            s_read_secret(cfg->notify[i].secret_path, &n->hooks[i].secret, &n->hooks[i].secret_len, err) < 0) {
            lab_err_prefix(err, "notify[%zu]: ", i);
            goto fail;
        }
    }
    /* curl_global_init is not safe to race with other threads' first use:
     * once, from the loop thread, before the delivery thread starts. */
    pthread_once(&once, s_curl_init);
    if (pthread_mutex_init(&n->mu, NULL) != 0) {
        lab_err_set(err, LAB_ENOMEM, "notify: cannot make a mutex");
        goto fail;
    }
    n->mu_ready = 1;
    n->multi = curl_multi_init();
    if (!n->multi) {
        lab_err_set(err, LAB_ENOMEM, "notify: cannot start libcurl");
        goto fail;
    }
    /* The loop thread's signals (SIGINT, SIGTERM) must not land here. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&n->thread, NULL, s_main, n);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        lab_err_from_errno(err, rc, "starting the notification thread");
        goto fail;
    }
    n->started = 1;
    return n;
fail:
    lab_notify_destroy(&n);
    return NULL;
}

void lab_notify_destroy(lab_notify **np)
{
    if (!np || !*np)
        return;
    lab_notify *n = *np;
    *np = NULL;
    if (n->started) {
        pthread_mutex_lock(&n->mu);
        n->stopping = 1;
        n->drain_until_us = lab_clock_mono_us() + (int64_t)(n->max_timeout_s * 1e6);
        size_t left = s_pending(n);
        pthread_mutex_unlock(&n->mu);
        if (left)
            lab_info("notify: delivering %zu notification%s (waiting at most %g s)", left, left == 1 ? "" : "s",
                     n->max_timeout_s);
        curl_multi_wakeup(n->multi);
        pthread_join(n->thread, NULL);
    }
    if (n->mu_ready) {
        s_give_up(n);
        pthread_mutex_destroy(&n->mu);
    }
    if (n->multi)
        curl_multi_cleanup(n->multi);
    for (size_t i = 0; i < n->n_hooks; i++) {
        if (n->hooks[i].secret)
            OPENSSL_cleanse(n->hooks[i].secret, n->hooks[i].secret_len);
        free(n->hooks[i].secret);
    }
    free(n->hooks);
    json_decref(n->last_status);
    free(n);
}
