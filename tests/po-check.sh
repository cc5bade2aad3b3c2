#!/bin/sh
# The message catalogues are complete and sound (issue 15), run by ctest
# (po_check) and so by ./tests/check:
#  - msgfmt --check: every translation keeps its msgid's format directives
#    (a dropped or reordered %s fails) and line ends;
#  - --statistics: no untranslated and no fuzzy message;
#  - the template made now from the sources (po/POTFILES, _() and N_())
#    has exactly the msgids of each catalogue and of po/sekisho.pot, so a
#    new _("...") without a translation, or a stale one, fails.
# Usage: po-check.sh SOURCE_DIR
set -eu
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
for po in "$src"/po/*.po; do
    name=${po##*/}
    if ! msgfmt --check --statistics -o /dev/null "$po" \
        > "$tmp/stats" 2>&1; then
        echo "po-check: $name: msgfmt --check failed:" >&2
        cat "$tmp/stats" >&2
        rc=1
        continue
    fi
    if grep -Eq 'untranslated|fuzzy' "$tmp/stats"; then
        echo "po-check: $name: $(tail -n 1 "$tmp/stats")" >&2
        rc=1
    fi
done
"$src/po/update-pot.sh" "$src" "$tmp/fresh.pot" 2> "$tmp/xgettext.log" || {
    echo "po-check: xgettext failed:" >&2
    cat "$tmp/xgettext.log" >&2
    exit 1
}
if [ -s "$tmp/xgettext.log" ]; then
    echo "po-check: xgettext warnings:" >&2
    cat "$tmp/xgettext.log" >&2
    rc=1
fi
for po in "$src"/po/*.po; do
    name=${po##*/}
    # every message of the sources translated in this catalogue ...
    if ! msgcmp "$po" "$tmp/fresh.pot" 2> "$tmp/cmp"; then
        echo "po-check: $name lacks translations of the sources' messages" \
            "(cmake --build BUILD --target pot, then translate):" >&2
        cat "$tmp/cmp" >&2
        rc=1
    fi
    # ... and nothing it translates gone from the sources
    if ! msgcmp --use-untranslated "$tmp/fresh.pot" "$po" 2> "$tmp/cmp"; then
        echo "po-check: $name has messages the sources no longer have:" >&2
        cat "$tmp/cmp" >&2
        rc=1
    fi
done
if ! msgcmp --use-untranslated "$src/po/sekisho.pot" "$tmp/fresh.pot" \
    2> "$tmp/cmp" ||
    ! msgcmp --use-untranslated "$tmp/fresh.pot" "$src/po/sekisho.pot" \
        2>> "$tmp/cmp"; then
    echo "po-check: po/sekisho.pot is out of date (target pot):" >&2
    cat "$tmp/cmp" >&2
    rc=1
fi
[ "$rc" -eq 0 ] && echo "po-check: $(ls "$src"/po/*.po | wc -l) catalogue(s)" \
    "complete, $(grep -c '^msgid' "$tmp/fresh.pot") msgids"
exit "$rc"
