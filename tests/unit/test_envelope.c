/* Unit tests for protocols/envelope.c: the codec (encode/decode of every
 * body, signature and version checks, hostile input, size limits), the
 * lab_param_* helpers, and framing over real ZeroMQ sockets on loopback
 * (ROUTER <-> DEALER, malformed multipart messages fully consumed).
 * Not for what the messages mean: that is worker.c / orch.c.
 *
 * Random input is seeded: set LAB_TEST_SEED to replay; the seed is printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "protocols/envelope.h"
#include "common/banned.h"

#define RECV_DEADLINE_MS 5000
#define GARBAGE_ITERS 20000

/* ---- building messages ---------------------------------------------- */

/* Every body type with every field set to a non-default value, so that a
 * round trip that drops a field is noticed. Static storage; no frees. */
static char *s_caps[] = {"anneal", "measure"};
static char *s_unacked[] = {"demo/7/anneal/1"};
static char *s_running[] = {"demo/8/anneal/2", "demo/9/measure/1"};
static char *s_ack_ids[] = {"demo/7/anneal/1", "demo/8/anneal/2"};

static Labloop__Value s_v_num = {PROTOBUF_C_MESSAGE_INIT(&labloop__value__descriptor),
                                 LABLOOP__VALUE__KIND_NUMBER, {.number = 451.25}};
static Labloop__Value s_v_int = {PROTOBUF_C_MESSAGE_INIT(&labloop__value__descriptor),
                                 LABLOOP__VALUE__KIND_INTEGER, {.integer = -1234567890123LL}};
static Labloop__Value s_v_txt = {PROTOBUF_C_MESSAGE_INIT(&labloop__value__descriptor),
                                 LABLOOP__VALUE__KIND_TEXT, {.text = "toluene"}};
static Labloop__Value s_v_flag = {PROTOBUF_C_MESSAGE_INIT(&labloop__value__descriptor),
                                  LABLOOP__VALUE__KIND_FLAG, {.flag = 1}};
static Labloop__Param s_p_num = {PROTOBUF_C_MESSAGE_INIT(&labloop__param__descriptor),
                                 "temperature", &s_v_num, "C"};
static Labloop__Param s_p_int = {PROTOBUF_C_MESSAGE_INIT(&labloop__param__descriptor),
                                 "n_cycles", &s_v_int, ""};
static Labloop__Param s_p_txt = {PROTOBUF_C_MESSAGE_INIT(&labloop__param__descriptor),
                                 "solvent", &s_v_txt, ""};
static Labloop__Param s_p_flag = {PROTOBUF_C_MESSAGE_INIT(&labloop__param__descriptor),
                                  "stir", &s_v_flag, ""};
static Labloop__Param *s_params[] = {&s_p_num, &s_p_int, &s_p_txt, &s_p_flag};
static uint8_t s_sha[32] = {0xde, 0xad, 0xbe, 0xef, [31] = 0x01};
static uint8_t s_content[] = {0x00, 0x01, 0xff, 'p', 'l'};

static Labloop__Hello s_hello;
static Labloop__Welcome s_welcome;
static Labloop__Refuse s_refuse;
static Labloop__Heartbeat s_heartbeat;
static Labloop__StepRequest s_request;
static Labloop__StepUpdate s_update;
static Labloop__Artifact s_artifact;
static Labloop__Artifact *s_artifacts[] = {&s_artifact};
static Labloop__StepResult s_result;
static Labloop__Ack s_ack;
static Labloop__Control s_control;

static const Labloop__Envelope__BodyCase s_all_bodies[] = {
    LABLOOP__ENVELOPE__BODY_HELLO,        LABLOOP__ENVELOPE__BODY_WELCOME,
    LABLOOP__ENVELOPE__BODY_REFUSE,       LABLOOP__ENVELOPE__BODY_HEARTBEAT,
    LABLOOP__ENVELOPE__BODY_STEP_REQUEST, LABLOOP__ENVELOPE__BODY_STEP_UPDATE,
    LABLOOP__ENVELOPE__BODY_STEP_RESULT,  LABLOOP__ENVELOPE__BODY_ACK,
    LABLOOP__ENVELOPE__BODY_CONTROL,
};
#define N_BODIES (sizeof s_all_bodies / sizeof s_all_bodies[0])

static void s_init_bodies(void)
{
    labloop__hello__init(&s_hello);
    s_hello.device = "furnace-1";
    s_hello.driver = "sim.furnace";
    s_hello.n_capabilities = 2;
    s_hello.capabilities = s_caps;
    s_hello.capacity = 2;
    s_hello.software_version = "0.1.0";
    s_hello.n_unacked_attempts = 1;
    s_hello.unacked_attempts = s_unacked;
    s_hello.n_running_attempts = 2;
    s_hello.running_attempts = s_running;

    labloop__welcome__init(&s_welcome);
    s_welcome.heartbeat_ms = 1000;
    s_welcome.liveness = 3;
    s_welcome.campaign = "demo";
    s_welcome.max_message_bytes = LAB_MSG_MAX;

    labloop__refuse__init(&s_refuse);
    s_refuse.reason = LABLOOP__REFUSE__REASON__UNKNOWN_DEVICE;
    s_refuse.detail = "device 'oven-9' is not in campaign 'demo'";

    labloop__heartbeat__init(&s_heartbeat);
    s_heartbeat.time_us = 1717000000123456LL;

    labloop__step_request__init(&s_request);
    s_request.attempt_id = "demo/7/anneal/1";
    s_request.experiment_id = "7";
    s_request.step = "anneal";
    s_request.capability = "anneal";
    s_request.n_params = 4;
    s_request.params = s_params;
    s_request.timeout_ms = 600000;
    s_request.sample_id = "demo_7";

    labloop__step_update__init(&s_update);
    s_update.attempt_id = "demo/7/anneal/1";
    s_update.kind = LABLOOP__STEP_UPDATE__KIND__PROGRESS;
    s_update.fraction = 0.5;
    s_update.text = "ramping";

    labloop__artifact__init(&s_artifact);
    s_artifact.name = "spectrum.csv";
    s_artifact.media_type = "text/csv";
    s_artifact.sha256.len = sizeof s_sha;
    s_artifact.sha256.data = s_sha;
    s_artifact.size = sizeof s_content;
    s_artifact.content.len = sizeof s_content;
    s_artifact.content.data = s_content;

    labloop__step_result__init(&s_result);
    s_result.attempt_id = "demo/7/anneal/1";
    s_result.status = LABLOOP__STEP_RESULT__STATUS__FAILED;
    s_result.n_values = 4;
    s_result.values = s_params;
    s_result.n_artifacts = 1;
    s_result.artifacts = s_artifacts;
    s_result.started_us = 1717000000000000LL;
    s_result.finished_us = 1717000000600000LL;
    s_result.error = "furnace over temperature";

    labloop__ack__init(&s_ack);
    s_ack.n_attempt_ids = 2;
    s_ack.attempt_ids = s_ack_ids;

    labloop__control__init(&s_control);
    s_control.action = LABLOOP__CONTROL__ACTION__CANCEL;
    s_control.attempt_id = "demo/7/anneal/1";
    s_control.reason = "operator";
}

