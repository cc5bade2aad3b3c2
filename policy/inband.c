#include "inband.h"

#include <string.h>

#define ANY 0x100 /* pattern element: any printable byte 0x20..0x7e */
#define CTL 0x101 /* pattern element: a control byte that can mark a
                   * Kermit packet (not TAB, LF, CR or ESC: text has
                   * those everywhere) */

/* Starts that are only candidates: the bytes after them are checked one
 * by one (cand_byte) until a checksum or the structure decides. */
enum {
    C_NONE = 0,
    C_ZHEX,   /* ZMODEM hex header: frame type, flags in hex */
    C_ZBIN16, /* ZMODEM binary header, CRC-16 */
    C_ZBIN32, /* ZMODEM binary header, CRC-32 */
    C_KERMIT, /* Kermit Send-Init: length, fields, type-1 check */
    C_XM128,  /* XMODEM/YMODEM first block, 128 bytes */
    C_XM1K,   /* XMODEM-1K/YMODEM first block, 1024 bytes */
    C_OSC52,  /* 8-bit OSC 52: selection, ';', data */
};

struct pattern {
    int kind;
    int from_target, from_client; /* directions it applies to */
    int osc;                      /* an OSC escape: skip to its end */
    int cand;                     /* C_*: a candidate, checked further */
    size_t len;
    uint16_t p[24];
};

#define P1(...)                                                                \
    {                                                                          \
        __VA_ARGS__                                                            \
    }

static const struct pattern patterns[] = {
    {SK_IB_ZMODEM, 1, 1, 0, C_ZBIN16, 3, P1('*', 0x18, 'A')},
    {SK_IB_ZMODEM, 1, 1, 0, C_ZHEX, 3, P1('*', 0x18, 'B')},
    {SK_IB_ZMODEM, 1, 1, 0, C_ZBIN32, 3, P1('*', 0x18, 'C')},
    {SK_IB_KERMIT, 1, 1, 0, C_KERMIT, 4, P1(CTL, ANY, ' ', 'S')},
    /* SOH or STX, block 1 (XMODEM) or 0 (YMODEM), its complement */
    {SK_IB_XMODEM, 1, 1, 0, C_XM128, 3, P1(0x01, 0x01, 0xfe)},
    {SK_IB_XMODEM, 1, 1, 0, C_XM128, 3, P1(0x01, 0x00, 0xff)},
    {SK_IB_XMODEM, 1, 1, 0, C_XM1K, 3, P1(0x02, 0x01, 0xfe)},
    {SK_IB_XMODEM, 1, 1, 0, C_XM1K, 3, P1(0x02, 0x00, 0xff)},
    {SK_IB_TRZSZ, 1, 0, 0, C_NONE, 17,
     P1(':', ':', 'T', 'R', 'Z', 'S', 'Z', ':', 'T', 'R', 'A', 'N', 'S', 'F',
        'E', 'R', ':')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 11,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'F', 'i', 'l', 'e')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 10,
     P1(0x9d, '1', '3', '3', '7', ';', 'F', 'i', 'l', 'e')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 16,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'M', 'u', 'l', 't', 'i', 'p',
        'a', 'r', 't')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 15,
     P1(0x9d, '1', '3', '3', '7', ';', 'M', 'u', 'l', 't', 'i', 'p', 'a',
        'r', 't')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 20,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'R', 'e', 'q', 'u', 'e', 's',
        't', 'U', 'p', 'l', 'o', 'a', 'd')},
    {SK_IB_ITERM2, 1, 0, 1, C_NONE, 19,
     P1(0x9d, '1', '3', '3', '7', ';', 'R', 'e', 'q', 'u', 'e', 's', 't',
        'U', 'p', 'l', 'o', 'a', 'd')},
    {SK_IB_OSC52, 1, 1, 1, C_NONE, 5, P1(0x1b, ']', '5', '2', ';')},
    {SK_IB_OSC52, 1, 1, 1, C_OSC52, 4, P1(0x9d, '5', '2', ';')},
};

#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

/* Longest end of a sequence we skip before giving up (a never-ended OSC
 * must not swallow the session's output for good). */
