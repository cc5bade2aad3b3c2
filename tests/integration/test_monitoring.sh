#!/usr/bin/env bash
# Integration tests for monitoring (issue 13, R-MON-1, R-OPS-7): alerts to
# notify_command, the transcript-storage watermark, `sekishoctl status`, and
# the configuration reference. Real sshd target, real ssh client, real
# gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# Syslog as the gateway sends it (R-MON-1). These machines have no syslog
# daemon, and the host's /dev (which the fresh-Debian root shares) must not
# change: the listener, and each sekishoctl whose syslog a test reads, run
# in a private mount namespace whose /dev/log is a socket this file reads
# (private-devlog). Each datagram is one line of $WORK/syslog, as glibc
# sends it: "<PRI>Mmm dd hh:mm:ss program: message".
syslog_start() {
    SYSLOG_SOCK="$WORK/syslog.sock"
    : > "$WORK/syslog"
    python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
out = open(sys.argv[2], "ab", buffering=0)
while True:
    d = s.recv(65536).rstrip(b"\0")
    out.write(d.replace(b"\n", b"\\n") + b"\n")
' "$SYSLOG_SOCK" "$WORK/syslog" &
    PIDS="$PIDS $!"
    wait_until 5 test -S "$SYSLOG_SOCK" || die "syslog reader did not start"
    # unshare -m makes the new namespace's mounts private, which needs "/"
    # to be a mount point; in a chroot (the fresh-Debian root) it is not,
    # and there the mounts are private already (private-devlog checks).
    if unshare -m true 2>/dev/null; then
        SYSLOG_NS="unshare -m"
    else
        SYSLOG_NS="unshare -m --propagation unchanged"
    fi
    GW_WRAP="$SYSLOG_NS $HERE/private-devlog $SYSLOG_SOCK"
}

# ctl_logged ARGS: sekishoctl with its syslog read too.
ctl_logged() {
    $SYSLOG_NS "$HERE/private-devlog" "$SYSLOG_SOCK" \
        "$BIN/sekishoctl" -c "$CONF" "$@"
}

# syslog_has PRI EVENT [FRAGMENT]: a message at <PRI> (facility * 8 +
# severity) quoting an audit line of EVENT (containing FRAGMENT) arrived.
syslog_has() {
    grep "^<$1>" "$WORK/syslog" | grep "\"event\":\"$2\"" |
        grep -qF -- "${3:-}"
}

setup() {
    syslog_start
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 3" "source_threshold = 1000" ||
        die "gw_init failed"
    # Each notice is one JSON document on stdin: one line per notice here,
    # appended with one write (two notify commands may run at once: a
    # separate write of the newline let two documents share a line).
    cat > "$WORK/notify" <<EOS
#!/bin/sh
doc=\$(cat)
printf '%s\n' "\$doc" >> "$WORK/notices"
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
    # authpriv (10) * 8 + warning (4)
    wait_until 5 syslog_has 84 account_locked '"user":"lena"' ||
        fail "account_locked not in syslog at authpriv.warning: $(grep account_locked "$WORK/syslog")"
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
    syslog_has 84 source_blocked '"source":"127.0.0.1"' ||
        fail "source_blocked not in syslog at authpriv.warning"
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
    syslog_has 81 sandbox_violation || fail "sandbox_violation not at authpriv.alert"
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
    syslog_has 82 storage_low '"user":"alice"' || fail "storage_low not at authpriv.crit"
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
    syslog_has 82 recording_failed || fail "recording_failed not at authpriv.crit"
    gw_stop
    umount "$mnt"
    sed -i "s|^transcript_dir = .*|#transcript_dir = x|" "$CONF"
    sed -i "s|^transcript_min_free = .*|#transcript_min_free = x|" "$CONF"
    gw_start || fail "gateway did not restart"
}

