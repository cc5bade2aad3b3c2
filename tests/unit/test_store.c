#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sk-err.h"
#include "store.h"

static char dbpath[512];

static int setup(void **state)
{
    sk_store *st = NULL;

    snprintf(dbpath, sizeof(dbpath), "%s/test_store.%ld.db",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(dbpath);
    if (sk_store_open(dbpath, SK_STORE_CREATE, &st) != 0) {
        return -1;
    }
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    char p[600];

    sk_store_close(*state);
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-policy", dbpath);
    unlink(p);
    return 0;
}

static int count_user(const struct sk_user *x, void *arg)
{
    (void)x;
    (*(int *)arg)++;
    return 0;
}

/* Keeps the reason of the last grant seen (migration 16). */
static char grant_reason[64];

static int reason_grant(const struct sk_grant *x, void *arg)
{
    (void)arg;
    snprintf(grant_reason, sizeof(grant_reason), "%s",
             x->reason ? x->reason : "(null)");
    return 0;
}

static int count_grant(const struct sk_grant *x, void *arg)
{
    (void)x;
    (*(int *)arg)++;
    return 0;
}

static void test_open_missing(void **state)
{
    sk_store *st = NULL;

    (void)state;
    assert_int_equal(sk_store_open("/nonexistent/dir/x.db", 0, &st),
                     SK_ERR_STORE);
    assert_null(st);
}

static void test_schema(void **state)
{
    assert_int_equal(sk_store_schema_version(*state), 18);
    assert_int_equal(sk_store_schema_latest(), 18);
    assert_int_equal(sk_store_schema_found(*state), 0); /* created */
}

static int count_keys(const struct sk_user_key *k, void *arg)
{
    int *n = arg;

    assert_non_null(k->fingerprint);
    (*n)++;
    return 0;
}

/* Keys belong to one person; rules are per user; both go with the user. */
static void test_user_keys_and_methods(void **state)
{
    sk_store *st = *state;
    struct sk_user u;
    char fp[64];
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h", 1),
                     0);
    assert_int_equal(sk_store_user_add(st, "bob", "maintainer", "$h", 1), 0);
    assert_int_equal(sk_store_user_key_add(st, "alice", "ssh-ed25519 AAAA1",
                                           "SHA256:one", "laptop", "root",
                                           5),
                     0);
    assert_int_equal(sk_store_user_key_add(st, "bob", "ssh-ed25519 AAAA1",
                                           "SHA256:one", "", "root", 5),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_user_key_add(st, "nobody", "ssh-ed25519 AAAA2",
                                           "SHA256:two", "", "root", 5),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_key_find(st, "alice", "ssh-ed25519 AAAA1",
                                            fp, sizeof(fp)),
                     0);
    assert_string_equal(fp, "SHA256:one");
    /* another user's key is not this user's */
    assert_int_equal(sk_store_user_key_find(st, "bob", "ssh-ed25519 AAAA1",
                                            fp, sizeof(fp)),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_key_list(st, NULL, count_keys, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(sk_store_user_key_remove(st, "bob", "SHA256:one"),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_key_remove(st, "alice", "SHA256:one"), 0);
    assert_int_equal(sk_store_user_key_find(st, "alice", "ssh-ed25519 AAAA1",
                                            fp, sizeof(fp)),
                     SK_ERR_NOT_FOUND);
    /* method rules: set, read back, back to the global one */
    assert_int_equal(sk_store_user_set_methods(st, "alice", "password+sk"),
                     0);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.methods, "password+sk");
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_set_methods(st, "alice", NULL), 0);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_null(u.methods);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_set_methods(st, "nobody", NULL),
                     SK_ERR_NOT_FOUND);
}

