/* Unit tests for connectors/hubspot.c: signature versions 1, 2 and 3, and batch parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

/* HubSpot FAQ vector (v1) and the same inputs for v2. */
#define FAQ_SECRET "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
#define FAQ_BODY                                                                                                                   \
    "[{\"eventId\":1,\"subscriptionId\":12345,\"portalId\":62515,\"occurredAt\":1564113600000,\"subscriptionType\":"               \
    "\"contact.creation\",\"attemptNumber\":0,\"objectId\":123,\"changeSource\":\"CRM\",\"changeFlag\":\"NEW\",\"appId\":54321}]"
#define FAQ_V1 "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
#define V2_URL "https://www.example.com/webhook_uri"
/* printf '%s' 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyyPOSThttps://www.example.com/webhook_uri[{"eventId":1,...}]' | openssl dgst
 * -sha256 */
#define FAQ_V2 "276a2548f0a0181a076d456de09c0e7477ae101ccc16a11600488a77714e9b8d"

#define V3_SECRET "client-secret-123"
#define V3_BODY "[{\"eventId\":7,\"subscriptionType\":\"contact.creation\",\"occurredAt\":1700000000000}]"
#define V3_TS "1700000000000"
#define V3_NOW 1700000000000LL
#define V3_URL "https://hooks.example.com/hooks/hubspot"
/*
 * printf '%s' 'POSThttps://hooks.example.com/hooks/hubspot[{"eventId":7,"subscriptionType":"contact.creation",
 *   "occurredAt":1700000000000}]1700000000000' | openssl dgst -sha256 -hmac 'client-secret-123' -binary | openssl base64 -A
 */
#define V3_SIG "1YrLX0e0pCQGm7+qGNKSTyd9Dys9dEc1LU/Od4VcqbU="
/*
 * Received URL with a non-ASCII path (é as %C3%A9, stays encoded), %3A and %40 in the query (decoded before signing),
 * and escapes outside HubSpot's list (%2Z is not an escape, %25 is not decoded):
 * printf '%s' 'POSThttps://hooks.example.com/hooks/caf%C3%A9?from=a:b@c&x=%2Zy%25[{"eventId":7,...}]1700000000000' \
 *   | openssl dgst -sha256 -hmac 'client-secret-123' -binary | openssl base64 -A
 */
#define V3_URL_ENC "https://hooks.example.com/hooks/caf%C3%A9?from=a%3Ab%40c&x=%2Zy%25"
#define V3_SIG_ENC "SweWhnqd15zJ8M2cpPWk0Vwi964qB5QmJjLocU/jG5o="

static const sy_connector_t *hubspot;

typedef struct st_req_t {
    sy_header_t h[4];
    sy_request_view_t view;
} req_t;

static void req_init(req_t *r, const char *url, const char *body, int64_t now_ms)
{
    memset(r, 0, sizeof(*r));
    r->view = (sy_request_view_t){
        .method = SY_SLICE_LIT("POST"), .url = sy_slice_cstr(url), .headers = r->h, .body = sy_slice_cstr(body), .now_ms = now_ms};
}

static void req_header(req_t *r, const char *name, const char *value)
{
    r->h[r->view.num_headers++] = (sy_header_t){sy_slice_cstr(name), sy_slice_cstr(value)};
}

static sy_source_verify_t conf(int version, const char *secret)
{
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = 5 * 60 * 1000, .signature_version = version};
    c.secrets[0] = sy_slice_cstr(secret);
    return c;
}

static sy_verify_result_t v1(const char *version_header, const char *sig, const char *body)
{
    sy_source_verify_t c = conf(1, FAQ_SECRET);
    req_t r;
    req_init(&r, V2_URL, body, V3_NOW);
    if (sig != NULL)
        req_header(&r, "X-HubSpot-Signature", sig);
    if (version_header != NULL)
        req_header(&r, "X-HubSpot-Signature-Version", version_header);
    return hubspot->verify(&c, &r.view);
}

