/* Transcript format: byte-for-byte vectors, round trip, tamper detection,
 * truncation, exports, for every format version and cipher. Randomness
 * is made deterministic (libsodium's pluggable RNG; format 2's file key
 * comes from it too) so the writer's output is fixed and can be compared
 * with the committed vectors tests/unit/vectors/transcript-v*.skt. Set
 * SK_WRITE_VECTORS=1 to rewrite the current format's vectors after a
 * deliberate format change (and bump the format version and FORMAT.md's
 * changelog); the format-1 vector is frozen: old files must still read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "recorder/transcript.h"
#include "sk-err.h"
#include "util.h"

#ifndef VECTOR_DIR
#error VECTOR_DIR must be defined
#endif

static uint8_t rng_seed[randombytes_SEEDBYTES];
static uint64_t rng_ctr;

static const char *rng_name(void)
{
    return "test-deterministic";
}

static void rng_buf(void *buf, size_t n)
{
    memcpy(rng_seed, &rng_ctr, sizeof(rng_ctr));
    rng_ctr++;
    randombytes_buf_deterministic(buf, n, rng_seed);
}

static uint32_t rng_random(void)
{
    uint32_t v;

    rng_buf(&v, sizeof(v));
    return v;
}

static struct randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

static char tmpdir[512];
static struct sk_key *signer;
static struct sk_boxkey *auditor, *other;
static uint8_t signer_pk[32];

static void tmp_path(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/%s", tmpdir, name);
}

/* Key files from fixed seeds, through the real loaders. */
static void make_keys(void)
{
    uint8_t seed[32], pk[32], sk[64], bsk[32];
    char b64[128], text[256], path[600];

    memset(seed, 7, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2base64(b64, sizeof(b64), sk, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "sekisho-ed25519-secret-v1\n%s\n", b64);
    tmp_path(path, sizeof(path), "sign.key");
    unlink(path);
    assert_int_equal(sk_file_write_new(path, text, strlen(text), 0600), 0);
    assert_int_equal(sk_key_load(path, &signer), 0);
    sk_key_pub_raw(signer, signer_pk);
    assert_memory_equal(signer_pk, pk, 32);

    memset(bsk, 9, sizeof(bsk));
    sodium_bin2base64(b64, sizeof(b64), bsk, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "sekisho-x25519-secret-v1\n%s\n", b64);
    tmp_path(path, sizeof(path), "auditor.key");
    unlink(path);
    assert_int_equal(sk_file_write_new(path, text, strlen(text), 0600), 0);
    assert_int_equal(sk_boxkey_load_secret(path, NULL, &auditor), 0);

    memset(bsk, 10, sizeof(bsk));
    sodium_bin2base64(b64, sizeof(b64), bsk, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "sekisho-x25519-secret-v1\n%s\n", b64);
    tmp_path(path, sizeof(path), "other.key");
    unlink(path);
    assert_int_equal(sk_file_write_new(path, text, strlen(text), 0600), 0);
    assert_int_equal(sk_boxkey_load_secret(path, NULL, &other), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp");
    make_keys();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sk_key_free(signer);
    sk_boxkey_free(auditor);
    sk_boxkey_free(other);
    return 0;
}

static int trusted(const char *id, uint8_t pk[32], void *arg)
{
    char want[40];

    (void)arg;
    sk_key_id("ed25519", signer_pk, 32, want, sizeof(want));
    if (strcmp(id, want) != 0) {
        return -1;
    }
    memcpy(pk, signer_pk, 32);
    return 0;
}

static const struct sk_tr_meta meta = {
    .session = "20261122T000000Z-00000001",
    .user = "alice",
    .source = "192.0.2.7",
    .target = "web01",
    .login = "ops",
    .mode = "shell",
    .term = "xterm-256color",
    .gateway = "gw-test",
    .clock_sync = "synchronized",
    .cols = 80,
    .rows = 24,
    .start_us = 1795305600000000LL,
};

/* The committed vectors: one per format and cipher, all written from
 * the same events by write_reference. */
static const struct vec {
    const char *file;
    struct sk_tr_wopts opts;
} vecs[] = {
    {"transcript-v1.skt", {1, 0}},
    {"transcript-v2.skt", {2, SK_TR_CIPHER_AES256GCM}},
    {"transcript-v2-chacha.skt", {2, SK_TR_CIPHER_CHACHA20POLY1305}},
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

static const char *vec_path(size_t i)
{
    static char path[NVECS][600];

    snprintf(path[i], sizeof(path[i]), "%s/%s", VECTOR_DIR, vecs[i].file);
    return path[i];
}

static void write_reference_opts(const char *path, int seal,
                                 const struct sk_tr_wopts *opts);

/* The tamper tests run on the committed vectors (old files must stay
 * checkable) and on files this build writes with the same options (so a
 * defence removed from writer and reader alike still shows): source j
 * of vector v, j < 2. */
static const char *src_path(size_t v, int j)
{
    static char path[600];

    if (j == 0) {
        return vec_path(v);
    }
    snprintf(path, sizeof(path), "%s/fresh-%s", tmpdir, vecs[v].file);
    write_reference_opts(path, 1, &vecs[v].opts);
    return path;
}

/* Writes the reference transcript (default format) into path. seal: end
 * it properly. */
static void write_reference(const char *path, int seal)
{
    write_reference_opts(path, seal, NULL);
}

static void write_reference_opts(const char *path, int seal,
                                 const struct sk_tr_wopts *opts)
{
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    uint8_t resize[8] = {0, 0, 0, 100, 0, 0, 0, 30}, chain[32];
    uint64_t size;
    int fd;

    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    rng_ctr = 0;
    assert_int_equal(
        sk_tr_writer_open_opts(fd, &meta, signer, rc, 1, opts, &w), 0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 1000, "$ ", 2), 0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_INPUT, 500000, "ls\r", 3), 0);
    /* "é" split over two events: exports must join it. */
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 600000, "caf\xc3", 4),
                     0);
    assert_int_equal(sk_tr_checkpoint(w, 700000, 1), 0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 800000, "\xa9\r\n", 3),
                     0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_RESIZE, 900000, resize, 8), 0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_MARKER, 950000,
                                 "{\"kind\":\"blocked\"}", 18),
                     0);
    if (seal) {
        assert_int_equal(sk_tr_event(w, SK_TR_EV_END, 1000000, "closed", 6),
                         0);
        assert_int_equal(sk_tr_close(w, 1000000, chain, &size), 0);
    } else {
        assert_int_equal(sk_tr_checkpoint(w, 960000, 1), 0);
    }
    sk_tr_writer_free(w);
    close(fd);
}

