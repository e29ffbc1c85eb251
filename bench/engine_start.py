#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Real-engine discovery figures (root; Docker, containerd and Podman running, the
# test image layerlock-test/busybox:1 imported into each, as tests/e2e/engines.sh does):
#
#   bench/engine_start.py build/src/daemon/layerlockd [STARTS] [FLEET]
#
# 1. Gate latency per engine: for STARTS container starts (default 50) the time from
#    the moment the container's root filesystem appears in the mount table (this
#    script waits on /proc/self/mountinfo with POLLPRI, like the daemon) to the first
#    exec that layerlockd (enforce mode) denies: a copy of /bin/true written into the
#    new root filesystem through the host's mount point and executed from the host
#    in a loop (the filesystem mark covers every copy of the mount).
# 2. Daemon cost: RSS and CPU time of layerlockd before and after starting FLEET
#    containers (default 50) spread over the three engines, then 10 s idle.
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

IMAGE = {"docker": "layerlock-test/busybox:1", "containerd": "docker.io/layerlock-test/busybox:1",
         "podman": "localhost/layerlock-test/busybox:1"}
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
PODMAN_RUN = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
SHAPE = {"docker": re.compile(r"/var/lib/docker/overlay2/[0-9a-f]{64}/merged$"),
         "containerd": re.compile(r"/io\.containerd\.runtime\.v2\.task/default/[^/]+/rootfs$"),
         "podman": re.compile(r"/containers/storage/overlay/[0-9a-f]{64}/merged$")}


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_cmd(engine, name):
    if engine == "docker":
        return ["docker", "run", "-d", "--network", "none", "--name", name, IMAGE[engine], "sleep", "100000"]
    if engine == "containerd":
        return ["ctr", "-n", "default", "run", "-d", IMAGE[engine], name, "sleep", "100000"]
    return PODMAN + ["run", "-d"] + PODMAN_RUN + ["--name", name, IMAGE[engine], "sleep", "100000"]


def remove(engine, name):
    if engine == "docker":
        cmds = [["docker", "rm", "-f", name]]
    elif engine == "containerd":
        cmds = [["ctr", "-n", "default", "tasks", "delete", "-f", name], ["ctr", "-n", "default", "containers", "delete", name]]
    else:
        cmds = [["podman", "rm", "-f", "-t", "0", name]]
    for c in cmds:
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mount_points(f):
    """mount id -> mount point of every overlay mount."""
    f.seek(0)
    return {line.split()[0]: line.split()[4] for line in f.read().splitlines() if " - overlay " in line}


def wait_new_mount(f, poller, seen, shape, deadline):
    """The first overlay mount of the engine's shape whose id is not in seen."""
    while time.monotonic() < deadline:
        poller.poll(100)
        now = mount_points(f)
        fresh = [(i, m) for i, m in now.items() if i not in seen and shape.search(m)]
        if fresh:
            return fresh[0][0], fresh[0][1], time.monotonic()
    raise RuntimeError("no new mount")


def wait_remount(f, poller, merged, deadline):
    while time.monotonic() < deadline:
        if merged in mount_points(f).values():
            return time.monotonic()
        poller.poll(100)
    raise RuntimeError("not mounted again: " + merged)


def until_denied(merged, t0):
    target = os.path.join(merged, "ll-bench-drift")
    if not os.path.exists(target):
        shutil.copyfile("/bin/true", target)
        os.chmod(target, 0o755)
    while time.monotonic() - t0 < 5:
        try:
            pid = os.posix_spawn(target, [target], {})
            os.waitpid(pid, 0)
        except PermissionError:
            return (time.monotonic() - t0) * 1000
    raise RuntimeError("never denied")


def latency(engine, starts):
    f = open("/proc/self/mountinfo")
    poller = select.poll()
    poller.register(f, select.POLLPRI | select.POLLERR)
    out = []
    for i in range(starts):
        name = f"llb-{engine}-{os.getpid()}-{i}"
        seen = set(mount_points(f))
        proc = subprocess.Popen(start_cmd(engine, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _, merged, t0 = wait_new_mount(f, poller, seen, SHAPE[engine], time.monotonic() + 30)
            while True:
                try:
                    out.append(until_denied(merged, t0))
                    break
                except FileNotFoundError:
                    # Docker mounts the container's layer at create, unmounts it and
                    # mounts it again at start (often with the same mount id):
                    # measure from the mount that stays.
                    t0 = wait_remount(f, poller, merged, time.monotonic() + 30)
        finally:
            proc.wait()
            remove(engine, name)
    out.sort()
    return out


def proc_cost(pid):
    with open(f"/proc/{pid}/stat") as s:
        fields = s.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as s:
        rss = next(int(l.split()[1]) for l in s if l.startswith("VmRSS:"))
    return cpu, rss


def fleet(daemon_pid, count):
    engines = ["docker", "containerd", "podman"]
    names = []
    cpu0, rss0 = proc_cost(daemon_pid)
    t0 = time.monotonic()
    for i in range(count):
        engine = engines[i % 3]
        name = f"llf-{engine}-{os.getpid()}-{i}"
        names.append((engine, name))
        run(start_cmd(engine, name))
    time.sleep(3)   # metadata and baseline work settle
    t1 = time.monotonic()
    cpu1, rss1 = proc_cost(daemon_pid)
    time.sleep(10)
    cpu2, rss2 = proc_cost(daemon_pid)
    print(f"\nfleet: {count} containers (docker/containerd/podman round robin) started in {t1 - t0:.1f} s")
    print(f"  RSS {rss0} KiB -> {rss1} KiB: {(rss1 - rss0) / count:.1f} KiB per container (target < 100)")
    print(f"  daemon CPU during the starts: {cpu1 - cpu0:.2f} s; idle 10 s with {count} containers: {cpu2 - cpu1:.2f} s")
    for engine, name in names:
        remove(engine, name)


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0:
        sys.exit("usage (as root): engine_start.py LAYERLOCKD [STARTS] [FLEET]")
    starts = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    tmp = tempfile.mkdtemp(prefix="layerlock-bench-")
    with open(f"{tmp}/layerlock.toml", "w") as c:
        c.write(f'mode = "enforce"\n[baseline]\ndatabase = "{tmp}/baseline.db"\n'
                f'[alerts]\njournald = false\nstderr = "never"\n'
                f'[daemon]\nlock_file = "{tmp}/lock"\nlog_level = "info"\n')
    log = open(f"{tmp}/daemon.log", "w")
    daemon = subprocess.Popen([sys.argv[1], "--config", f"{tmp}/layerlock.toml"], stderr=log, stdout=log)
    try:
        deadline = time.monotonic() + 20
        while "ready: mode=" not in open(f"{tmp}/daemon.log").read():
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit("layerlockd did not start; see " + f"{tmp}/daemon.log")
            time.sleep(0.05)
        print(f"mount of a container's root filesystem -> first denied exec, {starts} starts per engine")
        for engine in ("docker", "containerd", "podman"):
            ms = latency(engine, starts)
            print(f"  {engine:<10} median {ms[len(ms) // 2]:6.1f} ms  worst {ms[-1]:6.1f} ms  (target <= 50 ms)")
        if count:
            fleet(daemon.pid, count)
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
