/*
 * Unit tests for the inbound half of connectors/intercom.c: sign → verify round trips (and against a Python-computed
 * signature), parse of the notification envelope and its edge cases, the samples, and the api_version option.
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

#define SECRET "intercom-client-secret"
/* python3 -c 'import hmac,hashlib; print(hmac.new(b"intercom-client-secret", b"{\"id\":\"notif_1\",\"topic\":"
 *   b"\"ping\"}", hashlib.sha1).hexdigest())' */
#define PING_BODY "{\"id\":\"notif_1\",\"topic\":\"ping\"}"
#define PING_SIG "sha1=72618d3351c727983e565d56b200d328474c3287"

static const sy_connector_t *intercom;

static int setup(void **state)
{
    intercom = sy_connector_find("intercom");
    return intercom == NULL;
}

typedef struct st_req_t {
    sy_header_t h[4];
    sy_request_view_t view;
} req_t;

static void req_init(req_t *r, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->view = (sy_request_view_t){.method = SY_SLICE_LIT("POST"),
                                  .url = SY_SLICE_LIT("http://127.0.0.1/hooks/intercom"),
                                  .headers = r->h,
                                  .body = sy_slice_cstr(body),
                                  .now_ms = 1733500000000LL};
}

static sy_source_verify_t conf_of(const char *secret)
{
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = -1};
    c.secrets[0] = sy_slice_cstr(secret);
    return c;
}

static void test_role_and_limits(void **state)
{
    assert_int_equal(intercom->role, SY_ROLE_SUPPORT);
    assert_int_equal(intercom->max_batch, 1);
    /* 10,000 calls a minute, in 10-second windows of a sixth each */
    assert_int_equal(intercom->default_rate_count, 1666);
    assert_int_equal(intercom->default_rate_window_ms, 10000);
    assert_string_equal(intercom->default_base_url, "https://api.intercom.io");
    assert_string_equal(intercom->scheme(NULL), "intercom-sha1");
}

static void test_sign_verify_round_trip(void **state)
{
    sy_source_verify_t c = conf_of(SECRET);
    req_t r;
    char buf[128];
    size_t n = 4;
    req_init(&r, "{\"id\":\"notif_x\",\"topic\":\"contact.user.updated\",\"created_at\":1}");
    assert_int_equal(intercom->sign(&c, c.secrets[0], &r.view, r.h, &n, buf, sizeof(buf)), 0);
    assert_int_equal(n, 1);
    assert_true(sy_slice_eq_cstr(r.h[0].name, "X-Hub-Signature"));
    assert_int_equal(r.h[0].value.len, 5 + 40);
    assert_memory_equal(r.h[0].value.base, "sha1=", 5);
    r.view.num_headers = 1;
    assert_int_equal(intercom->verify(&c, &r.view), SY_VERIFY_OK);

    /* nothing dated is signed: the same request a year later still verifies (dedupe stops the replay) */
    r.view.now_ms += 365LL * 86400 * 1000;
    assert_int_equal(intercom->verify(&c, &r.view), SY_VERIFY_OK);

    sy_source_verify_t other = conf_of("another-secret");
    assert_int_equal(intercom->verify(&other, &r.view), SY_VERIFY_MISMATCH);

    /* a buffer or header array too small */
    n = 0;
    assert_int_equal(intercom->sign(&c, c.secrets[0], &r.view, r.h, &n, buf, sizeof(buf)), SY_ETOOBIG);
    n = 1;
    assert_int_equal(intercom->sign(&c, c.secrets[0], &r.view, r.h, &n, buf, 40), SY_ETOOBIG);
}

static void test_verify_python_vector(void **state)
{
    sy_source_verify_t c = conf_of(SECRET);
    req_t r;
    char buf[128];
    size_t n = 1;
    req_init(&r, PING_BODY);
    assert_int_equal(intercom->sign(&c, c.secrets[0], &r.view, r.h, &n, buf, sizeof(buf)), 0);
    assert_int_equal(r.h[0].value.len, strlen(PING_SIG));
    assert_memory_equal(r.h[0].value.base, PING_SIG, strlen(PING_SIG));
    r.view.num_headers = 1;
    assert_int_equal(intercom->verify(&c, &r.view), SY_VERIFY_OK);

    /* upper-case hex is the same signature; a repeated header is malformed whatever its copies say */
    char upper[64];
    snprintf(upper, sizeof(upper), "sha1=%s", PING_SIG + 5);
    for (char *p = upper + 5; *p != '\0'; ++p)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    r.h[0].value = sy_slice_cstr(upper);
    assert_int_equal(intercom->verify(&c, &r.view), SY_VERIFY_OK);
    r.h[1] = r.h[0];
    r.view.num_headers = 2;
    assert_int_equal(intercom->verify(&c, &r.view), SY_VERIFY_MALFORMED_HEADER);

    sy_source_verify_t none = {.num_secrets = 0};
    r.view.num_headers = 1;
    assert_int_equal(intercom->verify(&none, &r.view), SY_VERIFY_NO_SECRET);
}

static int parse(const char *body, sy_event_ref_t *ev, const char **err)
{
    sy_json_t json;
    sy_json_init(&json, 1000, 32);
    req_t r;
    size_t n = 99;
    req_init(&r, body);
    *err = NULL;
    int rc = intercom->parse(&json, &r.view, ev, 1, &n, err);
    assert_int_equal(n, rc == 0 ? 1 : 0);
    sy_json_dispose(&json);
    return rc;
}

static void expect_refused(const char *body, const char *sentence)
{
    sy_event_ref_t ev;
    const char *err;
    assert_int_equal(parse(body, &ev, &err), SY_EPARSE);
    assert_non_null(err);
    assert_string_equal(err, sentence);
}

