/* The worker's side of recording: frames to the recorder
 * (recorder/proc/recorder-proc.h). */
#include "recorder/transcript.h"
#include "worker.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int rec_fd = -1;
static uint64_t rec_t0;
static int rec_dead;

void wk_rec_init(int fd, uint64_t t0)
{
    rec_fd = fd;
    rec_t0 = t0;
    rec_dead = 0;
}

int wk_rec_fd(void)
{
    return rec_fd;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int send_frame(int type, uint64_t t, const uint8_t *data, size_t len)
{
    uint8_t hdr[SK_TR_EV_HDR];
    struct iovec iov[2];
    size_t total = sizeof(hdr) + len, done = 0;

    hdr[0] = (uint8_t)type;
    put32(hdr + 1, (uint32_t)(t >> 32));
    put32(hdr + 5, (uint32_t)t);
    put32(hdr + 9, (uint32_t)len);
    while (done < total) {
        ssize_t w;
        int n = 0;

        if (done < sizeof(hdr)) {
            iov[n].iov_base = hdr + done;
            iov[n++].iov_len = sizeof(hdr) - done;
            iov[n].iov_base = (void *)data;
            iov[n++].iov_len = len;
        } else {
            iov[n].iov_base = (void *)(data + (done - sizeof(hdr)));
            iov[n++].iov_len = total - done;
        }
        /* Blocking: a slow recorder slows the relay, never the reverse.
         * The monitor set a send timeout, so a stuck recorder ends the
         * session instead of freezing it. */
        /* sendmsg for MSG_NOSIGNAL: a dead recorder is an error to
         * handle (end the session), not a SIGPIPE that kills the worker
         * before it can say so. */
        {
            struct msghdr mh;

            memset(&mh, 0, sizeof(mh));
            mh.msg_iov = iov;
            mh.msg_iovlen = (size_t)n;
            w = sendmsg(rec_fd, &mh, MSG_NOSIGNAL);
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

int wk_rec(int type, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t t;

    if (rec_fd < 0 || rec_dead) {
        return -1;
    }
    t = now_us();
    t = t > rec_t0 ? t - rec_t0 : 0;
    do {
        size_t n = len > SK_TR_EV_DATA_MAX ? SK_TR_EV_DATA_MAX : len;

        if (send_frame(type, t, p, n) != 0) {
            rec_dead = 1;
            return -1;
        }
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

void wk_rec_end(const char *reason)
{
    if (rec_fd < 0) {
        return;
    }
    (void)wk_rec(SK_TR_EV_END, reason, strlen(reason));
    /* No more events; the socket stays open until MON_SESSION_END is on
     * its way (wk_rec_close), since the monitor takes a seal that comes
     * before it for a recorder cut off mid-session. */
    rec_dead = 1;
}

void wk_rec_close(void)
{
    if (rec_fd < 0) {
        return;
    }
    close(rec_fd);
    rec_fd = -1;
}
