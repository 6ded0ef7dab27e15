/*
 * Bad-input catalogue, part 1: signatures, timestamps and bodies on POST /hooks/{source}.
 *
 * One hub (example policy, max_body 1 MiB, max_batch_events 100) is started and seeded with valid events once
 * for the group; every case snapshots the log, the golden records, the queue and the applier counters, sends its
 * bad input, asserts the exact answer, and asserts the snapshot is unchanged (or changed exactly as the case says).
 * The JSON-the-applier-cannot-read case runs on a hub of its own, so that a stuck applier cannot spoil the others.
 * The catalogue with every expected answer: tests/integration/README.md.
 */
#include "harness_raw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "crypto.h"

#define MAX_BATCH_EVENTS 100
#define STRIPE_TOLERANCE_S 300
#define HUBSPOT_TOLERANCE_MS (5 * 60 * 1000)

static sy_it_t *g_h;        /* the group's hub */
static unsigned g_finished; /* cases that reached their last line */
#define GROUP_CASES 16      /* cases on the group's hub */

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static int64_t now_s(void)
{
    return sy_now_ms() / 1000;
}

/* "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", computed here (not by the connector); owned. */
static const char *stripe_sig(sy_it_t *h, const char *secret, int64_t t, const char *body, size_t len)
{
    unsigned char mac[SY_SHA256_LEN];
    char ts[32], hex[2 * SY_SHA256_LEN + 1], *out = sy_it_alloc(h, 128);
    snprintf(ts, sizeof(ts), "%lld", (long long)t);
    sy_slice_t parts[] = {sy_slice_cstr(ts), SY_SLICE_LIT("."), {body, len}};
    assert_int_equal(sy_hmac_sha256(sy_slice_cstr(secret), parts, SY_ARRAY_SIZE(parts), mac), 0);
    sy_hex_encode(mac, sizeof(mac), hex);
    snprintf(out, 128, "t=%s,v1=%s", ts, hex);
    return out;
}

/* The hex part of a stripe_sig (owned). */
static const char *v1_of(sy_it_t *h, const char *sig)
{
    const char *v = strstr(sig, "v1=");
    assert_non_null(v);
    return sy_it_own(h, strdup(v + 3), free);
}

/*
 * A Stripe customer.updated for the seeded customer with a new email and name: if it were stored, the golden record
 * would change (Stripe does not own email, so a conflict would be counted and a revert queued).
 */
static char *customer_update(sy_it_t *h, const char *event_id, size_t *len)
{
    json_t *obj = sy_itr_customer("cus_seed_ana", "mallory@evil.example", "Mallory", "+15550000000", "51");
    json_t *ev = sy_it_own_json(h, json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:{s:o}}", "id", event_id, "object", "event",
                                              "api_version", "2024-06-20", "created", (json_int_t)now_s(), "livemode", 0,
                                              "type", "customer.updated", "data", "object", obj));
    char *body = sy_it_own(h, json_dumps(ev, JSON_COMPACT), free);
    sy_it_release(h, ev);
    *len = strlen(body);
    return body;
}

/* A valid Stripe event of a type the example policy does not map (owned). */
static char *unmapped_event(sy_it_t *h, const char *event_id, const char *type, size_t *len)
{
    char *body = sy_it_alloc(h, 512);
    *len = (size_t)snprintf(body, 512,
                            "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%lld,"
                            "\"livemode\":false,\"type\":\"%s\",\"data\":{\"object\":{\"id\":\"ch_bad_1\",\"object\":"
                            "\"charge\",\"amount\":4900,\"customer\":\"cus_seed_ana\"}}}",
                            event_id, (long long)now_s(), type);
    return body;
}

/* POST /hooks/stripe through libcurl with the given Stripe-Signature (NULL: none) and extra header (NULL: none). */
static void post_stripe(sy_it_t *h, const char *sig, const char *extra, const char *body, size_t len, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    if (sig != NULL)
        sy_it_headers_add(&hd, "Stripe-Signature", sig);
    if (extra != NULL) {
        const char *colon = strchr(extra, ':');
        char name[128];
        assert_non_null(colon);
        snprintf(name, sizeof(name), "%.*s", (int)(colon - extra), extra);
        sy_it_headers_add(&hd, name, colon + 2);
    }
    sy_it_post(h, "/hooks/stripe", &hd, body, len, res);
    sy_it_headers_dispose(&hd);
}

