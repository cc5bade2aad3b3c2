/*
 * sekishoctl for auditors: session list/kill/watch, verify, export,
 * replay, search, purge, audit show/verify. Transcripts are checked
 * against the signing public keys in signing_pubkeys and against the
 * audit log and the state database, so a transcript that was deleted,
 * swapped, cut or altered is reported by name.
 */
#include "audit.h"
#include "i18n.h"
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include "ctl.h"
#include "recorder/transcript.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- trusted keys ---- */

static struct sk_keyring trust;

static void trust_file(const char *path)
{
    int r = sk_keyring_add_file(&trust, path);

    if (r != 0) {
        die("signing public key %s: %s", path,
            r == SK_ERR_TOO_LONG  ? _("too many trusted signing keys")
            : r == SK_ERR_SYSTEM  ? strerror(errno)
            : r == SK_ERR_INVALID ? _("not an ssh-ed25519 public key line")
                                  : sk_err_str(r));
    }
}

/* Keys retired by `key rotate-signing` stay trusted for what they
 * signed. */
static void trust_retired(void)
{
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/signing-keys.retired", cfg->state_dir);
    if ((d = opendir(dir)) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[PATH_MAX + 256];

        if (n > 4 && strcmp(e->d_name + n - 4, ".pub") == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            trust_file(path);
        }
    }
    closedir(d);
}

static void load_trusted(void)
{
    char *copy, *save = NULL, *tok;

    if (trust.n > 0) {
        return;
    }
    if ((copy = strdup(cfg->signing_pubkeys)) == NULL) {
        die("out of memory");
    }
    for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
         tok = strtok_r(NULL, " \t,", &save)) {
        trust_file(tok);
    }
    free(copy);
    trust_retired();
    if (trust.n == 0) {
        die("signing_pubkeys names no key");
    }
}

static int trusted_key(const char *id, uint8_t pk[32], void *arg)
{
    (void)arg;
    return sk_keyring_find(id, pk, &trust);
}

int ctl_trusted_key(const char *id, uint8_t pk[32], void *arg)
{
    load_trusted();
    return trusted_key(id, pk, arg);
}

/* ---- the audit log, indexed by session ---- */

struct aud_sess {
    char id[64];
    char *transcript; /* NULL if none */
    char hash[65];  /* from session_end; "" if none or unsealed */
    long pid;       /* of the monitor, from session_start */
    int started, ended, purged;
    int rec_failed; /* recording_failed, or session_end with no seal */
    int64_t size;   /* transcript_size of session_end; -1 if none */
    char *bad;      /* the first of its lines that failed its signature
                     * check, named ("audit line N: ..."); NULL if none */
};

struct aud_index {
    struct aud_sess *v;
    size_t n, cap;
    struct sk_strix by_id; /* id -> position in v */
};

static struct aud_sess *aud_find(struct aud_index *ix, const char *id)
{
    size_t i;

    return sk_strix_find(&ix->by_id, id, &i) ? &ix->v[i] : NULL;
}

static void aud_free(struct aud_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        free(ix->v[i].transcript);
        free(ix->v[i].bad);
    }
    free(ix->v);
    sk_strix_free(&ix->by_id);
}

static struct aud_sess *aud_get(struct aud_index *ix, const char *id)
{
    struct aud_sess *a = aud_find(ix, id);

    if (a != NULL) {
        return a;
    }
    if (ix->n == ix->cap) {
        size_t nc = ix->cap ? ix->cap * 2 : 64;
        struct aud_sess *nv = realloc(ix->v, nc * sizeof(*nv));

        if (nv == NULL) {
            die("out of memory");
        }
        ix->v = nv;
        ix->cap = nc;
    }
    if (sk_strix_add(&ix->by_id, id, ix->n) != 0) {
        die("out of memory");
    }
    a = &ix->v[ix->n++];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    a->size = -1;
    return a;
}

/* Reads the audit log's session lines, of every session or only of
 * session only. The chain as a whole is checked by audit verify; here
 * each line a fact is taken from must carry a good signature by a
 * trusted key (lines 1..good are known to, from a chain check just
 * made; pass 0 to check each), else it is not used and its session is
 * marked bad with the line named: an edited transcript_hash or
 * transcript_size cannot pass for the gateway's. Free with aud_free. */
