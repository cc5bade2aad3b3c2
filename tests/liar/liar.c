/*
 * A compromised worker, as far as a test can make one: LD_PRELOADed into
 * the gateway, it replaces libssh's ssh_message_auth_pubkey so that the
 * worker reports the key in the file $SK_LIAR_KEY (someone else's,
 * registered) for every publickey request, while the client really
 * offered and signed with its own key. libssh finds the client's
 * signature valid, so the worker says MON_PK_SIGNED for the victim's key:
 * only the monitor's own check of the signature against the registered
 * key stands between this and a login. Never for production.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <openssl/evp.h>

static ssh_key liar_key;

/* Before main (and the worker's sandbox): files can still be read. */
__attribute__((constructor)) static void liar_load(void)
{
    const char *path = getenv("SK_LIAR_KEY");

    if (path != NULL &&
        ssh_pki_import_pubkey_file(path, &liar_key) != SSH_OK) {
        liar_key = NULL;
    }
}

ssh_key ssh_message_auth_pubkey(ssh_message msg)
{
    (void)msg;
    return liar_key; /* NULL without a key: every request fails */
}

typedef int (*kex_fn)(ssh_session);
typedef int (*sign_fn)(EVP_MD_CTX *, unsigned char *, size_t *,
                       const unsigned char *, size_t);

int ssh_handle_key_exchange(ssh_session session)
{
    kex_fn real = (kex_fn)dlsym(RTLD_NEXT, "ssh_handle_key_exchange");
    sign_fn sign = (sign_fn)dlsym(RTLD_DEFAULT, "EVP_DigestSign");
    const char *mode = getenv("SK_LIAR_SIGN");
    unsigned char data[100], sig[512];
    size_t siglen;
    int r, i;

    r = real != NULL ? real(session) : SSH_ERROR;
    if (r != SSH_OK || mode == NULL || sign == NULL) {
        return r;
    }
    memset(data, 'A', sizeof(data));
    for (i = 0; i < 20; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        siglen = sizeof(sig);
        data[0] = (unsigned char)i;
        (void)sign(ctx, sig, &siglen, data,
                   strcmp(mode, "long") == 0 ? sizeof(data) : 32);
        EVP_MD_CTX_free(ctx);
    }
    return r;
}
