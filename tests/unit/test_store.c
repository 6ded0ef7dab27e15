/* The LMDB event log: append, dedupe (across and within batches), read back, full map → nothing half-written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "../support/data_dir.h"

typedef struct {
    char dir[256];
    sy_store_t *store;
} fixture_t;

static int open_fixture(void **state, uint64_t map_size)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/sy-store-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&f->store, f->dir, map_size, map_size, SY_STORE_CREATE, &err), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return open_fixture(state, 16u << 20);
}

static int setup_small(void **state)
{
    return open_fixture(state, 1u << 20);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_store_close(f->store);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Builds an append item whose value is an encoded event with the given id and body. */
static sy_append_t make_item(const char *source, const char *id, const char *body, char **owned)
{
    sy_event_t ev = {.received_at_ms = 1700000000000, .occurred_at_ms = 1699999999000, .source = sy_slice_cstr(source),
                     .connector = sy_slice_cstr(source), .event_id = sy_slice_cstr(id), .type = SY_SLICE_LIT("t.x"),
                     .signature = SY_SLICE_LIT("stripe-v1"), .batch_size = 1, .body = sy_slice_cstr(body)};
    size_t len;
    assert_int_equal(sy_codec_event_encode(&ev, owned, &len), 0);
    return (sy_append_t){.source = sy_slice_cstr(source), .event_id = sy_slice_cstr(id), .value = {*owned, len}};
}

static uint64_t count_events(sy_store_t *store)
{
    sy_store_stats_t st;
    assert_int_equal(sy_store_stats(store, &st), 0);
    return st.events;
}

static void test_append_assigns_increasing_seqs_and_reads_back_bytes(void **state)
{
    fixture_t *f = *state;
    char *v[3];
    sy_append_t items[3] = {make_item("stripe", "evt_1", "{\"a\":1}", &v[0]),
                            make_item("stripe", "evt_2", " {\"b\" : \"\\u00e9\"} ", &v[1]),
                            make_item("hubspot", "evt_1", "[1]", &v[2])};
    assert_int_equal(sy_store_append(f->store, items, 3), 0);
    assert_int_equal(items[0].seq, 1);
    assert_int_equal(items[1].seq, 2);
    assert_int_equal(items[2].seq, 3); /* same id, other source: not a duplicate */
    assert_false(items[2].duplicate);

    sy_store_read_t *rd;
    sy_event_t ev;
    assert_int_equal(sy_store_read_begin(f->store, &rd), 0);
    assert_int_equal(sy_store_event_get(rd, 2, &ev), 0);
    assert_int_equal(ev.seq, 2);
    assert_int_equal(ev.body.len, strlen(" {\"b\" : \"\\u00e9\"} "));
    assert_memory_equal(ev.body.base, " {\"b\" : \"\\u00e9\"} ", ev.body.len);
    assert_true(sy_slice_eq_cstr(ev.event_id, "evt_2"));
    assert_int_equal(ev.occurred_at_ms, 1699999999000);
    assert_int_equal(sy_store_event_next(rd, 2, &ev), 0);
    assert_int_equal(ev.seq, 3);
    assert_int_equal(sy_store_event_next(rd, 3, &ev), SY_ENOTFOUND);
    assert_int_equal(sy_store_event_get(rd, 99, &ev), SY_ENOTFOUND);
    uint64_t last;
    assert_int_equal(sy_store_last_seq(rd, &last), 0);
    assert_int_equal(last, 3);
    sy_store_read_end(rd);
    for (int i = 0; i != 3; ++i)
        free(v[i]);
}

static void test_duplicates_return_first_seq_and_store_once(void **state)
{
    fixture_t *f = *state;
    char *v[4];
    sy_append_t first[1] = {make_item("stripe", "evt_dup", "{}", &v[0])};
    assert_int_equal(sy_store_append(f->store, first, 1), 0);
    /* A retry in a later batch, and a repeat inside one batch. */
    sy_append_t later[3] = {make_item("stripe", "evt_new", "{}", &v[1]), make_item("stripe", "evt_dup", "{}", &v[2]),
                            make_item("stripe", "evt_new", "{}", &v[3])};
    assert_int_equal(sy_store_append(f->store, later, 3), 0);
    assert_false(later[0].duplicate);
    assert_int_equal(later[0].seq, 2);
    assert_true(later[1].duplicate);
    assert_int_equal(later[1].seq, 1);
    assert_true(later[2].duplicate);
    assert_int_equal(later[2].seq, 2);
    assert_int_equal(count_events(f->store), 2);

    sy_store_read_t *rd;
    uint64_t seq;
    assert_int_equal(sy_store_read_begin(f->store, &rd), 0);
    assert_int_equal(sy_store_lookup_event_id(rd, SY_SLICE_LIT("stripe"), SY_SLICE_LIT("evt_new"), &seq), 0);
    assert_int_equal(seq, 2);
    sy_store_read_end(rd);
    for (int i = 0; i != 4; ++i)
        free(v[i]);
}

static void test_full_map_refuses_whole_batch_and_keeps_earlier_events(void **state)
{
    fixture_t *f = *state;
    size_t big = 60 * 1024;
    char *body = malloc(big + 1), id[32], *v;
    memset(body, 'x', big);
    body[big] = '\0';
    uint64_t stored = 0;
    int rc = 0;
    /* A 1 MiB map that may not grow: 60 KiB events fill it within ~16 appends. */
    for (int i = 0; i != 64 && rc == 0; ++i) {
        snprintf(id, sizeof(id), "evt_%d", i);
        sy_append_t it = make_item("stripe", id, body, &v);
        rc = sy_store_append(f->store, &it, 1);
        if (rc == 0)
            ++stored;
        free(v);
    }
    assert_int_equal(rc, SY_EFULL);
    assert_true(stored > 0);
    assert_int_equal(count_events(f->store), stored);
    /* Small events still fit after a refusal: the failed transaction left nothing behind. */
    sy_append_t small = make_item("stripe", "evt_small", "{}", &v);
    rc = sy_store_append(f->store, &small, 1);
    free(v);
    if (rc == 0)
        assert_int_equal(count_events(f->store), stored + 1);
    else
        assert_int_equal(rc, SY_EFULL);
    free(body);
}

