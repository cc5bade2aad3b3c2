#include "store.h"
#include "sk-err.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sk_store {
    sqlite3 *db;
    int found_version; /* schema version before this open migrated it */
    /* Rule changes announced (see sk_store_policy_moved): the file,
     * whether this connection's open transaction moved policy_gen, and
     * what stat(2) said of the file last. */
    char *ann;
    int policy_dirty;
    int ann_seen;
    struct stat ann_st;
};

/* The announcement file is cut back to nothing past this size (one byte
 * per rule change). */
#define ANN_MAX (1024 * 1024)
/* What SQLite's own autocheckpoint does (sqlite3_wal_autocheckpoint),
 * which the WAL hook below replaces. */
#define WAL_CHECKPOINT_FRAMES 1000

/* Migration 18's triggers: each change to a table the rules are read
 * from moves policy_gen (users: inserts and deletes here, updates by a
 * trigger of their own). */
#define PG_BUMP "BEGIN UPDATE policy_gen SET gen = gen + 1; END;"
#define PG_ON(t, what) \
    "CREATE TRIGGER pg_" t "_" what " AFTER " what " ON " t " " PG_BUMP
#define PG_TABLE(t, which) \
    PG_ON(t, "INSERT") PG_ON(t, "DELETE") PG_TABLE_##which(t)
#define PG_TABLE_all(t) PG_ON(t, "UPDATE")
#define PG_TABLE_ins_del(t) ""

/* Migrations, in order; the schema version is their count. Never edit a
 * released entry: add a new one. */
static const char *migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN "
    "    ('maintainer','approver','admin','auditor')),"
    "  pw_hash TEXT,"
    "  pw_changed INTEGER NOT NULL DEFAULT 0,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  last_login INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE targets ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    "  login TEXT NOT NULL,"
    "  host_key TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE grants ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,"
    "  allow_exec INTEGER NOT NULL DEFAULT 0,"
    "  valid_until INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  UNIQUE (user_id, target_id));"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  target TEXT,"
    "  login TEXT,"
    "  mode TEXT,"
    "  start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL DEFAULT 0,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0,"
    "  bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  exit_status INTEGER NOT NULL DEFAULT -1,"
    "  end_reason TEXT);"
    "CREATE INDEX sessions_start ON sessions(start);",
    /* 2: TOTP second factor (sealed secret, last accepted step) */
    "ALTER TABLE users ADD COLUMN totp_secret BLOB;"
    "ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;",
    /* 3: lockout after repeated failures */
    "ALTER TABLE users ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE auth_failures ("
    "  id INTEGER PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  time INTEGER NOT NULL);"
    "CREATE INDEX auth_failures_user ON auth_failures(user, time);",
    /* 4: password history */
    "CREATE TABLE password_history ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  pw_hash TEXT NOT NULL,"
    "  changed INTEGER NOT NULL);"
    "CREATE INDEX password_history_user ON password_history(user_id, id);",
    /* 5: transcripts */
    "ALTER TABLE sessions ADD COLUMN transcript TEXT;"
    "ALTER TABLE sessions ADD COLUMN transcript_hash TEXT;"
    "ALTER TABLE sessions ADD COLUMN kill_reason TEXT;"
    "ALTER TABLE sessions ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;",
    /* 6: work requests and approvals */
    "CREATE TABLE requests ("
    "  id INTEGER PRIMARY KEY,"
    "  user TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  ticket TEXT,"
    "  start INTEGER NOT NULL,"
    "  end INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending',"
    "  decided_by TEXT,"
    "  decided INTEGER NOT NULL DEFAULT 0,"
    "  report TEXT,"
    "  reported INTEGER NOT NULL DEFAULT 0,"
    "  signed_off_by TEXT,"
    "  signed_off INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX requests_user ON requests(user, id);"
    "CREATE TABLE request_votes ("
    "  request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,"
    "  approver TEXT NOT NULL,"
    "  decision TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  UNIQUE (request_id, approver));"
    "ALTER TABLE sessions ADD COLUMN request_id INTEGER NOT NULL DEFAULT 0;",
    /* 7: per-user source-address restriction (space-separated CIDRs) */
    "ALTER TABLE users ADD COLUMN sources TEXT;",
    /* 8: per-rule time-of-day window and maximum session length */
    "ALTER TABLE grants ADD COLUMN window TEXT;"
    "ALTER TABLE grants ADD COLUMN max_session INTEGER NOT NULL DEFAULT 0;",
    /* 9: groups: members, source restrictions, grants */
    "CREATE TABLE groups ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  sources TEXT,"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL);"
    "CREATE TABLE group_members ("
    "  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  UNIQUE (group_id, user_id));"
    "CREATE TABLE group_grants ("
    "  id INTEGER PRIMARY KEY,"
    "  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
    "  target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,"
    "  allow_exec INTEGER NOT NULL DEFAULT 0,"
    "  valid_until INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  window TEXT,"
    "  max_session INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (group_id, target_id));",
    /* 10: account expiry; who set the current password */
    "ALTER TABLE users ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN pw_by_admin INTEGER NOT NULL DEFAULT 1;",
    /* 11: per-user method rules; public keys and FIDO2 security keys */
    "ALTER TABLE users ADD COLUMN methods TEXT;"
    "CREATE TABLE user_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL UNIQUE,"
    "  fingerprint TEXT NOT NULL,"
    "  comment TEXT NOT NULL DEFAULT '',"
    "  added INTEGER NOT NULL,"
    "  added_by TEXT NOT NULL,"
    "  last_used INTEGER NOT NULL DEFAULT 0);",
    /* 12: egress key groups; the session identifiers the egress key has
     * signed (hashed), so no monitor signs one twice */
    "ALTER TABLE targets ADD COLUMN key_group TEXT NOT NULL "
    "DEFAULT 'default';"
    "CREATE TABLE egress_signed ("
    "  id_hash TEXT PRIMARY KEY,"
    "  target TEXT NOT NULL,"
    "  signed INTEGER NOT NULL);",
    /* 13: session identifiers publickey signatures were accepted for
     * (SHA-256 of the exchange hash, hex): a signature seen once is never
     * good again, whichever worker presents it */
    "CREATE TABLE auth_session_ids ("
    "  hash TEXT PRIMARY KEY,"
    "  at INTEGER NOT NULL);",
    /* 14: removed accounts: the row stays (sessions, requests and audit
     * lines name it; the name is never given to someone else) */
    "ALTER TABLE users ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN removed_by TEXT;",
    /* 15: the language a user reads the gateway in when their client
     * sends no LANG (NULL: the gateway's) */
    "ALTER TABLE users ADD COLUMN lang TEXT;",
    /* 16: a person's roles are a set ("approver,auditor", policy/roles.h):
     * the one-word CHECK gives way to one listing every canonical set (a
     * table rebuild, done in C: see users_role_sets) */
    "@users_role_sets",
    /* 17: why a grant exists (R-AC-4); NULL for grants made before */
    "ALTER TABLE grants ADD COLUMN reason TEXT;"
    "ALTER TABLE group_grants ADD COLUMN reason TEXT;",
    /* 18: a count of the changes that can end a running session
     * (sk_store_policy_gen), kept by triggers so every writer counts:
     * held sessions' monitors re-read the account and the rules when it
     * moves, not after each login anywhere (a login writes its session,
     * the user's last_login, a used session id: none of them a rule).
     * A users update that sets last_login or totp_last_step (a login, a
     * code used) does not count; no statement sets them together with a
     * column that does. A later rebuild of one of these tables must
     * create its triggers again. */
    "CREATE TABLE policy_gen ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  gen INTEGER NOT NULL);"
    "INSERT INTO policy_gen VALUES (1, 0);"
    "CREATE TRIGGER pg_users_u AFTER UPDATE ON users"
    "  WHEN OLD.last_login IS NEW.last_login AND"
    "       OLD.totp_last_step IS NEW.totp_last_step " PG_BUMP
    "CREATE TRIGGER pg_sessions_kill AFTER UPDATE OF kill_reason ON sessions "
    PG_BUMP
    PG_TABLE("users", ins_del)
    PG_TABLE("targets", all)
    PG_TABLE("grants", all)
    PG_TABLE("groups", all)
    PG_TABLE("group_members", all)
    PG_TABLE("group_grants", all)
    PG_TABLE("requests", all)
    PG_TABLE("request_votes", all),
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                : SK_ERR_STORE;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *s = NULL;
    int r = SK_ERR_STORE;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *v = sqlite3_column_int(s, 0);
        r = 0;
    }
    sqlite3_finalize(s);
    return r;
}

