/*
 * Golden records on the real binary, under a field-ownership policy: signed Stripe and HubSpot events go in
 * through the ingress, the applier turns them into records and queued pushes, and the records / queue / health
 * CLIs and the admin API show the outcome. Covers owner changes, echoes, conflicts (revert and ignore), stale
 * events, the revert budget of a tool that keeps rewriting a field (3 tools), identity (strong keys, weak-key
 * suggestions, exclusions, merge and split, duplicates, double billing) and policy reloads.
 */
#include "harness_delivery.h"
#include "harness_records.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL       /* Stripe `created`, seconds */
#define HS0 1750000000000LL   /* HubSpot `occurredAt`, ms (the same instant) */
#define CRM2_SECRET "crm2-secret"

/* Three tools: HubSpot owns email and name and pushes them to Stripe and to a second CRM ("crm2"). */
static const char three_tools_policy[] = "entity: customer\n"
                                         "fields:\n"
                                         "  email: {owner: hubspot, push: [stripe, crm2], normalize: [email],\n"
                                         "          on_conflict: revert}\n"
                                         "  name: {owner: hubspot, push: [stripe, crm2], normalize: [trim],\n"
                                         "         on_conflict: revert}\n"
                                         "identity: {strong: [email]}\n"
                                         "loop_guard: {revert_budget: 3, window: 1h}\n"
                                         "sources:\n"
                                         "  hubspot:\n"
                                         "    objects:\n"
                                         "      - events: [contact.creation, contact.propertyChange]\n"
                                         "        id: objectId\n"
                                         "        fields: {email: properties.email, name: properties.name}\n"
                                         "  crm2:\n"
                                         "    objects:\n"
                                         "      - events: [contact.creation, contact.propertyChange]\n"
                                         "        id: objectId\n"
                                         "        fields: {email: properties.email, name: properties.name}\n"
                                         "    push_as: {email: email, name: firstname}\n"
                                         "  stripe:\n"
                                         "    objects:\n"
                                         "      - events: [customer.created, customer.updated]\n"
                                         "        id: data.object.id\n"
                                         "        fields: {email: data.object.email, name: data.object.name}\n"
                                         "        links: {hubspot: data.object.metadata.hubspot_contact_id}\n"
                                         "    push_as: {email: email, name: name}\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* Creates the harness, writes yaml (NULL: policies/customers.yaml) to policy.yaml, names it in the config, starts. */
static sy_it_t *start_with_policy(void **state, const sy_it_options_t *opts, const char *yaml)
{
    sy_it_t *h = sy_it_create(state, opts);
    const char *text = yaml != NULL ? yaml : sy_itr_example_policy(h);
    char *p = sy_it_write_file(h, "policy.yaml", text, strlen(text));
    sy_itr_set_policy(h, p);
    sy_it_start(h);
    return h;
}

static void assert_str(const char *what, const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: expected \"%s\", got %s%s%s", what, want, got != NULL ? "\"" : "", got != NULL ? got : "(none)",
                 got != NULL ? "\"" : "");
}

static void assert_counter(json_t *before, json_t *after, const char *name, json_int_t delta)
{
    json_int_t d = sy_itr_counter(after, name) - sy_itr_counter(before, name);
    if (d != delta)
        fail_msg("counters.%s: expected +%lld, got +%lld", name, (long long)delta, (long long)d);
}

/* json_equal(got, want), want being a new reference that this takes over. */
static int same(sy_it_t *h, json_t *got, json_t *want)
{
    return json_equal(got, sy_it_own_json(h, want));
}

static void assert_queue_unchanged(sy_it_t *h, json_t *before, const char *why)
{
    json_t *now = sy_itr_queue(h);
    if (!json_equal(before, now))
        fail_msg("%s: the queue changed\nbefore: %s\nafter:  %s", why, sy_itr_text(h, before), sy_itr_text(h, now));
    sy_it_release(h, now);
}

