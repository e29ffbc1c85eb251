#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# watchdog_systemd.sh: the systemd watchdog of systemd/layerlock.service, proven
# under a real systemd as PID 1.
#
# What it proves: with the shipped unit (Type=notify, WatchdogSec=10s,
# Restart=on-failure, RestartSec=100ms) a layerlockd stopped with SIGSTOP is killed by
# systemd's watchdog, the kernel then releases the execs that were waiting on its
# fanotify group, systemd starts it again, and the running container is gated
# again (a dropped binary is denied with EPERM, image binaries run). Per run it
# measures: how long an exec started right after the SIGSTOP waits (an exec in a
# shell already running in the container, and a `docker exec`), SIGSTOP -> the
# watchdog's kill, the kill signal and exit status, kill -> READY of the new
# daemon, SIGSTOP -> the first denied exec of the dropped binary, how many drift
# execs ran ungated in between, and NRestarts.
#
# How: a Debian 12 rootfs (debootstrap minbase + systemd, dbus, docker.io and the
# daemon's shared libraries; built once and kept in $LL_SYSD_DIR/rootfs) gets the
# daemon and CLI from the build, the unit unchanged (enabled) and conf/layerlock.toml
# with mode = "enforce"; it is imported as a docker image and booted with
# /lib/systemd/systemd as PID 1 in a container of the host's dockerd (all
# capabilities the host's bounding set has, seccomp/apparmor unconfined, host
# network so the kernel's process-events connector works, the nested
# /var/lib/docker a bind mount of a host directory). Inside, the nested dockerd runs
# a busybox container (image imported from the rootfs's busybox-static).
#
# Before the runs, the unit as shipped must start a container gated in enforce mode
# (exit 1 otherwise: RestrictSUIDSGID=yes once made openat2 fail with ENOSYS, every
# layer baseline failed and the container's own entrypoint was denied). The runs
# use the unit exactly as shipped. tests/e2e/systemd_unit.sh runs this with RUNS=1.
#
# Needs: root, docker (the host's dockerd is used, or started as the tests start
# it), debootstrap and the Debian mirror the first time (≈3 min), ~1 GiB disk.
# Takes ≈ 1.5 min with the rootfs built (import ≈10 s, boot ≈10 s, 3 runs of ≈15 s),
# ≈ 4.5 min the first time. Cleans up its container on exit (the image and the
# rootfs stay for the next run).
#
# Usage: bench/watchdog_systemd.sh [BINARIES]
#   BINARIES: a directory holding layerlockd and layerlock, or a build root with
#   src/daemon/layerlockd and src/cli/layerlock (default: build).
# Environment: LL_SYSD_DIR (default /var/tmp/layerlock-sysd), RUNS (3),
#   MIRROR (default: the first Debian URI in /etc/apt/sources*), NAME (ll-sysd).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$REPO/build}
DIR=${LL_SYSD_DIR:-/var/tmp/layerlock-sysd}
RUNS=${RUNS:-3}
NAME=${NAME:-ll-sysd}
IMAGE=layerlock-sysd:wd
ROOT=$DIR/rootfs

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
if [ -x "$BIN/layerlockd" ] && [ -x "$BIN/layerlock" ]; then
    DAEMON=$BIN/layerlockd; CLI=$BIN/layerlock
elif [ -x "$BIN/src/daemon/layerlockd" ] && [ -x "$BIN/src/cli/layerlock" ]; then
    DAEMON=$BIN/src/daemon/layerlockd; CLI=$BIN/src/cli/layerlock
else
    echo "no layerlockd and layerlock in $BIN (nor in $BIN/src/daemon, $BIN/src/cli)" >&2; exit 1
fi
log() { echo "[$(date +%T)] $*" >&2; }

cleanup() {
    set +e
    docker rm -f "$NAME" >/dev/null 2>&1
}
trap cleanup EXIT

