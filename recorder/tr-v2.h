/*
 * Format 2 primitives (FORMAT.md "Version 2"), shared by the writer and
 * the reader so the nonce, AAD and chain rules are written once: the
 * per-record AEAD (AES-256-GCM or ChaCha20-Poly1305 through OpenSSL's
 * EVP) and the SHA-256 chain. Internal to recorder/. Library code:
 * returns 0 or a negative SK_ERR_*, never logs.
 */
#ifndef SK_TR_V2_H
#define SK_TR_V2_H

#include <stddef.h>
#include <stdint.h>

#define TR2_TAGBYTES 16
#define TR2_KEYBYTES 32
#define TR2_AADBYTES 9 /* seq:u64 final:u8 */

/* The cipher the running CPU does fastest in hardware:
 * SK_TR_CIPHER_AES256GCM with AES-NI and carry-less multiply, else
 * SK_TR_CIPHER_CHACHA20POLY1305. Needs sodium_init() first. */
int tr2_cipher_auto(void);
/* "aes256gcm" / "chacha20poly1305", or NULL for anything else. */
const char *tr2_cipher_name(int cipher);
/* The SK_TR_CIPHER_* named, or 0 if the name is none of ours. */
int tr2_cipher_by_name(const char *name);

struct tr2_aead;

/* A context keyed once for a whole file (enc: 1 seal, 0 open). The key
 * is copied into OpenSSL's context; the caller wipes its own copy. The
 * EVP fetch happens here, so the recorder does it before its sandbox.
 * Returns 0, SK_ERR_INVALID (unknown cipher), SK_ERR_CRYPTO. */
int tr2_aead_new(int cipher, const uint8_t key[TR2_KEYBYTES], int enc,
                 struct tr2_aead **out);
/* Seals data record number seq (0 for the file's first data record):
 * nonce = seq as a 96-bit big-endian counter, AAD = seq || final.
 * out receives len + TR2_TAGBYTES bytes. */
int tr2_seal(struct tr2_aead *a, uint64_t seq, int final, const uint8_t *in,
             size_t len, uint8_t *out);
/* Opens a record sealed by tr2_seal with the same seq and final flag;
 * in holds ciphertext || tag (len >= TR2_TAGBYTES), out receives
 * len - TR2_TAGBYTES bytes (its content is undefined on failure).
 * Returns 0 or SK_ERR_CRYPTO (altered, wrong place, wrong flag). */
int tr2_open(struct tr2_aead *a, uint64_t seq, int final, const uint8_t *in,
             size_t len, uint8_t *out);
/* Frees, wiping the key schedule. NULL is fine. */
void tr2_aead_free(struct tr2_aead *a);

struct tr2_sha;

/* A SHA-256 context (one per thread). Returns 0 or SK_ERR_ALLOC /
 * SK_ERR_CRYPTO. */
int tr2_sha_new(struct tr2_sha **out);
void tr2_sha_free(struct tr2_sha *s);
/* out = SHA-256(p[0..n)). */
int tr2_sha256(struct tr2_sha *s, const uint8_t *p, size_t n,
               uint8_t out[32]);
/* chain = SHA-256("SKTR2-CHAIN" || magic): c0. */
int tr2_chain0(struct tr2_sha *s, uint8_t chain[32]);
/* chain = SHA-256(chain || head || digest), head = type:u8 length:u32,
 * digest = SHA-256(body). */
int tr2_chain_step(struct tr2_sha *s, uint8_t chain[32],
                   const uint8_t head[5], const uint8_t digest[32]);

#endif
