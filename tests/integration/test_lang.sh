#!/usr/bin/env bash
# Integration tests for the gateway's languages (issue 15): prompts before
# login in the gateway's `language` (ja: Japanese, then the English),
# everything after login in the client's LANG > the user's own (sekishoctl
# user lang) > the gateway's; the Japanese menu lines up by display width
# on a real 80-column terminal; English is unchanged on a default gateway.
# The worker is sandboxed: its Japanese proves the catalogue was loaded
# before the sandbox (it can open nothing after).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

JA=ja_JP.UTF-8

# The client's locale need not exist for ssh to send LANG, but tmux draws
# the Japanese menu only in a UTF-8 locale: make ja_JP.UTF-8 if missing
# (Debian's locales package, deploy/deps.sh).
have_ja_locale() { locale -a 2>/dev/null | grep -qix 'ja_JP.utf8'; }
if ! have_ja_locale; then
    localedef -i ja_JP -f UTF-8 ja_JP.UTF-8 2>> "$WORK/localedef.log" ||
        die "localedef ja_JP.UTF-8 failed: $(cat "$WORK/localedef.log")"
fi

setup() {
    gw_init "connect_timeout = 5" "second_factor = none" "language = ja" \
        "locale_dir = $BUILD/locale" "lockout_threshold = 1000" \
        "source_threshold = 1000" "idle_timeout = 6" \
        "timezone = Asia/Tokyo" ||
        die "gw_init failed"
    grep -q '^language = ja' "$CONF" || die "language not set in $CONF"
    grep -q "^locale_dir = $BUILD/locale" "$CONF" || die "locale_dir not set"
    start_target web01 || die "target web01 failed to start"
    add_user alice
    add_user bob
    # carol alone has a second factor (each code works once: the others
    # log in many times a minute)
    add_user carol
    ctl user methods carol password+totp > /dev/null || die "carol's methods"
    add_target web01
    ctl grant add alice web01 --exec > /dev/null
    ctl grant add bob web01 > /dev/null
    gw_start || die "gateway failed to start: $(cat "$WORK/gw.log")"
}

# ja_ssh USER [args]: gw_ssh with the client's LANG=ja_JP.UTF-8 sent.
ja_ssh() {
    local user=$1
    shift
    LANG=$JA gw_ssh "$user" -oSendEnv=LANG "$@"
}

# Before login: the gateway's language, Japanese then English, for every
# name alike (the user's own setting is never read before login).
t_ja_prompts() {
    local p="$WORK/prompts.ja" out
    : > "$p"
    ctl grant add carol web01 > /dev/null
    out=$(SKPROMPTS=$p SKCODE=$(totp carol) gw_ssh carol targets \
        < /dev/null 2>&1)
    expect_contains "logged in" "web01" "$out"
    expect_contains "password prompt in Japanese" "パスワード" "$(cat "$p")"
    expect_contains "... and English" "Password" "$(cat "$p")"
    expect_contains "code prompt in Japanese" "確認コード" "$(cat "$p")"
    expect_contains "... and English" "Verification code" "$(cat "$p")"
    # A name that does not exist sees the same prompts.
    : > "$p"
    SKPROMPTS=$p SKPW=wrong gw_ssh nosuchuser targets \
        < /dev/null > /dev/null 2>&1
    expect_contains "unknown user: Japanese prompt too" "パスワード (Password)" \
        "$(cat "$p")"
    # An expired password: the change prompts, both languages.
    add_user dave
    ctl user expire-password dave > /dev/null || fail "expire-password"
    : > "$p"
    SKPROMPTS=$p SKNEWPW='Fresh-Lantern-7-Orbit!' gw_ssh dave targets \
        < /dev/null > /dev/null 2>&1
    expect_contains "new password prompt" "新しいパスワード (New password)" \
        "$(cat "$p")"
    expect_contains "retype prompt" \
        "新しいパスワード（再入力） (Retype new password)" "$(cat "$p")"
}

