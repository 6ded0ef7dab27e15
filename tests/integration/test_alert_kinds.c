/*
 * The alert kinds no other test raised end to end (issue 13), each caused for real and each delivered to the local
 * Slack-like receiver and the Standard Webhooks receiver (tests/fakes/sy_fake_spoke --api slack | webhook, which
 * verifies every signature with its own code):
 *
 *   - event_skipped: a logged event the applier cannot apply (a provider time ten years ahead, as an older hub
 *     logged it before ingress checked), one alert about its source;
 *   - conflict: a tool that does not own a field whose policy says on_conflict: alert changes it;
 *   - duplicate and double_billing: two Stripe customers with one email are one golden record (the health report
 *     lists two objects of one tool), each with an active subscription (two on one customer);
 *   - schema_drift: a mapped path changes JSON type, the alert naming the path and the policy field;
 *   - applier_lag: the applier paused by an operator (`switchyard applier pause`) while events keep coming, resolved
 *     once it is resumed and has caught up.
 */
#include "harness_alerts.h"
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "codec.h"
#include "store.h"
#include "../support/log_append.h"

#define S0 1750000000LL
#define HS0 1750000000000LL
#define WAIT_S 45.0
#define WH_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

typedef struct st_want_t {
    const char *kind, *source;
    sy_itd_fake_t *webhook, *slack;
} want_t;

static int alert_seen(sy_it_t *h, void *arg)
{
    const want_t *w = arg;
    json_t *list = sy_ita_alerts(h);
    int ok = sy_ita_find(list, w->kind, w->source, "open") != NULL;
    sy_it_release(h, list);
    return ok && sy_ita_webhook_has(w->webhook, "alert.raised", w->kind, w->source) && sy_ita_slack_has(w->slack, w->kind, 0);
}

/* Waits until the alert is open and both receivers got it; returns it (owned by the harness). */
static json_t *wait_alert(sy_it_t *h, want_t w)
{
    char what[200];
    snprintf(what, sizeof(what), "an open %s alert about \"%s\", delivered to the webhook receiver and to Slack", w.kind,
             w.source);
    sy_itd_wait(h, WAIT_S, what, alert_seen, &w);
    return sy_ita_find(sy_ita_alerts(h), w.kind, w.source, "open");
}

static void assert_says(sy_it_t *h, json_t *a, const char *field, const char *needle)
{
    if (strstr(sy_ita_str(a, field), needle) == NULL)
        fail_msg("alert %s: %s lacks \"%s\": %s", sy_ita_str(a, "kind"), field, needle, sy_itr_text(h, a));
}

/* Appends the alerts section (both notifiers, and more keys: "" or "  key: value\n" lines) to the generated config. */
static void add_alerts_config(sy_it_t *h, sy_itd_fake_t *slack, sy_itd_fake_t *webhook, const char *more)
{
    size_t len;
    char *conf = sy_it_slurp(h->config_path, &len), extra[1024];
    assert_non_null(conf);
    int n = snprintf(extra, sizeof(extra),
                     "alerts:\n  check_interval: 200ms\n%s  notify:\n"
                     "    slack: {url: \"%s/services/T000/B000/XXXX\"}\n"
                     "    webhook: {url: \"%s/hooks/switchyard\", secret: {value: \"%s\"}}\n",
                     more, slack->base_url, webhook->base_url, WH_SECRET);
    char *all = sy_it_alloc(h, len + (size_t)n + 1);
    memcpy(all, conf, len);
    memcpy(all + len, extra, (size_t)n + 1);
    free(conf);
    sy_it_write_file(h, "switchyard.yaml", all, strlen(all));
}