#define SKIP_LINE_MAX 4096
#define SKIP_OSC_MAX (4 * 1024 * 1024)

void sk_inband_init(struct sk_inband *s, enum sk_ib_dir dir)
{
    memset(s, 0, sizeof(*s));
    s->dir = dir;
    s->last = -1;
}

void sk_inband_set_peer(struct sk_inband *s, const struct sk_inband *peer)
{
    s->peer = peer;
}

static int elem_ok(uint16_t want, int c)
{
    if (want == ANY) {
        return c >= 0x20 && c <= 0x7e;
    }
    if (want == CTL) {
        return (c < 0x20 || c == 0x7f) && c != '\t' && c != '\n' &&
               c != '\r' && c != 0x1b;
    }
    return c == want;
}

const char *sk_inband_name(int kind)
{
    switch (kind) {
    case SK_IB_ZMODEM:
        return "ZMODEM";
    case SK_IB_KERMIT:
        return "Kermit";
    case SK_IB_TRZSZ:
        return "trzsz";
    case SK_IB_ITERM2:
        return "iTerm2 file transfer";
    case SK_IB_OSC52:
        return "OSC 52 clipboard";
    case SK_IB_XMODEM:
        return "XMODEM";
    default:
        return "none";
    }
}

/* The byte at position i of the stream as this call sees it: in[i] for
 * i >= 0, else the history's byte -i from its end (i = -1: the last). */
static int byte_at(const struct sk_inband *s, const uint8_t *in, long i)
{
    if (i >= 0) {
        return in[i];
    }
    if ((size_t)-i > s->hlen) {
        return -1;
    }
    return s->hist[(long)s->hlen + i];
}

/* Does a pattern end at in[i]? Bytes before base (other than history,
 * when history is still valid) do not count. */
/* Patterns by their last byte: only those can end at a given byte. */
static uint8_t by_last[256][4];
static uint8_t n_by_last[256];
/* Per direction: 1 for a byte that ends some pattern of that direction
 * (the scan loop's only test for every other byte). */
static uint8_t ends_tgt[256], ends_cli[256];
/* Per direction: bit (prev << 8 | last) set if some pattern can end with
 * those two bytes; a cheap second test before match_at. */
static uint8_t pair_tgt[8192], pair_cli[8192];
#define PAIR_SET(t, a, b) ((t)[((a) << 8 | (b)) >> 3] |= (uint8_t)(1u << ((b)&7)))
#define PAIR_HAS(t, a, b) ((t)[((a) << 8 | (b)) >> 3] & (1u << ((b)&7)))

/* The same pairs for the vector scan (GCC/Clang vector extensions, so no
 * intrinsics and any target): exact (prev, last) pairs, and last bytes
 * whose predecessor may be any printable byte. */
struct pairset {
    int n, nany;
    int full; /* more pairs than fit: no vector scan */
    uint8_t a[16], b[16], any[4];
    /* The pairs in at most 8 buckets, as nibble tables (pairset_buckets):
     * bit k of lo_a[x & 15] & hi_a[x >> 4] is set if x may be the first
     * byte of a pair of bucket k, likewise lo_b/hi_b for the second.
     * nb == 0: no bucket scan (any[] in use, the set full, or no pairs);
     * more than 8 buckets are merged, never dropped. */
    int nb;
    uint8_t lo_a[16], hi_a[16], lo_b[16], hi_b[16];
};
static struct pairset set_tgt, set_cli;
/* 3: the widest scan this CPU has (buckets, AVX2); 2: pairs 32 bytes at a
 * time (AVX2); 1: 16 bytes at a time; 0: bytes */
static int vector_scan = 3;
static int has_avx2; /* set by init_table */

static void init_table(void);

void sk_inband_set_vector_scan(int level)
{
    vector_scan = level;
}

static void pairset_add(struct pairset *ps, uint16_t prev, uint8_t last)
{
    if (prev > 0xff && prev != ANY) {
        ps->full = 1;
        return;
    }
    if (prev == ANY) {
        if (memchr(ps->any, last, (size_t)ps->nany) != NULL) {
            return;
        }
        if (ps->nany == 4) {
            ps->full = 1;
            return;
        }
        ps->any[ps->nany++] = last;
        return;
    }
    for (int k = 0; k < ps->n; k++) {
        if (ps->a[k] == prev && ps->b[k] == last) {
            return;
        }
    }
    if (ps->n == 16) {
        ps->full = 1;
        return;
    }
    ps->a[ps->n] = (uint8_t)prev;
    ps->b[ps->n++] = last;
}

