/*
 * Every answer of POST /hooks/{source} on the real binary: 404, 405 (+Allow), 413, each 401 check, 400,
 * 200 and the duplicate 200, in the documented order of checks; rejected requests store nothing.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "crypto.h"

#define MAX_BODY 65536 /* ingress.max_body: 64KiB in the harness config */

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* Lower-case hex HMAC-SHA256(secret, "<t>.<body>"), computed here, not by the connector. */
static void stripe_v1_hex(const char *secret, int64_t t, const char *body, size_t len, char hex[2 * SY_SHA256_LEN + 1])
{
    unsigned char mac[SY_SHA256_LEN];
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", (long long)t);
    sy_slice_t parts[] = {sy_slice_cstr(ts), SY_SLICE_LIT("."), {body, len}};
    assert_int_equal(sy_hmac_sha256(sy_slice_cstr(secret), parts, SY_ARRAY_SIZE(parts), mac), 0);
    sy_hex_encode(mac, sizeof(mac), hex);
}

static void post_with_signature(sy_it_t *h, const char *sig, const char *body, size_t len, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    if (sig != NULL)
        sy_it_headers_add(&hd, "Stripe-Signature", sig);
    sy_it_post(h, "/hooks/stripe", &hd, body, len, res);
    sy_it_headers_dispose(&hd);
}

/* Asserts a 401 naming check, with a message, and leaking neither a secret nor the expected signature. */
static void assert_401(const sy_it_response_t *res, const char *check, const char *expected_sig)
{
    static const char *const forbidden[] = {SY_IT_STRIPE_SECRET_A, SY_IT_STRIPE_SECRET_B, SY_IT_HUBSPOT_SECRET, "whsec_"};
    const char *got;
    sy_it_assert_error(res, 401, "signature_invalid");
    got = json_string_value(json_object_get(res->json, "check"));
    if (got == NULL || strcmp(got, check) != 0) {
        sy_it_dump_response("wrong 401 check", res);
        fail_msg("expected \"check\":\"%s\"", check);
    }
    assert_true(json_is_string(json_object_get(res->json, "message")));
    for (size_t i = 0; i != SY_ARRAY_SIZE(forbidden); ++i) {
        if (strstr(res->body, forbidden[i]) != NULL) {
            sy_it_dump_response("401 leaks a secret", res);
            fail_msg("401 body contains \"%s\"", forbidden[i]);
        }
    }
    if (expected_sig != NULL && strstr(res->body, expected_sig) != NULL) {
        sy_it_dump_response("401 leaks the expected signature", res);
        fail_msg("401 body contains the valid signature");
    }
}

/* 404 (unknown source, other paths), 405 (+Allow), 413, the exact max_body accepted, order of checks. */
static void test_route_method_size(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    size_t len, big_len;
    char *body = sy_it_stripe_event(h, "evt_route_1", "customer.updated", sy_now_ms() / 1000, 0, &len), *big;
    static const char *const other_paths[] = {"/hooks/nope",         "/other",       "/", "/hooks", "/hooks/",
                                              "/hooks/stripe/extra", "/HOOKS/stripe"};

    sy_it_start(h);
    sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, body, len, sy_now_ms() / 1000);
    for (size_t i = 0; i != SY_ARRAY_SIZE(other_paths); ++i) {
        sy_it_post(h, other_paths[i], &hd, body, len, &res);
        print_message("POST %s -> %ld\n", other_paths[i], res.status);
        sy_it_assert_error(&res, 404, "not_found");
        sy_it_response_dispose(&res);
    }
    /* route before method: an unknown source answers 404 whatever the method */
    assert_int_equal(sy_it_request(h, h->ingress_port, "GET", "/hooks/nope", NULL, NULL, 0, &res), 0);
    sy_it_assert_error(&res, 404, "not_found");
    sy_it_response_dispose(&res);

    static const char *const methods[] = {"GET", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(methods); ++i) {
        int with_body = strcmp(methods[i], "PUT") == 0 || strcmp(methods[i], "PATCH") == 0;
        assert_int_equal(
            sy_it_request(h, h->ingress_port, methods[i], "/hooks/stripe", &hd, with_body ? body : NULL, with_body ? len : 0, &res),
            0);
        sy_it_assert_error(&res, 405, NULL);
        if (strstr(res.allow, "POST") == NULL) {
            sy_it_dump_response("405 without Allow: POST", &res);
            fail_msg("%s /hooks/stripe: expected an Allow header naming POST", methods[i]);
        }
        sy_it_response_dispose(&res);
    }
    sy_it_headers_dispose(&hd);

    /* one byte over max_body: 413, also when unsigned (size is checked before the signature) */
    big = sy_it_stripe_event(h, "evt_big_over", "customer.updated", sy_now_ms() / 1000, MAX_BODY + 1, &big_len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, big, big_len, &res);
    sy_it_assert_error(&res, 413, res.json != NULL ? "body_too_large" : NULL);
    sy_it_response_dispose(&res);
    post_with_signature(h, NULL, big, big_len, &res);
    sy_it_assert_error(&res, 413, res.json != NULL ? "body_too_large" : NULL);
    sy_it_response_dispose(&res);
    /* far over: H2O may answer itself, still 413 */
    big = sy_it_stripe_event(h, "evt_big_far", "customer.updated", sy_now_ms() / 1000, 4 * MAX_BODY, &big_len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, big, big_len, &res);
    sy_it_assert_error(&res, 413, NULL);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), 0);

    /* exactly max_body is allowed */
    big = sy_it_stripe_event(h, "evt_big_exact", "customer.updated", sy_now_ms() / 1000, MAX_BODY, &big_len);
    assert_int_equal(big_len, MAX_BODY);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, big, big_len, &res);
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    assert_int_equal(sy_it_log_count(h), 1);

    sy_it_pass(h);
}

