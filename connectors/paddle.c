/*
 * Paddle Billing webhooks (inbound only): `Paddle-Signature: ts=<unix seconds>;h1=<hex>`, the hex being
 * HMAC-SHA256(the notification destination's secret key, "<ts>:" + body). Several h1 may come while a secret is
 * rotated; any that matches any configured secret passes. The event is the body: {"event_id": "evt_…",
 * "event_type": "subscription.updated", "occurred_at": RFC 3339, "notification_id": "ntf_…", "data": {…}}. The
 * dedupe id is event_id, which Paddle keeps across retries (notification_id names one delivery to one destination).
 *
 * Added in one file and one registry line, to show what adding a provider takes (connectors/README.md).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"
#include "header_event.h"

#define PADDLE_DEFAULT_TOLERANCE_MS (5 * 60 * 1000)
#define PADDLE_MAX_H1 8 /* h1 entries looked at; more are ignored (bounded work per request) */
#define PADDLE_TS_MAX_DIGITS 12
#define HEX_SIG_LEN (2 * SY_SHA256_LEN)

typedef struct st_paddle_sig_t {
    sy_slice_t ts;
    int64_t ts_sec;
    sy_slice_t h1[PADDLE_MAX_H1];
    size_t num_h1;
} paddle_sig_t;

/* "ts=1671552777;h1=eb4d…" (entries separated by ';'); 0 or SY_EPARSE. */
static int parse_header(sy_slice_t value, paddle_sig_t *sig)
{
    memset(sig, 0, sizeof(*sig));
    const char *p = value.base, *end = value.base + value.len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p)), *stop = semi != NULL ? semi : end;
        sy_slice_t item = sy_connector_trim((sy_slice_t){p, (size_t)(stop - p)});
        const char *eq = memchr(item.base, '=', item.len);
        if (eq == NULL)
            return SY_EPARSE;
        sy_slice_t key = {item.base, (size_t)(eq - item.base)}, val = {eq + 1, item.len - (size_t)(eq + 1 - item.base)};
        if (sy_slice_eq_cstr(key, "ts")) {
            if (sig->ts.base != NULL || sy_connector_parse_uint(val, PADDLE_TS_MAX_DIGITS, &sig->ts_sec) != 0)
                return SY_EPARSE;
            sig->ts = val;
        } else if (sy_slice_eq_cstr(key, "h1") && sig->num_h1 != PADDLE_MAX_H1) {
            sig->h1[sig->num_h1++] = val;
        }
        p = stop + 1;
    }
    return sig->ts.base != NULL ? 0 : SY_EPARSE;
}

static int expected_hex(sy_slice_t secret, sy_slice_t ts, sy_slice_t body, char out[HEX_SIG_LEN + 1])
{
    unsigned char mac[SY_SHA256_LEN];
    sy_slice_t parts[3] = {ts, SY_SLICE_LIT(":"), body};
    if (sy_hmac_sha256(secret, parts, 3, mac) != 0)
        return SY_EIO;
    sy_hex_encode(mac, sizeof(mac), out);
    return 0;
}

static sy_verify_result_t paddle_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    paddle_sig_t sig;
    size_t usable = 0;
    for (size_t i = 0; i != conf->num_secrets; ++i)
        usable += conf->secrets[i].len != 0;
    if (usable == 0)
        return SY_VERIFY_NO_SECRET;
    const sy_header_t *h = sy_request_header(req, "Paddle-Signature");
    if (h == NULL)
        return SY_VERIFY_MISSING_HEADER;
    if (h == SY_HEADER_REPEATED || parse_header(h->value, &sig) != 0)
        return SY_VERIFY_MALFORMED_HEADER;
    if (sig.num_h1 == 0)
        return SY_VERIFY_NO_SIGNATURE;
    int64_t tolerance = conf->tolerance_ms >= 0 ? conf->tolerance_ms : PADDLE_DEFAULT_TOLERANCE_MS;
    int64_t skew = req->now_ms - sig.ts_sec * 1000;
    if (skew > tolerance || skew < -tolerance)
        return SY_VERIFY_TIMESTAMP_TOLERANCE; /* before any HMAC: a stale request costs no crypto */
    for (size_t i = 0; i != conf->num_secrets; ++i) {
        char expected[HEX_SIG_LEN + 1];
        if (conf->secrets[i].len == 0 || expected_hex(conf->secrets[i], sig.ts, req->body, expected) != 0)
            continue;
        int match = 0;
        for (size_t k = 0; k != sig.num_h1; ++k)
            match |= sy_ct_equal(expected, HEX_SIG_LEN, sig.h1[k].base, sig.h1[k].len);
        if (match)
            return SY_VERIFY_OK;
    }
    return SY_VERIFY_MISMATCH;
}

