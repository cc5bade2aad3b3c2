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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
