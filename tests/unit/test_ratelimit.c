/* The token bucket (gateway/core/ratelimit.c) that bounds the worker's
 * unasked messages to the monitor: burst, refill, cap, clock steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratelimit.h"

static int take_n(struct sk_rate *r, int n, uint64_t now)
{
    int ok = 0;

    for (int i = 0; i < n; i++) {
        ok += sk_rate_take(r, now);
    }
    return ok;
}

/* A burst passes at once; the rest of a flood at the same instant is
 * dropped and counted. */
static void test_burst(void **state)
{
    struct sk_rate r;

    (void)state;
    sk_rate_init(&r, 20, 2, 1000);
    assert_int_equal(take_n(&r, 1000, 1000), 20);
    assert_int_equal(r.dropped, 980);
}

/* per_sec tokens a second come back, in exact thousandths. */
static void test_refill(void **state)
{
    struct sk_rate r;

    (void)state;
    sk_rate_init(&r, 5, 2, 0);
    assert_int_equal(take_n(&r, 5, 0), 5);
    assert_int_equal(sk_rate_take(&r, 499), 0);
    assert_int_equal(sk_rate_take(&r, 500), 1); /* 2/s: one per 500 ms */
    assert_int_equal(sk_rate_take(&r, 500), 0);
    /* a flood over 10 s passes 2 a second, no more */
    {
        int ok = 0;

        for (uint64_t t = 501; t <= 10500; t++) {
            ok += sk_rate_take(&r, t);
        }
        assert_int_equal(ok, 20);
    }
}

/* A long quiet fills the bucket to its burst, not beyond (and a huge
 * gap does not overflow). */
static void test_cap(void **state)
{
    struct sk_rate r;

    (void)state;
    sk_rate_init(&r, 3, 1000, 0);
    assert_int_equal(take_n(&r, 3, 0), 3);
    assert_int_equal(take_n(&r, 10, 3600000), 3);
    assert_int_equal(take_n(&r, 10, UINT64_MAX), 3);
}

/* A clock that steps back adds nothing and breaks nothing. */
static void test_clock_back(void **state)
{
    struct sk_rate r;

    (void)state;
    sk_rate_init(&r, 2, 1, 10000);
    assert_int_equal(take_n(&r, 2, 10000), 2);
    assert_int_equal(take_n(&r, 5, 5000), 0);
    assert_int_equal(sk_rate_take(&r, 10999), 0);
    assert_int_equal(sk_rate_take(&r, 11000), 1);
}

/* No refill at all: the burst is all there ever is. */
static void test_zero_rate(void **state)
{
    struct sk_rate r;

    (void)state;
    sk_rate_init(&r, 4, 0, 0);
    assert_int_equal(take_n(&r, 10, 0), 4);
    assert_int_equal(take_n(&r, 10, 1000000), 0);
    assert_int_equal(r.dropped, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_clock_back),
        cmocka_unit_test(test_zero_rate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
