/*
 * In-band file transfers inside the terminal stream: ZMODEM (rz/sz),
 * Kermit, trzsz, iTerm2 file escapes and OSC 52 clipboard access. Pure
 * code: a streaming filter, one state per direction, that removes the
 * bytes which would let the other side's software start a transfer.
 *
 * What is caught (R-AC-7), by its unforgeable start:
 *   ZMODEM   ZPAD ZDLE then a header format: "*" 0x18 then A, B or C
 *            (every ZMODEM header; both directions). Dropped to the end
 *            of the header (CR, LF or XON).
 *   Kermit   a Send-Init packet: SOH, two printable bytes, 'S' (both
 *            directions). Dropped to the end of the packet (CR).
 *   trzsz    the "::TRZSZ:TRANSFER:" announcement (from the target).
 *   iTerm2   OSC 1337 File=, FilePart=, FileEnd, MultipartFile=,
 *            RequestUpload (from the target). Whole escape dropped.
 *   OSC 52   clipboard write (from the target) or read reply (from the
 *            client), ESC ] or 8-bit OSC. Whole escape dropped.
 * Bytes before the start of a sequence have already gone when the start
 * straddles two chunks; the part that completes it never does, so no
 * receiver ever sees a whole header (for OSC an early BEL ends the
 * fragment the terminal saw).
 *
 * The relay filters sessions with a terminal (a pty), where terminal
 * emulators start these transfers on their own. A command run without a
 * pty (`ssh gw target -- cmd`, allowed only by an exec grant) has its
 * bytes passed untouched: its output goes to a file or pipe anyway, and
 * the grant is the administrator's decision to allow that.
 *
 * Not caught, by nature: data the user can see (cat, base64, hexdump) —
 * that is what the terminal is for, and it is recorded.
 */
#ifndef SK_INBAND_H
#define SK_INBAND_H

#include <stddef.h>
#include <stdint.h>

enum sk_ib_kind {
    SK_IB_NONE = 0,
    SK_IB_ZMODEM,
    SK_IB_KERMIT,
    SK_IB_TRZSZ,
    SK_IB_ITERM2,
    SK_IB_OSC52,
    SK_IB_XMODEM, /* XMODEM and YMODEM (sx/sb/rx/rb) */
};

enum sk_ib_dir {
    SK_IB_FROM_TARGET = 0, /* output, towards the client */
    SK_IB_FROM_CLIENT = 1, /* input, towards the target */
};

#define SK_IB_HIST 32
#define SK_IB_CANDS 8

/* A possible start being checked byte by byte until its checksum or
 * structure says yes or no (inband.c). */
struct sk_ib_cand {
    uint8_t type;   /* 0: free slot */
    uint8_t esc;    /* ZMODEM binary: the last byte was ZDLE */
    uint8_t sum;    /* XMODEM checksum, Kermit sum (low byte kept apart) */
    uint8_t c1;     /* XMODEM: first check byte */
    uint16_t n;     /* bytes taken (ZMODEM binary: decoded bytes) */
    uint16_t raw;   /* raw bytes taken */
    uint16_t want;  /* XMODEM data length, Kermit data length */
    uint16_t crc;   /* CRC-16/XMODEM so far */
    uint32_t crc32; /* CRC-32 so far (ZMODEM ZBIN32) */
    uint32_t ksum;  /* Kermit: sum of LEN..DATA */
    uint64_t start; /* stream offset of its first byte */
};

struct sk_inband {
    int dir;
    uint8_t hist[SK_IB_HIST]; /* the last bytes seen (passed or not) */
    size_t hlen;
    int skip;        /* skipping the rest of a blocked sequence: its kind */
    int skip_esc;    /* in an OSC skip, the last byte was ESC */
    size_t skipped;  /* bytes skipped in this sequence */
    struct sk_ib_cand cand[SK_IB_CANDS];
    int ncand;       /* slots in use */
    uint64_t total;  /* bytes seen before this call */
    int last;        /* the last byte seen, or -1 */
    const struct sk_inband *peer; /* the other direction, or NULL */
};

void sk_inband_init(struct sk_inband *s, enum sk_ib_dir dir);

/* Names the filter of the opposite direction of the same session: an
 * XMODEM block in checksum mode counts only right after that side sent
 * NAK (see above). peer must outlive s's use; NULL (the default) means
 * no checksum-mode blocks are recognised. */
void sk_inband_set_peer(struct sk_inband *s, const struct sk_inband *peer);

/* Filters len bytes of in into out (room for len bytes: the output is
 * never longer than the input; out may be in itself, filtering in place). Returns the output length. *found is set
 * to the kind of the first transfer start seen in this call, or
 * SK_IB_NONE; *count (may be NULL) to how many starts were seen. */
size_t sk_inband_filter(struct sk_inband *s, const uint8_t *in, size_t len,
                        uint8_t *out, int *found, int *count);

/* "ZMODEM", "Kermit", ... */
const char *sk_inband_name(int kind);

/* The filter finds candidates 16 bytes at a time; tests switch that off
 * (0) to check it against the byte-at-a-time loop. Default on. */
void sk_inband_set_vector_scan(int on);

#endif
