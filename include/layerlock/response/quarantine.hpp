// SPDX-License-Identifier: Apache-2.0
// Quarantine: a copy of a drifted file (a binary, script or library that ran, or a
// fileless process's executable), kept under the state directory, named by its
// SHA-256, root-only, so the sample survives the attacker deleting it. Each sample
// has a JSON sidecar saying where it came from. The total size is bounded: the
// oldest samples are evicted first. Shared by the daemon (keeps) and the CLI
// (`layerlock quarantine list|export`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::response {

struct Sample {
    std::string sha256;
    std::uint64_t size = 0;
    std::int64_t time_us = 0;        // when it was kept
    std::string container_id, container_name, image, path, kind;
};

class Quarantine {
public:
    // `dir`: created 0700 when missing. `max_bytes`: the bound on all samples together.
    Quarantine(std::string dir, std::uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
    // Copies the file open as `fd` (read with pread; its offset untouched) with what
    // the alert says about it. Returns its SHA-256. Files larger than the bound are
    // refused.
    base::Result<std::string> keep(int fd, const model::DriftEvent& ev);
    std::vector<Sample> list() const;
    // Copies sample `sha256` to `dest` (created 0600, never overwritten).
    base::Result<void> export_to(const std::string& sha256, const std::string& dest) const;
    std::string path_of(const std::string& sha256) const { return dir_ + "/" + sha256; }

private:
    void evict(std::uint64_t keep_free);
    std::string dir_;
    std::uint64_t max_bytes_;
};

}  // namespace layerlock::response
