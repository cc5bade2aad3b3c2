#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "policy/policy.h"
#include "policy/cidr.h"
#include "policy/request.h"
#include "sk-err.h"

/* target, exec, valid_from, valid_until, request, window, max */
static const struct sk_policy_grant grants[] = {
    {"web01", 1, 0, 0, 0, NULL, 0},
    {"db01", 0, 0, 0, 0, NULL, 0},
    {"tmp01", 1, 0, 1000, 0, NULL, 0},
    /* db01 again through an approved request [2000, 3000), exec */
    {"db01", 1, 2000, 3000, 7, NULL, 0},
    /* a request window alone */
    {"win01", 0, 100, 200, 9, NULL, 0},
};
#define NG (sizeof(grants) / sizeof(grants[0]))

static const struct sk_when *at(time_t now)
{
    static struct sk_when w;

    w.now = now;
    w.wday = 3;
    w.minute = 600;
    return &w;
}

static int decide(const char *t, enum sk_access_mode m, time_t now,
                  char *why)
{
    return sk_policy_decide(grants, NG, t, m, at(now), why, 128);
}

static void test_decisions(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(decide("web01", SK_ACCESS_SHELL, 5, why), 0);
    assert_int_equal(decide("web01", SK_ACCESS_EXEC, 5, why), 0);
    assert_int_equal(decide("db01", SK_ACCESS_SHELL, 5, why), 0);
    assert_int_equal(decide("db01", SK_ACCESS_EXEC, 5, why), SK_ERR_DENIED);
    assert_string_equal(why, "grant does not allow exec");
    assert_int_equal(decide("other", SK_ACCESS_SHELL, 5, why), SK_ERR_DENIED);
    assert_string_equal(why, "no grant for target");
    /* validity is a half-open interval: valid before, not at, the end */
    assert_int_equal(decide("tmp01", SK_ACCESS_SHELL, 999, why), 0);
    assert_int_equal(decide("tmp01", SK_ACCESS_SHELL, 1000, why),
                     SK_ERR_DENIED);
    assert_string_equal(why, "grant expired");
    /* no grants at all: deny */
    assert_int_equal(sk_policy_decide(NULL, 0, "web01", SK_ACCESS_SHELL, at(5),
                                      why, sizeof(why)),
                     SK_ERR_DENIED);
    /* prefix of a granted name is not that name */
    assert_int_equal(decide("web0", SK_ACCESS_SHELL, 5, why), SK_ERR_DENIED);
}

/* Overlapping rules: any rule that allows is enough, and the match says
 * which (the session is linked to its request). */
static void test_overlap_and_windows(void **state)
{
    char why[128];
    size_t idx = 99;

    (void)state;
    /* db01 exec only inside the request's window */
    assert_int_equal(decide("db01", SK_ACCESS_EXEC, 1999, why),
                     SK_ERR_DENIED);
    assert_int_equal(sk_policy_match(grants, NG, "db01", SK_ACCESS_EXEC,
                                      at(2000), why, sizeof(why), &idx),
                     0);
    assert_int_equal(grants[idx].request_id, 7);
    assert_string_equal(why, "request");
    assert_int_equal(decide("db01", SK_ACCESS_EXEC, 2999, why), 0);
    assert_int_equal(decide("db01", SK_ACCESS_EXEC, 3000, why),
                     SK_ERR_DENIED);
    /* the standing grant still allows a shell outside the window */
    assert_int_equal(sk_policy_match(grants, NG, "db01", SK_ACCESS_SHELL,
                                      at(5000), why, sizeof(why), &idx),
                     0);
    assert_int_equal(grants[idx].request_id, 0);
    /* window boundaries and the reasons given */
    assert_int_equal(decide("win01", SK_ACCESS_SHELL, 99, why),
                     SK_ERR_DENIED);
    assert_string_equal(why, "request window not open yet");
    assert_int_equal(decide("win01", SK_ACCESS_SHELL, 100, why), 0);
    assert_int_equal(decide("win01", SK_ACCESS_SHELL, 199, why), 0);
    assert_int_equal(decide("win01", SK_ACCESS_SHELL, 200, why),
                     SK_ERR_DENIED);
    assert_string_equal(why, "request window closed");
}

