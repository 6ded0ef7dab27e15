/*
 * What deploy/run does, as a test (issue 12): the real hub on the example config (deploy/switchyard.example.yaml,
 * only its ports, data dir and policy path replaced) with the example policy directory policies/, the five fake
 * tools seeded as deploy/run seeds them, and `switchyard trigger` for samples of every kind of tool:
 *
 *   - one golden record links the Stripe customer, the HubSpot contact, the Intercom contact and the sheet's row
 *     (and `records get` finds it from each of them);
 *   - HubSpot's contact got what the others own: Intercom's support fields, the sheet's implementation fields and
 *     Stripe's billing fields, each under the property name of the policy's push_as, with the golden value;
 *   - Stripe's customer got what HubSpot owns (the email), and nothing is written to the tools that receive nothing
 *     (Intercom, the sheet, QuickBooks);
 *   - the queue drains and nothing is dead.
 *
 * QuickBooks notifications carry no values: policies/accounting.yaml maps the Customer.Fetched events the fetch
 * (Change Data Capture) logs, which the hub does not do yet. So the QuickBooks samples are only asserted to be
 * accepted, logged and to write nothing.
 *
 * Deterministic: every wait polls with a bound, nothing asserts speed.
 */
#include "harness_tools.h"

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

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* The HubSpot property prop of the demo contact equals the golden value of field. */
static void assert_pushed_to_hubspot(sy_itt_stack_t *s, json_t *rec, const char *field, const char *prop)
{
    char what[160];
    const char *golden = sy_itt_golden(s->h, rec, field);
    snprintf(what, sizeof(what), "golden %s", field);
    if (golden == NULL)
        fail_msg("%s is not set: %s", what, sy_itr_text(s->h, rec));
    snprintf(what, sizeof(what), "HubSpot contact 51 property %s (golden %s)", prop, field);
    sy_itt_assert_str(what, str_at(sy_itd_fake_object(s->fake[SY_ITT_HUBSPOT], SY_ITT_HUBSPOT_CONTACT), prop), golden);
}

/* The fetched QuickBooks customer is on the demo record (arg: its id). */
static int qb_linked(sy_it_t *h, void *arg)
{
    json_t *rec = sy_itr_record(h, "quickbooks:9341455251541838:58");
    return rec != NULL && strcmp(sy_itr_id(rec), (const char *)arg) == 0;
}

