#!/usr/bin/env bash
# Integration tests for gateway commands over SSH (issue 14): auditors and
# admins run sekishoctl's commands under their own login, each refused to
# anyone without the role and audited under the person's name; the
# command's output, stdin and exit status travel over the channel (a pty
# with ssh -t); nothing of it reaches a transcript. Real sshd target,
# real ssh client, real gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" ||
        die "gw_init failed"
    start_target web01 || die "target web01 failed to start"
    add_user alice || die "add alice"
    add_user aki --role auditor || die "add aki"
    add_user ann --role admin || die "add ann"
    add_target web01
    ctl grant add alice web01 --exec > /dev/null || die "grant"
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
    # One recorded session for the auditor's commands.
    gw_ssh alice web01 -- 'echo rec-$((6*7)); sleep 1; echo rec-end' \
        < /dev/null > /dev/null 2>&1
    SID=$(db "SELECT id FROM sessions ORDER BY start DESC LIMIT 1")
    [ -n "$SID" ] || die "no recorded session"
    wait_until 10 ctl verify "$SID" > /dev/null 2>&1 || die "session not sealed"
}

# tmux_ssh SOCK USER COMMAND...: the real client in a real terminal.
tmux_ssh() {
    local sock=$1 user=$2
    shift 2
    tmux -S "$sock" new-session -d -x 120 -y 40 \
        "SKPW='$PW' SSH_ASKPASS=$WORK/askpass SSH_ASKPASS_REQUIRE=force \
         ssh -F /dev/null -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
         -o PubkeyAuthentication=no -p $GPORT -t $user@127.0.0.1 $*; \
         echo CLIENT-EXIT=\$?; sleep 30"
}

pane() { tmux -S "$1" capture-pane -p -S -200; }
pane_has() { pane "$1" | grep -q -- "$2"; }

# key_passphrase SOCK: types the auditor key's passphrase at the prompt a
# command reading transcripts shows on its terminal (echo off).
key_passphrase() {
    wait_until 15 pane_has "$1" "Auditor key passphrase" ||
        { fail "no passphrase prompt: $(pane "$1")"; return 1; }
    tmux -S "$1" send-keys "$(cat "$AUDITOR_PP")" Enter
}

t_auditor_reads_over_ssh() {
    local out rc want
    out=$(gw_ssh aki sessions < /dev/null 2>&1)
    rc=$?
    expect_eq "sessions: exit" 0 "$rc"
    want=$(ctl session list 2>&1)
    expect_eq "sessions: sekishoctl's output" "$want" "$out"
    expect_contains "sessions lists the session" "$SID" "$out"
    out=$(gw_ssh aki sessions --json < /dev/null 2>&1)
    expect_contains "sessions --json" "\"id\": \"$SID\"" "$out"
    out=$(gw_ssh aki session show "$SID" < /dev/null 2>&1)
    expect_eq "session show: exit" 0 "$?"
    expect_contains "session show names the user" "alice" "$out"
    out=$(gw_ssh aki verify "$SID" < /dev/null 2>&1)
    expect_eq "verify: exit" 0 "$?"
    expect_contains "verify says" "OK" "$out"
    gw_ssh aki verify no-such-session < /dev/null > /dev/null 2>&1
    expect_eq "verify unknown: sekishoctl's exit status" 1 "$?"
    out=$(gw_ssh aki audit show < /dev/null 2>&1)
    expect_eq "audit show: exit" 0 "$?"
    expect_contains "audit show" "gateway_command" "$out"
    out=$(gw_ssh aki export "$SID" --format text < "$AUDITOR_PP" 2>&1)
    expect_eq "export: exit" 0 "$?"
    expect_contains "export shows the recorded output" "rec-42" "$out"
    out=$(gw_ssh aki export "$SID" --format asciicast < "$AUDITOR_PP" 2>/dev/null)
    expect_contains "export asciicast header" '"version":2' "$out"
    out=$(gw_ssh aki search "'rec-42'" < "$AUDITOR_PP" 2>&1)
    expect_contains "search finds it" "$SID" "$out"
    # Audited under the person: the monitor's line and sekishoctl's own.
    audit_soon gateway_command '"user":"aki"' ||
        fail "no gateway_command line for aki"
    audit_has gateway_command '"command":"export '"$SID"' --format text"' ||
        fail "gateway_command does not name the command"
    audit_soon transcript_exported '"admin":"aki"' ||
        fail "export not audited under aki"
    audit_has verify '"admin":"aki"' || fail "verify not audited under aki"
    if grep '"event":"transcript_exported"' "$GW/audit.log" |
        grep -q '"admin":"root'; then
        fail "export audited as root"
    fi
    # Not target sessions: no session row, no transcript for them.
    expect_eq "no new session rows" 1 "$(db 'SELECT count(*) FROM sessions')"
}

