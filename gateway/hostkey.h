/*
 * The gateway's host key, split between the monitor and the worker.
 *
 * The worker speaks SSH to the client, so libssh in the worker must sign
 * each key exchange with the host key; but the worker parses hostile
 * input before authentication, and a pre-auth compromise must not steal
 * the key (an attacker holding it impersonates the gateway to every
 * maintainer). libssh 0.10 has no hook to sign with a key it does not
 * hold, and no server host certificates. So:
 *
 *   - the monitor alone reads the private key, AFTER the worker is forked
 *     (a fork copies memory, freed memory included), and signs;
 *   - the worker gets only the public half and builds from it a DECOY
 *     private key for libssh: the real public key with private parts that
 *     are constant junk, so libssh sends the right key and every signature
 *     libssh would make with it is worthless;
 *   - the worker's EVP_DigestSign (wk-sigcap.c: the executable's
 *     definition wins over libcrypto's) sends what libssh signs to the
 *     monitor, which checks it is an exchange hash (sk_hostkey_sign_check)
 *     and signs it with the real key.
 *
 * A compromised worker can thus ask for signatures of exchange-hash-sized
 * data while its connection lives, within a budget (OpenSSH's monitor has
 * the same property), but never learns the key.
 *
 * Supported host keys: ssh-ed25519 and RSA (rsa-sha2-256/512 signatures).
 */
#ifndef SK_HOSTKEY_H
#define SK_HOSTKEY_H

#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

/* Signatures one connection's host key may give: before authentication
 * the first key exchange and one re-exchange; in all, a re-exchange per
 * 1 GiB (OpenSSH's default rekey for ChaCha20) of 255 GiB. */
#define SK_HOSTKEY_SIGNS_PREAUTH 2
#define SK_HOSTKEY_SIGNS_MAX 256
/* Longest signature a supported host key makes (RSA-16384). */
#define SK_HOSTKEY_SIG_MAX 2048
/* Longest public key blob (RSA-16384 and its exponent). */
#define SK_HOSTKEY_BLOB_MAX 4096

struct sk_hostsigner;

/* Monitor. Loads the private key at path (an unencrypted OpenSSH key
 * file, as ssh-keygen and libssh write them, or a PEM RSA key), checks
 * its parts belong together, keeps it as a libcrypto key and returns its SSH public key
 * blob (malloc'd, *bloblen bytes; caller frees). Returns 0, SK_ERR_SYSTEM
 * (unreadable, or not a key libssh reads), SK_ERR_INVALID (a key type
 * other than Ed25519 or RSA) or SK_ERR_CRYPTO. Wipes every copy of the
 * private key it made on the way. */
int sk_hostkey_load(const char *path, struct sk_hostsigner **out,
                    uint8_t **blob, size_t *bloblen);
/* "ssh-ed25519" or "ssh-rsa": the key type of a loaded key. */
const char *sk_hostkey_type(const struct sk_hostsigner *s);
/* Signs data as libcrypto's EVP_DigestSign would for libssh: md_nid is
 * the digest libssh asked for (NID_undef for Ed25519, NID_sha256 or
 * NID_sha512 for RSA); writes the raw signature (what EVP_DigestSign
 * returns) to sig. Check with sk_hostkey_sign_check first. Returns 0,
 * SK_ERR_TOO_LONG (sigmax too small) or SK_ERR_CRYPTO. */
int sk_hostkey_sign(const struct sk_hostsigner *s, int md_nid,
                    const uint8_t *data, size_t len, uint8_t *sig,
                    size_t sigmax, size_t *siglen);
/* Frees and wipes. NULL is ok. */
void sk_hostkey_free(struct sk_hostsigner *s);

/* Pure: may the monitor sign len bytes with digest md_nid for a key of
 * type keytype, having signed `given` times already on this connection
 * (`preauth`: not yet authenticated)? Only a SHA-1/2 exchange hash (20,
 * 32, 48 or 64 bytes) with the digest the key type uses, within the
 * budget. Returns NULL (yes) or why not. */
const char *sk_hostkey_sign_check(const char *keytype, int md_nid,
                                  size_t len, int given, int preauth);

/* Worker. Builds the decoy private key for the public key blob: the
 * public key as it is, the private parts constant junk. Returns 0 and
 * *out (free with ssh_key_free), SK_ERR_INVALID (not a blob of a
 * supported type) or SK_ERR_CRYPTO (libssh refused it). */
int sk_hostkey_decoy(const uint8_t *blob, size_t bloblen, ssh_key *out);

#endif
