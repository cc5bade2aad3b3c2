#!/usr/bin/env bash
# Integration tests for roles and separated duties (issue 14, R-ID-1,
# R-AC-3, R-AC-4, R-LOG-5): role sets changed with who, old, new and why
# in the audit log; admin alone does not approve; root's sekishoctl is
# break-glass, audited with the login behind it and listed by the
# inspection report; grants need a reason, shown in grant list and report
# privileges; the auditor key is always sealed (init, key seal) and a
# second auditor key opens new sessions; init makes the first admin a
# person. Real sshd target, real ssh client, real gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

VERIFY="$BUILD/recorder/sekisho-verify"

setup() {
    # the product's default, which lib.sh relaxes for the other suites
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" \
        "grant_reason_required = yes" ||
        die "gw_init failed"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_target web01
    ctl grant add alice web01 --exec --reason "INC-1 base access" \
        > /dev/null || die "grant with a reason failed"
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

last_session() { db "SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1"; }
transcript_of() { db "SELECT transcript FROM sessions WHERE id='$1'"; }
session_ended() { [ "$(db "SELECT end FROM sessions WHERE id='$1'")" != 0 ]; }

# exec_session WORD: one recorded exec session printing WORD-42; its id
# in $SID once it has ended.
exec_session() {
    local out
    out=$(gw_ssh alice web01 -- "echo $1-\$((40+2))" < /dev/null 2>&1)
    expect_contains "session $1 ran" "$1-42" "$out"
    SID=$(last_session)
    wait_until 10 session_ended "$SID" || fail "session $SID never ended"
}

# The last audit line of EVENT.
last_audit() { grep "\"event\":\"$1\"" "$GW/audit.log" | tail -1; }

t_role_sets_audited() {
    local out line
    add_user rin --role approver,auditor || fail "add with a role set"
    expect_contains "show prints the set" "role: approver,auditor" \
        "$(ctl user show rin)"
    expect_contains "list prints the set" "approver,auditor" \
        "$(ctl user list | grep '^rin ')"
    out=$(ctl user role rin +maintainer -approver --reason "moves to ops")
    expect_eq "two changes at once: exit" 0 "$?"
    expect_contains "old and new" \
        "now maintainer,auditor (was approver,auditor)" "$out"
    line=$(last_audit user_role)
    expect_contains "audited: new set" '"role":"maintainer,auditor"' "$line"
    expect_contains "audited: old set" '"from":"approver,auditor"' "$line"
    expect_contains "audited: why" '"reason":"moves to ops"' "$line"
    expect_contains "audited: the changes" \
        '"changes":"+maintainer -approver"' "$line"
    expect_contains "audited: who" "\"admin\":\"$(id -un)\"" "$line"
    # admin rights are the formal step: a reason or nothing
    out=$(ctl user role rin +admin 2>&1)
    expect_eq "admin without a reason: refused" 1 "$?"
    expect_contains "says what is missing" "--reason" "$out"
    expect_contains "unchanged" "role: maintainer,auditor" \
        "$(ctl user show rin)"
    out=$(ctl user role rin +admin --reason "CAB-7: second admin")
    expect_eq "admin with a reason" 0 "$?"
    expect_contains "audited with the reason" '"reason":"CAB-7: second admin"' \
        "$(last_audit user_role)"
    out=$(ctl user role rin +root 2>&1)
    expect_eq "no such role: usage" 2 "$?"
    out=$(ctl user add rex --role auditor,superuser --password-stdin \
        < /dev/null 2>&1)
    expect_eq "add with a bad set: usage" 2 "$?"
    add_user roy --role admin --reason "CAB-8: admin for the night shift" ||
        fail "add an admin with a reason"
    expect_contains "add audited with the reason" \
        '"reason":"CAB-8: admin for the night shift"' "$(last_audit user_add)"
    # a bare set replaces, in canonical order whatever the order given
    out=$(ctl user role rin admin,auditor --reason "back to audit+admin")
    expect_contains "bare set replaces" "now auditor,admin" "$out"
    expect_eq "store holds the canonical set" "auditor,admin" \
        "$(db "SELECT role FROM users WHERE name='rin'")"
}

# Separated duties: an admin who is not also an approver decides nothing.
t_admin_alone_cannot_approve() {
    local out id
    add_user ada --role admin
    add_user abe --role approver
    out=$(gw_ssh alice request web01 --reason swap the fan --for 1h \
        < /dev/null 2>&1)
    id=$(printf '%s' "$out" | sed -n 's/.*request \([0-9]*\) filed.*/\1/p')
    [ -n "$id" ] || { fail "no request id in: $out"; return; }
    out=$(gw_ssh ada approve "$id" < /dev/null 2>&1)
    expect_eq "admin alone: refused" 1 "$?"
    expect_contains "says why" "only approvers" "$out"
    out=$(gw_ssh abe approve "$id" < /dev/null 2>&1)
    expect_eq "the approver approves" 0 "$?"
}

t_break_glass_audited() {
    local out line before uid
    add_user bea
    # reading state that is no transcript: no break-glass
    before=$(grep -c '"event":"break_glass"' "$GW/audit.log")
    ctl user list > /dev/null
    ctl grant list > /dev/null
    expect_eq "a list breaks no glass" "$before" \
        "$(grep -c '"event":"break_glass"' "$GW/audit.log")"
    # sudo from a person's login: that login is named
    SUDO_USER=ops-kenta ctl user lock bea > /dev/null ||
        fail "lock failed"
    line=$(last_audit break_glass)
    expect_contains "the command" '"command":"user lock bea"' "$line"
    expect_contains "SUDO_USER" '"sudo_user":"ops-kenta"' "$line"
    expect_contains "the tty" '"tty":' "$line"
    expect_contains "per-action line names the login" \
        '"admin":"ops-kenta"' "$(last_audit user_lock)"
    # the kernel's login uid wins over SUDO_USER (set at login, kept
    # across su/sudo); writable here only with CAP_AUDIT_CONTROL
    uid=$(id -u "$TLOGIN")
    if (echo "$uid" > /proc/self/loginuid) 2> /dev/null; then
        (echo "$uid" > /proc/self/loginuid &&
            SUDO_USER=someone-else exec "$BIN/sekishoctl" -c "$CONF" \
                user unlock bea > /dev/null) || fail "unlock failed"
        line=$(last_audit break_glass)
        expect_contains "loginuid's name" "\"login\":\"$TLOGIN\"" "$line"
        expect_contains "loginuid" "\"loginuid\":$uid" "$line"
        expect_contains "admin = the login" "\"admin\":\"$TLOGIN\"" \
            "$(last_audit user_unlock)"
    else
        log "  (no CAP_AUDIT_CONTROL: loginuid case skipped)"
        ctl user unlock bea > /dev/null
    fi
    # checking integrity shows no content: no break-glass
    before=$(grep -c '"event":"break_glass"' "$GW/audit.log")
    ctl verify --all --quiet > /dev/null 2>&1
    ctl audit verify > /dev/null 2>&1
    expect_eq "verify breaks no glass" "$before" \
        "$(grep -c '"event":"break_glass"' "$GW/audit.log")"
    # reading transcripts is break-glass
    ctl search no-such-text > /dev/null 2>&1
    expect_contains "search is break-glass" '"command":"search no-such-text"' \
        "$(last_audit break_glass)"
    ctl egress-key --group bg01 --create > /dev/null 2>&1
    expect_contains "a new egress key is break-glass" \
        '"command":"egress-key --group bg01 --create"' \
        "$(last_audit break_glass)"
    out=$(ctl report inspection)
    expect_contains "inspection lists it" "break-glass use" "$out"
    expect_contains "with the login and command" "user lock bea" \
        "$(printf '%s\n' "$out" | grep 'break-glass use' | grep ops-kenta)"
}

t_grant_reason() {
    local out
    add_user gin
    out=$(ctl grant add gin web01 --exec 2>&1)
    expect_eq "no --reason: usage" 2 "$?"
    expect_contains "names the option" "--reason TEXT is missing" "$out"
    expect_eq "nothing granted" "" "$(ctl grant list gin)"
    ctl grant add gin web01 --exec --until +8h \
        --reason "CHG-42 replace disk" > /dev/null || fail "grant failed"
    expect_contains "grant list: reason" "reason CHG-42 replace disk" \
        "$(ctl grant list gin)"
    expect_contains "audited with the reason" '"reason":"CHG-42 replace disk"' \
        "$(last_audit grant_add)"
    out=$(ctl report privileges)
    expect_contains "report text: header" "reason" "$(printf '%s\n' "$out" |
        head -1)"
    expect_contains "report text: reason" "CHG-42 replace disk" \
        "$(printf '%s\n' "$out" | grep '^gin ')"
    out=$(ctl report privileges --format csv)
    expect_contains "csv header" '"granted_by","live","reason"' "$out"
    expect_contains "csv row: granted by whom, why" \
        "\"$(id -un)\",\"yes\",\"CHG-42 replace disk\"" \
        "$(printf '%s\n' "$out" | grep '^"gin"')"
    out=$(ctl report privileges --format json)
    printf '%s' "$out" | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["user"] == "gin"]
