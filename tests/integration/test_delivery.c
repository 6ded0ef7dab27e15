/*
 * Delivery on the real binary: the applier queues pushes under policies/customers.yaml and the delivery thread sends
 * them to fake Stripe and HubSpot APIs ($SY_FAKE) on loopback. Each test starts its own hub and fakes and checks
 * what the fakes received (request log, stored objects, per-key counts) and what the hub says (queue, dead letters,
 * records, /metrics):
 *
 *   1. end to end: a HubSpot email change → one POST /v1/customers/cus_A with an Idempotency-Key; a Stripe
 *      subscription change → one PATCH of contact 51 with subscription_status, plan and mrr;
 *   2. creation: a contact without a Stripe customer → lookup, then create, and the record links stripe:cus_fakeN;
 *      a lookup that finds a customer links it instead and updates it;
 *   3. rate limit: 2,000 pushes to a HubSpot fake limited to 100 requests per 10 s: all arrive, batched, never
 *      more than 100 requests in a window, never a 429; and 60 unbatchable Stripe pushes against 20 per 2 s;
 *      one bad row in a HubSpot batch only kills its own push;
 *   4. spoke down (connection resets, then 500s): the breaker opens, every push arrives once per idempotency key,
 *      no dead letter;
 *   5. a 400 and a 404 → dead letters with the response; after the fix, `dead retry ID` delivers them; 500s past
 *      api.max_attempts → dead letter, `dead retry --all`; a 401 keeps the push queued, `queue retry ID`;
 *   6. 429 with Retry-After → the push arrives later and the rate_limited outcome is counted.
 *
 * Deterministic: every wait polls with a bound, nothing asserts speed. Retries are few (the backoff base is 1 s).
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL     /* Stripe `created`, seconds */
#define HS0 1750000000000LL /* HubSpot `occurredAt`, ms (the same instant) */
#define DELIVER_TIMEOUT_S 40.0
#define RATE_PUSHES 2000

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void assert_str(const char *what, const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: expected \"%s\", got %s%s%s", what, want, got != NULL ? "\"" : "", got != NULL ? got : "(none)",
                 got != NULL ? "\"" : "");
}

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* A hub with the example policy and api sections for the fakes given (NULL: that source has none), not started. */
static sy_it_t *create_hub(void **state, sy_itd_fake_t **stripe, const char *stripe_rate, const sy_itd_api_t *stripe_api,
                           sy_itd_fake_t **hubspot, const char *hubspot_rate, const sy_itd_api_t *hubspot_api)
{
    sy_it_t *h = sy_it_create(state, NULL);
    if (stripe != NULL) {
        *stripe = sy_itd_fake_start(h, "stripe", NULL, stripe_rate, 1);
        sy_itd_set_api(h, "stripe", *stripe, stripe_api);
    }
    if (hubspot != NULL) {
        *hubspot = sy_itd_fake_start(h, "hubspot", NULL, hubspot_rate, 1);
        sy_itd_set_api(h, "hubspot", *hubspot, hubspot_api);
    }
    sy_itd_use_example_policy(h);
    return h;
}

/* A Stripe customer for the fake's seed: {email, name, metadata.hubspot_contact_id}. */
static json_t *seed_customer(const char *email, const char *name, const char *hubspot_id)
{
    return json_pack("{s:s, s:s, s:{s:s}}", "email", email, "name", name, "metadata", "hubspot_contact_id", hubspot_id);
}

/* Tells the hub about customer cus (linked to HubSpot contact hs) with customer.created; returns after applying. */
static void link_customer(sy_it_t *h, const char *cus, const char *email, const char *hs)
{
    char evt[64];
    snprintf(evt, sizeof(evt), "evt_link_%s", cus);
    sy_itr_stripe(h, evt, "customer.created", S0, sy_itr_customer(cus, email, "Pat Doe", NULL, hs));
    sy_itr_wait_applied(h);
}

static void assert_no_dead(sy_it_t *h)
{
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("expected no dead letters, got %s", sy_itr_text(h, dead));
    sy_it_release(h, dead);
}

/* Polls the fake until object id has field == want (a Stripe customer field, or a HubSpot property). */
static json_t *wait_field(sy_itd_fake_t *f, const char *id, const char *field, const char *want, double timeout_s)
{
    double deadline = sy_itd_now_s() + timeout_s;
    for (;;) {
        json_t *obj = sy_itd_fake_object(f, id);
        const char *got = str_at(obj, field);
        if (got != NULL && strcmp(got, want) == 0)
            return obj;
        if (sy_itd_now_s() > deadline)
            fail_msg("the %s fake's %s.%s: expected \"%s\" within %.0f s, holds %s", f->api, id, field, want, timeout_s,
                     sy_itr_text(f->h, obj));
        sy_itd_nap(100);
    }
}

