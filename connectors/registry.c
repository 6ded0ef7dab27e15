/*
 * The registry: a static table of every connector in this build, and helpers shared by connectors.
 * Adding a connector = its file (connectors/<kind>.c defining sy_connector_<kind>) and one X(<kind>) line in
 * SY_CONNECTORS below (see README.md).
 */
#include "connectors_builtin.h"
#include "crypto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SY_CONNECTORS(X)                                                                                            \
    X(stripe)                                                                                                       \
    X(hubspot)                                                                                                      \
    X(intercom)                                                                                                     \
    X(standard_webhooks)                                                                                            \
    X(github)                                                                                                       \
    X(shopify)                                                                                                      \
    X(google_sheets)                                                                                                \
    X(quickbooks)                                                                                                   \
    X(paddle)                                                                                                       \
    /* a new connector: one X(kind) line above this one */

#define SY_CONNECTOR_DECLARE(kind) extern const sy_connector_t sy_connector_##kind;
#define SY_CONNECTOR_ENTRY(kind) &sy_connector_##kind,
SY_CONNECTORS(SY_CONNECTOR_DECLARE)
static const sy_connector_t *const connectors[] = {SY_CONNECTORS(SY_CONNECTOR_ENTRY)};

const sy_connector_t *sy_connector_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i != SY_ARRAY_SIZE(connectors); ++i) {
        if (strcmp(connectors[i]->name, name) == 0)
            return connectors[i];
    }
    return NULL;
}

const sy_connector_t *sy_connector_find_slice(sy_slice_t name)
{
    for (size_t i = 0; i != SY_ARRAY_SIZE(connectors); ++i) {
        if (strlen(connectors[i]->name) == name.len && memcmp(connectors[i]->name, name.base, name.len) == 0)
            return connectors[i];
    }
    return NULL;
}

size_t sy_connector_option_index(const sy_connector_t *c, const char *key)
{
    for (size_t i = 0; i != c->num_options && i != SY_MAX_OPTIONS; ++i) {
        if (strcmp(c->options[i].key, key) == 0)
            return i;
    }
    return SY_MAX_OPTIONS;
}

const sy_connector_t *const *sy_connector_all(size_t *count)
{
    if (count != NULL)
        *count = SY_ARRAY_SIZE(connectors);
    return connectors;
}

int sy_connector_sample_known(const char *const *types, const char *type)
{
    for (; *types != NULL; ++types) {
        if (strcmp(*types, type) == 0)
            return 1;
    }
    return 0;
}

void sy_connector_random_token(char *out, size_t bytes)
{
    unsigned char raw[16];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    sy_random_bytes(raw, bytes);
    sy_hex_encode(raw, bytes, out);
}

