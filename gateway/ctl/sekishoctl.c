/*
 * sekishoctl: administration on the gateway host. Exit status: 0 success,
 * 1 refused or failed (reason on stderr), 2 usage error.
 */
#include "alert.h"
#include "audit.h"
#include "config.h"
#include "egress.h"
#include "i18n.h"
#include "key.h"
#include "log.h"
#include "sk-err.h"
#include "store.h"
#include "util.h"

#include "auth/password.h"
#include "auth/pwchange.h"
#include "auth/totp.h"
#include "policy/cidr.h"
#include "policy/command.h"
#include "policy/roles.h"
#include "policy/window.h"

#include "ctl.h"

#include <errno.h>
#include <jansson.h>
#include <libssh/libssh.h>
#include <limits.h>
#include <pwd.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>




/* The synopsis, for people: translated (its commands and options stay
 * as typed); %s is the default configuration file (put_usage). */
static const char *usage_text = N_(
    "usage: sekishoctl init --dir DIR [--listen ADDR:PORT] "
    "[--auditor-passphrase-file F] [--pam-module PATH]\n"
    "           [--admin NAME [--admin-password-stdin]]\n"
    "       sekishoctl [-c CONFIG] init --existing-config\n"
    "       sekishoctl [-c CONFIG] [--auditor-passphrase-file F] COMMAND ...   "
    "(default CONFIG %s)\n"
    "commands:\n"
    "  egress-key [TARGET | --group NAME [--create]]\n"
    "  user add NAME [--role ROLE[,ROLE...]] "
    "[--password-stdin] [--from CIDR]... [--expires DATE]\n"
    "           [--no-force-change] [--reason TEXT]   (roles: maintainer "
    "approver auditor admin)\n"
    "  user role NAME ROLE[,ROLE...] | +ROLE | -ROLE ... [--reason TEXT]\n"
    "  user remove NAME\n"
    "  user from NAME CIDR... | --any\n"
    "  user expires NAME DATE|never\n"
    "  user passwd NAME [--password-stdin] [--no-force-change]\n"
    "  user lock|unlock|disable|enable|show|totp-reset|expire-password NAME\n"
    "  user list\n"
    "  user key add NAME FILE|- | key list [NAME] | key remove NAME "
    "FINGERPRINT\n"
    "  user methods NAME RULE|default   (e.g. \"password+totp "
    "sk+password\")\n"
    "  user lang NAME ja|en|default\n"
    "  target add NAME --host H --port P --login USER "
    "(--host-key-file FILE | --scan)\n"
    "             [--key-group NAME | --own-key]\n"
    "  target list | show NAME | remove NAME | key-group NAME GROUP\n"
    "  group add|remove NAME | list | member add|remove GROUP USER\n"
    "  group from GROUP CIDR... | --any\n"
    "  grant add USER|@GROUP TARGET --reason TEXT [--until TIME] [--exec]\n"
    "            [--hours WINDOW] [--max-session DURATION]\n"
    "  grant list [USER] | remove USER|@GROUP TARGET\n"
    "  session list [--json] [--user U] [--target T] [--request ID] "
    "[--since TIME] [--until TIME]\n"
    "  session show ID [--json] | kill ID [--reason TEXT] | watch ID\n"
    "  verify (SESSION | --all [--quiet]) [--allow-incomplete]\n"
    "  export SESSION --format asciicast|text [-o FILE] "
    "[--passphrase-file F]\n"
    "  replay SESSION [--speed X] [--from SECONDS] [--max-idle SECONDS]\n"
    "  search PATTERN [--user U] [--target T] [--request ID] [--since TIME] "
    "[--until TIME]\n"
    "  purge --before DATE\n"
    "  audit show [--json] [--event E] [--session ID] | audit verify\n"
    "  audit rotate\n"
    "  key rotate-signing | seal [--passphrase-file F] | add-auditor NAME "
    "[--passphrase-file F]\n"
    "  request list [--state S] [--user U] [--json] | show ID\n"
    "  request approve|deny|signoff ID [--as APPROVER] [--comment TEXT]\n"
    "  report privileges|inspection [--format text|csv|json] "
    "[--unused-days N]\n"
    "  backup DIR | restore GENERATION\n"
    "  status [--json | --nagios]   health; exit 1 (nagios: 1/2/3) if an "
    "admin is needed\n"
    "       sekishoctl config-reference   every configuration key, "
    "markdown\n");

struct sk_config *cfg;
sk_store *store;
char admin[64];
const char *ctl_person;
int break_glass;
const char *ctl_cfgpath;
const char *ctl_auditor_ppfile;
static char login_name[64], sudo_name[64], tty_name[64];
static long login_uid = -1;
static struct sk_key *signer;

/* Error messages often quote what a file, a client or a target said:
 * they reach the terminal through the terminal-safe printer too. */
static void say_error(const char *fmt, va_list ap)
{
    char msg[2048];

    /* die() and die_usage() take the English text (xgettext's keywords,
     * po/update-pot.sh) and say it in the person's language. */
    vsnprintf(msg, sizeof(msg), sk_tr(fmt), ap);
    fprintf(stderr, "sekishoctl: %s\n", term_str(msg));
}

#pragma GCC diagnostic push
/* usage_text is the fixed literal above, marked N_() */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_usage(FILE *f)
{
    fprintf(f, _(usage_text), SK_DEFAULT_CONFIG);
}
#pragma GCC diagnostic pop

void die_usage(const char *fmt, ...)
{
    va_list ap;

    if (fmt != NULL) {
        va_start(ap, fmt);
        say_error(fmt, ap);
        va_end(ap);
    }
    put_usage(stderr);
    exit(EXIT_USAGE);
}

void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say_error(fmt, ap);
    va_end(ap);
    exit(EXIT_REFUSED);
}

/* Names given on the command line: say exactly what is wrong. */
/* An account expiry date: in the future. */
static time_t parse_expiry(const char *arg)
{
    time_t t, now = time(NULL);

    if (sk_time_parse(arg, now, &t) != 0) {
        die_usage("'%s' is not a date (YYYY-MM-DD, 'YYYY-MM-DD HH:MM' UTC "
                  "or +DURATION)",
                  arg);
    }
    if (t <= now) {
        die("expiry date %s is in the past", arg);
    }
    return t;
}

/* Validates a CIDR argument and appends its canonical form to list. */
static void add_source(char *list, size_t listlen, const char *arg)
{
    struct sk_cidr c;
    char canon[64];

    if (sk_cidr_parse(arg, &c) != 0) {
        die("'%s' is not an address or CIDR block (192.0.2.0/24, "
            "2001:db8::/32)",
            arg);
    }
    sk_cidr_format(&c, canon, sizeof(canon));
    if (strlen(list) + strlen(canon) + 2 > listlen) {
        die("too many --from blocks");
    }
    if (list[0] != '\0') {
        strcat(list, " ");
    }
    strcat(list, canon);
}

void check_name(const char *what, const char *name)
{
    /* what is one of these words, said in the person's language */
    static const char *const words[] = {N_("auditor"), N_("group"),
                                        N_("target"), N_("user")};

    (void)words;
    if (!sk_utf8_valid(name, strlen(name))) {
        die("%s name is not valid UTF-8", sk_tr(what));
    }
    if (!sk_name_valid(name)) {
        die("%s name '%s' is invalid: use 1-%d characters a-z 0-9 . _ -, "
            "starting with a letter or digit",
            sk_tr(what), name, SK_NAME_MAX);
    }
}

static void open_state(void)
{
    char path[PATH_MAX];
    int r;

    snprintf(path, sizeof(path), "%s/state.db", cfg->state_dir);
    if ((r = sk_store_open(path, 0, &store)) != 0) {
        die("cannot open state %s: %s (this is sekishoctl %s, state "
            "schema %d)",
            path, sk_err_str(r), SK_VERSION, sk_store_schema_latest());
    }
    /* Every change is signed into the audit chain: no key, no change. */
    if ((r = sk_key_load(cfg->signing_key, &signer)) != 0) {
        die("cannot load signing key %s: %s", cfg->signing_key,
            r == SK_ERR_SYSTEM ? strerror(errno) : sk_err_str(r));
    }
    if (sk_audit_open(cfg->audit_log, cfg->gateway_id, signer) != 0) {
        die("cannot open audit log %s: %s", cfg->audit_log, strerror(errno));
    }
    sk_audit_set_rotation((uint64_t)cfg->audit_rotate_size * 1024,
                          (int64_t)cfg->audit_rotate_days * 86400);
    sk_alert_init(cfg);
    /* An upgrade changed the schema: say so, where an admin looks and in
     * the chain (R-OPS-6). The store cannot log; we are its first user. */
    if (sk_store_schema_found(store) != sk_store_schema_version(store)) {
        logit("state %s migrated from schema %d to %d (sekishoctl %s)", path,
              sk_store_schema_found(store), sk_store_schema_version(store),
              SK_VERSION);
        if ((r = sk_audit("schema_migrated", "{s:s, s:i, s:i, s:s, s:s}",
                          "admin", admin, "from",
                          sk_store_schema_found(store), "to",
                          sk_store_schema_version(store), "program",
                          "sekishoctl", "version", SK_VERSION)) != 0) {
            die("audit log %s: %s", cfg->audit_log, sk_err_str(r));
        }
    }
}

static char *read_password(int from_stdin, const char *user)
{
    char *a = NULL, *b = NULL;
    size_t cap = 0;
    ssize_t n;

    if (from_stdin) {
        n = getline(&a, &cap, stdin);
        if (n <= 0) {
            free(a);
            die("no password on standard input");
        }
        if (a[n - 1] == '\n') {
            a[--n] = '\0';
        }
        if (n > 0 && a[n - 1] == '\r') {
            a[--n] = '\0';
        }
        return a;
    }
    if (!isatty(STDIN_FILENO)) {
        die_usage("no terminal to ask for %s's password: use "
                  "--password-stdin", user);
    }
    for (int round = 0; round < 2; round++) {
        struct termios t, saved;
        char **dst = round == 0 ? &a : &b;
        size_t c = 0;

        fprintf(stderr, round == 0 ? _("New password for %s: ")
                                   : _("Retype password for %s: "),
                user);
        if (tcgetattr(STDIN_FILENO, &saved) != 0) {
            die("tcgetattr: %s", strerror(errno));
        }
        t = saved;
        t.c_lflag &= ~(tcflag_t)ECHO;
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
        n = getline(dst, &c, stdin);
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fprintf(stderr, "\n");
        if (n <= 0) {
            die("no password given");
        }
        if ((*dst)[n - 1] == '\n') {
            (*dst)[n - 1] = '\0';
        }
    }
    if (strcmp(a, b) != 0) {
        sodium_memzero(a, strlen(a));
        sodium_memzero(b, strlen(b));
        die("passwords do not match");
    }
    sodium_memzero(b, strlen(b));
    free(b);
    return a;
}