static void aud_load(struct aud_index *ix, const char *only, uint64_t good)
{
    struct sk_audit_reader *rd = NULL;
    char *line = NULL, err[256];
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0, lno;

    memset(ix, 0, sizeof(*ix));
    /* Every file of the log, rotated ones first: a session's lines may
     * be in any. no counts across files (good is of the whole chain),
     * lno within the file, which is named when there are several. */
    if (sk_audit_reader_open(cfg->audit_log, &rd) != 0) {
        die("cannot list audit log %s: %s", cfg->audit_log, strerror(errno));
    }
    load_trusted();
    while ((n = sk_audit_reader_getline(rd, &line, &cap)) > 0) {
        json_error_t e;
        json_t *o = NULL;
        const char *ev = NULL, *sess = NULL, *tr = NULL, *h = NULL;
        json_t *hv = NULL;
        json_int_t pid = 0, size = -1;
        struct aud_sess *a;
        int r;

        no++;
        lno = sk_audit_reader_lineno(rd);
        if (line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        o = json_loadb(line, (size_t)n, 0, &e);
        if (o == NULL ||
            /* transcript_hash is null for a session whose recording
             * failed: such a line must count, not be skipped */
            json_unpack(o, "{s:s, s?s, s?s, s?o, s?I, s?I}", "event", &ev,
                        "session", &sess, "transcript", &tr,
                        "transcript_hash", &hv, "pid", &pid,
                        "transcript_size", &size) != 0 ||
            sess == NULL || strlen(sess) >= 64 ||
            (hv != NULL && !json_is_null(hv) && !json_is_string(hv)) ||
            (only != NULL && strcmp(sess, only) != 0) ||
            (strcmp(ev, "session_start") != 0 &&
             strcmp(ev, "session_end") != 0 &&
             strcmp(ev, "recording_failed") != 0 &&
             strcmp(ev, "transcript_purged") != 0)) {
            json_decref(o);
            continue;
        }
        h = json_is_string(hv) ? json_string_value(hv) : NULL;
        r = 0;
        if (no > good && strlen(line) != (size_t)n) {
            snprintf(err, sizeof(err), "line %llu holds a NUL byte",
                     (unsigned long long)lno);
            r = SK_ERR_INVALID;
        } else if (no > good) {
            r = sk_audit_verify_line(line, lno, NULL, trusted_key, NULL, err,
                                     sizeof(err));
        }
        if (r == SK_ERR_ALLOC) {
            die("out of memory");
        }
        if (r != 0) {
            const char *fn = sk_audit_reader_file(rd);

            a = aud_get(ix, sess);
            if (a->bad == NULL &&
                asprintf(&a->bad, "audit %s%s%s", fn != NULL ? fn : "",
                         fn != NULL ? ": " : "", err) < 0) {
                die("out of memory");
            }
            json_decref(o);
            continue;
        }
        if (strcmp(ev, "session_start") == 0) {
            a = aud_get(ix, sess);
            a->started = 1;
            a->pid = (long)pid;
            if (tr != NULL && tr[0] != '\0') {
                free(a->transcript);
                if ((a->transcript = strdup(tr)) == NULL) {
                    die("out of memory");
                }
            }
        } else if (strcmp(ev, "session_end") == 0) {
            a = aud_get(ix, sess);
            a->ended = 1;
            if (h != NULL && strlen(h) == 64) {
                memcpy(a->hash, h, 65);
                a->size = size;
            } else {
                a->rec_failed = 1;
            }
        } else if (strcmp(ev, "recording_failed") == 0) {
            aud_get(ix, sess)->rec_failed = 1;
        } else if (strcmp(ev, "transcript_purged") == 0) {
            aud_get(ix, sess)->purged = 1;
        }
        json_decref(o);
    }
    if (n < 0) {
        die("cannot read audit log %s: %s", sk_audit_reader_path(rd),
            strerror(errno));
    }
    free(line);
    sk_audit_reader_free(rd);
}

/* Is the monitor that wrote session_start still running it? */
static int monitor_alive(long pid)
{
    char path[64], buf[256];
    ssize_t n;
    int fd;

    if (pid <= 0) {
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    if ((fd = open(path, O_RDONLY)) < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    return strstr(buf, "sekisho-session") != NULL;
}

/* ---- sessions from the store ---- */

struct sess_vec {
    struct sk_session_rec *v;
    size_t n, cap;
    struct sk_strix by_id; /* id -> position in v, built by sess_find */
    int indexed;
};

static int sess_collect(const struct sk_session_rec *s, void *arg)
{
    struct sess_vec *sv = arg;
    struct sk_session_rec *d;

    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 64;
        struct sk_session_rec *nv = realloc(sv->v, nc * sizeof(*nv));

        if (nv == NULL) {
            return -1;
        }
        sv->v = nv;
        sv->cap = nc;
    }
    d = &sv->v[sv->n];
    memset(d, 0, sizeof(*d));
#define DUP(f)                                                                 \
    if (s->f != NULL && (d->f = strdup(s->f)) == NULL) {                       \
        sk_session_rec_clear(d);                                               \
        return -1;                                                             \
    }
    DUP(id);
    DUP(user);
    DUP(source);
    DUP(target);
    DUP(login);
    DUP(mode);
    DUP(end_reason);
    DUP(transcript);
    DUP(transcript_hash);
#undef DUP
    d->start = s->start;
    d->end = s->end;
    d->bytes_in = s->bytes_in;
    d->bytes_out = s->bytes_out;
    d->exit_status = s->exit_status;
    d->purged = s->purged;
    d->request_id = s->request_id;
    sv->n++;
    return 0;
}

static void sess_load(struct sess_vec *sv)
{
    int r;

    memset(sv, 0, sizeof(*sv));
    if ((r = sk_store_session_list(store, sess_collect, sv)) != 0) {
        die("session list: %s", sk_err_str(r));
    }
}

static void sess_free(struct sess_vec *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        sk_session_rec_clear(&sv->v[i]);
    }
    free(sv->v);
    sk_strix_free(&sv->by_id);
}

/* For verify --all, which looks up every id of the audit log and every
 * transcript file among every session: an index, not a scan each. sv
 * must be complete (loaded) before the first call. */
static struct sk_session_rec *sess_find(struct sess_vec *sv, const char *id)
{
    size_t i;

    if (!sv->indexed) {
        sv->indexed = 1;
        for (i = 0; i < sv->n; i++) {
            int r = sk_strix_add(&sv->by_id, sv->v[i].id, i);

            if (r != 0 && r != SK_ERR_EXISTS) {
                die("out of memory");
            }
        }
    }
    return sk_strix_find(&sv->by_id, id, &i) ? &sv->v[i] : NULL;
}

/* The one session named on the command line, read on its own (exit 1 if
 * unknown): the commands that name one session need not load years of
 * them. sv is freed with sess_free. */
static struct sk_session_rec *sess_arg(struct sess_vec *sv, const char *id)
{
    int r;

    memset(sv, 0, sizeof(*sv));
    if (strlen(id) > 63 || !sk_utf8_valid(id, strlen(id))) {
        die("session id '%.63s...' is not valid", id);
    }
    r = sk_store_session_get(store, id, sess_collect, sv);
    if (r == SK_ERR_NOT_FOUND || (r == 0 && sv->n != 1)) {
        die("no session %s", id);
    }
    if (r != 0) {
        die("session %s: %s", id, sk_err_str(r));
    }
    return &sv->v[0];
}

/* Which sessions a listing or a search covers: --user, --target,
 * --since, --until (session start, UTC; see sk_time_parse), --request. */
struct sess_filter {
    const char *user, *target;
    time_t since, until; /* until 0: no bound */
    long long request;   /* 0: any */
};

/* Takes the filter option at argv[*i] (and its value), advancing *i.
 * Returns 1 if it was one, 0 if not; a bad value is a usage error. */
static int filter_arg(struct sess_filter *f, const char *cmd, int argc,
                      char **argv, int *i)
{
    const char *o = argv[*i];

    if (*i + 1 >= argc) {
        return 0;
    }
    if (strcmp(o, "--user") == 0) {
        f->user = argv[++*i];
    } else if (strcmp(o, "--target") == 0) {
        f->target = argv[++*i];
    } else if (strcmp(o, "--since") == 0 || strcmp(o, "--until") == 0) {
        time_t *t = o[2] == 's' ? &f->since : &f->until;

        if (sk_time_parse(argv[++*i], time(NULL), t) != 0) {
            die_usage("%s: '%s' is not a time (YYYY-MM-DD, "
                      "\"YYYY-MM-DD HH:MM\" or YYYY-MM-DDTHH:MM:SSZ, UTC)",
                      cmd, argv[*i]);
        }
    } else if (strcmp(o, "--request") == 0) {
        char *end;

        f->request = strtoll(argv[++*i], &end, 10);
        if (*end != '\0' || f->request <= 0) {
            die_usage("%s: '%s' is not a request id", cmd, argv[*i]);
        }
    } else {
        return 0;
    }
    return 1;
}

static int filter_match(const struct sess_filter *f,
                        const struct sk_session_rec *s)
{
    return (f->user == NULL || strcmp(s->user, f->user) == 0) &&
           (f->target == NULL ||
            (s->target != NULL && strcmp(s->target, f->target) == 0)) &&
           s->start >= (int64_t)f->since &&
           (f->until == 0 || s->start < (int64_t)f->until) &&
           (f->request == 0 || s->request_id == f->request);
}

/* ---- verify ---- */

enum vstate { V_OK, V_RUNNING, V_INCOMPLETE, V_PURGED, V_BAD };

/* Checks one session's transcript against itself, the store and the
 * audit log. Prints one line; returns the state. With fd_out, the
 * descriptor that was verified is kept open there (-1 if none) unless
 * the state is V_BAD or V_PURGED, so what is then read is what was
 * checked. */
static enum vstate verify_session(const struct sk_session_rec *s,
                                  struct aud_index *ix, char *line,
                                  size_t linelen, char **header, int *fd_out)
{
    struct aud_sess *a = aud_find(ix, s->id);
    struct sk_tr_info info;
    char hex[65], why[PATH_MAX * 2 + 512];
    const char *path = s->transcript;
    enum vstate st = V_BAD;
    int fd = -1, r;

    memset(&info, 0, sizeof(info));
    if (fd_out != NULL) {
        *fd_out = -1;
    }
    if (a != NULL && a->bad != NULL) {
        /* Its lines are not all the gateway's: nothing they say (not
         * even a purge) is to be believed. */
        snprintf(why, sizeof(why), "%s", a->bad);
        goto bad;
    }
    if (s->purged || (a != NULL && a->purged)) {
        snprintf(line, linelen, "%s PURGED (removed by retention, audited)",
                 s->id);
        return V_PURGED;
    }
    if (path == NULL && a != NULL && a->transcript != NULL) {
        path = a->transcript;
    }
    if (path == NULL) {
        snprintf(why, sizeof(why), "no transcript was recorded");
        goto bad;
    }
    if (a == NULL || !a->started) {
        snprintf(why, sizeof(why),
                 "the audit log has no session_start for it");
        goto bad;
    }
    if (a->transcript != NULL && strcmp(a->transcript, path) != 0) {
        snprintf(why, sizeof(why),
                 "the audit log names transcript %s, the state database %s",
                 a->transcript, path);
        goto bad;
    }
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        snprintf(why, sizeof(why), "transcript %s: %s", path,
                 errno == ENOENT ? "missing (deleted?)" : strerror(errno));
        goto bad;
    }
    r = sk_tr_verify(fd, trusted_key, NULL, &info);
    if (r < 0) {
        snprintf(why, sizeof(why), "transcript %s: %s", path, info.error);
        goto bad;
    }
    if (strcmp(info.session, s->id) != 0) {
        snprintf(why, sizeof(why),
                 "transcript %s belongs to session %s (swapped)", path,
                 info.session);
        goto bad;
    }
    sodium_bin2hex(hex, sizeof(hex), info.chain, sizeof(info.chain));
    if (r == 0) {
        /* Sealed: the seal must be the one the gateway recorded. */
        if ((s->transcript_hash != NULL &&
             strcmp(s->transcript_hash, hex) != 0) ||
            (a->hash[0] != '\0' && strcmp(a->hash, hex) != 0)) {
            snprintf(why, sizeof(why),
                     "transcript %s is sealed with %.16s..., but the "
                     "gateway recorded %.16s... (replaced)",
                     path, hex,
                     a->hash[0] ? a->hash
                                : (s->transcript_hash ? s->transcript_hash
                                                      : "?"));
            goto bad;
        }
        if (a->hash[0] != '\0' && a->size >= 0 &&
            (uint64_t)a->size != info.size) {
            /* The seal matches, so the bytes differ outside the signed
             * records: whatever they are, it is not what was recorded. */
            snprintf(why, sizeof(why),
                     "transcript %s: size %llu differs from the audit "
                     "log's %lld",
                     path, (unsigned long long)info.size,
                     (long long)a->size);
            goto bad;
        }
        if (a->rec_failed) {
            /* A seal, but the gateway recorded that the recording failed
             * (e.g. the worker cut the recorder off and went on): the
             * transcript does not cover the whole session. */
            snprintf(why, sizeof(why),
                     "transcript %s is sealed, but the audit log records "
                     "that recording failed during the session (it does "
                     "not cover all of it)",
                     path);
            goto bad;
        }
        if (!a->ended) {
            /* The recorder sealed what it got, but the monitor never
             * wrote the end: it was killed (a removed audit line would
             * break the audit chain, which `audit verify` reports). */
            snprintf(line, linelen,
                     "%s INCOMPLETE: transcript sealed (%llu bytes, hash %s) "
                     "but the gateway never recorded the session's end (its "
                     "monitor was killed?)",
                     s->id, (unsigned long long)info.size, hex);
            st = V_INCOMPLETE;
            goto out;
        }
        snprintf(line, linelen,
                 "%s OK sealed, %llu checkpoints, %llu bytes, %.1fs, hash %s",
                 s->id, (unsigned long long)info.checkpoints,
                 (unsigned long long)info.size,
                 (double)info.duration_us / 1e6, hex);
        st = V_OK;
        goto out;
    }
    /* Not sealed. */
    if (a->hash[0] != '\0' || s->transcript_hash != NULL) {
        snprintf(why, sizeof(why),
                 "transcript %s was sealed when the session ended but is "
                 "now cut short: %s",
                 path, info.error);
        goto bad;
    }
    if (!a->ended && s->end == 0 && monitor_alive(a->pid)) {
        snprintf(line, linelen,
                 "%s RUNNING, verified so far: %llu checkpoints, %llu bytes",
                 s->id, (unsigned long long)info.checkpoints,
                 (unsigned long long)info.verified_size);
        st = V_RUNNING;
        goto out;
    }
    snprintf(line, linelen,
             "%s INCOMPLETE: %s; the session did not end normally (crash or "
             "kill)",
             s->id, info.error);
    st = V_INCOMPLETE;
    goto out;
bad:
    snprintf(line, linelen, "%s FAILED: %s", s->id, why);
    st = V_BAD;
out:
    if (fd >= 0 && fd_out != NULL && st != V_BAD && st != V_PURGED) {
        *fd_out = fd;
    } else if (fd >= 0) {
        close(fd);
    }
    /* The header is the signed one of this very session only when the
     * transcript verified (so far). */
    if (header != NULL && st != V_BAD && st != V_PURGED) {
        *header = info.header_json;
        info.header_json = NULL;
    }
    sk_tr_info_clear(&info);
    return st;
}

