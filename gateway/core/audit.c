#include "audit.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
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
static char audit_path[PATH_MAX];
/* Rotation limits (0: none) and the time of the first line of the file
 * audit_fd holds, for the age limit. */
static uint64_t rot_bytes;
static int64_t rot_age;
static time_t audit_birth;

#define STAMP_LEN 16 /* YYYYMMDDTHHMMSSZ */

/* When the file fd holds began: the time of its first line ("time" is
 * always the first member), or now for an empty or unreadable one (so
 * it is not rotated for age at once). */
static time_t file_birth(int fd)
{
    char buf[64];
    time_t t;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n < 30 || memcmp(buf, "{\"time\":\"", 9) != 0) {
        return time(NULL);
    }
    buf[9 + 20] = '\0';
    if (sk_time_parse(buf + 9, time(NULL), &t) != 0) {
        return time(NULL);
    }
    return t;
}

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
    if (strlen(path) >= sizeof(audit_path) - STAMP_LEN - 16) {
        errno = ENAMETOOLONG;
        return SK_ERR_TOO_LONG;
    }
    /* Set first: a line that cannot be written because the open failed
     * still names its gateway in the alert that reports it lost. */
    snprintf(audit_gw, sizeof(audit_gw), "%s", gateway_id);
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        return SK_ERR_SYSTEM;
    }
    if (audit_fd >= 0) {
        close(audit_fd);
    }
    audit_fd = fd;
    snprintf(audit_path, sizeof(audit_path), "%s", path);
    audit_birth = file_birth(fd);
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

/* Signs obj (its "key" and "prev" set here) and appends it to fd as one
 * line with one write(2). Called under the lock. */
static int append_obj(int fd, json_t *obj, const char *prev, int prio)
{
    char b64[128], *body = NULL, *line = NULL;
    size_t len;
    ssize_t w;
    int r = SK_ERR_INTERNAL;

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
    syslog(LOG_AUTHPRIV | (prio >= 0 ? prio : LOG_NOTICE), "audit %.*s",
           (int)strlen(line) - 1, line);
    len = strlen(line);
    do {
        w = write(fd, line, len);
    } while (w < 0 && errno == EINTR);
    if (w >= 0 && (size_t)w != len) {
        /* A short write (full disk) leaves a torn line: cut it off so the
         * chain stays whole, and report the failure. */
        struct stat st;

        if (fstat(fd, &st) == 0) {
            (void)!ftruncate(fd, st.st_size - w);
        }
        errno = ENOSPC;
    }
    r = (w == (ssize_t)len) ? 0 : SK_ERR_SYSTEM;
out:
    free(line);
    free(body);
    return r;
}

/* Takes the lock on the file that is audit.log now. Another process may
 * have rotated it since we opened it: the file we hold is then a rotated
 * one (its name changed under us), so we open the new one and lock that
 * instead; appending to the old file would fork the chain. */
