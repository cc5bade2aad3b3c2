/*
 * The monitor's check of a publickey signature: see pubkey.h. The
 * cryptography is libsodium's (Ed25519, SHA-256) and OpenSSL libcrypto's
 * (ECDSA, RSA); this file only lays out bytes.
 */
#include "pubkey.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "buf.h"
#include "sk-err.h"

#define SSH_MSG_USERAUTH_REQUEST 50
#define KEY_BLOB_MAX 9000 /* RSA-16384 with room; the store's limit */
#define RSA_MIN_BITS 2048 /* as the worker's RSA_MIN_SIZE */

enum pk_kind { PK_ED25519, PK_ECDSA, PK_RSA };

/* One accepted key type and what goes with it. */
struct pk_type {
    const char *name; /* the blob's type string */
    enum pk_kind kind;
    int sk;             /* a FIDO key: has an application, signs the
                           PROTOCOL.u2f form */
    const char *curve;  /* ECDSA: SSH curve name in the blob */
    const char *group;  /* ECDSA: OpenSSL group name */
    const char *digest; /* ECDSA: hash the algorithm fixes */
};

static const struct pk_type pk_types[] = {
    {"ssh-ed25519", PK_ED25519, 0, NULL, NULL, NULL},
    {"sk-ssh-ed25519@openssh.com", PK_ED25519, 1, NULL, NULL, NULL},
    {"ecdsa-sha2-nistp256", PK_ECDSA, 0, "nistp256", "prime256v1",
     "SHA256"},
    {"ecdsa-sha2-nistp384", PK_ECDSA, 0, "nistp384", "secp384r1", "SHA384"},
    {"ecdsa-sha2-nistp521", PK_ECDSA, 0, "nistp521", "secp521r1", "SHA512"},
    {"sk-ecdsa-sha2-nistp256@openssh.com", PK_ECDSA, 1, "nistp256",
     "prime256v1", "SHA256"},
    {"ssh-rsa", PK_RSA, 0, NULL, NULL, NULL},
};

/* The parts of a key blob the verification needs; pointers into it. */
struct pk_key {
    const struct pk_type *t;
    const uint8_t *a, *b; /* Ed25519: a = key; ECDSA: a = point;
                             RSA: a = e, b = n */
    size_t alen, blen;
    const uint8_t *app; /* FIDO application */
    size_t applen;
};

size_t sk_pubkey_kex_hash_len(const char *kex)
{
    static const struct {
        const char *name;
        size_t len;
    } k[] = {
        {"curve25519-sha256", 32},
        {"curve25519-sha256@libssh.org", 32},
        {"ecdh-sha2-nistp256", 32},
        {"ecdh-sha2-nistp384", 48},
        {"ecdh-sha2-nistp521", 64},
        {"diffie-hellman-group14-sha256", 32},
        {"diffie-hellman-group16-sha512", 64},
        {"diffie-hellman-group18-sha512", 64},
    };
    size_t i;

    for (i = 0; kex != NULL && i < sizeof(k) / sizeof(k[0]); i++) {
        if (strcmp(kex, k[i].name) == 0) {
            return k[i].len;
        }
    }
    return 0;
}

/* A read-only sk_buf over data the caller owns (never freed here). */
static void view(struct sk_buf *v, const void *p, size_t n)
{
    sk_buf_init(v);
    v->data = (uint8_t *)(uintptr_t)p; /* only read through the getters */
    v->len = n;
}

