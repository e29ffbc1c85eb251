#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The storm (issue 18): one enforcing daemon, containers of Docker, containerd and
# Podman each running an exec and open loop (image binaries allowed, a dropped
# binary and a dropped script denied, every exec and script run bounded by a 10 s
# SIGKILL timeout so that a hung exec is counted, not waited for), a file storm in
# a Docker and a Podman container, containers started, drift-tested and removed
# throughout, `layerlock reload` and SIGHUP mid-storm. Afterwards: every expected
# denial observed, no exec hung, the daemon alive, and every path `docker diff` /
# `podman diff` lists has its event (no file drift lost).
#
# Short form (CI, the stress suite): 21 containers, 40 s, 50,000 files.
# Long form: bench/storm.sh (STORM_SECONDS=600, 30 containers, 200,000 files).
# Knobs: STORM_SECONDS STORM_PER_ENGINE STORM_FILES, LAYERLOCK_STORM_REPORT=FILE
# (the figures as one JSON object, for docs/reliability.md).
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/engines.sh"

SECONDS_LONG=${STORM_SECONDS:-40}
PER_ENGINE=${STORM_PER_ENGINE:-7}
FILES=${STORM_FILES:-50000}
LL=("$LAYERLOCK" --config "$T/layerlock.toml")

storm_cleanup() {  # containers the churn left behind if the test stopped early
    set +e
    docker ps -aq --filter "name=ll-storm-churn.*-$RUN_ID" | xargs -r docker rm -f >/dev/null 2>&1
    podman ps -aq --filter "name=ll-storm-churn.*-$RUN_ID" | xargs -r podman rm -f -t 0 >/dev/null 2>&1
    engines_cleanup
}
trap storm_cleanup EXIT
ctr_image default
podman_image
write_config enforce
sed -i 's/^stderr = "always"$/stderr = "never"/; s/^log_level = "debug"$/log_level = "info"/' "$T/layerlock.toml"
start_daemon
pid=$DAEMON_PID

# --- The fleet. Each round leaves four orphaned `timeout` watchers: PID 1 reaps
# them (with `sleep` as PID 1 a 10-minute storm ran the host out of pids).
KEEPALIVE=("${REAPING_KEEPALIVE[@]}")
docker_names=() ctr_names=() podman_names=()
for i in $(seq 1 "$PER_ENGINE"); do
    docker_names+=("ll-storm-d$i-$RUN_ID"); run_container "ll-storm-d$i-$RUN_ID"
    ctr_names+=("ll-storm-c$i-$RUN_ID"); ctr_run default "ll-storm-c$i-$RUN_ID"
    podman_names+=("ll-storm-p$i-$RUN_ID"); podman_run "ll-storm-p$i-$RUN_ID"
done
for n in "${docker_names[@]}" "${ctr_names[@]}" "${podman_names[@]}"; do
    wait_for_log "container id=.* name=\"$n\"" 60 || fail "$n gated and named before the storm"
done

proc_figures() {  # RSS KiB and CPU ticks (user + system) of the daemon
    echo "$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status") $(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
}
read -r rss0 cpu0 <<<"$(proc_figures)"

