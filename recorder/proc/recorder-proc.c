/*
 * The recorder process; see recorder-proc.h. Its loop: read event frames from
 * the worker, hand them to the transcript writer, sign a checkpoint every
 * checkpoint_interval seconds (or MiB) while data flows, and seal the
 * transcript when the worker closes its end. Any failure is reported to
 * the monitor and ends the process, which ends the session: nothing is
 * relayed that is not recorded.
 */
#include "recorder/proc/recorder-proc.h"
#include "recorder/proc/rec-ring.h"
#include "exitcodes.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CKPT_BYTES (4 * 1024 * 1024)
#define INBUF (512 * 1024)
/* A pass that took this much means output streams: the recorder naps
 * BULK_NAP_MS instead of asking to be rung (see the loop). */
#define BULK_BYTES (16 * 1024)
#define BULK_NAP_MS 1
/* Buffered events are written out after this long without new ones (see
 * sk_tr_flush): what a live watch waits at most, beyond its own poll. */
#define FLUSH_IDLE_US (100 * 1000)
/* After a pass that took events, the recorder looks at the ring again
 * this much later by itself instead of asking to be rung: output that
 * comes in pieces (a log, a build, ten writes a second) then costs one
 * wake-up per window, not a bell from the worker and a wake-up here per
 * piece. The events wait in the ring meanwhile, which is where the
 * worker's relaying waits for them anyway (rec-ring.h); a worker short
 * of room still rings, and an idle session sleeps until rung. */
#define LAZY_US FLUSH_IDLE_US

