#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Behaviour drift and response (issue 16), against real Docker containers:
# fileless code (a payload written to a memfd and run with fexecve) killed in
# enforce mode before it prints in most runs, and a file deleted right after its
# exec reported as fileless; a shell started by a service alerted while an
# operator's `docker exec sh` is not; a package manager alerted with its command
# line; a bind shell (`nc -l -p`) alerted with its port and process while the
# container's own listener at start is not; and each response action on a real
# container: kill, freeze (processes frozen, then `layerlock thaw`), stop,
# quarantine (the sample with the right SHA-256 after the attacker deleted the
# file) and forensics (the bundle holds what it promises).
source "$(dirname "$0")/lib.sh"
ensure_dyn_image

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
E=ll-bh-enf-$RUN_ID          # enforce; fileless -> quarantine + forensics
M=ll-bh-mon-$RUN_ID          # monitor
F=ll-bh-freeze-$RUN_ID       # a package manager -> freeze
S=ll-bh-stop-$RUN_ID         # a package manager -> stop
K=ll-bh-kill-$RUN_ID         # a shell from a service -> kill
write_config enforce '[[override]]' 'container = "ll-bh-mon-*"' 'mode = "monitor"' \
    '[network]' 'learn_seconds = 4' 'check_interval_s = 2' \
    '[[response]]' 'kind = "fileless"' 'actions = ["quarantine", "forensics"]' \
    '[[response]]' 'kind = "binary"' 'container = "ll-bh-enf-*"' 'actions = ["quarantine"]' \
    '[[response]]' 'kind = "package"' 'container = "ll-bh-freeze-*"' 'actions = ["freeze"]' \
    '[[response]]' 'kind = "package"' 'container = "ll-bh-stop-*"' 'actions = ["stop"]' \
    '[[response]]' 'kind = "shell"' 'container = "ll-bh-kill-*"' 'actions = ["kill"]'
start_daemon
for c in "$E" "$M" "$F" "$S" "$K"; do
    CONTAINERS+=("$c")
    # Each listens on 8080 from its start: its baseline.
    docker run -d --network none --name "$c" "$DYN_IMAGE" sh -c 'nc -l -p 8080 & exec sleep 100000' >/dev/null
done
for c in "$E" "$M" "$F" "$S" "$K"; do wait_for_log "name=\"$c\"" 15 || fail "metadata of $c learned"; done

# gate_alert KIND ACTION CONTAINER [FIELD=VALUE...]: such an alert is in the JSON
# lines (waits up to 10 s); prints it.
alert_of() {
    python3 - "$T/alerts.jsonl" "$@" <<'PY'
import json, sys, time
path, kind, action, container = sys.argv[1:5]
want = dict(a.split("=", 1) for a in sys.argv[5:])
for _ in range(100):
    for line in open(path):
        r = json.loads(line)
        if r["kind"] == kind and r["action"] == action and r["container_name"] == container and \
                all(str(r.get(k, "")).find(v) >= 0 for k, v in want.items()):
            print(line.strip())
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
}
count_of() {  # count_of KIND CONTAINER: alerts of that kind
    python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if (r := json.loads(l))["kind"] == sys.argv[2] and r["container_name"] == sys.argv[3]))' \
        "$T/alerts.jsonl" "$1" "$2"
}

# --- Fileless: a payload streamed into a memfd and run with fexecve.
fileless='import os, sys
fd = os.memfd_create("payload")
os.write(fd, open("/bin/busybox", "rb").read())
os.execve(fd, ["echo", "MARKER-fileless"], {})'
printed=0
for i in 1 2 3 4 5; do
    out=$(docker exec "$E" python3 -c "$fileless" 2>&1) || true
    grep -q MARKER-fileless <<<"$out" && printed=$((printed + 1))
done
echo "fileless payloads that printed before the kill: $printed of 5"
check "enforce: most fileless payloads are killed before they print ($printed of 5 printed)" [ "$printed" -le 1 ]
check "enforce: the fileless exec is alerted as killed, critical" alert_of fileless killed "$E" severity=critical reason=memfd
out=$(docker exec "$M" python3 -c "$fileless" 2>&1) || true
check "monitor: a fileless payload runs" grep -q MARKER-fileless <<<"$out"
check "monitor: and is alerted" alert_of fileless alerted "$M" reason=memfd
docker exec "$M" sh -c 'mkdir -p /tmp/d; cp /bin/busybox /tmp/d/sleep; (/tmp/d/sleep 5 &); sleep 0.1; rm /tmp/d/sleep' || true
check "monitor: an executable deleted right after its exec is fileless" \
    alert_of fileless alerted "$M" reason=deleted-executable path=/tmp/d/sleep

