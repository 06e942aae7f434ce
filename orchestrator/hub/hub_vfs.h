/* The hub's SQLite file layer: SQLite's own (unix) one, except that a
 * write-ahead log's appended frames are gathered in memory and written in
 * one call when SQLite syncs the log to make a commit durable.
 *
 * SQLite writes each frame of a commit with two calls (its 24-byte header,
 * then the page): a group commit of 27 results was about 70 pwrite calls,
 * three per step. Gathered, it is one. Nothing changes for durability: a
 * commit is durable when SQLite's sync of the log returns, and that sync
 * writes what was gathered first. Readers in other processes only see a
 * commit once its frames are in the file (SQLite publishes it in the
 * shared index after the sync). Any read, size, truncation or lock of the
 * log, closing it, and releasing the log's write lock (after a rollback,
 * before another connection may write the log) write what was gathered
 * first too.
 *
 * Only for connections with synchronous=FULL, as the hub's: at a lower
 * level SQLite publishes a commit without syncing the log, and other
 * connections could look for frames still in memory.
 *
 * Not for: the database file itself (written page by page at checkpoints,
 * not appended) or other SQLite files; they go through unchanged. */
#ifndef LAB_HUB_VFS_H
#define LAB_HUB_VFS_H

#include <stdint.h>

/* The name to open a hub with (sqlite3_open_v2's zVfs), registered on first
 * use; NULL (SQLite's default) when it cannot be registered. */
const char *lab_hub_vfs_name(void);

/* Since the process started: frames (writes) SQLite made to logs opened
 * through this layer, and the writes that reached the file. */
typedef struct lab_hub_vfs_stats {
    int64_t log_writes_in;
    int64_t log_writes_out;
} lab_hub_vfs_stats;
void lab_hub_vfs_stats_get(lab_hub_vfs_stats *s);

#endif