# After login with the client's LANG: a refusal from the monitor, the
# help and a blocked transfer from the sandboxed worker, in Japanese.
t_ja_after_login() {
    local out
    out=$(ja_ssh alice web02 -- true < /dev/null 2>&1)
    expect_contains "refusal in Japanese" \
        "接続先が存在しないか、接続が許可されていません" "$out"
    out=$(ja_ssh bob web01 -- true < /dev/null 2>&1)
    expect_contains "exec refusal in Japanese" \
        "この接続先ではコマンドの実行は許可されていません" "$out"
    out=$(ja_ssh alice help < /dev/null 2>&1)
    expect_contains "help in Japanese" "関所ゲートウェイのコマンド" "$out"
    out=$(ja_ssh alice -tt web01 -- \
        "printf 'rz\r**\030B00000000000000\r\212\021'; echo; echo after" \
        < /dev/null 2>&1)
    expect_contains "transfer refusal in Japanese" "ファイル転送を遮断しました" \
        "$out"
    expect_contains "session went on" "after" "$out"
    # the passwd command: its prompts and the monitor's reason
    out=$( (sleep 1; printf 'wrong\r'; sleep 0.3
        printf 'Fresh-Lantern-7-Orbit!\r'; sleep 0.3
        printf 'Fresh-Lantern-7-Orbit!\r'; sleep 1; printf '\003'
        sleep 1) | ja_ssh alice -tt passwd 2>&1)
    expect_contains "passwd prompt" "現在のパスワード (Current password)" "$out"
    expect_contains "passwd reason in Japanese" \
        "パスワードは変更されませんでした: 現在のパスワードが正しくありません" \
        "$out"
}

# An administrator's kill: the gateway's words in Japanese around the
# admin's own text (the audit line keeps the English).
t_ja_kill_reason() {
    local id pid
    ja_ssh alice web01 -- 'for i in $(seq 1 100); do echo kill-me-$i; sleep 0.2; done' \
        > "$WORK/k.out" 2> "$WORK/k.err" < /dev/null &
    pid=$!
    wait_until 10 grep -q kill-me-3 "$WORK/k.out" || fail "no output"
    id=$(db "SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1")
    ctl session kill "$id" --reason "保守作業の終了" > /dev/null ||
        fail "kill refused"
    wait "$pid" 2>/dev/null
    expect_contains "told in Japanese" \
        "ゲートウェイがセッションを終了しました: 管理者が終了させました。理由: 保守作業の終了" \
        "$(cat "$WORK/k.err")"
    audit_soon session_terminated \
        '"reason":"ended by an administrator: 保守作業の終了"' ||
        fail "audit line not the English reason"
}

# The idle warning and the end, in Japanese (idle_timeout = 6: warned
# at 5 s).
t_ja_idle_warning() {
    local out
    out=$( (sleep 1; printf 'echo typed\n'; sleep 10) |
        ja_ssh alice -tt web01 2>&1)
    expect_contains "warning in Japanese" "秒間入力がありません" "$out"
    expect_contains "end in Japanese" "無操作の時間が上限を超えた" "$out"
}

# Requests over SSH in Japanese, their windows in the gateway's zone with
# the zone named; JSON and the audit log stay UTC.
t_ja_requests_local_time() {
    local out id
    out=$(ja_ssh alice request web01 --reason 点検 --for 2h < /dev/null 2>&1)
    expect_contains "filed, in Japanese" "申請を受け付けました" "$out"
    id=$(printf '%s' "$out" | grep -o 'request [0-9]*' | head -1 | cut -d' ' -f2)
    [ -n "$id" ] || fail "no request id (scripts read 'request N'): $out"
    out=$(ja_ssh alice requests < /dev/null 2>&1)
    expect_contains "status in Japanese" "[承認待ち]" "$out"
    printf '%s\n' "$out" | grep -Eq \
        "^$id web01 alice .* 20[0-9-]{8} [0-9]{2}:[0-9]{2} JST\.\.20[0-9-]{8} [0-9]{2}:[0-9]{2} JST 点検" ||
        fail "window not in JST, zone named: $out"
    # the same start, as JST wall time of the stored UTC instant
    local start
    start=$(db "SELECT start FROM requests WHERE id = $id")
    expect_contains "JST is UTC+9" \
        "$(TZ=Asia/Tokyo date -d "@$start" '+%Y-%m-%d %H:%M JST')" "$out"
    out=$(LANG=$JA ctl request list --json)
    printf '%s' "$out" | python3 -c '
import json, sys
r = [q for q in json.load(sys.stdin) if q["id"] == int(sys.argv[1])][0]
assert r["start"].endswith("Z") and r["status"] == "awaiting approval", r
' "$id" || fail "request list --json not UTC/English: $out"
    audit_has request_created "\"request\":$id" || fail "not audited"
    expect_not_contains "audit line English/UTC" "JST" \
        "$(grep request_created "$GW/audit.log")"
}

# display_col TEXT NEEDLE: the terminal column NEEDLE starts at in TEXT
# (East Asian wide characters take two).
display_col() {
    python3 -c '
import sys, unicodedata
line, needle = sys.argv[1], sys.argv[2]
i = line.find(needle)
if i < 0:
    print(-1); sys.exit()
print(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1
          for c in line[:i]))' "$1" "$2"
}