static int verify_path(const char *path, struct sk_tr_info *info)
{
    int fd = open(path, O_RDONLY), r;

    assert_true(fd >= 0);
    r = sk_tr_verify(fd, trusted, NULL, info);
    close(fd);
    return r;
}

static void read_file(const char *path, char **buf, size_t *len)
{
    assert_int_equal(sk_file_read(path, 1 << 20, buf, len), 0);
}

static void test_vector(void **state)
{
    char path[600], *got, *want;
    size_t gl, wl;

    (void)state;
    for (size_t i = 0; i < NVECS; i++) {
        tmp_path(path, sizeof(path), "ref.skt");
        write_reference_opts(path, 1, &vecs[i].opts);
        read_file(path, &got, &gl);
        if (getenv("SK_WRITE_VECTORS") != NULL &&
            vecs[i].opts.format == SK_TR_FORMAT) {
            unlink(vec_path(i));
            assert_int_equal(sk_file_write_new(vec_path(i), got, gl, 0644),
                             0);
        }
        read_file(vec_path(i), &want, &wl);
        assert_int_equal(gl, wl);
        assert_memory_equal(got, want, gl);
        free(got);
        free(want);
    }
}

static void test_verify_sealed(void **state)
{
    struct sk_tr_info info;

    (void)state;
    /* The committed vectors, not just what this build writes. */
    for (size_t i = 0; i < NVECS; i++) {
        assert_int_equal(verify_path(vec_path(i), &info), 0);
        assert_true(info.sealed);
        assert_int_equal(info.format, vecs[i].opts.format);
        assert_int_equal(info.checkpoints, 3); /* header, explicit, seal */
        assert_string_equal(info.session, meta.session);
        assert_int_equal(info.verified_size, info.size);
        assert_int_equal(info.duration_us, 1000000);
        assert_non_null(strstr(info.header_json, "\"user\":\"alice\""));
        sk_tr_info_clear(&info);
    }
}

