/*
 * Unit tests for the outbound half of connectors/stripe.c: encode_push (customers API, form bodies, lookup by
 * email, create) and classify (status classes, Stripe-Should-Retry, Retry-After), plus the registry's Retry-After
 * parser it relies on. Expected requests are written out by hand from Stripe's API reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define FORM "application/x-www-form-urlencoded"
#define KEY "sy-push-42-r3"

static const sy_connector_t *stripe;

static int setup(void **state)
{
    stripe = sy_connector_find("stripe");
    return stripe == NULL || stripe->encode_push == NULL || stripe->classify == NULL;
}

static sy_push_t push_of(const char *object_id, const char *email, const char *const *names, const char *const *values,
                         size_t num_fields)
{
    return (sy_push_t){.object_id = object_id,
                       .email = email,
                       .names = names,
                       .values = values,
                       .num_fields = num_fields,
                       .idempotency_key = KEY};
}

/* Encodes p and checks every member of the request; body NULL means "no body". */
static void expect_request(const sy_push_t *p, const char *method, const char *path, const char *content_type,
                           const char *key, const char *body, int lookup)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req)); /* encode_push must set every member */
    assert_int_equal(stripe->encode_push(NULL, p, 1, &req), 0);
    assert_string_equal(req.method, method);
    assert_string_equal(req.path, path);
    assert_string_equal(req.content_type, content_type);
    assert_string_equal(req.idempotency_key, key);
    assert_int_equal(req.num_pushes, 1);
    assert_int_equal(req.lookup, lookup);
    if (body == NULL) {
        assert_null(req.body);
        assert_int_equal(req.body_len, 0);
    } else {
        assert_non_null(req.body);
        assert_int_equal(req.body_len, strlen(body));
        assert_memory_equal(req.body, body, req.body_len);
        assert_int_equal(req.body[req.body_len], '\0');
    }
    sy_http_request_dispose(&req);
    assert_null(req.body);
    sy_http_request_dispose(&req); /* twice is harmless */
}

static void expect_invalid_n(const sy_push_t *p, size_t n, int err)
{
    sy_http_request_t req;
    memset(&req, 0x5a, sizeof(req));
    assert_int_equal(stripe->encode_push(NULL, p, n, &req), err);
    assert_null(req.body); /* nothing to dispose after a failure */
    assert_int_equal(req.body_len, 0);
    sy_http_request_dispose(&req);
}

static void expect_invalid(const sy_push_t *p)
{
    expect_invalid_n(p, 1, SY_EINVAL);
}

/* --- encode_push ------------------------------------------------------------------------------------------ */

static void test_update(void **state)
{
    const char *names[] = {"email", "name", "phone"};
    const char *values[] = {"ana@acme.example", "Ana Lima", "+351 21 000 0000"};
    sy_push_t p = push_of("cus_123", "ana@acme.example", names, values, 3);
    expect_request(&p, "POST", "/v1/customers/cus_123", FORM, KEY,
                   "email=ana%40acme.example&name=Ana%20Lima&phone=%2B351%2021%20000%200000", 0);
}

static void test_update_metadata_and_nested(void **state)
{
    const char *names[] = {"metadata.lifecycle_stage", "address.line1", "shipping.address.city", "metadata.HubSpot-ID"};
    const char *values[] = {"customer", "1 Main St", "Lisboa", "51"};
    sy_push_t p = push_of("cus_123", NULL, names, values, 4);
    expect_request(&p, "POST", "/v1/customers/cus_123", FORM, KEY,
                   "metadata[lifecycle_stage]=customer&address[line1]=1%20Main%20St&shipping[address][city]=Lisboa"
                   "&metadata[HubSpot-ID]=51",
                   0);
}

