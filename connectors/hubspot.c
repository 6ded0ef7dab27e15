/*
 * HubSpot webhooks, three signature versions (chosen per source by conf->signature_version, never by the request):
 *   v1: X-HubSpot-Signature = hex(SHA-256(secret + body))
 *   v2: X-HubSpot-Signature = hex(SHA-256(secret + method + URI + body))
 *   v3: X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, method + URI' + body + timestamp)) with
 *       X-HubSpot-Request-Timestamp in Unix milliseconds; URI' is the URL with a few escapes decoded.
 * The body is a JSON array of events.
 */
#include "connectors_builtin.h"
#include "crypto.h"

#include <string.h>

#define HUBSPOT_DEFAULT_TOLERANCE_MS (5 * 60 * 1000)
#define HUBSPOT_DEFAULT_VERSION 3
/* Unix milliseconds fit in 15 digits until the year 33658. */
#define HUBSPOT_TS_MAX_DIGITS 15
/* The v3 URI is decoded into a stack buffer; longer URLs cannot be verified. */
#define HUBSPOT_URL_MAX 8192
#define HEX_SIG_LEN (2 * SY_SHA256_LEN)
#define B64_SIG_LEN (4 * ((SY_SHA256_LEN + 2) / 3))

static int version_of(const sy_source_verify_t *conf)
{
    return conf->signature_version != 0 ? conf->signature_version : HUBSPOT_DEFAULT_VERSION;
}

/*
 * HubSpot decodes exactly these escapes before signing a v3 request; any other escape (e.g. the UTF-8 bytes
 * %C3%A9) stays encoded. out holds at least url.len bytes; returns the decoded length.
 */
static size_t decode_v3_uri(sy_slice_t url, char *out)
{
    static const char decoded[] = ":/?@!$'()*,;";
    size_t o = 0;
    for (size_t i = 0; i < url.len; ++i) {
        if (url.base[i] == '%' && url.len - i >= 3) {
            int hi = sy_hex_digit((unsigned char)url.base[i + 1]), lo = sy_hex_digit((unsigned char)url.base[i + 2]);
            char c = (char)(hi << 4 | lo);
            if (hi >= 0 && lo >= 0 && c != '\0' && memchr(decoded, c, sizeof(decoded) - 1) != NULL) {
                out[o++] = c;
                i += 2;
                continue;
            }
        }
        out[o++] = url.base[i];
    }
    return o;
}

/* hex (v1, v2) or base64 (v3) of the signature of req with secret; sig holds B64_SIG_LEN + HEX_SIG_LEN + 1. */
static int compute(int version, sy_slice_t secret, const sy_request_view_t *req, sy_slice_t uri, sy_slice_t ts, char *sig,
                   size_t *siglen)
{
    unsigned char digest[SY_SHA256_LEN];
    int rc;
    if (version == 3) {
        sy_slice_t parts[] = {req->method, uri, req->body, ts};
        if ((rc = sy_hmac_sha256(secret, parts, SY_ARRAY_SIZE(parts), digest)) != 0)
            return rc;
        *siglen = sy_base64_encode(digest, sizeof(digest), sig);
        return 0;
    }
    if (version == 2) {
        sy_slice_t parts[] = {secret, req->method, req->url, req->body};
        rc = sy_sha256(parts, SY_ARRAY_SIZE(parts), digest);
    } else {
        sy_slice_t parts[] = {secret, req->body};
        rc = sy_sha256(parts, SY_ARRAY_SIZE(parts), digest);
    }
    if (rc != 0)
        return rc;
    sy_hex_encode(digest, sizeof(digest), sig);
    *siglen = HEX_SIG_LEN;
    return 0;
}

static sy_verify_result_t hubspot_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    int version = version_of(conf);
    if (version < 1 || version > 3)
        return SY_VERIFY_NO_SIGNATURE; /* config accepts no scheme we know */
    size_t usable = 0;
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i)
        usable += conf->secrets[i].len != 0;
    if (usable == 0)
        return SY_VERIFY_NO_SECRET;

    const sy_header_t *h;
    sy_slice_t received, ts = {"", 0}, uri = {"", 0};
    char uribuf[HUBSPOT_URL_MAX];
    if (version == 3) {
        const sy_header_t *th;
        if ((h = sy_request_header(req, "X-HubSpot-Signature-v3")) == NULL ||
            (th = sy_request_header(req, "X-HubSpot-Request-Timestamp")) == NULL)
            return SY_VERIFY_MISSING_HEADER;
        received = sy_connector_trim(h->value);
        ts = sy_connector_trim(th->value);
        int64_t ts_ms;
        if (received.len == 0 || sy_connector_parse_uint(ts, HUBSPOT_TS_MAX_DIGITS, &ts_ms) != 0)
            return SY_VERIFY_MALFORMED_HEADER;
        /* Before any HMAC: a stale or replayed request costs no crypto. */
        int64_t tolerance = conf->tolerance_ms >= 0 ? conf->tolerance_ms : HUBSPOT_DEFAULT_TOLERANCE_MS;
        int64_t skew = req->now_ms - ts_ms;
        if (skew > tolerance || skew < -tolerance)
            return SY_VERIFY_TIMESTAMP_TOLERANCE;
        if (req->url.len > sizeof(uribuf))
            return SY_VERIFY_MALFORMED_HEADER;
        uri = (sy_slice_t){uribuf, decode_v3_uri(req->url, uribuf)};
    } else {
        if ((h = sy_request_header(req, "X-HubSpot-Signature")) == NULL)
            return SY_VERIFY_MISSING_HEADER;
        received = sy_connector_trim(h->value);
        if (received.len == 0)
            return SY_VERIFY_MALFORMED_HEADER;
        /* The version header is optional, but one naming another version is not a signature we accept. */
        const sy_header_t *vh = sy_request_header(req, "X-HubSpot-Signature-Version");
        if (vh != NULL && !sy_slice_eq_cstr(sy_connector_trim(vh->value), version == 1 ? "v1" : "v2"))
            return SY_VERIFY_NO_SIGNATURE;
    }

    /* Compared as canonical encodings (lower-case hex, padded base64) in constant time. */
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i) {
        if (conf->secrets[i].len == 0)
            continue;
        char expected[B64_SIG_LEN + HEX_SIG_LEN + 1];
        size_t len;
        if (compute(version, conf->secrets[i], req, uri, ts, expected, &len) != 0)
            return SY_VERIFY_MISMATCH;
        if (sy_ct_equal(expected, len, received.base, received.len))
            return SY_VERIFY_OK;
    }
    return SY_VERIFY_MISMATCH;
}

