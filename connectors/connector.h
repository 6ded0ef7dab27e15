/*
 * The connector interface (v2): one self-contained unit per SaaS tool. The hub names no provider: everything it
 * knows of a tool comes through this struct.
 *
 * Connectors do no I/O. Inbound they verify a whole request (method, URL, headers, body), split it into events
 * (ids, types and times may come from headers or the body), tell the applier how to read an event (observe hints)
 * and make signed sample requests (for `switchyard trigger`, tests and the benchmark). Outbound they encode pushes
 * and classify answers. They declare their own config keys (options), default tolerance and rate limits.
 * Everything they are given is borrowed for the duration of the call; every slice they return points into the
 * request (body or header values) or into the scratch the caller lent with it (sy_request_view_t.scratch). All
 * functions are thread-safe given distinct sy_json_t scratch objects (and scratch buffers).
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
    /*
     * Scratch the caller lends parse for what a connector must compose because the request does not hold it as one
     * run of bytes: QuickBooks' legacy notifications have no event id (it is realm:entity:id:operation:lastUpdated)
     * and name the realm once for many entities. Slices parse returns may point here; the caller keeps the buffer as
     * long as the events (ingress copies them into the log job before the next request). Give
     * SY_EVENT_SCRATCH_PER_EVENT bytes per event it may return; NULL/0 is fine for connectors that compose nothing
     * (one that needs it then refuses the body with SY_ETOOBIG).
     */
    char *scratch;
    size_t scratch_size;
} sy_request_view_t;

/* Scratch per event a connector may use (an id of SY_EVENT_ID_MAX bytes and a small composed raw object). */
#define SY_EVENT_SCRATCH_PER_EVENT 1024

#define SY_MAX_OPTIONS 8

/* Per-source settings the connector reads, built from the config (owned by the config). */
typedef struct st_sy_source_verify_t {
    sy_slice_t secrets[SY_MAX_SECRETS]; /* any one may match (rotation) */
    size_t num_secrets;
    int64_t tolerance_ms;  /* |now - signed timestamp| must not exceed this; Stripe default 300 s, HubSpot 5 min */
    int signature_version; /* the scheme variant a connector lets a source pick (HubSpot 1, 2 or 3), set by its
                              configure(); 0 = the connector's default */
    /* The source's connector options as written in the config (sources.NAME.<key>), indexed like
     * connector->options; NULL = not given. */
    const char *options[SY_MAX_OPTIONS];
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
    /* The object's current version as the tool last told (QuickBooks SyncToken: a write must name it), from the
     * result.version of a lookup or an earlier write; NULL: unknown, a connector that needs one sends a lookup of
     * object_id first (lookup = 1, classify says FOUND with result.version). Connectors without versions ignore it. */
    const char *version;
} sy_push_t;

/* An HTTP request to send. Built by encode_push; body is malloc'd and owned by the request. */
typedef struct st_sy_http_request_t {
    char method[8];     /* "POST", "PATCH" */
    char path[512];     /* "/v1/customers/cus_123", appended to the spoke's base URL */
    char content_type[64];
    char idempotency_key[256]; /* sent as Idempotency-Key when non-empty */
    char extra_header[128];    /* one more header line "Name: value" when non-empty (Intercom-Version); the connector
                                  makes it (never from a request or a record: no CR, LF or other control bytes) */
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
    /* Versioned objects (QuickBooks SyncToken), single push: the version the answer reports (a lookup's, or the new
     * one after a write), to pass as push.version next time; "" if none. stale_version: the tool refused the write
     * because push.version is out of date (outcome RETRY): forget it, so the retry reads the object again first. */
    char version[32];
    int stale_version;
} sy_push_result_t;

/* A key of sources.NAME that only this connector reads (HubSpot's signature_version). */
typedef struct st_sy_connector_option_t {
    const char *key; /* "signature_version" */
    const char *doc; /* what it takes, for errors and `switchyard check`: "1, 2 or 3 (default 3)" */
} sy_connector_option_t;

/* A path into an event's JSON: segments, NULL-terminated ({"data", "object", "id", NULL}). */
typedef const char *const sy_connector_path_t[];

/*
 * How the applier reads this tool's events beyond the policy's paths (hub/sync/observe.c). All optional.
 */
typedef struct st_sy_connector_observe_t {
    /* Property-change events: an event whose member property_name (a string) names one property and whose member
     * property_value holds its new value also reads as {"properties": {name: value}}, so a property change looks
     * like a partial object (HubSpot contact.propertyChange). NULL: the tool sends no such events. */
    const char *property_name, *property_value;
    /* Subscriptions, for the double-billing check: events whose type starts with subscription_prefix carry one, its
     * id and status at these paths; an event of type subscription_ended ends it (status "canceled"). */
    const char *subscription_prefix;
    const char *const *subscription_id;
    const char *const *subscription_status;
    const char *subscription_ended;
    /* Invoices, for the health report (unmatched invoices, a customer billed by two tools): events whose type starts
     * with invoice_prefix carry one, its id and status at these paths (status "open" counts as unpaid). */
    const char *invoice_prefix;
    const char *const *invoice_id;
    const char *const *invoice_status;
    /* Where an event names the idempotency key of the API write that caused it (Stripe request.idempotency_key):
     * a key of ours marks the echo of our own push. NULL: the tool does not say. */
    const char *const *write_key;
} sy_connector_observe_t;