/* A customer.updated an older hub logged without today's checks: its provider time is ten years ahead. */
static void append_unappliable(sy_it_t *h)
{
    sy_store_t *store;
    sy_error_t err = {0};
    int64_t future_s = sy_now_ms() / 1000 + 10 * 365 * 86400LL;
    char *body = sy_it_alloc(h, 512);
    snprintf(body, 512,
             "{\"id\":\"evt_future\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%lld,"
             "\"livemode\":false,\"type\":\"customer.updated\",\"data\":{\"object\":{\"id\":\"cus_F\",\"object\":"
             "\"customer\",\"email\":\"fut@x.test\",\"name\":\"Fu Ture\",\"metadata\":{}}}}",
             (long long)future_s);
    sy_event_t ev = {.received_at_ms = sy_now_ms(), .occurred_at_ms = future_s * 1000, .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"), .event_id = SY_SLICE_LIT("evt_future"),
                     .type = SY_SLICE_LIT("customer.updated"), .signature = SY_SLICE_LIT("stripe-v1"), .batch_size = 1,
                     .body = sy_slice_cstr(body)};
    assert_int_equal(sy_store_open(&store, h->data_dir, 64u << 20, 64u << 20, SY_STORE_CREATE, &err), 0);
    assert_int_equal(sy_test_append_event(store, &ev), 0);
    sy_store_close(store);
}

static void test_alert_kinds_raised_and_notified(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    setenv("SY_FAKE_WEBHOOK_SECRET", WH_SECRET, 1);
    sy_itd_fake_t *slack = sy_itd_fake_start(h, "slack", "", "100/1000", 1);
    sy_itd_fake_t *webhook = sy_itd_fake_start(h, "webhook", "", NULL, 1);
    /* the example policy, with phone (HubSpot's) alerting on a conflict instead of ignoring it */
    char *text = sy_itr_replace(h, sy_itr_example_policy(h), "normalize: [phone_e164]\n    on_conflict: ignore",
                                "normalize: [phone_e164]\n    on_conflict: alert");
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", text, strlen(text)));
    add_alerts_config(h, slack, webhook, "");
    append_unappliable(h);
    sy_it_start(h);

    /* event_skipped: the logged event nobody can apply, at start */
    json_t *a = wait_alert(h, (want_t){"event_skipped", "stripe", webhook, slack});
    assert_says(h, a, "message", "outside the accepted window");

    /* conflict: HubSpot owns Kim's phone; Stripe changes it */
    sy_itr_hs_change(h, 7001, 61, HS0 + 1000, "email", "kim@kinds.test");
    sy_itr_hs_change(h, 7002, 61, HS0 + 2000, "phone", "+15550001");
    sy_itr_stripe(h, "evt_k1", "customer.created", S0 + 3, sy_itr_customer("cus_K", "kim@kinds.test", "Kim Ko", "+15550001", "61"));
    sy_itr_stripe(h, "evt_k2", "customer.updated", S0 + 4, sy_itr_customer("cus_K", "kim@kinds.test", "Kim Ko", "+15559999", "61"));
    sy_itr_wait_applied(h);
    a = wait_alert(h, (want_t){"conflict", "stripe", webhook, slack});
    if (strcmp(sy_ita_str(a, "field"), "phone") != 0 || sy_ita_str(a, "record")[0] == '\0')
        fail_msg("conflict alert: expected record and field phone: %s", sy_itr_text(h, a));
    assert_string_equal(sy_ita_str(a, "record"), sy_itr_id(sy_itr_record(h, "stripe:cus_K")));

    /* duplicate and double_billing: two Stripe customers of one email, each paying */
    sy_itr_stripe(h, "evt_p1", "customer.created", S0 + 5, sy_itr_customer("cus_P1", "pat@kinds.test", "Pat Dee", NULL, NULL));
    sy_itr_stripe(h, "evt_p2", "customer.created", S0 + 6, sy_itr_customer("cus_P2", "pat@kinds.test", "Pat Dee", NULL, NULL));
    sy_itr_stripe(h, "evt_s1", "customer.subscription.created", S0 + 7,
                  sy_itr_subscription("sub_1", "cus_P1", "active", "price_basic", 4900));
    sy_itr_stripe(h, "evt_s2", "customer.subscription.created", S0 + 8,
                  sy_itr_subscription("sub_2", "cus_P2", "active", "price_basic", 4900));
    sy_itr_wait_applied(h);
    const char *pat = sy_itr_id(sy_itr_record(h, "stripe:cus_P1"));
    assert_string_equal(pat, sy_itr_id(sy_itr_record(h, "stripe:cus_P2")));
    a = wait_alert(h, (want_t){"duplicate", "stripe", webhook, slack});
    assert_string_equal(sy_ita_str(a, "record"), pat);
    assert_says(h, a, "message", "cus_P1");
    assert_says(h, a, "message", "cus_P2");
    a = wait_alert(h, (want_t){"double_billing", "", webhook, slack});
    assert_string_equal(sy_ita_str(a, "record"), pat);
    assert_says(h, a, "message", "sub_1");
    assert_says(h, a, "message", "sub_2");

    /* schema_drift: customer.created's email, a string in every event so far, arrives as a number */
    json_t *odd = sy_itr_customer("cus_Z", NULL, "Zed Zee", NULL, NULL);
    json_object_set_new(odd, "email", json_integer(42));
    json_int_t seq = sy_itr_stripe(h, "evt_z", "customer.created", S0 + 9, odd);
    sy_itr_wait_applied(h);
    a = wait_alert(h, (want_t){"schema_drift", "stripe", webhook, slack});
    assert_string_equal(sy_ita_str(a, "field"), "customer.created data.object.email");
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), seq);
    assert_says(h, a, "message", "expected string, seen number");
    assert_says(h, a, "message", "policy fields: email");

    /* every webhook message carried a valid Standard Webhooks signature (the receiver answers 401 otherwise) */
    json_t *reqs = sy_itd_fake_requests(webhook);
    assert_true(json_array_size(reqs) >= 5);
    assert_int_equal(sy_itd_count(reqs, NULL, NULL, 401), 0);
    sy_it_pass(h);
}

