/*
 * Unit tests for the outbound half of connectors/hubspot.c: encode_push (CRM v3 contacts: PATCH, batch update,
 * batch upsert by email) and classify (status classes, 207 multi-status, 409 existing id, rate-limit headers), and
 * classify_each (which inputs of a 207 batch were written).
 * Expected bodies are written out by hand from HubSpot's CRM v3 reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define JSON "application/json"
#define CONTACTS "/crm/v3/objects/contacts"

static const sy_connector_t *hubspot;

static int setup(void **state)
{
    hubspot = sy_connector_find("hubspot");
    return hubspot == NULL || hubspot->encode_push == NULL || hubspot->classify == NULL;
}

static sy_push_t push_of(const char *object_id, const char *email, const char *const *names, const char *const *values,
                         size_t num_fields)
{
    return (sy_push_t){.object_id = object_id,
                       .email = email,
                       .names = names,
                       .values = values,
                       .num_fields = num_fields,
                       .idempotency_key = "sy-push-7-r1"};
}

static void expect_request(const sy_push_t *pushes, size_t n, const char *method, const char *path, const char *body)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req)); /* encode_push must set every member */
    assert_int_equal(hubspot->encode_push(NULL, pushes, n, &req), 0);
    assert_string_equal(req.method, method);
    assert_string_equal(req.path, path);
    assert_string_equal(req.content_type, JSON);
    assert_string_equal(req.idempotency_key, ""); /* HubSpot has no idempotency keys */
    assert_int_equal(req.num_pushes, n);
    assert_int_equal(req.lookup, 0);
    assert_non_null(req.body);
    assert_int_equal(req.body_len, strlen(body));
    assert_memory_equal(req.body, body, req.body_len);
    assert_int_equal(req.body[req.body_len], '\0');
    sy_http_request_dispose(&req);
    assert_null(req.body);
}

static void expect_invalid_n(const sy_push_t *pushes, size_t n)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req));
    assert_int_equal(hubspot->encode_push(NULL, pushes, n, &req), SY_EINVAL);
    assert_null(req.body);
    assert_int_equal(req.body_len, 0);
    sy_http_request_dispose(&req);
}

/* --- encode_push ------------------------------------------------------------------------------------------ */

static void test_single_patch(void **state)
{
    const char *names[] = {"subscription_status", "mrr"};
    const char *values[] = {"active", "4900"};
    sy_push_t p = push_of("51", "ana@acme.example", names, values, 2);
    expect_request(&p, 1, "PATCH", CONTACTS "/51", "{\"properties\":{\"subscription_status\":\"active\",\"mrr\":\"4900\"}}");
}

static void test_clear_and_escapes(void **state)
{
    const char *names[] = {"plan", "payment_state"};
    const char *values[] = {"", "say \"hi\"\\\n\xc3\xa9\x01"};
    sy_push_t p = push_of("51", NULL, names, values, 2);
    expect_request(&p, 1, "PATCH", CONTACTS "/51",
                   "{\"properties\":{\"plan\":\"\",\"payment_state\":\"say \\\"hi\\\"\\\\\\n\xc3\xa9\\u0001\"}}");
}

static void test_id_percent_encoded(void **state)
{
    const char *names[] = {"plan"};
    const char *values[] = {"pro"};
    sy_push_t p = push_of("51/../x y", NULL, names, values, 1);
    expect_request(&p, 1, "PATCH", CONTACTS "/51%2F..%2Fx%20y", "{\"properties\":{\"plan\":\"pro\"}}");
}

static void test_batch_update(void **state)
{
    const char *n1[] = {"plan"}, *v1[] = {"pro"};
    const char *n2[] = {"plan", "mrr"}, *v2[] = {"team", "9900"};
    const char *n3[] = {"payment_state"}, *v3[] = {"past_due"};
    sy_push_t pushes[] = {push_of("51", NULL, n1, v1, 1), push_of("52", "b@acme.example", n2, v2, 2),
                          push_of("53", NULL, n3, v3, 1)};
    expect_request(pushes, 3, "POST", CONTACTS "/batch/update",
                   "{\"inputs\":[{\"id\":\"51\",\"properties\":{\"plan\":\"pro\"}},"
                   "{\"id\":\"52\",\"properties\":{\"plan\":\"team\",\"mrr\":\"9900\"}},"
                   "{\"id\":\"53\",\"properties\":{\"payment_state\":\"past_due\"}}]}");
}

