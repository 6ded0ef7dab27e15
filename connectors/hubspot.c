/*
 * HubSpot webhooks, three signature versions (chosen per source by conf->signature_version, never by the request):
 *   v1: X-HubSpot-Signature = hex(SHA-256(secret + body))
 *   v2: X-HubSpot-Signature = hex(SHA-256(secret + method + URI + body))
 *   v3: X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, method + URI' + body + timestamp)) with
 *       X-HubSpot-Request-Timestamp in Unix milliseconds; URI' is the URL with a few escapes decoded.
 * The body is a JSON array of events.
 *
 * Outbound: CRM v3 contacts with JSON bodies. One contact with an id: PATCH; several: batch/update (up to 100);
 * no id yet: batch/upsert by email, which finds or creates in one call.
 */
#include "connectors_builtin.h"
#include "crypto.h"
#include "header_event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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
            char c = hi >= 0 && lo >= 0 ? (char)(hi << 4 | lo) : '\0'; /* '\0': not an escape, kept as sent */
            if (c != '\0' && memchr(decoded, c, sizeof(decoded) - 1) != NULL) {
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

static int hubspot_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                         size_t *num_events, const char **errmsg)
{
    sy_slice_t body = req->body;
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
        /* The log keeps types as raw bytes: an escape would make them read differently once decoded. */
        if (sy_json_has_escape(json, tok)) {
            *errmsg = "event subscriptionType contains a JSON escape";
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


/* --- outbound: CRM v3 contacts --------------------------------------------------------------------------- */

#define HUBSPOT_BASE_URL "https://api.hubapi.com"
#define HUBSPOT_MAX_BATCH 100
#define HUBSPOT_RATE_COUNT 100 /* private apps on Free/Starter; Professional/Enterprise allow 190: set `rate` */
#define HUBSPOT_RATE_WINDOW_MS 10000
#define HUBSPOT_JSON_CONTENT_TYPE "application/json"
#define HUBSPOT_BODY_MAX (16 * 1024 * 1024)
#define HUBSPOT_MAX_FIELDS 256
#define HUBSPOT_NAME_MAX 255 /* a bound, not HubSpot's rule: longer names are not property names */
#define HUBSPOT_VALUE_MAX 65536 /* characters: HubSpot's limit for a property value */
#define HUBSPOT_PATH_CONTACTS "/crm/v3/objects/contacts"
/* Interval headers beyond 12 digits are not a pause anyone means. */
#define HUBSPOT_INTERVAL_MAX_DIGITS 12

static json_t *must(json_t *v)
{
    if (v == NULL)
        abort(); /* jansson returns NULL for containers only when out of memory */
    return v;
}

/* Internal property names: lower-case letters, digits and underscores. */
static int property_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > HUBSPOT_NAME_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* {"name":"value",...} of p's fields, or NULL (SY_EINVAL) when a name or value cannot be sent. */
static json_t *properties_of(const sy_push_t *p)
{
    if (p->num_fields > HUBSPOT_MAX_FIELDS || (p->num_fields != 0 && (p->names == NULL || p->values == NULL)))
        return NULL;
    json_t *props = must(json_object());
    for (size_t i = 0; i != p->num_fields; ++i) {
        const char *name = p->names[i], *value = p->values[i];
        int64_t chars;
        json_t *v;
        if (name == NULL || value == NULL || !property_name_ok(name) || json_object_get(props, name) != NULL ||
            (chars = sy_connector_utf8_chars(value)) < 0 || chars > HUBSPOT_VALUE_MAX ||
            (v = json_string(value)) == NULL) {
            json_decref(props);
            return NULL;
        }
        json_object_set_new(props, name, v);
    }
    return props;
}

/* {"id":id[,"idProperty":id_property],"properties":props}; takes props; NULL if id is not valid UTF-8. */
static json_t *input_of(const char *id, const char *id_property, json_t *props)
{
    json_t *v = json_string(id);
    if (v == NULL || id[0] == '\0') {
        json_decref(v);
        json_decref(props);
        return NULL;
    }
    json_t *input = must(json_object());
    json_object_set_new(input, "id", v);
    if (id_property != NULL)
        json_object_set_new(input, "idProperty", must(json_string(id_property)));
    json_object_set_new(input, "properties", props);
    return input;
}

static int hubspot_encode_push(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pushes == NULL || n == 0 || n > HUBSPOT_MAX_BATCH)
        return SY_EINVAL;
    int rc = SY_EINVAL;
    json_t *root = NULL, *props;
    memcpy(out->method, "POST", 5);

    if (n == 1 && pushes[0].object_id != NULL) {
        memcpy(out->method, "PATCH", 6);
        if ((rc = sy_connector_set_path(out, HUBSPOT_PATH_CONTACTS "/", pushes[0].object_id, "")) != 0)
            goto Exit;
        if ((props = properties_of(&pushes[0])) == NULL) {
            rc = SY_EINVAL;
            goto Exit;
        }
        root = must(json_object());
        json_object_set_new(root, "properties", props);
    } else if (n == 1) {
        /* Find or create by email in one call; without an email there is nothing to find the contact by. */
        const char *email = pushes[0].email;
        json_t *input;
        if (email == NULL || (props = properties_of(&pushes[0])) == NULL ||
            (input = input_of(email, "email", props)) == NULL)
            goto Exit;
        memcpy(out->path, HUBSPOT_PATH_CONTACTS "/batch/upsert", sizeof(HUBSPOT_PATH_CONTACTS "/batch/upsert"));
        root = must(json_object());
        json_t *inputs = must(json_array());
        json_array_append_new(inputs, input);
        json_object_set_new(root, "inputs", inputs);
    } else {
        memcpy(out->path, HUBSPOT_PATH_CONTACTS "/batch/update", sizeof(HUBSPOT_PATH_CONTACTS "/batch/update"));
        root = must(json_object());
        json_t *inputs = must(json_array());
        json_object_set_new(root, "inputs", inputs);
        for (size_t i = 0; i != n; ++i) {
            const char *id = pushes[i].object_id;
            if (id == NULL)
                goto Exit; /* the contract: a batch carries only pushes with an id */
            for (size_t k = 0; k != i; ++k) {
                if (strcmp(pushes[k].object_id, id) == 0)
                    goto Exit; /* HubSpot refuses a batch that names one id twice */
            }
            json_t *input;
            if ((props = properties_of(&pushes[i])) == NULL || (input = input_of(id, NULL, props)) == NULL)
                goto Exit;
            json_array_append_new(inputs, input);
        }
    }
    memcpy(out->content_type, HUBSPOT_JSON_CONTENT_TYPE, sizeof(HUBSPOT_JSON_CONTENT_TYPE));
    out->num_pushes = n;
    rc = sy_connector_set_json_body(out, root, HUBSPOT_BODY_MAX);

Exit:
    json_decref(root);
    if (rc != 0) {
        sy_http_request_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* The N of a 409 "Contact already exists. Existing ID: N" (in the JSON message, or the raw body); 0 or SY_ENOTFOUND. */
static int existing_id(sy_slice_t body, char *dst, size_t dstsize)
{
    static const char marker[] = "Existing ID: ";
    json_t *root = json_loadb(body.base, body.len, 0, NULL), *message = json_object_get(root, "message");
    sy_slice_t text = json_is_string(message) ? (sy_slice_t){json_string_value(message), json_string_length(message)}
                                              : body;
    int rc = SY_ENOTFOUND;
    const char *at = text.len != 0 ? memmem(text.base, text.len, marker, sizeof(marker) - 1) : NULL;
    if (at != NULL) {
        const char *digits = at + sizeof(marker) - 1, *end = text.base + text.len, *p = digits;
        while (p != end && *p >= '0' && *p <= '9')
            ++p;
        size_t len = (size_t)(p - digits);
        if (len != 0 && len < dstsize) {
            memcpy(dst, digits, len);
            dst[len] = '\0';
            rc = 0;
        }
    }
    json_decref(root);
    return rc;
}

/*
 * A 2xx answer: a contact (PATCH), or a batch answer whose errors, if any, make the whole request a retry. HubSpot
 * answers 200/201 when every input was written and 207 when some were not, so a body that cannot be read (the
 * delivery engine truncates long ones) is a success unless the status says 207.
 */
static void classify_success(long status, sy_slice_t body, size_t n, sy_push_result_t *result)
{
    json_t *root = json_loadb(body.base, body.len, 0, NULL);
    if (!json_is_object(root)) {
        result->outcome = status == 207 ? SY_PUSH_RETRY : SY_PUSH_DONE;
        goto Exit;
    }
    json_t *errors = json_object_get(root, "errors"), *num_errors = json_object_get(root, "numErrors");
    if ((json_is_array(errors) && json_array_size(errors) != 0) ||
        (json_is_integer(num_errors) && json_integer_value(num_errors) > 0)) {
        /* 207 multi-status: some inputs failed. All n are retried (updates and upserts are idempotent) unless
         * classify_each can tell from the answer which inputs were written. */
        result->outcome = SY_PUSH_RETRY;
        goto Exit;
    }
    result->outcome = SY_PUSH_DONE;
    if (n == 1) {
        json_t *results = json_object_get(root, "results");
        json_t *obj = json_is_array(results) ? json_array_get(results, 0) : root;
        sy_connector_copy_id(result->created_id, sizeof(result->created_id), json_object_get(obj, "id"));
    }

Exit:
    json_decref(root);
}

static void hubspot_classify(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                             sy_push_result_t *result)
{
    sy_connector_result_init(result, SY_PUSH_DONE);
    if (status >= 200 && status <= 299) {
        classify_success(status, body, n, result);
    } else if (status == 409) {
        /* A create raced another: the answer names the contact that exists, to be updated instead. */
        result->outcome = existing_id(body, result->created_id, sizeof(result->created_id)) == 0 ? SY_PUSH_FOUND
                                                                                                : SY_PUSH_PERMANENT;
    } else if (status == 429) {
        result->outcome = SY_PUSH_RETRY;
        result->rate_limited = 1;
    } else if (status >= 500 || status < 200) {
        result->outcome = SY_PUSH_RETRY;
    } else {
        result->outcome = SY_PUSH_PERMANENT; /* other 4xx (unknown or read-only property: 400), and redirects */
    }

    /*
     * When to send again: Retry-After if HubSpot gave one (it does not promise it), else the rate-limit headers: with
     * no request left in the window, wait one window. The latter also paces after a success.
     */
    const sy_header_t *h;
    if (result->outcome == SY_PUSH_RETRY && (h = sy_connector_header(headers, num_headers, "Retry-After")) != NULL)
        result->retry_after_ms = sy_connector_retry_after_ms(h->value, sy_now_ms());
    if (result->retry_after_ms < 0 &&
        (h = sy_connector_header(headers, num_headers, "X-HubSpot-RateLimit-Remaining")) != NULL &&
        sy_slice_eq_cstr(sy_connector_trim(h->value), "0") &&
        (h = sy_connector_header(headers, num_headers, "X-HubSpot-RateLimit-Interval-Milliseconds")) != NULL) {
        int64_t interval;
        if (sy_connector_parse_uint(sy_connector_trim(h->value), HUBSPOT_INTERVAL_MAX_DIGITS, &interval) == 0)
            result->retry_after_ms = interval;
    }
}

/* Whether the JSON array list holds the string id. */
static int lists_id(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
            return 1;
    }
    return 0;
}

/* Whether an entry of errors[] names id in its context (HubSpot: "context": {"ids": ["512", ...]}, or "id"). */
static int error_names(json_t *errors, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        json_t *context = json_object_get(e, "context");
        if (lists_id(json_object_get(context, "ids"), id) || lists_id(json_object_get(context, "id"), id))
            return 1;
    }
    return 0;
}

/*
 * A batch/update answered 207 Multi-Status: {"status","results":[contact...],"numErrors","errors":[{"status",
 * "category","message","context":{"ids":[...]}}]}. Input i (an object id, in the order of the request's inputs) was
 * written iff the answer's results hold a contact with its id and no error names it; every other input keeps
 * classify's outcome (retry). An input neither listed nor named is retried too: HubSpot does not promise that
 * every error names its ids, and a retried update is idempotent. An answer that cannot be read (not JSON,
 * truncated by the delivery engine's cap, no results array) or a request that is not ours leaves the result
 * alone, so all n are retried: safe for the same reason.
 */
static void hubspot_classify_each(const sy_http_request_t *req, long status, sy_slice_t body, size_t n,
                                  sy_push_result_t *result)
{
    json_t *sent = NULL, *root = NULL;
    if (status != 207 || result->outcome != SY_PUSH_RETRY || n < 2 || n > SY_PUSH_MAX_BATCH || req->body == NULL)
        return;
    sent = json_loadb(req->body, req->body_len, 0, NULL);
    root = json_loadb(body.base, body.len, 0, NULL);
    json_t *inputs = json_object_get(sent, "inputs"), *results = json_object_get(root, "results");
    json_t *errors = json_object_get(root, "errors");
    if (!json_is_array(inputs) || json_array_size(inputs) != n || !json_is_array(results))
        goto Exit;
    unsigned char written[SY_PUSH_MAX_BATCH] = {0};
    size_t any = 0;
    for (size_t i = 0; i != n; ++i) {
        const char *id = json_string_value(json_object_get(json_array_get(inputs, i), "id"));
        if (id == NULL)
            goto Exit;
        int listed = 0;
        size_t k;
        json_t *r;
        json_array_foreach(results, k, r) listed |= json_is_string(json_object_get(r, "id")) &&
                                                    strcmp(json_string_value(json_object_get(r, "id")), id) == 0;
        written[i] = (unsigned char)(listed && !error_names(errors, id));
        any += written[i];
    }
    if (any != 0) {
        memcpy(result->written, written, n);
        result->partial = 1;
    }
Exit:
    json_decref(sent);
    json_decref(root);
}

static const char *hubspot_scheme(const sy_source_verify_t *conf)
{
    int version = version_of(conf);
    return version == 1 ? "hubspot-v1" : version == 2 ? "hubspot-v2" : "hubspot-v3";
}

static const sy_connector_option_t hubspot_options[] = {
    {"signature_version", "1, 2 or 3 (default 3: HMAC over method, URI, body and timestamp)"},
    {"reconcile_properties", "the contact properties reconcile and fetches read, comma-separated (default: the "
                             "example policy's)"},
    {"fetch_created", "true: read each created contact back (contact.creation carries no properties); default false"},
};

/* --- reconcile: contacts changed since a time (CRM search), as property-change events -------------------------- */

#define RECONCILE_PROPERTIES "email,firstname,lastname,name,phone,company,lifecyclestage,subscription_status,plan,mrr," \
                             "payment_state"
#define RECONCILE_PAGE 100 /* the search API's largest page */

/*
 * POST /crm/v3/objects/contacts/search for the contacts whose lastmodifieddate is at or after since_ms, oldest change
 * first, 100 a page; cursor is the search's paging.next.after. The search answers 10,000 results at most for one
 * query: a longer gap is reconciled in shorter --since windows (the page past it is refused, and reconcile says so).
 */
static int hubspot_encode_changes(const sy_source_verify_t *conf, int64_t since_ms, const char *cursor,
                                  sy_http_request_t *out)
{
    const char *list = conf != NULL && conf->options[1] != NULL ? conf->options[1] : RECONCILE_PROPERTIES;
    char since[24];
    int rc = SY_ENOMEM;
    memset(out, 0, sizeof(*out));
    memcpy(out->method, "POST", 5);
    memcpy(out->path, "/crm/v3/objects/contacts/search", sizeof("/crm/v3/objects/contacts/search"));
    memcpy(out->content_type, "application/json", sizeof("application/json"));
    snprintf(since, sizeof(since), "%lld", (long long)(since_ms > 0 ? since_ms : 0));
    json_t *props = json_array(), *root = NULL;
    for (const char *p = list; props != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len != 0)
            json_array_append_new(props, json_stringn(p, len));
        p += len + (comma != NULL);
    }
    root = json_pack("{s:[{s:[{s:s, s:s, s:s}]}], s:[{s:s, s:s}], s:o, s:i}", "filterGroups", "filters",
                     "propertyName", "lastmodifieddate", "operator", "GTE", "value", since, "sorts", "propertyName",
                     "lastmodifieddate", "direction", "ASCENDING", "properties", props, "limit", RECONCILE_PAGE);
    if (root != NULL && cursor != NULL && cursor[0] != '\0')
        json_object_set_new(root, "after", json_string(cursor));
    if (root != NULL)
        rc = sy_connector_set_json_body(out, root, 64 * 1024);
    json_decref(root);
    return rc;
}