/* Asserts the exact rejection: status, error code, the 401 check (NULL: not a 401), no Retry-After, no secret echoed. */
static void expect_rejected(const sy_it_response_t *res, long status, const char *error, const char *check, const char *what)
{
    static const char *const secrets[] = {SY_IT_STRIPE_SECRET_A, SY_IT_STRIPE_SECRET_B, SY_IT_HUBSPOT_SECRET};
    const char *got_check = json_string_value(json_object_get(res->json, "check"));
    const char *got_error = json_string_value(json_object_get(res->json, "error"));
    print_message("  %-58s -> %ld %s%s%s\n", what, res->status, got_error != NULL ? got_error : "(no error)",
                  got_check != NULL ? " / " : "", got_check != NULL ? got_check : "");
    if (res->status != status || !json_is_string(json_object_get(res->json, "error")) ||
        strcmp(json_string_value(json_object_get(res->json, "error")), error) != 0 ||
        !json_is_string(json_object_get(res->json, "message"))) {
        sy_it_dump_response(what, res);
        fail_msg("%s: expected %ld {\"error\":\"%s\",\"message\":...}", what, status, error);
    }
    if (check != NULL && (got_check == NULL || strcmp(got_check, check) != 0)) {
        sy_it_dump_response(what, res);
        fail_msg("%s: expected \"check\":\"%s\"", what, check);
    }
    if (res->retry_after[0] != '\0') {
        sy_it_dump_response(what, res);
        fail_msg("%s: a %ld must not carry Retry-After (only 503 does)", what, status);
    }
    for (size_t i = 0; i != SY_ARRAY_SIZE(secrets); ++i) {
        if (strstr(res->body, secrets[i]) != NULL)
            fail_msg("%s: the answer echoes a secret", what);
    }
}

/* Same for an answer read from a raw socket. */
static void expect_raw_rejected(const sy_raw_response_t *res, int status, const char *error, const char *check, const char *what)
{
    const char *got_error = json_string_value(json_object_get(res->json, "error"));
    const char *got_check = json_string_value(json_object_get(res->json, "check"));
    print_message("  %-58s -> %d %s%s%s\n", what, res->status, got_error != NULL ? got_error : "(no error)",
                  got_check != NULL ? " / " : "", got_check != NULL ? got_check : "");
    if (res->status != status || got_error == NULL || strcmp(got_error, error) != 0 ||
        (check != NULL && (got_check == NULL || strcmp(got_check, check) != 0))) {
        sy_raw_dump(what, res);
        fail_msg("%s: expected %d {\"error\":\"%s\"%s%s%s}", what, status, error, check != NULL ? ",\"check\":\"" : "",
                 check != NULL ? check : "", check != NULL ? "\"" : "");
    }
}

/* A raw POST /hooks/stripe with exactly the given header lines (NULL-terminated). */
static void raw_post(sy_it_t *h, const char *const *headers, const char *body, size_t len, sy_raw_response_t *res)
{
    sy_raw_msg_t m;
    sy_raw_msg_init(h, &m, len + 4096);
    sy_raw_request(&m, "POST", "/hooks/stripe", "HTTP/1.1", headers, body, len);
    sy_raw_exchange(h, h->ingress_port, m.base, m.len, res);
    sy_it_release(h, m.base);
}

static const char *header_line(sy_it_t *h, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *s = sy_it_alloc(h, n);
    snprintf(s, n, "%s: %s", name, value);
    return s;
}

static void hubspot_post(sy_it_t *h, const char *sign_url, int64_t ts_ms, const char *secret, const char *body, size_t len,
                         sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    sy_it_sign_hubspot(&hd, secret, sign_url, body, len, ts_ms);
    sy_it_post(h, "/hooks/hubspot", &hd, body, len, res);
    sy_it_headers_dispose(&hd);
}

/* A one-event HubSpot batch that would change contact 51's email if stored (owned). */
static char *hubspot_change(sy_it_t *h, long long event_id, size_t *len)
{
    json_t *arr = sy_it_own_json(h, json_pack("[o]", sy_itr_hs_event(event_id, "contact.propertyChange", 51, sy_now_ms(),
                                                                     "email", "mallory@evil.example")));
    char *body = sy_it_own(h, json_dumps(arr, JSON_COMPACT), free);
    sy_it_release(h, arr);
    *len = strlen(body);
    return body;
}

/* ---- the group's hub ------------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    sy_it_options_t opts = {.max_body = "1MiB", .max_batch_events = MAX_BATCH_EVENTS};
    g_h = sy_catalogue_start(state, &opts);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sy_catalogue_finish(g_h, g_finished == GROUP_CASES);
    g_h = NULL;
    return 0;
}

/* ---- cases ---------------------------------------------------------------------------------------------------- */

