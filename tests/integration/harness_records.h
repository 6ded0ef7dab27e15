/*
 * Integration-test helpers for golden records (on top of harness.h): a `policy:` line in the generated config,
 * signed Stripe and HubSpot events built from JSON, waiting for the applier, and the records / queue / health
 * CLIs parsed. Same rules as the harness: infrastructure problems fail the running test, and everything handed
 * out (JSON values, paths) is owned by the harness unless said otherwise.
 */
#ifndef SY_IT_HARNESS_RECORDS_H
#define SY_IT_HARNESS_RECORDS_H

#include "harness.h"

#define SY_ITR_APPLY_TIMEOUT_S 20.0

/* ---- policy and config ---- */
/* policies/customers.yaml of the source tree ($SY_SOURCE_DIR), NUL-terminated. */
char *sy_itr_example_policy(sy_it_t *h);
/* Sets the config's `policy:` to path (NULL: removes it); takes effect at the next start. */
void sy_itr_set_policy(sy_it_t *h, const char *path);
/* Replaces the first occurrence of from in text by to (fails the test if from is absent); a new owned string. */
char *sy_itr_replace(sy_it_t *h, const char *text, const char *from, const char *to);
/* 1-based line of the first occurrence of needle in text (fails the test if absent). */
int sy_itr_line_of(const char *text, const char *needle);

/* ---- events (payload builders return new references; the posting functions take them over) ---- */
/* A Stripe customer; NULL email/phone are JSON null, a NULL hubspot_id leaves metadata empty. */
json_t *sy_itr_customer(const char *id, const char *email, const char *name, const char *phone, const char *hubspot_id);
json_t *sy_itr_subscription(const char *id, const char *customer, const char *status, const char *price, long long amount);
json_t *sy_itr_invoice(const char *id, const char *customer, const char *status, const char *email);
/* Posts the Stripe event {id, type, created, data.object: object}, signed now; asserts 200 fresh; returns seq. */
json_int_t sy_itr_stripe(sy_it_t *h, const char *event_id, const char *type, int64_t created_s, json_t *object);
/* A HubSpot webhook event; property NULL: no propertyName/propertyValue (e.g. contact.creation). */
json_t *sy_itr_hs_event(long long event_id, const char *type, long long object_id, int64_t occurred_ms,
                        const char *property, const char *value);
/* Posts events (an array, or one event that is wrapped in one) to /hooks/<source>, signed v3 for the URL the
 * harness uses for that source; asserts 200 with every event fresh; returns the seq of the first. */
json_int_t sy_itr_hubspot_post(sy_it_t *h, const char *source, const char *secret, json_t *events);
/* One contact.propertyChange to source "hubspot". */
json_int_t sy_itr_hs_change(sy_it_t *h, long long event_id, long long object_id, int64_t occurred_ms,
                            const char *property, const char *value);

/* ---- applier and admin ---- */
/* GET /admin/api/status with the token. */
json_t *sy_itr_status(sy_it_t *h);
/* Polls the status until applier.cursor == log.last_seq (bounded); returns that status. */
json_t *sy_itr_wait_applied(sy_it_t *h);
/* POST on the admin listener with the token. */
void sy_itr_admin_post(sy_it_t *h, const char *path, sy_it_response_t *res);
/* The same with a body (NULL: none). */
void sy_itr_admin_post_body(sy_it_t *h, const char *path, const char *body, sy_it_response_t *res);

/* ---- CLI ---- */
/* `records get QUERY --json`: the record, or NULL when the CLI answers exit 1 (no such record). */
json_t *sy_itr_record(sy_it_t *h, const char *query);
/* `records list --json` / `queue ls --json` as arrays. */
json_t *sy_itr_records(sy_it_t *h);
/* The golden records without wall-clock fields (created/updated/merged/enqueued/due times, at every depth), in
 * list order, owned by h: what two hubs that applied the same events must agree on. */
json_t *sy_itr_records_stable(sy_it_t *h);
/* doc's copy without those wall-clock fields (a new reference). */
json_t *sy_itr_stable(const json_t *doc);
json_t *sy_itr_queue(sy_it_t *h);
/* `health --json`. */
json_t *sy_itr_health(sy_it_t *h);
/* health.counters.<name> (0 when absent). */
json_int_t sy_itr_counter(json_t *health, const char *name);
/* Runs the CLI (args end with NULL) and asserts the exit status; returns stdout (owned). */
char *sy_itr_cli_ok(sy_it_t *h, int status, ...);

/* ---- reading documents ---- */
/* rec.fields.<field>.<key> as a string (NULL if absent) / an integer (-1 if absent). */
const char *sy_itr_field(json_t *rec, const char *field, const char *key);
json_int_t sy_itr_field_int(json_t *rec, const char *field, const char *key);
const char *sy_itr_id(json_t *doc);
/* The pushes of queue for spoke (and record unless NULL): how many, and the first (borrowed, or NULL). */
size_t sy_itr_pushes(json_t *queue, const char *spoke, const char *record, json_t **first);
/* Fails the test if two queued pushes share spoke and record. */
void sy_itr_assert_coalesced(json_t *queue);
/* Whether the JSON array of strings arr holds s / how many times. */
size_t sy_itr_count_str(json_t *arr, const char *s);
/* Dumps doc compactly (owned) for messages. */
const char *sy_itr_text(sy_it_t *h, json_t *doc);

#endif
