#include "totp.h"
#include "sk-err.h"
#include "util.h"

#include <ctype.h>
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAGIC "sekisho-totp-key-v1\n"

int sk_totp_key_generate(const char *path)
{
    uint8_t key[SK_TOTP_KEY_LEN];
    char b64[sodium_base64_ENCODED_LEN(SK_TOTP_KEY_LEN,
                                       sodium_base64_VARIANT_ORIGINAL)];
    char text[sizeof(KEY_MAGIC) + sizeof(b64) + 2];
    int n, r;

    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(b64, sizeof(b64), key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    n = snprintf(text, sizeof(text), "%s%s\n", KEY_MAGIC, b64);
    r = (n > 0 && (size_t)n < sizeof(text))
            ? sk_file_write_new(path, text, (size_t)n, 0600)
            : SK_ERR_INTERNAL;
    sodium_memzero(b64, sizeof(b64));
    sodium_memzero(text, sizeof(text));
    return r;
}

int sk_totp_key_load(const char *path, uint8_t *key)
{
    char *text = NULL, *b64, *nl;
    size_t len = 0, binlen = 0;
    int r;

    if ((r = sk_file_read(path, 1024, &text, &len)) != 0) {
        return r;
    }
    r = SK_ERR_INVALID;
    if (strncmp(text, KEY_MAGIC, strlen(KEY_MAGIC)) == 0) {
        b64 = text + strlen(KEY_MAGIC);
        if ((nl = strchr(b64, '\n')) != NULL) {
            *nl = '\0';
        }
        if (sodium_base642bin(key, SK_TOTP_KEY_LEN, b64, strlen(b64), NULL,
                              &binlen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0 &&
            binlen == SK_TOTP_KEY_LEN) {
            r = 0;
        }
    }
    sodium_memzero(text, len);
    free(text);
    return r;
}

void sk_totp_secret_new(uint8_t *secret)
{
    randombytes_buf(secret, SK_TOTP_SECRET_LEN);
}

int sk_totp_seal(const uint8_t *key, const uint8_t *secret, uint8_t *out)
{
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    return crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, secret,
                                 SK_TOTP_SECRET_LEN, out, key) == 0
               ? 0
               : SK_ERR_CRYPTO;
}

int sk_totp_open(const uint8_t *key, const uint8_t *sealed, size_t len,
                 uint8_t *secret)
{
    if (len != SK_TOTP_SEALED_LEN) {
        return SK_ERR_INVALID;
    }
    return crypto_secretbox_open_easy(
               secret, sealed + crypto_secretbox_NONCEBYTES,
               len - crypto_secretbox_NONCEBYTES, sealed, key) == 0
               ? 0
               : SK_ERR_CRYPTO;
}

static int oath_ready(void)
{
    static int done;

    if (!done) {
        if (oath_init() != OATH_OK) {
            return 0;
        }
        done = 1;
    }
    return 1;
}

int sk_totp_verify(const uint8_t *secret, const char *code, time_t now,
                   uint64_t *step)
{
    int pos = 0, rc;
    uint64_t counter = 0;
    size_t i;

    if (code == NULL || strlen(code) != SK_TOTP_DIGITS || !oath_ready()) {
        return SK_ERR_DENIED;
    }
    for (i = 0; i < SK_TOTP_DIGITS; i++) {
        if (!isdigit((unsigned char)code[i])) {
            return SK_ERR_DENIED;
        }
    }
    rc = oath_totp_validate3((const char *)secret, SK_TOTP_SECRET_LEN, now,
                             SK_TOTP_STEP, OATH_TOTP_DEFAULT_START_TIME, 1,
                             &pos, &counter, code);
    if (rc < 0) {
        return SK_ERR_DENIED;
    }
    *step = counter;
    return 0;
}

int sk_totp_generate(const uint8_t *secret, time_t now, char *out)
{
    if (!oath_ready()) {
        return SK_ERR_INTERNAL;
    }
    return oath_totp_generate((const char *)secret, SK_TOTP_SECRET_LEN, now,
                              SK_TOTP_STEP, OATH_TOTP_DEFAULT_START_TIME,
                              SK_TOTP_DIGITS, out) == OATH_OK
               ? 0
               : SK_ERR_INTERNAL;
}

/* Percent-encodes s for a URI path or query value. */
static void uri_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            fputc(c, f);
        } else {
            fprintf(f, "%%%02X", c);
        }
    }
}

char *sk_totp_uri(const uint8_t *secret, const char *issuer,
                  const char *user)
{
    char *b32 = NULL, *uri = NULL;
    size_t b32len = 0, urilen = 0;
    FILE *f;

    if (!oath_ready() ||
        oath_base32_encode((const char *)secret, SK_TOTP_SECRET_LEN, &b32,
                           &b32len) != OATH_OK) {
        return NULL;
    }
    /* Authenticator apps want the secret without '=' padding. */
    while (b32len > 0 && b32[b32len - 1] == '=') {
        b32[--b32len] = '\0';
    }
    if ((f = open_memstream(&uri, &urilen)) == NULL) {
        sodium_memzero(b32, b32len);
        free(b32);
        return NULL;
    }
    fputs("otpauth://totp/", f);
    uri_escape(f, issuer);
    fputc(':', f);
    uri_escape(f, user);
    fprintf(f, "?secret=%s&issuer=", b32);
    uri_escape(f, issuer);
    fprintf(f, "&algorithm=SHA1&digits=%d&period=%d", SK_TOTP_DIGITS,
            SK_TOTP_STEP);
    sodium_memzero(b32, b32len);
    free(b32);
    if (fclose(f) != 0) {
        free(uri);
        return NULL;
    }
    return uri;
}
