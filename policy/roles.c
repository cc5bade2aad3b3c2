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