static void test_totp(void **state)
{
    sk_store *st = *state;
    uint8_t blob[60], out[60];
    size_t len = 0;

    memset(blob, 0xa5, sizeof(blob));
    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h", 1),
                     0);
    assert_int_equal(sk_store_user_get_totp(st, "alice", out, sizeof(out),
                                            &len),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_set_totp(st, "alice", blob, sizeof(blob)),
                     0);
    assert_int_equal(sk_store_user_set_totp(st, "bob", blob, sizeof(blob)),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_get_totp(st, "alice", out, sizeof(out),
                                            &len),
                     0);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(out, blob, len);
    assert_int_equal(sk_store_user_get_totp(st, "alice", out, 10, &len),
                     SK_ERR_TOO_LONG);
    /* each step once; an older step after a newer one is a replay too */
    assert_int_equal(sk_store_user_totp_use(st, "alice", 100), 0);
    assert_int_equal(sk_store_user_totp_use(st, "alice", 100), SK_ERR_DENIED);
    assert_int_equal(sk_store_user_totp_use(st, "alice", 99), SK_ERR_DENIED);
    assert_int_equal(sk_store_user_totp_use(st, "alice", 101), 0);
    /* re-enrolment forgets the used steps */
    assert_int_equal(sk_store_user_set_totp(st, "alice", blob, sizeof(blob)),
                     0);
    assert_int_equal(sk_store_user_totp_use(st, "alice", 50), 0);
}

static void test_users(void **state)
{
    sk_store *st = *state;
    struct sk_user u;
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h1", 100),
                     0);
    assert_int_equal(sk_store_user_add(st, "alice", "admin", "$h2", 100),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_user_add(st, "bob", "superuser", "$h", 100),
                     SK_ERR_INVALID); /* role constraint */
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.role, "maintainer");
    assert_string_equal(u.pw_hash, "$h1");
    assert_int_equal(u.status, SK_USER_ACTIVE);
    assert_int_equal(u.pw_changed, 100);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_set_password(st, "alice", "$h3", 200, 5),
                     0);
    assert_int_equal(sk_store_user_set_status(st, "alice", SK_USER_LOCKED),
                     0);
    assert_int_equal(sk_store_user_touch_login(st, "alice", 300), 0);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.pw_hash, "$h3");
    assert_int_equal(u.pw_changed, 200);
    assert_int_equal(u.status, SK_USER_LOCKED);
    assert_int_equal(u.last_login, 300);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_get(st, "nobody", &u), SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_set_status(st, "nobody", 0),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_list(
                         st, count_user,
                         &n),
                     0);
    assert_int_equal(n, 1);
}

static void test_targets_and_grants(void **state)
{
    sk_store *st = *state;
    struct sk_target t = {0, "web01", "10.0.0.1", 22, "root",
                          "ssh-ed25519 AAAA", 0, NULL};
    struct sk_target got;
    struct sk_grant g;
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h", 1),
                     0);
    assert_int_equal(sk_store_target_add(st, &t, 10), 0);
    assert_int_equal(sk_store_target_add(st, &t, 10), SK_ERR_EXISTS);
    t.name = "bad";
    t.port = 70000;
    assert_int_equal(sk_store_target_add(st, &t, 10), SK_ERR_INVALID);
    assert_int_equal(sk_store_target_get(st, "web01", &got), 0);
    assert_string_equal(got.host_key, "ssh-ed25519 AAAA");
    assert_int_equal(got.port, 22);
    assert_string_equal(got.key_group, "default");
    sk_target_clear(&got);
    /* egress key groups */
    assert_int_equal(sk_store_target_set_key_group(st, "web01", "pci"), 0);
    assert_int_equal(sk_store_target_set_key_group(st, "nosuch", "pci"),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_target_get(st, "web01", &got), 0);
    assert_string_equal(got.key_group, "pci");
    sk_target_clear(&got);
    t.name = "web02";
    t.port = 22;
    t.key_group = "pci";
    assert_int_equal(sk_store_target_add(st, &t, 10), 0);
    assert_int_equal(sk_store_target_get(st, "web02", &got), 0);
    assert_string_equal(got.key_group, "pci");
    sk_target_clear(&got);
    t.key_group = NULL;
    t.name = "web01";
    /* a signed session identifier is signed once, whoever asks */
    assert_int_equal(sk_store_egress_claim(st, "00ab", "web01", 10), 0);
    assert_int_equal(sk_store_egress_claim(st, "00ab", "web02", 11),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_egress_claim(st, "00ac", "web01", 11), 0);

    memset(&g, 0, sizeof(g));
    g.user = "alice";
    g.target = "web01";
    g.created_by = "admin";
    assert_int_equal(sk_store_grant_add(st, &g, 5), 0);
    assert_int_equal(sk_store_grant_list(st, "alice", reason_grant, NULL),
                     0);
    assert_string_equal(grant_reason, "(null)");
    /* re-granting replaces, reason included */
    g.allow_exec = 1;
    g.valid_until = 99;
    g.reason = "CHG-7 disk swap";
    assert_int_equal(sk_store_grant_add(st, &g, 6), 0);
    assert_int_equal(sk_store_grant_list(st, "alice", reason_grant, NULL),
                     0);
    assert_string_equal(grant_reason, "CHG-7 disk swap");
    g.target = "nosuch";
    assert_int_equal(sk_store_grant_add(st, &g, 6), SK_ERR_NOT_FOUND);
    assert_int_equal(
        sk_store_grant_list(st, "alice",
                            count_grant,
                            &n),
        0);
    assert_int_equal(n, 1);
    /* removing the target removes its grants */
    assert_int_equal(sk_store_target_remove(st, "web01"), 0);
    assert_int_equal(sk_store_target_remove(st, "web01"), SK_ERR_NOT_FOUND);
    n = 0;
    assert_int_equal(
        sk_store_grant_list(st, NULL,
                            count_grant,
                            &n),
        0);
    assert_int_equal(n, 0);
}

