#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real containerd tasks (overlayfs snapshotter), enforce mode: drift is denied with
# EPERM and alerted with LAYERLOCK_RUNTIME=containerd, the task id as name and id, the
# image reference and digest asked of containerd's API (a plain `ctr run` spec does
# not name its image);
# image binaries keep running; tasks started before and after the daemon are both
# gated, with the init pid containerd reports; a task in namespace k8s.io with CRI
# annotations carries the pod, its namespace, the container name and the image; a
# deleted task is released.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"

ctr_image default
ctr_image k8s.io
CTR_DIGEST=$(ctr -n default images ls | awk -v r="$CTR_REF" '$1 == r { print $3 }')
check "containerd reports the image's digest ($CTR_DIGEST)" grep -q '^sha256:[0-9a-f]\{64\}$' <<<"$CTR_DIGEST"
before=ll-ctr-before-$RUN_ID
after=ll-ctr-after-$RUN_ID
pod=ll-pod-$RUN_ID
ctr_run default "$before"
write_config enforce
start_daemon
check "a task started before the daemon is gated at start-up" \
    grep -q "gating container runtime=containerd overlay=$before " "$T/daemon.log"
ctr_run default "$after"
wait_for_log "name=\"$after\"" 10 || fail "metadata of $after learned"

for c in "$before" "$after"; do
    out=$(ctr_exec default "$c" sh -c "$DRIFT") && rc=0 || rc=$?
    check "$c: drifted binary fails (rc=$rc: $out)" [ "$rc" -ne 0 ]
    check "$c: the failure is EPERM" grep -q "Operation not permitted" <<<"$out"
    check "$c: image binaries keep running" ctr_exec default "$c" /bin/busybox true
    check "$c: image applets keep running" ctr_exec default "$c" sh -c 'ls / >/dev/null && id >/dev/null'
    check "$c: journald has the denial with containerd's fields" journal_has LAYERLOCK_KIND=binary \
        LAYERLOCK_ACTION=denied LAYERLOCK_RUNTIME=containerd LAYERLOCK_CONTAINER_ID="$c" \
        LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_PATH=/tmp/d/true LAYERLOCK_IMAGE="$CTR_REF" \
        LAYERLOCK_IMAGE_ID="$CTR_DIGEST"
    pid=$(ctr_pid default "$c")
    check "$c: the init pid is containerd's ($pid)" grep -q "container id=${c:0:12} name=\"$c\" image=\"$CTR_REF\" pid=$pid " "$T/daemon.log"
done
entry=$(journalctl --no-pager -o json LAYERLOCK_CONTAINER_ID="$after" LAYERLOCK_KIND=binary LAYERLOCK_ACTION=denied | tail -1)
check "a task outside Kubernetes has no LAYERLOCK_K8S_* fields" eval '! grep -q LAYERLOCK_K8S_ <<<"$entry"'
check "nothing is unknown about a plain ctr task" eval '! grep -q LAYERLOCK_UNKNOWN <<<"$entry"'
check "the JSON lines carry the image digest" grep -q "\"container_id\":\"$after\".*\"image_id\":\"$CTR_DIGEST\"" "$T/alerts.jsonl"

# A CRI-style container: namespace k8s.io, the annotations containerd's CRI plugin writes.
ctr_run k8s.io "$pod" --annotation io.kubernetes.cri.container-type=container \
    --annotation io.kubernetes.cri.sandbox-name=web-$RUN_ID \
    --annotation io.kubernetes.cri.sandbox-namespace=shop \
    --annotation io.kubernetes.cri.container-name=nginx \
    --annotation io.kubernetes.cri.image-name="$CTR_REF"
wait_for_log "name=\"$pod\"" 10 || fail "metadata of $pod learned"
out=$(ctr_exec k8s.io "$pod" sh -c "$DRIFT") && rc=0 || rc=$?
check "k8s.io task: drifted binary fails (rc=$rc)" [ "$rc" -ne 0 ]
check "k8s.io task: journald has the Kubernetes fields and the image" journal_has LAYERLOCK_ACTION=denied \
    LAYERLOCK_RUNTIME=containerd LAYERLOCK_CONTAINER_ID="$pod" LAYERLOCK_K8S_POD=web-$RUN_ID \
    LAYERLOCK_K8S_NAMESPACE=shop LAYERLOCK_K8S_CONTAINER=nginx LAYERLOCK_IMAGE="$CTR_REF"
entry=$(journalctl --no-pager -o json LAYERLOCK_CONTAINER_ID="$pod" LAYERLOCK_KIND=binary LAYERLOCK_ACTION=denied | tail -1)
check "k8s.io task: nothing is unknown" eval '! grep -q LAYERLOCK_UNKNOWN <<<"$entry"'
check "k8s.io task: the image digest is asked of containerd" grep -q "\"LAYERLOCK_IMAGE_ID\":\"$CTR_DIGEST\"" <<<"$entry"
check "k8s.io task: the JSON lines carry the Kubernetes fields" python3 -c 'import json, sys
sys.exit(0 if any(r.get("container_id") == sys.argv[2] and r.get("k8s_pod") == sys.argv[3] and
                  r.get("k8s_namespace") == "shop" and r.get("k8s_container") == "nginx"
                  for r in map(json.loads, open(sys.argv[1]))) else 1)' "$T/alerts.jsonl" "$pod" "web-$RUN_ID"
check "k8s.io task: the message names the pod" grep -q "k8s_namespace=\"shop\" k8s_pod=\"web-$RUN_ID\" k8s_container=\"nginx\"" \
    "$T/daemon.log"

# A deleted task is released.
ctr -n default tasks delete -f "$before" >/dev/null 2>&1
check "a deleted task is released" wait_for_log "released container id=$before " 10

finish
