/* The outbox's per-spoke indexes and counters (queue.h): a round reads only what is due, counts follow every add,
 * remove, move and dead letter, and a data dir written without them (the old layout) is indexed at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempts.h"
#include "queue.h"
#include "records.h"
#include "../support/data_dir.h"

#define NOW 1700000000000ll

typedef struct {
    char dir[256];
    sy_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/sy-queue-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&f->store, f->dir, 64u << 20, 256u << 20, SY_STORE_CREATE, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_store_close(f->store);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void make_key(unsigned char key[16], int64_t due, uint64_t id)
{
    sy_put_be64(key, (uint64_t)due);
    sy_put_be64(key + 8, id);
}

static json_t *push_doc(const char *spoke, uint64_t id, int64_t enqueued)
{
    char idtext[32], rec[32];
    snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
    snprintf(rec, sizeof(rec), "cust_%llu", (unsigned long long)id);
    return json_pack("{s:s, s:s, s:s, s:{s:s}, s:[s], s:i, s:i, s:I}", "id", idtext, "spoke", spoke, "record", rec,
                     "fields", "email", "a@b.example", "reasons", "test", "revision", 0, "attempts", 0,
                     "enqueued_at_ms", (json_int_t)enqueued);
}

/* Adds a push through the index (as the applier does) or raw (as a version without the index did). */
static void add(sy_txn_t *txn, const char *spoke, uint64_t id, int64_t due, int64_t enqueued, int raw)
{
    unsigned char key[16];
    make_key(key, due, id);
    json_t *doc = push_doc(spoke, id, enqueued);
    if (raw)
        assert_int_equal(sy_doc_put(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16}, doc), 0);
    else
        assert_int_equal(sy_queue_add(txn, key, doc), 0);
    json_decref(doc);
}

typedef struct {
    size_t seen, stop_after;
    unsigned char last[16];
} visit_t;

static int on_visit(void *arg, const unsigned char key[16])
{
    visit_t *v = arg;
    memcpy(v->last, key, 16);
    return ++v->seen == v->stop_after;
}

static json_int_t figure(json_t *summary, const char *spoke, const char *field)
{
    return json_integer_value(json_object_get(json_object_get(summary, spoke), field));
}

static json_t *summary(sy_store_t *store)
{
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(store, 0, &txn), 0);
    json_t *s = sy_queue_summary(txn);
    sy_txn_abort(txn);
    assert_non_null(s);
    return s;
}

/* A round's reading does not grow with the queue: 5 due pushes among 3000 cost 5 visits (the test asserts the
 * count, never a time). */
static void test_due_reads_only_what_is_due_for_the_spoke(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    int rebuilt;
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    uint64_t id = 1;
    for (int i = 0; i != 2000; ++i, ++id)
        add(txn, "hubspot", id, NOW + 3600000 + i, NOW, 0); /* later: retries backing off */
    for (int i = 0; i != 5; ++i, ++id)
        add(txn, "hubspot", id, NOW - 10 + i, NOW - 10, 0); /* due */
    for (int i = 0; i != 1000; ++i, ++id)
        add(txn, "stripe", id, NOW - 100, NOW - 100, 0); /* due, another spoke: not read for hubspot */
    add(txn, "hubspot2", id++, NOW - 100, NOW - 100, 0); /* a name sharing the prefix */
    assert_int_equal(sy_txn_commit(txn), 0);

    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    visit_t v = {0};
    int64_t next = INT64_MAX;
    assert_int_equal(sy_queue_due(txn, "hubspot", NOW, &next, on_visit, &v), 0);
    assert_int_equal(v.seen, 5);
    assert_int_equal(next, NOW + 3600000); /* the next wake, from one more entry */
    v = (visit_t){.stop_after = 2};
    next = INT64_MAX;
    assert_int_equal(sy_queue_due(txn, "hubspot", NOW, &next, on_visit, &v), 0);
    assert_int_equal(v.seen, 2); /* the round's capacity stops it */
    assert_int_equal(sy_get_be64(v.last), (uint64_t)(NOW - 9));
    v = (visit_t){0};
    assert_int_equal(sy_queue_due(txn, "nobody", NOW, NULL, on_visit, &v), 0);
    assert_int_equal(v.seen, 0);
    sy_txn_abort(txn);

    json_t *s = summary(f->store);
    assert_int_equal(figure(s, "hubspot", "queued"), 2005);
    assert_int_equal(figure(s, "stripe", "queued"), 1000);
    assert_int_equal(figure(s, "hubspot2", "queued"), 1);
    assert_int_equal(figure(s, "hubspot", "oldest_enqueued_ms"), NOW - 10);
    json_decref(s);
}

