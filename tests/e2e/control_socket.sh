#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The control socket and its verbs against a real daemon and a real container:
# status (text and JSON), a live per-container mode that survives reload until
# cleared, reload refusing an invalid file, root-only access, and clear messages
# when the daemon is not running.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-ctl-$RUN_ID
write_config monitor
start_daemon
run_container "$c"
wait_for_log "name=\"$c\"" 10 || fail "metadata of $c learned"

out=$("${LL[@]}" status)
check "status names the container and its mode" grep -q "$c .*monitor" <<<"$out"
json=$("${LL[@]}" status --json)
check "status --json is JSON with counters and containers" python3 -c '
import json, sys
s = json.loads(sys.argv[1]); c = [x for x in s["containers"] if x["name"] == sys.argv[2]]
assert s["ok"] and s["mode"] == "monitor" and len(c) == 1 and c[0]["runtime"] == "docker"
assert "cache_hit_rate" in s["counters"] and "fallback" in s["counters"] and s["uptime_seconds"] >= 0
' "$json" "$c"
check "the socket is 0600" [ "$(stat -c %a "$T/control.sock")" = 600 ]

drift="mkdir -p /tmp/d && cp /bin/busybox /tmp/d/true && /tmp/d/true"
check "monitor: drift runs" docker exec "$c" sh -c "$drift"
check "layerlock mode sets enforce live" "${LL[@]}" mode "$c" enforce
check "the live mode denies drift" bash -c "! docker exec $c /tmp/d/true 2>/dev/null"
check "reload succeeds" "${LL[@]}" reload
check "the live mode survives reload" bash -c "! docker exec $c /tmp/d/true 2>/dev/null"
check "status shows the live mode" grep -q "$c .*enforce" <<<"$("${LL[@]}" status)"
check "clearing the live mode returns to the configuration" "${LL[@]}" mode "$c" clear
check "after clear drift runs again (monitor)" docker exec "$c" /tmp/d/true
out=$("${LL[@]}" mode no-such-container enforce 2>&1) && rc=0 || rc=$?
check "mode on an unknown container exits 2, as layerlock(8) says (rc=$rc)" [ "$rc" -eq 2 ]

cp "$T/layerlock.toml" "$T/good.toml"
printf 'mode = "enforce"\nbogus = 1\n' > "$T/layerlock.toml"
out=$("$LAYERLOCK" --config "$T/good.toml" reload 2>&1) && rc=0 || rc=$?
check "reload of an invalid file is refused with exit 1 (rc=$rc)" [ "$rc" -eq 1 ]
check "and names file, line and key ($out)" grep -q "layerlock.toml:2: bogus" <<<"$out"
cp "$T/good.toml" "$T/layerlock.toml"

# Root only: the CLI says so, and the daemon itself refuses a non-root peer.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "${LL[@]}" status 2>&1) && rc=0 || rc=$?
check "a non-root caller is told it must be root (rc=$rc: $out)" bash -c "[ $rc -eq 2 ] && grep -q 'must be run as root' <<<'$out'"
chmod 0666 "$T/control.sock"; chmod 0755 "$T"
reply=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"{\"verb\":\"status\"}\n")
print(s.recv(4096).decode())' "$T/control.sock" 2>&1) || true
chmod 0600 "$T/control.sock"; chmod 0700 "$T"
check "the daemon refuses a non-root peer ($reply)" grep -q '"ok":false.*root only' <<<"$reply"

# Ten idle connections (they never send a request) do not keep status waiting:
# each connection is served on its own.
python3 - "$T/control.sock" > "$T/idle.out" <<'PY' &
import socket, sys, time
held = []
for _ in range(10):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
print("connected", flush=True)
time.sleep(4)
PY
idle=$!
until grep -q connected "$T/idle.out" 2>/dev/null; do sleep 0.05; done
start=$(date +%s%N)
out=$("${LL[@]}" status 2>&1) && rc=0 || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "status answers while ten idle connections are open (rc=$rc, ${ms} ms)" bash -c "[ $rc -eq 0 ] && [ $ms -lt 1500 ]"
wait "$idle"

# A second daemon with another lock file refuses to start instead of taking (and,
# on exit, deleting) the first one's control socket.
sed "s|^lock_file = .*|lock_file = \"$T/other.lock\"|" "$T/layerlock.toml" > "$T/second.toml"
out=$(timeout 20 "$LAYERLOCKD" --config "$T/second.toml" 2>&1) && rc=0 || rc=$?
check "a second daemon on the same control socket refuses to start (rc=$rc)" [ "$rc" -ne 0 ]
check "saying why" grep -q "another process answers on the control socket" <<<"$out"
check "the first daemon's socket is still there and answers" "${LL[@]}" status

stop_daemon
out=$("${LL[@]}" status 2>&1) && rc=0 || rc=$?
check "status without a daemon exits 2 (rc=$rc)" [ "$rc" -eq 2 ]
check "and says the daemon is not running ($out)" grep -q "not running" <<<"$out"
check "the socket is removed on stop" [ ! -e "$T/control.sock" ]
finish
