#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a new operator meets first, as layerlock(8) and the README promise it:
# the built-in defaults when there is no configuration file, --config on either
# side of the verb, read-only verbs that create nothing and state that is root-only,
# exit codes, --json on every verb, empty results said in words, a second
# baseline build that says "already built", usage errors with the "layerlock:"
# prefix, layerlockd refusing a bad --log-level, a reload that applies every key
# or refuses naming the keys that need a restart, and container starts that log
# no warnings.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
json_ok() { python3 -c 'import json, sys; [json.loads(l) for l in sys.stdin.read().splitlines() if l.strip()]'; }

# --- No configuration file: the built-in defaults (in a private mount namespace
# where /etc/layerlock and /var/lib are empty, so nothing of the host's is seen or made).
out=$(unshare -m bash -c '
    mount --make-rprivate / && mount -t tmpfs tmpfs /var/lib
    if [ -d /etc/layerlock ]; then mount -t tmpfs tmpfs /etc/layerlock; fi
    "$1" events 2>"$2/defaults.err"; echo "rc=$?"
    "$1" status 2>>"$2/defaults.err"; echo "status_rc=$?"
    [ -e /var/lib/layerlock ] && echo "state created"; true' _ "$LAYERLOCK" "$T")
check "without a configuration file, events uses the defaults (exit 0: $out)" grep -q "^rc=0" <<<"$out"
check "and says so on stderr" grep -q "^layerlock: no configuration file at /etc/layerlock/layerlock.toml: using the built-in defaults" "$T/defaults.err"
check "an empty event table says \"no events\"" grep -q "^no events" <<<"$out"
check "a read-only verb creates no state directory" bash -c "! grep -q 'state created' <<<'$out'"
check "status with the defaults looks for the daemon, not a file (exit 2)" grep -q "^status_rc=2" <<<"$out"
check "and says the daemon is not running" grep -q "not running" "$T/defaults.err"
out=$("$LAYERLOCK" --config "$T/absent.toml" events 2>&1) && rc=0 || rc=$?
check "an explicitly named missing file stays an error (rc=$rc)" bash -c "[ $rc -eq 2 ] && grep -q 'configuration error' <<<'$out'"

# --- Read-only verbs create nothing; verbs that write make root-only state.
write_config monitor
sed -i "s|^database = .*|database = \"$T/state/baseline.db\"|" "$T/layerlock.toml"
c=ll-cli-$RUN_ID
run_container "$c"
out=$("${LL[@]}" events 2>&1) && rc=0 || rc=$?
check "events without a database says so (rc=$rc: $out)" bash -c "[ $rc -eq 0 ] && grep -q 'no events' <<<'$out'"
"${LL[@]}" baseline show "$c" >/dev/null 2>&1 || true
check "events and baseline show create no database nor directory" [ ! -e "$T/state" ]
out=$("$LAYERLOCK" events --config "$T/layerlock.toml" 2>&1) && rc=0 || rc=$?
check "--config after the verb is accepted (rc=$rc: $out)" [ "$rc" -eq 0 ]
out=$("${LL[@]}" baseline build "$c") && rc=0 || rc=$?
check "baseline build hashes the layer (rc=$rc)" grep -q "hashed [0-9]* files" <<<"$out"
check "the state directory it creates is 0700" [ "$(stat -c %a "$T/state")" = 700 ]
check "the database is 0600" [ "$(stat -c %a "$T/state/baseline.db")" = 600 ]
out=$("${LL[@]}" baseline build "$c")
check "a second build says the layer is already built ($out)" grep -q "already built" <<<"$out"
check "and does not claim to have hashed it again" bash -c "! grep -q 'hashed' <<<'$out'"
check "baseline build --json is JSON" json_ok <<<"$("${LL[@]}" baseline build "$c" --json)"
out=$("${LL[@]}" baseline show "$c" /no/such/path 2>&1) && rc=0 || rc=$?
check "baseline show of a path not in the image exits 1 (rc=$rc)" [ "$rc" -eq 1 ]
out=$("${LL[@]}" scan "$c") && rc=0 || rc=$?
check "scan of a container without drift says \"no drift\" (rc=$rc)" grep -q "no drift" <<<"$out"

# --- Exit codes and --json of config check; usage errors.
out=$("$LAYERLOCK" config check "$T/absent.toml" 2>&1) && rc=0 || rc=$?
check "config check of a missing file exits 2 (rc=$rc)" [ "$rc" -eq 2 ]
printf 'mode = "sometimes"\n' > "$T/bad.toml"
out=$("$LAYERLOCK" config check "$T/bad.toml" 2>&1) && rc=0 || rc=$?
check "config check of an invalid file exits 1 (rc=$rc)" [ "$rc" -eq 1 ]
out=$("$LAYERLOCK" config check "$T/bad.toml" --json) || true
check "config check --json says why ($out)" python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["ok"] is False and "bad.toml:1: mode" in r["error"]' "$out"
mkfifo "$T/fifo.toml"
out=$(timeout 5 "$LAYERLOCK" config check "$T/fifo.toml" 2>&1) && rc=0 || rc=$?
check "a FIFO as configuration is refused at once, not waited on (rc=$rc)" bash -c "[ $rc -eq 2 ] && grep -q 'not a regular file' <<<'$out'"
out=$("$LAYERLOCK" frobnicate 2>&1) && rc=0 || rc=$?
check "an unknown verb is a usage error with the layerlock: prefix (rc=$rc: $out)" bash -c "[ $rc -eq 2 ] && grep -q '^layerlock: ' <<<'$out'"
out=$("$LAYERLOCK" events --kind nonsense 2>&1) && rc=0 || rc=$?
check "a bad option value too (rc=$rc: $out)" bash -c "[ $rc -eq 2 ] && grep -q '^layerlock: ' <<<'$out'"
out=$("$LAYERLOCKD" --log-level bogus --config "$T/layerlock.toml" 2>&1) && rc=0 || rc=$?
check "layerlockd refuses --log-level bogus (rc=$rc: $out)" bash -c "[ $rc -eq 2 ] && grep -q 'bogus' <<<'$out'"

# --- Container starts log no warnings (transient mount and metadata states are debug).
write_config monitor
sed -i "s|^json_path = .*|json_path = \"$T/first.jsonl\"|" "$T/layerlock.toml"
start_daemon
for i in 1 2 3 4 5; do run_container "ll-cli-$i-$RUN_ID"; done
for i in 1 2 3 4 5; do wait_for_log "name=\"ll-cli-$i-$RUN_ID\"" 15 || fail "ll-cli-$i named"; done
warnings=$(tail -n +"$((LOG_FROM + 1))" "$T/daemon.log" | grep -E '^[0-9T:.-]+ (warning|error|critical) ' || true)
check "five container starts log no warning ($warnings)" [ -z "$warnings" ]
# --- Log lines name their category; debug means the steps behind what info says.
uncategorised=$(grep -E '^[0-9T:.-]+ ' "$T/daemon.log" |
    grep -vE '^[0-9T:.-]+ (trace|debug|info|warning|error|critical) layerlockd\[(daemon|discovery|gate|baseline|drift|alerts|behaviour|control)\]: ' || true)
check "every log line names its category ($uncategorised)" [ -z "$uncategorised" ]
check "a container named is a discovery info line" \
    grep -qE "info layerlockd\[discovery\]: container id=.* name=\"ll-cli-1-$RUN_ID\"" "$T/daemon.log"
check "a container gated is a gate info line" grep -qE 'info layerlockd\[gate\]: gating container ' "$T/daemon.log"
check "at debug, each pass over the mount table is logged" \
    grep -qE 'debug layerlockd\[discovery\]: mount table: [0-9]+ container overlays' "$T/daemon.log"
"${LL[@]}" status >/dev/null
check "at debug, control requests are logged" \
    bash -c "for i in \$(seq 50); do grep -qE 'debug layerlockd\\[control\\]: request verb=\"status\"' '$T/daemon.log' && exit 0; sleep 0.1; done; exit 1"

# --- Reload: every key applied (log level, alert file), or refused naming the key.
check "mode --json is JSON" json_ok <<<"$("${LL[@]}" mode "$c" enforce --json)"
"${LL[@]}" mode "$c" clear >/dev/null
sed -i -e 's/^log_level = .*/log_level = "warn"/' -e "s|^json_path = .*|json_path = \"$T/second.jsonl\"|" "$T/layerlock.toml"
out=$("${LL[@]}" reload --json) && rc=0 || rc=$?
check "reload --json is JSON and succeeds (rc=$rc: $out)" json_ok <<<"$out"
LOG_FROM=$(wc -l < "$T/daemon.log")
docker exec "$c" sh -c 'cp /bin/busybox /tmp/after-reload; /tmp/after-reload true' || true
check "after reload alerts go to the new JSON-lines file" bash -c "for i in \$(seq 50); do grep -q after-reload '$T/second.jsonl' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
check "and no longer to the old one" bash -c "! grep -q after-reload '$T/first.jsonl'"
run_container "ll-cli-late-$RUN_ID"
sleep 2
check "after reload to log_level warn no info or debug lines are logged" \
    bash -c "! tail -n +$((LOG_FROM + 1)) '$T/daemon.log' | grep -E '^[0-9T:.-]+ (info|debug|trace) '"
sed -i 's/^\[daemon\]/[gate]\nworkers = 3\n[daemon]/' "$T/layerlock.toml"
out=$("${LL[@]}" reload 2>&1) && rc=0 || rc=$?
check "a reload that changes gate.workers is refused with exit 1 (rc=$rc)" [ "$rc" -eq 1 ]
check "naming the key that needs a restart ($out)" grep -q "gate.workers.*restart" <<<"$out"
check "and does not say it reloaded" bash -c "! grep -q 'reloaded' <<<'$out'"
finish
