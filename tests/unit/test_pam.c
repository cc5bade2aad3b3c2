/* pam_sekisho.so through real PAM: libpam loads the module from a
 * private stack (pam_start_confdir), a scripted conversation answers its
 * prompts; nothing calls the module's functions directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <security/pam_appl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/totp.h"
#include "config.h"
#include "sk-err.h"
#include "store.h"
#include "util.h"

#ifndef PAM_MODULE
#error PAM_MODULE must name the built pam_sekisho.so
#endif

static char dir[600], confpath[700], pamdir[700];
static uint8_t secret[SK_TOTP_SECRET_LEN];
static const char *PW = "Correct-Horse-9-Battery!";

/* The conversation: answers in order; records every prompt shown. */
struct script {
    const char *answers[8];
    int next;
    char seen[1024];
};

static int conv(int n, const struct pam_message **msg,
                struct pam_response **resp, void *appdata)
{
    struct script *sc = appdata;
    struct pam_response *r = calloc((size_t)n, sizeof(*r));

    for (int i = 0; i < n; i++) {
        strncat(sc->seen, msg[i]->msg, sizeof(sc->seen) - strlen(sc->seen) - 2);
        strcat(sc->seen, "|");
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
            msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            const char *a = sc->answers[sc->next] ? sc->answers[sc->next] : "";

            sc->next++;
            r[i].resp = strdup(a);
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static sk_store *open_store(void)
{
    char db[800];
    sk_store *st = NULL;

    snprintf(db, sizeof(db), "%s/state.db", dir);
    assert_int_equal(sk_store_open(db, SK_STORE_CREATE, &st), 0);
    return st;
}

static void write_config(const char *factor)
{
    char text[2048];
    FILE *f;

    snprintf(text, sizeof(text),
             "[gateway]\nstate_dir = %s\n[auth]\nsecond_factor = %s\n", dir,
             factor);
    unlink(confpath);
    assert_int_equal(sk_file_write_new(confpath, text, strlen(text), 0600),
                     0);
    snprintf(text, sizeof(text), "%s/sekisho-test", pamdir);
    unlink(text);
    f = fopen(text, "w");
    assert_non_null(f);
    fprintf(f,
            "auth     required %s config=%s\n"
            "account  required %s config=%s\n"
            "password required %s config=%s\n",
            PAM_MODULE, confpath, PAM_MODULE, confpath, PAM_MODULE, confpath);
    fclose(f);
}

static int setup(void **state)
{
    char keypath[800], hash[SK_PW_HASH_MAX];
    uint8_t key[SK_TOTP_KEY_LEN], sealed[SK_TOTP_SEALED_LEN];
    sk_store *st;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/pamtest.%ld",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    mkdir(dir, 0700);
    snprintf(confpath, sizeof(confpath), "%s/sekisho.conf", dir);
    snprintf(pamdir, sizeof(pamdir), "%s/pam.d", dir);
    mkdir(pamdir, 0700);
    snprintf(keypath, sizeof(keypath), "%s/totp.key", dir);
    unlink(keypath);
    assert_int_equal(sk_totp_key_generate(keypath), 0);
    assert_int_equal(sk_totp_key_load(keypath, key), 0);
    randombytes_buf(secret, sizeof(secret));
    assert_int_equal(sk_totp_seal(key, secret, sealed), 0);
    st = open_store();
    assert_int_equal(sk_pw_hash(PW, hash, sizeof(hash)), 0);
    assert_int_equal(sk_store_user_add(st, "alice", "maintainer", hash,
                                       time(NULL)),
                     0);
    assert_int_equal(sk_store_user_set_totp(st, "alice", sealed,
                                            sizeof(sealed)),
                     0);
    assert_int_equal(sk_store_user_add(st, "dora", "maintainer", hash,
                                       time(NULL)),
                     0);
    assert_int_equal(sk_store_user_set_status(st, "dora", SK_USER_DISABLED),
                     0);
    assert_int_equal(sk_store_user_add(st, "pete", "maintainer", hash,
                                       time(NULL)),
                     0);
    assert_int_equal(sk_store_user_expire_password(st, "pete"), 0);
    sk_store_close(st);
    return 0;
}

static const char *factors_env; /* SEKISHO_FACTORS=..., or NULL */

/* Runs pam_authenticate (+ acct_mgmt) for user with answers. */
static int run_auth(const char *user, struct script *sc, int *acct,
                    char *reason, size_t rlen)
{
    struct pam_conv c = {conv, sc};
    pam_handle_t *ph = NULL;
    const char *env;
    int r;

    assert_int_equal(pam_start_confdir("sekisho-test", user, &c, pamdir,
                                       &ph),
                     PAM_SUCCESS);
    if (factors_env != NULL) {
        assert_int_equal(pam_putenv(ph, factors_env), PAM_SUCCESS);
    }
    r = pam_authenticate(ph, 0);
    *acct = r == PAM_SUCCESS ? pam_acct_mgmt(ph, 0) : -1;
    env = pam_getenv(ph, "SEKISHO_AUTH_REASON");
    snprintf(reason, rlen, "%s", env ? env : "");
    pam_end(ph, r);
    return r;
}

static void code_at(time_t t, char *out)
{
    assert_int_equal(sk_totp_generate(secret, t, out), 0);
}

static void test_password_and_code(void **state)
{
    struct script sc;
    char code[8], why[128];
    int acct;

    (void)state;
    write_config("totp");
    /* one conversation, both prompts, contract wording */
    memset(&sc, 0, sizeof(sc));
    code_at(time(NULL) - 30, code);
    sc.answers[0] = PW;
    sc.answers[1] = code;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_int_equal(acct, PAM_SUCCESS);
    assert_string_equal(sc.seen, "Password: |Verification code: |");
    /* the same code again: replay */
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    sc.answers[1] = code;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "verification code reused");
    /* wrong code, wrong password, unknown user: the same PAM error */
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    sc.answers[1] = "000000";
    code_at(time(NULL), code);
    if (strcmp(code, "000000") == 0) {
        sc.answers[1] = "111111";
    }
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "wrong verification code");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Wrong-Horse-9-Battery!";
    sc.answers[1] = code;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "wrong password");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    sc.answers[1] = code;
    assert_int_equal(run_auth("mallory", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "unknown user");
    assert_string_equal(sc.seen, "Password: |Verification code: |");
}

