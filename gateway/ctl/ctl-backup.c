/*
 * sekishoctl backup DIR / restore GENERATION: generations of everything a
 * gateway needs to come back after a lost disk (docs/admin.md "Backup and
 * restore"; the manifest format in core/bkmanifest.h).
 *
 * A generation is DIR/sekisho-YYYYMMDDTHHMMSSZ[-NN]/ holding MANIFEST and
 * files/<absolute path of each file>. It is built as DIR/.tmp-NAME and
 * renamed when its signed manifest is on disk, so a generation without
 * that name is a half-written one and never used.
 */
#include "audit.h"
#include "bkmanifest.h"
#include "config.h"
#include "i18n.h"
#include "key.h"
#include "sk-err.h"
#include "util.h"

#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX ((size_t)256 << 20)
#define SEALED_MAGIC "sekisho-x25519-secret-v1-argon2id\n"

/* What one backup run is building. */
struct bk {
    const struct sk_config *c;
    const struct sk_key *signer;
    char tmp[PATH_MAX];        /* DIR/.tmp-NAME */
    struct sk_bkmanifest m;    /* the new manifest */
    struct sk_strix have;      /* paths already in m */
    struct sk_bkmanifest *prev; /* the newest earlier generation, or NULL */
    char prevdir[PATH_MAX];
    struct sk_strix previx;
    const char *skip_root;      /* the backup directory (never walked) */
    uint64_t linked;
    int auditor; /* 1 sealed key copied, 0 none there, -1 unsealed, left */
};

static struct bk *walk_bk; /* nftw has no user argument */

/* snprintf for paths: a path that does not fit is an error, never a
 * shorter path. */
#define PATHF(out, ...)                                                      \
    do {                                                                     \
        int n_ = snprintf((out), sizeof(out), __VA_ARGS__);                  \
        if (n_ < 0 || (size_t)n_ >= sizeof(out)) {                           \
            die("path too long: %s", term_str(out));                         \
        }                                                                    \
    } while (0)

/* 1 if path is dir or below it. */
static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* mkdir -p of path's parents and path itself, each new one with mode. */
static int mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t i, n = strlen(path);

    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];

            buf[i] = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static int mkparent(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    char *slash;

    PATHF(buf, "%s", path);
    if ((slash = strrchr(buf, '/')) == NULL || slash == buf) {
        return 0;
    }
    *slash = '\0';
    return mkdirs(buf, mode);
}

static void hex(const uint8_t *h, char *out)
{
    sodium_bin2hex(out, 65, h, 32);
}

/* Hashes an open file from its start; *size gets its length. */
static int hash_fd(int fd, char out[65], uint64_t *size)
{
    crypto_generichash_state st;
    uint8_t buf[65536], h[32];
    ssize_t n;
    uint64_t total = 0;

    if (lseek(fd, 0, SEEK_SET) != 0 ||
        crypto_generichash_init(&st, NULL, 0, sizeof(h)) != 0) {
        return -1;
    }
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        crypto_generichash_update(&st, buf, (size_t)n);
        total += (uint64_t)n;
    }
    crypto_generichash_final(&st, h, sizeof(h));
    hex(h, out);
    *size = total;
    return 0;
}

static int hash_path(const char *path, char out[65], uint64_t *size)
{
    int fd, r;

    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        return -1;
    }
    r = hash_fd(fd, out, size);
    close(fd);
    return r;
}

/* Copies src (open) to a new file dst, mode, mtime; hashes what it
 * wrote. */
static int copy_fd(int in, const char *dst, mode_t mode, int64_t mtime,
                   char out[65], uint64_t *size)
{
    crypto_generichash_state st;
    uint8_t buf[65536], h[32];
    struct timespec ts[2];
    ssize_t n, w, off;
    uint64_t total = 0;
    int fd, r = -1;

    if (lseek(in, 0, SEEK_SET) != 0 ||
        crypto_generichash_init(&st, NULL, 0, sizeof(h)) != 0) {
        return -1;
    }
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              mode & 07777);
    if (fd < 0) {
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto out;
        }
        for (off = 0; off < n; off += w) {
            if ((w = write(fd, buf + off, (size_t)(n - off))) < 0) {
                if (errno == EINTR) {
                    w = 0;
                    continue;
                }
                goto out;
            }
        }
        crypto_generichash_update(&st, buf, (size_t)n);
        total += (uint64_t)n;
    }
    crypto_generichash_final(&st, h, sizeof(h));
    hex(h, out);
    *size = total;
    ts[0].tv_sec = ts[1].tv_sec = (time_t)mtime;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    /* The umask must not narrow what we restore, nor widen it. */
    if (fchmod(fd, mode & 07777) != 0 || futimens(fd, ts) != 0 ||
        fsync(fd) != 0) {
        goto out;
    }
    r = 0;