static void test_v1(void **state)
{
    assert_int_equal(v1("v1", FAQ_V1, FAQ_BODY), SY_VERIFY_OK);
    assert_int_equal(v1(NULL, FAQ_V1, FAQ_BODY), SY_VERIFY_OK); /* the version header is optional */
    assert_int_equal(v1("v1", FAQ_V1, FAQ_BODY " "), SY_VERIFY_MISMATCH);
    assert_int_equal(v1("v1", FAQ_V2, FAQ_BODY), SY_VERIFY_MISMATCH);
    /* Lower-case hex only, as HubSpot sends it (canonical encodings are compared). */
    assert_int_equal(v1("v1", "232DB2615F3D666FE21A8EC971AC7B5402D33B9A925784DF3CA654D05F4817DE", FAQ_BODY), SY_VERIFY_MISMATCH);
    /* A request that says it is signed another way is not a v1 signature. */
    assert_int_equal(v1("v2", FAQ_V1, FAQ_BODY), SY_VERIFY_NO_SIGNATURE);
    assert_int_equal(v1("v3", FAQ_V1, FAQ_BODY), SY_VERIFY_NO_SIGNATURE);
    assert_int_equal(v1("v1", NULL, FAQ_BODY), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(v1("v1", "", FAQ_BODY), SY_VERIFY_MALFORMED_HEADER);
}

static void test_v2(void **state)
{
    sy_source_verify_t c = conf(2, FAQ_SECRET);
    req_t r;
    req_init(&r, V2_URL, FAQ_BODY, V3_NOW);
    req_header(&r, "x-hubspot-signature", FAQ_V2);
    req_header(&r, "X-HubSpot-Signature-Version", "v2");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_OK);
    r.view.url = SY_SLICE_LIT(V2_URL "?x=1");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_MISMATCH);
    r.view.url = SY_SLICE_LIT(V2_URL);
    r.view.method = SY_SLICE_LIT("PUT");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_MISMATCH);
    /* The v1 signature of the same body is not accepted by a v2 source. */
    req_init(&r, V2_URL, FAQ_BODY, V3_NOW);
    req_header(&r, "X-HubSpot-Signature", FAQ_V1);
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_MISMATCH);
    req_header(&r, "X-HubSpot-Signature-Version", "v1");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_NO_SIGNATURE);
}

static sy_verify_result_t v3(int version, const char *url, const char *sig, const char *ts, int64_t now_ms)
{
    sy_source_verify_t c = conf(version, V3_SECRET);
    req_t r;
    req_init(&r, url, V3_BODY, now_ms);
    if (sig != NULL)
        req_header(&r, "X-HubSpot-Signature-v3", sig);
    if (ts != NULL)
        req_header(&r, "X-HubSpot-Request-Timestamp", ts);
    return hubspot->verify(&c, &r.view);
}

static void test_v3(void **state)
{
    assert_int_equal(v3(3, V3_URL, V3_SIG, V3_TS, V3_NOW), SY_VERIFY_OK);
    assert_int_equal(v3(0, V3_URL, V3_SIG, V3_TS, V3_NOW), SY_VERIFY_OK); /* version 0 = default v3 */
    assert_int_equal(v3(3, V3_URL "/", V3_SIG, V3_TS, V3_NOW), SY_VERIFY_MISMATCH);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "1700000000001", V3_NOW), SY_VERIFY_MISMATCH); /* timestamp is signed */
    assert_int_equal(v3(3, V3_URL, "1YrLX0e0pCQGm7+qGNKSTyd9Dys9dEc1LU/Od4VcqbU", V3_TS, V3_NOW), SY_VERIFY_MISMATCH);
    assert_int_equal(v3(3, V3_URL, V3_SIG_ENC, V3_TS, V3_NOW), SY_VERIFY_MISMATCH);
    /* A v1-style request to a v3 source. */
    sy_source_verify_t c = conf(3, FAQ_SECRET);
    req_t r;
    req_init(&r, V2_URL, FAQ_BODY, V3_NOW);
    req_header(&r, "X-HubSpot-Signature", FAQ_V1);
    req_header(&r, "X-HubSpot-Signature-Version", "v1");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_MISSING_HEADER);
}

