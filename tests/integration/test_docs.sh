#!/usr/bin/env bash
# The Japanese manuals keep in step with the English ones (issue 15,
# R-OPS-1, R-OPS-2): every command, option, configuration key, program and
# file name that an English manual names in its code (doc-terms.pl says
# exactly what counts) appears in the code of its Japanese counterpart,
# per pair (user, admin, auditor). Needs no gateway: only the build's
# sekishoctl for its command words.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ROOT=$(cd "$HERE/../.." && pwd)
DOCS="$ROOT/docs"
PAIRS="user admin auditor"

setup() {
    # The usage text in English: its command words are the same in every
    # language, but a translated usage text would add Japanese words.
    LC_ALL=C LANG=C LANGUAGE= "$BIN/sekishoctl" --help > "$WORK/usage" 2>&1
    grep -q '^commands:' "$WORK/usage" || die "sekishoctl --help: no usage"
}

# terms MANUAL: its terms, "TERM<TAB>LINE" per line.
terms() {
    "$HERE/doc-terms.pl" "$DOCS/config.md" "$WORK/usage" "$1"
}

# missing EN JA: the terms of EN that JA lacks, "TERM (EN:LINE)" each.
missing() {
    local en=$1 ja=$2
    terms "$en" > "$WORK/en.terms" || return 2
    terms "$ja" > "$WORK/ja.all" || return 2
    cut -f1 "$WORK/ja.all" > "$WORK/ja.terms"
    awk -F'\t' 'NR == FNR { have[$0] = 1; next }
        !($1 in have) { printf "%s (%s:%s)\n", $1, FILENAME, $2 }' \
        "$WORK/ja.terms" "$WORK/en.terms" | sed "s|$WORK/en.terms|en|"
}

# Every pair: the Japanese manual exists and lacks nothing.
t_japanese_manuals_name_every_english_term() {
    local p out n
    for p in $PAIRS; do
        if [ ! -f "$DOCS/ja/$p.md" ]; then
            fail "docs/ja/$p.md does not exist"
            continue
        fi
        out=$(missing "$DOCS/$p.md" "$DOCS/ja/$p.md")
        if [ $? -ne 0 ]; then
            fail "doc-terms.pl failed on docs/$p.md or docs/ja/$p.md"
            continue
        fi
        if [ -n "$out" ]; then
            n=$(printf '%s\n' "$out" | wc -l)
            fail "docs/ja/$p.md lacks $n term(s) that docs/$p.md names" \
                "(line numbers of docs/$p.md):"$'\n'"$(printf '%s\n' "$out" |
                sed 's/(en:/(docs\/'"$p"'.md:/; s/^/      /')"
        fi
    done
}

# The extractor really finds terms (a broken one would pass everything):
# the English manuals name at least these, and a known term of each.
t_extractor_finds_terms() {
    local p n
    for p in $PAIRS; do
        n=$(terms "$DOCS/$p.md" | wc -l)
        if [ "$n" -lt 15 ]; then
            fail "docs/$p.md: only $n terms found"
        fi
    done
    expect_contains "admin: a sekishoctl command" \
        "sekishoctl user unlock" "$(terms "$DOCS/admin.md")"
    expect_contains "admin: a configuration key" \
        "lockout_threshold" "$(terms "$DOCS/admin.md")"
    expect_contains "admin: an option" \
        "--no-force-change" "$(terms "$DOCS/admin.md")"
    expect_contains "user: ssh needs -t" "ssh -t" "$(terms "$DOCS/user.md")"
    expect_contains "user: a gateway command" \
        "ssh request" "$(terms "$DOCS/user.md")"
    expect_contains "auditor: sekisho-verify" \
        "sekisho-verify" "$(terms "$DOCS/auditor.md")"
}

# The check catches a term dropped from a Japanese manual: an option, a
# command and a key removed from a copy are reported, by name, and nothing
# else (a stray backtick left behind must not hide the terms after it).
t_dropped_term_is_reported() {
    local copy="$WORK/admin-ja-mutated.md" out
    [ -f "$DOCS/ja/admin.md" ] || { fail "no docs/ja/admin.md"; return; }
    sed -e 's/--no-force-change//g' -e 's/user totp-reset/user/g' \
        -e 's/idle_timeout/idle/g' "$DOCS/ja/admin.md" > "$copy"
    out=$(missing "$DOCS/admin.md" "$copy")
    expect_eq "exactly the dropped terms reported" \
        "--no-force-change|idle_timeout|sekishoctl --no-force-change|sekishoctl user totp-reset|" \
        "$(printf '%s\n' "$out" | sed 's/ (en:[0-9]*)$//' | sort | tr '\n' '|')"
    out=$(missing "$DOCS/admin.md" "$DOCS/ja/admin.md")
    expect_eq "the real manual lacks nothing" "" "$out"
}

# Written in Japanese (です/ます体), each with its title, and linked from
# the README.
t_japanese_manuals_are_japanese() {
    local p title
    for p in $PAIRS; do
        [ -f "$DOCS/ja/$p.md" ] || { fail "no docs/ja/$p.md"; continue; }
        case $p in
        user) title=利用者操作マニュアル ;;
        admin) title=管理者マニュアル ;;
        auditor) title=監査者マニュアル ;;
        esac
        expect_contains "docs/ja/$p.md title" "$title" \
            "$(head -1 "$DOCS/ja/$p.md")"
        if [ "$(grep -c 'ます。\|です。' "$DOCS/ja/$p.md")" -lt 20 ]; then
            fail "docs/ja/$p.md: hardly any です/ます sentences"
        fi
        expect_contains "README links docs/ja/$p.md" "(docs/ja/$p.md)" \
            "$(cat "$ROOT/README.md")"
    done
}

setup
run_test t_extractor_finds_terms
run_test t_japanese_manuals_name_every_english_term
run_test t_dropped_term_is_reported
run_test t_japanese_manuals_are_japanese
run_test t_no_sanitizer_reports
summary