/*
 * Buckets for the nibble scan (scan_buckets): pairs with the same first
 * byte share one, then pairs with the same second byte; then the last two
 * are merged until 8 are left. A bucket stands for every (a, b) with a in
 * its first bytes and b in its second bytes, and each set is widened to
 * the product of its bytes' low and high nibbles: more than the pairs, never
 * less, so a block the scan passes holds no pair end (the exact tests come
 * after it). Pairs picked for this table stay rare in random data: at most
 * a few bytes per set.
 */
static void pairset_buckets(struct pairset *ps)
{
    int bucket[16], nb = 0; /* per pair: its bucket */

    ps->nb = 0;
    if (ps->full || ps->nany > 0 || ps->n == 0) {
        return;
    }
    for (int k = 0; k < ps->n; k++) {
        bucket[k] = -1;
        for (int j = 0; j < k; j++) {
            if (ps->a[j] == ps->a[k] || ps->b[j] == ps->b[k]) {
                bucket[k] = bucket[j];
                break;
            }
        }
        if (bucket[k] < 0) {
            bucket[k] = nb++;
        }
    }
    while (nb > 8) {
        for (int k = 0; k < ps->n; k++) {
            if (bucket[k] == nb - 1) {
                bucket[k] = nb - 2;
            }
        }
        nb--;
    }
    memset(ps->lo_a, 0, 16);
    memset(ps->hi_a, 0, 16);
    memset(ps->lo_b, 0, 16);
    memset(ps->hi_b, 0, 16);
    for (int k = 0; k < ps->n; k++) {
        uint8_t bit = (uint8_t)(1u << bucket[k]);

        ps->lo_a[ps->a[k] & 15] |= bit;
        ps->hi_a[ps->a[k] >> 4] |= bit;
        ps->lo_b[ps->b[k] & 15] |= bit;
        ps->hi_b[ps->b[k] >> 4] |= bit;
    }
    ps->nb = nb;
}

/*
 * SCAN(name, W, attrs): a function that, from position i >= 1, returns
 * the start of the first W-byte block that may hold a pattern end (or
 * where fewer than W bytes are left). One text for both widths: 16 bytes
 * for any target, 32 built for AVX2 and used where the CPU has it. On
 * random data (a compressed file, an encrypted stream) a block is clean
 * nearly always, so this loop is most of the filter's time: 2.1 GB/s 16
 * bytes at a time, 4.1-5.5 GB/s 32 at a time on the benchmark host.
 */
