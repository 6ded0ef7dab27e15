/*
 * hub/sync/records.c sy_records_idempotency_key: "sy-<instance>-<digest>". The hubs of a cluster give the same push
 * the same key (so a new lease holder's resend is replayed by the tool, not written twice: issue 14), which needs
 * the key to depend on what is sent and nothing local: not the push's id or revision (they differ between hubs that
 * delivered at different times), not the order in which its fields were set. It must change with anything sent
 * (a provider refuses one key with other parameters) and with the salt (a new request with the same contents).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "records.h"
#include "store.h"
#include "../support/data_dir.h"

#define INSTANCE "0123456789abcdef"

static char dir[512];
static sy_store_t *store;
static sy_txn_t *txn;

static int setup(void **state)
{
    sy_error_t err = {0};
    assert_non_null(sy_test_make_dir(dir, sizeof(dir), "sy-idem"));
    assert_int_equal(sy_store_open(&store, dir, 8u << 20, 8u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    assert_int_equal(sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), SY_SLICE_LIT(INSTANCE)), 0);
    return 0;
}

static int teardown(void **state)
{
    sy_txn_abort(txn);
    sy_store_close(store);
    sy_test_remove_dir(dir);
    return 0;
}

static json_t *push(const char *id, long long revision, const char *spoke, const char *record, long long seq)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:I, s:{s:s, s:s}}", "id", id, "revision", (json_int_t)revision, "spoke",
                     spoke, "record", record, "seq", (json_int_t)seq, "fields", "email", "a@x.test", "name", "Ann");
}

static void key_of(json_t *p, long long salt, char out[128])
{
    assert_int_equal(sy_records_idempotency_key(txn, p, salt, out, 128), 0);
    json_decref(p);
}

static void test_same_push_same_key_on_any_hub(void **state)
{
    char a[128], b[128];
    key_of(push("7", 0, "stripe", "r1", 42), 0, a);
    /* another hub: its own push id and revision for the same contents */
    key_of(push("19", 3, "stripe", "r1", 42), 0, b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 3 + 16 + 1 + 24);
    assert_memory_equal(a, "sy-" INSTANCE "-", 20);
    /* the fields in another order (set by events in another order): still the same */
    json_t *p = json_pack("{s:s, s:I, s:s, s:s, s:I, s:{s:s, s:s}}", "id", "7", "revision", (json_int_t)0, "spoke",
                          "stripe", "record", "r1", "seq", (json_int_t)42, "fields", "name", "Ann", "email", "a@x.test");
    key_of(p, 0, b);
    assert_string_equal(a, b);
}

static void test_key_changes_with_what_is_sent(void **state)
{
    char base[128], k[128];
    key_of(push("7", 0, "stripe", "r1", 42), 0, base);
    key_of(push("7", 0, "hubspot", "r1", 42), 0, k);
    assert_string_not_equal(base, k);
    key_of(push("7", 0, "stripe", "r2", 42), 0, k);
    assert_string_not_equal(base, k);
    key_of(push("7", 0, "stripe", "r1", 43), 0, k); /* a later event folded in (even back to the same values) */
    assert_string_not_equal(base, k);
    json_t *p = push("7", 0, "stripe", "r1", 42);
    json_object_set_new(json_object_get(p, "fields"), "email", json_string("b@x.test"));
    key_of(p, 0, k);
    assert_string_not_equal(base, k);
    key_of(push("7", 0, "stripe", "r1", 42), 1, k); /* a new request for the same contents (admin retry) */
    assert_string_not_equal(base, k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_push_same_key_on_any_hub),
        cmocka_unit_test(test_key_changes_with_what_is_sent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
