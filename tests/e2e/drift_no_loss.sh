#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# File drift is never lost to a full alert queue (issue 18). 30,000 files written
# as fast as Python can inside a container, with the alert queue at its smallest
# (16): the live watch and the reconcile used to record each change as reported
# before the alert was queued, and the queue dropped most of them for good. Now
# file drift waits for room (it is off the exec path), so the event table ends up
# with every file, and the daemon says it dropped nothing.
source "$(dirname "$0")/lib.sh"
ensure_dyn_image

N=30000
c=ll-noloss-$RUN_ID
write_config monitor
sed -i 's/^journald = true$/journald = false/; s/^stderr = "always"$/stderr = "never"\nqueue_size = 16/' "$T/layerlock.toml"
start_daemon
CONTAINERS+=("$c")
docker run -d --network none --name "$c" "$DYN_IMAGE" sleep 100000 >/dev/null
check "the container is gated" wait_for_log "name=\"$c\"" 15
sleep 1
docker exec "$c" python3 -c "
import os
for d in range($N // 1000):
    os.makedirs(f'/tmp/storm/d{d}')
    for f in range(1000):
        open(f'/tmp/storm/d{d}/f{f}', 'w').close()
"
count() {
    sqlite3 "file:$T/baseline.db?mode=ro" \
        "SELECT count(DISTINCT path) FROM events WHERE container_name = '$c' AND CAST(path AS TEXT) GLOB '/tmp/storm/d*/f*'"
}
deadline=$((SECONDS + 120)) last=-1 n=0
while ((SECONDS < deadline)); do
    n=$(count)
    [ "$n" -ge "$N" ] && break
    sleep 2
done
echo "events for $n of $N files"
check "every one of the $N files has its event ($n)" [ "$n" -eq "$N" ]
dropped=$("$LAYERLOCK" --config "$T/layerlock.toml" status --json | python3 -c 'import json, sys
s = json.load(sys.stdin); print(s["counters"].get("alerts_dropped", s.get("alerts_dropped", "?")))')
check "no alert was dropped ($dropped)" [ "$dropped" = 0 ]

finish
