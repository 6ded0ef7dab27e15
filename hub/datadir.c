#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int sy_datadir_lock(const char *dir, int *out, sy_error_t *err)
{
    char path[600], holder[32] = "";
    int fd = -1, rc;
    ssize_t n;

    *out = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sy_error_set(err, SY_EIO, dir, 0, 0, "cannot create data directory: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/" SY_DATADIR_LOCK_FILE, dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot open the lock file: %s", strerror(errno));
    /* flock, not fcntl: the lock belongs to this open file, so nothing else in the process (a library closing
     * some other descriptor of the file) can drop it by accident. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            rc = sy_error_set(err, SY_EIO, path, 0, 0, "cannot lock: %s", strerror(errno));
            goto Exit;
        }
        if ((n = pread(fd, holder, sizeof(holder) - 1, 0)) > 0) {
            holder[n] = '\0';
            holder[strcspn(holder, "\r\n")] = '\0';
        }
        /* The holder writes its pid right after locking: an empty file means we looked in between. */
        rc = sy_error_set(err, SY_EINVAL, dir, 0, 0,
                          "data dir is in use by another `switchyard serve` (pid %s); stop it or give this one "
                          "another data_dir",
                          holder[0] != '\0' ? holder : "unknown");
        goto Exit;
    }
    n = snprintf(holder, sizeof(holder), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, holder, (size_t)n, 0) != n) {
        rc = sy_error_set(err, SY_EIO, path, 0, 0, "cannot write our pid: %s", strerror(errno));
        goto Exit;
    }
    *out = fd;
    return 0;
Exit:
    close(fd);
    return rc;
}

void sy_datadir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the last descriptor of the open file releases the flock */
}
