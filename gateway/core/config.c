#include "config.h"
#include "algos.h"
#include "i18n.h"
#include "methods.h"
#include "srclimit.h"
#include "sk-err.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum kw_type {
    KW_STRING,
    KW_PATH,
    KW_INT,
    KW_BOOL,
    KW_LOGLEVEL,
    KW_FACTOR,
    KW_STARTUPS, /* start:rate:full, kept as text, parsed into ints */
    KW_NETBLOCK, /* V4:V6 prefix lengths */
    /* SSH algorithm lists (strings), checked by sk_algos_check */
    KW_KEX,
    KW_CIPHERS,
    KW_MACS,
    KW_HOSTKEYS,
    KW_LANG, /* a language the gateway speaks (sk_lang_valid) */
};

struct keyword {
    const char *section;
    const char *name;
    enum kw_type type;
    size_t offset;
    const char *def; /* NULL: derived or required, see finish() */
    long min, max;
    const char *help;
};

#define OFF(f) offsetof(struct sk_config, f)

/* The one list of keywords. Order is the order of `sekishod -T`. */
static const struct keyword keywords[] = {
    {"gateway", "listen", KW_STRING, OFF(listen), "127.0.0.1:2222", 0, 0,
     "address:port the listener binds ([v6]:port for IPv6)"},
    {"gateway", "state_dir", KW_PATH, OFF(state_dir), NULL, 0, 0,
     "directory holding the SQLite state and keys (required)"},
    {"gateway", "host_key", KW_PATH, OFF(host_key), NULL, 0, 0,
     "gateway SSH host key (default: state_dir/host_ed25519_key)"},
    {"gateway", "egress_key", KW_PATH, OFF(egress_key), NULL, 0, 0,
     "key the gateway uses towards targets (default: state_dir/egress_key)"},
    {"gateway", "egress_from", KW_STRING, OFF(egress_from), NULL, 0, 0,
     "addresses/CIDRs, comma-separated, for from= in egress-key lines "
     "(default: the listen address if not a wildcard; any: no from=)"},
    {"gateway", "audit_log", KW_PATH, OFF(audit_log), NULL, 0, 0,
     "append-only JSON-lines audit log (default: state_dir/audit.log)"},
    {"gateway", "audit_rotate_size", KW_INT, OFF(audit_rotate_size),
     "65536", 0, 16777216,
     "KiB at which the audit log is rotated to audit_log.YYYYMMDDTHHMMSSZ "
     "(65536: 64 MiB; 0: never for size); the chain runs on across files"},
    {"gateway", "audit_rotate_days", KW_INT, OFF(audit_rotate_days), "30", 0,
     3650,
     "days after its first line at which the audit log is rotated (0: "
     "never for age)"},
    {"gateway", "worker_user", KW_STRING, OFF(worker_user), "nobody", 0, 0,
     "unprivileged account the network-facing worker runs as"},
    {"gateway", "session_program", KW_PATH, OFF(session_program), NULL, 0, 0,
     "path of sekisho-session (default: next to sekishod)"},
    {"gateway", "log_level", KW_LOGLEVEL, OFF(log_level), "info", 0, 0,
     "error, info, verbose or debug"},
    {"gateway", "gateway_id", KW_STRING, OFF(gateway_id), "sekisho", 0, 0,
     "name of this gateway in audit records"},
    {"gateway", "language", KW_LANG, OFF(language), "en", 0, 0,
     "language of the prompts before login (ja: Japanese with the English "
     "after it), and after login for users whose client sends no LANG "
     "and who have no language of their own (sekishoctl user lang)"},
    {"gateway", "locale_dir", KW_PATH, OFF(locale_dir), SK_LOCALEDIR, 0, 0,
     "directory of the message catalogues (<lang>/LC_MESSAGES/sekisho.mo)"},
    {"gateway", "max_startups", KW_STARTUPS, OFF(max_startups), "10:30:100",
     0, 0,
     "unauthenticated sessions at once, start:rate:full: from start on "
     "new ones are dropped at random, rate% rising to 100% at full (not "
     "from a netblock holding none); N: a hard cap"},
    {"gateway", "per_source_max_startups", KW_INT,
     OFF(per_source_max_startups), "10", 1, 100000,
     "unauthenticated connections one netblock (per_source_netblock) may "
     "hold at once"},
    {"gateway", "per_source_netblock", KW_NETBLOCK, OFF(per_source_netblock),
     "32:64", 0, 0,
     "prefix lengths V4:V6 grouping addresses for the per-source limits "
     "and penalties (an IPv6 /64 is one subscriber)"},
    {"gateway", "banner_timeout", KW_INT, OFF(banner_timeout), "10", 1, 600,
     "seconds a new connection has to send its SSH identification line "
     "(until then it costs a descriptor in the listener, no process)"},
    {"gateway", "max_pending", KW_INT, OFF(max_pending), "1024", 16, 16384,
     "connections waiting for their identification line; when full, the "
     "oldest of the netblock holding most gives way"},
    {"gateway", "max_sessions", KW_INT, OFF(max_sessions), "1000", 1, 100000,
     "connections allowed at once"},
    {"gateway", "login_grace_time", KW_INT, OFF(login_grace_time), "60", 1,
     3600, "seconds a client has to authenticate"},
    {"gateway", "max_auth_tries", KW_INT, OFF(max_auth_tries), "3", 1, 20,
     "failed authentication attempts before disconnect"},
    {"gateway", "connect_timeout", KW_INT, OFF(connect_timeout), "10", 1, 300,
     "seconds to reach a target and finish its SSH handshake"},
    /* Hardened defaults (ssh-audit: no fail, no warn): no NIST-curve ECDH,
     * no 2048-bit DH group14, MACs only encrypt-then-MAC (AEAD ciphers
     * carry their own), nothing with SHA-1 or CBC. */
    {"gateway", "kex_algorithms", KW_KEX, OFF(kex_algorithms),
     "curve25519-sha256,curve25519-sha256@libssh.org,"
     "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
     0, 0,
     "key exchange methods for clients and targets, in order of "
     "preference (SHA-1, nistp ECDH and group1 are refused)"},
    {"gateway", "ciphers", KW_CIPHERS, OFF(ciphers),
     "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
     "aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
     0, 0, "ciphers for clients and targets (CBC and 3DES are refused)"},
    {"gateway", "macs", KW_MACS, OFF(macs),
     "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com", 0, 0,
     "MACs for clients and targets (SHA-1, MD5 and -96 are refused)"},
    {"gateway", "host_key_algorithms", KW_HOSTKEYS,
     OFF(host_key_algorithms), "ssh-ed25519,rsa-sha2-512,rsa-sha2-256", 0,
     0,
     "host key signatures offered to clients, among those of host_key "
     "(ssh-rsa and ssh-dss are refused); towards a target only its "
     "pinned key's type is used"},
    {"gateway", "sandbox_debug", KW_BOOL, OFF(sandbox_debug), "no", 0, 0,
     "log forbidden worker system calls instead of killing (testing only)"},
    {"gateway", "backup_generations", KW_INT, OFF(backup_generations), "7",
     1, 10000,
     "generations `sekishoctl backup DIR` keeps in DIR; older ones it made "
     "are removed"},
    {"auth", "second_factor", KW_FACTOR, OFF(second_factor), "totp", 0, 0,
     "second factor required after the password: totp, or none (not "
     "compliant with R-PW-5; for testing)"},
    {"auth", "methods", KW_STRING, OFF(methods), NULL, 0, 0,
     "factor combinations that admit a user, e.g. \"password+totp "
     "sk+password\" (default: password+totp; password if second_factor = "
     "none); per user: sekishoctl user methods"},
    {"auth", "pam_service", KW_STRING, OFF(pam_service), "sekisho", 0, 0,
     "PAM service whose stack authenticates users"},
    {"auth", "pam_dir", KW_PATH, OFF(pam_dir), NULL, 0, 0,
     "directory holding the PAM service file (default: state_dir/pam.d; "
     "/etc/pam.d for the system's)"},
    {"auth", "totp_key", KW_PATH, OFF(totp_key), NULL, 0, 0,
     "key sealing TOTP secrets at rest (default: state_dir/totp.key)"},
    {"auth", "password_max_age", KW_INT, OFF(password_max_age), "90", 0,
     3650,
     "days until a password must be changed at login (0: never expires)"},
    {"auth", "password_min_age", KW_INT, OFF(password_min_age), "1", 0, 365,
     "days before a user may change their own password again (a password "
     "an administrator set may be replaced at once; 0: no minimum)"},
    {"auth", "password_history", KW_INT, OFF(password_history), "5", 0, 100,
     "earlier passwords a new one may not repeat"},
    {"auth", "lockout_threshold", KW_INT, OFF(lockout_threshold), "5", 1,
     1000, "failed logins within lockout_window that lock the account"},
    {"auth", "lockout_window", KW_INT, OFF(lockout_window), "900", 10,
     604800, "seconds over which failed logins are counted"},
    {"auth", "lockout_duration", KW_INT, OFF(lockout_duration), "900", 0,
     31536000,
     "seconds an account stays locked (0: until `sekishoctl user unlock`)"},
    {"auth", "source_threshold", KW_INT, OFF(source_threshold), "20", 1,
     100000,
     "failed logins from one address within lockout_window after which "
     "that address may not try at all (it cannot go on locking accounts)"},
    {"recorder", "transcript_dir", KW_PATH, OFF(transcript_dir), NULL, 0, 0,
     "where transcripts are written, one dated directory per day "
     "(default: state_dir/transcripts)"},
    {"recorder", "signing_key", KW_PATH, OFF(signing_key), NULL, 0, 0,
     "Ed25519 key signing transcripts and audit lines (default: "
     "state_dir/signing_key)"},
    {"recorder", "signing_pubkeys", KW_STRING, OFF(signing_pubkeys), NULL, 0,
     0,
     "space-separated public key files trusted when verifying; keep old "
     "ones after a rotation (default: state_dir/signing_key.pub)"},
    {"recorder", "auditor_pubkeys", KW_STRING, OFF(auditor_pubkeys), NULL, 0,
     0,
     "space-separated auditor public key files; every transcript's stream "
     "key is sealed to each (default: state_dir/auditor.pub)"},
    {"recorder", "auditor_key", KW_PATH, OFF(auditor_key), NULL, 0, 0,
     "auditor secret key used by replay/export/search (default: "
     "state_dir/auditor.key; keep it off the gateway in production)"},
    {"recorder", "checkpoint_interval", KW_INT, OFF(checkpoint_interval), "2",
     1, 3600,
     "seconds between signed checkpoints while a session produces data"},
    {"recorder", "retention_min_days", KW_INT, OFF(retention_min_days),
     "1826", 1, 36500,
     "purge refuses transcripts younger than this (default 5 years)"},
    {"recorder", "transcript_min_free", KW_STRING, OFF(transcript_min_free),
     "1024", 0, 0,
     "free space transcript_dir must keep, in MiB, or N% of its file "
     "system: below it new sessions are refused (audited, notified) "
     "before the disk fills; sekishoctl status warns at twice that"},
    {"policy", "timezone", KW_STRING, OFF(timezone), "UTC", 0, 0,
     "time zone of the grants' time-of-day windows (a zoneinfo name, "
     "e.g. Asia/Tokyo)"},
    {"policy", "approvals_required", KW_INT, OFF(approvals_required), "1", 1,
     10, "distinct approvers (never the requester) a work request needs"},
    {"policy", "notify_command", KW_STRING, OFF(notify_command), "none", 0,
     0,
     "program (absolute path, then arguments; no shell) run for every "
     "request event with the event as JSON on stdin; none: no notices"},
    {"policy", "idle_timeout", KW_INT, OFF(idle_timeout), "900", 0, 604800,
     "seconds without keyboard input before a terminal session ends, with "
     "a warning first (0: never)"},
    {"policy", "grant_reason_required", KW_BOOL,
     OFF(grant_reason_required), "yes", 0, 0,
     "`grant add` refuses a grant without --reason TEXT (why it exists, "
     "R-AC-4: shown in grant list and report privileges)"},
};