/* 1. HubSpot email change → Stripe; Stripe subscription change → HubSpot. */
static int more_rounds(sy_it_t *h, void *arg)
{
    return sy_itd_metric(h, "switchyard_delivery_rounds_total") >= *(double *)arg + 3;
}

static void test_end_to_end(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe, *hubspot;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, &hubspot, NULL, &api);
    json_t *reqs, *r, *obj, *body, *q;

    sy_itd_fake_seed(stripe, json_pack("{s:o}", "cus_A", seed_customer("ann@old.test", "Ann Lee", "51")));
    sy_itd_fake_seed(hubspot, json_pack("{s:{s:s, s:s}}", "51", "email", "ann@old.test", "firstname", "Ann"));
    sy_it_start(h);
    link_customer(h, "cus_A", "ann@old.test", "51");
    q = sy_itr_queue(h);
    if (json_array_size(q) != 0)
        fail_msg("a Stripe customer without owned values queued pushes: %s", sy_itr_text(h, q));

    /* HubSpot owns email: its change goes to Stripe, once, as an update of cus_A with an Idempotency-Key */
    sy_itr_hs_change(h, 5101, 51, HS0 + 1000, "email", "ann@nova.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_A", 200, 1, 10);
    if (json_array_size(reqs) != 1)
        fail_msg("expected exactly one request at the Stripe fake, got %s", sy_itr_text(h, reqs));
    r = json_array_get(reqs, 0);
    assert_str("path", str_at(r, "path"), "/v1/customers/cus_A");
    assert_str("form body", str_at(r, "body"), "email=ann%40nova.test");
    if (str_at(r, "idempotency_key") == NULL || str_at(r, "idempotency_key")[0] == '\0')
        fail_msg("the POST carries no Idempotency-Key: %s", sy_itr_text(h, r));
    obj = sy_itd_fake_object(stripe, "cus_A");
    assert_str("cus_A.email at Stripe", str_at(obj, "email"), "ann@nova.test");
    assert_str("cus_A.name at Stripe (not sent, kept)", str_at(obj, "name"), "Ann Lee");
    assert_str("cus_A.metadata.hubspot_contact_id", str_at(json_object_get(obj, "metadata"), "hubspot_contact_id"), "51");
    assert_int_equal(json_array_size(sy_itd_fake_requests(hubspot)), 0);
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "done"), 1);

    /* Stripe owns subscription_status, plan and mrr: one PATCH of contact 51 */
    sy_itr_stripe(h, "evt_sub_a", "customer.subscription.updated", S0 + 100,
                  sy_itr_subscription("sub_A", "cus_A", "active", "price_pro", 4900));
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_wait_requests(hubspot, "PATCH", "/crm/v3/objects/contacts/51", 200, 1, 10);
    if (json_array_size(reqs) != 1)
        fail_msg("expected exactly one request at the HubSpot fake, got %s", sy_itr_text(h, reqs));
    r = json_array_get(reqs, 0);
    if (!json_is_null(json_object_get(r, "idempotency_key")))
        fail_msg("a HubSpot request carries an Idempotency-Key: %s", sy_itr_text(h, r));
    body = sy_it_own_json(h, json_loads(str_at(r, "body"), 0, NULL));
    if (!json_equal(json_object_get(body, "properties"),
                    sy_it_own_json(h, json_pack("{s:s, s:s, s:s}", "subscription_status", "active", "plan", "price_pro",
                                                "mrr", "4900"))))
        fail_msg("PATCH body: %s", str_at(r, "body"));
    obj = sy_itd_fake_object(hubspot, "51");
    assert_str("contact 51 subscription_status", str_at(obj, "subscription_status"), "active");
    assert_str("contact 51 plan", str_at(obj, "plan"), "price_pro");
    assert_str("contact 51 mrr", str_at(obj, "mrr"), "4900");
    assert_int_equal(json_array_size(sy_itd_fake_requests(stripe)), 1);
    assert_int_equal((long long)sy_itd_pushes(h, "hubspot", "done"), 1);
    assert_no_dead(h);
    sy_itd_assert_counts(h, "both pushes delivered");

    /* Rounds with nothing due read nothing (issue #11: a round's cost does not grow with the queue). Two pushes were
     * sent, so at most a few documents were decoded; after that, idle rounds add none. */
    double docs = sy_itd_metric(h, "switchyard_delivery_docs_read_total");
    double rounds = sy_itd_metric(h, "switchyard_delivery_rounds_total");
    if (docs < 2 || docs > 8)
        fail_msg("two pushes sent, but rounds decoded %.0f queued documents", docs);
    sy_itd_wait(h, 30, "three more delivery rounds", more_rounds, &rounds);
    if (sy_itd_metric(h, "switchyard_delivery_docs_read_total") != docs)
        fail_msg("rounds with an empty queue decoded documents: %.0f before, %.0f after", docs,
                 sy_itd_metric(h, "switchyard_delivery_docs_read_total"));
    sy_it_pass(h);
}