#define SCAN(name, W, attrs)                                                   \
    typedef uint8_t name##_v __attribute__((vector_size(W)));                  \
    attrs static size_t name(const struct pairset *ps, const uint8_t *in,     \
                             size_t i, size_t len)                             \
    {                                                                          \
        name##_v a[16], b[16], any[4], lo, hi;                                 \
                                                                               \
        for (int k = 0; k < ps->n; k++) {                                      \
            memset(&a[k], ps->a[k], sizeof(a[k]));                            \
            memset(&b[k], ps->b[k], sizeof(b[k]));                            \
        }                                                                      \
        for (int k = 0; k < ps->nany; k++) {                                   \
            memset(&any[k], ps->any[k], sizeof(any[k]));                      \
        }                                                                      \
        memset(&lo, 0x20, sizeof(lo));                                         \
        memset(&hi, 0x7e, sizeof(hi));                                         \
        while (i + W <= len) {                                                 \
            name##_v cur, prev, hit, printable;                                \
            uint64_t x[W / 8], set = 0;                                        \
                                                                               \
            memcpy(&cur, in + i, sizeof(cur));                                 \
            memcpy(&prev, in + i - 1, sizeof(prev));                           \
            memset(&hit, 0, sizeof(hit));                                      \
            for (int k = 0; k < ps->n; k++) {                                  \
                hit |= (name##_v)((prev == a[k]) & (cur == b[k]));             \
            }                                                                  \
            if (ps->nany > 0) {                                                \
                printable = (name##_v)((prev >= lo) & (prev <= hi));           \
                for (int k = 0; k < ps->nany; k++) {                           \
                    hit |= (name##_v)(cur == any[k]) & printable;              \
                }                                                              \
            }                                                                  \
            memcpy(x, &hit, sizeof(x));                                        \
            for (int k = 0; k < W / 8; k++) {                                  \
                set |= x[k];                                                   \
            }                                                                  \
            if (set != 0) {                                                    \
                break;                                                         \
            }                                                                  \
            i += W;                                                            \
        }                                                                      \
        return i;                                                              \
    }

SCAN(scan16, 16, )
#if defined(__x86_64__) && defined(__GNUC__)
#define SK_IB_WIDE 1
#include <immintrin.h>
SCAN(scan32, 32, __attribute__((target("avx2"))))

/*
 * The same answer as scan32 from the bucket tables, in a fixed count of
 * instructions whatever the number of pairs: each byte and its predecessor
 * are looked up by nibble (vpshufb) and a block is clean when no bucket
 * holds both. scan32 costs two compares per pair per block, 22 for the
 * target's 11 pairs.
 */
__attribute__((target("avx2"))) static size_t
scan_buckets(const struct pairset *ps, const uint8_t *in, size_t i,
             size_t len)
{
    const __m256i la = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)ps->lo_a)),
                  ha = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)ps->hi_a)),
                  lb = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)ps->lo_b)),
                  hb = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)ps->hi_b)),
                  nib = _mm256_set1_epi8(0x0f);

#define SK_IB_CLASS(v, lo, hi)                                                 \
    _mm256_and_si256(                                                          \
        _mm256_shuffle_epi8(lo, _mm256_and_si256(v, nib)),                     \
        _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)))
    /* Two blocks a turn, one test for both: the loop's own cost halves. */
    while (i + 64 <= len) {
        __m256i c0 = _mm256_loadu_si256((const __m256i *)(in + i)),
                p0 = _mm256_loadu_si256((const __m256i *)(in + i - 1)),
                c1 = _mm256_loadu_si256((const __m256i *)(in + i + 32)),
                p1 = _mm256_loadu_si256((const __m256i *)(in + i + 31)),
                h0 = _mm256_and_si256(SK_IB_CLASS(p0, la, ha),
                                      SK_IB_CLASS(c0, lb, hb)),
                h1 = _mm256_and_si256(SK_IB_CLASS(p1, la, ha),
                                      SK_IB_CLASS(c1, lb, hb));

        if (!_mm256_testz_si256(_mm256_or_si256(h0, h1),
                                _mm256_set1_epi8(-1))) {
            return _mm256_testz_si256(h0, h0) ? i + 32 : i;
        }
        i += 64;
    }
    while (i + 32 <= len) {
        __m256i cur = _mm256_loadu_si256((const __m256i *)(in + i)),
                prev = _mm256_loadu_si256((const __m256i *)(in + i - 1));

        if (!_mm256_testz_si256(SK_IB_CLASS(prev, la, ha),
                                SK_IB_CLASS(cur, lb, hb))) {
            break;
        }
        i += 32;
    }
#undef SK_IB_CLASS
    return i;
}
#endif

/* The scan skip_clean uses for ps under the level set: the level, or
 * less where the CPU or the patterns do not allow it. */
static int scan_level(const struct pairset *ps)
{
    if (ps->full || vector_scan == 0) {
        return 0;
    }
#ifdef SK_IB_WIDE
    if (vector_scan > 2 && has_avx2 && ps->nb > 0) {
        return 3;
    }
    if (vector_scan > 1 && has_avx2) {
        return 2;
    }
#endif
    return 1;
}

/* From position i >= 1: the start of the first 16-byte block that holds a
 * possible pattern end (or where fewer than 16 bytes are left). */