#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

struct load_ctx {
    struct sk_config *cfg;
    unsigned char seen[NKEYWORDS];
    char err[256];
    int err_line; /* line our err refers to */
    int line;     /* line inih is processing (counted by cfg_reader) */
    FILE *f;
};

/* Line reader for ini_parse_stream that counts lines, so a handler error
 * is reported against the line inih was parsing (inih itself only returns
 * the first failing line, which may be a syntax error of its own). */
static char *cfg_reader(char *str, int num, void *stream)
{
    struct load_ctx *ctx = stream;
    char *r = fgets(str, num, ctx->f);

    if (r != NULL) {
        ctx->line++;
    }
    return r;
}

static const struct keyword *kw_find(const char *section, const char *name,
                                     size_t *idx)
{
    size_t i;

    for (i = 0; i < NKEYWORDS; i++) {
        if (strcmp(keywords[i].section, section) == 0 &&
            strcmp(keywords[i].name, name) == 0) {
            *idx = i;
            return &keywords[i];
        }
    }
    return NULL;
}

static int section_known(const char *section)
{
    size_t i;

    for (i = 0; i < NKEYWORDS; i++) {
        if (strcmp(keywords[i].section, section) == 0) {
            return 1;
        }
    }
    return 0;
}

static int bool_parse(const char *v, int *out)
{
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
        strcmp(v, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
        strcmp(v, "0") == 0) {
        *out = 0;
        return 0;
    }
    return SK_ERR_INVALID;
}

