/* Worker-side wrappers of the monitor protocol: each mm_X pairs with
 * mon_answer_X in monitor.c. */
#include "buf.h"
#include "i18n.h"
#include "ipc.h"
#include "log.h"
#include "monitor.h"
#include "sk-err.h"
#include "worker.h"
#include "policy/command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mm_fd = -1;
static char mm_terminate_reason[256];

static void mm_log_sink(int level, const char *line, void *arg)
{
    struct sk_buf b;

    (void)arg;
    sk_buf_init(&b);
    if (sk_buf_put_u32(&b, (uint32_t)level) == 0 &&
        sk_buf_put_cstring(&b, line) == 0) {
        (void)sk_ipc_send(mm_fd, MON_LOG, &b, NULL, 0);
    }
    sk_buf_free(&b);
}

void mm_take_terminate(struct sk_buf *b)
{
    char *s = NULL;

    if (sk_buf_get_cstring(b, &s, sizeof(mm_terminate_reason) - 1) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "bad terminate message");
    }
    snprintf(mm_terminate_reason, sizeof(mm_terminate_reason), "%s", s);
    free(s);
}

const char *mm_terminated(void)
{
    return mm_terminate_reason[0] ? mm_terminate_reason : NULL;
}

int mm_fd_get(void)
{
    return mm_fd;
}

void mm_init(int ipc)
{
    mm_fd = ipc;
    sk_log_set_sink(mm_log_sink, NULL);
}

/* Sends req and waits for the matching reply; anything else is fatal. */
static void mm_send(uint32_t type, struct sk_buf *req)
{
    int r;

    if ((r = sk_ipc_send(mm_fd, type, req, NULL, 0)) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "send to monitor: %s",
                 sk_err_str(r));
    }
}

/* Waits for the reply to a request sent with mm_send. */
static void mm_await(uint32_t type, struct sk_buf *rep, int *fds, int *nfds)
{
    uint32_t rtype;
    int r;

    for (;;) {
        if ((r = sk_ipc_recv(mm_fd, &rtype, rep, fds, nfds)) != 0) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor: %s",
                     sk_err_str(r));
        }
        if (rtype == MON_NOTICE) {
            continue; /* not relaying yet: nobody to show it to */
        }
        if (rtype != MON_TERMINATE) {
            break;
        }
        /* Crossed with our request: remember it, wait for the reply. */
        mm_take_terminate(rep);
    }
    if (rtype != (type | MON_REPLY)) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor sent %u for %u", rtype,
                 type);
    }
}

static void mm_request(uint32_t type, struct sk_buf *req, struct sk_buf *rep,
                       int *fds, int *nfds)
{
    mm_send(type, req);
    mm_await(type, rep, fds, nfds);
}

static uint32_t mm_get_u32(struct sk_buf *b)
{
    uint32_t v;

    if (sk_buf_get_u32(b, &v) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "short reply from monitor");
    }
    return v;
}

static void mm_get_str(struct sk_buf *b, char *out, size_t outlen)
{
    char *s = NULL;

    if (sk_buf_get_cstring(b, &s, outlen - 1) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "bad string from monitor");
    }
    memcpy(out, s, strlen(s) + 1);
    free(s);
}

void mm_refused(const char *kind, const char *detail)
{
    struct sk_buf b;

    sk_buf_init(&b);
    if (sk_buf_put_cstring(&b, kind) == 0 &&
        sk_buf_put_cstring(&b, detail) == 0) {
        (void)sk_ipc_send(mm_fd, MON_REFUSED, &b, NULL, 0);
    }
    sk_buf_free(&b);
}

int mm_auth_password(const char *user, const char *password,
                     const char *code, uint32_t *next)
{
    struct sk_buf req, rep;
    uint32_t res;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, user) != 0 ||
        sk_buf_put_cstring(&req, password) != 0 ||
        sk_buf_put_cstring(&req, code) != 0) {
        sk_buf_free(&req);
        return MON_AUTH_FAIL; /* over-long input: an ordinary failure */
    }
    mm_request(MON_AUTH_PASSWORD, &req, &rep, NULL, NULL);
    res = mm_get_u32(&rep);
    *next = mm_get_u32(&rep);
    sk_buf_free(&req); /* wipes the password copy */
    sk_buf_free(&rep);
    return (int)res;
}

