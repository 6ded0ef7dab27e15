/*
 * Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`, signature = lower-case hex of
 * HMAC-SHA256(key = the whole `whsec_...` secret as bytes, message = t "." raw body). One event per request.
 *
 * Outbound: the customers API, one customer per request, form-encoded (`metadata.x` -> `metadata[x]`), with the
 * push's Idempotency-Key. A push without a customer id is first looked up by email (GET /v1/customers?email=),
 * then created if none was found.
 */
#include "connectors_builtin.h"
#include "crypto.h"

#include <jansson.h>
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
    if (h == SY_HEADER_REPEATED)
        return SY_VERIFY_MALFORMED_HEADER;
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

/* Reads the Stripe event object at token obj (raw: its bytes) into ev. 0, or SY_EPARSE with *errmsg set. */
static int read_event(sy_json_t *json, int obj, sy_slice_t raw, sy_event_ref_t *ev, const char **errmsg)
{
    *ev = (sy_event_ref_t){.raw = raw};
    int tok = sy_json_get(json, obj, "id");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev->id = sy_json_text(json, tok)).len == 0) {
        *errmsg = "event has no string id";
        return SY_EPARSE;
    }
    if (ev->id.len > SY_EVENT_ID_MAX) {
        *errmsg = "event id is longer than the limit";
        return SY_EPARSE;
    }
    /* The log keeps ids and types as raw bytes: an escape would make them read differently once decoded. */
    if (sy_json_has_escape(json, tok)) {
        *errmsg = "event id contains a JSON escape";
        return SY_EPARSE;
    }
    tok = sy_json_get(json, obj, "type");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev->type = sy_json_text(json, tok)).len == 0) {
        *errmsg = "event has no string type";
        return SY_EPARSE;
    }
    if (sy_json_has_escape(json, tok)) {
        *errmsg = "event type contains a JSON escape";
        return SY_EPARSE;
    }
    if (ev->type.len > SY_EVENT_TYPE_MAX) {
        *errmsg = "event type is longer than the limit";
        return SY_EPARSE;
    }
    if ((tok = sy_json_get(json, obj, "created")) >= 0) {
        int64_t created;
        /* The bound keeps created * 1000 inside int64 (any real date is far below it). */
        if (sy_json_int64(json, tok, &created) != 0 || created < 0 || created > INT64_MAX / 1000) {
            *errmsg = "event created is not a valid Unix time";
            return SY_EPARSE;
        }
        ev->occurred_at_ms = created * 1000;
    }
    return 0;
}

static int stripe_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                        size_t *num_events, const char **errmsg)
{
    sy_event_ref_t ev;
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;
    if ((rc = read_event(json, 0, req->body, &ev, errmsg)) != 0)
        return rc;
    if (max_events < 1) {
        *errmsg = "more events in the body than the limit";
        return SY_ETOOBIG;
    }
    events[0] = ev;
    *num_events = 1;
    return 0;
}

/*
 * Reconcile: GET /v1/events lists the events of the last 30 days, newest first, 100 a page; starting_after pages
 * on to older ones. They are the very objects the webhooks carried, so logged they read exactly as if they had
 * arrived then.
 */
static int stripe_encode_changes(const sy_source_verify_t *conf, int64_t since_ms, const char *cursor,
                                 sy_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->method, "GET", 4);
    int n = snprintf(out->path, sizeof(out->path), "/v1/events?limit=100&created%%5Bgte%%5D=%lld",
                     (long long)(since_ms > 0 ? since_ms / 1000 : 0));
    if (n < 0 || (size_t)n >= sizeof(out->path))
        return SY_EINVAL;
    if (cursor != NULL && cursor[0] != '\0') {
        size_t len = strlen(cursor), at = (size_t)n;
        if (len > 255 || at + sizeof("&starting_after=") + len > sizeof(out->path))
            return SY_EINVAL;
        for (size_t i = 0; i != len; ++i) { /* Stripe ids: letters, digits and '_' only; anything else is refused */
            char c = cursor[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
                return SY_EINVAL;
        }
        snprintf(out->path + at, sizeof(out->path) - at, "&starting_after=%s", cursor);
    }
    return 0;
}

