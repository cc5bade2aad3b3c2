/* The audit log verifier on arbitrary files. The key is the one that
 * signed corpus/audit/signed-* (make_audit_corpus.py: Ed25519 seed of
 * 32 bytes 7), so mutations of those get past the signatures into the
 * chain. Beyond never crashing, the result must be consistent: a log
 * that verifies is whole lines, every one counted. */
#include "audit.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t pk[32];
static int ready;

static int keyfn(const char *id, uint8_t out[32], void *arg)
{
    (void)id;
    (void)arg;
    memcpy(out, pk, 32);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = NULL;
    uint64_t lines = 0, bad = 0, nl = 0;
    char last[65], err[256];
    int r;

    if (!ready) {
        uint8_t seed[32], sk[64];

        if (sodium_init() < 0) {
            return 0;
        }
        memset(seed, 7, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(sk, sizeof(sk));
        ready = 1;
    }
    if (size == 0 || (f = fmemopen((void *)data, size, "r")) == NULL) {
        return 0;
    }
    r = sk_audit_verify(f, keyfn, NULL, &lines, &bad, last, err,
                        sizeof(err));
    fclose(f);
    for (size_t i = 0; i < size; i++) {
        nl += data[i] == '\n';
    }
    if (r == 0 && (bad != 0 || lines != nl || data[size - 1] != '\n')) {
        abort(); /* "intact" for a torn or miscounted log */
    }
    if (r != 0 && (bad == 0 || bad > lines)) {
        abort(); /* a failure that names no line of the log */
    }
    return 0;
}
