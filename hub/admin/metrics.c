#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
static const double delivery_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double seconds_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

static void histogram_init(sy_histogram_t *h, const double *bounds, size_t n, double scale)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->num_bounds = n;
    h->scale = scale;
}

int sy_metrics_init(sy_metrics_t *m, size_t num_sources)
{
    memset(m, 0, sizeof(*m));
    if ((m->sources = calloc(num_sources + 1, sizeof(*m->sources))) == NULL)
        return SY_ENOMEM;
    m->num_sources = num_sources;
    histogram_init(&m->commit_batch_events, batch_bounds, SY_ARRAY_SIZE(batch_bounds), 1);
    histogram_init(&m->commit_seconds, seconds_bounds, SY_ARRAY_SIZE(seconds_bounds), 1e6);
    histogram_init(&m->delivery_seconds, delivery_bounds, SY_ARRAY_SIZE(delivery_bounds), 1e6);
    return 0;
}

void sy_metrics_dispose(sy_metrics_t *m)
{
    free(m->sources);
    m->sources = NULL;
}

int sy_metrics_status_index(int status)
{
    switch (status) {
#define SY_METRICS_STATUS_CASE(code)                                                                                   \
    case code:                                                                                                         \
        return SY_STATUS_IDX_##code;
        SY_METRICS_STATUSES(SY_METRICS_STATUS_CASE)
#undef SY_METRICS_STATUS_CASE
    default:
        return SY_STATUS_IDX_500;
    }
}

void sy_metrics_count_request(sy_metrics_t *m, long source_index, int status)
{
    int i = sy_metrics_status_index(status);
    if (source_index >= 0 && (size_t)source_index < m->num_sources)
        atomic_fetch_add_explicit(&m->sources[source_index].requests[i], 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&m->unrouted[i], 1, memory_order_relaxed);
}

void sy_histogram_observe(sy_histogram_t *h, uint64_t v)
{
    size_t i;
    double x = (double)v / h->scale;
    for (i = 0; i != h->num_bounds; ++i)
        if (x <= h->bounds[i])
            break;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void sy_histogram_render(const sy_histogram_t *h, FILE *out, const char *name, const char *help)
{
    uint64_t cumulative = 0;
    fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i != h->num_bounds; ++i) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cumulative);
    }
    cumulative += atomic_load_explicit(&h->buckets[h->num_bounds], memory_order_relaxed);
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    fprintf(out, "%s_sum %g\n", name, (double)atomic_load_explicit(&h->sum, memory_order_relaxed) / h->scale);
    fprintf(out, "%s_count %llu\n", name, (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

void sy_metrics_count_events(sy_source_metrics_t *sm, int64_t now_ms, uint64_t n)
{
    int64_t minute = now_ms / 60000;
    size_t slot = (size_t)(minute % SY_RATE_MINUTES);
    int64_t held = atomic_load_explicit(&sm->minute_id[slot], memory_order_relaxed);
    /* A slot from an older hour is reset by whoever gets there first; a lost count at the turn is acceptable. */
    if (held != minute && atomic_compare_exchange_strong(&sm->minute_id[slot], &held, minute))
        atomic_store_explicit(&sm->minute_count[slot], 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&sm->minute_count[slot], n, memory_order_relaxed);
}
