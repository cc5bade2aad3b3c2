/*
 * Source-address rules ("restrict which terminals connect", R-AUTH-1):
 * CIDR blocks, IPv4 and IPv6. Pure: parsing and matching only. An IPv4
 * client seen by a dual-stack listener as ::ffff:a.b.c.d matches IPv4
 * blocks.
 */
#ifndef SK_POLICY_CIDR_H
#define SK_POLICY_CIDR_H

#include <stddef.h>
#include <stdint.h>

struct sk_cidr {
    int family; /* 4 or 6 */
    uint8_t addr[16];
    int prefix; /* 0..32 or 0..128 */
};

/* Parses "a.b.c.d[/n]" or "v6[/n]" (no host bits set past the prefix).
 * Returns 0 or SK_ERR_INVALID. */
int sk_cidr_parse(const char *s, struct sk_cidr *out);
/* Canonical text ("10.0.0.0/8") into out (>= 64 bytes). */
void sk_cidr_format(const struct sk_cidr *c, char *out, size_t outlen);
/* 1 if the numeric address addr lies in c. */
int sk_cidr_match(const struct sk_cidr *c, const char *addr);
/* 1 if addr matches any block in the space-separated list (an empty or
 * NULL list matches everything: no restriction). Malformed entries never
 * match. */
int sk_cidr_list_match(const char *list, const char *addr);

#endif
