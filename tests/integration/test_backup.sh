#!/usr/bin/env bash
# Integration tests for backup and restore (issue 13, R-OPS-5): generations
# with hard links to unchanged files, a restore drill after the state is
# destroyed, refusal of tampered generations and of non-empty state, pruning
# to backup_generations, the auditor key only in its sealed form. Real sshd
# target, real ssh client, real gateway.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

BK="$WORK/backups"

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" \
        "lockout_threshold = 1000" "source_threshold = 1000" ||
        die "gw_init failed"
    # t_backup_restore_drill checks an unsealed key stays out, loudly
    gw_unsealed_auditor_key || die "no unsealed auditor key"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_target web01
    ctl grant add alice web01 --exec > /dev/null
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# session N: one recorded exec session; its output must come back.
session() {
    local out
    out=$(gw_ssh alice web01 -- "echo drill-$1-\$((40+2))" < /dev/null)
    expect_contains "session $1 ran" "drill-$1-42" "$out"
}

# backup: a new generation; its path in $GEN.
backup() {
    GEN=$(ctl backup "$BK" 2> "$WORK/backup.err")
    local rc=$?
    expect_eq "backup exit status ($(cat "$WORK/backup.err"))" 0 "$rc"
}

# in_gen GEN PATH: where PATH is kept inside generation GEN.
in_gen() { printf '%s/files%s' "$1" "$2"; }

transcripts() { find "$GW/transcripts" -type f -name '*.skt*' | sort; }
# (a function, so that wait_until counts again each time)
transcripts_more_than() { [ "$(transcripts | wc -l)" -gt "$1" ]; }