/* Signed with a secret that is not configured; signed for other bytes than those sent. 401 mismatch. */
static void test_wrong_signature(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = customer_update(h, "evt_bad_wrongsig", &len);
    json_t *before = sy_state_snapshot(h);

    post_stripe(h, stripe_sig(h, "whsec_not_configured", now_s(), body, len), NULL, body, len, &res);
    expect_rejected(&res, 401, "signature_invalid", "mismatch", "signed with an unknown secret");
    sy_it_response_dispose(&res);

    const char *good = stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len);
    body[len - 2] = ' '; /* one byte changed after signing */
    post_stripe(h, good, NULL, body, len, &res);
    expect_rejected(&res, 401, "signature_invalid", "mismatch", "body changed after signing");
    sy_it_response_dispose(&res);

    sy_state_assert_unchanged(h, before, "wrong signature");
    ++g_finished;
}

/* A correct HMAC over a timestamp older than the 300 s tolerance. 401 timestamp_tolerance. */
static void test_expired_timestamp(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = customer_update(h, "evt_bad_expired", &len);
    json_t *before = sy_state_snapshot(h);
    static const int64_t ages[] = {STRIPE_TOLERANCE_S + 30, 3600, 86400 * 30};

    for (size_t i = 0; i != SY_ARRAY_SIZE(ages); ++i) {
        char what[64];
        snprintf(what, sizeof(what), "timestamp %lld s old", (long long)ages[i]);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s() - ages[i], body, len), NULL, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "timestamp_tolerance", what);
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "expired timestamp");
    ++g_finished;
}

/* A correct HMAC over a timestamp in the future beyond the tolerance. 401 timestamp_tolerance. */
static void test_future_timestamp(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = customer_update(h, "evt_bad_future", &len);
    json_t *before = sy_state_snapshot(h);
    static const int64_t ahead[] = {STRIPE_TOLERANCE_S + 30, 86400, 86400LL * 365 * 50};

    for (size_t i = 0; i != SY_ARRAY_SIZE(ahead); ++i) {
        char what[64];
        snprintf(what, sizeof(what), "timestamp %lld s ahead", (long long)ahead[i]);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s() + ahead[i], body, len), NULL, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "timestamp_tolerance", what);
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "future timestamp");
    ++g_finished;
}

/* No Stripe-Signature at all, or the signature under another header name. 401 missing_header. */
static void test_missing_signature_header(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = customer_update(h, "evt_bad_nosig", &len);
    const char *good = stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len);
    json_t *before = sy_state_snapshot(h);
    static const char *const other_names[] = {"X-Stripe-Signature", "Stripe-Signatures", "Signature"};

    post_stripe(h, NULL, NULL, body, len, &res);
    expect_rejected(&res, 401, "signature_invalid", "missing_header", "no signature header");
    sy_it_response_dispose(&res);
    for (size_t i = 0; i != SY_ARRAY_SIZE(other_names); ++i) {
        char extra[256], what[64];
        snprintf(extra, sizeof(extra), "%s: %s", other_names[i], good);
        snprintf(what, sizeof(what), "valid signature under %s", other_names[i]);
        post_stripe(h, NULL, extra, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "missing_header", what);
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "missing signature header");
    ++g_finished;
}

/*
 * Two Stripe-Signature header lines, one valid and one forged, in both orders (raw socket: libcurl would not send
 * two). Decision: a repeated Stripe-Signature must never be accepted when either copy is forged (a proxy merging the
 * copies would give "t=..,v1=..,t=..,v1=..", which the hub itself rejects as malformed: two t). Expected: 401
 * signature_invalid for both orders, nothing stored.
 */
static void test_duplicate_stripe_signature(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_raw_response_t res;
    size_t len1, len2;
    char *body1 = customer_update(h, "evt_bad_dup_validfirst", &len1), *body2 = customer_update(h, "evt_bad_dup_forgedfirst", &len2);
    const char *valid1 = header_line(h, "Stripe-Signature", stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body1, len1));
    const char *forged1 = header_line(h, "Stripe-Signature", stripe_sig(h, "whsec_forged", now_s(), body1, len1));
    const char *valid2 = header_line(h, "Stripe-Signature", stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body2, len2));
    const char *forged2 = header_line(h, "Stripe-Signature", stripe_sig(h, "whsec_forged", now_s(), body2, len2));
    const char *valid_first[] = {"Content-Type: application/json", valid1, forged1, NULL};
    const char *forged_first[] = {"Content-Type: application/json", forged2, valid2, NULL};
    json_t *before = sy_state_snapshot(h);
    int bad = 0;

    /* both orders first, then one verdict, so the report names every order that is accepted */
    raw_post(h, forged_first, body2, len2, &res);
    print_message("  %-58s -> %d %s\n", "forged copy first, valid copy second", res.status, res.body);
    if (res.status != 401 || !json_is_string(json_object_get(res.json, "error")) ||
        strcmp(json_string_value(json_object_get(res.json, "error")), "signature_invalid") != 0) {
        sy_raw_dump("duplicate Stripe-Signature, forged copy first", &res);
        bad |= 1;
    }
    raw_post(h, valid_first, body1, len1, &res);
    print_message("  %-58s -> %d %s\n", "valid copy first, forged copy second", res.status, res.body);
    if (res.status != 401 || !json_is_string(json_object_get(res.json, "error")) ||
        strcmp(json_string_value(json_object_get(res.json, "error")), "signature_invalid") != 0) {
        sy_raw_dump("duplicate Stripe-Signature, valid copy first", &res);
        bad |= 2;
    }
    if (bad != 0)
        fail_msg("a request with two Stripe-Signature headers, one of them forged, was not refused with 401 (%s)",
                 bad == 3 ? "both orders" : bad == 1 ? "forged copy first" : "valid copy first, forged copy second");
    sy_state_assert_unchanged(h, before, "duplicated Stripe-Signature");
    ++g_finished;
}

