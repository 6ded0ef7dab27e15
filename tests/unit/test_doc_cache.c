/*
 * hub/sync/doc_cache.c through records.c: a batch applied with the per-batch cache (and the arena, as the applier runs
 * it) stores exactly the bytes the same batch stores without them, in every golden-record DB. The batch touches one
 * record again and again (field changes and a clear, conflicts and reverts, coalesced pushes, a subscription, a
 * deletion), ties two records by a strong key (an automatic merge in the middle of the batch), and carries a tool
 * object id of 300 bytes (a key codec.c truncates when it reads the record back); then the same log is applied
 * again (a reapply).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "codec.h"
#include "doc_cache.h"
#include "observe.h"
#include "policy.h"
#include "records.h"
#include "store.h"
#include "../support/log_append.h"

#define T0 1795000000000LL

static int seq_no;

static void hubspot(sy_store_t *store, unsigned contact, const char *prop, const char *value)
{
    char body[600], id[32];
    int64_t t = T0 + ++seq_no * 1000;
    snprintf(id, sizeof(id), "hs-%d", seq_no);
    snprintf(body, sizeof(body),
             "{\"eventId\":%d,\"occurredAt\":%lld,\"subscriptionType\":\"contact.propertyChange\",\"objectId\":%u,"
             "\"propertyName\":\"%s\",\"propertyValue\":\"%s\"}",
             seq_no, (long long)t, contact, prop, value);
    sy_event_t ev = {.received_at_ms = t, .occurred_at_ms = t, .source = SY_SLICE_LIT("hubspot"),
                     .connector = SY_SLICE_LIT("hubspot"), .event_id = sy_slice_cstr(id),
                     .type = SY_SLICE_LIT("contact.propertyChange"), .batch_size = 1, .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

static void stripe(sy_store_t *store, const char *type, const char *object)
{
    char body[1200], id[32];
    int64_t t = T0 + ++seq_no * 1000;
    snprintf(id, sizeof(id), "evt_%d", seq_no);
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"type\":\"%s\",\"created\":%lld,\"data\":{\"object\":%s}}", id, type,
             (long long)(t / 1000), object);
    sy_event_t ev = {.received_at_ms = t, .occurred_at_ms = t / 1000 * 1000, .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"), .event_id = sy_slice_cstr(id), .type = sy_slice_cstr(type),
                     .batch_size = 1, .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

static void fill(sy_store_t *store)
{
    char obj[900], longid[301];
    memset(longid, 'x', 300);
    longid[300] = '\0';
    seq_no = 0;
    hubspot(store, 51, "email", "ana@acme.example");
    hubspot(store, 51, "name", "Ana");
    stripe(store, "customer.updated",
           "{\"id\":\"cus_A\",\"email\":\"ana.old@acme.example\",\"name\":\"Ana\",\"metadata\":{\"hubspot_contact_id\":\"51\"}}");
    stripe(store, "customer.subscription.updated",
           "{\"id\":\"sub_1\",\"customer\":\"cus_A\",\"status\":\"active\",\"items\":{\"data\":[{\"price\":{\"id\":\"p1\","
           "\"unit_amount\":900}}]}}");
    hubspot(store, 51, "email", "ana.new@acme.example");
    hubspot(store, 51, "phone", "+49 30 123456");
    hubspot(store, 51, "phone", ""); /* a clear: empty strings in the record */
    stripe(store, "customer.updated", "{\"id\":\"cus_A\",\"email\":\"ana.other@acme.example\",\"name\":\"Ana\"}");
    snprintf(obj, sizeof(obj), "{\"id\":\"cus_%s\",\"email\":\"ana.new@acme.example\",\"name\":\"Ana L\"}", longid);
    stripe(store, "customer.updated", obj);
    snprintf(obj, sizeof(obj), "{\"id\":\"cus_%s\",\"email\":\"ana.new@acme.example\",\"name\":\"Ana Long\"}", longid);
    stripe(store, "customer.updated", obj);
    hubspot(store, 52, "email", "bo@acme.example");
    hubspot(store, 52, "company", "Nova Pixel Inc.");
    /* Linked to contact 52, with contact 51's email: the two records merge. */
    stripe(store, "customer.updated",
           "{\"id\":\"cus_B\",\"email\":\"ana.new@acme.example\",\"metadata\":{\"hubspot_contact_id\":\"52\"}}");
    hubspot(store, 52, "name", "Bo");
    hubspot(store, 51, "lifecyclestage", "customer");
    stripe(store, "customer.deleted", "{\"id\":\"cus_A\",\"email\":\"ana.other@acme.example\"}");
    hubspot(store, 51, "email", "ana.last@acme.example");
}

/* Applies the whole log in one transaction, with or without the cache and arena. */
static void apply_all(sy_store_t *store, const sy_policy_t *p, int cached)
{
    sy_txn_t *txn;
    sy_event_t ev;
    sy_apply_stats_t stats = {0};
    sy_doc_cache_t cache = {0};
    uint64_t after = 0;
    if (cached)
        sy_json_arena_begin();
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    sy_apply_ctx_t ctx = {.txn = txn, .policy = p, .now_ms = T0 + 100000, .stats = &stats,
                          .cache = cached ? &cache : NULL};
    while (sy_store_event_next(txn, after, &ev) == 0) {
        sy_observation_t *obs;
        size_t nobs;
        const char *why;
        ctx.seq = after = ev.seq;
        assert_int_equal(sy_observe(p, &ev, &obs, &nobs, &why), 0);
        for (size_t i = 0; i != nobs; ++i)
            assert_int_equal(sy_records_apply(&ctx, &obs[i]), 0);
        sy_observations_free(obs, nobs);
    }
    assert_int_equal(sy_records_flush(&ctx), 0);
    assert_int_equal(sy_records_add_stats(txn, &stats), 0);
    sy_doc_cache_dispose(&cache);
    assert_int_equal(sy_txn_commit(txn), 0);
    sy_json_arena_end();
    assert_true(stats.auto_merges == 1 || stats.replayed != 0);
}

