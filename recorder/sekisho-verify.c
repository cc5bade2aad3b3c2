/*
 * sekisho-verify: checks transcripts and an audit log with nothing but
 * the gateway's signing public key(s) and the files, so an auditor can
 * verify on a machine of their own. Needs no state database, no config,
 * no secret.
 *
 *   sekisho-verify -k signing_key.pub [-k OLD.pub] [--audit audit.log]
 *                  [--allow-incomplete] [TRANSCRIPT...]
 *
 * With --audit, each transcript's seal is also compared with the
 * session_end line the gateway wrote for it. Exit status: 0 if all is
 * intact, 1 if anything is not (each problem on its own line), 2 usage.
 */
#include "audit.h"
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include "recorder/transcript.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sk_keyring keys;

static void usage(void)
{
    fprintf(stderr, "usage: sekisho-verify -k SIGNING.pub [-k ...] "
                    "[--audit LOG] [--allow-incomplete] [TRANSCRIPT...]\n");
    exit(2);
}

/* The seals the audit log's session_end lines recorded, by session id,
 * read once: a scan of the log per transcript would be hours for years of
 * sessions. */
struct seals {
    char (*hash)[65]; /* "" if the line had none */
    size_t n, cap;
    struct sk_strix by_id;
};

static void seals_load(const char *log, struct seals *ss)
{
    FILE *f = fopen(log, "r");
    char *line = NULL;
    size_t cap = 0;

    memset(ss, 0, sizeof(*ss));
    if (f == NULL) {
        return; /* already reported by the audit log check */
    }
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        const char *ev = NULL, *s = NULL, *h = NULL;
        size_t k;

        if (o != NULL &&
            json_unpack(o, "{s:s, s?s, s?s}", "event", &ev, "session", &s,
                        "transcript_hash", &h) == 0 &&
            strcmp(ev, "session_end") == 0 && s != NULL) {
            if (!sk_strix_find(&ss->by_id, s, &k)) {
                if (ss->n == ss->cap) {
                    size_t nc = ss->cap ? ss->cap * 2 : 256;
                    char(*nv)[65] = realloc(ss->hash, nc * sizeof(*nv));

                    if (nv == NULL) {
                        fprintf(stderr, "sekisho-verify: out of memory\n");
                        exit(1);
                    }
                    ss->hash = nv;
                    ss->cap = nc;
                }
                k = ss->n;
                if (sk_strix_add(&ss->by_id, s, k) != 0) {
                    fprintf(stderr, "sekisho-verify: out of memory\n");
                    exit(1);
                }
                ss->hash[ss->n++][0] = '\0';
            }
            if (h != NULL && strlen(h) == 64) {
                memcpy(ss->hash[k], h, 65);
            }
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
}

/* The seal the audit log recorded for a session ("" if none). */
static const char *seal_of(const struct seals *ss, const char *session)
{
    size_t k;

    return sk_strix_find(&ss->by_id, session, &k) ? ss->hash[k] : "";
}

int main(int argc, char **argv)
{
    const char *audit = NULL;
    struct seals seals;
    int allow_incomplete = 0, bad = 0, i;

    if (sodium_init() < 0) {
        return 1;
    }
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
            if (sk_keyring_add_file(&keys, argv[++i]) != 0) {
                fprintf(stderr,
                        "sekisho-verify: %s is not an ssh-ed25519 public "
                        "key file (or too many keys)\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--audit") == 0 && i + 1 < argc) {
            audit = argv[++i];
        } else if (strcmp(argv[i], "--allow-incomplete") == 0) {
            allow_incomplete = 1;
        } else {
            usage();
        }
    }
    if (keys.n == 0 || (audit == NULL && i == argc)) {
        usage();
    }
    if (audit != NULL) {
        FILE *f = fopen(audit, "r");
        uint64_t lines = 0, badl = 0;
        char last[65], err[256];

        if (f == NULL) {
            printf("%s FAILED: %s\n", audit, strerror(errno));
            bad = 1;
        } else if (sk_audit_verify(f, sk_keyring_find, &keys, &lines, &badl, last, err,
                                   sizeof(err)) != 0) {
            printf("%s FAILED: %s\n", audit, err);
            bad = 1;
        } else {
            printf("%s OK: %llu lines, last line hash %s\n", audit,
                   (unsigned long long)lines, last);
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    memset(&seals, 0, sizeof(seals));
    if (audit != NULL && i < argc) {
        seals_load(audit, &seals);
    }
    for (; i < argc; i++) {
        struct sk_tr_info info;
        char hex[65];
        const char *seal = "";
        int fd = open(argv[i], O_RDONLY | O_NOFOLLOW), r;

        if (fd < 0) {
            printf("%s FAILED: %s\n", argv[i], strerror(errno));
            bad = 1;
            continue;
        }
        r = sk_tr_verify(fd, sk_keyring_find, &keys, &info);
        close(fd);
        sodium_bin2hex(hex, sizeof(hex), info.chain, sizeof(info.chain));
        if (r < 0) {
            printf("%s FAILED: %s\n", argv[i], info.error);
            bad = 1;
        } else {
            if (audit != NULL) {
                seal = seal_of(&seals, info.session);
            }
            if (audit != NULL && seal[0] != '\0' &&
                (r != 0 || strcmp(seal, hex) != 0)) {
                printf("%s FAILED: session %s: the audit log records seal "
                       "%.16s..., the file %s\n",
                       argv[i], info.session, seal,
                       r == 0 ? "has another (replaced)"
                              : "is not sealed (cut short)");
                bad = 1;
            } else if (r == 0) {
                printf("%s OK: session %s sealed, %llu checkpoints, %llu "
                       "bytes, hash %s\n",
                       argv[i], info.session,
                       (unsigned long long)info.checkpoints,
                       (unsigned long long)info.size, hex);
            } else {
                printf("%s INCOMPLETE: session %s: %s\n", argv[i],
                       info.session, info.error);
                bad |= !allow_incomplete;
            }
        }
        sk_tr_info_clear(&info);
    }
    free(seals.hash);
    sk_strix_free(&seals.by_id);
    return bad ? 1 : 0;
}
