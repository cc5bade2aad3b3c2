/*
 * Alerts: security and health events that need a person. The audit log
 * marks them (sk_audit_alert_prio: their own syslog severity); this turns
 * them into notify_command runs with
 *   {"event":..., "severity":"alert"|"critical"|"warning",
 *    "gateway":..., "details":{the audit line}}
 * on stdin, as request events already are. Process code (monitor,
 * sekishoctl) only.
 */
#ifndef SK_ALERT_H
#define SK_ALERT_H

#include "config.h"

/* At most this many notifications per process in ALERT_WINDOW seconds; the
 * rest go to syslog only, so a storm (a brute force locking accounts, a
 * failing disk) cannot fork without bound or stall sessions. */
#define SK_ALERT_BURST 5
#define SK_ALERT_WINDOW 60
/* Seconds between notices of one condition (clock, storage) gateway-wide. */
#define SK_ALERT_REPEAT 600

/* Registers the audit hook that notifies for cfg (borrowed: it must outlive
 * the process's audit use). Never blocks: the notifier is double-forked. */
void sk_alert_init(const struct sk_config *cfg);

/* "alert", "critical", "warning" for a syslog priority. */
const char *sk_alert_severity(int prio);

#endif
