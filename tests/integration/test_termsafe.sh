#!/usr/bin/env bash
# Integration tests for terminal safety (issue 12): text that came from a
# target, a client or the store reaches a person's terminal only through
# the one terminal-safe printer (sk_term_safe): escaped, recognisable,
# never obeyed. A hostile target (hostile-target.py) answers the gateway
# with an SSH_MSG_DISCONNECT full of escape sequences.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# What the hostile target says (a Python bytes literal body): an OSC that
# sets the window title, BEL, a clear screen, an 8-bit CSI (C1, U+009B),
# DEL and a byte that is not UTF-8.
EVIL='bye \x1b]0;owned\x07\x1b[2J \xc2\x9b31m-c1 \x7fdel \xffbad'
# ... and how every printer shows it (the invalid byte was repaired to
# U+FFFD before it was stored).
SHOWN='bye \u001B]0;owned\u0007\u001B[2J \u009B31m-c1 \u007Fdel '$'\357\277\275''bad'

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" ||
        die "gw_init failed"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_user bob
    add_target web01
    "$HERE/hostile-target.py" "$WORK/evil.port" "$EVIL" \
        2>> "$WORK/evil.log" &
    PIDS="$PIDS $!"
    wait_until 5 test -s "$WORK/evil.port" || die "hostile target did not start"
    # Any key: the disconnect comes before a host key is ever shown.
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/evilkey"
    ctl target add evil --host 127.0.0.1 --port "$(cat "$WORK/evil.port")" \
        --login "$TLOGIN" --host-key-file "$WORK/evilkey.pub" > /dev/null ||
        die "target evil"
    ctl grant add alice web01 --exec > /dev/null
    ctl grant add alice evil --exec > /dev/null
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# no_controls WHAT TEXT: TEXT holds no byte a terminal acts on: C0 but
# TAB, LF and CR, DEL, or a C1 control in UTF-8 (C2 80-9F).
no_controls() {
    if printf '%s' "$2" |
        LC_ALL=C grep -qaP '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]'
    then
        fail "$1: a raw control character reached the terminal: $(printf \
            '%s' "$2" | head -c 400 | od -c | head -8)"
    fi
}

