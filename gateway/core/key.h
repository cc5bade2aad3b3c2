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

#endif
