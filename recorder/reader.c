/* Transcript verifier and decrypting reader (FORMAT.md). Everything here
 * reads untrusted bytes: every length is checked before use. */
#include "transcript.h"
#include "sk-err.h"
#include "tr-v2.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct rd {
    int fd;
    int format;   /* 1 or 2, from the magic */
    uint8_t *buf; /* SK_TR_REC_MAX + 5 */
    uint64_t off; /* file offset of the next unread byte */
};

/* The version a magic names, or 0. */
static int magic_format(const uint8_t *m)
{
    if (memcmp(m, SK_TR_MAGIC_V1, SK_TR_MAGIC_LEN) == 0) {
        return 1;
    }
    if (memcmp(m, SK_TR_MAGIC_V2, SK_TR_MAGIC_LEN) == 0) {
        return 2;
    }
    return 0;
}

/* Reads up to n bytes; returns the count (short only at end of file) or
 * -1. */
static ssize_t read_full(int fd, void *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)p + got, n - got);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

enum { RD_OK = 0, RD_END = 1, RD_TRUNCATED = 2, RD_BAD = 3, RD_IO = 4 };

/* Reads one record into r->buf (5-byte head + body). */
static int rd_record(struct rd *r, int *type, uint32_t *len)
{
    ssize_t n = read_full(r->fd, r->buf, 5);

    if (n < 0) {
        return RD_IO;
    }
    if (n == 0) {
        return RD_END;
    }
    if (n < 5) {
        r->off += (uint64_t)n;
        return RD_TRUNCATED;
    }
    *type = r->buf[0];
    *len = get32(r->buf + 1);
    if (*len > SK_TR_REC_MAX) {
        return RD_BAD;
    }
    n = read_full(r->fd, r->buf + 5, *len);
    if (n < 0) {
        return RD_IO;
    }
    if ((uint32_t)n < *len) {
        r->off += 5 + (uint64_t)n;
        return RD_TRUNCATED;
    }
    r->off += 5 + (uint64_t)*len;
    return RD_OK;
}

static int rd_open(struct rd *r, int fd)
{
    uint8_t magic[SK_TR_MAGIC_LEN];

    memset(r, 0, sizeof(*r));
    r->fd = fd;
    if (lseek(fd, 0, SEEK_SET) != 0) {
        return SK_ERR_SYSTEM;
    }
    if ((r->buf = malloc(SK_TR_REC_MAX + 5)) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (read_full(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic) ||
        (r->format = magic_format(magic)) == 0) {
        return SK_ERR_INVALID;
    }
    r->off = SK_TR_MAGIC_LEN;
    return 0;
}

static void rd_close(struct rd *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Bytes the file holds beyond seal_end, the offset just after the seal:
 * whatever they are (a whole record, a partial one, padding), nothing
 * signed covers them, so a sealed file with any is damaged, not a
 * transcript with an unsigned tail. Returns 0 or -1 (errno). */
static int rd_trailing(int fd, uint64_t seal_end, uint64_t *n)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        return -1;
    }
    *n = (uint64_t)st.st_size > seal_end ? (uint64_t)st.st_size - seal_end
                                         : 0;
    return 0;
}

static int fail(struct sk_tr_info *info, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sk_tr_info *info, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(info->error, sizeof(info->error), fmt, ap);
    va_end(ap);
    return code;
}

void sk_tr_info_clear(struct sk_tr_info *info)
{
    free(info->header_json);
    memset(info, 0, sizeof(*info));
}

static void chain_step(uint8_t chain[32], const uint8_t *rec, size_t len)
{
    crypto_generichash_state h;

    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, chain, 32);
    crypto_generichash_update(&h, rec, len);
    crypto_generichash_final(&h, chain, 32);
}

/* Parses the header far enough for verification. */
static int header_ids(const char *text, size_t len, struct sk_tr_info *info)
{
    json_error_t e;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    const char *sess = NULL, *key = NULL;
    json_int_t fmt = 0;
    int r = SK_ERR_INVALID;

    if (o != NULL &&
        json_unpack(o, "{s:I, s:s, s:s}", "format", &fmt, "session", &sess,
                    "signing_key", &key) == 0 &&
        fmt == info->format && strlen(sess) < sizeof(info->session) &&
        strlen(key) < sizeof(info->signing_key)) {
        snprintf(info->session, sizeof(info->session), "%s", sess);
        snprintf(info->signing_key, sizeof(info->signing_key), "%s", key);
        r = 0;
    }
    json_decref(o);
    return r;
}

