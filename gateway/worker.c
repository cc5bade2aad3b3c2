/*
 * The worker: the only process that parses bytes from the network. It runs
 * libssh's server side with the client and, after the monitor has decided
 * and connected, libssh's client side with the target, under a seccomp
 * sandbox and (when started as root) as an unprivileged user in an empty
 * chroot. Everything it needs from outside it asks of the monitor.
 */
#include "i18n.h"
#include "ipc.h"
#include "log.h"
#include "monitor.h"
#include "sk-err.h"
#include "util.h"
#include "worker.h"
#include "hostkey.h"
#include "recorder/transcript.h"

#include "policy/command.h"
#include "policy/policy.h"
#include "policy/request.h"

#include <errno.h>
#include <jansson.h>
#include <security/pam_appl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/server.h>

/* libssh 0.10 marks the message getters deprecated in favour of server
 * callbacks, but keyboard-interactive and pty parameters are only
 * reachable through messages there. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* The algorithms offered to clients and targets are the configuration's
 * (kex_algorithms, ciphers, macs, host_key_algorithms), checked against a
 * deny list when it was loaded. */
/* Signature algorithms accepted from users' keys: no SHA-1 (ssh-rsa) and
 * no DSA. */
#define SK_USER_KEY_ALGOS                                                     \
    "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,"             \
    "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"                                \
    "sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"

#define MENU_MAX 200

struct wk {
    const struct sk_config *cfg;
    ssh_session s;
    ssh_channel ch;
    char user[SK_NAME_MAX + 1];
    int have_pty;
    char term[64];
    int cols, rows;
    char lang[64];
    int is_exec;
    char *command; /* exec string from the client, or NULL for shell */
    /* libssh consumes auth-agent-req@openssh.com itself and only tells a
     * channel callback, so agent forwarding is noticed there. */
    struct ssh_channel_callbacks_struct setup_cb;
    int agent_req;
    int agent_reported;
};

static void on_agent_req(ssh_session session, ssh_channel channel,
                         void *userdata)
{
    struct wk *w = userdata;

    (void)session;
    (void)channel;
    w->agent_req = 1;
}

/* Agent forwarding is never set up (the gateway opens no agent channel
 * to the client); record that it was asked for. */
static void wk_report_agent_req(struct wk *w)
{
    if (w->agent_req && !w->agent_reported) {
        w->agent_reported = 1;
        logit("refused agent-forwarding for %s", w->user);
        mm_refused("agent-forwarding", "");
    }
}

static void wk_exit(struct wk *w, int code) __attribute__((noreturn));

static void wk_exit(struct wk *w, int code)
{
    if (w->s != NULL) {
        /* What libssh still holds for the client goes out before the
         * disconnect (a nonblocking session would drop it), bounded. */
        if (ssh_is_connected(w->s)) {
            (void)ssh_blocking_flush(w->s, 5000);
        }
        ssh_disconnect(w->s);
    }
    _exit(code);
}

/* Writes text to the client's terminal (stderr for exec sessions so it
 * does not mix into piped output). Errors are ignored: the client may be
 * gone, which the caller finds out next. */