static void test_lockout_records(void **state)
{
    sk_store *st = *state;
    struct sk_user u;
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h", 1),
                     0);
    assert_int_equal(sk_store_auth_failure(st, "alice", "10.0.0.1", 100, 0,
                                           &n),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(sk_store_auth_failure(st, "alice", "10.0.0.2", 200, 0,
                                           &n),
                     0);
    assert_int_equal(n, 2);
    /* outside the window: the old failure no longer counts (and is gone) */
    assert_int_equal(sk_store_auth_failure(st, "alice", "10.0.0.1", 1100,
                                           150, &n),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(sk_store_auth_failure(st, "bob", "10.0.0.1", 1100, 150,
                                           &n),
                     0);
    assert_int_equal(n, 1); /* per user */
    assert_int_equal(sk_store_auth_failures_clear(st, "alice"), 0);
    assert_int_equal(sk_store_auth_failure(st, "alice", "10.0.0.1", 1200,
                                           150, &n),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(sk_store_user_lock_until(st, "alice", 5000), 0);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_int_equal(u.locked_until, 5000);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_lock_until(st, "nobody", 1),
                     SK_ERR_NOT_FOUND);
}

static int collect_hash(const char *h, void *arg)
{
    char *out = arg;

    strcat(out, h);
    strcat(out, ",");
    return 0;
}

static void test_password_history(void **state)
{
    sk_store *st = *state;
    char seen[256] = "";
    struct sk_user u;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h0", 1),
                     0);
    for (int i = 1; i <= 4; i++) {
        char h[8];

        snprintf(h, sizeof(h), "$h%d", i);
        assert_int_equal(sk_store_user_set_password(st, "alice", h, 10 + i, 2),
                         0);
    }
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.pw_hash, "$h4");
    assert_int_equal(u.pw_changed, 14);
    sk_user_clear(&u);
    /* newest first, cut to the 2 kept */
    assert_int_equal(sk_store_password_history(st, "alice", collect_hash,
                                               seen),
                     0);
    assert_string_equal(seen, "$h3,$h2,");
    assert_int_equal(sk_store_user_set_password(st, "nobody", "$x", 1, 2),
                     SK_ERR_NOT_FOUND);
}

static int check_session(const struct sk_session_rec *s, void *arg)
{
    (void)arg;
    assert_string_equal(s->id, "S1");
    assert_int_equal(s->bytes_out, 1234);
    assert_int_equal(s->exit_status, 3);
    assert_string_equal(s->end_reason, "closed");
    assert_int_equal(s->end, 50);
    return 0;
}

/* Records which ids a lookup passed on, in order. */
static int note_session_id(const struct sk_session_rec *s, void *arg)
{
    strcat(arg, s->id);
    strcat(arg, ",");
    return 0;
}

/* A shell session S1 of alice's on web01 from 127.0.0.1, started at
 * start, not yet in the store. */
static void shell_session(struct sk_session_rec *s, int64_t start)
{
    memset(s, 0, sizeof(*s));
    s->id = "S1";
    s->user = "alice";
    s->source = "127.0.0.1";
    s->target = "web01";
    s->mode = "shell";
    s->start = start;
}

