#include "applier.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "change_shared.h"
#include "drift.h"
#include "log.h"
#include "observe.h"
#include "outcome.h"
#include "policy_stamp.h"
#include "records.h"
#include "writer.h"

#define BATCH_EVENTS 256        /* decoded per batch at most ... */
#define BATCH_NS (5 * 1000000) /* ... decoded in about this long (outside any write transaction) */
#define MAX_BATCHES 8          /* per policy reference: a reload takes effect within this many */
#define RIDE_MIN_NS (1 * 1000000) /* applied per ride on a log commit when caught up: the ingress waits for it ... */
#define RIDE_MAX_NS (4 * 1000000) /* ... and at most, when LAG_FULL events or more are waiting */
#define LAG_FULL 8192
#define IDLE_WAIT_MS 500 /* a missed notification costs at most this */
#define FULL_WAIT_MS 1000
#define CHANGES_PER_STEP 64 /* a cluster's admin changes made at the start of one step at most */

struct st_sy_applier_t {
    sy_store_t *store;
    char *policy_path;
    pthread_mutex_t reload_mutex; /* one reload at a time: the stored hash is the one swapped in last */
    pthread_mutex_t policy_mutex; /* guards the pointer and its references; a reload swaps it under it */
    sy_policy_t *policy;
    unsigned policy_refs; /* readers holding `policy` without the mutex (sy_applier_policy_ref) */
    struct st_retired_t {  /* policies swapped out while referenced: freed by their last unref */
        sy_policy_t *policy;
        unsigned refs;
        struct st_retired_t *next;
    } *retired;
    int64_t policy_loaded_at_ms;
    pthread_t tid;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int notified;
    int stopping;
    int paused; /* sy_applier_pause: no batch starts while set */
    sy_writer_t *writer; /* the log writer whose commits the batches ride on (NULL: commits of our own) */
    int riding;          /* a batch is riding on `writer` (sy_applier_set_writer waits for it to end) */
    pthread_cond_t ridden;
    void (*on_commit)(void *arg);
    void *on_commit_arg;
    sy_drift_t *drift; /* learnt shapes (drift.h): used by the one step in progress only */
};

/* One logged event, decoded under the policy before the write transaction. */
typedef struct st_decoded_t {
    sy_event_t ev; /* seq; for a skipped event also source, event id and type (slices into `meta`) */
    sy_observation_t *obs;
    size_t nobs;
    const char *why; /* set: the event cannot be applied (sy_observe's reason) */
    char *meta;      /* owned copy of a skipped event's source, event id and type */
    sy_shape_t shape; /* for schema drift (drift.h) */
} decoded_t;

static void decoded_dispose(decoded_t *d, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        sy_observations_free(d[i].obs, d[i].nobs);
        sy_shape_dispose(&d[i].shape);
        free(d[i].meta);
    }
}

/* What sy_records_skip records of an event, copied out of the read transaction. */
static int keep_meta(decoded_t *d, const sy_event_t *ev)
{
    size_t n = ev->source.len + ev->event_id.len + ev->type.len;
    if ((d->meta = malloc(n + 1)) == NULL)
        return SY_ENOMEM;
    char *p = d->meta;
    memcpy(p, ev->source.base, ev->source.len);
    d->ev.source = (sy_slice_t){p, ev->source.len};
    p += ev->source.len;
    memcpy(p, ev->event_id.base, ev->event_id.len);
    d->ev.event_id = (sy_slice_t){p, ev->event_id.len};
    p += ev->event_id.len;
    memcpy(p, ev->type.base, ev->type.len);
    d->ev.type = (sy_slice_t){p, ev->type.len};
    return 0;
}

/* A batch of logged events decoded under the policy, in log order. */
typedef struct st_batch_t {
    decoded_t ev[BATCH_EVENTS];
    size_t n;
    uint64_t after;    /* the cursor before ev[0] */
    uint64_t last_seq; /* the log's end when it was decoded (the applier's lag is last_seq - cursor) */
    int changes_due;   /* no event, but a cluster's admin change waits at the cursor (change_shared.h) */
} batch_t;

