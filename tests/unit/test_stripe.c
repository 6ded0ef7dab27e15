/* Unit tests for connectors/stripe.c (and the registry helpers it relies on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connectors_builtin.h"

/* registry.c declares them; its table must hold these very ones */
extern const sy_connector_t sy_connector_stripe, sy_connector_hubspot;

#define T 1700000000LL
#define NOW_MS (T * 1000)
#define BODY "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"customer.updated\",\"created\":1700000000}"
#define SECRET "whsec_test_secret"
#define SECRET2 "whsec_new_secret"
/*
 * Computed independently with the openssl command line:
 *   printf '%s' '1700000000.{"id":"evt_1",...,"created":1700000000}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
 */
#define SIG "9476a56c3fbcd1b8caf8981001e17fad3a89a4da156f2e1712e891ef0d2d730f"
/* printf '%s' '1700000000.{"id":"evt_1",...,"created":1700000000}' | openssl dgst -sha256 -hmac 'whsec_new_secret' */
#define SIG2 "28356968bbbb241fef7f16915577a30aa2243498a7b286e17ddc201a3cd7c0b2"
/* printf '%s' '1700000000.' | openssl dgst -sha256 -hmac 'whsec_test_secret' */
#define SIG_EMPTY "316b9ab98c15bfa039d243f3196acee619cf29749a91a634e6a8154e2f7b6727"
#define WRONG "0000000000000000000000000000000000000000000000000000000000000000"

static const sy_connector_t *stripe;

static sy_source_verify_t conf1(const char *secret)
{
    sy_source_verify_t c = {.num_secrets = 1, .tolerance_ms = 300 * 1000};
    c.secrets[0] = sy_slice_cstr(secret);
    return c;
}

static sy_verify_result_t verify_with(const sy_source_verify_t *c, const char *name, const char *value, const char *body,
                                      int64_t now_ms)
{
    sy_header_t h[2] = {{SY_SLICE_LIT("Content-Type"), SY_SLICE_LIT("application/json")}};
    size_t n = 1;
    if (value != NULL)
        h[n++] = (sy_header_t){sy_slice_cstr(name), sy_slice_cstr(value)};
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"),
                             .url = SY_SLICE_LIT("https://hub.example.com/hooks/stripe"),
                             .headers = h,
                             .num_headers = n,
                             .body = sy_slice_cstr(body),
                             .now_ms = now_ms};
    return stripe->verify(c, &req);
}

static sy_verify_result_t verify(const char *header, const char *body, int64_t now_ms)
{
    sy_source_verify_t c = conf1(SECRET);
    return verify_with(&c, "Stripe-Signature", header, body, now_ms);
}

