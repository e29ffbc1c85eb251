#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real Docker containers, enforce mode: drift is denied with EPERM and lands in
# journald with every structured field; image binaries keep running; containers
# started before and after the daemon are both gated; the host is never gated;
# a stopped container is released.
source "$(dirname "$0")/lib.sh"

before=ll-before-$RUN_ID
after=ll-after-$RUN_ID
run_container "$before"
write_config enforce
start_daemon
run_container "$after"
wait_for_log "name=\"$after\"" 10 || fail "metadata of $after learned"

for c in "$before" "$after"; do
    out=$(docker exec "$c" sh -c 'cp /bin/busybox /tmp/x && /tmp/x true' 2>&1) && rc=0 || rc=$?
    check "$c: drifted binary fails (rc=$rc: $out)" [ "$rc" -ne 0 ]
    check "$c: the failure is EPERM" grep -q "Operation not permitted" <<<"$out"
    check "$c: image binaries keep running" docker exec "$c" /bin/busybox true
    check "$c: image applets keep running" docker exec "$c" sh -c 'ls / >/dev/null && id >/dev/null'
    check "$c: journald has the denial with its fields" journal_has LAYERLOCK_KIND=binary \
        LAYERLOCK_ACTION=denied LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_PATH=/tmp/x \
        LAYERLOCK_RUNTIME=docker LAYERLOCK_IMAGE="$IMAGE" SYSLOG_IDENTIFIER=layerlockd
done

entry=$(journalctl --no-pager -o json LAYERLOCK_CONTAINER_NAME="$after" LAYERLOCK_KIND=binary LAYERLOCK_ACTION=denied | tail -1)
for field in PRIORITY MESSAGE LAYERLOCK_SEVERITY LAYERLOCK_CONTAINER_ID LAYERLOCK_SHA256 LAYERLOCK_PID \
             LAYERLOCK_COMM LAYERLOCK_PARENT_COMM; do
    check "journald entry carries $field" grep -q "\"$field\":\"[^\"]" <<<"$entry"
done
sha=$(sha256sum /bin/busybox | cut -d' ' -f1)
check "LAYERLOCK_SHA256 is the executed content's hash" grep -q "\"LAYERLOCK_SHA256\":\"$sha\"" <<<"$entry"
check "PRIORITY of exec drift (critical by default) is crit (2)" grep -q '"PRIORITY":"2"' <<<"$entry"
check "LAYERLOCK_COMM is the denied process" grep -q '"LAYERLOCK_COMM":"sh"' <<<"$entry"
check "the JSON-lines output has the denial" grep -q "\"container_name\":\"$after\".*\"path\":\"/tmp/x\"" "$T/alerts.jsonl"

# A #! script dropped into the container is drift too.
out=$(docker exec "$after" sh -c 'printf "#!/bin/sh\necho hi\n" > /tmp/s.sh && chmod +x /tmp/s.sh && /tmp/s.sh' 2>&1) && rc=0 || rc=$?
check "a dropped #! script is denied" [ "$rc" -ne 0 ]

# chmod of an image binary copies it up unchanged: still the image's.
check "a chmod'ed image binary runs" docker exec "$after" sh -c 'chmod 4755 /bin/busybox && /bin/busybox true'

# Names with control characters are escaped in every output.
docker exec "$after" sh -c 'cp /bin/busybox "/tmp/$(printf "a\033[31mb\nc")"; "/tmp/$(printf "a\033[31mb\nc")" true' >/dev/null 2>&1 || true
check "a hostile file name is escaped in the daemon's output" grep -q 'path="/tmp/a\\x1b\[31mb\\nc"' "$T/daemon.log"
check "a hostile file name is escaped in JSON lines" grep -q '"path":"/tmp/a\\\\x1b\[31mb\\\\nc"' "$T/alerts.jsonl"

# The host's own files are never gated, even in enforce mode.
mkdir -p "$T/host"
cp /bin/busybox "$T/host/true"
check "a drifted-looking binary on the host runs" "$T/host/true"

# A stopped container is released.
docker rm -f "$before" >/dev/null
check "a stopped container is released" wait_for_log "released container id=.* name=\"$before\"" 10

# Engine metadata unreadable (socket absent): containers are still gated, and the
# alert says what is unknown.
stop_daemon
write_config enforce '[discovery]' "docker_socket = \"$T/absent.sock\""
start_daemon
out=$(docker exec "$after" sh -c 'cp /bin/busybox /tmp/y && /tmp/y true' 2>&1) && rc=0 || rc=$?
check "without engine metadata drift is still denied (rc=$rc)" [ "$rc" -ne 0 ]
check "the alert says the container metadata is unknown" journal_has LAYERLOCK_PATH=/tmp/y \
    LAYERLOCK_CONTAINER_NAME=unknown LAYERLOCK_UNKNOWN="container metadata" LAYERLOCK_ACTION=denied

finish
