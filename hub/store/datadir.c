#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the next line of *text into out (without the newline) and moves *text past it. */
static void next_line(const char **text, char *out, size_t len)
{
    size_t n = strcspn(*text, "\r\n");
    snprintf(out, len, "%.*s", (int)n, *text);
    *text += n;
    *text += strspn(*text, "\r\n");
}

static void read_holder(int fd, sy_datadir_holder_t *h)
{
    char text[512] = "", pid[32];
    const char *p = text;
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    memset(h, 0, sizeof(*h));
    if (n <= 0)
        return;
    text[n] = '\0';
    next_line(&p, pid, sizeof(pid));
    char *end;
    long v = strtol(pid, &end, 10);
    h->pid = end != pid && *end == '\0' && v > 0 ? v : 0;
    next_line(&p, h->what, sizeof(h->what));
    next_line(&p, h->admin_url, sizeof(h->admin_url));
}

int sy_datadir_lock(const char *dir, int flags, const char *what, const char *admin_url, int *out,
                    sy_datadir_holder_t *holder, sy_error_t *err)
{
    char path[600], text[512];
    int fd = -1, rc;
    int n;

    *out = -1;
    if ((flags & SY_DATADIR_CREATE) != 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sy_error_set(err, SY_EIO, dir, 0, 0, "cannot create data directory: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/" SY_DATADIR_LOCK_FILE, dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        if (errno == ENOENT && (flags & SY_DATADIR_CREATE) == 0)
            return sy_error_set(err, SY_ENOTFOUND, dir, 0, 0, "no such data directory");
        return sy_error_set(err, SY_EIO, path, 0, 0, "cannot open the lock file: %s", strerror(errno));
    }
    /* flock, not fcntl: the lock belongs to this open file, so nothing else in the process (a library closing
     * some other descriptor of the file) can drop it by accident. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        sy_datadir_holder_t h;
        if (errno != EWOULDBLOCK) {
            rc = sy_error_set(err, SY_EIO, path, 0, 0, "cannot lock: %s", strerror(errno));
            goto Exit;
        }
        read_holder(fd, &h);
        if (holder != NULL)
            *holder = h;
        /* The holder writes its pid right after locking: an empty file means we looked in between. */
        snprintf(text, sizeof(text), "%ld", h.pid);
        rc = sy_error_set(err, SY_EINVAL, dir, 0, 0,
                          "data dir is in use by `switchyard %s` (pid %s); %s",
                          h.what[0] != '\0' ? h.what : "serve", h.pid != 0 ? text : "unknown",
                          h.what[0] == '\0' || strcmp(h.what, "serve") == 0
                              ? "stop it or give this one another data_dir"
                              : "wait for it to finish");
        goto Exit;
    }
    n = snprintf(text, sizeof(text), "%ld\n%s\n%s\n", (long)getpid(), what != NULL ? what : "",
                 admin_url != NULL ? admin_url : "");
    if (n < 0 || (size_t)n >= sizeof(text) || ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
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
