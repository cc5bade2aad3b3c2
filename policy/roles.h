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

/* Separated duties (R-AC-3): THE table of which role runs which command,
 * the one source for the SSH command parser (policy/command.c), the
 * monitor's check of a worker's words, sekishoctl --actor (both through
 * sk_cmd_gw_check) and the approver's decisions (sk_req_is_approver).
 * One row: the command's first word (the sekishoctl subcommand, the same
 * over SSH), the second words it covers (blank-delimited and padded,
 * " list show "; NULL: any), the role it needs, and whether it runs as
 * that sekishoctl subcommand on the person's behalf (1) or is a command
 * of the parser's own (0: approve, deny, signoff). First match wins:
 *   auditor   session list|show|watch, verify, replay, search, export,
 *             audit show|verify
 *   admin     session kill, user, target, group, grant,
 *             request list|show|approve|deny|signoff,
 *             report privileges|inspection
 *   approver  approve, deny, signoff
 * An admin reads no transcript unless also an auditor; an auditor
 * changes nothing. Any other command (init, key, backup, purge, ..., or
 * an unknown one) is nobody's: root's (break-glass) only. Words every
 * person may use over SSH (targets, help, whoami, the maintainer's own
 * request/report) are the caller's to allow first. */
struct sk_duty {
    const char *command;
    const char *subs;
    const char *role;
    int sekishoctl;
};

/* The table, for walking it (tests, the manual): n rows. Static. */
const struct sk_duty *sk_duties(size_t *n);

/* The row for argv (argv[0] the command, argv[1] its second word if
 * argc >= 2), or NULL when no row covers it. A second word that is
 * empty, holds a blank or is longer than SK_NAME_MAX never matches a
 * row with subs. NULL argv or argc < 1 returns NULL. */
const struct sk_duty *sk_duty_find(int argc, const char *const *argv);

/* 1 if a person holding set may run argv (its row's role is in set),
 * else 0. A malformed set, a NULL argument or no row returns 0 (fail
 * closed). */
int sk_roles_may(const char *set, int argc, const char *const *argv);
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
