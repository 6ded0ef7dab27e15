/*
 * hub/sync/replay.c: a replay that meets a full map grows it and runs the batch again, losing and repeating nothing.
 *
 * The log holds 2,000 Stripe customers the applier never saw, in a store whose map starts at 1 MiB (it may grow to
 * 64 MiB). A reapply under the example policy creates their golden records, which do not fit in the initial map:
 * the replay must grow it (no transaction open) and finish with every record created exactly once. (Before, the
 * first full map failed the whole replay: "run it again".)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "records.h"
#include "replay.h"
#include "store.h"
#include "../support/log_append.h"

#define CUSTOMERS 2000

static void append_customer(sy_store_t *store, int i, int64_t now_ms)
{
    char id[32], body[512];
    snprintf(id, sizeof(id), "evt_grow_%d", i);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"object\":\"event\",\"created\":%lld,\"type\":\"customer.created\",\"data\":{\"object\":"
             "{\"id\":\"cus_grow_%d\",\"object\":\"customer\",\"email\":\"grow%d@example.test\",\"name\":\"Grow %d\","
             "\"phone\":\"+1555010%04d\",\"metadata\":{\"lifecycle_stage\":\"customer\"}}}}",
             id, (long long)(now_ms / 1000 - 60), i, i, i, i);
    sy_event_t ev = {.received_at_ms = now_ms, .occurred_at_ms = (now_ms / 1000 - 60) * 1000,
                     .source = SY_SLICE_LIT("stripe"), .connector = SY_SLICE_LIT("stripe"),
                     .event_id = sy_slice_cstr(id), .type = SY_SLICE_LIT("customer.created"),
                     .signature = SY_SLICE_LIT("stripe-v1"), .batch_size = 1, .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

static void test_replay_grows_a_full_map(void **state)
{
    (void)state;
    char dir[256], path[1200];
    snprintf(dir, sizeof(dir), "%s/sy-replay-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    sy_error_t err = {0};
    sy_store_t *store;
    assert_int_equal(sy_store_open(&store, dir, 1u << 20, 64u << 20, SY_STORE_CREATE, &err), 0);
    int64_t now = sy_now_ms();
    for (int i = 0; i != CUSTOMERS; ++i)
        append_customer(store, i, now);
    sy_store_stats_t before, after;
    assert_int_equal(sy_store_stats(store, &before), 0);

    sy_policy_t *policy;
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_policy_load(&policy, path, &err), 0);
    sy_replay_spec_t spec;
    sy_replay_spec_init(&spec);
    sy_replay_progress_t progress = {0};
    assert_int_equal(sy_replay_run(store, policy, &spec, &progress, NULL, 0, NULL, NULL), 0);
    assert_int_equal(atomic_load(&progress.read), CUSTOMERS); /* each event read once, none twice */

    assert_int_equal(sy_store_stats(store, &after), 0);
    if (after.map_size <= before.map_size)
        fail_msg("the replay did not need to grow the map (%llu bytes): the test proves nothing",
                 (unsigned long long)after.map_size);
    sy_txn_t *txn;
    uint64_t records = 0, next = 0;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_txn_count(txn, SY_DB_RECORDS, &records), 0);
    assert_int_equal(sy_meta_get_u64(txn, "next_record", &next), 0);
    sy_txn_abort(txn);
    assert_int_equal(records, CUSTOMERS);
    assert_int_equal(next, CUSTOMERS); /* no record made twice by a batch run again */

    sy_policy_destroy(policy);
    sy_store_close(store);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/switchyard.lock", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_grows_a_full_map)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
