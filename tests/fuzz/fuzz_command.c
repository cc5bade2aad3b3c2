/* The gateway command parser: any bytes a client sends as its command. */
#include "policy/command.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sk_cmd c;
    char err[256];

    if (sk_cmd_parse((const char *)data, size, &c, err, sizeof(err)) == 0) {
        /* Whatever parses is well-formed: terminated fields. */
        if (memchr(c.target, '\0', sizeof(c.target)) == NULL ||
            memchr(c.text, '\0', sizeof(c.text)) == NULL) {
            abort();
        }
    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    return 0;
}