/* An envelope (static bodies; do not lab_env_free) of the given body. */
static lab_env s_make(Labloop__Envelope__BodyCase body, uint64_t seq)
{
    lab_env e;
    labloop__envelope__init(&e);
    s_init_bodies();
    e.seq = seq;
    e.body_case = body;
    switch (body) {
    case LABLOOP__ENVELOPE__BODY_HELLO: e.hello = &s_hello; break;
    case LABLOOP__ENVELOPE__BODY_WELCOME: e.welcome = &s_welcome; break;
    case LABLOOP__ENVELOPE__BODY_REFUSE: e.refuse = &s_refuse; break;
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT: e.heartbeat = &s_heartbeat; break;
    case LABLOOP__ENVELOPE__BODY_STEP_REQUEST: e.step_request = &s_request; break;
    case LABLOOP__ENVELOPE__BODY_STEP_UPDATE: e.step_update = &s_update; break;
    case LABLOOP__ENVELOPE__BODY_STEP_RESULT: e.step_result = &s_result; break;
    case LABLOOP__ENVELOPE__BODY_ACK: e.ack = &s_ack; break;
    case LABLOOP__ENVELOPE__BODY_CONTROL: e.control = &s_control; break;
    default: fail_msg("no such body %d", (int)body);
    }
    return e;
}

/* ---- comparing messages --------------------------------------------- */

static void s_check_strv(char **a, size_t na, char **b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

static void s_check_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.data, b.data, a.len);
}

static void s_check_params(Labloop__Param **a, size_t na, Labloop__Param **b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i]->name, b[i]->name);
        assert_string_equal(a[i]->unit, b[i]->unit);
        assert_non_null(b[i]->value);
        assert_int_equal(a[i]->value->kind_case, b[i]->value->kind_case);
        switch (a[i]->value->kind_case) {
        case LABLOOP__VALUE__KIND_NUMBER:
            assert_true(a[i]->value->number == b[i]->value->number);
            break;
        case LABLOOP__VALUE__KIND_INTEGER:
            assert_int_equal(a[i]->value->integer, b[i]->value->integer);
            break;
        case LABLOOP__VALUE__KIND_TEXT:
            assert_string_equal(a[i]->value->text, b[i]->value->text);
            break;
        case LABLOOP__VALUE__KIND_FLAG:
            assert_int_equal(!!a[i]->value->flag, !!b[i]->value->flag);
            break;
        default: fail_msg("param %zu has no value", i);
        }
    }
}

/* Field-by-field equality of two envelopes. */
static void s_check_same(const lab_env *a, const lab_env *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->body_case, b->body_case);
    switch (a->body_case) {
    case LABLOOP__ENVELOPE__BODY_HELLO: {
        const Labloop__Hello *x = a->hello, *y = b->hello;
        assert_string_equal(x->device, y->device);
        assert_string_equal(x->driver, y->driver);
        s_check_strv(x->capabilities, x->n_capabilities, y->capabilities, y->n_capabilities);
        assert_int_equal(x->capacity, y->capacity);
        assert_string_equal(x->software_version, y->software_version);
        s_check_strv(x->unacked_attempts, x->n_unacked_attempts, y->unacked_attempts,
                     y->n_unacked_attempts);
        s_check_strv(x->running_attempts, x->n_running_attempts, y->running_attempts,
                     y->n_running_attempts);
        break;
    }
    case LABLOOP__ENVELOPE__BODY_WELCOME:
        assert_int_equal(a->welcome->heartbeat_ms, b->welcome->heartbeat_ms);
        assert_int_equal(a->welcome->liveness, b->welcome->liveness);
        assert_string_equal(a->welcome->campaign, b->welcome->campaign);
        assert_int_equal(a->welcome->max_message_bytes, b->welcome->max_message_bytes);
        break;
    case LABLOOP__ENVELOPE__BODY_REFUSE:
        assert_int_equal(a->refuse->reason, b->refuse->reason);
        assert_string_equal(a->refuse->detail, b->refuse->detail);
        break;
    case LABLOOP__ENVELOPE__BODY_HEARTBEAT:
        assert_int_equal(a->heartbeat->time_us, b->heartbeat->time_us);
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_REQUEST: {
        const Labloop__StepRequest *x = a->step_request, *y = b->step_request;
        assert_string_equal(x->attempt_id, y->attempt_id);
        assert_string_equal(x->experiment_id, y->experiment_id);
        assert_string_equal(x->step, y->step);
        assert_string_equal(x->capability, y->capability);
        s_check_params(x->params, x->n_params, y->params, y->n_params);
        assert_int_equal(x->timeout_ms, y->timeout_ms);
        assert_string_equal(x->sample_id, y->sample_id);
        break;
    }
    case LABLOOP__ENVELOPE__BODY_STEP_UPDATE:
        assert_string_equal(a->step_update->attempt_id, b->step_update->attempt_id);
        assert_int_equal(a->step_update->kind, b->step_update->kind);
        assert_true(a->step_update->fraction == b->step_update->fraction);
        assert_string_equal(a->step_update->text, b->step_update->text);
        break;
    case LABLOOP__ENVELOPE__BODY_STEP_RESULT: {
        const Labloop__StepResult *x = a->step_result, *y = b->step_result;
        assert_string_equal(x->attempt_id, y->attempt_id);
        assert_int_equal(x->status, y->status);
        s_check_params(x->values, x->n_values, y->values, y->n_values);
        assert_int_equal(x->n_artifacts, y->n_artifacts);
        for (size_t i = 0; i < x->n_artifacts; i++) {
            assert_string_equal(x->artifacts[i]->name, y->artifacts[i]->name);
            assert_string_equal(x->artifacts[i]->media_type, y->artifacts[i]->media_type);
            s_check_bytes(x->artifacts[i]->sha256, y->artifacts[i]->sha256);
            assert_int_equal(x->artifacts[i]->size, y->artifacts[i]->size);
            s_check_bytes(x->artifacts[i]->content, y->artifacts[i]->content);
        }
        assert_int_equal(x->started_us, y->started_us);
        assert_int_equal(x->finished_us, y->finished_us);
        assert_string_equal(x->error, y->error);
        break;
    }
    case LABLOOP__ENVELOPE__BODY_ACK:
        s_check_strv(a->ack->attempt_ids, a->ack->n_attempt_ids, b->ack->attempt_ids,
                     b->ack->n_attempt_ids);
        break;
    case LABLOOP__ENVELOPE__BODY_CONTROL:
        assert_int_equal(a->control->action, b->control->action);
        assert_string_equal(a->control->attempt_id, b->control->attempt_id);
        assert_string_equal(a->control->reason, b->control->reason);
        break;
    default: fail_msg("unexpected body %d", (int)a->body_case);
    }
}

