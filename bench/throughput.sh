#!/usr/bin/env bash
# Relay throughput: Sekisho vs direct OpenSSH and OpenSSH ProxyJump, all to
# the same real sshd target on loopback, interleaved in one run so machine
# noise hits every mode alike. Reports MB/s per mode (median of ROUNDS) and
# the ratios. Not a test: it asserts nothing.
#   usage: BUILD=build bench/throughput.sh [SIZE_MB] [ROUNDS]
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../build}
. "$HERE/../tests/integration/lib.sh"
SIZE_MB=${1:-200}
ROUNDS=${2:-3}

gw_init "max_startups = 20" "second_factor = none" > /dev/null
start_target web01
start_target jump
add_user alice
add_target web01
ctl grant add alice web01 --exec > /dev/null
gw_start
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client"
cat "$WORK/client.pub" >> "$WORK/web01/authorized_keys"
cat "$WORK/client.pub" >> "$WORK/jump/authorized_keys"
# Every mode logs in with the same key, so none pays for a password hash
# (argon2id) the others do not. The key is alice's only factor here
# (second_factor = none); the data path is the same as with any rule.
ctl user key add alice "$WORK/client.pub" > /dev/null
ctl user methods alice publickey > /dev/null
head -c $((SIZE_MB * 1000000)) /dev/urandom > "$WORK/payload"
chmod 644 "$WORK/payload"

SSHC=(ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o BatchMode=yes -i "$WORK/client")
run_mode() { # mode tty
    local cmd="cat $WORK/payload" t=()
    [ "$2" = pty ] && t=(-tt)
    case $1 in
    direct) "${SSHC[@]}" "${t[@]}" -p "$TPORT_web01" "$TLOGIN@127.0.0.1" "$cmd" ;;
    proxyjump) "${SSHC[@]}" "${t[@]}" -o "ProxyCommand=ssh -F /dev/null \
-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
-i $WORK/client -p $TPORT_jump -W %h:%p $TLOGIN@127.0.0.1" \
        -p "$TPORT_web01" "$TLOGIN@127.0.0.1" "$cmd" ;;
    sekisho) SKPUBKEY=yes gw_ssh alice -oIdentitiesOnly=yes \
        -i"$WORK/client" "${t[@]}" web01 -- "$cmd" ;;
    esac < /dev/null > /dev/null 2>&1
}

declare -A res
for tty in notty pty; do
    for r in $(seq 1 "$ROUNDS"); do
        for mode in direct proxyjump sekisho; do
            t0=$(date +%s%N)
            run_mode "$mode" "$tty"
            ms=$(( ($(date +%s%N) - t0) / 1000000 ))
            res[$tty.$mode]="${res[$tty.$mode]:-} $(( SIZE_MB * 1000 / (ms > 0 ? ms : 1) ))"
        done
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "throughput, ${SIZE_MB} MB x ${ROUNDS} rounds, MB/s (median):"
for tty in notty pty; do
    d=$(echo "${res[$tty.direct]}" | median)
    p=$(echo "${res[$tty.proxyjump]}" | median)
    s=$(echo "${res[$tty.sekisho]}" | median)
    printf '  %-5s direct %4s  proxyjump %4s  sekisho %4s  sekisho/direct %s  sekisho/proxyjump %s\n' \
        "$tty" "$d" "$p" "$s" "$(echo "scale=2; $s / $d" | bc)" \
        "$(echo "scale=2; $s / $p" | bc)"
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
