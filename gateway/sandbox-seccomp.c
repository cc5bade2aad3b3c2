/*
 * The worker's seccomp filter: a readable allowlist. First a short list
 * of calls refused softly (EACCES) because libc or OpenSSL probe them and
 * cope with failure; then the permitted calls in alphabetical order, with
 * argument limits where the call would otherwise open a door; everything
 * else kills the process (a debug build of the config logs instead).
 *
 * The worker has its sockets already: it never opens a file, creates a
 * socket, forks or executes anything.
 */
#include "log.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

struct sb_rule {
    int nr;
    const char *name;
};

#define SB(n) {SCMP_SYS(n), #n}

/* Refused with EACCES: probes that have a fallback. */
static const struct sb_rule sb_soft_deny[] = {
    SB(open),   SB(openat), SB(stat),  SB(lstat), SB(newfstatat),
    SB(statx),  SB(access), SB(faccessat), SB(faccessat2), SB(readlink),
    SB(socket), SB(connect), SB(uname), SB(getcwd),
};

/* Allowed without argument checks, alphabetical. */
static const struct sb_rule sb_allow[] = {
    SB(brk),
    SB(clock_gettime),
    SB(clock_nanosleep),
    SB(close),
    SB(exit),
    SB(exit_group),
    SB(fstat),
    SB(futex),
    SB(getegid),
    SB(geteuid),
    SB(getgid),
    SB(getpeername),
    SB(getpid),
    SB(getrandom),
    SB(getsockname),
    SB(getsockopt),
    SB(gettid),
    SB(gettimeofday),
    SB(getuid),
    SB(lseek),
    SB(madvise),
    SB(mremap),
    SB(munlock), /* sodium_free of keys read before the sandbox */
    SB(munmap),
    SB(nanosleep),
    SB(poll),
    SB(ppoll),
    SB(read),
    SB(readv),
    SB(recvfrom),
    SB(recvmsg),
    SB(restart_syscall),
    SB(rt_sigaction),
    SB(rt_sigprocmask),
    SB(rt_sigreturn),
    SB(sched_yield),
    SB(sendmsg),
    SB(sendto),
    SB(shutdown),
    SB(sigaltstack),
    SB(time),
    SB(write),
    SB(writev),
};

/* The recorder's list: it reads events from one socket, writes one file
 * and answers the monitor; nothing else. */
static const struct sb_rule sb_recorder_allow[] = {
    SB(brk),
    SB(clock_gettime),
    SB(clock_nanosleep),
    SB(close),
    SB(exit),
    SB(exit_group),
    SB(fdatasync),
    SB(fstat),
    SB(fsync),
    SB(futex),
    SB(getpid),
    SB(getrandom),
    SB(gettid),
    SB(gettimeofday),
    SB(lseek),
    SB(madvise),
    SB(mremap),
    SB(munlock), /* sodium_free of keys read before the sandbox */
    SB(munmap),
    SB(nanosleep),
    SB(poll),
    SB(ppoll),
    SB(read),
    SB(restart_syscall),
    SB(rt_sigaction),
    SB(rt_sigprocmask),
    SB(rt_sigreturn),
    SB(sched_yield),
    SB(sigaltstack),
    SB(time),
    SB(write),
    SB(writev),
};

static int sb_add(scmp_filter_ctx ctx, uint32_t action, int nr,
                  const char *name, unsigned cnt,
                  const struct scmp_arg_cmp *args)
{
    int r = seccomp_rule_add_array(ctx, action, nr, cnt, args);

    if (r != 0) {
        error_f("seccomp rule for %s: %d", name, r);
    }
    return r;
}

static int sb_load(int debug, const struct sb_rule *allow, size_t nallow,
                   int sockets)
{
    scmp_filter_ctx ctx;
    uint32_t deflt = debug ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    size_t i;
    int r = -1;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        error_f("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return -1;
    }
    if ((ctx = seccomp_init(deflt)) == NULL) {
        error_f("seccomp_init failed");
        return -1;
    }
    for (i = 0; i < sizeof(sb_soft_deny) / sizeof(sb_soft_deny[0]); i++) {
        if (sb_add(ctx, SCMP_ACT_ERRNO(EACCES), sb_soft_deny[i].nr,
                   sb_soft_deny[i].name, 0, NULL) != 0) {
            goto out;
        }
    }
    for (i = 0; i < nallow; i++) {
        if (sb_add(ctx, SCMP_ACT_ALLOW, allow[i].nr, allow[i].name, 0,
                   NULL) != 0) {
            goto out;
        }
    }
    {
        /* fcntl: only flag get/set (non-blocking mode). */
        struct scmp_arg_cmp getfl[] = {SCMP_A1(SCMP_CMP_EQ, F_GETFL)};
        struct scmp_arg_cmp setfl[] = {SCMP_A1(SCMP_CMP_EQ, F_SETFL)};
        struct scmp_arg_cmp getfd[] = {SCMP_A1(SCMP_CMP_EQ, F_GETFD)};
        /* ioctl: only FIONREAD (bytes waiting on a socket). */
        struct scmp_arg_cmp fionread[] = {SCMP_A1(SCMP_CMP_EQ, FIONREAD)};
        /* setsockopt: only TCP_NODELAY (what libssh would set on a
         * socket; the monitor sets it before handing the sockets over).
         * Any other TCP option (TCP_ULP loads kernel code: "tls", ...) or
         * level kills. */
        struct scmp_arg_cmp tcp[] = {SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP),
                                     SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY)};
        /* mmap/mprotect: never writable and executable at once, and no
         * new executable mappings at all. */
        struct scmp_arg_cmp noexec[] = {
            SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)};

        if (sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), "fcntl", 1, getfl) ||
            sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), "fcntl", 1, setfl) ||
            sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), "fcntl", 1, getfd) ||
            (sockets && (sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), "ioctl",
                                1, fionread) ||
                         sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt),
                                "setsockopt", 2, tcp))) ||
            sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), "mmap", 1, noexec) ||
            sb_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), "mprotect", 1,
                   noexec)) {
            goto out;
        }
    }
    if ((r = seccomp_load(ctx)) != 0) {
        error_f("seccomp_load: %d", r);
        r = -1;
        goto out;
    }
    r = 0;
out:
    seccomp_release(ctx);
    return r;
}

int sandbox_apply(int debug)
{
    return sb_load(debug, sb_allow, sizeof(sb_allow) / sizeof(sb_allow[0]),
                   1);
}

int sandbox_apply_recorder(int debug)
{
    return sb_load(debug, sb_recorder_allow,
                   sizeof(sb_recorder_allow) / sizeof(sb_recorder_allow[0]),
                   0);
}