# --- One loop per container, in busybox sh (-c: the loop itself opens no script).
# Per round: an image binary (expected 0), a dropped binary (126: denied), an open
# of an image file, a dropped #! script rewritten (a write-only open: allowed) and
# read by sh (2: its open denied). 137 = the SIGKILL of the timeout: hung.
LOOP='
mkdir -p /tmp/storm && cp /bin/busybox /tmp/storm/drift && chmod 755 /tmp/storm/drift
printf "#!/bin/sh\necho SCRIPT-RAN\n" > /tmp/storm/x.sh
read up rest < /proc/uptime; end=$(( ${up%.*} + SECS ))
rounds=0 image_ok=0 denied=0 script_denied=0 hung=0 unexpected=0 why=
while :; do
    read up rest < /proc/uptime; [ "${up%.*}" -lt "$end" ] || break
    rounds=$((rounds + 1))
    busybox timeout -s KILL 10 /bin/true; rc=$?
    case $rc in 0) image_ok=$((image_ok + 1));; 137) hung=$((hung + 1));; *) unexpected=$((unexpected + 1)); why="$why,image:$rc";; esac
    busybox timeout -s KILL 10 /tmp/storm/drift true 2>/dev/null; rc=$?
    case $rc in 126) denied=$((denied + 1));; 137) hung=$((hung + 1));; *) unexpected=$((unexpected + 1)); why="$why,drift:$rc";; esac
    busybox timeout -s KILL 10 cat /etc/passwd >/dev/null; rc=$?
    case $rc in 0) ;; 137) hung=$((hung + 1));; *) unexpected=$((unexpected + 1)); why="$why,cat:$rc";; esac
    printf "#!/bin/sh\necho SCRIPT-RAN\n" > /tmp/storm/x.sh || { unexpected=$((unexpected + 1)); why="$why,write"; }
    out=$(busybox timeout -s KILL 10 sh /tmp/storm/x.sh 2>/dev/null); rc=$?
    case $rc in 2) [ -z "$out" ] && script_denied=$((script_denied + 1));; 137) hung=$((hung + 1));; *) unexpected=$((unexpected + 1)); why="$why,script:$rc";; esac
done
echo "RESULT rounds=$rounds image_ok=$image_ok denied=$denied script_denied=$script_denied hung=$hung unexpected=$unexpected"
[ -n "$why" ] && echo "UNEXPECTED ${why#,}" | cut -c1-300'
LOOP=${LOOP//SECS/$SECONDS_LONG}

loops=()
for n in "${docker_names[@]}"; do docker exec "$n" sh -c "$LOOP" > "$T/loop.$n" 2>&1 & loops+=($!); done
for n in "${ctr_names[@]}"; do ctr_exec default "$n" sh -c "$LOOP" > "$T/loop.$n" 2>&1 & loops+=($!); done
for n in "${podman_names[@]}"; do podman exec "$n" sh -c "$LOOP" > "$T/loop.$n" 2>&1 & loops+=($!); done

# --- File storms, in the first Docker and the first Podman container.
STORM_FILES_CMD="i=0; while [ \$i -lt $FILES ]; do d=/tmp/files/d\$((i / 1000)); [ \$((i % 1000)) -eq 0 ] && mkdir -p \$d; : > \$d/f\$i; i=\$((i + 1)); done"
docker exec "${docker_names[0]}" sh -c "$STORM_FILES_CMD" & loops+=($!)
podman exec "${podman_names[0]}" sh -c "$STORM_FILES_CMD" & loops+=($!)

# --- Containers started, drift-tested and removed during the storm.
churn() {
    local i=0 started=0 denied=0 ran=0 unnamed=0 n out
    while ((SECONDS < storm_end - 5)); do
        i=$((i + 1)); n=ll-storm-churn$i-$RUN_ID
        if ((i % 2)); then
            docker run -d --network none --name "$n" "$IMAGE" sleep 100000 >/dev/null || continue
        else
            "${PODMAN[@]}" run -d "${PODMAN_RUN[@]}" --name "$n" "$PODMAN_REF" sleep 100000 >/dev/null || continue
        fi
        started=$((started + 1))
        if wait_for_log "container id=.* name=\"$n\"" 30; then
            if ((i % 2)); then out=$(docker exec "$n" sh -c "$DRIFT && echo DRIFT-RAN" 2>&1) || true
            else out=$(podman exec "$n" sh -c "$DRIFT && echo DRIFT-RAN" 2>&1) || true; fi
            if grep -q DRIFT-RAN <<<"$out"; then ran=$((ran + 1)); else denied=$((denied + 1)); fi
        else
            unnamed=$((unnamed + 1))
        fi
        if ((i % 2)); then docker rm -f "$n" >/dev/null 2>&1; else podman rm -f -t 0 "$n" >/dev/null 2>&1; fi
    done
    echo "CHURN started=$started denied=$denied ran=$ran unnamed=$unnamed"
}
storm_end=$((SECONDS + SECONDS_LONG))
churn > "$T/churn" 2>&1 &
churn_pid=$!

# --- Reload and SIGHUP mid-storm.
sleep $((SECONDS_LONG / 3))
reload_out=$("${LL[@]}" reload 2>&1) && reload_rc=0 || reload_rc=$?
sleep $((SECONDS_LONG / 3))
kill -HUP "$pid"

for p in "${loops[@]}"; do wait "$p" || true; done
wait "$churn_pid" || true
read -r rss1 cpu1 <<<"$(proc_figures)"

# --- Figures.
sum() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] == k) s += kv[2] } END { print s + 0 }' "$T"/loop.*; }
rounds=$(sum rounds) image_ok=$(sum image_ok) denied=$(sum denied) script_denied=$(sum script_denied)
hung=$(sum hung) unexpected=$(sum unexpected)
loops_reported=$(cat "$T"/loop.* | grep -c '^RESULT' || true)
churn_line=$(grep '^CHURN' "$T/churn" || echo "CHURN started=0 denied=0 ran=0 unnamed=0")
status=$("${LL[@]}" status --json)

