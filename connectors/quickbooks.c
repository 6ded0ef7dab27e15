/*
 * QuickBooks Online (Intuit) webhooks and customers.
 *
 * Inbound: intuit-signature = base64(HMAC-SHA256(verifier token, body)), no timestamp (a replay is caught by the
 * dedupe on the event id). Two body shapes, both accepted (Intuit's migration to CloudEvents is mandatory, and
 * deliveries of either kind may be in flight):
 *   legacy      {"eventNotifications":[{"realmId","dataChangeEvent":{"entities":[{name,id,operation,lastUpdated}]}}]}
 *               one event per entity; it has no event id, so the id is realm:name:id:operation:lastUpdated and the
 *               event's raw bytes are the entity with its realmId added, both composed in the caller's scratch
 *               (sy_request_view_t.scratch) from the body's bytes, copied unchanged (escapes are refused);
 *   CloudEvents [{specversion:"1.0", id, type:"qbo.customer.updated.v1", time, intuitaccountid, intuitentityid, ...}]
 *               one event per element (several realms may share a delivery), id = `id`, raw = the element.
 * Neither carries field values: every notification needs a fetch (needs_fetch), done as one Change Data Capture read
 * per realm (encode_fetch), whose objects become "<Entity>.Fetched" events (decode_fetch).
 *
 * Outbound: sparse customer updates. Object ids are "realm:Id": a QuickBooks Id is unique only within its company
 * (realm), and one source may receive several companies, so the xref must name both. A write must carry the
 * customer's current SyncToken (push.version); without one the connector first sends a lookup (a query by Id) whose
 * answer gives it (result.version, FOUND), and a write answered with a stale-object fault (5010) is a retry with
 * result.stale_version set, so the next attempt reads again. ?requestid= (the push's key and the SyncToken) makes
 * the write idempotent.
 */
#include "connectors_builtin.h"
#include "crypto.h"
#include "signature_schemes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#define QB_BASE_URL "https://quickbooks.api.intuit.com"
#define QB_MINOR_VERSION "75" /* values below 75 are ignored since 2025-08-01 */
#define QB_RATE_COUNT 500     /* per realm and minute; also at most 10 concurrent requests (api.concurrency) */
#define QB_RATE_WINDOW_MS 60000
#define QB_BODY_MAX (1024 * 1024)
#define QB_MAX_FIELDS 64
#define QB_SEGMENT_MAX 64
#define QB_VALUE_MAX 4000     /* characters: the longest QuickBooks customer string (Notes) */
#define QB_REQUESTID_MAX 50   /* Intuit's limit for ?requestid= */
#define QB_NUMERIC_ID_MAX 32  /* realm ids and object Ids are decimal strings */
#define QB_DELETED_ID_MAX 64
#define QB_STALE_OBJECT "5010"
#define QB_FETCH_MARGIN_MS 1000 /* changedSince a second early: lastUpdated has second precision in the legacy shape */

/* --- times: ISO 8601 / RFC 3339 as QuickBooks writes them ------------------------------------------------ */

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i != n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * "2026-01-15T10:00:00Z", with optional fractional seconds and an offset "Z", "+HH:MM" or "+HHMM" (the legacy
 * samples write "-0700"). Returns 0 and Unix ms, or SY_EPARSE.
 */
static int parse_time(sy_slice_t t, int64_t *ms)
{
    const char *s = t.base;
    size_t n = t.len, i = 19;
    int y, mo, d, h, mi, se, frac = 0, off = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
        digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return SY_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return SY_EPARSE;
    if (s[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        for (; i != n && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10)
            frac += (s[i] - '0') * scale; /* digits past milliseconds add 0 */
        if (i == start || i - start > 9)
            return SY_EPARSE;
    }
    if (i == n)
        return SY_EPARSE;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        off = 0;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        size_t rest = n - i - 1;
        const char *o = s + i + 1;
        if (rest == 5 && o[2] == ':' && !digits(o, 2, &oh) && !digits(o + 3, 2, &om)) {
        } else if (rest == 4 && !digits(o, 2, &oh) && !digits(o + 2, 2, &om)) {
        } else {
            return SY_EPARSE;
        }
        if (oh > 23 || om > 59)
            return SY_EPARSE;
        off = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
    } else {
        return SY_EPARSE;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se == 60 ? 59 : se) - off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}

/* "2026-01-15T10:00:00.000+00:00" for ms (Unix, UTC); out holds 30. */
static void format_time(int64_t ms, char *out, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    char day[32] = "1970-01-01T00:00:00";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%.19s.%03u+00:00", day, (unsigned)((ms - secs * 1000) % 1000));
}

/* --- inbound ----------------------------------------------------------------------------------------------- */

static sy_verify_result_t qb_verify(const sy_source_verify_t *conf, const sy_request_view_t *req)
{
    return sy_verify_body_mac(&sy_scheme_quickbooks, conf, req);
}

