/*
 * sk-ibbench: the in-band filter's candidate scans (policy/inband.c), one
 * against the other in one process, interleaved: MB megabytes (10^6) of
 * random bytes (a compressed file or an encrypted stream through `cat`,
 * the throughput bench's payload) and of text (printable ASCII, line ends,
 * UTF-8 Japanese), filtered from the target in 64 KiB calls as the relay
 * makes them, at each scan level (3 buckets, 2 pairs 32 bytes at a time,
 * 1 16 at a time, 0 bytes). Prints MB/s, the median of ROUNDS. Not a
 * test: the figures are for bench/README.md, never asserted.
 *
 *   sk-ibbench [MB [ROUNDS]]     defaults 256 5
 */
#include "policy/inband.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL (64 * 1024)
#define LEVELS 4

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* MB/s of one pass over data at the scan level set */
static double one(const unsigned char *data, size_t n, unsigned char *out)
{
    struct sk_inband s;
    size_t kept = 0;
    double t0, t;
    int kind, count;

    sk_inband_init(&s, SK_IB_FROM_TARGET);
    t0 = now_s();
    for (size_t o = 0; o < n; o += CALL) {
        size_t l = n - o < CALL ? n - o : CALL;

        kept += sk_inband_filter(&s, data + o, l, out, &kind, &count);
    }
    t = now_s() - t0;
    if (kept == 0) {
        fprintf(stderr, "sk-ibbench: the filter kept nothing\n");
        exit(1);
    }
    return (double)n / 1e6 / t;
}

int main(int argc, char **argv)
{
    static const char jp[] = "保守作業の記録 ログ出力 ";
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    size_t n = mb * 1000000;
    unsigned char *data[2], *out = malloc(CALL);
    const char *kind[2] = {"random", "text"};
    double *res;
    uint32_t x = 2463534242u;

    if (mb == 0 || rounds <= 0 || out == NULL) {
        fprintf(stderr, "usage: sk-ibbench [MB [ROUNDS]]\n");
        return 2;
    }
    res = calloc((size_t)(2 * LEVELS * rounds), sizeof(*res));
    for (int d = 0; d < 2; d++) {
        if ((data[d] = malloc(n)) == NULL || res == NULL) {
            fprintf(stderr, "sk-ibbench: out of memory\n");
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[0][i] = (unsigned char)x;
    }
    for (size_t i = 0; i < n;) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (x % 16 == 0 && i + sizeof(jp) - 1 <= n) {
            memcpy(data[1] + i, jp, sizeof(jp) - 1);
            i += sizeof(jp) - 1;
        } else {
            data[1][i++] = x % 61 == 0 ? '\n' : (unsigned char)(0x20 + x % 95);
        }
    }
    for (int r = 0; r < rounds; r++) {
        for (int d = 0; d < 2; d++) {
            for (int l = LEVELS - 1; l >= 0; l--) {
                sk_inband_set_vector_scan(l);
                res[(d * LEVELS + l) * rounds + r] = one(data[d], n, out);
            }
        }
    }
    printf("in-band filter, %zu MB x %d rounds, from the target, MB/s "
           "(median)\n", mb, rounds);
    for (int d = 0; d < 2; d++) {
        printf("  %-6s", kind[d]);
        for (int l = LEVELS - 1; l >= 0; l--) {
            double *v = res + (d * LEVELS + l) * rounds;

            qsort(v, (size_t)rounds, sizeof(*v), cmp_d);
            sk_inband_set_vector_scan(l);
            printf("  level %d%s %6.0f", l,
                   sk_inband_vector_scan(SK_IB_FROM_TARGET) != l ? "*" : "",
                   v[rounds / 2]);
        }
        printf("\n");
    }
    printf("  (* the CPU or the patterns allow only a lower level)\n");
    for (int d = 0; d < 2; d++) {
        free(data[d]);
    }
    free(res);
    free(out);
    return 0;
}