/* Scenarios 1-4: owner change → one push; echo; conflicts (revert, ignore); an out-of-order event. */
/* The alert model (alerts.h): one open frozen_field alert naming the record, the tool and the field. */
static void assert_frozen_alert(sy_it_t *h, const char *record, const char *source, const char *field)
{
    sy_it_response_t res;
    char auth[100];
    size_t i, n = 0;
    json_t *a;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/admin/api/alerts", auth, &res);
    assert_int_equal(res.status, 200);
    json_array_foreach(json_object_get(res.json, "alerts"), i, a)
    {
        n += strcmp(json_string_value(json_object_get(a, "kind")), "frozen_field") == 0 &&
             strcmp(json_string_value(json_object_get(a, "record")), record) == 0 &&
             strcmp(json_string_value(json_object_get(a, "source")), source) == 0 &&
             strcmp(json_string_value(json_object_get(a, "field")), field) == 0 &&
             strcmp(json_string_value(json_object_get(a, "state")), "open") == 0;
    }
    if (n != 1)
        fail_msg("expected one open frozen_field alert for %s %s %s: %s", record, source, field, res.body);
    sy_it_response_dispose(&res);
}

static void test_owner_echo_conflict_stale(void **state)
{
    sy_it_t *h = start_with_policy(state, NULL, NULL);
    json_t *q, *rec, *push, *before, *after;
    json_int_t seq;
    char id[64];

    /* a Stripe customer linked to HubSpot contact 51: Stripe owns none of its fields, nothing is queued */
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ann@old.test", "Ann Lee", NULL, "51"));
    sy_itr_wait_applied(h);
    q = sy_itr_queue(h);
    if (json_array_size(q) != 0)
        fail_msg("a non-owner's first values queued pushes: %s", sy_itr_text(h, q));

    /* 1. HubSpot changes the email: it reaches the record and queues one push, to Stripe only */
    seq = sy_itr_hs_change(h, 5101, 51, HS0 + 1000, "email", "ann@nova.test");
    sy_itr_wait_applied(h);
    rec = sy_itr_record(h, "hubspot:51");
    if (rec == NULL)
        fail_msg("no record for hubspot:51");
    snprintf(id, sizeof(id), "%s", sy_itr_id(rec));
    assert_str("fields.email.value", sy_itr_field(rec, "email", "value"), "ann@nova.test");
    assert_str("fields.email.source", sy_itr_field(rec, "email", "source"), "hubspot");
    assert_int_equal(sy_itr_field_int(rec, "email", "seq"), seq);
    assert_int_equal(sy_itr_field_int(rec, "email", "version_ms"), HS0 + 1000);
    assert_str("stripe:cus_A is on the same record", sy_itr_id(sy_itr_record(h, "stripe:cus_A")), id);
    q = sy_itr_queue(h);
    if (json_array_size(q) != 1 || sy_itr_pushes(q, "stripe", id, &push) != 1)
        fail_msg("expected exactly one push, to stripe for %s: %s", id, sy_itr_text(h, q));
    assert_str("push.fields.email", json_string_value(json_object_get(json_object_get(push, "fields"), "email")),
               "ann@nova.test");
    assert_int_equal(sy_itr_pushes(q, "hubspot", NULL, NULL), 0);

    /* 2. Stripe echoes the new email back (newer `created`): nothing new is queued */
    before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_a2", "customer.updated", S0 + 10,
                  sy_itr_customer("cus_A", "ann@nova.test", "Ann Lee", NULL, "51"));
    sy_itr_wait_applied(h);
    assert_queue_unchanged(h, q, "Stripe echoed the email");
    after = sy_itr_health(h);
    if (sy_itr_counter(after, "echoes") <= sy_itr_counter(before, "echoes"))
        fail_msg("counters.echoes did not increase: %s", sy_itr_text(h, json_object_get(after, "counters")));
    assert_counter(before, after, "conflicts", 0);

    /* 3. HubSpot sets the name Stripe already holds: no push; then Stripe changes the HubSpot-owned name:
     * a conflict, and the golden name is queued back to Stripe (coalesced into its waiting push) */
    sy_itr_hs_change(h, 5102, 51, HS0 + 2000, "name", "Ann Lee");
    sy_itr_wait_applied(h);
    assert_str("fields.name.value", sy_itr_field(sy_itr_record(h, id), "name", "value"), "Ann Lee");
    assert_queue_unchanged(h, q, "HubSpot set a name the Stripe object already holds");
    before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_a3", "customer.updated", S0 + 20,
                  sy_itr_customer("cus_A", "ann@nova.test", "Annie L.", NULL, "51"));
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_counter(before, after, "conflicts", 1);
    assert_counter(before, after, "reverts", 1);
    assert_str("golden name after a non-owner change", sy_itr_field(sy_itr_record(h, id), "name", "value"), "Ann Lee");
    q = sy_itr_queue(h);
    sy_itr_assert_coalesced(q);
    if (json_array_size(q) != 1 || sy_itr_pushes(q, "stripe", id, &push) != 1)
        fail_msg("expected one push, to stripe: %s", sy_itr_text(h, q));
    assert_str("revert push: fields.name", json_string_value(json_object_get(json_object_get(push, "fields"), "name")),
               "Ann Lee");
    if (sy_itr_count_str(json_object_get(push, "reasons"), "revert") != 1)
        fail_msg("the push to stripe does not give \"revert\" as a reason once: %s", sy_itr_text(h, push));

    /*    phone is on_conflict ignore: the conflict is counted, nothing is queued */
    sy_itr_hs_change(h, 5103, 51, HS0 + 3000, "phone", "+1 415 555 0100");
    sy_itr_wait_applied(h);
    assert_str("fields.phone.value", sy_itr_field(sy_itr_record(h, id), "phone", "value"), "+14155550100");
    q = sy_itr_queue(h);
    before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_a4", "customer.updated", S0 + 30,
                  sy_itr_customer("cus_A", "ann@nova.test", "Annie L.", "+1 (415) 555-0199", "51"));
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_counter(before, after, "conflicts", 1);
    assert_counter(before, after, "reverts", 0);
    assert_queue_unchanged(h, q, "a conflict on an on_conflict: ignore field");
    assert_str("golden phone", sy_itr_field(sy_itr_record(h, id), "phone", "value"), "+14155550100");

    /* 4. an older HubSpot email change arrives late: stale, the record keeps the newer value */
    before = sy_itr_health(h);
    sy_itr_hs_change(h, 5104, 51, HS0 + 500, "email", "ann@stale.test");
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_counter(before, after, "stale", 1);
    assert_counter(before, after, "fields_updated", 0);
    rec = sy_itr_record(h, id);
    assert_str("email after a stale event", sy_itr_field(rec, "email", "value"), "ann@nova.test");
    assert_int_equal(sy_itr_field_int(rec, "email", "seq"), seq);
    assert_queue_unchanged(h, q, "a stale event");
    sy_it_pass(h);
}