static void wk_say(struct wk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wk_say(struct wk *w, const char *fmt, ...)
{
    char buf[4096], out[8192], *safe;
    size_t i, o = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* Arguments can carry what a target or the store held: nothing of it
     * may act on the maintainer's terminal. */
    if ((safe = sk_term_safe(buf, strlen(buf), 0)) == NULL) {
        return;
    }
    /* A pty is in raw mode on the client: newlines need a carriage
     * return. */
    for (i = 0; safe[i] != '\0' && o + 2 < sizeof(out); i++) {
        if (safe[i] == '\n' && w->have_pty) {
            out[o++] = '\r';
        }
        out[o++] = safe[i];
    }
    free(safe);
    if (w->have_pty) {
        (void)ssh_channel_write(w->ch, out, (uint32_t)o);
    } else {
        (void)ssh_channel_write_stderr(w->ch, out, (uint32_t)o);
    }
}

static void wk_finish(struct wk *w, int status, int code)
    __attribute__((noreturn));

/* Ends the client channel with an exit status and leaves. */
static void wk_finish(struct wk *w, int status, int code)
{
    ssh_event ev;
    time_t deadline = time(NULL) + 3;

    ssh_set_blocking(w->s, 1);
    (void)ssh_channel_request_send_exit_status(w->ch, status);
    (void)ssh_channel_send_eof(w->ch);
    (void)ssh_channel_close(w->ch);
    /* Let the client read everything and hang up first, so it sees an
     * orderly end rather than "closed by remote host". */
    if ((ev = ssh_event_new()) != NULL &&
        ssh_event_add_session(ev, w->s) == SSH_OK) {
        while (ssh_is_connected(w->s) && time(NULL) < deadline) {
            if (ssh_event_dopoll(ev, 200) == SSH_ERROR) {
                break;
            }
        }
        ssh_event_remove_session(ev, w->s);
    }
    ssh_event_free(ev);
    wk_exit(w, code);
}

/* Keyboard-interactive through PAM: the monitor runs the PAM transaction
 * and sends each conversation (MON_PAM_PROMPTS); every prompt goes to the
 * client as an INFO_REQUEST on *msg and the answers go back
 * (MON_PAM_RESPONSES). *msg is replaced by the client's last response
 * message, which the caller answers with the result. Returns a MON_AUTH_*
 * result, or -1 if the client went away. */
static int wk_pam(struct wk *w, ssh_message *msg, const char *user,
                  uint32_t *next)
{
    struct sk_buf b, rep;
    uint32_t type;
    int r;

    sk_buf_init(&b);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&b, user) != 0 ||
        sk_ipc_send(mm_fd_get(), MON_PAM_START, &b, NULL, 0) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "send to monitor failed");
    }
    sk_buf_free(&b);
    for (;;) {
        const char *prompts[16];
        char echo[16], instr[2048] = "", *texts[16] = {NULL};
        uint32_t n = 0, style[16];
        int np = 0, nans;
        ssh_message m2;

        if ((r = sk_ipc_recv(mm_fd_get(), &type, &rep, NULL, NULL)) != 0) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor: %s",
                     sk_err_str(r));
        }
        if (type == (MON_PAM_START | MON_REPLY)) {
            uint32_t res;

            if (sk_buf_get_u32(&rep, &res) != 0 ||
                sk_buf_get_u32(&rep, next) != 0) {
                sk_fatal(SK_EXIT_PROTOCOL, __func__, "short reply");
            }
            sk_buf_free(&rep);
            return (int)res;
        }
        if (type != MON_PAM_PROMPTS || sk_buf_get_u32(&rep, &n) != 0 ||
            n == 0 || n > 16) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "unexpected %u from monitor",
                     type);
        }
        for (uint32_t i = 0; i < n; i++) {
            if (sk_buf_get_u32(&rep, &style[i]) != 0 ||
                sk_buf_get_cstring(&rep, &texts[i], 512) != 0) {
                sk_fatal(SK_EXIT_PROTOCOL, __func__, "bad prompts");
            }
            if (style[i] == PAM_PROMPT_ECHO_OFF ||
                style[i] == PAM_PROMPT_ECHO_ON) {
                prompts[np] = texts[i];
                echo[np++] = style[i] == PAM_PROMPT_ECHO_ON;
            } else {
                /* Messages (errors, information) become the request's
                 * instruction text, which every client shows. */
                size_t l = strlen(instr);

                snprintf(instr + l, sizeof(instr) - l, "%s%s",
                         l ? "\n" : "", texts[i]);
            }
        }
        if (ssh_message_auth_interactive_request(*msg, "", instr, np, prompts,
                                                 echo) != SSH_OK) {
            return -1;
        }
        ssh_message_free(*msg);
        *msg = NULL;
        /* The client's answer; anything else meanwhile is refused. */
        for (;;) {
            if ((m2 = ssh_message_get(w->s)) == NULL) {
                return -1;
            }
            if (ssh_message_type(m2) == SSH_REQUEST_AUTH &&
                ssh_message_subtype(m2) == SSH_AUTH_METHOD_INTERACTIVE &&
                ssh_message_auth_kbdint_is_response(m2)) {
                break;
            }
            ssh_message_reply_default(m2);
            ssh_message_free(m2);
        }
        *msg = m2;
        nans = ssh_userauth_kbdint_getnanswers(w->s);
        sk_buf_init(&b);
        if (sk_buf_put_u32(&b, n) != 0) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "out of memory");
        }
        for (uint32_t i = 0, k = 0; i < n; i++) {
            const char *a = "";

            if (style[i] == PAM_PROMPT_ECHO_OFF ||
                style[i] == PAM_PROMPT_ECHO_ON) {
                const char *g = (int)k < nans
                                    ? ssh_userauth_kbdint_getanswer(w->s, k)
                                    : NULL;

                a = g != NULL ? g : "";
                k++;
            }
            if (sk_buf_put_cstring(&b, a) != 0) {
                /* over-long answer: send it empty (a failure) */
                (void)sk_buf_put_cstring(&b, "");
            }
        }
        for (uint32_t i = 0; i < n; i++) {
            free(texts[i]);
        }
        r = sk_ipc_send(mm_fd_get(), MON_PAM_RESPONSES, &b, NULL, 0);
        sk_buf_free(&b); /* wipes the answers */
        if (r != 0) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "send to monitor failed");
        }
    }
}

/* The monitor's MON_M_* as libssh's method bits. */
static int wk_methods(uint32_t next)
{
    int m = 0;

    if (next & MON_M_PUBLICKEY) {
        m |= SSH_AUTH_METHOD_PUBLICKEY;
    }
    if (next & MON_M_KBDINT) {
        m |= SSH_AUTH_METHOD_INTERACTIVE;
    }
    if (next & MON_M_PASSWORD) {
        m |= SSH_AUTH_METHOD_PASSWORD;
    }
    /* Never an empty list: a client must be able to fail normally. */
    return m != 0 ? m : (int)SSH_AUTH_METHOD_INTERACTIVE;
}

/* A publickey request: the key goes to the monitor, which decides. A
 * probe gets PK_OK; a signed request goes with what libssh checked, which
 * the monitor verifies again itself. Returns a MON_AUTH_* result. */
static int wk_pubkey(ssh_session s, ssh_message msg, const char *user,
                     uint32_t *next)
{
    ssh_key key = ssh_message_auth_pubkey(msg);
    enum ssh_publickey_state_e st = ssh_message_auth_publickey_state(msg);
    char *b64 = NULL, line[12000];
    const char *type;
    struct wk_sigproof proof;
    const struct wk_sigproof *pp = NULL;
    uint32_t phase;
    int res;

    if (key == NULL || (type = ssh_key_type_to_char(ssh_key_type(key))) ==
                           NULL ||
        ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
        (size_t)snprintf(line, sizeof(line), "%s %s", type, b64) >=
            sizeof(line)) {
        ssh_string_free_char(b64);
        return MON_AUTH_FAIL;
    }
    ssh_string_free_char(b64);
    switch (st) {
    case SSH_PUBLICKEY_STATE_NONE:
        phase = MON_PK_PROBE;
        break;
    case SSH_PUBLICKEY_STATE_VALID:
        /* libssh's verdict is not evidence: the monitor verifies what
         * libssh checked (wk-sigcap.c). */
        phase = MON_PK_SIGNED;
        if (wk_sigcap_get(&proof) == 0) {
            pp = &proof;
        } else {
            verbose_f("signed request not captured for the monitor");
        }
        break;
    default:
        phase = MON_PK_BAD_SIG;
        break;
    }
    res = mm_auth_pubkey(user, line, phase, ssh_get_kex_algo(s), pp, next);
    if (res == MON_AUTH_KEY_OK) {
        if (phase != MON_PK_PROBE ||
            ssh_message_auth_reply_pk_ok_simple(msg) != SSH_OK) {
            return MON_AUTH_FAIL;
        }
    }
    return res;
}

