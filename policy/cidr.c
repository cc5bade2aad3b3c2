#include "cidr.h"
#include "sk-err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int addr_parse(const char *s, int *family, uint8_t out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0,
                                           0, 0, 0, 0, 0xff, 0xff};

        if (memcmp(out, mapped, 12) == 0) {
            memmove(out, out + 12, 4);
            memset(out + 4, 0, 12);
            *family = 4;
        } else {
            *family = 6;
        }
        return 0;
    }
    return -1;
}

int sk_cidr_parse(const char *s, struct sk_cidr *out)
{
    char buf[64], *slash, *end;
    long p;
    int max;

    memset(out, 0, sizeof(*out));
    if (strlen(s) >= sizeof(buf)) {
        return SK_ERR_INVALID;
    }
    snprintf(buf, sizeof(buf), "%s", s);
    slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash++ = '\0';
    }
    if (addr_parse(buf, &out->family, out->addr) != 0) {
        return SK_ERR_INVALID;
    }
    max = out->family == 4 ? 32 : 128;
    if (slash == NULL) {
        p = max;
    } else {
        if (*slash < '0' || *slash > '9' || strlen(slash) > 3) {
            return SK_ERR_INVALID;
        }
        p = strtol(slash, &end, 10);
        if (*end != '\0' || p < 0 || p > max) {
            return SK_ERR_INVALID;
        }
    }
    out->prefix = (int)p;
    /* Host bits past the prefix mean the writer meant something else. */
    for (int bit = out->prefix; bit < max; bit++) {
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            return SK_ERR_INVALID;
        }
    }
    return 0;
}

void sk_cidr_format(const struct sk_cidr *c, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];

    inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a));
    snprintf(out, outlen, "%s/%d", a, c->prefix);
}

int sk_cidr_match(const struct sk_cidr *c, const char *addr)
{
    uint8_t a[16];
    int family, bits = c->prefix, i;

    if (addr_parse(addr, &family, a) != 0 || family != c->family) {
        return 0;
    }
    for (i = 0; bits >= 8; i++, bits -= 8) {
        if (a[i] != c->addr[i]) {
            return 0;
        }
    }
    if (bits > 0) {
        uint8_t mask = (uint8_t)(0xff << (8 - bits));

        if ((a[i] & mask) != (c->addr[i] & mask)) {
            return 0;
        }
    }
    return 1;
}

int sk_cidr_list_match(const char *list, const char *addr)
{
    char word[64];
    const char *p = list;
    int any = 0;

    if (list == NULL) {
        return 1;
    }
    while (*p) {
        size_t n;
        struct sk_cidr c;

        while (*p == ' ') {
            p++;
        }
        n = strcspn(p, " ");
        if (n == 0) {
            break;
        }
        any = 1;
        if (n < sizeof(word)) {
            memcpy(word, p, n);
            word[n] = '\0';
            if (sk_cidr_parse(word, &c) == 0 && sk_cidr_match(&c, addr)) {
                return 1;
            }
        }
        p += n;
    }
    return !any;
}
