/*
 * A software FIDO2 authenticator for the tests: an OpenSSH
 * SecurityKeyProvider (the sk-api of OpenSSH 9.x, API 0x000a0000) that
 * makes and uses Ed25519 "security keys" in memory, so the real ssh-keygen
 * and ssh drive sk-ssh-ed25519@openssh.com authentication end to end on a
 * machine without a token. Never for production: the key handle is the
 * private key itself.
 *
 * What a token signs (OpenSSH PROTOCOL.u2f): SHA256(application) ||
 * flags || counter (big endian) || SHA256(message). The flags echo what
 * the client asked for (user presence by default), as a token that was
 * touched would.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The ABI, as OpenSSH's sk-api.h defines it. */
#define SK_VERSION_MAJOR 0x000a0000
#define SK_ED25519 0x01
#define SK_ERR_GENERAL -1
#define SK_ERR_UNSUPPORTED -2

struct sk_enroll_response {
    uint8_t flags;
    uint8_t *public_key;
    size_t public_key_len;
    uint8_t *key_handle;
    size_t key_handle_len;
    uint8_t *signature;
    size_t signature_len;
    uint8_t *attestation_cert;
    size_t attestation_cert_len;
    uint8_t *authdata;
    size_t authdata_len;
};

struct sk_sign_response {
    uint8_t flags;
    uint32_t counter;
    uint8_t *sig_r;
    size_t sig_r_len;
    uint8_t *sig_s;
    size_t sig_s_len;
};

struct sk_resident_key;
struct sk_option;

uint32_t sk_api_version(void);
int sk_enroll(uint32_t alg, const uint8_t *challenge, size_t challenge_len,
              const char *application, uint8_t flags, const char *pin,
              struct sk_option **options,
              struct sk_enroll_response **enroll_response);
int sk_sign(uint32_t alg, const uint8_t *data, size_t data_len,
            const char *application, const uint8_t *key_handle,
            size_t key_handle_len, uint8_t flags, const char *pin,
            struct sk_option **options,
            struct sk_sign_response **sign_response);
int sk_load_resident_keys(const char *pin, struct sk_option **options,
                          struct sk_resident_key ***rks, size_t *nrks);

uint32_t sk_api_version(void)
{
    return SK_VERSION_MAJOR;
}

int sk_enroll(uint32_t alg, const uint8_t *challenge, size_t challenge_len,
              const char *application, uint8_t flags, const char *pin,
              struct sk_option **options,
              struct sk_enroll_response **enroll_response)
{
    struct sk_enroll_response *r;

    (void)challenge;
    (void)challenge_len;
    (void)application;
    (void)pin;
    (void)options;
    if (enroll_response == NULL) {
        return SK_ERR_GENERAL;
    }
    *enroll_response = NULL;
    if (alg != SK_ED25519) {
        return SK_ERR_UNSUPPORTED;
    }
    if (sodium_init() < 0 || (r = calloc(1, sizeof(*r))) == NULL) {
        return SK_ERR_GENERAL;
    }
    r->flags = flags;
    r->public_key_len = crypto_sign_PUBLICKEYBYTES;
    r->key_handle_len = crypto_sign_SECRETKEYBYTES;
    r->public_key = calloc(1, r->public_key_len);
    r->key_handle = calloc(1, r->key_handle_len);
    /* No attestation: OpenSSH accepts an empty signature and certificate
     * but wants the fields allocated. */
    r->signature = calloc(1, 1);
    r->attestation_cert = calloc(1, 1);
    if (r->public_key == NULL || r->key_handle == NULL ||
        r->signature == NULL || r->attestation_cert == NULL ||
        crypto_sign_keypair(r->public_key, r->key_handle) != 0) {
        free(r->public_key);
        free(r->key_handle);
        free(r->signature);
        free(r->attestation_cert);
        free(r);
        return SK_ERR_GENERAL;
    }
    *enroll_response = r;
    return 0;
}

int sk_sign(uint32_t alg, const uint8_t *data, size_t data_len,
            const char *application, const uint8_t *key_handle,
            size_t key_handle_len, uint8_t flags, const char *pin,
            struct sk_option **options,
            struct sk_sign_response **sign_response)
{
    uint8_t tbs[32 + 1 + 4 + 32];
    struct sk_sign_response *r;
    uint32_t counter = 1;

    (void)pin;
    (void)options;
    if (sign_response == NULL) {
        return SK_ERR_GENERAL;
    }
    *sign_response = NULL;
    if (alg != SK_ED25519) {
        return SK_ERR_UNSUPPORTED;
    }
    if (application == NULL || key_handle == NULL ||
        key_handle_len != crypto_sign_SECRETKEYBYTES || sodium_init() < 0 ||
        (r = calloc(1, sizeof(*r))) == NULL) {
        return SK_ERR_GENERAL;
    }
    crypto_hash_sha256(tbs, (const uint8_t *)application,
                       strlen(application));
    tbs[32] = flags;
    tbs[33] = (uint8_t)(counter >> 24);
    tbs[34] = (uint8_t)(counter >> 16);
    tbs[35] = (uint8_t)(counter >> 8);
    tbs[36] = (uint8_t)counter;
    crypto_hash_sha256(tbs + 37, data, data_len);
    r->flags = flags;
    r->counter = counter;
    r->sig_r_len = crypto_sign_BYTES;
    if ((r->sig_r = calloc(1, r->sig_r_len)) == NULL ||
        crypto_sign_detached(r->sig_r, NULL, tbs, sizeof(tbs), key_handle) !=
            0) {
        free(r->sig_r);
        free(r);
        return SK_ERR_GENERAL;
    }
    *sign_response = r;
    return 0;
}

int sk_load_resident_keys(const char *pin, struct sk_option **options,
                          struct sk_resident_key ***rks, size_t *nrks)
{
    (void)pin;
    (void)options;
    (void)rks;
    (void)nrks;
    return SK_ERR_UNSUPPORTED;
}
