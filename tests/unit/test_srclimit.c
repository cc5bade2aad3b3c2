/* Unit tests for gateway/core/srclimit.c: netblocks, random early drop and
 * the penalty table that cannot be flushed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sk-err.h"
#include "srclimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int key4(const char *addr, int v4, int v6, char *out)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
    return sk_netblock_key((struct sockaddr *)&sin, sizeof(sin), v4, v6, out,
                           SK_NETBLOCK_MAX);
}

static int key6(const char *addr, int v4, int v6, char *out)
{
    struct sockaddr_in6 sin6;

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
    return sk_netblock_key((struct sockaddr *)&sin6, sizeof(sin6), v4, v6,
                           out, SK_NETBLOCK_MAX);
}

static void test_netblock_key(void **state)
{
    char k[SK_NETBLOCK_MAX], k2[SK_NETBLOCK_MAX];

    (void)state;
    assert_int_equal(key4("192.0.2.77", 32, 64, k), 0);
    assert_string_equal(k, "192.0.2.77/32");
    assert_int_equal(key4("192.0.2.77", 24, 64, k), 0);
    assert_string_equal(k, "192.0.2.0/24");
    assert_int_equal(key4("192.0.2.77", 0, 64, k), 0);
    assert_string_equal(k, "0.0.0.0/0");
    /* every address of a /64 is one subscriber */
    assert_int_equal(key6("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 32, 64, k), 0);
    assert_string_equal(k, "2001:db8:1:2::/64");
    assert_int_equal(key6("2001:db8:1:2:ffff::1", 32, 64, k2), 0);
    assert_string_equal(k, k2);
    assert_int_equal(key6("2001:db8:1:3::1", 32, 64, k2), 0);
    assert_string_not_equal(k, k2);
    /* a prefix that is not a whole number of bytes */
    assert_int_equal(key6("2001:db8:1:2fff::1", 32, 52, k), 0);
    assert_string_equal(k, "2001:db8:1:2000::/52");
    assert_int_equal(key6("::1", 32, 128, k), 0);
    assert_string_equal(k, "::1/128");
    /* a v4-mapped address is the IPv4 host, not a fresh IPv6 budget */
    assert_int_equal(key6("::ffff:192.0.2.77", 24, 64, k), 0);
    assert_string_equal(k, "192.0.2.0/24");
    /* bad bit counts, a small buffer, another family */
    assert_int_equal(key4("192.0.2.1", 33, 64, k), SK_ERR_INVALID);
    assert_int_equal(key6("::1", 32, 129, k), SK_ERR_INVALID);
    {
        struct sockaddr_in sin;

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        assert_int_equal(sk_netblock_key((struct sockaddr *)&sin,
                                         sizeof(sin), 32, 64, k, 4),
                         SK_ERR_INVALID);
        sin.sin_family = AF_UNIX;
        assert_int_equal(sk_netblock_key((struct sockaddr *)&sin,
                                         sizeof(sin), 32, 64, k,
                                         sizeof(k)),
                         SK_ERR_INVALID);
    }
}

static void test_parse(void **state)
{
    int a, b, c;

    (void)state;
    assert_int_equal(sk_startups_parse("10:30:100", &a, &b, &c), 0);
    assert_int_equal(a, 10);
    assert_int_equal(b, 30);
    assert_int_equal(c, 100);
    assert_int_equal(sk_startups_parse("7", &a, &b, &c), 0);
    assert_int_equal(a, 7);
    assert_int_equal(b, 100);
    assert_int_equal(c, 7);
    assert_int_equal(sk_startups_parse("0", &a, &b, &c), SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("10:30", &a, &b, &c), SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("10:30:5", &a, &b, &c),
                     SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("10:101:50", &a, &b, &c),
                     SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("10:30:100x", &a, &b, &c),
                     SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("-1:30:100", &a, &b, &c),
                     SK_ERR_INVALID);
    assert_int_equal(sk_startups_parse("", &a, &b, &c), SK_ERR_INVALID);
    assert_int_equal(sk_netblock_parse("24:48", &a, &b), 0);
    assert_int_equal(a, 24);
    assert_int_equal(b, 48);
    assert_int_equal(sk_netblock_parse("32", &a, &b), 0);
    assert_int_equal(b, 64);
    assert_int_equal(sk_netblock_parse("33:64", &a, &b), SK_ERR_INVALID);
    assert_int_equal(sk_netblock_parse("32:", &a, &b), SK_ERR_INVALID);
    assert_int_equal(sk_netblock_parse("32:64:1", &a, &b), SK_ERR_INVALID);
}

/* Admissions out of 1000 evenly spread random numbers. */
static int admitted(int startups, int held, int s, int r, int f)
{
    int n = 0;

    for (uint32_t rnd = 0; rnd < 1000; rnd++) {
        n += sk_startups_admit(startups, held, s, r, f, rnd);
    }
    return n;
}

static void test_early_drop(void **state)
{
    (void)state;
    /* below start: all in; at full: none, whoever asks */
    assert_int_equal(admitted(9, 5, 10, 30, 100), 1000);
    assert_int_equal(admitted(100, 0, 10, 30, 100), 0);
    assert_int_equal(admitted(150, 3, 10, 30, 100), 0);
    /* at start: rate% dropped; half way: about 65%; rising */
    assert_int_equal(admitted(10, 1, 10, 30, 100), 700);
    assert_int_equal(admitted(55, 1, 10, 30, 100), 350);
    assert_true(admitted(80, 1, 10, 30, 100) < admitted(55, 1, 10, 30, 100));
    /* a netblock holding none is never dropped early: a flood from other
     * addresses does not crowd it out before full */
    assert_int_equal(admitted(99, 0, 10, 30, 100), 1000);
    /* a hard cap (start = full) */
    assert_int_equal(admitted(4, 1, 5, 100, 5), 1000);
    assert_int_equal(admitted(5, 0, 5, 100, 5), 0);
}

static void test_penalties(void **state)
{
    struct sk_penalties *p = sk_penalties_new(4);
    char k[SK_NETBLOCK_MAX];

    (void)state;
    assert_non_null(p);
    assert_int_equal(sk_penalties_count(p, "a", 100, 60), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sk_penalties_note(p, "attacker", 100 + i, 60, 1), 0);
    }
    assert_int_equal(sk_penalties_count(p, "attacker", 104, 60), 5);
    /* counted within the window only, then starting again */
    assert_int_equal(sk_penalties_count(p, "attacker", 165, 60), 0);
    /* Fresh addresses with a failure each cannot flush the attacker out,
     * however many there are. */
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "10.0.%d.%d/32", i / 250, i % 250);
        assert_true(sk_penalties_note(p, k, 110, 60, 1) >= 0);
    }
    assert_int_equal(sk_penalties_count(p, "attacker", 110, 60), 5);
    /* ... and the newest light offenders are still counted */
    assert_int_equal(sk_penalties_count(p, k, 110, 60), 1);
    /* expired entries give way first */
    assert_int_equal(sk_penalties_note(p, "late", 200, 60, 1), 0);
    assert_int_equal(sk_penalties_count(p, "late", 200, 60), 1);
    /* when everyone has failed more than a newcomer, it is not tracked */
    {
        struct sk_penalties *q = sk_penalties_new(2);

        assert_int_equal(sk_penalties_note(q, "x", 10, 60, 3), 0);
        assert_int_equal(sk_penalties_note(q, "y", 10, 60, 3), 0);
        assert_int_equal(sk_penalties_note(q, "z", 11, 60, 1), 1);
        assert_int_equal(sk_penalties_count(q, "x", 11, 60), 3);
        assert_int_equal(sk_penalties_count(q, "y", 11, 60), 3);
        assert_int_equal(sk_penalties_count(q, "z", 11, 60), 0);
        sk_penalties_free(q);
    }
    assert_int_equal(sk_penalties_note(p, "", 1, 60, 0), SK_ERR_INVALID);
    sk_penalties_free(p);
    sk_penalties_free(NULL);
}

