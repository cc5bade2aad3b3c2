/*
 * sekisho-verify: checks transcripts and an audit log with nothing but
 * the gateway's signing public key(s) and the files, so an auditor can
 * verify on a machine of their own. Needs no state database, no config,
 * no secret.
 *
 *   sekisho-verify -k signing_key.pub [-k OLD.pub] [--audit audit.log]
 *                  [--allow-incomplete] [--dir DIR] [TRANSCRIPT...]
 *
 * --audit takes the current log (or the directory holding audit.log);
 * its rotated files (audit.log.YYYYMMDDTHHMMSSZ) beside it are walked
 * with it as one chain, and a missing one is named.
 *
 * With --audit, each transcript's seal is also compared with the
 * session_end line the gateway wrote for it. --dir takes every *.skt
 * under DIR (a copy of the transcript tree); with --audit too, every
 * session the audit log started and did not purge must have its
 * transcript there, so a deleted one is named. Exit status: 0 if all is
 * intact, 1 if anything is not (each problem on its own line), 2 usage.
 */
#include "audit.h"
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include "recorder/transcript.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sk_keyring keys;

static void usage(void)
{
    fprintf(stderr,
            "usage: sekisho-verify -k SIGNING.pub [-k ...] [--audit LOG] "
            "[--allow-incomplete] [--dir DIR] [TRANSCRIPT...]\n"
            "       sekisho-verify -k SIGNING.pub [-k ...] [--audit LOG] "
            "[--allow-incomplete]\n"
            "           --export asciicast|text --auditor-key KEY "
            "[--passphrase-file F] -o OUT TRANSCRIPT\n"
            "       sekisho-verify -k SIGNING.pub [-k ...] [--audit LOG] "
            "[--allow-incomplete]\n"
            "           --replay --auditor-key KEY [--passphrase-file F] "
            "[--speed X] TRANSCRIPT\n");
    exit(2);
}

static const char *ts(const char *s);

/*
 * --export: the one transcript, verified first (as any other), decrypted
 * with the auditor's own key into OUT (created, 0600, never over an
 * existing file), as asciicast v2 for `asciinema play` or as text. Only
 * what verified is shown: a damaged transcript is not exported at all.
 */
/* Plays the asciicast in memory file mfd with the real asciinema (on the
 * auditor's terminal), at speed (NULL: 1). Returns its exit status, or 1
 * if it could not be run. The decrypted session never touches a disk:
 * asciinema opens it as /proc/self/fd/N, which it inherits. */
