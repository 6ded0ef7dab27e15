/*
 * Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`, signature = lower-case hex of
 * HMAC-SHA256(key = the whole `whsec_...` secret as bytes, message = t "." raw body). One event per request.
 */
#include "connectors_builtin.h"
#include "crypto.h"

#include <string.h>

#define STRIPE_DEFAULT_TOLERANCE_MS (300 * 1000)
/* Only this many v1 entries are looked at: a header cannot make us compare without bound. */
#define STRIPE_MAX_V1 16
/* Unix seconds fit in 12 digits until the year 33658; more is not a timestamp. */
#define STRIPE_T_MAX_DIGITS 12
#define HEX_SIG_LEN (2 * SY_SHA256_LEN)

typedef struct st_stripe_header_t {
    sy_slice_t t; /* the timestamp text exactly as signed */
    int64_t t_sec;
    sy_slice_t v1[STRIPE_MAX_V1];
    size_t num_v1;
} stripe_header_t;

/* Returns SY_VERIFY_OK or why the header is unusable. */
static sy_verify_result_t parse_header(sy_slice_t value, stripe_header_t *out)
{
    int have_t = 0;
    const char *p = value.base, *end = value.base + value.len;
    out->num_v1 = 0;
    for (int last = value.len == 0; !last;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (comma == NULL) {
            comma = end;
            last = 1;
        }
        sy_slice_t part = sy_connector_trim((sy_slice_t){p, (size_t)(comma - p)});
        if (!last)
            p = comma + 1;

        const char *eq = part.len != 0 ? memchr(part.base, '=', part.len) : NULL;
        if (eq == NULL)
            continue; /* like the official libraries: parts that are not key=value are ignored */
        sy_slice_t key = {part.base, (size_t)(eq - part.base)};
        sy_slice_t val = {eq + 1, part.len - key.len - 1};
        if (sy_slice_eq_cstr(key, "t")) {
            /* A second t would leave it ambiguous which one was signed. */
            if (have_t || sy_connector_parse_uint(val, STRIPE_T_MAX_DIGITS, &out->t_sec) != 0)
                return SY_VERIFY_MALFORMED_HEADER;
            out->t = val;
            have_t = 1;
        } else if (sy_slice_eq_cstr(key, "v1")) {
            if (val.len == 0)
                return SY_VERIFY_MALFORMED_HEADER;
            if (out->num_v1 < STRIPE_MAX_V1)
                out->v1[out->num_v1++] = val;
        }
        /* v0 (test-mode fake) and unknown schemes are ignored: accepting them would be a downgrade. */
    }
    if (!have_t)
        return SY_VERIFY_MALFORMED_HEADER;
    if (out->num_v1 == 0)
        return SY_VERIFY_NO_SIGNATURE;
    return SY_VERIFY_OK;
}

static int compute(sy_slice_t secret, sy_slice_t t, sy_slice_t body, char hex[HEX_SIG_LEN + 1])
{
    sy_slice_t parts[] = {t, SY_SLICE_LIT("."), body};
    unsigned char mac[SY_SHA256_LEN];
    int rc = sy_hmac_sha256(secret, parts, SY_ARRAY_SIZE(parts), mac);
    if (rc == 0)
        sy_hex_encode(mac, sizeof(mac), hex);
    return rc;
}

