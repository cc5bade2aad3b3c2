#include "srclimit.h"
#include "sk-err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of v4 masked to bits (0-32). */
static int mask_v4(struct in_addr v4, int bits, char *txt, size_t len)
{
    uint32_t h = ntohl(v4.s_addr);

    /* A shift by 32 is undefined: /0 is everything. */
    h = bits == 0 ? 0 : h & (UINT32_MAX << (32 - bits));
    v4.s_addr = htonl(h);
    return inet_ntop(AF_INET, &v4, txt, (socklen_t)len) == NULL ? -1 : 0;
}

int sk_netblock_key(const struct sockaddr *sa, socklen_t salen, int v4bits,
                    int v6bits, char *out, size_t outlen)
{
    char txt[INET6_ADDRSTRLEN];
    int bits, n;

    if (sa == NULL || out == NULL || v4bits < 0 || v4bits > 32 ||
        v6bits < 0 || v6bits > 128) {
        return SK_ERR_INVALID;
    }
    if (sa->sa_family == AF_INET6 &&
        salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            struct in_addr v4;

            memcpy(&v4, &a.s6_addr[12], 4);
            if (mask_v4(v4, v4bits, txt, sizeof(txt)) != 0) {
                return SK_ERR_INVALID;
            }
            bits = v4bits;
        } else {
            for (int i = 0; i < 16; i++) {
                int keep = v6bits - i * 8;

                if (keep <= 0) {
                    a.s6_addr[i] = 0;
                } else if (keep < 8) {
                    a.s6_addr[i] &= (uint8_t)(0xff << (8 - keep));
                }
            }
            if (inet_ntop(AF_INET6, &a, txt, sizeof(txt)) == NULL) {
                return SK_ERR_INVALID;
            }
            bits = v6bits;
        }
    } else if (sa->sa_family == AF_INET &&
               salen >= (socklen_t)sizeof(struct sockaddr_in)) {
        if (mask_v4(((const struct sockaddr_in *)sa)->sin_addr, v4bits, txt,
                    sizeof(txt)) != 0) {
            return SK_ERR_INVALID;
        }
        bits = v4bits;
    } else {
        return SK_ERR_INVALID;
    }
    n = snprintf(out, outlen, "%s/%d", txt, bits);
    if (n < 0 || (size_t)n >= outlen) {
        return SK_ERR_INVALID;
    }
    return 0;
}

/* A whole number from lo to hi, ending at *end (which must be end or sep). */
static int num(const char **s, int lo, int hi, int *out)
{
    char *end;
    long v;

    if (**s < '0' || **s > '9') {
        return SK_ERR_INVALID;
    }
    errno = 0;
    v = strtol(*s, &end, 10);
    if (errno != 0 || v < lo || v > hi) {
        return SK_ERR_INVALID;
    }
    *out = (int)v;
    *s = end;
    return 0;
}

int sk_netblock_parse(const char *s, int *v4bits, int *v6bits)
{
    int a, b = 64;

    if (s == NULL || num(&s, 0, 32, &a) != 0) {
        return SK_ERR_INVALID;
    }
    if (*s == ':') {
        s++;
        if (num(&s, 0, 128, &b) != 0) {
            return SK_ERR_INVALID;
        }
    }
    if (*s != '\0') {
        return SK_ERR_INVALID;
    }
    *v4bits = a;
    *v6bits = b;
    return 0;
}

int sk_startups_parse(const char *s, int *start, int *rate, int *full)
{
    int a, r = 100, f;

    if (s == NULL || num(&s, 1, 100000, &a) != 0) {
        return SK_ERR_INVALID;
    }
    if (*s == '\0') {
        *start = *full = a;
        *rate = 100;
        return 0;
    }
    if (*s++ != ':' || num(&s, 0, 100, &r) != 0 || *s++ != ':' ||
        num(&s, 1, 100000, &f) != 0 || *s != '\0' || f < a) {
        return SK_ERR_INVALID;
    }
    *start = a;
    *rate = r;
    *full = f;
    return 0;
}

int sk_startups_admit(int startups, int held, int start, int rate, int full,
                      uint32_t rnd)
{
    long p;

    if (startups >= full) {
        return 0;
    }
    if (startups < start || held <= 0) {
        return 1;
    }
    /* full > startups >= start, so full > start here. */
    p = rate + (long)(100 - rate) * (startups - start) / (full - start);
    return (long)(rnd % 100) >= p;
}