/* Scenario 5: a 3-tool chain reaches a fixed point; a tool that keeps rewriting a field is frozen after 3 reverts. */
static void test_three_tools_ping_pong(void **state)
{
    static const sy_it_options_t opts = {.extra_sources = "  crm2:\n"
                                                          "    connector: hubspot\n"
                                                          "    signature_version: 3\n"
                                                          "    tolerance: 5m\n"
                                                          "    secrets: [{value: " CRM2_SECRET "}]\n"};
    sy_it_t *h = start_with_policy(state, &opts, three_tools_policy);
    json_t *q, *rec, *push, *before, *after, *crm2;
    char id[64], evt[32];

    sy_itr_stripe(h, "evt_p1", "customer.created", S0, sy_itr_customer("cus_P", "old@pp.test", "Pat Doe", NULL, "61"));
    sy_itr_hubspot_post(h, "crm2", CRM2_SECRET,
                        sy_itr_hs_event(9001, "contact.propertyChange", 900, HS0, "email", "old@pp.test"));
    sy_itr_wait_applied(h);
    rec = sy_itr_record(h, "crm2:900");
    if (rec == NULL)
        fail_msg("no record for crm2:900");
    snprintf(id, sizeof(id), "%s", sy_itr_id(rec));
    assert_str("stripe:cus_P and crm2:900 share the email", sy_itr_id(sy_itr_record(h, "stripe:cus_P")), id);
    assert_int_equal(json_array_size(sy_itr_queue(h)), 0);

    /* the owner speaks: email to both other tools; name only to crm2 (Stripe already holds it) */
    sy_itr_hs_change(h, 6101, 61, HS0 + 1000, "email", "pat@pp.test");
    sy_itr_hs_change(h, 6102, 61, HS0 + 1100, "name", "Pat Doe");
    sy_itr_wait_applied(h);
    assert_str("hubspot:61 joined the record", sy_itr_id(sy_itr_record(h, "hubspot:61")), id);
    q = sy_itr_queue(h);
    sy_itr_assert_coalesced(q);
    if (json_array_size(q) != 2 || sy_itr_pushes(q, "stripe", id, &push) != 1 || sy_itr_pushes(q, "crm2", id, &crm2) != 1)
        fail_msg("expected one push to stripe and one to crm2 for %s: %s", id, sy_itr_text(h, q));
    if (!same(h, json_object_get(push, "fields"), json_pack("{s:s}", "email", "pat@pp.test")) ||
        !same(h, json_object_get(crm2, "fields"), json_pack("{s:s, s:s}", "email", "pat@pp.test", "name", "Pat Doe")))
        fail_msg("queued fields: %s", sy_itr_text(h, q));

    /* both echo what they were sent: the system is at a fixed point, nothing more is queued */
    before = sy_itr_health(h);
    sy_itr_stripe(h, "evt_p2", "customer.updated", S0 + 10, sy_itr_customer("cus_P", "pat@pp.test", "Pat Doe", NULL, "61"));
    sy_itr_hubspot_post(h, "crm2", CRM2_SECRET,
                        json_pack("[o, o]",
                                  sy_itr_hs_event(9002, "contact.propertyChange", 900, HS0 + 2000, "email", "pat@pp.test"),
                                  sy_itr_hs_event(9003, "contact.propertyChange", 900, HS0 + 2100, "name", "Pat Doe")));
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_queue_unchanged(h, q, "echoes from stripe and crm2");
    assert_counter(before, after, "conflicts", 0);
    assert_counter(before, after, "fields_updated", 0);
    if (sy_itr_counter(after, "echoes") - sy_itr_counter(before, "echoes") < 3)
        fail_msg("expected at least 3 more echoes: %s", sy_itr_text(h, json_object_get(after, "counters")));

    /* Stripe keeps reformatting the name (10 changes, newer each time): 3 reverts, then frozen + one alert */
    before = after;
    for (int i = 0; i != 10; ++i) {
        snprintf(evt, sizeof(evt), "evt_pp%d", i);
        sy_itr_stripe(h, evt, "customer.updated", S0 + 100 + i,
                      sy_itr_customer("cus_P", "pat@pp.test", i % 2 == 0 ? "PAT DOE" : "pat doe", NULL, "61"));
    }
    sy_itr_wait_applied(h);
    after = sy_itr_health(h);
    assert_counter(before, after, "reverts", 3);
    assert_counter(before, after, "alerts", 1);
    if (sy_itr_counter(after, "conflicts") - sy_itr_counter(before, "conflicts") < 4 ||
        sy_itr_counter(after, "frozen") == sy_itr_counter(before, "frozen"))
        fail_msg("expected at least 4 conflicts and some frozen: %s", sy_itr_text(h, json_object_get(after, "counters")));
    rec = sy_itr_record(h, id);
    assert_str("golden name", sy_itr_field(rec, "name", "value"), "Pat Doe");
    if (sy_itr_count_str(json_object_get(json_object_get(rec, "frozen"), "stripe"), "name") != 1)
        fail_msg("name is not frozen for stripe: %s", sy_itr_text(h, json_object_get(rec, "frozen")));
    if (json_integer_value(json_array_get(json_object_get(json_object_get(rec, "reverts"), "stripe|name"), 0)) != 3)
        fail_msg("reverts[\"stripe|name\"]: %s", sy_itr_text(h, json_object_get(rec, "reverts")));
    assert_frozen_alert(h, id, "stripe", "name");
    q = sy_itr_queue(h);
    sy_itr_assert_coalesced(q);
    if (json_array_size(q) != 2 || sy_itr_pushes(q, "stripe", id, &push) != 1)
        fail_msg("expected still one push per tool: %s", sy_itr_text(h, q));
    assert_str("stripe push name", json_string_value(json_object_get(json_object_get(push, "fields"), "name")), "Pat Doe");
    if (sy_itr_count_str(json_object_get(push, "reasons"), "revert") == 0)
        fail_msg("the stripe push does not give \"revert\" as a reason: %s", sy_itr_text(h, push));
    sy_it_pass(h);
}

