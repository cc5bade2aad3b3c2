#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algos.h"
#include "config.h"
#include "sk-err.h"

static char path[512];

static void write_conf(const char *text)
{
    FILE *f;

    snprintf(path, sizeof(path), "%s/test_config.%ld.conf",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int load(const char *text, struct sk_config **cfg, char *err)
{
    write_conf(text);
    return sk_config_load(path, cfg, err, 512);
}

static void test_defaults(void **state)
{
    struct sk_config *cfg = NULL;
    char err[512];

    (void)state;
    assert_int_equal(load("[gateway]\nstate_dir = /var/lib/sk\n", &cfg, err),
                     0);
    assert_string_equal(cfg->listen, "127.0.0.1:2222");
    assert_string_equal(cfg->host_key, "/var/lib/sk/host_ed25519_key");
    assert_string_equal(cfg->egress_key, "/var/lib/sk/egress_key");
    assert_string_equal(cfg->audit_log, "/var/lib/sk/audit.log");
    assert_int_equal(cfg->audit_rotate_size, 65536); /* KiB: 64 MiB */
    assert_int_equal(cfg->audit_rotate_days, 30);
    assert_string_equal(cfg->worker_user, "nobody");
    assert_string_equal(cfg->max_startups, "10:30:100");
    assert_int_equal(cfg->startups_start, 10);
    assert_int_equal(cfg->startups_rate, 30);
    assert_int_equal(cfg->startups_full, 100);
    assert_int_equal(cfg->per_source_max_startups, 10);
    assert_int_equal(cfg->netblock_v4, 32);
    assert_int_equal(cfg->netblock_v6, 64);
    assert_int_equal(cfg->banner_timeout, 10);
    assert_int_equal(cfg->login_grace_time, 60);
    assert_int_equal(cfg->max_auth_tries, 3);
    assert_int_equal(cfg->sandbox_debug, 0);
    assert_int_equal(cfg->backup_generations, 7);
    assert_int_equal(cfg->idle_timeout, 900);
    /* the default rule: password and code */
    assert_string_equal(cfg->methods, "password+totp");
    assert_int_equal(cfg->methods_rule.n, 1);
    assert_int_equal(cfg->methods_rule.alt[0], SK_F_PASSWORD | SK_F_TOTP);
    sk_config_free(cfg);
    /* without a mandatory second factor: the password alone */
    assert_int_equal(load("[gateway]\nstate_dir = /s\n[auth]\n"
                          "second_factor = none\n",
                          &cfg, err),
                     0);
    assert_string_equal(cfg->methods, "password");
    sk_config_free(cfg);
}

static void test_values(void **state)
{
    struct sk_config *cfg = NULL;
    char err[512];
    char *dump = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    assert_int_equal(load("; comment\n[gateway]\nstate_dir = /s\n"
                          "listen = [::1]:2022\nmax_startups = 3\n"
                          "sandbox_debug = yes\n[policy]\nidle_timeout = 900\n",
                          &cfg, err),
                     0);
    assert_string_equal(cfg->listen, "[::1]:2022");
    /* a single number is a hard cap, as in OpenSSH */
    assert_int_equal(cfg->startups_start, 3);
    assert_int_equal(cfg->startups_full, 3);
    assert_int_equal(cfg->startups_rate, 100);
    assert_int_equal(cfg->sandbox_debug, 1);
    assert_int_equal(cfg->idle_timeout, 900);
    /* sekishod -T output parses back to the same configuration */
    f = open_memstream(&dump, &len);
    sk_config_dump(cfg, f);
    fclose(f);
    assert_non_null(strstr(dump, "max_startups = 3\n"));
    assert_non_null(strstr(dump, "[policy]\ntimezone = UTC\napprovals_required = 1\n"));
    assert_non_null(strstr(dump, "\nidle_timeout = 900\n"));
    assert_non_null(strstr(dump, "[recorder]\ntranscript_dir = "));
    sk_config_free(cfg);
    assert_int_equal(load(dump, &cfg, err), 0);
    assert_int_equal(cfg->startups_full, 3);
    assert_string_equal(cfg->listen, "[::1]:2022");
    free(dump);
    sk_config_free(cfg);
}

/* Each bad file is refused with a message naming the line and the key. */
static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"[gateway]\nstate_dir = /s\nbogus = 1\n", ":3: unknown key 'bogus'"},
        {"[gateway]\nstate_dir = /s\n[policy]\ntimezone = Mars/Olympus\n",
         "timezone: 'Mars/Olympus' is not a known time zone"},
        {"[gateway]\nstate_dir = /s\n[policy]\ntimezone = ../../etc/passwd\n",
         "is not a known time zone"},
        {"[gateway]\nstate_dir = /s\n[nope]\nx = 1\n",
         ":4: unknown section [nope]"},
        {"state_dir = /s\n", ":1: key 'state_dir' outside a [section]"},
        {"[gateway]\nstate_dir = /s\nmax_startups = lots\n",
         ":3: max_startups: 'lots' is not N or start:rate:full"},
        {"[gateway]\nstate_dir = /s\nmax_startups = 0\n",
         ":3: max_startups: '0' is not N or start:rate:full"},
        {"[gateway]\nstate_dir = /s\nmax_startups = 20:30:10\n",
         ":3: max_startups: '20:30:10' is not N or start:rate:full"},
        {"[gateway]\nstate_dir = /s\nmax_startups = 10:101:20\n",
         ":3: max_startups: '10:101:20'"},
        {"[gateway]\nstate_dir = /s\nper_source_netblock = 33:64\n",
         ":3: per_source_netblock: '33:64' is not V4:V6 prefix lengths"},
        {"[gateway]\nstate_dir = /s\nper_source_netblock = 24:129\n",
         ":3: per_source_netblock: '24:129'"},
        {"[gateway]\nstate_dir = relative\n",
         ":2: state_dir: path must be absolute"},
        {"[gateway]\nstate_dir = /s\nstate_dir = /t\n",
         ":3: duplicate key 'state_dir'"},
        {"[gateway]\nstate_dir = /s\nsandbox_debug = maybe\n",
         ":3: sandbox_debug: 'maybe' is not yes or no"},
        {"[gateway]\nstate_dir = /s\nlog_level = loud\n",
         ":3: log_level: 'loud' is not one of"},
        {"[gateway]\nstate_dir = /s\nworker_user = \xff\n",
         ":3: worker_user: value is not valid UTF-8"},
        {"[gateway\nstate_dir = /s\n", ":1: syntax error"},
        {"[gateway]\nlisten = 1.2.3.4:2222\n", "state_dir is required"},
        {"[gateway]\nstate_dir = /s\nlisten = nowhere\n",
         "listen: 'nowhere' is not ADDR:PORT"},
        {"[gateway]\nstate_dir = /s\n[auth]\nmethods = publickey\n",
         "[auth] methods: alternative 'publickey' has 1 factor; at least 2"},
        {"[gateway]\nstate_dir = /s\n[auth]\nmethods = password+otp\n",
         "[auth] methods: unknown factor 'otp'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sk_config *cfg = (void *)1;
        char err[512] = "";

        assert_int_not_equal(load(bad[i].text, &cfg, err), 0);
        assert_null(cfg);
        if (strstr(err, bad[i].msg) == NULL) {
            fail_msg("case %zu: '%s' does not contain '%s'", i, err,
                     bad[i].msg);
        }
        assert_non_null(strstr(err, path)); /* names the file */
    }
}