static void test_v3_uri_decoding(void **state)
{
    assert_int_equal(v3(3, V3_URL_ENC, V3_SIG_ENC, V3_TS, V3_NOW), SY_VERIFY_OK);
    /* Escapes are matched case-insensitively. */
    assert_int_equal(v3(3, "https://hooks.example.com/hooks/caf%C3%A9?from=a%3ab%40c&x=%2Zy%25", V3_SIG_ENC, V3_TS, V3_NOW),
                     SY_VERIFY_OK);
    /* Already-decoded characters sign the same. */
    assert_int_equal(v3(3, "https://hooks.example.com/hooks/caf%C3%A9?from=a:b@c&x=%2Zy%25", V3_SIG_ENC, V3_TS, V3_NOW),
                     SY_VERIFY_OK);
    /* Non-ASCII escapes must stay encoded: decoding them (or lower-casing them) changes the signed URI. */
    assert_int_equal(v3(3, "https://hooks.example.com/hooks/caf\xc3\xa9?from=a%3Ab%40c&x=%2Zy%25", V3_SIG_ENC, V3_TS, V3_NOW),
                     SY_VERIFY_MISMATCH);
    assert_int_equal(v3(3, "https://hooks.example.com/hooks/caf%c3%a9?from=a%3Ab%40c&x=%2Zy%25", V3_SIG_ENC, V3_TS, V3_NOW),
                     SY_VERIFY_MISMATCH);
    /* %25 is not in HubSpot's list: decoding it would sign "x=%2Zy%". */
    assert_int_equal(v3(3, "https://hooks.example.com/hooks/caf%C3%A9?from=a%3Ab%40c&x=%2Zy%", V3_SIG_ENC, V3_TS, V3_NOW),
                     SY_VERIFY_MISMATCH);
}

static void test_v3_timestamp(void **state)
{
    int64_t tol = 5 * 60 * 1000;
    assert_int_equal(v3(3, V3_URL, V3_SIG, V3_TS, V3_NOW + tol), SY_VERIFY_OK); /* exactly at tolerance */
    assert_int_equal(v3(3, V3_URL, V3_SIG, V3_TS, V3_NOW + tol + 1), SY_VERIFY_TIMESTAMP_TOLERANCE);
    assert_int_equal(v3(3, V3_URL, V3_SIG, V3_TS, V3_NOW - tol), SY_VERIFY_OK); /* from the future */
    assert_int_equal(v3(3, V3_URL, V3_SIG, V3_TS, V3_NOW - tol - 1), SY_VERIFY_TIMESTAMP_TOLERANCE);
    /* Milliseconds, not seconds: a timestamp in seconds is 54 years stale. */
    assert_int_equal(v3(3, V3_URL, V3_SIG, "1700000000", V3_NOW), SY_VERIFY_TIMESTAMP_TOLERANCE);
    assert_int_equal(v3(3, V3_URL, V3_SIG, NULL, V3_NOW), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(v3(3, V3_URL, NULL, V3_TS, V3_NOW), SY_VERIFY_MISSING_HEADER);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "", V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "abc", V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "-1700000000000", V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "1.7e12", V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(v3(3, V3_URL, V3_SIG, "99999999999999999999", V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(v3(3, V3_URL, "", V3_TS, V3_NOW), SY_VERIFY_MALFORMED_HEADER);
    assert_int_equal(hubspot->default_tolerance_ms, 5 * 60 * 1000);
    /* A negative tolerance means the default; 0 is taken literally. */
    sy_source_verify_t c = conf(3, V3_SECRET);
    req_t r;
    req_init(&r, V3_URL, V3_BODY, V3_NOW + tol);
    req_header(&r, "X-HubSpot-Signature-v3", V3_SIG);
    req_header(&r, "X-HubSpot-Request-Timestamp", V3_TS);
    c.tolerance_ms = -1;
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_OK);
    c.tolerance_ms = 0;
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_TIMESTAMP_TOLERANCE);
    r.view.now_ms = V3_NOW;
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_OK);
}

static void test_secrets(void **state)
{
    sy_source_verify_t c = {.num_secrets = 3, .signature_version = 3};
    c.secrets[0] = SY_SLICE_LIT("old");
    c.secrets[1] = SY_SLICE_LIT("");
    c.secrets[2] = SY_SLICE_LIT(V3_SECRET);
    req_t r;
    req_init(&r, V3_URL, V3_BODY, V3_NOW);
    req_header(&r, "X-HubSpot-Signature-v3", V3_SIG);
    req_header(&r, "X-HubSpot-Request-Timestamp", V3_TS);
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_OK); /* third secret */
    c.num_secrets = 2;
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_MISMATCH);
    c.secrets[0] = SY_SLICE_LIT("");
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_NO_SECRET);
    c.num_secrets = 0;
    assert_int_equal(hubspot->verify(&c, &r.view), SY_VERIFY_NO_SECRET);
}

