/* gateway/core/i18n.c: language names, display width, padding, notices,
 * and the catalogue switch in a real worker sandbox (no file can be
 * opened there: the catalogues must have been loaded before). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "i18n.h"
#include "log.h"
#include "sk-err.h"
#include "worker.h"

static void test_lang_names(void **state)
{
    (void)state;
    assert_true(sk_lang_valid("en"));
    assert_true(sk_lang_valid("ja"));
    assert_false(sk_lang_valid("fr"));
    assert_false(sk_lang_valid(""));
    assert_false(sk_lang_valid(NULL));
    assert_string_equal(sk_lang_from_env("ja_JP.UTF-8"), "ja");
    assert_string_equal(sk_lang_from_env("ja"), "ja");
    assert_string_equal(sk_lang_from_env("ja_JP.eucJP"), "ja");
    assert_string_equal(sk_lang_from_env("ja@x"), "ja");
    assert_string_equal(sk_lang_from_env("C"), "en");
    assert_string_equal(sk_lang_from_env("C.UTF-8"), "en");
    assert_string_equal(sk_lang_from_env("en_US.UTF-8"), "en");
    assert_string_equal(sk_lang_from_env("jam"), "en"); /* not ja */
    assert_null(sk_lang_from_env(""));
    assert_null(sk_lang_from_env(NULL));
}

static void test_display_width(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(sk_display_width(""), 0);
    assert_int_equal(sk_display_width("web01"), 5);
    assert_int_equal(sk_display_width("関所"), 4);          /* 6 bytes */
    assert_int_equal(sk_display_width("接続先"), 6);        /* 9 bytes */
    assert_int_equal(sk_display_width("ｱ"), 1);  /* halfwidth katakana */
    assert_int_equal(sk_display_width("（"), 2); /* fullwidth paren */
    assert_int_equal(sk_display_width("e\xcc\x81"), 1); /* e + U+0301 */
    assert_int_equal(sk_display_width("caf\xc3\xa9"), 4);
    assert_int_equal(sk_display_width("\xff\xfe"), 2); /* invalid: 1 each */
    assert_int_equal(sk_display_width("\xe6\x8e"), 2); /* cut short */
    assert_string_equal(sk_pad(out, sizeof(out), "番号", 6), "番号  ");
    assert_string_equal(sk_pad(out, sizeof(out), "No.", 6), "No.   ");
    assert_string_equal(sk_pad(out, sizeof(out), "longer", 3), "longer");
    assert_string_equal(sk_pad(out, 4, "ab", 6), "ab ");
}

static void test_notice(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(sk_notice_fmt(out, sizeof(out), "x %d", 5), 7);
    assert_string_equal(out, "\r\nx 5\r\n");
    /* truncated, the line ends kept */
    assert_int_equal(sk_notice_fmt(out, 8, "%s", "abcdefgh"), 7);
    assert_string_equal(out, "\r\nabc\r\n");
}

static void test_local_time(void **state)
{
    char out[64];

    (void)state;
    sk_time_local_fmt("Asia/Tokyo", (time_t)1764547200, out, sizeof(out));
    assert_string_equal(out, "2025-12-01 09:00 JST");
    sk_time_local_fmt("UTC", (time_t)1764547200, out, sizeof(out));
    assert_string_equal(out, "2025-12-01 00:00 UTC");
}

/* In a child: the catalogues loaded (or not) before the worker's
 * sandbox, then both languages asked for inside it. */
static int run_child(int init_first)
{
    pid_t pid = fork();
    int st = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (init_first && sk_i18n_init(LOCALE_DIR, "en") != 0) {
            _exit(90);
        }
        if (sandbox_apply(0) != 0) {
            _exit(91);
        }
        if (!init_first) {
            (void)sk_i18n_init(LOCALE_DIR, "en");
        }
        if (strcmp(_("Password: "), "Password: ") != 0) {
            _exit(2);
        }
        if (sk_i18n_use("ja") != 0 || strcmp(sk_i18n_lang(), "ja") != 0 ||
            strcmp(_("Password: "), "パスワード (Password): ") != 0 ||
            strcmp(_("No such target.\n"),
                   "その接続先はありません。\n") != 0) {
            _exit(3);
        }
        if (sk_i18n_use("en") != 0 ||
            strcmp(_("Password: "), "Password: ") != 0) {
            _exit(4);
        }
        if (sk_i18n_use("ja") != 0 ||
            strcmp(_("No."), "番号") != 0) {
            _exit(5);
        }
        if (sk_i18n_use("fr") != SK_ERR_INVALID) {
            _exit(6);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_switch_in_sandbox(void **state)
{
    int st;

    (void)state;
    st = run_child(1);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_msg("catalogues loaded before the sandbox: status %#x", st);
    }
    /* The control: loaded only inside, Japanese cannot appear. */
    st = run_child(0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lang_names),
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_notice),
        cmocka_unit_test(test_local_time),
        cmocka_unit_test(test_switch_in_sandbox),
    };
    sk_log_init("test_i18n", 1, SK_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