static int qb_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req, sy_header_t *headers,
                   size_t *num_headers, char *buf, size_t bufsize)
{
    (void)conf;
    if (*num_headers < 1)
        return SY_ETOOBIG;
    sy_connector_out_t out = {buf, bufsize, 0};
    char *sig = sy_connector_out_reserve(&out, 4 * ((SY_SHA256_LEN + 2) / 3) + 1);
    if (sig == NULL)
        return SY_ETOOBIG;
    unsigned char digest[SY_SHA256_LEN];
    if (sy_hmac_sha256(secret, &req->body, 1, digest) != 0)
        return SY_EIO;
    size_t len = sy_base64_encode(digest, sizeof(digest), sig);
    headers[0] = (sy_header_t){SY_SLICE_LIT("intuit-signature"), {sig, len}};
    *num_headers = 1;
    return 0;
}

/* The contents of string member key of obj, non-empty and without escapes (they are copied as raw bytes). */
static int plain_string(sy_json_t *json, int obj, const char *key, sy_slice_t *out)
{
    int tok = sy_json_get(json, obj, key);
    if (sy_json_type(json, tok) != SY_JSON_STRING || sy_json_has_escape(json, tok))
        return -1;
    *out = sy_json_text(json, tok);
    return out->len != 0 ? 0 : -1;
}

/* Composes text into the caller's scratch. */
typedef struct st_qb_scratch_t {
    char *base;
    size_t size, used;
} qb_scratch_t;

static int scratch_put(qb_scratch_t *s, const sy_slice_t *parts, size_t n, sy_slice_t *out)
{
    char *start = s->base + s->used;
    for (size_t i = 0; i != n; ++i) {
        if (parts[i].len > s->size - s->used)
            return SY_ETOOBIG;
        memcpy(s->base + s->used, parts[i].base, parts[i].len);
        s->used += parts[i].len;
    }
    *out = (sy_slice_t){start, (size_t)(s->base + s->used - start)};
    return 0;
}

static int fail(const char **errmsg, const char *msg, int rc)
{
    *errmsg = msg;
    return rc;
}

static int parse_legacy(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                        size_t *num_events, const char **errmsg)
{
    int list = sy_json_get(json, 0, "eventNotifications");
    if (sy_json_type(json, list) != SY_JSON_ARRAY)
        return fail(errmsg, "body has no eventNotifications array", SY_EPARSE);
    qb_scratch_t scratch = {req->scratch, req->scratch != NULL ? req->scratch_size : 0, 0};
    size_t count = 0, nn = (size_t)sy_json_size(json, list);
    int note = list + 1;
    for (size_t i = 0; i != nn; ++i, note = sy_json_skip(json, note)) {
        sy_slice_t realm;
        int change, entities;
        if (sy_json_type(json, note) != SY_JSON_OBJECT)
            return fail(errmsg, "event notification is not a JSON object", SY_EPARSE);
        if (plain_string(json, note, "realmId", &realm) != 0)
            return fail(errmsg, "event notification has no plain string realmId", SY_EPARSE);
        if (sy_json_type(json, (change = sy_json_get(json, note, "dataChangeEvent"))) != SY_JSON_OBJECT ||
            sy_json_type(json, (entities = sy_json_get(json, change, "entities"))) != SY_JSON_ARRAY)
            return fail(errmsg, "event notification has no dataChangeEvent.entities array", SY_EPARSE);
        size_t ne = (size_t)sy_json_size(json, entities);
        int ent = entities + 1;
        for (size_t k = 0; k != ne; ++k, ent = sy_json_skip(json, ent)) {
            sy_slice_t name, id, op, updated, deleted = {"", 0};
            int64_t ms;
            if (sy_json_type(json, ent) != SY_JSON_OBJECT)
                return fail(errmsg, "entity is not a JSON object", SY_EPARSE);
            if (plain_string(json, ent, "name", &name) != 0 || plain_string(json, ent, "id", &id) != 0 ||
                plain_string(json, ent, "operation", &op) != 0)
                return fail(errmsg, "entity has no plain string name, id and operation", SY_EPARSE);
            /* "<Entity>.Fetched" is the type of the objects the hub fetches: no notification may pose as one. */
            if (sy_slice_eq_cstr(op, "Fetched"))
                return fail(errmsg, "entity operation Fetched is reserved for fetched objects", SY_EPARSE);
            if (plain_string(json, ent, "lastUpdated", &updated) != 0 || parse_time(updated, &ms) != 0)
                return fail(errmsg, "entity has no lastUpdated time (ISO 8601)", SY_EPARSE);
            int dtok = sy_json_get(json, ent, "deletedId"); /* a Merge names the entity merged away */
            if (dtok >= 0 && (plain_string(json, ent, "deletedId", &deleted) != 0 || deleted.len > QB_DELETED_ID_MAX))
                return fail(errmsg, "entity deletedId is not a plain string id", SY_EPARSE);
            if (count == max_events)
                return fail(errmsg, "more events in the body than the limit", SY_ETOOBIG);
            if (realm.len + name.len + id.len + op.len + updated.len + 4 > SY_EVENT_ID_MAX)
                return fail(errmsg, "event id is longer than the limit", SY_EPARSE);
            if (name.len + op.len + 1 > SY_EVENT_TYPE_MAX)
                return fail(errmsg, "event type is longer than the limit", SY_EPARSE);
            sy_event_ref_t ev = {.occurred_at_ms = ms};
            sy_slice_t c = SY_SLICE_LIT(":");
            sy_slice_t idp[] = {realm, c, name, c, id, c, op, c, updated};
            sy_slice_t typ[] = {name, SY_SLICE_LIT("."), op};
            sy_slice_t raw[] = {SY_SLICE_LIT("{\"realmId\":\""), realm, SY_SLICE_LIT("\",\"name\":\""), name,
                                SY_SLICE_LIT("\",\"id\":\""), id, SY_SLICE_LIT("\",\"operation\":\""), op,
                                SY_SLICE_LIT("\",\"lastUpdated\":\""), updated,
                                deleted.len != 0 ? SY_SLICE_LIT("\",\"deletedId\":\"") : (sy_slice_t){"", 0}, deleted,
                                SY_SLICE_LIT("\"}")};
            if (scratch_put(&scratch, idp, SY_ARRAY_SIZE(idp), &ev.id) != 0 ||
                scratch_put(&scratch, typ, SY_ARRAY_SIZE(typ), &ev.type) != 0 ||
                scratch_put(&scratch, raw, SY_ARRAY_SIZE(raw), &ev.raw) != 0)
                return fail(errmsg, "no room to compose the events' ids (the hub lent too little scratch)", SY_ETOOBIG);
            events[count++] = ev;
        }
    }
    if (count == 0)
        return fail(errmsg, "body has no entities", SY_EPARSE);
    *num_events = count;
    return 0;
}