/* The gateway's method rule asks through SEKISHO_FACTORS: after a key,
 * only the factors still wanted are prompted for. */
static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * R-AUTH-1: an unknown name, a wrong password and a wrong code cost the
 * same PAM transaction time (the whole transaction, as the monitor runs
 * it: libpam loads the module afresh each time). Rounds interleave the
 * cases; the test fails if one case's median is 1.4 times another's (a
 * dummy hash made on first use doubled the unknown name's: ~2.0). The
 * medians are printed for bench/README.md.
 */
#define TIMING_ROUNDS 9
static void test_failures_cost_alike(void **state)
{
    static const char *const users[3] = {"nosuch-timing", "alice", "alice"};
    static const char *const names[3] = {"unknown name", "wrong password",
                                         "wrong code"};
    int64_t t[3][TIMING_ROUNDS], med[3], lo, hi;
    char why[128], code[8], wrong[8];
    int acct;

    (void)state;
    write_config("totp");
    for (int i = 0; i < TIMING_ROUNDS; i++) {
        for (int j = 0; j < 3; j++) {
            int c = (i + j) % 3;
            struct script sc;
            int64_t t0;

            memset(&sc, 0, sizeof(sc));
            code_at(time(NULL), code);
            snprintf(wrong, sizeof(wrong), "%s",
                     strcmp(code, "000000") == 0 ? "111111" : "000000");
            sc.answers[0] = c == 1 ? "Wrong-Password-1!" : PW;
            sc.answers[1] = c == 1 ? code : wrong;
            t0 = now_us();
            assert_int_equal(run_auth(users[c], &sc, &acct, why, sizeof(why)),
                             PAM_AUTH_ERR);
            t[c][i] = now_us() - t0;
        }
    }
    for (int c = 0; c < 3; c++) {
        qsort(t[c], TIMING_ROUNDS, sizeof(t[c][0]), cmp_i64);
        med[c] = t[c][TIMING_ROUNDS / 2];
        print_message("%s: median %.1f ms (min %.1f) over %d\n", names[c],
                      (double)med[c] / 1000, (double)t[c][0] / 1000,
                      TIMING_ROUNDS);
    }
    /* Decided on the fastest run of each: what a failure costs at least
     * is its work, while a median also carries the machine's load (other
     * builds and tests share these two cores). The old gap was 2x. */
    lo = hi = t[0][0];
    for (int c = 1; c < 3; c++) {
        lo = t[c][0] < lo ? t[c][0] : lo;
        hi = t[c][0] > hi ? t[c][0] : hi;
    }
    if (hi * 10 > lo * 14) {
        fail_msg("failure costs differ: min %lld / %lld / %lld us (medians "
                 "%lld / %lld / %lld)",
                 (long long)t[0][0], (long long)t[1][0], (long long)t[2][0],
                 (long long)med[0], (long long)med[1], (long long)med[2]);
    }
}

static void test_factors_from_environment(void **state)
{
    struct script sc;
    char code[8], why[128];
    int acct;

    (void)state;
    write_config("totp");
    /* the password alone (rule sk+password, key already given) */
    factors_env = "SEKISHO_FACTORS=password";
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_string_equal(sc.seen, "Password: |");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Wrong-Horse-9-Battery!";
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "wrong password");
    /* the code alone (rule sk+totp) */
    factors_env = "SEKISHO_FACTORS=totp";
    memset(&sc, 0, sizeof(sc));
    code_at(time(NULL) + 30, code);
    sc.answers[0] = code;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_string_equal(sc.seen, "Verification code: |");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = code;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "verification code reused");
    /* anything else from the application fails closed, asking nothing */
    factors_env = "SEKISHO_FACTORS=sk+password";
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(sc.seen, "");
    factors_env = "SEKISHO_FACTORS=";
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "bad SEKISHO_FACTORS from the application");
    factors_env = NULL;
}

