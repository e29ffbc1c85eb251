#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The two developer commands (run as root on Debian 12):
#   scripts/dev.sh run    install what is missing, build, run layerlockd on conf/layerlock.toml
#   scripts/dev.sh test   install what is missing, build, run every test suite
# The test command ends with one line "N passed, N failed": meson's unit,
# privileged and e2e suites; the unit and privileged suites again under
# ASan+UBSan (build-asan) and under TSan (build-tsan); every libFuzzer harness of
# tests/fuzz for LAYERLOCK_FUZZ_SECONDS (default 60) each (build-fuzz, clang).
# LAYERLOCK_QUICK=1 runs the first build's suites only. Under CI=true a skipped
# test counts as failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's programs only: what the packages below install, never a hand-installed
# /usr/local or ~/.pyenv copy (tests/support/check_install_deps.py checks the same PATH).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

BUILD_DEPS=(python3 meson ninja-build pkg-config g++ libboost1.81-dev libboost-json1.81-dev
            libsqlite3-dev libssl-dev libspdlog-dev libtoml11-dev doctest-dev libsystemd-dev
            libcli11-dev libarchive-dev prometheus-cpp-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc)
TEST_DEPS=(docker.io containerd runc podman busybox-static systemd sqlite3 util-linux procps curl git strace debootstrap
           debhelper dpkg-dev lintian fakeroot man-db libcap2-bin prometheus clang libclang-rt-14-dev)

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

# The test executables of the unit and privileged suites, as ninja targets.
suite_targets() {
    meson introspect --tests "$1" | python3 -c 'import json, sys
for t in json.load(sys.stdin):
    if set(t["suite"]) & {"layerlock:unit", "layerlock:privileged"} and t["cmd"][0].startswith(sys.argv[1]):
        print(t["cmd"][0][len(sys.argv[1]) + 1:])' "$(cd "$1" && pwd)"
}

# sanitized DIR MESON-OPTIONS...: the unit and privileged suites in a build of their own.
sanitized() {
    local dir=$1; shift
    [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null
    ninja -C "$dir" $(suite_targets "$dir") >/dev/null
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 1 --suite unit --suite privileged || true
}

summarize() {  # reads meson's testlog.json files, prints "N passed, N failed"
    python3 - "$@" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
  where = path.split("/")[0]
  for line in open(path):
    r = json.loads(line)
    res = r.get("result")
    if res == "OK": passed += 1
    elif res == "SKIP": skipped += 1
    else: failed += 1
    if res != "OK": print(f"  {res}: {r.get('name')} ({where})")
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
        logs=(build/meson-logs/testlog.json)
        if [ "${LAYERLOCK_QUICK:-0}" != 1 ] && [ $# -le 1 ]; then
            # Sanitizers report to stderr and fail the test (halt on the first report).
            ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                sanitized build-asan -Db_sanitize=address,undefined -Db_lundef=false
            TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 sanitized build-tsan -Db_sanitize=thread
            [ -d build-fuzz ] || CXX=clang++ meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
                -Db_lundef=false -Dfuzz_seconds="${LAYERLOCK_FUZZ_SECONDS:-60}" >/dev/null
            ninja -C build-fuzz $(meson introspect --targets build-fuzz | python3 -c 'import json, os, sys
print(" ".join(os.path.relpath(t["filename"][0], sys.argv[1]) for t in json.load(sys.stdin) if t["name"].startswith("fuzz_")))' \
                "$(cd build-fuzz && pwd)") >/dev/null
            meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes 1 --suite fuzz || true
            logs+=(build-asan/meson-logs/testlog.json build-tsan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json)
        fi
        summarize "${logs[@]}"
        ;;
    deps)   # every package the two commands install, one per line (checked by tests/support/check_install_deps.py)
        printf '%s\n' "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
        ;;
    *)
        echo "usage: scripts/dev.sh run|test|deps" >&2
        exit 2
        ;;
esac
