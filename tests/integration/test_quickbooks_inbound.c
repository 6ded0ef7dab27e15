/*
 * QuickBooks Online webhooks on the real binary, under the example policy with a quickbooks source added (the
 * snippet the connector's report proposes): both body shapes are stored one event per entity / CloudEvent, the
 * legacy shape under its composed id realm:entity:id:operation:lastUpdated with a self-contained body (its realm
 * added), Intuit's redeliveries are duplicates, a tampered body or another token is refused and stores nothing, and
 * `switchyard trigger` sends samples the hub accepts.
 */
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "connector.h"

#define QB_TOKEN "qbo-verifier-token-it"

static const char qb_source[] = "  quickbooks:\n"
                                "    connector: quickbooks\n"
                                "    secrets: [{value: " QB_TOKEN "}]\n";

/* The policy section of the report: customers read from fetched QuickBooks objects, names pushed back. */
static const char qb_policy[] = "\n"
                                "  quickbooks:\n"
                                "    rate: 500/1m\n"
                                "    create: never\n"
                                "    objects:\n"
                                "      - events: [Customer.Fetched]\n"
                                "        id: id\n"
                                "        fields:\n"
                                "          email: object.PrimaryEmailAddr.Address\n"
                                "          name: object.DisplayName\n"
                                "          phone: object.PrimaryPhone.FreeFormNumber\n"
                                "          company: object.CompanyName\n"
                                "    push_as:\n"
                                "      name: DisplayName\n"
                                "      phone: PrimaryPhone.FreeFormNumber\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void post_qb(sy_it_t *h, const char *secret, const char *body, sy_it_response_t *res)
{
    const sy_connector_t *qb = sy_connector_find("quickbooks");
    sy_source_verify_t conf = {.num_secrets = 1};
    conf.secrets[0] = sy_slice_cstr(secret);
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body)};
    sy_header_t out[1];
    size_t n = 1;
    char buf[128], value[100];
    assert_int_equal(qb->sign(&conf, conf.secrets[0], &req, out, &n, buf, sizeof(buf)), 0);
    snprintf(value, sizeof(value), "%.*s", (int)out[0].value.len, out[0].value.base);
    sy_it_headers_t hd = {0};
    sy_it_headers_add(&hd, "intuit-signature", value);
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    sy_it_post(h, "/hooks/quickbooks", &hd, body, strlen(body), res);
    sy_it_headers_dispose(&hd);
}

/* The answer lists ids in order, each duplicate or not as dup says; returns the seq of entry i. */
static json_int_t assert_answer(const sy_it_response_t *res, const char *const *ids, size_t n, int dup, size_t want_seq_of)
{
    json_t *events = json_object_get(res->json, "events");
    if (res->status != 200 || json_array_size(events) != n) {
        sy_it_dump_response("quickbooks answer", res);
        fail_msg("expected 200 with %zu events", n);
    }
    for (size_t i = 0; i != n; ++i) {
        json_t *e = json_array_get(events, i);
        if (strcmp(json_string_value(json_object_get(e, "id")), ids[i]) != 0 ||
            json_is_true(json_object_get(e, "duplicate")) != dup) {
            sy_it_dump_response("quickbooks entry", res);
            fail_msg("events[%zu]: expected id %s, duplicate %d", i, ids[i], dup);
        }
    }
    return json_integer_value(json_object_get(json_array_get(events, want_seq_of), "seq"));
}

