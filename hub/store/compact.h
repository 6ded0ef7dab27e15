/*
 * Log compaction, the removing half (`switchyard log compact` archives the events itself first, then removes them
 * here directly, or through the running hub's admin API: POST /admin/api/log/compact). The dedupe index stays, so a
 * provider retry of an archived event is still a duplicate.
 */
#ifndef SY_COMPACT_H
#define SY_COMPACT_H

#include "store.h"

#define SY_COMPACT_BATCH 1000 /* events per archive batch and per removal */

/*
 * The highest seq compaction may remove now: what the applier has passed (its cursor; with no policy, every
 * event), but never the newest event: the next seq is the last key + 1, so seqs are never reused.
 */
int sy_compact_limit(sy_txn_t *txn, int has_policy, uint64_t *limit);
/*
 * Removes, in one write transaction, the events with from_seq <= seq <= to_seq received before before_ms and within
 * sy_compact_limit (checked again here: the caller's view may be old), at most SY_COMPACT_BATCH of them.
 * *removed counts them. Returns 0 or a storage error (nothing removed).
 */
int sy_compact_remove(sy_store_t *store, int has_policy, uint64_t from_seq, uint64_t to_seq, int64_t before_ms,
                      uint64_t *removed);

#endif
