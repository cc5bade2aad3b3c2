#!/bin/sh
# The folder rule of DESIGN.md ("auth/, policy/ and recorder/ depend only
# on a small shared core, never on each other or on process code"),
# checked on the #include "..." lines, run by ctest (layout_check):
#  - gateway/core/ includes only its own headers;
#  - a file in auth/, policy/ or recorder/ (subfolders too, such as the
#    recorder process in recorder/proc/) includes a header of its own
#    folder, of its own room ("recorder/transcript.h" from recorder/proc/)
#    or of the core, never gateway/ or another room.
# Usage: layout-check.sh SOURCE_DIR
set -eu
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
rc=0
for f in $(find gateway/core auth policy recorder -name '*.[ch]' | sort); do
    dir=${f%/*}
    room=${f%%/*}
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        ok=0
        case $dir in
        gateway/core)
            [ -e "gateway/core/$inc" ] && ok=1
            ;;
        *)
            case $inc in
            */*)
                case $inc in
                "$room"/*) ok=1 ;;
                gateway/core/*) ok=1 ;;
                esac
                ;;
            *)
                if [ -e "$dir/$inc" ] || [ -e "gateway/core/$inc" ]; then
                    ok=1
                fi
                ;;
            esac
            ;;
        esac
        if [ "$ok" = 0 ]; then
            echo "layout-check: $f includes \"$inc\" (outside its room" \
                "and the shared core)" >&2
            rc=1
        fi
    done
done
[ "$rc" = 0 ] && echo "layout-check: auth/ policy/ recorder/ see only" \
    "their own room and gateway/core"
exit "$rc"