static int lock_current(void)
{
    struct stat held, now;
    int fd;

    for (;;) {
        while (flock(audit_fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                return SK_ERR_SYSTEM;
            }
        }
        if (fstat(audit_fd, &held) != 0) {
            (void)flock(audit_fd, LOCK_UN);
            return SK_ERR_SYSTEM;
        }
        if (stat(audit_path, &now) == 0 && now.st_dev == held.st_dev &&
            now.st_ino == held.st_ino) {
            return 0;
        }
        fd = open(audit_path,
                  O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        (void)flock(audit_fd, LOCK_UN);
        if (fd < 0) {
            return SK_ERR_SYSTEM;
        }
        close(audit_fd);
        audit_fd = fd;
        audit_birth = file_birth(fd);
    }
}

/* Is a name the rotated form of base: base "." YYYYMMDDTHHMMSSZ? */
static int rotated_name(const char *name, const char *base)
{
    size_t bl = strlen(base);

    if (strncmp(name, base, bl) != 0 || name[bl] != '.' ||
        strlen(name + bl + 1) != STAMP_LEN) {
        return 0;
    }
    for (size_t i = 0; i < STAMP_LEN; i++) {
        char c = name[bl + 1 + i];

        if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : (c < '0' || c > '9')) {
            return 0;
        }
    }
    return 1;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sk_audit_files_free(char **paths, size_t n)
{
    if (paths == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(paths[i]);
    }
    free(paths);
}

/* The files of the log, as sk_audit_files says. A rotated name that is
 * the current file itself (a rotation cut short between its link and its
 * rename) is left out, its content being the current file's; *dup (may
 * be NULL) receives that name, for the next rotation to finish with. */
static int list_files(const char *log, char ***paths, size_t *n,
                      char **dup)
{
    char *dir = NULL, *base = NULL, **v = NULL, **nv, *cur = NULL;
    const char *slash;
    size_t cnt = 0, cap = 0;
    struct stat st, cst, rst;
    int have_cur;
    DIR *d = NULL;
    struct dirent *e;
    int r = SK_ERR_ALLOC;

    *paths = NULL;
    *n = 0;
    if (dup != NULL) {
        *dup = NULL;
    }
    if (stat(log, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (asprintf(&dir, "%s", log) < 0) {
            dir = NULL;
            goto out;
        }
        if (asprintf(&base, "%s", "audit.log") < 0) {
            base = NULL;
            goto out;
        }
    } else {
        slash = strrchr(log, '/');
        if (asprintf(&dir, "%.*s",
                     slash == NULL || slash == log ? 1 : (int)(slash - log),
                     slash == NULL ? "." : log) < 0) {
            dir = NULL;
            goto out;
        }
        if (asprintf(&base, "%s", slash == NULL ? log : slash + 1) < 0) {
            base = NULL;
            goto out;
        }
    }
    if (asprintf(&cur, "%s/%s", dir, base) < 0) {
        cur = NULL;
        goto out;
    }
    have_cur = stat(cur, &cst) == 0;
    if ((d = opendir(dir)) == NULL) {
        r = SK_ERR_SYSTEM;
        goto out;
    }
    /* One spare slot for the current file. */
    while ((e = readdir(d)) != NULL || cnt == cap) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                goto out;
            }
            v = nv;
        }
        if (e == NULL) {
            break;
        }
        if (!rotated_name(e->d_name, base)) {
            continue;
        }
        if (asprintf(&v[cnt], "%s/%s", dir, e->d_name) < 0) {
            goto out;
        }
        if (have_cur && stat(v[cnt], &rst) == 0 &&
            rst.st_dev == cst.st_dev && rst.st_ino == cst.st_ino) {
            if (dup != NULL && *dup == NULL) {
                *dup = v[cnt];
            } else {
                free(v[cnt]);
            }
            continue;
        }
        cnt++;
    }
    if (cnt > 1) {
        /* The stamps sort as the rotations happened. */
        qsort(v, cnt, sizeof(*v), cmp_path);
    }
    v[cnt++] = cur;
    cur = NULL;
    *paths = v;
    *n = cnt;
    v = NULL;
    cnt = 0;
    r = 0;
out:
    if (d != NULL) {
        closedir(d);
    }
    if (r != 0 && dup != NULL) {
        free(*dup);
        *dup = NULL;
    }
    sk_audit_files_free(v, cnt);
    free(cur);
    free(dir);
    free(base);
    return r;
}

int sk_audit_files(const char *log, char ***paths, size_t *n)
{
    return list_files(log, paths, n, NULL);
}

/* Rotates under the lock held on audit_fd: the current file keeps its
 * content under audit.log.STAMP, and a new audit.log begins with a
 * log_rotated line whose "prev" is the hash of the old file's last line,
 * so the chain runs on across files. The new file is written and locked
 * before a rename puts it in place, so the path never lacks a file and
 * no writer can put a line before the rotation line. On success audit_fd
 * is the new file, still locked. */
