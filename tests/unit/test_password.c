#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "auth/password.h"
#include "sk-err.h"

static void test_policy(void **state)
{
    struct sk_pw_policy p;
    char why[256];

    (void)state;
    sk_pw_policy_default(&p);
    assert_int_equal(sk_pw_check(&p, "alice", "Correct-Horse-9-Battery!", why,
                                 sizeof(why)),
                     0);
    /* R-PW-1: length and all four classes */
    assert_int_equal(sk_pw_check(&p, "alice", "Sh0rt!x", why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_non_null(strstr(why, "shorter than 12"));
    assert_int_equal(sk_pw_check(&p, "alice", "alllowercase-9x", why,
                                 sizeof(why)),
                     SK_ERR_DENIED);
    assert_non_null(strstr(why, "upper case"));
    assert_int_equal(sk_pw_check(&p, "alice", "NoDigitsHere-x", why,
                                 sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_pw_check(&p, "alice", "NoSymbols99abc", why,
                                 sizeof(why)),
                     SK_ERR_DENIED);
    /* R-PW-2: not the user name, not a dictionary word */
    assert_int_equal(sk_pw_check(&p, "maintainer7", "Maintainer7-maintainer7",
                                 why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_pw_check(&p, "alice", "Maintenance1!x", why,
                                 sizeof(why)),
                     SK_ERR_DENIED);
    /* dictionary words under decorations and look-alike digits */
    {
        static const char *const weak[] = {"Password1234!", "P4ssw0rd1234!",
                                           "!!Summer2024##", "Dragon-2024!",
                                           "Welcome2024!!"};
        static const char *const fine[] = {"Zebra-Lamp-77-Pond",
                                           "Xk9!fE2#vR8m", "Kq7#mZ9!pL2x"};

        for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
            if (sk_pw_check(&p, "alice", weak[i], why, sizeof(why)) !=
                SK_ERR_DENIED) {
                fail_msg("'%s' was accepted", weak[i]);
            }
            assert_non_null(strstr(why, "dictionary"));
        }
        for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
            if (sk_pw_check(&p, "alice", fine[i], why, sizeof(why)) != 0) {
                fail_msg("'%s' refused: %s", fine[i], why);
            }
        }
    }
    /* never below 8 even if configured lower */
    p.min_length = 4;
    assert_int_equal(sk_pw_check(&p, "alice", "Ab1!xyz", why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_non_null(strstr(why, "shorter than 8"));
}

static void test_hash_verify(void **state)
{
    char h[SK_PW_HASH_MAX];

    (void)state;
    assert_int_equal(sk_pw_hash("Correct-Horse-9-Battery!", h, sizeof(h)), 0);
    assert_memory_equal(h, "$argon2id$", 10); /* parameters recorded */
    assert_non_null(strstr(h, "m="));
    assert_int_equal(sk_pw_verify(h, "Correct-Horse-9-Battery!"), 0);
    assert_int_equal(sk_pw_verify(h, "correct-Horse-9-Battery!"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_pw_verify(h, ""), SK_ERR_DENIED);
    /* unknown user / missing hash always fails */
    assert_int_equal(sk_pw_verify(NULL, "Correct-Horse-9-Battery!"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_pw_verify("$2y$10$bcrypt", "x"), SK_ERR_DENIED);
}

/* The stand-in hash for unknown users costs what a real one does: same
 * algorithm and parameters as sk_pw_hash gives, ready without hashing. */
static void test_dummy_hash(void **state)
{
    char h[SK_PW_HASH_MAX];
    const char *d = sk_pw_dummy_hash(), *e;

    (void)state;
    assert_int_equal(sk_pw_hash("Correct-Horse-9-Battery!", h, sizeof(h)), 0);
    /* "$argon2id$v=19$m=...,t=...,p=...$": everything up to the salt */
    e = strchr(strchr(strchr(h + 1, '$') + 1, '$') + 1, '$');
    assert_non_null(e);
    assert_memory_equal(d, h, (size_t)(e - h + 1));
    assert_int_equal(crypto_pwhash_str_needs_rehash(
                         d, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_MEMLIMIT_INTERACTIVE),
                     0);
    assert_int_equal(sk_pw_verify(d, "Correct-Horse-9-Battery!"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_pw_verify(d, ""), SK_ERR_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_dummy_hash),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