# The menu on a real 80-column terminal (tmux, LANG=ja_JP.UTF-8): the
# Japanese headers and the target rows line up by display width.
t_ja_menu_columns() {
    local sock="$WORK/tmux-ja.sock" screen head row c1 c2 c3 c4
    ctl target add db01 --host 127.0.0.1 --port "$TPORT_web01" \
        --login "$TLOGIN" --host-key-file "$WORK/web01/hostkey.pub" \
        > /dev/null || fail "db01"
    ctl grant add alice db01 > /dev/null
    LANG=$JA tmux -S "$sock" new-session -d -x 80 -y 24 \
        "env SKPW='$PW' SSH_ASKPASS=$WORK/askpass \
         SSH_ASKPASS_REQUIRE=force DISPLAY=:0 LANG=$JA ssh -F /dev/null \
         -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o LogLevel=ERROR -o PubkeyAuthentication=no -o SendEnv=LANG \
         -p $GPORT -t alice@127.0.0.1; sleep 30"
    wait_until 15 sh -c "tmux -S '$sock' capture-pane -p | grep -q '接続先を選んでください'" ||
        fail "no Japanese menu: $(tmux -S "$sock" capture-pane -p)"
    screen=$(tmux -S "$sock" capture-pane -p)
    expect_contains "menu title" "関所ゲートウェイ - alice さんの接続先" "$screen"
    head=$(printf '%s\n' "$screen" | grep '番号')
    row=$(printf '%s\n' "$screen" | grep 'db01')
    c1=$(display_col "$head" "接続先")
    c2=$(display_col "$row" "db01")
    c3=$(display_col "$head" "コマンド実行")
    c4=$(display_col "$(printf '%s\n' "$screen" | grep 'web01')" "可")
    [ "$c1" -gt 0 ] && [ "$c1" = "$c2" ] ||
        fail "target column: header at $c1, db01 at $c2:
$screen"
    [ "$c3" -gt 0 ] && [ "$c3" = "$c4" ] ||
        fail "exec column: header at $c3, web01's mark at $c4:
$screen"
    # bytes would put the header column elsewhere: the check can fail
    [ "$(printf '%s' "${head%%接続先*}" | wc -c)" != "$c1" ] ||
        fail "header column the same in bytes: the check proves nothing"
    tmux -S "$sock" send-keys q Enter
    tmux -S "$sock" kill-server 2>/dev/null
}

# No LANG from the client: the user's own language, else the gateway's;
# a LANG the client sends wins over both.
t_user_lang_overrides() {
    local out
    out=$(LANG=C ctl user lang alice en) || fail "user lang alice en"
    expect_contains "told in English" "user alice now reads the gateway in en" \
        "$out"
    # sekishoctl speaks the admin's LANG; machine-readable output does not
    out=$(LANG=$JA ctl user lang alice en) || fail "user lang alice en (ja)"
    expect_contains "told in Japanese" "利用者 alice には" "$out"
    expect_eq "JSON the same in any language" \
        "$(LANG=C ctl session list --json)" \
        "$(LANG=$JA ctl session list --json)"
    expect_contains "shown" "lang: en" "$(ctl user show alice)"
    audit_has user_lang '"user":"alice","lang":"en"' || fail "not audited"
    out=$(gw_ssh alice web02 -- true < /dev/null 2>&1)
    expect_contains "user's English" "target unknown or not permitted" "$out"
    out=$(ja_ssh alice web02 -- true < /dev/null 2>&1)
    expect_contains "client's LANG wins" "接続が許可されていません" "$out"
    ctl user lang alice default > /dev/null || fail "user lang default"
    expect_contains "shown" "lang: default" "$(ctl user show alice)"
    out=$(gw_ssh alice web02 -- true < /dev/null 2>&1)
    expect_contains "gateway's Japanese again" "接続が許可されていません" "$out"
    ctl user lang alice fr > /dev/null 2>&1 && fail "fr accepted"
    ctl user lang nosuch ja > /dev/null 2>&1 && fail "unknown user accepted"
    # a client LANG that is not Japanese wins over the user's ja too
    ctl user lang bob ja > /dev/null || fail "user lang bob ja"
    out=$(LANG=C gw_ssh bob -oSendEnv=LANG web02 -- true \
        < /dev/null 2>&1)
    expect_contains "LANG=C is English" "target unknown or not permitted" \
        "$out"
    ctl user lang bob default > /dev/null
}

