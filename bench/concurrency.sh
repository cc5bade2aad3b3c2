#!/usr/bin/env bash
# Many recorded sessions at once: opens N Sekisho sessions (key logins,
# remote `cat` in a pty, ramped BATCH at a time), holds them, measures the
# memory (PSS) of the gateway's processes per session and by role, has
# STREAMERS of them stream output while ECHOERS further sessions time
# keystroke echo (echo_latency.py), the same through direct ssh to the same
# target under the same load, then closes them all and verifies every
# transcript. Prints one summary block. Not a test: it asserts nothing.
#   usage: BUILD=build bench/concurrency.sh [N] [STREAMERS] [ECHOERS]
#          (defaults 1000 100 10)
# Knobs: BATCH (20) logins started at once, each batch waited for;
# STREAM_KBPS (32) output per streaming session, KiB/s of base64 lines;
# KEYS (300) keys per echo session, ECHO_GAP_MS (20: 50 keys/s, so ten
# echo sessions type like ten quick people, not a load of their own); ROUNDS (2) echo rounds per mode and
# load; HOLD (10) seconds held idle before memory is measured.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
N=${1:-1000}
STREAMERS=${2:-100}
ECHOERS=${3:-10}
BATCH=${BATCH:-20}
STREAM_KBPS=${STREAM_KBPS:-32}
KEYS=${KEYS:-300}
ROUNDS=${ROUNDS:-2}
HOLD=${HOLD:-10}
export ECHO_GAP_MS=${ECHO_GAP_MS:-20}
[ "$STREAMERS" -le "$N" ] || { echo "STREAMERS > N" >&2; exit 2; }

# What must be raised for the run, said as it is raised. Descriptors: the
# clients (a few each) are this shell's children, and the gateway and the
# target's sshd, started from here, inherit the limit: the listener needs
# max_pending + max_sessions + 64 (sekishod raises its soft limit up to
# the hard one itself), a session's monitor, worker and recorder a few
# dozen each.
want=$(( 4 * N + 2048 ))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    ulimit -Hn "$want" 2> /dev/null || want=$hard
fi
[ "$(ulimit -n)" -lt "$want" ] && ulimit -n "$want"
echo "limits: open files $(ulimit -n) (soft) / $(ulimit -Hn) (hard)," \
    "processes $(ulimit -u), pid_max $(cat /proc/sys/kernel/pid_max)," \
    "ptys $(cat /proc/sys/kernel/pty/max)" >&2
need_pids=$(( N * 7 + 1000 ))
[ "$(cat /proc/sys/kernel/pid_max)" -ge "$need_pids" ] ||
    echo "warning: pid_max below the ~$need_pids processes this run needs" >&2
[ "$(cat /proc/sys/kernel/pty/max)" -ge $(( N + ECHOERS * 2 + 64 )) ] ||
    echo "warning: kernel.pty.max below one pty per session" >&2

. "$HERE/setup.sh"

# The gateway's limits, raised for the run. Every client is 127.0.0.1, so
# the per-source cap on unauthenticated connections must hold a batch,
# and max_startups a hard cap above it.
set_conf() {
    if grep -q "^$1 = " "$CONF"; then
        sed -i "s|^$1 = .*|$1 = $2|" "$CONF"
    elif grep -q "^#$1 = " "$CONF"; then
        sed -i "s|^#$1 = .*|$1 = $2|" "$CONF"
    else
        die "no $1 in $CONF"
    fi
    echo "gateway: $1 = $2" >&2
}
gw_stop
set_conf max_sessions $(( N + 2 * ECHOERS + 50 ))
set_conf max_startups $(( 2 * BATCH + 2 * ECHOERS + 10 ))
set_conf per_source_max_startups $(( 2 * BATCH + 2 * ECHOERS + 10 ))
set_conf idle_timeout 0
gw_start || die "the gateway did not restart"
# The target's sshd (lib.sh: MaxStartups 200) admits a batch as it is;
# MaxSessions is per connection (one channel here).

