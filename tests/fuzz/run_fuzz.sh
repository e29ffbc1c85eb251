#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run_fuzz.sh HARNESS CORPUS SECONDS: runs a libFuzzer harness for SECONDS on a
# copy of the corpus kept in the repository (new inputs stay in the copy). A crash,
# a leak, a sanitizer report or an input taking over 10 s fails the test; the
# reproducer is printed (base64) so that it can be added to the corpus.
set -euo pipefail
harness=$1 corpus=$2 seconds=$3
work=$(mktemp -d /tmp/layerlock-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/crash"
cp -r "$corpus"/. "$work/corpus/"
rc=0
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/crash/" "$work/corpus" 2>"$work/log" || rc=$?
tail -25 "$work/log"
if [ "$rc" -ne 0 ]; then
    for f in "$work"/crash/*; do [ -f "$f" ] && { echo "reproducer $(basename "$f"):"; base64 -w0 "$f"; echo; }; done
    echo "$(basename "$harness"): failed (exit $rc)"
    exit 1
fi
echo "$(basename "$harness"): $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs, no finding"