/* ---- codec ------------------------------------------------------------ */

static void test_roundtrip_every_body(void **state)
{
    (void)state;
    static const char *const kinds[] = {"hello", "welcome", "refuse", "heartbeat",
                                        "step_request", "step_update", "step_result",
                                        "ack", "control"};
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], 1000 + i);
        assert_string_equal(lab_env_kind(&in), kinds[i]);
        uint8_t *buf = NULL;
        size_t len = 0;
        lab_err err = {0};
        assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);
        assert_non_null(buf);
        assert_true(len > 0);
        lab_env *out = lab_env_decode(buf, len, LAB_MSG_MAX, &err);
        if (!out)
            fail_msg("%s: decode failed: %s", kinds[i], err.msg);
        s_check_same(&in, out);
        assert_string_equal(lab_env_kind(out), kinds[i]);
        /* protobuf-c packs deterministically: the decoded copy re-encodes
         * to the same bytes (nothing lost, nothing invented). */
        uint8_t *buf2 = NULL;
        size_t len2 = 0;
        assert_int_equal(lab_env_encode(out, &buf2, &len2, &err), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);
        free(buf2);
        lab_env_free(out);
        free(buf);
    }
}

static void test_roundtrip_defaults(void **state)
{
    (void)state;
    /* A body whose fields are all defaults packs to a bare tag + length 0;
     * it must still decode with the body set. */
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], 0);
        Labloop__Hello h = LABLOOP__HELLO__INIT;
        Labloop__Welcome w = LABLOOP__WELCOME__INIT;
        Labloop__Refuse r = LABLOOP__REFUSE__INIT;
        Labloop__Heartbeat hb = LABLOOP__HEARTBEAT__INIT;
        Labloop__StepRequest sr = LABLOOP__STEP_REQUEST__INIT;
        Labloop__StepUpdate su = LABLOOP__STEP_UPDATE__INIT;
        Labloop__StepResult res = LABLOOP__STEP_RESULT__INIT;
        Labloop__Ack a = LABLOOP__ACK__INIT;
        Labloop__Control c = LABLOOP__CONTROL__INIT;
        switch (in.body_case) {
        case LABLOOP__ENVELOPE__BODY_HELLO: in.hello = &h; break;
        case LABLOOP__ENVELOPE__BODY_WELCOME: in.welcome = &w; break;
        case LABLOOP__ENVELOPE__BODY_REFUSE: in.refuse = &r; break;
        case LABLOOP__ENVELOPE__BODY_HEARTBEAT: in.heartbeat = &hb; break;
        case LABLOOP__ENVELOPE__BODY_STEP_REQUEST: in.step_request = &sr; break;
        case LABLOOP__ENVELOPE__BODY_STEP_UPDATE: in.step_update = &su; break;
        case LABLOOP__ENVELOPE__BODY_STEP_RESULT: in.step_result = &res; break;
        case LABLOOP__ENVELOPE__BODY_ACK: in.ack = &a; break;
        case LABLOOP__ENVELOPE__BODY_CONTROL: in.control = &c; break;
        default: break;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        lab_err err = {0};
        assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);
        /* tag (1 byte for fields 10..15, 2 for 16..18) + length 0 */
        assert_int_equal(len, s_all_bodies[i] < 16 ? 2 : 3);
        lab_env *out = lab_env_decode(buf, len, LAB_MSG_MAX, &err);
        assert_non_null(out);
        s_check_same(&in, out);
        lab_env_free(out);
        free(buf);
    }
}

