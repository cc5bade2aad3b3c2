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

/* Loads user's rules. A rule whose stored window does not parse is
 * dropped (fail closed: it allows nothing). Returns 0 or SK_ERR_*
 * (nothing to free then). */
int access_load(sk_store *st, const char *user, struct access *a);
void access_free(struct access *a);

/* 1 if addr may be used by user: inside the user's own source blocks
 * (user_sources, NULL: any) and inside those of each of their groups.
 * Store trouble: 0 (fail closed). */
int access_source_ok(sk_store *st, const char *user, const char *user_sources,
                     const char *addr);

/* The moment now in time zone tz (a zoneinfo name) for policy decisions.
 * Not pure: sets TZ for this process. */
void access_when(const char *tz, time_t now, struct sk_when *out);

#endif
