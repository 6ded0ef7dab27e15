/* Unit tests for connectors/github.c: sign -> verify -> parse, the type made of header + action, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

#define SECRET "It's a Secret to Everybody"
#define DELIVERY "72d3162e-cc78-11e3-81ab-4c9367dc0958"

static const sy_connector_t *gh;

static sy_request_view_t view(const sy_header_t *h, size_t n, const char *body)
{
    return (sy_request_view_t){.method = SY_SLICE_LIT("POST"), .url = SY_SLICE_LIT("http://127.0.0.1/hooks/gh"),
                               .headers = h, .num_headers = n, .body = sy_slice_cstr(body), .now_ms = 1};
}

/* Parses body with X-GitHub-Event: event (NULL: absent) and the delivery id; returns rc, *type the type read. */
static int parse_with(const char *event, const char *delivery, const char *body, char *type, const char **err)
{
    sy_header_t h[2];
    size_t n = 0;
    if (event != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("x-github-event"), sy_slice_cstr(event)};
    if (delivery != NULL)
        h[n++] = (sy_header_t){SY_SLICE_LIT("X-GitHub-Delivery"), sy_slice_cstr(delivery)};
    sy_request_view_t req = view(h, n, body);
    sy_json_t json;
    sy_event_ref_t ev;
    size_t num = 0;
    sy_json_init(&json, 256, 32);
    int rc = gh->parse(&json, &req, &ev, 1, &num, err);
    sy_json_dispose(&json);
    if (rc == 0) {
        assert_int_equal(num, 1);
        assert_true(sy_slice_eq_cstr(ev.id, delivery));
        assert_int_equal(ev.occurred_at_ms, 0);
        snprintf(type, 128, "%.*s", (int)ev.type.len, ev.type.base);
    }
    return rc;
}

static void test_registered_inbound_only(void **state)
{
    (void)state;
    gh = sy_connector_find("github");
    assert_non_null(gh);
    assert_null(gh->encode_push);
    assert_null(gh->classify);
}

static void test_types_from_header_and_action(void **state)
{
    (void)state;
    char type[128];
    const char *err = NULL;
    assert_int_equal(parse_with("issues", DELIVERY, "{\"action\":\"opened\",\"issue\":{}}", type, &err), 0);
    assert_string_equal(type, "issues.opened");
    assert_int_equal(parse_with("push", DELIVERY, "{\"ref\":\"refs/heads/main\"}", type, &err), 0);
    assert_string_equal(type, "push");
    /* A second parse on the thread reuses the buffer: the first type must have been copied by then (ingress does). */
    assert_int_equal(parse_with("pull_request_review", DELIVERY, "{\"action\":\"submitted\"}", type, &err), 0);
    assert_string_equal(type, "pull_request_review.submitted");
}

static void expect_refused(const char *event, const char *delivery, const char *body, const char *msg)
{
    char type[128];
    const char *err = NULL;
    assert_int_equal(parse_with(event, delivery, body, type, &err), SY_EPARSE);
    assert_string_equal(err, msg);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    expect_refused("push", DELIVERY, "payload=%7B%7D",
                   "body is not valid JSON");
    expect_refused("push", DELIVERY, "[]", "body is not a JSON object (set the hook's content type to application/json)");
    expect_refused("push", NULL, "{}", "no X-GitHub-Delivery header");
    expect_refused(NULL, DELIVERY, "{}", "no X-GitHub-Event header");
    expect_refused("Issues", DELIVERY, "{}", "X-GitHub-Event must be one event name of [a-z0-9_], given once");
    expect_refused("issues.opened", DELIVERY, "{}", "X-GitHub-Event must be one event name of [a-z0-9_], given once");
    expect_refused("issues", DELIVERY, "{\"action\":\"re opened\"}",
                   "the body's action is not a word of [a-z0-9_] of at most 62 characters");
    expect_refused("issues", DELIVERY, "{\"action\":1}",
                   "the body's action is not a word of [a-z0-9_] of at most 62 characters");
    char body[200];
    snprintf(body, sizeof(body), "{\"action\":\"%063d\"}", 0);
    expect_refused("issues", DELIVERY, body, "the body's action is not a word of [a-z0-9_] of at most 62 characters");
}

static void test_samples_sign_verify_parse(void **state)
{
    (void)state;
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = -1};
    c.secrets[0] = SY_SLICE_LIT(SECRET);
    for (const char *const *t = gh->sample_types; *t != NULL; ++t) {
        char *body = gh->sample(*t, 1733500000000LL);
        assert_non_null(body);
        sy_header_t h[3];
        size_t nh = 3;
        char buf[256];
        sy_request_view_t req = view(NULL, 0, body);
        assert_int_equal(gh->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
        req = view(h, nh, body);
        assert_int_equal(gh->verify(&c, &req), SY_VERIFY_OK);
        sy_json_t json;
        sy_event_ref_t ev;
        size_t num;
        const char *err = NULL;
        sy_json_init(&json, 512, 32);
        assert_int_equal(gh->parse(&json, &req, &ev, 1, &num, &err), 0);
        sy_json_dispose(&json);
        assert_true(sy_slice_eq_cstr(ev.type, *t)); /* sign inferred the event header the sample needs */
        assert_int_equal(ev.id.len, 36);
        free(body);
    }
    /* GitHub's documented vector, signed by sign: the same header value. */
    sy_header_t h[3];
    size_t nh = 3;
    char buf[256];
    sy_request_view_t req = view(NULL, 0, "Hello, World!");
    assert_int_equal(gh->sign(&c, c.secrets[0], &req, h, &nh, buf, sizeof(buf)), 0);
    assert_true(sy_slice_eq_cstr(h[0].value, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_inbound_only),
        cmocka_unit_test(test_types_from_header_and_action),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_samples_sign_verify_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