/* A cluster follower's notifications (cluster_prune.c): only pushes of the spoke enqueued before the cutoff go,
 * oldest first, at most max per call, with their index entries, attempt logs and counts; a retried push that is due
 * later but was enqueued long ago goes by its age; another spoke and a name sharing the prefix stay. */
static void test_prune_older_goes_by_age_and_spoke(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    int rebuilt;
    size_t pruned = 0;
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    uint64_t id = 1;
    for (int i = 0; i != 300; ++i, ++id)
        add(txn, "slack", id, NOW - 50000 + i, NOW - 50000 + i, 0); /* old */
    add(txn, "slack", id++, NOW + 3600000, NOW - 40000, 0);       /* old, retried: due in an hour */
    for (int i = 0; i != 3; ++i, ++id)
        add(txn, "slack", id, NOW - 10 + i, NOW - 10 + i, 0); /* young */
    add(txn, "stripe", id++, NOW - 90000, NOW - 90000, 0);    /* old, another spoke */
    add(txn, "slack2", id++, NOW - 90000, NOW - 90000, 0);    /* old, a name sharing the prefix */
    json_t *attempt = json_pack("{s:i}", "status", 503);
    assert_int_equal(sy_attempts_add(txn, 1, attempt), 0);
    json_decref(attempt);

    assert_int_equal(sy_queue_prune_older(txn, "slack", NOW - 1000, 256, &pruned), 0);
    assert_int_equal(pruned, 256); /* at most a batch */
    assert_int_equal(sy_queue_prune_older(txn, "slack", NOW - 1000, 256, &pruned), 0);
    assert_int_equal(pruned, 45); /* the rest of the 300, and the retried one */
    assert_int_equal(sy_queue_prune_older(txn, "slack", NOW - 1000, 256, &pruned), 0);
    assert_int_equal(pruned, 0);
    json_t *left = sy_attempts_get(txn, 1);
    assert_int_equal(json_array_size(left), 0);
    json_decref(left);
    visit_t v = {0};
    assert_int_equal(sy_queue_due(txn, "slack", NOW + 7200000, NULL, on_visit, &v), 0);
    assert_int_equal(v.seen, 3); /* the young ones, and no index entry of a pruned push */
    assert_int_equal(sy_txn_commit(txn), 0);

    json_t *s = summary(f->store);
    assert_int_equal(figure(s, "slack", "queued"), 3);
    assert_int_equal(figure(s, "slack", "oldest_enqueued_ms"), NOW - 10);
    assert_int_equal(figure(s, "stripe", "queued"), 1);
    assert_int_equal(figure(s, "slack2", "queued"), 1);
    json_decref(s);
}

static void test_counts_follow_remove_move_and_dead_letters(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    unsigned char k1[16], k2[16], k3[16];
    assert_int_equal(sy_queue_index_ensure(f->store, NULL), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    add(txn, "stripe", 1, NOW, NOW - 500, 0);
    add(txn, "stripe", 2, NOW, NOW - 300, 0);
    add(txn, "hubspot", 3, NOW, NOW, 0);
    make_key(k1, NOW, 1);
    make_key(k2, NOW, 2);
    make_key(k3, NOW + 60000, 2);
    json_t *d1 = push_doc("stripe", 1, NOW - 500), *d2 = push_doc("stripe", 2, NOW - 300);
    /* retry with backoff: moved, still counted once */
    assert_int_equal(sy_queue_move(txn, k2, k3, d2), 0);
    /* a dead letter: out of the queue, into dead */
    assert_int_equal(sy_queue_dead_add(txn, "stripe", 1), 0);
    assert_int_equal(sy_queue_remove(txn, k1, d1), 0);
    assert_int_equal(sy_queue_remove(txn, k1, d1), 0); /* gone already: not counted twice */
    assert_int_equal(sy_txn_commit(txn), 0);

    /* by push id, without a scan: the moved push at its new key, the removed one gone */
    unsigned char found[16];
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    assert_int_equal(sy_queue_find(txn, 2, found), 0);
    assert_memory_equal(found, k3, 16);
    assert_int_equal(sy_queue_find(txn, 1, found), SY_ENOTFOUND);
    assert_int_equal(sy_queue_find(txn, 3, found), 0);
    sy_txn_abort(txn);

    json_t *s = summary(f->store);
    assert_int_equal(figure(s, "stripe", "queued"), 1);
    assert_int_equal(figure(s, "stripe", "dead"), 1);
    assert_int_equal(figure(s, "stripe", "oldest_enqueued_ms"), NOW - 300); /* the oldest left */
    assert_int_equal(figure(s, "hubspot", "queued"), 1);
    json_decref(s);

    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    visit_t v = {0};
    int64_t next = INT64_MAX;
    assert_int_equal(sy_queue_due(txn, "stripe", NOW, &next, on_visit, &v), 0);
    assert_int_equal(v.seen, 0);
    assert_int_equal(next, NOW + 60000);
    sy_txn_abort(txn);

    /* revived: the dead letter leaves, the push is queued again */
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    assert_int_equal(sy_queue_dead_add(txn, "stripe", -1), 0);
    assert_int_equal(sy_queue_add(txn, k1, d1), 0);
    assert_int_equal(sy_queue_add(txn, k1, d1), 0); /* the same key twice: one push */
    assert_int_equal(sy_txn_commit(txn), 0);
    s = summary(f->store);
    assert_int_equal(figure(s, "stripe", "queued"), 2);
    assert_int_equal(figure(s, "stripe", "dead"), 0);
    json_decref(s);
    int rebuilt = 1;
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 0); /* counts agree with the DBs: nothing to do at the next open */
    json_decref(d1);
    json_decref(d2);
}

