/*
 * Golden records: identity resolution, the ownership policy applied to observations, the outbox.
 * Everything here runs inside a caller's write transaction, so a record, the pushes it causes and the applier
 * cursor commit together (exactly once).
 *
 * Storage (values are documents, see codec.h):
 *   records  record id ("cust_<n>") → {id, created_at_ms, fields: {F: {value, source, xref, version_ms,
 *            updated_at_ms, seq, policy}}, observed: {"S:ext": {F: [value, version_ms, seq]}}, xrefs: {S: [ext...]},
 *            subscriptions: {sub: [status, version_ms, seq]}, invoices?: {"S:invoice": [status, version_ms, seq]},
 *            frozen: {S: [F...]}, reverts: {"S|F": [n, since_ms]},
 *            tombstones: {S: {id, version_ms, seq}} (the record's object at S was deleted: nothing pushed there),
 *            sent: {"S|F": [value...]} (queued for tool S since it last showed the golden value: late echoes),
 *            merged_into?: id}
 *   xref     S \x1f ext → record id                        (a tool's object → its golden record)
 *   match    K \x1f normalised value → record id           (strong identity keys, e.g. email)
 *   suggest  K \x1f value \x1f record id → ""             (weak keys: records sharing a value are suggestions)
 *   outbox   due_ms (be64) push id (be64) → {id, spoke, record, fields: {F: value}, reasons: [...], revision,
 *            attempts, enqueued_at_ms, updated_at_ms, idempotency_key, policy, seq, fseq: {F: seq}}
 *   pending  spoke \x1f record id → outbox key             (coalescing: one queued push per spoke and record)
 *   queue    per-spoke due and age indexes of the outbox, and meta queued:/dead:<spoke> counters (queue.h): every
 *            add or removal of an outbox key goes through sy_queue_add/remove/move
 *   audit    n (be64) → {at_ms, action, ...}               (merges and splits, with before-images)
 *   alerts   deduplicated alerts with their state, and the index of unresolved ones (alerts.h)
 *   dead     push id (be64) → the push plus {died_at_ms, reason, response: {status, headers, body}}
 *   skipped  seq (be64) → {seq, at_ms, source, event_id, type, reason}  (logged events the applier could not use)
 *   attempts push id (be64) → {attempts: [...]}        (delivery's attempt log, the last 5 per push: attempts.h)
 *   meta     applier_cursor, next_record, next_push, next_audit, next_alert (be64); stat:<name> (be64 counters)
 */
#ifndef SY_RECORDS_H
#define SY_RECORDS_H

#include <jansson.h>

#include "doc_cache.h"
#include "observe.h"
#include "policy.h"
#include "store.h"

#define SY_STATS(X)                                                                                                    \
    X(observations) X(excluded) X(records_created) X(fields_updated) X(echoes) X(stale) X(conflicts) X(reverts)      \
        X(frozen) X(alerts) X(pushes_enqueued) X(pushes_coalesced) X(auto_merges) X(deletions) X(unmapped_events)   \
            X(suggestions) X(skipped) X(replayed) X(late_echoes) X(unfrozen) X(tombstoned)

typedef struct st_sy_apply_stats_t {
#define SY_STATS_FIELD(name) uint64_t name;
    SY_STATS(SY_STATS_FIELD)
#undef SY_STATS_FIELD
} sy_apply_stats_t;

#define SY_INSTANCE_ID_LEN 16 /* sy_records_instance_id */

typedef struct st_sy_apply_ctx_t {
    sy_txn_t *txn;
    const sy_policy_t *policy;
    uint64_t seq;   /* the event being applied */
    int64_t now_ms; /* wall clock, for updated_at/enqueued_at only (never for decisions) */
    sy_apply_stats_t *stats;
    /* Optional (NULL: every record and queued push is read from and written to txn at once). Set, the records and
     * queued pushes the batch touches stay decoded in it between events, and sy_records_flush writes them back:
     * call it before committing, and dispose the cache (doc_cache.h) when the transaction ends, committed or not. */
    sy_doc_cache_t *cache;
    char instance_id[SY_INSTANCE_ID_LEN + 1]; /* "" until the first push or echo check of the ctx reads it */
} sy_apply_ctx_t;

/* Writes the records and queued pushes held in ctx->cache to ctx->txn (nothing without a cache). Returns 0 or a
 * storage error (then abort). */
int sy_records_flush(sy_apply_ctx_t *ctx);

/* Applies one observation. Returns 0 or a storage error (SY_EFULL...), after which the transaction must abort. */
int sy_records_apply(sy_apply_ctx_t *ctx, const sy_observation_t *obs);

