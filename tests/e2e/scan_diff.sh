#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# layerlock scan against real Docker containers, without the daemon: the set of
# paths equals `docker diff`, each change is classified, the exit status says
# whether drift at or above the threshold was found, and names are escaped.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
write_config monitor
c=ll-scan-$RUN_ID
run_container "$c"

out=$("${LL[@]}" scan "$c") && rc=0 || rc=$?
check "a fresh container has no drift (rc=$rc)" [ "$rc" -eq 0 ]

docker exec "$c" sh -c '
  touch /tmp/x; rm /bin/cat; chmod 4755 /bin/busybox; mkdir -p /newdir/sub; echo x > /newdir/sub/f
  echo "evil:x:0:0::/:/bin/sh" >> /etc/passwd; mkdir -p /var/log/app; echo l > /var/log/app/a.log
  ln -s /etc/shadow /tmp/link; mkfifo /tmp/fifo; cp /bin/busybox /usr-tool; chmod 0755 /usr-tool
  mkdir -p /var/lib/dpkg && echo "Package: x" > /var/lib/dpkg/status; touch "/tmp/$(printf "esc\033[31mname")"'

json=$("${LL[@]}" scan "$c" --json --min-severity info) || true
ours=$(python3 -c 'import json,sys; sys.path.insert(0, sys.argv[2]); from llrecords import unescape
for c in json.loads(sys.argv[1])[0]["changes"]: sys.stdout.buffer.write(unescape(c["path"]) + b"\n")' \
    "$json" "$SRC/tests/support" | sort)
theirs=$(docker diff "$c" | cut -c3- | sort)
check "scan lists exactly the paths docker diff lists" [ "$ours" = "$theirs" ]
[ "$ours" = "$theirs" ] || diff <(echo "$ours") <(echo "$theirs") >&2 || true

kind() {  # kind PATH -> "kind severity change"
    python3 -c 'import json,sys
for c in json.loads(sys.argv[1])[0]["changes"]:
    if c["path"] == sys.argv[2]: print(c["kind"], c["severity"], c["change"])' "$json" "$1"
}
check "/etc/passwd is critical config drift" [ "$(kind /etc/passwd)" = "config critical modified" ]
check "a new executable is binary drift" [ "$(kind /usr-tool)" = "binary high added" ]
check "the dpkg database is package drift" [ "$(kind /var/lib/dpkg/status)" = "package high modified" ]
check "chmod 4755 is a metadata change flagged high" [ "$(kind /bin/busybox)" = "config high metadata" ]
check "a deleted image file" [ "$(kind /bin/cat)" = "file low deleted" ]
check "logs are quiet" [ "$(kind /var/log/app/a.log)" = "file info added" ]

out=$("${LL[@]}" scan "$c") && rc=0 || rc=$?
check "drift found: exit 1 (rc=$rc)" [ "$rc" -eq 1 ]
check "the text report names the kind, severity and change" grep -q "config   critical modified  /etc/passwd" <<<"$out"
check "a hostile name is escaped in text" grep -q 'esc\\x1b\[31mname' <<<"$out$("${LL[@]}" scan "$c" --min-severity info)"
out=$("${LL[@]}" scan "$c" --min-severity critical) && rc=0 || rc=$?
check "--min-severity critical still finds /etc/passwd (rc=$rc)" [ "$rc" -eq 1 ]
check "and hides what is below it" bash -c "! grep -q usr-tool <<<'$out'"
# An [[allow]] rule for this container makes /newdir expected: quiet, info.
cp "$T/layerlock.toml" "$T/plain.toml"
printf '[[allow]]\npath = "/newdir/*"\ncontainer = "ll-scan-*"\n' >> "$T/layerlock.toml"
json=$("${LL[@]}" scan "$c" --json --min-severity info) || true
check "an allow rule quiets the matching paths" [ "$(kind /newdir/sub/f)" = "file info added" ]
check "and only those" [ "$(kind /etc/passwd)" = "config critical modified" ]
cp "$T/plain.toml" "$T/layerlock.toml"

out=$("${LL[@]}" scan no-such-container 2>&1) && rc=0 || rc=$?
check "an unknown container is an error: exit 2 (rc=$rc)" [ "$rc" -eq 2 ]
finish