/* Only v0 (Stripe's test-mode scheme) or other schemes, never v1: a downgrade. 401 no_signature. */
static void test_stripe_only_v0(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = customer_update(h, "evt_bad_v0", &len);
    int64_t t = now_s();
    const char *hex = v1_of(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, t, body, len));
    char sig[256];
    json_t *before = sy_state_snapshot(h);
    static const char *const forms[] = {"t=%lld,v0=%s", "t=%lld,v0=%s,v2=%s", "t=%lld,V1=%s", "t=%lld,v1 =%s"};

    for (size_t i = 0; i != SY_ARRAY_SIZE(forms); ++i) {
        snprintf(sig, sizeof(sig), forms[i], (long long)t, hex, hex);
        post_stripe(h, sig, NULL, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "no_signature", sig);
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "Stripe header with only v0");
    ++g_finished;
}

/* Malformed and truncated Stripe-Signature values. 401 with the check each one deserves. */
static void test_malformed_truncated_headers(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    sy_raw_response_t raw;
    size_t len;
    char *body = customer_update(h, "evt_bad_malformed", &len);
    long long t = (long long)now_s();
    const char *hex = v1_of(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len));
    char upper[2 * SY_SHA256_LEN + 1], sig[512];
    json_t *before = sy_state_snapshot(h);

    for (size_t i = 0; i <= strlen(hex); ++i)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    /* templates: T = now, H = the valid hex, U = the valid hex upper-cased, h = its first 32 digits */
    static const struct {
        const char *tmpl, *check;
    } cases[] = {
        {"garbage", "malformed_header"},
        {",,,,", "malformed_header"},
        {"t=abc,v1=H", "malformed_header"},
        {"t=,v1=H", "malformed_header"},
        {"t=-5,v1=H", "malformed_header"},
        {"t=99999999999999,v1=H", "malformed_header"}, /* 14 digits: not a timestamp */
        {"v1=H", "malformed_header"},                  /* no t */
        {"t=T,t=T,v1=H", "malformed_header"},          /* two t */
        {"t=T,v1=", "malformed_header"},               /* cut right after v1= */
        {"t=T,v1", "no_signature"},                    /* cut inside the key */
        {"t=T", "no_signature"},                       /* cut before any signature */
        {"t=T,v1=h", "mismatch"},                      /* cut in the middle of the hex */
        {"t=T,v1=U", "mismatch"},                      /* upper-case hex is not the canonical encoding */
        {"t=T,v1=Hff", "mismatch"},                    /* two hex digits too many */
    };
    for (size_t i = 0; i != SY_ARRAY_SIZE(cases); ++i) {
        size_t off = 0;
        for (const char *p = cases[i].tmpl; *p != '\0'; ++p) {
            char piece[128];
            if (*p == 'T')
                snprintf(piece, sizeof(piece), "%lld", t);
            else if (*p == 'H')
                snprintf(piece, sizeof(piece), "%s", hex);
            else if (*p == 'U')
                snprintf(piece, sizeof(piece), "%s", upper);
            else if (*p == 'h')
                snprintf(piece, sizeof(piece), "%.32s", hex);
            else
                snprintf(piece, sizeof(piece), "%c", *p);
            off += (size_t)snprintf(sig + off, sizeof(sig) - off, "%s", piece);
        }
        post_stripe(h, sig, NULL, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", cases[i].check, cases[i].tmpl);
        sy_it_response_dispose(&res);
    }
    /* an empty value (libcurl drops empty headers: raw socket) */
    const char *empty[] = {"Content-Type: application/json", "Stripe-Signature: ", NULL};
    raw_post(h, empty, body, len, &raw);
    expect_raw_rejected(&raw, 401, "signature_invalid", "malformed_header", "Stripe-Signature: (empty)");

    sy_state_assert_unchanged(h, before, "malformed or truncated Stripe-Signature");
    ++g_finished;
}

