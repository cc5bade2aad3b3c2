/*
 * The rules for a new password, in one place for the gateway's forced
 * change and for sekishoctl: the complexity policy (password.h) and no
 * reuse of the current or the last `keep` passwords (R-PW-4). Blocks: one
 * argon2id verification per remembered hash.
 */
#ifndef SK_AUTH_PWCHANGE_H
#define SK_AUTH_PWCHANGE_H

#include "auth/password.h"
#include "store.h"

#include <stddef.h>

/* Returns 0 if newpw may replace user's password, SK_ERR_DENIED with a
 * reason for the user (never containing a password), or SK_ERR_STORE. */
int sk_pw_change_check(sk_store *st, const struct sk_pw_policy *pol,
                       const char *user, const char *current_hash,
                       const char *newpw, int keep, char *reason,
                       size_t reasonlen);

#endif
