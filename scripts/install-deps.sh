#!/usr/bin/env bash
# install-deps.sh - installs what mcpwall needs and is missing. Idempotent.
#
#   scripts/install-deps.sh build   libraries and tools to build and run (make run)
#   scripts/install-deps.sh test    the above plus test tools and the pinned npm peers (make test)
#
# Debian 12 packages only; `apt-get update` runs first whenever something is
# missing. npm peers are pinned exactly in tests/package.json (and bench/package.json).
set -euo pipefail

what=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(gcc make pkg-config meson ninja-build libjansson-dev libevent-dev libcurl4-openssl-dev
            libssl-dev libpcre2-dev libyaml-dev libseccomp-dev libhiredis-dev openssl ca-certificates)
test_pkgs=(libcmocka-dev valgrind clang libclang-rt-14-dev redis-server chromium jq curl iproute2
           nodejs npm)

pkgs=("${build_pkgs[@]}")
case "$what" in
build) ;;
test | bench) pkgs+=("${test_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    # nodejs/npm may come from outside Debian (a newer Node on the machine): accept the commands.
    if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
    if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo -n)
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm peers: reinstall only when package.json changed since the last install.
npm_install() {
    local dir=$1
    [[ -f $dir/package.json ]] || return 0
    local stamp=$dir/node_modules/.mcpwall-stamp
    local sum
    sum=$(sha256sum "$dir/package.json" | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$sum" ]]; then return 0; fi
    echo "install-deps: npm install in ${dir#"$here"/}" >&2
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$sum" >"$stamp"
}
if [[ $what == test || $what == bench ]]; then
    npm_install "$here/tests"
fi
if [[ $what == bench ]]; then
    npm_install "$here/bench"
fi
exit 0
