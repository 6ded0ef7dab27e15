/*
 * Fault injection 4: a spoke that hangs, resets connections, or fails.
 *
 * The example policy, fake Stripe and HubSpot, 6 linked customers. Each round puts the Stripe fake into one fault
 * mode (hang, reset, error500 in turn; SY_FAULT_ROUNDS rounds, default 3 = each once), then HubSpot changes every
 * customer's email (pushes to Stripe, which fail) and Stripe changes every subscription (pushes to HubSpot). While
 * Stripe stays broken:
 *   - the pushes to HubSpot arrive (the broken spoke does not hold the other one up);
 *   - Stripe's circuit breaker opens (status delivery.spokes.stripe.breaker);
 *   - the Stripe pushes stay queued (one per customer), none is dead-lettered.
 * Then the fake recovers and every push arrives: the fakes hold the golden values, every Stripe attempt that failed
 * was retried with the same Idempotency-Key until it landed, no key ran twice, and the retries were counted.
 *
 * The fake has no "200 with a body that is not JSON" mode (its modes: ok, error500, error400, hang, reset, slow),
 * so the "garbage answer" case is covered by error500.
 */
#include "../faults/fault_common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CUSTOMERS 6
#define FAULT_TIMEOUT_S 30.0
#define RECOVERY_TIMEOUT_S 90.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* delivery.spokes.<spoke>.breaker of the status, copied to out. */
static const char *breaker_state(sy_it_t *h, const char *spoke, char *out, size_t outlen)
{
    json_t *st = sy_itr_status(h);
    const char *b = json_string_value(
        json_object_get(json_object_get(json_object_get(json_object_get(st, "delivery"), "spokes"), spoke), "breaker"));
    snprintf(out, outlen, "%s", b != NULL ? b : "?");
    sy_it_release(h, st);
    return out;
}

/* Whether HubSpot contact c holds status / plan / mrr. */
static int hubspot_holds(sy_itd_fake_t *hubspot, const char *contact, const char *status, const char *plan, const char *mrr)
{
    json_t *o = sy_itd_fake_object(hubspot, contact);
    const char *s = json_string_value(json_object_get(o, "subscription_status"));
    const char *p = json_string_value(json_object_get(o, "plan"));
    const char *m = json_string_value(json_object_get(o, "mrr"));
    return s != NULL && p != NULL && m != NULL && strcmp(s, status) == 0 && strcmp(p, plan) == 0 && strcmp(m, mrr) == 0;
}