uint32_t mm_auth_methods(const char *user)
{
    struct sk_buf req, rep;
    uint32_t next;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, user) != 0) {
        sk_buf_free(&req);
        return MON_M_KBDINT;
    }
    mm_request(MON_AUTH_METHODS, &req, &rep, NULL, NULL);
    next = mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return next;
}

int mm_auth_pubkey(const char *user, const char *key, uint32_t phase,
                   const char *kex, const struct wk_sigproof *proof,
                   uint32_t *next)
{
    static const struct wk_sigproof none;
    struct sk_buf req, rep;
    uint32_t res;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (proof == NULL) {
        proof = &none;
    }
    if (sk_buf_put_cstring(&req, user) != 0 ||
        sk_buf_put_cstring(&req, key) != 0 ||
        sk_buf_put_u32(&req, phase) != 0 ||
        (phase == MON_PK_SIGNED &&
         (sk_buf_put_string(&req, proof->sid, proof->sidlen) != 0 ||
          sk_buf_put_cstring(&req, kex != NULL ? kex : "") != 0 ||
          sk_buf_put_cstring(&req, proof->alg) != 0 ||
          sk_buf_put_string(&req, proof->sig, proof->siglen) != 0 ||
          sk_buf_put_u32(&req, proof->sk_flags) != 0 ||
          sk_buf_put_u32(&req, proof->sk_counter) != 0))) {
        sk_buf_free(&req);
        return MON_AUTH_FAIL;
    }
    mm_request(MON_AUTH_PUBKEY, &req, &rep, NULL, NULL);
    res = mm_get_u32(&rep);
    *next = mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)res;
}

int mm_passwd(const char *cur, const char *npw, const char *again,
              char *reason, size_t reasonlen)
{
    struct sk_buf req, rep;
    uint32_t res;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, cur) != 0 ||
        sk_buf_put_cstring(&req, npw) != 0 ||
        sk_buf_put_cstring(&req, again) != 0) {
        fatal_f("request too large");
    }
    mm_request(MON_PASSWD, &req, &rep, NULL, NULL);
    res = mm_get_u32(&rep);
    mm_get_str(&rep, reason, reasonlen);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)res;
}

int mm_target_list(struct mm_target *out, int max)
{
    struct sk_buf req, rep;
    uint32_t n, i;
    int count = 0;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    mm_request(MON_TARGET_LIST, &req, &rep, NULL, NULL);
    n = mm_get_u32(&rep);
    for (i = 0; i < n; i++) {
        struct mm_target t;

        mm_get_str(&rep, t.name, sizeof(t.name));
        t.allow_exec = (int)mm_get_u32(&rep);
        if (count < max) {
            out[count++] = t;
        }
    }
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return count;
}

void mm_target_open(const char *target, int mode, const char *command,
                    const char *term, int cols, int rows,
                    struct mm_open *out)
{
    struct sk_buf req, rep;
    int fds[SK_IPC_MAX_FDS], nfds = 0;

    memset(out, 0, sizeof(*out));
    out->sock = out->agent = out->rec = -1;
    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, target) != 0 ||
        sk_buf_put_u32(&req, (uint32_t)mode) != 0 ||
        sk_buf_put_cstring(&req, command) != 0 ||
        sk_buf_put_cstring(&req, term) != 0 ||
        sk_buf_put_u32(&req, (uint32_t)cols) != 0 ||
        sk_buf_put_u32(&req, (uint32_t)rows) != 0) {
        fatal_f("request too large");
    }
    mm_request(MON_TARGET_OPEN, &req, &rep, fds, &nfds);
    out->ok = (int)mm_get_u32(&rep);
    mm_get_str(&rep, out->message, sizeof(out->message));
    mm_get_str(&rep, out->session_id, sizeof(out->session_id));
    mm_get_str(&rep, out->host, sizeof(out->host));
    mm_get_str(&rep, out->login, sizeof(out->login));
    mm_get_str(&rep, out->hostkey_algos, sizeof(out->hostkey_algos));
    if (sk_buf_get_u64(&rep, &out->t0) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "short reply");
    }
    if (out->ok) {
        if (nfds != 3) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor sent %d fds",
                     nfds);
        }
        out->sock = fds[0];
        out->agent = fds[1];
        out->rec = fds[2];
    } else {
        for (int i = 0; i < nfds; i++) {
            close(fds[i]);
        }
    }
    sk_buf_free(&req);
    sk_buf_free(&rep);
}

