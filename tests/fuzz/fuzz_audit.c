/* The audit log verifier on arbitrary files. */
#include "audit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int keyfn(const char *id, uint8_t pk[32], void *arg)
{
    (void)id;
    (void)arg;
    memset(pk, 1, 32);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "r");
    uint64_t lines, bad;
    char last[65], err[256];

    if (f == NULL) {
        return 0;
    }
    (void)sk_audit_verify(f, keyfn, NULL, &lines, &bad, last, err,
                          sizeof(err));
    fclose(f);
    return 0;
}
