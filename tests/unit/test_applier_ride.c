/*
 * hub/sync/applier.c + hub/ingest/writer.c: the applier's batches ride on the log writer's commits. Events submitted through
 * the writer are applied exactly once (one record each, one observation each, the cursor at the end) in steps of
 * the writer's commits; after the applier is detached and the writer stopped (serve's shutdown order) the
 * applier goes on alone with transactions of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "applier.h"
#include "records.h"
#include "store.h"
#include "writer.h"
#include "../support/data_dir.h"
#include "../support/log_append.h"

#define EVENTS 600 /* more than two decoded batches, so the decode-ahead runs */

typedef struct {
    sy_log_job_t super;
    sy_append_t item;
    char *value;
    int done;
} job_t;

static pthread_mutex_t jobs_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;

static void on_done(sy_log_job_t *j)
{
    job_t *job = (job_t *)j;
    pthread_mutex_lock(&jobs_mutex);
    job->done = 1;
    pthread_cond_broadcast(&jobs_cond);
    pthread_mutex_unlock(&jobs_mutex);
}

static void customer_event(int i, char *body, size_t cap, char *id, size_t idcap, sy_event_t *ev)
{
    int64_t now = sy_now_ms();
    snprintf(id, idcap, "evt_ride_%d", i);
    snprintf(body, cap,
             "{\"id\":\"%s\",\"type\":\"customer.created\",\"created\":%lld,\"data\":{\"object\":{\"id\":\"cus_ride_%d\","
             "\"email\":\"ride%d@example.test\"}}}",
             id, (long long)(now / 1000), i, i);
    *ev = (sy_event_t){.received_at_ms = now, .occurred_at_ms = now / 1000 * 1000, .source = SY_SLICE_LIT("stripe"),
                       .connector = SY_SLICE_LIT("stripe"), .event_id = sy_slice_cstr(id),
                       .type = SY_SLICE_LIT("customer.created"), .signature = SY_SLICE_LIT("stripe-v1"),
                       .batch_size = 1, .body = sy_slice_cstr(body)};
}

static uint64_t applier_cursor(sy_store_t *store)
{
    sy_txn_t *txn;
    uint64_t cursor = 0;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_meta_get_u64(txn, "applier_cursor", &cursor), 0);
    sy_txn_abort(txn);
    return cursor;
}

static int wait_cursor(sy_store_t *store, uint64_t seq)
{
    struct timespec tick = {0, 20 * 1000000};
    for (int i = 0; i != 1500; ++i) { /* 30 s: an ASan build on a busy machine */
        if (applier_cursor(store) >= seq)
            return 1;
        nanosleep(&tick, NULL);
    }
    return 0;
}

/* Records in the store, and the applier's observation counter. */
static void counts(sy_store_t *store, uint64_t *records, json_int_t *observations)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_txn_count(txn, SY_DB_RECORDS, records), 0);
    json_t *stats = sy_records_stats(txn);
    *observations = json_integer_value(json_object_get(stats, "observations"));
    json_decref(stats);
    sy_txn_abort(txn);
}

static void test_batches_ride_on_the_writer_and_go_on_alone_after_it_stops(void **state)
{
    (void)state;
    char dir[256], path[1200], body[400], id[64];
    assert_non_null(sy_test_make_dir(dir, sizeof(dir), "sy-ride"));
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));

    sy_error_t err = {0};
    sy_store_t *store;
    sy_policy_t *policy;
    sy_applier_t *a;
    sy_writer_t *w;
    sy_metrics_t *metrics = calloc(1, sizeof(*metrics));
    assert_int_equal(sy_store_open(&store, dir, 32u << 20, 32u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_policy_load(&policy, path, &err), 0);
    assert_int_equal(sy_writer_start(&w, store, metrics, 64), 0);
    assert_int_equal(sy_applier_start(&a, store, policy, path), 0);
    sy_applier_set_writer(a, w);

    /* The log fills first (the applier is woken only at the end): its batches then ride while more arrive. */
    job_t *jobs = calloc(EVENTS, sizeof(*jobs));
    for (int i = 0; i != EVENTS; ++i) {
        sy_event_t ev;
        size_t len;
        customer_event(i, body, sizeof(body), id, sizeof(id), &ev);
        assert_int_equal(sy_codec_event_encode(&ev, &jobs[i].value, &len), 0);
        jobs[i].item = (sy_append_t){.source = ev.source, .event_id = ev.event_id, .value = {jobs[i].value, len}};
        jobs[i].item.event_id.base = strdup(id);
        jobs[i].super = (sy_log_job_t){.items = &jobs[i].item, .num_items = 1, .on_done = on_done};
        assert_int_equal(sy_writer_submit(w, &jobs[i].super), 0);
        if (i == EVENTS / 2)
            sy_applier_notify(a);
    }
    pthread_mutex_lock(&jobs_mutex);
    for (int i = 0; i != EVENTS; ++i)
        while (!jobs[i].done)
            pthread_cond_wait(&jobs_cond, &jobs_mutex);
    pthread_mutex_unlock(&jobs_mutex);
    for (int i = 0; i != EVENTS; ++i) {
        assert_int_equal(jobs[i].super.result, 0);
        assert_false(jobs[i].item.duplicate);
    }
    sy_applier_notify(a);
    if (!wait_cursor(store, EVENTS))
        fail_msg("the applier riding on the writer stopped at %llu of %d", (unsigned long long)applier_cursor(store),
                 EVENTS);
    uint64_t records;
    json_int_t observations;
    counts(store, &records, &observations);
    assert_int_equal(records, EVENTS);
    assert_int_equal(observations, EVENTS); /* each event applied once, whatever the steps were */

    /* serve's shutdown order: detach, stop the writer; the applier commits alone from then on. */
    sy_applier_set_writer(a, NULL);
    sy_writer_stop(w);
    sy_event_t ev;
    customer_event(EVENTS, body, sizeof(body), id, sizeof(id), &ev);
    assert_int_equal(sy_test_append_event(store, &ev), 0);
    sy_applier_notify(a);
    if (!wait_cursor(store, EVENTS + 1))
        fail_msg("the applier did not apply alone after the writer stopped");
    counts(store, &records, &observations);
    assert_int_equal(records, EVENTS + 1);
    assert_int_equal(observations, EVENTS + 1);

    sy_applier_stop(a);
    sy_store_close(store);
    for (int i = 0; i != EVENTS; ++i) {
        free(jobs[i].value);
        free((void *)jobs[i].item.event_id.base);
    }
    free(jobs);
    free(metrics);
    sy_test_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_ride_on_the_writer_and_go_on_alone_after_it_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
