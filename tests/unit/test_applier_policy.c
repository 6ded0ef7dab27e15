/*
 * hub/sync/applier.c: a long reader of the running policy (the admin API's health report scans every record) holds a
 * reference, not the mutex: the applier goes on applying meanwhile, and a reload swaps the policy without freeing
 * the one still referenced (freed at the last unref; ASan catches a use after free or a leak).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "applier.h"
#include "records.h"
#include "store.h"
#include "../support/data_dir.h"
#include "../support/log_append.h"

static uint64_t applier_cursor(sy_store_t *store)
{
    sy_txn_t *txn;
    uint64_t cursor = 0;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    assert_int_equal(sy_meta_get_u64(txn, "applier_cursor", &cursor), 0);
    sy_txn_abort(txn);
    return cursor;
}

static void append_customer(sy_store_t *store, const char *event_id, const char *customer)
{
    char body[400];
    int64_t now = sy_now_ms();
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"type\":\"customer.created\",\"created\":%lld,\"data\":{\"object\":{\"id\":\"%s\","
             "\"email\":\"%s@example.test\"}}}",
             event_id, (long long)(now / 1000), customer, customer);
    sy_event_t ev = {.received_at_ms = now, .occurred_at_ms = now / 1000 * 1000, .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"), .event_id = sy_slice_cstr(event_id),
                     .type = SY_SLICE_LIT("customer.created"), .signature = SY_SLICE_LIT("stripe-v1"), .batch_size = 1,
                     .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

/* Waits (bounded: 10 s) for the applier's cursor to reach seq; returns whether it did. */
static int wait_cursor(sy_store_t *store, uint64_t seq)
{
    struct timespec tick = {0, 20 * 1000000};
    for (int i = 0; i != 500; ++i) {
        if (applier_cursor(store) >= seq)
            return 1;
        nanosleep(&tick, NULL);
    }
    return 0;
}

static void test_referenced_policy_lets_the_applier_run_and_survives_a_reload(void **state)
{
    (void)state;
    char dir[256], path[1200], src[1200];
    snprintf(dir, sizeof(dir), "%s/sy-applier-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    /* A copy of the example policy that the test can rewrite (a reload must find a changed file). */
    snprintf(src, sizeof(src), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    snprintf(path, sizeof(path), "%s/policy.yaml", dir);
    FILE *in = fopen(src, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) != 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);

    sy_error_t err = {0};
    sy_store_t *store;
    sy_policy_t *policy;
    sy_applier_t *a;
    assert_int_equal(sy_store_open(&store, dir, 8u << 20, 8u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_policy_load(&policy, path, &err), 0);
    assert_int_equal(sy_applier_start(&a, store, policy, path), 0);

    /* A long reader holds the policy: the applier still applies. */
    const sy_policy_t *held = sy_applier_policy_ref(a);
    char hash[sizeof(held->hash)];
    memcpy(hash, held->hash, sizeof(hash));
    append_customer(store, "evt_ref_1", "cus_ref_1");
    sy_applier_notify(a);
    if (!wait_cursor(store, 1))
        fail_msg("the applier did not apply while a reader held the policy");

    /* A reload while it is held: the held policy stays readable, the new one runs. */
    out = fopen(path, "ab");
    assert_non_null(out);
    fputs("\n# changed by the test\n", out);
    fclose(out);
    assert_int_equal(sy_applier_reload(a, &err), 0);
    assert_string_equal(held->hash, hash);
    assert_true(held->num_fields > 0 && sy_policy_field_index(held, "email") != SY_POLICY_NONE);
    append_customer(store, "evt_ref_2", "cus_ref_2");
    sy_applier_notify(a);
    if (!wait_cursor(store, 2))
        fail_msg("the applier did not apply after the reload");
    sy_applier_policy_unref(a, held); /* frees the old policy: the last holder */

    /* A reference to the current policy, released before any reload, frees nothing. */
    const sy_policy_t *now = sy_applier_policy_ref(a);
    assert_string_not_equal(now->hash, hash);
    sy_applier_policy_unref(a, now);

    sy_applier_stop(a);
    sy_store_close(store);
    sy_test_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_referenced_policy_lets_the_applier_run_and_survives_a_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
