/* Auditor key files (see key.h). */
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUB_MAGIC "sekisho-x25519-public-v1 "
#define SEC_MAGIC "sekisho-x25519-secret-v1\n"
#define SEC_MAGIC_PW "sekisho-x25519-secret-v1-argon2id\n"

static int derive(const char *passphrase, const uint8_t *salt,
                  unsigned long long ops, size_t mem,
                  uint8_t key[crypto_secretbox_KEYBYTES])
{
    /* Bounds keep a crafted file from asking for absurd work. */
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > 64 ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > (size_t)4 << 30) {
        return SK_ERR_INVALID;
    }
    return crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase,
                         strlen(passphrase), salt, ops, mem,
                         crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : SK_ERR_ALLOC;
}

/* The secret key file's text for sk, sealed under passphrase unless it
 * is NULL, into text (n bytes); *len its length. Returns 0 or SK_ERR_*. */
static int secret_text(const uint8_t *sk, const char *passphrase,
                       char *text, size_t n, size_t *len)
{
    uint8_t key[crypto_secretbox_KEYBYTES], salt[crypto_pwhash_SALTBYTES],
        sealed[crypto_secretbox_NONCEBYTES + 32 + crypto_secretbox_MACBYTES];
    char b64[128], sb64[64];
    unsigned long long ops = crypto_pwhash_OPSLIMIT_MODERATE;
    size_t mem = crypto_pwhash_MEMLIMIT_MODERATE;
    int k, r;

    if (passphrase == NULL) {
        sodium_bin2base64(b64, sizeof(b64), sk, 32,
                          sodium_base64_VARIANT_ORIGINAL);
        k = snprintf(text, n, "%s%s\n", SEC_MAGIC, b64);
    } else {
        randombytes_buf(salt, sizeof(salt));
        randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
        if ((r = derive(passphrase, salt, ops, mem, key)) != 0) {
            return r;
        }
        crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, sk, 32,
                              sealed, key);
        sodium_memzero(key, sizeof(key));
        sodium_bin2base64(sb64, sizeof(sb64), salt, sizeof(salt),
                          sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(b64, sizeof(b64), sealed, sizeof(sealed),
                          sodium_base64_VARIANT_ORIGINAL);
        k = snprintf(text, n, "%s%s %llu %zu\n%s\n", SEC_MAGIC_PW, sb64, ops,
                     mem, b64);
    }
    sodium_memzero(b64, sizeof(b64));
    if (k <= 0 || (size_t)k >= n) {
        sodium_memzero(text, n);
        return SK_ERR_INTERNAL;
    }
    *len = (size_t)k;
    return 0;
}