# session_worker: the worker of the one session running now (the
# monitor's child that has no transcript open; the other is the recorder).
session_worker() {
    local mon p
    mon=$(pgrep -f "^sekisho-session -c $CONF" -P "$GW_PID" | head -1)
    [ -n "$mon" ] || return 1
    for p in $(pgrep -P "$mon"); do
        if ! ls -l "/proc/$p/fd" 2>/dev/null | grep -q '\.skt$'; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# A worker that sends the monitor what the protocol forbids (a compromised
# worker, played by gdb inside the real sandboxed one, asks to check a
# password after authentication): the session ends at once (the worker is
# killed), and the alert reaches the audit log, syslog and notify_command.
# A client's garbage is not one: libssh in the worker refuses it, the
# monitor sees the connection end, and no one is alerted.
t_protocol_violation_notified() {
    local wp pid n0 t0
    command -v gdb > /dev/null || { fail "gdb missing (deploy/deps.sh installs it)"; return; }
    n0=$(grep -c '"event":"protocol_violation"' "$WORK/notices")
    python3 - "$GPORT" <<'EOF2' || fail "garbage client: the gateway did not close"
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.recv(256)
try:
    s.sendall(b"SSH-2.0-Garbage_1.0\r\n" + os.urandom(4096))
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
EOF2
    audit_soon disconnect || fail "garbage client's end not audited"
    gw_ssh alice web01 -- 'echo started; exec sleep 305' > "$WORK/pv.out" \
        2> "$WORK/pv.err" < /dev/null &
    pid=$!
    wait_until 10 grep -q started "$WORK/pv.out" || fail "session never started"
    expect_eq "no alert for a client's garbage" "$n0" \
        "$(grep -c '"event":"protocol_violation"' "$WORK/notices")"
    wp=$(session_worker) || { fail "no worker"; kill "$pid"; return; }
    t0=$(date +%s)
    # MON_AUTH_PASSWORD (2) is a pre-authentication request.
    timeout 30 gdb -q -batch -nx -p "$wp" "$BIN/sekisho-session" \
        -ex "call (int)sk_ipc_send('monitor-wrap.c'::mm_fd, 2, (void *)0, (void *)0, 0)" \
        > "$WORK/gdb.out" 2>&1
    wait_until 10 sh -c "! kill -0 $wp 2>/dev/null" ||
        fail "the worker lives on after a protocol violation: $(tail -3 "$WORK/gdb.out")"
    wait_until 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "the client's session goes on"
    [ $(( $(date +%s) - t0 )) -le 10 ] || fail "session not ended at once"
    wait "$pid" 2>/dev/null
    pkill -fx 'sleep 305'
    audit_soon protocol_violation '"user":"alice"' ||
        fail "no protocol_violation line: $(tail -3 "$WORK/gdb.out")"
    grep -q 'request 2 not permitted after authentication' "$WORK/gw.log" ||
        fail "cause not logged"
    wait_until 5 notice protocol_violation '"severity":"alert"' ||
        fail "no protocol_violation notice: $(cat "$WORK/notices")"
    grep '"event":"protocol_violation"' "$WORK/notices" | tail -1 |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["gateway"] == "sekisho", d
assert d["details"]["event"] == "protocol_violation", d
assert d["details"]["user"] == "alice", d
assert d["details"]["source"] == "127.0.0.1", d' ||
        fail "protocol_violation notice is not the JSON expected"
    wait_until 5 syslog_has 81 protocol_violation '"user":"alice"' ||
        fail "protocol_violation not at authpriv.alert"
}

# notice_json EVENT PYTHON-ASSERTS: the last notice of EVENT, as d.
notice_json() {
    grep "\"event\":\"$1\"" "$WORK/notices" | tail -1 |
        python3 -c "import json, sys; d = json.load(sys.stdin); $2"
}

# audit_log_on_tmpfs DIR: the gateway stopped, a copy of the audit log on a
# 512 KiB tmpfs at DIR, audit_log naming it (the caller starts the
# gateway). audit_log_back DIR: the log with its new lines back in place,
# the tmpfs gone, the gateway restarted.
audit_log_on_tmpfs() {
    gw_stop
    mkdir -p "$1"
    mount -t tmpfs -o size=512k,mode=0700 tmpfs "$1" || return 1
    cp -p "$GW/audit.log" "$1/audit.log"
    sed -i "s|^#audit_log = .*|audit_log = $1/audit.log|" "$CONF"
}

audit_log_back() {
    gw_stop
    cp -p "$1/audit.log" "$GW/audit.log"
    umount "$1"
    sed -i "s|^audit_log = .*|#audit_log = x|" "$CONF"
    gw_start || fail "gateway did not restart"
}

# audit_log on a file system that fills up: a line that cannot be written
# is an alert (syslog and notify_command; it cannot be in the log itself),
# and no session runs without its auth_ok and session_start lines (fail
# closed, admin.md "Audit"). The torn line is cut off: once there is room
# the chain verifies and sessions run again.
t_audit_write_failed_notified() {
    local mnt="$WORK/auditfs" out i ran=0 refused=0 starts
    audit_log_on_tmpfs "$mnt" ||
        { fail "cannot mount a tmpfs (run as root)"; gw_start; return; }
    gw_start || fail "gateway did not start"
    out=$(gw_ssh alice web01 -- 'echo audited' < /dev/null 2>&1)
    expect_eq "a session runs while the log has room" "audited" "$out"
    starts=$(grep -c '"event":"session_start"' "$mnt/audit.log")
    # What is left is at most the last page of audit.log: a session or
    # two may still fit; then a line must fail.
    dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null
    for i in 1 2 3 4 5 6; do
        out=$(gw_ssh alice web01 -- "echo ran-$i" < /dev/null 2>&1)
        case "$out" in
        *ran-$i*) ran=$((ran + 1)) ;;
        *) refused=$((refused + 1)); break ;;
        esac
    done
    [ "$refused" -eq 1 ] || fail "sessions ran on a full audit file system ($ran of 6)"
    expect_eq "every session that ran has its session_start line" \
        "$((starts + ran))" "$(grep -c '"event":"session_start"' "$mnt/audit.log")"
    wait_until 5 notice audit_write_failed '"severity":"alert"' ||
        fail "no audit_write_failed notice: $(cat "$WORK/notices")"
    notice_json audit_write_failed '