/* Filling the netblock table with worse offenders does not switch the
 * penalties off: newcomers are counted per coarse block. */
static void test_door_overflow(void **state)
{
    struct sk_door *d = sk_door_new(8);
    char k[SK_NETBLOCK_MAX];
    int i;

    (void)state;
    assert_non_null(d);
    for (i = 0; i < 8; i++) {
        snprintf(k, sizeof(k), "2001:db8:0:%x::/64", i);
        assert_int_equal(sk_door_note(d, k, "2001:db8::/32", 10, 60, 2), 0);
    }
    /* a fresh /64 of the same allocation: one failure is not tracked per
     * netblock, but five are, through the coarse block */
    for (i = 0; i < 5; i++) {
        assert_int_equal(sk_door_note(d, "2001:db8:0:99::/64",
                                      "2001:db8::/32", 11, 60, 1),
                         0);
    }
    assert_int_equal(sk_door_count(d, "2001:db8:0:99::/64", "2001:db8::/32",
                                   11, 60),
                     5 + 0);
    /* another /64 of that allocation sees the same count */
    assert_int_equal(sk_door_count(d, "2001:db8:0:aa::/64", "2001:db8::/32",
                                   11, 60),
                     5);
    /* another allocation is not affected */
    assert_int_equal(sk_door_count(d, "2001:db9:0:1::/64", "2001:db9::/32",
                                   11, 60),
                     0);
    /* a tracked netblock keeps its own count */
    assert_int_equal(sk_door_count(d, "2001:db8:0:1::/64", "2001:db9::/32",
                                   11, 60),
                     2);
    assert_int_equal(sk_door_note(d, "x", NULL, 1, 60, 1), SK_ERR_INVALID);
    sk_door_free(d);
    sk_door_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netblock_key),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_early_drop),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_door_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
