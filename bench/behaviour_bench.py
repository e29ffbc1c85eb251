#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Behaviour drift figures (root; dockerd running, the test image layerlock-test/dyn:1
# built as tests/e2e/lib.sh does):
#
#   bench/behaviour_bench.py build/src/daemon/layerlockd [EXECS] [PAYLOADS]
#
# One layerlockd (enforce mode) gates one Docker container.
# 1. A fork/exec storm: EXECS (default 10000) short processes on the host, then as
#    many inside the container (a shell loop of /bin/true); the process monitor's
#    thread CPU (schedstat of ll-proc) per event, the events seen, and the events
#    the kernel dropped (status: process_events_lost; must be 0, or recovered).
# 2. Fileless payloads: PAYLOADS (default 100) times a payload is written to a
#    memfd and run with fexecve (busybox echo); how many printed their marker before
#    the kill (target <= 10 %), the real-time thread being allowed or not.
# 3. The network check: the time of one listener check per container (status:
#    network_checks against the ll-net thread's CPU while checks run every second).
import json
import os
import subprocess
import sys
import tempfile
import time

IMAGE = "layerlock-test/dyn:1"
PAYLOAD = ('import os\nfd = os.memfd_create("payload")\nos.write(fd, open("/bin/busybox", "rb").read())\n'
           'os.execve(fd, ["echo", "MARKER"], {})\n')


def thread_cpu_ns(pid, name):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def status(layerlock, conf):
    out = subprocess.run([layerlock, "--config", conf, "status", "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["behaviour"]


def run(daemon, layerlock, d, execs, payloads, realtime):
    conf = os.path.join(d, "ll.toml")
    with open(conf, "w") as f:
        f.write(f'mode = "enforce"\n[baseline]\ndatabase = "{d}/baseline.db"\n[alerts]\njournald = false\n'
                f'stderr = "never"\n[daemon]\nlock_file = "{d}/lock"\ncontrol_socket = "{d}/control.sock"\n'
                f'log_level = "warn"\n[behaviour]\nrealtime = {"true" if realtime else "false"}\n'
                f'[network]\ncheck_interval_s = 1\n')
    proc = subprocess.Popen([daemon, "--config", conf], stderr=subprocess.DEVNULL)
    name = f"ll-bbench-{os.getpid()}"
    try:
        time.sleep(1.5)
        subprocess.run(["docker", "run", "-d", "--network", "none", "--name", name, IMAGE, "sleep", "100000"],
                       check=True, stdout=subprocess.DEVNULL)
        time.sleep(2)
        if realtime:
            for where, cmd in (("host", ["sh", "-c", f"for i in $(seq {execs}); do /bin/true; done"]),
                               ("container", ["docker", "exec", name, "sh", "-c",
                                              f"for i in $(seq {execs}); do /bin/true; done"])):
                s0, cpu0, t0 = status(layerlock, conf), thread_cpu_ns(proc.pid, "ll-proc"), time.time()
                subprocess.run(cmd, check=True)
                time.sleep(0.5)
                s1, cpu1 = status(layerlock, conf), thread_cpu_ns(proc.pid, "ll-proc")
                events = s1["process_events"] - s0["process_events"]
                print(f"storm of {execs} execs on the {where} in {time.time() - t0:.1f} s: {events} process events "
                      f"({s1['container_execs'] - s0['container_execs']} of the container), "
                      f"ll-proc CPU {(cpu1 - cpu0) / 1e3 / max(events, 1):.2f} us per event, "
                      f"lost batches {s1['process_events_lost'] - s0['process_events_lost']}, "
                      f"rescans {s1['process_rescans'] - s0['process_rescans']}")
            s0, cpu0 = status(layerlock, conf), thread_cpu_ns(proc.pid, "ll-net")
            time.sleep(5)
            s1, cpu1 = status(layerlock, conf), thread_cpu_ns(proc.pid, "ll-net")
            checks = s1["network_checks"] - s0["network_checks"]
            print(f"network: {checks} listener checks of 1 container in 5 s, ll-net CPU "
                  f"{(cpu1 - cpu0) / 1e3 / max(checks, 1):.0f} us per check")
        printed = 0
        for _ in range(payloads):
            out = subprocess.run(["docker", "exec", name, "python3", "-c", PAYLOAD], capture_output=True, text=True)
            printed += "MARKER" in out.stdout
        s = status(layerlock, conf)
        print(f"fileless payloads ({'real-time' if s.get('realtime') else 'normal priority'} monitor): "
              f"{printed} of {payloads} printed their marker before the kill ({100.0 * printed / payloads:.0f} %), "
              f"{s['fileless_killed']} killed")
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.terminate()
        proc.wait()


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0:
        print("usage (as root): behaviour_bench.py LAYERLOCKD [EXECS] [PAYLOADS]", file=sys.stderr)
        return 2
    daemon = sys.argv[1]
    layerlock = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(daemon))), "cli", "layerlock")
    execs = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    payloads = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    for realtime in (True, False):
        with tempfile.TemporaryDirectory(prefix="layerlock-bbench-") as d:
            run(daemon, layerlock, d, execs, payloads, realtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
