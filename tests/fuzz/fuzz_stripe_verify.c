/*
 * Stripe ingress: signature check, event parsing and the log encoding, as hub/ingest/ingress.c calls them.
 *
 * Input: the Stripe-Signature header value, '\n', the body. Secrets are the unit tests' ("whsec_test_secret" and
 * "whsec_new_secret") and the clock is SY_FUZZ_NOW_MS, so test vectors seeded into the corpus verify.
 * Also checks that what sign() produces for the body always verifies.
 */
#include "fuzz_common.h"

static const sy_connector_t *stripe_verify_connector;
static sy_json_t stripe_verify_json; /* scratch reused across inputs, as each ingress loop does */
static sy_event_ref_t stripe_verify_events[SY_FUZZ_MAX_BATCH_EVENTS];

static int stripe_verify_init(const char *root)
{
    stripe_verify_connector = sy_connector_find("stripe");
    sy_json_init(&stripe_verify_json, SY_FUZZ_MAX_BODY / 2 + 16, SY_FUZZ_JSON_MAX_DEPTH);
    return stripe_verify_connector != NULL ? 0 : SY_ENOTFOUND;
}

static void stripe_verify_fini(void)
{
    sy_json_dispose(&stripe_verify_json);
}

static void stripe_verify_one(const uint8_t *data, size_t size)
{
    const sy_connector_t *c = stripe_verify_connector;
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    sy_slice_t value = sy_fuzz_until(&in, '\n'), body = sy_fuzz_rest(&in);
    sy_source_verify_t conf = {.num_secrets = 2, .tolerance_ms = c->default_tolerance_ms};
    conf.secrets[0] = SY_SLICE_LIT("whsec_test_secret");
    conf.secrets[1] = SY_SLICE_LIT("whsec_new_secret");
    sy_header_t headers[2] = {{SY_SLICE_LIT("Content-Type"), SY_SLICE_LIT("application/json")},
                              {SY_SLICE_LIT("Stripe-Signature"), value}};
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"),
                             .url = SY_SLICE_LIT("http://127.0.0.1:8080/hooks/stripe"),
                             .headers = headers,
                             .num_headers = 2,
                             .body = body,
                             .now_ms = SY_FUZZ_NOW_MS};

    sy_verify_result_t vr = c->verify(&conf, &req);
    SY_FUZZ_CHECK((unsigned)vr <= SY_VERIFY_NO_SECRET);
    SY_FUZZ_CHECK(sy_verify_result_code(vr) != NULL && sy_verify_result_text(vr) != NULL);

    /* Signed as Stripe would sign it, any body verifies, with either secret. */
    for (size_t i = 0; i != conf.num_secrets; ++i) {
        sy_header_t signed_headers[2];
        size_t num = 2;
        char buf[256];
        SY_FUZZ_CHECK(c->sign(&conf, conf.secrets[i], &req, signed_headers, &num, buf, sizeof(buf)) == 0);
        sy_request_view_t again = req;
        again.headers = signed_headers;
        again.num_headers = num;
        SY_FUZZ_CHECK(c->verify(&conf, &again) == SY_VERIFY_OK);
    }

    /* Ingress parses only verified bodies; here every body is parsed, which is what a fuzzer can reach. */
    size_t n = 0;
    const char *errmsg = NULL;
    int rc = c->parse(&stripe_verify_json, &req, stripe_verify_events, SY_FUZZ_MAX_BATCH_EVENTS, &n, &errmsg);
    if (rc != 0) {
        SY_FUZZ_CHECK(errmsg != NULL && n == 0);
        return;
    }
    SY_FUZZ_CHECK(n == 1 && stripe_verify_events[0].raw.base == body.base && stripe_verify_events[0].raw.len == body.len);
    sy_fuzz_store_events("stripe", "stripe-v1", body, stripe_verify_events, n);
}

SY_FUZZ_MAIN(stripe_verify)
