/*
 * Deterministic versions (issue 10): a version is (provider time, log seq), a total order that every pass over the
 * log computes the same way.
 *
 * Stripe's `created` has one-second resolution, so an object's changes often share a time. Several customers get
 * two or three subscription changes within one second; the hub settles on the last one logged. Then the whole log
 * is reapplied twice (`switchyard replay`): the golden records and the queue must be exactly as before, byte for
 * byte, with nothing queued. (Before, a same-second tie went to whichever event was applied last, so a reapply
 * rewrote each such record twice and queued pushes for it.)
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CUSTOMERS 7

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void assert_same(sy_it_t *h, const char *what, json_t *before, json_t *after)
{
    if (!json_equal(before, after))
        fail_msg("a reapply of an unchanged log changed %s\nbefore: %s\nafter:  %s", what, sy_itr_text(h, before),
                 sy_itr_text(h, after));
}

static void test_same_second_events_reapply_to_the_same_state(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_use_example_policy(h);
    sy_it_start(h);

    const int64_t t0 = sy_now_ms() / 1000 - 600;
    static const char *const statuses[] = {"trialing", "active", "past_due"};
    char cus[32], hs[32], sub[32], evt[48];
    for (int c = 0; c != CUSTOMERS; ++c) {
        snprintf(cus, sizeof(cus), "cus_tie_%d", c);
        snprintf(hs, sizeof(hs), "%d", 7100 + c);
        snprintf(evt, sizeof(evt), "evt_tie_%d_created", c);
        sy_itr_stripe(h, evt, "customer.created", t0, sy_itr_customer(cus, NULL, "Tie Customer", NULL, hs));
        /* 2 or 3 changes of the subscription, all within the same second */
        int changes = 2 + c % 2;
        snprintf(sub, sizeof(sub), "sub_tie_%d", c);
        for (int k = 0; k != changes; ++k) {
            snprintf(evt, sizeof(evt), "evt_tie_%d_sub_%d", c, k);
            sy_itr_stripe(h, evt, "customer.subscription.updated", t0 + 1,
                          sy_itr_subscription(sub, cus, statuses[k], "price_pro", 4900));
        }
    }
    sy_itr_wait_applied(h);

    json_t *records = sy_itr_records(h), *queue = sy_itr_queue(h);
    for (int c = 0; c != CUSTOMERS; ++c) {
        snprintf(cus, sizeof(cus), "stripe:cus_tie_%d", c);
        json_t *rec = sy_itr_record(h, cus);
        if (rec == NULL)
            fail_msg("no record for %s", cus);
        const char *want = statuses[1 + c % 2]; /* the last change logged wins the tie */
        const char *got = sy_itr_field(rec, "subscription_status", "value");
        if (got == NULL || strcmp(got, want) != 0)
            fail_msg("%s: subscription_status is %s, expected the last logged change \"%s\"", cus,
                     got != NULL ? got : "(none)", want);
    }

    for (int pass = 1; pass <= 2; ++pass) {
        char *out = sy_itr_cli_ok(h, 0, "replay", "--mode", "reapply", NULL);
        (void)out;
        sy_itr_wait_applied(h);
        json_t *records_after = sy_itr_records(h), *queue_after = sy_itr_queue(h);
        assert_same(h, "the golden records", records, records_after);
        assert_same(h, "the queue", queue, queue_after);
    }
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_same_second_events_reapply_to_the_same_state, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
