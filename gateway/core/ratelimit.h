/*
 * A token bucket for messages a peer may send unasked (the worker's log
 * lines and refusal reports to the monitor). Pure: no clock of its own,
 * no logging; the caller passes the time and decides what a drop means.
 */
#ifndef SK_RATELIMIT_H
#define SK_RATELIMIT_H

#include <stdint.h>

struct sk_rate {
    uint64_t milli;   /* tokens held, in thousandths */
    uint64_t last_ms; /* time of the last refill */
    uint32_t burst;   /* tokens at most (and at the start) */
    uint32_t per_sec; /* tokens added per second */
    uint64_t dropped; /* events refused so far, in all */
};

/* A full bucket at now_ms: burst events pass at once, then per_sec a
 * second. */
void sk_rate_init(struct sk_rate *r, uint32_t burst, uint32_t per_sec,
                  uint64_t now_ms);

/* Takes one token at now_ms (a clock that does not go back, e.g.
 * CLOCK_MONOTONIC; an earlier time adds nothing). Returns 1 if the event
 * may pass, 0 if it is to be dropped (then r->dropped counts it). */
int sk_rate_take(struct sk_rate *r, uint64_t now_ms);

#endif
