/*
 * sekishoctl report privileges|inspection (R-AC-4, R-LOG-7): answers an
 * auditor's questions without SQL. Both render one table in text, CSV or
 * JSON; every run is an audit event carrying the BLAKE2b hash of what it
 * printed, and -o keeps the output in a file.
 */
#include "audit.h"
#include "i18n.h"
#include "sk-err.h"
#include "util.h"

#include "access.h"
#include "ctl.h"
#include "methods.h"
#include "policy/request.h"
#include "policy/roles.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXCOLS 14

struct table {
    const char *cols[MAXCOLS];
    int ncols;
    char **cells; /* rows * ncols, owned */
    size_t rows, cap;
};

/* Adds the factor of a registered key to *(unsigned *)arg. */
static int key_factor(const struct sk_user_key *k, void *arg)
{
    *(unsigned *)arg |= strncmp(k->key, "sk-", 3) == 0 ? SK_F_SK
                                                      : SK_F_PUBLICKEY;
    return 0;
}

static void add_row(struct table *t, ...)
{
    va_list ap;

    if (t->rows == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        char **nv = reallocarray(t->cells, nc * (size_t)t->ncols,
                                 sizeof(*nv));

        if (nv == NULL) {
            die("out of memory");
        }
        t->cells = nv;
        t->cap = nc;
    }
    va_start(ap, t);
    for (int c = 0; c < t->ncols; c++) {
        const char *v = va_arg(ap, const char *);

        if ((t->cells[t->rows * (size_t)t->ncols + (size_t)c] =
                 strdup(v ? v : "")) == NULL) {
            die("out of memory");
        }
    }
    va_end(ap);
    t->rows++;
}

static const char *cell(const struct table *t, size_t r, int c)
{
    return t->cells[r * (size_t)t->ncols + (size_t)c];
}

/* CSV per RFC 4180, every field quoted; a leading = + - @ gets a quote
 * mark so a spreadsheet never runs a field as a formula. */