struct collect {
    char out[256];
    char in[64];
    int resizes, markers, ends;
};

static int on_ev(const struct sk_tr_event *ev, void *arg)
{
    struct collect *c = arg;

    if (ev->type == SK_TR_EV_OUTPUT) {
        strncat(c->out, (const char *)ev->data, ev->len);
    } else if (ev->type == SK_TR_EV_INPUT) {
        strncat(c->in, (const char *)ev->data, ev->len);
    } else if (ev->type == SK_TR_EV_RESIZE) {
        c->resizes++;
    } else if (ev->type == SK_TR_EV_MARKER) {
        c->markers++;
    } else if (ev->type == SK_TR_EV_END) {
        c->ends++;
    }
    return 0;
}

/* Decrypts path with the auditor key into a cleared c; err as the
 * reader wrote it. Returns sk_tr_decrypt's result. */
static int decrypt_path(const char *path, struct collect *c, char *err,
                        size_t errlen)
{
    int fd = open(path, O_RDONLY), r;

    assert_true(fd >= 0);
    memset(c, 0, sizeof(*c));
    r = sk_tr_decrypt(fd, auditor, on_ev, c, NULL, err, errlen);
    close(fd);
    return r;
}

/* Decrypts fd with k into a fresh c; returns what sk_tr_decrypt did. */
static int collect_events(int fd, const struct sk_boxkey *k,
                          struct collect *c)
{
    char err[256];

    memset(c, 0, sizeof(*c));
    return sk_tr_decrypt(fd, k, on_ev, c, NULL, err, sizeof(err));
}

/* Adds up the output bytes (arg: a uint64_t). */
static int on_count(const struct sk_tr_event *ev, void *arg)
{
    if (ev->type == SK_TR_EV_OUTPUT) {
        *(uint64_t *)arg += ev->len;
    }
    return 0;
}

static void decrypt_one(const char *vp)
{
    struct collect c;
    char err[256], *hdr = NULL;
    int fd = open(vp, O_RDONLY);

    assert_true(fd >= 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(sk_tr_decrypt(fd, auditor, on_ev, &c, &hdr, err,
                                   sizeof(err)),
                     0);
    assert_string_equal(c.out, "$ caf\xc3\xa9\r\n");
    assert_string_equal(c.in, "ls\r");
    assert_int_equal(c.resizes, 1);
    assert_int_equal(c.markers, 1);
    assert_int_equal(c.ends, 1);
    assert_non_null(strstr(hdr, "\"recipients\""));
    free(hdr);
    /* A key the stream was not sealed to opens nothing. */
    assert_int_equal(collect_events(fd, other, &c), SK_ERR_DENIED);
    assert_string_equal(c.out, "");
    close(fd);
}

static void test_decrypt(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECS; i++) {
        decrypt_one(vec_path(i));
    }
}

/* Every single-byte change anywhere in the file is caught. */
static void test_every_flip_detected(void **state)
{
    char path[600], *orig;
    size_t len;
    struct sk_tr_info info;

    (void)state;
    for (size_t v = 0; v < 2 * NVECS; v++) {
        read_file(src_path(v / 2, v % 2), &orig, &len);
        tmp_path(path, sizeof(path), "flip.skt");
        for (size_t i = 0; i < len; i++) {
            orig[i] ^= 0x01;
            unlink(path);
            assert_int_equal(sk_file_write_new(path, orig, len, 0600), 0);
            orig[i] ^= 0x01;
            if (verify_path(path, &info) == 0) {
                fail_msg("%s (%s): flipping byte %zu went unnoticed",
                         vecs[v / 2].file, v % 2 ? "fresh" : "committed", i);
            }
            sk_tr_info_clear(&info);
        }
        free(orig);
    }
}

/* Cut anywhere: intact up to the last checkpoint, reported incomplete. */
static void test_truncation(void **state)
{
    char path[600], *orig;
    size_t len;
    struct sk_tr_info info;
    int r;

    (void)state;
    for (size_t v = 0; v < NVECS; v++) {
        read_file(vec_path(v), &orig, &len);
        tmp_path(path, sizeof(path), "cut.skt");
        for (size_t cut = len - 1; cut > 0; cut--) {
            unlink(path);
            assert_int_equal(sk_file_write_new(path, orig, cut, 0600), 0);
            r = verify_path(path, &info);
            assert_true(r != 0);
            if (r == SK_TR_INCOMPLETE) {
                assert_true(info.verified_size <= cut);
                assert_false(info.sealed);
                assert_non_null(strstr(info.error, "incomplete"));
            }
            sk_tr_info_clear(&info);
        }
        free(orig);
    }
}

