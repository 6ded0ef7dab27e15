#include "writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct st_sy_writer_t {
    sy_store_t *store;
    sy_metrics_t *metrics;
    unsigned max_batch;
    pthread_t tid;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    sy_log_job_t *head, **tail; /* FIFO of submitted jobs */
    sy_rider_t *riders;         /* waiting to ride on the next commit (sy_writer_ride) */
    pthread_cond_t ridden;      /* broadcast after each commit that carried riders */
    int stopping;
    sy_append_t *scratch; /* contiguous copy of a batch's items, reused */
    void (*on_commit)(void *arg);
    void *on_commit_arg;
    size_t scratch_cap;
};

int sy_writer_submit(sy_writer_t *w, sy_log_job_t *job)
{
    int wake;
    job->next = NULL;
    pthread_mutex_lock(&w->mutex);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mutex);
        return SY_ESHUTDOWN;
    }
    wake = w->head == NULL;
    *w->tail = job;
    w->tail = &job->next;
    pthread_mutex_unlock(&w->mutex);
    if (wake)
        pthread_cond_signal(&w->cond);
    return 0;
}

/* Takes whole jobs from the queue until max_batch events are gathered (at least one job). */
static sy_log_job_t *take_batch(sy_writer_t *w, size_t *num_items)
{
    sy_log_job_t *first = w->head, *last = NULL, *j;
    size_t n = 0;
    for (j = w->head; j != NULL && (n == 0 || n + j->num_items <= w->max_batch); j = j->next) {
        n += j->num_items;
        last = j;
    }
    w->head = last->next;
    if (w->head == NULL)
        w->tail = &w->head;
    last->next = NULL;
    *num_items = n;
    return first;
}

static int ensure_scratch(sy_writer_t *w, size_t n)
{
    if (n <= w->scratch_cap)
        return 0;
    sy_append_t *p = realloc(w->scratch, n * sizeof(*p));
    if (p == NULL)
        return SY_ENOMEM;
    w->scratch = p;
    w->scratch_cap = n;
    return 0;
}

static void commit_batch(sy_writer_t *w, sy_log_job_t *jobs, size_t num_items, sy_rider_t *riders)
{
    sy_log_job_t *j, *next;
    size_t off = 0;
    int rc;

    /* A job's own rider joins the commit's riders: its writes commit with its items or not at all. */
    for (j = jobs; j != NULL; j = j->next)
        if (j->rider != NULL) {
            j->rider->next = riders;
            riders = j->rider;
        }
    if ((rc = ensure_scratch(w, num_items)) == 0) {
        for (j = jobs; j != NULL; j = j->next) {
            memcpy(w->scratch + off, j->items, j->num_items * sizeof(*j->items));
            off += j->num_items;
        }
        uint64_t t0 = sy_mono_ns();
        rc = sy_store_append_riding(w->store, w->scratch, num_items, riders);
        if (num_items != 0) { /* a commit of riders only is the rider's to measure and report */
            sy_histogram_observe(&w->metrics->commit_seconds, (sy_mono_ns() - t0) / 1000);
            sy_histogram_observe(&w->metrics->commit_batch_events, num_items);
        }
    } else {
        for (sy_rider_t *r = riders; r != NULL; r = r->next)
            r->result = rc;
    }
    if (jobs == NULL)
        return;
    if (rc == 0 && w->on_commit != NULL)
        w->on_commit(w->on_commit_arg);
    if (rc == 0) {
        off = 0;
        for (j = jobs; j != NULL; j = j->next) {
            memcpy(j->items, w->scratch + off, j->num_items * sizeof(*j->items));
            off += j->num_items;
        }
    } else if (rc == SY_EFULL) {
        atomic_fetch_add_explicit(&w->metrics->commit_errors_full, 1, memory_order_relaxed);
        sy_log(SY_LOG_ERROR, "log writer: storage full, %zu events refused with 503 (raise storage.map_size_max "
                             "or free disk space)", num_items);
    } else {
        atomic_fetch_add_explicit(&w->metrics->commit_errors_io, 1, memory_order_relaxed);
        sy_log(SY_LOG_ERROR, "log writer: commit failed (%s), %zu events refused with 503", sy_strerror(rc), num_items);
    }
    for (j = jobs; j != NULL; j = next) {
        next = j->next; /* on_done hands the job back: do not touch it afterwards */
        j->result = rc;
        j->on_done(j);
    }
}

