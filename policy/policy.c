#include "policy.h"
#include "sk-err.h"

#include <stdio.h>
#include <string.h>

static int valid_at(const struct sk_policy_grant *g, time_t now)
{
    return (g->valid_from == 0 || (int64_t)now >= g->valid_from) &&
           (g->valid_until == 0 || (int64_t)now < g->valid_until);
}

int sk_policy_grant_live(const struct sk_policy_grant *g,
                         const struct sk_when *when)
{
    return valid_at(g, when->now) &&
           (g->window == NULL ||
            sk_window_contains(g->window, when->wday, when->minute));
}

int sk_policy_match(const struct sk_policy_grant *grants, size_t n,
                    const char *target, enum sk_access_mode mode,
                    const struct sk_when *when, char *why, size_t whylen,
                    size_t *index)
{
    time_t now = when->now;
    const char *reason = "no grant for target";
    int rank = 0; /* how close the best failing grant came */
    size_t i;

    /* Several rules may name the target (a standing grant, approved work
     * requests): any one that allows this mode now is enough. The reason
     * given otherwise is that of the closest miss. */
    for (i = 0; i < n; i++) {
        const struct sk_policy_grant *g = &grants[i];

        if (strcmp(g->target, target) != 0) {
            continue;
        }
        if (!valid_at(g, now)) {
            if (rank < 1) {
                rank = 1;
                reason = g->request_id == 0 ? "grant expired"
                         : (int64_t)now < g->valid_from
                             ? "request window not open yet"
                             : "request window closed";
            }
            continue;
        }
        if (!sk_policy_grant_live(g, when)) {
            if (rank < 2) {
                rank = 2;
                reason = "outside the rule's hours";
            }
            continue;
        }
        if (mode == SK_ACCESS_EXEC && !g->allow_exec) {
            if (rank < 3) {
                rank = 3;
                reason = "grant does not allow exec";
            }
            continue;
        }
        if (index != NULL) {
            *index = i;
        }
        snprintf(why, whylen, "%s", g->request_id ? "request" : "grant");
        return 0;
    }
    snprintf(why, whylen, "%s", reason);
    return SK_ERR_DENIED;
}

/* Longest look ahead: past a week, window minutes repeat. */
#define NEXT_CHANGE_MAX ((int64_t)8 * 86400)

time_t sk_policy_next_change(const struct sk_policy_grant *grants, size_t n,
                             const char *target, const struct sk_when *when,
                             int64_t horizon)
{
    int64_t now = (int64_t)when->now, best, t;
    size_t i;

    if (horizon < 1) {
        horizon = 1;
    } else if (horizon > NEXT_CHANGE_MAX) {
        horizon = NEXT_CHANGE_MAX;
    }
    best = now + horizon;
    for (i = 0; i < n; i++) {
        const struct sk_policy_grant *g = &grants[i];

        if (strcmp(g->target, target) != 0) {
            continue;
        }
        if (g->valid_from > now && g->valid_from < best) {
            best = g->valid_from;
        }
        if (g->valid_until > now && g->valid_until < best) {
            best = g->valid_until;
        }
        if (g->window != NULL && when->wday >= 0 && when->wday < 7 &&
            when->minute >= 0 && when->minute < 1440) {
            int in = sk_window_contains(g->window, when->wday, when->minute);
            int wday = when->wday, minute = when->minute;
            int sec = when->second < 0 ? 0 : when->second;

            /* the start of each following local minute, until it differs */
            for (t = now - (sec > 59 ? 59 : sec) + 60; t < best; t += 60) {
                if (++minute == 1440) {
                    minute = 0;
                    wday = (wday + 1) % 7;
                }
                if (sk_window_contains(g->window, wday, minute) != in) {
                    best = t;
                    break;
                }
            }
        }
    }
    return (time_t)best;
}

int sk_policy_decide(const struct sk_policy_grant *grants, size_t n,
                     const char *target, enum sk_access_mode mode,
                     const struct sk_when *when, char *why, size_t whylen)
{
    return sk_policy_match(grants, n, target, mode, when, why, whylen, NULL);
}
