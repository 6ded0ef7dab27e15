/*
 * Intercom webhooks and the contacts API.
 *
 * Inbound: X-Hub-Signature: sha1=<hex HMAC-SHA1(app client secret, raw body)> (signature_schemes.h). The signature
 * carries no timestamp, so a captured request stays valid forever: a replay is stopped only by the dedupe index on
 * the notification's `id` (notif_…), which keeps every id it has stored. The body is one notification:
 *   {"type":"notification_event","app_id","id":"notif_…","topic":"contact.user.updated","created_at":<unix s>,
 *    "delivery_attempts","first_sent_at","data":{"type":"notification_event_data","item":{…the whole object…}}}
 * Event id = id, type = topic, time = created_at * 1000. A saved webhook is first sent a signed `ping` topic, which
 * is stored like any event (no policy maps it) and answered 200, as Intercom requires.
 *
 * Outbound: one contact per request (Intercom has no batch update), `Intercom-Version` pinned (option api_version):
 *   object id known        PUT  /contacts/{id}   {"name":…,"custom_attributes":{…}}
 *   no id, an email        POST /contacts/search {"query":{"field":"email","operator":"=","value":email}} (lookup)
 *   not found, or no email POST /contacts        {"role":"user","email":…, fields…}
 * Intercom takes no idempotency key; a PUT is idempotent, a create that may have happened is looked up again by the
 * delivery engine before it is repeated.
 */
#include "connectors_builtin.h"
#include "signature_schemes.h"
#include "crypto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sy_verify_result_t intercom_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_body_mac(&sy_scheme_intercom, conf, req);
}

static int intercom_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                          size_t *num_events, const char **errmsg)
{
    int rc;
    *num_events = 0;
    if ((rc = sy_connector_parse_root(json, req->body, SY_JSON_OBJECT, "body is not a JSON object", errmsg)) != 0)
        return rc;

    sy_event_ref_t ev = {.raw = req->body};
    int tok = sy_json_get(json, 0, "id");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev.id = sy_json_text(json, tok)).len == 0) {
        *errmsg = "notification has no string id";
        return SY_EPARSE;
    }
    if (ev.id.len > SY_EVENT_ID_MAX) {
        *errmsg = "event id is longer than the limit";
        return SY_EPARSE;
    }
    /* The log keeps ids and types as raw bytes: an escape would make them read differently once decoded. */
    if (sy_json_has_escape(json, tok)) {
        *errmsg = "event id contains a JSON escape";
        return SY_EPARSE;
    }
    tok = sy_json_get(json, 0, "topic");
    if (sy_json_type(json, tok) != SY_JSON_STRING || (ev.type = sy_json_text(json, tok)).len == 0) {
        *errmsg = "notification has no string topic";
        return SY_EPARSE;
    }
    if (sy_json_has_escape(json, tok)) {
        *errmsg = "event type contains a JSON escape";
        return SY_EPARSE;
    }
    if (ev.type.len > SY_EVENT_TYPE_MAX) {
        *errmsg = "event type is longer than the limit";
        return SY_EPARSE;
    }
    if ((tok = sy_json_get(json, 0, "created_at")) >= 0) {
        int64_t created;
        /* The bound keeps created_at * 1000 inside int64 (any real date is far below it). */
        if (sy_json_int64(json, tok, &created) != 0 || created < 0 || created > INT64_MAX / 1000) {
            *errmsg = "notification created_at is not a valid Unix time";
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

static int intercom_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                         sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize)
{
    static const char prefix[] = "sha1=";
    if (*num_headers < 1)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    size_t len = sizeof(prefix) - 1 + 2 * SY_SHA1_LEN;
    char *sig = sy_connector_out_reserve(&out, len + 1);
    if (sig == NULL)
        return SY_ETOOBIG;
    unsigned char digest[SY_SHA1_LEN];
    if (sy_hmac_sha1(secret, &req->body, 1, digest) != 0)
        return SY_EIO;
    memcpy(sig, prefix, sizeof(prefix) - 1);
    sy_hex_encode(digest, sizeof(digest), sig + sizeof(prefix) - 1);
    headers[0] = (sy_header_t){SY_SLICE_LIT("X-Hub-Signature"), {sig, len}};
    *num_headers = 1;
    return 0;
}

static const char *intercom_scheme(const sy_source_verify_t *conf)
{
    return "intercom-sha1";
}

/* --- outbound: the contacts API -------------------------------------------------------------------------- */

#define INTERCOM_BASE_URL "https://api.intercom.io"
/* 10,000 calls per minute per app, enforced in 10-second windows of a sixth each. */
#define INTERCOM_RATE_COUNT 1666
#define INTERCOM_RATE_WINDOW_MS 10000
/* The pinned API version: contact topics need 2.6 or later; the docs list versions up to 2.17. */
#define INTERCOM_DEFAULT_VERSION "2.11"
#define INTERCOM_VERSION_MAX 16
#define INTERCOM_JSON_CONTENT_TYPE "application/json"
#define INTERCOM_BODY_MAX (1024 * 1024)
#define INTERCOM_MAX_FIELDS 256
#define INTERCOM_ATTR_MAX 190    /* a bound, not Intercom's documented rule: longer names are not attribute names */
#define INTERCOM_VALUE_MAX 65536 /* characters; a bound of ours (Intercom documents none for strings) */
#define INTERCOM_RESET_MAX_DIGITS 12
#define OPT_API_VERSION 0

/* Writable standard attributes whose values are strings; every other pushed name is a custom attribute. */
static const char *const standard_names[] = {"email", "name", "phone"};
/* Names of the contact object that are not custom attributes and cannot be written as strings here. */
static const char *const reserved_names[] = {"id", "type", "role", "external_id", "owner_id", "workspace_id",
                                             "created_at", "updated_at", "custom_attributes"};

static json_t *must(json_t *v)
{
    if (v == NULL)
        abort(); /* jansson returns NULL for containers only when out of memory */
    return v;
}

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i != n; ++i) {
        if (strcmp(name, list[i]) == 0)
            return 1;
    }
    return 0;
}