/* The CHECK of migration 15: the 16 canonical role sets (roles.h order
 * maintainer, approver, auditor, admin), the empty one included. */
#define ROLE_SETS_CHECK                                                       \
    "CHECK (role IN ('','maintainer','approver','maintainer,approver',"     \
    "'auditor','maintainer,auditor','approver,auditor',"                    \
    "'maintainer,approver,auditor','admin','maintainer,admin',"             \
    "'approver,admin','maintainer,approver,admin','auditor,admin',"         \
    "'maintainer,auditor,admin','approver,auditor,admin',"                  \
    "'maintainer,approver,auditor,admin'))"

/* Migration 15. SQLite cannot change a CHECK in place, so the users table
 * is rebuilt (SQLite's documented procedure; foreign keys are off while
 * migrating, so dropping the old table cascades nothing). The new table is
 * made from the old one's own definition with only the CHECK replaced, so
 * columns an earlier migration added come along whatever their number. */
static int users_role_sets(sqlite3 *db)
{
    static const char old_check[] =
        "CHECK (role IN     ('maintainer','approver','admin','auditor'))";
    sqlite3_stmt *s = NULL;
    const char *sql, *at;
    char *def = NULL;
    int r = SK_ERR_STORE;

    if (sqlite3_prepare_v2(db,
                           "SELECT sql FROM sqlite_master WHERE type = "
                           "'table' AND name = 'users'",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW ||
        (sql = (const char *)sqlite3_column_text(s, 0)) == NULL ||
        strncmp(sql, "CREATE TABLE users (", 20) != 0 ||
        (at = strstr(sql, old_check)) == NULL) {
        goto out;
    }
    if (asprintf(&def, "CREATE TABLE users_new (%.*s" ROLE_SETS_CHECK "%s",
                 (int)(at - sql - 20), sql + 20,
                 at + sizeof(old_check) - 1) < 0) {
        def = NULL;
        goto out;
    }
    /* the schema read must end before the table can be dropped */
    sqlite3_finalize(s);
    s = NULL;
    if (exec_sql(db, def) != 0 ||
        exec_sql(db, "INSERT INTO users_new SELECT * FROM users;"
                     "DROP TABLE users;"
                     "ALTER TABLE users_new RENAME TO users;") != 0) {
        goto out;
    }
    /* Nothing may point nowhere after the rebuild. */
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_DONE) {
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(s);
    free(def);
    return r;
}

/* A migration entry starting with '@' names a step done in C. */
static int migrate_step(sqlite3 *db, const char *m)
{
    if (m[0] != '@') {
        return exec_sql(db, m);
    }
    if (strcmp(m, "@users_role_sets") == 0) {
        return users_role_sets(db);
    }
    return SK_ERR_INTERNAL;
}

static int migrate(sqlite3 *db, int *found)
{
    int v, i;
    char pragma[64];

    if (exec_sql(db, "BEGIN IMMEDIATE") != 0) {
        return SK_ERR_STORE;
    }
    if (user_version(db, &v) != 0) {
        goto fail;
    }
    *found = v;
    if (v > NMIGRATIONS) {
        /* A newer gateway wrote this: refuse to guess. */
        exec_sql(db, "ROLLBACK");
        return SK_ERR_SCHEMA_NEWER;
    }
    for (i = v; i < NMIGRATIONS; i++) {
        if (migrate_step(db, migrations[i]) != 0) {
            goto fail;
        }
    }
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", NMIGRATIONS);
    if (exec_sql(db, pragma) != 0 || exec_sql(db, "COMMIT") != 0) {
        goto fail;
    }
    return 0;
fail:
    exec_sql(db, "ROLLBACK");
    return SK_ERR_STORE;
}

/* Hooks (sk_store_open): a change to policy_gen (made by migration 18's
 * triggers) marks the transaction; once it is committed, one byte is
 * appended to the announcement file. */
static void on_update(void *arg, int op, const char *db, const char *table,
                      sqlite3_int64 rowid)
{
    sk_store *st = arg;

    (void)op;
    (void)db;
    (void)rowid;
    if (strcmp(table, "policy_gen") == 0) {
        st->policy_dirty = 1;
    }
}

static void on_rollback(void *arg)
{
    ((sk_store *)arg)->policy_dirty = 0;
}

/* After every commit (SQLite calls it once the write lock is released,
 * so a reader the byte sends to the database sees the change). */
static int on_commit_done(void *arg, sqlite3 *db, const char *name,
                          int frames)
{
    sk_store *st = arg;

    if (st->policy_dirty && st->ann != NULL) {
        int fd = open(st->ann,
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                      0600);
        struct stat sb;

        /* Nothing to do about a failure here but to leave it to the
         * readers' periodic full read (sk_store_policy_moved). */
        if (fd >= 0) {
            if (fstat(fd, &sb) == 0 && sb.st_size >= ANN_MAX) {
                (void)!ftruncate(fd, 0); /* a new size all the same */
            }
            (void)!write(fd, "\n", 1);
            (void)close(fd);
        }
    }
    st->policy_dirty = 0;
    if (frames >= WAL_CHECKPOINT_FRAMES) {
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
                                        NULL, NULL);
    }
    return SQLITE_OK;
}

int sk_store_open(const char *path, int flags, sk_store **out)
{
    sk_store *st;
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
                 SQLITE_OPEN_FULLMUTEX;
    int r = SK_ERR_STORE;

    *out = NULL;
    if (flags & SK_STORE_CREATE) {
        oflags |= SQLITE_OPEN_CREATE;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        return SK_ERR_ALLOC;
    }
    if (sqlite3_open_v2(path, &st->db, oflags, NULL) != SQLITE_OK) {
        goto fail;
    }
    if (sqlite3_busy_timeout(st->db, 5000) != SQLITE_OK ||
        exec_sql(st->db, "PRAGMA journal_mode = WAL") != 0 ||
        exec_sql(st->db, "PRAGMA synchronous = FULL") != 0 ||
        exec_sql(st->db, "PRAGMA secure_delete = ON") != 0 ||
        /* off while migrating (a table rebuild must not cascade), on
         * for everything after; the pragma is a no-op inside a
         * transaction, so it brackets the migration */
        exec_sql(st->db, "PRAGMA foreign_keys = OFF") != 0) {
        goto fail;
    }
    /* Rule changes are announced next to the database, migration 18's
     * first count included (sk_store_policy_moved). */
    {
        const char *db = sqlite3_db_filename(st->db, "main");

        if (db != NULL && db[0] != '\0' &&
            asprintf(&st->ann, "%s-policy", db) < 0) {
            st->ann = NULL;
            r = SK_ERR_ALLOC;
            goto fail;
        }
    }
    (void)sqlite3_update_hook(st->db, on_update, st);
    (void)sqlite3_rollback_hook(st->db, on_rollback, st);
    (void)sqlite3_wal_hook(st->db, on_commit_done, st);
    if ((r = migrate(st->db, &st->found_version)) != 0 ||
        exec_sql(st->db, "PRAGMA foreign_keys = ON") != 0) {
        goto fail;
    }
    *out = st;
    return 0;
fail:
    sk_store_close(st);
    return r == SK_ERR_SCHEMA_NEWER ? r : SK_ERR_STORE;
}