assert rows and rows[0]["reason"] == "CHG-42 replace disk", rows
assert rows[0]["until"] != "-" and rows[0]["granted_by"], rows
' || fail "json: no reason, until or granted_by for gin: $out"
    # relaxed by configuration
    sed -i "s|^grant_reason_required = yes|grant_reason_required = no|" \
        "$CONF"
    add_user gus
    ctl grant add gus web01 > /dev/null
    expect_eq "relaxed: accepted" 0 "$?"
    expect_contains "no reason shown as -" "reason -" "$(ctl grant list gus)"
    sed -i "s|^grant_reason_required = no|grant_reason_required = yes|" \
        "$CONF"
}

# A sealed key opens with its passphrase only.
t_sealed_key_needs_passphrase() {
    local out
    exec_session sealed
    head -1 "$GW/auditor.key" | grep -qx 'sekisho-x25519-secret-v1-argon2id' ||
        fail "init left the auditor key unsealed"
    out=$("$BIN/sekishoctl" -c "$CONF" export "$SID" --format text \
        < /dev/null 2>&1)
    expect_eq "no passphrase: refused" 1 "$?"
    expect_contains "says why" "passphrase missing or wrong" "$out"
    expect_not_contains "nothing shown" "sealed-42" "$out"
    printf 'not the passphrase at all\n' > "$WORK/wrong.pp"
    out=$("$BIN/sekishoctl" -c "$CONF" export "$SID" --format text \
        --passphrase-file "$WORK/wrong.pp" < /dev/null 2>&1)
    expect_eq "wrong passphrase: refused" 1 "$?"
    expect_not_contains "nothing shown" "sealed-42" "$out"
    out=$(ctl export "$SID" --format text)
    expect_contains "with the passphrase" "sealed-42" "$out"
}