/* Custom attribute names: 1..190 of [A-Za-z0-9_-] (no dots, brackets or `$`, which Intercom's names exclude). */
static int attribute_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > INTERCOM_ATTR_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/*
 * Adds p's fields to root: email, name, phone as members, "custom_attributes.k" and any other name k under
 * "custom_attributes". "" clears (null). Returns 0, or SY_EINVAL for a name or value that cannot be sent.
 */
static int add_fields(json_t *root, const sy_push_t *p)
{
    if (p->num_fields > INTERCOM_MAX_FIELDS || (p->num_fields != 0 && (p->names == NULL || p->values == NULL)))
        return SY_EINVAL;
    json_t *custom = NULL;
    for (size_t i = 0; i != p->num_fields; ++i) {
        const char *name = p->names[i], *value = p->values[i];
        if (name == NULL || value == NULL)
            return SY_EINVAL;
        int64_t chars = sy_connector_utf8_chars(value);
        if (chars < 0 || chars > INTERCOM_VALUE_MAX)
            return SY_EINVAL;
        int is_custom = 1;
        if (strncmp(name, "custom_attributes.", 18) == 0)
            name += 18;
        else if (in_list(name, standard_names, SY_ARRAY_SIZE(standard_names)))
            is_custom = 0;
        else if (in_list(name, reserved_names, SY_ARRAY_SIZE(reserved_names)))
            return SY_EINVAL;
        json_t *target = root;
        if (is_custom) {
            if (!attribute_name_ok(name))
                return SY_EINVAL;
            if (custom == NULL)
                json_object_set_new(root, "custom_attributes", custom = must(json_object()));
            target = custom;
        }
        if (json_object_get(target, name) != NULL)
            return SY_EINVAL; /* the same attribute twice: which value wins would be Intercom's guess */
        json_object_set_new(target, name, value[0] != '\0' ? must(json_string(value)) : json_null());
    }
    return 0;
}

static int sets_email(const sy_push_t *p)
{
    for (size_t i = 0; i != p->num_fields && p->names != NULL; ++i) {
        if (p->names[i] != NULL && strcmp(p->names[i], "email") == 0)
            return 1;
    }
    return 0;
}

/* The source's pinned version: option api_version, else the default. */
static const char *version_of(const sy_source_verify_t *conf)
{
    const char *v = conf != NULL ? conf->options[OPT_API_VERSION] : NULL;
    return v != NULL ? v : INTERCOM_DEFAULT_VERSION;
}

static int intercom_encode_push(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pushes == NULL || n != 1)
        return SY_EINVAL;
    const sy_push_t *p = &pushes[0];
    int has_email = p->email != NULL && p->email[0] != '\0';
    int lookup = p->object_id == NULL && !p->create && has_email;
    int rc = SY_EINVAL;

    /* The fields are checked even for a lookup: a push that cannot be written should not cost a search first. */
    json_t *fields = must(json_object()), *root = NULL;
    if (p->object_id == NULL && !lookup) {
        /* A create: a user with the record's email unless a field sets one (without any email Intercom makes an
         * anonymous user). */
        json_object_set_new(fields, "role", must(json_string("user")));
        json_t *email;
        if (has_email && !sets_email(p)) {
            if ((email = json_string(p->email)) == NULL)
                goto Exit; /* not UTF-8 */
            json_object_set_new(fields, "email", email);
        }
    }
    if ((rc = add_fields(fields, p)) != 0)
        goto Exit;

    memcpy(out->method, "POST", 5);
    if (lookup) {
        json_t *value = json_string(p->email);
        if (value == NULL) {
            rc = SY_EINVAL; /* not UTF-8 */
            goto Exit;
        }
        root = must(json_pack("{s:{s:s, s:s, s:o}}", "query", "field", "email", "operator", "=", "value", value));
        memcpy(out->path, "/contacts/search", sizeof("/contacts/search"));
        out->lookup = 1;
    } else if (p->object_id != NULL) {
        memcpy(out->method, "PUT", 4);
        if ((rc = sy_connector_set_path(out, "/contacts/", p->object_id, "")) != 0)
            goto Exit;
        root = json_incref(fields);
    } else {
        root = json_incref(fields);
        memcpy(out->path, "/contacts", sizeof("/contacts"));
    }
    memcpy(out->content_type, INTERCOM_JSON_CONTENT_TYPE, sizeof(INTERCOM_JSON_CONTENT_TYPE));
    snprintf(out->extra_header, sizeof(out->extra_header), "Intercom-Version: %s", version_of(conf));
    out->num_pushes = 1;
    rc = sy_connector_set_json_body(out, root, INTERCOM_BODY_MAX);

