#include "methods.h"
#include "sk-err.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} factors[] = {
    {"password", SK_F_PASSWORD},
    {"totp", SK_F_TOTP},
    {"publickey", SK_F_PUBLICKEY},
    {"sk", SK_F_SK},
};
#define NFACTORS (sizeof(factors) / sizeof(factors[0]))

static int popcount(unsigned v)
{
    int n = 0;

    for (; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

static unsigned factor_bit(const char *w, size_t len)
{
    for (size_t i = 0; i < NFACTORS; i++) {
        if (strlen(factors[i].name) == len &&
            memcmp(factors[i].name, w, len) == 0) {
            return factors[i].bit;
        }
    }
    return 0;
}

int sk_methods_parse(const char *text, int min_factors,
                     struct sk_methods *out, char *err, size_t errlen)
{
    const char *p = text;

    memset(out, 0, sizeof(*out));
    if (strlen(text) > SK_METHODS_TEXT_MAX) {
        snprintf(err, errlen, "rule longer than %d characters",
                 SK_METHODS_TEXT_MAX);
        return SK_ERR_INVALID;
    }
    for (;;) {
        unsigned alt = 0;
        int k = 0, dup = 0;

        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        for (;;) {
            size_t len = strcspn(p, "+ \t");
            unsigned bit = factor_bit(p, len);

            if (len == 0) {
                snprintf(err, errlen, "empty factor (a '+' with nothing "
                                      "on one side)");
                return SK_ERR_INVALID;
            }
            if (bit == 0) {
                snprintf(err, errlen,
                         "unknown factor '%.*s' (known: password, totp, "
                         "publickey, sk)",
                         (int)(len > 32 ? 32 : len), p);
                return SK_ERR_INVALID;
            }
            if (alt & bit) {
                snprintf(err, errlen, "factor '%.*s' named twice in one "
                                      "alternative",
                         (int)len, p);
                return SK_ERR_INVALID;
            }
            alt |= bit;
            k++;
            p += len;
            if (*p != '+') {
                break;
            }
            p++;
        }
        if (k < min_factors) {
            char f[64];

            sk_factors_format(alt, f, sizeof(f));
            snprintf(err, errlen,
                     "alternative '%s' has %d factor%s; at least %d are "
                     "required",
                     f, k, k == 1 ? "" : "s", min_factors);
            return SK_ERR_INVALID;
        }
        for (int i = 0; i < out->n; i++) {
            dup |= out->alt[i] == alt;
        }
        if (dup) {
            continue;
        }
        if (out->n == SK_METHODS_MAX_ALT) {
            snprintf(err, errlen, "more than %d alternatives",
                     SK_METHODS_MAX_ALT);
            return SK_ERR_INVALID;
        }
        out->alt[out->n++] = alt;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "empty rule");
        return SK_ERR_INVALID;
    }
    return 0;
}

int sk_methods_satisfied(const struct sk_methods *m, unsigned done)
{
    for (int i = 0; i < m->n; i++) {
        if ((m->alt[i] & ~done) == 0) {
            return 1;
        }
    }
    return 0;
}

unsigned sk_methods_wanted(const struct sk_methods *m, unsigned done)
{
    unsigned w = 0;

    if (sk_methods_satisfied(m, done)) {
        return 0;
    }
    for (int i = 0; i < m->n; i++) {
        w |= m->alt[i] & ~done;
    }
    return w;
}

unsigned sk_methods_pam_ask(const struct sk_methods *m, unsigned done)
{
    unsigned best = 0;
    int best_n = 99;

    if (sk_methods_satisfied(m, done)) {
        return 0;
    }
    /* Only alternatives whose keys are all done: a password asked before
     * its key would be a password oracle for anyone without the key
     * (and its success would clear the failure count). */
    for (int i = 0; i < m->n; i++) {
        unsigned left = m->alt[i] & ~done;
        unsigned pam = left & SK_F_PAM;

        if (pam != 0 && (left & SK_F_KEYS) == 0 && popcount(pam) < best_n) {
            best = pam;
            best_n = popcount(pam);
        }
    }
    return best;
}

void sk_factors_format(unsigned f, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < NFACTORS; i++) {
        if (f & factors[i].bit) {
            int w = snprintf(out + o, outlen - o, "%s%s", o ? "+" : "",
                             factors[i].name);

            if (w < 0 || (size_t)w >= outlen - o) {
                return;
            }
            o += (size_t)w;
        }
    }
    if (o == 0) {
        snprintf(out, outlen, "none");
    }
}

void sk_methods_format(const struct sk_methods *m, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    for (int i = 0; i < m->n; i++) {
        char f[64];
        int w;

        sk_factors_format(m->alt[i], f, sizeof(f));
        w = snprintf(out + o, outlen - o, "%s%s", i ? " " : "", f);
        if (w < 0 || (size_t)w >= outlen - o) {
            return;
        }
        o += (size_t)w;
    }
}
