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

static size_t run_len; /* output length of the last run() */

/* Does out[0, olen) contain the string needle? (Outputs may hold NULs.) */
static int contains(const char *out, size_t olen, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; i + n <= olen; i++) {
        if (memcmp(out + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

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
    run_len = o;
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
     "\030B0000", "after"},
    {"rz ZRINIT", SK_IB_FROM_TARGET,
     T("rz waiting to receive.**\030B0100000023be50\r\212\021$ "),
     SK_IB_ZMODEM, "\030B0100", "$ "},
    {"ZMODEM binary header", SK_IB_FROM_CLIENT,
     T("x*\030A\004\000\000\000\043\235\007\r"), SK_IB_ZMODEM, "\235\007",
     "x"},
    {"ZMODEM binary header, CRC-32, escaped", SK_IB_FROM_TARGET,
     T("x*\030C\004\000\000\000\043\257\040\305\030\321\ry"), SK_IB_ZMODEM,
     "\305\030\321", "y"},
    {"ZMODEM from the client", SK_IB_FROM_CLIENT,
     T("**\030B00000000000000\r\212\021"), SK_IB_ZMODEM, "\030B0000", NULL},
    {"Kermit send-init", SK_IB_FROM_TARGET,
     T("ok\001, S~* @-#Y1~\"\rnext"), SK_IB_KERMIT, "Y1~\"", "next"},
    {"Kermit send-init, other mark", SK_IB_FROM_CLIENT,
     T("ok\036, S~* @-#Y1~\"\rnext"), SK_IB_KERMIT, "Y1~\"", "next"},
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
            if (contains(out, run_len, c->forbidden)) {
                fail_msg("%s, chunks of %zu: '%s' passed", c->name, step,
                         c->forbidden);
            }
            if (c->kept != NULL && !contains(out, run_len, c->kept)) {
                fail_msg("%s, chunks of %zu: lost '%s'", c->name, step,
                         c->kept);
            }
            {
                static char copy[65536];
                size_t olen = run_len;

                memcpy(copy, out, olen);
                if (memcmp(copy, run_inplace(c->dir, c->text, c->len, step),
                           olen) != 0) {
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
        /* near misses: a bad hex type, a bad Kermit check, a short
         * Send-Init, an 8-bit OSC 52 without data, text starting a line
         * with "I S" (a CTL, LEN, SEQ 0, 'S' lookalike needs a control) */
        "*\030B9000 *\030Bzz \001, S~* @-#Y1~X\r \001& S~* @\r",
        "\23552;c \234 \nI Said so, not a Kermit packet at all\n",
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
/* The bucket, 32- and 16-bytes-at-a-time candidate scans against the byte loop: large
 * buffers of noise and text with every protocol's start sprinkled in at
 * all alignments, cut into chunks of many sizes, both directions. */
static void test_vector_scan_matches_byte_loop(void **state)
{
    static const char *const seeds[] = {
        "**\x18" "B00000000000000\r", "\x01" ", S~* @-#Y1~\"", "::TRZSZ:TRANSFER:",
        "\x1b]1337;File=name=eA==:eA==\x07", "\x9d" "52;c;eA==\x9c",
        "\x1b]52;c;eA==\x07", "\x1b]1337;MultipartFile=x\x07",
        "\x1b]1337;RequestUpload=format=tgz\x07"};
    static const size_t chunks[] = {1, 7, 15, 16, 17, 31, 100, 4096, 65536};
    static uint8_t buf[65536], a[65536], b[65536];
    uint32_t x = 12345;

    (void)state;
#if defined(__x86_64__) && defined(__GNUC__)
    /* The bucket tables hold both directions' pairs (else the widest scan
     * would silently be the slower one). */
    if (__builtin_cpu_supports("avx2")) {
        assert_int_equal(sk_inband_vector_scan(SK_IB_FROM_TARGET), 3);
        assert_int_equal(sk_inband_vector_scan(SK_IB_FROM_CLIENT), 3);
    }
#endif
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
        for (int dir = 0; dir < 6; dir++) {
            /* 0, 1: buckets; 2, 3: pairs 32 bytes at a time (if the CPU
             * can); 4, 5: 16 */
            int level = 3 - dir / 2;
            size_t ch = chunks[(size_t)round % 9], na = 0, nb = 0;
            struct sk_inband sa, sb;
            int kind, count;

            sk_inband_init(&sa, (enum sk_ib_dir)(dir & 1));
            sk_inband_init(&sb, (enum sk_ib_dir)(dir & 1));
            for (size_t o = 0; o < sizeof(buf); o += ch) {
                size_t l = sizeof(buf) - o < ch ? sizeof(buf) - o : ch;

                sk_inband_set_vector_scan(level);
                na += sk_inband_filter(&sa, buf + o, l, a + na, &kind,
                                       &count);
                sk_inband_set_vector_scan(0);
                nb += sk_inband_filter(&sb, buf + o, l, b + nb, &kind,
                                       &count);
            }
            sk_inband_set_vector_scan(3);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na);
            /* something was found and removed */
            assert_true(na < sizeof(buf));
        }
    }
}

/* One start at every offset of a clean buffer, so it ends in the first or
 * the second half of the bucket scan's 64-byte turn, in its 32-byte tail
 * and in the last bytes: removed at every scan level alike. */
static void test_scan_finds_start_at_every_offset(void **state)
{
    static const char seed[] = "\x1b]52;c;eA==\x07";
    uint8_t buf[256], out[4][256];
    size_t n[4];

    (void)state;
    for (size_t at = 0; at + sizeof(seed) - 1 <= sizeof(buf); at++) {
        memset(buf, 'x', sizeof(buf));
        memcpy(buf + at, seed, sizeof(seed) - 1);
        for (int level = 0; level < 4; level++) {
            struct sk_inband s;
            int kind, count;

            sk_inband_set_vector_scan(level);
            sk_inband_init(&s, SK_IB_FROM_TARGET);
            n[level] = sk_inband_filter(&s, buf, sizeof(buf), out[level],
                                        &kind, &count);
            assert_int_equal(kind, SK_IB_OSC52);
        }
        sk_inband_set_vector_scan(3);
        for (int level = 1; level < 4; level++) {
            assert_int_equal(n[level], n[0]);
            assert_memory_equal(out[level], out[0], n[0]);
        }
        assert_true(n[0] < sizeof(buf));
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

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t c = 0;

    while (n-- > 0) {
        c ^= (uint16_t)(*p++ << 8);
        for (int k = 0; k < 8; k++) {
            c = c & 0x8000 ? (uint16_t)(c << 1 ^ 0x1021) : (uint16_t)(c << 1);
        }
    }
    return c;
}

/* An XMODEM/YMODEM block: SOH or STX, blk, 255-blk, data, CRC or sum. */
static size_t xm_block(uint8_t *b, int stx, int blk, const char *text,
                       int crc)
{
    size_t dlen = stx ? 1024 : 128, k;
    uint8_t sum = 0;

    b[0] = stx ? 0x02 : 0x01;
    b[1] = (uint8_t)blk;
    b[2] = (uint8_t)(255 - blk);
    memset(b + 3, 0x1a, dlen);
    memcpy(b + 3, text, strlen(text));
    for (k = 0; k < dlen; k++) {
        sum = (uint8_t)(sum + b[3 + k]);
    }
    if (crc) {
        uint16_t c = crc16(b + 3, dlen);

        b[3 + dlen] = (uint8_t)(c >> 8);
        b[4 + dlen] = (uint8_t)c;
        return dlen + 5;
    }
    b[3 + dlen] = sum;
    return dlen + 4;
}

/* Runs buf through a filter (whose peer's last byte is peer_last, -1 for
 * none) in chunks of step; returns the output length. */
static size_t run_bin(enum sk_ib_dir dir, const uint8_t *buf, size_t len,
                      size_t step, int peer_last, uint8_t *out, int *kind,
                      int *total)
{
    struct sk_inband s, p;
    size_t o = 0;

    sk_inband_init(&s, dir);
    sk_inband_init(&p, dir == SK_IB_FROM_TARGET ? SK_IB_FROM_CLIENT
                                                : SK_IB_FROM_TARGET);
    if (peer_last >= 0) {
        uint8_t b = (uint8_t)peer_last, x;
        int k, c;

        (void)sk_inband_filter(&p, &b, 1, &x, &k, &c);
    }
    sk_inband_set_peer(&s, &p);
    *kind = SK_IB_NONE;
    *total = 0;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        int k, c;

        o += sk_inband_filter(&s, buf + off, n, out + o, &k, &c);
        if (*kind == SK_IB_NONE) {
            *kind = k;
        }
        *total += c;
    }
    return o;
}

/* XMODEM (CRC and checksum), XMODEM-1K and YMODEM block 0, both
 * directions, every chunk size: the block's check never passes, so no
 * receiver gets a whole block; text around it is kept. */
static void test_xmodem_blocks(void **state)
{
    static uint8_t in[4096], out[4096];
    static const struct {
        int stx, blk, crc, peer;
    } v[] = {
        {0, 1, 1, 'C'},  /* sx after 'C' */
        {0, 1, 0, 0x15}, /* sx in checksum mode after NAK */
        {1, 1, 1, 'C'},  /* sx -k */
        {0, 0, 1, 'C'},  /* sb: YMODEM block 0, the file name */
        {1, 0, 1, -1},   /* CRC counts without any handshake seen */
    };
    (void)state;
    for (size_t t = 0; t < sizeof(v) / sizeof(v[0]); t++) {
        for (int dir = 0; dir < 2; dir++) {
            size_t n = 0, steps[] = {1, 2, 3, 7, 64, 129, 1000, 4096};

            memcpy(in, "head", 4);
            n = 4 + xm_block(in + 4, v[t].stx, v[t].blk, "SECRET-BLOCK",
                             v[t].crc);
            memcpy(in + n, "tail", 4);
            n += 4;
            for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
                int kind, total;
                size_t m = run_bin((enum sk_ib_dir)dir, in, n, steps[k],
                                   v[t].peer, out, &kind, &total);

                if (kind != SK_IB_XMODEM || total != 1) {
                    fail_msg("case %zu dir %d step %zu: kind %d count %d", t,
                             dir, steps[k], kind, total);
                }
                assert_true(m < n);
                /* the check byte(s) never pass */
                /* the last check byte never passes; bytes before it
                 * in earlier calls have (a receiver then reads the next
                 * byte in its place) */
                if (m > n - 1) {
                    fail_msg("case %zu dir %d step %zu: %zu of %zu passed", t,
                             dir, steps[k], m, n);
                }
                assert_memory_equal(out + m - 4, "tail", 4);
                if (steps[k] >= n) {
                    /* whole in one call: the block is gone entirely */
                    assert_int_equal(m, 8);
                    assert_memory_equal(out, "headtail", 8);
                }
            }
        }
    }
}

/* Near misses pass untouched: a checksum block without the receiver's
 * NAK, a later block number, a wrong CRC, a wrong complement; ZMODEM
 * binary headers whose CRC or frame type is wrong. */
static void test_xmodem_near_misses(void **state)
{
    static uint8_t in[2048], out[2048];
    int kind, total;
    size_t n, m;

    (void)state;
    n = xm_block(in, 0, 1, "abc", 0);
    m = run_bin(SK_IB_FROM_TARGET, in, n, n, 'C', out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, n);
    n = xm_block(in, 0, 2, "abc", 1);
    m = run_bin(SK_IB_FROM_TARGET, in, n, n, 'C', out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, n);
    n = xm_block(in, 1, 1, "abc", 1);
    in[n - 1] ^= 1;
    m = run_bin(SK_IB_FROM_CLIENT, in, n, 5, 'C', out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, n);
    assert_memory_equal(out, in, n);
    n = xm_block(in, 0, 1, "abc", 1);
    in[2] = 0xfd;
    m = run_bin(SK_IB_FROM_CLIENT, in, n, n, 'C', out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, n);
    /* ZMODEM binary headers with a wrong CRC-16 / CRC-32, a bad type */
    memcpy(in, "*\030A\004\000\000\000\043\235\010\r", 11);
    m = run_bin(SK_IB_FROM_TARGET, in, 11, 11, -1, out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, 11);
    memcpy(in, "*\030C\004\000\000\000\043\257\040\305\030\322\r", 15);
    m = run_bin(SK_IB_FROM_TARGET, in, 15, 3, -1, out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
    assert_int_equal(m, 15);
    memcpy(in, "*\030A\024\000\000\000\043\231\135\r", 11); /* right CRC */
    m = run_bin(SK_IB_FROM_TARGET, in, 11, 11, -1, out, &kind, &total);
    assert_int_equal(kind, SK_IB_NONE);
}

/* Random bytes, as `cat file.tar` sends them on an exec channel: 64 MiB
 * in each direction, in relay-sized chunks, pass byte for byte. Every
 * candidate start is seen (dozens of them) and none survives its
 * check (policy/inband.h gives the rates). */
static void test_random_data_untouched(void **state)
{
    size_t len = 4 * 1024 * 1024;
    uint8_t *buf = malloc(len), *out = malloc(len);
    uint64_t x = 0x9e3779b97f4a7c15ull;

    (void)state;
    assert_non_null(buf);
    assert_non_null(out);
    for (int dir = 0; dir < 2; dir++) {
        struct sk_inband s;

        sk_inband_init(&s, (enum sk_ib_dir)dir);
        for (int round = 0; round < 16; round++) {
            for (size_t i = 0; i < len; i += 8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                memcpy(buf + i, &x, 8);
            }
            for (size_t o = 0; o < len; o += 32768) {
                int kind, count;
                size_t m = sk_inband_filter(&s, buf + o, 32768, out + o,
                                            &kind, &count);

                assert_int_equal(kind, SK_IB_NONE);
                assert_int_equal(m, 32768);
            }
            assert_memory_equal(buf, out, len);
        }
    }
    free(buf);
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
        cmocka_unit_test(test_scan_finds_start_at_every_offset),
        cmocka_unit_test(test_xmodem_blocks),
        cmocka_unit_test(test_xmodem_near_misses),
        cmocka_unit_test(test_random_data_untouched),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
