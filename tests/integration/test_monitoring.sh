#!/usr/bin/env bash
# Integration tests for monitoring (issue 13, R-MON-1, R-OPS-7): alerts to
# notify_command, the transcript-storage watermark, `sekishoctl status`, and
# the configuration reference. Real sshd target, real ssh client, real
# gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 3" "source_threshold = 1000" ||
        die "gw_init failed"
    # Each notice is one JSON document on stdin: one line per notice here.
    cat > "$WORK/notify" <<EOS
#!/bin/sh
cat >> "$WORK/notices"
echo >> "$WORK/notices"
EOS
    chmod 755 "$WORK/notify"
    sed -i "s|^#notify_command = .*|notify_command = $WORK/notify|" "$CONF"
    : > "$WORK/notices"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_target web01
    ctl grant add alice web01 --exec > /dev/null
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# notice EVENT [FRAGMENT]: a notice of EVENT (containing FRAGMENT) arrived.
notice() {
    grep "\"event\":\"$1\"" "$WORK/notices" | grep -qF -- "${2:-}"
}

t_lockout_notified() {
    add_user lena
    ctl grant add lena web01 --exec > /dev/null
    # One connection, three wrong passwords: the threshold.
    SKPW='Wrong-Password-1!' gw_ssh lena web01 -- true < /dev/null 2>/dev/null
    audit_soon account_locked '"user":"lena"' || fail "no account_locked line"
    wait_until 5 notice account_locked '"user":"lena"' ||
        fail "no account_locked notice: $(cat "$WORK/notices")"
    notice account_locked '"severity":"warning"' ||
        fail "notice without its severity: $(grep account_locked "$WORK/notices")"
    notice account_locked '"gateway":"sekisho"' || fail "notice names no gateway"
    # The notice is valid JSON with the audit line as details.
    grep '"event":"account_locked"' "$WORK/notices" | head -1 |
        python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["details"]["user"]=="lena", d' ||
        fail "notice is not the JSON expected"
    ctl user unlock lena > /dev/null
}

# A notifier that hangs stalls nothing, and holds none of the session's
# descriptors (only stdin, stdout, stderr).
t_hung_notifier_stalls_nothing() {
    local t0 t1 pid fds
    cat > "$WORK/notify-hang" <<EOS
#!/bin/sh
cat > /dev/null
ls -l /proc/\$\$/fd > "$WORK/notifier-fds"
exec sleep 40
EOS
    chmod 755 "$WORK/notify-hang"
    sed -i "s|^notify_command = .*|notify_command = $WORK/notify-hang|" "$CONF"
    add_user hana
    t0=$(date +%s)
    SKPW='Wrong-Password-1!' gw_ssh hana web01 -- true < /dev/null 2>/dev/null
    out=$(gw_ssh alice web01 -- 'echo still-served' < /dev/null 2>&1)
    t1=$(date +%s)
    expect_eq "sessions go on while the notifier hangs" "still-served" "$out"
    [ $((t1 - t0)) -lt 20 ] || fail "a hung notifier stalled logins ($((t1 - t0)) s)"
    wait_until 5 test -s "$WORK/notifier-fds" || fail "notifier did not run"
    # Beyond stdin (the event's pipe): no socket or pipe of the session
    # (the shell's own copies of /dev/null and its script are fine).
    fds=$(grep -E 'socket:|pipe:' "$WORK/notifier-fds" | grep -v ' 0 -> ')
    [ -z "$fds" ] || fail "notifier inherited descriptors: $fds"
    pid=$(pgrep -fx 'sleep 40' | head -1)
    [ -n "$pid" ] && kill "$pid"
    sed -i "s|^notify_command = .*|notify_command = $WORK/notify|" "$CONF"
    ctl user unlock hana > /dev/null
}

# An address past source_threshold: source_blocked is notified.
t_source_blocked_notified() {
    local out
    gw_stop
    sed -i 's/^source_threshold = 1000/source_threshold = 5/' "$CONF"
    db "DELETE FROM auth_failures"
    gw_start || fail "gateway did not start"
    gw_ssh ghost1 targets < /dev/null > /dev/null 2>&1
    gw_ssh ghost2 targets < /dev/null > /dev/null 2>&1
    # sekishod's own penalty forgets on restart; the monitor's block holds.
    gw_stop
    gw_start || fail "gateway did not restart"
    out=$(gw_ssh alice web01 -- 'echo from-blocked-source' < /dev/null 2>&1)
    expect_not_contains "blocked address refused" "from-blocked-source" "$out"
    wait_until 5 notice source_blocked '"source":"127.0.0.1"' ||
        fail "no source_blocked notice: $(cat "$WORK/notices")"
    notice source_blocked '"severity":"warning"' || fail "no severity"
    db "DELETE FROM auth_failures"
    gw_stop
    sed -i 's/^source_threshold = 5/source_threshold = 1000/' "$CONF"
    gw_start || fail "gateway did not restart"
}