static void say(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(int fd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n > 0) {
        /* write(2), not send(2): one call fewer in the sandbox. A
         * seqpacket write is one message; SIGPIPE is ignored. */
        (void)!write(fd, msg, (size_t)n < sizeof(msg) ? (size_t)n
                                                     : sizeof(msg) - 1);
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void rec_fail(int status, const char *what, int code)
    __attribute__((noreturn));

/* The cause goes to the monitor, which logs and audits it: the recorder
 * itself never logs (syslog's sendto is outside its sandbox, and a SIGSYS
 * here would lose the cause). */
static void rec_fail(int status, const char *what, int code)
{
    char e[160];

    snprintf(e, sizeof(e), "%s", code == SK_ERR_SYSTEM ? strerror(errno)
                                                       : sk_err_str(code));
    say(status, "error %s: %s", what, e);
    _exit(SK_EXIT_RECORDING);
}

/* Any log line in the recorder (a fatal_f in shared code, say) becomes an
 * "error" status message instead of a syslog call; lesser levels are
 * dropped. The monitor takes the first status message as final. */
static void rec_log_sink(int level, const char *line, void *arg)
{
    if (level == SK_LOG_ERROR) {
        say(*(const int *)arg, "error %s", line);
    }
}

/* A worker that writes what no worker writes may be compromised: the
 * transcript says so, is sealed, and the session ends rather than guess. */
static void protocol_error(struct sk_tr_writer *w, int status, uint64_t t0)
    __attribute__((noreturn));

static void protocol_error(struct sk_tr_writer *w, int status, uint64_t t0)
{
    static const char marker[] = "{\"kind\":\"recorder_protocol_error\"}";

    (void)sk_tr_event(w, SK_TR_EV_MARKER, sk_mono_us() - t0, marker,
                      sizeof(marker) - 1);
    (void)sk_tr_close(w, sk_mono_us() - t0, NULL, NULL);
    rec_fail(status, "malformed event from the worker", SK_ERR_BAD_MESSAGE);
}

/* The child: never returns. */
static void rec_child(const struct sk_config *cfg, int tfd, int evfd,
                      int status, const struct sk_tr_meta *meta,
                      const struct sk_key *signer, const uint8_t (*rcpt)[32],
                      size_t nrcpt, uint64_t t0, pid_t monitor)
{
    struct sk_tr_writer *w = NULL;
    uint8_t *in, chain[32];
    char hex[65];
    size_t have = 0;
    uint64_t last_ckpt = sk_mono_us(), last_event = last_ckpt, size = 0;
    int r, got_end = 0, worker_gone = 0;
    struct rec_ring_reader rd;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if ((r = sk_tr_writer_open(tfd, meta, signer, rcpt, nrcpt, &w)) != 0) {
        rec_fail(status, "writing the transcript header", r);
    }
    if ((in = malloc(INBUF)) == NULL) {
        rec_fail(status, "memory", SK_ERR_ALLOC);
    }
    /* Same confinement as the worker: no files, no network, nobody. The
     * session supplies it (its account drop and seccomp lists); rec_start
     * checked that it did. */
    if (rec_child_confine(cfg, monitor) != 0) {
        rec_fail(status, "sandbox", SK_ERR_INTERNAL);
    }
    say(status, "ready");
    rec_ring_reader_init(&rd, rec_shared_ring);
    for (;;) {
        struct pollfd pfd[2] = {{evfd, POLLIN, 0}, {status, POLLIN, 0}};
        uint64_t now, due;
        int timeout, wanted = 0, slept = 0;
        ssize_t n;
        size_t off = 0;

        /* What the worker put in the ring since the last pass, copied
         * out before it is looked at (rec-ring.h: the worker may still be
         * writing there). */
        n = rec_ring_take(&rd, in + have, INBUF - have, &wanted);
        if (n < 0) {
            protocol_error(w, status, t0);
        }
        if (wanted) {
            /* the worker waits for room: its bell */
            (void)!write(evfd, "r", 1);
        }
        if (n > 0) {
            have += (size_t)n;
            /* Whole frames only; a partial one waits for its rest. */
            while (have - off >= SK_TR_EV_HDR) {
                uint8_t type = in[off];
                uint64_t t = be64(in + off + 1);
                uint32_t len = be32(in + off + 9);

                if (type < 1 || type > SK_TR_EV_MAX ||
                    len > SK_TR_EV_DATA_MAX) {
                    /* A worker that sends garbage may be compromised: end
                     * the session rather than guess. */
                    protocol_error(w, status, t0);
                }
                if (have - off - SK_TR_EV_HDR < len) {
                    break;
                }
                if (type == SK_TR_EV_END) {
                    got_end = 1;
                }
                if ((r = sk_tr_event(w, type, t, in + off + SK_TR_EV_HDR,
                                     len)) != 0) {
                    rec_fail(status, "writing the transcript", r);
                }
                off += SK_TR_EV_HDR + len;
            }
            memmove(in, in + off, have - off);
            have -= off;
            last_event = sk_mono_us();
        }
        now = sk_mono_us();
        if (sk_tr_buffered(w) > 0 && now >= last_event + FLUSH_IDLE_US &&
            (r = sk_tr_flush(w)) != 0) {
            rec_fail(status, "writing the transcript", r);
        }
        if (sk_tr_unsigned_bytes(w) > 0 &&
            now >= last_ckpt + (uint64_t)cfg->checkpoint_interval *
                                   1000000u) {
            if ((r = sk_tr_checkpoint(w, now - t0, 1)) != 0) {
                rec_fail(status, "writing a checkpoint", r);
            }
            last_ckpt = now;
        } else if (sk_tr_unsigned_bytes(w) >= CKPT_BYTES &&
                   (r = sk_tr_checkpoint(w, now - t0, 0)) != 0) {
            rec_fail(status, "writing a checkpoint", r);
        }
        if (n > 0 && ((size_t)n < BULK_BYTES || worker_gone)) {
            continue; /* look again before sleeping */
        }
        if (n > 0) {
            /* Output streams: nap instead of sleeping, so the worker need
             * not ring for every event and each pass takes more. A worker
             * short of room rings anyway and ends the nap. */
            timeout = BULK_NAP_MS;
        } else if (!worker_gone && now < last_event + LAZY_US) {
            timeout = (int)((last_event + LAZY_US - now) / 1000) + 1;
        } else {
            if (worker_gone) {
                break; /* its last words are all in */
            }
            if (!rec_ring_sleep(&rd)) {
                continue;
            }
            slept = 1;
            due = last_ckpt + (uint64_t)cfg->checkpoint_interval * 1000000u;
            timeout = sk_tr_unsigned_bytes(w) == 0 ? -1
                      : due > now ? (int)((due - now) / 1000) + 1
                                  : 0;
            /* Events buffered and the stream quiet: written out soon, so
             * a live watch lags by this, not by the checkpoint interval. */
            if (sk_tr_buffered(w) > 0) {
                uint64_t fdue = last_event + FLUSH_IDLE_US;
                int ft = fdue > now ? (int)((fdue - now) / 1000) + 1 : 0;

                if (timeout < 0 || ft < timeout) {
                    timeout = ft;
                }
            }
        }
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
            rec_fail(status, "poll", SK_ERR_SYSTEM);
        }
        if (slept) {
            rec_ring_awake(&rd);
        }
        if (pfd[1].revents & (POLLHUP | POLLERR)) {
            /* The monitor is gone: nobody could learn of a failure any
             * more, so seal what we have and stop. */
            break;
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char bells[64];

            /* Bells only; end of file: the worker closed its end or died,
             * and what it put in the ring before is taken first. */
            n = read(evfd, bells, sizeof(bells));
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                worker_gone = 1;
            }
        }
    }
    if (!got_end) {
        static const char why[] = "event stream ended without an end event";

        (void)sk_tr_event(w, SK_TR_EV_END, sk_mono_us() - t0, why,
                          sizeof(why) - 1);
    }
    if ((r = sk_tr_close(w, sk_mono_us() - t0, chain, &size)) != 0) {
        rec_fail(status, "sealing the transcript", r);
    }
    sodium_bin2hex(hex, sizeof(hex), chain, sizeof(chain));
    say(status, "sealed %s %llu", hex, (unsigned long long)size);
    sk_tr_writer_free(w);
    _exit(0);
}

