#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile container content, all in one container (issue 18): symlinks to host
# paths (absolute and ../../..), a FIFO, a socket, a device node, a name with a
# newline, a 10 GiB sparse file, a file growing while scanned, a directory tree 300
# deep, a setuid binary. The daemon (live watch and reconcile) and `layerlock scan`
# run under strace (open, openat, openat2, with the path of every fd returned): no
# crash, no hang, the host's /etc/shadow never opened through the links, the FIFO,
# socket and device never opened, every name escaped in scan's output, and the part
# of the tree past the walk's depth bound named as not scanned.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-hostile-$RUN_ID
write_config monitor
start_daemon
# Every thread of the running daemon, and those it starts.
strace -f -qq -y -e trace=open,openat,openat2 -o "$T/daemon.strace" -p "$DAEMON_PID" &
STRACE_PID=$!
sleep 1
run_container "$c"
check "the container is gated" wait_for_log "name=\"$c\"" 15
upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' "$c")

docker exec "$c" sh -c '
    ln -s /etc/shadow /tmp/shadow-link
    ln -s ../../../../../../../../etc/shadow /tmp/up-link
    mkfifo /tmp/fifo
    mknod /tmp/null-dev c 1 3
    echo x > "/tmp/new
line"
    dd if=/dev/zero of=/tmp/sparse bs=1 count=1 seek=10737418239 2>/dev/null
    cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid
    cd /tmp && i=0 && while [ $i -lt 300 ]; do mkdir d && cd d; i=$((i + 1)); done && echo deep > leaf'
# A unix socket bound in the writable layer (no socket tool in the image).
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$upper/tmp/sock"
# A file growing while the scans run.
docker exec -d "$c" sh -c 'i=0; while [ $i -lt 100 ]; do echo line$i >> /tmp/growing; i=$((i + 1)); sleep 0.1; done'
check "the setuid drift is alerted" wait_for_log "/tmp/suid" 20

t0=$SECONDS
strace -f -qq -y -e trace=open,openat,openat2 -o "$T/scan.strace" \
    timeout 120 "${LL[@]}" scan "$c" --json --min-severity info > "$T/scan.json" 2>"$T/scan.err" && rc=0 || rc=$?
check "scan finishes with drift found, no crash (rc=$rc, $((SECONDS - t0)) s)" [ "$rc" -eq 1 ]
sleep 2   # the live watch's last look at the growing file
kill -INT "$STRACE_PID" 2>/dev/null || true   # detaches; the daemon runs on
wait "$STRACE_PID" 2>/dev/null || true
check "the daemon still runs" kill -0 "$DAEMON_PID"
check "and answers" "${LL[@]}" status

for who in daemon scan; do
    f=$T/$who.strace
    check "$who: the trace holds its opens of the writable layer (not vacuous)" grep -q "<$upper/tmp" "$f"
    # A returned fd is printed with its path: "= 7</path>". The host's shadow file is
    # reached only by following one of the links out of the layer.
    check "$who: the host's /etc/shadow never opened" bash -c "! grep -E '= [0-9]+</etc/shadow>' '$f'"
    check "$who: the FIFO, the socket and the device never opened" \
        bash -c "! grep -E '= [0-9]+<$upper/tmp/(fifo|sock|null-dev)>' '$f'"
    check "$who: the links never opened as files" \
        bash -c "! grep -E '= [0-9]+<$upper/tmp/(shadow-link|up-link)>' '$f'"
    check "$who: the 10 GiB sparse file opened at most a few times" \
        bash -c "[ \$(grep -cE '= [0-9]+<$upper/tmp/sparse>' '$f') -le 8 ]"
done

check "scan's output is JSON" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/scan.json"
paths() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
for c in (doc if isinstance(doc, list) else doc.get("containers", [doc])):
    for ch in c["changes"]:
        print(ch["path"])' "$T/scan.json"
}
listed=$(paths)
for p in /tmp/shadow-link /tmp/up-link /tmp/fifo /tmp/sock /tmp/null-dev /tmp/sparse /tmp/suid /tmp/growing; do
    check "scan lists $p" grep -qxF "$p" <<<"$listed"
done
check "the name with a newline is listed escaped, on one line" grep -qxF '/tmp/new\nline' <<<"$listed"
# The walk holds one directory fd per level and stops at 256: what lies deeper is
# reported as not scanned, at the directory where the walk stopped.
check "the tree 300 deep is walked to the bound and the rest named as not scanned" python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
deep = [ch for c in doc for ch in c["changes"] if "deeper than 256 levels" in ch.get("detail", "")]
sys.exit(0 if len(deep) == 1 and deep[0]["path"].count("/d") >= 250 else 1)' "$T/scan.json"
check "the daemon logged no crash or sanitizer report" bash -c "! grep -qE 'AddressSanitizer|runtime error|Segmentation' '$T/daemon.log'"

finish
