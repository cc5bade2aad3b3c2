#include "policy.h"
#include "sk-err.h"

#include <stdio.h>
#include <string.h>

int sk_policy_grant_live(const struct sk_policy_grant *g, time_t now)
{
    return g->valid_until == 0 || (int64_t)now < g->valid_until;
}

int sk_policy_decide(const struct sk_policy_grant *grants, size_t n,
                     const char *target, enum sk_access_mode mode, time_t now,
                     char *why, size_t whylen)
{
    const struct sk_policy_grant *g = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(grants[i].target, target) == 0) {
            g = &grants[i];
            break;
        }
    }
    if (g == NULL) {
        snprintf(why, whylen, "no grant for target");
        return SK_ERR_DENIED;
    }
    if (!sk_policy_grant_live(g, now)) {
        snprintf(why, whylen, "grant expired");
        return SK_ERR_DENIED;
    }
    if (mode == SK_ACCESS_EXEC && !g->allow_exec) {
        snprintf(why, whylen, "grant does not allow exec");
        return SK_ERR_DENIED;
    }
    snprintf(why, whylen, "grant");
    return 0;
}
