#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Baselines made before deploy (issue 19), with real Docker and Podman:
#   - CI side: an image of four layers (a setuid binary, a symlink, a hard link, a
#     whiteout and an opaque directory) built locally, saved with `docker save`,
#     turned into a baseline with `layerlock baseline build --image-archive`, exported,
#     signed with a key from `layerlock baseline keygen`;
#   - the same records from Podman's OCI archive (gzip layers), an OCI layout with
#     zstd layers, and the engine's export (`--image NAME`);
#   - a bundle signed by another key, a flipped byte or no signature: refused,
#     nothing imported;
#   - host side, enforce mode, baseline.require_signed: the imported records are
#     the container's layers' (not hashed on the host), checked in full against the
#     unpacked layers; the image's binaries run from the first exec, drift is denied;
#   - an image without a signed baseline is reported and its files are not trusted;
#   - a file changed in an unpacked layer on the host: alerted "layer-tampered"
#     (critical) naming the file, and the image's binaries are no longer trusted;
#   - a tag moved to another image since the baseline: "image-digest-changed".
source "$(dirname "$0")/lib.sh"
ensure_dyn_image

TAG=layerlock-test/layered:run-$RUN_ID
PODMAN_IMAGES=()
PODMAN_CONTAINERS=()
# Podman on hybrid cgroups needs runc and cgroupfs, and rlimits below the host's (engines.sh).
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
IMAGE_IDS=()   # every image built under the tag (a rebuild leaves the first untagged)
image_cleanup() {
    set +e
    for c in "${CONTAINERS[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
    CONTAINERS=()
    docker rmi -f "$TAG" "${IMAGE_IDS[@]}" >/dev/null 2>&1
    for c in "${PODMAN_CONTAINERS[@]}"; do "${PODMAN[@]}" rm -f -t 0 "$c" >/dev/null 2>&1; done
    for i in "${PODMAN_IMAGES[@]}"; do podman rmi -f "$i" >/dev/null 2>&1; done
    cleanup
}
trap image_cleanup EXIT

# --- CI side: the image, its archive, the baseline, the bundle, the signature.
mkdir -p "$T/ctx"
cat > "$T/ctx/Dockerfile" <<EOF
FROM $IMAGE
LABEL layerlock.run=$RUN_ID
RUN mkdir -p /opt/app/sub && echo one > /opt/app/a.txt && echo gone > /opt/app/gone.txt && cp /bin/busybox /opt/app/tool && chmod 4755 /opt/app/tool && ln -s tool /opt/app/link && echo s > /opt/app/sub/old.txt && ln /opt/app/a.txt /opt/app/hard.txt
RUN rm /opt/app/gone.txt && rm -rf /opt/app/sub && mkdir /opt/app/sub && echo new > /opt/app/sub/n.txt
RUN echo second > /opt/app/b.txt && chmod 600 /opt/app/b.txt
EOF
DOCKER_BUILDKIT=0 docker build -q --network none -t "$TAG" "$T/ctx" >/dev/null 2>&1 || fail "docker build of the layered image"
image_id=$(docker image inspect -f '{{.Id}}' "$TAG")
IMAGE_IDS+=("$image_id")
docker save "$TAG" -o "$T/image.tar"