static void test_batch_of_100(void **state)
{
    sy_push_t pushes[101];
    char ids[101][8];
    const char *names[] = {"plan"}, *values[] = {"pro"};
    for (size_t i = 0; i != 101; ++i) {
        snprintf(ids[i], sizeof(ids[i]), "%zu", 1000 + i);
        pushes[i] = push_of(ids[i], NULL, names, values, 1);
    }
    sy_http_request_t req;
    assert_int_equal(hubspot->encode_push(NULL, pushes, 100, &req), 0);
    assert_int_equal(req.num_pushes, 100);
    assert_non_null(strstr(req.body, "{\"id\":\"1099\",\"properties\":{\"plan\":\"pro\"}}]}"));
    sy_http_request_dispose(&req);
    expect_invalid_n(pushes, 101);
    expect_invalid_n(pushes, 0);
}

static void test_upsert(void **state)
{
    const char *names[] = {"plan"};
    const char *values[] = {"pro"};
    sy_push_t p = push_of(NULL, "ana@acme.example", names, values, 1);
    const char *body = "{\"inputs\":[{\"id\":\"ana@acme.example\",\"idProperty\":\"email\",\"properties\":{\"plan\":\"pro\"}}]}";
    expect_request(&p, 1, "POST", CONTACTS "/batch/upsert", body);
    /* The same request after a lookup said "create": upsert finds or creates in one call. */
    p.create = 1;
    expect_request(&p, 1, "POST", CONTACTS "/batch/upsert", body);
    /* No email: nothing to find the contact by. */
    p.email = NULL;
    expect_invalid_n(&p, 1);
    p.email = "";
    expect_invalid_n(&p, 1);
}

static void test_invalid_names(void **state)
{
    char long_name[257]; /* 256 characters: over the bound of 255 */
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    const char *const bad[] = {"", "Plan", "properties.plan", "a-b", "a b", "plan\n", long_name};
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        const char *names[] = {"plan", bad[i]};
        const char *values[] = {"pro", "x"};
        sy_push_t p = push_of("51", NULL, names, values, 2);
        expect_invalid_n(&p, 1);
        p.object_id = NULL; /* and as an upsert */
        p.email = "a@b.example";
        expect_invalid_n(&p, 1);
    }
    const char *dup_names[] = {"plan", "plan"};
    const char *dup_values[] = {"pro", "team"};
    sy_push_t p = push_of("51", NULL, dup_names, dup_values, 2);
    expect_invalid_n(&p, 1);

    long_name[255] = '\0'; /* 255 is fine */
    const char *names[] = {long_name};
    const char *values[] = {"x"};
    p = push_of("51", NULL, names, values, 1);
    sy_http_request_t req;
    assert_int_equal(hubspot->encode_push(NULL, &p, 1, &req), 0);
    sy_http_request_dispose(&req);
}

static void test_invalid_values(void **state)
{
    const char *names[] = {"plan"};
    const char *values[] = {"\xff"};
    sy_push_t p = push_of("51", NULL, names, values, 1);
    expect_invalid_n(&p, 1);
    values[0] = NULL;
    expect_invalid_n(&p, 1);

    char *big = malloc(65538);
    assert_non_null(big);
    memset(big, 'x', 65537);
    big[65537] = '\0';
    values[0] = big;
    expect_invalid_n(&p, 1);
    big[65536] = '\0'; /* exactly the limit */
    sy_http_request_t req;
    assert_int_equal(hubspot->encode_push(NULL, &p, 1, &req), 0);
    sy_http_request_dispose(&req);
    free(big);

    /* An upsert by an email that is not UTF-8. */
    values[0] = "pro";
    p = push_of(NULL, "\xc0\xaf@b.example", names, values, 1);
    expect_invalid_n(&p, 1);
}

