#include "audit.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define SIG_PREFIX ",\"sig\":\""
#define GENESIS                                                                \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define LINE_MAX_BYTES (1024 * 1024)

static int audit_fd = -1;
static char audit_gw[64] = "sekisho";
static const struct sk_key *audit_signer;
static char audit_key_id[40];
static sk_audit_alert_fn audit_alert;
static void *audit_alert_arg;

/* Security events that need a person, with the severity syslog gets. */
static const struct {
    const char *event;
    int prio;
} alert_events[] = {
    {"account_locked", LOG_WARNING},
    {"source_blocked", LOG_WARNING},
    {"sandbox_violation", LOG_ALERT},
    {"protocol_violation", LOG_ALERT},
    {"recording_failed", LOG_CRIT},
    {"storage_low", LOG_CRIT},
    {"clock_unsynchronized", LOG_WARNING},
    {"audit_chain_error", LOG_ALERT},
    {"audit_write_failed", LOG_ALERT},
};

int sk_audit_alert_prio(const char *event)
{
    size_t i;

    for (i = 0; i < sizeof(alert_events) / sizeof(alert_events[0]); i++) {
        if (strcmp(alert_events[i].event, event) == 0) {
            return alert_events[i].prio;
        }
    }
    return -1;
}

void sk_audit_set_alert(sk_audit_alert_fn fn, void *arg)
{
    audit_alert = fn;
    audit_alert_arg = arg;
}

int sk_audit_open(const char *path, const char *gateway_id,
                  const struct sk_key *signer)
{
    uint8_t pk[32];
    int fd;

    if (signer == NULL) {
        return SK_ERR_INVALID;
    }
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        return SK_ERR_SYSTEM;
    }
    if (audit_fd >= 0) {
        close(audit_fd);
    }
    audit_fd = fd;
    audit_signer = signer;
    sk_key_pub_raw(signer, pk);
    sk_key_id("ed25519", pk, sizeof(pk), audit_key_id, sizeof(audit_key_id));
    snprintf(audit_gw, sizeof(audit_gw), "%s", gateway_id);
    return 0;
}

void sk_audit_close(void)
{
    if (audit_fd >= 0) {
        close(audit_fd);
        audit_fd = -1;
    }
    audit_signer = NULL;
}