/*
 * One property of a contact read from the API (reconcile's search, a fetch of a created contact) as the property
 * change a webhook would carry: {"eventId":"hs-ID-PROP-MS", "subscriptionType":"contact.propertyChange",
 * "objectId", "propertyName", "propertyValue", "occurredAt", "changeSource":"READ"}, at the contact's last change.
 * Reconcile and fetches name one version of a property alike, so the log never holds it twice. Fills event_id;
 * returns the malloc'd body, or NULL (an id that is not decimal, a name too long for an event id, no memory).
 */
static char *property_event(const char *id, const char *name, json_t *value, int64_t at_ms, char *event_id,
                            size_t cap)
{
    int n = snprintf(event_id, cap, "hs-%s-%s-%lld", id, name, (long long)at_ms);
    char *end;
    long long object_id = strtoll(id, &end, 10);
    if (n < 0 || (size_t)n >= cap || *end != '\0' || end == id)
        return NULL;
    json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:O, s:I, s:s}", "eventId", event_id, "subscriptionType",
                           "contact.propertyChange", "objectId", (json_int_t)object_id, "propertyName", name,
                           "propertyValue", value != NULL ? value : json_null(), "occurredAt", (json_int_t)at_ms,
                           "changeSource", "READ");
    char *raw = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return raw;
}

