/*
 * Access decisions. Pure: the caller loads the user's grants from the
 * store and passes them in; nothing here does I/O. Deny by default.
 */
#ifndef SK_POLICY_H
#define SK_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sk_policy_grant {
    const char *target;
    int allow_exec;
    int64_t valid_from;  /* 0: no start */
    int64_t valid_until; /* 0: no end (exclusive) */
    int64_t request_id;  /* 0: a standing grant; else an approved request */
};

enum sk_access_mode {
    SK_ACCESS_SHELL = 0,
    SK_ACCESS_EXEC = 1,
};

/* Decides whether target may be reached in mode at now given the user's
 * grants. Returns 0 (allow) or SK_ERR_DENIED with the precise reason in
 * why (for the audit log, not for the user: it reveals whether the target
 * exists for this user). */
int sk_policy_decide(const struct sk_policy_grant *grants, size_t n,
                     const char *target, enum sk_access_mode mode, time_t now,
                     char *why, size_t whylen);

/* As sk_policy_decide; on success *index (may be NULL) names the grant
 * that allowed it (for linking the session to its request). */
int sk_policy_match(const struct sk_policy_grant *grants, size_t n,
                    const char *target, enum sk_access_mode mode, time_t now,
                    char *why, size_t whylen, size_t *index);

/* 1 if the grant is usable at now (ignoring mode). */
int sk_policy_grant_live(const struct sk_policy_grant *g, time_t now);

#endif
