#!/usr/bin/env bash
# The auditor's commands against years of sessions: a state database and
# an audit log with N sessions (default 100000: 55 a day for five years,
# the retention minimum), timed. Not a test: it asserts nothing.
#
# The sessions are synthetic: rows written straight into the database and
# session_start / session_end / transcript_purged lines appended to the
# audit log, as retention leaves them once their transcripts are purged.
# What is timed is the bookkeeping (loading, indexing and cross-checking
# every session against the log), not transcript cryptography, which
# throughput.sh measures (verify MB/s). The appended lines are not hash-
# chained, so verify --all reports the log as broken; only time counts.
#
# sekisho-verify, the auditor's standalone tool, is timed over M copies
# (default 1000) of one real session's transcript against the same log.
#   usage: BUILD=build bench/scale.sh [N] [M]
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../build}
N=${1:-100000}
M=${2:-1000}
. "$HERE/../tests/integration/lib.sh"

gw_init "second_factor = none" > /dev/null || die "sekishoctl init failed"
start_target web01 || die "target web01 failed to start"
add_user alice
add_target web01
ctl grant add alice web01 --exec > /dev/null
gw_start || die "the gateway did not start"
gw_ssh alice web01 -- 'echo one real session' > /dev/null < /dev/null ||
    die "the real session failed"
tr=$(sqlite3 "$GW/state.db" "SELECT transcript FROM sessions LIMIT 1")
mkdir "$WORK/copies"
for i in $(seq "$M"); do
    cp "$tr" "$WORK/copies/$i.skt"
done
t0=$(date +%s%N)
sqlite3 "$GW/state.db" <<EOF || die "cannot fill the state database"
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $N)
INSERT INTO sessions (id, user, source, target, login, mode, start, end,
                      bytes_in, bytes_out, exit_status, end_reason,
                      transcript, purged)
SELECT printf('20200101-%07d', i), 'user' || (i % 40), '192.0.2.' || (i % 200),
       'web' || (i % 25), 'root', 'shell', 1577836800 + i * 1500,
       1577836800 + i * 1500 + 900, 4000, 200000, 0, 'closed',
       printf('$GW/transcripts/2020/01/01/20200101-%07d.skt', i), 1
FROM c;
EOF
awk -v n="$N" -v gw="$GW" 'BEGIN {
    for (i = 1; i <= n; i++) {
        id = sprintf("20200101-%07d", i)
        printf "{\"event\":\"session_start\",\"session\":\"%s\",\"transcript\":\"%s/transcripts/2020/01/01/%s.skt\",\"pid\":1}\n", id, gw, id
        printf "{\"event\":\"session_end\",\"session\":\"%s\",\"transcript_hash\":\"%064d\"}\n", id, 0
        printf "{\"event\":\"transcript_purged\",\"session\":\"%s\"}\n", id
    }
}' >> "$GW/audit.log"
echo "$N synthetic sessions, $(( $(wc -l < "$GW/audit.log") )) audit lines," \
    "written in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

timed() { # LABEL COMMAND...: wall time of one run, output discarded
    local label=$1 t
    shift
    t=$(date +%s%N)
    "$@" > /dev/null 2>&1
    printf '  %-34s %6d ms\n' "$label" $(( ($(date +%s%N) - t) / 1000000 ))
}
last=$(printf '20200101-%07d' "$N")
timed "session list" ctl session list
timed "session list --user user7 --json" ctl session list --user user7 --json
timed "verify ONE (the newest)" ctl verify "$last"
timed "export ONE (purged: refused)" ctl export "$last" --format text
timed "verify --all" ctl verify --all
timed "sekisho-verify --audit, $M transcripts" "$BUILD/recorder/sekisho-verify" \
    -k "$GW/signing_key.pub" --audit "$GW/audit.log" "$WORK/copies/"*.skt
