/*
 * The sync lease across kill -9 (issue 14): 3 NATS nodes and 3 hubs with the example policy, all with Stripe's api
 * pointing at one fake. Only the lease holder delivers. Pushes are on the wire (the fake stores them and answers
 * after 20 s) when the holder is killed; another hub takes the lease once it expires (lease_ttl 3 s) and resends
 * them from its own outbox, which its applier filled from the same log: with the same idempotency keys, so the fake
 * replays them instead of writing twice. Then more events, Stripe and HubSpot mixed, go to the survivors, and the
 * killed hub comes back as a follower.
 *
 * Asserted: exactly one holder at a time, and a new one after the kill; every acknowledged event in every hub's
 * log once (identical exports); per idempotency key at most one write that ran for real, and each key in flight at
 * the kill was replayed; the fake holds the final values; the golden records of the three hubs equal each other and
 * those of a single hub (no cluster) that took the same events in the same order. Last, the holder's NATS node is
 * killed: it gives the lease up (it cannot renew it) and another hub takes it, never two holders at once.
 */
#include "harness_cluster.h"
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define NODES 3
#define CUSTOMERS 3
#define S0 1750000000LL
#define HS0 1750000000000LL
#define EVENTS (4 * CUSTOMERS)

static sy_itc_hubs_t C;
static sy_it_t *single; /* the same events without a cluster */

static int teardown(void **state)
{
    sy_it_destroy(single);
    single = NULL;
    *state = NULL;
    return sy_itc_hubs_teardown(&C);
}

/* Event k of the workload, the same for the cluster and the single hub. 0-2: Stripe customers linked to HubSpot
 * contacts; 3-5: HubSpot email changes (a Stripe push each: in flight at the kill); 6-8: HubSpot email changes
 * after the failover; 9-11: Stripe name changes (pushes to HubSpot, which has no api here: they stay queued). */
static void send_event(sy_it_t *h, int k)
{
    int j = k % CUSTOMERS;
    char cus[16], hs[16], email[64], evt[32];
    snprintf(cus, sizeof(cus), "cus_F%d", j);
    snprintf(hs, sizeof(hs), "8%d", j);
    switch (k / CUSTOMERS) {
    case 0:
        snprintf(email, sizeof(email), "f%d@old.test", j);
        snprintf(evt, sizeof(evt), "evt_link_%d", j);
        sy_itr_stripe(h, evt, "customer.created", S0 + k, sy_itr_customer(cus, email, "Fay", NULL, hs));
        break;
    case 1:
    case 2:
        snprintf(email, sizeof(email), "f%d@%s.test", j, k / CUSTOMERS == 1 ? "new" : "final");
        sy_itr_hs_change(h, 8100 + k, 80 + j, HS0 + 1000 * k, "email", email);
        break;
    default:
        snprintf(email, sizeof(email), "f%d@final.test", j);
        snprintf(evt, sizeof(evt), "evt_name_%d", j);
        sy_itr_stripe(h, evt, "customer.updated", S0 + 100 + k, sy_itr_customer(cus, email, "Fay Final", NULL, hs));
        break;
    }
}

static void assert_records_equal(const char *what, sy_it_t *ha, json_t *a, json_t *b)
{
    if (!json_equal(a, b))
        fail_msg("golden records differ (%s)\nA: %s\nB: %s", what, sy_itr_text(ha, a), sy_itr_text(ha, b));
}

static char *export_events(sy_it_t *h)
{
    sy_it_output_t o;
    sy_it_cli(h, &o, "export", "events", "--format", "jsonl", NULL);
    assert_int_equal(o.status, 0);
    char *copy = strdup(o.out);
    sy_it_output_dispose(&o);
    return copy;
}

