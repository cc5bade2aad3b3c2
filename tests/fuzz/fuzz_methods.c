/* Method rules on arbitrary text: parsing never misbehaves, an accepted
 * rule formats to text that parses back to the same rule, and the
 * decisions stay consistent with each other for every set of factors. */
#include "methods.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[300], out[600], err[256];
    struct sk_methods m, again;

    if (size >= sizeof(s)) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (sk_methods_parse(s, 1, &m, err, sizeof(err)) != 0) {
        return 0;
    }
    sk_methods_format(&m, out, sizeof(out));
    if (sk_methods_parse(out, 1, &again, err, sizeof(err)) != 0 ||
        again.n != m.n || memcmp(again.alt, m.alt, sizeof(m.alt)) != 0) {
        abort();
    }
    for (unsigned done = 0; done < 16; done++) {
        unsigned want = sk_methods_wanted(&m, done),
                 ask = sk_methods_pam_ask(&m, done);
        int sat = sk_methods_satisfied(&m, done);

        /* satisfied exactly when nothing is wanted; never ask for more
         * than is wanted, nor for keys through PAM */
        if (sat != (want == 0) || (ask & ~want) != 0 ||
            (ask & ~(unsigned)SK_F_PAM) != 0 || (want & done) != 0) {
            abort();
        }
    }
    return 0;
}