static void *writer_main(void *arg)
{
    sy_thread_name("sy-writer");
    sy_writer_t *w = arg;
    pthread_mutex_lock(&w->mutex);
    for (;;) {
        while (w->head == NULL && w->riders == NULL && !w->stopping)
            pthread_cond_wait(&w->cond, &w->mutex);
        if (w->head == NULL && w->riders == NULL && w->stopping)
            break;
        size_t n = 0;
        sy_log_job_t *jobs = w->head != NULL ? take_batch(w, &n) : NULL;
        sy_rider_t *riders = w->riders;
        w->riders = NULL;
        /* Submitters keep queueing while we commit: that is what makes the next batch large. */
        pthread_mutex_unlock(&w->mutex);
        commit_batch(w, jobs, n, riders);
        pthread_mutex_lock(&w->mutex);
        if (riders != NULL) {
            for (sy_rider_t *r = riders, *next; r != NULL; r = next) {
                next = r->next; /* once done, the rider is its owner's again */
                r->done = 1;
            }
            pthread_cond_broadcast(&w->ridden);
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

int sy_writer_ride_submit(sy_writer_t *w, sy_rider_t *rider)
{
    pthread_mutex_lock(&w->mutex);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mutex);
        return SY_ESHUTDOWN;
    }
    int wake = w->head == NULL && w->riders == NULL;
    rider->done = 0;
    rider->next = w->riders;
    w->riders = rider;
    pthread_mutex_unlock(&w->mutex);
    if (wake)
        pthread_cond_signal(&w->cond);
    return 0;
}

void sy_writer_ride_wait(sy_writer_t *w, sy_rider_t *rider)
{
    pthread_mutex_lock(&w->mutex);
    while (!rider->done)
        pthread_cond_wait(&w->ridden, &w->mutex);
    pthread_mutex_unlock(&w->mutex);
}

int sy_writer_ride(sy_writer_t *w, sy_rider_t *rider)
{
    int rc = sy_writer_ride_submit(w, rider);
    if (rc == 0)
        sy_writer_ride_wait(w, rider);
    return rc;
}

typedef struct st_wait_job_t {
    sy_log_job_t super;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int done;
} wait_job_t;

static void on_appended(sy_log_job_t *job)
{
    wait_job_t *w = (wait_job_t *)job;
    pthread_mutex_lock(&w->mutex);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

int sy_writer_append(sy_writer_t *w, sy_append_t *items, size_t n, sy_rider_t *rider)
{
    wait_job_t j = {.super = {.items = items, .num_items = n, .rider = rider, .on_done = on_appended}};
    pthread_mutex_init(&j.mutex, NULL);
    pthread_cond_init(&j.cond, NULL);
    int rc = sy_writer_submit(w, &j.super);
    if (rc == 0) {
        pthread_mutex_lock(&j.mutex);
        while (!j.done)
            pthread_cond_wait(&j.cond, &j.mutex);
        pthread_mutex_unlock(&j.mutex);
        rc = j.super.result;
    }
    pthread_cond_destroy(&j.cond);
    pthread_mutex_destroy(&j.mutex);
    return rc;
}

int sy_writer_ride_sink(void *writer, sy_rider_t *rider)
{
    return sy_writer_ride(writer, rider);
}

void sy_writer_set_listener(sy_writer_t *w, void (*fn)(void *arg), void *arg)
{
    w->on_commit = fn;
    w->on_commit_arg = arg;
}

int sy_writer_start(sy_writer_t **out, sy_store_t *store, sy_metrics_t *metrics, unsigned max_batch)
{
    sy_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SY_ENOMEM;
    w->store = store;
    w->metrics = metrics;
    w->max_batch = max_batch != 0 ? max_batch : 1;
    w->tail = &w->head;
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->ridden, NULL);
    if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->ridden);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        free(w);
        return SY_EIO;
    }
    *out = w;
    return 0;
}

void sy_writer_stop(sy_writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mutex);
    w->stopping = 1;
    pthread_mutex_unlock(&w->mutex);
    pthread_cond_signal(&w->cond);
    pthread_join(w->tid, NULL);
    pthread_cond_destroy(&w->ridden);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    free(w->scratch);
    free(w);
}