/* 3b. Pushes that cannot be batched (Stripe: one request each) against a Stripe fake limited to 20 requests per 2 s
 * (and the same api.rate): more requests than one window allows, and never a 429. */
static void test_rate_limit_stripe(void **state)
{
    static const sy_itd_api_t api = {.rate = "20/2s", .timeout = "5s", .max_attempts = 5};
    enum { N = 60 };
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, "20/2000", &api, NULL, NULL, NULL);
    json_t *seed = json_object(), *customers = json_array(), *changes = json_array(), *st, *objects;
    char cus[32], hs[32], email[64], evt[32];

    for (unsigned k = 0; k != N; ++k) {
        snprintf(cus, sizeof(cus), "cus_P%u", k);
        snprintf(hs, sizeof(hs), "%u", 3000 + k);
        snprintf(email, sizeof(email), "p%u@old.test", k);
        json_object_set_new(seed, cus, seed_customer(email, "Pace", hs));
        snprintf(evt, sizeof(evt), "evt_pc%u", k);
        json_array_append_new(customers, sy_itd_stripe_event(evt, "customer.created", S0,
                                                             sy_itr_customer(cus, email, "Pace", NULL, hs)));
        snprintf(email, sizeof(email), "p%u@new.test", k);
        json_array_append_new(changes, sy_itr_hs_event(30000 + k, "contact.propertyChange", 3000 + k, HS0 + 1000,
                                                        "email", email));
    }
    sy_itd_fake_seed(stripe, seed);
    sy_it_start(h);
    sy_itd_post_stripe_many(h, customers, 8);
    sy_itr_wait_applied(h);
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET, changes); /* one webhook call with N events */
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    st = sy_itd_fake_state(stripe);
    objects = json_object_get(st, "objects");
    for (unsigned k = 0; k != N; ++k) {
        snprintf(cus, sizeof(cus), "cus_P%u", k);
        snprintf(email, sizeof(email), "p%u@new.test", k);
        assert_str(cus, str_at(json_object_get(objects, cus), "email"), email);
    }
    if (json_integer_value(json_object_get(st, "max_in_window")) > 20 ||
        json_integer_value(json_object_get(st, "rate_limited")) != 0)
        fail_msg("the hub did not pace itself: max_in_window %lld (limit 20), rate_limited %lld",
                 (long long)json_integer_value(json_object_get(st, "max_in_window")),
                 (long long)json_integer_value(json_object_get(st, "rate_limited")));
    assert_int_equal(json_integer_value(json_object_get(st, "requests")), N);
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "done"), N);
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    assert_no_dead(h);
    sy_it_pass(h);
}

/* 3c. One bad row must not sink a batch: contact 4404 does not exist at HubSpot, so a batch holding it is refused
 * (all or nothing); the hub then sends each push alone and only that one becomes a dead letter. */
static void test_batch_one_bad_row(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *hubspot;
    sy_it_t *h = create_hub(state, NULL, NULL, NULL, &hubspot, NULL, &api);
    json_t *customers = json_array(), *subs = json_array(), *dead, *resp;
    char cus[32], hs[32], email[64], evt[32], mrr[16];

    for (unsigned k = 0; k != 5; ++k) {
        snprintf(cus, sizeof(cus), "cus_B%u", k);
        snprintf(hs, sizeof(hs), "440%u", k);
        snprintf(email, sizeof(email), "b%u@batch.test", k);
        if (k != 4)
            sy_itd_fake_seed(hubspot, json_pack("{s:{s:s}}", hs, "email", email));
        snprintf(evt, sizeof(evt), "evt_bc%u", k);
        json_array_append_new(customers, sy_itd_stripe_event(evt, "customer.created", S0,
                                                             sy_itr_customer(cus, email, "Batch", NULL, hs)));
        snprintf(evt, sizeof(evt), "evt_bs%u", k);
        json_array_append_new(subs, sy_itd_stripe_event(evt, "customer.subscription.updated", S0 + 10,
                                                        sy_itr_subscription("sub_B", cus, "active", "price_b", 100 + k)));
    }
    sy_it_start(h);
    sy_itd_post_stripe_many(h, customers, 5);
    sy_itr_wait_applied(h);
    sy_itd_post_stripe_many(h, subs, 5);
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    dead = sy_itd_dead(h);
    resp = json_object_get(json_array_get(dead, 0), "response");
    if (json_array_size(dead) != 1 || json_integer_value(json_object_get(resp, "status")) != 404 ||
        strcmp(str_at(json_array_get(dead, 0), "spoke"), "hubspot") != 0)
        fail_msg("expected one dead letter (HubSpot 404 for contact 4404): %s", sy_itr_text(h, dead));
    if (strcmp(sy_itr_id(sy_itr_record(h, "hubspot:4404")), str_at(json_array_get(dead, 0), "record")) != 0)
        fail_msg("the dead letter is not the push for contact 4404: %s", sy_itr_text(h, dead));
    for (unsigned k = 0; k != 4; ++k) {
        snprintf(hs, sizeof(hs), "440%u", k);
        snprintf(mrr, sizeof(mrr), "%u", 100 + k);
        assert_str("mrr of a good row", str_at(wait_field(hubspot, hs, "subscription_status", "active", 5), "mrr"), mrr);
    }
    assert_int_equal((long long)sy_itd_pushes(h, "hubspot", "done"), 4);
    sy_it_pass(h);
}

