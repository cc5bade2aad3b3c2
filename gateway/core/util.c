#include "util.h"
#include "exitcodes.h"
#include "sk-err.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

int sk_name_valid(const char *s)
{
    size_t i, n;

    if (s == NULL || (n = strlen(s)) == 0 || n > SK_NAME_MAX) {
        return 0;
    }
    if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0])) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '.' &&
            c != '_' && c != '-') {
            return 0;
        }
    }
    return 1;
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0 if
 * it is not well formed. Follows the Unicode table 3-7. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        return (n >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

        return (n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80)
                   ? 3
                   : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

        return (n >= 4 && p[1] >= lo && p[1] <= hi &&
                (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80)
                   ? 4
                   : 0;
    }
    return 0;
}

int sk_utf8_valid(const void *s, size_t n)
{
    const uint8_t *p = s;
    size_t i = 0, k;

    while (i < n) {
        if ((k = utf8_seq(p + i, n - i)) == 0) {
            return 0;
        }
        i += k;
    }
    return 1;
}

char *sk_utf8_repair(const void *s, size_t n)
{
    const uint8_t *p = s;
    char *out, *o;
    size_t i = 0, k;

    if (n > (SIZE_MAX - 1) / 3) {
        return NULL;
    }
    if ((out = malloc(n * 3 + 1)) == NULL) {
        return NULL;
    }
    o = out;
    while (i < n) {
        k = p[i] == 0 ? 0 : utf8_seq(p + i, n - i);
        if (k == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(o, p + i, k);
        o += k;
        i += k;
    }
    *o = '\0';
    return out;
}

char *sk_term_safe(const void *s, size_t n, unsigned flags)
{
    const uint8_t *p = s;
    char *out, *o;
    size_t i = 0, k;

    /* The longest rendering of one input byte: six output bytes. */
    if (n > (SIZE_MAX - 1) / 6) {
        return NULL;
    }
    if ((out = malloc(n * 6 + 1)) == NULL) {
        return NULL;
    }
    o = out;
    while (i < n) {
        uint8_t c = p[i];

        k = utf8_seq(p + i, n - i);
        if (k == 0) {
            if (flags & SK_TERM_JSON) {
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
            } else {
                o += snprintf(o, 5, "\\x%02X", c);
            }
            i++;
        } else if ((c == '\n' || c == '\t' || c == '\r') &&
                   (flags & SK_TERM_LINE)) {
            *o++ = ' ';
            i++;
        } else if (c == '\n' || c == '\t') {
            *o++ = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            o += snprintf(o, 7, "\\u%04X", c);
            i++;
        } else if (c == 0xc2 && p[i + 1] <= 0x9f) {
            /* k == 2, so p[i + 1] is a continuation byte: U+0080-U+009F */
            o += snprintf(o, 7, "\\u%04X", p[i + 1]);
            i += 2;
        } else {
            memcpy(o, p + i, k);
            o += k;
            i += k;
        }
    }
    *o = '\0';
    return out;
}

void sk_session_id(char *out, size_t outlen, time_t now)
{
    struct tm tm;
    char ts[32];

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, outlen, "%s-%08x", ts, (unsigned)randombytes_random());
}

void sk_time_fmt(time_t t, char *out, size_t outlen)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && outlen > 0) {
        out[0] = '\0';
    }
}

int sk_duration_parse(const char *s, int64_t *out)
{
    char *end;
    long long v;
    int64_t mult = 1;

    if (s == NULL || !isdigit((unsigned char)s[0])) {
        return SK_ERR_INVALID;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v <= 0) {
        return SK_ERR_INVALID;
    }
    if (*end != '\0') {
        if (end[1] != '\0') {
            return SK_ERR_INVALID;
        }
        switch (*end) {
        case 's':
            mult = 1;
            break;
        case 'm':
            mult = 60;
            break;
        case 'h':
            mult = 3600;
            break;
        case 'd':
            mult = 86400;
            break;
        case 'w':
            mult = 7 * 86400;
            break;
        default:
            return SK_ERR_INVALID;
        }
    }
    if (v > (10LL * 366 * 86400) / mult) {
        return SK_ERR_INVALID;
    }
    *out = (int64_t)v * mult;
    return 0;
}

int sk_time_parse(const char *s, time_t now, time_t *out)
{
    struct tm tm;
    const char *end;
    time_t t;

    if (s == NULL) {
        return SK_ERR_INVALID;
    }
    if (s[0] == '+') {
        int64_t d;

        if (sk_duration_parse(s + 1, &d) != 0) {
            return SK_ERR_INVALID;
        }
        *out = now + (time_t)d;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL || *end) {
        memset(&tm, 0, sizeof(tm));
        if ((end = strptime(s, "%Y-%m-%d %H:%M", &tm)) == NULL || *end) {
            memset(&tm, 0, sizeof(tm));
            if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL || *end) {
                return SK_ERR_INVALID;
            }
        }
    }
    if ((t = timegm(&tm)) == (time_t)-1) {
        return SK_ERR_INVALID;
    }
    *out = t;
    return 0;
}

