/*
 * Policy input for one user, loaded from the store: standing grants and
 * approved work requests, as sk_policy_grant rows (policy/policy.h) that
 * own their strings. Used by the monitor (decisions, rechecks, the target
 * list) and by sekishoctl (reports), so both see the same rules.
 */
#ifndef SK_ACCESS_H
#define SK_ACCESS_H

#include "store.h"
#include "policy/policy.h"

#include <stddef.h>

struct access {
    struct sk_policy_grant *v;
    size_t n, cap;
};

/* Loads user's rules. Returns 0 or SK_ERR_* (nothing to free then). */
int access_load(sk_store *st, const char *user, struct access *a);
void access_free(struct access *a);

#endif
