/*
 * `replay --mode repush` rebuilds a wiped tool (issue 10). Stripe loses every customer (the fake is reset); a repush
 * of the HubSpot-owned values finds each linked customer gone (404), unlinks it, looks the record up by email and,
 * as the target's `create: if_missing` allows, creates it again, once, with the golden values. The replay reports
 * the pushes it queued, not only the events it read. With `create: never` the same repush creates nothing.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CUSTOMERS 3
#define DELIVER_TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* A hub whose Stripe target creates as the policy line given says; CUSTOMERS customers linked and updated. */
static sy_it_t *setup(void **state, const char *create_line, sy_itd_fake_t **stripe)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_it_t *h = sy_it_create(state, NULL);
    *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", *stripe, &api);
    sy_itd_use_example_policy_creating(h, create_line);
    char cus[32], hs[32], email[64], name[64];
    for (int i = 1; i <= CUSTOMERS; ++i) {
        snprintf(cus, sizeof(cus), "cus_R%d", i);
        snprintf(hs, sizeof(hs), "30%d", i);
        snprintf(email, sizeof(email), "r%d@old.test", i);
        sy_itd_fake_seed(*stripe, json_pack("{s:{s:s, s:{s:s}}}", cus, "email", email, "metadata", "hubspot_contact_id", hs));
    }
    sy_it_start(h);
    const int64_t s0 = sy_now_ms() / 1000 - 600;
    for (int i = 1; i <= CUSTOMERS; ++i) {
        char evt[32];
        snprintf(cus, sizeof(cus), "cus_R%d", i);
        snprintf(hs, sizeof(hs), "30%d", i);
        snprintf(email, sizeof(email), "r%d@old.test", i);
        snprintf(evt, sizeof(evt), "evt_r%d", i);
        sy_itr_stripe(h, evt, "customer.created", s0, sy_itr_customer(cus, email, "R", NULL, hs));
        snprintf(email, sizeof(email), "r%d@new.test", i);
        snprintf(name, sizeof(name), "Rebuilt %d", i);
        sy_itr_hs_change(h, 3000 + i, 300 + i, (s0 + 10) * 1000 + i, "email", email);
        sy_itr_hs_change(h, 3100 + i, 300 + i, (s0 + 11) * 1000 + i, "name", name);
    }
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    /* Stripe loses everything */
    sy_itd_fake_call(*stripe, "POST", "/_fake/reset", NULL);
    return h;
}

static void test_repush_recreates_a_wiped_tool(void **state)
{
    sy_itd_fake_t *stripe;
    sy_it_t *h = setup(state, "    create: if_missing", &stripe);

    char *out = sy_itr_cli_ok(h, 0, "replay", "--mode", "repush", "--spoke", "stripe", "--source", "hubspot", NULL);
    char want[64];
    snprintf(want, sizeof(want), "%d pushes queued", CUSTOMERS);
    if (strstr(out, want) == NULL)
        fail_msg("the replay does not report the pushes it queued (%s): %s", want, out);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("the rebuild left dead letters: %s", sy_itr_text(h, dead));

    json_t *objects = json_object_get(sy_itd_fake_state(stripe), "objects");
    if (json_object_size(objects) != CUSTOMERS)
        fail_msg("expected %d customers recreated at Stripe, it holds %s", CUSTOMERS, sy_itr_text(h, objects));
    for (int i = 1; i <= CUSTOMERS; ++i) {
        char q[32], email[64], name[64];
        snprintf(q, sizeof(q), "hubspot:30%d", i);
        snprintf(email, sizeof(email), "r%d@new.test", i);
        snprintf(name, sizeof(name), "Rebuilt %d", i);
        json_t *rec = sy_itr_record(h, q);
        json_t *ids = json_object_get(json_object_get(rec, "xrefs"), "stripe");
        if (json_array_size(ids) != 1)
            fail_msg("%s should be linked to exactly its new Stripe customer: %s", q, sy_itr_text(h, rec));
        const char *id = json_string_value(json_array_get(ids, 0));
        json_t *obj = json_object_get(objects, id);
        if (strncmp(id, "cus_R", 5) == 0 || obj == NULL ||
            strcmp(json_string_value(json_object_get(obj, "email")), email) != 0 ||
            json_string_value(json_object_get(obj, "name")) == NULL ||
            strcmp(json_string_value(json_object_get(obj, "name")), name) != 0)
            fail_msg("%s: Stripe customer %s does not hold the golden values: %s", q, id, sy_itr_text(h, obj));
    }
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    sy_it_pass(h);
}

static void test_repush_respects_create_never(void **state)
{
    sy_itd_fake_t *stripe;
    sy_it_t *h = setup(state, "    create: never", &stripe);
    sy_itr_cli_ok(h, 0, "replay", "--mode", "repush", "--spoke", "stripe", "--source", "hubspot", NULL);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    json_t *objects = json_object_get(sy_itd_fake_state(stripe), "objects");
    if (json_object_size(objects) != 0)
        fail_msg("create: never, yet the repush created customers: %s", sy_itr_text(h, objects));
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "not_created"), CUSTOMERS);
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("expected no dead letters, got %s", sy_itr_text(h, dead));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_repush_recreates_a_wiped_tool, teardown),
        cmocka_unit_test_teardown(test_repush_respects_create_never, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
