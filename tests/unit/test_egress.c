/* Egress key rules (gateway/core/egress.c): what the monitor signs, key
 * group paths, the authorized_keys line, and the per-message deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "egress.h"
#include "util.h"
#include "sk-err.h"

static const uint8_t blob[51] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e',
                                 'd', '2', '5', '5', '1', '9', 0,
                                 0, 0, 32, 1, 2, 3, 4, 5};

/* A publickey USERAUTH request as libssh builds it for the agent. */
static void userauth(struct sk_buf *b, uint8_t sidbyte, size_t sidlen,
                     const char *login, const uint8_t *kb, uint8_t has_sig)
{
    uint8_t sid[64];

    memset(sid, sidbyte, sizeof(sid));
    sk_buf_init(b);
    assert_int_equal(sk_buf_put_string(b, sid, sidlen), 0);
    assert_int_equal(sk_buf_put_u8(b, 50), 0);
    assert_int_equal(sk_buf_put_cstring(b, login), 0);
    assert_int_equal(sk_buf_put_cstring(b, "ssh-connection"), 0);
    assert_int_equal(sk_buf_put_cstring(b, "publickey"), 0);
    assert_int_equal(sk_buf_put_u8(b, has_sig), 0);
    assert_int_equal(sk_buf_put_cstring(b, "ssh-ed25519"), 0);
    assert_int_equal(sk_buf_put_string(b, kb, sizeof(blob)), 0);
}

static int check(struct sk_egress_guard *g, uint8_t sidbyte, size_t sidlen,
                 const char *login, const uint8_t *kb, uint8_t has_sig,
                 uint8_t idhash[SK_EGRESS_IDHASH_LEN])
{
    struct sk_buf b;
    int r;

    userauth(&b, sidbyte, sidlen, login, kb, has_sig);
    r = sk_egress_check(g, b.data, b.len, "deploy", blob, sizeof(blob),
                        idhash);
    sk_buf_free(&b);
    return r;
}

static void test_sign_check(void **state)
{
    struct sk_egress_guard g;
    uint8_t h[SK_EGRESS_IDHASH_LEN], h2[SK_EGRESS_IDHASH_LEN],
        other[sizeof(blob)];
    struct sk_buf b;

    (void)state;
    memset(&g, 0, sizeof(g));
    memcpy(other, blob, sizeof(blob));
    other[40] ^= 1;
    /* the one request that is signed */
    assert_int_equal(check(&g, 0xaa, 32, "deploy", blob, 1, h), 0);
    /* wrong login, wrong key, no signature flag, odd id lengths */
    assert_int_equal(check(&g, 0xaa, 32, "root", blob, 1, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 32, "deploy1", blob, 1, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 32, "deploy", other, 1, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 32, "deploy", blob, 0, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 1, "deploy", blob, 1, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 33, "deploy", blob, 1, h2),
                     SK_ERR_INVALID);
    assert_int_equal(check(&g, 0xaa, 64, "deploy", blob, 1, h2), 0);
    /* trailing bytes and a truncated request */
    userauth(&b, 0xaa, 32, "deploy", blob, 1);
    assert_int_equal(sk_buf_put_u8(&b, 0), 0);
    assert_int_equal(sk_egress_check(&g, b.data, b.len, "deploy", blob,
                                     sizeof(blob), h2),
                     SK_ERR_INVALID);
    assert_int_equal(sk_egress_check(&g, b.data, b.len - 2, "deploy", blob,
                                     sizeof(blob), h2),
                     SK_ERR_INVALID);
    sk_buf_free(&b);

    /* signed once: the same id is a replay, another id is a second
     * signature on the connection */
    sk_egress_note(&g, h);
    assert_int_equal(check(&g, 0xaa, 32, "deploy", blob, 1, h2),
                     SK_ERR_EXISTS);
    assert_int_equal(check(&g, 0xbb, 32, "deploy", blob, 1, h2),
                     SK_ERR_DENIED);
    /* a new connection: a fresh id is fine, the old one stays refused */
    sk_egress_new_conn(&g);
    assert_int_equal(check(&g, 0xaa, 32, "deploy", blob, 1, h2),
                     SK_ERR_EXISTS);
    assert_int_equal(check(&g, 0xbb, 32, "deploy", blob, 1, h2), 0);
    assert_memory_not_equal(h, h2, sizeof(h));
}

