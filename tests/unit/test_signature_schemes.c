/*
 * connectors/signature_schemes.c: the body-MAC family (GitHub, Intercom, Shopify, QuickBooks) and Standard
 * Webhooks, against the providers' published test vectors (GitHub's docs, the Standard Webhooks reference
 * libraries, RFC 2202 for HMAC-SHA1) and values computed independently with Python's hmac module; then the bad
 * inputs every source must refuse precisely: wrong secret, tampered body, missing, repeated or malformed header,
 * another scheme's prefix, a stale timestamp; and secret rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "signature_schemes.h"

/* GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!". */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY "Hello, World!"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

/* The Standard Webhooks reference vector. */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS "1614265330"
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_NOW_MS (1614265330LL * 1000)

/* python3: hmac.new(b"intercom-client-secret", body, hashlib.sha1).hexdigest() */
#define IC_SECRET "intercom-client-secret"
#define IC_BODY "{\"type\":\"notification_event\",\"topic\":\"contact.user.updated\",\"id\":\"notif_1\"}"
#define IC_SIG "sha1=fdc5a76f9c4614bafc5135ae15a39ae3226922cc"

/* python3: base64.b64encode(hmac.new(b"shopify-app-secret", body, hashlib.sha256).digest()) */
#define SH_SECRET "shopify-app-secret"
#define SH_BODY "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}"
#define SH_SIG "0qOPB+qCuD6PqdjeIalQfDaZqdpEKmDncWovN8XEnt0="

static sy_source_verify_t secrets(const char *a, const char *b)
{
    sy_source_verify_t c = {.tolerance_ms = -1};
    c.secrets[c.num_secrets++] = sy_slice_cstr(a);
    if (b != NULL)
        c.secrets[c.num_secrets++] = sy_slice_cstr(b);
    return c;
}

static sy_request_view_t request(const sy_header_t *h, size_t n, const char *body, int64_t now_ms)
{
    return (sy_request_view_t){.method = SY_SLICE_LIT("POST"), .url = SY_SLICE_LIT("https://hub.example.com/hooks/x"),
                               .headers = h, .num_headers = n, .body = sy_slice_cstr(body), .now_ms = now_ms};
}

static sy_verify_result_t body_mac(const sy_body_mac_scheme_t *scheme, const char *secret, const char *header,
                                   const char *value, const char *body)
{
    sy_source_verify_t c = secrets(secret, NULL);
    sy_header_t h[] = {{SY_SLICE_LIT("Content-Type"), SY_SLICE_LIT("application/json")},
                       {sy_slice_cstr(header), sy_slice_cstr(value != NULL ? value : "")}};
    sy_request_view_t req = request(h, value != NULL ? 2 : 1, body, 0);
    return sy_verify_body_mac(scheme, &c, &req);
}

static void test_hmac_sha1_matches_rfc_2202(void **state)
{
    (void)state;
    unsigned char out[SY_SHA1_LEN];
    char hex[2 * SY_SHA1_LEN + 1];
    sy_slice_t data = SY_SLICE_LIT("what do ya want for nothing?");
    assert_int_equal(sy_hmac_sha1(SY_SLICE_LIT("Jefe"), &data, 1, out), 0);
    sy_hex_encode(out, sizeof(out), hex);
    assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

static void test_published_and_independent_vectors_verify(void **state)
{
    (void)state;
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", GH_SIG, GH_BODY), SY_VERIFY_OK);
    assert_int_equal(body_mac(&sy_scheme_intercom, IC_SECRET, "X-Hub-Signature", IC_SIG, IC_BODY), SY_VERIFY_OK);
    assert_int_equal(body_mac(&sy_scheme_shopify, SH_SECRET, "X-Shopify-Hmac-Sha256", SH_SIG, SH_BODY), SY_VERIFY_OK);
    /* QuickBooks signs the same way as Shopify (base64 HMAC-SHA256 of the body), in its own header. */
    assert_int_equal(body_mac(&sy_scheme_quickbooks, SH_SECRET, "intuit-signature", SH_SIG, SH_BODY), SY_VERIFY_OK);
    /* Header names are case-insensitive; hex may be upper case. */
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "x-hub-signature-256",
                              "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17", GH_BODY),
                     SY_VERIFY_OK);
}