CI=("$LAYERLOCK" --config "$T/ci.toml")
printf '[baseline]\ndatabase = "%s/ci.db"\n' "$T" > "$T/ci.toml"
out=$("${CI[@]}" baseline build --image-archive "$T/image.tar" 2>&1) && rc=0 || rc=$?
check "baseline build --image-archive reads the docker save archive (rc=$rc)" [ "$rc" -eq 0 ]
check "four layers, named by diff id" [ "$(grep -c '^layer sha256:' <<<"$out")" -eq 4 ]
check "the image is listed with its config digest" grep -q "$image_id" <<<"$("${CI[@]}" baseline images --json)"
check "export the image's baseline" "${CI[@]}" baseline export "$TAG" -o "$T/image.llb"
check "keygen" "${CI[@]}" baseline keygen -o "$T/ci"
check "the private key is root-only" [ "$(stat -c %a "$T/ci.key")" = 600 ]
sign_json=$("${CI[@]}" baseline sign "$T/image.llb" --key "$T/ci.key" --json) && rc=0 || rc=$?
check "sign (rc=$rc)" [ "$rc" -eq 0 ]
check "the signature is written beside the bundle" [ -s "$T/image.llb.sig" ]
# --json on keygen and sign: one object naming the files and the same key id.
kg_json=$("${CI[@]}" baseline keygen -o "$T/json" --json)
check "keygen --json and sign --json name their files and key ids" python3 -c '
import json, sys
k, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert k["private_key"] == sys.argv[3] + "/json.key" and k["public_key"] == sys.argv[3] + "/json.pub", k
assert len(k["key_id"]) > 8, k
assert s["signature"] == sys.argv[3] + "/image.llb.sig" and s["bundle"] == sys.argv[3] + "/image.llb", s
assert s["key_id"] and s["key_id"] != k["key_id"], (s, k)
' "$kg_json" "$sign_json" "$T"