/*
 * Reads and decodes the next events after `after` (the stored cursor if from_cursor) in a read transaction: the
 * JSON parsing and the policy's mappings happen outside any write transaction, while the log writer commits.
 * Observations own their memory, so they outlive the read transaction. Holds nothing else meanwhile (locks.h).
 */
static int decode_batch(sy_applier_t *a, const sy_policy_t *policy, int from_cursor, uint64_t after, batch_t *b)
{
    sy_store_read_t *rd;
    sy_event_t ev;
    int rc;
    b->n = 0;
    if ((rc = sy_store_read_begin(a->store, &rd)) != 0)
        return rc;
    if (from_cursor && (rc = sy_meta_get_u64(rd, "applier_cursor", &after)) != 0)
        goto Exit;
    if ((rc = sy_store_last_seq(rd, &b->last_seq)) != 0)
        goto Exit;
    b->after = after;
    b->changes_due = 0;
    uint64_t started = sy_mono_ns();
    while (b->n != BATCH_EVENTS && sy_mono_ns() - started < BATCH_NS && (rc = sy_store_event_next(rd, after, &ev)) == 0) {
        decoded_t *d = &b->ev[b->n];
        memset(d, 0, sizeof(*d));
        d->ev.seq = ev.seq;
        rc = sy_observe_shape(policy, &ev, &d->obs, &d->nobs, &d->why, &d->shape);
        if (rc == SY_EPARSE) {
            d->obs = NULL;
            d->nobs = 0;
            rc = keep_meta(d, &ev);
        } else {
            d->why = NULL;
        }
        if (rc != 0) {
            sy_observations_free(d->obs, d->nobs);
            sy_shape_dispose(&d->shape);
            goto Exit;
        }
        after = ev.seq;
        ++b->n;
    }
    if (rc == SY_ENOTFOUND)
        rc = 0;
    if (rc == 0 && b->n == 0 && atomic_load_explicit(&sy_change_shared_enabled, memory_order_relaxed))
        b->changes_due = sy_change_shared_due(rd, after);
Exit:
    sy_store_read_end(rd);
    return rc;
}

/*
 * One apply step: decoded[from..) applied in order, in the transaction given, until the events run out or, when
 * riding on the log writer's commit, the time budget is spent (the ingress waits for that commit). The cursor is
 * read again in the transaction: only the applier moves it, but a batch must never apply twice whatever wrote
 * meanwhile. Runs again from scratch if the writer redoes its transaction (store.h), so everything it reports is
 * reset first.
 */
typedef struct st_apply_step_t {
    sy_applier_t *a;
    const sy_policy_t *policy;
    decoded_t *decoded;
    size_t n, from;
    uint64_t cursor; /* applier_cursor expected before decoded[from] */
    uint64_t budget_ns; /* 0: no limit */
    size_t upto;        /* out: decoded[from..upto) applied */
    size_t changes;     /* out: a cluster's admin changes made before decoded[from] (change_shared.h) */
    sy_apply_stats_t stats;
    sy_drift_step_t drift; /* what the step learnt of payload shapes, kept once it committed */
} apply_step_t;

#define STALE_CURSOR 1 /* apply_step's "decoded against a stale cursor: decode again" */

