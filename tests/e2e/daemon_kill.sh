#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL of the daemon while a container execs in a loop: no exec hangs (the
# kernel releases the group), and a restarted daemon gates again. SIGTERM while
# execs run: stops cleanly, nothing hangs.
source "$(dirname "$0")/lib.sh"

c=ll-kill-$RUN_ID
run_container "$c"
write_config enforce
start_daemon
wait_for_log "name=\"$c\"" 10 || true
docker exec "$c" sh -c 'mkdir /tmp/d && cp /bin/busybox /tmp/d/true'

# 4 exec loops inside the container, each exec bounded by `timeout` on the host side.
loop() { timeout 60 docker exec "$c" sh -c 'i=0; while [ $i -lt 400 ]; do /bin/true; /tmp/d/true 2>/dev/null; i=$((i+1)); done; echo done'; }
for i in 1 2 3 4; do loop > "$T/loop.$i" 2>&1 & done
sleep 1
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=
wait
for i in 1 2 3 4; do
    check "exec loop $i finished after SIGKILL of the daemon (no hang)" grep -q done "$T/loop.$i"
done
check "drift runs while no daemon is gating" docker exec "$c" /tmp/d/true

rm -f "$T/daemon.log"
start_daemon
out=$(docker exec "$c" /tmp/d/true 2>&1) && rc=0 || rc=$?
check "a restarted daemon gates again (rc=$rc)" [ "$rc" -ne 0 ]

for i in 1 2; do loop > "$T/loop.$i" 2>&1 & done
sleep 1
stop_daemon
wait
for i in 1 2; do check "exec loop $i finished across SIGTERM" grep -q done "$T/loop.$i"; done
check "SIGTERM logs a clean stop" grep -q "stopped: events=" "$T/daemon.log"
finish