static void test_update_clear(void **state)
{
    const char *names[] = {"name", "metadata.plan"};
    const char *values[] = {"", ""};
    /* The record's email is for lookups and creates: an update sends only its fields. */
    sy_push_t p = push_of("cus_123", "ana@acme.example", names, values, 2);
    expect_request(&p, "POST", "/v1/customers/cus_123", FORM, KEY, "name=&metadata[plan]=", 0);
}

static void test_percent_encoding(void **state)
{
    /* Unreserved characters stay, everything else is %XX with upper-case hex; a space is always %20, never +. */
    const char *names[] = {"description"};
    const char *values[] = {"a b+c&d=e/f?g%h~i.j_k-l \xc3\xa9#[]"};
    sy_push_t p = push_of("cus/../x y", NULL, names, values, 1);
    expect_request(&p, "POST", "/v1/customers/cus%2F..%2Fx%20y", FORM, KEY,
                   "description=a%20b%2Bc%26d%3De%2Ff%3Fg%25h~i.j_k-l%20%C3%A9%23%5B%5D", 0);
}

static void test_no_idempotency_key(void **state)
{
    const char *names[] = {"name"};
    const char *values[] = {"Ana"};
    sy_push_t p = push_of("cus_1", NULL, names, values, 1);
    p.idempotency_key = NULL;
    expect_request(&p, "POST", "/v1/customers/cus_1", FORM, "", "name=Ana", 0);
}

static void test_lookup(void **state)
{
    const char *names[] = {"name"};
    const char *values[] = {"Ana"};
    sy_push_t p = push_of(NULL, "ana+tag@acme.example", names, values, 1);
    /* No body, no idempotency key: a GET is safe to repeat. */
    expect_request(&p, "GET", "/v1/customers?email=ana%2Btag%40acme.example&limit=1", "", "", NULL, 1);
}

static void test_lookup_checks_fields_first(void **state)
{
    /* A push that could never be written is refused before it costs a lookup. */
    const char *names[] = {"Name"};
    const char *values[] = {"Ana"};
    sy_push_t p = push_of(NULL, "ana@acme.example", names, values, 1);
    expect_invalid(&p);
}

static void test_create(void **state)
{
    const char *names[] = {"name", "metadata.lifecycle_stage"};
    const char *values[] = {"Ana Lima", "lead"};
    sy_push_t p = push_of(NULL, "ana@acme.example", names, values, 2);
    p.create = 1;
    expect_request(&p, "POST", "/v1/customers", FORM, KEY,
                   "name=Ana%20Lima&metadata[lifecycle_stage]=lead&email=ana%40acme.example", 0);
}

static void test_create_email_among_fields(void **state)
{
    /* The field's value is sent, once; the record's email is not added a second time. */
    const char *names[] = {"email"};
    const char *values[] = {"billing@acme.example"};
    sy_push_t p = push_of(NULL, "ana@acme.example", names, values, 1);
    p.create = 1;
    expect_request(&p, "POST", "/v1/customers", FORM, KEY, "email=billing%40acme.example", 0);
}

static void test_create_without_email(void **state)
{
    /* Nothing to look up by: create directly, even with create = 0. */
    const char *names[] = {"name"};
    const char *values[] = {"Ana"};
    sy_push_t p = push_of(NULL, NULL, names, values, 1);
    expect_request(&p, "POST", "/v1/customers", FORM, KEY, "name=Ana", 0);
    p.email = "";
    expect_request(&p, "POST", "/v1/customers", FORM, KEY, "name=Ana", 0);
    /* Not even a field: an empty customer, and no body. */
    p.num_fields = 0;
    expect_request(&p, "POST", "/v1/customers", FORM, KEY, NULL, 0);
}

