#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Engines that stop and start while the daemon runs. containerd is stopped with a
# task running (its shim keeps the task alive): the task stays gated while the
# engine is down and after it is back, and a task started after the restart is
# gated, named and its image learned (containerd's API connection is re-established,
# not left stale).
# dockerd is stopped (its containers stop with it) and started again: a container
# started afterwards is gated with its name and image from the new engine.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"
SERVICES="$LAYERLOCK_SOURCE_ROOT/tests/support/services.sh"

restart_cleanup() {
    # Whatever happened, leave both engines running for the tests that follow.
    bash "$SERVICES" containerd dockerd >/dev/null 2>&1
    engines_cleanup
}
trap restart_cleanup EXIT

stop_engine() {  # stop_engine NAME: SIGTERM, then wait until it is gone
    pkill -TERM -x "$1" || return 1
    local deadline=$((SECONDS + 60))
    while pgrep -x "$1" >/dev/null; do ((SECONDS < deadline)) || return 1; sleep 0.2; done
}

ctr_image default
kept=ll-kept-$RUN_ID
later=ll-later-$RUN_ID
ctr_run default "$kept"
write_config enforce
start_daemon
check "the task is gated" grep -q "gating container runtime=containerd overlay=$kept " "$T/daemon.log"

check "containerd stops (its task keeps running in its shim)" stop_engine containerd
check "the task's process is still alive" pgrep -f "sleep 100000" >/dev/null
# With containerd down, exec into the task through its shim is not possible; the
# drifted file is run by a process already inside the task (nsenter into its pid).
pid=$(pgrep -f "sleep 100000" | while read -r p; do
    [ "$(stat -L -c %i /proc/$p/ns/mnt)" != "$(stat -L -c %i /proc/self/ns/mnt)" ] && echo "$p"; done | head -1)
out=$(nsenter -t "$pid" -m -p -- /bin/sh -c "$DRIFT" 2>&1) && rc=0 || rc=$?
check "engine down: drift in the running task is still denied (rc=$rc: $out)" grep -q "Operation not permitted" <<<"$out"
check "engine down: the denial is alerted" journal_has LAYERLOCK_ACTION=denied LAYERLOCK_CONTAINER_ID="$kept"

check "containerd starts again" bash "$SERVICES" containerd
out=$(ctr_exec default "$kept" sh -c "$DRIFT") && rc=0 || rc=$?
check "engine back: drift in the same task is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"
ctr_run default "$later"
check "a task started after the restart is gated" wait_for_log "gating container runtime=containerd overlay=$later " 10
check "and named from the restarted engine, its image asked of its API again" \
    wait_for_log "container id=${later:0:12} name=\"$later\" image=\"$CTR_REF\"" 10
out=$(ctr_exec default "$later" sh -c "$DRIFT") && rc=0 || rc=$?
check "its drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"

check "dockerd stops" stop_engine dockerd
check "dockerd starts again" bash "$SERVICES" dockerd
after=ll-docker-after-$RUN_ID
run_container "$after"
check "a container started after dockerd's restart is named from the new engine" \
    wait_for_log "name=\"$after\" image=\"$IMAGE\"" 15
out=$(docker exec "$after" sh -c 'cp /bin/busybox /tmp/x && /tmp/x true' 2>&1) && rc=0 || rc=$?
check "its drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"
check "the denial carries its name" journal_has LAYERLOCK_ACTION=denied LAYERLOCK_CONTAINER_NAME="$after" \
    LAYERLOCK_RUNTIME=docker

finish