static void test_sessions(void **state)
{
    sk_store *st = *state;
    struct sk_session_rec s;
    char seen[64] = "";

    shell_session(&s, 40);
    assert_int_equal(sk_store_session_start(st, &s), 0);
    assert_int_equal(sk_store_session_start(st, &s), SK_ERR_EXISTS);
    assert_int_equal(sk_store_session_running(st, "S1"), 1);
    s.end = 50;
    s.bytes_out = 1234;
    s.exit_status = 3;
    s.end_reason = "closed";
    assert_int_equal(sk_store_session_end(st, &s), 0);
    assert_int_equal(sk_store_session_list(st, check_session, NULL), 0);
    assert_int_equal(sk_store_session_running(st, "S1"), 0);
    assert_int_equal(sk_store_session_running(st, "nosuch"), 0);
    /* One row by id: that row, whole, and only that one. */
    assert_int_equal(sk_store_session_get(st, "S1", check_session, NULL), 0);
    s.id = "S2";
    s.start = 60;
    assert_int_equal(sk_store_session_start(st, &s), 0);
    assert_int_equal(sk_store_session_get(st, "S2", note_session_id, seen),
                     0);
    assert_string_equal(seen, "S2,");
    seen[0] = '\0';
    assert_int_equal(sk_store_session_get(st, "nosuch", note_session_id,
                                          seen),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_session_get(st, "S%", note_session_id, seen),
                     SK_ERR_NOT_FOUND); /* an id, not a pattern */
    assert_string_equal(seen, "");
    s.id = "nosuch";
    assert_int_equal(sk_store_session_end(st, &s), SK_ERR_NOT_FOUND);
}

static int count_req(const struct sk_request *x, void *arg)
{
    (void)x;
    (*(int *)arg)++;
    return 0;
}

static int count_votes(const char *a, const char *d, int64_t t, void *arg)
{
    (void)a;
    (void)d;
    (void)t;
    (*(int *)arg)++;
    return 0;
}

