/* `labloop bench echo`: the reference that `bench dispatch` is measured
 * against. W client processes each keep one request in flight to a ROUTER
 * that does nothing but answer (no protocol, no scheduling, no planner), so
 * its round trips per second are this machine's ceiling for one-in-flight
 * dispatch over ZeroMQ on loopback. With --rows R the ROUTER also writes R
 * small rows per request to an SQLite file (WAL, synchronous=FULL) and
 * commits each drained batch before it answers: the ceiling once every
 * result must be durable before it is acknowledged, as labloop's hub does.
 * Not for: labloop's own path (`bench dispatch`), tests.
 */
#include "orchestrator/cli/commands.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/banned.h"

#define S_PAYLOAD 100     /* bytes per request and reply, about a StepRequest */
#define S_MAX_BATCH 1024  /* requests drained before one commit and the replies */
#define S_ID_MAX 32

static double s_cpu_us(const struct rusage *r)
{
    return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 + (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec);
}

/* One client process: read the endpoint from the pipe, then `n` blocking
 * round trips. Runs in a child forked before the parent made any ZeroMQ
 * context; exits, never returns. */
static void s_client(int rfd, long n)
{
    char ep[256] = {0};
    ssize_t got = read(rfd, ep, sizeof ep);
    close(rfd);
    if (got != (ssize_t)sizeof ep)
        _exit(1);
    ep[sizeof ep - 1] = '\0';
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (!s || zmq_connect(s, ep) != 0)
        _exit(1);
    char buf[S_PAYLOAD];
    memset(buf, 'x', sizeof buf);
    for (long i = 0; i < n; i++)
        if (zmq_send(s, buf, sizeof buf, 0) < 0 || zmq_recv(s, buf, sizeof buf, 0) < 0)
            _exit(1);
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

typedef struct s_store {
    sqlite3 *db;
    sqlite3_stmt *ins;
    int rows;
} s_store;

static int s_store_open(s_store *st, const char *path, int rows)
{
    st->rows = rows;
    if (!rows)
        return 0;
    if (sqlite3_open(path, &st->db) != SQLITE_OK ||
        sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE rows(id INTEGER PRIMARY KEY, client BLOB, body BLOB, k INTEGER);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "INSERT INTO rows(client, body, k) VALUES (?, ?, ?)", -1, &st->ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "labloop bench echo: %s: %s\n", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        return -1;
    }
    return 0;
}

/* The batch's rows, then one commit: durable before any reply goes out. */
static int s_store_batch(s_store *st, char ids[][S_ID_MAX], const int *id_len, int n, const char *body, int body_len)
{
    if (!st->rows || !n)
        return 0;
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < st->rows; k++) {
            sqlite3_bind_blob(st->ins, 1, ids[i], id_len[i], SQLITE_STATIC);
            sqlite3_bind_blob(st->ins, 2, body, body_len, SQLITE_STATIC);
            sqlite3_bind_int(st->ins, 3, k);
            int rc = sqlite3_step(st->ins);
            sqlite3_reset(st->ins);
            if (rc != SQLITE_DONE)
                goto fail;
        }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
fail:
    fprintf(stderr, "labloop bench echo: sqlite: %s\n", sqlite3_errmsg(st->db));
    return -1;
}

static void s_store_close(s_store *st)
{
    sqlite3_finalize(st->ins);
    sqlite3_close(st->db);
}

/* The ROUTER: drain what has come in, store it, answer it; until every
 * client has made its round trips. Returns the seconds from the first
 * request to the last reply, or -1. */
static double s_router(void *r, long total, s_store *st)
{
    static char ids[S_MAX_BATCH][S_ID_MAX];
    static int id_len[S_MAX_BATCH];
    char body[S_PAYLOAD];
    int body_len = 0;
    double t0 = 0;
    for (long done = 0; done < total;) {
        zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 10000) <= 0) {
            fprintf(stderr, "labloop bench echo: no request for 10 s (%ld of %ld answered)\n", done, total);
            return -1;
        }
        int n = 0;
        while (n < S_MAX_BATCH) {
            int l = zmq_recv(r, ids[n], S_ID_MAX, ZMQ_DONTWAIT);
            if (l < 0)
                break;
            id_len[n] = l < S_ID_MAX ? l : S_ID_MAX;
            body_len = zmq_recv(r, body, sizeof body, 0);
            if (body_len < 0)
                return -1;
            if (body_len > (int)sizeof body)
                body_len = (int)sizeof body;
            n++;
        }
        if (!t0)
            t0 = (double)lab_clock_mono_us() / 1e6;
        if (s_store_batch(st, ids, id_len, n, body, body_len) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (zmq_send(r, ids[i], (size_t)id_len[i], ZMQ_SNDMORE) < 0 || zmq_send(r, body, (size_t)body_len, 0) < 0)
                return -1;
        done += n;
    }
    return (double)lab_clock_mono_us() / 1e6 - t0;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: labloop bench echo [--workers W] [--round-trips N] [--rows R] [--json]\n\n"
            "The ceiling that `bench dispatch` is measured against: W client processes\n"
            "(default 32), one %d-byte request in flight each, to a ZeroMQ ROUTER on\n"
            "loopback that only answers. With --rows R it also writes R rows per request\n"
            "to an SQLite file (WAL, synchronous=FULL) and commits each batch before it\n"
            "answers. Prints round trips per second and the CPU per round trip.\n\n"
            "example:\n  labloop bench echo --workers 32 --round-trips 100000 --rows 10 --json\n",
            S_PAYLOAD);
}

