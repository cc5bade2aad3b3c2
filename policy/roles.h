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

/* Separated duties: 1 if a person holding set may run the admin or
 * auditor command named by its first word (the sekishoctl word, the same
 * over SSH), else 0. The table:
 *   auditor   sessions session verify replay watch search audit export
 *   admin     user target group grant request report
 *   approver  approve deny signoff
 * An admin reads no transcript unless also an auditor; an auditor
 * changes nothing. Any other word (init, key, backup, purge, ..., or an
 * unknown one) returns 0: such commands are root's (break-glass) only.
 * Words every person may use over SSH (targets, help, whoami, the
 * maintainer's own request/report) are the caller's to allow first.
 * A malformed set or a NULL argument returns 0 (fail closed). */
int sk_roles_may(const char *set, const char *command);
/* Nobody acts on themselves: returns SK_ERR_DENIED when actor and subject
 * name the same person and command is one that changes that person's
 * rights: "user" (their roles, state, expiry, sources, factors), "grant"
 * (access for themselves), "approve", "deny", "signoff" (their own
 * request or work). Call it for state-changing actions that name a
 * person; reads need no check. Returns 0 otherwise, and when actor is
 * NULL (root at the console, break-glass: audited instead). A NULL
 * subject or command returns SK_ERR_INVALID. */
int sk_roles_self_check(const char *actor, const char *subject,
                        const char *command);

#endif
