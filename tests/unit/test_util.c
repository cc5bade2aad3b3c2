#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sk-err.h"
#include "util.h"

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(sk_name_valid("alice"));
    assert_true(sk_name_valid("web01.prod-2_a"));
    assert_true(sk_name_valid("0day"));
    assert_true(sk_name_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    assert_false(sk_name_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    assert_false(sk_name_valid(""));
    assert_false(sk_name_valid(NULL));
    assert_false(sk_name_valid("-x"));
    assert_false(sk_name_valid(".hidden"));
    assert_false(sk_name_valid("Alice"));
    assert_false(sk_name_valid("a b"));
    assert_false(sk_name_valid("a/b"));
    assert_false(sk_name_valid("\xc3\xa9t\xc3\xa9"));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(sk_utf8_valid("plain", 5));
    assert_true(sk_utf8_valid("\xe9\x96\xa2\xe6\x89\x80", 6)); /* 関所 */
    assert_true(sk_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(sk_utf8_valid("\xff", 1));
    assert_false(sk_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(sk_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(sk_utf8_valid("\xe9\x96", 2));         /* truncated */
    assert_false(sk_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_utf8_repair(void **state)
{
    char *s;

    (void)state;
    s = sk_utf8_repair("a\xff" "b\0c", 5);
    assert_non_null(s);
    assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
    free(s);
    s = sk_utf8_repair("\xe9\x96\xa2", 3);
    assert_string_equal(s, "\xe9\x96\xa2");
    free(s);
}

/* The one terminal-safe rendering: nothing a terminal obeys survives,
 * text (Japanese included) does, and the result is recognisable. */
static void test_term_safe(void **state)
{
    static const char evil[] = "bye \x1b]0;owned\x07\x1b[2J";
    char *s;

    (void)state;
    s = sk_term_safe(evil, strlen(evil), SK_TERM_LINE);
    assert_non_null(s);
    assert_string_equal(s, "bye \\u001B]0;owned\\u0007\\u001B[2J");
    free(s);
    /* DEL, C1 (C2 80 and C2 9B, the 8-bit CSI), C2 A0 (not C1) kept */
    s = sk_term_safe("a\x7f" "b\xc2\x80" "c\xc2\x9b" "31m\xc2\xa0", 13, 0);
    assert_string_equal(s, "a\\u007Fb\\u0080c\\u009B31m\xc2\xa0");
    free(s);
    /* Japanese kept; a lone continuation byte, a truncated sequence and a
     * raw 0x9b (8-bit CSI in a Latin-1 terminal) become \xNN. */
    s = sk_term_safe("\xe9\x96\xa2\xe6\x89\x80 \x9b" "2J \xe9\x96", 13, 0);
    assert_string_equal(s, "\xe9\x96\xa2\xe6\x89\x80 \\x9B2J \\xE9\\x96");
    free(s);
    /* Lines: kept (CR escaped: it could overwrite what was shown), or one
     * line; NUL is escaped, not an end. */
    s = sk_term_safe("a\nb\tc\rd\0e", 9, 0);
    assert_string_equal(s, "a\nb\tc\\u000Dd\\u0000e");
    free(s);
    s = sk_term_safe("a\nb\tc\rd", 7, SK_TERM_LINE);
    assert_string_equal(s, "a b c d");
    free(s);
    /* JSON text: the same value, DEL and C1 escaped, invalid UTF-8 as
     * U+FFFD so that it stays JSON. */
    s = sk_term_safe("[\"x\xc2\x9by\x7f\xff\"]\n", 11, SK_TERM_JSON);
    assert_string_equal(s, "[\"x\\u009By\\u007F\xef\xbf\xbd\"]\n");
    free(s);
    /* Worst case: six bytes out per byte in. */
    s = sk_term_safe("\x01\x01", 2, 0);
    assert_string_equal(s, "\\u0001\\u0001");
    free(s);
    s = sk_term_safe("", 0, 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_duration(void **state)
{
    int64_t d;

    (void)state;
    assert_int_equal(sk_duration_parse("90", &d), 0);
    assert_int_equal(d, 90);
    assert_int_equal(sk_duration_parse("15m", &d), 0);
    assert_int_equal(d, 900);
    assert_int_equal(sk_duration_parse("8h", &d), 0);
    assert_int_equal(d, 28800);
    assert_int_equal(sk_duration_parse("2d", &d), 0);
    assert_int_equal(d, 172800);
    assert_int_equal(sk_duration_parse("0", &d), SK_ERR_INVALID);
    assert_int_equal(sk_duration_parse("-5m", &d), SK_ERR_INVALID);
    assert_int_equal(sk_duration_parse("5x", &d), SK_ERR_INVALID);
    assert_int_equal(sk_duration_parse("5mm", &d), SK_ERR_INVALID);
    assert_int_equal(sk_duration_parse("", &d), SK_ERR_INVALID);
    assert_int_equal(sk_duration_parse("99999999999d", &d), SK_ERR_INVALID);
}

static void test_time_parse(void **state)
{
    time_t t;

    (void)state;
    assert_int_equal(sk_time_parse("2026-11-22T03:42:55Z", 0, &t), 0);
    assert_int_equal(t, 1795318975);
    assert_int_equal(sk_time_parse("2026-11-22", 0, &t), 0);
    assert_int_equal(t, 1795305600);
    assert_int_equal(sk_time_parse("2026-11-22 03:42", 0, &t), 0);
    assert_int_equal(t, 1795318920);
    assert_int_equal(sk_time_parse("+1h", 1000, &t), 0);
    assert_int_equal(t, 4600);
    assert_int_equal(sk_time_parse("tomorrow", 0, &t), SK_ERR_INVALID);
    assert_int_equal(sk_time_parse("2026-11-22T03:42:55", 0, &t),
                     SK_ERR_INVALID);
    assert_int_equal(sk_time_parse("2026-13-01", 0, &t), SK_ERR_INVALID);
}

static void test_hostport(void **state)
{
    char h[64];
    int p;

    (void)state;
    assert_int_equal(sk_hostport_parse("127.0.0.1:2222", h, sizeof(h), &p),
                     0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 2222);
    assert_int_equal(sk_hostport_parse("[::1]:22", h, sizeof(h), &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 22);
    assert_int_equal(sk_hostport_parse("::1:22", h, sizeof(h), &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostport_parse("host:0", h, sizeof(h), &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostport_parse("host:65536", h, sizeof(h), &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostport_parse("host", h, sizeof(h), &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostport_parse(":22", h, sizeof(h), &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostport_parse("host:22x", h, sizeof(h), &p),
                     SK_ERR_INVALID);
}

static void test_session_id(void **state)
{
    char a[64], b[64];

    (void)state;
    sk_session_id(a, sizeof(a), 1795318975);
    sk_session_id(b, sizeof(b), 1795318975);
    assert_int_equal(strlen(a), 25);
    assert_memory_equal(a, "20261122T034255Z-", 17);
    assert_string_not_equal(a, b);
}

/* Windows are local: Tokyo has no DST, Berlin does (2026-03-29 02:00
 * local becomes 03:00). */
/* In a child (the call closes the test runner's descriptors too): opens
 * descriptors around the kept ones, including one past a gap and one high
 * up, and reports through the exit status which survived. */
static void test_close_fds_except(void **state)
{
    int st = 0;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd[6], keep[3], bad = 0;

        for (int i = 0; i < 6; i++) {
            fd[i] = open("/dev/null", O_RDONLY);
            if (fd[i] < 0) {
                _exit(100);
            }
        }
        if (dup2(fd[0], 900) != 900) {
            _exit(101);
        }
        /* kept: the second, the fifth, and one given twice */
        keep[0] = fd[4];
        keep[1] = fd[1];
        keep[2] = fd[4];
        sk_close_fds_except(keep, 3);
        for (int i = 0; i < 6; i++) {
            int open_now = fcntl(fd[i], F_GETFD) != -1;
            int kept = i == 1 || i == 4;

            bad |= (open_now != kept) << i;
        }
        bad |= (fcntl(900, F_GETFD) != -1) << 6;
        /* 0-2 are never touched */
        bad |= (fcntl(2, F_GETFD) == -1) << 7;
        _exit(bad);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_local_time(void **state)
{
    int wday, minute;

    (void)state;
    /* 2026-03-29 00:30 UTC: Sunday */
    sk_local_time("Asia/Tokyo", 1774744200, &wday, &minute, NULL);
    assert_int_equal(wday, 0);
    assert_int_equal(minute, 9 * 60 + 30);
    sk_local_time("Europe/Berlin", 1774744200, &wday, &minute, NULL);
    assert_int_equal(minute, 1 * 60 + 30); /* CET, UTC+1 */
    /* one hour later the clocks have jumped: 03:30 CEST */
    sk_local_time("Europe/Berlin", 1774744200 + 3600, &wday, &minute, NULL);
    assert_int_equal(minute, 3 * 60 + 30);
    sk_local_time("UTC", 1774744200, &wday, &minute, NULL);
    assert_int_equal(minute, 30);
    assert_int_equal(wday, 0);
    {
        int second = -1;

        sk_local_time("Asia/Tokyo", 1774744200 + 47, &wday, &minute, &second);
        assert_int_equal(minute, 9 * 60 + 30);
        assert_int_equal(second, 47);
    }
}

/* Finds what was added, only that, across many growths; refuses a
 * duplicate without changing the index; is reusable after free. */
static void test_strix(void **state)
{
    struct sk_strix ix = {0};
    char k[32];
    size_t pos = 0;

    (void)state;
    assert_false(sk_strix_find(&ix, "x", &pos)); /* empty: no table */
    for (size_t i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "20261130-%06zu", i);
        assert_int_equal(sk_strix_add(&ix, k, i * 3), 0);
    }
    assert_int_equal(ix.n, 20000);
    assert_true(ix.cap >= 2 * ix.n);
    for (size_t i = 0; i < 20000; i++) {
        snprintf(k, sizeof(k), "20261130-%06zu", i);
        assert_true(sk_strix_find(&ix, k, &pos));
        assert_int_equal(pos, i * 3);
    }
    pos = 7;
    assert_false(sk_strix_find(&ix, "20261130-020000", &pos));
    assert_false(sk_strix_find(&ix, "20261130-00000", &pos)); /* prefix */
    assert_false(sk_strix_find(&ix, "", &pos));
    assert_int_equal(pos, 7); /* untouched when not found */
    assert_int_equal(sk_strix_add(&ix, "20261130-000005", 1), SK_ERR_EXISTS);
    assert_true(sk_strix_find(&ix, "20261130-000005", &pos));
    assert_int_equal(pos, 15);
    assert_int_equal(ix.n, 20000);
    assert_int_equal(sk_strix_add(&ix, "", 99), 0); /* the empty key too */
    assert_true(sk_strix_find(&ix, "", &pos));
    assert_int_equal(pos, 99);
    sk_strix_free(&ix);
    assert_int_equal(ix.n, 0);
    assert_false(sk_strix_find(&ix, "20261130-000005", &pos));
    assert_int_equal(sk_strix_add(&ix, "again", 1), 0);
    assert_true(sk_strix_find(&ix, "again", &pos));
    assert_int_equal(pos, 1);
    sk_strix_free(&ix);
}

/* The whole pinned host key must match, never a prefix of it. */
static void test_algos_prefer(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(sk_algos_prefer("chacha20-poly1305@openssh.com,"
                                     "aes256-gcm@openssh.com,aes128-ctr,"
                                     "aes128-gcm@openssh.com",
                                     "-gcm@", out, sizeof(out)),
                     0);
    assert_string_equal(out, "aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
                             "chacha20-poly1305@openssh.com,aes128-ctr");
    /* nothing marked: unchanged; all marked: unchanged */
    assert_int_equal(sk_algos_prefer("a,b", "-gcm@", out, sizeof(out)), 0);
    assert_string_equal(out, "a,b");
    assert_int_equal(sk_algos_prefer("x-gcm@1", "-gcm@", out, sizeof(out)),
                     0);
    assert_string_equal(out, "x-gcm@1");
    /* empty names are dropped, never doubled commas */
    assert_int_equal(sk_algos_prefer("a,,x-gcm@1,", "-gcm@", out,
                                     sizeof(out)),
                     0);
    assert_string_equal(out, "x-gcm@1,a");
    assert_int_equal(sk_algos_prefer("abc", "-gcm@", out, 3),
                     SK_ERR_INVALID);
}

static void test_hostkey_equal(void **state)
{
    const char *pin = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq";

    (void)state;
    assert_int_equal(sk_hostkey_equal(pin, pin), 1);
    assert_int_equal(
        sk_hostkey_equal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq host",
                         pin),
        1);
    assert_int_equal(sk_hostkey_equal(pin, "ssh-ed25519"), 0);
    assert_int_equal(sk_hostkey_equal(pin, "ssh-ed25519 "), 0);
    assert_int_equal(sk_hostkey_equal(pin, "ssh-ed25519 AAAAC3Nz"), 0);
    assert_int_equal(sk_hostkey_equal(pin, ""), 0);
    assert_int_equal(sk_hostkey_equal(pin, "ssh"), 0);
    assert_int_equal(
        sk_hostkey_equal(pin, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqX"), 0);
    assert_int_equal(
        sk_hostkey_equal(pin, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq x"),
        0);
    assert_int_equal(
        sk_hostkey_equal(pin, "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMq"), 0);
    /* a malformed pin matches nothing, not even itself */
    assert_int_equal(sk_hostkey_equal("ssh-ed25519", "ssh-ed25519"), 0);
    assert_int_equal(sk_hostkey_equal("", ""), 0);
    assert_int_equal(sk_hostkey_equal(" AAAA", " AAAA"), 0);
}

static void test_clock_state(void **state)
{
    (void)state;
    /* a refused ntp_adjtime (seccomp, ProtectClock=) is not "synchronized" */
    assert_string_equal(sk_clock_state(-1), "unknown");
    assert_string_equal(sk_clock_state(TIME_ERROR), "unsynchronized");
    assert_string_equal(sk_clock_state(TIME_OK), "synchronized");
    assert_string_equal(sk_clock_state(TIME_INS), "synchronized");
}

/* The --actor proof: bound to the nonce, the actor and every word. */
static void test_actor_proof(void **state)
{
    uint8_t n1[32], n2[32], p[32], q[32];
    const char *w1[] = {"user", "list"}, *w2[] = {"user", "lis"},
               *w3[] = {"userlist"}, *w4[] = {"user", "list", ""};

    (void)state;
    memset(n1, 1, sizeof(n1));
    memset(n2, 2, sizeof(n2));
    assert_int_equal(sk_actor_proof(n1, "ann", 2, w1, p), 0);
    assert_int_equal(sk_actor_proof(n1, "ann", 2, w1, q), 0);
    assert_memory_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n2, "ann", 2, w1, q), 0);
    assert_memory_not_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n1, "aki", 2, w1, q), 0);
    assert_memory_not_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n1, "ann", 2, w2, q), 0);
    assert_memory_not_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n1, "ann", 1, w3, q), 0);
    assert_memory_not_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n1, "ann", 3, w4, q), 0);
    assert_memory_not_equal(p, q, 32);
    assert_int_equal(sk_actor_proof(n1, NULL, 2, w1, q), SK_ERR_INVALID);
    assert_int_equal(sk_actor_proof(n1, "ann", 2, NULL, q), SK_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_time),
        cmocka_unit_test(test_close_fds_except),
        cmocka_unit_test(test_hostkey_equal),
        cmocka_unit_test(test_algos_prefer),
        cmocka_unit_test(test_clock_state),
        cmocka_unit_test(test_name_valid),  cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_repair), cmocka_unit_test(test_term_safe),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_time_parse),  cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_session_id),  cmocka_unit_test(test_strix),
        cmocka_unit_test(test_actor_proof),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
