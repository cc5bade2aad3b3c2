/* In-band transfer filter: every protocol start removed in the
 * direction it applies to, at every chunk split, without touching other
 * bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/inband.h"

/* Runs text through a fresh filter in chunks of size step (0: whole).
 * Returns the output (static) and the first kind found. */
static const char *run(enum sk_ib_dir dir, const char *text, size_t len,
                       size_t step, int *kind, int *total)
{
    static uint8_t out[65536];
    struct sk_inband s;
    size_t o = 0, off = 0;

    sk_inband_init(&s, dir);
    *kind = SK_IB_NONE;
    *total = 0;
    if (step == 0) {
        step = len ? len : 1;
    }
    while (off < len) {
        size_t n = len - off < step ? len - off : step, m;
        int k, c;

        m = sk_inband_filter(&s, (const uint8_t *)text + off, n, out + o, &k,
                             &c);
        assert_true(m <= n);
        if (*kind == SK_IB_NONE) {
            *kind = k;
        }
        *total += c;
        o += m;
        off += n;
    }
    out[o] = '\0';
    return (const char *)out;
}

/* The same, filtering each chunk in place (out == in), as the relay does. */
static const char *run_inplace(enum sk_ib_dir dir, const char *text,
                               size_t len, size_t step)
{
    static uint8_t buf[65536], out[65536];
    struct sk_inband s;
    size_t o = 0, off = 0;

    sk_inband_init(&s, dir);
    if (step == 0) {
        step = len ? len : 1;
    }
    memcpy(buf, text, len);
    while (off < len) {
        size_t n = len - off < step ? len - off : step, m;
        int k, c;

        m = sk_inband_filter(&s, buf + off, n, buf + off, &k, &c);
        memcpy(out + o, buf + off, m);
        o += m;
        off += n;
    }
    out[o] = '\0';
    return (const char *)out;
}

struct caze {
    const char *name;
    enum sk_ib_dir dir;
    const char *text;
    size_t len;
    int kind;
    const char *forbidden; /* must not appear in the output */
    const char *kept;      /* must appear in the output */
};

#define T(s) s, sizeof(s) - 1

static const struct caze cases[] = {
    {"sz ZRQINIT", SK_IB_FROM_TARGET,
     T("before\r\nrz\r**\030B00000000000000\r\212\021after"), SK_IB_ZMODEM,
     "\030B", "after"},
    {"rz ZRINIT", SK_IB_FROM_TARGET,
     T("rz waiting to receive.**\030B0100000023be50\r\212\021$ "),
     SK_IB_ZMODEM, "\030B", "$ "},
    {"ZMODEM binary header", SK_IB_FROM_CLIENT, T("x*\030A\004\000\000\000\000\r"),
     SK_IB_ZMODEM, "\030A", "x"},
    {"ZMODEM from the client", SK_IB_FROM_CLIENT,
     T("**\030B00000000000000\r\212\021"), SK_IB_ZMODEM, "\030B", NULL},
    {"Kermit send-init", SK_IB_FROM_TARGET,
     T("ok\001# S~* @-#Y3~^>J)0___F\rnext"), SK_IB_KERMIT, "S~*", "next"},
    {"trzsz", SK_IB_FROM_TARGET,
     T("::TRZSZ:TRANSFER:S:1.1.6:0123456789\nprompt$ "), SK_IB_TRZSZ,
     "TRANSFER:S", "prompt$ "},
    {"iTerm2 file", SK_IB_FROM_TARGET,
     T("a\033]1337;File=name=eC50eHQ=;size=3:aGkK\007tail-1"), SK_IB_ITERM2,
     "aGkK", "tail-1"},
    {"iTerm2 multipart ST", SK_IB_FROM_TARGET,
     T("a\033]1337;MultipartFile=name=eA==\033\\tail-2"), SK_IB_ITERM2,
     "eA==", "tail-2"},
    {"iTerm2 upload request", SK_IB_FROM_TARGET,
     T("\033]1337;RequestUpload=format=tgz\007z"), SK_IB_ITERM2, "format",
     "z"},
    {"OSC 52 write", SK_IB_FROM_TARGET,
     T("x\033]52;c;c2VjcmV0IGRhdGE=\007tail-3"), SK_IB_OSC52, "c2Vj",
     "tail-3"},
    {"OSC 52 8-bit", SK_IB_FROM_TARGET, T("x\23552;c;QUJD\234tail-4"),
     SK_IB_OSC52, "QUJD", "tail-4"},
    {"OSC 52 reply from client", SK_IB_FROM_CLIENT,
     T("\033]52;c;cGFzc3dvcmQ=\033\\ls\r"), SK_IB_OSC52, "cGFz", "ls\r"},
};

static void test_each_protocol_at_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct caze *c = &cases[i];

        for (size_t step = 0; step <= c->len; step++) {
            int kind, total;
            const char *out = run(c->dir, c->text, c->len, step, &kind,
                                  &total);

            if (kind != c->kind) {
                fail_msg("%s, chunks of %zu: found %d, want %d", c->name,
                         step, kind, c->kind);
            }
            if (strstr(out, c->forbidden) != NULL) {
                fail_msg("%s, chunks of %zu: '%s' passed", c->name, step,
                         c->forbidden);
            }
            if (c->kept != NULL && strstr(out, c->kept) == NULL) {
                fail_msg("%s, chunks of %zu: lost '%s'", c->name, step,
                         c->kept);
            }
            {
                char copy[65536];

                snprintf(copy, sizeof(copy), "%s", out);
                if (strcmp(copy, run_inplace(c->dir, c->text, c->len,
                                             step)) != 0) {
                    fail_msg("%s, chunks of %zu: in place differs", c->name,
                             step);
                }
            }
        }
    }
}

