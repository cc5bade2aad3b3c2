/*
 * Ed25519 keys held by the gateway itself (the egress key targets trust;
 * later the transcript signing key), in a plain, explicit file format:
 *
 *   sekisho-ed25519-secret-v1
 *   <base64 of the 64-byte libsodium secret key>
 *
 * Public keys are shown as OpenSSH lines ("ssh-ed25519 BASE64 comment").
 * Secret keys live in sodium_malloc'd memory; sk_key_free wipes them.
 */
#ifndef SK_KEY_H
#define SK_KEY_H

#include <stddef.h>
#include <stdint.h>

struct sk_key;

/* Generates a new key and writes it to path (O_EXCL, mode 0600). */
int sk_key_generate_file(const char *path);
/* Loads a secret key file. Returns 0 and *out, or SK_ERR_*. */
int sk_key_load(const char *path, struct sk_key **out);
void sk_key_free(struct sk_key *k);

/* SSH wire public key blob (string "ssh-ed25519", string pk): writes up to
 * outlen bytes, returns the length (51) or SK_ERR_TOO_LONG. */
int sk_key_pub_blob(const struct sk_key *k, uint8_t *out, size_t outlen);
/* "ssh-ed25519 BASE64 comment" into a new string; caller frees. */
char *sk_key_pub_line(const struct sk_key *k, const char *comment);
/* SSH signature blob (string "ssh-ed25519", string sig) of data. */
int sk_key_sign_ssh(const struct sk_key *k, const uint8_t *data, size_t len,
                    uint8_t *out, size_t outlen, size_t *siglen);

#define SK_KEY_PUBLEN 32
#define SK_KEY_SIGLEN 64
/* Raw 32-byte Ed25519 public key. */
void sk_key_pub_raw(const struct sk_key *k, uint8_t pk[SK_KEY_PUBLEN]);
/* Raw detached Ed25519 signature. Returns 0 or SK_ERR_CRYPTO. */
int sk_key_sign_raw(const struct sk_key *k, const uint8_t *data, size_t len,
                    uint8_t sig[SK_KEY_SIGLEN]);
/* Returns 0 if sig is pk's signature of data, else SK_ERR_CRYPTO. */
int sk_key_verify_raw(const uint8_t pk[SK_KEY_PUBLEN], const uint8_t *data,
                      size_t len, const uint8_t sig[SK_KEY_SIGLEN]);
/* Key id "KIND:" + 16 hex digits of BLAKE2b(pk), e.g. "ed25519:9f3c...".
 * Names a key in transcripts and audit lines; out >= 32 bytes. */
void sk_key_id(const char *kind, const uint8_t *pk, size_t pklen, char *out,
               size_t outlen);
/* Parses an "ssh-ed25519 BASE64 [comment]" line. Returns 0 or
 * SK_ERR_INVALID. */
int sk_key_parse_pub_line(const char *line, uint8_t pk[SK_KEY_PUBLEN]);

/* A set of trusted Ed25519 public keys, looked up by key id: what
 * verifiers (sekishoctl, sekisho-verify) check signatures against. */
#define SK_KEYRING_MAX 16
struct sk_keyring {
    int n;
    char id[SK_KEYRING_MAX][40];
    uint8_t pk[SK_KEYRING_MAX][SK_KEY_PUBLEN];
};
/* Adds the key in an "ssh-ed25519 ..." file. Returns 0, SK_ERR_TOO_LONG
 * (ring full), SK_ERR_INVALID (not such a line) or SK_ERR_SYSTEM. */
int sk_keyring_add_file(struct sk_keyring *ring, const char *path);
/* Finds id in ring (arg) and copies its key: the shape of the verifiers'
 * key callbacks. Returns 0 or -1. */
int sk_keyring_find(const char *id, uint8_t pk[SK_KEY_PUBLEN], void *ring);

/*
 * Auditor keys (X25519, libsodium crypto_box): transcripts' stream keys
 * are sealed to their public halves. Files:
 *   public:  "sekisho-x25519-public-v1 BASE64 comment\n"
 *   secret:  "sekisho-x25519-secret-v1\nBASE64\n", or with a passphrase
 *            "sekisho-x25519-secret-v1-argon2id\nSALT OPS MEM\nBASE64\n"
 *            (argon2id-derived secretbox key; BASE64 is nonce||box).
 */
struct sk_boxkey {
    uint8_t pk[32];
    uint8_t sk[32];
};
/* Creates both files (O_EXCL, 0600/0644). passphrase NULL: unprotected. */
int sk_boxkey_generate_files(const char *secpath, const char *pubpath,
                             const char *passphrase);
/* Loads a secret key (sodium_malloc'd; free with sk_boxkey_free). Returns
 * SK_ERR_DENIED if the file needs a passphrase and none or a wrong one was
 * given. */
int sk_boxkey_load_secret(const char *path, const char *passphrase,
                          struct sk_boxkey **out);
void sk_boxkey_free(struct sk_boxkey *k);
/* Writes k's secret half to a new file path (O_EXCL, 0600), sealed under
 * passphrase (NULL: unprotected). Returns 0 or SK_ERR_* (EXISTS too). */
int sk_boxkey_write_secret(const char *path, const struct sk_boxkey *k,
                           const char *passphrase);
int sk_boxkey_load_public(const char *path, uint8_t pk[32]);

#endif
