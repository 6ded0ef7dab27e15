/* Events → observations under the example policy: mappings, normalisation, links, prefixes, versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe.h"

static sy_policy_t *policy;

static int setup(void **state)
{
    char path[1024];
    sy_error_t err = {0};
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    return sy_policy_load(&policy, path, &err);
}

static int teardown(void **state)
{
    sy_policy_destroy(policy);
    return 0;
}

/* occurred is what ingress read (Stripe created * 1000, HubSpot occurredAt); received a minute after it. */
static sy_event_t event(const char *source, const char *type, const char *body, int64_t occurred)
{
    return (sy_event_t){.seq = 1, .received_at_ms = (occurred != 0 ? occurred : 1700000000000) + 60000, .occurred_at_ms = occurred, .source = sy_slice_cstr(source),
                        .connector = sy_slice_cstr(source), .event_id = SY_SLICE_LIT("e1"), .type = sy_slice_cstr(type),
                        .body = sy_slice_cstr(body)};
}

static const char *value_of(const sy_observation_t *o, const char *field)
{
    size_t fi = sy_policy_field_index(policy, field);
    for (size_t i = 0; i != o->num_fields; ++i)
        if (o->fields[i].field == fi)
            return o->fields[i].value;
    return NULL;
}

static void test_stripe_customer_maps_normalises_and_links(void **state)
{
    sy_event_t ev = event("stripe", "customer.updated",
                          "{\"id\":\"evt_1\",\"created\":1700000000,\"type\":\"customer.updated\",\"data\":{\"object\":"
                          "{\"id\":\"cus_A\",\"email\":\" Ana@Acme.IO \",\"name\":\"  Ana   Silva \",\"phone\":\"+49 (30) "
                          "123-456\",\"metadata\":{\"hubspot_contact_id\":\"51\"}}}}",
                          1700000000000);
    sy_observation_t *obs;
    size_t n;
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(obs[0].external_id, "cus_A");
    assert_int_equal(obs[0].version_ms, 1700000000000); /* Stripe's event `created`, in ms, as ingress read it */
    assert_string_equal(value_of(&obs[0], "email"), "ana@acme.io");
    assert_string_equal(value_of(&obs[0], "name"), "Ana Silva");
    assert_string_equal(value_of(&obs[0], "phone"), "+4930123456");
    assert_null(value_of(&obs[0], "lifecycle_stage")); /* absent in the event: not observed */
    assert_int_equal(obs[0].num_links, 1);
    assert_int_equal(obs[0].links[0].source, sy_policy_source_index(policy, "hubspot"));
    assert_string_equal(obs[0].links[0].id, "51");
    assert_false(obs[0].deleted);
    sy_observations_free(obs, n);
}

static void test_hubspot_property_change_reads_as_properties(void **state)
{
    sy_event_t ev = event("hubspot", "contact.propertyChange",
                          "{\"eventId\":9,\"occurredAt\":1700000000123,\"subscriptionType\":\"contact.propertyChange\","
                          "\"objectId\":51,\"propertyName\":\"lifecyclestage\",\"propertyValue\":\"Customer\"}",
                          1700000000123);
    sy_observation_t *obs;
    size_t n;
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(obs[0].external_id, "51");
    assert_int_equal(obs[0].version_ms, 1700000000123);
    assert_int_equal(obs[0].num_fields, 1);
    assert_string_equal(value_of(&obs[0], "lifecycle_stage"), "customer");
    sy_observations_free(obs, n);
}

static void test_companies_are_prefixed_deletions_flagged_nulls_clear(void **state)
{
    sy_event_t ev = event("hubspot", "company.propertyChange",
                          "{\"eventId\":10,\"occurredAt\":1700000000005,\"subscriptionType\":\"company.propertyChange\","
                          "\"objectId\":51,\"propertyName\":\"name\",\"propertyValue\":\"Nova Pixel Inc.\"}",
                          1700000000005);
    sy_observation_t *obs;
    size_t n;
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(obs[0].external_id, "company-51"); /* never collides with contact 51 */
    assert_string_equal(value_of(&obs[0], "company"), "Nova Pixel Inc.");
    sy_observations_free(obs, n);

    ev = event("stripe", "customer.deleted",
               "{\"id\":\"evt_2\",\"created\":2,\"data\":{\"object\":{\"id\":\"cus_A\",\"email\":null}}}", 0);
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_true(obs[0].deleted);
    assert_string_equal(value_of(&obs[0], "email"), ""); /* null is a clear, not "absent" */
    sy_observations_free(obs, n);
}

