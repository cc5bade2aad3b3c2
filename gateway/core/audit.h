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
 */
#ifndef SK_AUDIT_H
#define SK_AUDIT_H

#include "key.h"

#include <stdint.h>
#include <stdio.h>

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
