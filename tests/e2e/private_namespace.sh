#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A containerd started in a mount namespace of its own (unshare --mount, private
# propagation): its task root filesystems are not in the host's mount table, yet
# the daemon finds them through the namespace's processes and gates them. A task
# running before the daemon starts is found by the start-up scan; once that
# namespace is known its table is watched, so a task started later is gated
# without waiting for the next scan (the scan interval is set to a minute here);
# drift in both is denied with EPERM and alerted (the image named by that
# containerd's own API socket); a deleted task is released; the
# host's own mount table never shows these overlays.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"

PRIV_STATE=/run/ll-priv-$RUN_ID
PRIV_ROOT=/var/lib/ll-priv-$RUN_ID
PRIV_ADDR=$PRIV_STATE/containerd.sock
PRIV_PID=
PCTR=(ctr --address "$PRIV_ADDR" -n default)

private_cleanup() {
    set +e
    for id in "${PRIV_TASKS[@]}"; do
        "${PCTR[@]}" tasks delete -f "$id" >/dev/null 2>&1
        "${PCTR[@]}" containers delete "$id" >/dev/null 2>&1
    done
    "${PCTR[@]}" images rm "$CTR_REF" >/dev/null 2>&1
    if [ -n "$PRIV_PID" ]; then kill "$PRIV_PID" 2>/dev/null; wait "$PRIV_PID" 2>/dev/null; fi
    rm -rf "$PRIV_STATE" "$PRIV_ROOT"
    engines_cleanup
}
trap private_cleanup EXIT
PRIV_TASKS=()

mkdir -p "$PRIV_STATE" "$PRIV_ROOT"
setsid unshare --mount --propagation private -- containerd --root "$PRIV_ROOT" --state "$PRIV_STATE" \
    --address "$PRIV_ADDR" >"$T/private-containerd.log" 2>&1 </dev/null &
PRIV_PID=$!
deadline=$((SECONDS + 30))
until "${PCTR[@]}" version >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { cat "$T/private-containerd.log" >&2; fail "private containerd did not start"; finish; }
    sleep 0.2
done
check "containerd runs in a mount namespace other than the host's" \
    [ "$(stat -L -c %i /proc/$PRIV_PID/ns/mnt)" != "$(stat -L -c %i /proc/self/ns/mnt)" ]
save_image | "${PCTR[@]}" images import - >/dev/null

prun() {  # prun ID: a detached task sleeping in the private containerd
    PRIV_TASKS+=("$1")
    "${PCTR[@]}" run -d --snapshotter overlayfs "$CTR_REF" "$1" sleep 100000 >/dev/null
}
pexec() {
    EXEC_SEQ=$((EXEC_SEQ + 1))
    "${PCTR[@]}" tasks exec --exec-id "llp$EXEC_SEQ" "$1" "${@:2}" 2>&1
}

before=ll-priv-before-$RUN_ID
after=ll-priv-after-$RUN_ID
prun "$before"
check "the task's root filesystem is not in the host's mount table" \
    eval "! grep -q '$PRIV_STATE/io.containerd.runtime.v2.task/default/$before/rootfs' /proc/self/mountinfo"

write_config enforce "[discovery]" "namespace_scan_ms = 60000"
start_daemon
check "a task of the private namespace is gated at start-up" \
    grep -q "gating container runtime=containerd overlay=$before .*(in the mount namespace of pid " "$T/daemon.log"
prun "$after"
check "a task started later is gated through the watched namespace, before the next scan" \
    wait_for_log "gating container runtime=containerd overlay=$after " 5

for c in "$before" "$after"; do
    out=$(pexec "$c" sh -c "$DRIFT") && rc=0 || rc=$?
    check "$c: drifted binary fails (rc=$rc: $out)" [ "$rc" -ne 0 ]
    check "$c: the failure is EPERM" grep -q "Operation not permitted" <<<"$out"
    check "$c: image binaries keep running" pexec "$c" /bin/busybox true
    check "$c: journald has the denial" journal_has LAYERLOCK_KIND=binary LAYERLOCK_ACTION=denied \
        LAYERLOCK_RUNTIME=containerd LAYERLOCK_CONTAINER_ID="$c" LAYERLOCK_PATH=/tmp/d/true \
        LAYERLOCK_IMAGE="$CTR_REF"
done
check "the host's mount table still shows none of them" \
    eval "! grep -q '$PRIV_STATE' /proc/self/mountinfo"

"${PCTR[@]}" tasks delete -f "$before" >/dev/null 2>&1
check "a deleted task of the private namespace is released" wait_for_log "released container id=$before " 10

finish
