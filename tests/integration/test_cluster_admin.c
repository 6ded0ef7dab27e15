/*
 * Merges and splits in a cluster (issue 14, change_shared.h): 3 NATS nodes and 3 hubs with the example policy. Two
 * Stripe customers with different emails are two golden records (nothing links them); an operator merges them
 * through the lease holder's admin API, and every hub makes the merge at the same log position.
 *
 * Asserted: the holder answers as a single hub does ({kept, merged}; a merge of one record with itself is refused
 * with 409, alike everywhere); a follower whose applier was paused across the merge, with events for the dropped
 * customer before and after it, ends with the same records as the others (the event before resolves on its own
 * record, the one after into the kept one); on all three hubs both customers resolve to the kept record and the
 * record listings are equal; after kill -9 of the holder the new holder still has the merge, a later event of the
 * dropped customer lands in the kept record there, and a split on the new holder is on every live hub (the split
 * object on the same new record id); with the holder's applier paused a merge is answered 503 cluster_unavailable
 * (Retry-After) once its wait ran out, and is made on every hub when it resumes; the killed hub, started again,
 * catches up to the same records.
 */
#include "harness_cluster.h"
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define NODES 3
#define S0 1750000000LL

static sy_itc_hubs_t C;

static int teardown(void **state)
{
    *state = NULL;
    return sy_itc_hubs_teardown(&C);
}

/* Stripe customer.created (k < 2) or .updated for cus_<which> with email <tag>@<which>.test at S0 + k, to hub h. */
static void customer(int h, int k, const char *which, const char *tag)
{
    char cus[32], email[64], evt[32];
    snprintf(cus, sizeof(cus), "cus_%s", which);
    snprintf(email, sizeof(email), "%s@%s.test", tag, which);
    snprintf(evt, sizeof(evt), "evt_adm_%d", k);
    sy_itr_stripe(C.hub[h], evt, k == 0 || k == 1 ? "customer.created" : "customer.updated", S0 + k,
                  sy_itr_customer(cus, email, "Ana", NULL, NULL));
}

/* POST path with body on hub h; the answer's JSON (owned by the hub) after checking its status. */
static json_t *admin(int h, const char *path, const char *body, long want)
{
    sy_it_response_t res;
    sy_itr_admin_post_body(C.hub[h], path, body, &res);
    if (res.status != want)
        fail_msg("POST %s %s on hub %d: HTTP %ld %s; expected %ld", path, body, h, res.status, res.body, want);
    json_t *doc = json_loads(res.body, 0, NULL);
    sy_it_response_dispose(&res);
    if (doc == NULL)
        fail_msg("POST %s on hub %d: the answer is not JSON", path, h);
    return sy_it_own_json(C.hub[h], doc);
}

static const char *record_id(int h, const char *query)
{
    json_t *rec = sy_itr_record(C.hub[h], query);
    if (rec == NULL)
        fail_msg("hub %d: no golden record for %s", h, query);
    return sy_itr_id(rec);
}

/* Waits (bounded) until every hub but skip resolves query to the record id: a change with no event after it is made
 * by an applier that has applied the whole log already, so "applied" does not say it is made yet. */
static void wait_resolves(int skip, const char *query, const char *id)
{
    for (int n = 0; n != NODES; ++n) {
        if (n == skip)
            continue;
        for (double until = sy_itd_now_s() + 30;; sy_itd_nap(100)) {
            json_t *rec = sy_itr_record(C.hub[n], query);
            int same = rec != NULL && strcmp(sy_itr_id(rec), id) == 0;
            sy_it_release(C.hub[n], rec);
            if (same)
                break;
            if (sy_itd_now_s() > until)
                fail_msg("hub %d: %s does not resolve to %s within 30 s", n, query, id);
        }
    }
}

