#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real Podman containers (containers/storage overlay driver), enforce mode: drift is
# denied with EPERM and alerted with LAYERLOCK_RUNTIME=podman, the container's id,
# name and image reference; image binaries keep running; containers started before
# and after the daemon are both gated, with the init pid Podman reports; a removed
# container is released.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"

podman_image
before=ll-pod-before-$RUN_ID
after=ll-pod-after-$RUN_ID
podman_run "$before"
write_config enforce
start_daemon
podman_run "$after"
wait_for_log "name=\"$after\"" 10 || fail "metadata of $after learned"

for c in "$before" "$after"; do
    id=$(podman inspect -f '{{.Id}}' "$c")
    pid=$(podman inspect -f '{{.State.Pid}}' "$c")
    out=$(podman exec "$c" sh -c "$DRIFT" 2>&1) && rc=0 || rc=$?
    check "$c: drifted binary fails (rc=$rc: $out)" [ "$rc" -ne 0 ]
    check "$c: the failure is EPERM" grep -q "Operation not permitted" <<<"$out"
    check "$c: image binaries keep running" podman exec "$c" /bin/busybox true
    check "$c: image applets keep running" podman exec "$c" sh -c 'ls / >/dev/null && id >/dev/null'
    check "$c: journald has the denial with Podman's fields" journal_has LAYERLOCK_KIND=binary \
        LAYERLOCK_ACTION=denied LAYERLOCK_RUNTIME=podman LAYERLOCK_CONTAINER_ID="$id" \
        LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_IMAGE="$PODMAN_REF" LAYERLOCK_PATH=/tmp/d/true
    check "$c: the init pid is Podman's ($pid)" grep -q "container id=${id:0:12} name=\"$c\" image=\"$PODMAN_REF\" pid=$pid " \
        "$T/daemon.log"
done
entry=$(journalctl --no-pager -o json LAYERLOCK_CONTAINER_NAME="$after" LAYERLOCK_KIND=binary LAYERLOCK_ACTION=denied | tail -1)
check "nothing is unknown about a Podman container" eval '! grep -q LAYERLOCK_UNKNOWN <<<"$entry"'
check "the JSON lines have the denial" grep -q "\"runtime\":\"podman\",\"container_id\":\"[0-9a-f]*\",\"container_name\":\"$after\"" \
    "$T/alerts.jsonl"

podman rm -f -t 0 "$before" >/dev/null
check "a removed container is released" wait_for_log "released container id=[0-9a-f]* name=\"$before\"" 10

finish
