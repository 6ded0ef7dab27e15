/*
 * Switchyard: definitions shared by every module.
 *
 * Errors are negative SY_E* codes (0 is success), turned into text by sy_strerror().
 * Where a person reads the message (config, policy, admin API) the module also fills an
 * sy_error_t with file, line, column and text.
 */
#ifndef SY_COMMON_H
#define SY_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The release, also in CMakeLists.txt project(). */
#define SY_VERSION "0.1.0"

#define SY_OK 0
#define SY_ENOMEM (-1)    /* allocation failed */
#define SY_EINVAL (-2)    /* invalid argument or input */
#define SY_EIO (-3)       /* I/O or storage error */
#define SY_EFULL (-4)     /* storage full (LMDB map full or ENOSPC): retry later */
#define SY_ENOTFOUND (-5) /* no such item */
#define SY_EAUTH (-6)     /* signature or token check failed */
#define SY_ETOOBIG (-7)   /* input over its configured cap */
#define SY_EPARSE (-8)    /* malformed input (JSON, YAML, header) */
#define SY_ESHUTDOWN (-9) /* the service is stopping */

const char *sy_strerror(int err);

/* A borrowed byte range; never owns its memory. */
typedef struct st_sy_slice_t {
    const char *base;
    size_t len;
} sy_slice_t;

#define SY_SLICE_LIT(s) ((sy_slice_t){(s), sizeof(s) - 1})
sy_slice_t sy_slice_cstr(const char *s);
int sy_slice_eq_cstr(sy_slice_t a, const char *b);

/* A message for a person: where (file:line:column, 1-based; 0 means unknown) and what. */
typedef struct st_sy_error_t {
    char file[256];
    unsigned line;
    unsigned column;
    char msg[512];
} sy_error_t;

/* Fills err (if non-NULL) with printf-style text; returns code so callers can `return sy_error_set(...)`. */
int sy_error_set(sy_error_t *err, int code, const char *file, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Writes "file:line:column: msg" (parts that are unknown are left out) into out. */
void sy_error_format(const sy_error_t *err, char *out, size_t outlen);

/* Wall clock in milliseconds since the Unix epoch; monotonic clock in nanoseconds. */
int64_t sy_now_ms(void);
uint64_t sy_mono_ns(void);
/* Names the calling thread ("sy-writer"; at most 15 characters are kept), so that top -H, perf and gdb tell the
 * stages apart. Called first thing in every thread's main. */
void sy_thread_name(const char *name);

#define SY_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
