#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The operator's path, from source to purge: build the .deb (packaging/deb/build.sh,
# one build per run), lintian it (no errors), dpkg -i it, check every file is in
# place, run the INSTALLED daemon exactly as the unit's ExecStart line says with
# the conffile switched to enforce (restored afterwards), check drift in a real
# Docker container is denied; run it again under an approximation of the unit's
# sandbox (private mount namespace with slave propagation, read-only file system
# but its state and runtime directories, private /tmp, /home, /dev, procfs with
# hidepid=invisible,subset=pid, a private network namespace, the unit's capability
# bounding set, no_new_privs, umask 077) and check a container started after the
# daemon is gated; then dpkg --purge and check nothing is left. Whatever fails,
# the package is purged on exit, and a /var/lib/layerlock or /run/layerlock that
# existed before the test is put back.
source "$(dirname "$0")/lib.sh"

PKG=layerlock
UNIT=/lib/systemd/system/layerlock.service
CONF=/etc/layerlock/layerlock.toml
STATE_DIRS=(/var/lib/layerlock /run/layerlock)
INSTALLED_BY_US=
declare -A SAVED=()

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed"; then
    echo "package $PKG is already installed on this machine; refusing to purge it" >&2
    exit 1
fi
if [ -e /run/layerlock/layerlockd.lock ] && ! flock -n /run/layerlock/layerlockd.lock true; then
    echo "a layerlockd holds /run/layerlock/layerlockd.lock; stop it first" >&2
    exit 1
fi
for d in "${STATE_DIRS[@]}"; do   # a developer's earlier run on the defaults
    if [ -e "$d" ]; then SAVED[$d]=$T/saved$(tr / _ <<<"$d"); mv "$d" "${SAVED[$d]}"; fi
done

deb_cleanup() {
    set +e
    if [ -n "$DAEMON_PID" ]; then kill -TERM "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=; fi
    [ -n "$INSTALLED_BY_US" ] && dpkg --purge "$PKG" >>"$T/dpkg.log" 2>&1
    for d in "${STATE_DIRS[@]}"; do
        if [ -n "${SAVED[$d]:-}" ]; then rm -rf "$d"; mv "${SAVED[$d]}" "$d"; fi
    done
    cleanup
}
trap deb_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() { [ -f "$1" ] && tail -"${2:-40}" "$1" >&2; return 0; }

# --- build and lint -----------------------------------------------------------
# LAYERLOCK_DEB=FILE tests an already built package instead (while developing).
if [ -n "${LAYERLOCK_DEB:-}" ]; then
    deb=$LAYERLOCK_DEB
else
    if ! "$SRC/packaging/deb/build.sh" "$T/out" >"$T/build.log" 2>&1; then
        echo "package build failed:" >&2; show_log "$T/build.log" 60; exit 1
    fi
    deb=$(ls "$T"/out/layerlock_*_*.deb)
    pass "built $(basename "$deb")"
