/*
 * Session transcripts: writer, verifier, decrypting reader. The byte
 * layout is specified in recorder/FORMAT.md; this is its only
 * implementation. Library code: returns 0 or a negative SK_ERR_*, never
 * logs, never exits. Blocking I/O on descriptors the caller owns.
 */
#ifndef SK_TRANSCRIPT_H
#define SK_TRANSCRIPT_H

#include "key.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The magic says the version; the writer writes SK_TR_FORMAT unless told
 * otherwise (struct sk_tr_wopts), the reader reads both. */
#define SK_TR_MAGIC_V1 "SKTR1\r\n\032"
#define SK_TR_MAGIC_V2 "SKTR2\r\n\032"
#define SK_TR_MAGIC SK_TR_MAGIC_V2
#define SK_TR_MAGIC_LEN 8
#define SK_TR_FORMAT 2

/* Format 2 data-record ciphers (the header's "cipher"). */
#define SK_TR_CIPHER_AES256GCM 1
#define SK_TR_CIPHER_CHACHA20POLY1305 2

/* Record types. */
#define SK_TR_REC_HEADER 'H'
#define SK_TR_REC_DATA 'D'
#define SK_TR_REC_CHECKPOINT 'C'
#define SK_TR_REC_SEAL 'F'
#define SK_TR_REC_MAX (1024 * 1024)
#define SK_TR_CKPT_BODY 136

/* Event types inside encrypted data records. */
enum sk_tr_ev {
    SK_TR_EV_INPUT = 1,  /* bytes the user sent */
    SK_TR_EV_OUTPUT = 2, /* bytes the user was sent (stdout) */
    SK_TR_EV_STDERR = 3, /* bytes the user was sent (stderr) */
    SK_TR_EV_RESIZE = 4, /* u32 cols, u32 rows */
    SK_TR_EV_EXEC = 5,   /* the remote command */
    SK_TR_EV_EXIT = 6,   /* u32 exit status */
    SK_TR_EV_SIGNAL = 7, /* name of the signal that ended the command */
    SK_TR_EV_MARKER = 8, /* UTF-8 JSON object: a policy event */
    SK_TR_EV_END = 9,    /* UTF-8 reason the session ended */
    SK_TR_EV_MAX = 9,
};
#define SK_TR_EV_HDR 13          /* u8 type, u64 t_us, u32 len */
#define SK_TR_EV_DATA_MAX (256 * 1024)

/* What the plaintext header says about the session. Strings may be NULL
 * (written as JSON null). */
struct sk_tr_meta {
    const char *session, *user, *source, *target, *login, *mode, *command,
        *request, *term, *gateway, *clock_sync;
    int cols, rows;
    int64_t start_us; /* wall clock, microseconds since the epoch */
};

struct sk_tr_writer;

/* Writer options; all zero means the defaults. */
struct sk_tr_wopts {
    int format; /* 0: SK_TR_FORMAT; 1 or 2: that version (1 for tests and
                 * the bench, which compare the two) */
    int cipher; /* format 2: 0 picks by CPU (AES-256-GCM with AES-NI and
                 * PCLMUL, else ChaCha20-Poly1305), or an SK_TR_CIPHER_* */
};

/* Writes the magic, the header and the first checkpoint to fd (a new,
 * empty file) and prepares the encrypted stream, whose key is sealed to
 * each of the nrecip auditor public keys. signer is borrowed and must
 * outlive the writer. */
/* Loads libcrypto's implementations of the writer's cipher and hash now
 * (a fetch each, then freed; libcrypto keeps them cached), so a process
 * that forks recorders pays for them once and its recorders share the
 * pages instead of each loading its own (bench/README.md, session 9).
 * Optional: the writer fetches them anyway. Returns 0, or SK_ERR_CRYPTO. */
int sk_tr_preload(void);

int sk_tr_writer_open(int fd, const struct sk_tr_meta *meta,
                      const struct sk_key *signer,
                      const uint8_t (*recipients)[32], size_t nrecip,
                      struct sk_tr_writer **out);
/* As sk_tr_writer_open, with options (opts may be NULL: the defaults).
 * SK_ERR_INVALID for a format or cipher that does not exist. */
int sk_tr_writer_open_opts(int fd, const struct sk_tr_meta *meta,
                           const struct sk_key *signer,
                           const uint8_t (*recipients)[32], size_t nrecip,
                           const struct sk_tr_wopts *opts,
                           struct sk_tr_writer **out);
/* Buffers one event; full chunks are encrypted and written. t_us is the
 * monotonic offset from the session start (clamped to never go back). */
int sk_tr_event(struct sk_tr_writer *w, int type, uint64_t t_us,
                const void *data, size_t len);
/* Writes buffered events and a signed checkpoint, then (sync) fdatasync.
 * A no-op if nothing was written since the last one. */
