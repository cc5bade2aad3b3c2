/*
 * sekishod: the listener. It binds, accepts, keeps the number of
 * unauthenticated connections under max_startups and the total under
 * max_sessions, and fork+execs one sekisho-session per connection (fresh
 * address-space layout for every client). Children run in their own
 * session, so they outlive a listener restart, as with OpenSSH.
 */
#include "config.h"
#include "log.h"
#include "monitor.h"
#include "sk-err.h"
#include "srclimit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

struct child {
    pid_t pid;
    int notify; /* read end; -1 once the child authenticated */
    int failures; /* failed attempts it reported (already penalised) */
    char source[NI_MAXHOST];
    char block[SK_NETBLOCK_MAX];
    char coarse[SK_NETBLOCK_MAX];
};

static struct child *children;
static int nchildren, maxchildren;

/*
 * Connections that have not yet sent their SSH identification line. They
 * cost a descriptor and a slot here, and no process: only a client that
 * speaks SSH gets a sekisho-session. Ours was sent on accept (Tera Term
 * and libssh clients wait for it before sending theirs).
 */
struct pending {
    int fd;
    time_t since;
    time_t deadline; /* banner_timeout */
    time_t start_at; /* penalty delay: no session before this */
    int ready;       /* the client's identification line is in */
    int lowat;       /* SO_RCVLOWAT raised for a partial line */
    char source[NI_MAXHOST];
    char block[SK_NETBLOCK_MAX];
    char coarse[SK_NETBLOCK_MAX];
};

static struct pending *pend;
static int npend;

/*
 * Per-netblock penalties at the door: a failed authentication (reported
 * by the session the moment it happens), a connection that never sent an
 * identification line within banner_timeout, or one that ended without
 * authenticating (grace time, protocol violation) counts against its
 * netblock (per_source_netblock: /32 and /64 by default, so an IPv6
 * subscriber cannot rotate through its /64). Past half of
 * source_threshold within lockout_window a new connection is started
 * later; at source_threshold it is closed at once, before any SSH work.
 * The monitor's store-backed per-address block stays the authority; this
 * protects the gateway's resources. The table is bounded, and fresh
 * addresses cannot flush a worse offender out of it (srclimit.h).
 */
#define PENALTY_SLOTS 8192

static struct sk_door *penalties;
static const struct sk_config *penalty_cfg;
static volatile sig_atomic_t got_chld, got_term;

static void penalty_note(const char *block, const char *coarse, int weight)
{
    if (penalty_cfg == NULL || penalties == NULL) {
        return;
    }
    (void)sk_door_note(penalties, block, coarse, time(NULL),
                       penalty_cfg->lockout_window, weight);
}

/* Rate-limited logging of refusals: a flood must not flood the log too. */
struct quiet {
    time_t last;
    unsigned long suppressed;
};

