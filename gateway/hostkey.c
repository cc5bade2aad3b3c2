/*
 * The host key split between monitor and worker (hostkey.h has the
 * design). Key encodings come from libssh (import, export) and libcrypto
 * (PEM, raw Ed25519); base64 from libsodium. What is written by hand here
 * is only the OpenSSH private key container (PROTOCOL.key), which libssh
 * exports for Ed25519 and which is how the decoy reaches libssh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "buf.h"
#include "hostkey.h"
#include "sk-err.h"

#define OSSH_MAGIC "openssh-key-v1"
#define OSSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define OSSH_END "-----END OPENSSH PRIVATE KEY-----"
#define ED_LEN 32

struct sk_hostsigner {
    EVP_PKEY *pkey;
    char type[16];
};

const char *sk_hostkey_type(const struct sk_hostsigner *s)
{
    return s->type;
}

void sk_hostkey_free(struct sk_hostsigner *s)
{
    if (s == NULL) {
        return;
    }
    EVP_PKEY_free(s->pkey); /* libcrypto clears private key material */
    free(s);
}

/* Reads a whole key file into sodium_malloc'd memory (it is secret),
 * NUL-terminated. Returns 0 or SK_ERR_SYSTEM. */
static int read_secret_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd, r = SK_ERR_SYSTEM;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        return SK_ERR_SYSTEM;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > 64 * 1024 ||
        (buf = sodium_malloc((size_t)st.st_size + 1)) == NULL) {
        goto out;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
    r = 0;
out:
    if (buf != NULL) {
        sodium_free(buf);
    }
    close(fd);
    return r;
}

/* The raw Ed25519 public key in an "ssh-ed25519" blob, or NULL. */
static const uint8_t *blob_ed25519_pub(const uint8_t *blob, size_t len)
{
    static const uint8_t head[] = {0, 0, 0, 11, 's', 's', 'h', '-', 'e',
                                   'd', '2', '5', '5', '1', '9', 0,
                                   0, 0, ED_LEN};

    if (len != sizeof(head) + ED_LEN || memcmp(blob, head, sizeof(head))) {
        return NULL;
    }
    return blob + sizeof(head);
}

/* An mpint as a BIGNUM (NULL on error). */
static BIGNUM *get_bn(struct sk_buf *b, const uint8_t **raw, size_t *rawlen)
{
    const uint8_t *p;
    size_t n;

    if (sk_buf_get_string_direct(b, &p, &n) != 0 || n == 0 || n > 2048 ||
        (p[0] & 0x80) != 0) {
        return NULL;
    }
    if (raw != NULL) {
        *raw = p;
        *rawlen = n;
    }
    return BN_bin2bn(p, (int)n, NULL);
}

/* An RSA private key out of an OpenSSH private section (after its type):
 * n e d iqmp p q, with the CRT exponents libcrypto wants computed here.
 * pub is the container's public blob, which must name the same n. */
