#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped unit under a real systemd as PID 1 (bench/watchdog_systemd.sh, one
# run): a Debian 12 system booted in a container, with layerlockd from this build
# installed under systemd/layerlock.service unchanged, in enforce mode, and Docker
# inside. Checks that the unit as shipped starts a container gated (its entrypoint
# runs, a dropped binary is denied), and that SIGSTOP of the daemon ends with
# systemd's watchdog killing it, the waiting execs released within WatchdogSec,
# systemd restarting it and the container gated again within WatchdogSec +
# RestartSec + start-up. The first run builds the rootfs with debootstrap from
# the machine's Debian mirror (≈3 min); later runs reuse it.
source "$(dirname "$0")/lib.sh"

out=$T/watchdog.out
rc=0
RUNS=1 NAME=ll-sysd-$RUN_ID bash "$SRC/bench/watchdog_systemd.sh" "$BUILD" >"$out" 2>&1 || rc=$?
check "bench/watchdog_systemd.sh ran to the end with the unit as shipped (rc=$rc)" [ "$rc" -eq 0 ]
if ((rc != 0)); then tail -40 "$out" >&2; finish; fi
check "the unit as shipped started the container gated in enforce mode" grep -q 'as shipped: cgate runs and is gated' "$out"
fig=$(grep -m1 '^FIG ' "$out" || true)
echo "$fig"
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$fig"; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "" && a + 0 <= b + 0)}'; }
check "an exec waiting on the stopped daemon returned, successfully ($(val exec_rc_sh))" [ "$(val exec_rc_sh)" = 0 ]
check "... within WatchdogSec=10s + 1 s ($(val exec_wait_sh) s)" le "$(val exec_wait_sh)" 11
check "the watchdog fired within 10 s + 1 s of SIGSTOP ($(val stop_to_watchdog) s)" le "$(val stop_to_watchdog)" 11
check "systemd restarted the daemon ($(val nrestarts))" [ "$(val nrestarts)" = "0->1" ]
check "restarted and READY within RestartSec=100ms + 3 s ($(val exit_to_ready) s)" le "$(val exit_to_ready)" 3.1
check "a dropped binary is denied again within 10 + 0.1 + 3 s + 2 s of SIGSTOP ($(val stop_to_denied) s)" le "$(val stop_to_denied)" 15.1
check "image binaries run after the restart ($(val image_exec_after_sh)/$(val image_exec_after_docker))" \
    [ "$(val image_exec_after_sh)/$(val image_exec_after_docker)" = 0/0 ]
finish
