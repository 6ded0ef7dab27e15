/*
 * Fetching what webhooks do not carry, on the real binary against the fake QuickBooks (sy_fake_spoke --api
 * quickbooks, one seeded customer): a signed legacy notification ("Customer 58 was updated", no values) makes the hub
 * read the customer with one Change Data Capture request; the object is logged as a Customer.Fetched event of its
 * own (signature "fetched") and the golden record gets its fields. A replay afterwards reads the log alone (the fake
 * sees no request). A kill -9 while the read is in flight: after the restart the fetch happens once, one Fetched
 * event. A tool that keeps failing: the notification is recorded as skipped with the reason, counted and alerted.
 * A 429 with Retry-After: waited out, read again, nothing skipped.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "connector.h"

#define QB_TOKEN "qbo-verifier-token-it"
#define QB_ACCESS "qbo-access-token-it"
#define REALM "9341455251541838"
#define REALM2 "123146096291789"
#define CDC "/v3/company/" REALM "/cdc?entities=Customer&changedSince="
#define TIMEOUT_S 40.0
#define S0_FETCH 1796000000LL /* a Stripe event time in the past of the hub's clock */

static const char qb_source[] = "  quickbooks:\n"
                                "    connector: quickbooks\n"
                                "    secrets: [{value: " QB_TOKEN "}]\n";

/* The connectors/README snippet's objects, QuickBooks owning what it holds. */
static const char policy_yaml[] = "entity: customer\n"
                                  "fields:\n"
                                  "  email: {owner: quickbooks, normalize: [email]}\n"
                                  "  name: {owner: quickbooks}\n"
                                  "  phone: {owner: quickbooks}\n"
                                  "identity:\n"
                                  "  strong: [email]\n"
                                  "sources:\n"
                                  "  quickbooks:\n"
                                  "    objects:\n"
                                  "      - events: [Customer.Fetched]\n"
                                  "        id: id\n"
                                  "        fields:\n"
                                  "          email: object.PrimaryEmailAddr.Address\n"
                                  "          name: object.DisplayName\n"
                                  "          phone: object.PrimaryPhone.FreeFormNumber\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* A hub with a quickbooks source whose api is the fake, which holds customer 58 of REALM and is in fault mode mode
 * (NULL: answers). */
static sy_it_t *start(void **state, sy_itd_fake_t **qb, const char *mode)
{
    sy_it_options_t opts = {.extra_sources = qb_source};
    sy_it_t *h = sy_it_create(state, &opts);
    *qb = sy_itd_fake_start(h, "quickbooks", QB_ACCESS, NULL, 1);
    sy_itd_set_api(h, "quickbooks", *qb, NULL);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", policy_yaml, strlen(policy_yaml)));
    sy_itd_fake_seed(*qb, json_pack("{s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:{s:s, s:{s:s}}}", REALM ":58", "DisplayName",
                                    "Pat Quinn", "SyncToken", "3", "PrimaryEmailAddr", "Address", "pat@acme.example",
                                    "PrimaryPhone", "FreeFormNumber", "+14155550123", REALM2 ":7", "DisplayName",
                                    "Lee Park", "PrimaryEmailAddr", "Address", "lee@other.example"));
    if (mode != NULL)
        sy_itd_fake_mode(*qb, mode, 0, 0, 0);
    sy_it_start(h);
    return h;
}

/* Posts Intuit's legacy notification, signed: customer 58 of REALM changed (and customer 7 of REALM2 with both).
 * Returns the first event's seq. */
