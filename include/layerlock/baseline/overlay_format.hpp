// SPDX-License-Identifier: Apache-2.0
// overlayfs's on-disk rules (Documentation/filesystems/overlayfs.rst), read in one
// place for every module that looks at a layer or a writable layer: the baseline
// build's walk, the gate's image facts and copy-up check, the file-drift reconcile.
//   whiteout:  a character device 0/0, or (nested overlays, kernel >= 6.7) a
//              zero-size regular file with the overlay.whiteout xattr
//   opaque:    a directory whose overlay.opaque xattr is "y" ("x" only says the
//              directory holds xattr whiteouts: not opaque)
//   origin:    overlay.origin on a copied-up upper file (the lower file it came from)
// Each xattr is looked for in both namespaces: trusted.* (mounts by root) and user.*
// (userxattr mounts: rootless engines).
#pragma once

#include <sys/stat.h>

namespace layerlock::baseline::overlay {

// A character device 0/0.
bool whiteout_device(const struct stat& st);
// `fd` (any fd, O_PATH too) is a zero-size regular file marked as a whiteout;
// `st` is its stat.
bool whiteout_xattr(int fd, const struct stat& st);
// `name` in the directory `dirfd` is a zero-size regular file marked as a
// whiteout (not followed if a symlink); `st` is its lstat.
bool whiteout_xattr_at(int dirfd, const char* name, const struct stat& st);
// `dirfd` (a directory fd, O_PATH too) is an opaque directory.
bool opaque(int dirfd);
// `fd` (a regular file's fd, O_PATH too) carries the copy-up origin marker.
bool has_origin(int fd);

}  // namespace layerlock::baseline::overlay
