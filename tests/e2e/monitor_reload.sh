#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Monitor mode runs drift and alerts; per-container overrides by name glob;
# SIGHUP reloads a valid configuration and refuses an invalid one (old stays).
source "$(dirname "$0")/lib.sh"

mon=ll-mon-$RUN_ID
strict=ll-strict-$RUN_ID
write_config monitor '[[override]]' "container = \"ll-strict-*\"" 'mode = "enforce"'
start_daemon
run_container "$mon"
run_container "$strict"
wait_for_log "name=\"$strict\"" 10 || fail "metadata of $strict learned"

check "monitor mode: drift runs" docker exec "$mon" sh -c 'mkdir -p /tmp/m && cp /bin/busybox /tmp/m/true && /tmp/m/true'
check "monitor mode: drift is alerted" journal_has LAYERLOCK_ACTION=alerted LAYERLOCK_CONTAINER_NAME="$mon" LAYERLOCK_PATH=/tmp/m/true
check "override by container name glob enforces" \
    bash -c "! docker exec $strict sh -c 'mkdir -p /tmp/m && cp /bin/busybox /tmp/m/true && /tmp/m/true' 2>/dev/null"

# An invalid configuration is refused on SIGHUP, and the running one stays.
cp "$T/layerlock.toml" "$T/good.toml"
printf 'mode = "enforce"\n[gate]\nworkers = "two"\n' > "$T/layerlock.toml"
kill -HUP "$DAEMON_PID"
check "an invalid reload is refused with file, line and key" \
    wait_for_log "reload refused.*layerlock.toml:3: gate.workers" 10
check "after a refused reload the old mode stays" docker exec "$mon" /tmp/m/true

# A hostile configuration (10,000 nested arrays: the TOML parser's recursion
# overflowed the stack and the crash released every container) is refused on
# SIGHUP too, and the daemon keeps gating.
python3 -c "print('a = ' + '[\n' * 10000 + ']\n' * 10000)" > "$T/layerlock.toml"
kill -HUP "$DAEMON_PID"
check "a deeply nested configuration is refused on SIGHUP" wait_for_log "reload refused.*nested deeper than 16" 10
check "and the daemon is still running" kill -0 "$DAEMON_PID"
check "still gating in the old mode" docker exec "$mon" /tmp/m/true
out=$("$LAYERLOCK" config check "$T/layerlock.toml" 2>&1) && rc=0 || rc=$?
check "config check refuses it too, without crashing (rc=$rc)" [ "$rc" -eq 1 ]

# A valid configuration switches the mode live.
sed 's/^mode = "monitor"/mode = "enforce"/' "$T/good.toml" > "$T/layerlock.toml"
kill -HUP "$DAEMON_PID"
check "a valid reload is applied" wait_for_log "configuration reloaded" 10
out=$(docker exec "$mon" sh -c 'cp /bin/busybox /tmp/m/echo && /tmp/m/echo' 2>&1) && rc=0 || rc=$?
check "after reloading to enforce, drift is denied" [ "$rc" -ne 0 ]

# layerlock config check reports the same error without starting anything.
out=$("$LAYERLOCK" config check "$T/layerlock.toml" 2>&1) && rc=0 || rc=$?
check "config check accepts the valid file" [ "$rc" -eq 0 ]
printf 'mode = "enforce"\n[gate]\nworkers = "two"\n' > "$T/bad.toml"
out=$("$LAYERLOCK" config check "$T/bad.toml" 2>&1) && rc=0 || rc=$?
check "config check rejects a bad file with exit 1" [ "$rc" -eq 1 ]
check "config check names file, line and key ($out)" grep -q "bad.toml:3: gate.workers" <<<"$out"
out=$("$LAYERLOCKD" --config "$T/bad.toml" 2>&1) && rc=0 || rc=$?
check "the daemon refuses to start on a bad file (rc=$rc)" [ "$rc" -eq 2 ]
check "and says where ($out)" grep -q "bad.toml:3: gate.workers" <<<"$out"

# A second daemon refuses to run beside the first.
out=$(timeout 10 "$LAYERLOCKD" --config "$T/good.toml" 2>&1) && rc=0 || rc=$?
check "a second daemon refuses to start (rc=$rc)" [ "$rc" -eq 1 ]
check "with a clear message" grep -q "already running" <<<"$out"

finish
