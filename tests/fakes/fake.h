/*
 * sy_fake_spoke: a fake of the Stripe or HubSpot API endpoints Switchyard pushes to, for integration tests and
 * the demo. See tests/fakes/README.md for the command line and the control API.
 *
 * Layout:
 *   fake_spoke.c    argv, the H2O loop, routing, auth, rate limit, fault modes, the control API (/_fake/...)
 *   fake_state.c    the state: objects, idempotency store, request log, sliding rate window, counters
 *   fake_stripe.c   POST/GET /v1/customers... (form-encoded in, Stripe JSON out)
 *   fake_hubspot.c  /crm/v3/objects/contacts... (JSON in and out)
 *
 * The API modules do no I/O: they get a parsed request and the state, and fill a reply. Everything runs on the
 * one loop thread, so nothing here is locked.
 */
#ifndef SY_FAKE_H
#define SY_FAKE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_MAX_BODY (1024 * 1024)   /* request bodies over this are answered 413 by H2O */
#define FAKE_LOG_MAX 10000            /* entries kept by GET /_fake/requests (the newest) */
#define FAKE_LOG_BODY_MAX (64 * 1024) /* request bytes kept per log entry */
#define FAKE_WINDOW_MAX (1u << 20)    /* accepted-request timestamps kept for the sliding window */
#define FAKE_IDEM_KEY_MAX 255         /* longest Idempotency-Key Stripe accepts */

/* SLACK and WEBHOOK: receivers of the hub's alert notifications (fake_notify.c), not spokes. */
typedef enum en_fake_api_t {
    FAKE_API_STRIPE,
    FAKE_API_HUBSPOT,
    FAKE_API_SLACK,
    FAKE_API_WEBHOOK,
    FAKE_API_INTERCOM,
    FAKE_API_SHEETS,
    FAKE_API_QUICKBOOKS,
    FAKE_API_COUNT
} fake_api_t;
extern const char *const fake_api_names[]; /* indexed by fake_api_t: what --api takes */

/* Everything the fake remembers. POST /_fake/reset clears it except the configuration (api, rate). */
typedef struct st_fake_state_t {
    fake_api_t api;
    json_t *objects; /* id -> object: a Stripe customer as returned, or a HubSpot contact's properties */
    json_t *events;  /* Stripe: the events GET /v1/events lists, oldest first (POST /_fake/events adds them) */
    json_t *modified; /* HubSpot: contact id -> when it last changed (Unix ms), for search by lastmodifieddate */
    uint64_t next_id;
    json_t *idem;     /* Idempotency-Key -> {"fingerprint","status","body"}: first answers, replayed */
    json_t *by_key;   /* Idempotency-Key -> number of API requests that carried it */
    json_t *requests; /* array of {method,path,idempotency_key,body,status,...}, at most FAKE_LOG_MAX */
    uint64_t num_requests, accepted, rate_limited, replays, max_in_window;
    /* rate limit: at most rate_limit accepted requests in any window_ms (0: unlimited, window still tracked) */
    unsigned rate_limit;
    uint64_t window_ms;
    int retry_after; /* send Retry-After on 429 */
    uint64_t *win;   /* ring of the accepted requests' times (ms), oldest first */
    size_t win_cap, win_head, win_len;
    /* POST /_fake/partial (HubSpot): contact ids that fail once each in a batch/update, which then answers 207
     * Multi-Status (the other inputs are written). id -> true; NULL or empty: none. */
    json_t *partial_ids;
    /* Receivers: POST /_fake/archive makes the Slack fake answer 410 channel_is_archived from then on; secret is
     * the webhook fake's Standard Webhooks secret (--secret whsec_...), which every message must be signed with. */
    int archived;
    const char *secret;
} fake_state_t;

/* A request as the API modules see it; all strings NUL-terminated, borrowed for the call. */
typedef struct st_fake_http_t {
    const char *method;
    const char *path;  /* without the query */
    const char *query; /* after '?', "" if none */
    const char *body;
    size_t body_len;
    const char *webhook_id, *webhook_timestamp, *webhook_signature; /* Standard Webhooks headers, NULL if absent */
} fake_http_t;

/* An API answer: status and a JSON body (malloc'd, owned by the reply; fake_reply_dispose frees it). */
typedef struct st_fake_reply_t {
    int status;
    char *body;
} fake_reply_t;

/* ---- fake_state.c ---- */
void fake_state_init(fake_state_t *st, fake_api_t api, unsigned rate_limit, uint64_t window_ms);
void fake_state_dispose(fake_state_t *st);
/* "stripe", "hubspot", "intercom" */
const char *fake_api_name(fake_api_t api);
/* Clears objects, ids, idempotency store, log and counters; keeps api and the rate configuration. */
void fake_state_clear(fake_state_t *st);
/* Changes the rate configuration (keeps the window's history). */
void fake_state_set_rate(fake_state_t *st, unsigned limit, uint64_t window_ms);
/*
 * Sliding window check for one API request at now_ms. Returns 1 if accepted (counted in the window, the accepted
 * counter and max_in_window), 0 if over the limit (counted in rate_limited). *remaining receives how many more
 * requests the window allows now, *retry_ms how long until the oldest accepted request leaves it.
 */