/* The whole file as bytes: mapped when it can be (no copy, and the two
 * hashing threads fault their halves in at once), else read (a pipe, a
 * descriptor mmap refuses). */
struct view {
    const uint8_t *p;
    uint64_t n;
    void *map;     /* munmap(map, n) when set */
    uint8_t *heap; /* free when set */
};

static int view_open(int fd, struct view *v)
{
    struct stat st;
    size_t cap = 0;

    memset(v, 0, sizeof(*v));
    if (fstat(fd, &st) != 0) {
        return SK_ERR_SYSTEM;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= SIZE_MAX) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ,
                       MAP_PRIVATE, fd, 0);

        if (m != MAP_FAILED) {
            (void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            v->map = m;
            v->p = m;
            v->n = (uint64_t)st.st_size;
            return 0;
        }
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        return SK_ERR_SYSTEM;
    }
    for (;;) {
        ssize_t r;
        size_t want;

        if (v->n == cap) {
            size_t nc = cap ? cap * 2 : 1 << 20;
            uint8_t *nb = realloc(v->heap, nc);

            if (nb == NULL) {
                return SK_ERR_ALLOC;
            }
            v->heap = nb;
            cap = nc;
        }
        want = cap - (size_t)v->n;
        r = read_full(fd, v->heap + v->n, want);
        if (r < 0) {
            return SK_ERR_SYSTEM;
        }
        v->n += (uint64_t)r;
        if ((size_t)r < want) {
            break; /* short: end of file */
        }
    }
    v->p = v->heap;
    return 0;
}

static void view_close(struct view *v)
{
    if (v->map != NULL) {
        (void)munmap(v->map, (size_t)v->n);
    }
    free(v->heap);
    memset(v, 0, sizeof(*v));
}

/* One framed record of a batch. */
struct vrec {
    uint64_t off; /* of its 5-byte head */
    uint32_t len;
    uint8_t digest[32]; /* format 2: SHA-256(body) */
};

#define BATCH_N 8192
#define BATCH_BYTES (16u << 20)
/* Below this a batch is hashed by the calling thread alone: a thread
 * costs more than it saves on a small file. */
#define PAR_MIN_BYTES (4u << 20)

/* Frames records from *pos: at most BATCH_N of them, or BATCH_BYTES.
 * Returns the count; *st is RD_OK if the batch is merely full, else why
 * framing stopped after the last one (RD_END, RD_TRUNCATED, RD_BAD). */
static size_t frame_batch(const struct view *v, uint64_t pos,
                          struct vrec *recs, int *st)
{
    size_t n = 0;
    uint64_t bytes = 0;

    *st = RD_OK;
    while (n < BATCH_N && bytes < BATCH_BYTES) {
        uint64_t left = v->n - pos;
        uint32_t len;

        if (left == 0) {
            *st = RD_END;
            break;
        }
        if (left < 5) {
            *st = RD_TRUNCATED;
            break;
        }
        len = get32(v->p + pos + 1);
        if (len > SK_TR_REC_MAX) {
            *st = RD_BAD;
            break;
        }
        if (left - 5 < len) {
            *st = RD_TRUNCATED;
            break;
        }
        recs[n].off = pos;
        recs[n].len = len;
        n++;
        pos += 5 + (uint64_t)len;
        bytes += 5 + (uint64_t)len;
    }
    return n;
}

struct hjob {
    const uint8_t *base;
    struct vrec *recs;
    size_t n;
    struct tr2_sha *sha;
    int r;
};

static void hash_job(struct hjob *j)
{
    j->r = 0;
    for (size_t i = 0; i < j->n && j->r == 0; i++) {
        j->r = tr2_sha256(j->sha, j->base + j->recs[i].off + 5,
                          j->recs[i].len, j->recs[i].digest);
    }
}

