/*
 * Alerts end to end (issue 13): each kind a delivery or the watcher raises is caused for real against local fakes,
 * seen in the admin API and the CLI, resolved when its cause goes away, acknowledged by a person, and delivered to
 * a Slack-like receiver and a Standard Webhooks receiver (tests/fakes, --api slack | webhook) that verifies every
 * signature with its own code. A notifier whose channel is archived (410 channel_is_archived) stops and raises an
 * alert of its own, which the other notifier delivers. The applier's kinds (frozen_field, conflict) are checked in
 * test_golden_records.
 */
#include "harness_alerts.h"
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

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
    const char *kind, *source, *state;
    sy_itd_fake_t *webhook, *slack; /* receivers that must have it (NULL: not checked) */
    const char *event;              /* "alert.raised" or "alert.resolved" */
} want_t;

static int alert_seen(sy_it_t *h, void *arg)
{
    const want_t *w = arg;
    json_t *list = sy_ita_alerts(h);
    int ok = sy_ita_find(list, w->kind, w->source, w->state) != NULL;
    sy_it_release(h, list);
    return ok && (w->webhook == NULL || sy_ita_webhook_has(w->webhook, w->event, w->kind, w->source)) && (w->slack == NULL || sy_ita_slack_has(w->slack, w->kind, strcmp(w->event, "alert.resolved") == 0));
}

static void wait_alert(sy_it_t *h, want_t w)
{
    char what[200];
    if (w.event == NULL)
        w.event = strcmp(w.state, "resolved") == 0 ? "alert.resolved" : "alert.raised";
    snprintf(what, sizeof(what), "alert %s about %s %s%s%s", w.kind, w.source, w.state,
             w.webhook != NULL ? ", delivered to the webhook receiver" : "", w.slack != NULL ? " and to Slack" : "");
    sy_itd_wait(h, WAIT_S, what, alert_seen, &w);
}

/* Appends the alerts section to the generated config. */
static void add_alerts_config(sy_it_t *h, sy_itd_fake_t *slack, sy_itd_fake_t *webhook)
{
    size_t len;
    char *conf = sy_it_slurp(h->config_path, &len), extra[1024];
    assert_non_null(conf);
    int n = snprintf(extra, sizeof(extra),
                     "alerts:\n  check_interval: 200ms\n  storage_near_full: 1\n  notify:\n"
                     "    slack: {url: \"%s/services/T000/B000/XXXX\"}\n"
                     "    webhook: {url: \"%s/hooks/switchyard\", secret: {value: \"%s\"}}\n",
                     slack->base_url, webhook->base_url, WH_SECRET);
    char *all = sy_it_alloc(h, len + (size_t)n + 1);
    memcpy(all, conf, len);
    memcpy(all + len, extra, (size_t)n + 1);
    free(conf);
    sy_it_write_file(h, "switchyard.yaml", all, strlen(all));
}

static void push_email(sy_it_t *h, long long *event_id, const char *email)
{
    ++*event_id;
    sy_itr_hs_change(h, *event_id, 51, HS0 + *event_id * 1000, "email", email);
    sy_itr_wait_applied(h);
}