static void roundtrip(int version, const char *url, const char *secret, const char *expect_sig)
{
    sy_source_verify_t c = conf(version, secret);
    sy_request_view_t req = {
        .method = SY_SLICE_LIT("POST"), .url = sy_slice_cstr(url), .body = SY_SLICE_LIT(V3_BODY), .now_ms = V3_NOW};
    int v3 = version == 3 || version == 0;
    if (!v3)
        req.body = SY_SLICE_LIT(FAQ_BODY);
    sy_header_t h[3];
    size_t n = 3;
    char buf[256];
    assert_int_equal(hubspot->sign(&c, sy_slice_cstr(secret), &req, h, &n, buf, sizeof(buf)), 0);
    assert_int_equal(n, 2);
    if (v3) {
        assert_true(sy_slice_eq_cstr(h[0].name, "X-HubSpot-Signature-v3"));
        assert_true(sy_slice_eq_cstr(h[1].name, "X-HubSpot-Request-Timestamp"));
        assert_true(sy_slice_eq_cstr(h[1].value, V3_TS));
    } else {
        assert_true(sy_slice_eq_cstr(h[0].name, "X-HubSpot-Signature"));
        assert_true(sy_slice_eq_cstr(h[1].name, "X-HubSpot-Signature-Version"));
        assert_true(sy_slice_eq_cstr(h[1].value, version == 1 ? "v1" : "v2"));
    }
    if (expect_sig != NULL)
        assert_true(sy_slice_eq_cstr(h[0].value, expect_sig));
    req.headers = h;
    req.num_headers = n;
    assert_int_equal(hubspot->verify(&c, &req), SY_VERIFY_OK);
    req.now_ms += 1000;
    assert_int_equal(hubspot->verify(&c, &req), SY_VERIFY_OK);
    req.body.len -= 1;
    assert_int_equal(hubspot->verify(&c, &req), SY_VERIFY_MISMATCH);

    /* Too small a buffer or header array. */
    n = 1;
    assert_int_equal(hubspot->sign(&c, sy_slice_cstr(secret), &req, h, &n, buf, sizeof(buf)), SY_ETOOBIG);
    n = 2;
    assert_int_equal(hubspot->sign(&c, sy_slice_cstr(secret), &req, h, &n, buf, 40), SY_ETOOBIG);
}

static void test_sign_roundtrip(void **state)
{
    roundtrip(1, V2_URL, FAQ_SECRET, FAQ_V1);
    roundtrip(2, V2_URL, FAQ_SECRET, FAQ_V2);
    roundtrip(3, V3_URL, V3_SECRET, V3_SIG);
    roundtrip(3, V3_URL_ENC, V3_SECRET, V3_SIG_ENC);
    roundtrip(0, V3_URL_ENC, "another secret", NULL);
}

static int parse(const char *body, sy_event_ref_t *ev, size_t max, size_t *n, const char **msg)
{
    sy_json_t j;
    sy_json_init(&j, 1000, 32);
    *msg = NULL;
    *n = 99;
    int rc = hubspot->parse(&j, &(sy_request_view_t){.body = sy_slice_cstr(body)}, ev, max, n, msg);
    sy_json_dispose(&j);
    return rc;
}

static void test_parse_batch(void **state)
{
    const char *body = "[{\"eventId\":1,\"subscriptionType\":\"contact.creation\",\"occurredAt\":1564113600000,\"objectId\":123},\n"
                       " {\"objectId\":5,\"propertyValue\":{\"eventId\":9},\"occurredAt\":1564113600001,"
                       "\"subscriptionType\":\"contact.propertyChange\",\"eventId\":4294967296} ,"
                       "{\"eventId\":3,\"subscriptionType\":\"deal.deletion\",\"occurredAt\":0,\"mergedObjectIds\":[1,2]}]";
    sy_event_ref_t ev[3];
    size_t n;
    const char *msg;
    assert_int_equal(parse(body, ev, 3, &n, &msg), 0);
    assert_int_equal(n, 3);
    assert_true(sy_slice_eq_cstr(ev[0].id, "1"));
    assert_true(sy_slice_eq_cstr(ev[0].type, "contact.creation"));
    assert_true(ev[0].occurred_at_ms == 1564113600000LL);
    assert_true(sy_slice_eq_cstr(ev[0].raw, "{\"eventId\":1,\"subscriptionType\":\"contact.creation\",\"occurredAt\":1564113600000,"
                                            "\"objectId\":123}"));
    assert_true(sy_slice_eq_cstr(ev[1].id, "4294967296")); /* not the nested eventId */
    assert_true(sy_slice_eq_cstr(ev[1].type, "contact.propertyChange"));
    assert_true(ev[1].occurred_at_ms == 1564113600001LL);
    assert_ptr_equal(ev[1].raw.base, strchr(body, '\n') + 2);
    assert_true(sy_slice_eq_cstr(ev[2].id, "3"));
    assert_true(sy_slice_eq_cstr(ev[2].raw, "{\"eventId\":3,\"subscriptionType\":\"deal.deletion\",\"occurredAt\":0,"
                                            "\"mergedObjectIds\":[1,2]}"));
    assert_true(ev[2].occurred_at_ms == 0);

    /* The FAQ body. */
    assert_int_equal(parse(FAQ_BODY, ev, 3, &n, &msg), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].raw.len, strlen(FAQ_BODY) - 2);
    assert_memory_equal(ev[0].raw.base, FAQ_BODY + 1, ev[0].raw.len);

    /* More events than the caller can take. */
    assert_int_equal(parse(body, ev, 2, &n, &msg), SY_ETOOBIG);
    assert_int_equal(n, 0);
    assert_string_equal(msg, "more events in the body than the limit");
}

