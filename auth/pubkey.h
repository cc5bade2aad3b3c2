/*
 * The monitor's own check of a publickey signature (RFC 4252 section 7).
 * The worker is network-facing and may be compromised, so its word that
 * "libssh found the signature valid" is not enough: it hands over the
 * session identifier and the signature, and this code rebuilds the signed
 * data from the monitor's own facts (the user name, the REGISTERED key)
 * and verifies it. Pure: no I/O, no logging, no global state.
 *
 * Signed data (RFC 4252 section 7):
 *   string session_id, byte 50, string user, string "ssh-connection",
 *   string "publickey", bool TRUE, string algorithm, string key blob
 * For FIDO keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@
 * openssh.com; OpenSSH PROTOCOL.u2f) the key signs instead
 *   SHA256(application) || byte flags || uint32 counter || SHA256(data)
 * and the user-presence flag must be set.
 */
#ifndef SK_PUBKEY_H
#define SK_PUBKEY_H

#include <stddef.h>
#include <stdint.h>

#define SK_PK_SID_MAX 64  /* SHA-512 exchange hashes */
#define SK_PK_SIG_MAX 2048 /* RSA-16384 and DER ECDSA fit */
#define SK_PK_UP 0x01      /* FIDO flag: the user touched the key */

/* What the worker reports about one signed publickey request. */
struct sk_pk_proof {
    const unsigned char *session_id; /* H of the first key exchange */
    size_t session_id_len;
    const char *kex;  /* key exchange algorithm: fixes H's length */
    const char *user; /* the name the monitor authenticates */
    const char *alg;  /* signature algorithm the request named */
    /* The signature at the crypto level, as libssh hands it to libcrypto:
     * Ed25519 64 bytes; ECDSA DER (r, s); RSA PKCS#1 v1.5 bytes. */
    const unsigned char *sig;
    size_t sig_len;
    uint8_t sk_flags;    /* FIDO keys only */
    uint32_t sk_counter; /* FIDO keys only */
};

/* Length of the exchange hash of key exchange kex (32, 48 or 64), or 0
 * for an algorithm not known here. */
size_t sk_pubkey_kex_hash_len(const char *kex);

/* Verifies p against the registered key key_line ("TYPE BASE64", as the
 * store keeps it): rebuilds the signed data from p->session_id, p->user,
 * p->alg and the registered key's own blob. Returns 0 if the signature is
 * good; SK_ERR_INVALID for malformed input (a session id of the wrong
 * length for p->kex, an algorithm that does not fit the key, a key that
 * is not one of the accepted types); SK_ERR_DENIED for a FIDO signature
 * without user presence; SK_ERR_CRYPTO for a bad signature; SK_ERR_ALLOC.
 */
int sk_pubkey_verify(const char *key_line, const struct sk_pk_proof *p);

/* Splits signed data as libssh built it (the layout above) into the
 * session id and the algorithm name (NUL-terminated into alg, alglen
 * bytes). *sid points into data. Returns 0 or SK_ERR_INVALID. For the
 * worker, which observes the data libssh verified. */
int sk_pubkey_parse_signed(const unsigned char *data, size_t len,
                           const unsigned char **sid, size_t *sidlen,
                           char *alg, size_t alglen);

#endif