/* HubSpot v3 signed for another URL than the configured public_url. 401 mismatch. */
static void test_hubspot_wrong_url(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    char *body = hubspot_change(h, 910001, &len), url[256];
    json_t *before = sy_state_snapshot(h);
    const char *forms[] = {"http://127.0.0.1:%u/hooks/other", "https://127.0.0.1:%u/hooks/hubspot",
                           "http://127.0.0.1:%u/hooks/hubspot?x=1", "http://127.0.0.1:%u/hooks/hubspot/",
                           "http://localhost:%u/hooks/hubspot"};

    for (size_t i = 0; i != SY_ARRAY_SIZE(forms); ++i) {
        snprintf(url, sizeof(url), forms[i], h->ingress_port);
        hubspot_post(h, url, sy_now_ms(), SY_IT_HUBSPOT_SECRET, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "mismatch", url);
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "HubSpot v3 with the wrong URL");
    ++g_finished;
}

/* HubSpot v3 correctly signed over a timestamp outside the 5-minute window (old and future); missing or bad
 * timestamp header. 401 timestamp_tolerance / missing_header / malformed_header. */
static void test_hubspot_old_timestamp(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    size_t len;
    char *body = hubspot_change(h, 910002, &len);
    json_t *before = sy_state_snapshot(h);
    static const int64_t skews[] = {-(HUBSPOT_TOLERANCE_MS + 30000), -86400000LL, HUBSPOT_TOLERANCE_MS + 30000};

    for (size_t i = 0; i != SY_ARRAY_SIZE(skews); ++i) {
        char what[64];
        snprintf(what, sizeof(what), "X-HubSpot-Request-Timestamp %+lld ms", (long long)skews[i]);
        hubspot_post(h, h->hubspot_url, sy_now_ms() + skews[i], SY_IT_HUBSPOT_SECRET, body, len, &res);
        expect_rejected(&res, 401, "signature_invalid", "timestamp_tolerance", what);
        sy_it_response_dispose(&res);
    }
    /* the same signature headers without the timestamp, and with a timestamp that is not a number */
    sy_it_headers_t signed_hd = {0};
    sy_it_sign_hubspot(&signed_hd, SY_IT_HUBSPOT_SECRET, h->hubspot_url, body, len, sy_now_ms());
    for (int variant = 0; variant != 2; ++variant) {
        for (size_t i = 0; i != signed_hd.count; ++i) {
            const char *line = signed_hd.lines[i], *colon = strchr(line, ':');
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(colon - line), line);
            if (strcasecmp(name, "X-HubSpot-Request-Timestamp") == 0) {
                if (variant == 1)
                    sy_it_headers_add(&hd, name, "yesterday");
                continue;
            }
            sy_it_headers_add(&hd, name, colon + 2);
        }
        sy_it_post(h, "/hooks/hubspot", &hd, body, len, &res);
        sy_it_headers_dispose(&hd);
        expect_rejected(&res, 401, "signature_invalid", variant == 0 ? "missing_header" : "malformed_header",
                        variant == 0 ? "no X-HubSpot-Request-Timestamp" : "X-HubSpot-Request-Timestamp: yesterday");
        sy_it_response_dispose(&res);
    }
    sy_state_assert_unchanged(h, before, "HubSpot v3 with an old timestamp");
    ++g_finished;
}

/* Correctly signed JSON with invalid UTF-8 inside a string. 400 bad_request. */
static void test_invalid_utf8(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    json_t *before = sy_state_snapshot(h);
    static const struct {
        const char *bytes, *what;
    } bad[] = {
        {"\xc3\x28", "C3 28: a lead byte without its continuation"},
        {"\xc0\xaf", "C0 AF: overlong encoding of '/'"},
        {"\xed\xa0\x80", "ED A0 80: an encoded UTF-16 surrogate"},
        {"\xf5\x80\x80\x80", "F5 80 80 80: beyond U+10FFFF"},
        {"\xe2\x82", "E2 82: a sequence cut short"},
        {"\xff", "FF: never valid"},
        {"\x80", "80: a lone continuation byte"},
    };

    for (size_t i = 0; i != SY_ARRAY_SIZE(bad); ++i) {
        char body[512];
        int len = snprintf(body, sizeof(body),
                           "{\"id\":\"evt_bad_utf8_%zu\",\"object\":\"event\",\"type\":\"customer.updated\",\"created\":%lld,"
                           "\"data\":{\"object\":{\"id\":\"cus_seed_ana\",\"object\":\"customer\",\"name\":\"Ana %s Lima\"}}}",
                           i, (long long)now_s(), bad[i].bytes);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, (size_t)len), NULL, body, (size_t)len, &res);
        expect_rejected(&res, 400, "bad_request", NULL, bad[i].what);
        sy_it_response_dispose(&res);
    }
    /* the same inside a HubSpot batch */
    char hs[512];
    int hlen = snprintf(hs, sizeof(hs),
                        "[{\"eventId\":910003,\"subscriptionType\":\"contact.propertyChange\",\"objectId\":51,"
                        "\"occurredAt\":%lld,\"propertyName\":\"name\",\"propertyValue\":\"Ana \xc3\x28 Lima\"}]",
                        (long long)sy_now_ms());
    hubspot_post(h, h->hubspot_url, sy_now_ms(), SY_IT_HUBSPOT_SECRET, hs, (size_t)hlen, &res);
    expect_rejected(&res, 400, "bad_request", NULL, "HubSpot batch with C3 28");
    sy_it_response_dispose(&res);

    sy_state_assert_unchanged(h, before, "invalid UTF-8");
    ++g_finished;
}