static void test_alerts_raised_resolved_notified(void **state)
{
    static const sy_it_options_t opts = {.storage = "{map_size: 8MiB, map_size_max: 8MiB, max_batch: 4096}"};
    sy_it_t *h = sy_it_create(state, &opts);
    long long eid = 5100;
    setenv("SY_FAKE_WEBHOOK_SECRET", WH_SECRET, 1);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *slack = sy_itd_fake_start(h, "slack", "", "100/1000", 1);
    sy_itd_fake_t *webhook = sy_itd_fake_start(h, "webhook", "", NULL, 1);
    sy_itd_api_t api = {.timeout = "2s", .token = "sk_test_not_the_key"};
    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_use_example_policy(h);
    assert_string_equal(h->config_path + strlen(h->config_path) - strlen("switchyard.yaml"), "switchyard.yaml");
    add_alerts_config(h, slack, webhook);
    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s, s:{s:s}}}", "cus_A", "email", "ann@old.test", "name", "Ann Lee",
                                       "metadata", "hubspot_contact_id", "51"));
    sy_it_start(h);
    sy_itr_stripe(h, "evt_link", "customer.created", S0, sy_itr_customer("cus_A", "ann@old.test", "Ann Lee", NULL, "51"));
    sy_itr_wait_applied(h);

    /* 1. credentials refused: auth_failure about stripe; storage above 1 % of the maximum: storage_near_full */
    push_email(h, &eid, "ann@one.test");
    wait_alert(h, (want_t){"auth_failure", "stripe", "open", webhook, slack, NULL});
    wait_alert(h, (want_t){"storage_near_full", "", "open", webhook, NULL, NULL});
    json_t *list = sy_ita_alerts(h), *a = sy_ita_find(list, "auth_failure", "stripe", NULL);
    if (json_integer_value(json_object_get(a, "count")) < 1 || json_integer_value(json_object_get(a, "first_seen_ms")) == 0 ||
        strstr(sy_ita_str(a, "message"), "401") == NULL)
        fail_msg("auth_failure alert: %s", sy_itr_text(h, a));
    /* deduplicated: one alert per kind and subject, however often the cause repeats */
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(list, i, e) n += strcmp(sy_ita_str(e, "kind"), "auth_failure") == 0;
    assert_int_equal(n, 1);

    /* the CLI lists it; an acknowledgement goes through the running hub */
    sy_it_output_t o;
    sy_it_cli(h, &o, "alerts", NULL);
    if (o.status != 0 || strstr(o.out, "auth_failure") == NULL || strstr(o.out, "tool stripe") == NULL)
        fail_msg("switchyard alerts: %d %s %s", o.status, o.out, o.err);
    sy_it_output_dispose(&o);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(sy_ita_find(list, "storage_near_full", "", NULL), "id")));
    sy_it_cli(h, &o, "alerts", "ack", id, NULL);
    if (o.status != 0 || strstr(o.out, "acknowledged") == NULL)
        fail_msg("switchyard alerts ack %s: %d %s %s", id, o.status, o.out, o.err);
    sy_it_output_dispose(&o);
    wait_alert(h, (want_t){"storage_near_full", "", "acknowledged", NULL, NULL, NULL});
    sy_it_cli(h, &o, "alerts", "ack", "999999", NULL);
    if (o.status != 1 || strstr(o.err, "no alert 999999") == NULL)
        fail_msg("ack of an unknown alert: %d %s %s", o.status, o.out, o.err);
    sy_it_output_dispose(&o);
    sy_it_cli(h, &o, "alerts", "ack", "x1", NULL);
    assert_int_equal(o.status, 2);
    sy_it_output_dispose(&o);

    /* 2. across a restart with the right token: the refused push is refused again (400): dead_letter; a new push
     * goes through: auth_failure resolves; the dead letter retried and sent: dead_letter resolves */
    assert_int_equal(sy_it_stop(h), 0);
    api.token = NULL;
    sy_itd_set_api(h, "stripe", stripe, &api);
    sy_itd_fake_mode(stripe, "error400", 0, 0, 1);
    sy_it_start(h);
    json_t *q = sy_itr_queue(h);
    if (json_array_size(q) != 1)
        fail_msg("expected the refused push still queued: %s", sy_itr_text(h, q));
    /* paused for a minute after the 401: sent now */
    sy_itr_cli_ok(h, 0, "queue", "retry", sy_itr_id(json_array_get(q, 0)), NULL);
    wait_alert(h, (want_t){"dead_letter", "stripe", "open", webhook, slack, NULL});
    push_email(h, &eid, "ann@two.test");
    wait_alert(h, (want_t){"auth_failure", "stripe", "resolved", webhook, slack, NULL});
    sy_itr_cli_ok(h, 0, "dead", "retry", "--all", NULL);
    wait_alert(h, (want_t){"dead_letter", "stripe", "resolved", webhook, NULL, NULL});

    /* 3. the tool keeps failing: breaker_open. Slack's channel is archived meanwhile: when the breaker closes, its
     * notification gets 410 channel_is_archived: notifier_failed, delivered by the webhook */
    sy_itd_fake_mode(stripe, "error500", 0, 0, 0);
    push_email(h, &eid, "ann@three.test");
    wait_alert(h, (want_t){"breaker_open", "stripe", "open", webhook, slack, NULL});
    sy_itd_fake_call(slack, "POST", "/_fake/archive", NULL);
    sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
    wait_alert(h, (want_t){"breaker_open", "stripe", "resolved", webhook, NULL, NULL});
    wait_alert(h, (want_t){"notifier_failed", "alert:slack", "open", webhook, NULL, NULL});

    /* every webhook message carried a valid Standard Webhooks signature (the fake answers 401 otherwise) */
    json_t *reqs = sy_itd_fake_requests(webhook);
    assert_true(json_array_size(reqs) >= 6);
    assert_int_equal(sy_itd_count(reqs, NULL, NULL, 401), 0);
    /* Slack was paced: at most one message per second (its window, with the hub's margin) */
    assert_true(sy_itd_fake_counter(slack, "max_in_window") <= 1);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_alerts_raised_resolved_notified, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
