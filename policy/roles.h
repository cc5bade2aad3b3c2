/*
 * Roles a person holds (R-AC-3): a set of role words, kept as one
 * comma-separated string ("approver,auditor") wherever a user's role is
 * stored or passed. A single word ("maintainer") is a set of one, so
 * every role stored before sets existed reads the same. Pure functions;
 * no allocation.
 *
 *   maintainer  reaches targets under grants, asks for access
 *   approver    decides others' requests, signs off work
 *   auditor     reads, replays and verifies transcripts and the audit log
 *   admin       manages users, targets and grants (reads no transcript
 *               unless also an auditor)
 */
#ifndef SK_POLICY_ROLES_H
#define SK_POLICY_ROLES_H

#include <stddef.h>

#define SK_ROLES_MAX 64 /* longest set string, NUL included */

/* 1 if word is one of the four role words, else 0. */
int sk_role_valid(const char *word);
/* 1 if the set holds role, else 0 (NULL set holds nothing). */
int sk_roles_has(const char *set, const char *role);
/* Applies a change to set and writes the result, in canonical order
 * (maintainer, approver, auditor, admin) and without duplicates, to out.
 * change is "+ROLE", "-ROLE" or a bare "ROLE" (replaces the whole set).
 * Returns 0, or SK_ERR_INVALID (unknown role, malformed change, a word in
 * set that is no role) or SK_ERR_TOO_LONG (outlen too small). An empty
 * result is valid ("": a person with no role may log in to nothing). */
int sk_roles_apply(const char *set, const char *change, char *out,
                   size_t outlen);
/* 1 if set is a well-formed set (every word valid, no duplicates). */
int sk_roles_valid_set(const char *set);

#endif
