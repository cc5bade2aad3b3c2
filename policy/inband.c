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

/* Does a pattern end with the byte just appended to the history? Returns
 * the pattern or NULL. */
static const struct pattern *match_end(const struct sk_inband *s)
{
    for (size_t i = 0; i < NPATTERNS; i++) {
        const struct pattern *pt = &patterns[i];
        size_t k;

        if (pt->len > s->hlen ||
            !(s->dir == SK_IB_FROM_TARGET ? pt->from_target
                                          : pt->from_client)) {
            continue;
        }
        for (k = 0; k < pt->len; k++) {
            uint8_t c = s->hist[s->hlen - pt->len + k];
            uint16_t want = pt->p[k];

            if (want == ANY ? (c < 0x20 || c > 0x7e) : c != want) {
                break;
            }
        }
        if (k == pt->len) {
            return pt;
        }
    }
    return NULL;
}

static void hist_push(struct sk_inband *s, uint8_t c)
{
    if (s->hlen == SK_IB_HIST) {
        memmove(s->hist, s->hist + 1, SK_IB_HIST - 1);
        s->hlen--;
    }
    s->hist[s->hlen++] = c;
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

size_t sk_inband_filter(struct sk_inband *s, const uint8_t *in, size_t len,
                        uint8_t *out, int *found, int *count)
{
    size_t o = 0, i;
    int n = 0;

    *found = SK_IB_NONE;
    for (i = 0; i < len; i++) {
        uint8_t c = in[i];
        const struct pattern *pt;

        if (s->skip) {
            if (skip_byte(s, c)) {
                s->skip = 0;
                s->skip_esc = 0;
                s->skipped = 0;
                s->hlen = 0; /* a new sequence starts clean */
            }
            continue;
        }
        hist_push(s, c);
        out[o++] = c;
        if ((pt = match_end(s)) == NULL) {
            continue;
        }
        /* Take back the part of the sequence this call had passed. */
        {
            /* the current byte and those before it in this call */
            size_t in_call = pt->len < o ? pt->len : o;
            int straddled = pt->len > in_call; /* began in an earlier call */

            o -= in_call;
            if (pt->osc && straddled) {
                /* The terminal saw the start of an escape: end it at once
                 * (this BEL takes the place of a removed byte). */
                out[o++] = 0x07;
            }
        }
        if (n++ == 0) {
            *found = pt->kind;
        }
        s->skip = pt->kind;
        s->skip_esc = 0;
        s->skipped = 0;
        s->hlen = 0;
    }
    if (count != NULL) {
        *count = n;
    }
    return o;
}
