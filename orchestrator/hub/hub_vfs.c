/* The hub's SQLite file layer (see hub_vfs.h): SQLite's default file layer
 * with a write-ahead log's appends gathered until its sync. */
#include "orchestrator/hub/hub_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define S_VFS_NAME "labloop"
/* Gathered bytes beyond this are written at once (a commit's frames are
 * usually far fewer: 27 results took about 40 pages). */
#define S_GATHER_MAX (4u << 20)
#define S_WRITE_MAX (64u << 10)

typedef struct s_file {
    sqlite3_file base;           /* pMethods: s_io (a log), else s_io_pass or s_io_pass1 */
    sqlite3_file *real;          /* the default layer's file, right after this struct */
    unsigned char *buf;          /* a log's gathered appends ... */
    size_t len, cap;
    sqlite3_int64 off;           /* ... which belong at this offset */
    /* A database file and its log, opened by the same connection: */
    const char *wal_name;        /* a database's: the name SQLite opens its log with */
    struct s_file *wal;          /* a database's open log */
    struct s_file *db;           /* a log's database */
    struct s_file *next;         /* open databases (s_dbs) */
} s_file;

static sqlite3_vfs s_vfs;
static sqlite3_vfs *s_base;
static int s_ok;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static _Atomic int64_t s_writes_in, s_writes_out;
static pthread_mutex_t s_dbs_lock = PTHREAD_MUTEX_INITIALIZER;
static s_file *s_dbs;            /* open databases, for their logs to find them */

/* Write what was gathered; SQLITE_OK or the write's error. In pieces of at
 * most S_WRITE_MAX: the default layer takes less than 128 KiB per write. */
static int s_flush(s_file *f)
{
    int rc = SQLITE_OK;
    for (size_t done = 0; rc == SQLITE_OK && done < f->len;) {
        size_t n = f->len - done < S_WRITE_MAX ? f->len - done : S_WRITE_MAX;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
        atomic_fetch_add(&s_writes_out, 1);
        done += n;
    }
    f->len = 0;
    return rc;
}

static int s_close(sqlite3_file *p)
{
    s_file *f = (s_file *)p;
    pthread_mutex_lock(&s_dbs_lock);
    if (f->db)
        f->db->wal = NULL;
    for (s_file **q = &s_dbs; *q; q = &(*q)->next)
        if (*q == f) {
            *q = f->next;
            break;
        }
    pthread_mutex_unlock(&s_dbs_lock);
    int rc = s_flush(f);
    int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int s_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 off)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

/* A write at the end of what was gathered (or of nothing) is gathered;
 * any other (SQLite rewrites a frame of its transaction when the page
 * changes again) writes the gathered bytes first, so the file sees the
 * writes in their order. */
static int s_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 off)
{
    s_file *f = (s_file *)p;
    atomic_fetch_add(&s_writes_in, 1);
    size_t n = (size_t)amt;
    if (f->len == 0 || off != f->off + (sqlite3_int64)f->len) {
        int rc = s_flush(f);
        if (rc != SQLITE_OK)
            return rc;
        f->off = off;
    }
    if (f->len + n > S_GATHER_MAX) {
        int rc = s_flush(f);
        if (rc != SQLITE_OK)
            return rc;
        atomic_fetch_add(&s_writes_out, 1);
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 64 * 1024;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *b = realloc(f->buf, cap);
        if (!b) {                 /* no room to gather: write it as it comes */
            int rc = s_flush(f);
            atomic_fetch_add(&s_writes_out, 1);
            return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, data, amt, off);
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return SQLITE_OK;
}

static int s_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int s_sync(sqlite3_file *p, int flags)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int s_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int s_lock(sqlite3_file *p, int level)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xLock(f->real, level);
}

static int s_unlock(sqlite3_file *p, int level)
{
    s_file *f = (s_file *)p;
    int rc = s_flush(f);
    int rc2 = f->real->pMethods->xUnlock(f->real, level);
    return rc != SQLITE_OK ? rc : rc2;
}

/* The rest is the default layer's. */
#define S_REAL(p) (((s_file *)(p))->real)
static int s_check_reserved(sqlite3_file *p, int *out)
{
    return S_REAL(p)->pMethods->xCheckReservedLock(S_REAL(p), out);
}
static int s_file_control(sqlite3_file *p, int op, void *arg)
{
    return S_REAL(p)->pMethods->xFileControl(S_REAL(p), op, arg);
}
static int s_sector_size(sqlite3_file *p)
{
    return S_REAL(p)->pMethods->xSectorSize(S_REAL(p));
}
static int s_device_chars(sqlite3_file *p)
{
    return S_REAL(p)->pMethods->xDeviceCharacteristics(S_REAL(p));
}
static int s_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
    return S_REAL(p)->pMethods->xShmMap(S_REAL(p), pg, pgsz, extend, out);
}
/* A database's lock slots. Slot 0 is the log's write lock: before it is
 * released, the log gets what this connection gathered. With every commit
 * synced that is only ever a rolled-back transaction's frames, which
 * SQLite itself would have written already and which the next writer
 * overwrites; but they must not reach the file after another connection
 * has written the log. (A failed write of them changes nothing: they are
 * past the log's last commit.) */
