/* Unit tests of the webhooks (orchestrator/notify.c): event names, URL
 * checks, the config section, which orchestrator events make which
 * notification, the bounded queue dropping its oldest, and the end
 * notification delivered by destroy to a receiver on loopback.
 * Not for: a whole campaign (tests/integration/test_notify.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "orchestrator/config.h"
#include "orchestrator/notify.h"

#include "common/banned.h"

static void test_kinds(void **state)
{
    (void)state;
    for (int k = 0; k < LAB_NOTIFY_N_KINDS; k++)
        assert_int_equal(lab_notify_kind_parse(lab_notify_kind_name(k)), k);
    assert_int_equal(lab_notify_kind_parse("device.lost"), LAB_NOTIFY_DEVICE_LOST);
    assert_int_equal(lab_notify_kind_parse("brak"), -1);
    assert_int_equal(lab_notify_kind_parse(NULL), -1);
    assert_null(lab_notify_kind_name(LAB_NOTIFY_N_KINDS));
    assert_null(lab_notify_kind_name(-1));
}

static void test_urls(void **state)
{
    (void)state;
    char why[160];
    const char *good[] = {"http://127.0.0.1:8080/hook", "https://hooks.example.org/x?y=1", "http://[::1]:9/a"};
    const char *bad[] = {"ftp://127.0.0.1/x", "http://", "http://exa mple/x", "hook", "http://a\nb", "mailto:x@y",
                         "https://:80/x", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(lab_notify_url_check(good[i], why, sizeof why), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_not_equal(lab_notify_url_check(bad[i], why, sizeof why), 0);
        assert_true(why[0] != '\0');
    }
}

static const char s_campaign[] =
    "campaign: {name: t, budget: {experiments: 3}}\n"
    "space:\n"
    "  - {name: x, type: real, low: 0, high: 1}\n"
    "objectives:\n"
    "  - {name: y, goal: maximize, from: m.v}\n"
    "workflow:\n"
    "  - {step: m, capability: c}\n"
    "devices:\n"
    "  - {name: d, capabilities: [c]}\n"
    "notify:\n"
    "  - {url: \"http://127.0.0.1:1/a\"}\n"
    "  - {url: \"https://h.example/b\", events: [end, estop], timeout: 250ms, retries: 0, backoff: 2s, queue: 3,"
    " secret: keys/hook.secret}\n"
    "  - {url: \"http://127.0.0.1:2/c\", events: device.lost}\n";

static void test_config(void **state)
{
    (void)state;
    lab_err err = {0};
    lab_campaign_cfg *cfg = lab_config_load_string("/lab/c.yaml", s_campaign, sizeof s_campaign - 1, NULL, &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->n_notify, 3);
    const lab_cfg_notify *a = &cfg->notify[0], *b = &cfg->notify[1], *c = &cfg->notify[2];
    assert_string_equal(a->url, "http://127.0.0.1:1/a");
    assert_int_equal(a->events, LAB_NOTIFY_ALL);
    assert_true(a->timeout_s == 5.0 && a->backoff_s == 1.0);
    assert_int_equal(a->retries, 5);
    assert_int_equal(a->queue, 1000);
    assert_null(a->secret_path);
    assert_int_equal(b->events, (1u << LAB_NOTIFY_END) | (1u << LAB_NOTIFY_ESTOP));
    assert_true(b->timeout_s == 0.25 && b->backoff_s == 2.0);
    assert_int_equal(b->retries, 0);
    assert_int_equal(b->queue, 3);
    assert_string_equal(b->secret_path, "/lab/keys/hook.secret");
    assert_int_equal(c->events, 1u << LAB_NOTIFY_DEVICE_LOST);
    lab_config_destroy(&cfg);
}

/* A webhook that refuses connections and waits long between attempts:
 * what is queued stays queued, so the counts show what was mapped. */
static lab_campaign_cfg s_cfg;
static lab_cfg_notify s_hook;

static void s_refusing(int queue)
{
    memset(&s_cfg, 0, sizeof s_cfg);
    memset(&s_hook, 0, sizeof s_hook);
    s_hook.url = "http://127.0.0.1:1/nobody";
    s_hook.events = LAB_NOTIFY_ALL;
    s_hook.timeout_s = 0.3;
    s_hook.retries = 100;
    s_hook.backoff_s = 600;
    s_hook.queue = queue;
    s_cfg.name = "t";
    s_cfg.notify = &s_hook;
    s_cfg.n_notify = 1;
}

static json_int_t s_count(lab_notify *n, const char *what)
{
    json_t *j = lab_notify_status(n);
    json_int_t v = json_integer_value(json_object_get(j, what));
    json_decref(j);
    return v;
}

static void s_status_event(lab_notify *n, const char *status)
{
    json_t *d = json_pack("{s:s}", "status", status);
    lab_notify_event(n, LAB_EV_CAMPAIGN_STATUS, "t", d, lab_clock_wall_us());
    json_decref(d);
}