t_backup_restore_drill() {
    local g1 g2 t t_new n_before out f
    session 1
    session 2
    wait_until 5 transcripts_more_than 1 ||
        fail "no transcripts recorded"
    backup
    g1=$GEN
    [ -d "$g1" ] || { fail "no generation directory: '$g1'"; return; }
    # This gateway's auditor key is unsealed (init without a passphrase):
    # it stays out of the backup, loudly.
    expect_contains "unsealed auditor key: loud warning" \
        "WARNING: the auditor key $GW/auditor.key is NOT sealed" \
        "$(cat "$WORK/backup.err")"
    [ ! -e "$(in_gen "$g1" "$GW/auditor.key")" ] ||
        fail "unsealed auditor key copied"
    grep -q "auditor.key\$" "$g1/MANIFEST" && fail "unsealed key in manifest"
    grep '"event":"backup"' "$GW/audit.log" | tail -1 |
        grep -q '"auditor_key":"UNSEALED' || fail "unsealed key not audited"
    cp -a "$GW/auditor.key" "$WORK/escrowed-auditor.key"
    expect_eq "generation dir mode" 700 "$(stat -c %a "$g1")"
    expect_eq "manifest mode" 600 "$(stat -c %a "$g1/MANIFEST")"
    head -1 "$g1/MANIFEST" | grep -qx 'sekisho-backup-v1' ||
        fail "manifest magic missing"
    tail -1 "$g1/MANIFEST" | grep -q '^sig ed25519:' ||
        fail "manifest not signed"
    for f in state.db sekisho.conf audit.log host_ed25519_key egress_key \
        signing_key totp.key pam.d/sekisho; do
        [ -f "$(in_gen "$g1" "$GW/$f")" ] || fail "$f not in the backup"
    done
    # The database copy is a consistent, self-contained SQLite file.
    out=$(sqlite3 "$(in_gen "$g1" "$GW/state.db")" \
        'PRAGMA integrity_check; SELECT count(*) FROM users;' 2>&1)
    expect_contains "backed-up db intact" "ok" "$out"
    [ ! -e "$(in_gen "$g1" "$GW/state.db-wal")" ] ||
        fail "a WAL file was copied"
    audit_has backup "\"generation\":\"$(basename "$g1")\"" ||
        fail "backup not audited"
    grep '"event":"backup"' "$GW/audit.log" | tail -1 |
        grep -q '"files":[1-9][0-9]*,"bytes":[1-9]' ||
        fail "backup audit line lacks file count and bytes"
    for t in $(transcripts); do
        expect_eq "transcript copy mode" \
            "$(stat -c %a "$t")" "$(stat -c %a "$(in_gen "$g1" "$t")")"
    done
    n_before=$(transcripts | wc -l)
    sleep 1 # a new generation name (one a second, then -NN)
    session 3
    wait_until 5 transcripts_more_than "$n_before" ||
        fail "third transcript missing"
    backup
    g2=$GEN
    expect_eq "two generations" 2 "$(ls -d "$BK"/sekisho-* | wc -l)"
    # Unchanged transcripts are hard links to the first generation's; the
    # new one and the database are copies.
    for t in $(transcripts); do
        if [ -e "$(in_gen "$g1" "$t")" ]; then
            expect_eq "unchanged $t linked (inode)" \
                "$(stat -c %i "$(in_gen "$g1" "$t")")" \
                "$(stat -c %i "$(in_gen "$g2" "$t")")"
            expect_eq "unchanged $t link count" 2 \
                "$(stat -c %h "$(in_gen "$g2" "$t")")"
        else
            t_new=$t
            expect_eq "new transcript copied" 1 \
                "$(stat -c %h "$(in_gen "$g2" "$t")")"
        fi
    done
    [ -n "${t_new:-}" ] || fail "no new transcript in the second generation"
    expect_eq "database copied, not linked" 1 \
        "$(stat -c %h "$(in_gen "$g2" "$GW/state.db")")"
    # The drill: the whole state directory (config included) is lost.
    gw_stop
    rm -rf "$GW"
    out=$(ctl restore "$g2" 2>&1)
    expect_eq "restore exit status ($out)" 0 "$?"
    expect_contains "restore says what to check" "verify --all" "$out"
    expect_contains "restore names the missing auditor key" \
        "auditor key $GW/auditor.key was not in this backup" "$out"
    [ ! -e "$GW/auditor.key" ] || fail "auditor key appeared from nowhere"
    # Without it, content is lost but integrity is checkable (below);
    # the escrowed copy goes back by hand.
    out=$(ctl export "$(basename "$t_new" .skt)" --format text 2>&1)
    expect_eq "no auditor key: export refused" 1 "$?"
    cp -a "$WORK/escrowed-auditor.key" "$GW/auditor.key"
    out=$(ctl export "$(basename "$t_new" .skt)" --format text 2>&1)
    expect_contains "escrowed key back: content readable" "drill-3-42" "$out"
    out=$(ctl verify --all 2>&1)
    expect_eq "verify --all after restore ($out)" 0 "$?"
    expect_eq "sessions after restore" 3 \
        "$(ctl session list --json | jq length)"
    expect_eq "transcript modes restored" 600 \
        "$(stat -c %a "$t_new")"
    expect_eq "state dir mode restored" 700 "$(stat -c %a "$GW")"
    audit_has restore "\"generation\":\"$(basename "$g2")\"" ||
        fail "restore not audited in the restored log"
    out=$(ctl audit verify 2>&1)
    expect_eq "restored audit chain with the restore line ($out)" 0 "$?"
    gw_start || { fail "gateway does not start after restore"; return; }
    session 4
    out=$(ctl verify --all 2>&1)
    expect_eq "verify --all after a new session ($out)" 0 "$?"
}

t_restore_refuses_nonempty_state() {
    local g out
    g=$(ls -d "$BK"/sekisho-* | tail -1)
    out=$(ctl restore "$g" 2>&1)
    expect_eq "restore over live state: exit status" 1 "$?"
    expect_contains "restore over live state: says why" "is not empty" "$out"
    out=$(ctl audit verify 2>&1)
    expect_eq "live audit log untouched ($out)" 0 "$?"
}

