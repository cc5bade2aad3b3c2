#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bkmanifest.h"
#include "sk-err.h"

#define H1 "0e21976ce979f4925158ab0375ca352fd5ee729a169fcf2bbbd0f6fa3967b9e5"
#define H2 "f9e04fffd500ab344d7f3cb5c991b46311aa3238655c37e6309419f71082bd29"
#define SIG                                                                  \
    "sig ed25519:45e06567df6aaae4 2dqxPV9Bo8yw+MlZDmWKY3hEU1NnLQ95+kzKdbsUw" \
    "qvWvNFcj0vTNWXs6boNy/KVG23xaQx1D8s2soFcNCFKCA==\n"

static const char good_body[] =
    "sekisho-backup-v1\n"
    "generation sekisho-20261201T222204Z\n"
    "created 2026-12-01T22:22:04Z\n"
    "config /var/lib/sekisho/sekisho.conf\n"
    "dir 0700 /var/lib/sekisho\n"
    "file 0600 115 1796163722 " H1 " /var/lib/sekisho/signing_key\n"
    "file 0644 5512 1796163723 " H2 " /var/lib/sekisho/a file\n"
    "total 2 5627\n";

static char *with_sig(const char *body)
{
    char *s = malloc(strlen(body) + sizeof(SIG));

    assert_non_null(s);
    strcpy(s, body);
    strcat(s, SIG);
    return s;
}

/* Parse of the whole text or failure at line *bad. */
static int parse(const char *text, size_t *bad)
{
    struct sk_bkmanifest *m = NULL;
    int r = sk_bkman_parse(text, strlen(text), &m, bad);

    sk_bkman_free(m);
    return r;
}

static void test_roundtrip(void **state)
{
    struct sk_bkmanifest m, *p = NULL;
    char *body = NULL, *text;
    size_t len = 0, bad = 0;

    (void)state;
    memset(&m, 0, sizeof(m));
    strcpy(m.generation, "sekisho-20261201T222204Z");
    strcpy(m.created, "2026-12-01T22:22:04Z");
    m.config = strdup("/var/lib/sekisho/sekisho.conf");
    assert_int_equal(sk_bkman_add(&m, 1, 0700, 0, 0, NULL,
                                  "/var/lib/sekisho"), 0);
    assert_int_equal(sk_bkman_add(&m, 0, 0600, 115, 1796163722, H1,
                                  "/var/lib/sekisho/signing_key"), 0);
    assert_int_equal(sk_bkman_add(&m, 0, 0644, 5512, 1796163723, H2,
                                  "/var/lib/sekisho/a file"), 0);
    assert_int_equal(m.files, 2);
    assert_int_equal(m.bytes, 5627);
    assert_int_equal(sk_bkman_format(&m, &body, &len), 0);
    /* Byte for byte the documented format. */
    assert_int_equal(len, strlen(good_body));
    assert_string_equal(body, good_body);
    text = with_sig(body);
    assert_int_equal(sk_bkman_parse(text, strlen(text), &p, &bad), 0);
    assert_int_equal(p->body_len, strlen(good_body));
    assert_string_equal(p->generation, "sekisho-20261201T222204Z");
    assert_string_equal(p->config, "/var/lib/sekisho/sekisho.conf");
    assert_string_equal(p->key_id, "ed25519:45e06567df6aaae4");
    assert_int_equal(p->n, 3);
    assert_true(p->e[0].is_dir);
    assert_int_equal(p->e[0].mode, 0700);
    assert_int_equal(p->e[2].mode, 0644);
    assert_int_equal(p->e[2].size, 5512);
    assert_int_equal(p->e[2].mtime, 1796163723);
    assert_string_equal(p->e[2].hash, H2);
    assert_string_equal(p->e[2].path, "/var/lib/sekisho/a file");
    assert_int_equal(p->files, 2);
    assert_int_equal(p->bytes, 5627);
    sk_bkman_free(p);
    free(text);
    free(body);
    sk_bkman_clear(&m);
}

/* Replaces the first occurrence of from in good_body+SIG with to and
 * expects the parse to fail at line want. */
static void expect_bad(const char *from, const char *to, size_t want)
{
    char *text = with_sig(good_body), *out, *at;
    size_t bad = 0;

    at = strstr(text, from);
    assert_non_null(at);
    out = malloc(strlen(text) + strlen(to) + 1);
    assert_non_null(out);
    memcpy(out, text, (size_t)(at - text));
    strcpy(out + (at - text), to);
    strcat(out, at + strlen(from));
    assert_int_equal(parse(out, &bad), SK_ERR_INVALID);
    assert_int_equal(bad, want);
    free(out);
    free(text);
}