static void test_invalid_batches(void **state)
{
    const char *names[] = {"plan"}, *values[] = {"pro"};
    /* A batch carries only pushes with an id. */
    sy_push_t pushes[] = {push_of("51", NULL, names, values, 1), push_of(NULL, "b@acme.example", names, values, 1),
                          push_of("53", NULL, names, values, 1)};
    expect_invalid_n(pushes, 3);
    /* HubSpot refuses a batch that names one id twice. */
    pushes[1].object_id = "51";
    expect_invalid_n(pushes, 3);
    pushes[1].object_id = "";
    expect_invalid_n(pushes, 3);
    /* One bad property fails the whole batch. */
    const char *bad_names[] = {"Plan"};
    pushes[1] = push_of("52", NULL, bad_names, values, 1);
    expect_invalid_n(pushes, 3);
    /* An id too long for the single path. */
    char long_id[200];
    memset(long_id, ' ', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    sy_push_t p = push_of(long_id, NULL, names, values, 1);
    expect_invalid_n(&p, 1);
    p.object_id = "";
    expect_invalid_n(&p, 1);
}

/* --- classify --------------------------------------------------------------------------------------------- */

static sy_push_result_t classify_with(long status, const sy_header_t *headers, size_t num_headers, const char *body, size_t n)
{
    sy_push_result_t r;
    memset(&r, 0x5a, sizeof(r));
    hubspot->classify(status, headers, num_headers, sy_slice_cstr(body), n, &r);
    return r;
}

static void expect_outcome(long status, const char *body, size_t n, sy_push_outcome_t outcome, const char *created_id)
{
    sy_push_result_t r = classify_with(status, NULL, 0, body, n);
    assert_int_equal(r.outcome, outcome);
    assert_string_equal(r.created_id, created_id);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.rate_limited, status == 429);
}

#define PATCH_ANSWER "{\"id\":\"51\",\"properties\":{\"plan\":\"pro\"},\"archived\":false}"
#define UPSERT_ANSWER                                                                                                        \
    "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"77\",\"properties\":{\"email\":\"ana@acme.example\"},\"new\":true}]," \
    "\"startedAt\":\"2025-01-01T00:00:00Z\",\"completedAt\":\"2025-01-01T00:00:01Z\"}"
#define BATCH_ANSWER "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"},{\"id\":\"52\"},{\"id\":\"53\"}]}"
#define PARTIAL_ANSWER                                                                                                       \
    "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"},{\"id\":\"53\"}],\"numErrors\":1,"                           \
    "\"errors\":[{\"status\":\"error\",\"category\":\"OBJECT_NOT_FOUND\",\"message\":\"Object not found.\"}]}"

static void test_classify_success(void **state)
{
    expect_outcome(200, PATCH_ANSWER, 1, SY_PUSH_DONE, "51");
    expect_outcome(200, UPSERT_ANSWER, 1, SY_PUSH_DONE, "77");
    expect_outcome(201, UPSERT_ANSWER, 1, SY_PUSH_DONE, "77");
    /* A batch of several: no single id to report. */
    expect_outcome(200, BATCH_ANSWER, 3, SY_PUSH_DONE, "");
    /* A numeric id is taken as its text. */
    expect_outcome(200, "{\"status\":\"COMPLETE\",\"results\":[{\"id\":12345}]}", 1, SY_PUSH_DONE, "12345");
    expect_outcome(200, "{\"status\":\"COMPLETE\",\"results\":[]}", 1, SY_PUSH_DONE, "");
    /* An unreadable (say truncated) body: written, unless the status says some inputs were not. */
    expect_outcome(200, "not json", 1, SY_PUSH_DONE, "");
    expect_outcome(200, "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"", 3, SY_PUSH_DONE, "");
    expect_outcome(207, "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"", 3, SY_PUSH_RETRY, "");
}

static void test_classify_multi_status(void **state)
{
    /* Partial failure: the whole batch is retried (updates are idempotent). */
    expect_outcome(207, PARTIAL_ANSWER, 3, SY_PUSH_RETRY, "");
    expect_outcome(207, "{\"status\":\"COMPLETE\",\"results\":[],\"numErrors\":2}", 3, SY_PUSH_RETRY, "");
    expect_outcome(207, "{\"status\":\"COMPLETE\",\"results\":[],\"errors\":[{\"message\":\"x\"}]}", 3, SY_PUSH_RETRY, "");
    /* A 207 without error entries is all written. */
    expect_outcome(207, "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"}],\"numErrors\":0,\"errors\":[]}", 3,
                   SY_PUSH_DONE, "");
}

/* classify then classify_each on a 207 answer to the batch of 51, 52, 53; written is the expected per-input mark,
 * NULL: no per-input outcome (all three retried). */
static void expect_each(const char *body, const unsigned char *written)
{
    const char *n1[] = {"plan"}, *v1[] = {"pro"};
    sy_push_t pushes[] = {push_of("51", NULL, n1, v1, 1), push_of("52", NULL, n1, v1, 1), push_of("53", NULL, n1, v1, 1)};
    sy_http_request_t req;
    sy_push_result_t r = classify_with(207, NULL, 0, body, 3);
    assert_int_equal(hubspot->encode_push(NULL, pushes, 3, &req), 0);
    hubspot->classify_each(&req, 207, sy_slice_cstr(body), 3, &r);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.partial, written != NULL);
    if (written != NULL)
        assert_memory_equal(r.written, written, 3);
    sy_http_request_dispose(&req);
}

