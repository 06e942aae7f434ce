/* Envelope codec and framing over ZeroMQ (see envelope.h, PROTOCOL.md). */
#include "protocols/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/banned.h"

static const char s_sig[3] = {'L', 'A', 'B'};

int lab_env_check_sig(const void *data, size_t len, lab_err *err)
{
    const uint8_t *p = data;
    if (len != LAB_SIG_LEN || memcmp(p, s_sig, sizeof s_sig) != 0)
        return lab_err_set(err, LAB_EPROTO, "not a labloop message (bad signature frame)");
    if (p[3] != LAB_PROTO_VERSION)
        return lab_err_set(err, LAB_EVERSION,
                           "protocol version %u is not supported (this labloop speaks %u)",
                           (unsigned)p[3], (unsigned)LAB_PROTO_VERSION);
    return 0;
}

lab_env *lab_env_decode(const void *data, size_t len, size_t max, lab_err *err)
{
    if (len > max) {
        lab_err_set(err, LAB_ETOOBIG, "message of %zu bytes exceeds the limit of %zu bytes", len, max);
        return NULL;
    }
    lab_env *env = labloop__envelope__unpack(NULL, len, data);
    if (!env) {
        lab_err_set(err, LAB_EPROTO, "message of %zu bytes is not a valid envelope", len);
        return NULL;
    }
    if (env->body_case == LABLOOP__ENVELOPE__BODY__NOT_SET) {
        labloop__envelope__free_unpacked(env, NULL);
        lab_err_set(err, LAB_EPROTO, "envelope has no body (unknown or empty message)");
        return NULL;
    }
    return env;
}

void lab_env_free(lab_env *env)
{
    if (env)
        labloop__envelope__free_unpacked(env, NULL);
}

int lab_env_encode(const lab_env *env, uint8_t **buf, size_t *len, lab_err *err)
{
    size_t n = labloop__envelope__get_packed_size(env);
    if (n > LAB_MSG_MAX)
        return lab_err_set(err, LAB_ETOOBIG, "%s message of %zu bytes exceeds the limit of %u",
                           lab_env_kind(env), n, LAB_MSG_MAX);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return lab_err_set(err, LAB_ENOMEM, "out of memory encoding a message");
    labloop__envelope__pack(env, b);
    *buf = b;
    *len = n;
    return 0;
}

int lab_env_err_version(const lab_err *e)
{
    unsigned v;
    if (!e || e->code != LAB_EVERSION || sscanf(e->msg, "protocol version %u ", &v) != 1 || v > 255)
        return -1;
    return (int)v;
}

/* zmq_send and zmq_msg_recv may fail with EINTR when a signal (a device
 * command's SIGCHLD, say) arrives during the call; nothing was sent or
 * taken then, so the call is made again. */
static int s_zsend(void *sock, const void *buf, size_t len, int flags)
{
    int rc;
    do
        rc = zmq_send(sock, buf, len, flags);
    while (rc < 0 && zmq_errno() == EINTR);
    return rc;
}

static int s_zrecv(zmq_msg_t *m, void *sock)
{
    int rc;
    do
        rc = zmq_msg_recv(m, sock, ZMQ_DONTWAIT);
    while (rc < 0 && zmq_errno() == EINTR);
    return rc;
}