/* Anything after the seal (a whole record, a record head without its
 * body, one byte, zeros) is damage, named, for the verifier and the
 * decrypting reader alike: no signature covers it. */
static void trailing_one(const char *vp)
{
    static const struct {
        const char *bytes;
        size_t len;
    } tails[] = {
        {"D\0\0\0\377", 5},             /* a head promising 255 bytes */
        {"D\0\0\0\0", 5},               /* a whole empty data record */
        {"F", 1},                        /* a lone type byte */
        {"\0\0\0\0\0\0\0\0\0\0\0\0", 12}, /* padding */
    };
    char path[600], *orig, *buf, err[256];
    size_t len;
    struct sk_tr_info info;
    struct collect c;

    read_file(vp, &orig, &len);
    tmp_path(path, sizeof(path), "tail.skt");
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        buf = malloc(len + tails[i].len);
        assert_non_null(buf);
        memcpy(buf, orig, len);
        memcpy(buf + len, tails[i].bytes, tails[i].len);
        unlink(path);
        assert_int_equal(sk_file_write_new(path, buf, len + tails[i].len,
                                           0600),
                         0);
        free(buf);
        assert_int_equal(verify_path(path, &info), SK_ERR_INVALID);
        snprintf(err, sizeof(err), "%zu bytes after the seal", tails[i].len);
        assert_non_null(strstr(info.error, err));
        assert_int_equal(info.size, len + tails[i].len);
        sk_tr_info_clear(&info);
        assert_int_equal(decrypt_path(path, &c, err, sizeof(err)),
                         SK_ERR_INVALID);
        assert_non_null(strstr(err, "bytes after the seal"));
    }
    free(orig);
}

static void test_trailing_after_seal(void **state)
{
    (void)state;
    for (size_t v = 0; v < NVECS; v++) {
        trailing_one(vec_path(v));
    }
}

/* An unsealed file (a crash) verifies to its last checkpoint. */
static void test_unsealed(void **state)
{
    char path[600];
    struct sk_tr_info info;
    struct collect c;
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "open.skt");
    write_reference(path, 0);
    assert_int_equal(verify_path(path, &info), SK_TR_INCOMPLETE);
    assert_int_equal(info.checkpoints, 3);
    assert_int_equal(info.verified_size, info.size);
    sk_tr_info_clear(&info);
    fd = open(path, O_RDONLY);
    assert_int_equal(collect_events(fd, auditor, &c), SK_TR_INCOMPLETE);
    assert_int_equal(c.markers, 1);
    close(fd);
}

/* sk_tr_flush writes buffered events out at once, unsigned: a live
 * reader sees them; verify still reports the file incomplete (nothing
 * after the last checkpoint is signed) and never broken. */
static void test_flush_for_live_readers(void **state)
{
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    struct sk_tr_info info;
    struct collect c;
    char path[600];
    struct stat st0, st1;
    int fd, rfd;

    (void)state;
    tmp_path(path, sizeof(path), "live.skt");
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(sk_tr_writer_open(fd, &meta, signer, rc, 1, &w), 0);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 1000, "live-1 ", 7), 0);
    assert_int_equal(sk_tr_buffered(w), SK_TR_EV_HDR + 7);
    assert_int_equal(fstat(fd, &st0), 0);
    /* Buffered only: a reader sees nothing yet. */
    rfd = open(path, O_RDONLY);
    assert_true(rfd >= 0);
    assert_int_equal(collect_events(rfd, auditor, &c), SK_TR_INCOMPLETE);
    assert_string_equal(c.out, "");
    assert_int_equal(sk_tr_flush(w), 0);
    assert_int_equal(sk_tr_buffered(w), 0);
    assert_int_equal(sk_tr_flush(w), 0); /* nothing buffered: no-op */
    assert_int_equal(fstat(fd, &st1), 0);
    assert_true(st1.st_size > st0.st_size);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 2000, "live-2", 6), 0);
    assert_int_equal(sk_tr_flush(w), 0);
    assert_int_equal(collect_events(rfd, auditor, &c), SK_TR_INCOMPLETE);
    assert_string_equal(c.out, "live-1 live-2");
    close(rfd);
    assert_int_equal(verify_path(path, &info), SK_TR_INCOMPLETE);
    assert_false(info.sealed);
    sk_tr_info_clear(&info);
    sk_tr_writer_free(w);
    close(fd);
}