int lab_bench_echo(int argc, char **argv)
{
    int workers = 32, rows = 0, json = 0;
    long total = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            workers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--round-trips") && i + 1 < argc) {
            total = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
            rows = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            s_usage(help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (workers < 1 || workers > 256 || rows < 0 || rows > 100 || total < workers) {
        fprintf(stderr, "labloop bench echo: --workers must be 1..256, --rows 0..100, --round-trips at least W\n");
        return 2;
    }
    long per = total / workers;
    total = per * workers;

    char dir[] = "/tmp/labloop-echo-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "labloop bench echo: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/echo.db", dir);

    /* The clients are forked before this process makes its ZeroMQ context
     * (a context must not cross fork); they wait for the endpoint on a pipe. */
    int pfd[2];
    if (pipe(pfd) != 0) {
        fprintf(stderr, "labloop bench echo: pipe: %s\n", strerror(errno));
        rmdir(dir);
        return 1;
    }
    pid_t *pids = calloc((size_t)workers, sizeof *pids);
    int started = 0, rc = 1;
    if (!pids)
        fprintf(stderr, "labloop bench echo: out of memory\n");
    fflush(NULL);
    for (; pids && started < workers; started++) {
        pid_t p = fork();
        if (p == 0) {
            close(pfd[1]);
            s_client(pfd[0], per);
        }
        if (p < 0) {
            fprintf(stderr, "labloop bench echo: fork: %s\n", strerror(errno));
            break;
        }
        pids[started] = p;
    }
    close(pfd[0]);

    struct rusage self0, self1, kids1;
    s_store st = {0};
    void *ctx = zmq_ctx_new();
    void *r = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    char ep[256] = {0};
    size_t ep_len = sizeof ep - 1;
    int hwm = 0;
    double secs = -1;
    if (started < workers || !r || zmq_setsockopt(r, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_bind(r, "tcp://127.0.0.1:*") != 0 || zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, ep, &ep_len) != 0) {
        if (started == workers)
            fprintf(stderr, "labloop bench echo: cannot bind a ROUTER on loopback: %s\n", zmq_strerror(zmq_errno()));
    } else if (s_store_open(&st, path, rows) == 0) {
        fprintf(stderr, "bench echo: %d client processes, %ld round trips, %d rows per round trip...\n", workers, total, rows);
        for (int i = 0; i < workers; i++)
            if (write(pfd[1], ep, sizeof ep) != (ssize_t)sizeof ep)
                break;
        getrusage(RUSAGE_SELF, &self0);
        secs = s_router(r, total, &st);
        getrusage(RUSAGE_SELF, &self1);
    }
    close(pfd[1]);   /* a client still waiting for the endpoint reads EOF and exits */
    int clients_ok = 1;
    for (int i = 0; i < started; i++) {
        int status = 0;
        if (secs < 0)
            kill(pids[i], SIGKILL);
        if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            clients_ok = 0;
    }
    getrusage(RUSAGE_CHILDREN, &kids1);
    if (secs > 0 && clients_ok) {
        double rate = (double)total / secs;
        printf("echo: %d client processes, 1 request in flight each, %d rows committed per round trip: %.0f round trips/s"
               " (%ld in %.2f s; CPU per round trip: router %.0f us, clients %.0f us, their start and stop included)\n",
               workers, rows, rate, total, secs, (s_cpu_us(&self1) - s_cpu_us(&self0)) / (double)total,
               s_cpu_us(&kids1) / (double)total);
        if (json)
            printf("{\"workers\":%d,\"rows\":%d,\"round_trips\":%ld,\"rt_per_s\":%.0f}\n", workers, rows, total, rate);
        rc = 0;
    } else if (secs > 0) {
        fprintf(stderr, "labloop bench echo: a client process failed\n");
    }
    if (r)
        zmq_close(r);
    if (ctx)
        zmq_ctx_term(ctx);
    if (st.db)
        s_store_close(&st);
    free(pids);
    unlink(path);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
    return rc;
}
