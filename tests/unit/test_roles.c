/* Role sets (policy/roles.c): membership, changes, canonical form, and
 * the one duty table (which role runs which command). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/command.h"
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

/* sk_roles_may on a command line of up to two words. */
static int may(const char *set, const char *line)
{
    char buf[64], *sp;
    const char *argv[2];

    snprintf(buf, sizeof(buf), "%s", line);
    argv[0] = buf;
    if ((sp = strchr(buf, ' ')) != NULL) {
        *sp = '\0';
        argv[1] = sp + 1;
    }
    return sk_roles_may(set, sp != NULL ? 2 : 1, argv);
}

static void test_may(void **state)
{
    (void)state;
    /* an admin manages but reads no transcript */
    assert_true(may("admin", "user add"));
    assert_true(may("admin", "grant"));
    assert_true(may("admin", "report privileges"));
    assert_true(may("admin", "session kill"));
    assert_false(may("admin", "replay"));
    assert_false(may("admin", "export"));
    assert_false(may("admin", "session list"));
    assert_false(may("admin", "approve"));
    /* an auditor reads and changes nothing */
    assert_true(may("auditor", "replay"));
    assert_true(may("auditor", "verify"));
    assert_true(may("auditor", "audit show"));
    assert_false(may("auditor", "audit seal"));
    assert_false(may("auditor", "user"));
    assert_false(may("auditor", "grant add"));
    assert_false(may("auditor", "session kill"));
    assert_false(may("auditor", "signoff"));
    assert_true(may("approver", "signoff"));
    assert_false(may("approver", "session list"));
    /* several roles add up */
    assert_true(may("auditor,admin", "replay"));
    assert_true(may("auditor,admin", "target"));
    assert_false(may("maintainer", "session list"));
    /* root's words, unknown words, odd second words and bad sets: nobody */
    assert_false(may("maintainer,approver,auditor,admin", "key"));
    assert_false(may("maintainer,approver,auditor,admin", "init"));
    assert_false(may("maintainer,approver,auditor,admin", "backup"));
    assert_false(may("maintainer,approver,auditor,admin", "session"));
    assert_false(may("maintainer,approver,auditor,admin", "session lis"));
    assert_false(may("maintainer,approver,auditor,admin",
                     "session list show"));
    assert_false(may("admin", "users"));
    assert_false(may("admin", ""));
    assert_false(may("admin,admin", "user"));
    assert_false(may("root", "user"));
    assert_false(may(NULL, "user"));
    assert_false(sk_roles_may("admin", 0, NULL));
}

/* What DESIGN.md and issue 14 say each role runs, written out on its own:
 * the duty table must say exactly this, row for row. */
static const struct {
    const char *line;
    const char *role;
} spec[] = {
    {"session list", "auditor"},     {"session show", "auditor"},
    {"session watch", "auditor"},    {"session kill", "admin"},
    {"verify", "auditor"},           {"replay", "auditor"},
    {"search", "auditor"},           {"export", "auditor"},
    {"audit show", "auditor"},       {"audit verify", "auditor"},
    {"user", "admin"},               {"target", "admin"},
    {"group", "admin"},              {"grant", "admin"},
    {"request list", "admin"},       {"request show", "admin"},
    {"request approve", "admin"},    {"request deny", "admin"},
    {"request signoff", "admin"},    {"report privileges", "admin"},
    {"report inspection", "admin"},  {"approve", "approver"},
    {"deny", "approver"},            {"signoff", "approver"},
};

static const char *const all_roles[] = {"maintainer", "approver", "auditor",
                                        "admin"};

/* Every role but one, as a set. */
static void all_but(const char *role, char *out, size_t outlen)
{
    char tmp[SK_ROLES_MAX];

    assert_int_equal(sk_roles_apply("", "maintainer", out, outlen), 0);
    for (size_t i = 1; i < 4; i++) {
        snprintf(tmp, sizeof(tmp), "+%s", all_roles[i]);
        assert_int_equal(sk_roles_apply(out, tmp, out, outlen), 0);
    }
    snprintf(tmp, sizeof(tmp), "-%s", role);
    assert_int_equal(sk_roles_apply(out, tmp, out, outlen), 0);
}

