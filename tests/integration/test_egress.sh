#!/usr/bin/env bash
# Integration tests for the egress key (issue 12, R-PW-6, R-AC-8): the
# authorized_keys line sekishoctl prints (from=, restrict,pty) against a
# real sshd, key groups, and the signed session identifiers the store
# keeps.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" ||
        die "gw_init failed"
    start_target web01 || die "target web01 failed to start"
    start_target pci01 || die "target pci01 failed to start"
    add_user alice
    add_target web01
    ctl grant add alice web01 --exec > /dev/null
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# u32 N / str FILE: SSH wire encoding, to standard output.
u32() {
    local b
    for b in 24 16 8 0; do
        printf '%b' "\\x$(printf %02x $(($1 >> b & 255)))"
    done
}
str() {
    u32 "$(stat -c %s "$1")"
    cat "$1"
}

# openssh_key SEKISHO-KEY-FILE OUT: the same Ed25519 key as an OpenSSH
# private key file, so the real ssh client can act as the gateway towards
# a target (what a stolen egress key could do, restricted by the line).
openssh_key() {
    local d="$WORK/okey.$$"
    mkdir -p "$d"
    sed -n 2p "$1" | base64 -d > "$d/sk"
    tail -c 32 "$d/sk" > "$d/pk"
    printf ssh-ed25519 > "$d/type"
    printf c > "$d/comment"
    : > "$d/empty"
    printf none > "$d/none"
    { str "$d/type"; str "$d/pk"; } > "$d/pub"
    { u32 305419896; u32 305419896; str "$d/type"; str "$d/pk"
        str "$d/sk"; str "$d/comment"; printf '\001\002\003\004'; } \
        > "$d/priv"
    { printf 'openssh-key-v1\000'; str "$d/none"; str "$d/none"
        str "$d/empty"; u32 1; str "$d/pub"; str "$d/priv"; } > "$d/blob"
    { echo "-----BEGIN OPENSSH PRIVATE KEY-----"; base64 -w 70 "$d/blob"
        echo "-----END OPENSSH PRIVATE KEY-----"; } > "$2"
    chmod 600 "$2"
    rm -rf "$d"
}

# tssh NAME KEY [ssh options...] [-- COMMAND...]: the real ssh client
# straight to a target.
tssh() {
    local name=$1 key=$2 port opts=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    port=$(eval echo "\$TPORT_$name")
    timeout 20 ssh -F /dev/null -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o IdentitiesOnly=yes -o BatchMode=yes -i "$key" -p "$port" \
        "${opts[@]}" "$TLOGIN@127.0.0.1" "$@"
}

# restart_sshd NAME: after its sshd_config changed.
restart_sshd() {
    local dir="$WORK/$1" port
    port=$(eval echo "\$TPORT_$1")
    kill "$(cat "$dir/sshd.pid")" 2>/dev/null
    wait_until 5 sh -c "! ss -ltn 'sport = :$port' | grep -q LISTEN"
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" &&
        wait_port "$port"
}