static int apply_events(apply_step_t *st, sy_txn_t *txn, sy_doc_cache_t *cache)
{
    uint64_t now_cursor, cursor = st->cursor, started = sy_mono_ns();
    int rc;

    uint64_t stop = UINT64_MAX; /* no event after this seq in this step */

    memset(&st->stats, 0, sizeof(st->stats));
    sy_drift_step_begin(&st->drift, st->a->drift, st->policy);
    st->upto = st->from;
    st->changes = 0;
    if ((rc = sy_meta_get_u64(txn, "applier_cursor", &now_cursor)) != 0)
        return rc;
    if (now_cursor != cursor)
        return STALE_CURSOR;
    /* A cluster's merges and splits at their log position (change_shared.h): those waiting before the next event
     * are made first, while no record of this step is cached yet; the step then ends at the next one's position,
     * so that the following step makes it before the event after it. */
    if (atomic_load_explicit(&sy_change_shared_enabled, memory_order_relaxed) &&
        (rc = sy_change_shared_apply_due(txn, st->policy, st->from != st->n ? st->decoded[st->from].ev.seq : cursor + 1,
                                         CHANGES_PER_STEP, &st->changes, &stop)) != 0)
        return rc;
    sy_apply_ctx_t ctx = {.txn = txn, .policy = st->policy, .now_ms = sy_now_ms(), .stats = &st->stats, .cache = cache};
    size_t i;
    for (i = st->from; i != st->n && st->decoded[i].ev.seq <= stop &&
                       (i == st->from || st->budget_ns == 0 || sy_mono_ns() - started < st->budget_ns);
         ++i) {
        decoded_t *d = &st->decoded[i];
        ctx.seq = d->ev.seq;
        if (d->why != NULL) {
            /* Ingress validates what it logs, so this is an event logged before a check existed (or a bug): it
             * cannot be applied, and retrying it would stop the applier for good. Recorded, counted, alerted. */
            if ((rc = sy_records_skip(&ctx, &d->ev, d->why)) != 0)
                return rc;
        } else if (d->nobs == 0) {
            ++st->stats.unmapped_events;
        }
        for (size_t k = 0; k != d->nobs; ++k)
            if ((rc = sy_records_apply(&ctx, &d->obs[k])) != 0)
                return rc;
        if ((rc = sy_drift_observe(&st->drift, txn, st->policy, &d->shape, d->ev.seq, ctx.now_ms)) != 0)
            return rc;
        cursor = d->ev.seq;
    }
    /* A cluster's delivery outcomes that waited for these events (outcome.h): after the flush, in this commit. */
    if ((rc = sy_records_flush(&ctx)) != 0 ||
        (atomic_load_explicit(&sy_outcome_enabled, memory_order_relaxed) &&
         (rc = sy_outcome_apply_due(txn, cursor, ctx.now_ms)) != 0) ||
        (rc = sy_drift_step_flush(&st->drift, txn, ctx.now_ms)) != 0 ||
        (rc = sy_meta_put_u64(txn, "applier_cursor", cursor)) != 0 ||
        (rc = sy_records_add_stats(txn, &st->stats)) != 0)
        return rc;
    st->upto = i;
    return 0;
}

/* On whichever thread runs the step (the log writer's, when riding): the step's records and pushes stay decoded
 * in a cache until it ends, and every jansson value it makes lives in that thread's arena (arena.h), gone at the
 * end of the step. */
static int apply_step(void *arg, sy_txn_t *txn)
{
    sy_doc_cache_t cache = {0};
    sy_json_arena_begin();
    int rc = apply_events(arg, txn, &cache);
    sy_drift_step_release(&((apply_step_t *)arg)->drift);
    sy_doc_cache_dispose(&cache);
    sy_json_arena_end();
    return rc;
}

/* How long a step may hold the writer's commit: longer as the applier falls behind, so that the ingress slows down
 * to what can be applied instead of the lag growing without bound. */
static uint64_t ride_budget_ns(uint64_t lag)
{
    if (lag >= LAG_FULL)
        return RIDE_MAX_NS;
    return RIDE_MIN_NS + (RIDE_MAX_NS - RIDE_MIN_NS) * lag / LAG_FULL;
}

static void tell_listener(sy_applier_t *a)
{
    pthread_mutex_lock(&a->mutex);
    void (*fn)(void *) = a->on_commit;
    void *arg = a->on_commit_arg;
    pthread_mutex_unlock(&a->mutex);
    if (fn != NULL)
        fn(arg);
}

/*
 * Up to MAX_BATCHES batches, each decoded outside any write transaction and applied in steps. With a log writer
 * each step rides on its next commit (one fsync for the events and the records, and the writer never waits
 * behind a transaction of ours) and carries what fits in the ride budget; the rest rides on the following
 * commits. While a step rides, the next batch is decoded. Returns events applied (0: caught up), STALE_CURSOR,
 * or an error (the steps before it stay committed; a batch decoded ahead is dropped and decoded again).
 */
