/*
 * Fault injection 5: clock jumps against the timestamp tolerance.
 *
 * The hub checks a signature's timestamp against its own wall clock (sy_now_ms), so a jump of either clock shows
 * up as a skew between the sender's timestamp and the hub's "now". The test makes the jump on the sender side: it
 * signs with timestamps at now ± (tolerance − 5 s), which must be accepted, and at now ± (tolerance + 5 s), which
 * must be refused with 401 {"error":"signature_invalid","check":"timestamp_tolerance"} and store nothing. Both
 * directions (sender ahead, sender behind), both connectors, the default windows (Stripe 300 s, HubSpot 5 min) and a
 * configured 30 s one. A refused event, resent with a good clock, is accepted as new.
 */
#include "../faults/fault_common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define MARGIN_S 5

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

typedef struct st_source_t {
    const char *name;
    int hubspot;
    long tolerance_s;
} source_t;

/* Posts a fresh event to source, signed at now + skew_s; returns the response (disposed by the caller). */
static void post_skewed(sy_it_t *h, const source_t *src, const char *id, long skew_s, sy_it_response_t *res)
{
    sy_it_headers_t hd = {0};
    char path[64], url[160];
    char *body;
    size_t len;

    snprintf(path, sizeof(path), "/hooks/%s", src->name);
    if (src->hubspot) {
        json_t *ev = json_pack("[o]", sy_itr_hs_event(atoll(id), "contact.propertyChange", 42, FL_HS0, "email", "c@clock.test"));
        body = sy_it_own(h, json_dumps(ev, JSON_COMPACT), free);
        json_decref(ev);
        len = strlen(body);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", h->ingress_port, path);
        sy_it_sign_hubspot(&hd, SY_IT_HUBSPOT_SECRET, url, body, len, sy_now_ms() + skew_s * 1000);
    } else {
        body = sy_it_stripe_event(h, id, "customer.updated", FL_S0, 0, &len);
        sy_it_sign_stripe(&hd, SY_IT_STRIPE_SECRET_A, body, len, sy_now_ms() / 1000 + skew_s);
    }
    sy_it_post(h, path, &hd, body, len, res);
    sy_it_headers_dispose(&hd);
    sy_it_release(h, body);
}

static void test_timestamp_tolerance_under_clock_jumps(void **state)
{
    static const source_t sources[] = {
        {"stripe", 0, 300}, {"hubspot", 1, 300}, {"stripe_short", 0, 30}, {"hubspot_short", 1, 30}};
    sy_it_t *h = sy_it_create(state, NULL);
    char extra[1024], id[48];
    sy_it_response_t res;
    json_int_t stored = 0;

    /* two more sources with a configured 30 s window */
    snprintf(extra, sizeof(extra),
             "sources:\n"
             "  stripe_short:\n"
             "    connector: stripe\n"
             "    tolerance: 30s\n"
             "    secrets: [{value: " SY_IT_STRIPE_SECRET_A "}]\n"
             "  hubspot_short:\n"
             "    connector: hubspot\n"
             "    signature_version: 3\n"
             "    tolerance: 30s\n"
             "    public_url: http://127.0.0.1:%u/hooks/hubspot_short\n"
             "    secrets: [{value: " SY_IT_HUBSPOT_SECRET "}]\n",
             h->ingress_port);
    fl_config_replace(h, "sources:\n", extra);
    sy_it_start(h);

    for (size_t s = 0; s != SY_ARRAY_SIZE(sources); ++s) {
        const source_t *src = &sources[s];
        const long inside = src->tolerance_s - MARGIN_S, outside = src->tolerance_s + MARGIN_S;
        const long skews[] = {-inside, inside, -outside, outside};
        for (size_t k = 0; k != SY_ARRAY_SIZE(skews); ++k) {
            int accept = k < 2;
            if (src->hubspot)
                snprintf(id, sizeof(id), "%zu", 880000 + s * 10 + k);
            else
                snprintf(id, sizeof(id), "evt_clock_%zu_%zu", s, k);
            post_skewed(h, src, id, skews[k], &res);
            if (accept) {
                if (res.status != 200) {
                    sy_it_dump_response("refused inside the window", &res);
                    fail_msg("%s: a timestamp %+ld s off (tolerance %ld s) must be accepted", src->name, skews[k],
                             src->tolerance_s);
                }
                sy_it_assert_stored(&res, 0);
                ++stored;
            } else {
                const char *check = json_string_value(json_object_get(res.json, "check"));
                if (res.status != 401 || check == NULL || strcmp(check, "timestamp_tolerance") != 0) {
                    sy_it_dump_response("not refused outside the window", &res);
                    fail_msg("%s: a timestamp %+ld s off (tolerance %ld s) must answer 401 check timestamp_tolerance",
                             src->name, skews[k], src->tolerance_s);
                }
                sy_it_assert_error(&res, 401, "signature_invalid");
            }
            sy_it_response_dispose(&res);
            print_message("%-14s tolerance %3ld s, sender clock %+4ld s: %s\n", src->name, src->tolerance_s, skews[k],
                          accept ? "200 stored" : "401 timestamp_tolerance");
        }
        /* the refused ones stored nothing: resent with a good clock they are new */
        for (size_t k = 2; k != 4; ++k) {
            if (src->hubspot)
                snprintf(id, sizeof(id), "%zu", 880000 + s * 10 + k);
            else
                snprintf(id, sizeof(id), "evt_clock_%zu_%zu", s, k);
            post_skewed(h, src, id, 0, &res);
            sy_it_assert_stored(&res, 0);
            sy_it_response_dispose(&res);
            ++stored;
        }
    }
    assert_int_equal(sy_it_log_count(h), stored);
    {   /* counted per source as signature failures */
        json_t *st = sy_itr_status(h), *srcs = json_object_get(json_object_get(st, "ingress"), "sources");
        for (size_t s = 0; s != SY_ARRAY_SIZE(sources); ++s) {
            json_int_t f = json_integer_value(json_object_get(json_object_get(srcs, sources[s].name), "signature_failures"));
            if (f != 2)
                fail_msg("%s: status counts %lld signature failures, expected 2", sources[s].name, (long long)f);
        }
    }
    assert_int_equal(sy_it_stop(h), 0);
    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_timestamp_tolerance_under_clock_jumps, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
