/* Role sets (policy/roles.c): membership, changes, canonical form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "policy/request.h"
#include "policy/roles.h"
#include "sk-err.h"

static void test_has(void **state)
{
    (void)state;
    assert_true(sk_roles_has("maintainer", "maintainer"));
    assert_true(sk_roles_has("approver,auditor", "auditor"));
    assert_false(sk_roles_has("approver,auditor", "admin"));
    assert_false(sk_roles_has("", "admin"));
    assert_false(sk_roles_has(NULL, "admin"));
    /* a prefix or a part of a word is no role */
    assert_false(sk_roles_has("administrator", "admin"));
    assert_false(sk_roles_has("admin,", "admin"));
    assert_false(sk_roles_has("admin,admin", "admin"));
    assert_false(sk_roles_has("audit", "auditor"));
    assert_true(sk_req_is_approver("approver,admin"));
    assert_false(sk_req_is_approver("auditor,admin"));
    assert_false(sk_req_is_approver("maintainer,auditor"));
}

static void test_apply(void **state)
{
    char out[SK_ROLES_MAX];

    (void)state;
    assert_int_equal(sk_roles_apply("maintainer", "+auditor", out,
                                    sizeof(out)), 0);
    assert_string_equal(out, "maintainer,auditor");
    assert_int_equal(sk_roles_apply("admin,maintainer", "+approver", out,
                                    sizeof(out)), 0);
    assert_string_equal(out, "maintainer,approver,admin");
    assert_int_equal(sk_roles_apply("approver,auditor", "-approver", out,
                                    sizeof(out)), 0);
    assert_string_equal(out, "auditor");
    assert_int_equal(sk_roles_apply("auditor", "-auditor", out, sizeof(out)),
                     0);
    assert_string_equal(out, "");
    assert_int_equal(sk_roles_apply("auditor,admin", "maintainer", out,
                                    sizeof(out)), 0);
    assert_string_equal(out, "maintainer");
    assert_int_equal(sk_roles_apply("auditor", "+auditor", out, sizeof(out)),
                     0);
    assert_string_equal(out, "auditor");
    assert_int_equal(sk_roles_apply("auditor", "+root", out, sizeof(out)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_roles_apply("auditor", "+", out, sizeof(out)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_roles_apply("bogus", "+admin", out, sizeof(out)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_roles_apply("auditor", "+admin", out, 6),
                     SK_ERR_TOO_LONG);
    assert_true(sk_roles_valid_set("maintainer,auditor"));
    assert_true(sk_roles_valid_set(""));
    assert_false(sk_roles_valid_set("maintainer,,auditor"));
    assert_false(sk_roles_valid_set("maintainer,maintainer"));
    assert_true(sk_role_valid("admin"));
    assert_false(sk_role_valid("Admin"));
}

static void test_may(void **state)
{
    (void)state;
    /* an admin manages but reads no transcript */
    assert_true(sk_roles_may("admin", "user"));
    assert_true(sk_roles_may("admin", "grant"));
    assert_true(sk_roles_may("admin", "report"));
    assert_false(sk_roles_may("admin", "replay"));
    assert_false(sk_roles_may("admin", "export"));
    assert_false(sk_roles_may("admin", "approve"));
    /* an auditor reads and changes nothing */
    assert_true(sk_roles_may("auditor", "replay"));
    assert_true(sk_roles_may("auditor", "verify"));
    assert_true(sk_roles_may("auditor", "audit"));
    assert_false(sk_roles_may("auditor", "user"));
    assert_false(sk_roles_may("auditor", "grant"));
    assert_false(sk_roles_may("auditor", "signoff"));
    assert_true(sk_roles_may("approver", "signoff"));
    assert_false(sk_roles_may("approver", "session"));
    /* several roles add up */
    assert_true(sk_roles_may("auditor,admin", "replay"));
    assert_true(sk_roles_may("auditor,admin", "target"));
    assert_false(sk_roles_may("maintainer", "sessions"));
    /* root's words, unknown words and bad sets: nobody */
    assert_false(sk_roles_may("maintainer,approver,auditor,admin", "key"));
    assert_false(sk_roles_may("maintainer,approver,auditor,admin", "init"));
    assert_false(sk_roles_may("admin", "users"));
    assert_false(sk_roles_may("admin", ""));
    assert_false(sk_roles_may("admin,admin", "user"));
    assert_false(sk_roles_may("root", "user"));
    assert_false(sk_roles_may(NULL, "user"));
    assert_false(sk_roles_may("admin", NULL));
}

static void test_self_check(void **state)
{
    (void)state;
    assert_int_equal(sk_roles_self_check("alice", "alice", "grant"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_roles_self_check("alice", "alice", "user"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_roles_self_check("alice", "alice", "approve"),
                     SK_ERR_DENIED);
    assert_int_equal(sk_roles_self_check("alice", "bob", "grant"), 0);
    assert_int_equal(sk_roles_self_check("alice", "alicex", "user"), 0);
    assert_int_equal(sk_roles_self_check("alice", "alice", "target"), 0);
    /* root at the console is audited as break-glass instead */
    assert_int_equal(sk_roles_self_check(NULL, "alice", "grant"), 0);
    assert_int_equal(sk_roles_self_check("alice", NULL, "grant"),
                     SK_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_has),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_may),
        cmocka_unit_test(test_self_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