int sk_store_schema_found(sk_store *st)
{
    return st->found_version;
}

int sk_store_schema_latest(void)
{
    return NMIGRATIONS;
}

void sk_store_close(sk_store *st)
{
    if (st == NULL) {
        return;
    }
    sqlite3_close(st->db);
    free(st->ann);
    free(st);
}

int sk_store_policy_moved(sk_store *st)
{
    struct stat now;
    int same;

    if (st->ann == NULL) {
        return 1;
    }
    if (stat(st->ann, &now) != 0) {
        if (errno != ENOENT) {
            st->ann_seen = 0;
            return 1;
        }
        /* none yet: a state of its own, left when one is made */
        memset(&now, 0, sizeof(now));
    }
    same = st->ann_seen && now.st_ino == st->ann_st.st_ino &&
           now.st_dev == st->ann_st.st_dev &&
           now.st_size == st->ann_st.st_size;
    st->ann_st = now;
    st->ann_seen = 1;
    return !same;
}

int sk_store_schema_version(sk_store *st)
{
    int v = -1;

    (void)user_version(st->db, &v);
    return v;
}

int sk_store_policy_gen(sk_store *st, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int r = SK_ERR_STORE;

    if (sqlite3_prepare_v2(st->db, "SELECT gen FROM policy_gen WHERE id = 1",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        r = 0;
    }
    sqlite3_finalize(s);
    return r;
}

/* Statement helpers: prepare and bind by a format ("s" text, "n"
 * NULL-able text, "i" int64). */
static int prepv(sk_store *st, sqlite3_stmt **s, const char *sql,
                 const char *fmt, va_list ap)
{
    int i;

    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK) {
        *s = NULL;
        return SK_ERR_STORE;
    }
    for (i = 0; fmt[i] != '\0'; i++) {
        int rc;

        if (fmt[i] == 'i') {
            rc = sqlite3_bind_int64(*s, i + 1, va_arg(ap, int64_t));
        } else {
            const char *t = va_arg(ap, const char *);

            rc = t == NULL ? sqlite3_bind_null(*s, i + 1)
                           : sqlite3_bind_text(*s, i + 1, t, -1,
                                               SQLITE_TRANSIENT);
        }
        if (rc != SQLITE_OK) {
            sqlite3_finalize(*s);
            *s = NULL;
            return SK_ERR_STORE;
        }
    }
    return 0;
}

static int prep(sk_store *st, sqlite3_stmt **s, const char *sql,
                const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = prepv(st, s, sql, fmt, ap);
    va_end(ap);
    return r;
}

/* Runs a statement that returns no rows; maps constraint errors. If
 * must_change is set, zero changed rows is SK_ERR_NOT_FOUND. */