static enum sk_algo_kind algo_kind(enum kw_type t)
{
    switch (t) {
    case KW_KEX:
        return SK_ALGO_KEX;
    case KW_CIPHERS:
        return SK_ALGO_CIPHER;
    case KW_MACS:
        return SK_ALGO_MAC;
    default:
        return SK_ALGO_HOSTKEY;
    }
}

/* Sets one keyword; on error writes a reason (without file/line) to err. */
static int kw_set(struct sk_config *cfg, const struct keyword *kw,
                  const char *value, char *err, size_t errlen)
{
    char **sp = (char **)((char *)cfg + kw->offset);
    int *ip = (int *)((char *)cfg + kw->offset);
    char *end;
    long v;

    if (!sk_utf8_valid(value, strlen(value))) {
        snprintf(err, errlen, "%s: value is not valid UTF-8", kw->name);
        return SK_ERR_INVALID;
    }
    switch (kw->type) {
    case KW_PATH:
        if (value[0] != '/') {
            snprintf(err, errlen, "%s: path must be absolute", kw->name);
            return SK_ERR_INVALID;
        }
        if (strlen(value) >= PATH_MAX) {
            snprintf(err, errlen, "%s: path too long", kw->name);
            return SK_ERR_INVALID;
        }
        /* FALLTHROUGH */
    case KW_STRING:
    case KW_LOGLEVEL:
    case KW_FACTOR:
    case KW_STARTUPS:
    case KW_NETBLOCK:
    case KW_KEX:
    case KW_CIPHERS:
    case KW_MACS:
    case KW_HOSTKEYS:
    case KW_LANG:
        if (value[0] == '\0') {
            snprintf(err, errlen, "%s: empty value", kw->name);
            return SK_ERR_INVALID;
        }
        if (kw->type == KW_LOGLEVEL && sk_log_level_parse(value) < 0) {
            snprintf(err, errlen,
                     "%s: '%s' is not one of error, info, verbose, debug",
                     kw->name, value);
            return SK_ERR_INVALID;
        }
        if (kw->type == KW_STARTUPS) {
            int a, b, c;

            if (sk_startups_parse(value, &a, &b, &c) != 0) {
                snprintf(err, errlen,
                         "%s: '%s' is not N or start:rate:full (1 <= start "
                         "<= full, rate 0-100)",
                         kw->name, value);
                return SK_ERR_INVALID;
            }
        }
        if (kw->type == KW_NETBLOCK) {
            int a, b;

            if (sk_netblock_parse(value, &a, &b) != 0) {
                snprintf(err, errlen,
                         "%s: '%s' is not V4:V6 prefix lengths (0-32:0-128)",
                         kw->name, value);
                return SK_ERR_INVALID;
            }
        }
        if (kw->type == KW_LANG && !sk_lang_valid(value)) {
            snprintf(err, errlen, "%s: '%s' is not en or ja", kw->name,
                     value);
            return SK_ERR_INVALID;
        }
        if (kw->type == KW_FACTOR && strcmp(value, "totp") != 0 &&
            strcmp(value, "none") != 0) {
            snprintf(err, errlen, "%s: '%s' is not totp or none", kw->name,
                     value);
            return SK_ERR_INVALID;
        }
        if (kw->type == KW_KEX || kw->type == KW_CIPHERS ||
            kw->type == KW_MACS || kw->type == KW_HOSTKEYS) {
            char why[200];
            int r = sk_algos_check(algo_kind(kw->type), value, why,
                                   sizeof(why));

            if (r == SK_ERR_ALLOC) {
                return r;
            }
            if (r != 0) {
                snprintf(err, errlen, "%s: %s", kw->name, why);
                return SK_ERR_INVALID;
            }
        }
        free(*sp);
        if ((*sp = strdup(value)) == NULL) {
            return SK_ERR_ALLOC;
        }
        return 0;
    case KW_INT:
        errno = 0;
        v = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0 || v < kw->min ||
            v > kw->max) {
            snprintf(err, errlen, "%s: '%s' is not a whole number from %ld "
                     "to %ld", kw->name, value, kw->min, kw->max);
            return SK_ERR_INVALID;
        }
        *ip = (int)v;
        return 0;
    case KW_BOOL:
        if (bool_parse(value, ip) != 0) {
            snprintf(err, errlen, "%s: '%s' is not yes or no", kw->name,
                     value);
            return SK_ERR_INVALID;
        }
        return 0;
    }
    return SK_ERR_INTERNAL;
}

