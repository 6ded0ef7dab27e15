/*
 * Delivery across kill -9: pushes are on the wire when the hub dies (the Stripe fake answers "slow", the HubSpot
 * fake "hang"s), the fakes come back to normal, the hub restarts on the same data dir. Every push arrives; a push
 * sent twice carries the same Idempotency-Key, so the second Stripe write is a replay: per key at most one accepted
 * write ran for real, and the fake's objects hold the right values. A create that was in flight is replayed too, so
 * the customer exists once and the record links it.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL
#define HS0 1750000000000LL
#define DELIVER_TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static void assert_str(const char *what, const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: expected \"%s\", got %s%s%s", what, want, got != NULL ? "\"" : "", got != NULL ? got : "(none)",
                 got != NULL ? "\"" : "");
}

/* Requests with exactly this method and path. */
static size_t count_exact(json_t *reqs, const char *method, const char *path)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *m = str_at(r, "method"), *p = str_at(r, "path");
        n += m != NULL && p != NULL && strcmp(m, method) == 0 && strcmp(p, path) == 0;
    }
    return n;
}

static void test_kill_with_pushes_in_flight(void **state)
{
    static const sy_itd_api_t api = {.timeout = "30s", .max_attempts = 10};
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    json_t *reqs, *q, *objects, *c, *rec, *r;
    char cus[16], hs[16], email[64], evt[32], keys[3][64];
    const char *id, *created = NULL;
    size_t i, replays;

    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_set_api(h, "hubspot", hubspot, &api);
    /* the example policy never creates Stripe customers; part 2 is about a create in flight */
    sy_itd_use_example_policy_creating(h, "    create: if_missing");
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_K%d", k);
        snprintf(hs, sizeof(hs), "9%d", k);
        snprintf(email, sizeof(email), "k%d@old.test", k);
        sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:{s:s}}}", cus, "email", email, "metadata", "hubspot_contact_id", hs));
        sy_itd_fake_seed(hubspot, json_pack("{s:{s:s}}", hs, "email", email));
    }
    sy_it_start(h);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_K%d", k);
        snprintf(hs, sizeof(hs), "9%d", k);
        snprintf(email, sizeof(email), "k%d@old.test", k);
        snprintf(evt, sizeof(evt), "evt_link_%d", k);
        sy_itr_stripe(h, evt, "customer.created", S0, sy_itr_customer(cus, email, "Kim", NULL, hs));
    }
    sy_itr_wait_applied(h);

    /* 1. Updates in flight: Stripe takes them (and stores them) but answers only after 20 s; HubSpot never answers */
    sy_itd_fake_mode(stripe, "slow", 0, 20000, 0);
    sy_itd_fake_mode(hubspot, "hang", 0, 0, 0);
    for (int k = 1; k <= 3; ++k) {
        snprintf(email, sizeof(email), "k%d@new.test", k);
        sy_itr_hs_change(h, 9100 + k, 90 + k, HS0 + 1000, "email", email);
    }
    sy_itr_stripe(h, "evt_sub_k1", "customer.subscription.updated", S0 + 100,
                  sy_itr_subscription("sub_K1", "cus_K1", "active", "price_pro", 4900));
    sy_itr_wait_applied(h);
    reqs = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_K", -1, 3, 20);
    sy_itd_wait_requests(hubspot, "PATCH", "/crm/v3/objects/contacts/91", -1, 1, 20);
    q = sy_itr_queue(h);
    if (json_array_size(q) != 4)
        fail_msg("expected the 4 pushes still queued while on the wire: %s", sy_itr_text(h, q));
    {
        int k = 0;
        json_array_foreach(reqs, i, r)
        {
            const char *key = str_at(r, "idempotency_key");
            if (k == 3 || strncmp(str_at(r, "path"), "/v1/customers/cus_K", 19) != 0)
                continue;
            if (key == NULL || key[0] == '\0')
                fail_msg("a Stripe update without Idempotency-Key: %s", sy_itr_text(h, r));
            snprintf(keys[k++], sizeof(keys[0]), "%s", key);
        }
    }
    sy_it_kill(h);

    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    sy_itd_fake_mode(hubspot, "ok", 0, 0, 0);
    sy_it_start(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_K%d", k);
        snprintf(email, sizeof(email), "k%d@new.test", k);
        assert_str("email at Stripe after the crash", str_at(sy_itd_fake_object(stripe, cus), "email"), email);
    }
    reqs = sy_itd_fake_requests(stripe);
    sy_itd_assert_once_per_key(h, reqs);
    for (int k = 0; k != 3; ++k) {
        size_t n = sy_itd_count_key(reqs, keys[k], &replays);
        /* sent before the kill and again after it, with the same key: the second one is Stripe's replay */
        if (n < 2 || replays < 1)
            fail_msg("key %s: %zu request(s), %zu replay(s); expected a resend after the restart that Stripe replays: %s",
                     keys[k], n, replays, sy_itr_text(h, reqs));
    }
    if (sy_itd_fake_counter(stripe, "idempotent_replays") < 3)
        fail_msg("the Stripe fake counted fewer than 3 idempotent replays");
    c = sy_itd_fake_object(hubspot, "91");
    assert_str("contact 91 subscription_status after the crash", str_at(c, "subscription_status"), "active");
    assert_str("contact 91 plan", str_at(c, "plan"), "price_pro");
    assert_str("contact 91 mrr", str_at(c, "mrr"), "4900");
    reqs = sy_itd_fake_requests(hubspot);
    if (sy_itd_count(reqs, "PATCH", "/crm/v3/objects/contacts/91", 200) < 1)
        fail_msg("contact 91 was never PATCHed with success: %s", sy_itr_text(h, reqs));

    /* 2. A create in flight: the lookup and the create are both slow; kill while the create is on the wire */
    sy_itd_fake_mode(stripe, "slow", 0, 4000, 2);
    sy_itr_hs_change(h, 9501, 95, HS0 + 2000, "email", "k5@new.test");
    sy_itr_wait_applied(h);
    for (double deadline = sy_itd_now_s() + 30;;) {
        reqs = sy_itd_fake_requests(stripe);
        if (count_exact(reqs, "POST", "/v1/customers") >= 1)
            break;
        if (sy_itd_now_s() > deadline)
            fail_msg("the create never reached the Stripe fake: %s", sy_itr_text(h, reqs));
        sy_it_release(h, reqs);
        sy_itd_nap(20);
    }
    assert_int_equal(count_exact(reqs, "GET", "/v1/customers?email=k5%40new.test&limit=1"), 1);
    sy_it_kill(h);
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    sy_it_start(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);

    objects = json_object_get(sy_itd_fake_state(stripe), "objects");
    json_object_foreach(objects, id, c)
    {
        if (str_at(c, "email") != NULL && strcmp(str_at(c, "email"), "k5@new.test") == 0) {
            if (created != NULL)
                fail_msg("two Stripe customers for k5@new.test (%s and %s): the create ran twice", created, id);
            created = id;
        }
    }
    if (created == NULL)
        fail_msg("no Stripe customer for k5@new.test: %s", sy_itr_text(h, objects));
    rec = sy_itr_record(h, "hubspot:95");
    if (rec == NULL || sy_itr_count_str(json_object_get(json_object_get(rec, "xrefs"), "stripe"), created) != 1)
        fail_msg("records get hubspot:95 does not link stripe:%s: %s", created, sy_itr_text(h, rec));
    reqs = sy_itd_fake_requests(stripe);
    sy_itd_assert_once_per_key(h, reqs);
    if (count_exact(reqs, "POST", "/v1/customers") < 2)
        fail_msg("expected the create to be sent again after the restart: %s", sy_itr_text(h, reqs));
    {
        json_t *dead = sy_itd_dead(h);
        if (json_array_size(dead) != 0)
            fail_msg("dead letters after the crashes: %s", sy_itr_text(h, dead));
    }
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_with_pushes_in_flight, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