static void test_valid(void **state)
{
    assert_int_equal(verify("t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_OK);
    /* Header names match case-insensitively; optional whitespace around parts is tolerated. */
    sy_source_verify_t c = conf1(SECRET);
    assert_int_equal(verify_with(&c, "stripe-signature", "t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_OK);
    assert_int_equal(verify(" t=1700000000 , v1=" SIG " ", BODY, NOW_MS), SY_VERIFY_OK);
    /* Other schemes and unknown parts next to a good v1 are ignored. */
    assert_int_equal(verify("t=1700000000,v0=" WRONG ",v1=" SIG ",x=y,junk", BODY, NOW_MS), SY_VERIFY_OK);
    /* The empty body is signed like any other. */
    assert_int_equal(verify("t=1700000000,v1=" SIG_EMPTY, "", NOW_MS), SY_VERIFY_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG, "", NOW_MS), SY_VERIFY_MISMATCH);
}

static void test_mismatch(void **state)
{
    assert_int_equal(verify("t=1700000000,v1=" WRONG, BODY, NOW_MS), SY_VERIFY_MISMATCH);
    /* One byte of the body changed. */
    char body[] = BODY;
    body[8] = '2';
    assert_int_equal(verify("t=1700000000,v1=" SIG, body, NOW_MS), SY_VERIFY_MISMATCH);
    /* The timestamp is part of the signed message. */
    assert_int_equal(verify("t=1700000001,v1=" SIG, BODY, NOW_MS), SY_VERIFY_MISMATCH);
    /* Truncated or extended signatures. */
    assert_int_equal(verify("t=1700000000,v1=9476a56c", BODY, NOW_MS), SY_VERIFY_MISMATCH);
    assert_int_equal(verify("t=1700000000,v1=" SIG "00", BODY, NOW_MS), SY_VERIFY_MISMATCH);
    /* Signed with a secret we do not have. */
    assert_int_equal(verify("t=1700000000,v1=" SIG2, BODY, NOW_MS), SY_VERIFY_MISMATCH);
}

/* Decision: only lower-case hex is accepted. Stripe sends lower case; comparing canonical encodings keeps the check
 * a single constant-time compare. */
static void test_uppercase_hex_rejected(void **state)
{
    char upper[] = SIG;
    for (char *p = upper; *p != '\0'; ++p) {
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    }
    char header[128];
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", upper);
    assert_int_equal(verify(header, BODY, NOW_MS), SY_VERIFY_MISMATCH);
}

static void test_several_v1(void **state)
{
    assert_int_equal(verify("t=1700000000,v1=" WRONG ",v1=" SIG, BODY, NOW_MS), SY_VERIFY_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG ",v1=" WRONG, BODY, NOW_MS), SY_VERIFY_OK);
    assert_int_equal(verify("t=1700000000,v1=" WRONG ",v1=" WRONG, BODY, NOW_MS), SY_VERIFY_MISMATCH);

    /* Only the first 16 v1 entries are considered: a header cannot force unbounded work. */
    char header[4096];
    size_t o = (size_t)snprintf(header, sizeof(header), "t=1700000000");
    for (int i = 0; i != 15; ++i)
        o += (size_t)snprintf(header + o, sizeof(header) - o, ",v1=" WRONG);
    snprintf(header + o, sizeof(header) - o, ",v1=" SIG);
    assert_int_equal(verify(header, BODY, NOW_MS), SY_VERIFY_OK); /* 16th */
    o = (size_t)snprintf(header, sizeof(header), "t=1700000000");
    for (int i = 0; i != 16; ++i)
        o += (size_t)snprintf(header + o, sizeof(header) - o, ",v1=" WRONG);
    snprintf(header + o, sizeof(header) - o, ",v1=" SIG);
    assert_int_equal(verify(header, BODY, NOW_MS), SY_VERIFY_MISMATCH); /* 17th: ignored */
}

static void test_rotated_secret(void **state)
{
    sy_source_verify_t c = {.num_secrets = 2, .tolerance_ms = 300 * 1000};
    c.secrets[0] = SY_SLICE_LIT("whsec_old_secret");
    c.secrets[1] = SY_SLICE_LIT(SECRET);
    assert_int_equal(verify_with(&c, "Stripe-Signature", "t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_OK);
    /* During rotation Stripe signs with both secrets. */
    c.secrets[0] = SY_SLICE_LIT(SECRET2);
    assert_int_equal(verify_with(&c, "Stripe-Signature", "t=1700000000,v1=" SIG2 ",v1=" WRONG, BODY, NOW_MS), SY_VERIFY_OK);
    /* An empty configured secret is skipped, not used as a key. */
    c.secrets[0] = SY_SLICE_LIT("");
    c.num_secrets = 1;
    assert_int_equal(verify_with(&c, "Stripe-Signature", "t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_NO_SECRET);
    c.num_secrets = 0;
    assert_int_equal(verify_with(&c, "Stripe-Signature", "t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_NO_SECRET);
}

static void test_tolerance(void **state)
{
    const char *h = "t=1700000000,v1=" SIG;
    assert_int_equal(verify(h, BODY, NOW_MS + 300 * 1000), SY_VERIFY_OK); /* exactly at tolerance */
    assert_int_equal(verify(h, BODY, NOW_MS + 301 * 1000), SY_VERIFY_TIMESTAMP_TOLERANCE);
    assert_int_equal(verify(h, BODY, NOW_MS + 300 * 1000 + 1), SY_VERIFY_TIMESTAMP_TOLERANCE);
    /* Timestamps from the future too. */
    assert_int_equal(verify(h, BODY, NOW_MS - 300 * 1000), SY_VERIFY_OK);
    assert_int_equal(verify(h, BODY, NOW_MS - 301 * 1000), SY_VERIFY_TIMESTAMP_TOLERANCE);
    /* The window is checked before the signature: a stale request is not worth an HMAC. */
    assert_int_equal(verify("t=1700000000,v1=" WRONG, BODY, NOW_MS + 400 * 1000), SY_VERIFY_TIMESTAMP_TOLERANCE);
    /* A negative tolerance means the connector default (300 s); 0 is taken literally, as the contract says. */
    sy_source_verify_t c = conf1(SECRET);
    c.tolerance_ms = -1;
    assert_int_equal(verify_with(&c, "Stripe-Signature", h, BODY, NOW_MS + 300 * 1000), SY_VERIFY_OK);
    assert_int_equal(verify_with(&c, "Stripe-Signature", h, BODY, NOW_MS + 301 * 1000), SY_VERIFY_TIMESTAMP_TOLERANCE);
    c.tolerance_ms = 0;
    assert_int_equal(verify_with(&c, "Stripe-Signature", h, BODY, NOW_MS), SY_VERIFY_OK);
    assert_int_equal(verify_with(&c, "Stripe-Signature", h, BODY, NOW_MS + 1), SY_VERIFY_TIMESTAMP_TOLERANCE);
    c.tolerance_ms = 10 * 1000;
    assert_int_equal(verify_with(&c, "Stripe-Signature", h, BODY, NOW_MS + 11 * 1000), SY_VERIFY_TIMESTAMP_TOLERANCE);
    assert_int_equal(stripe->default_tolerance_ms, 300 * 1000);
}

static void test_malformed(void **state)
{
    static const char *malformed[] = {
        "t=123,v1=",
        "t=",
        ",",
        "",
        "   ",
        "v1=" SIG,
        "t=abc,v1=" SIG,
        "t=-1700000000,v1=" SIG,
        "t=+1700000000,v1=" SIG,
        "t=1700000000.5,v1=" SIG,
        "t=17000000000000000000000,v1=" SIG,
        "t=1700000000,t=1700000000,v1=" SIG,
        "T=1700000000,v1=" SIG,
        "t 1700000000,v1=" SIG,
    };
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i) {
        if (verify(malformed[i], BODY, NOW_MS) != SY_VERIFY_MALFORMED_HEADER)
            fail_msg("header \"%s\" not refused as malformed", malformed[i]);
    }
}

static void test_no_signature(void **state)
{
    /* Only v0 (the test-mode fake): accepting it would be a downgrade, even when its value is right. */
    assert_int_equal(verify("t=1700000000,v0=" SIG, BODY, NOW_MS), SY_VERIFY_NO_SIGNATURE);
    assert_int_equal(verify("t=1700000000", BODY, NOW_MS), SY_VERIFY_NO_SIGNATURE);
    assert_int_equal(verify("t=1700000000,v2=" SIG ",V1=" SIG, BODY, NOW_MS), SY_VERIFY_NO_SIGNATURE);
}

static void test_missing_header(void **state)
{
    assert_int_equal(verify(NULL, BODY, NOW_MS), SY_VERIFY_MISSING_HEADER);
    sy_source_verify_t c = conf1(SECRET);
    assert_int_equal(verify_with(&c, "Stripe-Signature-Other", "t=1700000000,v1=" SIG, BODY, NOW_MS), SY_VERIFY_MISSING_HEADER);
}

static void test_sign_roundtrip(void **state)
{
    sy_source_verify_t c = conf1(SECRET);
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = SY_SLICE_LIT(BODY), .now_ms = NOW_MS + 999};
    sy_header_t h[2];
    size_t n = 2;
    char buf[256];
    assert_int_equal(stripe->sign(&c, SY_SLICE_LIT(SECRET), &req, h, &n, buf, sizeof(buf)), 0);
    assert_int_equal(n, 1);
    assert_true(sy_slice_eq_cstr(h[0].name, "Stripe-Signature"));
    /* Same bytes as the independently computed vector (seconds are truncated from now_ms). */
    assert_true(sy_slice_eq_cstr(h[0].value, "t=1700000000,v1=" SIG));

    req.headers = h;
    req.num_headers = n;
    assert_int_equal(stripe->verify(&c, &req), SY_VERIFY_OK);
    req.body = SY_SLICE_LIT(BODY " ");
    assert_int_equal(stripe->verify(&c, &req), SY_VERIFY_MISMATCH);

    /* Other timestamp and secret: sign and verify still agree. */
    req.body = SY_SLICE_LIT("");
    req.now_ms = 1234567890123;
    n = 1;
    assert_int_equal(stripe->sign(&c, SY_SLICE_LIT(SECRET2), &req, h, &n, buf, sizeof(buf)), 0);
    c.secrets[0] = SY_SLICE_LIT(SECRET2);
    req.num_headers = n;
    assert_int_equal(stripe->verify(&c, &req), SY_VERIFY_OK);

    /* Too small a buffer or header array. */
    n = 1;
    assert_int_equal(stripe->sign(&c, SY_SLICE_LIT(SECRET), &req, h, &n, buf, 80), SY_ETOOBIG);
    n = 1;
    assert_int_equal(stripe->sign(&c, SY_SLICE_LIT(SECRET), &req, h, &n, buf, 81), 0); /* 2+10+4+64+1 (NUL) */
    n = 0;
    assert_int_equal(stripe->sign(&c, SY_SLICE_LIT(SECRET), &req, h, &n, buf, sizeof(buf)), SY_ETOOBIG);
}

static int parse(const char *body, sy_event_ref_t *ev, size_t max, size_t *n, const char **msg)
{
    sy_json_t j;
    sy_json_init(&j, 1000, 32);
    *msg = NULL;
    int rc = stripe->parse(&j, &(sy_request_view_t){.body = sy_slice_cstr(body)}, ev, max, n, msg);
    sy_json_dispose(&j);
    return rc;
}

static void test_parse(void **state)
{
    sy_event_ref_t ev[2];
    size_t n = 99;
    const char *msg;
    const char *body = BODY;
    assert_int_equal(parse(body, ev, 2, &n, &msg), 0);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].raw.base, body);
    assert_int_equal(ev[0].raw.len, strlen(body));
    assert_true(sy_slice_eq_cstr(ev[0].id, "evt_1"));
    assert_true(sy_slice_eq_cstr(ev[0].type, "customer.updated"));
    assert_true(ev[0].occurred_at_ms == NOW_MS);

    /* created is optional. */
    assert_int_equal(parse("{\"type\":\"invoice.paid\",\"id\":\"evt_2\",\"data\":{\"id\":\"in_1\"}}", ev, 1, &n, &msg), 0);
    assert_true(sy_slice_eq_cstr(ev[0].id, "evt_2"));
    assert_true(ev[0].occurred_at_ms == 0);

    static const char *bad[] = {
        "[]",
        "\"evt\"",
        "{}",
        "{\"id\":\"\",\"type\":\"x\"}",
        "{\"id\":1,\"type\":\"x\"}",
        "{\"id\":\"evt_1\"}",
        "{\"id\":\"evt_1\",\"type\":\"\"}",
        "{\"id\":\"evt_1\",\"type\":null}",
        "{\"id\":\"evt_1\",\"type\":\"x\",\"created\":1.5}",
        "{\"id\":\"evt_1\",\"type\":\"x\",\"created\":\"1700000000\"}",
        "{\"id\":\"evt_1\",\"type\":\"x\",\"created\":-1}",
        "{\"id\":\"evt_1\",\"type\":\"x\",\"created\":99999999999999999}",
        "{\"data\":{\"id\":\"evt_1\",\"type\":\"x\"}}",
        "{\"id\":\"evt_1\",\"type\":\"x\"} {}",
        "",
        "not json",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        n = 99;
        if (parse(bad[i], ev, 2, &n, &msg) != SY_EPARSE)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(msg);
        /* Ingress embeds the sentence in a JSON answer as is. */
        assert_null(strpbrk(msg, "\"\\"));
        assert_int_equal(n, 0);
    }
    assert_int_equal(parse("not json", ev, 2, &n, &msg), SY_EPARSE);
    assert_string_equal(msg, "body is not valid JSON");

    /* Length limits: at the limit accepted, one over refused. */
    char body2[1024];
    char id[SY_EVENT_ID_MAX + 2], type[SY_EVENT_TYPE_MAX + 2];
    memset(id, 'a', sizeof(id));
    memset(type, 'b', sizeof(type));
    snprintf(body2, sizeof(body2), "{\"id\":\"%.*s\",\"type\":\"%.*s\"}", SY_EVENT_ID_MAX, id, SY_EVENT_TYPE_MAX, type);
    assert_int_equal(parse(body2, ev, 1, &n, &msg), 0);
    assert_int_equal(ev[0].id.len, SY_EVENT_ID_MAX);
    assert_int_equal(ev[0].type.len, SY_EVENT_TYPE_MAX);
    snprintf(body2, sizeof(body2), "{\"id\":\"%.*s\",\"type\":\"x\"}", SY_EVENT_ID_MAX + 1, id);
    assert_int_equal(parse(body2, ev, 1, &n, &msg), SY_EPARSE);
    snprintf(body2, sizeof(body2), "{\"id\":\"x\",\"type\":\"%.*s\"}", SY_EVENT_TYPE_MAX + 1, type);
    assert_int_equal(parse(body2, ev, 1, &n, &msg), SY_EPARSE);

    /* No room for the one event. */
    assert_int_equal(parse(BODY, ev, 0, &n, &msg), SY_ETOOBIG);
    assert_int_equal(n, 0);
    assert_non_null(msg);
}

static void test_registry(void **state)
{
    assert_ptr_equal(sy_connector_find("stripe"), &sy_connector_stripe);
    assert_ptr_equal(sy_connector_find("hubspot"), &sy_connector_hubspot);
    assert_null(sy_connector_find("Stripe"));
    assert_null(sy_connector_find("nope"));
    assert_null(sy_connector_find(NULL));
    size_t count = 0;
    const sy_connector_t *const *all = sy_connector_all(&count);
    assert_true(count >= 2); /* stripe, hubspot and the connectors added since */
    for (size_t i = 0; i != count; ++i) {
        assert_non_null(all[i]->name);
        assert_non_null(all[i]->verify);
        assert_non_null(all[i]->parse);
        assert_non_null(all[i]->sign);
        assert_true(all[i]->default_tolerance_ms >= 0); /* 0: the scheme signs no timestamp (Intercom) */
    }

    static const char *codes[] = {"ok",       "missing_header", "malformed_header", "no_signature", "timestamp_tolerance",
                                  "mismatch", "no_secret"};
    for (int r = SY_VERIFY_OK; r <= SY_VERIFY_NO_SECRET; ++r) {
        assert_string_equal(sy_verify_result_code((sy_verify_result_t)r), codes[r]);
        const char *text = sy_verify_result_text((sy_verify_result_t)r);
        assert_true(strlen(text) > 10);
        assert_null(strstr(text, "whsec"));
        assert_null(strpbrk(text, "\"\\"));
    }

    sy_header_t h[] = {{SY_SLICE_LIT("X-A"), SY_SLICE_LIT("1")},
                       {SY_SLICE_LIT("x-a"), SY_SLICE_LIT("2")},
                       {SY_SLICE_LIT("X-AB"), SY_SLICE_LIT("3")}};
    sy_request_view_t req = {.headers = h, .num_headers = 3};
    assert_ptr_equal(sy_request_header(&req, "x-A"), SY_HEADER_REPEATED); /* a repeated signature header */
    assert_ptr_equal(sy_connector_header(h, 3, "x-A"), &h[0]);           /* plain lookups: the first wins */
    assert_ptr_equal(sy_request_header(&req, "X-ab"), &h[2]);
    assert_null(sy_request_header(&req, "X"));
    assert_null(sy_request_header(&req, "X-ABC"));
}

/* --- reconcile: GET /v1/events ------------------------------------------------------------------------------ */

typedef struct st_seen_t {
    char ids[4][32];
    int64_t times[4];
    size_t n;
} seen_t;

static int on_change(void *arg, const sy_event_ref_t *ev)
{
    seen_t *s = arg;
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%.*s", (int)ev->id.len, ev->id.base);
    s->times[s->n++] = ev->occurred_at_ms;
    return 0;
}

static void test_changes(void **state)
{
    sy_http_request_t req;
    assert_int_equal(stripe->encode_changes(NULL, 1733500000123LL, "", &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/v1/events?limit=100&created%5Bgte%5D=1733500000");
    assert_null(req.body);
    assert_int_equal(stripe->encode_changes(NULL, 1733500000000LL, "evt_1Qab", &req), 0);
    assert_string_equal(req.path, "/v1/events?limit=100&created%5Bgte%5D=1733500000&starting_after=evt_1Qab");
    /* a cursor is an event id: nothing that could leave the query parameter */
    assert_int_equal(stripe->encode_changes(NULL, 0, "evt_1&limit=1", &req), SY_EINVAL);

    static const char page[] = "{\"object\":\"list\",\"data\":[{\"id\":\"evt_2\",\"type\":\"customer.updated\","
                               "\"created\":1733500002,\"data\":{}},{\"id\":\"evt_1\",\"type\":\"customer.created\","
                               "\"created\":1733500001,\"data\":{}}],\"has_more\":true,\"url\":\"/v1/events\"}";
    sy_json_t j;
    seen_t seen = {0};
    char next[64];
    sy_json_init(&j, 256, 64);
    assert_int_equal(stripe->decode_changes(NULL, NULL, &j, sy_slice_cstr(page), on_change, &seen, next, sizeof(next)), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[0], "evt_2");
    assert_int_equal(seen.times[1], 1733500001000LL);
    assert_string_equal(next, "evt_1"); /* has_more: page on after the last (oldest) one */
    static const char last[] = "{\"object\":\"list\",\"data\":[],\"has_more\":false}";
    assert_int_equal(stripe->decode_changes(NULL, NULL, &j, sy_slice_cstr(last), on_change, &seen, next, sizeof(next)), 0);
    assert_string_equal(next, "");
    static const char *const bad[] = {"[]", "{\"data\":{}}", "{\"data\":[{\"type\":\"x\"}]}", "not json"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        assert_int_equal(stripe->decode_changes(NULL, NULL, &j, sy_slice_cstr(bad[i]), on_change, &seen, next, sizeof(next)),
                         SY_EPARSE);
    sy_json_dispose(&j);
}

int main(void)
{
    stripe = sy_connector_find("stripe");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),          cmocka_unit_test(test_mismatch),       cmocka_unit_test(test_uppercase_hex_rejected),
        cmocka_unit_test(test_several_v1),     cmocka_unit_test(test_rotated_secret), cmocka_unit_test(test_tolerance),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_no_signature),   cmocka_unit_test(test_missing_header),
        cmocka_unit_test(test_sign_roundtrip), cmocka_unit_test(test_parse),          cmocka_unit_test(test_registry), cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