# ---- 1. the rootfs (built once) ------------------------------------------------
if [ ! -x "$ROOT/usr/sbin/dockerd" ] || [ ! -x "$ROOT/lib/systemd/systemd" ]; then
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null
    MIRROR=${MIRROR:-$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
                       awk '{print $2}' | head -1 || true)}
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    # The daemon's and the CLI's shared libraries, as Debian packages of this host.
    libs=$( (ldd "$DAEMON"; ldd "$CLI") | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u | while read -r so; do
        dpkg -S "*/$(basename "$(dirname "$so")")/$(basename "$so")" 2>/dev/null | head -1 | cut -d: -f1
    done | sort -u | paste -sd, -)
    log "debootstrap bookworm into $ROOT from $MIRROR (libraries: $libs)"
    rm -rf "$ROOT"; mkdir -p "$DIR"
    debootstrap --variant=minbase \
        --include="systemd,systemd-sysv,dbus,docker.io,containerd,runc,procps,busybox-static,$libs" \
        bookworm "$ROOT" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 ||
        { tail -20 "$DIR/debootstrap.log" >&2; exit 1; }
fi

# ---- 2. what goes in, every time ----------------------------------------------
install -m 0755 "$DAEMON" "$ROOT/usr/sbin/layerlockd"
install -m 0755 "$CLI" "$ROOT/usr/bin/layerlock"
install -m 0644 "$REPO/systemd/layerlock.service" "$ROOT/etc/systemd/system/layerlock.service"
rm -rf "$ROOT/etc/systemd/system/layerlock.service.d"
ln -sf /etc/systemd/system/layerlock.service "$ROOT/etc/systemd/system/multi-user.target.wants/layerlock.service"
ln -sf /lib/systemd/system/docker.service "$ROOT/etc/systemd/system/multi-user.target.wants/docker.service"
ln -sf /lib/systemd/system/containerd.service "$ROOT/etc/systemd/system/multi-user.target.wants/containerd.service"
mkdir -p "$ROOT/etc/layerlock" "$ROOT/etc/docker"
sed 's/^mode = "monitor"$/mode = "enforce"/' "$REPO/conf/layerlock.toml" > "$ROOT/etc/layerlock/layerlock.toml"
grep -q '^mode = "enforce"$' "$ROOT/etc/layerlock/layerlock.toml" || { echo "conf/layerlock.toml: no mode line to set" >&2; exit 1; }
chroot "$ROOT" /usr/bin/layerlock config check /etc/layerlock/layerlock.toml >&2
for u in getty@tty1.service console-getty.service getty.target systemd-logind.service systemd-pstore.service \
         e2scrub_reap.service systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
         systemd-firstboot.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
         dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
echo '{"iptables": false, "ip6tables": false, "bridge": "none"}' > "$ROOT/etc/docker/daemon.json"
echo "$NAME" > "$ROOT/etc/hostname"
# Entry point: /sys writable, then systemd as PID 1 (the cgroup hierarchies systemd
# mounts itself; they are made writable after boot, for the nested runc).
cat > "$ROOT/usr/local/sbin/ll-init" <<'EOF'
#!/bin/sh
mount -o remount,rw /sys 2>/dev/null
exec /lib/systemd/systemd "$@"
EOF
chmod 755 "$ROOT/usr/local/sbin/ll-init"

# The measurement of one run, executed inside the systemd container (bash there).
cat > "$ROOT/usr/local/sbin/ll-watchdog-run" <<'EOF'
#!/bin/bash
# ll-watchdog-run N OUTDIR CONTAINER: SIGSTOP the daemon, time what follows, print one "FIG" line.
set -euo pipefail
n=$1; out=$2; c=$3
rm -rf "$out"; mkdir -p "$out"; cd "$out"
now() { echo "$EPOCHREALTIME"; }
stamp() { while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done; }
mkfifo a.in p.in
# Loop A: a shell already running in the container (no runc/dockerd involved in its
# execs) runs the image's /bin/true for each line it reads.
docker exec -i "$c" sh -c 'while read c; do echo "B $c $EPOCHREALTIME"; /bin/true; echo "A $c $? $EPOCHREALTIME"; done' \
    < a.in > >(stamp > A.log) 2>&1 &
A_PID=$!
exec 7>a.in
# Loop P: after its first line, runs the dropped /tmp/true every 100 ms until "stop".
docker exec -i "$c" sh -c 'read go; while :; do t=$EPOCHREALTIME; /tmp/true 2>/dev/null; echo "P $t $? $EPOCHREALTIME"; read -t 0.1 x; [ "$x" = stop ] && break; done' \
    < p.in > >(stamp > P.log) 2>&1 &