/* The health entry of list whose "record" is id (borrowed), or NULL. */
static json_t *entry_for(json_t *list, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_is_string(json_object_get(e, "record")) && strcmp(json_string_value(json_object_get(e, "record")), id) == 0)
            return e;
    }
    return NULL;
}

/* Scenario 6: strong keys, weak-key suggestions, exclusions, merge and split, duplicates, double billing. */
static void test_identity(void **state)
{
    sy_it_t *h = start_with_policy(state, NULL, NULL);
    json_t *rec, *health, *before, *e, *s;
    char r71[64], r72[64], r73[64], rd[64], *out;
    size_t i;
    int found = 0;

    /* the same email from HubSpot and (capitalised) from an unlinked Stripe customer: one record */
    sy_itr_hs_change(h, 7101, 71, HS0, "email", "sam@acme.test");
    sy_itr_stripe(h, "evt_s1", "customer.created", S0 + 1, sy_itr_customer("cus_S", "Sam@Acme.TEST", "Sam Roe", NULL, NULL));
    /* two contacts of one company written differently; a test record */
    sy_itr_hs_change(h, 7201, 72, HS0 + 2000, "company", "Nova Pixel Inc.");
    sy_itr_hs_change(h, 7301, 73, HS0 + 3000, "company", "nova pixel");
    sy_itr_wait_applied(h);
    before = sy_itr_health(h);
    sy_itr_hs_change(h, 7401, 74, HS0 + 4000, "name", "Test Customer");
    sy_itr_wait_applied(h);
    health = sy_itr_health(h);

    rec = sy_itr_record(h, "hubspot:71");
    if (rec == NULL)
        fail_msg("no record for hubspot:71");
    snprintf(r71, sizeof(r71), "%s", sy_itr_id(rec));
    assert_str("stripe:cus_S found by email", sy_itr_id(sy_itr_record(h, "stripe:cus_S")), r71);
    assert_str("lookup by email", sy_itr_id(sy_itr_record(h, "SAM@acme.test")), r71);
    assert_int_equal(json_integer_value(json_object_get(health, "records")), 3);

    snprintf(r72, sizeof(r72), "%s", sy_itr_id(sy_itr_record(h, "hubspot:72")));
    snprintf(r73, sizeof(r73), "%s", sy_itr_id(sy_itr_record(h, "hubspot:73")));
    if (r72[0] == '\0' || strcmp(r72, r73) == 0)
        fail_msg("hubspot:72 and hubspot:73 must be two records (a weak key never merges): %s, %s", r72, r73);
    json_array_foreach(json_object_get(health, "merge_suggestions"), i, s)
    {
        json_t *recs = json_object_get(s, "records");
        found |= strcmp(json_string_value(json_object_get(s, "key")), "company") == 0 && sy_itr_count_str(recs, r72) == 1 &&
                 sy_itr_count_str(recs, r73) == 1;
    }
    if (!found)
        fail_msg("no company merge suggestion for %s and %s: %s", r72, r73,
                 sy_itr_text(h, json_object_get(health, "merge_suggestions")));

    if (sy_itr_record(h, "hubspot:74") != NULL)
        fail_msg("the \"Test Customer\" contact got a record");
    assert_counter(before, health, "excluded", 1);
    assert_counter(before, health, "records_created", 0);

    /* merge, then split back: the tool ids move and come back */
    sy_itr_cli_ok(h, 0, "records", "merge", r72, r73, NULL);
    rec = sy_itr_record(h, "hubspot:73");
    assert_str("hubspot:73 after the merge", sy_itr_id(rec), r72);
    if (!same(h, json_object_get(json_object_get(rec, "xrefs"), "hubspot"), json_pack("[s, s]", "72", "73")))
        fail_msg("xrefs after the merge: %s", sy_itr_text(h, json_object_get(rec, "xrefs")));
    assert_str("merged id follows", sy_itr_id(sy_itr_record(h, r73)), r72);
    sy_itd_assert_counts(h, "after a merge (the dropped record's pushes fold into the kept one's)");
    assert_int_equal(json_array_size(sy_itr_records(h)), 2);
    out = sy_itr_cli_ok(h, 0, "records", "split", r72, "hubspot:73", NULL);
    rec = sy_itr_record(h, "hubspot:73");
    if (rec == NULL || strcmp(sy_itr_id(rec), r72) == 0)
        fail_msg("hubspot:73 did not leave %s: %s (split said %s)", r72, sy_itr_text(h, rec), out);
    if (!same(h, json_object_get(json_object_get(rec, "xrefs"), "hubspot"), json_pack("[s]", "73")))
        fail_msg("xrefs of the split record: %s", sy_itr_text(h, json_object_get(rec, "xrefs")));
    assert_str("company of the split record", sy_itr_field(rec, "company", "value"), "nova pixel");
    rec = sy_itr_record(h, r72);
    if (!same(h, json_object_get(json_object_get(rec, "xrefs"), "hubspot"), json_pack("[s]", "72")))
        fail_msg("xrefs of %s after the split: %s", r72, sy_itr_text(h, json_object_get(rec, "xrefs")));
    assert_str("company of the kept record", sy_itr_field(rec, "company", "value"), "Nova Pixel Inc.");

    /* two Stripe customers linked to one HubSpot contact; two active subscriptions on one customer */
    sy_itr_stripe(h, "evt_d1", "customer.created", S0 + 10, sy_itr_customer("cus_D1", "d1@dup.test", "Dee One", NULL, "75"));
    sy_itr_stripe(h, "evt_d2", "customer.created", S0 + 11, sy_itr_customer("cus_D2", "d2@dup.test", "Dee Two", NULL, "75"));
    sy_itr_stripe(h, "evt_b1", "customer.subscription.created", S0 + 12,
                  sy_itr_subscription("sub_1", "cus_D1", "active", "price_basic", 4900));
    sy_itr_stripe(h, "evt_b2", "customer.subscription.created", S0 + 13,
                  sy_itr_subscription("sub_2", "cus_D1", "trialing", "price_pro", 9900));
    sy_itr_stripe(h, "evt_b3", "customer.subscription.created", S0 + 14,
                  sy_itr_subscription("sub_3", "cus_S", "active", "price_basic", 4900));
    sy_itr_stripe(h, "evt_b4", "customer.subscription.updated", S0 + 15,
                  sy_itr_subscription("sub_4", "cus_S", "canceled", "price_pro", 9900));
    sy_itr_wait_applied(h);
    health = sy_itr_health(h);
    snprintf(rd, sizeof(rd), "%s", sy_itr_id(sy_itr_record(h, "stripe:cus_D1")));
    assert_str("cus_D2 joins through the link", sy_itr_id(sy_itr_record(h, "stripe:cus_D2")), rd);
    e = entry_for(json_object_get(health, "duplicates"), rd);
    if (e == NULL || json_array_size(json_object_get(health, "duplicates")) != 1 ||
        strcmp(json_string_value(json_object_get(e, "source")), "stripe") != 0 ||
        !same(h, json_object_get(e, "ids"), json_pack("[s, s]", "cus_D1", "cus_D2")))
        fail_msg("health.duplicates: expected %s stripe [cus_D1, cus_D2]: %s", rd,
                 sy_itr_text(h, json_object_get(health, "duplicates")));
    e = entry_for(json_object_get(health, "double_billing"), rd);
    if (e == NULL || json_array_size(json_object_get(health, "double_billing")) != 1 ||
        !same(h, json_object_get(e, "subscriptions"), json_pack("[s, s]", "sub_1", "sub_2")))
        fail_msg("health.double_billing: expected only %s with [sub_1, sub_2] (a canceled subscription does not bill): %s",
                 rd, sy_itr_text(h, json_object_get(health, "double_billing")));
    sy_it_pass(h);
}

