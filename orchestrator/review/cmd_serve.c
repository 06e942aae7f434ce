/* `labloop serve`: a read-only dashboard of a campaign over HTTP
 * (libmicrohttpd, LGPL-2.1+, linked dynamically), updating live while the
 * campaign runs.
 *
 * For: watching a campaign from a browser: GET / is the report's page plus a
 * small inline script that polls GET /api/summary every second; the summary
 * is JSON for anyone else too. Control actions (POST /api/control/pause,
 * resume, abort) need the token given with --token, compared in constant
 * time; they are forwarded to the campaign's control endpoint (--control,
 * default the local one) and the orchestrator's answer is passed on; every
 * action lands in the hub's audit table there. Not for: writing the hub, or serving
 * beyond a trusted network (no TLS; bind to loopback and tunnel).
 *
 * Threads: libmicrohttpd's one internal polling thread runs every request,
 * so the hub handle is used by that thread only; the main thread waits for
 * SIGINT/SIGTERM and stops the daemon.
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/clock.h"
#include "orchestrator/control_client.h"
#include "orchestrator/review/review.h"
#include "orchestrator/review/review_args.h"

#include "common/banned.h"

#define S_TOKEN_MAX 256
#define S_CONTROL_TIMEOUT_MS 3000
/* The lab view asks the lab service for live figures; a lab that does not
 * answer this soon is read from the hub instead. */
#define S_LIVE_TIMEOUT_MS 1000
#define S_SEQS_MAX 64

static const char s_usage[] =
    "usage: labloop serve HUB.db --http ADDR:PORT [--token T] [--control EP] [--key FILE --server-key FILE]\n"
    "                     [--campaign NAME]\n"
    "\n"
    "Serve a live, read-only dashboard of a campaign: the report's views, with\n"
    "counts that update every second while the campaign runs, and its approval\n"
    "queue (campaign.approve: each). A lab service's hub (several campaigns) gets a\n"
    "lab view at /: every campaign with its state, progress and weight, and every\n"
    "device with the campaign and step it serves (live from the lab's control\n"
    "endpoint when it answers, else from the hub); /?campaign=NAME is one of them.\n"
    "\n"
    "  --http ADDR:PORT  where to listen, e.g. 127.0.0.1:8080 (port 0: any free one);\n"
    "                    the URL is printed on standard output\n"
    "  --token T         allow control actions (pause, resume, abort, approve, reject)\n"
    "                    to clients that\n"
    "                    send 'Authorization: Bearer T' (or set LABLOOP_SERVE_TOKEN);\n"
    "                    without a token the dashboard is read-only\n"
    "  --control EP      the running campaign's control endpoint, where control\n"
    "                    actions go (default " LAB_CONTROL_DEFAULT_ENDPOINT ")\n"
    "  --key FILE        with a campaign that uses CURVE: the dashboard's own secret\n"
    "                    key (its .pub listed in security.clients; or LABLOOP_KEY)\n"
    "  --server-key FILE and the orchestrator's public key (or LABLOOP_SERVER_KEY)\n"
    "  --campaign NAME   this campaign (default: the lab view when the hub has several,\n"
    "                    else its campaign)\n"
    "  --help            this text\n"
    "\n"
    "Endpoints: GET / (dashboard or lab view), GET /?campaign=NAME, GET /api/summary\n"
    "[?campaign=NAME] (JSON), GET /api/lab (JSON), POST /api/control/ACTION\n"
    "[?campaign=NAME] (approve, reject: &experiment=N[,N...] [&reason=TEXT]).\n"
    "No TLS: listen on loopback and reach it through an SSH tunnel.\n"
    "\n"
    "example:\n"
    "  labloop serve build/demo/campaign.db --http 127.0.0.1:8080\n";

typedef struct s_server {
    lab_hub_query *q;            /* used by the daemon's thread only */
    const char *campaign;
    const char *db;              /* the hub's path, for the lab view's title */
    const char *control;         /* the campaign's control endpoint */
    const lab_control_keys *keys;  /* CURVE to the control endpoint, or NULL */
    char token[S_TOKEN_MAX];     /* empty: control disabled */
    size_t token_len;
} s_server;

static int s_usage_error(const char *msg, const char *arg) { return lab_review_usage_error("serve", msg, arg); }

/* Equal in time that depends only on the lengths' maximum, not on where
 * the first difference is. */
