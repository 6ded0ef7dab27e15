/*
 * hub/sync/change_shared.c + applier.c: a cluster's merge is made exactly between the log seqs its marker names,
 * whatever batch the applier decoded. Markers are written as the consumer writes them (in the commit after the
 * events before them); the applier, given all events at once, must cut its batch: a merge of two Stripe customers
 * placed after the first one's event and before the second's is refused (no record yet for the second), the same
 * merge placed after the second's event is made, and the second customer's later event lands in the kept record.
 * A marker at the cursor of an applier with nothing left to apply is made too. The answers are kept for the markers
 * this hub published ("mine"), once each, and no marker is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applier.h"
#include "change_shared.h"
#include "records.h"
#include "store.h"
#include "../support/data_dir.h"
#include "../support/log_append.h"

#define NOW 1700000000000ll

static void append_customer(sy_store_t *store, int k, const char *cus, const char *email)
{
    char id[32], body[400];
    snprintf(id, sizeof(id), "evt_cs_%d", k);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"type\":\"customer.updated\",\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\","
             "\"email\":\"%s\"}}}",
             id, (long long)(NOW / 1000 + k), cus, email);
    sy_event_t ev = {.received_at_ms = NOW, .occurred_at_ms = NOW + 1000 * k, .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"), .event_id = sy_slice_cstr(id),
                     .type = SY_SLICE_LIT("customer.updated"), .signature = SY_SLICE_LIT("stripe-v1"), .batch_size = 1,
                     .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

/* What the consumer does for a message of "<stream>.admin": the marker at the log's last seq. */
static void mark_merge(sy_store_t *store, uint64_t stream_seq, int mine, char *id, size_t id_len)
{
    sy_change_t c = {.kind = SY_CHANGE_MERGE, .a = "stripe:cus_p1", .b = "stripe:cus_p2", .why = "test"};
    json_t *msg = sy_change_shared_encode(&c, "hub-t", NOW, id, id_len);
    sy_txn_t *txn;
    assert_non_null(msg);
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    assert_int_equal(sy_change_shared_consume(txn, msg, stream_seq, mine), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    json_decref(msg);
}

/* Waits (bounded: 30 s) for the answer of change id; returns its code, *result set on success. */
static int wait_answer(sy_store_t *store, sy_applier_t *a, const char *id, json_t **result, char *err, size_t len)
{
    struct timespec tick = {0, 20 * 1000000};
    for (int i = 0; i != 1500; ++i) {
        int rc = sy_change_shared_result(store, id, result, err, len);
        if (rc != 1)
            return rc;
        sy_applier_notify(a);
        nanosleep(&tick, NULL);
    }
    fail_msg("change %s was not made within 30 s", id);
    return -1;
}

static char *find(sy_store_t *store, const sy_policy_t *p, const char *query)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    char *id = sy_records_find(txn, p, query);
    sy_txn_abort(txn);
    return id;
}

static int on_any(void *arg, sy_slice_t key, sy_slice_t val)
{
    (void)key;
    (void)val;
    ++*(int *)arg;
    return 0;
}

static int markers_left(sy_store_t *store)
{
    sy_txn_t *txn;
    int n = 0;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_true(sy_txn_scan(txn, SY_DB_META, SY_SLICE_LIT("cluster_ch:"), SY_SLICE_LIT("cluster_ch:"), on_any, &n) >=
                0);
    sy_txn_abort(txn);
    return n;
}

static void test_merge_made_between_its_seqs(void **state)
{
    (void)state;
    char dir[256], path[1200], early[256], late[256], idle[256], theirs[256], err[512];
    sy_error_t e = {0};
    sy_store_t *store;
    sy_policy_t *policy;
    sy_applier_t *a;
    json_t *result = NULL;

    atomic_store(&sy_change_shared_enabled, 1);
    assert_non_null(sy_test_make_dir(dir, sizeof(dir), "sy-change-shared"));
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_store_open(&store, dir, 32u << 20, 32u << 20, SY_STORE_CREATE, &e), 0);
    assert_int_equal(sy_policy_load(&policy, path, &e), 0);

    /* the log as a cluster's consumer leaves it, before the applier has run at all */
    append_customer(store, 1, "cus_p1", "p1@example.test");
    mark_merge(store, 2, 1, early, sizeof(early)); /* after seq 1: cus_p2 has no record yet */
    append_customer(store, 3, "cus_p2", "p2@example.test");
    mark_merge(store, 4, 1, late, sizeof(late)); /* after seq 2: both exist */
    mark_merge(store, 5, 0, theirs, sizeof(theirs)); /* another hub's, same place: refused, no answer kept here */
    append_customer(store, 6, "cus_p2", "p2-later@example.test");

    assert_int_equal(sy_applier_start(&a, store, policy, path), 0);
    assert_int_equal(wait_answer(store, a, early, &result, err, sizeof(err)), SY_ENOTFOUND);
    assert_null(result);
    assert_non_null(strstr(err, "stripe:cus_p2"));
    assert_int_equal(wait_answer(store, a, late, &result, err, sizeof(err)), 0);
    const sy_policy_t *p = sy_applier_policy_ref(a);
    char *p1 = find(store, p, "stripe:cus_p1"), *p2 = find(store, p, "stripe:cus_p2"),
         *later = find(store, p, "p2-later@example.test");
    assert_non_null(p1);
    assert_string_equal(json_string_value(json_object_get(result, "kept")), p1);
    assert_non_null(json_string_value(json_object_get(result, "merged")));
    assert_string_not_equal(json_string_value(json_object_get(result, "merged")), p1);
    json_decref(result);
    /* the event after the merge resolved into the kept record */
    assert_non_null(p2);
    assert_non_null(later);
    assert_string_equal(p2, p1);
    assert_string_equal(later, p1);
    /* collected once: asked again, the answer is gone */
    assert_int_equal(sy_change_shared_result(store, late, &result, err, sizeof(err)), 1);
    assert_int_equal(sy_change_shared_result(store, theirs, &result, err, sizeof(err)), 1);

    /* caught up: a marker at the cursor is made by a step with no event (refused: already one record) */
    mark_merge(store, 7, 1, idle, sizeof(idle));
    sy_applier_notify(a);
    assert_int_equal(wait_answer(store, a, idle, &result, err, sizeof(err)), SY_EINVAL);
    assert_int_equal(markers_left(store), 0);

    free(p1);
    free(p2);
    free(later);
    sy_applier_policy_unref(a, p);
    sy_applier_stop(a);
    sy_store_close(store);
    sy_test_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_made_between_its_seqs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
