#!/usr/bin/env bash
# Logins under a pre-authentication flood, interleaved: Sekisho against an
# OpenSSH sshd with Debian's defaults (MaxStartups 10:30:100), both on
# loopback. Each round floods one side with SILENT connections that never
# speak plus STALL connections stuck in key exchange, from SOURCES other
# loopback addresses (127.0.0.2...), and times LOGINS key logins from
# 127.0.0.1 during it. Prints per side: logins that got in, p50 and max ms,
# and the same without a flood.
#   bench/flood.sh [ROUNDS] [LOGINS]    (defaults 3 and 10)
# Knobs: SILENT (300) STALL (50) SOURCES (30).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-3}
LOGINS=${2:-10}
SILENT=${SILENT:-300}
STALL=${STALL:-50}
SOURCES=${SOURCES:-30}
. "$HERE/setup.sh"
# The shared set-up caps startups for the other benchmarks; this one is
# about the defaults.
gw_stop
sed -i 's/^max_startups = .*/max_startups = 10:30:100/' "$CONF"
gw_start || die "the gateway did not restart"

# An sshd as OpenSSH ships it, as far as the pre-auth limits go.
mkdir -p "$WORK/plain"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/plain/hostkey"
cp "$WORK/client.pub" "$WORK/plain/authorized_keys"
PPORT=$(free_port)
cat > "$WORK/plain/sshd_config" <<EOC
Port $PPORT
ListenAddress 127.0.0.1
HostKey $WORK/plain/hostkey
PidFile $WORK/plain/sshd.pid
AuthorizedKeysFile $WORK/plain/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
EOC
/usr/sbin/sshd -f "$WORK/plain/sshd_config" -E "$WORK/plain/sshd.log" &&
    wait_port "$PPORT" || die "plain sshd did not start"

# login_ms SIDE: one key login that runs `true`; prints ms or "fail".
login_ms() {
    local t0
    t0=$(date +%s%N)
    case $1 in
    sekisho) mode_argv sekisho -o ConnectTimeout=10 ;;
    openssh) ARGV=("${SSHC[@]}" -o ConnectTimeout=10 -p "$PPORT"
        "$TLOGIN@127.0.0.1") ;;
    esac
    if timeout 20 "${ARGV[@]}" true < /dev/null > /dev/null 2>&1; then
        echo $(( ($(date +%s%N) - t0) / 1000000 ))
    else
        echo fail
    fi
}

# run SIDE FLOOD(0|1): LOGINS logins; appends times to $WORK/t.SIDE.FLOOD
run() {
    local side=$1 flood=$2 port pid=0 i
    port=$GPORT
    [ "$side" = openssh ] && port=$PPORT
    if [ "$flood" = 1 ]; then
        rm -f "$WORK/up"
        python3 "$HERE/../tests/integration/flood.py" --port "$port" \
            --silent "$SILENT" --stall "$STALL" --sources "$SOURCES" \
            --duration 120 --ready "$WORK/up" >> "$WORK/flood.$side" &
        pid=$!
        wait_until 30 test -f "$WORK/up"
        sleep 2
    fi
    for i in $(seq 1 "$LOGINS"); do
        login_ms "$side" >> "$WORK/t.$side.$flood"
    done
    if [ "$pid" != 0 ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        sleep 12 # the flood's stalled sessions and timeouts drain
    fi
}

for r in $(seq 1 "$ROUNDS"); do
    for side in sekisho openssh; do
        run "$side" 0
        run "$side" 1
    done
    log "round $r done"
done

printf '%-8s %-8s %10s %8s %8s\n' side flood "got in" "p50 ms" "max ms"
for side in sekisho openssh; do
    for flood in 0 1; do
        f="$WORK/t.$side.$flood"
        ok=$(grep -vc fail "$f")
        tot=$(wc -l < "$f")
        p50=$(grep -v fail "$f" | median)
        mx=$(grep -v fail "$f" | sort -n | tail -1)
        printf '%-8s %-8s %10s %8s %8s\n' "$side" \
            "$([ "$flood" = 1 ] && echo yes || echo no)" "$ok/$tot" \
            "${p50:--}" "${mx:--}"
    done
done
kill "$(cat "$WORK/plain/sshd.pid")" 2>/dev/null
