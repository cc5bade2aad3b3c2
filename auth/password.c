#include "password.h"
#include "sk-err.h"
#include "i18n.h" /* N_: English here, shown translated */

#include <ctype.h>
#include <pwquality.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Cost of every new hash; stored in the hash string itself. */
#define PW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

void sk_pw_policy_default(struct sk_pw_policy *p)
{
    p->min_length = 12;
    p->min_classes = 4;
}

/* Counts the character classes pwquality's minclass counts. */
static int pw_classes(const char *pw)
{
    int lower = 0, upper = 0, digit = 0, other = 0;

    for (; *pw != '\0'; pw++) {
        unsigned char c = (unsigned char)*pw;

        if (c >= 'a' && c <= 'z') {
            lower = 1;
        } else if (c >= 'A' && c <= 'Z') {
            upper = 1;
        } else if (c >= '0' && c <= '9') {
            digit = 1;
        } else {
            other = 1;
        }
    }
    return lower + upper + digit + other;
}

/*
 * cracklib (pwquality's dictionary check) lets "Password1234!" through:
 * its mangling rules do not peel decorations that long. So the word under
 * the decoration is checked too: leading and trailing non-letters are
 * cut, common look-alike substitutions undone (P4ssw0rd) and what is
 * left lower-cased; if cracklib calls that a dictionary word, so do we.
 * Only its dictionary verdict counts: the core is not a password and may
 * well be short or simple.
 */
static int pw_core(const char *pw, int variant, char *out, size_t outlen)
{
    size_t b = 0, e = strlen(pw), o = 0;

    while (b < e && !isalpha((unsigned char)pw[b])) {
        b++;
    }
    while (e > b && !isalpha((unsigned char)pw[e - 1])) {
        e--;
    }
    for (size_t i = b; i < e && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)pw[i];
        char m;

        switch (c) {
        case '0': m = 'o'; break;
        case '1': m = variant ? 'l' : 'i'; break;
        case '!': m = variant ? 'l' : 'i'; break;
        case '3': m = 'e'; break;
        case '4': case '@': m = 'a'; break;
        case '5': case '$': m = 's'; break;
        case '7': m = 't'; break;
        case '8': m = 'b'; break;
        default: m = isalpha(c) ? (char)tolower(c) : 0; break;
        }
        if (m != 0) {
            out[o++] = m;
        }
    }
    out[o] = '\0';
    return (int)o;
}

static int pw_core_is_word(pwquality_settings_t *pwq, const char *pw)
{
    char core[SK_PW_MAX + 1], buf[PWQ_MAX_ERROR_MESSAGE_LEN];

    for (int v = 0; v < 2; v++) {
        void *aux = NULL;
        int rc;

        if (pw_core(pw, v, core, sizeof(core)) < 4 ||
            strcmp(core, pw) == 0) {
            continue;
        }
        rc = pwquality_check(pwq, core, NULL, NULL, &aux);
        if (rc == PWQ_ERROR_CRACKLIB_CHECK) {
            const char *msg = pwquality_strerror(buf, sizeof(buf), rc, aux);

            if (strstr(msg, "dictionary word") != NULL) {
                sodium_memzero(core, sizeof(core));
                return 1;
            }
        } else if (aux != NULL) {
            (void)pwquality_strerror(buf, sizeof(buf), rc, aux); /* frees */
        }
    }
    sodium_memzero(core, sizeof(core));
    return 0;
}