/*
 * Records that the logged event ev (ctx->seq) cannot be applied, and why: an entry in `skipped`, a counter
 * (stat:skipped, exported as switchyard_applier_total{outcome="skipped"}) and an alert of kind event_skipped.
 * Idempotent per seq: a replay that meets the same event again adds nothing.
 */
int sy_records_skip(sy_apply_ctx_t *ctx, const sy_event_t *ev, const char *reason);

/* Queues the current golden values of record id for spoke (every field the policy pushes to it), reason "repush":
 * after a tool lost data. Counts in ctx->stats. */
int sy_records_repush(sy_apply_ctx_t *ctx, const char *id, size_t spoke);

/*
 * Rebuilds push (an outbox or dead-letter document, modified in place) from the record's current golden values,
 * for a retry: each field it carries takes the value the policy would push to its spoke now (as repush decides);
 * a field without one (no golden value any more, no longer pushed there, frozen there) is dropped, and so is every
 * field when the record or the spoke is gone. "record" follows merges. *changed: the fields or the record differ
 * from what was stored (the caller then needs a new idempotency key). Returns 0 or SY_ENOMEM; an empty "fields"
 * afterwards means nothing is left to send.
 */
int sy_records_refresh_push(sy_txn_t *txn, const sy_policy_t *p, json_t *push, int *changed);

/* Adds the batch's counters to meta stat:<name> (same transaction). */
int sy_records_add_stats(sy_txn_t *txn, const sy_apply_stats_t *stats);
/* Reads all stat:<name> counters into an object {name: n}. */
json_t *sy_records_stats(sy_txn_t *txn);

/* This data dir's random instance id (hex), made on first use and kept in meta "instance_id": part of every
 * idempotency key and of what marks a tool's event as our own write. */
int sy_records_instance_id(sy_txn_t *txn, char out[SY_INSTANCE_ID_LEN + 1]);
/* "sy-<instance>-<digest of spoke, record, seq, fields and salt>" (records.c): unique per data dir (per cluster:
 * its instance id is the cluster's, cluster.c), so neither a second hub nor a fresh data dir reuses a key within a
 * provider's idempotency window (Stripe keeps keys for 24 h), and the hubs of a cluster give the same push the same
 * key. It changes whenever what the push sends changes, because a provider refuses one key with other parameters;
 * salt (a revision) makes a new key for a new request with the same contents. push: an outbox document. */
int sy_records_idempotency_key(sy_txn_t *txn, const json_t *push, long long salt, char *out, size_t len);

/* A stored document (codec.h) at key of db: load (new reference, NULL if absent or unreadable) and store. */
json_t *sy_doc_get(sy_txn_t *txn, sy_db_t db, sy_slice_t key);
int sy_doc_put(sy_txn_t *txn, sy_db_t db, sy_slice_t key, const json_t *doc);

/* meta u64 helpers. */
int sy_meta_get_u64(sy_txn_t *txn, const char *name, uint64_t *v); /* 0 when absent */
int sy_meta_put_u64(sy_txn_t *txn, const char *name, uint64_t v);

/* Loads a record by id, following merged_into; NULL if absent. New reference. */
json_t *sy_records_load(sy_txn_t *txn, const char *id);
/* The same record with only the members on paths decoded (codec.h: sy_codec_doc_decode_paths, at most 7 paths):
 * for readers of a few values, such as delivery's look at a record's link, email and tombstone for each push. */
json_t *sy_records_load_paths(sy_txn_t *txn, const char *id, const char *const *const *paths, size_t num_paths);
/* Finds a record id by "cust_<n>", "source:external_id" or an email (matched like the email key). Malloc'd. */
char *sy_records_find(sy_txn_t *txn, const sy_policy_t *p, const char *query);

/*
 * Links the tool object source:ext to record id (after a push created or found it at the tool). An object already
 * linked to another record stays where it is (returns SY_EINVAL: an identity conflict for an admin to look at).
 */
int sy_records_link(sy_txn_t *txn, const char *id, const char *source, const char *ext);

/* Unlinks the tool object source:ext from record id (the tool no longer has it: a 404 while rebuilding). */
int sy_records_unlink(sy_txn_t *txn, const char *id, const char *source, const char *ext);

/* Admin operations (logged in audit). merge: drop's tool ids, values and history move into keep. */
int sy_records_merge(sy_txn_t *txn, const sy_policy_t *p, const char *keep, const char *drop, int64_t now_ms,
                     const char *why, char *errbuf, size_t errlen);
/* split: the tool object source:ext leaves record id for a new record of its own; *new_id is malloc'd. */
int sy_records_split(sy_txn_t *txn, const sy_policy_t *p, const char *id, const char *source, const char *ext,
                     int64_t now_ms, char **new_id, char *errbuf, size_t errlen);

#endif