t_auditor_cannot_add_user() {
    local out rc
    out=$(printf '%s\n' "$PW" |
        gw_ssh aki user add mallory --password-stdin 2>&1)
    rc=$?
    expect_eq "auditor user add: exit" 1 "$rc"
    expect_contains "auditor user add: names the role" \
        "needs the admin role" "$out"
    expect_eq "no user made" "" "$(db "SELECT name FROM users WHERE name = 'mallory'")"
    audit_soon command_refused '"user":"aki"' ||
        fail "refusal not audited under aki"
    audit_has command_refused '"role_needed":"admin"' ||
        fail "refusal does not name the role"
    # Refused in the monitor: sekishoctl never ran for it.
    audit_has gateway_command '"command":"user add mallory' &&
        fail "the monitor started the refused command"
}

t_admin_cannot_replay() {
    local out rc
    out=$(gw_ssh ann replay "$SID" --max-idle 0 < /dev/null 2>&1)
    rc=$?
    expect_eq "admin replay: exit" 1 "$rc"
    expect_contains "admin replay: names the role" "needs the auditor role" "$out"
    expect_not_contains "admin replay: nothing shown" "rec-42" "$out"
    out=$(gw_ssh ann export "$SID" --format text < /dev/null 2>&1)
    expect_eq "admin export: exit" 1 "$?"
    expect_not_contains "admin export: nothing shown" "rec-42" "$out"
    audit_soon command_refused '"user":"ann"' ||
        fail "refusal not audited under ann"
    audit_has transcript_replayed '"admin":"ann"' && fail "ann replayed"
    grep '"event":"gateway_command"' "$GW/audit.log" | grep '"user":"ann"' |
        grep -q '"command":"replay' &&
        fail "the monitor started the refused replay"
}

t_maintainer_refused() {
    local out rc
    out=$(gw_ssh alice sessions < /dev/null 2>&1)
    rc=$?
    expect_eq "maintainer sessions: exit" 1 "$rc"
    expect_contains "maintainer sessions: names the role" \
        "needs the auditor role" "$out"
    expect_not_contains "maintainer sessions: nothing listed" "$SID" "$out"
    out=$(gw_ssh alice target list < /dev/null 2>&1)
    expect_eq "maintainer target list: exit" 1 "$?"
    audit_soon command_refused '"user":"alice"' ||
        fail "refusal not audited under alice"
    grep '"event":"gateway_command"' "$GW/audit.log" | grep -q '"user":"alice"' &&
        fail "the monitor started a refused command"
    # The maintainer's own commands still work beside the admin forms.
    out=$(gw_ssh alice request web01 --reason check the disks < /dev/null 2>&1)
    expect_contains "maintainer request still files" "filed" "$out"
}

t_options_naming_files_refused() {
    local out
    out=$(gw_ssh aki export "$SID" --format text -o /tmp/x-$$ < /dev/null 2>&1)
    expect_eq "export -o: exit" 2 "$?"
    expect_contains "export -o: why" "not available over SSH" "$out"
    [ -e "/tmp/x-$$" ] && { rm -f "/tmp/x-$$"; fail "export -o wrote a file"; }
    out=$(gw_ssh ann target add t9 --host 127.0.0.1 --port 22 --login x \
        --host-key-file /etc/shadow < /dev/null 2>&1)
    expect_eq "--host-key-file: exit" 2 "$?"
}

