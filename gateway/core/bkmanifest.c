/* Backup manifests (see bkmanifest.h). */
#include "bkmanifest.h"
#include "sk-err.h"
#include "util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LIMIT 4095
#define LINE_LIMIT (PATH_LIMIT + 256)

int sk_bkman_path_ok(const char *path)
{
    size_t n, i, start;

    if (path == NULL || path[0] != '/') {
        return 0;
    }
    n = strlen(path);
    if (n > PATH_LIMIT || !sk_utf8_valid(path, n)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) {
            return 0;
        }
    }
    if (n == 1) {
        return 1;
    }
    /* Components between slashes: none empty, "." or ".." (a restore
     * must write exactly where the name says, never elsewhere). */
    for (start = 1; start <= n; start = i + 1) {
        for (i = start; i < n && path[i] != '/'; i++) {
        }
        if (i == start || (i - start == 1 && path[start] == '.') ||
            (i - start == 2 && path[start] == '.' && path[start + 1] == '.')) {
            return 0;
        }
    }
    return 1;
}

int sk_bkman_name_ok(const char *name)
{
    size_t i, n;

    if (name == NULL || strncmp(name, "sekisho-", 8) != 0) {
        return 0;
    }
    n = strlen(name);
    if (n <= 8 || n >= SK_BKMAN_NAME_MAX) {
        return 0;
    }
    for (i = 8; i < n; i++) {
        char c = name[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int hash_ok(const char *h)
{
    size_t i;

    if (h == NULL || strlen(h) != 64) {
        return 0;
    }
    for (i = 0; i < 64; i++) {
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int sk_bkman_add(struct sk_bkmanifest *m, int is_dir, unsigned mode,
                 uint64_t size, int64_t mtime, const char *hash,
                 const char *path)
{
    struct sk_bkentry *e;

    if (!sk_bkman_path_ok(path) || mode > 07777 ||
        (!is_dir && !hash_ok(hash)) || mtime < 0) {
        return SK_ERR_INVALID;
    }
    if (!is_dir && (size > UINT64_MAX - m->bytes)) {
        return SK_ERR_INVALID;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct sk_bkentry *ne = realloc(m->e, cap * sizeof(*ne));

        if (ne == NULL) {
            return SK_ERR_ALLOC;
        }
        m->e = ne;
        m->cap = cap;
    }
    e = &m->e[m->n];
    memset(e, 0, sizeof(*e));
    if ((e->path = strdup(path)) == NULL) {
        return SK_ERR_ALLOC;
    }
    e->is_dir = is_dir;
    e->mode = mode;
    if (!is_dir) {
        e->size = size;
        e->mtime = mtime;
        memcpy(e->hash, hash, 65);
        m->files++;
        m->bytes += size;
    }
    m->n++;
    return 0;
}

/* A growing text buffer; on failure it is freed and stays NULL. */
struct tbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void tb_printf(struct tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tb_printf(struct tbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL,
                      b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->p != NULL && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            char *np;

            while (cap - b->len <= (size_t)n) {
                cap *= 2;
            }
            if ((np = realloc(b->p, cap)) == NULL) {
                b->failed = 1;
                return;
            }
            b->p = np;
            b->cap = cap;
        }
    }
}

int sk_bkman_format(const struct sk_bkmanifest *m, char **out,
                    size_t *outlen)
{
    struct tbuf b = {NULL, 0, 0, 0};
    size_t i;

    if (!sk_bkman_name_ok(m->generation) || m->created[0] == '\0' ||
        !sk_bkman_path_ok(m->config)) {
        return SK_ERR_INVALID;
    }
    tb_printf(&b, "%s\ngeneration %s\ncreated %s\nconfig %s\n",
              SK_BKMAN_MAGIC, m->generation, m->created, m->config);
    for (i = 0; i < m->n; i++) {
        const struct sk_bkentry *e = &m->e[i];

        if (e->is_dir) {
            tb_printf(&b, "dir %04o %s\n", e->mode, e->path);
        } else {
            tb_printf(&b, "file %04o %llu %lld %s %s\n", e->mode,
                      (unsigned long long)e->size, (long long)e->mtime,
                      e->hash, e->path);
        }
    }
    tb_printf(&b, "total %llu %llu\n", (unsigned long long)m->files,
              (unsigned long long)m->bytes);
    if (b.failed) {
        free(b.p);
        return SK_ERR_ALLOC;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* Parses a decimal unsigned number ending at a space (or the end);
 * advances *s past it and one space. */
static int num(const char **s, int base, uint64_t max, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    int digits = 0;

    while (*p >= '0' && *p <= (base == 8 ? '7' : '9')) {
        unsigned d = (unsigned)(*p - '0');

        if (x > (max - d) / (unsigned)base) {
            return -1;
        }
        x = x * (unsigned)base + d;
        p++;
        digits++;
    }
    if (digits == 0 || digits > 20 || (*p != ' ' && *p != '\0')) {
        return -1;
    }
    if (*p == ' ') {
        p++;
    }
    *s = p;
    *v = x;
    return 0;
}

static int word(const char **s, char *out, size_t outlen)
{
    const char *p = *s;
    size_t n = strcspn(p, " ");

    if (n == 0 || n >= outlen || p[n] != ' ') {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    *s = p + n + 1;
    return 0;
}

int sk_bkman_parse(const char *text, size_t len, struct sk_bkmanifest **out,
                   size_t *bad_line)
{
    struct sk_bkmanifest *m = NULL;
    struct sk_strix seen;
    char *line = NULL;
    const char *p = text, *end = text + len;
    size_t no = 0;
    int r = SK_ERR_INVALID, stage = 0, done = 0;
    uint64_t files = 0, bytes = 0;

    memset(&seen, 0, sizeof(seen));
    if ((m = calloc(1, sizeof(*m))) == NULL ||
        (line = malloc(LINE_LIMIT + 1)) == NULL) {
        r = SK_ERR_ALLOC;
        goto out;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s;
        size_t n;
        uint64_t a, b, c;
        char w[72];

        no++;
        if (done || nl == NULL) {
            goto out; /* something after sig, or an unterminated line */
        }
        n = (size_t)(nl - p);
        if (n > LINE_LIMIT || memchr(p, '\0', n) != NULL) {
            goto out;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        s = line;
        if (stage == 0) {
            if (strcmp(s, SK_BKMAN_MAGIC) != 0) {
                goto out;
            }
            stage = 1;
        } else if (stage == 1) {
            if (strncmp(s, "generation ", 11) != 0 ||
                !sk_bkman_name_ok(s + 11)) {
                goto out;
            }
            snprintf(m->generation, sizeof(m->generation), "%s", s + 11);
            stage = 2;
        } else if (stage == 2) {
            if (strncmp(s, "created ", 8) != 0 || strlen(s + 8) < 20 ||
                strlen(s + 8) >= sizeof(m->created) ||
                strchr(s + 8, ' ') != NULL) {
                goto out;
            }
            snprintf(m->created, sizeof(m->created), "%s", s + 8);
            stage = 3;
        } else if (stage == 3) {
            if (strncmp(s, "config ", 7) != 0 || !sk_bkman_path_ok(s + 7)) {
                goto out;
            }
            if ((m->config = strdup(s + 7)) == NULL) {
                r = SK_ERR_ALLOC;
                goto out;
            }
            stage = 4;
        } else if (stage == 4 && strncmp(s, "dir ", 4) == 0) {
            s += 4;
            if (num(&s, 8, 07777, &a) != 0 || s[-1] != ' ') {
                goto out;
            }
            if (sk_strix_find(&seen, s, &n)) {
                goto out;
            }
            if ((r = sk_bkman_add(m, 1, (unsigned)a, 0, 0, NULL, s)) != 0 ||
                (r = sk_strix_add(&seen, s, m->n - 1)) != 0) {
                goto out;
            }
            r = SK_ERR_INVALID;
        } else if (stage == 4 && strncmp(s, "file ", 5) == 0) {
            s += 5;
            if (num(&s, 8, 07777, &a) != 0 || s[-1] != ' ' ||
                num(&s, 10, UINT64_MAX, &b) != 0 || s[-1] != ' ' ||
                num(&s, 10, INT64_MAX, &c) != 0 || s[-1] != ' ' ||
                word(&s, w, sizeof(w)) != 0 || !hash_ok(w)) {
                goto out;
            }
            if (sk_strix_find(&seen, s, &n)) {
                goto out;
            }
            if ((r = sk_bkman_add(m, 0, (unsigned)a, b, (int64_t)c, w, s)) !=
                    0 ||
                (r = sk_strix_add(&seen, s, m->n - 1)) != 0) {
                goto out;
            }
            r = SK_ERR_INVALID;
        } else if (stage == 4 && strncmp(s, "total ", 6) == 0) {
            s += 6;
            if (num(&s, 10, UINT64_MAX, &files) != 0 || s[-1] != ' ' ||
                num(&s, 10, UINT64_MAX, &bytes) != 0 || *s != '\0') {
                goto out;
            }
            if (files != m->files || bytes != m->bytes) {
                goto out;
            }
            stage = 5;
        } else if (stage == 5 && strncmp(s, "sig ", 4) == 0) {
            uint8_t sig[64];
            size_t siglen = 0;
            const char *b64;

            m->body_len = (size_t)(p - text);
            s += 4;
            if (word(&s, m->key_id, sizeof(m->key_id)) != 0) {
                goto out;
            }
            b64 = s;
            if (sodium_base642bin(sig, sizeof(sig), b64, strlen(b64), NULL,
                                  &siglen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0 ||
                siglen != sizeof(sig)) {
                goto out;
            }
            memcpy(m->sig, sig, sizeof(sig));
            done = 1;
        } else {
            goto out;
        }
        p = nl + 1;
    }
    if (!done) {
        no++;
        goto out;
    }
    *out = m;
    m = NULL;
    no = 0;
    r = 0;
out:
    if (r != 0 && bad_line != NULL) {
        *bad_line = no;
    }
    sk_strix_free(&seen);
    free(line);
    sk_bkman_free(m);
    return r;
}

void sk_bkman_clear(struct sk_bkmanifest *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    for (i = 0; i < m->n; i++) {
        free(m->e[i].path);
    }
    free(m->e);
    free(m->config);
    memset(m, 0, sizeof(*m));
}

void sk_bkman_free(struct sk_bkmanifest *m)
{
    sk_bkman_clear(m);
    free(m);
}
