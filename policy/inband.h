/*
 * In-band file transfers inside the terminal stream: ZMODEM (rz/sz),
 * XMODEM and YMODEM (sx/sb/rx/rb), Kermit, trzsz, iTerm2 file escapes and
 * OSC 52 clipboard access. Pure code: a streaming filter, one state per
 * direction, that removes the bytes which would let the other side's
 * software start a transfer.
 *
 * What is caught (R-AC-7), by a start no receiver does without. Each
 * rate is the chance that uniformly random bytes (`cat file.tar` on an
 * exec channel) match at a given position:
 *   ZMODEM   ZPAD ZDLE then a header format (both directions):
 *            "B" (hex) then a frame type 00..13 and the first flag byte
 *            in hex, 2^-24 * 2/256 * (22/256)^3 = 3e-13; "A"/"C"
 *            (binary) then a frame type <= 19 and four flag bytes
 *            (ZDLE-decoded as lrzsz does) whose CRC-16 / CRC-32 is
 *            right, 2 * 2^-24 * 20/256 * 2^-16 = 1.4e-13. Dropped to the
 *            end of the header (CR, LF or XON).
 *   XMODEM   a first block (both directions): SOH (128 bytes) or STX
 *   YMODEM   (1024), block 0 (YMODEM) or 1 (XMODEM), its complement,
 *            the data, then a right CRC-16 (2/256 * 2/65536 * 2^-16 =
 *            3.6e-12) or, only while the other direction's last byte is
 *            the NAK that asks for checksum mode, a right 8-bit sum
 *            (9e-10, never on a channel whose other side is silent).
 *            Receivers accept no other block first, so a sender that
 *            cannot get its first block across sends nothing.
 *   Kermit   a Send-Init packet (both directions): any control byte as
 *            the mark (not TAB, LF, CR, ESC), LEN, SEQ 0, 'S', at least
 *            six printable fields with EOL a tochar()ed control, and the
 *            right type-1 check, at most 3.5e-14. Dropped to the end of
 *            the packet's line (CR).
 *   trzsz    the "::TRZSZ:TRANSFER:" announcement (from the target),
 *            2^-136.
 *   iTerm2   OSC 1337 File=, FilePart=, FileEnd, MultipartFile=,
 *            RequestUpload (from the target), at most 2^-80. Whole
 *            escape dropped.
 *   OSC 52   clipboard write (from the target) or read reply (from the
 *            client): ESC ] 5 2 ; (2^-40 = 9e-13), or 8-bit OSC 5 2 ;
 *            followed within 16 printable bytes by ';' and base64 or '?'
 *            (about 4e-13). Whole escape dropped.
 * Together about 5e-12 per byte: one false positive in some 200 GB of
 * random output (5e-4 in a 100 MB `cat`). One would remove at most a
 * block's worth of bytes, tell the user and be audited: it fails
 * visibly, never silently.
 *
 * Where a start is known only some bytes after it begins (a checksum, a
 * structure), the bytes before the deciding one that went out in earlier
 * calls have gone; the deciding byte and the rest of the sequence never
 * do, so no receiver ever sees a whole header, packet or first block
 * (for OSC an early BEL ends the fragment the terminal saw).
 *
 * The relay filters every channel, with or without a pty, stdout,
 * stderr and stdin. An exec grant still lets a command's own output be
 * saved on the maintainer's side (`cat file`): that is the
 * administrator's knowing exception to R-AC-7 (docs/admin.md), but a
 * transfer protocol in it is stopped all the same.
 *
 * Not caught, by nature: data the user can see (cat, base64, hexdump) —
 * that is what the terminal is for, and it is recorded — and a sender
 * written to slip past these checks (who can write one can as well print
 * the file).
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

/* The filter finds candidates 32 bytes at a time where the CPU has the
 * instructions (AVX2): by nibble lookups (3, the default) or by comparing each
 * pair (2); else 16 at a time (1). Tests switch that down to check each
 * against the byte-at-a-time loop (0). */
void sk_inband_set_vector_scan(int level);
/* The scan in effect for a direction's patterns under the level set (the
 * level, or less where the CPU or the patterns do not allow it). */
int sk_inband_vector_scan(enum sk_ib_dir dir);

#endif
