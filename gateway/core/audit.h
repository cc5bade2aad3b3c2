/*
 * Security audit events: one JSON object per line, appended to the audit
 * log and mirrored to syslog (LOG_AUTHPRIV). JSON is built with jansson, so
 * untrusted strings are escaped by the library; strings must be valid
 * UTF-8 (repair peer-supplied bytes with sk_utf8_repair first).
 *
 * Each line has "time" (RFC 3339 UTC), "event", "gateway", "pid", the
 * caller's fields, then "key" (the signing key id), "prev" (hex BLAKE2b-256
 * of the previous line, 64 zeros for the first) and last "sig", an
 * Ed25519 signature (base64) of the line as it reads with the
 * `,"sig":"..."` member removed, prefixed by "SKAUDIT1". So the log is a
 * chain: editing, inserting, removing or reordering a line breaks the
 * chain or a signature, and sk_audit_verify says which line.
 *
 * Writers serialise on flock(2), read the last line for its hash and
 * append with one write(2), so concurrent session processes never
 * interleave or fork the chain.
 *
 * Rotation (sk_audit_set_rotation, sk_audit_rotate) happens under the
 * same lock: the file is renamed LOG.YYYYMMDDTHHMMSSZ (UTC) and a new LOG
 * begins with a "log_rotated" line naming it in "previous" and carrying
 * the hash of its last line in "prev", so the chain runs on across files
 * in name order (sk_audit_files, sk_audit_verify_files). A writer that
 * finds its file renamed under it reopens LOG before appending.
 */
#ifndef SK_AUDIT_H
#define SK_AUDIT_H

#include "key.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Opens (creating, mode 0600) the audit log. gateway_id names this gateway
 * in every line; signer signs every line and is borrowed (it must outlive
 * the log; sk_audit_close does not free it). Returns 0 or SK_ERR_*. */
int sk_audit_open(const char *path, const char *gateway_id,
                  const struct sk_key *signer);
void sk_audit_close(void);

/* Emits an event; fmt is a jansson json_pack object format for the extra
 * fields ("{s:s, s:I}"), or NULL. Returns 0, or a negative SK_ERR_* if the
 * line could not be written: callers for which the record is a
 * precondition (session start) must then refuse to continue. */
int sk_audit(const char *event, const char *fmt, ...);

/* Events that need a person (lockout, sandbox or protocol violation,
 * recording failure, storage low, clock unsynchronised, audit chain
 * errors) go to syslog at their own severity rather than LOG_NOTICE, and
 * to the alert hook if one is set. Returns the syslog priority of event
 * (LOG_ALERT, LOG_CRIT or LOG_WARNING), or -1 if it is not an alert. */
int sk_audit_alert_prio(const char *event);

/* The hook sk_audit calls (after writing the line, or after failing to:
 * then event is "audit_write_failed") for an alert event, with the line's
 * JSON (without its signature). It must not block for long and must not call
 * sk_audit. NULL removes it. */
typedef void (*sk_audit_alert_fn)(const char *event, int prio,
                                  const char *json, void *arg);
void sk_audit_set_alert(sk_audit_alert_fn fn, void *arg);

/* The chain hash of one line (without its newline): hex BLAKE2b-256,
 * what the next line's "prev" holds. out has 65 bytes. */
void sk_audit_line_hash(const char *line, size_t len, char out[65]);

/* Verification of a whole log. keyfn finds a trusted public key by id.
 * Returns 0 if every line is intact and chained, else SK_ERR_INVALID /
 * SK_ERR_CRYPTO with *bad_line (1-based) and err naming the problem.
 * *lines receives the count and last_hash (65 bytes, may be NULL) the
 * hash of the last line, which can be noted elsewhere as an anchor. */
typedef int (*sk_audit_keyfn)(const char *key_id, uint8_t pk[32], void *arg);
int sk_audit_verify(FILE *f, sk_audit_keyfn keyfn, void *arg,
                    uint64_t *lines, uint64_t *bad_line, char *last_hash,
                    char *err, size_t errlen);

/* Rotation limits for the lines this process writes: before a line is
 * appended, a current file of max_bytes or more, or whose first line is
 * max_age seconds old or more, is rotated (0: no limit). A rotation that
 * fails (a second rotation within one second, a clock set back) is tried
 * again at the next line; the line is written either way. */
void sk_audit_set_rotation(uint64_t max_bytes, int64_t max_age);

/* Rotates now (sekishoctl audit rotate); admin (may be NULL) is named in
 * the log_rotated line. rotated (may be NULL) receives the path the old
 * file now has. Blocks on the lock. Returns 0; SK_ERR_EXISTS if the name
 * for this second is taken or sorts before an existing rotated file;
 * SK_ERR_INVALID if the log is empty; SK_ERR_SYSTEM (errno) otherwise. */
int sk_audit_rotate(const char *admin, char *rotated, size_t rotatedlen);

/* The files of the log at path (a file, or a directory holding
 * audit.log), oldest first: the rotated ones by name, then the current
 * one, always last, whether or not it exists. *paths (caller frees with
 * sk_audit_files_free) holds n >= 1 paths. Returns 0 or SK_ERR_*. */
int sk_audit_files(const char *path, char ***paths, size_t *n);
void sk_audit_files_free(char **paths, size_t n);

/* Verification of the whole chain across files (from sk_audit_files):
 * the oldest must start at genesis, each later one with a log_rotated
 * line naming the file before it and chaining to its last line. Returns
 * 0, or SK_ERR_* with err naming the file (when n > 1) and the line, or a
 * missing file ("LOG.X missing: chain breaks between LOG.W and LOG.Y").
 * *lines counts the lines read; *good how many from the top (all files
 * in order) are proved intact; last_hash (may be NULL) as above. */
int sk_audit_verify_files(char *const *paths, size_t n, sk_audit_keyfn keyfn,
                          void *arg, uint64_t *lines, uint64_t *good,
                          char *last_hash, char *err, size_t errlen);

/* Reading the lines of every file of a log (sk_audit_files) in order,
 * as one stream, for readers that look for facts (one session's lines).
 * A file that does not exist is skipped (sk_audit_verify_files names
 * it). getline is getline(3)'s: > 0 a line (with its newline, if any),
 * 0 at the end, -1 with errno on a read error (sk_audit_reader_path
 * names the file). sk_audit_reader_file is the base name of the file the
 * last line came from when the log has more than one file, else NULL;
 * sk_audit_reader_lineno its line number in that file. */
struct sk_audit_reader;
int sk_audit_reader_open(const char *path, struct sk_audit_reader **out);
ssize_t sk_audit_reader_getline(struct sk_audit_reader *rd, char **line,
                                size_t *cap);
const char *sk_audit_reader_file(const struct sk_audit_reader *rd);
uint64_t sk_audit_reader_lineno(const struct sk_audit_reader *rd);
const char *sk_audit_reader_path(const struct sk_audit_reader *rd);
void sk_audit_reader_free(struct sk_audit_reader *rd);

/* Verification of one line, line number no (for err), NUL-terminated
 * and without its newline: its form, that its "prev" is prev (skipped if
 * prev is NULL) and its signature by the trusted key its "key" names.
 * For readers that take facts from a few lines (one session's) without
 * walking the chain: the facts of a line that fails are not to be used.
 * Returns 0, SK_ERR_INVALID, SK_ERR_CRYPTO or SK_ERR_ALLOC, with err
 * ("line N: bad signature ...") set on failure. */
int sk_audit_verify_line(const char *line, uint64_t no, const char *prev,
                         sk_audit_keyfn keyfn, void *arg, char *err,
                         size_t errlen);

#endif