static json_int_t notify_realms(sy_it_t *h, int both)
{
    char when[40], entity[160], body[512], sig[100], buf[128];
    time_t now = time(NULL) - 60;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(entity, sizeof(entity), "{\"name\":\"Customer\",\"id\":\"%%s\",\"operation\":\"Update\",\"lastUpdated\":\"%s\"}",
             when);
    char first[200], second[200];
    snprintf(first, sizeof(first), entity, "58");
    snprintf(second, sizeof(second), entity, "7");
    snprintf(body, sizeof(body),
             "{\"eventNotifications\":[{\"realmId\":\"" REALM "\",\"dataChangeEvent\":{\"entities\":[%s]}}%s%s%s]}",
             first, both ? ",{\"realmId\":\"" REALM2 "\",\"dataChangeEvent\":{\"entities\":[" : "", both ? second : "",
             both ? "]}}" : "");
    const sy_connector_t *c = sy_connector_find("quickbooks");
    sy_source_verify_t conf = {.num_secrets = 1};
    conf.secrets[0] = sy_slice_cstr(QB_TOKEN);
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body)};
    sy_header_t out[1];
    size_t n = 1;
    assert_int_equal(c->sign(&conf, conf.secrets[0], &req, out, &n, buf, sizeof(buf)), 0);
    snprintf(sig, sizeof(sig), "%.*s", (int)out[0].value.len, out[0].value.base);
    sy_it_headers_t hd = {0};
    sy_it_response_t res;
    sy_it_headers_add(&hd, "intuit-signature", sig);
    sy_it_headers_add(&hd, "Content-Type", "application/json");
    sy_it_post(h, "/hooks/quickbooks", &hd, body, strlen(body), &res);
    sy_it_headers_dispose(&hd);
    json_int_t seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    return seq;
}

static json_int_t notify(sy_it_t *h)
{
    return notify_realms(h, 0);
}

/* How many events of type the log holds for the quickbooks source (`log stats --json`). */
static json_int_t logged(sy_it_t *h, const char *type)
{
    json_t *stats = sy_it_cli_json(h, "log", "stats", "--json", NULL);
    json_t *types = json_object_get(json_object_get(json_object_get(stats, "by_source"), "quickbooks"), "types");
    return json_integer_value(json_object_get(types, type));
}

static int fetched(sy_it_t *h, void *arg)
{
    (void)arg;
    return logged(h, "Customer.Fetched") >= 1;
}

/* The fetched event at seq: what a replay reads instead of the network. */
static void assert_fetched_event(sy_it_t *h, json_int_t seq)
{
    json_t *ev = sy_it_log_show(h, seq);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "Customer.Fetched");
    assert_string_equal(json_string_value(json_object_get(ev, "signature")), "fetched");
    assert_string_equal(json_string_value(json_object_get(ev, "event_id")), REALM ":Customer:58:v3");
    json_t *body = json_object_get(ev, "body");
    assert_string_equal(json_string_value(json_object_get(body, "id")), REALM ":58");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "object"), "DisplayName")),
                        "Pat Quinn");
}

static void assert_golden(sy_it_t *h)
{
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "quickbooks:" REALM ":58");
    if (rec == NULL)
        fail_msg("no golden record for the fetched customer");
    assert_string_equal(sy_itr_field(rec, "name", "value"), "Pat Quinn");
    assert_string_equal(sy_itr_field(rec, "email", "value"), "pat@acme.example");
    assert_string_equal(sy_itr_field(rec, "phone", "value"), "+14155550123");
}

static void test_notification_fetched_into_the_log(void **state)
{
    sy_itd_fake_t *qb;
    sy_it_t *h = start(state, &qb, NULL);
    json_int_t seq = notify(h);
    sy_itd_wait(h, TIMEOUT_S, "a Customer.Fetched event in the log", fetched, NULL);
    assert_int_equal(logged(h, "Customer.Fetched"), 1);
    assert_fetched_event(h, seq + 1);
    assert_golden(h);

    /* One CDC read, naming the entity and the notification's time; nothing else was asked. */
    json_t *log = sy_itd_fake_requests(qb);
    if (sy_itd_count(log, "GET", CDC, 200) != 1 || sy_itd_count(log, NULL, NULL, -1) != 1)
        fail_msg("expected one CDC read; the fake saw %s", sy_itr_text(h, log));
    assert_non_null(strstr(json_string_value(json_object_get(sy_itd_find(log, "GET", CDC, 200), "path")),
                           "&minorversion=75"));
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"ok\"}") == 1);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"objects\"}") == 1);

    /* A replay reads the log alone: same record, no request. */
    json_t *before = sy_itr_record(h, "quickbooks:" REALM ":58");
    sy_itr_cli_ok(h, 0, "replay", "--mode", "reapply", NULL);
    assert_golden(h);
    json_t *after = sy_itr_record(h, "quickbooks:" REALM ":58");
    assert_true(json_equal(json_object_get(before, "fields"), json_object_get(after, "fields")));
    log = sy_itd_fake_requests(qb);
    if (sy_itd_count(log, NULL, NULL, -1) != 1)
        fail_msg("the replay reached the tool: %s", sy_itr_text(h, log));
    assert_int_equal(logged(h, "Customer.Fetched"), 1);
    sy_it_pass(h);
}