/* Checks and hashes a new password; dies with the reason if refused. */
static void new_password_hash(const char *user, const char *current_hash,
                              int from_stdin, char *hash, size_t hashlen)
{
    struct sk_pw_policy pol;
    char reason[256], *pw;
    int r;

    pw = read_password(from_stdin, user);
    sk_pw_policy_default(&pol);
    r = sk_pw_change_check(store, &pol, user, current_hash, pw,
                           cfg->password_history, reason, sizeof(reason));
    if (r == 0) {
        r = sk_pw_hash(pw, hash, hashlen);
        if (r != 0) {
            snprintf(reason, sizeof(reason), "hashing failed: %s",
                     sk_err_str(r));
        }
    }
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (r != 0) {
        die("%s", sk_tr(reason));
    }
}

/* Prints a QR code of text with Unicode half blocks (two modules per
 * character cell), with the quiet zone authenticator apps need. */
static void print_qr(const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    int w, x, y, q = 4;

    if (qr == NULL) {
        fprintf(stderr, _("(QR code unavailable: %s)\n"), strerror(errno));
        return;
    }
    w = qr->width;
    for (y = -q; y < w + q; y += 2) {
        for (x = -q; x < w + q; x++) {
            int top = y >= 0 && y < w && x >= 0 && x < w &&
                      (qr->data[y * w + x] & 1);
            int bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
                      (qr->data[(y + 1) * w + x] & 1);

            /* Dark modules are drawn as spaces on a light background:
             * works on dark and light terminal themes alike. */
            fputs(top && bot   ? " "
                  : top        ? "\xe2\x96\x84"
                  : bot        ? "\xe2\x96\x80"
                               : "\xe2\x96\x88",
                  stdout);
        }
        fputc('\n', stdout);
    }
    QRcode_free(qr);
}

/* Creates and stores a new TOTP secret for name and prints the enrolment
 * (otpauth URI line and QR code). */
static void enrol_totp(const char *name)
{
    uint8_t key[SK_TOTP_KEY_LEN], secret[SK_TOTP_SECRET_LEN],
        sealed[SK_TOTP_SEALED_LEN];
    char *uri;
    int r;

    if ((r = sk_totp_key_load(cfg->totp_key, key)) != 0) {
        die("TOTP key %s: %s", cfg->totp_key, sk_err_str(r));
    }
    sk_totp_secret_new(secret);
    r = sk_totp_seal(key, secret, sealed);
    sodium_memzero(key, sizeof(key));
    if (r != 0 ||
        (r = sk_store_user_set_totp(store, name, sealed, sizeof(sealed))) !=
            0) {
        sodium_memzero(secret, sizeof(secret));
        die("storing the TOTP secret of %s: %s", name, sk_err_str(r));
    }
    uri = sk_totp_uri(secret, cfg->gateway_id, name);
    sodium_memzero(secret, sizeof(secret));
    if (uri == NULL) {
        die("cannot encode the TOTP enrolment");
    }
    printf(_("TOTP enrolment for %s (scan with an authenticator app, or "
             "enter the secret):\n%s\n"),
           name, uri);
    print_qr(uri);
    sodium_memzero(uri, strlen(uri));
    free(uri);
}

static const char *status_name(int s)
{
    return s == SK_USER_ACTIVE ? "active"
           : s == SK_USER_LOCKED ? "locked"
           : s == SK_USER_DISABLED ? "disabled"
                                   : "unknown";
}

/* A removed account is disabled in the store; people are told which. */
static const char *user_status(const struct sk_user *u)
{
    return u->removed != 0 ? "removed" : status_name(u->status);
}

void fmt_time(int64_t t, char *out, size_t n)
{
    if (t == 0) {
        snprintf(out, n, "-");
    } else {
        sk_time_fmt((time_t)t, out, n);
    }
}

/* The ring of renderings term_str hands out: each stays valid for
 * TERM_RING more calls, enough for every argument of one printf. */
#define TERM_RING 16

const char *term_str(const char *s)
{
    static char *ring[TERM_RING];
    static unsigned next;
    char *t;

    if (s == NULL) {
        return "?";
    }
    if ((t = sk_term_safe(s, strlen(s), SK_TERM_LINE)) == NULL) {
        die("out of memory");
    }
    free(ring[next]);
    ring[next] = t;
    next = (next + 1) % TERM_RING;
    return t;
}

void put_term(const char *s)
{
    fputs(term_str(s), stdout);
}

void put_json(const char *json)
{
    char *t;

    if (json == NULL) {
        die("out of memory");
    }
    if ((t = sk_term_safe(json, strlen(json), SK_TERM_JSON)) == NULL) {
        die("out of memory");
    }
    fputs(t, stdout);
    free(t);
}

static int print_user(const struct sk_user *u, void *arg)
{
    char ll[32];

    (void)arg;
    fmt_time(u->last_login, ll, sizeof(ll));
    printf("%-20s %-10s %-8s last-login %s from %s\n", term_str(u->name),
           term_str(u->role), user_status(u), ll,
           term_str(u->sources ? u->sources : "anywhere"));
    return 0;
}

static int show_key(const struct sk_user_key *k, void *arg)
{
    char type[64];

    (void)arg;
    snprintf(type, sizeof(type), "%.*s", (int)strcspn(k->key, " "), k->key);
    /* The comment came with the maintainer's key file. */
    printf("key: %s %s%s%s\n", term_str(k->fingerprint), term_str(type),
           k->comment[0] ? " " : "", term_str(k->comment));
    return 0;
}

/* The role set old changed by changes[0..n-1] (roles.h), canonical, into
 * out. A change is +ROLE, -ROLE, or a bare ROLE or ROLE,ROLE... that
 * replaces the set; they apply left to right. Dies (usage) on a word
 * that is no role. */
static void roles_change(const char *what, const char *old, int n,
                         char **changes, char out[SK_ROLES_MAX])
{
    char cur[SK_ROLES_MAX], next[SK_ROLES_MAX], word[SK_ROLES_MAX + 2];
    const char *c, *p, *e;
    int i, bad;

    snprintf(cur, sizeof(cur), "%s", old);
    for (i = 0; i < n; i++) {
        c = changes[i];
        bad = 0;
        if (c[0] == '+' || c[0] == '-') {
            bad = strchr(c, ',') != NULL ||
                  sk_roles_apply(cur, c, next, sizeof(next)) != 0;
        } else {
            /* a bare set: built up from nothing, in canonical order */
            next[0] = '\0';
            for (p = c; !bad; p = e + 1) {
                e = p + strcspn(p, ",");
                bad = e == p || (size_t)(e - p) > SK_ROLES_MAX ||
                      snprintf(word, sizeof(word), "+%.*s", (int)(e - p),
                               p) < 0 ||
                      sk_roles_apply(next, word, cur, sizeof(cur)) != 0;
                if (!bad) {
                    snprintf(next, sizeof(next), "%s", cur);
                }
                if (*e == '\0') {
                    break;
                }
            }
        }
        if (bad) {
            die_usage("%s: '%s' is not a role change: use ROLE, ROLE,ROLE..., "
                      "+ROLE or -ROLE with roles maintainer, approver, "
                      "auditor, admin",
                      what, c);
        }
        snprintf(cur, sizeof(cur), "%s", next);
    }
    snprintf(out, SK_ROLES_MAX, "%s", cur);
}

/* A password an administrator typed is known to two people: unless the
 * admin says otherwise, the user must replace it at the next login (the
 * PAM module and the monitor ask for a new one when pw_changed is 0). */
static void force_change(const char *name, int no_force)
{
    int r;

    if (no_force) {
        return;
    }
    if ((r = sk_store_user_expire_password(store, name)) != 0) {
        die("user %s: %s", name, sk_err_str(r));
    }
}

/* user role NAME CHANGE... [--reason TEXT]: several changes in one go
 * (roles_change). Giving someone admin is the formal step of R-AC-3: it
 * needs a reason, which the audit line keeps with who did it. */
static int user_role(const char *name, int argc, char **argv)
{
    struct sk_user u;
    char *old = NULL, *changes[8], set[SK_ROLES_MAX], list[256] = "";
    const char *reason = NULL;
    int r, n = 0, i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            reason = argv[++i];
            if (!sk_utf8_valid(reason, strlen(reason)) ||
                strlen(reason) > 500 || reason[0] == '\0') {
                die_usage("user role: --reason: 1-500 bytes of UTF-8");
            }
        } else if (n < (int)(sizeof(changes) / sizeof(changes[0]))) {
            changes[n++] = argv[i];
            snprintf(list + strlen(list), sizeof(list) - strlen(list),
                     "%s%s", list[0] ? " " : "", argv[i]);
        } else {
            die_usage("user role: at most 8 changes");
        }
    }
    if (n == 0) {
        die_usage("user role NAME ROLE[,ROLE...] | +ROLE | -ROLE ... "
                  "[--reason TEXT]");
    }
    if ((r = sk_store_user_get(store, name, &u)) != 0) {
        die("user %s: %s", name,
            r == SK_ERR_NOT_FOUND ? _("no such user") : sk_err_str(r));
    }
    old = strdup(u.role);
    sk_user_clear(&u);
    if (old == NULL) {
        die("out of memory");
    }
    roles_change("user role", old, n, changes, set);
    if (strcmp(old, set) == 0) {
        printf(_("user %s is already %s\n"), name,
               set[0] ? set : _("(no role)"));
        free(old);
        return 0;
    }
    if (sk_roles_has(set, "admin") && !sk_roles_has(old, "admin") &&
        reason == NULL) {
        free(old);
        die("user role %s: making someone an admin needs --reason TEXT "
            "(why, on whose decision: it is kept in the audit log)",
            name);
    }
    if ((r = sk_store_user_set_role(store, name, set)) != 0) {
        free(old);
        die("user role %s: %s", name, sk_err_str(r));
    }
    /* Decisions read the role as it is now (approvals, admin commands),
     * so this takes effect at the user's next command. */
    (void)sk_audit("user_role", "{s:s, s:s, s:s, s:s, s:s, s:s?}", "admin",
                   admin, "user", name, "role", set, "from", old, "changes",
                   list, "reason", reason);
    printf(_("user %s is now %s (was %s)\n"), name,
           set[0] ? set : _("(no role)"), old[0] ? old : _("(no role)"));
    free(old);
    return 0;
}

/* user lang NAME ja|en|default: the language the user reads the gateway
 * in when their client sends no LANG (MON_LANG). */
