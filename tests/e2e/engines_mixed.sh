#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Docker, containerd and Podman side by side, each running the same image (each
# engine stores its own copy of the layers): one daemon gates all three at once,
# denies drift in each and names the right engine in every alert.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/engines.sh"

ctr_image default
podman_image
d=ll-mix-docker-$RUN_ID
c=ll-mix-ctr-$RUN_ID
p=ll-mix-podman-$RUN_ID
write_config enforce
start_daemon
run_container "$d"
ctr_run default "$c"
podman_run "$p"
for n in "$d" "$c" "$p"; do wait_for_log "name=\"$n\"" 10 || fail "metadata of $n learned"; done

run_in() {  # run_in ENGINE NAME COMMAND...
    local engine=$1 name=$2; shift 2
    case $engine in
        docker) docker exec "$name" "$@" 2>&1 ;;
        containerd) ctr_exec default "$name" "$@" ;;
        podman) podman exec "$name" "$@" 2>&1 ;;
    esac
}
for pair in "docker $d" "containerd $c" "podman $p"; do
    set -- $pair
    out=$(run_in "$1" "$2" sh -c "$DRIFT") && rc=0 || rc=$?
    check "$1: drift denied while the other engines run (rc=$rc)" [ "$rc" -ne 0 ]
    check "$1: image binaries run" run_in "$1" "$2" /bin/busybox true
    check "$1: the alert names the engine" journal_has LAYERLOCK_ACTION=denied LAYERLOCK_RUNTIME="$1" \
        LAYERLOCK_CONTAINER_NAME="$2" LAYERLOCK_PATH=/tmp/d/true
done
check "three engines' containers gated at once" \
    [ "$(grep -cE "gating container runtime=(docker|containerd|podman) " "$T/daemon.log")" -ge 3 ]

finish
