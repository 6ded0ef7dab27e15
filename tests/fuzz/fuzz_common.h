/*
 * Shared by the fuzz targets (tests/fuzz/fuzz_<target>.c) and by the regression replayer
 * (tests/unit/test_fuzz_regressions.c), which includes every target with SY_FUZZ_REPLAY defined.
 *
 * Each target defines, with its own name as prefix:
 *   static int  <name>_init(const char *root);  root: the repository (policies/, tests/fuzz/ ...); 0 or an error
 *   static void <name>_one(const uint8_t *data, size_t size);
 *   static void <name>_fini(void);
 * and ends with SY_FUZZ_MAIN(<name>), which turns them into libFuzzer's entry points unless SY_FUZZ_REPLAY is set.
 * Statics of different targets share one translation unit in the replayer: prefix them with the target's name.
 */
#ifndef SY_FUZZ_COMMON_H
#define SY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "common.h"
#include "connector.h"
#include "event.h"

/* A broken invariant aborts: libFuzzer records the input, the replayer's test fails. */
#define SY_FUZZ_CHECK(cond)                                                                                            \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);                              \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The wall clock every target uses (the unit tests' vectors are signed at this time). */
#define SY_FUZZ_NOW_MS 1700000000000LL

/* The ingress caps of the default config (hub/config.c, hub/ingress.c). */
#define SY_FUZZ_MAX_BODY (1u << 20)
#define SY_FUZZ_MAX_BATCH_EVENTS 1000
#define SY_FUZZ_JSON_MAX_DEPTH 64

/* A cursor over the input. */
typedef struct st_sy_fuzz_in_t {
    const char *p;
    size_t left;
} sy_fuzz_in_t;

static inline sy_fuzz_in_t sy_fuzz_in(const uint8_t *data, size_t size)
{
    return (sy_fuzz_in_t){(const char *)data, size};
}

/* The next byte, 0 once the input is used up. */
static inline uint8_t sy_fuzz_byte(sy_fuzz_in_t *in)
{
    if (in->left == 0)
        return 0;
    --in->left;
    return (uint8_t) * in->p++;
}

/* Bytes up to the next sep (which is consumed, not returned), or everything left. */
static inline sy_slice_t sy_fuzz_until(sy_fuzz_in_t *in, char sep)
{
    const char *at = in->left != 0 ? memchr(in->p, sep, in->left) : NULL;
    size_t n = at != NULL ? (size_t)(at - in->p) : in->left;
    sy_slice_t s = {in->p, n};
    in->p += n;
    in->left -= n;
    if (at != NULL) {
        ++in->p;
        --in->left;
    }
    return s;
}

static inline sy_slice_t sy_fuzz_rest(sy_fuzz_in_t *in)
{
    sy_slice_t s = {in->p, in->left};
    in->p += in->left;
    in->left = 0;
    return s;
}

/* A malloc'd NUL-terminated copy (C-string users see it up to the first NUL byte). */
static inline char *sy_fuzz_strdup(sy_slice_t s)
{
    char *p = malloc(s.len + 1);
    SY_FUZZ_CHECK(p != NULL);
    if (s.len != 0)
        memcpy(p, s.base, s.len);
    p[s.len] = '\0';
    return p;
}

/* Whether inner lies within outer. */
static inline int sy_fuzz_within(sy_slice_t outer, sy_slice_t inner)
{
    if (inner.len == 0)
        return 1;
    return inner.base >= outer.base && inner.len <= outer.len && (size_t)(inner.base - outer.base) <= outer.len - inner.len;
}

static inline int sy_fuzz_slice_eq(sy_slice_t a, sy_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/*
 * What ingress does with the events a connector's parse found in body: checks the slices, encodes each event as the
 * log stores it (build_job in hub/ingress.c) and decodes it again, which must give back the same event.
 */
static inline void sy_fuzz_store_events(const char *source, const char *scheme, sy_slice_t body,
                                        const sy_event_ref_t *events, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        const sy_event_ref_t *e = &events[i];
        SY_FUZZ_CHECK(sy_fuzz_within(body, e->raw));
        SY_FUZZ_CHECK(sy_fuzz_within(body, e->id) && e->id.len != 0 && e->id.len <= SY_EVENT_ID_MAX);
        SY_FUZZ_CHECK(sy_fuzz_within(body, e->type) && e->type.len != 0 && e->type.len <= SY_EVENT_TYPE_MAX);
        sy_event_t ev = {.received_at_ms = SY_FUZZ_NOW_MS,
                         .occurred_at_ms = e->occurred_at_ms,
                         .source = sy_slice_cstr(source),
                         .connector = sy_slice_cstr(source),
                         .event_id = e->id,
                         .type = e->type,
                         .signature = sy_slice_cstr(scheme),
                         .user_agent = SY_SLICE_LIT("fuzz"),
                         .batch_index = (uint32_t)i,
                         .batch_size = (uint32_t)n,
                         .body = e->raw},
                   back;
        char *enc = NULL;
        size_t enclen = 0;
        SY_FUZZ_CHECK(sy_codec_event_encode(&ev, &enc, &enclen) == 0);
        SY_FUZZ_CHECK(sy_codec_event_decode(enc, enclen, &back) == 0);
        SY_FUZZ_CHECK(back.received_at_ms == ev.received_at_ms && back.occurred_at_ms == ev.occurred_at_ms);
        SY_FUZZ_CHECK(back.batch_index == ev.batch_index && back.batch_size == ev.batch_size);
        SY_FUZZ_CHECK(sy_fuzz_slice_eq(back.source, ev.source) && sy_fuzz_slice_eq(back.connector, ev.connector));
        SY_FUZZ_CHECK(sy_fuzz_slice_eq(back.event_id, ev.event_id) && sy_fuzz_slice_eq(back.type, ev.type));
        SY_FUZZ_CHECK(sy_fuzz_slice_eq(back.signature, ev.signature) && sy_fuzz_slice_eq(back.body, ev.body));
        free(enc);
    }
}

/* Where the repository is when run by libFuzzer: $SY_SOURCE_DIR, else the directory the build was configured from. */
static inline const char *sy_fuzz_root(void)
{
    const char *env = getenv("SY_SOURCE_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
#ifdef SY_FUZZ_SOURCE_DIR
    return SY_FUZZ_SOURCE_DIR;
#else
    return ".";
#endif
}

#ifdef SY_FUZZ_REPLAY
#define SY_FUZZ_MAIN(name)
#else
#define SY_FUZZ_MAIN(name)                                                                                             \
    int LLVMFuzzerInitialize(int *argc, char ***argv);                                                                 \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                                      \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                                                  \
    {                                                                                                                  \
        if (name##_init(sy_fuzz_root()) != 0) {                                                                        \
            fprintf(stderr, #name ": cannot initialise (is SY_SOURCE_DIR the repository?)\n");                         \
            exit(1);                                                                                                   \
        }                                                                                                              \
        atexit(name##_fini);                                                                                           \
        return 0;                                                                                                      \
    }                                                                                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                                       \
    {                                                                                                                  \
        name##_one(data, size);                                                                                        \
        return 0;                                                                                                      \
    }
#endif

#endif
