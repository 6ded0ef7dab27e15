/*
 * The admin JSON API on the real binary: the bearer token guards every endpoint (the dashboard's files excepted),
 * errors are JSON with the right status, and each endpoint agrees with the CLI on the same data.
 */
#include "harness_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL
#define HS0 1750000000000LL

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static sy_it_t *start(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *text = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
    sy_it_start(h);
    sy_itr_stripe(h, "evt_a1", "customer.created", S0, sy_itr_customer("cus_A", "ana@acme.example", "Ana", NULL, "51"));
    sy_itr_stripe(h, "evt_b1", "customer.created", S0, sy_itr_customer("cus_B", "bo@nova.example", "Bo", NULL, NULL));
    sy_itr_hs_change(h, 1, 51, HS0 + 1000, "email", "ana.silva@acme.example");
    sy_itr_wait_applied(h);
    return h;
}

/* A request to the admin listener with the right token; body may be NULL. Returns the parsed JSON (owned). */
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

static void test_token_guards_the_api_but_not_the_page(void **state)
{
    sy_it_t *h = start(state);
    static const char *const paths[] = {"/admin/api/status", "/admin/api/health", "/admin/api/records?q=cust_1",
                                        "/admin/api/queue", "/admin/api/events", "/admin/api/map"};
    for (size_t i = 0; i != sizeof(paths) / sizeof(paths[0]); ++i) {
        sy_it_response_t res;
        sy_it_admin_get(h, paths[i], NULL, &res);
        assert_int_equal(res.status, 401);
        assert_non_null(strstr(res.body, "\"error\":\"unauthorized\""));
        sy_it_response_dispose(&res);
        sy_it_admin_get(h, paths[i], "Bearer wrong-token-of-the-same-length!!", &res);
        assert_int_equal(res.status, 401);
        sy_it_response_dispose(&res);
    }
    /* The page loads without a token: it asks for one. */
    sy_it_response_t page;
    sy_it_admin_get(h, "/admin/", NULL, &page);
    assert_int_equal(page.status, 200);
    assert_non_null(strstr(page.body, "<html"));
    sy_it_response_dispose(&page);
    json_t *nf = api(h, "GET", "/admin/api/nope", NULL, 404);
    assert_string_equal(json_string_value(json_object_get(nf, "error")), "not_found");
    sy_it_pass(h);
}

static void test_endpoints_agree_with_the_cli(void **state)
{
    sy_it_t *h = start(state);
    json_t *status = api(h, "GET", "/admin/api/status", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(status, "log"), "last_seq")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(status, "applier"), "lag")), 0);
    json_t *stripe = json_object_get(json_object_get(json_object_get(status, "ingress"), "sources"), "stripe");
    assert_int_equal(json_integer_value(json_object_get(stripe, "accepted")), 2);

    json_t *found = api(h, "GET", "/admin/api/records?q=ana.silva%40acme.example", NULL, 200);
    json_t *rec = json_array_get(json_object_get(found, "results"), 0);
    json_t *cli = sy_itr_record(h, "ana.silva@acme.example");
    assert_string_equal(sy_itr_id(rec), sy_itr_id(cli));
    assert_string_equal(sy_itr_field(rec, "email", "source"), "hubspot");
    json_t *by_name = api(h, "GET", "/admin/api/records?q=bo", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(by_name, "results")), 0); /* Bo's name is Stripe's, not golden */
    api(h, "GET", "/admin/api/records/cust_999", NULL, 404);
    api(h, "GET", "/admin/api/records", NULL, 400);

    json_t *health = api(h, "GET", "/admin/api/health?max_age_s=0", NULL, 200);
    json_t *cli_health = sy_itr_health(h);
    assert_int_equal(json_integer_value(json_object_get(health, "records")),
                     json_integer_value(json_object_get(cli_health, "records")));
    assert_true(json_is_real(json_object_get(health, "score")));
    assert_non_null(json_object_get(json_object_get(health, "per_field"), "email"));

    json_t *queue = api(h, "GET", "/admin/api/queue", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(queue, "queue")), json_array_size(sy_itr_queue(h)));
    json_t *events = api(h, "GET", "/admin/api/events?source=stripe", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(events, "events")), 2);
    json_t *one = api(h, "GET", "/admin/api/events/1", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(one, "event_id")), "evt_a1");
    assert_non_null(json_object_get(json_object_get(one, "body"), "data"));
    api(h, "GET", "/admin/api/events/77", NULL, 404);

    json_t *map = api(h, "GET", "/admin/api/map?format=json", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(map, "tools")), 2);
    assert_int_equal(json_array_size(json_object_get(map, "flows")), 2);
    sy_it_pass(h);
}