out:
    if (close(fd) != 0) {
        r = -1;
    }
    return r;
}

/* Where path lives inside the generation being built (or dir). */
static void gen_path(const char *gen, const char *path, char *out,
                     size_t outlen)
{
    int n = snprintf(out, outlen, "%s/files%s", gen, path);

    if (n < 0 || (size_t)n >= outlen) {
        die("path too long: %s/files%s", gen, term_str(path));
    }
}

static int add_entry(struct bk *b, int is_dir, mode_t mode, uint64_t size,
                     int64_t mtime, const char *hash, const char *path)
{
    int r;

    if ((r = sk_bkman_add(&b->m, is_dir, mode & 07777, size, mtime, hash,
                          path)) != 0 ||
        (r = sk_strix_add(&b->have, path, b->m.n - 1)) != 0) {
        return r;
    }
    return 0;
}

/* One regular file into the generation: a hard link to the previous
 * generation's copy if it is the same (size, mtime, hash), else a copy.
 * The audit log is copied under its writers' lock, so it ends at a line. */
static void backup_file(struct bk *b, const char *path, int required)
{
    char dst[PATH_MAX], h[65], src[PATH_MAX];
    struct stat st, ps;
    uint64_t size = 0;
    size_t pos;
    int fd, r;

    if (sk_strix_find(&b->have, path, &pos)) {
        return;
    }
    if (!sk_bkman_path_ok(path)) {
        die("backup: cannot name %s in a manifest", term_str(path));
    }
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        if (errno == ENOENT && !required) {
            return;
        }
        die("backup: %s: %s", term_str(path), strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        die("backup: %s is not a regular file", term_str(path));
    }
    if (strcmp(path, b->c->auditor_key) == 0) {
        char head[sizeof(SEALED_MAGIC)];
        ssize_t n = read(fd, head, sizeof(head) - 1);

        head[n > 0 ? n : 0] = '\0';
        if (strcmp(head, SEALED_MAGIC) != 0) {
            /* The secret that opens every transcript, in the clear: a
             * backup must not make a second copy of it. */
            b->auditor = -1;
            close(fd);
            return;
        }
        b->auditor = 1;
    }
    if (strcmp(path, b->c->audit_log) == 0) {
        while (flock(fd, LOCK_SH) != 0) {
            if (errno != EINTR) {
                die("backup: lock %s: %s", path, strerror(errno));
            }
        }
        if (fstat(fd, &st) != 0) {
            die("backup: %s: %s", path, strerror(errno));
        }
    }
    gen_path(b->tmp, path, dst, sizeof(dst));
    if (mkparent(dst, 0700) != 0) {
        die("backup: mkdir for %s: %s", dst, strerror(errno));
    }
    if (b->prev != NULL && sk_strix_find(&b->previx, path, &pos)) {
        const struct sk_bkentry *e = &b->prev->e[pos];

        gen_path(b->prevdir, path, src, sizeof(src));
        if (!e->is_dir && e->size == (uint64_t)st.st_size &&
            e->mtime == (int64_t)st.st_mtime &&
            e->mode == (st.st_mode & 07777) && stat(src, &ps) == 0 &&
            S_ISREG(ps.st_mode) && (uint64_t)ps.st_size == e->size &&
            hash_fd(fd, h, &size) == 0 && size == e->size &&
            strcmp(h, e->hash) == 0 && link(src, dst) == 0) {
            if ((r = add_entry(b, 0, st.st_mode, size, st.st_mtime, h,
                               path)) != 0) {
                die("backup: manifest: %s", sk_err_str(r));
            }
            b->linked++;
            close(fd);
            return;
        }
    }
    if (copy_fd(fd, dst, st.st_mode, st.st_mtime, h, &size) != 0) {
        die("backup: copy %s: %s", term_str(path), strerror(errno));
    }
    close(fd); /* drops the audit lock too */
    if ((r = add_entry(b, 0, st.st_mode, size, st.st_mtime, h, path)) != 0) {
        die("backup: manifest: %s", sk_err_str(r));
    }
}

