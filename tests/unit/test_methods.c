/* Method rules (gateway/core/methods.c): parsing, boundaries, and the
 * decisions the monitor makes from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "methods.h"
#include "sk-err.h"

#define PW SK_F_PASSWORD
#define TOTP SK_F_TOTP
#define PK SK_F_PUBLICKEY
#define SK SK_F_SK

static struct sk_methods parse_ok(const char *text, int min)
{
    struct sk_methods m;
    char err[256] = "";

    if (sk_methods_parse(text, min, &m, err, sizeof(err)) != 0) {
        fail_msg("'%s' refused: %s", text, err);
    }
    return m;
}

static void parse_bad(const char *text, int min, const char *why)
{
    struct sk_methods m;
    char err[256] = "";

    assert_int_equal(sk_methods_parse(text, min, &m, err, sizeof(err)),
                     SK_ERR_INVALID);
    if (strstr(err, why) == NULL) {
        fail_msg("'%s': error '%s' lacks '%s'", text, err, why);
    }
}

static void test_parse(void **state)
{
    struct sk_methods m;
    char out[256];

    (void)state;
    m = parse_ok("password+totp", 2);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.alt[0], PW | TOTP);
    m = parse_ok("  sk+password \t publickey+totp  ", 2);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.alt[0], SK | PW);
    assert_int_equal(m.alt[1], PK | TOTP);
    sk_methods_format(&m, out, sizeof(out));
    assert_string_equal(out, "password+sk totp+publickey");
    /* the same alternative twice (any order) is one */
    m = parse_ok("totp+password password+totp", 2);
    assert_int_equal(m.n, 1);
    /* all four */
    m = parse_ok("password+totp+publickey+sk", 2);
    assert_int_equal(m.alt[0], PW | TOTP | PK | SK);
    /* single factors only where allowed */
    m = parse_ok("password", 1);
    assert_int_equal(m.alt[0], PW);
}

static void test_parse_errors(void **state)
{
    char big[400];

    (void)state;
    parse_bad("", 1, "empty rule");
    parse_bad("   ", 1, "empty rule");
    parse_bad("password", 2, "has 1 factor; at least 2");
    parse_bad("password+totp sk", 2, "alternative 'sk' has 1 factor");
    parse_bad("password+pin", 1, "unknown factor 'pin'");
    parse_bad("Password+totp", 1, "unknown factor 'Password'");
    parse_bad("password++totp", 1, "empty factor");
    parse_bad("+totp", 1, "empty factor");
    parse_bad("password+", 1, "empty factor");
    parse_bad("password+password", 1, "named twice");
    parse_bad("password,totp", 1, "unknown factor");
    parse_bad("a+b c+d e+f g+h", 1, "unknown factor 'a'");
    parse_bad("password+totp password+sk password+publickey totp+sk "
              "totp+publickey sk+publickey password+totp+sk "
              "password+totp+publickey password+sk+publickey",
              2, "more than 8 alternatives");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    parse_bad(big, 1, "longer than");
}

static void test_satisfied_and_wanted(void **state)
{
    struct sk_methods m = parse_ok("password+totp sk+password", 2);

    (void)state;
    assert_false(sk_methods_satisfied(&m, 0));
    assert_false(sk_methods_satisfied(&m, PW));
    assert_false(sk_methods_satisfied(&m, SK));
    assert_false(sk_methods_satisfied(&m, TOTP | SK));
    assert_true(sk_methods_satisfied(&m, PW | TOTP));
    assert_true(sk_methods_satisfied(&m, PW | SK));
    assert_true(sk_methods_satisfied(&m, PW | SK | PK));
    assert_int_equal(sk_methods_wanted(&m, 0), PW | TOTP | SK);
    assert_int_equal(sk_methods_wanted(&m, PW), TOTP | SK);
    /* an ordinary key helps no alternative */
    assert_int_equal(sk_methods_wanted(&m, PK), PW | TOTP | SK);
    assert_int_equal(sk_methods_wanted(&m, SK), PW | TOTP);
    assert_int_equal(sk_methods_wanted(&m, PW | SK), 0);
}

static void test_pam_ask(void **state)
{
    struct sk_methods m;

    (void)state;
    m = parse_ok("password+totp", 2);
    assert_int_equal(sk_methods_pam_ask(&m, 0), PW | TOTP);
    assert_int_equal(sk_methods_pam_ask(&m, PW), TOTP);
    assert_int_equal(sk_methods_pam_ask(&m, PW | TOTP), 0);
    /* after a security key only the password completes the rule */
    m = parse_ok("password+totp sk+password", 2);
    assert_int_equal(sk_methods_pam_ask(&m, SK), PW);
    assert_int_equal(sk_methods_pam_ask(&m, 0), PW | TOTP);
    /* keys first: nothing is asked before an alternative's key is done */
    m = parse_ok("sk+password publickey+totp", 2);
    assert_int_equal(sk_methods_pam_ask(&m, 0), 0);
    assert_int_equal(sk_methods_pam_ask(&m, PK), TOTP);
    assert_int_equal(sk_methods_pam_ask(&m, SK), PW);
    m = parse_ok("publickey+password", 2);
    assert_int_equal(sk_methods_pam_ask(&m, 0), 0);
    assert_int_equal(sk_methods_pam_ask(&m, PK), PW);
    m = parse_ok("sk+password+totp", 2);
    assert_int_equal(sk_methods_pam_ask(&m, 0), 0);
    assert_int_equal(sk_methods_pam_ask(&m, SK), PW | TOTP);
    /* the fewest prompts that complete an alternative */
    m = parse_ok("password+totp+publickey password+sk", 2);
    assert_int_equal(sk_methods_pam_ask(&m, PK | SK), PW);
    /* keys only: nothing to ask */
    m = parse_ok("publickey+sk", 2);
    assert_int_equal(sk_methods_pam_ask(&m, 0), 0);
    assert_int_equal(sk_methods_pam_ask(&m, PK), 0);
}

static void test_format(void **state)
{
    char out[64], tiny[6];

    (void)state;
    sk_factors_format(0, out, sizeof(out));
    assert_string_equal(out, "none");
    sk_factors_format(SK | PW | TOTP | PK, out, sizeof(out));
    assert_string_equal(out, "password+totp+publickey+sk");
    /* truncation stays a terminated prefix of whole words */
    sk_factors_format(PW | TOTP, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny) < sizeof(tiny), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_satisfied_and_wanted),
        cmocka_unit_test(test_pam_ask),
        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
