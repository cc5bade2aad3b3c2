/*
 * The monitor's own check of publickey signatures (auth/pubkey.c): what a
 * compromised worker could hand it. Keys and signatures are made here
 * with libsodium (Ed25519) and OpenSSL (ECDSA, RSA); the signed data is
 * laid out here independently, after RFC 4252 section 7 and OpenSSH's
 * PROTOCOL.u2f.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "auth/pubkey.h"
#include "sk-err.h"
#include "store.h"

enum kind { K_ED25519, K_SK_ED25519, K_ECDSA, K_SK_ECDSA, K_RSA };

struct tkey {
    enum kind kind;
    const char *type;
    uint8_t edpk[32], edsk[64];
    EVP_PKEY *pkey;
    char line[4096];
};

static const char *type_of(enum kind k)
{
    static const char *t[] = {"ssh-ed25519", "sk-ssh-ed25519@openssh.com",
                              "ecdsa-sha2-nistp256",
                              "sk-ecdsa-sha2-nistp256@openssh.com",
                              "ssh-rsa"};
    return t[k];
}

static void put_mpint(struct sk_buf *b, EVP_PKEY *pk, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t v[1024];
    int n;

    assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
    n = BN_bn2bin(bn, v + 1);
    assert_true(n > 0);
    v[0] = 0;
    /* A leading zero keeps a set high bit from meaning negative. */
    if (v[1] & 0x80) {
        assert_int_equal(sk_buf_put_string(b, v, (size_t)n + 1), 0);
    } else {
        assert_int_equal(sk_buf_put_string(b, v + 1, (size_t)n), 0);
    }
    BN_free(bn);
}

static void make_key(struct tkey *k, enum kind kind)
{
    struct sk_buf b;
    uint8_t q[256];
    size_t qlen = 0;
    char b64[3000];

    memset(k, 0, sizeof(*k));
    k->kind = kind;
    k->type = type_of(kind);
    sk_buf_init(&b);
    assert_int_equal(sk_buf_put_cstring(&b, k->type), 0);
    switch (kind) {
    case K_ED25519:
    case K_SK_ED25519:
        crypto_sign_keypair(k->edpk, k->edsk);
        assert_int_equal(sk_buf_put_string(&b, k->edpk, 32), 0);
        break;
    case K_ECDSA:
    case K_SK_ECDSA:
        k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(k->pkey);
        assert_int_equal(EVP_PKEY_get_octet_string_param(
                             k->pkey, OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q),
                             &qlen),
                         1);
        assert_int_equal(sk_buf_put_cstring(&b, "nistp256"), 0);
        assert_int_equal(sk_buf_put_string(&b, q, qlen), 0);
        break;
    case K_RSA:
        k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        assert_non_null(k->pkey);
        put_mpint(&b, k->pkey, OSSL_PKEY_PARAM_RSA_E);
        put_mpint(&b, k->pkey, OSSL_PKEY_PARAM_RSA_N);
        break;
    }
    if (kind == K_SK_ED25519 || kind == K_SK_ECDSA) {
        assert_int_equal(sk_buf_put_cstring(&b, "ssh:"), 0);
    }
    sodium_bin2base64(b64, sizeof(b64), b.data, b.len,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(k->line, sizeof(k->line), "%s %s", k->type, b64);
    sk_buf_free(&b);
}

static void free_key(struct tkey *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

/* Signs as a client would (with the key's own blob in the data). */
static size_t sign(const struct tkey *k, const uint8_t *sid, size_t sidlen,
                   const char *user, const char *alg, uint8_t flags,
                   uint32_t counter, uint8_t *sig, size_t siglen)
{
    struct sk_buf d;
    uint8_t blob[4096], tbs[69], *msg;
    size_t bloblen = 0, msglen;
    const char *b64 = strchr(k->line, ' ') + 1;
    EVP_MD_CTX *ctx;

    assert_int_equal(sodium_base642bin(blob, sizeof(blob), b64, strlen(b64),
                                       NULL, &bloblen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    sk_buf_init(&d);
    assert_int_equal(sk_buf_put_string(&d, sid, sidlen), 0);
    assert_int_equal(sk_buf_put_u8(&d, 50), 0);
    assert_int_equal(sk_buf_put_cstring(&d, user), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "ssh-connection"), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "publickey"), 0);
    assert_int_equal(sk_buf_put_u8(&d, 1), 0);
    assert_int_equal(sk_buf_put_cstring(&d, alg), 0);
    assert_int_equal(sk_buf_put_string(&d, blob, bloblen), 0);
    msg = d.data;
    msglen = d.len;
    if (k->kind == K_SK_ED25519 || k->kind == K_SK_ECDSA) {
        crypto_hash_sha256(tbs, (const uint8_t *)"ssh:", 4);
        tbs[32] = flags;
        tbs[33] = (uint8_t)(counter >> 24);
        tbs[34] = (uint8_t)(counter >> 16);
        tbs[35] = (uint8_t)(counter >> 8);
        tbs[36] = (uint8_t)counter;
        crypto_hash_sha256(tbs + 37, d.data, d.len);
        msg = tbs;
        msglen = sizeof(tbs);
    }
    if (k->kind == K_ED25519 || k->kind == K_SK_ED25519) {
        crypto_sign_detached(sig, NULL, msg, msglen, k->edsk);
        siglen = 64;
    } else {
        ctx = EVP_MD_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit(
                             ctx, NULL,
                             EVP_get_digestbyname(
                                 strcmp(alg, "rsa-sha2-512") == 0 ? "SHA512"
                                                                  : "SHA256"),
                             NULL, k->pkey),
                         1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, msglen), 1);
        EVP_MD_CTX_free(ctx);
    }
    sk_buf_free(&d);
    return siglen;
}

