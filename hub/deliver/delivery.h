/*
 * Delivery: one thread that sends queued pushes to the tools' APIs with the libcurl multi interface.
 *
 * Due-time ordered outbox; per spoke a sliding-window rate limiter (the provider's documented limit unless
 * configured), a concurrency cap, a pause on 429 until the time the tool gives, and a circuit breaker with
 * half-open probes. 2xx deletes the push; 429/5xx/409/network errors retry with exponential backoff and full
 * jitter (base 1 s, cap 1 h) or at Retry-After; other 4xx, too many attempts or too old go to dead letters with
 * the response. An attempt's result and the outbox change commit in one transaction; a push in flight at a crash
 * is sent again with the same idempotency key. The only file that includes curl.h (besides the trigger CLI).
 */
#ifndef SY_DELIVERY_H
#define SY_DELIVERY_H

#include "applier.h"
#include "config.h"
#include "metrics.h"
#include "store.h"

typedef struct st_sy_delivery_t sy_delivery_t;

/* Starts the thread for every source with an api.base_url. The applier provides the policy (push_as names). */
int sy_delivery_start(sy_delivery_t **out, const sy_config_t *conf, sy_store_t *store, sy_applier_t *applier,
                      sy_metrics_t *metrics);
/*
 * fn(arg, source, since_ms) runs on the delivery thread when a tool answers again after its breaker was open for its
 * source's reconcile.after_outage or more (config.h; long enough that its webhooks may have given up too; since_ms:
 * when it opened), e.g. to reconcile that source. It must not block
 * and must take no lock but leaf locks (locks.h). NULL: nothing. Thread-safe.
 */
void sy_delivery_set_recovery_listener(sy_delivery_t *d, void (*fn)(void *arg, const char *source, int64_t since_ms),
                                       void *arg);
/* New pushes may be due (the applier committed). Thread-safe. */
void sy_delivery_notify(sy_delivery_t *d);
/* Aborts transfers in flight (they stay queued and are retried at the next start), stops, frees. */
void sy_delivery_stop(sy_delivery_t *d);

/* Backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)]. Exposed for tests. */
int64_t sy_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, uint64_t random);

#endif
