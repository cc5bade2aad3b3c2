/*
 * The gateway state: users, targets with pinned host keys, grants and the
 * session index. All SQL lives behind this interface (store-sqlite.c now; a
 * PostgreSQL backend later implements the same functions).
 *
 * Every call blocks on the database (SQLite waits up to 5 s for a lock).
 * Every call returns 0 or a negative SK_ERR_*: SK_ERR_NOT_FOUND when the
 * named object does not exist, SK_ERR_EXISTS on a duplicate name,
 * SK_ERR_STORE when the database fails (callers fail closed).
 * Strings in returned structs are owned by the struct: release with the
 * matching _clear() function.
 */
#ifndef SK_STORE_H
#define SK_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct sk_store sk_store;

#define SK_STORE_CREATE 1 /* create the database if missing */

/* Opens (and migrates to the current schema) the database at path.
 * SK_ERR_SCHEMA_NEWER if a newer program wrote it (nothing is changed);
 * SK_ERR_STORE on any other failure. */
int sk_store_open(const char *path, int flags, sk_store **out);
void sk_store_close(sk_store *st);
/* Schema version of an open store. */
int sk_store_schema_version(sk_store *st);
/* 1 if the rules may have changed since this connection last asked
 * (sk_store_policy_gen moved; or first call, or the file cannot be
 * looked at), 0 if not. Every connection that commits a change to
 * policy_gen appends a byte to DB-policy next to the database, after the
 * commit; this looks at its size with stat(2), without the locks a read
 * of the database takes, whose cost grows with the processes holding it
 * open (a monitor per held session). A writer that is not this store
 * (the sqlite3 shell) or that could not write the file announces
 * nothing: a reader that relies on this reads policy_gen anyway every so
 * often. */
int sk_store_policy_moved(sk_store *st);
/* A number that moves with every committed change, by anyone, to what
 * can end a running session: an account (not its last login or last
 * one-time code), a target, a grant, a group or its members or grants,
 * a request or its votes, a kill request: a reader that finds it
 * unmoved need not read the rules again. Returns 0 or SK_ERR_STORE. */
int sk_store_policy_gen(sk_store *st, int64_t *out);
/* The version the database had when sk_store_open found it (0: new);
 * less than sk_store_schema_version() if that open migrated it. The
 * caller logs and audits the migration (the store never logs). */
int sk_store_schema_found(sk_store *st);
/* The schema version this program writes. */
int sk_store_schema_latest(void);

enum sk_user_status {
    SK_USER_ACTIVE = 0,
    SK_USER_LOCKED = 1,
    SK_USER_DISABLED = 2,
};

struct sk_user {
    int64_t id;
    char *name;
    char *role; /* maintainer, approver, admin, auditor */
    char *pw_hash; /* argon2id string (parameters embedded); may be NULL */
    int64_t pw_changed;
    int status;
    int64_t created;
    int64_t last_login; /* 0: never */
    int64_t locked_until; /* lockout after failures ends then; 0: none */
    char *sources; /* allowed source CIDRs, space-separated; NULL: any */
    int64_t expires; /* the account ends then; 0: never */
    int pw_by_admin; /* the current password was set by an administrator */
    char *methods; /* the user's own method rule (methods.h); NULL: global */
    int64_t removed; /* when the account was removed; 0: it was not */
    char *removed_by; /* who removed it; NULL if not removed */
};
void sk_user_clear(struct sk_user *u);

int sk_store_user_add(sk_store *st, const char *name, const char *role,
                      const char *pw_hash, time_t now);
int sk_store_user_get(sk_store *st, const char *name, struct sk_user *out);
/* Replaces the password hash; the old one joins the history, which keeps
 * the newest `keep` entries. */
int sk_store_user_set_password(sk_store *st, const char *name,
                               const char *pw_hash, time_t now, int keep);
/* Calls cb with each earlier hash of name, newest first; stops early if
 * cb returns != 0. */
int sk_store_password_history(sk_store *st, const char *name,
                              int (*cb)(const char *, void *), void *arg);
