/*
 * Unit tests for the outbound half of connectors/intercom.c: encode_push (PUT /contacts/{id}, the search lookup by
 * email, the create) byte for byte with the pinned Intercom-Version header, the names it refuses, and every branch
 * of classify (2xx contact / list / unreadable, 409 link conflict, 404, 429 with Retry-After or X-RateLimit-Reset,
 * 5xx, no answer). Expected bodies are written out by hand from Intercom's contacts reference (API 2.11).
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
#define VERSION_2_11 "Intercom-Version: 2.11"
#define CID "6657a1b2c3d4e5f6a7b8c9d0"

static const sy_connector_t *intercom;

static int setup(void **state)
{
    intercom = sy_connector_find("intercom");
    return intercom == NULL || intercom->encode_push == NULL || intercom->classify == NULL;
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

static void expect_request_conf(const sy_source_verify_t *conf, const sy_push_t *p, const char *method, const char *path,
                                int lookup, const char *version_header, const char *body)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req)); /* encode_push must set every member */
    assert_int_equal(intercom->encode_push(conf, p, 1, &req), 0);
    assert_string_equal(req.method, method);
    assert_string_equal(req.path, path);
    assert_string_equal(req.content_type, JSON);
    assert_string_equal(req.idempotency_key, ""); /* Intercom takes none */
    assert_string_equal(req.extra_header, version_header);
    assert_int_equal(req.num_pushes, 1);
    assert_int_equal(req.lookup, lookup);
    assert_non_null(req.body);
    assert_int_equal(req.body_len, strlen(body));
    assert_memory_equal(req.body, body, req.body_len);
    assert_int_equal(req.body[req.body_len], '\0');
    sy_http_request_dispose(&req);
    assert_null(req.body);
}

static void expect_request(const sy_push_t *p, const char *method, const char *path, int lookup, const char *body)
{
    expect_request_conf(NULL, p, method, path, lookup, VERSION_2_11, body);
}

static void expect_invalid(const sy_push_t *pushes, size_t n)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req));
    assert_int_equal(intercom->encode_push(NULL, pushes, n, &req), SY_EINVAL);
    assert_null(req.body);
    assert_int_equal(req.body_len, 0);
    sy_http_request_dispose(&req);
}

/* --- encode_push ------------------------------------------------------------------------------------------ */

static void test_put_standard_and_custom(void **state)
{
    const char *names[] = {"name", "plan", "custom_attributes.mrr", "phone"};
    const char *values[] = {"Ana Silva", "pro", "4900", "+14155550123"};
    sy_push_t p = push_of(CID, "ana@acme.example", names, values, 4);
    expect_request(&p, "PUT", "/contacts/" CID, 0,
                   "{\"name\":\"Ana Silva\",\"custom_attributes\":{\"plan\":\"pro\",\"mrr\":\"4900\"},"
                   "\"phone\":\"+14155550123\"}");
}

static void test_put_clears_and_escapes(void **state)
{
    /* "" clears (null); quotes, backslashes, control bytes and UTF-8 are JSON-escaped; the id is percent-encoded */
    const char *names[] = {"email", "name", "note"};
    const char *values[] = {"ana@acme.example", "", "say \"hi\"\\\n\xc3\xa9"};
    sy_push_t p = push_of("a/../b c", NULL, names, values, 3);
    expect_request(&p, "PUT", "/contacts/a%2F..%2Fb%20c", 0,
                   "{\"email\":\"ana@acme.example\",\"name\":null,\"custom_attributes\":{\"note\":\"say \\\"hi\\\"\\\\\\n\xc3\xa9\"}}");
}

static void test_put_without_fields(void **state)
{
    sy_push_t p = push_of(CID, NULL, NULL, NULL, 0);
    expect_request(&p, "PUT", "/contacts/" CID, 0, "{}");
}

static void test_lookup_by_email(void **state)
{
    const char *names[] = {"name"};
    const char *values[] = {"Ana Silva"};
    sy_push_t p = push_of(NULL, "ana+vip@acme.example", names, values, 1);
    /* only the query: the fields go with the update (or the create) that follows */
    expect_request(&p, "POST", "/contacts/search", 1,
                   "{\"query\":{\"field\":\"email\",\"operator\":\"=\",\"value\":\"ana+vip@acme.example\"}}");
}