int mm_hostkey_check(const char *key_line)
{
    struct sk_buf req, rep;
    uint32_t ok;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, key_line) != 0) {
        fatal_f("host key too large");
    }
    mm_request(MON_HOSTKEY_CHECK, &req, &rep, NULL, NULL);
    ok = mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)ok;
}

uint8_t *mm_hostkey_pub(size_t *len)
{
    struct sk_buf rep;
    const uint8_t *p;
    uint8_t *blob;

    sk_buf_init(&rep);
    mm_request(MON_HOSTKEY_PUB, NULL, &rep, NULL, NULL);
    if (sk_buf_get_string_direct(&rep, &p, len) != 0 || *len == 0 ||
        (blob = malloc(*len)) == NULL) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "bad host key from monitor");
    }
    memcpy(blob, p, *len);
    sk_buf_free(&rep);
    return blob;
}

int mm_hostkey_sign(int md_nid, const uint8_t *data, size_t len,
                    uint8_t *sig, size_t *siglen)
{
    struct sk_buf req, rep;
    const uint8_t *p;
    size_t n;
    int r = -1;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (md_nid < 0 || sk_buf_put_u32(&req, (uint32_t)md_nid) != 0 ||
        sk_buf_put_string(&req, data, len) != 0) {
        sk_buf_free(&req);
        return -1;
    }
    mm_request(MON_HOSTKEY_SIGN, &req, &rep, NULL, NULL);
    if (mm_get_u32(&rep) == 1 && sk_buf_get_string_direct(&rep, &p, &n) == 0 &&
        n <= *siglen) {
        memcpy(sig, p, n);
        *siglen = n;
        r = 0;
    }
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return r;
}

void mm_upstream_ready(int ok, const char *error)
{
    struct sk_buf req, rep;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_u32(&req, (uint32_t)ok) != 0 ||
        sk_buf_put_cstring(&req, error) != 0) {
        fatal_f("message too large");
    }
    mm_request(MON_UPSTREAM_READY, &req, &rep, NULL, NULL);
    (void)mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
}

void mm_session_end(uint64_t in, uint64_t out, uint32_t exit_status,
                    const char *reason)
{
    struct sk_buf req, rep;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_u64(&req, in) != 0 || sk_buf_put_u64(&req, out) != 0 ||
        sk_buf_put_u32(&req, exit_status) != 0 ||
        sk_buf_put_cstring(&req, reason) != 0) {
        fatal_f("message too large");
    }
    /* The recorder's socket closes only now: the monitor, which waits
     * for the seal while it answers, has the end request first. */
    mm_send(MON_SESSION_END, &req);
    wk_rec_close();
    mm_await(MON_SESSION_END, &rep, NULL, NULL);
    (void)mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
}

int mm_work_request(const struct sk_cmd *c, char *msg, size_t msglen)
{
    struct sk_buf req, rep;
    uint32_t ok;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, c->target) != 0 ||
        sk_buf_put_cstring(&req, c->text) != 0 ||
        sk_buf_put_cstring(&req, c->start) != 0 ||
        sk_buf_put_cstring(&req, c->dur) != 0 ||
        sk_buf_put_cstring(&req, c->ticket) != 0) {
        fatal_f("request too large");
    }
    mm_request(MON_REQUEST, &req, &rep, NULL, NULL);
    ok = mm_get_u32(&rep);
    mm_get_str(&rep, msg, msglen);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)ok;
}