static void test_rejects(void **state)
{
    (void)state;
    expect_bad("sekisho-backup-v1", "sekisho-backup-v2", 1);
    expect_bad("generation sekisho-", "generation other-", 2);
    expect_bad("config /var", "config var", 4);
    /* paths that would write somewhere else than they say */
    expect_bad("dir 0700 /var/lib/sekisho\n",
               "dir 0700 /var/lib/../../etc\n", 5);
    expect_bad("dir 0700 /var/lib/sekisho\n", "dir 0700 /var//lib\n", 5);
    expect_bad("dir 0700 /var/lib/sekisho\n", "dir 0700 /var/./lib\n", 5);
    expect_bad("dir 0700 /var/lib/sekisho\n", "dir 0700 /var/lib/\n", 5);
    expect_bad("dir 0700 /var/lib/sekisho\n", "dir 0700 rel/path\n", 5);
    expect_bad("a file\n", "a\tfile\n", 7);
    expect_bad("a file\n", "a \xc3" "file\n", 7);
    /* numbers and hashes */
    expect_bad("file 0600 115", "file 0800 115", 6);
    expect_bad("file 0600 115", "file 010000 115", 6);
    expect_bad("file 0600 115", "file 0600 -115", 6);
    expect_bad("file 0600 115", "file 0600 99999999999999999999999", 6);
    expect_bad(H1, "0E21976ce979f4925158ab0375ca352fd5ee729a169fcf2bbbd0f6fa"
                   "3967b9e5", 6);
    expect_bad(H1 " ", "abcd ", 6);
    /* a path twice */
    expect_bad("/var/lib/sekisho/a file\n",
               "/var/lib/sekisho/signing_key\n", 7);
    /* totals that do not add up: a file removed from the list */
    expect_bad("total 2 5627", "total 3 5627", 8);
    expect_bad("total 2 5627", "total 2 5628", 8);
    /* records out of order, unknown records, a bad signature line */
    expect_bad("created 2026", "zcreated 2026", 3);
    expect_bad("dir 0700", "link 0700", 5);
    expect_bad("sig ed25519:45e06567df6aaae4 2d", "sig ed25519:4 !d", 9);
    expect_bad("sig ed25519:45e06567df6aaae4 2d",
               "sig ed25519:45e06567df6aaae4 2", 9);
}

static void test_truncated_and_trailing(void **state)
{
    char *text = with_sig(good_body), *more;
    size_t bad = 0;

    (void)state;
    /* A manifest cut anywhere is refused: there is no signature line, or
     * the last line is unterminated. */
    for (size_t cut = 0; cut < strlen(text); cut += 7) {
        struct sk_bkmanifest *m = NULL;

        assert_int_equal(sk_bkman_parse(text, cut, &m, &bad),
                         SK_ERR_INVALID);
        assert_null(m);
    }
    assert_int_equal(parse(text, &bad), 0);
    more = malloc(strlen(text) + 16);
    assert_non_null(more);
    strcpy(more, text);
    strcat(more, "dir 0700 /x\n");
    assert_int_equal(parse(more, &bad), SK_ERR_INVALID);
    assert_int_equal(bad, 10);
    free(more);
    free(text);
}

static void test_names_paths(void **state)
{
    (void)state;
    assert_true(sk_bkman_name_ok("sekisho-20261201T222204Z"));
    assert_true(sk_bkman_name_ok("sekisho-20261201T222204Z-01"));
    assert_false(sk_bkman_name_ok("sekisho-"));
    assert_false(sk_bkman_name_ok("sekisho-../x"));
    assert_false(sk_bkman_name_ok(".tmp-sekisho-20261201T222204Z"));
    assert_false(sk_bkman_name_ok("sekisho-a/b"));
    assert_false(sk_bkman_name_ok(NULL));
    assert_true(sk_bkman_path_ok("/"));
    assert_true(sk_bkman_path_ok("/var/lib/sekisho/関所"));
    assert_true(sk_bkman_path_ok("/a/..b/.c"));
    assert_false(sk_bkman_path_ok("/a/.."));
    assert_false(sk_bkman_path_ok("/a\n/b"));
    assert_false(sk_bkman_path_ok("/a\x7f"));
    assert_false(sk_bkman_path_ok(""));
    assert_false(sk_bkman_path_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_names_paths),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