/* Checks the whole audit log's chain and prints the result. *good (may
 * be NULL) receives how many lines from the top are proved intact. */
static int audit_verify_print(int quiet, uint64_t *good)
{
    char **files = NULL, last[65], err[PATH_MAX + 512];
    size_t nfiles = 0;
    uint64_t lines = 0, ok = 0;
    int r;

    if (good != NULL) {
        *good = 0;
    }
    /* The rotated files and the current one, as one chain. */
    if (sk_audit_files(cfg->audit_log, &files, &nfiles) != 0) {
        printf("audit log %s FAILED: %s\n", term_str(cfg->audit_log),
               strerror(errno));
        return 1;
    }
    load_trusted();
    r = sk_audit_verify_files(files, nfiles, trusted_key, NULL, &lines, &ok,
                              last, err, sizeof(err));
    sk_audit_files_free(files, nfiles);
    if (good != NULL) {
        *good = ok;
    }
    if (r != 0) {
        /* File names in err are anyone's who could write the directory. */
        printf("audit log %s FAILED: %s\n", term_str(cfg->audit_log),
               term_str(err));
        /* Someone must look now, not at the next report. */
        (void)sk_audit("audit_chain_error", "{s:s, s:s, s:I, s:s}", "log",
                       cfg->audit_log, "error", err, "line",
                       (json_int_t)(ok + 1), "admin", admin);
        return 1;
    }
    if (!quiet) {
        if (nfiles > 1) {
            printf("audit log %s OK: %llu lines in %zu files, last line "
                   "hash %s\n",
                   term_str(cfg->audit_log), (unsigned long long)lines,
                   nfiles, last);
        } else {
            printf("audit log %s OK: %llu lines, last line hash %s\n",
                   term_str(cfg->audit_log), (unsigned long long)lines,
                   last);
        }
    }
    return 0;
}

/* Every *.skt under the transcript directory must belong to a session
 * the state database knows. */
static int scan_orphans(const char *dir, struct sess_vec *sv, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int bad = 0;

    if (d == NULL) {
        return errno == ENOENT ? 0 : 1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX], id[64];
        size_t n = strlen(e->d_name);

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (depth < 3) {
            bad |= scan_orphans(path, sv, depth + 1);
            continue;
        }
        if (n < 5 || n - 4 >= sizeof(id) ||
            strcmp(e->d_name + n - 4, ".skt") != 0) {
            continue;
        }
        snprintf(id, sizeof(id), "%.*s", (int)(n - 4), e->d_name);
        if (sess_find(sv, id) == NULL) {
            /* File names are anyone's who could write there. */
            printf("%s FAILED: transcript %s belongs to no known session\n",
                   term_str(id), term_str(path));
            bad = 1;
        }
    }
    closedir(d);
    return bad;
}

int ctl_verify(int argc, char **argv)
{
    struct sess_vec sv;
    struct aud_index ix;
    const char *id = NULL;
    char line[PATH_MAX * 2 + 1024];
    int all = 0, allow_incomplete = 0, bad = 0, n_ok = 0, n_other = 0;
    int quiet = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) {
            all = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--allow-incomplete") == 0) {
            allow_incomplete = 1;
        } else if (argv[i][0] != '-' && id == NULL) {
            id = argv[i];
        } else {
            die_usage("verify: unexpected argument '%s'", argv[i]);
        }
    }
    if (all == (id != NULL)) {
        die_usage("verify: give a SESSION or --all");
    }
    if (quiet && !all) {
        die_usage("verify: --quiet goes with --all");
    }
    load_trusted();
    if (all) {
        uint64_t good = 0;

        sess_load(&sv);
        /* The chain first: the lines it proves need no second check. */
        bad |= audit_verify_print(0, &good);
        aud_load(&ix, NULL, good);
        for (size_t i = 0; i < sv.n; i++) {
            enum vstate st = verify_session(&sv.v[i], &ix, line,
                                            sizeof(line), NULL, NULL);

            /* --quiet: years of sessions, only what needs a look */
            if (!quiet || (st != V_OK && st != V_PURGED)) {
                printf("%s\n", term_str(line));
            }
            bad |= st == V_BAD || (st == V_INCOMPLETE && !allow_incomplete);
            n_ok += st == V_OK;
            n_other += st != V_OK && st != V_BAD;
        }
        /* Sessions the audit log knows but the database lost. */
        for (size_t i = 0; i < ix.n; i++) {
            if (ix.v[i].started && sess_find(&sv, ix.v[i].id) == NULL) {
                printf("%s FAILED: in the audit log but not in the state "
                       "database\n",
                       term_str(ix.v[i].id));
                bad = 1;
            }
        }
        bad |= scan_orphans(cfg->transcript_dir, &sv, 0);
        printf("%s: %d sealed and intact, %d other, %zu sessions\n",
               bad ? "FAILED" : "OK", n_ok, n_other, sv.n);
    } else {
        struct sk_session_rec *s = sess_arg(&sv, id);
        enum vstate st;

        aud_load(&ix, id, 0);
        st = verify_session(s, &ix, line, sizeof(line), NULL, NULL);
        printf("%s\n", term_str(line));
        bad = st == V_BAD || (st == V_INCOMPLETE && !allow_incomplete);
    }
    (void)sk_audit("verify", "{s:s, s:s, s:s}", "admin", admin, "scope",
                   all ? "all" : id, "result", bad ? "failed" : "ok");
    sess_free(&sv);
    aud_free(&ix);
    return bad ? EXIT_REFUSED : 0;
}