static void test_invalid_names(void **state)
{
    static const char *const bad[] = {
        "",            /* empty */
        "Name",        /* upper case in a parameter */
        "na-me",       /* dash in a parameter */
        "name ",       /* space */
        "email\r\nX",  /* control characters */
        "a..b",        /* empty segment */
        ".a",          /* empty first segment */
        "a.",          /* empty last segment */
        "a[b]",        /* brackets are ours to write */
        "metadata",    /* would clear every key */
        "metadata.",   /* empty key */
        "metadata.a.b", /* metadata is flat */
        "metadata.a b", /* space in a key */
        "metadata.a[b", /* bracket in a key */
        "metadata.12345678901234567890123456789012345678901", /* 41 characters */
        "id",          /* read-only attributes */
        "object",
        "created",
        "livemode",
        "deleted",
        "delinquent",
        "discount",
        "sources",
        "subscriptions",
        "tax_ids",
        "id.x",
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        const char *names[] = {"email", bad[i]};
        const char *values[] = {"a@b.example", "x"};
        sy_push_t p = push_of("cus_1", NULL, names, values, 2);
        expect_invalid(&p);
    }
    /* The edges that are fine: a 40-character metadata key, an underscore parameter. */
    const char *names[] = {"metadata.1234567890123456789012345678901234567890", "invoice_prefix"};
    const char *values[] = {"v", "ACME"};
    sy_push_t p = push_of("cus_1", NULL, names, values, 2);
    expect_request(&p, "POST", "/v1/customers/cus_1", FORM, KEY,
                   "metadata[1234567890123456789012345678901234567890]=v&invoice_prefix=ACME", 0);
}

static void test_invalid_values(void **state)
{
    char long_meta[502], ok_meta[1001], long_value[5002];
    memset(long_meta, 'x', 501);
    long_meta[501] = '\0';
    for (size_t i = 0; i != 500; ++i)
        memcpy(ok_meta + 2 * i, "\xc3\xa9", 2); /* 500 characters in 1000 bytes: the limit counts characters */
    ok_meta[1000] = '\0';
    memset(long_value, 'x', 5001);
    long_value[5001] = '\0';

    const char *names[] = {"metadata.k"};
    const char *values[] = {long_meta};
    sy_push_t p = push_of("cus_1", NULL, names, values, 1);
    expect_invalid(&p);
    values[0] = ok_meta;
    sy_http_request_t req;
    assert_int_equal(stripe->encode_push(NULL, &p, 1, &req), 0);
    assert_int_equal(req.body_len, strlen("metadata[k]=") + 500 * 6);
    sy_http_request_dispose(&req);

    const char *names2[] = {"description"};
    const char *values2[] = {long_value};
    p = push_of("cus_1", NULL, names2, values2, 1);
    expect_invalid(&p);
    values2[0] = "\xc3\x28"; /* not UTF-8 */
    expect_invalid(&p);
    values2[0] = NULL;
    expect_invalid(&p);

    const char *dup_names[] = {"name", "email", "name"};
    const char *dup_values[] = {"a", "b@c.example", "c"};
    p = push_of("cus_1", NULL, dup_names, dup_values, 3);
    expect_invalid(&p);
}

static void test_metadata_key_count(void **state)
{
    char keys[51][16];
    const char *names[51], *values[51];
    for (size_t i = 0; i != 51; ++i) {
        snprintf(keys[i], sizeof(keys[i]), "metadata.k%zu", i);
        names[i] = keys[i];
        values[i] = "v";
    }
    sy_push_t p = push_of("cus_1", NULL, names, values, 50);
    sy_http_request_t req;
    assert_int_equal(stripe->encode_push(NULL, &p, 1, &req), 0);
    sy_http_request_dispose(&req);
    p.num_fields = 51;
    expect_invalid(&p);
}

