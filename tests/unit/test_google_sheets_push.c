/* Unit tests for connectors/google_sheets.c outbound: every request byte for byte, every refusal, every classify
 * branch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

static const sy_connector_t *gs;
static sy_source_verify_t conf;

static int setup(void **state)
{
    (void)state;
    gs = sy_connector_find("google_sheets");
    assert_non_null(gs);
    memset(&conf, 0, sizeof(conf));
    conf.options[sy_connector_option_index(gs, "spreadsheet_id")] = "1BxiMVs0XRA5";
    conf.options[sy_connector_option_index(gs, "sheet")] = "Ana's Customers";
    conf.options[sy_connector_option_index(gs, "id_column")] = "record_id";
    conf.options[sy_connector_option_index(gs, "columns")] = "record_id, email,name,plan,mrr";
    return 0;
}

static sy_push_t push(const char *row, const char *const *names, const char *const *values, size_t n)
{
    return (sy_push_t){.object_id = row, .email = "ana@acme.example", .names = names, .values = values,
                       .num_fields = n, .idempotency_key = "sy-key-1"};
}

static void test_one_row(void **state)
{
    (void)state;
    const char *names[] = {"plan", "mrr", "G"};
    const char *values[] = {"growth", "=1+1", ""};
    sy_push_t p = push("7", names, values, 3);
    sy_http_request_t r;
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), 0);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/v4/spreadsheets/1BxiMVs0XRA5/values:batchUpdate");
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.idempotency_key, ""); /* Sheets has none: the same cells written twice are the same */
    assert_int_equal(r.num_pushes, 1);
    assert_int_equal(r.lookup, 0);
    /* Header names map to their column (spaces around commas ignored), letters stay; the tab name is quoted with
     * its ' doubled; RAW keeps "=1+1" text. */
    assert_string_equal(r.body, "{\"valueInputOption\":\"RAW\",\"data\":["
                                "{\"range\":\"'Ana''s Customers'!D7\",\"values\":[[\"growth\"]]},"
                                "{\"range\":\"'Ana''s Customers'!E7\",\"values\":[[\"=1+1\"]]},"
                                "{\"range\":\"'Ana''s Customers'!G7\",\"values\":[[\"\"]]}]}");
    assert_int_equal(r.body_len, strlen(r.body));
    sy_http_request_dispose(&r);
    sy_http_request_dispose(&r); /* twice is fine */
}

static void test_batch_of_rows(void **state)
{
    (void)state;
    const char *n1[] = {"email"}, *v1[] = {"ana@acme.example"};
    const char *n2[] = {"AA"}, *v2[] = {"x"};
    sy_push_t p[] = {push("2", n1, v1, 1), push("10000000", n2, v2, 1)};
    sy_http_request_t r;
    assert_int_equal(gs->encode_push(&conf, p, 2, &r), 0);
    assert_int_equal(r.num_pushes, 2);
    assert_string_equal(r.body, "{\"valueInputOption\":\"RAW\",\"data\":["
                                "{\"range\":\"'Ana''s Customers'!B2\",\"values\":[[\"ana@acme.example\"]]},"
                                "{\"range\":\"'Ana''s Customers'!AA10000000\",\"values\":[[\"x\"]]}]}");
    sy_http_request_dispose(&r);
    /* The same row twice in one batch is refused as a whole. */
    sy_push_t twice[] = {push("2", n1, v1, 1), push("2", n2, v2, 1)};
    assert_int_equal(gs->encode_push(&conf, twice, 2, &r), SY_EINVAL);
    assert_null(r.body);
    /* A later push without a row refuses the batch too. */
    sy_push_t norow[] = {push("2", n1, v1, 1), push("x", n2, v2, 1)};
    assert_int_equal(gs->encode_push(&conf, norow, 2, &r), SY_EINVAL);
    assert_null(r.body);
}

static void test_without_row(void **state)
{
    (void)state;
    const char *names[] = {"plan"}, *values[] = {"growth"};
    sy_push_t p = push(NULL, names, values, 1);
    sy_http_request_t r;
    /* A lookup: a metadata read, which classify answers NOT_FOUND. */
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), 0);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/v4/spreadsheets/1BxiMVs0XRA5?fields=spreadsheetId");
    assert_int_equal(r.lookup, 1);
    assert_null(r.body);
    /* A create: rows are added by people, not by the hub. */
    p.create = 1;
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), SY_EINVAL);
    p.create = 0;
    p.email = NULL;
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), SY_EINVAL);
}

static void expect_einval(const char *row, const char *name, const char *value)
{
    const char *names[] = {name}, *values[] = {value};
    sy_push_t p = push(row, names, values, 1);
    sy_http_request_t r;
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), SY_EINVAL);
    assert_null(r.body);
    assert_string_equal(r.path, "");
}

