/*
 * Helpers of the connectors whose event ids, types and times travel in headers (standard_webhooks, github,
 * shopify, google_sheets): reading one such header and one string member of the body, each checked the way the
 * event log needs (raw bytes that read the same decoded: visible ASCII, no JSON escape, within the limits).
 */
#ifndef SY_HEADER_EVENT_H
#define SY_HEADER_EVENT_H

#include "connector.h"

typedef enum en_sy_token_result_t {
    SY_TOKEN_OK = 0,
    SY_TOKEN_MISSING,  /* header or member absent */
    SY_TOKEN_REPEATED, /* header given twice: which copy names the event would be a guess */
    SY_TOKEN_INVALID,  /* empty, too long, not visible ASCII, not a string, or a JSON escape */
} sy_token_result_t;

/* The trimmed value of header name, which must appear once and be 1..max visible ASCII characters. */
sy_token_result_t sy_header_token(const sy_request_view_t *req, const char *name, size_t max, sy_slice_t *out);

/* The raw text of string member key of object token obj: 1..max bytes, no escape, no control character. */
sy_token_result_t sy_body_token(const sy_json_t *json, int obj, const char *key, size_t max, sy_slice_t *out);

/*
 * An RFC 3339 time ("2026-12-07T00:39:17Z", "2023-03-29T18:00:27.877041743Z", "…+02:00") as Unix milliseconds
 * (fractions beyond milliseconds are dropped). Returns 0 or SY_EPARSE.
 */
int sy_rfc3339_ms(sy_slice_t s, int64_t *out_ms);
/* Writes now_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes with the NUL) into out. */
void sy_rfc3339_format(int64_t now_ms, char out[25]);

/* A fresh 8-4-4-4-12 lower-case hex UUID (version 4) and a NUL, for sample delivery ids. */
void sy_random_uuid(char out[37]);

/*
 * Standard Webhooks (standard_webhooks.c), shared with google_sheets: parses a verified request whose body is an
 * object {type, timestamp, data}: id from webhook-id, type from the body, time from webhook-timestamp. On success
 * json holds the body (root 0). Returns 0 or SY_EPARSE with *errmsg a static sentence.
 */
int sy_standard_webhooks_event(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *ev, const char **errmsg);
/* Signs as a Standard Webhooks sender: webhook-id (fresh "msg_…"), webhook-timestamp, webhook-signature. */
int sy_standard_webhooks_sign(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req,
                              sy_header_t *headers, size_t *num_headers, char *buf, size_t bufsize);

#endif