# An old installation's open key is sealed in place; what it could open
# it still opens, now only with the passphrase.
t_key_seal() {
    local out mode
    gw_unsealed_auditor_key || { fail "no unsealed key"; return; }
    exec_session preseal
    out=$("$BIN/sekishoctl" -c "$CONF" export "$SID" --format text \
        < /dev/null 2>&1)
    expect_contains "open key: readable by root alone" "preseal-42" "$out"
    out=$(ctl key seal --passphrase-file "$AUDITOR_PP")
    expect_eq "seal exit" 0 "$?"
    expect_contains "says so" "sealed" "$out"
    head -1 "$GW/auditor.key" | grep -qx 'sekisho-x25519-secret-v1-argon2id' ||
        fail "key not sealed"
    mode=$(stat -c %a "$GW/auditor.key")
    expect_eq "mode" 600 "$mode"
    [ -e "$GW/auditor.key.new" ] && fail "temporary file left"
    audit_has auditor_key_sealed "\"path\":\"$GW/auditor.key\"" ||
        fail "seal not audited"
    out=$("$BIN/sekishoctl" -c "$CONF" export "$SID" --format text \
        < /dev/null 2>&1)
    expect_eq "sealed: no passphrase, refused" 1 "$?"
    expect_contains "with the passphrase" "preseal-42" \
        "$(ctl export "$SID" --format text)"
    expect_contains "twice: already sealed" "already sealed" \
        "$(ctl key seal --passphrase-file "$AUDITOR_PP")"
}