/* A rider that writes meta "k" = value and then fails with fail (0: succeeds); counts its runs. */
typedef struct {
    const char *value;
    int fail, runs;
} rider_arg_t;

static int ride_put(void *arg, sy_txn_t *txn)
{
    rider_arg_t *r = arg;
    ++r->runs;
    int rc = sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("k"), sy_slice_cstr(r->value));
    return rc != 0 ? rc : r->fail;
}

static int meta_is(sy_store_t *store, const char *value)
{
    sy_txn_t *rd;
    sy_slice_t v;
    assert_int_equal(sy_txn_begin(store, 0, &rd), 0);
    int rc = sy_txn_get(rd, SY_DB_META, SY_SLICE_LIT("k"), &v);
    int same = value == NULL ? rc == SY_ENOTFOUND : rc == 0 && sy_slice_eq_cstr(v, value);
    sy_txn_abort(rd);
    return same;
}

/* Riders share the events' commit; one that fails is rolled back alone, the events and other riders commit. */
static void test_riders_commit_with_the_events_and_fail_alone(void **state)
{
    fixture_t *f = *state;
    char *v[2];
    rider_arg_t good = {.value = "good"}, bad = {.value = "bad", .fail = SY_EINVAL};
    sy_rider_t r_bad = {.fn = ride_put, .arg = &bad}, r_good = {.fn = ride_put, .arg = &good, .next = &r_bad};
    sy_append_t items[1] = {make_item("stripe", "evt_r1", "{}", &v[0])};
    assert_int_equal(sy_store_append_riding(f->store, items, 1, &r_good), 0);
    assert_int_equal(r_good.result, 0);
    assert_int_equal(r_bad.result, SY_EINVAL);
    assert_int_equal(items[0].seq, 1);
    assert_int_equal(count_events(f->store), 1);
    assert_true(meta_is(f->store, "good")); /* bad wrote after good in the same commit, and was undone alone */

    /* Riders alone (no events): still a commit of their own. */
    good.value = "again";
    r_good.next = NULL;
    assert_int_equal(sy_store_append_riding(f->store, NULL, 0, &r_good), 0);
    assert_int_equal(r_good.result, 0);
    assert_true(meta_is(f->store, "again"));

    /* A batch that cannot commit takes its riders with it: their result is the commit's error. */
    sy_append_t toolong[1] = {make_item("stripe", "evt_r2", "{}", &v[1])};
    char longid[600];
    memset(longid, 'i', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    toolong[0].event_id = sy_slice_cstr(longid);
    good.value = "lost";
    assert_int_equal(sy_store_append_riding(f->store, toolong, 1, &r_good), SY_ETOOBIG);
    assert_int_equal(r_good.result, SY_ETOOBIG);
    assert_true(meta_is(f->store, "again"));
    assert_int_equal(count_events(f->store), 1);
    free(v[0]);
    free(v[1]);
}

/* A rider whose writes fill the map fails alone with SY_EFULL (its events still commit); after a grow it fits. */
static int ride_big(void *arg, sy_txn_t *txn)
{
    sy_slice_t *big = arg;
    return sy_txn_put(txn, SY_DB_META, SY_SLICE_LIT("big"), *big);
}

static void test_a_rider_that_fills_the_map_fails_alone(void **state)
{
    fixture_t *f = *state;
    sy_store_close(f->store);
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&f->store, f->dir, 1u << 20, 8u << 20, 0, &err), 0);
    size_t len = 2u << 20;
    char *bytes = calloc(1, len), *v;
    sy_slice_t big = {bytes, len};
    sy_rider_t rider = {.fn = ride_big, .arg = &big};
    sy_append_t items[1] = {make_item("stripe", "evt_f1", "{}", &v)};
    assert_int_equal(sy_store_append_riding(f->store, items, 1, &rider), 0);
    assert_int_equal(rider.result, SY_EFULL);
    assert_int_equal(count_events(f->store), 1);
    assert_int_equal(sy_store_grow(f->store), 1);
    assert_int_equal(sy_store_grow(f->store), 1); /* 4 MiB */
    assert_int_equal(sy_store_append_riding(f->store, NULL, 0, &rider), 0);
    assert_int_equal(rider.result, 0);
    free(v);
    free(bytes);
}

static void test_readonly_open_sees_writes_and_missing_dir_is_clear(void **state)
{
    fixture_t *f = *state;
    char *v;
    sy_append_t it = make_item("stripe", "evt_ro", "{}", &v);
    assert_int_equal(sy_store_append(f->store, &it, 1), 0);
    free(v);

    sy_store_t *ro;
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&ro, f->dir, 0, 0, SY_STORE_READONLY, &err), 0);
    assert_int_equal(count_events(ro), 1);
    sy_store_close(ro);

    assert_int_not_equal(sy_store_open(&ro, "/nonexistent/switchyard-data", 0, 0, SY_STORE_READONLY, &err), 0);
    assert_non_null(strstr(err.msg, "no event log here yet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_assigns_increasing_seqs_and_reads_back_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_return_first_seq_and_store_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_map_refuses_whole_batch_and_keeps_earlier_events, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_riders_commit_with_the_events_and_fail_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_rider_that_fills_the_map_fails_alone, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_sees_writes_and_missing_dir_is_clear, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
