#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the README's "Reviewing alerts" commands as written (web-1 replaced by a
# test container) against real alerts, and its syslog forwarding recipe against a
# syslog socket of our own: the documentation is tested, not just written.
source "$(dirname "$0")/lib.sh"

c=ll-review-$RUN_ID
run_container "$c"
write_config enforce
start_daemon
wait_for_log "name=\"$c\"" 10 || fail "metadata of $c learned"
docker exec "$c" sh -c 'mkdir -p /tmp/d && cp /bin/busybox /tmp/d/true && /tmp/d/true' >/dev/null 2>&1 || true
docker exec "$c" sh -c 'echo "x:x:0:0::/:/bin/sh" >> /etc/passwd'
stop_daemon; start_daemon     # the reconcile at discovery reports the /etc/passwd change
wait_for_log "reconcile id=.* name=\"$c\"" 30 || fail "reconcile ran"
journal_has LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_SEVERITY=critical || fail "critical alert in journald"

mapfile -t commands < <(sed -n '/<!-- review-commands -->/,/<!-- \/review-commands -->/p' "$SRC/README.md" |
                        grep -E '^(journalctl|layerlock) ' | sed 's/  *#.*$//')
check "the README has the four review commands" [ "${#commands[@]}" -eq 4 ]
for cmd in "${commands[@]}"; do
    cmd=${cmd//web-1/$c}
    cmd=${cmd/#layerlock /$LAYERLOCK --config $T/layerlock.toml }
    out=$(eval "$cmd" 2>&1 </dev/null) || true   # not a terminal: journalctl pages nothing
    if grep -q -- "$c\|/tmp/d/true\|/etc/passwd" <<<"$out"; then pass "README command finds the alerts: $cmd"
    else fail "README command finds the alerts: $cmd"; fi
done
json_line=$(journalctl --no-pager SYSLOG_IDENTIFIER=layerlockd LAYERLOCK_SEVERITY=critical LAYERLOCK_CONTAINER_NAME="$c" -o json | tail -1)
check "the SIEM command gives parseable JSON with the fields" python3 -c '
import json, sys; e = json.loads(sys.argv[1]); assert e["LAYERLOCK_PATH"] == "/etc/passwd" and e["LAYERLOCK_KIND"] == "config"' "$json_line"

# Syslog forwarding as the README says, with our own syslog socket standing in for rsyslog.
dropin=/etc/systemd/journald.conf.d/layerlock-forward.conf
restart_journald() {   # journald started by hand (systemd is not PID 1 here)
    pkill -x systemd-journal 2>/dev/null || true
    while pgrep -x systemd-journal >/dev/null; do sleep 0.05; done
    bash "$SRC/tests/support/services.sh" journald
}
restore_journald() {
    rm -f "$dropin" /run/systemd/journal/syslog
    restart_journald
}
/usr/bin/python3 - /run/systemd/journal/syslog "$T/syslog.txt" <<'PY' &
import os, socket, sys
try: os.unlink(sys.argv[1])
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True: out.write(s.recv(65536).decode(errors="replace") + "\n")
PY
syslog_pid=$!
trap 'kill $syslog_pid 2>/dev/null; restore_journald; cleanup' EXIT
until [ -S /run/systemd/journal/syslog ]; do sleep 0.05; done
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nForwardToSyslog=yes\n' > "$dropin"
restart_journald
docker exec "$c" sh -c '/tmp/d/true' >/dev/null 2>&1 || true
deadline=$((SECONDS + 10))
until grep -q "layerlockd.*binary drift denied" "$T/syslog.txt" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.1; done
check "with ForwardToSyslog=yes the denial reaches the syslog socket" grep -q "layerlockd.*binary drift denied" "$T/syslog.txt"
finish