static void test_create(void **state)
{
    const char *names[] = {"name", "plan"};
    const char *values[] = {"Ana Silva", "pro"};
    sy_push_t p = push_of(NULL, "ana@acme.example", names, values, 2);
    p.create = 1;
    expect_request(&p, "POST", "/contacts", 0,
                   "{\"role\":\"user\",\"email\":\"ana@acme.example\",\"name\":\"Ana Silva\",\"custom_attributes\":"
                   "{\"plan\":\"pro\"}}");

    /* a field that sets the email wins over the record's email */
    const char *n2[] = {"email"};
    const char *v2[] = {"ana@new.example"};
    p = push_of(NULL, "ana@acme.example", n2, v2, 1);
    p.create = 1;
    expect_request(&p, "POST", "/contacts", 0, "{\"role\":\"user\",\"email\":\"ana@new.example\"}");

    /* no email at all: nothing to look up by, so a create straight away */
    p = push_of(NULL, NULL, names, values, 1);
    expect_request(&p, "POST", "/contacts", 0, "{\"role\":\"user\",\"name\":\"Ana Silva\"}");
}

static void test_pinned_version_option(void **state)
{
    sy_source_verify_t conf = {.num_secrets = 0};
    sy_push_t p = push_of(CID, NULL, NULL, NULL, 0);
    conf.options[0] = "2.17";
    expect_request_conf(&conf, &p, "PUT", "/contacts/" CID, 0, "Intercom-Version: 2.17", "{}");
    conf.options[0] = NULL;
    expect_request_conf(&conf, &p, "PUT", "/contacts/" CID, 0, VERSION_2_11, "{}");
}

static void test_refused(void **state)
{
    const char *good[] = {"name"};
    const char *value[] = {"x"};
    sy_push_t p = push_of(CID, NULL, good, value, 1);
    sy_push_t two[2] = {p, p};
    expect_invalid(two, 2); /* no batch endpoint */
    expect_invalid(NULL, 1);
    expect_invalid(&p, 0);

    static const char *const bad_names[] = {"id", "type", "role", "owner_id", "custom_attributes", "custom_attributes.",
                                            "custom_attributes.a.b", "a.b", "", "plan$", "pl an", "custom_attributes.x[0]"};
    for (size_t i = 0; i != sizeof(bad_names) / sizeof(bad_names[0]); ++i) {
        const char *n[] = {bad_names[i]};
        p = push_of(CID, NULL, n, value, 1);
        expect_invalid(&p, 1);
    }
    char longname[200];
    memset(longname, 'a', 191);
    longname[191] = '\0';
    const char *ln[] = {longname};
    p = push_of(CID, NULL, ln, value, 1);
    expect_invalid(&p, 1);

    /* the same attribute twice, also spelled both ways */
    const char *dup[] = {"plan", "custom_attributes.plan"};
    const char *dv[] = {"a", "b"};
    p = push_of(CID, NULL, dup, dv, 2);
    expect_invalid(&p, 1);

    /* invalid UTF-8 in a value, or in the email of a lookup; NULL value; empty id */
    const char *bad_utf8[] = {"\xc3\x28"};
    p = push_of(CID, NULL, good, bad_utf8, 1);
    expect_invalid(&p, 1);
    p = push_of(NULL, "ana\xff@acme.example", good, value, 1);
    expect_invalid(&p, 1);
    const char *nullv[] = {NULL};
    p = push_of(CID, NULL, good, nullv, 1);
    expect_invalid(&p, 1);
    p = push_of("", NULL, good, value, 1);
    expect_invalid(&p, 1);
    /* the fields are checked before a lookup is spent */
    const char *rn[] = {"id"};
    p = push_of(NULL, "ana@acme.example", rn, value, 1);
    expect_invalid(&p, 1);
}

/* --- classify --------------------------------------------------------------------------------------------- */

static sy_push_result_t classify(long status, const sy_header_t *h, size_t nh, const char *body)
{
    sy_push_result_t r;
    memset(&r, 0x5a, sizeof(r));
    intercom->classify(status, h, nh, sy_slice_cstr(body), 1, &r);
    assert_int_equal(r.partial, 0);
    return r;
}

static void test_classify_success(void **state)
{
    sy_push_result_t r = classify(200, NULL, 0, "{\"type\":\"contact\",\"id\":\"" CID "\",\"email\":\"a@b.c\"}");
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_string_equal(r.created_id, CID);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.rate_limited, 0);

    r = classify(200, NULL, 0, "{\"type\":\"list\",\"data\":[{\"type\":\"contact\",\"id\":\"c1\"},{\"id\":\"c2\"}],"
                               "\"total_count\":2}");
    assert_int_equal(r.outcome, SY_PUSH_FOUND);
    assert_string_equal(r.created_id, "c1");

    r = classify(200, NULL, 0, "{\"type\":\"list\",\"data\":[],\"total_count\":0}");
    assert_int_equal(r.outcome, SY_PUSH_NOT_FOUND);
    assert_string_equal(r.created_id, "");

    /* a found contact without a usable id; a list without data; a 2xx that is not JSON */
    r = classify(200, NULL, 0, "{\"type\":\"list\",\"data\":[{\"id\":\"has space\"}]}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(200, NULL, 0, "{\"type\":\"list\"}");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    r = classify(200, NULL, 0, "{\"type\":\"contact\",\"id\":\"" CID);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    r = classify(204, NULL, 0, "");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
}