#define CONTEXT_ANSWER(results, ids)                                                                                         \
    "{\"status\":\"COMPLETE\",\"results\":[" results "],\"numErrors\":1,\"errors\":[{\"status\":\"error\","                   \
    "\"category\":\"VALIDATION_ERROR\",\"message\":\"x\",\"context\":{\"ids\":[" ids "]}}]}"

static void test_classify_each(void **state)
{
    static const unsigned char only_52_failed[] = {1, 0, 1}, only_51_written[] = {1, 0, 0};
    assert_non_null(hubspot->classify_each);
    /* results and errors[].context.ids say which inputs were written: only the others are retried */
    expect_each(CONTEXT_ANSWER("{\"id\":\"51\"},{\"id\":\"53\"}", "\"52\""), only_52_failed);
    /* in results but named by an error too: not written; in neither: not known to be written */
    expect_each(CONTEXT_ANSWER("{\"id\":\"51\"},{\"id\":\"53\"}", "\"53\""), only_51_written);
    expect_each(CONTEXT_ANSWER("{\"id\":\"51\"}", "\"52\""), only_51_written);
    /* an error without ids still counts only the inputs in results as written */
    expect_each(PARTIAL_ANSWER, only_52_failed);
    /* nothing written, or an answer that cannot be read (truncated, no results): all three retried */
    expect_each(CONTEXT_ANSWER("", "\"51\",\"52\",\"53\""), NULL);
    expect_each("{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"51\"", NULL);
    expect_each("{\"status\":\"COMPLETE\",\"numErrors\":1}", NULL);
    expect_each("not json", NULL);
}

static void test_classify_conflict(void **state)
{
    expect_outcome(409,
                   "{\"status\":\"error\",\"message\":\"Contact already exists. Existing ID: 12345\","
                   "\"correlationId\":\"abc\",\"category\":\"CONFLICT\"}",
                   1, SY_PUSH_FOUND, "12345");
    /* Not JSON but the same sentence. */
    expect_outcome(409, "Contact already exists. Existing ID: 678", 1, SY_PUSH_FOUND, "678");
    /* Any other conflict is permanent. */
    expect_outcome(409, "{\"status\":\"error\",\"message\":\"Conflict\",\"category\":\"CONFLICT\"}", 1, SY_PUSH_PERMANENT,
                   "");
    expect_outcome(409, "{\"status\":\"error\",\"message\":\"Existing ID: \"}", 1, SY_PUSH_PERMANENT, "");
    expect_outcome(409, "", 1, SY_PUSH_PERMANENT, "");
}

static void test_classify_status_classes(void **state)
{
    static const char rate_body[] = "{\"status\":\"error\",\"message\":\"You have reached your ten_secondly_rolling limit.\","
                                    "\"errorType\":\"RATE_LIMIT\",\"policyName\":\"TEN_SECONDLY_ROLLING\"}";
    expect_outcome(429, rate_body, 1, SY_PUSH_RETRY, "");
    expect_outcome(500, "", 1, SY_PUSH_RETRY, "");
    expect_outcome(502, "", 3, SY_PUSH_RETRY, "");
    expect_outcome(504, "", 1, SY_PUSH_RETRY, "");
    expect_outcome(0, "", 1, SY_PUSH_RETRY, "");
    expect_outcome(400, "{\"status\":\"error\",\"category\":\"VALIDATION_ERROR\"}", 1, SY_PUSH_PERMANENT, "");
    expect_outcome(401, "", 1, SY_PUSH_PERMANENT, "");
    expect_outcome(403, "", 1, SY_PUSH_PERMANENT, "");
    expect_outcome(404, "", 1, SY_PUSH_PERMANENT, "");
    expect_outcome(302, "", 1, SY_PUSH_PERMANENT, "");
}

