#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "policy/policy.h"
#include "sk-err.h"

static const struct sk_policy_grant grants[] = {
    {"web01", 1, 0},
    {"db01", 0, 0},
    {"tmp01", 1, 1000},
};

static int decide(const char *t, enum sk_access_mode m, time_t now,
                  char *why)
{
    return sk_policy_decide(grants, 3, t, m, now, why, 128);
}

static void test_decisions(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(decide("web01", SK_ACCESS_SHELL, 5, why), 0);
    assert_int_equal(decide("web01", SK_ACCESS_EXEC, 5, why), 0);
    assert_int_equal(decide("db01", SK_ACCESS_SHELL, 5, why), 0);
    assert_int_equal(decide("db01", SK_ACCESS_EXEC, 5, why), SK_ERR_DENIED);
    assert_string_equal(why, "grant does not allow exec");
    assert_int_equal(decide("other", SK_ACCESS_SHELL, 5, why), SK_ERR_DENIED);
    assert_string_equal(why, "no grant for target");
    /* validity is a half-open interval: valid before, not at, the end */
    assert_int_equal(decide("tmp01", SK_ACCESS_SHELL, 999, why), 0);
    assert_int_equal(decide("tmp01", SK_ACCESS_SHELL, 1000, why),
                     SK_ERR_DENIED);
    assert_string_equal(why, "grant expired");
    /* no grants at all: deny */
    assert_int_equal(sk_policy_decide(NULL, 0, "web01", SK_ACCESS_SHELL, 5,
                                      why, sizeof(why)),
                     SK_ERR_DENIED);
    /* prefix of a granted name is not that name */
    assert_int_equal(decide("web0", SK_ACCESS_SHELL, 5, why), SK_ERR_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
