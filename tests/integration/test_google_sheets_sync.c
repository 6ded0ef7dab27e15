/*
 * Google Sheets end to end, with the policy and config snippets of the connector's report: a row edit posted as
 * the shipped Apps Script posts it (Standard Webhooks) links the row to its Stripe customer through the record-id
 * column; a Stripe subscription change then reaches the sheet as one values:batchUpdate of that row's plan and mrr
 * cells on the fake Sheets API (tests/fakes/fake_sheets.c), and the id column is left as it was. A 429 from the
 * fake is retried after its Retry-After and the cells are still written once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"
#include "harness.h"
#include "harness_delivery.h"
#include "harness_records.h"

#define SHEETS_SECRET "whsec_c2hlZXRzLXNjcmlwdC1zZWNyZXQtMDEyMw=="
#define SPREADSHEET "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"

static const char extra[] = "  sheets:\n"
                            "    connector: google_sheets\n"
                            "    secrets: [{value: \"" SHEETS_SECRET "\"}]\n"
                            "    spreadsheet_id: " SPREADSHEET "\n"
                            "    sheet: Customers\n"
                            "    id_column: record_id\n"
                            "    columns: \"record_id,email,account_manager,plan,mrr\"\n";

/* The source section of the report's policy snippet, appended to the example policy's sources. */
static const char policy_sheets[] = "  sheets:\n"
                                    "    rate: 60/60s\n"
                                    "    create: never\n"
                                    "    objects:\n"
                                    "      - events: [row.updated]\n"
                                    "        id: data.row\n"
                                    "        fields:\n"
                                    "          account_manager: data.values.account_manager\n"
                                    "        links:\n"
                                    "          stripe: data.values.record_id\n"
                                    "    push_as:\n"
                                    "      plan: plan\n"
                                    "      mrr: mrr\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void use_policy(sy_it_t *h)
{
    char *text = sy_itr_example_policy(h);
    text = sy_itr_replace(h, text, "  plan:\n    owner: stripe\n    push: [hubspot]",
                          "  plan:\n    owner: stripe\n    push: [hubspot, sheets]");
    text = sy_itr_replace(h, text, "  mrr:\n    owner: stripe\n    push: [hubspot]",
                          "  mrr:\n    owner: stripe\n    push: [hubspot, sheets]");
    text = sy_itr_replace(h, text, "# Identity:", "  account_manager:\n    owner: sheets\n\n# Identity:");
    size_t len = strlen(text) + sizeof(policy_sheets);
    char *full = sy_it_alloc(h, len);
    snprintf(full, len, "%s%s", text, policy_sheets);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", full, strlen(full)));
}

static void post_row(sy_it_t *h, int row, const char *record_id)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"type\":\"row.updated\",\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"data\":{\"spreadsheet_id\":\"" SPREADSHEET
             "\",\"sheet\":\"Customers\",\"row\":%d,\"values\":{\"record_id\":\"%s\",\"email\":\"ana@acme.example\","
             "\"account_manager\":\"Bo\",\"plan\":\"\",\"mrr\":\"\"}}}",
             row, record_id);
    const sy_connector_t *c = sy_connector_find("google_sheets");
    sy_source_verify_t conf = {.num_secrets = 1, .tolerance_ms = -1};
    conf.secrets[0] = SY_SLICE_LIT(SHEETS_SECRET);
    sy_header_t out[4];
    size_t n = 4;
    char buf[512], name[64], value[128];
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body), .now_ms = sy_now_ms()};
    assert_int_equal(c->sign(&conf, conf.secrets[0], &req, out, &n, buf, sizeof(buf)), 0);
    sy_it_headers_t hd = {0};
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    for (size_t i = 0; i != n; ++i) {
        snprintf(name, sizeof(name), "%.*s", (int)out[i].name.len, out[i].name.base);
        snprintf(value, sizeof(value), "%.*s", (int)out[i].value.len, out[i].value.base);
        sy_it_headers_add(&hd, name, value);
    }
    sy_it_response_t res;
    sy_it_post(h, "/hooks/sheets", &hd, body, strlen(body), &res);
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&hd);
}

static void post_subscription(sy_it_t *h, const char *evt, const char *cus, const char *price, int amount)
{
    json_t *sub = json_pack("{s:s, s:s, s:s, s:s, s:{s:[{s:{s:s, s:i}}]}}", "id", "sub_Sheets01", "object",
                            "subscription", "customer", cus, "status", "active", "items", "data", "price", "id", price,
                            "unit_amount", amount);
    sy_itd_post_stripe_many(h, json_pack("[o]", sy_itd_stripe_event(evt, "customer.subscription.updated",
                                                                    sy_now_ms() / 1000, sub)),
                            1);
}