static int user_lang(const char *name, const char *lang)
{
    const char *set = strcmp(lang, "default") == 0 ? NULL : lang;
    struct sk_user u;
    int r;

    if (set != NULL && !sk_lang_valid(set)) {
        die_usage("user lang: '%s' is not ja, en or default", lang);
    }
    if ((r = sk_store_user_get(store, name, &u)) != 0) {
        die("user %s: %s", name,
            r == SK_ERR_NOT_FOUND ? _("no such user") : sk_err_str(r));
    }
    sk_user_clear(&u);
    if ((r = sk_store_user_set_lang(store, name, set)) != 0) {
        die("user lang %s: %s", name, sk_err_str(r));
    }
    (void)sk_audit("user_lang", "{s:s, s:s, s:s?}", "admin", admin, "user",
                   name, "lang", set);
    if (set != NULL) {
        printf(_("user %s now reads the gateway in %s when the client sends "
                 "no LANG\n"),
               name, set);
    } else {
        printf(_("user %s now reads the gateway in its default language "
                 "(%s) when the client sends no LANG\n"),
               name, cfg->language);
    }
    return 0;
}

/* user remove NAME */
static int user_remove(const char *name)
{
    struct sk_user u;
    char *role = NULL;
    int r;

    if ((r = sk_store_user_get(store, name, &u)) != 0) {
        die("user %s: %s", name,
            r == SK_ERR_NOT_FOUND ? _("no such user") : sk_err_str(r));
    }
    role = strdup(u.role);
    sk_user_clear(&u);
    if (role == NULL) {
        die("out of memory");
    }
    if ((r = sk_store_user_remove(store, name, admin, time(NULL))) != 0) {
        free(role);
        die("user remove %s: %s", name, sk_err_str(r));
    }
    (void)sk_audit("user_remove", "{s:s, s:s, s:s}", "admin", admin, "user",
                   name, "role", role);
    free(role);
    printf(_("user %s removed: it can no longer log in and its open sessions "
             "end within seconds; its sessions, requests and audit lines "
             "keep the name, which is not given to anyone else\n"),
           name);
    return 0;
}

static int cmd_user(int argc, char **argv)
{
    const char *sub, *name;
    int r;

    if (argc < 1) {
        die_usage("user: subcommand missing");
    }
    sub = argv[0];
    if (strcmp(sub, "list") == 0) {
        if (argc != 1) {
            die_usage("user list takes no arguments");
        }
        if ((r = sk_store_user_list(store, print_user, NULL)) != 0) {
            die("user list: %s", sk_err_str(r));
        }
        return 0;
    }
    if (strcmp(sub, "key") == 0) {
        return ctl_user_key(argc - 1, argv + 1);
    }
    if (strcmp(sub, "methods") == 0) {
        return ctl_user_methods(argc - 1, argv + 1);
    }
    if (argc < 2) {
        die_usage("user %s: NAME missing", sub);
    }
    name = argv[1];
    check_name("user", name);
    if (strcmp(sub, "add") != 0 && strcmp(sub, "show") != 0) {
        struct sk_user u;

        /* Nothing changes a removed account (the store refuses too). */
        if (sk_store_user_get(store, name, &u) == 0 && u.removed != 0) {
            sk_user_clear(&u);
            die("user %s was removed: a removed account cannot be changed",
                name);
        }
        sk_user_clear(&u);
        /* Nobody changes their own account's rights (separated duties);
         * their own password they change with `passwd` over SSH. */
        if (sk_roles_self_check(ctl_person, name, "user") != 0) {
            ctl_actor_refused("own account");
            die("user %s: you cannot change your own account; another "
                "admin must", name);
        }
    }
    if (strcmp(sub, "role") == 0) {
        return user_role(name, argc - 2, argv + 2);
    }
    if (strcmp(sub, "lang") == 0) {
        if (argc != 3) {
            die_usage("user lang NAME ja|en|default");
        }
        return user_lang(name, argv[2]);
    }
    if (strcmp(sub, "remove") == 0) {
        if (argc != 2) {
            die_usage("user remove NAME");
        }
        return user_remove(name);
    }
    if (strcmp(sub, "add") == 0) {
        char *rolearg = "maintainer", role[SK_ROLES_MAX];
        const char *reason = NULL;
        int from_stdin = 0, no_force = 0, i;
        char hash[SK_PW_HASH_MAX], sources[1024] = "";
        struct sk_user u;
        time_t expires = 0;

        for (i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
                rolearg = argv[++i];
            } else if (strcmp(argv[i], "--password-stdin") == 0) {
                from_stdin = 1;
            } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
                add_source(sources, sizeof(sources), argv[++i]);
            } else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
                expires = parse_expiry(argv[++i]);
            } else if (strcmp(argv[i], "--no-force-change") == 0) {
                no_force = 1;
            } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
                reason = argv[++i];
                if (reason[0] == '\0' || strlen(reason) > 500 ||
                    !sk_utf8_valid(reason, strlen(reason))) {
                    die_usage("user add: --reason: 1-500 bytes of UTF-8");
                }
            } else {
                die_usage("user add: unexpected argument '%s'", argv[i]);
            }
        }
        if (rolearg[0] == '+' || rolearg[0] == '-') {
            die_usage("user add: --role takes ROLE or ROLE,ROLE...");
        }
        roles_change("user add", "", 1, &rolearg, role);
        /* An admin making an admin takes the formal step (R-AC-3) as
         * `user role +admin` does; root's bootstrap is break-glass. */
        if (ctl_person != NULL && sk_roles_has(role, "admin") &&
            reason == NULL) {
            die("user add %s: making someone an admin needs --reason TEXT",
                name);
        }
        if (sk_cmd_reserved(name)) {
            die("user name '%s' is reserved", name);
        }
        if (sk_store_user_get(store, name, &u) == 0) {
            int64_t removed = u.removed;

            sk_user_clear(&u);
            if (removed != 0) {
                char ts[32];

                /* IDs are personal (R-ID-1): the history of the removed
                 * account must never read as someone else's. */
                fmt_time(removed, ts, sizeof(ts));
                die("user %s was removed on %s: the name of a removed "
                    "account is not reused (its sessions, requests and "
                    "audit lines name it); choose another name",
                    name, ts);
            }
            die("user %s already exists", name);
        }
        new_password_hash(name, NULL, from_stdin, hash, sizeof(hash));
        r = sk_store_user_add(store, name, role, hash, time(NULL));
        sodium_memzero(hash, sizeof(hash));
        if (r != 0) {
            die("user add %s: %s", name, sk_err_str(r));
        }
        if ((sources[0] != '\0' &&
             (r = sk_store_user_set_sources(store, name, sources)) != 0) ||
            (expires != 0 &&
             (r = sk_store_user_set_expires(store, name, expires)) != 0)) {
            die("user add %s: %s", name, sk_err_str(r));
        }
        force_change(name, no_force);
        (void)sk_audit("user_add", "{s:s, s:s, s:s, s:s?, s:b, s:s?}",
                       "admin", admin, "user", name, "role", role, "from",
                       sources[0] ? sources : NULL, "force_change",
                       !no_force, "reason", reason);
        printf(_("user %s added (%s%s%s)%s\n"), name, role,
               sources[0] ? _(", from ") : "", sources,
               no_force ? ""
                        : _("; the first login must change the password"));
        enrol_totp(name);
        return 0;
    }
    if (strcmp(sub, "expires") == 0) {
        time_t when;
        char ts[32];

        if (argc != 3) {
            die_usage("user expires NAME DATE|never");
        }
        when = strcmp(argv[2], "never") == 0 ? 0 : parse_expiry(argv[2]);
        if ((r = sk_store_user_set_expires(store, name, (int64_t)when)) !=
            0) {
            die("user expires %s: %s", name,
                r == SK_ERR_NOT_FOUND ? _("no such user") : sk_err_str(r));
        }
        fmt_time((int64_t)when, ts, sizeof(ts));
        (void)sk_audit("user_expires", "{s:s, s:s, s:s}", "admin", admin,
                       "user", name, "expires", when ? ts : "never");
        printf(_("account %s expires %s\n"), name, when ? ts : _("never"));
        return 0;
    }
    if (strcmp(sub, "from") == 0) {
        char sources[1024] = "";
        struct sk_user u;

        if (argc < 3) {
            die_usage("user from NAME CIDR... | --any");
        }
        if ((r = sk_store_user_get(store, name, &u)) != 0) {
            die("user %s: %s", name, sk_err_str(r));
        }
        sk_user_clear(&u);
        if (!(argc == 3 && strcmp(argv[2], "--any") == 0)) {
            for (int i = 2; i < argc; i++) {
                add_source(sources, sizeof(sources), argv[i]);
            }
        }
        if ((r = sk_store_user_set_sources(store, name,
                                           sources[0] ? sources : NULL)) !=
            0) {
            die("user from %s: %s", name, sk_err_str(r));
        }
        (void)sk_audit("user_sources", "{s:s, s:s, s:s}", "admin", admin,
                       "user", name, "from", sources[0] ? sources : "any");
        printf(_("user %s may connect from %s\n"), name,
               sources[0] ? sources : _("anywhere"));
        return 0;
    }
    if (argc != 2 && strcmp(sub, "passwd") != 0) {
        die_usage("user %s: unexpected argument '%s'", sub, argv[2]);
    }
    if (strcmp(sub, "passwd") == 0) {
        char hash[SK_PW_HASH_MAX];
        int from_stdin = 0, no_force = 0;
        struct sk_user u;

        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--password-stdin") == 0) {
                from_stdin = 1;
            } else if (strcmp(argv[i], "--no-force-change") == 0) {
                no_force = 1;
            } else {
                die_usage("user passwd: unexpected argument '%s'", argv[i]);
            }
        }
        if ((r = sk_store_user_get(store, name, &u)) != 0) {
            die("user %s: %s", name, sk_err_str(r));
        }
        new_password_hash(name, u.pw_hash, from_stdin, hash, sizeof(hash));
        sk_user_clear(&u);
        r = sk_store_user_set_password(store, name, hash, time(NULL),
                                       cfg->password_history);
        sodium_memzero(hash, sizeof(hash));
        if (r == 0) {
            /* An administrator's password may be replaced at once. */
            r = sk_store_user_pw_by_admin(store, name, 1);
        }
        if (r != 0) {
            die("user passwd %s: %s", name, sk_err_str(r));
        }
        force_change(name, no_force);
        (void)sk_audit("user_passwd", "{s:s, s:s, s:b}", "admin", admin,
                       "user", name, "force_change", !no_force);
        printf(_("password of %s changed%s\n"), name,
               no_force ? "" : _("; it must be changed at the next login"));
        return 0;
    }
    if (strcmp(sub, "expire-password") == 0) {
        if ((r = sk_store_user_expire_password(store, name)) != 0) {
            die("user %s: %s", name, sk_err_str(r));
        }
        (void)sk_audit("user_expire_password", "{s:s, s:s}", "admin", admin,
                       "user", name);
        printf(_("password of %s expired: it must be changed at the next "
                 "login\n"),
               name);
        return 0;
    }
    if (strcmp(sub, "totp-reset") == 0) {
        struct sk_user u;

        if ((r = sk_store_user_get(store, name, &u)) != 0) {
            die("user %s: %s", name, sk_err_str(r));
        }
        sk_user_clear(&u);
        (void)sk_audit("user_totp_reset", "{s:s, s:s}", "admin", admin,
                       "user", name);
        enrol_totp(name);
        return 0;
    }
    if (strcmp(sub, "show") == 0) {
        struct sk_user u;
        char c[32], p[32], l[32];

        if ((r = sk_store_user_get(store, name, &u)) != 0) {
            die("user %s: %s", name, sk_err_str(r));
        }
        fmt_time(u.created, c, sizeof(c));
        fmt_time(u.pw_changed, p, sizeof(p));
        fmt_time(u.last_login, l, sizeof(l));
        printf("name: %s\nrole: %s\nstatus: %s\ncreated: %s\n"
               "password-changed: %s\nlast-login: %s\nfrom: %s\n",
               term_str(u.name), term_str(u.role), user_status(&u), c,
               p, l, term_str(u.sources ? u.sources : "anywhere"));
        if (u.removed != 0) {
            fmt_time(u.removed, l, sizeof(l));
            printf("removed: %s by %s\n", l,
                   term_str(u.removed_by ? u.removed_by : "?"));
        }
        printf("password-must-change: %s\n",
               u.removed == 0 && u.pw_changed == 0 ? "yes" : "no");
        fmt_time(u.expires, l, sizeof(l));
        printf("expires: %s%s\n", u.expires ? l : "never",
               u.expires && u.expires <= (int64_t)time(NULL) ? " (expired)"
                                                             : "");
        if (u.locked_until > (int64_t)time(NULL)) {
            fmt_time(u.locked_until, l, sizeof(l));
            printf("locked-until: %s (failed logins)\n", l);
        }
        printf("methods: %s%s\n",
               term_str(u.methods ? u.methods : cfg->methods),
               u.methods ? "" : " (global)");
        {
            char lg[8] = "";

            (void)sk_store_user_get_lang(store, name, lg, sizeof(lg));
            printf("lang: %s\n", lg[0] ? lg : "default");
        }
        sk_user_clear(&u);
        (void)sk_store_user_key_list(store, name, show_key, NULL);
        return 0;
    }
    {
        static const struct {
            const char *cmd;
            int status;
        } st[] = {{"lock", SK_USER_LOCKED},
                  {"unlock", SK_USER_ACTIVE},
                  {"enable", SK_USER_ACTIVE},
                  {"disable", SK_USER_DISABLED}};
        size_t i;
        char ev[32];

        for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
            if (strcmp(sub, st[i].cmd) != 0) {
                continue;
            }
            if ((r = sk_store_user_set_status(store, name, st[i].status)) !=
                0) {
                die("user %s: %s", name, sk_err_str(r));
            }
            if (st[i].status == SK_USER_ACTIVE &&
                ((r = sk_store_user_lock_until(store, name, 0)) != 0 ||
                 (r = sk_store_auth_failures_clear(store, name)) != 0)) {
                die("user %s: %s", name, sk_err_str(r));
            }
            snprintf(ev, sizeof(ev), "user_%s", sub);
            (void)sk_audit(ev, "{s:s, s:s}", "admin", admin, "user", name);
            printf(_("user %s %s\n"), name, status_name(st[i].status));
            return 0;
        }
    }
    die_usage("user: unknown subcommand '%s'", sub);
}