/* Direction matters: trzsz and iTerm2 come only from the target. */
static void test_direction(void **state)
{
    int kind, total;
    const char *t = "::TRZSZ:TRANSFER:S:1\n";

    (void)state;
    run(SK_IB_FROM_CLIENT, t, strlen(t), 0, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    t = "\033]1337;File=x:aA==\007";
    run(SK_IB_FROM_CLIENT, t, strlen(t), 0, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
}

/* Ordinary terminal traffic passes byte for byte. */
static void test_ordinary_bytes_untouched(void **state)
{
    static const char *texts[] = {
        "ls -la *\r\n**** build ok ****\r\n",
        "\033[1;32mgreen\033[0m \033]0;window title\007 \033]8;;http://x\033\\link",
        "\033]1337;SetMark\007 \033]1337;CurrentDir=/tmp\007",
        "\001\002\003 S not kermit \001ab",
        ":: TRZSZ without the magic ::TRZSZ:",
        "*\030 alone, *\030Z, 52; ]52 \033]5;x\007",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        for (size_t step = 0; step <= strlen(texts[i]); step++) {
            int kind, total;
            const char *out = run(SK_IB_FROM_TARGET, texts[i],
                                  strlen(texts[i]), step, &kind, &total);

            assert_int_equal(kind, SK_IB_NONE);
            assert_string_equal(out, texts[i]);
        }
    }
}

/* Repeated headers (sz retries) are each caught and counted. */
static void test_repeats_counted(void **state)
{
    char buf[1024] = "";
    int kind, total;

    (void)state;
    for (int i = 0; i < 5; i++) {
        strcat(buf, "**\030B00000000000000\r\212\021");
    }
    run(SK_IB_FROM_TARGET, buf, strlen(buf), 7, &kind, &total);
    assert_int_equal(kind, SK_IB_ZMODEM);
    assert_int_equal(total, 5);
}

/* An OSC that never ends is dropped only up to the cap; output resumes. */
/* The 16-bytes-at-a-time candidate scan against the byte loop: large
 * buffers of noise and text with every protocol's start sprinkled in at
 * all alignments, cut into chunks of many sizes, both directions. */
static void test_vector_scan_matches_byte_loop(void **state)
{
    static const char *const seeds[] = {
        "**\x18" "B00000000000000\r", "\x01" "# S~* @-#Y1~", "::TRZSZ:TRANSFER:",
        "\x1b]1337;File=name=eA==:eA==\x07", "\x9d" "52;c;eA==\x9c",
        "\x1b]52;c;eA==\x07", "\x1b]1337;MultipartFile=x\x07",
        "\x1b]1337;RequestUpload=format=tgz\x07"};
    static const size_t chunks[] = {1, 7, 15, 16, 17, 31, 100, 4096, 65536};
    static uint8_t buf[65536], a[65536], b[65536];
    uint32_t x = 12345;

    (void)state;
    for (int round = 0; round < 24; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            x = x * 1103515245u + 12345u;
            /* odd rounds: text-like bytes; even: any byte */
            buf[i] = round & 1 ? (uint8_t)(0x20 + (x >> 16) % 95)
                               : (uint8_t)(x >> 16);
        }
        for (int k = 0; k < 40; k++) {
            const char *sd = seeds[(size_t)(k + round) % 8];
            size_t at;

            x = x * 1103515245u + 12345u;
            at = (x >> 8) % (sizeof(buf) - 64);
            memcpy(buf + at, sd, strlen(sd));
        }
        for (int dir = 0; dir < 2; dir++) {
            size_t ch = chunks[(size_t)round % 9], na = 0, nb = 0;
            struct sk_inband sa, sb;
            int kind, count;

            sk_inband_init(&sa, (enum sk_ib_dir)dir);
            sk_inband_init(&sb, (enum sk_ib_dir)dir);
            for (size_t o = 0; o < sizeof(buf); o += ch) {
                size_t l = sizeof(buf) - o < ch ? sizeof(buf) - o : ch;

                sk_inband_set_vector_scan(1);
                na += sk_inband_filter(&sa, buf + o, l, a + na, &kind,
                                       &count);
                sk_inband_set_vector_scan(0);
                nb += sk_inband_filter(&sb, buf + o, l, b + nb, &kind,
                                       &count);
            }
            sk_inband_set_vector_scan(1);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na);
            /* something was found and removed */
            assert_true(na < sizeof(buf));
        }
    }
}

static void test_unterminated_osc_capped(void **state)
{
    size_t n = 5 * 1024 * 1024;
    char *big = malloc(n + 16);
    uint8_t *out = malloc(n + 16);
    struct sk_inband s;
    int kind, count;
    size_t m;

    (void)state;
    memcpy(big, "\033]52;c;", 7);
    memset(big + 7, 'A', n - 7);
    memcpy(big + n, "tail", 4);
    sk_inband_init(&s, SK_IB_FROM_TARGET);
    m = sk_inband_filter(&s, (uint8_t *)big, n + 4, out, &kind, &count);
    assert_int_equal(kind, SK_IB_OSC52);
    assert_true(m > 4 && m < n);
    assert_memory_equal(out + m - 4, "tail", 4);
    free(big);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_protocol_at_every_split),
        cmocka_unit_test(test_direction),
        cmocka_unit_test(test_ordinary_bytes_untouched),
        cmocka_unit_test(test_repeats_counted),
        cmocka_unit_test(test_unterminated_osc_capped),
        cmocka_unit_test(test_vector_scan_matches_byte_loop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
