/* Gateway commands over SSH: starting sekishoctl for a person (gwcmd.h). */
#include "gwcmd.h"
#include "egress.h" /* sk_mono_ms, sk_read_deadline */

#include "i18n.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define GW_ARGS_MAX 64

/* The terminal type goes into the child's environment: a plain word. */
static int term_ok(const char *t)
{
    size_t n = strlen(t);

    return n > 0 && n < 64 &&
           strspn(t, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+") == n;
}

/* In the child: fd onto want, wherever it was. */
static void child_fd(int fd, int want)
{
    if (fd == want) {
        if (fcntl(fd, F_SETFD, 0) != 0) {
            _exit(127);
        }
    } else if (dup2(fd, want) < 0) {
        _exit(127);
    }
}

static void __attribute__((noreturn))
child(const char *prog, char *const *argv, char *const *envp, int in,
      int out, int err, int proof, int pty)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            signal(s, SIG_DFL);
        }
    }
    (void)setsid();
    /* Out of the way of 0-3 first, then into place. */
    in = fcntl(in, F_DUPFD_CLOEXEC, 10);
    out = fcntl(out, F_DUPFD_CLOEXEC, 10);
    err = fcntl(err, F_DUPFD_CLOEXEC, 10);
    proof = fcntl(proof, F_DUPFD_CLOEXEC, 10);
    if (in < 0 || out < 0 || err < 0 || proof < 0) {
        _exit(127);
    }
    if (pty && ioctl(in, TIOCSCTTY, 0) != 0) {
        _exit(127);
    }
    child_fd(in, 0);
    child_fd(out, 1);
    child_fd(err, 2);
    child_fd(proof, 3);
    closefrom(4);
    execve(prog, argv, envp);
    _exit(127);
}

/* The child's question on its descriptor 3, answered (util.h,
 * sk_actor_proof). Only this monitor, right after it started the child,
 * can: the question carries a nonce the child drew after exec. Waits at
 * most 10 s (the child asks first thing); if the child never asks, it
 * refuses itself, so a failure here is only logged. */
static void proof_answer(int fd, const char *actor, int argc,
                         const char *const *argv)
{
    uint8_t ask[SK_ACTOR_ASK_LEN], ans[32];

    if (sk_read_deadline(fd, ask, sizeof(ask), sk_mono_ms() + 10000) != 0 ||
        memcmp(ask, SK_ACTOR_MAGIC, SK_ACTOR_MAGIC_LEN) != 0) {
        error_f("gateway command for %s: no proof asked", actor);
        return;
    }
    if (sk_actor_proof(ask + SK_ACTOR_MAGIC_LEN, actor, argc, argv, ans) !=
            0 ||
        send(fd, ans, sizeof(ans), MSG_NOSIGNAL) != (ssize_t)sizeof(ans)) {
        error_f("gateway command for %s: proof not sent", actor);
    }
}

