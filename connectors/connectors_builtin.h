/*
 * Helpers shared by the connectors (registry.c) and the connectors themselves. The hub and the tests find a
 * connector by its kind with sy_connector_find() (registry.c lists them).
 */
#ifndef SY_CONNECTORS_BUILTIN_H
#define SY_CONNECTORS_BUILTIN_H

#include "connector.h"

/* Sample events (stripe_samples.c, hubspot_samples.c), the connectors' sample_types and sample. */
extern const char *const sy_stripe_sample_types[];
char *sy_stripe_sample(const char *type, int64_t now_ms);
extern const char *const sy_hubspot_sample_types[];
char *sy_hubspot_sample(const char *type, int64_t now_ms);
extern const char *const sy_intercom_sample_types[];
char *sy_intercom_sample(const char *type, int64_t now_ms);
extern const char *const sy_quickbooks_sample_types[]; /* quickbooks_samples.c */
char *sy_quickbooks_sample(const char *type, int64_t now_ms);

/* Helpers shared by the connectors (registry.c); not part of the connector contract. */

/* s without leading and trailing spaces and tabs (HTTP optional whitespace). */
sy_slice_t sy_connector_trim(sy_slice_t s);
/* Parses body into json and checks the root's type; on error sets *errmsg (not_type_msg for a wrong root). */
int sy_connector_parse_root(sy_json_t *json, sy_slice_t body, sy_json_type_t type, const char *not_type_msg,
                            const char **errmsg);
/* Parses 1..max_digits decimal digits (no sign, nothing else; max_digits <= 18). Returns 0 or SY_EPARSE. */
int sy_connector_parse_uint(sy_slice_t s, size_t max_digits, int64_t *out);

/* 1 if type is one of types (NULL-terminated). */
int sy_connector_sample_known(const char *const *types, const char *type);
/* 2 * bytes random lower-case hex digits and a NUL into out (bytes <= 16): fresh ids for samples. */
void sy_connector_random_token(char *out, size_t bytes);

/* Output of sign(): header text is laid out in a caller-supplied buffer. */
typedef struct st_sy_connector_out_t {
    char *base;
    size_t size;
    size_t used;
} sy_connector_out_t;
/* Reserves n bytes; returns them, or NULL if the buffer is too small. */
char *sy_connector_out_reserve(sy_connector_out_t *out, size_t n);
/* Appends decimal v (v >= 0); returns the written text, or a NULL slice if the buffer is too small. */
sy_slice_t sy_connector_out_uint(sy_connector_out_t *out, int64_t v);

/* --- outbound helpers (encode_push / classify) ----------------------------------------------------------- */

struct json_t; /* jansson; only the connectors that build or read bodies include <jansson.h> */

/* Case-insensitive (ASCII) lookup in a header array; the first of repeated headers wins. NULL if absent. */
const sy_header_t *sy_connector_header(const sy_header_t *headers, size_t num_headers, const char *name);

/* A growable byte buffer that never grows past max bytes. Out of memory aborts. Not NUL-terminated. */
typedef struct st_sy_connector_buf_t {
    char *base; /* malloc'd; freed by sy_connector_buf_dispose (or taken over by the caller) */
    size_t len;
    size_t cap;
    size_t max;
} sy_connector_buf_t;
/* Appends n bytes; returns 0 or SY_ETOOBIG (nothing appended) when len would exceed max. */
int sy_connector_buf_append(sy_connector_buf_t *b, const char *s, size_t n);
/*
 * Appends s percent-encoded: RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) are kept, every other byte is
 * %XX with upper-case hex, so a space is always %20 (never +). Usable for a path segment, a query value and a form
 * value alike. Returns 0 or SY_ETOOBIG.
 */
int sy_connector_buf_append_pct(sy_connector_buf_t *b, const char *s, size_t n);
void sy_connector_buf_dispose(sy_connector_buf_t *b);

/*
 * Sets out->path to prefix + percent-encoded segment + suffix. Returns 0, or SY_EINVAL if segment is empty or the
 * path would not fit in out->path (511 characters).
 */
int sy_connector_set_path(sy_http_request_t *out, const char *prefix, const char *segment, const char *suffix);
/*
 * Copies an idempotency key into out (NULL or "" leaves it empty). Returns SY_EINVAL if it is longer than 255 or
 * holds anything but visible ASCII (it becomes a header value: no CR, LF or control characters).
 */
int sy_connector_set_idempotency_key(sy_http_request_t *out, const char *key);
/*
 * Serialises root compactly (members in insertion order) into a malloc'd, NUL-terminated out->body (the NUL is not
 * counted in body_len). Returns 0 or SY_ETOOBIG over max bytes.
 */
int sy_connector_set_json_body(sy_http_request_t *out, const struct json_t *root, size_t max);
/* Code points in s if it is valid UTF-8 (RFC 3629), else -1. */
int64_t sy_connector_utf8_chars(const char *s);

/*
 * A Retry-After value in milliseconds from now_ms: delay-seconds ("120") or an HTTP date in any of the three forms
 * of RFC 9110 (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime
 * "Sun Nov  6 08:49:37 1994"). A date in the past gives 0. Returns -1 if the value is none of these.
 */
int64_t sy_connector_retry_after_ms(sy_slice_t value, int64_t now_ms);
/*
 * Copies an object id from a JSON string or integer into dst. Returns 0, or SY_EINVAL (dst set to "") when v is
 * neither, is empty, holds anything but visible ASCII, or does not fit in dstsize - 1 characters.
 */
int sy_connector_copy_id(char *dst, size_t dstsize, const struct json_t *v);
/*
 * A 2xx answer that is an object with an id (an update or a create: DONE, created_id its id) or a list
 * ({kind_member: "list", "data": [...]}: a lookup, FOUND with the first one's id, or NOT_FOUND). A 2xx that cannot be
 * read confirms nothing: RETRY. A found object without a usable id: PERMANENT (looking again finds the same).
 */
void sy_connector_classify_found(sy_slice_t body, const char *kind_member, sy_push_result_t *result);
/* Resets r to outcome, retry_after_ms -1, not rate limited, no created id. */
void sy_connector_result_init(sy_push_result_t *r, sy_push_outcome_t outcome);

#endif
