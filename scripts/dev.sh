#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The two developer commands (run as root on Debian 12):
#   scripts/dev.sh run    install what is missing, build, run layerlockd on conf/layerlock.toml
#   scripts/dev.sh test   install what is missing, build, run every test suite
# The test command ends with one line "N passed, N failed" (meson tests: unit,
# privileged, e2e). Under CI=true a skipped test counts as failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's programs only: what the packages below install, never a hand-installed
# /usr/local or ~/.pyenv copy (tests/support/check_install_deps.py checks the same PATH).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

BUILD_DEPS=(python3 meson ninja-build pkg-config g++ libboost1.81-dev libboost-json1.81-dev
            libsqlite3-dev libssl-dev libspdlog-dev libtoml11-dev doctest-dev libsystemd-dev
            libcli11-dev libarchive-dev prometheus-cpp-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc)
TEST_DEPS=(docker.io containerd runc podman busybox-static systemd sqlite3 util-linux procps curl git
           debhelper dpkg-dev lintian fakeroot man-db libcap2-bin prometheus)

install_missing() {
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
    ((${#missing[@]} == 0)) && return 0
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
    [ -d build ] || meson setup build --werror >/dev/null
    ninja -C build
}

summarize() {  # reads meson's testlog.json, prints "N passed, N failed"
    python3 - "$1" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res == "OK": passed += 1
    elif res == "SKIP": skipped += 1
    else: failed += 1
    if res != "OK": print(f"  {res}: {r.get('name')}")
if os.environ.get("CI") == "true":
    failed += skipped; skipped = 0
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
}

case "${1:-}" in
    run)
        install_missing "${BUILD_DEPS[@]}"
        build
        exec ./build/src/daemon/layerlockd --config conf/layerlock.toml
        ;;
    test)
        install_missing "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
        build
        bash tests/support/services.sh journald containerd dockerd
        meson test -C build --print-errorlogs --num-processes 1 "${@:2}" || true
        summarize build/meson-logs/testlog.json
        ;;
    deps)   # every package the two commands install, one per line (checked by tests/support/check_install_deps.py)
        printf '%s\n' "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
        ;;
    *)
        echo "usage: scripts/dev.sh run|test|deps" >&2
        exit 2
        ;;
esac
