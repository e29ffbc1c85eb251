#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the end-to-end tests: real journald, containerd and dockerd
# (started when not running), a test image imported from Debian's busybox-static,
# and a layerlockd from the build tree on a per-test configuration. Every test
# cleans up its containers and its daemon on exit, also when it fails.
set -euo pipefail

SRC=${LAYERLOCK_SOURCE_ROOT:?}
BUILD=${LAYERLOCK_BUILD_ROOT:?}
LAYERLOCKD=$BUILD/src/daemon/layerlockd
LAYERLOCK=$BUILD/src/cli/layerlock
IMAGE=layerlock-test/busybox:1
IMAGE_REVISION=2   # bump when the fixture content changes: an older local image is rebuilt

if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then echo "e2e test needs root; CI=true so this is a failure" >&2; exit 1; fi
    echo "e2e test needs root: skipped" >&2; exit 77
fi

T=$(mktemp -d /tmp/layerlock-e2e.XXXXXX)
RUN_ID=$(basename "$T" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z' | tail -c 7)
FAILS=0
CONTAINERS=()
DAEMON_PID=

cleanup() {
    set +e
    [ -n "$DAEMON_PID" ] && kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
    rm -rf "$T"
}
trap cleanup EXIT

pass() { echo "ok - $*"; }
lacks() { ! grep -qF -- "$1" <<<"$2"; }   # lacks NEEDLE TEXT
fail() { echo "not ok - $*" >&2; FAILS=$((FAILS + 1)); }
check() {  # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
    if ((FAILS > 0)); then echo "$FAILS check(s) failed" >&2; [ -f "$T/daemon.log" ] && tail -40 "$T/daemon.log" >&2; exit 1; fi
    echo "all checks passed"
}

bash "$SRC/tests/support/services.sh" journald containerd dockerd

# The test image: Debian's static busybox with applet links, imported as one layer.
ensure_image() {
    [ "$(docker image inspect -f '{{index .Config.Labels "layerlock.fixture"}}' "$IMAGE" 2>/dev/null)" = "$IMAGE_REVISION" ] && return 0
    local root=$T/rootfs
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/var/log"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh cp true false sleep cat ls chmod mv ln rm echo touch id ps head; do ln -s busybox "$root/bin/$a"; done
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    mkdir -p "$root/var/lib/dpkg"   # a package database, for package drift
    printf 'Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\nPackage: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n\n' \
        > "$root/var/lib/dpkg/status"
    tar -C "$root" -c . | docker import --change "LABEL layerlock.fixture=$IMAGE_REVISION" - "$IMAGE" >/dev/null
}
ensure_image

# write_config MODE [extra toml lines...]
write_config() {
    local mode=$1; shift
    cat > "$T/layerlock.toml" <<TOML
mode = "$mode"
[baseline]
database = "$T/baseline.db"
[alerts]
journald = true
stderr = "always"
json_path = "$T/alerts.jsonl"
[daemon]
lock_file = "$T/layerlockd.lock"
control_socket = "$T/control.sock"
log_level = "debug"
TOML
    for line in "$@"; do echo "$line" >> "$T/layerlock.toml"; done
}

start_daemon() {
    local from=0   # only this daemon's "ready" line counts, not an earlier one's
    if [ -f "$T/daemon.log" ]; then from=$(wc -l < "$T/daemon.log"); fi
    LOG_FROM=$from
    "$LAYERLOCKD" --config "$T/layerlock.toml" >>"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    local deadline=$((SECONDS + 20))
    until tail -n +"$((from + 1))" "$T/daemon.log" 2>/dev/null | grep -q "ready: mode="; do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then echo "layerlockd exited:" >&2; cat "$T/daemon.log" >&2; exit 1; fi
        ((SECONDS < deadline)) || { echo "layerlockd not ready" >&2; cat "$T/daemon.log" >&2; exit 1; }
        sleep 0.05
    done
}

stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=
}

# run_container NAME [docker run args...]: detached, no network, sleeping.
# What the test containers run as PID 1 (run_container, ctr_run, podman_run). A
# test whose containers leave orphans (busybox `timeout` leaves its watcher) sets
# KEEPALIVE=("${REAPING_KEEPALIVE[@]}"): `sleep` never reaps them, and over
# minutes their zombies use up the host's pids.
KEEPALIVE=(sleep 100000)
REAPING_KEEPALIVE=(sh -c 'while :; do sleep 3600 & wait; done')

