/* A cluster's delivery outcomes applied to a hub's outbox (outcome.h): an outcome waits until the hub's applier has
 * applied the push's seq, settles only the fields queued at or before it with the value delivered (a value queued
 * again since stays, even the same one), leaves the rest queued under the key the holder computes for it, makes the
 * dead letter of a dead outcome, and is a no-op on the hub that settled the push (which queued it for publishing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outcome.h"
#include "queue.h"
#include "records.h"
#include "../support/data_dir.h"

#define NOW 1700000000000ll

typedef struct {
    char dir[256];
    sy_store_t *store;
    sy_txn_t *txn;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/sy-outcome-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&f->store, f->dir, 64u << 20, 256u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &f->txn), 0);
    assert_int_equal(sy_txn_put(f->txn, SY_DB_META, SY_SLICE_LIT("instance_id"), SY_SLICE_LIT("0123456789abcdef")), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->txn != NULL)
        sy_txn_abort(f->txn);
    sy_store_close(f->store);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Queues a push for stripe and cust_1 as the applier does: fields {name: [value, fseq]}, seq the newest fseq. */
static void queue_push(sy_txn_t *txn, uint64_t id, json_t *fields_fseq)
{
    unsigned char key[16];
    char idtext[32], idem[128];
    json_t *fields = json_object(), *fseq = json_object(), *v;
    const char *name;
    json_int_t seq = 0;
    json_object_foreach(fields_fseq, name, v)
    {
        json_object_set(fields, name, json_array_get(v, 0));
        json_object_set(fseq, name, json_array_get(v, 1));
        if (json_integer_value(json_array_get(v, 1)) > seq)
            seq = json_integer_value(json_array_get(v, 1));
    }
    json_decref(fields_fseq);
    snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:[s], s:i, s:i, s:I, s:I}", "id", idtext, "spoke", "stripe",
                            "record", "cust_1", "fields", fields, "fseq", fseq, "reasons", "test", "revision", 0,
                            "attempts", 0, "enqueued_at_ms", (json_int_t)NOW, "seq", seq);
    assert_int_equal(sy_records_idempotency_key(txn, doc, 0, idem, sizeof(idem)), 0);
    json_object_set_new(doc, "idempotency_key", json_string(idem));
    sy_put_be64(key, (uint64_t)NOW);
    sy_put_be64(key + 8, id);
    assert_int_equal(sy_queue_add(txn, key, doc), 0);
    assert_int_equal(sy_txn_put(txn, SY_DB_PENDING, SY_SLICE_LIT("stripe\x1f" "cust_1"), (sy_slice_t){(const char *)key, 16}),
                     0);
    assert_int_equal(sy_meta_put_u64(txn, "next_push", id), 0);
    json_decref(doc);
}

/* The push queued for stripe and cust_1, or NULL. */
static json_t *queued(sy_txn_t *txn)
{
    sy_slice_t v;
    if (sy_txn_get(txn, SY_DB_PENDING, SY_SLICE_LIT("stripe\x1f" "cust_1"), &v) != 0)
        return NULL;
    assert_int_equal(v.len, 16);
    unsigned char key[16];
    memcpy(key, v.base, 16);
    json_t *doc = sy_doc_get(txn, SY_DB_OUTBOX, (sy_slice_t){(const char *)key, 16});
    assert_non_null(doc);
    return doc;
}

static json_t *outcome(const char *id, const char *kind, json_t *fields, json_int_t seq)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "v", 1, "id", id, "node", "hub-0", "kind", kind,
                     "spoke", "stripe", "record", "cust_1", "seq", seq, "fields", fields);
}

static void test_waits_for_the_applier(void **state)
{
    fixture_t *f = *state;
    queue_push(f->txn, 1, json_pack("{s:[s,i], s:[s,i]}", "email", "a@x.test", 5, "name", "Ann", 7));
    assert_int_equal(sy_meta_put_u64(f->txn, "applier_cursor", 4), 0);
    json_t *oc = outcome("oc-1", "done", json_pack("{s:s, s:s}", "email", "a@x.test", "name", "Ann"), 7);
    assert_int_equal(sy_outcome_consume(f->txn, oc, 100, NOW), 0);
    json_t *p = queued(f->txn);
    assert_int_equal(json_object_size(json_object_get(p, "fields")), 2); /* the applier is at 4: it waits */
    json_decref(p);
    assert_int_equal(sy_outcome_apply_due(f->txn, 6, NOW), 0);
    p = queued(f->txn);
    assert_int_equal(json_object_size(json_object_get(p, "fields")), 2);
    json_decref(p);
    assert_int_equal(sy_outcome_apply_due(f->txn, 7, NOW), 0); /* the step that passes 7 */
    assert_null(queued(f->txn));
    uint64_t n = 1;
    assert_int_equal(sy_txn_count(f->txn, SY_DB_OUTBOX, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sy_outcome_apply_due(f->txn, 9, NOW), 0); /* applied once: nothing waits any more */
    json_decref(oc);
}

static void test_value_queued_again_stays(void **state)
{
    fixture_t *f = *state;
    /* a@x sent at seq 5; then b, then a again, folded in at 9: the tool holds b now, so a must go again */
    queue_push(f->txn, 1, json_pack("{s:[s,i]}", "email", "a@x.test", 9));
    assert_int_equal(sy_meta_put_u64(f->txn, "applier_cursor", 9), 0);
    json_t *oc = outcome("oc-1", "done", json_pack("{s:s}", "email", "a@x.test"), 5);
    assert_int_equal(sy_outcome_consume(f->txn, oc, 100, NOW), 0);
    json_t *p = queued(f->txn);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "fields"), "email")), "a@x.test");
    json_decref(p);
    json_decref(oc);
}