/* The record offsets of buf (starts[0] is the header's); returns the
 * count, asserting the framing covers the file exactly. */
static int split_records(const char *buf, size_t len, size_t *starts,
                         int max)
{
    size_t off = SK_TR_MAGIC_LEN;
    int n = 0;

    while (off + 5 <= len && n < max) {
        uint32_t l = (uint32_t)(uint8_t)buf[off + 1] << 24 |
                     (uint32_t)(uint8_t)buf[off + 2] << 16 |
                     (uint32_t)(uint8_t)buf[off + 3] << 8 |
                     (uint8_t)buf[off + 4];

        starts[n++] = off;
        off += 5 + l;
    }
    assert_int_equal(off, len);
    starts[n] = len;
    return n;
}

/* Writes vector vp into path with its two data records swapped: each
 * record intact (its tag good for its own place), only their order
 * wrong. */
static void write_swapped(const char *vp, const char *path)
{
    char *buf, *out;
    size_t len, starts[33], o = 0, l2, l4;

    read_file(vp, &buf, &len);
    /* Records: H C D C D F. Swap the two data records (4 and 2 are D). */
    assert_int_equal(split_records(buf, len, starts, 32), 6);
    assert_int_equal(buf[starts[2]], 'D');
    assert_int_equal(buf[starts[4]], 'D');
    l2 = starts[3] - starts[2];
    l4 = starts[5] - starts[4];
    out = malloc(len);
    assert_non_null(out);
    memcpy(out, buf, starts[2]);
    o = starts[2];
    memcpy(out + o, buf + starts[4], l4);
    o += l4;
    memcpy(out + o, buf + starts[3], starts[4] - starts[3]);
    o += starts[4] - starts[3];
    memcpy(out + o, buf + starts[2], l2);
    o += l2;
    memcpy(out + o, buf + starts[5], len - starts[5]);
    unlink(path);
    assert_int_equal(sk_file_write_new(path, out, len, 0600), 0);
    free(out);
    free(buf);
}

/* Swapping two whole records breaks the chain (verify) and, since a
 * record opens only in its own place, the decryption too. */
static void test_reorder(void **state)
{
    char path[600], err[256];
    struct sk_tr_info info;
    struct collect c;

    (void)state;
    tmp_path(path, sizeof(path), "swap.skt");
    for (size_t v = 0; v < 2 * NVECS; v++) {
        write_swapped(src_path(v / 2, v % 2), path);
        assert_true(verify_path(path, &info) < 0);
        assert_non_null(strstr(info.error, "checkpoint"));
        sk_tr_info_clear(&info);
        assert_int_equal(decrypt_path(path, &c, err, sizeof(err)),
                         SK_ERR_CRYPTO);
        assert_non_null(strstr(err, "out of order"));
        /* Nothing of the moved record was passed on. */
        assert_null(strstr(c.out, "\xa9\r\n"));
    }
}

static int trust_none(const char *id, uint8_t pk[32], void *arg)
{
    (void)id;
    (void)pk;
    (void)arg;
    return -1;
}

static void test_untrusted_signer_refused(void **state)
{
    struct sk_tr_info info;

    (void)state;
    for (size_t v = 0; v < NVECS; v++) {
        int fd = open(vec_path(v), O_RDONLY);

        assert_int_equal(sk_tr_verify(fd, trust_none, NULL, &info),
                         SK_ERR_CRYPTO);
        assert_non_null(strstr(info.error, "not a trusted key"));
        sk_tr_info_clear(&info);
        close(fd);
    }
}