run_container() {
    local name=$1; shift
    CONTAINERS+=("$name")
    docker run -d --network none --name "$name" "$@" "$IMAGE" "${KEEPALIVE[@]}" >/dev/null
}

# wait_for_log PATTERN [SECONDS]: in what the current daemon logged
LOG_FROM=0
wait_for_log() {
    local deadline=$((SECONDS + ${2:-10}))
    until tail -n +"$((LOG_FROM + 1))" "$T/daemon.log" 2>/dev/null | grep -q -- "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# baseline_complete [SECONDS=30]: every gated container's baseline is built
baseline_complete() {
    local deadline=$((SECONDS + ${1:-30}))
    until "$LAYERLOCK" --config "$T/layerlock.toml" status --json | python3 -c 'import json, sys
s = json.load(sys.stdin); sys.exit(0 if s["containers"] and all(c["baseline"] == "complete" for c in s["containers"]) else 1)'; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# journal_has FIELD=VALUE... : an entry matching every field exists (waits up to 5 s).
journal_has() {
    local deadline=$((SECONDS + 5))
    until [ -n "$(journalctl --no-pager -o json "$@" 2>/dev/null | head -1)" ]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# A second test image for the code-open gate: dynamic programs with their loader
# and libraries copied from the host (ll_test_app linked against an image library,
# Debian's python3, perl and bash), busybox for the rest, an image script, a Python
# module, an entrypoint script and a stand-in apt-get. Built once per fixture revision.
DYN_IMAGE=layerlock-test/dyn:1
DYN_REVISION=2
ensure_dyn_image() {
    [ "$(docker image inspect -f '{{index .Config.Labels "layerlock.fixture"}}' "$DYN_IMAGE" 2>/dev/null)" = "$DYN_REVISION" ] && return 0
    local root=$T/dynroot f
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/usr/bin" "$root/usr/lib/layerlock-test" "$root/usr/local/bin" "$root/app"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for a in sh cat ls cp chmod echo true sleep mkdir rm ln head id env; do ln -s busybox "$root/bin/$a"; done
    cp "$BUILD/tests/ll_test_app" "$root/usr/bin/ll_test_app"
    cp "$BUILD/tests/libll_test_dep.so" "$root/usr/lib/layerlock-test/"
    cp /usr/bin/python3.11 "$root/usr/bin/python3"
    cp /usr/bin/perl "$root/usr/bin/perl"
    cp /bin/bash "$root/bin/bash"
    tar -C / --exclude='usr/lib/python3.11/test' --exclude='usr/lib/python3.11/idlelib' \
        --exclude='usr/lib/python3.11/tkinter' --exclude='usr/lib/python3.11/ensurepip' -cf - usr/lib/python3.11 \
        usr/lib/x86_64-linux-gnu/perl-base | tar -C "$root" -xf -
    for f in $(ldd /usr/bin/python3.11 /usr/bin/perl /bin/bash "$BUILD/tests/ll_test_app" 2>/dev/null |
               awk '$2 == "=>" && $3 ~ /^\// { print $3 } NF == 2 && $1 ~ /^\/.*\.so/ { print $1 }' |
               grep -v layerlock | sort -u); do
        cp --parents -L "$f" "$root/"
    done
    printf '#!/bin/sh\necho image-script-ok\n' > "$root/usr/local/bin/image-script.sh"
    printf '#!/bin/sh\necho entrypoint-ran > /tmp/entrypoint.out\nexec "$@"\n' > "$root/usr/local/bin/entry.sh"
    chmod 755 "$root/usr/local/bin/image-script.sh" "$root/usr/local/bin/entry.sh"
    printf 'MESSAGE = "image-module-ok"\n' > "$root/app/imagemod.py"
    printf '#!/bin/sh\necho "apt-get $*"\n' > "$root/usr/bin/apt-get"   # a package manager, by name
    chmod 755 "$root/usr/bin/apt-get"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
    tar -C "$root" -c . | docker import --change "LABEL layerlock.fixture=$DYN_REVISION" \
        --change 'ENTRYPOINT ["/usr/local/bin/entry.sh"]' - "$DYN_IMAGE" >/dev/null
}