# The printed line is restricted and bound to the gateway's address, and
# the gateway's own sessions (exec and a pty shell) still work through it;
# each session's signature is recorded once in the store.
t_egress_line_restricted() {
    local line out rc n0 n1
    line=$(ctl egress-key)
    [[ "$line" =~ ^from=\"127\.0\.0\.1\",restrict,pty\ ssh-ed25519\ AAAA[A-Za-z0-9+/=]+\ sekisho-egress$ ]] ||
        fail "egress-key line: $line"
    expect_eq "init printed the same line" "$line" "$(cat "$WORK/egress.pub")"
    expect_eq "targets got that line" "$line" \
        "$(cat "$WORK/web01/authorized_keys")"
    expect_contains "sekishod -T shows egress_from" "egress_from = 127.0.0.1" \
        "$("$BIN/sekishod" -c "$CONF" -T)"
    n0=$(db "SELECT count(*) FROM egress_signed")
    out=$(gw_ssh alice web01 -- 'echo exec-$((40+2))' < /dev/null)
    expect_eq "exec through the restricted key" "exec-42" "$out"
    out=$( (sleep 1; printf 'tty; exit 3\n'; sleep 1) |
        gw_ssh alice -tt web01 2>&1)
    rc=$?
    expect_eq "shell exit status" 3 "$rc"
    expect_contains "pty allowed by the line" "/dev/pts/" "$out"
    n1=$(db "SELECT count(*) FROM egress_signed")
    expect_eq "one signed session id per session" "$((n0 + 2))" "$n1"
    expect_eq "distinct ids" "$n1" \
        "$(db "SELECT count(DISTINCT id_hash) FROM egress_signed")"
}

# What a holder of the egress key gets from a target with the printed
# line: a login and a pty, but no port, agent or X11 forwarding; and not
# from another address. The same requests succeed without the options
# (so the test sees what restrict takes away).
t_egress_line_refuses_forwarding() {
    local dir="$WORK/web01" key="$WORK/egress.openssh" line out agent
    local out2 out3 out4 variant
    openssh_key "$GW/egress_key" "$key"
    line=$(ctl egress-key)
    expect_eq "converted key is the egress key" \
        "$(ssh-keygen -y -f "$key" | cut -d' ' -f2)" \
        "$(printf '%s\n' "$line" | cut -d' ' -f3)"
    cat >> "$dir/sshd_config" <<EOC
X11Forwarding yes
AllowTcpForwarding yes
AllowAgentForwarding yes
EOC
    restart_sshd web01 || { fail "sshd restart"; return; }
    eval "$(ssh-agent -s)" > /dev/null
    agent=$SSH_AGENT_PID
    for variant in restricted open; do
        if [ "$variant" = open ]; then
            printf '%s\n' "$line" | cut -d' ' -f2- > "$dir/authorized_keys"
        else
            printf '%s\n' "$line" > "$dir/authorized_keys"
        fi
        out=$(tssh web01 "$key" -tt -- tty 2>&1)
        expect_contains "$variant: pty" "/dev/pts/" "$out"
        out=$(tssh web01 "$key" -W "127.0.0.1:$TPORT_web01" < /dev/null 2>&1)
        out2=$(tssh web01 "$key" -o ExitOnForwardFailure=yes \
            -R 0:127.0.0.1:9 -- echo remote-ok < /dev/null 2>&1)
        out3=$(tssh web01 "$key" -A -- 'echo "agent[$SSH_AUTH_SOCK]"' \
            < /dev/null 2>&1)
        out4=$(DISPLAY=:0 tssh web01 "$key" -X -- 'echo "x11[$DISPLAY]"' \
            < /dev/null 2>&1)
        if [ "$variant" = restricted ]; then
            expect_not_contains "direct-tcpip refused" "SSH-2.0" "$out"
            expect_contains "direct-tcpip refused" "forwarding failed" "$out"
            expect_not_contains "remote forward refused" "remote-ok" "$out2"
            expect_contains "agent forwarding refused" "agent[]" "$out3"
            expect_contains "X11 forwarding refused" "x11[]" "$out4"
        else
            expect_contains "control: direct-tcpip" "SSH-2.0" "$out"
            expect_contains "control: remote forward" "remote-ok" "$out2"
            expect_contains "control: agent" "agent[/" "$out3"
            expect_contains "control: X11" "x11[localhost:" "$out4"
        fi
    done
    # from= holds: the same line for another address admits nobody here
    printf '%s\n' "$line" | sed 's/^from="127.0.0.1"/from="192.0.2.1"/' \
        > "$dir/authorized_keys"
    tssh web01 "$key" -- true < /dev/null 2>/dev/null &&
        fail "from=192.0.2.1 admitted 127.0.0.1"
    printf '%s\n' "$line" > "$dir/authorized_keys"
    kill "$agent" 2>/dev/null
    unset SSH_AUTH_SOCK SSH_AGENT_PID
    rm -f "$key"
}

# A target in its own key group: its key is made once (0600), printed per
# target and per group, used by the gateway for that target only; the
# target's sshd, trusting only that key, rejects the default one.
t_egress_key_group() {
    local def pci out key="$WORK/default.openssh" mode
    def=$(ctl egress-key)
    out=$(ctl target add pci01 --host 127.0.0.1 --port "$TPORT_pci01" \
        --login "$TLOGIN" --host-key-file "$WORK/pci01/hostkey.pub" \
        --key-group pci 2>&1)
    [ -f "$GW/egress_key.pci" ] || fail "no key file for group pci: $out"
    mode=$(stat -c %a "$GW/egress_key.pci")
    expect_eq "group key mode" 600 "$mode"
    pci=$(ctl egress-key pci01)
    expect_eq "egress-key --group" "$pci" "$(ctl egress-key --group pci)"
    expect_contains "target add printed the line" "$pci" "$out"
    [ "$pci" != "$def" ] || fail "group pci uses the default key"
    expect_contains "group line restricted" 'from="127.0.0.1",restrict,pty' \
        "$pci"
    expect_contains "target show names the group" "key-group: pci" \
        "$(ctl target show pci01)"
    ctl grant add alice pci01 --exec > /dev/null
    # pci01 still trusts the default key only (start_target): refused
    out=$(gw_ssh alice pci01 -- echo via-default < /dev/null 2>&1)
    expect_not_contains "default key not offered for pci01" via-default "$out"
    printf '%s\n' "$pci" > "$WORK/pci01/authorized_keys"
    out=$(gw_ssh alice pci01 -- echo via-pci < /dev/null 2>&1)
    expect_eq "login with the group key" via-pci "$out"
    out=$(gw_ssh alice web01 -- echo web-still < /dev/null 2>&1)
    expect_eq "default group unaffected" web-still "$out"
    # the target itself rejects the default key
    openssh_key "$GW/egress_key" "$key"
    tssh pci01 "$key" -- true < /dev/null 2>/dev/null &&
        fail "pci01's sshd accepted the default egress key"
    rm -f "$key"
    # a second target in the group shares the key; --own-key makes another
    ctl target add solo --host 127.0.0.1 --port "$TPORT_pci01" \
        --login "$TLOGIN" --host-key-file "$WORK/pci01/hostkey.pub" \
        --own-key > /dev/null 2>&1 || fail "target add --own-key"
    [ -f "$GW/egress_key.solo" ] || fail "no key file for --own-key"
    [ "$(ctl egress-key solo)" != "$pci" ] || fail "--own-key reused pci"
    ctl target add bad --host 127.0.0.1 --port 1 --login x \
        --host-key-file "$WORK/pci01/hostkey.pub" --key-group ../x \
        > /dev/null 2>&1 && fail "key group ../x accepted"
    # rotation without an outage: the new key first, its line next to the
    # old one, then the move; afterwards the old line alone does not work
    ctl egress-key --group pci2 --create >> "$WORK/pci01/authorized_keys" \
        2>/dev/null || fail "egress-key --create"
    [ -f "$GW/egress_key.pci2" ] || fail "no key file from --create"
    audit_has egress_key_create '"group":"pci2"' || fail "no audit of --create"
    ctl target key-group pci01 pci2 > /dev/null || fail "target key-group"
    out=$(gw_ssh alice pci01 -- echo new-line < /dev/null 2>&1)
    expect_eq "rotated key works" new-line "$out"
    printf '%s\n' "$pci" > "$WORK/pci01/authorized_keys"
    out=$(gw_ssh alice pci01 -- echo old-line < /dev/null 2>&1)
    expect_not_contains "old group key dropped" old-line "$out"
    ctl egress-key pci01 > "$WORK/pci01/authorized_keys"
    audit_has target_key_group '"group":"pci2"' || fail "no audit of the move"
}

# With a wildcard listen address egress-key does not guess a from=: it
# says so, and egress_from sets it.
t_egress_from_config() {
    local c="$WORK/wild.conf" out err
    sed 's|^listen = .*|listen = 0.0.0.0:1|' "$CONF" > "$c"
    out=$("$BIN/sekishoctl" -c "$c" egress-key 2> "$WORK/wild.err")
    err=$(cat "$WORK/wild.err")
    [[ "$out" =~ ^restrict,pty\ ssh-ed25519\  ]] || fail "wildcard line: $out"
    expect_contains "note about from=" "egress_from" "$err"
    sed -i 's|^#egress_from = .*|egress_from = 10.0.0.0/8,192.0.2.5|' "$c"
    out=$("$BIN/sekishoctl" -c "$c" egress-key 2>&1)
    expect_contains "configured from=" \
        'from="10.0.0.0/8,192.0.2.5",restrict,pty ssh-ed25519' "$out"
    sed -i 's|^egress_from = .*|egress_from = 10.0.0.1/8|' "$c"
    "$BIN/sekishoctl" -c "$c" egress-key > /dev/null 2>&1 &&
        fail "host bits past the prefix accepted"
    rm -f "$c"
}

setup
run_test t_egress_line_restricted
run_test t_egress_line_refuses_forwarding
run_test t_egress_key_group
run_test t_egress_from_config
run_test t_no_sanitizer_reports
summary