/* The SSH algorithm lists: hardened defaults, a custom list taken as it
 * is, and each weak, unknown or malformed value refused at load with the
 * line, the key and the value. */
static void test_algorithms(void **state)
{
    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"kex_algorithms = ecdh-sha2-nistp256",
         "kex_algorithms: 'ecdh-sha2-nistp256' is not permitted"},
        {"kex_algorithms = curve25519-sha256,ecdh-sha2-nistp521",
         "kex_algorithms: 'ecdh-sha2-nistp521' is not permitted"},
        {"kex_algorithms = diffie-hellman-group14-sha1",
         "'diffie-hellman-group14-sha1' is not permitted: it uses SHA-1"},
        {"kex_algorithms = diffie-hellman-group1-sha1",
         "'diffie-hellman-group1-sha1' is not permitted"},
        {"kex_algorithms = diffie-hellman-group-exchange-sha1",
         "'diffie-hellman-group-exchange-sha1' is not permitted"},
        {"kex_algorithms = kex-strict-s-v00@openssh.com",
         "'kex-strict-s-v00@openssh.com' is not an algorithm of this kind"},
        {"ciphers = aes256-cbc", "ciphers: 'aes256-cbc' is not permitted"},
        {"ciphers = 3des-cbc", "ciphers: '3des-cbc' is not permitted"},
        {"ciphers = none", "ciphers: 'none' is not permitted"},
        {"ciphers = rot13",
         "ciphers: 'rot13' is not an algorithm of this kind that libssh"},
        {"ciphers = hmac-sha2-256-etm@openssh.com",
         "'hmac-sha2-256-etm@openssh.com' is not an algorithm of this kind"},
        {"ciphers = aes128-ctr,aes128-ctr", "'aes128-ctr' is listed twice"},
        {"ciphers = aes128-ctr aes256-ctr",
         "'aes128-ctr aes256-ctr' is not an algorithm name"},
        {"ciphers = +aes128-cbc", "'+aes128-cbc' is not an algorithm name"},
        {"ciphers = aes128-ctr,", "ciphers: '' is not an algorithm name"},
        {"ciphers = ,aes128-ctr", "ciphers: '' is not an algorithm name"},
        {"ciphers =", "ciphers: empty value"},
        {"macs = hmac-sha1", "macs: 'hmac-sha1' is not permitted"},
        {"macs = hmac-sha1-etm@openssh.com",
         "'hmac-sha1-etm@openssh.com' is not permitted"},
        {"macs = hmac-md5", "macs: 'hmac-md5' is not permitted: it uses MD5"},
        {"macs = hmac-sha2-256-96", "'hmac-sha2-256-96' is not permitted"},
        {"macs = aes128-ctr", "macs: 'aes128-ctr' is not an algorithm of"},
        {"host_key_algorithms = ssh-rsa",
         "host_key_algorithms: 'ssh-rsa' is not permitted: it signs with "
         "SHA-1"},
        {"host_key_algorithms = ssh-rsa-cert-v01@openssh.com",
         "'ssh-rsa-cert-v01@openssh.com' is not permitted"},
        {"host_key_algorithms = ssh-dss", "'ssh-dss' is not permitted"},
        {"host_key_algorithms = curve25519-sha256",
         "'curve25519-sha256' is not an algorithm of this kind"},
    };
    struct sk_config *cfg = NULL;
    char err[512], text[512];
    size_t i;

    (void)state;
    assert_int_equal(load("[gateway]\nstate_dir = /s\n", &cfg, err), 0);
    assert_string_equal(cfg->kex_algorithms,
                        "curve25519-sha256,curve25519-sha256@libssh.org,"
                        "diffie-hellman-group16-sha512,"
                        "diffie-hellman-group18-sha512");
    assert_string_equal(cfg->ciphers,
                        "chacha20-poly1305@openssh.com,"
                        "aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
                        "aes256-ctr,aes192-ctr,aes128-ctr");
    assert_string_equal(cfg->macs, "hmac-sha2-256-etm@openssh.com,"
                                   "hmac-sha2-512-etm@openssh.com");
    assert_string_equal(cfg->host_key_algorithms,
                        "ssh-ed25519,rsa-sha2-512,rsa-sha2-256");
    sk_config_free(cfg);
    cfg = NULL;
    assert_int_equal(load("[gateway]\nstate_dir = /s\n"
                          "kex_algorithms = curve25519-sha256\n"
                          "ciphers = aes256-gcm@openssh.com\n"
                          "macs = hmac-sha2-512-etm@openssh.com,hmac-sha2-256\n"
                          "host_key_algorithms = ecdsa-sha2-nistp256\n",
                          &cfg, err),
                     0);
    assert_string_equal(cfg->kex_algorithms, "curve25519-sha256");
    assert_string_equal(cfg->ciphers, "aes256-gcm@openssh.com");
    assert_string_equal(cfg->macs,
                        "hmac-sha2-512-etm@openssh.com,hmac-sha2-256");
    assert_string_equal(cfg->host_key_algorithms, "ecdsa-sha2-nistp256");
    sk_config_free(cfg);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = (void *)1;
        err[0] = '\0';
        snprintf(text, sizeof(text), "[gateway]\nstate_dir = /s\n%s\n",
                 bad[i].line);
        assert_int_equal(load(text, &cfg, err), SK_ERR_INVALID);
        assert_null(cfg);
        if (strstr(err, bad[i].msg) == NULL || strstr(err, ":3: ") == NULL) {
            fail_msg("case %zu: '%s' does not contain ':3: %s'", i, err,
                     bad[i].msg);
        }
    }
    /* the deny list applies by kind: a name is judged where it is used */
    assert_non_null(sk_algos_denied(SK_ALGO_KEX, "ecdh-sha2-nistp384"));
    assert_null(sk_algos_denied(SK_ALGO_HOSTKEY, "ecdsa-sha2-nistp384"));
    assert_non_null(sk_algos_denied(SK_ALGO_MAC, "hmac-sha1-96"));
    assert_null(sk_algos_denied(SK_ALGO_CIPHER, "aes128-ctr"));
    assert_null(sk_algos_denied(SK_ALGO_HOSTKEY, "rsa-sha2-512"));
}

