#include "ipc.h"
#include "sk-err.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int sk_ipc_send(int sock, uint32_t type, const struct sk_buf *b,
                const int *fds, int nfds)
{
    uint8_t hdr[4] = {type >> 24, type >> 16, type >> 8, type};
    struct iovec iov[2];
    struct msghdr msg;
    union {
        char buf[CMSG_SPACE(sizeof(int) * SK_IPC_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    ssize_t n;
    size_t plen = b != NULL ? sk_buf_avail(b) : 0;

    if (nfds < 0 || nfds > SK_IPC_MAX_FDS || plen > SK_IPC_MAX - 4) {
        return SK_ERR_INVALID;
    }
    memset(&msg, 0, sizeof(msg));
    memset(&cm, 0, sizeof(cm));
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = plen > 0 ? (void *)sk_buf_ptr(b) : NULL;
    iov[1].iov_len = plen;
    msg.msg_iov = iov;
    msg.msg_iovlen = plen > 0 ? 2 : 1;
    if (nfds > 0) {
        struct cmsghdr *c;

        msg.msg_control = cm.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return (errno == EPIPE || errno == ECONNRESET) ? SK_ERR_EOF
                                                       : SK_ERR_SYSTEM;
    }
    if ((size_t)n != sizeof(hdr) + plen) {
        return SK_ERR_SYSTEM;
    }
    return 0;
}

int sk_ipc_recv(int sock, uint32_t *type, struct sk_buf *b, int *fds,
                int *nfds)
{
    static uint8_t frame[SK_IPC_MAX];
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *c;
    union {
        char buf[CMSG_SPACE(sizeof(int) * SK_IPC_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    ssize_t n;
    int got = 0, r = 0, i;

    if (nfds != NULL) {
        *nfds = 0;
        for (i = 0; i < SK_IPC_MAX_FDS; i++) {
            fds[i] = -1;
        }
    }
    sk_buf_reset(b);
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = frame;
    iov.iov_len = sizeof(frame);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cm.buf;
    msg.msg_controllen = sizeof(cm.buf);
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == ECONNRESET ? SK_ERR_EOF : SK_ERR_SYSTEM;
    }
    if (n == 0) {
        return SK_ERR_EOF;
    }
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        int k, cnt;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (k = 0; k < cnt; k++) {
            int fd;

            memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)k, sizeof(fd));
            if (nfds != NULL && got < SK_IPC_MAX_FDS) {
                fds[got++] = fd;
            } else {
                close(fd);
                r = SK_ERR_BAD_MESSAGE;
            }
        }
    }
    if (nfds != NULL) {
        *nfds = got;
    }
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || n < 4) {
        r = SK_ERR_BAD_MESSAGE;
    }
    if (r == 0) {
        *type = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
                (uint32_t)frame[2] << 8 | frame[3];
        r = sk_buf_put(b, frame + 4, (size_t)n - 4);
    }
    memset(frame, 0, (size_t)n);
    if (r != 0 && nfds != NULL) {
        for (i = 0; i < got; i++) {
            close(fds[i]);
            fds[i] = -1;
        }
        *nfds = 0;
    }
    return r;
}
