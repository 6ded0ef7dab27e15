/*
 * A cluster's merges and splits, made on every hub at the same point of its log (issue 14; cluster.h). A merge
 * changes how every later event resolves, so applying it "soon" on each hub would let hubs resolve the events
 * around it differently. Instead the lease holder's admin API publishes the change to "<stream>.admin"
 * (cluster_admin.c) and changes nothing itself; every hub's consumer, in the commit that moves its stream cursor past
 * the message, records a marker keyed by L, the last log seq appended before it. All hubs append the same events in
 * stream order, so L is the same everywhere; and the consumer ends its batch at such a message, so events after L
 * are appended only in later commits: an applier that sees an event after L sees the marker too.
 *
 * The applier (applier.c) stops each step at the first marker's L, and at the start of the next step, before the
 * event after L, makes the change (sy_change_run_txn, with the holder's time and the step's policy) and deletes the
 * marker in that same transaction: once per hub, between L and L + 1, and a crash resumes at the cursor with the
 * marker still there or already gone with the change. A refused change (no such record, already one record) is
 * refused on every hub alike and writes nothing. On the hub whose admin API published it ("mine"), the answer is
 * kept for that request (sy_change_shared_result), which waits for it.
 *
 * Storage (meta): cluster_ch:<L be64><stream seq be64> → {"change": message, "mine": bool}; cluster_chr:<id> →
 * {"rc": n, "result": {...}} or {"rc": n, "error": "..."}, removed by the request that reads it (an answer nobody
 * collected, because the request had timed out, stays: a few hundred bytes). Nothing here runs without a `cluster:`
 * section: a single hub makes its changes at once with sy_change_run, as always.
 */
#ifndef SY_CHANGE_SHARED_H
#define SY_CHANGE_SHARED_H

#include <jansson.h>
#include <stdatomic.h>

#include "change.h"

/* Set once by the cluster's start: the applier then looks for changes waiting for it (like sy_outcome_enabled). */
extern atomic_int sy_change_shared_enabled;

/* The stream message of c (merge or split only), made on the holder at now_ms: {"v", "id", "node", "kind", "a",
 * "b", "why", "at_ms"}. id gets the message's id (its Nats-Msg-Id and the key of its answer). A new reference, NULL
 * when out of memory or c is not a merge or split. */
json_t *sy_change_shared_encode(const sy_change_t *c, const char *node, int64_t now_ms, char *id, size_t id_len);

/* The consumer, in the commit that appended the events before the message (its batch's last message): the marker at
 * L = the log's last seq in txn. mine: this hub published it (its answer is kept). Returns 0 or a storage error. */
int sy_change_shared_consume(sy_txn_t *txn, const json_t *msg, uint64_t stream_seq, int mine);

/* The applier, at the start of a step: makes, in marker order, the changes waiting at an L < before (before: the seq
 * of the step's first event, or its cursor + 1 when it has none), at most max of them; *done says how many. Then
 * *next is the L of the first marker left (UINT64_MAX when none): the step applies no event after it. Returns 0 or
 * a storage error (the step is then aborted and runs again). */
int sy_change_shared_apply_due(sy_txn_t *txn, const sy_policy_t *policy, uint64_t before, size_t max, size_t *done,
                               uint64_t *next);
/* In a read transaction: whether a change waits at an L <= cursor (the applier then runs a step with no event). */
int sy_change_shared_due(sy_txn_t *txn, uint64_t cursor);

/* The admin request's side: 1 while the change with that id is not made here yet; else its answer, removed from
 * meta: 0 with *result (a new reference, what sy_change_run gives), or the refusal (SY_ENOTFOUND, SY_EINVAL) with
 * err, or a storage error. */
int sy_change_shared_result(sy_store_t *store, const char *id, json_t **result, char *err, size_t len);

#endif