static int cfg_ini_handler(void *user, const char *section, const char *name,
                       const char *value)
{
    struct load_ctx *ctx = user;
    const struct keyword *kw;
    size_t idx;

    if (ctx->err[0] != '\0') {
        return 1; /* keep the first error only */
    }
    ctx->err_line = ctx->line;
    if (name == NULL) {
        return 1; /* section start (INI_CALL_HANDLER_ON_NEW_SECTION) */
    }
    if (section[0] == '\0') {
        snprintf(ctx->err, sizeof(ctx->err),
                 "key '%.64s' outside a [section]", name);
        return 0;
    }
    if (!section_known(section)) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown section [%.64s]",
                 section);
        return 0;
    }
    if ((kw = kw_find(section, name, &idx)) == NULL) {
        snprintf(ctx->err, sizeof(ctx->err), "unknown key '%.64s' in [%s]",
                 name, section);
        return 0;
    }
    if (ctx->seen[idx]) {
        snprintf(ctx->err, sizeof(ctx->err), "duplicate key '%s'", name);
        return 0;
    }
    ctx->seen[idx] = 1;
    if (kw_set(ctx->cfg, kw, value, ctx->err, sizeof(ctx->err)) != 0) {
        if (ctx->err[0] == '\0') {
            snprintf(ctx->err, sizeof(ctx->err), "%s: out of memory", name);
        }
        return 0;
    }
    return 1;
}

