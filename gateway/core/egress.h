/*
 * The egress key's rules (R-PW-6, R-AC-8): which key a target's login
 * trusts (one key per key group), the authorized_keys line a target
 * installs for it, and when the monitor may sign with it. The signing
 * check is pure: the monitor feeds it the worker's sign request and a
 * guard that remembers what this monitor signed; the store keeps the
 * hashes of every session identifier signed, so that another
 * connection's monitor refuses them too. Also the monotonic-deadline
 * read the monitor uses for agent messages.
 */
#ifndef SK_EGRESS_H
#define SK_EGRESS_H

#include <stddef.h>
#include <stdint.h>

/* The group of every target added without --key-group; its key is the
 * configured egress_key. */
#define SK_EGRESS_DEFAULT_GROUP "default"

/* Signatures the egress key gives per upstream connection: libssh's
 * agent userauth signs once per offered key, and a second signature for
 * the same connection would be for the same session identifier (refused
 * anyway), so one is all an honest worker needs. */
#define SK_EGRESS_SIGNS_PER_CONN 1
/* Session identifier hashes one monitor keeps. */
#define SK_EGRESS_IDS_MAX 8
#define SK_EGRESS_IDHASH_LEN 32
/* One agent message, header and body together, must arrive within this
 * many milliseconds. */
#define SK_EGRESS_MSG_DEADLINE_MS 5000

struct sk_egress_guard {
    int signs; /* signatures given on the current upstream connection */
    int nids;
    uint8_t ids[SK_EGRESS_IDS_MAX][SK_EGRESS_IDHASH_LEN];
};

/* Checks the data of an ssh-agent sign request against the rules:
 * it must be exactly a publickey SSH_MSG_USERAUTH_REQUEST with signature
 * (RFC 4252 section 7) for service ssh-connection, user login, with the
 * key blob blob; its session identifier 20, 32, 48 or 64 bytes (a SHA-1/
 * 2 exchange hash) that g has not seen; and g's per-connection budget
 * unspent. Pure. On 0 writes BLAKE2b-256 of the session identifier to
 * idhash (what sk_egress_note and the store remember). Returns
 * SK_ERR_INVALID (not such a request, or another login or key),
 * SK_ERR_EXISTS (identifier already signed) or SK_ERR_DENIED (budget
 * spent). */
int sk_egress_check(const struct sk_egress_guard *g, const uint8_t *data,
                    size_t len, const char *login, const uint8_t *blob,
                    size_t bloblen, uint8_t idhash[SK_EGRESS_IDHASH_LEN]);
/* Records a signature given for idhash: spends the connection's budget
 * and remembers the identifier (the oldest is forgotten when full; the
 * store still has it). */
void sk_egress_note(struct sk_egress_guard *g,
                    const uint8_t idhash[SK_EGRESS_IDHASH_LEN]);
/* A new upstream connection: a fresh per-connection budget (the
 * remembered identifiers stay). */
void sk_egress_new_conn(struct sk_egress_guard *g);
/* The hash as 64 lowercase hex digits and a NUL (out >= 65 bytes). */
void sk_egress_idhash_hex(const uint8_t idhash[SK_EGRESS_IDHASH_LEN],
                          char *out, size_t outlen);

/* 1 if name may name a key group (the store's name rule; it becomes
 * part of a file name). */
int sk_egress_group_valid(const char *name);
/* The key file of group: default_key for SK_EGRESS_DEFAULT_GROUP (or
 * NULL/empty), else STATE_DIR/egress_key.GROUP. Returns 0,
 * SK_ERR_BAD_NAME or SK_ERR_TOO_LONG. */
int sk_egress_key_path(const char *default_key, const char *state_dir,
                       const char *group, char *out, size_t outlen);
/* The authorized_keys line for a target login: from="FROM",restrict,pty
 * then publine ("ssh-ed25519 BASE64 comment"); without from= if from is
 * NULL. from must be a comma-separated address/CIDR list (checked by the
 * caller; a '"' is refused here). Returns a new string (caller frees) or
 * NULL. */
char *sk_egress_authorized_line(const char *from, const char *publine);

/* Reads exactly n bytes from fd, polling with the time left until
 * deadline_ms (sk_mono_ms clock): a peer that trickles bytes gets no more
 * time than one that sends nothing. Blocks at most until the deadline.
 * Returns 0, SK_ERR_DENIED (deadline passed), SK_ERR_EOF or
 * SK_ERR_SYSTEM. */
int sk_read_deadline(int fd, void *p, size_t n, int64_t deadline_ms);

#endif
