/* Format 2 primitives (tr-v2.h, FORMAT.md "Version 2"). */
#include "tr-v2.h"
#include "transcript.h"
#include "sk-err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct tr2_aead {
    EVP_CIPHER *cipher; /* fetched once: no lookup per record */
    EVP_CIPHER_CTX *ctx;
    int enc;
};

struct tr2_sha {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

int tr2_cipher_auto(void)
{
    /* Both are constant-time either way; this only picks the faster. */
    return sodium_runtime_has_aesni() && sodium_runtime_has_pclmul()
               ? SK_TR_CIPHER_AES256GCM
               : SK_TR_CIPHER_CHACHA20POLY1305;
}

const char *tr2_cipher_name(int cipher)
{
    switch (cipher) {
    case SK_TR_CIPHER_AES256GCM:
        return "aes256gcm";
    case SK_TR_CIPHER_CHACHA20POLY1305:
        return "chacha20poly1305";
    default:
        return NULL;
    }
}

int tr2_cipher_by_name(const char *name)
{
    if (name == NULL) {
        return 0;
    }
    if (strcmp(name, "aes256gcm") == 0) {
        return SK_TR_CIPHER_AES256GCM;
    }
    if (strcmp(name, "chacha20poly1305") == 0) {
        return SK_TR_CIPHER_CHACHA20POLY1305;
    }
    return 0;
}

int tr2_aead_new(int cipher, const uint8_t key[TR2_KEYBYTES], int enc,
                 struct tr2_aead **out)
{
    struct tr2_aead *a = NULL;
    const char *name = cipher == SK_TR_CIPHER_AES256GCM ? "AES-256-GCM"
                       : cipher == SK_TR_CIPHER_CHACHA20POLY1305
                           ? "ChaCha20-Poly1305"
                           : NULL;
    int r = SK_ERR_CRYPTO;

    *out = NULL;
    if (name == NULL) {
        return SK_ERR_INVALID;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        return SK_ERR_ALLOC;
    }
    a->enc = enc;
    if ((a->cipher = EVP_CIPHER_fetch(NULL, name, NULL)) == NULL ||
        (a->ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_CipherInit_ex2(a->ctx, a->cipher, key, NULL, enc, NULL) != 1 ||
        EVP_CIPHER_CTX_get_iv_length(a->ctx) != 12 ||
        EVP_CIPHER_CTX_get_key_length(a->ctx) != TR2_KEYBYTES) {
        goto out;
    }
    *out = a;
    a = NULL;
    r = 0;
out:
    tr2_aead_free(a);
    return r;
}

/* Keys the context for record seq and feeds its AAD. */
static int aead_start(struct tr2_aead *a, uint64_t seq, int final)
{
    uint8_t nonce[12] = {0}, aad[TR2_AADBYTES];
    int n = 0;

    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
        aad[i] = nonce[4 + i];
    }
    aad[8] = final ? 1 : 0;
    if (EVP_CipherInit_ex2(a->ctx, NULL, NULL, nonce, a->enc, NULL) != 1 ||
        EVP_CipherUpdate(a->ctx, NULL, &n, aad, sizeof(aad)) != 1) {
        return SK_ERR_CRYPTO;
    }
    return 0;
}

int tr2_seal(struct tr2_aead *a, uint64_t seq, int final, const uint8_t *in,
             size_t len, uint8_t *out)
{
    int n = 0, f = 0;

    if (!a->enc || len > SK_TR_REC_MAX) {
        return SK_ERR_INVALID;
    }
    if (aead_start(a, seq, final) != 0 ||
        (len > 0 && EVP_CipherUpdate(a->ctx, out, &n, in, (int)len) != 1) ||
        EVP_CipherFinal_ex(a->ctx, out + n, &f) != 1 ||
        (size_t)n + (size_t)f != len ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, TR2_TAGBYTES,
                            out + len) != 1) {
        return SK_ERR_CRYPTO;
    }
    return 0;
}

