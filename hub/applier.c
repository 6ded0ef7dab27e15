#include "applier.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "observe.h"
#include "policy_stamp.h"
#include "records.h"

#define BATCH_EVENTS 256        /* per transaction at most ... */
#define BATCH_NS (5 * 1000000) /* ... and about this long: the log writer waits for the write lock meanwhile */
#define IDLE_WAIT_MS 500 /* a missed notification costs at most this */
#define FULL_WAIT_MS 1000

struct st_sy_applier_t {
    sy_store_t *store;
    char *policy_path;
    pthread_mutex_t reload_mutex; /* one reload at a time: the stored hash is the one swapped in last */
    pthread_mutex_t policy_mutex; /* held while a batch applies; a reload waits for it */
    sy_policy_t *policy;
    int64_t policy_loaded_at_ms;
    pthread_t tid;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int notified;
    int stopping;
    void (*on_commit)(void *arg);
    void *on_commit_arg;
};

/* One batch in one transaction. Returns events applied (0: caught up) or a negative error. */
static int apply_batch(sy_applier_t *a)
{
    sy_txn_t *txn;
    sy_apply_stats_t stats = {0};
    uint64_t cursor;
    sy_event_t ev;
    int rc, n = 0;

    if ((rc = sy_txn_begin(a->store, 1, &txn)) != 0)
        return rc;
    if ((rc = sy_meta_get_u64(txn, "applier_cursor", &cursor)) != 0)
        goto Abort;
    sy_apply_ctx_t ctx = {.txn = txn, .policy = a->policy, .now_ms = sy_now_ms(), .stats = &stats};
    uint64_t started = sy_mono_ns();
    while (n != BATCH_EVENTS && sy_mono_ns() - started < BATCH_NS && (rc = sy_store_event_next(txn, cursor, &ev)) == 0) {
        sy_observation_t *obs;
        size_t nobs;
        ctx.seq = ev.seq;
        const char *why = NULL;
        if ((rc = sy_observe(a->policy, &ev, &obs, &nobs, &why)) == SY_EPARSE) {
            /* Ingress validates what it logs, so this is an event logged before a check existed (or a bug): it
             * cannot be applied, and retrying it would stop the applier for good. Recorded, counted, alerted. */
            nobs = 0;
            obs = NULL;
            if ((rc = sy_records_skip(&ctx, &ev, why)) != 0)
                goto Abort;
        } else if (rc != 0) {
            goto Abort;
        } else if (nobs == 0)
            ++stats.unmapped_events;
        for (size_t i = 0; i != nobs && rc == 0; ++i)
            rc = sy_records_apply(&ctx, &obs[i]);
        sy_observations_free(obs, nobs);
        if (rc != 0)
            goto Abort;
        cursor = ev.seq;
        ++n;
    }
    if (rc != SY_ENOTFOUND && rc != 0)
        goto Abort;
    if (n == 0) {
        sy_txn_abort(txn);
        return 0;
    }
    if ((rc = sy_meta_put_u64(txn, "applier_cursor", cursor)) != 0 || (rc = sy_records_add_stats(txn, &stats)) != 0)
        goto Abort;
    if ((rc = sy_txn_commit(txn)) != 0)
        return rc;
    if (stats.pushes_enqueued + stats.pushes_coalesced != 0) {
        pthread_mutex_lock(&a->mutex);
        void (*fn)(void *) = a->on_commit;
        void *arg = a->on_commit_arg;
        pthread_mutex_unlock(&a->mutex);
        if (fn != NULL)
            fn(arg);
    }
    return n;
Abort:
    sy_txn_abort(txn);
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

static int stopping(sy_applier_t *a)
{
    pthread_mutex_lock(&a->mutex);
    int stop = a->stopping;
    pthread_mutex_unlock(&a->mutex);
    return stop;
}

static void *applier_main(void *arg)
{
    sy_applier_t *a = arg;
    /* On stop the batch in progress commits; the rest is applied at the next start (the cursor says where). */
    while (!stopping(a)) {
        pthread_mutex_lock(&a->policy_mutex);
        int rc = apply_batch(a);
        pthread_mutex_unlock(&a->policy_mutex);
        if (rc > 0 || (rc == SY_EFULL && sy_store_grow(a->store)))
            continue;
        if (rc < 0) {
            sy_log(SY_LOG_ERROR, "applier: %s; retrying in %d ms", sy_strerror(rc), FULL_WAIT_MS);
            wait_ms(a, FULL_WAIT_MS);
        } else {
            wait_ms(a, IDLE_WAIT_MS);
        }
    }
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
    a->policy_loaded_at_ms = sy_now_ms();
    pthread_mutex_init(&a->reload_mutex, NULL);
    pthread_mutex_init(&a->policy_mutex, NULL);
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->cond, NULL);
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
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->mutex);
    pthread_mutex_destroy(&a->policy_mutex);
    pthread_mutex_destroy(&a->reload_mutex);
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
    pthread_mutex_lock(&a->policy_mutex);
    old = a->policy;
    a->policy = fresh;
    a->policy_loaded_at_ms = sy_now_ms();
    pthread_mutex_unlock(&a->policy_mutex);
    sy_log(SY_LOG_INFO, "policy reloaded from %s: hash %s (was %s)", a->policy_path, fresh->hash, old->hash);
    sy_policy_destroy(old);
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