# --- A shell from a service, not from an operator.
docker exec "$M" sh -c 'echo operator-shell' >/dev/null
docker exec "$M" python3 -c 'import subprocess; subprocess.run(["/bin/sh", "-c", "echo from-a-service"])' >/dev/null
check "a shell started by a service is alerted, with its parent" alert_of shell alerted "$M" parent_comm=python3 \
    cmdline=from-a-service
check "the alert carries the process tree up to the container's init" alert_of shell alerted "$M" process_tree=python3
sleep 1
n=$(count_of shell "$M")
check "an operator's docker exec sh is not a shell alert (shell alerts: $n)" [ "$n" -eq 1 ]

# --- A package manager, with its command line.
docker exec "$M" apt-get install -y curl >/dev/null
check "a package manager run is alerted with its command line" alert_of package alerted "$M" \
    "cmdline=apt-get install -y curl"

# --- A bind shell; the container's own listener at start is its baseline.
sleep 5   # past the learning window
docker exec -d "$M" sh -c 'nc -l -p 4444'
check "a new listener is alerted with its port and process" alert_of network alerted "$M" path=tcp/4444 comm=nc
sleep 3
n=$(python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if (r := json.loads(l))["kind"] == "network" and "8080" in r["path"]))' "$T/alerts.jsonl")
check "listeners at start are the baseline: 8080 never alerted ($n)" [ "$n" -eq 0 ]

# --- Responses.
# kill: the service's shell is killed.
out=$(docker exec "$K" python3 -c 'import subprocess
print("rc", subprocess.run(["/bin/sh", "-c", "sleep 30"]).returncode)' 2>&1) || true
check "kill: the shell a service started is killed ($out)" grep -q "rc -9" <<<"$out"
check "kill: the response is reported with its outcome" alert_of response kill "$K" detail=killed
# freeze, then thaw.
id=$(docker inspect -f '{{.Id}}' "$F")
docker exec -d "$F" apt-get install -y tool
check "freeze: the response is reported" alert_of response freeze "$F" detail=froze
state=$(cat /sys/fs/cgroup/freezer/docker/"$id"/freezer.state 2>/dev/null || grep -o 'frozen [01]' /sys/fs/cgroup/unified/docker/"$id"/cgroup.events 2>/dev/null || true)
check "freeze: the container's cgroup is frozen ($state)" grep -Eq 'FROZEN|frozen 1' <<<"$state"
check "freeze: its processes do not run (docker exec waits)" bash -c "! timeout 2 docker exec $F true"
check "thaw: layerlock thaw succeeds" "${LL[@]}" thaw "$F"
check "thaw: the container runs again" timeout 10 docker exec "$F" true
# stop.
docker exec -d "$S" apt-get install -y tool
check "stop: the container is stopped" bash -c "for i in \$(seq 150); do [ \"\$(docker inspect -f '{{.State.Running}}' $S)\" = false ] && exit 0; sleep 0.1; done; exit 1"
check "stop: the response is reported" alert_of response stop "$S" detail=stopped
# quarantine: the attacker deletes the dropped file right after the attempt.
docker exec "$E" sh -c 'cp /bin/busybox /tmp/q && /tmp/q true; rm -f /tmp/q' >/dev/null 2>&1 || true
check "quarantine: the response is reported" alert_of response quarantine "$E" detail=kept path=/tmp/q
sha=$(sha256sum /bin/busybox | cut -d' ' -f1)
check "quarantine: list has the sample" grep -q "$sha" <("${LL[@]}" quarantine list --json)
check "quarantine: export gives the same bytes" "${LL[@]}" quarantine export "$sha" "$T/sample"
check "quarantine: export --json names the sample and the file" python3 -c '
import json, sys
r = json.loads(sys.argv[1]); assert r == {"sha256": sys.argv[2], "dest": sys.argv[3]}, r
' "$("${LL[@]}" quarantine export "$sha" "$T/sample-json" --json)" "$sha" "$T/sample-json"
check "quarantine: sha256 of the export is the file's" [ "$(sha256sum "$T/sample" | cut -d' ' -f1)" = "$sha" ]
# forensics: written for the fileless payloads above.
check "forensics: the response is reported" alert_of response forensics "$E" detail=wrote
bundles=$("${LL[@]}" forensics list --json)
check "forensics: a bundle holds the alert, processes, network, drift, inspect output and manifest" python3 -c '
import json, sys
b = [x for x in json.loads(sys.argv[1]) if sys.argv[2] in x["bundle"]]
names = set(b[0]["entries"])
need = {"alert.json", "processes.json", "network.json", "drift.json", "inspect.json", "MANIFEST"}
assert need <= names, names
assert any(n.startswith("quarantine/") for n in names), names' "$bundles" "$E"
finish