static int path_default(char **field, const char *dir, const char *file)
{
    if (*field != NULL) {
        return 0;
    }
    if (asprintf(field, "%s/%s", dir, file) < 0) {
        *field = NULL;
        return SK_ERR_ALLOC;
    }
    return 0;
}

/* egress_from lands inside a quoted authorized_keys option: only the
 * characters of addresses, prefixes and commas may appear (the CIDR
 * syntax of each item is checked where the line is printed, which links
 * the policy code). Unset, it is the listen address when that names one
 * host, since a wildcard says nothing about where the gateway connects
 * from. */
static int egress_from_finish(struct sk_config *cfg, const char *path,
                              char *err, size_t errlen)
{
    char host[256];
    int port;

    if (cfg->egress_from != NULL) {
        const char *v = cfg->egress_from;

        if (strcmp(v, "any") != 0 &&
            (strspn(v, "0123456789abcdefABCDEF.:/,") != strlen(v) ||
             v[0] == ',' || v[strlen(v) - 1] == ',' ||
             strstr(v, ",,") != NULL || strlen(v) > 1024)) {
            if (err != NULL) {
                snprintf(err, errlen,
                         "%s: [gateway] egress_from: '%.64s' is not a "
                         "comma-separated address/CIDR list",
                         path, v);
            }
            return SK_ERR_INVALID;
        }
        return 0;
    }
    if (sk_hostport_parse(cfg->listen, host, sizeof(host), &port) != 0 ||
        strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
        host[0] == '\0' ||
        strspn(host, "0123456789abcdefABCDEF.:") != strlen(host)) {
        return 0; /* a wildcard or a name: no guess */
    }
    if ((cfg->egress_from = strdup(host)) == NULL) {
        return SK_ERR_ALLOC;
    }
    return 0;
}

