/*
 * Integration-test helpers for the five-tool stack of deploy/run (on top of harness_delivery.h): the five fake
 * tools started with the example config's LOCAL DEMO tokens and seeded as deploy/run seeds them, the hub's config
 * made from deploy/switchyard.example.yaml itself (only the ports, the data dir, the policy path and the admin token
 * variable replaced), `switchyard trigger`, signed webhooks of every tool with the example's demo secrets, and the
 * fakes' accepted write requests counted per tool. Same rules as the harness: infrastructure problems fail the
 * running test, everything handed out is owned by the harness. Nothing here reaches beyond 127.0.0.1.
 */
#ifndef SY_IT_HARNESS_TOOLS_H
#define SY_IT_HARNESS_TOOLS_H

#include "harness_delivery.h"

/* The LOCAL DEMO secrets of deploy/switchyard.example.yaml (what the tools sign with in the demo). */
#define SY_ITT_STRIPE_SECRET "whsec_local_demo_secret_do_not_use_in_production"
#define SY_ITT_HUBSPOT_SECRET "local-demo-hubspot-client-secret"
#define SY_ITT_INTERCOM_SECRET "local-demo-intercom-client-secret"
#define SY_ITT_SHEETS_SECRET "whsec_bG9jYWwtZGVtby1zaGVldHMtc2VjcmV0LWRvLW5vdC11c2U="

/* The demo customer of deploy/run, as every fake holds it. */
#define SY_ITT_STRIPE_CUSTOMER "cus_SyDemoAcme01"
#define SY_ITT_HUBSPOT_CONTACT "51"
#define SY_ITT_INTERCOM_CONTACT "6657a1b2c3d4e5f6a7b8c9d0"
#define SY_ITT_QBO_CUSTOMER "9341455251541838:58"
#define SY_ITT_SPREADSHEET "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"

#define SY_ITT_SETTLE_TIMEOUT_S 60.0

typedef enum { SY_ITT_STRIPE, SY_ITT_HUBSPOT, SY_ITT_INTERCOM, SY_ITT_QUICKBOOKS, SY_ITT_SHEETS, SY_ITT_NUM_TOOLS } sy_itt_tool_t;

typedef struct st_sy_itt_stack_t {
    sy_it_t *h;
    sy_itd_fake_t *fake[SY_ITT_NUM_TOOLS];
} sy_itt_stack_t;

/* The source name in the example config ("stripe", …, "sheets"). */
const char *sy_itt_source(sy_itt_tool_t tool);

/* Starts the five fakes (demo tokens), seeds them like deploy/run, and replaces the harness's config by the example
 * config pointed at them, at the harness's ports and data dir, with the policy $SY_SOURCE_DIR/policies (the
 * directory). The hub is not started. Unsets the example's secret variables so that its demo defaults apply. */
void sy_itt_stack_create(sy_it_t *h, sy_itt_stack_t *s);

/* `switchyard trigger SOURCE TYPE --config …`; asserts exit 0 (the hub answered 2xx). */
void sy_itt_trigger(sy_it_t *h, const char *source, const char *type);

/* Waits (bounded) until every logged event is applied and the outbound queue is empty, then applied again (so no
 * push of an event applied meanwhile is missed); fails the test if a dead letter appears. */
void sy_itt_settle(sy_it_t *h);

/* The fake's accepted writes: requests that change the tool's data (Stripe POST /v1/customers…, HubSpot PATCH and
 * POST other than searches, Intercom PUT and POST /contacts, Sheets values:batchUpdate, QuickBooks POST customer)
 * answered 2xx and not an idempotent replay. */
size_t sy_itt_writes(sy_itd_fake_t *f);
/* The same, for every tool; out[tool]. */
void sy_itt_count_writes(const sy_itt_stack_t *s, size_t out[SY_ITT_NUM_TOOLS]);
/* Asserts the writes of every tool grew by exactly want[tool] since before (messages name the tool and list its
 * requests). */
void sy_itt_assert_writes(const sy_itt_stack_t *s, const size_t before[SY_ITT_NUM_TOOLS], const size_t want[SY_ITT_NUM_TOOLS],
                          const char *what);

/* ---- signed webhooks, as each tool sends them (the posting functions take the JSON over, assert 200 fresh) ---- */
/* A Stripe event {id, type, created, data.object} signed with the demo secret. */
void sy_itt_stripe(sy_it_t *h, const char *event_id, const char *type, int64_t created_s, json_t *object);
/* HubSpot webhook events (an array, or one) signed v3 with the demo secret. */
void sy_itt_hubspot(sy_it_t *h, json_t *events);
/* An Intercom notification {type, id, topic, created_at, data.item} signed (X-Hub-Signature) with the demo secret. */
void sy_itt_intercom(sy_it_t *h, const char *notification_id, const char *topic, int64_t created_s, json_t *item);
/* A row edit as the Apps Script posts it (Standard Webhooks), signed with the demo secret; values: header → cell. */
void sy_itt_sheets_row(sy_it_t *h, int row, json_t *values);

/* ---- reading ---- */
/* The golden value of field as text (integers printed), NULL if absent. */
const char *sy_itt_golden(sy_it_t *h, json_t *rec, const char *field);
/* Fails unless got equals want (both may be NULL). */
void sy_itt_assert_str(const char *what, const char *got, const char *want);

#endif
