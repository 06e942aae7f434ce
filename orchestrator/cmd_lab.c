/* `labloop submit CAMPAIGN.yaml --endpoint EP`: hand a campaign to a lab
 * service (`labloop lab`, cmd_run.c).
 * Not for: what the lab does with it (orch.c, control.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "orchestrator/commands.h"
#include "orchestrator/control_client.h"
#include "orchestrator/control_req.h"
#include "common/banned.h"

#define S_REPLY_TIMEOUT_MS 30000

static void s_submit_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop submit CAMPAIGN.yaml --endpoint EP [--weight W]\n"
            "                      [--key YOU.key --server-key LAB.pub]\n"
            "\n"
            "Hand a campaign to a running lab service (labloop lab). The lab checks it\n"
            "against its own devices (every step's capability must be offered by one\n"
            "of them), records it in the lab's hub and starts it at once. The\n"
            "campaign's own devices, endpoints, heartbeat, hub, security and notify\n"
            "sections, if any, are ignored (the lab's apply); the reply says which.\n"            "When the lab already runs lab.max_campaigns campaigns, the campaign is\n"
            "recorded and waits as queued; it starts by itself, first in first out,\n"
            "when one of them ends. A campaign whose config asks for a device\n"
            "exclusively (campaign.exclusive) that another campaign of the lab holds\n"
            "is refused.\n"
            "A free device slot goes to the campaign furthest below its weighted\n"
            "share, so a campaign of weight 2 gets about twice the device time of one\n"
            "of weight 1 while both are running. With CURVE the key must have the\n"
            "operator role. The config may be at most 1 MiB.\n"
            "\n"
            "  --endpoint EP     the lab's control endpoint (endpoints.control of LAB.yaml)\n"
            "  --weight W        its share of the lab's devices, above 0, at most 1000 (default 1)\n"
            "  --key, --server-key  CURVE: your secret key and the lab's public key\n"
            "\n"
            "example:\n"
            "  labloop submit examples/demo-campaign.yaml --endpoint tcp://127.0.0.1:5561 --weight 2\n");
}

/* The whole file, NUL-terminated; NULL with errno set. */
static char *s_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 2);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (n > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int lab_cmd_submit(int argc, char **argv)
{
    const char *path = NULL, *endpoint = NULL, *key = getenv("LABLOOP_KEY"), *server_key = NULL;
    double weight = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_submit_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--endpoint") && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (!strcmp(argv[i], "--weight") && i + 1 < argc) {
            char *end;
            weight = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(weight > 0) || weight > LAB_CONTROL_MAX_WEIGHT) {
                fprintf(stderr, "labloop submit: --weight must be a number above 0 and at most %g, got '%s'\n",
                        LAB_CONTROL_MAX_WEIGHT, argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
            key = argv[++i];
        } else if (!strcmp(argv[i], "--server-key") && i + 1 < argc) {
            server_key = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "labloop submit: unexpected argument '%s'\n\n", argv[i]);
            s_submit_usage(stderr);
            return 2;
        }
    }
    if (!path || !endpoint) {
        if (path)
            fprintf(stderr, "labloop submit: give the lab's control endpoint with --endpoint EP\n\n");
        s_submit_usage(stderr);
        return 2;
    }
    /* A submitted campaign must read as one, lab sections aside: checked
     * here first so that its mistakes show with file:line:col at once. */
    size_t len = 0;
    char *text = s_read(path, LAB_CONTROL_SUBMIT_MAX - 4096, &len);
    if (!text) {
        fprintf(stderr, "labloop submit: %s: %s\n", path,
                errno == EFBIG ? "larger than a lab takes (about 1 MiB)" : strerror(errno));
        return 1;
    }
    lab_control_keys keys;
    const lab_control_keys *kp = NULL;
    if (key || server_key) {
        lab_err err = {0};
        if (!key || !server_key) {
            fprintf(stderr, "labloop submit: %s\n",
                    key ? "the lab's public key is needed too: --server-key LAB.pub"
                        : "give your key with --key YOU.key (or LABLOOP_KEY)");
            free(text);
            return 1;
        }
        if (lab_control_keys_load(&keys, key, server_key, &err) < 0) {
            fprintf(stderr, "labloop submit: %s\n", err.msg);
            free(text);
            return 1;
        }
        kp = &keys;
    }
    char abs[4096];
    if (!realpath(path, abs))
        snprintf(abs, sizeof abs, "%s", path);
    json_t *req = lab_control_request("submit", NULL);
    json_object_set_new(req, "config", json_stringn(text, len));
    json_object_set_new(req, "path", json_string(abs));
    json_object_set_new(req, "weight", json_real(weight));
    free(text);
    if (!json_is_string(json_object_get(req, "config"))) {
        fprintf(stderr, "labloop submit: %s is not UTF-8 text\n", path);
        json_decref(req);
        return 1;
    }
    lab_err err = {0};
    json_t *reply = lab_control_call_keys(endpoint, kp, req, S_REPLY_TIMEOUT_MS, &err);
    json_decref(req);
    if (kp)
        explicit_bzero(&keys, sizeof keys);
    if (!reply) {
        fprintf(stderr, "labloop submit: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (!json_is_true(json_object_get(reply, "ok"))) {
        fprintf(stderr, "labloop submit: %s\n", json_string_value(json_object_get(reply, "error")));
        rc = 1;
    } else {
        printf("submit: campaign %s is %s in lab %s (weight %g, budget %lld experiments)\n",
               json_string_value(json_object_get(reply, "campaign")),
               json_string_value(json_object_get(reply, "status")),
               json_string_value(json_object_get(reply, "lab")),
               json_number_value(json_object_get(reply, "weight")),
               json_integer_value(json_object_get(reply, "budget")));
        if (json_is_string(json_object_get(reply, "notes")))
            printf("note: %s\n", json_string_value(json_object_get(reply, "notes")));
    }
    json_decref(reply);
    return rc;
}
