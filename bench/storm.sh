#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The storm's long form (issue 18): tests/stress/storm.sh with ten containers per
# engine, ten minutes and 200,000 files; prints the same checks and one STORM line
# of figures (also written to FILE when given). Run as root from the source tree
# after a build:
#   bench/storm.sh [FILE]            (env: STORM_SECONDS, STORM_PER_ENGINE, STORM_FILES)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export LAYERLOCK_SOURCE_ROOT=$root LAYERLOCK_BUILD_ROOT=${LAYERLOCK_BUILD_ROOT:-$root/build}
export STORM_SECONDS=${STORM_SECONDS:-600} STORM_PER_ENGINE=${STORM_PER_ENGINE:-10} STORM_FILES=${STORM_FILES:-200000}
[ $# -ge 1 ] && export LAYERLOCK_STORM_REPORT=$1
exec bash "$root/tests/stress/storm.sh"
