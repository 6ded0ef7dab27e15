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

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/data_dir.h"
#include "codec.h"
#include "common.h"
#include "connector.h"
#include "drift.h"
#include "event.h"
#include "observe.h"
#include "policy.h"
#include "records.h"
#include "store.h"

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

/* The ingress caps of the default config (hub/daemon/config.c, hub/ingest/ingress.c). */
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
 * log stores it (build_job in hub/ingest/ingress.c) and decodes it again, which must give back the same event.
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

/* A private directory for a target's files: $TMPDIR/sy-fuzz-<name>-XXXXXX. 0 or SY_EIO. */
static inline int sy_fuzz_tempdir(char *dir, size_t len, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/sy-fuzz-%s-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name);
    return mkdtemp(dir) != NULL ? 0 : SY_EIO;
}

/* Removes dir and the files in it (the targets make no subdirectories). */
static inline void sy_fuzz_rmdir(const char *dir)
{
    sy_test_remove_dir(dir);
}

/*
 * The applier's world: the example policy (policies/customers.yaml) and a store in a temp dir holding a few golden
 * records, so that observations meet existing records, links and identity keys.
 */
typedef struct st_sy_fuzz_world_t {
    sy_policy_t *policy;
    sy_store_t *store;
    char dir[512];
    uint64_t seq;
    sy_drift_t *drift; /* learnt shapes, as the applier keeps them (drift.h) */
} sy_fuzz_world_t;

/* Observes one event and applies the observations in one write transaction, committed or aborted. */
static inline int sy_fuzz_world_apply(sy_fuzz_world_t *w, const char *source, const char *type, sy_slice_t body,
                                      int commit, sy_apply_stats_t *stats)
{
    sy_event_t ev = {.seq = ++w->seq,
                     .received_at_ms = SY_FUZZ_NOW_MS,
                     .occurred_at_ms = SY_FUZZ_NOW_MS - 60000,
                     .source = sy_slice_cstr(source),
                     .connector = sy_slice_cstr(source),
                     .event_id = SY_SLICE_LIT("evt_fuzz"),
                     .type = sy_slice_cstr(type),
                     .signature = SY_SLICE_LIT("fuzz"),
                     .batch_size = 1,
                     .body = body};
    sy_observation_t *obs = NULL;
    size_t n = 0;
    sy_txn_t *txn;
    sy_shape_t shape;
    int rc = sy_observe_shape(w->policy, &ev, &obs, &n, NULL, &shape);
    if (rc != 0) {
        SY_FUZZ_CHECK(rc == SY_EPARSE && obs == NULL && n == 0 && shape.buf == NULL);
        return rc;
    }
    if (shape.buf != NULL) { /* one known code per mapped path */
        const sy_policy_path_t *paths[SY_SHAPE_MAX_PATHS];
        size_t np = sy_shape_paths(w->policy, sy_policy_source_index(w->policy, source), type, paths, SY_SHAPE_MAX_PATHS);
        SY_FUZZ_CHECK(strcmp(shape.source, source) == 0 && strcmp(shape.type, type) == 0);
        SY_FUZZ_CHECK(strlen(shape.codes) == np);
        for (const char *c = shape.codes; *c != '\0'; ++c)
            SY_FUZZ_CHECK(strchr("snboaz-px", *c) != NULL);
    }
    if (w->drift == NULL)
        SY_FUZZ_CHECK((w->drift = sy_drift_new()) != NULL);
    SY_FUZZ_CHECK(n <= 8 && (n == 0) == (obs == NULL));
    for (size_t i = 0; i != n; ++i) {
        const sy_observation_t *o = &obs[i];
        SY_FUZZ_CHECK(o->source == sy_policy_source_index(w->policy, source));
        SY_FUZZ_CHECK(o->external_id != NULL && o->external_id[0] != '\0');
        for (size_t k = 0; k != o->num_fields; ++k)
            SY_FUZZ_CHECK(o->fields[k].field < w->policy->num_fields && o->fields[k].value != NULL);
        SY_FUZZ_CHECK(o->num_links <= SY_OBS_MAX_LINKS);
        for (size_t k = 0; k != o->num_links; ++k)
            SY_FUZZ_CHECK(o->links[k].source < w->policy->num_sources && o->links[k].id != NULL && o->links[k].id[0] != '\0');
    }
    SY_FUZZ_CHECK(sy_txn_begin(w->store, 1, &txn) == 0);
    sy_apply_ctx_t ctx = {.txn = txn, .policy = w->policy, .seq = ev.seq, .now_ms = SY_FUZZ_NOW_MS, .stats = stats};
    for (size_t i = 0; i != n && rc == 0; ++i)
        rc = sy_records_apply(&ctx, &obs[i]);
    sy_observations_free(obs, n);
    static sy_drift_step_t step; /* large: not on the stack */
    sy_drift_step_begin(&step, w->drift, w->policy);
    if (rc == 0)
        rc = sy_drift_observe(&step, txn, w->policy, &shape, ev.seq, SY_FUZZ_NOW_MS);
    if (rc == 0)
        rc = sy_drift_step_flush(&step, txn, SY_FUZZ_NOW_MS);
    sy_shape_dispose(&shape);
    sy_drift_step_release(&step);
    if (rc == 0 && commit) {
        rc = sy_txn_commit(txn);
        if (rc == 0)
            sy_drift_step_commit(&step, SY_FUZZ_NOW_MS);
        return rc;
    }
    sy_txn_abort(txn);
    return rc;
}

