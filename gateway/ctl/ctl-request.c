/*
 * sekishoctl request list|show|approve|deny|signoff, and reports. Acting
 * as the host administrator ("admin:<unix user>"), or with --as NAME as
 * that gateway approver (whose own requests it then may not decide).
 */
#include "audit.h"
#include "sk-err.h"
#include "util.h"

#include "access.h"
#include "ctl.h"
#include "requests.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t parse_req_id(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) {
        die_usage("request: '%s' is not a request id", s);
    }
    return (int64_t)v;
}

struct rl {
    const char *state, *user;
    json_t *arr;
    int n;
};

static int list_cb(const struct sk_request *q, void *arg)
{
    struct rl *l = arg;
    time_t now = time(NULL);
    char line[1400], st[32], en[32];

    if (l->state != NULL && strcmp(q->state, l->state) != 0) {
        return 0;
    }
    l->n++;
    if (l->arr != NULL) {
        sk_time_fmt((time_t)q->start, st, sizeof(st));
        sk_time_fmt((time_t)q->end, en, sizeof(en));
        return json_array_append_new(
                   l->arr,
                   json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, "
                             "s:s, s:i, s:s?, s:s?, s:s?}",
                             "id", (json_int_t)q->id, "user", q->user,
                             "target", q->target, "reason", q->reason,
                             "ticket", q->ticket, "start", st, "end", en,
                             "state", q->state, "status",
                             sk_req_display(q->state, q->start, q->end, now),
                             "approvals", q->approvals, "decided_by",
                             q->decided_by, "report", q->report,
                             "signed_off_by", q->signed_off_by)) != 0;
    }
    rq_line(q, now, line, sizeof(line));
    /* The reason is the maintainer's text. */
    printf("%s\n", term_str(line));
    return 0;
}

static int vote_cb(const char *approver, const char *decision, int64_t t,
                   void *arg)
{
    char ts[32];

    (void)arg;
    sk_time_fmt((time_t)t, ts, sizeof(ts));
    printf("  %-10s %s by %s\n", term_str(decision), ts, term_str(approver));
    return 0;
}

static int session_cb(const struct sk_session_rec *s, void *arg)
{
    int64_t id = *(int64_t *)arg;
    char st[32];

    if (s->request_id == id) {
        sk_time_fmt((time_t)s->start, st, sizeof(st));
        printf("  session %s %s %s %s\n", term_str(s->id), st,
               term_str(s->mode ? s->mode : "-"),
               term_str(s->end ? (s->end_reason ? s->end_reason : "ended")
                               : "running"));
    }
    return 0;
}

static void show(int64_t id)
{
    struct sk_request q;
    char st[32], en[32], cr[32];
    time_t now = time(NULL);
    int r;

    if ((r = sk_store_request_get(store, id, &q)) != 0) {
        die("no request %lld", (long long)id);
    }
    sk_time_fmt((time_t)q.start, st, sizeof(st));
    sk_time_fmt((time_t)q.end, en, sizeof(en));
    sk_time_fmt((time_t)q.created, cr, sizeof(cr));
    printf("request %lld\n  user     %s\n  target   %s\n  reason   %s\n"
           "  ticket   %s\n  window   %s .. %s\n  filed    %s\n"
           "  status   %s (%s)\n",
           (long long)q.id, term_str(q.user), term_str(q.target),
           term_str(q.reason), term_str(q.ticket ? q.ticket : "-"), st, en,
           cr,
           sk_req_display(q.state, q.start, q.end, now), q.state);
    printf("votes:\n");
    (void)sk_store_request_votes(store, id, vote_cb, NULL);
    if (q.report != NULL) {
        sk_time_fmt((time_t)q.reported, st, sizeof(st));
        printf("report (%s):\n  %s\n", st, term_str(q.report));
    }
    if (q.signed_off_by != NULL) {
        sk_time_fmt((time_t)q.signed_off, st, sizeof(st));
        printf("signed off %s by %s\n", st, term_str(q.signed_off_by));
    }
    printf("sessions:\n");
    (void)sk_store_session_list(store, session_cb, &id);
    sk_request_clear(&q);
}