# The hostile target's words reach the session's end reason, stored as
# received (valid UTF-8), and every view of the session shows them escaped;
# the maintainer's own terminal gets none of it.
t_hostile_target_disconnect() {
    local out id
    out=$(gw_ssh alice evil -- true 2>&1 < /dev/null)
    expect_eq "maintainer: refused" 255 "$?"
    expect_contains "maintainer: told" "cannot open a session on evil" "$out"
    no_controls "maintainer's ssh output" "$out"
    out=$( (sleep 2) | gw_ssh alice -tt evil 2>&1)
    expect_contains "maintainer (pty): told" "cannot open a session on evil" \
        "$out"
    no_controls "maintainer's ssh output (pty)" "$out"
    id=$(ctl session list --json | python3 -c '
import json, sys
print([s for s in json.load(sys.stdin) if s["target"] == "evil"][0]["id"])')
    [ -n "$id" ] || { fail "no session on evil"; return; }
    wait_until 5 audit_has session_end "\"session\":\"$id\"" ||
        fail "session end not audited"
    # Stored as received: the store's text is the target's (ESC, C1 and
    # all), the invalid byte repaired; JSON output is JSON with that value.
    ctl session list --json | python3 -c '
import json, sys
r = [s for s in json.load(sys.stdin) if s["id"] == sys.argv[1]][0]
why = r.get("end_reason") or r.get("reason")
assert why is not None, r
assert "bye \x1b]0;owned\x07\x1b[2J \x9b31m-c1 \x7fdel \ufffdbad" in why, why
' "$id" || fail "session list --json: not the stored text"
    out=$(ctl session list)
    expect_contains "session list: recognisable" "$SHOWN" "$out"
    no_controls "session list" "$out"
    out=$(ctl session list --json)
    no_controls "session list --json" "$out"
    out=$(ctl session show "$id")
    expect_contains "session show: recognisable" "$SHOWN" "$out"
    no_controls "session show" "$out"
    out=$(ctl session show "$id" --json)
    no_controls "session show --json" "$out"
    out=$(ctl audit show --session "$id")
    expect_contains "audit show: recognisable" \
        'bye \u001B]0;owned\u0007\u001B[2J' "$out"
    no_controls "audit show" "$out"
    out=$(ctl audit show --session "$id" --json)
    no_controls "audit show --json" "$out"
    # The gateway's own log (here its stderr; syslog in production).
    no_controls "gateway log" "$(grep -a 'SSH_MSG_DISCONNECT' "$WORK/gw.log")"
    expect_contains "gateway log: the reason" "owned" \
        "$(grep -a 'SSH_MSG_DISCONNECT' "$WORK/gw.log")"
    printf '%s\n' "$out" | python3 -c '
import json, sys
for l in sys.stdin:
    json.loads(l)
' || fail "audit show --json: not JSON lines"
}

# A work request's reason may not carry controls over SSH (the command
# parser refuses them); text that is in the store anyway (an older
# gateway, a restored backup) is shown escaped by request list/show, the
# maintainer's `requests` and the reports.
t_request_text_escaped() {
    local out id
    out=$(gw_ssh alice request web01 --reason "$(printf 'fix \033[2J now')" \
        --for 1h < /dev/null 2>&1)
    expect_eq "control in a reason: refused" 2 "$?"
    expect_contains "control in a reason: why" "control characters" "$out"
    no_controls "refusal" "$out"
    out=$(gw_ssh alice request web01 --reason plain reason --for 1h \
        < /dev/null 2>&1)
    id=$(printf '%s' "$out" | sed -n 's/.*request \([0-9]*\) filed.*/\1/p')
    [ -n "$id" ] || { fail "no request id in: $out"; return; }
    db "UPDATE requests SET reason = 'fix ' || char(27) || '[2J' ||
        char(155) || '31m now', ticket = 'T' || char(27) || ']0;x' ||
        char(7), report = 'done' || char(127) || char(27) || '[H' WHERE
        id = $id;" || fail "fixture"
    out=$(ctl request show "$id")
    expect_contains "request show: reason" 'fix \u001B[2J\u009B31m now' "$out"
    expect_contains "request show: ticket" 'T\u001B]0;x\u0007' "$out"
    expect_contains "request show: report" 'done\u007F\u001B[H' "$out"
    no_controls "request show" "$out"
    out=$(ctl request list)
    expect_contains "request list: reason" 'fix \u001B[2J\u009B31m now' "$out"
    no_controls "request list" "$out"
    out=$(ctl request list --json)
    no_controls "request list --json" "$out"
    printf '%s' "$out" | python3 -c '
import json, sys
r = [q for q in json.load(sys.stdin) if q["id"] == int(sys.argv[1])][0]
assert r["reason"] == "fix \x1b[2J\x9b31m now", r["reason"]
' "$id" || fail "request list --json: not the stored reason"
    out=$(gw_ssh alice requests < /dev/null 2>&1)
    expect_contains "maintainer's requests: reason" \
        'fix \u001B[2J\u009B31m now' "$out"
    no_controls "maintainer's requests" "$out"
    # Reports and grant list: who granted (here made hostile in the store).
    ctl grant add bob web01 > /dev/null
    db "UPDATE grants SET created_by = 'admin:' || char(27) || '[2J' ||
        char(155) || 'x' WHERE user_id = (SELECT id FROM users WHERE
        name = 'bob');" || fail "fixture"
    out=$(ctl grant list)
    expect_contains "grant list: escaped" 'admin:\u001B[2J\u009Bx' "$out"
    no_controls "grant list" "$out"
    for f in text csv json; do
        out=$(ctl report inspection --format $f)
        expect_contains "report inspection ($f): escaped" \
            '\u001B[2J\u009Bx' "$out"
        no_controls "report inspection ($f)" "$out"
    done
}

# An administrator's kill reason reaches the maintainer's terminal as
# text: escaped, never obeyed.
t_kill_reason_escaped() {
    local id pid
    gw_ssh alice web01 -- 'for i in $(seq 1 100); do echo kill-me-$i; sleep 0.2; done' \
        > "$WORK/k.out" 2> "$WORK/k.err" < /dev/null &
    pid=$!
    wait_until 10 grep -q kill-me-3 "$WORK/k.out" || fail "no output"
    id=$(db "SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1")
    ctl session kill "$id" --reason \
        "$(printf 'over \033]0;owned\007\302\233')2J now" > /dev/null ||
        fail "kill refused"
    wait "$pid" 2>/dev/null
    expect_contains "maintainer told why, escaped" \
        'over \u001B]0;owned\u0007\u009B2J now' "$(cat "$WORK/k.err")"
    no_controls "maintainer's stderr" "$(cat "$WORK/k.err")"
}

# File names in a transcript tree are anyone's who could write there: the
# verifiers (sekishoctl verify --all, sekisho-verify --dir) name them
# escaped.
t_verifiers_escape_file_names() {
    local out id t bad copy="$WORK/vcopy"
    gw_ssh alice web01 -- 'echo verify-me' > /dev/null < /dev/null
    id=$(db "SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1")
    wait_until 5 audit_has session_end "\"session\":\"$id\"" ||
        fail "session never ended"
    t=$(db "SELECT transcript FROM sessions WHERE id='$id'")
    bad="$(dirname "$t")/x$(printf '\033]0;owned\007\302\233')2J.skt"
    cp "$t" "$bad"
    out=$(ctl verify --all)
    expect_contains "verify --all: the orphan, escaped" \
        'x\u001B]0;owned\u0007\u009B2J FAILED: transcript' "$out"
    no_controls "verify --all" "$out"
    rm -f "$bad"
    rm -rf "$copy"
    mkdir -p "$copy"
    cp "$t" "$copy/y$(printf '\033[2J\302\233')31m.skt"
    out=$("$BUILD/recorder/sekisho-verify" -k "$GW/signing_key.pub" \
        --dir "$copy")
    expect_contains "sekisho-verify: the file, escaped" \
        "y\\u001B[2J\\u009B31m.skt OK: session $id sealed" "$out"
    no_controls "sekisho-verify" "$out"
}

# A tampered audit log whose line carries terminal escapes (in its "key",
# which the verifier's message names, and in a session id): `audit
# verify` and `sekisho-verify --audit` name the line escaped.
t_tampered_audit_log_escaped() {
    local out copy="$WORK/audit-evil.log" esc last sig
    esc=$(printf '\\u001b]0;OWNED\\u0007\\u001b[2J')
    cp "$GW/audit.log" "$copy"
    # chained to the real last line, so the check gets as far as the key
    last=$(ctl audit verify | grep -o 'last line hash [0-9a-f]*' | cut -d' ' -f4)
    # a well-formed signature (another line's), so the key is looked at
    sig=$(tail -1 "$GW/audit.log" | grep -o '"sig":"[^"]*"' | cut -d'"' -f4)
    # a line of its own at the end: a forged session_end whose session
    # and key fields hold escapes (JSON-escaped, so the line parses)
    printf '{"time":"x","event":"session_end","session":"%s","key":"%s","prev":"%s","sig":"%s"}\n' \
        "$esc" "$esc" "$last" "$sig" >> "$copy"
    out=$("$BUILD/recorder/sekisho-verify" -k "$GW/signing_key.pub" \
        --audit "$copy" 2>&1)
    no_controls "sekisho-verify --audit of a tampered log" "$out"
    expect_contains "sekisho-verify names the forged key, escaped" \
        'signed by \u001B]0;OWNED' "$out"
    mv "$GW/audit.log" "$GW/audit.log.good"
    cp "$copy" "$GW/audit.log"
    out=$(ctl audit verify 2>&1)
    mv "$GW/audit.log.good" "$GW/audit.log"
    no_controls "audit verify of a tampered log" "$out"
    expect_contains "audit verify names the forged key, escaped" \
        'signed by \u001B]0;OWNED' "$out"
}

setup
run_test t_hostile_target_disconnect
run_test t_tampered_audit_log_escaped
run_test t_request_text_escaped
run_test t_verifiers_escape_file_names
run_test t_kill_reason_escaped
run_test t_no_sanitizer_reports
summary
