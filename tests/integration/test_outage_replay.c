/*
 * Replay after a spoke outage: Stripe is down while HubSpot changes five customers, the pushes die (one attempt
 * allowed), Stripe comes back, `replay --mode repush --spoke stripe` sends the current golden values again, and
 * the fake Stripe ends up holding exactly what the golden records say.
 */
#include "harness_delivery.h"
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL
#define HS0 1750000000000LL
#define CUSTOMERS 5

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void test_repush_restores_the_spoke_after_an_outage(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 1};
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_use_example_policy(h);
    char cus[32], hs[32], email[64], name[64];
    json_t *seed = json_object();
    for (int i = 1; i <= CUSTOMERS; ++i) {
        snprintf(cus, sizeof(cus), "cus_%d", i);
        snprintf(hs, sizeof(hs), "%d", 100 + i);
        snprintf(email, sizeof(email), "old%d@example.test", i);
        json_object_set_new(seed, cus, json_pack("{s:s, s:s, s:{s:s}}", "email", email, "name", "Old Name", "metadata",
                                                 "hubspot_contact_id", hs));
    }
    sy_itd_fake_seed(stripe, seed);
    sy_it_start(h);
    for (int i = 1; i <= CUSTOMERS; ++i) {
        char evt[32];
        snprintf(cus, sizeof(cus), "cus_%d", i);
        snprintf(hs, sizeof(hs), "%d", 100 + i);
        snprintf(evt, sizeof(evt), "evt_link_%d", i);
        snprintf(email, sizeof(email), "old%d@example.test", i);
        sy_itr_stripe(h, evt, "customer.created", S0, sy_itr_customer(cus, email, "Old Name", NULL, hs));
    }
    sy_itr_wait_applied(h);

    /* The outage: every push to Stripe fails, and with one attempt allowed each becomes a dead letter. */
    sy_itd_fake_mode(stripe, "error500", 0, 0, 0);
    for (int i = 1; i <= CUSTOMERS; ++i) {
        snprintf(email, sizeof(email), "new%d@example.test", i);
        snprintf(name, sizeof(name), "Customer %d", i);
        sy_itr_hs_change(h, 1000 + i, 100 + i, HS0 + 1000 * i, "email", email);
        sy_itr_hs_change(h, 2000 + i, 100 + i, HS0 + 1000 * i + 1, "name", name);
    }
    sy_itr_wait_applied(h);
    sy_itd_wait_dead(h, CUSTOMERS, 40);
    sy_itd_wait_queue_empty(h, 40);
    for (int i = 1; i <= CUSTOMERS; ++i) {
        snprintf(cus, sizeof(cus), "cus_%d", i);
        json_t *obj = sy_itd_fake_object(stripe, cus);
        assert_non_null(strstr(json_string_value(json_object_get(obj, "email")), "old")); /* Stripe lost the changes */
    }

    /* Stripe is back: resend the current values of everything HubSpot changed. */
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    char *out = sy_itr_cli_ok(h, 0, "replay", "--mode", "repush", "--spoke", "stripe", "--source", "hubspot", NULL);
    assert_non_null(strstr(out, "done: repush"));
    sy_itd_wait_queue_empty(h, 40);

    /* The fake now holds exactly what the golden records say, field by field. */
    json_t *records = sy_itr_records(h), *rec;
    size_t i, checked = 0;
    json_array_foreach(records, i, rec)
    {
        json_t *ids = json_object_get(json_object_get(rec, "xrefs"), "stripe");
        if (json_array_size(ids) == 0)
            continue;
        json_t *obj = sy_itd_fake_object(stripe, json_string_value(json_array_get(ids, 0)));
        assert_non_null(obj);
        static const char *const pushed[] = {"email", "name"};
        for (size_t k = 0; k != 2; ++k) {
            const char *golden = sy_itr_field(rec, pushed[k], "value");
            const char *at_stripe = json_string_value(json_object_get(obj, pushed[k]));
            if (golden == NULL || at_stripe == NULL || strcmp(golden, at_stripe) != 0)
                fail_msg("%s.%s: golden %s, Stripe %s", sy_itr_id(rec), pushed[k], golden != NULL ? golden : "(none)",
                         at_stripe != NULL ? at_stripe : "(none)");
        }
        ++checked;
    }
    assert_int_equal(checked, CUSTOMERS);
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_repush_restores_the_spoke_after_an_outage, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
