/*
 * The relay: one ssh_event polls the client session and the target
 * session. Channel data callbacks write to the other side no more than
 * the peer's window allows and return what they consumed; libssh keeps
 * the rest buffered and stops growing that channel's window, so a slow
 * reader slows the writer (back-pressure) and nothing is ever dropped.
 * When the peer's window opens again the pump below drains what was
 * held back.
 *
 * Every byte is handed to the recorder before it is written to the other
 * side (wk_rec blocks while the recorder is behind). If the recorder is
 * gone, nothing more is relayed and the session ends.
 *
 * The target's output is coalesced: what arrives within one poll burst
 * (libssh reads 4 KiB at a time, and a target's pty yields ~4 KiB
 * packets) is recorded as one event and sent to the client as one write,
 * so the client, the recorder and this process each handle a few large
 * pieces instead of many small ones. The burst ends as soon as nothing
 * more is waiting, so a keystroke's echo is not held back.
 */
#include "i18n.h"
#include "ipc.h"
#include "log.h"
#include "monitor.h"
#include "util.h"
#include "worker.h"
#include "policy/inband.h"
#include "recorder/transcript.h"

#include <stdlib.h>

#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/server.h>

struct side {
    ssh_session s;
    ssh_channel ch;
    int pending[2]; /* data held back for want of window, per stream */
    int eof_in;     /* peer sent EOF */
    int eof_sent;   /* we sent EOF to this side */
    int closed;     /* peer closed the channel */
    struct ssh_channel_callbacks_struct cb;
};

struct relay {
    /* Empty, but its presence makes libssh route channel requests
     * (window-change, signal) to the channel callbacks. */
    struct ssh_server_callbacks_struct server_cb;
    struct side c; /* client */
    struct side u; /* upstream (target) */
    uint64_t in, out;
    uint32_t exit_status;
    char exit_signal[32];
    time_t last_activity;
    int warned; /* idle warning shown since the last input */
    int failed;
    int rec_failed; /* the recorder is gone: stop relaying */
    /* In-band transfer filters, one per stream (policy/inband.h). */
    struct sk_inband ib_in, ib_out, ib_err;
    int blocked;   /* transfer starts blocked so far */
    const char *user;
    /* target stdout already recorded-to-be, not yet written to the
     * client (see flush_out); never more than the client's window */
    uint8_t *obuf;
    size_t olen;
    int flushing; /* flush_out is writing obuf */
};

/* Coalesced output is flushed once this much is waiting; a burst stops
 * reading there. */
#define OUT_FLUSH (64 * 1024)
#define OUT_MAX (256 * 1024)
/* A burst this large that drained everything waiting means output
 * streams from a target that produces it in small pieces (a pty yields
 * ~4 KiB a read): after writing it the relay naps NAP_US instead of
 * waking for each piece, so the next burst takes what arrived meanwhile
 * in one read, one record and one write. A keystroke's echo is far below
 * this, and a burst that stopped at OUT_FLUSH (data still waiting) is not
 * drained, so neither echo nor bulk throughput waits on it. */
#define NAP_MIN (3 * 1024)
#define NAP_US 1000
/* ... and only while the pieces come close together: a burst that
 * follows the previous one by more than this starts a stream or is an
 * event of its own (a log line, a build's output ten times a second),
 * and a nap after it would cost a timer and a wake-up and take nothing
 * more. */
#define NAP_STREAM_US 5000


/*
 * Writes all n bytes, which are within the channel's window (worker.h).
 * On a nonblocking session libssh 0.10's ssh_channel_write writes nothing
 * while a key re-exchange is under way and returns the count written so
 * far (0), not an error: taken as "all written", those bytes were lost (a
 * client that re-keyed while output streamed got less than the
 * transcript holds). So a short count means "wait for the exchange": the
 * rest is written blocking, which waits for the exchange to end (within
 * the session's timeout) and no longer, the window being enough.
 */