t_restore_refuses_tampered() {
    local g copy t out h
    g=$(ls -d "$BK"/sekisho-* | tail -1)
    mkdir -p "$WORK/tamper"
    cp -a "$g" "$WORK/tamper/"
    copy="$WORK/tamper/$(basename "$g")"
    t=$(grep '^file .*\.skt' "$copy/MANIFEST" | head -1 | awk '{print $6}')
    [ -n "$t" ] || { fail "no transcript in the manifest"; return; }
    gw_stop
    mv "$GW" "$WORK/gw.aside"
    # One byte of one transcript changed: the hash check refuses.
    printf 'X' | dd of="$(in_gen "$copy" "$t")" bs=1 seek=200 conv=notrunc \
        2> /dev/null
    out=$(ctl restore "$copy" 2>&1)
    expect_eq "tampered file: exit status" 1 "$?"
    expect_contains "tampered file named" "does not match its manifest" "$out"
    [ ! -e "$GW" ] || fail "a refused restore wrote into the state dir"
    # The manifest changed to match: the signature refuses.
    h=$(b2sum -l 256 "$(in_gen "$copy" "$t")" | cut -d' ' -f1)
    sed -i "s|^\(file [0-7]* [0-9]* [0-9]* \)[0-9a-f]* $t\$|\1$h $t|" \
        "$copy/MANIFEST"
    grep -q " $h $t\$" "$copy/MANIFEST" || fail "manifest edit failed"
    out=$(ctl restore "$copy" 2>&1)
    expect_eq "re-hashed manifest: exit status" 1 "$?"
    expect_contains "re-hashed manifest: signature" "signature" "$out"
    [ ! -e "$GW" ] || fail "a refused restore wrote into the state dir"
    mv "$WORK/gw.aside" "$GW"
    gw_start || fail "gateway does not start again"
}

t_restore_only_configured_paths() {
    local g out
    g=$(ls -d "$BK"/sekisho-* | tail -1)
    # Another installation's configuration (state elsewhere) trusting the
    # same signing key: the signature is good, but the manifest names
    # files outside what this configuration names, so nothing is written.
    sed -e "s|^state_dir = .*|state_dir = $WORK/other|" \
        -e "s|^#signing_pubkeys = .*|signing_pubkeys = $GW/signing_key.pub|" \
        "$CONF" > "$WORK/other.conf"
    out=$("$BIN/sekishoctl" -c "$WORK/other.conf" restore "$g" 2>&1)
    expect_eq "foreign paths: exit status" 1 "$?"
    expect_contains "foreign paths: says why" "outside what" "$out"
    [ ! -e "$WORK/other" ] || fail "a refused restore created $WORK/other"
}

t_generations_pruned() {
    local i n
    mkdir -p "$BK/sekisho-foreign" "$BK/.tmp-sekisho-20000101T000000Z"
    sed -i "s|^#backup_generations = .*|backup_generations = 2|" "$CONF"
    grep -q '^backup_generations = 2$' "$CONF" ||
        { fail "backup_generations not settable"; return; }
    # Several in one second: each new generation is the one kept (a name
    # pruning freed in that second sorted first, and was pruned at once).
    for i in 1 2 3 4 5 6; do
        backup
        [ -f "$GEN/MANIFEST" ] || fail "backup $i: its own generation $GEN pruned"
    done
    n=$(for g in "$BK"/sekisho-*; do
        [ -f "$g/MANIFEST" ] && echo "$g"
    done | wc -l)
    expect_eq "generations kept" 2 "$n"
    expect_eq "the newest kept" "$GEN" "$(ls -d "$BK"/sekisho-2* | tail -1)"
    [ -d "$BK/sekisho-foreign" ] || fail "a directory it did not make removed"
    [ -d "$BK/.tmp-sekisho-20000101T000000Z" ] ||
        fail "an unfinished generation removed"
    grep '"event":"backup"' "$GW/audit.log" | tail -1 |
        grep -q '"pruned":1' || fail "pruning not audited"
    out=$(ctl backup "$GW/inside" 2>&1)
    expect_eq "backup into the state dir: exit status" 1 "$?"
    expect_contains "backup into the state dir: says why" "outside" "$out"
}