static void test_request_rules(void **state)
{
    char why[128];

    (void)state;
    /* approvers decide pending requests of others, once */
    assert_int_equal(sk_req_check("pending", "alice", "bob", "approver",
                                  SK_REQ_APPROVE, 0, why, sizeof(why)),
                     0);
    assert_int_equal(sk_req_check("pending", "alice", "bob", "approver",
                                  SK_REQ_APPROVE, 1, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(why, "you have already decided this request");
    assert_int_equal(sk_req_check("pending", "alice", "alice",
                                  "approver,admin", SK_REQ_APPROVE, 0, why,
                                  sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(why, "you cannot decide your own request");
    /* separated duties: admin alone does not decide */
    assert_int_equal(sk_req_check("pending", "alice", "bob", "admin",
                                  SK_REQ_APPROVE, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(why, "only approvers may decide requests");
    assert_int_equal(sk_req_check("pending", "alice", "carol", "maintainer",
                                  SK_REQ_DENY, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_req_check("approved", "alice", "bob", "approver",
                                  SK_REQ_APPROVE, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    /* only the requester reports, only an approved request */
    assert_int_equal(sk_req_check("approved", "alice", "alice", "maintainer",
                                  SK_REQ_REPORT, 0, why, sizeof(why)),
                     0);
    assert_int_equal(sk_req_check("approved", "alice", "bob", "approver",
                                  SK_REQ_REPORT, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_req_check("pending", "alice", "alice", "maintainer",
                                  SK_REQ_REPORT, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    /* sign-off: an approver, not the requester, after the report */
    assert_int_equal(sk_req_check("reported", "alice", "bob", "approver",
                                  SK_REQ_SIGNOFF, 0, why, sizeof(why)),
                     0);
    assert_int_equal(sk_req_check("reported", "bob", "bob", "approver",
                                  SK_REQ_SIGNOFF, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_req_check("approved", "alice", "bob", "approver",
                                  SK_REQ_SIGNOFF, 0, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(why, "the work has not been reported yet");
}

static void test_request_windows_and_display(void **state)
{
    char why[128];

    (void)state;
    assert_int_equal(sk_req_window_ok(1000, 2000, 1000, why, sizeof(why)),
                     0);
    assert_int_equal(sk_req_window_ok(700, 2000, 1000, why, sizeof(why)), 0);
    assert_int_equal(sk_req_window_ok(699, 2000, 1000, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_req_window_ok(1000, 1000, 1000, why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_int_equal(sk_req_window_ok(1000, 1000 + SK_REQ_MAX_WINDOW, 1000,
                                      why, sizeof(why)),
                     0);
    assert_int_equal(sk_req_window_ok(1000, 1001 + SK_REQ_MAX_WINDOW, 1000,
                                      why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(sk_req_display("pending", 10, 20, 5),
                        "awaiting approval");
    assert_string_equal(sk_req_display("pending", 10, 20, 20),
                        "expired unapproved");
    assert_string_equal(sk_req_display("approved", 10, 20, 5),
                        "approved, window not open yet");
    assert_string_equal(sk_req_display("approved", 10, 20, 10),
                        "approved, window open");
    assert_string_equal(sk_req_display("approved", 10, 20, 20),
                        "awaiting report");
    assert_string_equal(sk_req_display("reported", 10, 20, 30),
                        "awaiting sign-off");
    assert_string_equal(sk_req_display("signed_off", 10, 20, 30),
                        "signed off");
}

static void test_cidr(void **state)
{
    struct sk_cidr c;
    char out[64];

    (void)state;
    assert_int_equal(sk_cidr_parse("10.0.0.0/8", &c), 0);
    assert_true(sk_cidr_match(&c, "10.255.1.2"));
    assert_false(sk_cidr_match(&c, "11.0.0.0"));
    assert_false(sk_cidr_match(&c, "::1"));
    /* IPv4-mapped IPv6 from a dual-stack listener */
    assert_true(sk_cidr_match(&c, "::ffff:10.1.2.3"));
    sk_cidr_format(&c, out, sizeof(out));
    assert_string_equal(out, "10.0.0.0/8");
    /* boundaries: /0, /32, odd prefixes */
    assert_int_equal(sk_cidr_parse("0.0.0.0/0", &c), 0);
    assert_true(sk_cidr_match(&c, "203.0.113.9"));
    assert_int_equal(sk_cidr_parse("192.0.2.7", &c), 0);
    assert_int_equal(c.prefix, 32);
    assert_true(sk_cidr_match(&c, "192.0.2.7"));
    assert_false(sk_cidr_match(&c, "192.0.2.6"));
    assert_int_equal(sk_cidr_parse("192.0.2.128/25", &c), 0);
    assert_true(sk_cidr_match(&c, "192.0.2.255"));
    assert_false(sk_cidr_match(&c, "192.0.2.127"));
    assert_int_equal(sk_cidr_parse("2001:db8::/32", &c), 0);
    assert_true(sk_cidr_match(&c, "2001:db8:ffff::1"));
    assert_false(sk_cidr_match(&c, "2001:db9::1"));
    assert_false(sk_cidr_match(&c, "10.0.0.1"));
    assert_int_equal(sk_cidr_parse("::1/128", &c), 0);
    assert_true(sk_cidr_match(&c, "::1"));
    /* refused: host bits set, bad prefixes, garbage */
    assert_int_equal(sk_cidr_parse("10.0.0.1/8", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("10.0.0.0/33", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("10.0.0.0/-1", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("10.0.0.0/", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("10.0.0/8", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("::/129", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("example.com", &c), SK_ERR_INVALID);
    assert_int_equal(sk_cidr_parse("", &c), SK_ERR_INVALID);
    /* lists: empty means anywhere; malformed entries never match */
    assert_true(sk_cidr_list_match(NULL, "1.2.3.4"));
    assert_true(sk_cidr_list_match("", "1.2.3.4"));
    assert_true(sk_cidr_list_match("10.0.0.0/8 127.0.0.0/8", "127.0.0.1"));
    assert_false(sk_cidr_list_match("10.0.0.0/8 192.0.2.0/24", "127.0.0.1"));
    assert_false(sk_cidr_list_match("bogus", "127.0.0.1"));
}

static int in_window(const char *spec, int wday, int h, int m)
{
    struct sk_window w;
    char why[160];

    assert_int_equal(sk_window_parse(spec, &w, why, sizeof(why)), 0);
    return sk_window_contains(&w, wday, h * 60 + m);
}

static void test_windows(void **state)
{
    struct sk_window w;
    char why[160];
    struct sk_policy_grant g = {"web01", 1, 0, 0, 0, &w, 0};
    struct sk_when when = {5, 1, 9 * 60, 0};

    (void)state;
    /* office hours, boundaries half-open */
    assert_true(in_window("Mon-Fri 09:00-18:00", 1, 9, 0));
    assert_true(in_window("Mon-Fri 09:00-18:00", 5, 17, 59));
    assert_false(in_window("Mon-Fri 09:00-18:00", 5, 18, 0));
    assert_false(in_window("Mon-Fri 09:00-18:00", 1, 8, 59));
    assert_false(in_window("Mon-Fri 09:00-18:00", 6, 12, 0));
    assert_false(in_window("Mon-Fri 09:00-18:00", 0, 12, 0));
    assert_true(in_window("weekdays 09:00-18:00", 3, 12, 0));
    assert_true(in_window("weekends 00:00-24:00", 0, 23, 59));
    assert_true(in_window("daily 00:00-24:00", 4, 0, 0));
    assert_true(in_window("Sat,Sun 10:00-12:00; Wed 13:00-14:00", 3, 13, 30));
    assert_false(in_window("Sat,Sun 10:00-12:00; Wed 13:00-14:00", 4, 13, 30));
    /* wrapping day range, and hours over midnight */
    assert_true(in_window("Fri-Mon 08:00-09:00", 0, 8, 30));
    assert_false(in_window("Fri-Mon 08:00-09:00", 3, 8, 30));
    assert_true(in_window("Fri 22:00-06:00", 5, 23, 0));
    assert_true(in_window("Fri 22:00-06:00", 6, 5, 59));
    assert_false(in_window("Fri 22:00-06:00", 6, 6, 0));
    assert_false(in_window("Fri 22:00-06:00", 4, 23, 0));
    assert_false(in_window("Fri 22:00-06:00", 5, 5, 0));
    /* malformed windows are refused with a reason */
    assert_int_equal(sk_window_parse("", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon-Fri", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon-Fry 09:00-18:00", &w, why,
                                     sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon 09:00-09:00", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon 24:00-09:00", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon 09:60-10:00", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon 9:00-10:00", &w, why, sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon 09:00-10:00 extra", &w, why,
                                     sizeof(why)),
                     SK_ERR_INVALID);
    assert_int_equal(sk_window_parse("Mon, 09:00-10:00", &w, why,
                                     sizeof(why)),
                     SK_ERR_INVALID);
    /* in a decision */
    assert_int_equal(sk_window_parse("Mon-Fri 09:00-18:00", &w, why,
                                     sizeof(why)),
                     0);
    assert_int_equal(sk_policy_decide(&g, 1, "web01", SK_ACCESS_SHELL, &when,
                                      why, sizeof(why)),
                     0);
    when.minute = 18 * 60;
    assert_int_equal(sk_policy_decide(&g, 1, "web01", SK_ACCESS_SHELL, &when,
                                      why, sizeof(why)),
                     SK_ERR_DENIED);
    assert_string_equal(why, "outside the rule's hours");
}

/* When a held session's monitor must look next (sk_policy_next_change):
 * the validity bounds of the target's grants and the minutes its windows
 * open or close, and nothing of other targets. */
static void test_next_change(void **state)
{
    struct sk_window office, night;
    char why[160];
    /* Wednesday 17:58:30 local at t = 100030 */
    struct sk_when when = {100030, 3, 17 * 60 + 58, 30};
    struct sk_policy_grant g[] = {
        {"web01", 1, 0, 0, 0, NULL, 0},
        {"db01", 1, 0, 100100, 0, NULL, 0},
        {"db01", 1, 100500, 100900, 4, NULL, 0},
        {"app01", 1, 0, 0, 0, &office, 0},
        {"app02", 1, 0, 0, 0, &night, 0},
        {"other", 1, 0, 100040, 0, NULL, 0},
    };

    (void)state;
    assert_int_equal(sk_window_parse("Mon-Fri 09:00-18:00", &office, why,
                                     sizeof(why)),
                     0);
    assert_int_equal(sk_window_parse("Wed 23:00-01:00", &night, why,
                                     sizeof(why)),
                     0);
    /* no bound, no window: the horizon */
    assert_int_equal(sk_policy_next_change(g, 6, "web01", &when, 10),
                     100040);
    /* an end within the horizon; a later request's start and end next */
    assert_int_equal(sk_policy_next_change(g, 6, "db01", &when, 3600),
                     100100);
    when.now = 100100;
    assert_int_equal(sk_policy_next_change(g, 6, "db01", &when, 3600),
                     100500);
    when.now = 100600;
    assert_int_equal(sk_policy_next_change(g, 6, "db01", &when, 3600),
                     100900);
    /* the office window closes at 18:00:00, 90 s after 17:58:30 */
    when.now = 100030;
    assert_int_equal(sk_policy_next_change(g, 6, "app01", &when, 3600),
                     100030 + 90);
    assert_int_equal(sk_policy_next_change(g, 6, "app01", &when, 60),
                     100030 + 60);
    /* the night window opens at 23:00 (5 h 1 min 30 s on) */
    assert_int_equal(sk_policy_next_change(g, 6, "app02", &when, 86400),
                     100030 + 5 * 3600 + 90);
    /* and, inside it, closes at 01:00 Thursday (over midnight) */
    when.now = 200000;
    when.minute = 23 * 60 + 59;
    when.second = 0;
    assert_int_equal(sk_policy_next_change(g, 6, "app02", &when, 86400),
                     200000 + 3600 + 60);
    /* a target with no grant, and a horizon out of range */
    assert_int_equal(sk_policy_next_change(g, 6, "none", &when, 0), 200001);
    assert_int_equal(sk_policy_next_change(g, 6, "none", &when,
                                           (int64_t)1 << 40),
                     200000 + 8 * 86400);
    /* a leap second still moves on */
    when.second = 60;
    assert_true(sk_policy_next_change(g, 6, "app01", &when, 3600) > 200000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_overlap_and_windows),
        cmocka_unit_test(test_request_rules),
        cmocka_unit_test(test_request_windows_and_display),
        cmocka_unit_test(test_next_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
