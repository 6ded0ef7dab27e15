/*
 * Schema drift (issue 13): per source and event type the applier learns the shape of the payloads (the JSON type
 * at each path the policy maps, observe.h sy_shape_t, and the api_version), and raises a `schema_drift` alert when
 * a mapped path changes type (string → number, object → string, ...), disappears where it was always there, or a
 * new event type or api_version appears.
 *
 * Cheap on the hot path: an event whose shape is one already learnt in full (a "settled" fingerprint, kept in memory
 * per source and type) only counts; the `shapes` DB is written when a shape says something new, and otherwise
 * at most once a second per type for its count and last seen. Everything runs in the applier's step (its write
 * transaction, riding on the log writer's commit): what is in memory changes only once that step committed.
 *
 * Storage (the `shapes` DB):
 *   't' source \x1f type → {source, type, first_seen_ms, first_seq, last_seen_ms, last_seq, count,
 *                           paths: {path: {types: {name: first_seq}, present, absent}}}
 *                           present and absent (the parent there, the member not) count events while their
 *                           shape is news: present up to SY_DRIFT_SETTLED, absent from 1 on means "optional"
 *                           count: every event (written at the latest once a second, and when the applier stops)
 *   's' source           → {source, first_seen_ms, events, api_versions: {version: first_seq}, changes: [...]}
 *                           changes: the last SY_DRIFT_MAX_CHANGES drifts, {kind, type, path, expected, seen, seq,
 *                           at_ms, fields}; kind "type_changed", "disappeared", "new_type", "new_api_version"
 * Not drift: a null (optional values), a path whose parent is absent (another kind of event, an empty list), the
 * other properties of a HubSpot property change (one property per event).
 */
#ifndef SY_DRIFT_H
#define SY_DRIFT_H

#include <jansson.h>

#include "observe.h"
#include "store.h"

#define SY_DRIFT_SETTLED 20 /* a path seen in this many events of a type and then missing has disappeared */
#define SY_DRIFT_LEARN_EVENTS 10 /* events of a source before a new event type of it is news */
#define SY_DRIFT_MAX_CHANGES 50
#define SY_DRIFT_STEP_TYPES 32 /* (source, type) pairs one step tracks; more are written at once */
#define SY_DRIFT_STEP_SOURCES 16 /* SY_POLICY_MAX_SOURCES */

/* The applier's memory of settled fingerprints and uncounted events. One per applier; used by one step at a time. */
typedef struct st_sy_drift_t sy_drift_t;
sy_drift_t *sy_drift_new(void);
void sy_drift_free(sy_drift_t *d);

/* One step's view: what it learnt, committed into sy_drift_t by sy_drift_step_commit once its transaction is. */
typedef struct st_sy_drift_type_t {
    char key[200]; /* source \x1f type */
    uint64_t hash;
    size_t source; /* index in sources[] */
    uint64_t pending, last_seq;
    int64_t last_ms;
    json_t *doc; /* loaded when the shape is news (arena: gone with the step) */
    int dirty, flushed;
    uint64_t settled[4]; /* fingerprints found settled in this step */
    size_t num_settled;
} sy_drift_type_t;

typedef struct st_sy_drift_step_t {
    sy_drift_t *drift;
    const char *policy; /* its hash */
    sy_drift_type_t types[SY_DRIFT_STEP_TYPES];
    size_t num_types;
    struct {
        char name[128];
        json_t *doc;
        int dirty;
    } sources[SY_DRIFT_STEP_SOURCES];
    size_t num_sources;
} sy_drift_step_t;

/* Starts a step (again, when the transaction is redone). */
void sy_drift_step_begin(sy_drift_step_t *st, sy_drift_t *d, const sy_policy_t *policy);
/* Learns the shape of event seq (ignored when shape->buf is NULL); raises the alerts. 0 or a storage error. */
int sy_drift_observe(sy_drift_step_t *st, sy_txn_t *txn, const sy_policy_t *p, const sy_shape_t *shape,
                     uint64_t seq, int64_t now_ms);
/* At the end of the step, in its transaction: writes what is news, and counts at most once a second. */
int sy_drift_step_flush(sy_drift_step_t *st, sy_txn_t *txn, int64_t now_ms);
/* Releases the documents the step loaded: at its end, committed or not, before its arena ends (arena.h). */
void sy_drift_step_release(sy_drift_step_t *st);
/* After the step's transaction committed (and sy_drift_step_release). */
void sy_drift_step_commit(sy_drift_step_t *st, int64_t now_ms);

/* When the applier stops: writes the counts kept in memory only (in its own transaction; may run again if it is
 * redone), then, once committed, sy_drift_flushed_all. */
int sy_drift_flush_all(sy_drift_t *d, sy_txn_t *txn, int64_t now_ms);
void sy_drift_flushed_all(sy_drift_t *d);

/* For `switchyard drift` and `policy check`: every 's' and 't' document, {"sources": [...], "types": [...]}. */
json_t *sy_drift_list(sy_txn_t *txn);

#endif