static int run(sk_store *st, int must_change, const char *sql,
               const char *fmt, ...)
{
    sqlite3_stmt *s = NULL;
    va_list ap;
    int r, rc;

    va_start(ap, fmt);
    r = prepv(st, &s, sql, fmt, ap);
    va_end(ap);
    if (r != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        r = (must_change && sqlite3_changes(st->db) == 0) ? SK_ERR_NOT_FOUND
                                                          : 0;
    } else if ((sqlite3_extended_errcode(st->db) & 0xff) ==
               SQLITE_CONSTRAINT) {
        int ext = sqlite3_extended_errcode(st->db);

        r = (ext == SQLITE_CONSTRAINT_UNIQUE ||
             ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                ? SK_ERR_EXISTS
                : SK_ERR_INVALID;
    } else {
        r = SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

static char *col_text(sqlite3_stmt *s, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    char *d;

    if (t == NULL) {
        return NULL;
    }
    if ((d = strdup((const char *)t)) == NULL) {
        *oom = 1;
    }
    return d;
}


/* Steps statement s to the end, calling emit for each row; emit returns 0
 * to go on, 1 to stop early, or a negative SK_ERR_*. Finalizes s. */
static int each_row(sqlite3_stmt *s, int (*emit)(sqlite3_stmt *, void *),
                    void *ctx)
{
    int rc, r = 0;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((r = emit(s, ctx)) != 0) {
            break;
        }
    }
    if (r == 0 && rc != SQLITE_DONE) {
        r = SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r > 0 ? 0 : r;
}

/* Typed callbacks travel through each_row in one of these. */
struct list_ctx {
    union {
        int (*user)(const struct sk_user *, void *);
        int (*target)(const struct sk_target *, void *);
        int (*grant)(const struct sk_grant *, void *);
        int (*session)(const struct sk_session_rec *, void *);
        int (*request)(const struct sk_request *, void *);
        int (*key)(const struct sk_user_key *, void *);
    } cb;
    void *arg;
};

/* Users */

void sk_user_clear(struct sk_user *u)
{
    if (u == NULL) {
        return;
    }
    free(u->name);
    free(u->role);
    if (u->pw_hash != NULL) {
        explicit_bzero(u->pw_hash, strlen(u->pw_hash));
        free(u->pw_hash);
    }
    free(u->sources);
    free(u->methods);
    free(u->removed_by);
    memset(u, 0, sizeof(*u));
}

int sk_store_user_add(sk_store *st, const char *name, const char *role,
                      const char *pw_hash, time_t now)
{
    return run(st, 0,
               "INSERT INTO users (name, role, pw_hash, pw_changed, created) "
               "VALUES (?, ?, ?, ?, ?)",
               "snsii", name, role, pw_hash, (int64_t)now, (int64_t)now);
}

static int user_row(sqlite3_stmt *s, struct sk_user *u)
{
    int oom = 0;

    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(s, 0);
    u->name = col_text(s, 1, &oom);
    u->role = col_text(s, 2, &oom);
    u->pw_hash = col_text(s, 3, &oom);
    u->pw_changed = sqlite3_column_int64(s, 4);
    u->status = sqlite3_column_int(s, 5);
    u->created = sqlite3_column_int64(s, 6);
    u->last_login = sqlite3_column_int64(s, 7);
    u->locked_until = sqlite3_column_int64(s, 8);
    u->sources = col_text(s, 9, &oom);
    u->expires = sqlite3_column_int64(s, 10);
    u->pw_by_admin = sqlite3_column_int(s, 11);
    u->methods = col_text(s, 12, &oom);
    u->removed = sqlite3_column_int64(s, 13);
    u->removed_by = col_text(s, 14, &oom);
    if (oom || u->name == NULL || u->role == NULL) {
        sk_user_clear(u);
        return SK_ERR_ALLOC;
    }
    return 0;
}

#define USER_COLS                                                             \
    "id, name, role, pw_hash, pw_changed, status, created, last_login, "    \
    "locked_until, sources, expires, pw_by_admin, methods, removed, "      \
    "removed_by"

int sk_store_user_get(sk_store *st, const char *name, struct sk_user *out)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    memset(out, 0, sizeof(*out));
    if ((r = prep(st, &s, "SELECT " USER_COLS " FROM users WHERE name = ?",
                  "s", name)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = user_row(s, out);
    } else {
        r = rc == SQLITE_DONE ? SK_ERR_NOT_FOUND : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_user_set_password(sk_store *st, const char *name,
                               const char *pw_hash, time_t now, int keep)
{
    int r;

    /* One transaction: the old hash moves to the history, the new one
     * takes its place, the history is cut to `keep` entries. */
    if (exec_sql(st->db, "BEGIN IMMEDIATE") != 0) {
        return SK_ERR_STORE;
    }
    if ((r = run(st, 0,
                 "INSERT INTO password_history (user_id, pw_hash, changed) "
                 "SELECT id, pw_hash, pw_changed FROM users "
                 "WHERE name = ? AND pw_hash IS NOT NULL",
                 "s", name)) != 0 ||
        (r = run(st, 1,
                 "UPDATE users SET pw_hash = ?, pw_changed = ? "
                 "WHERE name = ? AND removed = 0",
                 "sis", pw_hash, (int64_t)now, name)) != 0 ||
        (r = run(st, 0,
                 "DELETE FROM password_history WHERE user_id = "
                 "(SELECT id FROM users WHERE name = ?1) AND id NOT IN "
                 "(SELECT h.id FROM password_history h JOIN users u ON "
                 "u.id = h.user_id WHERE u.name = ?1 "
                 "ORDER BY h.id DESC LIMIT ?2)",
                 "si", name, (int64_t)keep)) != 0) {
        exec_sql(st->db, "ROLLBACK");
        return r;
    }
    return exec_sql(st->db, "COMMIT") == 0 ? 0 : SK_ERR_STORE;
}

static int emit_history(sqlite3_stmt *s, void *ctx)
{
    struct {
        int (*cb)(const char *, void *);
        void *arg;
    } *c = ctx;
    const unsigned char *h = sqlite3_column_text(s, 0);

    return h != NULL && c->cb((const char *)h, c->arg) != 0;
}

int sk_store_password_history(sk_store *st, const char *name,
                              int (*cb)(const char *, void *), void *arg)
{
    struct {
        int (*cb)(const char *, void *);
        void *arg;
    } c = {cb, arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT h.pw_hash FROM password_history h JOIN users u "
                  "ON u.id = h.user_id WHERE u.name = ? ORDER BY h.id DESC",
                  "s", name)) != 0) {
        return r;
    }
    return each_row(s, emit_history, &c);
}

int sk_store_user_expire_password(sk_store *st, const char *name)
{
    return run(st, 1, "UPDATE users SET pw_changed = 0 WHERE name = ?", "s",
               name);
}

int sk_store_user_set_status(sk_store *st, const char *name, int status)
{
    /* A removed account stays disabled: no status change brings it back. */
    return run(st, 1,
               "UPDATE users SET status = ? WHERE name = ? AND removed = 0",
               "is", (int64_t)status, name);
}

int sk_store_user_set_role(sk_store *st, const char *name, const char *role)
{
    return run(st, 1,
               "UPDATE users SET role = ? WHERE name = ? AND removed = 0",
               "ss", role, name);
}

int sk_store_user_remove(sk_store *st, const char *name, const char *by,
                         time_t now)
{
    int r;

    /* One transaction: the account is closed for good and everything
     * that could let it in again (credentials, keys, grants, group
     * memberships) goes; the row and its name stay for the history. */
    if (exec_sql(st->db, "BEGIN IMMEDIATE") != 0) {
        return SK_ERR_STORE;
    }
    if ((r = run(st, 1,
                 "UPDATE users SET status = ?, removed = ?, removed_by = ?, "
                 "pw_hash = NULL, totp_secret = NULL, pw_changed = 0 "
                 "WHERE name = ? AND removed = 0",
                 "iiss", (int64_t)SK_USER_DISABLED, (int64_t)now, by,
                 name)) != 0 ||
        (r = run(st, 0,
                 "DELETE FROM user_keys WHERE user_id = "
                 "(SELECT id FROM users WHERE name = ?)",
                 "s", name)) != 0 ||
        (r = run(st, 0,
                 "DELETE FROM grants WHERE user_id = "
                 "(SELECT id FROM users WHERE name = ?)",
                 "s", name)) != 0 ||
        (r = run(st, 0,
                 "DELETE FROM group_members WHERE user_id = "
                 "(SELECT id FROM users WHERE name = ?)",
                 "s", name)) != 0 ||
        (r = run(st, 0,
                 "DELETE FROM password_history WHERE user_id = "
                 "(SELECT id FROM users WHERE name = ?)",
                 "s", name)) != 0) {
        exec_sql(st->db, "ROLLBACK");
        return r;
    }
    return exec_sql(st->db, "COMMIT") == 0 ? 0 : SK_ERR_STORE;
}

int sk_store_user_touch_login(sk_store *st, const char *name, time_t now)
{
    return run(st, 1, "UPDATE users SET last_login = ? WHERE name = ?", "is",
               (int64_t)now, name);
}

static int emit_user(sqlite3_stmt *s, void *ctx)
{
    struct list_ctx *c = ctx;
    struct sk_user u;
    int r;

    if ((r = user_row(s, &u)) != 0) {
        return r;
    }
    r = c->cb.user(&u, c->arg) != 0;
    sk_user_clear(&u);
    return r;
}

int sk_store_user_set_totp(sk_store *st, const char *name,
                           const uint8_t *sealed, size_t len)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s,
                  "UPDATE users SET totp_secret = ?, totp_last_step = 0 "
                  "WHERE name = ?",
                  "")) != 0) {
        return r;
    }
    if (sqlite3_bind_blob(s, 1, sealed, (int)len, SQLITE_TRANSIENT) !=
            SQLITE_OK ||
        sqlite3_bind_text(s, 2, name, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_finalize(s);
        return SK_ERR_STORE;
    }
    rc = sqlite3_step(s);
    r = rc != SQLITE_DONE ? SK_ERR_STORE
        : sqlite3_changes(st->db) == 0 ? SK_ERR_NOT_FOUND
                                       : 0;
    sqlite3_finalize(s);
    return r;
}

