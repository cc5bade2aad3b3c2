/*
 * Backup generation manifests (sekishoctl backup/restore): the list of
 * every directory and file a generation holds, with modes, sizes, mtimes
 * and BLAKE2b-256 hashes, so restore can check each byte before it writes
 * anything and the next backup can hard-link what did not change. Text,
 * one record a line, the path last (absolute, no "." or ".." component,
 * no control character):
 *
 *   sekisho-backup-v1
 *   generation NAME
 *   created RFC3339
 *   config /ABS/PATH/OF/sekisho.conf
 *   dir MODE PATH                            (MODE octal, e.g. 0700)
 *   file MODE SIZE MTIME HASH PATH           (HASH 64 lowercase hex)
 *   total FILES BYTES
 *   sig KEYID BASE64
 *
 * The "sig" line is an Ed25519 signature (by the signing key KEYID) of
 * "SKBACKUP1" followed by every byte before the "sig" line (the body).
 * Pure: no I/O.
 */
#ifndef SK_BKMANIFEST_H
#define SK_BKMANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define SK_BKMAN_MAGIC "sekisho-backup-v1"
#define SK_BKMAN_SIGCTX "SKBACKUP1"
#define SK_BKMAN_NAME_MAX 64

struct sk_bkentry {
    int is_dir;
    unsigned mode; /* permission bits only (07777) */
    uint64_t size;
    int64_t mtime;
    char hash[65]; /* files only */
    char *path;
};

struct sk_bkmanifest {
    char generation[SK_BKMAN_NAME_MAX];
    char created[32];
    char *config; /* path of the configuration file backed up */
    struct sk_bkentry *e;
    size_t n, cap;
    uint64_t files, bytes; /* totals of the file entries */
    /* filled by sk_bkman_parse: */
    char key_id[40];
    uint8_t sig[64];
    size_t body_len; /* bytes the signature covers, after SIGCTX */
};

/* 1 if path may appear in a manifest: absolute, at most 4095 bytes, valid
 * UTF-8 without control characters, no empty, "." or ".." component and
 * no trailing '/'. */
int sk_bkman_path_ok(const char *path);

/* 1 if name is a generation name ("sekisho-" then [0-9A-Za-z-]). */
int sk_bkman_name_ok(const char *name);

/* Appends an entry (path copied) and updates the totals for a file.
 * Returns 0, SK_ERR_INVALID (bad path or hash) or SK_ERR_ALLOC. */
int sk_bkman_add(struct sk_bkmanifest *m, int is_dir, unsigned mode,
                 uint64_t size, int64_t mtime, const char *hash,
                 const char *path);

/* Writes the body (everything up to, without, the "sig" line) into a new
 * NUL-terminated buffer *out of length *outlen. generation, created and
 * config must be set. Returns 0, SK_ERR_INVALID or SK_ERR_ALLOC. */
int sk_bkman_format(const struct sk_bkmanifest *m, char **out,
                    size_t *outlen);

/* Parses a whole manifest of len bytes. Every line must be well formed,
 * in order, each path at most once, the totals must match the entries
 * and the last line must be the "sig" line. On success returns 0 and a
 * new manifest in *out (free with sk_bkman_free); body_len, key_id and
 * sig are set for the caller to check the signature. Returns
 * SK_ERR_INVALID (with the 1-based line in *bad_line if not NULL) or
 * SK_ERR_ALLOC. */
int sk_bkman_parse(const char *text, size_t len, struct sk_bkmanifest **out,
                   size_t *bad_line);

/* Frees m's contents (for one built on the stack with sk_bkman_add) and
 * zeroes it. */
void sk_bkman_clear(struct sk_bkmanifest *m);
/* Frees a manifest from sk_bkman_parse. NULL is fine. */
void sk_bkman_free(struct sk_bkmanifest *m);

#endif
