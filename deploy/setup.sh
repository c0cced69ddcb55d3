# Shared by deploy/cluster and tests/run: make sure the Debian packages we
# need are there (installing them when we are root), then build with CMake.
# Source it; it defines sb_ensure_packages and sb_build.

SB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages to build and run switchboard, and to test it.
SB_BUILD_PACKAGES="build-essential cmake pkg-config libevent-dev libhiredis-dev
  libsqlite3-dev libjansson-dev libsodium-dev libcmocka-dev python3"
SB_RUN_PACKAGES="redis-server curl python3"
# Only the tests need these: docker-compose checks the compose file,
# chromium runs the dashboard's browser test, gnuplot draws the overload lab.
SB_TEST_PACKAGES="valgrind docker-compose chromium gnuplot-nox"

# True when every named Debian package is installed.
sb_have_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || return 1
    done
}

# Install what is missing: with apt-get as root, otherwise say what to run.
sb_ensure_packages() {
    local want missing="" p
    want=$(echo "$@")
    for p in $want; do
        sb_have_packages "$p" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "switchboard needs these Debian packages:$missing" >&2
        echo "install them with: sudo apt-get install -y$missing" >&2
        return 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; update once, then install.
    if ! apt-get install -y -qq $missing >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
            echo "apt-get could not install:$missing" >&2
            return 1
        }
    fi
}

# sb_build DIR [cmake args...]: configure once, then build with every core.
sb_build() {
    local dir=$1
    shift
    cmake -S "$SB_ROOT" -B "$dir" "$@" >/dev/null || return 1
    cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -Ev '^\[|^-- |Scanning|Built target|Consolidate' || true
    [ "${PIPESTATUS[0]}" -eq 0 ]
}
