/*
 * Security audit events: one JSON object per line, appended to the audit
 * log and mirrored to syslog (LOG_AUTHPRIV). JSON is built with jansson, so
 * untrusted strings are escaped by the library; strings must be valid
 * UTF-8 (repair peer-supplied bytes with sk_utf8_repair first).
 *
 * Each line has "time" (RFC 3339 UTC), "event", "gateway", "pid" and the
 * caller's fields. Writes are one write(2) on an O_APPEND descriptor, so
 * concurrent session processes never interleave lines.
 */
#ifndef SK_AUDIT_H
#define SK_AUDIT_H

/* Opens (creating, mode 0600) the audit log. gateway_id names this gateway
 * in every line. Returns 0 or SK_ERR_SYSTEM. */
int sk_audit_open(const char *path, const char *gateway_id);
void sk_audit_close(void);

/* Emits an event; fmt is a jansson json_pack object format for the extra
 * fields ("{s:s, s:I}"), or NULL. Returns 0, or a negative SK_ERR_* if the
 * line could not be written: callers for which the record is a
 * precondition (session start) must then refuse to continue. */
int sk_audit(const char *event, const char *fmt, ...);

#endif