assert d["gateway"] == "sekisho", d
assert d["details"]["gateway"] == "sekisho" and "time" in d["details"], d
assert d["details"]["event"] not in ("audit_write_failed", None), d' ||
        fail "audit_write_failed notice is not the lost line: $(grep audit_write_failed "$WORK/notices" | tail -1)"
    wait_until 5 sh -c "grep '^<81>' '$WORK/syslog' | grep -q 'audit log write failed'" ||
        fail "no authpriv.alert syslog message for the lost line"
    rm -f "$mnt/fill"
    ctl audit verify > "$WORK/av.out" 2>&1 ||
        fail "chain broken by the full disk: $(tail -3 "$WORK/av.out")"
    out=$(gw_ssh alice web01 -- 'echo audited-again' < /dev/null 2>&1)
    expect_eq "sessions run with room again" "audited-again" "$out"
    audit_log_back "$mnt"
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
    out=$(ctl_logged audit verify 2>&1)
    expect_eq "audit verify fails" 1 "$?"
    wait_until 5 notice audit_chain_error '"severity":"alert"' ||
        fail "no audit_chain_error notice: $(cat "$WORK/notices")"
    syslog_has 81 audit_chain_error || fail "audit_chain_error not at authpriv.alert"
    cp -p "$WORK/audit.keep" "$GW/audit.log"
}