fi
version=$(dpkg-deb -f "$deb" Version)
meson_version=$(meson introspect --projectinfo "$SRC/meson.build" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
check "package version $version is meson's project version" [ "$version" = "$meson_version" ]

lintian --fail-on error --display-info "$deb" >"$T/lintian.log" 2>&1 && rc=0 || rc=$?
check "lintian reports no errors (rc=$rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || show_log "$T/lintian.log"
sed 's/^/  lintian: /' "$T/lintian.log"

# --- install ------------------------------------------------------------------
INSTALLED_BY_US=1
if ! dpkg -i "$deb" >"$T/dpkg.log" 2>&1; then echo "dpkg -i failed:" >&2; show_log "$T/dpkg.log"; exit 1; fi
pass "dpkg -i"
for f in /usr/sbin/layerlockd /usr/bin/layerlock; do check "$f is an installed program" test -x "$f"; done
for f in "$CONF" "$UNIT" /usr/share/man/man8/layerlockd.8.gz /usr/share/man/man8/layerlock.8.gz \
         /usr/share/man/man5/layerlock.toml.5.gz /usr/share/doc/layerlock/copyright; do
    check "$f is installed" test -f "$f"
done
for f in README.md design.md benchmarks.md; do
    check "/usr/share/doc/layerlock/$f is installed" bash -c "ls /usr/share/doc/layerlock/$f /usr/share/doc/layerlock/$f.gz 2>/dev/null | grep -q ."
done
COMPLETION=/usr/share/bash-completion/completions/layerlock
check "bash completion is installed" test -f "$COMPLETION"
check "it completes the verbs" grep -qw baseline <(bash -c "source $COMPLETION; COMP_WORDS=(layerlock ba); COMP_CWORD=1; _layerlock; echo \"\${COMPREPLY[*]}\"")
check "and the values of --kind" grep -qw package <(bash -c "source $COMPLETION; COMP_WORDS=(layerlock events --kind p); COMP_CWORD=3; _layerlock; echo \"\${COMPREPLY[*]}\"")
check "$CONF is a conffile" grep -q " $CONF " <(dpkg-query -W -f='${Conffiles}\n' "$PKG")
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/layerlock.service
check "the unit verifies against the installed files" systemd-analyze verify "$UNIT"
exposure=$(systemd-analyze security --offline=true "$UNIT" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
# 2.6: RestrictSUIDSGID= is not set (its seccomp filter refuses openat2, which
# every container path is opened with: systemd/layerlock.service says why).
check "the unit's systemd-analyze security exposure is at most 2.6 ($exposure)" \
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.6 else 1)' "${exposure:-99}"
check "layerlock.toml(5) documents daemon.control_socket" \
    grep -q control_socket <(zcat /usr/share/man/man5/layerlock.toml.5.gz)
check "the installed layerlock validates the packaged configuration" /usr/bin/layerlock config check "$CONF"
check "layerlockd --version is $version" grep -qx "layerlockd $version" <(/usr/sbin/layerlockd --version)

# The unit's ExecStart line, as written (no quoting or specifiers are used in it).
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
read -r -a EXEC_START <<<"$exec_start"
check "ExecStart runs the installed daemon on the packaged configuration" \
    [ "${EXEC_START[*]}" = "/usr/sbin/layerlockd --config $CONF" ]

cp -p "$CONF" "$T/conffile.orig"
sed -i 's/^mode = "monitor"/mode = "enforce"/' "$CONF"
check "the conffile is switched to enforce" grep -q '^mode = "enforce"' "$CONF"

# start_installed COMMAND...: background, log in $T/daemon.log, wait for "ready".
start_installed() {
    : >"$T/daemon.log"
    "$@" >>"$T/daemon.log" 2>&1 &
    DAEMON_PID=$!
    local deadline=$((SECONDS + 30))
    until grep -q "ready: mode=" "$T/daemon.log" 2>/dev/null; do
        if ! kill -0 "$DAEMON_PID" 2>/dev/null; then echo "layerlockd exited:" >&2; cat "$T/daemon.log" >&2; exit 1; fi
        ((SECONDS < deadline)) || { echo "layerlockd not ready" >&2; cat "$T/daemon.log" >&2; exit 1; }
        sleep 0.05
    done
}
stop_installed() {
    kill -TERM "$DAEMON_PID"
    local rc=0
    wait "$DAEMON_PID" || rc=$?
    DAEMON_PID=
    return "$rc"
}

# drift_denied CONTAINER DIR: a copy of busybox under an applet's name is denied.
drift_denied() {
    local out rc
    out=$(docker exec "$1" sh -c "mkdir -p $2 && cp /bin/busybox $2/true && $2/true" 2>&1) && rc=0 || rc=$?
    check "$1: drifted $2/true fails (rc=$rc: $out)" [ "$rc" -ne 0 ]
    check "$1: the failure is EPERM" grep -q "Operation not permitted" <<<"$out"
    check "$1: image binaries keep running" docker exec "$1" sh -c 'true && ls / >/dev/null'
    check "$1: journald has the denial" journal_has LAYERLOCK_ACTION=denied LAYERLOCK_KIND=binary \
        LAYERLOCK_CONTAINER_NAME="$1" LAYERLOCK_PATH="$2/true" SYSLOG_IDENTIFIER=layerlockd
}

# --- 1: the unit's ExecStart line, with the directories systemd would create ----
install -d -m 0700 /run/layerlock /var/lib/layerlock   # RuntimeDirectory=, StateDirectory=
start_installed "${EXEC_START[@]}"
pass "the installed daemon is ready: $(grep -o 'ready: mode=[a-z]*' "$T/daemon.log")"
check "it runs in enforce mode" grep -q "ready: mode=enforce" "$T/daemon.log"
c1=ll-deb1-$RUN_ID
run_container "$c1"
check "$c1 is gated with its metadata" wait_for_log "name=\"$c1\"" 15
drift_denied "$c1" /tmp/d
check "the baseline database is at its default path" test -f /var/lib/layerlock/baseline.db
check "the installed layerlock status lists $c1" bash -c "/usr/bin/layerlock status --json | grep -q '$c1'"
stop_installed && rc=0 || rc=$?
check "SIGTERM stops the daemon with status 0 (rc=$rc)" [ "$rc" -eq 0 ]

# --- 2: an approximation of the unit's sandbox -------------------------------------
# unshare gives a mount namespace with slave propagation (as systemd does for
# ProtectSystem= and friends) and a network namespace (PrivateNetwork=); the
# script below mirrors the unit's mount options, then setpriv applies the
# capability bounding set, no_new_privs and the umask before exec'ing ExecStart.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
cat >"$T/sandbox.sh" <<'SH'
#!/bin/bash
# Runs inside: unshare --mount --propagation slave --net. $1: bounding set; rest: command.
set -euo pipefail
# -n: /run turns read-only below, so libmount must not write its utab.
caps=$1; shift
# ReadWritePaths (StateDirectory=, RuntimeDirectory=): bind the writable ones first.
for d in /var/lib/layerlock /run/layerlock; do mount -n --bind "$d" "$d"; done
# ProtectSystem=strict: every other mount read-only (except /proc, /dev: replaced below).
findmnt -rn -o TARGET | while read -r m; do
    case "$m" in /var/lib/layerlock|/run/layerlock|/proc|/proc/*|/dev|/dev/*) continue;; esac
    mount -n -o remount,bind,ro "$(printf '%b' "$m")" 2>/dev/null || true
done
# PrivateTmp=, ProtectHome=
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
for h in /home /root; do mount -n -t tmpfs -o ro,mode=0755 tmpfs "$h"; done
# PrivateDevices=: a minimal /dev
dev=$(mktemp -d /run/layerlock/dev.XXXXXX)
mount -n -t tmpfs -o mode=0755,nosuid tmpfs "$dev"
for n in null zero full random urandom tty; do touch "$dev/$n"; mount -n --bind "/dev/$n" "$dev/$n"; done
mkdir "$dev/shm"; mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dev/shm"
mount -n --move "$dev" /dev
rmdir "$dev"
# ProtectProc=invisible, ProcSubset=pid
mount -n -t proc -o hidepid=invisible,subset=pid,nosuid,nodev,noexec proc /proc
umask 0077
exec setpriv --bounding-set=-all,"$caps" --inh-caps=-all --no-new-privs -- "$@"
SH
c2=ll-deb2-$RUN_ID
start_installed unshare --mount --propagation slave --net -- bash "$T/sandbox.sh" "$caps" "${EXEC_START[@]}"
pass "the installed daemon is ready in the sandbox (bounding set $caps)"
bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$DAEMON_PID/status")
have=$(capsh --decode="$bnd" | sed 's/^.*=//' | tr ',' '\n' | sort | xargs)
want=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr '[:upper:] ' '[:lower:]\n' | sort | xargs)
check "the sandboxed daemon's bounding set is the unit's ($have)" [ "$have" = "$want" ]
check "the sandboxed daemon has no_new_privs" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$DAEMON_PID/status"
check "the sandboxed daemon is in its own mount namespace" \
    [ "$(readlink "/proc/$DAEMON_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]
check "the sandboxed daemon is in its own network namespace" \
    [ "$(readlink "/proc/$DAEMON_PID/ns/net")" != "$(readlink /proc/self/ns/net)" ]
mountopt() { awk -v m="$1" '$5 == m { print $6 "," $NF }' "/proc/$DAEMON_PID/mountinfo" | tail -1; }
check "the sandboxed daemon sees / read-only ($(mountopt /))" grep -q '^ro,' <(mountopt /)
check "the sandboxed daemon sees /var/lib/layerlock writable" grep -q '^rw,' <(mountopt /var/lib/layerlock)
check "the sandboxed daemon sees /proc with subset=pid,hidepid=invisible" \
    grep -q 'hidepid=invisible.*subset=pid\|subset=pid.*hidepid=invisible' <(mountopt /proc)
run_container "$c2"
check "$c2 (started after the sandboxed daemon) is gated" wait_for_log "name=\"$c2\"" 15
drift_denied "$c2" /tmp/e
drift_denied "$c1" /tmp/f
check "layerlock status reaches the sandboxed daemon's socket" \
    bash -c "/usr/bin/layerlock status --json | grep -q '$c2'"
# The process monitor works from the private network namespace (the connector is
# subscribed from the host's): the execs of the checks above reached it.
check "the sandboxed daemon's process monitor runs" \
    bash -c "/usr/bin/layerlock status --json | python3 -c 'import json, sys; b = json.load(sys.stdin)[\"behaviour\"]; sys.exit(0 if b[\"process_monitor\"] and b[\"container_execs\"] > 0 else 1)'"
stop_installed && rc=0 || rc=$?
check "the sandboxed daemon stops with status 0 (rc=$rc)" [ "$rc" -eq 0 ]

cp -p "$T/conffile.orig" "$CONF"
conf_md5=$(md5sum "$CONF" | cut -d' ' -f1)
check "the conffile is restored unchanged" grep -q " $CONF $conf_md5" <(dpkg-query -W -f='${Conffiles}\n' "$PKG")

# --- purge ----------------------------------------------------------------------
if dpkg --purge "$PKG" >>"$T/dpkg.log" 2>&1; then pass "dpkg --purge"; INSTALLED_BY_US=; else fail "dpkg --purge"; show_log "$T/dpkg.log"; fi
check "dpkg no longer knows the package" bash -c "! dpkg-query -W -f='\${Status}' $PKG 2>/dev/null | grep -q installed"
for f in /usr/sbin/layerlockd /usr/bin/layerlock /etc/layerlock "$UNIT" /var/lib/layerlock /run/layerlock \
         /etc/systemd/system/multi-user.target.wants/layerlock.service /usr/share/man/man8/layerlockd.8.gz \
         /usr/share/doc/layerlock; do
    check "purge leaves no $f" test ! -e "$f" -a ! -L "$f"
done

finish