static int apply_batches(sy_applier_t *a, const sy_policy_t *policy, sy_writer_t *writer)
{
    static _Thread_local batch_t bufs[2];
    batch_t *cur = &bufs[0], *next = &bufs[1];
    int rc, applied = 0;

    next->n = 0;
    if ((rc = decode_batch(a, policy, 1, 0, cur)) != 0)
        goto Exit;
    if (cur->n == 0) {
        /* Caught up, with a cluster's admin change waiting at the cursor: a step of its own makes it. */
        apply_step_t st = {.a = a, .policy = policy, .decoded = cur->ev, .cursor = cur->after};
        if (cur->changes_due && (rc = sy_store_write(a->store, apply_step, &st)) == 0) {
            sy_drift_step_commit(&st.drift, sy_now_ms());
            rc = st.changes != 0;
            if (st.changes != 0) /* a merge folds queued pushes: delivery looks again */
                tell_listener(a);
        }
        goto Exit;
    }
    for (unsigned round = 0; cur->n != 0; ++round) {
        apply_step_t st = {.a = a, .policy = policy, .decoded = cur->ev, .n = cur->n, .cursor = cur->after};
        int decoded_next = round + 1 == MAX_BATCHES, decode_rc = 0;
        while (st.from != cur->n) {
            sy_rider_t rider = {.fn = apply_step, .arg = &st};
            rc = SY_ESHUTDOWN;
            if (writer != NULL) {
                st.budget_ns = ride_budget_ns(cur->last_seq - st.cursor);
                rc = sy_writer_ride_submit(writer, &rider);
            }
            if (rc == 0) {
                if (!decoded_next) { /* meanwhile: no transaction is open across the wait */
                    decode_rc = decode_batch(a, policy, 0, cur->ev[cur->n - 1].ev.seq, next);
                    decoded_next = 1;
                }
                sy_writer_ride_wait(writer, &rider);
                rc = rider.result;
            } else if (rc == SY_ESHUTDOWN) { /* no writer (any more): a transaction of our own, the whole batch */
                st.budget_ns = 0;
                rc = sy_store_write(a->store, apply_step, &st);
            }
            if (rc != 0)
                goto Exit;
            sy_drift_step_commit(&st.drift, sy_now_ms());
            if (st.upto == st.from && st.changes == 0) {
                /* Cannot happen: a step that ends before its first event has made a change. */
                sy_log(SY_LOG_ERROR, "applier: a step applied nothing at log seq %llu", (unsigned long long)st.cursor);
                rc = SY_EIO;
                goto Exit;
            }
            st.from = st.upto;
            if (st.upto != 0)
                st.cursor = cur->ev[st.upto - 1].ev.seq;
            if (st.stats.pushes_enqueued + st.stats.pushes_coalesced + st.changes != 0)
                tell_listener(a);
        }
        applied += (int)cur->n;
        decoded_dispose(cur->ev, cur->n);
        cur->n = 0;
        if (decode_rc != 0) {
            rc = decode_rc;
            goto Exit;
        }
        batch_t *t = cur;
        cur = next;
        next = t;
    }
    rc = applied;
Exit:
    decoded_dispose(cur->ev, cur->n);
    decoded_dispose(next->ev, next->n);
    cur->n = next->n = 0;
    return rc;
}

static void wait_ms(sy_applier_t *a, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ++ts.tv_sec;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&a->mutex);
    while (!a->notified && !a->stopping)
        if (pthread_cond_timedwait(&a->cond, &a->mutex, &ts) == ETIMEDOUT)
            break;
    a->notified = 0;
    pthread_mutex_unlock(&a->mutex);
}

/* Whether to stop; while paused (and not stopping), waits for a resume first. */
static int stopping(sy_applier_t *a)
{
    pthread_mutex_lock(&a->mutex);
    while (a->paused && !a->stopping)
        pthread_cond_wait(&a->cond, &a->mutex);
    int stop = a->stopping;
    pthread_mutex_unlock(&a->mutex);
    return stop;
}

void sy_applier_pause(sy_applier_t *a, int paused)
{
    pthread_mutex_lock(&a->mutex);
    if (a->paused != (paused != 0))
        sy_log(SY_LOG_INFO, "applier %s", paused ? "paused: events are logged, not applied, until resumed" : "resumed");
    a->paused = paused != 0;
    a->notified = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mutex);
}

int sy_applier_paused(sy_applier_t *a)
{
    pthread_mutex_lock(&a->mutex);
    int paused = a->paused;
    pthread_mutex_unlock(&a->mutex);
    return paused;
}

