#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CRI-O told apart from Podman. CRI-O is not packaged in Debian 12, so this test lays
# out on a real overlay mount exactly what CRI-O leaves on a host: the container's
# read-write layer mounted at <graph root>/containers/storage/overlay/<layer>/merged,
# containers/storage's containers.json whose metadata is CRI-O's (pod-name, pod-id,
# metadata-name), and the run root's userdata/{pidfile,config.json} with the
# kubelet's annotations. Drift executed in it is denied and alerted as
# LAYERLOCK_RUNTIME=cri-o with the pod, its namespace and the container name; an
# image binary runs.
source "$(dirname "$0")/lib.sh"

G=/var/lib/ll-crio-$RUN_ID/containers/storage
RUNROOT=/run/containers/storage
ID=crio$RUN_ID
LAYER=rw$RUN_ID
MERGED=$G/overlay/$LAYER/merged
SLEEPER=

crio_cleanup() {
    set +e
    [ -n "$SLEEPER" ] && kill "$SLEEPER" 2>/dev/null
    umount "$MERGED" 2>/dev/null
    rm -rf "/var/lib/ll-crio-$RUN_ID" "$RUNROOT/overlay-containers/$ID"
    cleanup
}
trap crio_cleanup EXIT

mkdir -p "$G/overlay/img$RUN_ID/diff/bin" "$G/overlay/$LAYER/diff" "$G/overlay/$LAYER/work" "$MERGED" \
    "$G/overlay-containers" "$RUNROOT/overlay-containers/$ID/userdata"
cp /bin/busybox "$G/overlay/img$RUN_ID/diff/bin/busybox"
mkdir -p "$G/overlay/img$RUN_ID/diff/tmp"
cat > "$G/overlay-containers/containers.json" <<JSON
[{"id":"$ID","names":["k8s_web_shop-7f9_shop_uid_0"],"image":"img$RUN_ID","layer":"$LAYER",
  "metadata":"{\"pod-name\":\"k8s_POD_shop-7f9_shop_uid_0\",\"pod-id\":\"pod$RUN_ID\",\"image-name\":\"quay.io/acme/web:2\",\"image-id\":\"img$RUN_ID\",\"name\":\"k8s_web_shop-7f9_shop_uid_0\",\"metadata-name\":\"web\",\"created-at\":1}"}]
JSON
sleep 100000 &
SLEEPER=$!
echo "$SLEEPER" > "$RUNROOT/overlay-containers/$ID/userdata/pidfile"
cat > "$RUNROOT/overlay-containers/$ID/userdata/config.json" <<JSON
{"ociVersion":"1.0.2","annotations":{"io.kubernetes.pod.name":"shop-7f9-$RUN_ID","io.kubernetes.pod.namespace":"shop",
 "io.kubernetes.container.name":"web","io.kubernetes.cri-o.ImageName":"quay.io/acme/web:2"}}
JSON

write_config enforce
start_daemon
mount -t overlay overlay -o "lowerdir=$G/overlay/img$RUN_ID/diff,upperdir=$G/overlay/$LAYER/diff,workdir=$G/overlay/$LAYER/work" "$MERGED"
check "the overlay is gated" wait_for_log "gating container runtime=podman overlay=$LAYER " 10
check "its metadata is CRI-O's" wait_for_log "container id=${ID:0:12} name=\"k8s_web_shop-7f9_shop_uid_0\" image=\"quay.io/acme/web:2\" pid=$SLEEPER " 10

check "an image binary runs" "$MERGED/bin/busybox" true
cp /bin/busybox "$MERGED/tmp/x"
out=$("$MERGED/tmp/x" true 2>&1) && rc=0 || rc=$?
check "drift is denied (rc=$rc: $out)" [ "$rc" -ne 0 ]
check "journald says cri-o, with the pod, its namespace and the container" journal_has LAYERLOCK_ACTION=denied \
    LAYERLOCK_RUNTIME=cri-o LAYERLOCK_CONTAINER_ID="$ID" LAYERLOCK_K8S_POD="shop-7f9-$RUN_ID" \
    LAYERLOCK_K8S_NAMESPACE=shop LAYERLOCK_K8S_CONTAINER=web LAYERLOCK_IMAGE=quay.io/acme/web:2
check "the JSON lines say cri-o" grep -q "\"runtime\":\"cri-o\",\"container_id\":\"$ID\"" "$T/alerts.jsonl"

finish
