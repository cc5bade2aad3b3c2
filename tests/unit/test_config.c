#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    assert_string_equal(cfg->worker_user, "nobody");
    assert_int_equal(cfg->max_startups, 10);
    assert_int_equal(cfg->login_grace_time, 60);
    assert_int_equal(cfg->max_auth_tries, 3);
    assert_int_equal(cfg->sandbox_debug, 0);
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
    assert_int_equal(cfg->max_startups, 3);
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
    assert_int_equal(cfg->max_startups, 3);
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
         ":3: max_startups: 'lots' is not a whole number from 1 to 10000"},
        {"[gateway]\nstate_dir = /s\nmax_startups = 0\n",
         ":3: max_startups: '0' is not a whole number"},
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
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_write_initial),
        cmocka_unit_test_teardown(test_egress_from, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