int fake_state_admit(fake_state_t *st, uint64_t now_ms, unsigned *remaining, uint64_t *retry_ms);
/* Appends a request to the log (bounded); the body is kept up to FAKE_LOG_BODY_MAX bytes. fault may be NULL. */
void fake_state_log(fake_state_t *st, const char *method, const char *path_and_query, const char *idem_key, const char *body,
                    size_t body_len, int status, const char *fault, int replayed);
/* Counts one use of an Idempotency-Key (by_key). */
void fake_state_count_key(fake_state_t *st, const char *key);
/* The stored first answer for key, or NULL; *same_params says whether fingerprint matches the stored one. */
json_t *fake_state_idem_find(fake_state_t *st, const char *key, const char *fingerprint, int *same_params);
void fake_state_idem_store(fake_state_t *st, const char *key, const char *fingerprint, int status, const char *body);
/* GET /_fake/state as JSON (new reference). */
json_t *fake_state_json(const fake_state_t *st);
/* Writes fake_state_json to path; 0 or -1. */
int fake_state_write(const fake_state_t *st, const char *path);

/* ---- replies (fake_state.c) ---- */
/* Sets status and the JSON text of j (steals the reference to j). */
void fake_reply_json(fake_reply_t *r, int status, json_t *j);
void fake_reply_dispose(fake_reply_t *r);
/* Wall-clock time: seconds and an ISO-8601 UTC string with milliseconds ("2026-01-02T03:04:05.678Z"). */
int64_t fake_now_s(void);
void fake_now_iso(char *buf, size_t len);
/* Monotonic milliseconds. */
uint64_t fake_mono_ms(void);

/* ---- fake_notify.c ---- */
/* A Slack incoming webhook: {"text": string, "blocks": array} → 200 "ok"; 400 invalid_payload otherwise; 410
 * channel_is_archived once archived. */
void fake_slack_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* A Standard Webhooks receiver: the signature must verify with st->secret and the timestamp be within 5 minutes
 * (else 401); the body must be {"type", "timestamp", "data"} JSON (else 400); then 200 {"ok": true}. */
void fake_webhook_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);

/* ---- fake_stripe.c ---- */
/* Handles a Stripe API request (auth, rate limit and idempotency are done by the caller). */
void fake_stripe_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* A Stripe error body: {"error":{"type":type,"code":code?,"message":message,"param":param?}}. */
void fake_stripe_error(fake_reply_t *out, int status, const char *type, const char *code, const char *param, const char *message);
/* Seeds one customer with the given id (POST /_fake/seed); fields is borrowed. */
void fake_stripe_seed(fake_state_t *st, const char *id, json_t *fields);

/* ---- fake_hubspot.c ---- */
void fake_hubspot_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* A HubSpot error body: {"status":"error","message","correlationId","category"[,"context"]}; steals context. */
void fake_hubspot_error(fake_reply_t *out, int status, const char *category, const char *message, json_t *context);
/* Seeds one contact with the given id and properties (borrowed); 0, or -1 with err filled (400). */
int fake_hubspot_seed(fake_state_t *st, const char *id, json_t *properties, fake_reply_t *err);

/* ---- fake_intercom.c ---- */
void fake_intercom_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* An Intercom error body: {"type":"error.list","request_id","errors":[{"code","message"}]}. */
void fake_intercom_error(fake_reply_t *out, int status, const char *code, const char *message);
/* Seeds (or updates) one contact with the given id and members (borrowed); 0, or -1 with err filled (400/409). */
int fake_intercom_seed(fake_state_t *st, const char *id, json_t *fields, fake_reply_t *err);
/* Whether v (NULL: absent) is an Intercom-Version the API accepts. */
int fake_intercom_version_ok(const char *v);
/* ---- fake_sheets.c (Google Sheets v4) ---- */
void fake_sheets_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* Google's error body: {"error":{"code":status,"message","status":code}}. */
void fake_sheets_error(fake_reply_t *out, int status, const char *code, const char *message);
/* Seeds spreadsheet id with tabs {tab: {"A1": value}} (borrowed); 0, or -1 with err filled (400). */
int fake_sheets_seed(fake_state_t *st, const char *id, json_t *tabs, fake_reply_t *err);
/* ---- fake_quickbooks.c ---- */
void fake_quickbooks_handle(fake_state_t *st, const fake_http_t *req, fake_reply_t *out);
/* A QuickBooks Fault body: {"Fault":{"Error":[{"Message","Detail","code"}],"type"},"time"}. */
void fake_quickbooks_error(fake_reply_t *out, int status, const char *code, const char *message, const char *type);
/* Seeds one customer under "realm:Id" (fields borrowed); 0, or -1 with err filled (400). */
int fake_quickbooks_seed(fake_state_t *st, const char *id, json_t *fields, fake_reply_t *err);

#endif