static void asciicast_one(const char *vp)
{
    char err[128], *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int fd = open(vp, O_RDONLY);

    assert_int_equal(sk_tr_export_asciicast(fd, auditor, f, 0, err,
                                            sizeof(err)),
                     0);
    fclose(f);
    assert_non_null(strstr(text, "{\"version\":2,\"width\":80,\"height\":24"));
    assert_non_null(strstr(text, "\"TERM\":\"xterm-256color\""));
    assert_non_null(strstr(text, "[0.001,\"o\",\"$ \"]"));
    assert_non_null(strstr(text, "[0.5,\"i\",\"ls\\r\"]"));
    /* The split é is whole, in the event that completed it. */
    assert_non_null(strstr(text, "[0.6,\"o\",\"caf\"]"));
    assert_non_null(strstr(text, "[0.8,\"o\",\"\xc3\xa9\\r\\n\"]"));
    assert_non_null(strstr(text, "[0.9,\"r\",\"100x30\"]"));
    assert_null(strstr(text, "\xef\xbf\xbd")); /* no replacement chars */
    free(text);
    close(fd);
}

static void test_asciicast(void **state)
{
    (void)state;
    for (size_t v = 0; v < NVECS; v++) {
        asciicast_one(vec_path(v));
    }
}

static void test_text_export(void **state)
{
    (void)state;
    for (size_t v = 0; v < NVECS; v++) {
        char err[128], *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int fd = open(vec_path(v), O_RDONLY);

        assert_int_equal(sk_tr_export_text(fd, auditor, f, err, sizeof(err)),
                         0);
        fclose(f);
        assert_non_null(strstr(text, "$ caf\xc3\xa9\r\n"));
        assert_non_null(strstr(text, "resize 100x30"));
        assert_non_null(strstr(text, "end: closed"));
        free(text);
        close(fd);
    }
}

/* Format 2 by default; options that name no format or cipher refused. */
static void test_v2_default_and_options(void **state)
{
    static const struct sk_tr_wopts bad[] = {
        {1, SK_TR_CIPHER_AES256GCM}, /* format 1 has its own cipher */
        {3, 0},
        {2, 99},
    };
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    struct sk_tr_info info;
    char path[600], want[64];
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "default.skt");
    write_reference(path, 1);
    assert_int_equal(verify_path(path, &info), 0);
    assert_int_equal(info.format, 2);
    assert_non_null(strstr(info.header_json, "\"format\":2,"));
    assert_null(strstr(info.header_json, "stream_header"));
    /* The cipher this CPU does in hardware. */
    snprintf(want, sizeof(want), "\"cipher\":\"%s\"",
             sodium_runtime_has_aesni() && sodium_runtime_has_pclmul()
                 ? "aes256gcm"
                 : "chacha20poly1305");
    assert_non_null(strstr(info.header_json, want));
    sk_tr_info_clear(&info);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unlink(path);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(
            sk_tr_writer_open_opts(fd, &meta, signer, rc, 1, &bad[i], &w),
            SK_ERR_INVALID);
        assert_null(w);
        close(fd);
    }
}

/* Writes len bytes of buf to path (a fresh file). */
static void put_file(const char *path, const char *buf, size_t len)
{
    unlink(path);
    assert_int_equal(sk_file_write_new(path, buf, len, 0600), 0);
}

/* One ciphertext byte changed: verify names the checkpoint that covers
 * the record, decryption the record itself, and passes on nothing of
 * it. */
static void test_v2_ciphertext_flip(void **state)
{
    char path[600], *buf, err[256], want[64];
    size_t len, starts[33];
    struct sk_tr_info info;
    struct collect c;

    (void)state;
    tmp_path(path, sizeof(path), "v2flip.skt");
    for (size_t v = 1; v < NVECS; v++) {
        read_file(vec_path(v), &buf, &len);
        assert_int_equal(split_records(buf, len, starts, 32), 6);
        buf[starts[2] + 5 + 3] ^= 0x20; /* "$ " event's t_us */
        put_file(path, buf, len);
        assert_int_equal(verify_path(path, &info), SK_ERR_CRYPTO);
        snprintf(want, sizeof(want), "checkpoint 2 at offset %zu",
                 starts[3]);
        assert_non_null(strstr(info.error, want));
        sk_tr_info_clear(&info);
        assert_int_equal(decrypt_path(path, &c, err, sizeof(err)),
                         SK_ERR_CRYPTO);
        snprintf(want, sizeof(want), "data record at offset %zu does not",
                 starts[2]);
        assert_non_null(strstr(err, want));
        assert_string_equal(c.out, "");
        free(buf);
    }
}