const char *mm_lang(const char *client_lang)
{
    struct sk_buf req, rep;
    char lang[8];

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_cstring(&req, client_lang != NULL ? client_lang : "") !=
        0) {
        fatal_f("out of memory");
    }
    mm_request(MON_LANG, &req, &rep, NULL, NULL);
    mm_get_str(&rep, lang, sizeof(lang));
    sk_buf_free(&req);
    sk_buf_free(&rep);
    if (sk_i18n_use(lang) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor chose no language");
    }
    return sk_i18n_lang();
}

char *mm_work_requests(void)
{
    struct sk_buf rep;
    char *text = NULL;

    sk_buf_init(&rep);
    mm_request(MON_REQUESTS, NULL, &rep, NULL, NULL);
    if (sk_buf_get_cstring(&rep, &text, SK_IPC_MAX) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "bad string from monitor");
    }
    sk_buf_free(&rep);
    return text;
}

int mm_work_request_act(int action, long long id, const char *text, char *msg,
                   size_t msglen)
{
    struct sk_buf req, rep;
    uint32_t ok;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_u32(&req, (uint32_t)action) != 0 ||
        sk_buf_put_u64(&req, (uint64_t)id) != 0 ||
        sk_buf_put_cstring(&req, text) != 0) {
        fatal_f("request too large");
    }
    mm_request(MON_REQUEST_ACT, &req, &rep, NULL, NULL);
    ok = mm_get_u32(&rep);
    mm_get_str(&rep, msg, msglen);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)ok;
}

int mm_gwcmd(const struct sk_cmd *c, int pty, const char *term, int cols,
             int rows, int fds[2], int *nfds, char *msg, size_t msglen)
{
    struct sk_buf req, rep;
    int got[SK_IPC_MAX_FDS], ngot = 0, ok, r = 0;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    r |= sk_buf_put_u32(&req, (uint32_t)c->argc);
    for (int i = 0; i < c->argc; i++) {
        r |= sk_buf_put_cstring(&req, sk_cmd_arg(c, i));
    }
    r |= sk_buf_put_u32(&req, (uint32_t)(pty != 0));
    r |= sk_buf_put_cstring(&req, term);
    r |= sk_buf_put_u32(&req, (uint32_t)(cols > 0 ? cols : 0));
    r |= sk_buf_put_u32(&req, (uint32_t)(rows > 0 ? rows : 0));
    if (r != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "message too large");
    }
    mm_request(MON_GWCMD, &req, &rep, got, &ngot);
    ok = mm_get_u32(&rep) != 0;
    mm_get_str(&rep, msg, msglen);
    *nfds = 0;
    if (ok && ngot == (pty ? 1 : 2)) {
        for (int i = 0; i < ngot; i++) {
            fds[i] = got[i];
        }
        *nfds = ngot;
    } else {
        for (int i = 0; i < ngot; i++) {
            close(got[i]);
        }
        if (ok) {
            sk_fatal(SK_EXIT_PROTOCOL, __func__, "monitor sent %d fds",
                     ngot);
        }
    }
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return ok;
}

void mm_gwcmd_resize(int cols, int rows)
{
    struct sk_buf b;

    sk_buf_init(&b);
    if (sk_buf_put_u32(&b, (uint32_t)(cols > 0 ? cols : 0)) == 0 &&
        sk_buf_put_u32(&b, (uint32_t)(rows > 0 ? rows : 0)) == 0) {
        (void)sk_ipc_send(mm_fd, MON_GWCMD_RESIZE, &b, NULL, 0);
    }
    sk_buf_free(&b);
}

int mm_gwcmd_end(int client_gone)
{
    struct sk_buf req, rep;
    uint32_t st;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    if (sk_buf_put_u32(&req, (uint32_t)(client_gone != 0)) != 0) {
        sk_fatal(SK_EXIT_PROTOCOL, __func__, "message too large");
    }
    mm_request(MON_GWCMD_END, &req, &rep, NULL, NULL);
    st = mm_get_u32(&rep);
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return (int)(st & 0xff);
}