static json_t *seed(void)
{
    return json_pack("{s:{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}}", SPREADSHEET, "Customers", "A1", "record_id",
                     "B1", "email", "C1", "account_manager", "D1", "plan", "E1", "mrr", "A7", "cus_Sheet07", "B7",
                     "ana@acme.example", "C7", "Bo");
}

static const char *cell(sy_itd_fake_t *f, const char *name)
{
    json_t *sheet = sy_itd_fake_object(f, SPREADSHEET);
    return json_string_value(json_object_get(json_object_get(sheet, "Customers"), name));
}

static void test_stripe_change_reaches_the_row(void **state)
{
    sy_it_options_t opts = {.extra_sources = extra};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *f = sy_itd_fake_start(h, "google_sheets", "ya29.sheets-token", NULL, 1);
    sy_itd_fake_seed(f, seed());
    sy_itd_set_api(h, "sheets", f, NULL);
    use_policy(h);
    sy_it_start(h);

    post_row(h, 7, "cus_Sheet07");
    post_subscription(h, "evt_Sheets01", "cus_Sheet07", "price_growth", 4900);

    json_t *log = sy_itd_wait_requests(f, "POST", "/v4/spreadsheets/" SPREADSHEET "/values:batchUpdate", 200, 1, 30);
    json_t *req = sy_itd_find(log, "POST", "/v4/spreadsheets/", 200);
    const char *body = json_string_value(json_object_get(req, "body"));
    assert_non_null(body);
    /* One range per pushed cell, in the row the sheet reported; RAW values. */
    assert_non_null(strstr(body, "\"valueInputOption\":\"RAW\""));
    assert_non_null(strstr(body, "{\"range\":\"'Customers'!D7\",\"values\":[[\"price_growth\"]]}"));
    assert_non_null(strstr(body, "{\"range\":\"'Customers'!E7\",\"values\":[[\"4900\"]]}"));
    assert_string_equal(cell(f, "D7"), "price_growth"); /* (the HubSpot push stays queued: no HubSpot api here) */
    assert_string_equal(cell(f, "E7"), "4900");
    assert_string_equal(cell(f, "A7"), "cus_Sheet07"); /* the id column is never written */
    assert_string_equal(cell(f, "B7"), "ana@acme.example");
    assert_int_equal(sy_itd_count(log, "GET", "/v4/", -1), 0); /* the row was known: no lookup */
    sy_it_pass(h);
}

static int scale_written(sy_it_t *h, void *arg)
{
    (void)h;
    const char *v = cell(arg, "D7");
    return v != NULL && strcmp(v, "price_scale") == 0;
}

static void test_rate_limited_then_written(void **state)
{
    sy_it_options_t opts = {.extra_sources = extra};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *f = sy_itd_fake_start(h, "google_sheets", "ya29.sheets-token", NULL, 1);
    sy_itd_fake_seed(f, seed());
    sy_itd_set_api(h, "sheets", f, NULL);
    use_policy(h);
    sy_it_start(h);
    post_row(h, 7, "cus_Sheet07");
    /* One write per 10 s at the fake: the first push passes, the next change meets a 429 with Retry-After and is
     * written once the window has room. */
    sy_itd_fake_rate(f, 1, 10000, 1);
    post_subscription(h, "evt_Sheets02", "cus_Sheet07", "price_starter", 1900);
    sy_itd_wait_requests(f, "POST", "/v4/spreadsheets/", 200, 1, 30);
    post_subscription(h, "evt_Sheets03", "cus_Sheet07", "price_scale", 9900);
    sy_itd_wait(h, 40, "the second change written to the sheet", scale_written, f);
    assert_string_equal(cell(f, "E7"), "9900");
    json_t *log = sy_itd_fake_requests(f);
    assert_true(sy_itd_count(log, "POST", "/v4/spreadsheets/", 429) >= 1);
    assert_int_equal(sy_itd_count(log, "POST", "/v4/spreadsheets/", 200), 2);
    assert_int_equal(json_array_size(sy_itd_dead(h)), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stripe_change_reaches_the_row, teardown),
        cmocka_unit_test_teardown(test_rate_limited_then_written, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
