/*
 * Healing gaps with `switchyard reconcile`: a hub that was down longer than Stripe retries (its webhooks lost) is
 * healed from Stripe's event listing (the fake Stripe's GET /v1/events) to the same golden records as a hub that
 * received every webhook. Both the direct run (no hub: appended under the data-dir lock, applied when serve starts)
 * and the job of a running hub (POST /admin/api/reconcile) are exercised, and a dry run appends nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "harness_delivery.h"
#include "harness_records.h"

#define CUSTOMERS 30

static const char policy_yaml[] =
    "entity: customer\n"
    "fields:\n"
    "  email: {owner: stripe, normalize: [email]}\n"
    "  name: {owner: stripe}\n"
    "  subscription_status: {owner: stripe}\n"
    "  plan: {owner: stripe}\n"
    "  payment_state: {owner: stripe}\n"
    "identity:\n"
    "  strong: [email]\n"
    "sources:\n"
    "  stripe:\n"
    "    objects:\n"
    "      - events: [customer.created, customer.updated]\n"
    "        id: data.object.id\n"
    "        fields: {email: data.object.email, name: data.object.name}\n"
    "      - events: [\"customer.subscription.*\"]\n"
    "        id: data.object.customer\n"
    "        fields: {subscription_status: data.object.status, plan: data.object.items.data.0.price.id}\n"
    "      - events: [\"invoice.*\"]\n"
    "        id: data.object.customer\n"
    "        fields: {payment_state: data.object.status}\n";

typedef struct st_pair_t {
    sy_it_t *reference; /* got every webhook */
    sy_it_t *healed;    /* lost half of them, then reconciled */
} pair_t;

static int setup(void **state)
{
    *state = calloc(1, sizeof(pair_t));
    return *state == NULL;
}

static int teardown(void **state)
{
    pair_t *p = *state;
    sy_it_destroy(p->healed);
    sy_it_destroy(p->reference);
    free(p);
    return 0;
}

/*
 * What the hub is told over two hours of a day: per customer a creation, a change of name, a subscription and a
 * paid invoice, all in the past (as a listing after an outage is). Same-second events are there too: the order
 * they are logged in decides between them, so the healed log must keep Stripe's order.
 */
static json_t *history(int64_t now_s)
{
    json_t *events = json_array();
    int64_t t = now_s - 2 * 3600;
    for (int i = 0; i != CUSTOMERS; ++i) {
        char cus[32], id[48], email[64], sub[32], in[32];
        snprintf(cus, sizeof(cus), "cus_heal%03d", i);
        snprintf(email, sizeof(email), "heal%03d@acme.example", i);
        snprintf(sub, sizeof(sub), "sub_heal%03d", i);
        snprintf(in, sizeof(in), "in_heal%03d", i);
        snprintf(id, sizeof(id), "evt_heal%03d_a", i);
        json_array_append_new(events, sy_itd_stripe_event(id, "customer.created", t,
                                                          sy_itr_customer(cus, email, "Acme", NULL, NULL)));
        snprintf(id, sizeof(id), "evt_heal%03d_b", i);
        /* the same second as the creation: which name wins depends on the log's order */
        json_array_append_new(events, sy_itd_stripe_event(id, "customer.updated", t,
                                                          sy_itr_customer(cus, email, "Acme Corp", NULL, NULL)));
        snprintf(id, sizeof(id), "evt_heal%03d_c", i);
        json_array_append_new(events, sy_itd_stripe_event(id, "customer.subscription.updated", t + 60,
                                                          sy_itr_subscription(sub, cus, i % 3 ? "active" : "past_due",
                                                                              "price_growth", 4900)));
        snprintf(id, sizeof(id), "evt_heal%03d_d", i);
        json_array_append_new(events, sy_itd_stripe_event(id, "invoice.paid", t + 120,
                                                          sy_itr_invoice(in, cus, "paid", email)));
        t += 180;
    }
    return events;
}

static json_t *slice(json_t *events, size_t from, size_t to)
{
    json_t *part = json_array();
    for (size_t i = from; i != to; ++i)
        json_array_append(part, json_array_get(events, i));
    return part;
}