/* Each 401 check, then the rotated secret, several v1 and an independently computed signature. */
static void test_signature_checks(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    int64_t now = sy_now_ms() / 1000;
    size_t len;
    char *body = sy_it_stripe_event(h, "evt_sig_1", "customer.updated", now, 0, &len);
    char good[2 * SY_SHA256_LEN + 1], wrong[2 * SY_SHA256_LEN + 1], sig[512];
    json_int_t seq;

    sy_it_start(h);
    stripe_v1_hex(SY_IT_STRIPE_SECRET_A, now, body, len, good);
    stripe_v1_hex("whsec_wrong", now, body, len, wrong);

    post_with_signature(h, NULL, body, len, &res);
    assert_401(&res, "missing_header", good);
    sy_it_response_dispose(&res);

    /* 401 comes before 400: a non-JSON body without signature is a missing header */
    post_with_signature(h, NULL, "not json", 8, &res);
    assert_401(&res, "missing_header", NULL);
    sy_it_response_dispose(&res);

    /* no t; t not a number; a header cut right after "v1="; an empty t */
    static const char *const malformed[] = {"garbage", "t=abc,v1=%s", "t=%lld,v1=", "t=,v1=%s"};
    for (size_t i = 0; i != SY_ARRAY_SIZE(malformed); ++i) {
        if (i == 2)
            snprintf(sig, sizeof(sig), malformed[i], (long long)now);
        else
            snprintf(sig, sizeof(sig), malformed[i], good);
        print_message("Stripe-Signature: %s\n", sig);
        post_with_signature(h, sig, body, len, &res);
        assert_401(&res, "malformed_header", good);
        sy_it_response_dispose(&res);
    }

    snprintf(sig, sizeof(sig), "t=%lld,v0=%s", (long long)now, good); /* v0 is a downgrade, never accepted */
    post_with_signature(h, sig, body, len, &res);
    assert_401(&res, "no_signature", good);
    sy_it_response_dispose(&res);

    static const int64_t skews[] = {-3600, +3600, -301 - 60, +301 + 60};
    for (size_t i = 0; i != SY_ARRAY_SIZE(skews); ++i) {
        char hex[2 * SY_SHA256_LEN + 1];
        stripe_v1_hex(SY_IT_STRIPE_SECRET_A, now + skews[i], body, len, hex);
        snprintf(sig, sizeof(sig), "t=%lld,v1=%s", (long long)(now + skews[i]), hex);
        post_with_signature(h, sig, body, len, &res);
        assert_401(&res, "timestamp_tolerance", good);
        sy_it_response_dispose(&res);
    }

    sy_it_sign_stripe(&hd, "whsec_wrong", body, len, now);
    sy_it_post(h, "/hooks/stripe", &hd, body, len, &res);
    sy_it_headers_dispose(&hd);
    assert_401(&res, "mismatch", good);
    sy_it_response_dispose(&res);

    /* signature of another body */
    snprintf(sig, sizeof(sig), "t=%lld,v1=%s", (long long)now, good);
    body[len - 2] = ' ';
    post_with_signature(h, sig, body, len, &res);
    body[len - 2] = '}';
    assert_401(&res, "mismatch", good);
    sy_it_response_dispose(&res);

    assert_int_equal(sy_it_log_count(h), 0);

    /* the independently computed signature is accepted */
    post_with_signature(h, sig, body, len, &res);
    seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);

    /* rotation: the second configured secret verifies too */
    body = sy_it_stripe_event(h, "evt_sig_rotated", "customer.updated", now, 0, &len);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_B, body, len, &res);
    assert_true(sy_it_assert_stored(&res, 0) > seq);
    sy_it_response_dispose(&res);

    /* several v1 (the provider's own rotation): one matching is enough */
    body = sy_it_stripe_event(h, "evt_sig_multi", "customer.updated", now, 0, &len);
    stripe_v1_hex("whsec_wrong", now, body, len, wrong);
    stripe_v1_hex(SY_IT_STRIPE_SECRET_B, now, body, len, good);
    snprintf(sig, sizeof(sig), "t=%lld,v1=%s,v1=%s,v0=%s", (long long)now, wrong, good, wrong);
    post_with_signature(h, sig, body, len, &res);
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);

    assert_int_equal(sy_it_log_count(h), 3);
    sy_it_pass(h);
}