const char *sk_clock_state(int adjtime_rc)
{
    /* A failed call says nothing about the clock: never "synchronized". */
    if (adjtime_rc < 0) {
        return "unknown";
    }
    return adjtime_rc == TIME_ERROR ? "unsynchronized" : "synchronized";
}

int sk_algos_prefer(const char *list, const char *mark, char *out,
                    size_t outlen)
{
    size_t len = strlen(list), used = 0;

    if (outlen < len + 1) {
        return SK_ERR_INVALID;
    }
    /* two passes over the names: the marked ones, then the rest */
    for (int pass = 0; pass < 2; pass++) {
        const char *p = list;

        while (*p != '\0') {
            size_t n = strcspn(p, ",");
            int marked = 0;

            for (size_t i = 0; mark[0] != '\0' && i + strlen(mark) <= n;
                 i++) {
                if (memcmp(p + i, mark, strlen(mark)) == 0) {
                    marked = 1;
                    break;
                }
            }
            if (n > 0 && marked == (pass == 0)) {
                if (used > 0) {
                    out[used++] = ',';
                }
                memcpy(out + used, p, n);
                used += n;
            }
            p += n;
            if (*p == ',') {
                p++;
            }
        }
    }
    out[used] = '\0';
    return 0;
}

int sk_hostkey_equal(const char *pinned, const char *presented)
{
    const char *sp = strchr(pinned, ' ');
    size_t n;

    if (sp == NULL || sp == pinned || sp[1] == '\0' || sp[1] == ' ') {
        return 0;
    }
    /* "TYPE BASE64" of the pin; anything after a further space is a
     * comment an older row may carry. */
    n = (size_t)(sp + 1 - pinned) + strcspn(sp + 1, " ");
    return strlen(presented) == n && memcmp(pinned, presented, n) == 0;
}

int sk_hostport_parse(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon, *h;
    size_t hl;
    char *end;
    long p;

    if (s == NULL || (colon = strrchr(s, ':')) == NULL) {
        return SK_ERR_INVALID;
    }
    h = s;
    hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && colon[-1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(s, ':', hl) != NULL) {
        return SK_ERR_INVALID; /* bare IPv6 needs brackets */
    }
    if (hl == 0 || hl >= hostlen) {
        return SK_ERR_INVALID;
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
        p > 65535) {
        return SK_ERR_INVALID;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int sk_file_write_new(const char *path, const void *p, size_t n, int mode)
{
    int fd;
    ssize_t w;
    size_t off = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode);
    if (fd < 0) {
        return errno == EEXIST ? SK_ERR_EXISTS : SK_ERR_SYSTEM;
    }
    while (off < n) {
        w = write(fd, (const char *)p + off, n - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        goto fail;
    }
    if (close(fd) != 0) {
        unlink(path);
        return SK_ERR_SYSTEM;
    }
    return 0;
fail:
    close(fd);
    unlink(path);
    return SK_ERR_SYSTEM;
}

int sk_file_read(const char *path, size_t maxlen, char **out, size_t *outlen)
{
    int fd, r = SK_ERR_SYSTEM;
    struct stat st;
    char *p = NULL;
    size_t off = 0;
    ssize_t n;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        return SK_ERR_SYSTEM;
    }
    if (fstat(fd, &st) != 0) {
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if ((size_t)st.st_size > maxlen) {
        r = SK_ERR_TOO_LONG;
        goto out;
    }
    if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    while (off < (size_t)st.st_size) {
        n = read(fd, p + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto out;
        }
        off += (size_t)n;
    }
    p[off] = '\0';
    *out = p;
    if (outlen != NULL) {
        *outlen = off;
    }
    p = NULL;
    r = 0;
out:
    if (p != NULL) {
        sodium_memzero(p, (size_t)st.st_size);
        free(p);
    }
    close(fd);
    return r;
}

void sk_local_time(const char *tz, time_t now, int *wday, int *minute,
                   int *second)
{
    struct tm tm;

    setenv("TZ", tz, 1);
    tzset();
    localtime_r(&now, &tm);
    *wday = tm.tm_wday;
    *minute = tm.tm_hour * 60 + tm.tm_min;
    if (second != NULL) {
        *second = tm.tm_sec;
    }
}

void sk_secret_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

/* Dies with the monitor: SIGKILL on its death (set again after every
 * credential change, which clears it), and a check for the race where it
 * died before the first prctl. */
void sk_die_with_parent(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
        getppid() != parent) {
        _exit(SK_EXIT_ERROR);
    }
}

int sk_actor_proof(const uint8_t nonce[32], const char *actor, int argc,
                   const char *const *argv, uint8_t out[32])
{
    crypto_generichash_state st;

    if (nonce == NULL || actor == NULL || argc < 0 ||
        (argc > 0 && argv == NULL) || out == NULL) {
        return SK_ERR_INVALID;
    }
    /* Keyed by the nonce; every word with its NUL, so "a b" and "ab"
     * differ. */
    if (crypto_generichash_init(&st, nonce, 32, 32) != 0 ||
        crypto_generichash_update(&st, (const uint8_t *)actor,
                                  strlen(actor) + 1) != 0) {
        return SK_ERR_CRYPTO;
    }
    for (int i = 0; i < argc; i++) {
        if (argv[i] == NULL ||
            crypto_generichash_update(&st, (const uint8_t *)argv[i],
                                      strlen(argv[i]) + 1) != 0) {
            return SK_ERR_INVALID;
        }
    }
    return crypto_generichash_final(&st, out, 32) == 0 ? 0 : SK_ERR_CRYPTO;
}

void sk_close_fds_except(const int *keep, int nkeep)
{
    unsigned int lo = 3;
    long max;

    /* close_range() per gap between the kept descriptors: one system call
     * per gap instead of one per possible descriptor (RLIMIT_NOFILE is
     * often 20000 or more, and this runs for every session). */
    for (;;) {
        unsigned int next = ~0U;

        for (int i = 0; i < nkeep; i++) {
            if (keep[i] >= (int)lo && (unsigned int)keep[i] < next) {
                next = (unsigned int)keep[i];
            }
        }
        if (next > lo && close_range(lo, next - 1, 0) != 0) {
            break; /* kernel or sandbox without it: the slow way below */
        }
        if (next == ~0U) {
            return;
        }
        lo = next + 1;
    }
    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) {
        max = 65536;
    }
    for (int fd = (int)lo; fd < max; fd++) {
        int k = 0;

        for (int i = 0; i < nkeep; i++) {
            k |= keep[i] == fd;
        }
        if (!k) {
            close(fd);
        }
    }
}

