#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Container start+exit with the code-open gate on and off (root; dockerd running,
# the test image layerlock-test/busybox:1 imported as tests/e2e/lib.sh does):
#
#   bench/code_gate_start.py build/src/daemon/layerlockd [ROUNDS]
#
# One layerlockd (enforce mode) gates every Docker container; [[override]] blocks
# turn the code gate on for containers named cg-on-* and off for cg-off-* (the exec
# gate stays on for both). ROUNDS (default 20) pairs of `docker run --rm --network
# none IMAGE sh -c 'ls / >/dev/null; cat /etc/passwd >/dev/null'` alternate between
# the two, so machine drift hits both alike; then the same without any daemon, in
# a block before and after (a daemon cannot be left out of a container it gates).
# Prints the median and mean wall time of each and the ratio on/off.
import os
import statistics
import subprocess
import sys
import tempfile
import time

IMAGE = "layerlock-test/busybox:1"
CMD = ["sh", "-c", "ls / >/dev/null; cat /etc/passwd >/dev/null"]


def start_exit(name):
    t0 = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", "--name", name, IMAGE] + CMD, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def summary(label, ms):
    return f"{label:<22} median {statistics.median(ms):7.1f} ms  mean {statistics.mean(ms):7.1f} ms  (n={len(ms)})"


def main():
    if len(sys.argv) < 2 or os.geteuid() != 0:
        print("usage (as root): code_gate_start.py LAYERLOCKD [ROUNDS]", file=sys.stderr)
        return 2
    daemon, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    off = [start_exit(f"cg-none-a{i}") for i in range(rounds // 2)]
    with tempfile.TemporaryDirectory(prefix="layerlock-cgbench-") as d:
        with open(os.path.join(d, "ll.toml"), "w") as f:
            f.write(f'mode = "enforce"\n[baseline]\ndatabase = "{d}/baseline.db"\n[alerts]\njournald = false\n'
                    f'stderr = "never"\n[daemon]\nlock_file = "{d}/lock"\ncontrol_socket = "{d}/control.sock"\n'
                    f'log_level = "warn"\n[[override]]\ncontainer = "cg-on-*"\ncode_gate = "on"\n'
                    f'[[override]]\ncontainer = "cg-off-*"\ncode_gate = "off"\n')
        proc = subprocess.Popen([daemon, "--config", os.path.join(d, "ll.toml")], stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        on, gate_off = [], []
        for i in range(rounds):
            pair = [("on", f"cg-on-{i}"), ("off", f"cg-off-{i}")]
            if i % 2:
                pair.reverse()
            for which, name in pair:
                (on if which == "on" else gate_off).append(start_exit(name))
        proc.terminate()
        proc.wait()
    off += [start_exit(f"cg-none-b{i}") for i in range(rounds - rounds // 2)]
    print(f"container start+exit ({IMAGE}, {' '.join(CMD)}), {rounds} rounds each")
    print(summary("no daemon", off))
    print(summary("code gate off", gate_off))
    print(summary("code gate on", on))
    print(f"code gate on / off: {statistics.median(on) / statistics.median(gate_off):.3f}x (median); "
          f"on / no daemon: {statistics.median(on) / statistics.median(off):.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
