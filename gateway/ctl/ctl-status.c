/* sekishoctl status: is the gateway healthy, and if not, what needs an
 * administrator. Read-only: it opens the state database and the audit log
 * for reading and signs nothing, so a monitoring agent can run it often. */
#include "audit.h"
#include "config.h"
#include "i18n.h"
#include "log.h"
#include "sk-err.h"
#include "store.h"
#include "util.h"
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

/* Ordered by how much they need a person; UNKNOWN (a check that could not
 * be made) ranks below CRITICAL as in Nagios plugins' usual reading. */
enum st_level { ST_OK = 0, ST_WARNING = 1, ST_UNKNOWN = 2, ST_CRITICAL = 3 };

#define ST_AUDIT_TAIL 100         /* lines whose chain status checks */
#define ST_AUDIT_TAIL_BYTES 65536 /* ... read from the end at most */
#define ST_CONNECT_MS 3000

struct st_check {
    const char *name;
    enum st_level level;
    char detail[512];
};

struct st_report {
    struct st_check c[8];
    size_t n;
    json_t *extra; /* figures for --json */
};

static const char *level_name(enum st_level l)
{
    switch (l) {
    case ST_OK:
        return "OK";
    case ST_WARNING:
        return "WARNING";
    case ST_UNKNOWN:
        return "UNKNOWN";
    default:
        return "CRITICAL";
    }
}

static struct st_check *add_check(struct st_report *rep, const char *name)
{
    struct st_check *c = &rep->c[rep->n++];

    c->name = name;
    c->level = ST_OK;
    c->detail[0] = '\0';
    return c;
}

/* The listener accepts TCP connections on the listen address (a wildcard
 * address is asked on loopback). A connect costs sekishod one pending slot
 * until we close, no process. */
static void check_listener(struct st_report *rep)
{
    struct st_check *c = add_check(rep, "listener");
    struct addrinfo hints, *ai = NULL;
    char host[256], ports[16];
    int port, fd = -1, r, soerr = 0;
    socklen_t sl = sizeof(soerr);
    struct pollfd pfd;

    if (sk_hostport_parse(cfg->listen, host, sizeof(host), &port) != 0) {
        c->level = ST_UNKNOWN;
        snprintf(c->detail, sizeof(c->detail), "listen '%s' not understood",
                 cfg->listen);
        return;
    }
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
        snprintf(host, sizeof(host), "127.0.0.1");
    } else if (strcmp(host, "::") == 0) {
        snprintf(host, sizeof(host), "::1");
    }
    snprintf(ports, sizeof(ports), "%d", port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if ((r = getaddrinfo(host, ports, &hints, &ai)) != 0) {
        c->level = ST_UNKNOWN;
        snprintf(c->detail, sizeof(c->detail), "%s: %s", cfg->listen,
                 gai_strerror(r));
        return;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        c->level = ST_UNKNOWN;
        snprintf(c->detail, sizeof(c->detail), "socket: %s", strerror(errno));
        goto out;
    }
    r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        r = poll(&pfd, 1, ST_CONNECT_MS);
        if (r == 0) {
            soerr = ETIMEDOUT;
        } else if (r < 0 ||
                   getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
            soerr = errno;
        }
        r = soerr == 0 ? 0 : -1;
    } else if (r != 0) {
        soerr = errno;
    }
    if (r != 0) {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail),
                 "nothing accepts connections on %s (%s): is sekishod "
                 "running?",
                 cfg->listen, strerror(soerr));
    } else {
        snprintf(c->detail, sizeof(c->detail), "%s accepts connections",
                 cfg->listen);
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
}

static int count_open(const struct sk_session_rec *s, void *arg)
{
    if (s->end == 0) {
        (*(long *)arg)++;
    }
    return 0;
}

static void check_sessions(struct st_report *rep, sk_store *st)
{
    struct st_check *c = add_check(rep, "sessions");
    long n = 0;
    int r;

    if (st == NULL) {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail),
                 "state database %s/state.db cannot be opened",
                 cfg->state_dir);
        return;
    }
    if ((r = sk_store_session_list(st, count_open, &n)) != 0) {
        c->level = ST_CRITICAL;
        /* English: the detail is also status --json's */
        snprintf(c->detail, sizeof(c->detail), "state database: %s",
                 (sk_err_str)(r));
        return;
    }
    /* Open rows include sessions whose monitor died: "open", not "live". */
    snprintf(c->detail, sizeof(c->detail), "%ld open", n);
    json_object_set_new(rep->extra, "open_sessions", json_integer(n));
}