static int lag_resolved(sy_it_t *h, void *arg)
{
    return sy_ita_find(sy_ita_alerts(h), "applier_lag", NULL, "resolved") != NULL;
}

static void test_applier_lag(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    setenv("SY_FAKE_WEBHOOK_SECRET", WH_SECRET, 1);
    sy_itd_fake_t *slack = sy_itd_fake_start(h, "slack", "", "100/1000", 1);
    sy_itd_fake_t *webhook = sy_itd_fake_start(h, "webhook", "", NULL, 1);
    sy_itd_use_example_policy(h);
    add_alerts_config(h, slack, webhook, "  applier_lag: 3\n");
    sy_it_start(h);
    char *out = sy_itr_cli_ok(h, 0, "applier", "pause", NULL);
    assert_non_null(strstr(out, "paused"));
    json_t *st = sy_itr_status(h);
    assert_true(json_is_true(json_object_get(json_object_get(st, "applier"), "paused")));
    /* Webhooks are still taken and logged while the records stand still. */
    for (int i = 0; i != 5; ++i) {
        char id[32], cus[32], email[48];
        snprintf(id, sizeof(id), "evt_lag%d", i);
        snprintf(cus, sizeof(cus), "cus_Lag%d", i);
        snprintf(email, sizeof(email), "lag%d@kinds.test", i);
        sy_itr_stripe(h, id, "customer.created", S0 + i, sy_itr_customer(cus, email, "Lag", NULL, NULL));
    }
    assert_int_equal(sy_it_log_count(h), 5);
    json_t *a = wait_alert(h, (want_t){"applier_lag", "", webhook, slack});
    assert_says(h, a, "message", "5 events behind the log");
    /* Resumed, it catches up from its cursor and the alert resolves itself. */
    out = sy_itr_cli_ok(h, 0, "applier", "resume", NULL);
    assert_non_null(strstr(out, "running"));
    sy_itr_wait_applied(h);
    sy_itd_wait(h, WAIT_S, "the applier_lag alert to resolve once the applier caught up", lag_resolved, NULL);
    assert_non_null(sy_itr_record(h, "stripe:cus_Lag4"));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_alert_kinds_raised_and_notified, teardown),
        cmocka_unit_test_teardown(test_applier_lag, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
