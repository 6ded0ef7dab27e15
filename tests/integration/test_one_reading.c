/*
 * One reading of every event (issue 10): ingress and the applier read the same bytes the same way.
 *
 * 1. Bodies that two JSON parsers read differently (duplicate keys, \u0000, lone surrogates, numbers out of range)
 *    and provider times that would poison a version (far in the future) are refused at ingress with 400 and a
 *    precise message; nothing is logged.
 * 2. A log written before those checks existed may hold such events. The applier never skips them silently: each
 *    goes to the `skipped` table with its reason (`switchyard log skipped`), counts in
 *    switchyard_applier_total{outcome="skipped"} and raises an alert; a later genuine change of the same object still
 *    wins (the poisoned event set no version), and a replay of the log records nothing twice.
 */
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

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static sy_it_t *create_with_policy(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_use_example_policy(h);
    return h;
}

/* A customer.updated for cus_poison whose "created" is `created` (raw JSON text), email as given (raw JSON). */
static char *customer_event(sy_it_t *h, const char *event_id, const char *created, const char *email_json)
{
    char *body = sy_it_alloc(h, 1024);
    snprintf(body, 1024,
             "{\"id\":\"%s\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%s,\"livemode\":false,"
             "\"type\":\"customer.updated\",\"data\":{\"object\":{\"id\":\"cus_poison\",\"object\":\"customer\","
             "\"email\":%s,\"name\":\"Poe Ison\",\"metadata\":{}}}}",
             event_id, created, email_json);
    return body;
}

static void test_ingress_refuses_what_the_applier_would_read_otherwise(void **state)
{
    sy_it_t *h = create_with_policy(state);
    sy_it_start(h);
    char now[32], future[32];
    snprintf(now, sizeof(now), "%lld", (long long)(sy_now_ms() / 1000));
    snprintf(future, sizeof(future), "%lld", (long long)(sy_now_ms() / 1000 + 2 * 3600));
    char dup_created[96];
    snprintf(dup_created, sizeof(dup_created), "%s,\"created\":150000333333330000", now);

    static const char *const window_msg = "the event's time (as the provider stamped it) is outside the "
                                          "accepted window: after 2000-01-01 and at most 1 hour ahead of the hub's clock";
    const struct {
        const char *created, *email, *message;
    } cases[] = {
        {dup_created, "\"poe@x.test\"", "JSON object has a duplicate key"},
        {now, "\"poe@x.test\",\"email\":\"other@x.test\"", "JSON object has a duplicate key"},
        {now, "\"poe\\u0000@x.test\"", "JSON string contains \\u0000"},
        {now, "\"poe\\ud800@x.test\"", "JSON string contains a lone UTF-16 surrogate"},
        {now, "92233720368547758070", "JSON integer is outside the 64-bit range"},
        {now, "1e999", "JSON number is outside the range of a double"},
        {"150000333333330000", "\"poe@x.test\"", "event created is not a valid Unix time"},
        {future, "\"poe@x.test\"", window_msg},
        {"946684799", "\"poe@x.test\"", window_msg},
    };
    json_int_t logged = sy_it_log_count(h);
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char id[32];
        snprintf(id, sizeof(id), "evt_bad_%zu", i);
        const char *body = customer_event(h, id, cases[i].created, cases[i].email);
        sy_it_response_t res;
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, body, strlen(body), &res);
        sy_it_assert_error(&res, 400, "bad_request");
        const char *msg = json_string_value(json_object_get(res.json, "message"));
        if (msg == NULL || strcmp(msg, cases[i].message) != 0)
            fail_msg("case %zu (%s): expected message \"%s\", got %s", i, body, cases[i].message, res.body);
        sy_it_response_dispose(&res);
    }
    assert_int_equal(sy_it_log_count(h), logged);

    /* The same event, read one way, is accepted. */
    const char *good = customer_event(h, "evt_good", now, "\"poe@x.test\"");
    sy_it_response_t res;
    sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, good, strlen(good), &res);
    sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_it_pass(h);
}