P_PID=$!
exec 8>p.in
echo warm >&7
for _ in $(seq 200); do grep -q ' A warm ' A.log 2>/dev/null && break; sleep 0.05; done
grep -q ' A warm 0 ' A.log || { echo "loop A does not run /bin/true" >&2; cat A.log >&2; exit 1; }
pid0=$(systemctl show -p MainPID --value layerlock); nr0=$(systemctl show -p NRestarts --value layerlock)
t_stop=$(now); kill -STOP "$pid0"
echo go >&7                                   # the gated exec in the running shell
( t=$(now); r=0; docker exec "$c" /bin/true >/dev/null 2>&1 || r=$?; echo "D $t $r $(now)" > D.log ) &
D_PID=$!
echo go >&8                                   # the drift probe starts
deadline=$((SECONDS + 90)); pid1=; t_active=
while ((SECONDS < deadline)); do
    if [ -z "$t_active" ]; then
        p=$(systemctl show -p MainPID --value layerlock)
        if [ "$p" != "$pid0" ] && [ "$p" != 0 ] && [ "$(systemctl show -p ActiveState --value layerlock)" = active ]; then
            pid1=$p; t_active=$(now)
        fi
    elif awk -v t="$t_active" '$2 == "P" && $4 != 0 && $3 > t {f = 1} END {exit !f}' P.log; then
        break
    fi
    sleep 0.1
done
wait "$D_PID" || true
echo after >&7                                # an image binary after the restart
for _ in $(seq 200); do grep -q ' A after ' A.log && break; sleep 0.05; done
echo stop >&8
d2=0; docker exec "$c" /bin/true >/dev/null 2>&1 || d2=$?
nr1=$(systemctl show -p NRestarts --value layerlock)
exec 7>&- 8>&-
sleep 0.3
kill "$A_PID" "$P_PID" 2>/dev/null || true
wait "$A_PID" "$P_PID" 2>/dev/null || true
journalctl -u layerlock -o short-unix --no-pager --since "@${t_stop%.*}" > journal.txt
# Figures (seconds).
awk -v n="$n" -v ts="$t_stop" -v pid0="$pid0" -v pid1="${pid1:-none}" -v nr0="$nr0" -v nr1="$nr1" -v d2="$d2" '
FILENAME ~ /A.log/ && $2 == "B" && $3 == "go" {bgo = $4}
FILENAME ~ /A.log/ && $2 == "A" && $3 == "go" {ago = $5; arc = $4}
FILENAME ~ /A.log/ && $2 == "A" && $3 == "after" {aafter = $4}
FILENAME ~ /D.log/ {dwait = $4 - $2; drc = $3}
FILENAME ~ /P.log/ && $2 == "P" {
    if (first_p == "") first_p = $5 - $3               # the probe that was waiting: its wait
    if ($4 == 0 && t_rel1 == "") t_rel1 = $5
    if ($4 == 0) {allowed++; last_ok = $5}
    if ($4 != 0 && t_rel1 != "" && deny == "") deny = $3
}
FILENAME ~ /journal/ && /Watchdog timeout/ && wd == "" {wd = $1}
FILENAME ~ /journal/ && /Killing process/ && sig == "" {sig = $NF; sub(/\.$/, "", sig)}
FILENAME ~ /journal/ && /Main process exited/ && ex == "" {ex = $1; st = $0; sub(/.*exited, /, "", st); gsub(/ /, "", st)}
FILENAME ~ /journal/ && /Starting layerlock/ && ex != "" && starting == "" {starting = $1}
FILENAME ~ /journal/ && /Started layerlock/ && ex != "" && started == "" {started = $1}
END {
    printf "FIG run=%s exec_wait_sh=%.3f exec_rc_sh=%s exec_wait_docker=%.3f exec_rc_docker=%s probe_wait=%.3f ", n, ago - bgo, arc, dwait, drc, first_p
    printf "stop_to_watchdog=%.3f signal=%s exit=%s stop_to_exit=%.3f exit_to_starting=%.3f exit_to_ready=%.3f ", wd - ts, sig, st, ex - ts, starting - ex, started - ex
    printf "stop_to_denied=%.3f drift_allowed_in_gap=%d gap_s=%.3f image_exec_after_sh=%s image_exec_after_docker=%s ", deny - ts, allowed, deny - t_rel1, aafter, d2
    printf "pid0=%s pid1=%s nrestarts=%s->%s\n", pid0, pid1, nr0, nr1
}' A.log D.log P.log journal.txt
EOF
chmod 755 "$ROOT/usr/local/sbin/ll-watchdog-run"
rm -rf "$ROOT/tmp/"* "$ROOT/var/lib/layerlock"

