#include "key.h"
#include "buf.h"
#include "sk-err.h"
#include "util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAGIC "sekisho-ed25519-secret-v1\n"

struct sk_key {
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* sodium_malloc'd struct */
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
};

int sk_key_generate_file(const char *path)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof(sk),
                                       sodium_base64_VARIANT_ORIGINAL)];
    char text[sizeof(KEY_MAGIC) + sizeof(b64) + 2];
    int n, r;

    if (crypto_sign_keypair(pk, sk) != 0) {
        return SK_ERR_CRYPTO;
    }
    sodium_bin2base64(b64, sizeof(b64), sk, sizeof(sk),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(sk, sizeof(sk));
    n = snprintf(text, sizeof(text), "%s%s\n", KEY_MAGIC, b64);
    sodium_memzero(b64, sizeof(b64));
    r = (n > 0 && (size_t)n < sizeof(text))
            ? sk_file_write_new(path, text, (size_t)n, 0600)
            : SK_ERR_INTERNAL;
    sodium_memzero(text, sizeof(text));
    return r;
}

int sk_key_load(const char *path, struct sk_key **out)
{
    char *text = NULL, *b64, *nl;
    size_t len = 0, binlen = 0;
    struct sk_key *k = NULL;
    int r;

    *out = NULL;
    if ((r = sk_file_read(path, 4096, &text, &len)) != 0) {
        return r;
    }
    r = SK_ERR_INVALID;
    if (strncmp(text, KEY_MAGIC, strlen(KEY_MAGIC)) != 0) {
        goto out;
    }
    b64 = text + strlen(KEY_MAGIC);
    if ((nl = strchr(b64, '\n')) != NULL) {
        *nl = '\0';
    }
    if ((k = sodium_malloc(sizeof(*k))) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    if (sodium_base642bin(k->sk, sizeof(k->sk), b64, strlen(b64), NULL,
                          &binlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != sizeof(k->sk) ||
        crypto_sign_ed25519_sk_to_pk(k->pk, k->sk) != 0) {
        goto out;
    }
    *out = k;
    k = NULL;
    r = 0;
out:
    sk_key_free(k);
    sodium_memzero(text, len);
    free(text);
    return r;
}

void sk_key_free(struct sk_key *k)
{
    if (k != NULL) {
        sodium_free(k); /* wipes */
    }
}

static int put_ssh_string(uint8_t *out, size_t outlen, size_t *off,
                          const void *p, size_t n)
{
    if (outlen - *off < 4 + n) {
        return SK_ERR_TOO_LONG;
    }
    out[*off] = (uint8_t)(n >> 24);
    out[*off + 1] = (uint8_t)(n >> 16);
    out[*off + 2] = (uint8_t)(n >> 8);
    out[*off + 3] = (uint8_t)n;
    memcpy(out + *off + 4, p, n);
    *off += 4 + n;
    return 0;
}

int sk_key_pub_blob(const struct sk_key *k, uint8_t *out, size_t outlen)
{
    size_t off = 0;

    if (put_ssh_string(out, outlen, &off, "ssh-ed25519", 11) != 0 ||
        put_ssh_string(out, outlen, &off, k->pk, sizeof(k->pk)) != 0) {
        return SK_ERR_TOO_LONG;
    }
    return (int)off;
}

char *sk_key_pub_line(const struct sk_key *k, const char *comment)
{
    uint8_t blob[64];
    char b64[sodium_base64_ENCODED_LEN(sizeof(blob),
                                       sodium_base64_VARIANT_ORIGINAL)];
    char *line;
    int n = sk_key_pub_blob(k, blob, sizeof(blob));

    if (n < 0) {
        return NULL;
    }
    sodium_bin2base64(b64, sizeof(b64), blob, (size_t)n,
                      sodium_base64_VARIANT_ORIGINAL);
    if (asprintf(&line, "ssh-ed25519 %s%s%s", b64, comment ? " " : "",
                 comment ? comment : "") < 0) {
        return NULL;
    }
    return line;
}

int sk_key_sign_ssh(const struct sk_key *k, const uint8_t *data, size_t len,
                    uint8_t *out, size_t outlen, size_t *siglen)
{
    uint8_t sig[crypto_sign_BYTES];
    size_t off = 0;

    if (crypto_sign_detached(sig, NULL, data, len, k->sk) != 0) {
        return SK_ERR_CRYPTO;
    }
    if (put_ssh_string(out, outlen, &off, "ssh-ed25519", 11) != 0 ||
        put_ssh_string(out, outlen, &off, sig, sizeof(sig)) != 0) {
        return SK_ERR_TOO_LONG;
    }
    *siglen = off;
    return 0;
}

void sk_key_pub_raw(const struct sk_key *k, uint8_t pk[SK_KEY_PUBLEN])
{
    memcpy(pk, k->pk, SK_KEY_PUBLEN);
}

int sk_key_sign_raw(const struct sk_key *k, const uint8_t *data, size_t len,
                    uint8_t sig[SK_KEY_SIGLEN])
{
    return crypto_sign_detached(sig, NULL, data, len, k->sk) == 0
               ? 0
               : SK_ERR_CRYPTO;
}

void sk_key_id(const char *kind, const uint8_t *pk, size_t pklen, char *out,
               size_t outlen)
{
    uint8_t h[crypto_generichash_BYTES];
    char hex[2 * 8 + 1];

    /* A short fingerprint is enough to pick among a handful of keys; the
     * signature check itself uses the whole key. */
    crypto_generichash(h, sizeof(h), pk, pklen, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, 8);
    snprintf(out, outlen, "%s:%s", kind, hex);
}

int sk_key_parse_pub_line(const char *line, uint8_t pk[SK_KEY_PUBLEN])
{
    uint8_t blob[128];
    const char *p, *end;
    size_t binlen = 0;

    if (strncmp(line, "ssh-ed25519 ", 12) != 0) {
        return SK_ERR_INVALID;
    }
    p = line + 12;
    for (end = p; *end != '\0' && *end != ' ' && *end != '\n'; end++) {
    }
    if (sodium_base642bin(blob, sizeof(blob), p, (size_t)(end - p), NULL,
                          &binlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen != 4 + 11 + 4 + SK_KEY_PUBLEN ||
        memcmp(blob, "\0\0\0\013ssh-ed25519\0\0\0\040", 19) != 0) {
        return SK_ERR_INVALID;
    }
    memcpy(pk, blob + 19, SK_KEY_PUBLEN);
    return 0;
}

int sk_key_verify_raw(const uint8_t pk[SK_KEY_PUBLEN], const uint8_t *data,
                      size_t len, const uint8_t sig[SK_KEY_SIGLEN])
{
    return crypto_sign_verify_detached(sig, data, len, pk) == 0
               ? 0
               : SK_ERR_CRYPTO;
}

int sk_keyring_add_file(struct sk_keyring *ring, const char *path)
{
    char *text = NULL;
    size_t len;
    int r;

    if (ring->n == SK_KEYRING_MAX) {
        return SK_ERR_TOO_LONG;
    }
    if ((r = sk_file_read(path, 4096, &text, &len)) != 0) {
        return r;
    }
    r = sk_key_parse_pub_line(text, ring->pk[ring->n]);
    free(text);
    if (r != 0) {
        return r;
    }
    sk_key_id("ed25519", ring->pk[ring->n], SK_KEY_PUBLEN, ring->id[ring->n],
              sizeof(ring->id[0]));
    ring->n++;
    return 0;
}

int sk_keyring_find(const char *id, uint8_t pk[SK_KEY_PUBLEN], void *arg)
{
    const struct sk_keyring *ring = arg;

    for (int i = 0; i < ring->n; i++) {
        if (strcmp(ring->id[i], id) == 0) {
            memcpy(pk, ring->pk[i], SK_KEY_PUBLEN);
            return 0;
        }
    }
    return -1;
}