static int read_in_flight(sy_it_t *h, void *arg)
{
    (void)h;
    return sy_itd_fake_counter(arg, "hung") >= 1;
}

static void test_kill9_before_the_fetch_answers(void **state)
{
    sy_itd_fake_t *qb;
    sy_it_t *h = start(state, &qb, "hang");
    json_int_t seq = notify(h);
    sy_itd_wait(h, TIMEOUT_S, "the CDC read to be in flight", read_in_flight, qb);
    sy_it_kill(h); /* the notification is acknowledged and logged; its object is not */
    sy_it_disconnect(h);
    assert_int_equal(logged(h, "Customer.Fetched"), 0);
    sy_itd_fake_mode(qb, "ok", 0, 0, 0);

    sy_it_start(h);
    sy_itd_wait(h, TIMEOUT_S, "a Customer.Fetched event after the restart", fetched, NULL);
    assert_fetched_event(h, seq + 1);
    assert_golden(h);
    json_t *log = sy_itd_fake_requests(qb);
    if (sy_itd_count(log, "GET", CDC, 200) != 1)
        fail_msg("expected one answered CDC read after the restart; the fake saw %s", sy_itr_text(h, log));

    /* A clean restart fetches nothing again: the cursor committed with the fetched event is past the notification. */
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_disconnect(h);
    sy_it_start(h);
    assert_true(sy_itd_metric(h, "switchyard_fetch_cursor") >= (double)seq);
    assert_int_equal(logged(h, "Customer.Fetched"), 1);
    assert_int_equal(sy_itd_count(sy_itd_fake_requests(qb), "GET", CDC, 200), 1);
    sy_it_pass(h);
}

static int skipped(sy_it_t *h, void *arg)
{
    (void)arg;
    sy_it_output_t o;
    sy_it_cli(h, &o, "log", "skipped", "--json", NULL);
    int found = o.status == 0 && strstr(o.out, "\"reason\"") != NULL;
    sy_it_output_dispose(&o);
    return found;
}

static void test_failing_tool_skips_with_a_trace(void **state)
{
    sy_itd_fake_t *qb;
    sy_it_t *h = start(state, &qb, "error500");
    json_int_t seq = notify(h);
    sy_itd_wait(h, TIMEOUT_S, "the notification recorded as skipped", skipped, NULL);
    json_t *entry = sy_it_cli_json(h, "log", "skipped", "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(entry, "seq")), seq);
    const char *reason = json_string_value(json_object_get(entry, "reason"));
    if (reason == NULL || strstr(reason, "not fetched") == NULL || strstr(reason, "HTTP 500 (after retries)") == NULL)
        fail_msg("unexpected reason: %s", reason != NULL ? reason : "(none)");
    /* Retried with backoff (4 attempts), then given up, counted and alerted. */
    assert_int_equal(sy_itd_count(sy_itd_fake_requests(qb), "GET", CDC, 500), 4);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"skipped\"}") == 1);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"retried\"}") == 4);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"failed\"}") == 1);
    char auth[128];
    sy_it_response_t res;
    snprintf(auth, sizeof(auth), "Bearer %s", h->admin_token);
    sy_it_admin_get(h, "/admin/api/alerts", auth, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"event_skipped\""));
    assert_non_null(strstr(res.body, "not fetched"));
    sy_it_response_dispose(&res);
    assert_int_equal(logged(h, "Customer.Fetched"), 0);
    sy_it_pass(h);
}

static int both_fetched(sy_it_t *h, void *arg)
{
    (void)arg;
    return logged(h, "Customer.Fetched") >= 2;
}

