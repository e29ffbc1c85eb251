#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Alerts a SOC can ingest and tune (issue 17), against real Docker containers and
# the real daemon:
#   - [[exec_allow]]: allowlisted drift runs in enforce mode, alerted low or not
#     at all, while other drift in the same container is still denied (critical);
#   - [[prohibit]]: image binaries named by path or by SHA-256 are denied, also
#     when run through the dynamic loader;
#   - deduplication: 50 runs of one dropped file give one alert at once and one
#     summary with count 50; the event table's row says 50;
#   - alerts.format = "falco": the line has what falcosidekick requires and
#     Falco's rule and field names;
#   - learn mode denies nothing, `layerlock allowlist suggest` prints TOML that,
#     pasted into the configuration, lets the same workload run in enforce mode
#     with no alert at all;
#   - [metrics]: the textfile passes `promtool check metrics` and counts what
#     happened.
source "$(dirname "$0")/lib.sh"
ensure_dyn_image

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
A=ll-tu-allow-$RUN_ID        # exec_allow and dedup
P=ll-tu-prohibit-$RUN_ID     # prohibit
L=ll-tu-learn-$RUN_ID        # learn -> suggest -> enforce
# The image's copy (the fixture is built once, maybe by an earlier build of the test program).
app_sha=$(docker run --rm --network none --entrypoint /bin/cat "$DYN_IMAGE" /usr/bin/ll_test_app | sha256sum | cut -d' ' -f1)
mkdir -p "$T/metrics"
write_config enforce \
    '[metrics]' "textfile_path = \"$T/metrics/layerlock.prom\"" 'interval_s = 1' \
    '[[exec_allow]]' 'path = "/tmp/allowed-*"' "container = \"ll-tu-allow-*\"" \
    '[[exec_allow]]' 'path = "/tmp/quiet/*"' "container = \"ll-tu-allow-*\"" 'alert = "none"' \
    '[[prohibit]]' 'path = "/usr/bin/perl"' "container = \"ll-tu-prohibit-*\"" \
    '[[prohibit]]' "sha256 = \"$app_sha\"" "container = \"ll-tu-prohibit-*\""
# A short deduplication window, so that its summary comes within the test.
sed -i 's/^\[alerts\]$/[alerts]\ndedup_window_s = 4/' "$T/layerlock.toml"
start_daemon
for c in "$A" "$P" "$L"; do
    CONTAINERS+=("$c")
    docker run -d --network none --name "$c" "$DYN_IMAGE" sleep 100000 >/dev/null
done
for c in "$A" "$P" "$L"; do wait_for_log "name=\"$c\"" 15 || fail "metadata of $c learned"; done
check "the baselines are built" baseline_complete 60

# records FILE [KEY=VALUE...]: the JSON lines matching every KEY=VALUE (dotted
# keys reach into output_fields), one per line.
records() {
    python3 - "$@" <<'PY'
import json, sys
path, want = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
def get(r, k):
    if k in r: return r[k]
    return r.get("output_fields", {}).get(k)
for line in open(path):
    r = json.loads(line)
    if all(str(get(r, k)) == v for k, v in want.items()):
        print(line.strip())
PY
}
# wait_record FILE KEY=VALUE...: such a line appears (up to 10 s)
wait_record() {
    local deadline=$((SECONDS + 10))
    until [ -n "$(records "$@")" ]; do ((SECONDS < deadline)) || return 1; sleep 0.1; done
}

# --- [[exec_allow]]: allowlisted drift runs in enforce mode. (Copies of busybox
# run the applet their file is named after: /tmp/x/echo is echo.)
out=$(docker exec "$A" sh -c 'mkdir -p /tmp/allowed-1 && cp /bin/busybox /tmp/allowed-1/echo && /tmp/allowed-1/echo ran-allowed' 2>&1) && rc=0 || rc=$?
check "enforce: an allowlisted dropped binary runs (rc=$rc)" grep -q ran-allowed <<<"$out"
check "and is alerted low, as allowed" wait_record "$T/alerts.jsonl" container_name="$A" path=/tmp/allowed-1/echo \
    action=allowed severity=low
out=$(docker exec "$A" sh -c 'mkdir -p /tmp/quiet && cp /bin/busybox /tmp/quiet/echo && /tmp/quiet/echo ran-quiet' 2>&1) || true
check "enforce: a quietly allowlisted binary runs" grep -q ran-quiet <<<"$out"
out=$(docker exec "$A" sh -c 'mkdir -p /tmp/other && cp /bin/busybox /tmp/other/echo && /tmp/other/echo ran-other' 2>&1) && rc=0 || rc=$?
check "enforce: drift not allowlisted is still denied (rc=$rc)" lacks ran-other "$out"
check "and alerted critical (exec drift's default severity)" wait_record "$T/alerts.jsonl" container_name="$A" \
    path=/tmp/other/echo action=denied severity=critical rule="Drop and execute new binary in container"