/* Reads the server key of host:port with libssh (trust on first use: the
 * admin is shown the fingerprint and should compare it). */
static char *scan_host_key(const char *host, int port)
{
    ssh_session s = ssh_new();
    ssh_key key = NULL;
    char *b64 = NULL, *line = NULL, *fp = NULL;
    unsigned char *hash = NULL;
    size_t hlen;
    int off = 0;
    long timeout = 10;

    if (s == NULL) {
        die("out of memory");
    }
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &off) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOST, host) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOSTKEYS,
                        "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512") !=
            0 ||
        /* the gateway's own lists: a target it could not talk to later
         * is found out now, before it is added */
        ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, cfg->kex_algorithms) !=
            0 ||
        ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, cfg->ciphers) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, cfg->ciphers) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HMAC_C_S, cfg->macs) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HMAC_S_C, cfg->macs) != 0) {
        die("scan: %s", ssh_get_error(s));
    }
    if (ssh_connect(s) != SSH_OK) {
        die("scan %s port %d: %s", host, port, ssh_get_error(s));
    }
    if (ssh_get_server_publickey(s, &key) != SSH_OK ||
        ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
        die("scan %s: no host key", host);
    }
    if (asprintf(&line, "%s %s", ssh_key_type_to_char(ssh_key_type(key)),
                 b64) < 0) {
        die("out of memory");
    }
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
                               &hlen) == 0 &&
        (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
                                       hlen)) != NULL) {
        fprintf(stderr,
                _("scanned %s port %d: %s key %s\n"
                  "compare this fingerprint with the target's own "
                  "(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub)\n"),
                host, port, ssh_key_type_to_char(ssh_key_type(key)), fp);
    }
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_string_free_char(b64);
    ssh_key_free(key);
    ssh_disconnect(s);
    ssh_free(s);
    return line;
}

static char *file_host_key(const char *path)
{
    ssh_key key = NULL;
    char *b64 = NULL, *line = NULL;

    if (ssh_pki_import_pubkey_file(path, &key) != SSH_OK) {
        die("--host-key-file %s: not a readable OpenSSH public key", path);
    }
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
        asprintf(&line, "%s %s", ssh_key_type_to_char(ssh_key_type(key)),
                 b64) < 0) {
        die("--host-key-file %s: cannot encode key", path);
    }
    ssh_string_free_char(b64);
    ssh_key_free(key);
    return line;
}

/* Makes sure group has a key file: the default group's is made by init;
 * another group's is made here, once (O_EXCL, 0600, like init's). */
static void egress_group_key(const struct sk_config *c, const char *group)
{
    char path[PATH_MAX];
    int r;

    if (!sk_egress_group_valid(group)) {
        die("key group name '%s' is invalid: use 1-%d characters a-z 0-9 "
            ". _ -, starting with a letter or digit",
            group, SK_NAME_MAX);
    }
    if ((r = sk_egress_key_path(c->egress_key, c->state_dir, group, path,
                                sizeof(path))) != 0) {
        die("key group %s: %s", group, sk_err_str(r));
    }
    if ((r = sk_key_generate_file(path)) != 0 && r != SK_ERR_EXISTS) {
        die("cannot write egress key %s: %s", path, sk_err_str(r));
    }
    if (r == 0) {
        if (sk_audit("egress_key_create", "{s:s, s:s, s:s}", "admin", admin,
                     "group", group, "path", path) != 0) {
            die("audit log unavailable");
        }
        fprintf(stderr, _("new egress key for group %s: %s\n"), group, path);
    }
}

/* Is the person acting (over SSH) a member of group? Their own group's
 * grants are grants to themselves (separated duties). */
struct member_q {
    const char *group;
    int found;
};

static int member_cb(const char *name, const char *sources,
                     const char *members, void *arg)
{
    struct member_q *q = arg;

    (void)sources;
    (void)members;
    if (strcmp(name, q->group) == 0) {
        q->found = 1;
    }
    return 0;
}

static int person_in_group(const char *group)
{
    struct member_q q = {group, 0};
    int r;

    if (ctl_person == NULL) {
        return 0;
    }
    if ((r = sk_store_group_list(store, ctl_person, member_cb, &q)) != 0) {
        die("group membership of %s: %s", ctl_person, sk_err_str(r));
    }
    return q.found;
}

/* The authorized_keys line of group's egress key, with the options that
 * bind it to the gateway (from=) and take away what it never needs
 * (restrict: forwarding of ports, agent and X11, user rc; pty stays for
 * shells). Caller frees. */
