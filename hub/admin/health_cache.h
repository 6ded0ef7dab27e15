/*
 * serve's data-health report, computed by a background thread and served from its last result (issue #11): the
 * report reads every record, so an admin request that computed it would cost O(records) and hold a read
 * transaction for the whole scan. Here a request costs O(1) plus the size of the answer; the thread scans in short
 * read transactions (sy_health_report_chunked) holding a reference to the policy, never policy_mutex nor the write
 * lock (locks.h). The cache's own mutex is a leaf lock: held only to swap or take a reference to the result.
 *
 * Freshness: the scanned figures depend on the records, links, suggestions and audit (merges, splits) and on the
 * applier's cursor; a fingerprint of those (entry counts and the cursor, O(1)) says whether the last result still
 * describes the data. By default (max_age_ms < 0) a request gets the last result when the fingerprint is unchanged;
 * when it changed, it waits for a new scan only if scans are quick (the last took <= 25 ms: a small data dir stays
 * exact), else gets the last result and starts a refresh in the background once that result is older than the
 * refresh interval (5 s, or ten times the last scan's duration if longer: the scans cost at most ~10 % of a core).
 * The figures that are cheap to read (applier cursor and lag, counters, queued pushes, dead letters) are read at
 * each request. A request with max_age_ms >= 0 waits (up to 60 s) for a result at most that old; max_age_ms 0
 * waits for a scan begun after the request (what `?max_age_s=0` asks for).
 */
#ifndef SY_HEALTH_CACHE_H
#define SY_HEALTH_CACHE_H

#include <jansson.h>

#include "applier.h"
#include "config.h"
#include "store.h"

typedef struct st_sy_health_cache_t sy_health_cache_t;

/* Starts the thread and a first scan. NULL when out of memory or threads. Destroy with sy_health_cache_destroy. */
sy_health_cache_t *sy_health_cache_create(sy_store_t *store, sy_applier_t *applier, const sy_config_t *conf);
/* Stops the thread (waits for a scan in progress to end) and frees the result. NULL: nothing. */
void sy_health_cache_destroy(sy_health_cache_t *c);

/*
 * The last report (a new reference the caller may modify: a shallow copy, its arrays shared and never changed),
 * with "computed_at_ms", "age_s" and "refreshing" (a newer scan runs). NULL when no scan has succeeded (a storage
 * error: the reason is logged) or none finished in time.
 */
json_t *sy_health_cache_get(sy_health_cache_t *c, int64_t max_age_ms);

#endif
