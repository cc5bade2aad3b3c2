/*
 * Everything a client asks for beyond one terminal or command channel is
 * refused here, named, logged and reported to the monitor for the audit
 * log (R-AC-7: no file transfer, forwarding or other side channels).
 */
#include "log.h"
#include "util.h"
#include "worker.h"
#include "recorder/transcript.h"

#include <jansson.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include <libssh/server.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* A hostile client could send refusals in a loop; the audit log gets the
 * first ones, the rest are only counted. */
#define REFUSE_AUDIT_MAX 50

static int refused_count;

void wk_refuse(ssh_message msg, const char *user)
{
    const char *kind = NULL;
    char detail[160] = "";
    int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);

    switch (type) {
    case SSH_REQUEST_CHANNEL_OPEN:
        switch (sub) {
        case SSH_CHANNEL_DIRECT_TCPIP: {
            const char *h = ssh_message_channel_request_open_destination(msg);

            kind = "direct-tcpip";
            snprintf(detail, sizeof(detail), "%.100s:%d",
                     h && sk_utf8_valid(h, strlen(h)) ? h : "?",
                     ssh_message_channel_request_open_destination_port(msg));
            break;
        }
        case SSH_CHANNEL_FORWARDED_TCPIP:
            kind = "forwarded-tcpip";
            break;
        case SSH_CHANNEL_X11:
            kind = "x11-channel";
            break;
        case SSH_CHANNEL_AUTH_AGENT:
            kind = "agent-channel";
            break;
        case SSH_CHANNEL_SESSION:
            kind = "extra-session-channel";
            break;
        default:
            kind = "channel";
            break;
        }
        break;
    case SSH_REQUEST_CHANNEL:
        switch (sub) {
        case SSH_CHANNEL_REQUEST_SUBSYSTEM: {
            const char *n = ssh_message_channel_request_subsystem(msg);

            kind = "subsystem";
            snprintf(detail, sizeof(detail), "%.64s",
                     n && sk_utf8_valid(n, strlen(n)) ? n : "?");
            break;
        }
        case SSH_CHANNEL_REQUEST_X11:
            kind = "x11-forwarding";
            break;
        case SSH_CHANNEL_REQUEST_ENV: {
            const char *n = ssh_message_channel_request_env_name(msg);

            kind = "env";
            snprintf(detail, sizeof(detail), "%.64s",
                     n && sk_utf8_valid(n, strlen(n)) ? n : "?");
            break;
        }
        case SSH_CHANNEL_REQUEST_PTY:
            /* only refused when its size is out of range */
            kind = "pty";
            snprintf(detail, sizeof(detail), "%ux%u (more than 10000)",
                     (unsigned)ssh_message_channel_request_pty_width(msg),
                     (unsigned)ssh_message_channel_request_pty_height(msg));
            break;
        case SSH_CHANNEL_REQUEST_UNKNOWN:
            kind = "unknown-channel-request";
            break;
        default:
            kind = "channel-request";
            break;
        }
        break;
    case SSH_REQUEST_GLOBAL:
        if (sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
            kind = "tcpip-forward";
            snprintf(detail, sizeof(detail), "port %d",
                     ssh_message_global_request_port(msg));
        }
        /* keepalives and other housekeeping need no record */
        break;
    default:
        kind = "request";
        break;
    }
    ssh_message_reply_default(msg);
    if (kind == NULL) {
        return;
    }
    logit("refused %s%s%s for %s", kind, detail[0] ? " " : "", detail,
          user[0] ? user : "?");
    if (refused_count++ < REFUSE_AUDIT_MAX) {
        mm_refused(kind, detail);
        if (wk_rec_fd() >= 0) {
            /* Mid-session: the transcript shows the attempt where it
             * happened. jansson escapes the client-supplied detail. */
            json_t *o = json_pack("{s:s, s:s, s:s}", "kind", "refused",
                                  "request", kind, "detail", detail);
            char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;

            if (j != NULL) {
                (void)wk_rec(SK_TR_EV_MARKER, j, strlen(j));
            }
            free(j);
            json_decref(o);
        }
    }
}