static void test_body_mac_refusals_are_precise(void **state)
{
    (void)state;
    assert_int_equal(body_mac(&sy_scheme_github, "another secret", "X-Hub-Signature-256", GH_SIG, GH_BODY),
                     SY_VERIFY_MISMATCH);
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", GH_SIG, "Hello, World?"),
                     SY_VERIFY_MISMATCH);
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", NULL, GH_BODY),
                     SY_VERIFY_MISSING_HEADER);
    /* GitHub's legacy SHA-1 header value in the SHA-256 header: another scheme, refused as such. */
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", "sha1=0123", GH_BODY),
                     SY_VERIFY_NO_SIGNATURE);
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", "757107ea", GH_BODY),
                     SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(body_mac(&sy_scheme_github, GH_SECRET, "X-Hub-Signature-256", "sha256=75710", GH_BODY),
                     SY_VERIFY_MALFORMED_HEADER); /* truncated */
    assert_int_equal(body_mac(&sy_scheme_shopify, SH_SECRET, "X-Shopify-Hmac-Sha256", "not*base64", SH_BODY),
                     SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(body_mac(&sy_scheme_intercom, "", "X-Hub-Signature", IC_SIG, IC_BODY), SY_VERIFY_NO_SECRET);

    /* A repeated signature header is malformed, whatever its copies say. */
    sy_source_verify_t c = secrets(GH_SECRET, NULL);
    sy_header_t twice[] = {{SY_SLICE_LIT("X-Hub-Signature-256"), SY_SLICE_LIT(GH_SIG)},
                           {SY_SLICE_LIT("X-Hub-Signature-256"), SY_SLICE_LIT(GH_SIG)}};
    sy_request_view_t req = request(twice, 2, GH_BODY, 0);
    assert_int_equal(sy_verify_body_mac(&sy_scheme_github, &c, &req), SY_VERIFY_MALFORMED_HEADER);

    /* Rotation: the new secret first, the old one still accepted. */
    c = secrets("the new secret", GH_SECRET);
    sy_header_t one[] = {{SY_SLICE_LIT("X-Hub-Signature-256"), SY_SLICE_LIT(GH_SIG)}};
    req = request(one, 1, GH_BODY, 0);
    assert_int_equal(sy_verify_body_mac(&sy_scheme_github, &c, &req), SY_VERIFY_OK);
}

static sy_verify_result_t standard(const char *secret, const char *id, const char *ts, const char *sig,
                                   const char *body, int64_t now_ms)
{
    sy_source_verify_t c = secrets(secret, NULL);
    sy_header_t h[3];
    size_t n = 0;
    if (id != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("webhook-id"), sy_slice_cstr(id)};
    if (ts != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("Webhook-Timestamp"), sy_slice_cstr(ts)};
    if (sig != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("webhook-signature"), sy_slice_cstr(sig)};
    sy_request_view_t req = request(h, n, body, now_ms);
    return sy_verify_standard_webhooks(&c, &req);
}

static void test_standard_webhooks_reference_vector_and_refusals(void **state)
{
    (void)state;
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_OK);
    /* Several signatures (a key rotation at the sender): any v1 may match; other versions are skipped. */
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, "v1a,c29tZXRoaW5n v1,bm90IGl0 " SW_SIG, SW_BODY, SW_NOW_MS),
                     SY_VERIFY_OK);
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, "v1a,c29tZXRoaW5n", SW_BODY, SW_NOW_MS), SY_VERIFY_NO_SIGNATURE);
    /* What is signed: the id, the timestamp and the body; change any and it fails. */
    assert_int_equal(standard(SW_SECRET, "msg_other", SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MISMATCH);
    assert_int_equal(standard(SW_SECRET, SW_ID, "1614265331", SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MISMATCH);
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, SW_SIG, "{\"test\": 2432232315}", SW_NOW_MS), SY_VERIFY_MISMATCH);
    assert_int_equal(standard("whsec_c2VjcmV0", SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MISMATCH);
    /* Within 5 minutes either way by default, then refused before any HMAC. */
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS + 300 * 1000), SY_VERIFY_OK);
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS + 301 * 1000),
                     SY_VERIFY_TIMESTAMP_TOLERANCE);
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS - 301 * 1000),
                     SY_VERIFY_TIMESTAMP_TOLERANCE);
    /* Missing and malformed headers. */
    assert_int_equal(standard(SW_SECRET, NULL, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(standard(SW_SECRET, SW_ID, NULL, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(standard(SW_SECRET, SW_ID, SW_TS, NULL, SW_BODY, SW_NOW_MS), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(standard(SW_SECRET, SW_ID, "16142653x0", SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(standard(SW_SECRET, SW_ID, "-1614265330", SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(standard(SW_SECRET, "", SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(standard("", SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW_MS), SY_VERIFY_NO_SECRET);

    /* Rotation on our side: an old and a new secret configured, the request signed with either. */
    sy_source_verify_t c = secrets("whsec_c2VjcmV0", SW_SECRET);
    sy_header_t h[] = {{SY_SLICE_LIT("webhook-id"), SY_SLICE_LIT(SW_ID)},
                       {SY_SLICE_LIT("webhook-timestamp"), SY_SLICE_LIT(SW_TS)},
                       {SY_SLICE_LIT("webhook-signature"), SY_SLICE_LIT(SW_SIG)}};
    sy_request_view_t req = request(h, 3, SW_BODY, SW_NOW_MS);
    assert_int_equal(sy_verify_standard_webhooks(&c, &req), SY_VERIFY_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_sha1_matches_rfc_2202),
        cmocka_unit_test(test_published_and_independent_vectors_verify),
        cmocka_unit_test(test_body_mac_refusals_are_precise),
        cmocka_unit_test(test_standard_webhooks_reference_vector_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