# An audit log that cannot be opened (its file system read-only): every
# connection is refused (fail closed) and each is an alert, naming the
# connection whose line was lost.
t_audit_unwritable_notified() {
    local mnt="$WORK/auditro" out n0
    audit_log_on_tmpfs "$mnt" ||
        { fail "cannot mount a tmpfs (run as root)"; gw_start; return; }
    mount -o remount,ro "$mnt" || fail "cannot make the tmpfs read-only"
    n0=$(grep -c '"event":"audit_write_failed"' "$WORK/notices")
    gw_start || fail "gateway did not start"
    out=$(gw_ssh alice web01 -- 'echo unaudited' < /dev/null 2>&1)
    expect_not_contains "no session without an audit log" "unaudited" "$out"
    wait_until 5 sh -c "[ \$(grep -c '\"event\":\"audit_write_failed\"' '$WORK/notices') -gt $n0 ]" ||
        fail "no audit_write_failed notice: $(tail -3 "$WORK/notices")"
    notice_json audit_write_failed '
assert d["severity"] == "alert", d
assert d["details"]["event"] == "connect", d
assert d["details"]["source"] == "127.0.0.1", d
assert d["details"]["gateway"] == "sekisho", d' ||
        fail "notice does not name the lost connect line: $(grep audit_write_failed "$WORK/notices" | tail -1)"
    wait_until 5 sh -c "grep '^<81>' '$WORK/syslog' | grep 'audit log write failed' | grep -q '\"event\":\"connect\"'" ||
        fail "no authpriv.alert syslog message for the refused connection"
    audit_log_back "$mnt"
}

# Every syslog message of an audit line this file caused, read against the
# manual's table (admin.md "Monitoring"): authpriv, each alert event at its
# documented severity and each seen at least once (the clock's only if the
# kernel clock is not synchronised here), every other event at notice. And
# the private /dev/log left the machine's /dev as it was.
t_syslog_as_documented() {
    local clock
    clock=$(clock_level)
    python3 - "$HERE/../../docs/admin.md" "$WORK/syslog" "$clock" \
        > "$WORK/syslog-check" 2>&1 <<'EOF2' || fail "$(cat "$WORK/syslog-check")"
import json, re, sys
sev = {"warning": 4, "critical": 2, "alert": 1}
notice, authpriv = 5, 10 << 3
doc = open(sys.argv[1]).read().split("\n## Monitoring", 1)[1]
table = dict(re.findall(r"^\| `([a-z_]+)` \| (warning|critical|alert) \|",
                        doc, re.M))
assert len(table) >= 9, "the manual's table: %r" % table
seen, bad = {}, []
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    m = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d [^:]+: (.*)$", line)
    if m is None:
        bad.append("not a syslog message: " + line[:200])
        continue
    pri, msg = int(m.group(1)), m.group(2)
    if msg.startswith("audit log write failed"):
        ev = "audit_write_failed"
    elif msg.startswith("audit {"):
        ev = json.loads(msg[len("audit "):])["event"]
    else:
        continue
    want = authpriv + (sev[table[ev]] if ev in table else notice)
    if pri != want:
        bad.append("%s at <%d>, the manual says <%d>: %s" % (ev, pri, want,
                                                            line[:200]))
    seen[ev] = seen.get(ev, 0) + 1
for ev in table:
    if ev not in seen and not (ev == "clock_unsynchronized" and
                               sys.argv[3] == "OK"):
        bad.append("%s never reached syslog" % ev)
for ev in ("connect", "auth_ok", "session_start"):
    if ev not in seen:
        bad.append("%s (notice) never reached syslog" % ev)
assert not bad, "\n".join(bad)
EOF2
    [ "$(readlink /dev/log 2>/dev/null)" != "$SYSLOG_SOCK" ] ||
        fail "the machine's /dev/log leads to the test's socket"
    ! grep -q sekisho-dev /proc/self/mountinfo ||
        fail "the private /dev is mounted outside its namespace"
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
run_test t_protocol_violation_notified
run_test t_audit_write_failed_notified
run_test t_audit_unwritable_notified
run_test t_syslog_as_documented
run_test t_no_sanitizer_reports
summary