t_second_auditor_key() {
    local out old
    exec_session before-aki
    old=$SID
    printf 'aki has her own passphrase\n' > "$WORK/aki.pp"
    out=$(ctl key add-auditor aki --passphrase-file "$WORK/aki.pp")
    expect_eq "add-auditor exit" 0 "$?"
    grep -q "^auditor_pubkeys = .*auditor-aki.pub" "$CONF" ||
        fail "public key not in auditor_pubkeys: $(grep auditor_pubkeys "$CONF")"
    head -1 "$GW/auditor-aki.key" |
        grep -qx 'sekisho-x25519-secret-v1-argon2id' || fail "aki's key open"
    audit_has auditor_key_added '"auditor":"aki"' ||
        fail "add-auditor not audited"
    exec_session after-aki
    cp "$(transcript_of "$SID")" "$WORK/new.skt"
    cp "$(transcript_of "$old")" "$WORK/old.skt"
    rm -f "$WORK/new.txt" "$WORK/old.txt"
    out=$("$VERIFY" -k "$GW/signing_key.pub" --export text \
        --auditor-key "$GW/auditor-aki.key" --passphrase-file "$WORK/aki.pp" \
        -o "$WORK/new.txt" "$WORK/new.skt" 2>&1)
    expect_eq "aki opens a new session ($out)" 0 "$?"
    expect_contains "its text" "after-aki-42" "$(cat "$WORK/new.txt")"
    "$VERIFY" -k "$GW/signing_key.pub" --export text \
        --auditor-key "$GW/auditor-aki.key" --passphrase-file "$WORK/aki.pp" \
        -o "$WORK/old.txt" "$WORK/old.skt" > /dev/null 2>&1 &&
        fail "aki opened a session recorded before her key"
    expect_contains "the first key still opens the new one" "after-aki-42" \
        "$(ctl export "$SID" --format text)"
}

t_init_first_admin() {
    local out err d="$WORK/g3" pass
    out=$(printf '%s\n' "$PW" | "$BIN/sekishoctl" init --dir "$d" \
        --listen "127.0.0.1:$(free_port)" --admin ann \
        --admin-password-stdin 2> "$WORK/init.err")
    expect_eq "init --admin exit ($(cat "$WORK/init.err"))" 0 "$?"
    err=$(cat "$WORK/init.err")
    expect_contains "egress line first" "sekisho-egress" \
        "$(printf '%s\n' "$out" | head -1)"
    expect_contains "TOTP enrolment" "otpauth://totp/" "$out"
    out=$("$BIN/sekishoctl" -c "$d/sekisho.conf" user show ann)
    expect_contains "an admin" "role: admin" "$out"
    expect_contains "active" "status: active" "$out"
    grep '"event":"user_add"' "$d/audit.log" | grep '"role":"admin"' |
        grep -q '"reason":"the first admin, made by sekishoctl init"' ||
        fail "first admin not audited with why"
    # no passphrase file: a strong one, shown once, seals the key
    expect_contains "passphrase shown" "AUDITOR KEY PASSPHRASE" "$err"
    expect_contains "store it offline" "OFFLINE" "$err"
    pass=$(printf '%s\n' "$err" | grep -A2 'AUDITOR KEY PASSPHRASE' |
        tail -1 | tr -d ' ')
    [ "${#pass}" -ge 30 ] || fail "generated passphrase too short: '$pass'"
    head -1 "$d/auditor.key" | grep -qx 'sekisho-x25519-secret-v1-argon2id' ||
        fail "init without a passphrase file left the key open"
    grep -rqF -- "$pass" "$d" && fail "the passphrase was stored"
    # without --admin: says how to make one
    "$BIN/sekishoctl" init --dir "$WORK/g4" --listen "127.0.0.1:$(free_port)" \
        --auditor-passphrase-file "$AUDITOR_PP" > /dev/null 2> "$WORK/init4.err"
    expect_contains "how to make the first admin" "user add NAME --role admin" \
        "$(cat "$WORK/init4.err")"
    expect_not_contains "a given passphrase is not shown" \
        "AUDITOR KEY PASSPHRASE" "$(cat "$WORK/init4.err")"
}

setup
run_test t_role_sets_audited
run_test t_admin_alone_cannot_approve
run_test t_break_glass_audited
run_test t_grant_reason
run_test t_sealed_key_needs_passphrase
run_test t_key_seal
run_test t_second_auditor_key
run_test t_init_first_admin
run_test t_no_sanitizer_reports
summary
