#!/usr/bin/env bash
# Relay throughput: Sekisho vs direct OpenSSH and OpenSSH ProxyJump, all to
# the same real sshd target on loopback, interleaved in one run so machine
# noise hits every mode alike. Reports MB/s per mode (median of ROUNDS),
# the ratios, and the CPU time each mode costs the whole machine per
# 100 MB (user + system, all processes; steal and idle excluded). Not a
# test: it asserts nothing.
#
# Two CPU layouts, interleaved too (TOPOLOGIES, default both):
#   shared  every process on every CPU: the target's cat and sshd, the
#           gateway (or jump host) and the client all compete, so each
#           cycle the gateway spends is taken from the target.
#   split   the target (its sshd and everything it starts) on the first
#           half of the CPUs, the client and the gateway or jump host on
#           the rest: a target that is its own machine, as in deployment.
#   usage: BUILD=build bench/throughput.sh [SIZE_MB] [ROUNDS]
HERE=$(cd "$(dirname "$0")" && pwd)
SIZE_MB=${1:-200}
ROUNDS=${2:-3}
. "$HERE/setup.sh"
head -c $((SIZE_MB * 1000000)) /dev/urandom > "$WORK/payload"
chmod 644 "$WORK/payload"

NCPU=$(nproc)
TOPOLOGIES=${TOPOLOGIES:-shared split}
if [ "$NCPU" -lt 2 ]; then
    TOPOLOGIES=shared
fi
half=$(( NCPU / 2 ))
TCPUS="0-$(( half - 1 ))"
RCPUS="$half-$(( NCPU - 1 ))"
ALLCPUS="0-$(( NCPU - 1 ))"
JUMP_PID=$(cat "$WORK/jump/sshd.pid")
TARGET_PID=$(cat "$WORK/web01/sshd.pid")
CLIENT_CPUS=$ALLCPUS
# Affinity is inherited: re-pinning the listeners pins the sessions they
# start from then on.
layout() { # shared | split
    local t=$ALLCPUS r=$ALLCPUS
    if [ "$1" = split ]; then
        t=$TCPUS
        r=$RCPUS
    fi
    taskset -a -p -c "$t" "$TARGET_PID" > /dev/null
    taskset -a -p -c "$r" "$JUMP_PID" > /dev/null
    taskset -a -p -c "$r" "$GW_PID" > /dev/null
    CLIENT_CPUS=$r
}

run_mode() { # mode tty; the client runs on CLIENT_CPUS
    local t=()
    [ "$2" = pty ] && t=(-tt)
    mode_argv "$1" "${t[@]}"
    (
    taskset -p -c "$CLIENT_CPUS" "$BASHPID" > /dev/null
    "${ARGV[@]}" "cat $WORK/payload" < /dev/null > /dev/null 2>&1
    )
}
# Busy CPU time (user, nice, system, irq, softirq), in clock ticks.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
HZ=$(getconf CLK_TCK)

declare -A res cpu
for r in $(seq 1 "$ROUNDS"); do
    for topo in $TOPOLOGIES; do
        layout "$topo"
        for tty in notty pty; do
            for mode in $MODES; do
                c0=$(busy)
                t0=$(date +%s%N)
                run_mode "$mode" "$tty"
                ms=$(( ($(date +%s%N) - t0) / 1000000 ))
                c1=$(busy)
                k=$topo.$tty.$mode
                res[$k]="${res[$k]:-} $(( SIZE_MB * 1000 / (ms > 0 ? ms : 1) ))"
                # CPU seconds per 100 MB, in hundredths
                cpu[$k]="${cpu[$k]:-} $(( (c1 - c0) * 100 * 100 / HZ / SIZE_MB ))"
            done
        done
    done
done
layout shared
echo "throughput, ${SIZE_MB} MB x ${ROUNDS} rounds, MB/s (median), on $NCPU CPUs;"
echo "cpu = CPU seconds the whole machine spent per 100 MB (median)"
cs() { printf '%d.%02d' $(( $1 / 100 )) $(( $1 % 100 )); }
for topo in $TOPOLOGIES; do
    case $topo in
    shared) echo "shared: every process on CPUs $ALLCPUS" ;;
    split) echo "split: target on CPUs $TCPUS; client, gateway, jump host on $RCPUS" ;;
    esac
    for tty in notty pty; do
        k=$topo.$tty
        d=$(echo "${res[$k.direct]}" | median)
        p=$(echo "${res[$k.proxyjump]}" | median)
        s=$(echo "${res[$k.sekisho]}" | median)
        printf '  %-5s direct %4s  proxyjump %4s  sekisho %4s  sekisho/direct %s  sekisho/proxyjump %s\n' \
            "$tty" "$d" "$p" "$s" "$(echo "scale=2; $s / $d" | bc)" \
            "$(echo "scale=2; $s / $p" | bc)"
        printf '  %-5s cpu:   direct %s  proxyjump %s  sekisho %s\n' "" \
            "$(cs "$(echo "${cpu[$k.direct]}" | median)")" \
            "$(cs "$(echo "${cpu[$k.proxyjump]}" | median)")" \
            "$(cs "$(echo "${cpu[$k.sekisho]}" | median)")"
    done
done
# Every Sekisho session above was recorded; verifying the largest
# transcript measures the auditor's side.
id=$(sqlite3 "$GW/state.db" "SELECT id FROM sessions ORDER BY bytes_out DESC LIMIT 1")
t=$(sqlite3 "$GW/state.db" "SELECT transcript FROM sessions WHERE id='$id'")
sz=$(stat -c %s "$t")
t0=$(date +%s%N)
"$BUILD/recorder/sekisho-verify" -k "$GW/signing_key.pub" "$t" > /dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "verify: $(( sz / 1000000 )) MB transcript in $ms ms: $(( sz / 1000 / (ms > 0 ? ms : 1) )) MB/s"