static void test_changes_through_the_api(void **state)
{
    sy_it_t *h = start(state);
    /* Queue: drop one push, 404 for an unknown id, 405 for GET. */
    json_t *queue = sy_itr_queue(h);
    assert_true(json_array_size(queue) >= 1);
    char path[256];
    snprintf(path, sizeof(path), "/admin/api/queue/%s/drop", sy_itr_id(json_array_get(queue, 0)));
    api(h, "POST", path, NULL, 200);
    assert_int_equal(json_array_size(sy_itr_queue(h)), json_array_size(queue) - 1);
    api(h, "POST", "/admin/api/queue/99999/retry", NULL, 404);
    api(h, "GET", "/admin/api/queue/1/retry", NULL, 405);
    api(h, "POST", "/admin/api/dead/5/retry", NULL, 404);

    /* Merge and split by API, bad bodies refused. */
    json_t *a = sy_itr_record(h, "stripe:cus_A"), *b = sy_itr_record(h, "stripe:cus_B");
    char body[256];
    snprintf(body, sizeof(body), "{\"keep\":\"%s\",\"drop\":\"%s\"}", sy_itr_id(a), sy_itr_id(b));
    json_t *merged = api(h, "POST", "/admin/api/records/merge", body, 200);
    assert_string_equal(json_string_value(json_object_get(merged, "kept")), sy_itr_id(a));
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_B")), sy_itr_id(a));
    api(h, "POST", "/admin/api/records/merge", body, 409); /* already one record */
    snprintf(body, sizeof(body), "{\"record\":\"%s\",\"object\":\"stripe:cus_B\"}", sy_itr_id(a));
    json_t *split = api(h, "POST", "/admin/api/records/split", body, 200);
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_B")),
                        json_string_value(json_object_get(split, "new_record")));
    api(h, "POST", "/admin/api/records/merge", "not json", 400);
    api(h, "POST", "/admin/api/records/merge", "{\"keep\":\"cust_1\"}", 400);

    /* Policy check of a posted file: line and column of the mistake, nothing changes. */
    json_t *bad = api(h, "POST", "/admin/api/policy/check", "entity: customer\nfields:\n  x: {owner: nope}\n", 422);
    assert_int_equal(json_integer_value(json_object_get(bad, "line")), 3);
    assert_non_null(strstr(json_string_value(json_object_get(bad, "message")), "policy.yaml:3:"));
    json_t *good = api(h, "POST", "/admin/api/policy/check", sy_itr_example_policy(h), 200);
    assert_true(json_is_true(json_object_get(good, "ok")));
    json_t *running = api(h, "GET", "/admin/api/policy", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(good, "hash")),
                        json_string_value(json_object_get(running, "hash")));
    sy_it_pass(h);
}

/* Polls a replay job until it is no longer running (bounded). */
static json_t *wait_job(sy_it_t *h, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/admin/api/replay/%s", id);
    for (int i = 0; i != 400; ++i) {
        json_t *job = api(h, "GET", path, NULL, 200);
        if (strcmp(json_string_value(json_object_get(job, "state")), "running") != 0)
            return job;
        usleep(50000);
    }
    fail_msg("replay job %s still running after 20 s", id);
    return NULL;
}