int wk_chan_write_all(ssh_channel ch, const char *p, uint32_t n,
                      int is_stderr)
{
    ssh_session s = ssh_channel_get_session(ch);
    int w, blocking = ssh_is_blocking(s), stalls = 0, rc = 0;

    while (n > 0) {
        w = is_stderr ? ssh_channel_write_stderr(ch, p, n)
                      : ssh_channel_write(ch, p, n);
        /* three writes in a row that wait out the timeout: it did not end */
        if (w < 0 || (uint32_t)w > n || (w == 0 && ++stalls > 2)) {
            rc = -1;
            break;
        }
        p += w;
        n -= (uint32_t)w;
        if (n > 0 && !ssh_is_blocking(s)) {
            ssh_set_blocking(s, 1);
        }
    }
    if (!blocking && ssh_is_blocking(s)) {
        ssh_set_blocking(s, 0);
    }
    return rc;
}

/* wk_chan_write_all for the relay: while it waits, libssh runs the
 * channels' callbacks; r->flushing makes them leave their data to libssh
 * and the pump, so nothing overtakes these bytes. */
static int write_all(struct relay *r, ssh_channel ch, const char *p,
                     uint32_t n, int is_stderr)
{
    int was = r->flushing, rc;

    r->flushing = 1;
    rc = wk_chan_write_all(ch, p, n, is_stderr);
    r->flushing = was;
    return rc;
}

/* Records and writes the coalesced target output. Everything else that
 * goes to the client (stderr, notices, EOF, exit status) calls this first,
 * so the order the target produced is the order the client sees. Returns
 * 0, or -1 (r->failed / r->rec_failed set). */
static int flush_out(struct relay *r)
{
    size_t n = r->olen;
    int w;

    if (n == 0 || r->flushing) {
        return 0;
    }
    if (wk_rec(SK_TR_EV_OUTPUT, r->obuf, n) != 0) {
        r->rec_failed = 1;
        return -1;
    }
    /* ssh_channel_write polls the whole event between packets, so the
     * target's callbacks can run inside it: while it writes obuf they
     * may not touch obuf nor write output themselves (relay_write leaves
     * their data to libssh and the pump), or the client would see bytes
     * out of order. Within the window by construction (relay_write), so
     * all of it is taken. */
    w = write_all(r, r->c.ch, (const char *)r->obuf, (uint32_t)n, 0);
    r->olen = 0;
    if (w != 0) {
        r->failed = 1;
        return -1;
    }
    return 0;
}

static struct side *other(struct relay *r, struct side *s)
{
    return s == &r->c ? &r->u : &r->c;
}

static struct side *side_of(struct relay *r, ssh_channel ch)
{
    return ch == r->c.ch ? &r->c : &r->u;
}

/* Records a marker made by jansson from fmt (json_pack), which escapes
 * whatever the client supplied. Returns 0, or -1 if it could not be
 * built or recorded (r->rec_failed set in the second case). */
static int relay_marker(struct relay *r, const char *fmt, ...)
{
    json_t *o = NULL;
    char *j = NULL;
    va_list ap;
    int rc = -1;

    va_start(ap, fmt);
    o = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    if (o == NULL || (j = json_dumps(o, JSON_COMPACT)) == NULL) {
        goto out;
    }
    if (wk_rec(SK_TR_EV_MARKER, j, strlen(j)) != 0) {
        r->rec_failed = 1;
        goto out;
    }
    rc = 0;
out:
    free(j);
    json_decref(o);
    return rc;
}

/* What to do when the filter removed the start of a transfer: tell the
 * user, mark the transcript, audit, and make the sending program give up
 * (ZMODEM, Kermit and XMODEM senders stop on a row of CANs; the CANs are
 * recorded as an "injected" marker, as they are not the user's input).
 * Notices and audit lines are capped: a sender retrying in a loop must
 * not flood either. */
