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
#include <stdlib.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

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
