/* The host key split between monitor and worker (gateway/hostkey.c): the
 * monitor's signer signs what libssh would, the worker's decoy carries
 * the real public key and no secret, and the sign check admits only
 * exchange hashes within a budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "hostkey.h"
#include "sk-err.h"

static char path[512];

static void write_key(enum ssh_keytypes_e type, int bits)
{
    ssh_key k = NULL;

    snprintf(path, sizeof(path), "%s/test_hostkey.%d.key",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (int)getpid());
    unlink(path);
    assert_int_equal(ssh_pki_generate(type, bits, &k), SSH_OK);
    assert_int_equal(ssh_pki_export_privkey_file(k, NULL, NULL, NULL, path),
                     SSH_OK);
    ssh_key_free(k);
}

/* The public key libssh reads from a key as a blob, via base64. */
static size_t pub_blob(ssh_key k, uint8_t *out, size_t max)
{
    ssh_key pub = NULL;
    char *b64 = NULL;
    size_t n = 0;

    assert_int_equal(ssh_pki_export_privkey_to_pubkey(k, &pub), SSH_OK);
    assert_int_equal(ssh_pki_export_pubkey_base64(pub, &b64), SSH_OK);
    assert_int_equal(sodium_base642bin(out, max, b64, strlen(b64), NULL, &n,
                                       NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    ssh_string_free_char(b64);
    ssh_key_free(pub);
    return n;
}

/* The real RSA private key as libcrypto's, to verify with. */
static EVP_PKEY *real_rsa(void)
{
    ssh_key k = NULL;
    char *b64 = NULL;
    EVP_PKEY *p;
    BIO *bio;

    assert_int_equal(ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &k),
                     SSH_OK);
    assert_int_equal(ssh_pki_export_privkey_base64(k, NULL, NULL, NULL, &b64),
                     SSH_OK);
    bio = BIO_new_mem_buf(b64, -1);
    p = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(b64);
    ssh_key_free(k);
    assert_non_null(p);
    return p;
}

static int verify(EVP_PKEY *pk, int nid, const uint8_t *data, size_t len,
                  const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = nid == NID_undef ? NULL : EVP_get_digestbynid(nid);
    int ok;

    ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Ed25519: the signer's signature verifies with the public key from the
 * blob; the decoy's key has the same public key, and what libcrypto
 * would sign with the decoy does not verify. */
static void test_ed25519(void **state)
{
    struct sk_hostsigner *s = NULL;
    uint8_t *blob = NULL, sig[SK_HOSTKEY_SIG_MAX], db[SK_HOSTKEY_BLOB_MAX],
            h[32];
    size_t bl, dbl, siglen = 0;
    ssh_key decoy = NULL;
    EVP_PKEY *pub, *dpriv;
    EVP_MD_CTX *ctx;
    char *b64 = NULL;

    (void)state;
    write_key(SSH_KEYTYPE_ED25519, 0);
    assert_int_equal(sk_hostkey_load(path, &s, &blob, &bl), 0);
    assert_string_equal(sk_hostkey_type(s), "ssh-ed25519");
    assert_int_equal(bl, 51);
    randombytes_buf(h, sizeof(h));
    assert_int_equal(sk_hostkey_sign(s, NID_undef, h, sizeof(h), sig,
                                     sizeof(sig), &siglen),
                     0);
    assert_int_equal(siglen, 64);
    pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, blob + 19, 32);
    assert_non_null(pub);
    assert_true(verify(pub, NID_undef, h, sizeof(h), sig, siglen));
    h[0] ^= 1;
    assert_false(verify(pub, NID_undef, h, sizeof(h), sig, siglen));
    /* too small an output buffer */
    assert_int_equal(sk_hostkey_sign(s, NID_undef, h, sizeof(h), sig, 10,
                                     &siglen),
                     SK_ERR_TOO_LONG);

    assert_int_equal(sk_hostkey_decoy(blob, bl, &decoy), 0);
    assert_true(ssh_key_is_private(decoy));
    dbl = pub_blob(decoy, db, sizeof(db));
    assert_int_equal(dbl, bl);
    assert_memory_equal(db, blob, bl);
    /* the decoy's private half signs nothing the public key accepts */
    assert_int_equal(ssh_pki_export_privkey_base64(decoy, NULL, NULL, NULL,
                                                   &b64),
                     SSH_OK);
    {
        uint8_t zero[32] = {0};

        dpriv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, zero,
                                             32);
    }
    ctx = EVP_MD_CTX_new();
    siglen = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, dpriv), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, h, sizeof(h)), 1);
    assert_false(verify(pub, NID_undef, h, sizeof(h), sig, siglen));
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(dpriv);
    free(b64);
    ssh_key_free(decoy);
    EVP_PKEY_free(pub);
    sk_hostkey_free(s);
    free(blob);
    unlink(path);
}