static void relay_blocked(struct relay *r, struct side *from, int kind,
                          int count)
{
    static const char cancel[] = "\030\030\030\030\030\030\030\030"
                                 "\010\010\010\010\010\010\010\010";
    const char *dir = from == &r->u ? _("from the target")
                                    : _("from the client");
    char msg[400], detail[64];
    int n;

    r->blocked += count;
    if (r->blocked - count >= 20 || flush_out(r) != 0) {
        return;
    }
    snprintf(detail, sizeof(detail), "%s %s", sk_inband_name(kind),
             from == &r->u ? "from the target" : "from the client");
    mm_refused("in-band-transfer", detail);
    n = snprintf(msg, sizeof(msg),
                 "{\"kind\":\"blocked_transfer\",\"protocol\":\"%s\","
                 "\"from\":\"%s\"}",
                 sk_inband_name(kind), from == &r->u ? "target" : "client");
    (void)wk_rec(SK_TR_EV_MARKER, msg, (size_t)n);
    n = sk_notice_fmt(msg, sizeof(msg),
                      _("sekisho: file transfer blocked (%s %s); nothing "
                        "leaves through the gateway but the terminal"),
                      sk_inband_name(kind), dir);
    if (ssh_channel_window_size(r->c.ch) >= (uint32_t)n &&
        wk_rec(SK_TR_EV_STDERR, msg, (size_t)n) == 0) {
        (void)ssh_channel_write_stderr(r->c.ch, msg, (uint32_t)n);
    }
    if ((kind == SK_IB_ZMODEM || kind == SK_IB_KERMIT ||
         kind == SK_IB_XMODEM) &&
        ssh_channel_window_size(from->ch) >= sizeof(cancel) - 1 &&
        relay_marker(r, "{s:s, s:s, s:s, s:s%}", "kind", "injected", "to",
                     from == &r->u ? "target" : "client", "why",
                     "cancel the sender", "data", cancel,
                     sizeof(cancel) - 1) == 0) {
        (void)ssh_channel_write(from->ch, cancel, sizeof(cancel) - 1);
    }
}

/* Filters (policy/inband.c), records, then writes up to len bytes to dst
 * within its window. Returns the count of input bytes consumed, or -1 on
 * error (r->rec_failed says whether the recorder was the cause). */
static int relay_write(struct relay *r, struct side *dst, void *data,
                       uint32_t len, int is_stderr)
{
    uint32_t win = ssh_channel_window_size(dst->ch), n;
    struct sk_inband *ib = dst == &r->u ? &r->ib_in
                           : is_stderr  ? &r->ib_err
                                        : &r->ib_out;
    int kind, count, type = dst == &r->u ? SK_TR_EV_INPUT
                             : is_stderr    ? SK_TR_EV_STDERR
                                            : SK_TR_EV_OUTPUT;
    size_t m;

    if (r->flushing) {
        /* Called back from inside a write (write_all): libssh keeps it,
         * the pump brings it later, after the bytes being written. */
        return 0;
    }
    if (dst == &r->c && !is_stderr && r->obuf != NULL) {
        /* Coalesced (see flush_out): counted against the window now. */
        if (r->olen + len > OUT_MAX && flush_out(r) != 0) {
            return -1;
        }
        win = ssh_channel_window_size(dst->ch);
        win = win > r->olen ? win - (uint32_t)r->olen : 0;
        n = len < win ? len : win;
        if (n > OUT_MAX - r->olen) {
            n = (uint32_t)(OUT_MAX - r->olen);
        }
        if (n == 0) {
            return 0;
        }
        m = sk_inband_filter(ib, data, n, data, &kind, &count);
        memcpy(r->obuf + r->olen, data, m);
        r->olen += m;
        if (kind != SK_IB_NONE) {
            relay_blocked(r, other(r, dst), kind, count);
        }
        return r->failed || r->rec_failed ? -1 : (int)n;
    }
    if (dst == &r->c) {
        /* stderr: after the stdout that came before it */
        if (flush_out(r) != 0) {
            return -1;
        }
        win = ssh_channel_window_size(dst->ch);
    }
    n = len < win ? len : win;
    if (n == 0) {
        return 0;
    }
    /* In place: these bytes are consumed whatever happens, so libssh's
     * buffer (or the pump's) may be rewritten. No copy on the hot path.
     * Exec channels too: their output may be a file (`cat x.tar`), which
     * the grant allows, but a transfer protocol in it is still one; the
     * signatures are built not to occur in random data
     * (policy/inband.h). */
    m = sk_inband_filter(ib, data, n, data, &kind, &count);
    if (m > 0) {
        if (wk_rec(type, data, m) != 0) {
            r->rec_failed = 1;
            return -1;
        }
        if (write_all(r, dst->ch, data, (uint32_t)m, is_stderr) != 0) {
            return -1;
        }
    }
    if (kind != SK_IB_NONE) {
        relay_blocked(r, other(r, dst), kind, count);
    }
    return (int)n;
}

/* A message from the gateway to the user: recorded like any output. */
static void relay_notice(struct relay *r, const char *msg)
{
    (void)flush_out(r);
    (void)wk_rec(SK_TR_EV_STDERR, msg, strlen(msg));
    ssh_set_blocking(r->c.s, 1);
    (void)ssh_channel_write_stderr(r->c.ch, msg, (uint32_t)strlen(msg));
}