static void test_mapping(void **state)
{
    (void)state;
    s_refusing(1000);
    lab_err err = {0};
    lab_notify *n = lab_notify_new(&s_cfg, "lab", NULL, NULL, &err);
    assert_non_null(n);
    int64_t now = lab_clock_wall_us();
    json_t *d = json_pack("{s:s, s:s}", "device", "ot2", "reason", "silent");
    s_status_event(n, "running");                                  /* nothing */
    s_status_event(n, "paused");                                   /* pause */
    s_status_event(n, "running");
    lab_notify_event(n, LAB_EV_CAMPAIGN_ESTOP, "t", NULL, now);         /* estop */
    s_status_event(n, "halted");
    s_status_event(n, "paused");                                   /* clear-estop: nothing */
    lab_notify_event(n, LAB_EV_CAMPAIGN_BRAKED, "t", NULL, now);        /* brake */
    lab_notify_event(n, LAB_EV_DEVICE_LOST, "ot2", d, now);             /* device.lost */
    lab_notify_event(n, LAB_EV_DEVICE_READY, "ot2", d, now);            /* nothing */
    lab_notify_event(n, LAB_EV_STEP_DONE, "t/1/m/1", NULL, now);        /* nothing */
    s_status_event(n, "completed");                                /* end */
    json_decref(d);
    assert_int_equal(s_count(n, "pending") + s_count(n, "failed") + s_count(n, "sent"), 5);
    assert_int_equal(s_count(n, "webhooks"), 1);
    lab_notify_destroy(&n);
    assert_null(n);
    lab_notify_destroy(&n);                                        /* NULL-safe */
}

static void test_overflow(void **state)
{
    (void)state;
    s_refusing(2);
    lab_err err = {0};
    lab_notify *n = lab_notify_new(&s_cfg, "lab", NULL, NULL, &err);
    assert_non_null(n);
    for (int i = 0; i < 5; i++)
        lab_notify_event(n, LAB_EV_CAMPAIGN_ESTOP, "t", NULL, lab_clock_wall_us());
    assert_int_equal(s_count(n, "dropped"), 3);
    assert_int_equal(s_count(n, "pending"), 2);
    int64_t t0 = lab_clock_mono_us();
    lab_notify_destroy(&n);
    /* Bounded: the webhook's timeout (0.3 s), with room for a loaded machine. */
    assert_true(lab_clock_mono_us() - t0 < 30 * 1000000LL);
}

/* A one-request HTTP receiver on loopback. */
typedef struct {
    int fd;
    char req[16384];
    size_t len;
} s_server;

static void *s_serve(void *arg)
{
    s_server *s = arg;
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, 30000) != 1)
        return NULL;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    /* Read the headers, then Content-Length bytes of body. */
    size_t want = (size_t)-1;
    while (s->len < sizeof s->req - 1 && s->len < want) {
        p.fd = c;
        if (poll(&p, 1, 30000) != 1)
            break;
        ssize_t r = read(c, s->req + s->len, sizeof s->req - 1 - s->len);
        if (r <= 0)
            break;
        s->len += (size_t)r;
        s->req[s->len] = '\0';
        char *end = strstr(s->req, "\r\n\r\n");
        char *cl = strcasestr(s->req, "Content-Length:");
        if (end && cl)
            want = (size_t)(end + 4 - s->req) + strtoul(cl + 15, NULL, 10);
    }
    const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(c, ok, sizeof ok - 1) < 0)
        s->len = 0;
    close(c);
    return NULL;
}

static json_t *s_summary(void *arg)
{
    return json_pack("{s:I}", "budget", (json_int_t)*(int *)arg);
}

static void test_end_delivered_by_destroy(void **state)
{
    (void)state;
    static s_server srv;
    memset(&srv, 0, sizeof srv);
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(srv.fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(srv.fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv.fd, 4), 0);
    assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&a, &al), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_serve, &srv), 0);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(a.sin_port));
    s_refusing(10);
    s_hook.url = url;
    s_hook.events = 1u << LAB_NOTIFY_END;
    s_hook.timeout_s = 20;
    s_hook.retries = 0;
    int budget = 7;
    lab_err err = {0};
    lab_notify *n = lab_notify_new(&s_cfg, "lab-1", s_summary, &budget, &err);
    assert_non_null(n);
    s_status_event(n, "paused");                                   /* not asked for */
    json_t *d = json_pack("{s:s, s:s}", "status", "completed", "reason", "budget spent");
    lab_notify_event(n, LAB_EV_CAMPAIGN_STATUS, "t", d, 1700000000123456LL);
    json_decref(d);
    lab_notify_destroy(&n);                                        /* waits for the delivery */
    pthread_join(th, NULL);
    close(srv.fd);

    assert_non_null(strstr(srv.req, "POST /hook HTTP/1.1\r\n"));
    assert_non_null(strcasestr(srv.req, "\r\nX-Labloop-Event: end\r\n"));
    assert_non_null(strcasestr(srv.req, "\r\nContent-Type: application/json\r\n"));
    assert_null(strcasestr(srv.req, "X-Labloop-Signature"));
    char *body = strstr(srv.req, "\r\n\r\n");
    assert_non_null(body);
    json_error_t je;
    json_t *b = json_loads(body + 4, 0, &je);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "event")), "end");
    assert_string_equal(json_string_value(json_object_get(b, "lab")), "lab-1");
    assert_string_equal(json_string_value(json_object_get(b, "campaign")), "t");
    assert_string_equal(json_string_value(json_object_get(b, "status")), "completed");
    assert_string_equal(json_string_value(json_object_get(b, "reason")), "budget spent");
    assert_string_equal(json_string_value(json_object_get(b, "time")), "2023-11-14T22:13:20.123Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "summary"), "budget")), 7);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_end_delivered_by_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