# records PREFIX BUNDLE: the bundle's layer records, one digest per layer file.
records() {
    rm -rf "$T/x-$1" && mkdir -p "$T/x-$1" && tar -C "$T/x-$1" -xf "$2" && (cd "$T/x-$1" && sha256sum layers/* | sort)
}
want=$(records docker "$T/image.llb")

# --- The same records from other forms of the same image.
podman load -q -i "$T/image.tar" >/dev/null 2>&1 && PODMAN_IMAGES+=("localhost/$TAG")
podman save -q --format oci-archive -o "$T/oci.tar" "localhost/$TAG" 2>/dev/null
check "Podman's OCI archive has gzip layers" python3 -c '
import sys, tarfile
t = tarfile.open(sys.argv[1])
sys.exit(0 if any(t.extractfile(m).read(2) == b"\x1f\x8b" for m in t.getmembers() if m.isfile() and "blobs/" in m.name) else 1)' "$T/oci.tar"
same_records() {   # same_records NAME SOURCE [build args]: a fresh database, built from SOURCE, exports the same records
    local name=$1 db=$T/$1.db; shift
    printf '[baseline]\ndatabase = "%s"\n' "$db" > "$T/$name.toml"
    "$LAYERLOCK" --config "$T/$name.toml" baseline build "$@" >/dev/null &&
        "$LAYERLOCK" --config "$T/$name.toml" baseline export --all -o "$T/$name.llb" >/dev/null &&
        [ "$(records "$name" "$T/$name.llb")" = "$want" ]
}
check "the same records from Podman's OCI archive (gzip layers)" same_records oci --image-archive "$T/oci.tar"
podman push -q --compression-format zstd "localhost/$TAG" "oci:$T/zstd-layout:latest" >/dev/null 2>&1
check "the layout's layers are zstd" python3 -c '
import glob, sys
sys.exit(0 if any(open(f, "rb").read(4) == b"\x28\xb5\x2f\xfd" for f in glob.glob(sys.argv[1] + "/blobs/sha256/*")) else 1)' "$T/zstd-layout"
check "the same records from an OCI layout directory with zstd layers" same_records zstd --image-archive "$T/zstd-layout"
check "the same records from the engine's export (--image, no container started)" same_records engine --image "$TAG"

# --- Bundles that must be refused: another key, a flipped byte, no signature.
HOST=("$LAYERLOCK" --config "$T/layerlock.toml")
write_config enforce \
    '[gate]' 'on_error = "deny"'
sed -i 's/^\[baseline\]$/[baseline]\nverify = "full"\nverify_interval_s = 2\nrequire_signed = true\nunsigned = "on_error"/' \
    "$T/layerlock.toml"
"${CI[@]}" baseline keygen -o "$T/other" >/dev/null
out=$("${HOST[@]}" baseline import "$T/image.llb" --trust "$T/other.pub" 2>&1) && rc=0 || rc=$?
check "a bundle signed by a key not trusted is refused (rc=$rc)" [ "$rc" -ne 0 ]
check "saying so" grep -q "does not verify with any trusted key" <<<"$out"
cp "$T/image.llb" "$T/flipped.llb"; cp "$T/image.llb.sig" "$T/flipped.llb.sig"
size=$(stat -c %s "$T/flipped.llb")
printf '\xff' | dd of="$T/flipped.llb" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
out=$("${HOST[@]}" baseline import "$T/flipped.llb" --trust "$T/ci.pub" 2>&1) && rc=0 || rc=$?
check "a bundle with one byte changed is refused (rc=$rc)" [ "$rc" -ne 0 ]
cp "$T/image.llb" "$T/nosig.llb"
out=$("${HOST[@]}" baseline import "$T/nosig.llb" --trust "$T/ci.pub" 2>&1) && rc=0 || rc=$?
check "a bundle without a signature is refused (rc=$rc)" [ "$rc" -ne 0 ]
check "nothing was imported by the refused bundles" [ "$("${HOST[@]}" baseline images --json 2>/dev/null)" = "[]" ]
out=$("${HOST[@]}" baseline import "$T/image.llb" --trust "$T/other.pub" --trust "$T/ci.pub" 2>&1) && rc=0 || rc=$?
check "the signed bundle is imported with its key among the trusted ones (rc=$rc)" [ "$rc" -eq 0 ]
check "listed as signed" grep -q "signed by" <<<"$("${HOST[@]}" baseline images)"

# --- Host side: the daemon takes the signed records, checks them, gates with them.
start_daemon
C=ll-signed-$RUN_ID
CONTAINERS+=("$C")
docker run -d --network none --name "$C" "$TAG" sleep 100000 >/dev/null
mapfile -t lowers < <(docker inspect -f '{{.GraphDriver.Data.LowerDir}}' "$C" | tr ':' '\n' | grep -v -- '-init/diff$' | xargs -n1 readlink -f)
check "the container has four image layers (${#lowers[@]})" [ "${#lowers[@]}" -eq 4 ]
for l in "${lowers[@]}"; do
    check "layer ${l:25:12} takes the signed records, not hashed on the host" \
        wait_for_log "baseline layer=\"$l\" .* copied_from=\"content:sha256:[0-9a-f]*\" (same layer content, not hashed) signed_by=" 30
    check "layer ${l:25:12} matches them, checked in full" wait_for_log "baseline layer=\"$l\" matches the signed records" 30
done
out=$(docker exec "$C" /opt/app/tool echo image-tool-ran 2>&1) || true
check "an image binary runs ($out)" grep -q "tool: applet not found\|image-tool-ran" <<<"$out"
out=$(docker exec "$C" sh -c 'cp /bin/busybox /tmp/dropped && /tmp/dropped true' 2>&1) && rc=0 || rc=$?
check "drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"
sleep 1
check "no unsigned-baseline report for the signed image" bash -c "! grep '\"container_name\":\"$C\"' '$T/alerts.jsonl' | grep -q unsigned-baseline"

# --- Podman's unpacked copy of the same layers takes the same signed records.
PC=ll-signed-podman-$RUN_ID
PODMAN_CONTAINERS+=("$PC")
"${PODMAN[@]}" run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name "$PC" \
    "localhost/$TAG" sleep 100000 >/dev/null
mapfile -t plowers < <(podman inspect -f '{{.GraphDriver.Data.LowerDir}}' "$PC" | tr ':' '\n' | xargs -n1 readlink -f)
check "Podman unpacked four layers (${#plowers[@]})" [ "${#plowers[@]}" -eq 4 ]
for l in "${plowers[@]}"; do
    check "Podman layer ${l:40:12} takes the signed records" \
        wait_for_log "baseline layer=\"$l\" .* copied_from=\"content:sha256:[0-9a-f]*\" (same layer content, not hashed) signed_by=" 30
done
out=$("${PODMAN[@]}" exec "$PC" sh -c 'cp /bin/busybox /tmp/dropped && /tmp/dropped true' 2>&1) && rc=0 || rc=$?
check "Podman container: drift is denied (rc=$rc)" grep -q "Operation not permitted" <<<"$out"
out=$("${PODMAN[@]}" exec "$PC" /opt/app/tool echo podman-tool 2>&1) || true
check "Podman container: an image binary runs ($out)" grep -q "tool: applet not found\|podman-tool" <<<"$out"

# --- An image with no signed baseline: reported, its files not trusted.
U=ll-unsigned-$RUN_ID
CONTAINERS+=("$U")
docker run -d --network none --name "$U" "$DYN_IMAGE" sleep 100000 >/dev/null
report() {   # report KEY=VALUE...: a JSON alert line with every field (up to 30 s)
    local deadline=$((SECONDS + 30))
    until python3 - "$T/alerts.jsonl" "$@" <<'PY'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
for line in open(sys.argv[1]):
    r = json.loads(line)
    if all(want[k] in str(r.get(k, "")) for k in want):
        sys.exit(0)
sys.exit(1)
PY
    do ((SECONDS < deadline)) || return 1; sleep 0.2; done
}
check "the unsigned image is reported" report container_name="$U" kind=image reason=unsigned-baseline severity=high
out=$(docker exec "$U" /bin/busybox echo unsigned-ran 2>&1) && rc=0 || rc=$?
check "its image binaries are not trusted: gate.on_error (deny) answers (rc=$rc)" lacks unsigned-ran "$out"

# --- A layer changed on the host after the check: found by the periodic check.
tool_layer=
for l in "${lowers[@]}"; do [ -f "$l/opt/app/tool" ] && tool_layer=$l; done
check "the layer holding /opt/app/tool is found" [ -n "$tool_layer" ]
printf 'X' | dd of="$tool_layer/opt/app/tool" bs=1 seek=4096 conv=notrunc 2>/dev/null
check "the changed layer is alerted, critical, naming the file" \
    report container_name="$C" kind=image reason=layer-tampered severity=critical detail="/opt/app/tool (content)"
check "with Falco's rule name" report container_name="$C" rule="Container image layer differs from its signed baseline"
out=$(docker exec "$C" /opt/app/tool echo tampered-ran 2>&1) && rc=0 || rc=$?
check "the image is no longer trusted: its binaries are denied (rc=$rc)" grep -q "operation not permitted" <<<"$out"
count() {   # count NAME REASON: alert lines of that container with that reason
    python3 -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if (r := json.loads(l)).get("container_name") == sys.argv[2] and r.get("reason") == sys.argv[3]))' \
        "$T/alerts.jsonl" "$1" "$2"
}
sleep 3   # more periodic checks find the same difference
n=$(count "$C" layer-tampered)
check "the same difference is alerted once ($n)" [ "$n" -eq 1 ]

# --- The tag moved to another image since the baseline was signed.
echo 'RUN echo v2 > /opt/app/v2' >> "$T/ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q --network none -t "$TAG" "$T/ctx" >/dev/null 2>&1 || fail "rebuild under the same tag"
IMAGE_IDS+=("$(docker image inspect -f '{{.Id}}' "$TAG")")
M=ll-moved-$RUN_ID
CONTAINERS+=("$M")
docker run -d --network none --name "$M" "$TAG" sleep 100000 >/dev/null
check "a moved tag is reported" report container_name="$M" kind=image reason=image-digest-changed detail="$image_id"
check "and its new layer has no signed baseline" report container_name="$M" reason=unsigned-baseline

finish