typedef struct st_dump_t {
    char *text;
    size_t len, cap;
} dump_t;

static void dump_hex(dump_t *d, const char *p, size_t n)
{
    if (d->len + 2 * n + 8 > d->cap) {
        d->cap = (d->len + 2 * n + 8) * 2;
        assert_non_null(d->text = realloc(d->text, d->cap));
    }
    for (size_t i = 0; i != n; ++i)
        d->len += (size_t)snprintf(d->text + d->len, 3, "%02x", (unsigned char)p[i]);
    d->text[d->len++] = ' ';
    d->text[d->len] = '\0';
}

static int on_entry(void *arg, sy_slice_t key, sy_slice_t val)
{
    dump_hex(arg, key.base, key.len);
    dump_hex(arg, val.base, val.len);
    return 0;
}

/* Every golden-record DB (and meta) of a fresh store after the log was applied twice. Malloc'd text. */
static char *run(const sy_policy_t *p, int cached)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/sy-doc-cache-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    sy_error_t err = {0};
    sy_store_t *store;
    sy_txn_t *txn;
    assert_int_equal(sy_store_open(&store, dir, 1u << 20, 64u << 20, SY_STORE_CREATE, &err), 0);
    fill(store);
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    assert_int_equal(sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("instance_id"), SY_SLICE_LIT("0123456789abcdef")), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    apply_all(store, p, cached);
    apply_all(store, p, cached);
    dump_t d = {0};
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    for (int db = SY_DB_META; db != SY_DB_COUNT; ++db) {
        dump_hex(&d, "\n", 1);
        assert_int_equal(sy_txn_scan(txn, db, (sy_slice_t){"", 0}, (sy_slice_t){"", 0}, on_entry, &d), 0);
    }
    sy_txn_abort(txn);
    sy_store_close(store);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
    return d.text;
}

static void test_cached_batch_stores_the_same_bytes(void **state)
{
    (void)state;
    char path[1200];
    sy_error_t err = {0};
    sy_policy_t *p;
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    assert_int_equal(sy_policy_load(&p, path, &err), 0);
    char *plain = run(p, 0), *cached = run(p, 1);
    assert_true(strlen(plain) > 1000);
    assert_string_equal(plain, cached);
    free(plain);
    free(cached);
    sy_policy_destroy(p);
}

static void test_cache_get_put_flush(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/sy-doc-cache-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    sy_error_t err = {0};
    sy_store_t *store;
    sy_txn_t *txn;
    sy_slice_t v;
    sy_doc_cache_t c = {0};
    assert_int_equal(sy_store_open(&store, dir, 1u << 20, 64u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_txn_begin(store, 1, &txn), 0);
    assert_null(sy_doc_cache_get(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1")));
    json_t *doc = json_pack("{s:s, s:i}", "id", "cust_1", "n", 1);
    assert_int_equal(sy_doc_cache_put(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"), doc), 0);
    assert_int_equal(sy_txn_get(txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"), &v), SY_ENOTFOUND); /* not yet */
    json_t *again = sy_doc_cache_get(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"));
    assert_ptr_equal(again, doc); /* the same tree: later events see earlier changes */
    json_decref(again);
    /* Same key in another DB: another document. */
    assert_null(sy_doc_cache_get(&c, txn, SY_DB_OUTBOX, SY_SLICE_LIT("cust_1")));
    /* Many entries: the table grows. */
    for (int i = 0; i != 300; ++i) {
        char key[32];
        snprintf(key, sizeof(key), "k%d", i);
        json_t *d = json_pack("{s:i}", "i", i);
        assert_int_equal(sy_doc_cache_put(&c, txn, SY_DB_OUTBOX, sy_slice_cstr(key), d), 0);
        json_decref(d);
    }
    assert_int_equal(sy_doc_cache_flush(&c, txn), 0);
    assert_int_equal(sy_txn_get(txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"), &v), 0);
    json_t *stored = sy_codec_doc_decode(v.base, v.len);
    assert_true(json_equal(stored, doc));
    json_decref(stored);
    assert_int_equal(sy_txn_get(txn, SY_DB_OUTBOX, SY_SLICE_LIT("k299"), &v), 0);
    /* A key codec.c would truncate: written at once, and read back as stored. */
    char longkey[300];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    json_object_set_new(doc, longkey, json_true());
    assert_int_equal(sy_doc_cache_put(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"), doc), 0);
    again = sy_doc_cache_get(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_1"));
    assert_ptr_not_equal(again, doc);
    assert_null(json_object_get(again, longkey));
    assert_int_equal(json_object_size(again), 3);
    json_decref(again);
    json_decref(doc);
    /* An empty container 32 deep encodes but msgpack-c does not read it back: the cache does not keep it either. */
    json_t *deep = json_array();
    for (int d = 0; d != 31; ++d) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    doc = json_pack("{s:s, s:o}", "id", "cust_2", "deep", deep);
    assert_int_equal(sy_doc_cache_put(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_2"), doc), 0);
    assert_null(sy_doc_cache_get(&c, txn, SY_DB_RECORDS, SY_SLICE_LIT("cust_2")));
    json_decref(doc);
    sy_doc_cache_dispose(&c);
    sy_txn_abort(txn);
    sy_store_close(store);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_batch_stores_the_same_bytes),
        cmocka_unit_test(test_cache_get_put_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