static void line_hash(const char *line, size_t len, char out[65])
{
    uint8_t h[32];

    crypto_generichash(h, sizeof(h), (const uint8_t *)line, len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

void sk_audit_line_hash(const char *line, size_t len, char out[65])
{
    line_hash(line, len, out);
}

/* Hash of the file's last line (without its newline), or the genesis
 * value for an empty file. Called under the lock. */
static int last_line_hash(int fd, char out[65])
{
    struct stat st;
    char *buf = NULL;
    size_t want = 4096, start;
    ssize_t n;
    off_t size;

    if (fstat(fd, &st) != 0) {
        return SK_ERR_SYSTEM;
    }
    size = st.st_size;
    if (size == 0) {
        memcpy(out, GENESIS, 65);
        return 0;
    }
    for (;;) {
        size_t len = (off_t)want < size ? want : (size_t)size;

        free(buf);
        if ((buf = malloc(len)) == NULL) {
            return SK_ERR_ALLOC;
        }
        n = pread(fd, buf, len, size - (off_t)len);
        if (n != (ssize_t)len) {
            free(buf);
            return SK_ERR_SYSTEM;
        }
        if (buf[len - 1] != '\n') {
            /* A torn last line (a crash mid-write cannot happen with one
             * write(2), but a full disk can): refuse to chain onto it. */
            free(buf);
            errno = EILSEQ;
            return SK_ERR_INVALID;
        }
        for (start = len - 1; start > 0 && buf[start - 1] != '\n'; start--) {
        }
        if (start > 0 || (off_t)len == size) {
            line_hash(buf + start, len - 1 - start, out);
            free(buf);
            return 0;
        }
        if (want >= LINE_MAX_BYTES) {
            free(buf);
            errno = E2BIG;
            return SK_ERR_TOO_LONG;
        }
        want *= 4;
    }
}

static int sign_line(const char *body, size_t len, char *b64, size_t b64len)
{
    uint8_t sig[SK_KEY_SIGLEN], *msg;
    int r;

    if ((msg = malloc(8 + len)) == NULL) {
        return SK_ERR_ALLOC;
    }
    memcpy(msg, "SKAUDIT1", 8);
    memcpy(msg + 8, body, len);
    r = sk_key_sign_raw(audit_signer, msg, 8 + len, sig);
    free(msg);
    if (r == 0) {
        sodium_bin2base64(b64, b64len, sig, sizeof(sig),
                          sodium_base64_VARIANT_ORIGINAL);
    }
    return r;
}

int sk_audit(const char *event, const char *fmt, ...)
{
    json_t *obj = NULL, *extra = NULL;
    json_error_t jerr;
    char ts[32], prev[65], b64[128], *body = NULL, *line = NULL;
    size_t len;
    ssize_t w;
    va_list ap;
    int r = SK_ERR_INTERNAL, locked = 0, prio = -1;

    sk_time_fmt(time(NULL), ts, sizeof(ts));
    obj = json_pack("{s:s, s:s, s:s, s:I}", "time", ts, "event", event,
                    "gateway", audit_gw, "pid", (json_int_t)getpid());
    if (obj == NULL) {
        goto out;
    }
    if (fmt != NULL) {
        va_start(ap, fmt);
        extra = json_vpack_ex(&jerr, 0, fmt, ap);
        va_end(ap);
        if (extra == NULL) {
            /* Never lose the event itself: record that fields were bad. */
            json_object_set_new(obj, "audit_error",
                                json_string("unencodable fields"));
        } else if (json_object_update(obj, extra) != 0) {
            goto out;
        }
    }
    /* Reserved members are ours, whatever a caller passed. */
    json_object_del(obj, "key");
    json_object_del(obj, "prev");
    json_object_del(obj, "sig");
    if (audit_fd < 0 || audit_signer == NULL) {
        r = SK_ERR_SYSTEM;
        errno = EBADF;
        goto out;
    }
    while (flock(audit_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            r = SK_ERR_SYSTEM;
            goto out;
        }
    }
    locked = 1;
    if ((r = last_line_hash(audit_fd, prev)) != 0) {
        goto out;
    }
    r = SK_ERR_INTERNAL;
    if (json_object_set_new(obj, "key", json_string(audit_key_id)) != 0 ||
        json_object_set_new(obj, "prev", json_string(prev)) != 0 ||
        (body = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
            NULL) {
        goto out;
    }
    len = strlen(body);
    if ((r = sign_line(body, len, b64, sizeof(b64))) != 0) {
        goto out;
    }
    /* body ends in '}': splice the signature in as the last member. */
    if (asprintf(&line, "%.*s%s%s\"}\n", (int)(len - 1), body, SIG_PREFIX,
                 b64) < 0) {
        line = NULL;
        r = SK_ERR_ALLOC;
        goto out;
    }
    prio = sk_audit_alert_prio(event);
    syslog(LOG_AUTHPRIV | (prio >= 0 ? prio : LOG_NOTICE), "audit %.*s",
           (int)strlen(line) - 1, line);
    len = strlen(line);
    do {
        w = write(audit_fd, line, len);
    } while (w < 0 && errno == EINTR);
    if (w >= 0 && (size_t)w != len) {
        /* A short write (full disk) leaves a torn line: cut it off so the
         * chain stays whole, and report the failure. */
        struct stat st;

        if (fstat(audit_fd, &st) == 0) {
            (void)!ftruncate(audit_fd, st.st_size - w);
        }
        errno = ENOSPC;
    }
    r = (w == (ssize_t)len) ? 0 : SK_ERR_SYSTEM;
out:
    if (locked) {
        (void)flock(audit_fd, LOCK_UN);
    }
    if (r != 0 && obj != NULL) {
        /* The record is lost: that alone needs a person, whatever the
         * event was. */
        char *j = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

        syslog(LOG_AUTHPRIV | LOG_ALERT, "audit log write failed (%s): %s",
               sk_err_str(r), j != NULL ? j : event);
        if (audit_alert != NULL) {
            audit_alert("audit_write_failed", LOG_ALERT, j != NULL ? j : "{}",
                        audit_alert_arg);
        }
        free(j);
    } else if (prio >= 0 && audit_alert != NULL && body != NULL) {
        audit_alert(event, prio, body, audit_alert_arg);
    }
    free(line);
    free(body);
    json_decref(extra);
    json_decref(obj);
    return r;
}

static int verr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int verr(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

int sk_audit_verify_line(const char *line, uint64_t no, const char *prev,
                         sk_audit_keyfn keyfn, void *arg, char *err,
                         size_t errlen)
{
    const char *sigp, *k = NULL, *p = NULL;
    char kid[40], *msg = NULL;
    size_t n = strlen(line), blen, siglen;
    uint8_t sig[SK_KEY_SIGLEN + 4], pk[32];
    json_t *o = NULL;
    json_error_t je;
    int r;

    /* The signature is the last member: `,"sig":"B64"}`. */
    sigp = strstr(line, SIG_PREFIX);
    if (sigp == NULL || n < 2 || line[n - 1] != '}' || line[n - 2] != '"' ||
        strstr(sigp + 1, SIG_PREFIX) != NULL) {
        return verr(err, errlen, SK_ERR_INVALID, "line %llu has no signature",
                    (unsigned long long)no);
    }
    blen = (size_t)(sigp - line);
    if (line + n - 2 < sigp + strlen(SIG_PREFIX) ||
        sodium_base642bin(sig, sizeof(sig), sigp + strlen(SIG_PREFIX),
                          (size_t)(line + n - 2 -
                                   (sigp + strlen(SIG_PREFIX))),
                          NULL, &siglen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        siglen != SK_KEY_SIGLEN) {
        return verr(err, errlen, SK_ERR_INVALID,
                    "line %llu: malformed signature", (unsigned long long)no);
    }
    /* The signed text is the line with the signature member cut
     * out: body up to sigp, then the closing brace. */
    if ((msg = malloc(8 + blen + 1)) == NULL) {
        return SK_ERR_ALLOC;
    }
    memcpy(msg, "SKAUDIT1", 8);
    memcpy(msg + 8, line, blen);
    msg[8 + blen] = '}';
    o = json_loadb(msg + 8, blen + 1, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL ||
        json_unpack(o, "{s:s, s:s}", "key", &k, "prev", &p) != 0 ||
        strlen(k) >= sizeof(kid)) {
        r = verr(err, errlen, SK_ERR_INVALID,
                 "line %llu is not a signed audit record",
                 (unsigned long long)no);
        goto out;
    }
    snprintf(kid, sizeof(kid), "%s", k);
    if (prev != NULL && strcmp(p, prev) != 0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "line %llu does not follow line %llu (a line was "
                 "removed, inserted, reordered or changed before it)",
                 (unsigned long long)no, (unsigned long long)(no - 1));
        goto out;
    }
    if (keyfn(kid, pk, arg) != 0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "line %llu is signed by %s, not a trusted key",
                 (unsigned long long)no, kid);
        goto out;
    }
    if (sk_key_verify_raw(pk, (const uint8_t *)msg, 8 + blen + 1, sig) !=
        0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "line %llu: bad signature (the line was altered)",
                 (unsigned long long)no);
        goto out;
    }
    r = 0;
out:
    json_decref(o);
    free(msg);
    return r;
}

int sk_audit_verify(FILE *f, sk_audit_keyfn keyfn, void *arg,
                    uint64_t *lines, uint64_t *bad_line, char *last_hash,
                    char *err, size_t errlen)
{
    char prev[65], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0;
    int r = 0;

    memcpy(prev, GENESIS, sizeof(prev));
    *bad_line = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[n - 1] != '\n') {
            r = verr(err, errlen, SK_ERR_INVALID,
                     "line %llu is cut short (no newline)",
                     (unsigned long long)no);
            break;
        }
        line[--n] = '\0';
        if (strlen(line) != (size_t)n) {
            r = verr(err, errlen, SK_ERR_INVALID,
                     "line %llu holds a NUL byte", (unsigned long long)no);
            break;
        }
        if ((r = sk_audit_verify_line(line, no, prev, keyfn, arg, err,
                                      errlen)) != 0) {
            break;
        }
        line_hash(line, (size_t)n, prev);
    }
    if (r == 0 && ferror(f)) {
        r = verr(err, errlen, SK_ERR_SYSTEM, "read error");
    }
    if (r != 0) {
        *bad_line = no;
    }
    *lines = no;
    if (last_hash != NULL) {
        memcpy(last_hash, prev, 65);
    }
    free(line);
    return r;
}