int sk_config_load(const char *path, struct sk_config **out, char *err,
                   size_t errlen)
{
    struct load_ctx ctx;
    struct sk_config *cfg;
    size_t i;
    int line, r;
    char tmp[256];

    *out = NULL;
    if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
        return SK_ERR_ALLOC;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = cfg;
    if ((cfg->path = strdup(path)) == NULL) {
        r = SK_ERR_ALLOC;
        goto fail;
    }
    if ((ctx.f = fopen(path, "re")) == NULL) {
        if (err != NULL) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        }
        r = SK_ERR_SYSTEM;
        goto fail;
    }
    line = ini_parse_stream(cfg_reader, &ctx, cfg_ini_handler, &ctx);
    fclose(ctx.f);
    if (line < 0) {
        if (err != NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
        }
        r = SK_ERR_ALLOC;
        goto fail;
    }
    if (line > 0) {
        if (err != NULL) {
            snprintf(err, errlen, "%s:%d: %s", path, line,
                     ctx.err[0] && ctx.err_line == line
                         ? ctx.err
                         : "syntax error (expected [section] or "
                           "key = value)");
        }
        r = SK_ERR_INVALID;
        goto fail;
    }
    for (i = 0; i < NKEYWORDS; i++) {
        if (!ctx.seen[i] && keywords[i].def != NULL) {
            if (kw_set(cfg, &keywords[i], keywords[i].def, tmp,
                       sizeof(tmp)) != 0) {
                /* Only an algorithm default can fail, with a libssh that
                 * lacks it (a FIPS mode, another build): say which. */
                if (err != NULL) {
                    snprintf(err, errlen,
                             "%s: the default of %s is not usable with "
                             "this libssh (%s); set %s",
                             path, keywords[i].name, tmp, keywords[i].name);
                }
                r = SK_ERR_INTERNAL;
                goto fail;
            }
        }
    }
    if (cfg->state_dir == NULL) {
        if (err != NULL) {
            snprintf(err, errlen, "%s: [gateway] state_dir is required",
                     path);
        }
        r = SK_ERR_INVALID;
        goto fail;
    }
    if ((r = path_default(&cfg->host_key, cfg->state_dir,
                          "host_ed25519_key")) != 0 ||
        (r = path_default(&cfg->egress_key, cfg->state_dir, "egress_key")) !=
            0 ||
        (r = path_default(&cfg->audit_log, cfg->state_dir, "audit.log")) !=
            0 ||
        (r = path_default(&cfg->totp_key, cfg->state_dir, "totp.key")) !=
            0 ||
        (r = path_default(&cfg->pam_dir, cfg->state_dir, "pam.d")) != 0 ||
        (r = path_default(&cfg->transcript_dir, cfg->state_dir,
                          "transcripts")) != 0 ||
        (r = path_default(&cfg->signing_key, cfg->state_dir,
                          "signing_key")) != 0 ||
        (r = path_default(&cfg->signing_pubkeys, cfg->state_dir,
                          "signing_key.pub")) != 0 ||
        (r = path_default(&cfg->auditor_pubkeys, cfg->state_dir,
                          "auditor.pub")) != 0 ||
        (r = path_default(&cfg->auditor_key, cfg->state_dir,
                          "auditor.key")) != 0) {
        goto fail;
    }
    {
        /* A zone name must name a zone: a typo would silently mean UTC. */
        char zf[300];
        const char *z = cfg->timezone;
        size_t zi;

        for (zi = 0; z[zi] != '\0'; zi++) {
            if (!((z[zi] >= 'A' && z[zi] <= 'Z') ||
                  (z[zi] >= 'a' && z[zi] <= 'z') ||
                  (z[zi] >= '0' && z[zi] <= '9') ||
                  strchr("/_+-", z[zi]) != NULL)) {
                break;
            }
        }
        snprintf(zf, sizeof(zf), "/usr/share/zoneinfo/%s", z);
        if (z[zi] != '\0' || zi > 64 || strstr(z, "..") != NULL ||
            access(zf, R_OK) != 0) {
            if (err != NULL) {
                snprintf(err, errlen,
                         "%s: [policy] timezone: '%s' is not a known time "
                         "zone",
                         path, z);
            }
            r = SK_ERR_INVALID;
            goto fail;
        }
    }
    {
        /* The rule every user without one of their own follows. Unless
         * second_factor = none, each alternative needs two factors. */
        char why[256];
        int min = sk_config_min_factors(cfg);

        if (cfg->methods == NULL &&
            (cfg->methods = strdup(min >= 2 ? "password+totp"
                                            : "password")) == NULL) {
            r = SK_ERR_ALLOC;
            goto fail;
        }
        if (sk_methods_parse(cfg->methods, min, &cfg->methods_rule, why,
                             sizeof(why)) != 0) {
            if (err != NULL) {
                snprintf(err, errlen, "%s: [auth] methods: %s", path, why);
            }
            r = SK_ERR_INVALID;
            goto fail;
        }
    }
    /* Validated when set; the defaults are valid too. */
    if (sk_startups_parse(cfg->max_startups, &cfg->startups_start,
                          &cfg->startups_rate, &cfg->startups_full) != 0 ||
        sk_netblock_parse(cfg->per_source_netblock, &cfg->netblock_v4,
                          &cfg->netblock_v6) != 0) {
        r = SK_ERR_INTERNAL;
        goto fail;
    }
    if (sk_min_free_parse(cfg->transcript_min_free, &cfg->min_free_mib,
                          &cfg->min_free_pct) != 0) {
        if (err != NULL) {
            snprintf(err, errlen,
                     "%s: [recorder] transcript_min_free: '%s' is not MiB "
                     "(0-1048576) or a percentage (0-90%%)",
                     path, cfg->transcript_min_free);
        }
        r = SK_ERR_INVALID;
        goto fail;
    }
    {
        char host[256];
        int port;

        if (sk_hostport_parse(cfg->listen, host, sizeof(host), &port) != 0) {
            if (err != NULL) {
                snprintf(err, errlen,
                         "%s: [gateway] listen: '%s' is not ADDR:PORT", path,
                         cfg->listen);
            }
            r = SK_ERR_INVALID;
            goto fail;
        }
    }
    if ((r = egress_from_finish(cfg, path, err, errlen)) != 0) {
        goto fail;
    }
    *out = cfg;
    return 0;
