/* Transcript verifier and decrypting reader (FORMAT.md). Everything here
 * reads untrusted bytes: every length is checked before use. */
#include "transcript.h"
#include "sk-err.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rd {
    int fd;
    uint8_t *buf; /* SK_TR_REC_MAX + 5 */
    uint64_t off; /* file offset of the next unread byte */
};

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
        memcmp(magic, SK_TR_MAGIC, SK_TR_MAGIC_LEN) != 0) {
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
        fmt == SK_TR_FORMAT && strlen(sess) < sizeof(info->session) &&
        strlen(key) < sizeof(info->signing_key)) {
        snprintf(info->session, sizeof(info->session), "%s", sess);
        snprintf(info->signing_key, sizeof(info->signing_key), "%s", key);
        r = 0;
    }
    json_decref(o);
    return r;
}

int sk_tr_verify(int fd, sk_tr_keyfn keyfn, void *arg,
                 struct sk_tr_info *info)
{
    struct rd r;
    uint8_t chain[32], pk[32], msg[10 + 72];
    crypto_generichash_state h;
    uint64_t rec_off;
    uint32_t len;
    int type, st, ret;

    memset(info, 0, sizeof(*info));
    if ((ret = rd_open(&r, fd)) != 0) {
        rd_close(&r);
        if (ret == SK_ERR_INVALID) {
            return fail(info, ret, "not a Sekisho transcript (bad magic)");
        }
        return fail(info, ret, "read: %s", strerror(errno));
    }
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)"SKTR1-CHAIN", 11);
    crypto_generichash_update(&h, (const uint8_t *)SK_TR_MAGIC,
                              SK_TR_MAGIC_LEN);
    crypto_generichash_final(&h, chain, 32);
    for (;;) {
        rec_off = r.off;
        st = rd_record(&r, &type, &len);
        if (info->sealed && st != RD_IO) {
            uint64_t extra = 0;

            /* The seal is the last record: even a partial record or a
             * few bytes after it are additions no signature covers. */
            if (rd_trailing(fd, rec_off, &extra) != 0) {
                ret = fail(info, SK_ERR_SYSTEM, "stat: %s", strerror(errno));
                goto out;
            }
            if (extra > 0 || st != RD_END) {
                info->size = rec_off + extra;
                ret = fail(info, SK_ERR_INVALID,
                           "%llu bytes after the seal (at offset %llu), "
                           "not covered by any signature",
                           (unsigned long long)extra,
                           (unsigned long long)rec_off);
                goto out;
            }
        }
        if (st == RD_END) {
            break;
        }
        if (st == RD_IO) {
            ret = fail(info, SK_ERR_SYSTEM, "read: %s", strerror(errno));
            goto out;
        }
        if (st == RD_BAD) {
            ret = fail(info, SK_ERR_INVALID,
                       "record %llu at offset %llu: length %u too large",
                       (unsigned long long)info->records,
                       (unsigned long long)rec_off, len);
            goto out;
        }
        if (st == RD_TRUNCATED) {
            /* A crash mid-write leaves a partial record: that is the
             * unsealed tail, not damage, as long as no seal came before. */
            break;
        }
        if (info->records == 0) {
            if (type != SK_TR_REC_HEADER) {
                ret = fail(info, SK_ERR_INVALID, "first record is not the "
                                                 "header");
                goto out;
            }
            if (header_ids((const char *)r.buf + 5, len, info) != 0) {
                ret = fail(info, SK_ERR_INVALID,
                           "header is not a format-%d JSON header",
                           SK_TR_FORMAT);
                goto out;
            }
            if ((info->header_json = malloc(len + 1)) == NULL) {
                ret = SK_ERR_ALLOC;
                goto out;
            }
            memcpy(info->header_json, r.buf + 5, len);
            info->header_json[len] = '\0';
            if (keyfn(info->signing_key, pk, arg) != 0) {
                ret = fail(info, SK_ERR_CRYPTO,
                           "signing key %s is not a trusted key",
                           info->signing_key);
                goto out;
            }
        } else if (type == SK_TR_REC_CHECKPOINT || type == SK_TR_REC_SEAL) {
            const uint8_t *b = r.buf + 5;

            if (len != SK_TR_CKPT_BODY) {
                ret = fail(info, SK_ERR_INVALID,
                           "checkpoint at offset %llu has a bad length",
                           (unsigned long long)rec_off);
                goto out;
            }
            memcpy(msg, type == SK_TR_REC_SEAL ? "SKTR1-SEAL" : "SKTR1-CKPT",
                   10);
            memcpy(msg + 10, b, 72);
            if (sk_key_verify_raw(pk, msg, sizeof(msg), b + 72) != 0) {
                ret = fail(info, SK_ERR_CRYPTO,
                           "checkpoint %llu at offset %llu: bad signature",
                           (unsigned long long)get64(b),
                           (unsigned long long)rec_off);
                goto out;
            }
            if (get64(b) != info->checkpoints + 1 || get64(b + 8) != rec_off ||
                get64(b + 16) != info->records ||
                sodium_memcmp(b + 32, chain, 32) != 0) {
                ret = fail(info, SK_ERR_CRYPTO,
                           "checkpoint %llu at offset %llu does not match the "
                           "records before it (altered, removed or "
                           "reordered data)",
                           (unsigned long long)get64(b),
                           (unsigned long long)rec_off);
                goto out;
            }
            info->checkpoints++;
            info->duration_us = get64(b + 24);
            memcpy(info->chain, chain, 32);
            info->verified_size = r.off;
            if (type == SK_TR_REC_SEAL) {
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
        chain_step(chain, r.buf, 5 + (size_t)len);
        info->records++;
    }
    info->size = r.off;
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
        info->size = r.off;
    }
    rd_close(&r);
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

/* Finds our sealed key in the header and opens the stream. */
static int open_stream(const char *hdr, size_t len, const struct sk_boxkey *k,
                       crypto_secretstream_xchacha20poly1305_state *st,
                       char *err, size_t errlen)
{
    json_error_t e;
    json_t *o = json_loadb(hdr, len, 0, &e), *rc, *one;
    const char *ssh_b64 = NULL, *kid, *sealed_b64;
    uint8_t ssh[crypto_secretstream_xchacha20poly1305_HEADERBYTES],
        sealed[crypto_box_SEALBYTES +
               crypto_secretstream_xchacha20poly1305_KEYBYTES],
        key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    char myid[40];
    size_t i, bl;
    int r = derr(err, errlen, SK_ERR_DENIED,
                 "this transcript is not sealed to the given auditor key");

    sk_key_id("x25519", k->pk, 32, myid, sizeof(myid));
    if (o == NULL || json_unpack(o, "{s:s, s:o}", "stream_header", &ssh_b64,
                                 "recipients", &rc) != 0 ||
        !json_is_array(rc) ||
        sodium_base642bin(ssh, sizeof(ssh), ssh_b64, strlen(ssh_b64), NULL,
                          &bl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bl != sizeof(ssh)) {
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
        r = crypto_secretstream_xchacha20poly1305_init_pull(st, ssh, key) == 0
                ? 0
                : derr(err, errlen, SK_ERR_CRYPTO, "bad stream header");
        sodium_memzero(key, sizeof(key));
        break;
    }
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
            if ((ret = open_stream((const char *)r.buf + 5, len, k, st, err,
                                   errlen)) != 0) {
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
        if (len < crypto_secretstream_xchacha20poly1305_ABYTES ||
            crypto_secretstream_xchacha20poly1305_pull(
                st, plain, &plen, &tag, r.buf + 5, len, NULL, 0) != 0) {
            ret = derr(err, errlen, SK_ERR_CRYPTO,
                       "data record at offset %llu does not decrypt "
                       "(altered or out of order)",
                       (unsigned long long)(r.off - 5 - len));
            break;
        }
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            ended = 1;
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