/* HubSpot's own bookkeeping properties: not the customer's. */
static int own_property(const char *name)
{
    return strcmp(name, "hs_object_id") == 0 || strcmp(name, "createdate") == 0 || strcmp(name, "lastmodifieddate") == 0;
}

static int emit_property(const char *id, const char *name, json_t *value, int64_t at_ms, sy_change_sink_fn emit,
                         void *arg)
{
    char event_id[SY_EVENT_ID_MAX + 1];
    char *raw = property_event(id, name, value, at_ms, event_id, sizeof(event_id));
    if (raw == NULL)
        return 0; /* not a contact property the hub can name */
    sy_event_ref_t ref = {.raw = sy_slice_cstr(raw), .id = sy_slice_cstr(event_id),
                          .type = SY_SLICE_LIT("contact.propertyChange"), .occurred_at_ms = at_ms};
    int rc = emit(arg, &ref);
    free(raw);
    return rc;
}

/* A search page: each contact's properties (but the ones HubSpot keeps itself) as property changes at the contact's
 * last change: the current values, which no older change can outrank. */
static int hubspot_decode_changes(const sy_source_verify_t *conf, const sy_http_request_t *req, sy_json_t *json,
                                  sy_slice_t body, sy_change_sink_fn emit, void *arg,
                                  char *next_cursor, size_t cursor_size)
{
    json_t *root = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, NULL), *results, *r;
    size_t i;
    int rc = SY_EPARSE;
    next_cursor[0] = '\0';
    if (!json_is_object(root) || !json_is_array(results = json_object_get(root, "results")))
        goto Exit;
    json_array_foreach(results, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id")), *name;
        json_t *props = json_object_get(r, "properties"), *v;
        int64_t at_ms;
        const char *updated = json_string_value(json_object_get(r, "updatedAt"));
        if (id == NULL || !json_is_object(props) || updated == NULL || sy_rfc3339_ms(sy_slice_cstr(updated), &at_ms) != 0)
            goto Exit;
        json_object_foreach(props, name, v)
        {
            if (!own_property(name) && (rc = emit_property(id, name, v, at_ms, emit, arg)) != 0)
                goto Exit;
        }
    }
    const char *after = json_string_value(json_object_get(json_object_get(json_object_get(root, "paging"), "next"), "after"));
    if (after != NULL) {
        if (strlen(after) >= cursor_size)
            goto Exit;
        memcpy(next_cursor, after, strlen(after) + 1);
    }
    rc = 0;
