/*
 * sekisho-session: the per-connection monitor. It keeps everything
 * privileged (configuration, the state database, the egress key, target
 * connections, the audit log) and forks the network-facing worker, whose
 * requests it answers through the dispatch table below. The monitor's
 * idea of who is authenticated is the only one trusted.
 */
#include "alert.h"
#include "audit.h"
#include "buf.h"
#include "config.h"
#include "egress.h"
#include "i18n.h"
#include "ipc.h"
#include "key.h"
#include "log.h"
#include "monitor.h"
#include "monitor-pam.h"
#include "hostkey.h"
#include "sk-err.h"
#include "store.h"
#include "util.h"
#include "worker.h"

#include "auth/check.h"
#include "auth/password.h"
#include "auth/pubkey.h"
#include "auth/pwchange.h"
#include "auth/totp.h"
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libssh/libssh.h>
#include <sys/timex.h>

#include "access.h"
#include "gwcmd.h"
#include "policy/cidr.h"
#include "policy/command.h"
#include "policy/roles.h"
#include "ratelimit.h"
#include "requests.h"
#include "recorder/proc/rec-ring.h"
#include "recorder/proc/recorder-proc.h"
#include "userkey.h"

#define MON_PREAUTH 0x01
#define MON_POSTAUTH 0x02
#define MON_ONCE 0x04
#define MON_ANYSTATE (MON_PREAUTH | MON_POSTAUTH)

struct monitor {
    const struct sk_config *cfg;
    sk_store *store;
    int ipc;
    int notify; /* pipe to sekishod: closed once authenticated */
    pid_t worker;
    char source[INET6_ADDRSTRLEN + 8];
    /* authentication */
    int authenticated;
    int auth_failures;
    int change_tries; /* `passwd` attempts */
    char user[SK_NAME_MAX + 1];
    /* the first user name asked for, known or not (mon_precheck): every
     * later request must name it; "pinned" once it is set */
    char asked[256 + 1];
    int pinned;
    /* target session */
    struct sk_target target;
    int have_target;
    char session_id[64];
    char mode[8];
    int agent_fd; /* monitor end of the agent socketpair, or -1 */
    struct sk_key *signer; /* transcript and audit signing key */
    int64_t request_id;    /* the work request the session runs under */
    int window_warned;     /* the user was told their window closes */
    int relaying;          /* the target leg is up: notices can be shown */
    int64_t max_session;   /* seconds the allowing rule permits; 0: any */
    time_t session_t0;
    int max_warned;
    char kill_msg[300];
    struct rec_proc rec; /* the session's recorder (rec.pid > 0: running) */
    int have_rec;
    struct sk_egress_guard egress_guard; /* what the egress key signed */
    struct sk_key *egress; /* the key of the open target's group only */
    int session_open; /* row inserted, end not yet recorded */
    int session_ended;
    time_t terminate_sent; /* MON_TERMINATE sent at; 0: not */
    time_t ended_at;       /* MON_SESSION_END received at; 0: not */
    time_t early_seal;     /* the recorder sealed before MON_SESSION_END */
    time_t last_check;     /* of mon_gwcmd_recheck */
    time_t next_check;     /* mon_recheck is due then (mon_next_check) */
    /* What mon_recheck read from the store, and the store's count of
     * rule changes then: read again only once that moved (a kill
     * request, an admin's change); the times are judged every check. */
    int rc_valid, rc_loaded;
    int64_t rc_gen; /* sk_store_policy_gen then */
    time_t rc_read; /* when it was last read */
    struct sk_user rc_user;
    struct access rc_access;
    time_t grace_end;      /* authentication must be done by then */
    unsigned char used[32]; /* MON_ONCE bookkeeping, by type */
    /* the method rule (methods.h): the user's own or the global one, and
     * the factors this connection has proved so far */
    struct sk_methods rule;
    unsigned done;
    int key_offers;     /* keys offered that would not do */
    char keys_used[160]; /* fingerprints of the keys that proved factors */
    /* the worker's unasked messages (MON_LOG, MON_REFUSED), bounded */
    int rates_set;
    struct sk_rate rate_log, rate_refused;
    /* SHA-256 of the session id the first accepted signature was made
     * for: claimed in the store then, and every later signature of this
     * connection must be for the same one. */
    unsigned char sid_hash[crypto_hash_sha256_BYTES];
    /* The host key (hostkey.h): the monitor alone holds it. The first
     * hash it signs is the session id, the only one a publickey request
     * of this connection may be for. */
    struct sk_hostsigner *hostkey;
    uint8_t *hk_blob;
    size_t hk_bloblen;
    int hk_signs;
    uint8_t kex_sid[64];
    size_t kex_sidlen;
    int sid_claimed;
    struct gwcmd cmd; /* a gateway command running for the user */
    char cmd_role[16]; /* the role it needs */
};

/* A worker (a compromised one, or a client sending refused requests in
 * a loop) must not flood syslog or the audit log: a burst passes, then
 * so many a second; the rest is dropped, with one rate_limited audit line
 * at the first drop and the count logged at the end of the connection. */
/* A held session's monitor reads the store's count of rule changes at
 * least this often, announced or not (mon_recheck), and sleeps no longer
 * than this between checks. */
#define MON_REREAD_S 10
/* When the store could not be read, it is tried again this soon. */
#define MON_RETRY_S 2
/* A check due at second T is woken for this long after T: time(2) reads a
 * clock that lags CLOCK_REALTIME by up to a tick. */
#define MON_WAKE_SLACK_MS 10
#define MON_LOG_BURST 200
#define MON_LOG_PER_SEC 20
#define MON_REFUSED_BURST 20
#define MON_REFUSED_PER_SEC 1

/* Keys a client may offer that would not do, before it is cut off
 * (OpenSSH clients offer each key in their agent). */
#define MON_MAX_KEY_OFFERS 16
/* ... of which the first so many are audit lines (auth_key_refused). */
#define MON_AUDITED_KEY_OFFERS 3

struct mon_dispatch {
    uint32_t type;
    int flags;
    int (*fn)(struct monitor *, struct sk_buf *);
};

static int mon_reply(struct monitor *m, uint32_t type, struct sk_buf *b,
                     const int *fds, int nfds)
{
    int r;

    if ((r = sk_ipc_send(m->ipc, type | MON_REPLY, b, fds, nfds)) != 0) {
        error_fr(r, "reply to worker");
    }
    return r;
}

