/*
 * No duplicates we make ourselves (issue 10): Switchyard must never be why a customer exists twice in a tool.
 *
 * 1. Idempotency keys carry this data dir's random instance id, so a second hub or a fresh data dir never reuses a
 *    key within Stripe's 24 h window even for the same push: two hubs queue their first push under different keys.
 *    (The hubs of one cluster share the cluster's instance id instead: test_cluster_failover.c.)
 * 2. A merge folds the dropped record's queued pushes into the kept record's: one push per tool for the customer,
 *    none left for the dropped record (whose create would make a second Stripe customer).
 * 3. An object found at the tool by the record's email but linked to another record already is a dead letter with
 *    the reason: never written to on this record's behalf.
 */
#include "harness_delivery.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define DELIVER_TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* The example policy with Stripe's create: if_missing (creating is what can duplicate). */
static void use_creating_policy(sy_it_t *h)
{
    sy_itd_use_example_policy_creating(h, "    create: if_missing");
}

/* "sy-<16 hex>-<24 hex digest>" (records.h): returns the instance part (owned by h). */
static const char *instance_of(sy_it_t *h, const char *key)
{
    if (key == NULL || strncmp(key, "sy-", 3) != 0 || strlen(key) != 3 + 16 + 1 + 24 || key[3 + 16] != '-')
        fail_msg("idempotency key %s is not sy-<instance>-<digest>", key != NULL ? key : "(none)");
    for (int i = 0; i != 16 + 1 + 24; ++i)
        if (i != 16 && !isxdigit((unsigned char)key[3 + i]))
            fail_msg("idempotency key %s: the instance id or the digest is not hex", key);
    char *inst = sy_it_alloc(h, 17);
    memcpy(inst, key + 3, 16);
    inst[16] = '\0';
    return inst;
}

static const char *first_key(sy_it_t *h)
{
    json_t *q = sy_itr_queue(h), *push = NULL;
    if (sy_itr_pushes(q, "stripe", NULL, &push) == 0)
        fail_msg("no push queued: %s", sy_itr_text(h, q));
    return json_string_value(json_object_get(push, "idempotency_key"));
}

static void test_keys_differ_between_hubs(void **state)
{
    const char *inst[2];
    for (int i = 0; i != 2; ++i) {
        sy_it_t *h = sy_it_create(state, NULL);
        use_creating_policy(h);
        sy_it_start(h);
        sy_itr_hs_change(h, 5001, 50, (sy_now_ms() / 1000 - 60) * 1000, "email", "same@first.test");
        sy_itr_wait_applied(h);
        const char *k = first_key(h);
        const char *mine = instance_of(h, k);
        char *copy = strdup(mine);
        inst[i] = copy;
        /* the id is kept: a restart uses the same one */
        sy_it_stop(h);
        sy_it_start(h);
        sy_itr_hs_change(h, 5002, 50, (sy_now_ms() / 1000 - 50) * 1000, "name", "Same");
        sy_itr_wait_applied(h);
        assert_string_equal(instance_of(h, first_key(h)), copy);
        sy_it_pass(h);
        sy_it_destroy(h);
        *state = NULL;
    }
    if (strcmp(inst[0], inst[1]) == 0)
        fail_msg("two data dirs share the instance id %s: their idempotency keys collide", inst[0]);
    free((void *)inst[0]);
    free((void *)inst[1]);
}

