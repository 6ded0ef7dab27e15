/*
 * Delivery outcomes shared across the hubs (issue 14, outcome.h): 3 NATS nodes and 3 hubs with the example policy,
 * Stripe's api at one fake. The lease holder delivers HubSpot email changes to Stripe; each settled push goes to the
 * stream as an outcome, and every hub settles the same push in its own outbox. Then the holder is killed (kill -9)
 * with two pushes on the wire, and another hub takes the lease.
 *
 * Asserted: after the first pushes are delivered, every hub's Stripe queue is empty (not only the holder's); a push
 * the tool refused is a dead letter on every hub; after the kill the new holder sends nothing already delivered: the
 * fake took each write (path and body) at most once for real, the dead letter is not sent again, and the two pushes
 * on the wire at the kill are resent under the keys they had (replayed by the fake); later changes are delivered
 * once; the killed hub, back as a follower, ends with an empty queue and the dead letter too; the golden records of
 * the three hubs are equal. And admin writes: a follower refuses them with 409 naming the holder and its admin
 * URL (the CLI's message too); the holder takes them; the CLI refuses them on a stopped node's data dir.
 */
#include "harness_alerts.h"
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
#define CUSTOMERS 4
#define S0 1750000000LL
#define HS0 1750000000000LL

static sy_itc_hubs_t C;

static int teardown(void **state)
{
    *state = NULL;
    return sy_itc_hubs_teardown(&C);
}

/* The email of customer j in HubSpot, changed to f<j>@<tag>.test (event ids and times from k, increasing). */
static void change_email(sy_it_t *h, int k, int j, const char *tag)
{
    char email[64];
    snprintf(email, sizeof(email), "f%d@%s.test", j, tag);
    sy_itr_hs_change(h, 9100 + k, 90 + j, HS0 + 1000 * k, "email", email);
}

/* Stripe pushes queued on hub i. */
static size_t stripe_queued(int i)
{
    json_t *q = sy_itr_queue(C.hub[i]);
    size_t n = sy_itr_pushes(q, "stripe", NULL, NULL);
    sy_it_release(C.hub[i], q);
    return n;
}

/* Waits (bounded) until no hub but skip has a Stripe push queued. */
static void wait_queues_empty(int skip, const char *when)
{
    for (double until = sy_itd_now_s() + 40;; sy_itd_nap(100)) {
        int left = -1;
        for (int i = 0; i != NODES && left < 0; ++i)
            if (i != skip && stripe_queued(i) != 0)
                left = i;
        if (left < 0)
            return;
        if (sy_itd_now_s() > until) {
            json_t *q = sy_itr_queue(C.hub[left]);
            fail_msg("%s: hub %d still has Stripe pushes queued (the outcomes did not settle them): %s", when, left,
                     sy_itr_text(C.hub[left], q));
        }
    }
}

/* Waits (bounded) until hub i has exactly n dead letters; returns them. */
static json_t *wait_dead(int i, size_t n)
{
    for (double until = sy_itd_now_s() + 40;; sy_itd_nap(100)) {
        json_t *dead = sy_itd_dead(C.hub[i]);
        if (json_array_size(dead) == n)
            return dead;
        if (sy_itd_now_s() > until)
            fail_msg("hub %d: %zu dead letter(s), expected %zu: %s", i, json_array_size(dead), n,
                     sy_itr_text(C.hub[i], dead));
        sy_it_release(C.hub[i], dead);
    }
}

