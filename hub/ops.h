/*
 * Operations shared by the CLI and the admin API: queue and dead-letter actions and the data-health report.
 * Each runs inside the caller's transaction.
 */
#ifndef SY_OPS_H
#define SY_OPS_H

#include <jansson.h>

#include "policy.h"
#include "store.h"

/* queue retry (due now) or drop, by push id. SY_ENOTFOUND when no queued push has that id. */
int sy_ops_queue_retry(sy_txn_t *txn, const char *push_id);
int sy_ops_queue_drop(sy_txn_t *txn, const char *push_id);
/* Queues dead letters again (attempts reset): the one with push_id, or all when push_id is NULL; *count revived. */
int sy_ops_dead_retry(sy_txn_t *txn, const char *push_id, size_t *count);
/* Every document of db (outbox, dead) as a JSON array, at most limit (0: all); NULL on a storage error. */
json_t *sy_ops_list(sy_txn_t *txn, sy_db_t db, size_t limit);

/*
 * The data-health report: records, complete (required fields present), connected (objects in two tools or more),
 * score = complete and connected / records against the 95 % target, duplicates, double billing, merge suggestions,
 * missing fields, unmatched billing (billing data on a record no CRM object is linked to), counters, per-field
 * conflicts and reverts, applier cursor and lag, queued pushes and dead letters. p may be NULL (no policy).
 * NULL on a storage error.
 */
json_t *sy_health_report(sy_txn_t *txn, const sy_policy_t *p);

#endif
