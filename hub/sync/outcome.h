/*
 * Delivery outcomes shared across the hubs of a cluster (issue 14; cluster.h). Every hub applies the same log to
 * its own records and outbox, but only the lease holder delivers: without this, a new holder would send again what
 * the old one had delivered. So the holder, in the transaction that settles a push (delivery.c), also queues an
 * outcome here; the cluster publishes the queue to the stream ("<stream>.outcomes", cluster_outcome.c) and every
 * hub's consumer applies what it reads back, in stream order, in the commit that moves its stream cursor.
 *
 * An outcome says "spoke now holds these fields of record with these values, as the push stood at log seq S"
 * (done), or "this push is a dead letter" (dead, with the holder's dead letter). Applying it removes from the hub's
 * queued push for (spoke, record) each field whose queued value is the one delivered and that was folded in at or
 * before S (pushes keep the seq each field was folded at: "fseq"), so a value queued again later (a, b, then a again)
 * stays; a push left with no field leaves the queue. With no field left the remaining push's idempotency key is the
 * one the holder computes for its own next push of those fields (same seq, same fields, salt 0: records.c), so a
 * push on the wire at a kill is resent under its key. A dead outcome also makes the dead letter on this hub. The
 * created object's id (a create the holder made) is linked here too, so the next holder never creates it again.
 *
 * Until the hub's applier has applied S, the outcome waits in meta (cluster_oc:<S><stream seq>) and the applier
 * applies it at the end of the step that passes S (sy_outcome_apply_due). On the hub that settled the push the
 * outcome is a no-op: the settle left a marker (cluster_ocself:<id>) that the returning outcome only removes.
 *
 * Storage (meta): cluster_oq:<n be64> → outcome (queued for publishing), cluster_oq_next (be64), cluster_ocself:<id>
 * → "", cluster_oc:<S be64><stream seq be64> → outcome (waiting for the applier). Nothing here runs without a
 * `cluster:` section: a single hub never queues, publishes nor applies an outcome.
 *
 * Merges and splits travel the same stream but are not outcomes: a merge changes how every later event resolves, so
 * it must be made at one exact log position on every hub, not at any point after a seq (change_shared.h).
 */
#ifndef SY_OUTCOME_H
#define SY_OUTCOME_H

#include <jansson.h>
#include <stdatomic.h>

#include "store.h"

/* Set once by the cluster's start: the applier then looks for outcomes waiting for it after every step. */
extern atomic_int sy_outcome_enabled;

/*
 * In the transaction that settles a push (delivery.c): queues the outcome for publishing and marks it as settled
 * here. kind "done" (fields: what was sent, seq: the push's seq when sent; object_id: the tool's object, if known)
 * or "dead" (dead: the dead letter as stored). Returns 0 or a storage error.
 */
int sy_outcome_queue(sy_txn_t *txn, const char *node, const char *kind, const char *spoke, const char *record,
                     const json_t *fields, int64_t seq, const char *object_id, const json_t *dead, int64_t now_ms);

/* The queued outcomes, oldest first, at most max: {"n": queue position, "id": message id, "outcome": {...}}. The
 * cluster's outcome publisher reads them (a read transaction of its own), publishes, then deletes them. */
json_t *sy_outcome_queue_peek(sy_store_t *store, size_t max, int *rc);
/* Deletes the queue entries at positions n[0..count). */
int sy_outcome_queue_delete(sy_txn_t *txn, const uint64_t *n, size_t count);

/* The consumer, in the commit that moves the stream cursor past the outcome's stream seq: applies it (or keeps it
 * for the applier, or drops it where it was settled). Returns 0 or a storage error. */
int sy_outcome_consume(sy_txn_t *txn, const json_t *outcome, uint64_t stream_seq, int64_t now_ms);
/* The applier, at the end of a step (its cursor written): applies the outcomes waiting for a seq <= cursor. */
int sy_outcome_apply_due(sy_txn_t *txn, uint64_t cursor, int64_t now_ms);

#endif
