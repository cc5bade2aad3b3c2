/*
 * The monitor/worker protocol. The worker (network-facing, sandboxed)
 * asks; the monitor (privileged: config, state, keys) answers. Every
 * request type has one row in the monitor's dispatch table (monitor.c)
 * saying in which state it is permitted; anything else is fatal. Worker
 * wrappers (mm_*, monitor-wrap.c) and monitor handlers (mon_answer_*) come in
 * named pairs, so `grep mon_answer_` lists every privileged operation.
 *
 * Messages are sk_ipc frames; the reply to type T has type T|MON_REPLY.
 * Payload layouts (sk_buf wire types):
 *
 *   MON_LOG            u32 level, string line                  (no reply)
 *   MON_AUTH_PASSWORD  string user, string password, string TOTP code
 *                 ->   u32 result (MON_AUTH_*), u32 next (MON_M_*)  (the
 *                      bare password method: PAM answered from these)
 *   MON_PAM_START      string user  (keyboard-interactive)
 *                      ... MON_PAM_PROMPTS / MON_PAM_RESPONSES rounds ...
 *                 ->   u32 result (MON_AUTH_*), u32 next (MON_M_*)
 *   MON_AUTH_METHODS   string user  (the "none" request: which methods
 *                      may this user use at all?) -> u32 next (MON_M_*)
 *   MON_AUTH_PUBKEY    string user, string key ("TYPE BASE64"), u32 phase
 *                      (MON_PK_*: a probe, or a request whose signature
 *                      libssh found valid / invalid); for MON_PK_SIGNED
 *                      then string session id (exchange hash H), string
 *                      kex algorithm, string signature algorithm, string
 *                      signature (as libssh gave it to libcrypto), u32
 *                      FIDO flags, u32 FIDO counter: the monitor
 *                      verifies it itself (auth/pubkey.h)
 *                 ->   u32 result (MON_AUTH_*), u32 next (MON_M_*)
 *   MON_TARGET_LIST    (empty)
 *                 ->   u32 n, n x (string name, u32 allow_exec)
 *   MON_TARGET_OPEN    string target, u32 mode (SK_ACCESS_*), string command
 *                 ->   u32 ok, string message-for-user, string session id,
 *                      string host, string login, string hostkey-algos;
 *                      fds: [target socket, agent socket] when ok
 *   MON_HOSTKEY_CHECK  string "TYPE BASE64" key the target presented
 *                 ->   u32 ok
 *   MON_UPSTREAM_READY u32 ok, string error  (target auth + channel result)
 *                 ->   u32 ack
 *   MON_REFUSED        string kind, string detail              (no reply)
 *   MON_HOSTKEY_PUB    (empty) -> string the host key's public blob
 *   MON_HOSTKEY_SIGN   u32 digest NID (0: none), string data (what libssh
 *                      signs: an exchange hash) -> u32 1, string the raw
 *                      signature; a refusal ends the connection
 *   MON_PASSWD         string current, string new, string retype (the
 *                      `passwd` command) -> u32 result, string reason
 *   MON_REQUEST        string target, string reason, string start,
 *                      string duration, string ticket (`request` command)
 *                 ->   u32 ok, string message for the user
 *   MON_REQUESTS       (empty)  -> string text (the user's requests; for
 *                      approvers also those awaiting them)
 *   MON_REQUEST_ACT    u32 action (SK_REQ_*), u64 id, string text
 *                 ->   u32 ok, string message for the user
 *   MON_LANG           string LANG the client sent ("" if none)
 *                 ->   string language (sk_lang_valid) the session speaks
 *                      from now on: the client's LANG, else the user's
 *                      own (sekishoctl user lang), else the gateway's
 *   MON_GWCMD          u32 argc, argc x string (sekishoctl argv from
 *                      the subcommand on, policy/command.h), u32 pty,
 *                      string term, u32 cols, u32 rows
 *                 ->   u32 ok, string message-for-user; fds when ok:
 *                      [pty master] with a pty, else [stdin+stdout
 *                      socket, stderr socket] (gwcmd.h)
 *   MON_GWCMD_END      u32 client_gone (1: kill it) -> u32 exit status
 *   MON_GWCMD_RESIZE   u32 cols, u32 rows (the client's window changed;
 *                      no reply)
 *   MON_SESSION_END    u64 bytes_in, u64 bytes_out, u32 exit_status
 *                      (0xffffffff: none), string reason
 *                 ->   u32 ack
 */