static char *egress_line(const struct sk_config *c, const char *group)
{
    struct sk_key *k = NULL;
    char path[PATH_MAX], *pub, *line, *from = NULL;
    int r;

    if ((r = sk_egress_key_path(c->egress_key, c->state_dir, group, path,
                                sizeof(path))) != 0) {
        die("key group %s: %s", group, sk_err_str(r));
    }
    if ((r = sk_key_load(path, &k)) != 0) {
        die("egress key %s: %s", path, sk_err_str(r));
    }
    if ((pub = sk_key_pub_line(k, "sekisho-egress")) == NULL) {
        die("out of memory");
    }
    sk_key_free(k);
    if (c->egress_from == NULL) {
        fprintf(stderr,
                _("note: listen = %s does not say where the gateway "
                  "connects from, so this line has no from= restriction; "
                  "set [gateway] egress_from (or egress_from = any to "
                  "accept this)\n"),
                c->listen);
    } else if (strcmp(c->egress_from, "any") != 0) {
        char *copy = strdup(c->egress_from), *item, *save = NULL;
        struct sk_cidr cidr;

        if (copy == NULL) {
            die("out of memory");
        }
        for (item = strtok_r(copy, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
            if (sk_cidr_parse(item, &cidr) != 0) {
                die("[gateway] egress_from: '%s' is not an address or "
                    "CIDR block",
                    item);
            }
        }
        free(copy);
        from = c->egress_from;
    }
    if ((line = sk_egress_authorized_line(from, pub)) == NULL) {
        die("out of memory");
    }
    free(pub);
    return line;
}

static int print_target(const struct sk_target *t, void *arg)
{
    (void)arg;
    printf("%-20s %s@%s:%d\n", term_str(t->name), term_str(t->login),
           term_str(t->host), t->port);
    return 0;
}

static int cmd_target(int argc, char **argv)
{
    int r, i;

    if (argc < 1) {
        die_usage("target: subcommand missing");
    }
    if (strcmp(argv[0], "list") == 0) {
        if (argc != 1) {
            die_usage("target list takes no arguments");
        }
        if ((r = sk_store_target_list(store, print_target, NULL)) != 0) {
            die("target list: %s", sk_err_str(r));
        }
        return 0;
    }
    if (argc < 2) {
        die_usage("target %s: NAME missing", argv[0]);
    }
    check_name("target", argv[1]);
    if (strcmp(argv[0], "add") == 0) {
        struct sk_target t;
        const char *keyfile = NULL;
        int scan = 0, own_key = 0;
        char *line;
        char *end;
        long port = 0;

        memset(&t, 0, sizeof(t));
        t.name = argv[1];
        if (sk_cmd_reserved(t.name)) {
            die("target name '%s' is a gateway command word", t.name);
        }
        for (i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
                t.host = argv[++i];
            } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
                errno = 0;
                port = strtol(argv[++i], &end, 10);
                if (*end != '\0' || errno != 0 || port < 1 || port > 65535) {
                    die_usage("target add: --port '%s' is not 1-65535",
                              argv[i]);
                }
            } else if (strcmp(argv[i], "--login") == 0 && i + 1 < argc) {
                t.login = argv[++i];
            } else if (strcmp(argv[i], "--host-key-file") == 0 &&
                       i + 1 < argc) {
                keyfile = argv[++i];
            } else if (strcmp(argv[i], "--scan") == 0) {
                scan = 1;
            } else if (strcmp(argv[i], "--key-group") == 0 && i + 1 < argc) {
                t.key_group = argv[++i];
            } else if (strcmp(argv[i], "--own-key") == 0) {
                own_key = 1;
            } else {
                die_usage("target add: unexpected argument '%s'", argv[i]);
            }
        }
        if (t.host == NULL || t.login == NULL || port == 0) {
            die_usage("target add: --host, --port and --login are required");
        }
        if ((keyfile != NULL) == scan) {
            die_usage("target add: give exactly one of --host-key-file or "
                      "--scan");
        }
        if (own_key && t.key_group != NULL) {
            die_usage("target add: give at most one of --key-group or "
                      "--own-key");
        }
        if (own_key) {
            t.key_group = t.name; /* a group of its own, named after it */
        }
        if (t.key_group != NULL) {
            egress_group_key(cfg, t.key_group);
        }
        if (strlen(t.host) > 253 || !sk_utf8_valid(t.host, strlen(t.host)) ||
            strpbrk(t.host, " \t\n/@") != NULL) {
            die("target add: --host '%s' is not a host name or address",
                t.host);
        }
        if (strlen(t.login) > 32 || strpbrk(t.login, " \t\n:@/") != NULL ||
            t.login[0] == '\0' || t.login[0] == '-' ||
            !sk_utf8_valid(t.login, strlen(t.login))) {
            die("target add: --login '%s' is not a valid account name",
                t.login);
        }
        t.port = (int)port;
        t.host_key = scan ? scan_host_key(t.host, t.port)
                          : file_host_key(keyfile);
        r = sk_store_target_add(store, &t, time(NULL));
        if (r != 0) {
            die("target add %s: %s", t.name,
                r == SK_ERR_EXISTS ? _("a target of that name exists")
                                   : sk_err_str(r));
        }
        (void)sk_audit("target_add", "{s:s, s:s, s:s, s:i, s:s, s:s}",
                       "admin", admin, "target", t.name, "host", t.host,
                       "port", t.port, "login", t.login, "host_key",
                       t.host_key);
        (void)sk_audit("target_key_group", "{s:s, s:s, s:s}", "admin", admin,
                       "target", t.name, "group",
                       t.key_group ? t.key_group : SK_EGRESS_DEFAULT_GROUP);
        printf(_("target %s added: %s@%s:%d, pinned %s\n"), t.name, t.login,
               t.host, t.port, t.host_key);
        line = egress_line(cfg, t.key_group);
        printf(_("egress key group %s; add to ~%s/.ssh/authorized_keys on "
                 "%s:\n%s\n"),
               t.key_group ? t.key_group : SK_EGRESS_DEFAULT_GROUP, t.login,
               t.host, line);
        free(line);
        free(t.host_key);
        return 0;
    }
    if (strcmp(argv[0], "key-group") == 0) {
        char *line;

        if (argc != 3) {
            die_usage("target key-group NAME GROUP");
        }
        egress_group_key(cfg, argv[2]);
        if ((r = sk_store_target_set_key_group(store, argv[1], argv[2])) !=
            0) {
            die("target %s: %s", argv[1], sk_err_str(r));
        }
        if (sk_audit("target_key_group", "{s:s, s:s, s:s}", "admin", admin,
                     "target", argv[1], "group", argv[2]) != 0) {
            die("audit log unavailable");
        }
        line = egress_line(cfg, argv[2]);
        printf(_("target %s now uses egress key group %s; its login must "
                 "trust:\n%s\n"),
               argv[1], argv[2], line);
        free(line);
        return 0;
    }
    if (argc != 2) {
        die_usage("target %s: unexpected argument '%s'", argv[0], argv[2]);
    }
    if (strcmp(argv[0], "show") == 0) {
        struct sk_target t;
        char c[32];

        if ((r = sk_store_target_get(store, argv[1], &t)) != 0) {
            die("target %s: %s", argv[1], sk_err_str(r));
        }
        fmt_time(t.created, c, sizeof(c));
        printf("name: %s\nhost: %s\nport: %d\nlogin: %s\nhost-key: %s\n"
               "created: %s\nkey-group: %s\n",
               term_str(t.name), term_str(t.host), t.port, term_str(t.login),
               term_str(t.host_key), c, term_str(t.key_group));
        sk_target_clear(&t);
        return 0;
    }
    if (strcmp(argv[0], "remove") == 0) {
        if ((r = sk_store_target_remove(store, argv[1])) != 0) {
            die("target %s: %s", argv[1], sk_err_str(r));
        }
        (void)sk_audit("target_remove", "{s:s, s:s}", "admin", admin,
                       "target", argv[1]);
        printf(_("target %s removed (with its grants)\n"), argv[1]);
        return 0;
    }
    die_usage("target: unknown subcommand '%s'", argv[0]);
}

static int print_grant(const struct sk_grant *g, void *arg)
{
    char until[32], created[32];

    (void)arg;
    fmt_time(g->valid_until, until, sizeof(until));
    fmt_time(g->created, created, sizeof(created));
    printf("%-20s %-20s %-5s until %-20s by %s at %s%s%s",
           term_str(g->user), term_str(g->target),
           g->allow_exec ? "exec" : "shell", g->valid_until ? until : "-",
           term_str(g->created_by), created, g->window ? " hours " : "",
           term_str(g->window ? g->window : ""));
    if (g->max_session) {
        printf(" max-session %llds", (long long)g->max_session);
    }
    printf(" reason %s\n", g->reason ? term_str(g->reason) : "-");
    return 0;
}

static int cmd_grant(int argc, char **argv)
{
    const char *group = NULL;
    int r, i;

    if (argc < 1) {
        die_usage("grant: subcommand missing");
    }
    if (strcmp(argv[0], "list") == 0) {
        if (argc > 2) {
            die_usage("grant list: too many arguments");
        }
        if (argc == 2) {
            check_name("user", argv[1]);
        }
        if ((r = sk_store_grant_list(store, argc == 2 ? argv[1] : NULL,
                                     print_grant, NULL)) != 0 ||
            (r = sk_store_group_grant_list(store,
                                           argc == 2 ? argv[1] : NULL,
                                           print_grant, NULL)) != 0) {
            die("grant list: %s", sk_err_str(r));
        }
        return 0;
    }
    if (argc < 3) {
        die_usage("grant %s: USER|@GROUP and TARGET required", argv[0]);
    }
    /* "@name" names a group: the grant is for all its members. */
    group = argv[1][0] == '@' ? argv[1] + 1 : NULL;
    check_name(group ? "group" : "user", group ? group : argv[1]);
    check_name("target", argv[2]);
    if (strcmp(argv[0], "add") == 0) {
        struct sk_grant g;
        time_t until = 0, now = time(NULL);
        char ts[32];

        memset(&g, 0, sizeof(g));
        for (i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--until") == 0 && i + 1 < argc) {
                if (sk_time_parse(argv[++i], now, &until) != 0) {
                    die_usage("grant add: --until '%s' is not a time "
                              "(YYYY-MM-DD, 'YYYY-MM-DD HH:MM', RFC 3339 UTC "
                              "or +DURATION such as +8h)",
                              argv[i]);
                }
                if (until <= now) {
                    die("grant add: --until is in the past");
                }
            } else if (strcmp(argv[i], "--exec") == 0) {
                g.allow_exec = 1;
            } else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
                g.reason = argv[++i];
                if (g.reason[0] == '\0' || strlen(g.reason) > 500 ||
                    !sk_utf8_valid(g.reason, strlen(g.reason))) {
                    die_usage("grant add: --reason: 1-500 bytes of UTF-8");
                }
            } else if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc) {
                struct sk_window w;
                char why[200];

                g.window = argv[++i];
                if (sk_window_parse(g.window, &w, why, sizeof(why)) != 0) {
                    die("grant add: --hours: %s", why);
                }
            } else if (strcmp(argv[i], "--max-session") == 0 &&
                       i + 1 < argc) {
                if (sk_duration_parse(argv[++i], &g.max_session) != 0) {
                    die_usage("grant add: --max-session '%s' is not a "
                              "duration (90m, 4h)",
                              argv[i]);
                }
            } else {
                die_usage("grant add: unexpected argument '%s'", argv[i]);
            }
        }
        if (g.reason == NULL && cfg->grant_reason_required) {
            die_usage("grant add: --reason TEXT is missing: say why %s "
                      "needs %s (R-AC-4; grant_reason_required = no in "
                      "[policy] relaxes this)",
                      argv[1], argv[2]);
        }
        /* Nobody grants themselves access (separated duties): neither
         * directly nor to a group they are in. */
        if (group == NULL &&
            sk_roles_self_check(ctl_person, argv[1], "grant") != 0) {
            ctl_actor_refused("own access");
            die("grant add: you cannot grant yourself access; another "
                "admin must");
        }
        if (group != NULL && person_in_group(group)) {
            ctl_actor_refused("own access (a group of theirs)");
            die("grant add: you are a member of group %s: another admin "
                "must grant it access", group);
        }
        g.user = argv[1];
        g.target = argv[2];
        g.valid_until = (int64_t)until;
        g.created_by = admin;
        r = group ? sk_store_group_grant_add(store, group, &g, now)
                  : sk_store_grant_add(store, &g, now);
        if (r != 0) {
            die("grant add: %s", r == SK_ERR_NOT_FOUND
                                     ? (group ? _("no such group or target")
                                              : _("no such user or target"))
                                     : sk_err_str(r));
        }
        fmt_time(g.valid_until, ts, sizeof(ts));
        (void)sk_audit("grant_add",
                       "{s:s, s:s, s:s, s:b, s:s, s:s?, s:I, s:s?}", "admin",
                       admin, "user", g.user, "target", g.target, "exec",
                       g.allow_exec, "until", ts, "hours", g.window,
                       "max_session", (json_int_t)g.max_session, "reason",
                       g.reason);
        printf(_("granted %s -> %s (%s) until %s%s%s\n"), g.user, g.target,
               g.allow_exec ? "shell+exec" : "shell", ts,
               g.window ? _(", hours ") : "", g.window ? g.window : "");
        g.window = NULL; /* argv's, not ours */
        g.reason = NULL;
        return 0;
    }
    if (strcmp(argv[0], "remove") == 0) {
        if (argc != 3) {
            die_usage("grant remove: unexpected argument '%s'", argv[3]);
        }
        r = group ? sk_store_group_grant_remove(store, group, argv[2])
                  : sk_store_grant_remove(store, argv[1], argv[2]);
        if (r != 0) {
            die("grant remove: %s",
                r == SK_ERR_NOT_FOUND ? _("no such grant") : sk_err_str(r));
        }
        (void)sk_audit("grant_remove", "{s:s, s:s, s:s}", "admin", admin,
                       "user", argv[1], "target", argv[2]);
        printf(_("grant %s -> %s removed\n"), argv[1], argv[2]);
        return 0;
    }
    die_usage("grant: unknown subcommand '%s'", argv[0]);
}