static int wk_auth(struct wk *w)
{
    ssh_message msg;
    char user_copy[256];
    uint32_t next = 0;

    /* Until the monitor has named the user's own (the "none" request
     * asks it): the global rule's methods, which it gives for no name. */
    next = mm_auth_methods("");
    ssh_set_auth_methods(w->s, wk_methods(next));
    for (;;) {
        const char *user;
        int res = -1;

        wk_sigcap_arm(1);
        msg = ssh_message_get(w->s);
        wk_sigcap_arm(0);
        if (msg == NULL) {
            verbose_f("client left during authentication: %s",
                      ssh_get_error(w->s));
            return -1;
        }
        if (ssh_message_type(msg) != SSH_REQUEST_AUTH) {
            ssh_message_reply_default(msg);
            ssh_message_free(msg);
            continue;
        }
        user = ssh_message_auth_user(msg);
        snprintf(user_copy, sizeof(user_copy), "%s", user ? user : "");
        switch (ssh_message_subtype(msg)) {
        case SSH_AUTH_METHOD_PASSWORD: {
            const char *pw = ssh_message_auth_password(msg);

            /* The monitor checks it only if a password alone completes
             * some alternative of the rule (it can carry no code). */
            res = mm_auth_password(user_copy, pw != NULL ? pw : "", "",
                                   &next);
            break;
        }
        case SSH_AUTH_METHOD_NONE:
            /* Clients ask first; the answer lists this user's methods. */
            next = mm_auth_methods(user_copy);
            break;
        case SSH_AUTH_METHOD_PUBLICKEY:
            res = wk_pubkey(w->s, msg, user_copy, &next);
            if (res == MON_AUTH_KEY_OK) {
                ssh_message_free(msg);
                continue; /* PK_OK sent; the signed request follows */
            }
            break;
        case SSH_AUTH_METHOD_INTERACTIVE:
            if (ssh_message_auth_kbdint_is_response(msg)) {
                break; /* an answer nobody asked for */
            }
            res = wk_pam(w, &msg, user_copy, &next);
            if (res < 0 || msg == NULL) {
                if (msg != NULL) {
                    ssh_message_free(msg);
                }
                return -1;
            }
            break;
        default:
            break;
        }
        if (res == MON_AUTH_OK) {
            /* The monitor accepted it, so it is a valid (short) name. */
            if (strlen(user_copy) >= sizeof(w->user)) {
                fatal_f("monitor accepted an over-long user name");
            }
            memcpy(w->user, user_copy, strlen(user_copy) + 1);
            ssh_message_auth_reply_success(msg, 0);
            ssh_message_free(msg);
            return 0;
        }
        if (res == MON_AUTH_FAIL_DISCONNECT) {
            ssh_message_free(msg);
            return -1;
        }
        ssh_message_auth_set_methods(msg, wk_methods(next));
        if (res == MON_AUTH_PARTIAL) {
            /* SSH_MSG_USERAUTH_FAILURE with partial success: the next
             * factor, by the methods listed. */
            ssh_message_auth_reply_success(msg, 1);
        } else {
            ssh_message_reply_default(msg);
        }
        ssh_message_free(msg);
    }
}

static int env_allowed(const char *name)
{
    return strcmp(name, "LANG") == 0 || strncmp(name, "LC_", 3) == 0;
}

/* A pty size the monitor takes (mon_answer_target_open): 0..10000 each
 * (libssh hands the protocol's u32 over as an int: huge ones are < 0). */
static int wk_pty_size_ok(int cols, int rows)
{
    return cols >= 0 && cols <= 10000 && rows >= 0 && rows <= 10000;
}