static void test_classify_rate_limit_headers(void **state)
{
    /* Retry-After first, in seconds or as a date. */
    sy_header_t ra[] = {{SY_SLICE_LIT("Retry-After"), SY_SLICE_LIT("2")},
                        {SY_SLICE_LIT("X-HubSpot-RateLimit-Remaining"), SY_SLICE_LIT("0")},
                        {SY_SLICE_LIT("X-HubSpot-RateLimit-Interval-Milliseconds"), SY_SLICE_LIT("10000")}};
    sy_push_result_t r = classify_with(429, ra, 3, "", 1);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 2000);
    sy_header_t date[] = {{SY_SLICE_LIT("retry-after"), SY_SLICE_LIT("Sun, 06 Nov 1994 08:49:37 GMT")}};
    r = classify_with(429, date, 1, "", 1);
    assert_int_equal(r.retry_after_ms, 0);

    /* No Retry-After: the window is spent, wait one interval. */
    r = classify_with(429, ra + 1, 2, "", 1);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 10000);
    sy_header_t lower[] = {{SY_SLICE_LIT("x-hubspot-ratelimit-interval-milliseconds"), SY_SLICE_LIT(" 1000 ")},
                           {SY_SLICE_LIT("x-hubspot-ratelimit-remaining"), SY_SLICE_LIT("0")}};
    r = classify_with(503, lower, 2, "", 1);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 0);
    assert_int_equal(r.retry_after_ms, 1000);

    /* Requests left in the window: no pause. */
    sy_header_t left[] = {{SY_SLICE_LIT("X-HubSpot-RateLimit-Remaining"), SY_SLICE_LIT("5")},
                          {SY_SLICE_LIT("X-HubSpot-RateLimit-Interval-Milliseconds"), SY_SLICE_LIT("10000")}};
    r = classify_with(429, left, 2, "", 1);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, -1);
    /* No interval header, or junk in it: no pause either. */
    r = classify_with(429, ra + 1, 1, "", 1);
    assert_int_equal(r.retry_after_ms, -1);
    sy_header_t junk[] = {{SY_SLICE_LIT("X-HubSpot-RateLimit-Remaining"), SY_SLICE_LIT("0")},
                          {SY_SLICE_LIT("X-HubSpot-RateLimit-Interval-Milliseconds"), SY_SLICE_LIT("-1")}};
    r = classify_with(429, junk, 2, "", 1);
    assert_int_equal(r.retry_after_ms, -1);

    /* A success that spent the window still says when to send next (pacing); it is not rate limited. */
    r = classify_with(200, ra + 1, 2, PATCH_ANSWER, 1);
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_int_equal(r.rate_limited, 0);
    assert_int_equal(r.retry_after_ms, 10000);
    assert_string_equal(r.created_id, "51");
    /* Retry-After on a success is not a retry time. */
    r = classify_with(200, ra, 1, PATCH_ANSWER, 1);
    assert_int_equal(r.retry_after_ms, -1);
}

static void test_connector_constants(void **state)
{
    assert_int_equal(hubspot->max_batch, 100);
    assert_int_equal(hubspot->default_rate_count, 100);
    assert_int_equal(hubspot->default_rate_window_ms, 10000);
    assert_string_equal(hubspot->default_base_url, "https://api.hubapi.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_patch),
        cmocka_unit_test(test_clear_and_escapes),
        cmocka_unit_test(test_id_percent_encoded),
        cmocka_unit_test(test_batch_update),
        cmocka_unit_test(test_batch_of_100),
        cmocka_unit_test(test_upsert),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_invalid_batches),
        cmocka_unit_test(test_classify_success),
        cmocka_unit_test(test_classify_multi_status),
        cmocka_unit_test(test_classify_each),
        cmocka_unit_test(test_classify_conflict),
        cmocka_unit_test(test_classify_status_classes),
        cmocka_unit_test(test_classify_rate_limit_headers),
        cmocka_unit_test(test_connector_constants),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