/* Whether xrefs.<source> of rec lists ext. */
static int has_xref(json_t *rec, const char *source, const char *ext)
{
    return sy_itr_count_str(json_object_get(json_object_get(rec, "xrefs"), source), ext) != 0;
}

/* 2. A contact with no Stripe customer: lookup by email, then create (or link the one found), and link it. */
static void test_creation(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, NULL, NULL, NULL);
    json_t *reqs, *r, *objects, *rec, *c;
    const char *id, *created = NULL;

    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s}}", "cus_E", "email", "eve@known.test", "name", "Eve"));
    /* the example policy never creates Stripe customers (test_create_policy); this test is about creating them */
    sy_itd_use_example_policy_creating(h, "    create: if_missing");
    sy_it_start(h);

    /* unknown to Stripe: GET ?email= finds nothing, then POST /v1/customers creates it */
    sy_itr_hs_change(h, 7701, 77, HS0 + 1000, "email", "neo@new.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_fake_requests(stripe);
    if (json_array_size(reqs) != 2)
        fail_msg("expected a lookup and a create, got %s", sy_itr_text(h, reqs));
    r = json_array_get(reqs, 0);
    assert_str("lookup method", str_at(r, "method"), "GET");
    assert_str("lookup path", str_at(r, "path"), "/v1/customers?email=neo%40new.test&limit=1");
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
    r = json_array_get(reqs, 1);
    assert_str("create method", str_at(r, "method"), "POST");
    assert_str("create path", str_at(r, "path"), "/v1/customers");
    assert_str("create body", str_at(r, "body"), "email=neo%40new.test");
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
    if (str_at(r, "idempotency_key") == NULL || strstr(str_at(r, "idempotency_key"), "-create-cust_") == NULL)
        fail_msg("the create carries no Idempotency-Key stable per record (sy-<instance>-create-<record>): %s",
                 sy_itr_text(h, r));
    objects = json_object_get(sy_itd_fake_state(stripe), "objects");
    assert_int_equal(json_object_size(objects), 2);
    json_object_foreach(objects, id, c) if (strcmp(id, "cus_E") != 0) created = id;
    if (created == NULL || strncmp(created, "cus_fake", 8) != 0)
        fail_msg("no customer created at the fake: %s", sy_itr_text(h, objects));
    assert_str("created customer's email", str_at(json_object_get(objects, created), "email"), "neo@new.test");
    rec = sy_itr_record(h, "hubspot:77");
    if (rec == NULL || !has_xref(rec, "stripe", created))
        fail_msg("records get hubspot:77 does not link stripe:%s: %s", created, sy_itr_text(h, rec));
    {
        char q[160];
        snprintf(q, sizeof(q), "stripe:%s", created);
        assert_str("records get stripe:<created>", sy_itr_id(sy_itr_record(h, q)), sy_itr_id(rec));
    }
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "created"), 1);

    /* known to Stripe by email only: the lookup finds cus_E, which is linked and updated, nothing is created */
    sy_itr_hs_change(h, 7801, 78, HS0 + 2000, "email", "eve@known.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    reqs = sy_itd_fake_requests(stripe);
    if (json_array_size(reqs) != 4 ||
        sy_itd_count(reqs, "GET", "/v1/customers?email=eve%40known.test&limit=1", 200) != 1 ||
        sy_itd_count(reqs, "POST", "/v1/customers/cus_E", 200) != 1)
        fail_msg("expected a lookup and an update of cus_E, got %s", sy_itr_text(h, reqs));
    assert_int_equal(json_object_size(json_object_get(sy_itd_fake_state(stripe), "objects")), 2);
    rec = sy_itr_record(h, "hubspot:78");
    if (rec == NULL || !has_xref(rec, "stripe", "cus_E"))
        fail_msg("records get hubspot:78 does not link stripe:cus_E: %s", sy_itr_text(h, rec));
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "found"), 1);
    sy_itd_assert_once_per_key(h, reqs);
    assert_no_dead(h);
    sy_it_pass(h);
}