static const uint8_t sid32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* The proof the worker would send for a good signature by k. */
static void proof(struct sk_pk_proof *p, const struct tkey *k,
                  const char *alg, uint8_t *sig, size_t *siglen)
{
    memset(p, 0, sizeof(*p));
    p->session_id = sid32;
    p->session_id_len = sizeof(sid32);
    p->kex = "curve25519-sha256";
    p->user = "alice";
    p->alg = alg;
    p->sk_flags = SK_PK_UP;
    p->sk_counter = 7;
    *siglen = sign(k, sid32, sizeof(sid32), "alice", alg, SK_PK_UP, 7, sig,
                   *siglen);
    p->sig = sig;
    p->sig_len = *siglen;
}

/* For each key type: the good signature passes; everything a worker could
 * change (session id, user, signature byte, the key) makes it fail. */
static void check_type(enum kind kind, const char *alg)
{
    struct tkey k, other;
    struct sk_pk_proof p;
    uint8_t sig[1024], sid2[32];
    size_t siglen = sizeof(sig);

    make_key(&k, kind);
    make_key(&other, kind);
    proof(&p, &k, alg, sig, &siglen);
    assert_int_equal(sk_pubkey_verify(k.line, &p), 0);

    /* another session id (a signature made for another connection) */
    memcpy(sid2, sid32, sizeof(sid2));
    sid2[31] ^= 1;
    p.session_id = sid2;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
    p.session_id = sid32;

    /* another user (bob's signature does not log in alice) */
    p.user = "bob";
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
    p.user = "alice";

    /* a flipped byte anywhere in the signature */
    sig[siglen / 2] ^= 0x20;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
    sig[siglen / 2] ^= 0x20;
    sig[siglen - 1] ^= 0x01;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
    sig[siglen - 1] ^= 0x01;
    assert_int_equal(sk_pubkey_verify(k.line, &p), 0);

    /* the registered key is another: the signer's key is not consulted */
    assert_int_equal(sk_pubkey_verify(other.line, &p), SK_ERR_CRYPTO);

    /* a truncated signature */
    p.sig_len = siglen - 1;
    assert_int_not_equal(sk_pubkey_verify(k.line, &p), 0);
    p.sig_len = siglen;

    if (kind == K_SK_ED25519 || kind == K_SK_ECDSA) {
        /* the authenticator's flags and counter are signed too */
        p.sk_counter = 8;
        assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
        p.sk_counter = 7;
        /* no user presence: refused even if signed so */
        siglen = sizeof(sig);
        siglen = sign(&k, sid32, sizeof(sid32), "alice", alg, 0, 7, sig,
                      siglen);
        p.sig_len = siglen;
        p.sk_flags = 0;
        assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_DENIED);
    }
    free_key(&k);
    free_key(&other);
}

static void test_ed25519(void **state)
{
    (void)state;
    check_type(K_ED25519, "ssh-ed25519");
}

static void test_sk_ed25519(void **state)
{
    (void)state;
    check_type(K_SK_ED25519, "sk-ssh-ed25519@openssh.com");
}

static void test_ecdsa(void **state)
{
    (void)state;
    check_type(K_ECDSA, "ecdsa-sha2-nistp256");
}

static void test_sk_ecdsa(void **state)
{
    (void)state;
    check_type(K_SK_ECDSA, "sk-ecdsa-sha2-nistp256@openssh.com");
}

static void test_rsa(void **state)
{
    struct tkey k;
    struct sk_pk_proof p;
    uint8_t sig[1024];
    size_t siglen = sizeof(sig);

    (void)state;
    check_type(K_RSA, "rsa-sha2-256");
    check_type(K_RSA, "rsa-sha2-512");
    /* SHA-1 (ssh-rsa) is not accepted, even correctly signed */
    make_key(&k, K_RSA);
    proof(&p, &k, "rsa-sha2-256", sig, &siglen);
    p.alg = "rsa-sha2-512";
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_CRYPTO);
    p.alg = "ssh-rsa";
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    free_key(&k);
}