static int s_send_frames(void *sock, const char *id, uint8_t version, const uint8_t *buf, size_t len,
                         lab_err *err)
{
    uint8_t sig[LAB_SIG_LEN] = {'L', 'A', 'B', version};
    if (id && s_zsend(sock, id, strlen(id), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return lab_err_from_zmq(err, "send");
    if (s_zsend(sock, sig, sizeof sig, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return lab_err_from_zmq(err, "send");
    if (s_zsend(sock, buf, len, ZMQ_DONTWAIT) < 0)
        return lab_err_from_zmq(err, "send");
    return 0;
}

int lab_env_send_raw(void *sock, const char *id, const uint8_t *buf, size_t len, lab_err *err)
{
    return s_send_frames(sock, id, LAB_PROTO_VERSION, buf, len, err);
}

int lab_env_send_as(void *sock, const char *id, const lab_env *env, uint8_t version, lab_err *err)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = lab_env_encode(env, &buf, &n, err);
    if (rc == 0)
        rc = s_send_frames(sock, id, version, buf, n, err);
    free(buf);
    return rc;
}

int lab_env_send(void *sock, const char *id, const lab_env *env, lab_err *err)
{
    uint8_t stack[512];
    size_t n = labloop__envelope__get_packed_size(env);
    if (n > LAB_MSG_MAX)
        return lab_err_set(err, LAB_ETOOBIG, "%s message of %zu bytes exceeds the limit of %u",
                           lab_env_kind(env), n, LAB_MSG_MAX);
    uint8_t *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf)
        return lab_err_set(err, LAB_ENOMEM, "out of memory encoding a message");
    labloop__envelope__pack(env, buf);
    int rc = lab_env_send_raw(sock, id, buf, n, err);
    if (buf != stack)
        free(buf);
    return rc;
}

/* Discard the rest of a multipart message. */
static void s_skip_rest(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int rc = s_zrecv(&m, sock);
        zmq_msg_close(&m);
        if (rc < 0)
            break;
        sz = sizeof more;
    }
}

static int s_more(void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    return more;
}

int lab_env_recv(void *sock, char *id, size_t id_len, lab_env **out, lab_err *err)
{
    return lab_env_recv_peer(sock, id, id_len, NULL, 0, out, err);
}

int lab_env_recv_peer(void *sock, char *id, size_t id_len, char *peer, size_t peer_len, lab_env **out,
                      lab_err *err)
{
    *out = NULL;
    if (peer && peer_len)
        peer[0] = '\0';
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (id) {
        if (s_zrecv(&m, sock) < 0) {
            zmq_msg_close(&m);
            return zmq_errno() == EAGAIN ? LAB_EAGAIN : lab_err_from_zmq(err, "receive");
        }
        size_t n = zmq_msg_size(&m), full = n;
        if (n >= id_len)
            n = id_len - 1;
        memcpy(id, zmq_msg_data(&m), n);
        id[n] = '\0';
        /* Routing ids are device names. One that is not (too long, or not
         * printable) could pass for another device once shortened or
         * cleaned, so the whole message is refused; the id is made
         * printable only to name it in the error. */
        int bad = full >= id_len;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e) {
                id[i] = '?';
                bad = 1;
            }
        zmq_msg_close(&m);
        if (bad) {
            s_skip_rest(sock);
            return lab_err_set(err, LAB_EPROTO, "routing id is not a device name (printable ASCII, at most %zu bytes)",
                               id_len - 1);
        }
        if (!s_more(sock))
            return lab_err_set(err, LAB_EPROTO, "message has no signature frame");
        zmq_msg_init(&m);
    }
    if (s_zrecv(&m, sock) < 0) {
        zmq_msg_close(&m);
        if (!id && zmq_errno() == EAGAIN)
            return LAB_EAGAIN;
        return lab_err_from_zmq(err, "receive");
    }
    if (peer && peer_len) {
        /* Set by the ZAP handler when the connection was authenticated. */
        const char *u = zmq_msg_gets(&m, "User-Id");
        snprintf(peer, peer_len, "%s", u ? u : "");
    }
    int rc = lab_env_check_sig(zmq_msg_data(&m), zmq_msg_size(&m), err);
    zmq_msg_close(&m);
    if (rc < 0) {
        s_skip_rest(sock);
        return rc;
    }
    if (!s_more(sock))
        return lab_err_set(err, LAB_EPROTO, "message has no envelope frame");
    zmq_msg_init(&m);
    if (s_zrecv(&m, sock) < 0) {
        zmq_msg_close(&m);
        return lab_err_from_zmq(err, "receive");
    }
    int extra = s_more(sock);
    if (extra) {
        zmq_msg_close(&m);
        s_skip_rest(sock);
        return lab_err_set(err, LAB_EPROTO, "message has more frames than signature and envelope");
    }
    /* A local record when the caller passed none: the code must not depend
     * on whether the caller wanted the message (ETOOBIG vs EPROTO). */
    lab_err local = {0};
    lab_err *e = err ? err : &local;
    lab_env *env = lab_env_decode(zmq_msg_data(&m), zmq_msg_size(&m), LAB_MSG_MAX, e);
    zmq_msg_close(&m);
    if (!env)
        return e->code;
    *out = env;
    return 0;
}

