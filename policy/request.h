/*
 * Work-request rules (R-AC-5, R-LOG-3), pure: who may do what to a
 * request in which state. The store keeps the data; gateway/requests.c
 * applies these rules, then writes, audits and notifies.
 *
 *   pending --approve x N--> approved --report--> reported --signoff--> signed_off
 *      \\--deny--> denied
 *
 * A request grants shell access to its target only while approved and
 * inside its window [start, end). The requester may never vote on or sign
 * off their own request; each approver votes once.
 */
#ifndef SK_POLICY_REQUEST_H
#define SK_POLICY_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum sk_req_action {
    SK_REQ_APPROVE,
    SK_REQ_DENY,
    SK_REQ_REPORT,
    SK_REQ_SIGNOFF,
};

#define SK_REQ_REASON_MAX 1000
#define SK_REQ_MAX_WINDOW (30 * 86400) /* longest window one may ask */

/* May actor (with role, "admin" for sekishoctl) do action on a request
 * of requester in state? voted: actor already voted. Returns 0 or
 * SK_ERR_DENIED with the reason for the actor in why. */
int sk_req_check(const char *state, const char *requester, const char *actor,
                 const char *role, enum sk_req_action action, int voted,
                 char *why, size_t whylen);

/* Checks a new request's window: start >= now - 300 (a little slack for
 * "now"), 0 < length <= SK_REQ_MAX_WINDOW. */
int sk_req_window_ok(int64_t start, int64_t end, time_t now, char *why,
                     size_t whylen);

/* What an approver or auditor should read for a request: "awaiting
 * approval", "approved", "approved, window not open yet", "awaiting
 * report" (window over, no report), "awaiting sign-off", "signed off",
 * "denied". */
const char *sk_req_display(const char *state, int64_t start, int64_t end,
                           time_t now);

/* 1 if the role set holds approver: only approvers approve, deny and
 * sign off (an admin who is not also an approver may not). */
int sk_req_is_approver(const char *role);

#endif
