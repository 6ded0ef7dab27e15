/*
 * The admin changes that both the CLI (directly on the data dir, when no hub runs) and the admin API (in the hub)
 * make: records merge and split, queue retry and drop, dead-letter retry. One implementation, so a change and its
 * answer are the same whichever way it was asked for (cli_remote.c).
 */
#ifndef SY_CHANGE_H
#define SY_CHANGE_H

#include <jansson.h>

#include "policy.h"
#include "store.h"

typedef enum en_sy_change_kind_t {
    SY_CHANGE_MERGE,
    SY_CHANGE_SPLIT,
    SY_CHANGE_QUEUE_RETRY,
    SY_CHANGE_QUEUE_DROP,
    SY_CHANGE_DEAD_RETRY,
    SY_CHANGE_DEAD_DROP /* a dead letter removed for good (the dashboard's drop button) */
} sy_change_kind_t;

typedef struct st_sy_change_t {
    sy_change_kind_t kind;
    const sy_policy_t *policy; /* merge, split: the running policy (identity keys); retries: current values */
    /* merge: keep, drop (ids, emails or SOURCE:EXT); split: the record, the object SOURCE:EXT;
     * queue and dead actions: the push id in a (dead retry: NULL = every dead letter). */
    const char *a, *b;
    const char *why; /* merge: who asked, for the audit log ("admin", "admin api") */
    int64_t now_ms;  /* merge, split: the time they are audited at (0: now). A cluster's change carries the holder's,
                      * so that every hub writes the same records (change_shared.h) */
} sy_change_t;

/*
 * Makes c in one write transaction of store (growing the map once if it is full). Returns 0 with *result a new
 * reference: merge {kept, merged}, split {record, object, new_record}, queue/dead {id, done, count}; else
 * SY_ENOTFOUND (no such record or push), SY_EINVAL (refused) with err saying why, or a storage error.
 */
int sy_change_run(sy_store_t *store, const sy_change_t *c, json_t **result, char *err, size_t len);
/*
 * Makes c in the caller's write transaction (the applier's step, for a cluster's change: change_shared.h), with the
 * same results as sy_change_run. A refusal (SY_ENOTFOUND, SY_EINVAL) is found before anything is written
 * (records.c, ops.c check first), so the transaction can go on and commit without the change; any other error
 * means the transaction must be aborted.
 */
int sy_change_run_txn(sy_txn_t *txn, const sy_change_t *c, json_t **result, char *err, size_t len);

#endif
