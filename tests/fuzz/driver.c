/*
 * A small stand-alone fuzzing driver for the harnesses in this folder,
 * so CI (gcc, no libFuzzer) runs them: every corpus file, then a fixed
 * number of deterministic mutations of them (bit flips, byte changes,
 * insertions, deletions, truncations, splices). With clang, build the
 * same harnesses with -fsanitize=fuzzer instead (SK_LIBFUZZER=ON) and let
 * libFuzzer explore.
 *
 *   fuzz_X CORPUS_DIR [ITERATIONS]
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXFILES 64
#define MAXLEN (64 * 1024)

static uint64_t rng = 0x5eca5e0f1ce5eedULL;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int main(int argc, char **argv)
{
    static uint8_t *files[MAXFILES], buf[MAXLEN];
    static size_t lens[MAXFILES];
    long iterations = argc > 2 ? atol(argv[2]) : 20000;
    int n = 0;
    DIR *d;
    struct dirent *e;

    if (argc < 2 || (d = opendir(argv[1])) == NULL) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    while ((e = readdir(d)) != NULL && n < MAXFILES) {
        char path[4096];
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        if ((f = fopen(path, "rb")) == NULL) {
            continue;
        }
        files[n] = malloc(MAXLEN);
        lens[n] = fread(files[n], 1, MAXLEN, f);
        fclose(f);
        LLVMFuzzerTestOneInput(files[n], lens[n]);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "%s: empty corpus\n", argv[1]);
        return 2;
    }
    for (long it = 0; it < iterations; it++) {
        int k = (int)(next() % (uint32_t)n), muts = 1 + (int)(next() % 4);
        size_t len = lens[k];

        memcpy(buf, files[k], len);
        for (int m = 0; m < muts; m++) {
            size_t pos = len ? next() % len : 0;

            switch (next() % 6) {
            case 0: /* bit flip */
                if (len) {
                    buf[pos] ^= (uint8_t)(1u << (next() % 8));
                }
                break;
            case 1: /* random byte */
                if (len) {
                    buf[pos] = (uint8_t)next();
                }
                break;
            case 2: /* insert */
                if (len < MAXLEN) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (uint8_t)next();
                    len++;
                }
                break;
            case 3: /* delete */
                if (len) {
                    memmove(buf + pos, buf + pos + 1, len - pos - 1);
                    len--;
                }
                break;
            case 4: /* truncate */
                len = pos;
                break;
            default: { /* splice another file in */
                int j = (int)(next() % (uint32_t)n);
                size_t take = lens[j] ? next() % lens[j] : 0;

                if (pos + take <= MAXLEN) {
                    memcpy(buf + pos, files[j], take);
                    if (pos + take > len) {
                        len = pos + take;
                    }
                }
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%s: %d corpus files, %ld mutations, no crash\n", argv[0], n,
           iterations);
    for (int i = 0; i < n; i++) {
        free(files[i]);
    }
    return 0;
}
