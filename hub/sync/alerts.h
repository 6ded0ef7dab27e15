/*
 * Alerts: one model for everything that needs a human (issue 13). An alert has a kind ("frozen", "dead_letter",
 * ...), a subject (record, source or tool, field: "" where it does not apply), first/last seen, a count and a state:
 * open → acknowledged (by a person: notifications stop, the alert stays until its cause goes away) → resolved
 * (automatically, when the raiser sees the cause gone). One alert per kind and subject is not resolved at a time:
 * raising it again counts on the same alert; once resolved, a new occurrence opens a new alert.
 *
 * Everything here runs inside the caller's write transaction: the applier's (riding on the log writer's commit) or
 * one of sy_store_write (delivery, the watcher, the admin API): an alert and what caused it commit together.
 *
 * Storage (the `alerts` DB):
 *   'a' id (be64)                          → {id, kind, record, source, field, message, seq, first_seen_ms,
 *                                             last_seen_ms, count, state, acknowledged_at_ms?, resolved_at_ms?}
 *   'k' kind \x1f record \x1f source \x1f field → id (be64)   the alert of that kind and subject not yet resolved
 *   meta next_alert (be64): the last id given; alert_notifiers: the notifier spokes ("alert:slack\n...") that each
 *   new or resolved alert is queued for (sy_alerts_setup). Entries of 8-byte keys are the append-only log of
 *   versions before issue 13 ({at_ms, kind, record, source, field, message}); sy_alerts_setup migrates them once.
 *
 * Notifications: each new alert and each resolution is queued in the outbox for every notifier spoke, in the same
 * transaction (queue.h; delivery.c sends them, notify.h says how), so it survives a restart and a receiver outage.
 */
#ifndef SY_ALERTS_H
#define SY_ALERTS_H

#include <jansson.h>

#include "store.h"

#define SY_ALERT_NOTIFIER_PREFIX "alert:" /* notifier spokes: "alert:slack", "alert:webhook" (no source has ':') */

/* What an alert is about; NULL members are "". */
typedef struct st_sy_alert_subject_t {
    const char *record, *source, *field;
} sy_alert_subject_t;

/*
 * Raises (or counts again) the alert of kind and subject: n occurrences at now_ms, message the latest word on it,
 * seq the event that caused it (0: none). A new alert is queued for every notifier. *opened (may be NULL): 1 when a
 * new alert was opened. Returns 0 or a storage error (abort the transaction).
 */
int sy_alert_raise(sy_txn_t *txn, const char *kind, const sy_alert_subject_t *subj, const char *message, uint64_t seq,
                   uint64_t n, int64_t now_ms, int *opened);
/* Resolves the unresolved alert of kind and subject, if there is one (then queued for the notifiers). */
int sy_alert_resolve(sy_txn_t *txn, const char *kind, const sy_alert_subject_t *subj, int64_t now_ms);
/* Acknowledges alert id: SY_ENOTFOUND when there is none, SY_EINVAL when it is resolved already. */
int sy_alert_ack(sy_txn_t *txn, uint64_t id, int64_t now_ms);
/* The alert id (new reference) or NULL. */
json_t *sy_alert_get(sy_txn_t *txn, uint64_t id);

/* Alerts, newest first: the unresolved ones, and with all the resolved ones too; at most limit (0: no limit). NULL
 * on a storage error. */
json_t *sy_alerts_list(sy_txn_t *txn, int all, size_t limit);
/* The unresolved alerts of kind (an array, oldest first), for raisers that resolve what they no longer see. */
json_t *sy_alerts_unresolved(sy_txn_t *txn, const char *kind);

/*
 * At serve's start, before other threads write: records the notifier spokes (names, n of them) and migrates the
 * pre-issue-13 log entries into alerts (grouped by kind and subject, open, counted). *migrated: entries migrated.
 * Returns 0 or a storage error.
 */
/*
 * Forgets resolved alerts resolved before before_ms, oldest alerts first, at most max of them (bounded work per
 * call); *pruned: how many. Open and acknowledged alerts are never pruned. Returns 0 or a storage error.
 */
int sy_alerts_prune(sy_txn_t *txn, int64_t before_ms, size_t max, size_t *pruned);
/*
 * Removes from every notifier spoke's queue up to max notifications enqueued before before_ms (oldest first);
 * *pruned: how many. A cluster follower's (cluster.h: notifications_keep), whose queue only the lease holder would
 * ever send. Returns 0 or a storage error.
 */
int sy_alerts_prune_notifications(sy_txn_t *txn, int64_t before_ms, size_t max, size_t *pruned);
int sy_alerts_setup(sy_store_t *store, const char *const *notifiers, size_t n, size_t *migrated);

#endif