static int print_group(const char *name, const char *sources,
                       const char *members, void *arg)
{
    (void)arg;
    printf("%-20s from %-30s members %s\n", term_str(name),
           term_str(sources ? sources : "anywhere"),
           term_str(members ? members : "-"));
    return 0;
}

static int cmd_group(int argc, char **argv)
{
    char sources[1024] = "";
    int r;

    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        if ((r = sk_store_group_list(store, NULL, print_group, NULL)) != 0) {
            die("group list: %s", sk_err_str(r));
        }
        return 0;
    }
    if (argc < 2) {
        die_usage("group add|remove|list|member|from");
    }
    if (strcmp(argv[0], "member") == 0) {
        int add;

        if (argc != 4 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
            die_usage("group member add|remove GROUP USER");
        }
        add = strcmp(argv[1], "add") == 0;
        check_name("group", argv[2]);
        check_name("user", argv[3]);
        /* A group's grants reach its members: joining one is granting
         * oneself its access. */
        if (sk_roles_self_check(ctl_person, argv[3], "grant") != 0) {
            ctl_actor_refused("own access (group membership)");
            die("group member %s: not for yourself (ask another admin)",
                argv[1]);
        }
        if ((r = sk_store_group_member(store, argv[2], argv[3], add)) != 0) {
            die("group member %s: %s", argv[1],
                r == SK_ERR_NOT_FOUND
                    ? (add ? _("no such group or user") : _("not a member"))
                : r == SK_ERR_EXISTS ? _("already a member")
                                     : sk_err_str(r));
        }
        (void)sk_audit(add ? "group_member_add" : "group_member_remove",
                       "{s:s, s:s, s:s}", "admin", admin, "group", argv[2],
                       "user", argv[3]);
        printf(add ? _("%s joined %s\n") : _("%s left %s\n"), argv[3], argv[2]);
        return 0;
    }
    check_name("group", argv[1]);
    /* Every group's source blocks limit its members (access_source_ok):
     * lifting them, or removing the group with them, widens one's own
     * access, as leaving it would. Another admin does. */
    if ((strcmp(argv[0], "from") == 0 || strcmp(argv[0], "remove") == 0) &&
        person_in_group(argv[1])) {
        ctl_actor_refused("own access (a group of theirs)");
        die("group %s: you are a member of group %s: another admin must",
            argv[0], argv[1]);
    }
    if (strcmp(argv[0], "add") == 0 && argc == 2) {
        if (sk_cmd_reserved(argv[1])) {
            die("group name '%s' is reserved", argv[1]);
        }
        if ((r = sk_store_group_add(store, argv[1], admin, time(NULL))) != 0) {
            die("group add: %s",
                r == SK_ERR_EXISTS ? _("group exists") : sk_err_str(r));
        }
        (void)sk_audit("group_add", "{s:s, s:s}", "admin", admin, "group",
                       argv[1]);
        printf(_("group %s added\n"), argv[1]);
        return 0;
    }
    if (strcmp(argv[0], "remove") == 0 && argc == 2) {
        if ((r = sk_store_group_remove(store, argv[1])) != 0) {
            die("group remove: %s",
                r == SK_ERR_NOT_FOUND ? _("no such group") : sk_err_str(r));
        }
        (void)sk_audit("group_remove", "{s:s, s:s}", "admin", admin, "group",
                       argv[1]);
        printf(_("group %s removed (with its grants)\n"), argv[1]);
        return 0;
    }
    if (strcmp(argv[0], "from") == 0 && argc >= 3) {
        if (!(argc == 3 && strcmp(argv[2], "--any") == 0)) {
            for (int i = 2; i < argc; i++) {
                add_source(sources, sizeof(sources), argv[i]);
            }
        }
        if ((r = sk_store_group_set_sources(store, argv[1],
                                            sources[0] ? sources : NULL)) !=
            0) {
            die("group from: %s",
                r == SK_ERR_NOT_FOUND ? _("no such group") : sk_err_str(r));
        }
        (void)sk_audit("group_sources", "{s:s, s:s, s:s}", "admin", admin,
                       "group", argv[1], "from", sources[0] ? sources : "any");
        printf(_("members of %s may connect from %s\n"), argv[1],
               sources[0] ? sources : _("anywhere (their own limits apply)"));
        return 0;
    }
    die_usage("group add|remove NAME | list | member add|remove GROUP USER "
              "| from GROUP CIDR...|--any");
}

/* Where pam_sekisho.so is: given, next to a build tree's sekishoctl
 * (build/gateway/ -> build/auth/), or installed beside it. */
static void find_pam_module(char *out, size_t outlen)
{
    char exe[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    static const char *rel[] = {"/../auth/pam_sekisho.so",
                                "/../lib/security/pam_sekisho.so",
                                "/../lib/x86_64-linux-gnu/security/"
                                "pam_sekisho.so"};

    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                char cand[PATH_MAX + 64], real[PATH_MAX];

                snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
                if (realpath(cand, real) != NULL) {
                    snprintf(out, outlen, "%s", real);
                    return;
                }
            }
        }
    }
    snprintf(out, outlen, "/usr/local/lib/security/pam_sekisho.so");
    fprintf(stderr,
            _("sekishoctl: warning: pam_sekisho.so not found; "
              "pam.d/sekisho names %s\n"),
            out);
}

/* DIR/pam.d/sekisho: the default stack, our module for all three
 * phases. Administrators may put pam_sss, pam_radius, ... around it. */
static void write_pam_stack(const char *dir, const char *module)
{
    char path[PATH_MAX], mod[PATH_MAX], *text = NULL;
    int r;

    if (module != NULL) {
        if (module[0] != '/') {
            die_usage("init: --pam-module must be an absolute path");
        }
        snprintf(mod, sizeof(mod), "%s", module);
    } else {
        find_pam_module(mod, sizeof(mod));
    }
    snprintf(path, sizeof(path), "%s/pam.d", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", path, strerror(errno));
    }
    if (asprintf(&text,
                 "# Sekisho's PAM stack (service \"sekisho\"), read by the\n"
                 "# gateway through pam_start_confdir. pam_sekisho checks the\n"
                 "# gateway's own accounts: password and verification code,\n"
                 "# account state and expiry, password changes.\n"
                 "auth     required  %s config=%s/sekisho.conf\n"
                 "account  required  %s config=%s/sekisho.conf\n"
                 "password required  %s config=%s/sekisho.conf\n",
                 mod, dir, mod, dir, mod, dir) < 0) {
        die("out of memory");
    }
    snprintf(path, sizeof(path), "%s/pam.d/sekisho", dir);
    if ((r = sk_file_write_new(path, text, strlen(text), 0644)) != 0) {
        die("cannot write %s: %s", path, sk_err_str(r));
    }
    free(text);
}

static void ctl_actor_init(void);
static void ctl_break_glass(int argc, char **argv);

/* init --admin NAME: the first admin is a person (R-ID-1), made as `user
 * add NAME --role admin` makes one (password, TOTP enrolment, audited),
 * so root's sekishoctl is needed for nothing after this. The password is
 * the admin's own choice, typed now: no forced change. Without NAME,
 * says how to make one. */
static int init_first_admin(const char *cfgpath, const char *name,
                            int from_stdin)
{
    char err[512];
    char *args[] = {"add", NULL, "--role", "admin", "--no-force-change",
                    "--reason", "the first admin, made by sekishoctl init",
                    "--password-stdin", NULL};
    int rc;

    if (name == NULL) {
        fprintf(stderr,
                _("no admin yet: make the first one, a person with "
                  "their own password and second factor:\n"
                  "  sekishoctl -c %s user add NAME --role admin\n"),
                cfgpath);
        return 0;
    }
    args[1] = (char *)name;
    ctl_actor_init();
    if (sk_config_load(cfgpath, &cfg, err, sizeof(err)) != 0) {
        die("%s", err);
    }
    open_state();
    rc = cmd_user(from_stdin ? 8 : 7, args);
    sk_store_close(store);
    sk_audit_close();
    sk_key_free(signer);
    sk_config_free(cfg);
    store = NULL;
    signer = NULL;
    cfg = NULL;
    return rc;
}

