/*
 * The outbox's indexes and counters: what lets a delivery round, /metrics and /admin/api/status cost the same with
 * ten pushes queued and with a million (issue #11). The outbox itself (records.h) is unchanged: due_ms (be64) +
 * push id (be64) → push document, so every reader of it and every existing data dir keeps working.
 *
 * Storage, all written in the transaction that adds or removes the push:
 *   queue  'd' spoke \x1f due_ms (be64) push id (be64) → ""        due order per spoke: a round reads only the
 *                                                                  pushes due now of the spokes that may send
 *          'a' spoke \x1f enqueued_at_ms (be64) push id (be64) → "" age order per spoke: the oldest queued push
 *          'i' push id (be64) → outbox key                            an admin action by push id, without a scan
 *   meta   queued:<spoke>, dead:<spoke> (be64)                    depth and dead letters per spoke
 *          queue_index (be64, 1)                                  the indexes above were built for this data dir
 *          queue_max_id (be64)                                    the highest push id indexed (vs next_push)
 * The 16 bytes at the end of a 'd' key are the outbox key (due + id); the dead key (id) is its last 8.
 *
 * Every write of the outbox that adds or removes a key goes through sy_queue_add / sy_queue_remove / sy_queue_move
 * (a rewrite of a push in place, same key, spoke and enqueued_at_ms, is a plain sy_doc_put), and every write of
 * `dead` that adds or removes a key counts through sy_queue_dead_add. A data dir written by a version without these
 * indexes (or by one that did not keep them) is indexed again at open by sy_queue_index_ensure: the per-spoke
 * counts must match the outbox and dead DBs' entry counts (pushes removed behind its back) and next_push must not
 * exceed queue_max_id (pushes added behind its back).
 */
#ifndef SY_QUEUE_H
#define SY_QUEUE_H

#include <jansson.h>

#include "store.h"

/* Puts doc (a push: "spoke", "enqueued_at_ms") at the outbox key and indexes it; a push already at that key is
 * replaced (and unindexed first). Returns 0 or a storage error. */
int sy_queue_add(sy_txn_t *txn, const unsigned char key[16], const json_t *doc);
/* The index entries and counter of a new push whose document the caller writes itself (the applier, through its
 * batch's cache): a push that is not yet at that key. */
int sy_queue_index_add(sy_txn_t *txn, const unsigned char key[16], const char *spoke, uint64_t enqueued_at_ms);
/* Deletes the push at key from the outbox and its index entries; doc is the push as stored (its spoke and
 * enqueued_at_ms name the entries). Absent: 0, nothing counted. */
int sy_queue_remove(sy_txn_t *txn, const unsigned char key[16], const json_t *doc);
/* Moves the push from one outbox key to another (a new due time): deletes from, puts doc at to, moves the due
 * entry. doc's spoke and enqueued_at_ms are those stored. */
int sy_queue_move(sy_txn_t *txn, const unsigned char from[16], const unsigned char to[16], const json_t *doc);
/* The outbox key of the queued push with push_id: 0, or SY_ENOTFOUND when none is queued. O(log n) (a scan of the
 * outbox's keys in a data dir never indexed). */
int sy_queue_find(sy_txn_t *txn, uint64_t push_id, unsigned char key[16]);
/* Removes up to max pushes of spoke enqueued before before_ms, oldest first, with their attempt logs; *pruned says
 * how many (fewer than max: none older is left). A cluster follower's notifications (cluster.h). Returns 0 or a
 * storage error. */
int sy_queue_prune_older(sy_txn_t *txn, const char *spoke, int64_t before_ms, size_t max, size_t *pruned);
/* A dead letter of spoke was added (delta 1) or removed (-1): its counter follows. */
int sy_queue_dead_add(sy_txn_t *txn, const char *spoke, int delta);

/*
 * Calls cb with the outbox key of each push of spoke due at or before now, in due order, until cb returns non-zero.
 * *next_due (if not NULL) is lowered to the due time of the first push that is not due yet, when it was reached.
 * Cost: the due pushes visited plus one, whatever the length of the queue. Returns 0, cb's value or a storage
 * error.
 */
int sy_queue_due(sy_txn_t *txn, const char *spoke, int64_t now, int64_t *next_due,
                 int (*cb)(void *arg, const unsigned char key[16]), void *arg);

/*
 * Per spoke, for /metrics, /admin/api/status and the CLI: {spoke: {"queued": n, "dead": n, "oldest_enqueued_ms":
 * ms (0 when none)}} for every spoke that has queued pushes or dead letters. O(spokes) once the data dir is indexed;
 * a data dir opened read-only that was never indexed is counted by a scan of the outbox and dead DBs instead.
 * NULL on a storage error (a part of a count would pass for the whole).
 */
json_t *sy_queue_summary(sy_txn_t *txn);

/*
 * Builds the indexes and counters when the data dir lacks them (first open by this version) or they disagree with
 * the outbox and dead DBs (entry counts: e.g. an older binary wrote to it since): one write transaction, a scan of
 * both DBs, retried after growing the map. When they agree it costs O(spokes). Call at open, before any other
 * thread writes. *rebuilt (may be NULL) says whether it had to. Returns 0 or a storage error.
 */
int sy_queue_index_ensure(sy_store_t *store, int *rebuilt);

#endif
