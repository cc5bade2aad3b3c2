#include "requests.h"
#include "audit.h"
#include "i18n.h"
#include "log.h"
#include "sk-err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_WINDOW (2 * 3600)
#define RQ_NOTIFY_TIMEOUT 60

static int ticket_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("._#/-:", c) != NULL)) {
            return 0;
        }
    }
    return 1;
}

static json_t *request_json(const struct sk_request *r, time_t now)
{
    char st[32], en[32];

    sk_time_fmt((time_t)r->start, st, sizeof(st));
    sk_time_fmt((time_t)r->end, en, sizeof(en));
    return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:i, "
                     "s:s?, s:s?, s:s?}",
                     "id", (json_int_t)r->id, "user", r->user, "target",
                     r->target, "reason", r->reason, "ticket", r->ticket,
                     "start", st, "end", en, "state", r->state, "status",
                     sk_req_display(r->state, r->start, r->end, now),
                     "approvals", r->approvals, "decided_by", r->decided_by,
                     "report", r->report, "signed_off_by", r->signed_off_by);
}

void rq_notify(const struct sk_config *cfg, const char *event,
               const struct sk_request *r, const char *actor)
{
    json_t *o = NULL;

    if (cfg->notify_command == NULL ||
        strcmp(cfg->notify_command, "none") == 0) {
        return;
    }
    o = json_pack("{s:s, s:o, s:s, s:s}", "event", event, "request",
                  request_json(r, time(NULL)), "actor", actor, "gateway",
                  cfg->gateway_id);
    if (o == NULL) {
        error_f("notify: cannot prepare the event");
        return;
    }
    rq_notify_json(cfg, o);
    json_decref(o);
}

void rq_notify_json(const struct sk_config *cfg, const json_t *o)
{
    char *copy = NULL, *argv[16], *save = NULL, *tok, *text = NULL;
    int argc = 0, p[2] = {-1, -1};
    pid_t pid;

    if (cfg->notify_command == NULL ||
        strcmp(cfg->notify_command, "none") == 0) {
        return;
    }
    if ((copy = strdup(cfg->notify_command)) == NULL) {
        return;
    }
    for (tok = strtok_r(copy, " \t", &save); tok != NULL && argc < 15;
         tok = strtok_r(NULL, " \t", &save)) {
        argv[argc++] = tok;
    }
    argv[argc] = NULL;
    if (argc == 0 || argv[0][0] != '/') {
        error_f("notify_command must start with an absolute path");
        goto out;
    }
    if ((text = json_dumps(o, JSON_COMPACT)) == NULL ||
        pipe2(p, O_CLOEXEC) != 0) {
        error_f("notify: cannot prepare the event");
        goto out;
    }
    /* Double fork: the notifier is nobody's child to wait for, and a slow
     * mail server cannot hold up a session or an admin command. */
    if ((pid = fork()) == 0) {
        if (fork() == 0) {
            int devnull = open("/dev/null", O_RDWR);

            if (dup2(p[0], 0) < 0 || devnull < 0 || dup2(devnull, 1) < 0) {
                _exit(127);
            }
            /* Only stdin/stdout/stderr: a notifier holding a session's
             * sockets would keep its peers from seeing them close. */
            (void)close_range(3, ~0U, 0);
            /* A notifier that hangs is killed (the timer survives exec):
             * hung mail servers must not pile up processes. */
            alarm(RQ_NOTIFY_TIMEOUT);
            execv(argv[0], argv);
            _exit(127);
        }
        _exit(0);
    }
    if (pid > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        close(p[0]);
        p[0] = -1;
        /* The event is small; the pipe buffer takes it whole. */
        signal(SIGPIPE, SIG_IGN);
        if (write(p[1], text, strlen(text)) < 0) {
            error_f("notify: %s", strerror(errno));
        }
    }
out:
    if (p[0] >= 0) {
        close(p[0]);
    }
    if (p[1] >= 0) {
        close(p[1]);
    }
    free(text);
    free(copy);
}

