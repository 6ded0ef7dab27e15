/*
 * The admin routes the dashboard acts through (admin_browse.c) on the real binary: the event browser's filters and
 * paging, the delivery attempt log (kept with a dead letter, gone with a done or dropped push, no credential in it),
 * dead-letter drop, and the founder figures of the health report.
 */
#include "harness_delivery.h"
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL
#define HS0 1750000000000LL
#define WAIT_S 30.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* A request to the admin listener with the token; body may be NULL. The parsed JSON answer (owned). */
static json_t *api(sy_it_t *h, const char *method, const char *path, const char *body, long expect_status)
{
    sy_it_headers_t hd = {0};
    char auth[128];
    sy_it_response_t res;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_headers_add(&hd, "Authorization", auth);
    sy_it_request(h, h->admin_port, method, path, &hd, body, body != NULL ? strlen(body) : 0, &res);
    sy_it_headers_dispose(&hd);
    if (res.status != expect_status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, expect_status, res.status, res.body);
    json_t *doc = json_loads(res.body, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        fail_msg("%s %s: the answer is not JSON: %s", method, path, res.body);
    sy_it_response_dispose(&res);
    return sy_it_own_json(h, doc);
}

static json_t *get(sy_it_t *h, const char *path)
{
    return api(h, "GET", path, NULL, 200);
}

/* "seq,seq,..." of a page's events. */
static const char *seqs(sy_it_t *h, json_t *page)
{
    char *out = sy_it_alloc(h, 1024);
    size_t i, o = 0;
    json_t *ev;
    json_array_foreach(json_object_get(page, "events"), i, ev)
    o += (size_t)snprintf(out + o, 1024 - o, "%s%lld", i ? "," : "", (long long)json_integer_value(json_object_get(ev, "seq")));
    return out;
}

static sy_itd_fake_t *start(void **state, sy_it_t **out)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    sy_itd_fake_mode(stripe, "error400", 0, 0, 0); /* Stripe refuses every push: a dead letter */
    sy_itd_fake_seed(hubspot, json_pack("{s:{s:s}}", "51", "email", "ana@acme.example"));
    sy_itd_set_api(h, "stripe", stripe, NULL);
    sy_itd_set_api(h, "hubspot", hubspot, NULL);
    sy_itd_use_example_policy(h);
    sy_it_start(h);
    /* seqs 1..5: Ana (Stripe cus_A ~ HubSpot 51) pays 4900; HubSpot changes her email (a push to Stripe: dead);
     * Bo is HubSpot only; her subscription's fields go to HubSpot (delivered: done). */
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ana@acme.example", "Ana", NULL, "51"));
    sy_itr_hs_change(h, 1, 51, HS0 + 1000, "email", "ana.silva@acme.example");
    sy_itr_hs_change(h, 2, 61, HS0 + 2000, "name", "Bo");
    sy_itr_stripe(h, "evt_a2", "customer.subscription.created", S0 + 3,
                  sy_itr_subscription("sub_A", "cus_A", "active", "price_basic", 4900));
    sy_itr_stripe(h, "evt_x1", "invoice.paid", S0 + 4, sy_itr_invoice("in_1", "cus_X", "paid", "x@y.example"));
    sy_itr_wait_applied(h);
    *out = h;
    return stripe;
}

static void test_event_browser(void **state)
{
    sy_it_t *h;
    start(state, &h);
    char path[256];

    /* newest first, paged with next_before: the pages together are the whole log, in order */
    json_t *p1 = get(h, "/admin/api/events?before=0&limit=2");
    assert_string_equal(seqs(h, p1), "5,4");
    assert_true(json_is_true(json_object_get(p1, "more")));
    snprintf(path, sizeof(path), "/admin/api/events?before=%lld&limit=2",
             (long long)json_integer_value(json_object_get(p1, "next_before")));
    assert_string_equal(seqs(h, get(h, path)), "3,2");
    json_t *all = get(h, "/admin/api/events?before=0");
    assert_string_equal(seqs(h, all), "5,4,3,2,1");
    assert_false(json_is_true(json_object_get(all, "more")));

    /* type is a glob; source exact; since/until bound the receiving time (UTC text or ms) */
    assert_string_equal(seqs(h, get(h, "/admin/api/events?before=0&type=customer.*")), "4,1");
    assert_string_equal(seqs(h, get(h, "/admin/api/events?before=0&source=hubspot")), "3,2");
    assert_string_equal(seqs(h, get(h, "/admin/api/events?before=0&since=2000-01-01")), "5,4,3,2,1");
    assert_string_equal(seqs(h, get(h, "/admin/api/events?since=2999-01-01")), "");
    assert_string_equal(seqs(h, get(h, "/admin/api/events?until=1000")), "");
    snprintf(path, sizeof(path), "/admin/api/events?before=0&until=%lld",
             (long long)json_integer_value(json_object_get(json_array_get(json_object_get(all, "events"), 1), "received_at_ms")));
    json_t *until = get(h, path); /* before event 4 was received: at most seqs 1..3 (5 too if received at once) */
    assert_null(strstr(seqs(h, until), "4"));

    /* a record's events: its tool objects' (Stripe cus_A, HubSpot 51), nothing of Bo's or of cus_X */
    json_t *ana = get(h, "/admin/api/events?record=hubspot:51");
    assert_string_equal(seqs(h, ana), "4,2,1");
    assert_string_equal(json_string_value(json_object_get(ana, "record")), sy_itr_id(sy_itr_record(h, "hubspot:51")));
    assert_string_equal(seqs(h, get(h, "/admin/api/events?record=ana.silva@acme.example&type=customer.subscription.*")), "4");

    /* oldest first from after=, with the same filters */
    assert_string_equal(seqs(h, get(h, "/admin/api/events?after=1&record=stripe:cus_A&since=2000-01-01")), "2,4");

    /* precise errors */
    json_t *e = api(h, "GET", "/admin/api/events?since=yesterday", NULL, 400);
    assert_string_equal(json_string_value(json_object_get(e, "error")), "bad_request");
    e = api(h, "GET", "/admin/api/events?record=nobody@nowhere.example", NULL, 404);
    assert_string_equal(json_string_value(json_object_get(e, "error")), "not_found");

    /* without the new parameters the list answers as before: oldest first, next_after */
    json_t *old = get(h, "/admin/api/events?source=stripe");
    assert_string_equal(seqs(h, old), "1,4,5");
    assert_non_null(json_object_get(old, "next_after"));
    sy_it_pass(h);
}