static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    if (strchr("=+-@", s[0]) != NULL && s[0] != '\0') {
        fputc('\'', f);
    }
    /* Quoted fields may hold anything, but a person may read the file
     * with cat: the terminal-safe rendering, as in the text form. */
    for (s = term_str(s); *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void render(const struct table *t, const char *format, FILE *f)
{
    if (strcmp(format, "json") == 0) {
        json_t *arr = json_array();
        char *out, *safe;

        for (size_t r = 0; r < t->rows; r++) {
            json_t *o = json_object();

            for (int c = 0; c < t->ncols; c++) {
                json_object_set_new(o, t->cols[c], json_string(cell(t, r, c)));
            }
            json_array_append_new(arr, o);
        }
        out = json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        /* The same JSON value with DEL and C1 escaped too (put_json). */
        safe = out ? sk_term_safe(out, strlen(out), SK_TERM_JSON) : NULL;
        if (safe == NULL) {
            die("out of memory");
        }
        fprintf(f, "%s\n", safe);
        free(safe);
        free(out);
        json_decref(arr);
        return;
    }
    if (strcmp(format, "csv") == 0) {
        for (int c = 0; c < t->ncols; c++) {
            if (c) {
                fputc(',', f);
            }
            csv_field(f, t->cols[c]);
        }
        fputs("\r\n", f);
        for (size_t r = 0; r < t->rows; r++) {
            for (int c = 0; c < t->ncols; c++) {
                if (c) {
                    fputc(',', f);
                }
                csv_field(f, cell(t, r, c));
            }
            fputs("\r\n", f);
        }
        return;
    }
    {
        size_t w[MAXCOLS];

        for (int c = 0; c < t->ncols; c++) {
            w[c] = strlen(t->cols[c]);
            for (size_t r = 0; r < t->rows; r++) {
                size_t l = strlen(term_str(cell(t, r, c)));

                w[c] = l > w[c] ? (l > 60 ? 60 : l) : w[c];
            }
        }
        for (int c = 0; c < t->ncols; c++) {
            fprintf(f, "%-*s%s", (int)w[c], t->cols[c],
                    c + 1 < t->ncols ? "  " : "\n");
        }
        for (size_t r = 0; r < t->rows; r++) {
            for (int c = 0; c < t->ncols; c++) {
                fprintf(f, "%-*s%s", (int)w[c], term_str(cell(t, r, c)),
                        c + 1 < t->ncols ? "  " : "\n");
            }
        }
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
}

/* ---- data ---- */

struct vec {
    void *v;
    size_t n, cap, sz;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 32;
        void *nv = realloc(v->v, nc * v->sz);

        if (nv == NULL) {
            die("out of memory");
        }
        v->v = nv;
        v->cap = nc;
    }
    return (char *)v->v + v->sz * v->n++;
}

#define DUPS(d, s, f)                                                          \
    do {                                                                       \
        (d)->f = (s)->f ? strdup((s)->f) : NULL;                              \
    } while (0)

static int users_cb(const struct sk_user *u, void *arg)
{
    struct sk_user *d = vec_push(arg);

    *d = *u;
    DUPS(d, u, name);
    DUPS(d, u, role);
    DUPS(d, u, sources);
    DUPS(d, u, methods);
    DUPS(d, u, removed_by);
    d->pw_hash = NULL;
    return 0;
}

static int grants_cb(const struct sk_grant *g, void *arg)
{
    struct sk_grant *d = vec_push(arg);

    *d = *g;
    DUPS(d, g, user);
    DUPS(d, g, target);
    DUPS(d, g, created_by);
    DUPS(d, g, window);
    DUPS(d, g, reason);
    return 0;
}

static int requests_cb(const struct sk_request *q, void *arg)
{
    struct sk_request *d = vec_push(arg);

    memset(d, 0, sizeof(*d));
    *d = *q;
    DUPS(d, q, user);
    DUPS(d, q, target);
    DUPS(d, q, reason);
    DUPS(d, q, ticket);
    DUPS(d, q, state);
    DUPS(d, q, decided_by);
    DUPS(d, q, report);
    DUPS(d, q, signed_off_by);
    return 0;
}

static int targets_cb(const struct sk_target *t, void *arg)
{
    struct sk_target *d = vec_push(arg);

    *d = *t;
    DUPS(d, t, name);
    DUPS(d, t, host);
    DUPS(d, t, login);
    d->host_key = NULL;
    d->key_group = NULL;
    return 0;
}

static int sessions_cb(const struct sk_session_rec *s, void *arg)
{
    struct sk_session_rec *d = vec_push(arg);

    memset(d, 0, sizeof(*d));
    d->id = strdup(s->id);
    d->user = strdup(s->user);
    d->target = s->target ? strdup(s->target) : NULL;
    d->start = s->start;
    d->request_id = s->request_id;
    return 0;
}

static const char *login_of(struct vec *targets, const char *name)
{
    struct sk_target *t = targets->v;

    for (size_t i = 0; i < targets->n; i++) {
        if (strcmp(t[i].name, name) == 0) {
            return t[i].login;
        }
    }
    return "(target removed)";
}

static const char *status_str(int s)
{
    return s == SK_USER_DISABLED ? "disabled"
           : s == SK_USER_LOCKED ? "locked"
                                 : "active";
}

static void fmt_t(int64_t t, char *out, size_t n)
{
    if (t == 0) {
        snprintf(out, n, "-");
    } else {
        sk_time_fmt((time_t)t, out, n);
    }
}

static void privileges(struct table *t, struct vec *users, struct vec *grants,
                       struct vec *reqs, struct vec *targets)
{
    time_t now = time(NULL);
    struct sk_user *u = users->v;
    struct sk_grant *g = grants->v;
    struct sk_request *q = reqs->v;
    char a[32], b[32], via[32], lim[24];
    struct sk_when when;

    when.now = now;
    sk_local_time(cfg->timezone, now, &when.wday, &when.minute,
                  &when.second);
    t->ncols = 14;
    memcpy(t->cols,
           (const char *[]){"user", "role", "account", "target", "login",
                            "via", "exec", "since", "until", "hours",
                            "max_session_s", "granted_by", "live", "reason"},
           sizeof(const char *) * 14);
    for (size_t i = 0; i < users->n; i++) {
        struct vec mine = {.sz = sizeof(struct sk_grant)};

        /* The user's own grants, then those through their groups. */
        for (size_t j = 0; j < grants->n; j++) {
            if (strcmp(g[j].user, u[i].name) == 0) {
                (void)grants_cb(&g[j], &mine);
            }
        }
        if (sk_store_group_grant_list(store, u[i].name, grants_cb, &mine) !=
            0) {
            die("state unavailable");
        }
        for (size_t j = 0; j < mine.n; j++) {
            struct sk_grant *x = &((struct sk_grant *)mine.v)[j];
            struct sk_policy_grant pg = {x->target, x->allow_exec, 0,
                                         x->valid_until, 0, NULL, 0};
            struct sk_window win;
            char wwhy[64], gvia[48];

            if (x->window != NULL &&
                sk_window_parse(x->window, &win, wwhy, sizeof(wwhy)) == 0) {
                pg.window = &win;
            }
            fmt_t(x->created, a, sizeof(a));
            fmt_t(x->valid_until, b, sizeof(b));
            snprintf(lim, sizeof(lim), "%lld", (long long)x->max_session);
            snprintf(gvia, sizeof(gvia), "group %s", x->user + 1);
            add_row(t, u[i].name, u[i].role, status_str(u[i].status),
                    x->target, login_of(targets, x->target),
                    x->user[0] == '@' ? gvia : "grant",
                    x->allow_exec ? "yes" : "no", a, b,
                    x->window ? x->window : "any time",
                    x->max_session ? lim : "-", x->created_by,
                    sk_policy_grant_live(&pg, &when) &&
                            u[i].status == SK_USER_ACTIVE
                        ? "yes"
                        : "no",
                    x->reason ? x->reason : "-");
            sk_grant_clear(x);
        }
        free(mine.v);
        for (size_t j = 0; j < reqs->n; j++) {
            if (strcmp(q[j].user, u[i].name) != 0 ||
                strcmp(q[j].state, "approved") != 0) {
                continue;
            }
            fmt_t(q[j].start, a, sizeof(a));
            fmt_t(q[j].end, b, sizeof(b));
            snprintf(via, sizeof(via), "request %lld", (long long)q[j].id);
            add_row(t, u[i].name, u[i].role, status_str(u[i].status),
                    q[j].target, login_of(targets, q[j].target), via, "no", a,
                    b, "window", "-", q[j].decided_by,
                    (int64_t)now >= q[j].start && (int64_t)now < q[j].end &&
                            u[i].status == SK_USER_ACTIVE
                        ? "yes"
                        : "no",
                    q[j].reason);
        }
    }
}

static void inspection(struct table *t, struct vec *users, struct vec *grants,
                       struct vec *reqs, struct vec *sessions, int days)
{
    time_t now = time(NULL);
    struct sk_user *u = users->v;
    struct sk_grant *g = grants->v;
    struct sk_request *q = reqs->v;
    struct sk_session_rec *s = sessions->v;
    char d[160], a[32];
    int admins = 0, approvers = 0;

    t->ncols = 3;
    memcpy(t->cols, (const char *[]){"check", "subject", "detail"},
           sizeof(const char *) * 3);
    for (size_t i = 0; i < users->n; i++) {
        uint8_t buf[256];
        size_t bl;
        int64_t last = u[i].last_login ? u[i].last_login : u[i].created;

        if (u[i].removed != 0) {
            continue; /* gone for good: nothing to inspect, no admin */
        }
        admins += sk_roles_has(u[i].role, "admin");
        approvers += sk_roles_has(u[i].role, "approver");
        if (u[i].status != SK_USER_ACTIVE) {
            add_row(t, "account not active", u[i].name,
                    status_str(u[i].status));
        }
        if (u[i].expires != 0 && u[i].expires <= (int64_t)now + 14 * 86400) {
            fmt_t(u[i].expires, a, sizeof(a));
            snprintf(d, sizeof(d), "%s %s",
                     u[i].expires <= (int64_t)now ? "expired" : "expires",
                     a);
            add_row(t, u[i].expires <= (int64_t)now ? "account expired"
                                                     : "account expiring",
                    u[i].name, d);
        }
        if ((int64_t)now - last > (int64_t)days * 86400) {
            fmt_t(u[i].last_login, a, sizeof(a));
            snprintf(d, sizeof(d), "no login for more than %d days (last: %s)",
                     days, a);
            add_row(t, "unused account", u[i].name, d);
        }
        if (cfg->password_max_age > 0 &&
            ((int64_t)now - u[i].pw_changed >
                 (int64_t)cfg->password_max_age * 86400 ||
             u[i].pw_changed == 0)) {
            fmt_t(u[i].pw_changed, a, sizeof(a));
            snprintf(d, sizeof(d), "password older than %d days (set %s)",
                     cfg->password_max_age, a);
            add_row(t, "password past maximum age", u[i].name, d);
        }
        {
            /* The user's method rule against the factors they have. */
            struct sk_methods rule = cfg->methods_rule;
            unsigned have = SK_F_PASSWORD, usable = 0;
            char err[128], f[64];
            int single = 0;

            if (sk_store_user_get_totp(store, u[i].name, buf, sizeof(buf),
                                       &bl) == 0) {
                have |= SK_F_TOTP;
            }
            (void)sk_store_user_key_list(store, u[i].name, key_factor,
                                         &have);
            if (u[i].methods != NULL &&
                sk_methods_parse(u[i].methods, sk_config_min_factors(cfg),
                                 &rule, err, sizeof(err)) != 0) {
                snprintf(d, sizeof(d), "rule '%.40s' invalid (%.60s): the user "
                                       "cannot log in",
                         u[i].methods, err);
                add_row(t, "method rule invalid", u[i].name, d);
                continue;
            }
            for (int k = 0; k < rule.n; k++) {
                single |= (rule.alt[k] & (rule.alt[k] - 1)) == 0;
                if ((rule.alt[k] & ~have) == 0) {
                    usable = 1;
                }
            }
            if (single) {
                sk_methods_format(&rule, d, sizeof(d));
                add_row(t, "no second factor", u[i].name, d);
            }
            if (!usable) {
                sk_factors_format(rule.alt[0] & ~have, f, sizeof(f));
                snprintf(d, sizeof(d), "no alternative of the rule is "
                                       "enrolled (e.g. missing %s)",
                         f);
                add_row(t, "factor not enrolled", u[i].name, d);
            }
        }
    }
    for (size_t j = 0; j < grants->n; j++) {
        int used = 0;

        for (size_t k = 0; k < sessions->n && !used; k++) {
            used = strcmp(s[k].user, g[j].user) == 0 && s[k].target &&
                   strcmp(s[k].target, g[j].target) == 0 &&
                   s[k].start >= g[j].created;
        }
        if (!used) {
            fmt_t(g[j].created, a, sizeof(a));
            snprintf(d, sizeof(d), "%s -> %s, granted %s by %s", g[j].user,
                     g[j].target, a, g[j].created_by);
            add_row(t, "grant never used", g[j].user, d);
        }
    }
    for (size_t j = 0; j < reqs->n; j++) {
        const char *disp = sk_req_display(q[j].state, q[j].start, q[j].end,
                                          now);

        if (strcmp(disp, "awaiting sign-off") == 0 ||
            strcmp(disp, "awaiting report") == 0 ||
            strcmp(disp, "awaiting approval") == 0) {
            snprintf(d, sizeof(d), "request %lld: %s on %s", (long long)q[j].id,
                     q[j].user, q[j].target);
            add_row(t, disp, q[j].user, d);
        }
    }
    snprintf(d, sizeof(d), "%d", admins);
    add_row(t, "admin accounts", "-", d);
    snprintf(d, sizeof(d), "%d", approvers);
    add_row(t, "approver accounts", "-", d);
    snprintf(d, sizeof(d), "%zu", users->n);
    add_row(t, "accounts", "-", d);
}

/* Break-glass uses (root's sekishoctl, sekishoctl.c) in the last days
 * days, from the audit log: each is a row an inspector should ask about.
 * Lines are RFC 3339 UTC, so a string comparison orders them. */
static void break_glass_rows(struct table *t, int days)
{
    struct sk_audit_reader *rd = NULL;
    char *line = NULL, since[32], d[640];
    size_t cap = 0;
    ssize_t n;
    time_t from = time(NULL) - (time_t)days * 86400;
    struct tm tm;

    if (gmtime_r(&from, &tm) == NULL ||
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        die("clock unavailable");
    }
    if (sk_audit_reader_open(cfg->audit_log, &rd) != 0) {
        die("cannot read %s: %s", cfg->audit_log, strerror(errno));
    }
    while ((n = sk_audit_reader_getline(rd, &line, &cap)) > 0) {
        const char *ev = NULL, *when = NULL, *who = NULL, *cmd = NULL,
                   *tty = NULL;
        json_t *o;

        if (strstr(line, "\"break_glass\"") == NULL ||
            (o = json_loads(line, 0, NULL)) == NULL) {
            continue;
        }
        if (json_unpack(o, "{s:s, s:s, s?s, s?s, s?s}", "event", &ev,
                        "time", &when, "admin", &who, "command", &cmd,
                        "tty", &tty) == 0 &&
            strcmp(ev, "break_glass") == 0 && strcmp(when, since) >= 0) {
            snprintf(d, sizeof(d), "%s: %s (tty %s)", when,
                     cmd ? cmd : "?", tty ? tty : "?");
            add_row(t, "break-glass use", who ? who : "?", d);
        }
        json_decref(o);
    }
    if (n < 0) {
        die("cannot read %s: %s", sk_audit_reader_path(rd), strerror(errno));
    }
    free(line);
    sk_audit_reader_free(rd);
}

static void free_all(struct vec *users, struct vec *grants, struct vec *reqs,
                     struct vec *targets, struct vec *sessions)
{
    for (size_t i = 0; i < users->n; i++) {
        sk_user_clear(&((struct sk_user *)users->v)[i]);
    }
    for (size_t i = 0; i < grants->n; i++) {
        sk_grant_clear(&((struct sk_grant *)grants->v)[i]);
    }
    for (size_t i = 0; i < reqs->n; i++) {
        sk_request_clear(&((struct sk_request *)reqs->v)[i]);
    }
    for (size_t i = 0; i < targets->n; i++) {
        sk_target_clear(&((struct sk_target *)targets->v)[i]);
    }
    for (size_t i = 0; i < sessions->n; i++) {
        sk_session_rec_clear(&((struct sk_session_rec *)sessions->v)[i]);
    }
    free(users->v);
    free(grants->v);
    free(reqs->v);
    free(targets->v);
    free(sessions->v);
}

int ctl_report(int argc, char **argv)
{
    const char *kind, *format = "text", *outp = NULL;
    struct vec users = {.sz = sizeof(struct sk_user)},
               grants = {.sz = sizeof(struct sk_grant)},
               reqs = {.sz = sizeof(struct sk_request)},
               targets = {.sz = sizeof(struct sk_target)},
               sessions = {.sz = sizeof(struct sk_session_rec)};
    struct table t;
    char *text = NULL, hex[65];
    size_t tlen = 0;
    uint8_t h[32];
    FILE *mem;
    int days = 90;

    if (argc < 1 || (strcmp(argv[0], "privileges") != 0 &&
                     strcmp(argv[0], "inspection") != 0)) {
        die_usage("report: privileges or inspection");
    }
    kind = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            format = argv[++i];
            if (strcmp(format, "text") && strcmp(format, "csv") &&
                strcmp(format, "json")) {
                die_usage("report: --format text, csv or json");
            }
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            outp = argv[++i];
        } else if (strcmp(argv[i], "--unused-days") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);

            if (*end != '\0' || v < 1 || v > 3650) {
                die_usage("report: --unused-days 1..3650");
            }
            days = (int)v;
        } else {
            die_usage("report: unexpected argument '%s'", argv[i]);
        }
    }
    if (sk_store_user_list(store, users_cb, &users) != 0 ||
        sk_store_grant_list(store, NULL, grants_cb, &grants) != 0 ||
        sk_store_request_list(store, NULL, requests_cb, &reqs) != 0 ||
        sk_store_target_list(store, targets_cb, &targets) != 0 ||
        sk_store_session_list(store, sessions_cb, &sessions) != 0) {
        die("state unavailable");
    }
    memset(&t, 0, sizeof(t));
    if (strcmp(kind, "privileges") == 0) {
        privileges(&t, &users, &grants, &reqs, &targets);
    } else {
        inspection(&t, &users, &grants, &reqs, &sessions, days);
        break_glass_rows(&t, days);
    }
    if ((mem = open_memstream(&text, &tlen)) == NULL) {
        die("out of memory");
    }
    render(&t, format, mem);
    if (fclose(mem) != 0) {
        die("out of memory");
    }
    crypto_generichash(h, sizeof(h), (const uint8_t *)text, tlen, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    /* On record before it is shown: who ran which report, and a hash that
     * proves a kept copy is the one produced. */
    if (sk_audit("report_run", "{s:s, s:s, s:s, s:I, s:s, s:s?}", "admin",
                 admin, "report", kind, "format", format, "rows",
                 (json_int_t)t.rows, "output_hash", hex, "file", outp) != 0) {
        die("audit log unavailable: report not produced");
    }
    if (outp != NULL) {
        int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);

        if (fd < 0 || write(fd, text, tlen) != (ssize_t)tlen ||
            close(fd) != 0) {
            die("cannot write %s: %s", outp, strerror(errno));
        }
        fprintf(stderr, _("report written to %s (BLAKE2b %s)\n"), outp, hex);
    } else {
        fwrite(text, 1, tlen, stdout);
    }
    free(text);
    table_free(&t);
    free_all(&users, &grants, &reqs, &targets, &sessions);
    return 0;
}
