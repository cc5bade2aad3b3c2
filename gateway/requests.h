/*
 * Work requests, shared by the monitor (gateway commands over SSH) and
 * sekishoctl: the rules come from policy/request.h; this applies them to
 * the store, writes the audit line and runs the notification command.
 * Messages in msg are for the person acting (no internal detail).
 */
#ifndef SK_REQUESTS_H
#define SK_REQUESTS_H

#include "config.h"
#include "store.h"
#include "policy/request.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Files a request of user for target. start: NULL/"" for now, else a
 * time sk_time_parse accepts; dur: NULL/"" for 2h, else a duration.
 * Returns 0 and *id, or -1 with msg. */
int rq_create(sk_store *st, const struct sk_config *cfg, const char *user,
              const char *target, const char *reason, const char *start,
              const char *dur, const char *ticket, time_t now, int64_t *id,
              char *msg, size_t msglen);

/* Approve, deny, report or sign off request id as actor (role: the
 * actor's role; "admin" for sekishoctl). admin: the host administrator
 * who acts, when the actor did not log in themselves (sekishoctl, also
 * with --as), so the audit log names who really did it; NULL over SSH.
 * text: the report, or a comment. Returns 0 with a confirmation in msg,
 * or -1 with the reason. */
int rq_act(sk_store *st, const struct sk_config *cfg, int64_t id,
           enum sk_req_action act, const char *actor, const char *role,
           const char *admin, const char *text, time_t now, char *msg,
           size_t msglen);

/* "ID TARGET USER STATE START END REASON" on one line (state as
 * sk_req_display, times RFC 3339). */
void rq_line(const struct sk_request *r, time_t now, char *out,
             size_t outlen);
/* The same line for the person who asked over SSH: the status in the
 * current language (i18n.h), the window in local time of zone tz with
 * the zone named ("2026-12-01 09:00 JST"). */
void rq_line_local(const struct sk_request *r, time_t now, const char *tz,
                   char *out, size_t outlen);

/* Runs notify_command (if any) with {"event":..., "request":{...},
 * "actor":...} on stdin; never waits for it. */
void rq_notify(const struct sk_config *cfg, const char *event,
               const struct sk_request *r, const char *actor);

/* Runs notify_command (if any) with o, compact, on stdin; never waits for
 * it, and the command is killed (SIGALRM) after a minute. o is borrowed. */
void rq_notify_json(const struct sk_config *cfg, const json_t *o);

#endif