static void test_sig(void **state)
{
    (void)state;
    lab_err err = {0};
    const uint8_t good[] = {'L', 'A', 'B', LAB_PROTO_VERSION};
    assert_int_equal(lab_env_check_sig(good, sizeof good, &err), 0);

    const uint8_t bad[] = {'L', 'A', 'X', LAB_PROTO_VERSION};
    assert_int_equal(lab_env_check_sig(bad, sizeof bad, &err), LAB_EPROTO);
    assert_int_equal(err.code, LAB_EPROTO);
    assert_non_null(strstr(err.msg, "signature"));
    const uint8_t lower[] = {'l', 'a', 'b', LAB_PROTO_VERSION};
    assert_int_equal(lab_env_check_sig(lower, sizeof lower, NULL), LAB_EPROTO);

    const uint8_t v2[] = {'L', 'A', 'B', 2};
    lab_err_clear(&err);
    assert_int_equal(lab_env_check_sig(v2, sizeof v2, &err), LAB_EVERSION);
    assert_int_equal(err.code, LAB_EVERSION);
    assert_non_null(strstr(err.msg, "version 2"));
    assert_non_null(strstr(err.msg, "speaks 1"));
    const uint8_t v0[] = {'L', 'A', 'B', 0};
    assert_int_equal(lab_env_check_sig(v0, sizeof v0, &err), LAB_EVERSION);
    assert_non_null(strstr(err.msg, "version 0"));
    const uint8_t v255[] = {'L', 'A', 'B', 255};
    assert_int_equal(lab_env_check_sig(v255, sizeof v255, &err), LAB_EVERSION);
    assert_non_null(strstr(err.msg, "version 255"));

    /* Short and long frames, including a correct prefix: never read past len.
     * Copies on the heap so ASan sees any overread. */
    for (size_t n = 0; n <= 8; n++) {
        if (n == LAB_SIG_LEN)
            continue;
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        for (size_t i = 0; i < n; i++)
            p[i] = i < sizeof good ? good[i] : 0;
        lab_err_clear(&err);
        assert_int_equal(lab_env_check_sig(p, n, &err), LAB_EPROTO);
        assert_int_equal(err.code, LAB_EPROTO);
        free(p);
    }
    assert_int_equal(lab_env_check_sig(NULL, 0, &err), LAB_EPROTO);
}

/* Decode must never crash, and must return either NULL with an error code
 * or an envelope with a body. */
static void s_decode_any(const uint8_t *data, size_t len, uint64_t seed, long iter)
{
    lab_err err = {0};
    uint8_t *copy = malloc(len ? len : 1); /* heap: ASan catches overreads */
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    lab_env *e = lab_env_decode(copy, len, LAB_MSG_MAX, &err);
    if (e) {
        if (e->body_case == LABLOOP__ENVELOPE__BODY__NOT_SET)
            fail_msg("seed %" PRIu64 " iter %ld len %zu: decoded without a body", seed, iter,
                     len);
        (void)lab_env_kind(e);
        lab_env_free(e);
    } else if (err.code != LAB_EPROTO) {
        fail_msg("seed %" PRIu64 " iter %ld len %zu: decode failed with %s (%s)", seed, iter, len,
                 lab_err_name(err.code), err.msg);
    }
    free(copy);
}

static void test_decode_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], UINT64_MAX);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(lab_env_encode(&in, &buf, &len, NULL), 0);
        for (size_t n = 0; n < len; n++)
            s_decode_any(buf, n, 0, (long)n);
        /* The whole thing decodes. */
        lab_env *e = lab_env_decode(buf, len, LAB_MSG_MAX, NULL);
        assert_non_null(e);
        lab_env_free(e);
        /* And a zero-length frame is an envelope with no body. */
        lab_err err = {0};
        assert_null(lab_env_decode(buf, 0, LAB_MSG_MAX, &err));
        assert_int_equal(err.code, LAB_EPROTO);
        free(buf);
    }
}

/* xorshift64*: small, seeded, the same everywhere. */
static uint64_t s_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static uint64_t s_seed(void)
{
    const char *env = getenv("LAB_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    if (seed == 0)
        seed = 1; /* xorshift must not start at 0 */
    print_message("test_envelope: seed %" PRIu64 " (replay with LAB_TEST_SEED=%" PRIu64 ")\n",
                  seed, seed);
    return seed;
}

static void test_decode_garbage(void **state)
{
    (void)state;
    uint64_t seed = s_seed();
    uint64_t r = seed;
    uint8_t buf[512];
    /* Valid encodings to mutate: random bytes alone rarely get past the
     * first tag, mutated messages reach the nested decoders. */
    uint8_t *valid[N_BODIES];
    size_t vlen[N_BODIES];
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], 42);
        assert_int_equal(lab_env_encode(&in, &valid[i], &vlen[i], NULL), 0);
        assert_true(vlen[i] <= sizeof buf);
    }
    for (long it = 0; it < GARBAGE_ITERS; it++) {
        size_t len;
        if (it % 2 == 0) {
            len = (size_t)(s_rand(&r) % sizeof buf);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)s_rand(&r);
        } else {
            size_t which = (size_t)(s_rand(&r) % N_BODIES);
            len = vlen[which];
            memcpy(buf, valid[which], len);
            int flips = 1 + (int)(s_rand(&r) % 4);
            for (int f = 0; f < flips; f++)
                buf[s_rand(&r) % len] = (uint8_t)s_rand(&r);
            if (s_rand(&r) % 4 == 0)
                len = (size_t)(s_rand(&r) % (len + 1));
        }
        s_decode_any(buf, len, seed, it);
    }
    for (size_t i = 0; i < N_BODIES; i++)
        free(valid[i]);
}