static int str_is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* Parses a public key blob; every byte must be accounted for. */
static int parse_key(const uint8_t *blob, size_t len, struct pk_key *k)
{
    struct sk_buf v;
    const uint8_t *name, *curve;
    size_t namelen, curvelen, i;

    memset(k, 0, sizeof(*k));
    view(&v, blob, len);
    if (sk_buf_get_string_direct(&v, &name, &namelen) != 0) {
        return SK_ERR_INVALID;
    }
    for (i = 0; i < sizeof(pk_types) / sizeof(pk_types[0]); i++) {
        if (str_is(name, namelen, pk_types[i].name)) {
            k->t = &pk_types[i];
        }
    }
    if (k->t == NULL) {
        return SK_ERR_INVALID;
    }
    switch (k->t->kind) {
    case PK_ED25519:
        if (sk_buf_get_string_direct(&v, &k->a, &k->alen) != 0 ||
            k->alen != crypto_sign_PUBLICKEYBYTES) {
            return SK_ERR_INVALID;
        }
        break;
    case PK_ECDSA:
        if (sk_buf_get_string_direct(&v, &curve, &curvelen) != 0 ||
            !str_is(curve, curvelen, k->t->curve) ||
            sk_buf_get_string_direct(&v, &k->a, &k->alen) != 0 ||
            k->alen == 0) {
            return SK_ERR_INVALID;
        }
        break;
    case PK_RSA:
        if (sk_buf_get_string_direct(&v, &k->a, &k->alen) != 0 ||
            sk_buf_get_string_direct(&v, &k->b, &k->blen) != 0 ||
            k->alen == 0 || k->blen == 0 || (k->a[0] & 0x80) ||
            (k->b[0] & 0x80)) {
            return SK_ERR_INVALID; /* no negative mpints */
        }
        break;
    }
    if (k->t->sk &&
        sk_buf_get_string_direct(&v, &k->app, &k->applen) != 0) {
        return SK_ERR_INVALID;
    }
    return sk_buf_avail(&v) == 0 ? 0 : SK_ERR_INVALID;
}

/* The hash an RSA signature algorithm names; NULL for one not accepted
 * (ssh-rsa is SHA-1). Other key types admit only their own name. */
static const char *alg_digest(const struct pk_key *k, const char *alg)
{
    if (k->t->kind == PK_RSA) {
        if (strcmp(alg, "rsa-sha2-256") == 0) {
            return "SHA256";
        }
        if (strcmp(alg, "rsa-sha2-512") == 0) {
            return "SHA512";
        }
        return NULL;
    }
    if (strcmp(alg, k->t->name) != 0) {
        return NULL;
    }
    return k->t->kind == PK_ECDSA ? k->t->digest : "";
}