const char *lab_env_kind(const lab_env *env)
{
    switch (env->body_case) {
    case LABLOOP__ENVELOPE__BODY_HELLO: return "hello";
    case LABLOOP__ENVELOPE__BODY_WELCOME: return "welcome";
    case LABLOOP__ENVELOPE__BODY_REFUSE: return "refuse";
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
    case LABLOOP__ENVELOPE__BODY_STEP_REQUEST: return "step_request";
    case LABLOOP__ENVELOPE__BODY_STEP_UPDATE: return "step_update";
    case LABLOOP__ENVELOPE__BODY_STEP_RESULT: return "step_result";
    case LABLOOP__ENVELOPE__BODY_ACK: return "ack";
    case LABLOOP__ENVELOPE__BODY_CONTROL: return "control";
    default: return "unknown";
    }
}

static Labloop__Param *s_param_new(const char *name, const char *unit)
{
    Labloop__Param *p = calloc(1, sizeof *p);
    Labloop__Value *v = calloc(1, sizeof *v);
    if (!p || !v) {
        free(p);
        free(v);
        return NULL;
    }
    labloop__param__init(p);
    labloop__value__init(v);
    p->name = strdup(name);
    p->unit = strdup(unit ? unit : "");
    p->value = v;
    if (!p->name || !p->unit) {
        lab_param_free(p);
        return NULL;
    }
    return p;
}

Labloop__Param *lab_param_number(const char *name, double x, const char *unit)
{
    Labloop__Param *p = s_param_new(name, unit);
    if (p) {
        p->value->kind_case = LABLOOP__VALUE__KIND_NUMBER;
        p->value->number = x;
    }
    return p;
}

Labloop__Param *lab_param_text(const char *name, const char *s)
{
    Labloop__Param *p = s_param_new(name, NULL);
    if (p) {
        p->value->kind_case = LABLOOP__VALUE__KIND_TEXT;
        p->value->text = strdup(s);
        if (!p->value->text) {
            lab_param_free(p);
            return NULL;
        }
    }
    return p;
}

Labloop__Param *lab_param_copy(const Labloop__Param *src)
{
    Labloop__Param *p = s_param_new(src->name, src->unit);
    if (!p || !src->value)
        return p;
    p->value->kind_case = src->value->kind_case;
    switch (src->value->kind_case) {
    case LABLOOP__VALUE__KIND_NUMBER: p->value->number = src->value->number; break;
    case LABLOOP__VALUE__KIND_INTEGER: p->value->integer = src->value->integer; break;
    case LABLOOP__VALUE__KIND_FLAG: p->value->flag = src->value->flag; break;
    case LABLOOP__VALUE__KIND_TEXT:
        p->value->text = strdup(src->value->text ? src->value->text : "");
        if (!p->value->text) {
            lab_param_free(p);
            return NULL;
        }
        break;
    default: break;
    }
    return p;
}

void lab_param_free(Labloop__Param *p)
{
    if (!p)
        return;
    if (p->value) {
        if (p->value->kind_case == LABLOOP__VALUE__KIND_TEXT)
            free(p->value->text);
        free(p->value);
    }
    if (p->name != protobuf_c_empty_string)
        free(p->name);
    if (p->unit != protobuf_c_empty_string)
        free(p->unit);
    free(p);
}

int lab_param_to_double(const Labloop__Param *p, double *v)
{
    if (!p || !p->value)
        return LAB_EINVAL;
    switch (p->value->kind_case) {
    case LABLOOP__VALUE__KIND_NUMBER: *v = p->value->number; return 0;
    case LABLOOP__VALUE__KIND_INTEGER: *v = (double)p->value->integer; return 0;
    case LABLOOP__VALUE__KIND_FLAG: *v = p->value->flag ? 1.0 : 0.0; return 0;
    case LABLOOP__VALUE__KIND_TEXT: {
        char *end;
        if (!p->value->text || !*p->value->text)
            return LAB_EINVAL;
        double x = strtod(p->value->text, &end);
        if (*end)
            return LAB_EINVAL;
        *v = x;
        return 0;
    }
    default: return LAB_EINVAL;
    }
}
