#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Type=notify contract without systemd as PID 1: a notify socket of our own
# receives READY=1 only once every running container is gated (an exec of drift
# right after READY=1 is denied), WATCHDOG=1 keep-alives from the gate's reader
# loop while idle and while answering execs, RELOADING=1 on SIGHUP, STOPPING=1.
source "$(dirname "$0")/lib.sh"

c=ll-notify-$RUN_ID
run_container "$c"
docker exec "$c" sh -c 'mkdir -p /tmp/d && cp /bin/busybox /tmp/d/true'
write_config enforce

/usr/bin/python3 - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.splitlines():
            log.write(f"{time.monotonic():.3f} {line}\n")
PY
listener=$!
trap 'kill $listener 2>/dev/null; cleanup' EXIT
until [ -S "$T/notify.sock" ]; do sleep 0.05; done

NOTIFY_SOCKET=$T/notify.sock "$LAYERLOCKD" --config "$T/layerlock.toml" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
deadline=$((SECONDS + 20))
until grep -q "READY=1" "$T/notify.log" 2>/dev/null; do ((SECONDS < deadline)) || { fail "READY=1 within 20 s"; finish; }; sleep 0.01; done
out=$(docker exec "$c" /tmp/d/true 2>&1) && rc=0 || rc=$?
check "right after READY=1 a container started before the daemon is already gated (rc=$rc)" [ "$rc" -ne 0 ]

for i in $(seq 30); do docker exec "$c" /bin/true; done   # execs answered meanwhile
sleep 2.5
n=$(grep -c "WATCHDOG=1" "$T/notify.log" || true)
check "WATCHDOG=1 keep-alives arrive about every second ($n)" [ "$n" -ge 2 ]
kill -HUP "$DAEMON_PID"
sleep 0.5
check "SIGHUP sends RELOADING=1 then READY=1" bash -c "grep -A5 RELOADING=1 '$T/notify.log' | grep -q READY=1"
kill -STOP "$DAEMON_PID"
before=$(grep -c "WATCHDOG=1" "$T/notify.log")
sleep 2.5
after=$(grep -c "WATCHDOG=1" "$T/notify.log")
check "a stopped gate sends no keep-alive (systemd's watchdog would kill it)" [ "$before" -eq "$after" ]
kill -CONT "$DAEMON_PID"
stop_daemon
check "SIGTERM sends STOPPING=1" grep -q "STOPPING=1" "$T/notify.log"
finish