static void test_rate_limited_read_waits_and_succeeds(void **state)
{
    sy_itd_fake_t *qb;
    sy_it_t *h = start(state, &qb, NULL);
    /* One accepted request per 5 s: the second realm's read, sent at the source's pace right after the first, is
     * refused with 429 and Retry-After; the hub waits it out and reads again, without a skip. */
    sy_itd_fake_rate(qb, 1, 5000, 1);
    notify_realms(h, 1);
    sy_itd_wait(h, TIMEOUT_S, "both realms' customers in the log", both_fetched, NULL);
    assert_int_equal(logged(h, "Customer.Fetched"), 2);
    assert_true(sy_itd_fake_counter(qb, "rate_limited") >= 1);
    assert_true(sy_itd_fake_counter(qb, "max_in_window") <= 1);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"rate_limited\"}") >= 1);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"ok\"}") == 2);
    assert_true(sy_itd_metric(h, "switchyard_fetches_total{source=\"quickbooks\",outcome=\"skipped\"}") == 0);
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "quickbooks:" REALM2 ":7");
    if (rec == NULL)
        fail_msg("no golden record for the second realm's customer");
    assert_string_equal(sy_itr_field(rec, "name", "value"), "Lee Park");
    sy_it_pass(h);
}

/* Reconcile from Change Data Capture: no notification ever came; the configured realms are read since a time and
 * their objects logged as the fetcher would have (same ids: reconcile and fetches never log a version twice). */
static void test_reconcile_reads_the_realms(void **state)
{
    static const char source[] = "  quickbooks:\n"
                                 "    connector: quickbooks\n"
                                 "    realms: \"" REALM "," REALM2 "\"\n"
                                 "    secrets: [{value: " QB_TOKEN "}]\n";
    sy_it_options_t opts = {.extra_sources = source};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *qb = sy_itd_fake_start(h, "quickbooks", QB_ACCESS, NULL, 1);
    sy_itd_set_api(h, "quickbooks", qb, NULL);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", policy_yaml, strlen(policy_yaml)));
    sy_itd_fake_seed(qb, json_pack("{s:{s:s, s:s, s:{s:s}, s:{s:s}}, s:{s:s, s:{s:s}}}", REALM ":58", "DisplayName",
                                   "Pat Quinn", "SyncToken", "3", "PrimaryEmailAddr", "Address", "pat@acme.example",
                                   "PrimaryPhone", "FreeFormNumber", "+14155550123", REALM2 ":7", "DisplayName",
                                   "Lee Park", "PrimaryEmailAddr", "Address", "lee@other.example"));
    sy_it_start(h);
    char since[32];
    time_t t = (time_t)(sy_now_ms() / 1000 - 10 * 86400);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    json_t *run = sy_it_cli_json(h, "reconcile", "quickbooks", "--since", since, "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(run, "pages")), 2); /* one CDC read per realm */
    assert_int_equal(json_integer_value(json_object_get(run, "appended")), 2);
    assert_golden(h);
    json_t *ev = sy_it_log_show(h, 1);
    assert_string_equal(json_string_value(json_object_get(ev, "signature")), "reconciled");
    assert_non_null(sy_itr_record(h, "quickbooks:" REALM2 ":7"));
    json_t *again = sy_it_cli_json(h, "reconcile", "quickbooks", "--since", since, "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(again, "missing")), 0);
    assert_int_equal(json_integer_value(json_object_get(again, "in_log")), 2);
    sy_it_pass(h);
}

/* A record's open invoices (the health report) named by the record's id; 0 if none. */
static size_t invoices_listed(json_t *list, const char *record)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "record")), record) == 0)
            n += json_array_size(json_object_get(e, "invoices"));
    }
    return n;
}

/*
 * Invoices in the health report: QuickBooks' open invoice on a customer no billing tool knows is unmatched; once
 * Stripe bills the same customer (one email, so one golden record) with an active subscription, the customer is
 * billed by two tools (double billing) and the invoice is no longer unmatched. A paid invoice counts for neither.
 */