static int s_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
    s_file *f = (s_file *)p;
    if ((flags & SQLITE_SHM_UNLOCK) && offset == 0 && f->wal)
        (void)s_flush(f->wal);
    return S_REAL(p)->pMethods->xShmLock(S_REAL(p), offset, n, flags);
}
static void s_shm_barrier(sqlite3_file *p)
{
    S_REAL(p)->pMethods->xShmBarrier(S_REAL(p));
}
static int s_shm_unmap(sqlite3_file *p, int delete_flag)
{
    return S_REAL(p)->pMethods->xShmUnmap(S_REAL(p), delete_flag);
}
static int s_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
    return S_REAL(p)->pMethods->xFetch(S_REAL(p), off, amt, out);
}
static int s_unfetch(sqlite3_file *p, sqlite3_int64 off, void *page)
{
    return S_REAL(p)->pMethods->xUnfetch(S_REAL(p), off, page);
}

/* For a log: gathering. */
static const sqlite3_io_methods s_io = {
    3, s_close, s_read, s_write, s_truncate, s_sync, s_file_size, s_lock, s_unlock, s_check_reserved,
    s_file_control, s_sector_size, s_device_chars, s_shm_map, s_shm_lock, s_shm_barrier, s_shm_unmap,
    s_fetch, s_unfetch,
};

/* Every other file: the same, but writes go straight through (so nothing
 * is ever gathered and the other methods only forward); s_io_pass1 for a
 * file without shared memory or mapping underneath (version 1 methods). */
static int s_write_through(sqlite3_file *p, const void *data, int amt, sqlite3_int64 off)
{
    return S_REAL(p)->pMethods->xWrite(S_REAL(p), data, amt, off);
}
static sqlite3_io_methods s_io_pass, s_io_pass1;

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    s_file *f = (s_file *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = s_base->xOpen(s_base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || !f->real->pMethods) {
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    const sqlite3_io_methods *m = f->real->pMethods;
    f->base.pMethods = m->iVersion >= 3 && m->xShmMap && m->xFetch ? &s_io_pass : &s_io_pass1;
    pthread_mutex_lock(&s_dbs_lock);
    if (flags & SQLITE_OPEN_MAIN_DB) {
        f->wal_name = sqlite3_filename_wal(name);
        f->next = s_dbs;
        s_dbs = f;
    } else if (flags & SQLITE_OPEN_WAL) {
        /* Its database is the one whose log name is this very name (SQLite
         * opens the log with the string sqlite3_filename_wal gives); a log
         * without one is not gathered, as nothing would write it before
         * the write lock goes. */
        for (s_file *d = s_dbs; d; d = d->next)
            if (d->wal_name && d->wal_name == name && !d->wal) {
                d->wal = f;
                f->db = d;
                f->base.pMethods = &s_io;
                break;
            }
    }
    pthread_mutex_unlock(&s_dbs_lock);
    return SQLITE_OK;
}

static void s_register(void)
{
    s_base = sqlite3_vfs_find(NULL);
    if (!s_base || s_base->iVersion < 1)
        return;
    s_io_pass = s_io;
    s_io_pass.xWrite = s_write_through;
    s_io_pass1 = s_io_pass;
    s_io_pass1.iVersion = 1;
    s_io_pass1.xShmMap = NULL;
    s_io_pass1.xShmLock = NULL;
    s_io_pass1.xShmBarrier = NULL;
    s_io_pass1.xShmUnmap = NULL;
    s_io_pass1.xFetch = NULL;
    s_io_pass1.xUnfetch = NULL;
    s_vfs = *s_base;
    s_vfs.pNext = NULL;
    s_vfs.zName = S_VFS_NAME;
    s_vfs.szOsFile = (int)sizeof(s_file) + s_base->szOsFile;
    s_vfs.xOpen = s_open;
    s_ok = sqlite3_vfs_register(&s_vfs, 0) == SQLITE_OK;
}

const char *lab_hub_vfs_name(void)
{
    pthread_once(&s_once, s_register);
    return s_ok ? S_VFS_NAME : NULL;
}

void lab_hub_vfs_stats_get(lab_hub_vfs_stats *s)
{
    s->log_writes_in = atomic_load(&s_writes_in);
    s->log_writes_out = atomic_load(&s_writes_out);
}
