/*
 * One `switchyard serve` per data dir: an exclusive lock on <data_dir>/switchyard.lock, held for the life of the
 * process. Two hubs on one log would both run an applier and a delivery engine over the same outbox (pushes sent
 * twice, cursors racing); LMDB itself happily lets both open it. CLI commands do not take this lock: read-only
 * ones and the write commands that LMDB serialises with serve keep working while serve runs.
 */
#ifndef SY_DATADIR_H
#define SY_DATADIR_H

#include "common.h"

#define SY_DATADIR_LOCK_FILE "switchyard.lock"

/*
 * Creates dir (0700) if missing, then locks dir/switchyard.lock (flock, non-blocking) and writes our pid into it.
 * Returns 0 with *fd the open lock file (keep it open; sy_datadir_unlock releases it); SY_EINVAL with err naming
 * the holder's pid when another process holds the lock; SY_EIO (err set) on any other failure.
 */
int sy_datadir_lock(const char *dir, int *fd, sy_error_t *err);
/* Releases the lock (no-op for fd < 0). The file stays: removing it could race with the next serve's lock. */
void sy_datadir_unlock(int fd);

#endif
