/*
 * serve's reconcile jobs and schedule (see reconcile_jobs.h).
 *
 * Locks: jobs->mutex is a leaf (hub/base/locks.h): held only to read or change the job table, never across a fetch,
 * an append or a wait for the writer.
 */
#include "reconcile_jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MAX_KEPT 16 /* finished jobs kept for GET /admin/api/reconcile/ID */

typedef struct st_job_t {
    char id[24];
    sy_reconcile_spec_t spec;
    sy_reconcile_result_t result;
    int64_t started_at, ended_at;
    int scheduled;
    int state; /* 0 running, 1 done, 2 failed */
} job_t;

struct st_sy_reconcile_jobs_t {
    const sy_config_t *conf;
    sy_store_t *store;
    sy_writer_t *writer;
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* the scheduler's sleep; signalled at destroy */
    job_t *jobs[MAX_KEPT]; /* newest first */
    size_t num_jobs;
    job_t *running;
    pthread_t runner; /* the running job's thread (joined by the next start or destroy) */
    int has_runner;
    _Atomic int cancel;
    int stopping;
    uint64_t next_id;
    pthread_t scheduler;
    int has_scheduler;
    int64_t *last_scheduled; /* per source: when its last scheduled run started (0: never) */
};

/* --- appending through the log writer --------------------------------------------------------------------------- */

/* sy_reconcile_append_fn: one writer job, waited for (this thread holds no lock nor transaction meanwhile). */
static int append_via_writer(void *arg, sy_append_t *items, size_t n)
{
    sy_reconcile_jobs_t *jobs = arg;
    return sy_writer_append(jobs->writer, items, n, NULL);
}

/* --- jobs --------------------------------------------------------------------------------------------------------- */

static void job_free(job_t *j)
{
    if (j == NULL)
        return;
    json_decref(j->result.missing_events);
    free(j);
}

static void *run_job(void *arg)
{
    sy_thread_name("sy-reconcile");
    sy_reconcile_jobs_t *jobs = arg;
    pthread_mutex_lock(&jobs->mutex);
    job_t *j = jobs->running;
    pthread_mutex_unlock(&jobs->mutex);

    int rc = sy_reconcile_run(jobs->conf, jobs->store, &j->spec, append_via_writer, jobs, &jobs->cancel, &j->result);
    if (rc == 0)
        sy_log(SY_LOG_INFO, "reconcile %s (%s): %llu listed, %llu missing, %llu appended%s", j->spec.source, j->id,
               (unsigned long long)atomic_load(&j->result.listed), (unsigned long long)atomic_load(&j->result.missing),
               (unsigned long long)atomic_load(&j->result.appended), j->spec.dry_run ? " (dry run)" : "");
    else
        sy_log(SY_LOG_ERROR, "reconcile %s (%s) stopped: %s", j->spec.source, j->id, j->result.error);

    pthread_mutex_lock(&jobs->mutex);
    j->ended_at = sy_now_ms();
    j->state = rc == 0 ? 1 : 2;
    jobs->running = NULL;
    pthread_mutex_unlock(&jobs->mutex);
    return NULL;
}

/* Joins a finished runner thread. Called with mutex held and running == NULL (the thread is past its last lock). */
static void reap_runner(sy_reconcile_jobs_t *jobs)
{
    if (jobs->has_runner && jobs->running == NULL) {
        pthread_join(jobs->runner, NULL);
        jobs->has_runner = 0;
    }
}

