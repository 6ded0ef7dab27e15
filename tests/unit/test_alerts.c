/*
 * The alert model (alerts.h) and the notifiers' wire format (notify.h): deduplication, states, notifications queued
 * in the same transaction, the migration of the old append-only log; a burst summarised in one Slack message; a
 * webhook message that the hub's own Standard Webhooks verifier (and so any library of the scheme) accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "notify.h"
#include "queue.h"
#include "records.h"
#include "signature_schemes.h"
#include "../support/data_dir.h"

#define NOW 1700000000000ll
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

typedef struct {
    char dir[256];
    sy_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    sy_error_t err = {0};
    assert_non_null(sy_test_make_dir(f->dir, sizeof(f->dir), "sy-alerts"));
    assert_int_equal(sy_store_open(&f->store, f->dir, 64u << 20, 256u << 20, SY_STORE_CREATE, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sy_store_close(f->store);
    sy_test_remove_dir(f->dir);
    free(f);
    return 0;
}

static uint64_t queued(sy_txn_t *txn, const char *spoke)
{
    json_t *s = sy_queue_summary(txn);
    uint64_t n = (uint64_t)json_integer_value(json_object_get(json_object_get(s, spoke), "queued"));
    json_decref(s);
    return n;
}

static void test_dedup_states_and_notifications(void **state)
{
    fixture_t *f = *state;
    const char *names[] = {"alert:webhook"};
    sy_txn_t *txn;
    int opened;
    assert_int_equal(sy_alerts_setup(f->store, names, 1, NULL), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    sy_alert_subject_t frozen = {"cust_1", "hubspot", "lifecycle_stage"}, other = {"cust_2", "hubspot", "lifecycle_stage"};
    assert_int_equal(sy_alert_raise(txn, "frozen_field", &frozen, "first", 7, 1, NOW, &opened), 0);
    assert_int_equal(opened, 1);
    assert_int_equal(sy_alert_raise(txn, "frozen_field", &frozen, "again", 9, 1, NOW + 5, &opened), 0);
    assert_int_equal(opened, 0); /* one open alert per kind and subject */
    assert_int_equal(sy_alert_raise(txn, "frozen_field", &other, "another record", 10, 1, NOW + 6, &opened), 0);
    assert_int_equal(opened, 1);
    json_t *list = sy_alerts_list(txn, 0, 0);
    assert_int_equal(json_array_size(list), 2);
    json_t *a = json_array_get(list, 1); /* newest first: cust_1's is the older */
    assert_string_equal(json_string_value(json_object_get(a, "record")), "cust_1");
    assert_int_equal(json_integer_value(json_object_get(a, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(a, "first_seen_ms")), NOW);
    assert_int_equal(json_integer_value(json_object_get(a, "last_seen_ms")), NOW + 5);
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), 7);
    assert_string_equal(json_string_value(json_object_get(a, "message")), "again");
    uint64_t id = (uint64_t)json_integer_value(json_object_get(a, "id"));
    json_decref(list);
    assert_int_equal(queued(txn, "alert:webhook"), 2); /* one notification per new alert, none for a repeat */

    /* acknowledged: counted on, not notified; resolved: notified, and a new occurrence opens a new alert */
    assert_int_equal(sy_alert_ack(txn, id, NOW + 7), 0);
    assert_int_equal(sy_alert_raise(txn, "frozen_field", &frozen, "still", 11, 1, NOW + 8, &opened), 0);
    assert_int_equal(opened, 0);
    json_t *got = sy_alert_get(txn, id);
    assert_string_equal(json_string_value(json_object_get(got, "state")), "acknowledged");
    json_decref(got);
    assert_int_equal(queued(txn, "alert:webhook"), 2);
    assert_int_equal(sy_alert_resolve(txn, "frozen_field", &frozen, NOW + 9), 0);
    assert_int_equal(queued(txn, "alert:webhook"), 3);
    assert_int_equal(sy_alert_ack(txn, id, NOW + 10), SY_EINVAL);
    assert_int_equal(sy_alert_ack(txn, 4242, NOW + 10), SY_ENOTFOUND);
    assert_int_equal(sy_alert_resolve(txn, "frozen_field", &frozen, NOW + 10), 0); /* nothing open: nothing to do */
    assert_int_equal(queued(txn, "alert:webhook"), 3);
    assert_int_equal(sy_alert_raise(txn, "frozen_field", &frozen, "back", 12, 1, NOW + 11, &opened), 0);
    assert_int_equal(opened, 1);
    list = sy_alerts_list(txn, 0, 0);
    assert_int_equal(json_array_size(list), 2); /* the resolved one is history */
    json_decref(list);
    list = sy_alerts_list(txn, 1, 0);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    list = sy_alerts_unresolved(txn, "frozen_field");
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    assert_int_equal(sy_txn_commit(txn), 0);
}