int rq_create(sk_store *st, const struct sk_config *cfg, const char *user,
              const char *target, const char *reason, const char *start,
              const char *dur, const char *ticket, time_t now, int64_t *id,
              char *msg, size_t msglen)
{
    struct sk_request q;
    struct sk_target t;
    time_t s = now;
    int64_t len = DEFAULT_WINDOW;
    char why[128];
    int r;

    memset(&q, 0, sizeof(q));
    if (!sk_name_valid(target)) {
        snprintf(msg, msglen, _("'%s' is not a target name"), target);
        return -1;
    }
    if (reason == NULL || reason[0] == '\0' ||
        strlen(reason) > SK_REQ_REASON_MAX ||
        !sk_utf8_valid(reason, strlen(reason))) {
        snprintf(msg, msglen,
                 _("a reason (UTF-8, at most %d bytes) is required"),
                 SK_REQ_REASON_MAX);
        return -1;
    }
    if (ticket != NULL && ticket[0] != '\0' && !ticket_ok(ticket)) {
        snprintf(msg, msglen, "%s",
                 _("ticket: 1-64 characters of A-Z a-z 0-9 . _ # / - :"));
        return -1;
    }
    if (start != NULL && start[0] != '\0' &&
        sk_time_parse(start, now, &s) != 0) {
        snprintf(msg, msglen,
                 _("--start: '%s' is not a time (YYYY-MM-DD HH:MM UTC, or "
                   "+DURATION)"),
                 start);
        return -1;
    }
    if (dur != NULL && dur[0] != '\0' && sk_duration_parse(dur, &len) != 0) {
        snprintf(msg, msglen, _("--for: '%s' is not a duration (90m, 4h, 2d)"),
                 dur);
        return -1;
    }
    if (sk_req_window_ok((int64_t)s, (int64_t)s + len, now, why,
                         sizeof(why)) != 0) {
        snprintf(msg, msglen, "%s", sk_tr(why));
        return -1;
    }
    if ((r = sk_store_target_get(st, target, &t)) != 0) {
        snprintf(msg, msglen, r == SK_ERR_NOT_FOUND ? _("no target '%s'")
                                                    : _("state unavailable"),
                 target);
        return -1;
    }
    sk_target_clear(&t);
    q.user = (char *)user;
    q.target = (char *)target;
    q.reason = (char *)reason;
    q.ticket = ticket != NULL && ticket[0] != '\0' ? (char *)ticket : NULL;
    q.start = (int64_t)s;
    q.end = (int64_t)s + len;
    q.created = (int64_t)now;
    q.state = "pending";
    if (sk_store_request_add(st, &q, id) != 0) {
        snprintf(msg, msglen, "%s", _("state unavailable"));
        return -1;
    }
    q.id = *id;
    if (sk_audit("request_created", "{s:I, s:s, s:s, s:s, s:s?, s:I, s:I}",
                 "request", (json_int_t)*id, "user", user, "target", target,
                 "reason", reason, "ticket", q.ticket, "start",
                 (json_int_t)q.start, "end", (json_int_t)q.end) != 0) {
        /* Recorded in the store but not audited: fail closed by denying
         * it at once, which is audited or at least logged. */
        (void)sk_store_request_transition(st, *id, "pending", "denied",
                                          "gateway: audit log unavailable",
                                          NULL, now);
        snprintf(msg, msglen, "%s",
                 _("audit log unavailable; request refused"));
        return -1;
    }
    rq_notify(cfg, "request_created", &q, user);
    /* TRANSLATORS: keep "request %lld" first: scripts read the id. */
    snprintf(msg, msglen, _("request %lld filed: %s on %s, awaiting approval"),
             (long long)*id, user, target);
    return 0;
}

static int voted_cb(const char *approver, const char *decision, int64_t t,
                    void *arg)
{
    const char **who = arg;

    (void)decision;
    (void)t;
    if (strcmp(approver, who[0]) == 0) {
        who[1] = "yes";
        return 1;
    }
    return 0;
}