Exit:
    json_decref(root);
    return rc;
}

/* sources.NAME.signature_version: the app's signature version, chosen by the config, never by a request. */
static int hubspot_configure(sy_source_verify_t *conf, size_t *bad_option, char *msg, size_t msgsize)
{
    const char *v = conf->options[0], *fetch = conf->options[2];
    conf->signature_version = HUBSPOT_DEFAULT_VERSION;
    if (fetch != NULL && strcmp(fetch, "true") != 0 && strcmp(fetch, "false") != 0) {
        *bad_option = 2;
        snprintf(msg, msgsize, "fetch_created must be true or false");
        return SY_EINVAL;
    }
    if (v == NULL)
        return 0;
    if ((v[0] != '1' && v[0] != '2' && v[0] != '3') || v[1] != '\0') {
        *bad_option = 0;
        snprintf(msg, msgsize, "signature_version must be 1, 2 or 3");
        return SY_EINVAL;
    }
    conf->signature_version = v[0] - '0';
    return 0;
}

/* --- fetch: a created contact read back (option fetch_created) ------------------------------------------- */

static int fetch_created(const sy_source_verify_t *conf)
{
    return conf != NULL && conf->options[2] != NULL && strcmp(conf->options[2], "true") == 0;
}

static int hubspot_needs_fetch(const sy_source_verify_t *conf, sy_slice_t type)
{
    return fetch_created(conf) && sy_slice_eq_cstr(type, "contact.creation");
}