/* Resolved alerts older than the cut are forgotten, oldest first and bounded; open ones never are. */
static void test_resolved_alerts_pruned(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    size_t pruned;
    assert_int_equal(sy_alerts_setup(f->store, NULL, 0, NULL), 0);
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    sy_alert_subject_t a = {"cust_1", "stripe", ""}, b = {"cust_2", "stripe", ""}, c = {"cust_3", "stripe", ""};
    assert_int_equal(sy_alert_raise(txn, "dead_letter", &a, "old", 0, 1, NOW, NULL), 0);
    assert_int_equal(sy_alert_resolve(txn, "dead_letter", &a, NOW + 10), 0);
    assert_int_equal(sy_alert_raise(txn, "dead_letter", &b, "recent", 0, 1, NOW, NULL), 0);
    assert_int_equal(sy_alert_resolve(txn, "dead_letter", &b, NOW + 1000), 0);
    assert_int_equal(sy_alert_raise(txn, "dead_letter", &c, "open", 0, 1, NOW, NULL), 0);
    assert_int_equal(sy_alerts_prune(txn, NOW + 500, 10, &pruned), 0);
    assert_int_equal(pruned, 1); /* only a's resolution is before the cut */
    json_t *list = sy_alerts_list(txn, 1, 0);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    assert_int_equal(sy_alerts_prune(txn, NOW + 10000, 10, &pruned), 0);
    assert_int_equal(pruned, 1); /* b; c is open */
    list = sy_alerts_list(txn, 1, 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")), "open");
    json_decref(list);
    /* a new occurrence of a pruned alert's subject opens a new alert as usual */
    int opened;
    assert_int_equal(sy_alert_raise(txn, "dead_letter", &a, "again", 0, 1, NOW + 20000, &opened), 0);
    assert_int_equal(opened, 1);
    assert_int_equal(sy_txn_commit(txn), 0);
}

static void test_old_log_migrated_once(void **state)
{
    fixture_t *f = *state;
    sy_txn_t *txn;
    unsigned char key[8];
    /* the pre-issue-13 format: be64 n → {at_ms, kind, record, source, field, message, seq} */
    assert_int_equal(sy_txn_begin(f->store, 1, &txn), 0);
    for (int i = 1; i <= 3; ++i) {
        json_t *doc = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i}", "at_ms", NOW + i, "kind", i == 3 ? "event_skipped" : "frozen",
                                "record", i == 3 ? "" : "cust_9", "source", "stripe", "field", i == 3 ? "" : "name",
                                "message", "old", "seq", i);
        sy_put_be64(key, (uint64_t)i);
        assert_int_equal(sy_doc_put(txn, SY_DB_ALERTS, (sy_slice_t){(const char *)key, 8}, doc), 0);
        json_decref(doc);
    }
    assert_int_equal(sy_meta_put_u64(txn, "next_alert", 3), 0);
    assert_int_equal(sy_txn_commit(txn), 0);
    const char *names[] = {"alert:slack"};
    size_t migrated = 0;
    assert_int_equal(sy_alerts_setup(f->store, names, 1, &migrated), 0);
    assert_int_equal(migrated, 3);
    assert_int_equal(sy_alerts_setup(f->store, names, 1, &migrated), 0);
    assert_int_equal(migrated, 0);
    assert_int_equal(sy_txn_begin(f->store, 0, &txn), 0);
    json_t *list = sy_alerts_list(txn, 1, 0);
    assert_int_equal(json_array_size(list), 2); /* two frozen entries of one subject are one alert */
    json_t *frozen = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(frozen, "kind")), "frozen_field");
    assert_int_equal(json_integer_value(json_object_get(frozen, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(frozen, "first_seen_ms")), NOW + 1);
    assert_int_equal(json_integer_value(json_object_get(frozen, "id")), 4); /* ids go on from the old counter */
    assert_int_equal(queued(txn, "alert:slack"), 0); /* migrated alerts are not news */
    json_decref(list);
    sy_txn_abort(txn);
}

static json_t *notification(const char *event, const char *kind, int id)
{
    return json_pack("{s:s, s:s, s:{s:i, s:s, s:s, s:s, s:s, s:s}}", "event", event, "idempotency_key",
                     "msg_test_1", "alert", "id", id, "kind", kind, "record", "cust_1", "source", "stripe", "field", "",
                     "message", "m");
}