/* The records as values a user sees: per record id, each field's value, source and version, and the xrefs. */
static json_t *golden(sy_it_t *h)
{
    json_t *out = json_object(), *rec;
    size_t i;
    json_array_foreach(sy_itr_records(h), i, rec)
    {
        json_t *fields = json_object(), *f;
        const char *name;
        json_object_foreach(json_object_get(rec, "fields"), name, f)
            json_object_set_new(fields, name, json_pack("{s:O, s:O, s:O}", "value", json_object_get(f, "value"),
                                                        "source", json_object_get(f, "source"), "version_ms",
                                                        json_object_get(f, "version_ms")));
        json_object_set_new(out, sy_itr_id(rec),
                            json_pack("{s:o, s:O}", "fields", fields, "xrefs", json_object_get(rec, "xrefs")));
    }
    return sy_it_own_json(h, out);
}

static sy_it_t *start_hub(void **slot, sy_itd_fake_t **fake, const char *policy_path)
{
    sy_it_t *h = sy_it_create(slot, NULL);
    *fake = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", *fake, NULL);
    sy_itr_set_policy(h, policy_path != NULL ? policy_path
                                             : sy_it_write_file(h, "policy.yaml", policy_yaml, strlen(policy_yaml)));
    sy_it_start(h);
    return h;
}

static json_t *reconcile_source(sy_it_t *h, const char *source, const char *since, int dry_run)
{
    return sy_it_cli_json(h, "reconcile", source, "--since", since, "--json", dry_run ? "--dry-run" : NULL, NULL);
}

static json_t *reconcile(sy_it_t *h, const char *since, int dry_run)
{
    return reconcile_source(h, "stripe", since, dry_run);
}

static void test_outage_heals_to_the_same_records(void **state)
{
    pair_t *p = *state;
    int64_t now_s = sy_now_ms() / 1000;
    char since[32];
    sy_itd_fake_t *fake_ref, *fake;
    json_t *events = history(now_s);
    size_t total = json_array_size(events), half = total / 2;
    time_t since_t = (time_t)(now_s - 3 * 3600);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&since_t));

    /* The reference: every webhook, in order, one connection. */
    sy_it_t *ref = start_hub((void **)&p->reference, &fake_ref, NULL);
    sy_it_own_json(ref, events);
    sy_itd_post_stripe_many(ref, json_incref(events), 1);
    sy_itr_wait_applied(ref);
    json_t *want = golden(ref);
    assert_int_equal(json_object_size(want), CUSTOMERS);

    /* The healed hub: the first half arrives, then the hub is down while the rest is sent and retried in vain. */
    sy_it_t *h = start_hub((void **)&p->healed, &fake, NULL);
    sy_itd_fake_call(fake, "POST", "/_fake/events", json_pack("{s:O}", "events", events));
    sy_itd_post_stripe_many(h, slice(events, 0, half), 1);
    sy_itr_wait_applied(h);
    assert_int_equal(sy_it_stop(h), 0);
    assert_int_equal(sy_it_log_count(h), (json_int_t)half);

    /* A dry run (no hub: directly on the data dir) says what is missing and appends nothing. */
    json_t *dry = reconcile(h, since, 1);
    assert_int_equal(json_integer_value(json_object_get(dry, "listed")), (json_int_t)total);
    assert_int_equal(json_integer_value(json_object_get(dry, "in_log")), (json_int_t)half);
    assert_int_equal(json_integer_value(json_object_get(dry, "missing")), (json_int_t)(total - half));
    assert_int_equal(json_integer_value(json_object_get(dry, "appended")), 0);
    assert_true(json_is_null(json_object_get(dry, "error")));
    assert_int_equal(sy_it_log_count(h), (json_int_t)half);

    /* The real run, still without a hub: appended, oldest first, marked as reconciled. */
    json_t *run = reconcile(h, since, 0);
    assert_int_equal(json_integer_value(json_object_get(run, "appended")), (json_int_t)(total - half));
    assert_int_equal(sy_it_log_count(h), (json_int_t)total);
    json_t *first = sy_it_log_show(h, (json_int_t)half + 1);
    assert_string_equal(json_string_value(json_object_get(first, "event_id")),
                        json_string_value(json_object_get(json_array_get(events, half), "id")));
    assert_string_equal(json_string_value(json_object_get(first, "signature")), "reconciled");

    /* serve applies them from its cursor: the same records as the hub that never missed a webhook. */
    sy_it_start(h);
    sy_itr_wait_applied(h);
    json_t *got = golden(h);
    if (!json_equal(got, want))
        fail_msg("healed records differ:\n%s\nwant:\n%s", sy_itr_text(h, got), sy_itr_text(h, want));

    /* Again, now as a job of the running hub: nothing is missing any more, nothing is appended twice. */
    json_t *again = reconcile(h, since, 0);
    assert_int_equal(json_integer_value(json_object_get(again, "missing")), 0);
    assert_int_equal(json_integer_value(json_object_get(again, "in_log")), (json_int_t)total);
    assert_int_equal(sy_it_log_count(h), (json_int_t)total);

    /* A later gap while the hub runs: the job appends through the writer and the applier heals at once. */
    int64_t later = now_s - 600;
    json_t *late = json_pack("[o]", sy_itd_stripe_event("evt_heal_late", "customer.updated", later,
                                                         sy_itr_customer("cus_heal000", "heal000@acme.example",
                                                                         "Acme Holding", NULL, NULL)));
    sy_itd_fake_call(fake, "POST", "/_fake/events", json_pack("{s:o}", "events", late));
    json_t *live = reconcile(h, since, 0);
    assert_int_equal(json_integer_value(json_object_get(live, "appended")), 1);
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "stripe:cus_heal000");
    assert_string_equal(sy_itr_field(rec, "name", "value"), "Acme Holding");
    sy_it_pass(ref);
    sy_it_pass(h);
}

