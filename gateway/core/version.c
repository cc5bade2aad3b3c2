/*
 * `PROGRAM --version` for the gateway's programs (util.h). In a file of
 * its own so that a program without it (sekisho-verify, which opens no
 * state) pulls neither SQLite nor libssh out of the core.
 */
#include "store.h"
#include "util.h"

#include <libssh/libssh.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>

void sk_version_print(const char *prog)
{
    /* Versions as loaded at run time, not as compiled against: after a
     * library upgrade this shows what really runs. */
    printf("%s %s\nstate schema %d, libssh %s, libsodium %s, SQLite %s\n",
           prog, SK_VERSION, sk_store_schema_latest(), ssh_version(0),
           sodium_version_string(), sqlite3_libversion());
}