/* The state database through SQLite's online backup: a consistent copy
 * even while sessions write (WAL), as one self-contained file. */
static void backup_db(struct bk *b)
{
    char src[PATH_MAX], dst[PATH_MAX], h[65];
    sqlite3 *in = NULL, *out = NULL;
    sqlite3_backup *bk = NULL;
    struct stat st;
    uint64_t size;
    int fd, r;

    PATHF(src, "%s/state.db", b->c->state_dir);
    gen_path(b->tmp, src, dst, sizeof(dst));
    if (mkparent(dst, 0700) != 0) {
        die("backup: mkdir for %s: %s", dst, strerror(errno));
    }
    if (sqlite3_open_v2(src, &in, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(in, 10000) != SQLITE_OK ||
        sqlite3_open_v2(dst, &out,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_EXCLUSIVE,
                        NULL) != SQLITE_OK) {
        die("backup: open %s: %s", src,
            in ? sqlite3_errmsg(out ? out : in) : _("out of memory"));
    }
    if ((bk = sqlite3_backup_init(out, "main", in, "main")) == NULL) {
        die("backup: %s: %s", src, sqlite3_errmsg(out));
    }
    while ((r = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY ||
           r == SQLITE_LOCKED) {
        sqlite3_sleep(100);
    }
    if (r != SQLITE_DONE) {
        die("backup: %s: %s", src, sqlite3_errstr(r));
    }
    if (sqlite3_backup_finish(bk) != SQLITE_OK ||
        sqlite3_exec(out, "PRAGMA journal_mode = DELETE", NULL, NULL,
                     NULL) != SQLITE_OK) {
        die("backup: %s: %s", dst, sqlite3_errmsg(out));
    }
    if (sqlite3_close(out) != SQLITE_OK || sqlite3_close(in) != SQLITE_OK) {
        die("backup: closing %s failed", src);
    }
    if (stat(src, &st) != 0 || chmod(dst, st.st_mode & 07777) != 0 ||
        (fd = open(dst, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        die("backup: %s: %s", dst, strerror(errno));
    }
    if (hash_fd(fd, h, &size) != 0 || fsync(fd) != 0 ||
        fstat(fd, &st) != 0) {
        die("backup: %s: %s", dst, strerror(errno));
    }
    close(fd);
    if ((r = add_entry(b, 0, st.st_mode, size, st.st_mtime, h, src)) != 0) {
        die("backup: manifest: %s", sk_err_str(r));
    }
}

static int is_db_file(const struct bk *b, const char *path)
{
    /* -policy: the store's announcement of rule changes (store.h), a
     * run-time signal to running monitors, not state */
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal",
                                      "-policy"};
    char p[PATH_MAX];
    size_t i;

    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        PATHF(p, "%s/state.db%s", b->c->state_dir, sfx[i]);
        if (strcmp(p, path) == 0) {
            return 1;
        }
    }
    return 0;
}

static int walk_one(const char *path, const struct stat *st, int type,
                    struct FTW *ftw)
{
    struct bk *b = walk_bk;
    size_t pos;
    int r;

    (void)ftw;
    if (b->skip_root != NULL && under(path, b->skip_root)) {
        return 0;
    }
    if (type == FTW_D) {
        if (sk_strix_find(&b->have, path, &pos)) {
            return 0;
        }
        if (!sk_bkman_path_ok(path)) {
            die("backup: cannot name %s in a manifest", term_str(path));
        }
        if ((r = add_entry(b, 1, st->st_mode, 0, 0, NULL, path)) != 0) {
            die("backup: manifest: %s", sk_err_str(r));
        }
    } else if (type == FTW_F && S_ISREG(st->st_mode)) {
        if (!is_db_file(b, path)) {
            backup_file(b, path, 1);
        }
    } else if (type == FTW_DNR || type == FTW_NS) {
        die("backup: cannot read %s", term_str(path));
    }
    /* Symbolic links, sockets and FIFOs are not state: left out. */
    return 0;
}

static void walk(struct bk *b, const char *root)
{
    walk_bk = b;
    if (nftw(root, walk_one, 16, FTW_PHYS) != 0) {
        die("backup: cannot walk %s: %s", root, strerror(errno));
    }
    walk_bk = NULL;
}

/* Rotated audit logs beside the current one (AUDIT_LOG.SUFFIX), for an
 * audit_log outside state_dir (inside, the walk has them). */
static void backup_rotated(struct bk *b)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *base;
    size_t n;
    DIR *d;
    struct dirent *de;

    PATHF(dir, "%s", b->c->audit_log);
    *strrchr(dir, '/') = '\0';
    base = strrchr(b->c->audit_log, '/') + 1;
    n = strlen(base);
    if ((d = opendir(dir[0] ? dir : "/")) == NULL) {
        die("backup: %s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, n) == 0 && de->d_name[n] == '.' &&
            de->d_name[n + 1] != '\0') {
            struct stat st;

            PATHF(path, "%s/%s", dir, de->d_name);
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                backup_file(b, path, 0);
            }
        }
    }
    closedir(d);
}

