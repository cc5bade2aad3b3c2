#!/usr/bin/env bash
# Integration tests for work requests and reports (issue 4): request over
# SSH, approval by a different approver, access only inside the approved
# window, report and sign-off, notifications; privilege and inspection
# reports. Real sshd target, real ssh client, real gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" ||
        die "gw_init failed"
    # Notifications: a script that appends each event (JSON on stdin).
    cat > "$WORK/notify" <<EOS
#!/bin/sh
cat >> "$WORK/notices"
echo >> "$WORK/notices"
EOS
    chmod 755 "$WORK/notify"
    sed -i "s|^#notify_command = .*|notify_command = $WORK/notify|" "$CONF"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_user bob --role approver
    add_user carol --role approver
    add_target web01
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# req_id OUTPUT: the id from "request N filed".
req_id() { printf '%s' "$1" | sed -n 's/.*request \([0-9]*\) filed.*/\1/p'; }

shell_on_web01() { # USER -> output of a short pty session
    (sleep 1; printf 'echo in-window-$((40+2)); exit\n'; sleep 1) |
        gw_ssh "$1" -tt web01 2>&1
}

t_request_approve_connect_report_signoff() {
    local out id t
    out=$(gw_ssh alice web01 -- id 2>&1 < /dev/null)
    expect_contains "no access before a request" "not permitted" "$out"
    out=$(gw_ssh alice request web01 --reason replace disk in bay 2 --for 1h \
        --ticket CHG-1 < /dev/null 2>&1)
    expect_contains "request filed" "filed" "$out"
    id=$(req_id "$out")
    [ -n "$id" ] || { fail "no request id in: $out"; return; }
    out=$(ctl request list)
    printf '%s\n' "$out" | grep -q "^$id web01 alice " ||
        fail "request list line: $out"
    expect_contains "awaiting approval" "awaiting approval" "$out"
    out=$(shell_on_web01 alice)
    expect_not_contains "pending request opens nothing" "in-window-42" "$out"
    out=$(gw_ssh alice approve "$id" < /dev/null 2>&1)
    expect_eq "maintainer cannot approve: exit" 1 "$?"
    expect_contains "maintainer cannot approve" "only approvers" "$out"
    out=$(gw_ssh bob approve "$id" < /dev/null 2>&1)
    expect_eq "approver approves" 0 "$?"
    expect_contains "approved" "approved, window open" "$out"
    out=$(shell_on_web01 alice)
    expect_contains "access inside the window" "in-window-42" "$out"
    out=$(gw_ssh alice web01 -- id 2>&1 < /dev/null)
    expect_contains "a request grants no exec" "not permitted" "$out"
    [ "$(db "SELECT count(*) FROM sessions WHERE request_id = $id")" -ge 1 ] ||
        fail "session not linked to its request"
    out=$(ctl request show "$id")
    expect_contains "show lists the session" "session 2" "$out"
    expect_contains "show lists the vote" "approve" "$out"
    out=$(ctl session list --request "$id" --json)
    expect_contains "session list by request" "\"request\": $id" "$out"
    # The transcript header names the request too.
    t=$(db "SELECT transcript FROM sessions WHERE request_id = $id LIMIT 1")
    head -c 2000 "$t" | grep -qa "\"request\":\"$id\"" ||
        fail "transcript header does not name request $id"
    out=$(gw_ssh bob report "$id" did it < /dev/null 2>&1)
    expect_contains "only the requester reports" "only the requester" "$out"
    out=$(gw_ssh alice report "$id" disk replaced, RAID rebuilt < /dev/null 2>&1)
    expect_contains "reported" "awaiting sign-off" "$out"
    out=$(shell_on_web01 alice)
    expect_not_contains "reported request opens nothing" "in-window-42" "$out"
    out=$(gw_ssh alice signoff "$id" < /dev/null 2>&1)
    expect_contains "requester cannot sign off" "only approvers" "$out"
    out=$(ctl request signoff "$id" --as bob)
    expect_contains "signed off" "signed off" "$out"
    # Bob approved over SSH himself; the sign-off was the host admin's,
    # cast for bob: the audit log tells the two apart.
    line=$(grep '"event":"request_approved"' "$GW/audit.log" | grep "\"request\":$id,")
    expect_contains "approval names bob" '"actor":"bob"' "$line"
    expect_contains "bob approved himself" '"admin":null' "$line"
    line=$(grep '"event":"request_signed_off"' "$GW/audit.log" | grep "\"request\":$id,")
    expect_contains "sign-off names bob" '"actor":"bob"' "$line"
    expect_contains "and the admin who acted for him" "\"admin\":\"$(id -un)" "$line"
    out=$(ctl request show "$id")
    expect_contains "report kept" "disk replaced, RAID rebuilt" "$out"
    expect_contains "sign-off kept" "signed off" "$out"
    for e in request_created request_approved request_reported request_signed_off; do
        audit_has "$e" "\"request\":$id" || fail "$e not audited"
        grep -q "\"event\":\"$e\".*\"id\":$id" "$WORK/notices" ||
            grep -q "\"id\":$id.*\"event\":\"$e\"" "$WORK/notices" ||
            wait_until 5 grep -q "\"event\":\"$e\"" "$WORK/notices" ||
            fail "no $e notification"
    done
}