static int s_token_equal(const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na > nb ? na : nb;
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < na ? (unsigned char)a[i] : 0;
        unsigned char y = i < nb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

static enum MHD_Result s_send(struct MHD_Connection *c, unsigned status, const char *type,
                              char *body, size_t len, int owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return s_send(c, status, "text/plain; charset=utf-8", (char *)msg, strlen(msg), 0);
}

static enum MHD_Result s_json_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    return s_send(c, status, "application/json", s, strlen(s), 1);
}

static int s_count(const lab_hub_query_lab_campaign *c, void *arg)
{
    (void)c;
    ++*(int *)arg;
    return 0;
}

/* The lab service's live figures for the lab view: its campaigns reply
 * with "running" ([{campaign, attempt, step, device}]) added; NULL when it
 * does not answer (or is a single campaign's orchestrator). */
static json_t *s_live(s_server *sv)
{
    lab_err err;
    lab_err_clear(&err);
    json_t *req = lab_control_request("campaigns", NULL);
    json_t *live = req ? lab_control_call_keys(sv->control, sv->keys, req, S_LIVE_TIMEOUT_MS, &err) : NULL;
    json_decref(req);
    if (!live || !json_is_true(json_object_get(live, "ok"))) {
        json_decref(live);
        return NULL;
    }
    json_t *running = json_array();
    size_t i, k;
    json_t *camp, *r;
    json_array_foreach(json_object_get(live, "campaigns"), i, camp) {
        const char *name = json_string_value(json_object_get(camp, "name"));
        if (!name || json_integer_value(json_object_get(camp, "in_flight")) <= 0)
            continue;
        req = lab_control_request("status", NULL);
        json_object_set_new(req, "campaign", json_string(name));
        json_t *st = lab_control_call_keys(sv->control, sv->keys, req, S_LIVE_TIMEOUT_MS, &err);
        json_decref(req);
        json_array_foreach(json_object_get(st, "running"), k, r) {
            json_t *x = json_deep_copy(r);
            json_object_set_new(x, "campaign", json_string(name));
            json_array_append_new(running, x);
        }
        json_decref(st);
    }
    json_object_set_new(live, "running", running);
    return live;
}

/* GET / without a campaign on a hub of several, or GET /api/lab. */
static enum MHD_Result s_lab(s_server *sv, struct MHD_Connection *c, const char *db, int json)
{
    lab_err err;
    lab_err_clear(&err);
    json_t *live = s_live(sv);
    json_t *lab = lab_review_lab_json(sv->q, live, &err);
    json_decref(live);
    if (!lab)
        return s_json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
    char *buf = NULL;
    size_t len = 0;
    if (json) {
        buf = json_dumps(lab, JSON_COMPACT);
        len = buf ? strlen(buf) : 0;
    } else {
        FILE *f = open_memstream(&buf, &len);
        int bad = !f || lab_review_lab_html(lab, db, lab_clock_wall_us(), f) < 0;
        if (f && fclose(f) != 0)
            bad = 1;
        if (bad) {
            free(buf);
            buf = NULL;
        }
    }
    json_decref(lab);
    if (!buf)
        return s_json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return s_send(c, MHD_HTTP_OK, json ? "application/json" : "text/html; charset=utf-8", buf, len, 1);
}

static enum MHD_Result s_get(s_server *sv, struct MHD_Connection *c, const char *url)
{
    int page = strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0;
    int summary = strcmp(url, "/api/summary") == 0;
    if (strcmp(url, "/api/lab") == 0)
        return s_lab(sv, c, sv->db, 1);
    if (!page && !summary)
        return s_text(c, MHD_HTTP_NOT_FOUND, "not found: try /, /api/summary or /api/lab\n");
    const char *campaign = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "campaign");
    if (!campaign || !*campaign)
        campaign = sv->campaign;
    lab_err err;
    lab_err_clear(&err);
    int n = 0;
    if (page && !campaign && lab_hub_query_lab_campaigns(sv->q, s_count, &n, &err) == 0 && n > 1)
        return s_lab(sv, c, sv->db, 0);
    lab_err_clear(&err);
    lab_review *r = lab_review_load(sv->q, campaign, &err);
    if (!r)
        return s_json_error(c, err.code == LAB_ENOTFOUND ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                          : MHD_HTTP_INTERNAL_SERVER_ERROR,
                            err.msg);
    char *buf = NULL;
    size_t len = 0;
    if (summary) {
        json_t *j = lab_review_summary_json(r);
        buf = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        len = buf ? strlen(buf) : 0;
        json_decref(j);
    } else {
        FILE *f = open_memstream(&buf, &len);
        lab_review_html_opts o = {.live = 1, .generated_us = lab_clock_wall_us(), .control = sv->control};
        int bad = !f || lab_review_html(r, &o, f) < 0;
        if (f && fclose(f) != 0)
            bad = 1;
        if (bad) {
            free(buf);
            buf = NULL;
        }
    }
    lab_review_destroy(&r);
    if (!buf)
        return s_json_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return s_send(c, MHD_HTTP_OK, summary ? "application/json" : "text/html; charset=utf-8", buf,
                  len, 1);
}