static void test_decode_limits(void **state)
{
    (void)state;
    lab_err err = {0};
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 7);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);

    /* Over the caller's limit: refused before parsing. */
    assert_null(lab_env_decode(buf, len, len - 1, &err));
    assert_int_equal(err.code, LAB_ETOOBIG);
    lab_env *e = lab_env_decode(buf, len, len, &err);
    assert_non_null(e);
    lab_env_free(e);
    free(buf);

    /* Over LAB_MSG_MAX: even a frame of zeros is refused as too big. */
    size_t big = (size_t)LAB_MSG_MAX + 1;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    lab_err_clear(&err);
    assert_null(lab_env_decode(huge, big, LAB_MSG_MAX, &err));
    assert_int_equal(err.code, LAB_ETOOBIG);
    assert_non_null(strstr(err.msg, "exceeds"));
    free(huge);

    /* An envelope with only a seq and no body. */
    lab_env nobody = LABLOOP__ENVELOPE__INIT;
    nobody.seq = 9;
    assert_int_equal(lab_env_encode(&nobody, &buf, &len, &err), 0);
    assert_string_equal(lab_env_kind(&nobody), "unknown");
    lab_err_clear(&err);
    assert_null(lab_env_decode(buf, len, LAB_MSG_MAX, &err));
    assert_int_equal(err.code, LAB_EPROTO);
    assert_non_null(strstr(err.msg, "no body"));
    free(buf);

    /* An envelope whose body is a field number this version does not know
     * (tag 99, length-delimited, empty): unknown fields are skipped, so it
     * looks like no body. */
    const uint8_t future[] = {0x08, 0x01, 0x9a, 0x06, 0x00}; /* seq=1, field 99 len 0 */
    lab_err_clear(&err);
    assert_null(lab_env_decode(future, sizeof future, LAB_MSG_MAX, &err));
    assert_int_equal(err.code, LAB_EPROTO);

    /* Unknown fields next to a known body are ignored. */
    in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 7);
    assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);
    uint8_t *ext = malloc(len + 3);
    assert_non_null(ext);
    memcpy(ext, buf, len);
    /* varint field 98 = 1; the key 98<<3 needs two bytes */
    ext[len] = (uint8_t)(((98 << 3) & 0x7f) | 0x80);
    ext[len + 1] = (uint8_t)((98 << 3) >> 7);
    ext[len + 2] = 0x01;
    e = lab_env_decode(ext, len + 3, LAB_MSG_MAX, &err);
    assert_non_null(e);
    s_check_same(&in, e);
    lab_env_free(e);
    free(ext);
    free(buf);
}

static void test_encode_too_big(void **state)
{
    (void)state;
    lab_err err = {0};
    size_t n = (size_t)LAB_MSG_MAX; /* content alone is the cap: over with framing */
    uint8_t *blob = calloc(1, n);
    assert_non_null(blob);
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_STEP_RESULT, 3);
    s_artifact.content.data = blob;
    s_artifact.content.len = n;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(lab_env_encode(&in, &buf, &len, &err), LAB_ETOOBIG);
    assert_int_equal(err.code, LAB_ETOOBIG);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "step_result"));
    /* lab_env_send refuses before touching the socket (NULL is never used). */
    lab_err_clear(&err);
    assert_int_equal(lab_env_send(NULL, "furnace-1", &in, &err), LAB_ETOOBIG);

    /* Just under the cap is fine. */
    s_artifact.content.len = n - 4096;
    assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);
    assert_true(len <= LAB_MSG_MAX);
    lab_env *e = lab_env_decode(buf, len, LAB_MSG_MAX, &err);
    assert_non_null(e);
    assert_int_equal(e->step_result->artifacts[0]->content.len, n - 4096);
    lab_env_free(e);
    free(buf);
    free(blob);
    s_init_bodies();
}

/* ---- lab_param_* ------------------------------------------------------ */

static void test_params(void **state)
{
    (void)state;
    double v = 0;
    Labloop__Param *p = lab_param_number("temperature", 451.5, "C");
    assert_non_null(p);
    assert_string_equal(p->name, "temperature");
    assert_string_equal(p->unit, "C");
    assert_int_equal(p->value->kind_case, LABLOOP__VALUE__KIND_NUMBER);
    assert_int_equal(lab_param_to_double(p, &v), 0);
    assert_true(v == 451.5);

    Labloop__Param *q = lab_param_copy(p);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_ptr_not_equal(q->name, p->name);
    assert_string_equal(q->name, "temperature");
    assert_string_equal(q->unit, "C");
    assert_int_equal(lab_param_to_double(q, &v), 0);
    assert_true(v == 451.5);
    lab_param_free(p); /* the copy owns its own memory */
    assert_string_equal(q->name, "temperature");
    lab_param_free(q);

    p = lab_param_number("ratio", -0.25, NULL);
    assert_string_equal(p->unit, "");
    lab_param_free(p);

    /* Text: numeric text converts, other text does not. */
    static const struct {
        const char *text;
        int rc;
        double v;
    } cases[] = {
        {"1.5", 0, 1.5},       {"-2e3", 0, -2000},    {"42", 0, 42},      {"0", 0, 0},
        {"toluene", LAB_EINVAL, 0}, {"", LAB_EINVAL, 0}, {"1.5 C", LAB_EINVAL, 0},
        {"12abc", LAB_EINVAL, 0}, {"1.5 ", LAB_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = lab_param_text("x", cases[i].text);
        assert_non_null(p);
        assert_int_equal(p->value->kind_case, LABLOOP__VALUE__KIND_TEXT);
        assert_string_equal(p->value->text, cases[i].text);
        assert_string_equal(p->unit, "");
        v = -99;
        int rc = lab_param_to_double(p, &v);
        if (rc != cases[i].rc)
            fail_msg("lab_param_to_double(\"%s\") returned %d, expected %d", cases[i].text, rc,
                     cases[i].rc);
        if (rc == 0)
            assert_true(v == cases[i].v);
        else
            assert_true(v == -99); /* untouched on error */
        q = lab_param_copy(p);
        assert_non_null(q);
        assert_ptr_not_equal(q->value->text, p->value->text);
        assert_string_equal(q->value->text, cases[i].text);
        lab_param_free(p);
        lab_param_free(q);
    }

    /* Integer and flag values (as decoded from the wire) convert and copy. */
    assert_int_equal(lab_param_to_double(&s_p_int, &v), 0);
    assert_true(v == -1234567890123.0);
    assert_int_equal(lab_param_to_double(&s_p_flag, &v), 0);
    assert_true(v == 1.0);
    Labloop__Param *params[] = {&s_p_num, &s_p_int, &s_p_txt, &s_p_flag};
    Labloop__Param *copies[4];
    for (size_t i = 0; i < 4; i++) {
        copies[i] = lab_param_copy(params[i]);
        assert_non_null(copies[i]);
    }
    s_check_params(params, 4, copies, 4);
    for (size_t i = 0; i < 4; i++)
        lab_param_free(copies[i]);

    /* No value, or a value with no kind: EINVAL; copying keeps "no kind". */
    Labloop__Param none = LABLOOP__PARAM__INIT;
    none.name = "empty";
    assert_int_equal(lab_param_to_double(&none, &v), LAB_EINVAL);
    assert_int_equal(lab_param_to_double(NULL, &v), LAB_EINVAL);
    q = lab_param_copy(&none);
    assert_non_null(q);
    assert_string_equal(q->name, "empty");
    assert_int_equal(lab_param_to_double(q, &v), LAB_EINVAL);
    lab_param_free(q);
    Labloop__Value unset = LABLOOP__VALUE__INIT;
    none.value = &unset;
    assert_int_equal(lab_param_to_double(&none, &v), LAB_EINVAL);
    lab_param_free(NULL);

    /* Params from lab_param_* go on the wire and come back. */
    Labloop__Param *built[] = {lab_param_number("t", 3.25, "s"), lab_param_text("s", "hexane")};
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_STEP_REQUEST, 1);
    s_request.params = built;
    s_request.n_params = 2;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(lab_env_encode(&in, &buf, &len, NULL), 0);
    lab_env *e = lab_env_decode(buf, len, LAB_MSG_MAX, NULL);
    assert_non_null(e);
    s_check_same(&in, e);
    /* Copying out of a decoded (protobuf-c owned) message. */
    q = lab_param_copy(e->step_request->params[1]);
    lab_env_free(e);
    assert_string_equal(q->value->text, "hexane");
    lab_param_free(q);
    free(buf);
    lab_param_free(built[0]);
    lab_param_free(built[1]);
    s_init_bodies();
}