/* mkdir -p for the dated directory, 0700 each. */
static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

void (*rec_child_scrub)(void);
struct rec_ring *rec_shared_ring;
int (*rec_child_confine)(const struct sk_config *cfg, pid_t monitor);

int rec_start(const struct sk_config *cfg, const struct sk_tr_meta *meta,
              const struct sk_key *signer, const uint8_t (*rcpt)[32],
              size_t nrcpt, struct rec_proc *out, char *err, size_t errlen)
{
    char dir[PATH_MAX], day[16], msg[512];
    struct tm tm;
    time_t now = (time_t)(meta->start_us / 1000000);
    int tfd = -1, ev[2] = {-1, -1}, st[2] = {-1, -1}, one = 1;
    struct timeval tv = {30, 0};
    uint64_t t0 = sk_mono_us();
    struct pollfd pfd;
    ssize_t n;
    pid_t monitor = getpid();

    memset(out, 0, sizeof(*out));
    out->pid = -1;
    out->status_fd = out->worker_fd = -1;
    if (rec_child_confine == NULL) {
        /* Fail closed: never a recorder that keeps root and every
         * system call. */
        snprintf(err, errlen, "no confinement for the recorder");
        return -1;
    }
    if (rec_shared_ring == NULL) {
        snprintf(err, errlen, "no ring for the recorder's events");
        return -1;
    }
    (void)one;
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y/%m/%d", &tm);
    snprintf(dir, sizeof(dir), "%s/%s", cfg->transcript_dir, day);
    if (mkdirs(dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(out->path, sizeof(out->path), "%s/%s.skt", dir,
                         meta->session) >= sizeof(out->path)) {
        snprintf(err, errlen, "transcript path too long");
        return -1;
    }
    tfd = open(out->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                              O_CLOEXEC,
               0600);
    if (tfd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", out->path,
                 strerror(errno));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ev) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        goto fail;
    }
    /* The events travel in the ring; the socket carries bells both ways
     * and, by closing, the end of either side. The recorder's bells never
     * wait (a worker that does not read them has one due anyway); the
     * send timeout bounds the worker's, which it cannot set itself under
     * its sandbox. */
    if (setsockopt(ev[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        fcntl(ev[0], F_SETFL, O_NONBLOCK) != 0) {
        snprintf(err, errlen, "event socket options: %s", strerror(errno));
        goto fail;
    }
    /* Empty for this recorder: the previous one, if any, is gone, and the
     * worker writes only once it has the new socket. */
    rec_ring_reset(rec_shared_ring);
    if ((out->pid = fork()) < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (out->pid == 0) {
        int keep[3] = {tfd, ev[0], st[1]};
        static int status_fd;

        if (rec_child_scrub != NULL) {
            rec_child_scrub();
        }
        sk_die_with_parent(monitor);
        sk_close_fds_except(keep, 3);
        sk_log_init("sekisho-recorder", 0, SK_LOG_INFO);
        status_fd = st[1];
        sk_log_set_sink(rec_log_sink, &status_fd);
        rec_child(cfg, tfd, ev[0], st[1], meta, signer, rcpt, nrcpt, t0,
                  monitor);
    }
    close(tfd);
    close(ev[0]);
    close(st[1]);
    out->status_fd = st[0];
    out->worker_fd = ev[1];
    pfd.fd = st[0];
    pfd.events = POLLIN;
    if (poll(&pfd, 1, 10000) <= 0 ||
        (n = recv(st[0], msg, sizeof(msg) - 1, 0)) <= 0) {
        snprintf(err, errlen, "the recorder did not start");
        goto fail_child;
    }
    msg[n] = '\0';
    if (strcmp(msg, "ready") != 0) {
        snprintf(err, errlen, "recorder: %s",
                 strncmp(msg, "error ", 6) == 0 ? msg + 6 : msg);
        goto fail_child;
    }
    out->t0 = t0;
    return 0;
fail_child:
    kill(out->pid, SIGKILL);
    while (waitpid(out->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(out->status_fd);
    close(out->worker_fd);
    out->status_fd = out->worker_fd = -1;
    out->pid = -1;
    (void)unlink(out->path);
    return -1;
fail:
    if (tfd >= 0) {
        close(tfd);
        (void)unlink(out->path);
    }
    for (int i = 0; i < 2; i++) {
        if (ev[i] >= 0) {
            close(ev[i]);
        }
        if (st[i] >= 0) {
            close(st[i]);
        }
    }
    return -1;
}

int rec_poll(struct rec_proc *p, int timeout_ms)
{
    struct pollfd pfd;
    char msg[512], hex[65];
    unsigned long long size;
    ssize_t n;

    if (p->done || p->status_fd < 0) {
        p->done = 1;
        return 1;
    }
    pfd.fd = p->status_fd;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return 0;
    }
    n = recv(p->status_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    p->done = 1;
    if (n <= 0) {
        error_f("recorder for %s ended without sealing", p->path);
        return 1;
    }
    msg[n] = '\0';
    if (sscanf(msg, "sealed %64s %llu", hex, &size) == 2 &&
        strlen(hex) == 64) {
        memcpy(p->hash, hex, sizeof(p->hash));
        p->size = size;
        p->sealed = 1;
    } else {
        char *shown = sk_utf8_repair(msg, (size_t)n);

        /* The recorder's own words on why it stopped ("error TEXT"):
         * kept for the monitor's audit line. */
        snprintf(p->error, sizeof(p->error), "%s",
                 shown == NULL                       ? "?"
                 : strncmp(shown, "error ", 6) == 0 ? shown + 6
                                                     : shown);
        error_f("recorder for %s: %s", p->path, p->error);
        free(shown);
    }
    return 1;
}

void rec_finish(struct rec_proc *p, int timeout_ms)
{
    int st = 0, killed = 0;

    if (p->pid <= 0) {
        return;
    }
    if (p->worker_fd >= 0) {
        close(p->worker_fd);
        p->worker_fd = -1;
    }
    if (!p->done) {
        (void)rec_poll(p, timeout_ms);
    }
    if (!p->done) {
        error_f("recorder for %s did not finish; killing it", p->path);
        kill(p->pid, SIGKILL);
        p->done = 1;
        killed = 1;
    }
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st) && !killed) {
        snprintf(p->error, sizeof(p->error), "recorder killed by signal %d%s",
                 WTERMSIG(st),
                 WTERMSIG(st) == SIGSYS ? " (sandbox violation)" : "");
        error_f("%s: %s", p->path, p->error);
    }
    p->pid = -1;
    close(p->status_fd);
    p->status_fd = -1;
}