t_admin_over_stdin() {
    local out rc
    out=$(printf '%s\n' "$PW" | gw_ssh ann user add erin --password-stdin \
        --no-force-change 2>&1)
    rc=$?
    expect_eq "admin user add: exit" 0 "$rc"
    expect_contains "enrolment printed to the admin" "otpauth://totp/" "$out"
    expect_eq "user made" "erin" "$(db "SELECT name FROM users WHERE name = 'erin'")"
    audit_soon user_add '"admin":"ann"' || fail "user_add not audited under ann"
    gw_ssh ann user show nobody-here < /dev/null > /dev/null 2>&1
    expect_eq "sekishoctl's exit status over ssh" 1 "$?"
    out=$(gw_ssh ann grant list alice < /dev/null 2>&1)
    expect_contains "grant list" "web01" "$out"
    # Nobody grants themselves access or roles (R-AC-3).
    out=$(gw_ssh ann grant add ann web01 < /dev/null 2>&1)
    expect_eq "self grant: exit" 1 "$?"
    expect_contains "self grant: why" "not for yourself" "$out"
    expect_eq "no self grant" 0 \
        "$(db "SELECT count(*) FROM grants g JOIN users u ON u.id = g.user_id WHERE u.name = 'ann'" 2>/dev/null || echo 0)"
    out=$(gw_ssh ann user role ann auditor < /dev/null 2>&1)
    expect_eq "self role: exit" 1 "$?"
    expect_eq "role unchanged" admin "$(db "SELECT role FROM users WHERE name = 'ann'")"
}

# A group's grants reach its members: an admin may neither join a group
# nor grant a group they are in (the roundabout self-grant the review
# found: group add, grant add @G, group member add G self), and so reaches
# no target that way; another admin may.
t_no_self_grant_via_group() {
    local out
    gw_ssh ann group add sneaky < /dev/null > /dev/null 2>&1
    expect_eq "group made" 1 "$(db "SELECT count(*) FROM groups WHERE name = 'sneaky'")"
    out=$(gw_ssh ann group member add sneaky ann < /dev/null 2>&1)
    expect_eq "join own group: exit" 1 "$?"
    expect_contains "join own group: why" "not for yourself" "$out"
    ctl group member add sneaky ann > /dev/null 2>&1 ||
        fail "root (break-glass) could not add ann"
    out=$(gw_ssh ann grant add @sneaky web01 --exec --reason x < /dev/null 2>&1)
    expect_eq "grant own group: exit" 1 "$?"
    expect_contains "grant own group: why" "member of group sneaky" "$out"
    grep '"event":"command_refused"' "$GW/audit.log" | grep '"user":"ann"' |
        grep -q '"reason":"own access (group membership)"' ||
        fail "joining own group: refusal not audited under ann"
    grep '"event":"command_refused"' "$GW/audit.log" | grep '"user":"ann"' |
        grep -q '"reason":"own access (a group of theirs)"' ||
        fail "granting own group: refusal not audited under ann"
    out=$(gw_ssh ann web01 -- 'echo PWNED' < /dev/null 2>&1)
    expect_not_contains "no access through the group" "PWNED" "$out"
    # for a group she is not in, the same admin may
    gw_ssh ann group add others < /dev/null > /dev/null 2>&1
    gw_ssh ann grant add @others web01 --reason "'their work'" < /dev/null \
        > /dev/null 2>&1
    expect_eq "grant to another group" 0 "$?"
}

# A person's keys and method rule are their factors: an admin changes
# neither for themselves over SSH (R-AC-3; user key and user methods were
# dispatched before cmd_user's self check, so ann could weaken her own
# login to a password or register a key of hers); another admin, or root,
# may. Each refusal is audited under her (command_refused, "own account").
t_no_own_factors_over_ssh() {
    local out fp n
    ssh-keygen -q -t ed25519 -N '' -C ann-laptop -f "$WORK/annkey" || {
        fail "keygen"; return; }
    out=$(gw_ssh ann user key add ann - < "$WORK/annkey.pub" 2>&1)
    expect_eq "own key add: exit" 1 "$?"
    expect_contains "own key add: why" "your own account" "$out"
    expect_eq "no key of ann's" 0 "$(db "SELECT count(*) FROM user_keys k JOIN users u ON u.id = k.user_id WHERE u.name = 'ann'")"
    out=$(gw_ssh ann user methods ann password < /dev/null 2>&1)
    expect_eq "own methods: exit" 1 "$?"
    expect_contains "own methods: why" "your own account" "$out"
    expect_eq "ann's rule unchanged" "" "$(db "SELECT coalesce(methods, '') FROM users WHERE name = 'ann'")"
    ctl user key add ann "$WORK/annkey.pub" > /dev/null 2>&1 ||
        fail "root could not add ann's key"
    fp=$(db "SELECT k.fingerprint FROM user_keys k JOIN users u ON u.id = k.user_id WHERE u.name = 'ann'")
    [ -n "$fp" ] || { fail "no key to remove"; return; }
    out=$(gw_ssh ann user key remove ann "$fp" < /dev/null 2>&1)
    expect_eq "own key remove: exit" 1 "$?"
    expect_eq "ann's key kept" 1 "$(db "SELECT count(*) FROM user_keys WHERE fingerprint = '$fp'")"
    n=$(grep '"event":"command_refused"' "$GW/audit.log" |
        grep '"user":"ann"' | grep -c '"reason":"own account"')
    expect_eq "each refusal audited under ann" 3 "$n"
    # her own keys she may still list, and another person's she may set
    out=$(gw_ssh ann user key list ann < /dev/null 2>&1)
    expect_contains "own key list" "ann-laptop" "$out"
    gw_ssh ann user methods aki password < /dev/null > /dev/null 2>&1
    expect_eq "another's methods: exit" 0 "$?"
    ctl user methods aki default > /dev/null 2>&1
    ctl user key remove ann "$fp" > /dev/null 2>&1
}