/* The applier's last write: the shape counts kept in memory (drift.h), so a stop loses none. */
static int flush_drift(void *arg, sy_txn_t *txn)
{
    sy_applier_t *a = arg;
    return sy_drift_flush_all(a->drift, txn, sy_now_ms());
}

static void *applier_main(void *arg)
{
    sy_thread_name("sy-applier");
    sy_applier_t *a = arg;
    /* On stop the batch in progress commits; the rest is applied at the next start (the cursor says where). */
    while (!stopping(a)) {
        /* A reference, not the mutex, for the whole batch: a reload or delivery never waits for our commits.
         * The batch in progress finishes under the policy it started with. */
        const sy_policy_t *policy = sy_applier_policy_ref(a);
        pthread_mutex_lock(&a->mutex);
        sy_writer_t *writer = a->writer;
        a->riding = writer != NULL;
        pthread_mutex_unlock(&a->mutex);
        int rc = apply_batches(a, policy, writer);
        pthread_mutex_lock(&a->mutex);
        a->riding = 0;
        pthread_cond_broadcast(&a->ridden);
        pthread_mutex_unlock(&a->mutex);
        sy_applier_policy_unref(a, policy);
        if (rc > 0 || (rc == SY_EFULL && sy_store_grow(a->store)))
            continue;
        if (rc < 0) {
            sy_log(SY_LOG_ERROR, "applier: %s; retrying in %d ms", sy_strerror(rc), FULL_WAIT_MS);
            wait_ms(a, FULL_WAIT_MS);
        } else {
            wait_ms(a, IDLE_WAIT_MS);
        }
    }
    if (sy_store_write(a->store, flush_drift, a) == 0)
        sy_drift_flushed_all(a->drift);
    return NULL;
}

int sy_applier_start(sy_applier_t **out, sy_store_t *store, sy_policy_t *policy, const char *policy_path)
{
    sy_applier_t *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->policy_path = strdup(policy_path)) == NULL) {
        free(a);
        return SY_ENOMEM;
    }
    a->store = store;
    a->policy = policy;
    if ((a->drift = sy_drift_new()) == NULL) {
        free(a->policy_path);
        free(a);
        return SY_ENOMEM;
    }
    a->policy_loaded_at_ms = sy_now_ms();
    pthread_mutex_init(&a->reload_mutex, NULL);
    pthread_mutex_init(&a->policy_mutex, NULL);
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->cond, NULL);
    pthread_cond_init(&a->ridden, NULL);
    /* Before any event is applied: CLI commands and replay jobs check their policy against this hash. */
    int rc = sy_policy_stamp_write(store, policy->hash);
    if (rc != 0) {
        sy_log(SY_LOG_ERROR, "applier: cannot record the policy hash in the data dir: %s", sy_strerror(rc));
        sy_applier_stop(a);
        return rc;
    }
    if (pthread_create(&a->tid, NULL, applier_main, a) != 0) {
        a->policy = NULL;
        sy_applier_stop(a);
        return SY_EIO;
    }
    *out = a;
    return 0;
}

void sy_applier_set_listener(sy_applier_t *a, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&a->mutex);
    a->on_commit = fn;
    a->on_commit_arg = arg;
    pthread_mutex_unlock(&a->mutex);
}

void sy_applier_set_writer(sy_applier_t *a, sy_writer_t *w)
{
    /* A batch rides on the writer it started with until it is done: wait for it before that writer may go. */
    pthread_mutex_lock(&a->mutex);
    a->writer = w;
    while (a->riding)
        pthread_cond_wait(&a->ridden, &a->mutex);
    pthread_mutex_unlock(&a->mutex);
}

void sy_applier_notify(sy_applier_t *a)
{
    pthread_mutex_lock(&a->mutex);
    a->notified = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mutex);
}

void sy_applier_stop(sy_applier_t *a)
{
    if (a == NULL)
        return;
    if (a->tid != 0) {
        pthread_mutex_lock(&a->mutex);
        a->stopping = 1;
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->mutex);
        pthread_join(a->tid, NULL);
    }
    sy_policy_destroy(a->policy);
    while (a->retired != NULL) { /* holders are gone once the server stopped */
        struct st_retired_t *r = a->retired;
        a->retired = r->next;
        sy_policy_destroy(r->policy);
        free(r);
    }
    pthread_cond_destroy(&a->ridden);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mutex);
    pthread_mutex_destroy(&a->policy_mutex);
    pthread_mutex_destroy(&a->reload_mutex);
    sy_drift_free(a->drift);
    free(a->policy_path);
    free(a);
}

