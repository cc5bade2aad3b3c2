/*
 * SSH algorithm lists of the configuration (kex_algorithms, ciphers, macs,
 * host_key_algorithms): checked once at load so that a typo or a weak
 * algorithm is a configuration error, never a silently weaker gateway.
 */
#ifndef SK_ALGOS_H
#define SK_ALGOS_H

#include <stddef.h>

enum sk_algo_kind {
    SK_ALGO_KEX,
    SK_ALGO_CIPHER,
    SK_ALGO_MAC,
    SK_ALGO_HOSTKEY,
};

/* Checks list, a comma-separated list of algorithm names of kind. Each
 * name must be one libssh implements for that kind and not one the deny
 * list names (SHA-1, CBC, 3DES, NIST-curve ECDH, DH group1, ssh-rsa,
 * ssh-dss, MD5 and truncated -96 MACs, none); the list must not be empty
 * nor name an algorithm twice. Returns 0, or SK_ERR_INVALID with a reason
 * naming the offending value written to err (without the key name), or
 * SK_ERR_ALLOC. Never logs. */
int sk_algos_check(enum sk_algo_kind kind, const char *list, char *err,
                   size_t errlen);

/* Returns the reason name (a deny-list entry's why) is refused for kind,
 * or NULL if it is not on the deny list. Does not ask libssh. */
const char *sk_algos_denied(enum sk_algo_kind kind, const char *name);

#endif
