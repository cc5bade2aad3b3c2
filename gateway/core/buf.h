/*
 * sk_buf: a growable byte buffer with a read cursor, used by the
 * monitor/worker protocol and the ssh-agent protocol. Integers are
 * big-endian; strings are a uint32 length followed by the bytes (SSH wire
 * format). Getters never read past the end: they return SK_ERR_INVALID and
 * leave the cursor where it was.
 */
#ifndef SK_BUF_H
#define SK_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Hard upper bound on any buffer: protects against peers announcing huge
 * lengths. */
#define SK_BUF_MAX (1024 * 1024)

struct sk_buf {
    uint8_t *data;
    size_t len;   /* bytes written */
    size_t off;   /* read cursor */
    size_t alloc; /* allocated size */
};

void sk_buf_init(struct sk_buf *b);
/* Wipes the contents (they may hold secrets) and frees them. NULL is ok. */
void sk_buf_free(struct sk_buf *b);
void sk_buf_reset(struct sk_buf *b);
/* Bytes left to read. */
size_t sk_buf_avail(const struct sk_buf *b);
const uint8_t *sk_buf_ptr(const struct sk_buf *b);

int sk_buf_put(struct sk_buf *b, const void *p, size_t n);
int sk_buf_put_u8(struct sk_buf *b, uint8_t v);
int sk_buf_put_u32(struct sk_buf *b, uint32_t v);
int sk_buf_put_u64(struct sk_buf *b, uint64_t v);
int sk_buf_put_string(struct sk_buf *b, const void *p, size_t n);
int sk_buf_put_cstring(struct sk_buf *b, const char *s);

int sk_buf_get_u8(struct sk_buf *b, uint8_t *v);
int sk_buf_get_u32(struct sk_buf *b, uint32_t *v);
int sk_buf_get_u64(struct sk_buf *b, uint64_t *v);
/* Points *p into the buffer (valid until the buffer changes). */
int sk_buf_get_string_direct(struct sk_buf *b, const uint8_t **p, size_t *n);
/* Copies a string that must be valid text: no NUL inside, at most maxlen
 * bytes. *out is malloc'd and NUL-terminated; caller frees. */
int sk_buf_get_cstring(struct sk_buf *b, char **out, size_t maxlen);

#endif