static size_t spec_find(const char *cmd, const char *sub)
{
    char line[64];

    snprintf(line, sizeof(line), "%s%s%s", cmd, sub ? " " : "",
             sub ? sub : "");
    for (size_t k = 0; k < sizeof(spec) / sizeof(spec[0]); k++) {
        if (strcmp(spec[k].line, line) == 0) {
            return k;
        }
    }
    return (size_t)-1;
}

static void test_duty_table(void **state)
{
    const struct sk_duty *d;
    size_t n, k, covered = 0;
    int seen[sizeof(spec) / sizeof(spec[0])] = {0};
    struct sk_cmd *c = calloc(1, sizeof(*c));
    char err[256], set[SK_ROLES_MAX];

    (void)state;
    assert_non_null(c);
    /* The spec, command by command: its role may, every other single
     * role may not, all the other roles together may not. So an auditor
     * command refuses an admin, an admin command an auditor. */
    for (k = 0; k < sizeof(spec) / sizeof(spec[0]); k++) {
        assert_true(may(spec[k].role, spec[k].line));
        for (size_t r = 0; r < 4; r++) {
            if (strcmp(all_roles[r], spec[k].role) != 0 &&
                may(all_roles[r], spec[k].line)) {
                fail_msg("%s may run '%s'", all_roles[r], spec[k].line);
            }
        }
        all_but(spec[k].role, set, sizeof(set));
        if (may(set, spec[k].line)) {
            fail_msg("%s may run '%s'", set, spec[k].line);
        }
    }
    /* The table, row by row: a valid role that is not the maintainer's,
     * a reserved word, each (command, second word) in the spec with the
     * same role, and what the SSH parser makes of it. */
    d = sk_duties(&n);
    assert_true(n > 0);
    for (k = 0; k < n; k++) {
        char subs[80], *save = NULL, *w;
        const char *one[] = {NULL};

        assert_true(sk_role_valid(d[k].role));
        assert_string_not_equal(d[k].role, "maintainer");
        assert_true(sk_cmd_reserved(d[k].command));
        snprintf(subs, sizeof(subs), "%s", d[k].subs ? d[k].subs : " - ");
        for (w = strtok_r(subs, " ", &save); w != NULL;
             w = strtok_r(NULL, " ", &save)) {
            const char *sub = strcmp(w, "-") == 0 ? NULL : w;
            size_t at = spec_find(d[k].command, sub);
            char line[96];

            if (at == (size_t)-1) {
                fail_msg("table row '%s %s' is not in the spec",
                         d[k].command, sub ? sub : "");
            }
            assert_string_equal(spec[at].role, d[k].role);
            seen[at] = 1;
            covered++;
            /* over SSH: the same role for the same words */
            snprintf(line, sizeof(line), "%s%s%s 1", d[k].command,
                     sub ? " " : "", sub ? sub : "");
            assert_int_equal(sk_cmd_parse(line, strlen(line), c, err,
                                          sizeof(err)),
                             0);
            if (d[k].sekishoctl) {
                assert_int_equal(c->kind, SK_CMD_GATEWAY);
                assert_string_equal(c->role, d[k].role);
            } else {
                assert_true(c->kind == SK_CMD_APPROVE ||
                            c->kind == SK_CMD_DENY ||
                            c->kind == SK_CMD_SIGNOFF);
                /* and never a sekishoctl argv on anyone's behalf */
                one[0] = d[k].command;
                assert_int_not_equal(sk_cmd_gw_check(1, one, one, err,
                                                     sizeof(err)),
                                     0);
            }
        }
    }
    for (k = 0; k < sizeof(spec) / sizeof(spec[0]); k++) {
        if (!seen[k]) {
            fail_msg("'%s' (%s) has no row in the table", spec[k].line,
                     spec[k].role);
        }
    }
    assert_int_equal(covered, sizeof(spec) / sizeof(spec[0]));
    free(c);
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
        cmocka_unit_test(test_duty_table),
        cmocka_unit_test(test_self_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