struct sk_strix_slot {
    char *key; /* NULL: empty */
    size_t pos;
};

static size_t strix_home(const struct sk_strix *ix, const char *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;

    /* Cannot fail: SipHash over a buffer. */
    (void)crypto_shorthash(h, (const unsigned char *)key, strlen(key),
                           ix->key);
    memcpy(&v, h, sizeof(v));
    return (size_t)v & (ix->cap - 1);
}

int sk_strix_find(const struct sk_strix *ix, const char *key, size_t *pos)
{
    if (ix->cap == 0) {
        return 0;
    }
    /* Linear probing; the table is never more than half full, so an
     * empty slot ends every search. */
    for (size_t i = strix_home(ix, key);; i = (i + 1) & (ix->cap - 1)) {
        if (ix->slot[i].key == NULL) {
            return 0;
        }
        if (strcmp(ix->slot[i].key, key) == 0) {
            *pos = ix->slot[i].pos;
            return 1;
        }
    }
}

/* Places an owned key in a table known to have room. */
static void strix_place(struct sk_strix *ix, char *key, size_t pos)
{
    size_t i = strix_home(ix, key);

    while (ix->slot[i].key != NULL) {
        i = (i + 1) & (ix->cap - 1);
    }
    ix->slot[i].key = key;
    ix->slot[i].pos = pos;
    ix->n++;
}

int sk_strix_add(struct sk_strix *ix, const char *key, size_t pos)
{
    size_t dummy;
    char *k;

    if (ix->cap == 0) {
        randombytes_buf(ix->key, sizeof(ix->key));
    }
    if (sk_strix_find(ix, key, &dummy)) {
        return SK_ERR_EXISTS;
    }
    if ((ix->n + 1) * 2 > ix->cap) {
        struct sk_strix old = *ix;
        size_t nc = ix->cap ? ix->cap * 2 : 64;

        if (nc < ix->cap || (ix->slot = calloc(nc, sizeof(*ix->slot))) ==
                                NULL) {
            ix->slot = old.slot;
            return SK_ERR_ALLOC;
        }
        ix->cap = nc;
        ix->n = 0;
        for (size_t i = 0; i < old.cap; i++) {
            if (old.slot[i].key != NULL) {
                strix_place(ix, old.slot[i].key, old.slot[i].pos);
            }
        }
        free(old.slot);
    }
    if ((k = strdup(key)) == NULL) {
        return SK_ERR_ALLOC;
    }
    strix_place(ix, k, pos);
    return 0;
}

void sk_strix_free(struct sk_strix *ix)
{
    for (size_t i = 0; i < ix->cap; i++) {
        free(ix->slot[i].key);
    }
    free(ix->slot);
    sodium_memzero(ix, sizeof(*ix));
}

uint64_t sk_mono_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t sk_mono_ms(void)
{
    return (int64_t)(sk_mono_us() / 1000u);
}
