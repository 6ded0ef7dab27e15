/*
 * Counters and histograms for /metrics (Prometheus text format).
 * Written from many threads with relaxed atomics; read by the admin thread. Nothing here ever holds a
 * secret: labels are source names, status codes and check names only.
 */
#ifndef SY_METRICS_H
#define SY_METRICS_H

#include <stdatomic.h>
#include <stdio.h>

#include "common.h"
#include "connector.h"

/* Status codes ingress answers, in label order. */
#define SY_METRICS_STATUSES(X) X(200) X(400) X(401) X(404) X(405) X(413) X(500) X(503)
enum {
#define SY_METRICS_STATUS_ENUM(code) SY_STATUS_IDX_##code,
    SY_METRICS_STATUSES(SY_METRICS_STATUS_ENUM)
#undef SY_METRICS_STATUS_ENUM
        SY_STATUS_IDX_COUNT
};
#define SY_VERIFY_RESULT_COUNT (SY_VERIFY_NO_SECRET + 1)
#define SY_HISTOGRAM_MAX_BUCKETS 16

typedef struct st_sy_histogram_t {
    const double *bounds; /* upper bounds, ascending; +Inf is implicit */
    size_t num_bounds;
    double scale; /* observations are integers in units of 1/scale (e.g. microseconds: scale 1e6) */
    _Atomic uint64_t buckets[SY_HISTOGRAM_MAX_BUCKETS + 1];
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /* in units of 1/scale */
} sy_histogram_t;

/* Delivery outcomes per spoke, in label order. */
#define SY_PUSH_OUTCOMES(X) X(done) X(retry) X(dead) X(rate_limited) X(network_error) X(found) X(created) X(not_created) X(tombstoned)
enum {
#define SY_PUSH_OUTCOME_ENUM(name) SY_PUSH_IDX_##name,
    SY_PUSH_OUTCOMES(SY_PUSH_OUTCOME_ENUM)
#undef SY_PUSH_OUTCOME_ENUM
        SY_PUSH_IDX_COUNT
};

#define SY_RATE_MINUTES 60

typedef struct st_sy_source_metrics_t {
    _Atomic uint64_t minute_count[SY_RATE_MINUTES]; /* events stored per minute, a ring over the last hour ... */
    _Atomic int64_t minute_id[SY_RATE_MINUTES];     /* ... and which minute (since the epoch) each slot holds */
    _Atomic uint64_t pushes[SY_PUSH_IDX_COUNT]; /* delivery outcomes when this source is a spoke */
    _Atomic int breaker_open;                   /* 0 closed, 1 open, 2 half-open */
    _Atomic uint64_t requests[SY_STATUS_IDX_COUNT];
    _Atomic uint64_t signature_failures[SY_VERIFY_RESULT_COUNT];
    _Atomic uint64_t events_stored;
    _Atomic uint64_t events_duplicate;
} sy_source_metrics_t;

typedef struct st_sy_metrics_t {
    size_t num_sources;
    sy_source_metrics_t *sources;                      /* indexed like sy_config_t.sources */
    _Atomic uint64_t unrouted[SY_STATUS_IDX_COUNT];    /* requests that matched no source */
    sy_histogram_t commit_batch_events;                /* events per group commit */
    sy_histogram_t commit_seconds;                     /* commit latency incl. fsync */
    sy_histogram_t delivery_seconds;                   /* push request latency, send to answer */
    _Atomic uint64_t commit_errors_full, commit_errors_io;
    _Atomic uint64_t map_size_bytes;                   /* updated by the writer */
    _Atomic uint64_t delivery_rounds;                  /* rounds that read the outbox */
    _Atomic uint64_t delivery_docs_read;               /* outbox documents those rounds decoded (only due ones) */
} sy_metrics_t;

int sy_metrics_init(sy_metrics_t *m, size_t num_sources);
void sy_metrics_dispose(sy_metrics_t *m);

void sy_metrics_count_request(sy_metrics_t *m, long source_index /* -1: unrouted */, int status);
void sy_histogram_observe(sy_histogram_t *h, uint64_t value_in_units);
/* Counts n events stored now for a source (the per-minute ring behind the dashboard's rate chart). */
void sy_metrics_count_events(sy_source_metrics_t *sm, int64_t now_ms, uint64_t n);

/* Writes one histogram in Prometheus text format (name without suffixes). */
void sy_histogram_render(const sy_histogram_t *h, FILE *out, const char *name, const char *help);
int sy_metrics_status_index(int status);

#endif