static void test_attempt_log_and_dead_drop(void **state)
{
    sy_it_t *h;
    start(state, &h);
    char path[256], id[32];

    /* two dead letters: Ana's email refused by Stripe, and cus_X's payment state, which cannot be sent (HubSpot
     * knows no contact for it and the record has no email): never requested, so it has no attempt */
    json_t *dead = sy_itd_wait_dead(h, 2, WAIT_S), *d;
    size_t i;
    id[0] = '\0';
    json_array_foreach(dead, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "spoke")), "stripe") == 0)
            snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(d, "id")));
    }
    if (id[0] == '\0')
        fail_msg("no Stripe dead letter: %s", sy_itr_text(h, dead));
    sy_itd_wait_queue_empty(h, WAIT_S); /* the HubSpot push is done */

    /* the dead letter keeps its attempts: the request line and the tool's answer, no credential */
    snprintf(path, sizeof(path), "/admin/api/pushes/%s/attempts", id);
    json_t *att = get(h, path);
    assert_string_equal(json_string_value(json_object_get(att, "state")), "dead");
    json_t *a = json_array_get(json_object_get(att, "attempts"), 0);
    assert_int_equal(json_array_size(json_object_get(att, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(a, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(a, "path")), "/v1/customers/cus_A");
    assert_true(json_integer_value(json_object_get(a, "request_bytes")) > 0);
    assert_true(json_string_length(json_object_get(a, "answer")) > 0);
    const char *text = sy_itr_text(h, json_object_get(att, "attempts"));
    if (strstr(text, SY_ITD_STRIPE_TOKEN) != NULL || strstr(text, "Bearer") != NULL || strstr(text, "ana.silva") != NULL)
        fail_msg("the attempt log holds a credential or a request body: %s", text);

    /* done pushes leave no log: every other push id the hub gave out has none */
    for (int pid = 1; pid <= 8; ++pid) {
        if (pid == atoi(id))
            continue;
        snprintf(path, sizeof(path), "/admin/api/pushes/%d/attempts", pid);
        json_t *other = get(h, path);
        if (json_array_size(json_object_get(other, "attempts")) != 0)
            fail_msg("push %d (not a dead letter) keeps an attempt log: %s", pid, sy_itr_text(h, other));
    }

    /* dead-letter drop: POST only, 404 for an unknown id, then gone with its log and its count */
    snprintf(path, sizeof(path), "/admin/api/dead/%s/drop", id);
    api(h, "GET", path, NULL, 405);
    api(h, "POST", "/admin/api/dead/987654/drop", "{}", 404);
    json_t *r = api(h, "POST", path, "{}", 200);
    assert_string_equal(json_string_value(json_object_get(r, "done")), "dropped");
    json_t *left = sy_itd_dead(h);
    if (json_array_size(left) != 1 || strcmp(json_string_value(json_object_get(json_array_get(left, 0), "spoke")), "hubspot") != 0)
        fail_msg("dead letter %s is still there after its drop: %s", id, sy_itr_text(h, left));
    json_t *st = get(h, "/admin/api/status");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(st, "delivery"), "spokes"), "stripe"), "dead")),
                     0);
    snprintf(path, sizeof(path), "/admin/api/pushes/%s/attempts", id);
    att = get(h, path);
    assert_string_equal(json_string_value(json_object_get(att, "state")), "gone");
    assert_int_equal(json_array_size(json_object_get(att, "attempts")), 0);
    snprintf(path, sizeof(path), "/admin/api/dead/%s/drop", id);
    api(h, "POST", path, "{}", 404); /* dropped once */
    sy_it_pass(h);
}

/* The founder's figures: Ana's active subscription is the one paying account, MRR her price's unit amount. */
static void test_revenue(void **state)
{
    sy_it_t *h;
    start(state, &h);
    json_t *rev = json_object_get(get(h, "/admin/api/health?max_age_s=0"), "revenue");
    assert_true(json_is_true(json_object_get(json_object_get(rev, "mapped"), "mrr")));
    assert_int_equal(json_integer_value(json_object_get(rev, "paying_accounts")), 1);
    assert_int_equal(json_integer_value(json_object_get(rev, "mrr_minor")), 4900);
    assert_int_equal(json_integer_value(json_object_get(rev, "paying_without_mrr")), 0);
    sy_itr_stripe(h, "evt_a3", "customer.subscription.updated", S0 + 10,
                  sy_itr_subscription("sub_A", "cus_A", "canceled", "price_basic", 4900));
    sy_itr_wait_applied(h);
    rev = json_object_get(get(h, "/admin/api/health?max_age_s=0"), "revenue");
    assert_int_equal(json_integer_value(json_object_get(rev, "paying_accounts")), 0);
    assert_int_equal(json_integer_value(json_object_get(rev, "mrr_minor")), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_event_browser, teardown),
        cmocka_unit_test_teardown(test_attempt_log_and_dead_drop, teardown),
        cmocka_unit_test_teardown(test_revenue, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
