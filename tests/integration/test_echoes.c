/*
 * Echoes and freezes that are always right (issue 10), under the example policy: HubSpot owns email and name and
 * pushes them to Stripe (on_conflict: revert, revert budget 3 per hour).
 *
 * 1. Late echoes. The owner changes an email three times in quick succession; Stripe's webhooks for the older
 *    pushes arrive after the newer value was queued. Each is recognised as ours: no conflict, no revert, no freeze,
 *    and the one queued push carries the latest value. Once Stripe has shown the golden value, an older value from
 *    it is a genuine change again (a conflict, reverted).
 * 2. A frozen field still carries the owner's new values. Stripe keeps reformatting a name until its revert budget
 *    is spent and the field is frozen for it; then the owner changes the name: the new value is pushed to Stripe,
 *    the freeze is lifted and the budget re-armed.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static sy_it_t *start(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_use_example_policy(h);
    sy_it_start(h);
    return h;
}

static void assert_delta(json_t *before, json_t *after, const char *name, json_int_t delta)
{
    json_int_t d = sy_itr_counter(after, name) - sy_itr_counter(before, name);
    if (d != delta)
        fail_msg("counters.%s: expected +%lld, got +%lld", name, (long long)delta, (long long)d);
}

/* The one queued push to stripe for record id, and its value of field (fails the test otherwise). */
static const char *stripe_push_value(sy_it_t *h, const char *id, const char *field)
{
    json_t *q = sy_itr_queue(h), *push = NULL;
    sy_itr_assert_coalesced(q);
    if (sy_itr_pushes(q, "stripe", id, &push) != 1)
        fail_msg("expected one push to stripe for %s: %s", id, sy_itr_text(h, q));
    return json_string_value(json_object_get(json_object_get(push, "fields"), field));
}

static void test_late_echoes_are_ours(void **state)
{
    sy_it_t *h = start(state);
    const int64_t t0 = sy_now_ms() / 1000 - 600;
    char id[64];

    sy_itr_stripe(h, "evt_le_0", "customer.created", t0, sy_itr_customer("cus_LE", "lee@v0.test", "Lee Echo", NULL, "81"));
    sy_itr_hs_change(h, 8101, 81, t0 * 1000 + 1000, "email", "lee@v1.test");
    sy_itr_hs_change(h, 8102, 81, t0 * 1000 + 2000, "email", "lee@v2.test");
    sy_itr_hs_change(h, 8103, 81, t0 * 1000 + 3000, "email", "lee@v3.test");
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "hubspot:81");
    assert_non_null(rec);
    snprintf(id, sizeof(id), "%s", sy_itr_id(rec));
    assert_string_equal(stripe_push_value(h, id, "email"), "lee@v3.test");

    /* Stripe's webhooks for the pushes of v1 and v2 arrive now, after v3 was queued */
    json_t *before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_le_1", "customer.updated", t0 + 10, sy_itr_customer("cus_LE", "lee@v1.test", "Lee Echo", NULL, "81"));
    sy_itr_stripe(h, "evt_le_2", "customer.updated", t0 + 11, sy_itr_customer("cus_LE", "lee@v2.test", "Lee Echo", NULL, "81"));
    sy_itr_wait_applied(h);
    json_t *after = sy_itr_health(h);
    assert_delta(before, after, "conflicts", 0);
    assert_delta(before, after, "reverts", 0);
    assert_delta(before, after, "frozen", 0);
    assert_delta(before, after, "late_echoes", 2);
    rec = sy_itr_record(h, id);
    if (json_object_size(json_object_get(rec, "frozen")) != 0 && json_array_size(json_object_get(json_object_get(rec, "frozen"), "stripe")) != 0)
        fail_msg("a late echo froze a field: %s", sy_itr_text(h, json_object_get(rec, "frozen")));
    assert_string_equal(sy_itr_field(rec, "email", "value"), "lee@v3.test");
    assert_string_equal(stripe_push_value(h, id, "email"), "lee@v3.test");

    /* Stripe shows v3 (the golden value); then a user sets v1 back in Stripe: that is a genuine change */
    sy_itr_stripe(h, "evt_le_3", "customer.updated", t0 + 12, sy_itr_customer("cus_LE", "lee@v3.test", "Lee Echo", NULL, "81"));
    sy_itr_wait_applied(h);
    before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_le_4", "customer.updated", t0 + 20, sy_itr_customer("cus_LE", "lee@v1.test", "Lee Echo", NULL, "81"));
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_delta(before, after, "conflicts", 1);
    assert_delta(before, after, "reverts", 1);
    assert_delta(before, after, "late_echoes", 0);
    assert_string_equal(stripe_push_value(h, id, "email"), "lee@v3.test");
    sy_it_pass(h);
}

static void test_frozen_field_still_gets_owner_changes(void **state)
{
    sy_it_t *h = start(state);
    const int64_t t0 = sy_now_ms() / 1000 - 600;
    char id[64], evt[32];

    sy_itr_stripe(h, "evt_fz_0", "customer.created", t0, sy_itr_customer("cus_FZ", "pat@fz.test", "Pat Doe", NULL, "91"));
    sy_itr_hs_change(h, 9101, 91, t0 * 1000 + 1000, "name", "Pat Doe");
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "hubspot:91");
    assert_non_null(rec);
    snprintf(id, sizeof(id), "%s", sy_itr_id(rec));

    /* Stripe keeps reformatting the name: 3 reverts, then the field is frozen for Stripe */
    for (int i = 0; i != 8; ++i) {
        snprintf(evt, sizeof(evt), "evt_fz_r%d", i);
        sy_itr_stripe(h, evt, "customer.updated", t0 + 10 + i,
                      sy_itr_customer("cus_FZ", "pat@fz.test", i % 2 == 0 ? "PAT DOE" : "pat doe", NULL, "91"));
    }
    sy_itr_wait_applied(h);
    rec = sy_itr_record(h, id);
    if (sy_itr_count_str(json_object_get(json_object_get(rec, "frozen"), "stripe"), "name") != 1)
        fail_msg("name is not frozen for stripe: %s", sy_itr_text(h, rec));

    /* the owner changes the name: Stripe must get it */
    json_t *before = sy_itr_health(h);
    sy_itr_hs_change(h, 9102, 91, t0 * 1000 + 60000, "name", "Pat Q. Doe");
    sy_itr_wait_applied(h);
    json_t *after = sy_itr_health(h);
    assert_delta(before, after, "unfrozen", 1);
    rec = sy_itr_record(h, id);
    assert_string_equal(sy_itr_field(rec, "name", "value"), "Pat Q. Doe");
    const char *pushed = stripe_push_value(h, id, "name");
    if (pushed == NULL || strcmp(pushed, "Pat Q. Doe") != 0)
        fail_msg("the owner's new name is not pushed to the tool it was frozen for (push has %s)", pushed ? pushed : "none");
    if (sy_itr_count_str(json_object_get(json_object_get(rec, "frozen"), "stripe"), "name") != 0 ||
        json_object_get(json_object_get(rec, "reverts"), "stripe|name") != NULL)
        fail_msg("the freeze was not lifted and the budget re-armed: %s", sy_itr_text(h, rec));

    /* the budget is re-armed: the next reformatting is reverted again */
    before = after;
    sy_itr_stripe(h, "evt_fz_after", "customer.updated", t0 + 100,
                  sy_itr_customer("cus_FZ", "pat@fz.test", "PAT Q. DOE", NULL, "91"));
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_delta(before, after, "reverts", 1);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_late_echoes_are_ours, teardown),
        cmocka_unit_test_teardown(test_frozen_field_still_gets_owner_changes, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
