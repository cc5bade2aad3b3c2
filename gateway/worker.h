/* The worker process: libssh server for the client and libssh client for
 * the target, under seccomp. See monitor.h for how it talks to the
 * monitor. */
#ifndef SK_WORKER_H
#define SK_WORKER_H

#include "buf.h"
#include "config.h"

#include <libssh/libssh.h>
#include <stdint.h>

/* Runs the worker on the connected client socket sock, talking to the
 * monitor over ipc. Never returns. The host key stays with the monitor
 * (hostkey.h): the worker asks it for the public half and for each
 * signature. banner_sent: sekishod has
 * already sent SK_SSH_BANNER's identification line on sock (and left the
 * client's unread), so libssh's own must not reach the client. */
void worker_main(const struct sk_config *cfg, int sock, int ipc,
                 int banner_sent) __attribute__((noreturn));

/* Worker-side wrappers of the monitor protocol (monitor-wrap.c). They block
 * for the monitor's answer; a broken channel to the monitor is fatal. */
void mm_init(int ipc);
/* Authentication steps: each returns a MON_AUTH_* result and sets *next
 * to the MON_M_* methods that can still help. */
int mm_auth_password(const char *user, const char *password,
                     const char *code, uint32_t *next);
/* The MON_M_* methods user's rule can use (the "none" request). */
uint32_t mm_auth_methods(const char *user);
/* What the worker saw of a signed publickey request (wk-sigcap.c): the
 * monitor checks it itself. Pointers are into the capture, valid until the
 * next wk_sigcap_arm. */
struct wk_sigproof {
    const unsigned char *sid; /* session identifier (exchange hash H) */
    size_t sidlen;
    char alg[64]; /* signature algorithm of the request */
    const unsigned char *sig; /* as libssh handed it to libcrypto */
    size_t siglen;
    uint8_t sk_flags; /* FIDO keys */
    uint32_t sk_counter;
};
/* Starts (on = 1: forgets what was seen) or stops watching libssh's
 * signature checks; armed only while waiting for an auth request. */
void wk_sigcap_arm(int on);
/* From now on, EVP_DigestSign asks the monitor (wk-sigcap.c). */
void wk_hostsign_arm(void);
/* The last signed request libssh checked. Returns 0, or -1 if none was
 * seen in a form the monitor could check. */
int wk_sigcap_get(struct wk_sigproof *out);
/* key: "TYPE BASE64" of the offered key; phase: MON_PK_*; for
 * MON_PK_SIGNED, kex (the key exchange algorithm) and the proof, which
 * may be NULL when nothing was captured (the monitor then refuses). */
int mm_auth_pubkey(const char *user, const char *key, uint32_t phase,
                   const char *kex, const struct wk_sigproof *proof,
                   uint32_t *next);
/* The `passwd` command: returns a MON_AUTH_* result and a reason. */
int mm_passwd(const char *cur, const char *npw, const char *again,
              char *reason, size_t reasonlen);
struct mm_target {
    char name[33];
    int allow_exec;
};
/* Fills up to max entries; returns the count. */
int mm_target_list(struct mm_target *out, int max);
struct mm_open {
    int ok;
    char message[256];
    char session_id[64];
    char host[256];
    char login[64];
    char hostkey_algos[128];
    int sock;
    int agent;
    int rec;     /* event socket to the recorder */
    uint64_t t0; /* session time origin (CLOCK_MONOTONIC µs) */
};
/* term/cols/rows describe the client's pty (term "" without one). */
void mm_target_open(const char *target, int mode, const char *command,
                    const char *term, int cols, int rows,
                    struct mm_open *out);
int mm_hostkey_check(const char *key_line);
/* The gateway's host key: its public blob (malloc'd, *len bytes), and a
 * signature of data made by the monitor with digest md_nid (libcrypto's
 * raw form, at most *siglen bytes; *siglen set). mm_hostkey_sign returns
 * 0, or -1 if the monitor refused (it then ends the connection). */
uint8_t *mm_hostkey_pub(size_t *len);
int mm_hostkey_sign(int md_nid, const uint8_t *data, size_t len,
                    uint8_t *sig, size_t *siglen);
void mm_upstream_ready(int ok, const char *error);
void mm_session_end(uint64_t in, uint64_t out, uint32_t exit_status,
                    const char *reason);

/* After authentication: the language of the rest of the session for
 * the client's LANG value (NULL or "" if it sent none), as the monitor
 * chose it (monitor.h MON_LANG); also switches the worker's messages
 * (sk_i18n_use). Returns the language. */
const char *mm_lang(const char *client_lang);

/* Work requests (the request/requests/report/approve/deny/signoff
 * commands): the monitor applies the rules; msg is for the user. Return
 * 1 if done. */
struct sk_cmd;
int mm_work_request(const struct sk_cmd *c, char *msg, size_t msglen);
/* The user's requests as text (malloc'd). */
char *mm_work_requests(void);
int mm_work_request_act(int action, long long id, const char *text,
                        char *msg, size_t msglen);