/* ---- decryption: the auditor key ---- */

static struct sk_boxkey *load_auditor(const char *ppfile)
{
    struct sk_boxkey *k = NULL;
    char *pass = NULL;
    size_t plen = 0;
    int r;

    if (ppfile == NULL) {
        ppfile = ctl_auditor_ppfile;
    }
    if (ppfile != NULL) {
        if ((r = sk_file_read(ppfile, 1024, &pass, &plen)) != 0) {
            die("cannot read %s: %s", ppfile, sk_err_str(r));
        }
        pass[strcspn(pass, "\r\n")] = '\0';
    }
    r = sk_boxkey_load_secret(cfg->auditor_key, pass, &k);
    if (r == SK_ERR_DENIED && pass == NULL && ctl_person != NULL &&
        !isatty(STDIN_FILENO)) {
        /* An auditor over SSH without a terminal (`ssh aki@gw export ID
         * < passfile`): the first line of the input is the passphrase,
         * read byte by byte so nothing after it is taken. It exists in
         * this process only, for this command. */
        char line[1025];
        size_t n = 0;
        ssize_t got;

        while (n < sizeof(line) - 1 &&
               ((got = read(STDIN_FILENO, line + n, 1)) == 1 ||
                (got < 0 && errno == EINTR))) {
            if (got == 1 && line[n] == '\n') {
                break;
            }
            n += got == 1 ? 1 : 0;
        }
        line[n] = '\0';
        if (n > 0 && line[n - 1] == '\r') {
            line[n - 1] = '\0';
        }
        r = sk_boxkey_load_secret(cfg->auditor_key, line, &k);
        sodium_memzero(line, sizeof(line));
    } else if (r == SK_ERR_DENIED && pass == NULL && isatty(STDIN_FILENO)) {
        char *p = getpass(_("Auditor key passphrase: "));

        if (p != NULL) {
            r = sk_boxkey_load_secret(cfg->auditor_key, p, &k);
            sodium_memzero(p, strlen(p));
        }
    }
    if (pass != NULL) {
        sodium_memzero(pass, plen);
        free(pass);
    }
    if (r != 0) {
        die("auditor key %s: %s", cfg->auditor_key,
            r == SK_ERR_DENIED   ? _("passphrase missing or wrong")
            : r == SK_ERR_SYSTEM ? strerror(errno)
                                 : sk_err_str(r));
    }
    return k;
}

/* Verifies before anything is shown, as `verify SESSION` does (the
 * transcript against itself, the state database and the signed lines of
 * the audit log): a damaged or unproven transcript is refused, an
 * incomplete one shown with a warning. Returns the descriptor that was
 * verified, so what is shown is what was checked. */
static int open_checked(const struct sk_session_rec *s)
{
    struct aud_index ix;
    char line[PATH_MAX * 2 + 1024];
    enum vstate st;
    int fd = -1;

    if (s->purged) {
        die("session %s: transcript purged by retention", s->id);
    }
    if (s->transcript == NULL) {
        die("session %s has no transcript", s->id);
    }
    load_trusted();
    aud_load(&ix, s->id, 0);
    st = verify_session(s, &ix, line, sizeof(line), NULL, &fd);
    aud_free(&ix);
    if (st == V_BAD || st == V_PURGED || fd < 0) {
        die("refused: %s", line);
    }
    if (st != V_OK) {
        fprintf(stderr, _("sekishoctl: warning: %s\n"), line);
    }
    return fd;
}

int ctl_export(int argc, char **argv)
{
    struct sess_vec sv;
    struct sk_session_rec *s;
    struct sk_boxkey *k;
    const char *id = NULL, *format = NULL, *outp = NULL, *pp = NULL;
    char err[256];
    FILE *out = stdout;
    int fd, r;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            outp = argv[++i];
        } else if (strcmp(argv[i], "--passphrase-file") == 0 &&
                   i + 1 < argc) {
            pp = argv[++i];
        } else if (argv[i][0] != '-' && id == NULL) {
            id = argv[i];
        } else {
            die_usage("export: unexpected argument '%s'", argv[i]);
        }
    }
    if (id == NULL || format == NULL) {
        die_usage("export: SESSION and --format are required");
    }
    if (strcmp(format, "asciicast") != 0 && strcmp(format, "text") != 0) {
        die_usage("export: unknown format '%s' (asciicast or text)", format);
    }
    s = sess_arg(&sv, id);
    fd = open_checked(s);
    k = load_auditor(pp);
    if (outp != NULL) {
        int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                                 O_CLOEXEC,
                       0600);

        if (ofd < 0 || (out = fdopen(ofd, "w")) == NULL) {
            die("cannot write %s: %s", outp, strerror(errno));
        }
    }
    r = strcmp(format, "asciicast") == 0
            ? sk_tr_export_asciicast(fd, k, out, 0, err, sizeof(err))
            : sk_tr_export_text(fd, k, out, err, sizeof(err));
    sk_boxkey_free(k);
    close(fd);
    if (outp != NULL && fclose(out) != 0 && r >= 0) {
        snprintf(err, sizeof(err), "write %s: %s", outp, strerror(errno));
        r = SK_ERR_SYSTEM;
    }
    (void)sk_audit("transcript_exported", "{s:s, s:s, s:s, s:s?, s:s}",
                   "admin", admin, "session", s->id, "format", format, "file",
                   outp, "result", r < 0 ? "failed" : "ok");
    sess_free(&sv);
    if (r < 0) {
        die("export failed: %s", err);
    }
    return 0;
}

/* ---- replay ---- */

/* What on_replay returns to stop the walk: never SK_TR_INCOMPLETE (1),
 * which the walk itself returns for an unsealed transcript. */
#define REPLAY_QUIT 2
#define REPLAY_SEEK 3 /* back: start again from the top */
#define SEEK_STEP 10.0 /* seconds per arrow key */

struct replay {
    double speed, from, max_idle;
    uint64_t last_t;
    int tty, paused, quit, seek_back;
    struct termios saved;
};

/* One key from the terminal: a byte, or for the arrow keys (ESC [ C or,
 * in application cursor mode, which a replayed program may have left
 * set, ESC O C) the letter 'C' / 'D' with *arrow set. Returns -1 if
 * nothing came. */
static int replay_key(int *arrow)
{
    unsigned char c, seq[2];
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};

    *arrow = 0;
    if (read(STDIN_FILENO, &c, 1) != 1) {
        return -1;
    }
    if (c != 27) {
        return c;
    }
    /* The rest of an escape sequence arrives with it; a lone ESC does
     * not, and is ignored. */
    if (poll(&pfd, 1, 50) <= 0 || read(STDIN_FILENO, &seq[0], 1) != 1 ||
        (seq[0] != '[' && seq[0] != 'O') || poll(&pfd, 1, 50) <= 0 ||
        read(STDIN_FILENO, &seq[1], 1) != 1) {
        return -1;
    }
    *arrow = 1;
    return seq[1];
}

/* Waits up to seconds, reacting to keys: space pauses, + and - change
 * the speed, n skips the wait, the arrow keys seek SEEK_STEP seconds
 * (right: what lies between is shown at once; left: the screen is reset
 * and rebuilt from the start), q quits. */