static void test_parse_envelope(void **state)
{
    static const char body[] = "{\"type\":\"notification_event\",\"app_id\":\"abc\",\"id\":\"notif_9\",\"topic\":"
                               "\"conversation.user.created\",\"created_at\":1733500000,\"data\":{\"item\":{}}}";
    sy_event_ref_t ev;
    const char *err;
    assert_int_equal(parse(body, &ev, &err), 0);
    assert_true(sy_slice_eq_cstr(ev.id, "notif_9"));
    assert_true(sy_slice_eq_cstr(ev.type, "conversation.user.created"));
    assert_int_equal(ev.occurred_at_ms, 1733500000000LL);
    assert_ptr_equal(ev.raw.base, body);
    assert_int_equal(ev.raw.len, strlen(body));

    /* no created_at (ping): time 0 */
    assert_int_equal(parse(PING_BODY, &ev, &err), 0);
    assert_int_equal(ev.occurred_at_ms, 0);
}

static void test_parse_refusals(void **state)
{
    expect_refused("[]", "body is not a JSON object");
    expect_refused("{\"topic\":\"ping\"}", "notification has no string id");
    expect_refused("{\"id\":\"\",\"topic\":\"ping\"}", "notification has no string id");
    expect_refused("{\"id\":7,\"topic\":\"ping\"}", "notification has no string id");
    expect_refused("{\"id\":\"n\\u0031\",\"topic\":\"ping\"}", "event id contains a JSON escape");
    expect_refused("{\"id\":\"n\"}", "notification has no string topic");
    expect_refused("{\"id\":\"n\",\"topic\":\"\"}", "notification has no string topic");
    expect_refused("{\"id\":\"n\",\"topic\":\"p\\ting\"}", "event type contains a JSON escape");
    expect_refused("{\"id\":\"n\",\"topic\":\"ping\",\"created_at\":\"yesterday\"}",
                   "notification created_at is not a valid Unix time");
    expect_refused("{\"id\":\"n\",\"topic\":\"ping\",\"created_at\":-1}", "notification created_at is not a valid Unix time");
    expect_refused("{\"id\":\"n\",\"topic\":\"ping\",\"created_at\":9223372036854776}",
                   "notification created_at is not a valid Unix time");

    char body[600], id[300];
    memset(id, 'a', 256);
    id[256] = '\0';
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"topic\":\"ping\"}", id);
    expect_refused(body, "event id is longer than the limit");
    id[255] = '\0';
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"topic\":\"ping\"}", id);
    sy_event_ref_t ev;
    const char *err;
    assert_int_equal(parse(body, &ev, &err), 0);
    memset(id, 't', 128);
    id[128] = '\0';
    snprintf(body, sizeof(body), "{\"id\":\"n\",\"topic\":\"%s\"}", id);
    expect_refused(body, "event type is longer than the limit");
}

static void test_samples(void **state)
{
    size_t count = 0;
    for (const char *const *t = intercom->sample_types; *t != NULL; ++t, ++count) {
        char *a = intercom->sample(*t, 1733500000123LL), *b = intercom->sample(*t, 1733500000123LL);
        sy_event_ref_t ev, ev2;
        const char *err;
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(parse(a, &ev, &err), 0);
        assert_true(sy_slice_eq_cstr(ev.type, *t));
        assert_int_equal(ev.occurred_at_ms, 1733500000000LL);
        assert_true(ev.id.len > 6 && memcmp(ev.id.base, "notif_", 6) == 0);
        assert_int_equal(parse(b, &ev2, &err), 0);
        assert_false(ev.id.len == ev2.id.len && memcmp(ev.id.base, ev2.id.base, ev.id.len) == 0); /* fresh ids */
        free(a);
        free(b);
    }
    assert_true(count >= 5);
    assert_null(intercom->sample("contact.user.exploded", 0));

    /* a conversation sample names its contact where a policy reads it */
    char *c = intercom->sample("conversation.admin.closed", 1733500000000LL);
    assert_non_null(strstr(c, "\"contacts\":{\"type\":\"contact.list\",\"contacts\":[{\"type\":\"contact\",\"id\":"
                              "\"6657a1b2c3d4e5f6a7b8c9d0\""));
    assert_non_null(strstr(c, "\"state\":\"closed\""));
    free(c);
}

static int configure(const char *version, size_t *bad, char *msg, size_t msgsize)
{
    sy_source_verify_t c = conf_of(SECRET);
    c.options[0] = version;
    return intercom->configure(&c, bad, msg, msgsize);
}

static void test_api_version_option(void **state)
{
    size_t bad = 99;
    char msg[128] = "";
    assert_int_equal(intercom->num_options, 1);
    assert_string_equal(intercom->options[0].key, "api_version");
    assert_int_equal(configure(NULL, &bad, msg, sizeof(msg)), 0);
    assert_int_equal(configure("2.11", &bad, msg, sizeof(msg)), 0);
    assert_int_equal(configure("2.17", &bad, msg, sizeof(msg)), 0);
    assert_int_equal(configure("Unstable", &bad, msg, sizeof(msg)), 0);
    static const char *const refused[] = {"", "2", "2.", ".11", "2.1.1", "v2.11", "2.11\r\nX-Evil: 1", "2 11",
                                          "123456789012345.67"};
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        bad = 99;
        msg[0] = '\0';
        assert_int_equal(configure(refused[i], &bad, msg, sizeof(msg)), SY_EINVAL);
        assert_int_equal(bad, 0);
        assert_string_equal(msg, "api_version must be a version like 2.11, or Unstable");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_and_limits),     cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_verify_python_vector), cmocka_unit_test(test_parse_envelope),
        cmocka_unit_test(test_parse_refusals),      cmocka_unit_test(test_samples),
        cmocka_unit_test(test_api_version_option),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