/* Accepts one session channel and collects pty/env until shell or exec. */
static int wk_channel_setup(struct wk *w)
{
    ssh_message msg;

    for (;;) {
        if ((msg = ssh_message_get(w->s)) == NULL) {
            return -1;
        }
        switch (ssh_message_type(msg)) {
        case SSH_REQUEST_CHANNEL_OPEN:
            if (ssh_message_subtype(msg) == SSH_CHANNEL_SESSION &&
                w->ch == NULL) {
                w->ch = ssh_message_channel_request_open_reply_accept(msg);
                if (w->ch == NULL) {
                    ssh_message_free(msg);
                    return -1;
                }
                memset(&w->setup_cb, 0, sizeof(w->setup_cb));
                w->setup_cb.userdata = w;
                w->setup_cb.channel_auth_agent_req_function = on_agent_req;
                ssh_callbacks_init(&w->setup_cb);
                if (ssh_set_channel_callbacks(w->ch, &w->setup_cb) != SSH_OK) {
                    ssh_message_free(msg);
                    return -1;
                }
            } else {
                wk_refuse(msg, w->user);
            }
            break;
        case SSH_REQUEST_CHANNEL:
            if (ssh_message_channel_request_channel(msg) != w->ch) {
                ssh_message_reply_default(msg);
                break;
            }
            switch (ssh_message_subtype(msg)) {
            case SSH_CHANNEL_REQUEST_PTY: {
                const char *t = ssh_message_channel_request_pty_term(msg);
                int cols = ssh_message_channel_request_pty_width(msg),
                    rows = ssh_message_channel_request_pty_height(msg);

                if (!wk_pty_size_ok(cols, rows)) {
                    /* Denied like any request we do not serve (the client
                     * says so and goes on without a pty); the monitor
                     * would take such a size for a hostile worker. */
                    wk_refuse(msg, w->user);
                    break;
                }
                snprintf(w->term, sizeof(w->term), "%s",
                         t && sk_utf8_valid(t, strlen(t)) ? t : "xterm");
                w->cols = cols;
                w->rows = rows;
                w->have_pty = 1;
                ssh_message_channel_request_reply_success(msg);
                break;
            }
            case SSH_CHANNEL_REQUEST_WINDOW_CHANGE:
                /* Out of range: the size stays what it was. */
                if (wk_pty_size_ok(
                        ssh_message_channel_request_pty_width(msg),
                        ssh_message_channel_request_pty_height(msg))) {
                    w->cols = ssh_message_channel_request_pty_width(msg);
                    w->rows = ssh_message_channel_request_pty_height(msg);
                }
                break;
            case SSH_CHANNEL_REQUEST_ENV: {
                const char *n = ssh_message_channel_request_env_name(msg);
                const char *v = ssh_message_channel_request_env_value(msg);

                if (n && v && strcmp(n, "LANG") == 0 && strlen(v) < 64 &&
                    sk_utf8_valid(v, strlen(v))) {
                    snprintf(w->lang, sizeof(w->lang), "%s", v);
                    ssh_message_channel_request_reply_success(msg);
                } else if (n && env_allowed(n)) {
                    /* LC_* are harmless but not forwarded: no record. */
                    ssh_message_reply_default(msg);
                } else {
                    /* Other variables could steer the target's shell. */
                    wk_refuse(msg, w->user);
                }
                break;
            }
            case SSH_CHANNEL_REQUEST_SHELL:
                ssh_message_channel_request_reply_success(msg);
                ssh_message_free(msg);
                wk_report_agent_req(w);
                return 0;
            case SSH_CHANNEL_REQUEST_EXEC: {
                const char *c = ssh_message_channel_request_command(msg);

                w->is_exec = 1;
                w->command = strdup(c != NULL ? c : "");
                if (w->command == NULL) {
                    ssh_message_free(msg);
                    return -1;
                }
                ssh_message_channel_request_reply_success(msg);
                ssh_message_free(msg);
                wk_report_agent_req(w);
                return 0;
            }
            default:
                /* subsystem (sftp), x11, agent forwarding: refused. */
                wk_refuse(msg, w->user);
                break;
            }
            break;
        default:
            /* Global requests, including tcpip-forward: refused. */
            wk_refuse(msg, w->user);
            break;
        }
        ssh_message_free(msg);
    }
}

/* Command output (the `targets` list, help): standard output, so it can
 * be piped; newlines fixed up for a pty. */
static void wk_out(struct wk *w, const char *text)
{
    /* Request lists carry reasons from the store: rendered safe first. */
    char *safe = sk_term_safe(text, strlen(text), 0);

    if (safe == NULL) {
        return;
    }
    for (const char *p = safe; *p != '\0';) {
        size_t n = strcspn(p, "\n");

        (void)ssh_channel_write(w->ch, p, (uint32_t)n);
        p += n;
        if (*p == '\n') {
            (void)ssh_channel_write(w->ch, w->have_pty ? "\r\n" : "\n",
                                    w->have_pty ? 2 : 1);
            p++;
        }
    }
    free(safe);
}

static void wk_list_targets(struct wk *w)
{
    struct mm_target t[MENU_MAX];
    int n = mm_target_list(t, MENU_MAX), i;
    char line[64];

    for (i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "%.32s%s\n", t[i].name,
                 t[i].allow_exec ? "\texec" : "");
        wk_out(w, line);
    }
}

/* Reads a line from the client pty with local echo. Returns its length,
 * or -1 if the user quit (^C, ^D) or left. */
static int wk_read_line(struct wk *w, char *out, size_t outlen, int echo)
{
    size_t n = 0;
    char c;

    for (;;) {
        int r = ssh_channel_read_timeout(w->ch, &c, 1, 0,
                                         w->cfg->login_grace_time * 1000 * 5);

        if (r <= 0) {
            return -1;
        }
        if (c == '\r' || c == '\n') {
            (void)ssh_channel_write(w->ch, "\r\n", 2);
            out[n] = '\0';
            return (int)n;
        }
        if (c == 3 || c == 4) {
            (void)ssh_channel_write(w->ch, "\r\n", 2);
            return -1;
        }
        if ((c == 0x7f || c == 8) && n > 0) {
            n--;
            if (echo) {
                (void)ssh_channel_write(w->ch, "\b \b", 3);
            }
        } else if ((unsigned char)c >= 0x20 && c != 0x7f && n + 1 < outlen) {
            out[n++] = c;
            if (echo) {
                (void)ssh_channel_write(w->ch, &c, 1);
            }
        }
    }
}

/* The numbered menu shown for a pty session without a command: a table
 * whose columns line up by display width (Japanese headers take two
 * columns a character). Returns 0 with the chosen target in out, or -1
 * if the user quit. */