static void test_account_states(void **state)
{
    struct script sc;
    char why[128];
    int acct;

    (void)state;
    write_config("none");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(run_auth("alice", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_string_equal(sc.seen, "Password: |"); /* no code asked */
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(run_auth("dora", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "account disabled");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(run_auth("pete", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_int_equal(acct, PAM_NEW_AUTHTOK_REQD);
}

static void test_change_expired(void **state)
{
    struct script sc;
    struct pam_conv c = {conv, &sc};
    pam_handle_t *ph = NULL;
    const char *env;
    char why[128];
    int acct;

    (void)state;
    write_config("none");
    assert_int_equal(pam_start_confdir("sekisho-test", "pete", &c, pamdir,
                                       &ph),
                     PAM_SUCCESS);
    /* weak, then mismatched, then the same as before: each refused with
     * its reason shown to the user */
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "short";
    sc.answers[1] = "short";
    assert_int_equal(pam_chauthtok(ph, PAM_CHANGE_EXPIRED_AUTHTOK),
                     PAM_AUTHTOK_ERR);
    assert_non_null(strstr(sc.seen, "New password: |Retype new password: |"));
    assert_non_null(strstr(sc.seen, "Password not changed: password is "
                                    "shorter than 12"));
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Another-Good-Pass-4!";
    sc.answers[1] = "Another-Good-Pass-5!";
    assert_int_equal(pam_chauthtok(ph, PAM_CHANGE_EXPIRED_AUTHTOK),
                     PAM_AUTHTOK_ERR);
    env = pam_getenv(ph, "SEKISHO_AUTH_REASON");
    assert_string_equal(env, "the two entries differ");
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    sc.answers[1] = PW;
    assert_int_equal(pam_chauthtok(ph, PAM_CHANGE_EXPIRED_AUTHTOK),
                     PAM_AUTHTOK_ERR);
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Another-Good-Pass-4!";
    sc.answers[1] = "Another-Good-Pass-4!";
    assert_int_equal(pam_chauthtok(ph, PAM_CHANGE_EXPIRED_AUTHTOK),
                     PAM_SUCCESS);
    pam_end(ph, PAM_SUCCESS);
    /* the new password works and is no longer expired */
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Another-Good-Pass-4!";
    assert_int_equal(run_auth("pete", &sc, &acct, why, sizeof(why)),
                     PAM_SUCCESS);
    assert_int_equal(acct, PAM_SUCCESS);
}

/* pam_chauthtok (no expiry) for user, whose current password was set by
 * an administrator (by_admin) or by themselves; answers pw twice. Returns
 * the PAM result and the module's reason. */
static int change_as(const char *user, int by_admin, const char *pw,
                     char *why, size_t whylen)
{
    struct script sc;
    struct pam_conv c = {conv, &sc};
    pam_handle_t *ph = NULL;
    const char *env;
    sk_store *st = open_store();
    int r;

    assert_int_equal(sk_store_user_pw_by_admin(st, user, by_admin), 0);
    sk_store_close(st);
    assert_int_equal(pam_start_confdir("sekisho-test", user, &c, pamdir,
                                       &ph),
                     PAM_SUCCESS);
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = pw;
    sc.answers[1] = pw;
    r = pam_chauthtok(ph, 0);
    env = pam_getenv(ph, "SEKISHO_AUTH_REASON");
    snprintf(why, whylen, "%s", env ? env : "");
    pam_end(ph, PAM_SUCCESS);
    return r;
}

static void test_min_age_and_expiry(void **state)
{
    struct script sc;
    char why[128];
    int acct;
    sk_store *st;

    (void)state;
    write_config("none");
    /* a password the user chose just now: no change without expiry */
    assert_int_equal(change_as("pete", 0, "Third-Good-Pass-6!", why,
                               sizeof(why)),
                     PAM_AUTHTOK_ERR);
    assert_string_equal(why,
                        "the password was changed less than 1 day(s) ago");
    /* one an administrator set may be replaced at once */
    assert_int_equal(change_as("pete", 1, "Third-Good-Pass-6!", why,
                               sizeof(why)),
                     PAM_SUCCESS);
    /* an expired account: refused with its reason */
    st = open_store();
    assert_int_equal(sk_store_user_set_expires(st, "pete", time(NULL) - 1),
                     0);
    sk_store_close(st);
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = "Third-Good-Pass-6!";
    assert_int_equal(run_auth("pete", &sc, &acct, why, sizeof(why)),
                     PAM_AUTH_ERR);
    assert_string_equal(why, "account expired");
}

static void test_bad_module_arguments(void **state)
{
    struct script sc;
    struct pam_conv c = {conv, &sc};
    pam_handle_t *ph = NULL;
    char path[800];
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/sekisho-bad", pamdir);
    f = fopen(path, "w");
    fprintf(f, "auth required %s config=/nonexistent/sekisho.conf\n",
            PAM_MODULE);
    fclose(f);
    memset(&sc, 0, sizeof(sc));
    sc.answers[0] = PW;
    assert_int_equal(pam_start_confdir("sekisho-bad", "alice", &c, pamdir,
                                       &ph),
                     PAM_SUCCESS);
    /* fail closed: no configuration, nobody in */
    assert_int_not_equal(pam_authenticate(ph, 0), PAM_SUCCESS);
    assert_string_equal(pam_getenv(ph, "SEKISHO_AUTH_REASON"),
                        "gateway configuration or state unavailable");
    pam_end(ph, PAM_SUCCESS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_and_code),
        cmocka_unit_test(test_failures_cost_alike),
        cmocka_unit_test(test_factors_from_environment),
        cmocka_unit_test(test_account_states),
        cmocka_unit_test(test_change_expired),
        cmocka_unit_test(test_min_age_and_expiry),
        cmocka_unit_test(test_bad_module_arguments),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, NULL);
}
