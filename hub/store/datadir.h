/*
 * One writer process per data dir: an exclusive lock on <data_dir>/switchyard.lock. `switchyard serve` holds it for
 * the life of the process; a CLI write command (replay, records merge/split, queue and dead-letter actions, log
 * compact) holds it while it writes when no hub runs, and otherwise sends its change to the running hub's admin API
 * (cli_remote.c) instead of writing the data dir behind the hub's back. Two hubs on one log would both run an
 * applier and a delivery engine over the same outbox (pushes sent twice, cursors racing); LMDB itself happily lets
 * both open it. Read-only CLI commands do not take the lock.
 *
 * The lock file says who holds it, one item a line: the pid, what it is ("serve" or the CLI command, e.g.
 * "records merge") and, for serve, the base URL of its admin API. An older serve wrote only its pid.
 */
#ifndef SY_DATADIR_H
#define SY_DATADIR_H

#include "common.h"

#define SY_DATADIR_LOCK_FILE "switchyard.lock"

#define SY_DATADIR_CREATE 0x1 /* create the dir (0700) if missing: serve only; the CLI never makes a data dir */

/* Who holds the lock, as its lock file says. */
typedef struct st_sy_datadir_holder_t {
    long pid;            /* 0: unknown (the file was still empty) */
    char what[64];       /* "serve", "records merge", ...; "" when the holder wrote only its pid (an older serve) */
    char admin_url[256]; /* serve's admin API, e.g. "http://127.0.0.1:8081"; "" when not written */
} sy_datadir_holder_t;

/*
 * Locks dir/switchyard.lock (flock, non-blocking) and writes our pid, what and admin_url (NULL: none) into it.
 * Returns 0 with *fd the open lock file (keep it open; sy_datadir_unlock releases it); SY_EINVAL with err naming
 * the holder and its pid when another process holds the lock (and *holder filled when not NULL); SY_ENOTFOUND
 * when dir does not exist and flags lack SY_DATADIR_CREATE; SY_EIO (err set) on any other failure.
 */
int sy_datadir_lock(const char *dir, int flags, const char *what, const char *admin_url, int *fd,
                    sy_datadir_holder_t *holder, sy_error_t *err);
/* Releases the lock (no-op for fd < 0). The file stays: removing it could race with the next lock. */
void sy_datadir_unlock(int fd);

#endif
