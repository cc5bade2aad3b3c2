#!/bin/sh
# Writes the message template (OUT) from the sources in po/POTFILES:
# _("...") and N_("...") are messages for people (gateway/core/i18n.h);
# so is the format of sekishoctl's die() and die_usage(), which translate
# it themselves (gateway/sekishoctl.c).
# Usage: update-pot.sh SOURCE_DIR OUT
set -eu
src=$1
out=$2
cd "$src"
xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
    --keyword=die --keyword=die_usage --flag=die:1:c-format \
    --flag=die_usage:1:c-format \
    --add-comments=TRANSLATORS: --package-name=sekisho \
    --msgid-bugs-address=security@sekisho.invalid --sort-by-file \
    --files-from=po/POTFILES --output="$out"
