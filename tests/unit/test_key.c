#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "sk-err.h"
#include "util.h"

static void test_generate_load_sign(void **state)
{
    char path[512], *line, *text = NULL;
    struct sk_key *k = NULL;
    uint8_t blob[64], sig[128], pk[32];
    size_t siglen, tl;
    struct stat st;
    int bl;

    (void)state;
    snprintf(path, sizeof(path), "%s/test_key.%ld",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(path);
    assert_int_equal(sk_key_generate_file(path), 0);
    assert_int_equal(sk_key_generate_file(path), SK_ERR_EXISTS);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sk_file_read(path, 4096, &text, &tl), 0);
    assert_memory_equal(text, "sekisho-ed25519-secret-v1\n", 26);
    free(text);
    assert_int_equal(sk_key_load(path, &k), 0);
    bl = sk_key_pub_blob(k, blob, sizeof(blob));
    assert_int_equal(bl, 51);
    assert_memory_equal(blob, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
    line = sk_key_pub_line(k, "c");
    assert_memory_equal(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37);
    assert_string_equal(line + strlen(line) - 2, " c");
    free(line);
    assert_int_equal(sk_key_sign_ssh(k, (const uint8_t *)"data", 4, sig,
                                     sizeof(sig), &siglen),
                     0);
    assert_int_equal(siglen, 4 + 11 + 4 + 64);
    memcpy(pk, blob + 19, 32);
    /* the signature verifies with the public key, and only for "data" */
    assert_int_equal(crypto_sign_verify_detached(sig + 19,
                                                 (const uint8_t *)"data", 4,
                                                 pk),
                     0);
    assert_int_not_equal(crypto_sign_verify_detached(
                             sig + 19, (const uint8_t *)"dato", 4, pk),
                         0);
    sk_key_free(k);
    unlink(path);
}

static void test_bad_files(void **state)
{
    char path[512];
    struct sk_key *k = NULL;
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/test_key_bad.%ld",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    f = fopen(path, "w");
    fputs("sekisho-ed25519-secret-v1\nnot-base64!!\n", f);
    fclose(f);
    assert_int_equal(sk_key_load(path, &k), SK_ERR_INVALID);
    assert_null(k);
    f = fopen(path, "w");
    fputs("-----BEGIN OPENSSH PRIVATE KEY-----\n", f);
    fclose(f);
    assert_int_equal(sk_key_load(path, &k), SK_ERR_INVALID);
    unlink(path);
    assert_int_equal(sk_key_load(path, &k), SK_ERR_SYSTEM);
}

/* Auditor keys: sealing an open key (key seal) keeps the key; the sealed
 * file opens only with its passphrase. */
static void test_boxkey_seal(void **state)
{
    char sec[512], pub[512], sealed[512];
    struct sk_boxkey *k = NULL, *k2 = NULL;
    uint8_t pk[32];
    const char *dir = getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp";
    struct stat sb;

    (void)state;
    snprintf(sec, sizeof(sec), "%s/test_key.%ld.ask", dir, (long)getpid());
    snprintf(pub, sizeof(pub), "%s/test_key.%ld.apub", dir, (long)getpid());
    snprintf(sealed, sizeof(sealed), "%s/test_key.%ld.asealed", dir,
             (long)getpid());
    unlink(sec);
    unlink(pub);
    unlink(sealed);
    assert_int_equal(sk_boxkey_generate_files(sec, pub, NULL), 0);
    assert_int_equal(sk_boxkey_load_secret(sec, NULL, &k), 0);
    assert_int_equal(sk_boxkey_write_secret(sealed, k, "a long passphrase"),
                     0);
    assert_int_equal(stat(sealed, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sk_boxkey_write_secret(sealed, k, "x"), SK_ERR_EXISTS);
    assert_int_equal(sk_boxkey_load_secret(sealed, NULL, &k2),
                     SK_ERR_DENIED);
    assert_int_equal(sk_boxkey_load_secret(sealed, "a long passphrasf", &k2),
                     SK_ERR_DENIED);
    assert_int_equal(sk_boxkey_load_secret(sealed, "a long passphrase", &k2),
                     0);
    assert_memory_equal(k->sk, k2->sk, 32);
    assert_int_equal(sk_boxkey_load_public(pub, pk), 0);
    assert_memory_equal(pk, k2->pk, 32);
    sk_boxkey_free(k);
    sk_boxkey_free(k2);
    unlink(sec);
    unlink(pub);
    unlink(sealed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_load_sign),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_boxkey_seal),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
