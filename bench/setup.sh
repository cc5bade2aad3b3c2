# shellcheck shell=bash disable=SC2034 # sets what its sourcer uses
# Shared set-up of the benchmarks (sourced): a gateway and two real sshd
# targets on loopback (web01 behind the gateway, jump as an OpenSSH jump
# host), one client key for every mode, and mode_argv to build each mode's
# ssh command line. Expects HERE (the bench directory).
BUILD=${BUILD:-$HERE/../build}
. "$HERE/../tests/integration/lib.sh"

gw_init "max_startups = 20" "second_factor = none" ${BENCH_CONFIG:+"$BENCH_CONFIG"} > /dev/null
start_target web01
start_target jump
add_user alice
add_target web01
ctl grant add alice web01 --exec > /dev/null
gw_start || die "the gateway did not start"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client"
cat "$WORK/client.pub" >> "$WORK/web01/authorized_keys"
cat "$WORK/client.pub" >> "$WORK/jump/authorized_keys"
# Every mode logs in with the same key, so none pays for a password hash
# (argon2id) the others do not. The key is alice's only factor here
# (second_factor = none); the data path is the same as with any rule.
ctl user key add alice "$WORK/client.pub" > /dev/null
ctl user methods alice publickey > /dev/null

# BEFORE=BUILD_DIR (another build, e.g. of the main branch) and/or
# BEFORE_CONFIG="key = value": a second gateway, set up the same way, as
# the mode "before", interleaved with the others, so a change is measured
# against what it changes in one run (ratios "sekisho/before").
B_PID= B_PORT=
if [ -n "${BEFORE:-}${BEFORE_CONFIG:-}" ]; then
    s_build=$BUILD s_bin=$BIN s_gw=$GW s_port=$GPORT s_conf=$CONF s_pid=$GW_PID
    BUILD=${BEFORE:-$BUILD}
    BIN=$BUILD/gateway
    GW_DIR=$WORK/gw-before gw_init "max_startups = 20" "second_factor = none" \
        ${BEFORE_CONFIG:+"$BEFORE_CONFIG"} > /dev/null ||
        die "the before gateway did not initialise"
    # its own egress key (gw_init wrote it to egress.pub) for the target
    cat "$WORK/egress.pub" >> "$WORK/web01/authorized_keys"
    add_user alice
    add_target web01
    ctl grant add alice web01 --exec > /dev/null
    ctl user key add alice "$WORK/client.pub" > /dev/null
    ctl user methods alice publickey > /dev/null
    gw_start || die "the before gateway did not start"
    B_PID=$GW_PID B_PORT=$GPORT B_GW=$GW B_BUILD=$BUILD
    BUILD=$s_build BIN=$s_bin GW=$s_gw GPORT=$s_port CONF=$s_conf GW_PID=$s_pid
fi

SSHC=(ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes -i "$WORK/client")
MODES=${BENCH_MODES:-"direct proxyjump sekisho${B_PID:+ before}"}

# mode_argv MODE [SSH_OPTION...]: sets ARGV to the command line that
# reaches web01 in MODE, ready for the remote command to be appended.
mode_argv() {
    local mode=$1
    shift
    case $mode in
    direct) ARGV=("${SSHC[@]}" "$@" -p "$TPORT_web01" "$TLOGIN@127.0.0.1") ;;
    proxyjump)
        ARGV=("${SSHC[@]}" "$@"
            -o "ProxyCommand=${SSHC[*]} -p $TPORT_jump -W %h:%p $TLOGIN@127.0.0.1"
            -p "$TPORT_web01" "$TLOGIN@127.0.0.1") ;;
    sekisho) ARGV=("${SSHC[@]}" "$@" -p "$GPORT" alice@127.0.0.1 web01 --) ;;
    before) ARGV=("${SSHC[@]}" "$@" -p "$B_PORT" alice@127.0.0.1 web01 --) ;;
    *) die "unknown mode $mode" ;;
    esac
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# percentile P of the numbers on stdin (nearest rank)
pct() { tr ' ' '\n' | grep . | sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'; }
