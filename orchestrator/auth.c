/* CURVE, the ZAP handler and refusal accounting (see auth.h). */
#include "orchestrator/auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/banned.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_FRAMES 8
/* Refusals logged per kind per window; the rest are counted and summed up. */
#define S_LOG_BURST 5
#define S_LOG_WINDOW_US (10 * 1000000LL)

static const char *const s_domains[] = {"labloop-devices", "labloop-control"};
static const char *const s_endpoint_names[] = {"device", "control"};

typedef struct s_limiter {
    int64_t window_start_us;
    int shown;
    long hidden;
} s_limiter;

struct lab_auth {
    const lab_campaign_cfg *cfg;
    void *zctx;
    int secure;
    char secret[LAB_KEY_Z85];
    void *zap;                          /* REP on S_ZAP_ENDPOINT */
    void *monitor[2];                   /* PAIR: handshake events per endpoint */
    lab_auth_report_fn report;
    void *report_arg;
    long refused[LAB_REFUSED_KINDS_];
    s_limiter limit[LAB_REFUSED_KINDS_];
};

static const char *const s_kind_names[] = {"connection", "message", "command"};

const char *lab_auth_kind_name(lab_refused_kind kind) { return s_kind_names[kind]; }

void lab_auth_refused(lab_auth *a, lab_refused_kind kind, const char *fmt, ...)
{
    a->refused[kind]++;
    s_limiter *l = &a->limit[kind];
    int64_t now = lab_clock_mono_us();
    if (now - l->window_start_us > S_LOG_WINDOW_US) {
        if (l->hidden && a->report) {
            char note[128];
            snprintf(note, sizeof note, "%ld more refused %ss were not logged", l->hidden, s_kind_names[kind]);
            a->report(a->report_arg, kind, note);
        }
        l->window_start_us = now;
        l->shown = 0;
        l->hidden = 0;
    }
    if (l->shown >= S_LOG_BURST) {
        l->hidden++;
        return;
    }
    l->shown++;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (a->report)
        a->report(a->report_arg, kind, what);
}

lab_auth *lab_auth_new(void *zctx, const lab_campaign_cfg *cfg, lab_auth_report_fn report, void *arg,
                       lab_err *err)
{
    lab_auth *a = calloc(1, sizeof *a);
    if (!a) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->zctx = zctx;
    a->report = report;
    a->report_arg = arg;
    if (!cfg->secret_key_path) {
        lab_warn("plain mode: no 'security' section, so connections are neither encrypted nor "
                 "authenticated; allowed because every endpoint stays on this machine (%s, %s)",
                 cfg->endpoint_devices, cfg->endpoint_control);
        return a;
    }
    a->secure = 1;
    if (!zmq_has("curve")) {
        lab_err_set(err, LAB_ECONFIG, "this libzmq was built without CURVE; the 'security' section needs it");
        goto fail;
    }
    if (lab_keys_read_secret(cfg->secret_key_path, a->secret, NULL, err) < 0) {
        lab_err_prefix(err, "security.key: ");
        goto fail;
    }
    a->zap = zmq_socket(zctx, ZMQ_REP);
    int zero = 0;
    if (!a->zap || zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(a->zap, S_ZAP_ENDPOINT) != 0) {
        lab_err_from_zmq(err, "starting the authentication handler (" S_ZAP_ENDPOINT ")");
        goto fail;
    }
    return a;
fail:
    lab_auth_destroy(&a);
    return NULL;
}

int lab_auth_secure(const lab_auth *a) { return a && a->secure; }

int lab_auth_server(lab_auth *a, void *sock, lab_auth_endpoint ep, lab_err *err)
{
    if (!a->secure)
        return 0;
    int one = 1;
    const char *dom = s_domains[ep];
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, dom, strlen(dom)) != 0)
        return lab_err_from_zmq(err, "setting up CURVE");
    char mon[96];
    snprintf(mon, sizeof mon, "inproc://labloop-handshakes-%p-%d", (void *)a, (int)ep);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (zmq_socket_monitor(sock, mon, events) != 0)
        return lab_err_from_zmq(err, "watching handshakes");
    a->monitor[ep] = zmq_socket(a->zctx, ZMQ_PAIR);
    int zero = 0;
    if (!a->monitor[ep] || zmq_setsockopt(a->monitor[ep], ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(a->monitor[ep], mon) != 0)
        return lab_err_from_zmq(err, "watching handshakes");
    return 0;
}

/* The name of the peer a key belongs to on endpoint ep, or NULL. */
static const char *s_lookup(const lab_auth *a, lab_auth_endpoint ep, const char *key)
{
    if (ep == LAB_AUTH_DEVICES) {
        for (size_t i = 0; i < a->cfg->n_devices; i++)
            if (a->cfg->devices[i].name && !strcmp(a->cfg->devices[i].key, key))
                return a->cfg->devices[i].name;
    } else {
        for (size_t i = 0; i < a->cfg->n_clients; i++)
            if (a->cfg->clients[i].name && !strcmp(a->cfg->clients[i].key, key))
                return a->cfg->clients[i].name;
    }
    return NULL;
}