# A default gateway (language = en) with LANG=C: English as before.
t_english_default() {
    local p="$WORK/prompts.en" out
    gw_stop
    sed -i 's/^language = ja/#language = en/' "$CONF"
    gw_start || fail "gateway did not restart"
    : > "$p"
    out=$(LANG=C SKPROMPTS=$p SKCODE=$(totp carol 30) gw_ssh carol \
        -oSendEnv=LANG web02 -- true < /dev/null 2>&1)
    expect_eq "prompts" "(carol@127.0.0.1) Password: 
(carol@127.0.0.1) Verification code: " "$(cat "$p")"
    expect_contains "English refusal" "target unknown or not permitted" "$out"
    expect_not_contains "no Japanese" "接続" "$out"
    out=$(ctl user lang alice ja) || fail "user lang alice ja"
    out=$(gw_ssh alice web02 -- true < /dev/null 2>&1)
    expect_contains "the user's Japanese on an English gateway" \
        "接続が許可されていません" "$out"
    ctl user lang alice default > /dev/null
    gw_stop
    sed -i 's/^#language = en/language = ja/' "$CONF"
    gw_start || fail "gateway did not restart"
}

# sekishoctl's messages to people follow the caller's locale (LC_ALL >
# LC_MESSAGES > LANG, LANGUAGE over any but C): usage and die() paths in
# Japanese with the exit status unchanged; English with LANG=C.
t_ctl_messages_ja() {
    local out rc
    out=$(LANG=$JA ctl user 2>&1)
    rc=$?
    expect_eq "ja usage error: exit" 2 "$rc"
    expect_contains "ja usage error" "sekishoctl: user: サブコマンドがありません" \
        "$out"
    expect_contains "ja usage" "使い方: sekishoctl init --dir DIR" "$out"
    out=$(LANG=C ctl user 2>&1)
    rc=$?
    expect_eq "C usage error: exit" 2 "$rc"
    expect_contains "C usage error" "sekishoctl: user: subcommand missing" "$out"
    expect_contains "C usage" "usage: sekishoctl init --dir DIR" "$out"
    expect_not_contains "C: no Japanese" "使い方" "$out"
    out=$(LANG=$JA ctl user show nosuch 2>&1)
    rc=$?
    expect_eq "ja unknown user: exit" 1 "$rc"
    expect_eq "ja unknown user" "sekishoctl: 利用者 nosuch: 見つかりません" \
        "$out"
    out=$(LANG=C ctl user show nosuch 2>&1)
    rc=$?
    expect_eq "C unknown user: exit" 1 "$rc"
    expect_eq "C unknown user" "sekishoctl: user nosuch: not found" "$out"
    out=$(LANG=$JA ctl grant add nosuch web01 --reason test 2>&1)
    expect_eq "ja refused grant: exit" 1 "$?"
    expect_contains "ja refused grant" "その利用者か接続先がありません" "$out"
    # a confirmation to the admin
    out=$(LANG=$JA ctl group add ctlja 2>&1)
    expect_eq "ja group add" "グループ ctlja を追加しました" "$out"
    out=$(LANG=C ctl group remove ctlja 2>&1)
    expect_eq "C group remove" "group ctlja removed (with its grants)" "$out"
    # gettext's order: LC_ALL over LANG; LANGUAGE only over a locale
    # other than C (the monitor's hand-over: LC_ALL=C.UTF-8 LANGUAGE=ja)
    out=$(LC_ALL=C LANG=$JA ctl user show nosuch 2>&1)
    expect_eq "LC_ALL=C wins" "sekishoctl: user nosuch: not found" "$out"
    out=$(LANG=C LANGUAGE=ja ctl user show nosuch 2>&1)
    expect_eq "LANGUAGE not over C" "sekishoctl: user nosuch: not found" "$out"
    out=$(LC_ALL=C.UTF-8 LANGUAGE=ja ctl user show nosuch 2>&1)
    expect_eq "LANGUAGE over C.UTF-8" \
        "sekishoctl: 利用者 nosuch: 見つかりません" "$out"
}

status_steady() {
    ctl status --json |
        grep -v -e _bytes -e 'MiB free' -e audit_last -e '"last line'
}

