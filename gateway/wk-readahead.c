/*
 * Read-ahead under libssh, for the worker's two SSH sockets.
 *
 * libssh 0.10 reads a socket 4 KiB at a time (MAX_BUF_SIZE), once per
 * readable socket per poll (ssh_socket_pollcallback): a 32 KiB packet from
 * a target's exec channel costs eight poll(2) and eight recv(2) calls, a
 * pty's ~4.1 KiB packet two of each, and most of the relay's CPU went to
 * those calls rather than to cryptography (bench/README.md, session 9).
 * libssh exports neither its buffer size nor a read hook, but it calls
 * recv() and poll() through the dynamic linker, and an executable's
 * definitions come first (as for wk-sigcap.c). So this executable defines
 * both:
 *
 * - recv() on a registered socket reads up to RA_SIZE bytes at once into
 *   a buffer of that socket's and hands libssh what it asked for from
 *   there; the rest waits in the buffer, byte for byte in order.
 * - poll() reports a registered socket with buffered bytes as readable at
 *   once, without a system call, so libssh's next pass reads them; every
 *   RA_SKIP_MAX such passes in a row it asks the kernel too (timeout 0)
 *   so the other descriptors (the client's socket, the monitor's, the
 *   recorder's) are never starved by a long buffered burst.
 *
 * - close() of a registered socket ends its read-ahead first: libssh
 *   closes a socket itself when the peer goes or the stream breaks
 *   (ssh_socket_close), possibly with bytes still buffered, and the
 *   worker no longer gets its number from ssh_get_fd() to remove it; a
 *   descriptor given that number later must not be served the old
 *   socket's bytes, nor be reported readable by them.
 *
 * Everything else, and every process that registers nothing (the monitor,
 * sekishod, the recorder), goes straight to libc. The bytes are the
 * kernel's bytes in the kernel's order: nothing is parsed here, so a
 * hostile peer gains nothing it did not have; a bug here would corrupt
 * the SSH stream, which libssh's MAC check turns into the end of the
 * session (fail closed).
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "worker.h"

/* One read as large as a socket's default receive queue holds after a
 * burst: bulk output arrives in one call, and 2 x 256 KiB is what the
 * worker adds. */
#define RA_SIZE (256 * 1024)
#define RA_FDS 2
/* Buffered passes in a row before the kernel is asked about the rest. */
#define RA_SKIP_MAX 16

typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*close_fn)(int);

static struct ra {
    int fd; /* -1: free */
    uint8_t *buf;
    size_t off, len; /* buffered bytes: buf[off .. off + len) */
} ra[RA_FDS] = {{-1, NULL, 0, 0}, {-1, NULL, 0, 0}};
static int ra_used;
static int ra_skipped;
static recv_fn real_recv;
static poll_fn real_poll;
static close_fn real_close;

/* Resolved before main, long before the sandbox (see wk-sigcap.c). */
__attribute__((constructor)) static void readahead_resolve(void)
{
    real_recv = (recv_fn)dlsym(RTLD_NEXT, "recv");
    real_poll = (poll_fn)dlsym(RTLD_NEXT, "poll");
    real_close = (close_fn)dlsym(RTLD_NEXT, "close");
}

static struct ra *ra_find(int fd)
{
    if (ra_used == 0 || fd < 0) {
        return NULL;
    }
    for (int i = 0; i < RA_FDS; i++) {
        if (ra[i].fd == fd) {
            return &ra[i];
        }
    }
    return NULL;
}

int wk_readahead_add(int fd)
{
    struct ra *r = NULL;

    if (fd < 0 || real_recv == NULL || real_poll == NULL ||
        real_close == NULL) {
        return -1;
    }
    if (ra_find(fd) != NULL) {
        return 0;
    }
    for (int i = 0; i < RA_FDS; i++) {
        if (ra[i].fd < 0) {
            r = &ra[i];
            break;
        }
    }
    if (r == NULL) {
        return -1;
    }
    if (r->buf == NULL && (r->buf = malloc(RA_SIZE)) == NULL) {
        return -1;
    }
    r->fd = fd;
    r->off = r->len = 0;
    ra_used++;
    return 0;
}

void wk_readahead_remove(int fd)
{
    struct ra *r = ra_find(fd);

    if (r != NULL) {
        r->fd = -1;
        r->off = r->len = 0;
        ra_used--;
    }
}

int close(int fd)
{
    if (real_close == NULL) {
        readahead_resolve();
        if (real_close == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    /* Whatever the kernel then says, the number no longer names this
     * socket (Linux frees it even when close fails). */
    wk_readahead_remove(fd);
    return real_close(fd);
}

size_t wk_readahead_pending(int fd)
{
    struct ra *r = ra_find(fd);

    return r != NULL ? r->len : 0;
}

ssize_t recv(int fd, void *b, size_t n, int flags)
{
    struct ra *r = ra_find(fd);
    size_t k;

    if (real_recv == NULL) {
        readahead_resolve();
        if (real_recv == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    if (r == NULL || (r->len == 0 && (flags & ~MSG_DONTWAIT) != 0)) {
        return real_recv(fd, b, n, flags);
    }
    if (r->len == 0) {
        ssize_t got;

        if (n >= RA_SIZE) {
            return real_recv(fd, b, n, flags);
        }
        got = real_recv(fd, r->buf, RA_SIZE, flags);
        if (got <= 0) {
            return got; /* EOF, EAGAIN, errors: exactly as the kernel said */
        }
        r->off = 0;
        r->len = (size_t)got;
    }
    k = n < r->len ? n : r->len;
    memcpy(b, r->buf + r->off, k);
    if ((flags & MSG_PEEK) == 0) {
        r->off += k;
        r->len -= k;
    }
    return (ssize_t)k;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    int buffered = 0, count = 0;

    if (real_poll == NULL) {
        readahead_resolve();
        if (real_poll == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    if (ra_used > 0) {
        for (nfds_t i = 0; i < nfds; i++) {
            struct ra *r = ra_find(fds[i].fd);

            if (r != NULL && r->len > 0 && (fds[i].events & POLLIN)) {
                buffered = 1;
                break;
            }
        }
    }
    if (!buffered) {
        ra_skipped = 0;
        return real_poll(fds, nfds, timeout);
    }
    if (++ra_skipped > RA_SKIP_MAX) {
        /* Ask the kernel about everything now and then, without waiting. */
        ra_skipped = 0;
        if (real_poll(fds, nfds, 0) < 0) {
            if (errno != EINTR) {
                return -1;
            }
            for (nfds_t i = 0; i < nfds; i++) {
                fds[i].revents = 0;
            }
        }
    } else {
        for (nfds_t i = 0; i < nfds; i++) {
            fds[i].revents = 0;
        }
    }
    for (nfds_t i = 0; i < nfds; i++) {
        struct ra *r = ra_find(fds[i].fd);

        if (r != NULL && r->len > 0 && (fds[i].events & POLLIN)) {
            fds[i].revents |= POLLIN;
        }
        if (fds[i].revents != 0) {
            count++;
        }
    }
    return count;
}