/* Below transcript_min_free new sessions are refused: CRITICAL; below
 * twice that there is time to act: WARNING. */
static void check_space(struct st_report *rep, const char *name,
                        const char *dir)
{
    struct st_check *c = add_check(rep, name);
    uint64_t avail = 0, need = 0;
    int r = sk_min_free_check(cfg, dir, &avail, &need);

    if (r < 0) {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail), "%s: %s", term_str(dir),
                 strerror(errno));
        return;
    }
    if (r == 0) {
        c->level = ST_CRITICAL;
    } else if (avail / 2 < need) {
        c->level = ST_WARNING;
    }
    snprintf(c->detail, sizeof(c->detail),
             "%llu MiB free in %s (sessions refused below %llu MiB)%s",
             (unsigned long long)(avail >> 20), term_str(dir),
             (unsigned long long)(need >> 20),
             r == 0 ? ": new sessions are being refused" : "");
    {
        char key[64];

        snprintf(key, sizeof(key), "%s_free_bytes", name);
        json_object_set_new(rep->extra, key, json_integer((json_int_t)avail));
        snprintf(key, sizeof(key), "%s_min_free_bytes", name);
        json_object_set_new(rep->extra, key, json_integer((json_int_t)need));
    }
}

/* The same kernel question the monitor asks for each transcript header. */
static void check_clock(struct st_report *rep)
{
    struct st_check *c = add_check(rep, "clock");
    struct timex tx;
    int r;

    memset(&tx, 0, sizeof(tx));
    r = ntp_adjtime(&tx);
    if (r < 0) {
        c->level = ST_UNKNOWN;
        snprintf(c->detail, sizeof(c->detail),
                 "cannot ask the kernel (ntp_adjtime: %s); transcripts say "
                 "clock unknown",
                 strerror(errno));
    } else if (r == TIME_ERROR) {
        c->level = ST_WARNING;
        snprintf(c->detail, sizeof(c->detail),
                 "not synchronised (start NTP, e.g. systemd-timesyncd or "
                 "chrony); transcripts say clock unsynchronized");
    } else {
        snprintf(c->detail, sizeof(c->detail), "synchronised");
    }
}

/* The last lines of the audit log: their signatures and the chain between
 * them. The whole chain is `audit verify`'s work (it may be long). */
static void check_audit(struct st_report *rep)
{
    struct st_check *c = add_check(rep, "audit");
    char *buf = NULL, *lines[ST_AUDIT_TAIL], prev[65], last[65], err[256],
                      when[40] = "";
    size_t nl = 0, i;
    int fd = -1, r;
    struct stat sb;
    off_t from;
    ssize_t got;
    char *p, *nlp;

    if ((fd = open(cfg->audit_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
        fstat(fd, &sb) != 0) {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail), "%s: %s",
                 term_str(cfg->audit_log), strerror(errno));
        goto out;
    }
    if (sb.st_size == 0) {
        snprintf(c->detail, sizeof(c->detail), "empty");
        goto out;
    }
    from = sb.st_size > ST_AUDIT_TAIL_BYTES ? sb.st_size - ST_AUDIT_TAIL_BYTES
                                             : 0;
    if ((buf = malloc((size_t)(sb.st_size - from) + 1)) == NULL) {
        die("out of memory");
    }
    got = pread(fd, buf, (size_t)(sb.st_size - from), from);
    if (got <= 0) {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail), "%s: cannot read",
                 term_str(cfg->audit_log));
        goto out;
    }
    buf[got] = '\0';
    if (buf[got - 1] != '\n') {
        c->level = ST_CRITICAL;
        snprintf(c->detail, sizeof(c->detail),
                 "the last line is torn (no newline): run audit verify");
        goto out;
    }
    p = buf;
    if (from > 0) {
        /* The window starts inside a line: skip to the next. */
        if ((p = strchr(buf, '\n')) == NULL) {
            c->level = ST_CRITICAL;
            snprintf(c->detail, sizeof(c->detail), "the last line is over "
                                                   "64 KiB");
            goto out;
        }
        p++;
    }
    /* Keep the last ST_AUDIT_TAIL lines (a ring over the window). */
    for (; *p != '\0'; p = nlp + 1) {
        nlp = strchr(p, '\n');
        *nlp = '\0';
        if (nl == ST_AUDIT_TAIL) {
            memmove(lines, lines + 1, sizeof(lines[0]) * (nl - 1));
            nl--;
        }
        lines[nl++] = p;
    }
    for (i = 0; i < nl; i++) {
        r = sk_audit_verify_line(lines[i], (uint64_t)(nl - i),
                                 i == 0 ? NULL : prev, ctl_trusted_key, NULL,
                                 err, sizeof(err));
        if (r != 0) {
            c->level = ST_CRITICAL;
            snprintf(c->detail, sizeof(c->detail),
                     "%s (counted from the end): the chain or a signature "
                     "is broken; run audit verify",
                     term_str(err));
            goto out;
        }
        sk_audit_line_hash(lines[i], strlen(lines[i]), prev);
    }
    memcpy(last, prev, sizeof(last));
    {
        json_t *o = json_loads(lines[nl - 1], 0, NULL);
        const char *t = json_string_value(json_object_get(o, "time"));

        snprintf(when, sizeof(when), "%s", t != NULL ? t : "?");
        json_decref(o);
    }
    snprintf(c->detail, sizeof(c->detail),
             "last line %s, hash %s; last %zu lines chained and signed",
             term_str(when), last, nl);
    json_object_set_new(rep->extra, "audit_last_time", json_string(when));
    json_object_set_new(rep->extra, "audit_last_hash", json_string(last));
out:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
}

int ctl_status(int argc, char **argv)
{
    struct st_report rep;
    enum st_level worst = ST_OK;
    sk_store *st = NULL;
    char path[PATH_MAX];
    int json = 0, nagios = 0, i, rc;
    size_t k;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--nagios") == 0) {
            nagios = 1;
        } else {
            die_usage("status: unexpected argument '%s'", argv[i]);
        }
    }
    if (json && nagios) {
        die_usage("status: --json or --nagios, not both");
    }
    memset(&rep, 0, sizeof(rep));
    if ((rep.extra = json_object()) == NULL) {
        die("out of memory");
    }
    snprintf(path, sizeof(path), "%s/state.db", cfg->state_dir);
    if (sk_store_open(path, 0, &st) != 0) {
        st = NULL;
    }
    check_listener(&rep);
    check_sessions(&rep, st);
    check_space(&rep, "transcripts", cfg->transcript_dir);
    check_space(&rep, "state", cfg->state_dir);
    check_clock(&rep);
    check_audit(&rep);
    sk_store_close(st);
    for (k = 0; k < rep.n; k++) {
        if (rep.c[k].level > worst) {
            worst = rep.c[k].level;
        }
    }
    if (json) {
        json_t *o = NULL, *a = json_array();
        char *text = NULL;

        for (k = 0; a != NULL && k < rep.n; k++) {
            json_array_append_new(
                a, json_pack("{s:s, s:s, s:s}", "check", rep.c[k].name,
                             "status", level_name(rep.c[k].level), "detail",
                             rep.c[k].detail));
        }
        o = json_pack("{s:s, s:s, s:o}", "status", level_name(worst),
                      "gateway", cfg->gateway_id, "checks", a);
        if (o == NULL || json_object_update(o, rep.extra) != 0 ||
            (text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
                NULL) {
            die("out of memory");
        }
        put_json(text);
        putchar('\n');
        free(text);
        json_decref(o);
    } else {
        if (nagios) {
            /* Plugin convention: the first line is the summary. */
            printf("SEKISHO %s -", level_name(worst));
            if (worst == ST_OK) {
                printf(" all %zu checks passed", rep.n);
            }
            for (k = 0; k < rep.n; k++) {
                if (rep.c[k].level != ST_OK) {
                    printf(" %s %s;", rep.c[k].name,
                           level_name(rep.c[k].level));
                }
            }
            putchar('\n');
        }
        for (k = 0; k < rep.n; k++) {
            printf("%-12s %-8s %s\n", rep.c[k].name,
                   level_name(rep.c[k].level), rep.c[k].detail);
        }
        if (!nagios) {
            printf("status: %s\n", level_name(worst));
        }
    }
    json_decref(rep.extra);
    if (nagios) {
        /* 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN */
        rc = worst == ST_OK        ? 0
             : worst == ST_WARNING ? 1
             : worst == ST_UNKNOWN ? 3
                                   : 2;
    } else {
        rc = worst == ST_OK ? 0 : EXIT_REFUSED;
    }
    if (worst != ST_OK && !json && !nagios) {
        fflush(stdout);
        fprintf(stderr, _("sekishoctl: the gateway needs an administrator "
                          "(see the lines not OK above)\n"));
    }
    return rc;
}