/* Correctly signed JSON nested 10,000 levels (arrays, objects) and 65 levels (one over the limit). 400 bad_request. */
static void test_deep_nesting(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    json_t *before = sy_state_snapshot(h);
    static const struct {
        size_t depth;
        int objects;
    } shapes[] = {{10000, 0}, {10000, 1}, {65, 0}};

    for (size_t i = 0; i != SY_ARRAY_SIZE(shapes); ++i) {
        size_t depth = shapes[i].depth, cap = depth * 6 + 512, len;
        char *body = sy_it_alloc(h, cap), what[64];
        /* the root object is level 1: depth - 1 more levels under "data" */
        len = (size_t)snprintf(body, cap, "{\"id\":\"evt_bad_deep_%zu\",\"type\":\"customer.updated\",\"created\":%lld,\"data\":",
                               i, (long long)now_s());
        for (size_t d = 1; d != depth; ++d)
            len += (size_t)snprintf(body + len, cap - len, "%s", shapes[i].objects ? "{\"a\":" : "[");
        len += (size_t)snprintf(body + len, cap - len, "%s", shapes[i].objects ? "1" : "");
        for (size_t d = 1; d != depth; ++d)
            body[len++] = shapes[i].objects ? '}' : ']';
        body[len++] = '}';
        body[len] = '\0';
        snprintf(what, sizeof(what), "%zu levels of %s (%zu bytes)", depth, shapes[i].objects ? "objects" : "arrays", len);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len), NULL, body, len, &res);
        expect_rejected(&res, 400, "bad_request", NULL, what);
        sy_it_response_dispose(&res);
        sy_it_release(h, body);
    }
    sy_state_assert_unchanged(h, before, "deeply nested JSON");
    ++g_finished;
}

/* A correctly signed HubSpot array of more than ingress.max_batch_events (100) events: 101 and 1,000. 400. */
static void test_huge_hubspot_array(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    json_t *before = sy_state_snapshot(h);
    static const size_t sizes[] = {MAX_BATCH_EVENTS + 1, 1000};

    for (size_t s = 0; s != SY_ARRAY_SIZE(sizes); ++s) {
        json_t *arr = sy_it_own_json(h, json_array());
        char what[64];
        for (size_t i = 0; i != sizes[s]; ++i)
            json_array_append_new(arr, sy_itr_hs_event(920000 + (long long)(s * 10000 + i), "contact.propertyChange",
                                                       51, sy_now_ms(), "email", "mallory@evil.example"));
        char *body = sy_it_own(h, json_dumps(arr, JSON_COMPACT), free);
        snprintf(what, sizeof(what), "%zu events (%zu bytes)", sizes[s], strlen(body));
        hubspot_post(h, h->hubspot_url, sy_now_ms(), SY_IT_HUBSPOT_SECRET, body, strlen(body), &res);
        expect_rejected(&res, 400, "bad_request", NULL, what);
        sy_it_response_dispose(&res);
        sy_it_release(h, body);
        sy_it_release(h, arr);
    }
    sy_state_assert_unchanged(h, before, "HubSpot array over max_batch_events");
    ++g_finished;
}

/* A valid Stripe event of a type no policy object maps: 200 stored, not applied (unmapped_events +1 each). */
static void test_unknown_stripe_event_type(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    static const char *const types[] = {"charge.refunded", "switchyard.never.heard.of"};
    json_t *before = sy_state_snapshot(h);

    for (size_t i = 0; i != SY_ARRAY_SIZE(types); ++i) {
        char id[64];
        size_t len;
        snprintf(id, sizeof(id), "evt_bad_unknown_type_%zu", i);
        char *body = unmapped_event(h, id, types[i], &len);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len), NULL, body, len, &res);
        print_message("  %-58s -> %ld %s\n", types[i], res.status, res.body);
        json_int_t seq = sy_it_assert_stored(&res, 0);
        sy_it_response_dispose(&res);
        json_t *shown = sy_it_log_show(h, seq);
        assert_string_equal(json_string_value(json_object_get(shown, "type")), types[i]);
        sy_it_release(h, shown);
    }
    /* stored, seen by the applier (cursor moves), counted as unmapped, and nothing else changed */
    sy_state_assert_delta(h, before, 2, 2, "unknown Stripe event type");
    ++g_finished;
}