static void refuse_log(struct quiet *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void refuse_log(struct quiet *q, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    time_t now = time(NULL);

    if (now - q->last < 5) {
        q->suppressed++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (q->suppressed > 0) {
        logit("%s (and %lu more like it since the last such line)", msg,
              q->suppressed);
    } else {
        logit("%s", msg);
    }
    q->last = now;
    q->suppressed = 0;
}

static struct quiet q_sessions, q_startups, q_persource, q_penalty,
    q_pending, q_banner, q_accept;

/* Out of descriptors (or kernel memory) at accept: the connection stays
 * in the backlog and the listener would poll readable at once, forever.
 * Not polled until this time; sessions ending meanwhile free descriptors. */
#define ACCEPT_PAUSE 1
static time_t accept_paused_until;

static void on_signal(int sig)
{
    if (sig == SIGCHLD) {
        got_chld = 1;
    } else {
        got_term = 1;
    }
}

/* Unauthenticated sessions: all of them, and those of one netblock. */
static int startups(const char *block, int *held)
{
    int i, n = 0, h = 0;

    for (i = 0; i < nchildren; i++) {
        if (children[i].notify >= 0) {
            n++;
            h += strcmp(children[i].block, block) == 0;
        }
    }
    if (held != NULL) {
        *held = h;
    }
    return n;
}

static const char *exit_meaning(int code)
{
    switch (code) {
    case SK_EXIT_OK:
        return "ok";
    case SK_EXIT_AUTH_FAILED:
        return "authentication failed";
    case SK_EXIT_GRACE:
        return "login grace time exceeded";
    case SK_EXIT_SANDBOX:
        return "sandbox violation";
    case SK_EXIT_RECORDING:
        return "recording failed";
    case SK_EXIT_PROTOCOL:
        return "protocol violation";
    case SK_EXIT_STORE:
        return "state database unavailable";
    default:
        return "error";
    }
}

static void reap(void)
{
    pid_t pid;
    int status, i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < nchildren; i++) {
            if (children[i].pid != pid) {
                continue;
            }
            if (WIFEXITED(status)) {
                int c = WEXITSTATUS(status);

                /* Failed attempts were counted as they happened; a
                 * connection that ended unauthenticated without one (key
                 * exchange refused, grace time, protocol violation) counts
                 * once now. */
                if ((c == SK_EXIT_AUTH_FAILED || c == SK_EXIT_GRACE ||
                     c == SK_EXIT_PROTOCOL) &&
                    children[i].failures == 0) {
                    penalty_note(children[i].block, children[i].coarse, 1);
                }
                if (c == SK_EXIT_OK) {
                    verbose_f("session %ld from %s ended", (long)pid,
                              children[i].source);
                } else {
                    logit("session %ld from %s exited %d (%s)", (long)pid,
                          children[i].source, c, exit_meaning(c));
                }
            } else if (WIFSIGNALED(status)) {
                logit("session %ld from %s killed by signal %d", (long)pid,
                      children[i].source, WTERMSIG(status));
            }
            if (children[i].notify >= 0) {
                close(children[i].notify);
            }
            children[i] = children[--nchildren];
            break;
        }
    }
}

/* What a session tells us on its notify pipe: one 'F' per failed
 * attempt; end of file once it authenticated (or died). */
static void child_notified(struct child *c)
{
    char buf[64];
    ssize_t n;

    n = read(c->notify, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    for (ssize_t k = 0; k < n; k++) {
        if (buf[k] == 'F') {
            c->failures++;
            penalty_note(c->block, c->coarse, 1);
        }
    }
    if (n <= 0) {
        close(c->notify);
        c->notify = -1;
    }
}

static int listen_on(const char *spec)
{
    char host[256], port[8];
    int p, fd = -1, one = 1, rc;
    struct addrinfo hints, *res, *ai;

    if (sk_hostport_parse(spec, host, sizeof(host), &p) != 0) {
        fatal_f("listen: '%s' is not ADDR:PORT", spec);
    }
    snprintf(port, sizeof(port), "%d", p);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        fatal_f("listen %s: %s", spec, gai_strerror(rc));
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        /* A deep backlog: a flood fills it, and we drain it fast. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
                0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 1024) == 0) {
            break;
        }
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fatal_f("cannot listen on %s: %s", spec, strerror(errno));
    }
    return fd;
}

static void spawn(const struct sk_config *cfg, const char *prog, int fg,
                  int sock, const struct pending *p)
{
    int np[2];
    pid_t pid;

    if (pipe2(np, O_CLOEXEC) != 0) {
        error_f("pipe: %s", strerror(errno));
        close(sock);
        return;
    }
    if ((pid = fork()) < 0) {
        error_f("fork: %s", strerror(errno));
        close(np[0]);
        close(np[1]);
        close(sock);
        return;
    }
    if (pid == 0) {
        char *argv[8];
        int a = 0;
        sigset_t none;

        argv[a++] = "sekisho-session";
        argv[a++] = "-c";
        argv[a++] = cfg->path;
        argv[a++] = "-R";
        if (fg) {
            argv[a++] = "-f";
        }
        argv[a] = NULL;
        (void)setsid();
        /* SIGUSR1 (ann_read) stays blocked across the exec: a poke before
         * the session installed its handler must not end it. */
        sigemptyset(&none);
        sigaddset(&none, SIGUSR1);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(sock, 3) < 0 || dup2(np[1], 4) < 0) {
            _exit(SK_EXIT_ERROR);
        }
        execv(prog, argv);
        _exit(127);
    }
    close(np[1]);
    close(sock);
    if (fcntl(np[0], F_SETFL, O_NONBLOCK) != 0) {
        error_f("notify pipe: %s", strerror(errno));
    }
    children[nchildren].pid = pid;
    children[nchildren].notify = np[0];
    children[nchildren].failures = 0;
    snprintf(children[nchildren].source, sizeof(children[0].source), "%s",
             p->source);
    snprintf(children[nchildren].block, sizeof(children[0].block), "%s",
             p->block);
    snprintf(children[nchildren].coarse, sizeof(children[0].coarse), "%s",
             p->coarse);
    nchildren++;
}