static void test_parse_refused(void **state)
{
    static const struct {
        const char *body;
        const char *msg;
    } bad[] = {
        {"[{\"subscriptionType\":\"contact.creation\",\"occurredAt\":1}]", "event has no integer eventId"},
        {"[{\"eventId\":\"1\",\"subscriptionType\":\"contact.creation\",\"occurredAt\":1}]", "event has no integer eventId"},
        {"[{\"eventId\":1.5,\"subscriptionType\":\"contact.creation\",\"occurredAt\":1}]", "event has no integer eventId"},
        {"[{\"eventId\":1,\"occurredAt\":1}]", "event has no string subscriptionType"},
        {"[{\"eventId\":1,\"subscriptionType\":\"\",\"occurredAt\":1}]", "event has no string subscriptionType"},
        {"[{\"eventId\":1,\"subscriptionType\":7,\"occurredAt\":1}]", "event has no string subscriptionType"},
        {"[{\"eventId\":1,\"subscriptionType\":\"contact.creation\"}]", "event has no integer occurredAt"},
        {"[{\"eventId\":1,\"subscriptionType\":\"contact.creation\",\"occurredAt\":\"1\"}]", "event has no integer occurredAt"},
        /* A good event followed by a bad one: the whole batch is refused. */
        {"[{\"eventId\":1,\"subscriptionType\":\"a\",\"occurredAt\":1},{\"subscriptionType\":\"a\",\"occurredAt\":1}]",
         "event has no integer eventId"},
        {"[1]", "event is not a JSON object"},
        {"[[]]", "event is not a JSON object"},
        {"[]", "body has no events"},
        {"{\"eventId\":1,\"subscriptionType\":\"a\",\"occurredAt\":1}", "body is not a JSON array"},
        {"[{\"eventId\":1,\"subscriptionType\":\"a\",\"occurredAt\":1},]", "body is not valid JSON"},
        {"", "body is not valid JSON"},
    };
    sy_event_ref_t ev[4];
    size_t n;
    const char *msg;
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        int rc = parse(bad[i].body, ev, 4, &n, &msg);
        if (rc != SY_EPARSE || msg == NULL || strcmp(msg, bad[i].msg) != 0)
            fail_msg("%s: rc %d, msg %s", bad[i].body, rc, msg != NULL ? msg : "(null)");
        assert_null(strpbrk(msg, "\"\\")); /* ingress embeds the sentence in a JSON answer as is */
        assert_int_equal(n, 0);
    }
    /* A type one byte over the limit. */
    char body[512], type[SY_EVENT_TYPE_MAX + 1];
    memset(type, 't', sizeof(type));
    snprintf(body, sizeof(body), "[{\"eventId\":1,\"subscriptionType\":\"%.*s\",\"occurredAt\":1}]", SY_EVENT_TYPE_MAX + 1, type);
    assert_int_equal(parse(body, ev, 4, &n, &msg), SY_EPARSE);
    snprintf(body, sizeof(body), "[{\"eventId\":1,\"subscriptionType\":\"%.*s\",\"occurredAt\":1}]", SY_EVENT_TYPE_MAX, type);
    assert_int_equal(parse(body, ev, 4, &n, &msg), 0);
}

int main(void)
{
    hubspot = sy_connector_find("hubspot");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_v3),
        cmocka_unit_test(test_v3_uri_decoding),
        cmocka_unit_test(test_v3_timestamp),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_sign_roundtrip),
        cmocka_unit_test(test_parse_batch),
        cmocka_unit_test(test_parse_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
