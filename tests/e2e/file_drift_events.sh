#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# File drift made while the daemon was not running — including `docker cp` into a
# stopped container that is then started — is reported by the reconcile scan at
# discovery, once (also across a restart), to journald and the event table; exec
# gate events land in the same table; `layerlock events` filters them.
source "$(dirname "$0")/lib.sh"

LL=("$LAYERLOCK" --config "$T/layerlock.toml")
c=ll-fd-$RUN_ID
cp_c=ll-cp-$RUN_ID
run_container "$c"
docker exec "$c" sh -c 'echo "evil:x:0:0::/:/bin/sh" >> /etc/passwd; cp /bin/busybox /usr-tool; chmod 755 /usr-tool; echo log > /var/log/app.log
  printf "Package: base-files\nStatus: install ok installed\nVersion: 12.5\n\nPackage: netcat\nStatus: install ok installed\nVersion: 1.10-47\n\n" > /var/lib/dpkg/status'
CONTAINERS+=("$cp_c")
docker create --network none --name "$cp_c" "$IMAGE" sleep 100000 >/dev/null
echo 'planted' > "$T/planted"
docker cp "$T/planted" "$cp_c:/etc/planted.conf"
docker start "$cp_c" >/dev/null

write_config monitor
start_daemon
check "the reconcile scan runs for $c" wait_for_log "reconcile id=.* name=\"$c\"" 30
check "the reconcile scan runs for $cp_c" wait_for_log "reconcile id=.* name=\"$cp_c\"" 30
check "drift made before the daemon started is in journald" journal_has LAYERLOCK_KIND=config \
    LAYERLOCK_CHANGE=modified LAYERLOCK_PATH=/etc/passwd LAYERLOCK_SEVERITY=critical LAYERLOCK_CONTAINER_NAME="$c"
check "docker cp into a stopped container is reported" journal_has LAYERLOCK_CHANGE=added \
    LAYERLOCK_PATH=/etc/planted.conf LAYERLOCK_CONTAINER_NAME="$cp_c"
check "a quiet log write is not alerted" bash -c "[ -z \"\$(journalctl --no-pager -o json LAYERLOCK_PATH=/var/log/app.log LAYERLOCK_CONTAINER_NAME=$c)\" ]"

check "an added package is named" journal_has LAYERLOCK_KIND=package LAYERLOCK_CHANGE=added \
    LAYERLOCK_PACKAGE="netcat 1.10-47" LAYERLOCK_CONTAINER_NAME="$c"
check "a removed package is named" journal_has LAYERLOCK_KIND=package LAYERLOCK_CHANGE=removed \
    LAYERLOCK_PACKAGE="curl 7.88.1-10" LAYERLOCK_CONTAINER_NAME="$c"
check "a changed package has both versions" journal_has LAYERLOCK_KIND=package LAYERLOCK_CHANGE=changed \
    LAYERLOCK_PACKAGE="base-files 12.5" LAYERLOCK_DETAIL="base-files 12.4 -> 12.5 (changed)"
pk=$("${LL[@]}" scan "$c" --json) || true
check "scan names the packages too" grep -q '"packages":\[.*"name":"netcat","change":"added"' <<<"$pk"
docker exec "$c" /usr-tool true >/dev/null 2>&1 || true     # monitor: the exec gate alerts
sleep 1
ev=$("${LL[@]}" events --container "$c" --json)
has_event() {  # has_event KEY=VALUE...: one record of `events --json` has all of them
    python3 -c 'import json, sys
want = dict(a.split("=", 1) for a in sys.argv[1:])
sys.exit(0 if any(all(str(r.get(k)) == v for k, v in want.items())
                  for r in map(json.loads, sys.stdin.read().splitlines())) else 1)' "$@" <<<"$ev"
}
check "events has the file drift" has_event kind=config change=modified path=/etc/passwd
check "events has the quiet log write, stored" grep -q '"path":"/var/log/app.log"' <<<"$ev"
check "events has the exec gate's alert" has_event kind=binary action=alerted path=/usr-tool
check "--kind filters" bash -c "! grep -q '\"kind\":\"config\"' <<<\"\$('${LAYERLOCK}' --config '$T/layerlock.toml' events --kind binary --json)\""
crit=$("${LL[@]}" events --min-severity critical --container "$c")
check "--min-severity critical keeps /etc/passwd and the exec drift (critical), not the log write" \
    bash -c "grep -q /etc/passwd <<<'$crit' && grep -q usr-tool <<<'$crit' && ! grep -q app.log <<<'$crit'"
high=$("${LL[@]}" events --min-severity critical --kind config --container "$c")
check "with --kind config, /etc/passwd only" bash -c "grep -q /etc/passwd <<<'$high' && ! grep -q usr-tool <<<'$high'"
check "--since 1h includes them" grep -q /etc/passwd <<<"$("${LL[@]}" events --since 1h --container "$c")"
out=$("${LL[@]}" events --since yesterday 2>&1) && rc=0 || rc=$?
check "a malformed --since is refused (rc=$rc)" [ "$rc" -eq 2 ]

stop_daemon
start_daemon
check "the restarted daemon reconciles again" wait_for_log "reconcile id=.* name=\"$c\".* 0 not reported before" 30
n=$("${LL[@]}" events --container "$c" --json | grep -c '"path":"/etc/passwd"' || true)
check "each change is reported once across restarts ($n)" [ "$n" -eq 1 ]

timeout 6 "${LL[@]}" events --follow --container "$c" > "$T/follow.txt" 2>&1 &
sleep 1
docker exec "$c" sh -c 'echo later > /srv-later.txt'
sleep 3
check "events --follow prints a change made after it started" grep -q "/srv-later.txt" "$T/follow.txt"
finish
