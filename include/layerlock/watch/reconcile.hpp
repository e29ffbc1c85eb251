// SPDX-License-Identifier: Apache-2.0
// The reconcile scan: walks a container's writable (upper) layer and compares
// every entry with the image's effective file at the same path, which is exactly
// the information `docker diff` shows: added, modified (content differs),
// metadata-only (copy-up by chmod/chown/touch: same content), deleted (whiteout).
// Everything is opened beneath the upper directory fd, never following a symlink;
// FIFOs, sockets and devices are never opened; hashing is bounded.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::watch {

using model::Change;
using model::FileType;

struct FileChange {
    std::string path;                 // inside the container, raw bytes
    Change change = Change::Added;
    FileType type = FileType::Regular;
    std::uint32_t mode = 0;           // st_mode now (0 for deleted)
    std::uint32_t image_mode = 0;     // st_mode in the image (0 when absent)
    std::uint64_t size = 0;
    std::optional<model::Sha256> sha256;   // regular files that were hashed
    bool executable = false;          // any exec bit, or an ELF header
    std::string detail;               // e.g. "mode 0755 -> 4755"
};

// The image's effective entry at a path (nullopt: absent from the image).
using ImageLookup = std::function<std::optional<baseline::Entry>(std::string_view path)>;

struct ScanLimits {
    // Past this many upper entries the walk stops and reports what it compared, plus
    // one change at the directory where it stopped ("not scanned: ..."): a layer with
    // millions of files degrades the scan, it never blinds it.
    std::uint64_t max_entries = 1'000'000;
    std::uint64_t max_hash_bytes = 1ull << 32;  // larger files are reported without a hash
    // The SHA-256 of a file version already hashed elsewhere (the exec gate), given
    // the fstat of the fd opened beneath the upper directory; nullopt: hash it here.
    std::function<std::optional<model::Sha256>(const struct stat&)> known_digest;
    // Set by the daemon's stop: the walk ends at the next entry (an error, "cancelled").
    const std::atomic<bool>* cancel = nullptr;
};

// All changes in the upper directory `upper_fd` (an O_RDONLY|O_DIRECTORY fd),
// sorted by path.
base::Result<std::vector<FileChange>> reconcile(int upper_fd, const ImageLookup& image,
                                                const ScanLimits& limits = {});

// The same comparison for one path (after an inotify event); nullopt when the
// writable layer no longer holds the path (a new file deleted again: no drift).
std::optional<FileChange> examine(int upper_fd, const std::string& path, const ImageLookup& image,
                                  const ScanLimits& limits = {});

struct PackageChange;
// For a changed package database (dpkg status, apk installed): which packages
// differ between the image's copy (in layer directory `image_layer`, empty when
// the image has none) and the writable layer's copy. Both files are read beneath
// their layer directories, at most 64 MiB each. Empty for other paths.
std::vector<PackageChange> package_changes(int upper_fd, const std::string& path, const std::string& image_layer);

}  // namespace layerlock::watch
