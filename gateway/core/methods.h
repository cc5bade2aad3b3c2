/*
 * Authentication method rules (R-AUTH-1, R-PW-5): which combinations of
 * factors admit a user, like OpenSSH's AuthenticationMethods. A rule is
 * one or more alternatives separated by spaces; an alternative is factors
 * joined by '+', all of which the user must present in one connection,
 * keys (publickey, sk) before the factors asked through PAM:
 *
 *   password    the account password (keyboard-interactive, through PAM)
 *   totp        a TOTP verification code (keyboard-interactive, PAM)
 *   publickey   a registered ordinary public key (ssh-ed25519, ECDSA, RSA
 *               with SHA-2)
 *   sk          a registered FIDO2 security key (sk-ssh-ed25519@openssh.com,
 *               sk-ecdsa-sha2-nistp256@openssh.com)
 *
 * e.g. "password+totp sk+password". Pure code: no I/O, no allocation.
 */
#ifndef SK_METHODS_H
#define SK_METHODS_H

#include <stddef.h>

enum sk_factor {
    SK_F_PASSWORD = 1,
    SK_F_TOTP = 2,
    SK_F_PUBLICKEY = 4,
    SK_F_SK = 8,
};
#define SK_F_PAM (SK_F_PASSWORD | SK_F_TOTP) /* asked through PAM */
#define SK_F_KEYS (SK_F_PUBLICKEY | SK_F_SK) /* proved by a signature */

#define SK_METHODS_MAX_ALT 8
#define SK_METHODS_TEXT_MAX 256 /* longest rule text accepted */

struct sk_methods {
    int n;
    unsigned alt[SK_METHODS_MAX_ALT]; /* each a set of SK_F_* */
};

/* Parses text into *out. min_factors: every alternative must name at
 * least this many factors (2 when a second factor is mandatory). Returns
 * 0, or SK_ERR_INVALID with the reason in err (which names the offending
 * word). Duplicate alternatives are merged. */
int sk_methods_parse(const char *text, int min_factors,
                     struct sk_methods *out, char *err, size_t errlen);

/* 1 if the factors in done satisfy some alternative. */
int sk_methods_satisfied(const struct sk_methods *m, unsigned done);

/* The factors that would still bring some alternative closer, given
 * done: the union of what each alternative lacks. 0 once nothing can. */
unsigned sk_methods_wanted(const struct sk_methods *m, unsigned done);

/* Which PAM factors (SK_F_PAM bits) one keyboard-interactive round should
 * ask, given done: the fewest that complete an alternative needing no
 * further key. Keys come first: 0 while every alternative that wants a
 * PAM factor still wants a key too (or none wants one). */
unsigned sk_methods_pam_ask(const struct sk_methods *m, unsigned done);

/* Writes factor set f as "sk+password" (canonical order: password, totp,
 * publickey, sk); "none" for 0. */
void sk_factors_format(unsigned f, char *out, size_t outlen);

/* Writes the rule canonically (alternatives in their order). */
void sk_methods_format(const struct sk_methods *m, char *out,
                       size_t outlen);

#endif