/*
 * One helper thread for a whole verify, hashing part of every batch. It
 * was a thread per batch: on the benchmark host (a VM) a new thread
 * started 2-5 ms late and often shared the creator's CPU for a while, so
 * a 100 MB verify used 1.1 CPUs of 2. Now whoever waits (the helper for
 * a job, the caller for its end) spins for up to HELPER_SPIN_MS first,
 * which is longer than framing a batch takes, and only then sleeps on the
 * condition variable; every change of state is made under the mutex and
 * broadcast, so a sleeper is never missed.
 */
#define HELPER_SPIN_MS 3
enum { H_IDLE, H_POSTED, H_DONE, H_QUIT };

struct helper {
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int state;
    struct hjob job;
};

static void helper_set(struct helper *h, int state)
{
    pthread_mutex_lock(&h->mu);
    atomic_store_explicit(&h->state, state, memory_order_release);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Waits until the state is a or b; returns it. */
static int helper_wait(struct helper *h, int a, int b)
{
    int64_t until = sk_mono_ms() + HELPER_SPIN_MS;
    int st;

    for (unsigned k = 0;; k++) {
        st = atomic_load_explicit(&h->state, memory_order_acquire);
        if (st == a || st == b) {
            return st;
        }
        if ((k & 63) == 63 && sk_mono_ms() > until) {
            break;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_lock(&h->mu);
    while ((st = atomic_load_explicit(&h->state, memory_order_acquire)) !=
               a &&
           st != b) {
        pthread_cond_wait(&h->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return st;
}

static void *helper_main(void *arg)
{
    struct helper *h = arg;

    while (helper_wait(h, H_POSTED, H_QUIT) == H_POSTED) {
        hash_job(&h->job);
        helper_set(h, H_DONE);
    }
    return NULL;
}

/* Starts the helper; -1 if no thread can be had (a process limit): the
 * caller then hashes alone. */
static int helper_start(struct helper *h, struct tr2_sha *sha)
{
    memset(h, 0, sizeof(*h));
    h->job.sha = sha;
    atomic_init(&h->state, H_IDLE);
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        return -1;
    }
    if (pthread_cond_init(&h->cv, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    if (pthread_create(&h->t, NULL, helper_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    return 0;
}

static void helper_stop(struct helper *h)
{
    helper_set(h, H_QUIT);
    (void)pthread_join(h->t, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* The body digests of a batch; a large batch is split by bytes between
 * this thread and the helper (NULL: none). The chain itself is then
 * folded in order by the caller. */
static int hash_batch(const struct view *v, struct vrec *recs, size_t n,
                      struct tr2_sha *sha, struct helper *h)
{
    struct hjob mine = {v->p, recs, n, sha, 0};
    uint64_t total = 0, half = 0;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        total += recs[i].len;
    }
    if (h != NULL && total >= PAR_MIN_BYTES && n > 1) {
        while (k < n - 1 && half < total / 2) {
            half += recs[k++].len;
        }
        h->job.base = v->p;
        h->job.recs = recs + k;
        h->job.n = n - k;
        h->job.r = 0;
        mine.n = k;
        helper_set(h, H_POSTED);
        hash_job(&mine);
        (void)helper_wait(h, H_DONE, H_DONE);
        return mine.r != 0 ? mine.r : h->job.r;
    }
    hash_job(&mine);
    return mine.r;
}

int sk_tr_verify(int fd, sk_tr_keyfn keyfn, void *arg,
                 struct sk_tr_info *info)
{
    struct view v;
    struct vrec *recs = NULL;
    struct tr2_sha *sha = NULL, *sha2 = NULL;
    struct helper helper, *hp = NULL;
    uint8_t chain[32], pk[32], msg[10 + 72];
    crypto_generichash_state h;
    uint64_t rec_off, pos = SK_TR_MAGIC_LEN;
    uint32_t len;
    size_t n;
    int type, st = RD_OK, ret;

    memset(info, 0, sizeof(*info));
    if ((ret = view_open(fd, &v)) != 0) {
        ret = fail(info, ret, "read: %s", strerror(errno));
        view_close(&v);
        return ret;
    }
    if (v.n < SK_TR_MAGIC_LEN || (info->format = magic_format(v.p)) == 0) {
        view_close(&v);
        return fail(info, SK_ERR_INVALID,
                    "not a Sekisho transcript (bad magic)");
    }
    if ((recs = malloc(BATCH_N * sizeof(*recs))) == NULL) {
        ret = fail(info, SK_ERR_ALLOC, "out of memory");
        pos = 0;
        goto out;
    }
    if (info->format == 2) {
        if ((ret = tr2_sha_new(&sha)) != 0 ||
            (ret = tr2_chain0(sha, chain)) != 0) {
            ret = fail(info, ret, "SHA-256 unavailable");
            pos = 0;
            goto out;
        }
        if (v.n >= PAR_MIN_BYTES && tr2_sha_new(&sha2) == 0 &&
            helper_start(&helper, sha2) == 0) {
            hp = &helper; /* else hash alone */
        }
    } else {
        crypto_generichash_init(&h, NULL, 0, 32);
        crypto_generichash_update(&h, (const uint8_t *)"SKTR1-CHAIN", 11);
        crypto_generichash_update(&h, (const uint8_t *)SK_TR_MAGIC_V1,
                                  SK_TR_MAGIC_LEN);
        crypto_generichash_final(&h, chain, 32);
    }
    for (;;) {
        n = frame_batch(&v, pos, recs, &st);
        if (info->format == 2 &&
            (ret = hash_batch(&v, recs, n, sha, hp)) != 0) {
            ret = fail(info, ret, "SHA-256 failed");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            const uint8_t *rec = v.p + recs[i].off;

            rec_off = recs[i].off;
            if (info->sealed) {
                /* The seal is the last record: even a partial record or
                 * a few bytes after it are additions no signature
                 * covers. */
                pos = v.n;
                ret = fail(info, SK_ERR_INVALID,
                           "%llu bytes after the seal (at offset %llu), "
                           "not covered by any signature",
                           (unsigned long long)(v.n - rec_off),
                           (unsigned long long)rec_off);
                goto out;
            }
            type = rec[0];
            len = recs[i].len;
            pos = rec_off + 5 + len;
            if (info->records == 0) {
                if (type != SK_TR_REC_HEADER) {
                    ret = fail(info, SK_ERR_INVALID, "first record is not "
                                                     "the header");
                    goto out;
                }
                if (header_ids((const char *)rec + 5, len, info) != 0) {
                    ret = fail(info, SK_ERR_INVALID,
                               "header is not a format-%d JSON header",
                               info->format);
                    goto out;
                }
                if ((info->header_json = malloc(len + 1)) == NULL) {
                    ret = SK_ERR_ALLOC;
                    goto out;
                }
                memcpy(info->header_json, rec + 5, len);
                info->header_json[len] = '\0';
                if (keyfn(info->signing_key, pk, arg) != 0) {
                    ret = fail(info, SK_ERR_CRYPTO,
                               "signing key %s is not a trusted key",
                               info->signing_key);
                    goto out;
                }
            } else if (type == SK_TR_REC_CHECKPOINT ||
                       type == SK_TR_REC_SEAL) {
                const uint8_t *b = rec + 5;
                int seal = type == SK_TR_REC_SEAL;

                if (len != SK_TR_CKPT_BODY) {
                    ret = fail(info, SK_ERR_INVALID,
                               "checkpoint at offset %llu has a bad length",
                               (unsigned long long)rec_off);
                    goto out;
                }
                if (info->format == 2) {
                    memcpy(msg, seal ? "SKTR2-SEAL" : "SKTR2-CKPT", 10);
                } else {
                    memcpy(msg, seal ? "SKTR1-SEAL" : "SKTR1-CKPT", 10);
                }
                memcpy(msg + 10, b, 72);
                if (sk_key_verify_raw(pk, msg, sizeof(msg), b + 72) != 0) {
                    ret = fail(info, SK_ERR_CRYPTO,
                               "checkpoint %llu at offset %llu: bad "
                               "signature",
                               (unsigned long long)get64(b),
                               (unsigned long long)rec_off);
                    goto out;
                }
                if (get64(b) != info->checkpoints + 1 ||
                    get64(b + 8) != rec_off ||
                    get64(b + 16) != info->records ||
                    sodium_memcmp(b + 32, chain, 32) != 0) {
                    ret = fail(info, SK_ERR_CRYPTO,
                               "checkpoint %llu at offset %llu does not "
                               "match the records before it (altered, "
                               "removed or reordered data)",
                               (unsigned long long)get64(b),
                               (unsigned long long)rec_off);
                    goto out;
                }
                info->checkpoints++;
                info->duration_us = get64(b + 24);
                memcpy(info->chain, chain, 32);
                info->verified_size = pos;
                if (seal) {
                    info->sealed = 1;
                }
            } else if (type != SK_TR_REC_DATA) {
                ret = fail(info, SK_ERR_INVALID,
                           "unknown record type 0x%02x at offset %llu", type,
                           (unsigned long long)rec_off);
                goto out;
            } else if (info->checkpoints == 0) {
                ret = fail(info, SK_ERR_INVALID,
                           "data before the header's checkpoint");
                goto out;
            }
            if (info->format == 2) {
                if (tr2_chain_step(sha, chain, rec, recs[i].digest) != 0) {
                    ret = fail(info, SK_ERR_CRYPTO, "SHA-256 failed");
                    goto out;
                }
            } else {
                chain_step(chain, rec, 5 + (size_t)len);
            }
            info->records++;
        }
        if (st == RD_OK) {
            continue; /* a full batch: frame the next */
        }
        if (info->sealed && v.n > pos) {
            rec_off = pos;
            pos = v.n;
            ret = fail(info, SK_ERR_INVALID,
                       "%llu bytes after the seal (at offset %llu), "
                       "not covered by any signature",
                       (unsigned long long)(v.n - rec_off),
                       (unsigned long long)rec_off);
            goto out;
        }
        if (st == RD_BAD) {
            ret = fail(info, SK_ERR_INVALID,
                       "record %llu at offset %llu: length %u too large",
                       (unsigned long long)info->records,
                       (unsigned long long)pos, get32(v.p + pos + 1));
            goto out;
        }
        /* RD_END, or RD_TRUNCATED: a crash mid-write leaves a partial
         * record, the unsealed tail, not damage, as long as no seal came
         * before. */
        pos = v.n;
        break;
    }
    info->size = pos;
    if (info->records == 0) {
        ret = fail(info, SK_ERR_INVALID, "no header");
    } else if (info->checkpoints == 0) {
        ret = fail(info, SK_ERR_INVALID, "the header was never signed");
    } else if (info->sealed) {
        ret = 0;
    } else {
        ret = SK_TR_INCOMPLETE;
        snprintf(info->error, sizeof(info->error),
                 "incomplete: not sealed; verified up to checkpoint %llu "
                 "(%llu of %llu bytes)",
                 (unsigned long long)info->checkpoints,
                 (unsigned long long)info->verified_size,
                 (unsigned long long)info->size);
    }
out:
    if (ret < 0 && info->size == 0) {
        info->size = pos;
    }
    if (hp != NULL) {
        helper_stop(hp);
    }
    free(recs);
    tr2_sha_free(sha);
    tr2_sha_free(sha2);
    view_close(&v);
    sodium_memzero(chain, sizeof(chain));
    return ret;
}

static int derr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int derr(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Finds our sealed key in the header and opens the stream: format 1's
 * secretstream into st, format 2's AEAD into *aead. */
static int open_stream(const char *hdr, size_t len, int format,
                       const struct sk_boxkey *k,
                       crypto_secretstream_xchacha20poly1305_state *st,
                       struct tr2_aead **aead, char *err, size_t errlen)
{
    json_error_t e;
    json_t *o = json_loadb(hdr, len, 0, &e), *rc, *one;
    const char *ssh_b64 = NULL, *kid, *sealed_b64, *cname = NULL;
    json_int_t fmt = 0;
    int cipher = 0;
    uint8_t ssh[crypto_secretstream_xchacha20poly1305_HEADERBYTES],
        sealed[crypto_box_SEALBYTES +
               crypto_secretstream_xchacha20poly1305_KEYBYTES],
        key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    char myid[40];
    size_t i, bl;
    int r = derr(err, errlen, SK_ERR_DENIED,
                 "this transcript is not sealed to the given auditor key");

    sk_key_id("x25519", k->pk, 32, myid, sizeof(myid));
    if (o == NULL ||
        json_unpack(o, "{s:I, s:o, s?s, s?s}", "format", &fmt, "recipients",
                    &rc, "stream_header", &ssh_b64, "cipher", &cname) != 0 ||
        fmt != format || !json_is_array(rc) ||
        (format == 1 &&
         (ssh_b64 == NULL ||
          sodium_base642bin(ssh, sizeof(ssh), ssh_b64, strlen(ssh_b64), NULL,
                            &bl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
          bl != sizeof(ssh))) ||
        (format == 2 && (cipher = tr2_cipher_by_name(cname)) == 0)) {
        json_decref(o);
        return derr(err, errlen, SK_ERR_INVALID, "malformed header");
    }
    json_array_foreach(rc, i, one)
    {
        if (json_unpack(one, "{s:s, s:s}", "key", &kid, "sealed_key",
                        &sealed_b64) != 0 ||
            strcmp(kid, myid) != 0) {
            continue;
        }
        if (sodium_base642bin(sealed, sizeof(sealed), sealed_b64,
                              strlen(sealed_b64), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != sizeof(sealed) ||
            crypto_box_seal_open(key, sealed, sizeof(sealed), k->pk, k->sk) !=
                0) {
            r = derr(err, errlen, SK_ERR_CRYPTO,
                     "the sealed stream key for %s does not open", myid);
            break;
        }
        if (format == 2) {
            r = tr2_aead_new(cipher, key, 0, aead) == 0
                    ? 0
                    : derr(err, errlen, SK_ERR_CRYPTO,
                           "cipher %s unavailable", cname);
        } else {
            r = crypto_secretstream_xchacha20poly1305_init_pull(st, ssh,
                                                                key) == 0
                    ? 0
                    : derr(err, errlen, SK_ERR_CRYPTO, "bad stream header");
        }
        break;
    }
    sodium_memzero(key, sizeof(key)); /* also after a failed open */
    json_decref(o);
    return r;
}

int sk_tr_decrypt(int fd, const struct sk_boxkey *k, sk_tr_eventfn fn,
                  void *arg, char **header_json, char *err, size_t errlen)
{
    return sk_tr_decrypt_follow(fd, k, fn, arg, NULL, header_json, err,
                                errlen);
}

int sk_tr_decrypt_follow(int fd, const struct sk_boxkey *k,
                         sk_tr_eventfn fn, void *arg,
                         int (*more)(void *arg), char **header_json,
                         char *err, size_t errlen)
{
    struct rd r;
    crypto_secretstream_xchacha20poly1305_state *st = NULL;
    struct tr2_aead *aead = NULL;
    uint64_t dseq = 0; /* format 2: data records opened */
    uint8_t *plain = NULL, tag = 0;
    unsigned long long plen;
    uint32_t len;
    int type, s, ret, nrec = 0, ended = 0, sealed = 0;

    if (header_json != NULL) {
        *header_json = NULL;
    }
    if ((ret = rd_open(&r, fd)) != 0) {
        rd_close(&r);
        return derr(err, errlen, ret, "not a Sekisho transcript");
    }
    if ((st = sodium_malloc(sizeof(*st))) == NULL ||
        (plain = malloc(SK_TR_REC_MAX)) == NULL) {
        ret = derr(err, errlen, SK_ERR_ALLOC, "out of memory");
        goto out;
    }
    for (;;) {
        uint64_t start = r.off;

        s = rd_record(&r, &type, &len);
        if (sealed && s != RD_IO) {
            uint64_t extra = 0;

            /* As in sk_tr_verify: nothing may follow the seal. */
            if (rd_trailing(fd, start, &extra) != 0) {
                ret = derr(err, errlen, SK_ERR_SYSTEM, "stat: %s",
                           strerror(errno));
                break;
            }
            if (extra > 0 || s != RD_END) {
                ret = derr(err, errlen, SK_ERR_INVALID,
                           "%llu bytes after the seal (at offset %llu), "
                           "not covered by any signature",
                           (unsigned long long)extra,
                           (unsigned long long)start);
                break;
            }
        }
        if ((s == RD_END || s == RD_TRUNCATED) && !ended && more != NULL &&
            more(arg)) {
            /* Following a live file: the record may still be growing. */
            if (lseek(fd, (off_t)start, SEEK_SET) != (off_t)start) {
                ret = derr(err, errlen, SK_ERR_SYSTEM, "seek: %s",
                           strerror(errno));
                break;
            }
            r.off = start;
            continue;
        }
        if (s == RD_END || s == RD_TRUNCATED) {
            ret = ended ? 0 : SK_TR_INCOMPLETE;
            break;
        }
        if (s != RD_OK) {
            ret = derr(err, errlen, SK_ERR_INVALID, "damaged record at offset "
                                                    "%llu",
                       (unsigned long long)r.off);
            break;
        }
        if (nrec++ == 0) {
            if (type != SK_TR_REC_HEADER) {
                ret = derr(err, errlen, SK_ERR_INVALID, "no header");
                break;
            }
            if (header_json != NULL &&
                (*header_json = strndup((const char *)r.buf + 5, len)) ==
                    NULL) {
                ret = derr(err, errlen, SK_ERR_ALLOC, "out of memory");
                break;
            }
            if ((ret = open_stream((const char *)r.buf + 5, len, r.format, k,
                                   st, &aead, err, errlen)) != 0) {
                break;
            }
            continue;
        }
        if (type != SK_TR_REC_DATA) {
            /* Checkpoints are sk_tr_verify's business; the seal after
             * the final data record is the end of the file. */
            sealed |= ended && type == SK_TR_REC_SEAL;
            continue;
        }
        if (ended) {
            ret = derr(err, errlen, SK_ERR_INVALID, "data after the end of "
                                                    "the stream");
            break;
        }
        if (r.format == 2) {
            /* The record's place is its nonce: it opens only as data
             * record number dseq, as the last one (final flag in the
             * AAD, the stream's end) or as any other. */
            if (len < TR2_TAGBYTES) {
                s = SK_ERR_CRYPTO;
            } else if ((s = tr2_open(aead, dseq, 0, r.buf + 5, len,
                                     plain)) != 0 &&
                       (s = tr2_open(aead, dseq, 1, r.buf + 5, len,
                                     plain)) == 0) {
                ended = 1;
            }
            dseq++;
            plen = len >= TR2_TAGBYTES ? len - TR2_TAGBYTES : 0;
        } else if (len < crypto_secretstream_xchacha20poly1305_ABYTES ||
                   crypto_secretstream_xchacha20poly1305_pull(
                       st, plain, &plen, &tag, r.buf + 5, len, NULL, 0) !=
                       0) {
            s = SK_ERR_CRYPTO;
        } else {
            s = 0;
            ended = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        }
        if (s != 0) {
            ret = derr(err, errlen, SK_ERR_CRYPTO,
                       "data record at offset %llu does not decrypt "
                       "(altered or out of order)",
                       (unsigned long long)(r.off - 5 - len));
            break;
        }
        for (size_t p = 0; p < plen;) {
            struct sk_tr_event ev;

            if (plen - p < SK_TR_EV_HDR ||
                get32(plain + p + 9) > plen - p - SK_TR_EV_HDR) {
                ret = derr(err, errlen, SK_ERR_INVALID, "malformed event");
                goto out;
            }
            ev.type = plain[p];
            ev.t_us = get64(plain + p + 1);
            ev.len = get32(plain + p + 9);
            ev.data = plain + p + SK_TR_EV_HDR;
            p += SK_TR_EV_HDR + ev.len;
            if ((ret = fn(&ev, arg)) != 0) {
                goto out;
            }
        }
    }
out:
    if (plain != NULL) {
        sodium_memzero(plain, SK_TR_REC_MAX);
    }
    free(plain);
    if (st != NULL) {
        sodium_free(st);
    }
    tr2_aead_free(aead);
    rd_close(&r);
    if (ret < 0 && header_json != NULL) {
        free(*header_json);
        *header_json = NULL;
    }
    return ret;
}

size_t sk_utf8_complete_prefix(const uint8_t *p, size_t n)
{
    /* Look back at most 3 bytes for a lead byte whose sequence runs past
     * the end. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = p[n - back];
        size_t need;

        if ((c & 0xc0) == 0x80) {
            continue; /* continuation: keep looking for the lead */
        }
        need = (c & 0xe0) == 0xc0   ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 1;
        return need > back ? n - back : n;
    }
    return n;
}
