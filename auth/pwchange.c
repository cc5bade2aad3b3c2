#include "auth/pwchange.h"
#include "sk-err.h"
#include "i18n.h" /* N_: English here, shown translated */

#include <stdio.h>

struct reuse_ctx {
    const char *pw;
    int left; /* how many remembered hashes still count */
    int reused;
};

static int reuse_cb(const char *hash, void *arg)
{
    struct reuse_ctx *c = arg;

    if (c->left-- <= 0) {
        return 1;
    }
    if (sk_pw_verify(hash, c->pw) == 0) {
        c->reused = 1;
        return 1;
    }
    return 0;
}

int sk_pw_change_check(sk_store *st, const struct sk_pw_policy *pol,
                       const char *user, const char *current_hash,
                       const char *newpw, int keep, char *reason,
                       size_t reasonlen)
{
    struct reuse_ctx c = {newpw, keep, 0};
    int r;

    if ((r = sk_pw_check(pol, user, newpw, reason, reasonlen)) != 0) {
        return r;
    }
    if (current_hash != NULL && sk_pw_verify(current_hash, newpw) == 0) {
        snprintf(reason, reasonlen, "%s",
                 N_("the new password must differ from the current one"));
        return SK_ERR_DENIED;
    }
    if (keep > 0 &&
        (r = sk_store_password_history(st, user, reuse_cb, &c)) != 0) {
        snprintf(reason, reasonlen, "%s",
                 N_("password history unavailable"));
        return SK_ERR_STORE;
    }
    if (c.reused) {
        snprintf(reason, reasonlen, "the new password repeats one of the "
                 "last %d", keep);
        return SK_ERR_DENIED;
    }
    return 0;
}