/* The session id must have the length the key exchange makes; the
 * algorithm must be the key's. */
static void test_session_id_and_alg(void **state)
{
    struct tkey k;
    struct sk_pk_proof p;
    uint8_t sig[128], sid64[64] = {9};
    size_t siglen = sizeof(sig);

    (void)state;
    make_key(&k, K_ED25519);
    proof(&p, &k, "ssh-ed25519", sig, &siglen);
    assert_int_equal(sk_pubkey_verify(k.line, &p), 0);
    p.kex = "ecdh-sha2-nistp521"; /* SHA-512: 64 bytes */
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.kex = "no-such-kex";
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.kex = NULL;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.kex = "curve25519-sha256";
    p.session_id_len = 31;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.session_id_len = 0;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    /* a correct 64-byte signature under a kex that makes 32 bytes */
    siglen = sign(&k, sid64, 64, "alice", "ssh-ed25519", 0, 0, sig, 64);
    p.session_id = sid64;
    p.session_id_len = 64;
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.kex = "diffie-hellman-group16-sha512";
    assert_int_equal(sk_pubkey_verify(k.line, &p), 0);
    /* an algorithm that is not the key's */
    p.alg = "sk-ssh-ed25519@openssh.com";
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    p.alg = "ssh-ed25519";
    /* a line whose type word is not the blob's */
    k.line[0] = 'x';
    assert_int_equal(sk_pubkey_verify(k.line, &p), SK_ERR_INVALID);
    assert_int_equal(sk_pubkey_verify("ssh-ed25519", &p), SK_ERR_INVALID);
    assert_int_equal(sk_pubkey_verify("ssh-ed25519 !!!!", &p),
                     SK_ERR_INVALID);
    assert_int_equal(sk_pubkey_kex_hash_len("ecdh-sha2-nistp384"), 48);
    free_key(&k);
}

/* The worker's view: the data libssh verified splits into session id and
 * algorithm; anything else is refused. */
static void test_parse_signed(void **state)
{
    struct sk_buf d;
    const unsigned char *sid;
    size_t sidlen;
    char alg[64];

    (void)state;
    sk_buf_init(&d);
    assert_int_equal(sk_buf_put_string(&d, sid32, 32), 0);
    assert_int_equal(sk_buf_put_u8(&d, 50), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "alice"), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "ssh-connection"), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "publickey"), 0);
    assert_int_equal(sk_buf_put_u8(&d, 1), 0);
    assert_int_equal(sk_buf_put_cstring(&d, "ssh-ed25519"), 0);
    assert_int_equal(sk_buf_put_string(&d, "blob", 4), 0);
    assert_int_equal(
        sk_pubkey_parse_signed(d.data, d.len, &sid, &sidlen, alg, 64), 0);
    assert_int_equal(sidlen, 32);
    assert_memory_equal(sid, sid32, 32);
    assert_string_equal(alg, "ssh-ed25519");
    assert_int_equal(
        sk_pubkey_parse_signed(d.data, d.len - 1, &sid, &sidlen, alg, 64),
        SK_ERR_INVALID);
    assert_int_equal(
        sk_pubkey_parse_signed(d.data, d.len, &sid, &sidlen, alg, 5),
        SK_ERR_INVALID);
    d.data[4 + 32] = 51;
    assert_int_equal(
        sk_pubkey_parse_signed(d.data, d.len, &sid, &sidlen, alg, 64),
        SK_ERR_INVALID);
    sk_buf_free(&d);
}

/* A session id accepted once is refused for ever after, by any monitor
 * sharing the store. */
static void test_replay(void **state)
{
    char dbpath[512];
    sk_store *st = NULL, *st2 = NULL;

    (void)state;
    snprintf(dbpath, sizeof(dbpath), "%s/test_pubkey.%ld.db",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(dbpath);
    assert_int_equal(sk_store_open(dbpath, SK_STORE_CREATE, &st), 0);
    assert_int_equal(sk_store_open(dbpath, 0, &st2), 0);
    assert_int_equal(sk_store_session_id_claim(st, "aa11", 100), 0);
    assert_int_equal(sk_store_session_id_claim(st, "aa11", 101),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_session_id_claim(st2, "aa11", 102),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_session_id_claim(st2, "bb22", 103), 0);
    sk_store_close(st);
    sk_store_close(st2);
    unlink(dbpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_sk_ed25519),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_sk_ecdsa),
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_session_id_and_alg),
        cmocka_unit_test(test_parse_signed),
        cmocka_unit_test(test_replay),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