/* 400 for bodies that verify but are not a usable event; nothing stored. */
static void test_bad_request(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    char long_id[512];
    static const char *const bodies[] = {
        "not json",
        "{\"id\":\"evt_trunc\",\"type\":\"customer.updated\"",
        "{\"object\":\"event\",\"type\":\"customer.updated\",\"created\":1700000000}",
        "{\"id\":\"evt_trailing\",\"type\":\"customer.updated\",\"created\":1700000000} x",
        "[{\"id\":\"evt_in_array\",\"type\":\"customer.updated\"}]",
        "\"evt_string\"",
        "",
    };

    size_t failures = 0;

    sy_it_start(h);
    /* an event id over SY_EVENT_ID_MAX (255) */
    snprintf(long_id, sizeof(long_id), "{\"id\":\"evt_%0300d\",\"type\":\"customer.updated\",\"created\":1700000000}", 7);
    for (size_t i = 0; i <= SY_ARRAY_SIZE(bodies); ++i) { /* all cases first, then one verdict */
        const char *body = i < SY_ARRAY_SIZE(bodies) ? bodies[i] : long_id;
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, strlen(body), &res);
        if (res.status != 400 || !json_is_string(json_object_get(res.json, "message")) ||
            !json_is_string(json_object_get(res.json, "error")) ||
            strcmp(json_string_value(json_object_get(res.json, "error")), "bad_request") != 0) {
            print_error("body %.80s:\n", body);
            sy_it_dump_response("expected 400 {\"error\":\"bad_request\",\"message\":...} (valid JSON)", &res);
            ++failures;
        }
        sy_it_response_dispose(&res);
    }
    assert_int_equal(sy_it_log_count(h), 0);
    if (failures != 0)
        fail_msg("%zu bodies not answered with a valid 400 bad_request", failures);
    sy_it_pass(h);
}

static void assert_raw(sy_it_t *h, json_int_t seq, const char *body, size_t len)
{
    char s[32];
    sy_it_output_t o;
    snprintf(s, sizeof(s), "%lld", (long long)seq);
    sy_it_cli(h, &o, "log", "show", s, "--raw", NULL);
    assert_int_equal(o.status, 0);
    if (o.out_len != len || memcmp(o.out, body, len) != 0) {
        print_error("log show %s --raw gave %zu bytes:\n%s\nexpected %zu bytes:\n%s\n", s, o.out_len, o.out, len, body);
        sy_it_output_dispose(&o);
        fail_msg("raw body differs");
    }
    sy_it_output_dispose(&o);
}

/* 200, then retries of the same event id answer the first seq with duplicate:true and store nothing. */
static void test_store_and_duplicate(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    int64_t now = sy_now_ms() / 1000;
    size_t len, len2;
    char *body = sy_it_stripe_event(h, "evt_dup_1", "customer.updated", now, 0, &len);
    char *again = sy_it_stripe_event(h, "evt_dup_1", "customer.updated", now, 700, &len2);
    json_int_t first, second;
    json_t *shown, *stats;

    sy_it_start(h);
    sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, body, len, now);
    sy_it_post(h, "/hooks/stripe", &hd, body, len, &res);
    first = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);

    /* the very same request again */
    sy_it_post(h, "/hooks/stripe", &hd, body, len, &res);
    assert_int_equal(sy_it_assert_stored(&res, 1), first);
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&hd);

    /* a later retry, other secret, other bytes, same id */
    sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_B, again, len2, now + 5);
    sy_it_post(h, "/hooks/stripe", &hd, again, len2, &res);
    assert_int_equal(sy_it_assert_stored(&res, 1), first);
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&hd);

    again = sy_it_stripe_event(h, "evt_dup_2", "customer.created", now, 0, &len2);
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, again, len2, &res);
    second = sy_it_assert_stored(&res, 0);
    assert_true(second > first);
    sy_it_response_dispose(&res);

    stats = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(stats, "events")), 2);
    assert_int_equal(json_integer_value(json_object_get(stats, "last_seq")), second);
    json_t *src = json_object_get(json_object_get(stats, "by_source"), "stripe");
    assert_int_equal(json_integer_value(json_object_get(src, "events")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(src, "types"), "customer.updated")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(src, "types"), "customer.created")), 1);

    shown = sy_it_log_show(h, first);
    assert_string_equal(json_string_value(json_object_get(shown, "event_id")), "evt_dup_1");
    assert_string_equal(json_string_value(json_object_get(shown, "source")), "stripe");
    assert_int_equal(json_integer_value(json_object_get(shown, "seq")), first);
    assert_raw(h, first, body, len); /* the first body, not a retry's */
    assert_raw(h, second, again, len2);

    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_route_method_size, teardown),
        cmocka_unit_test_teardown(test_signature_checks, teardown),
        cmocka_unit_test_teardown(test_bad_request, teardown),
        cmocka_unit_test_teardown(test_store_and_duplicate, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