/*
 * Rule changes reach held sessions at once. Every program that commits a
 * change to what can end a session appends a byte to state.db-policy
 * (store.h, sk_store_policy_moved) and closes it; this listener watches
 * the state folder for that close and sends SIGUSR1 to every session,
 * whose monitor then reads the rules (gateway/monitor.c, mon_poked). So a
 * held session's monitor need not wake every other second to look: it
 * sleeps until its rules say something is due, or the store's periodic
 * read (MON_REREAD_S). Sessions that outlived a listener restart are not
 * children of the new one and get no poke: they see a change at that
 * periodic read.
 */
#define ANN_NAME "state.db-policy"
static int ann_fd = -1;

static void ann_open(const struct sk_config *cfg)
{
    ann_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ann_fd < 0 ||
        inotify_add_watch(ann_fd, cfg->state_dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        error_f("cannot watch %s for rule changes (%s): held sessions see "
                "them at their periodic check instead",
                cfg->state_dir, strerror(errno));
        if (ann_fd >= 0) {
            close(ann_fd);
        }
        ann_fd = -1;
    }
}

/* Reads what the watch has; on a rule change (or a lost event) pokes
 * every session. */
static void ann_read(void)
{
    union {
        struct inotify_event ev;
        char b[8192];
    } u;
    int hit = 0, i;
    ssize_t n;

    while ((n = read(ann_fd, u.b, sizeof(u.b))) > 0) {
        const char *p = u.b;

        while (p + sizeof(struct inotify_event) <= u.b + n) {
            const struct inotify_event *ev = (const void *)p;

            if ((ev->mask & IN_Q_OVERFLOW) ||
                (ev->len > 0 && strcmp(ev->name, ANN_NAME) == 0)) {
                hit = 1;
            }
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        error_f("rule change watch: %s", strerror(errno));
        close(ann_fd);
        ann_fd = -1;
        hit = 1;
    }
    if (hit) {
        verbose_f("rule change announced; telling %d session(s)", nchildren);
        for (i = 0; i < nchildren; i++) {
            (void)kill(children[i].pid, SIGUSR1);
        }
    }
}

static void pending_drop(int i)
{
    close(pend[i].fd);
    pend[i] = pend[--npend];
}

/* The pool is full: the oldest connection of the netblock that holds the
 * most gives way, so one attacker cannot keep newcomers out; it counts as
 * a failure of that netblock. Linear in the pool (an index of netblocks),
 * since a full pool is exactly when each accept needs it. */
static void pending_evict(void)
{
    struct sk_strix ix;
    int *count, i, best = -1, bestn = 0;
    size_t rep;

    memset(&ix, 0, sizeof(ix));
    if ((count = calloc((size_t)npend, sizeof(*count))) == NULL) {
        fatal_f("out of memory");
    }
    for (i = 0; i < npend; i++) {
        if (sk_strix_find(&ix, pend[i].block, &rep)) {
            count[rep]++;
        } else if (sk_strix_add(&ix, pend[i].block, (size_t)i) == 0) {
            count[i] = 1;
            rep = (size_t)i;
        } else {
            fatal_f("out of memory");
        }
        if (count[rep] > bestn) {
            bestn = count[rep];
            best = (int)rep;
        }
    }
    if (best >= 0) {
        /* the oldest of that netblock */
        for (i = 0; i < npend; i++) {
            if (pend[i].since < pend[best].since &&
                strcmp(pend[i].block, pend[best].block) == 0) {
                best = i;
            }
        }
        refuse_log(&q_pending,
                   "dropped a connection from %s still silent: max_pending "
                   "(%d) reached, %s holds %d",
                   pend[best].source, npend, pend[best].block, bestn);
        penalty_note(pend[best].block, pend[best].coarse, 1);
        pending_drop(best);
    }
    sk_strix_free(&ix);
    free(count);
}

static void accept_one(const struct sk_config *cfg, int s,
                       const struct sockaddr_storage *ss, socklen_t sl)
{
    static const char ident[] = SK_SSH_IDENT;
    char host[NI_MAXHOST] = "?", block[SK_NETBLOCK_MAX],
         coarse[SK_NETBLOCK_MAX];
    time_t now = time(NULL);
    struct pending *p;
    int fails, half, d;
    ssize_t w;

    (void)getnameinfo((const struct sockaddr *)ss, sl, host, sizeof(host),
                      NULL, 0, NI_NUMERICHOST);
    if (sk_netblock_key((const struct sockaddr *)ss, sl, cfg->netblock_v4,
                        cfg->netblock_v6, block, sizeof(block)) != 0 ||
        sk_netblock_key((const struct sockaddr *)ss, sl, SK_COARSE_V4,
                        SK_COARSE_V6, coarse, sizeof(coarse)) != 0) {
        close(s);
        return;
    }
    if (nchildren >= maxchildren) {
        refuse_log(&q_sessions, "refused %s: max_sessions (%d) reached", host,
                   maxchildren);
        close(s);
        return;
    }
    fails = sk_door_count(penalties, block, coarse, now, cfg->lockout_window);
    if (fails >= cfg->source_threshold) {
        refuse_log(&q_penalty,
                   "refused %s: %s has %d failures within lockout_window "
                   "(penalty)",
                   host, block, fails);
        close(s);
        return;
    }
    if (npend >= cfg->max_pending) {
        pending_evict();
    }
    w = send(s, ident, sizeof(ident) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != (ssize_t)sizeof(ident) - 1) {
        close(s);
        return;
    }
    /* Past half the threshold, each further failure costs a second more
     * before a session may start (at most 5): a slow-down for guessing,
     * unnoticeable for a user who mistyped. No process waits meanwhile. */
    half = cfg->source_threshold / 2;
    d = fails >= half ? fails - half + 1 : 0;
    p = &pend[npend++];
    memset(p, 0, sizeof(*p));
    p->fd = s;
    p->since = now;
    p->deadline = now + cfg->banner_timeout;
    p->start_at = now + (d > 5 ? 5 : d);
    snprintf(p->source, sizeof(p->source), "%s", host);
    snprintf(p->block, sizeof(p->block), "%s", block);
    snprintf(p->coarse, sizeof(p->coarse), "%s", coarse);
}

/* Looks at what a pending connection sent, without consuming it (the
 * session's libssh reads the line). Returns 0 to keep it, -1 to drop. */
static int pending_read(struct pending *p, short revents)
{
    char buf[256];
    ssize_t n;
    char *nl;

    if (p->ready) {
        /* Only watched for hanging up while a penalty delays it: no
         * session for a client that has gone. */
        return (revents & (POLLRDHUP | POLLHUP | POLLERR)) ? -1 : 0;
    }
    n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return 0;
    }
    if (n <= 0) {
        /* Gone, having said nothing. A port check that closes at once
         * costs nothing; one that held a slot for a while counts. */
        if (time(NULL) - p->since >= 2) {
            penalty_note(p->block, p->coarse, 1);
        }
        return -1;
    }
    if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
        /* Half-closed (or reset) with its line unfinished: it will never
         * finish, and poll would report it at once again and again. */
        if (memchr(buf, '\n', (size_t)n) == NULL) {
            refuse_log(&q_banner,
                       "dropped %s: closed before its identification line "
                       "ended",
                       p->source);
            penalty_note(p->block, p->coarse, 1);
            return -1;
        }
    }
    if (memcmp(buf, "SSH-", (size_t)n < 4 ? (size_t)n : 4) != 0) {
        refuse_log(&q_banner, "dropped %s: not an SSH client", p->source);
        penalty_note(p->block, p->coarse, 1);
        return -1;
    }
    if ((nl = memchr(buf, '\n', (size_t)n)) == NULL) {
        if (n >= 255) {
            /* RFC 4253 4.2: at most 255 characters with CR LF. */
            refuse_log(&q_banner, "dropped %s: identification line too long",
                       p->source);
            penalty_note(p->block, p->coarse, 1);
            return -1;
        }
        /* Wake again only when more than this has arrived: the data stays
         * queued, so a plain poll would report it again at once. */
        int lw = (int)n + 1;

        if (setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &lw, sizeof(lw)) !=
            0) {
            return -1;
        }
        p->lowat = 1;
        return 0;
    }
    if (nl - buf < 8 || (memcmp(buf, "SSH-2.0-", 8) != 0 &&
                         (nl - buf < 9 || memcmp(buf, "SSH-1.99-", 9) != 0))) {
        refuse_log(&q_banner, "dropped %s: not SSH protocol 2", p->source);
        penalty_note(p->block, p->coarse, 1);
        return -1;
    }
    if (p->lowat) {
        int one = 1;

        if (setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) !=
            0) {
            return -1;
        }
        p->lowat = 0;
    }
    p->ready = 1;
    return 0;
}

