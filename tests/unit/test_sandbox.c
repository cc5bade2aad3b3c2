/* The worker's seccomp filter, exercised for real in child processes:
 * allowed calls work, softly denied probes fail with EACCES, forbidden
 * calls kill with SIGSYS; the recorder's filter kills a syslog-style
 * send but not logging through a sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#include <sodium.h>

/* Runs fn in a sandboxed child; returns its wait status. */
static int run_sandboxed(int (*fn)(void))
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (sandbox_apply(0) != 0) {
            _exit(90);
        }
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static int do_allowed(void)
{
    char c = 'x';
    int p[2] = {-1, -1};
    void *m;

    /* pipes were made before the sandbox in real use; here use stderr */
    if (write(2, "", 0) != 0 || getpid() <= 0) {
        return 1;
    }
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED) {
        return 2;
    }
    munmap(m, 4096);
    (void)c;
    (void)p;
    return 0;
}

static int do_open(void)
{
    int fd = open("/etc/passwd", O_RDONLY);

    return (fd < 0 && errno == EACCES) ? 0 : 1;
}

static int do_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    return (fd < 0 && errno == EACCES) ? 0 : 1;
}

static int do_fork(void)
{
    (void)syscall(SYS_fork);
    return 0;
}

static int do_execve(void)
{
    char *argv[] = {"/bin/true", NULL};

    execve("/bin/true", argv, NULL);
    return 0;
}

static int do_exec_mapping(void)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return m == MAP_FAILED ? 1 : 0;
}

static int do_ptrace(void)
{
    (void)syscall(SYS_ptrace, 0, 0, 0, 0);
    return 0;
}

static int do_setuid(void)
{
    (void)syscall(SYS_setuid, 0);
    return 0;
}

/* The one socket option the worker may set; the fd is not open, so the
 * call itself fails (EBADF) once the filter has let it through. */
static int do_nodelay(void)
{
    int one = 1;

    return setsockopt(-1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 &&
                   errno == EBADF
               ? 0
               : 1;
}

/* TCP_ULP attaches an upper-layer protocol (kernel TLS): never. */
static int do_tcp_ulp(void)
{
    (void)setsockopt(-1, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
    return 0;
}

static int do_sol_socket_opt(void)
{
    int one = 1;

    (void)setsockopt(-1, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return 0;
}

static void test_allowed(void **state)
{
    int st = run_sandboxed(do_allowed);

    (void)state;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    st = run_sandboxed(do_nodelay);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_soft_denied(void **state)
{
    int st;

    (void)state;
    st = run_sandboxed(do_open);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    st = run_sandboxed(do_socket);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_forbidden_kills(void **state)
{
    int (*fns[])(void) = {do_fork,   do_execve,  do_exec_mapping,
                          do_ptrace, do_setuid,  do_tcp_ulp,
                          do_sol_socket_opt};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int st = run_sandboxed(fns[i]);

        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
            fail_msg("case %zu: not killed by SIGSYS (status %#x)", i, st);
        }
    }
}

/* The recorder's filter: why it must never log itself. syslog(3) writes
 * to its connected /dev/log socket with send(2) (sendto), which the
 * recorder's list does not allow: the process would die by SIGSYS and
 * the cause of its failure with it. A log sink (what the recorder sets:
 * lines go to the monitor with write(2)) keeps it alive and the text. */
static int rec_sink_fd = -1;

static void rec_sink(int level, const char *line, void *arg)
{
    (void)level;
    (void)arg;
    (void)!write(rec_sink_fd, line, strlen(line));
}

static void test_recorder_logging(void **state)
{
    int sv[2], p[2], st;
    char buf[128] = "";
    ssize_t n;
    pid_t pid;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    if ((pid = fork()) == 0) {
        if (sandbox_apply_recorder(0) != 0) {
            _exit(90);
        }
        (void)send(sv[0], "<11>x", 5, 0);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
        fail_msg("send(2) in the recorder sandbox: status %#x", st);
    }
    close(sv[0]);
    close(sv[1]);

    assert_int_equal(pipe(p), 0);
    if ((pid = fork()) == 0) {
        close(p[0]);
        rec_sink_fd = p[1];
        sk_log_set_sink(rec_sink, NULL);
        if (sandbox_apply_recorder(0) != 0) {
            _exit(90);
        }
        error_f("writing the transcript: %s", strerror(ENOSPC));
        _exit(0);
    }
    close(p[1]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "No space left on device"));
}

/* Keys live in sodium_malloc memory, allocated before the sandbox; freeing
 * them (which wipes them) unlocks and unprotects pages. Under either
 * filter that must work: a recorder that died by SIGSYS after its seal
 * was reported as a sandbox violation. */
static void test_secret_memory_freed(void **state)
{
    int st, which;
    pid_t pid;

    (void)state;
    assert_true(sodium_init() >= 0);
    for (which = 0; which < 2; which++) {
        if ((pid = fork()) == 0) {
            unsigned char *k = sodium_malloc(64);

            if (k == NULL) {
                _exit(91);
            }
            memset(k, 0x5a, 64);
            if ((which ? sandbox_apply_recorder(0) : sandbox_apply(0)) !=
                0) {
                _exit(90);
            }
            sodium_free(k);
            _exit(0);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fail_msg("sodium_free in the %s sandbox: status %#x",
                     which ? "recorder" : "worker", st);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_memory_freed),
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_soft_denied),
        cmocka_unit_test(test_forbidden_kills),
        cmocka_unit_test(test_recorder_logging),
    };
    sk_log_init("test_sandbox", 1, SK_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
