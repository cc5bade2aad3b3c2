/* Token bucket; see ratelimit.h. Integer thousandths of a token, so a
 * refill over any number of milliseconds is exact and cannot overflow
 * before the cap is applied. */
#include "ratelimit.h"

void sk_rate_init(struct sk_rate *r, uint32_t burst, uint32_t per_sec,
                  uint64_t now_ms)
{
    r->burst = burst;
    r->per_sec = per_sec;
    r->milli = (uint64_t)burst * 1000u;
    r->last_ms = now_ms;
    r->dropped = 0;
}

int sk_rate_take(struct sk_rate *r, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)r->burst * 1000u;

    if (now_ms > r->last_ms) {
        uint64_t dt = now_ms - r->last_ms;

        /* dt * per_sec thousandths; a long quiet fills the bucket, and
         * capping dt first keeps the product in range. */
        if (dt > cap) {
            dt = cap;
        }
        r->milli += dt * r->per_sec;
        if (r->milli > cap) {
            r->milli = cap;
        }
        r->last_ms = now_ms;
    }
    if (r->milli >= 1000u) {
        r->milli -= 1000u;
        return 1;
    }
    r->dropped++;
    return 0;
}
