/*
 * The header-keyed connectors (standard_webhooks, github, shopify) on a running hub: `switchyard trigger` of every
 * sample type is stored; a delivery posted twice with the same provider id is stored once (the replay defence of
 * the schemes without a signed timestamp); a tampered body is 401; the log keeps the id and the type the headers
 * gave (GitHub: "issues.opened" from X-GitHub-Event + action).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"
#include "harness.h"

#define GH_SECRET "gh-hook-secret"
#define SH_SECRET "shopify-app-secret"
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static const char extra[] = "  gh:\n"
                            "    connector: github\n"
                            "    secrets: [{value: " GH_SECRET "}]\n"
                            "  shop:\n"
                            "    connector: shopify\n"
                            "    secrets: [{value: " SH_SECRET "}]\n"
                            "  sw:\n"
                            "    connector: standard_webhooks\n"
                            "    tolerance: 5m\n"
                            "    secrets: [{value: " SW_SECRET "}]\n";

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

/* Signs body as kind's provider would (its own sign) and adds the headers, Content-Type first. */
static void sign(const char *kind, const char *secret, const char *body, sy_it_headers_t *hd)
{
    const sy_connector_t *c = sy_connector_find(kind);
    sy_header_t out[8];
    size_t n = SY_ARRAY_SIZE(out);
    char buf[1024], name[128], value[512];
    sy_request_view_t req = {.method = SY_SLICE_LIT("POST"), .body = sy_slice_cstr(body), .now_ms = sy_now_ms()};
    assert_non_null(c);
    assert_int_equal(c->sign(NULL, sy_slice_cstr(secret), &req, out, &n, buf, sizeof(buf)), 0);
    sy_it_headers_add(hd, "Content-Type", "application/json");
    for (size_t i = 0; i != n; ++i) {
        snprintf(name, sizeof(name), "%.*s", (int)out[i].name.len, out[i].name.base);
        snprintf(value, sizeof(value), "%.*s", (int)out[i].value.len, out[i].value.base);
        sy_it_headers_add(hd, name, value);
    }
}

static void test_trigger_every_sample(void **state)
{
    sy_it_options_t opts = {.extra_sources = extra};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_it_start(h);
    static const struct {
        const char *source, *kind;
    } sources[] = {{"gh", "github"}, {"shop", "shopify"}, {"sw", "standard_webhooks"}};
    json_int_t before = sy_it_log_count(h), sent = 0;
    for (size_t i = 0; i != SY_ARRAY_SIZE(sources); ++i) {
        const sy_connector_t *c = sy_connector_find(sources[i].kind);
        for (const char *const *t = c->sample_types; *t != NULL; ++t, ++sent) {
            sy_it_output_t o;
            sy_it_cli(h, &o, "trigger", sources[i].source, *t, NULL);
            if (o.status != 0)
                fail_msg("trigger %s %s: exit %d: %s", sources[i].source, *t, o.status, o.err);
            sy_it_output_dispose(&o);
        }
    }
    assert_int_equal(sy_it_log_count(h), before + sent);
    sy_it_pass(h);
}

static void test_replay_stored_once_and_tamper_refused(void **state)
{
    sy_it_options_t opts = {.extra_sources = extra};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_it_start(h);
    const char *body = "{\"action\":\"opened\",\"issue\":{\"number\":7,\"title\":\"Bug\"},\"repository\":{\"id\":1}}";
    sy_it_headers_t hd = {0};
    sy_it_response_t res;
    sign("github", GH_SECRET, body, &hd);
    sy_it_post(h, "/hooks/gh", &hd, body, strlen(body), &res);
    json_int_t seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    /* GitHub redelivers with the same X-GitHub-Delivery: stored once. */
    sy_it_post(h, "/hooks/gh", &hd, body, strlen(body), &res);
    sy_it_assert_stored(&res, 1);
    sy_it_response_dispose(&res);
    json_t *ev = sy_it_log_show(h, seq);
    const char *delivery = NULL;
    for (size_t i = 0; i != hd.count; ++i) {
        if (strncmp(hd.lines[i], "X-GitHub-Delivery: ", 19) == 0)
            delivery = hd.lines[i];
    }
    assert_non_null(delivery);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "issues.opened");
    assert_memory_equal(json_string_value(json_object_get(ev, "event_id")), delivery + 19, 36);
    /* One byte changed after signing. */
    char tampered[256];
    snprintf(tampered, sizeof(tampered), "%s", body);
    tampered[40] ^= 1;
    sy_it_post(h, "/hooks/gh", &hd, tampered, strlen(tampered), &res);
    sy_it_assert_error(&res, 401, "signature_invalid");
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&hd);

    /* Shopify: the same X-Shopify-Event-Id twice is one event; its topic is the type. */
    const char *customer = "{\"id\":706405506930370084,\"email\":\"ana@acme.example\",\"created_at\":"
                           "\"2024-12-05T15:46:40Z\",\"updated_at\":\"2024-12-06T15:46:40Z\"}";
    sy_it_headers_t sh = {0};
    sign("shopify", SH_SECRET, customer, &sh);
    sy_it_post(h, "/hooks/shop", &sh, customer, strlen(customer), &res);
    seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_it_post(h, "/hooks/shop", &sh, customer, strlen(customer), &res);
    sy_it_assert_stored(&res, 1);
    sy_it_response_dispose(&res);
    ev = sy_it_log_show(h, seq);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "customers/update");
    sy_it_headers_dispose(&sh);

    /* Standard Webhooks: the same webhook-id twice is one event; a missing signature is 401 missing_header. */
    const char *payload = "{\"type\":\"contact.updated\",\"timestamp\":\"2024-12-06T15:46:40Z\",\"data\":{\"id\":\"c1\"}}";
    sy_it_headers_t sw = {0};
    sign("standard_webhooks", SW_SECRET, payload, &sw);
    sy_it_post(h, "/hooks/sw", &sw, payload, strlen(payload), &res);
    seq = sy_it_assert_stored(&res, 0);
    sy_it_response_dispose(&res);
    sy_it_post(h, "/hooks/sw", &sw, payload, strlen(payload), &res);
    sy_it_assert_stored(&res, 1);
    sy_it_response_dispose(&res);
    ev = sy_it_log_show(h, seq);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "contact.updated");
    sy_it_headers_t unsigned_hd = {0};
    sy_it_headers_add(&unsigned_hd, "Content-Type", "application/json");
    sy_it_post(h, "/hooks/sw", &unsigned_hd, payload, strlen(payload), &res);
    sy_it_assert_error(&res, 401, "signature_invalid");
    assert_string_equal(json_string_value(json_object_get(res.json, "check")), "missing_header");
    sy_it_response_dispose(&res);
    sy_it_headers_dispose(&sw);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_trigger_every_sample, teardown),
        cmocka_unit_test_teardown(test_replay_stored_once_and_tamper_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
