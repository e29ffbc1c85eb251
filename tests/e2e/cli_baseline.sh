#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# layerlock baseline build/show against real containers, a two-layer image with
# a whiteout (made by docker commit), and the daemon building baselines in the
# background while it gates.
source "$(dirname "$0")/lib.sh"

write_config enforce
c1=ll-base-$RUN_ID
run_container "$c1"
check "baseline build by name" "$LAYERLOCK" --config "$T/layerlock.toml" baseline build "$c1"
json=$("$LAYERLOCK" --config "$T/layerlock.toml" baseline show "$c1" /bin/busybox --json)
sha=$(sha256sum /bin/busybox | cut -d' ' -f1)
check "baseline show gives the file's sha256" grep -q "\"sha256\":\"$sha\"" <<<"$json"
check "baseline show gives size and mode" grep -q "\"size\":$(stat -c %s /bin/busybox),\"mode\":\"0755\"" <<<"$json"
listing=$("$LAYERLOCK" --config "$T/layerlock.toml" baseline show "$c1")
check "baseline show lists the image's files" grep -q " /etc/passwd " <<<"$listing"

# A second layer deleting /bin/cat (whiteout) and adding /bin/uname.
docker exec "$c1" sh -c 'rm /bin/cat && cp /bin/busybox /bin/uname'
img2=layerlock-test/whiteout-$RUN_ID:1
docker commit "$c1" "$img2" >/dev/null
c2=ll-wh-$RUN_ID
CONTAINERS+=("$c2")
docker run -d --network none --name "$c2" "$img2" sleep 100000 >/dev/null
check "baseline build of a two-layer image" "$LAYERLOCK" --config "$T/layerlock.toml" baseline build "$c2"
listing=$("$LAYERLOCK" --config "$T/layerlock.toml" baseline show "$c2")
check "a whited-out file is not in the image" bash -c "! grep -q ' /bin/cat ' <<<'$listing'"
check "the upper layer's new file is" grep -q " /bin/uname " <<<"$listing"
out=$("$LAYERLOCK" --config "$T/layerlock.toml" baseline show "$c2" /bin/cat 2>&1) && rc=0 || rc=$?
check "show of a deleted path exits 1" [ "$rc" -eq 1 ]
check "layers are shared: the base layer is stored once" \
    [ "$(sqlite3 "$T/baseline.db" "select count(*) from layers where dir like '%/diff' or dir like '%/fs'")" -ge 2 ]

# The daemon builds the baseline itself and gates with it: the committed layer's
# /bin/uname is the image's, a copy made at runtime is not.
rm -f "$T/baseline.db"*
start_daemon
check "the daemon builds baselines in the background" wait_for_log "baseline layer=" 20
check "an image binary from the second layer runs" docker exec "$c2" /bin/uname
out=$(docker exec "$c2" sh -c 'cp /bin/uname /tmp/uname && /tmp/uname' 2>&1) && rc=0 || rc=$?
check "a runtime copy of it is denied" [ "$rc" -ne 0 ]
docker rmi -f "$img2" >/dev/null 2>&1 || true
finish