static void test_invalid_push(void **state)
{
    const char *names[] = {"name"};
    const char *values[] = {"Ana"};
    sy_push_t pushes[2] = {push_of("cus_1", NULL, names, values, 1), push_of("cus_2", NULL, names, values, 1)};
    expect_invalid_n(pushes, 2, SY_EINVAL); /* max_batch is 1 */
    expect_invalid_n(pushes, 0, SY_EINVAL);

    sy_push_t p = pushes[0];
    p.object_id = "";
    expect_invalid(&p);

    /* An id whose encoded path exceeds 511 characters. */
    char long_id[200];
    memset(long_id, '/', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    p.object_id = long_id;
    expect_invalid(&p);
    /* ... and one that just fits: 14 + 497 = 511. */
    char fit_id[498];
    memset(fit_id, 'c', sizeof(fit_id) - 1);
    fit_id[sizeof(fit_id) - 1] = '\0';
    p.object_id = fit_id;
    sy_http_request_t req;
    assert_int_equal(stripe->encode_push(NULL, &p, 1, &req), 0);
    assert_int_equal(strlen(req.path), 511);
    sy_http_request_dispose(&req);
    fit_id[0] = '%'; /* one more character once encoded */
    expect_invalid(&p);

    /* An email too long for the lookup's query. */
    char long_email[200];
    memset(long_email, '@', sizeof(long_email) - 1);
    long_email[sizeof(long_email) - 1] = '\0';
    p = push_of(NULL, long_email, names, values, 1);
    expect_invalid(&p);

    /* Idempotency keys become a header: at most 255 visible ASCII characters. */
    p = push_of("cus_1", NULL, names, values, 1);
    p.idempotency_key = "key\r\nX-Injected: 1";
    expect_invalid(&p);
    p.idempotency_key = "key with space";
    expect_invalid(&p);
    char long_key[257];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    p.idempotency_key = long_key;
    expect_invalid(&p);
    long_key[255] = '\0';
    assert_int_equal(stripe->encode_push(NULL, &p, 1, &req), 0);
    assert_string_equal(req.idempotency_key, long_key);
    sy_http_request_dispose(&req);
}

/* --- classify --------------------------------------------------------------------------------------------- */

static sy_push_result_t classify_with(long status, const sy_header_t *headers, size_t num_headers, const char *body)
{
    sy_push_result_t r;
    memset(&r, 0x5a, sizeof(r));
    stripe->classify(status, headers, num_headers, sy_slice_cstr(body), 1, &r);
    return r;
}

static void expect_outcome(long status, const char *body, sy_push_outcome_t outcome, const char *created_id)
{
    sy_push_result_t r = classify_with(status, NULL, 0, body);
    assert_int_equal(r.outcome, outcome);
    assert_string_equal(r.created_id, created_id);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.rate_limited, status == 429);
}

static void test_classify_success(void **state)
{
    expect_outcome(200, "{\"id\":\"cus_123\",\"object\":\"customer\",\"email\":\"ana@acme.example\"}", SY_PUSH_DONE,
                   "cus_123");
    /* A create answers the new customer: its id is what the engine links. */
    expect_outcome(200, "{\"id\":\"cus_NEW\",\"object\":\"customer\"}", SY_PUSH_DONE, "cus_NEW");
    expect_outcome(201, "{\"object\":\"customer\"}", SY_PUSH_DONE, "");
    /* An id that is not visible ASCII is not taken. */
    expect_outcome(200, "{\"id\":\"cus 1\",\"object\":\"customer\"}", SY_PUSH_DONE, "");
    /* A 2xx we cannot read confirms nothing. */
    expect_outcome(200, "<html>ok</html>", SY_PUSH_RETRY, "");
    expect_outcome(200, "", SY_PUSH_RETRY, "");
}