# What scripts read stays byte for byte the same in any language: JSON,
# CSV, listings, key: value lines, verify lines, the config reference.
t_ctl_machine_output_unchanged() {
    local c j what
    for what in "report privileges --format json" \
        "report privileges --format csv" "report inspection --format json" \
        "report inspection --format csv" "session list --json" \
        "audit show --json --event user_add" "request list --json" \
        "user list" \
        "user show alice" "target list" "grant list" "target show web01" \
        ; do
        # shellcheck disable=SC2086 # the words of the command
        c=$(LANG=C ctl $what 2>/dev/null)
        # shellcheck disable=SC2086
        j=$(LANG=$JA ctl $what 2>/dev/null)
        [ -n "$c" ] || fail "$what: no output"
        expect_eq "$what: the same under $JA" "$c" "$j"
    done
    # status: the free space and the audit tail may move between two
    # runs; the words and the structure may not
    expect_eq "status --json the same" "$(LANG=C status_steady)" \
        "$(LANG=$JA status_steady)"
    expect_eq "config-reference the same" \
        "$(LANG=C "$BIN/sekishoctl" config-reference)" \
        "$(LANG=$JA "$BIN/sekishoctl" config-reference)"
    expect_contains "report CSV has its English header" "user" \
        "$(LANG=$JA ctl report privileges --format csv | head -n 1)"
}

# Gateway commands over SSH speak the session's language: the monitor's
# role refusal, the parser's error and sekishoctl's own errors (the
# monitor hands it the language); audit lines keep the English.
t_gwcmd_refusal_ja() {
    local out rc
    add_user ann --role admin > /dev/null || fail "add ann"
    out=$(ja_ssh alice user list < /dev/null 2>&1)
    rc=$?
    expect_eq "maintainer user list: exit" 1 "$rc"
    expect_contains "role refusal in Japanese" \
        "user list には admin の役割が必要です" "$out"
    audit_soon command_refused '"user":"alice"' || fail "refusal not audited"
    audit_has command_refused '"reason":"role not held"' ||
        fail "audited reason not English"
    out=$(ja_ssh ann user show nosuch < /dev/null 2>&1)
    rc=$?
    expect_eq "admin's error: exit" 1 "$rc"
    expect_contains "admin's error in Japanese" \
        "sekishoctl: 利用者 nosuch: 見つかりません" "$out"
    out=$(ja_ssh ann user lang alice fr < /dev/null 2>&1)
    expect_eq "admin's usage error: exit" 2 "$?"
    expect_contains "admin's usage error in Japanese" \
        "user lang: 'fr' は ja、en、default のいずれでもありません" "$out"
    expect_contains "... and its usage" "使い方: sekishoctl" "$out"
    # the parser's own words, formatted (policy/command.c)
    out=$(ja_ssh alice request web01 --reason a --reason b < /dev/null 2>&1)
    expect_eq "parse error: exit" 2 "$?"
    expect_contains "parse error in Japanese" \
        "request: --reason が二度指定されています" "$out"
    audit_soon request_refused '"detail":"request: --reason given twice"' ||
        fail "parse refusal not audited in English"
    # the client's English LANG wins over the gateway's Japanese
    out=$(LANG=C gw_ssh ann -oSendEnv=LANG user show nosuch < /dev/null 2>&1)
    expect_contains "admin's error in English" \
        "sekishoctl: user nosuch: not found" "$out"
    out=$(LANG=C gw_ssh alice -oSendEnv=LANG user list < /dev/null 2>&1)
    expect_contains "role refusal in English" "user list needs the admin role" \
        "$out"
}

# An auditor reading a transcript over SSH is asked for the key's
# passphrase in the session's language (sekishoctl's prompt on the pty).
t_gwcmd_passphrase_ja() {
    local out sid
    add_user aki --role auditor > /dev/null || fail "add aki"
    gw_ssh alice web01 -- 'echo pp-rec-$((6*7))' < /dev/null > /dev/null 2>&1
    sid=$(db "SELECT id FROM sessions ORDER BY start DESC LIMIT 1")
    wait_until 10 ctl verify "$sid" > /dev/null 2>&1 || fail "not sealed"
    out=$( (sleep 3; printf '%s\r' "$(cat "$AUDITOR_PP")"; sleep 4) |
        ja_ssh aki -tt export "$sid" --format text 2>&1)
    expect_contains "passphrase prompt in Japanese" \
        "監査者鍵のパスフレーズ (Auditor key passphrase): " "$out"
    expect_contains "the transcript after it" "pp-rec-42" "$out"
}

setup
run_test t_ja_prompts
run_test t_ja_after_login
run_test t_ja_kill_reason
run_test t_ja_idle_warning
run_test t_ja_requests_local_time
run_test t_ja_menu_columns
run_test t_user_lang_overrides
run_test t_english_default
run_test t_ctl_messages_ja
run_test t_ctl_machine_output_unchanged
run_test t_gwcmd_refusal_ja
run_test t_gwcmd_passphrase_ja
run_test t_no_sanitizer_reports
summary
