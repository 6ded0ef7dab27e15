/*
 * No accidental creation, no resurrection (issue 10), with the example policy and both fake spokes:
 *
 * 1. `create: never` (Stripe in the example policy): a HubSpot lead whose email Stripe does not know is looked up
 *    and not found, and no Stripe customer is made (the push is dropped, counted as not_created); a lead whose
 *    email Stripe knows is linked and updated as before.
 * 2. Tombstones: a HubSpot contact deleted with `contact.privacyDeletion` is never recreated, although HubSpot's
 *    target says `create: if_missing`: a later Stripe change of the record pushes nothing to HubSpot (counted as
 *    tombstoned), and the record keeps the tombstone.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define DELIVER_TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static sy_it_t *create_hub(void **state, sy_itd_fake_t **stripe, sy_itd_fake_t **hubspot)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_it_t *h = sy_it_create(state, NULL);
    *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", *stripe, &api);
    *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    sy_itd_set_api(h, "hubspot", *hubspot, &api);
    sy_itd_use_example_policy(h);
    return h;
}

static void assert_no_dead(sy_it_t *h)
{
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("expected no dead letters, got %s", sy_itr_text(h, dead));
}

static void test_create_never_makes_no_stripe_customer(void **state)
{
    sy_itd_fake_t *stripe, *hubspot;
    sy_it_t *h = create_hub(state, &stripe, &hubspot);
    const int64_t hs0 = (sy_now_ms() / 1000 - 600) * 1000;
    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s}}", "cus_K", "email", "kim@known.test", "name", "Kim"));
    sy_it_start(h);

    /* a lead Stripe does not know: looked up, not found, not created */
    sy_itr_hs_change(h, 6601, 66, hs0 + 1000, "email", "lead@new.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    json_t *reqs = sy_itd_fake_requests(stripe);
    if (sy_itd_count(reqs, "GET", "/v1/customers?email=lead%40new.test", 200) != 1 ||
        sy_itd_count(reqs, "POST", NULL, -1) != 0)
        fail_msg("expected one lookup and no write at Stripe, got %s", sy_itr_text(h, reqs));
    json_t *objects = json_object_get(sy_itd_fake_state(stripe), "objects");
    if (json_object_size(objects) != 1)
        fail_msg("a HubSpot lead became a Stripe customer: %s", sy_itr_text(h, objects));
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "not_created"), 1);
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "created"), 0);

    /* a lead Stripe knows by email: linked and updated */
    sy_itr_hs_change(h, 6701, 67, hs0 + 2000, "email", "kim@known.test");
    sy_itr_hs_change(h, 6702, 67, hs0 + 3000, "name", "Kim Known");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    json_t *kim = sy_itd_fake_object(stripe, "cus_K");
    if (kim == NULL || json_string_value(json_object_get(kim, "name")) == NULL ||
        strcmp(json_string_value(json_object_get(kim, "name")), "Kim Known") != 0)
        fail_msg("cus_K was not updated: %s", sy_itr_text(h, kim));
    assert_int_equal(json_object_size(json_object_get(sy_itd_fake_state(stripe), "objects")), 1);
    assert_no_dead(h);
    sy_it_pass(h);
}

static void test_deleted_contact_is_never_recreated(void **state)
{
    sy_itd_fake_t *stripe, *hubspot;
    sy_it_t *h = create_hub(state, &stripe, &hubspot);
    const int64_t s0 = sy_now_ms() / 1000 - 600;
    sy_itd_fake_seed(hubspot, json_pack("{s:{s:s, s:s}}", "71", "email", "tom@tomb.test", "firstname", "Tom"));
    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s, s:{s:s}}}", "cus_T", "email", "tom@tomb.test", "name", "Tom",
                                       "metadata", "hubspot_contact_id", "71"));
    sy_it_start(h);

    /* Stripe customer cus_T is HubSpot contact 71; Stripe owns the subscription and pushes it to HubSpot */
    sy_itr_stripe(h, "evt_t_0", "customer.created", s0, sy_itr_customer("cus_T", "tom@tomb.test", "Tom", NULL, "71"));
    sy_itr_stripe(h, "evt_t_1", "customer.subscription.updated", s0 + 1,
                  sy_itr_subscription("sub_T", "cus_T", "active", "price_pro", 4900));
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    size_t before = json_array_size(sy_itd_fake_requests(hubspot));
    if (before == 0)
        fail_msg("the subscription was not pushed to HubSpot contact 71 before its deletion");

    /* GDPR deletion of contact 71 at HubSpot */
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(7190, "contact.privacyDeletion", 71, s0 * 1000 + 5000, NULL, NULL));
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "stripe:cus_T");
    assert_non_null(rec);
    if (json_object_get(json_object_get(rec, "tombstones"), "hubspot") == NULL)
        fail_msg("no tombstone for hubspot after contact.privacyDeletion: %s", sy_itr_text(h, rec));

    /* the subscription changes in Stripe: nothing goes to HubSpot, nothing is recreated there */
    sy_itr_stripe(h, "evt_t_2", "customer.subscription.updated", s0 + 10,
                  sy_itr_subscription("sub_T", "cus_T", "past_due", "price_pro", 4900));
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    json_t *reqs = sy_itd_fake_requests(hubspot);
    if (json_array_size(reqs) != before)
        fail_msg("the deleted contact was written to again: %s", sy_itr_text(h, reqs));
    if (sy_itr_counter(sy_itr_health(h), "tombstoned") < 1)
        fail_msg("the push to the deleted contact was not counted as tombstoned: %s",
                 sy_itr_text(h, json_object_get(sy_itr_health(h), "counters")));
    assert_no_dead(h);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_create_never_makes_no_stripe_customer, teardown),
        cmocka_unit_test_teardown(test_deleted_contact_is_never_recreated, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
