/*
 * Retries send the record's current values, never the ones stored with the push (issue #10). On the real binary
 * with the example policy (HubSpot owns email and pushes it to Stripe) and a fake Stripe on loopback:
 *
 *   1. dead retry --all: two owner changes both die at a refusing Stripe; once it is fixed, the retry sends only
 *      the latest value, as one push (the two revived pushes fold into one: one queued push per spoke and record);
 *   2. dead retry ID (admin API): the first change died, the second was delivered; reviving the old dead letter
 *      must not put the old value back at the tool;
 *   3. queue retry: a push waits (401, wrong token) while the owner changes the value back to what Stripe already
 *      holds (the applier queues nothing for that); retried, it sends the current value, not the stale one.
 *
 * Each would overwrite Stripe with a stale email before the fix.
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

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static const char *str_at(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* A hub with the example policy and a fake Stripe (api section api), seeded with customer cus (email, HubSpot
 * contact hs), started, and the customer made known to the hub. */
static sy_it_t *start_hub(void **state, sy_itd_fake_t **stripe, const sy_itd_api_t *api, const char *cus,
                          const char *email, const char *hs)
{
    char evt[64];
    sy_it_t *h = sy_it_create(state, NULL);
    *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", *stripe, api);
    sy_itd_use_example_policy(h);
    sy_itd_fake_seed(*stripe, json_pack("{s:{s:s, s:s, s:{s:s}}}", cus, "email", email, "name", "Pat", "metadata",
                                        "hubspot_contact_id", hs));
    sy_it_start(h);
    snprintf(evt, sizeof(evt), "evt_link_%s", cus);
    sy_itr_stripe(h, evt, "customer.created", S0, sy_itr_customer(cus, email, "Pat", NULL, hs));
    sy_itr_wait_applied(h);
    return h;
}

/* Polls the fake until customer id has email want. */
static void wait_email(sy_itd_fake_t *f, const char *id, const char *want)
{
    double deadline = sy_itd_now_s() + 10;
    for (;;) {
        json_t *obj = sy_itd_fake_object(f, id);
        const char *got = str_at(obj, "email");
        if (got != NULL && strcmp(got, want) == 0)
            return;
        if (sy_itd_now_s() > deadline)
            fail_msg("Stripe's %s.email: expected \"%s\", holds %s", id, want, sy_itr_text(f->h, obj));
        sy_itd_nap(100);
    }
}

/* How many requests of log from index from on carry form value needle in their body (any status, or 2xx only). */
static size_t count_body(json_t *log, size_t from, const char *needle, int ok_only)
{
    size_t n = 0;
    for (size_t i = from; i < json_array_size(log); ++i) {
        json_t *r = json_array_get(log, i);
        json_int_t status = json_integer_value(json_object_get(r, "status"));
        const char *body = str_at(r, "body");
        n += body != NULL && strstr(body, needle) != NULL && (!ok_only || (status >= 200 && status <= 299));
    }
    return n;
}

static void assert_no_dead(sy_it_t *h)
{
    json_t *dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("expected no dead letters, got %s", sy_itr_text(h, dead));
}

/* 1. Both changes die; after the fix `dead retry --all` sends only the latest value, in one push. */
static void test_dead_retry_all_sends_current(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = start_hub(state, &stripe, &api, "cus_D", "d@v0.test", "61");
    json_t *log, *dead;
    char *out;

    sy_itd_fake_mode(stripe, "error400", 0, 0, 0); /* refuses everything until told otherwise */
    sy_itr_hs_change(h, 6101, 61, HS0 + 1000, "email", "d@v1.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    sy_itr_hs_change(h, 6102, 61, HS0 + 2000, "email", "d@v2.test");
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 2, DELIVER_TIMEOUT_S);
    if (json_array_size(dead) != 2 ||
        strcmp(str_at(json_object_get(json_array_get(dead, 0), "fields"), "email"), "d@v1.test") != 0)
        fail_msg("expected two dead letters, the first with the old email: %s", sy_itr_text(h, dead));
    sy_itd_assert_counts(h, "two dead letters");

    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    size_t healed_at = json_array_size(sy_itd_fake_requests(stripe));
    out = sy_itr_cli_ok(h, 0, "dead", "retry", "--all", NULL);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_email(stripe, "cus_D", "d@v2.test");
    log = sy_itd_fake_requests(stripe);
    if (count_body(log, healed_at, "d%40v1.test", 0) != 0)
        fail_msg("the retry sent the stale email d@v1.test: %s", sy_itr_text(h, log));
    if (count_body(log, healed_at, "d%40v2.test", 1) != 1)
        fail_msg("expected exactly one accepted request with d@v2.test after the fix: %s", sy_itr_text(h, log));
    if (strstr(out, "2 dead letter(s) queued again") == NULL || strstr(out, "1 folded") == NULL)
        fail_msg("dead retry --all: expected both queued again, one folded into the other: %s", out);
    assert_no_dead(h);
    sy_itd_assert_counts(h, "revived (one folded) and delivered");
    sy_itd_assert_once_per_key(h, log);
    sy_it_pass(h);
}

