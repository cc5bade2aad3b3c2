#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy/command.h"
#include "sk-err.h"

static int parse(const char *s, struct sk_cmd *c, char *err)
{
    return sk_cmd_parse(s, strlen(s), c, err, 256);
}

static void test_forms(void **state)
{
    struct sk_cmd *c = malloc(sizeof(*c));
    char err[256];

    (void)state;
    assert_int_equal(parse("", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_MENU);
    assert_int_equal(parse("   \t ", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_MENU);
    assert_int_equal(parse("web01", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_SHELL);
    assert_string_equal(c->target, "web01");
    assert_int_equal(parse("  web01  ", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_SHELL);
    assert_int_equal(parse("web01 -- uptime -p", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_EXEC);
    assert_string_equal(c->target, "web01");
    assert_string_equal(c->remote, "uptime -p");
    /* the remote command is passed verbatim, quotes and all */
    assert_int_equal(parse("db -- echo 'a  b' \"$HOME\" ; ls", c, err), 0);
    assert_string_equal(c->remote, "echo 'a  b' \"$HOME\" ; ls");
    assert_int_equal(parse("targets", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_TARGETS);
    assert_int_equal(parse("help", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_HELP);
    assert_int_equal(parse("passwd", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_PASSWD);
    free(c);
}

static void test_refusals(void **state)
{
    struct sk_cmd *c = malloc(sizeof(*c));
    char err[256], *big;

    (void)state;
    assert_int_equal(parse("web01 --", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "command missing"));
    assert_int_equal(parse("web01 uptime", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "usage: TARGET"));
    assert_int_equal(parse("web01 --x", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("targets now", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("passwd bob", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("Web01", c, err), SK_ERR_BAD_NAME);
    assert_int_equal(parse("../etc", c, err), SK_ERR_BAD_NAME);
    assert_int_equal(parse("request web01", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("web01\n-- id", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "control characters"));
    assert_int_equal(parse("web\x1b[31m", c, err), SK_ERR_INVALID);
    /* C1 controls too: U+009B is a one-character CSI to many terminals */
    assert_int_equal(parse("web01 -- echo \xc2\x9b" "31m", c, err),
                     SK_ERR_INVALID);
    assert_non_null(strstr(err, "control characters"));
    assert_int_equal(parse("web01 -- echo \xc2\x80", c, err),
                     SK_ERR_INVALID);
    /* ...but not the printable Latin-1 range right after them, nor other
     * scripts */
    assert_int_equal(parse("web01 -- echo \xc2\xa0\xc2\xbf", c, err), 0);
    assert_int_equal(parse("web01 -- echo \xe9\x96\xa2\xe6\x89\x80", c, err),
                     0);
    assert_int_equal(sk_cmd_parse("web\0x", 5, c, err, sizeof(err)),
                     SK_ERR_INVALID);
    assert_int_equal(parse("web01 -- \xff", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "UTF-8"));
    big = malloc(SK_CMD_MAX + 2);
    memset(big, 'a', SK_CMD_MAX + 1);
    big[SK_CMD_MAX + 1] = '\0';
    assert_int_equal(parse(big, c, err), SK_ERR_TOO_LONG);
    assert_non_null(strstr(err, "longer than 4096"));
    /* exactly at the limit is fine (and a 4090-byte remote command) */
    memcpy(big, "web -- ", 7);
    big[SK_CMD_MAX] = '\0';
    assert_int_equal(parse(big, c, err), 0);
    assert_int_equal(strlen(c->remote), SK_CMD_MAX - 7);
    free(big);
    free(c);
}

static void test_reserved(void **state)
{
    (void)state;
    assert_true(sk_cmd_reserved("targets"));
    assert_true(sk_cmd_reserved("approve"));
    assert_true(sk_cmd_reserved("passwd"));
    assert_false(sk_cmd_reserved("web01"));
    assert_true(sk_cmd_reserved("replay"));
    assert_true(sk_cmd_reserved("user"));
    assert_true(sk_cmd_reserved("list"));
}

static void test_request_commands(void **state)
{
    struct sk_cmd *c = malloc(sizeof(*c));
    char err[256];

    (void)state;
    assert_int_equal(parse("request web01 --reason replace the disk in bay 2",
                           c, err),
                     0);
    assert_int_equal(c->kind, SK_CMD_REQUEST);
    assert_string_equal(c->target, "web01");
    assert_string_equal(c->text, "replace the disk in bay 2");
    assert_string_equal(c->start, "");
    assert_int_equal(parse("request db01 --start 2026-12-01 09:00 --for 4h "
                           "--ticket CHG-1234 --reason patch - not before 9",
                           c, err),
                     0);
    assert_string_equal(c->start, "2026-12-01 09:00");
    assert_string_equal(c->dur, "4h");
    assert_string_equal(c->ticket, "CHG-1234");
    assert_string_equal(c->text, "patch - not before 9");
    /* refusals: no reason, unknown option, repeated option, bad target */
    assert_int_equal(parse("request web01", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "--reason is required"));
    assert_int_equal(parse("request web01 --why x", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("request web01 --reason a --reason b", c, err),
                     SK_ERR_INVALID);
    assert_non_null(strstr(err, "given twice"));
    assert_int_equal(parse("request --reason x", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("request targets --reason x", c, err),
                     SK_ERR_INVALID);
    assert_int_equal(parse("request web01 --reason", c, err),
                     SK_ERR_INVALID);
    /* report / approve / deny / signoff */
    assert_int_equal(parse("report 12 replaced disk, RAID rebuilt", c, err),
                     0);
    assert_int_equal(c->kind, SK_CMD_REPORT);
    assert_int_equal(c->id, 12);
    assert_string_equal(c->text, "replaced disk, RAID rebuilt");
    assert_int_equal(parse("report 12", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("approve 7", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_APPROVE);
    assert_int_equal(c->id, 7);
    assert_int_equal(parse("approve 7 because", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("deny 7 not this week", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_DENY);
    assert_string_equal(c->text, "not this week");
    assert_int_equal(parse("signoff 7", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_SIGNOFF);
    assert_int_equal(parse("approve x7", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("approve 0", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("approve -3", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("approve 1234567890123", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("requests", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_REQUESTS);
    assert_int_equal(parse("requests all", c, err), SK_ERR_INVALID);
    free(c);
}

static void assert_args(const struct sk_cmd *c, const char *const *want)
{
    int n = 0;

    assert_int_equal(c->kind, SK_CMD_GATEWAY);
    while (want[n] != NULL) {
        assert_non_null(sk_cmd_arg(c, n));
        assert_string_equal(sk_cmd_arg(c, n), want[n]);
        n++;
    }
    assert_int_equal(c->argc, n);
    assert_null(sk_cmd_arg(c, n));
}

static void test_gateway_commands(void **state)
{
    struct sk_cmd *c = malloc(sizeof(*c));
    char err[256];

    (void)state;
    /* auditor words, mapped to sekishoctl's */
    assert_int_equal(parse("sessions", c, err), 0);
    assert_args(c, (const char *[]){"session", "list", NULL});
    assert_string_equal(c->role, "auditor");
    assert_int_equal(parse("sessions --json --user bob", c, err), 0);
    assert_args(c, (const char *[]){"session", "list", "--json", "--user",
                                    "bob", NULL});
    assert_int_equal(parse("session show 20261201-ab", c, err), 0);
    assert_args(c, (const char *[]){"session", "show", "20261201-ab", NULL});
    assert_string_equal(c->role, "auditor");
    assert_int_equal(parse("watch S1", c, err), 0);
    assert_args(c, (const char *[]){"session", "watch", "S1", NULL});
    assert_int_equal(parse("verify --all", c, err), 0);
    assert_args(c, (const char *[]){"verify", "--all", NULL});
    assert_int_equal(parse("replay S1 --speed 2", c, err), 0);
    assert_string_equal(c->role, "auditor");
    assert_int_equal(parse("export S1 --format text", c, err), 0);
    assert_args(c, (const char *[]){"export", "S1", "--format", "text",
                                    NULL});
    assert_int_equal(parse("audit show --event login_ok", c, err), 0);
    assert_string_equal(c->role, "auditor");
    assert_int_equal(parse("search 'rm -rf'", c, err), 0);
    assert_args(c, (const char *[]){"search", "rm -rf", NULL});
    /* admin words */
    assert_int_equal(parse("user add carol --role auditor --password-stdin",
                           c, err),
                     0);
    assert_string_equal(c->role, "admin");
    assert_args(c, (const char *[]){"user", "add", "carol", "--role",
                                    "auditor", "--password-stdin", NULL});
    assert_int_equal(parse("session kill S1 --reason \"left the "
                           "company\"",
                           c, err),
                     0);
    assert_string_equal(c->role, "admin");
    assert_args(c, (const char *[]){"session", "kill", "S1", "--reason",
                                    "left the company", NULL});
    assert_int_equal(parse("grant add bob web01 --until '2026-12-31 "
                           "18:00'",
                           c, err),
                     0);
    assert_args(c, (const char *[]){"grant", "add", "bob", "web01",
                                    "--until", "2026-12-31 18:00", NULL});
    assert_int_equal(parse("target list", c, err), 0);
    assert_string_equal(c->role, "admin");
    /* request/report: the admin forms beside the maintainer ones */
    assert_int_equal(parse("request list --state pending", c, err), 0);
    assert_args(c, (const char *[]){"request", "list", "--state", "pending",
                                    NULL});
    assert_string_equal(c->role, "admin");
    assert_int_equal(parse("request approve 4 --comment ok", c, err), 0);
    assert_string_equal(c->role, "admin");
    assert_int_equal(parse("request web01 --reason disk", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_REQUEST);
    assert_int_equal(parse("report privileges --format csv", c, err), 0);
    assert_args(c, (const char *[]){"report", "privileges", "--format",
                                    "csv", NULL});
    assert_int_equal(parse("report 12 done", c, err), 0);
    assert_int_equal(c->kind, SK_CMD_REPORT);
    /* quoting: joined pieces, escapes in double quotes, empty words */
    assert_int_equal(parse("search a\"b c\"'d e'f \"x\\\"y\\\\\" ''", c,
                           err),
                     0);
    assert_args(c, (const char *[]){"search", "ab cd ef", "x\"y\\", "",
                                    NULL});
    /* refusals */
    assert_int_equal(parse("search 'open", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "unterminated"));
    assert_int_equal(parse("search \"open", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("export S1 --format text -o /etc/shadow", c, err),
                     SK_ERR_INVALID);
    assert_non_null(strstr(err, "-o is not available over SSH"));
    assert_int_equal(parse("export S1 --passphrase-file /root/p", c, err),
                     SK_ERR_INVALID);
    assert_int_equal(parse("target add w --host h --port 22 --login l "
                           "--host-key-file /etc/shadow",
                           c, err),
                     SK_ERR_INVALID);
    assert_int_equal(parse("request approve 4 --as boss", c, err),
                     SK_ERR_INVALID);
    assert_int_equal(parse("user key add bob /root/.ssh/id_ed25519.pub", c,
                           err),
                     SK_ERR_INVALID);
    assert_int_equal(parse("user key add bob -", c, err), 0);
    assert_int_equal(parse("audit rotate", c, err), SK_ERR_INVALID);
    assert_non_null(strstr(err, "not a gateway command"));
    assert_int_equal(parse("session", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("report frobnicate", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("backup /tmp", c, err), SK_ERR_INVALID);
    assert_int_equal(parse("search a\x01", c, err), SK_ERR_INVALID);
    {
        char many[4 * SK_CMD_ARGS_MAX + 16] = "search";

        for (int k = 0; k < SK_CMD_ARGS_MAX; k++) {
            strcat(many, " x");
        }
        assert_int_equal(parse(many, c, err), SK_ERR_TOO_LONG);
    }
    /* the rule alone, as sekishoctl --actor applies it */
    {
        const char *role = NULL;
        const char *a1[] = {"replay", "S1"};
        const char *a2[] = {"user", "add", "x"};
        const char *a3[] = {"backup", "/tmp"};
        const char *a4[] = {"session", "list show"};

        assert_int_equal(sk_cmd_gw_check(2, a1, &role, err, sizeof(err)), 0);
        assert_string_equal(role, "auditor");
        assert_int_equal(sk_cmd_gw_check(3, a2, &role, err, sizeof(err)), 0);
        assert_string_equal(role, "admin");
        assert_int_equal(sk_cmd_gw_check(2, a3, &role, err, sizeof(err)),
                         SK_ERR_INVALID);
        assert_null(role);
        assert_int_equal(sk_cmd_gw_check(2, a4, &role, err, sizeof(err)),
                         SK_ERR_INVALID);
    }
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_request_commands),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_gateway_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
