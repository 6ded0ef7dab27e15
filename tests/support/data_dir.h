/*
 * Tests: a data dir of their own under $TMPDIR (or /tmp), removed at the end with the files LMDB and serve leave
 * in it. Header-only, for unit and integration tests alike.
 */
#ifndef SY_TEST_DATA_DIR_H
#define SY_TEST_DATA_DIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes dir (cap bytes) as <tmp>/<prefix>-XXXXXX (a mkdtemp template). Returns dir, or NULL. */
static inline char *sy_test_make_dir(char *dir, size_t cap, const char *prefix)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, cap, "%s/%s-XXXXXX", tmp, prefix);
    return mkdtemp(dir);
}

/* Removes the files directly in dir, then dir (a flat data dir: data.mdb, lock.mdb, switchyard.lock, ...). */
static inline void sy_test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

#endif
