/*
 * pam_sekisho.so: the gateway's own accounts as a PAM module, so the
 * default stack (DIR/pam.d/sekisho, written by `sekishoctl init`) and any
 * stack an administrator builds (pam_sss, pam_radius, ... before or
 * after it) run through the same PAM transaction in the monitor.
 *
 *   auth      Password and (second_factor = totp) Verification code, in one
 *             conversation (one keyboard-interactive round); argon2id;
 *             RFC 6238 with each step once. The gateway's monitor may ask
 *             for fewer through the PAM environment: SEKISHO_FACTORS =
 *             "password", "totp" or "password+totp", as its method rule
 *             requires after a public or security key.
 *   account   disabled or locked -> PAM_PERM_DENIED; password past
 *             password_max_age or expired by an admin -> PAM_NEW_AUTHTOK_REQD.
 *   password  New password / Retype new password; the password policy
 *             (libpwquality and ours) and history, as sekishoctl applies.
 *
 * Argument: config=PATH (the gateway's sekisho.conf). Why a check failed
 * is left in the PAM environment as SEKISHO_AUTH_REASON for the
 * application's audit log; the user is never told more than "denied".
 */
#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_PASSWORD

#include "auth/check.h"
#include "auth/password.h"
#include "auth/pwchange.h"
#include "config.h"
#include "i18n.h"
#include "sk-err.h"
#include "store.h"
#include "util.h"

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

struct ctx {
    struct sk_config *cfg;
    sk_store *st;
};

static int ctx_open(pam_handle_t *ph, int argc, const char **argv,
                    struct ctx *c)
{
    const char *path = NULL;
    char err[512], db[4096];

    memset(c, 0, sizeof(*c));
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "config=", 7) == 0) {
            path = argv[i] + 7;
        } else {
            pam_syslog(ph, LOG_ERR, "unknown argument %s", argv[i]);
            return -1;
        }
    }
    if (path == NULL) {
        pam_syslog(ph, LOG_ERR, "config=PATH is required");
        return -1;
    }
    if (sodium_init() < 0 ||
        sk_config_load(path, &c->cfg, err, sizeof(err)) != 0) {
        pam_syslog(ph, LOG_ERR, "%s", err);
        return -1;
    }
    snprintf(db, sizeof(db), "%s/state.db", c->cfg->state_dir);
    if (sk_store_open(db, 0, &c->st) != 0) {
        pam_syslog(ph, LOG_ERR, "cannot open %s", db);
        sk_config_free(c->cfg);
        c->cfg = NULL;
        return -1;
    }
    return 0;
}

static void ctx_close(struct ctx *c)
{
    sk_store_close(c->st);
    sk_config_free(c->cfg);
}

static void reason(pam_handle_t *ph, const char *why)
{
    char env[160];

    snprintf(env, sizeof(env), "SEKISHO_AUTH_REASON=%s", why);
    (void)pam_putenv(ph, env);
}

/* Asks n prompts (echo off) in one conversation; answers in out[]. */
static int ask(pam_handle_t *ph, int n, const char *const *prompts,
               char **out)
{
    const struct pam_conv *conv = NULL;
    struct pam_message msg[2];
    const struct pam_message *pmsg[2];
    struct pam_response *resp = NULL;
    int r;

    if (pam_get_item(ph, PAM_CONV, (const void **)&conv) != PAM_SUCCESS ||
        conv == NULL || conv->conv == NULL) {
        return PAM_CONV_ERR;
    }
    for (int i = 0; i < n; i++) {
        msg[i].msg_style = PAM_PROMPT_ECHO_OFF;
        msg[i].msg = prompts[i];
        pmsg[i] = &msg[i];
        out[i] = NULL;
    }
    r = conv->conv(n, pmsg, &resp, conv->appdata_ptr);
    if (r != PAM_SUCCESS || resp == NULL) {
        free(resp);
        return PAM_CONV_ERR;
    }
    for (int i = 0; i < n; i++) {
        out[i] = resp[i].resp != NULL ? resp[i].resp : strdup("");
    }
    free(resp);
    return PAM_SUCCESS;
}

/* Which factors to ask: what the gateway's monitor put in SEKISHO_FACTORS
 * (its method rule decides; e.g. only "password" after a security key),
 * else password and, with second_factor = totp, the code. 0 if the
 * variable is malformed. */
