/* Unit tests of the hub's SQLite file layer (orchestrator/hub/hub_vfs.c),
 * which gathers a write-ahead log's appends until SQLite syncs it: on real
 * SQLite files in a fresh temp directory, read back through SQLite's own
 * file layer (as other processes read the hub), with a process killed
 * mid-transaction and writes that fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "orchestrator/hub/hub_vfs.h"

#include "common/banned.h"

typedef struct fx {
    char dir[64];
    char path[128];
} fx;

static int s_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/labloop-vfs-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx *f = *state;
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A connection through the layer (vfs 1) or SQLite's own (0), in WAL mode
 * with a sync at every commit, as the hub opens. */
static sqlite3 *s_open(const char *path, int vfs)
{
    sqlite3 *db = NULL;
    const char *name = vfs ? lab_hub_vfs_name() : NULL;
    if (vfs)
        assert_non_null(name);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, name), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                  "PRAGMA busy_timeout = 5000", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static int64_t s_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void s_expect_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* Rows k = from..to-1 of table t: k, and 1500 bytes of one letter made
 * from k. */
static int s_insert(sqlite3 *db, int from, int to)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO t (k, v) VALUES (?1, CAST(printf('%.1500c', char(65 + ?1 % 26)) AS BLOB))",
                                -1, &st, NULL);
    for (int k = from; rc == SQLITE_OK && k < to; k++) {
        sqlite3_bind_int(st, 1, k);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* What a commit wrote, read back through SQLite's own layer: every row,
 * each with its own bytes; and the log written in a few calls, not two
 * per page. */
static void test_gathered_commit_reads_back(void **state)
{
    fx *f = *state;
    sqlite3 *w = s_open(f->path, 1);
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", NULL, NULL, NULL), SQLITE_OK);
    lab_hub_vfs_stats a, b;
    lab_hub_vfs_stats_get(&a);
    assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_insert(w, 0, 3000), SQLITE_OK);    /* about 4.5 MiB: more than is gathered at once */
    assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    lab_hub_vfs_stats_get(&b);
    int64_t in = b.log_writes_in - a.log_writes_in, out = b.log_writes_out - a.log_writes_out;
    if (in < 200 || out > in / 10)
        fail_msg("the log was written in %lld calls for %lld frame writes", (long long)out, (long long)in);

    sqlite3 *r = s_open(f->path, 0);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t"), 3000);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t WHERE length(v) = 1500 AND substr(v, 1500, 1) = "
                              "CAST(char(65 + k % 26) AS BLOB) AND substr(v, 1, 1) = CAST(char(65 + k % 26) AS BLOB)"),
                     3000);
    s_expect_ok(r);
    /* and the other way: a commit made through SQLite's own layer is read
     * through this one */
    assert_int_equal(sqlite3_exec(r, "INSERT INTO t (k, v) VALUES (100000, x'00ff')", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_int(w, "SELECT count(*) FROM t"), 3001);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A transaction bigger than SQLite's page cache writes pages to the log
 * before its commit, reads them back and rewrites them as they change
 * again: all of that goes through what was gathered. */
static void test_spilled_transaction(void **state)
{
    fx *f = *state;
    sqlite3 *w = s_open(f->path, 1);
    assert_int_equal(sqlite3_exec(w, "PRAGMA cache_size = 10; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_insert(w, 0, 400), SQLITE_OK);
    for (int round = 0; round < 3; round++)
        assert_int_equal(sqlite3_exec(w, "UPDATE t SET v = CAST(printf('%.1500c', char(97 + (k + 1) % 26)) AS BLOB)"
                                      " WHERE k % 3 = 0", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_int(w, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = CAST(char(97 + (k + 1) % 26) AS BLOB)"),
                     134);
    assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3 *r = s_open(f->path, 0);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t"), 400);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = CAST(char(97 + (k + 1) % 26) AS BLOB)"),
                     134);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t WHERE k % 3 != 0 AND substr(v, 1, 1) = "
                              "CAST(char(65 + k % 26) AS BLOB)"), 266);
    s_expect_ok(r);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A transaction that spilled frames and rolled back, then another
 * connection (SQLite's own layer, as another process) restarts the log
 * and commits: nothing this connection had gathered reaches the file over
 * the other's frames, now or when it reads or closes. */
static void test_rolled_back_then_other_writer(void **state)
{
    fx *f = *state;
    sqlite3 *b = s_open(f->path, 0);
    assert_int_equal(sqlite3_exec(b, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);"
                                  "INSERT INTO t (k, v) VALUES (100000, x'00');"
                                  "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3 *a = s_open(f->path, 1);
    assert_int_equal(sqlite3_exec(a, "PRAGMA cache_size = 10; PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(a, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_insert(a, 0, 300), SQLITE_OK);     /* spills frames into the log */
    assert_int_equal(sqlite3_exec(a, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(b, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_insert(b, 1000, 1050), SQLITE_OK);
    assert_int_equal(sqlite3_exec(b, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_int(a, "SELECT count(*) FROM t"), 51);
    sqlite3_close(a);
    sqlite3_close(b);
    sqlite3 *r = s_open(f->path, 0);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t"), 51);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t WHERE k >= 1000 AND k < 1050 AND substr(v, 1, 1) = "
                              "CAST(char(65 + k % 26) AS BLOB)"), 50);
    s_expect_ok(r);
    sqlite3_close(r);
}

/* A process killed in the middle of a transaction, with frames of it
 * gathered: every commit that returned is in the file, nothing of the
 * transaction is, and the file is sound. */
static void test_killed_mid_transaction(void **state)
{
    fx *f = *state;
    sqlite3 *w = s_open(f->path, 1);
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(w);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        sqlite3 *c = s_open(f->path, 1);
        sqlite3_exec(c, "PRAGMA cache_size = 10", NULL, NULL, NULL);
        for (int txn = 0; txn < 5; txn++) {
            if (sqlite3_exec(c, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || s_insert(c, txn * 50, txn * 50 + 50) != SQLITE_OK ||
                sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                _exit(3);
            char b = 'c';
            if (write(fds[1], &b, 1) != 1)
                _exit(4);
        }
        /* a sixth, big enough to spill frames, never committed */
        if (sqlite3_exec(c, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || s_insert(c, 1000, 1400) != SQLITE_OK)
            _exit(5);
        char b = 'k';
        if (write(fds[1], &b, 1) != 1)
            _exit(4);
        pause();
        _exit(6);
    }
    close(fds[1]);
    char buf[8];
    int got = 0;
    while (got < 6) {
        ssize_t n = read(fds[0], buf, 1);
        if (n <= 0)
            break;
        got++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    assert_int_equal(got, 6);
    assert_true(WIFSIGNALED(status));
    sqlite3 *r = s_open(f->path, 0);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t"), 250);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t WHERE k >= 1000"), 0);
    s_expect_ok(r);
    sqlite3_close(r);
}

/* Writes that fail when the gathered frames go to the file (the file may
 * not grow): the commit fails, and the file keeps what it had. */
static void test_failed_write_fails_the_commit(void **state)
{
    fx *f = *state;
    sqlite3 *w = s_open(f->path, 1);
    assert_int_equal(sqlite3_exec(w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(s_insert(w, 0, 10), SQLITE_OK);
    sqlite3_close(w);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {256 * 1024, 256 * 1024};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        sqlite3 *c = s_open(f->path, 1);
        int rc = sqlite3_exec(c, "BEGIN", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = s_insert(c, 100, 600);               /* about 750 KiB */
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c, "COMMIT", NULL, NULL, NULL);
        _exit(rc == SQLITE_OK ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);             /* refused, not 0 (kept) or a crash */
    sqlite3 *r = s_open(f->path, 0);
    assert_int_equal(s_int(r, "SELECT count(*) FROM t"), 10);
    s_expect_ok(r);
    sqlite3_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gathered_commit_reads_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spilled_transaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_then_other_writer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_killed_mid_transaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_the_commit, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
