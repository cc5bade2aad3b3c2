#include "password.h"
#include "sk-err.h"

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
        snprintf(reason, reasonlen,
                 "password must contain lower case, upper case, digit and "
                 "symbol characters");
        return SK_ERR_DENIED;
    }
    /* R-PW-2: pwquality's user check misses the name embedded in a longer
     * password, so look for it ourselves, ignoring case. */
    if (user != NULL && strlen(user) >= 3 && strcasestr(password, user)) {
        snprintf(reason, reasonlen, "password must not contain the user "
                 "name");
        return SK_ERR_DENIED;
    }
    if ((pwq = pwquality_default_settings()) == NULL) {
        snprintf(reason, reasonlen, "password checker unavailable");
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
        snprintf(reason, reasonlen, "password checker misconfigured");
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

int sk_pw_verify(const char *hash, const char *password)
{
    static char dummy[crypto_pwhash_STRBYTES];
    size_t len = strlen(password);

    if (len > SK_PW_MAX) {
        len = SK_PW_MAX; /* still spend the time */
    }
    if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0) {
        if (dummy[0] == '\0' &&
            crypto_pwhash_str_alg(dummy, "sekisho-dummy", 13, PW_OPSLIMIT,
                                  PW_MEMLIMIT,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
            return SK_ERR_DENIED;
        }
        /* Spend the time of a real check; the result is irrelevant. */
        if (crypto_pwhash_str_verify(dummy, password, len) == 0) {
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