static void replay_wait(struct replay *rp, double seconds)
{
    struct timespec t0, now;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        double left, at = (double)rp->last_t / 1e6;
        int c, arrow;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left = seconds - ((double)(now.tv_sec - t0.tv_sec) +
                          (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
        if (!rp->paused && left <= 0) {
            return;
        }
        if (!rp->tty) {
            struct timespec ts = {(time_t)left,
                                  (long)((left - (double)(time_t)left) *
                                         1e9)};

            nanosleep(&ts, NULL);
            return;
        }
        if (poll(&pfd, 1, rp->paused ? -1 : (int)(left * 1000) + 1) <= 0 ||
            (c = replay_key(&arrow)) < 0) {
            continue;
        }
        if (arrow && c == 'C') {
            rp->from = at + SEEK_STEP;
            return;
        } else if (arrow && c == 'D') {
            rp->from = at > SEEK_STEP ? at - SEEK_STEP : 0;
            rp->seek_back = 1;
            return;
        } else if (arrow) {
            continue;
        } else if (c == ' ') {
            rp->paused = !rp->paused;
        } else if (c == '+' && rp->speed < 64) {
            rp->speed *= 2;
        } else if (c == '-' && rp->speed > 1.0 / 64) {
            rp->speed /= 2;
        } else if (c == 'n' || c == '.') {
            return;
        } else if (c == 'q' || c == 3) {
            rp->quit = 1;
            return;
        }
    }
}

static int on_replay(const struct sk_tr_event *ev, void *arg)
{
    struct replay *rp = arg;
    double gap = (double)(ev->t_us - rp->last_t) / 1e6;

    if (ev->type != SK_TR_EV_OUTPUT && ev->type != SK_TR_EV_STDERR) {
        return 0;
    }
    if ((double)ev->t_us / 1e6 >= rp->from) {
        if (rp->max_idle > 0 && gap > rp->max_idle) {
            gap = rp->max_idle;
        }
        replay_wait(rp, gap / rp->speed);
    }
    if (rp->quit) {
        return REPLAY_QUIT;
    }
    if (rp->seek_back) {
        return REPLAY_SEEK;
    }
    rp->last_t = ev->t_us;
    if (fwrite(ev->data, 1, ev->len, stdout) != ev->len ||
        fflush(stdout) != 0) {
        return SK_ERR_SYSTEM;
    }
    return 0;
}

int ctl_replay(int argc, char **argv)
{
    struct sess_vec sv;
    struct sk_session_rec *s;
    struct sk_boxkey *k;
    struct replay rp;
    const char *id = NULL, *pp = NULL;
    char err[256], *end;
    int fd, r;

    memset(&rp, 0, sizeof(rp));
    rp.speed = 1;
    rp.max_idle = 2;
    for (int i = 0; i < argc; i++) {
        double *dst = NULL;

        if (strcmp(argv[i], "--speed") == 0 && i + 1 < argc) {
            dst = &rp.speed;
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            dst = &rp.from;
        } else if (strcmp(argv[i], "--max-idle") == 0 && i + 1 < argc) {
            dst = &rp.max_idle;
        } else if (strcmp(argv[i], "--passphrase-file") == 0 &&
                   i + 1 < argc) {
            pp = argv[++i];
            continue;
        } else if (argv[i][0] != '-' && id == NULL) {
            id = argv[i];
            continue;
        } else {
            die_usage("replay: unexpected argument '%s'", argv[i]);
        }
        errno = 0;
        *dst = strtod(argv[++i], &end);
        if (errno != 0 || *end != '\0' || *dst < 0 || *dst > 1e7 ||
            (dst == &rp.speed && *dst < 0.01)) {
            die_usage("replay: bad number '%s' for %s", argv[i],
                      argv[i - 1]);
        }
    }
    if (id == NULL) {
        die_usage("replay: SESSION is required");
    }
    s = sess_arg(&sv, id);
    fd = open_checked(s);
    k = load_auditor(pp);
    (void)sk_audit("transcript_replayed", "{s:s, s:s}", "admin", admin,
                   "session", s->id);
    rp.tty = isatty(STDIN_FILENO);
    if (rp.tty && tcgetattr(STDIN_FILENO, &rp.saved) == 0) {
        struct termios raw = rp.saved;

        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        fprintf(stderr,
                _("[replay %s: space pause, +/- speed, n skip wait, "
                  "left/right arrow -/+%.0f s, q quit]"),
                s->id, SEEK_STEP);
        fprintf(stderr, "\r\n");
    } else {
        rp.tty = 0;
    }
    for (;;) {
        rp.last_t = 0;
        r = sk_tr_decrypt(fd, k, on_replay, &rp, NULL, err, sizeof(err));
        if (r != REPLAY_SEEK) {
            break;
        }
        /* Back: reset the terminal and rebuild the screen from the start
         * (what lies before rp.from is shown without waiting). */
        rp.seek_back = 0;
        if (fputs("\033c", stdout) == EOF || fflush(stdout) != 0) {
            r = SK_ERR_SYSTEM;
            snprintf(err, sizeof(err), "writing to the terminal: %s",
                     strerror(errno));
            break;
        }
    }
    if (rp.tty) {
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &rp.saved);
    }
    sk_boxkey_free(k);
    close(fd);
    sess_free(&sv);
    if (r < 0) {
        die("replay failed: %s", err);
    }
    if (r == REPLAY_QUIT) {
        fprintf(stderr, "\r\n");
        fprintf(stderr, _("[replay of session %s stopped]"), id);
        fprintf(stderr, "\r\n");
        return 0;
    }
    /* the catalogue keeps raw-terminal line ends out of its messages */
    fprintf(stderr, "\r\n");
    fprintf(stderr, _("[end of session %s%s]"), id,
            r == SK_TR_INCOMPLETE ? _(", transcript incomplete") : "");
    fprintf(stderr, "\r\n");
    return 0;
}

/* ---- search ---- */

struct search {
    const char *pat;
    size_t plen;
    const char *id;
    /* per stream (input, output): the tail of the previous event, so
     * a match split across events is found */
    char *tail[2];
    size_t tlen[2];
    int hits;
};

static void print_context(const char *id, double t, const char *stream,
                          const char *buf, size_t len, size_t at, size_t n)
{
    size_t a = at > 40 ? at - 40 : 0, b = at + n + 40 < len ? at + n + 40
                                                             : len;
    char *shown = sk_utf8_repair(buf + a, b - a);

    /* What the target printed would drive the auditor's terminal. */
    printf("%s %9.3fs %-6s ", id, t, stream);
    put_term(shown);
    putchar('\n');
    free(shown);
}

