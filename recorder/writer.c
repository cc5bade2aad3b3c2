/* Transcript writer (FORMAT.md). */
#include "transcript.h"
#include "sk-err.h"
#include "tr-v2.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK_TARGET (64 * 1024)
#define CHUNK_MAX (CHUNK_TARGET + SK_TR_EV_HDR + SK_TR_EV_DATA_MAX)

struct sk_tr_writer {
    int fd;
    int failed;
    uint64_t off;     /* file size so far */
    uint64_t records; /* records written, the header included */
    uint64_t seq;     /* checkpoints written */
    uint64_t last_t;
    uint64_t since; /* bytes since the last checkpoint */
    uint64_t events;
    uint8_t chain[32];
    uint8_t signed_chain[32]; /* the value the last signature covers */
    const struct sk_key *signer;
    int format;              /* 1 or 2 */
    uint64_t dseq;           /* format 2: data records written */
    struct tr2_aead *aead;   /* format 2 */
    struct tr2_sha *sha;     /* format 2 */
    crypto_secretstream_xchacha20poly1305_state st; /* format 1 */
    uint8_t *plain; /* CHUNK_MAX */
    size_t plen;
    uint8_t *cipher; /* CHUNK_MAX + ABYTES */
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* Writes a record's head and body (or any bytes: len 0) in one call: a
 * 5-byte write(2) of its own costs a file system's whole write path, and
 * half of the recorder's calls were those (bench/README.md, session 10). */
static int write_rec(int fd, const uint8_t *hdr, size_t hlen,
                     const uint8_t *body, size_t len)
{
    struct iovec iov[2] = {{(void *)hdr, hlen}, {(void *)body, len}};
    size_t left = hlen + len;
    int k = 0;

    while (left > 0) {
        ssize_t w = writev(fd, iov + k, 2 - k);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            if (w == 0) {
                errno = ENOSPC;
            }
            return SK_ERR_SYSTEM;
        }
        left -= (size_t)w;
        while (k < 2 && (size_t)w >= iov[k].iov_len) {
            w -= (ssize_t)iov[k].iov_len;
            iov[k].iov_len = 0;
            k++;
        }
        if (k < 2) {
            iov[k].iov_base = (uint8_t *)iov[k].iov_base + w;
            iov[k].iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    return write_rec(fd, p, n, NULL, 0);
}

/* Appends one record and advances the chain over it. */
static int put_record(struct sk_tr_writer *w, int type, const uint8_t *body,
                      size_t len)
{
    uint8_t hdr[5], digest[32];
    crypto_generichash_state h;

    if (w->failed) {
        return SK_ERR_SYSTEM;
    }
    hdr[0] = (uint8_t)type;
    put32(hdr + 1, (uint32_t)len);
    if (write_rec(w->fd, hdr, sizeof(hdr), body, len) != 0) {
        w->failed = 1;
        return SK_ERR_SYSTEM;
    }
    if (w->format == 2) {
        /* The body's own digest in the chain: a verifier can hash the
         * bodies in parallel and chain the digests in order. */
        if (tr2_sha256(w->sha, body, len, digest) != 0 ||
            tr2_chain_step(w->sha, w->chain, hdr, digest) != 0) {
            w->failed = 1;
            return SK_ERR_CRYPTO;
        }
    } else {
        crypto_generichash_init(&h, NULL, 0, 32);
        crypto_generichash_update(&h, w->chain, 32);
        crypto_generichash_update(&h, hdr, sizeof(hdr));
        crypto_generichash_update(&h, body, len);
        crypto_generichash_final(&h, w->chain, 32);
    }
    w->off += sizeof(hdr) + len;
    w->since += sizeof(hdr) + len;
    w->records++;
    return 0;
}

static int put_signed(struct sk_tr_writer *w, int type, uint64_t t_us,
                      int sync)
{
    uint8_t body[SK_TR_CKPT_BODY], msg[10 + 72];
    int r;

    put64(body, ++w->seq);
    put64(body + 8, w->off);
    put64(body + 16, w->records);
    put64(body + 24, t_us);
    memcpy(body + 32, w->chain, 32);
    put64(body + 64, w->events);
    memcpy(w->signed_chain, w->chain, 32);
    if (w->format == 2) {
        memcpy(msg, type == SK_TR_REC_SEAL ? "SKTR2-SEAL" : "SKTR2-CKPT",
               10);
    } else {
        memcpy(msg, type == SK_TR_REC_SEAL ? "SKTR1-SEAL" : "SKTR1-CKPT",
               10);
    }
    memcpy(msg + 10, body, 72);
    if ((r = sk_key_sign_raw(w->signer, msg, sizeof(msg), body + 72)) != 0) {
        w->failed = 1;
        return r;
    }
    if ((r = put_record(w, type, body, sizeof(body))) != 0) {
        return r;
    }
    w->since = 0;
    /* Timed checkpoints and the seal also reach the disk, so a power
     * loss costs at most one interval; volume checkpoints (every few MiB
     * of a fast stream) only sign, or the relay would wait on the disk. */
    if (sync && fdatasync(w->fd) != 0 && errno != EINVAL && errno != EROFS) {
        w->failed = 1;
        return SK_ERR_SYSTEM;
    }
    return 0;
}

static int flush_chunk(struct sk_tr_writer *w, int final)
{
    unsigned long long clen = 0;

    if (w->plen == 0 && !final) {
        return 0;
    }
    if (w->format == 2) {
        /* The record's number is its nonce and, with the final flag, its
         * AAD: a record moved, dropped or passed off as the last one
         * does not open. */
        if (tr2_seal(w->aead, w->dseq, final, w->plain, w->plen,
                     w->cipher) != 0) {
            w->failed = 1;
            return SK_ERR_CRYPTO;
        }
        w->dseq++;
        clen = w->plen + TR2_TAGBYTES;
    } else if (crypto_secretstream_xchacha20poly1305_push(
            &w->st, w->cipher, &clen, w->plain, w->plen, NULL, 0,
            final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                  : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) !=
        0) {
        w->failed = 1;
        return SK_ERR_CRYPTO;
    }
    /* Not wiped here: the next chunk overwrites these bytes, the ring
     * they came from holds them too, and the whole buffer is wiped when
     * the writer is freed. A wipe per chunk was 2% of the recorder's CPU
     * (bench/README.md, session 12). */
    w->plen = 0;
    return put_record(w, SK_TR_REC_DATA, w->cipher, (size_t)clen);
}

static json_t *jstr(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* ss_header: format 1's secretstream header, NULL for format 2. */
static char *header_json(const struct sk_tr_meta *m, const char *signer_id,
                         int format, const char *cipher,
                         const uint8_t *ss_header,
                         const uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES],
                         const uint8_t (*recipients)[32], size_t nrecip)
{
    json_t *o, *rc, *one;
    char b64[128], id[40], *text = NULL;
    uint8_t sealed[crypto_box_SEALBYTES +
                   crypto_secretstream_xchacha20poly1305_KEYBYTES];

    /* Every string must be UTF-8 already (the monitor repairs what peers
     * sent); json_string refuses anything else and the header fails. */
    o = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
                  "s:I, s:o, s:o, s:i, s:i, s:o, s:s, s:s}",
                  "format", format, "session", jstr(m->session), "user",
                  jstr(m->user), "source", jstr(m->source), "target",
                  jstr(m->target), "login", jstr(m->login), "mode",
                  jstr(m->mode), "command", jstr(m->command), "request",
                  jstr(m->request), "gateway", jstr(m->gateway), "start_us",
                  (json_int_t)m->start_us, "clock_sync", jstr(m->clock_sync),
                  "term", jstr(m->term), "cols", m->cols, "rows", m->rows,
                  "recipients", json_array(), "signing_key", signer_id,
                  "cipher", cipher);
    if (o == NULL) {
        return NULL;
    }
    if (ss_header != NULL) {
        sodium_bin2base64(b64, sizeof(b64), ss_header,
                          crypto_secretstream_xchacha20poly1305_HEADERBYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        if (json_object_set_new(o, "stream_header", json_string(b64)) != 0) {
            goto out;
        }
    }
    rc = json_object_get(o, "recipients");
    for (size_t i = 0; i < nrecip; i++) {
        if (crypto_box_seal(sealed, key,
                            crypto_secretstream_xchacha20poly1305_KEYBYTES,
                            recipients[i]) != 0) {
            goto out;
        }
        sk_key_id("x25519", recipients[i], 32, id, sizeof(id));
        sodium_bin2base64(b64, sizeof(b64), sealed, sizeof(sealed),
                          sodium_base64_VARIANT_ORIGINAL);
        one = json_pack("{s:s, s:s}", "key", id, "sealed_key", b64);
        if (one == NULL || json_array_append_new(rc, one) != 0) {
            goto out;
        }
    }
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(o);
    return text;
}

int sk_tr_writer_open(int fd, const struct sk_tr_meta *meta,
                      const struct sk_key *signer,
                      const uint8_t (*recipients)[32], size_t nrecip,
                      struct sk_tr_writer **out)
{
    return sk_tr_writer_open_opts(fd, meta, signer, recipients, nrecip, NULL,
                                  out);
}

int sk_tr_writer_open_opts(int fd, const struct sk_tr_meta *meta,
                           const struct sk_key *signer,
                           const uint8_t (*recipients)[32], size_t nrecip,
                           const struct sk_tr_wopts *opts,
                           struct sk_tr_writer **out)
{
    struct sk_tr_writer *w;
    int format = opts != NULL && opts->format != 0 ? opts->format
                                                   : SK_TR_FORMAT;
    int cipher = opts != NULL ? opts->cipher : 0;
    uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES],
        ssh[crypto_secretstream_xchacha20poly1305_HEADERBYTES], pk[32];
    char id[40], *hdr = NULL;
    crypto_generichash_state h;
    int r;

    *out = NULL;
    if (nrecip == 0) {
        return SK_ERR_INVALID; /* nobody could ever read it */
    }
    if (format == 2 && cipher == 0) {
        cipher = tr2_cipher_auto();
    }
    if ((format != 1 && format != 2) || (format == 1 && cipher != 0) ||
        (format == 2 && tr2_cipher_name(cipher) == NULL)) {
        return SK_ERR_INVALID;
    }
    if ((w = sodium_malloc(sizeof(*w))) == NULL) {
        return SK_ERR_ALLOC;
    }
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->signer = signer;
    w->format = format;
    w->plain = malloc(CHUNK_MAX);
    w->cipher = malloc(CHUNK_MAX + crypto_secretstream_xchacha20poly1305_ABYTES);
    if (w->plain == NULL || w->cipher == NULL) {
        r = SK_ERR_ALLOC;
        goto fail;
    }
    sk_key_pub_raw(signer, pk);
    sk_key_id("ed25519", pk, sizeof(pk), id, sizeof(id));
    if (format == 2) {
        /* One random key per file, so the counter nonces never repeat
         * under a key. */
        randombytes_buf(key, sizeof(key));
        r = tr2_aead_new(cipher, key, 1, &w->aead);
        if (r == 0) {
            r = tr2_sha_new(&w->sha);
        }
        if (r != 0) {
            sodium_memzero(key, sizeof(key));
            goto fail;
        }
        hdr = header_json(meta, id, 2, tr2_cipher_name(cipher), NULL, key,
                          recipients, nrecip);
    } else {
        crypto_secretstream_xchacha20poly1305_keygen(key);
        crypto_secretstream_xchacha20poly1305_init_push(&w->st, ssh, key);
        hdr = header_json(meta, id, 1, "xchacha20poly1305-secretstream", ssh,
                          key, recipients, nrecip);
    }
    sodium_memzero(key, sizeof(key));
    if (hdr == NULL) {
        r = SK_ERR_INVALID;
        goto fail;
    }
    if (write_all(fd, format == 2 ? SK_TR_MAGIC_V2 : SK_TR_MAGIC_V1,
                  SK_TR_MAGIC_LEN) != 0) {
        r = SK_ERR_SYSTEM;
        goto fail;
    }
    w->off = SK_TR_MAGIC_LEN;
    /* c0 = H("SKTRn-CHAIN" || magic); put_record then folds in the
     * header record like any other. */
    if (format == 2) {
        if (tr2_chain0(w->sha, w->chain) != 0) {
            r = SK_ERR_CRYPTO;
            goto fail;
        }
    } else {
        crypto_generichash_init(&h, NULL, 0, 32);
        crypto_generichash_update(&h, (const uint8_t *)"SKTR1-CHAIN", 11);
        crypto_generichash_update(&h, (const uint8_t *)SK_TR_MAGIC_V1,
                                  SK_TR_MAGIC_LEN);
        crypto_generichash_final(&h, w->chain, 32);
    }
    if ((r = put_record(w, SK_TR_REC_HEADER, (const uint8_t *)hdr,
                        strlen(hdr))) != 0 ||
        (r = put_signed(w, SK_TR_REC_CHECKPOINT, 0, 1)) != 0) {
        goto fail;
    }
    free(hdr);
    *out = w;
    return 0;
fail:
    free(hdr);
    sk_tr_writer_free(w);
    return r;
}

int sk_tr_event(struct sk_tr_writer *w, int type, uint64_t t_us,
                const void *data, size_t len)
{
    uint8_t *p;
    int r;

    if (w->failed) {
        return SK_ERR_SYSTEM;
    }
    if (type < 1 || type > SK_TR_EV_MAX || len > SK_TR_EV_DATA_MAX) {
        return SK_ERR_INVALID;
    }
    if (w->plen + SK_TR_EV_HDR + len > CHUNK_TARGET &&
        (r = flush_chunk(w, 0)) != 0) {
        return r;
    }
    if (t_us < w->last_t) {
        t_us = w->last_t;
    }
    w->last_t = t_us;
    p = w->plain + w->plen;
    p[0] = (uint8_t)type;
    put64(p + 1, t_us);
    put32(p + 9, (uint32_t)len);
    if (len > 0) {
        memcpy(p + SK_TR_EV_HDR, data, len);
    }
    w->plen += SK_TR_EV_HDR + len;
    w->events++;
    w->since += SK_TR_EV_HDR + len;
    if (w->plen >= CHUNK_TARGET) {
        return flush_chunk(w, 0);
    }
    return 0;
}

uint64_t sk_tr_unsigned_bytes(const struct sk_tr_writer *w)
{
    return w->since;
}

int sk_tr_flush(struct sk_tr_writer *w)
{
    if (w->failed) {
        return SK_ERR_SYSTEM;
    }
    return flush_chunk(w, 0);
}

size_t sk_tr_buffered(const struct sk_tr_writer *w)
{
    return w->plen;
}

int sk_tr_checkpoint(struct sk_tr_writer *w, uint64_t t_us, int sync)
{
    int r;

    if (w->since == 0) {
        return w->failed ? SK_ERR_SYSTEM : 0;
    }
    if (t_us < w->last_t) {
        t_us = w->last_t;
    }
    if ((r = flush_chunk(w, 0)) != 0) {
        return r;
    }
    return put_signed(w, SK_TR_REC_CHECKPOINT, t_us, sync);
}

int sk_tr_close(struct sk_tr_writer *w, uint64_t t_us, uint8_t *chain,
                uint64_t *size)
{
    int r;

    if (t_us < w->last_t) {
        t_us = w->last_t;
    }
    if ((r = flush_chunk(w, 1)) != 0 ||
        (r = put_signed(w, SK_TR_REC_SEAL, t_us, 1)) != 0) {
        return r;
    }
    if (chain != NULL) {
        memcpy(chain, w->signed_chain, 32);
    }
    w->failed = 1; /* nothing may follow the seal */
    if (size != NULL) {
        *size = w->off;
    }
    return 0;
}

void sk_tr_writer_free(struct sk_tr_writer *w)
{
    if (w == NULL) {
        return;
    }
    if (w->plain != NULL) {
        sodium_memzero(w->plain, CHUNK_MAX);
    }
    free(w->plain);
    free(w->cipher);
    tr2_aead_free(w->aead); /* wipes the key schedule */
    tr2_sha_free(w->sha);
    sodium_free(w); /* wipes the stream state */
}