static void test_classify_failures(void **state)
{
    /* 409: the email belongs to another contact, a link conflict no retry resolves */
    sy_push_result_t r =
        classify(409, NULL, 0,
                 "{\"type\":\"error.list\",\"errors\":[{\"code\":\"conflict\",\"message\":\"A contact matching those details "
                 "already exists with id=5f8a1b2c3d4e5f6a7b8c9d0e\"}]}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    assert_string_equal(r.created_id, ""); /* never linked to the other contact */
    assert_int_equal(r.rate_limited, 0);

    r = classify(404, NULL, 0, "{\"type\":\"error.list\",\"errors\":[{\"code\":\"not_found\"}]}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(400, NULL, 0, "{\"type\":\"error.list\",\"errors\":[{\"code\":\"parameter_invalid\"}]}");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify(301, NULL, 0, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);

    for (long s = 500; s <= 504; ++s) {
        r = classify(s, NULL, 0, "{}");
        assert_int_equal(r.outcome, SY_PUSH_RETRY);
        assert_int_equal(r.rate_limited, 0);
        assert_int_equal(r.retry_after_ms, -1);
    }
    r = classify(0, NULL, 0, ""); /* no HTTP answer */
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
}

static void test_classify_rate_limit(void **state)
{
    /* Retry-After first */
    sy_header_t h[] = {{SY_SLICE_LIT("retry-after"), SY_SLICE_LIT(" 7 ")},
                       {SY_SLICE_LIT("X-RateLimit-Reset"), SY_SLICE_LIT("1")}};
    sy_push_result_t r = classify(429, h, 2, "{\"type\":\"error.list\",\"errors\":[{\"code\":\"rate_limit_exceeded\"}]}");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 7000);

    /* else X-RateLimit-Reset: the unix second the window refills, read against the clock */
    char reset[32];
    int64_t now = sy_now_ms();
    snprintf(reset, sizeof(reset), "%lld", (long long)(now / 1000 + 60));
    sy_header_t h2[] = {{SY_SLICE_LIT("X-RateLimit-Remaining"), SY_SLICE_LIT("0")},
                        {SY_SLICE_LIT("x-ratelimit-reset"), sy_slice_cstr(reset)}};
    r = classify(429, h2, 2, "");
    assert_int_equal(r.rate_limited, 1);
    assert_true(r.retry_after_ms > 58000 && r.retry_after_ms <= 60000);

    /* a reset in the past: at once; an unreadable one, or none: the engine's own pause */
    sy_header_t h3[] = {{SY_SLICE_LIT("X-RateLimit-Reset"), SY_SLICE_LIT("1000")}};
    r = classify(429, h3, 1, "");
    assert_int_equal(r.retry_after_ms, 0);
    sy_header_t h4[] = {{SY_SLICE_LIT("X-RateLimit-Reset"), SY_SLICE_LIT("soon")}};
    r = classify(429, h4, 1, "");
    assert_int_equal(r.retry_after_ms, -1);
    r = classify(429, NULL, 0, "");
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.rate_limited, 1);

    /* a success that spent the window paces the next request; one that did not, does not */
    r = classify(200, h2, 2, "{\"type\":\"contact\",\"id\":\"c1\"}");
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    assert_int_equal(r.rate_limited, 0);
    assert_true(r.retry_after_ms > 58000 && r.retry_after_ms <= 60000);
    sy_header_t h5[] = {{SY_SLICE_LIT("X-RateLimit-Remaining"), SY_SLICE_LIT("12")},
                        {SY_SLICE_LIT("X-RateLimit-Reset"), sy_slice_cstr(reset)}};
    r = classify(200, h5, 2, "{\"type\":\"contact\",\"id\":\"c1\"}");
    assert_int_equal(r.retry_after_ms, -1);
    /* Retry-After is only read on a retry */
    r = classify(200, h, 1, "{\"type\":\"contact\",\"id\":\"c1\"}");
    assert_int_equal(r.retry_after_ms, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_standard_and_custom), cmocka_unit_test(test_put_clears_and_escapes),
        cmocka_unit_test(test_put_without_fields),      cmocka_unit_test(test_lookup_by_email),
        cmocka_unit_test(test_create),                  cmocka_unit_test(test_pinned_version_option),
        cmocka_unit_test(test_refused),                 cmocka_unit_test(test_classify_success),
        cmocka_unit_test(test_classify_failures),       cmocka_unit_test(test_classify_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
