#include <stdio.h>
#include <string.h>

#include "roles.h"
#include "sk-err.h"
#include "util.h" /* SK_NAME_MAX */

/* Canonical order: how a set is always written back. */
static const char *const role_words[] = {"maintainer", "approver", "auditor",
                                         "admin"};
#define NROLES (sizeof(role_words) / sizeof(role_words[0]))

static int role_index(const char *w, size_t n)
{
    size_t i;

    for (i = 0; i < NROLES; i++) {
        if (strlen(role_words[i]) == n && memcmp(role_words[i], w, n) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int sk_role_valid(const char *word)
{
    return word != NULL && role_index(word, strlen(word)) >= 0;
}

/* Parses set into a bit per role. Returns 0 or SK_ERR_INVALID. */
static int roles_bits(const char *set, unsigned *bits)
{
    const char *p = set, *e;
    int i;

    *bits = 0;
    if (set == NULL || *set == '\0') {
        return 0;
    }
    for (;;) {
        e = strchr(p, ',');
        if (e == NULL) {
            e = p + strlen(p);
        }
        i = role_index(p, (size_t)(e - p));
        if (i < 0 || (*bits & (1u << i)) != 0) {
            return SK_ERR_INVALID;
        }
        *bits |= 1u << i;
        if (*e == '\0') {
            return 0;
        }
        p = e + 1;
    }
}

int sk_roles_valid_set(const char *set)
{
    unsigned bits;

    return set != NULL && roles_bits(set, &bits) == 0;
}

int sk_roles_has(const char *set, const char *role)
{
    unsigned bits;
    int i;

    if (set == NULL || role == NULL || roles_bits(set, &bits) != 0) {
        return 0;
    }
    i = role_index(role, strlen(role));
    return i >= 0 && (bits & (1u << i)) != 0;
}

int sk_roles_apply(const char *set, const char *change, char *out,
                   size_t outlen)
{
    unsigned bits;
    size_t i, used = 0;
    int k, n;
    char op = '=';

    if (change == NULL || out == NULL || roles_bits(set, &bits) != 0) {
        return SK_ERR_INVALID;
    }
    if (change[0] == '+' || change[0] == '-') {
        op = change[0];
        change++;
    }
    k = role_index(change, strlen(change));
    if (k < 0) {
        return SK_ERR_INVALID;
    }
    if (op == '+') {
        bits |= 1u << k;
    } else if (op == '-') {
        bits &= ~(1u << k);
    } else {
        bits = 1u << k;
    }
    if (outlen == 0) {
        return SK_ERR_TOO_LONG;
    }
    out[0] = '\0';
    for (i = 0; i < NROLES; i++) {
        if ((bits & (1u << i)) == 0) {
            continue;
        }
        n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "",
                     role_words[i]);
        if (n < 0 || (size_t)n >= outlen - used) {
            out[0] = '\0';
            return SK_ERR_TOO_LONG;
        }
        used += (size_t)n;
    }
    return 0;
}

/* The duty table (roles.h). Order matters: first match wins. */
static const struct sk_duty duties[] = {
    {"session", " list show watch ", "auditor", 1},
    {"session", " kill ", "admin", 1},
    {"verify", NULL, "auditor", 1},
    {"replay", NULL, "auditor", 1},
    {"search", NULL, "auditor", 1},
    {"export", NULL, "auditor", 1},
    {"audit", " show verify ", "auditor", 1},
    {"user", NULL, "admin", 1},
    {"target", NULL, "admin", 1},
    {"group", NULL, "admin", 1},
    {"grant", NULL, "admin", 1},
    {"request", " list show approve deny signoff ", "admin", 1},
    {"report", " privileges inspection ", "admin", 1},
    {"approve", NULL, "approver", 0},
    {"deny", NULL, "approver", 0},
    {"signoff", NULL, "approver", 0},
};

const struct sk_duty *sk_duties(size_t *n)
{
    *n = sizeof(duties) / sizeof(duties[0]);
    return duties;
}

const struct sk_duty *sk_duty_find(int argc, const char *const *argv)
{
    char pad[SK_NAME_MAX + 3];
    size_t i;

    if (argv == NULL || argc < 1 || argv[0] == NULL) {
        return NULL;
    }
    /* " WORD ": a second word matches a whole blank-delimited entry of
     * subs, never part of one; an odd one matches nothing. */
    pad[0] = '\0';
    if (argc >= 2 && argv[1] != NULL && argv[1][0] != '\0' &&
        strchr(argv[1], ' ') == NULL && strlen(argv[1]) <= SK_NAME_MAX) {
        snprintf(pad, sizeof(pad), " %s ", argv[1]);
    }
    for (i = 0; i < sizeof(duties) / sizeof(duties[0]); i++) {
        if (strcmp(duties[i].command, argv[0]) != 0) {
            continue;
        }
        if (duties[i].subs == NULL ||
            (pad[0] != '\0' && strstr(duties[i].subs, pad) != NULL)) {
            return &duties[i];
        }
    }
    return NULL;
}

int sk_roles_may(const char *set, int argc, const char *const *argv)
{
    const struct sk_duty *d;

    if (set == NULL || !sk_roles_valid_set(set) ||
        (d = sk_duty_find(argc, argv)) == NULL) {
        return 0;
    }
    return sk_roles_has(set, d->role);
}

int sk_roles_self_check(const char *actor, const char *subject,
                        const char *command)
{
    static const char *const on_self[] = {"user", "grant", "approve", "deny",
                                          "signoff"};
    size_t i;

    if (subject == NULL || command == NULL) {
        return SK_ERR_INVALID;
    }
    if (actor == NULL || strcmp(actor, subject) != 0) {
        return 0;
    }
    for (i = 0; i < sizeof(on_self) / sizeof(on_self[0]); i++) {
        if (strcmp(on_self[i], command) == 0) {
            return SK_ERR_DENIED;
        }
    }
    return 0;
}
