/*
 * The registry: a static table of every connector in this build, and helpers shared by connectors.
 * Adding a connector = one line in `connectors` below (see README.md).
 */
#include "connectors_builtin.h"

#include <string.h>

static const sy_connector_t *const connectors[] = {
    &sy_connector_stripe,
    &sy_connector_hubspot,
};

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

const sy_connector_t *const *sy_connector_all(size_t *count)
{
    if (count != NULL)
        *count = SY_ARRAY_SIZE(connectors);
    return connectors;
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
const sy_header_t *sy_request_header(const sy_request_view_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i != req->num_headers; ++i) {
        const sy_header_t *h = &req->headers[i];
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
