/* CIDR parsing and matching on arbitrary text. */
#include "policy/cidr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128], out[64];
    struct sk_cidr c;

    if (size >= sizeof(s)) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (sk_cidr_parse(s, &c) == 0) {
        struct sk_cidr again;

        /* the canonical form parses back to the same block */
        sk_cidr_format(&c, out, sizeof(out));
        if (sk_cidr_parse(out, &again) != 0 || again.prefix != c.prefix ||
            memcmp(again.addr, c.addr, sizeof(c.addr)) != 0) {
            abort();
        }
    }
    (void)sk_cidr_list_match(s, "10.1.2.3");
    (void)sk_cidr_list_match("10.0.0.0/8 ::1", s);
    return 0;
}
