#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A stop does not wait for a scan (issue 18): a container whose writable layer
# holds 300,000 files is reconciled when the daemon starts (seconds of work);
# SIGTERM in the middle ends the daemon within a few seconds, far inside the unit's
# TimeoutStopSec (20 s), and the next start reports the files all the same.
source "$(dirname "$0")/lib.sh"

c=ll-stopscan-$RUN_ID
write_config monitor
run_container "$c"
upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$c")
python3 - "$upper/tmp/many" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(300):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(1000):
        open(f"{root}/d{d}/f{f}", "w").close()
PY
start_daemon
check "the container is gated" wait_for_log "name=\"$c\"" 15
sleep 1
check "the reconcile of 300,000 files is still running" bash -c "! grep -q 'reconcile id=.*name=\"$c\"' '$T/daemon.log'"
t0=$(date +%s%N)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" && rc=0 || rc=$?
DAEMON_PID=
ms=$((($(date +%s%N) - t0) / 1000000))
echo "stop took ${ms} ms"
check "SIGTERM during the scan ends the daemon in under 5 s (${ms} ms, rc=$rc)" [ "$ms" -lt 5000 ]
check "cleanly (rc=$rc)" [ "$rc" -eq 0 ]
check "the scan said it was interrupted, not that it found nothing" \
    bash -c "grep -q 'reconcile id=.*cancelled' '$T/daemon.log' || ! grep -q 'reconcile id=.*name=\"$c\"' '$T/daemon.log'"

finish
