/*
 * Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(app client secret, body)>`. No timestamp is signed, so a
 * replay is caught only by the dedupe on `X-Shopify-Event-Id` (the same event sent to several subscriptions shares
 * it; API versions before 2023-07 do not send it, and then `X-Shopify-Webhook-Id`, kept across Shopify's retries,
 * stands in). The event type is `X-Shopify-Topic` ("customers/update"); its time is `X-Shopify-Triggered-At` when
 * present. The body is the resource itself (a customer, an order). Inbound only: push-back would be the GraphQL
 * Admin API, not written yet.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors_builtin.h"
#include "crypto.h"
#include "header_event.h"
#include "signature_schemes.h"

static sy_verify_result_t shopify_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_body_mac(&sy_scheme_shopify, conf, req);
}

static int topic_ok(sy_slice_t s)
{
    for (size_t i = 0; i != s.len; ++i) {
        char c = s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '/'))
            return 0;
    }
    return 1;
}

static int shopify_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                         size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev = {.raw = req->body};
    sy_slice_t when;
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;
    sy_token_result_t tr = sy_header_token(req, "X-Shopify-Event-Id", SY_EVENT_ID_MAX, &ev.id);
    if (tr == SY_TOKEN_MISSING)
        tr = sy_header_token(req, "X-Shopify-Webhook-Id", SY_EVENT_ID_MAX, &ev.id);
    if (tr == SY_TOKEN_MISSING) {
        *errmsg = "no X-Shopify-Event-Id (or X-Shopify-Webhook-Id) header";
        return SY_EPARSE;
    }
    if (tr != SY_TOKEN_OK) {
        *errmsg = "the Shopify event id must be 1 to 255 visible ASCII characters, given once";
        return SY_EPARSE;
    }
    tr = sy_header_token(req, "X-Shopify-Topic", SY_EVENT_TYPE_MAX, &ev.type);
    if (tr == SY_TOKEN_MISSING) {
        *errmsg = "no X-Shopify-Topic header";
        return SY_EPARSE;
    }
    if (tr != SY_TOKEN_OK || !topic_ok(ev.type)) {
        *errmsg = "X-Shopify-Topic must be one topic of [a-z0-9_/], given once";
        return SY_EPARSE;
    }
    tr = sy_header_token(req, "X-Shopify-Triggered-At", 64, &when);
    if (tr == SY_TOKEN_OK && sy_rfc3339_ms(when, &ev.occurred_at_ms) != 0)
        tr = SY_TOKEN_INVALID;
    if (tr != SY_TOKEN_OK && tr != SY_TOKEN_MISSING) {
        *errmsg = "X-Shopify-Triggered-At is not an RFC 3339 time";
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

/*
 * The topic travels in a header that sign, given only the body, infers from the resource: an order has line_items;
 * a customer whose created_at equals its updated_at was just created.
 */
static const char *infer_topic(sy_slice_t body)
{
    if (memmem(body.base, body.len, "\"line_items\":", 13) != NULL)
        return "orders/create";
    json_t *root = json_loadb(body.base, body.len, 0, NULL);
    const char *c = json_string_value(json_object_get(root, "created_at")),
               *u = json_string_value(json_object_get(root, "updated_at"));
    const char *topic = c != NULL && u != NULL && strcmp(c, u) == 0 ? "customers/create" : "customers/update";
    json_decref(root);
    return topic;
}

static int shopify_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                        sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize)
{
    (void)conf;
    if (*num_headers < 4)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    unsigned char mac[SY_SHA256_LEN];
    char *sig = sy_connector_out_reserve(&out, 4 * ((SY_SHA256_LEN + 2) / 3) + 1);
    char *id = sy_connector_out_reserve(&out, 37), *when = sy_connector_out_reserve(&out, 25);
    if (sig == NULL || id == NULL || when == NULL)
        return SY_ETOOBIG;
    if (sy_hmac_sha256(secret, &req->body, 1, mac) != 0)
        return SY_EIO;
    size_t blen = sy_base64_encode(mac, sizeof(mac), sig);
    sy_random_uuid(id);
    sy_rfc3339_format(req->now_ms, when);
    headers[0] = (sy_header_t){SY_SLICE_LIT("X-Shopify-Hmac-Sha256"), {sig, blen}};
    headers[1] = (sy_header_t){SY_SLICE_LIT("X-Shopify-Topic"), sy_slice_cstr(infer_topic(req->body))};
    headers[2] = (sy_header_t){SY_SLICE_LIT("X-Shopify-Event-Id"), {id, 36}};
    headers[3] = (sy_header_t){SY_SLICE_LIT("X-Shopify-Triggered-At"), {when, 24}};
    *num_headers = 4;
    return 0;
}

static const char *shopify_scheme(const sy_source_verify_t *conf)
{
    (void)conf;
    return "shopify-hmac-sha256";
}

static const char *const shopify_sample_types[] = {"customers/create", "customers/update", "orders/create", NULL};

static char *shopify_sample(const char *type, int64_t now_ms)
{
    if (!sy_connector_sample_known(shopify_sample_types, type))
        return NULL;
    char now[25], created[25];
    sy_rfc3339_format(now_ms, now);
    sy_rfc3339_format(strcmp(type, "customers/update") == 0 ? now_ms - 86400000 : now_ms, created);
    now[19] = created[19] = 'Z'; /* Shopify's resource times have whole seconds */
    now[20] = created[20] = '\0';
    json_t *customer = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "id",
                                 (json_int_t)706405506930370084LL, "email", "billing@acme.example", "created_at",
                                 created, "updated_at", now, "first_name", "Ana", "last_name", "Acme", "state",
                                 "enabled", "phone", "+4930123456", "orders_count", 1, "currency", "EUR",
                                 "admin_graphql_api_id", "gid://shopify/Customer/706405506930370084");
    json_t *ev = customer;
    if (strcmp(type, "orders/create") == 0)
        ev = json_pack("{s:I, s:s, s:s, s:i, s:s, s:s, s:s, s:[{s:I, s:s, s:i, s:s}], s:o}", "id",
                       (json_int_t)820982911946154508LL, "email", "billing@acme.example", "created_at", now,
                       "order_number", 1001, "currency", "EUR", "total_price", "49.00", "financial_status", "paid",
                       "line_items", "id", (json_int_t)866550311766439020LL, "title", "Growth plan", "quantity", 1,
                       "price", "49.00", "customer", customer);
    char *out = ev != NULL ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return out;
}

const sy_connector_t sy_connector_shopify = {
    .name = "shopify",
    .role = SY_ROLE_OTHER,
    .verify = shopify_verify,
    .parse = shopify_parse,
    .scheme = shopify_scheme,
    .sign = shopify_sign,
    .default_tolerance_ms = 0, /* nothing is signed with a time */
    .sample_types = shopify_sample_types,
    .sample = shopify_sample,
};