t_own_request_cannot_be_approved() {
    local out id
    out=$(gw_ssh bob request web01 --reason self-service < /dev/null 2>&1)
    id=$(req_id "$out")
    out=$(gw_ssh bob approve "$id" < /dev/null 2>&1)
    expect_eq "own approval: exit" 1 "$?"
    expect_contains "own approval refused" "your own request" "$out"
    audit_has request_action_refused "\"request\":$id" ||
        fail "refusal not audited"
    out=$(gw_ssh carol deny "$id" no self-service < /dev/null 2>&1)
    expect_contains "denied" "denied" "$out"
    out=$(shell_on_web01 bob)
    expect_not_contains "denied request opens nothing" "in-window-42" "$out"
}

t_outside_window_refused() {
    local out id
    out=$(gw_ssh alice request web01 --reason later --start +1h --for 1h \
        < /dev/null 2>&1)
    id=$(req_id "$out")
    out=$(gw_ssh carol approve "$id" < /dev/null 2>&1)
    expect_contains "approved for later" "window not open yet" "$out"
    out=$(shell_on_web01 alice)
    expect_not_contains "refused before the window" "in-window-42" "$out"
    audit_has policy_decision '"reason":"request window not open yet"' ||
        fail "window refusal not audited"
    out=$(gw_ssh alice request web01 --reason x --start 2001-01-01 < /dev/null 2>&1)
    expect_contains "past window refused" "starts in the past" "$out"
    out=$(gw_ssh alice request web01 --reason x --for 40d < /dev/null 2>&1)
    expect_contains "too long a window refused" "longer than 30 days" "$out"
    out=$(gw_ssh alice request nosuch --reason x < /dev/null 2>&1)
    expect_contains "unknown target" "no target" "$out"
}

t_two_approvers_needed() {
    local out id
    sed -i 's/^#approvals_required = 1/approvals_required = 2/' "$CONF"
    out=$(gw_ssh alice request web01 --reason needs two < /dev/null 2>&1)
    id=$(req_id "$out")
    out=$(gw_ssh bob approve "$id" < /dev/null 2>&1)
    expect_contains "first vote" "more approvals needed" "$out"
    out=$(gw_ssh bob approve "$id" < /dev/null 2>&1)
    expect_contains "same approver twice" "already decided" "$out"
    out=$(shell_on_web01 alice)
    expect_not_contains "one vote opens nothing" "in-window-42" "$out"
    out=$(ctl request approve "$id")
    expect_contains "second (admin) vote approves" "approved" "$out"
    out=$(shell_on_web01 alice)
    expect_contains "two votes open the window" "in-window-42" "$out"
    sed -i 's/^approvals_required = 2/#approvals_required = 1/' "$CONF"
    gw_ssh alice report "$id" done > /dev/null 2>&1 < /dev/null
}

t_window_close_ends_session() {
    local out id t0
    out=$(gw_ssh alice request web01 --reason short --for 1h < /dev/null 2>&1)
    id=$(req_id "$out")
    gw_ssh bob approve "$id" > /dev/null 2>&1 < /dev/null
    # The window closes 8 s from now (fixture: move its end).
    db "UPDATE requests SET end = strftime('%s','now') + 8 WHERE id = $id"
    t0=$(date +%s)
    # (the feeding subshell outlives the session; time the client itself)
    out=$( (sleep 1; printf 'echo inside\n'; sleep 20) |
        { gw_ssh alice -tt web01 2>&1; echo "at=$(date +%s)"; })
    expect_contains "warned first" "ends in" "$out"
    expect_contains "then ended" "work window has closed" "$out"
    [ $(( $(printf '%s' "$out" | grep -o 'at=[0-9]*' | cut -d= -f2) - t0 )) \
        -lt 14 ] || fail "session outlived its window"
    gw_ssh alice report "$id" done > /dev/null 2>&1 < /dev/null
}

t_reports() {
    local out h
    ctl grant add alice web01 --until 2099-01-01 > /dev/null
    out=$(ctl report privileges)
    expect_contains "privileges: grant" "grant" "$out"
    printf '%s\n' "$out" | grep -q "^alice .* web01 .*grant" ||
        fail "alice's grant missing: $out"
    out=$(ctl report privileges --format csv)
    expect_contains "csv header" '"user","role","account","target","login","via"' "$out"
    ctl report privileges --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(r["user"]=="alice" and r["via"]=="grant" for r in d)' ||
        fail "privileges json"
    out=$(ctl report inspection)
    expect_contains "grant never used" "grant never used" "$out"
    expect_contains "admin count" "admin accounts" "$out"
    expect_contains "approver count" "approver accounts" "$out"
    # second_factor = none here: the global rule is the password alone
    printf '%s\n' "$out" | grep -q "no second factor .*alice .*password" ||
        fail "single-factor rule not reported: $out"
    ctl user methods alice "sk+password" > /dev/null
    out=$(ctl report inspection)
    printf '%s\n' "$out" |
        grep -q "factor not enrolled .*alice .*missing sk" ||
        fail "unenrolled factor not reported: $out"
    ctl user methods alice default > /dev/null
    ctl report inspection --format csv -o "$WORK/insp.csv" 2> /dev/null ||
        fail "report -o failed"
    h=$(b2sum -l 256 "$WORK/insp.csv" | cut -d' ' -f1)
    audit_has report_run "\"output_hash\":\"$h\"" ||
        fail "kept report does not match the audited hash"
    out=$(ctl report nonsense 2>&1)
    expect_eq "unknown report: usage" 2 "$?"
    out=$(ctl request approve 999999 2>&1)
    expect_eq "unknown request" 1 "$?"
    expect_contains "unknown request named" "no request 999999" "$out"
}

setup
run_test t_request_approve_connect_report_signoff
run_test t_own_request_cannot_be_approved
run_test t_outside_window_refused
run_test t_two_approvers_needed
run_test t_window_close_ends_session
run_test t_reports
run_test t_no_sanitizer_reports
summary
