/*
 * Password hashing and policy. Hashes are libsodium argon2id strings
 * ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), so the parameters are
 * recorded per hash and can be raised later without breaking old hashes.
 * Complexity is checked by libpwquality: the one policy source for the
 * gateway and sekishoctl. Callers wipe the plaintext after use.
 */
#ifndef SK_AUTH_PASSWORD_H
#define SK_AUTH_PASSWORD_H

#include <stddef.h>

#define SK_PW_MAX 1024 /* longest password accepted at all */
#define SK_PW_HASH_MAX 128

struct sk_pw_policy {
    int min_length; /* never below 8 */
    int min_classes; /* lower, upper, digit, symbol */
};

/* The default policy: 12 characters, all four classes. */
void sk_pw_policy_default(struct sk_pw_policy *p);

/* Checks a new password for user against the policy. Returns 0 if it is
 * acceptable, or SK_ERR_DENIED with a human-readable reason in reason
 * (never containing the password). Blocks briefly (dictionary lookup). */
int sk_pw_check(const struct sk_pw_policy *p, const char *user,
                const char *password, char *reason, size_t reasonlen);

/* Hashes password into out (>= SK_PW_HASH_MAX). CPU- and memory-hard by
 * design: takes ~0.1-0.5 s. Returns 0 or SK_ERR_CRYPTO/SK_ERR_TOO_LONG. */
int sk_pw_hash(const char *password, char *out, size_t outlen);

/* Verifies password against a stored hash: 0 if it matches, SK_ERR_DENIED
 * if not. A NULL hash runs a dummy verification of equal cost and fails,
 * so unknown users take as long as known ones. */
int sk_pw_verify(const char *hash, const char *password);

/* The constant argon2id hash a NULL hash is checked against (same
 * parameters as sk_pw_hash; matches no password). For tests. */
const char *sk_pw_dummy_hash(void);

#endif