t_auditor_key_sealed_only() {
    local out g2 g
    # A gateway made with a passphrase: its sealed key is backed up.
    printf 'a long auditor passphrase\n' > "$WORK/pp"
    g2="$WORK/gw2"
    "$BIN/sekishoctl" init --dir "$g2" --listen "127.0.0.1:$(free_port)" \
        --auditor-passphrase-file "$WORK/pp" > /dev/null 2>&1 ||
        { fail "init with passphrase failed"; return; }
    out=$("$BIN/sekishoctl" -c "$g2/sekisho.conf" backup "$WORK/bk2" 2>&1)
    expect_eq "backup of gw2 ($out)" 0 "$?"
    expect_not_contains "sealed key: no warning" "WARNING" "$out"
    g=$(ls -d "$WORK/bk2"/sekisho-* | tail -1)
    head -1 "$(in_gen "$g" "$g2/auditor.key")" 2> /dev/null |
        grep -qx 'sekisho-x25519-secret-v1-argon2id' ||
        fail "sealed auditor key not in the backup"
}

t_config_and_logs_elsewhere() {
    local g3="$WORK/gw3" c3 out g
    # The packaged layout: configuration, audit log (with a rotated file)
    # and PAM file outside state_dir.
    "$BIN/sekishoctl" init --dir "$g3" --listen "127.0.0.1:$(free_port)" \
        > /dev/null 2>&1 || { fail "init gw3 failed"; return; }
    mkdir -p "$WORK/etc3/pam.d" "$WORK/log3"
    c3="$WORK/etc3/sekisho.conf"
    sed -e "s|^#audit_log = .*|audit_log = $WORK/log3/audit.log|" \
        -e "s|^#pam_dir = .*|pam_dir = $WORK/etc3/pam.d|" \
        "$g3/sekisho.conf" > "$c3"
    rm "$g3/sekisho.conf"
    mv "$g3/pam.d/sekisho" "$WORK/etc3/pam.d/sekisho"
    printf 'an unrelated PAM file\n' > "$WORK/etc3/pam.d/other"
    "$BIN/sekishoctl" -c "$c3" audit verify > /dev/null 2>&1
    cp "$WORK/log3/audit.log" "$WORK/log3/audit.log.1" 2> /dev/null ||
        printf '' > "$WORK/log3/audit.log.1"
    out=$("$BIN/sekishoctl" -c "$c3" backup "$WORK/bk3" 2>&1)
    expect_eq "backup gw3 ($out)" 0 "$?"
    g=$(ls -d "$WORK/bk3"/sekisho-* | tail -1)
    for f in "$c3" "$WORK/log3/audit.log" "$WORK/log3/audit.log.1" \
        "$WORK/etc3/pam.d/sekisho"; do
        [ -f "$(in_gen "$g" "$f")" ] || fail "$f not in the backup"
    done
    [ ! -e "$(in_gen "$g" "$WORK/etc3/pam.d/other")" ] ||
        fail "another service's PAM file backed up"
    # The disk with state and logs is lost; /etc survived.
    rm -rf "$g3" "$WORK/log3"
    out=$("$BIN/sekishoctl" -c "$c3" restore "$g" 2>&1)
    expect_eq "restore gw3 ($out)" 0 "$?"
    [ -f "$WORK/log3/audit.log.1" ] || fail "rotated audit log not restored"
    out=$("$BIN/sekishoctl" -c "$c3" audit verify 2>&1)
    expect_eq "gw3 audit verify after restore ($out)" 0 "$?"
    # An /etc file changed since the backup is not overwritten.
    rm -rf "$g3" "$WORK/log3"
    echo "# edited" >> "$c3"
    out=$("$BIN/sekishoctl" -c "$c3" restore "$g" 2>&1)
    expect_eq "changed config: exit status" 1 "$?"
    expect_contains "changed config named" "$c3 exists and differs" "$out"
}

setup
run_test t_backup_restore_drill
run_test t_restore_refuses_nonempty_state
run_test t_restore_refuses_tampered
run_test t_restore_only_configured_paths
run_test t_generations_pruned
run_test t_auditor_key_sealed_only
run_test t_config_and_logs_elsewhere
run_test t_no_sanitizer_reports
summary
