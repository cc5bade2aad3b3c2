/* The audit chain across rotated files (R-LOG-5): rotation by force, size
 * and age; concurrent writers that rotate under each other lose no line
 * and fork no chain; a missing, edited or cut file is named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "key.h"
#include "sk-err.h"

static char dir[PATH_MAX], logp[PATH_MAX + 16];
static struct sk_key *signer;

static int keyfn(const char *id, uint8_t pk[32], void *arg)
{
    (void)id;
    (void)arg;
    sk_key_pub_raw(signer, pk);
    return 0;
}

static int setup(void **state)
{
    char kp[PATH_MAX + 16];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/test_audit.%ld",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return -1;
    }
    snprintf(kp, sizeof(kp), "%s/key", dir);
    unlink(kp);
    if (sk_key_generate_file(kp) != 0 || sk_key_load(kp, &signer) != 0) {
        return -1;
    }
    snprintf(logp, sizeof(logp), "%s/audit.log", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];

    (void)state;
    sk_audit_close();
    sk_key_free(signer);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh, empty log directory for each test. */
static void fresh(void)
{
    char **f = NULL;
    size_t n = 0;

    sk_audit_close();
    assert_int_equal(sk_audit_files(logp, &f, &n), 0);
    for (size_t i = 0; i < n; i++) {
        unlink(f[i]);
    }
    sk_audit_files_free(f, n);
    sk_audit_set_rotation(0, 0);
    assert_int_equal(sk_audit_open(logp, "gw", signer), 0);
}

static int verify(uint64_t *lines, size_t *nfiles, char *err, size_t errlen)
{
    char **f = NULL, last[65];
    size_t n = 0;
    uint64_t good = 0;
    int r;

    assert_int_equal(sk_audit_files(logp, &f, &n), 0);
    r = sk_audit_verify_files(f, n, keyfn, NULL, lines, &good, last, err,
                              errlen);
    if (r == 0) {
        assert_int_equal(good, *lines);
    }
    if (nfiles != NULL) {
        *nfiles = n;
    }
    sk_audit_files_free(f, n);
    return r;
}

/* Path of the i-th file (0: oldest). */
static void file_at(size_t i, char *out, size_t outlen)
{
    char **f = NULL;
    size_t n = 0;

    assert_int_equal(sk_audit_files(logp, &f, &n), 0);
    assert_true(i < n);
    snprintf(out, outlen, "%s", f[i]);
    sk_audit_files_free(f, n);
}

static size_t count_in(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, c = 0;

    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        c += strstr(line, needle) != NULL;
    }
    free(line);
    fclose(f);
    return c;
}

static void test_forced_rotation_chains(void **state)
{
    char err[1024], rot[PATH_MAX + 64], first[PATH_MAX + 64];
    uint64_t lines;
    size_t n;

    (void)state;
    fresh();
    /* nothing to rotate yet */
    assert_int_equal(sk_audit_rotate("t", rot, sizeof(rot)), SK_ERR_INVALID);
    assert_int_equal(sk_audit("a", NULL), 0);
    assert_int_equal(sk_audit("b", NULL), 0);
    assert_int_equal(sk_audit_rotate("t", rot, sizeof(rot)), 0);
    assert_non_null(strstr(rot, "/audit.log.20"));
    /* a second rotation in the same second waits: the name is taken */
    assert_int_equal(sk_audit_rotate("t", NULL, 0), SK_ERR_EXISTS);
    assert_int_equal(sk_audit("c", NULL), 0);
    sleep(1);
    assert_int_equal(sk_audit_rotate("t", NULL, 0), 0);
    assert_int_equal(sk_audit("d", NULL), 0);
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_int_equal(lines, 6); /* a b | rot c | rot d */
    /* the new file begins with the signed rotation line naming the old */
    assert_int_equal(count_in(logp, "\"event\":\"log_rotated\""), 1);
    file_at(0, first, sizeof(first));
    assert_string_equal(first, rot);
    assert_int_equal(count_in(first, "\"event\":\"log_rotated\""), 0);
}