static int rotate_locked(const char *reason, const char *admin,
                         char *rotated, size_t rotatedlen)
{
    char prev[65], stamp[STAMP_LEN + 1], name[PATH_MAX + 32];
    char tmp[PATH_MAX + 16];
    char ts[32], **files = NULL, *dup = NULL;
    const char *slash;
    size_t nfiles = 0;
    struct stat st;
    struct tm tm;
    time_t now = time(NULL);
    json_t *obj = NULL;
    int r, nfd = -1, linked = 0;

    if (fstat(audit_fd, &st) != 0) {
        return SK_ERR_SYSTEM;
    }
    if (st.st_size == 0) {
        /* Nothing to keep; a rotated empty file would break the walk. */
        return SK_ERR_INVALID;
    }
    if ((r = last_line_hash(audit_fd, prev)) != 0) {
        return r;
    }
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) !=
            STAMP_LEN) {
        return SK_ERR_INTERNAL;
    }
    snprintf(name, sizeof(name), "%s.%s", audit_path, stamp);
    snprintf(tmp, sizeof(tmp), "%s.rotating", audit_path);
    /* Verifiers order files by name: a new one must sort last (a clock
     * set back, or a second rotation within one second, waits). */
    if ((r = list_files(audit_path, &files, &nfiles, &dup)) != 0) {
        return r;
    }
    if (dup != NULL) {
        /* A rotation cut short after its link: the name is taken by
         * this very file, so the rotation finishes under it. */
        snprintf(name, sizeof(name), "%s", dup);
        free(dup);
        dup = NULL;
        linked = -1;
    } else if (nfiles > 1 && strcmp(files[nfiles - 2], name) >= 0) {
        sk_audit_files_free(files, nfiles);
        errno = EEXIST;
        return SK_ERR_EXISTS;
    }
    sk_audit_files_free(files, nfiles);
    slash = strrchr(name, '/');
    sk_time_fmt(now, ts, sizeof(ts));
    obj = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "time", ts,
                    "event", "log_rotated", "gateway", audit_gw, "pid",
                    (json_int_t)getpid(), "previous",
                    slash == NULL ? name : slash + 1, "reason", reason,
                    "previous_size", (json_int_t)st.st_size);
    if (obj == NULL ||
        (admin != NULL &&
         json_object_set_new(obj, "admin", json_string(admin)) != 0)) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    /* A leftover of a rotation cut short is never in use: we hold the
     * lock every rotation takes. */
    (void)unlink(tmp);
    nfd = open(tmp,
               O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
    if (nfd < 0 || fchown(nfd, st.st_uid, st.st_gid) != 0 ||
        fchmod(nfd, st.st_mode & 0777) != 0 || flock(nfd, LOCK_EX) != 0) {
        r = SK_ERR_SYSTEM;
        goto out;
    }
    if ((r = append_obj(nfd, obj, prev, -1)) != 0) {
        goto out;
    }
    if (linked == 0 && link(audit_path, name) != 0) {
        r = errno == EEXIST ? SK_ERR_EXISTS : SK_ERR_SYSTEM;
        goto out;
    }
    linked = linked == 0 ? 1 : linked;
    if (rename(tmp, audit_path) != 0) {
        r = SK_ERR_SYSTEM;
        goto out;
    }
    (void)fsync(nfd);
    {
        /* The two names on disk, not only in the cache, before the old
         * file is let go of. */
        char d[PATH_MAX + 32];
        int dfd;

        snprintf(d, sizeof(d), "%.*s",
                 slash == NULL ? 1 : slash == name ? 1 : (int)(slash - name),
                 slash == NULL ? "." : name);
        if ((dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    (void)flock(audit_fd, LOCK_UN);
    close(audit_fd);
    audit_fd = nfd;
    nfd = -1;
    audit_birth = now;
    if (rotated != NULL) {
        snprintf(rotated, rotatedlen, "%s", name);
    }
    r = 0;
out:
    if (nfd >= 0) {
        int saved = errno;

        if (linked == 1) {
            (void)unlink(name);
        }
        (void)unlink(tmp);
        close(nfd);
        errno = saved;
    }
    json_decref(obj);
    return r;
}

void sk_audit_set_rotation(uint64_t max_bytes, int64_t max_age)
{
    rot_bytes = max_bytes;
    rot_age = max_age;
}

int sk_audit_rotate(const char *admin, char *rotated, size_t rotatedlen)
{
    int r;

    if (audit_fd < 0 || audit_signer == NULL) {
        errno = EBADF;
        return SK_ERR_SYSTEM;
    }
    if ((r = lock_current()) != 0) {
        return r;
    }
    r = rotate_locked("admin", admin, rotated, rotatedlen);
    (void)flock(audit_fd, LOCK_UN);
    return r;
}

/* Is the file under the lock due for rotation? */
static const char *rotation_due(void)
{
    struct stat st;

    if (fstat(audit_fd, &st) != 0 || st.st_size == 0) {
        return NULL;
    }
    if (rot_bytes > 0 && (uint64_t)st.st_size >= rot_bytes) {
        return "size";
    }
    if (rot_age > 0 && time(NULL) - audit_birth >= rot_age) {
        return "age";
    }
    return NULL;
}

int sk_audit(const char *event, const char *fmt, ...)
{
    json_t *obj = NULL, *extra = NULL;
    json_error_t jerr;
    char ts[32], prev[65];
    const char *why;
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
    if ((r = lock_current()) != 0) {
        goto out;
    }
    locked = 1;
    /* A rotation that cannot happen now (a clock set back, a full disk)
     * is tried again at the next line; the event is never lost for it. */
    if ((why = rotation_due()) != NULL) {
        (void)rotate_locked(why, NULL, NULL, 0);
    }
    if ((r = last_line_hash(audit_fd, prev)) != 0) {
        goto out;
    }
    prio = sk_audit_alert_prio(event);
    r = append_obj(audit_fd, obj, prev, prio);
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
    } else if (prio >= 0 && audit_alert != NULL) {
        char *j = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

        if (j != NULL) {
            audit_alert(event, prio, j, audit_alert_arg);
        }
        free(j);
    }
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

/* The chain walk of one file, from start (the hash its first line must
 * carry in "prev"). */
static int verify_stream(FILE *f, const char *start, sk_audit_keyfn keyfn,
                         void *arg, uint64_t *lines, uint64_t *bad_line,
                         char *last_hash, char *err, size_t errlen)
{
    char prev[65], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0;
    int r = 0;

    memcpy(prev, start, sizeof(prev));
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

int sk_audit_verify(FILE *f, sk_audit_keyfn keyfn, void *arg,
                    uint64_t *lines, uint64_t *bad_line, char *last_hash,
                    char *err, size_t errlen)
{
    return verify_stream(f, GENESIS, keyfn, arg, lines, bad_line, last_hash,
                         err, errlen);
}

static const char *base_of(const char *path)
{
    const char *s = strrchr(path, '/');

    return s == NULL ? path : s + 1;
}

/* How file i begins: *start receives the "prev" its first line must
 * carry, or the reason it cannot be chained is put in err. The first
 * line's claims (the predecessor it names) are used only once its
 * signature is proved. */
static int file_start(char *const *paths, size_t i, const char *last,
                      FILE *f, sk_audit_keyfn keyfn, void *arg, char *start,
                      char *err, size_t errlen)
{
    char *line = NULL, e2[256];
    const char *ev = NULL, *p = NULL, *pred = NULL, *name = base_of(paths[i]);
    size_t cap = 0;
    ssize_t n;
    json_t *o = NULL;
    json_error_t je;
    int r;

    n = getline(&line, &cap, f);
    if (n <= 0) {
        free(line);
        if (ferror(f)) {
            return verr(err, errlen, SK_ERR_SYSTEM, "%s: read error", name);
        }
        if (i == 0) {
            memcpy(start, GENESIS, 65);
            return 0; /* an empty log: nothing yet, intact */
        }
        return verr(err, errlen, SK_ERR_CRYPTO,
                    "%s is empty: its rotation line after %s was removed",
                    name, base_of(paths[i - 1]));
    }
    rewind(f);
    if (line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    if (strlen(line) != (size_t)n ||
        (o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je)) ==
            NULL ||
        json_unpack(o, "{s:s, s:s, s?s}", "event", &ev, "prev", &p,
                    "previous", &pred) != 0) {
        /* The chain walk names what is wrong with it. */
        memcpy(start, i == 0 ? GENESIS : last, 65);
        r = 0;
        goto out;
    }
    if (strcmp(p, GENESIS) == 0) {
        if (i > 0) {
            r = verr(err, errlen, SK_ERR_CRYPTO,
                     "%s starts a new chain after %s (the log was replaced "
                     "or its rotation line removed)",
                     name, base_of(paths[i - 1]));
            goto out;
        }
        memcpy(start, GENESIS, 65);
        r = 0;
        goto out;
    }
    if (strcmp(ev, "log_rotated") != 0 || pred == NULL) {
        if (i > 0) {
            r = verr(err, errlen, SK_ERR_CRYPTO,
                     "%s does not begin with the log_rotated line after %s "
                     "(lines were removed from its start)",
                     name, base_of(paths[i - 1]));
        } else {
            r = verr(err, errlen, SK_ERR_CRYPTO,
                     "%s: line 1 does not start the chain (the lines "
                     "before it were removed)",
                     name);
        }
        goto out;
    }
    if ((r = sk_audit_verify_line(line, 1, NULL, keyfn, arg, e2,
                                  sizeof(e2))) != 0) {
        r = verr(err, errlen, r, "%s: %s", name, e2);
        goto out;
    }
    if (i == 0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "%s missing: chain breaks before %s (the oldest file kept "
                 "must start the log)",
                 pred, name);
        goto out;
    }
    if (strcmp(pred, base_of(paths[i - 1])) != 0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "%s missing: chain breaks between %s and %s", pred,
                 base_of(paths[i - 1]), name);
        goto out;
    }
    if (strcmp(p, last) != 0) {
        r = verr(err, errlen, SK_ERR_CRYPTO,
                 "%s: line 1 does not follow the last line of %s (lines "
                 "were removed from its end, or it was replaced)",
                 name, base_of(paths[i - 1]));
        goto out;
    }
    memcpy(start, last, 65);
    r = 0;
out:
    json_decref(o);
    free(line);
    return r;
}

int sk_audit_verify_files(char *const *paths, size_t n, sk_audit_keyfn keyfn,
                          void *arg, uint64_t *lines, uint64_t *good,
                          char *last_hash, char *err, size_t errlen)
{
    char last[65], start[65], e2[256];
    uint64_t fl = 0, fbad = 0;
    FILE *f;
    int r = 0;

    memcpy(last, GENESIS, sizeof(last));
    *lines = 0;
    *good = 0;
    for (size_t i = 0; i < n; i++) {
        if ((f = fopen(paths[i], "r")) == NULL) {
            r = verr(err, errlen, SK_ERR_SYSTEM, "%s: %s", base_of(paths[i]),
                     strerror(errno));
            break;
        }
        r = file_start(paths, i, last, f, keyfn, arg, start, err, errlen);
        if (r == 0) {
            r = verify_stream(f, start, keyfn, arg, &fl, &fbad, last, e2,
                              sizeof(e2));
            *lines += fl;
            if (r != 0) {
                *good += fbad - 1;
                if (n > 1) {
                    verr(err, errlen, r, "%s: %s", base_of(paths[i]), e2);
                } else {
                    verr(err, errlen, r, "%s", e2);
                }
            } else {
                *good += fl;
            }
        }
        fclose(f);
        if (r != 0) {
            break;
        }
    }
    if (last_hash != NULL) {
        memcpy(last_hash, last, 65);
    }
    return r;
}

struct sk_audit_reader {
    char **files;
    size_t n, next;
    FILE *f;
    uint64_t lno;
};

int sk_audit_reader_open(const char *path, struct sk_audit_reader **out)
{
    struct sk_audit_reader *rd = calloc(1, sizeof(*rd));
    int r;

    *out = NULL;
    if (rd == NULL) {
        return SK_ERR_ALLOC;
    }
    if ((r = sk_audit_files(path, &rd->files, &rd->n)) != 0) {
        free(rd);
        return r;
    }
    *out = rd;
    return 0;
}

ssize_t sk_audit_reader_getline(struct sk_audit_reader *rd, char **line,
                                size_t *cap)
{
    ssize_t n;

    for (;;) {
        if (rd->f != NULL) {
            errno = 0;
            if ((n = getline(line, cap, rd->f)) > 0) {
                rd->lno++;
                return n;
            }
            if (ferror(rd->f)) {
                return -1;
            }
            fclose(rd->f);
            rd->f = NULL;
        }
        if (rd->next == rd->n) {
            return 0;
        }
        rd->lno = 0;
        if ((rd->f = fopen(rd->files[rd->next++], "r")) == NULL &&
            errno != ENOENT) {
            return -1;
        }
    }
}

const char *sk_audit_reader_file(const struct sk_audit_reader *rd)
{
    if (rd->n < 2 || rd->next == 0) {
        return NULL;
    }
    return base_of(rd->files[rd->next - 1]);
}

uint64_t sk_audit_reader_lineno(const struct sk_audit_reader *rd)
{
    return rd->lno;
}

const char *sk_audit_reader_path(const struct sk_audit_reader *rd)
{
    return rd->next == 0 ? rd->files[0] : rd->files[rd->next - 1];
}

void sk_audit_reader_free(struct sk_audit_reader *rd)
{
    if (rd == NULL) {
        return;
    }
    if (rd->f != NULL) {
        fclose(rd->f);
    }
    sk_audit_files_free(rd->files, rd->n);
    free(rd);
}
