#include "userkey.h"
#include "methods.h"
#include "sk-err.h"

#include <libssh/libssh.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned factor;
} types[] = {
    {"ssh-ed25519", SK_F_PUBLICKEY},
    {"ecdsa-sha2-nistp256", SK_F_PUBLICKEY},
    {"ecdsa-sha2-nistp384", SK_F_PUBLICKEY},
    {"ecdsa-sha2-nistp521", SK_F_PUBLICKEY},
    {"ssh-rsa", SK_F_PUBLICKEY}, /* the key type; SHA-2 signatures only */
    {"sk-ssh-ed25519@openssh.com", SK_F_SK},
    {"sk-ecdsa-sha2-nistp256@openssh.com", SK_F_SK},
};

/* The modulus size of an ssh-rsa key blob (string type, mpint e, mpint
 * n); libssh 0.10 has no public call for it. 0 if unreadable. */
static int rsa_bits(const char *b64)
{
    size_t cap = strlen(b64), len = 0, o = 0;
    unsigned char *blob = malloc(cap + 1);
    int bits = 0;

    if (blob == NULL ||
        sodium_base642bin(blob, cap, b64, strlen(b64), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(blob);
        return 0;
    }
    for (int field = 0; field < 3; field++) {
        uint32_t l;

        if (len - o < 4) {
            break;
        }
        l = (uint32_t)blob[o] << 24 | (uint32_t)blob[o + 1] << 16 |
            (uint32_t)blob[o + 2] << 8 | blob[o + 3];
        o += 4;
        if (l > len - o) {
            break;
        }
        if (field == 2) {
            size_t i = 0;

            while (i < l && blob[o + i] == 0) {
                i++;
            }
            if (i < l) {
                unsigned char top = blob[o + i];

                bits = (int)(l - i - 1) * 8;
                while (top != 0) {
                    bits++;
                    top >>= 1;
                }
            }
        }
        o += l;
    }
    free(blob);
    return bits;
}

int sk_userkey_parse(const char *line, struct sk_userkey *out, char *err,
                     size_t errlen)
{
    char *copy, *type, *b64, *rest, *save = NULL, *fp = NULL, *exp = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0, i;
    ssh_key key = NULL;
    int r = SK_ERR_INVALID;

    memset(out, 0, sizeof(*out));
    if (strlen(line) > SK_USERKEY_MAX) {
        snprintf(err, errlen, "key line longer than %d characters",
                 SK_USERKEY_MAX);
        return SK_ERR_INVALID;
    }
    if ((copy = strdup(line)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return SK_ERR_ALLOC;
    }
    copy[strcspn(copy, "\r\n")] = '\0';
    type = strtok_r(copy, " \t", &save);
    b64 = strtok_r(NULL, " \t", &save);
    rest = strtok_r(NULL, "", &save);
    if (type == NULL || b64 == NULL) {
        snprintf(err, errlen, "not a public key line (TYPE BASE64 "
                              "[COMMENT])");
        goto out;
    }
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i].name, type) == 0) {
            break;
        }
    }
    if (i == sizeof(types) / sizeof(types[0])) {
        snprintf(err, errlen,
                 "key type '%.64s' not accepted (ssh-ed25519, ecdsa-sha2-*, "
                 "ssh-rsa, sk-ssh-ed25519@openssh.com, "
                 "sk-ecdsa-sha2-nistp256@openssh.com)",
                 type);
        goto out;
    }
    if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type),
                                     &key) != SSH_OK ||
        key == NULL ||
        strcmp(ssh_key_type_to_char(ssh_key_type(key)), type) != 0) {
        snprintf(err, errlen, "the %s key data is malformed", type);
        goto out;
    }
    if (strcmp(type, "ssh-rsa") == 0 && rsa_bits(b64) < 2048) {
        snprintf(err, errlen, "RSA key of %d bits; at least 2048 are "
                              "required",
                 rsa_bits(b64));
        goto out;
    }
    if (ssh_pki_export_pubkey_base64(key, &exp) != SSH_OK ||
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
                               &hlen) != 0 ||
        (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
                                       hlen)) == NULL) {
        snprintf(err, errlen, "cannot export the key");
        r = SK_ERR_CRYPTO;
        goto out;
    }
    if ((size_t)snprintf(out->canon, sizeof(out->canon), "%s %s", type,
                         exp) >= sizeof(out->canon)) {
        snprintf(err, errlen, "key too large");
        goto out;
    }
    snprintf(out->type, sizeof(out->type), "%s", type);
    snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", fp);
    out->factor = types[i].factor;
    if (rest != NULL) {
        size_t o = 0;

        while (*rest == ' ' || *rest == '\t') {
            rest++;
        }
        for (; *rest != '\0' && o + 1 < sizeof(out->comment); rest++) {
            out->comment[o++] =
                (*rest >= 0x20 && *rest < 0x7f) ? *rest : '?';
        }
        out->comment[o] = '\0';
    }
    r = 0;
out:
    ssh_string_free_char(fp);
    ssh_string_free_char(exp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
    free(copy);
    return r;
}