static int logged_three(sy_it_t *h, void *arg)
{
    return sy_it_log_count(h) >= 3;
}

/*
 * A tool back after an outage: its delivery breaker opened (five failed pushes in a row), then a probe succeeded.
 * With reconcile.after_outage shorter than that outage, serve reconciles the tool from before the outage on its
 * own, and the event the tool lists but the hub never got is appended.
 */
static void test_back_after_an_outage(void **state)
{
    pair_t *p = *state;
    sy_it_t *h = sy_it_create((void **)&p->healed, NULL);
    sy_itd_fake_t *fake = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    int64_t now_s = sy_now_ms() / 1000;
    sy_itd_set_api(h, "stripe", fake, NULL);
    char *conf = sy_it_slurp(h->config_path, NULL);
    assert_non_null(conf);
    const char *text = sy_itr_replace(h, conf, "    api: {base_url", "    reconcile: {after_outage: 1ms}\n    api: {base_url");
    free(conf);
    sy_it_write_file(h, "switchyard.yaml", text, strlen(text));
    sy_itd_use_example_policy(h);
    sy_itd_fake_seed(fake, json_pack("{s:{s:s, s:s, s:{s:s}}}", "cus_out", "email", "out@acme.example", "name", "Out",
                                     "metadata", "hubspot_contact_id", "77"));
    /* What Stripe sent while the hub could not be reached (and gave up on): only the listing has it. */
    json_t *gap = sy_itd_stripe_event("evt_gap", "customer.updated", now_s - 60,
                                      sy_itr_customer("cus_out", "out@acme.example", "Out", NULL, "77"));
    sy_itd_fake_call(fake, "POST", "/_fake/events", json_pack("{s:[o]}", "events", gap));
    sy_it_start(h);
    sy_itr_stripe(h, "evt_out_1", "customer.created", now_s - 120,
                  sy_itr_customer("cus_out", "out@acme.example", "Out", NULL, "77"));
    /* Stripe is down for the next five pushes: the breaker opens; the probe after it finds Stripe back. */
    sy_itd_fake_mode(fake, "error500", 0, 0, 5);
    sy_itr_hs_change(h, 9001, 77, sy_now_ms(), "name", "Outage Corp");
    sy_itd_wait(h, 120, "the reconcile after the outage to append the missed event", logged_three, NULL);
    json_t *ev = sy_it_log_show(h, 3);
    assert_string_equal(json_string_value(json_object_get(ev, "event_id")), "evt_gap");
    assert_string_equal(json_string_value(json_object_get(ev, "signature")), "reconciled");
    sy_it_pass(h);
}