/* Each file of a space-separated list. */
static void backup_list(struct bk *b, const char *list)
{
    char *copy, *tok, *save = NULL;

    if ((copy = strdup(list)) == NULL) {
        die("out of memory");
    }
    for (tok = strtok_r(copy, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
        backup_file(b, tok, 0);
    }
    free(copy);
}

/* The generations in dir, oldest first: only names we make whose
 * MANIFEST is complete and names its own directory. */
struct genlist {
    char **name;
    size_t n;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct sk_bkmanifest *load_manifest(const char *gen, size_t *bad)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    struct sk_bkmanifest *m = NULL;

    *bad = 0;
    PATHF(path, "%s/MANIFEST", gen);
    if (sk_file_read(path, MANIFEST_MAX, &text, &len) != 0) {
        return NULL;
    }
    if (sk_bkman_parse(text, len, &m, bad) != 0) {
        m = NULL;
    }
    free(text);
    return m;
}

static void list_generations(const char *dir, struct genlist *gl)
{
    DIR *d;
    struct dirent *de;

    memset(gl, 0, sizeof(*gl));
    if ((d = opendir(dir)) == NULL) {
        die("backup: %s: %s", dir, strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        char gen[PATH_MAX];
        struct sk_bkmanifest *m;
        size_t bad;
        char **nn;

        if (!sk_bkman_name_ok(de->d_name)) {
            continue;
        }
        PATHF(gen, "%s/%s", dir, de->d_name);
        if ((m = load_manifest(gen, &bad)) == NULL) {
            continue;
        }
        if (strcmp(m->generation, de->d_name) == 0) {
            if ((nn = realloc(gl->name, (gl->n + 1) * sizeof(*nn))) ==
                    NULL ||
                (nn[gl->n] = strdup(de->d_name)) == NULL) {
                die("out of memory");
            }
            gl->name = nn;
            gl->n++;
        }
        sk_bkman_free(m);
    }
    closedir(d);
    if (gl->n > 1) {
        qsort(gl->name, gl->n, sizeof(*gl->name), cmp_name);
    }
}

static void genlist_free(struct genlist *gl)
{
    size_t i;

    for (i = 0; i < gl->n; i++) {
        free(gl->name[i]);
    }
    free(gl->name);
    memset(gl, 0, sizeof(*gl));
}

static int rm_one(const char *path, const struct stat *st, int type,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP) {
        return rmdir(path);
    }
    return unlink(path);
}

static int fsync_dir(const char *dir)
{
    int fd, r;

    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return -1;
    }
    r = fsync(fd);
    close(fd);
    return r;
}

