/* zpoke: a misbehaving device for integration tests. Connects a DEALER with
 * the given routing id to an orchestrator's device endpoint, sends one kind
 * of (often malformed) message, and prints the kind of the reply, if any,
 * within a deadline. Not part of labloop; built only for tests.
 *
 *   zpoke ENDPOINT ID KIND [CAPABILITY]
 *   KIND: hello | garbage | badsig | badversion | oversize | noenvelope | extraframes | result
 *         | mangle (register, take one step request, answer it DONE under a
 *           mangled attempt id "<...>/0<n>", then leave)
 *         | badartifact (the same, but answer under the right id with an
 *           artifact whose bytes do not match its sha256)
 * Prints "reply: <kind> <detail>" or "reply: none"; exits 0 unless the
 * socket could not be used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "protocols/envelope.h"
#include "common/banned.h"

#define S_WAIT_MS 2000

static int s_send_frames(void *s, const void *a, size_t alen, const void *b, size_t blen, int extra)
{
    if (zmq_send(s, a, alen, (b || extra) ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    if (b && zmq_send(s, b, blen, extra ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    if (extra && zmq_send(s, "x", 1, 0) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: zpoke ENDPOINT ID KIND [CAPABILITY]\n");
        return 2;
    }
    const char *endpoint = argv[1], *id = argv[2], *kind = argv[3];
    const char *cap = argc > 4 ? argv[4] : "liquid_handler";
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 500;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
    if (zmq_connect(s, endpoint) != 0) {
        fprintf(stderr, "zpoke: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    uint8_t sig[LAB_SIG_LEN] = {'L', 'A', 'B', LAB_PROTO_VERSION};
    int rc = 0;
    if (!strcmp(kind, "mangle") || !strcmp(kind, "badartifact")) {
        int lie = !strcmp(kind, "badartifact");
        lab_env env = LABLOOP__ENVELOPE__INIT;
        Labloop__Hello h = LABLOOP__HELLO__INIT;
        char *caps[] = {(char *)cap};
        h.device = (char *)id;
        h.driver = (char *)"zpoke";
        h.capabilities = caps;
        h.n_capabilities = 1;
        h.capacity = 1;
        env.body_case = LABLOOP__ENVELOPE__BODY_HELLO;
        env.hello = &h;
        lab_env_send(s, NULL, &env, NULL);
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        for (int waited = 0; waited < 20000;) {
            if (zmq_poll(&it, 1, 100) <= 0) {
                waited += 100;
                continue;
            }
            lab_env *in = NULL;
            if (lab_env_recv(s, NULL, 0, &in, NULL) != 0)
                continue;
            if (in->body_case == LABLOOP__ENVELOPE__BODY_STEP_REQUEST) {
                char bad[300];
                const char *a = in->step_request->attempt_id;
                const char *slash = strrchr(a, '/');
                snprintf(bad, sizeof bad, "%.*s/0%s", (int)(slash ? slash - a : 0), a, slash ? slash + 1 : a);
                Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
                r.attempt_id = lie ? (char *)a : bad;
                r.status = LABLOOP__STEP_RESULT__STATUS__DONE;
                Labloop__Artifact art = LABLOOP__ARTIFACT__INIT;
                Labloop__Artifact *arts[1] = {&art};
                uint8_t zeros[32] = {0};
                if (lie) {
                    art.name = (char *)"spectrum.csv";
                    art.media_type = (char *)"text/csv";
                    art.sha256.data = zeros;           /* not the hash of the bytes */
                    art.sha256.len = sizeof zeros;
                    art.content.data = (uint8_t *)"510,42\n";
                    art.content.len = 7;
                    art.size = 7;
                    r.artifacts = arts;
                    r.n_artifacts = 1;
                }
                lab_env out = LABLOOP__ENVELOPE__INIT;
                out.body_case = LABLOOP__ENVELOPE__BODY_STEP_RESULT;
                out.step_result = &r;
                lab_env_send(s, NULL, &out, NULL);
                printf(lie ? "lied about an artifact of %s\n" : "mangled: %s -> %s\n", a, bad);
                lab_env_free(in);
                zmq_poll(&it, 1, 300);
                break;
            }
            lab_env_free(in);
        }
        zmq_close(s);
        zmq_ctx_term(ctx);
        return 0;
    }
    if (!strcmp(kind, "hello") || !strcmp(kind, "result")) {
        lab_env env = LABLOOP__ENVELOPE__INIT;
        Labloop__Hello h = LABLOOP__HELLO__INIT;
        Labloop__StepResult r = LABLOOP__STEP_RESULT__INIT;
        char *caps[] = {(char *)cap};
        if (!strcmp(kind, "hello")) {
            h.device = (char *)id;
            h.driver = (char *)"zpoke";
            h.capabilities = caps;
            h.n_capabilities = 1;
            h.capacity = 1;
            env.body_case = LABLOOP__ENVELOPE__BODY_HELLO;
            env.hello = &h;
        } else {
            r.attempt_id = (char *)"no-such-campaign/1/x/1";
            r.status = LABLOOP__STEP_RESULT__STATUS__DONE;
            env.body_case = LABLOOP__ENVELOPE__BODY_STEP_RESULT;
            env.step_result = &r;
        }
        env.seq = 1;
        rc = lab_env_send(s, NULL, &env, NULL);
    } else if (!strcmp(kind, "garbage")) {
        uint8_t junk[64];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)(i * 37 + 11);
        rc = s_send_frames(s, sig, sizeof sig, junk, sizeof junk, 0);
    } else if (!strcmp(kind, "badsig")) {
        rc = s_send_frames(s, "XYZ\x01", 4, "\x08\x01", 2, 0);
    } else if (!strcmp(kind, "badversion")) {
        uint8_t v9[LAB_SIG_LEN] = {'L', 'A', 'B', 9};
        rc = s_send_frames(s, v9, sizeof v9, "\x08\x01", 2, 0);
    } else if (!strcmp(kind, "oversize")) {
        size_t n = LAB_MSG_MAX + 100;
        uint8_t *big = calloc(1, n);
        rc = big ? s_send_frames(s, sig, sizeof sig, big, n, 0) : -1;
        free(big);
    } else if (!strcmp(kind, "noenvelope")) {
        rc = s_send_frames(s, sig, sizeof sig, NULL, 0, 0);
    } else if (!strcmp(kind, "extraframes")) {
        rc = s_send_frames(s, sig, sizeof sig, "\x08\x01", 2, 1);
    } else {
        fprintf(stderr, "zpoke: unknown kind '%s'\n", kind);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "zpoke: send failed\n");
        return 1;
    }
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (!strcmp(kind, "badversion") && zmq_poll(&it, 1, S_WAIT_MS) > 0) {
        /* Read the answer as a version 9 peer would: its own version byte. */
        uint8_t sg[8], body[4096];
        int n0 = zmq_recv(s, sg, sizeof sg, 0), n1 = n0 == LAB_SIG_LEN ? zmq_recv(s, body, sizeof body, 0) : -1;
        lab_env *env = n1 > 0 && n1 <= (int)sizeof body && !memcmp(sg, "LAB\x09", 4)
                     ? lab_env_decode(body, (size_t)n1, sizeof body, NULL) : NULL;
        if (env && env->body_case == LABLOOP__ENVELOPE__BODY_REFUSE)
            printf("reply: refuse under version 9: %s\n", env->refuse->detail);
        else
            printf("reply: not readable by a version 9 peer (signature version %d)\n", n0 == LAB_SIG_LEN ? sg[3] : -1);
        lab_env_free(env);
    } else if (zmq_poll(&it, 1, S_WAIT_MS) > 0) {
        lab_env *env = NULL;
        lab_err err = {0};
        if (lab_env_recv(s, NULL, 0, &env, &err) == 0) {
            if (env->body_case == LABLOOP__ENVELOPE__BODY_REFUSE)
                printf("reply: refuse %s\n", env->refuse->detail);
            else
                printf("reply: %s\n", lab_env_kind(env));
            lab_env_free(env);
        } else {
            printf("reply: bad %s\n", err.msg);
        }
    } else {
        printf("reply: none\n");
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