sy_slice_t sy_connector_trim(sy_slice_t s)
{
    while (s.len != 0 && (s.base[0] == ' ' || s.base[0] == '\t')) {
        ++s.base;
        --s.len;
    }
    while (s.len != 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        --s.len;
    return s;
}

int sy_connector_parse_uint(sy_slice_t s, size_t max_digits, int64_t *out)
{
    if (s.len == 0 || s.len > max_digits || max_digits > 18)
        return SY_EPARSE;
    int64_t v = 0;
    for (size_t i = 0; i != s.len; ++i) {
        if (s.base[i] < '0' || s.base[i] > '9')
            return SY_EPARSE;
        v = v * 10 + (s.base[i] - '0');
    }
    *out = v;
    return 0;
}

char *sy_connector_out_reserve(sy_connector_out_t *out, size_t n)
{
    if (n > out->size - out->used)
        return NULL;
    char *p = out->base + out->used;
    out->used += n;
    return p;
}

sy_slice_t sy_connector_out_uint(sy_connector_out_t *out, int64_t v)
{
    char tmp[20];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    char *p = sy_connector_out_reserve(out, n);
    if (p == NULL)
        return (sy_slice_t){NULL, 0};
    memcpy(p, tmp + sizeof(tmp) - n, n);
    return (sy_slice_t){p, n};
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII-only case folding: header names are tokens, and the locale must not change what matches. */
const sy_header_t *sy_connector_header(const sy_header_t *headers, size_t num_headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i != num_headers; ++i) {
        const sy_header_t *h = &headers[i];
        if (h->name.len != n)
            continue;
        size_t k = 0;
        while (k != n && ascii_lower((unsigned char)h->name.base[k]) == ascii_lower((unsigned char)name[k]))
            ++k;
        if (k == n)
            return h; /* the first one wins when a header is repeated */
    }
    return NULL;
}

const sy_header_t sy_header_repeated = {{"", 0}, {"", 0}};

const sy_header_t *sy_request_header(const sy_request_view_t *req, const char *name)
{
    const sy_header_t *first = sy_connector_header(req->headers, req->num_headers, name);
    if (first == NULL)
        return NULL;
    size_t rest = req->num_headers - (size_t)(first - req->headers) - 1;
    return sy_connector_header(first + 1, rest, name) != NULL ? SY_HEADER_REPEATED : first;
}

const char *sy_verify_result_code(sy_verify_result_t r)
{
    switch (r) {
    case SY_VERIFY_OK:
        return "ok";
    case SY_VERIFY_MISSING_HEADER:
        return "missing_header";
    case SY_VERIFY_MALFORMED_HEADER:
        return "malformed_header";
    case SY_VERIFY_NO_SIGNATURE:
        return "no_signature";
    case SY_VERIFY_TIMESTAMP_TOLERANCE:
        return "timestamp_tolerance";
    case SY_VERIFY_MISMATCH:
        return "mismatch";
    case SY_VERIFY_NO_SECRET:
        return "no_secret";
    }
    return "unknown";
}

/* Sentences for the 401 answer: fixed text, so no secret or request data can ever leak through them. */
const char *sy_verify_result_text(sy_verify_result_t r)
{
    switch (r) {
    case SY_VERIFY_OK:
        return "The signature is valid.";
    case SY_VERIFY_MISSING_HEADER:
        return "The signature header (or its timestamp header) is missing.";
    case SY_VERIFY_MALFORMED_HEADER:
        return "The signature header could not be parsed.";
    case SY_VERIFY_NO_SIGNATURE:
        return "The signature header carries no signature of the accepted scheme.";
    case SY_VERIFY_TIMESTAMP_TOLERANCE:
        return "The signed timestamp is outside the tolerance window.";
    case SY_VERIFY_MISMATCH:
        return "No signature matches a configured secret.";
    case SY_VERIFY_NO_SECRET:
        return "No signing secret is configured for this source.";
    }
    return "The signature could not be verified.";
}

int sy_connector_parse_root(sy_json_t *json, sy_slice_t body, sy_json_type_t type, const char *not_type_msg,
                            const char **errmsg)
{
    int rc = sy_json_parse(json, body.base, body.len, errmsg);
    if (rc != 0)
        return rc;
    if (sy_json_type(json, 0) != type) {
        *errmsg = not_type_msg;
        return SY_EPARSE;
    }
    return 0;
}

/* --- outbound helpers ------------------------------------------------------------------------------------ */

void sy_http_request_dispose(sy_http_request_t *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
}

void sy_connector_result_init(sy_push_result_t *r, sy_push_outcome_t outcome)
{
    r->outcome = outcome;
    r->retry_after_ms = -1;
    r->rate_limited = 0;
    r->created_id[0] = '\0';
    r->partial = 0;
    r->version[0] = '\0';
    r->stale_version = 0;
}

void sy_fetched_dispose(sy_fetched_t *fetched, size_t n)
{
    for (size_t i = 0; fetched != NULL && i != n; ++i) {
        free(fetched[i].id);
        free(fetched[i].type);
        free(fetched[i].body);
    }
    free(fetched);
}

int sy_connector_buf_append(sy_connector_buf_t *b, const char *s, size_t n)
{
    if (n > b->max - b->len)
        return SY_ETOOBIG;
    if (n > b->cap - b->len) {
        size_t cap = b->cap != 0 ? b->cap : 256;
        while (cap - b->len < n)
            cap = cap > b->max / 2 ? b->max : cap * 2;
        char *p = realloc(b->base, cap);
        if (p == NULL)
            abort(); /* out of memory aborts (STYLE.md); max bounds what any input can ask for */
        b->base = p;
        b->cap = cap;
    }
    if (n != 0)
        memcpy(b->base + b->len, s, n);
    b->len += n;
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int sy_connector_buf_append_pct(sy_connector_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i != n) {
        size_t run = i;
        while (run != n && is_unreserved((unsigned char)s[run]))
            ++run;
        int rc;
        if (run != i && (rc = sy_connector_buf_append(b, s + i, run - i)) != 0)
            return rc;
        if ((i = run) == n)
            break;
        unsigned char c = (unsigned char)s[i++];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if ((rc = sy_connector_buf_append(b, esc, sizeof(esc))) != 0)
            return rc;
    }
    return 0;
}

void sy_connector_buf_dispose(sy_connector_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

int sy_connector_set_path(sy_http_request_t *out, const char *prefix, const char *segment, const char *suffix)
{
    if (segment == NULL || segment[0] == '\0')
        return SY_EINVAL;
    sy_connector_buf_t b = {.max = sizeof(out->path) - 1};
    int rc;
    if ((rc = sy_connector_buf_append(&b, prefix, strlen(prefix))) != 0 ||
        (rc = sy_connector_buf_append_pct(&b, segment, strlen(segment))) != 0 ||
        (rc = sy_connector_buf_append(&b, suffix, strlen(suffix))) != 0)
        rc = SY_EINVAL; /* an id too long for any path is not something a retry can fix */
    else {
        memcpy(out->path, b.base, b.len);
        out->path[b.len] = '\0';
    }
    sy_connector_buf_dispose(&b);
    return rc;
}

int sy_connector_set_idempotency_key(sy_http_request_t *out, const char *key)
{
    out->idempotency_key[0] = '\0';
    if (key == NULL)
        return 0;
    size_t n = strlen(key);
    if (n >= sizeof(out->idempotency_key))
        return SY_EINVAL;
    for (size_t i = 0; i != n; ++i) {
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
            return SY_EINVAL;
    }
    memcpy(out->idempotency_key, key, n + 1);
    return 0;
}

int sy_connector_set_json_body(sy_http_request_t *out, const struct json_t *root, size_t max)
{
    size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (n == 0)
        return SY_EINVAL;
    if (n > max)
        return SY_ETOOBIG;
    char *body = malloc(n + 1);
    if (body == NULL)
        abort();
    if (json_dumpb(root, body, n, JSON_COMPACT) != n) {
        free(body);
        return SY_EINVAL;
    }
    body[n] = '\0'; /* for logs; not counted in body_len */
    free(out->body);
    out->body = body;
    out->body_len = n;
    return 0;
}

int64_t sy_connector_utf8_chars(const char *s)
{
    size_t len = strlen(s);
    if (!sy_utf8_valid(s, len))
        return -1;
    int64_t chars = 0;
    for (size_t i = 0; i != len; ++i)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80; /* every byte but a continuation byte starts a code point */
    return chars;
}

int sy_connector_copy_id(char *dst, size_t dstsize, const struct json_t *v)
{
    char num[24];
    const char *s;
    size_t n;
    dst[0] = '\0';
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_integer(v)) {
        int len = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (len <= 0 || (size_t)len >= sizeof(num))
            return SY_EINVAL;
        s = num;
        n = (size_t)len;
    } else {
        return SY_EINVAL;
    }
    if (n == 0 || n >= dstsize)
        return SY_EINVAL;
    for (size_t i = 0; i != n; ++i) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return SY_EINVAL; /* ids end up in paths and logs: visible ASCII only */
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Retry-After dates: a small cursor over the header value. */
typedef struct st_date_cursor_t {
    const char *p, *end;
} date_cursor_t;

static int take_lit(date_cursor_t *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* Exactly `digits` digits (a leading space stands for a 0 when pad_space, for asctime's day). */
static int take_num(date_cursor_t *c, int digits, int pad_space, int *out)
{
    if (c->end - c->p < digits)
        return 0;
    int v = 0;
    for (int i = 0; i != digits; ++i) {
        char ch = c->p[i];
        if (ch == ' ' && pad_space && i == 0 && digits > 1)
            continue;
        if (ch < '0' || ch > '9')
            return 0;
        v = v * 10 + (ch - '0');
    }
    c->p += digits;
    *out = v;
    return 1;
}

/* Index 0..n-1 of the name at the cursor, or -1. */
static int take_name(date_cursor_t *c, const char *const *names, int n)
{
    for (int i = 0; i != n; ++i) {
        if (take_lit(c, names[i]))
            return i;
    }
    return -1;
}

static const char *const short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int take_time(date_cursor_t *c, int *h, int *m, int *s)
{
    return take_num(c, 2, 0, h) && take_lit(c, ":") && take_num(c, 2, 0, m) && take_lit(c, ":") && take_num(c, 2, 0, s);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the usual era arithmetic, valid for any year >= 0). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m] + (m == 1 && leap);
}

/* Parses one of the three HTTP date forms; returns 0 and Unix milliseconds, or SY_EPARSE. */
static int parse_http_date(sy_slice_t v, int64_t *out_ms)
{
    date_cursor_t c = {v.base, v.base + v.len};
    int day = 0, mon = 0, year = 0, hh = 0, mm = 0, ss = 0;
    if (take_name(&c, short_days, 7) >= 0 && take_lit(&c, ", ")) { /* IMF-fixdate */
        if (!(take_num(&c, 2, 0, &day) && take_lit(&c, " ") && (mon = take_name(&c, months, 12)) >= 0 &&
              take_lit(&c, " ") && take_num(&c, 4, 0, &year) && take_lit(&c, " ") && take_time(&c, &hh, &mm, &ss) &&
              take_lit(&c, " GMT")))
            return SY_EPARSE;
    } else if ((c.p = v.base, take_name(&c, long_days, 7) >= 0) && take_lit(&c, ", ")) { /* RFC 850 */
        if (!(take_num(&c, 2, 0, &day) && take_lit(&c, "-") && (mon = take_name(&c, months, 12)) >= 0 &&
              take_lit(&c, "-") && take_num(&c, 2, 0, &year) && take_lit(&c, " ") && take_time(&c, &hh, &mm, &ss) &&
              take_lit(&c, " GMT")))
            return SY_EPARSE;
        year += year < 70 ? 2000 : 1900;
    } else if ((c.p = v.base, take_name(&c, short_days, 7) >= 0) && take_lit(&c, " ")) { /* asctime */
        if (!((mon = take_name(&c, months, 12)) >= 0 && take_lit(&c, " ") && take_num(&c, 2, 1, &day) &&
              take_lit(&c, " ") && take_time(&c, &hh, &mm, &ss) && take_lit(&c, " ") && take_num(&c, 4, 0, &year)))
            return SY_EPARSE;
    } else {
        return SY_EPARSE;
    }
    if (c.p != c.end || year < 1970 || day < 1 || day > days_in_month(year, mon) || hh > 23 || mm > 59 || ss > 60)
        return SY_EPARSE;
    int64_t secs = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
    *out_ms = secs * 1000;
    return 0;
}

/* Delay-seconds beyond 12 digits (31,000 years) are not a delay anyone means. */
#define RETRY_AFTER_MAX_DIGITS 12

int64_t sy_connector_retry_after_ms(sy_slice_t value, int64_t now_ms)
{
    value = sy_connector_trim(value);
    int64_t secs, at_ms;
    if (value.len != 0 && value.base[0] >= '0' && value.base[0] <= '9')
        return sy_connector_parse_uint(value, RETRY_AFTER_MAX_DIGITS, &secs) == 0 ? secs * 1000 : -1;
    if (parse_http_date(value, &at_ms) != 0)
        return -1;
    return at_ms > now_ms ? at_ms - now_ms : 0;
}

void sy_connector_classify_found(sy_slice_t body, const char *kind_member, sy_push_result_t *result)
{
    json_t *root = json_loadb(body.base, body.len, 0, NULL);
    if (!json_is_object(root)) {
        result->outcome = SY_PUSH_RETRY;
        goto Exit;
    }
    json_t *kind = json_object_get(root, kind_member);
    if (json_is_string(kind) && strcmp(json_string_value(kind), "list") == 0) {
        json_t *data = json_object_get(root, "data");
        if (!json_is_array(data))
            result->outcome = SY_PUSH_RETRY;
        else if (json_array_size(data) == 0)
            result->outcome = SY_PUSH_NOT_FOUND;
        else
            result->outcome = sy_connector_copy_id(result->created_id, sizeof(result->created_id),
                                                   json_object_get(json_array_get(data, 0), "id")) == 0
                                  ? SY_PUSH_FOUND
                                  : SY_PUSH_PERMANENT;
        goto Exit;
    }
    result->outcome = SY_PUSH_DONE;
    sy_connector_copy_id(result->created_id, sizeof(result->created_id), json_object_get(root, "id"));
Exit:
    json_decref(root);
}
