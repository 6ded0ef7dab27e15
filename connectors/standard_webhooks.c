/*
 * Standard Webhooks (standardwebhooks.com: Svix, and any tool that adopted the spec): the id, the time and the
 * signature travel in headers, `webhook-id`, `webhook-timestamp` (Unix seconds, within the tolerance) and
 * `webhook-signature: v1,<base64> …`; the secret is `whsec_<base64 key>`. The body is the spec's payload
 * {type, timestamp, data}: the event type is its `type`. One event per request; the dedupe id is webhook-id (the
 * sender keeps it across retries). Inbound only: a generic sender has no API to push back to.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"
#include "header_event.h"
#include "signature_schemes.h"

#define TIMESTAMP_MAX_DIGITS 12

int sy_standard_webhooks_event(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *ev, const char **errmsg)
{
    int rc;
    int64_t t_sec;
    memset(ev, 0, sizeof(*ev));
    ev->raw = req->body;
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;
    switch (sy_header_token(req, "webhook-id", SY_EVENT_ID_MAX, &ev->id)) {
    case SY_TOKEN_OK:
        break;
    case SY_TOKEN_MISSING:
        *errmsg = "no webhook-id header";
        return SY_EPARSE;
    default:
        *errmsg = "webhook-id must be 1 to 255 visible ASCII characters, given once";
        return SY_EPARSE;
    }
    switch (sy_body_token(json, 0, "type", SY_EVENT_TYPE_MAX, &ev->type)) {
    case SY_TOKEN_OK:
        break;
    case SY_TOKEN_MISSING:
        *errmsg = "event has no type member";
        return SY_EPARSE;
    default:
        *errmsg = "event type must be a string of 1 to 127 bytes without escapes";
        return SY_EPARSE;
    }
    /* verify has checked it already; read again so parse stands on its own (tests, replays of a view). */
    const sy_header_t *h = sy_request_header(req, "webhook-timestamp");
    if (h == NULL || h == SY_HEADER_REPEATED ||
        sy_connector_parse_uint(sy_connector_trim(h->value), TIMESTAMP_MAX_DIGITS, &t_sec) != 0) {
        *errmsg = "webhook-timestamp is not a Unix time";
        return SY_EPARSE;
    }
    ev->occurred_at_ms = t_sec * 1000;
    return 0;
}

static int sw_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                    size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev;
    *num_events = 0;
    int rc = sy_standard_webhooks_event(json, req, &ev, errmsg);
    if (rc != 0)
        return rc;
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

/* The key of a secret as signature_schemes.c reads it: base64 after "whsec_", else the bytes as they are. */
static long secret_key(sy_slice_t secret, unsigned char *out, size_t cap)
{
    if (secret.len >= 6 && memcmp(secret.base, "whsec_", 6) == 0)
        return sy_base64_decode(secret.base + 6, secret.len - 6, out, cap);
    if (secret.len > cap)
        return -1;
    memcpy(out, secret.base, secret.len);
    return (long)secret.len;
}

int sy_standard_webhooks_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                              sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize)
{
    (void)conf;
    if (*num_headers < 3)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    unsigned char key[256], mac[SY_SHA256_LEN];
    long klen = secret_key(secret, key, sizeof(key));
    if (klen <= 0)
        return SY_EINVAL;

    char *id = sy_connector_out_reserve(&out, 4 + 24);
    if (id == NULL)
        return SY_ETOOBIG;
    char tok[33];
    sy_connector_random_token(tok, 12);
    memcpy(id, "msg_", 4);
    memcpy(id + 4, tok, 24);
    sy_slice_t ids = {id, 28};
    sy_slice_t ts = sy_connector_out_uint(&out, req->now_ms >= 0 ? req->now_ms / 1000 : 0);
    char *sig = sy_connector_out_reserve(&out, 3 + 4 * ((SY_SHA256_LEN + 2) / 3) + 1);
    if (ts.base == NULL || sig == NULL)
        return SY_ETOOBIG;
    sy_slice_t parts[] = {ids, SY_SLICE_LIT("."), ts, SY_SLICE_LIT("."), req->body};
    if (sy_hmac_sha256((sy_slice_t){(const char *)key, (size_t)klen}, parts, SY_ARRAY_SIZE(parts), mac) != 0)
        return SY_EIO;
    memcpy(sig, "v1,", 3);
    size_t blen = sy_base64_encode(mac, sizeof(mac), sig + 3);

    headers[0] = (sy_header_t){SY_SLICE_LIT("webhook-id"), ids};
    headers[1] = (sy_header_t){SY_SLICE_LIT("webhook-timestamp"), ts};
    headers[2] = (sy_header_t){SY_SLICE_LIT("webhook-signature"), {sig, 3 + blen}};
    *num_headers = 3;
    return 0;
}

static const char *sw_scheme(const sy_source_verify_t *conf)
{
    (void)conf;
    return "standard-webhooks-v1";
}

/* Samples: a contact and an invoice as a typical Standard Webhooks sender (a SaaS's outbound events) has them. */
static const char *const sw_sample_types[] = {"contact.created", "contact.updated", "invoice.paid", NULL};

static char *sw_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(sw_sample_types, type))
        return NULL;
    char when[25];
    sy_rfc3339_format(now_ms, when);
    json_t *data;
    if (strcmp(type, "invoice.paid") == 0)
        data = json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", "inv_SyDemo0001", "contact_id", "ct_SyDemoAcme01",
                         "amount_paid", 4900, "currency", "eur", "status", "paid");
    else
        data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "ct_SyDemoAcme01", "email", "billing@acme.example",
                         "name", "Acme Corp", "phone", "+4930123456", "updated_at", when);
    json_t *ev = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", when, "data", data);
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

static sy_verify_result_t sw_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_standard_webhooks(conf, req);
}

const sy_connector_t sy_connector_standard_webhooks = {
    .name = "standard_webhooks",
    .role = SY_ROLE_OTHER,
    .verify = sw_verify,
    .parse = sw_parse,
    .scheme = sw_scheme,
    .sign = sy_standard_webhooks_sign,
    .default_tolerance_ms = SY_STANDARD_WEBHOOKS_TOLERANCE_MS,
    .sample_types = sw_sample_types,
    .sample = sw_sample,
};