static void test_classify_lookup(void **state)
{
    expect_outcome(200,
                   "{\"object\":\"list\",\"data\":[{\"id\":\"cus_FOUND\",\"object\":\"customer\",\"email\":\"a@b.example\"}],"
                   "\"has_more\":false,\"url\":\"/v1/customers\"}",
                   SY_PUSH_FOUND, "cus_FOUND");
    expect_outcome(200, "{\"object\":\"list\",\"data\":[],\"has_more\":false,\"url\":\"/v1/customers\"}",
                   SY_PUSH_NOT_FOUND, "");
    /* A customer without a usable id cannot be updated. */
    expect_outcome(200, "{\"object\":\"list\",\"data\":[{\"object\":\"customer\"}]}", SY_PUSH_PERMANENT, "");
    expect_outcome(200, "{\"object\":\"list\",\"data\":[{\"id\":\"\",\"object\":\"customer\"}]}", SY_PUSH_PERMANENT, "");
    expect_outcome(200, "{\"object\":\"list\",\"data\":[{\"id\":\"cus\\n1\",\"object\":\"customer\"}]}", SY_PUSH_PERMANENT,
                   "");
    expect_outcome(200, "{\"object\":\"list\"}", SY_PUSH_RETRY, "");
}

static void test_classify_status_classes(void **state)
{
    expect_outcome(429, "{\"error\":{\"type\":\"rate_limit_error\"}}", SY_PUSH_RETRY, "");
    expect_outcome(409, "{\"error\":{\"type\":\"idempotency_error\"}}", SY_PUSH_RETRY, "");
    expect_outcome(500, "", SY_PUSH_RETRY, "");
    expect_outcome(502, "bad gateway", SY_PUSH_RETRY, "");
    expect_outcome(503, "", SY_PUSH_RETRY, "");
    expect_outcome(0, "", SY_PUSH_RETRY, ""); /* no HTTP answer at all */
    expect_outcome(400, "{\"error\":{\"type\":\"invalid_request_error\",\"param\":\"name\"}}", SY_PUSH_PERMANENT, "");
    /* a create keyed by its record, refused under that key: the customer exists; retried, it is looked up */
    expect_outcome(400, "{\"error\":{\"type\":\"idempotency_error\"}}", SY_PUSH_RETRY, "");
    expect_outcome(401, "", SY_PUSH_PERMANENT, "");
    expect_outcome(402, "", SY_PUSH_PERMANENT, "");
    expect_outcome(404, "{\"error\":{\"code\":\"resource_missing\"}}", SY_PUSH_PERMANENT, "");
    expect_outcome(301, "", SY_PUSH_PERMANENT, "");
}

