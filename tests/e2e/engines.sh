#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Helpers of the containerd and Podman end-to-end tests, sourced after lib.sh: the
# test image imported into containerd namespaces and Podman's store (from the Docker
# image lib.sh builds) under a name of this run's own, so that runs in parallel never
# remove each other's image; tasks and containers started detached without a
# network; and a cleanup that removes every task, container and image name the test
# created, then runs lib.sh's own cleanup.
RUN_TAG=layerlock-test/busybox:run-$RUN_ID
CTR_REF=docker.io/$RUN_TAG
PODMAN_REF=localhost/$RUN_TAG
# Podman on hybrid cgroups needs runc and cgroupfs; runc cannot raise rlimits here
# (no CAP_SYS_RESOURCE in this sandbox) so the limits are set below the host's.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
PODMAN_RUN=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
CTR_TASKS=()       # "namespace/id"
CTR_IMPORTED=()    # namespaces the image was imported into by this test
PODMAN_CONTAINERS=()
PODMAN_LOADED=
EXEC_SEQ=0

engines_cleanup() {
    set +e
    for t in "${CTR_TASKS[@]}"; do
        ctr -n "${t%%/*}" tasks delete -f "${t#*/}" >/dev/null 2>&1
        ctr -n "${t%%/*}" containers delete "${t#*/}" >/dev/null 2>&1
    done
    local id; id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null)
    for ns in "${CTR_IMPORTED[@]}"; do
        ctr -n "$ns" images rm "$CTR_REF" >/dev/null 2>&1
        # In k8s.io the CRI plugin adds a reference by image id: drop it with the last
        # name of the same image (another run may still use it).
        ctr -n "$ns" images ls | awk -v id="$id" '
            $1 == id { d = $3 } $1 != id { n[$3]++ } END { exit !(d != "" && !(d in n)) }' &&
            ctr -n "$ns" images rm "$id" >/dev/null 2>&1
    done
    for c in "${PODMAN_CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    [ -n "$PODMAN_LOADED" ] && podman rmi "$PODMAN_REF" >/dev/null 2>&1
    docker rmi "$RUN_TAG" >/dev/null 2>&1
    cleanup
}
trap engines_cleanup EXIT

# ctr_image NAMESPACE: the test image in that containerd namespace.
save_image() {  # the Docker test image as an archive named for this run
    docker tag "$IMAGE" "$RUN_TAG"
    docker save "$RUN_TAG"
}

ctr_image() {
    save_image | ctr -n "$1" images import - >/dev/null
    CTR_IMPORTED+=("$1")
}

# ctr_run NAMESPACE ID [ctr run options...]: a detached task sleeping.
ctr_run() {
    local ns=$1 id=$2; shift 2
    CTR_TASKS+=("$ns/$id")
    ctr -n "$ns" run -d --snapshotter overlayfs "$@" "$CTR_REF" "$id" "${KEEPALIVE[@]}" >/dev/null
}

# ctr_exec NAMESPACE ID COMMAND...: runs in the task, output on stdout, its status.
ctr_exec() {
    local ns=$1 id=$2; shift 2
    EXEC_SEQ=$((EXEC_SEQ + 1))
    ctr -n "$ns" tasks exec --exec-id "llx$EXEC_SEQ" "$id" "$@" 2>&1
}

# ctr_pid NAMESPACE ID: the task's init pid as containerd reports it.
ctr_pid() { ctr -n "$1" tasks ls | awk -v id="$2" '$1 == id { print $2 }'; }

podman_image() {
    save_image | podman load >/dev/null 2>&1
    PODMAN_LOADED=1
}

# podman_run NAME [podman run options...]: a detached container sleeping.
podman_run() {
    local name=$1; shift
    PODMAN_CONTAINERS+=("$name")
    "${PODMAN[@]}" run -d "${PODMAN_RUN[@]}" --name "$name" "$@" "$PODMAN_REF" "${KEEPALIVE[@]}" >/dev/null
}

# The drift every test tries: a copy of busybox (not an image file) run from /tmp.
DRIFT='mkdir -p /tmp/d && cp /bin/busybox /tmp/d/true && /tmp/d/true'