/* Requests to customer paths that wrote for real (2xx, not a replay): each (path, body) at most once. */
static void assert_each_write_once(json_t *reqs)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(reqs, i, a)
    {
        const char *path = json_string_value(json_object_get(a, "path"));
        json_int_t st = json_integer_value(json_object_get(a, "status"));
        if (path == NULL || strncmp(path, "/v1/customers/cus_O", 19) != 0 || st < 200 || st > 299 ||
            json_is_true(json_object_get(a, "replayed")))
            continue;
        for (j = i + 1; j < json_array_size(reqs); ++j) {
            b = json_array_get(reqs, j);
            json_int_t stb = json_integer_value(json_object_get(b, "status"));
            if (stb < 200 || stb > 299 || json_is_true(json_object_get(b, "replayed")))
                continue;
            if (json_equal(json_object_get(a, "path"), json_object_get(b, "path")) &&
                json_equal(json_object_get(a, "body"), json_object_get(b, "body")))
                fail_msg("written twice: %s %s (requests %zu and %zu)\n%s", path,
                         json_string_value(json_object_get(a, "body")), i, j, sy_itr_text(C.hub[0], reqs));
        }
    }
}


static size_t count_path(json_t *reqs, const char *path)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *p = json_string_value(json_object_get(r, "path"));
        n += p != NULL && strcmp(p, path) == 0 && strcmp(json_string_value(json_object_get(r, "method")), "POST") == 0;
    }
    return n;
}