# Every path the engines' diff lists has an event (the live watch and the reconcile
# may still be catching up with the file storm: up to 120 s).
lost_of() {  # lost_of ENGINE NAME: paths of ENGINE diff without an event
    local engine=$1 n=$2
    # A directory listed as changed (C) is not itself an event: the entries below it
    # that changed are (and are compared); Podman lists /etc for the files it mounts.
    # Sorted by path after the change letter is cut (A/C/D prefixes would otherwise
    # leave the paths out of order for comm), bytewise on both sides.
    "$engine" diff "$n" > "$T/diff-raw.$n"
    local dirs; dirs=$(awk '$1 == "C" { print $2 }' "$T/diff-raw.$n" |
        xargs -r "$engine" exec "$n" sh -c 'for p; do [ -d "$p" ] && echo "$p"; done' -- 2>/dev/null || true)
    cut -c3- "$T/diff-raw.$n" | grep -vxF -f <(printf '%s\n' $dirs) | LC_ALL=C sort -u > "$T/diff.$n" || true
    sqlite3 "file:$T/baseline.db?mode=ro" \
        "SELECT DISTINCT CAST(path AS TEXT) FROM events WHERE container_name = '$n'" | LC_ALL=C sort -u > "$T/events.$n"
    LC_ALL=C comm -23 "$T/diff.$n" "$T/events.$n" | wc -l
}
deadline=$((SECONDS + 120))
while :; do
    lost=0 compared=0
    for n in "${docker_names[@]}"; do lost=$((lost + $(lost_of docker "$n"))); compared=$((compared + $(wc -l < "$T/diff.$n"))); done
    for n in "${podman_names[@]}"; do lost=$((lost + $(lost_of podman "$n"))); compared=$((compared + $(wc -l < "$T/diff.$n"))); done
    ((lost == 0 || SECONDS >= deadline)) && break
    sleep 3
done
alive=0; kill -0 "$pid" 2>/dev/null && alive=1
# Stopped here so that a sanitizer's exit report (a leak) is in the log too.
[ "$alive" = 1 ] && stop_daemon
sanitizer_reports=$(grep -cE "ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:" "$T/daemon.log" || true)