static int wk_menu(struct wk *w, char *out, size_t outlen)
{
    struct mm_target t[MENU_MAX];
    char line[64], c1[64], c2[128], num[16];
    const char *h1 = _("No."), *h2 = _("Target"), *h3 = _("Commands");
    int n = mm_target_list(t, MENU_MAX), i;
    size_t w1, w2;

    if (n == 0) {
        wk_say(w, _("Sekisho: no targets are available to %s.\n"), w->user);
        return -1;
    }
    w1 = sk_display_width(h1) > 4 ? sk_display_width(h1) : 4;
    w2 = sk_display_width(h2);
    for (i = 0; i < n; i++) {
        if (sk_display_width(t[i].name) > w2) {
            w2 = sk_display_width(t[i].name);
        }
    }
    for (;;) {
        wk_say(w, _("\nSekisho gateway - targets for %s:\n"), w->user);
        wk_say(w, "  %s  %s  %s\n", sk_pad(c1, sizeof(c1), h1, w1),
               sk_pad(c2, sizeof(c2), h2, w2), h3);
        for (i = 0; i < n; i++) {
            snprintf(num, sizeof(num), "%3d)", i + 1);
            wk_say(w, "  %s  %s  %s\n", sk_pad(c1, sizeof(c1), num, w1),
                   sk_pad(c2, sizeof(c2), t[i].name, w2),
                   t[i].allow_exec ? _("allowed") : "-");
        }
        wk_say(w, _("Choose a target (number or name, q to quit): "));
        if (wk_read_line(w, line, sizeof(line), 1) < 0 ||
            strcmp(line, "q") == 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            snprintf(num, sizeof(num), "%d", i + 1);
            if (strcmp(line, num) == 0 || strcmp(line, t[i].name) == 0) {
                snprintf(out, outlen, "%s", t[i].name);
                return 0;
            }
        }
        wk_say(w, _("No such target.\n"));
    }
}

/* Connects the client session to the target; on failure tells the user
 * and returns -1 (the monitor has already been told why). */
static int wk_upstream(struct wk *w, const char *target, int mode,
                       const char *remote, ssh_session *ups,
                       ssh_channel *uch)
{
    struct mm_open o;
    ssh_session u = NULL;
    ssh_channel c = NULL;
    ssh_key srvkey = NULL;
    char *b64 = NULL, keyline[16384], err[256] = "", ciphers[1024];
    long timeout = w->cfg->connect_timeout;
    int off = 0, rc;

    mm_target_open(target, mode, remote, w->have_pty ? w->term : "",
                   w->have_pty ? w->cols : 0, w->have_pty ? w->rows : 0, &o);
    if (!o.ok) {
        wk_say(w, "sekisho: %s\n", o.message); /* in the user's language */
        return -1;
    }
    /* From here on every byte is recorded; the recorder is running and
     * has signed the transcript header. */
    wk_rec_init(o.rec, o.t0);
    o.rec = -1;
    if (mode == SK_ACCESS_EXEC &&
        wk_rec(SK_TR_EV_EXEC, remote, strlen(remote)) != 0) {
        snprintf(err, sizeof(err), "recording failed");
        goto fail;
    }
    if ((u = ssh_new()) == NULL) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    /* Towards the target the gateway is the client, and the client's
     * order decides: with AES instructions AES-GCM costs both ends less
     * per byte than ChaCha20-Poly1305 (bench/README.md, session 9). The
     * same configured set, another order; towards clients theirs rules. */
    if (strlen(w->cfg->ciphers) >= sizeof(ciphers)) {
        snprintf(err, sizeof(err), "cipher list too long");
        goto fail;
    }
    if (sodium_runtime_has_aesni() && sodium_runtime_has_pclmul()) {
        (void)sk_algos_prefer(w->cfg->ciphers, "-gcm@", ciphers,
                              sizeof(ciphers)); /* fits: checked above */
    } else {
        snprintf(ciphers, sizeof(ciphers), "%s", w->cfg->ciphers);
    }
    /* Configuration files, known_hosts and ~/.ssh are never consulted: the
     * monitor's pinned key is the only trust anchor. */
    if (ssh_options_set(u, SSH_OPTIONS_PROCESS_CONFIG, &off) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_FD, &o.sock) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_HOST, o.host) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_USER, o.login) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_SSH_DIR, "/nonexistent") != 0 ||
        ssh_options_set(u, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") != 0 ||
        ssh_options_set(u, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") != 0 ||
        ssh_options_set(u, SSH_OPTIONS_TIMEOUT, &timeout) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_HOSTKEYS, o.hostkey_algos) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_CIPHERS_C_S, ciphers) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_CIPHERS_S_C, ciphers) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_HMAC_C_S, w->cfg->macs) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_HMAC_S_C, w->cfg->macs) != 0 ||
        ssh_options_set(u, SSH_OPTIONS_KEY_EXCHANGE,
                        w->cfg->kex_algorithms) != 0) {
        snprintf(err, sizeof(err), "client options: %s", ssh_get_error(u));
        goto fail;
    }
    o.sock = -1; /* owned by the session now */
    if (ssh_connect(u) != SSH_OK) {
        snprintf(err, sizeof(err), "SSH handshake: %s", ssh_get_error(u));
        goto fail;
    }
    if (ssh_get_server_publickey(u, &srvkey) != SSH_OK ||
        ssh_pki_export_pubkey_base64(srvkey, &b64) != SSH_OK) {
        snprintf(err, sizeof(err), "no host key from target");
        goto fail;
    }
    snprintf(keyline, sizeof(keyline), "%s %s",
             ssh_key_type_to_char(ssh_key_type(srvkey)), b64);
    if (!mm_hostkey_check(keyline)) {
        wk_say(w, _("sekisho: HOST KEY MISMATCH for %s - the target's key is "
                    "not the pinned one. Connection refused; tell your "
                    "administrator.\n"), target);
        snprintf(err, sizeof(err), "host key mismatch");
        goto fail_quiet;
    }
    if (ssh_set_agent_socket(u, o.agent) != SSH_OK) {
        snprintf(err, sizeof(err), "agent socket: %s", ssh_get_error(u));
        goto fail;
    }
    o.agent = -1;
    rc = ssh_userauth_agent(u, NULL);
    if (rc != SSH_AUTH_SUCCESS) {
        snprintf(err, sizeof(err), "target refused the gateway's key");
        goto fail;
    }
    if ((c = ssh_channel_new(u)) == NULL ||
        ssh_channel_open_session(c) != SSH_OK) {
        snprintf(err, sizeof(err), "open channel: %s", ssh_get_error(u));
        goto fail;
    }
    if (w->have_pty &&
        ssh_channel_request_pty_size(c, w->term, w->cols, w->rows) !=
            SSH_OK) {
        snprintf(err, sizeof(err), "pty request: %s", ssh_get_error(u));
        goto fail;
    }
    if (w->lang[0] != '\0') {
        /* Recorded before it is sent, as every input is: the target's
         * programs act on it. */
        json_t *jo = json_pack("{s:s, s:s, s:s}", "kind", "env", "name",
                               "LANG", "value", w->lang);
        char *j = jo != NULL ? json_dumps(jo, JSON_COMPACT) : NULL;

        rc = j != NULL ? wk_rec(SK_TR_EV_MARKER, j, strlen(j)) : -1;
        free(j);
        json_decref(jo);
        if (rc != 0) {
            snprintf(err, sizeof(err), "recording failed");
            goto fail;
        }
        (void)ssh_channel_request_env(c, "LANG", w->lang); /* optional */
    }
    rc = mode == SK_ACCESS_EXEC ? ssh_channel_request_exec(c, remote)
                                : ssh_channel_request_shell(c);
    if (rc != SSH_OK) {
        snprintf(err, sizeof(err), "start %s: %s",
                 mode == SK_ACCESS_EXEC ? "command" : "shell",
                 ssh_get_error(u));
        goto fail;
    }
    ssh_string_free_char(b64);
    ssh_key_free(srvkey);
    mm_upstream_ready(1, "");
    *ups = u;
    *uch = c;
    return 0;
