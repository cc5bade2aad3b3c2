/* Small helpers shared by every process. Pure unless noted. */
#ifndef SK_UTIL_H
#define SK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define SK_NAME_MAX 32     /* user and target names */

/* 1 if s is a valid user/target name: 1..32 bytes of [a-z0-9._-], starting
 * with a letter or digit. Such names are safe in file names, logs and
 * shell-free command lines. */
int sk_name_valid(const char *s);

/* 1 if the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates). */
int sk_utf8_valid(const void *s, size_t n);

/* Copies n bytes of possibly-invalid UTF-8 into a new NUL-terminated
 * string, replacing each invalid sequence and each NUL with U+FFFD.
 * Returns NULL on allocation failure. Caller frees. */
char *sk_utf8_repair(const void *s, size_t n);

/* How sk_term_safe treats line breaks and its input. */
#define SK_TERM_LINE 0x1 /* LF, CR and TAB become spaces: one line */
#define SK_TERM_JSON 0x2 /* s is JSON text: invalid UTF-8 becomes U+FFFD
                          * (never \xNN), so the result stays valid JSON
                          * with the same value */

/* The one terminal-safe rendering of text that came from a client, a
 * target or a worker, for anything a person reads on a terminal. Copies
 * the n bytes at s into a new NUL-terminated string in which nothing can
 * act on a terminal: C0 controls (but LF and TAB, kept unless
 * SK_TERM_LINE), DEL and the C1 controls U+0080-U+009F (UTF-8 C2 80-9F,
 * which UTF-8 and JSON checks let through but terminals obey) are written
 * as "\u00XX"; a byte that is not part of well-formed UTF-8 as "\xNN".
 * All other text, Japanese included, is kept as it is. A backslash is not
 * escaped: the rendering is for reading, the store keeps the original.
 * Returns NULL on allocation failure. Caller frees. Pure. */
char *sk_term_safe(const void *s, size_t n, unsigned flags);

/* Writes a new random session id (lower-case, sortable by start time:
 * "20261122T034255Z-" + 8 hex) into out (>= 32 bytes). */
void sk_session_id(char *out, size_t outlen, time_t now);

/* Formats t as RFC 3339 UTC ("2026-11-22T03:42:55Z") into out (>= 21). */
void sk_time_fmt(time_t t, char *out, size_t outlen);

/* Parses an absolute time: RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ",
 * "YYYY-MM-DD HH:MM" (UTC) or "YYYY-MM-DD" (00:00 UTC); or a relative
 * "+DURATION". Returns 0 or SK_ERR_INVALID. */
int sk_time_parse(const char *s, time_t now, time_t *out);

/* Parses "90", "90s", "15m", "8h", "30d" into seconds (> 0, < 10 years).
 * Returns 0 or SK_ERR_INVALID. */
int sk_duration_parse(const char *s, int64_t *out);

/* Parses "ADDR:PORT" or "[V6]:PORT" into host (copied, <= hostlen) and
 * port. Returns 0 or SK_ERR_INVALID. */
int sk_hostport_parse(const char *s, char *host, size_t hostlen, int *port);

/* 1 if the host key a server presented ("TYPE BASE64") is exactly the
 * pinned one (its "TYPE BASE64", a comment after it ignored): the whole
 * key, not a prefix of it. 0 otherwise, also for a malformed pin. */
int sk_hostkey_equal(const char *pinned, const char *presented);

/* The comma-separated list with the names that contain `mark` moved to
 * the front, each group in its own order ("a,x-gcm,b", "-gcm" ->
 * "x-gcm,a,b"): the same algorithms, another preference. Returns 0, or
 * SK_ERR_INVALID if out (outlen bytes) is too small. */
int sk_algos_prefer(const char *list, const char *mark, char *out,
                    size_t outlen);

/* The transcript header's clock_sync word for what ntp_adjtime(2) with
 * modes 0 returned: "unknown" when the kernel could not be asked (rc < 0,
 * e.g. a seccomp filter such as systemd's ProtectClock= refused the call),
 * "unsynchronized" for TIME_ERROR, "synchronized" otherwise. Pure. */
