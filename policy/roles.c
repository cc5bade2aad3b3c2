#include <stdio.h>
#include <string.h>

#include "roles.h"
#include "sk-err.h"

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

/* The duty table (roles.h): which role each admin/auditor command needs. */
static const struct {
    const char *command;
    const char *role;
} duties[] = {
    {"sessions", "auditor"}, {"session", "auditor"}, {"verify", "auditor"},
    {"replay", "auditor"},   {"watch", "auditor"},   {"search", "auditor"},
    {"audit", "auditor"},    {"export", "auditor"},  {"user", "admin"},
    {"target", "admin"},     {"group", "admin"},     {"grant", "admin"},
    {"request", "admin"},    {"report", "admin"},    {"approve", "approver"},
    {"deny", "approver"},    {"signoff", "approver"},
};

int sk_roles_may(const char *set, const char *command)
{
    size_t i;

    if (set == NULL || command == NULL || !sk_roles_valid_set(set)) {
        return 0;
    }
    for (i = 0; i < sizeof(duties) / sizeof(duties[0]); i++) {
        if (strcmp(duties[i].command, command) == 0) {
            return sk_roles_has(set, duties[i].role);
        }
    }
    return 0;
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
