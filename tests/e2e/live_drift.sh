#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live file drift from inotify on real Docker containers: changes made while the
# daemon runs are alerted within seconds (added, modified, metadata, deleted,
# renamed), a directory created and filled at once is not missed, a burst of
# appends is one event with a count, and a container with more directories than
# the watch cap falls back to periodic reconcile, reported.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-live-$RUN_ID
big=ll-big-$RUN_ID
run_container "$c"
run_container "$big"
write_config monitor '[watch]' 'max_watches_per_container = 32' 'reconcile_interval_s = 5'
start_daemon
check "the reconcile of $c ran (baseline ready)" wait_for_log "reconcile id=.* name=\"$c\"" 30
check "the reconcile of $big ran" wait_for_log "reconcile id=.* name=\"$big\"" 30

# With nothing changing in any container, the file-drift thread sleeps: it is woken by
# inotify, a container to watch or stop, not by a timer (every wake-up of a daemon
# thread can land on the CPU where the gate's reader answers an exec).
drift_tid=$(grep -ls '^ll-file-drift$' /proc/"$DAEMON_PID"/task/*/comm | head -1 | cut -d/ -f5 || true)
wakes() { awk '/^voluntary_ctxt_switches/ {print $2}' /proc/"$DAEMON_PID"/task/"$drift_tid"/status 2>/dev/null || true; }
sleep 1   # a window opened by the containers' start, if any, closes
w0=$(wakes); sleep 3; w1=$(wakes)
check "an idle file-drift thread does not wake up ($((w1 - w0)) wake-ups in 3 s)" [ -n "$drift_tid" -a -n "$w0" -a -n "$w1" -a $((${w1:-0} - ${w0:-0})) -le 1 ]

docker exec "$c" sh -c 'echo "x:x:0:0::/:/bin/sh" >> /etc/passwd'
check "a modification is alerted live" journal_has LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_PATH=/etc/passwd LAYERLOCK_CHANGE=modified
docker exec "$c" sh -c 'chmod 4755 /bin/busybox'
check "a chmod is a metadata change (setuid: high)" journal_has LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_PATH=/bin/busybox \
    LAYERLOCK_CHANGE=metadata LAYERLOCK_SEVERITY=high
docker exec "$c" sh -c 'rm /bin/cat'
check "a deletion (whiteout) is alerted" journal_has LAYERLOCK_CONTAINER_NAME="$c" LAYERLOCK_PATH=/bin/cat LAYERLOCK_CHANGE=deleted
docker exec "$c" sh -c 'mkdir -p /srv/a/b/c && echo x > /srv/a/b/c/new.txt'
check "a file written into a just-created directory tree is seen" journal_has LAYERLOCK_CONTAINER_NAME="$c" \
    LAYERLOCK_PATH=/srv/a/b/c/new.txt LAYERLOCK_CHANGE=added
docker exec "$c" sh -c 'echo y > /srv/old.txt; sleep 1; mv /srv/old.txt /srv/new-name.txt'
check "a rename is reported as renamed, with where from" journal_has LAYERLOCK_CONTAINER_NAME="$c" \
    LAYERLOCK_PATH=/srv/new-name.txt LAYERLOCK_CHANGE=renamed LAYERLOCK_DETAIL="from /srv/old.txt"
docker exec "$c" sh -c 'i=0; while [ $i -lt 2000 ]; do echo line >> /srv/burst.log; i=$((i+1)); done'
sleep 1.5
n=$("${LL[@]}" events --container "$c" --json | grep -c '"path":"/srv/burst.log"' || true)
check "2000 appends are summarised into few events ($n)" [ "$n" -ge 1 -a "$n" -le 5 ]
check "with a count" bash -c "'${LAYERLOCK}' --config '$T/layerlock.toml' events --container $c --json | grep '\"path\":\"/srv/burst.log\"' | grep -q '\"count\":[1-9][0-9]'"

docker exec "$big" sh -c 'i=0; while [ $i -lt 60 ]; do mkdir -p /data/d$i; i=$((i+1)); done; echo z > /data/d59/late.txt'
check "past the watch cap the container is reported as degraded" wait_for_log "ll-big-$RUN_ID.*falling back to a reconcile scan" 15
check "and that is an alert" journal_has LAYERLOCK_CONTAINER_NAME="$big" LAYERLOCK_DETAIL="watch limit reached: periodic reconcile every 5 s"
docker exec "$big" sh -c 'echo w > /data/d58/after-cap.txt'
check "periodic reconcile still reports drift in unwatched directories" \
    bash -c "for i in \$(seq 150); do journalctl --no-pager -o json LAYERLOCK_CONTAINER_NAME=$big LAYERLOCK_PATH=/data/d58/after-cap.txt | grep -q . && exit 0; sleep 0.1; done; exit 1"
# A queue overflow (inotify's per-instance limit made tiny for this daemon) leads to
# a full reconcile, so what the queue dropped is still reported.
stop_daemon
old_limit=$(cat /proc/sys/fs/inotify/max_queued_events)
trap 'echo "$old_limit" > /proc/sys/fs/inotify/max_queued_events; cleanup' EXIT
echo 1 > /proc/sys/fs/inotify/max_queued_events
start_daemon                      # its inotify instance takes the limit now
echo "$old_limit" > /proc/sys/fs/inotify/max_queued_events
wait_for_log "reconcile id=.* name=\"$c\"" 30 || true
docker exec "$c" sh -c 'mkdir -p /flood && cp -r /bin /etc /flood/ && echo k > /flood/last.key'
check "after an overflow the reconcile still reports the flood" \
    bash -c "for i in \$(seq 100); do journalctl --no-pager -o json LAYERLOCK_CONTAINER_NAME=$c LAYERLOCK_PATH=/flood/last.key | grep -q . && exit 0; sleep 0.1; done; exit 1"
check "and the overflow was handled by a reconcile scan" grep -q "inotify queue overflow: reconciling" "$T/daemon.log"
finish