/* ?experiment=N[,N...] into "seqs"; NULL or why not. */
static const char *s_seqs(struct MHD_Connection *c, json_t *req)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "experiment");
    if (!v || !*v)
        return "name the experiments: ?experiment=N[,N...]";
    json_t *a = json_array();
    size_t n = 0;
    while (*v) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || x < 1 || (*end && *end != ',') || ++n > S_SEQS_MAX) {
            json_decref(a);
            return "experiment must be numbers from 1, separated by commas (at most 64)";
        }
        json_array_append_new(a, json_integer(x));
        v = *end ? end + 1 : end;
    }
    json_object_set_new(req, "seqs", a);
    return NULL;
}

/* pause/resume/abort/approve/reject with a valid token go to the control
 * endpoint; its answer (or why none came) goes back to the browser. */
static enum MHD_Result s_control(s_server *sv, struct MHD_Connection *c, const char *action)
{
    int gate = strcmp(action, "approve") == 0 || strcmp(action, "reject") == 0;
    if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
        strcmp(action, "abort") != 0 && !gate)
        return s_json_error(c, MHD_HTTP_NOT_FOUND, "no such control action: use pause, resume, "
                                                   "abort, approve or reject");
    if (sv->token_len == 0)
        return s_json_error(c, MHD_HTTP_FORBIDDEN, "control actions are disabled: start "
                                                   "labloop serve with --token");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *given = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "";
    if (!s_token_equal(given, strnlen(given, S_TOKEN_MAX), sv->token, sv->token_len))
        return s_json_error(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong token: send "
                                                      "'Authorization: Bearer TOKEN'");
    const char *reason = gate ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reason") : NULL;
    json_t *req = lab_control_request(action, reason && *reason ? reason : gate ? "" : "from the dashboard");
    /* The audit names the browser behind the dashboard, not only the
     * dashboard's own key and host. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[NI_MAXHOST] = "unknown", host[256];
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr,
                    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
                    addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
    if (req) {
        snprintf(host, sizeof host, "%s (dashboard, browser %s)",
                 json_string_value(json_object_get(req, "host")), addr);
        json_object_set_new(req, "host", json_string(host));
    }
    const char *campaign = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "campaign");
    if (!campaign || !*campaign)
        campaign = sv->campaign;
    if (req && campaign)
        json_object_set_new(req, "campaign", json_string(campaign));
    const char *bad = req && gate ? s_seqs(c, req) : NULL;
    if (bad) {
        json_decref(req);
        return s_json_error(c, MHD_HTTP_BAD_REQUEST, bad);
    }
    lab_err err;
    lab_err_clear(&err);
    json_t *reply = req ? lab_control_call_keys(sv->control, sv->keys, req, S_CONTROL_TIMEOUT_MS, &err) : NULL;
    json_decref(req);
    if (!reply)
        return s_json_error(c, MHD_HTTP_BAD_GATEWAY, err.msg[0] ? err.msg : "out of memory");
    int ok = json_is_true(json_object_get(reply, "ok"));
    char *s = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    if (!s)
        return MHD_NO;
    return s_send(c, ok ? MHD_HTTP_OK : MHD_HTTP_CONFLICT, "application/json", s, strlen(s), 1);
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    (void)version;
    (void)upload_data;
    s_server *sv = cls;
    static const char s_marker = 0; /* its address marks "headers seen" */
    if (*con_cls == NULL) {
        /* First call: headers only. Answer on a later call, after the body. */
        *con_cls = (void *)&s_marker;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* bodies are ignored */
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return s_get(sv, c, url);
    if (strcmp(method, "POST") == 0 && strncmp(url, "/api/control/", 13) == 0)
        return s_control(sv, c, url + 13);
    if (strcmp(method, "POST") == 0)
        return s_text(c, MHD_HTTP_NOT_FOUND, "not found: POST /api/control/ACTION\n");
    return s_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or POST\n");
}