int tr2_open(struct tr2_aead *a, uint64_t seq, int final, const uint8_t *in,
             size_t len, uint8_t *out)
{
    uint8_t tag[TR2_TAGBYTES];
    size_t clen;
    int n = 0, f = 0;

    if (a->enc || len < TR2_TAGBYTES || len > SK_TR_REC_MAX) {
        return SK_ERR_INVALID;
    }
    clen = len - TR2_TAGBYTES;
    memcpy(tag, in + clen, sizeof(tag));
    if (aead_start(a, seq, final) != 0 ||
        (clen > 0 && EVP_CipherUpdate(a->ctx, out, &n, in, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, TR2_TAGBYTES,
                            tag) != 1 ||
        EVP_CipherFinal_ex(a->ctx, out + n, &f) != 1 ||
        (size_t)n + (size_t)f != clen) {
        return SK_ERR_CRYPTO;
    }
    return 0;
}

void tr2_aead_free(struct tr2_aead *a)
{
    if (a == NULL) {
        return;
    }
    EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
    EVP_CIPHER_free(a->cipher);
    free(a);
}

int tr2_sha_new(struct tr2_sha **out)
{
    struct tr2_sha *s = NULL;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        return SK_ERR_ALLOC;
    }
    if ((s->md = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL ||
        (s->ctx = EVP_MD_CTX_new()) == NULL) {
        tr2_sha_free(s);
        return SK_ERR_CRYPTO;
    }
    *out = s;
    return 0;
}

void tr2_sha_free(struct tr2_sha *s)
{
    if (s == NULL) {
        return;
    }
    EVP_MD_CTX_free(s->ctx);
    EVP_MD_free(s->md);
    free(s);
}

/* SHA-256 over up to three pieces. */
static int sha3p(struct tr2_sha *s, const uint8_t *a, size_t an,
                 const uint8_t *b, size_t bn, const uint8_t *c, size_t cn,
                 uint8_t out[32])
{
    unsigned int ol = 0;

    if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) != 1 ||
        (an > 0 && EVP_DigestUpdate(s->ctx, a, an) != 1) ||
        (bn > 0 && EVP_DigestUpdate(s->ctx, b, bn) != 1) ||
        (cn > 0 && EVP_DigestUpdate(s->ctx, c, cn) != 1) ||
        EVP_DigestFinal_ex(s->ctx, out, &ol) != 1 || ol != 32) {
        return SK_ERR_CRYPTO;
    }
    return 0;
}

int tr2_sha256(struct tr2_sha *s, const uint8_t *p, size_t n,
               uint8_t out[32])
{
    return sha3p(s, p, n, NULL, 0, NULL, 0, out);
}

int tr2_chain0(struct tr2_sha *s, uint8_t chain[32])
{
    return sha3p(s, (const uint8_t *)"SKTR2-CHAIN", 11,
                 (const uint8_t *)SK_TR_MAGIC_V2, SK_TR_MAGIC_LEN, NULL, 0,
                 chain);
}

int tr2_chain_step(struct tr2_sha *s, uint8_t chain[32],
                   const uint8_t head[5], const uint8_t digest[32])
{
    uint8_t prev[32];
    int r;

    memcpy(prev, chain, 32);
    r = sha3p(s, prev, 32, head, 5, digest, 32, chain);
    sodium_memzero(prev, sizeof(prev));
    return r;
}

int sk_tr_preload(void)
{
    struct tr2_aead *a = NULL;
    uint8_t key[TR2_KEYBYTES] = {0};
    int r;

    /* The very objects the writer makes, with a key of zeros: the same
     * provider, method and context code is loaded and touched. */
    r = tr2_aead_new(tr2_cipher_auto(), key, 1, &a);
    tr2_aead_free(a);
    if (r == 0) {
        EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", NULL);

        r = md != NULL ? 0 : SK_ERR_CRYPTO;
        EVP_MD_free(md);
    }
    return r;
}