static int stripe_decode_changes(const sy_source_verify_t *conf, const sy_http_request_t *req, sy_json_t *json,
                                 sy_slice_t body, sy_change_sink_fn emit, void *arg,
                                 char *next_cursor, size_t cursor_size)
{
    const char *errmsg;
    int rc;
    next_cursor[0] = '\0';
    if ((rc = sy_connector_parse_root(json, body, SY_JSON_OBJECT, "not a list", &errmsg)) != 0)
        return rc;
    int data = sy_json_get(json, 0, "data"), more = sy_json_get(json, 0, "has_more");
    if (sy_json_type(json, data) != SY_JSON_ARRAY)
        return SY_EPARSE;
    int n = sy_json_size(json, data), el = data + 1;
    sy_slice_t last = {NULL, 0};
    for (int i = 0; i != n; ++i, el = sy_json_skip(json, el)) {
        sy_event_ref_t ev;
        if (sy_json_type(json, el) != SY_JSON_OBJECT || read_event(json, el, sy_json_span(json, el), &ev, &errmsg) != 0)
            return SY_EPARSE;
        if ((rc = emit(arg, &ev)) != 0)
            return rc;
        last = ev.id;
    }
    if (more >= 0 && sy_json_text(json, more).len == 4 && memcmp(sy_json_text(json, more).base, "true", 4) == 0 &&
        last.len != 0) {
        if (last.len >= cursor_size)
            return SY_EPARSE;
        memcpy(next_cursor, last.base, last.len);
        next_cursor[last.len] = '\0';
    }
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


/* --- outbound: the customers API ------------------------------------------------------------------------- */

#define STRIPE_BASE_URL "https://api.stripe.com"
#define STRIPE_RATE_COUNT 25 /* test mode (live mode allows about 100/s: set the source's `rate`) */
#define STRIPE_RATE_WINDOW_MS 1000
#define STRIPE_FORM_CONTENT_TYPE "application/x-www-form-urlencoded"
#define STRIPE_FORM_MAX (256 * 1024) /* 50 metadata entries of 540 characters, percent-encoded, fit several times */
#define STRIPE_MAX_FIELDS 256
#define STRIPE_NAME_MAX 255
#define STRIPE_METADATA_KEYS_MAX 50
#define STRIPE_METADATA_KEY_MAX 40
#define STRIPE_METADATA_VALUE_MAX 500 /* characters (code points) */
#define STRIPE_VALUE_MAX 5000         /* characters: Stripe's longest customer string parameter */

/* Customer attributes that are not parameters: the API answers 400 to a write of these. */
static const char *const read_only_names[] = {"id",       "object",   "created",  "livemode",      "deleted",
                                              "delinquent", "discount", "sources", "subscriptions", "tax_ids"};

static int is_param_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_metadata_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/*
 * Appends the form name of an API field name: "email" -> email, "address.line1" -> address[line1],
 * "metadata.k" -> metadata[k]. Parameter segments are [a-z0-9_]+; a metadata key is 1..40 of [A-Za-z0-9_-] (no dot:
 * metadata is flat). Every character kept is unreserved, so names need no escapes; brackets are sent as they are.
 * Returns 0, SY_EINVAL for a name the customers API would refuse, or SY_ETOOBIG.
 */
static int append_form_name(sy_connector_buf_t *b, const char *name, int *is_metadata)
{
    size_t len = strlen(name);
    if (len == 0 || len > STRIPE_NAME_MAX)
        return SY_EINVAL;
    const char *dot = memchr(name, '.', len);
    size_t first = dot != NULL ? (size_t)(dot - name) : len;
    *is_metadata = first == 8 && memcmp(name, "metadata", 8) == 0;
    if (*is_metadata) {
        /* Bare "metadata" is refused: `metadata=` would clear every key, not one. */
        const char *key = dot != NULL ? dot + 1 : "";
        size_t klen = strlen(key);
        if (klen == 0 || klen > STRIPE_METADATA_KEY_MAX)
            return SY_EINVAL;
        for (size_t i = 0; i != klen; ++i) {
            if (!is_metadata_key_char(key[i]))
                return SY_EINVAL;
        }
        int rc;
        if ((rc = sy_connector_buf_append(b, "metadata[", 9)) != 0 || (rc = sy_connector_buf_append(b, key, klen)) != 0 ||
            (rc = sy_connector_buf_append(b, "]", 1)) != 0)
            return rc;
        return 0;
    }
    for (size_t i = 0; i != SY_ARRAY_SIZE(read_only_names); ++i) {
        if (strlen(read_only_names[i]) == first && memcmp(name, read_only_names[i], first) == 0)
            return SY_EINVAL;
    }
    /* Walk the dot-separated segments; each must be non-empty. */
    size_t start = 0;
    for (size_t i = 0; i <= len; ++i) {
        if (i != len && name[i] != '.') {
            if (!is_param_char(name[i]))
                return SY_EINVAL;
            continue;
        }
        if (i == start)
            return SY_EINVAL; /* "", ".a", "a..b", "a." */
        int rc;
        if (start != 0 && (rc = sy_connector_buf_append(b, "[", 1)) != 0)
            return rc;
        if ((rc = sy_connector_buf_append(b, name + start, i - start)) != 0)
            return rc;
        if (start != 0 && (rc = sy_connector_buf_append(b, "]", 1)) != 0)
            return rc;
        start = i + 1;
    }
    return 0;
}

/* Appends "&name=value" (no & first); checks the value. */
static int append_form_field(sy_connector_buf_t *b, const char *name, const char *value, int *is_metadata)
{
    int rc;
    if (b->len != 0 && (rc = sy_connector_buf_append(b, "&", 1)) != 0)
        return rc;
    if ((rc = append_form_name(b, name, is_metadata)) != 0)
        return rc;
    if (value == NULL)
        return SY_EINVAL;
    int64_t chars = sy_connector_utf8_chars(value);
    if (chars < 0 || chars > (*is_metadata ? STRIPE_METADATA_VALUE_MAX : STRIPE_VALUE_MAX))
        return SY_EINVAL;
    if ((rc = sy_connector_buf_append(b, "=", 1)) != 0)
        return rc;
    return sy_connector_buf_append_pct(b, value, strlen(value));
}

/* The form body of p's fields, plus email=<p->email> when creating and no field sets the email. */
static int encode_form(const sy_push_t *p, int creating, sy_connector_buf_t *form)
{
    if (p->num_fields > STRIPE_MAX_FIELDS || (p->num_fields != 0 && (p->names == NULL || p->values == NULL)))
        return SY_EINVAL;
    size_t metadata_keys = 0;
    int has_email = 0;
    for (size_t i = 0; i != p->num_fields; ++i) {
        if (p->names[i] == NULL)
            return SY_EINVAL;
        for (size_t k = 0; k != i; ++k) {
            if (strcmp(p->names[k], p->names[i]) == 0)
                return SY_EINVAL; /* the same parameter twice: which value wins would be Stripe's guess */
        }
        int is_metadata, rc;
        if ((rc = append_form_field(form, p->names[i], p->values[i], &is_metadata)) != 0)
            return rc;
        if (is_metadata && ++metadata_keys > STRIPE_METADATA_KEYS_MAX)
            return SY_EINVAL;
        has_email |= strcmp(p->names[i], "email") == 0;
    }
    if (creating && !has_email && p->email != NULL && p->email[0] != '\0') {
        int is_metadata;
        return append_form_field(form, "email", p->email, &is_metadata);
    }
    return 0;
}

static int stripe_encode_push(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pushes == NULL || n != 1)
        return SY_EINVAL;
    const sy_push_t *p = &pushes[0];
    int has_email = p->email != NULL && p->email[0] != '\0';
    int lookup = p->object_id == NULL && !p->create && has_email;
    int creating = p->object_id == NULL && !lookup;

    /* The fields are checked even for a lookup: a push that cannot be written should not cost a lookup first. */
    sy_connector_buf_t form = {.max = STRIPE_FORM_MAX};
    int rc = encode_form(p, creating, &form);
    if (rc != 0)
        goto Exit;

    out->num_pushes = 1;
    if (lookup) {
        memcpy(out->method, "GET", 4);
        out->lookup = 1;
        rc = sy_connector_set_path(out, "/v1/customers?email=", p->email, "&limit=1");
        goto Exit; /* no body, no idempotency key: a GET is safe to repeat */
    }
    memcpy(out->method, "POST", 5);
    memcpy(out->content_type, STRIPE_FORM_CONTENT_TYPE, sizeof(STRIPE_FORM_CONTENT_TYPE));
    if (creating)
        memcpy(out->path, "/v1/customers", sizeof("/v1/customers"));
    else if ((rc = sy_connector_set_path(out, "/v1/customers/", p->object_id, "")) != 0)
        goto Exit;
    if ((rc = sy_connector_set_idempotency_key(out, p->idempotency_key)) != 0)
        goto Exit;
    if (form.len != 0) {
        if ((rc = sy_connector_buf_append(&form, "", 1)) != 0) /* NUL-terminated for logs; not in body_len */
            goto Exit;
        out->body = form.base;
        out->body_len = form.len - 1;
        form.base = NULL;
    }

Exit:
    sy_connector_buf_dispose(&form);
    if (rc != 0) {
        sy_http_request_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

static void stripe_classify(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                            sy_push_result_t *result)
{
    sy_connector_result_init(result, SY_PUSH_DONE);
    if (status >= 200 && status <= 299) {
        /* A customer (update, create) or a list (lookup). Stripe always answers JSON: an unreadable 2xx is
         * retried (idempotent). */
        sy_connector_classify_found(body, "object", result);
        return;
    }
    if (status == 429) {
        result->rate_limited = 1;
        result->outcome = SY_PUSH_RETRY;
    } else if (status == 409 || status >= 500 || status < 200) {
        result->outcome = SY_PUSH_RETRY; /* 409: a concurrent request with the same key, or a lock timeout */
    } else if (status == 400 && body.len != 0 && memmem(body.base, body.len, "idempotency_error", 17) != NULL) {
        /* A create is keyed by its record: refused under that key, the customer was made already (with the values
         * of then). Retried, the hub looks it up first, links it and updates it. */
        result->outcome = SY_PUSH_RETRY;
    } else {
        result->outcome = SY_PUSH_PERMANENT; /* other 4xx, and redirects */
    }
    /* Stripe's own verdict overrides the status, as in its official clients. */
    const sy_header_t *h = sy_connector_header(headers, num_headers, "Stripe-Should-Retry");
    if (h != NULL) {
        sy_slice_t v = sy_connector_trim(h->value);
        if (sy_slice_eq_cstr(v, "true"))
            result->outcome = SY_PUSH_RETRY;
        else if (sy_slice_eq_cstr(v, "false"))
            result->outcome = SY_PUSH_PERMANENT;
    }
    if (result->outcome == SY_PUSH_RETRY && (h = sy_connector_header(headers, num_headers, "Retry-After")) != NULL)
        result->retry_after_ms = sy_connector_retry_after_ms(h->value, sy_now_ms());
}

static const char *stripe_scheme(const sy_source_verify_t *conf)
{
    return "stripe-v1";
}

static const char *const subscription_id_path[] = {"data", "object", "id", NULL};
static const char *const subscription_status_path[] = {"data", "object", "status", NULL};
static const char *const write_key_path[] = {"request", "idempotency_key", NULL};
static const char *const invoice_status_path[] = {"data", "object", "status", NULL};

const sy_connector_t sy_connector_stripe = {
    .name = "stripe",
    .role = SY_ROLE_BILLING,
    .verify = stripe_verify,
    .parse = stripe_parse,
    .scheme = stripe_scheme,
    .sign = stripe_sign,
    .default_tolerance_ms = STRIPE_DEFAULT_TOLERANCE_MS,
    .observe =
        {
            .subscription_prefix = "customer.subscription.",
            .subscription_id = subscription_id_path,
            .subscription_status = subscription_status_path,
            .subscription_ended = "customer.subscription.deleted",
            .invoice_prefix = "invoice.",
            .invoice_id = subscription_id_path, /* data.object.id */
            .invoice_status = invoice_status_path,
            /* Stripe names the idempotency key of the API call that caused the event: ours marks our own write. */
            .write_key = write_key_path,
        },
    .sample_types = sy_stripe_sample_types,
    .sample = sy_stripe_sample,
    .encode_changes = stripe_encode_changes,
    .decode_changes = stripe_decode_changes,
    .changes_retention_ms = 30LL * 86400 * 1000,
    .changes_newest_first = 1,
    .encode_push = stripe_encode_push,
    .classify = stripe_classify,
    .max_batch = 1,
    .default_rate_count = STRIPE_RATE_COUNT,
    .default_rate_window_ms = STRIPE_RATE_WINDOW_MS,
    .default_base_url = STRIPE_BASE_URL,
};
