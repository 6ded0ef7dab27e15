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

#include "common.h"
#include "json.h"

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

/* --- outbound: pushing golden values to the tool's API ------------------------------------------------- */

/* One object to write. Everything is borrowed for the call. */
typedef struct st_sy_push_t {
    const char *object_id;       /* the tool's id of the object; NULL: none known yet → find or create (by email) */
    const char *email;           /* the record's golden email, for find-or-create (may be NULL) */
    const char *const *names;    /* the tool's API names of the fields (policy push_as), e.g. "metadata.lifecycle_stage" */
    const char *const *values;   /* their values; "" clears */
    size_t num_fields;
    const char *idempotency_key; /* stable across retries of this push (and its revision) */
    int create;                  /* no object_id and a lookup by email found none: create the object */
} sy_push_t;

/* An HTTP request to send. Built by encode_push; body is malloc'd and owned by the request. */
typedef struct st_sy_http_request_t {
    char method[8];     /* "POST", "PATCH" */
    char path[512];     /* "/v1/customers/cus_123", appended to the spoke's base URL */
    char content_type[64];
    char idempotency_key[256]; /* sent as Idempotency-Key when non-empty */
    char *body;
    size_t body_len;
    size_t num_pushes; /* how many pushes this request carries (> 1 only for batch endpoints) */
    int lookup;        /* a find-by-email request (object_id NULL, create 0): classify says FOUND or NOT_FOUND */
} sy_http_request_t;

void sy_http_request_dispose(sy_http_request_t *req);

typedef enum en_sy_push_outcome_t {
    SY_PUSH_DONE = 0,    /* 2xx: written */
    SY_PUSH_RETRY,       /* 429, 5xx, 409 (Stripe): try again later (retry_after_ms set if the tool said when) */
    SY_PUSH_PERMANENT,   /* other 4xx, or the tool said do not retry (Stripe-Should-Retry: false): dead letter */
    SY_PUSH_FOUND,       /* a lookup found the object: created_id holds its id; send the update next */
    SY_PUSH_NOT_FOUND,   /* a lookup found nothing: send a create next (push.create = 1) */
} sy_push_outcome_t;

#define SY_PUSH_MAX_BATCH 100 /* no connector batches more pushes per request (HubSpot batch/update: 100) */

/* What a response said. */
typedef struct st_sy_push_result_t {
    sy_push_outcome_t outcome;
    int64_t retry_after_ms;  /* from Retry-After / rate-limit headers; -1 if not given */
    int rate_limited;        /* a 429 (pause the whole spoke, not only this push) */
    char created_id[128];    /* the object id a create/upsert/lookup returned (single push), "" if none */
    /* A batch answered in part (HubSpot 207 Multi-Status), set by classify_each: input i was written iff written[i]
     * (it is done), the others take outcome. partial 0: outcome applies to all n inputs. */
    int partial;
    unsigned char written[SY_PUSH_MAX_BATCH];
} sy_push_result_t;

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

    /*
     * Outbound. encode_push builds one request for pushes[0..n) (n <= max_batch, and n > 1 only when every push has
     * an object_id). A push without object_id is either a lookup by email (Stripe: GET /v1/customers?email=…), a
     * create (push.create, or no email to look up by), or an upsert by email that finds or creates in one call
     * (HubSpot). Returns 0, or SY_EINVAL when a push cannot be expressed (e.g. a field name the API does not take),
     * which makes it a dead letter.
     */
    int (*encode_push)(const sy_push_t *pushes, size_t n, sy_http_request_t *out);
    /*
     * Reads a response: status, headers (names case-insensitive), body. For a batch (n pushes) the outcome applies to
     * all of them. Fills result. Never fails.
     */
    void (*classify)(long status, const sy_header_t *headers, size_t num_headers, sy_slice_t body, size_t n,
                     sy_push_result_t *result);
    /*
     * Optional, for batch endpoints: refines what classify said about the n-input request req (n > 1) from the
     * answer, per input: sets result->partial and result->written[] when the tool wrote some inputs and not others.
     * An answer it cannot read leaves the result as classify made it. Never fails.
     */
    void (*classify_each)(const sy_http_request_t *req, long status, sy_slice_t body, size_t n, sy_push_result_t *result);
    size_t max_batch;              /* pushes per request: 1 (Stripe), 100 (HubSpot batch update); <= SY_PUSH_MAX_BATCH */
    unsigned default_rate_count;   /* documented limit: default_rate_count requests per default_rate_window_ms */
    int64_t default_rate_window_ms;
    const char *default_base_url;  /* https://api.stripe.com, https://api.hubapi.com (tests override with loopback) */
} sy_connector_t;

/* Registry: all connectors known to this build (static const table in registry.c). */
const sy_connector_t *sy_connector_find(const char *name);
const sy_connector_t *const *sy_connector_all(size_t *count);

/*
 * Case-insensitive lookup of a header that must appear once (signature and timestamp headers): NULL if absent,
 * SY_HEADER_REPEATED if it appears more than once — a repeated signature header is malformed, whatever its copies
 * say (a proxy or a client could otherwise pair a good copy with a forged one).
 */
const sy_header_t *sy_request_header(const sy_request_view_t *req, const char *name);
extern const sy_header_t sy_header_repeated;
#define SY_HEADER_REPEATED (&sy_header_repeated)

#endif