static void test_guard_fills(void **state)
{
    struct sk_egress_guard g;
    uint8_t h[SK_EGRESS_IDHASH_LEN];
    int i;

    (void)state;
    memset(&g, 0, sizeof(g));
    for (i = 0; i < SK_EGRESS_IDS_MAX + 3; i++) {
        sk_egress_new_conn(&g);
        assert_int_equal(check(&g, (uint8_t)i, 32, "deploy", blob, 1, h), 0);
        sk_egress_note(&g, h);
    }
    assert_int_equal(g.nids, SK_EGRESS_IDS_MAX);
    sk_egress_new_conn(&g);
    /* the newest are remembered (the store has the rest) */
    assert_int_equal(check(&g, (uint8_t)(i - 1), 32, "deploy", blob, 1, h),
                     SK_ERR_EXISTS);
    assert_int_equal(check(&g, (uint8_t)(i - SK_EGRESS_IDS_MAX), 32,
                           "deploy", blob, 1, h),
                     SK_ERR_EXISTS);
    assert_int_equal(check(&g, 0, 32, "deploy", blob, 1, h), 0);
}

static void test_paths_and_line(void **state)
{
    char p[128], *line;

    (void)state;
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", NULL, p,
                                        sizeof(p)),
                     0);
    assert_string_equal(p, "/s/egress_key");
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", "default", p,
                                        sizeof(p)),
                     0);
    assert_string_equal(p, "/s/egress_key");
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", "pci", p,
                                        sizeof(p)),
                     0);
    assert_string_equal(p, "/s/egress_key.pci");
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", "../x", p,
                                        sizeof(p)),
                     SK_ERR_BAD_NAME);
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", "a/b", p,
                                        sizeof(p)),
                     SK_ERR_BAD_NAME);
    assert_int_equal(sk_egress_key_path("/s/egress_key", "/s", "pci", p, 8),
                     SK_ERR_TOO_LONG);

    line = sk_egress_authorized_line("127.0.0.1,10.0.0.0/8",
                                     "ssh-ed25519 AAAA sekisho-egress");
    assert_non_null(line);
    assert_string_equal(line, "from=\"127.0.0.1,10.0.0.0/8\",restrict,pty "
                              "ssh-ed25519 AAAA sekisho-egress");
    free(line);
    line = sk_egress_authorized_line(NULL, "ssh-ed25519 AAAA x");
    assert_non_null(line);
    assert_string_equal(line, "restrict,pty ssh-ed25519 AAAA x");
    free(line);
    assert_null(sk_egress_authorized_line("1.2.3.4\" ,permitopen", "k"));
}

/* A peer that writes one byte a second: each read() would be quick, the
 * message never is. */
static void test_read_deadline_trickle(void **state)
{
    int sv[2], status;
    char buf[10];
    int64_t t0, took;
    pid_t pid;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i < 10; i++) {
            if (write(sv[1], "x", 1) != 1) {
                _exit(1);
            }
            sleep(1);
        }
        _exit(0);
    }
    close(sv[1]);
    t0 = sk_mono_ms();
    assert_int_equal(sk_read_deadline(sv[0], buf, sizeof(buf), t0 + 2500),
                     SK_ERR_DENIED);
    took = sk_mono_ms() - t0;
    assert_true(took >= 2400 && took < 3500);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(sv[0]);
}

static void test_read_deadline_ok_and_eof(void **state)
{
    int sv[2];
    char buf[8];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "abcdefgh", 8), 8);
    assert_int_equal(sk_read_deadline(sv[0], buf, 8, sk_mono_ms() + 1000),
                     0);
    assert_memory_equal(buf, "abcdefgh", 8);
    assert_int_equal(write(sv[1], "abc", 3), 3);
    close(sv[1]);
    assert_int_equal(sk_read_deadline(sv[0], buf, 8, sk_mono_ms() + 1000),
                     SK_ERR_EOF);
    /* a deadline already past reads nothing */
    assert_int_equal(sk_read_deadline(sv[0], buf, 1, sk_mono_ms() - 1),
                     SK_ERR_DENIED);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_check),
        cmocka_unit_test(test_guard_fills),
        cmocka_unit_test(test_paths_and_line),
        cmocka_unit_test(test_read_deadline_trickle),
        cmocka_unit_test(test_read_deadline_ok_and_eof),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