static void test_missing_file(void **state)
{
    struct sk_config *cfg;
    char err[512];

    (void)state;
    assert_int_equal(sk_config_load("/nonexistent/x.conf", &cfg, err,
                                    sizeof(err)),
                     SK_ERR_SYSTEM);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
}

static void test_write_initial(void **state)
{
    struct sk_config *cfg = NULL;
    char err[512];

    (void)state;
    snprintf(path, sizeof(path), "%s/test_config_init.%ld.conf",
             getenv("SK_TEST_TMP") ? getenv("SK_TEST_TMP") : "/tmp",
             (long)getpid());
    unlink(path);
    assert_int_equal(sk_config_write_initial(path, "/srv/sk", "0.0.0.0:22"),
                     0);
    /* never overwrites */
    assert_int_equal(sk_config_write_initial(path, "/srv/sk", "0.0.0.0:22"),
                     SK_ERR_EXISTS);
    assert_int_equal(sk_config_load(path, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->state_dir, "/srv/sk");
    assert_string_equal(cfg->listen, "0.0.0.0:22");
    sk_config_free(cfg);
    unlink(path);
}

/* egress_from: given, derived from a listen address naming one host, or
 * left unset for a wildcard; only address/CIDR characters. */
static void test_egress_from(void **state)
{
    struct sk_config *cfg = NULL;
    char err[512];

    (void)state;
    assert_int_equal(load("[gateway]\nstate_dir = /s\n", &cfg, err), 0);
    assert_string_equal(cfg->egress_from, "127.0.0.1");
    sk_config_free(cfg);
    assert_int_equal(load("[gateway]\nstate_dir = /s\nlisten = [::1]:22\n",
                          &cfg, err),
                     0);
    assert_string_equal(cfg->egress_from, "::1");
    sk_config_free(cfg);
    assert_int_equal(load("[gateway]\nstate_dir = /s\nlisten = 0.0.0.0:22\n",
                          &cfg, err),
                     0);
    assert_null(cfg->egress_from);
    sk_config_free(cfg);
    assert_int_equal(load("[gateway]\nstate_dir = /s\nlisten = [::]:22\n",
                          &cfg, err),
                     0);
    assert_null(cfg->egress_from);
    sk_config_free(cfg);
    assert_int_equal(load("[gateway]\nstate_dir = /s\nlisten = 0.0.0.0:22\n"
                          "egress_from = 10.1.0.0/16,192.0.2.7\n",
                          &cfg, err),
                     0);
    assert_string_equal(cfg->egress_from, "10.1.0.0/16,192.0.2.7");
    sk_config_free(cfg);
    cfg = NULL;
    assert_int_equal(load("[gateway]\nstate_dir = /s\n"
                          "egress_from = 10.0.0.1\",permitopen=\"x\n",
                          &cfg, err),
                     SK_ERR_INVALID);
    assert_non_null(strstr(err, "egress_from"));
    assert_int_equal(load("[gateway]\nstate_dir = /s\n"
                          "egress_from = 10.0.0.1,,10.0.0.2\n",
                          &cfg, err),
                     SK_ERR_INVALID);
    assert_null(cfg);
}

/* transcript_min_free: MiB or a percentage, checked at load; the check
 * against a real file system says above or below. */
static void test_min_free(void **state)
{
    struct sk_config *cfg = NULL;
    char err[512];
    int64_t mib = -1;
    int pct = -1;
    uint64_t avail = 0, need = 0;
    static const char *bad[] = {"", "-1", "1x", "5 %", "91%", "1048577",
                                "%", "1.5", "99999999999999999999"};
    size_t i;

    (void)state;
    assert_int_equal(sk_min_free_parse("0", &mib, &pct), 0);
    assert_int_equal(mib, 0);
    assert_int_equal(pct, 0);
    assert_int_equal(sk_min_free_parse("5%", &mib, &pct), 0);
    assert_int_equal(mib, 0);
    assert_int_equal(pct, 5);
    assert_int_equal(sk_min_free_parse("2048", &mib, &pct), 0);
    assert_int_equal(mib, 2048);
    assert_int_equal(pct, 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sk_min_free_parse(bad[i], &mib, &pct),
                         SK_ERR_INVALID);
    }
    /* the default */
    assert_int_equal(load("[gateway]\nstate_dir = /s\n", &cfg, err), 0);
    assert_string_equal(cfg->transcript_min_free, "1024");
    assert_int_equal(cfg->min_free_mib, 1024);
    sk_config_free(cfg);
    assert_int_equal(load("[gateway]\nstate_dir = /s\n[recorder]\n"
                          "transcript_min_free = 12q\n",
                          &cfg, err),
                     SK_ERR_INVALID);
    assert_non_null(strstr(err, "transcript_min_free"));
    /* 0 MiB is always met; 90% of a file system is not met on one that
     * is more than 10% full, and need is that share of its size. */
    assert_int_equal(load("[gateway]\nstate_dir = /s\n[recorder]\n"
                          "transcript_min_free = 0\n",
                          &cfg, err),
                     0);
    assert_int_equal(sk_min_free_check(cfg, "/", &avail, &need), 1);
    assert_int_equal(need, 0);
    assert_int_equal(sk_min_free_check(cfg, "/nonexistent/dir", &avail,
                                       &need),
                     SK_ERR_SYSTEM);
    cfg->min_free_mib = 1048576 * 1024LL; /* 1 PiB */
    assert_int_equal(sk_min_free_check(cfg, "/", &avail, &need), 0);
    sk_config_free(cfg);
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_values, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
        cmocka_unit_test_teardown(test_algorithms, teardown),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_write_initial),
        cmocka_unit_test_teardown(test_egress_from, teardown),
        cmocka_unit_test_teardown(test_min_free, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
