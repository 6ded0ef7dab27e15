/*
 * The log writer: one thread that group-commits appends.
 *
 * Ingress threads submit jobs (one per request, each with one or more events). The writer takes every job
 * that has queued (up to max_batch events), appends them in one LMDB transaction, commits (fsync) and then
 * calls each job's on_done on the writer thread. Throughput is therefore not bounded by one fsync per request.
 */
#ifndef SY_WRITER_H
#define SY_WRITER_H

#include "common.h"
#include "metrics.h"
#include "store.h"

typedef struct st_sy_writer_t sy_writer_t;
typedef struct st_sy_log_job_t sy_log_job_t;

struct st_sy_log_job_t {
    sy_log_job_t *next; /* writer queue link (owned by the writer while queued) */
    sy_append_t *items;
    size_t num_items;
    int result; /* set before on_done: 0, SY_EFULL, SY_EIO, SY_ETOOBIG or SY_ESHUTDOWN */
    /* Optional (NULL: none): runs in the same commit as this job's items, after them (the cluster consumer's
     * stream cursor). Its result is set when on_done runs; its next and done fields are the writer's meanwhile. */
    sy_rider_t *rider;
    /* Runs on the writer thread once the job's transaction committed (or failed). Must not block.
     * The submitter owns the job; the writer never touches it after on_done. */
    void (*on_done)(sy_log_job_t *job);
};

int sy_writer_start(sy_writer_t **out, sy_store_t *store, sy_metrics_t *metrics, unsigned max_batch);
/* Calls fn(arg) on the writer thread after every successful commit (e.g. to wake the applier). */
void sy_writer_set_listener(sy_writer_t *w, void (*fn)(void *arg), void *arg);
/* Queues job. Returns 0, or SY_ESHUTDOWN (on_done is then not called). Thread-safe. */
int sy_writer_submit(sy_writer_t *w, sy_log_job_t *job);
/*
 * Runs rider (store.h) inside the next commit, beside whatever events are queued, and waits until that commit is
 * over (rider->result then tells). The writer commits at once if nothing else is queued. Returns 0, or
 * SY_ESHUTDOWN once the writer is stopping (the rider did not run). Must not be called from the writer's thread
 * nor while holding a transaction or write_lock (locks.h).
 */
int sy_writer_ride(sy_writer_t *w, sy_rider_t *rider);
/*
 * Appends items[0..n) (each item's seq and duplicate are set) and, when rider is not NULL, runs it in the same
 * commit, after them; waits until that commit is over. Returns the commit's result (0, SY_EFULL, SY_EIO, ...);
 * rider->result tells the rider's own. For threads that append besides ingress (reconcile, the fetcher); the same
 * rules as sy_writer_ride: not from the writer's thread, no transaction nor lock held (locks.h).
 */
int sy_writer_append(sy_writer_t *w, sy_append_t *items, size_t n, sy_rider_t *rider);
/* sy_writer_ride for sy_store_set_ride (writer: the sy_writer_t). */
int sy_writer_ride_sink(void *writer, sy_rider_t *rider);
/* The two halves of sy_writer_ride, to do something else meanwhile (what, see locks.h: no transaction may be open
 * across the wait). Every submit that returned 0 is matched by one wait before rider is reused or freed. */
int sy_writer_ride_submit(sy_writer_t *w, sy_rider_t *rider);
void sy_writer_ride_wait(sy_writer_t *w, sy_rider_t *rider);
/* Commits everything queued, then stops the thread and frees the writer. Riders waiting are carried first. */
void sy_writer_stop(sy_writer_t *w);

#endif
