# Debian 12 packages Sekisho needs; sourced by deploy/demo and tests/check.
# sk_install_deps build|test|fresh: installs whatever of the list is missing
# (as root, with apt-get), and nothing else. Each list holds all that its
# command runs beyond a minimal Debian 12 (debootstrap --variant=minbase):
# tests/fresh-debian proves it there. fresh: what tests/fresh-debian needs
# on the machine that runs it.

SK_DEPS_BUILD="build-essential cmake pkg-config libssh-dev libsodium-dev
libsqlite3-dev libinih-dev libjansson-dev libseccomp-dev libpwquality-dev
cracklib-runtime liboath-dev libqrencode-dev oathtool openssh-client
openssh-server libpam0g-dev libpam-modules libssl-dev"
SK_DEPS_TEST="libcmocka-dev tmux iproute2 procps sqlite3 asciinema lrzsz hydra
ssh-audit clang gdb debhelper fakeroot lintian debootstrap"

# Found missing on a minimal Debian 12 by tests/fresh-debian: procps (the
# demo's pkill); python3 (tests); xauth (the test targets' sshd forwards
# X11 only with it; openssh-server merely recommends it, and we install no
# recommends); libclang-rt-14-dev (libFuzzer and the sanitizer runtimes,
# only recommended by clang); jq (test_backup.sh).
SK_DEPS_BUILD="$SK_DEPS_BUILD procps"
SK_DEPS_TEST="$SK_DEPS_TEST python3 xauth libclang-rt-14-dev jq"
# tests/package-test boots the installed package under a real systemd.
SK_DEPS_TEST="$SK_DEPS_TEST systemd-container"
# gettext: msgfmt builds the message catalogues (po/), xgettext and msgcmp
# check them; locales: test_lang.sh makes ja_JP.UTF-8 with localedef.
SK_DEPS_BUILD="$SK_DEPS_BUILD gettext"
SK_DEPS_TEST="$SK_DEPS_TEST locales"
SK_DEPS_FRESH="debootstrap"

sk_install_deps() {
    local want="$SK_DEPS_BUILD" missing="" p
    [ "${1:-build}" = test ] && want="$want $SK_DEPS_TEST"
    [ "${1:-build}" = fresh ] && want="$SK_DEPS_FRESH"
    for p in $want; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root to install)" >&2
        return 1
    fi
    echo "installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || return 1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2 || return 1
}