/* 3. 2,000 pushes against a HubSpot fake limited to 100 requests per 10 s (and the same api.rate). */
static void test_rate_limit_burst(void **state)
{
    static const sy_itd_api_t api = {.rate = "100/10s", .timeout = "5s", .max_attempts = 5};
    sy_itd_fake_t *hubspot;
    sy_it_t *h = create_hub(state, NULL, NULL, NULL, &hubspot, "100/10000", &api);
    json_t *seed = json_object(), *customers = json_array(), *subs = json_array(), *reqs, *st, *objects, *r;
    char id[32], cus[32], email[64], sub[32], evt[32], price[32], mrr[32];
    size_t i, inputs = 0;

    for (unsigned k = 0; k != RATE_PUSHES; ++k) {
        snprintf(id, sizeof(id), "%u", 5000 + k);
        snprintf(cus, sizeof(cus), "cus_R%u", k);
        snprintf(email, sizeof(email), "r%u@rate.test", k);
        snprintf(sub, sizeof(sub), "sub_R%u", k);
        snprintf(price, sizeof(price), "price_%u", k % 7);
        json_object_set_new(seed, id, json_pack("{s:s}", "email", email));
        snprintf(evt, sizeof(evt), "evt_rc%u", k);
        json_array_append_new(customers, sy_itd_stripe_event(evt, "customer.created", S0,
                                                             sy_itr_customer(cus, email, "Rate Test", NULL, id)));
        snprintf(evt, sizeof(evt), "evt_rs%u", k);
        json_array_append_new(subs, sy_itd_stripe_event(evt, "customer.subscription.updated", S0 + 10,
                                                        sy_itr_subscription(sub, cus, "active", price, 1000 + k)));
    }
    sy_itd_fake_seed(hubspot, seed);
    sy_it_start(h);
    sy_itd_post_stripe_many(h, customers, 16);
    sy_itr_wait_applied(h);
    assert_int_equal(json_array_size(sy_itr_queue(h)), 0);
    sy_itd_post_stripe_many(h, subs, 16);
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, 50);

    st = sy_itd_fake_state(hubspot);
    objects = json_object_get(st, "objects");
    for (unsigned k = 0; k != RATE_PUSHES; ++k) {
        json_t *c;
        snprintf(id, sizeof(id), "%u", 5000 + k);
        snprintf(price, sizeof(price), "price_%u", k % 7);
        snprintf(mrr, sizeof(mrr), "%u", 1000 + k);
        c = json_object_get(objects, id);
        if (c == NULL || str_at(c, "subscription_status") == NULL || strcmp(str_at(c, "subscription_status"), "active") != 0 ||
            str_at(c, "plan") == NULL || strcmp(str_at(c, "plan"), price) != 0 || str_at(c, "mrr") == NULL ||
            strcmp(str_at(c, "mrr"), mrr) != 0)
            fail_msg("contact %s at the HubSpot fake: expected active/%s/%s, holds %s", id, price, mrr, sy_itr_text(h, c));
    }
    if (json_integer_value(json_object_get(st, "max_in_window")) > 100 ||
        json_integer_value(json_object_get(st, "rate_limited")) != 0)
        fail_msg("the hub did not pace itself: max_in_window %lld (limit 100), rate_limited %lld",
                 (long long)json_integer_value(json_object_get(st, "max_in_window")),
                 (long long)json_integer_value(json_object_get(st, "rate_limited")));
    /* batched: every request updates at most 100 contacts, and together they update each one once */
    reqs = sy_itd_fake_requests(hubspot);
    json_array_foreach(reqs, i, r)
    {
        json_t *body = sy_it_own_json(h, json_loads(str_at(r, "body"), 0, NULL));
        size_t n = json_is_array(json_object_get(body, "inputs")) ? json_array_size(json_object_get(body, "inputs")) : 1;
        if (n > 100)
            fail_msg("a request with %zu inputs: %s %s", n, str_at(r, "method"), str_at(r, "path"));
        if (json_integer_value(json_object_get(r, "status")) / 100 == 2)
            inputs += n;
        sy_it_release(h, body);
    }
    if (inputs != RATE_PUSHES)
        fail_msg("%zu contact updates were accepted in %zu requests, expected %d", inputs, json_array_size(reqs),
                 RATE_PUSHES);
    print_message("%d pushes in %zu HubSpot requests, max_in_window %lld\n", RATE_PUSHES, json_array_size(reqs),
                  (long long)json_integer_value(json_object_get(st, "max_in_window")));
    assert_int_equal((long long)sy_itd_pushes(h, "hubspot", "done"), RATE_PUSHES);
    assert_int_equal((long long)sy_itd_pushes(h, "hubspot", "rate_limited"), 0);
    assert_no_dead(h);
    sy_it_pass(h);
}

