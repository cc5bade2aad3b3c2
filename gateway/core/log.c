#include "log.h"
#include "i18n.h"
#include "sk-err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_prog = "sekisho";
static int log_stderr = 1;
static int log_lvl = SK_LOG_INFO;
static sk_log_sink log_sink;
static void *log_sink_arg;

/* Marked for the catalogue: sekishoctl says them in a person's language
 * (gateway/ctl.h); logs and audit lines keep the English. */
const char *sk_err_str(int code)
{
    switch (code) {
    case SK_ERR_OK:
        return N_("success");
    case SK_ERR_INTERNAL:
        return N_("internal error");
    case SK_ERR_ALLOC:
        return N_("out of memory");
    case SK_ERR_INVALID:
        return N_("invalid input");
    case SK_ERR_TOO_LONG:
        return N_("input too long");
    case SK_ERR_NOT_FOUND:
        return N_("not found");
    case SK_ERR_EXISTS:
        return N_("already exists");
    case SK_ERR_SYSTEM:
        return strerror(errno);
    case SK_ERR_STORE:
        return N_("state database error");
    case SK_ERR_DENIED:
        return N_("denied");
    case SK_ERR_EOF:
        return N_("connection closed");
    case SK_ERR_BAD_MESSAGE:
        return N_("malformed message");
    case SK_ERR_CRYPTO:
        return N_("cryptographic failure");
    case SK_ERR_BAD_NAME:
        return N_("invalid name");
    case SK_ERR_SCHEMA_NEWER:
        return N_(
            "the state database was written by a newer version of "
            "Sekisho (its schema is newer than this program knows): "
            "run the newer version or restore a backup made for this one");
    default:
        return N_("unknown error");
    }
}

void sk_log_init(const char *progname, int to_stderr, int level)
{
    log_prog = progname;
    log_stderr = to_stderr;
    log_lvl = level;
    if (!to_stderr) {
        openlog(progname, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
    }
}

void sk_log_set_sink(sk_log_sink sink, void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

int sk_log_level(void)
{
    return log_lvl;
}

int sk_log_level_parse(const char *name)
{
    static const char *names[] = {"error", "info", "verbose", "debug"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void sk_vlog(int level, const char *func, const char *fmt, va_list ap)
{
    char msg[2048];
    int off = 0, saved = errno;
    static const int prio[] = {LOG_ERR, LOG_INFO, LOG_INFO, LOG_DEBUG};

    if (level > log_lvl) {
        return;
    }
    if (func != NULL) {
        off = snprintf(msg, sizeof(msg), "%s: ", func);
        if (off < 0 || (size_t)off >= sizeof(msg)) {
            off = 0;
        }
    }
    vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
    /* Keep log lines single-line and free of terminal escapes even when a
     * message quotes peer-supplied bytes: C0, DEL and the C1 controls in
     * UTF-8 (C2 80-9F, which terminals reading the journal obey). */
    for (char *p = msg; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p, d = (unsigned char)p[1];

        if (c < 0x20 || c == 0x7f) {
            *p = '?';
        } else if (c == 0xc2 && d >= 0x80 && d <= 0x9f) {
            p[0] = '?';
            p[1] = '?';
            p++;
        }
    }
    if (log_sink != NULL) {
        log_sink(level, msg, log_sink_arg);
    } else if (log_stderr) {
        fprintf(stderr, "%s[%ld]: %s\n", log_prog, (long)getpid(), msg);
    } else {
        syslog(prio[level], "%s", msg);
    }
    errno = saved;
}

void sk_log(int level, const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sk_vlog(level, func, fmt, ap);
    va_end(ap);
}

void sk_fatal(int status, const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sk_vlog(SK_LOG_ERROR, func, fmt, ap);
    va_end(ap);
    /* _exit, not exit: a sandboxed worker must not run library atexit
     * handlers that make system calls its filter forbids. */
    fflush(stdout);
    _exit(status);
}