/* RSA: signatures with SHA-256 and SHA-512 verify with the real key; the
 * decoy has the real public key. */
static void test_rsa(void **state)
{
    struct sk_hostsigner *s = NULL;
    uint8_t *blob = NULL, sig[SK_HOSTKEY_SIG_MAX], db[SK_HOSTKEY_BLOB_MAX],
            h[64];
    size_t bl, dbl, siglen = 0;
    ssh_key decoy = NULL;
    EVP_PKEY *real;

    (void)state;
    write_key(SSH_KEYTYPE_RSA, 2048);
    assert_int_equal(sk_hostkey_load(path, &s, &blob, &bl), 0);
    assert_string_equal(sk_hostkey_type(s), "ssh-rsa");
    real = real_rsa();
    randombytes_buf(h, sizeof(h));
    assert_int_equal(sk_hostkey_sign(s, NID_sha512, h, sizeof(h), sig,
                                     sizeof(sig), &siglen),
                     0);
    assert_int_equal(siglen, 256);
    assert_true(verify(real, NID_sha512, h, sizeof(h), sig, siglen));
    assert_false(verify(real, NID_sha256, h, sizeof(h), sig, siglen));
    assert_int_equal(sk_hostkey_sign(s, NID_sha256, h, 32, sig, sizeof(sig),
                                     &siglen),
                     0);
    assert_true(verify(real, NID_sha256, h, 32, sig, siglen));
    assert_int_equal(sk_hostkey_decoy(blob, bl, &decoy), 0);
    dbl = pub_blob(decoy, db, sizeof(db));
    assert_int_equal(dbl, bl);
    assert_memory_equal(db, blob, bl);
    ssh_key_free(decoy);
    EVP_PKEY_free(real);
    sk_hostkey_free(s);
    free(blob);
    unlink(path);
}

static void test_unsupported(void **state)
{
    struct sk_hostsigner *s = NULL;
    uint8_t *blob = NULL, junk[60] = {0, 0, 0, 7, 's', 's', 'h', '-', 'd',
                                      's', 's'};
    size_t bl;
    ssh_key decoy = NULL;

    (void)state;
    write_key(SSH_KEYTYPE_ECDSA_P256, 256);
    assert_int_equal(sk_hostkey_load(path, &s, &blob, &bl), SK_ERR_INVALID);
    assert_null(s);
    unlink(path);
    assert_int_equal(sk_hostkey_load(path, &s, &blob, &bl), SK_ERR_SYSTEM);
    assert_int_equal(sk_hostkey_decoy(junk, sizeof(junk), &decoy),
                     SK_ERR_INVALID);
    assert_int_equal(sk_hostkey_decoy(junk, 3, &decoy), SK_ERR_INVALID);
    assert_null(decoy);
}

static void test_sign_check(void **state)
{
    (void)state;
    assert_null(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 32, 0, 1));
    assert_null(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 64, 1, 1));
    assert_null(sk_hostkey_sign_check("ssh-rsa", NID_sha512, 32, 0, 1));
    assert_null(sk_hostkey_sign_check("ssh-rsa", NID_sha256, 20, 0, 1));
    assert_string_equal(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 100,
                                              0, 1),
                        "not an exchange hash");
    assert_string_equal(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 31,
                                              0, 1),
                        "not an exchange hash");
    assert_string_equal(sk_hostkey_sign_check("ssh-rsa", NID_sha1, 32, 0, 1),
                        "digest not used with this key");
    assert_string_equal(sk_hostkey_sign_check("ssh-ed25519", NID_sha256, 32,
                                              0, 1),
                        "digest not used with this key");
    assert_string_equal(sk_hostkey_sign_check("ssh-rsa", NID_undef, 32, 0, 1),
                        "digest not used with this key");
    /* budget: two before authentication, SK_HOSTKEY_SIGNS_MAX in all */
    assert_string_equal(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 32,
                                              SK_HOSTKEY_SIGNS_PREAUTH, 1),
                        "signature budget spent");
    assert_null(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 32,
                                      SK_HOSTKEY_SIGNS_PREAUTH, 0));
    assert_null(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 32,
                                      SK_HOSTKEY_SIGNS_MAX - 1, 0));
    assert_string_equal(sk_hostkey_sign_check("ssh-ed25519", NID_undef, 32,
                                              SK_HOSTKEY_SIGNS_MAX, 0),
                        "signature budget spent");
    assert_string_equal(sk_hostkey_sign_check("ssh-dss", NID_undef, 32, 0, 1),
                        "unsupported key type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_sign_check),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