/*
 * HubSpot lists objects, not events: reconcile reads the contacts changed since the time (CRM search) and logs each
 * property as a property change at the contact's last change, which the example policy maps like a webhook's.
 */
static void test_hubspot_contacts_heal(void **state)
{
    pair_t *p = *state;
    sy_it_t *h = sy_it_create((void **)&p->healed, NULL);
    sy_itd_fake_t *fake = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    sy_itd_set_api(h, "hubspot", fake, NULL);
    sy_itd_use_example_policy(h);
    /* 150 contacts: two search pages */
    json_t *contacts = json_object();
    for (int i = 0; i != 150; ++i) {
        char id[16], email[64];
        snprintf(id, sizeof(id), "%d", 1000 + i);
        snprintf(email, sizeof(email), "lost%03d@acme.example", i);
        json_object_set_new(contacts, id, json_pack("{s:s, s:s, s:s}", "email", email, "company", "Acme", "lifecyclestage",
                                                    i % 2 ? "customer" : "lead"));
    }
    sy_itd_fake_seed(fake, contacts);
    sy_it_start(h);
    json_t *dry = reconcile_source(h, "hubspot", "2026-01-01", 1);
    assert_int_equal(json_integer_value(json_object_get(dry, "pages")), 2);
    assert_int_equal(json_integer_value(json_object_get(dry, "missing")), 150 * 3);
    assert_int_equal(sy_it_log_count(h), 0);
    json_t *run = reconcile_source(h, "hubspot", "2026-01-01", 0);
    assert_int_equal(json_integer_value(json_object_get(run, "appended")), 150 * 3);
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "hubspot:1007");
    assert_string_equal(sy_itr_field(rec, "email", "value"), "lost007@acme.example");
    assert_string_equal(sy_itr_field(rec, "lifecycle_stage", "value"), "customer");
    json_t *ev = sy_it_log_show(h, 1);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "contact.propertyChange");
    assert_string_equal(json_string_value(json_object_get(ev, "signature")), "reconciled");
    /* Nothing changed since: the same listing, nothing missing. */
    json_t *again = reconcile_source(h, "hubspot", "2026-01-01", 0);
    assert_int_equal(json_integer_value(json_object_get(again, "missing")), 0);
    assert_int_equal(sy_it_log_count(h), 150 * 3);
    sy_it_pass(h);
}

/* What a user gets wrong is said, and nothing runs. */
static void test_refusals(void **state)
{
    pair_t *p = *state;
    sy_itd_fake_t *fake;
    sy_it_output_t o;
    sy_it_t *h = start_hub((void **)&p->healed, &fake, NULL);
    sy_it_cli(h, &o, "reconcile", "hubspot", NULL); /* it can list its contacts, but has no api configured here */
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "has no api"));
    sy_it_output_dispose(&o);
    sy_it_cli(h, &o, "reconcile", "nosuch", NULL);
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "no source \"nosuch\""));
    sy_it_output_dispose(&o);
    sy_it_cli(h, &o, "reconcile", "stripe", "--since", "yesterday", NULL);
    assert_int_equal(o.status, 2);
    sy_it_output_dispose(&o);
    /* The tool refuses the listing (400): a failure that says so, nothing appended. */
    sy_itd_fake_mode(fake, "error400", 0, 0, 0);
    sy_it_cli(h, &o, "reconcile", "stripe", NULL);
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "answered HTTP 400"));
    sy_it_output_dispose(&o);
    assert_int_equal(sy_it_log_count(h), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outage_heals_to_the_same_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_after_an_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hubspot_contacts_heal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
