/* The monitor's publickey check on arbitrary worker input: the proof
 * (session id, kex, algorithm, signature, FIDO flags) and the signed
 * data the worker parses never crash the check, and no input is ever
 * accepted against these keys (nobody holds their private halves any
 * more). The same bytes also serve as a key blob, for the blob parser. */
#include "auth/pubkey.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *keys[] = {
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdzhIBuefsgZ1OJMPx/l4Fi0tFc5ac9Pm"
    "jyMh8FmlGl",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAA"
    "BBBCM1zZktBcNsdo23/uBOfsMeeQkcw+bTBSDKG7jgSjOIrm4MWyWpee3QvsYSZ3xS1wny"
    "ih1yIs0k+b3njrq/m98=",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCsGkRMXnQq0bu8c4CM0HMajrPuwmNjUjEWAukgWegtrQJQvKLnPrc/lPfCSn7+XiQe3qp9SOrcJj0qfRyzN8xfxro9mA7BGk6ea89UVKn74ASazL5h6labReUEfp2DBM5lycav/MyOFURc9r6LmHdPGYDKHF/hfDM/xyFG+2Ui+6DpJ9c4u/cNqEyqLFcOnR5C62wQEhGnkgETAdlvW068AqGlAMuVOz6Ur6Mm/imGT5yAEH5sZ6xPW9+usBGhktFsCttgdLtM5phCd0TZ2z89+Tbmjx0fKU7yY8ZXQRgMWL9cVTTNWg1mGf33MHYBruW0u2/xf6Uyp1pf1Uw2GFh3",
};

static const char *kexes[] = {"curve25519-sha256", "ecdh-sha2-nistp384",
                              "diffie-hellman-group16-sha512", "bogus"};

static const char *algs[] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
                             "rsa-sha2-256", "rsa-sha2-512",
                             "sk-ssh-ed25519@openssh.com", "ssh-rsa"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *sid;
    size_t sidlen, i;
    char alg[64], line[8192], b64[6000];
    struct sk_pk_proof p;

    if (size < 4 || size > 4000 || sodium_init() < 0) {
        return 0;
    }
    (void)sk_pubkey_parse_signed(data, size, &sid, &sidlen, alg,
                                 sizeof(alg));
    /* byte 0: kex, byte 1: algorithm, byte 2: odd: session id length,
     * byte 3: FIDO flags; then session id, then signature */
    memset(&p, 0, sizeof(p));
    p.kex = kexes[data[0] % 4];
    p.alg = algs[data[1] % 6];
    p.session_id = data + 4;
    /* mostly the length the kex makes, so the signature gets checked */
    p.session_id_len = (data[2] & 1) ? data[2] % 65
                                     : sk_pubkey_kex_hash_len(p.kex);
    if (p.session_id_len > size - 4) {
        p.session_id_len = size - 4;
    }
    p.sig = p.session_id + p.session_id_len;
    p.sig_len = size - 4 - p.session_id_len;
    p.user = "alice";
    p.sk_flags = data[3];
    p.sk_counter = 1;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (sk_pubkey_verify(keys[i], &p) == 0) {
            abort();
        }
    }
    /* the input as a key blob of each type name */
    sodium_bin2base64(b64, sizeof(b64), data, size,
                      sodium_base64_VARIANT_ORIGINAL);
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        snprintf(line, sizeof(line), "%s %s", algs[i], b64);
        if (sk_pubkey_verify(line, &p) == 0) {
            abort();
        }
    }
    return 0;
}