static int on_search(const struct sk_tr_event *ev, void *arg)
{
    struct search *sr = arg;
    int k;
    char *buf;
    size_t len, from = 0;

    if (ev->type == SK_TR_EV_INPUT) {
        k = 0;
    } else if (ev->type == SK_TR_EV_OUTPUT || ev->type == SK_TR_EV_STDERR) {
        k = 1;
    } else {
        return 0;
    }
    len = sr->tlen[k] + ev->len;
    if ((buf = malloc(len + 1)) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (sr->tlen[k] > 0) {
        memcpy(buf, sr->tail[k], sr->tlen[k]);
    }
    memcpy(buf + sr->tlen[k], ev->data, ev->len);
    for (;;) {
        char *hit = memmem(buf + from, len - from, sr->pat, sr->plen);

        if (hit == NULL) {
            break;
        }
        print_context(sr->id, (double)ev->t_us / 1e6, k ? "output" : "input",
                      buf, len, (size_t)(hit - buf), sr->plen);
        sr->hits++;
        from = (size_t)(hit - buf) + sr->plen;
    }
    /* Keep what a later match could still start in, but never a part of
     * a match already reported. */
    {
        size_t keep = sr->plen > 1 ? sr->plen - 1 : 0;

        if (keep > len - from) {
            keep = len - from;
        }
        free(sr->tail[k]);
        sr->tail[k] = malloc(keep + 1);
        if (sr->tail[k] == NULL) {
            free(buf);
            return SK_ERR_ALLOC;
        }
        memcpy(sr->tail[k], buf + len - keep, keep);
        sr->tlen[k] = keep;
    }
    free(buf);
    return 0;
}

int ctl_search(int argc, char **argv)
{
    struct sess_vec sv;
    struct sess_filter f = {0};
    struct sk_boxkey *k;
    const char *pat = NULL, *pp = NULL;
    int hits = 0, errors = 0;

    for (int i = 0; i < argc; i++) {
        if (filter_arg(&f, "search", argc, argv, &i)) {
            continue;
        } else if (strcmp(argv[i], "--passphrase-file") == 0 &&
                   i + 1 < argc) {
            pp = argv[++i];
        } else if (pat == NULL) {
            pat = argv[i];
        } else {
            die_usage("search: unexpected argument '%s'", argv[i]);
        }
    }
    if (pat == NULL || pat[0] == '\0' || strlen(pat) > 1024) {
        die_usage("search: PATTERN (1-1024 bytes) is required");
    }
    sess_load(&sv);
    k = load_auditor(pp);
    load_trusted();
    (void)sk_audit("transcript_search",
                   "{s:s, s:s, s:s?, s:s?, s:I, s:I, s:I}", "admin", admin,
                   "pattern", pat, "user", f.user, "target", f.target,
                   "since", (json_int_t)f.since, "until",
                   (json_int_t)f.until, "request", (json_int_t)f.request);
    for (size_t i = 0; i < sv.n; i++) {
        struct sk_session_rec *s = &sv.v[i];
        struct search sr;
        struct sk_tr_info info;
        char err[256];
        int fd, r;

        if (!filter_match(&f, s) || s->transcript == NULL || s->purged) {
            continue;
        }
        if ((fd = open(s->transcript, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) <
            0) {
            fprintf(stderr, "sekishoctl: %s: %s\n", s->id, strerror(errno));
            errors++;
            continue;
        }
        if (sk_tr_verify(fd, trusted_key, NULL, &info) < 0) {
            fprintf(stderr,
                    _("sekishoctl: %s: skipped, FAILED "
                      "verification: %s\n"),
                    s->id, info.error);
            sk_tr_info_clear(&info);
            close(fd);
            errors++;
            continue;
        }
        sk_tr_info_clear(&info);
        memset(&sr, 0, sizeof(sr));
        sr.pat = pat;
        sr.plen = strlen(pat);
        sr.id = s->id;
        r = sk_tr_decrypt(fd, k, on_search, &sr, NULL, err, sizeof(err));
        if (r < 0) {
            fprintf(stderr, "sekishoctl: %s: %s\n", term_str(s->id),
                    term_str(err));
            errors++;
        }
        hits += sr.hits;
        free(sr.tail[0]);
        free(sr.tail[1]);
        close(fd);
    }
    sk_boxkey_free(k);
    sess_free(&sv);
    fprintf(stderr, ngettext("%d match\n", "%d matches\n", (unsigned long)hits),
            hits);
    return errors ? EXIT_REFUSED : 0;
}

/* ---- purge ---- */

int ctl_purge(int argc, char **argv)
{
    struct sess_vec sv;
    time_t before, now = time(NULL), floor;
    int n = 0, bad = 0;

    if (argc != 2 || strcmp(argv[0], "--before") != 0) {
        die_usage("purge: --before DATE is required");
    }
    if (sk_time_parse(argv[1], now, &before) != 0) {
        die_usage("purge: '%s' is not a date (YYYY-MM-DD)", argv[1]);
    }
    floor = now - (time_t)cfg->retention_min_days * 86400;
    if (before > floor) {
        char f[32];

        sk_time_fmt(floor, f, sizeof(f));
        die("purge refused: transcripts must be kept %d days "
            "(retention_min_days); --before may be at most %s",
            cfg->retention_min_days, f);
    }
    sess_load(&sv);
    for (size_t i = 0; i < sv.n; i++) {
        struct sk_session_rec *s = &sv.v[i];

        if (s->start >= (int64_t)before || s->purged || s->end == 0) {
            continue;
        }
        /* The audit line first: a purge that is not on record must not
         * happen. */
        if (sk_audit("transcript_purged", "{s:s, s:s, s:s?, s:s?}", "admin",
                     admin, "session", s->id, "transcript", s->transcript,
                     "transcript_hash", s->transcript_hash) != 0) {
            die("audit log unavailable: nothing purged");
        }
        if (s->transcript != NULL && unlink(s->transcript) != 0 &&
            errno != ENOENT) {
            fprintf(stderr, "sekishoctl: %s: %s\n", s->transcript,
                    strerror(errno));
            bad = 1;
            continue;
        }
        if (sk_store_session_purged(store, s->id) != 0) {
            bad = 1;
            continue;
        }
        n++;
    }
    sess_free(&sv);
    printf(ngettext("purged %d transcript\n", "purged %d transcripts\n",
                    (unsigned long)n),
           n);
    return bad ? EXIT_REFUSED : 0;
}

/* ---- session list / kill / watch ---- */

static json_t *session_obj(const struct sk_session_rec *s)
{
    char st[32], en[32];

    sk_time_fmt((time_t)s->start, st, sizeof(st));
    sk_time_fmt((time_t)s->end, en, sizeof(en));
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s?, s:I, s:I, "
                     "s:o, s:s?, s:s?, s:s?, s:b, s:I}",
                     "id", s->id, "user", s->user, "source", s->source,
                     "target", s->target, "login", s->login, "mode", s->mode,
                     "start", st, "end", s->end ? en : NULL, "bytes_in",
                     (json_int_t)s->bytes_in, "bytes_out",
                     (json_int_t)s->bytes_out, "exit_status",
                     s->exit_status < 0 ? json_null()
                                        : json_integer(s->exit_status),
                     "end_reason", s->end_reason, "transcript",
                     s->transcript, "transcript_hash", s->transcript_hash,
                     "purged", s->purged, "request",
                     (json_int_t)s->request_id);
}

static int session_list(int argc, char **argv)
{
    struct sess_vec sv;
    struct sess_filter f = {0};
    int json = 0;
    json_t *arr = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (filter_arg(&f, "session list", argc, argv, &i)) {
            continue;
        } else {
            die_usage("session list: unexpected argument '%s'", argv[i]);
        }
    }
    sess_load(&sv);
    if (json && (arr = json_array()) == NULL) {
        die("out of memory");
    }
    for (size_t i = 0; i < sv.n; i++) {
        const struct sk_session_rec *s = &sv.v[i];
        char st[32], en[32];

        if (!filter_match(&f, s)) {
            continue;
        }
        if (json) {
            json_t *o = session_obj(s);

            if (o == NULL || json_array_append_new(arr, o) != 0) {
                die("out of memory");
            }
            continue;
        }
        sk_time_fmt((time_t)s->start, st, sizeof(st));
        fmt_time(s->end, en, sizeof(en));
        /* The end reason can carry what a target said (libssh's error
         * text of its disconnect message). */
        printf("%s %-12s %-12s %-5s %s %s exit=%d %s\n", s->id,
               term_str(s->user), term_str(s->target ? s->target : "-"),
               term_str(s->mode ? s->mode : "-"), st, en, s->exit_status,
               term_str(s->end_reason ? s->end_reason : "open"));
    }
    if (json) {
        char *out = json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

        if (out == NULL) {
            die("out of memory");
        }
        put_json(out);
        putchar('\n');
        free(out);
        json_decref(arr);
    }
    sess_free(&sv);
    return 0;
}

static int session_kill(int argc, char **argv)
{
    const char *id = NULL, *reason = "no reason given";
    int r;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
        } else if (id == NULL && argv[i][0] != '-') {
            id = argv[i];
        } else {
            die_usage("session kill: unexpected argument '%s'", argv[i]);
        }
    }
    if (id == NULL) {
        die_usage("session kill: ID is required");
    }
    if (!sk_utf8_valid(reason, strlen(reason)) || strlen(reason) > 200) {
        die("session kill: the reason must be UTF-8, at most 200 bytes");
    }
    if ((r = sk_store_session_kill(store, id, reason)) != 0) {
        die("session kill: %s",
            r == SK_ERR_NOT_FOUND ? _("no such open session") : sk_err_str(r));
    }
    (void)sk_audit("session_kill_requested", "{s:s, s:s, s:s}", "admin",
                   admin, "session", id, "reason", reason);
    printf(_("session %s will end within a few seconds\n"), id);
    return 0;
}

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

