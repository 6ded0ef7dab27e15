/*
 * A HubSpot batch/update answered 207 Multi-Status (some inputs written, some not) retries only the inputs that
 * failed (issue #10). On the real binary with the example policy (Stripe owns subscription_status, plan and mrr and
 * pushes them to HubSpot) and a fake HubSpot ($SY_FAKE) on loopback whose POST /_fake/partial makes chosen contacts
 * fail once each in a batch.
 *
 * The pushes are queued while HubSpot has no api section (a tool without one keeps its pushes), so that after the
 * restart that adds it they are all due at once and go as one batch of N.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define S0 1750000000LL /* Stripe `created`, seconds */
#define DELIVER_TIMEOUT_S 40.0
#define N 6
#define CONTACTS "/crm/v3/objects/contacts"

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* The contact ids one logged request wrote to (a PATCH of one contact, or the inputs of a batch/update), added to
 * ids as id -> how many times. */
static void add_ids(json_t *r, json_t *ids)
{
    const char *method = json_string_value(json_object_get(r, "method")), *path = json_string_value(json_object_get(r, "path"));
    json_t *body = NULL, *in;
    size_t i;
    if (strcmp(method, "PATCH") == 0 && strncmp(path, CONTACTS "/", sizeof(CONTACTS)) == 0) {
        const char *id = path + sizeof(CONTACTS);
        json_object_set_new(ids, id, json_integer(json_integer_value(json_object_get(ids, id)) + 1));
        return;
    }
    if (strcmp(path, CONTACTS "/batch/update") == 0)
        body = json_loads(json_string_value(json_object_get(r, "body")), 0, NULL);
    json_array_foreach(json_object_get(body, "inputs"), i, in)
    {
        const char *id = json_string_value(json_object_get(in, "id"));
        json_object_set_new(ids, id, json_integer(json_integer_value(json_object_get(ids, id)) + 1));
    }
    json_decref(body);
}

static void test_207_retries_only_failed_inputs(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    static const char *const failing[] = {"5501", "5504"};
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    json_t *customers = json_array(), *subs = json_array(), *q, *log, *first, *retried, *expected, *dead;
    char cus[32], hs[32], email[64], evt[32], mrr[16];

    sy_itd_use_example_policy(h);
    for (unsigned k = 0; k != N; ++k) {
        snprintf(cus, sizeof(cus), "cus_P%u", k);
        snprintf(hs, sizeof(hs), "550%u", k);
        snprintf(email, sizeof(email), "p%u@partial.test", k);
        sy_itd_fake_seed(hubspot, json_pack("{s:{s:s}}", hs, "email", email));
        snprintf(evt, sizeof(evt), "evt_pc%u", k);
        json_array_append_new(customers, sy_itd_stripe_event(evt, "customer.created", S0,
                                                             sy_itr_customer(cus, email, "Partial", NULL, hs)));
        snprintf(evt, sizeof(evt), "evt_ps%u", k);
        json_array_append_new(subs, sy_itd_stripe_event(evt, "customer.subscription.updated", S0 + 10,
                                                        sy_itr_subscription("sub_P", cus, "active", "price_p", 200 + k)));
    }
    sy_it_start(h);
    sy_itd_post_stripe_many(h, customers, 3);
    sy_itr_wait_applied(h);
    sy_itd_post_stripe_many(h, subs, 3);
    sy_itr_wait_applied(h);
    q = sy_itr_queue(h);
    if (sy_itr_pushes(q, "hubspot", NULL, NULL) != N)
        fail_msg("expected %d pushes queued for HubSpot (no api section yet): %s", N, sy_itr_text(h, q));

    assert_int_equal(sy_it_stop(h), 0);
    sy_itd_set_api(h, "hubspot", hubspot, &api);
    json_t *ids = json_array();
    for (size_t i = 0; i != SY_ARRAY_SIZE(failing); ++i)
        json_array_append_new(ids, json_string(failing[i]));
    sy_itd_fake_call(hubspot, "POST", "/_fake/partial", json_pack("{s:o}", "ids", ids));
    sy_it_start(h);
    sy_itd_wait_queue_empty(h, DELIVER_TIMEOUT_S);

    /* The first request: one batch of all N, answered 207 with the two failing contacts not written. */
    log = sy_itd_fake_requests(hubspot);
    first = json_array_get(log, 0);
    retried = json_object();
    add_ids(first, retried);
    if (json_integer_value(json_object_get(first, "status")) != 207 || json_object_size(retried) != N)
        fail_msg("expected the first request to be one batch/update of %d inputs answered 207: %s", N,
                 sy_itr_text(h, log));
    json_object_clear(retried);
    /* Everything after it: exactly the failed inputs, each once (one batch, or alone if their backoffs differ). */
    for (size_t i = 1; i < json_array_size(log); ++i)
        add_ids(json_array_get(log, i), retried);
    expected = json_object();
    for (size_t i = 0; i != SY_ARRAY_SIZE(failing); ++i)
        json_object_set_new(expected, failing[i], json_integer(1));
    if (!json_equal(retried, expected))
        fail_msg("after the 207 expected only %s %s to be sent again (once each); sent %s\nlog: %s", failing[0], failing[1],
                 sy_itr_text(h, retried), sy_itr_text(h, log));
    json_decref(expected);
    json_decref(retried);

    for (unsigned k = 0; k != N; ++k) {
        snprintf(hs, sizeof(hs), "550%u", k);
        snprintf(mrr, sizeof(mrr), "%u", 200 + k);
        json_t *c = sy_itd_fake_object(hubspot, hs);
        const char *status = json_string_value(json_object_get(c, "subscription_status")),
                   *got = json_string_value(json_object_get(c, "mrr"));
        if (status == NULL || strcmp(status, "active") != 0 || got == NULL || strcmp(got, mrr) != 0)
            fail_msg("contact %s: expected subscription_status active and mrr %s, holds %s", hs, mrr, sy_itr_text(h, c));
    }
    dead = sy_itd_dead(h);
    if (json_array_size(dead) != 0)
        fail_msg("expected no dead letters, got %s", sy_itr_text(h, dead));
    assert_int_equal((long long)sy_itd_pushes(h, "hubspot", "done"), N);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_207_retries_only_failed_inputs, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