static size_t skip_clean(const struct pairset *ps, const uint8_t *in,
                         size_t i, size_t len)
{
    int level = scan_level(ps);

    if (level == 0) {
        return i;
    }
#ifdef SK_IB_WIDE
    if (level == 3) {
        /* A block the buckets flag may hold no pair after all (the
         * buckets are wider than the pairs): the exact scan looks at that
         * block only, and the buckets go on after it. */
        for (;;) {
            size_t j;

            i = scan_buckets(ps, in, i, len);
            if (i + 32 > len) {
                break;
            }
            if ((j = scan16(ps, in, i, i + 32)) < i + 32) {
                return j;
            }
            i += 32;
        }
    } else if (level == 2) {
        i = scan32(ps, in, i, len);
    }
#endif
    return scan16(ps, in, i, len);
}

int sk_inband_vector_scan(enum sk_ib_dir dir)
{
    init_table();
    return scan_level(dir == SK_IB_FROM_TARGET ? &set_tgt : &set_cli);
}

static const struct pattern *match_at(const struct sk_inband *s,
                                      const uint8_t *in, long base, long i,
                                      int hist_ok)
{
    for (size_t q = 0; q < n_by_last[in[i]]; q++) {
        const struct pattern *pt = &patterns[by_last[in[i]][q]];
        long start = i - (long)pt->len + 1;
        size_t j;

        if (!(s->dir == SK_IB_FROM_TARGET ? pt->from_target
                                          : pt->from_client) ||
            pt->p[pt->len - 1] != in[i] ||
            (start < base && (!hist_ok || base != 0))) {
            continue;
        }
        /* Quick reject on the byte before, the usual case in text. */
        if (i >= 1 && !elem_ok(pt->p[pt->len - 2], in[i - 1])) {
            continue;
        }
        for (j = 0; j + 1 < pt->len; j++) {
            int c = byte_at(s, in, start + (long)j);
            uint16_t want = pt->p[j];

            if (c < 0 || !elem_ok(want, c)) {
                break;
            }
        }
        if (j + 1 == pt->len) {
            return pt;
        }
    }
    return NULL;
}

static void init_table(void)
{
    static int done;

    if (done) {
        return;
    }
#ifdef SK_IB_WIDE
    has_avx2 = __builtin_cpu_supports("avx2");
#endif
    for (size_t k = 0; k < NPATTERNS; k++) {
        uint8_t last = (uint8_t)patterns[k].p[patterns[k].len - 1];

        by_last[last][n_by_last[last]++] = (uint8_t)k;
        ends_tgt[last] |= (uint8_t)patterns[k].from_target;
        ends_cli[last] |= (uint8_t)patterns[k].from_client;
        for (unsigned a = 0; a < 256; a++) {
            uint16_t want = patterns[k].p[patterns[k].len - 2];

            if (elem_ok(want, (int)a)) {
                if (patterns[k].from_target) {
                    PAIR_SET(pair_tgt, a, last);
                }
                if (patterns[k].from_client) {
                    PAIR_SET(pair_cli, a, last);
                }
            }
        }
        if (patterns[k].from_target) {
            pairset_add(&set_tgt, patterns[k].p[patterns[k].len - 2], last);
        }
        if (patterns[k].from_client) {
            pairset_add(&set_cli, patterns[k].p[patterns[k].len - 2], last);
        }
    }
    pairset_buckets(&set_tgt);
    pairset_buckets(&set_cli);
    done = 1;
}

/* One byte while skipping: returns 1 when the sequence has ended (the
 * byte is consumed either way). */
static int skip_byte(struct sk_inband *s, uint8_t c)
{
    s->skipped++;
    if (s->skip == SK_IB_ITERM2 || s->skip == SK_IB_OSC52) {
        if (c == 0x07 || c == 0x9c || (s->skip_esc && c == '\\')) {
            return 1;
        }
        s->skip_esc = c == 0x1b;
        return s->skipped >= SKIP_OSC_MAX;
    }
    /* header or packet: to the end of its line */
    return c == '\r' || c == '\n' || c == 0x11 || s->skipped >= SKIP_LINE_MAX;
}

/* Keeps the last bytes of the clean region [from, len) as history for the
 * next call (joined to the old history if the region is short). */