int sk_store_user_get_totp(sk_store *st, const char *name, uint8_t *out,
                           size_t outlen, size_t *len)
{
    sqlite3_stmt *s = NULL;
    int r, rc, n;

    if ((r = prep(st, &s, "SELECT totp_secret FROM users WHERE name = ?",
                  "s", name)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
        n = sqlite3_column_bytes(s, 0);
        if (n < 0 || (size_t)n > outlen) {
            r = SK_ERR_TOO_LONG;
        } else {
            memcpy(out, sqlite3_column_blob(s, 0), (size_t)n);
            *len = (size_t)n;
            r = 0;
        }
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        r = SK_ERR_NOT_FOUND;
    } else {
        r = SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_user_totp_use(sk_store *st, const char *name, uint64_t step)
{
    /* One statement, so two sessions racing with the same code cannot
     * both win. */
    int r = run(st, 1,
                "UPDATE users SET totp_last_step = ?1 "
                "WHERE name = ?2 AND totp_last_step < ?1",
                "is", (int64_t)step, name);

    return r == SK_ERR_NOT_FOUND ? SK_ERR_DENIED : r;
}

int sk_store_auth_failure(sk_store *st, const char *user, const char *source,
                          time_t now, time_t since, int *count)
{
    sqlite3_stmt *s = NULL;
    int r;

    /* Old rows are pruned as new ones come: the table stays small however
     * long an attack goes on. */
    if ((r = run(st, 0, "DELETE FROM auth_failures WHERE time < ?", "i",
                 (int64_t)since)) != 0 ||
        (r = run(st, 0,
                 "INSERT INTO auth_failures (user, source, time) "
                 "VALUES (?, ?, ?)",
                 "ssi", user, source, (int64_t)now)) != 0) {
        return r;
    }
    if ((r = prep(st, &s,
                  "SELECT count(*) FROM auth_failures WHERE user = ? AND "
                  "time >= ?",
                  "si", user, (int64_t)since)) != 0) {
        return r;
    }
    r = sqlite3_step(s) == SQLITE_ROW ? 0 : SK_ERR_STORE;
    if (r == 0) {
        *count = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_source_failures(sk_store *st, const char *source, time_t since,
                             int *count)
{
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT count(*) FROM auth_failures WHERE source = ? AND "
                  "time >= ?",
                  "si", source, (int64_t)since)) != 0) {
        return r;
    }
    r = sqlite3_step(s) == SQLITE_ROW ? 0 : SK_ERR_STORE;
    if (r == 0) {
        *count = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_auth_failures_clear(sk_store *st, const char *user)
{
    return run(st, 0, "DELETE FROM auth_failures WHERE user = ?", "s", user);
}

int sk_store_user_lock_until(sk_store *st, const char *name, int64_t until)
{
    return run(st, 1, "UPDATE users SET locked_until = ? WHERE name = ?",
               "is", until, name);
}

int sk_store_user_list(sk_store *st,
                       int (*cb)(const struct sk_user *, void *), void *arg)
{
    struct list_ctx c = {.cb.user = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s, "SELECT " USER_COLS " FROM users ORDER BY name",
                  "")) != 0) {
        return r;
    }
    return each_row(s, emit_user, &c);
}

/* Targets */

void sk_target_clear(struct sk_target *t)
{
    if (t == NULL) {
        return;
    }
    free(t->name);
    free(t->host);
    free(t->login);
    free(t->host_key);
    free(t->key_group);
    memset(t, 0, sizeof(*t));
}

int sk_store_target_add(sk_store *st, const struct sk_target *t, time_t now)
{
    return run(st, 0,
               "INSERT INTO targets (name, host, port, login, host_key, "
               "created, key_group) VALUES (?, ?, ?, ?, ?, ?, ?)",
               "ssissis", t->name, t->host, (int64_t)t->port, t->login,
               t->host_key, (int64_t)now,
               t->key_group != NULL ? t->key_group : "default");
}

static int target_row(sqlite3_stmt *s, struct sk_target *t)
{
    int oom = 0;

    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(s, 0);
    t->name = col_text(s, 1, &oom);
    t->host = col_text(s, 2, &oom);
    t->port = sqlite3_column_int(s, 3);
    t->login = col_text(s, 4, &oom);
    t->host_key = col_text(s, 5, &oom);
    t->created = sqlite3_column_int64(s, 6);
    t->key_group = col_text(s, 7, &oom);
    if (oom || !t->name || !t->host || !t->login || !t->host_key ||
        !t->key_group) {
        sk_target_clear(t);
        return SK_ERR_ALLOC;
    }
    return 0;
}

#define TARGET_COLS \
    "id, name, host, port, login, host_key, created, key_group"

int sk_store_target_get(sk_store *st, const char *name, struct sk_target *out)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    memset(out, 0, sizeof(*out));
    if ((r = prep(st, &s,
                  "SELECT " TARGET_COLS " FROM targets WHERE name = ?", "s",
                  name)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = target_row(s, out);
    } else {
        r = rc == SQLITE_DONE ? SK_ERR_NOT_FOUND : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_target_set_key_group(sk_store *st, const char *name,
                                  const char *group)
{
    return run(st, 1, "UPDATE targets SET key_group = ? WHERE name = ?",
               "ss", group, name);
}

int sk_store_egress_claim(sk_store *st, const char *id_hash,
                          const char *target, time_t now)
{
    /* The primary key makes this atomic across monitors: of two racing
     * for one identifier, one insert fails. */
    return run(st, 0,
               "INSERT INTO egress_signed (id_hash, target, signed) "
               "VALUES (?, ?, ?)",
               "ssi", id_hash, target, (int64_t)now);
}

int sk_store_target_remove(sk_store *st, const char *name)
{
    return run(st, 1, "DELETE FROM targets WHERE name = ?", "s", name);
}

static int emit_target(sqlite3_stmt *s, void *ctx)
{
    struct list_ctx *c = ctx;
    struct sk_target t;
    int r;

    if ((r = target_row(s, &t)) != 0) {
        return r;
    }
    r = c->cb.target(&t, c->arg) != 0;
    sk_target_clear(&t);
    return r;
}

int sk_store_target_list(sk_store *st,
                         int (*cb)(const struct sk_target *, void *),
                         void *arg)
{
    struct list_ctx c = {.cb.target = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s, "SELECT " TARGET_COLS " FROM targets ORDER BY name",
                  "")) != 0) {
        return r;
    }
    return each_row(s, emit_target, &c);
}

/* Grants */

void sk_grant_clear(struct sk_grant *g)
{
    if (g == NULL) {
        return;
    }
    free(g->user);
    free(g->target);
    free(g->created_by);
    free(g->window);
    free(g->reason);
    memset(g, 0, sizeof(*g));
}

int sk_store_grant_add(sk_store *st, const struct sk_grant *g, time_t now)
{
    int r;

    r = run(st, 0,
            "INSERT INTO grants (user_id, target_id, allow_exec, valid_until, "
            "created, created_by, window, max_session, reason) "
            "SELECT u.id, t.id, ?, ?, ?, ?, ?, ?, ? FROM users u, targets t "
            "WHERE u.name = ? AND t.name = ? "
            "ON CONFLICT (user_id, target_id) DO UPDATE SET "
            "allow_exec = excluded.allow_exec, "
            "valid_until = excluded.valid_until, created = excluded.created, "
            "created_by = excluded.created_by, window = excluded.window, "
            "max_session = excluded.max_session, reason = excluded.reason",
            "iiisnin" "ss", (int64_t)g->allow_exec, g->valid_until,
            (int64_t)now, g->created_by, g->window, g->max_session,
            g->reason, g->user, g->target);
    if (r == 0 && sqlite3_changes(st->db) == 0) {
        r = SK_ERR_NOT_FOUND;
    }
    return r;
}

int sk_store_grant_remove(sk_store *st, const char *user, const char *target)
{
    return run(st, 1,
               "DELETE FROM grants WHERE "
               "user_id = (SELECT id FROM users WHERE name = ?) AND "
               "target_id = (SELECT id FROM targets WHERE name = ?)",
               "ss", user, target);
}

static int emit_grant(sqlite3_stmt *s, void *ctx)
{
    struct list_ctx *c = ctx;
    struct sk_grant g;
    int oom = 0, r;

    memset(&g, 0, sizeof(g));
    g.id = sqlite3_column_int64(s, 0);
    g.user = col_text(s, 1, &oom);
    g.target = col_text(s, 2, &oom);
    g.allow_exec = sqlite3_column_int(s, 3);
    g.valid_until = sqlite3_column_int64(s, 4);
    g.created = sqlite3_column_int64(s, 5);
    g.created_by = col_text(s, 6, &oom);
    g.window = col_text(s, 7, &oom);
    g.max_session = sqlite3_column_int64(s, 8);
    g.reason = col_text(s, 9, &oom);
    if (oom || !g.user || !g.target || !g.created_by) {
        sk_grant_clear(&g);
        return SK_ERR_ALLOC;
    }
    r = c->cb.grant(&g, c->arg) != 0;
    sk_grant_clear(&g);
    return r;
}

int sk_store_grant_list(sk_store *st, const char *user,
                        int (*cb)(const struct sk_grant *, void *), void *arg)
{
    struct list_ctx c = {.cb.grant = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT g.id, u.name, t.name, g.allow_exec, g.valid_until, "
                  "g.created, g.created_by, g.window, g.max_session, "
                  "g.reason FROM grants g "
                  "JOIN users u ON u.id = g.user_id "
                  "JOIN targets t ON t.id = g.target_id "
                  "WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, t.name",
                  "n", user)) != 0) {
        return r;
    }
    return each_row(s, emit_grant, &c);
}

