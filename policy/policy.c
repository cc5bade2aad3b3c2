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

int sk_policy_decide(const struct sk_policy_grant *grants, size_t n,
                     const char *target, enum sk_access_mode mode,
                     const struct sk_when *when, char *why, size_t whylen)
{
    return sk_policy_match(grants, n, target, mode, when, why, whylen, NULL);
}