/* ---- over real ZeroMQ sockets on loopback ----------------------------- */

typedef struct {
    void *ctx;
    void *router;
    void *dealer;
    char endpoint[256];
} s_pair;

static const char s_dev[] = "furnace-1";

static int s_setup_pair(void **state)
{
    s_pair *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->ctx = zmq_ctx_new();
    assert_non_null(p->ctx);
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    assert_non_null(p->router);
    int one = 1, zero = 0;
    assert_int_equal(zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_bind(p->router, "tcp://127.0.0.1:*"), 0);
    size_t sz = sizeof p->endpoint;
    assert_int_equal(zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->endpoint, &sz), 0);
    assert_non_null(strstr(p->endpoint, "tcp://127.0.0.1:"));

    p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
    assert_non_null(p->dealer);
    assert_int_equal(zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, s_dev, strlen(s_dev)), 0);
    assert_int_equal(zmq_setsockopt(p->dealer, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(p->dealer, p->endpoint), 0);
    *state = p;
    return 0;
}

static int s_teardown_pair(void **state)
{
    s_pair *p = *state;
    zmq_close(p->dealer);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
    free(p);
    return 0;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receive one message with a deadline: poll, then lab_env_recv. Returns
 * lab_env_recv's code; fails the test if nothing arrives in time. */
static int s_recv_wait(void *sock, char *id, size_t id_len, lab_env **out, lab_err *err)
{
    int64_t deadline = s_now_ms() + RECV_DEADLINE_MS;
    for (;;) {
        int rc = lab_env_recv(sock, id, id_len, out, err);
        if (rc != LAB_EAGAIN)
            return rc;
        int64_t left = deadline - s_now_ms();
        if (left <= 0)
            fail_msg("no message within %d ms", RECV_DEADLINE_MS);
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        assert_true(zmq_poll(&it, 1, (long)left) >= 0);
    }
}

/* Nothing is waiting on sock (poll briefly, then lab_env_recv: EAGAIN). */
static void s_assert_empty(void *sock, int is_router)
{
    zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&it, 1, 50), 0);
    char id[LAB_ID_MAX + 1];
    lab_env *e = (lab_env *)&e; /* must be reset to NULL */
    lab_err err = {0};
    assert_int_equal(lab_env_recv(sock, is_router ? id : NULL, sizeof id, &e, &err), LAB_EAGAIN);
    assert_null(e);
}

/* The DEALER says hello first so the ROUTER knows its routing id. */
static void s_hello_first(s_pair *p)
{
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_HELLO, 1);
    lab_err err = {0};
    assert_int_equal(lab_env_send(p->dealer, NULL, &in, &err), 0);
    char id[LAB_ID_MAX + 1] = "";
    lab_env *out = NULL;
    assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
    assert_string_equal(id, s_dev);
    s_check_same(&in, out);
    lab_env_free(out);
}

static void test_zmq_eagain(void **state)
{
    s_pair *p = *state;
    s_assert_empty(p->router, 1);
    s_assert_empty(p->dealer, 0);
}