static int on_data(ssh_session session, ssh_channel channel, void *data,
                   uint32_t len, int is_stderr, void *userdata)
{
    struct relay *r = userdata;
    struct side *src = side_of(r, channel), *dst = other(r, src);
    int w;

    (void)session;
    if (src == &r->c && is_stderr) {
        return (int)len; /* clients have no stderr to send; discard */
    }
    if (dst->eof_sent || dst->closed) {
        return (int)len; /* nowhere to go any more */
    }
    if (r->rec_failed) {
        return 0;
    }
    w = relay_write(r, dst, data, len, is_stderr);
    if (w < 0) {
        r->failed = 1;
        return 0;
    }
    if ((uint32_t)w < len) {
        src->pending[is_stderr ? 1 : 0] = 1;
    }
    if (src == &r->c) {
        r->in += (uint64_t)w;
        /* Idle means nobody at the keyboard (R-AC-6): only the user's
         * input counts, not output scrolling by. */
        r->last_activity = time(NULL);
        r->warned = 0;
    } else {
        r->out += (uint64_t)w;
    }
    return w;
}

static void on_eof(ssh_session session, ssh_channel channel, void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    side_of(r, channel)->eof_in = 1;
}

static void on_close(ssh_session session, ssh_channel channel,
                     void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    side_of(r, channel)->closed = 1;
}

static void on_exit_status(ssh_session session, ssh_channel channel,
                           int status, void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    if (channel == r->u.ch) {
        r->exit_status = (uint32_t)status;
    }
}

static void on_exit_signal(ssh_session session, ssh_channel channel,
                           const char *signal, int core, const char *errmsg,
                           const char *lang, void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    (void)core;
    (void)errmsg;
    (void)lang;
    if (channel == r->u.ch && signal != NULL) {
        snprintf(r->exit_signal, sizeof(r->exit_signal), "%s", signal);
    }
}

static int on_window_change(ssh_session session, ssh_channel channel,
                            int width, int height, int pxwidth, int pxheight,
                            void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    (void)channel;
    (void)pxwidth;
    (void)pxheight;
    r->last_activity = time(NULL);
    r->warned = 0;
    if (width > 0 && height > 0 && width < 10000 && height < 10000) {
        uint8_t sz[8] = {0,
                         0,
                         (uint8_t)(width >> 8),
                         (uint8_t)width,
                         0,
                         0,
                         (uint8_t)(height >> 8),
                         (uint8_t)height};

        if (wk_rec(SK_TR_EV_RESIZE, sz, sizeof(sz)) != 0) {
            r->rec_failed = 1;
            return 0;
        }
        (void)ssh_channel_change_pty_size(r->u.ch, width, height);
    }
    return 0;
}

static void on_signal(ssh_session session, ssh_channel channel,
                      const char *signal, void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    (void)channel;
    /* Recorded before it is relayed, like every input. Only signal names
     * as RFC 4254 gives them (without "SIG") go on. */
    if (signal != NULL && strlen(signal) > 0 && strlen(signal) < 16 &&
        strspn(signal, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
            strlen(signal) &&
        relay_marker(r, "{s:s, s:s, s:s}", "kind", "signal", "from",
                     "client", "signal", signal) == 0) {
        (void)ssh_channel_request_send_signal(r->u.ch, signal);
    }
}

/* Everything the client asks for during the session that is not a
 * request on its channel (new channels, forwardings, global requests) is
 * refused. */
static int on_message(ssh_session session, ssh_message msg, void *userdata)
{
    struct relay *r = userdata;

    (void)session;
    wk_refuse(msg, r->user);
    return 0;
}

/* The monitor speaks unasked only to end the session (MON_TERMINATE). */
static int on_monitor(socket_t fd, int revents, void *userdata)
{
    struct sk_buf b;
    uint32_t type;
    int r;

    if (!(revents & (POLLIN | POLLHUP | POLLERR))) {
        return 0;
    }
    sk_buf_init(&b);
    r = sk_ipc_recv(fd, &type, &b, NULL, NULL);
    if (r != 0 || (type != MON_TERMINATE && type != MON_NOTICE)) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "unexpected message from "
                 "monitor");
    }
    if (type == MON_NOTICE) {
        char *text = NULL;
        struct relay *rl = userdata;

        if (sk_buf_get_cstring(&b, &text, 1024) == 0 &&
            flush_out(rl) == 0 &&
            ssh_channel_window_size(rl->c.ch) >= strlen(text) &&
            wk_rec(SK_TR_EV_STDERR, text, strlen(text)) == 0) {
            (void)ssh_channel_write_stderr(rl->c.ch, text,
                                           (uint32_t)strlen(text));
        }
        free(text);
    } else {
        mm_take_terminate(&b);
    }
    sk_buf_free(&b);
    return 0;
}