static int hubspot_parse(sy_json_t *json, sy_slice_t body, sy_event_ref_t *events, size_t max_events, size_t *num_events,
                         const char **errmsg)
{
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, body, SY_JSON_ARRAY, "body is not a JSON array", errmsg)) != 0)
        return rc;
    size_t n = (size_t)sy_json_size(json, 0);
    if (n == 0) {
        *errmsg = "body has no events";
        return SY_EPARSE;
    }
    if (n > max_events) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }

    int el = 1; /* elements are walked with skip: sy_json_at would rescan from the start each time */
    for (size_t i = 0; i != n; ++i, el = sy_json_skip(json, el)) {
        if (sy_json_type(json, el) != SY_JSON_OBJECT) {
            *errmsg = "event is not a JSON object";
            return SY_EPARSE;
        }
        sy_event_ref_t ev = {.raw = sy_json_span(json, el)};
        int64_t v;
        int tok = sy_json_get(json, el, "eventId");
        if (sy_json_int64(json, tok, &v) != 0) {
            *errmsg = "event has no integer eventId";
            return SY_EPARSE;
        }
        ev.id = sy_json_text(json, tok);
        tok = sy_json_get(json, el, "subscriptionType");
        if (sy_json_type(json, tok) != SY_JSON_STRING || (ev.type = sy_json_text(json, tok)).len == 0) {
            *errmsg = "event has no string subscriptionType";
            return SY_EPARSE;
        }
        if (ev.type.len > SY_EVENT_TYPE_MAX) {
            *errmsg = "event type is longer than the limit";
            return SY_EPARSE;
        }
        if (sy_json_int64(json, sy_json_get(json, el, "occurredAt"), &v) != 0) {
            *errmsg = "event has no integer occurredAt";
            return SY_EPARSE;
        }
        ev.occurred_at_ms = v;
        events[i] = ev;
    }
    *num_events = n;
    return 0;
}

static int hubspot_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req, sy_header_t *headers,
                        size_t *num_headers, char *buf, size_t bufsize)
{
    int version = version_of(conf);
    if (version < 1 || version > 3)
        return SY_EINVAL;
    if (*num_headers < 2)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    sy_slice_t ts = {"", 0}, uri = {"", 0};
    char uribuf[HUBSPOT_URL_MAX];
    if (version == 3) {
        if (req->url.len > sizeof(uribuf))
            return SY_ETOOBIG;
        uri = (sy_slice_t){uribuf, decode_v3_uri(req->url, uribuf)};
        if ((ts = sy_connector_out_uint(&out, req->now_ms)).base == NULL)
            return SY_ETOOBIG;
    }
    char *sig = sy_connector_out_reserve(&out, B64_SIG_LEN + HEX_SIG_LEN + 1);
    if (sig == NULL)
        return SY_ETOOBIG;
    size_t siglen;
    if (compute(version, secret, req, uri, ts, sig, &siglen) != 0)
        return SY_EIO;

    if (version == 3) {
        headers[0] = (sy_header_t){SY_SLICE_LIT("X-HubSpot-Signature-v3"), {sig, siglen}};
        headers[1] = (sy_header_t){SY_SLICE_LIT("X-HubSpot-Request-Timestamp"), ts};
    } else {
        headers[0] = (sy_header_t){SY_SLICE_LIT("X-HubSpot-Signature"), {sig, siglen}};
        headers[1] =
            (sy_header_t){SY_SLICE_LIT("X-HubSpot-Signature-Version"), version == 1 ? SY_SLICE_LIT("v1") : SY_SLICE_LIT("v2")};
    }
    *num_headers = 2;
    return 0;
}

const sy_connector_t sy_connector_hubspot = {
    .name = "hubspot",
    .verify = hubspot_verify,
    .parse = hubspot_parse,
    .sign = hubspot_sign,
    .default_tolerance_ms = HUBSPOT_DEFAULT_TOLERANCE_MS,
};