static void test_outcomes(void **state)
{
    static const sy_itd_api_t api = {.timeout = "30s", .max_attempts = 10};
    sy_itd_fake_t *stripe;
    json_t *reqs, *r;
    size_t i, replays;
    char keys[2][96], path3[64];
    int k = 0;

    sy_itc_hubs_create(&C, state, NODES, "  lease_ttl: 3s\n  notifications_keep: 1s\n");
    stripe = sy_itd_fake_start(C.hub[0], "stripe", NULL, NULL, 1);
    /* alerts go to a Slack-like receiver: only the holder sends them; followers drop theirs after 1 s */
    sy_itd_fake_t *slack = sy_itd_fake_start(C.hub[0], "slack", "", NULL, 1);
    for (int n = 0; n != NODES; ++n) {
        FILE *f = fopen(C.hub[n]->config_path, "a");
        assert_non_null(f);
        fprintf(f, "alerts:\n  notify:\n    slack: {url: \"%s/services/T000/B000/XXXX\"}\n", slack->base_url);
        fclose(f);
    }
    for (int j = 0; j != CUSTOMERS; ++j) {
        char cus[16], hs[16], email[64];
        snprintf(cus, sizeof(cus), "cus_O%d", j);
        snprintf(hs, sizeof(hs), "9%d", j);
        snprintf(email, sizeof(email), "f%d@old.test", j);
        sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:{s:s}}}", cus, "email", email, "metadata", "hubspot_contact_id", hs));
    }
    int first = sy_itc_hubs_start(&C, stripe, &api);
    print_message("hub %d holds the sync lease\n", first);

    /* the customers, linked to HubSpot contacts */
    for (int j = 0; j != CUSTOMERS; ++j) {
        char cus[16], hs[16], email[64], evt[32];
        snprintf(cus, sizeof(cus), "cus_O%d", j);
        snprintf(hs, sizeof(hs), "9%d", j);
        snprintf(email, sizeof(email), "f%d@old.test", j);
        snprintf(evt, sizeof(evt), "evt_o_link_%d", j);
        sy_itr_stripe(C.hub[(first + 1 + j) % NODES], evt, "customer.created", S0 + j,
                      sy_itr_customer(cus, email, "Ola", NULL, hs));
    }
    for (int n = 0; n != NODES; ++n)
        sy_itr_wait_applied(C.hub[n]);

    /* 1. delivered by the holder, settled on every hub */
    for (int j = 0; j != 3; ++j, ++k)
        change_email(C.hub[(first + 1 + j) % NODES], k, j, "new");
    reqs = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_O", 200, 3, 30);
    wait_queues_empty(-1, "after the first deliveries");

    /* 2. refused by the tool: a dead letter on every hub */
    sy_itd_fake_mode(stripe, "error400", 0, 0, 1);
    change_email(C.hub[(first + 1) % NODES], k++, 3, "refused");
    for (int n = 0; n != NODES; ++n) {
        json_t *dead = wait_dead(n, 1);
        const char *rec = json_string_value(json_object_get(json_array_get(dead, 0), "record"));
        const char *email = json_string_value(
            json_object_get(json_object_get(json_array_get(dead, 0), "fields"), "email"));
        if (rec == NULL || email == NULL || strcmp(email, "f3@refused.test") != 0)
            fail_msg("hub %d: the dead letter is not the refused push: %s", n, sy_itr_text(C.hub[n], dead));
    }
    wait_queues_empty(-1, "after the dead letter");
    /* its dead_letter alert: sent by the holder; the followers' copies of the notification are dropped, so that a
     * later holder does not send it again (asserted at the end) */
    for (double until = sy_itd_now_s() + 30; !sy_ita_slack_has(slack, "dead_letter", 0); sy_itd_nap(100))
        if (sy_itd_now_s() > until)
            fail_msg("the holder did not notify the dead letter");
    for (int n = 0; n != NODES; ++n)
        for (double until = sy_itd_now_s() + 30; n != first && sy_itd_metric(C.hub[n], "switchyard_cluster_notifications_pruned_total") < 1;
             sy_itd_nap(100))
            if (sy_itd_now_s() > until)
                fail_msg("follower hub %d did not drop its queued notification of the dead letter", n);
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    snprintf(path3, sizeof(path3), "/v1/customers/cus_O3");
    reqs = sy_itd_fake_requests(stripe);
    size_t posts3 = count_path(reqs, path3);
    sy_it_release(C.hub[0], reqs);

    /* admin writes go to the holder: a follower refuses them with 409, naming it (and the CLI says so) */
    {
        char want[16], port[16];
        int follower = (first + 1) % NODES;
        sy_it_response_t res;
        snprintf(want, sizeof(want), "hub-%d", first);
        snprintf(port, sizeof(port), ":%u", C.hub[first]->admin_port);
        sy_itr_admin_post(C.hub[follower], "/admin/api/records/merge", &res);
        const char *holder_name = json_string_value(json_object_get(res.json, "holder"));
        const char *holder_admin = json_string_value(json_object_get(res.json, "holder_admin"));
        if (res.status != 409 || holder_name == NULL || strcmp(holder_name, want) != 0 || holder_admin == NULL ||
            strstr(holder_admin, port) == NULL)
            fail_msg("merge on follower hub %d: HTTP %ld %s; expected 409 naming %s at %s", follower, res.status,
                     res.body, want, port);
        sy_it_response_dispose(&res);
        sy_it_output_t o;
        sy_it_cli(C.hub[follower], &o, "dead", "retry", "--all", NULL);
        if (o.status == 0 || strstr(o.err, want) == NULL)
            fail_msg("dead retry --all on follower hub %d: exit %d, stderr %s; expected a refusal naming %s", follower,
                     o.status, o.err, want);
        sy_it_output_dispose(&o);
        /* the holder takes them (here: a push that is not queued) */
        sy_itr_admin_post(C.hub[first], "/admin/api/queue/999999/drop", &res);
        if (res.status == 409)
            fail_msg("the holder refused an admin write: %s", res.body);
        sy_it_response_dispose(&res);
        wait_dead(follower, 1); /* nothing changed on the follower */
    }

    /* 3. two pushes on the wire (the fake stores them and answers after 20 s) when the holder dies */
    sy_itd_fake_mode(stripe, "slow", 0, 20000, 0);
    reqs = sy_itd_fake_requests(stripe);
    size_t before = sy_itd_count(reqs, "POST", "/v1/customers/cus_O", -1);
    sy_it_release(C.hub[0], reqs);
    for (int j = 0; j != 2; ++j, ++k)
        change_email(C.hub[(first + 1 + j) % NODES], k, j, "wire");
    reqs = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_O", -1, before + 2, 30);
    {
        int n = 0;
        json_array_foreach(reqs, i, r)
        {
            if (i < before || n == 2)
                continue;
            const char *key = json_string_value(json_object_get(r, "idempotency_key"));
            if (key == NULL || key[0] == '\0')
                fail_msg("a Stripe update without Idempotency-Key: %s", sy_itr_text(C.hub[0], r));
            snprintf(keys[n++], sizeof(keys[0]), "%s", key);
        }
    }
    /* the new holder resends only what was on the wire, under its keys */
    int second = sy_itc_fail_over(&C, first, stripe, keys, 2);
    wait_queues_empty(first, "after the failover");

    /* 4. later changes, delivered once by the new holder */
    for (int j = 0; j != 3; ++j, ++k) {
        int to = (second + 1 + j) % NODES;
        change_email(C.hub[to == first ? second : to], k, j, "final");
    }
    for (int n = 0; n != NODES; ++n)
        if (n != first)
            sy_itr_wait_applied(C.hub[n]);
    wait_queues_empty(first, "after the later changes");

    /* the killed hub comes back as a follower: the outcomes of the new holder settle its queue too */
    sy_it_start(C.hub[first]);
    for (int n = 0; n != NODES; ++n)
        sy_itr_wait_applied(C.hub[n]);
    wait_queues_empty(-1, "after the killed hub came back");
    for (int n = 0; n != NODES; ++n)
        sy_it_release(C.hub[n], wait_dead(n, 1));

    assert_int_equal(sy_ita_slack_count(slack, "dead_letter", 0), 1); /* once, by the first holder */

    reqs = sy_itd_fake_requests(stripe);
    assert_each_write_once(reqs);
    sy_itd_assert_once_per_key(C.hub[0], reqs);
    for (int n = 0; n != 2; ++n) {
        size_t got = sy_itd_count_key(reqs, keys[n], &replays);
        if (got != 2 || replays != 1)
            fail_msg("key %s: %zu request(s), %zu replay(s); expected the send and one replayed resend: %s", keys[n],
                     got, replays, sy_itr_text(C.hub[0], reqs));
    }
    if (count_path(reqs, path3) != posts3)
        fail_msg("the dead letter's push was sent again after the failover: %s", sy_itr_text(C.hub[0], reqs));
    /* 3 first + 1 refused + 2 on the wire + 2 resent + 3 final */
    assert_int_equal(sy_itd_count(reqs, "POST", "/v1/customers/cus_O", -1), 11);
    for (int j = 0; j != 3; ++j) {
        char cus[16], email[64];
        snprintf(cus, sizeof(cus), "cus_O%d", j);
        snprintf(email, sizeof(email), "f%d@final.test", j);
        const char *got = json_string_value(json_object_get(sy_itd_fake_object(stripe, cus), "email"));
        if (got == NULL || strcmp(got, email) != 0)
            fail_msg("%s at the fake: email %s, expected %s", cus, got != NULL ? got : "(none)", email);
    }
    json_t *recs = sy_itr_records_stable(C.hub[0]);
    for (int n = 1; n != NODES; ++n) {
        json_t *other = sy_itr_records_stable(C.hub[n]);
        if (!json_equal(recs, other))
            fail_msg("golden records of hub 0 and hub %d differ\n%s\n%s", n, sy_itr_text(C.hub[0], recs),
                     sy_itr_text(C.hub[n], other));
    }

    sy_itc_hubs_stop(&C);
    {
        /* with no hub running, the CLI does not write a node's records behind the stream's back either */
        sy_it_output_t o;
        sy_it_cli(C.hub[0], &o, "records", "merge", "cust_1", "cust_2", NULL);
        if (o.status == 0 || strstr(o.err, "cluster node hub-0") == NULL)
            fail_msg("records merge on a stopped node's data dir: exit %d, stderr %s; expected a refusal", o.status,
                     o.err);
        sy_it_output_dispose(&o);
    }
    sy_itc_hubs_pass(&C);
}

int main(void)
{
    return sy_itc_main("test_outcomes", test_outcomes, teardown);
}