static void test_broken_spoke_is_isolated_and_catches_up(void **state)
{
    static const char *const modes[] = {"hang", "reset", "error500"};
    static const char *const statuses[] = {"past_due", "active", "trialing"};
    static const sy_itd_api_t stripe_api = {.timeout = "1s"}, hubspot_api = {.timeout = "5s"};
    unsigned rounds = fl_rounds();
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_fake_t *hubspot = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    fl_load_t names = {.customers = CUSTOMERS};
    char cus[32], link[16], email[64], evt[48], sub[32], plan[32], mrr[32];
    size_t before, i;
    json_t *reqs, *r;

    print_message("[faults_spokes] SY_FAULT_ROUNDS=%u (modes in turn: hang, reset, error500)\n", rounds);
    sy_itd_set_api(h, "stripe", stripe, &stripe_api);
    sy_itd_set_api(h, "hubspot", hubspot, &hubspot_api);
    sy_itd_use_example_policy(h);
    fl_seed_fakes(&names, stripe, hubspot);
    sy_it_start(h);
    for (unsigned k = 0; k != CUSTOMERS; ++k) {
        snprintf(cus, sizeof(cus), "cus_f%03u", k);
        snprintf(link, sizeof(link), "%u", FL_CONTACT(k));
        snprintf(email, sizeof(email), "c%u.v0@load.test", k);
        snprintf(evt, sizeof(evt), "evt_link_%u", k);
        sy_itr_stripe(h, evt, "customer.created", FL_S0, sy_itr_customer(cus, email, "Customer", NULL, link));
    }
    sy_itr_wait_applied(h);
    sy_itd_wait_queue_empty(h, RECOVERY_TIMEOUT_S);

    for (unsigned round = 0; round != rounds; ++round) {
        const char *mode = modes[round % 3];
        double t0 = fl_now_s(), t_fault, t_recovered;
        int hub_ok = 0, breaker_seen = 0;
        double retries0 = sy_itd_pushes(h, "stripe", "retry") + sy_itd_pushes(h, "stripe", "network_error");

        {   /* the breaker closed again after the last round (so that seeing it open below means something) */
            char b[32];
            if (strcmp(breaker_state(h, "stripe", b, sizeof(b)), "closed") != 0)
                fail_msg("round %u: Stripe's breaker is %s before the fault, expected closed", round + 1, b);
        }
        reqs = sy_itd_fake_requests(stripe);
        before = json_array_size(reqs);
        sy_it_release(h, reqs);
        sy_itd_fake_mode(stripe, mode, 0, 0, 0);
        for (unsigned k = 0; k != CUSTOMERS; ++k) {
            snprintf(email, sizeof(email), "c%u.r%u@spoke.test", k, round);
            sy_itr_hs_change(h, 500000 + round * 100 + k, FL_CONTACT(k), FL_HS0 + (round + 1) * 100000LL + k, "email", email);
            snprintf(cus, sizeof(cus), "cus_f%03u", k);
            snprintf(sub, sizeof(sub), "sub_f%03u", k);
            snprintf(evt, sizeof(evt), "evt_sub_%u_%u", round, k);
            snprintf(plan, sizeof(plan), "price_r%u", round);
            sy_itr_stripe(h, evt, "customer.subscription.updated", FL_S0 + (round + 1) * 100 + k,
                          sy_itr_subscription(sub, cus, statuses[round % 3], plan, 1000 + round * 10 + k));
        }
        sy_itr_wait_applied(h);

        /* while Stripe is broken: HubSpot gets everything, Stripe's breaker opens */
        for (;;) {
            hub_ok = 1;
            for (unsigned k = 0; k != CUSTOMERS && hub_ok; ++k) {
                snprintf(link, sizeof(link), "%u", FL_CONTACT(k));
                snprintf(plan, sizeof(plan), "price_r%u", round);
                snprintf(mrr, sizeof(mrr), "%u", 1000 + round * 10 + k);
                hub_ok = hubspot_holds(hubspot, link, statuses[round % 3], plan, mrr);
            }
            if (!breaker_seen) {
                char b[32];
                breaker_seen = strcmp(breaker_state(h, "stripe", b, sizeof(b)), "closed") != 0;
            }
            if (hub_ok && breaker_seen)
                break;
            if (fl_now_s() - t0 > FAULT_TIMEOUT_S)
                fail_msg("Stripe in mode %s for %.0f s: HubSpot %s its pushes, Stripe's breaker %s", mode, FAULT_TIMEOUT_S,
                         hub_ok ? "got" : "DID NOT GET", breaker_seen ? "opened" : "NEVER OPENED");
            sy_itd_nap(100);
        }
        t_fault = fl_now_s() - t0;
        {
            json_t *q = sy_itr_queue(h), *dead = sy_itd_dead(h);
            size_t queued = sy_itr_pushes(q, "stripe", NULL, NULL);
            if (queued != CUSTOMERS)
                fail_msg("mode %s: %zu Stripe pushes queued while Stripe is down, expected %d (one per customer): %s",
                         mode, queued, CUSTOMERS, sy_itr_text(h, q));
            if (json_array_size(dead) != 0)
                fail_msg("mode %s: dead letters while Stripe is down: %s", mode, sy_itr_text(h, dead));
        }
        reqs = sy_itd_fake_requests(stripe);
        for (i = before; i < json_array_size(reqs); ++i) {
            r = json_array_get(reqs, i);
            const char *fault = json_string_value(json_object_get(r, "fault"));
            if (fault == NULL || strcmp(fault, mode) != 0)
                fail_msg("mode %s: a Stripe request went through during the fault: %s", mode, sy_itr_text(h, r));
        }
        if (json_array_size(reqs) - before < 1)
            fail_msg("mode %s: no Stripe attempt during the fault", mode);
        print_message("round %u, Stripe %s: HubSpot up to date and Stripe's breaker open after %.1f s, %zu failed "
                      "Stripe attempts\n",
                      round + 1, mode, t_fault, json_array_size(reqs) - before);
        sy_it_release(h, reqs);

        /* recovery */
        sy_itd_fake_mode(stripe, "ok", 0, 0, 0);
        t_recovered = fl_now_s();
        sy_itd_wait_queue_empty(h, RECOVERY_TIMEOUT_S);
        print_message("round %u: Stripe caught up %.1f s after it recovered\n", round + 1, fl_now_s() - t_recovered);
        if (fl_assert_spokes_hold_golden(h, stripe, hubspot) < CUSTOMERS * 4)
            fail_msg("too few pushed values compared");
        for (unsigned k = 0; k != CUSTOMERS; ++k) {
            snprintf(cus, sizeof(cus), "cus_f%03u", k);
            snprintf(email, sizeof(email), "c%u.r%u@spoke.test", k, round);
            const char *at = json_string_value(json_object_get(sy_itd_fake_object(stripe, cus), "email"));
            if (at == NULL || strcmp(at, email) != 0)
                fail_msg("Stripe %s has email %s after the recovery, expected %s", cus, at != NULL ? at : "(none)", email);
        }
        /* every push that failed was retried with the same Idempotency-Key until it landed (the breaker may have
         * held some pushes back before their first attempt: those land on their first try) */
        reqs = sy_itd_fake_requests(stripe);
        {
            size_t retried = 0;
            for (i = before; i < json_array_size(reqs); ++i) {
                r = json_array_get(reqs, i);
                const char *key = json_string_value(json_object_get(r, "idempotency_key"));
                size_t j, landed = 0;
                if (key == NULL || json_is_null(json_object_get(r, "fault")) || json_object_get(r, "fault") == NULL)
                    continue;
                for (j = i + 1; j < json_array_size(reqs) && landed == 0; ++j) {
                    json_t *later = json_array_get(reqs, j);
                    const char *k2 = json_string_value(json_object_get(later, "idempotency_key"));
                    landed = k2 != NULL && strcmp(k2, key) == 0 && json_integer_value(json_object_get(later, "status")) == 200;
                }
                if (!landed)
                    fail_msg("mode %s: the push with Idempotency-Key %s failed (%s) and never landed afterwards", mode, key,
                             sy_itr_text(h, r));
                ++retried;
            }
            if (retried == 0)
                fail_msg("mode %s: no failed Stripe attempt was retried", mode);
        }
        sy_itd_assert_once_per_key(h, reqs);
        sy_it_release(h, reqs);
        if (sy_itd_pushes(h, "stripe", "retry") + sy_itd_pushes(h, "stripe", "network_error") <= retries0)
            fail_msg("mode %s: switchyard_pushes_total{spoke=\"stripe\"} counted no retry or network error", mode);
        if (json_array_size(sy_itd_dead(h)) != 0)
            fail_msg("mode %s: dead letters after the recovery", mode);
    }
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_broken_spoke_is_isolated_and_catches_up, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