int sk_boxkey_generate_files(const char *secpath, const char *pubpath,
                             const char *passphrase)
{
    uint8_t pk[32], *sk = NULL;
    char b64[128], text[512];
    size_t len = 0;
    int n, r;

    if ((sk = sodium_malloc(32)) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (crypto_box_keypair(pk, sk) != 0) {
        sodium_free(sk);
        return SK_ERR_CRYPTO;
    }
    r = secret_text(sk, passphrase, text, sizeof(text), &len);
    sodium_free(sk);
    if (r == 0) {
        r = sk_file_write_new(secpath, text, len, 0600);
    }
    sodium_memzero(text, sizeof(text));
    if (r != 0) {
        return r;
    }
    sodium_bin2base64(b64, sizeof(b64), pk, sizeof(pk),
                      sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(text, sizeof(text), "%s%s sekisho-auditor\n", PUB_MAGIC,
                 b64);
    return sk_file_write_new(pubpath, text, (size_t)n, 0644);
}

int sk_boxkey_write_secret(const char *path, const struct sk_boxkey *k,
                           const char *passphrase)
{
    char text[512];
    size_t len = 0;
    int r;

    if ((r = secret_text(k->sk, passphrase, text, sizeof(text), &len)) ==
        0) {
        r = sk_file_write_new(path, text, len, 0600);
    }
    sodium_memzero(text, sizeof(text));
    return r;
}

static int b64_exact(const char *s, size_t slen, uint8_t *out, size_t want)
{
    size_t got = 0;

    if (sodium_base642bin(out, want, s, slen, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want) {
        return SK_ERR_INVALID;
    }
    return 0;
}

int sk_boxkey_load_secret(const char *path, const char *passphrase,
                          struct sk_boxkey **out)
{
    char *text = NULL, *line2, *line3, *nl;
    size_t len = 0;
    struct sk_boxkey *k = NULL;
    uint8_t key[crypto_secretbox_KEYBYTES], salt[crypto_pwhash_SALTBYTES],
        sealed[crypto_secretbox_NONCEBYTES + 32 + crypto_secretbox_MACBYTES];
    unsigned long long ops;
    size_t mem;
    char sb64[64];
    int r;

    *out = NULL;
    if ((r = sk_file_read(path, 4096, &text, &len)) != 0) {
        return r;
    }
    if ((k = sodium_malloc(sizeof(*k))) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    r = SK_ERR_INVALID;
    if (strncmp(text, SEC_MAGIC, strlen(SEC_MAGIC)) == 0) {
        line2 = text + strlen(SEC_MAGIC);
        if ((nl = strchr(line2, '\n')) != NULL) {
            *nl = '\0';
        }
        if (b64_exact(line2, strlen(line2), k->sk, 32) != 0) {
            goto out;
        }
    } else if (strncmp(text, SEC_MAGIC_PW, strlen(SEC_MAGIC_PW)) == 0) {
        line2 = text + strlen(SEC_MAGIC_PW);
        if ((line3 = strchr(line2, '\n')) == NULL) {
            goto out;
        }
        *line3++ = '\0';
        if ((nl = strchr(line3, '\n')) != NULL) {
            *nl = '\0';
        }
        if (sscanf(line2, "%63s %llu %zu", sb64, &ops, &mem) != 3 ||
            b64_exact(sb64, strlen(sb64), salt, sizeof(salt)) != 0 ||
            b64_exact(line3, strlen(line3), sealed, sizeof(sealed)) != 0) {
            goto out;
        }
        if (passphrase == NULL) {
            r = SK_ERR_DENIED;
            goto out;
        }
        if ((r = derive(passphrase, salt, ops, mem, key)) != 0) {
            goto out;
        }
        r = crypto_secretbox_open_easy(
                k->sk, sealed + crypto_secretbox_NONCEBYTES,
                sizeof(sealed) - crypto_secretbox_NONCEBYTES, sealed, key) ==
                    0
                ? 0
                : SK_ERR_DENIED;
        sodium_memzero(key, sizeof(key));
        if (r != 0) {
            goto out;
        }
    } else {
        goto out;
    }
    crypto_scalarmult_base(k->pk, k->sk);
    *out = k;
    k = NULL;
    r = 0;
out:
    sk_boxkey_free(k);
    sodium_memzero(text, len);
    free(text);
    return r;
}

void sk_boxkey_free(struct sk_boxkey *k)
{
    if (k != NULL) {
        sodium_free(k);
    }
}

int sk_boxkey_load_public(const char *path, uint8_t pk[32])
{
    char *text = NULL, *p, *end;
    size_t len = 0;
    int r;

    if ((r = sk_file_read(path, 4096, &text, &len)) != 0) {
        return r;
    }
    r = SK_ERR_INVALID;
    if (strncmp(text, PUB_MAGIC, strlen(PUB_MAGIC)) == 0) {
        p = text + strlen(PUB_MAGIC);
        for (end = p; *end != '\0' && *end != ' ' && *end != '\n'; end++) {
        }
        r = b64_exact(p, (size_t)(end - p), pk, 32);
    }
    free(text);
    return r;
}