static int five_network_errors(sy_it_t *h, void *arg)
{
    return sy_itd_pushes(h, "stripe", "network_error") >= 5;
}

/* 4. The spoke is down (resets, then 500s) while pushes queue up; once it is back each arrives once per key. */
static void test_spoke_down(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 12};
    sy_itd_fake_t *stripe, *hubspot;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, &hubspot, NULL, &api);
    json_t *reqs, *q;
    char cus[16], hs[16], email[64];

    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_D%d", k);
        snprintf(hs, sizeof(hs), "6%d", k);
        snprintf(email, sizeof(email), "d%d@old.test", k);
        sy_itd_fake_seed(stripe, json_pack("{s:o}", cus, seed_customer(email, "Pat Doe", hs)));
        sy_itd_fake_seed(hubspot, json_pack("{s:{s:s}}", hs, "email", email));
    }
    sy_it_start(h);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_D%d", k);
        snprintf(hs, sizeof(hs), "6%d", k);
        snprintf(email, sizeof(email), "d%d@old.test", k);
        link_customer(h, cus, email, hs);
    }

    /* Stripe resets every connection: the pushes are tried, fail, and stay queued */
    sy_itd_fake_mode(stripe, "reset", 0, 0, 0);
    for (int k = 1; k <= 3; ++k) {
        snprintf(email, sizeof(email), "d%d@up.test", k);
        sy_itr_hs_change(h, 6100 + k, 60 + k, HS0 + 1000, "email", email);
    }
    sy_itr_wait_applied(h);
    sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_D", 0, 4, 20);
    /* 5 consecutive failures open the circuit breaker (open or half-open from then on while Stripe is down) */
    sy_itd_wait(h, 30, "5 network errors at the Stripe spoke", five_network_errors, NULL);
    if (sy_itd_metric(h, "switchyard_breaker_state{spoke=\"stripe\"}") < 1)
        fail_msg("after 5 consecutive failures switchyard_breaker_state{spoke=\"stripe\"} is %g, expected open (1) or "
                 "half-open (2)", sy_itd_metric(h, "switchyard_breaker_state{spoke=\"stripe\"}"));
    q = sy_itr_queue(h);
    if (sy_itr_pushes(q, "stripe", NULL, NULL) != 3)
        fail_msg("expected 3 queued pushes while Stripe is down: %s", sy_itr_text(h, q));
    assert_no_dead(h);
    if (sy_itd_pushes(h, "stripe", "network_error") < 1)
        fail_msg("switchyard_pushes_total{outcome=\"network_error\"} did not count the resets");

    /* back up: everything arrives, and no key wrote twice */
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_D%d", k);
        snprintf(email, sizeof(email), "d%d@up.test", k);
        assert_str("email at Stripe after the outage", str_at(sy_itd_fake_object(stripe, cus), "email"), email);
    }
    reqs = sy_itd_fake_requests(stripe);
    assert_int_equal(sy_itd_assert_once_per_key(h, reqs), 3);
    assert_int_equal(sy_itd_count(reqs, "POST", "/v1/customers/cus_D", 200), 3);
    assert_int_equal((long long)sy_itd_metric(h, "switchyard_breaker_state{spoke=\"stripe\"}"), 0);
    assert_no_dead(h);

    /* HubSpot answers 500 three times: the push is retried with backoff and arrives */
    sy_itd_fake_mode(hubspot, "error500", 0, 0, 3);
    sy_itr_stripe(h, "evt_sub_d1", "customer.subscription.updated", S0 + 100,
                  sy_itr_subscription("sub_D1", "cus_D1", "past_due", "price_team", 9900));
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_field(hubspot, "61", "subscription_status", "past_due", 5);
    reqs = sy_itd_fake_requests(hubspot);
    if (sy_itd_count(reqs, NULL, NULL, 500) != 3 || sy_itd_count(reqs, "PATCH", "/crm/v3/objects/contacts/61", 200) != 1)
        fail_msg("expected 3 answers 500 then one PATCH 200: %s", sy_itr_text(h, reqs));
    if (sy_itd_pushes(h, "hubspot", "retry") < 3)
        fail_msg("switchyard_pushes_total{spoke=\"hubspot\",outcome=\"retry\"} < 3");
    assert_no_dead(h);
    sy_it_pass(h);
}

