/*
 * TOTP second factor (RFC 6238, HMAC-SHA-1, 6 digits, 30-second steps),
 * computed by liboath. Secrets are 20 random bytes, kept at rest sealed
 * with libsodium secretbox under the gateway's TOTP key file.
 *
 * Pure except sk_totp_key_* (files). Secrets passed in and out are raw
 * bytes; callers wipe them.
 */
#ifndef SK_AUTH_TOTP_H
#define SK_AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SK_TOTP_SECRET_LEN 20
#define SK_TOTP_STEP 30
#define SK_TOTP_DIGITS 6
/* Sealed form: nonce + MAC + secret. */
#define SK_TOTP_SEALED_LEN (24 + 16 + SK_TOTP_SECRET_LEN)
#define SK_TOTP_KEY_LEN 32

/* Creates a new random key file (O_EXCL, 0600). */
int sk_totp_key_generate(const char *path);
/* Loads the key file into key (SK_TOTP_KEY_LEN bytes). */
int sk_totp_key_load(const char *path, uint8_t *key);

/* New random secret. */
void sk_totp_secret_new(uint8_t *secret);
/* Seals a secret for the store; out is SK_TOTP_SEALED_LEN bytes. */
int sk_totp_seal(const uint8_t *key, const uint8_t *secret, uint8_t *out);
/* Opens a sealed secret; SK_ERR_CRYPTO if it was altered or the key is
 * wrong. */
int sk_totp_open(const uint8_t *key, const uint8_t *sealed, size_t len,
                 uint8_t *secret);

/* Checks code (6 ASCII digits) at time now against the current step and
 * one step either side. On a match returns 0 and the matched step in
 * *step (the caller refuses a step already used: replay). Otherwise
 * SK_ERR_DENIED. */
int sk_totp_verify(const uint8_t *secret, const char *code, time_t now,
                   uint64_t *step);

/* The code for now (tests, enrolment check). out: 7 bytes. */
int sk_totp_generate(const uint8_t *secret, time_t now, char *out);

/* otpauth://totp/ISSUER:USER?secret=BASE32&issuer=ISSUER&... for
 * authenticator apps; returns a new string (caller frees) or NULL. */
char *sk_totp_uri(const uint8_t *secret, const char *issuer,
                  const char *user);

#endif