fail:
    sk_config_free(cfg);
    return r;
}

int sk_min_free_parse(const char *v, int64_t *mib, int *pct)
{
    char *end = NULL;
    long long n;

    if (v == NULL || v[0] < '0' || v[0] > '9') {
        return SK_ERR_INVALID;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0) {
        return SK_ERR_INVALID;
    }
    if (strcmp(end, "%") == 0) {
        if (n > 90) {
            return SK_ERR_INVALID;
        }
        *pct = (int)n;
        *mib = 0;
        return 0;
    }
    if (*end != '\0' || n > 1048576) {
        return SK_ERR_INVALID;
    }
    *mib = n;
    *pct = 0;
    return 0;
}

int sk_min_free_check(const struct sk_config *cfg, const char *dir,
                      uint64_t *avail, uint64_t *need)
{
    struct statvfs vfs;

    if (statvfs(dir, &vfs) != 0) {
        return SK_ERR_SYSTEM;
    }
    /* f_bavail: what an unprivileged writer could still use; the root
     * reserve is not ours to count on. */
    *avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (cfg->min_free_pct > 0) {
        *need = (uint64_t)vfs.f_blocks * vfs.f_frsize / 100 *
                (uint64_t)cfg->min_free_pct;
    } else {
        *need = (uint64_t)cfg->min_free_mib * 1024 * 1024;
    }
    return *avail >= *need ? 1 : 0;
}

int sk_config_min_factors(const struct sk_config *cfg)
{
    return strcmp(cfg->second_factor, "none") == 0 ? 1 : 2;
}

void sk_config_free(struct sk_config *cfg)
{
    size_t i;

    if (cfg == NULL) {
        return;
    }
    for (i = 0; i < NKEYWORDS; i++) {
        if (keywords[i].type != KW_INT && keywords[i].type != KW_BOOL) {
            free(*(char **)((char *)cfg + keywords[i].offset));
        }
    }
    free(cfg->path);
    free(cfg);
}

