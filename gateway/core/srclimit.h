/*
 * Pre-authentication limits of the listener, as pure decisions (no I/O,
 * no clock, no randomness of their own) so they can be unit-tested and
 * fuzzed: which netblock an address counts against, the random early drop
 * of MaxStartups-style start:rate:full, and a bounded table of per-netblock
 * penalties that an attacker cannot flush.
 */
#ifndef SK_SRCLIMIT_H
#define SK_SRCLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* Long enough for "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128". */
#define SK_NETBLOCK_MAX 64

/*
 * Writes the netblock key of the address: IPv4 masked to v4bits (0-32),
 * IPv6 masked to v6bits (0-128), e.g. "192.0.2.0/24" or "2001:db8::/64".
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as IPv4, so a
 * dual-stack listener does not give one host two budgets.
 * Returns 0, or SK_ERR_INVALID for another address family, bad bit counts
 * or a too small buffer.
 */
int sk_netblock_key(const struct sockaddr *sa, socklen_t salen, int v4bits,
                    int v6bits, char *out, size_t outlen);

/*
 * Parses "V4:V6" (e.g. "32:64"), or "V4" alone (IPv6 then /64).
 * Returns 0 or SK_ERR_INVALID.
 */
int sk_netblock_parse(const char *s, int *v4bits, int *v6bits);

/*
 * Parses MaxStartups-style "start:rate:full" or a single "N" (hard cap:
 * start = full = N, rate 100). Requires 1 <= start <= full, 0 <= rate <=
 * 100. Returns 0 or SK_ERR_INVALID.
 */
int sk_startups_parse(const char *s, int *start, int *rate, int *full);

/*
 * Random early drop. startups: unauthenticated connections now; held: how
 * many of them the new connection's netblock holds; rnd: a uniformly
 * random number. Below start every connection is admitted, at full none;
 * between, a connection is dropped with probability rising linearly from
 * rate% to 100% -- except that a netblock holding none is admitted until
 * full, so a flood from other addresses cannot crowd out a newcomer.
 * Returns 1 to admit, 0 to drop.
 */
int sk_startups_admit(int startups, int held, int start, int rate, int full,
                      uint32_t rnd);

/* Per-netblock penalties: failures counted within a window. */
struct sk_penalties;

/* A table of at most slots entries. Returns NULL when out of memory. */
struct sk_penalties *sk_penalties_new(size_t slots);

/* Accepts NULL. */
void sk_penalties_free(struct sk_penalties *p);

/*
 * Counts weight failures against key at now; an entry whose last failure
 * is older than window starts again from zero. When the table is full the
 * victim is an expired entry, else the one with the fewest failures (the
 * oldest of those); a victim is never one with more failures than the
 * newcomer would have, so filling the table with fresh addresses cannot
 * make it forget a worse offender (the newcomer is then not tracked, and
 * 1 is returned). Returns 0 when counted.
 */
int sk_penalties_note(struct sk_penalties *p, const char *key, time_t now,
                      int window, int weight);

/* Failures of key within window before now (0 if unknown or expired). */
int sk_penalties_count(const struct sk_penalties *p, const char *key,
                       time_t now, int window);

/*
 * The door's memory: penalties per netblock, and an overflow table for
 * the failures the first could not track because it is full of worse
 * offenders. Those count per coarse block (SK_COARSE_V4/_V6), so an
 * attacker who fills the table with many netblocks of one allocation
 * (an IPv6 /48 holds 65536 /64s) is then counted, and refused, as that
 * allocation; a coarse block it does not hold is unaffected.
 */
#define SK_COARSE_V4 16
#define SK_COARSE_V6 32

struct sk_door;

/* Each table of slots entries. NULL when out of memory. */
struct sk_door *sk_door_new(size_t slots);

/* Accepts NULL. */
void sk_door_free(struct sk_door *d);

/* Counts weight failures of block (and, if the netblock table cannot
 * track it, of its coarse block). Returns 0, or SK_ERR_INVALID. */
int sk_door_note(struct sk_door *d, const char *block, const char *coarse,
                 time_t now, int window, int weight);

/* The larger of block's and coarse's failures within window. */
int sk_door_count(const struct sk_door *d, const char *block,
                  const char *coarse, time_t now, int window);

#endif