/*
 * Content-Type other than application/json, with a valid signature. The hub's behaviour: the signature covers the
 * bytes, so the content type is not looked at: stored (200), like any other valid event. With a forged signature
 * the content type does not help either: 401. Events of an unmapped type keep the records unchanged.
 */
static void test_wrong_content_type(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_raw_response_t res;
    static const char *const types[] = {"Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
                                        "Content-Type: multipart/form-data; boundary=xyz", "Content-Type: application/xml",
                                        NULL /* no Content-Type */};
    json_t *before = sy_state_snapshot(h);

    for (size_t i = 0; i != SY_ARRAY_SIZE(types); ++i) {
        char id[64];
        size_t len;
        snprintf(id, sizeof(id), "evt_bad_ctype_%zu", i);
        char *body = unmapped_event(h, id, "charge.succeeded", &len);
        const char *headers[] = {header_line(h, "Stripe-Signature", stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len)),
                                 types[i], NULL};
        raw_post(h, headers, body, len, &res);
        print_message("  %-58s -> %d %s\n", types[i] != NULL ? types[i] : "(no Content-Type)", res.status, res.body);
        if (res.status != 200 || !json_is_integer(json_object_get(res.json, "seq")) ||
            !json_is_false(json_object_get(res.json, "duplicate"))) {
            sy_raw_dump(types[i] != NULL ? types[i] : "no Content-Type", &res);
            fail_msg("a valid signature with %s: expected 200 stored (the content type is not checked)",
                     types[i] != NULL ? types[i] : "no Content-Type");
        }
    }
    size_t len;
    char *body = unmapped_event(h, "evt_bad_ctype_forged", "charge.succeeded", &len);
    const char *forged[] = {header_line(h, "Stripe-Signature", stripe_sig(h, "whsec_forged", now_s(), body, len)),
                            "Content-Type: text/plain", NULL};
    raw_post(h, forged, body, len, &res);
    expect_raw_rejected(&res, 401, "signature_invalid", "mismatch", "text/plain with a forged signature");

    sy_state_assert_delta(h, before, 5, 5, "wrong Content-Type");
    ++g_finished;
}

/* A valid, signed event sent with another method than POST: 405 with Allow: POST, nothing stored. */
static void test_wrong_method(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    sy_it_headers_t hd = {0};
    size_t len;
    char *body = customer_update(h, "evt_bad_method", &len);
    json_t *before = sy_state_snapshot(h);
    static const char *const methods[] = {"GET", "PUT", "PATCH", "DELETE"};

    sy_it_headers_add(&hd, "Stripe-Signature", stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len));
    for (size_t i = 0; i != SY_ARRAY_SIZE(methods); ++i) {
        int with_body = strcmp(methods[i], "PUT") == 0 || strcmp(methods[i], "PATCH") == 0;
        assert_int_equal(sy_it_request(h, h->ingress_port, methods[i], "/hooks/stripe", &hd, with_body ? body : NULL,
                                       with_body ? len : 0, &res),
                         0);
        expect_rejected(&res, 405, "method_not_allowed", NULL, methods[i]);
        if (strcmp(res.allow, "POST") != 0) {
            sy_it_dump_response(methods[i], &res);
            fail_msg("%s: expected Allow: POST", methods[i]);
        }
        sy_it_response_dispose(&res);
    }
    sy_it_headers_dispose(&hd);
    sy_state_assert_unchanged(h, before, "wrong method");
    ++g_finished;
}

/* A body over ingress.max_body (1 MiB here) with a valid signature: 413 body_too_large or H2O's own 413. */
static void test_body_over_max_body(void **state)
{
    sy_it_t *h = g_h;
    (void)state;
    sy_it_response_t res;
    size_t len;
    json_t *before = sy_state_snapshot(h);
    char *body = sy_it_stripe_event(h, "evt_bad_over_1mib", "customer.updated", now_s(), 1024 * 1024 + 1, &len);

    post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, len), NULL, body, len, &res);
    print_message("  %-58s -> %ld %s\n", "1 MiB + 1 byte", res.status, res.body);
    sy_it_assert_error(&res, 413, res.json != NULL ? "body_too_large" : NULL);
    sy_it_response_dispose(&res);
    sy_it_release(h, body);
    sy_state_assert_unchanged(h, before, "body over max_body");
    ++g_finished;
}