/* GET /crm/v3/objects/contacts/{objectId}?properties=… for events[0] (one contact a request). */
static int hubspot_encode_fetch(const sy_source_verify_t *conf, const sy_slice_t *events, size_t n,
                                unsigned char *covered, sy_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return SY_EINVAL;
    memset(covered, 0, n);
    json_t *ev = json_loadb(events[0].base, events[0].len, 0, NULL), *oid = json_object_get(ev, "objectId");
    char id[32];
    int ok = json_is_integer(oid) && json_integer_value(oid) > 0;
    if (ok)
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(oid));
    json_decref(ev);
    if (!ok)
        return SY_EINVAL;
    const char *list = conf != NULL && conf->options[1] != NULL ? conf->options[1] : RECONCILE_PROPERTIES;
    sy_connector_buf_t q = {.max = 2048};
    if (sy_connector_buf_append_pct(&q, list, strlen(list)) != 0) {
        sy_connector_buf_dispose(&q);
        return SY_EINVAL;
    }
    int len = snprintf(out->path, sizeof(out->path), "/crm/v3/objects/contacts/%s?properties=%.*s", id, (int)q.len,
                       q.base);
    sy_connector_buf_dispose(&q);
    if (len <= 0 || (size_t)len >= sizeof(out->path))
        return SY_EINVAL;
    memcpy(out->method, "GET", 4);
    covered[0] = 1;
    out->num_pushes = 1;
    return 0;
}

