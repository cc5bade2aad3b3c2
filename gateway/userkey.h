/*
 * Users' public keys and FIDO2 security keys (sekishoctl user key, and
 * the monitor's check of a key a client offers). Parsing is libssh's.
 */
#ifndef SK_USERKEY_H
#define SK_USERKEY_H

#include <stddef.h>

#define SK_USERKEY_MAX 16384 /* longest key line accepted */

struct sk_userkey {
    char type[64];    /* e.g. sk-ssh-ed25519@openssh.com */
    char canon[12000]; /* "TYPE BASE64", as stored and compared */
    char fingerprint[128]; /* SHA256:... */
    char comment[256];     /* from the line, printable ASCII only */
    unsigned factor;       /* SK_F_PUBLICKEY or SK_F_SK (methods.h) */
};

/* Parses an OpenSSH public key line ("TYPE BASE64 [COMMENT]"). Accepts
 * Ed25519, ECDSA, RSA of at least 2048 bits, and the FIDO2 types
 * sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com.
 * Returns 0, or SK_ERR_INVALID with the reason in err. */
int sk_userkey_parse(const char *line, struct sk_userkey *out, char *err,
                     size_t errlen);

#endif