static inline void sy_fuzz_world_close(sy_fuzz_world_t *w)
{
    sy_store_close(w->store);
    sy_policy_destroy(w->policy);
    sy_drift_free(w->drift);
    if (w->dir[0] != '\0')
        sy_fuzz_rmdir(w->dir);
    memset(w, 0, sizeof(*w));
}

static inline int sy_fuzz_world_open(sy_fuzz_world_t *w, const char *root, const char *name)
{
    static const struct {
        const char *source, *type, *body;
    } seeds[] = {
        {"hubspot", "contact.creation",
         "{\"eventId\":1,\"subscriptionType\":\"contact.creation\",\"occurredAt\":1699999000000,\"objectId\":51,"
         "\"properties\":{\"email\":\"Ana@Acme.io\",\"name\":\"Ana Silva\",\"company\":\"Acme Inc\",\"phone\":\"+49 30 123\"}}"},
        {"stripe", "customer.updated",
         "{\"id\":\"evt_1\",\"type\":\"customer.updated\",\"created\":1699999100,\"data\":{\"object\":{\"id\":\"cus_A\","
         "\"email\":\"ana@acme.io\",\"name\":\"Ana\",\"metadata\":{\"hubspot_contact_id\":\"51\"}}}}"},
        {"stripe", "customer.subscription.updated",
         "{\"id\":\"evt_2\",\"type\":\"customer.subscription.updated\",\"created\":1699999200,\"data\":{\"object\":"
         "{\"id\":\"sub_1\",\"customer\":\"cus_A\",\"status\":\"active\",\"items\":{\"data\":[{\"price\":{\"id\":\"pro\","
         "\"unit_amount\":4900}}]}}}}"},
        {"hubspot", "company.creation",
         "{\"eventId\":2,\"subscriptionType\":\"company.creation\",\"occurredAt\":1699999300000,\"objectId\":7,"
         "\"properties\":{\"name\":\"Acme Inc\"}}"},
        {"stripe", "customer.created",
         "{\"id\":\"evt_3\",\"type\":\"customer.created\",\"created\":1699999400,\"data\":{\"object\":{\"id\":\"cus_B\","
         "\"email\":\"bo@example.com\",\"name\":\"Bo\"}}}"},
    };
    char path[1024];
    sy_error_t err = {0};
    sy_apply_stats_t stats = {0};
    int rc;
    memset(w, 0, sizeof(*w));
    snprintf(path, sizeof(path), "%s/policies/customers.yaml", root);
    if ((rc = sy_policy_load(&w->policy, path, &err)) != 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return rc;
    }
    if ((rc = sy_fuzz_tempdir(w->dir, sizeof(w->dir), name)) != 0 ||
        (rc = sy_store_open(&w->store, w->dir, 8u << 20, 64u << 20, SY_STORE_CREATE, &err)) != 0)
        goto Exit;
    for (size_t i = 0; i != SY_ARRAY_SIZE(seeds) && rc == 0; ++i)
        rc = sy_fuzz_world_apply(w, seeds[i].source, seeds[i].type, sy_slice_cstr(seeds[i].body), 1, &stats);
Exit:
    if (rc != 0)
        sy_fuzz_world_close(w);
    return rc;
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