/* Appends one event straight to the data dir, as a hub without today's checks would have logged it. */
static void append_legacy(sy_store_t *store, const char *event_id, int64_t occurred_at_ms, const char *body)
{
    sy_event_t ev = {.received_at_ms = sy_now_ms(),
                     .occurred_at_ms = occurred_at_ms,
                     .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"),
                     .event_id = sy_slice_cstr(event_id),
                     .type = SY_SLICE_LIT("customer.updated"),
                     .signature = SY_SLICE_LIT("stripe-v1"),
                     .batch_size = 1,
                     .body = sy_slice_cstr(body)};
    assert_int_equal(sy_test_append_event(store, &ev), 0);
}

static json_int_t metric(sy_it_t *h, const char *series)
{
    return (json_int_t)sy_itd_metric(h, series);
}

static void test_unappliable_logged_events_are_recorded(void **state)
{
    sy_it_t *h = create_with_policy(state);
    int64_t now_ms = sy_now_ms();
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)(now_ms / 1000));
    char dup_created[96];
    snprintf(dup_created, sizeof(dup_created), "%s,\"created\":150000333333330000", now);

    /* The log an older hub left: ingress took the first "created" (now) and jansson would take the second. */
    sy_store_t *store;
    sy_error_t err = {0};
    assert_int_equal(sy_store_open(&store, h->data_dir, 64u << 20, 64u << 20, SY_STORE_CREATE, &err), 0);
    append_legacy(store, "evt_legacy_dup", now_ms / 1000 * 1000, customer_event(h, "evt_legacy_dup", dup_created, "\"poe@x.test\""));
    append_legacy(store, "evt_legacy_future", (now_ms / 1000 + 10 * 365 * 86400LL) * 1000,
                  customer_event(h, "evt_legacy_future", "1", "\"future@x.test\""));
    sy_store_close(store);

    sy_it_start(h);
    /* A genuine change after them is applied: nothing poisoned the object's version. */
    json_int_t seq = sy_itr_stripe(h, "evt_after", "customer.updated", now_ms / 1000 + 1,
                                   sy_itr_customer("cus_poison", "poe@new.test", "Poe Ison", NULL, NULL));
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "stripe:cus_poison");
    if (rec == NULL)
        fail_msg("the genuine change of cus_poison was not applied");
    (void)seq;
    json_t *seen = json_object_get(json_object_get(json_object_get(rec, "observed"), "stripe:cus_poison"), "email");
    const char *email = json_string_value(json_array_get(seen, 0));
    if (email == NULL || strcmp(email, "poe@new.test") != 0 ||
        json_integer_value(json_array_get(seen, 1)) != (now_ms / 1000 + 1) * 1000)
        fail_msg("the genuine change lost to a poisoned version: %s", sy_itr_text(h, rec));

    char *out = sy_itr_cli_ok(h, 0, "log", "skipped", NULL);
    if (strstr(out, "evt_legacy_dup") == NULL || strstr(out, "duplicate keys") == NULL ||
        strstr(out, "evt_legacy_future") == NULL || strstr(out, "outside the accepted window") == NULL ||
        strstr(out, "2 skipped event(s)") == NULL)
        fail_msg("`log skipped` does not list both events with their reasons:\n%s", out);
    assert_int_equal(metric(h, "switchyard_applier_total{outcome=\"skipped\"}"), 2);
    json_int_t alerts = metric(h, "switchyard_applier_total{outcome=\"alerts\"}");
    if (alerts < 2)
        fail_msg("expected an alert per skipped event, alerts counter is %lld", (long long)alerts);

    /* A full reapply meets them again and records nothing twice. */
    sy_itr_cli_ok(h, 0, "replay", "--mode", "reapply", NULL);
    sy_itr_wait_applied(h);
    out = sy_itr_cli_ok(h, 0, "log", "skipped", NULL);
    if (strstr(out, "2 skipped event(s)") == NULL)
        fail_msg("after a replay `log skipped` says:\n%s", out);
    assert_int_equal(metric(h, "switchyard_applier_total{outcome=\"skipped\"}"), 2);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ingress_refuses_what_the_applier_would_read_otherwise, teardown),
        cmocka_unit_test_teardown(test_unappliable_logged_events_are_recorded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
