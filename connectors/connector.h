/*
 * The connector interface: one per SaaS tool (Stripe, HubSpot, ...).
 *
 * Connectors do no I/O. They verify a request's signature, split a verified body into events and sign
 * sample requests (for `switchyard trigger`, tests and the benchmark). Everything they are given is
 * borrowed for the duration of the call; every slice they return points into the request body.
 * All functions are thread-safe given distinct sy_json_t scratch objects.
 */
#ifndef SY_CONNECTOR_H
#define SY_CONNECTOR_H

#include "../hub/common.h"
#include "../hub/json.h"

#define SY_MAX_SECRETS 8
#define SY_EVENT_ID_MAX 255   /* longer provider event ids are refused (400) */
#define SY_EVENT_TYPE_MAX 127 /* longer event types are refused (400) */

/* One request header. Names are matched case-insensitively. */
typedef struct st_sy_header_t {
    sy_slice_t name;
    sy_slice_t value;
} sy_header_t;

/* What ingress knows of a request, borrowed for the duration of a call. */
typedef struct st_sy_request_view_t {
    sy_slice_t method; /* "POST" */
    sy_slice_t url;    /* full URL for HubSpot v2/v3: the configured public URL, else scheme://host/path?query */
    const sy_header_t *headers;
    size_t num_headers;
    sy_slice_t body; /* raw bytes exactly as received */
    int64_t now_ms;  /* wall clock used for the timestamp tolerance */
} sy_request_view_t;

/* Per-source verification settings, built from the config (owned by the config). */
typedef struct st_sy_source_verify_t {
    sy_slice_t secrets[SY_MAX_SECRETS]; /* any one may match (rotation) */
    size_t num_secrets;
    int64_t tolerance_ms;  /* |now - signed timestamp| must not exceed this; Stripe default 300 s, HubSpot 5 min */
    int signature_version; /* HubSpot: 1, 2 or 3 (default 3); ignored by Stripe */
} sy_source_verify_t;

/* Why verification failed; each maps to a precise text in the 401 answer (never a secret). */
typedef enum en_sy_verify_result_t {
    SY_VERIFY_OK = 0,
    SY_VERIFY_MISSING_HEADER,      /* the signature (or timestamp) header is absent */
    SY_VERIFY_MALFORMED_HEADER,    /* header present but unparsable (truncated, bad timestamp, bad encoding) */
    SY_VERIFY_NO_SIGNATURE,        /* header parsed but carries no signature of the accepted scheme (e.g. only v0) */
    SY_VERIFY_TIMESTAMP_TOLERANCE, /* signed timestamp outside the tolerance window */
    SY_VERIFY_MISMATCH,            /* no signature matches any configured secret */
    SY_VERIFY_NO_SECRET,           /* the source has no usable secret configured */
} sy_verify_result_t;

/* Machine-readable name ("missing_header", ...) and a sentence for people. */
const char *sy_verify_result_code(sy_verify_result_t r);
const char *sy_verify_result_text(sy_verify_result_t r);

/* One event found in a verified body. Slices point into the body. */
typedef struct st_sy_event_ref_t {
    sy_slice_t raw;         /* this event's bytes: the whole body (Stripe) or one array element (HubSpot) */
    sy_slice_t id;          /* provider event id as it appears in the JSON (string contents or number text) */
    sy_slice_t type;        /* event type, e.g. "customer.updated", "contact.propertyChange" */
    int64_t occurred_at_ms; /* provider time of the event (Stripe created*1000, HubSpot occurredAt), 0 if absent */
} sy_event_ref_t;

typedef struct st_sy_connector_t {
    const char *name; /* "stripe", "hubspot" */

    /* Verifies the signature headers of req against conf. Constant-time comparisons only. */
    sy_verify_result_t (*verify)(const sy_source_verify_t *conf, const sy_request_view_t *req);

    /*
     * Parses a verified body into events. json is caller-owned scratch (reused across calls).
     * Fills at most max_events entries of events and sets *num_events.
     * Returns 0, or SY_EPARSE (not JSON, or an event without id/type) / SY_ETOOBIG (more than max_events)
     * with *errmsg set to a static sentence for the 400 answer.
     */
    int (*parse)(sy_json_t *json, sy_slice_t body, sy_event_ref_t *events, size_t max_events, size_t *num_events,
                 const char **errmsg);

    /*
     * Signs a request as the provider would (for trigger, tests, bench). Writes up to *num_headers headers into
     * headers, their text into buf (bufsize bytes), and sets *num_headers. Uses req->method, url, body, now_ms.
     * Returns 0 or SY_ETOOBIG if buf or headers are too small.
     */
    int (*sign)(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req, sy_header_t *headers,
                size_t *num_headers, char *buf, size_t bufsize);

    int64_t default_tolerance_ms;
} sy_connector_t;

/* Registry: all connectors known to this build (static const table in registry.c). */
const sy_connector_t *sy_connector_find(const char *name);
const sy_connector_t *const *sy_connector_all(size_t *count);

/* Case-insensitive header lookup; returns NULL if absent. */
const sy_header_t *sy_request_header(const sy_request_view_t *req, const char *name);

#endif
