#include "inband.h"

#include <string.h>

#define ANY 0x100 /* pattern element: any printable byte 0x20..0x7e */

struct pattern {
    int kind;
    int from_target, from_client; /* directions it applies to */
    int osc;                      /* an OSC escape: skip to its end */
    size_t len;
    uint16_t p[24];
};

#define P1(...)                                                                \
    {                                                                          \
        __VA_ARGS__                                                            \
    }

static const struct pattern patterns[] = {
    {SK_IB_ZMODEM, 1, 1, 0, 3, P1('*', 0x18, 'A')},
    {SK_IB_ZMODEM, 1, 1, 0, 3, P1('*', 0x18, 'B')},
    {SK_IB_ZMODEM, 1, 1, 0, 3, P1('*', 0x18, 'C')},
    {SK_IB_KERMIT, 1, 1, 0, 4, P1(0x01, ANY, ANY, 'S')},
    {SK_IB_TRZSZ, 1, 0, 0, 17,
     P1(':', ':', 'T', 'R', 'Z', 'S', 'Z', ':', 'T', 'R', 'A', 'N', 'S', 'F',
        'E', 'R', ':')},
    {SK_IB_ITERM2, 1, 0, 1, 11,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'F', 'i', 'l', 'e')},
    {SK_IB_ITERM2, 1, 0, 1, 10,
     P1(0x9d, '1', '3', '3', '7', ';', 'F', 'i', 'l', 'e')},
    {SK_IB_ITERM2, 1, 0, 1, 16,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'M', 'u', 'l', 't', 'i', 'p',
        'a', 'r', 't')},
    {SK_IB_ITERM2, 1, 0, 1, 15,
     P1(0x9d, '1', '3', '3', '7', ';', 'M', 'u', 'l', 't', 'i', 'p', 'a',
        'r', 't')},
    {SK_IB_ITERM2, 1, 0, 1, 20,
     P1(0x1b, ']', '1', '3', '3', '7', ';', 'R', 'e', 'q', 'u', 'e', 's',
        't', 'U', 'p', 'l', 'o', 'a', 'd')},
    {SK_IB_ITERM2, 1, 0, 1, 19,
     P1(0x9d, '1', '3', '3', '7', ';', 'R', 'e', 'q', 'u', 'e', 's', 't',
        'U', 'p', 'l', 'o', 'a', 'd')},
    {SK_IB_OSC52, 1, 1, 1, 5, P1(0x1b, ']', '5', '2', ';')},
    {SK_IB_OSC52, 1, 1, 1, 4, P1(0x9d, '5', '2', ';')},
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

/* The same pairs for the 16-bytes-at-a-time scan (GCC/Clang vector
 * extensions, so no intrinsics and any target): exact (prev, last) pairs,
 * and last bytes whose predecessor may be any printable byte. */
typedef uint8_t v16 __attribute__((vector_size(16)));
struct pairset {
    int n, nany;
    int full; /* more pairs than fit: no vector scan */
    v16 a[16], b[16], any[4];
};
static struct pairset set_tgt, set_cli;
static int vector_scan = 1;

void sk_inband_set_vector_scan(int on)
{
    vector_scan = on;
}

static v16 splat(uint8_t c)
{
    v16 v;

    memset(&v, c, sizeof(v));
    return v;
}

static void pairset_add(struct pairset *ps, uint16_t prev, uint8_t last)
{
    v16 b = splat(last);

    if (prev == ANY) {
        for (int k = 0; k < ps->nany; k++) {
            if (memcmp(&ps->any[k], &b, sizeof(b)) == 0) {
                return;
            }
        }
        if (ps->nany == 4) {
            ps->full = 1;
            return;
        }
        ps->any[ps->nany++] = b;
        return;
    }
    for (int k = 0; k < ps->n; k++) {
        v16 a = splat((uint8_t)prev);

        if (memcmp(&ps->a[k], &a, sizeof(a)) == 0 &&
            memcmp(&ps->b[k], &b, sizeof(b)) == 0) {
            return;
        }
    }
    if (ps->n == 16) {
        ps->full = 1;
        return;
    }
    ps->a[ps->n] = splat((uint8_t)prev);
    ps->b[ps->n++] = b;
}

/* From position i >= 1: the start of the first 16-byte block that holds a
 * possible pattern end (or where fewer than 16 bytes are left). */