static void test_requests(void **state)
{
    sk_store *st = *state;
    struct sk_request q, got;
    int64_t id = 0, id2 = 0;
    int n = 0;

    memset(&q, 0, sizeof(q));
    q.user = "alice";
    q.target = "web01";
    q.reason = "fix";
    q.start = 100;
    q.end = 200;
    q.created = 50;
    assert_int_equal(sk_store_request_add(st, &q, &id), 0);
    q.ticket = "CHG-1";
    q.user = "bob";
    assert_int_equal(sk_store_request_add(st, &q, &id2), 0);
    assert_true(id2 > id && id > 0);
    assert_int_equal(sk_store_request_get(st, id, &got), 0);
    assert_string_equal(got.state, "pending");
    assert_null(got.ticket);
    assert_int_equal(got.approvals, 0);
    sk_request_clear(&got);
    assert_int_equal(sk_store_request_get(st, 9999, &got), SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_request_list(st, "alice", count_req, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(sk_store_request_list(st, NULL, count_req, &n), 0);
    assert_int_equal(n, 2);
    /* one vote per approver */
    assert_int_equal(sk_store_request_vote(st, id, "bob", "approve", 60), 0);
    assert_int_equal(sk_store_request_vote(st, id, "bob", "approve", 61),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_request_vote(st, id, "carol", "deny", 62), 0);
    n = 0;
    assert_int_equal(sk_store_request_votes(st, id, count_votes, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(sk_store_request_get(st, id, &got), 0);
    assert_int_equal(got.approvals, 1); /* approvals, not denials */
    sk_request_clear(&got);
    /* transitions are atomic compare-and-set on the state */
    assert_int_equal(sk_store_request_transition(st, id, "pending",
                                                 "approved", "bob", NULL, 63),
                     0);
    assert_int_equal(sk_store_request_transition(st, id, "pending", "denied",
                                                 "carol", NULL, 64),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_request_transition(st, id, "approved",
                                                 "reported", "alice",
                                                 "done", 70),
                     0);
    assert_int_equal(sk_store_request_transition(st, id, "reported",
                                                 "signed_off", "bob", NULL,
                                                 80),
                     0);
    assert_int_equal(sk_store_request_get(st, id, &got), 0);
    assert_string_equal(got.state, "signed_off");
    assert_string_equal(got.decided_by, "bob");
    assert_string_equal(got.report, "done");
    assert_string_equal(got.signed_off_by, "bob");
    assert_int_equal(got.reported, 70);
    assert_int_equal(got.signed_off, 80);
    sk_request_clear(&got);
}

static int count_groups(const char *n, const char *s, const char *m,
                        void *arg)
{
    (void)n;
    (void)s;
    (void)m;
    (*(int *)arg)++;
    return 0;
}

static void test_groups(void **state)
{
    sk_store *st = *state;
    struct sk_target t;
    struct sk_grant g;
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "gina", "maintainer", "x", 1), 0);
    memset(&t, 0, sizeof(t));
    t.name = "web01";
    t.host = "127.0.0.1";
    t.port = 22;
    t.login = "ops";
    t.host_key = "ssh-ed25519 AAAA";
    assert_int_equal(sk_store_target_add(st, &t, 1), 0);
    assert_int_equal(sk_store_group_add(st, "ops", "root", 1), 0);
    assert_int_equal(sk_store_group_add(st, "ops", "root", 1), SK_ERR_EXISTS);
    assert_int_equal(sk_store_group_member(st, "ops", "gina", 1), 0);
    assert_int_equal(sk_store_group_member(st, "ops", "gina", 1),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_store_group_member(st, "nope", "gina", 1),
                     SK_ERR_NOT_FOUND);
    memset(&g, 0, sizeof(g));
    g.target = "web01";
    g.allow_exec = 1;
    g.created_by = "root";
    g.window = "weekdays 09:00-18:00";
    assert_int_equal(sk_store_group_grant_add(st, "ops", &g, 2), 0);
    assert_int_equal(sk_store_group_grant_add(st, "nope", &g, 2),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_group_grant_list(st, "gina", count_grant, &n),
                     0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(sk_store_group_list(st, "gina", count_groups, &n), 0);
    assert_int_equal(n, 1);
    /* leaving the group takes its grants away */
    assert_int_equal(sk_store_group_member(st, "ops", "gina", 0), 0);
    n = 0;
    assert_int_equal(sk_store_group_grant_list(st, "gina", count_grant, &n),
                     0);
    assert_int_equal(n, 0);
    /* removing the group removes its grants (cascade) */
    assert_int_equal(sk_store_group_remove(st, "ops"), 0);
    n = 0;
    assert_int_equal(sk_store_group_grant_list(st, NULL, count_grant, &n), 0);
    assert_int_equal(n, 0);
}

static void test_reopen_keeps_data(void **state)
{
    sk_store *st = *state, *again = NULL;
    struct sk_user u;

    assert_int_equal(sk_store_user_add(st, "zed", "auditor", NULL, 1), 0);
    assert_int_equal(sk_store_open(dbpath, 0, &again), 0);
    assert_int_equal(sk_store_user_get(again, "zed", &u), 0);
    assert_null(u.pw_hash);
    sk_user_clear(&u);
    sk_store_close(again);
}

/* data_version (the monitor's mid-session recheck reads again only when
 * it moved): another connection's commit moves it, this connection's own
 * commits and plain reads do not. */
/* The count of changes that can end a session: moved by every rule
 * change, by whichever connection, and not by what a login writes. */
static int64_t gen_of(sk_store *st)
{
    int64_t g = -1;

    assert_int_equal(sk_store_policy_gen(st, &g), 0);
    return g;
}

static void test_policy_gen(void **state)
{
    sk_store *st = *state, *other = NULL;
    struct sk_target t = {0};
    struct sk_grant g = {0};
    struct sk_session_rec s;
    int64_t a;

    assert_int_equal(sk_store_open(dbpath, 0, &other), 0);
    a = gen_of(st);
    assert_int_equal(sk_store_user_add(other, "alice", "maintainer", NULL, 1),
                     0);
    assert_true(gen_of(st) > a);
    t.name = "web01";
    t.host = "127.0.0.1";
    t.port = 22;
    t.login = "ops";
    t.host_key = "ssh-ed25519 AAAA";
    a = gen_of(st);
    assert_int_equal(sk_store_target_add(other, &t, 10), 0);
    assert_true(gen_of(st) > a);
    g.user = "alice";
    g.target = "web01";
    g.created_by = "admin";
    a = gen_of(st);
    assert_int_equal(sk_store_grant_add(other, &g, 10), 0);
    assert_true(gen_of(st) > a);

    /* What a login and its session write: no rule among them. */
    a = gen_of(st);
    assert_int_equal(sk_store_user_touch_login(other, "alice", 300), 0);
    assert_int_equal(sk_store_user_totp_use(other, "alice", 7), 0);
    shell_session(&s, 40);
    assert_int_equal(sk_store_session_start(other, &s), 0);
    assert_int_equal(gen_of(st), a);

    /* A kill request, the account's state, its lockout and expiry, the
     * grant's removal: each moves it. */
    assert_int_equal(sk_store_session_kill(other, "S1", "why"), 0);
    assert_true(gen_of(st) > a);
    a = gen_of(st);
    assert_int_equal(sk_store_user_set_status(other, "alice",
                                              SK_USER_DISABLED),
                     0);
    assert_true(gen_of(st) > a);
    a = gen_of(st);
    assert_int_equal(sk_store_user_lock_until(other, "alice", 900), 0);
    assert_true(gen_of(st) > a);
    a = gen_of(st);
    assert_int_equal(sk_store_user_set_expires(other, "alice", 900), 0);
    assert_true(gen_of(st) > a);
    a = gen_of(st);
    assert_int_equal(sk_store_grant_remove(other, "alice", "web01"), 0);
    assert_true(gen_of(st) > a);
    a = gen_of(st);
    s.end = 50;
    s.end_reason = "closed";
    assert_int_equal(sk_store_session_end(other, &s), 0);
    assert_int_equal(gen_of(st), a);
    sk_store_close(other);
}

/* The announcement of rule changes: quiet while nobody changes a rule,
 * whatever else is written; moved by a rule change from any connection,
 * once it is committed, and not by one rolled back. */
static void test_policy_moved(void **state)
{
    sk_store *st = *state, *other = NULL;
    struct sk_user u;
    char ann[600];
    struct stat sb;

    assert_int_equal(sk_store_open(dbpath, 0, &other), 0);
    snprintf(ann, sizeof(ann), "%s-policy", dbpath);
    assert_int_equal(sk_store_policy_moved(st), 1); /* first look */
    assert_int_equal(sk_store_policy_moved(st), 0);
    assert_int_equal(sk_store_user_add(other, "theirs", "maintainer", NULL,
                                       1),
                     0);
    assert_int_equal(sk_store_policy_moved(st), 1);
    assert_int_equal(sk_store_policy_moved(st), 0);
    /* reads, a login's writes */
    assert_int_equal(sk_store_user_get(other, "theirs", &u), 0);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_touch_login(other, "theirs", 300), 0);
    assert_int_equal(sk_store_policy_moved(st), 0);
    assert_int_equal(sk_store_user_set_status(other, "theirs",
                                              SK_USER_DISABLED),
                     0);
    assert_int_equal(sk_store_policy_moved(st), 1);
    /* this connection's own change too */
    assert_int_equal(sk_store_user_add(st, "own", "maintainer", NULL, 1), 0);
    assert_int_equal(sk_store_policy_moved(st), 1);
    assert_int_equal(sk_store_policy_moved(st), 0);
    /* a refused change (the name is taken) is rolled back: no byte */
    assert_int_equal(stat(ann, &sb), 0);
    assert_int_not_equal(sk_store_user_add(other, "own", "maintainer", NULL,
                                           1),
                         0);
    assert_int_equal(sk_store_policy_moved(st), 0);
    /* the file gone (cleaned away): moved, then quiet again */
    assert_int_equal(unlink(ann), 0);
    assert_int_equal(sk_store_policy_moved(st), 1);
    assert_int_equal(sk_store_policy_moved(st), 0);
    sk_store_close(other);
}

/* Writes sql into a new database file at dbpath (the store closed). */
static void load_sql(const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("fixture: %s", err ? err : "?");
    }
    sqlite3_close(db);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static int find_fixture_session(const struct sk_session_rec *s, void *arg)
{
    if (strcmp(s->id, "20260106T000000Z-fixture1") == 0) {
        assert_string_equal(s->user, "alice");
        assert_string_equal(s->target, "web01");
        assert_int_equal(s->end, 1767657660);
        assert_int_equal(s->request_id, 1);
        assert_non_null(s->transcript_hash);
        (*(int *)arg)++;
    }
    return 0;
}

/* R-OPS-6: a state database made by release 0.1.0 (schema 11, the
 * committed fixture from tests/fixtures/make-state-v11.py) opens,
 * migrates to the current schema and keeps its users, targets, grants,
 * sessions and requests. */
static void test_upgrade_from_v11(void **state)
{
    sk_store *st = NULL;
    struct sk_user u;
    struct sk_target t;
    struct sk_request rq;
    char *sql;
    int n = 0;

    sk_store_close(*state);
    *state = NULL;
    teardown(state);
    sql = read_file(FIXTURE_DIR "/state-v11.sql");
    load_sql(sql);
    free(sql);
    assert_int_equal(sk_store_open(dbpath, 0, &st), 0);
    *state = st;
    assert_int_equal(sk_store_schema_found(st), 11);
    assert_int_equal(sk_store_schema_version(st), sk_store_schema_latest());
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.role, "maintainer");
    assert_int_equal(u.pw_changed, 1767571200);
    assert_int_equal(u.last_login, 1767657600);
    assert_int_equal(u.removed, 0);
    assert_null(u.methods);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_get(st, "bob", &u), 0);
    assert_string_equal(u.role, "approver");
    assert_string_equal(u.sources, "192.0.2.0/24");
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_get(st, "carol", &u), 0);
    assert_int_equal(u.status, SK_USER_DISABLED);
    sk_user_clear(&u);
    assert_int_equal(sk_store_target_get(st, "web01", &t), 0);
    assert_int_equal(t.port, 2201);
    assert_string_equal(t.key_group, "default"); /* migration 12 */
    sk_target_clear(&t);
    assert_int_equal(sk_store_grant_list(st, "alice", count_grant, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(sk_store_session_list(st, find_fixture_session, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(sk_store_request_get(st, 1, &rq), 0);
    assert_string_equal(rq.state, "approved");
    assert_string_equal(rq.decided_by, "bob");
    assert_int_equal(rq.approvals, 1);
    sk_request_clear(&rq);
    /* migration 15 rebuilt users: its rows, and the grants pointing at
     * them, are all there (counted above); sets are accepted now */
    assert_int_equal(sk_store_user_set_role(st, "bob", "approver,auditor"),
                     0);
    assert_int_equal(sk_store_user_get(st, "bob", &u), 0);
    assert_string_equal(u.role, "approver,auditor");
    assert_string_equal(u.sources, "192.0.2.0/24");
    sk_user_clear(&u);
    /* New tables work on the migrated database. */
    assert_int_equal(sk_store_session_id_claim(st, "ab", 5), 0);
    assert_int_equal(sk_store_user_remove(st, "carol", "root", 9), 0);
    sk_store_close(st);
    /* The next open finds nothing to migrate. */
    assert_int_equal(sk_store_open(dbpath, 0, &st), 0);
    *state = st;
    assert_int_equal(sk_store_schema_found(st), sk_store_schema_latest());
}

static int count_tables(void *arg, int n, char **v, char **c)
{
    (void)n;
    (void)c;
    *(int *)arg = atoi(v[0]);
    return 0;
}

/* A database from a newer version is refused, with its own error code,
 * and left as it was (no table created, version not lowered). */
static void test_newer_schema_refused(void **state)
{
    sk_store *st = NULL;
    sqlite3 *db = NULL;
    char sql[64];
    int tables = -1, v = -1;

    sk_store_close(*state);
    *state = NULL;
    teardown(state);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
             sk_store_schema_latest() + 1);
    load_sql(sql);
    assert_int_equal(sk_store_open(dbpath, 0, &st), SK_ERR_SCHEMA_NEWER);
    assert_null(st);
    assert_non_null(strstr(sk_err_str(SK_ERR_SCHEMA_NEWER), "newer"));
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master",
                                  count_tables, &tables, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version", count_tables,
                                  &v, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tables, 0);
    assert_int_equal(v, sk_store_schema_latest() + 1);
}

/* R-ACCT-1: a removed account keeps its row and name (history names it)
 * but loses every way in, and nothing brings it back; roles change. */
static void test_user_remove_and_role(void **state)
{
    sk_store *st = *state;
    struct sk_target t = {0, "web01", "10.0.0.1", 22, "root",
                          "ssh-ed25519 AAAA", 0, NULL};
    struct sk_grant g;
    struct sk_session_rec s;
    struct sk_user u;
    uint8_t sealed[4] = {1, 2, 3, 4}, out[8];
    size_t len;
    int n = 0;

    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h1", 1),
                     0);
    assert_int_equal(sk_store_user_set_role(st, "alice", "approver"), 0);
    assert_int_equal(sk_store_user_set_role(st, "alice", "root"),
                     SK_ERR_INVALID);
    /* role sets: canonical ones only (policy/roles.h) */
    assert_int_equal(sk_store_user_set_role(st, "alice",
                                            "maintainer,auditor,admin"),
                     0);
    assert_int_equal(sk_store_user_set_role(st, "alice", ""), 0);
    assert_int_equal(sk_store_user_set_role(st, "alice", "admin,auditor"),
                     SK_ERR_INVALID);
    assert_int_equal(sk_store_user_set_role(st, "alice", "admin,admin"),
                     SK_ERR_INVALID);
    assert_int_equal(sk_store_user_add(st, "ari", "approver,auditor", "$h",
                                       1),
                     0);
    assert_int_equal(sk_store_user_add(st, "arj", "auditor,root", "$h", 1),
                     SK_ERR_INVALID);
    assert_int_equal(sk_store_user_set_role(st, "alice", "approver"), 0);
    assert_int_equal(sk_store_user_set_role(st, "nobody", "admin"),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_string_equal(u.role, "approver");
    assert_int_equal(u.removed, 0);
    assert_null(u.removed_by);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_set_password(st, "alice", "$h2", 2, 5), 0);
    assert_int_equal(sk_store_user_set_totp(st, "alice", sealed,
                                            sizeof(sealed)),
                     0);
    assert_int_equal(sk_store_user_key_add(st, "alice", "ssh-ed25519 AAAAk",
                                           "SHA256:k", "", "root", 3),
                     0);
    assert_int_equal(sk_store_target_add(st, &t, 3), 0);
    memset(&g, 0, sizeof(g));
    g.user = "alice";
    g.target = "web01";
    g.created_by = "root";
    assert_int_equal(sk_store_grant_add(st, &g, 3), 0);
    assert_int_equal(sk_store_group_add(st, "ops", "root", 3), 0);
    assert_int_equal(sk_store_group_member(st, "ops", "alice", 1), 0);
    shell_session(&s, 4);
    assert_int_equal(sk_store_session_start(st, &s), 0);

    assert_int_equal(sk_store_user_remove(st, "alice", "root/sudo:ann", 10),
                     0);
    assert_int_equal(sk_store_user_remove(st, "alice", "root", 11),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_remove(st, "nobody", "root", 11),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_get(st, "alice", &u), 0);
    assert_int_equal(u.removed, 10);
    assert_string_equal(u.removed_by, "root/sudo:ann");
    assert_int_equal(u.status, SK_USER_DISABLED);
    assert_null(u.pw_hash);
    assert_int_equal(u.pw_changed, 0);
    sk_user_clear(&u);
    assert_int_equal(sk_store_user_get_totp(st, "alice", out, sizeof(out),
                                            &len),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_key_list(st, "alice", count_keys, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sk_store_grant_list(st, "alice", count_grant, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sk_store_group_member(st, "ops", "alice", 0),
                     SK_ERR_NOT_FOUND);
    /* Nothing revives it; its name is not free. */
    assert_int_equal(sk_store_user_set_status(st, "alice", SK_USER_ACTIVE),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_set_role(st, "alice", "admin"),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_set_password(st, "alice", "$h3", 12, 5),
                     SK_ERR_NOT_FOUND);
    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", "$h4", 13),
                     SK_ERR_EXISTS);
    /* Its history stays. */
    assert_int_equal(sk_store_session_running(st, "S1"), 1);
    n = 0;
    assert_int_equal(sk_store_user_list(st, count_user, &n), 0);
    assert_int_equal(n, 2); /* alice and ari */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v11, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_remove_and_role, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_keys_and_methods, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_totp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lockout_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_targets_and_grants, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_gen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
