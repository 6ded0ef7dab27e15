/*
 * Operations shared by the CLI and the admin API: queue and dead-letter actions and the data-health report.
 * Each runs inside the caller's transaction.
 */
#ifndef SY_OPS_H
#define SY_OPS_H

#include <jansson.h>

#include "config.h"
#include "policy.h"
#include "store.h"

/* What a retry did. */
typedef struct st_sy_ops_retry_t {
    size_t queued; /* pushes queued (due now) */
    size_t folded; /* of those, folded into a push already queued for the same spoke and record (coalescing) */
    size_t empty;  /* nothing left to send: no field of the push has a golden value for its tool any more */
} sy_ops_retry_t;

/*
 * Retries: the push is rebuilt from the record's current golden values first (sy_records_refresh_push; p is the
 * running policy), never sent as stored, and a push already queued for the same spoke and record takes it in
 * (one queued push per spoke and record). A push with nothing left to send is dropped from the queue (queue retry)
 * or stays a dead letter (dead retry), counted in out->empty.
 *
 * queue retry: the queued push with push_id is due now (its idempotency key changes only if its values did).
 * queue drop: removes it. Both SY_ENOTFOUND when no queued push has that id.
 */
int sy_ops_queue_retry(sy_txn_t *txn, const sy_policy_t *p, const char *push_id, sy_ops_retry_t *out);
int sy_ops_queue_drop(sy_txn_t *txn, const char *push_id);
/* Queues dead letters again (attempts reset, a new idempotency key): the one with push_id, or all when push_id is
 * NULL. SY_ENOTFOUND when there is none. */
int sy_ops_dead_retry(sy_txn_t *txn, const sy_policy_t *p, const char *push_id, sy_ops_retry_t *out);
/* Removes the dead letter with push_id for good (and its attempt log). SY_ENOTFOUND when there is none. */
int sy_ops_dead_drop(sy_txn_t *txn, const char *push_id);
/* Every document of db (outbox, dead) as a JSON array, at most limit (0: all); NULL on a storage error. */
json_t *sy_ops_list(sy_txn_t *txn, sy_db_t db, size_t limit);

/*
 * The data-health report: records, complete (required fields present), connected (objects in two tools or more),
 * score = complete and connected / records against the 95 % target, duplicates, double billing, merge suggestions,
 * missing fields, unmatched billing (billing data on a record no CRM object is linked to), counters, per-field
 * conflicts and reverts, applier cursor and lag, queued pushes and dead letters. p may be NULL (no policy).
 * NULL on a storage error.
 */
json_t *sy_health_report(sy_txn_t *txn, const sy_policy_t *p, const sy_config_t *conf);
/* The same report read in many short read transactions (a few thousand entries each) instead of one: for the
 * background refresh of serve's health (health_cache.h), which must never make a grow wait for a whole scan. */
json_t *sy_health_report_chunked(sy_store_t *store, const sy_policy_t *p, const sy_config_t *conf);

#endif
