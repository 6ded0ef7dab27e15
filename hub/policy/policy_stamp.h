/*
 * The hash of the policy the hub runs, kept in the data dir (meta "policy_hash"): written by `serve` when it starts
 * its applier and at each policy reload (applier.c). Whatever applies the policy outside the applier checks it: a CLI
 * command working directly on the data dir (replay, records merge/split, health) refuses a policy the hub does not
 * run, and a replay job of the admin API refuses a policy file edited since the hub loaded it. One policy in force
 * per data dir (issue #10).
 */
#ifndef SY_POLICY_STAMP_H
#define SY_POLICY_STAMP_H

#include "policy.h"
#include "store.h"

#define SY_POLICY_STAMP_KEY "policy_hash"

/* Stores hash in the caller's write transaction. */
int sy_policy_stamp_put(sy_txn_t *txn, const char *hash);
/* Copies the stored hash into buf (NUL-terminated); SY_ENOTFOUND when none is stored (no hub with a policy has run
 * on this data dir yet). */
int sy_policy_stamp_get(sy_txn_t *txn, char *buf, size_t len);
/* Stores hash in a write transaction of its own, growing the map once if it is full. */
int sy_policy_stamp_write(sy_store_t *store, const char *hash);
/* Compares p with the stored hash (in a read transaction of its own): 0 when they match or none is stored; SY_EINVAL
 * when they differ (stored receives the stored hash); a storage error otherwise. */
int sy_policy_stamp_check(sy_store_t *store, const sy_policy_t *p, char *stored, size_t len);

#endif
