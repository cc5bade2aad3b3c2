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
#
# TTYS (default "notty pty") picks the session kinds.
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
    [ -n "$B_PID" ] && taskset -a -p -c "$r" "$B_PID" > /dev/null
    CLIENT_CPUS=$r
}

# CPU time by side, from a cgroup per side (target: its sshd and all it
# starts; mid: the gateway or jump host; client: each run's ssh), which
# the processes' children inherit. cgroup v2 (cpu.stat) or v1 cpuacct;
# without either the split is not printed. Removed again on exit.
CG=
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG=/sys/fs/cgroup
elif [ -d /sys/fs/cgroup/cpuacct ]; then
    CG=/sys/fs/cgroup/cpuacct
fi
cg_made=
cg_new() { # NAME: creates the group; fails quietly (no split then)
    [ -n "$CG" ] && mkdir -p "$CG/skbench-$$-$1" 2>/dev/null &&
        cg_made="$cg_made $CG/skbench-$$-$1"
}
cg_join() { echo "$2" > "$CG/skbench-$$-$1/cgroup.procs" 2>/dev/null; }
cg_usec() { # NAME: CPU microseconds the group's processes used so far
    local d=$CG/skbench-$$-$1
    if [ -f "$d/cpu.stat" ]; then
        awk '$1 == "usage_usec" {print $2}' "$d/cpu.stat"
    elif [ -f "$d/cpuacct.usage" ]; then
        echo $(( $(cat "$d/cpuacct.usage") / 1000 ))
    else
        echo 0
    fi
}
cg_cleanup() {
    local d
    for d in $cg_made; do
        # the processes go back to the root group before it can go
        while read -r p; do
            echo "$p" > "$CG/cgroup.procs" 2>/dev/null
        done < "$d/cgroup.procs"
        rmdir "$d" 2>/dev/null
    done
}
SPLIT=1
for g in target gateway jump client before; do
    cg_new $g || SPLIT=
done
if [ -n "$SPLIT" ]; then
    cg_join target "$TARGET_PID" && cg_join gateway "$GW_PID" &&
        cg_join jump "$JUMP_PID" || SPLIT=
    [ -n "$B_PID" ] && { cg_join before "$B_PID" || SPLIT=; }
fi
trap 'cg_cleanup; cleanup' EXIT
# Waits (up to 5 s) until listener PID has no connection left, so a
# session's last work (the gateway's seal, sshd's exit) is counted.
reaped() {
    for _ in $(seq 50); do
        pgrep -P "$1" > /dev/null || return 0
        sleep 0.1
    done
}
run_mode() { # mode tty [command]; the client runs on CLIENT_CPUS
    local tt=()
    [ "$2" = pty ] && tt=(-tt)
    mode_argv "$1" "${tt[@]}"
    (
    taskset -p -c "$CLIENT_CPUS" "$BASHPID" > /dev/null
    [ -n "$SPLIT" ] && cg_join client "$BASHPID"
    "${ARGV[@]}" "${3:-cat $WORK/payload}" < /dev/null > /dev/null 2>&1
    )
}
# Busy CPU time (user, nice, system, irq, softirq), in clock ticks.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
HZ=$(getconf CLK_TCK)
# CPU ticks -> CPU seconds per 100 MB, in hundredths
per100() { echo $(( $1 * 100 * 100 / HZ / SIZE_MB )); }
# the same from CPU microseconds
us100() { echo $(( $1 * 100 / 10000 / SIZE_MB )); }

