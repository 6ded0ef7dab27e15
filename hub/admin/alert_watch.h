/*
 * The alert watcher: one thread of `serve` that looks, every alerts.check_interval, at what no event causes by
 * itself: storage near full (used bytes against storage.map_size_max), applier lag (events logged and not yet
 * applied), dead letters left per tool (a dead_letter alert resolves once none is left), and the data-health
 * report's duplicates and double billing (health_cache.h). It raises and resolves those alerts (alerts.h) through
 * sy_store_write, and only when something changed: a read transaction decides, so an idle hub writes nothing.
 *
 * Locks (locks.h): its mutex is a leaf (the stop flag and the wait); it holds no transaction while it waits for the
 * health cache or for sy_store_write, and takes the read transaction and the write one after each other.
 */
#ifndef SY_ALERT_WATCH_H
#define SY_ALERT_WATCH_H

#include "config.h"
#include "store.h"

struct st_sy_health_cache_t;
typedef struct st_sy_alert_watch_t sy_alert_watch_t;

/* Starts the thread. health may be NULL (no policy: no records to judge). NULL when out of memory or threads. */
sy_alert_watch_t *sy_alert_watch_start(const sy_config_t *conf, sy_store_t *store, struct st_sy_health_cache_t *health);
/* Stops and frees (waits for a check in progress). NULL: nothing. */
void sy_alert_watch_stop(sy_alert_watch_t *w);

#endif