int sk_pw_check(const struct sk_pw_policy *p, const char *user,
                const char *password, char *reason, size_t reasonlen)
{
    pwquality_settings_t *pwq = NULL;
    void *aux = NULL;
    int minlen = p->min_length < 8 ? 8 : p->min_length, rc, r = SK_ERR_DENIED;
    size_t len = strlen(password);
    char buf[PWQ_MAX_ERROR_MESSAGE_LEN];

    if (len > SK_PW_MAX) {
        snprintf(reason, reasonlen, "password is longer than %d bytes",
                 SK_PW_MAX);
        return SK_ERR_DENIED;
    }
    if (len < (size_t)minlen) {
        snprintf(reason, reasonlen,
                 "password is shorter than %d characters", minlen);
        return SK_ERR_DENIED;
    }
    if (pw_classes(password) < p->min_classes) {
        snprintf(reason, reasonlen, "%s",
                 N_("password must contain lower case, upper case, digit "
                    "and symbol characters"));
        return SK_ERR_DENIED;
    }
    /* R-PW-2: pwquality's user check misses the name embedded in a longer
     * password, so look for it ourselves, ignoring case. */
    if (user != NULL && strlen(user) >= 3 && strcasestr(password, user)) {
        snprintf(reason, reasonlen, "%s",
                 N_("password must not contain the user name"));
        return SK_ERR_DENIED;
    }
    if ((pwq = pwquality_default_settings()) == NULL) {
        snprintf(reason, reasonlen, "%s",
                 N_("password checker unavailable"));
        return SK_ERR_INTERNAL;
    }
    /* Length and classes are checked above in plain terms; pwquality adds
     * the dictionary, user-name, palindrome and repetition checks. Credits
     * are disabled so length means characters. */
    if (pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, minlen) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_DIG_CREDIT, 0) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_UP_CREDIT, 0) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_LOW_CREDIT, 0) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_OTH_CREDIT, 0) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_USER_CHECK, 1) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_DICT_CHECK, 1) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_MAX_REPEAT, 3) != 0) {
        snprintf(reason, reasonlen, "%s",
                 N_("password checker misconfigured"));
        r = SK_ERR_INTERNAL;
        goto out;
    }
    rc = pwquality_check(pwq, password, NULL, user, &aux);
    if (rc < 0) {
        const char *msg = pwquality_strerror(buf, sizeof(buf), rc, aux);

        aux = NULL; /* pwquality_strerror frees it */
        /* A checker that cannot load its dictionary must not let a
         * password through: that is a failure, not a pass. */
        snprintf(reason, reasonlen, "password rejected: %s", msg);
        r = (rc == PWQ_ERROR_CRACKLIB_CHECK && strstr(msg, "dictionary") &&
             strstr(msg, "load"))
                ? SK_ERR_INTERNAL
                : SK_ERR_DENIED;
        goto out;
    }
    /* The dictionary check again on the undecorated word (R-PW-2); the
     * settings are relaxed so only cracklib's verdict can trip. */
    if (pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, 6) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_MAX_REPEAT, 0) != 0 ||
        pwquality_set_int_value(pwq, PWQ_SETTING_MIN_CLASS, 0) != 0) {
        snprintf(reason, reasonlen, "%s",
                 N_("password checker misconfigured"));
        r = SK_ERR_INTERNAL;
        goto out;
    }
    if (pw_core_is_word(pwq, password)) {
        snprintf(reason, reasonlen, "%s",
                 N_("password rejected: it is a dictionary word with "
                    "decorations"));
        goto out;
    }
    r = 0;
out:
    pwquality_free_settings(pwq);
    return r;
}

int sk_pw_hash(const char *password, char *out, size_t outlen)
{
    if (outlen < crypto_pwhash_STRBYTES) {
        return SK_ERR_TOO_LONG;
    }
    if (strlen(password) > SK_PW_MAX) {
        return SK_ERR_TOO_LONG;
    }
    if (crypto_pwhash_str_alg(out, password, strlen(password), PW_OPSLIMIT,
                              PW_MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return SK_ERR_CRYPTO;
    }
    return 0;
}

/*
 * The hash checked in place of a user's when there is none (unknown
 * name, refused request): the same argon2id parameters as PW_OPSLIMIT /
 * PW_MEMLIMIT give new hashes (test_password checks they still do), of a
 * random password nobody kept. A constant, because computing one lazily
 * made the first unknown name of a process pay a hash and a verify
 * (a timing oracle for user names), and pam_sekisho.so is loaded afresh
 * for every PAM transaction, so "first" was every time.
 */
static const char pw_dummy[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$YqGz4ColoHFlqFD/YWk7bw$"
    "ClFMl6/9KFR3jU1nLKXLUUAqK9Uj9wt0lzXHYQEc5nM";

const char *sk_pw_dummy_hash(void)
{
    return pw_dummy;
}

int sk_pw_verify(const char *hash, const char *password)
{
    size_t len = strlen(password);

    if (len > SK_PW_MAX) {
        len = SK_PW_MAX; /* still spend the time */
    }
    if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0) {
        /* Spend the time of a real check; the result is irrelevant (and
         * warn_unused_result wants it looked at). */
        if (crypto_pwhash_str_verify(pw_dummy, password, len) == 0) {
            return SK_ERR_DENIED;
        }
        return SK_ERR_DENIED;
    }
    if (strlen(password) > SK_PW_MAX) {
        if (crypto_pwhash_str_verify(hash, password, len) == 0) {
            return SK_ERR_DENIED;
        }
        return SK_ERR_DENIED;
    }
    return crypto_pwhash_str_verify(hash, password, len) == 0
               ? 0
               : SK_ERR_DENIED;
}