/* A connection whose client has spoken SSH: a session for it, unless the
 * limits on unauthenticated sessions say no. Returns with it handed over
 * or closed. */
static void pending_start(const struct sk_config *cfg, const char *prog,
                          int fg, struct pending *p)
{
    int held, n, fl;

    n = startups(p->block, &held);
    if (held >= cfg->per_source_max_startups) {
        refuse_log(&q_persource,
                   "dropped %s: %s holds per_source_max_startups (%d) "
                   "unauthenticated connections",
                   p->source, p->block, held);
        close(p->fd);
        return;
    }
    if (!sk_startups_admit(n, held, cfg->startups_start, cfg->startups_rate,
                           cfg->startups_full, randombytes_random())) {
        refuse_log(&q_startups,
                   "dropped %s: max_startups (%s) with %d unauthenticated "
                   "connections",
                   p->source, cfg->max_startups, n);
        close(p->fd);
        return;
    }
    if (nchildren >= maxchildren) {
        refuse_log(&q_sessions, "refused %s: max_sessions (%d) reached",
                   p->source, maxchildren);
        close(p->fd);
        return;
    }
    /* The session reads with blocking calls; the open file (and so this
     * flag) is shared with it. */
    if ((fl = fcntl(p->fd, F_GETFL)) < 0 ||
        fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        close(p->fd);
        return;
    }
    spawn(cfg, prog, fg, p->fd, p);
}

