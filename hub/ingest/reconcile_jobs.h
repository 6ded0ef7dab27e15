/*
 * serve's reconciles: jobs started by the admin API (POST /admin/api/reconcile, what `switchyard reconcile` sends
 * while the hub runs) and the ones a source's `reconcile: every:` schedules. One runs at a time, in a thread of its
 * own; what it appends goes through the log writer like a webhook's events (one commit per chunk), so the applier
 * heals the records from it.
 */
#ifndef SY_RECONCILE_JOBS_H
#define SY_RECONCILE_JOBS_H

#include "reconcile.h"
#include "writer.h"

typedef struct st_sy_reconcile_jobs_t sy_reconcile_jobs_t;

/* conf, store and writer outlive the jobs. Starts the scheduler when a source has reconcile.every. NULL: out of
 * memory or no thread. */
sy_reconcile_jobs_t *sy_reconcile_jobs_create(const sy_config_t *conf, sy_store_t *store, sy_writer_t *writer);
/* Cancels the running job after its current page, waits for it and the scheduler, frees everything. Call before the
 * writer stops. */
void sy_reconcile_jobs_destroy(sy_reconcile_jobs_t *jobs);
/* Starts spec; fills id. SY_EINVAL (err says why: unknown source, a connector that cannot list, no api) or SY_EFULL
 * (one runs already: err names it). */
int sy_reconcile_jobs_start(sy_reconcile_jobs_t *jobs, const sy_reconcile_spec_t *spec, char *id, size_t idlen,
                            char *err, size_t errlen);
/*
 * A delivery recovery listener (delivery.h): when a tool that can list its events answers again after a long
 * outage, reconciles it from a few minutes before the outage began (a job like any other; skipped, with a log line,
 * when one already runs: the schedule or an admin covers it). arg: the jobs.
 */
void sy_reconcile_jobs_on_recovered(void *arg, const char *source, int64_t since_ms);
/* One job as {"id","state" (running|done|failed),"started_at","ended_at","scheduled", the result}; NULL if unknown. */
json_t *sy_reconcile_jobs_get(sy_reconcile_jobs_t *jobs, const char *id);
/* The kept jobs, newest first. */
json_t *sy_reconcile_jobs_list(sy_reconcile_jobs_t *jobs);

#endif