/* SK_ERR_NOT_FOUND for a removed account too (it stays disabled). */
int sk_store_user_set_status(sk_store *st, const char *name, int status);
/* Sets the role set (roles.h: comma-separated, canonical order; the
 * schema's CHECK refuses anything else, a non-canonical order included:
 * SK_ERR_INVALID);
 * SK_ERR_NOT_FOUND if no such live account. */
int sk_store_user_set_role(sk_store *st, const char *name, const char *role);
/* Removes the account for good: disabled, credentials, keys, grants,
 * group memberships and password history deleted, `removed` and
 * `removed_by` set. The row stays, so sessions, requests and audit lines
 * keep naming it and the name is not taken again. SK_ERR_NOT_FOUND if no
 * such account or already removed. */
int sk_store_user_remove(sk_store *st, const char *name, const char *by,
                         time_t now);
/* Marks the password as expired: the next login must change it. */
int sk_store_user_expire_password(sk_store *st, const char *name);
int sk_store_user_touch_login(sk_store *st, const char *name, time_t now);
/* Records a failed login of user from source at now, forgets failures
 * older than since, and returns in *count the user's failures since
 * since. */
int sk_store_auth_failure(sk_store *st, const char *user, const char *source,
                          time_t now, time_t since, int *count);
int sk_store_auth_failures_clear(sk_store *st, const char *user);
/* Failed logins (of any user, unknown ones included) from source since
 * since. */
int sk_store_source_failures(sk_store *st, const char *source, time_t since,
                             int *count);
/* Sets (0: clears) the end of a lockout. */
int sk_store_user_lock_until(sk_store *st, const char *name, int64_t until);
/* Sets the sealed TOTP secret (and forgets the last used step). */
int sk_store_user_set_totp(sk_store *st, const char *name,
                           const uint8_t *sealed, size_t len);
/* Copies the sealed TOTP secret into out; SK_ERR_NOT_FOUND if the user
 * has none (or does not exist). */
int sk_store_user_get_totp(sk_store *st, const char *name, uint8_t *out,
                           size_t outlen, size_t *len);
/* Records that TOTP step was used. SK_ERR_DENIED if that step or a later
 * one was already used (replay), atomically. */
int sk_store_user_totp_use(sk_store *st, const char *name, uint64_t step);
/* Account expiry (0: never). */
int sk_store_user_set_expires(sk_store *st, const char *name, int64_t when);

/* The user's own method rule (methods.h text, checked by the caller);
 * NULL returns them to the global rule. */
int sk_store_user_set_methods(sk_store *st, const char *name,
                              const char *methods);

/* The user's own language (i18n.h sk_lang_valid, checked by the caller),
 * read when their client sends no LANG; NULL returns them to the
 * gateway's. get writes "" for none. SK_ERR_NOT_FOUND for no such user. */
int sk_store_user_set_lang(sk_store *st, const char *name, const char *lang);
int sk_store_user_get_lang(sk_store *st, const char *name, char *out,
                           size_t outlen);

/* Public keys and FIDO2 security keys of users. key is the canonical
 * "TYPE BASE64" form; a key belongs to at most one user (SK_ERR_EXISTS
 * otherwise: IDs are personal, R-ID-1). */
struct sk_user_key {
    const char *user;
    const char *key;
    const char *fingerprint; /* SHA256:... */
    const char *comment;
    int64_t added;
    const char *added_by;
    int64_t last_used; /* 0: never */
};
int sk_store_user_key_add(sk_store *st, const char *user, const char *key,
                          const char *fingerprint, const char *comment,
                          const char *by, time_t now);
/* SK_ERR_NOT_FOUND if user has no key with that fingerprint. */
int sk_store_user_key_remove(sk_store *st, const char *user,
                             const char *fingerprint);
/* 0 and the fingerprint if key is registered to user; SK_ERR_NOT_FOUND if
 * not. */
int sk_store_user_key_find(sk_store *st, const char *user, const char *key,
                           char *fingerprint, size_t fplen);