Exit:
    json_decref(fields);
    json_decref(root);
    if (rc != 0) {
        sy_http_request_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* Milliseconds until the unix second in X-RateLimit-Reset (0 if past), or -1 if absent or unreadable. */
static int64_t reset_wait_ms(const sy_header_t *headers, size_t num_headers, int64_t now_ms)
{
    const sy_header_t *h = sy_connector_header(headers, num_headers, "X-RateLimit-Reset");
    int64_t reset_s;
    if (h == NULL || sy_connector_parse_uint(sy_connector_trim(h->value), INTERCOM_RESET_MAX_DIGITS, &reset_s) != 0)
        return -1;
    return reset_s * 1000 > now_ms ? reset_s * 1000 - now_ms : 0;
}

static void intercom_classify(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                              sy_push_result_t *result)
{
    sy_connector_result_init(result, SY_PUSH_DONE);
    if (status >= 200 && status <= 299) {
        sy_connector_classify_found(body, "type", result); /* a contact, or a search result list */
    } else if (status == 429) {
        result->outcome = SY_PUSH_RETRY;
        result->rate_limited = 1;
    } else if (status >= 500 || status < 200) {
        result->outcome = SY_PUSH_RETRY;
    } else {
        /*
         * 409 "A contact matching those details already exists with id=…": the email we write (or create with)
         * belongs to another Intercom contact. That is a link conflict, two tool objects for one identity, which no
         * retry resolves: a dead letter whose response names the other contact, for an admin to merge them (in
         * Intercom, or `switchyard records merge`) and then `dead retry` it. 404 on a PUT: the contact is gone.
         * Other 4xx (an unknown custom attribute is 400) and 3xx are dead letters too.
         */
        result->outcome = SY_PUSH_PERMANENT;
    }

    /*
     * When to send again: Retry-After if given, else X-RateLimit-Reset (the unix second the window refills). The
     * reset also paces after an answer that spent the window (X-RateLimit-Remaining: 0), whatever its outcome.
     */
    const sy_header_t *h;
    int64_t now = sy_now_ms();
    if (result->outcome == SY_PUSH_RETRY && (h = sy_connector_header(headers, num_headers, "Retry-After")) != NULL)
        result->retry_after_ms = sy_connector_retry_after_ms(h->value, now);
    if (result->retry_after_ms < 0 &&
        (status == 429 || ((h = sy_connector_header(headers, num_headers, "X-RateLimit-Remaining")) != NULL &&
                           sy_slice_eq_cstr(sy_connector_trim(h->value), "0"))))
        result->retry_after_ms = reset_wait_ms(headers, num_headers, now);
}

static const sy_connector_option_t intercom_options[] = {
    {"api_version", "the Intercom-Version sent with pushes, e.g. 2.11 (default) or Unstable"},
};

/* sources.NAME.api_version: digits.digits or Unstable (it becomes a header value: nothing else gets through). */
static int intercom_configure(sy_source_verify_t *conf, size_t *bad_option, char *msg, size_t msgsize)
{
    const char *v = conf->options[OPT_API_VERSION];
    if (v == NULL || strcmp(v, "Unstable") == 0)
        return 0;
    size_t len = strlen(v), dots = 0, digits = 0;
    int ok = len != 0 && len <= INTERCOM_VERSION_MAX && v[0] != '.' && v[len - 1] != '.';
    for (size_t i = 0; ok && i != len; ++i) {
        if (v[i] == '.')
            ok = ++dots == 1;
        else
            ok = v[i] >= '0' && v[i] <= '9' && ++digits != 0;
    }
    if (!ok || dots != 1) {
        *bad_option = OPT_API_VERSION;
        snprintf(msg, msgsize, "api_version must be a version like 2.11, or Unstable");
        return SY_EINVAL;
    }
    return 0;
}

const sy_connector_t sy_connector_intercom = {
    .name = "intercom",
    .role = SY_ROLE_SUPPORT,
    .verify = intercom_verify,
    .parse = intercom_parse,
    .scheme = intercom_scheme,
    .sign = intercom_sign,
    .default_tolerance_ms = 0, /* no timestamp is signed: nothing to be within */
    .options = intercom_options,
    .num_options = SY_ARRAY_SIZE(intercom_options),
    .configure = intercom_configure,
    .sample_types = sy_intercom_sample_types,
    .sample = sy_intercom_sample,
    .encode_push = intercom_encode_push,
    .classify = intercom_classify,
    .max_batch = 1,
    .default_rate_count = INTERCOM_RATE_COUNT,
    .default_rate_window_ms = INTERCOM_RATE_WINDOW_MS,
    .default_base_url = INTERCOM_BASE_URL,
};
