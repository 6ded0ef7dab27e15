/*
 * HubSpot ingress: signature versions 1, 2 and 3, batch parsing and the log encoding, as hub/ingest/ingress.c calls them.
 *
 * Input: one flags byte, then four parts separated by '\n': the URL, the signature header value, the second header
 * value, and the body (the rest).
 *   flags & 3:  signature version 1, 2 or 3 (0: the source does not set it, which means 3)
 *   flags & 4:  ingress.max_batch_events is 3 instead of the default 1000
 * The second header is X-HubSpot-Request-Timestamp for v3 and X-HubSpot-Signature-Version for v1/v2. An empty part
 * leaves its header out. Secrets are the unit tests' vectors' and the clock is SY_FUZZ_NOW_MS.
 * Also checks that what sign() produces always verifies.
 */
#include "fuzz_common.h"

static const sy_connector_t *hubspot_verify_connector;
static sy_json_t hubspot_verify_json;
static sy_event_ref_t hubspot_verify_events[SY_FUZZ_MAX_BATCH_EVENTS];

static int hubspot_verify_init(const char *root)
{
    hubspot_verify_connector = sy_connector_find("hubspot");
    sy_json_init(&hubspot_verify_json, SY_FUZZ_MAX_BODY / 2 + 16, SY_FUZZ_JSON_MAX_DEPTH);
    return hubspot_verify_connector != NULL ? 0 : SY_ENOTFOUND;
}

static void hubspot_verify_fini(void)
{
    sy_json_dispose(&hubspot_verify_json);
}

static void hubspot_verify_one(const uint8_t *data, size_t size)
{
    const sy_connector_t *c = hubspot_verify_connector;
    sy_fuzz_in_t in = sy_fuzz_in(data, size);
    uint8_t flags = sy_fuzz_byte(&in);
    sy_slice_t url = sy_fuzz_until(&in, '\n'), sig = sy_fuzz_until(&in, '\n'), second = sy_fuzz_until(&in, '\n');
    sy_slice_t body = sy_fuzz_rest(&in);
    int version = flags & 3;
    size_t max_events = (flags & 4) != 0 ? 3 : SY_FUZZ_MAX_BATCH_EVENTS;

    sy_source_verify_t conf = {.num_secrets = 2, .tolerance_ms = c->default_tolerance_ms, .signature_version = version};
    conf.secrets[0] = SY_SLICE_LIT("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy");
    conf.secrets[1] = SY_SLICE_LIT("client-secret-123");
    sy_header_t headers[3] = {{SY_SLICE_LIT("Content-Type"), SY_SLICE_LIT("application/json")}};
    size_t num_headers = 1;
    if (sig.len != 0)
        headers[num_headers++] =
            (sy_header_t){version == 0 || version == 3 ? SY_SLICE_LIT("X-HubSpot-Signature-v3") : SY_SLICE_LIT("X-HubSpot-Signature"), sig};
    if (second.len != 0)
        headers[num_headers++] = (sy_header_t){version == 0 || version == 3 ? SY_SLICE_LIT("X-HubSpot-Request-Timestamp")
                                                                            : SY_SLICE_LIT("X-HubSpot-Signature-Version"),
                                               second};
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"),
                             .url = url,
                             .headers = headers,
                             .num_headers = num_headers,
                             .body = body,
                             .now_ms = SY_FUZZ_NOW_MS};

    sy_verify_result_t vr = c->verify(&conf, &req);
    SY_FUZZ_CHECK((unsigned)vr <= SY_VERIFY_NO_SECRET);
    SY_FUZZ_CHECK(sy_verify_result_code(vr) != NULL && sy_verify_result_text(vr) != NULL);

    /* Signed as HubSpot would sign it, any request verifies (v3 refuses URLs it cannot hold: then sign does too). */
    for (size_t i = 0; i != conf.num_secrets; ++i) {
        sy_header_t signed_headers[2];
        size_t num = 2;
        char buf[256];
        int rc = c->sign(&conf, conf.secrets[i], &req, signed_headers, &num, buf, sizeof(buf));
        if (rc == SY_ETOOBIG && url.len > 8192)
            continue;
        SY_FUZZ_CHECK(rc == 0);
        sy_request_view_t again = req;
        again.headers = signed_headers;
        again.num_headers = num;
        SY_FUZZ_CHECK(c->verify(&conf, &again) == SY_VERIFY_OK);
    }

    size_t n = 0;
    const char *errmsg = NULL;
    int rc = c->parse(&hubspot_verify_json, &req, hubspot_verify_events, max_events, &n, &errmsg);
    if (rc != 0) {
        SY_FUZZ_CHECK(errmsg != NULL && n == 0);
        return;
    }
    SY_FUZZ_CHECK(n >= 1 && n <= max_events);
    const char *scheme = version == 1 ? "hubspot-v1" : version == 2 ? "hubspot-v2" : "hubspot-v3";
    sy_fuzz_store_events("hubspot", scheme, body, hubspot_verify_events, n);
}

SY_FUZZ_MAIN(hubspot_verify)
