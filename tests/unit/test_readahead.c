/* The worker's read-ahead under libssh (gateway/wk-readahead.c): libssh's
 * small reads of a registered socket return the kernel's bytes in order,
 * poll() reports buffered bytes, EOF and errors come through as the
 * kernel gave them, other descriptors are untouched, and a closed
 * socket's bytes never reach the next descriptor of its number. */
/* The calls below must reach the recv() symbol, as libssh's do (it reads
 * into a buffer of unknown size): fortified, a recv() into an array of
 * known size may become __recv_chk, which passes the read-ahead by (so
 * the sanitizer build failed here). */
#undef _FORTIFY_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker.h"

static int pair[2];

static int setup(void **state)
{
    (void)state;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        return -1;
    }
    /* libssh's sockets are nonblocking */
    return fcntl(pair[0], F_SETFL, O_NONBLOCK);
}

static int teardown(void **state)
{
    (void)state;
    wk_readahead_remove(pair[0]);
    close(pair[0]);
    close(pair[1]);
    return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)((i * 131u + seed) ^ (i >> 9));
    }
}

/* 200 KiB written in odd pieces come back whole, in order, through 4 KiB
 * reads, with far fewer reads of the kernel than reads by the caller;
 * between them poll() says "readable" from the buffer alone. */
static void test_order_and_poll(void **state)
{
    static uint8_t in[200 * 1024], out[sizeof(in)];
    size_t got = 0, sent = 0;
    int polls_from_buffer = 0, st = 0;
    pid_t pid;

    (void)state;
    fill(in, sizeof(in), 7);
    assert_int_equal(wk_readahead_add(pair[0]), 0);
    /* more than a socket buffer holds: written by a child */
    if ((pid = fork()) == 0) {
        while (sent < sizeof(in)) {
            size_t n = sizeof(in) - sent < 3001 ? sizeof(in) - sent : 3001;

            if (write(pair[1], in + sent, n) != (ssize_t)n) {
                _exit(1);
            }
            sent += n;
        }
        _exit(0);
    }
    assert_true(pid > 0);
    while (got < sizeof(in)) {
        struct pollfd p = {pair[0], POLLIN, 0};
        ssize_t n;

        assert_int_equal(poll(&p, 1, 1000), 1);
        assert_true(p.revents & POLLIN);
        if (wk_readahead_pending(pair[0]) > 0) {
            polls_from_buffer++;
        }
        n = recv(pair[0], out + got, 4096, 0);
        assert_true(n > 0 && n <= 4096);
        got += (size_t)n;
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_memory_equal(in, out, sizeof(in));
    /* nearly every pass was served from the buffer */
    assert_true(polls_from_buffer >= 40);
    assert_int_equal(wk_readahead_pending(pair[0]), 0);
    /* nothing left: poll waits, recv says EAGAIN as the kernel does */
    {
        struct pollfd p = {pair[0], POLLIN, 0};
        uint8_t b[16];

        assert_int_equal(poll(&p, 1, 0), 0);
        assert_int_equal(recv(pair[0], b, sizeof(b), 0), -1);
        assert_int_equal(errno, EAGAIN);
    }
}

/* MSG_PEEK leaves buffered bytes in place. */
static void test_peek(void **state)
{
    uint8_t b[8];

    (void)state;
    assert_int_equal(wk_readahead_add(pair[0]), 0);
    assert_int_equal(write(pair[1], "abcdefgh", 8), 8);
    assert_int_equal(recv(pair[0], b, 3, 0), 3); /* reads all 8 ahead */
    assert_memory_equal(b, "abc", 3);
    assert_int_equal(wk_readahead_pending(pair[0]), 5);
    assert_int_equal(recv(pair[0], b, 2, MSG_PEEK), 2);
    assert_memory_equal(b, "de", 2);
    assert_int_equal(recv(pair[0], b, 8, 0), 5);
    assert_memory_equal(b, "defgh", 5);
}

/* Buffered bytes come before the peer's EOF; then recv returns 0 and
 * poll reports the hang-up, as the kernel says them. */
static void test_eof_after_buffer(void **state)
{
    uint8_t b[4];
    struct pollfd p = {0, POLLIN, 0};

    (void)state;
    assert_int_equal(wk_readahead_add(pair[0]), 0);
    assert_int_equal(write(pair[1], "xyz", 3), 3);
    shutdown(pair[1], SHUT_WR);
    assert_int_equal(recv(pair[0], b, 1, 0), 1);
    p.fd = pair[0];
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_int_equal(recv(pair[0], b, 4, 0), 2);
    assert_memory_equal(b, "yz", 2);
    assert_int_equal(recv(pair[0], b, 4, 0), 0);
}

/* A descriptor that was never registered passes straight through: one
 * recv reads only what it asks for, the rest stays in the kernel. */
static void test_unregistered_untouched(void **state)
{
    int other[2];
    uint8_t b[4];
    struct pollfd p = {0, POLLIN, 0};

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);
    assert_int_equal(write(other[1], "12345678", 8), 8);
    assert_int_equal(recv(other[0], b, 4, 0), 4);
    assert_int_equal(wk_readahead_pending(other[0]), 0);
    p.fd = other[0];
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_int_equal(read(other[0], b, 4), 4); /* still in the kernel */
    assert_memory_equal(b, "5678", 4);
    close(other[0]);
    close(other[1]);
}