static void usage(void)
{
    fprintf(stderr, "usage: sekishod [-c CONFIG] [-f] [-T]\n"
                    "  -c  configuration (default " SK_DEFAULT_CONFIG ")\n"
                    "  -f  foreground, log to stderr\n"
                    "  -T  print the effective configuration and exit\n");
    exit(2);
}

/* Descriptors for the pending pool, the sessions' notify pipes and some
 * spare: the soft limit raised as far as the hard one allows. */
static void raise_fd_limit(const struct sk_config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_pending + (rlim_t)cfg->max_sessions + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
        return;
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
                      ? want
                      : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
        logit("only %llu descriptors (%llu wanted): max_pending (%d) "
              "and max_sessions (%d) may not be reached",
              (unsigned long long)rl.rlim_cur, (unsigned long long)want,
              cfg->max_pending, cfg->max_sessions);
    }
}

int main(int argc, char **argv)
{
    const char *cfgpath = SK_DEFAULT_CONFIG;
    struct sk_config *cfg = NULL;
    char err[512], prog[PATH_MAX], self[PATH_MAX];
    int ch, fg = 0, test = 0, lfd, i;
    struct sigaction sa;
    sigset_t block, orig;
    ssize_t n;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        sk_version_print("sekishod");
        return 0;
    }

    while ((ch = getopt(argc, argv, "c:fT")) != -1) {
        switch (ch) {
        case 'c':
            cfgpath = optarg;
            break;
        case 'f':
            fg = 1;
            break;
        case 'T':
            test = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc) {
        usage();
    }
    /* State, keys and logs are for root alone. */
    umask(077);
    sk_log_init("sekishod", 1, SK_LOG_INFO);
    if (sk_config_load(cfgpath, &cfg, err, sizeof(err)) == 0) {
        penalty_cfg = cfg;
    }
    if (cfg == NULL) {
        fprintf(stderr, "sekishod: %s\n", err);
        return 1;
    }
    if (test) {
        sk_config_dump(cfg, stdout);
        sk_config_free(cfg);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (sodium_init() < 0) {
        fatal_f("libsodium initialisation failed");
    }
    if (cfg->session_program != NULL) {
        snprintf(prog, sizeof(prog), "%s", cfg->session_program);
    } else {
        if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
            fatal_f("readlink /proc/self/exe: %s", strerror(errno));
        }
        self[n] = '\0';
        snprintf(prog, sizeof(prog), "%s/sekisho-session", dirname(self));
    }
    if (access(prog, X_OK) != 0) {
        fatal_f("session program %s: %s", prog, strerror(errno));
    }
    raise_fd_limit(cfg);
    lfd = listen_on(cfg->listen);
    if (!fg) {
        if (daemon(0, 0) != 0) {
            fatal_f("daemon: %s", strerror(errno));
        }
    }
    sk_log_init("sekishod", fg, sk_log_level_parse(cfg->log_level));
    maxchildren = cfg->max_sessions;
    if ((children = calloc((size_t)maxchildren, sizeof(*children))) ==
            NULL ||
        (pend = calloc((size_t)cfg->max_pending, sizeof(*pend))) == NULL ||
        (penalties = sk_door_new(PENALTY_SLOTS)) == NULL) {
        fatal_f("out of memory");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    ann_open(cfg);
    logit("Sekisho %s listening on %s", SK_VERSION, cfg->listen);

    while (!got_term) {
        struct pollfd *pfd;
        int *pidx; /* pollfd index -> pending index, or -1 */
        int np = 0, nchild, rc, accepted;
        time_t now = time(NULL), next = 0;
        struct timespec ts, *tsp = NULL;

        if (got_chld) {
            got_chld = 0;
            reap();
        }
        /* Pending connections: banner timeouts, and those whose client has
         * spoken and whose penalty delay (if any) has run out. */
        for (i = 0; i < npend;) {
            struct pending *p = &pend[i];

            if (!p->ready && now >= p->deadline) {
                refuse_log(&q_banner,
                           "dropped %s: no identification line within "
                           "banner_timeout (%d s)",
                           p->source, cfg->banner_timeout);
                penalty_note(p->block, p->coarse, 1);
                pending_drop(i);
                continue;
            }
            if (p->ready && now >= p->start_at) {
                pending_start(cfg, prog, fg, p);
                pend[i] = pend[--npend];
                continue;
            }
            {
                time_t t = p->ready ? p->start_at : p->deadline;

                if (next == 0 || t < next) {
                    next = t;
                }
            }
            i++;
        }
        if ((pfd = calloc((size_t)nchildren + (size_t)npend + 2,
                          sizeof(*pfd))) == NULL ||
            (pidx = calloc((size_t)npend + 1, sizeof(*pidx))) == NULL) {
            fatal_f("out of memory");
        }
        /* Stop accepting while the pool and the session table are both
         * full; the kernel's backlog waits meanwhile. */
        pfd[np].fd = nchildren >= maxchildren ? -1 : lfd;
        pfd[np++].events = POLLIN;
        for (i = 0; i < nchildren; i++) {
            pfd[np].fd = children[i].notify;
            pfd[np++].events = POLLIN;
        }
        nchild = np;
        for (i = 0; i < npend; i++) {
            pidx[np - nchild] = i;
            pfd[np].fd = pend[i].fd;
            /* A client that has spoken waits (penalty) without its data
             * being looked at again: only its hanging up matters. */
            pfd[np++].events = pend[i].ready ? POLLRDHUP : POLLIN | POLLRDHUP;
        }
        /* last, after the pending connections (pidx covers those) */
        pfd[np].fd = ann_fd;
        pfd[np].events = POLLIN;
        np++;
        if (accept_paused_until > now) {
            pfd[0].fd = -1;
            if (next == 0 || accept_paused_until < next) {
                next = accept_paused_until;
            }
        }
        if (next != 0) {
            ts.tv_sec = next > now ? next - now : 0;
            ts.tv_nsec = 0;
            tsp = &ts;
        }
        /* ppoll with the original mask: signals arrive only here, so a
         * SIGCHLD is never lost between the check and the wait. */
        rc = ppoll(pfd, (nfds_t)np, tsp, &orig);
        if (rc < 0) {
            free(pfd);
            free(pidx);
            if (errno == EINTR) {
                continue;
            }
            fatal_f("poll: %s", strerror(errno));
        }
        for (i = 1; i < nchild; i++) {
            if (pfd[i].revents != 0 && children[i - 1].notify == pfd[i].fd) {
                child_notified(&children[i - 1]);
            }
        }
        if (ann_fd >= 0 && (pfd[np - 1].revents & POLLIN)) {
            ann_read();
        }
        /* Backwards, so dropping (a swap with the last) keeps the indices
         * still to visit valid. */
        for (i = np - 2; i >= nchild; i--) {
            int k = pidx[i - nchild];

            if (pfd[i].revents != 0 &&
                pending_read(&pend[k], pfd[i].revents) != 0) {
                pending_drop(k);
            }
        }
        /* Drain the backlog, but not forever: a flood must not starve the
         * sessions already here. */
        for (accepted = 0; (pfd[0].revents & POLLIN) && accepted < 64;
             accepted++) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            int s = accept4(lfd, (struct sockaddr *)&ss, &sl,
                            SOCK_CLOEXEC | SOCK_NONBLOCK);

            if (s < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                    errno == ENOMEM) {
                    refuse_log(&q_accept,
                               "accept: %s: not accepting for %d s (raise "
                               "the descriptor limit, e.g. LimitNOFILE=, "
                               "or lower max_pending and max_sessions)",
                               strerror(errno), ACCEPT_PAUSE);
                    accept_paused_until = time(NULL) + ACCEPT_PAUSE;
                } else if (errno != EINTR && errno != EAGAIN &&
                           errno != ECONNABORTED) {
                    error_f("accept: %s", strerror(errno));
                }
                break;
            }
            accept_one(cfg, s, &ss, sl);
        }
        free(pfd);
        free(pidx);
    }
    logit("listener exiting; %d session(s) continue", nchildren);
    for (i = 0; i < npend; i++) {
        close(pend[i].fd);
    }
    close(lfd);
    if (ann_fd >= 0) {
        close(ann_fd);
    }
    sk_door_free(penalties);
    sk_config_free(cfg);
    free(children);
    free(pend);
    return 0;
}