static size_t skip_clean(const struct pairset *ps, const uint8_t *in,
                         size_t i, size_t len)
{
    const v16 lo = splat(0x20), hi = splat(0x7e);

    if (ps->full || !vector_scan) {
        return i;
    }
    while (i + 16 <= len) {
        v16 cur, prev, hit, printable;
        uint64_t x[2];

        memcpy(&cur, in + i, sizeof(cur));
        memcpy(&prev, in + i - 1, sizeof(prev));
        hit = splat(0);
        for (int k = 0; k < ps->n; k++) {
            hit |= (v16)((prev == ps->a[k]) & (cur == ps->b[k]));
        }
        printable = (v16)((prev >= lo) & (prev <= hi));
        for (int k = 0; k < ps->nany; k++) {
            hit |= (v16)(cur == ps->any[k]) & printable;
        }
        memcpy(x, &hit, sizeof(x));
        if ((x[0] | x[1]) != 0) {
            break;
        }
        i += 16;
    }
    return i;
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
        if (i >= 1 && pt->p[pt->len - 2] != ANY &&
            pt->p[pt->len - 2] != in[i - 1]) {
            continue;
        }
        for (j = 0; j + 1 < pt->len; j++) {
            int c = byte_at(s, in, start + (long)j);
            uint16_t want = pt->p[j];

            if (c < 0 || (want == ANY ? (c < 0x20 || c > 0x7e)
                                      : (uint16_t)c != want)) {
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
    for (size_t k = 0; k < NPATTERNS; k++) {
        uint8_t last = (uint8_t)patterns[k].p[patterns[k].len - 1];

        by_last[last][n_by_last[last]++] = (uint8_t)k;
        ends_tgt[last] |= (uint8_t)patterns[k].from_target;
        ends_cli[last] |= (uint8_t)patterns[k].from_client;
        for (unsigned a = 0; a < 256; a++) {
            uint16_t want = patterns[k].p[patterns[k].len - 2];

            if (want == ANY ? (a >= 0x20 && a <= 0x7e) : a == want) {
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

size_t sk_inband_filter(struct sk_inband *s, const uint8_t *in, size_t len,
                        uint8_t *out, int *found, int *count)
{
    size_t o = 0, i = 0, emit = 0, base = 0;
    int n = 0, hist_ok = !s->skip;
    const uint8_t *ends, *pair;
    const struct pairset *ps;

    init_table();
    ends = s->dir == SK_IB_FROM_TARGET ? ends_tgt : ends_cli;
    pair = s->dir == SK_IB_FROM_TARGET ? pair_tgt : pair_cli;
    ps = s->dir == SK_IB_FROM_TARGET ? &set_tgt : &set_cli;
    *found = SK_IB_NONE;
    while (i < len) {
        const struct pattern *pt;

        if (s->skip) {
            int ended = skip_byte(s, in[i]);

            i++;
            if (ended) {
                s->skip = 0;
                s->skip_esc = 0;
                s->skipped = 0;
            }
            /* nothing before here is output or history any more */
            emit = base = i;
            hist_ok = 0;
            continue;
        }
        /* The hot loop: most bytes end no pattern at all, and of those
         * that might, most are not preceded by the right byte. The first
         * byte of a call is left to match_at (its predecessor is in the
         * history). */
        for (;;) {
            size_t stop;

            if (i > 0) {
                i = skip_clean(ps, in, i, len);
            }
            stop = len - i > 16 ? i + 16 : len;
            while (i < stop &&
                   (ends[in[i]] == 0 ||
                    (i > 0 && !PAIR_HAS(pair, in[i - 1], in[i])))) {
                i++;
            }
            if (i < stop || stop == len) {
                break;
            }
        }
        if (i == len) {
            break;
        }
        if ((pt = match_at(s, in, (long)base, (long)i, hist_ok)) == NULL) {
            i++;
            continue;
        }
        {
            long start = (long)i - (long)pt->len + 1;
            size_t upto = start > (long)emit ? (size_t)start : emit;

            /* Pass what came before the sequence; drop the sequence. */
            memmove(out + o, in + emit, upto - emit);
            o += upto - emit;
            if (pt->osc && start < 0) {
                /* The terminal saw the start of an escape in an earlier
                 * call: end it at once (this BEL stands in for one of the
                 * bytes removed). */
                out[o++] = 0x07;
            }
        }
        if (n++ == 0) {
            *found = pt->kind;
        }
        s->skip = pt->kind;
        s->skip_esc = 0;
        s->skipped = 0;
        i++;
        emit = base = i;
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
    if (count != NULL) {
        *count = n;
    }
    return o;
}