static int start_locked(sy_reconcile_jobs_t *jobs, const sy_reconcile_spec_t *spec, int scheduled, char *id,
                        size_t idlen, char *err, size_t errlen)
{
    if (jobs->stopping) {
        snprintf(err, errlen, "the hub is stopping");
        return SY_ESHUTDOWN;
    }
    if (jobs->running != NULL) {
        snprintf(err, errlen, "reconcile %s of %s is running: one at a time", jobs->running->id,
                 jobs->running->spec.source);
        return SY_EFULL;
    }
    reap_runner(jobs);
    int rc = sy_reconcile_check(jobs->conf, spec, err, errlen);
    if (rc != 0)
        return rc;
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->result.missing_events = json_array()) == NULL) {
        job_free(j);
        snprintf(err, errlen, "out of memory");
        return SY_ENOMEM;
    }
    snprintf(j->id, sizeof(j->id), "rc_%llu", (unsigned long long)++jobs->next_id);
    j->spec = *spec;
    j->scheduled = scheduled;
    j->started_at = sy_now_ms();
    atomic_store(&jobs->cancel, 0);
    jobs->running = j;
    if (pthread_create(&jobs->runner, NULL, run_job, jobs) != 0) {
        jobs->running = NULL;
        job_free(j);
        snprintf(err, errlen, "cannot start a thread");
        return SY_ENOMEM;
    }
    jobs->has_runner = 1;
    if (jobs->num_jobs == MAX_KEPT)
        job_free(jobs->jobs[--jobs->num_jobs]);
    memmove(jobs->jobs + 1, jobs->jobs, jobs->num_jobs * sizeof(jobs->jobs[0]));
    jobs->jobs[0] = j;
    ++jobs->num_jobs;
    snprintf(id, idlen, "%s", j->id);
    return 0;
}

int sy_reconcile_jobs_start(sy_reconcile_jobs_t *jobs, const sy_reconcile_spec_t *spec, char *id, size_t idlen,
                            char *err, size_t errlen)
{
    pthread_mutex_lock(&jobs->mutex);
    int rc = start_locked(jobs, spec, 0, id, idlen, err, errlen);
    pthread_mutex_unlock(&jobs->mutex);
    return rc;
}

#define RECOVERY_MARGIN_MS (5 * 60 * 1000) /* webhooks sent just before the breaker opened may be lost too */

void sy_reconcile_jobs_on_recovered(void *arg, const char *source, int64_t since_ms)
{
    sy_reconcile_jobs_t *jobs = arg;
    sy_reconcile_spec_t spec = {.since_ms = since_ms - RECOVERY_MARGIN_MS};
    char id[24], err[256];
    snprintf(spec.source, sizeof(spec.source), "%s", source);
    if (sy_reconcile_check(jobs->conf, &spec, err, sizeof(err)) != 0)
        return; /* a tool that cannot list its events: nothing to heal from */
    pthread_mutex_lock(&jobs->mutex);
    int rc = start_locked(jobs, &spec, 1, id, sizeof(id), err, sizeof(err));
    pthread_mutex_unlock(&jobs->mutex);
    if (rc == 0)
        sy_log(SY_LOG_INFO, "reconcile %s (%s): %s answers again after a long outage: healing since then", source, id,
               source);
    else
        sy_log(SY_LOG_WARN, "reconcile %s after its outage not started: %s", source, err);
}

static json_t *job_json(const job_t *j)
{
    static const char *const states[] = {"running", "done", "failed"};
    json_t *doc = sy_reconcile_result_json(&j->spec, &j->result);
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "id", json_string(j->id));
    json_object_set_new(doc, "state", json_string(states[j->state]));
    json_object_set_new(doc, "scheduled", json_boolean(j->scheduled));
    json_object_set_new(doc, "started_at", json_integer(j->started_at));
    json_object_set_new(doc, "ended_at", j->ended_at != 0 ? json_integer(j->ended_at) : json_null());
    return doc;
}

json_t *sy_reconcile_jobs_get(sy_reconcile_jobs_t *jobs, const char *id)
{
    json_t *doc = NULL;
    pthread_mutex_lock(&jobs->mutex);
    for (size_t i = 0; i != jobs->num_jobs; ++i) {
        if (strcmp(jobs->jobs[i]->id, id) == 0) {
            doc = job_json(jobs->jobs[i]);
            break;
        }
    }
    pthread_mutex_unlock(&jobs->mutex);
    return doc;
}