static void test_rest_keeps_the_holders_key(void **state)
{
    fixture_t *f = *state;
    queue_push(f->txn, 1, json_pack("{s:[s,i], s:[s,i]}", "email", "a@x.test", 5, "name", "Bo", 8));
    assert_int_equal(sy_meta_put_u64(f->txn, "applier_cursor", 8), 0);
    json_t *oc = outcome("oc-1", "done", json_pack("{s:s}", "email", "a@x.test"), 5);
    assert_int_equal(sy_outcome_consume(f->txn, oc, 100, NOW), 0);
    json_t *p = queued(f->txn);
    assert_int_equal(json_object_size(json_object_get(p, "fields")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "fields"), "name")), "Bo");
    assert_null(json_object_get(json_object_get(p, "fseq"), "email"));
    /* the holder, having removed the delivered push, queued name=Bo at 8 in a push of its own: the same key */
    json_t *theirs = json_pack("{s:s, s:s, s:{s:s}, s:i}", "spoke", "stripe", "record", "cust_1", "fields", "name", "Bo",
                               "seq", 8);
    char want[128];
    assert_int_equal(sy_records_idempotency_key(f->txn, theirs, 0, want, sizeof(want)), 0);
    assert_string_equal(json_string_value(json_object_get(p, "idempotency_key")), want);
    json_decref(theirs);
    json_decref(p);
    json_decref(oc);
}

static void test_dead_letter_on_every_hub(void **state)
{
    fixture_t *f = *state;
    queue_push(f->txn, 3, json_pack("{s:[s,i]}", "email", "a@x.test", 5));
    assert_int_equal(sy_meta_put_u64(f->txn, "applier_cursor", 5), 0);
    json_t *oc = outcome("oc-1", "dead", json_pack("{s:s}", "email", "a@x.test"), 5);
    json_object_set_new(oc, "dead", json_pack("{s:s, s:{s:i}, s:I}", "reason", "the tool refused it", "response",
                                              "status", 400, "died_at_ms", (json_int_t)NOW));
    assert_int_equal(sy_outcome_consume(f->txn, oc, 100, NOW), 0);
    assert_null(queued(f->txn));
    unsigned char dk[8];
    sy_put_be64(dk, 3);
    json_t *dead = sy_doc_get(f->txn, SY_DB_DEAD, (sy_slice_t){(const char *)dk, 8});
    assert_non_null(dead);
    assert_string_equal(json_string_value(json_object_get(dead, "reason")), "the tool refused it");
    assert_string_equal(json_string_value(json_object_get(json_object_get(dead, "fields"), "email")), "a@x.test");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(dead, "response"), "status")), 400);
    json_decref(dead);
    json_t *summary = sy_queue_summary(f->txn);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(summary, "stripe"), "dead")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(summary, "stripe"), "queued")), 0);
    json_decref(summary);
    /* the same outcome again (a republish after the duplicate window): nothing more */
    assert_int_equal(sy_outcome_consume(f->txn, oc, 101, NOW), 0);
    summary = sy_queue_summary(f->txn);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(summary, "stripe"), "dead")), 1);
    json_decref(summary);
    json_decref(oc);
}

static void test_no_op_where_settled(void **state)
{
    fixture_t *f = *state;
    queue_push(f->txn, 1, json_pack("{s:[s,i]}", "email", "a@x.test", 5));
    assert_int_equal(sy_meta_put_u64(f->txn, "applier_cursor", 5), 0);
    json_t *fields = json_pack("{s:s}", "email", "a@x.test");
    assert_int_equal(sy_outcome_queue(f->txn, "hub-0", "done", "stripe", "cust_1", fields, 5, NULL, NULL, NOW), 0);
    json_decref(fields);
    assert_int_equal(sy_txn_commit(f->txn), 0);
    f->txn = NULL;
    int rc;
    json_t *list = sy_outcome_queue_peek(f->store, 10, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(list), 1);
    json_t *oc = json_object_get(json_array_get(list, 0), "outcome");
    assert_string_equal(json_string_value(json_object_get(oc, "kind")), "done");
    assert_int_equal(sy_txn_begin(f->store, 1, &f->txn), 0);
    /* read back here (the settle's marker): this hub's own settle did it all; the push is as the test left it */
    assert_int_equal(sy_outcome_consume(f->txn, oc, 100, NOW), 0);
    json_t *p = queued(f->txn);
    assert_non_null(p);
    json_decref(p);
    /* the marker is gone with it: the same outcome on a hub that did not settle it (here: again) applies */
    assert_int_equal(sy_outcome_consume(f->txn, oc, 101, NOW), 0);
    assert_null(queued(f->txn));
    uint64_t n = (uint64_t)json_integer_value(json_object_get(json_array_get(list, 0), "n"));
    assert_int_equal(sy_outcome_queue_delete(f->txn, &n, 1), 0);
    assert_int_equal(sy_txn_commit(f->txn), 0);
    f->txn = NULL;
    json_decref(list);
    list = sy_outcome_queue_peek(f->store, 10, &rc);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_waits_for_the_applier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_queued_again_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_keeps_the_holders_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_on_every_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_op_where_settled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