/* Gateway commands (policy/command.h SK_CMD_GATEWAY): the monitor checks
 * the role and starts sekishoctl for the user (gwcmd.h). Returns 1 with
 * its stdio in fds (pty: [master], *nfds 1; else [stdin+stdout, stderr],
 * *nfds 2), or 0 with the refusal for the user in msg. */
int mm_gwcmd(const struct sk_cmd *c, int pty, const char *term, int cols,
             int rows, int fds[2], int *nfds, char *msg, size_t msglen);
/* The client's window changed (no answer). */
void mm_gwcmd_resize(int cols, int rows);
/* The relay ended (client_gone: the monitor kills the command). Returns
 * the command's exit status (0-255). */
int mm_gwcmd_end(int client_gone);
/* Writes all n bytes (within ch's window) to the client or target,
 * waiting out a key re-exchange, during which libssh 0.10 writes nothing
 * and says so only by a short count (relay.c). Blocks at most about three
 * session timeouts. Returns 0, or -1 if the channel failed or the
 * exchange did not end. */
int wk_chan_write_all(ssh_channel ch, const char *p, uint32_t n,
                      int is_stderr);
/* Read-ahead under libssh for socket fd (wk-readahead.c): from now on
 * libssh's 4 KiB reads of it are served from one large read, and poll()
 * reports it readable while bytes wait. At most two sockets. Returns 0,
 * or -1 (no
 * memory, no slot, libc's functions not found): the socket then works as
 * before, only slower. */
int wk_readahead_add(int fd);
/* Ends the read-ahead of fd before it is closed (its number may be given
 * to another descriptor): bytes still buffered are dropped. close() of a
 * registered socket does this itself (libssh closes its sockets on its
 * own when the peer goes). */
void wk_readahead_remove(int fd);
/* Bytes read ahead for fd and not yet handed to libssh. */
size_t wk_readahead_pending(int fd);
/* Relays the client channel to a gateway command's stdio (wk-gwcmd.c):
 * client data to fds[0]; fds[0] (and fds[1] as stderr) to the client,
 * no more than the client's window allows (the command waits, nothing
 * is dropped); MON_TERMINATE ends it; idle_timeout (seconds, 0: none)
 * as for sessions. Nothing is recorded. Returns 1 if the client is gone
 * (or the command was ended: kill it), 0 once the command closed its
 * output; reason says which. */
int relay_cmd(ssh_session client, ssh_channel cch, const char *user,
              const int fds[2], int nfds, int idle_timeout, char *reason,
              size_t reasonlen);

/* Relay (relay.c). */
struct relay_result {
    uint64_t bytes_in;  /* client -> target */
    uint64_t bytes_out; /* target -> client */
    uint32_t exit_status; /* SK_NO_EXIT_STATUS if none */
    char reason[128];
};
/* terminal: the client has a pty. In-band transfers are filtered either
 * way (policy/inband.h); the flag is kept for the caller's clarity. */
void relay_run(ssh_session client, ssh_channel cch, ssh_session upstream,
               ssh_channel uch, const char *user, int idle_timeout,
               int terminal, struct relay_result *res);

/* Refuses msg (reply_default), logs it and reports it to the monitor for
 * the audit log (refuse.c). */
void wk_refuse(ssh_message msg, const char *user);
/* MON_TERMINATE handling: mm_take_terminate records the reason from a
 * received message; mm_terminated returns it (NULL if none). mm_fd_get is
 * the monitor socket, polled by the relay. */
void mm_take_terminate(struct sk_buf *b);
const char *mm_terminated(void);
int mm_fd_get(void);
/* Reports a refused request (no answer expected). */
void mm_refused(const char *kind, const char *detail);

/* Drops to worker_user inside state_dir/empty when running as root
 * (monitor.c); fatal if that fails. */
void sk_drop_privileges(const struct sk_config *cfg);

/* Recording (wk-record.c): events to the recorder, through the shared
 * ring (recorder/proc/rec-ring.h); fd is the event socket (bells, and the
 * recorder's end). wk_rec returns once the event is in the ring, waiting
 * while the ring is full (at most 30 s: then the recorder is stuck); it
 * returns -1 once the recorder is gone (then the session must end). Data
 * longer than a frame allows is split. */
void wk_rec_init(int fd, uint64_t t0);
int wk_rec(int type, const void *data, size_t len);
int wk_rec_fd(void);
/* The event socket was readable: reads the recorder's bells. Returns 0,
 * or -1 if the recorder is gone. */
int wk_rec_check(void);
/* Sends the end event; no event follows. The socket stays open: */
void wk_rec_end(const char *reason);
/* closes it (the recorder then seals). mm_session_end calls it once its
 * request is sent, so the seal always follows MON_SESSION_END. */
void wk_rec_close(void);

/* Sandbox (sandbox-seccomp.c): no-new-privs + seccomp allowlist. debug:
 * log violations instead of killing. Returns 0 or -1. */
int sandbox_apply(int debug);
/* The recorder's narrower filter (read, write, fdatasync, poll, memory). */
int sandbox_apply_recorder(int debug);

#endif