static int replay_memfd(int mfd, const char *speed)
{
    char fdpath[64];
    pid_t pid;
    int st;

    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", mfd);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "sekisho-verify: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        if (speed != NULL) {
            execlp("asciinema", "asciinema", "play", "-s", speed, fdpath,
                   (char *)NULL);
        } else {
            execlp("asciinema", "asciinema", "play", fdpath, (char *)NULL);
        }
        fprintf(stderr,
                "sekisho-verify: cannot run asciinema (%s): install it "
                "(Debian: asciinema) or use --export asciicast\n",
                strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return 1;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int export_file(const char *path, const char *format,
                       const char *keyfile, const char *ppfile,
                       const char *outp, const char *speed)
{
    struct sk_boxkey *k = NULL;
    char *pass = NULL, err[512] = "";
    size_t plen = 0;
    FILE *out = NULL;
    int fd = -1, ofd = -1, r, rc = 1;

    if (ppfile != NULL) {
        if ((r = sk_file_read(ppfile, 1024, &pass, &plen)) != 0) {
            fprintf(stderr, "sekisho-verify: cannot read %s: %s\n",
                    ts(ppfile), sk_err_str(r));
            goto out;
        }
        pass[strcspn(pass, "\r\n")] = '\0';
    }
    r = sk_boxkey_load_secret(keyfile, pass, &k);
    if (r == SK_ERR_DENIED && pass == NULL && isatty(STDIN_FILENO)) {
        char *p = getpass("Auditor key passphrase: ");

        if (p != NULL) {
            r = sk_boxkey_load_secret(keyfile, p, &k);
            sodium_memzero(p, strlen(p));
        }
    }
    if (r != 0) {
        fprintf(stderr, "sekisho-verify: auditor key %s: %s\n", ts(keyfile),
                r == SK_ERR_DENIED ? "passphrase missing or wrong"
                                   : sk_err_str(r));
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        (ofd = outp != NULL
                   ? open(outp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                    O_CLOEXEC,
                          0600)
                   : memfd_create("sekisho-replay", 0)) < 0 ||
        (out = fdopen(outp != NULL ? ofd : dup(ofd), "w")) == NULL) {
        fprintf(stderr, "sekisho-verify: %s: %s\n",
                ts(fd < 0 ? path : outp != NULL ? outp : "memory file"),
                strerror(errno));
        goto out;
    }
    if (outp != NULL) {
        ofd = -1;
    }
    r = strcmp(format, "text") == 0
            ? sk_tr_export_text(fd, k, out, err, sizeof(err))
            : sk_tr_export_asciicast(fd, k, out, 0, err, sizeof(err));
    if (fclose(out) != 0 && r == 0) {
        snprintf(err, sizeof(err), "writing %s: %s",
                 outp != NULL ? outp : "memory file", strerror(errno));
        r = SK_ERR_SYSTEM;
    }
    out = NULL;
    if (r < 0) {
        fprintf(stderr, "sekisho-verify: export failed: %s\n", ts(err));
        if (outp != NULL) {
            (void)unlink(outp);
        }
        goto out;
    }
    if (outp == NULL) {
        rc = replay_memfd(ofd, speed);
        goto out;
    }
    printf("%s exported to %s (%s)\n", ts(path), ts(outp), format);
    rc = 0;
out:
    if (out != NULL) {
        fclose(out);
    }
    if (ofd >= 0) {
        close(ofd);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (pass != NULL) {
        sodium_memzero(pass, plen);
        free(pass);
    }
    sk_boxkey_free(k);
    return rc;
}

/* What the audit log's session lines say (started, seal, purged), by
 * session id, read once: a scan of the log per transcript would be hours
 * for years of sessions. Lines 1..good were proved by the chain check;
 * any later line used must carry a good signature, else it is not used
 * and its session is marked bad. */
struct seal {
    char id[64];
    char hash[65]; /* "" if none */
    int64_t size;  /* transcript_size with the hash; -1 if none */
    int started, purged;
    int rec_failed; /* recording_failed, or session_end with no seal */
    int seen;  /* a transcript of it was checked */
    char *bad; /* its first line whose signature failed, named; or NULL */
};
struct seals {
    struct seal *v;
    size_t n, cap;
    struct sk_strix by_id;
};

static void seals_load(const char *log, uint64_t good, struct seals *ss)
{
    struct sk_audit_reader *rd = NULL;
    char *line = NULL, err[256];
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0, lno;

    memset(ss, 0, sizeof(*ss));
    /* All files of the log, rotated ones first; a file missing or
     * unreadable was already reported by the chain check. */
    if (sk_audit_reader_open(log, &rd) != 0) {
        return;
    }
    while ((n = sk_audit_reader_getline(rd, &line, &cap)) > 0) {
        json_error_t e;
        json_t *o = NULL;
        const char *ev = NULL, *s = NULL, *h = NULL;
        json_t *hv = NULL;
        json_int_t size = -1;
        size_t k;
        int r = 0;

        no++;
        lno = sk_audit_reader_lineno(rd);
        if (line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        o = json_loadb(line, (size_t)n, 0, &e);
        if (o != NULL &&
            /* a null transcript_hash (recording failed) must count */
            json_unpack(o, "{s:s, s?s, s?o, s?I}", "event", &ev, "session",
                        &s, "transcript_hash", &hv, "transcript_size",
                        &size) == 0 &&
            s != NULL && strlen(s) < sizeof(ss->v->id) &&
            (hv == NULL || json_is_null(hv) || json_is_string(hv)) &&
            (strcmp(ev, "session_start") == 0 ||
             strcmp(ev, "session_end") == 0 ||
             strcmp(ev, "recording_failed") == 0 ||
             strcmp(ev, "transcript_purged") == 0)) {
            h = json_is_string(hv) ? json_string_value(hv) : NULL;
            if (!sk_strix_find(&ss->by_id, s, &k)) {
                if (ss->n == ss->cap) {
                    size_t nc = ss->cap ? ss->cap * 2 : 256;
                    struct seal *nv = realloc(ss->v, nc * sizeof(*nv));

                    if (nv == NULL) {
                        fprintf(stderr, "sekisho-verify: out of memory\n");
                        exit(1);
                    }
                    ss->v = nv;
                    ss->cap = nc;
                }
                k = ss->n;
                if (sk_strix_add(&ss->by_id, s, k) != 0) {
                    fprintf(stderr, "sekisho-verify: out of memory\n");
                    exit(1);
                }
                memset(&ss->v[k], 0, sizeof(ss->v[k]));
                snprintf(ss->v[k].id, sizeof(ss->v[k].id), "%s", s);
                ss->v[k].size = -1;
                ss->n++;
            }
            if (no > good && strlen(line) != (size_t)n) {
                snprintf(err, sizeof(err), "line %llu holds a NUL byte",
                         (unsigned long long)lno);
                r = SK_ERR_INVALID;
            } else if (no > good) {
                r = sk_audit_verify_line(line, lno, NULL, sk_keyring_find,
                                         &keys, err, sizeof(err));
            }
            if (r != 0) {
                const char *fn = sk_audit_reader_file(rd);

                if (ss->v[k].bad == NULL &&
                    asprintf(&ss->v[k].bad, "audit %s%s%s",
                             fn != NULL ? fn : "", fn != NULL ? ": " : "",
                             err) < 0) {
                    fprintf(stderr, "sekisho-verify: out of memory\n");
                    exit(1);
                }
            } else if (strcmp(ev, "session_start") == 0) {
                ss->v[k].started = 1;
            } else if (strcmp(ev, "transcript_purged") == 0) {
                ss->v[k].purged = 1;
            } else if (strcmp(ev, "recording_failed") == 0) {
                ss->v[k].rec_failed = 1;
            } else if (h != NULL && strlen(h) == 64) {
                memcpy(ss->v[k].hash, h, 65);
                ss->v[k].size = size;
            } else {
                ss->v[k].rec_failed = 1; /* session_end without a seal */
            }
        }
        json_decref(o);
    }
    free(line);
    sk_audit_reader_free(rd);
}

/* What the audit log says of a session, or NULL. */
static struct seal *seal_of(const struct seals *ss, const char *session)
{
    size_t k;

    return sk_strix_find(&ss->by_id, session, &k) ? &ss->v[k] : NULL;
}

/* The transcripts under a directory (--dir), sorted. */
static struct {
    char **v;
    size_t n, cap;
} found;

static int on_file(const char *path, const struct stat *st, int type,
                   struct FTW *ftw)
{
    size_t n = strlen(path);

    (void)st;
    (void)ftw;
    if (type != FTW_F || n < 5 || strcmp(path + n - 4, ".skt") != 0) {
        return 0;
    }
    if (found.n == found.cap) {
        size_t nc = found.cap ? found.cap * 2 : 256;
        char **nv = realloc(found.v, nc * sizeof(*nv));

        if (nv == NULL) {
            return -1;
        }
        found.v = nv;
        found.cap = nc;
    }
    if ((found.v[found.n] = strdup(path)) == NULL) {
        return -1;
    }
    found.n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The terminal-safe rendering (sk_term_safe) of a file name, a session
 * id or an error from a copy that may have been tampered with: an
 * auditor's terminal obeys nothing in it. Valid for 8 more calls. */
static const char *ts(const char *s)
{
    static char *ring[8];
    static unsigned next;
    char *t;

    if (s == NULL) {
        return "?";
    }
    if ((t = sk_term_safe(s, strlen(s), SK_TERM_LINE)) == NULL) {
        fprintf(stderr, "sekisho-verify: out of memory\n");
        exit(1);
    }
    free(ring[next]);
    ring[next] = t;
    next = (next + 1) % 8;
    return t;
}

/* Verifies one transcript file and prints its line; returns 1 if it is
 * a problem. */
static int verify_file(const char *path, const char *audit,
                       struct seals *seals, int allow_incomplete)
{
    struct sk_tr_info info;
    struct seal *a = NULL;
    char hex[65];
    const char *seal = "";
    int fd = open(path, O_RDONLY | O_NOFOLLOW), r, bad = 0;

    if (fd < 0) {
        printf("%s FAILED: %s\n", ts(path), strerror(errno));
        return 1;
    }
    r = sk_tr_verify(fd, sk_keyring_find, &keys, &info);
    close(fd);
    sodium_bin2hex(hex, sizeof(hex), info.chain, sizeof(info.chain));
    if (r < 0) {
        printf("%s FAILED: %s\n", ts(path), ts(info.error));
        bad = 1;
    } else {
        if (audit != NULL && (a = seal_of(seals, info.session)) != NULL) {
            seal = a->hash;
            a->seen = 1;
        }
        if (a != NULL && a->bad != NULL) {
            printf("%s FAILED: session %s: %s\n", ts(path), ts(info.session),
                   ts(a->bad));
            bad = 1;
        } else if (a != NULL && a->rec_failed && r == 0) {
            printf("%s FAILED: session %s: sealed, but the audit log records "
                   "that recording failed during the session (the "
                   "transcript does not cover all of it)\n",
                   ts(path), ts(info.session));
            bad = 1;
        } else if (audit != NULL && seal[0] != '\0' &&
            (r != 0 || strcmp(seal, hex) != 0)) {
            printf("%s FAILED: session %s: the audit log records seal "
                   "%.16s..., the file %s\n",
                   ts(path), ts(info.session), seal,
                   r == 0 ? "has another (replaced)"
                          : "is not sealed (cut short)");
            bad = 1;
        } else if (audit != NULL && seal[0] != '\0' && a->size >= 0 &&
                   (uint64_t)a->size != info.size) {
            printf("%s FAILED: session %s: size %llu differs from the audit "
                   "log's %lld\n",
                   ts(path), ts(info.session), (unsigned long long)info.size,
                   (long long)a->size);
            bad = 1;
        } else if (r == 0) {
            /* The format, so an auditor sees which primitives the
             * file's integrity rests on (FORMAT.md). */
            printf("%s OK: session %s sealed, format %d, %llu checkpoints, "
                   "%llu bytes, hash %s\n",
                   ts(path), ts(info.session), info.format,
                   (unsigned long long)info.checkpoints,
                   (unsigned long long)info.size, hex);
        } else {
            printf("%s INCOMPLETE: session %s: %s\n", ts(path),
                   ts(info.session), ts(info.error));
            bad = !allow_incomplete;
        }
    }
    sk_tr_info_clear(&info);
    return bad;
}

int main(int argc, char **argv)
{
    const char *audit = NULL, *dir = NULL, *format = NULL, *akey = NULL,
               *ppfile = NULL, *outp = NULL, *speed = NULL;
    int replay = 0;
    struct seals seals;
    uint64_t good = 0;
    int allow_incomplete = 0, bad = 0, i;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        /* Not the gateway's line (state schema, libssh, SQLite): this
         * program opens no state and links neither library, which keeps
         * its start short (recorder/CMakeLists.txt). The libraries as
         * loaded at run time. */
        printf("sekisho-verify %s\ntranscript formats 1 and 2, libsodium "
               "%s, %s\n",
               SK_VERSION, sodium_version_string(),
               OpenSSL_version(OPENSSL_VERSION));
        return 0;
    }

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
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--export") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "asciicast") == 0 ||
                    strcmp(argv[i + 1], "text") == 0)) {
            format = argv[++i];
        } else if (strcmp(argv[i], "--auditor-key") == 0 && i + 1 < argc) {
            akey = argv[++i];
        } else if (strcmp(argv[i], "--passphrase-file") == 0 &&
                   i + 1 < argc) {
            ppfile = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            outp = argv[++i];
        } else if (strcmp(argv[i], "--replay") == 0) {
            replay = 1;
        } else if (strcmp(argv[i], "--speed") == 0 && i + 1 < argc &&
                   strtod(argv[i + 1], NULL) > 0 &&
                   strspn(argv[i + 1], "0123456789.") ==
                       strlen(argv[i + 1])) {
            speed = argv[++i];
        } else {
            usage();
        }
    }
    if (keys.n == 0 || (audit == NULL && dir == NULL && i == argc)) {
        usage();
    }
    if (replay) {
        /* --replay: one transcript and a key; played, never written */
        if (format != NULL || outp != NULL || akey == NULL || dir != NULL ||
            argc - i != 1) {
            usage();
        }
        format = "asciicast";
    } else if (speed != NULL ||
               ((format != NULL || akey != NULL || outp != NULL ||
                 ppfile != NULL) &&
                (format == NULL || akey == NULL || outp == NULL ||
                 dir != NULL || argc - i != 1))) {
        usage(); /* --export: one transcript, a key and an output file */
    }
    if (dir != NULL) {
        /* FTW_PHYS: a symlink in the copy is not followed (nor checked). */
        if (nftw(dir, on_file, 32, FTW_PHYS) != 0) {
            printf("%s FAILED: cannot read the directory: %s\n", ts(dir),
                   strerror(errno));
            bad = 1;
        }
        if (found.n > 1) { /* qsort wants a non-null base even for 0 */
            qsort(found.v, found.n, sizeof(*found.v), cmp_str);
        }
    }
    if (audit != NULL) {
        char **files = NULL, last[65], err[4096 + 512];
        size_t nfiles = 0;
        uint64_t lines = 0;

        /* --audit names the log or the directory holding it: the
         * rotated files beside it are walked as one chain. */
        if (sk_audit_files(audit, &files, &nfiles) != 0) {
            printf("%s FAILED: %s\n", ts(audit), strerror(errno));
            bad = 1;
        } else if (sk_audit_verify_files(files, nfiles, sk_keyring_find,
                                         &keys, &lines, &good, last, err,
                                         sizeof(err)) != 0) {
            printf("%s FAILED: %s\n", ts(audit), ts(err));
            bad = 1;
        } else if (nfiles > 1) {
            printf("%s OK: %llu lines in %zu files, last line hash %s\n",
                   ts(audit), (unsigned long long)lines, nfiles, last);
        } else {
            printf("%s OK: %llu lines, last line hash %s\n", ts(audit),
                   (unsigned long long)lines, last);
        }
        /* good: the lines the chain proved intact need no second check. */
        sk_audit_files_free(files, nfiles);
    }
    memset(&seals, 0, sizeof(seals));
    if (audit != NULL && (i < argc || dir != NULL)) {
        seals_load(audit, good, &seals);
    }
    for (size_t j = 0; j < found.n; j++) {
        bad |= verify_file(found.v[j], audit, &seals, allow_incomplete);
        free(found.v[j]);
    }
    for (int first = i; i < argc; i++) {
        bad |= verify_file(argv[i], audit, &seals, allow_incomplete);
        if (format != NULL && i == first && !bad) {
            bad |= export_file(argv[i], format, akey, ppfile, outp, speed);
        }
    }
    /* Complete as well as intact: every session the log started, and no
     * purge removed, has its transcript in the tree. */
    if (audit != NULL && dir != NULL) {
        for (size_t j = 0; j < seals.n; j++) {
            if (seals.v[j].bad != NULL && !seals.v[j].seen) {
                /* What its lines say is not the gateway's: neither a
                 * start nor a purge can be taken from them. */
                printf("%s FAILED: %s\n", ts(seals.v[j].id),
                       ts(seals.v[j].bad));
                bad = 1;
            } else if (seals.v[j].started && !seals.v[j].purged &&
                       !seals.v[j].seen) {
                printf("%s FAILED: in the audit log, but no intact "
                       "transcript under %s is this session's (deleted?)\n",
                       ts(seals.v[j].id), ts(dir));
                bad = 1;
            }
        }
    }
    free(found.v);
    for (size_t j = 0; j < seals.n; j++) {
        free(seals.v[j].bad);
    }
    free(seals.v);
    sk_strix_free(&seals.by_id);
    return bad ? 1 : 0;
}
