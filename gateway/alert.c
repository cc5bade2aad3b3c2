#include "alert.h"
#include "audit.h"
#include "log.h"
#include "requests.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static time_t alert_t0;
static int alert_count;
static unsigned long alert_dropped;

const char *sk_alert_severity(int prio)
{
    switch (prio) {
    case LOG_EMERG:
    case LOG_ALERT:
        return "alert";
    case LOG_CRIT:
        return "critical";
    case LOG_ERR:
        return "error";
    default:
        return "warning";
    }
}

/* Conditions, not incidents: an unsynchronised clock or a full disk is
 * seen by every session until someone acts, so the gateway (all its
 * processes, through a stamp file's mtime in state_dir) notifies of each
 * at most once per SK_ALERT_REPEAT. The audit line is written each time. */
static int alert_repeat_suppressed(const struct sk_config *cfg,
                                   const char *event, time_t now)
{
    static const char *conditions[] = {"clock_unsynchronized",
                                       "storage_low"};
    char path[PATH_MAX];
    struct stat sb;
    size_t i;
    int fd;

    for (i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++) {
        if (strcmp(conditions[i], event) == 0) {
            break;
        }
    }
    if (i == sizeof(conditions) / sizeof(conditions[0])) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/alert-%s.stamp", cfg->state_dir,
             event);
    if (stat(path, &sb) == 0 && now >= sb.st_mtime &&
        now - sb.st_mtime < SK_ALERT_REPEAT) {
        return 1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        (void)futimens(fd, NULL);
        close(fd);
    }
    return 0;
}

static void alert_hook(const char *event, int prio, const char *json,
                       void *arg)
{
    const struct sk_config *cfg = arg;
    json_t *details = NULL, *o = NULL;
    time_t now = time(NULL);

    if (cfg->notify_command == NULL ||
        strcmp(cfg->notify_command, "none") == 0) {
        return;
    }
    if (now - alert_t0 >= SK_ALERT_WINDOW || now < alert_t0) {
        if (alert_dropped > 0) {
            syslog(LOG_AUTHPRIV | LOG_WARNING,
                   "notify: %lu alert(s) not sent (more than %d in %d s)",
                   alert_dropped, SK_ALERT_BURST, SK_ALERT_WINDOW);
        }
        alert_t0 = now;
        alert_count = 0;
        alert_dropped = 0;
    }
    if (alert_count >= SK_ALERT_BURST) {
        alert_dropped++;
        return;
    }
    if (alert_repeat_suppressed(cfg, event, now)) {
        return;
    }
    alert_count++;
    details = json_loads(json, 0, NULL);
    o = json_pack("{s:s, s:s, s:s, s:o?}", "event", event, "severity",
                  sk_alert_severity(prio), "gateway", cfg->gateway_id,
                  "details", details);
    details = NULL; /* o owns it now (or it was freed on failure) */
    if (o == NULL) {
        error_f("notify: cannot prepare the %s alert", event);
        return;
    }
    rq_notify_json(cfg, o);
    json_decref(o);
}

void sk_alert_init(const struct sk_config *cfg)
{
    sk_audit_set_alert(alert_hook, (void *)cfg);
}