int sy_applier_reload(sy_applier_t *a, sy_error_t *err)
{
    sy_policy_t *fresh, *old;
    pthread_mutex_lock(&a->reload_mutex);
    int rc = sy_policy_load(&fresh, a->policy_path, err);
    if (rc != 0)
        goto Exit;
    /* Recorded before the swap, with no policy_mutex held (locks.h): if it cannot be, the old policy stays, so the
     * stored hash never names a policy that is not running. */
    if ((rc = sy_policy_stamp_write(a->store, fresh->hash)) != 0) {
        sy_error_set(err, rc, a->policy_path, 0, 0, "cannot record the new policy's hash in the data dir: %s",
                     sy_strerror(rc));
        sy_policy_destroy(fresh);
        goto Exit;
    }
    /* Allocated before the swap: a referenced old policy must be kept, and there is no failing once swapped. */
    struct st_retired_t *keep = malloc(sizeof(*keep));
    if (keep == NULL) {
        sy_policy_destroy(fresh);
        rc = SY_ENOMEM;
        goto Exit;
    }
    pthread_mutex_lock(&a->policy_mutex);
    old = a->policy;
    a->policy = fresh;
    a->policy_loaded_at_ms = sy_now_ms();
    if (a->policy_refs != 0) {
        *keep = (struct st_retired_t){old, a->policy_refs, a->retired};
        a->retired = keep;
        keep = NULL;
        a->policy_refs = 0;
    }
    pthread_mutex_unlock(&a->policy_mutex);
    sy_log(SY_LOG_INFO, "policy reloaded from %s: hash %s (was %s)", a->policy_path, fresh->hash, old->hash);
    if (keep != NULL) { /* nobody holds the old one */
        free(keep);
        sy_policy_destroy(old);
    }
    sy_applier_notify(a);
Exit:
    pthread_mutex_unlock(&a->reload_mutex);
    return rc;
}

json_t *sy_applier_policy_info(sy_applier_t *a)
{
    pthread_mutex_lock(&a->policy_mutex);
    const sy_policy_t *p = a->policy;
    json_t *files = json_array();
    for (size_t i = 0; i != p->num_files; ++i)
        json_array_append_new(files, json_string(p->files[i]));
    json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "hash", p->hash, "path", a->policy_path, "files", files,
                          "fields", (json_int_t)p->num_fields, "sources", (json_int_t)p->num_sources, "loaded_at_ms",
                          (json_int_t)a->policy_loaded_at_ms);
    pthread_mutex_unlock(&a->policy_mutex);
    return o;
}

const sy_policy_t *sy_applier_policy_acquire(sy_applier_t *a)
{
    pthread_mutex_lock(&a->policy_mutex);
    return a->policy;
}

void sy_applier_policy_release(sy_applier_t *a)
{
    pthread_mutex_unlock(&a->policy_mutex);
}

const sy_policy_t *sy_applier_policy_ref(sy_applier_t *a)
{
    pthread_mutex_lock(&a->policy_mutex);
    const sy_policy_t *p = a->policy;
    ++a->policy_refs;
    pthread_mutex_unlock(&a->policy_mutex);
    return p;
}

void sy_applier_policy_unref(sy_applier_t *a, const sy_policy_t *p)
{
    sy_policy_t *dead = NULL;
    pthread_mutex_lock(&a->policy_mutex);
    if (p == a->policy) {
        --a->policy_refs;
    } else {
        for (struct st_retired_t **r = &a->retired; *r != NULL; r = &(*r)->next) {
            if ((*r)->policy != p)
                continue;
            if (--(*r)->refs == 0) {
                struct st_retired_t *gone = *r;
                *r = gone->next;
                dead = gone->policy;
                free(gone);
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->policy_mutex);
    sy_policy_destroy(dead); /* the last holder of a policy swapped out meanwhile */
}