/* Sessions */

void sk_session_rec_clear(struct sk_session_rec *s)
{
    if (s == NULL) {
        return;
    }
    free(s->id);
    free(s->user);
    free(s->source);
    free(s->target);
    free(s->login);
    free(s->mode);
    free(s->end_reason);
    free(s->transcript);
    free(s->transcript_hash);
    memset(s, 0, sizeof(*s));
}

int sk_store_session_start(sk_store *st, const struct sk_session_rec *s)
{
    return run(st, 0,
               "INSERT INTO sessions (id, user, source, target, login, mode, "
               "start, transcript, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, "
               "?, ?)",
               "sssnnnini", s->id, s->user, s->source, s->target, s->login,
               s->mode, s->start, s->transcript, s->request_id);
}

int sk_store_session_end(sk_store *st, const struct sk_session_rec *s)
{
    return run(st, 1,
               "UPDATE sessions SET target = ?, login = ?, mode = ?, "
               "end = ?, bytes_in = ?, bytes_out = ?, exit_status = ?, "
               "end_reason = ?, transcript_hash = ? WHERE id = ?",
               "nnniiiinns", s->target, s->login, s->mode, s->end,
               s->bytes_in, s->bytes_out, (int64_t)s->exit_status,
               s->end_reason, s->transcript_hash, s->id);
}

/* The columns emit_session reads, in its order. */
#define SESS_COLS                                                             \
    "id, user, source, target, login, mode, start, end, bytes_in, "           \
    "bytes_out, exit_status, end_reason, transcript, transcript_hash, "       \
    "purged, request_id "

static int emit_session(sqlite3_stmt *s, void *ctx)
{
    struct list_ctx *c = ctx;
    struct sk_session_rec x;
    int oom = 0, r;

    memset(&x, 0, sizeof(x));
    x.id = col_text(s, 0, &oom);
    x.user = col_text(s, 1, &oom);
    x.source = col_text(s, 2, &oom);
    x.target = col_text(s, 3, &oom);
    x.login = col_text(s, 4, &oom);
    x.mode = col_text(s, 5, &oom);
    x.start = sqlite3_column_int64(s, 6);
    x.end = sqlite3_column_int64(s, 7);
    x.bytes_in = sqlite3_column_int64(s, 8);
    x.bytes_out = sqlite3_column_int64(s, 9);
    x.exit_status = sqlite3_column_int(s, 10);
    x.end_reason = col_text(s, 11, &oom);
    x.transcript = col_text(s, 12, &oom);
    x.transcript_hash = col_text(s, 13, &oom);
    x.purged = sqlite3_column_int(s, 14);
    x.request_id = sqlite3_column_int64(s, 15);
    if (oom || x.id == NULL || x.user == NULL || x.source == NULL) {
        sk_session_rec_clear(&x);
        return SK_ERR_ALLOC;
    }
    r = c->cb.session(&x, c->arg) != 0;
    sk_session_rec_clear(&x);
    return r;
}

int sk_store_session_list(sk_store *st,
                          int (*cb)(const struct sk_session_rec *, void *),
                          void *arg)
{
    struct list_ctx c = {.cb.session = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT " SESS_COLS "FROM sessions "
                  "ORDER BY start, id",
                  "")) != 0) {
        return r;
    }
    return each_row(s, emit_session, &c);
}

/* Counts the rows a single-row query passed on. */
struct one_ctx {
    struct list_ctx c;
    int n;
};

static int emit_one_session(sqlite3_stmt *s, void *ctx)
{
    struct one_ctx *o = ctx;

    o->n++;
    return emit_session(s, &o->c);
}

int sk_store_session_get(sk_store *st, const char *id,
                         int (*cb)(const struct sk_session_rec *, void *),
                         void *arg)
{
    struct one_ctx o = {.c = {.cb.session = cb, .arg = arg}};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT " SESS_COLS "FROM sessions "
                  "WHERE id = ?",
                  "s", id)) != 0) {
        return r;
    }
    if ((r = each_row(s, emit_one_session, &o)) != 0) {
        return r;
    }
    return o.n == 0 ? SK_ERR_NOT_FOUND : 0;
}