#ifndef SK_MONITOR_H
#define SK_MONITOR_H

#include "exitcodes.h"

#define MON_REPLY 0x100
/* The one message the monitor sends unasked: end the session now.
 * Payload: string reason (shown to the user). */
#define MON_TERMINATE 0x200
/* Unasked too: a notice for the user (string text), e.g. that their
 * access window is about to close. The session goes on. */
#define MON_NOTICE 0x201

enum mon_type {
    MON_LOG = 1,
    MON_AUTH_PASSWORD = 2,
    MON_TARGET_LIST = 3,
    MON_TARGET_OPEN = 4,
    MON_HOSTKEY_CHECK = 5,
    MON_UPSTREAM_READY = 6,
    MON_SESSION_END = 7,
    MON_REFUSED = 8,
    /* 9: was MON_PASSWORD_CHANGE (expired passwords now change in PAM) */
    MON_PASSWD = 10,
    MON_REQUEST = 11,
    MON_REQUESTS = 12,
    MON_REQUEST_ACT = 13,
    MON_PAM_START = 14,
    MON_PAM_RESPONSES = 15,
    MON_AUTH_PUBKEY = 16,
    MON_AUTH_METHODS = 17,
    MON_HOSTKEY_PUB = 18,
    MON_HOSTKEY_SIGN = 19,
    MON_LANG = 20,
    MON_GWCMD = 21,
    MON_GWCMD_END = 22,
    MON_GWCMD_RESIZE = 23,
};

enum mon_pk_phase {
    MON_PK_PROBE = 0,    /* "would this key do?" (no signature) */
    MON_PK_SIGNED = 1,   /* libssh found it valid; the monitor checks */
    MON_PK_BAD_SIG = 2,  /* signature present but wrong */
};

/* The SSH methods that can still bring the user closer to their method
 * rule (methods.h), for the worker's USERAUTH_FAILURE method list. */
enum mon_next {
    MON_M_PUBLICKEY = 1,
    MON_M_KBDINT = 2,
    MON_M_PASSWORD = 4, /* the bare method: only when a password alone
                           completes some alternative */
};

/* Sent by the monitor during MON_PAM_START, before its reply: PAM wants
 * to ask. Payload u32 n, n x (u32 style (PAM_PROMPT_ECHO_OFF/ON,
 * PAM_ERROR_MSG, PAM_TEXT_INFO), string text). The worker answers with
 * MON_PAM_RESPONSES: u32 n, n x string (empty for messages). */
#define MON_PAM_PROMPTS 0x202

enum mon_auth_result {
    MON_AUTH_FAIL = 0,
    MON_AUTH_OK = 1,
    MON_AUTH_FAIL_DISCONNECT = 2, /* too many attempts */
    MON_AUTH_CHANGE_REQUIRED = 3, /* right credentials, password expired */
    MON_AUTH_PARTIAL = 4, /* factor accepted; the rule wants more */
    MON_AUTH_KEY_OK = 5,  /* probe: the key would be accepted */
};

/* The software version of our SSH identification line ("SSH-2.0-" this).
 * sekishod sends the line itself the moment it accepts a connection (no
 * process exists for a connection until the client has answered with
 * its own), and the worker makes libssh produce the same line, which the
 * exchange hash covers. No version number: nothing for a scanner. */
#define SK_SSH_BANNER "Sekisho"
#define SK_SSH_IDENT "SSH-2.0-" SK_SSH_BANNER "\r\n"


#define SK_NO_EXIT_STATUS 0xffffffffU

#endif