# The modes of round R, rotated by R and reversed every other round: a
# mode that always ran right after another (the page cache full of the
# previous session's transcript, the target's sshd just reaped) would pay
# for its place, not for itself. In an A/A run (BEFORE = this build) with
# a fixed order, the second gateway cost 0.81-1.00 of the first.
round_order() {
    local m=($MODES) n k i j
    n=${#m[@]}
    k=$(( $1 % n ))
    for i in $(seq 0 $(( n - 1 ))); do
        j=$(( (i + k) % n ))
        [ $(( $1 % 2 )) = 1 ] && j=$(( (n - 1 - i + k) % n ))
        echo "${m[$j]}"
    done
}

declare -A res cpu tcpu mcpu ccpu wall conn
for r in $(seq 1 "$ROUNDS"); do
    for topo in $TOPOLOGIES; do
        layout "$topo"
        for tty in ${TTYS:-notty pty}; do
            for mode in $(round_order "$r"); do
                mid=gateway
                [ "$mode" = proxyjump ] && mid=jump
                [ "$mode" = before ] && mid=before
                # What a session costs before and after its data: key
                # exchange and logins (two for ProxyJump and Sekisho,
                # OpenSSH's post-quantum kex where OpenSSH is at both
                # ends), then the close.
                t0=$(date +%s%N)
                run_mode "$mode" "$tty" true
                k=$topo.$tty.$mode
                conn[$k]="${conn[$k]:-} $(( ($(date +%s%N) - t0) / 1000000 ))"
                reaped "$TARGET_PID"
                reaped "$GW_PID"
                reaped "$JUMP_PID"
                [ -n "$B_PID" ] && reaped "$B_PID"
                c0=$(busy)
                u0=$(cg_usec target) m0=$(cg_usec $mid) k0=$(cg_usec client)
                t0=$(date +%s%N)
                run_mode "$mode" "$tty"
                ms=$(( ($(date +%s%N) - t0) / 1000000 ))
                c1=$(busy)
                reaped "$TARGET_PID"
                reaped "$GW_PID"
                reaped "$JUMP_PID"
                [ -n "$B_PID" ] && reaped "$B_PID"
                res[$k]="${res[$k]:-} $(( SIZE_MB * 1000 / (ms > 0 ? ms : 1) ))"
                wall[$k]="${wall[$k]:-} $ms"
                cpu[$k]="${cpu[$k]:-} $(per100 $(( c1 - c0 )))"
                tcpu[$k]="${tcpu[$k]:-} $(us100 $(( $(cg_usec target) - u0 )))"
                mcpu[$k]="${mcpu[$k]:-} $(us100 $(( $(cg_usec $mid) - m0 )))"
                ccpu[$k]="${ccpu[$k]:-} $(us100 $(( $(cg_usec client) - k0 )))"
            done
        done
    done
done
layout shared
echo "throughput, ${SIZE_MB} MB x ${ROUNDS} rounds, MB/s (median), on $NCPU CPUs;"
echo "the first line counts the whole session (connect, data, close); data ="
echo "the same run less the median time of a session that sends nothing"
echo "cpu = CPU seconds the whole machine spent per 100 MB (median); below it,"
echo "the part each side's processes spent (target: its sshd and cat; the"
echo "gateway or jump host; the client ssh); the rest is the kernel's own work"
echo "(network softirqs, the pty's workers)"
cs() { printf '%d.%02d' $(( $1 / 100 )) $(( $1 % 100 )); }
for topo in $TOPOLOGIES; do
    case $topo in
    shared) echo "shared: every process on CPUs $ALLCPUS" ;;
    split) echo "split: target on CPUs $TCPUS; client, gateway, jump host on $RCPUS" ;;
    esac
    for tty in ${TTYS:-notty pty}; do
        k=$topo.$tty
        d=$(echo "${res[$k.direct]}" | median)
        p=$(echo "${res[$k.proxyjump]}" | median)
        s=$(echo "${res[$k.sekisho]}" | median)
        printf '  %-5s direct %4s  proxyjump %4s  sekisho %4s  sekisho/direct %s  sekisho/proxyjump %s\n' \
            "$tty" "$d" "$p" "$s" "$(echo "scale=2; $s / $d" | bc)" \
            "$(echo "scale=2; $s / $p" | bc)"
        [ -n "$B_PID" ] && printf '  %-5s before %4s  sekisho/before %s\n' "" \
            "$(echo "${res[$k.before]}" | median)" \
            "$(echo "scale=2; $s / $(echo "${res[$k.before]}" | median)" | bc)"
        # MB/s over the data alone: median run minus median connect+close
        net() {
            local w c
            w=$(echo "${wall[$k.$1]}" | median)
            c=$(echo "${conn[$k.$1]}" | median)
            echo $(( SIZE_MB * 1000 / (w - c > 0 ? w - c : 1) ))
        }
        d=$(net direct) p=$(net proxyjump) s=$(net sekisho)
        printf '  %-5s data:  direct %4s  proxyjump %4s  sekisho %4s  sekisho/direct %s  sekisho/proxyjump %s\n' \
            "" "$d" "$p" "$s" "$(echo "scale=2; $s / $d" | bc)" \
            "$(echo "scale=2; $s / $p" | bc)"
        if [ -n "$B_PID" ]; then
            b=$(net before)
            printf '  %-5s data:  before %4s  sekisho/before %s\n' "" "$b" \
                "$(echo "scale=2; $s / $b" | bc)"
        fi
        printf '  %-5s connect+close ms: direct %s  proxyjump %s  sekisho %s\n' "" \
            "$(echo "${conn[$k.direct]}" | median)" \
            "$(echo "${conn[$k.proxyjump]}" | median)" \
            "$(echo "${conn[$k.sekisho]}" | median)"
        printf '  %-5s cpu:   direct %s  proxyjump %s  sekisho %s%s\n' "" \
            "$(cs "$(echo "${cpu[$k.direct]}" | median)")" \
            "$(cs "$(echo "${cpu[$k.proxyjump]}" | median)")" \
            "$(cs "$(echo "${cpu[$k.sekisho]}" | median)")" \
            "${B_PID:+  before $(cs "$(echo "${cpu[$k.before]}" | median)")}"
        [ -n "$SPLIT" ] && for mode in $MODES; do
            printf '  %-5s   %-9s target %s  %s  client %s\n' "" "$mode" \
                "$(cs "$(echo "${tcpu[$k.$mode]}" | median)")" \
                "$(case $mode in
                   direct) echo "         -   " ;;
                   proxyjump) echo "jump host $(cs "$(echo "${mcpu[$k.$mode]}" | median)")" ;;
                   sekisho|before) echo "gateway   $(cs "$(echo "${mcpu[$k.$mode]}" | median)")" ;;
                   esac)" \
                "$(cs "$(echo "${ccpu[$k.$mode]}" | median)")"
        done
        if [ -n "$SPLIT" ] && [ -n "$B_PID" ]; then
            g=$(echo "${mcpu[$k.sekisho]}" | median)
            b=$(echo "${mcpu[$k.before]}" | median)
            printf '  %-5s   gateway cpu sekisho/before %s (per round: %s / %s)\n' "" \
                "$(echo "scale=2; $g / $(( b > 0 ? b : 1 ))" | bc)" \
                "${mcpu[$k.sekisho]# }" "${mcpu[$k.before]# }"
        fi
    done
done
# Every Sekisho session above was recorded; verifying the largest
# transcript measures the auditor's side.
id=$(sqlite3 "$GW/state.db" "SELECT id FROM sessions ORDER BY bytes_out DESC LIMIT 1")
t=$(sqlite3 "$GW/state.db" "SELECT transcript FROM sessions WHERE id='$id'")
sz=$(stat -c %s "$t")
# (the median of three runs of the whole program: exec, keys, the file)
vms=
for _ in 1 2 3; do
    t0=$(date +%s%N)
    "$BUILD/recorder/sekisho-verify" -k "$GW/signing_key.pub" "$t" > /dev/null
    vms="$vms $(( ($(date +%s%N) - t0) / 1000000 ))"
done
ms=$(echo "$vms" | median)
echo "verify: $(( sz / 1000000 )) MB transcript in $ms ms (runs:$vms): $(( sz / 1000 / (ms > 0 ? ms : 1) )) MB/s"
