/*
 * Background data-health report (see health_cache.h).
 */
#include "health_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ops.h"
#include "records.h"

#define MIN_INTERVAL_MS 5000
#define INTERVAL_FACTOR 10 /* interval >= 10 x scan duration: the scans take at most ~10 % of a core */
#define WAIT_MAX_S 60
#define QUICK_MS 25 /* a scan this short is waited for when the data changed: small data dirs stay exact */

/* What the scanned figures depend on, read in O(1): when none of it moved, the last result is still the answer. */
typedef struct st_fingerprint_t {
    uint64_t v[5]; /* applier cursor; entries in records, xref, suggest, audit */
} fingerprint_t;

static int fingerprint(sy_txn_t *txn, fingerprint_t *fp)
{
    static const sy_db_t dbs[] = {SY_DB_RECORDS, SY_DB_XREF, SY_DB_SUGGEST, SY_DB_AUDIT};
    int rc = sy_meta_get_u64(txn, "applier_cursor", &fp->v[0]);
    for (size_t i = 0; i != 4 && rc == 0; ++i)
        rc = sy_txn_count(txn, dbs[i], &fp->v[1 + i]);
    return rc;
}

struct st_sy_health_cache_t {
    sy_store_t *store;
    sy_applier_t *applier;
    const sy_config_t *conf; /* outlives the cache (serve's) */
    pthread_t tid;
    pthread_mutex_t mutex; /* leaf lock (locks.h): guards everything below */
    pthread_cond_t cond;   /* wakes the thread (wanted, stopping) and waiting requests (done) */
    int stopping, wanted;
    uint64_t started, done; /* scans begun and ended (failed ones included) */
    json_t *report;         /* the last successful result: never modified once published */
    int64_t computed_at_ms; /* when the scan that made it began */
    int64_t took_ms;
    fingerprint_t fp; /* of the data when the scan that made report began */
};

static void *health_main(void *arg)
{
    sy_thread_name("sy-health");
    sy_health_cache_t *c = arg;
    pthread_mutex_lock(&c->mutex);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->cond, &c->mutex);
        if (c->stopping)
            break;
        c->wanted = 0;
        ++c->started;
        pthread_mutex_unlock(&c->mutex);

        /* No lock of ours while scanning: a policy reference (not its mutex) and short read transactions. */
        int64_t t0 = sy_now_ms();
        fingerprint_t fp = {{0}};
        sy_txn_t *txn;
        const sy_policy_t *p = sy_applier_policy_ref(c->applier);
        json_t *report = NULL;
        if (sy_txn_begin(c->store, 0, &txn) == 0) {
            int frc = fingerprint(txn, &fp); /* before the scan: a change during it makes the next request rescan */
            sy_txn_abort(txn);
            if (frc == 0)
                report = sy_health_report_chunked(c->store, p, c->conf);
        }
        sy_applier_policy_unref(c->applier, p);
        int64_t took = sy_now_ms() - t0;
        if (report == NULL)
            sy_log(SY_LOG_ERROR, "health: cannot read the records; the last report stays (if any)");

        pthread_mutex_lock(&c->mutex);
        if (report != NULL) {
            json_t *old = c->report;
            c->report = report;
            c->computed_at_ms = t0;
            c->took_ms = took;
            c->fp = fp;
            json_decref(old); /* its last reader may still hold a reference: freed then */
        }
        ++c->done;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mutex);
    return NULL;
}

sy_health_cache_t *sy_health_cache_create(sy_store_t *store, sy_applier_t *applier, const sy_config_t *conf)
{
    sy_health_cache_t *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    if (c == NULL)
        return NULL;
    c->store = store;
    c->applier = applier;
    c->conf = conf;
    c->wanted = 1; /* the first report is ready before the first request, unless the records are many */
    pthread_mutex_init(&c->mutex, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->tid, NULL, health_main, c) != 0) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mutex);
        free(c);
        return NULL;
    }
    return c;
}

void sy_health_cache_destroy(sy_health_cache_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mutex);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    pthread_join(c->tid, NULL);
    json_decref(c->report);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mutex);
    free(c);
}

json_t *sy_health_cache_get(sy_health_cache_t *c, int64_t max_age_ms)
{
    struct timespec deadline;
    json_t *report = NULL, *counters = NULL;
    int64_t now = sy_now_ms(), computed_at = 0;
    fingerprint_t fp = {{0}};
    uint64_t cursor = 0, last = 0, queued = 0, dead = 0;
    sy_txn_t *txn;
    /* The small figures are read now (O(1) each) rather than served from the scan; the transaction ends before
     * any waiting below (locks.h: no waiting with a transaction open). */
    int have_now = sy_txn_begin(c->store, 0, &txn) == 0;
    if (have_now) {
        have_now = fingerprint(txn, &fp) == 0 && sy_store_last_seq(txn, &last) == 0 &&
                   sy_txn_count(txn, SY_DB_OUTBOX, &queued) == 0 && sy_txn_count(txn, SY_DB_DEAD, &dead) == 0;
        cursor = fp.v[0];
        counters = have_now ? sy_records_stats(txn) : NULL;
        sy_txn_abort(txn);
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WAIT_MAX_S;

    pthread_mutex_lock(&c->mutex);
    int64_t interval = c->took_ms * INTERVAL_FACTOR > MIN_INTERVAL_MS ? c->took_ms * INTERVAL_FACTOR : MIN_INTERVAL_MS;
    int unchanged = have_now && c->report != NULL && memcmp(&fp, &c->fp, sizeof(fp)) == 0;
    int fresh_enough;
    if (c->report == NULL)
        fresh_enough = 0;
    else if (max_age_ms < 0) /* the default: the last result, unless the data changed and a scan is quick */
        fresh_enough = unchanged || c->took_ms > QUICK_MS;
    else
        fresh_enough = max_age_ms > 0 && now - c->computed_at_ms <= max_age_ms;
    if (!fresh_enough) {
        /* Wait for a scan begun after now: the one running (if any) began earlier and may not see our writes. */
        uint64_t target = c->started + 1;
        c->wanted = 1;
        pthread_cond_broadcast(&c->cond);
        while (c->done < target && !c->stopping)
            if (pthread_cond_timedwait(&c->cond, &c->mutex, &deadline) == ETIMEDOUT)
                break;
    } else if (!unchanged && now - c->computed_at_ms > interval && c->started == c->done) {
        c->wanted = 1; /* served as it is; a newer one for the next request */
        pthread_cond_broadcast(&c->cond);
    }
    if (c->report != NULL) {
        report = json_copy(c->report); /* shallow: the published one is never modified */
        computed_at = c->computed_at_ms;
    }
    int refreshing = c->wanted || c->started != c->done;
    pthread_mutex_unlock(&c->mutex);
    if (report == NULL) {
        json_decref(counters);
        return NULL;
    }
    if (have_now) {
        json_object_set_new(report, "applier", json_pack("{s:I, s:I}", "cursor", (json_int_t)cursor, "lag", (json_int_t)(last - cursor)));
        json_object_set_new(report, "queued_pushes", json_integer((json_int_t)queued));
        json_object_set_new(report, "dead_letters", json_integer((json_int_t)dead));
        if (counters != NULL)
            json_object_set_new(report, "counters", counters);
    }
    json_object_set_new(report, "computed_at_ms", json_integer(computed_at));
    json_object_set_new(report, "age_s", json_real((double)(sy_now_ms() - computed_at) / 1000.0));
    json_object_set_new(report, "refreshing", json_boolean(refreshing));
    return report;
}