report=$(python3 - "$status" "$rounds" "$image_ok" "$denied" "$script_denied" "$hung" "$unexpected" "$churn_line" \
    "$rss0" "$rss1" "$cpu0" "$cpu1" "$lost" "$compared" "$alive" "$reload_rc" "$SECONDS_LONG" \
    "$((PER_ENGINE * 3))" "$FILES" "$loops_reported" "$sanitizer_reports" <<'PY'
import json, os, sys
(status, rounds, image_ok, denied, script_denied, hung, unexpected, churn, rss0, rss1, cpu0, cpu1,
 lost, compared, alive, reload_rc, secs, containers, files, loops_reported, sanitizer_reports) = sys.argv[1:]
s = json.loads(status); k = s["counters"]; b = s.get("behaviour", {})
churn = dict(kv.split("=") for kv in churn.split()[1:])
tick = os.sysconf("SC_CLK_TCK")
r = {
    "seconds": int(secs), "containers": int(containers), "files": int(files), "loops_reported": int(loops_reported),
    "rounds": int(rounds), "execs_in_loops": 3 * int(rounds), "script_opens": int(rounds),
    "image_ok": int(image_ok), "denied_expected": int(rounds), "denied_observed": int(denied),
    "script_denied_expected": int(rounds), "script_denied_observed": int(script_denied),
    "hung": int(hung), "unexpected": int(unexpected),
    "churn": {x: int(v) for x, v in churn.items()},
    "gate_events": k["events"], "gate_denied": k["denied"], "opens": k["opens"],
    "fallback": {"timeout": k["timeouts"], "overload": k["overload"], "unknown_container": k["unknown_container"],
                 "total": k["fallback"]},
    "open_access": {"late": k["open_access_late"], "unknown": k["open_access_unknown"]},
    "queue_overflows": k["queue_overflows"], "alerts_dropped": k["alerts_dropped"],
    "alerts_delivered": k["alerts_delivered"], "process_events_lost": b.get("process_events_lost"),
    "rss_kib_before": int(rss0), "rss_kib_after": int(rss1),
    "cpu_seconds": round((int(cpu1) - int(cpu0)) / tick, 1),
    "diff_paths_compared": int(compared), "drift_lost": int(lost), "daemon_alive": alive == "1",
    "reload_rc": int(reload_rc), "sanitizer_reports": int(sanitizer_reports),
}
print(json.dumps(r))
PY
)
echo "STORM $report"
grep -h '^UNEXPECTED' "$T"/loop.* || true   # what an unexpected result was, per container
[ -n "${LAYERLOCK_STORM_REPORT:-}" ] && echo "$report" > "$LAYERLOCK_STORM_REPORT"
field() { python3 -c 'import json, sys; r = json.loads(sys.argv[1])
for k in sys.argv[2].split("."): r = r[k]
print(r)' "$report" "$1"; }

check "every container's loop reported ($loops_reported of $((PER_ENGINE * 3)))" [ "$loops_reported" -eq $((PER_ENGINE * 3)) ]
check "the loops ran ($rounds rounds)" [ "$rounds" -gt 0 ]
check "no exec or script open hung ($hung)" [ "$hung" -eq 0 ]
check "every write-only open was told from a read (openers still runnable after the worker's patience: $(field open_access.unknown) of $(field open_access.late))" [ "$(field open_access.unknown)" -eq 0 ]
check "every image binary ran ($image_ok of $rounds)" [ "$image_ok" -eq "$rounds" ]
check "every dropped binary was denied ($denied of $rounds)" [ "$denied" -eq "$rounds" ]
check "every dropped script was denied ($script_denied of $rounds)" [ "$script_denied" -eq "$rounds" ]
check "nothing unexpected ($unexpected)" [ "$unexpected" -eq 0 ]
check "containers were started during the storm ($(field churn.started))" [ "$(field churn.started)" -gt 0 ]
check "drift in every container started during the storm was denied ($churn_line)" \
    test "$(field churn.ran)" -eq 0 -a "$(field churn.unnamed)" -eq 0
check "reload mid-storm succeeded ($reload_out)" [ "$reload_rc" -eq 0 ]
check "the daemon is alive after the storm and SIGHUP" [ "$alive" -eq 1 ]
check "no file drift lost ($lost of $compared paths of docker/podman diff without an event)" [ "$lost" -eq 0 ]
gate_denied=$(field gate_denied) churn_denied=$(field churn.denied)
check "the daemon counted exactly the denials the loops and the churn saw ($gate_denied = 2 x $rounds + $churn_denied)" \
    [ "$gate_denied" -eq $((2 * rounds + churn_denied)) ]
check "no sanitizer report from the daemon ($sanitizer_reports)" [ "$sanitizer_reports" -eq 0 ]
check "no alert dropped ($(field alerts_dropped))" [ "$(field alerts_dropped)" -eq 0 ]
grep -h '^UNEXPECTED' "$T"/loop.* | head -5 | sed 's/^/  /' >&2 || true
if ((lost > 0)); then
    for f in "$T"/diff.*; do n=${f#"$T"/diff.}; comm -23 "$f" "$T/events.$n" | head -5 | sed "s/^/  lost in $n: /" >&2; done
fi
finish