static int cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *listen = "127.0.0.1:2222", *ppfile = NULL,
               *pam_module = NULL, *first_admin = NULL;
    char path[PATH_MAX], path2[PATH_MAX], host[256], *line, *pass = NULL;
    ssh_key hk = NULL;
    struct sk_key *ek = NULL;
    sk_store *st = NULL;
    int i, r, port, generated = 0, admin_stdin = 0;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--auditor-passphrase-file") == 0 &&
                   i + 1 < argc) {
            ppfile = argv[++i];
        } else if (strcmp(argv[i], "--pam-module") == 0 && i + 1 < argc) {
            pam_module = argv[++i];
        } else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
            first_admin = argv[++i];
        } else if (strcmp(argv[i], "--admin-password-stdin") == 0) {
            admin_stdin = 1;
        } else {
            die_usage("init: unexpected argument '%s'", argv[i]);
        }
    }
    if (dir == NULL) {
        die_usage("init: --dir DIR is required");
    }
    if (admin_stdin && first_admin == NULL) {
        die_usage("init: --admin-password-stdin needs --admin NAME");
    }
    if (first_admin != NULL) {
        check_name("user", first_admin);
        if (sk_cmd_reserved(first_admin)) {
            die("user name '%s' is reserved", first_admin);
        }
    }
    if (dir[0] != '/') {
        die_usage("init: --dir must be an absolute path");
    }
    if (sk_hostport_parse(listen, host, sizeof(host), &port) != 0) {
        die_usage("init: --listen '%s' is not ADDR:PORT", listen);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", dir, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/sekisho.conf", dir);
    if (access(path, F_OK) == 0) {
        die("%s exists: refusing to overwrite an installation", path);
    }
    snprintf(path, sizeof(path), "%s/empty", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/host_ed25519_key", dir);
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &hk) != SSH_OK ||
        ssh_pki_export_privkey_file(hk, NULL, NULL, NULL, path) != SSH_OK ||
        chmod(path, 0600) != 0) {
        die("cannot write host key %s", path);
    }
    ssh_key_free(hk);
    snprintf(path, sizeof(path), "%s/egress_key", dir);
    if ((r = sk_key_generate_file(path)) != 0) {
        die("cannot write egress key %s: %s", path, sk_err_str(r));
    }
    snprintf(path, sizeof(path), "%s/totp.key", dir);
    if ((r = sk_totp_key_generate(path)) != 0) {
        die("cannot write TOTP key %s: %s", path, sk_err_str(r));
    }
    /* Transcript and audit signing key; its public half is what auditors
     * (and sekisho-verify) trust. */
    snprintf(path, sizeof(path), "%s/signing_key", dir);
    if ((r = sk_key_generate_file(path)) != 0 ||
        (r = sk_key_load(path, &ek)) != 0 ||
        (line = sk_key_pub_line(ek, "sekisho-signing")) == NULL) {
        die("cannot write signing key %s: %s", path, sk_err_str(r));
    }
    sk_key_free(ek);
    ek = NULL;
    snprintf(path, sizeof(path), "%s/signing_key.pub", dir);
    {
        char *nl = NULL;

        if (asprintf(&nl, "%s\n", line) < 0 ||
            (r = sk_file_write_new(path, nl, strlen(nl), 0644)) != 0) {
            die("cannot write %s", path);
        }
        free(nl);
    }
    free(line);
    /* Auditor key pair: transcripts are encrypted to the public half.
     * The secret half is always sealed (R-LOG-5: root alone reads no
     * transcript), under the passphrase file's or a new strong one shown
     * once; better still, the auditors keep it off the gateway. */
    pass = ctl_auditor_passphrase(ppfile, &generated);
    snprintf(path, sizeof(path), "%s/auditor.key", dir);
    snprintf(path2, sizeof(path2), "%s/auditor.pub", dir);
    if ((r = sk_boxkey_generate_files(path, path2, pass)) != 0) {
        sk_secret_free(pass);
        die("cannot write auditor keys %s: %s", path, sk_err_str(r));
    }
    if (generated) {
        ctl_passphrase_announce(pass, path);
    }
    sk_secret_free(pass);
    pass = NULL;
    snprintf(path, sizeof(path), "%s/transcripts", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", path, strerror(errno));
    }
    write_pam_stack(dir, pam_module);
    snprintf(path, sizeof(path), "%s/state.db", dir);
    if ((r = sk_store_open(path, SK_STORE_CREATE, &st)) != 0) {
        die("cannot create state %s: %s", path, sk_err_str(r));
    }
    sk_store_close(st);
    snprintf(path, sizeof(path), "%s/sekisho.conf", dir);
    if ((r = sk_config_write_initial(path, dir, listen)) != 0) {
        die("cannot write %s: %s", path, sk_err_str(r));
    }
    {
        /* The line as egress-key prints it: with what the new config
         * says about from=. */
        struct sk_config *nc = NULL;
        char cerr[512];

        if (sk_config_load(path, &nc, cerr, sizeof(cerr)) != 0) {
            die("cannot read back %s: %s", path, cerr);
        }
        line = egress_line(nc, NULL);
        sk_config_free(nc);
    }
    fprintf(stderr,
            _("initialised %s (config %s/sekisho.conf)\n"
              "add this line to ~/.ssh/authorized_keys of each "
              "target login:\n"),
            dir, dir);
    printf("%s\n", line);
    free(line);
    if (fflush(stdout) != 0) {
        die("stdout: %s", strerror(errno));
    }
    return init_first_admin(path, first_admin, admin_stdin);
}

/* 1 if PATH exists; dies on anything but "does not exist" (fail closed:
 * a key we cannot see must not be replaced by a new one). */
static int path_exists(const char *path)
{
    struct stat sb;

    if (lstat(path, &sb) == 0) {
        return 1;
    }
    if (errno != ENOENT) {
        die("%s: %s", path, strerror(errno));
    }
    return 0;
}

static void mkdir_missing(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        die("mkdir %s: %s", path, strerror(errno));
    }
}

/* init --existing-config: for a configuration someone else wrote (the
 * Debian package's /etc/sekisho/sekisho.conf), create what it names and
 * what is missing (state dir, chroot dir, transcript dir, keys, state
 * database). Never overwrites or regenerates an existing file, so it is
 * safe on every package install and upgrade. Prints the egress line. */
static int cmd_init_existing(const char *cfgpath)
{
    char path[PATH_MAX], err[512], *line = NULL;
    struct sk_config *c = NULL;
    struct sk_key *k = NULL;
    ssh_key hk = NULL;
    sk_store *st = NULL;
    int r, made = 0;

    if (sk_config_load(cfgpath, &c, err, sizeof(err)) != 0) {
        die("%s", err);
    }
    mkdir_missing(c->state_dir, 0700);
    snprintf(path, sizeof(path), "%s/empty", c->state_dir);
    mkdir_missing(path, 0755);
    mkdir_missing(c->transcript_dir, 0700);
    if (!path_exists(c->host_key)) {
        if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &hk) != SSH_OK ||
            ssh_pki_export_privkey_file(hk, NULL, NULL, NULL, c->host_key) !=
                SSH_OK ||
            chmod(c->host_key, 0600) != 0) {
            die("cannot write host key %s", c->host_key);
        }
        ssh_key_free(hk);
        fprintf(stderr, _("created %s\n"), c->host_key);
        made++;
    }
    if (!path_exists(c->egress_key)) {
        if ((r = sk_key_generate_file(c->egress_key)) != 0) {
            die("cannot write egress key %s: %s", c->egress_key,
                sk_err_str(r));
        }
        fprintf(stderr, _("created %s\n"), c->egress_key);
        made++;
    }
    if (!path_exists(c->totp_key)) {
        if ((r = sk_totp_key_generate(c->totp_key)) != 0) {
            die("cannot write TOTP key %s: %s", c->totp_key, sk_err_str(r));
        }
        fprintf(stderr, _("created %s\n"), c->totp_key);
        made++;
    }
    if (!path_exists(c->signing_key)) {
        /* A new signing key with an old public key file beside it would
         * make every new transcript fail verification: refuse. */
        if (path_exists(c->signing_pubkeys)) {
            die("%s is missing but %s exists: restore the key or move the "
                "public key file away", c->signing_key, c->signing_pubkeys);
        }
        if ((r = sk_key_generate_file(c->signing_key)) != 0) {
            die("cannot write signing key %s: %s", c->signing_key,
                sk_err_str(r));
        }
        fprintf(stderr, _("created %s\n"), c->signing_key);
        made++;
    }
    if (strchr(c->signing_pubkeys, ' ') == NULL &&
        !path_exists(c->signing_pubkeys)) {
        char *nl = NULL;

        if ((r = sk_key_load(c->signing_key, &k)) != 0 ||
            (line = sk_key_pub_line(k, "sekisho-signing")) == NULL ||
            asprintf(&nl, "%s\n", line) < 0 ||
            (r = sk_file_write_new(c->signing_pubkeys, nl, strlen(nl),
                                   0644)) != 0) {
            die("cannot write %s", c->signing_pubkeys);
        }
        free(nl);
        free(line);
        line = NULL;
        sk_key_free(k);
        k = NULL;
        fprintf(stderr, _("created %s\n"), c->signing_pubkeys);
        made++;
    }
    /* The auditor pair only as a pair: a lone public key means the secret
     * half is kept elsewhere (as it should be), a lone secret is damage. */
    if (strchr(c->auditor_pubkeys, ' ') == NULL &&
        !path_exists(c->auditor_pubkeys)) {
        if (path_exists(c->auditor_key)) {
            die("%s exists without %s: restore the public key",
                c->auditor_key, c->auditor_pubkeys);
        }
        char *pass = NULL;
        int generated = 0;

        /* Sealed, as plain init makes it (R-LOG-5: root alone reads no
         * transcript): under --auditor-passphrase-file F, or under a new
         * passphrase shown once on standard error (in a package install
         * the installing admin's terminal: docs/admin.md says what apt
         * keeps of it and how to give a file instead). */
        pass = ctl_auditor_passphrase(ctl_auditor_ppfile, &generated);
        if ((r = sk_boxkey_generate_files(c->auditor_key, c->auditor_pubkeys,
                                          pass)) != 0) {
            sk_secret_free(pass);
            die("cannot write auditor keys %s: %s", c->auditor_key,
                sk_err_str(r));
        }
        fprintf(stderr, _("created %s (sealed) and %s\n"), c->auditor_key,
                c->auditor_pubkeys);
        if (generated) {
            ctl_passphrase_announce(pass, c->auditor_key);
        }
        sk_secret_free(pass);
        made++;
    }
    snprintf(path, sizeof(path), "%s/state.db", c->state_dir);
    if (!path_exists(path)) {
        if ((r = sk_store_open(path, SK_STORE_CREATE, &st)) != 0) {
            die("cannot create state %s: %s", path, sk_err_str(r));
        }
        sk_store_close(st);
        fprintf(stderr, _("created %s\n"), path);
        made++;
    }
    /* The PAM stack is the administrator's (a conffile in the package):
     * not written here, but its absence would refuse every login. */
    snprintf(path, sizeof(path), "%s/%s", c->pam_dir, c->pam_service);
    if (!path_exists(path)) {
        fprintf(stderr,
                _("warning: no PAM stack %s: every login will "
                  "fail until it exists\n"),
                path);
    }
    fprintf(stderr, _("%s: %d item(s) created, existing ones kept\n"), cfgpath,
            made);
    line = egress_line(c, NULL);
    printf("%s\n", line);
    free(line);
    sk_config_free(c);
    return 0;
}

/* egress-key [TARGET | --group NAME [--create]]: the authorized_keys line a
 * target's login must hold (without arguments: the default group's, what
 * every target added without --key-group uses). */
