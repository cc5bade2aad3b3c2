#include "request.h"
#include "roles.h"
#include "sk-err.h"
#include "i18n.h" /* N_: English here, shown translated */

#include <stdio.h>
#include <string.h>

int sk_req_is_approver(const char *role)
{
    static const char *const approve[] = {"approve"};

    /* Separated duties (R-AC-3): admin alone manages, it does not decide.
     * The duty table (roles.h) says who decides. */
    return sk_roles_may(role, 1, approve);
}

static int deny(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
    return SK_ERR_DENIED;
}

int sk_req_check(const char *state, const char *requester, const char *actor,
                 const char *role, enum sk_req_action action, int voted,
                 char *why, size_t whylen)
{
    int own = strcmp(requester, actor) == 0;

    switch (action) {
    case SK_REQ_APPROVE:
    case SK_REQ_DENY:
        if (!sk_req_is_approver(role)) {
            return deny(why, whylen, N_("only approvers may decide requests"));
        }
        if (own) {
            return deny(why, whylen, N_("you cannot decide your own request"));
        }
        if (strcmp(state, "pending") != 0) {
            return deny(why, whylen,
                        N_("the request is not awaiting approval"));
        }
        if (voted) {
            return deny(why, whylen,
                        N_("you have already decided this request"));
        }
        return 0;
    case SK_REQ_REPORT:
        if (!own) {
            return deny(why, whylen, N_("only the requester reports the work"));
        }
        if (strcmp(state, "approved") != 0) {
            return deny(why, whylen, N_("only an approved request can be "
                                     "reported"));
        }
        return 0;
    case SK_REQ_SIGNOFF:
        if (!sk_req_is_approver(role)) {
            return deny(why, whylen, N_("only approvers may sign off"));
        }
        if (own) {
            return deny(why, whylen, N_("you cannot sign off your own work"));
        }
        if (strcmp(state, "reported") != 0) {
            return deny(why, whylen, N_("the work has not been reported yet"));
        }
        return 0;
    }
    return deny(why, whylen, N_("unknown action"));
}

int sk_req_window_ok(int64_t start, int64_t end, time_t now, char *why,
                     size_t whylen)
{
    if (start < (int64_t)now - 300) {
        return deny(why, whylen, N_("the window starts in the past"));
    }
    if (end <= start) {
        return deny(why, whylen, N_("the window is empty"));
    }
    if (end - start > SK_REQ_MAX_WINDOW) {
        return deny(why, whylen, N_("the window is longer than 30 days"));
    }
    return 0;
}

const char *sk_req_display(const char *state, int64_t start, int64_t end,
                           time_t now)
{
    if (strcmp(state, "pending") == 0) {
        return (int64_t)now >= end ? N_("expired unapproved")
                                   : N_("awaiting approval");
    }
    if (strcmp(state, "approved") == 0) {
        if ((int64_t)now < start) {
            return N_("approved, window not open yet");
        }
        return (int64_t)now < end ? N_("approved, window open")
                                  : N_("awaiting report");
    }
    if (strcmp(state, "reported") == 0) {
        return N_("awaiting sign-off");
    }
    if (strcmp(state, "signed_off") == 0) {
        return N_("signed off");
    }
    if (strcmp(state, N_("denied")) == 0) {
        return N_("denied");
    }
    return state;
}
