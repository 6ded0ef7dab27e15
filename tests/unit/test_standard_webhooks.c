/* Unit tests for connectors/standard_webhooks.c: sign -> verify -> parse, and every refusal of parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW_MS 1733500000123LL
#define BODY "{\"type\":\"contact.updated\",\"timestamp\":\"2024-12-06T15:46:40Z\",\"data\":{\"id\":\"ct_1\"}}"

static const sy_connector_t *sw;

static sy_source_verify_t conf1(const char *secret)
{
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = -1};
    c.secrets[0] = sy_slice_cstr(secret);
    return c;
}

static sy_request_view_t view(const sy_header_t *h, size_t n, const char *body, int64_t now_ms)
{
    return (sy_request_view_t){.method = SY_SLICE_LIT("POST"), .url = SY_SLICE_LIT("http://127.0.0.1/hooks/sw"),
                               .headers = h, .num_headers = n, .body = sy_slice_cstr(body), .now_ms = now_ms};
}

static int parse(const sy_request_view_t *req, sy_event_ref_t *ev, const char **errmsg)
{
    sy_json_t json;
    size_t n = 0;
    sy_json_init(&json, 256, 32);
    int rc = sw->parse(&json, req, ev, 1, &n, errmsg);
    sy_json_dispose(&json);
    assert_int_equal(n, rc == 0 ? 1 : 0);
    return rc;
}

static void test_registered(void **state)
{
    (void)state;
    sw = sy_connector_find("standard_webhooks");
    assert_non_null(sw);
    assert_null(sw->encode_push); /* inbound only */
    assert_int_equal(sw->default_tolerance_ms, 5 * 60 * 1000);
}

static void test_sign_verify_parse_round_trip(void **state)
{
    (void)state;
    sy_source_verify_t c = conf1(SECRET);
    sy_header_t h[4];
    size_t nh = 4;
    char buf[512];
    sy_request_view_t req = view(NULL, 0, BODY, NOW_MS);
    assert_int_equal(sw->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
    assert_int_equal(nh, 3);
    assert_true(sy_slice_eq_cstr(h[1].value, "1733500000"));
    assert_int_equal(h[0].value.len, 28);
    assert_memory_equal(h[0].value.base, "msg_", 4);
    req = view(h, nh, BODY, NOW_MS);
    assert_int_equal(sw->verify(&c, &req), SY_VERIFY_OK);

    sy_event_ref_t ev;
    const char *err = NULL;
    assert_int_equal(parse(&req, &ev, &err), 0);
    assert_true(ev.id.base == h[0].value.base && ev.id.len == 28); /* the id is the header's bytes */
    assert_true(sy_slice_eq_cstr(ev.type, "contact.updated"));
    assert_int_equal(ev.occurred_at_ms, 1733500000000LL);
    assert_int_equal(ev.raw.len, strlen(BODY));

    /* Another secret does not verify; a body signed for one id does not verify under another. */
    sy_source_verify_t other = conf1("whsec_b3RoZXIta2V5LTAxMjM0NTY3");
    assert_int_equal(sw->verify(&other, &req), SY_VERIFY_MISMATCH);
    /* Too small a buffer or header array is SY_ETOOBIG, not a truncated header. */
    nh = 2;
    assert_int_equal(sw->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), SY_ETOOBIG);
    nh = 3;
    assert_int_equal(sw->sign(&c, c.secrets[0], &req, h, &nh, buf, 40), SY_ETOOBIG);
}

static void expect_refused(const char *id, const char *body, const char *msg)
{
    sy_header_t h[2] = {{SY_SLICE_LIT("webhook-timestamp"), SY_SLICE_LIT("1733500000")}};
    size_t n = 1;
    if (id != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("Webhook-Id"), sy_slice_cstr(id)};
    sy_request_view_t req = view(h, n, body, NOW_MS);
    sy_event_ref_t ev;
    const char *err = NULL;
    assert_int_equal(parse(&req, &ev, &err), SY_EPARSE);
    assert_string_equal(err, msg);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    expect_refused("msg_1", "[1]", "body is not a JSON object");
    expect_refused(NULL, BODY, "no webhook-id header");
    expect_refused("msg 1", BODY, "webhook-id must be 1 to 255 visible ASCII characters, given once");
    expect_refused("", BODY, "webhook-id must be 1 to 255 visible ASCII characters, given once");
    expect_refused("msg_1", "{\"data\":{}}", "event has no type member");
    expect_refused("msg_1", "{\"type\":7}", "event type must be a string of 1 to 127 bytes without escapes");
    expect_refused("msg_1", "{\"type\":\"\"}", "event type must be a string of 1 to 127 bytes without escapes");
    expect_refused("msg_1", "{\"type\":\"a\\u002eb\"}", "event type must be a string of 1 to 127 bytes without escapes");
    char longtype[200];
    snprintf(longtype, sizeof(longtype), "{\"type\":\"%0128d\"}", 0);
    expect_refused("msg_1", longtype, "event type must be a string of 1 to 127 bytes without escapes");
    char longid[300];
    memset(longid, 'a', 256);
    longid[256] = '\0';
    expect_refused(longid, BODY, "webhook-id must be 1 to 255 visible ASCII characters, given once");
}

static void test_samples_are_realistic(void **state)
{
    (void)state;
    for (const char *const *t = sw->sample_types; *t != NULL; ++t) {
        char *body = sw->sample(*t, NOW_MS);
        assert_non_null(body);
        sy_source_verify_t c = conf1(SECRET);
        sy_header_t h[3];
        size_t nh = 3;
        char buf[512];
        sy_request_view_t req = view(NULL, 0, body, NOW_MS);
        assert_int_equal(sw->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
        req = view(h, nh, body, NOW_MS);
        assert_int_equal(sw->verify(&c, &req), SY_VERIFY_OK);
        sy_event_ref_t ev;
        const char *err = NULL;
        assert_int_equal(parse(&req, &ev, &err), 0);
        assert_true(sy_slice_eq_cstr(ev.type, *t));
        assert_non_null(strstr(body, "\"timestamp\":\"2024-12-06T15:46:40.123Z\""));
        free(body);
    }
    assert_null(sw->sample("no.such.type", NOW_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_sign_verify_parse_round_trip),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_samples_are_realistic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