static unsigned factors_wanted(pam_handle_t *ph, const struct sk_config *cfg)
{
    const char *env = pam_getenv(ph, "SEKISHO_FACTORS");
    struct sk_methods m;
    char err[128];

    if (env == NULL) {
        return strcmp(cfg->second_factor, "totp") == 0
                   ? SK_F_PASSWORD | SK_F_TOTP
                   : SK_F_PASSWORD;
    }
    if (sk_methods_parse(env, 1, &m, err, sizeof(err)) != 0 || m.n != 1 ||
        (m.alt[0] & ~SK_F_PAM) != 0) {
        pam_syslog(ph, LOG_ERR, "SEKISHO_FACTORS: %s",
                   m.n > 1 ? "one set of factors expected" : err);
        return 0;
    }
    return m.alt[0];
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *ph, int flags, int argc,
                                   const char **argv)
{
    const char *prompts[2];
    struct ctx c;
    const char *user = NULL, *why;
    char *ans[2] = {NULL, NULL};
    unsigned want;
    int n = 0, known, r;

    (void)flags;
    if (ctx_open(ph, argc, argv, &c) != 0) {
        reason(ph, "gateway configuration or state unavailable");
        return PAM_AUTHINFO_UNAVAIL;
    }
    if ((want = factors_wanted(ph, c.cfg)) == 0) {
        reason(ph, "bad SEKISHO_FACTORS from the application");
        ctx_close(&c);
        return PAM_AUTH_ERR;
    }
    if (pam_get_user(ph, &user, NULL) != PAM_SUCCESS || user == NULL) {
        ctx_close(&c);
        return PAM_USER_UNKNOWN;
    }
    /* In English here: sekisho-session's conversation shows them in the
     * gateway's language (the catalogue has them). */
    if (want & SK_F_PASSWORD) {
        prompts[n++] = N_("Password: ");
    }
    if (want & SK_F_TOTP) {
        prompts[n++] = N_("Verification code: ");
    }
    if ((r = ask(ph, n, prompts, ans)) != PAM_SUCCESS) {
        reason(ph, "no answer to the prompts");
        ctx_close(&c);
        return r;
    }
    {
        const char *pw = (want & SK_F_PASSWORD) ? ans[0] : "";
        const char *code = (want & SK_F_TOTP) ? ans[n - 1] : "";

        if ((want & SK_F_PASSWORD) && strlen(ans[0]) > SK_PW_MAX) {
            ans[0][SK_PW_MAX] = '\0';
        }
        why = sk_auth_check(c.st, c.cfg->totp_key, want, user, pw, code,
                            time(NULL), &known);
        if (why == NULL && (want & SK_F_PASSWORD)) {
            /* Later modules (and a password change) may use it. */
            (void)pam_set_item(ph, PAM_AUTHTOK, ans[0]);
        }
    }
    sk_secret_free(ans[0]);
    sk_secret_free(ans[1]);
    ctx_close(&c);
    if (why != NULL) {
        reason(ph, why);
        /* Unknown and known users fail alike. */
        return PAM_AUTH_ERR;
    }
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *ph, int flags, int argc,
                              const char **argv)
{
    (void)ph;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *ph, int flags, int argc,
                                const char **argv)
{
    struct ctx c;
    struct sk_user u;
    const char *user = NULL;
    int r = PAM_SUCCESS;

    (void)flags;
    if (ctx_open(ph, argc, argv, &c) != 0) {
        return PAM_AUTHINFO_UNAVAIL;
    }
    if (pam_get_user(ph, &user, NULL) != PAM_SUCCESS || user == NULL ||
        sk_store_user_get(c.st, user, &u) != 0) {
        ctx_close(&c);
        reason(ph, "unknown user");
        return PAM_USER_UNKNOWN;
    }
    if (u.removed != 0) {
        reason(ph, "account removed");
        r = PAM_PERM_DENIED;
    } else if (u.status == SK_USER_DISABLED) {
        reason(ph, "account disabled");
        r = PAM_PERM_DENIED;
    } else if (sk_auth_account_expired(&u, time(NULL))) {
        reason(ph, "account expired");
        r = PAM_ACCT_EXPIRED;
    } else if (u.status == SK_USER_LOCKED ||
               u.locked_until > (int64_t)time(NULL)) {
        reason(ph, "account locked");
        r = PAM_PERM_DENIED;
    } else if (sk_auth_pw_expired(&u, c.cfg->password_max_age, time(NULL))) {
        reason(ph, "password expired");
        r = PAM_NEW_AUTHTOK_REQD;
    }
    sk_user_clear(&u);
    ctx_close(&c);
    return r;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *ph, int flags, int argc,
                                const char **argv)
{
    static const char *const prompts[] = {N_("New password: "),
                                          N_("Retype new password: ")};
    struct ctx c;
    struct sk_user u;
    struct sk_pw_policy pol;
    const char *user = NULL;
    char *ans[2] = {NULL, NULL}, why[256] = "", hash[SK_PW_HASH_MAX];
    int r;

    if (flags & PAM_PRELIM_CHECK) {
        return PAM_SUCCESS;
    }
    if (ctx_open(ph, argc, argv, &c) != 0) {
        return PAM_AUTHTOK_ERR;
    }
    if (pam_get_user(ph, &user, NULL) != PAM_SUCCESS || user == NULL ||
        sk_store_user_get(c.st, user, &u) != 0) {
        ctx_close(&c);
        return PAM_USER_UNKNOWN;
    }
    if ((r = ask(ph, 2, prompts, ans)) != PAM_SUCCESS) {
        sk_user_clear(&u);
        ctx_close(&c);
        return PAM_AUTHTOK_ERR;
    }
    sk_pw_policy_default(&pol);
    r = PAM_AUTHTOK_ERR;
    if (!(flags & PAM_CHANGE_EXPIRED_AUTHTOK) &&
        !sk_auth_pw_min_age_ok(&u, c.cfg->password_min_age, time(NULL))) {
        snprintf(why, sizeof(why),
                 "the password was changed less than %d day(s) ago",
                 c.cfg->password_min_age);
    } else if (strcmp(ans[0], ans[1]) != 0) {
        snprintf(why, sizeof(why), "the two entries differ");
    } else if (sk_pw_change_check(c.st, &pol, user, u.pw_hash, ans[0],
                                  c.cfg->password_history, why,
                                  sizeof(why)) == 0) {
        if (sk_pw_hash(ans[0], hash, sizeof(hash)) == 0 &&
            sk_store_user_set_password(c.st, user, hash, time(NULL),
                                       c.cfg->password_history) == 0 &&
            sk_store_user_pw_by_admin(c.st, user, 0) == 0) {
            r = PAM_SUCCESS;
        } else {
            snprintf(why, sizeof(why), "state database unavailable");
        }
        sodium_memzero(hash, sizeof(hash));
    }
    if (r != PAM_SUCCESS) {
        /* Here the user must learn why: it is their new password. */
        pam_error(ph, "Password not changed: %s.", why);
        reason(ph, why);
    }
    sk_secret_free(ans[0]);
    sk_secret_free(ans[1]);
    sk_user_clear(&u);
    ctx_close(&c);
    return r;
}