static void test_invoices_in_the_health_report(void **state)
{
    static const char source[] = "  quickbooks:\n"
                                 "    connector: quickbooks\n"
                                 "    realms: \"" REALM "\"\n"
                                 "    secrets: [{value: " QB_TOKEN "}]\n";
    static const char policy_qb_stripe[] = "entity: customer\n"
                                           "fields:\n"
                                           "  email: {owner: quickbooks, normalize: [email]}\n"
                                           "  name: {owner: quickbooks}\n"
                                           "  subscription_status: {owner: stripe}\n"
                                           "identity:\n"
                                           "  strong: [email]\n"
                                           "sources:\n"
                                           "  quickbooks:\n"
                                           "    objects:\n"
                                           "      - events: [Customer.Fetched]\n"
                                           "        id: id\n"
                                           "        fields: {email: object.PrimaryEmailAddr.Address, name: object.DisplayName}\n"
                                           "      - events: [Invoice.Fetched]\n"
                                           "        id: customer\n"
                                           "  stripe:\n"
                                           "    objects:\n"
                                           "      - events: [customer.created]\n"
                                           "        id: data.object.id\n"
                                           "        fields: {email: data.object.email}\n"
                                           "      - events: [\"customer.subscription.*\"]\n"
                                           "        id: data.object.customer\n"
                                           "        fields: {subscription_status: data.object.status}\n";
    sy_it_options_t opts = {.extra_sources = source};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *qb = sy_itd_fake_start(h, "quickbooks", QB_ACCESS, NULL, 1);
    sy_itd_set_api(h, "quickbooks", qb, NULL);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", policy_qb_stripe, strlen(policy_qb_stripe)));
    sy_itd_fake_seed(qb, json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s, s:s, s:{s:s}, s:f}, s:{s:s, s:s, s:{s:s}, s:f}}",
                                   REALM ":58", "DisplayName", "Pat Quinn", "SyncToken", "3", "PrimaryEmailAddr",
                                   "Address", "pat@acme.example", REALM ":1001", "_entity", "Invoice", "SyncToken", "1",
                                   "CustomerRef", "value", "58", "Balance", 120.0, REALM ":1002", "_entity", "Invoice",
                                   "SyncToken", "0", "CustomerRef", "value", "58", "Balance", 0.0));
    sy_it_start(h);
    char since[32];
    time_t t = (time_t)(sy_now_ms() / 1000 - 10 * 86400);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    json_t *run = sy_it_cli_json(h, "reconcile", "quickbooks", "--since", since, "--json", NULL);
    assert_int_equal(json_integer_value(json_object_get(run, "appended")), 3); /* the customer and two invoices */
    sy_itr_wait_applied(h);
    const char *pat = sy_itr_id(sy_itr_record(h, "quickbooks:" REALM ":58"));
    json_t *health = sy_itr_health(h);
    assert_int_equal(invoices_listed(json_object_get(health, "unmatched_invoices"), pat), 1); /* the open one */
    assert_int_equal(json_array_size(json_object_get(health, "double_billing")), 0);

    /* Stripe bills Pat too: one record (the email), an active subscription and an open QuickBooks invoice. */
    sy_itr_stripe(h, "evt_pat1", "customer.created", S0_FETCH, sy_itr_customer("cus_Pat", "pat@acme.example", "Pat", NULL, NULL));
    sy_itr_stripe(h, "evt_pat2", "customer.subscription.created", S0_FETCH + 1,
                  sy_itr_subscription("sub_pat", "cus_Pat", "active", "price_growth", 4900));
    sy_itr_wait_applied(h);
    assert_string_equal(sy_itr_id(sy_itr_record(h, "stripe:cus_Pat")), pat);
    health = sy_itr_health(h);
    assert_int_equal(invoices_listed(json_object_get(health, "unmatched_invoices"), pat), 0);
    json_t *billed = json_array_get(json_object_get(health, "double_billing"), 0);
    assert_non_null(billed);
    assert_string_equal(json_string_value(json_object_get(billed, "record")), pat);
    assert_string_equal(json_string_value(json_array_get(json_object_get(billed, "invoices"), 0)),
                        "quickbooks:" REALM ":1001");
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_notification_fetched_into_the_log, teardown),
        cmocka_unit_test_teardown(test_kill9_before_the_fetch_answers, teardown),
        cmocka_unit_test_teardown(test_failing_tool_skips_with_a_trace, teardown),
        cmocka_unit_test_teardown(test_rate_limited_read_waits_and_succeeds, teardown),
        cmocka_unit_test_teardown(test_reconcile_reads_the_realms, teardown),
        cmocka_unit_test_teardown(test_invoices_in_the_health_report, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