static void test_five_tools(void **state)
{
    /* The samples, in the order deploy/run suggests, plus the other kinds the connectors know. An Intercom
     * conversation names its contact by id only: the contact sample (which has the email) comes first, so that the
     * conversation lands on the linked record. */
    static const char *const triggers[][2] = {
        {"stripe", "customer.updated"},
        {"hubspot", "contact.propertyChange"},
        {"intercom", "contact.user.created"},
        {"intercom", "conversation.user.created"},
        {"sheets", "row.updated"},
        {"stripe", "customer.subscription.updated"},
        {"stripe", "invoice.paid"},
        {"quickbooks", "Customer.Update"},
        {"quickbooks", "qbo.customer.updated.v1"},
    };
    const size_t num_triggers = sizeof(triggers) / sizeof(triggers[0]);
    sy_itt_stack_t s;
    sy_it_t *h = sy_it_create(state, NULL);
    size_t none[SY_ITT_NUM_TOOLS] = {0}, want[SY_ITT_NUM_TOOLS] = {0};

    sy_itt_stack_create(h, &s);
    sy_it_start(h);
    for (size_t i = 0; i != num_triggers; ++i)
        sy_itt_trigger(h, triggers[i][0], triggers[i][1]);
    sy_itt_settle(h);
    /* every sample is logged (at least: once the QuickBooks fetch is wired, its Customer.Fetched events add to them) */
    if (sy_it_log_count(h) < (json_int_t)num_triggers)
        fail_msg("expected %zu logged events, got %lld", num_triggers, (long long)sy_it_log_count(h));

    /* one record for the demo customer, found from every tool's id; any other record can only be a QuickBooks
     * customer of the fetch that has not joined it yet */
    json_t *rec = sy_itr_record(h, "hubspot:" SY_ITT_HUBSPOT_CONTACT);
    assert_non_null(rec);
    json_t *records = sy_itr_records(h), *other_rec;
    size_t r;
    json_array_foreach(records, r, other_rec)
    {
        json_t *x = json_object_get(other_rec, "xrefs");
        if (strcmp(sy_itr_id(other_rec), sy_itr_id(rec)) != 0 &&
            (json_object_size(x) != 1 || json_object_get(x, "quickbooks") == NULL))
            fail_msg("a second golden record besides the demo customer's: %s", sy_itr_text(h, records));
    }
    json_t *xrefs = json_object_get(rec, "xrefs");
    static const char *const links[][2] = {{"stripe", SY_ITT_STRIPE_CUSTOMER},
                                           {"hubspot", SY_ITT_HUBSPOT_CONTACT},
                                           {"intercom", SY_ITT_INTERCOM_CONTACT},
                                           {"sheets", "2"}};
    for (size_t i = 0; i != sizeof(links) / sizeof(links[0]); ++i) {
        char query[96];
        if (json_array_size(json_object_get(xrefs, links[i][0])) != 1 ||
            sy_itr_count_str(json_object_get(xrefs, links[i][0]), links[i][1]) != 1)
            fail_msg("the record does not link %s:%s (and only it): %s", links[i][0], links[i][1], sy_itr_text(h, xrefs));
        snprintf(query, sizeof(query), "%s:%s", links[i][0], links[i][1]);
        json_t *other = sy_itr_record(h, query);
        if (other == NULL || strcmp(sy_itr_id(other), sy_itr_id(rec)) != 0)
            fail_msg("records get %s is not the demo customer's record", query);
    }
    /* The QuickBooks customer arrives with the fetch (Customer.Fetched, read through CDC after the notifications,
     * asynchronously) and joins the demo record by its email (billing@acme.example, Stripe's too). */
    sy_itd_wait(h, 40, "the fetched QuickBooks customer to join the demo record", qb_linked, (void *)sy_itr_id(rec));
    sy_itt_settle(h);
    rec = sy_itr_record(h, "hubspot:" SY_ITT_HUBSPOT_CONTACT);
    xrefs = json_object_get(rec, "xrefs");
    if (sy_itr_count_str(json_object_get(xrefs, "quickbooks"), "9341455251541838:58") != 1)
        fail_msg("the record does not link the QuickBooks customer: %s", sy_itr_text(h, xrefs));

    /* HubSpot owns the email: the golden value is HubSpot's, and Stripe got it */
    sy_itt_assert_str("golden email", sy_itt_golden(h, rec, "email"), "ana@acme.example");
    sy_itt_assert_str("golden email's source", sy_itr_field(rec, "email", "source"), "hubspot");
    json_t *customer = sy_itd_fake_object(s.fake[SY_ITT_STRIPE], SY_ITT_STRIPE_CUSTOMER);
    sy_itt_assert_str("Stripe customer email", str_at(customer, "email"), "ana@acme.example");
    sy_itt_assert_str("Stripe customer name (HubSpot has none yet)", str_at(customer, "name"), "Acme Corp");

    /* HubSpot got what Intercom, the sheet and Stripe own (policies/support.yaml, implementation.yaml, customers.yaml) */
    assert_pushed_to_hubspot(&s, rec, "last_replied_at", "intercom_last_replied_at");
    assert_pushed_to_hubspot(&s, rec, "last_contacted_at", "intercom_last_contacted_at");
    assert_pushed_to_hubspot(&s, rec, "last_conversation_at", "intercom_last_conversation_at");
    assert_pushed_to_hubspot(&s, rec, "last_conversation_state", "intercom_last_conversation_state");
    assert_pushed_to_hubspot(&s, rec, "implementation_owner", "implementation_owner");
    assert_pushed_to_hubspot(&s, rec, "implementation_stage", "implementation_stage");
    assert_pushed_to_hubspot(&s, rec, "subscription_status", "subscription_status");
    assert_pushed_to_hubspot(&s, rec, "plan", "plan");
    assert_pushed_to_hubspot(&s, rec, "mrr", "mrr");
    assert_pushed_to_hubspot(&s, rec, "payment_state", "payment_state");
    json_t *contact = sy_itd_fake_object(s.fake[SY_ITT_HUBSPOT], SY_ITT_HUBSPOT_CONTACT);
    sy_itt_assert_str("HubSpot intercom_last_conversation_state", str_at(contact, "intercom_last_conversation_state"), "open");
    sy_itt_assert_str("HubSpot implementation_owner", str_at(contact, "implementation_owner"), "Ana");
    sy_itt_assert_str("HubSpot implementation_stage", str_at(contact, "implementation_stage"), "customer");
    sy_itt_assert_str("HubSpot subscription_status", str_at(contact, "subscription_status"), "active");
    sy_itt_assert_str("HubSpot plan", str_at(contact, "plan"), "price_growth_monthly");
    sy_itt_assert_str("HubSpot mrr", str_at(contact, "mrr"), "4900");
    sy_itt_assert_str("HubSpot payment_state", str_at(contact, "payment_state"), "paid");
    sy_itt_assert_str("HubSpot email (its own, untouched)", str_at(contact, "email"), "ana@acme.example");

    /* the tools that receive nothing under the example policy got no write; the other two got some */
    size_t writes[SY_ITT_NUM_TOOLS];
    sy_itt_count_writes(&s, writes);
    if (writes[SY_ITT_STRIPE] == 0 || writes[SY_ITT_HUBSPOT] == 0)
        fail_msg("expected writes to Stripe and HubSpot, got %zu and %zu", writes[SY_ITT_STRIPE], writes[SY_ITT_HUBSPOT]);
    want[SY_ITT_STRIPE] = writes[SY_ITT_STRIPE];
    want[SY_ITT_HUBSPOT] = writes[SY_ITT_HUBSPOT];
    sy_itt_assert_writes(&s, none, want, "after the samples");
    json_t *ic = sy_itd_fake_object(s.fake[SY_ITT_INTERCOM], SY_ITT_INTERCOM_CONTACT);
    sy_itt_assert_str("Intercom contact email (untouched)", str_at(ic, "email"), "ana@acme.example");
    sy_itt_assert_str("Intercom contact name (untouched)", str_at(ic, "name"), "Ana Silva");

    /* deploy/run's last suggestion: who owns what across the five tools */
    char *map = sy_itr_cli_ok(h, 0, "map", "--format", "mermaid", NULL);
    static const char *const owners[] = {"stripe[\"stripe<br/>owns: subscription_status", "hubspot[\"hubspot<br/>owns: email, name",
                                         "intercom[\"intercom<br/>owns: last_replied_at",
                                         "quickbooks[\"quickbooks<br/>owns: open_balance",
                                         "sheets[\"sheets<br/>owns: implementation_owner"};
    for (size_t i = 0; i != sizeof(owners) / sizeof(owners[0]); ++i)
        if (strstr(map, owners[i]) == NULL)
            fail_msg("switchyard map does not show %s:\n%s", owners[i], map);

    /* the queue drained (sy_itt_settle) and nothing is dead or failed, in the health report too */
    json_t *health = sy_itr_health(h);
    assert_int_equal(json_integer_value(json_object_get(health, "dead_letters")), 0);
    assert_int_equal(json_integer_value(json_object_get(health, "queued_pushes")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(health, "applier"), "lag")), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_five_tools, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
