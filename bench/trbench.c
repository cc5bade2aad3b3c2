/*
 * sk-trbench: transcript format 1 against format 2, in one process and
 * interleaved, so both see the same machine. Writes MB megabytes (10^6)
 * of output events (16 KiB each, as the relay hands them over, a volume
 * checkpoint every 4 MiB like the recorder) with each writer, then
 * verifies (chain and signatures, no key) and decrypts each file, and
 * prints MB/s (wall) and CPU seconds per 100 MB (all threads) for each
 * step, as the median of ROUNDS rounds. Not a test: figures are for
 * bench/README.md, never asserted.
 *
 *   sk-trbench [MB [ROUNDS [DIR]]]     defaults 100 3 /dev/shm (page
 *                                       cache, no disk: the crypto cost)
 *   sk-trbench -v FILE KEY [ROUNDS]    verify FILE only, signed with the
 *                                       key file KEY (SK_TRBENCH_KEEP=1
 *                                       keeps the last files and the key)
 */
#include "key.h"
#include "sk-err.h"

#include "recorder/transcript.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define EV 16384
#define NMODES 3
#define NSTEPS 3

static const struct {
    const char *name;
    struct sk_tr_wopts opts;
} modes[NMODES] = {
    {"v1 xchacha20poly1305-secretstream + BLAKE2b", {1, 0}},
    {"v2 aes256gcm + SHA-256", {2, SK_TR_CIPHER_AES256GCM}},
    {"v2 chacha20poly1305 + SHA-256", {2, SK_TR_CIPHER_CHACHA20POLY1305}},
};
static const char *steps[NSTEPS] = {"write", "verify", "decrypt"};

static struct sk_key *signer;
static uint8_t signer_pk[32];

struct meas {
    double wall, cpu;
};

static double now_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru); /* every thread of the process */
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int trusted(const char *id, uint8_t pk[32], void *arg)
{
    (void)id;
    (void)arg;
    memcpy(pk, signer_pk, 32);
    return 0;
}

static int cmp_d(const void *a, const void *b);

/* -v: the median wall time of verifying path, rounds times. */
static int verify_only(const char *path, int rounds)
{
    double wv[64], cv[64];
    uint64_t size = 0;
    int n = rounds < 64 ? rounds : 64;

    for (int i = 0; i < n; i++) {
        struct sk_tr_info info;
        int fd = open(path, O_RDONLY), r;
        double w0 = now_wall(), c0 = now_cpu();

        if (fd < 0) {
            perror(path);
            return 1;
        }
        r = sk_tr_verify(fd, trusted, NULL, &info);
        wv[i] = now_wall() - w0;
        cv[i] = now_cpu() - c0;
        size = info.size;
        if (r < 0) {
            fprintf(stderr, "verify: %s\n", info.error);
        }
        sk_tr_info_clear(&info);
        close(fd);
    }
    qsort(wv, (size_t)n, sizeof(double), cmp_d);
    qsort(cv, (size_t)n, sizeof(double), cmp_d);
    printf("verify %s: %llu bytes, median %.0f MB/s, CPU %.3f s/100MB\n",
           path, (unsigned long long)size, (double)size / 1e6 / wv[n / 2],
           cv[n / 2] * 1e8 / (double)size);
    return 0;
}

static int on_ev(const struct sk_tr_event *ev, void *arg)
{
    *(uint64_t *)arg += ev->len;
    return 0;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "sk-trbench: %s: %s\n", what, sk_err_str(r));
    exit(1);
}