# ---- 3. the host's dockerd and the systemd container --------------------------
docker info >/dev/null 2>&1 || bash "$REPO/tests/support/services.sh" journald containerd dockerd
log "importing $ROOT as $IMAGE"
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker image rm "$IMAGE" >/dev/null 2>&1 || true   # no dangling copy of the last run's image
tar -C "$ROOT" -c . | docker import - "$IMAGE" >/dev/null
rm -rf "$DIR/docker-data"; mkdir -p "$DIR/docker-data"
# --privileged needs every capability in the host's bounding set; when some are
# missing (CAP_SYS_RESOURCE on some VMs), runc refuses it, so the container gets all
# the host has and is otherwise unconfined.
capnames=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
          NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
          SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
          AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
          PERFMON BPF CHECKPOINT_RESTORE)
bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
drops=()
for i in "${!capnames[@]}"; do (( (bnd >> i) & 1 )) || drops+=(--cap-drop "${capnames[$i]}"); done
RUN=(docker run -d --name "$NAME" --hostname "$NAME" --cap-add ALL "${drops[@]}"
     --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined
     --device-cgroup-rule 'a *:* rwm' --cgroupns=private --network host -e container=docker
     --stop-signal SIGRTMIN+3 -v "$DIR/docker-data:/var/lib/docker"
     --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$IMAGE" /usr/local/sbin/ll-init)
log "${RUN[*]}"
"${RUN[@]}" >/dev/null
inside() { docker exec "$NAME" "$@"; }
state=
for _ in $(seq 300); do   # up to 60 s; the manager's socket appears a moment after start
    state=$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
    sleep 0.2
done
log "systemd: $state"
case $state in running|degraded) ;; *) inside journalctl -b --no-pager | tail -30 >&2; exit 1 ;; esac
inside systemctl --failed --no-pager --no-legend >&2 || true
# systemd mounted the v1 hierarchies read-only (a container); the nested runc writes them.
inside sh -c 'for d in /sys/fs/cgroup/*; do [ -L "$d" ] || mount -o remount,bind,rw "$d" 2>/dev/null; done; true'
VERSIONS=$(inside sh -c 'echo "systemd $(systemctl --version | head -1 | cut -d" " -f2-); docker $(docker version --format "{{.Server.Version}}"); $(containerd --version | cut -d" " -f3); runc $(runc --version | head -1 | cut -d" " -f3)"')
log "inside: $VERSIONS"
inside systemctl is-active layerlock docker >/dev/null || { inside systemctl status layerlock docker --no-pager >&2; exit 1; }

# ---- 4. the nested image and container ----------------------------------------
inside sh -c 'set -e; r=$(mktemp -d); mkdir -p $r/bin $r/tmp $r/etc; chmod 1777 $r/tmp; cp /bin/busybox $r/bin/busybox
          for a in sh cp true false sleep cat ls chmod echo id ps head; do ln -s busybox $r/bin/$a; done
          echo "root:x:0:0:root:/root:/bin/sh" > $r/etc/passwd
          tar -C $r -c . | docker import - ll/busybox:1 >/dev/null; rm -rf $r'
C=cgate
gated() {  # the container is gated in enforce mode with a complete baseline
    inside layerlock status --json 2>/dev/null | python3 -c 'import json, sys
s = json.load(sys.stdin)
sys.exit(0 if any(c["name"] == "'$C'" and c["mode"] == "enforce" and c["baseline"] == "complete" for c in s["containers"]) else 1)' 2>/dev/null
}
running() { [ "$(inside docker inspect -f '{{.State.Running}}' $C 2>/dev/null)" = true ]; }
wait_until() { local d=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < d)) || return 1; sleep 0.2; done; }