int sk_store_user_key_used(sk_store *st, const char *key, time_t now);
/* Records that a publickey signature was accepted for the session id
 * whose hash (text) is given. Returns 0 the first time, SK_ERR_EXISTS if
 * that session id was claimed before (a replay), or SK_ERR_STORE. */
int sk_store_session_id_claim(sk_store *st, const char *hash, time_t now);
/* Calls cb for each key of user (all users if NULL); the strings live
 * only during the call. cb returns 0 to go on, 1 to stop, or < 0. */
int sk_store_user_key_list(sk_store *st, const char *user,
                           int (*cb)(const struct sk_user_key *, void *),
                           void *arg);
/* Records who set the current password (1: an administrator). */
int sk_store_user_pw_by_admin(sk_store *st, const char *name, int by_admin);
/* Sets the allowed source CIDRs (space-separated, validated by the
 * caller; NULL: from anywhere). */
int sk_store_user_set_sources(sk_store *st, const char *name,
                              const char *sources);
/* Calls cb for each user in name order; stops early if cb returns != 0. */
int sk_store_user_list(sk_store *st,
                       int (*cb)(const struct sk_user *, void *), void *arg);

struct sk_target {
    int64_t id;
    char *name;
    char *host;
    int port;
    char *login;
    char *host_key; /* pinned key, "TYPE BASE64" */
    int64_t created;
    char *key_group; /* egress key group (egress.h); NULL on add: default */
};
void sk_target_clear(struct sk_target *t);

int sk_store_target_add(sk_store *st, const struct sk_target *t, time_t now);
int sk_store_target_get(sk_store *st, const char *name, struct sk_target *out);
int sk_store_target_remove(sk_store *st, const char *name);
/* Moves target name to egress key group group. Returns 0 or
 * SK_ERR_NOT_FOUND. */
int sk_store_target_set_key_group(sk_store *st, const char *name,
                                  const char *group);
/* Records that the egress key signed the session identifier whose hash
 * (hex) is id_hash, for target. Returns 0 the first time, SK_ERR_EXISTS
 * if any monitor has recorded it before (atomic across processes), or
 * SK_ERR_STORE. */
int sk_store_egress_claim(sk_store *st, const char *id_hash,
                          const char *target, time_t now);
int sk_store_target_list(sk_store *st,
                         int (*cb)(const struct sk_target *, void *),
                         void *arg);

struct sk_grant {
    int64_t id;
    char *user;
    char *target;
    int allow_exec;
    int64_t valid_until; /* 0: no end */
    int64_t created;
    char *created_by;
    char *window;        /* time-of-day rule (policy/window.h); NULL: any */
    int64_t max_session; /* seconds; 0: no limit */
    char *reason;        /* why it was given (R-AC-4); NULL: not recorded */
};
void sk_grant_clear(struct sk_grant *g);

/* Adds or replaces the grant for (user, target). */
int sk_store_grant_add(sk_store *st, const struct sk_grant *g, time_t now);
int sk_store_grant_remove(sk_store *st, const char *user, const char *target);
/* Grants of user (all users if NULL), ordered by user then target. */
int sk_store_grant_list(sk_store *st, const char *user,
                        int (*cb)(const struct sk_grant *, void *), void *arg);

struct sk_session_rec {
    char *id;
    char *user;
    char *source;
    char *target;
    char *login;
    char *mode; /* shell, exec, command */
    int64_t start;
    int64_t end; /* 0: still open or crashed */
    int64_t bytes_in;
    int64_t bytes_out;
    int exit_status; /* -1: none */
    char *end_reason;
    char *transcript;      /* file path */
    char *transcript_hash; /* hex chain value of the seal; NULL: unsealed */
    int purged;            /* transcript removed by retention */
    int64_t request_id;    /* the work request it ran under; 0: a grant */
};
void sk_session_rec_clear(struct sk_session_rec *s);

int sk_store_session_start(sk_store *st, const struct sk_session_rec *s);
int sk_store_session_end(sk_store *st, const struct sk_session_rec *s);
int sk_store_session_list(sk_store *st,
                          int (*cb)(const struct sk_session_rec *, void *),
                          void *arg);