int sk_store_session_running(sk_store *st, const char *id)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s, "SELECT end FROM sessions WHERE id = ?", "s",
                  id)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = sqlite3_column_int64(s, 0) == 0;
    } else {
        r = rc == SQLITE_DONE ? 0 : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_session_kill(sk_store *st, const char *id, const char *reason)
{
    return run(st, 1,
               "UPDATE sessions SET kill_reason = ? WHERE id = ? AND end = 0",
               "ss", reason, id);
}

int sk_store_session_kill_reason(sk_store *st, const char *id, char **out)
{
    sqlite3_stmt *s = NULL;
    int r, rc, oom = 0;

    *out = NULL;
    if ((r = prep(st, &s, "SELECT kill_reason FROM sessions WHERE id = ?",
                  "s", id)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = col_text(s, 0, &oom);
        r = oom ? SK_ERR_ALLOC : 0;
    } else {
        r = rc == SQLITE_DONE ? SK_ERR_NOT_FOUND : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_session_purged(sk_store *st, const char *id)
{
    return run(st, 1, "UPDATE sessions SET purged = 1 WHERE id = ?", "s",
               id);
}

/* Requests */

void sk_request_clear(struct sk_request *r)
{
    if (r == NULL) {
        return;
    }
    free(r->user);
    free(r->target);
    free(r->reason);
    free(r->ticket);
    free(r->state);
    free(r->decided_by);
    free(r->report);
    free(r->signed_off_by);
    memset(r, 0, sizeof(*r));
}

int sk_store_request_add(sk_store *st, const struct sk_request *r,
                         int64_t *id)
{
    int rc = run(st, 0,
                 "INSERT INTO requests (user, target, reason, ticket, start, "
                 "end, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 "ssssiii", r->user, r->target, r->reason, r->ticket,
                 r->start, r->end, r->created);

    if (rc == 0) {
        *id = sqlite3_last_insert_rowid(st->db);
    }
    return rc;
}

#define REQ_COLS                                                               \
    "r.id, r.user, r.target, r.reason, r.ticket, r.start, r.end, r.created, " \
    "r.state, r.decided_by, r.decided, r.report, r.reported, "                \
    "r.signed_off_by, r.signed_off, (SELECT count(*) FROM request_votes v "   \
    "WHERE v.request_id = r.id AND v.decision = 'approve') "

static int request_row(sqlite3_stmt *s, struct sk_request *r)
{
    int oom = 0;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->user = col_text(s, 1, &oom);
    r->target = col_text(s, 2, &oom);
    r->reason = col_text(s, 3, &oom);
    r->ticket = col_text(s, 4, &oom);
    r->start = sqlite3_column_int64(s, 5);
    r->end = sqlite3_column_int64(s, 6);
    r->created = sqlite3_column_int64(s, 7);
    r->state = col_text(s, 8, &oom);
    r->decided_by = col_text(s, 9, &oom);
    r->decided = sqlite3_column_int64(s, 10);
    r->report = col_text(s, 11, &oom);
    r->reported = sqlite3_column_int64(s, 12);
    r->signed_off_by = col_text(s, 13, &oom);
    r->signed_off = sqlite3_column_int64(s, 14);
    r->approvals = sqlite3_column_int(s, 15);
    if (oom || !r->user || !r->target || !r->reason || !r->state) {
        sk_request_clear(r);
        return SK_ERR_ALLOC;
    }
    return 0;
}

int sk_store_request_get(sk_store *st, int64_t id, struct sk_request *out)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    memset(out, 0, sizeof(*out));
    if ((r = prep(st, &s,
                  "SELECT " REQ_COLS "FROM requests r WHERE r.id = ?", "i",
                  id)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    r = rc == SQLITE_ROW    ? request_row(s, out)
        : rc == SQLITE_DONE ? SK_ERR_NOT_FOUND
                            : SK_ERR_STORE;
    sqlite3_finalize(s);
    return r;
}

static int emit_request(sqlite3_stmt *s, void *ctx)
{
    struct list_ctx *c = ctx;
    struct sk_request q;
    int r;

    if ((r = request_row(s, &q)) != 0) {
        return r;
    }
    r = c->cb.request(&q, c->arg) != 0;
    sk_request_clear(&q);
    return r;
}

int sk_store_request_list(sk_store *st, const char *user,
                          int (*cb)(const struct sk_request *, void *),
                          void *arg)
{
    struct list_ctx c = {.cb.request = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT " REQ_COLS "FROM requests r "
                  "WHERE ?1 IS NULL OR r.user = ?1 ORDER BY r.id DESC",
                  "n", user)) != 0) {
        return r;
    }
    return each_row(s, emit_request, &c);
}

int sk_store_request_vote(sk_store *st, int64_t id, const char *approver,
                          const char *decision, time_t now)
{
    return run(st, 0,
               "INSERT INTO request_votes (request_id, approver, decision, "
               "time) VALUES (?, ?, ?, ?)",
               "issi", id, approver, decision, (int64_t)now);
}

int sk_store_request_votes(sk_store *st, int64_t id,
                           int (*cb)(const char *, const char *, int64_t,
                                     void *),
                           void *arg)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s,
                  "SELECT approver, decision, time FROM request_votes "
                  "WHERE request_id = ? ORDER BY time, approver",
                  "i", id)) != 0) {
        return r;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb((const char *)sqlite3_column_text(s, 0),
               (const char *)sqlite3_column_text(s, 1),
               sqlite3_column_int64(s, 2), arg) != 0) {
            break;
        }
    }
    r = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : SK_ERR_STORE;
    sqlite3_finalize(s);
    return r;
}

int sk_store_request_transition(sk_store *st, int64_t id, const char *from,
                                const char *to, const char *by,
                                const char *text, time_t now)
{
    if (strcmp(to, "reported") == 0) {
        return run(st, 1,
                   "UPDATE requests SET state = ?, report = ?, reported = ? "
                   "WHERE id = ? AND state = ?",
                   "ssiis", to, text, (int64_t)now, id, from);
    }
    if (strcmp(to, "signed_off") == 0) {
        return run(st, 1,
                   "UPDATE requests SET state = ?, signed_off_by = ?, "
                   "signed_off = ? WHERE id = ? AND state = ?",
                   "ssiis", to, by, (int64_t)now, id, from);
    }
    return run(st, 1,
               "UPDATE requests SET state = ?, decided_by = ?, decided = ? "
               "WHERE id = ? AND state = ?",
               "ssiis", to, by, (int64_t)now, id, from);
}

int sk_store_user_set_sources(sk_store *st, const char *name,
                              const char *sources)
{
    return run(st, 1, "UPDATE users SET sources = ? WHERE name = ?", "ns",
               sources, name);
}

/* Groups */

int sk_store_group_add(sk_store *st, const char *name, const char *by,
                       time_t now)
{
    return run(st, 0,
               "INSERT INTO groups (name, created, created_by) VALUES (?, ?, "
               "?)",
               "sis", name, (int64_t)now, by);
}

int sk_store_group_remove(sk_store *st, const char *name)
{
    return run(st, 1, "DELETE FROM groups WHERE name = ?", "s", name);
}

int sk_store_group_set_sources(sk_store *st, const char *name,
                               const char *sources)
{
    return run(st, 1, "UPDATE groups SET sources = ? WHERE name = ?", "ns",
               sources, name);
}

int sk_store_group_member(sk_store *st, const char *group, const char *user,
                          int add)
{
    int r;

    if (!add) {
        return run(st, 1,
                   "DELETE FROM group_members WHERE "
                   "group_id = (SELECT id FROM groups WHERE name = ?) AND "
                   "user_id = (SELECT id FROM users WHERE name = ?)",
                   "ss", group, user);
    }
    r = run(st, 0,
            "INSERT INTO group_members (group_id, user_id) "
            "SELECT g.id, u.id FROM groups g, users u "
            "WHERE g.name = ? AND u.name = ?",
            "ss", group, user);
    if (r == 0 && sqlite3_changes(st->db) == 0) {
        r = SK_ERR_NOT_FOUND;
    }
    return r;
}

/* cb(group, sources-or-NULL, member-list (space-separated) or NULL). */
int sk_store_group_list(sk_store *st, const char *user,
                        int (*cb)(const char *, const char *, const char *,
                                  void *),
                        void *arg)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s,
                  "SELECT g.name, g.sources, (SELECT group_concat(u.name, "
                  "' ') FROM group_members m JOIN users u ON u.id = "
                  "m.user_id WHERE m.group_id = g.id) FROM groups g "
                  "WHERE ?1 IS NULL OR g.id IN (SELECT m.group_id FROM "
                  "group_members m JOIN users u ON u.id = m.user_id WHERE "
                  "u.name = ?1) ORDER BY g.name",
                  "n", user)) != 0) {
        return r;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cb((const char *)sqlite3_column_text(s, 0),
               (const char *)sqlite3_column_text(s, 1),
               (const char *)sqlite3_column_text(s, 2), arg) != 0) {
            break;
        }
    }
    r = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : SK_ERR_STORE;
    sqlite3_finalize(s);
    return r;
}

