/* Event shapes for schema drift (observe.h sy_shape_t): the type code at each mapped path, telling a missing
 * member of a present object (drift) from a parent that is absent or another property's change (no drift). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observe.h"

static sy_policy_t *policy;

static int setup(void **state)
{
    char path[1024];
    sy_error_t err = {0};
    snprintf(path, sizeof(path), "%s/../../policies/customers.yaml", getenv("SY_TEST_DATA"));
    return sy_policy_load(&policy, path, &err);
}

static int teardown(void **state)
{
    sy_policy_destroy(policy);
    return 0;
}

/* The code at path in the shape of (source, type, body). */
static char code_at(const char *source, const char *type, const char *body, const char *path, sy_shape_t *shape)
{
    sy_event_t ev = {.seq = 1, .received_at_ms = 1700000060000, .occurred_at_ms = 1700000000000,
                     .source = sy_slice_cstr(source), .connector = sy_slice_cstr(source),
                     .event_id = SY_SLICE_LIT("e1"), .type = sy_slice_cstr(type), .body = sy_slice_cstr(body)};
    sy_observation_t *obs;
    size_t n;
    assert_int_equal(sy_observe_shape(policy, &ev, &obs, &n, NULL, shape), 0);
    sy_observations_free(obs, n);
    assert_non_null(shape->buf);
    const sy_policy_path_t *paths[SY_SHAPE_MAX_PATHS];
    size_t np = sy_shape_paths(policy, sy_policy_source_index(policy, source), type, paths, SY_SHAPE_MAX_PATHS);
    assert_int_equal(strlen(shape->codes), np);
    for (size_t i = 0; i != np; ++i)
        if (strcmp(paths[i]->text, path) == 0)
            return shape->codes[i];
    fail_msg("%s is not a mapped path of %s %s", path, source, type);
    return 0;
}

static void test_stripe_customer_shape(void **state)
{
    const char *body = "{\"id\":\"evt_1\",\"api_version\":\"2024-06-20\",\"data\":{\"object\":{\"id\":\"cus_A\","
                       "\"email\":7,\"phone\":null,\"metadata\":{}}}}";
    sy_shape_t s;
    assert_int_equal(code_at("stripe", "customer.updated", body, "data.object.email", &s), SY_SHAPE_NUMBER);
    assert_string_equal(s.api_version, "2024-06-20");
    assert_string_equal(s.source, "stripe");
    assert_string_equal(s.type, "customer.updated");
    sy_shape_dispose(&s);
    assert_int_equal(code_at("stripe", "customer.updated", body, "data.object.phone", &s), SY_SHAPE_NULL);
    sy_shape_dispose(&s);
    assert_int_equal(code_at("stripe", "customer.updated", body, "data.object.name", &s), SY_SHAPE_ABSENT);
    sy_shape_dispose(&s);
    /* a member of a present (empty) object is absent; of a missing one it says nothing */
    assert_int_equal(code_at("stripe", "customer.updated", body, "data.object.metadata.lifecycle_stage", &s), SY_SHAPE_ABSENT);
    sy_shape_dispose(&s);
    assert_int_equal(code_at("stripe", "customer.updated", "{\"data\":{\"object\":{\"id\":\"cus_A\"}}}",
                             "data.object.metadata.lifecycle_stage", &s), SY_SHAPE_NA);
    assert_null(s.api_version);
    sy_shape_dispose(&s);
}

static void test_stripe_expandable_collapsed(void **state)
{
    /* price sent as its id instead of the object: price.id is gone, and that is drift, not another kind of event */
    const char *body = "{\"data\":{\"object\":{\"customer\":\"cus_A\",\"status\":\"active\",\"items\":{\"data\":"
                       "[{\"price\":\"price_1\"}]}}}}";
    sy_shape_t s;
    assert_int_equal(code_at("stripe", "customer.subscription.updated", body, "data.object.items.data.0.price.id", &s),
                     SY_SHAPE_NOT_OBJECT);
    sy_shape_dispose(&s);
    /* no items at all: an empty list says nothing about the price */
    assert_int_equal(code_at("stripe", "customer.subscription.updated",
                             "{\"data\":{\"object\":{\"customer\":\"cus_A\",\"items\":{\"data\":[]}}}}",
                             "data.object.items.data.0.price.id", &s), SY_SHAPE_NA);
    sy_shape_dispose(&s);
}

static void test_hubspot_one_property_per_event(void **state)
{
    const char *change = "{\"objectId\":51,\"subscriptionType\":\"contact.propertyChange\",\"propertyName\":\"email\","
                         "\"propertyValue\":\"a@b.test\"}";
    sy_shape_t s;
    assert_int_equal(code_at("hubspot", "contact.propertyChange", change, "properties.email", &s), SY_SHAPE_STRING);
    sy_shape_dispose(&s);
    assert_int_equal(code_at("hubspot", "contact.propertyChange", change, "properties.phone", &s), SY_SHAPE_NA);
    sy_shape_dispose(&s);
    assert_int_equal(code_at("hubspot", "contact.propertyChange", change, "objectId", &s), SY_SHAPE_NUMBER);
    sy_shape_dispose(&s);
    assert_int_equal(code_at("hubspot", "contact.creation", "{\"objectId\":51}", "properties.email", &s), SY_SHAPE_NA);
    sy_shape_dispose(&s);
}

static void test_unmapped_type_and_unknown_source(void **state)
{
    sy_event_t ev = {.seq = 1, .received_at_ms = 1700000060000, .source = SY_SLICE_LIT("stripe"),
                     .connector = SY_SLICE_LIT("stripe"), .event_id = SY_SLICE_LIT("e1"),
                     .type = SY_SLICE_LIT("charge.refunded"), .body = SY_SLICE_LIT("{\"api_version\":\"x\"}")};
    sy_observation_t *obs;
    size_t n;
    sy_shape_t s;
    assert_int_equal(sy_observe_shape(policy, &ev, &obs, &n, NULL, &s), 0);
    assert_int_equal(n, 0);
    assert_non_null(s.buf);
    assert_string_equal(s.type, "charge.refunded");
    assert_string_equal(s.codes, "");
    sy_shape_dispose(&s);
    ev.source = SY_SLICE_LIT("nobody");
    assert_int_equal(sy_observe_shape(policy, &ev, &obs, &n, NULL, &s), 0);
    assert_null(s.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_customer_shape),
        cmocka_unit_test(test_stripe_expandable_collapsed),
        cmocka_unit_test(test_hubspot_one_property_per_event),
        cmocka_unit_test(test_unmapped_type_and_unknown_source),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