inside docker run -d --network none --name $C ll/busybox:1 sleep 1000000 >/dev/null 2>&1 || true
if wait_until 15 running && wait_until 20 gated; then
    log "as shipped: $C runs and is gated"
else
    # RestrictSUIDSGID=yes once did this: openat2 refused (ENOSYS), every layer
    # baseline failed and the container's entrypoint was denied.
    echo "DEFECT with the unit as shipped: $C did not start gated in enforce mode:" >&2
    inside docker ps -a --filter name=$C --format '  {{.Status}}' >&2
    inside docker logs $C 2>&1 | sed 's/^/  container: /' | tail -3 >&2
    inside journalctl -u layerlock -o cat --no-pager | grep -E 'baseline layer=.*: |drift denied' | head -4 | sed 's/^/  journal: /' >&2
    exit 1
fi
inside docker exec $C cp /bin/busybox /tmp/true
drift_denied() { inside docker exec $C /tmp/true >/dev/null 2>&1 && return 1; inside docker exec $C /bin/true; }
wait_until 10 drift_denied || { echo "a dropped binary is not denied before the runs" >&2; exit 1; }
log "before the runs: /tmp/true denied, /bin/true runs"

# ---- 5. the runs ---------------------------------------------------------------
FIGS=()
for n in $(seq "$RUNS"); do
    wait_until 30 gated || { echo "not gated before run $n" >&2; exit 1; }
    sleep 2   # a few keep-alives of the current daemon
    log "run $n: SIGSTOP layerlockd"
    line=$(inside /usr/local/sbin/ll-watchdog-run "$n" "/root/wd/$n" $C | grep '^FIG ')
    echo "$line" >&2
    FIGS+=("$line")
    inside cat "/root/wd/$n/journal.txt" | grep -E 'systemd\[1\]|ready:|drift denied' | sed 's/^/    /' >&2
done
inside layerlock status | head -5 >&2
NR=$(inside systemctl show -p NRestarts --value layerlock)

# ---- 6. the table --------------------------------------------------------------
echo
echo "layerlock watchdog under systemd as PID 1 ($VERSIONS)"
echo "unit: as shipped; WatchdogSec=10s RestartSec=100ms; mode=enforce; NRestarts at the end: $NR"
printf '%s\n' "${FIGS[@]}" | awk '
function v(k,   i, a) { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return substr($i, length(k) + 2) } return "?" }
BEGIN {
    printf "%-4s %9s %9s %9s %9s %-8s %-22s %9s %9s %9s %8s %11s %-12s\n", "run", "wait_sh", "wait_dkr", "wait_prb",
           "stop>wd", "signal", "exit", "stop>exit", "exit>rdy", "stop>deny", "gap_ok", "img_after", "NRestarts"
}
{
    printf "%-4s %9s %9s %9s %9s %-8s %-22s %9s %9s %9s %8s %11s %-12s\n", v("run"), v("exec_wait_sh") "(" v("exec_rc_sh") ")",
           v("exec_wait_docker") "(" v("exec_rc_docker") ")", v("probe_wait"), v("stop_to_watchdog"), v("signal"), v("exit"),
           v("stop_to_exit"), v("exit_to_ready"), v("stop_to_denied"), v("drift_allowed_in_gap"),
           v("image_exec_after_sh") "/" v("image_exec_after_docker"), v("nrestarts")
}'
cat <<'EOF'
  wait_sh   exec of the image's /bin/true in a shell already running in the container, started right after SIGSTOP (s, exit status)
  wait_dkr  `docker exec c /bin/true` started right after SIGSTOP (s, exit status)
  wait_prb  the first exec of the dropped /tmp/true, started right after SIGSTOP (s)
  stop>wd   SIGSTOP -> systemd "Watchdog timeout"; stop>exit -> "Main process exited"; exit>rdy -> "Started" (READY=1)
  stop>deny SIGSTOP -> the first exec of the dropped binary denied by the new daemon (probed every 100 ms)
  gap_ok    execs of the dropped binary that ran between the old daemon's death and the new one's gate
  img_after exit status of /bin/true after the restart (running shell / docker exec)
EOF
