#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Files that cost without bound (issue 18): a file appended to every 0.2 s used
# to be hashed in full and alerted on every write (131 alerts in 2.5 min), and a
# 10 GiB sparse file read up to 4 GiB on each pass. Now a changing file is hashed
# at most once per 30 s (changes in between reported once, without a digest), and
# a file over the hash bound is reported by size without being read.
source "$(dirname "$0")/lib.sh"

c=ll-grow-$RUN_ID
write_config monitor
start_daemon
run_container "$c"
check "the container is gated" wait_for_log "name=\"$c\"" 15
sleep 1
cpu() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }   # clock ticks of user + system time
events_for() {
    sqlite3 "file:$T/baseline.db?mode=ro" \
        "SELECT count(*) FROM events WHERE container_name = '$c' AND CAST(path AS TEXT) = '$1'"
}

before=$(cpu)
docker exec "$c" sh -c 'for i in $(busybox seq 30); do head -c 4194304 /dev/zero >> /tmp/grow.log; sleep 0.2; done'
sleep 2
n=$(events_for /tmp/grow.log)
echo "30 appends of 4 MiB: $n events, daemon CPU $(( $(cpu) - before )) ticks"
check "30 appends in 6 s give at most 3 events, not one per write ($n)" bash -c "[ $n -ge 1 ] && [ $n -le 3 ]"

before=$(cpu)
docker exec "$c" busybox truncate -s 10G /tmp/sparse
deadline=$((SECONDS + 10))
until [ "$(events_for /tmp/sparse)" -ge 1 ] || ((SECONDS >= deadline)); do sleep 0.2; done
used=$(( $(cpu) - before ))
echo "10 GiB sparse file: $(events_for /tmp/sparse) event(s), daemon CPU $used ticks"
check "the 10 GiB sparse file is reported" [ "$(events_for /tmp/sparse)" -ge 1 ]
check "without reading it: under a second of daemon CPU ($used ticks)" [ "$used" -lt "$(getconf CLK_TCK)" ]
digests=$(sqlite3 "file:$T/baseline.db?mode=ro" \
    "SELECT count(*) FROM events WHERE container_name = '$c' AND CAST(path AS TEXT) = '/tmp/sparse' AND sha256 <> ''")
check "by size, without a digest ($digests with one)" [ "$digests" -eq 0 ]

finish