static void sign_manifest(struct bk *b, const char *name)
{
    char *body = NULL, *sigdata = NULL, path[PATH_MAX], id[40],
         b64[sodium_base64_ENCODED_LEN(SK_KEY_SIGLEN,
                                       sodium_base64_VARIANT_ORIGINAL)];
    uint8_t pk[SK_KEY_PUBLEN], sig[SK_KEY_SIGLEN];
    size_t len, ctx = strlen(SK_BKMAN_SIGCTX);
    FILE *f;
    int r;

    if ((r = sk_bkman_format(&b->m, &body, &len)) != 0 ||
        (sigdata = malloc(ctx + len)) == NULL) {
        die("backup: manifest: %s", sk_err_str(r ? r : SK_ERR_ALLOC));
    }
    memcpy(sigdata, SK_BKMAN_SIGCTX, ctx);
    memcpy(sigdata + ctx, body, len);
    sk_key_pub_raw(b->signer, pk);
    sk_key_id("ed25519", pk, sizeof(pk), id, sizeof(id));
    if (sk_key_sign_raw(b->signer, (uint8_t *)sigdata, ctx + len, sig) !=
        0) {
        die("backup: cannot sign the manifest");
    }
    sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig),
                      sodium_base64_VARIANT_ORIGINAL);
    PATHF(path, "%s/MANIFEST", b->tmp);
    {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                O_CLOEXEC, 0600);

        if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
            die("backup: %s: %s", path, strerror(errno));
        }
    }
    if (fwrite(body, 1, len, f) != len ||
        fprintf(f, "sig %s %s\n", id, b64) < 0 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0 || fclose(f) != 0) {
        die("backup: writing %s failed", path);
    }
    (void)name;
    free(body);
    free(sigdata);
}

/* backup DIR, signed by signer (the configured signing key). */
int ctl_backup(int argc, char **argv, const struct sk_key *signer)
{
    struct bk b;
    struct genlist gl;
    char name[SK_BKMAN_NAME_MAX], final[PATH_MAX], dir[PATH_MAX], ts[32],
        newest[SK_BKMAN_NAME_MAX] = "";
    struct tm tm;
    time_t now = time(NULL);
    size_t i, bad, removed = 0;
    int seq;

    if (argc != 1) {
        die_usage("backup DIR");
    }
    if (argv[0][0] != '/') {
        die_usage("backup: DIR must be an absolute path");
    }
    PATHF(dir, "%s", argv[0]);
    while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/') {
        dir[strlen(dir) - 1] = '\0';
    }
    if (under(dir, cfg->state_dir) || under(dir, cfg->transcript_dir) ||
        under(cfg->state_dir, dir)) {
        die("backup: %s must be outside the state directory %s and the "
            "transcript directory %s (a backup on the same disk is no "
            "backup)",
            dir, cfg->state_dir, cfg->transcript_dir);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        die("backup: mkdir %s: %s", dir, strerror(errno));
    }
    memset(&b, 0, sizeof(b));
    b.c = cfg;
    b.signer = signer;
    b.skip_root = dir;
    list_generations(dir, &gl);
    if (gl.n > 0) {
        snprintf(newest, sizeof(newest), "%s", gl.name[gl.n - 1]);
    }
    if (gl.n > 0) {
        PATHF(b.prevdir, "%s/%s", dir,
                 gl.name[gl.n - 1]);
        if ((b.prev = load_manifest(b.prevdir, &bad)) != NULL) {
            for (i = 0; i < b.prev->n; i++) {
                if (sk_strix_add(&b.previx, b.prev->e[i].path, i) != 0) {
                    die("out of memory");
                }
            }
        }
    }
    genlist_free(&gl);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    for (seq = 0;; seq++) {
        if (seq == 0) {
            PATHF(name, "sekisho-%s", ts);
        } else {
            PATHF(name, "sekisho-%s-%02d", ts, seq);
        }
        PATHF(final, "%s/%s", dir, name);
        PATHF(b.tmp, "%s/.tmp-%s", dir, name);
        /* A new generation sorts after every one there (pruning keeps the
         * last by name): never a name freed by pruning in this second. */
        if ((newest[0] == '\0' || strcmp(name, newest) > 0) &&
            access(final, F_OK) != 0 && mkdir(b.tmp, 0700) == 0) {
            break;
        }
        if (seq >= 99) {
            die("backup: cannot create a generation directory in %s (is "
                "the clock behind its newest generation, %s?)",
                dir, newest);
        }
    }
    snprintf(b.m.generation, sizeof(b.m.generation), "%s", name);
    sk_time_fmt(now, b.m.created, sizeof(b.m.created));
    if ((b.m.config = strdup(cfg->path)) == NULL) {
        die("out of memory");
    }
    /* Directories first, the database, then everything else. */
    walk(&b, cfg->state_dir);
    backup_db(&b);
    if (!under(cfg->transcript_dir, cfg->state_dir)) {
        walk(&b, cfg->transcript_dir);
    }
    backup_file(&b, cfg->path, 1);
    backup_file(&b, cfg->audit_log, 1);
    backup_rotated(&b);
    {
        char pam[PATH_MAX];

        PATHF(pam, "%s/%s", cfg->pam_dir, cfg->pam_service);
        backup_file(&b, pam, 0);
    }
    backup_file(&b, cfg->host_key, 1);
    backup_file(&b, cfg->egress_key, 1);
    backup_file(&b, cfg->signing_key, 1);
    backup_file(&b, cfg->totp_key, 1);
    backup_file(&b, cfg->auditor_key, 0);
    backup_list(&b, cfg->signing_pubkeys);
    backup_list(&b, cfg->auditor_pubkeys);
    sign_manifest(&b, name);
    if (fsync_dir(b.tmp) != 0 || rename(b.tmp, final) != 0 ||
        fsync_dir(dir) != 0) {
        die("backup: cannot complete %s: %s", final, strerror(errno));
    }
    /* Only now is the new one complete: prune what is beyond the count. */
    list_generations(dir, &gl);
    for (i = 0; gl.n - i > (size_t)cfg->backup_generations; i++) {
        char old[PATH_MAX];

        PATHF(old, "%s/%s", dir, gl.name[i]);
        if (nftw(old, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
            die("backup: cannot remove old generation %s: %s", old,
                strerror(errno));
        }
        removed++;
    }
    genlist_free(&gl);
    if (sk_audit("backup", "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}",
                 "admin", admin, "generation", name, "dir", dir, "files",
                 (json_int_t)b.m.files, "bytes", (json_int_t)b.m.bytes,
                 "linked", (json_int_t)b.linked, "pruned",
                 (json_int_t)removed, "auditor_key",
                 b.auditor > 0   ? "sealed copy"
                 : b.auditor < 0 ? "UNSEALED, not copied"
                                 : "not on this gateway") != 0) {
        die("backup: cannot write the audit line");
    }
    if (b.auditor < 0) {
        fprintf(stderr,
                _("sekishoctl: WARNING: the auditor key %s is NOT sealed "
                  "with a passphrase and was NOT copied into the backup.\n"
                  "sekishoctl: WARNING: without it no transcript can ever "
                  "be read. Escrow it separately now (docs/admin.md, "
                  "\"Backup and restore\").\n"),
                cfg->auditor_key);
    }
    fprintf(stderr,
            ngettext("backup %s: %llu files, %llu bytes (%llu unchanged, "
                     "linked), %zu old generation removed\n",
                     "backup %s: %llu files, %llu bytes (%llu unchanged, "
                     "linked), %zu old generations removed\n",
                     (unsigned long)removed),
            final, (unsigned long long)b.m.files, (unsigned long long)b.m.bytes,
            (unsigned long long)b.linked, removed);
    printf("%s\n", final);
    sk_bkman_clear(&b.m);
    sk_bkman_free(b.prev);
    sk_strix_free(&b.have);
    sk_strix_free(&b.previx);
    return 0;
}