/* The last data record dropped, the seal kept: verify says damaged (the
 * seal's chain), and decryption, which checks no signature, still knows
 * the stream did not end (the final flag is only in that record's AAD).
 * Cut after a checkpoint: both say incomplete. */
static void test_v2_truncated(void **state)
{
    char path[600], *buf, *out, err[256];
    size_t len, starts[33];
    struct sk_tr_info info;
    struct collect c;
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "v2drop.skt");
    for (size_t v = 1; v < NVECS; v++) {
        read_file(vec_path(v), &buf, &len);
        assert_int_equal(split_records(buf, len, starts, 32), 6);
        out = malloc(len);
        assert_non_null(out);
        memcpy(out, buf, starts[4]);
        memcpy(out + starts[4], buf + starts[5], len - starts[5]);
        put_file(path, out, starts[4] + len - starts[5]);
        free(out);
        assert_true(verify_path(path, &info) < 0);
        assert_non_null(strstr(info.error, "does not match the records"));
        sk_tr_info_clear(&info);
        assert_int_equal(decrypt_path(path, &c, err, sizeof(err)),
                         SK_TR_INCOMPLETE);
        assert_string_equal(c.out, "$ caf\xc3");
        assert_int_equal(c.ends, 0);

        put_file(path, buf, starts[4]); /* up to the second checkpoint */
        assert_int_equal(verify_path(path, &info), SK_TR_INCOMPLETE);
        assert_int_equal(info.checkpoints, 2);
        assert_int_equal(info.verified_size, starts[4]);
        sk_tr_info_clear(&info);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(collect_events(fd, auditor, &c), SK_TR_INCOMPLETE);
        assert_string_equal(c.out, "$ caf\xc3");
        close(fd);
        free(buf);
    }
}

/* The magic and the header's "format" must agree: a file of one version
 * given the other's magic is refused at its header, by verify and
 * decrypt alike, before any primitive of the wrong version is tried. */
static void test_magic_and_header_agree(void **state)
{
    char path[600], *buf, err[256], want[64];
    size_t len;
    struct sk_tr_info info;
    struct collect c;

    (void)state;
    tmp_path(path, sizeof(path), "swapmagic.skt");
    for (size_t v = 0; v < 2; v++) {
        read_file(vec_path(v), &buf, &len);
        buf[4] = v == 0 ? '2' : '1'; /* "SKTR1" <-> "SKTR2" */
        put_file(path, buf, len);
        free(buf);
        assert_int_equal(verify_path(path, &info), SK_ERR_INVALID);
        snprintf(want, sizeof(want), "header is not a format-%d JSON",
                 v == 0 ? 2 : 1);
        assert_non_null(strstr(info.error, want));
        assert_int_equal(info.format, v == 0 ? 2 : 1);
        sk_tr_info_clear(&info);
        assert_int_equal(decrypt_path(path, &c, err, sizeof(err)),
                         SK_ERR_INVALID);
        assert_non_null(strstr(err, "malformed header"));
    }
}

/* A file large enough for the two-thread verify: intact, it verifies
 * and decrypts whole; a byte changed early (this thread's half) or late
 * (the helper's) is caught. */
static void test_v2_large_parallel(void **state)
{
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    struct sk_tr_info info;
    char path[600], *buf;
    uint8_t chunk[16384];
    uint64_t t = 0, size = 0, got;
    size_t len;
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "large.skt");
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(sk_tr_writer_open(fd, &meta, signer, rc, 1, &w), 0);
    for (int i = 0; i < 1024; i++) { /* 16 MiB */
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, t += 10, chunk,
                                     sizeof(chunk)),
                         0);
        if (sk_tr_unsigned_bytes(w) >= 4u << 20) {
            assert_int_equal(sk_tr_checkpoint(w, t, 0), 0);
        }
    }
    assert_int_equal(sk_tr_close(w, t, NULL, &size), 0);
    sk_tr_writer_free(w);
    close(fd);
    assert_true(size > 16u << 20);
    assert_int_equal(verify_path(path, &info), 0);
    assert_int_equal(info.size, size);
    assert_true(info.checkpoints > 5); /* header, volume ones, seal */
    sk_tr_info_clear(&info);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    got = 0;
    {
        char err[256];

        assert_int_equal(sk_tr_decrypt(fd, auditor, on_count, &got, NULL,
                                       err, sizeof(err)),
                         0);
    }
    assert_int_equal(got, 1024 * sizeof(chunk));
    close(fd);
    assert_int_equal(sk_file_read(path, 64u << 20, &buf, &len), 0);
    for (int k = 1; k <= 3; k += 2) { /* a quarter in, three quarters */
        size_t at = len / 4 * (size_t)k;
        char *cp = malloc(len);

        assert_non_null(cp);
        memcpy(cp, buf, len);
        cp[at] ^= 0x01;
        tmp_path(path, sizeof(path), "large-flip.skt");
        put_file(path, cp, len);
        free(cp);
        assert_true(verify_path(path, &info) < 0);
        sk_tr_info_clear(&info);
    }
    free(buf);
}

