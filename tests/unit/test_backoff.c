/* Retry backoff: exponential with full jitter, base 1 s, capped at 1 h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "delivery.h"

static void test_ceiling_doubles_then_caps(void **state)
{
    /* The largest random value reaches the ceiling exactly: base * 2^attempt, capped. */
    const uint64_t top = UINT64_MAX;
    assert_int_equal(sy_backoff_ms(0, 1000, 3600000, 1000), 1000);
    assert_true(sy_backoff_ms(0, 1000, 3600000, top) <= 1000);
    assert_int_equal(sy_backoff_ms(1, 1000, 3600000, 2000), 2000);
    assert_int_equal(sy_backoff_ms(3, 1000, 3600000, 8000), 8000);
    assert_int_equal(sy_backoff_ms(11, 1000, 3600000, 2048000), 2048000);
    assert_int_equal(sy_backoff_ms(12, 1000, 3600000, 3600000), 3600000); /* 4096 s > 1 h: capped */
    assert_int_equal(sy_backoff_ms(200, 1000, 3600000, 3600000), 3600000); /* no overflow for huge attempts */
}

static void test_full_jitter_spans_zero_to_ceiling(void **state)
{
    int64_t lo = INT64_MAX, hi = 0;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i != 10000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = sy_backoff_ms(4, 1000, 3600000, x);
        assert_true(v >= 0 && v <= 16000);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* Full jitter: delays spread over the whole range, so retries of many pushes do not stampede. */
    assert_true(lo < 1600);
    assert_true(hi > 14400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_full_jitter_spans_zero_to_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