static EVP_PKEY *ossh_rsa(struct sk_buf *priv, const uint8_t *pub,
                          size_t publen)
{
    BIGNUM *n = NULL, *e = NULL, *d = NULL, *iqmp = NULL, *p = NULL,
           *q = NULL, *dp = NULL, *dq = NULL, *t = NULL;
    const uint8_t *nraw, *eraw, *pe, *pn;
    size_t nrawlen, erawlen, pel, pnl;
    struct sk_buf pb;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    BN_CTX *bnc = NULL;
    char *type = NULL;

    sk_buf_init(&pb);
    if ((n = get_bn(priv, &nraw, &nrawlen)) == NULL ||
        (e = get_bn(priv, &eraw, &erawlen)) == NULL ||
        (d = get_bn(priv, NULL, NULL)) == NULL ||
        (iqmp = get_bn(priv, NULL, NULL)) == NULL ||
        (p = get_bn(priv, NULL, NULL)) == NULL ||
        (q = get_bn(priv, NULL, NULL)) == NULL) {
        goto out;
    }
    /* the public blob: string "ssh-rsa", mpint e, mpint n */
    if (sk_buf_put(&pb, pub, publen) != 0 ||
        sk_buf_get_cstring(&pb, &type, 16) != 0 ||
        strcmp(type, "ssh-rsa") != 0 ||
        sk_buf_get_string_direct(&pb, &pe, &pel) != 0 ||
        sk_buf_get_string_direct(&pb, &pn, &pnl) != 0 || pnl != nrawlen ||
        memcmp(pn, nraw, pnl) != 0 || pel != erawlen ||
        memcmp(pe, eraw, pel) != 0) {
        goto out;
    }
    if ((bnc = BN_CTX_new()) == NULL || (dp = BN_new()) == NULL ||
        (dq = BN_new()) == NULL || (t = BN_new()) == NULL ||
        BN_sub(t, p, BN_value_one()) != 1 || BN_mod(dp, d, t, bnc) != 1 ||
        BN_sub(t, q, BN_value_one()) != 1 || BN_mod(dq, d, t, bnc) != 1) {
        goto out;
    }
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp) !=
            1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
        goto out;
    }
    /* a key whose parts do not belong together signs garbage */
    EVP_PKEY_CTX_free(ctx);
    if ((ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL ||
        EVP_PKEY_pairwise_check(ctx) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
out:
    free(type);
    sk_buf_free(&pb);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_CTX_free(bnc);
    BN_clear_free(d);
    BN_clear_free(p);
    BN_clear_free(q);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_clear_free(iqmp);
    BN_clear_free(t);
    BN_free(n);
    BN_free(e);
    return key;
}

/* The key in an unencrypted OpenSSH container (text between the armour
 * lines): its libcrypto key, type and public blob. Returns 0,
 * SK_ERR_INVALID (a type we do not sign with) or SK_ERR_CRYPTO. */
static int ossh_load(const char *text, struct sk_hostsigner *s,
                     uint8_t **blob, size_t *bloblen)
{
    const char *p = strstr(text, OSSH_BEGIN), *e = strstr(text, OSSH_END);
    struct sk_buf raw, priv;
    uint8_t *bin = NULL, seed[ED_LEN];
    size_t binmax, binlen = 0, n, publen;
    const uint8_t *v, *pub, *pk, *sk;
    uint32_t nkeys, c1, c2;
    char *str = NULL;
    int r = SK_ERR_CRYPTO;

    sk_buf_init(&raw);
    sk_buf_init(&priv);
    if (p == NULL || e == NULL || e < p) {
        goto out;
    }
    p += strlen(OSSH_BEGIN);
    binmax = (size_t)(e - p);
    if ((bin = sodium_malloc(binmax)) == NULL ||
        sodium_base642bin(bin, binmax, p, (size_t)(e - p), "\r\n", &binlen,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        binlen < sizeof(OSSH_MAGIC) ||
        memcmp(bin, OSSH_MAGIC, sizeof(OSSH_MAGIC)) != 0 ||
        sk_buf_put(&raw, bin + sizeof(OSSH_MAGIC),
                   binlen - sizeof(OSSH_MAGIC)) != 0) {
        goto out;
    }
    /* cipher and kdf "none" (a host key has no passphrase), kdf options,
     * one key: its public blob, then the private section */
    if (sk_buf_get_cstring(&raw, &str, 32) != 0 || strcmp(str, "none") != 0) {
        goto out;
    }
    free(str);
    str = NULL;
    if (sk_buf_get_cstring(&raw, &str, 32) != 0 || strcmp(str, "none") != 0 ||
        sk_buf_get_string_direct(&raw, &v, &n) != 0 ||
        sk_buf_get_u32(&raw, &nkeys) != 0 || nkeys != 1 ||
        sk_buf_get_string_direct(&raw, &pub, &publen) != 0 ||
        publen > SK_HOSTKEY_BLOB_MAX ||
        sk_buf_get_string_direct(&raw, &v, &n) != 0 ||
        sk_buf_put(&priv, v, n) != 0) {
        goto out;
    }
    free(str);
    str = NULL;
    if (sk_buf_get_u32(&priv, &c1) != 0 || sk_buf_get_u32(&priv, &c2) != 0 ||
        c1 != c2 || sk_buf_get_cstring(&priv, &str, 32) != 0) {
        goto out;
    }
    if (strcmp(str, "ssh-ed25519") == 0) {
        const uint8_t *bpk = blob_ed25519_pub(pub, publen);

        if (bpk == NULL || sk_buf_get_string_direct(&priv, &pk, &n) != 0 ||
            n != ED_LEN || sk_buf_get_string_direct(&priv, &sk, &n) != 0 ||
            n != 2 * ED_LEN || sodium_memcmp(pk, bpk, ED_LEN) != 0 ||
            sodium_memcmp(sk + ED_LEN, bpk, ED_LEN) != 0) {
            goto out;
        }
        memcpy(seed, sk, ED_LEN);
        s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                               sizeof(seed));
        sodium_memzero(seed, sizeof(seed));
        {
            /* the seed must be the public key's */
            uint8_t derived[ED_LEN];
            size_t dl = sizeof(derived);

            if (s->pkey != NULL &&
                (EVP_PKEY_get_raw_public_key(s->pkey, derived, &dl) != 1 ||
                 dl != ED_LEN || sodium_memcmp(derived, bpk, ED_LEN) != 0)) {
                EVP_PKEY_free(s->pkey);
                s->pkey = NULL;
            }
        }
        snprintf(s->type, sizeof(s->type), "ssh-ed25519");
    } else if (strcmp(str, "ssh-rsa") == 0) {
        s->pkey = ossh_rsa(&priv, pub, publen);
        snprintf(s->type, sizeof(s->type), "ssh-rsa");
    } else {
        r = SK_ERR_INVALID;
        goto out;
    }
    if (s->pkey == NULL || (*blob = malloc(publen)) == NULL) {
        goto out;
    }
    memcpy(*blob, pub, publen);
    *bloblen = publen;
    r = 0;
out:
    free(str);
    if (bin != NULL) {
        sodium_free(bin); /* wipes */
    }
    sk_buf_free(&raw); /* wipes */
    sk_buf_free(&priv);
    return r;
}

/* Appends bn as an SSH mpint (big-endian, a leading zero byte when the
 * top bit is set). Returns 0 or SK_ERR_CRYPTO. */
static int put_mpint(struct sk_buf *b, const BIGNUM *bn)
{
    uint8_t tmp[2049];
    int n = BN_num_bytes(bn);

    if (n <= 0 || n > 2048 || BN_bn2bin(bn, tmp + 1) != n) {
        return SK_ERR_CRYPTO;
    }
    tmp[0] = 0;
    return sk_buf_put_string(b, (tmp[1] & 0x80) ? tmp : tmp + 1,
                             (size_t)n + ((tmp[1] & 0x80) ? 1 : 0)) == 0
               ? 0
               : SK_ERR_CRYPTO;
}

/* A PEM RSA key (libcrypto reads it) and its public blob, made from its
 * own modulus and exponent (nothing else reads the file again, so no
 * unwiped copy of it is left in freed memory). Returns 0, SK_ERR_INVALID
 * (not RSA) or SK_ERR_CRYPTO. */
static int pem_load(const char *text, struct sk_hostsigner *s,
                    uint8_t **blob, size_t *bloblen)
{
    BIGNUM *n = NULL, *e = NULL;
    struct sk_buf b;
    BIO *bio;
    int r = SK_ERR_CRYPTO;

    if ((bio = BIO_new_mem_buf(text, -1)) == NULL) {
        return SK_ERR_CRYPTO;
    }
    s->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (s->pkey == NULL) {
        return SK_ERR_CRYPTO;
    }
    if (EVP_PKEY_get_base_id(s->pkey) != EVP_PKEY_RSA) {
        return SK_ERR_INVALID;
    }
    snprintf(s->type, sizeof(s->type), "ssh-rsa");
    sk_buf_init(&b);
    if (EVP_PKEY_get_bn_param(s->pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(s->pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
        sk_buf_put_cstring(&b, "ssh-rsa") == 0 && put_mpint(&b, e) == 0 &&
        put_mpint(&b, n) == 0 && sk_buf_avail(&b) <= SK_HOSTKEY_BLOB_MAX &&
        (*blob = malloc(sk_buf_avail(&b))) != NULL) {
        memcpy(*blob, sk_buf_ptr(&b), sk_buf_avail(&b));
        *bloblen = sk_buf_avail(&b);
        r = 0;
    }
    sk_buf_free(&b);
    BN_free(n);
    BN_free(e);
    return r;
}

int sk_hostkey_load(const char *path, struct sk_hostsigner **out,
                    uint8_t **blob, size_t *bloblen)
{
    struct sk_hostsigner *s = NULL;
    char *text = NULL;
    size_t len;
    int r;

    *out = NULL;
    *blob = NULL;
    if ((r = read_secret_file(path, &text, &len)) != 0) {
        return r;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        r = SK_ERR_ALLOC;
    } else if (strstr(text, OSSH_BEGIN) != NULL) {
        r = ossh_load(text, s, blob, bloblen);
    } else {
        r = pem_load(text, s, blob, bloblen);
    }
    sodium_free(text); /* wipes */
    if (r != 0) {
        free(*blob);
        *blob = NULL;
        sk_hostkey_free(s);
        return r;
    }
    *out = s;
    return 0;
}

const char *sk_hostkey_sign_check(const char *keytype, int md_nid,
                                  size_t len, int given, int preauth)
{
    if (len != 20 && len != 32 && len != 48 && len != 64) {
        return "not an exchange hash";
    }
    if (strcmp(keytype, "ssh-ed25519") == 0) {
        if (md_nid != NID_undef) {
            return "digest not used with this key";
        }
    } else if (strcmp(keytype, "ssh-rsa") == 0) {
        if (md_nid != NID_sha256 && md_nid != NID_sha512) {
            return "digest not used with this key";
        }
    } else {
        return "unsupported key type";
    }
    if (given >= SK_HOSTKEY_SIGNS_MAX ||
        (preauth && given >= SK_HOSTKEY_SIGNS_PREAUTH)) {
        return "signature budget spent";
    }
    return NULL;
}

int sk_hostkey_sign(const struct sk_hostsigner *s, int md_nid,
                    const uint8_t *data, size_t len, uint8_t *sig,
                    size_t sigmax, size_t *siglen)
{
    const EVP_MD *md = NULL;
    EVP_MD_CTX *ctx = NULL;
    size_t n = 0;
    int r = SK_ERR_CRYPTO;

    if (md_nid != NID_undef && (md = EVP_get_digestbynid(md_nid)) == NULL) {
        return SK_ERR_CRYPTO;
    }
    if ((ctx = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(ctx, NULL, md, NULL, s->pkey) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, data, len) != 1) {
        goto out;
    }
    if (n > sigmax) {
        r = SK_ERR_TOO_LONG;
        goto out;
    }
    if (EVP_DigestSign(ctx, sig, &n, data, len) != 1) {
        goto out;
    }
    *siglen = n;
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

/* Appends the unencrypted OpenSSH container of one key whose private
 * section (after the check integers) is priv, PEM-armoured, to text. */
static int ossh_armour(const uint8_t *blob, size_t bloblen,
                       const struct sk_buf *priv, char **text)
{
    struct sk_buf c, sec;
    char *b64 = NULL, *t = NULL;
    size_t b64len, i, o = 0;
    uint8_t pad = 1;
    int r = SK_ERR_ALLOC;

    sk_buf_init(&c);
    sk_buf_init(&sec);
    /* check integers: any value, the same twice */
    if (sk_buf_put_u32(&sec, 0x5e415e15) != 0 ||
        sk_buf_put_u32(&sec, 0x5e415e15) != 0 ||
        sk_buf_put(&sec, sk_buf_ptr(priv), sk_buf_avail(priv)) != 0 ||
        sk_buf_put_cstring(&sec, "decoy") != 0) {
        goto out;
    }
    while (sk_buf_avail(&sec) % 8 != 0) {
        if (sk_buf_put_u8(&sec, pad++) != 0) {
            goto out;
        }
    }
    if (sk_buf_put(&c, OSSH_MAGIC, sizeof(OSSH_MAGIC)) != 0 ||
        sk_buf_put_cstring(&c, "none") != 0 ||
        sk_buf_put_cstring(&c, "none") != 0 ||
        sk_buf_put_string(&c, "", 0) != 0 || sk_buf_put_u32(&c, 1) != 0 ||
        sk_buf_put_string(&c, blob, bloblen) != 0 ||
        sk_buf_put_string(&c, sk_buf_ptr(&sec), sk_buf_avail(&sec)) != 0) {
        goto out;
    }
    b64len = sodium_base64_encoded_len(sk_buf_avail(&c),
                                       sodium_base64_VARIANT_ORIGINAL);
    if ((b64 = malloc(b64len)) == NULL ||
        (t = malloc(b64len + b64len / 70 + 2 * sizeof(OSSH_END) + 8)) ==
            NULL) {
        goto out;
    }
    sodium_bin2base64(b64, b64len, sk_buf_ptr(&c), sk_buf_avail(&c),
                      sodium_base64_VARIANT_ORIGINAL);
    o = (size_t)sprintf(t, "%s\n", OSSH_BEGIN);
    for (i = 0; b64[i] != '\0'; i++) {
        t[o++] = b64[i];
        if (i % 70 == 69) {
            t[o++] = '\n';
        }
    }
    sprintf(t + o, "\n%s\n", OSSH_END);
    *text = t;
    t = NULL;
    r = 0;
out:
    free(b64);
    free(t);
    sk_buf_free(&c);
    sk_buf_free(&sec);
    return r;
}

int sk_hostkey_decoy(const uint8_t *blob, size_t bloblen, ssh_key *out)
{
    static const uint8_t one = 1;
    uint8_t junk[2 * ED_LEN];
    struct sk_buf b, priv;
    const uint8_t *pk, *e, *n;
    size_t el, nl;
    char *type = NULL, *text = NULL;
    int r = SK_ERR_INVALID;

    *out = NULL;
    sk_buf_init(&b);
    sk_buf_init(&priv);
    if (bloblen > SK_HOSTKEY_BLOB_MAX || sk_buf_put(&b, blob, bloblen) != 0 ||
        sk_buf_get_cstring(&b, &type, 32) != 0) {
        goto out;
    }
    if ((pk = blob_ed25519_pub(blob, bloblen)) != NULL) {
        /* A zero seed, and the real public key where the private key's
         * copy of it goes: libssh sends that public key, and signs with
         * the seed (which the worker's EVP_DigestSign never uses). */
        memset(junk, 0, ED_LEN);
        memcpy(junk + ED_LEN, pk, ED_LEN);
        if (sk_buf_put_cstring(&priv, "ssh-ed25519") != 0 ||
            sk_buf_put_string(&priv, pk, ED_LEN) != 0 ||
            sk_buf_put_string(&priv, junk, sizeof(junk)) != 0) {
            r = SK_ERR_ALLOC;
            goto out;
        }
    } else if (strcmp(type, "ssh-rsa") == 0) {
        /* The public modulus and exponent; private exponent, CRT
         * coefficient and factors all 1. */
        if (sk_buf_get_string_direct(&b, &e, &el) != 0 ||
            sk_buf_get_string_direct(&b, &n, &nl) != 0 ||
            sk_buf_avail(&b) != 0 || el == 0 || nl < 256) {
            goto out;
        }
        if (sk_buf_put_cstring(&priv, "ssh-rsa") != 0 ||
            sk_buf_put_string(&priv, n, nl) != 0 ||
            sk_buf_put_string(&priv, e, el) != 0 ||
            sk_buf_put_string(&priv, &one, 1) != 0 ||
            sk_buf_put_string(&priv, &one, 1) != 0 ||
            sk_buf_put_string(&priv, &one, 1) != 0 ||
            sk_buf_put_string(&priv, &one, 1) != 0) {
            r = SK_ERR_ALLOC;
            goto out;
        }
    } else {
        goto out;
    }
    if ((r = ossh_armour(blob, bloblen, &priv, &text)) != 0) {
        goto out;
    }
    r = ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, out) == SSH_OK
            ? 0
            : SK_ERR_CRYPTO;
out:
    free(type);
    free(text);
    sk_buf_free(&b);
    sk_buf_free(&priv);
    return r;
}
