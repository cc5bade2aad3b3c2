/*
 * The worker's side of a gateway command (worker.h relay_cmd): bytes
 * between the client's channel and the descriptors the monitor passed
 * (a pty master, or a socket for stdin+stdout and one for stderr). It
 * needs no system call the sandbox does not already allow (read, write,
 * poll, shutdown). Unlike relay.c nothing is recorded: what a gateway
 * command prints (a TOTP enrolment) must reach no transcript.
 *
 * Back-pressure both ways: output is read from the command only as far
 * as the client's window allows (the command blocks on a full pipe), and
 * client input is taken from libssh only as far as our buffer has room
 * (libssh keeps the rest and stops opening the window).
 */
#include "i18n.h"
#include "ipc.h"
#include "log.h"
#include "monitor.h"
#include "util.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#define IN_MAX (64 * 1024)

struct gwr {
    ssh_channel ch;
    uint8_t in[IN_MAX]; /* client input not yet written to the command */
    size_t inlen;
    int in_pending; /* libssh holds client data we had no room for */
    int eof_in;     /* client sent EOF */
    int closed;     /* client closed the channel */
    time_t last_activity;
};

static int gw_on_data(ssh_session session, ssh_channel channel, void *data,
                      uint32_t len, int is_stderr, void *userdata)
{
    struct gwr *g = userdata;
    size_t room = sizeof(g->in) - g->inlen;
    size_t n = len < room ? len : room;

    (void)session;
    (void)channel;
    if (is_stderr) {
        return (int)len; /* a client's stderr means nothing here */
    }
    memcpy(g->in + g->inlen, data, n);
    g->inlen += n;
    g->last_activity = time(NULL);
    if (n < len) {
        g->in_pending = 1;
    }
    return (int)n;
}

static void gw_on_eof(ssh_session session, ssh_channel channel,
                      void *userdata)
{
    (void)session;
    (void)channel;
    ((struct gwr *)userdata)->eof_in = 1;
}

static void gw_on_close(ssh_session session, ssh_channel channel,
                        void *userdata)
{
    (void)session;
    (void)channel;
    ((struct gwr *)userdata)->closed = 1;
}

/* The command's pty follows the client's window (the monitor holds the
 * pty master's copy that can be resized: no terminal ioctl here). */
static int gw_on_winch(ssh_session session, ssh_channel channel, int width,
                       int height, int pxwidth, int pxheight, void *userdata)
{
    (void)session;
    (void)channel;
    (void)pxwidth;
    (void)pxheight;
    (void)userdata;
    mm_gwcmd_resize(width, height);
    return 0;
}

/* Everything else the client asks for meanwhile is refused. */
static int gw_on_message(ssh_session session, ssh_message msg, void *user)
{
    (void)session;
    wk_refuse(msg, (const char *)user);
    return 0;
}

/* Reads what the window allows from fd and sends it (stderr: err).
 * Returns 1 at the end of that output, 0 otherwise, -1 on a write error. */
static int gw_out(ssh_channel ch, int fd, int err)
{
    static char buf[32 * 1024];
    uint32_t win = ssh_channel_window_size(ch);
    ssize_t n;

    if (win == 0) {
        return 0;
    }
    n = read(fd, buf, win < sizeof(buf) ? win : sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return 0;
    }
    if (n <= 0) {
        return 1; /* EOF, or EIO: a pty whose other side is all closed */
    }
    return wk_chan_write_all(ch, buf, (uint32_t)n, err);
}