static const char rec_failed_msg[] =
    N_("sekisho: recording failed; the session cannot continue");

/* The recorder writes only wake-up bytes to its socket (a late answer
 * to a wait for room: wk-record.c); end of file or an error is its end. */
static int on_recorder(socket_t fd, int revents, void *userdata)
{
    struct relay *r = userdata;

    (void)fd;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && wk_rec_check() != 0) {
        r->rec_failed = 1;
    }
    return 0;
}

/* Moves data held back by a full window, where the window now allows. */
static void pump(struct relay *r, struct side *src)
{
    static char buf[256 * 1024];
    struct side *dst = other(r, src);
    int k;

    for (k = 0; k < 2; k++) {
        while (src->pending[k] && !r->failed && !r->rec_failed) {
            uint32_t win, want;
            int n, w;

            /* The window below is the whole window: nothing coalesced
             * may hold part of it. */
            if (dst == &r->c && flush_out(r) != 0) {
                break;
            }
            win = ssh_channel_window_size(dst->ch);

            if (dst->eof_sent || dst->closed) {
                src->pending[k] = 0;
                break;
            }
            if (win == 0) {
                break;
            }
            want = win < sizeof(buf) ? win : (uint32_t)sizeof(buf);
            n = ssh_channel_read_nonblocking(src->ch, buf, want, k);
            if (n == SSH_ERROR) {
                r->failed = 1;
                break;
            }
            if (n <= 0) {
                src->pending[k] = 0;
                break;
            }
            w = relay_write(r, dst, buf, (uint32_t)n, k);
            if (w != n) {
                r->failed = 1; /* window said yes, write said no */
                break;
            }
            if (src == &r->c) {
                r->in += (uint64_t)n;
            } else {
                r->out += (uint64_t)n;
            }
            if ((uint32_t)n < want) {
                src->pending[k] = 0; /* drained */
            }
        }
    }
}

static void setup_side(struct relay *r, struct side *s, ssh_session sess,
                       ssh_channel ch)
{
    s->s = sess;
    s->ch = ch;
    memset(&s->cb, 0, sizeof(s->cb));
    s->cb.userdata = r;
    s->cb.channel_data_function = on_data;
    s->cb.channel_eof_function = on_eof;
    s->cb.channel_close_function = on_close;
    if (s == &r->u) {
        s->cb.channel_exit_status_function = on_exit_status;
        s->cb.channel_exit_signal_function = on_exit_signal;
    } else {
        s->cb.channel_pty_window_change_function = on_window_change;
        s->cb.channel_signal_function = on_signal;
    }
    ssh_callbacks_init(&s->cb);
    ssh_set_channel_callbacks(ch, &s->cb);
    ssh_set_blocking(sess, 0);
}

/* How long the relay may sleep, in ms: until the idle warning or end
 * is due, and at most RELAY_WAKE_MS, for a socket libssh dropped from
 * the poll set without a word (it is asked directly after each poll).
 * Everything else wakes the poll itself: data, the monitor's word, the
 * recorder's end. A held idle session costs a wake-up per this. */
#define RELAY_WAKE_MS 5000

/* The idle warning comes this many seconds before the idle end. */
static int idle_lead(int idle_timeout)
{
    int lead = idle_timeout / 4;

    return lead > 60 ? 60 : lead < 1 ? 1 : lead;
}

static int wake_in(const struct relay *r, int idle_timeout)
{
    int64_t due, left;

    if (idle_timeout <= 0) {
        return RELAY_WAKE_MS;
    }
    due = (int64_t)r->last_activity + idle_timeout -
          (r->warned ? 0 : idle_lead(idle_timeout));
    left = (due - (int64_t)time(NULL)) * 1000;
    return left < 0 ? 0 : left > RELAY_WAKE_MS ? RELAY_WAKE_MS : (int)left;
}