static void test_classify_should_retry(void **state)
{
    sy_header_t no[] = {{SY_SLICE_LIT("Stripe-Should-Retry"), SY_SLICE_LIT("false")}};
    sy_header_t yes[] = {{SY_SLICE_LIT("stripe-should-retry"), SY_SLICE_LIT(" true ")}}; /* any case, OWS */
    sy_push_result_t r = classify_with(503, no, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify_with(409, no, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    r = classify_with(429, no, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    assert_int_equal(r.rate_limited, 1);
    r = classify_with(400, yes, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    r = classify_with(404, yes, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    /* A success stays a success. */
    r = classify_with(200, no, 1, "{\"id\":\"cus_1\",\"object\":\"customer\"}");
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    /* Anything else in the header is no verdict. */
    sy_header_t odd[] = {{SY_SLICE_LIT("Stripe-Should-Retry"), SY_SLICE_LIT("maybe")}};
    r = classify_with(400, odd, 1, "");
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
}

static void test_classify_retry_after(void **state)
{
    sy_header_t secs[] = {{SY_SLICE_LIT("Request-Id"), SY_SLICE_LIT("req_1")}, {SY_SLICE_LIT("retry-after"), SY_SLICE_LIT("7")}};
    sy_push_result_t r = classify_with(429, secs, 2, "");
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.rate_limited, 1);
    assert_int_equal(r.retry_after_ms, 7000);
    r = classify_with(503, secs, 2, "");
    assert_int_equal(r.retry_after_ms, 7000);
    assert_int_equal(r.rate_limited, 0);
    /* Not for an outcome that is not a retry. */
    r = classify_with(400, secs, 2, "");
    assert_int_equal(r.retry_after_ms, -1);

    sy_header_t past[] = {{SY_SLICE_LIT("Retry-After"), SY_SLICE_LIT("Sun, 06 Nov 1994 08:49:37 GMT")}};
    r = classify_with(429, past, 1, "");
    assert_int_equal(r.retry_after_ms, 0);
    /* A date years ahead: classify measures from the wall clock. */
    sy_header_t future[] = {{SY_SLICE_LIT("Retry-After"), SY_SLICE_LIT("Tue, 31 Dec 2069 23:59:59 GMT")}};
    r = classify_with(429, future, 1, "");
    int64_t expected = 3155759999LL * 1000 - sy_now_ms();
    assert_true(r.retry_after_ms > expected - 60000 && r.retry_after_ms <= expected + 60000);
    sy_header_t junk[] = {{SY_SLICE_LIT("Retry-After"), SY_SLICE_LIT("soon")}};
    r = classify_with(429, junk, 1, "");
    assert_int_equal(r.retry_after_ms, -1);
}

/* --- the Retry-After parser (registry.c) ------------------------------------------------------------------- */

#define RFC_EXAMPLE_MS (784111777LL * 1000) /* date -u -d "1994-11-06 08:49:37" +%s */

static int64_t ra(const char *v, int64_t now_ms)
{
    return sy_connector_retry_after_ms(sy_slice_cstr(v), now_ms);
}

static void test_retry_after_parser(void **state)
{
    assert_int_equal(ra("0", 0), 0);
    assert_int_equal(ra("120", 0), 120000);
    assert_int_equal(ra(" 3 ", 0), 3000);
    assert_int_equal(ra("999999999999", 0), 999999999999LL * 1000);

    /* The three forms of RFC 9110, 5 s after now. */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS - 5000), 5000);
    assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE_MS - 5000), 5000);
    assert_int_equal(ra("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE_MS - 5000), 5000);
    assert_int_equal(ra("Sun Nov 06 08:49:37 1994", RFC_EXAMPLE_MS - 5000), 5000);
    /* In the past: now. */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS + 1), 0);
    /* Calendar arithmetic: a leap day and a century year (date -u -d ... +%s). */
    assert_int_equal(ra("Thu, 29 Feb 2024 00:00:00 GMT", 0), 1709164800LL * 1000);
    assert_int_equal(ra("Wed, 01 Mar 2000 12:00:00 GMT", 0), 951912000LL * 1000);
    assert_int_equal(ra("Wednesday, 01-Mar-00 12:00:00 GMT", 0), 951912000LL * 1000); /* two-digit year < 70: 20xx */

    static const char *const bad[] = {
        "",
        "soon",
        "-5",
        "1.5",
        "5s",
        "1234567890123", /* 13 digits */
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 30 Feb 2024 00:00:00 GMT",
        "Sun, 29 Feb 2023 00:00:00 GMT",
        "Mon, 29 Feb 2100 00:00:00 GMT", /* not a leap year */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994 GMT",
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        if (ra(bad[i], 0) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_connector_constants(void **state)
{
    assert_int_equal(stripe->max_batch, 1);
    assert_int_equal(stripe->default_rate_count, 25);
    assert_int_equal(stripe->default_rate_window_ms, 1000);
    assert_string_equal(stripe->default_base_url, "https://api.stripe.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_metadata_and_nested),
        cmocka_unit_test(test_update_clear),
        cmocka_unit_test(test_percent_encoding),
        cmocka_unit_test(test_no_idempotency_key),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_checks_fields_first),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_email_among_fields),
        cmocka_unit_test(test_create_without_email),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_metadata_key_count),
        cmocka_unit_test(test_invalid_push),
        cmocka_unit_test(test_classify_success),
        cmocka_unit_test(test_classify_lookup),
        cmocka_unit_test(test_classify_status_classes),
        cmocka_unit_test(test_classify_should_retry),
        cmocka_unit_test(test_classify_retry_after),
        cmocka_unit_test(test_retry_after_parser),
        cmocka_unit_test(test_connector_constants),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