int gwcmd_spawn(const struct sk_config *cfg, const char *actor, int argc,
                const char *const *argv, int pty, const char *term,
                int cols, int rows, struct gwcmd *g, int fds[2], int *nfds,
                char *msg, size_t msglen)
{
    char self[PATH_MAX], prog[PATH_MAX], termenv[80], langenv[32];
    char *av[GW_ARGS_MAX + 8], *envp[8];
    int io[2] = {-1, -1}, er[2] = {-1, -1}, pr[2] = {-1, -1};
    int master = -1, slave = -1, a = 0, e = 0, r = -1;
    ssize_t n;
    size_t o = 0;
    pid_t pid;

    memset(g, 0, sizeof(*g));
    g->proof = -1;
    g->master = -1;
    *nfds = 0;
    if (argc < 1 || argc > GW_ARGS_MAX) {
        snprintf(msg, msglen, "%s", _("bad command"));
        return -1;
    }
    if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
        error_f("readlink /proc/self/exe: %s", strerror(errno));
        snprintf(msg, msglen, "%s", _("gateway command unavailable"));
        return -1;
    }
    self[n] = '\0';
    snprintf(prog, sizeof(prog), "%s/sekishoctl", dirname(self));
    av[a++] = "sekishoctl";
    av[a++] = "-c";
    av[a++] = cfg->path;
    av[a++] = "--actor";
    av[a++] = (char *)actor;
    av[a++] = "--via";
    av[a++] = "ssh";
    for (int i = 0; i < argc; i++) {
        av[a++] = (char *)argv[i];
        if (o < sizeof(g->line) - 1) {
            int k = snprintf(g->line + o, sizeof(g->line) - o, "%s%s",
                             i ? " " : "", argv[i]);

            o = k < 0 ? o : o + (size_t)k;
        }
    }
    av[a] = NULL;
    if (o > sizeof(g->line) - 1) {
        o = sizeof(g->line) - 1;
    }
    /* a cut may split a character; audit lines are UTF-8 */
    while (o > 0 && !sk_utf8_valid(g->line, o)) {
        g->line[--o] = '\0';
    }
    /* A clean environment: nothing of the client's reaches root's
     * program but a checked terminal type. */
    envp[e++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    envp[e++] = "LC_ALL=C.UTF-8";
    /* The session's language (client LANG > user lang > language, which
     * the monitor speaks since MON_LANG): sekishoctl reads LANGUAGE over
     * a locale other than C, as gettext does, so refusals and errors
     * reach the person in it. Only a language the gateway speaks. */
    snprintf(langenv, sizeof(langenv), "LANGUAGE=%s",
             sk_lang_valid(sk_i18n_lang()) ? sk_i18n_lang() : "en");
    envp[e++] = langenv;
    if (pty) {
        snprintf(termenv, sizeof(termenv), "TERM=%s",
                 term_ok(term) ? term : "vt100");
        envp[e++] = termenv;
    }
#ifdef __SANITIZE_ADDRESS__
    /* Sanitizer builds only (tests): reports go where the test suite
     * looks, not to the client. */
    {
        static char asan[512], ubsan[512];
        const char *v;

        if ((v = getenv("ASAN_OPTIONS")) != NULL) {
            snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s", v);
            envp[e++] = asan;
        }
        if ((v = getenv("UBSAN_OPTIONS")) != NULL) {
            snprintf(ubsan, sizeof(ubsan), "UBSAN_OPTIONS=%s", v);
            envp[e++] = ubsan;
        }
    }
#endif
    envp[e] = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pr) != 0) {
        goto sys;
    }
    if (pty) {
        struct winsize ws;

        memset(&ws, 0, sizeof(ws));
        ws.ws_col = (unsigned short)(cols > 0 && cols < 1000 ? cols : 80);
        ws.ws_row = (unsigned short)(rows > 0 && rows < 1000 ? rows : 24);
        if (openpty(&master, &slave, NULL, NULL, &ws) != 0 ||
            fcntl(master, F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(slave, F_SETFD, FD_CLOEXEC) != 0) {
            goto sys;
        }
    } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) != 0 ||
               socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, er) != 0) {
        goto sys;
    }
    if ((pid = fork()) < 0) {
        goto sys;
    }
    if (pid == 0) {
        if (pty) {
            child(prog, av, envp, slave, slave, slave, pr[1], 1);
        }
        child(prog, av, envp, io[1], io[1], er[1], pr[1], 0);
    }
    g->pid = pid;
    g->started = time(NULL);
    g->proof = pr[0];
    pr[0] = -1;
    proof_answer(g->proof, actor, argc, argv);
    if (pty) {
        /* kept for window changes; the worker gets the other copy */
        if ((g->master = fcntl(master, F_DUPFD_CLOEXEC, 0)) < 0) {
            error_f("dup pty master: %s", strerror(errno));
        }
        fds[0] = master;
        master = -1;
        *nfds = 1;
    } else {
        fds[0] = io[0];
        fds[1] = er[0];
        io[0] = er[0] = -1;
        *nfds = 2;
    }
    r = 0;
    goto out;
sys:
    error_f("gateway command: %s", strerror(errno));
    snprintf(msg, msglen, "%s", _("gateway command unavailable"));
out:
    for (int k = 0; k < 2; k++) {
        if (io[k] >= 0) {
            close(io[k]);
        }
        if (er[k] >= 0) {
            close(er[k]);
        }
        if (pr[k] >= 0) {
            close(pr[k]);
        }
    }
    if (master >= 0) {
        close(master);
    }
    if (slave >= 0) {
        close(slave);
    }
    return r;
}

int gwcmd_resize(struct gwcmd *g, int cols, int rows)
{
    struct winsize ws;

    if (g->pid <= 0 || g->master < 0 || cols < 1 || cols > 1000 ||
        rows < 1 || rows > 1000) {
        return -1;
    }
    memset(&ws, 0, sizeof(ws));
    ws.ws_col = (unsigned short)cols;
    ws.ws_row = (unsigned short)rows;
    return ioctl(g->master, TIOCSWINSZ, &ws) == 0 ? 0 : -1;
}

int gwcmd_finish(struct gwcmd *g, int kill_first, int timeout_s)
{
    int status = 0, waited = 0;
    pid_t r;

    if (g->pid <= 0) {
        return -1;
    }
    if (kill_first) {
        (void)kill(-g->pid, SIGKILL);
    }
    for (;;) {
        r = waitpid(g->pid, &status, WNOHANG);
        if (r == g->pid || (r < 0 && errno != EINTR)) {
            break;
        }
        if (r == 0 && waited >= timeout_s * 20) {
            (void)kill(-g->pid, SIGKILL);
            while ((r = waitpid(g->pid, &status, 0)) < 0 && errno == EINTR) {
            }
            break;
        }
        (void)poll(NULL, 0, 50);
        waited++;
    }
    /* Whatever it left behind in its group goes with it. */
    (void)kill(-g->pid, SIGKILL);
    g->pid = 0;
    if (g->proof >= 0) {
        close(g->proof);
        g->proof = -1;
    }
    if (g->master >= 0) {
        close(g->master);
        g->master = -1;
    }
    if (r < 0) {
        return 255;
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}
