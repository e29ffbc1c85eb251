#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Baselines from image archives (issue 19): how fast `layerlock baseline build
--image-archive` turns an archive into a baseline, against unpacking the same
archive with tar and hashing every file with sha256sum, in the same run.

    python3 bench/archive_bench.py build/src/cli/layerlock [--gib 2] [--runs 3] [--dir /var/tmp/...]

Two archives are generated once (kept in --dir for later runs):
  - docker-save.tar: a `docker save` tarball of --gib GiB in 8 uncompressed layers
    (files of 16 KiB to 32 MiB, incompressible bytes);
  - oci-gzip/: an OCI image layout of a quarter of that size with gzip layers
    (text-like, compressible bytes), as registries and `podman save` ship them.
Each run reads from a warm page cache (the archive is read once before): the
figures are CPU, not disk. Printed per run and as the median of the runs: MB/s of
archive bytes read and of uncompressed layer bytes, and the ratio to the tar +
sha256sum pipeline (tar -x of the archive, tar -x of each layer, sha256sum of every
file on as many processes as CPUs).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

MiB = 1 << 20


def layer_files(rng, budget, compressible):
    """(name, bytes) of one layer's files, until `budget` bytes."""
    sizes = [16 << 10] * 40 + [256 << 10] * 10 + [4 * MiB] * 3 + [32 * MiB]
    block = rng.randbytes(MiB) if not compressible else \
        (" ".join(rng.choice(["int", "return", "static", "void", "struct", "x", "y", "if", "for", "{", "}", ";", "\n"])
                  for _ in range(300000))).encode()[:MiB]
    used, n = 0, 0
    while used < budget:
        size = min(rng.choice(sizes), budget - used)
        # Distinct content per file: the block rotated, with the file number in front.
        off = rng.randrange(MiB)
        data = (f"{n}:".encode() + block[off:] + block[:off]) * (size // MiB + 1)
        yield f"usr/lib/bench/{n // 100}/file{n}", data[:size]
        used += size
        n += 1


def write_layer(path, rng, budget, compressible):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for name, data in layer_files(rng, budget, compressible):
            d = os.path.dirname(name)
            if d not in dirs:
                dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name.endswith("0") else 0o644
            t.addfile(info, io.BytesIO(data))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def make_docker_save(out, total, layers=8):
    rng = random.Random(19)
    work = tempfile.mkdtemp(dir=os.path.dirname(out))
    ids, names = [], []
    for i in range(layers):
        p = os.path.join(work, f"layer{i}.tar")
        write_layer(p, rng, total // layers, False)
        ids.append(sha256_file(p))
        names.append(f"l{i}/layer.tar")
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cname, "RepoTags": ["bench/archive:1"], "Layers": names}]).encode()
    with tarfile.open(out + ".part", "w") as t:
        for i, name in enumerate(names):
            t.add(os.path.join(work, f"layer{i}.tar"), arcname=name)
        for name, data in ((cname, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    os.rename(out + ".part", out)
    shutil.rmtree(work)


def make_oci_gzip(out, total, layers=4):
    rng = random.Random(20)
    tmp = out + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    blobs = os.path.join(tmp, "blobs", "sha256")
    os.makedirs(blobs)
    descs, ids = [], []
    for i in range(layers):
        plain = os.path.join(tmp, "plain.tar")
        write_layer(plain, rng, total // layers, True)
        ids.append(sha256_file(plain))
        gz = os.path.join(tmp, "layer.gz")
        with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 4 * MiB)
        os.unlink(plain)
        digest = sha256_file(gz)
        os.rename(gz, os.path.join(blobs, digest.split(":")[1]))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest,
                      "size": os.path.getsize(os.path.join(blobs, digest.split(":")[1]))})

    def blob(obj):
        data = json.dumps(obj).encode()
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)

    cd, cs = blob({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}})
    md, ms = blob({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                   "layers": descs})
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
    with open(os.path.join(tmp, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    os.rename(tmp, out)


def tree_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def warm(path):
    files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for p in files:
        with open(p, "rb") as f:
            while f.read(16 * MiB):
                pass


def run_layerlock(cli, archive, workdir):
    db = os.path.join(workdir, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    conf = os.path.join(workdir, "bench.toml")
    with open(conf, "w") as f:
        f.write(f'[baseline]\ndatabase = "{db}"\n')
    t = time.monotonic()
    out = subprocess.run([cli, "--config", conf, "baseline", "build", "--image-archive", archive],
                         check=True, capture_output=True, text=True).stdout
    seconds = time.monotonic() - t
    uncompressed = 0
    for line in out.splitlines():   # "read N layers, F files, X MB (Y MB uncompressed) in S s: ..."
        if line.startswith("read "):
            uncompressed = float(line.split("(")[1].split(" MB")[0]) * 1e6
    return seconds, uncompressed


def run_tar_sha256sum(archive, workdir, gzip_layers):
    """Unpack the archive and its layers with tar, then sha256sum every file."""
    dest = os.path.join(workdir, "unpacked")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    t = time.monotonic()
    if os.path.isfile(archive):
        subprocess.run(["tar", "-xf", archive, "-C", dest], check=True)
        root = dest
    else:
        root = archive
    layers = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
              if f == "layer.tar" or (gzip_layers and os.path.getsize(os.path.join(d, f)) > MiB)]
    for i, layer in enumerate(layers):
        out = os.path.join(dest, f"fs{i}")
        os.makedirs(out)
        subprocess.run(["tar", "-xzf" if gzip_layers else "-xf", layer, "-C", out], check=True)
    cpus = str(os.cpu_count() or 1)
    subprocess.run(f"find {dest} -type f -path '*/fs*' -print0 | xargs -0 -P {cpus} -n 64 sha256sum > /dev/null",
                   shell=True, check=True)
    seconds = time.monotonic() - t
    shutil.rmtree(dest)
    return seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp/layerlock-archive-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    total = int(a.gib * (1 << 30))
    save = os.path.join(a.dir, f"docker-save-{a.gib:g}g.tar")
    oci = os.path.join(a.dir, f"oci-gzip-{a.gib:g}g")
    if not os.path.exists(save):
        print(f"generating {save} ...", flush=True)
        make_docker_save(save, total)
    if not os.path.exists(oci):
        print(f"generating {oci} ...", flush=True)
        make_oci_gzip(oci, total // 4)
    print(f"cpus={os.cpu_count()}")
    for name, archive, gz in (("docker-save, uncompressed", save, False), ("OCI layout, gzip layers", oci, True)):
        size = tree_bytes(archive)
        ours, theirs, unc = [], [], 0
        for run in range(a.runs):
            warm(archive)
            s, unc = run_layerlock(a.cli, archive, a.dir)
            warm(archive)
            b = run_tar_sha256sum(archive, a.dir, gz)
            ours.append(s)
            theirs.append(b)
            print(f"{name} run {run + 1}: layerlock {s:.2f} s = {size / s / 1e6:.0f} MB/s read, "
                  f"{unc / s / 1e6:.0f} MB/s uncompressed; tar -x + sha256sum {b:.2f} s; "
                  f"speed-up {b / s:.2f}x", flush=True)
        s, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name} median of {a.runs}: archive {size / 1e6:.0f} MB ({unc / 1e6:.0f} MB uncompressed): "
              f"layerlock {size / s / 1e6:.0f} MB/s read, {unc / s / 1e6:.0f} MB/s uncompressed; "
              f"tar -x + sha256sum {size / b / 1e6:.0f} MB/s read; layerlock {b / s:.2f}x faster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