# A group's source blocks limit where its members connect from (every
# group's apply, access_source_ok): a member lifting them, or removing the
# group with them, widens her own access (R-AC-2, R-AC-3), as leaving it
# would (refused already). Refused and audited; root may.
t_no_own_group_limits_over_ssh() {
    local out
    ctl group add limits > /dev/null 2>&1 || fail "group add"
    ctl group member add limits ann > /dev/null 2>&1 || fail "member add"
    ctl group from limits 127.0.0.0/8 > /dev/null 2>&1 || fail "group from"
    out=$(gw_ssh ann group from limits --any < /dev/null 2>&1)
    expect_eq "lift own group's limits: exit" 1 "$?"
    expect_contains "lift own group's limits: why" "member of group limits" "$out"
    expect_eq "limits kept" "127.0.0.0/8" "$(db "SELECT sources FROM groups WHERE name = 'limits'")"
    out=$(gw_ssh ann group remove limits < /dev/null 2>&1)
    expect_eq "remove own group: exit" 1 "$?"
    expect_eq "group kept" 1 "$(db "SELECT count(*) FROM groups WHERE name = 'limits'")"
    expect_eq "both refusals audited under ann" 2 "$(grep '"event":"command_refused"' "$GW/audit.log" |
        grep '"user":"ann"' | grep -c '"command":"group [a-z]* limits')"
    # another group's she may change
    gw_ssh ann group add elsewhere < /dev/null > /dev/null 2>&1
    gw_ssh ann group from elsewhere 192.0.2.0/24 < /dev/null > /dev/null 2>&1
    expect_eq "another group's limits: exit" 0 "$?"
    ctl group remove limits > /dev/null 2>&1
    ctl group remove elsewhere > /dev/null 2>&1
}

# An export streams while the client re-keys: every byte arrives (libssh
# writes nothing during a re-exchange and says so only by a short count;
# gw_write_all in wk-gwcmd.c waits for the exchange).
t_export_while_rekeying() {
    local id a b
    gw_ssh alice web01 -- 'head -c 3000000 /dev/urandom | base64' \
        < /dev/null > /dev/null 2>&1
    id=$(db "SELECT id FROM sessions ORDER BY start DESC LIMIT 1")
    wait_until 10 ctl verify "$id" > /dev/null 2>&1 || fail "not sealed"
    a=$(ctl export "$id" --format text | sha256sum)
    b=$(gw_ssh aki -oRekeyLimit=64K export "$id" --format text \
        < "$AUDITOR_PP" | sha256sum)
    expect_eq "export through re-exchanges is whole" "$a" "$b"
}

