/* The in-band transfer filter: never longer output than input, in any
 * split, filtering in place (as the relay does) gives the same bytes as
 * filtering into another buffer, and each candidate scan (buckets, pairs
 * 32 bytes at a time, 16 at a time: levels 3, 2, 1) gives the same bytes
 * as the byte loop. */
#include "policy/inband.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[64 * 1024 + 16], inplace[64 * 1024 + 16];
    static const uint8_t nak = 0x15;
    struct sk_inband s, t, peer;
    uint8_t x;
    size_t half = size / 2, m1, m2, p1, p2;
    int kind, count;

    if (size > 64 * 1024) {
        return 0;
    }
    for (int dir = 0; dir < 2; dir++) {
        /* The other direction's last byte is a receiver's NAK, so XMODEM
         * checksum blocks are reached too. */
        sk_inband_init(&peer, (enum sk_ib_dir)!dir);
        (void)sk_inband_filter(&peer, &nak, 1, &x, &kind, &count);
        sk_inband_init(&s, (enum sk_ib_dir)dir);
        sk_inband_set_peer(&s, &peer);
        m1 = sk_inband_filter(&s, data, half, out, &kind, &count);
        m2 = sk_inband_filter(&s, data + half, size - half, out + m1, &kind,
                              &count);
        if (m1 > half || m2 > size - half) {
            abort();
        }
        sk_inband_init(&t, (enum sk_ib_dir)dir);
        sk_inband_set_peer(&t, &peer);
        memcpy(inplace, data, size);
        p1 = sk_inband_filter(&t, inplace, half, inplace, &kind, &count);
        p2 = sk_inband_filter(&t, inplace + half, size - half, inplace + half,
                              &kind, &count);
        if (p1 != m1 || p2 != m2 || memcmp(inplace, out, p1) != 0 ||
            memcmp(inplace + half, out + m1, p2) != 0) {
            abort();
        }
        for (int level = 0; level < 3; level++) {
            sk_inband_set_vector_scan(level);
            sk_inband_init(&t, (enum sk_ib_dir)dir);
            sk_inband_set_peer(&t, &peer);
            memcpy(inplace, data, size);
            p1 = sk_inband_filter(&t, inplace, half, inplace, &kind, &count);
            p2 = sk_inband_filter(&t, inplace + half, size - half,
                                  inplace + half, &kind, &count);
            sk_inband_set_vector_scan(3);
            if (p1 != m1 || p2 != m2 || memcmp(inplace, out, p1) != 0 ||
                memcmp(inplace + half, out + m1, p2) != 0) {
                abort();
            }
        }
    }
    return 0;
}