static int cmd_egress_key(int argc, char **argv)
{
    struct sk_target t;
    char *line, *group = NULL;
    int r;

    memset(&t, 0, sizeof(t));
    if ((argc == 2 || (argc == 3 && strcmp(argv[2], "--create") == 0)) &&
        strcmp(argv[0], "--group") == 0) {
        if (!sk_egress_group_valid(argv[1])) {
            die("key group name '%s' is invalid", argv[1]);
        }
        group = argv[1];
        if (argc == 3) {
            char *words[] = {"egress-key", argv[0], argv[1], argv[2]};

            /* A key made ahead of a rotation, before any target uses it. */
            open_state();
            ctl_break_glass(4, words);
            egress_group_key(cfg, group);
        }
    } else if (argc == 1 && argv[0][0] != '-') {
        check_name("target", argv[0]);
        open_state();
        if ((r = sk_store_target_get(store, argv[0], &t)) != 0) {
            die("target %s: %s", argv[0], sk_err_str(r));
        }
        group = t.key_group;
    } else if (argc != 0) {
        die_usage("egress-key [TARGET | --group NAME [--create]]");
    }
    line = egress_line(cfg, group);
    printf("%s\n", line);
    free(line);
    sk_target_clear(&t);
    return 0;
}

/* Who runs sekishoctl. Root at the console is no person: it is the
 * bootstrap and emergency door (break-glass). The audit lines name the
 * login behind it: the kernel's loginuid (set at login, kept across su
 * and sudo, not changeable by the process), else SUDO_USER (what sudo
 * says), else the user id's name. */
static void ctl_actor_init(void)
{
    struct passwd *pw;
    const char *sudo = getenv("SUDO_USER"), *tty;
    FILE *f;
    long v;

    pw = getpwuid(getuid());
    if ((f = fopen("/proc/self/loginuid", "r")) != NULL) {
        /* 4294967295: no login recorded (a daemon, a container) */
        if (fscanf(f, "%ld", &v) == 1 && v >= 0 && v < 4294967295L) {
            login_uid = v;
        }
        fclose(f);
    }
    if (login_uid >= 0) {
        struct passwd *lp = getpwuid((uid_t)login_uid);

        if (lp != NULL) {
            snprintf(login_name, sizeof(login_name), "%s", lp->pw_name);
        } else {
            snprintf(login_name, sizeof(login_name), "uid %ld", login_uid);
        }
    }
    if (sudo != NULL && sk_utf8_valid(sudo, strlen(sudo))) {
        snprintf(sudo_name, sizeof(sudo_name), "%s", sudo);
    }
    tty = ttyname(STDIN_FILENO);
    snprintf(tty_name, sizeof(tty_name), "%s", tty ? tty : "none");
    snprintf(admin, sizeof(admin), "%s",
             login_name[0] ? login_name
             : sudo_name[0] ? sudo_name
             : pw           ? pw->pw_name
                            : "?");
    ctl_person = NULL;
    break_glass = 1;
}

/* 1 if the command changes nothing and shows no transcript's content
 * (lists, shows, reports, health, integrity checks, the audit log): root
 * may look without breaking the glass. */
static int ctl_read_only(int argc, char **argv)
{
    static const char *const readers[] = {"user", "target", "group",
                                          "grant", "request"};
    size_t i;

    if (strcmp(argv[0], "status") == 0 || strcmp(argv[0], "report") == 0 ||
        strcmp(argv[0], "verify") == 0) {
        return 1;
    }
    if (strcmp(argv[0], "audit") == 0) {
        return argc >= 2 &&
               (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "verify") == 0);
    }
    if (strcmp(argv[0], "session") == 0) {
        return argc >= 2 &&
               (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "show") == 0);
    }
    for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
        if (strcmp(argv[0], readers[i]) == 0) {
            return argc >= 2 && (strcmp(argv[1], "list") == 0 ||
                                 strcmp(argv[1], "show") == 0);
        }
    }
    return 0;
}

/* On record before the command runs (fail closed): root used sekishoctl
 * to change something or read transcripts. argv: the command words. */
static void ctl_break_glass(int argc, char **argv)
{
    char cmd[512] = "";
    size_t used = 0;
    int i, n;

    if (!break_glass || ctl_read_only(argc, argv)) {
        return;
    }
    for (i = 0; i < argc && used < sizeof(cmd) - 1; i++) {
        n = snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "",
                     argv[i]);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
    if (!sk_utf8_valid(cmd, strlen(cmd))) {
        snprintf(cmd, sizeof(cmd), "%s (arguments not UTF-8)", argv[0]);
    }
    if (sk_audit("break_glass", "{s:s, s:s, s:s?, s:I, s:s?, s:s, s:s}",
                 "admin", admin, "command", cmd, "login",
                 login_name[0] ? login_name : NULL, "loginuid",
                 (json_int_t)login_uid, "sudo_user",
                 sudo_name[0] ? sudo_name : NULL, "tty", tty_name, "uid_name",
                 getpwuid(getuid()) ? getpwuid(getuid())->pw_name : "?") !=
        0) {
        die("audit log unavailable: break-glass use not recorded, "
            "nothing done");
    }
}

/* Messages to the person in their own language, by gettext's rules:
 * LC_ALL, else LC_MESSAGES, else LANG names the locale; in any but C or
 * POSIX, LANGUAGE (its first entry) comes first. The monitor hands a
 * gateway command the session's language as LANGUAGE over LC_ALL=C.UTF-8
 * (gwcmd.c). English for anything else. Machine-readable output never
 * changes. Called again once the configuration names locale_dir. */
static void ctl_i18n(const char *dir)
{
    const char *v = getenv("LC_ALL"), *l = getenv("LANGUAGE");
    char first[32];

    if (v == NULL || v[0] == '\0') {
        v = getenv("LC_MESSAGES");
    }
    if (v == NULL || v[0] == '\0') {
        v = getenv("LANG");
    }
    if (v == NULL || v[0] == '\0' || strcmp(v, "C") == 0 ||
        strcmp(v, "POSIX") == 0) {
        v = NULL;
    } else if (l != NULL && l[0] != '\0') {
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(l, ":"), l);
        v = first;
    }
    v = sk_lang_from_env(v);
    (void)sk_i18n_init(dir, v != NULL ? v : "en");
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL, *actor = NULL;
    char err[512];
    int i = 1, rc;

    /* State, keys and logs are for root alone. */
    umask(077);
    sk_log_init("sekishoctl", 1, SK_LOG_INFO);
    /* the installed catalogues until the configuration is read */
    ctl_i18n(SK_LOCALEDIR);
    if (sodium_init() < 0) {
        die("libsodium initialisation failed");
    }
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        put_usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        sk_version_print("sekishoctl");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "init") == 0 &&
        !(argc == 3 && strcmp(argv[2], "--existing-config") == 0)) {
        return cmd_init(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "config-reference") == 0) {
        /* From the keyword table alone: docs/config.md is this output. */
        if (argc != 2) {
            die_usage("config-reference takes no arguments");
        }
        sk_config_reference(stdout);
        return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
    }
    cfgpath = SK_DEFAULT_CONFIG;
    if (argc >= 3 && strcmp(argv[1], "-c") == 0) {
        cfgpath = argv[2];
        i = 3;
    }
    ctl_cfgpath = cfgpath;
    if (i + 1 < argc && strcmp(argv[i], "--auditor-passphrase-file") == 0) {
        ctl_auditor_ppfile = argv[i + 1];
        i += 2;
    }
    if (argc - i >= 4 && strcmp(argv[i], "--actor") == 0) {
        /* The monitor running a gateway command for a person (ctl-actor.c
         * says who may); proven once the state is open. */
        if (strcmp(argv[i + 2], "--via") != 0 ||
            strcmp(argv[i + 3], "ssh") != 0) {
            die_usage("--actor NAME --via ssh");
        }
        actor = argv[i + 1];
        i += 4;
        ctl_actor_ask(actor, argc - i, argv + i);
    }
    if (i >= argc) {
        die_usage(NULL);
    }
    if (actor != NULL && (strcmp(argv[i], "init") == 0 ||
                          strcmp(argv[i], "restore") == 0 ||
                          strcmp(argv[i], "egress-key") == 0 ||
                          strcmp(argv[i], "status") == 0)) {
        die_usage("--actor: '%s' is not a gateway command", argv[i]);
    }
    if (strcmp(argv[i], "init") == 0) {
        if (argc - i != 2 || strcmp(argv[i + 1], "--existing-config") != 0) {
            die_usage("init: with -c CONFIG only --existing-config");
        }
        return cmd_init_existing(cfgpath);
    }
    ctl_actor_init();
    if (strcmp(argv[i], "restore") == 0) {
        return ctl_restore(cfgpath, argc - i - 1, argv + i + 1);
    }
    if (sk_config_load(cfgpath, &cfg, err, sizeof(err)) != 0) {
        die("%s", err);
    }
    /* now from the configured catalogues */
    ctl_i18n(cfg->locale_dir);
    if (strcmp(argv[i], "egress-key") == 0) {
        rc = cmd_egress_key(argc - i - 1, argv + i + 1);
        sk_config_free(cfg);
        return rc;
    }
    if (strcmp(argv[i], "status") == 0) {
        /* Health needs no signing key and writes nothing. */
        rc = ctl_status(argc - i - 1, argv + i + 1);
        sk_config_free(cfg);
        return rc;
    }
    open_state();
    if (actor != NULL) {
        ctl_actor_begin(actor, argc - i, argv + i);
    }
    ctl_break_glass(argc - i, argv + i);
    if (strcmp(argv[i], "user") == 0) {
        rc = cmd_user(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "target") == 0) {
        rc = cmd_target(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "group") == 0) {
        rc = cmd_group(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "grant") == 0) {
        rc = cmd_grant(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "session") == 0) {
        rc = ctl_session(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "verify") == 0) {
        rc = ctl_verify(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "export") == 0) {
        rc = ctl_export(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "replay") == 0) {
        rc = ctl_replay(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "search") == 0) {
        rc = ctl_search(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "purge") == 0) {
        rc = ctl_purge(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "key") == 0) {
        rc = ctl_key(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "request") == 0) {
        rc = ctl_request(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "report") == 0) {
        rc = ctl_report(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "audit") == 0) {
        rc = ctl_audit(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "backup") == 0) {
        rc = ctl_backup(argc - i - 1, argv + i + 1, signer);
    } else {
        die_usage("unknown command '%s'", argv[i]);
    }
    sk_store_close(store);
    sk_audit_close();
    sk_key_free(signer);
    sk_config_free(cfg);
    return rc;
}