int ctl_request(int argc, char **argv)
{
    char msg[300], actor[96];
    /* Root at the console decides as the host admin: break-glass (on
     * record as such, sekishoctl.c), so with the approver's right that
     * an admin person alone no longer has (sk_req_is_approver). */
    const char *role = "approver,admin", *as = NULL, *text = NULL;
    struct sk_user u;
    enum sk_req_action act;
    int64_t id;

    if (argc < 1) {
        die_usage("request: list, show, approve, deny or signoff");
    }
    if (strcmp(argv[0], "list") == 0) {
        struct rl l;

        memset(&l, 0, sizeof(l));
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0) {
                l.arr = json_array();
            } else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
                l.state = argv[++i];
            } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
                l.user = argv[++i];
            } else {
                die_usage("request list: unexpected argument '%s'", argv[i]);
            }
        }
        if (sk_store_request_list(store, l.user, list_cb, &l) != 0) {
            die("request list failed");
        }
        if (l.arr != NULL) {
            char *out = json_dumps(l.arr, JSON_INDENT(1) |
                                              JSON_PRESERVE_ORDER);

            put_json(out ? out : "[]");
            putchar('\n');
            free(out);
            json_decref(l.arr);
        }
        return 0;
    }
    if (argc < 2) {
        die_usage("request %s: ID is required", argv[0]);
    }
    id = parse_req_id(argv[1]);
    if (strcmp(argv[0], "show") == 0) {
        if (argc != 2) {
            die_usage("request show: unexpected argument '%s'", argv[2]);
        }
        show(id);
        return 0;
    }
    if (strcmp(argv[0], "approve") == 0) {
        act = SK_REQ_APPROVE;
    } else if (strcmp(argv[0], "deny") == 0) {
        act = SK_REQ_DENY;
    } else if (strcmp(argv[0], "signoff") == 0) {
        act = SK_REQ_SIGNOFF;
    } else {
        die_usage("request: unknown subcommand '%s'", argv[0]);
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--as") == 0 && i + 1 < argc) {
            as = argv[++i];
        } else if (strcmp(argv[i], "--comment") == 0 && i + 1 < argc) {
            text = argv[++i];
            if (!sk_utf8_valid(text, strlen(text)) ||
                strlen(text) > SK_REQ_REASON_MAX) {
                die("--comment: UTF-8, at most %d bytes", SK_REQ_REASON_MAX);
            }
        } else {
            die_usage("request %s: unexpected argument '%s'", argv[0],
                      argv[i]);
        }
    }
    /* A person (over SSH: ctl_person) votes as themselves, with the roles
     * they hold; only root at the console may name someone else. */
    if (ctl_person != NULL) {
        if (as != NULL && strcmp(as, ctl_person) != 0) {
            die("request %s: --as is for the host administrator only",
                argv[0]);
        }
        as = ctl_person;
    }
    memset(&u, 0, sizeof(u));
    if (ctl_actor() != NULL) {
        /* Over SSH a person votes as themselves, with their own roles
         * (an admin who is no approver cannot approve). */
        as = ctl_actor();
    }
    if (as != NULL) {
        check_name("user", as);
        if (sk_store_user_get(store, as, &u) != 0) {
            die("no user %s", as);
        }
        role = u.role;
        snprintf(actor, sizeof(actor), "%s", as);
    } else {
        snprintf(actor, sizeof(actor), "admin:%s", admin);
    }
    /* With --as the vote is the approver's, but it is the host admin who
     * cast it: the audit line says so ("admin"). */
    if (rq_act(store, cfg, id, act, actor, role, admin, text, time(NULL),
               msg, sizeof(msg)) != 0) {
        sk_user_clear(&u);
        die("%s", msg);
    }
    sk_user_clear(&u);
    printf("%s\n", term_str(msg));
    return 0;
}
