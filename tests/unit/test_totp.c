#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/totp.h"
#include "sk-err.h"

/* RFC 6238 appendix B, SHA-1 secret; codes are the last 6 of the 8
 * digits given there. */
static const uint8_t rfc_secret[] = "12345678901234567890";

static const struct {
    time_t t;
    const char *code;
} vectors[] = {
    {59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
    {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
};

static void test_rfc6238_vectors(void **state)
{
    char out[8];
    uint64_t step;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        assert_int_equal(sk_totp_generate(rfc_secret, vectors[i].t, out), 0);
        assert_string_equal(out, vectors[i].code);
        assert_int_equal(
            sk_totp_verify(rfc_secret, vectors[i].code, vectors[i].t, &step),
            0);
        assert_true(step == (uint64_t)vectors[i].t / 30);
    }
}

static void test_window(void **state)
{
    uint64_t step;
    time_t t = 1111111109; /* step 37037036 */

    (void)state;
    /* one step either side is accepted, reporting the code's own step */
    assert_int_equal(sk_totp_verify(rfc_secret, "081804", t + 30, &step), 0);
    assert_true(step == 37037036);
    assert_int_equal(sk_totp_verify(rfc_secret, "081804", t - 30, &step), 0);
    /* two steps away is not */
    assert_int_equal(sk_totp_verify(rfc_secret, "081804", t + 60, &step),
                     SK_ERR_DENIED);
    assert_int_equal(sk_totp_verify(rfc_secret, "081804", t - 60, &step),
                     SK_ERR_DENIED);
    /* malformed codes */
    assert_int_equal(sk_totp_verify(rfc_secret, "81804", t, &step),
                     SK_ERR_DENIED);
    assert_int_equal(sk_totp_verify(rfc_secret, "0818045", t, &step),
                     SK_ERR_DENIED);
    assert_int_equal(sk_totp_verify(rfc_secret, "08180a", t, &step),
                     SK_ERR_DENIED);
    assert_int_equal(sk_totp_verify(rfc_secret, "", t, &step),
                     SK_ERR_DENIED);
    assert_int_equal(sk_totp_verify(rfc_secret, NULL, t, &step),
                     SK_ERR_DENIED);
}

static void test_seal(void **state)
{
    uint8_t key[SK_TOTP_KEY_LEN], other[SK_TOTP_KEY_LEN];
    uint8_t secret[SK_TOTP_SECRET_LEN], back[SK_TOTP_SECRET_LEN];
    uint8_t sealed[SK_TOTP_SEALED_LEN], sealed2[SK_TOTP_SEALED_LEN];
    char path[512];

    (void)state;
    snprintf(path, sizeof(path), "%s/test_totp.%ld.key",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(path);
    assert_int_equal(sk_totp_key_generate(path), 0);
    assert_int_equal(sk_totp_key_generate(path), SK_ERR_EXISTS);
    assert_int_equal(sk_totp_key_load(path, key), 0);
    unlink(path);
    sk_totp_secret_new(secret);
    assert_int_equal(sk_totp_seal(key, secret, sealed), 0);
    assert_int_equal(sk_totp_seal(key, secret, sealed2), 0);
    /* fresh nonce each time: equal secrets do not look equal at rest */
    assert_memory_not_equal(sealed, sealed2, sizeof(sealed));
    assert_int_equal(sk_totp_open(key, sealed, sizeof(sealed), back), 0);
    assert_memory_equal(secret, back, sizeof(secret));
    sealed[30] ^= 1;
    assert_int_equal(sk_totp_open(key, sealed, sizeof(sealed), back),
                     SK_ERR_CRYPTO);
    sealed[30] ^= 1;
    randombytes_buf(other, sizeof(other));
    assert_int_equal(sk_totp_open(other, sealed, sizeof(sealed), back),
                     SK_ERR_CRYPTO);
    assert_int_equal(sk_totp_open(key, sealed, sizeof(sealed) - 1, back),
                     SK_ERR_INVALID);
}

static void test_uri(void **state)
{
    char *uri;

    (void)state;
    uri = sk_totp_uri(rfc_secret, "gw one", "alice");
    assert_non_null(uri);
    assert_string_equal(uri,
                        "otpauth://totp/gw%20one:alice?secret="
                        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gw%20one&"
                        "algorithm=SHA1&digits=6&period=30");
    free(uri);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_uri),
    };
    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