static void s_reply(void *zap, const zmq_msg_t *reqid, const char *code, const char *text, const char *user)
{
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(zap, zmq_msg_data((zmq_msg_t *)reqid), zmq_msg_size((zmq_msg_t *)reqid), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(zap, code, strlen(code), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(zap, user, strlen(user), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(zap, "", 0, ZMQ_DONTWAIT);
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity,
 * mechanism, credentials. Frame 4 is the orchestrator socket's own routing
 * id, not the peer's: which device a connection speaks for is checked on
 * each of its messages (orch.c), against the name answered here. */
static void s_zap_one(lab_auth *a)
{
    zmq_msg_t f[S_ZAP_FRAMES];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, a->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < S_ZAP_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (n < 2)
        goto done;             /* nothing to answer to */
    char domain[64] = "", address[64] = "", key[LAB_KEY_Z85] = "";
    if (n >= 4) {
        snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&f[2]), (char *)zmq_msg_data(&f[2]));
        snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
    }
    int ep = !strcmp(domain, s_domains[0]) ? 0 : !strcmp(domain, s_domains[1]) ? 1 : -1;
    int curve = n >= 7 && zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
                zmq_msg_size(&f[6]) == 32;
    if (ep < 0 || !curve) {
        s_reply(a->zap, &f[1], "400", "not a labloop CURVE connection", "");
        lab_auth_refused(a, LAB_REFUSED_CONNECTION, "a connection from %s without a CURVE key was refused",
                         address);
        goto done;
    }
    zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
    const char *name = s_lookup(a, (lab_auth_endpoint)ep, key);
    if (!name) {
        s_reply(a->zap, &f[1], "400", "key not on the allowlist", "");
        lab_auth_refused(a, LAB_REFUSED_CONNECTION,
                         "%s endpoint: a connection from %s with public key %s was refused: the key is not in %s "
                         "(%s)", s_endpoint_names[ep], address, key, a->cfg->path,
                         ep == LAB_AUTH_DEVICES ? "devices[].key" : "security.clients");
        goto done;
    }
    lab_debug("%s endpoint: %s authenticated as '%s'", s_endpoint_names[ep], address, name);
    s_reply(a->zap, &f[1], "200", "OK", name);
done:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static int s_on_zap(void *sock, void *arg)
{
    lab_auth *a = arg;
    int n = 0;
    int events = 0;
    size_t sz = sizeof events;
    while (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) == 0 && (events & ZMQ_POLLIN)) {
        s_zap_one(a);
        n++;
    }
    return n;
}

/* Handshake events: [uint16 event, uint32 value][endpoint]. */
static int s_on_monitor(void *sock, void *arg)
{
    lab_auth *a = arg;
    int ep = sock == a->monitor[0] ? 0 : 1, n = 0;
    for (;;) {
        uint8_t head[6];
        char where[256];
        int rc = zmq_recv(sock, head, sizeof head, ZMQ_DONTWAIT);
        if (rc < 0)
            break;
        n++;
        int wn = zmq_recv(sock, where, sizeof where - 1, ZMQ_DONTWAIT);
        where[wn < 0 ? 0 : wn >= (int)sizeof where ? (int)sizeof where - 1 : wn] = '\0';
        if (rc != 6)
            continue;
        uint16_t ev;
        memcpy(&ev, head, sizeof ev);
        lab_auth_refused(a, LAB_REFUSED_CONNECTION,
                         "%s endpoint %s: a peer failed the CURVE handshake (it has no keys, or keys for "
                         "another lab's orchestrator)", s_endpoint_names[ep], where);
    }
    return n;
}

int lab_auth_watch(lab_auth *a, lab_zloop *zl, lab_err *err)
{
    if (a->zap && lab_zloop_add(zl, a->zap, s_on_zap, a, err) < 0)
        return err->code;
    for (int i = 0; i < 2; i++)
        if (a->monitor[i] && lab_zloop_add(zl, a->monitor[i], s_on_monitor, a, err) < 0)
            return err->code;
    return 0;
}

const lab_cfg_client *lab_auth_client(const lab_auth *a, const char *user_id)
{
    if (!a || !a->secure || !user_id || !*user_id)
        return NULL;
    for (size_t i = 0; i < a->cfg->n_clients; i++)
        if (a->cfg->clients[i].name && !strcmp(a->cfg->clients[i].name, user_id))
            return &a->cfg->clients[i];
    return NULL;
}

json_t *lab_auth_status(const lab_auth *a)
{
    return json_pack("{s:s, s:I, s:I, s:I}", "mode", a && a->secure ? "curve" : "plain", "refused_connections",
                     (json_int_t)(a ? a->refused[LAB_REFUSED_CONNECTION] : 0), "refused_messages",
                     (json_int_t)(a ? a->refused[LAB_REFUSED_MESSAGE] : 0), "refused_commands",
                     (json_int_t)(a ? a->refused[LAB_REFUSED_COMMAND] : 0));
}

void lab_auth_destroy(lab_auth **ap)
{
    if (!ap || !*ap)
        return;
    lab_auth *a = *ap;
    *ap = NULL;
    for (int i = 0; i < 2; i++)
        if (a->monitor[i])
            zmq_close(a->monitor[i]);
    if (a->zap)
        zmq_close(a->zap);
    explicit_bzero(a->secret, sizeof a->secret);
    free(a);
}