/* 2. The old dead letter revived (admin API) after a newer value was delivered: the tool keeps the newer value. */
static void test_dead_retry_one_after_newer_delivered(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = start_hub(state, &stripe, &api, "cus_S", "s@v0.test", "62");
    json_t *dead, *log;
    sy_it_response_t res;
    char path[128];

    sy_itd_fake_mode(stripe, "error400", 0, 0, 1); /* only the next request is refused */
    sy_itr_hs_change(h, 6201, 62, HS0 + 1000, "email", "s@v1.test");
    sy_itr_wait_applied(h);
    dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    snprintf(path, sizeof(path), "/admin/api/dead/%s/retry", str_at(json_array_get(dead, 0), "id"));
    sy_itr_hs_change(h, 6202, 62, HS0 + 2000, "email", "s@v2.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    wait_email(stripe, "cus_S", "s@v2.test");

    size_t before = json_array_size(sy_itd_fake_requests(stripe));
    sy_itr_admin_post(h, path, &res);
    if (res.status != 200 || strcmp(str_at(res.json, "done"), "queued") != 0) {
        sy_it_dump_response("dead retry by the admin API", &res);
        fail_msg("expected 200 {\"done\":\"queued\"}");
    }
    sy_it_response_dispose(&res);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    sy_itd_assert_counts(h, "dead letter revived by the admin API");
    log = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_S", -1, 3, 10);
    if (count_body(log, before, "s%40v1.test", 0) != 0)
        fail_msg("reviving the dead letter sent the stale email s@v1.test: %s", sy_itr_text(h, log));
    wait_email(stripe, "cus_S", "s@v2.test");
    assert_no_dead(h);
    sy_it_pass(h);
}

/* 3. A queued push whose value the owner took back: `queue retry` sends the value the record has now. */
static void test_queue_retry_sends_current(void **state)
{
    static const sy_itd_api_t wrong = {.timeout = "2s", .max_attempts = 5, .token = "sk_test_wrong"};
    static const sy_itd_api_t right = {.timeout = "2s", .max_attempts = 5};
    sy_itd_fake_t *stripe;
    sy_it_t *h = start_hub(state, &stripe, &wrong, "cus_Q", "q@v0.test", "63");
    json_t *q, *push = NULL, *log;
    char id[32], *out;

    sy_itr_hs_change(h, 6301, 63, HS0 + 1000, "email", "q@v1.test");
    sy_itr_wait_applied(h);
    sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_Q", 401, 1, DELIVER_TIMEOUT_S);
    for (double deadline = sy_itd_now_s() + 10;; sy_itd_nap(100)) { /* kept queued (paused a minute) after the 401 */
        q = sy_itr_queue(h);
        if (sy_itr_pushes(q, "stripe", NULL, &push) == 1 && json_integer_value(json_object_get(push, "attempts")) >= 1)
            break;
        if (sy_itd_now_s() > deadline)
            fail_msg("after a 401 the push should stay queued with its attempt counted: %s", sy_itr_text(h, q));
    }
    snprintf(id, sizeof(id), "%s", sy_itr_id(push));
    /* The owner takes the change back: Stripe already holds that value, but the waiting push would overwrite it
     * with q@v1.test, so the applier gives the push the value back. */
    sy_itr_hs_change(h, 6302, 63, HS0 + 2000, "email", "q@v0.test");
    sy_itr_wait_applied(h);
    q = sy_itr_queue(h);
    if (sy_itr_pushes(q, "stripe", NULL, &push) != 1 ||
        strcmp(str_at(json_object_get(push, "fields"), "email"), "q@v0.test") != 0)
        fail_msg("expected the one queued push to carry the owner's value again: %s", sy_itr_text(h, q));
    sy_itd_assert_counts(h, "a push kept queued after a 401, coalesced");

    assert_int_equal(sy_it_stop(h), 0);
    sy_itd_set_api(h, "stripe", stripe, &right);
    sy_it_start(h);
    sy_itd_assert_counts(h, "after a restart"); /* paused for a minute after the 401? no: a new process sends it */
    size_t before = json_array_size(sy_itd_fake_requests(stripe));
    out = sy_itr_cli_ok(h, 0, "queue", "retry", id, NULL);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);
    log = sy_itd_wait_requests(stripe, "POST", "/v1/customers/cus_Q", 200, 1, 10);
    if (count_body(log, before, "q%40v1.test", 0) != 0)
        fail_msg("queue retry sent the stale email q@v1.test: %s", sy_itr_text(h, log));
    if (count_body(log, before, "q%40v0.test", 1) != 1)
        fail_msg("expected one accepted request with the current email q@v0.test: %s", sy_itr_text(h, log));
    wait_email(stripe, "cus_Q", "q@v0.test");
    if (strstr(out, "current values") == NULL)
        fail_msg("queue retry: %s", out);
    assert_no_dead(h);
    sy_itd_assert_counts(h, "queue retry delivered");
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dead_retry_all_sends_current, teardown),
        cmocka_unit_test_teardown(test_dead_retry_one_after_newer_delivered, teardown),
        cmocka_unit_test_teardown(test_queue_retry_sends_current, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