const char *sk_clock_state(int adjtime_rc);

/* Closes every descriptor from 3 up except the nkeep in keep[] (for a
 * forked child that must inherit nothing else). Not pure. */
void sk_close_fds_except(const int *keep, int nkeep);

/* For a child of the monitor (worker, recorder): SIGKILL when the parent
 * dies (PR_SET_PDEATHSIG), or _exit at once if it already has (getppid()
 * is no longer parent). Call right after fork and again after
 * sk_drop_privileges, since a credential change clears the setting. */
void sk_die_with_parent(pid_t parent);

/* The --actor proof (gateway/gwcmd.c answers, gateway/ctl/ctl-actor.c
 * asks): sekishoctl started for a person writes SK_ACTOR_ASK_LEN bytes on
 * its descriptor 3, SK_ACTOR_MAGIC then a fresh random 32-byte nonce; the
 * monitor that made that socket and started it answers with the 32 bytes
 * sk_actor_proof computes from the nonce, the actor and the words it
 * started it with. An answer must follow the question, so nothing a
 * forger wrote into a socket before exec'ing some program can be one.
 * Pure; returns 0, or SK_ERR_INVALID on a NULL argument. */
#define SK_ACTOR_MAGIC "sekisho-actor-v1"
#define SK_ACTOR_MAGIC_LEN 16
#define SK_ACTOR_ASK_LEN (SK_ACTOR_MAGIC_LEN + 32)
int sk_actor_proof(const uint8_t nonce[32], const char *actor, int argc,
                   const char *const *argv, uint8_t out[32]);

/* Wipes a NUL-terminated secret (password, code) and frees it. NULL is
 * fine. */
void sk_secret_free(char *s);

/* Weekday (0 = Sunday), minute of the day and, where second is not NULL,
 * second of that minute (0..60) of now in time zone tz (a zoneinfo name).
 * Not pure: sets TZ for the process. */
void sk_local_time(const char *tz, time_t now, int *wday, int *minute,
                   int *second);

/* Creates path exclusively (O_EXCL|O_NOFOLLOW, mode) and writes n bytes.
 * Not pure: touches the file system. Returns 0 or SK_ERR_SYSTEM/EXISTS. */
int sk_file_write_new(const char *path, const void *p, size_t n, int mode);

/* Reads a whole regular file of at most maxlen bytes into a new
 * NUL-terminated buffer (*out, length *outlen). Caller frees (wipe first
 * if secret). Returns 0, SK_ERR_SYSTEM or SK_ERR_TOO_LONG. */
int sk_file_read(const char *path, size_t maxlen, char **out, size_t *outlen);

/* An index from strings to positions in the caller's array, so that
 * lookups over years of sessions or audit lines are not a scan each.
 * Keys are copied; hashed with SipHash under a per-index random key, so
 * crafted keys cannot make it degrade. Zero-initialise; not thread-safe. */
struct sk_strix {
    struct sk_strix_slot *slot;
    size_t cap; /* 0 or a power of two */
    size_t n;
    unsigned char key[16];
};
/* 1 and *pos set if key is there, else 0. */
int sk_strix_find(const struct sk_strix *ix, const char *key, size_t *pos);
/* Adds key -> pos. Returns 0, SK_ERR_EXISTS (key already there, index
 * unchanged) or SK_ERR_ALLOC. Needs sodium_init(). */
int sk_strix_add(struct sk_strix *ix, const char *key, size_t pos);
/* Frees the index and zeroes it for reuse. */
void sk_strix_free(struct sk_strix *ix);

/* Milliseconds and microseconds of CLOCK_MONOTONIC (0 if the clock
 * fails). */
int64_t sk_mono_ms(void);
uint64_t sk_mono_us(void);

/* `PROGRAM --version`: prints "prog X.Y.Z" (SK_VERSION, the CMake project
 * version) on the first line, then the state schema this program writes
 * and the library versions it runs with, to stdout. */
void sk_version_print(const char *prog);

#endif