static void test_replay_jobs(void **state)
{
    sy_it_t *h = start(state);
    char *records0 = sy_it_own(h, json_dumps(sy_itr_records(h), JSON_COMPACT | JSON_SORT_KEYS), free);
    json_t *job = api(h, "POST", "/admin/api/replay", "{\"mode\":\"reapply\",\"dry_run\":true}", 202);
    json_t *done = wait_job(h, json_string_value(json_object_get(job, "id")));
    assert_string_equal(json_string_value(json_object_get(done, "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(done, "read")), 3);
    assert_int_equal(json_integer_value(json_object_get(done, "selected")), 3);
    assert_int_equal(json_array_size(json_object_get(done, "changes")), 0); /* reapplying changes nothing */
    char *records1 = sy_it_own(h, json_dumps(sy_itr_records(h), JSON_COMPACT | JSON_SORT_KEYS), free);
    assert_string_equal(records1, records0);

    /* Repush for Stripe: drop the queue first, then the job queues the golden values again. */
    json_t *queue = sy_itr_queue(h), *p;
    size_t i;
    json_array_foreach(queue, i, p) sy_itr_cli_ok(h, 0, "queue", "drop", sy_itr_id(p), NULL);
    job = api(h, "POST", "/admin/api/replay", "{\"mode\":\"repush\",\"spoke\":\"stripe\",\"source\":\"hubspot\"}", 202);
    done = wait_job(h, json_string_value(json_object_get(job, "id")));
    assert_string_equal(json_string_value(json_object_get(done, "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(done, "selected")), 1);
    json_t *first;
    assert_int_equal(sy_itr_pushes(sy_itr_queue(h), "stripe", NULL, &first), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "fields"), "email")),
                        "ana.silva@acme.example");
    json_t *jobs = api(h, "GET", "/admin/api/replay", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(jobs, "jobs")), 2);
    api(h, "POST", "/admin/api/replay", "{\"mode\":\"repush\"}", 400);
    api(h, "POST", "/admin/api/replay", "{\"since\":\"last tuesday\"}", 400);
    api(h, "GET", "/admin/api/replay/replay-99", NULL, 404);
    sy_it_pass(h);
}

/* Health figures on a crafted data set: one complete and connected record, one with a gap, one billing-only. */
static void test_health_figures_on_crafted_data(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    const char *text = sy_itr_example_policy(h);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
    sy_it_start(h);
    /* 1: HubSpot contact 61 with email, name and company, linked to Stripe cus_C (complete, connected). */
    sy_itr_hs_change(h, 1, 61, HS0 + 1, "email", "cleo@acme.example");
    sy_itr_hs_change(h, 2, 61, HS0 + 2, "name", "Cleo");
    sy_itr_hs_change(h, 3, 61, HS0 + 3, "company", "Acme");
    sy_itr_stripe(h, "evt_c", "customer.created", S0, sy_itr_customer("cus_C", "cleo@acme.example", "Cleo", NULL, "61"));
    /* 2: HubSpot contact 62 without a company (a gap), not in Stripe (not connected). */
    sy_itr_hs_change(h, 4, 62, HS0 + 4, "email", "dan@beta.example");
    sy_itr_hs_change(h, 5, 62, HS0 + 5, "name", "Dan");
    /* 3: a Stripe customer paying invoices that no CRM object is linked to (unmatched billing). */
    sy_itr_stripe(h, "evt_u", "customer.created", S0, sy_itr_customer("cus_U", "u@nowhere.example", "U", NULL, NULL));
    sy_itr_stripe(h, "evt_i", "invoice.paid", S0 + 1, sy_itr_invoice("in_1", "cus_U", "paid", "u@nowhere.example"));
    sy_itr_wait_applied(h);

    json_t *health = api(h, "GET", "/admin/api/health", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(health, "records")), 3);
    assert_int_equal(json_integer_value(json_object_get(health, "complete_records")), 1);
    assert_int_equal(json_integer_value(json_object_get(health, "connected_records")), 1);
    assert_int_equal(json_integer_value(json_object_get(health, "unmatched_billing")), 1);
    double score = json_real_value(json_object_get(health, "score"));
    assert_true(score > 0.333 && score < 0.334); /* 1 of 3 complete and connected, against the 95 % target */
    json_t *missing = json_object_get(health, "missing_fields");
    assert_int_equal(json_integer_value(json_object_get(missing, "company")), 2);
    assert_int_equal(json_integer_value(json_object_get(missing, "name")), 1);
    assert_int_equal(json_integer_value(json_object_get(missing, "email")), 1);
    /* The CLI says the same. */
    json_t *cli = sy_itr_health(h);
    assert_int_equal(json_integer_value(json_object_get(cli, "unmatched_billing")), 1);
    assert_int_equal(json_integer_value(json_object_get(cli, "complete_records")), 1);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_token_guards_the_api_but_not_the_page, teardown),
        cmocka_unit_test_teardown(test_endpoints_agree_with_the_cli, teardown),
        cmocka_unit_test_teardown(test_changes_through_the_api, teardown),
        cmocka_unit_test_teardown(test_replay_jobs, teardown),
        cmocka_unit_test_teardown(test_health_figures_on_crafted_data, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