/* The contact as property changes at its last change (property_event: the ids reconcile gives them too). */
static int hubspot_decode_fetch(const sy_http_request_t *req, sy_slice_t body, sy_fetched_t **fetched,
                                size_t *num_fetched, const char **errmsg)
{
    json_t *root = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, NULL), *props, *v;
    const char *id = json_string_value(json_object_get(root, "id")), *updated = json_string_value(json_object_get(root, "updatedAt")), *name;
    sy_fetched_t *out = NULL;
    size_t n = 0;
    int64_t at_ms;
    *fetched = NULL;
    *num_fetched = 0;
    if (id == NULL || !json_is_object(props = json_object_get(root, "properties")) || updated == NULL ||
        sy_rfc3339_ms(sy_slice_cstr(updated), &at_ms) != 0) {
        json_decref(root);
        *errmsg = "the answer is not a contact";
        return SY_EPARSE;
    }
    if ((out = calloc(json_object_size(props) + 1, sizeof(*out))) == NULL)
        abort();
    json_object_foreach(props, name, v)
    {
        char event_id[SY_EVENT_ID_MAX + 1];
        char *raw = own_property(name) ? NULL : property_event(id, name, v, at_ms, event_id, sizeof(event_id));
        if (raw == NULL)
            continue;
        out[n] = (sy_fetched_t){.id = strdup(event_id), .type = strdup("contact.propertyChange"),
                                .occurred_at_ms = at_ms, .body = raw, .body_len = strlen(raw)};
        if (out[n].id == NULL || out[n].type == NULL)
            abort();
        ++n;
    }
    json_decref(root);
    *fetched = out;
    *num_fetched = n;
    return 0;
}

const sy_connector_t sy_connector_hubspot = {
    .name = "hubspot",
    .role = SY_ROLE_CRM,
    .verify = hubspot_verify,
    .parse = hubspot_parse,
    .scheme = hubspot_scheme,
    .sign = hubspot_sign,
    .default_tolerance_ms = HUBSPOT_DEFAULT_TOLERANCE_MS,
    .options = hubspot_options,
    .num_options = SY_ARRAY_SIZE(hubspot_options),
    .configure = hubspot_configure,
    /* contact.propertyChange carries one property: it reads like a contact with only that property. */
    .observe = {.property_name = "propertyName", .property_value = "propertyValue"},
    .sample_types = sy_hubspot_sample_types,
    .sample = sy_hubspot_sample,
    .encode_changes = hubspot_encode_changes,
    .decode_changes = hubspot_decode_changes,
    .needs_fetch = hubspot_needs_fetch,
    .fetches = fetch_created,
    .encode_fetch = hubspot_encode_fetch,
    .decode_fetch = hubspot_decode_fetch,
    .encode_push = hubspot_encode_push,
    .classify = hubspot_classify,
    .classify_each = hubspot_classify_each,
    .max_batch = HUBSPOT_MAX_BATCH,
    .default_rate_count = HUBSPOT_RATE_COUNT,
    .default_rate_window_ms = HUBSPOT_RATE_WINDOW_MS,
    .default_base_url = HUBSPOT_BASE_URL,
};
