/* The control endpoint's client (see control_client.h). */
#include "orchestrator/control_client.h"

#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/keys.h"
#include "common/banned.h"

/* Replies have no fixed size (a lab with thousands of devices answers
 * status with a few hundred KiB); this only keeps a broken or hostile
 * endpoint from making the client allocate without bound. */
#define S_REPLY_MAX ((int64_t)256 << 20)

json_t *lab_control_request(const char *cmd, const char *reason)
{
    char host[256] = "unknown";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    struct passwd *pw = getpwuid(getuid());
    json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", cmd, "user", pw ? pw->pw_name : "unknown", "host", host);
    if (req && reason)
        json_object_set_new(req, "reason", json_string(reason));
    return req;
}

int lab_control_keys_load(lab_control_keys *k, const char *secret_file, const char *server_file, lab_err *err)
{
    if (lab_keys_read_secret(secret_file, k->sec, k->pub, err) < 0)
        return err->code;
    return lab_keys_read_public(server_file, k->server, err);
}

json_t *lab_control_call(const char *endpoint, json_t *req, int timeout_ms, lab_err *err)
{
    return lab_control_call_keys(endpoint, NULL, req, timeout_ms, err);
}

json_t *lab_control_call_keys(const char *endpoint, const lab_control_keys *keys, json_t *req, int timeout_ms,
                              lab_err *err)
{
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    json_t *reply = NULL;
    char *js = json_dumps(req, JSON_COMPACT);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (!s || !js) {
        lab_err_set(err, LAB_ENOMEM, "out of memory");
        goto done;
    }
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    int64_t max = S_REPLY_MAX;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (keys && lab_keys_apply_client(s, keys->server, keys->pub, keys->sec, err) < 0)
        goto done;
    if (zmq_connect(s, endpoint) != 0) {
        lab_err_from_zmq(err, "connect");
        lab_err_prefix(err, "cannot reach the control endpoint %s: ", endpoint);
        goto done;
    }
    /* A send that times out (no connection finished its handshake: nothing
     * listens, or a CURVE handshake failed) and a reply that never comes
     * mean the same to the user, and get the same hint. */
    int sent = zmq_send(s, js, strlen(js), 0) >= 0;
    if (!sent && zmq_errno() != EAGAIN) {
        lab_err_set(err, LAB_EIO, "cannot send to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto done;
    }
    /* The whole reply, whatever its size (zmq_recv into a buffer would cut it). */
    if (!sent || zmq_msg_recv(&msg, s, 0) < 0) {
        lab_err_set(err, LAB_ETIMEDOUT,
                    "no orchestrator answered at %s within %.1f s (is `labloop run` or `labloop lab` running?%s)",
                    endpoint, timeout_ms / 1000.0,
                    keys ? " Does its config list your public key, and is the server key its own?"
                         : " If its config has a security section, pass your key with --key");
        goto done;
    }
    json_error_t je;
    reply = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0, &je);
    if (!reply)
        lab_err_set(err, LAB_EPROTO, "unreadable reply from %s: %s", endpoint, je.text);
done:
    free(js);
    zmq_msg_close(&msg);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return reply;
}
