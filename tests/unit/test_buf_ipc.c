#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "sk-err.h"

static void test_buf_roundtrip(void **state)
{
    struct sk_buf b;
    uint8_t u8;
    uint32_t u32;
    uint64_t u64;
    char *s;
    const uint8_t *p;
    size_t n;

    (void)state;
    sk_buf_init(&b);
    assert_int_equal(sk_buf_put_u8(&b, 0xab), 0);
    assert_int_equal(sk_buf_put_u32(&b, 0x01020304), 0);
    assert_int_equal(sk_buf_put_u64(&b, 0x1122334455667788ULL), 0);
    assert_int_equal(sk_buf_put_cstring(&b, "hello"), 0);
    assert_int_equal(sk_buf_put_string(&b, "a\0b", 3), 0);
    /* byte-exact wire format */
    assert_int_equal(b.len, 1 + 4 + 8 + 9 + 7);
    assert_memory_equal(b.data,
                        "\xab\x01\x02\x03\x04\x11\x22\x33\x44\x55\x66\x77\x88"
                        "\x00\x00\x00\x05hello\x00\x00\x00\x03"
                        "a\0b",
                        29);
    assert_int_equal(sk_buf_get_u8(&b, &u8), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(sk_buf_get_u32(&b, &u32), 0);
    assert_int_equal(u32, 0x01020304);
    assert_int_equal(sk_buf_get_u64(&b, &u64), 0);
    assert_true(u64 == 0x1122334455667788ULL);
    assert_int_equal(sk_buf_get_cstring(&b, &s, 16), 0);
    assert_string_equal(s, "hello");
    free(s);
    /* a string with an embedded NUL is not text */
    assert_int_equal(sk_buf_get_cstring(&b, &s, 16), SK_ERR_INVALID);
    assert_null(s);
    assert_int_equal(sk_buf_get_string_direct(&b, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(sk_buf_avail(&b), 0);
    assert_int_equal(sk_buf_get_u8(&b, &u8), SK_ERR_INVALID);
    sk_buf_free(&b);
}

static void test_buf_hostile_lengths(void **state)
{
    struct sk_buf b;
    const uint8_t *p;
    size_t n;
    char *s;

    (void)state;
    sk_buf_init(&b);
    /* announces 4 GiB, has 2 bytes */
    assert_int_equal(sk_buf_put(&b, "\xff\xff\xff\xff" "ab", 6), 0);
    assert_int_equal(sk_buf_get_string_direct(&b, &p, &n), SK_ERR_INVALID);
    assert_int_equal(b.off, 0); /* cursor untouched on failure */
    sk_buf_reset(&b);
    assert_int_equal(sk_buf_put_cstring(&b, "toolong"), 0);
    assert_int_equal(sk_buf_get_cstring(&b, &s, 3), SK_ERR_TOO_LONG);
    assert_int_equal(b.off, 0);
    sk_buf_reset(&b);
    assert_int_equal(sk_buf_put(&b, "\x00\x00", 2), 0);
    {
        uint32_t v;

        assert_int_equal(sk_buf_get_u32(&b, &v), SK_ERR_INVALID);
    }
    assert_int_equal(sk_buf_put_string(&b, "x", SK_BUF_MAX + 1),
                     SK_ERR_TOO_LONG);
    sk_buf_free(&b);
    sk_buf_free(NULL);
}

static void test_ipc_roundtrip_with_fds(void **state)
{
    int sp[2], fds[SK_IPC_MAX_FDS], nfds, pfd[2];
    struct sk_buf out, in;
    uint32_t type;
    char c;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
    assert_int_equal(pipe(pfd), 0);
    sk_buf_init(&out);
    sk_buf_init(&in);
    assert_int_equal(sk_buf_put_cstring(&out, "payload"), 0);
    assert_int_equal(sk_ipc_send(sp[0], 42, &out, pfd, 2), 0);
    assert_int_equal(sk_ipc_recv(sp[1], &type, &in, fds, &nfds), 0);
    assert_int_equal(type, 42);
    assert_int_equal(nfds, 2);
    assert_int_equal(in.len, 11);
    /* the received descriptors are the pipe */
    assert_int_equal(write(fds[1], "z", 1), 1);
    assert_int_equal(read(pfd[0], &c, 1), 1);
    assert_int_equal(c, 'z');
    close(fds[0]);
    close(fds[1]);
    /* an unexpected descriptor is refused and closed */
    assert_int_equal(sk_ipc_send(sp[0], 7, NULL, pfd, 1), 0);
    assert_int_equal(sk_ipc_recv(sp[1], &type, &in, NULL, NULL),
                     SK_ERR_BAD_MESSAGE);
    /* an empty message is fine; a runt (under 4 bytes) is not */
    assert_int_equal(sk_ipc_send(sp[0], 9, NULL, NULL, 0), 0);
    assert_int_equal(sk_ipc_recv(sp[1], &type, &in, NULL, NULL), 0);
    assert_int_equal(type, 9);
    assert_int_equal(send(sp[0], "ab", 2, 0), 2);
    assert_int_equal(sk_ipc_recv(sp[1], &type, &in, NULL, NULL),
                     SK_ERR_BAD_MESSAGE);
    close(sp[0]);
    assert_int_equal(sk_ipc_recv(sp[1], &type, &in, NULL, NULL), SK_ERR_EOF);
    close(sp[1]);
    close(pfd[0]);
    close(pfd[1]);
    sk_buf_free(&out);
    sk_buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_roundtrip),
        cmocka_unit_test(test_buf_hostile_lengths),
        cmocka_unit_test(test_ipc_roundtrip_with_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