static void test_subscriptions_and_unmapped_events(void **state)
{
    sy_event_t ev = event("stripe", "customer.subscription.updated",
                          "{\"id\":\"evt_3\",\"created\":3,\"data\":{\"object\":{\"id\":\"sub_1\",\"customer\":\"cus_A\","
                          "\"status\":\"Active\",\"items\":{\"data\":[{\"price\":{\"id\":\"price_g\",\"unit_amount\":4900}}]}}}}",
                          0);
    sy_observation_t *obs;
    size_t n;
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(obs[0].external_id, "cus_A");
    assert_string_equal(value_of(&obs[0], "subscription_status"), "active");
    assert_string_equal(value_of(&obs[0], "plan"), "price_g");
    assert_string_equal(value_of(&obs[0], "mrr"), "4900");
    assert_string_equal(obs[0].subscription_id, "sub_1");
    assert_string_equal(obs[0].subscription_status, "Active");
    sy_observations_free(obs, n);

    ev = event("stripe", "charge.refunded", "{\"id\":\"evt_4\",\"created\":4,\"data\":{\"object\":{}}}", 0);
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 0); /* not mapped by the policy */
    ev = event("intercom", "conversation.user.created", "{}", 0);
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 0); /* source not in the policy */
    ev = event("stripe", "customer.updated", "{\"id\":\"evt_5\",\"created\":5,\"data\":{\"object\":{\"email\":\"x@y.z\"}}}", 0);
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
    assert_int_equal(n, 0); /* no object id: nothing to attach the values to */
}

/* Events a log may hold from before ingress checked them: refused with the reason, never guessed at. */
static void test_unusable_events_say_why(void **state)
{
    sy_observation_t *obs = NULL;
    size_t n = 0;
    const char *why = NULL;
    const char *body = "{\"id\":\"evt_6\",\"created\":1700000000,\"type\":\"customer.updated\",\"data\":{\"object\":"
                       "{\"id\":\"cus_A\",\"email\":\"a@b.c\"}}}";
    sy_event_t ev = event("stripe", "customer.updated", body, 1700000000000);
    ev.occurred_at_ms = ev.received_at_ms + 3600001; /* more than an hour ahead of its receipt */
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, &why), SY_EPARSE);
    assert_true(obs == NULL && n == 0 && why != NULL && strstr(why, "outside the accepted window") != NULL);
    ev.occurred_at_ms = ev.received_at_ms + 3600000; /* the edge of the window is inside it */
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, &why), 0);
    sy_observations_free(obs, n);

    ev = event("stripe", "customer.updated",
               "{\"id\":\"evt_7\",\"created\":1700000000,\"created\":150000333333330000,\"type\":\"customer.updated\","
               "\"data\":{\"object\":{\"id\":\"cus_A\",\"email\":\"a@b.c\"}}}",
               1700000000000);
    why = NULL;
    assert_int_equal(sy_observe(policy, &ev, &obs, &n, &why), SY_EPARSE);
    assert_true(obs == NULL && n == 0 && why != NULL && strstr(why, "duplicate keys") != NULL);
}

/* Everything an observation holds, as text, for comparing two readings. */
static void describe(const sy_observation_t *obs, size_t n, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i != n; ++i) {
        const sy_observation_t *o = &obs[i];
        used += (size_t)snprintf(out + used, len - used, "[%zu %s %lld %d sub=%s/%s key=%s", o->source, o->external_id,
                                 (long long)o->version_ms, o->deleted, o->subscription_id ? o->subscription_id : "-",
                                 o->subscription_status ? o->subscription_status : "-", o->write_key ? o->write_key : "-");
        for (size_t k = 0; k != o->num_fields && used < len; ++k)
            used += (size_t)snprintf(out + used, len - used, " f%zu=<%s>", o->fields[k].field, o->fields[k].value);
        for (size_t k = 0; k != o->num_links && used < len; ++k)
            used += (size_t)snprintf(out + used, len - used, " l%zu=<%s>", o->links[k].source, o->links[k].id);
        if (used < len)
            used += (size_t)snprintf(out + used, len - used, "]");
        assert_true(used < len);
    }
}

/*
 * The applier reads a body's tokens (hub/base/json.h) and, for one its tokenizer does not take (deeper than ingress
 * allows: an old log), builds a jansson tree as before. Both readings give the same observations: each body below
 * is read once with a shallow extra member (tokens) and once with one nested 80 deep (jansson).
 */
