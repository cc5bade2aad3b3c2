/* The worker's side of recording: frames to the recorder
 * (recorder/proc/recorder-proc.h). */
#include "recorder/proc/rec-ring.h"
#include "recorder/proc/recorder-proc.h"
#include "recorder/transcript.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The recorder took nothing for this long while the ring was full: it is
 * stuck, and the session ends (was the event socket's send timeout). */
#define REC_STALL_US (30u * 1000000u)

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

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One byte on the event socket: the recorder sleeps, or the worker
 * waits for room (rec-ring.h). Never waits itself: a full socket means a
 * bell is due already. Returns 0, or -1 if the recorder is gone. */
static int bell(void)
{
    ssize_t w;

    /* send(2) for MSG_NOSIGNAL: a dead recorder is an error to handle
     * (end the session), not a SIGPIPE that kills the worker before it
     * can say so. */
    do {
        w = send(rec_fd, "w", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    return w < 0 && errno != EAGAIN ? -1 : 0;
}

int wk_rec_check(void)
{
    char b[64];
    ssize_t n;

    if (rec_fd < 0) {
        return -1;
    }
    /* The recorder writes only bells (answers to a wait for room, maybe
     * late); end of file or an error is its end. */
    do {
        n = recv(rec_fd, b, sizeof(b), MSG_DONTWAIT);
    } while (n == (ssize_t)sizeof(b) || (n < 0 && errno == EINTR));
    return n == 0 || (n < 0 && errno != EAGAIN) ? -1 : 0;
}

static int send_frame(int type, uint64_t t, const uint8_t *data, size_t len)
{
    uint8_t hdr[SK_TR_EV_HDR];
    size_t need = sizeof(hdr) + len;
    uint64_t deadline = 0;

    hdr[0] = (uint8_t)type;
    put32(hdr + 1, (uint32_t)(t >> 32));
    put32(hdr + 5, (uint32_t)t);
    put32(hdr + 9, (uint32_t)len);
    /* Back-pressure: a slow recorder slows the relay, never the reverse;
     * one that takes nothing for REC_STALL_US ends the session instead
     * of freezing it. */
    while (rec_ring_room(rec_shared_ring) < need) {
        struct pollfd p = {rec_fd, POLLIN, 0};
        uint64_t now = sk_mono_us();

        if (deadline == 0) {
            deadline = now + REC_STALL_US;
        } else if (now >= deadline) {
            return -1;
        }
        rec_ring_want_room(rec_shared_ring, 1);
        if (rec_ring_room(rec_shared_ring) >= need) {
            break; /* freed between the look and the flag */
        }
        if (bell() != 0) {
            return -1;
        }
        if (poll(&p, 1, (int)((deadline - now) / 1000) + 1) < 0 &&
            errno != EINTR) {
            return -1;
        }
        if (wk_rec_check() != 0) {
            return -1;
        }
    }
    if (deadline != 0) {
        rec_ring_want_room(rec_shared_ring, 0); /* room came */
    }
    /* From here the event is the recorder's (rec-ring.h). */
    if (rec_ring_put(rec_shared_ring, hdr, sizeof(hdr), data, len) &&
        bell() != 0) {
        return -1;
    }
    return 0;
}

int wk_rec(int type, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t t;

    if (rec_fd < 0 || rec_dead || rec_shared_ring == NULL) {
        return -1;
    }
    t = sk_mono_us();
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
