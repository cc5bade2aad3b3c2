/*
 * The egress key's rules: see egress.h. The checks here are what stands
 * between a compromised worker and a general signing oracle for every
 * target login, so each field of the request is checked exactly.
 */
#include "egress.h"
#include "buf.h"
#include "sk-err.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SSH2_MSG_USERAUTH_REQUEST 50

static int sid_len_ok(size_t n)
{
    /* The exchange hash of the key exchange: SHA-1, SHA-256, SHA-384 or
     * SHA-512 (RFC 4253 section 7.2, RFC 8731). */
    return n == 20 || n == 32 || n == 48 || n == 64;
}

int sk_egress_check(const struct sk_egress_guard *g, const uint8_t *data,
                    size_t len, const char *login, const uint8_t *blob,
                    size_t bloblen, uint8_t idhash[SK_EGRESS_IDHASH_LEN])
{
    struct sk_buf b;
    const uint8_t *sid, *p;
    size_t sidlen, n;
    uint8_t type, has_sig;
    int r = SK_ERR_INVALID, i;

    memset(idhash, 0, SK_EGRESS_IDHASH_LEN);
    sk_buf_init(&b);
    if (login == NULL || login[0] == '\0' || sk_buf_put(&b, data, len) != 0) {
        goto out;
    }
    if (sk_buf_get_string_direct(&b, &sid, &sidlen) != 0 ||
        !sid_len_ok(sidlen) || sk_buf_get_u8(&b, &type) != 0 ||
        type != SSH2_MSG_USERAUTH_REQUEST ||
        sk_buf_get_string_direct(&b, &p, &n) != 0 || n != strlen(login) ||
        memcmp(p, login, n) != 0 ||
        sk_buf_get_string_direct(&b, &p, &n) != 0 || n != 14 ||
        memcmp(p, "ssh-connection", 14) != 0 ||
        sk_buf_get_string_direct(&b, &p, &n) != 0 || n != 9 ||
        memcmp(p, "publickey", 9) != 0 || sk_buf_get_u8(&b, &has_sig) != 0 ||
        has_sig != 1 || sk_buf_get_string_direct(&b, &p, &n) != 0 ||
        sk_buf_get_string_direct(&b, &p, &n) != 0 || n != bloblen ||
        memcmp(p, blob, n) != 0 || sk_buf_avail(&b) != 0) {
        goto out;
    }
    if (crypto_generichash(idhash, SK_EGRESS_IDHASH_LEN, sid, sidlen, NULL,
                           0) != 0) {
        r = SK_ERR_CRYPTO;
        goto out;
    }
    for (i = 0; i < g->nids && i < SK_EGRESS_IDS_MAX; i++) {
        if (sodium_memcmp(g->ids[i], idhash, SK_EGRESS_IDHASH_LEN) == 0) {
            r = SK_ERR_EXISTS;
            goto out;
        }
    }
    if (g->signs >= SK_EGRESS_SIGNS_PER_CONN) {
        r = SK_ERR_DENIED;
        goto out;
    }
    r = 0;
out:
    sk_buf_free(&b);
    return r;
}

void sk_egress_note(struct sk_egress_guard *g,
                    const uint8_t idhash[SK_EGRESS_IDHASH_LEN])
{
    if (g->nids >= SK_EGRESS_IDS_MAX) {
        memmove(g->ids[0], g->ids[1],
                (SK_EGRESS_IDS_MAX - 1) * SK_EGRESS_IDHASH_LEN);
        g->nids = SK_EGRESS_IDS_MAX - 1;
    }
    memcpy(g->ids[g->nids++], idhash, SK_EGRESS_IDHASH_LEN);
    g->signs++;
}

void sk_egress_new_conn(struct sk_egress_guard *g)
{
    g->signs = 0;
}

void sk_egress_idhash_hex(const uint8_t idhash[SK_EGRESS_IDHASH_LEN],
                          char *out, size_t outlen)
{
    if (outlen < SK_EGRESS_IDHASH_LEN * 2 + 1) {
        if (outlen > 0) {
            out[0] = '\0';
        }
        return;
    }
    sodium_bin2hex(out, outlen, idhash, SK_EGRESS_IDHASH_LEN);
}

int sk_egress_group_valid(const char *name)
{
    return name != NULL && sk_name_valid(name);
}

int sk_egress_key_path(const char *default_key, const char *state_dir,
                       const char *group, char *out, size_t outlen)
{
    int n;

    if (group == NULL || group[0] == '\0' ||
        strcmp(group, SK_EGRESS_DEFAULT_GROUP) == 0) {
        n = snprintf(out, outlen, "%s", default_key);
    } else if (!sk_egress_group_valid(group)) {
        return SK_ERR_BAD_NAME;
    } else {
        n = snprintf(out, outlen, "%s/egress_key.%s", state_dir, group);
    }
    return n < 0 || (size_t)n >= outlen ? SK_ERR_TOO_LONG : 0;
}

char *sk_egress_authorized_line(const char *from, const char *publine)
{
    char *line = NULL;
    int n;

    /* restrict: no port, agent or X11 forwarding, no user rc, no pty;
     * pty gives back only the terminal that shell sessions need. */
    if (from != NULL && strchr(from, '"') != NULL) {
        return NULL;
    }
    if (from != NULL) {
        n = asprintf(&line, "from=\"%s\",restrict,pty %s", from, publine);
    } else {
        n = asprintf(&line, "restrict,pty %s", publine);
    }
    return n < 0 ? NULL : line;
}

int sk_read_deadline(int fd, void *p, size_t n, int64_t deadline_ms)
{
    size_t off = 0;
    ssize_t r;

    while (off < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline_ms - sk_mono_ms();
        int pr;

        if (left <= 0) {
            return SK_ERR_DENIED;
        }
        pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr < 0) {
            return SK_ERR_SYSTEM;
        }
        if (pr == 0) {
            continue; /* the loop head decides whether time is up */
        }
        r = read(fd, (char *)p + off, n - off);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r < 0) {
            return SK_ERR_SYSTEM;
        }
        if (r == 0) {
            return SK_ERR_EOF;
        }
        off += (size_t)r;
    }
    return 0;
}