/* The dead letter's id, after checking it holds the tool's answer. */
static const char *assert_dead_letter(sy_it_t *h, json_t *dead, long status, const char *excerpt)
{
    json_t *d = json_array_get(dead, 0), *resp = json_object_get(d, "response");
    const char *body = str_at(resp, "body");
    if (json_array_size(dead) != 1)
        fail_msg("expected one dead letter: %s", sy_itr_text(h, dead));
    assert_str("dead letter spoke", str_at(d, "spoke"), "stripe");
    if (json_integer_value(json_object_get(resp, "status")) != status || body == NULL || strstr(body, excerpt) == NULL ||
        !json_is_object(json_object_get(resp, "headers")) || json_object_size(json_object_get(resp, "headers")) == 0)
        fail_msg("dead letter: expected the response (status %ld, body with \"%s\", headers), got %s", status, excerpt,
                 sy_itr_text(h, d));
    if (str_at(d, "reason") == NULL || str_at(d, "id") == NULL)
        fail_msg("dead letter without reason or id: %s", sy_itr_text(h, d));
    return str_at(d, "id");
}

/* 5. A refused push becomes a dead letter with the answer; fixed at the tool, `dead retry ID` delivers it. */
static void test_dead_letter_retry(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, NULL, NULL, NULL);
    json_t *dead;
    const char *id;
    char *out;

    sy_itd_fake_seed(stripe, json_pack("{s:o}", "cus_F", seed_customer("f@old.test", "Fay", "71")));
    sy_it_start(h);
    link_customer(h, "cus_F", "f@old.test", "71");

    /* 400: the next request is refused as invalid */
    sy_itd_fake_mode(stripe, "error400", 0, 0, 1);
    sy_itr_hs_change(h, 7101, 71, HS0 + 1000, "email", "f@new.test");
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    id = assert_dead_letter(h, dead, 400, "invalid_request_error");
    assert_int_equal(json_array_size(sy_itr_queue(h)), 0);
    assert_str("cus_F.email after the 400", str_at(sy_itd_fake_object(stripe, "cus_F"), "email"), "f@old.test");
    assert_int_equal((long long)sy_itd_pushes(h, "stripe", "dead"), 1);
    /* the fault was one request only: the fake is fixed; revive the dead letter */
    out = sy_itr_cli_ok(h, 0, "dead", "retry", id, NULL);
    sy_it_release(h, out);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_field(stripe, "cus_F", "email", "f@new.test", 5);
    assert_no_dead(h);
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    sy_it_pass(h);
}

/* 5b. A push to a customer the tool does not have (404) is a dead letter; once the customer exists at the tool,
 * `dead retry ID` delivers it. Stripe stores a 404 under the request's Idempotency-Key and replays it, so a revived
 * dead letter must not be sent with the key of the attempt that died. */
static void test_dead_letter_retry_after_404(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, NULL, NULL, NULL);
    json_t *dead;
    const char *id;
    char *out;

    sy_it_start(h);
    /* the hub knows cus_M, the tool does not (yet) */
    link_customer(h, "cus_M", "m@old.test", "72");
    sy_itr_hs_change(h, 7201, 72, HS0 + 1000, "email", "m@new.test");
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    id = assert_dead_letter(h, dead, 404, "resource_missing");
    sy_itd_fake_seed(stripe, json_pack("{s:o}", "cus_M", seed_customer("m@old.test", "Max", "72")));
    out = sy_itr_cli_ok(h, 0, "dead", "retry", id, NULL);
    sy_it_release(h, out);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("`dead retry` of a 404 after the customer was created at Stripe died again: %s\nStripe requests: %s",
                 sy_itr_text(h, dead), sy_itr_text(h, sy_itd_fake_requests(stripe)));
    wait_field(stripe, "cus_M", "email", "m@new.test", 5);
    sy_itd_assert_once_per_key(h, sy_itd_fake_requests(stripe));
    sy_it_pass(h);
}

/* 5c. A push that keeps failing with 500 dies after api.max_attempts with the last answer; `dead retry --all`
 * queues it again once the tool is back. */
static void test_too_many_attempts(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 2};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, NULL, &api, NULL, NULL, NULL);
    json_t *dead, *d;
    char *out;

    sy_itd_fake_seed(stripe, json_pack("{s:o}", "cus_T", seed_customer("t@old.test", "Tia", "73")));
    sy_it_start(h);
    link_customer(h, "cus_T", "t@old.test", "73");
    sy_itd_fake_mode(stripe, "error500", 0, 0, 0);
    sy_itr_hs_change(h, 7301, 73, HS0 + 1000, "email", "t@new.test");
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    d = json_array_get(dead, 0);
    assert_str("dead letter reason", str_at(d, "reason"), "too many attempts");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "response"), "status")), 500);
    assert_int_equal(sy_itd_count(sy_itd_fake_requests(stripe), "POST", "/v1/customers/cus_T", 500), 2);
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    out = sy_itr_cli_ok(h, 0, "dead", "retry", "--all", NULL);
    sy_it_release(h, out);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_field(stripe, "cus_T", "email", "t@new.test", 5);
    assert_no_dead(h);
    sy_it_pass(h);
}

/* 5d. 401 (a wrong api.token): the push is kept, not buried, and the spoke pauses; with the right token after a
 * restart, `queue retry ID` makes it due at once and it arrives. */