# A worker killed by its sandbox (SIGSYS, as the kernel sends for a
# forbidden call; test_sandbox proves the filter does): an alert.
t_sandbox_violation_notified() {
    local pid mon wk
    gw_ssh alice web01 -- 'exec sleep 304' < /dev/null > /dev/null 2>&1 &
    pid=$!
    wait_until 10 pgrep -fx 'sleep 304' > /dev/null || fail "session did not start"
    mon=$(pgrep -f "^sekisho-session -c $CONF" -P "$GW_PID" | head -1)
    wk=$(pgrep -P "$mon" | head -1)
    kill -SYS "$wk"
    wait "$pid"
    pkill -fx 'sleep 304'
    wait_until 5 notice sandbox_violation '"severity":"alert"' ||
        fail "no sandbox_violation notice: $(cat "$WORK/notices")"
}

# transcript_dir on a small file system: below transcript_min_free a new
# session is refused with a clear message, audited and notified; status
# says so; with room again sessions run.
t_storage_watermark() {
    local mnt="$WORK/small" out rc
    gw_stop
    mkdir -p "$mnt"
    mount -t tmpfs -o size=8m,mode=0700 tmpfs "$mnt" ||
        { fail "cannot mount a tmpfs (run as root)"; gw_start; return; }
    sed -i "s|^#transcript_dir = .*|transcript_dir = $mnt|" "$CONF"
    sed -i "s|^#transcript_min_free = .*|transcript_min_free = 4|" "$CONF"
    rm -f "$GW"/alert-storage_low.stamp
    gw_start || fail "gateway did not start"
    out=$(gw_ssh alice web01 -- 'echo room-enough' < /dev/null 2>&1)
    expect_eq "a session runs above the watermark" "room-enough" "$out"
    # Leave about 2 MiB: below the 4 MiB watermark, far from full.
    dd if=/dev/zero of="$mnt/fill" bs=1M count=6 2>/dev/null
    out=$(gw_ssh alice web01 -- 'echo should-not-run' < /dev/null 2>&1)
    expect_not_contains "no session below the watermark" "should-not-run" "$out"
    expect_contains "the maintainer is told" \
        "the gateway cannot record sessions now (transcript storage nearly full); contact the administrator" \
        "$out"
    audit_has storage_low '"user":"alice"' || fail "refusal not audited"
    wait_until 5 notice storage_low '"severity":"critical"' ||
        fail "no storage_low notice: $(cat "$WORK/notices")"
    out=$(ctl status 2>&1)
    rc=$?
    expect_eq "status fails below the watermark" 1 "$rc"
    expect_contains "status names the disk" "transcripts  CRITICAL" "$out"
    ctl status --nagios > /dev/null 2>&1
    expect_eq "nagios: CRITICAL" 2 "$?"
    # Between the watermark and twice it: a warning, sessions still run.
    rm -f "$mnt/fill"
    dd if=/dev/zero of="$mnt/fill" bs=1M count=2 2>/dev/null
    out=$(ctl status 2>&1)
    expect_contains "status warns before the watermark" "transcripts  WARNING" "$out"
    out=$(gw_ssh alice web01 -- 'echo room-again' < /dev/null 2>&1)
    expect_eq "a session runs with room again" "room-again" "$out"
    gw_stop
    umount "$mnt"
    sed -i "s|^transcript_dir = .*|#transcript_dir = x|" "$CONF"
    sed -i "s|^transcript_min_free = .*|#transcript_min_free = x|" "$CONF"
    gw_start || fail "gateway did not restart"
}

# The recorder failing (disk full with no watermark) is notified too.
t_recording_failure_notified() {
    local mnt="$WORK/small2" out
    gw_stop
    mkdir -p "$mnt"
    mount -t tmpfs -o size=256k,mode=0700 tmpfs "$mnt" ||
        { fail "cannot mount a tmpfs (run as root)"; gw_start; return; }
    sed -i "s|^#transcript_dir = .*|transcript_dir = $mnt|" "$CONF"
    sed -i "s|^#transcript_min_free = .*|transcript_min_free = 0|" "$CONF"
    gw_start || fail "gateway did not start"
    dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null
    out=$(gw_ssh alice web01 -- 'echo should-not-run' < /dev/null 2>&1)
    expect_not_contains "no session on a full disk" "should-not-run" "$out"
    audit_has recording_failed || fail "refusal not audited"
    wait_until 5 notice recording_failed '"severity":"critical"' ||
        fail "no recording_failed notice: $(cat "$WORK/notices")"
    gw_stop
    umount "$mnt"
    sed -i "s|^transcript_dir = .*|#transcript_dir = x|" "$CONF"
    sed -i "s|^transcript_min_free = .*|#transcript_min_free = x|" "$CONF"
    gw_start || fail "gateway did not restart"
}