static void test_refusals(void **state)
{
    (void)state;
    expect_einval("1", "plan", "x");          /* the header row */
    expect_einval("0", "plan", "x");
    expect_einval("10000001", "plan", "x");   /* past the sheet's cell limit */
    expect_einval("7a", "plan", "x");
    expect_einval("", "plan", "x");
    expect_einval("7", "record_id", "x");     /* the id column is never written */
    expect_einval("7", "A", "x");             /* ... nor by its letter */
    expect_einval("7", "company", "x");       /* no such header */
    expect_einval("7", "a", "x");             /* letters are upper case */
    expect_einval("7", "AAAA", "x");          /* past ZZZ */
    expect_einval("7", "plan", "\xc3\x28");   /* invalid UTF-8 */
    char *big = malloc(50002);
    memset(big, 'x', 50001);
    big[50001] = '\0';
    expect_einval("7", "plan", big);          /* over 50,000 characters in a cell */
    big[50000] = '\0';
    const char *names[] = {"plan"}, *values[] = {big};
    sy_push_t p = push("7", names, values, 1);
    sy_http_request_t r;
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), 0);
    sy_http_request_dispose(&r);
    free(big);
    const char *two[] = {"plan", "D"}, *vals[] = {"a", "b"};
    p = push("7", two, vals, 2);
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), SY_EINVAL); /* one cell twice */
    p = push("7", two, vals, 0);
    assert_int_equal(gs->encode_push(&conf, &p, 1, &r), SY_EINVAL); /* nothing to write */
    sy_source_verify_t none = {0};
    p = push("7", two, vals, 1);
    assert_int_equal(gs->encode_push(&none, &p, 1, &r), SY_EINVAL); /* no spreadsheet_id */
    assert_int_equal(gs->encode_push(NULL, &p, 1, &r), SY_EINVAL);
}

static sy_push_result_t classify(long status, const char *retry_after, const char *body)
{
    sy_header_t h[] = {{SY_SLICE_LIT("retry-after"), sy_slice_cstr(retry_after != NULL ? retry_after : "")}};
    sy_push_result_t r;
    gs->classify(status, h, retry_after != NULL ? 1 : 0, sy_slice_cstr(body), 1, &r);
    return r;
}

static void test_classify(void **state)
{
    (void)state;
    sy_push_result_t r = classify(200, NULL, "{\"spreadsheetId\":\"s\",\"totalUpdatedCells\":2,\"responses\":[]}");
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_string_equal(r.created_id, "");
    assert_int_equal(classify(200, NULL, "{\"spreadsheetId\":\"s\"}").outcome, SY_PUSH_NOT_FOUND);
    assert_int_equal(classify(200, NULL, "<html>").outcome, SY_PUSH_RETRY);
    assert_int_equal(classify(204, NULL, "").outcome, SY_PUSH_RETRY);
    r = classify(429, "7", "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\"}}");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 7000);
    r = classify(429, NULL, "");
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, -1);
    r = classify(403, NULL, "{\"error\":{\"errors\":[{\"reason\":\"rateLimitExceeded\"}]}}");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    r = classify(403, NULL, "{\"error\":{\"details\":[{\"reason\":\"RATE_LIMIT_EXCEEDED\"}]}}");
    assert_int_equal(r.rate_limited, 1);
    r = classify(403, "5", "{\"error\":{\"status\":\"PERMISSION_DENIED\"}}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    assert_int_equal(r.retry_after_ms, -1); /* Retry-After only on a retry */
    assert_int_equal(classify(400, NULL, "{}").outcome, SY_PUSH_PERMANENT);
    assert_int_equal(classify(401, NULL, "{}").outcome, SY_PUSH_PERMANENT);
    assert_int_equal(classify(404, NULL, "{}").outcome, SY_PUSH_PERMANENT);
    assert_int_equal(classify(302, NULL, "").outcome, SY_PUSH_PERMANENT);
    r = classify(503, "2", "{}");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 0);
    assert_int_equal(r.retry_after_ms, 2000);
    assert_int_equal(classify(500, NULL, "").outcome, SY_PUSH_RETRY);
    assert_int_equal(classify(408, NULL, "").outcome, SY_PUSH_RETRY);
    assert_int_equal(classify(0, NULL, "").outcome, SY_PUSH_RETRY); /* no HTTP answer */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_one_row, setup),     cmocka_unit_test_setup(test_batch_of_rows, setup),
        cmocka_unit_test_setup(test_without_row, setup), cmocka_unit_test_setup(test_refusals, setup),
        cmocka_unit_test_setup(test_classify, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
