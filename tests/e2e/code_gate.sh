#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No way around the gate (issue 15), against real Docker containers of an image
# with dynamic programs, their loader and libc, python3, perl and bash. Every
# attack that runs code without an execve of an overlay file — a script read by
# an interpreter (sh, sh < file, bash, python3, a Python import, perl, a script
# without extension given as the interpreter's argument), a dropped library
# (LD_PRELOAD, dlopen, LD_LIBRARY_PATH), a dropped program run by the image's
# loader, an exec or a script from /dev, /dev/shm, a --tmpfs and a bind volume —
# is denied in enforce mode (its marker never printed) and alerted with its kind,
# path, location and container; in monitor mode it runs and is alerted. What is
# legitimate runs with no alert in enforce mode: image scripts, image libraries,
# Python importing the image's modules, the loader running an image program, the
# entrypoint script, a dropped script read by cat, a .sh file written by a shell.
# The host's exec of a file in the bind-mounted directory is never gated.
source "$(dirname "$0")/lib.sh"
ensure_dyn_image

E=ll-code-enf-$RUN_ID
M=ll-code-mon-$RUN_ID
mkdir -p "$T/vol-e" "$T/vol-m"
write_config enforce '[[override]]' 'container = "ll-code-mon-*"' 'mode = "monitor"'
start_daemon
for c in "$E" "$M"; do
    CONTAINERS+=("$c")
    vol=$T/vol-e; [ "$c" = "$M" ] && vol=$T/vol-m
    docker run -d --network none --name "$c" -v "$vol:/data" --tmpfs /x:exec "$DYN_IMAGE" sleep 100000 >/dev/null
done
for c in "$E" "$M"; do wait_for_log "name=\"$c\"" 15 || fail "metadata of $c learned"; done
check "the bind volume and the tmpfs of both containers are gated" \
    bash -c "for i in \$(seq 100); do [ \$(grep -c 'gating \(volume mount=\"/data\"\|tmpfs mount=\"/x\"\)' '$T/daemon.log') -ge 4 ] && exit 0; sleep 0.1; done; exit 1"

# alerted KIND ACTION CONTAINER PATH: a gate alert (not file drift) with these fields
# reached the JSON-lines file (waits up to 5 s); prints it.
alerted() {
    python3 - "$SRC/tests/support" "$T/alerts.jsonl" "$@" <<'PY'
import json, sys, time
sys.path.insert(0, sys.argv[1])
from llrecords import unescape
path, kind, action, container, want = sys.argv[2:7]
for _ in range(50):
    for line in open(path):
        r = json.loads(line)
        if (not r.get("change") and r["kind"] == kind and r["action"] == action and r["container_name"] == container
                and unescape(r["path"]) == want.encode()):
            print(line.strip())
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
}
gate_alerts_of() {  # gate alerts (no file-drift change) of a container so far
    python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if (r := json.loads(l)) and not r.get("change") and r["container_name"] == sys.argv[2]))' \
        "$T/alerts.jsonl" "$1"
}

