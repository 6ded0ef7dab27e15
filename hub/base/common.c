#include "common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *sy_strerror(int err)
{
    switch (err) {
    case SY_OK:
        return "success";
    case SY_ENOMEM:
        return "out of memory";
    case SY_EINVAL:
        return "invalid argument";
    case SY_EIO:
        return "I/O error";
    case SY_EFULL:
        return "storage full";
    case SY_ENOTFOUND:
        return "not found";
    case SY_EAUTH:
        return "authentication failed";
    case SY_ETOOBIG:
        return "too big";
    case SY_EPARSE:
        return "malformed input";
    case SY_ESHUTDOWN:
        return "shutting down";
    default:
        return "unknown error";
    }
}

sy_slice_t sy_slice_cstr(const char *s)
{
    return (sy_slice_t){s, s != NULL ? strlen(s) : 0};
}

int sy_slice_eq_cstr(sy_slice_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && memcmp(a.base, b, n) == 0;
}

int sy_error_set(sy_error_t *err, int code, const char *file, unsigned line, unsigned column, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    snprintf(err->file, sizeof(err->file), "%s", file != NULL ? file : "");
    err->line = line;
    err->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void sy_error_format(const sy_error_t *err, char *out, size_t outlen)
{
    if (err->file[0] != '\0' && err->line != 0)
        snprintf(out, outlen, "%s:%u:%u: %s", err->file, err->line, err->column, err->msg);
    else if (err->file[0] != '\0')
        snprintf(out, outlen, "%s: %s", err->file, err->msg);
    else
        snprintf(out, outlen, "%s", err->msg);
}

int64_t sy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sy_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sy_thread_name(const char *name)
{
    char shortened[16];
    snprintf(shortened, sizeof(shortened), "%s", name); /* the kernel refuses longer names (ERANGE) */
    pthread_setname_np(pthread_self(), shortened);
}
