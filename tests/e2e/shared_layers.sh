#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Docker and Podman side by side, each running a container of the same image (the
# archive `docker save` writes, loaded into Podman): each engine unpacks the layer
# into its own directory, and the daemon hashes it once. The second directory is
# recognised by the layer's diff id (Docker's layerdb, containers/storage's
# layers.json) and takes the first one's entries; the gate then judges the second
# engine's container with them (a copy-up of an image binary still runs, drift is
# denied).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"

podman_image
write_config enforce
start_daemon

in_docker=ll-shared-docker-$RUN_ID
in_podman=ll-shared-podman-$RUN_ID
run_container "$in_docker"
docker_layer=$(readlink -f "$(docker inspect -f '{{.GraphDriver.Data.LowerDir}}' "$in_docker" | tr ':' '\n' | tail -1)")
check "Docker's layer is hashed" wait_for_log "baseline layer=\"$docker_layer\" files=[0-9]* bytes=[1-9]" 60

podman_run "$in_podman"
podman_layer=$(readlink -f "$(podman inspect -f '{{.GraphDriver.Data.LowerDir}}' "$in_podman" | tr ':' '\n' | tail -1)")
check "the engines unpacked the layer into two directories" [ "$docker_layer" != "$podman_layer" ]
check "Podman's directory takes the entries of Docker's, not hashed again" \
    wait_for_log "baseline layer=\"$podman_layer\" .* copied_from=\"$docker_layer\" (same layer content, not hashed)" 60
hashed=$(grep "baseline layer=\"\($docker_layer\|$podman_layer\)\" files=" "$T/daemon.log" | grep -vc "copied_from=")
check "of the two directories, one was hashed ($hashed)" [ "$hashed" -eq 1 ]

out=$(podman exec "$in_podman" sh -c 'chmod 700 /bin/busybox && /bin/busybox true' 2>&1) && rc=0 || rc=$?
check "Podman container: an image binary copied up by chmod runs (judged with the copied baseline; rc=$rc $out)" [ "$rc" -eq 0 ]
out=$(podman exec "$in_podman" sh -c "$DRIFT" 2>&1) && rc=0 || rc=$?
check "Podman container: drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"
out=$(docker exec "$in_docker" sh -c "$DRIFT" 2>&1) && rc=0 || rc=$?
check "Docker container: drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"

finish