/* "127.0.0.1:8080", "localhost:0", "[::1]:8080" into a socket address. */
static int s_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                        lab_err *err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return lab_err_set(err, LAB_EINVAL, "--http wants ADDR:PORT such as 127.0.0.1:8080, "
                           "not '%s'", spec);
    size_t hn = (size_t)(colon - spec);
    if (spec[0] == '[' && hn >= 2 && spec[hn - 1] == ']') {
        spec++;
        hn -= 2;
    }
    if (hn >= sizeof host)
        return lab_err_set(err, LAB_EINVAL, "--http: address too long");
    memcpy(host, spec, hn);
    host[hn] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return lab_err_set(err, LAB_EINVAL, "--http: port '%s' is not 0..65535", colon + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0 || !ai)
        return lab_err_set(err, LAB_EINVAL, "--http: cannot resolve '%s': %s", host,
                           gai_strerror(rc));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int lab_cmd_serve(int argc, char **argv)
{
    const char *db = NULL, *http = NULL, *token = getenv("LABLOOP_SERVE_TOKEN");
    const char *key = getenv("LABLOOP_KEY"), *server_key = getenv("LABLOOP_SERVER_KEY");
    lab_control_keys keys;
    s_server sv = {0};
    const lab_review_opt opts[] = {
        {.name = "--http", .value = &http, .needs = "an address such as 127.0.0.1:8080"},
        {.name = "--token", .value = &token, .needs = "a token of 8 to 255 characters"},
        {.name = "--campaign", .value = &sv.campaign, .needs = "a campaign name"},
        {.name = "--control", .value = &sv.control, .needs = "the campaign's control endpoint"},
        {.name = "--key", .value = &key, .needs = "the dashboard's secret key file"},
        {.name = "--server-key", .value = &server_key, .needs = "the orchestrator's public key file"},
        {0},
    };
    int rc = lab_review_args("serve", s_usage, argc, argv, opts, &db);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!sv.control)
        sv.control = LAB_CONTROL_DEFAULT_ENDPOINT;
    if (!http)
        return s_usage_error("%s", "where to listen? give --http 127.0.0.1:8080");
    if (token && *token) {
        if (strlen(token) >= S_TOKEN_MAX || strlen(token) < 8)
            return s_usage_error("%s", "--token must be 8 to 255 characters");
        snprintf(sv.token, sizeof sv.token, "%s", token);
        sv.token_len = strlen(sv.token);
    }
    lab_err err;
    lab_err_clear(&err);
    if ((key && *key) || (server_key && *server_key)) {
        if (!key || !*key || !server_key || !*server_key)
            return s_usage_error("%s", "CURVE needs both --key (yours) and --server-key (the orchestrator's .pub)");
        if (lab_control_keys_load(&keys, key, server_key, &err) < 0) {
            fprintf(stderr, "labloop serve: %s\n", err.msg);
            return 1;
        }
        sv.keys = &keys;
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (s_parse_addr(http, &ss, &sl, &err) < 0)
        return s_usage_error("%s", err.msg);
    sv.db = db;
    sv.q = lab_hub_query_open(db, &err);
    if (!sv.q) {
        fprintf(stderr, "labloop serve: %s\n", err.msg);
        return 1;
    }
    /* Block the stop signals before the daemon's thread starts, so that it
     * inherits the mask and this thread receives them in sigwait. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, s_handle, &sv, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                         MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "labloop serve: cannot listen on %s: %s (address in use, or not an "
                        "address of this host?)\n", http, strerror(errno));
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        lab_hub_query_destroy(&sv.q);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[256];
    const char *colon = strrchr(http, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - http), http);
    printf("serving %s at http://%s:%u/ (%s; Ctrl-C stops)\n", db, host,
           info ? (unsigned)info->port : 0u,
           sv.token_len ? "control actions need the token" : "read-only");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    lab_hub_query_destroy(&sv.q);
    fprintf(stderr, "labloop serve: stopped\n");
    return 0;
}
