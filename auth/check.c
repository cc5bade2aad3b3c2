#include "check.h"
#include "auth/password.h"
#include "auth/totp.h"
#include "sk-err.h"

#include <sodium.h>
#include <string.h>

const char *sk_auth_totp(sk_store *st, const char *key_path,
                         const char *user, const char *code, time_t now)
{
    uint8_t key[SK_TOTP_KEY_LEN], sealed[SK_TOTP_SEALED_LEN],
        secret[SK_TOTP_SECRET_LEN];
    size_t len = 0;
    uint64_t step = 0;
    const char *why = NULL;
    int r;

    r = sk_store_user_get_totp(st, user, sealed, sizeof(sealed), &len);
    if (r != 0) {
        return r == SK_ERR_NOT_FOUND ? "no second factor enrolled"
                                     : "state database unavailable";
    }
    if (sk_totp_key_load(key_path, key) != 0) {
        return "TOTP key unavailable";
    }
    r = sk_totp_open(key, sealed, len, secret);
    sodium_memzero(key, sizeof(key));
    if (r != 0) {
        return "TOTP secret unreadable";
    }
    if (sk_totp_verify(secret, code, now, &step) != 0) {
        why = "wrong verification code";
    } else if ((r = sk_store_user_totp_use(st, user, step)) != 0) {
        why = r == SK_ERR_DENIED ? "verification code reused"
                                 : "state database unavailable";
    }
    sodium_memzero(secret, sizeof(secret));
    return why;
}

/*
 * The work of a code check whose result nobody looks at: the key file,
 * the seal and the HMACs, on a secret of zeros. A failed login thus
 * costs the same whether it failed at the name, the password or the
 * code (the code itself is never checked, so nothing is confirmed or
 * used up).
 */
static void totp_dummy(const char *key_path, const char *code, time_t now)
{
    uint8_t key[SK_TOTP_KEY_LEN], sealed[SK_TOTP_SEALED_LEN],
        secret[SK_TOTP_SECRET_LEN];
    uint64_t step = 0;

    memset(sealed, 0, sizeof(sealed));
    memset(secret, 0, sizeof(secret));
    if (sk_totp_key_load(key_path, key) == 0) {
        (void)sk_totp_open(key, sealed, sizeof(sealed), secret);
        sodium_memzero(key, sizeof(key));
    }
    memset(secret, 0, sizeof(secret));
    (void)sk_totp_verify(secret, code, now, &step);
}

const char *sk_auth_check(sk_store *st, const char *totp_key,
                          unsigned factors, const char *user,
                          const char *password, const char *code, time_t now,
                          int *known)
{
    struct sk_user u;
    const char *why = NULL;
    int r;

    *known = 0;
    memset(&u, 0, sizeof(u));
    if ((factors & SK_F_PAM) == 0) {
        return "nothing to check";
    }
    r = sk_store_user_get(st, user, &u);
    if (r != 0) {
        /* The same work as a known user's failure: the argon2id of the
         * password asked and the shape of the code check asked, so the
         * name does not show in the time. */
        if (factors & SK_F_PASSWORD) {
            (void)sk_pw_verify(NULL, password);
        }
        if (factors & SK_F_TOTP) {
            totp_dummy(totp_key, code, now);
        }
        return r == SK_ERR_NOT_FOUND ? "unknown user"
                                     : "state database unavailable";
    }
    *known = 1;
    if ((factors & SK_F_PASSWORD) && sk_pw_verify(u.pw_hash, password) != 0) {
        why = "wrong password";
        if (factors & SK_F_TOTP) {
            totp_dummy(totp_key, code, now);
        }
    } else if ((why = sk_auth_account_state(&u, now)) != NULL) {
        ;
    } else if (factors & SK_F_TOTP) {
        why = sk_auth_totp(st, totp_key, user, code, now);
    }
    sk_user_clear(&u);
    return why;
}

const char *sk_auth_account_state(const struct sk_user *u, time_t now)
{
    return u->removed != 0                 ? "account removed"
           : u->status == SK_USER_LOCKED   ? "account locked"
           : u->status == SK_USER_DISABLED ? "account disabled"
           : u->locked_until > (int64_t)now
               ? "account locked after failed logins"
           : sk_auth_account_expired(u, now) ? "account expired"
                                             : NULL;
}

int sk_auth_pw_expired(const struct sk_user *u, int max_age_days, time_t now)
{
    return u->pw_changed == 0 ||
           (max_age_days > 0 &&
            (int64_t)now - u->pw_changed > (int64_t)max_age_days * 86400);
}

int sk_auth_account_expired(const struct sk_user *u, time_t now)
{
    return u->expires != 0 && (int64_t)now >= u->expires;
}

int sk_auth_pw_min_age_ok(const struct sk_user *u, int min_age_days,
                          time_t now)
{
    return u->pw_by_admin || u->pw_changed == 0 || min_age_days <= 0 ||
           (int64_t)now - u->pw_changed >= (int64_t)min_age_days * 86400;
}