/* Every hub but skip has applied its whole log, and their record listings are equal. */
static void assert_same_records(int skip, const char *when)
{
    json_t *first = NULL;
    int fi = -1;
    for (int n = 0; n != NODES; ++n) {
        if (n == skip)
            continue;
        sy_itr_wait_applied(C.hub[n]);
        json_t *recs = sy_itr_records_stable(C.hub[n]);
        if (first == NULL) {
            first = recs;
            fi = n;
        } else if (!json_equal(first, recs)) {
            fail_msg("%s: golden records of hub %d and hub %d differ\n%s\n%s", when, fi, n,
                     sy_itr_text(C.hub[fi], first), sy_itr_text(C.hub[n], recs));
        }
    }
}

/* Waits (bounded) until hub n's log holds seqs events (a hub's consumer may be a moment behind the stream). */
static void wait_log(int n, json_int_t seqs)
{
    for (double until = sy_itd_now_s() + 30; sy_it_log_count(C.hub[n]) < seqs; sy_itd_nap(100))
        if (sy_itd_now_s() > until)
            fail_msg("hub %d: %lld events in the log, expected %lld", n, (long long)sy_it_log_count(C.hub[n]),
                     (long long)seqs);
}

static void test_admin_changes(void **state)
{
    static const sy_itd_api_t api = {.timeout = "30s", .max_attempts = 10};
    char body[256], want[64];
    int k = 0;

    sy_itc_hubs_create(&C, state, NODES, "  lease_ttl: 3s\n");
    /* a tool's api: delivery runs, so the hubs compete for the lease that admin writes go to */
    sy_itd_fake_t *stripe = sy_itd_fake_start(C.hub[0], "stripe", NULL, NULL, 1);
    int first = sy_itc_hubs_start(&C, stripe, &api);
    int paused = (first + 1) % NODES, other = (first + 2) % NODES;
    print_message("hub %d holds the sync lease; hub %d's applier is paused across the merge\n", first, paused);

    /* two records for one person: different emails, no cross id */
    customer(other, k++, "a1", "ana");
    customer(paused, k++, "a2", "ana");
    assert_same_records(-1, "before the merge");
    const char *keep = record_id(first, "stripe:cus_a1"), *drop = record_id(first, "stripe:cus_a2");
    if (strcmp(keep, drop) == 0)
        fail_msg("the two customers are one record already (%s): the test needs two", keep);
    char keep_id[64], drop_id[64];
    snprintf(keep_id, sizeof(keep_id), "%s", keep);
    snprintf(drop_id, sizeof(drop_id), "%s", drop);

    /* a follower's applier stops; an event for the dropped customer before the merge, one after */
    admin(paused, "/admin/api/applier/pause", NULL, 200);
    customer(other, k++, "a2", "before");
    snprintf(body, sizeof(body), "{\"keep\":\"stripe:cus_a1\",\"drop\":\"stripe:cus_a2\"}");
    json_t *merged = admin(first, "/admin/api/records/merge", body, 200);
    if (strcmp(json_string_value(json_object_get(merged, "kept")), keep_id) != 0 ||
        strcmp(json_string_value(json_object_get(merged, "merged")), drop_id) != 0)
        fail_msg("merge answer %s; expected kept %s, merged %s", sy_itr_text(C.hub[first], merged), keep_id, drop_id);
    /* answered once made on the holder: it resolves both there at once */
    assert_string_equal(record_id(first, "stripe:cus_a2"), keep_id);
    customer(other, k++, "a2", "after");
    /* the same merge again: refused where it is made, like a single hub's */
    admin(first, "/admin/api/records/merge", body, 409);
    wait_log(paused, sy_it_log_count(C.hub[other])); /* other answered the last event: its log has them all */
    admin(paused, "/admin/api/applier/resume", NULL, 200);
    wait_resolves(-1, "stripe:cus_a2", keep_id);
    assert_same_records(-1, "after the merge");
    snprintf(want, sizeof(want), "after@a2.test");
    for (int n = 0; n != NODES; ++n) {
        assert_string_equal(record_id(n, "stripe:cus_a1"), keep_id);
        assert_string_equal(record_id(n, "stripe:cus_a2"), keep_id);
        assert_string_equal(record_id(n, want), keep_id);
        json_t *gone = NULL;
        json_t *recs = sy_itr_records(C.hub[n]);
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r) if (strcmp(sy_itr_id(r), drop_id) == 0) gone = r;
        if (gone != NULL && !json_is_string(json_object_get(gone, "merged_into")))
            fail_msg("hub %d still lists %s as a record of its own: %s", n, drop_id, sy_itr_text(C.hub[n], gone));
    }

    /* kill -9 of the holder: the new one has the merge */
    sy_it_kill(C.hub[first]);
    int second = sy_itc_wait_holder(C.hub, NODES, first);
    print_message("after kill -9 of hub %d, hub %d holds the sync lease\n", first, second);
    customer(second, k++, "a2", "later");
    assert_same_records(first, "after the failover");
    assert_string_equal(record_id(second, "stripe:cus_a2"), keep_id);
    assert_string_equal(record_id(second, "later@a2.test"), keep_id);

    /* a split on the new holder, on every live hub with the same new record */
    snprintf(body, sizeof(body), "{\"record\":\"%s\",\"object\":\"stripe:cus_a2\"}", keep_id);
    json_t *split = admin(second, "/admin/api/records/split", body, 200);
    const char *fresh = json_string_value(json_object_get(split, "new_record"));
    if (fresh == NULL || strcmp(json_string_value(json_object_get(split, "record")), keep_id) != 0)
        fail_msg("split answer %s", sy_itr_text(C.hub[second], split));
    wait_resolves(first, "stripe:cus_a2", fresh);
    assert_same_records(first, "after the split");
    for (int n = 0; n != NODES; ++n) {
        if (n == first)
            continue;
        assert_string_equal(record_id(n, "stripe:cus_a2"), fresh);
        assert_string_equal(record_id(n, "stripe:cus_a1"), keep_id);
    }

    /* the holder's applier paused: the merge is answered 503 after its wait, and made once it resumes, everywhere */
    admin(second, "/admin/api/applier/pause", NULL, 200);
    snprintf(body, sizeof(body), "{\"keep\":\"stripe:cus_a1\",\"drop\":\"stripe:cus_a2\"}");
    {
        sy_it_response_t res;
        sy_itr_admin_post_body(C.hub[second], "/admin/api/records/merge", body, &res);
        const char *error = json_string_value(json_object_get(res.json, "error"));
        if (res.status != 503 || error == NULL || strcmp(error, "cluster_unavailable") != 0 ||
            res.retry_after[0] == '\0')
            fail_msg("merge with the holder's applier paused: HTTP %ld (Retry-After \"%s\") %s; expected 503 "
                     "cluster_unavailable with Retry-After", res.status, res.retry_after, res.body);
        sy_it_response_dispose(&res);
    }
    assert_string_equal(record_id(second, "stripe:cus_a2"), fresh); /* not made yet */
    admin(second, "/admin/api/applier/resume", NULL, 200);
    wait_resolves(first, "stripe:cus_a2", keep_id);
    assert_same_records(first, "after the merge that timed out");
    for (int n = 0; n != NODES; ++n)
        if (n != first)
            assert_string_equal(record_id(n, "stripe:cus_a2"), keep_id);

    /* the killed hub comes back and catches up: the same records everywhere */
    sy_it_start(C.hub[first]);
    wait_log(first, sy_it_log_count(C.hub[second]));
    wait_resolves(-1, "stripe:cus_a2", keep_id);
    assert_same_records(-1, "after the killed hub came back");
    assert_string_equal(record_id(first, "stripe:cus_a2"), keep_id);

    sy_itc_hubs_stop(&C);
    sy_itc_hubs_pass(&C);
}

int main(void)
{
    return sy_itc_main("test_admin_changes", test_admin_changes, teardown);
}