static void test_tokens_and_jansson_read_alike(void **state)
{
    static const struct {
        const char *source, *type, *body;
    } cases[] = {
        {"stripe", "customer.updated",
         "\"id\":\"evt_1\",\"data\":{\"object\":{\"id\":\"cus_\\u00e9\\n\\\"x\\/\",\"email\":\" Ana@Example.COM \","
         "\"name\":\"\\ud83d\\ude00 Ana\",\"phone\":null,\"metadata\":{\"hubspot_contact_id\":51,\"lifecycle_stage\":true}}},"
         "\"request\":{\"id\":\"req_1\",\"idempotency_key\":\"sy-abc-\\u0031-0\"}}"},
        {"stripe", "customer.created",
         "\"data\":{\"object\":{\"id\":\"cus_2\",\"email\":false,\"name\":-0,\"phone\":1.5e3,"
         "\"metadata\":{\"hubspot_contact_id\":\"\",\"lifecycle_stage\":-2.5E-3}}},\"request\":{\"idempotency_key\":7}}"},
        {"stripe", "customer.subscription.updated",
         "\"data\":{\"object\":{\"id\":\"sub_\\u0041\",\"customer\":\"cus_3\",\"status\":\"Active\",\"items\":{\"data\":"
         "[{\"price\":{\"id\":\"price_9\",\"unit_amount\":9223372036854775807}},{\"price\":{\"id\":\"p2\"}}]}}}}"},
        {"stripe", "customer.subscription.deleted",
         "\"data\":{\"object\":{\"id\":\"sub_4\",\"customer\":\"cus_4\",\"status\":\"active\",\"items\":{\"data\":[]}}}}"},
        {"stripe", "customer.subscription.created",
         "\"data\":{\"object\":{\"id\":0.1,\"customer\":\"cus_5\",\"status\":null,\"items\":{\"data\":{\"0\":1}}}}}"},
        {"stripe", "invoice.paid",
         "\"data\":{\"object\":{\"customer\":\"cus_6\",\"status\":\"PAID\",\"customer_email\":[\"x\"]}}}"},
        {"hubspot", "contact.propertyChange",
         "\"objectId\":51,\"propertyName\":\"em\\u0061il\",\"propertyValue\":\"Bo@Example.com\"}"},
        {"hubspot", "contact.propertyChange", "\"objectId\":52,\"propertyName\":\"phone\"}"},
        {"hubspot", "contact.propertyChange", "\"objectId\":53,\"propertyName\":\"name\",\"propertyValue\":{\"a\":1}}"},
        {"hubspot", "contact.propertyChange",
         "\"objectId\":\"54\",\"propertyName\":\"name\",\"propertyValue\":\"Not me\",\"properties\":{\"name\":\"Me\","
         "\"email\":\"me@x.io\"}}"},
        {"hubspot", "contact.creation", "\"objectId\":55,\"properties\":{\"company\":\"  Nova Pixel Inc. \",\"mrr\":12.0}}"},
        {"hubspot", "company.propertyChange", "\"objectId\":56,\"propertyName\":7,\"propertyValue\":\"x\"}"},
        {"hubspot", "contact.deletion", "\"objectId\":57}"},
        {"hubspot", "contact.propertyChange", "\"objectId\":[1],\"propertyName\":\"email\",\"propertyValue\":\"a@b.c\"}"},
    };
    char shallow[2048], deep[2048], a[4096], b[4096];
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        char nest[200] = "", close[200] = "";
        for (int d = 0; d != 80; ++d) {
            strcat(nest, "[");
            strcat(close, "]");
        }
        snprintf(shallow, sizeof(shallow), "{\"zz\":[[0]],%s", cases[i].body);
        snprintf(deep, sizeof(deep), "{\"zz\":%s0%s,%s", nest, close, cases[i].body);
        sy_observation_t *obs;
        size_t n;
        sy_event_t ev = event(cases[i].source, cases[i].type, shallow, 1700000000000);
        assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
        describe(obs, n, a, sizeof(a));
        sy_observations_free(obs, n);
        ev = event(cases[i].source, cases[i].type, deep, 1700000000000);
        assert_int_equal(sy_observe(policy, &ev, &obs, &n, NULL), 0);
        describe(obs, n, b, sizeof(b));
        sy_observations_free(obs, n);
        assert_string_equal(a, b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_customer_maps_normalises_and_links),
        cmocka_unit_test(test_hubspot_property_change_reads_as_properties),
        cmocka_unit_test(test_companies_are_prefixed_deletions_flagged_nulls_clear),
        cmocka_unit_test(test_subscriptions_and_unmapped_events),
        cmocka_unit_test(test_unusable_events_say_why),
        cmocka_unit_test(test_tokens_and_jansson_read_alike),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
