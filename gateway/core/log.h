/*
 * Process logging. Messages go to stderr (foreground, tools) or syslog
 * (daemon). fatal_f() logs and exits with the given status: only process
 * code uses these; library-like code returns SK_ERR_* instead.
 * Never pass secrets (passwords, keys, codes) to these functions.
 */
#ifndef SK_LOG_H
#define SK_LOG_H

#include <stdarg.h>

enum sk_log_level {
    SK_LOG_ERROR = 0,
    SK_LOG_INFO = 1,
    SK_LOG_VERBOSE = 2,
    SK_LOG_DEBUG = 3,
};

/* Sink used by a sandboxed process that may not touch syslog: it gets the
 * formatted line and forwards it (the worker sends it to its monitor). */
typedef void (*sk_log_sink)(int level, const char *line, void *arg);

void sk_log_init(const char *progname, int to_stderr, int level);
void sk_log_set_sink(sk_log_sink sink, void *arg);
int sk_log_level(void);
/* Parses "error", "info", "verbose", "debug"; returns -1 if unknown. */
int sk_log_level_parse(const char *name);

void sk_log(int level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sk_fatal(int status, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define logit(...) sk_log(SK_LOG_INFO, NULL, __VA_ARGS__)
#define verbose_f(...) sk_log(SK_LOG_VERBOSE, __func__, __VA_ARGS__)
#define debug_f(...) sk_log(SK_LOG_DEBUG, __func__, __VA_ARGS__)
#define error_f(...) sk_log(SK_LOG_ERROR, __func__, __VA_ARGS__)
/* error with an SK_ERR_* code: "func: msg: code text" */
#define error_fr(r, fmt, ...)                                                 \
    sk_log(SK_LOG_ERROR, __func__, fmt ": %s", ##__VA_ARGS__, sk_err_str(r))
#define fatal_f(...) sk_fatal(1, __func__, __VA_ARGS__)
#define fatal_fr(r, fmt, ...)                                                 \
    sk_fatal(1, __func__, fmt ": %s", ##__VA_ARGS__, sk_err_str(r))

#endif
