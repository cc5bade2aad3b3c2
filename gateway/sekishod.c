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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

struct child {
    pid_t pid;
    int notify; /* read end; -1 once the child authenticated */
    char source[64];
};

static struct child *children;
static int nchildren, maxchildren;

/*
 * Per-source penalties at the door: connections from an address whose
 * recent connections ended in failed authentication (or never
 * authenticated within the grace time) start later, and past
 * source_threshold such connections within lockout_window they are
 * closed at once, before any fork or SSH work. The monitor's
 * store-backed per-source block (which counts every attempt, persists and
 * is shared) stays the authority; this protects the gateway's resources.
 * A small table: the least recently failing entry gives way.
 */
#define PENALTY_SLOTS 512

struct penalty {
    char source[64];
    int failures;
    time_t first, last;
};

static struct penalty penalties[PENALTY_SLOTS];

static struct penalty *penalty_find(const char *source, int create)
{
    struct penalty *oldest = &penalties[0];

    for (int i = 0; i < PENALTY_SLOTS; i++) {
        if (penalties[i].source[0] != '\0' &&
            strcmp(penalties[i].source, source) == 0) {
            return &penalties[i];
        }
        if (penalties[i].last < oldest->last) {
            oldest = &penalties[i];
        }
    }
    if (!create) {
        return NULL;
    }
    memset(oldest, 0, sizeof(*oldest));
    snprintf(oldest->source, sizeof(oldest->source), "%s", source);
    return oldest;
}

/* Failed connections from source within the window (0 if none). */
static int penalty_count(const struct sk_config *cfg, const char *source,
                         time_t now)
{
    struct penalty *p = penalty_find(source, 0);

    if (p == NULL || now - p->last > cfg->lockout_window) {
        return 0;
    }
    return p->failures;
}

static void penalty_note(const struct sk_config *cfg, const char *source,
                         time_t now)
{
    struct penalty *p = penalty_find(source, 1);

    if (now - p->last > cfg->lockout_window) {
        p->failures = 0;
        p->first = now;
    }
    p->failures++;
    p->last = now;
}

static const struct sk_config *penalty_cfg;
static volatile sig_atomic_t got_chld, got_term;

static void on_signal(int sig)
{
    if (sig == SIGCHLD) {
        got_chld = 1;
    } else {
        got_term = 1;
    }
}

static int startups(void)
{
    int i, n = 0;

    for (i = 0; i < nchildren; i++) {
        n += children[i].notify >= 0;
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

                if ((c == SK_EXIT_AUTH_FAILED || c == SK_EXIT_GRACE) &&
                    penalty_cfg != NULL) {
                    penalty_note(penalty_cfg, children[i].source,
                                 time(NULL));
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
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
                0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 128) == 0) {
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
                  int sock, const char *source, int delay)
{
    int np[2];
    pid_t pid;
    char dstr[16];

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
        if (delay > 0) {
            snprintf(dstr, sizeof(dstr), "%d", delay);
            argv[a++] = "-D";
            argv[a++] = dstr;
        }
        if (fg) {
            argv[a++] = "-f";
        }
        argv[a] = NULL;
        (void)setsid();
        sigemptyset(&none);
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
    children[nchildren].pid = pid;
    children[nchildren].notify = np[0];
    snprintf(children[nchildren].source, sizeof(children[0].source), "%s",
             source);
    nchildren++;
}

static void usage(void)
{
    fprintf(stderr, "usage: sekishod -c CONFIG [-f] [-T]\n"
                    "  -f  foreground, log to stderr\n"
                    "  -T  print the effective configuration and exit\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *cfgpath = NULL;
    struct sk_config *cfg = NULL;
    char err[512], prog[PATH_MAX], self[PATH_MAX];
    int ch, fg = 0, test = 0, lfd, i;
    struct sigaction sa;
    sigset_t block, orig;
    ssize_t n;

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
    if (cfgpath == NULL || optind != argc) {
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
    lfd = listen_on(cfg->listen);
    if (!fg) {
        if (daemon(0, 0) != 0) {
            fatal_f("daemon: %s", strerror(errno));
        }
    }
    sk_log_init("sekishod", fg, sk_log_level_parse(cfg->log_level));
    maxchildren = cfg->max_sessions;
    if ((children = calloc((size_t)maxchildren, sizeof(*children))) ==
        NULL) {
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
    logit("Sekisho %s listening on %s", SK_VERSION, cfg->listen);

    while (!got_term) {
        struct pollfd *pfd;
        int np = 0, rc;

        if (got_chld) {
            got_chld = 0;
            reap();
        }
        if ((pfd = calloc((size_t)nchildren + 1, sizeof(*pfd))) == NULL) {
            fatal_f("out of memory");
        }
        pfd[np].fd = lfd;
        pfd[np++].events = POLLIN;
        for (i = 0; i < nchildren; i++) {
            pfd[np].fd = children[i].notify;
            pfd[np++].events = POLLIN;
        }
        /* ppoll with the original mask: signals arrive only here, so a
         * SIGCHLD is never lost between the check and the wait. */
        rc = ppoll(pfd, (nfds_t)np, NULL, &orig);
        if (rc < 0) {
            free(pfd);
            if (errno == EINTR) {
                continue;
            }
            fatal_f("poll: %s", strerror(errno));
        }
        for (i = 1; i < np; i++) {
            if (pfd[i].revents != 0 && children[i - 1].notify == pfd[i].fd) {
                /* The child authenticated (closed its end) or died. */
                close(children[i - 1].notify);
                children[i - 1].notify = -1;
            }
        }
        if (pfd[0].revents & POLLIN) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            char host[NI_MAXHOST] = "?";
            int s = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

            if (s >= 0) {
                (void)getnameinfo((struct sockaddr *)&ss, sl, host,
                                  sizeof(host), NULL, 0, NI_NUMERICHOST);
                if (nchildren >= maxchildren) {
                    logit("refused %s: max_sessions (%d) reached", host,
                          maxchildren);
                    close(s);
                } else if (startups() >= cfg->max_startups) {
                    logit("refused %s: max_startups (%d) unauthenticated "
                          "connections", host, cfg->max_startups);
                    close(s);
                } else {
                    int fails = penalty_count(cfg, host, time(NULL));

                    if (fails >= cfg->source_threshold) {
                        /* Only the first refusal of a burst is logged. */
                        if (fails == cfg->source_threshold) {
                            logit("refused %s: %d failed logins within "
                                  "lockout_window (penalty)",
                                  host, fails);
                            penalty_note(cfg, host, time(NULL));
                        }
                        close(s);
                    } else {
                        /* Past half the threshold, each further failure
                         * costs a second more before the next try may
                         * start (at most 5): a slow-down for guessing,
                         * unnoticeable for a user who mistyped. */
                        int half = cfg->source_threshold / 2,
                            d = fails >= half ? fails - half + 1 : 0;

                        spawn(cfg, prog, fg, s, host, d > 5 ? 5 : d);
                    }
                }
            } else if (errno != EINTR && errno != EAGAIN &&
                       errno != ECONNABORTED) {
                error_f("accept: %s", strerror(errno));
            }
        }
        free(pfd);
    }
    logit("listener exiting; %d session(s) continue", nchildren);
    close(lfd);
    sk_config_free(cfg);
    free(children);
    return 0;
}