int sk_store_group_grant_add(sk_store *st, const char *group,
                             const struct sk_grant *g, time_t now)
{
    int r;

    r = run(st, 0,
            "INSERT INTO group_grants (group_id, target_id, allow_exec, "
            "valid_until, created, created_by, window, max_session, reason) "
            "SELECT gr.id, t.id, ?, ?, ?, ?, ?, ?, ? FROM groups gr, "
            "targets t WHERE gr.name = ? AND t.name = ? "
            "ON CONFLICT (group_id, target_id) DO UPDATE SET "
            "allow_exec = excluded.allow_exec, "
            "valid_until = excluded.valid_until, created = excluded.created, "
            "created_by = excluded.created_by, window = excluded.window, "
            "max_session = excluded.max_session, reason = excluded.reason",
            "iiisninss", (int64_t)g->allow_exec, g->valid_until,
            (int64_t)now, g->created_by, g->window, g->max_session,
            g->reason, group, g->target);
    if (r == 0 && sqlite3_changes(st->db) == 0) {
        r = SK_ERR_NOT_FOUND;
    }
    return r;
}

int sk_store_group_grant_remove(sk_store *st, const char *group,
                                const char *target)
{
    return run(st, 1,
               "DELETE FROM group_grants WHERE "
               "group_id = (SELECT id FROM groups WHERE name = ?) AND "
               "target_id = (SELECT id FROM targets WHERE name = ?)",
               "ss", group, target);
}

/* Grants through groups: g->user is "@GROUP". With user set, only the
 * groups that user belongs to. */
int sk_store_group_grant_list(sk_store *st, const char *user,
                              int (*cb)(const struct sk_grant *, void *),
                              void *arg)
{
    struct list_ctx c = {.cb.grant = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT gg.id, '@' || gr.name, t.name, gg.allow_exec, "
                  "gg.valid_until, gg.created, gg.created_by, gg.window, "
                  "gg.max_session, gg.reason FROM group_grants gg "
                  "JOIN groups gr ON gr.id = gg.group_id "
                  "JOIN targets t ON t.id = gg.target_id "
                  "WHERE ?1 IS NULL OR gr.id IN (SELECT m.group_id FROM "
                  "group_members m JOIN users u ON u.id = m.user_id WHERE "
                  "u.name = ?1) ORDER BY gr.name, t.name",
                  "n", user)) != 0) {
        return r;
    }
    return each_row(s, emit_grant, &c);
}

int sk_store_user_set_expires(sk_store *st, const char *name, int64_t when)
{
    return run(st, 1, "UPDATE users SET expires = ? WHERE name = ?", "is",
               when, name);
}

int sk_store_user_pw_by_admin(sk_store *st, const char *name, int by_admin)
{
    return run(st, 1, "UPDATE users SET pw_by_admin = ? WHERE name = ?",
               "is", (int64_t)by_admin, name);
}

int sk_store_user_set_methods(sk_store *st, const char *name,
                              const char *methods)
{
    return run(st, 1, "UPDATE users SET methods = ? WHERE name = ?", "ns",
               methods, name);
}

int sk_store_user_set_lang(sk_store *st, const char *name, const char *lang)
{
    return run(st, 1, "UPDATE users SET lang = ? WHERE name = ?", "ns", lang,
               name);
}

int sk_store_user_get_lang(sk_store *st, const char *name, char *out,
                           size_t outlen)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s, "SELECT lang FROM users WHERE name = ?", "s",
                  name)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);

        if (v == NULL) {
            r = outlen > 0 ? 0 : SK_ERR_TOO_LONG;
            if (outlen > 0) {
                out[0] = '\0';
            }
        } else if (strlen((const char *)v) >= outlen) {
            r = SK_ERR_TOO_LONG;
        } else {
            memcpy(out, v, strlen((const char *)v) + 1);
            r = 0;
        }
    } else {
        r = rc == SQLITE_DONE ? SK_ERR_NOT_FOUND : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_user_key_add(sk_store *st, const char *user, const char *key,
                          const char *fingerprint, const char *comment,
                          const char *by, time_t now)
{
    int r = run(st, 0,
                "INSERT INTO user_keys (user_id, key, fingerprint, comment, "
                "added, added_by) SELECT id, ?, ?, ?, ?, ? FROM users "
                "WHERE name = ?",
                "sssiss", key, fingerprint, comment, (int64_t)now, by, user);

    if (r == 0 && sqlite3_changes(st->db) == 0) {
        r = SK_ERR_NOT_FOUND;
    }
    return r;
}

int sk_store_user_key_remove(sk_store *st, const char *user,
                             const char *fingerprint)
{
    return run(st, 1,
               "DELETE FROM user_keys WHERE fingerprint = ? AND user_id = "
               "(SELECT id FROM users WHERE name = ?)",
               "ss", fingerprint, user);
}

int sk_store_user_key_find(sk_store *st, const char *user, const char *key,
                           char *fingerprint, size_t fplen)
{
    sqlite3_stmt *s = NULL;
    int r, rc;

    if ((r = prep(st, &s,
                  "SELECT k.fingerprint FROM user_keys k JOIN users u ON "
                  "u.id = k.user_id WHERE u.name = ? AND k.key = ?",
                  "ss", user, key)) != 0) {
        return r;
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);

        snprintf(fingerprint, fplen, "%s", t ? (const char *)t : "");
        r = 0;
    } else {
        r = rc == SQLITE_DONE ? SK_ERR_NOT_FOUND : SK_ERR_STORE;
    }
    sqlite3_finalize(s);
    return r;
}

int sk_store_user_key_used(sk_store *st, const char *key, time_t now)
{
    return run(st, 0, "UPDATE user_keys SET last_used = ? WHERE key = ?",
               "is", (int64_t)now, key);
}

int sk_store_session_id_claim(sk_store *st, const char *hash, time_t now)
{
    /* The primary key makes the claim atomic across monitors. */
    return run(st, 0, "INSERT INTO auth_session_ids (hash, at) VALUES (?, ?)",
               "si", hash, (int64_t)now);
}

static int emit_key(sqlite3_stmt *s, void *p)
{
    struct list_ctx *c = p;
    struct sk_user_key k;
    int r;

    k.user = (const char *)sqlite3_column_text(s, 0);
    k.key = (const char *)sqlite3_column_text(s, 1);
    k.fingerprint = (const char *)sqlite3_column_text(s, 2);
    k.comment = (const char *)sqlite3_column_text(s, 3);
    k.added = sqlite3_column_int64(s, 4);
    k.added_by = (const char *)sqlite3_column_text(s, 5);
    k.last_used = sqlite3_column_int64(s, 6);
    if (k.user == NULL || k.key == NULL || k.fingerprint == NULL ||
        k.comment == NULL || k.added_by == NULL) {
        return SK_ERR_ALLOC;
    }
    r = c->cb.key(&k, c->arg);
    return r > 0 ? 1 : r;
}

int sk_store_user_key_list(sk_store *st, const char *user,
                           int (*cb)(const struct sk_user_key *, void *),
                           void *arg)
{
    struct list_ctx c = {.cb.key = cb, .arg = arg};
    sqlite3_stmt *s = NULL;
    int r;

    if ((r = prep(st, &s,
                  "SELECT u.name, k.key, k.fingerprint, k.comment, k.added, "
                  "k.added_by, k.last_used FROM user_keys k JOIN users u ON "
                  "u.id = k.user_id WHERE ?1 IS NULL OR u.name = ?1 "
                  "ORDER BY u.name, k.id",
                  "n", user)) != 0) {
        return r;
    }
    return each_row(s, emit_key, &c);
}
