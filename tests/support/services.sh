#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts the services the privileged and end-to-end tests need when they are not
# already running: systemd-journald (by hand where systemd is not PID 1),
# containerd and dockerd (bridge and iptables off: containers use --network none).
# Idempotent; safe to call from every test. Prints nothing on success.
set -euo pipefail

log_dir=/run/layerlock-test
mkdir -p "$log_dir"

wait_for() {  # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then return 1; fi
        sleep 0.1
    done
}

start_journald() {
    [ -S /run/systemd/journal/socket ] && pgrep -x systemd-journal >/dev/null && return 0
    mkdir -p /run/systemd/journal /var/log/journal
    setsid /lib/systemd/systemd-journald >"$log_dir/journald.log" 2>&1 < /dev/null &
    wait_for 10 test -S /run/systemd/journal/socket || { echo "journald did not start" >&2; return 1; }
}

start_containerd() {
    ctr version >/dev/null 2>&1 && return 0
    setsid containerd >"$log_dir/containerd.log" 2>&1 < /dev/null &
    wait_for 30 ctr version || { echo "containerd did not start" >&2; return 1; }
}

start_dockerd() {
    docker info >/dev/null 2>&1 && return 0
    setsid dockerd --iptables=false --ip6tables=false --bridge=none \
        --containerd=/run/containerd/containerd.sock \
        >"$log_dir/dockerd.log" 2>&1 < /dev/null &
    wait_for 60 docker info || { echo "dockerd did not start; see $log_dir/dockerd.log" >&2; return 1; }
}

for service in "${@:-journald containerd dockerd}"; do
    for s in $service; do "start_$s"; done
done