fail:
    wk_say(w, _("sekisho: cannot open a session on %s.\n"), target);
fail_quiet:
    logit("upstream %s: %s", target, err);
    mm_upstream_ready(0, err);
    wk_rec_end(err);
    mm_session_end(0, 0, SK_NO_EXIT_STATUS, err);
    if (c != NULL) {
        ssh_channel_free(c);
    }
    if (u != NULL) {
        ssh_disconnect(u);
        ssh_free(u);
    }
    ssh_string_free_char(b64);
    ssh_key_free(srvkey);
    if (o.sock >= 0) {
        close(o.sock);
    }
    if (o.agent >= 0) {
        close(o.agent);
    }
    return -1;
}

static void wk_passwd(struct wk *w) __attribute__((noreturn));

/* The `passwd` command: change the gateway password in the terminal. */
static void wk_passwd(struct wk *w)
{
    char cur[SK_CMD_MAX], npw[SK_CMD_MAX], again[SK_CMD_MAX], reason[256];
    int tries, res = MON_AUTH_FAIL;

    if (!w->have_pty) {
        wk_say(w,
               _("sekisho: passwd needs a terminal: use ssh -t GW passwd\n"));
        wk_finish(w, 2, SK_EXIT_OK);
    }
    wk_say(w, _("Changing the gateway password of %s.\n"), w->user);
    for (tries = 0; tries < 3 && res != MON_AUTH_FAIL_DISCONNECT; tries++) {
        wk_say(w, _("Current password: "));
        if (wk_read_line(w, cur, sizeof(cur), 0) < 0) {
            break;
        }
        wk_say(w, _("New password: "));
        if (wk_read_line(w, npw, sizeof(npw), 0) < 0) {
            break;
        }
        wk_say(w, _("Retype new password: "));
        if (wk_read_line(w, again, sizeof(again), 0) < 0) {
            break;
        }
        res = mm_passwd(cur, npw, again, reason, sizeof(reason));
        explicit_bzero(cur, sizeof(cur));
        explicit_bzero(npw, sizeof(npw));
        explicit_bzero(again, sizeof(again));
        if (res == MON_AUTH_OK) {
            wk_say(w, _("Password changed.\n"));
            wk_finish(w, 0, SK_EXIT_OK);
        }
        wk_say(w, _("Password not changed: %s.\n"), sk_tr(reason));
    }
    explicit_bzero(cur, sizeof(cur));
    explicit_bzero(npw, sizeof(npw));
    explicit_bzero(again, sizeof(again));
    wk_finish(w, 1, SK_EXIT_OK);
}

/* A command's outcome: on stdout if done (scripts read the request id
 * there), on stderr with exit status 1 if refused. */
static void wk_result(struct wk *w, int ok, const char *msg)
    __attribute__((noreturn));

static void wk_result(struct wk *w, int ok, const char *msg)
{
    if (ok) {
        wk_out(w, msg);
        wk_out(w, "\n");
    } else {
        wk_say(w, "sekisho: %s\n", msg);
    }
    wk_finish(w, ok ? 0 : 1, SK_EXIT_OK);
}

static void wk_gwcmd(struct wk *w, const struct sk_cmd *cmd)
    __attribute__((noreturn));

/* A gateway command: the monitor decides and starts it; we relay. Its
 * exit status is the channel's. */
static void wk_gwcmd(struct wk *w, const struct sk_cmd *cmd)
{
    char msg[300], reason[64];
    int fds[2] = {-1, -1}, nfds = 0, gone, st;

    if (!mm_gwcmd(cmd, w->have_pty, w->have_pty ? w->term : "", w->cols,
                  w->rows, fds, &nfds, msg, sizeof(msg))) {
        wk_say(w, "sekisho: %s\n", msg);
        wk_finish(w, 1, SK_EXIT_OK);
    }
    gone = relay_cmd(w->s, w->ch, w->user, fds, nfds,
                     w->have_pty ? w->cfg->idle_timeout : 0, reason,
                     sizeof(reason));
    for (int k = 0; k < nfds; k++) {
        close(fds[k]);
    }
    st = mm_gwcmd_end(gone);
    debug_f("gateway command of %s: %s, status %d", w->user, reason, st);
    if (gone && mm_terminated() != NULL) {
        st = 255;
    }
    wk_finish(w, st, SK_EXIT_OK);
}

