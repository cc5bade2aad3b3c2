/* The transcript reader on hostile bytes: verify (framing, chain,
 * signatures) and decrypt (stream, events) must reject, never crash,
 * and never call sealed a file with bytes after its seal. The
 * keys are those of the committed vector, so mutations of it get deep. */
#include "recorder/transcript.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t pk[32];
static struct sk_boxkey *aud;

static int keyfn(const char *id, uint8_t out[32], void *arg)
{
    (void)id;
    (void)arg;
    memcpy(out, pk, 32);
    return 0;
}

static int on_event(const struct sk_tr_event *ev, void *arg)
{
    (void)arg;
    return ev->len > SK_TR_REC_MAX; /* touch the event */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sk_tr_info info;
    char err[256];
    int fd;

    if (aud == NULL) {
        uint8_t seed[32], sk[64];

        if (sodium_init() < 0) {
            return 0;
        }
        memset(seed, 7, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        aud = sodium_malloc(sizeof(*aud));
        memset(aud->sk, 9, 32);
        crypto_scalarmult_base(aud->pk, aud->sk);
    }
    if ((fd = memfd_create("fuzz", 0)) < 0) {
        return 0;
    }
    if (write(fd, data, size) == (ssize_t)size) {
        int r = sk_tr_verify(fd, keyfn, NULL, &info);

        /* Sealed means the seal is the file's last byte: nothing after
         * it (corpus/sealed-trailing.skt) may pass for part of it. */
        if (r == 0 && (!info.sealed || info.size != size ||
                       info.verified_size != size)) {
            abort();
        }
        sk_tr_info_clear(&info);
        (void)sk_tr_decrypt(fd, aud, on_event, NULL, NULL, err, sizeof(err));
    }
    close(fd);
    return 0;
}
