/*
 * The gateway's own credential checks, shared by pam_sekisho.so (the
 * default PAM stack) and sekishoctl. Blocking (store, argon2id). Reasons
 * are for the audit log, never for the user, who only learns "denied".
 */
#ifndef SK_AUTH_CHECK_H
#define SK_AUTH_CHECK_H

#include "methods.h"
#include "store.h"

#include <time.h>

/* Checks the TOTP code of user (sealed secret opened with the key file
 * at key_path); accepts each step once (replay refused atomically in the
 * store). Returns NULL if accepted, else the reason. */
const char *sk_auth_totp(sk_store *st, const char *key_path,
                         const char *user, const char *code, time_t now);

/* The factors asked (SK_F_PASSWORD and/or SK_F_TOTP, methods.h):
 * password, then account state, then code. *known says whether the user
 * exists. Returns NULL if accepted, else the reason ("unknown user",
 * "wrong password", "wrong verification code", "verification code
 * reused", "account locked", ...). The code is checked only after the
 * password, so a wrong password never uses up (or confirms) a code; an
 * unknown user costs one dummy argon2id like a known one. */
const char *sk_auth_check(sk_store *st, const char *totp_key,
                          unsigned factors, const char *user,
                          const char *password, const char *code, time_t now,
                          int *known);

/* 1 if user's password must be changed now (expired by age, or by an
 * admin: pw_changed = 0). max_age_days 0: never by age. */
int sk_auth_pw_expired(const struct sk_user *u, int max_age_days,
                       time_t now);

/* NULL if the account may log in now, else why not ("account locked",
 * "account disabled", "account locked after failed logins", "account
 * expired"). */
const char *sk_auth_account_state(const struct sk_user *u, time_t now);

/* 1 if the account has passed its expiry date. */
int sk_auth_account_expired(const struct sk_user *u, time_t now);

/* Minimum password age (R-PW, against cycling through the history): a
 * user may change their own password only min_age_days after the last
 * change they made themselves; a password an administrator set (initial
 * or reset) may be replaced at once. Returns 1 if allowed now. */
int sk_auth_pw_min_age_ok(const struct sk_user *u, int min_age_days,
                          time_t now);

#endif