static void test_utf8_prefix(void **state)
{
    (void)state;
    assert_int_equal(sk_utf8_complete_prefix((const uint8_t *)"abc", 3), 3);
    assert_int_equal(sk_utf8_complete_prefix((const uint8_t *)"ab\xc3", 3),
                     2);
    assert_int_equal(
        sk_utf8_complete_prefix((const uint8_t *)"a\xe3\x81", 3), 1);
    assert_int_equal(
        sk_utf8_complete_prefix((const uint8_t *)"\xe3\x81\x82", 3), 3);
    assert_int_equal(
        sk_utf8_complete_prefix((const uint8_t *)"\xf0\x9f\x98", 3), 0);
    /* Stray continuation bytes are not carried (they can never become
     * valid); the repair replaces them. */
    assert_int_equal(
        sk_utf8_complete_prefix((const uint8_t *)"a\x80\x80\x80", 4), 4);
}

static void test_bad_events_refused(void **state)
{
    char path[600];
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "bad.skt");
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_int_equal(sk_tr_writer_open(fd, &meta, signer, rc, 0, &w),
                     SK_ERR_INVALID); /* no auditor: nobody could read it */
    assert_int_equal(sk_tr_writer_open(fd, &meta, signer, rc, 1, &w), 0);
    assert_int_equal(sk_tr_event(w, 0, 0, "", 0), SK_ERR_INVALID);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_MAX + 1, 0, "", 0),
                     SK_ERR_INVALID);
    assert_int_equal(sk_tr_event(w, SK_TR_EV_OUTPUT, 0, path,
                                 SK_TR_EV_DATA_MAX + 1),
                     SK_ERR_INVALID);
    sk_tr_writer_free(w);
    close(fd);
}

/* A write error (here: a read-only descriptor) fails the writer for
 * good, so the recorder can end the session. */
static void test_write_error(void **state)
{
    char path[600];
    struct sk_tr_writer *w = NULL;
    const uint8_t(*rc)[32] = (const uint8_t(*)[32])auditor->pk;
    int fd;

    (void)state;
    tmp_path(path, sizeof(path), "ro.skt");
    unlink(path);
    close(open(path, O_RDWR | O_CREAT | O_EXCL, 0600));
    fd = open(path, O_RDONLY);
    assert_int_equal(sk_tr_writer_open(fd, &meta, signer, rc, 1, &w),
                     SK_ERR_SYSTEM);
    assert_null(w);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_verify_sealed),
        cmocka_unit_test(test_decrypt),
        cmocka_unit_test(test_every_flip_detected),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_trailing_after_seal),
        cmocka_unit_test(test_unsealed),
        cmocka_unit_test(test_flush_for_live_readers),
        cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_untrusted_signer_refused),
        cmocka_unit_test(test_asciicast),
        cmocka_unit_test(test_text_export),
        cmocka_unit_test(test_utf8_prefix),
        cmocka_unit_test(test_bad_events_refused),
        cmocka_unit_test(test_write_error),
        cmocka_unit_test(test_v2_default_and_options),
        cmocka_unit_test(test_v2_ciphertext_flip),
        cmocka_unit_test(test_v2_truncated),
        cmocka_unit_test(test_v2_large_parallel),
        cmocka_unit_test(test_magic_and_header_agree),
    };

    if (randombytes_set_implementation(&rng_impl) != 0 ||
        sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