/*
 * Objects a tool's notifications name without their values (QuickBooks sends "Customer 1 was updated" and nothing
 * else), read back so the log holds them: the hub fetches them through the spoke's rate-limited, retrying queue and
 * appends each fetched object to the log as an event of its own, so a replay never needs the network.
 */
typedef struct st_sy_fetched_t {
    char *id;               /* dedupe id of the fetched version (stable: fetching the same version twice is a duplicate) */
    char *type;             /* e.g. "Customer.Fetched" */
    int64_t occurred_at_ms; /* when the tool last changed the object, 0 if unknown */
    char *body;             /* the event body to log (JSON), NUL-terminated, body_len bytes */
    size_t body_len;
} sy_fetched_t;

/* Frees what decode_fetch returned (each member, then the array); NULL is fine. */
void sy_fetched_dispose(sy_fetched_t *fetched, size_t n);

/* What the tool is to the team, for the data-health report (a billing record linked to no other tool). */
typedef enum en_sy_tool_role_t {
    SY_ROLE_OTHER = 0,
    SY_ROLE_CRM,
    SY_ROLE_BILLING,
    SY_ROLE_SUPPORT,
    SY_ROLE_ACCOUNTING,
    SY_ROLE_TRACKER, /* a spreadsheet or project board */
} sy_tool_role_t;

/* Receives one event a page of the tool's changes holds (decode_changes); the slices are valid during the call
 * only. Returns 0 to go on, or a negative code to stop the page (decode_changes then returns it). */
typedef int (*sy_change_sink_fn)(void *arg, const sy_event_ref_t *ev);