static void write_one(const char *path, int m, uint64_t bytes,
                      const struct sk_boxkey *aud, const uint8_t *data)
{
    static const struct sk_tr_meta meta = {
        .session = "bench", .user = "bench", .mode = "shell",
        .clock_sync = "unknown", .cols = 80, .rows = 24};
    struct sk_tr_writer *w = NULL;
    uint64_t t = 0, size = 0;
    int fd, r;

    unlink(path);
    if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600)) < 0) {
        perror(path);
        exit(1);
    }
    if ((r = sk_tr_writer_open_opts(fd, &meta, signer,
                                    (const uint8_t(*)[32])aud->pk, 1,
                                    &modes[m].opts, &w)) != 0) {
        die("open", r);
    }
    for (uint64_t done = 0; done < bytes; done += EV) {
        size_t n = bytes - done < EV ? (size_t)(bytes - done) : EV;

        if ((r = sk_tr_event(w, SK_TR_EV_OUTPUT, t += 5,
                             data + (done % (1u << 20)), n)) != 0) {
            die("event", r);
        }
        if (sk_tr_unsigned_bytes(w) >= 4u << 20 &&
            (r = sk_tr_checkpoint(w, t, 0)) != 0) {
            die("checkpoint", r);
        }
    }
    if ((r = sk_tr_close(w, t, NULL, &size)) != 0) {
        die("close", r);
    }
    sk_tr_writer_free(w);
    close(fd);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int mb = argc > 1 ? atoi(argv[1]) : 100;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    const char *dir = argc > 3 ? argv[3] : "/dev/shm";
    char path[512], kpath[512];
    struct sk_boxkey *aud;
    uint8_t *data;
    uint64_t bytes;
    struct meas *ms;
    int r;

    if (argc > 2 && strcmp(argv[1], "-v") == 0) {
        if (sodium_init() < 0) {
            return 1;
        }
        if (argc < 4 || (r = sk_key_load(argv[3], &signer)) != 0) {
            fprintf(stderr, "usage: sk-trbench -v FILE KEY [ROUNDS]\n");
            return 2;
        }
        sk_key_pub_raw(signer, signer_pk);
        r = verify_only(argv[2], argc > 4 ? atoi(argv[4]) : 5);
        sk_key_free(signer);
        return r;
    }
    if (mb <= 0 || rounds <= 0 || sodium_init() < 0) {
        fprintf(stderr, "usage: sk-trbench [MB [ROUNDS [DIR]]]\n");
        return 2;
    }
    bytes = (uint64_t)mb * 1000000u;
    snprintf(kpath, sizeof(kpath), "%s/sk-trbench-%d.key", dir,
             (int)getpid());
    if ((r = sk_key_generate_file(kpath)) != 0 ||
        (r = sk_key_load(kpath, &signer)) != 0) {
        die("signing key", r);
    }
    if (getenv("SK_TRBENCH_KEEP") == NULL) {
        unlink(kpath);
    }
    sk_key_pub_raw(signer, signer_pk);
    aud = sodium_malloc(sizeof(*aud));
    data = malloc(1u << 21);
    ms = calloc((size_t)rounds * NMODES * NSTEPS, sizeof(*ms));
    if (aud == NULL || data == NULL || ms == NULL) {
        die("memory", SK_ERR_ALLOC);
    }
    crypto_box_keypair(aud->pk, aud->sk);
    /* Terminal-like bytes; the ciphers do not care what they are. */
    for (size_t i = 0; i < (1u << 21); i++) {
        data[i] = (uint8_t)(' ' + (i * 7 + i / 97) % 95);
    }
    for (int rd = 0; rd < rounds; rd++) {
        for (int k = 0; k < NMODES; k++) {
            /* Alternate the order each round: neither mode always
             * follows the other's cache state. */
            int m = rd % 2 ? NMODES - 1 - k : k;
            struct meas *o = ms + ((size_t)rd * NMODES + (size_t)m) * NSTEPS;
            struct sk_tr_info info;
            char err[256];
            uint64_t got = 0;
            double w0, c0;
            int fd;

            snprintf(path, sizeof(path), "%s/sk-trbench-%d-%d.skt", dir,
                     (int)getpid(), m);
            w0 = now_wall();
            c0 = now_cpu();
            write_one(path, m, bytes, aud, data);
            o[0] = (struct meas){now_wall() - w0, now_cpu() - c0};
            if ((fd = open(path, O_RDONLY)) < 0) {
                perror(path);
                return 1;
            }
            w0 = now_wall();
            c0 = now_cpu();
            r = sk_tr_verify(fd, trusted, NULL, &info);
            o[1] = (struct meas){now_wall() - w0, now_cpu() - c0};
            if (r != 0) {
                fprintf(stderr, "verify: %s\n", info.error);
                return 1;
            }
            sk_tr_info_clear(&info);
            w0 = now_wall();
            c0 = now_cpu();
            r = sk_tr_decrypt(fd, aud, on_ev, &got, NULL, err, sizeof(err));
            o[2] = (struct meas){now_wall() - w0, now_cpu() - c0};
            if (r != 0 || got != bytes) {
                fprintf(stderr, "decrypt: %s\n", err);
                return 1;
            }
            close(fd);
            if (getenv("SK_TRBENCH_KEEP") == NULL || rd != rounds - 1) {
                unlink(path);
            }
        }
    }
    printf("%d MB (10^6 bytes) of output events, %d rounds, medians; "
           "files in %s\n",
           mb, rounds, dir);
    printf("%-46s %-8s %10s %14s\n", "format", "step", "MB/s", "CPU s/100MB");
    for (int m = 0; m < NMODES; m++) {
        for (int s = 0; s < NSTEPS; s++) {
            double wv[64], cv[64];
            int n = rounds < 64 ? rounds : 64;

            for (int rd = 0; rd < n; rd++) {
                struct meas *o =
                    ms + ((size_t)rd * NMODES + (size_t)m) * NSTEPS + s;

                wv[rd] = o->wall;
                cv[rd] = o->cpu;
            }
            qsort(wv, (size_t)n, sizeof(double), cmp_d);
            qsort(cv, (size_t)n, sizeof(double), cmp_d);
            printf("%-46s %-8s %10.0f %14.3f\n", modes[m].name, steps[s],
                   (double)mb / wv[n / 2], cv[n / 2] * 100.0 / mb);
        }
    }
    free(ms);
    free(data);
    sodium_free(aud);
    sk_key_free(signer);
    return 0;
}