static sy_verify_result_t stripe_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    size_t usable = 0;
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i)
        usable += conf->secrets[i].len != 0;
    if (usable == 0)
        return SY_VERIFY_NO_SECRET;

    const sy_header_t *h = sy_request_header(req, "Stripe-Signature");
    if (h == NULL)
        return SY_VERIFY_MISSING_HEADER;
    stripe_header_t sig;
    sy_verify_result_t r = parse_header(h->value, &sig);
    if (r != SY_VERIFY_OK)
        return r;

    /* Before any HMAC: a stale or replayed request costs no crypto. */
    int64_t tolerance = conf->tolerance_ms >= 0 ? conf->tolerance_ms : STRIPE_DEFAULT_TOLERANCE_MS;
    int64_t skew = req->now_ms - sig.t_sec * 1000;
    if (skew > tolerance || skew < -tolerance)
        return SY_VERIFY_TIMESTAMP_TOLERANCE;

    /*
     * One HMAC per secret, then compare it with every v1. Only the canonical lower-case hex matches: Stripe sends
     * lower case, and comparing encodings keeps the check a plain constant-time compare.
     */
    for (size_t i = 0; i != conf->num_secrets && i != SY_MAX_SECRETS; ++i) {
        if (conf->secrets[i].len == 0)
            continue;
        char expected[HEX_SIG_LEN + 1];
        if (compute(conf->secrets[i], sig.t, req->body, expected) != 0)
            return SY_VERIFY_MISMATCH;
        int match = 0;
        for (size_t k = 0; k != sig.num_v1; ++k)
            match |= sy_ct_equal(expected, HEX_SIG_LEN, sig.v1[k].base, sig.v1[k].len);
        if (match)
            return SY_VERIFY_OK;
    }
    return SY_VERIFY_MISMATCH;
}

static int stripe_parse(sy_json_t *json, sy_slice_t body, sy_event_ref_t *events, size_t max_events, size_t *num_events,
                        const char **errmsg)
{
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;

    sy_event_ref_t ev = {.raw = body};
    int tok = sy_json_get(json, 0, "id");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev.id = sy_json_text(json, tok)).len == 0) {
        *errmsg = "event has no string id";
        return SY_EPARSE;
    }
    if (ev.id.len > SY_EVENT_ID_MAX) {
        *errmsg = "event id is longer than the limit";
        return SY_EPARSE;
    }
    tok = sy_json_get(json, 0, "type");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev.type = sy_json_text(json, tok)).len == 0) {
        *errmsg = "event has no string type";
        return SY_EPARSE;
    }
    if (ev.type.len > SY_EVENT_TYPE_MAX) {
        *errmsg = "event type is longer than the limit";
        return SY_EPARSE;
    }
    if ((tok = sy_json_get(json, 0, "created")) >= 0) {
        int64_t created;
        /* The bound keeps created * 1000 inside int64 (any real date is far below it). */
        if (sy_json_int64(json, tok, &created) != 0 || created < 0 || created > INT64_MAX / 1000) {
            *errmsg = "event created is not a valid Unix time";
            return SY_EPARSE;
        }
        ev.occurred_at_ms = created * 1000;
    }
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

static int stripe_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req, sy_header_t *headers,
                       size_t *num_headers, char *buf, size_t bufsize)
{
    if (*num_headers < 1)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    int64_t t_sec = req->now_ms >= 0 ? req->now_ms / 1000 : 0;

    char *start = sy_connector_out_reserve(&out, 2);
    if (start == NULL)
        return SY_ETOOBIG;
    memcpy(start, "t=", 2);
    sy_slice_t t = sy_connector_out_uint(&out, t_sec);
    char *v1 = sy_connector_out_reserve(&out, 4 + HEX_SIG_LEN + 1);
    if (t.base == NULL || v1 == NULL)
        return SY_ETOOBIG;
    memcpy(v1, ",v1=", 4);
    if (compute(secret, t, req->body, v1 + 4) != 0)
        return SY_EIO;

    headers[0].name = SY_SLICE_LIT("Stripe-Signature");
    headers[0].value = (sy_slice_t){start, (size_t)(v1 + 4 + HEX_SIG_LEN - start)};
    *num_headers = 1;
    return 0;
}

const sy_connector_t sy_connector_stripe = {
    .name = "stripe",
    .verify = stripe_verify,
    .parse = stripe_parse,
    .sign = stripe_sign,
    .default_tolerance_ms = STRIPE_DEFAULT_TOLERANCE_MS,
};