/* The session's peer has gone, as libssh knows it. libssh drops a dead
 * socket from the poll set without telling anyone, so the relay asks
 * after every poll. */
static int session_gone(ssh_session s)
{
    return !ssh_is_connected(s) ||
           (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

/* ... or also as its socket says: hung up or failed, which libssh
 * learns only at its next poll (after a failed write, say). */
static int peer_gone(ssh_session s)
{
    struct pollfd p = {ssh_get_fd(s), 0, 0};

    return session_gone(s) || (p.fd >= 0 && poll(&p, 1, 0) == 1 &&
                               (p.revents & (POLLHUP | POLLERR)) != 0);
}

void relay_run(ssh_session client, ssh_channel cch, ssh_session upstream,
               ssh_channel uch, const char *user, int idle_timeout,
               int terminal, struct relay_result *res)
{
    struct relay r;
    ssh_event ev;
    const char *reason = "closed";
    time_t deadline;
    char note[600]; /* a notice for the user (sk_notice_fmt) */
    size_t burst;
    int drained;
    uint64_t last_burst = 0, now_us;

    memset(&r, 0, sizeof(r));
    memset(res, 0, sizeof(*res));
    /* Without the buffer, output is simply written as it comes. */
    r.obuf = malloc(OUT_MAX);
    r.exit_status = SK_NO_EXIT_STATUS;
    r.user = user;
    (void)terminal; /* filtered with or without a pty (see relay_write) */
    sk_inband_init(&r.ib_in, SK_IB_FROM_CLIENT);
    sk_inband_init(&r.ib_out, SK_IB_FROM_TARGET);
    sk_inband_init(&r.ib_err, SK_IB_FROM_TARGET);
    /* A receiver's NAK goes out on the target's stdout. */
    sk_inband_set_peer(&r.ib_in, &r.ib_out);
    sk_inband_set_peer(&r.ib_out, &r.ib_in);
    sk_inband_set_peer(&r.ib_err, &r.ib_in);
    r.last_activity = time(NULL);
    setup_side(&r, &r.c, client, cch);
    setup_side(&r, &r.u, upstream, uch);
    ssh_callbacks_init(&r.server_cb);
    r.server_cb.userdata = &r;
    if (ssh_set_server_callbacks(client, &r.server_cb) != SSH_OK) {
        snprintf(res->reason, sizeof(res->reason), "callback setup failed");
        return;
    }
    ssh_set_message_callback(client, on_message, &r);
    /* Fewer, larger reads of both legs (wk-readahead.c); without it the
     * relay works the same, at 4 KiB per poll. */
    if (wk_readahead_add(ssh_get_fd(client)) != 0 ||
        wk_readahead_add(ssh_get_fd(upstream)) != 0) {
        debug_f("read-ahead not available");
    }
    if ((ev = ssh_event_new()) == NULL ||
        ssh_event_add_session(ev, client) != SSH_OK ||
        ssh_event_add_session(ev, upstream) != SSH_OK ||
        ssh_event_add_fd(ev, mm_fd_get(), POLLIN, on_monitor, &r) !=
            SSH_OK ||
        ssh_event_add_fd(ev, wk_rec_fd(), POLLIN, on_recorder, &r) !=
            SSH_OK) {
        snprintf(res->reason, sizeof(res->reason), "event setup failed");
        return;
    }
    /* The target may have answered (data, EOF, exit status, even close)
     * while the worker was still reporting to the monitor, before these
     * callbacks existed: drain and re-read whatever libssh already
     * holds. */
    r.u.pending[0] = r.u.pending[1] = 1;
    r.c.pending[0] = 1;
    for (;;) {
        int rc = ssh_event_dopoll(ev, wake_in(&r, idle_timeout));

        if (rc == SSH_ERROR) {
            /* One of the sockets failed; the checks below say which. */
            debug_f("poll: %s / %s", ssh_get_error(client),
                    ssh_get_error(upstream));
        }
        /* The rest of a burst of output, then one write (see above). */
        drained = 0;
        for (int k = 0; k < 32 && rc != SSH_ERROR && r.olen > 0 &&
                        r.olen < OUT_FLUSH && !r.failed && !r.rec_failed;
             k++) {
            size_t before = r.olen;

            rc = ssh_event_dopoll(ev, 0);
            if (r.olen == before) {
                /* libssh takes 4 KiB a pass: bytes still read ahead are
                 * the rest of a packet, not the end of the burst. */
                if (wk_readahead_pending(ssh_get_fd(upstream)) > 0) {
                    continue;
                }
                drained = 1;
                break;
            }
        }
        burst = r.olen;
        pump(&r, &r.u);
        pump(&r, &r.c);
        (void)flush_out(&r);
        if (drained && burst >= NAP_MIN && !r.failed && !r.rec_failed) {
            now_us = sk_mono_us();
            if (now_us - last_burst <= NAP_STREAM_US + NAP_US) {
                struct timespec nap = {0, NAP_US * 1000};

                (void)nanosleep(&nap, NULL); /* EINTR: a shorter nap */
            }
            last_burst = now_us;
        }
        if (r.rec_failed) {
            /* Fail closed: what cannot be recorded is not relayed. */
            reason = "recording failed";
            ssh_set_blocking(client, 1);
            (void)ssh_channel_write_stderr(
                cch, note,
                (uint32_t)sk_notice_fmt(note, sizeof(note), "%s",
                                        _(rec_failed_msg)));
            break;
        }
        /* A write also fails when its peer has gone (a client killed
         * while output streams), maybe before libssh has noticed: that
         * end is said as such. */
        if (r.failed && peer_gone(client)) {
            reason = "client disconnected";
            break;
        }
        if (r.failed && !peer_gone(upstream)) {
            reason = "write error";
            break;
        }
        if (mm_terminated() != NULL) {
            char msg[600];
            /* The reason can be an administrator's text (session kill
             * --reason): shown, never obeyed, by the maintainer's
             * terminal. */
            static const char admin_kill[] = "ended by an administrator: ";
            const char *said = sk_tr(mm_terminated()); /* English on the wire */
            char byadmin[400], *why;
            int n;

            if (strncmp(said, admin_kill, sizeof(admin_kill) - 1) == 0) {
                /* the same text as the monitor's N_() */
                snprintf(byadmin, sizeof(byadmin),
                         _("ended by an administrator: %s"),
                         said + sizeof(admin_kill) - 1);
                said = byadmin;
            }
            why = sk_term_safe(said, strlen(said), SK_TERM_LINE);

            /* The monitor may notice a dead recorder before we do: the
             * same end either way. */
            reason = strcmp(mm_terminated(), "recording failed") == 0
                         ? "recording failed"
                         : "ended by the gateway";
            n = sk_notice_fmt(msg, sizeof(msg),
                              _("sekisho: session ended by the gateway: %s"),
                              why != NULL ? why : "?");
            (void)n;
            free(why);
            relay_notice(&r, msg);
            break;
        }
        if (session_gone(client)) {
            reason = "client disconnected";
            break;
        }
        /* r.failed here: a write failed and the target's socket hung up */
        if (session_gone(upstream) || r.failed) {
            reason = "target connection lost";
            (void)sk_notice_fmt(note, sizeof(note), "%s",
                                _("sekisho: connection to the target was "
                                  "lost"));
            relay_notice(&r, note);
            break;
        }
        /* State changes the callbacks may have missed (see above). */
        if (!r.u.eof_in && ssh_channel_is_eof(uch)) {
            r.u.eof_in = 1;
        }
        if (!r.u.closed && ssh_channel_is_closed(uch)) {
            r.u.closed = 1;
        }
        if (!r.c.eof_in && ssh_channel_is_eof(cch)) {
            r.c.eof_in = 1;
        }
        /* Half-closes travel once all held-back data has. */
        if (r.c.eof_in && !r.c.pending[0] && !r.u.eof_sent) {
            (void)ssh_channel_send_eof(uch);
            r.u.eof_sent = 1;
        }
        if (r.u.eof_in && !r.u.pending[0] && !r.u.pending[1] &&
            !r.c.eof_sent) {
            (void)ssh_channel_send_eof(cch);
            r.c.eof_sent = 1;
        }
        if (r.u.closed && !r.u.pending[0] && !r.u.pending[1]) {
            reason = r.exit_signal[0] ? "target process killed by signal"
                                      : "target closed the session";
            break;
        }
        if (r.c.closed) {
            reason = "client closed the session";
            break;
        }
        if (idle_timeout > 0) {
            time_t idle = time(NULL) - r.last_activity;
            int lead = idle_lead(idle_timeout);

            if (idle >= idle_timeout) {
                reason = "idle timeout";
                (void)sk_notice_fmt(note, sizeof(note), "%s",
                                    _("sekisho: session idle too long, "
                                      "closing"));
                relay_notice(&r, note);
                break;
            }
            if (!r.warned && idle >= idle_timeout - lead) {
                char wmsg[400];
                int n = sk_notice_fmt(wmsg, sizeof(wmsg),
                                      _("sekisho: no input for %lds; the "
                                        "session ends in %lds unless you "
                                        "type"),
                                      (long)idle, (long)(idle_timeout - idle));

                r.warned = 1;
                (void)wk_rec(SK_TR_EV_STDERR, wmsg, (size_t)n);
                (void)ssh_channel_write_stderr(cch, wmsg, (uint32_t)n);
            }
        }
    }
    if (!r.rec_failed) {
        (void)flush_out(&r); /* output before the status, as it came */
    }
    if (r.u.closed && r.exit_status == SK_NO_EXIT_STATUS &&
        r.exit_signal[0] == '\0') {
        /* Closed before our callback saw the status: libssh kept it, and
         * on a closed channel this returns at once. */
        int st = ssh_channel_get_exit_status(uch);

        if (st >= 0) {
            r.exit_status = (uint32_t)st;
        }
    }
    if (r.exit_status != SK_NO_EXIT_STATUS) {
        uint8_t st[4] = {(uint8_t)(r.exit_status >> 24),
                         (uint8_t)(r.exit_status >> 16),
                         (uint8_t)(r.exit_status >> 8),
                         (uint8_t)r.exit_status};

        (void)wk_rec(SK_TR_EV_EXIT, st, sizeof(st));
    } else if (r.exit_signal[0] != '\0') {
        (void)wk_rec(SK_TR_EV_SIGNAL, r.exit_signal, strlen(r.exit_signal));
    }
    /* Orderly end towards the client: status, EOF, close; then wait (a
     * bounded time) for its close so every queued byte has left. */
    if (ssh_is_connected(client) && !r.c.closed) {
        if (r.exit_status != SK_NO_EXIT_STATUS) {
            (void)ssh_channel_request_send_exit_status(cch, (int)r.exit_status);
        } else if (r.exit_signal[0] != '\0') {
            (void)ssh_channel_request_send_exit_signal(cch, r.exit_signal, 0,
                                                       "", "");
        } else if (strcmp(reason, "target connection lost") == 0 ||
                   strcmp(reason, "idle timeout") == 0 ||
                   strcmp(reason, "recording failed") == 0 ||
                   strcmp(reason, "ended by the gateway") == 0) {
            (void)ssh_channel_request_send_exit_status(cch, 255);
        }
        if (!r.c.eof_sent) {
            (void)ssh_channel_send_eof(cch);
        }
        (void)ssh_channel_close(cch);
        deadline = time(NULL) + 5;
        while (!r.c.closed && ssh_is_connected(client) &&
               time(NULL) < deadline) {
            if (ssh_event_dopoll(ev, 200) == SSH_ERROR &&
                !ssh_is_connected(client)) {
                break;
            }
        }
    }
    if (ssh_is_connected(upstream) && !r.u.closed) {
        ssh_set_blocking(upstream, 1);
        if (strcmp(reason, "target closed the session") != 0) {
            /* The user is gone: hang up the remote side as a terminal
             * would, so nothing is left running on the target. */
            if (!r.rec_failed) {
                (void)relay_marker(&r, "{s:s, s:s, s:s}", "kind", "signal",
                                   "from", "gateway", "signal", "HUP");
            }
            (void)ssh_channel_request_send_signal(uch, "HUP");
        }
        (void)ssh_channel_close(uch);
    }
    ssh_event_remove_fd(ev, mm_fd_get());
    ssh_event_remove_fd(ev, wk_rec_fd());
    ssh_event_remove_session(ev, client);
    ssh_event_remove_session(ev, upstream);
    ssh_event_free(ev);
    free(r.obuf);
    res->bytes_in = r.in;
    res->bytes_out = r.out;
    res->exit_status = r.exit_status;
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
}
