/*
 * Schema drift in the applier's steps (drift.h): what a step learnt reaches memory only when its transaction
 * committed (a redone or aborted step counts nothing twice), a shape learnt in full only counts in memory (no write
 * within the second) until the counts are flushed, and a changed type raises one alert naming the policy field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "drift.h"
#include "records.h"
#include "../support/data_dir.h"

#define NOW 1700000000000ll

typedef struct {
    char dir[256];
    sy_store_t *store;
    sy_policy_t *policy;
    sy_drift_t *drift;
    uint64_t seq;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    sy_error_t err = {0};
    char path[1024];
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_policy_load(&f->policy, path, &err), 0);
    assert_non_null(sy_test_make_dir(f->dir, sizeof(f->dir), "sy-drift"));
    assert_int_equal(sy_store_open(&f->store, f->dir, 64u << 20, 256u << 20, SY_STORE_CREATE, &err), 0);
    assert_non_null(f->drift = sy_drift_new());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_drift_free(f->drift);
    sy_store_close(f->store);
    sy_policy_destroy(f->policy);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* A Stripe customer.updated whose email is the raw JSON given. */
static void customer(char *out, size_t cap, const char *email_json)
{
    snprintf(out, cap, "{\"api_version\":\"2024-06-20\",\"data\":{\"object\":{\"id\":\"cus_A\",\"email\":%s,"
                       "\"name\":\"Ann\",\"phone\":\"+1555\",\"metadata\":{\"hubspot_contact_id\":\"51\"}}}}",
             email_json);
}

/* One apply step of n customer.updated events (bodies), at now_ms; committed or aborted. */
static void step(fixture_t *f, const char *const *bodies, size_t n, int commit, int64_t now_ms)
{
    static sy_drift_step_t st;
    sy_shape_t shapes[32];
    sy_txn_t *txn;
    uint64_t seq = f->seq;
    assert_true(n <= 32);
    for (size_t i = 0; i != n; ++i) {
        sy_event_t ev = {.seq = seq + i + 1, .received_at_ms = now_ms, .source = SY_SLICE_LIT("stripe"),
                         .connector = SY_SLICE_LIT("stripe"), .event_id = SY_SLICE_LIT("e"),
                         .type = SY_SLICE_LIT("customer.updated"), .body = sy_slice_cstr(bodies[i])};
        sy_observation_t *obs;
        size_t nobs;
        assert_int_equal(sy_observe_shape(f->policy, &ev, &obs, &nobs, NULL, &shapes[i]), 0);
        sy_observations_free(obs, nobs);
    }
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    sy_drift_step_begin(&st, f->drift, f->policy);
    for (size_t i = 0; i != n; ++i)
        assert_int_equal(sy_drift_observe(&st, txn, f->policy, &shapes[i], seq + i + 1, now_ms), 0);
    assert_int_equal(sy_drift_step_flush(&st, txn, now_ms), 0);
    sy_drift_step_release(&st);
    for (size_t i = 0; i != n; ++i)
        sy_shape_dispose(&shapes[i]);
    if (!commit) {
        sy_txn_abort(txn);
        return;
    }
    assert_int_equal(sy_txn_commit(txn), 0);
    sy_drift_step_commit(&st, now_ms);
    f->seq += n;
}

/* The stored customer.updated shape's count. */
static json_int_t stored_count(fixture_t *f)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    json_t *doc = sy_doc_get(txn, SY_DB_SHAPES, SY_SLICE_LIT("tstripe\x1f" "customer.updated"));
    json_int_t n = doc != NULL ? json_integer_value(json_object_get(doc, "count")) : -1;
    json_decref(doc);
    sy_txn_abort(txn);
    return n;
}

static json_t *drift_alerts(fixture_t *f)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    json_t *list = sy_alerts_unresolved(txn, "schema_drift");
    sy_txn_abort(txn);
    return list;
}

static void test_aborted_step_learns_nothing(void **state)
{
    fixture_t *f = *state;
    char a[300], b[300];
    customer(a, sizeof(a), "\"a@b.test\"");
    customer(b, sizeof(b), "7");
    const char *const learn[] = {a, a, a};
    step(f, learn, 3, 1, NOW);
    assert_int_equal(stored_count(f), 3);
    /* a step that changes email's type, aborted (as when the log writer redoes its transaction), then committed */
    const char *const odd[] = {b, b};
    step(f, odd, 2, 0, NOW + 10);
    assert_int_equal(stored_count(f), 3);
    json_t *none = drift_alerts(f);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    step(f, odd, 2, 1, NOW + 20);
    assert_int_equal(stored_count(f), 5);
    json_t *list = drift_alerts(f), *al = json_array_get(list, 0);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_object_get(al, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(al, "seq")), 4);
    assert_string_equal(json_string_value(json_object_get(al, "field")), "customer.updated data.object.email");
    assert_non_null(strstr(json_string_value(json_object_get(al, "message")), "policy fields: email"));
    json_decref(list);
}

static void test_settled_shape_counts_in_memory(void **state)
{
    fixture_t *f = *state;
    char a[300];
    customer(a, sizeof(a), "\"a@b.test\"");
    const char *learn[SY_DRIFT_SETTLED + 1];
    for (size_t i = 0; i != SY_DRIFT_SETTLED + 1; ++i)
        learn[i] = a;
    step(f, learn, SY_DRIFT_SETTLED + 1, 1, NOW); /* source learnt (>= SY_DRIFT_LEARN_EVENTS), shape settled */
    assert_int_equal(stored_count(f), SY_DRIFT_SETTLED + 1);
    step(f, learn, 2, 1, NOW + 100); /* within the second: counted in memory, nothing written */
    assert_int_equal(stored_count(f), SY_DRIFT_SETTLED + 1);
    step(f, learn, 1, 1, NOW + 1200); /* a second later: written with what memory held */
    assert_int_equal(stored_count(f), SY_DRIFT_SETTLED + 4);
    step(f, learn, 1, 1, NOW + 1300);
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    assert_int_equal(sy_drift_flush_all(f->drift, txn, NOW + 1400), 0); /* the applier's stop */
    assert_int_equal(sy_txn_commit(txn), 0);
    sy_drift_flushed_all(f->drift);
    assert_int_equal(stored_count(f), SY_DRIFT_SETTLED + 5);
    json_t *none = drift_alerts(f);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_aborted_step_learns_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settled_shape_counts_in_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