/* 1 if path is one restore may write for configuration c: inside its
 * directories or one of its named files. A manifest naming anything else
 * (/etc/shadow) is refused whatever its signature. */
static int restorable(const struct sk_config *c, const char *path)
{
    const char *files[] = {c->path,        c->audit_log,  c->host_key,
                           c->egress_key,  c->signing_key, c->totp_key,
                           c->auditor_key};
    char pam[PATH_MAX];
    size_t i, n;

    /* Not all of pam_dir: that may be /etc/pam.d, and only our file. */
    if (under(path, c->state_dir) || under(path, c->transcript_dir)) {
        return 1;
    }
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(path, files[i]) == 0) {
            return 1;
        }
    }
    PATHF(pam, "%s/%s", c->pam_dir, c->pam_service);
    if (strcmp(path, pam) == 0) {
        return 1;
    }
    /* Rotated audit logs beside the current one (audit.log.1, ...). */
    n = strlen(c->audit_log);
    if (strncmp(path, c->audit_log, n) == 0 && path[n] == '.' &&
        strchr(path + n, '/') == NULL) {
        return 1;
    }
    for (const char *l = c->signing_pubkeys; l != NULL;
         l = (l == c->signing_pubkeys ? c->auditor_pubkeys : NULL)) {
        const char *p = l;

        while (*p != '\0') {
            size_t k = strcspn(p, " ");

            if (k == strlen(path) && strncmp(p, path, k) == 0) {
                return 1;
            }
            p += k;
            p += strspn(p, " ");
        }
    }
    return 0;
}