static int parse_cloudevents(sy_json_t *json, sy_event_ref_t *events, size_t max_events, size_t *num_events,
                             const char **errmsg)
{
    size_t n = (size_t)sy_json_size(json, 0);
    if (n == 0)
        return fail(errmsg, "body has no events", SY_EPARSE);
    if (n > max_events)
        return fail(errmsg, "more events in the body than the limit", SY_ETOOBIG);
    int el = 1;
    for (size_t i = 0; i != n; ++i, el = sy_json_skip(json, el)) {
        sy_slice_t realm, time;
        int64_t ms;
        if (sy_json_type(json, el) != SY_JSON_OBJECT)
            return fail(errmsg, "event is not a JSON object", SY_EPARSE);
        if (!sy_json_str_eq(json, sy_json_get(json, el, "specversion"), "1.0"))
            return fail(errmsg, "event is not a CloudEvent (specversion \"1.0\")", SY_EPARSE);
        sy_event_ref_t ev = {.raw = sy_json_span(json, el)};
        if (plain_string(json, el, "id", &ev.id) != 0)
            return fail(errmsg, "event has no plain string id", SY_EPARSE);
        if (ev.id.len > SY_EVENT_ID_MAX)
            return fail(errmsg, "event id is longer than the limit", SY_EPARSE);
        if (plain_string(json, el, "type", &ev.type) != 0 || ev.type.len < 5 || memcmp(ev.type.base, "qbo.", 4) != 0)
            return fail(errmsg, "event has no plain string type qbo.<entity>.<change>.v1", SY_EPARSE);
        if (ev.type.len > SY_EVENT_TYPE_MAX)
            return fail(errmsg, "event type is longer than the limit", SY_EPARSE);
        if (plain_string(json, el, "intuitaccountid", &realm) != 0)
            return fail(errmsg, "event has no plain string intuitaccountid (realm)", SY_EPARSE);
        if (plain_string(json, el, "time", &time) != 0 || parse_time(time, &ms) != 0)
            return fail(errmsg, "event has no time (RFC 3339)", SY_EPARSE);
        ev.occurred_at_ms = ms;
        events[i] = ev;
    }
    *num_events = n;
    return 0;
}

static int qb_parse(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                    size_t *num_events, const char **errmsg)
{
    int rc;
    *num_events = 0;
    if ((rc = sy_json_parse(json, req->body.base, req->body.len, errmsg)) != 0)
        return rc;
    switch (sy_json_type(json, 0)) {
    case SY_JSON_OBJECT:
        return parse_legacy(json, req, events, max_events, num_events, errmsg);
    case SY_JSON_ARRAY:
        return parse_cloudevents(json, events, max_events, num_events, errmsg);
    default:
        return fail(errmsg, "body is neither eventNotifications nor a CloudEvents array", SY_EPARSE);
    }
}

/* --- entities: the names CDC takes, and the lower-case ones CloudEvents types use ------------------------- */

static const char *const qb_entities[] = {"Account", "Bill", "BillPayment", "Budget", "Class", "CreditMemo", "Currency",
                                          "Customer", "Department", "Deposit", "Employee", "Estimate", "Invoice",
                                          "Item", "JournalCode", "JournalEntry", "Payment", "PaymentMethod",
                                          "Preferences", "Purchase", "PurchaseOrder", "RefundReceipt", "SalesReceipt",
                                          "TaxAgency", "Term", "TimeActivity", "Transfer", "Vendor", "VendorCredit",
                                          NULL};

/* The CDC name of an entity named name (exactly, or case-insensitively for CloudEvents), or NULL. */
static const char *entity_named(const char *name, size_t len, int any_case)
{
    for (const char *const *e = qb_entities; *e != NULL; ++e) {
        if (strlen(*e) == len && (any_case ? strncasecmp(*e, name, len) == 0 : memcmp(*e, name, len) == 0))
            return *e;
    }
    return NULL;
}

/* Every notification type: legacy "<Entity>.<Operation>" and CloudEvents "qbo.<entity>.<change>.v1"; not our own
 * "<Entity>.Fetched" (that is a fetched object). */
