// SPDX-License-Identifier: Apache-2.0
// Baselines from an image itself, before any container runs it: a `docker save`
// tarball or an OCI image layout (a directory, or a tar of one), read with
// libarchive as a stream — nothing is unpacked to disk. Each layer blob is
// decompressed as it is read (gzip, zstd, ... whatever libarchive's filters know),
// its tar parsed, every regular file hashed as it streams, and the whole
// uncompressed layer hashed too: that digest is the layer's diff id, the key the
// daemon shares layers by across engines, checked against the image config's
// rootfs.diff_ids. Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) become
// the entries an overlay layer directory holds for them (a whiteout at NAME, an
// opaque directory), so records from an archive and from a host's unpacked layer
// compare equal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline {

// One image of the archive (a docker-save manifest entry or an OCI index entry).
struct ArchiveImage {
    std::vector<std::string> refs;      // "name:tag" references it carries (may be empty)
    std::string config_digest;          // "sha256:<hex>" of its config (Docker's image id)
    std::string manifest_digest;        // "sha256:<hex>" (OCI); empty for a legacy docker-save entry
    std::vector<std::string> diff_ids;  // its layers, bottom first
};

// One layer: its diff id and entries (sorted by path, whiteouts applied as an
// overlay layer directory holds them), and what reading it cost.
struct ArchiveLayer {
    std::string diff_id;                // "sha256:<hex>" of the uncompressed layer tar
    std::vector<Entry> entries;
    std::uint64_t files = 0, file_bytes = 0;
    std::uint64_t compressed_bytes = 0, uncompressed_bytes = 0;
};

struct ArchiveStats {
    std::uint64_t archive_bytes = 0;    // bytes of the archive read (compressed layers as stored)
    std::uint64_t uncompressed_bytes = 0;
    std::uint64_t files = 0, file_bytes = 0;
    double seconds = 0;
};

// Receives each layer once it is read whole (layers come in archive order).
using LayerCallback = std::function<base::Result<void>(ArchiveLayer&&)>;

// Reads the archive at `path` (a tar file, possibly compressed, or an OCI layout
// directory) on two threads whatever `threads` says (kept for the callers' sake):
// the calling thread reads, decompresses, parses and hashes each file; a second one
// hashes the whole decompressed layer (its diff id). On two cores that is the
// split that keeps both busy (docs/benchmarks.md, bench/archive_bench.py). Every
// layer goes to `on_layer`; the images are returned once the archive is read, after
// their diff ids were checked against the layers read (an image whose layer is
// missing from the archive, or whose diff id differs, is an error naming it).
base::Result<std::vector<ArchiveImage>> read_image_archive(const std::string& path, unsigned threads,
                                                           const LayerCallback& on_layer,
                                                           ArchiveStats* stats = nullptr);

// The same from a stream (a `docker save` body from the engine's API): `read`
// fills a buffer and returns the bytes read, 0 at the end, -1 on error.
using StreamRead = std::function<long(void* buf, std::size_t len)>;
base::Result<std::vector<ArchiveImage>> read_image_stream(const StreamRead& read, unsigned threads,
                                                          const LayerCallback& on_layer,
                                                          ArchiveStats* stats = nullptr);

// A layer's tar entry name turned into the layer's entry path: "./usr/bin/x",
// "usr/bin/x" -> "/usr/bin/x"; "" for the root. Exposed for tests.
std::string layer_path(std::string_view tar_name);

}  // namespace layerlock::baseline