static void test_missing_and_tampered_named(void **state)
{
    char err[1024], f0[PATH_MAX + 64], f1[PATH_MAX + 64], save[PATH_MAX + 64];
    char cmd[4 * PATH_MAX + 512];
    uint64_t lines;

    (void)state;
    fresh();
    assert_int_equal(sk_audit("a", "{s:s}", "user", "alice"), 0);
    assert_int_equal(sk_audit_rotate(NULL, NULL, 0), 0);
    assert_int_equal(sk_audit("b", NULL), 0);
    sleep(1);
    assert_int_equal(sk_audit_rotate(NULL, NULL, 0), 0);
    assert_int_equal(sk_audit("c", NULL), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), 0);
    file_at(0, f0, sizeof(f0));
    file_at(1, f1, sizeof(f1));
    snprintf(save, sizeof(save), "%s/saved", dir);

    /* the middle file removed: named, and between which two */
    assert_int_equal(rename(f1, save), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, strrchr(f1, '/') + 1));
    assert_non_null(strstr(err, "missing: chain breaks between"));
    assert_non_null(strstr(err, strrchr(f0, '/') + 1));
    assert_int_equal(rename(save, f1), 0);

    /* the first file removed: the oldest kept names its predecessor */
    assert_int_equal(rename(f0, save), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, strrchr(f0, '/') + 1));
    assert_non_null(strstr(err, "missing: chain breaks before"));
    assert_int_equal(rename(save, f0), 0);

    /* a line edited in a rotated file: the file and line named */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && sed -i 's/alice/mallory/' '%s'",
             f0, save, f0);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, strrchr(f0, '/') + 1));
    assert_non_null(strstr(err, "line 1: bad signature"));
    assert_int_equal(rename(save, f0), 0);

    /* the last line of a rotated file cut off: the link to it breaks */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && sed -i '$d' '%s'", f1, save,
             f1);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, "does not follow the last line of"));
    assert_int_equal(rename(save, f1), 0);

    /* the rotation line removed from the current file */
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && sed -i '1d' '%s'", logp, save,
             logp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, "does not begin with the log_rotated line"));
    assert_int_equal(rename(save, logp), 0);

    /* the current file replaced by a fresh chain */
    assert_int_equal(rename(logp, save), 0);
    sk_audit_close();
    assert_int_equal(sk_audit_open(logp, "gw", signer), 0);
    assert_int_equal(sk_audit("x", NULL), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), SK_ERR_CRYPTO);
    assert_non_null(strstr(err, "starts a new chain"));
    assert_int_equal(rename(save, logp), 0);
    assert_int_equal(verify(&lines, NULL, err, sizeof(err)), 0);
}

static void test_size_and_age_rotation(void **state)
{
    char err[1024];
    uint64_t lines;
    size_t n;

    (void)state;
    fresh();
    sk_audit_set_rotation(1, 0); /* every non-empty file is too big */
    assert_int_equal(sk_audit("a", NULL), 0);
    assert_int_equal(sk_audit("b", NULL), 0); /* rotates first */
    sk_audit_set_rotation(0, 0);
    assert_int_equal(sk_audit("c", NULL), 0);
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lines, 4);
    assert_int_equal(count_in(logp, "\"reason\":\"size\""), 1);
    sk_audit_set_rotation(0, 1);
    sleep(2);
    assert_int_equal(sk_audit("d", NULL), 0); /* the file is 2 s old */
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_int_equal(count_in(logp, "\"reason\":\"age\""), 1);
    assert_int_equal(count_in(logp, "\"event\":\"d\""), 1);
}

/* A rotation cut short between its link and its rename (a crash) leaves
 * the current file with its rotated name too: verification reads it
 * once, and the next rotation finishes under that name. */
static void test_cut_rotation_finished(void **state)
{
    char err[1024], dupname[PATH_MAX + 64], rot[PATH_MAX + 64];
    uint64_t lines;
    size_t n;
    struct stat st;

    (void)state;
    fresh();
    assert_int_equal(sk_audit("a", NULL), 0);
    snprintf(dupname, sizeof(dupname), "%s.20200101T000000Z", logp);
    assert_int_equal(link(logp, dupname), 0);
    assert_int_equal(sk_audit("b", NULL), 0);
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(lines, 2);
    assert_int_equal(sk_audit_rotate(NULL, rot, sizeof(rot)), 0);
    assert_string_equal(rot, dupname);
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lines, 3);
    assert_int_equal(stat(logp, &st), 0);
    assert_int_equal(st.st_nlink, 1);
}

/* Several processes, each with its log open as a monitor has, rotating
 * by size under each other for a few seconds. */
static void test_concurrent_writers(void **state)
{
    enum { PROCS = 4, EACH = 60 };
    char err[1024], **f = NULL;
    uint64_t lines;
    size_t n, events = 0, rots = 0;
    pid_t kids[PROCS];
    int st;

    (void)state;
    fresh();
    assert_int_equal(sk_audit("start", NULL), 0);
    sk_audit_close();
    for (int p = 0; p < PROCS; p++) {
        kids[p] = fork();
        assert_true(kids[p] >= 0);
        if (kids[p] == 0) {
            int bad = sk_audit_open(logp, "gw", signer) != 0;

            sk_audit_set_rotation(4000, 0);
            for (int i = 0; i < EACH && !bad; i++) {
                bad = sk_audit("w", "{s:i, s:i}", "p", p, "i", i) != 0;
                usleep(40000);
            }
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        assert_int_equal(waitpid(kids[p], &st, 0), kids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(sk_audit_open(logp, "gw", signer), 0);
    assert_int_equal(verify(&lines, &n, err, sizeof(err)), 0);
    assert_int_equal(sk_audit_files(logp, &f, &n), 0);
    for (size_t i = 0; i < n; i++) {
        events += count_in(f[i], "\"event\":\"w\"");
        rots += count_in(f[i], "\"event\":\"log_rotated\"");
    }
    sk_audit_files_free(f, n);
    /* no line lost, none in a file nobody reads, rotations happened */
    assert_int_equal(events, PROCS * EACH);
    assert_int_equal(lines, 1 + PROCS * EACH + rots);
    assert_int_equal(rots, n - 1);
    assert_true(n >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forced_rotation_chains),
        cmocka_unit_test(test_missing_and_tampered_named),
        cmocka_unit_test(test_size_and_age_rotation),
        cmocka_unit_test(test_cut_rotation_finished),
        cmocka_unit_test(test_concurrent_writers),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