static int qb_needs_fetch(const sy_source_verify_t *conf, sy_slice_t type)
{
    if (type.len > 4 && memcmp(type.base, "qbo.", 4) == 0)
        return 1;
    const char *dot = memchr(type.base, '.', type.len);
    if (dot == NULL || entity_named(type.base, (size_t)(dot - type.base), 0) == NULL)
        return 0;
    return !sy_slice_eq_cstr((sy_slice_t){dot + 1, type.len - (size_t)(dot + 1 - type.base)}, "Fetched");
}

/* Realm, CDC entity name and time of a logged notification (either shape); 0 or SY_EINVAL. */
static int notification_of(sy_slice_t raw, char *realm, size_t realmsize, const char **entity, int64_t *ms)
{
    json_t *root = json_loadb(raw.base, raw.len, 0, NULL);
    const char *r = NULL, *t = NULL;
    int rc = SY_EINVAL;
    if (json_is_string(json_object_get(root, "realmId"))) { /* legacy, as parse composed it */
        r = json_string_value(json_object_get(root, "realmId"));
        const char *name = json_string_value(json_object_get(root, "name"));
        *entity = name != NULL ? entity_named(name, strlen(name), 0) : NULL;
        t = json_string_value(json_object_get(root, "lastUpdated"));
    } else {
        r = json_string_value(json_object_get(root, "intuitaccountid"));
        const char *type = json_string_value(json_object_get(root, "type")), *dot;
        *entity = NULL;
        if (type != NULL && strncmp(type, "qbo.", 4) == 0 && (dot = strchr(type + 4, '.')) != NULL)
            *entity = entity_named(type + 4, (size_t)(dot - (type + 4)), 1);
        t = json_string_value(json_object_get(root, "time"));
    }
    size_t rlen = r != NULL ? strlen(r) : 0;
    if (*entity == NULL || rlen == 0 || rlen >= realmsize || t == NULL || parse_time(sy_slice_cstr(t), ms) != 0)
        goto Exit;
    for (size_t i = 0; i != rlen; ++i) {
        if (r[i] < '0' || r[i] > '9')
            goto Exit; /* realm ids are decimal; anything else would not be a path segment we can vouch for */
    }
    memcpy(realm, r, rlen + 1);
    rc = 0;
Exit:
    json_decref(root);
    return rc;
}

static int qb_encode_fetch(const sy_source_verify_t *conf, const sy_slice_t *events, size_t n, unsigned char *covered,
                           sy_http_request_t *out)
{
    (void)conf;
    memset(out, 0, sizeof(*out));
    char realm[QB_NUMERIC_ID_MAX + 1], other[QB_NUMERIC_ID_MAX + 1];
    const char *entity, *wanted[SY_ARRAY_SIZE(qb_entities)];
    size_t num_wanted = 0, num_covered = 0;
    int64_t since, ms = 0;
    if (n == 0)
        return SY_EINVAL;
    memset(covered, 0, n);
    if (notification_of(events[0], realm, sizeof(realm), &entity, &since) != 0)
        return SY_EINVAL;
    for (size_t i = 0; i != n; ++i) {
        if (i != 0 && (notification_of(events[i], other, sizeof(other), &entity, &ms) != 0 || strcmp(other, realm) != 0))
            continue;
        if (i != 0 && ms < since)
            since = ms;
        covered[i] = 1;
        ++num_covered;
        size_t k = 0;
        while (k != num_wanted && wanted[k] != entity)
            ++k;
        if (k == num_wanted)
            wanted[num_wanted++] = entity;
    }
    char stamp[40], path[sizeof(out->path)];
    format_time(since - QB_FETCH_MARGIN_MS, stamp, sizeof(stamp));
    int len = snprintf(path, sizeof(path), "/v3/company/%s/cdc?entities=", realm);
    for (size_t k = 0; k != num_wanted && len > 0 && (size_t)len < sizeof(path); ++k)
        len += snprintf(path + len, sizeof(path) - (size_t)len, "%s%s", k != 0 ? "," : "", wanted[k]);
    if (len > 0 && (size_t)len < sizeof(path)) {
        /* The stamp's ':' and '+' are percent-encoded: a '+' in a query would read as a space. */
        sy_connector_buf_t b = {.max = 128};
        sy_connector_buf_append_pct(&b, stamp, strlen(stamp));
        len += snprintf(path + len, sizeof(path) - (size_t)len, "&changedSince=%.*s&minorversion=" QB_MINOR_VERSION,
                        (int)b.len, b.base);
        sy_connector_buf_dispose(&b);
    }
    if (len <= 0 || (size_t)len >= sizeof(path)) {
        memset(covered, 0, n);
        return SY_EINVAL;
    }
    memcpy(out->path, path, (size_t)len + 1);
    memcpy(out->method, "GET", 4);
    out->num_pushes = num_covered;
    return 0;
}

static char *dup_printf(const char *fmt, const char *a, const char *b, const char *c, const char *d)
{
    int len = snprintf(NULL, 0, fmt, a, b, c, d);
    char *s = malloc((size_t)len + 1);
    if (s == NULL)
        abort();
    snprintf(s, (size_t)len + 1, fmt, a, b, c, d);
    return s;
}

