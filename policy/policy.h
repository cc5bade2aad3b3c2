/*
 * Access decisions. Pure: the caller loads the user's grants from the
 * store and passes them in; nothing here does I/O. Deny by default.
 */
#ifndef SK_POLICY_H
#define SK_POLICY_H

#include "window.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The moment of a decision: the absolute time and, for time-of-day rules,
 * the weekday (0 = Sunday) and minute in the gateway's time zone. */
struct sk_when {
    time_t now;
    int wday;
    int minute;
    int second; /* of that minute, 0..60; 0 where the caller has none */
};

struct sk_policy_grant {
    const char *target;
    int allow_exec;
    int64_t valid_from;  /* 0: no start */
    int64_t valid_until; /* 0: no end (exclusive) */
    int64_t request_id;  /* 0: a standing grant; else an approved request */
    const struct sk_window *window; /* NULL: any time of day */
    int64_t max_session; /* seconds a session under this rule may last; 0 */
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
                     const char *target, enum sk_access_mode mode,
                     const struct sk_when *when, char *why, size_t whylen);

/* As sk_policy_decide; on success *index (may be NULL) names the grant
 * that allowed it (for linking the session to its request). */
int sk_policy_match(const struct sk_policy_grant *grants, size_t n,
                    const char *target, enum sk_access_mode mode,
                    const struct sk_when *when, char *why, size_t whylen,
                    size_t *index);

/* 1 if the grant is usable at when (validity and time of day; ignoring
 * mode). */
int sk_policy_grant_live(const struct sk_policy_grant *g,
                         const struct sk_when *when);

/* The first moment after when->now at which sk_policy_match's answer for
 * target may change: a grant's validity starting or ending, or a minute at
 * which one of its time-of-day windows opens or closes. Nothing sooner:
 * returns when->now + horizon (horizon is cut to 8 days, and is at least
 * 1). Window minutes are counted on from when in the same local time, so a
 * change of the zone's offset within the span (daylight saving) is not
 * foreseen: the caller looks again at least every horizon seconds, with a
 * fresh when. Pure; always later than when->now. */
time_t sk_policy_next_change(const struct sk_policy_grant *grants, size_t n,
                             const char *target, const struct sk_when *when,
                             int64_t horizon);

#endif
