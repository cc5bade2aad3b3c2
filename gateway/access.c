#include "access.h"
#include "sk-err.h"
#include "util.h"
#include "policy/cidr.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int push(struct access *a, const char *target, int exec, int64_t from,
                int64_t until, int64_t request, const char *window,
                int64_t max_session)
{
    struct sk_policy_grant *g;
    struct sk_window *w = NULL;
    char why[160];

    if (window != NULL) {
        if ((w = malloc(sizeof(*w))) == NULL) {
            return -1;
        }
        if (sk_window_parse(window, w, why, sizeof(why)) != 0) {
            free(w);
            return 0; /* a rule we cannot read allows nothing */
        }
    }

    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        struct sk_policy_grant *nv = reallocarray(a->v, nc, sizeof(*nv));

        if (nv == NULL) {
            free(w);
            return -1;
        }
        a->v = nv;
        a->cap = nc;
    }
    g = &a->v[a->n];
    if ((g->target = strdup(target)) == NULL) {
        free(w);
        return -1;
    }
    g->window = w;
    g->max_session = max_session;
    g->allow_exec = exec;
    g->valid_from = from;
    g->valid_until = until;
    g->request_id = request;
    a->n++;
    return 0;
}

static int on_grant(const struct sk_grant *g, void *arg)
{
    return push(arg, g->target, g->allow_exec, 0, g->valid_until, 0,
                g->window, g->max_session);
}

static int on_request(const struct sk_request *r, void *arg)
{
    /* Only an approved, unreported request opens its window; a request
     * grants an interactive shell, never exec. */
    if (strcmp(r->state, "approved") != 0) {
        return 0;
    }
    return push(arg, r->target, 0, r->start, r->end, r->id, NULL, 0);
}

int access_load(sk_store *st, const char *user, struct access *a)
{
    int r;

    memset(a, 0, sizeof(*a));
    if ((r = sk_store_grant_list(st, user, on_grant, a)) != 0 ||
        (r = sk_store_group_grant_list(st, user, on_grant, a)) != 0 ||
        (r = sk_store_request_list(st, user, on_request, a)) != 0) {
        access_free(a);
        return r < 0 ? r : SK_ERR_ALLOC;
    }
    return 0;
}

void access_free(struct access *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free((char *)a->v[i].target);
        free((struct sk_window *)a->v[i].window);
    }
    free(a->v);
    memset(a, 0, sizeof(*a));
}

void access_when(const char *tz, time_t now, struct sk_when *out)
{
    /* The zone was checked when the configuration was read. */
    out->now = now;
    sk_local_time(tz, now, &out->wday, &out->minute, &out->second);
}

static int group_src_cb(const char *name, const char *sources,
                        const char *members, void *arg)
{
    const char *addr = ((const char **)arg)[0];

    (void)name;
    (void)members;
    if (sources != NULL && !sk_cidr_list_match(sources, addr)) {
        ((const char **)arg)[1] = name != NULL ? "group" : "?";
        return 1;
    }
    return 0;
}

int access_source_ok(sk_store *st, const char *user, const char *user_sources,
                     const char *addr)
{
    const char *arg[2] = {addr, NULL};

    if (!sk_cidr_list_match(user_sources, addr)) {
        return 0;
    }
    /* Every group's restriction applies too: membership never widens
     * where one may connect from. */
    if (sk_store_group_list(st, user, group_src_cb, arg) != 0) {
        return 0; /* fail closed */
    }
    return arg[1] == NULL;
}