sleep 1
check "the quietly allowlisted run raised no alert" \
    [ -z "$(records "$T/alerts.jsonl" container_name="$A" path=/tmp/quiet/echo kind=binary change=None)" ]

# --- Deduplication: 50 runs, one alert at once, one summary with the count.
docker exec "$A" sh -c 'mkdir -p /tmp/repeat; cp /bin/busybox /tmp/repeat/true; for i in $(seq 50); do /tmp/repeat/true 2>/dev/null; done; true'
check "the first denial is alerted at once" wait_record "$T/alerts.jsonl" container_name="$A" path=/tmp/repeat/true \
    kind=binary action=denied count=1
sleep 6   # the window (4 s) closes
n=$(records "$T/alerts.jsonl" container_name="$A" path=/tmp/repeat/true kind=binary action=denied | wc -l)
check "50 runs gave 2 records, the alert and its summary (got $n)" [ "$n" -eq 2 ]
summary=$(records "$T/alerts.jsonl" container_name="$A" path=/tmp/repeat/true kind=binary count=50)
check "the summary counts all 50, with the last time" grep -q '"last_time":' <<<"$summary"
stored=$("${LL[@]}" events --json --container "$A" | python3 -c 'import json, sys
print(sum(r["count"] for r in map(json.loads, sys.stdin) if r.get("path") == "/tmp/repeat/true" and r["kind"] == "binary"
          and "change" not in r))')
check "the event table keeps the count of every occurrence (count=$stored)" [ "$stored" = 50 ]

# --- [[prohibit]]: image binaries denied by path or digest.
out=$(docker exec "$P" python3 -c 'print("python-ok")' 2>&1) || true
check "enforce: an image binary not prohibited runs" grep -q python-ok <<<"$out"
out=$(docker exec "$P" perl -e 'print "perl-ran\n"' 2>&1) && rc=0 || rc=$?
check "enforce: an image binary prohibited by path is denied (rc=$rc)" lacks perl-ran "$out"
check "and alerted as prohibited, critical" wait_record "$T/alerts.jsonl" container_name="$P" path=/usr/bin/perl \
    action=denied reason=prohibited severity=critical
out=$(docker exec "$P" ll_test_app 2>&1) && rc=0 || rc=$?
check "enforce: an image binary prohibited by SHA-256 is denied (rc=$rc)" [ "$rc" -ne 0 ]
check "and alerted with its digest" wait_record "$T/alerts.jsonl" container_name="$P" path=/usr/bin/ll_test_app \
    action=denied reason=prohibited sha256="$app_sha"
loader=$(docker exec "$P" sh -c 'ls /lib64/ld-linux-*.so.2 2>/dev/null | head -1')
out=$(docker exec "$P" "$loader" /usr/bin/perl -e 'print "perl-via-loader\n"' 2>&1) && rc=0 || rc=$?
check "enforce: nor does it run through the dynamic loader (rc=$rc)" lacks perl-via-loader "$out"

# --- Falco format: a reload switches the JSON lines to Falco's.
sed -i "s|^json_path = .*|json_path = \"$T/falco.jsonl\"\nformat = \"falco\"|" "$T/layerlock.toml"
check "reload to the falco format" "${LL[@]}" reload
docker exec "$A" sh -c 'mkdir -p /tmp/falco-drop; cp /bin/busybox /tmp/falco-drop/true; /tmp/falco-drop/true' >/dev/null 2>&1 || true
check "a falco line for the drift" wait_record "$T/falco.jsonl" rule="Drop and execute new binary in container"
id=$(docker inspect -f '{{.Id}}' "$A")
check "the falco line parses and has what falcosidekick requires, with Falco's names" python3 - "$T/falco.jsonl" "$A" "${id:0:12}" <<'PY'
import json, sys
path, name, short = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
r = next(x for x in lines if x["output_fields"].get("proc.exepath") == "/tmp/falco-drop/true")
for k in ("output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"):
    assert k in r, k
assert r["priority"] in ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"), r
assert r["priority"] == "Critical", r["priority"]
f = r["output_fields"]
assert f["container.id"] == short and f["container.name"] == name, f
assert f["container.image.repository"] == "layerlock-test/dyn" and f["container.image.tag"] == "1", f
assert f["proc.name"] == "true" and f["proc.pname"], f
assert f["user.name"] == "root" and f["layerlock.action"] == "denied", f
assert "T1105" in r["tags"] and "TA0011" in r["tags"], r["tags"]
assert r["time"].endswith("Z") and len(r["time"].split(".")[1]) == 10, r["time"]
PY

# --- Learn mode -> allowlist suggest -> enforce with no alert.
check "layerlock mode L learn" "${LL[@]}" mode "$L" learn
workload() {   # workload FIRST LAST: builds and runs numbered tools, then a numbered script
    docker exec "$L" sh -c "for i in \$(seq $1 $2); do mkdir -p /tmp/build-\$i && cp /bin/busybox /tmp/build-\$i/true \
        && /tmp/build-\$i/true && printf '#!/bin/sh\necho step\n' > /tmp/build-\$i/step.sh \
        && sh /tmp/build-\$i/step.sh >/dev/null || exit 1; done; echo workload-done" 2>&1
}
out=$(workload 1 3) || true
check "learn: the workload runs (nothing denied)" grep -q workload-done <<<"$out"
check "learn: the drift is recorded as learned" wait_record "$T/falco.jsonl" container.name="$L" \
    proc.exepath=/tmp/build-1/true layerlock.action=learned
check "learn: a script read by its interpreter names the interpreter's command line" wait_record "$T/falco.jsonl" \
    container.name="$L" fd.name=/tmp/build-1/step.sh proc.name=sh proc.cmdline="sh /tmp/build-1/step.sh"
learned_files() {   # the file drift of the workload reached the event table (up to 20 s)
    local deadline=$((SECONDS + 20))
    until "${LL[@]}" events --json --container "$L" | grep -q '"path":"/tmp/build-3/true".*"change":"added"'; do
        ((SECONDS < deadline)) || return 1; sleep 0.5
    done
}
check "learn: the file drift is recorded too" learned_files
"${LL[@]}" allowlist suggest --container "$L" > "$T/suggest.toml" && rc=0 || rc=$?
cat "$T/suggest.toml"
check "allowlist suggest succeeds (rc=$rc)" [ "$rc" -eq 0 ]
check "it collapses the numbered builds into a glob" grep -q 'path = "/tmp/build-\*/true"' "$T/suggest.toml"
check "it suggests an exec allow for them" grep -q '^\[\[exec_allow\]\]' "$T/suggest.toml"
check "the suggestion is valid configuration" bash -c "cat '$T/layerlock.toml' '$T/suggest.toml' > '$T/with.toml' && \
    '$LAYERLOCK' config check '$T/with.toml' >/dev/null"
cat "$T/suggest.toml" >> "$T/layerlock.toml"
check "layerlock mode L clear (back to the global enforce)" "${LL[@]}" mode "$L" clear
check "reload with the suggestion" "${LL[@]}" reload
before=$(wc -l < "$T/falco.jsonl")
out=$(workload 4 6) || true
check "enforce with the suggestion: the same workload runs" grep -q workload-done <<<"$out"
out=$(docker exec "$L" sh -c 'mkdir -p /tmp/unexpected && cp /bin/busybox /tmp/unexpected/echo && /tmp/unexpected/echo ran-unexpected' 2>&1) || true
check "enforce: other drift is still denied" lacks ran-unexpected "$out"
check "and alerted" wait_record "$T/falco.jsonl" container.name="$L" proc.exepath=/tmp/unexpected/echo layerlock.action=denied
sleep 5   # file drift of the second run is reported within a few seconds
check "the workload raised no alert at all in enforce mode" python3 - "$T/falco.jsonl" "$before" "$L" <<'PY'
import json, sys
path, before, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [json.loads(l) for l in open(path)][before:]
noisy = [r for r in lines if r["output_fields"].get("container.name") == name
         and "/tmp/unexpected" not in r["output"]]
for r in noisy: print(r["output"])
sys.exit(1 if noisy else 0)
PY

# --- Metrics: the textfile node_exporter reads.
sleep 2
check "the metrics textfile exists" [ -s "$T/metrics/layerlock.prom" ]
check "promtool check metrics passes on it" bash -c "promtool check metrics < '$T/metrics/layerlock.prom'"
check "it counts denials" grep -Eq '^layerlock_gate_answers_total\{answer="deny"\} [1-9]' "$T/metrics/layerlock.prom"
check "it counts the repeats folded into summaries" \
    grep -Eq '^layerlock_alerts_suppressed_total [1-9][0-9]' "$T/metrics/layerlock.prom"
check "it counts allowlisted drift" grep -Eq '^layerlock_drift_allowlisted_total [1-9]' "$T/metrics/layerlock.prom"
check "it has the answer latency histogram" grep -q '^layerlock_gate_answer_seconds_bucket{le="+Inf"}' \
    "$T/metrics/layerlock.prom"
check "it gives gated containers by runtime and mode" \
    grep -Eq '^layerlock_containers\{mode="enforce",runtime="docker"\} [1-9]' "$T/metrics/layerlock.prom"
check "no temporary file is left beside it" [ ! -e "$T/metrics/layerlock.prom.tmp" ]
finish
