#include "algos.h"
#include "sk-err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

/* Longest algorithm name we accept; libssh's longest is about 40. */
#define ALGO_NAME_MAX 64

/* Why each refused family is out. Matched on the whole name or a part
 * of it, so every variant (-etm, -cert-v01, @vendor) is caught. These are
 * refused even if a later libssh, or this one built differently, knows
 * them: an old client is no reason to weaken every session. */
enum match { M_PART, M_PREFIX, M_WHOLE, M_SUFFIX };

static const struct {
    int kinds; /* bit mask of K(enum sk_algo_kind); 0: every kind */
    enum match how;
    const char *pat;
    const char *why;
} deny[] = {
#define K(kind) (1 << (kind))
    {0, M_PART, "sha1", "uses SHA-1, which has practical collisions"},
    {0, M_WHOLE, "none", "is no protection at all"},
    {K(SK_ALGO_CIPHER), M_PART, "-cbc",
     "is CBC mode (plaintext recovery attacks on SSH)"},
    {K(SK_ALGO_CIPHER), M_PART, "3des", "is 3DES (64-bit block)"},
    {K(SK_ALGO_CIPHER), M_PART, "arcfour", "is RC4 (biased key stream)"},
    {K(SK_ALGO_CIPHER), M_PART, "blowfish", "has a 64-bit block"},
    {K(SK_ALGO_KEX), M_PREFIX, "ecdh-sha2-nistp",
     "uses NIST curves of unexplained provenance"},
    {K(SK_ALGO_KEX), M_PREFIX, "diffie-hellman-group1-",
     "is a 1024-bit group"},
    {K(SK_ALGO_HOSTKEY), M_PREFIX, "ssh-rsa",
     "signs with SHA-1 (use rsa-sha2-512 or rsa-sha2-256)"},
    {K(SK_ALGO_HOSTKEY), M_PREFIX, "ssh-dss", "is DSA (1024-bit, SHA-1)"},
    {K(SK_ALGO_MAC), M_PART, "md5", "uses MD5"},
    {K(SK_ALGO_MAC), M_SUFFIX, "-96", "is truncated to 96 bits"},
#undef K
};

const char *sk_algos_denied(enum sk_algo_kind kind, const char *name)
{
    size_t i, nl = strlen(name), pl;

    for (i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
        if (deny[i].kinds != 0 && (deny[i].kinds & (1 << kind)) == 0) {
            continue;
        }
        pl = strlen(deny[i].pat);
        if ((deny[i].how == M_PART && strstr(name, deny[i].pat) != NULL) ||
            (deny[i].how == M_PREFIX &&
             strncmp(name, deny[i].pat, pl) == 0) ||
            (deny[i].how == M_WHOLE && strcmp(name, deny[i].pat) == 0) ||
            (deny[i].how == M_SUFFIX && nl >= pl &&
             strcmp(name + nl - pl, deny[i].pat) == 0)) {
            return deny[i].why;
        }
    }
    return NULL;
}

static int name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > ALGO_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("@.-_", s[i]) != NULL)) {
            return 0;
        }
    }
    return 1;
}

/* libssh itself is the judge of which names it implements: it refuses a
 * list in which it knows no name, so each name is offered alone to a
 * throwaway session. (The libssh of the worker is this same library.) */
static int libssh_knows(ssh_session s, enum sk_algo_kind kind,
                        const char *name)
{
    enum ssh_options_e opt = SSH_OPTIONS_KEY_EXCHANGE;

    switch (kind) {
    case SK_ALGO_KEX:
        opt = SSH_OPTIONS_KEY_EXCHANGE;
        break;
    case SK_ALGO_CIPHER:
        opt = SSH_OPTIONS_CIPHERS_C_S;
        break;
    case SK_ALGO_MAC:
        opt = SSH_OPTIONS_HMAC_C_S;
        break;
    case SK_ALGO_HOSTKEY:
        opt = SSH_OPTIONS_HOSTKEYS;
        break;
    }
    return ssh_options_set(s, opt, name) == 0;
}

int sk_algos_check(enum sk_algo_kind kind, const char *list, char *err,
                   size_t errlen)
{
    ssh_session s = NULL;
    char name[ALGO_NAME_MAX + 1];
    const char *p = list, *e, *why;
    size_t n;
    int r = SK_ERR_INVALID;

    if (list[0] == '\0') {
        snprintf(err, errlen, "empty list");
        goto out;
    }
    if ((s = ssh_new()) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    for (;;) {
        e = strchr(p, ',');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (!name_ok(p, n)) {
            snprintf(err, errlen, "'%.*s' is not an algorithm name "
                     "(a comma-separated list, no spaces)",
                     (int)(n > ALGO_NAME_MAX ? ALGO_NAME_MAX : n), p);
            goto out;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if ((why = sk_algos_denied(kind, name)) != NULL) {
            snprintf(err, errlen, "'%s' is not permitted: it %s", name, why);
            goto out;
        }
        if (!libssh_knows(s, kind, name)) {
            snprintf(err, errlen, "'%s' is not an algorithm of this kind "
                     "that libssh supports", name);
            goto out;
        }
        {
            /* a repeat is a typo for something else */
            const char *q = list;

            while (q < p) {
                const char *qe = strchr(q, ',');

                if ((size_t)(qe - q) == n && memcmp(q, name, n) == 0) {
                    snprintf(err, errlen, "'%s' is listed twice", name);
                    goto out;
                }
                q = qe + 1;
            }
        }
        if (e == NULL) {
            break;
        }
        p = e + 1;
    }
    r = 0;
out:
    ssh_free(s);
    return r;
}