static int mon_reply_u32(struct monitor *m, uint32_t type, uint32_t v)
{
    struct sk_buf b;
    int r;

    sk_buf_init(&b);
    r = sk_buf_put_u32(&b, v);
    if (r == 0) {
        r = mon_reply(m, type, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

static uint64_t mon_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* May one more unasked message of this kind pass? On the first one
 * dropped, says so once (log and audit). */
static int mon_rate_ok(struct monitor *m, struct sk_rate *r, const char *what)
{
    uint64_t now = mon_now_ms();

    if (!m->rates_set) {
        sk_rate_init(&m->rate_log, MON_LOG_BURST, MON_LOG_PER_SEC, now);
        sk_rate_init(&m->rate_refused, MON_REFUSED_BURST,
                     MON_REFUSED_PER_SEC, now);
        m->rates_set = 1;
    }
    if (sk_rate_take(r, now)) {
        return 1;
    }
    if (r->dropped == 1) {
        error_f("worker %s messages from %s beyond %u, then %u a second: "
                "dropping", what, m->source, r->burst, r->per_sec);
        (void)sk_audit("rate_limited", "{s:s, s:s, s:s?, s:s?, s:i, s:i}",
                       "what", what, "source", m->source, "user",
                       m->user[0] ? m->user : NULL, "session",
                       m->session_id[0] ? m->session_id : NULL, "burst",
                       (int)r->burst, "per_sec", (int)r->per_sec);
    }
    return 0;
}

static int mon_answer_log(struct monitor *m, struct sk_buf *req)
{
    uint32_t level;
    char *line = NULL;

    if (sk_buf_get_u32(req, &level) != 0 ||
        sk_buf_get_cstring(req, &line, 2048) != 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    if (!mon_rate_ok(m, &m->rate_log, "log")) {
        free(line);
        return 0;
    }
    if (level > SK_LOG_DEBUG) {
        level = SK_LOG_DEBUG;
    }
    sk_log((int)level, NULL, "worker: %s", line);
    free(line);
    return 0;
}

/* A user name from the network, made printable for the audit log. */
static char *mon_safe_name(const char *name)
{
    size_t n = strlen(name);

    return sk_utf8_repair(name, n > 64 ? 64 : n);
}

/* Marks the connection authenticated, once the audit line is written.
 * Returns MON_AUTH_OK, or MON_AUTH_FAIL_DISCONNECT if it cannot be. */
static uint32_t mon_auth_success(struct monitor *m, const char *how)
{
    char method[64], factors[64];
    int r;

    sk_factors_format(m->done, factors, sizeof(factors));
    snprintf(method, sizeof(method), "%s", how);
    r = sk_audit("auth_ok", "{s:s, s:s, s:s, s:s, s:s}", "user", m->user,
                 "source", m->source, "method", method, "factors", factors,
                 "keys", m->keys_used);
    if (r != 0) {
        /* No audit record, no session. */
        error_fr(r, "audit log");
        return MON_AUTH_FAIL_DISCONNECT;
    }
    m->authenticated = 1;
    if (m->notify >= 0) {
        /* Frees this connection's pre-auth slot in sekishod. */
        close(m->notify);
        m->notify = -1;
    }
    (void)sk_store_user_touch_login(m->store, m->user, time(NULL));
    logit("accepted %s (%s) for %s from %s", method, factors, m->user,
          m->source);
    return MON_AUTH_OK;
}

/* A factor was accepted but the user's rule wants more (SSH partial
 * success). Returns MON_AUTH_PARTIAL, or MON_AUTH_FAIL_DISCONNECT if the
 * audit line cannot be written. */
static uint32_t mon_auth_partial(struct monitor *m, const char *how)
{
    char factors[64], wanted[64];

    sk_factors_format(m->done, factors, sizeof(factors));
    sk_factors_format(sk_methods_wanted(&m->rule, m->done), wanted,
                      sizeof(wanted));
    if (sk_audit("auth_partial", "{s:s, s:s, s:s, s:s, s:s, s:s}", "user",
                 m->user, "source", m->source, "method", how, "factors",
                 factors, "wanted", wanted, "keys", m->keys_used) != 0) {
        return MON_AUTH_FAIL_DISCONNECT;
    }
    logit("partial %s (%s) for %s from %s; still wanted: %s", how, factors,
          m->user, m->source, wanted);
    return MON_AUTH_PARTIAL;
}

/* Which SSH methods can still help (for the worker's method list). */
static uint32_t mon_next(const struct monitor *m)
{
    unsigned w = sk_methods_wanted(&m->rule, m->done);
    uint32_t n = 0;

    if (w & SK_F_KEYS) {
        n |= MON_M_PUBLICKEY;
    }
    if (sk_methods_pam_ask(&m->rule, m->done) != 0) {
        /* Not while a key must come first (as OpenSSH lists only
         * publickey for "publickey,password" until the key is done). */
        n |= MON_M_KBDINT;
    }
    for (int i = 0; i < m->rule.n; i++) {
        if ((m->rule.alt[i] & ~m->done) == SK_F_PASSWORD) {
            n |= MON_M_PASSWORD;
        }
    }
    return n;
}

static int mon_reply_auth(struct monitor *m, uint32_t type, uint32_t result)
{
    struct sk_buf b;
    int r;

    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, result)) == 0 &&
        (r = sk_buf_put_u32(&b, mon_next(m))) == 0) {
        r = mon_reply(m, type, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

/* Sets m->rule for a user name: their own rule if they have one, else
 * the global one (also for unknown names, so those look like any user
 * without a rule of their own). Returns NULL, or why nobody may pass: a
 * stored rule that no longer parses (say, after second_factor was made
 * mandatory) admits nobody rather than less than it says. */
static const char *mon_rule_for(struct monitor *m, const char *user)
{
    struct sk_user u;
    char err[256];
    const char *why = NULL;

    m->rule = m->cfg->methods_rule;
    if ((m->pinned && strcmp(m->asked, user) != 0) ||
        sk_store_user_get(m->store, user, &u) != 0) {
        /* Another name than the pinned one will be refused; its own rule
         * must not show in the prompts meanwhile. */
        return NULL;
    }
    if (u.methods != NULL &&
        sk_methods_parse(u.methods, sk_config_min_factors(m->cfg), &m->rule,
                         err, sizeof(err)) != 0) {
        error_f("method rule of %s: %s", user, err);
        m->rule.n = 0;
        why = "the user's method rule is invalid";
    }
    sk_user_clear(&u);
    return why;
}

/* Counts a failed login of a known user and locks the account when the
 * threshold is reached within the window (R-AUTH-2). */
static void mon_note_failure(struct monitor *m, const char *user)
{
    time_t now = time(NULL);
    int count = 0, r;
    const struct sk_config *c = m->cfg;

    r = sk_store_auth_failure(m->store, user, m->source, now,
                              now - c->lockout_window, &count);
    if (r != 0) {
        error_fr(r, "recording failed login of %s", user);
        return;
    }
    if (count < c->lockout_threshold) {
        return;
    }
    r = c->lockout_duration > 0
            ? sk_store_user_lock_until(m->store, user,
                                       (int64_t)now + c->lockout_duration)
            : sk_store_user_set_status(m->store, user, SK_USER_LOCKED);
    if (r != 0) {
        error_fr(r, "locking %s", user);
        return;
    }
    (void)sk_store_auth_failures_clear(m->store, user);
    logit("account %s locked after %d failed logins (last from %s)", user,
          count, m->source);
    (void)sk_audit("account_locked", "{s:s, s:s, s:i, s:i}", "user", user,
                   "source", m->source, "failures", count, "seconds",
                   c->lockout_duration);
}

/* Tells sekishod of a failed attempt at once, so its per-source penalty
 * counts it now rather than when this connection ends (an attacker who
 * holds the connection open for the whole grace time would otherwise
 * stay unpunished meanwhile). Best effort: the listener may be gone. */
static void mon_tell_listener_failure(struct monitor *m)
{
    ssize_t w;

    if (m->notify < 0) {
        return;
    }
    do {
        w = write(m->notify, "F", 1);
    } while (w < 0 && errno == EINTR);
}

/* Checks before any credential is looked at. Returns NULL or the reason
 * for the audit log. */
static const char *mon_precheck(struct monitor *m, const char *user)
{
    int n = 0;

    if (m->pinned && strcmp(m->asked, user) != 0) {
        /* SSH lets a client change user name between attempts; we do not,
         * so attempts cannot be spread over accounts, nor names probed
         * (with a key offer, say) once one is known to exist. */
        return "user name changed during authentication";
    }
    if (!m->pinned) {
        /* Pinned from the first request whatever the name (known,
         * unknown, invalid): telling them apart here would tell. */
        if (strlen(user) >= sizeof(m->asked)) {
            return "invalid user name";
        }
        snprintf(m->asked, sizeof(m->asked), "%s", user);
        m->pinned = 1;
    }
    if (!sk_name_valid(user)) {
        return "invalid user name";
    }
    if (sk_store_source_failures(m->store, m->source,
                                 time(NULL) - m->cfg->lockout_window,
                                 &n) == 0 &&
        n >= m->cfg->source_threshold) {
        /* An address that keeps failing is stopped before it can lock
         * more accounts; its attempts are no longer checked at all. */
        return "source address blocked after failed logins";
    }
    return NULL;
}

/* One authentication attempt: checks before PAM (the name, the address),
 * PAM, checks after (the user's allowed sources), then counting, lockout
 * and the audit line. Returns a MON_AUTH_* result. */
static uint32_t mon_authenticate(struct monitor *m, const char *user,
                                 struct pam_bridge *b, const char *method)
{
    char whybuf[256], *shown;
    const char *why = NULL;
    struct sk_user u;
    int known = 0, ok = 0, n = 0;
    uint32_t result;

    memset(&u, 0, sizeof(u));
    b->ipc = m->ipc;
    b->cfg = m->cfg;
    b->source = m->source;
    b->deadline = m->grace_end;
    if (user == NULL) {
        why = "malformed credentials";
    } else if ((why = mon_precheck(m, user)) == NULL &&
               b->rule_error != NULL) {
        why = b->rule_error;
    }
    if (why != NULL) {
        if (b->interactive) {
            mon_fake_prompts(b);
        } else {
            (void)sk_pw_verify(NULL, b->pw ? b->pw : "");
        }
    } else {
        known = sk_store_user_get(m->store, user, &u) == 0;
        if (known) {
            snprintf(m->user, sizeof(m->user), "%s", user);
        }
        why = mon_pam(b, user, whybuf, sizeof(whybuf));
        if (why == NULL && known &&
            !access_source_ok(m->store, user, u.sources, m->source)) {
            /* R-AUTH-1: only from the terminals this user may use. Told
             * apart from a wrong password only in the audit log. */
            why = "source address not allowed for this user";
        }
        if (why == NULL && !known) {
            /* Another module of the stack vouched for a name we do not
             * know: there is nothing it may reach. */
            why = "unknown user";
        }
        ok = why == NULL;
    }
    sk_user_clear(&u);
    shown = mon_safe_name(user != NULL ? user : "");
    if (!ok && known &&
        (strcmp(why, "wrong password") == 0 ||
         strcmp(why, "wrong verification code") == 0 ||
         strcmp(why, "verification code reused") == 0 ||
         strncmp(why, "Authentication failure", 22) == 0)) {
        mon_note_failure(m, m->user);
    } else if (!ok && strcmp(why, "unknown user") == 0) {
        /* Counted against the address only (no account to lock). */
        (void)sk_store_auth_failure(m->store, "", m->source, time(NULL),
                                    time(NULL) - m->cfg->lockout_window, &n);
    }
    if (!ok && strcmp(why, "source address blocked after failed logins") ==
                   0 &&
        m->auth_failures == 0) {
        (void)sk_audit("source_blocked", "{s:s}", "source", m->source);
    }
    if (ok) {
        (void)sk_store_auth_failures_clear(m->store, m->user);
        m->done |= b->ask;
        result = sk_methods_satisfied(&m->rule, m->done)
                     ? mon_auth_success(m, method)
                     : mon_auth_partial(m, method);
    } else {
        m->auth_failures++;
        mon_tell_listener_failure(m);
        result = m->auth_failures >= m->cfg->max_auth_tries || b->broken
                     ? MON_AUTH_FAIL_DISCONNECT
                     : MON_AUTH_FAIL;
        logit("failed %s for %s%s from %s (%s)", method,
              known ? "" : "invalid ", shown ? shown : "?", m->source, why);
        (void)sk_audit("auth_fail", "{s:s?, s:s, s:s, s:s, s:i}", "user",
                       shown, "source", m->source, "method", method,
                       "reason", why, "attempt", m->auth_failures);
    }
    free(shown);
    return result;
}

/* The bare "password" method: PAM answered from the given password. */
static int mon_answer_auth_password(struct monitor *m, struct sk_buf *req)
{
    char *user = NULL, *pw = NULL, *code = NULL;
    struct pam_bridge b;
    uint32_t result;

    memset(&b, 0, sizeof(b));
    if (sk_buf_get_cstring(req, &user, 256) != 0 ||
        sk_buf_get_cstring(req, &pw, SK_PW_MAX) != 0 ||
        sk_buf_get_cstring(req, &code, 64) != 0) {
        /* Over-long or NUL-containing input: an ordinary failure that
         * costs the same as a real check. */
        free(user);
        user = NULL;
    }
    b.pw = pw != NULL ? pw : "";
    b.code = code != NULL && code[0] != '\0' ? code : NULL;
    b.ask = SK_F_PASSWORD;
    if (user != NULL && sk_name_valid(user)) {
        b.rule_error = mon_rule_for(m, user);
    }
    if (!(mon_next(m) & MON_M_PASSWORD) && b.rule_error == NULL) {
        /* A bare password completes no alternative of the rule (it can
         * carry no code): not checked at all, as if never offered. */
        result = MON_AUTH_FAIL;
    } else {
        result = mon_authenticate(m, user, &b, "password");
    }
    sk_secret_free(pw);
    sk_secret_free(code);
    free(user);
    return mon_reply_auth(m, MON_AUTH_PASSWORD, result);
}

/* Keyboard-interactive: PAM's conversation goes to the client. */
static int mon_answer_pam_start(struct monitor *m, struct sk_buf *req)
{
    char *user = NULL;
    struct pam_bridge b;
    uint32_t result;

    memset(&b, 0, sizeof(b));
    b.interactive = 1;
    if (sk_buf_get_cstring(req, &user, 256) != 0) {
        user = NULL;
    }
    if (user != NULL && sk_name_valid(user)) {
        b.rule_error = mon_rule_for(m, user);
    }
    b.ask = sk_methods_pam_ask(&m->rule, m->done);
    if (b.ask == 0 && b.rule_error == NULL) {
        /* Only keys are still wanted: nothing to ask. */
        free(user);
        return mon_reply_auth(m, MON_PAM_START, MON_AUTH_FAIL);
    }
    if (b.ask == 0) {
        b.ask = SK_F_PASSWORD; /* fail alike, after the usual prompt */
    }
    result = mon_authenticate(m, user, &b, "keyboard-interactive");
    free(user);
    if (b.broken && result != MON_AUTH_OK) {
        result = MON_AUTH_FAIL_DISCONNECT;
    }
    return mon_reply_auth(m, MON_PAM_START, result);
}

/* The "none" request: the methods this user's rule can use, so a client
 * knows to offer its keys (or not). An unknown or refused name gets the
 * global rule's, like any user without a rule of their own. */
static int mon_answer_auth_methods(struct monitor *m, struct sk_buf *req)
{
    char *user = NULL;
    struct sk_buf b;
    int r;

    /* "" is the worker's own question before any request (the global
     * rule): it names nobody, so it pins nothing. */
    if (sk_buf_get_cstring(req, &user, 256) != 0 || user[0] == '\0' ||
        mon_precheck(m, user) != NULL || mon_rule_for(m, user) != NULL) {
        m->rule = m->cfg->methods_rule;
    }
    free(user);
    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, mon_next(m))) == 0) {
        r = mon_reply(m, MON_AUTH_METHODS, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

/* The proof a signed publickey request carries (monitor.h). */
struct mon_pk_proof {
    const uint8_t *sid, *sig;
    size_t sidlen, siglen;
    char *kex, *alg;
    uint32_t flags, counter;
};

static int mon_get_pk_proof(struct sk_buf *req, struct mon_pk_proof *p)
{
    memset(p, 0, sizeof(*p));
    if (sk_buf_get_string_direct(req, &p->sid, &p->sidlen) != 0 ||
        p->sidlen > SK_PK_SID_MAX ||
        sk_buf_get_cstring(req, &p->kex, 64) != 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    if (sk_buf_get_cstring(req, &p->alg, 64) != 0 ||
        sk_buf_get_string_direct(req, &p->sig, &p->siglen) != 0 ||
        p->siglen > SK_PK_SIG_MAX || sk_buf_get_u32(req, &p->flags) != 0 ||
        p->flags > 0xff || sk_buf_get_u32(req, &p->counter) != 0) {
        free(p->kex);
        free(p->alg);
        p->kex = p->alg = NULL;
        return SK_ERR_BAD_MESSAGE;
    }
    return 0;
}

/*
 * The monitor's own check of a signed publickey request: the signature
 * must be the REGISTERED key's (key_line is the stored text: the store
 * matched it byte for byte) over the RFC 4252 data rebuilt from the
 * monitor's user name, for a session id of the kex's length that no other
 * connection had a signature accepted for. Returns NULL, or why not.
 */
static const char *mon_pk_verify(struct monitor *m, const char *user,
                                 const char *key_line,
                                 const struct mon_pk_proof *p)
{
    struct sk_pk_proof v;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof(h) + 1];
    int r;

    memset(&v, 0, sizeof(v));
    v.session_id = p->sid;
    v.session_id_len = p->sidlen;
    v.kex = p->kex;
    v.user = user;
    v.alg = p->alg;
    v.sig = p->sig;
    v.sig_len = p->siglen;
    v.sk_flags = (uint8_t)p->flags;
    v.sk_counter = p->counter;
    if (p->sidlen == 0 || p->siglen == 0) {
        return "signature not shown to the monitor";
    }
    /* The session id is the first exchange hash the monitor signed with
     * the host key: a signature for any other is not for this
     * connection, whatever the worker says. */
    if (m->kex_sidlen == 0 || p->sidlen != m->kex_sidlen ||
        sodium_memcmp(p->sid, m->kex_sid, p->sidlen) != 0) {
        return "session id is not this connection's";
    }
    if ((r = sk_pubkey_verify(key_line, &v)) != 0) {
        return r == SK_ERR_DENIED ? "security key not touched (no user "
                                    "presence)"
                                  : "bad signature (monitor check)";
    }
    crypto_hash_sha256(h, p->sid, p->sidlen);
    if (m->sid_claimed) {
        /* A second key factor of the same connection. */
        return sodium_memcmp(h, m->sid_hash, sizeof(h)) == 0
                   ? NULL
                   : "session id changed within the connection";
    }
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    r = sk_store_session_id_claim(m->store, hex, time(NULL));
    if (r == SK_ERR_EXISTS) {
        return "session id replayed (signature already used)";
    }
    if (r != 0) {
        error_fr(r, "recording the session id");
        return "session id could not be recorded";
    }
    memcpy(m->sid_hash, h, sizeof(h));
    m->sid_claimed = 1;
    return NULL;
}

/*
 * Public keys and FIDO2 security keys. libssh in the worker checks the
 * signature first, but its verdict is no evidence: the worker also hands
 * over what libssh checked (session id, algorithm, signature; see
 * wk-sigcap.c) and the monitor verifies it itself (mon_pk_verify). The
 * monitor decides everything else too: whether the key is registered to
 * this user, whether the rule still wants its factor, and whether the
 * account may log in at all.
 */
static int mon_answer_auth_pubkey(struct monitor *m, struct sk_buf *req)
{
    char *user = NULL, *line = NULL, *shown, fp[128] = "", err[256];
    const char *why = NULL, *method = "publickey";
    struct sk_userkey *k = NULL;
    struct sk_user u;
    struct mon_pk_proof proof;
    uint32_t phase = 0, result;
    int known = 0, refused = 0, r;

    memset(&u, 0, sizeof(u));
    memset(&proof, 0, sizeof(proof));
    if (sk_buf_get_cstring(req, &user, 256) != 0 ||
        sk_buf_get_cstring(req, &line, SK_USERKEY_MAX) != 0 ||
        sk_buf_get_u32(req, &phase) != 0 || phase > MON_PK_BAD_SIG ||
        (phase == MON_PK_SIGNED && mon_get_pk_proof(req, &proof) != 0)) {
        /* The worker builds these from what libssh parsed: anything
         * else is a compromised worker. */
        free(user);
        free(line);
        return SK_ERR_BAD_MESSAGE;
    }
    if ((k = calloc(1, sizeof(*k))) == NULL) {
        free(user);
        free(line);
        return SK_ERR_ALLOC;
    }
    if ((why = mon_precheck(m, user)) != NULL) {
        refused = 1;
    } else if ((why = mon_rule_for(m, user)) == NULL) {
        known = sk_store_user_get(m->store, user, &u) == 0;
        if (sk_userkey_parse(line, k, err, sizeof(err)) != 0) {
            why = "key type not accepted";
        } else if (k->factor == SK_F_SK) {
            method = "publickey (security key)";
        }
        if (why != NULL) {
            ;
        } else if (!(sk_methods_wanted(&m->rule, m->done) & k->factor)) {
            why = k->factor == SK_F_SK
                      ? "no security key wanted by the method rule"
                      : "no public key wanted by the method rule";
        } else if (!known || sk_store_user_key_find(m->store, user, k->canon,
                                                    fp, sizeof(fp)) != 0) {
            why = "key not registered to this user";
        }
    }
    if (phase == MON_PK_PROBE) {
        if (why == NULL) {
            result = MON_AUTH_KEY_OK;
        } else {
            verbose_f("key %s offered for %s not accepted: %s",
                      k->fingerprint[0] ? k->fingerprint : "?",
                      known ? user : "(unknown)", why);
            result = ++m->key_offers > MON_MAX_KEY_OFFERS
                         ? MON_AUTH_FAIL_DISCONNECT
                         : MON_AUTH_FAIL;
            /* On record, but only the first few per connection: clients
             * offer every key they hold, and that is no attack. A probe
             * the checks before any key refused (another name, say) is
             * on record even where no key is wanted. */
            if (m->key_offers <= MON_AUDITED_KEY_OFFERS &&
                (refused ||
                 (sk_methods_wanted(&m->rule, m->done) & SK_F_KEYS))) {
                shown = mon_safe_name(user);
                r = sk_audit("auth_key_refused", "{s:s?, s:s, s:s, s:s}",
                             "user", shown, "source", m->source,
                             "fingerprint", k->fingerprint, "reason", why);
                free(shown);
                if (r != 0) {
                    result = MON_AUTH_FAIL_DISCONNECT;
                }
            }
        }
        goto out;
    }
    if (why == NULL && phase == MON_PK_BAD_SIG) {
        why = "bad signature";
    }
    if (why == NULL) {
        /* Only MON_PK_SIGNED is left: check it here, not believe it. */
        why = mon_pk_verify(m, user, k->canon, &proof);
    }
    if (why == NULL) {
        /* The account checks PAM's account stage makes, for a rule that
         * may have no PAM factor at all. */
        why = sk_auth_account_state(&u, time(NULL));
        if (why == NULL &&
            !access_source_ok(m->store, user, u.sources, m->source)) {
            why = "source address not allowed for this user";
        }
    }
    if (known) {
        snprintf(m->user, sizeof(m->user), "%s", user);
    }
    if (why == NULL) {
        size_t l = strlen(m->keys_used);

        m->done |= k->factor;
        snprintf(m->keys_used + l, sizeof(m->keys_used) - l, "%s%s",
                 l ? " " : "", fp);
        (void)sk_store_user_key_used(m->store, k->canon, time(NULL));
        result = sk_methods_satisfied(&m->rule, m->done)
                     ? mon_auth_success(m, method)
                     : mon_auth_partial(m, method);
        goto out;
    }
    m->auth_failures++;
    mon_tell_listener_failure(m);
    result = m->auth_failures >= m->cfg->max_auth_tries
                 ? MON_AUTH_FAIL_DISCONNECT
                 : MON_AUTH_FAIL;
    shown = mon_safe_name(user);
    logit("failed %s for %s%s from %s (%s)", method, known ? "" : "invalid ",
          shown ? shown : "?", m->source, why);
    r = sk_audit("auth_fail", "{s:s?, s:s, s:s, s:s, s:s, s:i}", "user",
                 shown, "source", m->source, "method", method, "fingerprint",
                 k->fingerprint, "reason", why, "attempt", m->auth_failures);
    free(shown);
    if (r != 0) {
        result = MON_AUTH_FAIL_DISCONNECT;
    }
out:
    sk_user_clear(&u);
    free(k);
    free(user);
    free(line);
    free(proof.kex);
    free(proof.alg);
    return mon_reply_auth(m, MON_AUTH_PUBKEY, result);
}

static int mon_answer_target_list(struct monitor *m, struct sk_buf *req)
{
    struct access ac;
    struct sk_buf b;
    struct sk_when when;
    time_t now = time(NULL);
    uint32_t n = 0;
    size_t i;
    int r;

    (void)req;
    sk_buf_init(&b);
    access_when(m->cfg->timezone, now, &when);
    if ((r = access_load(m->store, m->user, &ac)) != 0) {
        error_fr(r, "grants for %s", m->user);
        /* Fail closed: an empty list. */
        r = sk_buf_put_u32(&b, 0);
        goto send;
    }
    /* Each reachable target once (a grant and a request may both name
     * it), with exec if any live rule allows it. */
    for (i = 0; i < ac.n; i++) {
        struct sk_policy_grant *g = &ac.v[i];

        if (!sk_policy_grant_live(g, &when)) {
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (ac.v[j].allow_exec >= 0 &&
                sk_policy_grant_live(&ac.v[j], &when) &&
                strcmp(ac.v[j].target, g->target) == 0) {
                ac.v[j].allow_exec |= g->allow_exec;
                g->allow_exec = -1; /* listed already */
                break;
            }
        }
        n += g->allow_exec >= 0;
    }
    r = sk_buf_put_u32(&b, n);
    for (i = 0; r == 0 && i < ac.n; i++) {
        if (sk_policy_grant_live(&ac.v[i], &when) &&
            ac.v[i].allow_exec >= 0) {
            if ((r = sk_buf_put_cstring(&b, ac.v[i].target)) == 0) {
                r = sk_buf_put_u32(&b, (uint32_t)ac.v[i].allow_exec);
            }
        }
    }
    access_free(&ac);
send:
    if (r == 0) {
        r = mon_reply(m, MON_TARGET_LIST, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

/* Connects to host:port within timeout seconds. Returns the socket or -1
 * with a reason in err. */
static int mon_connect(const char *host, int port, int timeout, char *err,
                       size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[8];
    int fd = -1, rc, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    snprintf(err, errlen, "no address for %s", host);
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        struct pollfd pfd;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                                       SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            rc = poll(&pfd, 1, timeout * 1000);
            if (rc == 0) {
                errno = ETIMEDOUT;
                rc = -1;
            } else if (rc > 0) {
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
                    soerr = errno;
                }
                errno = soerr;
                rc = soerr == 0 ? 0 : -1;
            }
        }
        if (rc == 0) {
            int fl = fcntl(fd, F_GETFL);

            if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                           sizeof(one)) != 0) {
                snprintf(err, errlen, "socket setup: %s", strerror(errno));
                close(fd);
                fd = -1;
                continue;
            }
            break;
        }
        snprintf(err, errlen, "connect to %s port %d: %s", host, port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Host-key algorithms the worker offers the target, from the pinned key's
 * type: the only key we would accept anyway. */
static const char *hostkey_algos(const char *keyline)
{
    if (strncmp(keyline, "ssh-rsa ", 8) == 0) {
        return "rsa-sha2-512,rsa-sha2-256";
    }
    if (strncmp(keyline, "ssh-ed25519 ", 12) == 0) {
        return "ssh-ed25519";
    }
    if (strncmp(keyline, "ecdsa-sha2-nistp256 ", 20) == 0) {
        return "ecdsa-sha2-nistp256";
    }
    if (strncmp(keyline, "ecdsa-sha2-nistp384 ", 20) == 0) {
        return "ecdsa-sha2-nistp384";
    }
    if (strncmp(keyline, "ecdsa-sha2-nistp521 ", 20) == 0) {
        return "ecdsa-sha2-nistp521";
    }
    return NULL;
}

static int mon_open_reply(struct monitor *m, int ok, const char *msg,
                          const int *fds)
{
    uint64_t t0 = ok && m->have_rec ? m->rec.t0 : 0;
    struct sk_buf b;
    int r;

    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, (uint32_t)ok)) != 0 ||
        /* msg is for the user: in their language (the fixed ones are
         * marked N_() where they are written). */
        (r = sk_buf_put_cstring(&b, ok ? msg : sk_tr(msg))) != 0 ||
        (r = sk_buf_put_cstring(&b, ok ? m->session_id : "")) != 0 ||
        (r = sk_buf_put_cstring(&b, ok ? m->target.host : "")) != 0 ||
        (r = sk_buf_put_cstring(&b, ok ? m->target.login : "")) != 0 ||
        (r = sk_buf_put_cstring(
             &b, ok ? hostkey_algos(m->target.host_key) : "")) != 0 ||
        (r = sk_buf_put_u64(&b, t0)) != 0) {
        sk_buf_free(&b);
        return r;
    }
    r = mon_reply(m, MON_TARGET_OPEN, &b, fds, ok ? 3 : 0);
    sk_buf_free(&b);
    return r;
}

/* Splits a space-separated list of auditor public key files and loads
 * each. Returns the count, or -1 with err set. */
static int load_auditor_keys(const char *list, uint8_t (*out)[32], int max,
                             char *err, size_t errlen)
{
    char *copy = strdup(list), *save = NULL, *tok;
    int n = 0, r;

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
         tok = strtok_r(NULL, " \t,", &save)) {
        if (n == max) {
            snprintf(err, errlen, "more than %d auditor keys", max);
            n = -1;
            break;
        }
        if ((r = sk_boxkey_load_public(tok, out[n])) != 0) {
            snprintf(err, errlen, "auditor public key %s: %s", tok,
                     r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
            n = -1;
            break;
        }
        n++;
    }
    free(copy);
    if (n == 0) {
        snprintf(err, errlen, "no auditor public key configured");
        return -1;
    }
    return n;
}

static int mon_start_recorder(struct monitor *m, const char *command,
                              const char *term, int cols, int rows,
                              char *err, size_t errlen)
{
    struct sk_tr_meta meta;
    uint8_t rcpt[8][32];
    char reqid[24];
    struct timex tx;
    struct timespec now;
    int n, r, n_clk;

    if ((n = load_auditor_keys(m->cfg->auditor_pubkeys, rcpt, 8, err,
                               errlen)) < 0) {
        return -1;
    }
    memset(&tx, 0, sizeof(tx));
    clock_gettime(CLOCK_REALTIME, &now);
    memset(&meta, 0, sizeof(meta));
    meta.session = m->session_id;
    meta.user = m->user;
    meta.source = m->source;
    meta.target = m->target.name;
    meta.login = m->target.login;
    meta.mode = m->mode;
    meta.command = command;
    if (m->request_id != 0) {
        snprintf(reqid, sizeof(reqid), "%lld", (long long)m->request_id);
        meta.request = reqid;
    }
    meta.term = term[0] != '\0' ? term : NULL;
    meta.cols = cols;
    meta.rows = rows;
    meta.gateway = m->cfg->gateway_id;
    /* Auditors must know whether the wall-clock start can be trusted; a
     * kernel that will not say (ntp_adjtime refused, e.g. by a unit's
     * ProtectClock) is not a synchronised clock. */
    n_clk = ntp_adjtime(&tx);
    meta.clock_sync = sk_clock_state(n_clk);
    if (n_clk == TIME_ERROR || n_clk < 0) {
        (void)sk_audit("clock_unsynchronized", "{s:s, s:s, s:s?}", "session",
                       m->session_id, "clock", meta.clock_sync, "error",
                       n_clk < 0 ? strerror(errno) : NULL);
    }
    meta.start_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    r = rec_start(m->cfg, &meta, m->signer, (const uint8_t(*)[32])rcpt,
                  (size_t)n, &m->rec, err, errlen);
    if (r != 0) {
        return -1;
    }
    m->have_rec = 1;
    return 0;
}

static int mon_answer_target_open(struct monitor *m, struct sk_buf *req)
{
    char *target = NULL, *command = NULL, *term = NULL, why[128], err[256];
    struct access ac;
    struct sk_session_rec rec;
    uint32_t mode, cols = 0, rows = 0;
    int r, sock = -1, ap[2] = {-1, -1}, fds[3];
    const char *denied = N_("target unknown or not permitted");

    if (sk_buf_get_cstring(req, &target, SK_NAME_MAX) != 0 ||
        sk_buf_get_u32(req, &mode) != 0 ||
        sk_buf_get_cstring(req, &command, 4096) != 0 ||
        sk_buf_get_cstring(req, &term, 64) != 0 ||
        sk_buf_get_u32(req, &cols) != 0 || sk_buf_get_u32(req, &rows) != 0 ||
        cols > 10000 || rows > 10000 || !sk_utf8_valid(term, strlen(term)) ||
        mode > SK_ACCESS_EXEC || !sk_name_valid(target) ||
        (mode == SK_ACCESS_EXEC && (command[0] == '\0' ||
                                    !sk_utf8_valid(command,
                                                   strlen(command))))) {
        free(target);
        free(command);
        free(term);
        return SK_ERR_BAD_MESSAGE;
    }
    snprintf(m->mode, sizeof(m->mode), "%s",
             mode == SK_ACCESS_EXEC ? "exec" : "shell");
    /* Policy first: nothing about the target is looked at for a user who
     * may not reach it. */
    if ((r = access_load(m->store, m->user, &ac)) != 0) {
        error_fr(r, "grants for %s", m->user);
        snprintf(why, sizeof(why), "state database unavailable");
        r = SK_ERR_STORE;
    } else {
        size_t idx = 0;
        struct sk_when when;

        access_when(m->cfg->timezone, time(NULL), &when);
        r = sk_policy_match(ac.v, ac.n, target, (enum sk_access_mode)mode,
                            &when, why, sizeof(why), &idx);
        /* The session belongs to the request that allowed it, and lasts
         * at most as long as that rule says. */
        m->request_id = r == 0 ? ac.v[idx].request_id : 0;
        m->max_session = r == 0 ? ac.v[idx].max_session : 0;
        m->session_t0 = time(NULL);
        access_free(&ac);
    }
    (void)sk_audit("policy_decision", "{s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
                   "user", m->user, "source", m->source, "target", target,
                   "mode", m->mode, "decision", r == 0 ? "allow" : "deny",
                   "reason", why, "request", (json_int_t)m->request_id);
    if (r != 0) {
        logit("%s denied %s on %s: %s", m->user, m->mode, target, why);
        r = mon_open_reply(m, 0,
                           mode == SK_ACCESS_EXEC &&
                                   strcmp(why, "grant does not allow exec") ==
                                       0
                               ? N_("command execution is not permitted on "
                                    "this target")
                               : denied,
                           NULL);
        goto out;
    }
    if ((r = sk_store_target_get(m->store, target, &m->target)) != 0 ||
        hostkey_algos(m->target.host_key) == NULL) {
        error_f("target %s: %s", target,
                r ? sk_err_str(r) : "unsupported pinned key type");
        r = mon_open_reply(m, 0, denied, NULL);
        goto out;
    }
    m->have_target = 1;
    sk_session_id(m->session_id, sizeof(m->session_id), time(NULL));
    /* A session that would fill the disk mid-way ends badly for the
     * target's work and the record: refuse it while there is room. */
    {
        uint64_t avail = 0, need = 0;
        int fr = sk_min_free_check(m->cfg, m->cfg->transcript_dir, &avail,
                                   &need);

        if (fr != 1) {
            char why2[128];

            if (fr < 0) {
                snprintf(why2, sizeof(why2), "statvfs: %s", strerror(errno));
            } else {
                snprintf(why2, sizeof(why2),
                         "%llu MiB free, transcript_min_free needs %llu MiB",
                         (unsigned long long)(avail >> 20),
                         (unsigned long long)(need >> 20));
            }
            error_f("session %s refused: transcript storage %s: %s",
                    m->session_id, m->cfg->transcript_dir, why2);
            (void)sk_audit("storage_low", "{s:s, s:s, s:s, s:s, s:s, s:s}",
                           "session", m->session_id, "user", m->user,
                           "source", m->source, "target", m->target.name,
                           "dir", m->cfg->transcript_dir, "reason", why2);
            r = mon_open_reply(m, 0,
                               N_("the gateway cannot record sessions now "
                                  "(transcript storage nearly full); contact "
                                  "the administrator"),
                               NULL);
            goto out;
        }
    }
    /* No recording, no session: the recorder must have signed the
     * transcript header before anything else happens. */
    if (mon_start_recorder(m, mode == SK_ACCESS_EXEC ? command : NULL, term,
                           (int)cols, (int)rows, err, sizeof(err)) != 0) {
        error_f("session %s: cannot record: %s", m->session_id, err);
        (void)sk_audit("recording_failed", "{s:s, s:s, s:s, s:s, s:s}",
                       "session", m->session_id, "user", m->user, "source",
                       m->source, "target", m->target.name, "reason", err);
        r = mon_open_reply(m, 0,
                           N_("the session cannot be recorded, so it "
                              "cannot start; tell your administrator"),
                           NULL);
        goto out;
    }
    {
        /* Only the key the target's login trusts is loaded: a worker
         * that misuses this connection's signature can reach no target
         * of another key group. */
        char kp[PATH_MAX];

        if ((r = sk_egress_key_path(m->cfg->egress_key, m->cfg->state_dir,
                                    m->target.key_group, kp,
                                    sizeof(kp))) != 0 ||
            (m->egress == NULL && (r = sk_key_load(kp, &m->egress)) != 0)) {
            error_fr(r, "egress key of group %s", m->target.key_group);
            r = mon_open_reply(m, 0,
                               N_("gateway error: egress key unavailable"),
                               NULL);
            goto out;
        }
        sk_egress_new_conn(&m->egress_guard);
    }
    sock = mon_connect(m->target.host, m->target.port,
                       m->cfg->connect_timeout, err, sizeof(err));
    if (sock < 0) {
        logit("target %s unreachable for %s: %s", target, m->user, err);
        (void)sk_audit("target_connect_fail", "{s:s, s:s, s:s, s:s}", "user",
                       m->user, "source", m->source, "target", target,
                       "reason", err);
        snprintf(err, sizeof(err), _("target %s is not reachable"), target);
        r = mon_open_reply(m, 0, err, NULL);
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ap) != 0) {
        error_f("socketpair: %s", strerror(errno));
        r = mon_open_reply(m, 0, N_("gateway error"), NULL);
        goto out;
    }
    {
        /* A worker that stops reading replies must not hold the monitor
         * for ever (reads have a per-message deadline besides, see
         * mon_agent_handle). */
        struct timeval tv = {5, 0};

        if (setsockopt(ap[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) !=
                0 ||
            setsockopt(ap[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) !=
                0) {
            error_f("agent socket timeouts: %s", strerror(errno));
            r = mon_open_reply(m, 0, N_("gateway error"), NULL);
            goto out;
        }
    }
    /* The session is indexed before any byte flows: no record, no
     * session. */
    memset(&rec, 0, sizeof(rec));
    rec.id = m->session_id;
    rec.user = m->user;
    rec.source = m->source;
    rec.target = m->target.name;
    rec.login = m->target.login;
    rec.mode = m->mode;
    rec.start = time(NULL);
    rec.transcript = m->rec.path;
    rec.request_id = m->request_id;
    if ((r = sk_store_session_start(m->store, &rec)) != 0 ||
        (r = sk_audit("session_start",
                      "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
                      "session", m->session_id, "user", m->user, "source",
                      m->source, "target", m->target.name, "login",
                      m->target.login, "mode", m->mode, "command",
                      mode == SK_ACCESS_EXEC ? command : "", "transcript",
                      m->rec.path, "request",
                      (json_int_t)m->request_id)) != 0) {
        error_fr(r, "recording session start");
        r = mon_open_reply(m, 0,
                           N_("gateway error: cannot record the session"),
                           NULL);
        goto out;
    }
    m->session_open = 1;
    fds[0] = sock;
    fds[1] = ap[1];
    fds[2] = m->rec.worker_fd;
    m->agent_fd = ap[0];
    ap[0] = -1;
    r = mon_open_reply(m, 1, "", fds);
out:
    if (sock >= 0) {
        close(sock);
    }
    if (ap[0] >= 0) {
        close(ap[0]);
    }
    if (ap[1] >= 0) {
        close(ap[1]);
    }
    if (m->have_rec && m->rec.worker_fd >= 0) {
        /* Passed on (or not needed): the worker's end is the worker's. */
        close(m->rec.worker_fd);
        m->rec.worker_fd = -1;
    }
    if (m->have_rec && !m->session_open) {
        rec_finish(&m->rec, 5000); /* refused after all: seal and stop */
        m->have_rec = 0;
    }
    free(target);
    free(command);
    free(term);
    return r;
}

static int mon_answer_hostkey_check(struct monitor *m, struct sk_buf *req)
{
    char *key = NULL;
    size_t kl;
    int ok;

    if (!m->have_target || sk_buf_get_cstring(req, &key, 16384) != 0) {
        free(key);
        return SK_ERR_BAD_MESSAGE;
    }
    /* The whole key: a prefix of the pin (its type alone, say) is no
     * match. */
    kl = strlen(key);
    ok = sk_hostkey_equal(m->target.host_key, key);
    if (!ok) {
        char *shown = sk_utf8_repair(key, kl > 200 ? 200 : kl);

        error_f("HOST KEY MISMATCH for target %s (%s:%d)", m->target.name,
                m->target.host, m->target.port);
        (void)sk_audit("target_hostkey_mismatch",
                       "{s:s, s:s, s:s, s:s?, s:s}", "session", m->session_id,
                       "user", m->user, "target", m->target.name, "presented",
                       shown, "pinned", m->target.host_key);
        free(shown);
    }
    free(key);
    return mon_reply_u32(m, MON_HOSTKEY_CHECK, (uint32_t)ok);
}

static int mon_answer_upstream_ready(struct monitor *m, struct sk_buf *req)
{
    uint32_t ok;
    char *err = NULL, *shown;

    if (!m->have_target || sk_buf_get_u32(req, &ok) != 0 ||
        sk_buf_get_cstring(req, &err, 1024) != 0) {
        free(err);
        return SK_ERR_BAD_MESSAGE;
    }
    shown = sk_utf8_repair(err, strlen(err));
    if (ok) {
        m->relaying = 1;
        m->next_check = 0; /* warnings wait for the target leg: now */
        logit("session %s: %s connected to %s as %s", m->session_id, m->user,
              m->target.name, m->target.login);
    } else {
        logit("session %s: target %s failed: %s", m->session_id,
              m->target.name, shown ? shown : "?");
    }
    (void)sk_audit(ok ? "target_connect_ok" : "target_connect_fail",
                   "{s:s, s:s, s:s, s:s, s:s?}", "session", m->session_id,
                   "user", m->user, "source", m->source, "target",
                   m->target.name, "reason", ok ? NULL : shown);
    free(shown);
    free(err);
    /* The egress key has done its one job for this connection. */
    if (m->agent_fd >= 0) {
        close(m->agent_fd);
        m->agent_fd = -1;
    }
    sk_key_free(m->egress);
    m->egress = NULL;
    return mon_reply_u32(m, MON_UPSTREAM_READY, 1);
}

static void mon_record_end(struct monitor *m, uint64_t in, uint64_t out,
                           uint32_t status, const char *reason)
{
    struct sk_session_rec rec;
    int r;

    if (!m->session_open || m->session_ended) {
        return;
    }
    m->session_ended = 1;
    m->relaying = 0; /* no more notices: the worker is on its way out */
    if (m->have_rec) {
        /* The worker has closed its end; the seal follows at once. */
        rec_finish(&m->rec, 10000);
    }
    memset(&rec, 0, sizeof(rec));
    rec.id = m->session_id;
    rec.target = m->target.name;
    rec.login = m->target.login;
    rec.mode = m->mode;
    rec.end = time(NULL);
    rec.bytes_in = (int64_t)in;
    rec.bytes_out = (int64_t)out;
    rec.exit_status = status == SK_NO_EXIT_STATUS ? -1 : (int)status;
    rec.end_reason = (char *)reason;
    rec.transcript_hash = m->have_rec && m->rec.sealed ? m->rec.hash : NULL;
    if ((r = sk_store_session_end(m->store, &rec)) != 0) {
        error_fr(r, "session %s end", m->session_id);
    }
    logit("session %s ended: %s, in %llu out %llu bytes, exit %d",
          m->session_id, reason, (unsigned long long)in,
          (unsigned long long)out, rec.exit_status);
    /* The transcript's sealed chain value goes into the audit chain: a
     * transcript deleted, swapped or cut after the fact no longer matches
     * its session_end line. */
    (void)sk_audit("session_end",
                   "{s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s?, s:s?, s:I}",
                   "session", m->session_id, "user", m->user, "target",
                   m->target.name, "bytes_in", (json_int_t)in, "bytes_out",
                   (json_int_t)out, "exit_status", rec.exit_status, "reason",
                   reason, "transcript", m->have_rec ? m->rec.path : NULL,
                   "transcript_hash", rec.transcript_hash,
                   "transcript_size",
                   (json_int_t)(m->have_rec && m->rec.sealed ? m->rec.size
                                                             : 0));
}

static int mon_answer_session_end(struct monitor *m, struct sk_buf *req)
{
    uint64_t in, out;
    uint32_t status;
    char *reason = NULL, *shown;

    if (sk_buf_get_u64(req, &in) != 0 || sk_buf_get_u64(req, &out) != 0 ||
        sk_buf_get_u32(req, &status) != 0 ||
        sk_buf_get_cstring(req, &reason, 256) != 0) {
        free(reason);
        return SK_ERR_BAD_MESSAGE;
    }
    shown = sk_utf8_repair(reason, strlen(reason));
    /* The seal, which the worker triggers by closing the event socket
     * after sending this request, counts from here (rec_finish waits for
     * it); then the worker must exit soon (mon_loop). */
    mon_record_end(m, in, out, status, shown ? shown : "?");
    m->ended_at = time(NULL);
    free(shown);
    free(reason);
    return mon_reply_u32(m, MON_SESSION_END, 1);
}

/* Sets a new password for the authenticated (or change-pending) user after
 * every check: current password (if given), both entries equal, policy,
 * history. Returns 0, or -1 with a reason for the user. */
static int mon_set_password(struct monitor *m, const char *current,
                            const char *npw, const char *again,
                            const char *why, char *reason, size_t reasonlen)
{
    char hash[SK_PW_HASH_MAX];
    struct sk_pw_policy pol;
    struct sk_user u;
    int r, rc = -1;

    memset(&u, 0, sizeof(u));
    if ((r = sk_store_user_get(m->store, m->user, &u)) != 0) {
        snprintf(reason, reasonlen, "state database unavailable");
        goto out;
    }
    if (current != NULL && sk_pw_verify(u.pw_hash, current) != 0) {
        snprintf(reason, reasonlen, "%s", N_("the current password is wrong"));
        goto out;
    }
    if (!sk_auth_pw_min_age_ok(&u, m->cfg->password_min_age, time(NULL))) {
        snprintf(reason, reasonlen,
                 "the password was changed less than %d day(s) ago",
                 m->cfg->password_min_age);
        goto out;
    }
    if (strcmp(npw, again) != 0) {
        snprintf(reason, reasonlen, "%s", N_("the two new passwords differ"));
        goto out;
    }
    sk_pw_policy_default(&pol);
    if (sk_pw_change_check(m->store, &pol, m->user, u.pw_hash, npw,
                           m->cfg->password_history, reason,
                           reasonlen) != 0) {
        goto out;
    }
    if ((r = sk_pw_hash(npw, hash, sizeof(hash))) != 0 ||
        (r = sk_store_user_set_password(m->store, m->user, hash, time(NULL),
                                        m->cfg->password_history)) != 0 ||
        (r = sk_store_user_pw_by_admin(m->store, m->user, 0)) != 0) {
        snprintf(reason, reasonlen, "%s", N_("could not store the password"));
        sodium_memzero(hash, sizeof(hash));
        goto out;
    }
    sodium_memzero(hash, sizeof(hash));
    (void)sk_audit("password_changed", "{s:s, s:s, s:s}", "user", m->user,
                   "source", m->source, "why", why);
    rc = 0;
out:
    if (rc != 0) {
        (void)sk_audit("password_change_refused", "{s:s, s:s, s:s}", "user",
                       m->user, "source", m->source, "reason", reason);
    }
    sk_user_clear(&u);
    return rc;
}

/* Shared by both change requests: reads the strings, decides, replies
 * u32 result + string reason. current_too: the request starts with the
 * current password (user-initiated change). */
static int mon_password_request(struct monitor *m, struct sk_buf *req,
                                uint32_t type, int current_too)
{
    char *cur = NULL, *npw = NULL, *again = NULL, reason[256] = "";
    struct sk_buf b;
    uint32_t result = MON_AUTH_FAIL;
    int r;

    if ((current_too && sk_buf_get_cstring(req, &cur, SK_PW_MAX) != 0) ||
        sk_buf_get_cstring(req, &npw, SK_PW_MAX) != 0 ||
        sk_buf_get_cstring(req, &again, SK_PW_MAX) != 0) {
        snprintf(reason, sizeof(reason), "password too long or malformed");
    } else if (mon_set_password(m, current_too ? cur : NULL, npw, again,
                                current_too ? "user" : "expired", reason,
                                sizeof(reason)) == 0) {
        result = MON_AUTH_OK;
        reason[0] = '\0';
    }
    if (result == MON_AUTH_FAIL &&
        ++m->change_tries >= m->cfg->max_auth_tries) {
        result = MON_AUTH_FAIL_DISCONNECT;
    }
    sk_secret_free(cur);
    sk_secret_free(npw);
    sk_secret_free(again);
    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, result)) == 0 &&
        (r = sk_buf_put_cstring(&b, reason)) == 0) {
        r = mon_reply(m, type, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

static int mon_answer_passwd(struct monitor *m, struct sk_buf *req)
{
    if (m->change_tries >= m->cfg->max_auth_tries) {
        return SK_ERR_BAD_MESSAGE; /* the worker was told to stop */
    }
    return mon_password_request(m, req, MON_PASSWD, 1);
}

static int mon_answer_refused(struct monitor *m, struct sk_buf *req)
{
    char *kind = NULL, *detail = NULL, *k = NULL, *d = NULL;

    if (sk_buf_get_cstring(req, &kind, 64) != 0 ||
        sk_buf_get_cstring(req, &detail, 256) != 0) {
        free(kind);
        return SK_ERR_BAD_MESSAGE;
    }
    if (!mon_rate_ok(m, &m->rate_refused, "request_refused")) {
        free(kind);
        free(detail);
        return 0;
    }
    k = sk_utf8_repair(kind, strlen(kind));
    d = sk_utf8_repair(detail, strlen(detail));
    (void)sk_audit("request_refused", "{s:s, s:s, s:s?, s:s?, s:s?}", "user",
                   m->user, "source", m->source, "session",
                   m->session_id[0] ? m->session_id : NULL, "kind", k,
                   "detail", d && d[0] ? d : NULL);
    free(k);
    free(d);
    free(kind);
    free(detail);
    return 0;
}

static int mon_reply_msg(struct monitor *m, uint32_t type, int ok,
                         const char *msg)
{
    struct sk_buf b;
    int r;

    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, (uint32_t)ok)) == 0 &&
        (r = sk_buf_put_cstring(&b, msg)) == 0) {
        r = mon_reply(m, type, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

static int mon_answer_request(struct monitor *m, struct sk_buf *req)
{
    char *target = NULL, *reason = NULL, *start = NULL, *dur = NULL,
         *ticket = NULL, msg[300];
    int64_t id = 0;
    int ok, r;

    if (sk_buf_get_cstring(req, &target, SK_NAME_MAX) != 0 ||
        sk_buf_get_cstring(req, &reason, SK_REQ_REASON_MAX) != 0 ||
        sk_buf_get_cstring(req, &start, 63) != 0 ||
        sk_buf_get_cstring(req, &dur, 31) != 0 ||
        sk_buf_get_cstring(req, &ticket, 64) != 0 ||
        !sk_utf8_valid(reason, strlen(reason)) ||
        !sk_utf8_valid(start, strlen(start)) ||
        !sk_utf8_valid(dur, strlen(dur)) ||
        !sk_utf8_valid(ticket, strlen(ticket))) {
        r = SK_ERR_BAD_MESSAGE;
        goto out;
    }
    ok = rq_create(m->store, m->cfg, m->user, target, reason, start, dur,
                   ticket, time(NULL), &id, msg, sizeof(msg)) == 0;
    r = mon_reply_msg(m, MON_REQUEST, ok, msg);
out:
    free(target);
    free(reason);
    free(start);
    free(dur);
    free(ticket);
    return r;
}

struct req_text {
    struct sk_buf *b;
    const char *user;
    const char *tz; /* times for the person: the gateway's zone */
    int approver;
    int n;
};

static int req_text_cb(const struct sk_request *q, void *arg)
{
    struct req_text *t = arg;
    char line[1400];
    time_t now = time(NULL);

    /* Own requests, and for approvers the ones they can act on. */
    if (strcmp(q->user, t->user) != 0 &&
        !(t->approver && (strcmp(q->state, "pending") == 0 ||
                          strcmp(q->state, "reported") == 0))) {
        return 0;
    }
    rq_line_local(q, now, t->tz, line, sizeof(line));
    if (sk_buf_put(t->b, line, strlen(line)) != 0 ||
        sk_buf_put(t->b, "\n", 1) != 0) {
        return -1;
    }
    return ++t->n >= 150; /* enough for a terminal, within one frame */
}

static int mon_answer_requests(struct monitor *m, struct sk_buf *req)
{
    struct sk_buf text, b;
    struct sk_user u;
    struct req_text t;
    int r;

    (void)req;
    sk_buf_init(&text);
    sk_buf_init(&b);
    memset(&t, 0, sizeof(t));
    t.b = &text;
    t.user = m->user;
    t.tz = m->cfg->timezone;
    if (sk_store_user_get(m->store, m->user, &u) == 0) {
        t.approver = sk_req_is_approver(u.role);
        sk_user_clear(&u);
    }
    if (sk_store_request_list(m->store, NULL, req_text_cb, &t) != 0) {
        sk_buf_reset(&text);
        (void)sk_buf_put(&text, _("state unavailable\n"),
                         strlen(_("state unavailable\n")));
    } else if (t.n == 0) {
        (void)sk_buf_put(&text, _("no requests\n"),
                         strlen(_("no requests\n")));
    }
    if ((r = sk_buf_put_string(&b, sk_buf_ptr(&text), sk_buf_avail(&text))) ==
        0) {
        r = mon_reply(m, MON_REQUESTS, &b, NULL, 0);
    }
    sk_buf_free(&text);
    sk_buf_free(&b);
    return r;
}

/* The session's language once the user is known (MON_LANG): what the
 * client's LANG asks for, else the user's own, else the gateway's. Never
 * before login: the user's own would tell who exists. */
static int mon_answer_lang(struct monitor *m, struct sk_buf *req)
{
    char *env = NULL, own[8] = "";
    const char *lang;
    struct sk_buf b;
    int r;

    if (sk_buf_get_cstring(req, &env, 64) != 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    lang = sk_lang_from_env(env);
    free(env);
    if (lang == NULL &&
        sk_store_user_get_lang(m->store, m->user, own, sizeof(own)) == 0 &&
        sk_lang_valid(own)) {
        lang = own;
    }
    if (lang == NULL) {
        lang = m->cfg->language;
    }
    if (sk_i18n_use(lang) != 0) {
        return SK_ERR_INTERNAL;
    }
    sk_buf_init(&b);
    if ((r = sk_buf_put_cstring(&b, sk_i18n_lang())) == 0) {
        r = mon_reply(m, MON_LANG, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

static int mon_answer_request_act(struct monitor *m, struct sk_buf *req)
{
    uint32_t act;
    uint64_t id;
    char *text = NULL, msg[300];
    struct sk_user u;
    int ok, r;

    if (sk_buf_get_u32(req, &act) != 0 || sk_buf_get_u64(req, &id) != 0 ||
        sk_buf_get_cstring(req, &text, SK_REQ_REASON_MAX) != 0 ||
        act > SK_REQ_SIGNOFF || id == 0 || id > INT64_MAX ||
        !sk_utf8_valid(text, strlen(text))) {
        free(text);
        return SK_ERR_BAD_MESSAGE;
    }
    /* The role as it is now, not as it was at login. */
    if (sk_store_user_get(m->store, m->user, &u) != 0) {
        free(text);
        return mon_reply_msg(m, MON_REQUEST_ACT, 0, "state unavailable");
    }
    ok = rq_act(m->store, m->cfg, (int64_t)id, (enum sk_req_action)act,
                m->user, u.role, NULL, text[0] ? text : NULL, time(NULL),
                msg, sizeof(msg)) == 0;
    sk_user_clear(&u);
    free(text);
    r = mon_reply_msg(m, MON_REQUEST_ACT, ok, msg);
    return r;
}

/* The recorder is forked from the monitor after the host key is loaded:
 * it drops its copy at once (EVP_PKEY_free clears the key), so the key
 * lives in the monitor alone. */
static struct sk_hostsigner **mon_hostkey_slot;

static void mon_scrub_recorder(void)
{
    if (mon_hostkey_slot != NULL) {
        sk_hostkey_free(*mon_hostkey_slot);
        *mon_hostkey_slot = NULL;
    }
}

/* The recorder's confinement (recorder-proc.h): the worker's account and
 * chroot, death with the monitor, then its own narrower seccomp list. */
static int mon_confine_recorder(const struct sk_config *cfg, pid_t monitor)
{
    sk_drop_privileges(cfg);
    sk_die_with_parent(monitor);
    return sandbox_apply_recorder(cfg->sandbox_debug);
}

static int mon_answer_hostkey_pub(struct monitor *m, struct sk_buf *req)
{
    struct sk_buf b;
    int r;

    (void)req;
    sk_buf_init(&b);
    if ((r = sk_buf_put_string(&b, m->hk_blob, m->hk_bloblen)) == 0) {
        r = mon_reply(m, MON_HOSTKEY_PUB, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

/* A signature with the host key for the worker's libssh (hostkey.h):
 * only of an exchange hash, with the digest the key type uses, within the
 * connection's budget. A refusal is a protocol violation: the connection
 * ends (an honest worker never asks for anything else). */
static int mon_answer_hostkey_sign(struct monitor *m, struct sk_buf *req)
{
    const uint8_t *d;
    uint8_t sig[SK_HOSTKEY_SIG_MAX];
    size_t n, siglen = 0;
    uint32_t nid;
    const char *why;
    struct sk_buf b;
    int r;

    if (sk_buf_get_u32(req, &nid) != 0 || nid > INT32_MAX ||
        sk_buf_get_string_direct(req, &d, &n) != 0 ||
        sk_buf_avail(req) != 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    why = sk_hostkey_sign_check(sk_hostkey_type(m->hostkey), (int)nid, n,
                                m->hk_signs, !m->authenticated);
    if (why == NULL && sk_hostkey_sign(m->hostkey, (int)nid, d, n, sig,
                                       sizeof(sig), &siglen) != 0) {
        why = "signing failed";
    }
    if (why != NULL) {
        error_f("refused a host key signature: %s", why);
        (void)sk_audit("hostkey_sign_refused", "{s:s, s:s, s:i, s:i}",
                       "source", m->source, "reason", why, "given",
                       m->hk_signs, "length", (int)n);
        return SK_ERR_BAD_MESSAGE;
    }
    if (m->hk_signs++ == 0) {
        memcpy(m->kex_sid, d, n); /* n <= 64: sk_hostkey_sign_check */
        m->kex_sidlen = n;
    } else {
        logit("host key signature %d (key re-exchange)", m->hk_signs);
    }
    sk_buf_init(&b);
    if ((r = sk_buf_put_u32(&b, 1)) == 0 &&
        (r = sk_buf_put_string(&b, sig, siglen)) == 0) {
        r = mon_reply(m, MON_HOSTKEY_SIGN, &b, NULL, 0);
    }
    sk_buf_free(&b);
    return r;
}

/* Is the person still who may run the command: account active, the
 * role still held? NULL, or why the command is ended. */
static const char *mon_gwcmd_recheck(struct monitor *m, const char *role)
{
    struct sk_user u;
    const char *why = NULL;
    int r;

    if ((r = sk_store_user_get(m->store, m->user, &u)) != 0) {
        /* what cannot be checked does not go on */
        return r == SK_ERR_NOT_FOUND ? N_("account removed")
                                     : N_("state unavailable");
    }
    if (u.removed != 0) {
        why = N_("account removed");
    } else if (u.status != SK_USER_ACTIVE ||
               u.locked_until > (int64_t)time(NULL)) {
        why = N_("account locked or disabled");
    } else if (sk_auth_account_expired(&u, time(NULL))) {
        why = N_("account expired");
    } else if (role != NULL && !sk_roles_has(u.role, role)) {
        why = N_("role withdrawn");
    }
    sk_user_clear(&u);
    return why;
}

/* A gateway command (policy/command.h, gwcmd.h): the rule checked again
 * here on what the worker sent, the role as it is now in the store, then
 * sekishoctl started for the person and its stdio handed to the worker. */
static int mon_answer_gwcmd(struct monitor *m, struct sk_buf *req)
{
    char *words[SK_CMD_ARGS_MAX], *term = NULL, msg[300], err[256];
    const char *argv[SK_CMD_ARGS_MAX], *role = NULL, *why;
    uint32_t argc = 0, pty, cols, rows;
    int fds[2] = {-1, -1}, nfds = 0, r = SK_ERR_BAD_MESSAGE;
    uint32_t k, got = 0;

    if (sk_buf_get_u32(req, &argc) != 0 || argc < 1 ||
        argc > SK_CMD_ARGS_MAX) {
        return SK_ERR_BAD_MESSAGE;
    }
    for (k = 0; k < argc; k++, got++) {
        if (sk_buf_get_cstring(req, &words[k], SK_CMD_MAX) != 0) {
            goto out;
        }
        argv[k] = words[k];
        /* The parser refused control characters; a worker that did not
         * is not believed. */
        if (!sk_utf8_valid(words[k], strlen(words[k])) ||
            sk_cmd_has_controls(words[k], strlen(words[k]))) {
            got++;
            goto out;
        }
    }
    if (sk_buf_get_u32(req, &pty) != 0 ||
        sk_buf_get_cstring(req, &term, 63) != 0 ||
        sk_buf_get_u32(req, &cols) != 0 || sk_buf_get_u32(req, &rows) != 0) {
        goto out;
    }
    {
        /* English for the audit line; the refusal is said again below in
         * the session's language */
        const char *lang = sk_i18n_english();

        r = sk_cmd_gw_check((int)argc, argv, &role, err, sizeof(err));
        (void)sk_i18n_use(lang);
    }
    if (r != 0) {
        size_t el = strlen(err);

        while (el > 0 && !sk_utf8_valid(err, el)) { /* a cut character */
            err[--el] = '\0';
        }
        (void)sk_audit("command_refused", "{s:s, s:s, s:s, s:s}", "user",
                       m->user, "source", m->source, "command", argv[0],
                       "reason", err);
        (void)sk_cmd_gw_check((int)argc, argv, &role, err, sizeof(err));
        r = mon_reply_msg(m, MON_GWCMD, 0, err);
        goto out;
    }
    {
        char line[512];
        size_t o = 0;

        line[0] = '\0';
        for (k = 0; k < argc && o < sizeof(line) - 1; k++) {
            int n = snprintf(line + o, sizeof(line) - o, "%s%s",
                             k ? " " : "", argv[k]);

            o = n < 0 ? o : o + (size_t)n;
        }
        if (o > sizeof(line) - 1) {
            o = sizeof(line) - 1;
        }
        /* a cut may split a character; audit lines are UTF-8 */
        while (o > 0 && !sk_utf8_valid(line, o)) {
            line[--o] = '\0';
        }
        if ((why = mon_gwcmd_recheck(m, role)) != NULL) {
            int norole = strcmp(why, "role withdrawn") == 0;

            if (norole) {
                snprintf(msg, sizeof(msg), _("%s %s needs the %s role"),
                         argv[0], argc > 1 ? argv[1] : "", role);
                why = "role not held";
            } else {
                snprintf(msg, sizeof(msg), "%s", sk_tr(why));
            }
            (void)sk_audit("command_refused",
                           "{s:s, s:s, s:s, s:s, s:s}", "user", m->user,
                           "source", m->source, "command", line,
                           "role_needed", role, "reason", why);
            logit("%s refused: %s (%s)", m->user, line, why);
            r = mon_reply_msg(m, MON_GWCMD, 0, msg);
            goto out;
        }
        (void)sk_audit("gateway_command", "{s:s, s:s, s:s, s:s, s:b}",
                       "user", m->user, "source", m->source, "command",
                       line, "role", role, "pty", pty != 0);
        logit("%s runs gateway command: %s", m->user, line);
    }
    if (gwcmd_spawn(m->cfg, m->user, (int)argc, argv, pty != 0, term,
                    (int)cols, (int)rows, &m->cmd, fds, &nfds, msg,
                    sizeof(msg)) != 0) {
        r = mon_reply_msg(m, MON_GWCMD, 0, msg);
        goto out;
    }
    snprintf(m->cmd_role, sizeof(m->cmd_role), "%s", role);
    {
        struct sk_buf b;

        sk_buf_init(&b);
        if ((r = sk_buf_put_u32(&b, 1)) == 0 &&
            (r = sk_buf_put_cstring(&b, "")) == 0) {
            r = mon_reply(m, MON_GWCMD, &b, fds, nfds);
        }
        sk_buf_free(&b);
    }
out:
    for (int f = 0; f < 2; f++) {
        if (fds[f] >= 0) {
            close(fds[f]);
        }
    }
    for (k = 0; k < got && k < argc; k++) {
        free(words[k]);
    }
    free(term);
    return r;
}

/* The worker's relay ended (the command closed its output, or the client
 * left: then it is killed). Replies with the exit status. */
static int mon_answer_gwcmd_end(struct monitor *m, struct sk_buf *req)
{
    uint32_t gone;
    int st;

    if (sk_buf_get_u32(req, &gone) != 0 || m->cmd.pid <= 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    st = gwcmd_finish(&m->cmd, gone != 0, 5);
    (void)sk_audit("gateway_command_end", "{s:s, s:s, s:i, s:b}", "user",
                   m->user, "command", m->cmd.line, "status", st,
                   "client_gone", gone != 0);
    return mon_reply_u32(m, MON_GWCMD_END, (uint32_t)st);
}

/* A window change for the command's pty; unasked, so bounded like the
 * worker's log lines. One that crosses the command's end is dropped. */
static int mon_answer_gwcmd_resize(struct monitor *m, struct sk_buf *req)
{
    uint32_t cols, rows;

    if (sk_buf_get_u32(req, &cols) != 0 || sk_buf_get_u32(req, &rows) != 0) {
        return SK_ERR_BAD_MESSAGE;
    }
    if (m->cmd.pid > 0 && mon_rate_ok(m, &m->rate_log, "resize") &&
        cols <= 1000 && rows <= 1000) {
        (void)gwcmd_resize(&m->cmd, (int)cols, (int)rows);
    }
    return 0;
}

static const struct mon_dispatch mon_dispatch[] = {
    {MON_HOSTKEY_PUB, MON_PREAUTH | MON_ONCE, mon_answer_hostkey_pub},
    {MON_HOSTKEY_SIGN, MON_ANYSTATE, mon_answer_hostkey_sign},
    {MON_GWCMD_RESIZE, MON_POSTAUTH, mon_answer_gwcmd_resize},
    {MON_GWCMD, MON_POSTAUTH | MON_ONCE, mon_answer_gwcmd},
    {MON_GWCMD_END, MON_POSTAUTH | MON_ONCE, mon_answer_gwcmd_end},
    {MON_REQUEST, MON_POSTAUTH | MON_ONCE, mon_answer_request},
    {MON_REQUESTS, MON_POSTAUTH | MON_ONCE, mon_answer_requests},
    {MON_REQUEST_ACT, MON_POSTAUTH | MON_ONCE, mon_answer_request_act},
    {MON_LOG, MON_ANYSTATE, mon_answer_log},
    {MON_AUTH_PASSWORD, MON_PREAUTH, mon_answer_auth_password},
    {MON_PAM_START, MON_PREAUTH, mon_answer_pam_start},
    {MON_AUTH_PUBKEY, MON_PREAUTH, mon_answer_auth_pubkey},
    {MON_AUTH_METHODS, MON_PREAUTH, mon_answer_auth_methods},
    {MON_LANG, MON_POSTAUTH | MON_ONCE, mon_answer_lang},
    {MON_TARGET_LIST, MON_POSTAUTH, mon_answer_target_list},
    {MON_TARGET_OPEN, MON_POSTAUTH | MON_ONCE, mon_answer_target_open},
    {MON_HOSTKEY_CHECK, MON_POSTAUTH | MON_ONCE, mon_answer_hostkey_check},
    {MON_UPSTREAM_READY, MON_POSTAUTH | MON_ONCE, mon_answer_upstream_ready},
    {MON_SESSION_END, MON_POSTAUTH | MON_ONCE, mon_answer_session_end},
    {MON_REFUSED, MON_POSTAUTH, mon_answer_refused},
    {MON_PASSWD, MON_POSTAUTH, mon_answer_passwd},
};

/* Handles one worker message. Returns 0, SK_ERR_EOF when the worker is
 * gone, or another error for a protocol violation (fatal to the
 * connection). */
static int mon_handle(struct monitor *m)
{
    struct sk_buf b;
    uint32_t type;
    size_t i;
    int r;

    sk_buf_init(&b);
    if ((r = sk_ipc_recv(m->ipc, &type, &b, NULL, NULL)) != 0) {
        sk_buf_free(&b);
        return r;
    }
    for (i = 0; i < sizeof(mon_dispatch) / sizeof(mon_dispatch[0]); i++) {
        const struct mon_dispatch *d = &mon_dispatch[i];

        if (d->type != type) {
            continue;
        }
        if (!(d->flags & (m->authenticated ? MON_POSTAUTH : MON_PREAUTH))) {
            error_f("request %u not permitted %s authentication", type,
                    m->authenticated ? "after" : "before");
            r = SK_ERR_BAD_MESSAGE;
            break;
        }
        if ((d->flags & MON_ONCE) && m->used[type]++) {
            error_f("request %u repeated", type);
            r = SK_ERR_BAD_MESSAGE;
            break;
        }
        /* One connection is a target session or a gateway command, never
         * both: their supervision is one recheck, and an honest worker
         * asks for one of them. */
        if ((type == MON_GWCMD && m->used[MON_TARGET_OPEN]) ||
            (type == MON_TARGET_OPEN && m->used[MON_GWCMD])) {
            error_f("request %u after the other kind of session", type);
            r = SK_ERR_BAD_MESSAGE;
            break;
        }
        r = d->fn(m, &b);
        sk_buf_free(&b);
        return r;
    }
    if (i == sizeof(mon_dispatch) / sizeof(mon_dispatch[0])) {
        error_f("unknown request type %u", type);
        r = SK_ERR_BAD_MESSAGE;
    }
    sk_buf_free(&b);
    return r;
}

/*
 * ssh-agent protocol (draft-miller-ssh-agent), the two requests a client
 * needs: list identities and sign. Signing is allowed only for an SSH
 * userauth request naming the target's login and key, once per
 * connection and never for a session identifier signed before (egress.h),
 * so a compromised worker cannot use the egress key as a signing oracle.
 */
#define AGENT_FAILURE 5
#define AGENTC_REQUEST_IDENTITIES 11
#define AGENT_IDENTITIES_ANSWER 12
#define AGENTC_SIGN_REQUEST 13
#define AGENT_SIGN_RESPONSE 14

static int agent_write_msg(int fd, struct sk_buf *body)
{
    struct sk_buf out;
    size_t off = 0;
    ssize_t w;
    int r;

    sk_buf_init(&out);
    if ((r = sk_buf_put_string(&out, sk_buf_ptr(body), sk_buf_avail(body))) !=
        0) {
        sk_buf_free(&out);
        return r;
    }
    while (off < out.len) {
        w = write(fd, out.data + off, out.len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            sk_buf_free(&out);
            return SK_ERR_EOF;
        }
        off += (size_t)w;
    }
    sk_buf_free(&out);
    return 0;
}

/* Decides a sign request (egress.h has the rules): this monitor's memory
 * and the connection's budget first, then the store, which remembers the
 * session identifiers every monitor signed. Returns 0 (sign) or a
 * reason for the audit line. */
static const char *agent_sign_refusal(struct monitor *m, const uint8_t *data,
                                      size_t dl, const uint8_t *blob,
                                      size_t bl,
                                      uint8_t idhash[SK_EGRESS_IDHASH_LEN])
{
    char hex[SK_EGRESS_IDHASH_LEN * 2 + 1];
    int r;

    r = sk_egress_check(&m->egress_guard, data, dl, m->target.login, blob,
                        bl, idhash);
    if (r == SK_ERR_EXISTS) {
        return "session identifier signed before";
    }
    if (r == SK_ERR_DENIED) {
        return "this connection's signature was given";
    }
    if (r != 0) {
        return "not a userauth request for the target's login and key";
    }
    sk_egress_idhash_hex(idhash, hex, sizeof(hex));
    r = sk_store_egress_claim(m->store, hex, m->target.name, time(NULL));
    if (r == SK_ERR_EXISTS) {
        return "session identifier signed before";
    }
    if (r != 0) {
        return "state database unavailable"; /* fail closed */
    }
    return NULL;
}

/* Serves one agent request. Returns 0, or -1 when the agent channel should
 * be closed. */
static int mon_agent_handle(struct monitor *m)
{
    uint8_t hdr[4], blob[64], sig[128];
    struct sk_buf req, rep;
    uint32_t len;
    uint8_t type;
    int bl, r = -1;
    size_t siglen;
    int64_t deadline;

    sk_buf_init(&req);
    sk_buf_init(&rep);
    /* One deadline for the whole message: a worker trickling a byte at
     * a time gets no longer than one that sends nothing. */
    deadline = sk_mono_ms() + SK_EGRESS_MSG_DEADLINE_MS;
    if (sk_read_deadline(m->agent_fd, hdr, 4, deadline) != 0) {
        error_f("agent message not received in time");
        goto out;
    }
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
          (uint32_t)hdr[2] << 8 | hdr[3];
    if (len == 0 || len > 64 * 1024) {
        goto out;
    }
    {
        uint8_t *body = malloc(len);

        if (body == NULL ||
            sk_read_deadline(m->agent_fd, body, len, deadline) != 0 ||
            sk_buf_put(&req, body, len) != 0) {
            free(body);
            goto out;
        }
        free(body);
    }
    if (sk_buf_get_u8(&req, &type) != 0 || m->egress == NULL) {
        goto out;
    }
    bl = sk_key_pub_blob(m->egress, blob, sizeof(blob));
    if (bl < 0) {
        goto out;
    }
    if (type == AGENTC_REQUEST_IDENTITIES) {
        if (sk_buf_put_u8(&rep, AGENT_IDENTITIES_ANSWER) != 0 ||
            sk_buf_put_u32(&rep, 1) != 0 ||
            sk_buf_put_string(&rep, blob, (size_t)bl) != 0 ||
            sk_buf_put_cstring(&rep, "sekisho-egress") != 0) {
            goto out;
        }
    } else if (type == AGENTC_SIGN_REQUEST) {
        const uint8_t *kb, *data;
        size_t kbl, dl;
        uint32_t flags;
        uint8_t idhash[SK_EGRESS_IDHASH_LEN];
        const char *why = NULL;

        if (sk_buf_get_string_direct(&req, &kb, &kbl) != 0 ||
            sk_buf_get_string_direct(&req, &data, &dl) != 0 ||
            sk_buf_get_u32(&req, &flags) != 0 || kbl != (size_t)bl ||
            memcmp(kb, blob, kbl) != 0) {
            why = "not a request for the egress key";
        } else if ((why = agent_sign_refusal(m, data, dl, blob, (size_t)bl,
                                             idhash)) == NULL &&
                   sk_key_sign_ssh(m->egress, data, dl, sig, sizeof(sig),
                                   &siglen) != 0) {
            why = "signing failed";
        }
        if (why == NULL) {
            /* Spent whether or not the target accepts it. */
            sk_egress_note(&m->egress_guard, idhash);
        }
        if (why != NULL) {
            error_f("refused an egress-key signature request: %s", why);
            (void)sk_audit("egress_sign_refused", "{s:s, s:s, s:s, s:s}",
                           "session", m->session_id, "user", m->user,
                           "target", m->target.name, "reason", why);
            if (sk_buf_put_u8(&rep, AGENT_FAILURE) != 0) {
                goto out;
            }
            /* One refusal and the agent is closed: a worker looping sign
             * requests would otherwise write an audit line for each. */
            (void)agent_write_msg(m->agent_fd, &rep);
            goto out;
        } else {
            if (sk_buf_put_u8(&rep, AGENT_SIGN_RESPONSE) != 0 ||
                sk_buf_put_string(&rep, sig, siglen) != 0) {
                goto out;
            }
        }
    } else if (sk_buf_put_u8(&rep, AGENT_FAILURE) != 0) {
        goto out;
    }
    r = agent_write_msg(m->agent_fd, &rep) == 0 ? 0 : -1;
out:
    sk_buf_free(&req);
    sk_buf_free(&rep);
    return r;
}

/* Re-checks, while a session runs, that it is still allowed: the account
 * active and the grant live (R-ACCT-1: people who leave lose access at
 * once; R-AC-5: access ends with its window). Returns NULL or the reason
 * to end it. */
/* A message for the user mid-session (MON_NOTICE). */
static void mon_notice(struct monitor *m, const char *text)
{
    struct sk_buf b;

    sk_buf_init(&b);
    if (sk_buf_put_cstring(&b, text) == 0) {
        (void)sk_ipc_send(m->ipc, MON_NOTICE, &b, NULL, 0);
    }
    sk_buf_free(&b);
}

static void mon_recheck_clear(struct monitor *m)
{
    if (m->rc_loaded) {
        sk_user_clear(&m->rc_user);
        access_free(&m->rc_access);
        m->rc_loaded = 0;
    }
}

static const char *mon_recheck(struct monitor *m)
{
    struct sk_user u;
    struct access ac;
    int64_t gen = 0;
    int have_gen = 0, fresh_needed;
    const char *why = NULL;
    char detail[128], *kill = NULL;
    size_t idx = 0;
    time_t now = time(NULL);
    struct sk_when when;
    int r;

    /* No rule changed since the last read: the kill request, the account
     * and the rules are as they were, so only the clock moved. Asked
     * without SQLite's locks, whose cost grows with the processes holding
     * the database (at 1,000 sessions, most of a monitor's wake-up);
     * policy_gen is read anyway every MON_REREAD_S, for a change nobody
     * announced (sk_store_policy_moved). */
    if (m->rc_valid && !sk_store_policy_moved(m->store) &&
        now - m->rc_read < MON_REREAD_S) {
        fresh_needed = 0;
    } else {
        /* Read before the rules below, so that a change made while they
         * are read is seen next time. */
        m->rc_read = now;
        have_gen = sk_store_policy_gen(m->store, &gen) == 0;
        fresh_needed = !have_gen || !m->rc_valid || gen != m->rc_gen;
    }
    if (fresh_needed) {
        struct access fresh;

        /* `sekishoctl session kill` leaves its request in the store. */
        if (sk_store_session_kill_reason(m->store, m->session_id, &kill) ==
                0 &&
            kill != NULL) {
            /* English on the wire and in the audit line; the relay shows
             * the same words translated around the admin's text. */
            snprintf(m->kill_msg, sizeof(m->kill_msg),
                     N_("ended by an administrator: %s"), kill);
            free(kill);
            return m->kill_msg;
        }
        if ((r = sk_store_user_get(m->store, m->user, &u)) != 0) {
            /* Store trouble is not a reason to cut a session; a deleted
             * user is. Either way all is read again next time, soon
             * (mon_next_check). */
            m->rc_valid = 0;
            return r == SK_ERR_NOT_FOUND ? N_("account removed") : NULL;
        }
        mon_recheck_clear(m);
        if (access_load(m->store, m->user, &fresh) != 0) {
            /* judged on the account alone; all read again next time */
            memset(&fresh, 0, sizeof(fresh));
            m->rc_valid = 0;
        } else {
            m->rc_valid = have_gen; /* without the count: all again */
            m->rc_gen = gen;
        }
        m->rc_user = u;
        m->rc_access = fresh;
        m->rc_loaded = 1;
    }
    u = m->rc_user;
    if (u.removed != 0) {
        why = N_("account removed");
    } else if (u.status == SK_USER_DISABLED) {
        why = N_("account disabled");
    } else if (u.status == SK_USER_LOCKED ||
               u.locked_until > (int64_t)time(NULL)) {
        why = N_("account locked");
    } else if (sk_auth_account_expired(&u, now)) {
        why = N_("account expired");
    }
    if (why != NULL) {
        return why;
    }
    if (m->max_session > 0) {
        int64_t left = m->max_session - (int64_t)(now - m->session_t0);

        if (left <= 0) {
            return N_("maximum session length reached");
        }
        if (left <= 120 && !m->max_warned && m->relaying) {
            char msg[400];

            m->max_warned = 1;
            (void)sk_notice_fmt(msg, sizeof(msg),
                                _("sekisho: this session reaches its "
                                  "maximum length in %lld seconds"),
                                (long long)left);
            mon_notice(m, msg);
        }
    }
    if (!m->rc_valid) {
        return NULL; /* the rules could not be read: next time */
    }
    ac = m->rc_access;
    access_when(m->cfg->timezone, now, &when);
    if (sk_policy_match(ac.v, ac.n, m->target.name,
                        strcmp(m->mode, "exec") == 0 ? SK_ACCESS_EXEC
                                                     : SK_ACCESS_SHELL,
                        &when, detail, sizeof(detail), &idx) != 0) {
        why = ac.n > 0 && strstr(detail, "window") != NULL
                  ? N_("the approved work window has closed")
              : strstr(detail, "hours") != NULL
                  ? N_("outside the permitted hours")
                  : N_("access no longer granted");
    } else if (ac.v[idx].valid_until != 0 && !m->window_warned &&
               m->relaying &&
               ac.v[idx].valid_until - (int64_t)now <= 120) {
        /* The end is near: say so once, so the user can wrap up. (Another
         * rule may still cover the target; then no end comes.) */
        char msg[400], at[64];

        m->window_warned = 1;
        /* The end as the user's clock says it (the gateway's zone). */
        sk_time_local_fmt(m->cfg->timezone, (time_t)ac.v[idx].valid_until,
                          at, sizeof(at));
        (void)sk_notice_fmt(msg, sizeof(msg),
                            _("sekisho: your access to %s ends in %lld "
                              "seconds (at %s)"),
                            m->target.name,
                            (long long)(ac.v[idx].valid_until -
                                        (int64_t)now),
                            at);
        mon_notice(m, msg);
    }
    return why;
}

/*
 * When mon_recheck must look next, having just found the session allowed
 * at now: the first of the store's periodic read (MON_REREAD_S), the
 * session's maximum length and the warning before it, the account's
 * expiry, the moment a rule for the target starts, ends or opens or
 * closes its hours (sk_policy_next_change), and the warning before a
 * rule's end. Everything else that can end a session is a change to the
 * store, announced (sekishod pokes every monitor, mon_poked) or found by
 * the periodic read. So a held session's monitor wakes every MON_REREAD_S
 * seconds, not every two, and ends a session at the second its rule says,
 * not up to two seconds late.
 */
static time_t mon_next_check(struct monitor *m, time_t now)
{
    time_t due = m->rc_read + MON_REREAD_S;
    struct sk_when when;

#define MON_SOONER(t)                                                          \
    do {                                                                       \
        int64_t t_ = (t);                                                      \
        if (t_ > (int64_t)now && t_ < (int64_t)due) {                          \
            due = (time_t)t_;                                                  \
        }                                                                      \
    } while (0)

    if (!m->rc_loaded || !m->rc_valid) {
        return now + MON_RETRY_S;
    }
    if (due <= now) {
        due = now + 1;
    }
    if (m->max_session > 0) {
        int64_t end = (int64_t)m->session_t0 + m->max_session;

        if (!m->max_warned) {
            MON_SOONER(end - 120);
        }
        MON_SOONER(end);
    }
    if (m->rc_user.expires != 0) {
        MON_SOONER(m->rc_user.expires);
    }
    access_when(m->cfg->timezone, now, &when);
    MON_SOONER((int64_t)sk_policy_next_change(
        m->rc_access.v, m->rc_access.n, m->target.name, &when,
        (int64_t)(due - now)));
    if (!m->window_warned) {
        for (size_t i = 0; i < m->rc_access.n; i++) {
            const struct sk_policy_grant *g = &m->rc_access.v[i];

            if (g->valid_until != 0 && strcmp(g->target, m->target.name) == 0) {
                MON_SOONER(g->valid_until - 120);
            }
        }
    }
#undef MON_SOONER
    return due;
}

/* Milliseconds from now until second t has begun (MON_WAKE_SLACK_MS
 * after it), 0 if it has, and never more than MON_REREAD_S: a clock set
 * back must not put the next check off. */
static int mon_ms_until(time_t t)
{
    struct timespec ts;
    int64_t ms;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return 1000;
    }
    ms = ((int64_t)t - (int64_t)ts.tv_sec) * 1000 - ts.tv_nsec / 1000000 +
         MON_WAKE_SLACK_MS;
    return ms < 0 ? 0 : ms > MON_REREAD_S * 1000 ? MON_REREAD_S * 1000 : (int)ms;
}

static void mon_terminate(struct monitor *m, const char *why)
{
    struct sk_buf b;

    logit("session %s of %s ended by the gateway: %s", m->session_id,
          m->user, why);
    (void)sk_audit("session_terminated", "{s:s, s:s, s:s}", "session",
                   m->session_id, "user", m->user, "reason", why);
    sk_buf_init(&b);
    if (sk_buf_put_cstring(&b, why) == 0) {
        (void)sk_ipc_send(m->ipc, MON_TERMINATE, &b, NULL, 0);
    }
    sk_buf_free(&b);
    m->terminate_sent = time(NULL);
}

/* The recorder stopped while the worker still runs a session it has not
 * ended: audited with the recorder's own cause, the transcript is not
 * taken as sealed (no hash in the store or the session_end line), and the
 * session is ended. */
static void mon_recording_failed(struct monitor *m, const char *why)
{
    error_f("session %s: %s%s%s", m->session_id, why,
            m->rec.error[0] ? ": " : "", m->rec.error);
    (void)sk_audit("recording_failed", "{s:s, s:s, s:s, s:s?}", "session",
                   m->session_id, "user", m->user, "reason", why, "cause",
                   m->rec.error[0] ? m->rec.error : NULL);
    m->rec.sealed = 0;
    if (m->terminate_sent == 0) {
        mon_terminate(m, N_("recording failed"));
    }
}

/* Is a worker message waiting? (It is handled before the recorder's
 * status, so a seal is judged only after every message the worker sent
 * before closing the event socket.) */
static int mon_ipc_pending(const struct monitor *m)
{
    struct pollfd q;

    q.fd = m->ipc;
    q.events = POLLIN;
    q.revents = 0;
    return poll(&q, 1, 0) > 0 && (q.revents & (POLLIN | POLLHUP | POLLERR));
}

/* Seconds a worker has to exit after MON_SESSION_END (it flushes the
 * client leg for at most 5 s), or after closing its monitor socket. */
#define MON_EXIT_GRACE 10

/* Reaps the worker, waiting at most timeout_s; then SIGKILL. A worker
 * that closed its socket to the monitor but lives on may still hold the
 * target leg: it is not waited for without end. */
static void mon_reap(struct monitor *m, int *status, int timeout_s)
{
    time_t end = time(NULL) + timeout_s;
    pid_t r;

    for (;;) {
        r = waitpid(m->worker, status, WNOHANG);
        if (r == m->worker || (r < 0 && errno != EINTR)) {
            return;
        }
        if (r == 0 && time(NULL) >= end) {
            error_f("worker did not exit; killing it");
            kill(m->worker, SIGKILL);
            break;
        }
        (void)poll(NULL, 0, 50);
    }
    while (waitpid(m->worker, status, 0) < 0 && errno == EINTR) {
    }
}

static volatile sig_atomic_t mon_got_term;
/* sekishod saw a rule change announced (store.h, sk_store_policy_moved)
 * and sent SIGUSR1 to every session: check at once. */
static volatile sig_atomic_t mon_poked;
/* The signal mask the loop waits with: SIGUSR1 is blocked everywhere
 * else (from sekishod's fork on), so a poke is never lost between the
 * check and the wait, and interrupts nothing but that wait. */
static sigset_t mon_waitmask;

static void mon_sigterm(int sig)
{
    (void)sig;
    mon_got_term = 1;
}

static void mon_sigusr1(int sig)
{
    (void)sig;
    mon_poked = 1;
}

/* Runs until the worker exits. Returns the connection's exit status. */
static int mon_loop(struct monitor *m)
{
    time_t grace_end = m->grace_end;
    int status = 0, r, exitcode = SK_EXIT_OK, killed_for = 0;

    for (;;) {
        struct pollfd pfd[3];
        struct timespec tsv, *tsp = NULL;
        int nfd = 1, timeout = -1, recidx = -1;

        if (mon_got_term) {
            killed_for = SK_EXIT_ERROR;
            break;
        }
        if (!m->authenticated) {
            time_t now = time(NULL);

            if (now >= grace_end) {
                logit("login grace time exceeded for %s", m->source);
                (void)sk_audit("auth_timeout", "{s:s}", "source", m->source);
                killed_for = SK_EXIT_GRACE;
                break;
            }
            timeout = (int)(grace_end - now) * 1000;
        } else if (m->session_open) {
            const char *why;

            /* Is this session still allowed? Checked when a rule change is
             * announced, when the rules say the answer may change, and
             * every MON_REREAD_S (mon_next_check). Until the worker has
             * exited, not only until it says the session ended: until
             * then it may hold the target leg. A worker that does not end
             * when told, or does not exit after the end, is killed. */
            if (m->early_seal != 0 && !m->session_ended &&
                (!mon_ipc_pending(m) || time(NULL) - m->early_seal > 2)) {
                m->early_seal = 0;
                mon_recording_failed(m, "the recorder sealed before the "
                                        "session ended");
            }
            if (m->terminate_sent == 0 &&
                (mon_poked || time(NULL) >= m->next_check)) {
                mon_poked = 0;
                if ((why = mon_recheck(m)) != NULL) {
                    mon_terminate(m, why);
                } else {
                    m->next_check = mon_next_check(m, time(NULL));
                }
            } else if (m->terminate_sent != 0 &&
                       time(NULL) - m->terminate_sent > 5) {
                error_f("worker did not end the session; killing it");
                killed_for = SK_EXIT_ERROR;
                break;
            }
            if (m->ended_at != 0 &&
                time(NULL) - m->ended_at > MON_EXIT_GRACE) {
                error_f("worker did not exit after the session ended; "
                        "killing it");
                killed_for = SK_EXIT_ERROR;
                break;
            }
            timeout = mon_ms_until(m->next_check);
            if ((m->early_seal != 0 || m->terminate_sent != 0 ||
                 m->ended_at != 0) &&
                timeout > 1000) {
                timeout = 1000; /* the deadlines above */
            }
        }
        if (m->cmd.pid > 0) {
            const char *why;

            /* A gateway command runs under the person's account and
             * role: revoking either ends it, as it ends a session. */
            if (timeout < 0 || timeout > 2000) {
                timeout = 2000;
            }
            if (m->terminate_sent == 0 && time(NULL) - m->last_check >= 2) {
                m->last_check = time(NULL);
                if ((why = mon_gwcmd_recheck(m, m->cmd_role)) != NULL) {
                    struct sk_buf tb;

                    logit("gateway command of %s ended: %s", m->user, why);
                    (void)sk_audit("gateway_command_terminated",
                                   "{s:s, s:s, s:s}", "user", m->user,
                                   "command", m->cmd.line, "reason", why);
                    sk_buf_init(&tb);
                    if (sk_buf_put_cstring(&tb, why) == 0) {
                        (void)sk_ipc_send(m->ipc, MON_TERMINATE, &tb, NULL,
                                          0);
                    }
                    sk_buf_free(&tb);
                    m->terminate_sent = time(NULL);
                    (void)kill(-m->cmd.pid, SIGKILL);
                }
            } else if (m->terminate_sent != 0 &&
                       time(NULL) - m->terminate_sent > 5) {
                error_f("worker did not end the command; killing it");
                killed_for = SK_EXIT_ERROR;
                break;
            }
        }
        pfd[0].fd = m->ipc;
        pfd[0].events = POLLIN;
        if (m->agent_fd >= 0) {
            pfd[1].fd = m->agent_fd;
            pfd[1].events = POLLIN;
            nfd = 2;
        }
        if (m->have_rec && !m->rec.done && m->rec.status_fd >= 0) {
            recidx = nfd;
            pfd[nfd].fd = m->rec.status_fd;
            pfd[nfd++].events = POLLIN;
        }
        if (timeout >= 0) {
            tsv.tv_sec = timeout / 1000;
            tsv.tv_nsec = (long)(timeout % 1000) * 1000000L;
            tsp = &tsv;
        }
        if (ppoll(pfd, (nfds_t)nfd, tsp, &mon_waitmask) < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_f("poll: %s", strerror(errno));
            killed_for = SK_EXIT_ERROR;
            break;
        }
        /* The recorder's word waits while the worker has something to
         * say: its MON_SESSION_END precedes the seal it causes. */
        if (recidx > 0 &&
            (pfd[recidx].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            rec_poll(&m->rec, 0) && m->session_open && !m->session_ended) {
            if (m->rec.sealed) {
                /* A seal the worker did not announce: it closed the
                 * recorder and may relay on, unrecorded. Judged once the
                 * worker's pending messages are read (above). */
                m->early_seal = time(NULL);
            } else if (m->terminate_sent == 0) {
                /* The worker notices too (its socket closes); this makes
                 * sure and puts it on record, with the recorder's cause. */
                mon_recording_failed(m, "recorder ended during the session");
            }
        }
        if (m->agent_fd >= 0 && nfd >= 2 && pfd[1].fd == m->agent_fd &&
            (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (mon_agent_handle(m) != 0) {
                close(m->agent_fd);
                m->agent_fd = -1;
            }
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            r = mon_handle(m);
            if (r == SK_ERR_EOF) {
                break;
            }
            if (r != 0) {
                error_fr(r, "worker protocol violation");
                (void)sk_audit("protocol_violation", "{s:s, s:s?}", "source",
                               m->source, "user",
                               m->user[0] ? m->user : NULL);
                killed_for = SK_EXIT_PROTOCOL;
                break;
            }
        }
    }
    if (killed_for) {
        kill(m->worker, SIGKILL);
        exitcode = killed_for;
    }
    if (m->cmd.pid > 0) {
        /* The worker is gone: so is the person's command. */
        (void)gwcmd_finish(&m->cmd, 1, 5);
    }
    mon_reap(m, &status, MON_EXIT_GRACE);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        error_f("worker killed by the sandbox (forbidden system call)");
        (void)sk_audit("sandbox_violation", "{s:s, s:s?}", "source",
                       m->source, "user", m->user[0] ? m->user : NULL);
        exitcode = SK_EXIT_SANDBOX;
    } else if (!killed_for && WIFEXITED(status)) {
        exitcode = WEXITSTATUS(status);
    } else if (!killed_for) {
        exitcode = SK_EXIT_ERROR;
    }
    mon_record_end(m, 0, 0, SK_NO_EXIT_STATUS,
                   exitcode == SK_EXIT_SANDBOX ? "sandbox violation"
                                               : "worker ended abnormally");
    if (m->rate_log.dropped > 0 || m->rate_refused.dropped > 0) {
        logit("rate limits for %s dropped %llu log and %llu refusal "
              "messages of the worker",
              m->source, (unsigned long long)m->rate_log.dropped,
              (unsigned long long)m->rate_refused.dropped);
    }
    return exitcode;
}

/* Drops to the unprivileged worker account inside an empty directory. */
void sk_drop_privileges(const struct sk_config *cfg)
{
    struct passwd *pw;
    char empty[4096];

    if (geteuid() != 0) {
        return; /* already unprivileged (tests, demo as a user) */
    }
    if ((pw = getpwnam(cfg->worker_user)) == NULL) {
        fatal_f("worker_user %s does not exist", cfg->worker_user);
    }
    snprintf(empty, sizeof(empty), "%s/empty", cfg->state_dir);
    if (chroot(empty) != 0 || chdir("/") != 0) {
        fatal_f("chroot %s: %s", empty, strerror(errno));
    }
    if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid,
                                             pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        fatal_f("dropping to %s: %s", cfg->worker_user, strerror(errno));
    }
    if (setuid(0) == 0) {
        fatal_f("privileges were not dropped");
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: sekisho-session [-c CONFIG] [-f] [-R | -i] "
                    "[-D SECONDS]\n"
                    "  -c  configuration (default " SK_DEFAULT_CONFIG ")\n"
                    "  -R  run from sekishod (socket on fd 3, notify fd 4)\n"
                    "  -i  inetd mode (socket on fd 0)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *cfgpath = SK_DEFAULT_CONFIG;
    struct sk_config *cfg = NULL;
    struct monitor m;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char err[512], host[INET6_ADDRSTRLEN], port[8];
    int ch, fg = 0, mode_r = 0, mode_i = 0, sock, notify = -1, ipc[2], r,
            one = 1, code, delay = 0;
    pid_t monitor_pid;
    struct sigaction sa;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        sk_version_print("sekisho-session");
        return 0;
    }
    /* SIGUSR1 (sekishod's poke, mon_poked) only ever interrupts the main
     * loop's wait; sekishod blocks it before the exec already. */
    {
        sigset_t usr1;

        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &usr1, &mon_waitmask) != 0) {
            return SK_EXIT_ERROR;
        }
        sigdelset(&mon_waitmask, SIGUSR1);
    }

    while ((ch = getopt(argc, argv, "c:fRiD:")) != -1) {
        switch (ch) {
        case 'D':
            /* sekishod's penalty for an address that keeps failing */
            delay = atoi(optarg);
            if (delay < 0 || delay > 60) {
                usage();
            }
            break;
        case 'c':
            cfgpath = optarg;
            break;
        case 'f':
            fg = 1;
            break;
        case 'R':
            mode_r = 1;
            break;
        case 'i':
            mode_i = 1;
            break;
        default:
            usage();
        }
    }
    if (mode_r == mode_i || optind != argc) {
        usage();
    }
    if (delay > 0) {
        /* Before any work for this client: the SSH banner comes late. */
        sleep((unsigned)delay);
    }
    /* State, keys and logs are for root alone. */
    umask(077);
    sk_log_init("sekisho-session", fg, SK_LOG_INFO);
    if (sodium_init() < 0) {
        fatal_f("libsodium initialisation failed");
    }
    if (sk_config_load(cfgpath, &cfg, err, sizeof(err)) != 0) {
        fatal_f("%s", err);
    }
    sk_log_init("sekisho-session", fg, sk_log_level_parse(cfg->log_level));
    if (strcmp(cfg->second_factor, "totp") != 0) {
        verbose_f("second_factor = none: passwords alone admit users");
    }
    /* Every catalogue now, before the worker forks and is sandboxed:
     * gettext then opens nothing (i18n.h). The gateway's language until
     * the user is known; the zone too is loaded for local times. */
    if ((r = sk_i18n_init(cfg->locale_dir, cfg->language)) != 0) {
        /* Messages then stay English: wrong only if Japanese is asked. */
        if (strcmp(cfg->language, "en") != 0) {
            error_fr(r, "message catalogues in %s", cfg->locale_dir);
        } else {
            verbose_f("message catalogues in %s: %s", cfg->locale_dir,
                      sk_err_str(r));
        }
    }
    {
        char ts[64];

        sk_time_local_fmt(cfg->timezone, time(NULL), ts, sizeof(ts));
    }
    sock = mode_r ? 3 : 0;
    if (mode_r) {
        notify = 4;
    }
    if (getpeername(sock, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        fatal_f("not a connected socket: %s", strerror(errno));
    }
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.rule = cfg->methods_rule;
    m.agent_fd = -1;
    m.notify = notify;
    snprintf(m.source, sizeof(m.source), "%s", host);

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ipc) != 0) {
        fatal_f("socketpair: %s", strerror(errno));
    }
    /* The recorders' ring (rec-ring.h): mapped before the worker is
     * forked, so the worker and every recorder share it; nothing to pass
     * and no mapping to make under a sandbox. */
    if ((rec_shared_ring = rec_ring_map()) == NULL) {
        fatal_f("ring: %s", strerror(errno));
    }
    /* The transcript's cipher and hash loaded once here, shared by the
     * recorders (and the worker's libssh) rather than loaded by each. */
    if (sk_tr_preload() != 0) {
        fatal_f("libcrypto has not the transcript's cipher and hash");
    }
    /* Fork before the store, the audit log or any key is opened, so the
     * worker inherits none of them. */
    monitor_pid = getpid();
    if ((m.worker = fork()) < 0) {
        fatal_f("fork: %s", strerror(errno));
    }
    if (m.worker == 0) {
        int devnull;

        /* A worker never outlives its monitor (nobody would audit or
         * supervise it): killed with it, whatever it is doing. */
        sk_die_with_parent(monitor_pid);
        devnull = open("/dev/null", O_RDWR);

        close(ipc[0]);
        if (devnull < 0 || dup2(devnull, 0) < 0 ||
            (!fg && dup2(devnull, 2) < 0)) {
            _exit(SK_EXIT_ERROR);
        }
        if (sock == 0) {
            if ((sock = dup(0)) < 0) {
                _exit(SK_EXIT_ERROR);
            }
        }
        close(devnull);
        {
            int keep[2] = {sock, ipc[1]};

            sk_close_fds_except(keep, 2);
        }
        mm_init(ipc[1]);
        sk_drop_privileges(cfg);
        sk_die_with_parent(monitor_pid);
        /* sekishod has sent our identification line already (it answers
         * every connection before any process exists for it). */
        worker_main(cfg, sock, ipc[1], mode_r);
    }
    close(ipc[1]);
    close(sock);
    m.ipc = ipc[0];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = mon_sigterm;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = mon_sigusr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The signing key signs audit lines and, in the recorder, the
     * transcript; without it nothing can be recorded, so nothing runs. */
    if ((r = sk_key_load(cfg->signing_key, &m.signer)) != 0) {
        error_fr(r, "signing key %s", cfg->signing_key);
        kill(m.worker, SIGKILL);
        exit(SK_EXIT_RECORDING);
    }
    if ((r = sk_audit_open(cfg->audit_log, cfg->gateway_id, m.signer)) !=
        0) {
        error_fr(r, "audit log %s", cfg->audit_log);
        /* Every connection is refused until someone acts: the connect
         * line cannot be written, which raises audit_write_failed (syslog
         * at alert and notify_command) naming this connection. */
        sk_alert_init(cfg);
        (void)sk_audit("connect", "{s:s, s:s}", "source", m.source, "port",
                       port);
        kill(m.worker, SIGKILL);
        exit(SK_EXIT_RECORDING);
    }
    sk_audit_set_rotation((uint64_t)cfg->audit_rotate_size * 1024,
                          (int64_t)cfg->audit_rotate_days * 86400);
    sk_alert_init(cfg);
    snprintf(err, sizeof(err), "%s/state.db", cfg->state_dir);
    if ((r = sk_store_open(err, 0, &m.store)) != 0) {
        error_fr(r, "state %s", err);
        (void)sk_audit("store_unavailable", "{s:s}", "source", m.source);
        kill(m.worker, SIGKILL);
        exit(SK_EXIT_STORE);
    }
    /* The first program to open the state after an upgrade migrates it:
     * say so in the log and the chain (R-OPS-6). */
    if (sk_store_schema_found(m.store) != sk_store_schema_version(m.store)) {
        logit("state %s migrated from schema %d to %d (sekisho-session %s)",
              err, sk_store_schema_found(m.store),
              sk_store_schema_version(m.store), SK_VERSION);
        (void)sk_audit("schema_migrated", "{s:i, s:i, s:s, s:s}", "from",
                       sk_store_schema_found(m.store), "to",
                       sk_store_schema_version(m.store), "program",
                       "sekisho-session", "version", SK_VERSION);
    }
    /* The host key is read only now that the worker exists: a fork copies
     * memory, freed memory too, and the worker must never hold it. */
    if ((r = sk_hostkey_load(cfg->host_key, &m.hostkey, &m.hk_blob,
                             &m.hk_bloblen)) != 0) {
        error_f("host key %s: %s", cfg->host_key,
                r == SK_ERR_INVALID ? "only ssh-ed25519 and RSA host keys "
                                      "are supported"
                                    : sk_err_str(r));
        kill(m.worker, SIGKILL);
        exit(SK_EXIT_ERROR);
    }
    mon_hostkey_slot = &m.hostkey;
    rec_child_scrub = mon_scrub_recorder;
    rec_child_confine = mon_confine_recorder;
    logit("connection from %s port %s", host, port);
    (void)sk_audit("connect", "{s:s, s:s}", "source", m.source, "port", port);
    m.grace_end = time(NULL) + cfg->login_grace_time;
    code = mon_loop(&m);
    mon_recheck_clear(&m);
    if (m.have_rec) {
        rec_finish(&m.rec, 5000);
    }
    if (m.notify >= 0) {
        close(m.notify);
    }
    (void)sk_audit("disconnect", "{s:s, s:s?, s:i}", "source", m.source,
                   "user", m.user[0] ? m.user : NULL, "status", code);
    sk_target_clear(&m.target);
    sk_hostkey_free(m.hostkey);
    free(m.hk_blob);
    sk_key_free(m.egress);
    sk_audit_close();
    sk_key_free(m.signer);
    sk_store_close(m.store);
    sk_config_free(cfg);
    return code;
}
