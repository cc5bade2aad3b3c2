#!/usr/bin/env bash
# Latency a maintainer feels: Sekisho vs direct OpenSSH and OpenSSH
# ProxyJump to the same real sshd target on loopback, interleaved in one
# run. Not a test: it asserts nothing.
#   connect  wall time of `ssh HOST true` (key exchange, authentication,
#            the gateway's policy checks, the target leg, and for Sekisho
#            the recorder starting and sealing a transcript); median and
#            90th percentile over CONNECTS runs per mode.
#   echo     keystroke round trip in a remote pty running `cat`: one byte
#            typed, timed until its echo is back (echo_latency.py);
#            median and 99th percentile over KEYS keys per mode, in
#            ROUNDS sessions per mode.
#   usage: BUILD=build bench/latency.sh [CONNECTS] [KEYS] [ROUNDS]
HERE=$(cd "$(dirname "$0")" && pwd)
CONNECTS=${1:-20}
KEYS=${2:-300}
ROUNDS=${3:-3}
. "$HERE/setup.sh"

declare -A con echo
for _ in $(seq 1 "$CONNECTS"); do
    for mode in $MODES; do
        mode_argv "$mode"
        t0=$(date +%s%N)
        "${ARGV[@]}" true < /dev/null > /dev/null 2>&1 ||
            die "$mode: ssh HOST true failed"
        con[$mode]+=" $(( ($(date +%s%N) - t0) / 1000 ))"
    done
done
for _ in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
        mode_argv "$mode" -tt
        out=$("$HERE/echo_latency.py" "$KEYS" "${ARGV[@]}" cat) ||
            die "$mode: the echo run failed"
        echo[$mode]+=" $out"
    done
done
ms() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
echo "latency on $(nproc) CPUs, in ms"
printf '  %-10s %16s %16s\n' mode "connect p50/p90" "echo p50/p99"
for mode in $MODES; do
    printf '  %-10s %16s %16s\n' "$mode" \
        "$(ms "$(echo "${con[$mode]}" | pct 50)")/$(ms "$(echo "${con[$mode]}" | pct 90)")" \
        "$(ms "$(echo "${echo[$mode]}" | pct 50)")/$(ms "$(echo "${echo[$mode]}" | pct 99)")"
done
# Every Sekisho echo session above was recorded: check that the typed keys
# reached a transcript, so the numbers are for recorded sessions.
n=$(sqlite3 "$GW/state.db" "SELECT count(*) FROM sessions WHERE transcript IS NOT NULL")
echo "sekisho sessions recorded: $n"