/* In the catalogue as one text: the columns are the translator's. */
static const char *help_text = N_(
    "Sekisho gateway commands:\n"
    "  ssh -t GW TARGET            interactive shell on TARGET\n"
    "  ssh GW TARGET -- COMMAND    run COMMAND on TARGET (if permitted)\n"
    "  ssh GW targets              list the targets you may reach\n"
    "  ssh -t GW passwd            change your gateway password\n"
    "  ssh -t GW                   menu of your targets\n"
    "  ssh GW request TARGET --reason TEXT [--start TIME] [--for DURATION]\n"
    "                              [--ticket ID]   ask for access\n"
    "  ssh GW requests             your requests (approvers: also theirs)\n"
    "  ssh GW report ID TEXT       report the work done under request ID\n"
    "  ssh GW approve ID | deny ID [TEXT] | signoff ID [TEXT]  (approvers)\n"
    "  ssh [-t] GW sessions | session show ID | verify ID|--all | replay ID\n"
    "      | watch ID | search ... | audit show | export ID --format F\n"
    "                              (auditors; as sekishoctl)\n"
    "  ssh [-t] GW user ... | target ... | grant ... | group ...\n"
    "      | request list|show|approve|deny|signoff ... | report ...\n"
    "                              (admins; as sekishoctl)\n");

/*
 * sekishod has already sent our identification line; libssh 0.10 always
 * queues its own at the start of ssh_handle_key_exchange and has no
 * option to skip it. So the session starts on a socketpair: one
 * non-blocking step of the key exchange flushes libssh's line into the
 * pair (it is written on the first POLLOUT), we check it is byte for byte
 * the line the client already has (it enters the exchange hash), and then
 * the client's socket is dup2'd over the pair's descriptor, so libssh
 * reads the client's identification line, which sekishod left unread,
 * from the same descriptor number. Anything unexpected is fatal: a
 * second line on the wire would break the session anyway.
 */
static void wk_swallow_banner(ssh_bind b, ssh_session s, int sock)
{
    static const char want[] = SK_SSH_IDENT;
    char got[sizeof(want) + 8];
    size_t have = 0;
    ssize_t n;
    int sp[2], r;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        fatal_f("socketpair: %s", strerror(errno));
    }
    if (ssh_bind_accept_fd(b, s, sp[0]) != SSH_OK) {
        fatal_f("accept: %s", ssh_get_error(b));
    }
    ssh_set_blocking(s, 0);
    r = ssh_handle_key_exchange(s);
    if (r != SSH_AGAIN && r != SSH_OK) {
        fatal_f("key exchange start: %s", ssh_get_error(s));
    }
    while (have < sizeof(got)) {
        n = recv(sp[1], got + have, sizeof(got) - have, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        have += (size_t)n;
    }
    if (have != sizeof(want) - 1 || memcmp(got, want, have) != 0) {
        fatal_f("libssh did not produce the identification line sekishod "
                "sent (%zu bytes)", have);
    }
    if (dup2(sock, sp[0]) < 0) {
        fatal_f("dup2: %s", strerror(errno));
    }
    close(sock);
    close(sp[1]);
    /* libssh marks a socket writable only once poll says so, and handles
     * input before output in one wake-up. The client's identification
     * line and its KEXINIT usually arrive together now, so without this
     * our KEXINIT (queued on the line) would wait behind the client's,
     * and a client offering nothing we accept would see the connection
     * close instead of "no matching ..." naming what we offer. */
    ssh_set_fd_towrite(s);
    ssh_set_blocking(s, 1);
}