/* Scenario 7: a broken policy on disk is refused with its position and the old one keeps running; a fixed one
 * takes over (new hash, stamped on later changes, its rules in effect); SIGHUP reloads too. */
static void test_policy_reload(void **state)
{
    char *example, *broken, *fixed, *third, where[64];
    sy_it_t *h;
    json_t *st, *rec, *push, *q;
    sy_it_response_t res;
    const char *msg, *h1, *h2;
    int line;

    h = start_with_policy(state, NULL, NULL);
    example = sy_itr_example_policy(h);
    st = sy_itr_status(h);
    h1 = json_string_value(json_object_get(json_object_get(st, "policy"), "hash"));
    if (h1 == NULL || h1[0] == '\0')
        fail_msg("status has no policy.hash: %s", sy_itr_text(h, st));
    sy_itr_stripe(h, "evt_r1", "customer.created", S0, sy_itr_customer("cus_R", "rae@old.test", "Rae Moss", NULL, "81"));
    sy_itr_hs_change(h, 8101, 81, HS0 + 1000, "email", "rae@new.test");
    sy_itr_wait_applied(h);
    assert_str("fields.email.policy", sy_itr_field(sy_itr_record(h, "hubspot:81"), "email", "policy"), h1);

    /* broken on disk: 422 with file:line:column, the running policy stays and keeps applying */
    broken = sy_itr_replace(h, example, "on_conflict: ignore", "on_conflict: sometimes");
    line = sy_itr_line_of(broken, "on_conflict: sometimes");
    sy_it_write_file(h, "policy.yaml", broken, strlen(broken));
    sy_itr_admin_post(h, "/admin/api/policy/reload", &res);
    sy_it_assert_error(&res, 422, "policy_invalid");
    msg = json_string_value(json_object_get(res.json, "message"));
    snprintf(where, sizeof(where), "policy.yaml:%d:", line);
    if (msg == NULL || strstr(msg, where) == NULL || strstr(msg, where)[strlen(where)] < '1' ||
        strstr(msg, where)[strlen(where)] > '9')
        fail_msg("422 message should name %sCOLUMN: %s", where, msg != NULL ? msg : "(none)");
    sy_it_response_dispose(&res);
    assert_str("policy.hash after a refused reload",
               json_string_value(json_object_get(json_object_get(sy_itr_status(h), "policy"), "hash")), h1);
    sy_itr_hs_change(h, 8102, 81, HS0 + 2000, "name", "Rae Moss-Hale");
    sy_itr_wait_applied(h);

    /* fixed, with phone now reverted on conflict: new hash, stamped on later changes, and in effect (the CLI
     * reads the policy file too, so records are read once it is valid again) */
    fixed = sy_itr_replace(h, example, "on_conflict: ignore", "on_conflict: revert");
    sy_it_write_file(h, "policy.yaml", fixed, strlen(fixed));
    assert_str("fields.name.policy (the old policy still applied)",
               sy_itr_field(sy_itr_record(h, "hubspot:81"), "name", "policy"), h1);
    sy_itr_admin_post(h, "/admin/api/policy/reload", &res);
    h2 = json_string_value(json_object_get(json_object_get(res.json, "policy"), "hash"));
    if (res.status != 200 || !json_is_true(json_object_get(res.json, "reloaded")) || h2 == NULL || strcmp(h2, h1) == 0) {
        sy_it_dump_response("reload of the fixed policy", &res);
        fail_msg("expected 200 {\"reloaded\":true,\"policy\":{\"hash\":<not %s>}}", h1);
    }
    h2 = sy_it_own(h, strdup(h2), free);
    sy_it_response_dispose(&res);
    assert_str("status policy.hash",
               json_string_value(json_object_get(json_object_get(sy_itr_status(h), "policy"), "hash")), h2);
    sy_itr_hs_change(h, 8103, 81, HS0 + 3000, "phone", "+44 20 7946 0000");
    sy_itr_stripe(h, "evt_r2", "customer.updated", S0 + 10,
                  sy_itr_customer("cus_R", "rae@new.test", "Rae Moss-Hale", "+44 20 7946 0999", "81"));
    sy_itr_wait_applied(h);
    rec = sy_itr_record(h, "hubspot:81");
    assert_str("fields.phone.policy", sy_itr_field(rec, "phone", "policy"), h2);
    assert_str("fields.email.policy (unchanged since)", sy_itr_field(rec, "email", "policy"), h1);
    q = sy_itr_queue(h);
    if (sy_itr_pushes(q, "stripe", sy_itr_id(rec), &push) != 1 ||
        strcmp(json_string_value(json_object_get(json_object_get(push, "fields"), "phone")), "+442079460000") != 0 ||
        sy_itr_count_str(json_object_get(push, "reasons"), "revert") != 1 ||
        strcmp(json_string_value(json_object_get(push, "policy")), h2) != 0)
        fail_msg("expected the phone reverted on stripe under the new policy: %s", sy_itr_text(h, q));

    /* SIGHUP: the file changes again and the signal makes the hub load it */
    third = sy_itr_replace(h, fixed, "entity: customer\n", "entity: customer\n# reloaded by SIGHUP\n");
    sy_it_write_file(h, "policy.yaml", third, strlen(third));
    sy_it_signal(h, SIGHUP);
    for (double deadline = (double)sy_mono_ns() / 1e9 + 20;;) {
        st = sy_itr_status(h);
        const char *now = json_string_value(json_object_get(json_object_get(st, "policy"), "hash"));
        if (now != NULL && strcmp(now, h2) != 0 && strcmp(now, h1) != 0)
            break;
        if ((double)sy_mono_ns() / 1e9 > deadline)
            fail_msg("SIGHUP did not reload the policy within 20 s: %s", sy_itr_text(h, st));
        sy_it_release(h, st);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_owner_echo_conflict_stale, teardown),
        cmocka_unit_test_teardown(test_three_tools_ping_pong, teardown),
        cmocka_unit_test_teardown(test_identity, teardown),
        cmocka_unit_test_teardown(test_policy_reload, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
