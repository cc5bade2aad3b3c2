/*
 * Gateway configuration (INI, parsed by libinih). Every keyword is defined
 * once, in the table in config.c, which yields the parser, the defaults and
 * the effective-config dump (sekishod -T).
 */
#ifndef SK_CONFIG_H
#define SK_CONFIG_H

#include "methods.h"

#include <stdint.h>
#include <stdio.h>

/* The configuration every program reads when -c is not given (the Debian
 * package's conffile). CMake may set another one (-DSK_DEFAULT_CONFIG=). */
#ifndef SK_DEFAULT_CONFIG
#define SK_DEFAULT_CONFIG "/etc/sekisho/sekisho.conf"
#endif

struct sk_config {
    char *path; /* the file this was read from */
    /* [gateway] */
    char *listen;
    char *state_dir;
    char *host_key;
    char *egress_key;
    char *egress_from; /* from= list for egress-key lines; NULL: unknown */
    char *audit_log;
    int audit_rotate_size; /* KiB, 0: none */
    int audit_rotate_days; /* 0: none */
    char *worker_user;
    char *session_program;
    char *log_level;
    char *gateway_id;
    char *language;   /* sk_lang_valid: pre-login prompts, default */
    char *locale_dir; /* message catalogues */
    char *max_startups; /* "start:rate:full", parsed into: */
    int startups_start, startups_rate, startups_full;
    int per_source_max_startups;
    char *per_source_netblock; /* "V4:V6", parsed into: */
    int netblock_v4, netblock_v6;
    int banner_timeout;
    int max_pending;
    /* SSH algorithms offered to clients, and (kex, ciphers, macs) to
     * targets; comma-separated, checked against libssh and a deny list */
    char *kex_algorithms;
    char *ciphers;
    char *macs;
    char *host_key_algorithms;
    int max_sessions;
    int login_grace_time;
    int max_auth_tries;
    int connect_timeout;
    int sandbox_debug;
    int backup_generations;
    /* [auth] */
    char *second_factor; /* "totp" or "none" */
    char *methods;       /* the global method rule (text) */
    struct sk_methods methods_rule; /* ... parsed */
    char *pam_service;
    char *pam_dir;
    char *totp_key;
    int password_max_age;
    int password_history;
    int password_min_age;
    int lockout_threshold;
    int lockout_window;
    int lockout_duration;
    int source_threshold;
    /* [recorder] */
    char *transcript_dir;
    char *signing_key;
    char *signing_pubkeys; /* space-separated files */
    char *auditor_pubkeys; /* space-separated files */
    char *auditor_key;
    int checkpoint_interval;
    int retention_min_days;
    char *transcript_min_free; /* "MiB" or "N%", parsed into: */
    int64_t min_free_mib;
    int min_free_pct;
    /* [policy] */
    char *timezone;
    int approvals_required;
    char *notify_command;
    int idle_timeout;
    int grant_reason_required;
};

/* Parses a transcript_min_free value: "N" MiB (0..1048576) or "N%"
 * (0..90). Returns 0 with one of *mib / *pct set (the other 0), or
 * SK_ERR_INVALID. */
int sk_min_free_parse(const char *v, int64_t *mib, int *pct);

/* Free space of the file system holding dir against transcript_min_free:
 * *avail and *need in bytes. Returns 1 if avail >= need, 0 if below, or
 * SK_ERR_SYSTEM (errno set) if statvfs fails. Does not block beyond it. */
int sk_min_free_check(const struct sk_config *cfg, const char *dir,
                      uint64_t *avail, uint64_t *need);

/* Factors each alternative of a method rule must have: 2, or 1 with
 * second_factor = none. */
int sk_config_min_factors(const struct sk_config *cfg);

/* Reads path. On success returns 0 and a new config in *out (free with
 * sk_config_free). On failure returns a negative SK_ERR_* and, if err is
 * not NULL, writes a message naming the file, line and key into err. */
int sk_config_load(const char *path, struct sk_config **out, char *err,
                   size_t errlen);
void sk_config_free(struct sk_config *cfg);

/* Writes the effective configuration, every keyword with its value, as
 * INI that sk_config_load accepts. */
void sk_config_dump(const struct sk_config *cfg, FILE *f);

/* Writes the configuration reference, markdown: every keyword by section
 * with its type, default (or how it is derived), range and help text,
 * from the keyword table (docs/config.md is this output). */
void sk_config_reference(FILE *f);

/* Writes a new config file for `sekishoctl init`: state_dir and listen
 * set, everything else commented with its default. Returns 0 or
 * SK_ERR_*. */
int sk_config_write_initial(const char *path, const char *state_dir,
                            const char *listen);

#endif