struct penalty {
    char key[SK_NETBLOCK_MAX];
    int failures;
    time_t last;
};

struct sk_penalties {
    size_t slots, used;
    struct penalty *e;
};

struct sk_penalties *sk_penalties_new(size_t slots)
{
    struct sk_penalties *p;

    if (slots == 0 || (p = calloc(1, sizeof(*p))) == NULL) {
        return NULL;
    }
    if ((p->e = calloc(slots, sizeof(*p->e))) == NULL) {
        free(p);
        return NULL;
    }
    p->slots = slots;
    return p;
}

void sk_penalties_free(struct sk_penalties *p)
{
    if (p == NULL) {
        return;
    }
    free(p->e);
    free(p);
}

static int expired(const struct penalty *e, time_t now, int window)
{
    return now - e->last > window;
}

int sk_penalties_note(struct sk_penalties *p, const char *key, time_t now,
                      int window, int weight)
{
    struct penalty *victim = NULL, *e;
    size_t i;

    if (p == NULL || key == NULL || weight <= 0 ||
        strlen(key) >= SK_NETBLOCK_MAX) {
        return SK_ERR_INVALID;
    }
    for (i = 0; i < p->used; i++) {
        e = &p->e[i];
        if (strcmp(e->key, key) == 0) {
            if (expired(e, now, window)) {
                e->failures = 0;
            }
            e->failures = e->failures > INT_MAX - weight ? INT_MAX
                                                         : e->failures + weight;
            e->last = now;
            return 0;
        }
    }
    if (p->used < p->slots) {
        victim = &p->e[p->used++];
    } else {
        for (i = 0; i < p->slots; i++) {
            e = &p->e[i];
            if (expired(e, now, window)) {
                victim = e;
                break;
            }
            if (victim == NULL || e->failures < victim->failures ||
                (e->failures == victim->failures && e->last < victim->last)) {
                victim = e;
            }
        }
        if (!expired(victim, now, window) && victim->failures > weight) {
            /* Everyone here has failed more than the newcomer: keep them. */
            return 1;
        }
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->key, key, strlen(key) + 1);
    victim->failures = weight;
    victim->last = now;
    return 0;
}

int sk_penalties_count(const struct sk_penalties *p, const char *key,
                       time_t now, int window)
{
    size_t i;

    if (p == NULL || key == NULL) {
        return 0;
    }
    for (i = 0; i < p->used; i++) {
        if (strcmp(p->e[i].key, key) == 0) {
            return expired(&p->e[i], now, window) ? 0 : p->e[i].failures;
        }
    }
    return 0;
}

struct sk_door {
    struct sk_penalties *fine, *coarse;
};

struct sk_door *sk_door_new(size_t slots)
{
    struct sk_door *d = calloc(1, sizeof(*d));

    if (d == NULL || (d->fine = sk_penalties_new(slots)) == NULL ||
        (d->coarse = sk_penalties_new(slots)) == NULL) {
        sk_door_free(d);
        return NULL;
    }
    return d;
}

void sk_door_free(struct sk_door *d)
{
    if (d == NULL) {
        return;
    }
    sk_penalties_free(d->fine);
    sk_penalties_free(d->coarse);
    free(d);
}

int sk_door_note(struct sk_door *d, const char *block, const char *coarse,
                 time_t now, int window, int weight)
{
    int r;

    if (d == NULL || coarse == NULL) {
        return SK_ERR_INVALID;
    }
    r = sk_penalties_note(d->fine, block, now, window, weight);
    if (r == 1) {
        /* Not tracked per netblock: the coarse block answers for it. If
         * that table too is full of worse, the failure is not counted
         * here, and the store-backed block still counts it. */
        r = sk_penalties_note(d->coarse, coarse, now, window, weight);
        return r < 0 ? r : 0;
    }
    return r;
}

int sk_door_count(const struct sk_door *d, const char *block,
                  const char *coarse, time_t now, int window)
{
    int a, b;

    if (d == NULL) {
        return 0;
    }
    a = sk_penalties_count(d->fine, block, now, window);
    b = sk_penalties_count(d->coarse, coarse, now, window);
    return a > b ? a : b;
}