typedef struct st_sy_connector_t {
    const char *name; /* the kind named by sources.NAME.connector: "stripe", "hubspot" */
    sy_tool_role_t role;

    /* --- inbound -------------------------------------------------------------------------------------------- */

    /* Verifies req (its method, URL, headers and body) against conf. Constant-time comparisons only. */
    sy_verify_result_t (*verify)(const sy_source_verify_t *conf, const sy_request_view_t *req);

    /*
     * Splits a verified request into events: ids, types and times from its body or its headers (Standard Webhooks,
     * GitHub and Shopify put them in headers). json is caller-owned scratch (reused across calls); ingress reads its
     * root type afterwards (an array, or any body with several events, answers with a per-event list). Fills at most max_events entries of events and
     * sets *num_events. Returns 0, or SY_EPARSE (not JSON, or an event without id/type) / SY_ETOOBIG (more than
     * max_events) with *errmsg set to a static sentence for the 400 answer.
     */
    int (*parse)(sy_json_t *json, const sy_request_view_t *req, sy_event_ref_t *events, size_t max_events,
                 size_t *num_events, const char **errmsg);

    /* The name of the scheme that verified a request under conf, stored with each event ("stripe-v1",
     * "hubspot-v3"). Optional: NULL stores the connector's name. */
    const char *(*scheme)(const sy_source_verify_t *conf);

    /*
     * Signs a request as the provider would (for trigger, tests, bench). Writes up to *num_headers headers into
     * headers, their text into buf (bufsize bytes), and sets *num_headers. Uses req->method, url, body, now_ms.
     * Returns 0 or SY_ETOOBIG if buf or headers are too small.
     */
    int (*sign)(const sy_source_verify_t *conf, sy_slice_t secret, const sy_request_view_t *req, sy_header_t *headers,
                size_t *num_headers, char *buf, size_t bufsize);

    int64_t default_tolerance_ms;

    /* Config keys of its own (at most SY_MAX_OPTIONS), read into conf->options by the config loader. */
    const sy_connector_option_t *options;
    size_t num_options;
    /*
     * Optional: checks a source's options once, when the config is loaded, and sets what is derived from them
     * (conf->signature_version). Returns 0, or SY_EINVAL with *bad_option the index of the option at fault and msg a
     * sentence for the operator ("signature_version must be 1, 2 or 3").
     */
    int (*configure)(sy_source_verify_t *conf, size_t *bad_option, char *msg, size_t msgsize);

    sy_connector_observe_t observe;

    /*
     * Samples for `switchyard trigger SOURCE TYPE`: the event types it knows (NULL-terminated) and a realistic body
     * of one, with fresh ids and now_ms as the event time, malloc'd (NULL: unknown type or out of memory).
     */
    const char *const *sample_types;
    char *(*sample)(const char *type, int64_t now_ms);

    /* --- healing gaps: `switchyard reconcile` ----------------------------------------------------------------- */

    /*
     * Optional. The request for one page of the events the tool has had since since_ms (Unix ms), oldest or newest
     * first as its API lists them; cursor "" for the first page, else what decode_changes set. Under conf, as
     * encode_push. Returns 0 or SY_EINVAL.
     */
    int (*encode_changes)(const sy_source_verify_t *conf, int64_t since_ms, const char *cursor, sy_http_request_t *out);
    /*
     * Reads one page of that listing (a 2xx body answering req, which encode_changes made under conf): calls emit
     * once per event, each as a webhook (or a fetch) of this tool would log it (id, type, time; raw = the bytes to
     * log, which observe reads like a webhook's), and sets next_cursor ("" after the last page; at most
     * cursor_size - 1 characters). json is caller-owned scratch. Returns 0, SY_EPARSE (not such a page) or what emit
     * returned.
     */
    int (*decode_changes)(const sy_source_verify_t *conf, const sy_http_request_t *req, sy_json_t *json,
                          sy_slice_t body, sy_change_sink_fn emit, void *arg, char *next_cursor, size_t cursor_size);
    /* How far back the tool keeps what encode_changes lists (Stripe: 30 days of events); 0 = not said. */
    int64_t changes_retention_ms;
    /* The listing is newest first (Stripe): reconcile appends what is missing oldest first all the same, so the log
     * holds it in the order the webhooks would have brought it. */
    int changes_newest_first;

    /* --- outbound ------------------------------------------------------------------------------------------- */

    /*
     * Optional: a connector without encode_push only receives. Builds one request for pushes[0..n) (n <= max_batch,
     * and n > 1 only when every push has an object_id), under the source's settings conf (NULL in tests of
     * connectors that read none). A push without object_id is either a lookup by email (Stripe: GET /v1/customers?email=…), a
     * create (push.create, or no email to look up by), or an upsert by email that finds or creates in one call
     * (HubSpot). Returns 0, or SY_EINVAL when a push cannot be expressed (e.g. a field name the API does not take),
     * which makes it a dead letter.
     */
    int (*encode_push)(const sy_source_verify_t *conf, const sy_push_t *pushes, size_t n, sy_http_request_t *out);
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

    /* --- fetch: notifications without values (all optional; NULL: the tool's events carry their objects) ------- */

    /* 1 if events of this type name objects without their values (the hub must fetch them) under the source's
     * settings conf (a connector may make it an option: HubSpot's fetch_created), else 0. */
    int (*needs_fetch)(const sy_source_verify_t *conf, sy_slice_t type);
    /* Optional: whether a source fetches at all under conf (HubSpot only when fetch_created is set); NULL: every source
     * of a connector with needs_fetch does. */
    int (*fetches)(const sy_source_verify_t *conf);
    /*
     * Builds one read (a GET, no body) for events[0] and every other event of events[0..n) the same request can
     * read (QuickBooks: one Change Data Capture call per realm reads every entity named), setting covered[i] = 1 for
     * each (covered[0] always on success) and out->num_pushes to their number. events are the logged bodies (raw)
     * of events whose type needs_fetch. Returns 0, or SY_EINVAL when events[0] cannot be read (not one of the
     * tool's notifications, or an entity the connector cannot fetch): then nothing is covered. A read the tool
     * refuses (QuickBooks CDC looks back 30 days at most) is the hub's to judge by its status. The hub's side:
     * hub/ingest/fetch.h.
     */
    int (*encode_fetch)(const sy_source_verify_t *conf, const sy_slice_t *events, size_t n, unsigned char *covered,
                        sy_http_request_t *out);
    /*
     * Reads a 2xx answer to encode_fetch's request req into *num_fetched events to append (malloc'd array in *fetched, freed with sy_fetched_dispose; none is fine).
     * Returns 0, or SY_EPARSE with *errmsg a static sentence when the body is not the answer expected (the fetch is
     * then retried like a 5xx, a few times). The hub reads other answers by their status alone, as reconcile does
     * (429 and 5xx retried with backoff, any other refusal final: the events covered are recorded as skipped);
     * classify is not asked (it judges push answers, and would take a CDC answer for an unconfirmed write).
     */
    int (*decode_fetch)(const sy_http_request_t *req, sy_slice_t body, sy_fetched_t **fetched, size_t *num_fetched,
                        const char **errmsg);
} sy_connector_t;

/* Registry: all connectors known to this build (static const table in registry.c). */
const sy_connector_t *sy_connector_find(const char *name);
const sy_connector_t *sy_connector_find_slice(sy_slice_t name);
/* The index of option key in c->options, or SY_MAX_OPTIONS if c has no such option. */
size_t sy_connector_option_index(const sy_connector_t *c, const char *key);
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