int relay_cmd(ssh_session client, ssh_channel cch, const char *user,
              const int fds[2], int nfds, int idle_timeout, char *reason,
              size_t reasonlen)
{
    struct ssh_channel_callbacks_struct cb;
    /* Empty, but its presence makes libssh route channel requests
     * (window-change) to the channel callbacks (as in relay.c). */
    struct ssh_server_callbacks_struct server_cb;
    struct gwr *g;
    ssh_event ev = NULL;
    int done[2] = {0, nfds < 2}, shut = 0, gone = 1;
    const char *why = "client disconnected";

    if ((g = calloc(1, sizeof(*g))) == NULL) {
        snprintf(reason, reasonlen, "out of memory");
        return 1;
    }
    g->ch = cch;
    g->last_activity = time(NULL);
    for (int k = 0; k < nfds; k++) {
        if (fcntl(fds[k], F_SETFL, O_NONBLOCK) != 0) {
            snprintf(reason, reasonlen, "descriptor setup failed");
            free(g);
            return 1;
        }
    }
    memset(&cb, 0, sizeof(cb));
    cb.userdata = g;
    cb.channel_data_function = gw_on_data;
    cb.channel_eof_function = gw_on_eof;
    cb.channel_close_function = gw_on_close;
    if (nfds == 1) {
        cb.channel_pty_window_change_function = gw_on_winch;
    }
    ssh_callbacks_init(&cb);
    ssh_set_channel_callbacks(cch, &cb);
    memset(&server_cb, 0, sizeof(server_cb));
    ssh_callbacks_init(&server_cb);
    if (ssh_set_server_callbacks(client, &server_cb) != SSH_OK) {
        snprintf(reason, reasonlen, "callback setup failed");
        ssh_remove_channel_callbacks(cch, &cb);
        free(g);
        return 1;
    }
    ssh_set_message_callback(client, gw_on_message, (void *)user);
    ssh_set_blocking(client, 0);
    if ((ev = ssh_event_new()) == NULL ||
        ssh_event_add_session(ev, client) != SSH_OK) {
        snprintf(reason, reasonlen, "event setup failed");
        ssh_event_free(ev);
        ssh_remove_channel_callbacks(cch, &cb);
        free(g);
        return 1;
    }
    /* What arrived before the callbacks were set is still in libssh. */
    g->in_pending = 1;
    for (;;) {
        struct pollfd p[4];
        int np = 0, ci, mi, oi[2] = {-1, -1};

        ci = np;
        p[np].fd = ssh_get_fd(client);
        p[np++].events =
            POLLIN | ((ssh_get_poll_flags(client) & SSH_WRITE_PENDING)
                          ? POLLOUT
                          : 0);
        mi = np;
        p[np].fd = mm_fd_get();
        p[np++].events = POLLIN;
        for (int k = 0; k < nfds; k++) {
            short want = 0;

            /* Output only when the client can take it: back-pressure. */
            if (!done[k] && ssh_channel_window_size(cch) > 0) {
                want |= POLLIN;
            }
            if (k == 0 && g->inlen > 0) {
                want |= POLLOUT;
            }
            if (want != 0) {
                oi[k] = np;
                p[np].fd = fds[k];
                p[np++].events = want;
            }
        }
        if (poll(p, (nfds_t)np, 500) < 0 && errno != EINTR) {
            why = "poll failed";
            break;
        }
        /* libssh reads the client (data lands in g->in), and writes what
         * it holds for it. */
        if ((p[ci].revents || (ssh_get_poll_flags(client) &
                               SSH_WRITE_PENDING)) &&
            ssh_event_dopoll(ev, 0) == SSH_ERROR &&
            !ssh_is_connected(client)) {
            why = "client disconnected";
            break;
        }
        if (p[mi].revents & (POLLIN | POLLHUP | POLLERR)) {
            struct sk_buf b;
            uint32_t type;

            sk_buf_init(&b);
            if (sk_ipc_recv(mm_fd_get(), &type, &b, NULL, NULL) != 0 ||
                (type != MON_TERMINATE && type != MON_NOTICE)) {
                sk_fatal(SK_EXIT_PROTOCOL, __func__,
                         "unexpected message from monitor");
            }
            if (type == MON_TERMINATE) {
                mm_take_terminate(&b);
            }
            sk_buf_free(&b);
        }
        if (mm_terminated() != NULL) {
            char msg[320], *safe = sk_term_safe(mm_terminated(),
                                                strlen(mm_terminated()),
                                                SK_TERM_LINE);

            /* the reason comes English (N_() where the monitor wrote
             * it) and is shown in the session's language */
            (void)sk_notice_fmt(msg, sizeof(msg),
                                _("sekisho: command ended by the gateway: "
                                  "%s"),
                                safe != NULL ? sk_tr(safe) : "?");
            free(safe);
            (void)ssh_channel_write_stderr(cch, msg, (uint32_t)strlen(msg));
            why = "ended by the gateway";
            break;
        }
        if (g->in_pending && g->inlen < sizeof(g->in)) {
            int n = ssh_channel_read_nonblocking(
                cch, g->in + g->inlen, (uint32_t)(sizeof(g->in) - g->inlen),
                0);

            if (n > 0) {
                g->inlen += (size_t)n;
                g->last_activity = time(NULL);
            } else {
                g->in_pending = 0;
            }
        }
        if (g->inlen > 0) {
            ssize_t w = write(fds[0], g->in, g->inlen);

            if (w > 0) {
                memmove(g->in, g->in + w, g->inlen - (size_t)w);
                g->inlen -= (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                g->inlen = 0; /* the command stopped reading: drop */
            }
        }
        if (!g->eof_in && ssh_channel_is_eof(cch)) {
            g->eof_in = 1;
        }
        if (g->eof_in && g->inlen == 0 && !g->in_pending && !shut &&
            nfds == 2) {
            /* Without a pty, the client's EOF is the command's. */
            (void)shutdown(fds[0], SHUT_WR);
            shut = 1;
        }
        for (int k = 0; k < nfds; k++) {
            if (oi[k] >= 0 && (p[oi[k]].revents & (POLLIN | POLLHUP |
                                                    POLLERR))) {
                int r = gw_out(cch, fds[k], k == 1);

                if (r < 0) {
                    why = "write error";
                    goto end;
                }
                if (r > 0) {
                    done[k] = 1;
                }
            }
        }
        if (done[0] && done[1]) {
            why = "command ended";
            gone = 0;
            break;
        }
        /* libssh drops a dead socket from its poll set without a word:
         * ask the session (as relay.c does). */
        if (g->closed || !ssh_is_connected(client) ||
            (ssh_get_status(client) & (SSH_CLOSED | SSH_CLOSED_ERROR))) {
            why = "client closed the channel";
            break;
        }
        if (idle_timeout > 0 && time(NULL) - g->last_activity >=
                                    idle_timeout) {
            char m[200];
            int ml = sk_notice_fmt(m, sizeof(m), "%s",
                                   _("sekisho: idle too long, closing"));

            (void)ssh_channel_write_stderr(cch, m, (uint32_t)ml);
            why = "idle timeout";
            break;
        }
    }
end:
    snprintf(reason, reasonlen, "%s", why);
    ssh_event_remove_session(ev, client);
    ssh_event_free(ev);
    ssh_set_blocking(client, 1);
    ssh_remove_channel_callbacks(cch, &cb);
    free(g);
    return gone;
}