/* Waits (bounded) until every hub's log holds n events; then their exports must be byte-identical. */
static void assert_logs(json_int_t n)
{
    for (int i = 0; i != NODES; ++i) {
        json_int_t got = -1;
        for (int t = 0; t != 300 && (got = sy_it_log_count(C.hub[i])) < n; ++t)
            sy_itd_nap(100);
        if (got != n)
            fail_msg("hub %d holds %lld events, expected %lld", i, (long long)got, (long long)n);
    }
    char *first = export_events(C.hub[0]);
    for (int i = 1; i != NODES; ++i) {
        char *other = export_events(C.hub[i]);
        if (strcmp(first, other) != 0)
            fail_msg("the logs of hub 0 and hub %d differ:\n%s\n---\n%s", i, first, other);
        free(other);
    }
    free(first);
}

static void test_lease_failover(void **state)
{
    static const sy_itd_api_t api = {.timeout = "30s", .max_attempts = 10};
    char keys[CUSTOMERS][96];
    sy_itd_fake_t *stripe;
    json_t *reqs, *r;
    size_t i, replays;

    sy_itc_hubs_create(&C, state, NODES, "  lease_ttl: 3s\n");
    stripe = sy_itd_fake_start(C.hub[0], "stripe", NULL, NULL, 1);
    for (int j = 0; j != CUSTOMERS; ++j) {
        char cus[16], hs[16], email[64];
        snprintf(cus, sizeof(cus), "cus_F%d", j);
        snprintf(hs, sizeof(hs), "8%d", j);
        snprintf(email, sizeof(email), "f%d@old.test", j);
        sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:{s:s}}}", cus, "email", email, "metadata", "hubspot_contact_id", hs));
    }
    int first = sy_itc_hubs_start(&C, stripe, &api);
    print_message("hub %d holds the sync lease\n", first);

    /* events go to the other hubs: any hub's events reach the holder's applier through the stream */
    for (int k = 0; k != CUSTOMERS; ++k)
        send_event(C.hub[(first + 1 + k) % NODES], k);
    for (int n = 0; n != NODES; ++n)
        sy_itr_wait_applied(C.hub[n]);

    /* pushes on the wire: the fake stores them and answers after 20 s; the holder dies meanwhile */
    sy_itd_fake_mode(stripe, "slow", 0, 20000, 0);
    for (int k = CUSTOMERS; k != 2 * CUSTOMERS; ++k)
        send_event(C.hub[(first + 1 + k) % NODES], k);
    reqs = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_F", -1, CUSTOMERS, 30);
    {
        int n = 0;
        json_array_foreach(reqs, i, r)
        {
            const char *key = json_string_value(json_object_get(r, "idempotency_key"));
            if (n == CUSTOMERS || strncmp(json_string_value(json_object_get(r, "path")), "/v1/customers/cus_F", 19) != 0)
                continue;
            if (key == NULL || key[0] == '\0')
                fail_msg("a Stripe update without Idempotency-Key: %s", sy_itr_text(C.hub[0], r));
            snprintf(keys[n++], sizeof(keys[0]), "%s", key);
        }
    }
    /* another hub takes the lease once it expires, and resends what was in flight with the same keys */
    int second = sy_itc_fail_over(&C, first, stripe, keys, CUSTOMERS);

    /* mixed load on the survivors */
    for (int k = 2 * CUSTOMERS; k != EVENTS; ++k) {
        int to = (second + 1 + k) % NODES;
        send_event(C.hub[to == first ? second : to], k);
    }
    sy_itr_wait_applied(C.hub[second]);
    /* HubSpot has no api here: its pushes stay queued; Stripe's all go */
    for (double until = sy_itd_now_s() + 40;; sy_itd_nap(100)) {
        json_t *q = sy_itr_queue(C.hub[second]);
        size_t left = sy_itr_pushes(q, "stripe", NULL, NULL);
        if (left == 0)
            break;
        if (sy_itd_now_s() > until)
            fail_msg("Stripe pushes still queued on the holder: %s", sy_itr_text(C.hub[second], q));
        sy_it_release(C.hub[second], q);
    }

    /* the killed hub comes back as a follower and catches up */
    sy_it_start(C.hub[first]);
    assert_logs(NODES + EVENTS);
    for (int n = 0; n != NODES; ++n)
        sy_itr_wait_applied(C.hub[n]);
    assert_int_equal(sy_itc_holder(C.hub, NODES, -1), second);
    {
        /* `cluster status` (from NATS alone) names the same holder */
        char want[16];
        snprintf(want, sizeof(want), "hub-%d", second);
        json_t *st = sy_it_cli_json(C.hub[first], "cluster", "status", "--json", NULL);
        const char *got = json_string_value(json_object_get(json_object_get(st, "lease"), "holder"));
        if (got == NULL || strcmp(got, want) != 0)
            fail_msg("cluster status names lease holder %s, expected %s: %s", got != NULL ? got : "(none)", want,
                     sy_itr_text(C.hub[first], st));
    }

    reqs = sy_itd_fake_requests(stripe);
    sy_itd_assert_once_per_key(C.hub[0], reqs);
    for (int n = 0; n != CUSTOMERS; ++n) {
        size_t got = sy_itd_count_key(reqs, keys[n], &replays);
        if (got < 2 || replays < 1)
            fail_msg("key %s: %zu request(s), %zu replay(s); expected the new holder's resend, replayed: %s", keys[n],
                     got, replays, sy_itr_text(C.hub[0], reqs));
    }
    for (int j = 0; j != CUSTOMERS; ++j) {
        char cus[16], email[64];
        snprintf(cus, sizeof(cus), "cus_F%d", j);
        snprintf(email, sizeof(email), "f%d@final.test", j);
        const char *got = json_string_value(json_object_get(sy_itd_fake_object(stripe, cus), "email"));
        if (got == NULL || strcmp(got, email) != 0)
            fail_msg("%s at the fake: email %s, expected %s", cus, got != NULL ? got : "(none)", email);
    }

    /* golden records: the same on every hub, and the same as a single hub's for the same events */
    json_t *recs = sy_itr_records_stable(C.hub[0]);
    assert_int_equal(json_array_size(recs), CUSTOMERS);
    for (int n = 1; n != NODES; ++n)
        assert_records_equal("hub 0 and another hub", C.hub[0], recs, sy_itr_records_stable(C.hub[n]));
    single = sy_it_create(state, NULL);
    sy_itd_use_example_policy(single);
    sy_it_start(single);
    for (int n = 0; n != NODES; ++n)
        sy_itc_warm_up(single, n);
    for (int k = 0; k != EVENTS; ++k)
        send_event(single, k);
    sy_itr_wait_applied(single);
    assert_records_equal("cluster and single hub", C.hub[0], recs, sy_itr_records_stable(single));

    /* the holder cut off from NATS (its node killed): it stops delivering within lease_ttl/2 of its last renewal,
     * before the lease can expire, and only then does another hub take it; never two holders at one poll */
    sy_itc_node_kill(&C.nats, (unsigned)second);
    int third = -1;
    for (double until = sy_itd_now_s() + 30; third < 0 || third == second; sy_itd_nap(100)) {
        if (sy_itd_now_s() > until)
            fail_msg("the lease did not move off the partitioned hub %d within 30 s", second);
        third = sy_itc_holder(C.hub, NODES, -1);
    }
    print_message("hub %d, cut off from NATS, gave the lease up; hub %d took it\n", second, third);
    assert_true(sy_itd_metric(C.hub[second], "switchyard_cluster_lease_held") == 0);

    /* graceful stops (SIGTERM, exit 0, no leak under ASan): the holder gives the lease back and the last
     * connected hub takes it; then that one and the partitioned hub stop cleanly too */
    int last = 0 + 1 + 2 - second - third; /* the other hub still connected to NATS */
    assert_int_equal(sy_it_stop(C.hub[third]), 0);
    for (double until = sy_itd_now_s() + 30; sy_itc_holder(C.hub, NODES, third) != last; sy_itd_nap(100))
        if (sy_itd_now_s() > until)
            fail_msg("hub %d did not take the lease hub %d gave back", last, third);
    assert_int_equal(sy_it_stop(C.hub[last]), 0);
    assert_int_equal(sy_it_stop(C.hub[second]), 0);

    sy_itc_hubs_pass(&C);
    sy_it_pass(single);
}

int main(void)
{
    return sy_itc_main("test_lease_failover", test_lease_failover, teardown);
}
