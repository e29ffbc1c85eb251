#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds layerlock_<version>_<arch>.deb from this source tree:
#   packaging/deb/build.sh OUTDIR
# Copies the tree (git's tracked and untracked-but-not-ignored files, so build
# directories and an existing debian/ are left out; a plain copy without them
# when this is not a git checkout) to a temporary directory, places
# packaging/deb there as debian/, runs dpkg-buildpackage -us -uc -b and leaves
# the .deb (and the -dbgsym .deb, .buildinfo and .changes) in OUTDIR. The changelog's version
# must equal meson's project version. DEB_BUILD_OPTIONS defaults to
# "parallel=2 nocheck" (nocheck compiles only the two programs).
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)

meson_version() {
    meson introspect --projectinfo "$src/meson.build" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])'
}
version=$(meson_version)
deb_version=$(dpkg-parsechangelog -l "$src/packaging/deb/changelog" -S Version)
if [ "$version" != "$deb_version" ]; then
    echo "$0: packaging/deb/changelog has version $deb_version but meson.build says $version;" \
         "add a changelog entry for $version" >&2
    exit 1
fi

work=$(mktemp -d /tmp/layerlock-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/layerlock-$version
mkdir -p "$tree"

# Source files, without build output: git's view when there is one.
list_sources() {
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$src" ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do
                if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then printf '%s\0' "$f"; fi
            done
    else
        (cd "$src" && find . -path ./.git -prune -o -path './build*' -prune -o -path './obj-*' -prune \
            -o -path ./debian -prune -o \( -type f -o -type l \) -print0)
    fi
}
list_sources | tar -C "$src" --null --no-recursion -T - -cf - | tar -C "$tree" -xf -

rm -rf "$tree/debian"
cp -a "$src/packaging/deb" "$tree/debian"

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2 nocheck}
(cd "$tree" && dpkg-buildpackage -us -uc -b)

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=layerlock_${version}_${arch}.deb
cp "$work"/layerlock*_"${version}"_"${arch}".* "$out/"   # .deb, -dbgsym .deb, .buildinfo, .changes
echo "built $out/$deb"