struct watch {
    const char *id;
    int gone; /* polls that found the session ended */
};

static int watch_more(void *arg)
{
    struct watch *w = arg;
    int open_;
    /* The recorder writes quiet output out within 100 ms (FLUSH_IDLE_US
     * in recorder-proc.c); polling as often keeps the lag near that. */
    struct timespec ts = {0, 100 * 1000 * 1000};

    if (watch_stop) {
        return 0;
    }
    nanosleep(&ts, NULL);
    if ((open_ = sk_store_session_running(store, w->id)) < 0) {
        die("session %s: %s", w->id, sk_err_str(open_));
    }
    /* Once the session has ended the seal follows at once: one more
     * read finds it. A session that ended without one (its recorder was
     * killed) leaves the file unsealed: stop there, not wait forever. */
    if (!open_ && w->gone++ > 0) {
        return 0;
    }
    return !watch_stop;
}

static int on_watch(const struct sk_tr_event *ev, void *arg)
{
    (void)arg;
    if (watch_stop) {
        return 1;
    }
    if (ev->type == SK_TR_EV_OUTPUT || ev->type == SK_TR_EV_STDERR) {
        if (fwrite(ev->data, 1, ev->len, stdout) != ev->len ||
            fflush(stdout) != 0) {
            return SK_ERR_SYSTEM;
        }
    }
    return 0;
}

static int session_watch(int argc, char **argv)
{
    struct sess_vec sv;
    struct sk_session_rec *s;
    struct sk_boxkey *k;
    struct watch w = {0};
    const char *pp = NULL, *id = NULL;
    char err[256];
    int fd, r;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
            pp = argv[++i];
        } else if (id == NULL && argv[i][0] != '-') {
            id = argv[i];
        } else {
            die_usage("session watch: unexpected argument '%s'", argv[i]);
        }
    }
    if (id == NULL) {
        die_usage("session watch: ID is required");
    }
    s = sess_arg(&sv, id);
    if (s->transcript == NULL) {
        die("session %s has no transcript", id);
    }
    if ((fd = open(s->transcript, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        die("transcript %s: %s", s->transcript, strerror(errno));
    }
    k = load_auditor(pp);
    (void)sk_audit("session_watch", "{s:s, s:s}", "admin", admin, "session",
                   id);
    signal(SIGINT, on_watch_signal);
    signal(SIGTERM, on_watch_signal);
    w.id = id;
    /* Read-only by construction: this process has no way to the
     * session's input, only the transcript file. */
    r = sk_tr_decrypt_follow(fd, k, on_watch, &w, watch_more, NULL, err,
                             sizeof(err));
    sk_boxkey_free(k);
    close(fd);
    sess_free(&sv);
    if (r < 0) {
        die("watch: %s", err);
    }
    fprintf(stderr, "\r\n");
    fprintf(stderr, _("[session %s %s]"), id,
            r == 0       ? _("ended")
            : watch_stop ? _("watch stopped")
                         : _("ended without a seal: transcript incomplete"));
    fprintf(stderr, "\r\n");
    return 0;
}

static const char *vstate_name(enum vstate st)
{
    switch (st) {
    case V_OK:
        return "ok";
    case V_RUNNING:
        return "running";
    case V_INCOMPLETE:
        return "incomplete";
    case V_PURGED:
        return "purged";
    default:
        return "failed";
    }
}

/* Prints v JSON-encoded (jansson escapes the C0 controls) through
 * put_term (which escapes DEL and C1 too). Other text, Japanese
 * included, stays readable. */
static void print_safe_json(json_t *v)
{
    char *txt = json_dumps(v, JSON_ENCODE_ANY);

    if (txt == NULL) {
        die("out of memory");
    }
    put_term(txt);
    free(txt);
}

/* Prints one header member as "  key: value", values as print_safe_json
 * does: the terminal type and command were the maintainer's choice and
 * must not reach the auditor's terminal as control sequences. Recipients
 * are shown by key id only (the sealed stream keys are noise here). */
static void show_header_member(const char *key, json_t *v)
{

    if (strcmp(key, "stream_header") == 0) {
        return;
    }
    if (strcmp(key, "recipients") == 0 && json_is_array(v)) {
        size_t i;
        json_t *r;

        printf("  %s:", key);
        json_array_foreach (v, i, r) {
            json_t *k = json_object_get(r, "key");

            putchar(' ');
            if (k != NULL) {
                print_safe_json(k);
            } else {
                putchar('?');
            }
        }
        putchar('\n');
        return;
    }
    /* Keys are the writer's own (FORMAT.md), printable ASCII. */
    printf("  %s: ", key);
    print_safe_json(v);
    if (strcmp(key, "start_us") == 0 && json_is_integer(v)) {
        char t[32];

        sk_time_fmt((time_t)(json_integer_value(v) / 1000000), t, sizeof(t));
        printf(" (%s)", t);
    }
    putchar('\n');
}

/* session show ID [--json]: what the state database, the audit log and
 * the transcript's signed header say of one session, and whether it all
 * verifies. Needs no auditor key: nothing is decrypted. */
static int session_show(int argc, char **argv)
{
    struct sess_vec sv;
    struct aud_index ix;
    struct sk_session_rec *s;
    const char *id = NULL;
    char line[PATH_MAX * 2 + 1024], *hdr = NULL;
    json_t *h = NULL;
    enum vstate st;
    int json = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] != '-' && id == NULL) {
            id = argv[i];
        } else {
            die_usage("session show: unexpected argument '%s'", argv[i]);
        }
    }
    if (id == NULL) {
        die_usage("session show: ID is required");
    }
    s = sess_arg(&sv, id);
    load_trusted();
    aud_load(&ix, id, 0);
    st = verify_session(s, &ix, line, sizeof(line), &hdr, NULL);
    if (hdr != NULL) {
        json_error_t e;

        /* Verified (so far), so it parses; if not, it is simply absent. */
        h = json_loads(hdr, 0, &e);
        free(hdr);
    }
    (void)sk_audit("session_show", "{s:s, s:s}", "admin", admin, "session",
                   s->id);
    if (json) {
        json_t *o = json_pack("{s:o, s:s, s:s, s:o}", "session",
                              session_obj(s), "verify", vstate_name(st),
                              "verify_line", line, "header",
                              h ? h : json_null());
        char *out;

        if (o == NULL || (out = json_dumps(o, JSON_INDENT(1) |
                                                  JSON_PRESERVE_ORDER)) ==
                             NULL) {
            die("out of memory");
        }
        put_json(out);
        putchar('\n');
        free(out);
        json_decref(o);
    } else {
        char st_[32], en[32];
        const char *k;
        json_t *v;

        sk_time_fmt((time_t)s->start, st_, sizeof(st_));
        fmt_time(s->end, en, sizeof(en));
        printf("session: %s\n", s->id);
        printf("verify: %s\n", term_str(line + strlen(s->id) + 1));
        printf("user: %s from %s\n", term_str(s->user),
               term_str(s->source));
        printf("target: %s, login %s, %s\n",
               term_str(s->target ? s->target : "-"),
               term_str(s->login ? s->login : "-"),
               term_str(s->mode ? s->mode : "-"));
        if (s->request_id > 0) {
            printf("request: %lld\n", (long long)s->request_id);
        }
        printf("start: %s\nend: %s (%s)", st_, en,
               term_str(s->end_reason ? s->end_reason : "open"));
        if (s->exit_status >= 0) {
            printf(", exit %d", s->exit_status);
        }
        printf("\nbytes: in %lld, out %lld\n", (long long)s->bytes_in,
               (long long)s->bytes_out);
        printf("transcript: %s%s\n",
               term_str(s->transcript ? s->transcript : "-"),
               s->purged ? " (purged)" : "");
        if (h != NULL) {
            printf("signed header:\n");
            json_object_foreach (h, k, v) {
                show_header_member(k, v);
            }
            json_decref(h);
        }
    }
    aud_free(&ix);
    sess_free(&sv);
    return st == V_BAD ? EXIT_REFUSED : 0;
}

