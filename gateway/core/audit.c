#include "audit.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int audit_fd = -1;
static char audit_gw[64] = "sekisho";

int sk_audit_open(const char *path, const char *gateway_id)
{
    int fd;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        return SK_ERR_SYSTEM;
    }
    if (audit_fd >= 0) {
        close(audit_fd);
    }
    audit_fd = fd;
    snprintf(audit_gw, sizeof(audit_gw), "%s", gateway_id);
    return 0;
}

void sk_audit_close(void)
{
    if (audit_fd >= 0) {
        close(audit_fd);
        audit_fd = -1;
    }
}

int sk_audit(const char *event, const char *fmt, ...)
{
    json_t *obj = NULL, *extra = NULL;
    json_error_t jerr;
    char ts[32], *line = NULL;
    size_t len;
    ssize_t w;
    va_list ap;
    int r = SK_ERR_INTERNAL;

    sk_time_fmt(time(NULL), ts, sizeof(ts));
    obj = json_pack("{s:s, s:s, s:s, s:I}", "time", ts, "event", event,
                    "gateway", audit_gw, "pid", (json_int_t)getpid());
    if (obj == NULL) {
        goto out;
    }
    if (fmt != NULL) {
        va_start(ap, fmt);
        extra = json_vpack_ex(&jerr, 0, fmt, ap);
        va_end(ap);
        if (extra == NULL) {
            /* Never lose the event itself: record that fields were bad. */
            json_object_set_new(obj, "audit_error",
                                json_string("unencodable fields"));
        } else if (json_object_update(obj, extra) != 0) {
            goto out;
        }
    }
    if ((line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
        NULL) {
        goto out;
    }
    syslog(LOG_AUTHPRIV | LOG_NOTICE, "audit %s", line);
    len = strlen(line);
    line[len] = '\n'; /* json_dumps NUL becomes the newline */
    if (audit_fd < 0) {
        r = SK_ERR_SYSTEM;
        errno = EBADF;
        goto out;
    }
    do {
        w = write(audit_fd, line, len + 1);
    } while (w < 0 && errno == EINTR);
    r = (w == (ssize_t)(len + 1)) ? 0 : SK_ERR_SYSTEM;
out:
    free(line);
    json_decref(extra);
    json_decref(obj);
    return r;
}