# clock_state: OK if the kernel says synchronised, else what status says.
clock_level() {
    ctl status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([c["status"] for c in d["checks"] if c["check"] == "clock"][0])'
}

t_status_healthy() {
    local out rc clock want
    gw_ssh alice web01 -- true < /dev/null > /dev/null 2>&1
    # The monitor writes its last lines just after the client has gone.
    audit_soon disconnect '"user":"alice"' || fail "session did not end"
    out=$(ctl status 2>&1)
    rc=$?
    for c in listener sessions transcripts state audit; do
        printf '%s\n' "$out" | grep -q "^$c  *OK " ||
            fail "$c not OK on a healthy gateway: $out"
    done
    expect_contains "audit head shown" "chained and signed" "$out"
    expect_contains "audit head hash" \
        "$(tail -1 "$GW/audit.log" | python3 -c 'import hashlib,sys; print(hashlib.blake2b(sys.stdin.buffer.read().rstrip(b"\n"), digest_size=32).hexdigest())')" \
        "$out"
    # This machine's clock may not be synchronised (containers often are
    # not): then, and only then, status must fail, naming the clock.
    clock=$(clock_level)
    if [ "$clock" = OK ]; then want=0; else want=1; fi
    expect_eq "status exit with clock $clock" "$want" "$rc"
    if [ "$clock" != OK ]; then
        expect_contains "clock named" "clock        $clock" "$out"
    fi
    out=$(ctl status --json)
    printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["open_sessions"] == 0, d
assert len(d["audit_last_hash"]) == 64, d
assert {c["check"] for c in d["checks"]} == {"listener", "sessions",
    "transcripts", "state", "clock", "audit"}, d' ||
        fail "status --json: $out"
}

t_status_listener_down() {
    local out rc
    gw_stop
    out=$(ctl status 2>&1)
    rc=$?
    expect_eq "status fails with the listener down" 1 "$rc"
    expect_contains "reason given" "listener     CRITICAL nothing accepts connections" "$out"
    out=$(ctl status --nagios 2>&1)
    expect_eq "nagios: CRITICAL" 2 "$?"
    expect_contains "nagios summary" "SEKISHO CRITICAL - listener CRITICAL;" \
        "$(printf '%s' "$out" | head -1)"
    gw_start || fail "gateway did not restart"
    out=$(ctl status 2>&1)
    printf '%s\n' "$out" | grep -q "^listener  *OK " ||
        fail "listener not OK after restart: $out"
}

# An edited audit line: status reports the break; audit verify alerts.
t_audit_break_alerted() {
    local out
    cp -p "$GW/audit.log" "$WORK/audit.keep"
    # Change a character inside the last line's JSON (not its signature).
    python3 - "$GW/audit.log" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
i = len(lines) - 2
lines[i] = lines[i].replace(b'"pid":', b'"pid":9', 1)
open(p, "wb").write(b"\n".join(lines))
EOF
    out=$(ctl status 2>&1)
    expect_eq "status fails on a broken chain" 1 "$?"
    expect_contains "audit named" "audit        CRITICAL" "$out"
    out=$(ctl audit verify 2>&1)
    expect_eq "audit verify fails" 1 "$?"
    wait_until 5 notice audit_chain_error '"severity":"alert"' ||
        fail "no audit_chain_error notice: $(cat "$WORK/notices")"
    cp -p "$WORK/audit.keep" "$GW/audit.log"
}

# docs/config.md is the generated reference, and names every keyword.
t_config_reference() {
    local out k
    out=$("$BIN/sekishoctl" config-reference)
    expect_eq "config-reference exit" 0 "$?"
    if ! printf '%s\n' "$out" | diff -u "$HERE/../../docs/config.md" - > "$WORK/cfgref.diff"; then
        fail "docs/config.md differs from sekishoctl config-reference (regenerate it): $(head -c 1500 "$WORK/cfgref.diff")"
    fi
    for k in $("$BIN/sekishod" -T -c "$CONF" | sed -n 's/^#* *\([a-z_]*\) = .*/\1/p;s/^# \([a-z_]*\) (not set)/\1/p'); do
        printf '%s\n' "$out" | grep -q "^### \`$k\`" || fail "$k missing from the reference"
    done
    expect_contains "default and range shown" \
        "$(printf '### `idle_timeout`\n\nseconds')" "$out"
    printf '%s\n' "$out" | grep -A6 '^### `transcript_min_free`' |
        grep -q '^- default: `1024`$' || fail "transcript_min_free default not shown"
}

setup
run_test t_config_reference
run_test t_status_healthy
run_test t_lockout_notified
run_test t_hung_notifier_stalls_nothing
run_test t_source_blocked_notified
run_test t_sandbox_violation_notified
run_test t_storage_watermark
run_test t_recording_failure_notified
run_test t_status_listener_down
run_test t_audit_break_alerted
run_test t_no_sanitizer_reports
summary