/* 0 if dir does not exist or is an empty directory. */
static int dir_empty(const char *dir)
{
    DIR *d;
    struct dirent *de;
    int r = 0;

    if ((d = opendir(dir)) == NULL) {
        return errno == ENOENT ? 0 : -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            r = -1;
            break;
        }
    }
    closedir(d);
    return r;
}

/* restore GENERATION: into an empty state directory (see docs/admin.md).
 * Runs before (and instead of) the usual config load: after a lost disk
 * the configuration may exist only in the generation. */
int ctl_restore(const char *cfgpath, int argc, char **argv)
{
    struct sk_config *rc = NULL;
    struct sk_bkmanifest *m = NULL;
    struct sk_keyring ring;
    struct sk_key *signer = NULL;
    char gen[PATH_MAX], cpath[PATH_MAX], p[PATH_MAX], err[512], h[65];
    const char *base;
    char *sigdata = NULL, *text = NULL;
    size_t bad = 0, len = 0, i, ctx = strlen(SK_BKMAN_SIGCTX), skipped = 0;
    uint8_t pk[SK_KEY_PUBLEN];
    uint64_t size;
    int r, cfg_on_disk;

    if (argc != 1) {
        die_usage("restore GENERATION");
    }
    if (realpath(argv[0], gen) == NULL) {
        die("restore: %s: %s", argv[0], strerror(errno));
    }
    base = strrchr(gen, '/') + 1;
    PATHF(p, "%s/MANIFEST", gen);
    if ((r = sk_file_read(p, MANIFEST_MAX, &text, &len)) != 0) {
        die("restore: %s: %s (not a complete generation)", p,
            r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
    }
    if ((r = sk_bkman_parse(text, len, &m, &bad)) != 0) {
        die("restore: %s: malformed at line %zu: refused", p, bad);
    }
    if (strcmp(m->generation, base) != 0) {
        die("restore: %s names generation %s, not %s: refused", p,
            term_str(m->generation), term_str(base));
    }
    /* The configuration: the one on disk if it survived, else the
     * generation's copy, which must be the file asked for. */
    if (cfgpath[0] == '/') {
        PATHF(cpath, "%s", cfgpath);
    } else {
        char cwd[PATH_MAX];

        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            die("restore: getcwd: %s", strerror(errno));
        }
        PATHF(cpath, "%s/%s", cwd, cfgpath);
    }
    cfg_on_disk = access(cpath, F_OK) == 0;
    if (!cfg_on_disk && strcmp(cpath, m->config) != 0) {
        die("restore: %s does not exist and the generation holds %s, not "
            "it: give -c %s",
            cpath, term_str(m->config), term_str(m->config));
    }
    if (cfg_on_disk) {
        PATHF(p, "%s", cpath);
    } else {
        gen_path(gen, m->config, p, sizeof(p));
    }
    if (sk_config_load(p, &rc, err, sizeof(err)) != 0) {
        die("restore: %s", err);
    }
    /* The manifest's signature, by a key the configuration trusts (as
     * backed up, or on disk if it survived). */
    memset(&ring, 0, sizeof(ring));
    {
        char *copy = strdup(rc->signing_pubkeys), *tok, *save = NULL;

        if (copy == NULL) {
            die("out of memory");
        }
        for (tok = strtok_r(copy, " ", &save); tok != NULL;
             tok = strtok_r(NULL, " ", &save)) {
            gen_path(gen, tok, p, sizeof(p));
            if (sk_keyring_add_file(&ring, p) != 0) {
                (void)sk_keyring_add_file(&ring, tok);
            }
        }
        free(copy);
    }
    if ((sigdata = malloc(ctx + m->body_len)) == NULL) {
        die("out of memory");
    }
    memcpy(sigdata, SK_BKMAN_SIGCTX, ctx);
    memcpy(sigdata + ctx, text, m->body_len);
    r = sk_keyring_find(m->key_id, pk, &ring) != 0 ||
        sk_key_verify_raw(pk, (uint8_t *)sigdata, ctx + m->body_len,
                          m->sig) != 0;
    free(sigdata);
    sigdata = NULL;
    if (r) {
        die("restore: %s/MANIFEST: signature by %s does not verify against "
            "signing_pubkeys: refused",
            gen, term_str(m->key_id));
    }
    /* Every byte before any is written. */
    for (i = 0; i < m->n; i++) {
        const struct sk_bkentry *e = &m->e[i];
        struct stat st;

        if (!restorable(rc, e->path)) {
            die("restore: the manifest names %s, outside what %s "
                "configures: refused",
                term_str(e->path), rc->path);
        }
        if (e->is_dir) {
            continue;
        }
        gen_path(gen, e->path, p, sizeof(p));
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode) ||
            hash_path(p, h, &size) != 0) {
            die("restore: %s: missing or unreadable: refused",
                term_str(p));
        }
        if (size != e->size || strcmp(h, e->hash) != 0) {
            die("restore: %s does not match its manifest (size or BLAKE2b "
                "hash): the generation is damaged or tampered with: "
                "refused",
                term_str(p));
        }
    }
    /* Only into emptiness: a restore never merges with live state. */
    if (dir_empty(rc->state_dir) != 0 || dir_empty(rc->transcript_dir) != 0) {
        die("restore: the state directory %s or the transcript directory %s "
            "is not empty: restore only fills empty ones (move the old ones "
            "aside first)",
            rc->state_dir, rc->transcript_dir);
    }
    if (access(rc->audit_log, F_OK) == 0) {
        die("restore: the audit log %s exists: refused (move it aside "
            "first)",
            rc->audit_log);
    }
    for (i = 0; i < m->n; i++) {
        const struct sk_bkentry *e = &m->e[i];

        if (!e->is_dir && access(e->path, F_OK) == 0) {
            /* Outside the empty directories (config in /etc, the PAM
             * file): the same content may stay, a different one is not
             * overwritten. */
            if (hash_path(e->path, h, &size) != 0 || size != e->size ||
                strcmp(h, e->hash) != 0) {
                die("restore: %s exists and differs from the backup: "
                    "refused (move it aside first)",
                    term_str(e->path));
            }
        }
    }
    for (i = 0; i < m->n; i++) {
        const struct sk_bkentry *e = &m->e[i];
        int fd;

        if (e->is_dir) {
            if (mkparent(e->path, 0755) != 0 ||
                (mkdir(e->path, e->mode) != 0 && errno != EEXIST) ||
                chmod(e->path, e->mode) != 0) {
                die("restore: mkdir %s: %s", term_str(e->path),
                    strerror(errno));
            }
            continue;
        }
        if (access(e->path, F_OK) == 0) {
            skipped++;
            continue;
        }
        gen_path(gen, e->path, p, sizeof(p));
        if (mkparent(e->path, 0755) != 0 ||
            (fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            die("restore: %s: %s", term_str(e->path), strerror(errno));
        }
        if (copy_fd(fd, e->path, e->mode, e->mtime, h, &size) != 0) {
            die("restore: writing %s: %s", term_str(e->path),
                strerror(errno));
        }
        close(fd);
        if (size != e->size || strcmp(h, e->hash) != 0) {
            die("restore: %s changed while it was read: restore again",
                term_str(p));
        }
    }
    /* The restore itself goes into the restored chain. */
    if ((r = sk_key_load(rc->signing_key, &signer)) != 0 ||
        sk_audit_open(rc->audit_log, rc->gateway_id, signer) != 0 ||
        sk_audit("restore", "{s:s, s:s, s:s, s:I, s:I}", "admin", admin,
                 "generation", m->generation, "created", m->created,
                 "files", (json_int_t)m->files, "bytes",
                 (json_int_t)m->bytes) != 0) {
        die("restore: files restored, but the audit line could not be "
            "written to %s",
            rc->audit_log);
    }
    sk_audit_close();
    if (access(rc->auditor_key, F_OK) != 0) {
        fprintf(stderr,
                _("sekishoctl: NOTE: the auditor key %s was not in this "
                  "backup: put the escrowed copy there (or keep it off the "
                  "gateway); without it transcripts verify but cannot be "
                  "read\n"),
                rc->auditor_key);
    }
    fprintf(stderr,
            _("restored %s (made %s): %llu files, %llu bytes%s; next: "
              "sekishoctl -c %s verify --all\n"),
            m->generation, m->created, (unsigned long long)m->files,
            (unsigned long long)m->bytes,
            skipped ? _(" (identical ones already there kept)") : "", cpath);
    sk_key_free(signer);
    sk_config_free(rc);
    sk_bkman_free(m);
    free(text);
    return 0;
}
