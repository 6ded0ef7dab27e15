/*
 * Pushing to QuickBooks Online on the real binary, against the fake QuickBooks (sy_fake_spoke --api quickbooks):
 * a customer linked through Stripe's metadata (quickbooks: "realm:Id") gets HubSpot's new name as a sparse update
 * carrying the SyncToken the connector read first; when someone else saves the customer between that read and the
 * write (the fake's _concurrent_edits), QuickBooks answers 5010, the hub forgets the token, reads again and writes
 * with the fresh one — exactly one write lands, nothing is dead-lettered.
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define QB_TOKEN "qbo-verifier-token-it"
#define QB_ACCESS "qbo-access-token-it"
#define REALM "9341455251541838"
#define S0 1750000000LL
#define HS0 1750000000000LL
#define TIMEOUT_S 40.0

static const char qb_source[] = "  quickbooks:\n"
                                "    connector: quickbooks\n"
                                "    secrets: [{value: " QB_TOKEN "}]\n";

static const char qb_policy[] = "\n"
                                "  quickbooks:\n"
                                "    rate: 500/1m\n"
                                "    create: never\n"
                                "    objects:\n"
                                "      - events: [Customer.Fetched]\n"
                                "        id: id\n"
                                "        fields:\n"
                                "          email: object.PrimaryEmailAddr.Address\n"
                                "          name: object.DisplayName\n"
                                "    push_as:\n"
                                "      name: DisplayName\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static int no_quickbooks_push(sy_it_t *h, void *arg)
{
    (void)arg;
    return sy_itr_pushes(sy_itr_queue(h), "quickbooks", NULL, NULL) == 0;
}

static void test_stale_sync_token(void **state)
{
    sy_it_options_t opts = {.extra_sources = qb_source};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_itd_fake_t *qb = sy_itd_fake_start(h, "quickbooks", QB_ACCESS, NULL, 1);
    sy_itd_set_api(h, "quickbooks", qb, NULL);
    char *policy = sy_itr_example_policy(h);
    policy = sy_itr_replace(h, policy, "    push: [stripe]\n    normalize: [trim]",
                            "    push: [stripe, quickbooks]\n    normalize: [trim]");
    policy = sy_itr_replace(h, policy, "          hubspot: data.object.metadata.hubspot_contact_id\n",
                            "          hubspot: data.object.metadata.hubspot_contact_id\n"
                            "          quickbooks: data.object.metadata.qbo_customer_id\n");
    size_t len = strlen(policy) + sizeof(qb_policy);
    char *full = sy_it_alloc(h, len);
    snprintf(full, len, "%s%s", policy, qb_policy);
    sy_itr_set_policy(h, sy_it_write_file(h, "policy.yaml", full, strlen(full)));
    /* SyncToken 3; someone else saves the customer once, between our read and our write. */
    sy_itd_fake_seed(qb, json_pack("{s:{s:s, s:s, s:i}}", REALM ":58", "DisplayName", "Pat", "SyncToken", "3",
                                   "_concurrent_edits", 1));
    sy_it_start(h);

    json_t *cus = sy_itr_customer("cus_QB1", "pat@acme.example", "Pat", NULL, "71");
    json_object_set_new(json_object_get(cus, "metadata"), "qbo_customer_id", json_string(REALM ":58"));
    sy_itr_stripe(h, "evt_qb_link", "customer.created", S0, cus);
    sy_itr_wait_applied(h);
    sy_itr_hs_change(h, 7101, 71, HS0 + 1000, "name", "Pat Quinn");
    sy_itr_wait_applied(h);

    sy_itd_wait(h, TIMEOUT_S, "the QuickBooks push to settle", no_quickbooks_push, NULL);
    json_t *obj = sy_itd_fake_object(qb, REALM ":58");
    assert_string_equal(json_string_value(json_object_get(obj, "DisplayName")), "Pat Quinn");
    /* 3, then 4 by the other user, then 5 by our one write. */
    assert_string_equal(json_string_value(json_object_get(obj, "SyncToken")), "5");

    json_t *log = sy_itd_fake_requests(qb);
    const char *query = "/v3/company/" REALM "/query?query=select%20%2A%20from%20Customer%20where%20Id%20%3D%20%2758%27";
    const char *write = "/v3/company/" REALM "/customer?requestid=";
    if (sy_itd_count(log, "GET", query, 200) != 2 || sy_itd_count(log, "POST", write, 400) != 1 ||
        sy_itd_count(log, "POST", write, 200) != 1 || sy_itd_count(log, NULL, NULL, -1) != 4)
        fail_msg("expected read, stale write (400), read, write (200); the fake saw %s", sy_itr_text(h, log));
    json_t *stale = sy_itd_find(log, "POST", write, 400), *ok = sy_itd_find(log, "POST", write, 200);
    assert_string_equal(json_string_value(json_object_get(stale, "body")),
                        "{\"sparse\":true,\"Id\":\"58\",\"SyncToken\":\"3\",\"DisplayName\":\"Pat Quinn\"}");
    assert_string_equal(json_string_value(json_object_get(ok, "body")),
                        "{\"sparse\":true,\"Id\":\"58\",\"SyncToken\":\"4\",\"DisplayName\":\"Pat Quinn\"}");
    /* The requestid names the push and the token: the retry with the fresh token is a new request (the fake, like
     * Intuit, replays the first answer to a repeated requestid). */
    assert_non_null(strstr(json_string_value(json_object_get(stale, "path")), "-t3&minorversion=75"));
    assert_non_null(strstr(json_string_value(json_object_get(ok, "path")), "-t4&minorversion=75"));
    assert_int_equal(json_array_size(sy_itd_dead(h)), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_stale_sync_token, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