t_admin_adds_user_in_pty() {
    local sock="$WORK/tmux-add.sock" out secret f
    tmux_ssh "$sock" ann user add dave --no-force-change
    wait_until 15 pane_has "$sock" "New password for dave" ||
        fail "no password prompt: $(pane "$sock")"
    tmux -S "$sock" send-keys "$PW" Enter
    wait_until 5 pane_has "$sock" "Retype password for dave" ||
        fail "no retype prompt: $(pane "$sock")"
    tmux -S "$sock" send-keys "$PW" Enter
    wait_until 10 pane_has "$sock" "CLIENT-EXIT=" || fail "client did not end"
    out=$(pane "$sock")
    tmux -S "$sock" kill-server 2>/dev/null
    expect_contains "user add ended well" "CLIENT-EXIT=0" "$out"
    expect_not_contains "password not echoed" "$PW" "$out"
    secret=$(printf '%s\n' "$out" | grep -o 'secret=[A-Z2-7]*' | head -1 |
        cut -d= -f2)
    [ -n "$secret" ] || { fail "no enrolment in the pane: $out"; return; }
    expect_eq "dave exists" "dave" "$(db "SELECT name FROM users WHERE name = 'dave'")"
    audit_soon user_add '"user":"dave"' || fail "user_add for dave not audited"
    grep '"event":"user_add"' "$GW/audit.log" | grep '"user":"dave"' |
        grep -q '"admin":"ann"' || fail "user_add not under ann"
    grep -q "$secret" "$GW/audit.log" && fail "TOTP secret in the audit log"
    # Every transcript, decrypted with the auditor key: no secret in any.
    for id in $(db "SELECT id FROM sessions"); do
        ctl export "$id" --format text 2>/dev/null | grep -q "$secret" &&
            fail "TOTP secret in transcript $id"
        ctl export "$id" --format asciicast 2>/dev/null | grep -q "$secret" &&
            fail "TOTP secret in transcript $id (asciicast)"
    done
    for f in "$GW"/transcripts/* "$GW"/sessions/*; do
        [ -f "$f" ] && grep -q "$secret" "$f" && fail "TOTP secret in $f"
    done
    expect_eq "still one transcript" 1 "$(db 'SELECT count(*) FROM sessions')"
    # and dave logs in with that password
    out=$(gw_ssh dave targets < /dev/null 2>&1)
    expect_eq "dave logs in" 0 "$?"
}

t_replay_over_pty() {
    local sock="$WORK/tmux-replay.sock" out
    tmux_ssh "$sock" aki replay "$SID" --max-idle 0.5
    key_passphrase "$sock" || return
    wait_until 15 pane_has "$sock" "CLIENT-EXIT=" || fail "replay did not end"
    out=$(pane "$sock")
    tmux -S "$sock" kill-server 2>/dev/null
    expect_contains "replay shows the recorded output" "rec-42" "$out"
    expect_contains "replay reaches the end" "rec-end" "$out"
    expect_contains "replay exit status" "CLIENT-EXIT=0" "$out"
    # its keys work only on a terminal: it got one
    expect_contains "replay has a terminal" "space pause" "$out"
    audit_soon transcript_replayed '"admin":"aki"' ||
        fail "replay not audited under aki"
}

t_role_withdrawn_ends_command() {
    local sock="$WORK/tmux-rev.sock" out
    ctl user add zed --role auditor --password-stdin --no-force-change \
        <<< "$PW" > /dev/null || { fail "add zed"; return; }
    # A replay slowed right down: it runs until the role goes.
    tmux_ssh "$sock" zed replay "$SID" --speed 0.02
    key_passphrase "$sock" || return
    wait_until 15 pane_has "$sock" "rec-42" || fail "replay did not start: $(pane "$sock")"
    ctl user role zed maintainer > /dev/null
    wait_until 10 pane_has "$sock" "CLIENT-EXIT=" || fail "command not ended"
    out=$(pane "$sock")
    tmux -S "$sock" kill-server 2>/dev/null
    expect_contains "ended by the gateway" "role withdrawn" "$out"
    expect_not_contains "did not finish" "rec-end" "$out"
    audit_soon gateway_command_terminated '"user":"zed"' ||
        fail "termination not audited"
}

t_key_on_stdin() {
    local out
    ssh-keygen -q -t ed25519 -N '' -C bob-laptop -f "$WORK/bobkey" || {
        fail "keygen"; return; }
    add_user bob > /dev/null 2>&1
    # Without a pty the client's EOF is the command's EOF on stdin.
    out=$(gw_ssh ann user key add bob - < "$WORK/bobkey.pub" 2>&1)
    expect_eq "key add from stdin: exit" 0 "$?"
    out=$(ctl user key list bob 2>&1)
    expect_contains "the key arrived" "bob-laptop" "$out"
    audit_has user_key_add '"admin":"ann"' ||
        grep '"admin":"ann"' "$GW/audit.log" | grep -q key ||
        fail "key add not audited under ann"
}

# live_session: id of the running session, if any.
live_session() { db "SELECT id FROM sessions WHERE end = 0 LIMIT 1"; }
has_live() { [ -n "$(live_session)" ]; }
no_live() { [ -z "$(live_session)" ]; }
# start_live CMD: alice runs CMD on web01 in the background (LIVE_PID);
# LIVE_ID is its session, once it runs. The previous test's session may
# still be ending: wait for it first.
start_live() {
    wait_until 10 no_live || fail "a session from before is still live"
    gw_ssh alice web01 -- "$1" < /dev/null > /dev/null 2>&1 &
    LIVE_PID=$!
    wait_until 10 has_live || { fail "no live session"; return 1; }
    LIVE_ID=$(live_session)
    [ -n "$LIVE_ID" ] || { fail "live session gone"; return 1; }
}

t_watch_live_session() {
    local out id pid
    start_live 'echo live-$((40+1)); sleep 4; echo live-$((40+2))' || return
    pid=$LIVE_PID
    id=$LIVE_ID
    out=$(SSH_TIMEOUT=30 gw_ssh aki watch "$id" < "$AUDITOR_PP" 2>&1)
    expect_eq "watch: exit" 0 "$?"
    expect_contains "watch sees the output" "live-41" "$out"
    expect_contains "watch follows to the end" "live-42" "$out"
    wait "$pid"
    audit_soon session_watch '"admin":"aki"' || fail "watch not audited under aki"
}

# ctl_children_of NAME: sekishoctl processes running for NAME.
ctl_children_of() { pgrep -f -- "sekishoctl -c $CONF --actor $1 --via" || true; }
no_ctl_of() { [ -z "$(ctl_children_of "$1")" ]; }
has_ctl_of() { [ -n "$(ctl_children_of "$1")" ]; }

t_client_gone_kills_command() {
    local pid tpid id
    # A watch of a silent live session writes nothing: it would run on
    # unless the gateway ends it when its client leaves.
    start_live 'sleep 25' || return
    tpid=$LIVE_PID
    id=$LIVE_ID
    # (ssh itself in the background, not gw_ssh's subshell: its pid is
    # the client's)
    SKPW=$PW SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force \
        DISPLAY=:0 ssh -F /dev/null -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o PubkeyAuthentication=no -p "$GPORT" aki@127.0.0.1 \
        watch "$id" < "$AUDITOR_PP" > /dev/null 2>&1 &
    pid=$!
    wait_until 15 has_ctl_of aki || fail "watch did not start"
    sleep 1
    has_ctl_of aki || fail "watch did not keep running"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    wait_until 10 no_ctl_of aki ||
        fail "sekishoctl outlived its client: $(ctl_children_of aki)"
    audit_soon gateway_command_end '"client_gone":true' ||
        fail "end not audited"
    wait "$tpid"
}

t_large_export_intact() {
    local id a b t0 t1
    gw_ssh alice web01 -- 'head -c 6000000 /dev/urandom | base64' \
        < /dev/null > /dev/null 2>&1
    id=$(db "SELECT id FROM sessions ORDER BY start DESC LIMIT 1")
    wait_until 10 ctl verify "$id" > /dev/null 2>&1 || fail "not sealed"
    a=$(ctl export "$id" --format text | sha256sum)
    t0=$(date +%s%N)
    # a slow reader: flow control holds the command back, nothing is lost
    b=$(gw_ssh aki export "$id" --format text < "$AUDITOR_PP" |
        { sleep 2; cat; } | sha256sum)
    t1=$(date +%s%N)
    expect_eq "export over ssh is byte for byte sekishoctl's" "$a" "$b"
    log "  8 MB export over ssh with a reader 2 s late: $(( (t1 - t0) / 1000000 )) ms"
    t0=$(date +%s%N)
    ctl export "$id" --format text > /dev/null
    t1=$(date +%s%N)
    gw_ssh aki export "$id" --format text < "$AUDITOR_PP" > /dev/null
    log "  8 MB export: locally $(( (t1 - t0) / 1000000 )) ms, over ssh $(( ($(date +%s%N) - t1) / 1000000 )) ms"
}

# pty_size PID: "ROWS COLS" of the terminal on the process's stdin.
pty_size() { stty -F "$(readlink "/proc/$1/fd/0")" size 2>/dev/null; }
size_is() { [ "$(pty_size "$1")" = "$2" ]; }

t_resize_reaches_command() {
    local sock="$WORK/tmux-size.sock" tpid id cpid
    start_live 'sleep 20' || return
    tpid=$LIVE_PID
    id=$LIVE_ID
    tmux_ssh "$sock" aki watch "$id"
    wait_until 15 has_ctl_of aki || fail "watch did not start"
    cpid=$(ctl_children_of aki | head -1)
    wait_until 5 size_is "$cpid" "40 120" ||
        fail "initial size: $(pty_size "$cpid")"
    tmux -S "$sock" resize-window -x 100 -y 30
    wait_until 5 size_is "$cpid" "30 100" ||
        fail "size after resize: $(pty_size "$cpid")"
    tmux -S "$sock" kill-server 2>/dev/null
    wait "$tpid"
}

t_actor_from_root_shell_refused() {
    local out rc
    out=$(ctl --actor ann --via ssh user list 2>&1)
    rc=$?
    expect_eq "root --actor: exit" 1 "$rc"
    expect_contains "root --actor: why" "gateway's own session process" "$out"
    expect_not_contains "root --actor: nothing listed" "alice" "$out"
    audit_has actor_refused '"actor":"ann"' || fail "refusal not audited"
    # A socket on fd 3 from the shell proves nothing either.
    out=$(python3 -c '
import os, socket, subprocess, sys
a, b = socket.socketpair()
os.dup2(b.fileno(), 3)
sys.exit(subprocess.call(sys.argv[1:], pass_fds=(3,)))
' "$BIN/sekishoctl" -c "$CONF" --actor ann --via ssh user list 2>&1)
    expect_eq "fd-3 forgery: exit" 1 "$?"
    expect_not_contains "fd-3 forgery: nothing listed" "alice" "$out"
}

# Root by hand, and cleverer: make the socket, fork, and exec the REAL
# sekisho-session in the parent (sleeping in -D), so the child's parent
# is the session program and descriptor 3 is a socket that process made
# (SO_PEERCRED). Only the monitor that started the command can answer
# sekishoctl's fresh nonce: refused and audited with the invoker.
forge_done() { grep -qE "session process only|alice" "$WORK/forge.out"; }
t_actor_exec_forgery_refused() {
    local out spid
    : > "$WORK/forge.out"
    SUDO_USER=mallory python3 -c '
import os, socket, sys, time
sess, ctl, conf, out = sys.argv[1:5]
a, b = socket.socketpair()
if os.fork() == 0:
    for _ in range(200):  # until the parent is sekisho-session
        if os.readlink("/proc/%d/exe" % os.getppid()) == sess:
            break
        time.sleep(0.05)
    fd = os.open(out, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.dup2(b.fileno(), 3)
    os.execv(ctl, [ctl, "-c", conf, "--actor", "ann", "--via", "ssh",
                   "user", "list"])
os.execv(sess, [sess, "-c", conf, "-i", "-D", "20"])
' "$(readlink -f "$BIN/sekisho-session")" "$BIN/sekishoctl" "$CONF" \
        "$WORK/forge.out" < /dev/null > /dev/null 2>&1 &
    spid=$!
    wait_until 30 forge_done || fail "exec forgery: no outcome"
    sleep 0.5
    kill "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
    out=$(cat "$WORK/forge.out")
    expect_contains "exec forgery: refused" "gateway's own session process" \
        "$out"
    expect_not_contains "exec forgery: nothing listed" "alice" "$out"
    audit_has actor_refused "did not answer the proof" ||
        fail "exec forgery: refusal not audited with its reason"
    audit_has actor_refused "mallory" ||
        fail "exec forgery: the invoker is not named"
}

setup
run_test t_auditor_reads_over_ssh
run_test t_auditor_cannot_add_user
run_test t_admin_cannot_replay
run_test t_maintainer_refused
run_test t_options_naming_files_refused
run_test t_admin_over_stdin
run_test t_admin_adds_user_in_pty
run_test t_replay_over_pty
run_test t_role_withdrawn_ends_command
run_test t_key_on_stdin
run_test t_watch_live_session
run_test t_client_gone_kills_command
run_test t_resize_reaches_command
run_test t_large_export_intact
run_test t_no_self_grant_via_group
run_test t_no_own_factors_over_ssh
run_test t_no_own_group_limits_over_ssh
run_test t_export_while_rekeying
run_test t_actor_from_root_shell_refused
run_test t_actor_exec_forgery_refused
run_test t_no_sanitizer_reports
summary