static int paddle_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                        size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev = {.raw = req->body};
    sy_slice_t when;
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;
    if (sy_body_token(json, 0, "event_id", SY_EVENT_ID_MAX, &ev.id) != SY_TOKEN_OK) {
        *errmsg = "event has no string event_id";
        return SY_EPARSE;
    }
    if (sy_body_token(json, 0, "event_type", SY_EVENT_TYPE_MAX, &ev.type) != SY_TOKEN_OK) {
        *errmsg = "event has no string event_type";
        return SY_EPARSE;
    }
    if (sy_body_token(json, 0, "occurred_at", 64, &when) == SY_TOKEN_OK &&
        sy_rfc3339_ms(when, &ev.occurred_at_ms) != 0) {
        *errmsg = "event occurred_at is not an RFC 3339 time";
        return SY_EPARSE;
    }
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

static int paddle_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                       sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize)
{
    sy_connector_out_t out = {buf, bufsize, 0};
    char ts[24], hex[HEX_SIG_LEN + 1];
    int n = snprintf(ts, sizeof(ts), "%lld", (long long)(req->now_ms / 1000));
    if (*num_headers < 1 || expected_hex(secret, (sy_slice_t){ts, (size_t)n}, req->body, hex) != 0)
        return SY_ETOOBIG;
    char *value = sy_connector_out_reserve(&out, 3 + (size_t)n + 4 + HEX_SIG_LEN);
    if (value == NULL)
        return SY_ETOOBIG;
    memcpy(value, "ts=", 3);
    memcpy(value + 3, ts, (size_t)n);
    memcpy(value + 3 + n, ";h1=", 4);
    memcpy(value + 3 + n + 4, hex, HEX_SIG_LEN);
    headers[0] = (sy_header_t){SY_SLICE_LIT("Paddle-Signature"), {value, 3 + (size_t)n + 4 + HEX_SIG_LEN}};
    *num_headers = 1;
    return 0;
}

static const char *paddle_scheme(const sy_source_verify_t *conf)
{
    return "paddle-h1";
}

static const char *const paddle_sample_types[] = {"customer.updated", "subscription.updated", "subscription.canceled",
                                                  "transaction.completed", NULL};

static char *paddle_sample(const char *type, int64_t now_ms)
{
    char when[25], token[33], evt[48], ntf[48];
    if (!sy_connector_sample_known(paddle_sample_types, type))
        return NULL;
    sy_rfc3339_format(now_ms, when);
    sy_connector_random_token(token, 13);
    snprintf(evt, sizeof(evt), "evt_%.26s", token);
    sy_connector_random_token(token, 13);
    snprintf(ntf, sizeof(ntf), "ntf_%.26s", token);
    json_t *data;
    if (strncmp(type, "subscription.", 13) == 0)
        data = json_pack("{s:s, s:s, s:s, s:s, s:[{s:{s:s, s:{s:s, s:s}}, s:i}]}", "id", "sub_01hv8x29kz0t586xy6zn1a62ny",
                         "status", strcmp(type, "subscription.canceled") == 0 ? "canceled" : "active", "customer_id",
                         "ctm_01hv6y1jedq4p1n0yqn5ba3ky4", "currency_code", "EUR", "items", "price", "id",
                         "pri_01gsz8x8sawmvhz1pv30nge1ke", "unit_price", "amount", "4900", "currency_code", "EUR",
                         "quantity", 1);
    else if (strcmp(type, "customer.updated") == 0)
        data = json_pack("{s:s, s:s, s:s, s:s}", "id", "ctm_01hv6y1jedq4p1n0yqn5ba3ky4", "name", "Acme Corp", "email",
                         "billing@acme.example", "status", "active");
    else
        data = json_pack("{s:s, s:s, s:s, s:s}", "id", "txn_01hv8wptq8987qeep44cyrewp9", "status", "completed",
                         "customer_id", "ctm_01hv6y1jedq4p1n0yqn5ba3ky4", "currency_code", "EUR");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:o}", "event_id", evt, "event_type", type, "occurred_at", when,
                           "notification_id", ntf, "data", data);
    char *body = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return body;
}

static const char *const subscription_id_path[] = {"data", "id", NULL};
static const char *const subscription_status_path[] = {"data", "status", NULL};

const sy_connector_t sy_connector_paddle = {
    .name = "paddle",
    .role = SY_ROLE_BILLING,
    .verify = paddle_verify,
    .parse = paddle_parse,
    .scheme = paddle_scheme,
    .sign = paddle_sign,
    .default_tolerance_ms = PADDLE_DEFAULT_TOLERANCE_MS,
    .observe =
        {
            .subscription_prefix = "subscription.",
            .subscription_id = subscription_id_path,
            .subscription_status = subscription_status_path,
            .subscription_ended = "subscription.canceled",
        },
    .sample_types = paddle_sample_types,
    .sample = paddle_sample,
};