static void keep_history(struct sk_inband *s, const uint8_t *in, size_t from,
                         size_t len, int hist_ok)
{
    uint8_t tmp[SK_IB_HIST];
    size_t n = len - from, k = 0;

    if (n >= SK_IB_HIST) {
        memcpy(s->hist, in + len - SK_IB_HIST, SK_IB_HIST);
        s->hlen = SK_IB_HIST;
        return;
    }
    if (hist_ok) {
        size_t old = s->hlen + n > SK_IB_HIST ? SK_IB_HIST - n : s->hlen;

        memcpy(tmp, s->hist + s->hlen - old, old);
        k = old;
    }
    memcpy(tmp + k, in + from, n);
    memcpy(s->hist, tmp, k + n);
    s->hlen = k + n;
}

static uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
    crc ^= (uint16_t)(b << 8);
    for (int k = 0; k < 8; k++) {
        crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021)
                           : (uint16_t)(crc << 1);
    }
    return crc;
}

static uint32_t crc32_byte(uint32_t crc, uint8_t b)
{
    crc ^= b;
    for (int k = 0; k < 8; k++) {
        crc = crc & 1 ? crc >> 1 ^ 0xedb88320u : crc >> 1;
    }
    return crc;
}

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int is_b64(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

/* A new candidate; lenbyte is the byte before the pattern's last two
 * (Kermit's LEN). A full table drops the newcomer: only a crafted stream
 * fills it, and a crafted stream could as well be printed as text. */
static void cand_add(struct sk_inband *s, int type, uint64_t start,
                     int lenbyte)
{
    struct sk_ib_cand *c = NULL;

    if (type == C_KERMIT && (lenbyte - 32 < 3 + 6 || lenbyte - 32 > 94)) {
        return; /* a Send-Init has its first six fields, and is short */
    }
    for (int k = 0; k < SK_IB_CANDS; k++) {
        if (s->cand[k].type == C_NONE) {
            c = &s->cand[k];
            break;
        }
    }
    if (c == NULL) {
        return;
    }
    memset(c, 0, sizeof(*c));
    c->type = (uint8_t)type;
    c->start = start;
    c->crc32 = 0xffffffffu;
    if (type == C_KERMIT) {
        c->want = (uint16_t)(lenbyte - 32 - 3);
        c->ksum = (uint32_t)lenbyte + ' ' + 'S';
    } else if (type == C_XM128 || type == C_XM1K) {
        c->want = type == C_XM128 ? 128 : 1024;
    }
    s->ncand++;
}

/* How many more bytes c needs before it could be found valid (>= 1). */
static size_t cand_wait(const struct sk_ib_cand *c)
{
    size_t w = 1;

    switch (c->type) {
    case C_ZHEX:
        w = 4 - c->n;
        break;
    case C_ZBIN16:
        w = 7 - c->n;
        break;
    case C_ZBIN32:
        w = 9 - c->n;
        break;
    case C_KERMIT:
        w = (size_t)c->want + 1 - c->n;
        break;
    case C_XM128:
    case C_XM1K:
        w = c->n < c->want + 1 ? (size_t)c->want + 1 - c->n
                               : (size_t)c->want + 2 - c->n;
        break;
    case C_OSC52:
        w = c->esc ? 1 : 2;
        break;
    default:
        break;
    }
    return w < 1 ? 1 : w;
}

/* One more byte for c: 1 it is a transfer start, -1 it is not, 0 not yet
 * known. */
static int cand_byte(const struct sk_inband *s, struct sk_ib_cand *c,
                     uint8_t b)
{
    switch (c->type) {
    case C_ZHEX:
        /* frame type 00..13 and the flags, lower or upper case hex */
        if (c->n == 0 ? b != '0' && b != '1' : !is_hex(b)) {
            return -1;
        }
        return ++c->n == 4 ? 1 : 0;
    case C_ZBIN16:
    case C_ZBIN32:
        /* decoded as lrzsz's zdlread does: XON/XOFF ignored, ZDLE
         * escapes; frame type, four flag bytes, then the CRC, whose
         * residue is fixed when it is right */
        if (++c->raw > 48) {
            return -1;
        }
        if (b == 0x11 || b == 0x13 || b == 0x91 || b == 0x93) {
            return 0;
        }
        if (!c->esc && b == 0x18) {
            c->esc = 1;
            return 0;
        }
        if (c->esc) {
            c->esc = 0;
            if (b == 'l') {
                b = 0x7f;
            } else if (b == 'm') {
                b = 0xff;
            } else if ((b & 0x60) == 0x40) {
                b ^= 0x40;
            } else {
                return -1;
            }
        }
        if (c->n == 0 && b > 19) {
            return -1; /* ZRQINIT (0) .. ZSTDERR (19) */
        }
        c->crc = crc16_byte(c->crc, b);
        c->crc32 = crc32_byte(c->crc32, b);
        if (++c->n < (c->type == C_ZBIN16 ? 7 : 9)) {
            return 0;
        }
        return c->type == C_ZBIN16 ? (c->crc == 0 ? 1 : -1)
                                   : (c->crc32 == 0xdebb20e3u ? 1 : -1);
    case C_KERMIT:
        if (c->n < c->want) {
            /* every Send-Init field is printable; the fifth (EOL) is
             * tochar() of a control character */
            if (b < 0x20 || b > 0x7e || (c->n == 4 && b > 0x3f)) {
                return -1;
            }
            c->ksum += b;
            c->n++;
            return 0;
        }
        return b == 0x20 + ((c->ksum + ((c->ksum & 0xc0) >> 6)) & 0x3f) ? 1
                                                                       : -1;
    case C_XM128:
    case C_XM1K:
        c->n++;
        if (c->n <= c->want) {
            c->crc = crc16_byte(c->crc, b);
            c->sum = (uint8_t)(c->sum + b);
            return 0;
        }
        if (c->n == c->want + 1) {
            /* An 8-bit sum alone is too weak for binary output: it
             * counts only when the other side's last byte was the NAK
             * with which a receiver asks for checksum mode. */
            c->c1 = b;
            return b == c->sum && s->peer != NULL && s->peer->last == 0x15
                       ? 1
                       : 0;
        }
        return c->c1 == (c->crc >> 8) && b == (c->crc & 0xff) ? 1 : -1;
    case C_OSC52:
        /* Pc (selection letters), ';', then base64 or '?' */
        if (c->esc) {
            return is_b64(b) || b == '?' ? 1 : -1;
        }
        if (b == ';') {
            c->esc = 1;
            return 0;
        }
        return b < 0x21 || b > 0x7e || ++c->n > 16 ? -1 : 0;
    default:
        return -1;
    }
}

/* Feeds in[from, to) to every candidate. Returns the index of the byte at
 * which one was found valid (its copy in *hit), or to. */
static size_t cands_feed(struct sk_inband *s, const uint8_t *in, size_t from,
                         size_t to, struct sk_ib_cand *hit)
{
    for (size_t i = from; i < to && s->ncand > 0; i++) {
        for (int k = 0; k < SK_IB_CANDS; k++) {
            struct sk_ib_cand *c = &s->cand[k];
            int r;

            if (c->type == C_NONE) {
                continue;
            }
            r = cand_byte(s, c, in[i]);
            if (r > 0) {
                *hit = *c;
                return i;
            }
            if (r < 0) {
                c->type = C_NONE;
                s->ncand--;
            }
        }
    }
    return to;
}

static size_t cands_wait(const struct sk_inband *s)
{
    size_t w = SIZE_MAX;

    for (int k = 0; k < SK_IB_CANDS; k++) {
        if (s->cand[k].type != C_NONE && cand_wait(&s->cand[k]) < w) {
            w = cand_wait(&s->cand[k]);
        }
    }
    return w;
}

static void cands_clear(struct sk_inband *s)
{
    memset(s->cand, 0, sizeof(s->cand));
    s->ncand = 0;
}

static int cand_kind(int type)
{
    switch (type) {
    case C_ZHEX:
    case C_ZBIN16:
    case C_ZBIN32:
        return SK_IB_ZMODEM;
    case C_KERMIT:
        return SK_IB_KERMIT;
    case C_XM128:
    case C_XM1K:
        return SK_IB_XMODEM;
    default:
        return SK_IB_OSC52;
    }
}

size_t sk_inband_filter(struct sk_inband *s, const uint8_t *in, size_t len,
                        uint8_t *out, int *found, int *count)
{
    size_t o = 0, i = 0, emit = 0, base = 0, fed = 0;
    int n = 0, hist_ok = !s->skip, last = len > 0 ? in[len - 1] : s->last;
    const uint8_t *ends, *pair;
    const struct pairset *ps;

    init_table();
    ends = s->dir == SK_IB_FROM_TARGET ? ends_tgt : ends_cli;
    pair = s->dir == SK_IB_FROM_TARGET ? pair_tgt : pair_cli;
    ps = s->dir == SK_IB_FROM_TARGET ? &set_tgt : &set_cli;
    *found = SK_IB_NONE;
    while (i < len) {
        const struct pattern *pt;
        struct sk_ib_cand hit;
        size_t lim = len, end, at;
        long start;
        int kind, osc;

        if (s->skip) {
            int ended = skip_byte(s, in[i]);

            i++;
            if (ended) {
                s->skip = 0;
                s->skip_esc = 0;
                s->skipped = 0;
            }
            /* nothing before here is output or history any more */
            emit = base = fed = i;
            hist_ok = 0;
            continue;
        }
        if (s->ncand > 0) {
            /* No candidate can decide before lim: scan up to there. */
            size_t w = cands_wait(s);

            lim = len - i > w ? i + w : len;
        }
        /* The hot loop: most bytes end no pattern at all, and of those
         * that might, most are not preceded by the right byte. The first
         * byte of a call is left to match_at (its predecessor is in the
         * history). */
        for (;;) {
            size_t stop;

            if (i > 0) {
                i = skip_clean(ps, in, i, lim);
            }
            stop = lim - i > 16 ? i + 16 : lim;
            while (i < stop &&
                   (ends[in[i]] == 0 ||
                    (i > 0 && !PAIR_HAS(pair, in[i - 1], in[i])))) {
                i++;
            }
            if (i < stop || stop == lim) {
                break;
            }
        }
        end = i < lim ? i + 1 : lim;
        at = s->ncand > 0 ? cands_feed(s, in, fed, end, &hit) : end;
        if (at < end) {
            /* a candidate proved to be a transfer start at in[at] */
            i = at;
            kind = cand_kind(hit.type);
            osc = hit.type == C_OSC52;
            start = (long)((int64_t)hit.start - (int64_t)s->total);
        } else if (i == lim) {
            fed = lim;
            continue;
        } else if ((pt = match_at(s, in, (long)base, (long)i, hist_ok)) ==
                   NULL) {
            fed = ++i;
            continue;
        } else if (pt->cand != C_NONE) {
            fed = i + 1;
            cand_add(s, pt->cand,
                     (uint64_t)((int64_t)s->total + (long)i + 1 -
                                (long)pt->len),
                     byte_at(s, in, (long)i - 2));
            i++;
            continue;
        } else {
            kind = pt->kind;
            osc = pt->osc;
            start = (long)i - (long)pt->len + 1;
        }
        {
            size_t upto = start > (long)emit ? (size_t)start : emit;

            /* Pass what came before the sequence; drop the sequence. */
            memmove(out + o, in + emit, upto - emit);
            o += upto - emit;
            if (osc && start < 0) {
                /* The terminal saw the start of an escape in an earlier
                 * call: end it at once (this BEL stands in for one of the
                 * bytes removed). */
                out[o++] = 0x07;
            }
        }
        if (n++ == 0) {
            *found = kind;
        }
        /* Headers and packets are skipped to their line's end, escapes
         * to theirs; an XMODEM block has ended already. */
        s->skip = kind == SK_IB_XMODEM ? 0 : kind;
        s->skip_esc = 0;
        s->skipped = 0;
        cands_clear(s);
        i++;
        emit = base = fed = i;
        hist_ok = 0;
    }
    if (!s->skip) {
        /* History first: with out == in the move below may overwrite
         * the bytes it keeps. */
        keep_history(s, in, base, len, hist_ok);
        memmove(out + o, in + emit, len - emit);
        o += len - emit;
    } else {
        s->hlen = 0;
    }
    s->total += len;
    s->last = last;
    if (count != NULL) {
        *count = n;
    }
    return o;
}
