#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Names chosen by an attacker inside a container cannot forge or break a record
# in any output. A real Docker container runs dropped binaries whose names hold a
# quote that would end a quoted field (`q" severity=info x="y`), `=` and spaces, a
# newline, an ANSI escape, invalid UTF-8 and a literal backslash-x. Every sink is
# read back strictly (tests/support/llrecords.py): the daemon's text lines
# (stderr), journald (MESSAGE and the LAYERLOCK_* fields), JSON lines,
# `layerlock events` (text and JSON) and `layerlock scan` (text and JSON). Each
# must give exactly one exec record per name whose path, unescaped, is the
# original bytes, and the forged fields must not appear.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-hostile-$RUN_ID
write_config monitor
start_daemon
run_container "$c"
wait_for_log "name=\"$c\"" 10 || fail "metadata of $c learned"

# The names as printf formats (so the shell never has to hold the raw bytes).
names=('q\042 severity=info x=\042y' 'eq=sign and space' 'new\nline' '\033[31mansi' 'bad\377\376utf8' 'back\\slash\\x41')
hexes=()
for fmt in "${names[@]}"; do
    raw=$(printf "$fmt"; echo .)   # keep a trailing newline, if any, through $()
    raw=${raw%.}
    hexes+=("$(printf '%s' "/tmp/$raw" | od -An -tx1 | tr -d ' \n')")
    # busybox named so finds no applet and exits 127: the exec itself is what counts.
    docker exec "$c" sh -c 'n=$(printf "$1"; echo .); n="/tmp/${n%.}"; cp /bin/busybox "$n"; "$n" true' _ "$fmt" \
        >/dev/null 2>&1 || true
done
check "every exec was alerted" wait_for_log "binary drift alerted.*x41" 10
sleep 1.5   # the file-drift window (500 ms) and the alert queue

journalctl --no-pager -o json SYSLOG_IDENTIFIER=layerlockd LAYERLOCK_CONTAINER_NAME="$c" > "$T/journal.json"
"${LL[@]}" events --container "$c" > "$T/events.txt"
"${LL[@]}" events --container "$c" --json > "$T/events.json"
"${LL[@]}" scan "$c" --min-severity info > "$T/scan.txt" || true
"${LL[@]}" scan "$c" --min-severity info --json > "$T/scan.json" || true

python3 - "$SRC/tests/support" "$T" "${hexes[@]}" <<'PY' && rc=0 || rc=$?
import json, os, re, sys
sys.path.insert(0, sys.argv[1])
from llrecords import parse_line, unescape
T = sys.argv[2]
names = [bytes.fromhex(h) for h in sys.argv[3:]]
failures = []

def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures.append(what)

def one_each(found, sink):
    """found: the raw paths of the exec records a sink gave."""
    for n in names:
        check(found.count(n) == 1, f"{sink}: exactly one exec record for {n!r} (found {found.count(n)})")

# The daemon's text lines: every alert line parses, one exec record per name.
text = [parse_line(l) for l in open(os.path.join(T, "daemon.log"), encoding="utf-8", errors="strict")
        if l.startswith("layerlockd: ") and " drift " in l]
execs = [r for r in text if r["kind"] == b"binary" and "change" not in r]
one_each([r["path"] for r in execs], "stderr text")
forged = [r for r in execs if r["path"] == names[0]]
check(all(r["severity"] != b"info" and "x" not in r for r in forged), "stderr text: the quote forged no field")
check(all(r["comm"] == b"sh" for r in execs), "stderr text: comm is the shell that called execve")

# journald: MESSAGE is such a line; the fields carry the same escaped values.
entries = [json.loads(l) for l in open(os.path.join(T, "journal.json"))]
msgs = [parse_line(e["MESSAGE"]) for e in entries]
check(all(isinstance(e["LAYERLOCK_PATH"], str) for e in entries), "journald: every field is printable text")
check(all(unescape(e["LAYERLOCK_PATH"]) == m["path"] for e, m in zip(entries, msgs)), "journald: field and MESSAGE agree")
one_each([unescape(e["LAYERLOCK_PATH"]) for e in entries if e["LAYERLOCK_KIND"] == "binary"
          and "LAYERLOCK_CHANGE" not in e], "journald")
check(all(e.get("LAYERLOCK_SEVERITY") != "info" for e in entries if unescape(e["LAYERLOCK_PATH"]) == names[0]),
      "journald: the quote forged no severity")

def json_lines(path):
    out = []
    for l in open(path, encoding="utf-8", errors="strict"):
        r = json.loads(l)
        check(isinstance(r, dict), f"{os.path.basename(path)}: one object per line")
        out.append(r)
    return out

for sink, path in (("JSON lines", "alerts.jsonl"), ("events --json", "events.json")):
    recs = [r for r in json_lines(os.path.join(T, path)) if r["kind"] == "binary" and not r.get("change")]
    one_each([unescape(r["path"]) for r in recs], sink)

# events (text): one line per record, the path quoted when it must be.
lines = open(os.path.join(T, "events.txt"), encoding="utf-8", errors="strict").read().splitlines()
paths = []
for l in lines:
    m = re.match(r'^\S+ binary +\S+ +\S+ +exec +\S+ +("(?:[^"\\]|\\.)*"|\S+)', l)
    if m:
        p = m.group(1)
        paths.append(unescape(p[1:-1]) if p.startswith('"') else p.encode())
one_each(paths, "events (text)")

# scan: every name is one change (text and JSON).
scan = json.load(open(os.path.join(T, "scan.json")))[0]["changes"]
one_each([unescape(ch["path"]) for ch in scan if ch["change"] == "added" and ch["kind"] == "binary"], "scan --json")
paths = []
for l in open(os.path.join(T, "scan.txt"), encoding="utf-8", errors="strict").read().splitlines():
    m = re.match(r'^  binary +\S+ +added +("(?:[^"\\]|\\.)*"|\S+)', l)
    if m:
        p = m.group(1)
        paths.append(unescape(p[1:-1]) if p.startswith('"') else p.encode())
one_each(paths, "scan (text)")
for path in ("daemon.log", "events.txt", "scan.txt"):
    raw = open(os.path.join(T, path), "rb").read()
    check(b"\x1b" not in raw and b"\xff" not in raw, f"{path}: no raw escape byte or invalid UTF-8")
sys.exit(1 if failures else 0)
PY
check "every sink reads back to the original names" [ "$rc" -eq 0 ]
finish