static void test_zmq_both_directions(void **state)
{
    s_pair *p = *state;
    s_hello_first(p);
    lab_err err = {0};
    char id[LAB_ID_MAX + 1];
    /* Orchestrator -> worker, every body. */
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], 100 + i);
        assert_int_equal(lab_env_send(p->router, s_dev, &in, &err), 0);
        lab_env *out = NULL;
        assert_int_equal(s_recv_wait(p->dealer, NULL, 0, &out, &err), 0);
        s_check_same(&in, out);
        lab_env_free(out);
    }
    /* Worker -> orchestrator, every body, id filled in each time. */
    for (size_t i = 0; i < N_BODIES; i++) {
        lab_env in = s_make(s_all_bodies[i], 200 + i);
        assert_int_equal(lab_env_send(p->dealer, NULL, &in, &err), 0);
        lab_env *out = NULL;
        memset(id, 'x', sizeof id);
        assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
        assert_string_equal(id, s_dev);
        s_check_same(&in, out);
        lab_env_free(out);
    }
    /* Queued back-to-back messages keep their order and boundaries. */
    for (uint64_t s = 1; s <= 20; s++) {
        lab_env in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, s);
        assert_int_equal(lab_env_send(p->dealer, NULL, &in, &err), 0);
    }
    for (uint64_t s = 1; s <= 20; s++) {
        lab_env *out = NULL;
        assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
        assert_int_equal(out->seq, s);
        lab_env_free(out);
    }
    /* Already-encoded bytes (outbox re-send). */
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_STEP_RESULT, 77);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(lab_env_encode(&in, &buf, &len, &err), 0);
    assert_int_equal(lab_env_send_raw(p->dealer, NULL, buf, len, &err), 0);
    lab_env *out = NULL;
    assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
    s_check_same(&in, out);
    lab_env_free(out);
    free(buf);
    /* A big message (near the cap) crosses intact. */
    uint8_t *blob = malloc(LAB_MSG_MAX - 4096);
    assert_non_null(blob);
    for (size_t k = 0; k < LAB_MSG_MAX - 4096; k++)
        blob[k] = (uint8_t)(k * 31);
    in = s_make(LABLOOP__ENVELOPE__BODY_STEP_RESULT, 78);
    s_artifact.content.data = blob;
    s_artifact.content.len = LAB_MSG_MAX - 4096;
    assert_int_equal(lab_env_send(p->dealer, NULL, &in, &err), 0);
    assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
    s_check_same(&in, out);
    lab_env_free(out);
    free(blob);
    s_init_bodies();

    /* An unknown peer with ROUTER_MANDATORY: an error, not a silent drop. */
    in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 1);
    lab_err_clear(&err);
    assert_int_equal(lab_env_send(p->router, "nobody", &in, &err), LAB_EZMQ);
    s_assert_empty(p->router, 1);
    s_assert_empty(p->dealer, 0);
}

/* Send frames raw from the DEALER (the ROUTER adds the routing id). */
static void s_send_frames(void *sock, const void *const *frames, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
}

static void s_expect_bad_then_good(s_pair *p, const char *what, const void *const *frames,
                                   const size_t *lens, size_t n, int want)
{
    s_send_frames(p->dealer, frames, lens, n);
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 555);
    lab_err err = {0};
    assert_int_equal(lab_env_send(p->dealer, NULL, &in, &err), 0);

    char id[LAB_ID_MAX + 1] = "";
    lab_env *out = (lab_env *)&out;
    lab_err_clear(&err);
    int rc = s_recv_wait(p->router, id, sizeof id, &out, &err);
    if (rc != want)
        fail_msg("%s: lab_env_recv returned %s (%s), expected %s", what, lab_err_name(rc),
                 err.msg, lab_err_name(want));
    assert_int_equal(err.code, want);
    assert_true(err.msg[0] != '\0');
    assert_null(out);
    assert_string_equal(id, s_dev); /* who sent it, for the log and Refuse */

    /* Every frame of the bad message is gone: the next one is intact. */
    memset(id, 0, sizeof id);
    rc = s_recv_wait(p->router, id, sizeof id, &out, &err);
    if (rc != 0)
        fail_msg("%s: the good message after it failed: %s", what, err.msg);
    assert_string_equal(id, s_dev);
    s_check_same(&in, out);
    lab_env_free(out);
    s_assert_empty(p->router, 1);
}

