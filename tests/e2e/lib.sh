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
run_container() {
    local name=$1; shift
    CONTAINERS+=("$name")
    docker run -d --network none --name "$name" "$@" "$IMAGE" sleep 100000 >/dev/null
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

# journal_has FIELD=VALUE... : an entry matching every field exists (waits up to 5 s).
journal_has() {
    local deadline=$((SECONDS + 5))
    until [ -n "$(journalctl --no-pager -o json "$@" 2>/dev/null | head -1)" ]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
