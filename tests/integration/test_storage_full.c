/*
 * Storage full on the real binary: with a 1 MiB map that may not grow, ~60 KiB events fill it; the hub then
 * answers 503 + Retry-After + storage_full, keeps serving, loses no acknowledged event, half-writes nothing,
 * and still stops cleanly and restarts on the full data dir.
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define MAX_TRIES 200
#define EVENT_SIZE (60 * 1024)

static int teardown(void **state)
{
    sy_it_destroy(*state);
    *state = NULL;
    return 0;
}

static void assert_retry_after(const sy_it_response_t *res)
{
    const char *p = res->retry_after;
    int digits = *p != '\0';
    for (; *p != '\0'; ++p)
        digits &= isdigit((unsigned char)*p) != 0;
    if (!digits && strstr(res->retry_after, "GMT") == NULL) {
        sy_it_dump_response("503 without a usable Retry-After", res);
        fail_msg("Retry-After must be delta-seconds or an HTTP date, got \"%s\"", res->retry_after);
    }
}

static void test_storage_full(void **state)
{
    static const sy_it_options_t opts = {.storage = "{map_size: 1MiB, map_size_max: 1MiB, max_batch: 4096}"};
    sy_it_t *h = sy_it_create(state, &opts);
    sy_it_response_t res;
    json_int_t seqs[MAX_TRIES];
    char *bodies[MAX_TRIES] = {NULL}, id[32], s[32];
    size_t lens[MAX_TRIES], acked = 0;
    int full = 0, status;
    json_t *shown;
    sy_it_output_t o;

    sy_it_start(h);
    while (!full && acked < MAX_TRIES) {
        snprintf(id, sizeof(id), "evt_full_%03zu", acked);
        bodies[acked] = sy_it_stripe_event(h, id, "customer.updated", 1700000000 + (int64_t)acked, EVENT_SIZE, &lens[acked]);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, bodies[acked], lens[acked], &res);
        if (res.status == 503) {
            sy_it_assert_error(&res, 503, "storage_full");
            assert_retry_after(&res);
            full = 1;
        } else {
            seqs[acked] = sy_it_assert_stored(&res, 0);
            ++acked;
        }
        sy_it_response_dispose(&res);
    }
    print_message("%zu events of %d bytes acknowledged before 503\n", acked, EVENT_SIZE);
    if (!full)
        fail_msg("no 503 after %d events of %d bytes with a 1 MiB map", MAX_TRIES, EVENT_SIZE);
    assert_true(acked > 0);

    /* still full for the next big event, and still alive */
    {
        size_t len;
        char *more = sy_it_stripe_event(h, "evt_full_more", "customer.updated", 1700000999, EVENT_SIZE, &len);
        sy_it_post_stripe(h, SY_IT_STRIPE_SECRET_A, more, len, &res);
        sy_it_assert_error(&res, 503, "storage_full");
        assert_retry_after(&res);
        sy_it_response_dispose(&res);
    }
    sy_it_admin_get(h, "/healthz", NULL, &res);
    assert_int_equal(res.status, 200);
    sy_it_response_dispose(&res);

    /* nothing lost, nothing half-written */
    assert_int_equal(sy_it_log_count(h), acked);
    shown = sy_it_log_show(h, seqs[0]);
    assert_string_equal(json_string_value(json_object_get(shown, "event_id")), "evt_full_000");
    snprintf(s, sizeof(s), "%lld", (long long)seqs[acked - 1]);
    sy_it_cli(h, &o, "log", "show", s, "--raw", NULL);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.out_len, lens[acked - 1]);
    assert_memory_equal(o.out, bodies[acked - 1], lens[acked - 1]);
    sy_it_output_dispose(&o);
    snprintf(id, sizeof(id), "evt_full_%03zu", acked); /* the refused one was not stored */
    sy_it_cli(h, &o, "log", "tail", "-n", "1", "--json", NULL);
    assert_int_equal(o.status, 0);
    assert_null(strstr(o.out, id));
    sy_it_output_dispose(&o);

    /* a clean stop (asserted last, not to hide the restart checks) and a restart on the full data dir */
    status = sy_it_stop(h);
    sy_it_start(h);
    assert_int_equal(sy_it_log_count(h), acked);
    shown = sy_it_log_show(h, seqs[acked - 1]);
    snprintf(id, sizeof(id), "evt_full_%03zu", acked - 1);
    assert_string_equal(json_string_value(json_object_get(shown, "event_id")), id);
    assert_int_equal(status, 0);
    assert_int_equal(sy_it_stop(h), 0);

    sy_it_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_storage_full, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