/* ---- a hub of its own ------------------------------------------------------------------------------------------- */

static int own_teardown(void **state)
{
    if (*state != g_h)
        sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/*
 * Valid JSON (RFC 8259) that the applier's JSON reader (jansson) refuses: an escaped lone surrogate, an escaped NUL,
 * an integer beyond 64 bits, a number beyond double. Expected: 400 at ingress (one reading of every event: nothing
 * is acknowledged that the applier would read differently or not at all), nothing logged, and a later valid event is
 * applied. (This catalogue first found that the applier retried such an event forever; then that acknowledging it
 * and skipping it later lost the change silently.)
 */
static void test_json_the_applier_cannot_read(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_it_response_t res;
    char *policy = sy_itr_example_policy(h);
    static const char *const fragments[] = {"\"name\":\"Ana \\ud800 Lima\"", "\"name\":\"Ana \\u0000 Lima\"",
                                            "\"balance\":123456789012345678901234567890", "\"balance\":1e400"};
    double deadline;
    json_t *st = NULL, *rec;
    json_int_t cursor = 0, last = 0;

    sy_itr_set_policy(h, sy_it_write_file(h, "customers.yaml", policy, strlen(policy)));
    sy_it_start(h);
    sy_itr_stripe(h, "evt_poison_seed", "customer.created", now_s() - 60,
                  sy_itr_customer("cus_poison", "ana@acme.example", "Ana Lima", NULL, "51"));
    sy_itr_wait_applied(h);
    json_int_t unmapped_before = sy_itr_counter(sy_itr_health(h), "unmapped_events");
    for (size_t i = 0; i != SY_ARRAY_SIZE(fragments); ++i) {
        char body[512];
        int len = snprintf(body, sizeof(body),
                           "{\"id\":\"evt_poison_%zu\",\"object\":\"event\",\"type\":\"customer.updated\",\"created\":%lld,"
                           "\"data\":{\"object\":{\"id\":\"cus_poison\",\"object\":\"customer\",%s}}}",
                           i, (long long)now_s(), fragments[i]);
        post_stripe(h, stripe_sig(h, SY_IT_STRIPE_SECRET_A, now_s(), body, (size_t)len), NULL, body, (size_t)len, &res);
        print_message("  %-58s -> %ld %s\n", fragments[i], res.status, res.body);
        /* one reading of every event: what the applier (jansson) could not read is refused at ingress */
        sy_it_assert_error(&res, 400, "bad_request");
        sy_it_response_dispose(&res);
    }
    /* then a valid change from the owner of name */
    sy_itr_hs_change(h, 930001, 51, sy_now_ms(), "name", "Ana Lima-Souza");

    deadline = (double)sy_mono_ns() / 1e9 + 5.0;
    do {
        if (st != NULL)
            sy_it_release(h, st);
        st = sy_itr_status(h);
        cursor = json_integer_value(json_object_get(json_object_get(st, "applier"), "cursor"));
        last = json_integer_value(json_object_get(json_object_get(st, "log"), "last_seq"));
    } while (cursor != last && (double)sy_mono_ns() / 1e9 < deadline);
    if (cursor != last)
        fail_msg("the applier is stuck at cursor %lld of %lld: a stored event it cannot read (seq %lld) stops every "
                 "later event from being applied (status: %s)",
                 (long long)cursor, (long long)last, (long long)cursor + 1, sy_itr_text(h, st));
    rec = sy_itr_record(h, "hubspot:51");
    assert_non_null(rec);
    assert_string_equal(sy_itr_field(rec, "name", "value"), "Ana Lima-Souza");
    /* nothing was logged for them, so nothing was skipped either */
    json_int_t unmapped_after = sy_itr_counter(sy_itr_health(h), "unmapped_events");
    if (unmapped_after != unmapped_before || sy_itr_counter(sy_itr_health(h), "skipped") != 0)
        fail_msg("counters.unmapped_events went from %lld to %lld (or events were skipped): refused events must "
                 "leave no trace in the log", (long long)unmapped_before, (long long)unmapped_after);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_signature),
        cmocka_unit_test(test_expired_timestamp),
        cmocka_unit_test(test_future_timestamp),
        cmocka_unit_test(test_missing_signature_header),
        cmocka_unit_test(test_duplicate_stripe_signature),
        cmocka_unit_test(test_stripe_only_v0),
        cmocka_unit_test(test_malformed_truncated_headers),
        cmocka_unit_test(test_hubspot_wrong_url),
        cmocka_unit_test(test_hubspot_old_timestamp),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_hubspot_array),
        cmocka_unit_test(test_unknown_stripe_event_type),
        cmocka_unit_test(test_wrong_content_type),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_body_over_max_body),
        cmocka_unit_test_teardown(test_json_the_applier_cannot_read, own_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
