/* Unit tests for connectors/shopify.c: sign -> verify -> parse, ids/topic/time from headers, RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"
#include "header_event.h"

#define SECRET "shopify-app-secret"

static const sy_connector_t *sh;

static sy_request_view_t view(const sy_header_t *h, size_t n, const char *body)
{
    return (sy_request_view_t){.method = SY_SLICE_LIT("POST"), .url = SY_SLICE_LIT("http://127.0.0.1/hooks/sh"),
                               .headers = h, .num_headers = n, .body = sy_slice_cstr(body), .now_ms = 1};
}

static int parse(const sy_header_t *h, size_t n, const char *body, sy_event_ref_t *ev, const char **err)
{
    sy_request_view_t req = view(h, n, body);
    sy_json_t json;
    size_t num = 0;
    sy_json_init(&json, 256, 32);
    int rc = sh->parse(&json, &req, ev, 1, &num, err);
    sy_json_dispose(&json);
    return rc;
}

static void test_registered_inbound_only(void **state)
{
    (void)state;
    sh = sy_connector_find("shopify");
    assert_non_null(sh);
    assert_null(sh->encode_push);
}

static int64_t t(const char *s)
{
    int64_t ms = -1;
    return sy_rfc3339_ms(sy_slice_cstr(s), &ms) == 0 ? ms : -1;
}

static void test_rfc3339(void **state)
{
    (void)state;
    assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(t("2024-12-06T15:46:40Z"), 1733500000000LL);
    assert_int_equal(t("2024-12-06T15:46:40.877041743Z"), 1733500000877LL);
    assert_int_equal(t("2024-12-06T15:46:40.5Z"), 1733500000500LL);
    assert_int_equal(t("2024-12-06T17:46:40+02:00"), 1733500000000LL);
    assert_int_equal(t("2024-12-06T10:46:40-05:00"), 1733500000000LL);
    assert_int_equal(t("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(t("2023-02-29T00:00:00Z"), -1);
    assert_int_equal(t("2024-12-06T15:46:40"), -1); /* no offset */
    assert_int_equal(t("2024-12-06 15:46:40Z"), -1);
    assert_int_equal(t("2024-12-06T15:46:40.Z"), -1);
    assert_int_equal(t("2024-13-06T15:46:40Z"), -1);
    assert_int_equal(t("2024-12-06T24:00:00Z"), -1);
    assert_int_equal(t("2024-12-06T15:46:40Zjunk"), -1);
    char out[25];
    sy_rfc3339_format(1733500000877LL, out);
    assert_string_equal(out, "2024-12-06T15:46:40.877Z");
}

static void test_parse_headers(void **state)
{
    (void)state;
    sy_event_ref_t ev;
    const char *err = NULL;
    sy_header_t h[] = {{SY_SLICE_LIT("x-shopify-topic"), SY_SLICE_LIT("customers/update")},
                       {SY_SLICE_LIT("X-Shopify-Webhook-Id"), SY_SLICE_LIT("wh-1")},
                       {SY_SLICE_LIT("X-Shopify-Event-Id"), SY_SLICE_LIT("ev-1")},
                       {SY_SLICE_LIT("X-Shopify-Triggered-At"), SY_SLICE_LIT("2024-12-06T15:46:40.001Z")}};
    assert_int_equal(parse(h, 4, "{\"id\":1}", &ev, &err), 0);
    assert_true(sy_slice_eq_cstr(ev.id, "ev-1")); /* the event id wins over the webhook id */
    assert_true(sy_slice_eq_cstr(ev.type, "customers/update"));
    assert_int_equal(ev.occurred_at_ms, 1733500000001LL);
    assert_int_equal(parse(h, 2, "{\"id\":1}", &ev, &err), 0);
    assert_true(sy_slice_eq_cstr(ev.id, "wh-1"));
    assert_int_equal(ev.occurred_at_ms, 0);

    assert_int_equal(parse(h, 1, "{}", &ev, &err), SY_EPARSE);
    assert_string_equal(err, "no X-Shopify-Event-Id (or X-Shopify-Webhook-Id) header");
    sy_header_t twice[] = {h[0], h[2], h[2]};
    assert_int_equal(parse(twice, 3, "{}", &ev, &err), SY_EPARSE);
    assert_string_equal(err, "the Shopify event id must be 1 to 255 visible ASCII characters, given once");
    sy_header_t bad_topic[] = {{SY_SLICE_LIT("X-Shopify-Topic"), SY_SLICE_LIT("Customers/Update")}, h[2]};
    assert_int_equal(parse(bad_topic, 2, "{}", &ev, &err), SY_EPARSE);
    assert_string_equal(err, "X-Shopify-Topic must be one topic of [a-z0-9_/], given once");
    assert_int_equal(parse(h, 4, "[]", &ev, &err), SY_EPARSE);
    assert_string_equal(err, "body is not a JSON object");
}

static void test_samples_sign_verify_parse(void **state)
{
    (void)state;
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = -1};
    c.secrets[0] = SY_SLICE_LIT(SECRET);
    for (const char *const *ty = sh->sample_types; *ty != NULL; ++ty) {
        char *body = sh->sample(*ty, 1733500000877LL);
        assert_non_null(body);
        sy_header_t h[4];
        size_t nh = 4;
        char buf[256];
        sy_request_view_t req = view(NULL, 0, body);
        req.now_ms = 1733500000877LL;
        assert_int_equal(sh->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
        assert_int_equal(nh, 4);
        req = view(h, nh, body);
        assert_int_equal(sh->verify(&c, &req), SY_VERIFY_OK);
        sy_event_ref_t ev;
        const char *err = NULL;
        assert_int_equal(parse(h, nh, body, &ev, &err), 0);
        assert_true(sy_slice_eq_cstr(ev.type, *ty)); /* the topic sign inferred from the resource */
        assert_int_equal(ev.occurred_at_ms, 1733500000877LL);
        free(body);
    }
    /* The independent vector of test_signature_schemes.c, made by sign. */
    sy_header_t h[4];
    size_t nh = 4;
    char buf[256];
    sy_request_view_t req = view(NULL, 0, "{\"id\":820982911946154508,\"email\":\"jon@example.com\"}");
    assert_int_equal(sh->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
    assert_true(sy_slice_eq_cstr(h[0].value, "0qOPB+qCuD6PqdjeIalQfDaZqdpEKmDncWovN8XEnt0="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_inbound_only),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_parse_headers),
        cmocka_unit_test(test_samples_sign_verify_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
