# Shared helpers for Sekisho integration tests: real OpenSSH sshd targets on
# loopback high ports, a real gateway, the real ssh client.
# Sourced by the test files; expects BUILD (build dir) to be set.

set -u

: "${BUILD:?BUILD must point at the build directory}"
BIN="$BUILD/gateway"
T_PASS=0
T_FAIL=0
T_FAILED_NAMES=""
WORK=$(mktemp -d /tmp/sekisho-it.XXXXXX)
chmod 755 "$WORK"
PIDS=""
# Sanitizer builds (tests/check runs one) write their reports here; the last
# test fails if any appear. Ignored by ordinary builds.
export ASAN_OPTIONS="log_path=$WORK/asan:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$WORK/ubsan:print_stacktrace=1:halt_on_error=1"
PW='Correct-Horse-9-Battery!'

log() { printf '%s\n' "$*" >&2; }

# Setup failures are loud: the suite cannot run, and says why.
die() {
    log "SETUP FAILED: $*"
    echo "0 passed, 1 failed"
    exit 1
}

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for f in "$WORK"/*/sshd.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    # sessions that outlived their listener
    pkill -f "sekisho-session -c $WORK/" 2>/dev/null
    if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# free_port: a TCP port nobody listens on.
free_port() {
    local p
    while :; do
        p=$(( (RANDOM % 20000) + 30000 ))
        if ! ss -ltn "sport = :$p" | grep -q LISTEN; then
            echo "$p"
            return
        fi
    done
}

# wait_port PORT: until something listens there (5 s).
wait_port() {
    local i
    for i in $(seq 1 100); do
        if ss -ltn "sport = :$1" | grep -q LISTEN; then return 0; fi
        sleep 0.05
    done
    return 1
}

# start_target NAME: a real sshd on loopback that trusts the gateway's
# egress key. Sets TPORT_<NAME> and writes $WORK/NAME/hostkey.pub.
start_target() {
    local name=$1 dir="$WORK/$1" port try
    mkdir -p "$dir" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey" || return 1
    "$BIN/sekishoctl" -c "$CONF" egress-key > "$dir/authorized_keys"
    # A port found free can be taken before sshd binds it: try again.
    for try in 1 2 3; do
        port=$(free_port)
        cat > "$dir/sshd_config" <<EOC
Port $port
ListenAddress 127.0.0.1
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
MaxStartups 200
MaxSessions 200
LogLevel VERBOSE
EOC
        if /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" &&
            wait_port "$port"; then
            eval "TPORT_$name=$port"
            return 0
        fi
        log "sshd for $name on port $port failed (try $try):"
        tail -5 "$dir/sshd.log" >&2
        [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null
    done
    return 1
}

# gw_init [extra config lines...]: a fresh gateway installation.
gw_init() {
    GW="${GW_DIR:-$WORK/gw}"
    GPORT=$(free_port)
    # The auditor key is always sealed: ctl passes this file for the
    # commands that open it (export, replay, search, watch).
    AUDITOR_PP="$WORK/auditor.pp"
    printf 'the test auditor passphrase\n' > "$AUDITOR_PP"
    "$BIN/sekishoctl" init --dir "$GW" --listen "127.0.0.1:$GPORT" \
        --auditor-passphrase-file "$AUDITOR_PP" \
        > "$WORK/egress.pub" 2>/dev/null || return 1
    CONF="$GW/sekisho.conf"
    # Suites grant without --reason; test_roles.sh checks the default
    # (required) by passing grant_reason_required = yes.
    case " $* " in
    *"grant_reason_required ="*) ;;
    *) sed -i "s|^#grant_reason_required = .*|grant_reason_required = no|" \
           "$CONF" ;;
    esac
    if [ $# -gt 0 ]; then
        # Append to [gateway]: rewrite the commented defaults we override.
        local line key
        for line in "$@"; do
            key=${line%% =*}
            sed -i "s|^#$key = .*|$line|" "$CONF"
        done
    fi
}

# gw_start: the listener in the background. GW_PRELOAD (a test's
# stand-in for a compromised worker) is preloaded into the gateway only.
# GW_WRAP: a command line that ends by exec'ing its arguments (so GW_PID
# stays the listener's), e.g. test_monitoring.sh's private /dev/log.
gw_start() {
    local try
    for try in 1 2 3; do
        ${GW_WRAP:-} env ${GW_PRELOAD:+LD_PRELOAD="$GW_PRELOAD"} \
            "$BIN/sekishod" -c "$CONF" -f >> "$WORK/gw.log" 2>&1 &
        GW_PID=$!
        PIDS="$PIDS $GW_PID"
        if wait_port "$GPORT" && kill -0 "$GW_PID" 2>/dev/null; then
            return 0
        fi
        # The port was taken meanwhile: move the gateway to another.
        kill "$GW_PID" 2>/dev/null
        GPORT=$(free_port)
        sed -i "s|^listen = .*|listen = 127.0.0.1:$GPORT|" "$CONF"
    done
    return 1
}

gw_stop() {
    kill "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
}

ctl() {
    "$BIN/sekishoctl" -c "$CONF" \
        ${AUDITOR_PP:+--auditor-passphrase-file "$AUDITOR_PP"} "$@"
}

# gw_unsealed_auditor_key: the gateway's auditor key pair replaced by an
# unsealed one, as installations made before keys were always sealed
# have (no command makes one any more: a fixture pair in that old open
# form, tests/fixtures/auditor-open.*). Before any session.
gw_unsealed_auditor_key() {
    local fx
    fx="$(dirname "${BASH_SOURCE[0]}")/../fixtures"
    rm -f "$GW/auditor.key" "$GW/auditor.pub"
    install -m 600 "$fx/auditor-open.key" "$GW/auditor.key" &&
        install -m 644 "$fx/auditor-open.pub" "$GW/auditor.pub"
}

# db SQL: the gateway's state, as a test fixture; waits for locks held by
# running sessions like the gateway itself does.
db() { sqlite3 -cmd '.timeout 5000' "$GW/state.db" "$@"; }

# add_user NAME [ctl args]: user with the standard test password.
# The TOTP secret from the enrolment URI is kept in $WORK/totp.NAME.
add_user() {
    local name=$1 out
    shift
    out=$(printf '%s\n' "$PW" |
        ctl user add "$name" --password-stdin --no-force-change "$@") ||
        return 1
    printf '%s\n' "$out" | grep -o 'secret=[A-Z2-7]*' | cut -d= -f2 \
        > "$WORK/totp.$name"
}

# totp NAME [OFFSET-SECONDS]: the user's current (or offset) code.
totp() {
    oathtool --totp -b -N "@$(( $(date +%s) + ${2:-0} ))" \
        "$(cat "$WORK/totp.$1")"
}

# Targets are logged in to as an unprivileged account, as in production
# (OpenSSH, for one, refuses signal requests in root sessions).
TLOGIN=sekisho-it
id "$TLOGIN" > /dev/null 2>&1 ||
    useradd --create-home --shell /bin/bash -p '*' "$TLOGIN" || exit 1
# sshd without PAM refuses accounts whose password is locked ('!').
usermod -p '*' "$TLOGIN"

add_target() {
    local name=$1 port
    port=$(eval echo "\$TPORT_$name")
    ctl target add "$name" --host 127.0.0.1 --port "$port" --login "$TLOGIN" \
        --host-key-file "$WORK/$name/hostkey.pub" > /dev/null
}

# The ssh client reads the password from an askpass helper; SKPW selects
# which password it answers with.
# The client asks once per keyboard-interactive prompt; the prompt text
# is the argument. SKCODE answers "Verification code".
# SKPROMPTS=FILE: each prompt is also appended to FILE (what was asked).
cat > "$WORK/askpass" <<'EOA'
#!/bin/sh
[ -n "${SKPROMPTS:-}" ] && printf '%s\n' "$1" >> "$SKPROMPTS"
case "$1" in
*Verification*) printf '%s\n' "${SKCODE:-}" ;;
*"New password"* | *"Retype new password"*) printf '%s\n' "${SKNEWPW:-}" ;;
*) printf '%s\n' "${SKPW:-}" ;;
esac
EOA
chmod 755 "$WORK/askpass"

# gw_ssh USER [-ssh-options...] [COMMAND...]: the real OpenSSH client
# against the gateway. Leading arguments that start with '-' are ssh
# options; the rest is the gateway command.
gw_ssh() {
    local user=$1 opts=()
    shift
    while [ $# -gt 0 ] && [ "${1#-}" != "$1" ] && [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    SKPW=${SKPW-$PW} SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force \
        DISPLAY=:0 timeout "${SSH_TIMEOUT:-60}" ssh -F /dev/null \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o PubkeyAuthentication="${SKPUBKEY:-no}" \
        -o ConnectTimeout=10 -p "$GPORT" "${opts[@]}" "$user@127.0.0.1" "$@"
}

# Runs a test function, counting its result. A test fails when any of its
# checks fails (check sets T_CUR_FAIL).
run_test() {
    local name=$1
    # ONLY="t_a t_b": run just these (development; CI runs everything).
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
        return 0
    fi
    T_CUR_FAIL=0
    log "--- $name"
    "$name"
    if [ "$T_CUR_FAIL" -eq 0 ]; then
        T_PASS=$((T_PASS + 1))
        log "PASS $name"
    else
        T_FAIL=$((T_FAIL + 1))
        T_FAILED_NAMES="$T_FAILED_NAMES $name"
        # What the gateway said last, for failures seen only in CI.
        if [ -f "$WORK/gw.log" ]; then
            log "  gateway log, last lines:"
            tail -n 25 "$WORK/gw.log" | sed 's/^/    /' >&2
        fi
        log "FAIL $name"
    fi
}

fail() {
    log "  check failed: $*"
    T_CUR_FAIL=1
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    if [ "$2" != "$3" ]; then
        fail "$1: expected '$2', got '$3'"
    fi
}

# expect_contains WHAT NEEDLE HAYSTACK
expect_contains() {
    case "$3" in
    *"$2"*) ;;
    *) fail "$1: '$2' not in: $(printf '%s' "$3" | head -c 600)" ;;
    esac
}

expect_not_contains() {
    case "$3" in
    *"$2"*) fail "$1: '$2' unexpectedly in: $(printf '%s' "$3" | head -c 600)" ;;
    *) ;;
    esac
}

# audit_has EVENT [FIELD-FRAGMENT]: the audit log has such a line.
audit_has() {
    grep "\"event\":\"$1\"" "$GW/audit.log" | grep -qF -- "${2:-}"
}

# audit_soon EVENT [FRAGMENT]: the line appears within 5 s (the monitor may
# write it just after the client has gone).
audit_soon() {
    wait_until 5 audit_has "$@"
}

# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
    local n=$(( $1 * 10 ))
    shift
    while [ "$n" -gt 0 ]; do
        if "$@"; then return 0; fi
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

summary() {
    log ""
    [ -n "$T_FAILED_NAMES" ] && log "failed:$T_FAILED_NAMES"
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# Last: no process of this run (gateway, monitor, sekishoctl) reported a
# sanitizer error or leak (only sanitizer builds write these files).
t_no_sanitizer_reports() {
    local f
    for f in "$WORK"/asan.* "$WORK"/ubsan.*; do
        [ -e "$f" ] || continue
        fail "sanitizer report $f: $(head -c 2000 "$f")"
    done
}