/* An EVP_PKEY for an ECDSA or RSA key, or NULL. */
static EVP_PKEY *openssl_key(const struct pk_key *k)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    int ok = 0;

    if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
        goto out;
    }
    if (k->t->kind == PK_ECDSA) {
        ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             k->t->group, 0) == 1 &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                              k->a, k->alen) == 1;
    } else {
        ok = (e = BN_bin2bn(k->a, (int)k->alen, NULL)) != NULL &&
             (n = BN_bin2bn(k->b, (int)k->blen, NULL)) != NULL &&
             BN_num_bits(n) >= RSA_MIN_BITS &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1;
    }
    if (!ok || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(
             NULL, k->t->kind == PK_ECDSA ? "EC" : "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* Verifies sig over tbs with key k; digest names the hash (ECDSA, RSA). */
static int verify_raw(const struct pk_key *k, const char *digest,
                      const uint8_t *tbs, size_t tbslen, const uint8_t *sig,
                      size_t siglen)
{
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *ctx = NULL;
    const EVP_MD *md = NULL;
    int r = SK_ERR_CRYPTO;

    if (k->t->kind == PK_ED25519) {
        if (siglen != crypto_sign_BYTES) {
            return SK_ERR_CRYPTO;
        }
        return crypto_sign_verify_detached(sig, tbs, tbslen, k->a) == 0
                   ? 0
                   : SK_ERR_CRYPTO;
    }
    if ((pkey = openssl_key(k)) == NULL) {
        return SK_ERR_INVALID;
    }
    if ((md = EVP_get_digestbyname(digest)) == NULL ||
        (ctx = EVP_MD_CTX_new()) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    /* RSA: PKCS#1 v1.5, OpenSSL's default padding for verification. */
    if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, tbs, tbslen) == 1) {
        r = 0;
    }
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

int sk_pubkey_verify(const char *key_line, const struct sk_pk_proof *p)
{
    uint8_t *blob = NULL;
    const char *b64, *digest;
    size_t bloblen = 0, want;
    struct pk_key k;
    struct sk_buf data;
    uint8_t sk_tbs[32 + 1 + 4 + 32];
    int r;

    sk_buf_init(&data);
    if (key_line == NULL || p == NULL || p->user == NULL || p->alg == NULL ||
        p->session_id == NULL || p->sig == NULL ||
        (b64 = strchr(key_line, ' ')) == NULL) {
        return SK_ERR_INVALID;
    }
    /* The session id must be what this connection's key exchange makes:
     * a worker cannot pass off some other length of bytes. */
    want = sk_pubkey_kex_hash_len(p->kex);
    if (want == 0 || p->session_id_len != want) {
        return SK_ERR_INVALID;
    }
    b64++;
    if (strlen(b64) > KEY_BLOB_MAX * 4 / 3 + 4) {
        return SK_ERR_INVALID;
    }
    if ((blob = malloc(KEY_BLOB_MAX)) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (sodium_base642bin(blob, KEY_BLOB_MAX, b64, strlen(b64), NULL,
                          &bloblen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        parse_key(blob, bloblen, &k) != 0 ||
        /* The line's type word must be the blob's own. */
        strncmp(key_line, k.t->name, (size_t)(b64 - 1 - key_line)) != 0 ||
        strlen(k.t->name) != (size_t)(b64 - 1 - key_line) ||
        (digest = alg_digest(&k, p->alg)) == NULL) {
        r = SK_ERR_INVALID;
        goto out;
    }
    /* RFC 4252 section 7, from the monitor's facts. */
    if (sk_buf_put_string(&data, p->session_id, p->session_id_len) != 0 ||
        sk_buf_put_u8(&data, SSH_MSG_USERAUTH_REQUEST) != 0 ||
        sk_buf_put_cstring(&data, p->user) != 0 ||
        sk_buf_put_cstring(&data, "ssh-connection") != 0 ||
        sk_buf_put_cstring(&data, "publickey") != 0 ||
        sk_buf_put_u8(&data, 1) != 0 ||
        sk_buf_put_cstring(&data, p->alg) != 0 ||
        sk_buf_put_string(&data, blob, bloblen) != 0) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    if (!k.t->sk) {
        r = verify_raw(&k, digest, data.data, data.len, p->sig, p->sig_len);
        goto out;
    }
    /* FIDO (PROTOCOL.u2f): the authenticator signs hashes and its own
     * flags and counter. Without user presence it is no proof of a person
     * at the key (OpenSSH's default; there is no no-touch-required here).
     */
    if (!(p->sk_flags & SK_PK_UP)) {
        r = SK_ERR_DENIED;
        goto out;
    }
    crypto_hash_sha256(sk_tbs, k.app, k.applen);
    sk_tbs[32] = p->sk_flags;
    sk_tbs[33] = (uint8_t)(p->sk_counter >> 24);
    sk_tbs[34] = (uint8_t)(p->sk_counter >> 16);
    sk_tbs[35] = (uint8_t)(p->sk_counter >> 8);
    sk_tbs[36] = (uint8_t)p->sk_counter;
    crypto_hash_sha256(sk_tbs + 37, data.data, data.len);
    r = verify_raw(&k, digest, sk_tbs, sizeof(sk_tbs), p->sig, p->sig_len);
out:
    sk_buf_free(&data);
    free(blob);
    return r;
}

int sk_pubkey_parse_signed(const unsigned char *data, size_t len,
                           const unsigned char **sid, size_t *sidlen,
                           char *alg, size_t alglen)
{
    struct sk_buf v;
    const uint8_t *s;
    size_t n;
    uint8_t b;
    uint32_t i;

    view(&v, data, len);
    if (sk_buf_get_string_direct(&v, sid, sidlen) != 0 ||
        (*sidlen != 32 && *sidlen != 48 && *sidlen != 64) ||
        sk_buf_get_u8(&v, &b) != 0 || b != SSH_MSG_USERAUTH_REQUEST ||
        sk_buf_get_string_direct(&v, &s, &n) != 0 || /* user */
        sk_buf_get_string_direct(&v, &s, &n) != 0 ||
        !str_is(s, n, "ssh-connection") ||
        sk_buf_get_string_direct(&v, &s, &n) != 0 ||
        !str_is(s, n, "publickey") || sk_buf_get_u8(&v, &b) != 0 ||
        b != 1 || sk_buf_get_string_direct(&v, &s, &n) != 0 || n == 0 ||
        n >= alglen || memchr(s, '\0', n) != NULL) {
        return SK_ERR_INVALID;
    }
    memcpy(alg, s, n);
    alg[n] = '\0';
    /* The key blob ends it. */
    if (sk_buf_get_u32(&v, &i) != 0 || i != sk_buf_avail(&v)) {
        return SK_ERR_INVALID;
    }
    return 0;
}