json_t *sy_reconcile_jobs_list(sy_reconcile_jobs_t *jobs)
{
    json_t *list = json_array();
    pthread_mutex_lock(&jobs->mutex);
    for (size_t i = 0; list != NULL && i != jobs->num_jobs; ++i)
        json_array_append_new(list, job_json(jobs->jobs[i]));
    pthread_mutex_unlock(&jobs->mutex);
    return list;
}

/* --- the schedule ------------------------------------------------------------------------------------------------- */

/*
 * Every source with reconcile.every gets a run that often, over twice that time back (so a run that failed or was
 * skipped because another one ran is covered by the next), after a first delay of one period from the start: a
 * hub that just started has its webhooks' retries still coming.
 */
static void *schedule_main(void *arg)
{
    sy_thread_name("sy-reconcile-at");
    sy_reconcile_jobs_t *jobs = arg;
    int64_t started = sy_now_ms();
    pthread_mutex_lock(&jobs->mutex);
    while (!jobs->stopping) {
        int64_t now = sy_now_ms(), next = now + 60000;
        for (size_t i = 0; i != jobs->conf->num_sources; ++i) {
            const sy_source_conf_t *src = &jobs->conf->sources[i];
            if (src->reconcile_every_ms <= 0)
                continue;
            int64_t due = (jobs->last_scheduled[i] != 0 ? jobs->last_scheduled[i] : started) + src->reconcile_every_ms;
            if (due <= now) {
                sy_reconcile_spec_t spec = {.since_ms = now - 2 * src->reconcile_every_ms};
                char id[24], err[256];
                snprintf(spec.source, sizeof(spec.source), "%s", src->name);
                if (start_locked(jobs, &spec, 1, id, sizeof(id), err, sizeof(err)) == 0)
                    jobs->last_scheduled[i] = now;
                else
                    due = now + 1000; /* another run holds the slot: try again in a second */
            }
            if (due < next)
                next = due;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = next - sy_now_ms();
        if (wait < 10)
            wait = 10;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ++ts.tv_sec;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&jobs->cond, &jobs->mutex, &ts);
        reap_runner(jobs);
    }
    pthread_mutex_unlock(&jobs->mutex);
    return NULL;
}

sy_reconcile_jobs_t *sy_reconcile_jobs_create(const sy_config_t *conf, sy_store_t *store, sy_writer_t *writer)
{
    sy_reconcile_jobs_t *jobs = calloc(1, sizeof(*jobs));
    if (jobs == NULL || (jobs->last_scheduled = calloc(conf->num_sources + 1, sizeof(int64_t))) == NULL) {
        free(jobs);
        return NULL;
    }
    jobs->conf = conf;
    jobs->store = store;
    jobs->writer = writer;
    pthread_mutex_init(&jobs->mutex, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    int scheduled = 0;
    for (size_t i = 0; i != conf->num_sources; ++i)
        scheduled |= conf->sources[i].reconcile_every_ms > 0;
    if (scheduled) {
        if (pthread_create(&jobs->scheduler, NULL, schedule_main, jobs) != 0) {
            sy_reconcile_jobs_destroy(jobs);
            return NULL;
        }
        jobs->has_scheduler = 1;
    }
    return jobs;
}

void sy_reconcile_jobs_destroy(sy_reconcile_jobs_t *jobs)
{
    if (jobs == NULL)
        return;
    pthread_mutex_lock(&jobs->mutex);
    jobs->stopping = 1;
    atomic_store(&jobs->cancel, 1);
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mutex);
    if (jobs->has_scheduler)
        pthread_join(jobs->scheduler, NULL);
    if (jobs->has_runner) /* the scheduler may have reaped it: has_runner says */
        pthread_join(jobs->runner, NULL);
    for (size_t i = 0; i != jobs->num_jobs; ++i)
        job_free(jobs->jobs[i]);
    pthread_cond_destroy(&jobs->cond);
    pthread_mutex_destroy(&jobs->mutex);
    free(jobs->last_scheduled);
    free(jobs);
}