static void test_slack_burst_summarised(void **state)
{
    (void)state;
    sy_notifier_conf_t nc = {.kind = SY_NOTIFIER_SLACK};
    json_t *docs[3] = {notification("alert.raised", "dead_letter", 1), notification("alert.raised", "breaker_open", 2),
                       notification("alert.resolved", "auth_failure", 3)};
    sy_http_request_t req;
    char headers[SY_NOTIFY_MAX_HEADERS][SY_NOTIFY_HEADER_MAX];
    size_t nh;
    assert_int_equal(sy_notify_encode(&nc, docs, 3, NOW, &req, headers, &nh), 0);
    assert_int_equal(nh, 0);
    json_t *body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "text")),
                        "Switchyard: 3 alert changes (2 raised, 1 resolved)");
    assert_int_equal(json_array_size(json_object_get(body, "blocks")), 4); /* a header, one section per alert */
    assert_non_null(strstr(req.body, "*breaker_open*"));
    json_decref(body);
    sy_http_request_dispose(&req);
    for (int i = 0; i != 3; ++i)
        json_decref(docs[i]);
    assert_int_equal(sy_notify_max_batch(&nc), SY_NOTIFY_SLACK_BATCH);
}

static void test_webhook_signed_per_standard_webhooks(void **state)
{
    (void)state;
    char secret[] = SECRET;
    sy_notifier_conf_t nc = {.kind = SY_NOTIFIER_WEBHOOK, .secret = secret};
    json_t *doc = notification("alert.raised", "dead_letter", 1);
    sy_http_request_t req;
    char headers[SY_NOTIFY_MAX_HEADERS][SY_NOTIFY_HEADER_MAX];
    size_t nh;
    assert_int_equal(sy_notify_encode(&nc, &doc, 1, NOW, &req, headers, &nh), 0);
    assert_int_equal(nh, 3);
    json_t *body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "type")), "alert.raised");
    assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"), "kind")), "dead_letter");
    assert_string_equal(json_string_value(json_object_get(body, "timestamp")), "2023-11-14T22:13:20.000Z");
    json_decref(body);
    /* the verify side of the scheme accepts it, and refuses it with a changed body */
    sy_header_t h[3];
    for (size_t i = 0; i != 3; ++i) {
        char *colon = strchr(headers[i], ':');
        h[i] = (sy_header_t){{headers[i], (size_t)(colon - headers[i])}, sy_slice_cstr(colon + 2)};
    }
    assert_memory_equal(h[0].value.base, "msg_test_1", 10);
    sy_source_verify_t conf = {.secrets = {sy_slice_cstr(SECRET)}, .num_secrets = 1, .tolerance_ms = 300000};
    sy_request_view_t view = {.method = SY_SLICE_LIT("POST"), .headers = h, .num_headers = 3,
                              .body = {req.body, req.body_len}, .now_ms = NOW};
    assert_int_equal(sy_verify_standard_webhooks(&conf, &view), SY_VERIFY_OK);
    req.body[req.body_len - 2] ^= 1;
    assert_int_equal(sy_verify_standard_webhooks(&conf, &view), SY_VERIFY_MISMATCH);
    sy_http_request_dispose(&req);
    json_decref(doc);
}

static void test_receiver_answers(void **state)
{
    (void)state;
    sy_notifier_conf_t slack = {.kind = SY_NOTIFIER_SLACK}, webhook = {.kind = SY_NOTIFIER_WEBHOOK};
    sy_push_result_t r;
    int stop;
    sy_notify_classify(&slack, 200, NULL, SY_SLICE_LIT("ok"), &r, &stop);
    assert_int_equal(r.outcome, SY_PUSH_DONE);
    sy_notify_classify(&slack, 410, NULL, SY_SLICE_LIT("channel_is_archived"), &r, &stop);
    assert_int_equal(stop, 1);
    sy_notify_classify(&slack, 429, "3", SY_SLICE_LIT("rate_limited"), &r, &stop);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
    assert_int_equal(r.retry_after_ms, 3000);
    assert_int_equal(stop, 0);
    sy_notify_classify(&webhook, 400, NULL, SY_SLICE_LIT("bad"), &r, &stop);
    assert_int_equal(r.outcome, SY_PUSH_PERMANENT);
    assert_int_equal(stop, 0);
    sy_notify_classify(&webhook, 503, NULL, SY_SLICE_LIT(""), &r, &stop);
    assert_int_equal(r.outcome, SY_PUSH_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_states_and_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_log_migrated_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolved_alerts_pruned, setup, teardown),
        cmocka_unit_test(test_slack_burst_summarised),
        cmocka_unit_test(test_webhook_signed_per_standard_webhooks),
        cmocka_unit_test(test_receiver_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