mkdir -p "$WORK/c" "$WORK/up"
chmod 1777 "$WORK/up"
# Streaming, on the target (the same machine): waits for the go file, then
# writes RATE KiB/s of base64 lines in ten pieces a second until killed.
cat > "$WORK/stream.py" << 'EOF'
import base64, os, sys, time
go, rate = sys.argv[1], int(sys.argv[2])
while not os.path.exists(go):
    time.sleep(0.5)
piece = max(1, rate * 1024 // 10 * 3 // 4)
t = time.monotonic()
while True:
    os.write(1, base64.encodebytes(os.urandom(piece)))
    t += 0.1
    time.sleep(max(0.0, t - time.monotonic()))
EOF
chmod 644 "$WORK/stream.py"
# All the clients read one pipe that is never written (idle keyboards).
mkfifo "$WORK/keys"
exec 9<> "$WORK/keys"

# calc EXPR: floating-point arithmetic (awk: bc is not installed everywhere)
calc() { awk "BEGIN {printf \"%.6f\\n\", $1}"; }

pids=()
declare -a t_start
up_count() { find "$WORK/up" -type f | wc -l; }
# sessions the gateway holds: its monitors (children of the listener)
gw_sessions() { ps -o pid= --ppid "$GW_PID" | wc -l; }

# open I: session I; the target touches up/I once the pty command runs.
open_one() {
    local i=$1 cmd
    if [ "$i" -le "$STREAMERS" ]; then
        cmd="touch $WORK/up/$i; exec python3 $WORK/stream.py $WORK/go $STREAM_KBPS"
    else
        cmd="touch $WORK/up/$i; exec cat"
    fi
    mode_argv sekisho -tt -o ConnectTimeout=30 -o ServerAliveInterval=0
    t_start[i]=$(date +%s.%N)
    "${ARGV[@]}" "$cmd" <&9 > /dev/null 2> "$WORK/c/$i.err" 9>&- &
    pids[i]=$!
}

log "opening $N sessions, $BATCH at a time"
direct_ms=
t0=$(date +%s.%N)
T_BEGIN=$t0
i=0
while [ "$i" -lt "$N" ]; do
    b=0
    while [ "$b" -lt "$BATCH" ] && [ "$i" -lt "$N" ]; do
        i=$(( i + 1 ))
        b=$(( b + 1 ))
        open_one "$i"
    done
    # the batch is in when each of its clients is up or gone (60 s)
    for _ in $(seq 1 600); do
        pending=0
        for k in $(seq $(( i - b + 1 )) "$i"); do
            if [ ! -e "$WORK/up/$k" ] && kill -0 "${pids[k]}" 2> /dev/null; then
                pending=1
                break
            fi
        done
        [ "$pending" = 0 ] && break
        sleep 0.1
    done
    if [ $(( i % 100 )) -eq 0 ] || [ "$i" -eq "$N" ]; then
        # for comparison: a direct login to the same target, as loaded
        mode_argv direct
        td=$(date +%s%N)
        "${ARGV[@]}" true < /dev/null > /dev/null 2>&1 &&
            direct_ms+=" $(( ($(date +%s%N) - td) / 1000000 ))"
        log "  $i started, $(up_count) up, load $(cut -d' ' -f1 /proc/loadavg)"
    fi
done
t1=$(date +%s.%N)
UP=$(up_count)
open_s=$(calc "$t1 - $t0")
# login time of each: from its start to its marker
for k in $(seq 1 "$N"); do
    [ -e "$WORK/up/$k" ] || continue
    calc "$(stat -c %.Y "$WORK/up/$k") - ${t_start[k]}"
done | awk '{printf "%d\n", $1 * 1000}' > "$WORK/login.ms"
FAILED=$(( N - UP ))

log "holding $UP sessions for $HOLD s"
sleep "$HOLD"

# PSS of every process of the gateway, the target and the clients, from
# /proc/PID/smaps_rollup (mem.py). A session's monitor is a child of the
# listener; its worker and recorder are the monitor's children, the
# worker forked first (at connect), the recorder at login: told apart by
# start time.
measure_mem() {
    printf '%s\n' "${pids[@]}" > "$WORK/clients.pids"
    python3 "$HERE/concurrency_mem.py" "$1" "$GW_PID" \
        "$(cat "$WORK/web01/sshd.pid")" "$WORK/clients.pids" \
        >> "$WORK/summary.mem"
}
measure_mem idle

# cpu_busy: the machine's busy jiffies and all jiffies (/proc/stat)
cpu_snap() { awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8; t = b + $5 + $6 + $9; print b, t}' /proc/stat; }

# echo LOAD: ROUNDS rounds of ECHOERS concurrent echo sessions per mode
echo_runs() {
    local load=$1 mode j ep=()
    for _ in $(seq 1 "$ROUNDS"); do
        for mode in sekisho direct; do
            ep=()
            for j in $(seq 1 "$ECHOERS"); do
                mode_argv "$mode" -tt
                # one file each: concurrent writers would split lines
                "$HERE/echo_latency.py" "$KEYS" "${ARGV[@]}" cat \
                    > "$WORK/e.$j" 2>> "$WORK/echo.err" < /dev/null &
                ep+=($!)
            done
            for j in "${!ep[@]}"; do
                wait "${ep[j]}" ||
                    echo "$mode $load: an echo run failed" >> "$WORK/echo.err"
                cat "$WORK/e.$(( j + 1 ))" >> "$WORK/echo.$mode.$load"
            done
        done
    done
}
log "echo with $UP sessions idle"
echo_runs idle
log "streaming from $STREAMERS sessions ($STREAM_KBPS KiB/s each)"
touch "$WORK/go"
sleep 5
c0=$(cpu_snap)
ts0=$(date +%s.%N)
sides0=$(python3 "$HERE/concurrency_mem.py" --cpu "$GW_PID" \
    "$(cat "$WORK/web01/sshd.pid")" $$)
echo_runs stream
sides1=$(python3 "$HERE/concurrency_mem.py" --cpu "$GW_PID" \
    "$(cat "$WORK/web01/sshd.pid")" $$)
c1=$(cpu_snap)
ts1=$(date +%s.%N)
measure_mem streaming
busy=$(echo "$c0 $c1" | awk '{printf "%.0f", 100 * ($3 - $1) / ($4 - $2)}')
stream_s=$(calc "$ts1 - $ts0")

log "closing all"
tc0=$(date +%s.%N)
for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
for _ in $(seq 1 1200); do
    [ "$(gw_sessions)" -eq 0 ] && break
    sleep 0.1
done
tc1=$(date +%s.%N)
left=$(gw_sessions)
close_s=$(calc "$tc1 - $tc0")
exec 9>&-

tv0=$(date +%s.%N)
ctl verify --all > "$WORK/verify.out" 2>&1
verify_rc=$?
tv1=$(date +%s.%N)
sealed=$(grep -c ' OK sealed' "$WORK/verify.out")
incomplete=$(grep -ci 'incomplete' "$WORK/verify.out")
damaged=$(grep -c ' FAILED' "$WORK/verify.out")
recorded=$(db "SELECT count(*) FROM sessions WHERE transcript IS NOT NULL")
tdir=$(awk -F' = ' '$1 == "transcript_dir" {print $2}' "$CONF")
[ -n "$tdir" ] || tdir=$GW/transcripts
tbytes=$(du -sm "$tdir" 2> /dev/null | cut -f1)

ms() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
ep() { # p50/p99 of an echo file, or -
    if [ -s "$1" ]; then
        echo "$(ms "$(pct 50 < "$1")")/$(ms "$(pct 99 < "$1")") ($(wc -l < "$1") keys)"
    else
        echo -
    fi
}
{
    echo "== concurrency: N=$N streamers=$STREAMERS echoers=$ECHOERS batch=$BATCH on $(nproc) CPUs"
    echo "logins: $UP of $N up in $(printf '%.1f' "$open_s") s" \
        "($(printf '%.1f' "$(calc "$UP / $open_s")")/s), $FAILED failed;" \
        "login ms p50/p90/max $(pct 50 < "$WORK/login.ms")/$(pct 90 < "$WORK/login.ms")/$(sort -n "$WORK/login.ms" | tail -1)," \
        "first 100 p50 $(head -100 "$WORK/login.ms" | median), last 100 p50 $(tail -100 "$WORK/login.ms" | median)"
    echo "  sekisho login p50 ms per 100 opened: $(awk '{a[int((NR - 1) / 100)] = a[int((NR - 1) / 100)] " " $1} END {for (k = 0; k in a; k++) printf "%s ", a[k] "|"}' "$WORK/login.ms" |
        tr '|' '\n' | while read -r l; do [ -n "$l" ] && printf '%s ' "$(echo "$l" | median)"; done)"
    echo "  direct ssh login (whole, ssh true) ms at each 100:$direct_ms"
    if [ "$FAILED" -gt 0 ]; then
        echo "  failed clients say:"
        cat "$WORK"/c/*.err 2> /dev/null | sed 's/[0-9]\+/N/g' | sort | uniq -c |
            sort -rn | head -5 | sed 's/^/    /'
    fi
    echo "  gateway log, refusals and errors:"
    grep -E 'refused|dropped|exited|killed|fatal|error|FAIL' "$WORK/gw.log" |
        sed 's/^[^:]*: //; s/[0-9a-f]\{8,\}/X/g; s/[0-9]\+/N/g' | sort |
        uniq -c | sort -rn | head -8 | sed 's/^/    /'
    cat "$WORK/summary.mem"
    echo "echo ms p50/p99, $ECHOERS at once x $ROUNDS rounds x $KEYS keys, one per $ECHO_GAP_MS ms:"
    echo "  idle:      sekisho $(ep "$WORK/echo.sekisho.idle"), direct $(ep "$WORK/echo.direct.idle")"
    echo "  streaming: sekisho $(ep "$WORK/echo.sekisho.stream"), direct $(ep "$WORK/echo.direct.stream")"
    echo "  ($STREAMERS x $STREAM_KBPS KiB/s streaming; machine CPU busy $busy% over $(printf '%.0f' "$stream_s") s)"
    echo "$sides0 $sides1 $stream_s" | awk '{printf "  CPU %% of one core meanwhile: gateway %.0f (held sessions: monitors %.0f, workers %.0f, recorders %.0f; sekishod %.0f), target %.0f, bench clients %.0f\n", 100 * ($8 - $1) / $15, 100 * ($11 - $4) / $15, 100 * ($12 - $5) / $15, 100 * ($13 - $6) / $15, 100 * ($14 - $7) / $15, 100 * ($9 - $2) / $15, 100 * ($10 - $3) / $15}'
    [ -s "$WORK/echo.err" ] && sed 's/^/  echo error: /' "$WORK/echo.err" | sort | uniq -c | head -5
    echo "close: $(printf '%.1f' "$close_s") s until the gateway held no session ($left left)"
    echo "transcripts: $sealed sealed and intact, $incomplete incomplete," \
        "$damaged damaged, of $recorded recorded (verify --all exit $verify_rc," \
        "$(printf '%.1f' "$(calc "$tv1 - $tv0")") s, ${tbytes:-?} MB)"
    tail -1 "$WORK/verify.out" | sed 's/^/  /'
    echo "run: $(printf '%.0f' "$(calc "$(date +%s.%N) - $T_BEGIN")") s from the first login"
} | tee "$WORK/summary"
[ -n "${SUMMARY_TO:-}" ] && cp "$WORK/summary" "$SUMMARY_TO"
exit 0
