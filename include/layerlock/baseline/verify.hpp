// SPDX-License-Identifier: Apache-2.0
// Checking a host's unpacked layer directory against the signed records of its
// content: is what the engine unpacked (and the gate trusts by inode) what CI
// built? Every entry's name, kind, size, mode bits and symlink target are
// compared; regular files are hashed in full mode, or a sample of them: every file
// with an execute or setuid/setgid bit (what the gate lets run) plus `sample`
// others picked at random, so that periodic checks of a large layer stay cheap
// and still cover all of it over time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline {

struct VerifyOptions {
    bool full = false;             // hash every regular file
    bool executables = true;       // sample mode: hash every file with an x, setuid or setgid bit
    std::size_t sample = 64;       // sample mode: and this many others, at random
    std::uint64_t seed = 0;        // of the random pick (vary it between checks)
    unsigned threads = 1;
};

struct Difference {
    std::string path;
    std::string what;              // missing, added, kind, size, mode, content, target
};

struct VerifyResult {
    std::uint64_t entries = 0, hashed = 0;
    std::vector<Difference> differences;
};

// `records`: the signed records, sorted by path.
base::Result<VerifyResult> verify_layer(const std::string& layer_dir, const std::vector<Entry>& records,
                                        const VerifyOptions& options);

// Pure comparison of two sorted entry lists (host entries may be unhashed).
std::vector<Difference> compare_entries(const std::vector<Entry>& records, const std::vector<Entry>& host);

// "3 differ: /bin/sh (content), /etc/x (missing), ..." with at most `max` named.
std::string describe(const std::vector<Difference>& d, std::size_t max = 10);

}  // namespace layerlock::baseline