static void test_quickbooks_inbound(void **state)
{
    sy_it_options_t opts = {.extra_sources = qb_source};
    sy_it_t *h = sy_it_create(state, &opts);
    char *policy = sy_itr_example_policy(h);
    policy = sy_itr_replace(h, policy, "    push: [stripe]\n    normalize: [trim]", "    push: [stripe, quickbooks]\n"
                                                                                   "    normalize: [trim]");
    policy = sy_itr_replace(h, policy, "    push: [stripe]\n    normalize: [phone_e164]",
                            "    push: [stripe, quickbooks]\n    normalize: [phone_e164]");
    size_t len = strlen(policy) + sizeof(qb_policy);
    char *full = sy_it_alloc(h, len);
    snprintf(full, len, "%s%s", policy, qb_policy);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", full, strlen(full)));
    sy_it_start(h);
    json_int_t before = sy_it_log_count(h);

    static const char legacy[] =
        "{\"eventNotifications\":[{\"realmId\":\"9341455251541838\",\"dataChangeEvent\":{\"entities\":["
        "{\"name\":\"Customer\",\"id\":\"58\",\"operation\":\"Update\",\"lastUpdated\":\"2026-01-15T07:45:10-0800\"},"
        "{\"name\":\"Invoice\",\"id\":\"130\",\"operation\":\"Create\",\"lastUpdated\":\"2026-01-15T15:45:20.250Z\"}]}},"
        "{\"realmId\":\"123146096291789\",\"dataChangeEvent\":{\"entities\":[{\"name\":\"Customer\",\"id\":\"58\","
        "\"operation\":\"Update\",\"lastUpdated\":\"2026-01-15T15:45:10Z\"}]}}]}";
    static const char *const legacy_ids[] = {"9341455251541838:Customer:58:Update:2026-01-15T07:45:10-0800",
                                             "9341455251541838:Invoice:130:Create:2026-01-15T15:45:20.250Z",
                                             "123146096291789:Customer:58:Update:2026-01-15T15:45:10Z"};
    sy_it_response_t res;
    post_qb(h, QB_TOKEN, legacy, &res);
    json_int_t seq = assert_answer(&res, legacy_ids, 3, 0, 2);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), before + 3);

    /* The stored event of the second realm's customer is self-contained: the same Id in another company. */
    json_t *shown = sy_it_log_show(h, seq);
    assert_string_equal(json_string_value(json_object_get(shown, "type")), "Customer.Update");
    assert_string_equal(json_string_value(json_object_get(shown, "event_id")), legacy_ids[2]);
    assert_int_equal(json_integer_value(json_object_get(shown, "occurred_at_ms")), 1768491910000LL);
    json_t *body = json_object_get(shown, "body");
    assert_string_equal(json_string_value(json_object_get(body, "realmId")), "123146096291789");
    assert_string_equal(json_string_value(json_object_get(body, "id")), "58");

    /* Intuit redelivers until it gets a 200 in time: the same notification stores nothing new. */
    post_qb(h, QB_TOKEN, legacy, &res);
    assert_answer(&res, legacy_ids, 3, 1, 0);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), before + 3);

    static const char ce[] =
        "[{\"specversion\":\"1.0\",\"id\":\"88cd52a5-3e5f-4c1e-9a1f-2b9f0d6e7a01\",\"source\":\"intuit.x\","
        "\"type\":\"qbo.customer.updated.v1\",\"datacontenttype\":\"application/json\",\"time\":"
        "\"2026-01-15T15:46:31.081Z\",\"intuitentityid\":\"58\",\"intuitaccountid\":\"9341455251541838\",\"data\":{}},"
        "{\"specversion\":\"1.0\",\"id\":\"0b9d2c47-7d7a-4f55-8f0e-5c3a1e2d9b02\",\"source\":\"intuit.x\","
        "\"type\":\"qbo.invoice.created.v1\",\"time\":\"2026-01-15T15:46:35Z\",\"intuitentityid\":\"131\","
        "\"intuitaccountid\":\"123146096291789\",\"data\":{}}]";
    static const char *const ce_ids[] = {"88cd52a5-3e5f-4c1e-9a1f-2b9f0d6e7a01", "0b9d2c47-7d7a-4f55-8f0e-5c3a1e2d9b02"};
    post_qb(h, QB_TOKEN, ce, &res);
    assert_answer(&res, ce_ids, 2, 0, 0);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), before + 5);

    /* Signed with another token (the OAuth secret, a common mistake): 401, nothing stored. */
    post_qb(h, "oauth-client-secret", ce, &res);
    assert_int_equal(res.status, 401);
    assert_string_equal(json_string_value(json_object_get(res.json, "check")), "mismatch");
    sy_it_response_dispose(&res);
    /* Correctly signed, but an entity without lastUpdated: 400, nothing stored (not even the good entity). */
    static const char half[] = "{\"eventNotifications\":[{\"realmId\":\"1\",\"dataChangeEvent\":{\"entities\":["
                               "{\"name\":\"Customer\",\"id\":\"1\",\"operation\":\"Create\",\"lastUpdated\":"
                               "\"2026-01-15T15:45:10Z\"},{\"name\":\"Customer\",\"id\":\"2\",\"operation\":\"Create\"}]}}]}";
    post_qb(h, QB_TOKEN, half, &res);
    assert_int_equal(res.status, 400);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), before + 5);

    /* switchyard trigger: a signed sample of each shape is accepted. */
    sy_it_output_t o;
    sy_it_cli(h, &o, "trigger", "quickbooks", "Customer.Update", NULL);
    if (o.status != 0)
        fail_msg("trigger Customer.Update: %s", o.err);
    sy_it_output_dispose(&o);
    sy_it_cli(h, &o, "trigger", "quickbooks", "qbo.invoice.created.v1", NULL);
    if (o.status != 0)
        fail_msg("trigger qbo.invoice.created.v1: %s", o.err);
    sy_it_output_dispose(&o);
    assert_int_equal(sy_it_log_count(h), before + 7);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_quickbooks_inbound, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