int ctl_session(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "list") == 0) {
        return session_list(argc - 1, argv + 1);
    }
    if (argc >= 1 && strcmp(argv[0], "kill") == 0) {
        return session_kill(argc - 1, argv + 1);
    }
    if (argc >= 1 && strcmp(argv[0], "watch") == 0) {
        return session_watch(argc - 1, argv + 1);
    }
    if (argc >= 1 && strcmp(argv[0], "show") == 0) {
        return session_show(argc - 1, argv + 1);
    }
    die_usage("session: subcommand missing or unknown");
}

/* ---- audit show / verify ---- */

static int audit_show(int argc, char **argv)
{
    const char *event = NULL, *session = NULL;
    int json = 0;
    struct sk_audit_reader *rd = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--event") == 0 && i + 1 < argc) {
            event = argv[++i];
        } else if (strcmp(argv[i], "--session") == 0 && i + 1 < argc) {
            session = argv[++i];
        } else {
            die_usage("audit show: unexpected argument '%s'", argv[i]);
        }
    }
    /* The rotated files too, oldest first: one history. */
    if (sk_audit_reader_open(cfg->audit_log, &rd) != 0) {
        die("cannot read %s: %s", cfg->audit_log, strerror(errno));
    }
    while ((n = sk_audit_reader_getline(rd, &line, &cap)) > 0) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e), *v;
        const char *ev = NULL, *sess = NULL, *key;

        if (o == NULL) {
            printf("(unparseable line)\n");
            continue;
        }
        (void)json_unpack(o, "{s?s, s?s}", "event", &ev, "session", &sess);
        if ((event && (ev == NULL || strcmp(ev, event) != 0)) ||
            (session && (sess == NULL || strcmp(sess, session) != 0))) {
            json_decref(o);
            continue;
        }
        if (json) {
            /* The line's JSON value, DEL and C1 escaped: `audit verify`
             * reads the file's own bytes. */
            put_json(line);
            json_decref(o);
            continue;
        }
        /* One readable line: time, event, then the fields; the chain and
         * signature members are for `audit verify`. Values can hold what
         * a client sent (a user name tried, a terminal type): put_term
         * keeps them from acting on the auditor's terminal. */
        put_term(json_string_value(json_object_get(o, "time")));
        putchar(' ');
        put_term(ev);
        json_object_foreach(o, key, v)
        {
            char *val;

            if (strcmp(key, "time") == 0 || strcmp(key, "event") == 0 ||
                strcmp(key, "prev") == 0 || strcmp(key, "sig") == 0 ||
                strcmp(key, "key") == 0 || strcmp(key, "gateway") == 0) {
                continue;
            }
            val = json_is_string(v) ? strdup(json_string_value(v))
                                    : json_dumps(v, JSON_ENCODE_ANY |
                                                        JSON_COMPACT);
            putchar(' ');
            put_term(key);
            putchar('=');
            put_term(val);
            free(val);
        }
        printf("\n");
        json_decref(o);
    }
    if (n < 0) {
        die("cannot read %s: %s", sk_audit_reader_path(rd), strerror(errno));
    }
    free(line);
    sk_audit_reader_free(rd);
    return 0;
}

/* audit rotate: a new file now, whatever the limits say (before an
 * archive copy, say). The old file keeps its lines under its new name. */
static int audit_rotate(void)
{
    char rotated[PATH_MAX + 64];
    int r = sk_audit_rotate(admin, rotated, sizeof(rotated));

    if (r == SK_ERR_EXISTS) {
        die("audit log %s: a rotated file for this second exists, or the "
            "clock is behind the newest rotated file's name; try again",
            cfg->audit_log);
    }
    if (r == SK_ERR_INVALID) {
        die("audit log %s is empty: nothing to rotate", cfg->audit_log);
    }
    if (r != 0) {
        die("audit log %s: cannot rotate: %s", cfg->audit_log,
            r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
    }
    printf(_("audit log rotated: %s\n"), term_str(rotated));
    return 0;
}

int ctl_audit(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "show") == 0) {
        return audit_show(argc - 1, argv + 1);
    }
    if (argc == 1 && strcmp(argv[0], "verify") == 0) {
        return audit_verify_print(0, NULL) ? EXIT_REFUSED : 0;
    }
    if (argc == 1 && strcmp(argv[0], "rotate") == 0) {
        return audit_rotate();
    }
    die_usage("audit: show, verify or rotate");
}

/* ---- key rotation ---- */

/* key rotate-signing: a new signing key from now on; the old public key
 * is kept (signing-keys.retired/) so everything it signed still verifies.
 * Sessions already running finish with the key they started with. */
static int rotate_signing(void)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 16], pub[PATH_MAX + 16],
        old[PATH_MAX + 64], oldid[40], newid[40], *line = NULL, *text = NULL;
    struct sk_key *ok = NULL, *nk = NULL;
    uint8_t pk[32];
    int r;

    if ((r = sk_key_load(cfg->signing_key, &ok)) != 0) {
        die("signing key %s: %s", cfg->signing_key, sk_err_str(r));
    }
    sk_key_pub_raw(ok, pk);
    sk_key_id("ed25519", pk, 32, oldid, sizeof(oldid));
    snprintf(dir, sizeof(dir), "%s/signing-keys.retired", cfg->state_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", dir, strerror(errno));
    }
    /* The old public key is kept first: losing it would orphan every
     * transcript it signed. */
    if ((line = sk_key_pub_line(ok, "sekisho-signing-retired")) == NULL ||
        asprintf(&text, "%s\n", line) < 0) {
        die("out of memory");
    }
    snprintf(old, sizeof(old), "%s/%s.pub", dir, oldid + 8);
    if ((r = sk_file_write_new(old, text, strlen(text), 0644)) != 0 &&
        r != SK_ERR_EXISTS) {
        die("cannot write %s: %s", old, sk_err_str(r));
    }
    free(text);
    free(line);
    snprintf(tmp, sizeof(tmp), "%s.new", cfg->signing_key);
    unlink(tmp);
    if ((r = sk_key_generate_file(tmp)) != 0 ||
        (r = sk_key_load(tmp, &nk)) != 0) {
        die("cannot create %s: %s", tmp, sk_err_str(r));
    }
    sk_key_pub_raw(nk, pk);
    sk_key_id("ed25519", pk, 32, newid, sizeof(newid));
    if ((line = sk_key_pub_line(nk, "sekisho-signing")) == NULL ||
        asprintf(&text, "%s\n", line) < 0) {
        die("out of memory");
    }
    snprintf(pub, sizeof(pub), "%s.pub.new", cfg->signing_key);
    unlink(pub);
    if ((r = sk_file_write_new(pub, text, strlen(text), 0644)) != 0) {
        die("cannot write %s: %s", pub, sk_err_str(r));
    }
    /* On record (signed with the old key) before the switch. */
    if (sk_audit("signing_key_rotated", "{s:s, s:s, s:s}", "admin", admin,
                 "old_key", oldid, "new_key", newid) != 0) {
        unlink(tmp);
        unlink(pub);
        die("audit log unavailable: key not rotated");
    }
    {
        char final_pub[PATH_MAX + 8];

        snprintf(final_pub, sizeof(final_pub), "%s.pub", cfg->signing_key);
        if (rename(tmp, cfg->signing_key) != 0 ||
            rename(pub, final_pub) != 0) {
            die("rename: %s", strerror(errno));
        }
    }
    printf(_("signing key rotated: %s -> %s (old public key kept in %s)\n"),
           oldid, newid, dir);
    printf("%s\n", line);
    free(text);
    free(line);
    sk_key_free(ok);
    sk_key_free(nk);
    return 0;
}

int ctl_key(int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "rotate-signing") == 0) {
        return rotate_signing();
    }
    return ctl_key_auditor(argc, argv);
}