/* The realm of a request this connector built (/v3/company/{realm}/...), into realm; 0 or SY_EPARSE. */
static int realm_of_path(const char *path, char *realm, size_t size)
{
    static const char prefix[] = "/v3/company/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return SY_EPARSE;
    const char *r = path + sizeof(prefix) - 1, *end = strchr(r, '/');
    if (end == NULL || end == r || (size_t)(end - r) >= size)
        return SY_EPARSE;
    memcpy(realm, r, (size_t)(end - r));
    realm[end - r] = '\0';
    return 0;
}

/* One fetched object as an event: {"realmId","entity","id":"realm:Id","object":{...}}; NULL if it has no Id. */
static int fetched_of(const char *realm, const char *entity, json_t *obj, sy_fetched_t *f)
{
    const char *id = json_string_value(json_object_get(obj, "Id"));
    const char *token = json_string_value(json_object_get(obj, "SyncToken"));
    const char *status = json_string_value(json_object_get(obj, "status"));
    const char *updated = json_string_value(json_object_get(json_object_get(obj, "MetaData"), "LastUpdatedTime"));
    int64_t ms = 0;
    if (id == NULL || id[0] == '\0' || strlen(id) > QB_NUMERIC_ID_MAX)
        return SY_EPARSE;
    if (updated != NULL && parse_time(sy_slice_cstr(updated), &ms) != 0)
        ms = 0;
    int deleted = status != NULL && strcmp(status, "Deleted") == 0;
    /* A version is its SyncToken (it grows with every change); a deleted object has none, its deletion time is. */
    if (!deleted && (token == NULL || token[0] == '\0' || strlen(token) > 20))
        return SY_EPARSE;
    if (deleted && (updated == NULL || strlen(updated) > 40))
        return SY_EPARSE;
    f->id = dup_printf(deleted ? "%s:%s:%s:deleted:%s" : "%s:%s:%s:v%s", realm, entity, id, deleted ? updated : token);
    f->type = dup_printf("%s.Fetched%s%s%s", entity, "", "", "");
    f->occurred_at_ms = ms;
    char *xref = dup_printf("%s:%s%s%s", realm, id, "", "");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O}", "realmId", realm, "entity", entity, "id", xref, "object", obj);
    free(xref);
    if (ev == NULL)
        abort();
    /* An invoice names its customer within the realm: "customer" is that customer's id as the hub knows it
     * ("realm:Id"), "invoice_status" open (a balance is due) or paid, for the health report. */
    const char *customer = json_string_value(json_object_get(json_object_get(obj, "CustomerRef"), "value"));
    if (strcmp(entity, "Invoice") == 0 && customer != NULL && customer[0] != '\0' && strlen(customer) <= QB_NUMERIC_ID_MAX) {
        char *cref = dup_printf("%s:%s%s%s", realm, customer, "", "");
        json_t *balance = json_object_get(obj, "Balance");
        int open = json_is_number(balance) ? json_number_value(balance) > 0.0 : !deleted;
        json_object_set_new(ev, "customer", json_string(cref));
        json_object_set_new(ev, "invoice_status", json_string(deleted ? "void" : open ? "open" : "paid"));
        free(cref);
    }
    f->body = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    if (f->body == NULL)
        abort();
    f->body_len = strlen(f->body);
    return 0;
}

static int qb_decode_fetch(const sy_http_request_t *req, sy_slice_t body, sy_fetched_t **fetched, size_t *num_fetched,
                           const char **errmsg)
{
    char realm[QB_NUMERIC_ID_MAX + 1];
    sy_fetched_t *out = NULL;
    size_t n = 0, cap = 0;
    int rc = SY_EPARSE;
    *fetched = NULL;
    *num_fetched = 0;
    json_t *root = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *cdc = json_object_get(root, "CDCResponse");
    if (realm_of_path(req->path, realm, sizeof(realm)) != 0) {
        *errmsg = "the fetch request names no realm";
        goto Exit;
    }
    if (json_object_get(root, "Fault") != NULL) {
        *errmsg = "the answer is a fault";
        goto Exit;
    }
    if (!json_is_array(cdc)) {
        *errmsg = "the answer has no CDCResponse array";
        goto Exit;
    }
    size_t i, k;
    json_t *resp, *qr;
    json_array_foreach(cdc, i, resp) {
        json_array_foreach(json_object_get(resp, "QueryResponse"), k, qr) {
            const char *key;
            json_t *list;
            json_object_foreach(qr, key, list) {
                const char *entity = entity_named(key, strlen(key), 0);
                size_t j;
                json_t *obj;
                if (entity == NULL || !json_is_array(list))
                    continue; /* startPosition, maxResults, totalCount */
                json_array_foreach(list, j, obj) {
                    if (n == cap) {
                        cap = cap != 0 ? 2 * cap : 8;
                        if ((out = realloc(out, cap * sizeof(*out))) == NULL)
                            abort();
                    }
                    if (fetched_of(realm, entity, obj, &out[n]) != 0) {
                        *errmsg = "a fetched object has no Id and SyncToken (or deletion time)";
                        goto Exit;
                    }
                    ++n;
                }
            }
        }
    }
    *fetched = out;
    *num_fetched = n;
    out = NULL;
    rc = 0;
Exit:
    sy_fetched_dispose(out, n);
    json_decref(root);
    return rc;
}

/* --- outbound: sparse customer updates ------------------------------------------------------------------- */

