#include "buf.h"
#include "sk-err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void sk_buf_init(struct sk_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void sk_buf_free(struct sk_buf *b)
{
    if (b == NULL) {
        return;
    }
    if (b->data != NULL) {
        sodium_memzero(b->data, b->alloc);
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

void sk_buf_reset(struct sk_buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->len);
    }
    b->len = 0;
    b->off = 0;
}

size_t sk_buf_avail(const struct sk_buf *b)
{
    return b->len - b->off;
}

const uint8_t *sk_buf_ptr(const struct sk_buf *b)
{
    return b->data + b->off;
}

static int sk_buf_reserve(struct sk_buf *b, size_t n)
{
    size_t want, nalloc;
    uint8_t *p;

    if (n > SK_BUF_MAX || b->len > SK_BUF_MAX - n) {
        return SK_ERR_TOO_LONG;
    }
    want = b->len + n;
    if (want <= b->alloc) {
        return 0;
    }
    nalloc = b->alloc ? b->alloc : 256;
    while (nalloc < want) {
        nalloc *= 2;
    }
    /* No realloc: the old block may hold secrets and must be wiped. */
    if ((p = malloc(nalloc)) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->alloc);
        free(b->data);
    }
    b->data = p;
    b->alloc = nalloc;
    return 0;
}

int sk_buf_put(struct sk_buf *b, const void *p, size_t n)
{
    int r;

    if ((r = sk_buf_reserve(b, n)) != 0) {
        return r;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return 0;
}

int sk_buf_put_u8(struct sk_buf *b, uint8_t v)
{
    return sk_buf_put(b, &v, 1);
}

int sk_buf_put_u32(struct sk_buf *b, uint32_t v)
{
    uint8_t x[4] = {v >> 24, v >> 16, v >> 8, v};

    return sk_buf_put(b, x, sizeof(x));
}

int sk_buf_put_u64(struct sk_buf *b, uint64_t v)
{
    int r;

    if ((r = sk_buf_put_u32(b, (uint32_t)(v >> 32))) != 0) {
        return r;
    }
    return sk_buf_put_u32(b, (uint32_t)v);
}

int sk_buf_put_string(struct sk_buf *b, const void *p, size_t n)
{
    int r;

    if (n > SK_BUF_MAX) {
        return SK_ERR_TOO_LONG;
    }
    if ((r = sk_buf_put_u32(b, (uint32_t)n)) != 0) {
        return r;
    }
    return sk_buf_put(b, p, n);
}

int sk_buf_put_cstring(struct sk_buf *b, const char *s)
{
    return sk_buf_put_string(b, s, s == NULL ? 0 : strlen(s));
}

int sk_buf_get_u8(struct sk_buf *b, uint8_t *v)
{
    if (sk_buf_avail(b) < 1) {
        return SK_ERR_INVALID;
    }
    *v = b->data[b->off++];
    return 0;
}

int sk_buf_get_u32(struct sk_buf *b, uint32_t *v)
{
    const uint8_t *p;

    if (sk_buf_avail(b) < 4) {
        return SK_ERR_INVALID;
    }
    p = b->data + b->off;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
    b->off += 4;
    return 0;
}

int sk_buf_get_u64(struct sk_buf *b, uint64_t *v)
{
    uint32_t hi, lo;

    if (sk_buf_avail(b) < 8) {
        return SK_ERR_INVALID;
    }
    (void)sk_buf_get_u32(b, &hi);
    (void)sk_buf_get_u32(b, &lo);
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

int sk_buf_get_string_direct(struct sk_buf *b, const uint8_t **p, size_t *n)
{
    uint32_t len;
    size_t save = b->off;

    if (sk_buf_get_u32(b, &len) != 0) {
        return SK_ERR_INVALID;
    }
    if (len > sk_buf_avail(b)) {
        b->off = save;
        return SK_ERR_INVALID;
    }
    *p = b->data + b->off;
    *n = len;
    b->off += len;
    return 0;
}

int sk_buf_get_cstring(struct sk_buf *b, char **out, size_t maxlen)
{
    const uint8_t *p;
    size_t n, save = b->off;
    char *s;

    *out = NULL;
    if (sk_buf_get_string_direct(b, &p, &n) != 0) {
        return SK_ERR_INVALID;
    }
    if (n > maxlen) {
        b->off = save;
        return SK_ERR_TOO_LONG;
    }
    if (n > 0 && memchr(p, '\0', n) != NULL) {
        b->off = save;
        return SK_ERR_INVALID;
    }
    if ((s = malloc(n + 1)) == NULL) {
        b->off = save;
        return SK_ERR_ALLOC;
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    *out = s;
    return 0;
}