void worker_main(const struct sk_config *cfg, int sock, int ipc,
                 int banner_sent)
{
    struct wk w;
    ssh_bind b;
    struct sk_cmd cmd;
    char err[256], chosen[SK_NAME_MAX + 1];
    ssh_session ups = NULL;
    ssh_channel uch = NULL;
    struct relay_result res;
    int off = 0, rsa_min = 2048, mode, r;
    ssh_key hostkey = NULL;
    uint8_t *hkblob;
    size_t hklen;

    (void)ipc;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    /* Only the public half of the host key ever reaches this process; the
     * decoy carries it to libssh and the monitor signs (hostkey.h). */
    hkblob = mm_hostkey_pub(&hklen);
    if ((r = sk_hostkey_decoy(hkblob, hklen, &hostkey)) != 0) {
        fatal_fr(r, "host key from the monitor");
    }
    free(hkblob);
    wk_hostsign_arm();
    if ((b = ssh_bind_new()) == NULL || (w.s = ssh_new()) == NULL) {
        fatal_f("libssh allocation failed");
    }
    if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &off) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, hostkey) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_C_S, cfg->ciphers) !=
            0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_S_C, cfg->ciphers) !=
            0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_C_S, cfg->macs) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_S_C, cfg->macs) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_KEY_EXCHANGE,
                             cfg->kex_algorithms) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
                             cfg->host_key_algorithms) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES,
                             SK_USER_KEY_ALGOS) != 0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_RSA_MIN_SIZE, &rsa_min) !=
            0 ||
        ssh_bind_options_set(b, SSH_BIND_OPTIONS_BANNER, SK_SSH_BANNER) !=
            0) {
        fatal_f("server options: %s", ssh_get_error(b));
    }
    /* The bind owns hostkey now (libssh frees it with the bind). */
    {
        /* libssh has no default timeout: bound every blocking step of the
         * client leg (key exchange, waiting for the channel) ourselves.
         * Longer than the login grace time, which the monitor enforces
         * (and audits) first. */
        long t = cfg->login_grace_time + 30;

        if (ssh_options_set(w.s, SSH_OPTIONS_TIMEOUT, &t) != 0) {
            fatal_f("timeout option: %s", ssh_get_error(w.s));
        }
    }
    if (banner_sent) {
        wk_swallow_banner(b, w.s, sock);
    } else if (ssh_bind_accept_fd(b, w.s, sock) != SSH_OK) {
        fatal_f("accept: %s", ssh_get_error(b));
    }
    /* From here on the process parses hostile input: sandbox first. */
    if (sandbox_apply(cfg->sandbox_debug) != 0) {
        fatal_f("sandbox could not be applied; refusing to continue");
    }
    if (ssh_handle_key_exchange(w.s) != SSH_OK) {
        verbose_f("key exchange failed: %s", ssh_get_error(w.s));
        wk_exit(&w, SK_EXIT_AUTH_FAILED);
    }
    if (wk_auth(&w) != 0) {
        wk_exit(&w, SK_EXIT_AUTH_FAILED);
    }
    if (wk_channel_setup(&w) != 0) {
        wk_exit(&w, SK_EXIT_OK);
    }
    /* Now the user is known and their LANG has come (clients send it
     * only after authentication): everything from here speaks it. */
    (void)mm_lang(w.lang);
    {
        /* The parser's message in English for the log and the audit
         * line; a refusal is then said again in the session's. */
        const char *lang = sk_i18n_english();

        r = sk_cmd_parse(w.command ? w.command : "",
                         w.command ? strlen(w.command) : 0, &cmd, err,
                         sizeof(err));
        (void)sk_i18n_use(lang);
    }
    if (r != 0) {
        char shown[sizeof(err)];

        (void)sk_cmd_parse(w.command ? w.command : "",
                           w.command ? strlen(w.command) : 0, &cmd, shown,
                           sizeof(shown));
        wk_say(&w, "sekisho: %s\n", shown);
        logit("%s sent a bad command: %s", w.user, err);
        /* scp -O and friends arrive here as remote commands. */
        mm_refused("command", err);
        wk_finish(&w, 2, SK_EXIT_OK);
    }
    switch (cmd.kind) {
    case SK_CMD_HELP:
        wk_out(&w, _(help_text));
        wk_finish(&w, 0, SK_EXIT_OK);
    case SK_CMD_TARGETS:
        wk_list_targets(&w);
        wk_finish(&w, 0, SK_EXIT_OK);
    case SK_CMD_PASSWD:
        wk_passwd(&w);
    case SK_CMD_REQUEST: {
        char msg[300];
        int ok = mm_work_request(&cmd, msg, sizeof(msg));

        wk_result(&w, ok, msg);
    }
    case SK_CMD_REQUESTS: {
        char *text = mm_work_requests();

        wk_out(&w, text);
        free(text);
        wk_finish(&w, 0, SK_EXIT_OK);
    }
    case SK_CMD_REPORT:
    case SK_CMD_APPROVE:
    case SK_CMD_DENY:
    case SK_CMD_SIGNOFF: {
        char msg[300];
        int act = cmd.kind == SK_CMD_REPORT    ? SK_REQ_REPORT
                  : cmd.kind == SK_CMD_APPROVE ? SK_REQ_APPROVE
                  : cmd.kind == SK_CMD_DENY    ? SK_REQ_DENY
                                               : SK_REQ_SIGNOFF;
        int ok = mm_work_request_act(act, cmd.id, cmd.text, msg,
                                     sizeof(msg));

        wk_result(&w, ok, msg);
    }
    case SK_CMD_GATEWAY:
        wk_gwcmd(&w, &cmd);
    case SK_CMD_MENU:
        if (!w.have_pty) {
            wk_say(&w, _("sekisho: no target given.\n%s"), _(help_text));
            wk_finish(&w, 2, SK_EXIT_OK);
        }
        if (wk_menu(&w, chosen, sizeof(chosen)) != 0) {
            wk_finish(&w, 0, SK_EXIT_OK);
        }
        mode = SK_ACCESS_SHELL;
        break;
    case SK_CMD_SHELL:
        if (!w.have_pty) {
            wk_say(&w, _("sekisho: an interactive session needs a terminal: "
                         "use ssh -t\n"));
            wk_finish(&w, 2, SK_EXIT_OK);
        }
        snprintf(chosen, sizeof(chosen), "%s", cmd.target);
        mode = SK_ACCESS_SHELL;
        break;
    case SK_CMD_EXEC:
    default:
        snprintf(chosen, sizeof(chosen), "%s", cmd.target);
        mode = SK_ACCESS_EXEC;
        break;
    }
    if (wk_upstream(&w, chosen, mode, mode == SK_ACCESS_EXEC ? cmd.remote : "",
                    &ups, &uch) != 0) {
        wk_finish(&w, 255, SK_EXIT_OK);
    }
    /* The idle limit is for someone at a terminal; a command without one
     * (a long backup, say) runs as long as it runs. */
    relay_run(w.s, w.ch, ups, uch, w.user, w.have_pty ? cfg->idle_timeout : 0,
              w.have_pty, &res);
    /* The recorder seals once its socket closes; the monitor waits for
     * the seal before it records the end. */
    wk_rec_end(res.reason);
    mm_session_end(res.bytes_in, res.bytes_out, res.exit_status, res.reason);
    wk_readahead_remove(ssh_get_fd(ups));
    ssh_disconnect(ups);
    wk_exit(&w, SK_EXIT_OK);
}
