/*
 * HubSpot's contact.creation carries no properties. With the source's fetch_created option the hub reads the created
 * contact back (GET /crm/v3/objects/contacts/{id}, through the fetcher: paced, retried, the cursor committed with
 * the events) and logs its properties as property changes (signature "fetched"), so the golden record gets them and
 * a replay never needs the network. Without the option nothing is read (the other tests post contact.creation too).
 */
#include "harness_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define TIMEOUT_S 40.0

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static int logged_four(sy_it_t *h, void *arg)
{
    (void)arg;
    return sy_it_log_count(h) >= 4;
}

static void test_created_contact_is_read_back(void **state)
{
    sy_it_t *h = sy_it_create(state, NULL);
    sy_itd_fake_t *hs = sy_itd_fake_start(h, "hubspot", NULL, NULL, 1);
    char *conf = sy_it_slurp(h->config_path, NULL);
    assert_non_null(conf);
    const char *text = sy_itr_replace(h, conf, "    connector: hubspot\n", "    connector: hubspot\n    fetch_created: \"true\"\n");
    free(conf);
    sy_it_write_file(h, "switchyard.yaml", text, strlen(text));
    sy_itd_set_api(h, "hubspot", hs, NULL);
    sy_itd_use_example_policy(h);
    sy_itd_fake_seed(hs, json_pack("{s:{s:s, s:s, s:s}}", "51", "email", "ana@acme.example", "company", "Acme",
                                   "lifecyclestage", "customer"));
    sy_it_start(h);
    sy_itr_hubspot_post(h, "hubspot", SY_IT_HUBSPOT_SECRET,
                        sy_itr_hs_event(8001, "contact.creation", 51, sy_now_ms() - 1000, NULL, NULL));
    /* the creation, then its three properties as read */
    sy_itd_wait(h, TIMEOUT_S, "the created contact's properties to be fetched into the log", logged_four, NULL);
    json_t *ev = sy_it_log_show(h, 2);
    assert_string_equal(json_string_value(json_object_get(ev, "signature")), "fetched");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "contact.propertyChange");
    sy_itr_wait_applied(h);
    json_t *rec = sy_itr_record(h, "hubspot:51");
    assert_string_equal(sy_itr_field(rec, "email", "value"), "ana@acme.example");
    assert_string_equal(sy_itr_field(rec, "company", "value"), "Acme");
    assert_string_equal(sy_itr_field(rec, "lifecycle_stage", "value"), "customer");
    json_t *reqs = sy_itd_fake_requests(hs);
    assert_int_equal(sy_itd_count(reqs, "GET", "/crm/v3/objects/contacts/51", 200), 1);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_created_contact_is_read_back, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
