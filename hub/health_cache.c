/*
 * Background data-health report (see health_cache.h).
 */
#include "health_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "ops.h"

#define MIN_INTERVAL_MS 5000
#define INTERVAL_FACTOR 10 /* interval >= 10 x scan duration: the scans take at most ~10 % of a core */
#define WAIT_MAX_S 60

struct st_sy_health_cache_t {
    sy_store_t *store;
    sy_applier_t *applier;
    pthread_t tid;
    pthread_mutex_t mutex; /* leaf lock (locks.h): guards everything below */
    pthread_cond_t cond;   /* wakes the thread (wanted, stopping) and waiting requests (done) */
    int stopping, wanted;
    uint64_t started, done; /* scans begun and ended (failed ones included) */
    json_t *report;         /* the last successful result: never modified once published */
    int64_t computed_at_ms; /* when the scan that made it began */
    int64_t took_ms;
};

static void *health_main(void *arg)
{
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
        const sy_policy_t *p = sy_applier_policy_ref(c->applier);
        json_t *report = sy_health_report_chunked(c->store, p);
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
            json_decref(old); /* its last reader may still hold a reference: freed then */
        }
        ++c->done;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mutex);
    return NULL;
}

sy_health_cache_t *sy_health_cache_create(sy_store_t *store, sy_applier_t *applier)
{
    sy_health_cache_t *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    if (c == NULL)
        return NULL;
    c->store = store;
    c->applier = applier;
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
    json_t *report = NULL;
    int64_t now = sy_now_ms(), computed_at = 0;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WAIT_MAX_S;

    pthread_mutex_lock(&c->mutex);
    int64_t interval = c->took_ms * INTERVAL_FACTOR > MIN_INTERVAL_MS ? c->took_ms * INTERVAL_FACTOR : MIN_INTERVAL_MS;
    int fresh_enough = c->report != NULL && (max_age_ms < 0 || (max_age_ms > 0 && now - c->computed_at_ms <= max_age_ms));
    if (!fresh_enough) {
        /* Wait for a scan begun after now: the one running (if any) began earlier and may not see our writes. */
        uint64_t target = c->started + 1;
        c->wanted = 1;
        pthread_cond_broadcast(&c->cond);
        while (c->done < target && !c->stopping)
            if (pthread_cond_timedwait(&c->cond, &c->mutex, &deadline) == ETIMEDOUT)
                break;
    } else if (now - c->computed_at_ms > interval && c->started == c->done) {
        c->wanted = 1; /* served as it is; a newer one for the next request */
        pthread_cond_broadcast(&c->cond);
    }
    if (c->report != NULL) {
        report = json_copy(c->report); /* shallow: the published one is never modified */
        computed_at = c->computed_at_ms;
    }
    int refreshing = c->wanted || c->started != c->done;
    pthread_mutex_unlock(&c->mutex);
    if (report == NULL)
        return NULL;
    json_object_set_new(report, "computed_at_ms", json_integer(computed_at));
    json_object_set_new(report, "age_s", json_real((double)(sy_now_ms() - computed_at) / 1000.0));
    json_object_set_new(report, "refreshing", json_boolean(refreshing));
    return report;
}