static void test_zmq_malformed(void **state)
{
    s_pair *p = *state;
    const uint8_t sig[] = {'L', 'A', 'B', LAB_PROTO_VERSION};
    const uint8_t badsig[] = {'X', 'M', 'L', LAB_PROTO_VERSION};
    const uint8_t v9[] = {'L', 'A', 'B', 9};
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99};
    uint8_t *env = NULL;
    size_t envlen = 0;
    lab_env hb = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 1);
    assert_int_equal(lab_env_encode(&hb, &env, &envlen, NULL), 0);
    lab_env nobody = LABLOOP__ENVELOPE__INIT;
    nobody.seq = 4;
    uint8_t *nb = NULL;
    size_t nblen = 0;
    assert_int_equal(lab_env_encode(&nobody, &nb, &nblen, NULL), 0);

    {
        const void *f[] = {sig};
        const size_t l[] = {sizeof sig};
        s_expect_bad_then_good(p, "missing envelope frame", f, l, 1, LAB_EPROTO);
    }
    {
        const void *f[] = {""};
        const size_t l[] = {0};
        s_expect_bad_then_good(p, "one empty frame", f, l, 1, LAB_EPROTO);
    }
    {
        const void *f[] = {badsig, env};
        const size_t l[] = {sizeof badsig, envlen};
        s_expect_bad_then_good(p, "bad signature", f, l, 2, LAB_EPROTO);
    }
    {
        const void *f[] = {badsig, env, env, env};
        const size_t l[] = {sizeof badsig, envlen, envlen, envlen};
        s_expect_bad_then_good(p, "bad signature and extra frames", f, l, 4, LAB_EPROTO);
    }
    {
        const void *f[] = {v9, env};
        const size_t l[] = {sizeof v9, envlen};
        s_expect_bad_then_good(p, "wrong version", f, l, 2, LAB_EVERSION);
    }
    {
        const void *f[] = {env};
        const size_t l[] = {envlen};
        s_expect_bad_then_good(p, "envelope without signature", f, l, 1, LAB_EPROTO);
    }
    {
        const void *f[] = {sig, env, "extra", "more"};
        const size_t l[] = {sizeof sig, envlen, 5, 4};
        s_expect_bad_then_good(p, "extra frames", f, l, 4, LAB_EPROTO);
    }
    {
        const void *f[] = {sig, env, ""};
        const size_t l[] = {sizeof sig, envlen, 0};
        s_expect_bad_then_good(p, "empty extra frame", f, l, 3, LAB_EPROTO);
    }
    {
        const void *f[] = {sig, garbage};
        const size_t l[] = {sizeof sig, sizeof garbage};
        s_expect_bad_then_good(p, "garbage envelope", f, l, 2, LAB_EPROTO);
    }
    {
        const void *f[] = {sig, nb};
        const size_t l[] = {sizeof sig, nblen};
        s_expect_bad_then_good(p, "envelope with no body", f, l, 2, LAB_EPROTO);
    }
    {
        const void *f[] = {sig, ""};
        const size_t l[] = {sizeof sig, 0};
        s_expect_bad_then_good(p, "empty envelope frame", f, l, 2, LAB_EPROTO);
    }
    {
        size_t big = (size_t)LAB_MSG_MAX + 1;
        uint8_t *huge = calloc(1, big);
        assert_non_null(huge);
        const void *f[] = {sig, huge};
        const size_t l[] = {sizeof sig, big};
        s_expect_bad_then_good(p, "oversized envelope", f, l, 2, LAB_ETOOBIG);
        /* The code does not depend on whether the caller passed an err. */
        s_send_frames(p->dealer, f, l, 2);
        char id[LAB_ID_MAX + 1] = "";
        lab_env *out = NULL;
        int64_t deadline = s_now_ms() + RECV_DEADLINE_MS;
        int rc;
        while ((rc = lab_env_recv(p->router, id, sizeof id, &out, NULL)) == LAB_EAGAIN) {
            zmq_pollitem_t it = {.socket = p->router, .events = ZMQ_POLLIN};
            if (s_now_ms() > deadline)
                fail_msg("no message within %d ms", RECV_DEADLINE_MS);
            assert_true(zmq_poll(&it, 1, RECV_DEADLINE_MS) >= 0);
        }
        assert_int_equal(rc, LAB_ETOOBIG);
        assert_null(out);
        assert_string_equal(id, s_dev);
        s_assert_empty(p->router, 1);
        free(huge);
    }
    /* And towards the worker: the DEALER side consumes bad messages too. */
    s_hello_first(p);
    {
        lab_err err = {0};
        assert_true(zmq_send(p->router, s_dev, strlen(s_dev), ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, sig, sizeof sig, ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, env, envlen, ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, "x", 1, 0) >= 0);
        assert_true(zmq_send(p->router, s_dev, strlen(s_dev), ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, v9, sizeof v9, ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, env, envlen, 0) >= 0);
        assert_true(zmq_send(p->router, s_dev, strlen(s_dev), ZMQ_SNDMORE) >= 0);
        assert_true(zmq_send(p->router, sig, sizeof sig, 0) >= 0);
        lab_env in = s_make(LABLOOP__ENVELOPE__BODY_ACK, 12);
        assert_int_equal(lab_env_send(p->router, s_dev, &in, &err), 0);
        lab_env *out = NULL;
        assert_int_equal(s_recv_wait(p->dealer, NULL, 0, &out, &err), LAB_EPROTO);
        assert_null(out);
        assert_int_equal(s_recv_wait(p->dealer, NULL, 0, &out, &err), LAB_EVERSION);
        assert_null(out);
        assert_int_equal(s_recv_wait(p->dealer, NULL, 0, &out, &err), LAB_EPROTO);
        assert_null(out);
        assert_int_equal(s_recv_wait(p->dealer, NULL, 0, &out, &err), 0);
        s_check_same(&in, out);
        lab_env_free(out);
        s_assert_empty(p->dealer, 0);
    }
    free(env);
    free(nb);
}

static void test_zmq_routing_id_sanitised(void **state)
{
    s_pair *p = *state;
    /* A second DEALER with an unprintable, over-long routing id: the message
     * is refused whole (LAB_EPROTO), the id is NUL-terminated, truncated to
     * the buffer and printable for the error, and a good message after it
     * arrives intact. */
    void *d = zmq_socket(p->ctx, ZMQ_DEALER);
    assert_non_null(d);
    char rid[LAB_ID_MAX + 20];
    for (size_t i = 0; i < sizeof rid; i++)
        rid[i] = (char)('a' + i % 26);
    rid[1] = '\n';
    rid[2] = (char)0xc3;
    int zero = 0;
    assert_int_equal(zmq_setsockopt(d, ZMQ_ROUTING_ID, rid, sizeof rid), 0);
    assert_int_equal(zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(d, p->endpoint), 0);
    lab_env in = s_make(LABLOOP__ENVELOPE__BODY_HEARTBEAT, 3);
    lab_err err = {0};
    assert_int_equal(lab_env_send(d, NULL, &in, &err), 0);
    char id[LAB_ID_MAX + 1];
    lab_env *out = NULL;
    assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), LAB_EPROTO);
    assert_null(out);
    assert_non_null(strstr(err.msg, "routing id"));
    assert_int_equal(strlen(id), LAB_ID_MAX);
    assert_int_equal(id[0], 'a');
    assert_int_equal(id[1], '?');
    assert_int_equal(id[2], '?');
    assert_memory_equal(id + 3, rid + 3, LAB_ID_MAX - 3);
    /* a printable id of the longest allowed length still works */
    void *d2 = zmq_socket(p->ctx, ZMQ_DEALER);
    char ok[LAB_ID_MAX - 1];
    memset(ok, 'k', sizeof ok);
    assert_int_equal(zmq_setsockopt(d2, ZMQ_ROUTING_ID, ok, sizeof ok), 0);
    assert_int_equal(zmq_setsockopt(d2, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(d2, p->endpoint), 0);
    assert_int_equal(lab_env_send(d2, NULL, &in, &err), 0);
    assert_int_equal(s_recv_wait(p->router, id, sizeof id, &out, &err), 0);
    assert_int_equal(strlen(id), sizeof ok);
    lab_env_free(out);
    zmq_close(d2);
    zmq_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_body),
        cmocka_unit_test(test_roundtrip_defaults),
        cmocka_unit_test(test_sig),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_encode_too_big),
        cmocka_unit_test(test_params),
        cmocka_unit_test_setup_teardown(test_zmq_eagain, s_setup_pair, s_teardown_pair),
        cmocka_unit_test_setup_teardown(test_zmq_both_directions, s_setup_pair, s_teardown_pair),
        cmocka_unit_test_setup_teardown(test_zmq_malformed, s_setup_pair, s_teardown_pair),
        cmocka_unit_test_setup_teardown(test_zmq_routing_id_sanitised, s_setup_pair,
                                        s_teardown_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
