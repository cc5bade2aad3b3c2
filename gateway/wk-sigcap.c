/*
 * The worker's view of a publickey signature, for the monitor to check.
 *
 * libssh 0.10 verifies a client's publickey signature inside
 * ssh_message_get() and exposes only the verdict
 * (ssh_message_auth_publickey_state): neither the session identifier (the
 * exchange hash H of the first key exchange) nor the signature blob has
 * a public accessor, and packet callbacks (ssh_packet_set_callbacks) are
 * not exported by libssh.so.4. What libssh does export is its use of
 * libcrypto: it checks every signature with the one-shot
 * EVP_DigestVerify(ctx, sig, siglen, data, datalen) (OpenSSL 3 builds),
 * and for FIDO keys first hashes the RFC 4252 data with EVP_DigestUpdate.
 * This executable therefore defines those two functions; the dynamic
 * linker binds libssh's calls to them (an executable's definitions come
 * first), and they record what passes while the worker waits for an
 * authentication request, then call libcrypto's own (RTLD_NEXT).
 *
 * Nothing here is trusted: the monitor rebuilds the signed data from its
 * own facts and verifies the signature itself (auth/pubkey.c). If libssh
 * ever stops calling these, nothing is recorded and the monitor refuses
 * every key: it fails closed, and the integration tests say so.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "auth/pubkey.h"
#include "worker.h"

#define CAP_DATA_MAX 12288 /* RFC 4252 data with an RSA-16384 blob */
#define SK_TBS_LEN (32 + 1 + 4 + 32) /* PROTOCOL.u2f signed form */

typedef int (*verify_fn)(EVP_MD_CTX *, const unsigned char *, size_t,
                         const unsigned char *, size_t);
typedef int (*update_fn)(EVP_MD_CTX *, const void *, size_t);
typedef int (*sign_fn)(EVP_MD_CTX *, unsigned char *, size_t *,
                       const unsigned char *, size_t);

static struct {
    int armed;
    unsigned char data[CAP_DATA_MAX]; /* the RFC 4252 data */
    size_t datalen;
    unsigned char sig[SK_PK_SIG_MAX]; /* the last signature checked */
    size_t siglen;
    unsigned char tbs[SK_TBS_LEN]; /* FIDO: what the key signed */
    size_t tbslen;
    int verified_data; /* the signature was over data itself */
} cap;

static verify_fn real_verify;
static update_fn real_update;
static sign_fn real_sign;
/* Set once the decoy host key is in libssh's hands (hostkey.h): from then
 * on every signature the worker makes goes to the monitor. */
static int hostsign_armed;

/* Resolved before main, long before the sandbox: dlsym then needs no
 * system call the sandbox might refuse. The hooks resolve again should a
 * library's constructor (run before ours) hash something first. */
__attribute__((constructor)) static void sigcap_resolve(void)
{
    real_verify = (verify_fn)dlsym(RTLD_NEXT, "EVP_DigestVerify");
    real_update = (update_fn)dlsym(RTLD_NEXT, "EVP_DigestUpdate");
    real_sign = (sign_fn)dlsym(RTLD_NEXT, "EVP_DigestSign");
}

static int is_userauth_data(const void *d, size_t n)
{
    const unsigned char *sid;
    size_t sidlen;
    char alg[64];

    return n <= CAP_DATA_MAX &&
           sk_pubkey_parse_signed(d, n, &sid, &sidlen, alg, sizeof(alg)) ==
               0;
}

int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
    if (cap.armed && d != NULL && is_userauth_data(d, cnt)) {
        memcpy(cap.data, d, cnt);
        cap.datalen = cnt;
    }
    if (real_update == NULL) {
        sigcap_resolve();
    }
    return real_update != NULL ? real_update(ctx, d, cnt) : 0;
}

int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig,
                     size_t siglen, const unsigned char *tbs, size_t tbslen)
{
    if (cap.armed && sig != NULL && tbs != NULL && siglen <= sizeof(cap.sig)) {
        memcpy(cap.sig, sig, siglen);
        cap.siglen = siglen;
        cap.verified_data = 0;
        cap.tbslen = 0;
        if (is_userauth_data(tbs, tbslen)) {
            memcpy(cap.data, tbs, tbslen);
            cap.datalen = tbslen;
            cap.verified_data = 1;
        } else if (tbslen == SK_TBS_LEN) {
            memcpy(cap.tbs, tbs, tbslen);
            cap.tbslen = tbslen;
        }
    }
    if (real_verify == NULL) {
        sigcap_resolve();
    }
    return real_verify != NULL ? real_verify(ctx, sig, siglen, tbs, tbslen)
                               : 0;
}

/*
 * libssh signs each key exchange's hash with the host key by
 * EVP_DigestSign (pki_sign_data). The worker holds only a decoy of that
 * key, so once armed the data goes to the monitor, which holds the real
 * key, checks the request and signs (MON_HOSTKEY_SIGN). The worker makes
 * no other signature: the egress key signs in the monitor (ssh-agent),
 * transcripts in the recorder. Size queries (sig NULL) need no key: the
 * decoy has the real key's size.
 */
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sig, size_t *siglen,
                   const unsigned char *tbs, size_t tbslen)
{
    const EVP_MD *md;

    if (real_sign == NULL) {
        sigcap_resolve();
    }
    if (!hostsign_armed || sig == NULL) {
        return real_sign != NULL ? real_sign(ctx, sig, siglen, tbs, tbslen)
                                 : 0;
    }
    md = EVP_MD_CTX_get0_md(ctx);
    return mm_hostkey_sign(md != NULL ? EVP_MD_get_type(md) : NID_undef, tbs,
                           tbslen, sig, siglen) == 0;
}

void wk_hostsign_arm(void)
{
    hostsign_armed = 1;
}

void wk_sigcap_arm(int on)
{
    if (on) {
        sodium_memzero(&cap, sizeof(cap));
    }
    cap.armed = on;
}

int wk_sigcap_get(struct wk_sigproof *out)
{
    unsigned char h[crypto_hash_sha256_BYTES];

    memset(out, 0, sizeof(*out));
    if (cap.datalen == 0 || cap.siglen == 0 ||
        sk_pubkey_parse_signed(cap.data, cap.datalen, &out->sid,
                               &out->sidlen, out->alg,
                               sizeof(out->alg)) != 0) {
        return -1;
    }
    if (!cap.verified_data) {
        /* FIDO: the signed form must be over this very data. */
        crypto_hash_sha256(h, cap.data, cap.datalen);
        if (cap.tbslen != SK_TBS_LEN ||
            sodium_memcmp(h, cap.tbs + 37, sizeof(h)) != 0) {
            return -1;
        }
        out->sk_flags = cap.tbs[32];
        out->sk_counter = (uint32_t)cap.tbs[33] << 24 |
                          (uint32_t)cap.tbs[34] << 16 |
                          (uint32_t)cap.tbs[35] << 8 | cap.tbs[36];
    }
    out->sig = cap.sig;
    out->siglen = cap.siglen;
    return 0;
}