int sk_tr_checkpoint(struct sk_tr_writer *w, uint64_t t_us, int sync);
/* Bytes written since the last checkpoint (buffered or not). */
uint64_t sk_tr_unsigned_bytes(const struct sk_tr_writer *w);
/* Encrypts and writes the buffered events as a chunk of their own, with
 * no checkpoint (so no signature and no sync), for readers following the
 * file live (session watch). A no-op if nothing is buffered. Returns 0 or
 * SK_ERR_*. */
int sk_tr_flush(struct sk_tr_writer *w);
/* Bytes of events buffered, not yet written as a chunk. */
size_t sk_tr_buffered(const struct sk_tr_writer *w);
/* Ends the stream (final tag), writes the seal, fdatasync. chain (32
 * bytes, may be NULL) receives the sealed chain value, *size the file
 * size. The writer is unusable afterwards except for _free. */
int sk_tr_close(struct sk_tr_writer *w, uint64_t t_us, uint8_t *chain,
                uint64_t *size);
/* Frees (wiping the stream state); does not close fd. */
void sk_tr_writer_free(struct sk_tr_writer *w);

/* Verification (no decryption key needed). */
typedef int (*sk_tr_keyfn)(const char *key_id, uint8_t pk[32], void *arg);

#define SK_TR_INCOMPLETE 1 /* intact up to the last checkpoint, not sealed */

struct sk_tr_info {
    char session[64];
    char signing_key[40];
    uint64_t size;          /* bytes in the file */
    uint64_t verified_size; /* bytes covered by the last good signature */
    uint64_t records, checkpoints;
    uint64_t duration_us; /* time of the last signature */
    int sealed;
    uint8_t chain[32]; /* the last signed chain value */
    char *header_json; /* malloc'd; the caller frees */
    char error[256];   /* what is wrong, when the result is < 0 */
    int format;        /* 1 or 2 (from the magic), 0 if not even that */
};

/* Walks the whole file: checks the magic, the record framing, the chain
 * and every signature with the key keyfn returns for the header's
 * signing_key. Returns 0 if intact and sealed, SK_TR_INCOMPLETE if intact
 * but unsealed (info says how far it verified), SK_ERR_INVALID or
 * SK_ERR_CRYPTO if damaged (info->error names the record and offset), or
 * SK_ERR_SYSTEM. Any byte after the seal (a record, part of one, padding)
 * is damage: SK_ERR_INVALID, "N bytes after the seal". So when the result
 * is 0, info->size is the file's size and the seal its last record.
 * Reads both format versions. A format-2 file is mapped into memory and,
 * when large, its record digests are computed by two threads (joined
 * before the return); the fd must not be truncated meanwhile. */
int sk_tr_verify(int fd, sk_tr_keyfn keyfn, void *arg,
                 struct sk_tr_info *info);
void sk_tr_info_clear(struct sk_tr_info *info);

/* Decryption. */
struct sk_tr_event {
    int type;
    uint64_t t_us;
    const uint8_t *data;
    uint32_t len;
};
typedef int (*sk_tr_eventfn)(const struct sk_tr_event *ev, void *arg);

/* Decrypts fd (from its start) with the auditor key, calling fn for each
 * event in order; fn returning non-zero stops the walk and is returned.
 * *header_json (may be NULL) receives the header (malloc'd). Returns 0
 * at a proper end of stream, SK_TR_INCOMPLETE if the file ends early, or
 * a negative SK_ERR_* with err set (SK_ERR_INVALID, "N bytes after the
 * seal", if anything follows the seal, as for sk_tr_verify). */
int sk_tr_decrypt(int fd, const struct sk_boxkey *k, sk_tr_eventfn fn,
                  void *arg, char **header_json, char *err, size_t errlen);

/* As sk_tr_decrypt, but at the end of a file that is not sealed yet it
 * calls more(arg): non-zero (after waiting as it sees fit) means read
 * on, zero means stop (SK_TR_INCOMPLETE). For following a live session. */
int sk_tr_decrypt_follow(int fd, const struct sk_boxkey *k,
                         sk_tr_eventfn fn, void *arg,
                         int (*more)(void *arg), char **header_json,
                         char *err, size_t errlen);

/* Exports (export.c): decrypt and write to out. idle_cap_s > 0 caps the
 * gaps between events (asciicast only). */
int sk_tr_export_asciicast(int fd, const struct sk_boxkey *k, FILE *out,
                           double idle_cap_s, char *err, size_t errlen);
int sk_tr_export_text(int fd, const struct sk_boxkey *k, FILE *out,
                      char *err, size_t errlen);

/* Length of the longest prefix of p[0..n) that does not end inside a
 * UTF-8 sequence which more bytes could complete (so the rest, at most 3
 * bytes, is carried to the next chunk). */
size_t sk_utf8_complete_prefix(const uint8_t *p, size_t n);

#endif