int rq_act(sk_store *st, const struct sk_config *cfg, int64_t id,
           enum sk_req_action act, const char *actor, const char *role,
           const char *admin, const char *text, time_t now, char *msg,
           size_t msglen)
{
    static const char *names[] = {"approve", "deny", "report", "signoff"};
    struct sk_request q;
    const char *who[2] = {actor, NULL}, *event = NULL;
    char why[128];
    int r, done = 0;

    if ((r = sk_store_request_get(st, id, &q)) != 0) {
        snprintf(msg, msglen, r == SK_ERR_NOT_FOUND ? _("no request %lld")
                                                    : _("state unavailable"),
                 (long long)id);
        return -1;
    }
    if (act == SK_REQ_APPROVE || act == SK_REQ_DENY) {
        (void)sk_store_request_votes(st, id, voted_cb, who);
    }
    if (act == SK_REQ_REPORT &&
        (text == NULL || text[0] == '\0' ||
         strlen(text) > SK_REQ_REASON_MAX)) {
        snprintf(msg, msglen, _("the report needs a text of at most %d bytes"),
                 SK_REQ_REASON_MAX);
        sk_request_clear(&q);
        return -1;
    }
    if (sk_req_check(q.state, q.user, actor, role, act, who[1] != NULL, why,
                     sizeof(why)) != 0) {
        (void)sk_audit("request_action_refused",
                       "{s:I, s:s, s:s?, s:s, s:s}", "request",
                       (json_int_t)id, "actor", actor, "admin", admin,
                       "action", names[act], "reason", why);
        snprintf(msg, msglen, "request %lld: %s", (long long)id, sk_tr(why));
        sk_request_clear(&q);
        return -1;
    }
    switch (act) {
    case SK_REQ_APPROVE:
    case SK_REQ_DENY:
        if ((r = sk_store_request_vote(st, id, actor,
                                       act == SK_REQ_APPROVE ? "approve"
                                                             : "deny",
                                       now)) != 0) {
            snprintf(msg, msglen, "%s",
                     r == SK_ERR_EXISTS
                         ? _("you have already decided this request")
                         : _("state unavailable"));
            sk_request_clear(&q);
            return -1;
        }
        if (act == SK_REQ_DENY) {
            r = sk_store_request_transition(st, id, "pending", "denied",
                                            actor, NULL, now);
            done = r == 0;
            event = "request_denied";
        } else if (q.approvals + 1 >= cfg->approvals_required) {
            r = sk_store_request_transition(st, id, "pending", "approved",
                                            actor, NULL, now);
            done = r == 0;
            event = "request_approved";
        } else {
            r = 0;
            event = "request_vote";
        }
        break;
    case SK_REQ_REPORT:
        r = sk_store_request_transition(st, id, "approved", "reported",
                                        actor, text, now);
        done = r == 0;
        event = "request_reported";
        break;
    case SK_REQ_SIGNOFF:
        r = sk_store_request_transition(st, id, "reported", "signed_off",
                                        actor, NULL, now);
        done = r == 0;
        event = "request_signed_off";
        break;
    }
    if (r != 0) {
        snprintf(msg, msglen, _("request %lld changed meanwhile; look again"),
                 (long long)id);
        sk_request_clear(&q);
        return -1;
    }
    (void)sk_audit(event, "{s:I, s:s, s:s, s:s, s:s?, s:s, s:s?}",
                   "request", (json_int_t)id, "user", q.user, "target",
                   q.target, "actor", actor, "admin", admin, "action",
                   names[act], "text", text);
    sk_request_clear(&q);
    if (sk_store_request_get(st, id, &q) == 0) {
        rq_notify(cfg, event, &q, actor);
        snprintf(msg, msglen, "request %lld: %s%s", (long long)id,
                 sk_tr(sk_req_display(q.state, q.start, q.end, now)),
                 done || act != SK_REQ_APPROVE
                     ? ""
                     : _(" (vote recorded; more approvals needed)"));
        sk_request_clear(&q);
    }
    return 0;
}

void rq_line(const struct sk_request *r, time_t now, char *out,
             size_t outlen)
{
    char st[32], en[32];

    sk_time_fmt((time_t)r->start, st, sizeof(st));
    sk_time_fmt((time_t)r->end, en, sizeof(en));
    snprintf(out, outlen, "%lld %s %s [%s] %s..%s %s", (long long)r->id,
             r->target, r->user, sk_req_display(r->state, r->start, r->end,
                                                 now),
             st, en, r->reason);
}

void rq_line_local(const struct sk_request *r, time_t now, const char *tz,
                   char *out, size_t outlen)
{
    char st[64], en[64];

    sk_time_local_fmt(tz, (time_t)r->start, st, sizeof(st));
    sk_time_local_fmt(tz, (time_t)r->end, en, sizeof(en));
    snprintf(out, outlen, "%lld %s %s [%s] %s..%s %s", (long long)r->id,
             r->target, r->user,
             sk_tr(sk_req_display(r->state, r->start, r->end, now)), st, en,
             r->reason);
}
