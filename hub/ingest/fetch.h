/*
 * The fetcher: reads back what a tool's notifications name without values (QuickBooks says "Customer 58 was
 * updated" and nothing else) and appends each object read to the log as an event of its own, so the applier applies
 * it like any webhook and a replay reads the log alone, never the network.
 *
 * One thread follows the log from a durable cursor (meta "fetch_cursor"). Events of a source whose connector says
 * needs_fetch(type), and that has an api, are collected per round (up to SY_FETCH_ROUND of them) and grouped per
 * source; the connector's encode_fetch turns as many as one request can read into one request (QuickBooks: one
 * Change Data Capture read per realm, its reads being metered), sent through api_read.h (paced at the source's api
 * rate, 429 and Retry-After honoured, 5xx retried with backoff, bounded). decode_fetch turns the answer into events
 * (signature "fetched", the connector's stable ids: the same version fetched twice is a duplicate the dedupe index
 * drops). A read that still fails, or a notification the connector cannot read, is recorded as skipped with its
 * reason (`switchyard log skipped`), counted (switchyard_fetches_total{outcome="skipped"}) and raises a
 * fetch_skipped alert: nothing acknowledged is ever left unfetched without a trace.
 *
 * The round's fetched events, its skips and the new cursor are one commit (a writer job with a rider), so a crash
 * before it redoes the round and a crash after it never repeats it. Not run in a cluster (the stream's consumer is
 * the only appender there).
 */
#ifndef SY_FETCH_H
#define SY_FETCH_H

#include <stdio.h>

#include "config.h"
#include "store.h"
#include "writer.h"

#define SY_FETCH_ROUND 256 /* notifications per round at most (one commit) */
#define SY_FETCH_CURSOR "fetch_cursor"
#define SY_FETCHED_SIGNATURE "fetched"

typedef struct st_sy_fetcher_t sy_fetcher_t;

/* 1 when some source of conf has notifications to fetch and an api to fetch them from. Logs (a warning) each source
 * whose notifications need fetches but that has no api: they are logged, their objects are not fetched. */
int sy_fetcher_wanted(const sy_config_t *conf);
/* Starts the thread. conf, store and writer outlive it. NULL: out of memory or no thread. */
sy_fetcher_t *sy_fetcher_create(const sy_config_t *conf, sy_store_t *store, sy_writer_t *writer);
/* Stops after the current read (waits of the pacing end at once), joins, frees. Call before the writer stops;
 * NULL is fine. */
void sy_fetcher_destroy(sy_fetcher_t *f);
/* switchyard_fetches_total{source,outcome} and switchyard_fetch_cursor; nothing for NULL. */
void sy_fetcher_render_metrics(sy_fetcher_t *f, FILE *out);

#endif
