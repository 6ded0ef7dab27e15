/*
 * Reconcile: heals gaps in the log from a tool's own API. After an outage longer than a provider retries (Stripe:
 * three days), the webhooks of that time are lost; the tool still lists what happened (connector encode_changes /
 * decode_changes: Stripe's GET /v1/events). Reconcile pages through that listing since a time, looks each event up
 * in the log's dedupe index and appends the ones the log is missing, marked as reconciled (signature
 * "reconciled"), so the applier heals the records from them and a replay reads the log alone, never the network.
 *
 * Requests are paced at the source's outbound rate (api.rate, else the connector's documented limit), honour 429 and
 * Retry-After, and retry 5xx and transport errors a few times with backoff. They do not share delivery's budget:
 * while a reconcile runs, the tool sees both (see README, "Healing gaps").
 */
#ifndef SY_RECONCILE_H
#define SY_RECONCILE_H

#include <jansson.h>
#include <stdatomic.h>

#include "config.h"
#include "store.h"

#define SY_RECONCILE_MAX_LISTED 100 /* missing events named in a result; the counts go on */

typedef struct st_sy_reconcile_spec_t {
    char source[65];
    int64_t since_ms; /* Unix ms; 0 = as far back as the tool keeps its listing (connector changes_retention_ms) */
    int dry_run;      /* list and compare, append nothing */
} sy_reconcile_spec_t;

/* What a run found; the counters are readable from other threads while it runs. */
typedef struct st_sy_reconcile_result_t {
    _Atomic uint64_t pages, listed, in_log, missing, appended;
    json_t *missing_events; /* [{id, type, occurred_at}] of the first SY_RECONCILE_MAX_LISTED missing; caller-owned */
    char error[512];        /* "" when the run finished */
} sy_reconcile_result_t;

/*
 * Appends n events (pre-encoded, store.h) to the log in one commit, setting each item's duplicate flag (a webhook may
 * have brought one meanwhile). Returns 0 or the commit's error. The CLI appends to the store under the data-dir
 * lock; serve hands them to its log writer.
 */
typedef int (*sy_reconcile_append_fn)(void *arg, sy_append_t *items, size_t n);

/* Whether spec can run under conf (a configured source, a connector that lists past events, an api): 0, or
 * SY_EINVAL with err saying why. */
int sy_reconcile_check(const sy_config_t *conf, const sy_reconcile_spec_t *spec, char *err, size_t errlen);

/*
 * Runs spec against conf's source. store: read (the dedupe index) while pages are compared. out->missing_events
 * must be a JSON array. cancel (may be NULL): set by another thread, the run stops after the current page.
 * Returns 0, or a negative code with out->error saying why (what was appended stays: running it again is safe).
 */
int sy_reconcile_run(const sy_config_t *conf, sy_store_t *store, const sy_reconcile_spec_t *spec,
                     sy_reconcile_append_fn append, void *arg, const _Atomic int *cancel, sy_reconcile_result_t *out);

/* The result as {"source","since","dry_run","pages","listed","in_log","missing","appended","missing_events","error"}. */
json_t *sy_reconcile_result_json(const sy_reconcile_spec_t *spec, const sy_reconcile_result_t *r);

#endif