# --- Legitimate work, enforce mode: runs, and no gate alert at all.
legit=(
    "sh /usr/local/bin/image-script.sh|image-script-ok"
    "/usr/local/bin/image-script.sh|image-script-ok"
    "bash -c 'echo bash-ok'|bash-ok"
    "perl -e 'print qq(perl-ok\\n)'|perl-ok"
    "python3 -c 'import json, os, re, sys; sys.path.insert(0, \"/app\"); import imagemod; print(imagemod.MESSAGE)'|image-module-ok"
    "ll_test_app|app: image-dep"
    "/lib64/ld-linux-x86-64.so.2 /usr/bin/ll_test_app|app: image-dep"
    "cat /tmp/entrypoint.out|entrypoint-ran"
    "printf 'echo not-run\\n' > /tmp/w.sh && echo more >> /tmp/w.sh && cat /tmp/w.sh|not-run"
    "echo data > /tmp/data.txt && python3 -c 'print(open(\"/tmp/data.txt\").read())'|data"
    "sh -c 'while read l; do echo got-\$l; done < /tmp/data.txt'|got-data"
)
for entry in "${legit[@]}"; do
    cmd=${entry%|*}; want=${entry##*|}
    out=$(docker exec "$E" sh -c "$cmd" 2>&1) || true
    check "enforce, legitimate: $cmd" grep -qF -- "$want" <<<"$out"
done
sleep 1
n=$(gate_alerts_of "$E")
check "legitimate work raised no gate alert ($n)" [ "$n" -eq 0 ]

# --- The payloads, dropped into both containers (docker cp writes from the host).
for c in "$E" "$M"; do
    docker exec "$c" sh -c '
        printf "echo MARKER-sh\n" > /tmp/x.sh; printf "echo MARKER-noext\n" > /tmp/payload
        printf "print(\"MARKER-py\")\n" > /tmp/x.py; printf "print(\"MARKER-import\")\n" > /tmp/evilmod.py
        printf "print \"MARKER-pl\\n\";\n" > /tmp/x.pl; printf "echo MARKER-shm\n" > /dev/shm/x.sh
        printf "echo MARKER-vol\n" > /data/x.sh
        cp /bin/busybox /x/echo; cp /bin/busybox /dev/echo; cp /bin/busybox /data/echo
        chmod 755 /x/echo /dev/echo /data/echo'
    docker cp "$BUILD/tests/libll_test_hook.so" "$c:/tmp/hook.so"
    docker cp "$BUILD/tests/libll_test_hook.so" "$c:/tmp/libll_test_dep.so"
    docker cp "$BUILD/tests/ll_test_app" "$c:/tmp/payload-elf"
    docker exec "$c" chmod 0644 /tmp/payload-elf
done

# name|command|marker|kind|path
attacks=(
    "sh reads a script|sh /tmp/x.sh|MARKER-sh|script|/tmp/x.sh"
    "sh reads a script on stdin|sh < /tmp/x.sh|MARKER-sh|script|/tmp/x.sh"
    "sh runs a script without extension|sh /tmp/payload|MARKER-noext|script|/tmp/payload"
    "bash reads a script|bash /tmp/x.sh|MARKER-sh|script|/tmp/x.sh"
    "python3 runs a script|python3 /tmp/x.py|MARKER-py|script|/tmp/x.py"
    "python3 imports a dropped module|PYTHONPATH=/tmp python3 -c 'import evilmod'|MARKER-import|script|/tmp/evilmod.py"
    "perl runs a script|perl /tmp/x.pl|MARKER-pl|script|/tmp/x.pl"
    "LD_PRELOAD of a dropped library|LD_PRELOAD=/tmp/hook.so ll_test_app|MARKER-hook|library|/tmp/hook.so"
    "dlopen of a dropped library|ll_test_app dlopen /tmp/hook.so|MARKER-hook|library|/tmp/hook.so"
    "LD_LIBRARY_PATH to a dropped library|LD_LIBRARY_PATH=/tmp ll_test_app|MARKER-hook|library|/tmp/libll_test_dep.so"
    "the loader runs a dropped program|/lib64/ld-linux-x86-64.so.2 /tmp/payload-elf|app:|binary|/tmp/payload-elf"
    "exec from a --tmpfs|/x/echo MARKER-tmpfs|MARKER-tmpfs|binary|/x/echo"
    "exec from /dev|/dev/echo MARKER-dev|MARKER-dev|binary|/dev/echo"
    "a script from /dev/shm|sh /dev/shm/x.sh|MARKER-shm|script|/dev/shm/x.sh"
    "exec from a bind volume|/data/echo MARKER-vol-exec|MARKER-vol-exec|binary|/data/echo"
    "a script from a bind volume|sh /data/x.sh|MARKER-vol|script|/data/x.sh"
)
for entry in "${attacks[@]}"; do
    IFS='|' read -r name cmd marker kind path <<<"$entry"
    out=$(docker exec "$E" sh -c "$cmd" 2>&1) || true
    check "enforce: $name is stopped (no $marker)" lacks "$marker" "$out"
    check "enforce: $name is alerted as $kind drift, denied" alerted "$kind" denied "$E" "$path"
    out=$(docker exec "$M" sh -c "$cmd" 2>&1) || true
    check "monitor: $name runs ($marker)" grep -qF -- "$marker" <<<"$out"
    check "monitor: $name is alerted as $kind drift" alerted "$kind" alerted "$M" "$path"
done

rec=$(alerted script denied "$E" /tmp/x.py)
check "a script alert names the interpreter (comm python3), its exe and the location" python3 -c '
import json, sys; r = json.loads(sys.argv[1])
assert r["comm"] == "python3" and r["exe"].endswith("python3") and r["location"] == "writable-layer", r' "$rec"
rec=$(alerted binary denied "$E" /data/echo)
check "an exec from a volume says where ($rec)" python3 -c '
import json, sys; r = json.loads(sys.argv[1]); assert r["location"] == "volume" and r["mount"] == "/data", r' "$rec"
rec=$(alerted library denied "$E" /tmp/hook.so)
check "a library alert is critical and carries the library's digest" python3 -c '
import json, sys; r = json.loads(sys.argv[1]); assert r["severity"] == "critical" and r["sha256"] == sys.argv[2], r' \
    "$rec" "$(sha256sum "$BUILD/tests/libll_test_hook.so" | cut -d' ' -f1)"

# The host's own exec of the same bind-mounted file is never asked about.
check "the host runs the file of the bind-mounted directory" grep -qx host-ok <("$T/vol-e/echo" host-ok)
finish