static void test_merge_folds_queued_pushes(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    use_creating_policy(h);
    sy_it_start(h); /* no api settings: pushes stay queued */
    const int64_t hs0 = (sy_now_ms() / 1000 - 600) * 1000;
    sy_itr_hs_change(h, 6101, 61, hs0 + 1000, "email", "ann@one.test");
    sy_itr_hs_change(h, 6201, 62, hs0 + 2000, "name", "Ann Two");
    sy_itr_wait_applied(h);
    char keep[64], drop[64];
    snprintf(keep, sizeof(keep), "%s", sy_itr_id(sy_itr_record(h, "hubspot:61")));
    snprintf(drop, sizeof(drop), "%s", sy_itr_id(sy_itr_record(h, "hubspot:62")));
    json_t *q = sy_itr_queue(h);
    if (sy_itr_pushes(q, "stripe", keep, NULL) != 1 || sy_itr_pushes(q, "stripe", drop, NULL) != 1)
        fail_msg("expected one queued push per record: %s", sy_itr_text(h, q));

    sy_itr_cli_ok(h, 0, "records", "merge", keep, drop, NULL);
    q = sy_itr_queue(h);
    json_t *push = NULL;
    if (sy_itr_pushes(q, "stripe", drop, NULL) != 0 || sy_itr_pushes(q, "stripe", keep, &push) != 1)
        fail_msg("after the merge the dropped record still has a push, or the kept one not exactly one: %s",
                 sy_itr_text(h, q));
    json_t *fields = json_object_get(push, "fields");
    if (json_string_value(json_object_get(fields, "email")) == NULL ||
        strcmp(json_string_value(json_object_get(fields, "email")), "ann@one.test") != 0 ||
        json_string_value(json_object_get(fields, "name")) == NULL ||
        strcmp(json_string_value(json_object_get(fields, "name")), "Ann Two") != 0)
        fail_msg("the folded push does not carry both records' values: %s", sy_itr_text(h, push));
    sy_it_pass(h);
}

static void test_found_object_of_another_record_is_a_dead_letter(void **state)
{
    static const sy_itd_api_t api = {.timeout = "2s", .max_attempts = 5};
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *stripe = sy_itd_fake_start(h, "stripe", NULL, NULL, 1);
    sy_itd_set_api(h, "stripe", stripe, &api);
    use_creating_policy(h);
    /* Stripe's cus_A holds shared@x.test; the hub last heard of it with another email */
    sy_itd_fake_seed(stripe, json_pack("{s:{s:s, s:s}}", "cus_A", "email", "shared@x.test", "name", "Al"));
    sy_it_start(h);
    const int64_t s0 = sy_now_ms() / 1000 - 600;
    sy_itr_stripe(h, "evt_a", "customer.created", s0, sy_itr_customer("cus_A", "al@old.test", "Al", NULL, NULL));
    sy_itr_wait_applied(h);
    char other[64];
    snprintf(other, sizeof(other), "%s", sy_itr_id(sy_itr_record(h, "stripe:cus_A")));

    /* a HubSpot contact with that email is another record; its push looks up the email and finds cus_A */
    sy_itr_hs_change(h, 5201, 52, (s0 + 10) * 1000, "email", "shared@x.test");
    sy_itr_wait_applied(h);
    json_t *dead = sy_itd_wait_dead(h, 1, DELIVER_TIMEOUT_S);
    const char *reason = json_string_value(json_object_get(json_array_get(dead, 0), "reason"));
    if (reason == NULL || strstr(reason, "cus_A") == NULL || strstr(reason, "linked to another record") == NULL)
        fail_msg("the dead letter does not say why: %s", sy_itr_text(h, dead));
    json_t *reqs = sy_itd_fake_requests(stripe);
    if (sy_itd_count(reqs, "POST", NULL, -1) != 0)
        fail_msg("cus_A (record %s) was written to on another record's behalf: %s", other, sy_itr_text(h, reqs));
    json_t *rec = sy_itr_record(h, "hubspot:52");
    if (json_object_get(json_object_get(rec, "xrefs"), "stripe") != NULL &&
        json_array_size(json_object_get(json_object_get(rec, "xrefs"), "stripe")) != 0)
        fail_msg("cus_A was linked to a second record: %s", sy_itr_text(h, rec));
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_keys_differ_between_hubs, teardown),
        cmocka_unit_test_teardown(test_merge_folds_queued_pushes, teardown),
        cmocka_unit_test_teardown(test_found_object_of_another_record_is_a_dead_letter, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