/* Members a push may not set: they identify the object or are QuickBooks' own. */
static const char *const qb_reserved[] = {"Id", "SyncToken", "sparse", "domain", "MetaData", "status", NULL};
/* Boolean members of a customer: "true" / "false" are sent as JSON booleans. */
static const char *const qb_booleans[] = {"Active", "Taxable", "BillWithParent", "Job", "IsProject", NULL};

static int listed(const char *const *list, const char *s, size_t len)
{
    for (; *list != NULL; ++list) {
        if (strlen(*list) == len && memcmp(*list, s, len) == 0)
            return 1;
    }
    return 0;
}

static int decimal(const char *s, size_t len)
{
    if (len == 0 || len > QB_NUMERIC_ID_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

/* Sets name ("BillAddr.City") to value in root, creating the objects on the way; 0 or SY_EINVAL. */
static int set_field(json_t *root, const char *name, const char *value)
{
    json_t *at = root;
    const char *seg = name;
    int64_t chars = sy_connector_utf8_chars(value);
    if (chars < 0 || chars > QB_VALUE_MAX)
        return SY_EINVAL;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        char key[QB_SEGMENT_MAX + 1];
        if (len == 0 || len > QB_SEGMENT_MAX || !((seg[0] >= 'A' && seg[0] <= 'Z') || (seg[0] >= 'a' && seg[0] <= 'z')))
            return SY_EINVAL;
        for (size_t i = 0; i != len; ++i) {
            char c = seg[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
                return SY_EINVAL;
        }
        if (seg == name && listed(qb_reserved, seg, len))
            return SY_EINVAL;
        memcpy(key, seg, len);
        key[len] = '\0';
        json_t *cur = json_object_get(at, key);
        if (dot == NULL) {
            json_t *v;
            if (cur != NULL)
                return SY_EINVAL; /* given twice, or a prefix of another name */
            if (listed(qb_booleans, seg, len)) {
                if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
                    return SY_EINVAL;
                v = json_boolean(strcmp(value, "true") == 0);
            } else if ((v = json_string(value)) == NULL) {
                return SY_EINVAL;
            }
            json_object_set_new(at, key, v);
            return 0;
        }
        if (cur == NULL) {
            if ((cur = json_object()) == NULL)
                abort();
            json_object_set_new(at, key, cur);
        } else if (!json_is_object(cur)) {
            return SY_EINVAL;
        }
        at = cur;
        seg = dot + 1;
    }
}

/*
 * ?requestid=: Intuit answers a repeated requestid with the first answer, so it must name the write exactly: the push
 * (its idempotency key, stable across retries) and the SyncToken it carries. A retry after a lost answer repeats
 * both (and is replayed, never applied twice); a retry after a stale-object fault carries the fresh token, so it is
 * a new request (with the push's key alone it would be answered 5010 forever). "<key>-t<token>" when that fits
 * Intuit's 50 characters of [A-Za-z0-9_-], else "sy-" and 47 hex digits of SHA-256("<key>-t<token>").
 */
static void request_id_of(const char *key, const char *token, char *out)
{
    char full[300];
    int len = snprintf(full, sizeof(full), "%s-t%s", key, token);
    size_t i;
    for (i = 0; len > 0 && len <= QB_REQUESTID_MAX && i != (size_t)len; ++i) {
        char c = full[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            break;
    }
    if (len > 0 && len <= QB_REQUESTID_MAX && i == (size_t)len) {
        memcpy(out, full, (size_t)len + 1);
        return;
    }
    unsigned char digest[SY_SHA256_LEN];
    char hex[2 * SY_SHA256_LEN + 1];
    sy_slice_t parts[] = {sy_slice_cstr(key), SY_SLICE_LIT("-t"), sy_slice_cstr(token)};
    sy_sha256(parts, SY_ARRAY_SIZE(parts), digest);
    sy_hex_encode(digest, sizeof(digest), hex);
    memcpy(out, "sy-", 3);
    memcpy(out + 3, hex, QB_REQUESTID_MAX - 3); /* 47 of the 64 digits: 188 bits */
    out[QB_REQUESTID_MAX] = '\0';
}

static int qb_encode_push(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out)
{
    (void)conf;
    memset(out, 0, sizeof(*out));
    const sy_push_t *p = pushes;
    json_t *root = NULL;
    int rc = SY_EINVAL;
    if (pushes == NULL || n != 1 || p->object_id == NULL)
        return SY_EINVAL; /* customers are created in QuickBooks, not by the hub: a push names one */
    const char *colon = strchr(p->object_id, ':');
    if (colon == NULL || !decimal(p->object_id, (size_t)(colon - p->object_id)) || !decimal(colon + 1, strlen(colon + 1)))
        return SY_EINVAL;
    int realm_len = (int)(colon - p->object_id);
    const char *id = colon + 1;
    out->num_pushes = 1;

    if (p->version == NULL) {
        /* Read before write: a query by Id (its answer's shape tells classify it was the lookup). */
        char query[96];
        snprintf(query, sizeof(query), "select * from Customer where Id = '%s'", id);
        sy_connector_buf_t b = {.max = 256};
        sy_connector_buf_append_pct(&b, query, strlen(query));
        snprintf(out->path, sizeof(out->path), "/v3/company/%.*s/query?query=%.*s&minorversion=" QB_MINOR_VERSION,
                 realm_len, p->object_id, (int)b.len, b.base);
        sy_connector_buf_dispose(&b);
        memcpy(out->method, "GET", 4);
        out->lookup = 1;
        return 0;
    }
    if (!decimal(p->version, strlen(p->version)))
        return SY_EINVAL;
    if (p->idempotency_key == NULL || p->idempotency_key[0] == '\0' || p->num_fields > QB_MAX_FIELDS ||
        (p->num_fields != 0 && (p->names == NULL || p->values == NULL)))
        goto Exit;
    /* sparse: only the members sent change; without it QuickBooks clears every writable one left out. */
    if ((root = json_pack("{s:b, s:s, s:s}", "sparse", 1, "Id", id, "SyncToken", p->version)) == NULL)
        abort();
    for (size_t i = 0; i != p->num_fields; ++i) {
        if (p->names[i] == NULL || p->values[i] == NULL || set_field(root, p->names[i], p->values[i]) != 0)
            goto Exit;
    }
    char rid[QB_REQUESTID_MAX + 1];
    request_id_of(p->idempotency_key, p->version, rid);
    snprintf(out->path, sizeof(out->path), "/v3/company/%.*s/customer?requestid=%s&minorversion=" QB_MINOR_VERSION,
             realm_len, p->object_id, rid);
    memcpy(out->method, "POST", 5);
    memcpy(out->content_type, "application/json", sizeof("application/json"));
    rc = sy_connector_set_json_body(out, root, QB_BODY_MAX);
Exit:
    json_decref(root);
    if (rc != 0) {
        sy_http_request_dispose(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* 1 if a Fault lists error code code (codes are strings: {"Fault":{"Error":[{"code":"5010"}],"type":"ValidationFault"}}). */
static int fault_has(json_t *root, const char *code)
{
    size_t i;
    json_t *e;
    json_t *errors = json_object_get(json_object_get(root, "Fault"), "Error");
    json_array_foreach(errors, i, e) {
        const char *c = json_string_value(json_object_get(e, "code"));
        if (c != NULL && strcmp(c, code) == 0)
            return 1;
    }
    return 0;
}

/* The SyncToken of a customer answer into result->version (decimal, short), if any. */
static void take_version(json_t *customer, sy_push_result_t *result)
{
    const char *t = json_string_value(json_object_get(customer, "SyncToken"));
    if (t != NULL && strlen(t) < sizeof(result->version) && decimal(t, strlen(t)))
        memcpy(result->version, t, strlen(t) + 1);
}

static void qb_classify(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                        sy_push_result_t *result)
{
    (void)n;
    sy_connector_result_init(result, SY_PUSH_PERMANENT);
    json_t *root = body.len != 0 ? json_loadb(body.base, body.len, 0, NULL) : NULL;
    if (root != NULL && fault_has(root, QB_STALE_OBJECT)) {
        /* Someone changed the customer since we read its SyncToken: read again, then write. Not paced. */
        result->outcome = SY_PUSH_RETRY;
        result->stale_version = 1;
        result->retry_after_ms = 0;
    } else if (status >= 200 && status <= 299) {
        json_t *customer = json_object_get(root, "Customer");
        json_t *qr = json_object_get(root, "QueryResponse");
        if (json_is_object(qr)) { /* the lookup */
            json_t *first = json_array_get(json_object_get(qr, "Customer"), 0);
            take_version(first, result);
            /* Not there (deleted or merged away): nothing to write to, and nothing a retry would change. */
            result->outcome = result->version[0] != '\0' ? SY_PUSH_FOUND : SY_PUSH_PERMANENT;
        } else if (json_is_object(customer)) {
            take_version(customer, result);
            result->outcome = SY_PUSH_DONE;
        } else if (json_object_get(root, "Fault") != NULL) {
            result->outcome = SY_PUSH_PERMANENT;
        } else {
            result->outcome = SY_PUSH_RETRY; /* confirms nothing; the retry's requestid replays the original answer */
        }
    } else if (status == 429) {
        result->outcome = SY_PUSH_RETRY;
        result->rate_limited = 1;
    } else if (status >= 500 || status < 100) {
        result->outcome = SY_PUSH_RETRY;
    } /* 401 (token expired or revoked: an operator must reconnect), 403, other 4xx and 3xx: permanent */
    const sy_header_t *h;
    if (result->outcome == SY_PUSH_RETRY && !result->stale_version &&
        (h = sy_connector_header(headers, num_headers, "Retry-After")) != NULL)
        result->retry_after_ms = sy_connector_retry_after_ms(h->value, sy_now_ms());
    json_decref(root);
}

/* --- reconcile: Change Data Capture of each configured realm ------------------------------------------------- */

static const char *const qb_invoice_id[] = {"id", NULL};
static const char *const qb_invoice_status[] = {"invoice_status", NULL};

static const sy_connector_option_t qb_options[] = {
    {"realms", "the company (realm) ids reconcile reads, comma-separated, e.g. \"9341455251541838\""},
};

/* The realm after `after` ("" : the first) in the option's list, into realm; 0, or SY_ENOTFOUND past the last. */
static int next_realm(const sy_source_verify_t *conf, const char *after, char *realm, size_t size)
{
    const char *list = conf != NULL ? conf->options[0] : NULL, *p = list;
    int take = after == NULL || after[0] == '\0';
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ','), *end = comma != NULL ? comma : p + strlen(p);
        size_t len = (size_t)(end - p);
        if (len != 0 && len < size) {
            if (take) {
                memcpy(realm, p, len);
                realm[len] = '\0';
                return 0;
            }
            take = strlen(after) == len && memcmp(after, p, len) == 0;
        }
        p = comma != NULL ? comma + 1 : end;
    }
    return SY_ENOTFOUND;
}

/* Every realm is digits only (it becomes a path segment); a source without the option cannot reconcile. */
static int qb_configure(sy_source_verify_t *conf, size_t *bad_option, char *msg, size_t msgsize)
{
    const char *list = conf->options[0];
    if (list == NULL)
        return 0;
    for (const char *p = list; *p != '\0'; ++p) {
        if (!((*p >= '0' && *p <= '9') || *p == ',')) {
            *bad_option = 0;
            snprintf(msg, msgsize, "realms: company ids are digits, separated by commas");
            return SY_EINVAL;
        }
    }
    return 0;
}

/* GET /v3/company/{realm}/cdc for Customer and Invoice changed since since_ms (CDC keeps 30 days), one realm a
 * page; cursor: the realm read last. */
static int qb_encode_changes(const sy_source_verify_t *conf, int64_t since_ms, const char *cursor, sy_http_request_t *out)
{
    char realm[QB_NUMERIC_ID_MAX + 1], stamp[40];
    memset(out, 0, sizeof(*out));
    if (next_realm(conf, cursor, realm, sizeof(realm)) != 0)
        return SY_EINVAL; /* no realms configured (sources.NAME.realms), or past the last */
    format_time(since_ms, stamp, sizeof(stamp));
    sy_connector_buf_t b = {.max = 128};
    sy_connector_buf_append_pct(&b, stamp, strlen(stamp));
    int len = snprintf(out->path, sizeof(out->path),
                       "/v3/company/%s/cdc?entities=Customer,Invoice&changedSince=%.*s&minorversion=" QB_MINOR_VERSION,
                       realm, (int)b.len, b.base);
    sy_connector_buf_dispose(&b);
    if (len <= 0 || (size_t)len >= sizeof(out->path))
        return SY_EINVAL;
    memcpy(out->method, "GET", 4);
    return 0;
}

/* A CDC answer as the fetcher reads it (<Entity>.Fetched events, the same ids): what a notification's fetch would
 * have logged, so reconcile and the fetcher never log one version twice. */
static int qb_decode_changes(const sy_source_verify_t *conf, const sy_http_request_t *req, sy_json_t *json,
                             sy_slice_t body, sy_change_sink_fn emit, void *arg, char *next_cursor, size_t cursor_size)
{
    sy_fetched_t *fetched = NULL;
    size_t n = 0;
    const char *errmsg = NULL;
    char realm[QB_NUMERIC_ID_MAX + 1], next[QB_NUMERIC_ID_MAX + 1];
    next_cursor[0] = '\0';
    if (req == NULL || realm_of_path(req->path, realm, sizeof(realm)) != 0 ||
        qb_decode_fetch(req, body, &fetched, &n, &errmsg) != 0)
        return SY_EPARSE;
    int rc = 0;
    for (size_t i = 0; i != n && rc == 0; ++i) {
        sy_event_ref_t ev = {.raw = {fetched[i].body, fetched[i].body_len},
                             .id = sy_slice_cstr(fetched[i].id),
                             .type = sy_slice_cstr(fetched[i].type),
                             .occurred_at_ms = fetched[i].occurred_at_ms};
        rc = emit(arg, &ev);
    }
    sy_fetched_dispose(fetched, n);
    if (rc == 0 && next_realm(conf, realm, next, sizeof(next)) == 0 && strlen(realm) < cursor_size)
        memcpy(next_cursor, realm, strlen(realm) + 1); /* more realms: the next page reads the one after it */
    return rc;
}

const sy_connector_t sy_connector_quickbooks = {
    .name = "quickbooks",
    .role = SY_ROLE_ACCOUNTING,
    .verify = qb_verify,
    .parse = qb_parse,
    .sign = qb_sign,
    .default_tolerance_ms = 0, /* no timestamp is signed */
    .sample_types = sy_quickbooks_sample_types,
    .sample = sy_quickbooks_sample,
    .encode_push = qb_encode_push,
    .classify = qb_classify,
    .max_batch = 1,
    .default_rate_count = QB_RATE_COUNT,
    .default_rate_window_ms = QB_RATE_WINDOW_MS,
    .default_base_url = QB_BASE_URL,
    .needs_fetch = qb_needs_fetch,
    .encode_fetch = qb_encode_fetch,
    .decode_fetch = qb_decode_fetch,
    .observe = {.invoice_prefix = "Invoice.", .invoice_id = qb_invoice_id, .invoice_status = qb_invoice_status},
    .options = qb_options,
    .num_options = SY_ARRAY_SIZE(qb_options),
    .configure = qb_configure,
    .encode_changes = qb_encode_changes,
    .decode_changes = qb_decode_changes,
    .changes_retention_ms = 30LL * 86400 * 1000, /* CDC answers changes of the last 30 days */
};