/* A data dir from a version without the indexes: outbox and dead as they were, nothing in `queue`. */
static void test_old_layout_is_indexed_at_open(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    for (uint64_t id = 1; id <= 300; ++id)
        add(txn, id % 3 == 0 ? "stripe" : "hubspot", id, NOW + (int64_t)id * (id % 2 == 0 ? 1000 : -1), NOW - (int64_t)id, 1);
    unsigned char dk[8];
    sy_put_be64(dk, 999);
    json_t *dead = push_doc("stripe", 999, NOW);
    assert_int_equal(sy_doc_put(txn, SY_DB_DEAD, (sy_slice_t){(const char *)dk, 8}, dead), 0);
    json_decref(dead);
    assert_int_equal(sy_txn_commit(txn), 0);

    /* Readers of an unindexed dir still count and find right (by a scan). */
    unsigned char found[16];
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    assert_int_equal(sy_queue_find(txn, 7, found), 0);
    assert_int_equal(sy_get_be64(found + 8), 7);
    assert_int_equal(sy_queue_find(txn, 4242, found), SY_ENOTFOUND);
    sy_txn_abort(txn);
    json_t *s = summary(f->store);
    assert_int_equal(figure(s, "stripe", "queued"), 100);
    assert_int_equal(figure(s, "hubspot", "queued"), 200);
    assert_int_equal(figure(s, "stripe", "dead"), 1);
    assert_int_equal(figure(s, "stripe", "oldest_enqueued_ms"), NOW - 300);
    json_decref(s);

    int rebuilt = 0;
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 1);
    s = summary(f->store);
    assert_int_equal(figure(s, "stripe", "queued"), 100);
    assert_int_equal(figure(s, "hubspot", "queued"), 200);
    assert_int_equal(figure(s, "stripe", "dead"), 1);
    assert_int_equal(figure(s, "stripe", "oldest_enqueued_ms"), NOW - 300);
    assert_int_equal(figure(s, "hubspot", "oldest_enqueued_ms"), NOW - 299);
    json_decref(s);

    /* Due order per spoke: hubspot's odd ids are due (150 of them), its even ones later. */
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    visit_t v = {0};
    int64_t next = INT64_MAX;
    assert_int_equal(sy_queue_due(txn, "hubspot", NOW, &next, on_visit, &v), 0);
    assert_int_equal(v.seen, 100); /* ids not divisible by 3, odd: 1, 5, 7, 11, ... */
    assert_int_equal(next, NOW + 2000);
    sy_txn_abort(txn);

    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    assert_int_equal(sy_queue_find(txn, 8, found), 0); /* through the id index now */
    assert_int_equal((int64_t)sy_get_be64(found), NOW + 8000);
    sy_txn_abort(txn);
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 0);
    /* An older binary queued one more push without indexing it: the counts disagree, the next open re-indexes. */
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    add(txn, "stripe", 1000, NOW, NOW, 1);
    assert_int_equal(sy_txn_commit(txn), 0);
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 1);
    s = summary(f->store);
    assert_int_equal(figure(s, "stripe", "queued"), 101);
    json_decref(s);

    /* ... or queued one (a new id from next_push, as records.c counts them) and removed another, unindexed: the
     * counts agree, next_push says so. */
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    assert_int_equal(sy_meta_put_u64(txn, "next_push", 1001), 0);
    add(txn, "stripe", 1001, NOW, NOW, 1);
    unsigned char k3[16];
    make_key(k3, NOW - 3, 3);
    assert_int_equal(sy_txn_del(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)k3, 16}), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 1);
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    assert_int_equal(sy_queue_find(txn, 1001, found), 0);
    assert_int_equal(sy_queue_find(txn, 3, found), SY_ENOTFOUND);
    sy_txn_abort(txn);
    assert_int_equal(sy_queue_index_ensure(f->store, &rebuilt), 0);
    assert_int_equal(rebuilt, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_due_reads_only_what_is_due_for_the_spoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_follow_remove_move_and_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_layout_is_indexed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_older_goes_by_age_and_spoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
