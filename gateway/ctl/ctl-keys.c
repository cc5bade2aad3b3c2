/*
 * sekishoctl user key ... and user methods: users' public keys and FIDO2
 * security keys, and the method rule each user must satisfy (R-AUTH-1,
 * R-PW-5).
 */
#include "audit.h"
#include "ctl.h"
#include "i18n.h"
#include "methods.h"
#include "sk-err.h"
#include "userkey.h"

#include "policy/roles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void user_must_exist(const char *name)
{
    struct sk_user u;
    int r;

    if ((r = sk_store_user_get(store, name, &u)) != 0) {
        die("user %s: %s", name,
            r == SK_ERR_NOT_FOUND ? _("no such user") : sk_err_str(r));
    }
    sk_user_clear(&u);
}

/* A person's keys and method rule are their factors: nobody changes their
 * own (separated duties, as cmd_user refuses for the rest of an account);
 * another admin does. Root at the console is no person (no check). */
static void not_own_factors(const char *name)
{
    if (sk_roles_self_check(ctl_person, name, "user") != 0) {
        ctl_actor_refused("own account");
        die("user %s: you cannot change your own account; another "
            "admin must", name);
    }
}

/* Reads one key line from path ("-": standard input). */
static void read_key_line(const char *path, char *line, size_t len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    int got = 0;

    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }
    while (fgets(line, (int)len, f) != NULL) {
        if (strchr(line, '\n') == NULL && !feof(f)) {
            die("%s: line longer than %zu characters", path, len - 1);
        }
        /* The first line that is not blank or a comment. */
        if (line[strspn(line, " \t\r\n")] != '\0' && line[0] != '#') {
            got = 1;
            break;
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    if (!got) {
        die("%s: no public key line in it", path);
    }
}

static int print_key(const struct sk_user_key *k, void *arg)
{
    char added[32], used[32], type[64];

    (void)arg;
    fmt_time(k->added, added, sizeof(added));
    fmt_time(k->last_used, used, sizeof(used));
    snprintf(type, sizeof(type), "%.*s", (int)strcspn(k->key, " "), k->key);
    printf("%-12s %s %s%s%s added %s by %s, last used %s\n",
           term_str(k->user), term_str(k->fingerprint), term_str(type),
           k->comment[0] ? " " : "", term_str(k->comment), added,
           term_str(k->added_by), used);
    return 0;
}

/* user key add NAME FILE|- | list [NAME] | remove NAME FINGERPRINT */
int ctl_user_key(int argc, char **argv)
{
    const char *sub;
    int r;

    if (argc < 1) {
        die_usage("user key: add, list or remove");
    }
    sub = argv[0];
    if (strcmp(sub, "list") == 0) {
        if (argc > 2) {
            die_usage("user key list [NAME]");
        }
        if (argc == 2) {
            check_name("user", argv[1]);
            user_must_exist(argv[1]);
        }
        if ((r = sk_store_user_key_list(store, argc == 2 ? argv[1] : NULL,
                                        print_key, NULL)) != 0) {
            die("user key list: %s", sk_err_str(r));
        }
        return 0;
    }
    if (strcmp(sub, "add") == 0) {
        static char line[SK_USERKEY_MAX + 2];
        struct sk_userkey *k;
        char err[256];

        if (argc != 3) {
            die_usage("user key add NAME FILE|-");
        }
        check_name("user", argv[1]);
        user_must_exist(argv[1]);
        not_own_factors(argv[1]);
        read_key_line(argv[2], line, sizeof(line));
        if ((k = calloc(1, sizeof(*k))) == NULL) {
            die("out of memory");
        }
        if (sk_userkey_parse(line, k, err, sizeof(err)) != 0) {
            die("user key add %s: %s", argv[1], err);
        }
        r = sk_store_user_key_add(store, argv[1], k->canon, k->fingerprint,
                                  k->comment, admin, time(NULL));
        if (r != 0) {
            die("user key add %s: %s", argv[1],
                r == SK_ERR_EXISTS
                    ? _("this key is already registered (a key belongs "
                        "to one person)")
                    : sk_err_str(r));
        }
        if (sk_audit("user_key_add", "{s:s, s:s, s:s, s:s}", "admin", admin,
                     "user", argv[1], "fingerprint", k->fingerprint, "type",
                     k->type) != 0) {
            die("audit log unavailable");
        }
        printf(_("%s %s registered for %s (%s factor)\n"), k->type,
               k->fingerprint, argv[1],
               k->factor == SK_F_SK ? "sk" : "publickey");
        free(k);
        return 0;
    }
    if (strcmp(sub, "remove") == 0) {
        if (argc != 3) {
            die_usage("user key remove NAME FINGERPRINT");
        }
        check_name("user", argv[1]);
        user_must_exist(argv[1]);
        not_own_factors(argv[1]);
        if ((r = sk_store_user_key_remove(store, argv[1], argv[2])) != 0) {
            die("user key remove %s: %s", argv[1],
                r == SK_ERR_NOT_FOUND ? _("the user has no such key")
                                      : sk_err_str(r));
        }
        if (sk_audit("user_key_remove", "{s:s, s:s, s:s}", "admin", admin,
                     "user", argv[1], "fingerprint", argv[2]) != 0) {
            die("audit log unavailable");
        }
        printf(_("key %s of %s removed\n"), argv[2], argv[1]);
        return 0;
    }
    die_usage("user key: unknown subcommand '%s'", sub);
}

/* user methods NAME RULE...|default */
int ctl_user_methods(int argc, char **argv)
{
    struct sk_methods m;
    char rule[SK_METHODS_TEXT_MAX + 2] = "", canon[SK_METHODS_TEXT_MAX + 2],
                                       err[256];
    int r;

    if (argc < 2) {
        die_usage("user methods NAME RULE|default  (RULE e.g. "
                  "\"password+totp sk+password\")");
    }
    check_name("user", argv[0]);
    user_must_exist(argv[0]);
    not_own_factors(argv[0]);
    if (!(argc == 2 && strcmp(argv[1], "default") == 0)) {
        /* The rule may come as one argument or several. */
        for (int i = 1; i < argc; i++) {
            size_t l = strlen(rule);

            if (strlen(argv[i]) + l + 2 > sizeof(rule)) {
                die("user methods: rule longer than %d characters",
                    SK_METHODS_TEXT_MAX);
            }
            snprintf(rule + l, sizeof(rule) - l, "%s%s", l ? " " : "",
                     argv[i]);
        }
        if (sk_methods_parse(rule, sk_config_min_factors(cfg), &m, err,
                             sizeof(err)) != 0) {
            die("user methods %s: %s", argv[0], err);
        }
        sk_methods_format(&m, canon, sizeof(canon));
    }
    if ((r = sk_store_user_set_methods(store, argv[0],
                                       rule[0] ? canon : NULL)) != 0) {
        die("user methods %s: %s", argv[0], sk_err_str(r));
    }
    if (sk_audit("user_methods", "{s:s, s:s, s:s}", "admin", admin, "user",
                 argv[0], "methods", rule[0] ? canon : "default") != 0) {
        die("audit log unavailable");
    }
    printf(_("%s must present: %s\n"), argv[0], rule[0] ? canon : cfg->methods);
    return 0;
}