/* While one registered socket has buffered bytes, the others in the same
 * poll are still looked at (at least every few passes): a long burst
 * never starves them. */
static void test_others_not_starved(void **state)
{
    static uint8_t big[100 * 1024];
    int other[2], seen = 0;
    uint8_t b[4096];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, other), 0);
    assert_int_equal(wk_readahead_add(pair[0]), 0);
    fill(big, sizeof(big), 3);
    assert_int_equal(write(pair[1], big, sizeof(big)), (ssize_t)sizeof(big));
    /* (fits a socket buffer: 100 KiB) */
    assert_int_equal(recv(pair[0], b, sizeof(b), 0), (ssize_t)sizeof(b));
    assert_int_equal(write(other[1], "!", 1), 1);
    for (int i = 0; i < 40 && !seen; i++) {
        struct pollfd p[2] = {{pair[0], POLLIN, 0}, {other[0], POLLIN, 0}};

        assert_true(poll(p, 2, 0) >= 1);
        seen = (p[1].revents & POLLIN) != 0;
        assert_true(recv(pair[0], b, sizeof(b), 0) > 0);
    }
    assert_true(seen);
    close(other[0]);
    close(other[1]);
}

/* libssh closes a socket itself (the peer went, the stream broke), with
 * bytes perhaps still buffered: a descriptor given that number next is
 * served its own bytes only, and is not readable by the old ones. */
static void test_close_forgets(void **state)
{
    int next[2], fd = pair[0];
    uint8_t b[64];
    struct pollfd p = {0, POLLIN, 0};

    (void)state;
    assert_int_equal(wk_readahead_add(fd), 0);
    assert_int_equal(write(pair[1], "stale-bytes", 11), 11);
    assert_int_equal(recv(fd, b, 2, 0), 2);
    assert_int_equal(wk_readahead_pending(fd), 9);
    assert_int_equal(close(fd), 0); /* as ssh_socket_close does */
    assert_int_equal(wk_readahead_pending(fd), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, next), 0);
    if (next[0] != fd) { /* the lowest free number is usually fd itself */
        assert_int_equal(dup2(next[0], fd), fd);
        close(next[0]);
    }
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    p.fd = fd;
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(write(next[1], "new", 3), 3);
    assert_int_equal(recv(fd, b, sizeof(b), 0), 3);
    assert_memory_equal(b, "new", 3);
    close(next[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_poll, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_peek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_after_buffer, setup,
                                        teardown),
        cmocka_unit_test(test_unregistered_untouched),
        cmocka_unit_test_setup_teardown(test_others_not_starved, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_forgets, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