static const char *kw_type_name(enum kw_type t)
{
    switch (t) {
    case KW_PATH:
        return "path";
    case KW_INT:
        return "integer";
    case KW_BOOL:
        return "yes or no";
    case KW_LOGLEVEL:
        return "error, info, verbose or debug";
    case KW_FACTOR:
        return "totp or none";
    case KW_LANG:
        return "en or ja";
    case KW_STARTUPS:
        return "start:rate:full, or N";
    case KW_NETBLOCK:
        return "V4:V6 prefix lengths";
    case KW_KEX:
    case KW_CIPHERS:
    case KW_MACS:
    case KW_HOSTKEYS:
        return "comma-separated algorithm names";
    default:
        return "text";
    }
}

void sk_config_reference(FILE *f)
{
    const char *section = "";
    size_t i;

    fprintf(f, "# Configuration reference: sekisho.conf\n\n"
               "<!-- Generated by `sekishoctl config-reference` from the "
               "keyword table in\n     gateway/core/config.c; do not edit "
               "(tests/integration t_config_reference\n     compares). -->"
               "\n\n"
               "An INI file (`key = value` under `[section]`) that every "
               "program reads\nwith `-c CONFIG`. An unknown section or "
               "key, or a value out of range,\nstops every program with "
               "the file and line. `sekishod -T -c CONFIG`\nprints the "
               "effective values.\n");
    for (i = 0; i < NKEYWORDS; i++) {
        const struct keyword *kw = &keywords[i];

        if (strcmp(section, kw->section) != 0) {
            section = kw->section;
            fprintf(f, "\n## [%s]\n", section);
        }
        fprintf(f, "\n### `%s`\n\n%s.\n\n- type: %s", kw->name, kw->help,
                kw_type_name(kw->type));
        if (kw->type == KW_INT) {
            fprintf(f, ", %ld to %ld", kw->min, kw->max);
        }
        if (kw->def != NULL) {
            fprintf(f, "\n- default: `%s`\n", kw->def);
        } else {
            fprintf(f, "\n- default: none, or derived as the text says\n");
        }
    }
}

void sk_config_dump(const struct sk_config *cfg, FILE *f)
{
    const char *section = "";
    size_t i;

    for (i = 0; i < NKEYWORDS; i++) {
        const struct keyword *kw = &keywords[i];
        const void *p = (const char *)cfg + kw->offset;

        if (strcmp(section, kw->section) != 0) {
            section = kw->section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        switch (kw->type) {
        case KW_INT:
            fprintf(f, "%s = %d\n", kw->name, *(const int *)p);
            break;
        case KW_BOOL:
            fprintf(f, "%s = %s\n", kw->name, *(const int *)p ? "yes" : "no");
            break;
        default:
            if (*(char *const *)p != NULL) {
                fprintf(f, "%s = %s\n", kw->name, *(char *const *)p);
            } else {
                fprintf(f, "# %s (not set)\n", kw->name);
            }
        }
    }
}

int sk_config_write_initial(const char *path, const char *state_dir,
                            const char *listen)
{
    char *text = NULL, *p;
    size_t len = 0, i;
    FILE *f;
    const char *section = "";
    int r;

    if ((f = open_memstream(&text, &len)) == NULL) {
        return SK_ERR_ALLOC;
    }
    fprintf(f, "# Sekisho gateway configuration. Every keyword is listed with "
               "its default;\n# `sekishod -c THIS -T` prints the effective "
               "configuration.\n");
    for (i = 0; i < NKEYWORDS; i++) {
        const struct keyword *kw = &keywords[i];

        if (strcmp(section, kw->section) != 0) {
            section = kw->section;
            fprintf(f, "\n[%s]\n", section);
        }
        fprintf(f, "# %s\n", kw->help);
        if (strcmp(kw->name, "state_dir") == 0) {
            fprintf(f, "state_dir = %s\n", state_dir);
        } else if (strcmp(kw->name, "listen") == 0) {
            fprintf(f, "listen = %s\n", listen);
        } else {
            fprintf(f, "#%s = %s\n", kw->name, kw->def ? kw->def : "");
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return SK_ERR_ALLOC;
    }
    p = text;
    r = sk_file_write_new(path, p, len, 0640);
    free(text);
    return r;
}