static void test_auth_refused(void **state)
{
    static const sy_itd_api_t wrong = {.timeout = "2s", .max_attempts = 5, .token = "sk_test_wrong"};
    static const sy_itd_api_t right = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, NULL, &wrong, NULL, NULL, NULL);
    json_t *q, *push;
    char id[32], *out;

    sy_itd_fake_seed(stripe, json_pack("{s:o}", "cus_U", seed_customer("u@old.test", "Uma", "74")));
    sy_it_start(h);
    link_customer(h, "cus_U", "u@old.test", "74");
    sy_itr_hs_change(h, 7401, 74, HS0 + 1000, "email", "u@new.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_U", 401, 1, DELIVER_TIMEOUT_S);
    for (double deadline = sy_itd_now_s() + 10;; sy_itd_nap(100)) { /* the attempt is recorded on the push */
        q = sy_itr_queue(h);
        if (sy_itr_pushes(q, "stripe", NULL, &push) == 1 && json_integer_value(json_object_get(push, "attempts")) >= 1)
            break;
        if (sy_itd_now_s() > deadline)
            fail_msg("after a 401 the push should stay queued with its attempt counted: %s", sy_itr_text(h, q));
    }
    snprintf(id, sizeof(id), "%s", sy_itr_id(push));
    assert_no_dead(h);
    assert_int_equal(sy_it_stop(h), 0);
    sy_itd_set_api(h, "stripe", stripe, &right);
    sy_it_start(h);
    out = sy_itr_cli_ok(h, 0, "queue", "retry", id, NULL);
    sy_it_release(h, out);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_field(stripe, "cus_U", "email", "u@new.test", 5);
    assert_no_dead(h);
    sy_it_pass(h);
}

/* 6. The tool answers 429 with Retry-After: the spoke pauses, the pushes arrive later, the outcome is counted. */
static void test_rate_limited_429(void **state)
{
    /* we believe 20/s is allowed; the fake allows 1 request per 3 s */
    static const sy_itd_api_t api = {.rate = "20/1s", .timeout = "2s", .max_attempts = 10};
    sy_itd_fake_t *stripe;
    sy_it_t *h = create_hub(state, &stripe, "1/3000", &api, NULL, NULL, NULL);
    json_t *reqs;
    char cus[16], hs[16], email[64];

    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_G%d", k);
        snprintf(hs, sizeof(hs), "8%d", k);
        snprintf(email, sizeof(email), "g%d@old.test", k);
        sy_itd_fake_seed(stripe, json_pack("{s:o}", cus, seed_customer(email, "Gil", hs)));
    }
    sy_it_start(h);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_G%d", k);
        snprintf(hs, sizeof(hs), "8%d", k);
        snprintf(email, sizeof(email), "g%d@old.test", k);
        link_customer(h, cus, email, hs);
    }
    for (int k = 1; k <= 3; ++k) {
        snprintf(email, sizeof(email), "g%d@new.test", k);
        sy_itr_hs_change(h, 8100 + k, 80 + k, HS0 + 1000, "email", email);
    }
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    for (int k = 1; k <= 3; ++k) {
        snprintf(cus, sizeof(cus), "cus_G%d", k);
        snprintf(email, sizeof(email), "g%d@new.test", k);
        assert_str("email at Stripe after 429s", str_at(sy_itd_fake_object(stripe, cus), "email"), email);
    }
    reqs = sy_itd_fake_requests(stripe);
    if (sy_itd_count(reqs, "POST", NULL, 429) == 0)
        fail_msg("the fake never answered 429: %s", sy_itr_text(h, reqs));
    if (sy_itd_pushes(h, "stripe", "rate_limited") <= 0)
        fail_msg("switchyard_pushes_total{spoke=\"stripe\",outcome=\"rate_limited\"} is not > 0");
    assert_int_equal(sy_itd_assert_once_per_key(h, reqs), 3);
    assert_int_equal(sy_itd_count(reqs, "POST", NULL, 200), 3);
    assert_no_dead(h);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_end_to_end, teardown),
        cmocka_unit_test_teardown(test_creation, teardown),
        cmocka_unit_test_teardown(test_rate_limit_burst, teardown),
        cmocka_unit_test_teardown(test_rate_limit_stripe, teardown),
        cmocka_unit_test_teardown(test_batch_one_bad_row, teardown),
        cmocka_unit_test_teardown(test_spoke_down, teardown),
        cmocka_unit_test_teardown(test_dead_letter_retry, teardown),
        cmocka_unit_test_teardown(test_dead_letter_retry_after_404, teardown),
        cmocka_unit_test_teardown(test_too_many_attempts, teardown),
        cmocka_unit_test_teardown(test_auth_refused, teardown),
        cmocka_unit_test_teardown(test_rate_limited_429, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
