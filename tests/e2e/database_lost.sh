#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The baseline database deleted while the daemon runs (issue 18) used to go
# unnoticed: the daemon kept records nobody could query, a new empty file appeared,
# every container stayed "building". Now the daemon notices within seconds, says
# so, and stops with a failure (systemd's Restart=on-failure restarts it); the next
# start rebuilds the baseline and gates as before. A damaged database (truncated,
# overwritten) used to stop every start ("file is not a database", restarted for
# ever, containers ungated): it is set aside, root-only, and a new one made.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-dblost-$RUN_ID
write_config enforce
start_daemon
run_container "$c"
check "the container is gated" wait_for_log "name=\"$c\"" 15
check "drift is denied" bash -c "! docker exec $c sh -c 'cp /bin/busybox /tmp/x && /tmp/x true' 2>/dev/null"

rm -f "$T/baseline.db" "$T/baseline.db-wal" "$T/baseline.db-shm"
t0=$SECONDS
wait "$DAEMON_PID" && rc=0 || rc=$?
DAEMON_PID=
check "the daemon stops by itself with a failure status (rc=$rc, $((SECONDS - t0)) s)" \
    bash -c "[ $rc -ne 0 ] && [ $((SECONDS - t0)) -le 10 ]"
check "saying the database was deleted" grep -q "baseline database .* was deleted or replaced while running" "$T/daemon.log"

start_daemon   # what systemd's restart does
check "after the restart the container is gated again" wait_for_log "name=\"$c\"" 15
check "its baseline is rebuilt" baseline_complete
check "an image binary runs" docker exec "$c" /bin/busybox true
check "drift is still denied" bash -c "! docker exec $c sh -c 'cp /bin/busybox /tmp/y && /tmp/y true' 2>/dev/null"

# Damaged: truncated to 60 %, then overwritten with random bytes.
for damage in truncated overwritten; do
    stop_daemon
    rm -f "$T"/baseline.db.damaged-*
    if [ "$damage" = truncated ]; then
        sqlite3 "$T/baseline.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
        truncate -s $(($(stat -c %s "$T/baseline.db") * 6 / 10)) "$T/baseline.db"
    else
        head -c 200000 /dev/urandom > "$T/baseline.db"
    fi
    rm -f "$T/baseline.db-wal" "$T/baseline.db-shm"
    start_daemon
    check "$damage database: the daemon starts, saying it is damaged and where it was kept" \
        grep -q "baseline database .* is damaged .*: kept as $T/baseline.db.damaged-" "$T/daemon.log"
    kept=$(ls "$T"/baseline.db.damaged-* 2>/dev/null | grep -v -- '-wal$\|-shm$' | head -1)
    check "$damage database: the damaged file is kept, root-only ($kept)" \
        bash -c "[ -n '$kept' ] && [ \"\$(stat -c %a '$kept')\" = 600 ]"
    check "$damage database: the container is gated again" wait_for_log "name=\"$c\"" 15
    check "$damage database: its baseline is rebuilt" baseline_complete
    check "$damage database: drift is denied" \
        bash -c "! docker exec $c sh -c 'cp /bin/busybox /tmp/z && /tmp/z true' 2>/dev/null"
    check "$damage database: an image binary runs" docker exec "$c" /bin/busybox true
done

finish
