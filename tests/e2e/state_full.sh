#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A full disk under the state directory (issue 18, bad state): the database and the
# JSON-lines file cannot grow. The gate keeps answering (an answer needs no disk),
# journald still gets every alert, and the sinks that cannot write say so once each
# (not once per alert), are counted in `status` (alert_sink_failures), and say so
# again when they write again after space is freed; nothing is written half.
source "$(dirname "$0")/lib.sh"

STATE=$(mktemp -d /tmp/layerlock-full.XXXXXX)
mount -t tmpfs -o size=24m,mode=0700 tmpfs "$STATE"
cleanup_state() {
    cleanup
    umount -l "$STATE" 2>/dev/null
    rmdir "$STATE" 2>/dev/null
}
trap cleanup_state EXIT

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
# wait_until SECONDS COMMAND...: until the command succeeds
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
c=ll-full-$RUN_ID
write_config enforce
sed -i "s#$T/baseline.db#$STATE/baseline.db#; s#$T/alerts.jsonl#$STATE/alerts.jsonl#" "$T/layerlock.toml"
start_daemon
run_container "$c"
check "the container is gated" wait_for_log "name=\"$c\"" 15
check "its baseline is complete" baseline_complete
docker exec "$c" sh -c 'cp /bin/busybox /tmp/before && /tmp/before true' 2>/dev/null || true
check "before the disk fills, alerts reach the JSON lines" wait_until 10 grep -q '"/tmp/before"' "$STATE/alerts.jsonl"

# Fill it: what is left of the 24 MiB, to the last block.
dd if=/dev/zero of="$STATE/filler" bs=64k 2>/dev/null || true
check "the state directory is full" bash -c "[ \"\$(df --output=avail -B1 '$STATE' | tail -1 | tr -d ' ')\" -lt 65536 ]"

# Alerts while full: drift execs (denied) and a burst of new files (file drift).
for i in $(seq 1 20); do
    docker exec "$c" sh -c "cp /bin/busybox /tmp/full$i && /tmp/full$i true" 2>/dev/null && echo "full$i ran" >&2
done
docker exec "$c" sh -c 'mkdir -p /tmp/burst && for i in $(seq 1 600); do echo $i > /tmp/burst/f$i; done'
check "while full, drift is still denied" bash -c "! docker exec $c sh -c 'cp /bin/busybox /tmp/x && /tmp/x true' 2>/dev/null"
check "while full, an image binary runs" docker exec "$c" /bin/busybox true
check "while full, the JSON-lines sink says it is failing" wait_for_log "alert sink json failing: .*No space left on device" 20
check "while full, the event-table sink says it is failing" wait_for_log "alert sink events failing: .*full" 30
sleep 1
failing_lines() { tail -n +"$((LOG_FROM + 1))" "$T/daemon.log" | grep -c "alert sink $1 failing"; }
grep -a "alert sink" "$T/daemon.log" >&2
check "each sink says so once, not once per alert (json: $(failing_lines json), events: $(failing_lines events))" \
    bash -c "[ $(failing_lines json) -eq 1 ] && [ $(failing_lines events) -eq 1 ]"
failures=$("${LL[@]}" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["alert_sink_failures"])')
check "status counts the refused writes (alert_sink_failures=$failures)" bash -c "[ '$failures' -ge 20 ]"
check "journald still has the drift alerts" journal_has SYSLOG_IDENTIFIER=layerlockd LAYERLOCK_PATH=/tmp/full20
check "the daemon still runs" kill -0 "$DAEMON_PID"
check "every JSON line written is whole" python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    json.loads(line)' "$STATE/alerts.jsonl"

# Space again: the next alerts are written, and each sink says it writes again.
rm -f "$STATE/filler"
docker exec "$c" sh -c 'cp /bin/busybox /tmp/after && /tmp/after true' 2>/dev/null || true
docker exec "$c" sh -c 'echo x > /tmp/after-file'
check "with space again, the JSON-lines sink writes again" wait_for_log "alert sink json writes again" 20
check "with space again, the event-table sink writes again" wait_for_log "alert sink events writes again" 20
check "the alert after the disk was freed is in the JSON lines" wait_until 10 grep -q '"/tmp/after"' "$STATE/alerts.jsonl"
in_events() { "${LL[@]}" events --json | grep -q "$1"; }
check "and in the event table" wait_until 10 in_events /tmp/after

finish