/* Calls cb once with session id's row: 0, SK_ERR_NOT_FOUND if there is
 * no such session, or another negative SK_ERR_*. One indexed row, for
 * the commands that name one session (replay, export, watch, verify). */
int sk_store_session_get(sk_store *st, const char *id,
                         int (*cb)(const struct sk_session_rec *, void *),
                         void *arg);
/* 1 if session id is running, 0 if it has ended or there is no such
 * session, or a negative SK_ERR_*. One row: for pollers (session
 * watch), where loading the whole list each time would not scale. */
int sk_store_session_running(sk_store *st, const char *id);

/* Work requests (access asked for, approved, reported, signed off). */
struct sk_request {
    int64_t id;
    char *user;
    char *target;
    char *reason;
    char *ticket; /* may be NULL */
    int64_t start, end; /* the access window asked for */
    int64_t created;
    char *state; /* pending, approved, denied, reported, signed_off */
    char *decided_by; /* who made it approved or denied */
    int64_t decided;
    char *report; /* the maintainer's completion report */
    int64_t reported;
    char *signed_off_by;
    int64_t signed_off;
    int approvals; /* approve votes so far */
};
void sk_request_clear(struct sk_request *r);

int sk_store_request_add(sk_store *st, const struct sk_request *r,
                         int64_t *id);
int sk_store_request_get(sk_store *st, int64_t id, struct sk_request *out);
/* Requests of user (all if NULL), newest first. */
int sk_store_request_list(sk_store *st, const char *user,
                          int (*cb)(const struct sk_request *, void *),
                          void *arg);
/* Records a vote. SK_ERR_EXISTS if approver already voted. */
int sk_store_request_vote(sk_store *st, int64_t id, const char *approver,
                          const char *decision, time_t now);
/* Calls cb(approver, decision, time) for each vote, oldest first. */
int sk_store_request_votes(sk_store *st, int64_t id,
                           int (*cb)(const char *, const char *, int64_t,
                                     void *),
                           void *arg);
/* Moves the request from state `from` to `to` atomically (SK_ERR_NOT_FOUND
 * if it is not in `from` any more), recording by/text in the columns the
 * new state uses (decided_by; report; signed_off_by). */
int sk_store_request_transition(sk_store *st, int64_t id, const char *from,
                                const char *to, const char *by,
                                const char *text, time_t now);

/* Groups: a name, members, a source restriction, grants of their own. */
int sk_store_group_add(sk_store *st, const char *name, const char *by,
                       time_t now);
int sk_store_group_remove(sk_store *st, const char *name);
int sk_store_group_set_sources(sk_store *st, const char *name,
                               const char *sources);
/* add: 1 to add user to group, 0 to remove. SK_ERR_NOT_FOUND if either
 * does not exist (or, removing, the user was not a member); SK_ERR_EXISTS
 * if already a member. */
int sk_store_group_member(sk_store *st, const char *group, const char *user,
                          int add);
/* Groups (of user, or all if NULL): cb(name, sources or NULL, members
 * space-separated or NULL). */
int sk_store_group_list(sk_store *st, const char *user,
                        int (*cb)(const char *, const char *, const char *,
                                  void *),
                        void *arg);
int sk_store_group_grant_add(sk_store *st, const char *group,
                             const struct sk_grant *g, time_t now);
int sk_store_group_grant_remove(sk_store *st, const char *group,
                                const char *target);
/* Grants through groups, g->user being "@GROUP"; with user, only those
 * of the groups user belongs to. */
int sk_store_group_grant_list(sk_store *st, const char *user,
                              int (*cb)(const struct sk_grant *, void *),
                              void *arg);

/* Asks the session's monitor to end it (seen within its 2 s recheck).
 * SK_ERR_NOT_FOUND if no such open session. */
int sk_store_session_kill(sk_store *st, const char *id, const char *reason);
/* The pending kill reason of a session (*out NULL if none; caller
 * frees). */
int sk_store_session_kill_reason(sk_store *st, const char *id, char **out);
/* Marks a session's transcript as removed by retention. */
int sk_store_session_purged(sk_store *st, const char *id);

#endif
